/* fe.h: the compiler's frontends and their types.
 *
 * - fe_safetensors.c: safetensors files read through mmap (and written, for
 *   synth and tests); sharded checkpoints through model.safetensors.index.json.
 * - fe_config.c: config.json (json-c), keys looked up by dotted path.
 * - fe_arch.c: models/<arch>.xml, the data that describes an architecture.
 * - fe_target.c: targets/<name>.xml, the units of a device.
 * - fe_synth.c: random-weight Hugging Face directories of named real shapes.
 *
 * Every function that can fail on bad input returns -1 and writes one line
 * into err: the file, then the tensor or key, then what is wrong, e.g.
 *   "model.safetensors: tensor 'model.layers.3.mlp.up_proj.weight': shape [64,160] x F32 is 40960 bytes but data_offsets give 40000"
 */
#ifndef HETC_FE_H
#define HETC_FE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../ir/ir.h"

enum { FE_PATH_LEN = 1024, FE_ERR_LEN = 1024 };

/* Formats one error line into err (errlen bytes); ignores a NULL err. */
void fe_set_err(char *err, size_t errlen, const char *fmt, ...);
/* The whole file as a NUL-terminated malloc'd buffer (*len bytes), or NULL
 * with "PATH: cannot open: ..." in err. */
char *fe_read_file(const char *path, size_t *len, char *err, size_t errlen);
/* The 1-based line of byte offset in text. */
int fe_line_of(const char *text, size_t offset);

/* ---- weights (fe_safetensors.c) ---- */
typedef struct {
    char name[IR_NAME_LEN];     /* tensor name as in the file */
    IrDtype dtype;              /* IR_F32, IR_F16 or IR_BF16 */
    int ndim;
    int64_t shape[IR_MAX_DIMS];
    const void *data;           /* points into the mmap'd file, or into FeWeights.owned */
    uint64_t nbytes;
    int file;                   /* index into FeWeights.files (the file it came from) */
    int in_memory;              /* 1: data is a copy of the file's bytes, rearranged (GGUF q/k rows) */
    char src[IR_NAME_LEN];      /* its name in the file where that differs (GGUF), else "" */
} FeTensor;

typedef struct {
    char path[FE_PATH_LEN];     /* as given, used in error messages */
    void *map;                  /* mmap of the whole file */
    size_t size;
} FeFile;

typedef struct {
    FeFile *files;              /* [nfiles] */
    int nfiles;
    FeTensor *tensors;          /* [ntensors], sorted by name */
    int ntensors;
    void **owned;               /* [nowned] buffers of in_memory tensors, freed with the weights */
    int nowned;
} FeWeights;

/* Opens DIR/model.safetensors, or the shards listed by
 * DIR/model.safetensors.index.json, validating every header: JSON syntax,
 * dtypes, shapes x dtype size == data length, offsets in range and not
 * overlapping, duplicate names across shards, the index's weight_map. */
int fe_weights_open_dir(FeWeights *w, const char *dir, char *err, size_t errlen);
/* Adds the tensors of one .safetensors file. */
int fe_weights_add_file(FeWeights *w, const char *path, char *err, size_t errlen);
const FeTensor *fe_weights_find(const FeWeights *w, const char *name);
void fe_weights_free(FeWeights *w);
/* Converts t (any dtype, block types included) to f32. */
void fe_tensor_to_f32(const FeTensor *t, float *out);
/* Sorts w's tensors by name (after adding some); a name given twice is an error. */
int fe_weights_sort(FeWeights *w, char *err, size_t errlen);
const char *fe_tensor_file(const FeWeights *w, const FeTensor *t); /* base name of its file */
/* f32 copies of tensors, made on first use and kept: the IrWeightFn of the
 * reference interpreter (user: an FeF32Cache). NULL if the tensor is
 * missing or memory runs out. */
typedef struct {
    const FeWeights *w;
    char **names;               /* [n] */
    float **data;               /* [n] */
    int n;
} FeF32Cache;
const float *fe_weights_f32(void *cache, const char *name);
void fe_f32_cache_free(FeF32Cache *c);

/* Writing (synth, tests): tensors in the given order, data from 'data'. */
typedef struct {
    const char *name;
    IrDtype dtype;
    int ndim;
    int64_t shape[IR_MAX_DIMS];
    const void *data;           /* numel * dtype size bytes */
} FeTensorOut;
int fe_safetensors_write(const char *path, const FeTensorOut *t, int n, char *err, size_t errlen);
/* Streaming form (synth): writes only the header of those tensors (data
 * unused) to f; the caller then writes each tensor's bytes, in order. */
