/* test_rt_quant.c: runtime/rt_quant.c, the q8_0, q4_0, q4_k, q5_k and q6_k linear kernels,
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

static int bytes_of(RtDtype dt)
{
    static const int bytes[] = {[RT_Q8_0] = 34, [RT_Q4_0] = 18, [RT_Q4_1] = 20, [RT_Q5_0] = 22, [RT_Q5_1] = 24,
                                [RT_Q4_K] = 144, [RT_Q5_K] = 176, [RT_Q6_K] = 210};
    return bytes[dt];
}
static int block_of(RtDtype dt) { return dt == RT_Q4_K || dt == RT_Q5_K || dt == RT_Q6_K ? 256 : 32; }
static const char *name_of(RtDtype dt) { return rt_dtype_name(dt); }

static void put_half(unsigned char *p, uint16_t h)
{
    p[0] = (unsigned char)h;
    p[1] = (unsigned char)(h >> 8);
}

/* Random blocks: random quants and scale bytes, f16 super-scales of a
 * weight's size (normal numbers). */
static unsigned char *random_blocks(RtDtype dt, int N, int K)
{
    int bb = bytes_of(dt), nb = K / block_of(dt);
    unsigned char *w = malloc((size_t)N * nb * bb);
    for (int i = 0; i < N * nb; i++) {
        unsigned char *b = w + (size_t)i * bb;
        for (int j = 0; j < bb; j++) b[j] = (unsigned char)((frand() + 1) * 127.9f);
        uint16_t d = (uint16_t)(0x1800 + (rng % 0x400));      /* about 1e-4 .. 2e-4 */
        if (dt == RT_Q8_0 || dt == RT_Q4_0 || dt == RT_Q5_0) put_half(b, d);
        else if (dt == RT_Q4_1 || dt == RT_Q5_1) put_half(b, d), put_half(b + 2, (uint16_t)(d + 0x400));
        else if (dt == RT_Q4_K || dt == RT_Q5_K) put_half(b, (uint16_t)(d - 0x1000)), put_half(b + 2, (uint16_t)(d - 0x800));
        else put_half(b + 208, (uint16_t)(d - 0xc00));
    }
    return w;
}

