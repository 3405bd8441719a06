/* fuzz_safetensors.c: one .safetensors file (header JSON, then data), read
 * by fe_weights_add_file as `hetc compile` reads model.safetensors. What
 * it accepts must hold together: names NUL-terminated and sorted, shape x
 * dtype size == nbytes, data inside the file; every tensor is converted to
 * f32 (touching all its bytes). */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "compiler/fe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fz_write("model.safetensors", data, size);
    FeWeights w = {0};
    char err[FE_ERR_LEN];
    if (fe_weights_add_file(&w, path, err, sizeof err) == 0) {
        FZ_CHECK(w.nfiles == 1, "%d files", w.nfiles);
        const FeFile *f = &w.files[0];
        for (int i = 0; i < w.ntensors; i++) {
            const FeTensor *t = &w.tensors[i];
            FZ_CHECK(memchr(t->name, 0, sizeof t->name), "tensor %d name not terminated", i);
            FZ_CHECK(i == 0 || strcmp(w.tensors[i - 1].name, t->name) < 0, "tensors not sorted");
            uint64_t n = 1;
            for (int d = 0; d < t->ndim; d++) {
                FZ_CHECK(t->shape[d] >= 0, "negative dim");
                n *= (uint64_t)t->shape[d];
            }
            FZ_CHECK(n * (uint64_t)ir_dtype_size(t->dtype) == t->nbytes, "'%s': size mismatch", t->name);
            const uint8_t *p = t->data, *base = f->map;
            FZ_CHECK(t->nbytes == 0 || (p >= base && p + t->nbytes <= base + f->size), "'%s' outside the file",
                     t->name);
            FZ_CHECK(fe_weights_find(&w, t->name) == t, "'%s' not found by name", t->name);
            if (n <= (1u << 20)) {
                float *out = malloc(n ? n * sizeof(float) : 1);
                fe_tensor_to_f32(t, out);
                free(out);
            }
        }
    }
    fe_weights_free(&w);
    return 0;
}