int fe_safetensors_write_header(FILE *f, const char *path, const FeTensorOut *t, int n,
                                char *err, size_t errlen);

/* ---- block types (fe_quant.c): llama.cpp's weight formats ---- */
/* n values (a multiple of t's block) of blocks of type t into out. */
void fe_dequant(IrDtype t, const void *blocks, float *out, int64_t n);
/* n values (a multiple of 32) into blocks of t, rounded as llama.cpp's
 * reference quantisers do; t one of those fe_can_quant accepts. */
void fe_quant(IrDtype t, const float *x, void *blocks, int64_t n);
int fe_can_quant(IrDtype t);        /* q8_0, q4_0, q4_1, q5_0, q5_1 */
uint16_t fe_f32_to_f16(float f);    /* round to nearest even */
float fe_f16_to_f32(uint16_t h);    /* fe_safetensors.c */

/* ---- config.json (fe_config.c) ---- */
typedef struct FeConfig FeConfig;   /* wraps a json-c object */
FeConfig *fe_config_load(const char *path, char *err, size_t errlen);
/* A config built in memory (a GGUF file's metadata): takes the json-c
 * object root; path names it in messages. NULL if memory runs out. */
FeConfig *fe_config_adopt(void *root, const char *path);
void fe_config_free(FeConfig *c);
const char *fe_config_path(const FeConfig *c);
/* Looks up a dotted key ("rope_parameters.rope_theta"). Returns 1 if present
 * and of the right type, 0 if absent or null, -1 (with err) if of the wrong
 * type. Integers are accepted where floats are asked for. */
int fe_config_int(const FeConfig *c, const char *key, int64_t *v, char *err, size_t errlen);
int fe_config_float(const FeConfig *c, const char *key, double *v, char *err, size_t errlen);
int fe_config_bool(const FeConfig *c, const char *key, int *v, char *err, size_t errlen);
int fe_config_str(const FeConfig *c, const char *key, const char **v, char *err, size_t errlen);
/* First string of "architectures", or NULL. */
const char *fe_config_arch_class(const FeConfig *c);

/* ---- synth (fe_synth.c) ---- */
typedef struct {
    const char *preset;         /* tiny, smol-135m, tinyllama-1.1b, llama-3b, qwen2-0.5b, ... */
    IrDtype dtype;              /* stored dtype; -1: the preset's default */
    uint64_t seed;
    int old_keys;               /* 1: rope_theta/torch_dtype spelling */
    int shards;                 /* >1: write that many shards + index */
    int tie;                    /* -1 preset default, 0/1 override */
    int64_t head_dim;           /* 0: preset default (explicit head_dim key when set) */
    int config_only;            /* 1: config.json and generation_config.json, no weights (for planning) */
    const char *tokenizer_text; /* train a byte-level BPE tokenizer on this text (NULL: none) */
} FeSynthOpts;
int fe_synth(const char *outdir, const FeSynthOpts *o, char *err, size_t errlen);
/* fe_synthtok.c: a byte-level BPE tokenizer of 'vocab' tokens trained on the
 * text at text_path: DIR/tokenizer.json and tokenizer_config.json (bos and
 * eos ids 1 and 2). */
int fe_synth_tokenizer(const char *outdir, const char *text_path, int64_t vocab, int64_t bos, int64_t eos,
                       char *err, size_t errlen);
/* Names of presets, NULL-terminated. */
const char *const *fe_synth_presets(void);

/* ---- architectures (fe_arch.c): models/<arch>.xml ----
 * <dim> reads an integer, <flag> a boolean, <param> a float, <str> a
 * string from config.json: the first of its space-separated keys present,
 * else its default, an expression over earlier dims ("hidden / heads").
 * <op> elements describe the embedding, one decoder layer (instantiated for
 * each layer with {i} in tensor names) and the head. */
enum { FE_MAX_DIMS = 48, FE_MAX_OPS = 48, FE_MAX_CLASSES = 8, FE_MAX_CHECKS = 8 };

typedef enum { FE_DIM_INT, FE_DIM_FLAG, FE_DIM_FLOAT, FE_DIM_STR } FeDimKind;

