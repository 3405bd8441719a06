/* test_rt_quant.c: runtime/rt_quant.c, the q8_0 and q4_0 linear kernels,
 * against a double-precision reference of the same arithmetic (weights
 * dequantised, activations quantised per block of 32 as the kernels do),
 * on every instruction path this CPU has (HETC_ISA), for decode (S = 1..4)
 * and prefill shapes, odd block counts and row counts, bias and ldo; and
 * rt_dequant_row against the block formats.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hetc_rt.h"
#include "testutil.h"

static uint32_t rng = 12345;
static float frand(void)
{
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static float half(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 31, m = h & 1023, bits;
    if (e == 0) return (h >> 15 ? -1.0f : 1.0f) * ldexpf((float)m, -24);
    bits = sign | (e + 112) << 23 | m << 13;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* Random blocks: scales of a weight's size (f16 normal numbers), random quants. */
static unsigned char *random_blocks(RtDtype dt, int N, int K)
{
    int bb = dt == RT_Q8_0 ? 34 : 18, nb = K / 32;
    unsigned char *w = malloc((size_t)N * nb * bb);
    for (int i = 0; i < N * nb; i++) {
        unsigned char *b = w + (size_t)i * bb;
        uint16_t d = (uint16_t)(0x1800 + (rng % 0x400));      /* about 1e-4 .. 2e-4 */
        frand();
        b[0] = (unsigned char)d;
        b[1] = (unsigned char)(d >> 8);
        for (int j = 2; j < bb; j++) b[j] = (unsigned char)((frand() + 1) * 127.9f);
    }
    return w;
}

static double wval(const unsigned char *W, RtDtype dt, int K, int n, int k)
{
    int bb = dt == RT_Q8_0 ? 34 : 18;
    const unsigned char *b = W + ((size_t)n * (K / 32) + k / 32) * bb;
    int j = k % 32, q = dt == RT_Q8_0 ? (int8_t)b[2 + j] : j < 16 ? (b[2 + j] & 15) - 8 : (b[2 + j - 16] >> 4) - 8;
    return (double)q * half((uint16_t)(b[0] | b[1] << 8));
}

/* The activation x[k] as the kernels see it: quantised in its block. */
static void quantised_x(const float *x, int K, double *out)
{
    for (int b = 0; b < K / 32; b++) {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fabsf(x[b * 32 + j]) > amax ? fabsf(x[b * 32 + j]) : amax;
        float d = amax / 127, id = d ? 1 / d : 0;
        for (int j = 0; j < 32; j++) out[b * 32 + j] = (double)roundf(x[b * 32 + j] * id) * d;
    }
}

static void check(RtDtype dt, int S, int N, int K, int ldo, int with_bias, RtPool *pool, const char *isa)
{
    unsigned char *W = random_blocks(dt, N, K);
    float *x = malloc((size_t)S * K * sizeof *x), *out = malloc((size_t)S * ldo * sizeof *out);
    float *bias = malloc((size_t)N * sizeof *bias);
    double *xq = malloc((size_t)K * sizeof *xq);
    for (int i = 0; i < S * K; i++) x[i] = frand() * (i % 7 == 0 ? 8 : 1);
    for (int i = 0; i < N; i++) bias[i] = frand();
    for (int i = 0; i < S * ldo; i++) out[i] = 1e30f;
    rt_qlinear(pool, out, ldo, x, W, dt, with_bias ? bias : NULL, S, N, K);
    double worst = 0;
    for (int s = 0; s < S; s++) {
        quantised_x(x + (size_t)s * K, K, xq);
        for (int n = 0; n < N; n++) {
            double ref = with_bias ? bias[n] : 0, mag = fabs(ref);
            for (int k = 0; k < K; k++) {
                double t = wval(W, dt, K, n, k) * xq[k];
                ref += t;
                mag += fabs(t);
            }
            double err = fabs(out[(size_t)s * ldo + n] - ref) / (mag + 1e-30);
            if (!(err < 1e-5))
                fail_msg("%s %s S=%d N=%d K=%d: out[%d][%d] = %g, reference %g", isa, dt == RT_Q8_0 ? "q8_0" : "q4_0",
                         S, N, K, s, n, out[(size_t)s * ldo + n], ref);
            worst = err > worst ? err : worst;
        }
        for (int n = N; n < ldo; n++) assert_true(out[(size_t)s * ldo + n] == 1e30f);   /* past N: untouched */
    }
    free(W), free(x), free(out), free(bias), free(xq);
}

static void run_shapes(const char *isa)
{
    RtPool *pool = NULL;
    assert_int_equal(rt_pool_create(&pool, 2), RT_OK);
    static const int shapes[][3] = {{1, 64, 256}, {2, 13, 96}, {3, 7, 32}, {4, 33, 544}, {1, 5, 64},
                                    {5, 20, 128}, {9, 17, 160}, {40, 70, 2048}, {130, 9, 64}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int dt = 0; dt < 2; dt++)
            for (int p = 0; p < 2; p++)
                check(dt ? RT_Q4_0 : RT_Q8_0, shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][1] + 3 * p, p,
                      p ? pool : NULL, isa);
    rt_pool_destroy(pool);
}

/* Each path in a child process (the path is chosen once per process). */
static void test_paths(void **state)
{
    const char *self = getenv("TEST_RT_QUANT_ISA");
    if (self) {
        run_shapes(self);
        return;
    }
    static const char *const isas[] = {"scalar", "avx2", "avx512vnni"};
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    assert_true(n > 0);
    exe[n] = 0;
    for (int i = 0; i < 3; i++) {
        char *out;
        int rc = tu_run(&out, "TEST_RT_QUANT_ISA=%s HETC_ISA=%s %s", isas[i], isas[i], exe);
        if (rc) fail_msg("the %s path:\n%s", isas[i], out);
        printf("  %s path: all shapes within 1e-5 of the reference\n", isas[i]);
        free(out);
    }
}

static void test_dequant_row(void **state)
{
    for (int dt = 0; dt < 2; dt++) {
        RtDtype t = dt ? RT_Q4_0 : RT_Q8_0;
        unsigned char *W = random_blocks(t, 3, 96);
        float row[64];
        rt_dequant_row(row, W, t, 96 + 32, 64);     /* row 1, values 32..95 */
        for (int k = 0; k < 64; k++) assert_true(row[k] == (float)wval(W, t, 96, 1, 32 + k));
        free(W);
    }
}

int main(void)
{
    printf("rt_quant path on this CPU: %s\n", rt_quant_isa());
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_paths), cmocka_unit_test(test_dequant_row)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
