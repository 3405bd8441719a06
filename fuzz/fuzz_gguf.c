/* fuzz_gguf.c: a GGUF file, opened by fe_gguf_open as `hetc tokenize
 * MODEL.gguf` opens it: header, key/values, tensor infos and data offsets.
 * Every accepted key is read through the typed getters and every tensor's
 * data range checked against the file; then the tokenizer.ggml.* metadata,
 * where present, becomes a tokenizer.bin image that must open in the
 * runtime and encode and decode. Then the file as a model (as `hetc
 * compile MODEL.gguf` opens it): where fe_gguf_model_open accepts it, every
 * tensor's bytes fit its shape and type and convert to f32. */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "compiler/fe.h"

static void read_all_keys(const FeGguf *g)
{
    char err[FE_ERR_LEN];
    for (size_t i = 0; i < g->nkv; i++) {
        const FeGgufKv *kv = &g->kv[i];
        FZ_CHECK(fe_gguf_find(g, kv->key) != NULL, "key '%s' not found by name", kv->key);
        int64_t iv;
        double fv;
        int bv;
        const FeStr *sv;
        const FeGgufKv *av;
        fe_gguf_int(g, kv->key, &iv, err, sizeof err);
        fe_gguf_float(g, kv->key, &fv, err, sizeof err);
        fe_gguf_bool(g, kv->key, &bv, err, sizeof err);
        if (fe_gguf_str(g, kv->key, &sv, err, sizeof err) == 1)
            FZ_CHECK((const uint8_t *)sv->s >= g->base && (const uint8_t *)sv->s + sv->len <= g->base + g->size,
                     "string of '%s' outside the file", kv->key);
        if (fe_gguf_arr(g, kv->key, FE_GGUF_I64, &av, err, sizeof err) == 1)
            for (uint64_t k = 0; k < av->n && k < 4096; k++) fe_gguf_arr_int(av, k);
        if (fe_gguf_arr(g, kv->key, FE_GGUF_F64, &av, err, sizeof err) == 1)
            for (uint64_t k = 0; k < av->n && k < 4096; k++) fe_gguf_arr_float(av, k);
        if (fe_gguf_arr(g, kv->key, FE_GGUF_STR, &av, err, sizeof err) == 1)
            for (uint64_t k = 0; k < av->n; k++)
                FZ_CHECK((const uint8_t *)av->str[k].s >= g->base
                             && (const uint8_t *)av->str[k].s + av->str[k].len <= g->base + g->size,
                         "string %llu of '%s' outside the file", (unsigned long long)k, kv->key);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fz_write("model.gguf", data, size);
    FeGguf g;
    char err[FE_ERR_LEN];
    if (fe_gguf_open(&g, path, err, sizeof err) != 0) return 0;
    read_all_keys(&g);
    for (size_t i = 0; i < g.ntensors; i++) {
        const FeGgufTensor *t = &g.tensors[i];
        FZ_CHECK(fe_gguf_tensor(&g, t->name) == t, "tensor '%s' not found by name", t->name);
        const uint8_t *p = t->data;
        FZ_CHECK(p >= g.base + g.data_offset && p + t->nbytes <= g.base + g.size, "tensor '%s' outside the file",
                 t->name);
        FZ_CHECK(t->offset % g.alignment == 0, "tensor '%s' misaligned", t->name);
        unsigned sum = 0;
        for (uint64_t k = 0; k < t->nbytes; k++) sum += p[k];
        (void)sum;
    }
    void *blob = NULL;
    size_t bytes = 0;
    if (fe_gguf_find(&g, "tokenizer.ggml.model") && fe_tokenizer_from_gguf(&g, &blob, &bytes, err, sizeof err) == 0)
        fz_tokenizer_use(blob, bytes, NULL, 0, 1);
    free(blob);
    fe_gguf_close(&g);
    FeConfig *cfg;
    FeWeights w;
    if (fe_gguf_model_open(path, &cfg, &w, err, sizeof err) != 0) return 0;
    FZ_CHECK(fe_config_arch_class(cfg) != NULL, "a model config without architectures");
    for (int i = 0; i < w.ntensors; i++) {
        const FeTensor *t = &w.tensors[i];
        int64_t numel = 1;
        for (int d = 0; d < t->ndim; d++) numel *= t->shape[d];
        FZ_CHECK((uint64_t)ir_dtype_bytes(t->dtype, numel) == t->nbytes, "tensor '%s': %llu bytes for its shape", t->name,
                 (unsigned long long)t->nbytes);
        if (numel > (1 << 16)) continue;
        float *f = malloc((size_t)numel * sizeof *f + 1);
        fe_tensor_to_f32(t, f);
        free(f);
    }
    fe_config_free(cfg);
    fe_weights_free(&w);
    return 0;
}
