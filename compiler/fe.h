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

#endif