typedef struct {
    char name[24];              /* name used by expressions and ops */
    FeDimKind kind;
    char keys[160];             /* config keys, space separated, first present wins */
    char dflt[64];              /* default expression ("" = required) */
    int min;                    /* least allowed value of an int dim (default 1) */
    char allowed[96];           /* string dims: allowed values, space separated ("" = any) */
    int line;                   /* in the XML, for errors */
} FeArchDim;

typedef struct {
    char expr[64];              /* integer expression that must be 0 */
    char message[160];          /* shown when it is not */
    int line;
} FeArchCheck;

typedef struct {
    char id[24];                /* local name; "x" is the layer input */
    IrOp op;
    char in[3][24];             /* operand ids */
    int nin;
    char weight[IR_NAME_LEN];   /* tensor name pattern with {i} */
    char wshape[64];            /* expected weight shape, dim expressions */
    char bias[IR_NAME_LEN];     /* optional bias pattern */
    char bias_if[24];           /* flag gating the bias ("" = always) */
    char tied[IR_NAME_LEN];     /* weight used instead when tied_if is set */
    char tied_if[24];
    char heads[24];             /* rope: dim giving the head count */
    int line;
} FeArchOp;

typedef struct {
    char name[32];              /* e.g. "llama" */
    char path[FE_PATH_LEN];     /* the XML file */
    char classes[FE_MAX_CLASSES][64];   /* Hugging Face architectures[] values */
    int nclasses;
    FeArchDim dims[FE_MAX_DIMS];
    int ndims;
    FeArchCheck checks[FE_MAX_CHECKS];
    int nchecks;
    FeArchOp embed[4], layer[FE_MAX_OPS], head[8];
    int nembed, nlayer, nhead;
    char layer_out[24];         /* id of the op whose result leaves a layer */
} FeArch;

/* Loads one architecture file. */
int fe_arch_load(FeArch *a, const char *path, char *err, size_t errlen);
/* Finds the architecture whose <class> matches config's architectures[0]
 * among DIR/\*.xml. */
int fe_arch_find(FeArch *a, const char *dir, const char *hf_class, char *err, size_t errlen);

/* Resolved dims of one model: the values of FeArch.dims for a config. */
typedef struct {
    int n;
    char name[FE_MAX_DIMS][24];
    FeDimKind kind[FE_MAX_DIMS];
    double val[FE_MAX_DIMS];    /* int, flag and float dims */
    char str[FE_MAX_DIMS][64];  /* string dims */
} FeDims;
int fe_arch_resolve(const FeArch *a, const FeConfig *c, FeDims *d, char *err, size_t errlen);
/* Evaluates an integer expression (+ - * / % parentheses, dim names). */
int fe_dims_eval(const FeDims *d, const char *expr, int64_t *v, char *err, size_t errlen);
double fe_dims_get(const FeDims *d, const char *name);     /* IR_BUG if absent */
const char *fe_dims_str(const FeDims *d, const char *name);

/* ---- calibration (fe_calib.c; its comment has the method and calib.json) ---- */
enum {
    FE_CALIB_TAU = 224,         /* clip thresholds tau_j = 2^(j/8 - 12), 2^-12 .. 2^15.875 */
    FE_CALIB_ROWS = 2048,       /* most rows sampled for the error sums */
};
typedef struct {
    char name[IR_NAME_LEN];     /* "l0.q.in": named after its first linear */
    int k;                      /* channels */
    int first;                  /* index of the first linear reading it (while running) */
    int rows;                   /* rows sampled for the error sums */
    float max, p999;            /* of |x| over every element */
    float *ch_max, *ch_p999;    /* [k] per channel, over tokens */
} FeCalibInput;
typedef struct {
    char name[IR_NAME_LEN];     /* its weight tensor, e.g. "model.layers.0.self_attn.q_proj.weight" */
    int input;                  /* index in FeCalib.in */
    int x_node;                 /* its input node while running, -1 once loaded */
    int n;                      /* output channels */
    double ynorm;               /* sum of squared outputs over the sampled rows */
    double err_clip[FE_CALIB_TAU];  /* squared output error of int8 at tau_j/127, clipping included */
    double err_round[FE_CALIB_TAU]; /* the same with the clipped-off part restored (a shadow) */
} FeCalibLinear;
typedef struct {
    char model[IR_NAME_LEN];
    int tokens;                 /* tokens fed */
    int nin, nlin;
    FeCalibInput *in;           /* [nin] */
    FeCalibLinear *lin;         /* [nlin] */
    const IrGraph *graph;       /* while running */
} FeCalib;
double fe_calib_tau(int j);
/* Feeds ids[0..n) in windows of 'window' tokens (each from an empty cache;
 * the tail past the last whole window is left out) through the float
 * graph g (after lower) and gathers the statistics. */