/* Weight (n, k) from the formats' definitions (ggml's block layouts). */
static double wval(const unsigned char *W, RtDtype dt, int K, int n, int k)
{
    int bb = bytes_of(dt), per = block_of(dt);
    const unsigned char *b = W + ((size_t)n * (K / per) + k / per) * bb;
    int j = k % per;
    if (dt == RT_Q8_0) return (double)(int8_t)b[2 + j] * half((uint16_t)(b[0] | b[1] << 8));
    if (dt == RT_Q4_0) return (double)(j < 16 ? (b[2 + j] & 15) - 8 : (b[2 + j - 16] >> 4) - 8) * half((uint16_t)(b[0] | b[1] << 8));
    if (dt == RT_Q4_1 || dt == RT_Q5_0 || dt == RT_Q5_1) {     /* d q (+ m); q5: bit j of the 32 after the scales on top */
        int m = dt != RT_Q5_0, five = dt != RT_Q4_1;
        const unsigned char *qs = b + 2 + 2 * m + 4 * five, *qh = b + 2 + 2 * m;
        int q = j < 16 ? qs[j] & 15 : qs[j - 16] >> 4;
        if (five) q |= (qh[j / 8] >> (j % 8) & 1) << 4;
        double d = half((uint16_t)(b[0] | b[1] << 8));
        return m ? d * q + half((uint16_t)(b[2] | b[3] << 8)) : d * (q - 16);
    }
    int chunk = j / 32, l = j % 32;
    if (dt == RT_Q4_K || dt == RT_Q5_K) {   /* 8 chunks of 32: 6-bit scale and min each */
        const unsigned char *s = b + 4;
        int sc = chunk < 4 ? s[chunk] & 63 : (s[chunk + 4] & 15) | (s[chunk - 4] >> 6) << 4;
        int m = chunk < 4 ? s[chunk + 4] & 63 : (s[chunk + 4] >> 4) | (s[chunk] >> 6) << 4;
        int q = dt == RT_Q4_K ? (b[16 + 32 * (chunk / 2) + l] >> (4 * (chunk % 2))) & 15
                              : ((b[48 + 32 * (chunk / 2) + l] >> (4 * (chunk % 2))) & 15) | ((b[16 + l] >> chunk) & 1) << 4;
        return half((uint16_t)(b[0] | b[1] << 8)) * sc * q - half((uint16_t)(b[2] | b[3] << 8)) * m;
    }
    int h = j / 128, r = j % 128, quarter = r / 32;     /* q6_k: 4 quarters of 32 per half */
    int lo = (b[64 * h + (r % 32) + 32 * (quarter & 1)] >> (quarter >= 2 ? 4 : 0)) & 15;
    int hi = (b[128 + 32 * h + r % 32] >> (2 * quarter)) & 3;
    int sc = (int8_t)b[192 + 8 * h + 2 * quarter + (r % 32) / 16];
    return half((uint16_t)(b[208] | b[209] << 8)) * sc * ((lo | hi << 4) - 32);
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

/* W's rows (N a multiple of 16) in layout r16. */
static unsigned char *to_r16(const unsigned char *W, RtDtype dt, int N, int K)
{
    size_t group = (size_t)16 * K / block_of(dt) * bytes_of(dt);
    unsigned char *out = malloc(group * N / 16);
    for (int g = 0; g < N / 16; g++) rt_r16_pack(dt, out + g * group, W + g * group, K);
    return out;
}

static void check(RtDtype dt, int S, int N, int K, int ldo, int with_bias, RtPool *pool, const char *isa)
{
    unsigned char *W = random_blocks(dt & ~RT_R16, N, K);
    float *x = malloc((size_t)S * K * sizeof *x), *out = malloc((size_t)S * ldo * sizeof *out);
    float *bias = malloc((size_t)N * sizeof *bias);
    double *xq = malloc((size_t)K * sizeof *xq);
    for (int i = 0; i < S * K; i++) x[i] = frand() * (i % 7 == 0 ? 8 : 1);
    for (int i = 0; i < N; i++) bias[i] = frand();
    for (int i = 0; i < S * ldo; i++) out[i] = 1e30f;
    unsigned char *packed = dt & RT_R16 ? to_r16(W, dt & ~RT_R16, N, K) : NULL;
    rt_qlinear(pool, out, ldo, x, packed ? packed : W, dt, with_bias ? bias : NULL, S, N, K);
    free(packed);
    dt &= ~RT_R16;
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
                fail_msg("%s %s S=%d N=%d K=%d: out[%d][%d] = %g, reference %g", isa, name_of(dt),
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
    static const int kshapes[][3] = {{1, 64, 256}, {2, 13, 512}, {4, 33, 768}, {1, 5, 256}, {9, 17, 256}, {40, 70, 2048}};
    static const RtDtype blocks32[] = {RT_Q8_0, RT_Q4_0}, kquants[] = {RT_Q4_K, RT_Q5_K, RT_Q6_K};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int dt = 0; dt < 2; dt++)
            for (int p = 0; p < 2; p++)
                check(blocks32[dt], shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][1] + 3 * p, p, p ? pool : NULL, isa);
    for (size_t i = 0; i < sizeof kshapes / sizeof kshapes[0]; i++)
        for (int dt = 0; dt < 3; dt++)
            for (int p = 0; p < 2; p++)
                check(kquants[dt], kshapes[i][0], kshapes[i][1], kshapes[i][2], kshapes[i][1] + 3 * p, p, p ? pool : NULL, isa);
    static const int r16shapes[][3] = {{1, 16, 32}, {3, 32, 96}, {8, 48, 256}, {9, 16, 160}, {40, 64, 2048}, {130, 32, 64}};
    static const RtDtype r16types[] = {RT_Q8_0, RT_Q4_0, RT_Q4_1, RT_Q5_0, RT_Q5_1};   /* q4_1, q5_0, q5_1: r16 alone */
    for (size_t i = 0; i < sizeof r16shapes / sizeof r16shapes[0]; i++)
        for (int dt = 0; dt < 5; dt++)
            for (int p = 0; p < 2; p++)
                check(r16types[dt] | RT_R16, r16shapes[i][0], r16shapes[i][1], r16shapes[i][2], r16shapes[i][1] + 3 * p, p,
                      p ? pool : NULL, isa);
    static const int r16kshapes[][3] = {{1, 16, 256}, {3, 32, 512}, {8, 48, 768}, {9, 16, 2560}, {40, 64, 2048}, {20, 32, 256}};
    static const RtDtype r16k[] = {RT_Q4_K, RT_Q6_K};
    for (size_t i = 0; i < sizeof r16kshapes / sizeof r16kshapes[0]; i++)
        for (int dt = 0; dt < 2; dt++)
            for (int p = 0; p < 2; p++)
                check(r16k[dt] | RT_R16, r16kshapes[i][0], r16kshapes[i][1], r16kshapes[i][2], r16kshapes[i][1] + 3 * p, p,
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
    static const RtDtype types[] = {RT_Q8_0, RT_Q4_0, RT_Q4_1, RT_Q5_0, RT_Q5_1, RT_Q4_K, RT_Q5_K, RT_Q6_K};
    for (int t = 0; t < 8; t++) {
        RtDtype dt = types[t];
        unsigned char *W = random_blocks(dt, 3, 512);
        float row[512];
        rt_dequant_row(row, W, dt, 512 + 256, 256);     /* row 1, values 256..511 */
        for (int k = 0; k < 256; k++) {
            double want = wval(W, dt, 512, 1, 256 + k);
            if (!(fabs(row[k] - want) <= 1e-6 * fabs(want) + 1e-12))
                fail_msg("%s value %d: %g, want %g", name_of(dt), k, row[k], want);
        }
        free(W);
    }
}

int main(void)
{
    printf("rt_quant path on this CPU: %s\n", rt_quant_isa());
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_paths), cmocka_unit_test(test_dequant_row)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
