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

/* ---- weights (fe_safetensors.c) ---- */
typedef struct {
    char name[IR_NAME_LEN];     /* tensor name as in the file */
    IrDtype dtype;              /* IR_F32, IR_F16 or IR_BF16 */
    int ndim;
    int64_t shape[IR_MAX_DIMS];
    const void *data;           /* points into the mmap'd file */
    uint64_t nbytes;
    int file;                   /* index into FeWeights.files */
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
/* Converts n elements of t to f32. */
void fe_tensor_to_f32(const FeTensor *t, float *out);
const char *fe_tensor_file(const FeWeights *w, const FeTensor *t); /* base name of its file */

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

/* ---- config.json (fe_config.c) ---- */
typedef struct FeConfig FeConfig;   /* wraps a json-c object */
FeConfig *fe_config_load(const char *path, char *err, size_t errlen);
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
} FeSynthOpts;
int fe_synth(const char *outdir, const FeSynthOpts *o, char *err, size_t errlen);
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

/* ---- targets (fe_target.c): targets/<name>.xml ---- */
enum { FE_MAX_UNITS = 8 };
typedef struct {
    char name[16];              /* e.g. "cpu0" */
    char kind[8];               /* cpu | gpu | npu */
    char backend[16];           /* c | opencl | npu-emu */
    int threads;                /* 0: the core count at run time */
    int line;
} FeUnit;
typedef struct {
    char name[64];
    char path[FE_PATH_LEN];
    FeUnit units[FE_MAX_UNITS];
    int nunits;
} FeTarget;
int fe_target_load(FeTarget *t, const char *path, char *err, size_t errlen);

#endif
