/* quant_bytes.c: rt_qlinear over block weights (q8_0 and q4_0, in layout
 * r16 and as rows of blocks; q4_k as rows) for a few shapes, its outputs
 * written to OUT_FILE as raw floats. Built for x86-64 and for aarch64 (by
 * test_e2e_aarch64): the scalar path on either and aarch64's sdot path
 * must give the same bytes (int32 block sums, then the same f32 operations
 * in the same order, none contracted). Prints the path it took
 * (rt_quant_isa; HETC_ISA picks one). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hetc_rt.h"

static uint32_t seed = 7;
static uint32_t next(void) { return seed = seed * 1664525u + 1013904223u; }

/* Random blocks of type dt: n rows of k values; scales small f16. */
static unsigned char *random_blocks(RtDtype dt, int n, int k)
{
    size_t bytes = (size_t)n * rt_dtype_row_bytes(dt, k);
    unsigned char *w = malloc(bytes);
    for (size_t i = 0; i < bytes; i++) w[i] = (unsigned char)(next() >> 24);
    int bb = dt == RT_Q8_0 ? 34 : dt == RT_Q4_0 ? 18 : 144;
    for (size_t b = 0; b < bytes / (size_t)bb; b++) {
        uint16_t d = rt_f32_to_f16((float)(next() >> 20 & 1023) * 1e-5f + 1e-4f);
        memcpy(w + b * bb, &d, 2);
        if (dt == RT_Q4_K) memcpy(w + b * bb + 2, &d, 2);     /* dmin */
    }
    return w;
}

static int run(FILE *out, RtPool *pool, RtDtype dt, int r16, int S, int N, int K)
{
    unsigned char *w = random_blocks(dt, N, K), *packed = NULL;
    size_t row = rt_dtype_row_bytes(dt, K);
    if (r16) {
        packed = malloc((size_t)N * row);
        for (int n = 0; n < N; n += 16) rt_r16_pack(dt, packed + (size_t)n * row, w + (size_t)n * row, K);
    }
    float *x = malloc((size_t)S * K * sizeof *x), *y = calloc((size_t)S * N, sizeof *y), *bias = malloc((size_t)N * 4);
    for (int i = 0; i < S * K; i++) x[i] = (float)((int)(next() >> 16) - 32768) / 8192.0f;
    for (int i = 0; i < N; i++) bias[i] = (float)i * 0.25f;
    rt_qlinear(pool, y, N, x, r16 ? packed : w, r16 ? dt | RT_R16 : dt, bias, S, N, K);
    int ok = fwrite(y, sizeof *y, (size_t)S * N, out) == (size_t)S * N;
    free(w), free(packed), free(x), free(y), free(bias);
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUT_FILE\n", argv[0]);
        return 2;
    }
    FILE *out = fopen(argv[1], "wb");
    RtPool *pool = NULL;
    if (!out || rt_pool_create(&pool, 2) != RT_OK) {
        fprintf(stderr, "%s: cannot write, or no pool\n", argv[1]);
        return 1;
    }
    static const int shapes[][3] = {{1, 48, 256}, {3, 32, 512}, {8, 64, 96}, {13, 16, 1024}};
    int rc = 0;
    for (int i = 0; i < 4 && !rc; i++) {
        rc |= run(out, pool, RT_Q8_0, 1, shapes[i][0], shapes[i][1], shapes[i][2]);
        rc |= run(out, pool, RT_Q4_0, 1, shapes[i][0], shapes[i][1], shapes[i][2]);
        rc |= run(out, pool, RT_Q8_0, 0, shapes[i][0], shapes[i][1] - 4, shapes[i][2]);
        rc |= run(out, pool, RT_Q4_0, 0, shapes[i][0], shapes[i][1] - 4, shapes[i][2]);
    }
    rc |= run(out, pool, RT_Q4_K, 0, 5, 12, 512);
    rt_pool_destroy(pool);
    if (fclose(out) != 0 || rc) {
        fprintf(stderr, "%s: cannot write\n", argv[1]);
        return 1;
    }
    printf("block weights: %s path\n", rt_quant_isa());
    return 0;
}