int fe_calib_run(FeCalib *c, const IrGraph *g, IrWeightFn fn, void *user, const int32_t *ids, int n, int window,
                 char *err, size_t errlen);
int fe_calib_save(const FeCalib *c, const char *path, char *err, size_t errlen);
int fe_calib_load(FeCalib *c, const char *path, char *err, size_t errlen);
void fe_calib_free(FeCalib *c);
/* The linear of weight tensor 'weight', NULL if calibration did not see it; its input. */
const FeCalibLinear *fe_calib_linear(const FeCalib *c, const char *weight);
const FeCalibInput *fe_calib_input(const FeCalib *c, const FeCalibLinear *l);

/* ---- targets (fe_target.c): targets/<name>.xml ---- */
enum { FE_MAX_UNITS = 8, FE_MAX_FIGURES = 8, FE_MAX_PLACES = 16 };
typedef struct {
    char name[16];              /* e.g. "cpu0" */
    char kind[8];               /* cpu | gpu | npu */
    char backend[16];           /* c | opencl | npu-emu */
    char mem[16];               /* memory space: cpu units "host" by default, others their own name */
    int threads;                /* cpu: 0 = the core count at run time */
    char platform[64];          /* opencl: platform name substring ("" = any) */
    char device[64];            /* opencl: device name substring ("" = any) */
    int index;                  /* opencl: n-th matching device, -1 = first (GPUs first) */
    int fp16;                   /* opencl: native half arithmetic allowed (needs cl_khr_fp16) */
    int wg;                     /* opencl: work-group size of the kernels */
    int tile;                   /* opencl: GEMM tile edge; npu: padding of rows, n and k */
    char ops[96];               /* npu: the ops it runs, space separated ("linear rmsnorm add ...") */
    char shapes[96];            /* npu: standard row counts, ascending ("32 64 128 ...") */
    char shares[16];            /* cost model: the unit whose cores this one computes on ("" = its own) */
    int att_alone, att_split, att_chunks;   /* opencl: decode attention's split-K: up to att_alone keys in
                                             * one chunk, else chunks of att_split keys, at most att_chunks */
    int nfig;                   /* cost figures given (gflops, gbps, ...) */
    struct {
        char key[16];
        double v;
    } fig[FE_MAX_FIGURES];
    int line;
} FeUnit;
typedef struct {
    char op[16];                /* an IR op name, e.g. "attention" */
    int unit;                   /* index in FeTarget.units */
    int line;
} FePlace;
typedef struct {
    char name[64];
    char path[FE_PATH_LEN];
    FeUnit units[FE_MAX_UNITS];
    int nunits;
    FePlace place[FE_MAX_PLACES];   /* <place op=... unit=.../>: ops placed by kind */
    char place_unit[FE_MAX_PLACES][16]; /* the unit names as written, while loading */
    int nplace;
    double mem_gbps;            /* <memory gbps=...>: bandwidth of all units together, 0 = not given */
    uint64_t ram;               /* <memory ram=...>: bytes of RAM the program may use, 0 = not given */
    int mem_line;               /* the <memory> element's line, 0 = none */
} FeTarget;
/* Reads and checks a target: all that planning needs. */
int fe_target_load(FeTarget *t, const char *path, char *err, size_t errlen);
/* Whether hetc can generate code for t (see fe_target.c); -1 with the reason. */
int fe_target_codegen_check(const FeTarget *t, char *err, size_t errlen);
/* A size in bytes: a number, or a number with one of the letters of units
 * (K, M, G, T: powers of 1024), at least 1 and below 2^62; -1 if not. */
int fe_parse_size(const char *text, const char *units, uint64_t *v);

/* ---- profiles (fe_profile.c; its comment has profile.json's format) ---- */
int fe_profile_load(IrProfile *p, const char *path, char *err, size_t errlen);
/* Every unit the profile names is one of t's. */
int fe_profile_check(const IrProfile *p, const char *path, const FeTarget *t, char *err, size_t errlen);
/* The profile's measured figures replace t's (or join them). */
void fe_profile_apply(const IrProfile *p, FeTarget *t);
int fe_profile_save(const IrProfile *p, const char *machine, const char *path, char *err, size_t errlen);
void fe_profile_free(IrProfile *p);

