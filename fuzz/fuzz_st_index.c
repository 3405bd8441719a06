/* fuzz_st_index.c: model.safetensors.index.json of a sharded checkpoint,
 * read by fe_weights_open_dir beside two fixed shards (written once):
 *   model-00001-of-00002.safetensors: "a" [2,2] F32, "b" [3] F16
 *   model-00002-of-00002.safetensors: "c" [4] BF16
 * An accepted index names only those tensors, each in its own shard. */
#include "fuzz.h"

#include <string.h>

#include "compiler/fe.h"

static void write_shards(void)
{
    static const float a[4] = {1, 2, 3, 4};
    static const uint16_t b[3] = {0x3c00, 0x4000, 0x4200}, c[4] = {0x3f80, 0x4000, 0x4040, 0x4080};
    FeTensorOut s1[2] = {{"a", IR_F32, 2, {2, 2}, a}, {"b", IR_F16, 1, {3}, b}};
    FeTensorOut s2[1] = {{"c", IR_BF16, 1, {4}, c}};
    char err[FE_ERR_LEN], path[1024];
    snprintf(path, sizeof path, "%s/model-00001-of-00002.safetensors", fz_tmpdir());
    FZ_CHECK(fe_safetensors_write(path, s1, 2, err, sizeof err) == 0, "%s", err);
    snprintf(path, sizeof path, "%s/model-00002-of-00002.safetensors", fz_tmpdir());
    FZ_CHECK(fe_safetensors_write(path, s2, 1, err, sizeof err) == 0, "%s", err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) write_shards(), init = 1;
    fz_write("model.safetensors.index.json", data, size);
    FeWeights w = {0};
    char err[FE_ERR_LEN];
    if (fe_weights_open_dir(&w, fz_tmpdir(), err, sizeof err) == 0) {
        FZ_CHECK(w.ntensors <= 3 && w.nfiles <= 2, "%d tensors in %d files", w.ntensors, w.nfiles);
        for (int i = 0; i < w.ntensors; i++) {
            const FeTensor *t = &w.tensors[i];
            const char *want = t->name[0] == 'c' ? "model-00002-of-00002.safetensors"
                                                 : "model-00001-of-00002.safetensors";
            FZ_CHECK(strcmp(fe_tensor_file(&w, t), want) == 0, "'%s' from %s", t->name, fe_tensor_file(&w, t));
            float out[4];
            fe_tensor_to_f32(t, out);
        }
    }
    fe_weights_free(&w);
    return 0;
}
