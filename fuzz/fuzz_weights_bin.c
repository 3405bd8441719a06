/* fuzz_weights_bin.c: weights.bin as the generated program opens it
 * (rt_weights_open), with the model hash taken from the file itself so the
 * table is reached. An accepted table must describe every tensor exactly:
 * its data is read through rt_weights_tensor and summed (a range past the
 * mapping faults), shape x dtype size must equal its bytes, and no two
 * tensors may share bytes. */
#include "fuzz.h"

#include <string.h>

#include "runtime/hetc_rt.h"

static int esize(uint32_t dt)
{
    return dt == RT_F32 || dt == RT_I32 ? 4 : dt == RT_I8 ? 1 : 2;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t hash = 0;
    if (size >= sizeof(RtWeightsHeader)) memcpy(&hash, data + offsetof(RtWeightsHeader, model_hash), sizeof hash);
    const char *path = fz_write("weights.bin", data, size);
    RtWeights w;
    if (rt_weights_open(&w, path, hash) != RT_OK) return 0;
    uint64_t prev_end = 0;
    for (uint32_t i = 0; i < w.hdr->n_tensors; i++) {
        const RtTensorEntry *e = &w.entries[i];
        uint64_t n = 1;
        for (uint32_t d = 0; d < e->ndim; d++) {
            FZ_CHECK(e->shape[d] > 0, "tensor '%s' dim %u is %lld", e->name, d, (long long)e->shape[d]);
            n *= (uint64_t)e->shape[d];
        }
        FZ_CHECK(n * (uint64_t)esize(e->dtype) == e->nbytes, "tensor '%s': shape and bytes disagree", e->name);
        FZ_CHECK(e->offset >= prev_end, "tensor '%s' overlaps the one before", e->name);
        prev_end = e->offset + e->nbytes;
        const void *p;
        FZ_CHECK(rt_weights_tensor(&w, i, e->name, (RtDtype)e->dtype, e->nbytes, &p) == RT_OK, "%s",
                 rt_last_error());
        unsigned sum = 0;
        for (uint64_t k = 0; k < e->nbytes; k++) sum += ((const uint8_t *)p)[k];
        (void)sum;
    }
    rt_weights_close(&w);
    return 0;
}