/* ---- tokenizers (fe_tokbuild.c, fe_tokenizer.c, fe_gguf.c) ----
 * The compiler turns a tokenizer into the tokenizer.bin image declared in
 * runtime/hetc_rt.h. A builder collects tokens, merges, added tokens and
 * ops and lays them out; the readers fill it from a Hugging Face directory
 * (tokenizer.json and its companions) or from a GGUF file's metadata. */
#include "../runtime/hetc_rt_tok.h"

enum { FE_TOK_MAX_TOKENS = 1 << 24 };   /* most ids a tokenizer may have */

typedef struct FeTokBuilder FeTokBuilder;
/* A builder of n_tokens entries, each unused (RT_TOK_UNUSED, empty) until
 * set. Ids passed to the adders must be below n_tokens: a bad one makes
 * fe_tokb_finish fail. */
FeTokBuilder *fe_tokb_new(uint32_t n_tokens);
void fe_tokb_free(FeTokBuilder *b);
/* The header to fill in: model, flags, unk/bos/eos/pad ids (initially -1),
 * prefix/suffix, eos list, chat format. fe_tokb_finish sets the rest. */
RtTokHeader *fe_tokb_header(FeTokBuilder *b);
/* Sets token id to the len bytes s (RtTokEntry.flags; byte: value of a byte token). */
void fe_tokb_token(FeTokBuilder *b, uint32_t id, const char *s, size_t len, float score, unsigned flags,
                   unsigned byte);
/* A merge of left and right into result; a later merge of the same pair is ignored. */
void fe_tokb_merge(FeTokBuilder *b, uint32_t left, uint32_t right, uint32_t rank, uint32_t result);
/* An added token (RtTokAdded.flags): matched by the content of entry id. */
void fe_tokb_added(FeTokBuilder *b, uint32_t id, unsigned flags);
/* An op; s1 and s2 NUL-terminated or NULL. Ops may come in any order: each
 * kind's group (normalizer, pre-tokenizer, decoder) keeps its own order. */
void fe_tokb_op(FeTokBuilder *b, RtTokOpKind kind, int32_t a, int32_t bv, int32_t c, const char *s1,
                const char *s2);
/* Lays out the file: *blob (malloc'd) of *bytes. source names the input in errors. */
int fe_tokb_finish(FeTokBuilder *b, const char *source, void **blob, size_t *bytes, char *err, size_t errlen);

/* String -> id lookup over a caller's array of strings, in tokenizer.bin's
 * string-hash layout (slots hold id+1; the lowest id wins; empty strings
 * are left out). The strings must outlive the index. */
typedef struct {
    const char *s;
    uint32_t len;
} FeStr;
typedef struct {
    uint32_t *slots;            /* [cap] id+1, 0 = empty */
    uint32_t cap;               /* power of two, >= 2 x the strings */
    const FeStr *str;           /* [n] the strings by id */
} FeStrIndex;
void fe_str_index_build(FeStrIndex *x, const FeStr *str, uint32_t n);
int64_t fe_str_index_find(const FeStrIndex *x, const char *s, size_t len);    /* -1: absent */
void fe_str_index_free(FeStrIndex *x);

/* GPT-2's byte-level alphabet back to bytes: writes the bytes of s (at most
 * len) to out and returns their count, or -1 if s has a character outside
 * the alphabet. */
long fe_tok_unbyte(const char *s, size_t len, char *out);
/* The value of a "<0xXX>" byte token (upper-case hex), or -1. */
int fe_tok_byte_value(const char *s, size_t len);
/* Adds id to h's list of ids that end generation unless it is negative,
 * already there or the list is full. */
void fe_tok_add_eos(RtTokHeader *h, int32_t id);
/* The chat format a Jinja chat template is written for (RT_CHAT_NONE if unknown). */
RtChatFormat fe_tok_chat_format(const char *tmpl);

/* Reads DIR/tokenizer.json (+ tokenizer_config.json, generation_config.json,
 * config.json when present) into a tokenizer.bin image. */
int fe_tokenizer_from_hf(const char *dir, void **blob, size_t *bytes, char *err, size_t errlen);

/* ---- GGUF (fe_gguf.c): llama.cpp's model files, versions 2 and 3 ----
 * Mapped and validated whole on open: header, every key/value, tensor
 * infos, alignment and data offsets against the file size. */
typedef enum {
    FE_GGUF_U8 = 0, FE_GGUF_I8, FE_GGUF_U16, FE_GGUF_I16, FE_GGUF_U32, FE_GGUF_I32, FE_GGUF_F32,
    FE_GGUF_BOOL, FE_GGUF_STR, FE_GGUF_ARR, FE_GGUF_U64, FE_GGUF_I64, FE_GGUF_F64,
} FeGgufType;

typedef struct {
    char *key;                  /* NUL-terminated copy */
    FeGgufType type;            /* FE_GGUF_ARR for arrays */
    FeGgufType elem;            /* type of the value, or of the elements of an array */
    uint64_t n;                 /* element count (1 for a scalar) */
    const unsigned char *data;  /* numbers: the first element, little-endian, in the map */
    FeStr *str;                 /* strings: [n], pointing into the map (not NUL-terminated) */
} FeGgufKv;

typedef struct {
    char *name;                 /* NUL-terminated copy */
    int ndim;
    int64_t dims[4];            /* ggml order: dims[0] is the fastest-varying */
    uint32_t type;              /* ggml type */
    uint64_t offset;            /* from the start of the data section */
    uint64_t nbytes;
    const void *data;           /* in the map */
} FeGgufTensor;

typedef struct {
    char path[FE_PATH_LEN];     /* as given, for messages */
    void *map;                  /* mmap of the file (NULL for fe_gguf_open_mem) */
    const unsigned char *base;  /* the file's bytes */
    size_t size;
    uint32_t version;
    FeGgufKv *kv;               /* [nkv] in file order */
    size_t nkv;
    FeGgufTensor *tensors;      /* [ntensors] in file order */
    size_t ntensors;
    uint64_t alignment;         /* general.alignment, default 32 */
    uint64_t data_offset;       /* of the data section */
} FeGguf;

int fe_gguf_open(FeGguf *g, const char *path, char *err, size_t errlen);
/* Parses size bytes at data (which must outlive g); name is used in messages. */
int fe_gguf_open_mem(FeGguf *g, const char *name, const void *data, size_t size, char *err, size_t errlen);
void fe_gguf_close(FeGguf *g);
const FeGgufKv *fe_gguf_find(const FeGguf *g, const char *key);    /* NULL if absent */
const FeGgufTensor *fe_gguf_tensor(const FeGguf *g, const char *name);
const char *fe_gguf_type_name(FeGgufType t);
const char *fe_ggml_type_name(uint32_t t);      /* a tensor type: "Q4_0"; "?" if unknown */
/* Typed getters: 1 if present and of a fitting type, 0 if absent, -1 (with
 * err) if of another type. Any integer type is an int (a u64 above INT64_MAX
 * is an error); integers are accepted as floats. */
int fe_gguf_int(const FeGguf *g, const char *key, int64_t *v, char *err, size_t errlen);
int fe_gguf_float(const FeGguf *g, const char *key, double *v, char *err, size_t errlen);
int fe_gguf_bool(const FeGguf *g, const char *key, int *v, char *err, size_t errlen);
int fe_gguf_str(const FeGguf *g, const char *key, const FeStr **v, char *err, size_t errlen);
/* An array whose elements are of type elem; FE_GGUF_I64 accepts any
 * integer type and FE_GGUF_F64 any number type (read them with the
 * accessors below). */
int fe_gguf_arr(const FeGguf *g, const char *key, FeGgufType elem, const FeGgufKv **v, char *err, size_t errlen);
int64_t fe_gguf_arr_int(const FeGgufKv *kv, uint64_t i);    /* integer or bool; a u64 above INT64_MAX: -1 */
double fe_gguf_arr_float(const FeGgufKv *kv, uint64_t i);   /* any number element */

/* GGUF models (fe_gguf_model.c). Opens a GGUF model file: its metadata as a Hugging Face config (the
 * Llama, Mistral and Qwen2 families), its tensors under Hugging Face names
 * with llama.cpp's q/k row permutation undone, blocks kept as blocks. */
int fe_gguf_model_open(const char *path, FeConfig **config, FeWeights *w, char *err, size_t errlen);

/* Reads the tokenizer.ggml.* metadata of a GGUF file into a tokenizer.bin image. */
int fe_tokenizer_from_gguf(const FeGguf *g, void **blob, size_t *bytes, char *err, size_t errlen);

#endif
