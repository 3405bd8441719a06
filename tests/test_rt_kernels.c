/* test_rt_kernels.c: the runtime against naive double-precision references:
 * f16/bf16 conversions, the thread pool, every kernel on odd sizes (f32,
 * f16 and bf16 weights; 1 and 2 threads), and weights.bin validation. */
#include "testutil.h"
#include "hetc_rt.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- helpers ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rand_u32(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}

/* Uniform in [-1, 1). */
static float frand(void)
{
    return (float)(rand_u32() >> 8) * 0x1p-23f - 1.0f;
}

static float *rand_floats(int64_t n)
{
    float *p = calloc((size_t)(n > 0 ? n : 1), sizeof *p);
    for (int64_t i = 0; i < n; i++)
        p[i] = frand();
    return p;
}

static size_t dtype_size(RtDtype dt)
{
    return dt == RT_F32 ? 4 : 2;
}

static const char *dtype_str(RtDtype dt)
{
    return dt == RT_F32 ? "f32" : dt == RT_F16 ? "f16" : "bf16";
}

/* Random weights stored as dt; *widened gets their exact f32 values. */
static void *rand_weights(RtDtype dt, int64_t n, float **widened)
{
    float *w = rand_floats(n);
    void *stored = malloc((size_t)(n > 0 ? n : 1) * dtype_size(dt));
    for (int64_t i = 0; i < n; i++) {
        if (dt == RT_F32) {
            ((float *)stored)[i] = w[i];
        } else if (dt == RT_F16) {
            ((uint16_t *)stored)[i] = rt_f32_to_f16(w[i]);
            w[i] = rt_f16_to_f32(((uint16_t *)stored)[i]);
        } else {
            ((uint16_t *)stored)[i] = rt_f32_to_bf16(w[i]);
            w[i] = rt_bf16_to_f32(((uint16_t *)stored)[i]);
        }
    }
    *widened = w;
    return stored;
}

/* |got - want| <= tol * scale[i] (scale NULL: 1) for every element. */
static void check_close(const char *what, const float *got, const double *want,
                        const double *scale, int64_t n, double tol)
{
    for (int64_t i = 0; i < n; i++) {
        double s = scale ? scale[i] : 1.0;
        double err = fabs((double)got[i] - want[i]);
        if (!(err <= tol * s + 1e-30))
            fail_msg("%s: element %lld: got %.9g, want %.9g (scale %.3g)", what, (long long)i,
                     got[i], want[i], s);
    }
}

static RtPool *make_pool(int n)
{
    RtPool *pool = NULL;
    assert_int_equal(rt_pool_create(&pool, n), RT_OK);
    assert_int_equal(rt_pool_size(pool), n);
    return pool;
}

/* ---- util ---- */

static void test_status_and_error(void **state)
{
    (void)state;
    assert_string_equal(rt_status_name(RT_OK), "ok");
    assert_string_equal(rt_status_name(RT_ERR_FORMAT), "bad format");
    rt_set_error("tensor %s: %d", "x", 7);
    assert_string_equal(rt_last_error(), "tensor x: 7");
    assert_true(rt_cpu_count() >= 1);
    double t0 = rt_now();
    assert_true(rt_now() >= t0);
}

static void test_alloc(void **state)
{
    (void)state;
    for (size_t n = 0; n < 300; n += 37) {
        unsigned char *p = rt_alloc(n);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 64, 0);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(p[i], 0);
        rt_free(p);
    }
}

static void test_f16_round_trip(void **state)
{
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = rt_f16_to_f32((uint16_t)h);
        if (isnan(f)) {
            assert_true(isnan(rt_f16_to_f32(rt_f32_to_f16(f))));
            continue;
        }
        assert_int_equal(rt_f32_to_f16(f), h);
#ifdef __FLT16_MAX__
        _Float16 hv;
        uint16_t bits = (uint16_t)h;
        memcpy(&hv, &bits, sizeof bits);
        assert_true((float)hv == f);
#endif
    }
}

static void test_f32_to_f16_rounding(void **state)
{
    (void)state;
    assert_int_equal(rt_f32_to_f16(1.0f), 0x3c00);
    assert_int_equal(rt_f32_to_f16(65504.0f), 0x7bff);
    assert_int_equal(rt_f32_to_f16(65519.0f), 0x7bff);
    assert_int_equal(rt_f32_to_f16(65520.0f), 0x7c00);
    assert_int_equal(rt_f32_to_f16(-INFINITY), 0xfc00);
    assert_int_equal(rt_f32_to_f16(0x1p-24f), 0x0001);
    assert_int_equal(rt_f32_to_f16(0x1p-25f), 0x0000);            /* tie to even */
    assert_int_equal(rt_f32_to_f16(0x1.8p-24f), 0x0002);          /* tie to even */
    assert_int_equal(rt_f32_to_f16(0x1.0p-25f * 1.01f), 0x0001);
    assert_int_equal(rt_f32_to_f16(-0.0f), 0x8000);
    assert_int_equal(rt_f32_to_f16(1.0f + 0x1p-11f), 0x3c00);     /* tie to even */
    assert_int_equal(rt_f32_to_f16(1.0f + 0x1.8p-10f), 0x3c02);   /* tie, odd: up */
    assert_true((rt_f32_to_f16(NAN) & 0x7fff) > 0x7c00);
#ifdef __FLT16_MAX__
    for (int i = 0; i < 1000000; i++) {
        uint32_t bits = rand_u32();
        float f;
        memcpy(&f, &bits, sizeof f);
        if (isnan(f))
            continue;
        _Float16 hv = (_Float16)f;
        uint16_t want;
        memcpy(&want, &hv, sizeof want);
        if (rt_f32_to_f16(f) != want)
            fail_msg("f32 0x%08x: got 0x%04x, want 0x%04x", bits, rt_f32_to_f16(f), want);
    }
#endif
}

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static void test_bf16(void **state)
{
    (void)state;
    assert_int_equal(rt_f32_to_bf16(1.0f), 0x3f80);
    assert_int_equal(rt_f32_to_bf16(from_bits(0x3f808000)), 0x3f80);   /* tie, even */
    assert_int_equal(rt_f32_to_bf16(from_bits(0x3f818000)), 0x3f82);   /* tie, odd */
    assert_int_equal(rt_f32_to_bf16(from_bits(0x3f808001)), 0x3f81);
    assert_int_equal(rt_f32_to_bf16(3.4e38f), 0x7f80);
    assert_int_equal(rt_f32_to_bf16(-INFINITY), 0xff80);
    assert_int_equal(rt_f32_to_bf16(from_bits(0x00012345)), 0x0001);   /* subnormal */
    assert_true(isnan(rt_bf16_to_f32(rt_f32_to_bf16(from_bits(0x7f800001)))));
    assert_true(rt_bf16_to_f32(0x3f80) == 1.0f);
    assert_true(rt_bf16_to_f32(0xc040) == -3.0f);
}

/* ---- pool ---- */

typedef struct {
    atomic_long sum;        /* sum of (ith + 1) over all calls */
    atomic_int calls;
    int bad;                /* set if nth or ith is out of range */
} PoolCounter;

static void count_task(void *arg, int ith, int nth)
{
    PoolCounter *c = arg;
    if (ith < 0 || ith >= nth)
        c->bad = 1;
    atomic_fetch_add(&c->sum, ith + 1);
    atomic_fetch_add(&c->calls, 1);
}

static void run_counted(RtPool *pool, int runs)
{
    int n = rt_pool_size(pool);
    PoolCounter c = {0};
    for (int r = 0; r < runs; r++) {
        rt_pool_run(pool, count_task, &c);
        assert_int_equal(atomic_load(&c.calls), (r + 1) * n);
    }
    assert_int_equal(atomic_load(&c.sum), (long)runs * n * (n + 1) / 2);
    assert_int_equal(c.bad, 0);
}

static void test_pool(void **state)
{
    (void)state;
    for (int n = 1; n <= 4; n++) {
        RtPool *pool = make_pool(n);
        run_counted(pool, 20000);
        struct timespec nap = {0, 30 * 1000 * 1000};   /* let the workers fall asleep */
        nanosleep(&nap, NULL);
        run_counted(pool, 3);
        nanosleep(&nap, NULL);
        run_counted(pool, 1000);
        rt_pool_destroy(pool);
    }
    RtPool *pool = NULL;
    assert_int_equal(rt_pool_create(&pool, 0), RT_OK);
    assert_int_equal(rt_pool_size(pool), rt_cpu_count());
    rt_pool_destroy(pool);
    assert_int_equal(rt_pool_size(NULL), 1);
    run_counted(NULL, 5);
}

/* ---- linear ---- */

static void linear_ref(double *want, double *scale, const float *x, const float *w,
                       const float *bias, int S, int N, int K)
{
    for (int s = 0; s < S; s++) {
        for (int n = 0; n < N; n++) {
            double acc = bias ? bias[n] : 0.0, mag = bias ? fabs(bias[n]) : 0.0;
            for (int k = 0; k < K; k++) {
                double t = (double)x[s * K + k] * w[(int64_t)n * K + k];
                acc += t;
                mag += fabs(t);
            }
            want[s * N + n] = acc;
            scale[s * N + n] = mag + 1e-3;
        }
    }
}

static void check_linear(RtPool *pool, RtDtype dt, int S, int N, int K, int with_bias)
{
    float *wf;
    void *W = rand_weights(dt, (int64_t)N * K, &wf);
    float *x = rand_floats((int64_t)S * K);
    float *bias = with_bias ? rand_floats(N) : NULL;
    float *out = malloc((size_t)S * N * sizeof *out);
    double *want = malloc((size_t)S * N * sizeof *want);
    double *scale = malloc((size_t)S * N * sizeof *scale);
    for (int i = 0; i < S * N; i++)
        out[i] = NAN;
    rt_linear(pool, out, x, W, dt, bias, S, N, K);
    linear_ref(want, scale, x, wf, bias, S, N, K);
    char what[128];
    snprintf(what, sizeof what, "linear %s S=%d N=%d K=%d bias=%d threads=%d", dtype_str(dt),
             S, N, K, with_bias, rt_pool_size(pool));
    check_close(what, out, want, scale, (int64_t)S * N, 1e-5);
    free(W), free(wf), free(x), free(bias), free(out), free(want), free(scale);
}

static void test_linear(void **state)
{
    (void)state;
    static const int Ss[] = {1, 2, 3, 4, 5, 7, 13, 64};
    static const int NKs[][2] = {{33, 100}, {100, 257}, {257, 33}, {40, 600}, {5, 16}, {1, 1}};
    static const RtDtype dts[] = {RT_F32, RT_F16, RT_BF16};
    RtPool *pools[] = {make_pool(1), make_pool(2), NULL};
    int case_no = 0;
    for (size_t p = 0; p < 3; p++)
        for (size_t d = 0; d < 3; d++)
            for (size_t s = 0; s < sizeof Ss / sizeof *Ss; s++)
                for (size_t nk = 0; nk < sizeof NKs / sizeof *NKs; nk++)
                    check_linear(pools[p], dts[d], Ss[s], NKs[nk][0], NKs[nk][1],
                                 case_no++ % 2);
    rt_pool_destroy(pools[0]);
    rt_pool_destroy(pools[1]);
}

static void test_linear_large(void **state)
{
    (void)state;
    RtPool *pool = make_pool(2);
    check_linear(pool, RT_BF16, 1, 2048, 2048, 0);
    check_linear(pool, RT_F16, 2, 1000, 1030, 1);
    check_linear(pool, RT_F32, 100, 300, 1100, 1);
    check_linear(pool, RT_BF16, 37, 515, 513, 0);
    rt_pool_destroy(pool);
}

/* RT_XBF16: every S against x rounded to bf16 (without rounding, some 1e-3
 * off). In this process (vdpbf16ps where the cpu has AVX512_BF16) and in
 * a child on the avx2 path (x rounded, then the f32 kernels). */
static void check_linear_xbf16(RtPool *pool)
{
    static const int Ss[] = {1, 2, 4, 5, 13, 64, 100};
    static const int NKs[][2] = {{33, 100}, {100, 257}, {257, 33}, {40, 600}, {515, 513}, {64, 1}};
    for (size_t s = 0; s < sizeof Ss / sizeof *Ss; s++)
        for (size_t nk = 0; nk < sizeof NKs / sizeof *NKs; nk++) {
            int S = Ss[s], N = NKs[nk][0], K = NKs[nk][1];
            float *wf;
            void *W = rand_weights(RT_BF16, (int64_t)N * K, &wf);
            float *x = rand_floats((int64_t)S * K), *xr = malloc((size_t)S * K * sizeof *xr);
            float *bias = nk % 2 ? rand_floats(N) : NULL, *out = malloc((size_t)S * N * sizeof *out);
            double *want = malloc((size_t)S * N * sizeof *want), *scale = malloc((size_t)S * N * sizeof *scale);
            for (int i = 0; i < S * K; i++)
                xr[i] = rt_bf16_to_f32(rt_f32_to_bf16(x[i]));
            rt_linear(pool, out, x, W, RT_BF16 | RT_XBF16, bias, S, N, K);
            linear_ref(want, scale, xr, wf, bias, S, N, K);
            check_close(tu_fmt("linear bf16 x bf16 S=%d N=%d K=%d threads=%d", S, N, K, rt_pool_size(pool)), out,
                        want, scale, (int64_t)S * N, 1e-5);
            free(W), free(wf), free(x), free(xr), free(bias), free(out), free(want), free(scale);
        }
}

static void test_linear_xbf16(void **state)
{
    (void)state;
    RtPool *pool = make_pool(2);
    check_linear_xbf16(pool);
    check_linear_xbf16(NULL);
    rt_pool_destroy(pool);
    if (getenv("TEST_XBF16_CHILD")) return;
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    assert_true(n > 0);
    exe[n] = 0;
    char *out;
    if (tu_run(&out, "TEST_XBF16_CHILD=1 HETC_ISA=avx2 %s test_linear_xbf16", exe))
        fail_msg("the avx2 path:\n%s", out);
    free(out);
}

/* ---- embed, rmsnorm ---- */

static void test_embed(void **state)
{
    (void)state;
    static const RtDtype dts[] = {RT_F32, RT_F16, RT_BF16};
    RtPool *pool = make_pool(2);
    const int vocab = 50, H = 37, S = 13;
    for (size_t d = 0; d < 3; d++) {
        float *tf;
        void *table = rand_weights(dts[d], vocab * H, &tf);
        int32_t ids[13];
        for (int s = 0; s < S; s++)
            ids[s] = (int32_t)(rand_u32() % vocab);
        ids[0] = vocab - 1;
        float out[13 * 37];
        double want[13 * 37];
        for (int s = 0; s < S; s++)
            for (int h = 0; h < H; h++)
                want[s * H + h] = tf[ids[s] * H + h];
        rt_embed(d == 1 ? NULL : pool, out, table, dts[d], ids, S, H);
        check_close("embed", out, want, NULL, S * H, 0.0);
        free(table), free(tf);
    }
    rt_pool_destroy(pool);
}

/* The vector f16/bf16 widening of the kernels, on every 16-bit pattern. */
static void test_embed_all_halves(void **state)
{
    (void)state;
    enum { H = 65536 };
    uint16_t *table = malloc(H * sizeof *table);
    float *out = malloc(H * sizeof *out);
    for (int i = 0; i < H; i++)
        table[i] = (uint16_t)i;
    const int32_t id = 0;
    for (int bf = 0; bf < 2; bf++) {
        rt_embed(NULL, out, table, bf ? RT_BF16 : RT_F16, &id, 1, H);
        for (int i = 0; i < H; i++) {
            float want = bf ? rt_bf16_to_f32((uint16_t)i) : rt_f16_to_f32((uint16_t)i);
            if (isnan(want) ? !isnan(out[i]) : memcmp(&want, &out[i], sizeof want) != 0)
                fail_msg("%s 0x%04x: got %g, want %g", bf ? "bf16" : "f16", i, out[i], want);
        }
    }
    free(table), free(out);
}

static void check_rmsnorm(RtPool *pool, int S, int H)
{
    float *x = rand_floats((int64_t)S * H), *w = rand_floats(H);
    float *out = malloc((size_t)S * H * sizeof *out);
    double *want = malloc((size_t)S * H * sizeof *want);
    const float eps = 1e-5f;
    rt_rmsnorm(pool, out, x, w, S, H, eps);
    for (int s = 0; s < S; s++) {
        double ss = 0.0;
        for (int h = 0; h < H; h++)
            ss += (double)x[s * H + h] * x[s * H + h];
        double r = 1.0 / sqrt(ss / H + eps);
        for (int h = 0; h < H; h++)
            want[s * H + h] = x[s * H + h] * r * w[h];
    }
    check_close("rmsnorm", out, want, NULL, (int64_t)S * H, 1e-5);
    free(x), free(w), free(out), free(want);
}

static void test_rmsnorm(void **state)
{
    (void)state;
    RtPool *pool = make_pool(2);
    check_rmsnorm(pool, 1, 7);
    check_rmsnorm(pool, 5, 33);
    check_rmsnorm(pool, 64, 2048);
    check_rmsnorm(NULL, 13, 257);
    rt_pool_destroy(pool);
}

/* ---- rope ---- */

static void rope_ref(double *want, const float *x, const float *inv_freq, int S, int heads,
                     int hd, int pos0)
{
    int half = hd / 2;
    for (int s = 0; s < S; s++) {
        for (int h = 0; h < heads; h++) {
            const float *xh = x + ((int64_t)s * heads + h) * hd;
            double *wh = want + ((int64_t)s * heads + h) * hd;
            for (int i = 0; i < half; i++) {
                double a = (double)(pos0 + s) * inv_freq[i];   /* the exact angle */
                wh[i] = xh[i] * cos(a) - xh[i + half] * sin(a);
                wh[i + half] = xh[i + half] * cos(a) + xh[i] * sin(a);
            }
        }
    }
}

static void check_rope(RtPool *pool, int S, int heads, int hd, int pos0, int in_place)
{
    int64_t n = (int64_t)S * heads * hd;
    float *x = rand_floats(n), *out = malloc((size_t)n * sizeof *out);
    double *want = malloc((size_t)n * sizeof *want);
    float inv_freq[256];
    for (int i = 0; i < hd / 2; i++)
        inv_freq[i] = (float)pow(10000.0, -2.0 * i / hd);
    rope_ref(want, x, inv_freq, S, heads, hd, pos0);
    if (in_place) {
        rt_rope(pool, x, x, inv_freq, S, heads, hd, pos0);
        check_close("rope in place", x, want, NULL, n, 2e-6);
    } else {
        rt_rope(pool, out, x, inv_freq, S, heads, hd, pos0);
        check_close("rope", out, want, NULL, n, 2e-6);
    }
    free(x), free(out), free(want);
}

static void test_rope(void **state)
{
    (void)state;
    RtPool *pool = make_pool(2);
    check_rope(pool, 1, 3, 8, 0, 0);
    check_rope(pool, 7, 4, 64, 5, 0);
    check_rope(pool, 64, 32, 64, 1000, 1);
    check_rope(pool, 5, 2, 200, 77, 0);
    check_rope(NULL, 13, 3, 18, 3, 1);
    rt_pool_destroy(pool);
}

/* ---- attention ---- */

typedef struct {
    int S, pos0, heads, kv_heads, hd, window, ctx;
} AttnCase;

static void attention_ref(double *want, const AttnCase *c, const float *q, const float *kc,
                          const float *vc, float scale)
{
    int kvw = c->kv_heads * c->hd;
    double *p = malloc((size_t)c->ctx * sizeof *p);
    for (int s = 0; s < c->S; s++) {
        int pos = c->pos0 + s;
        int lo = c->window > 0 && pos - c->window + 1 > 0 ? pos - c->window + 1 : 0;
        for (int h = 0; h < c->heads; h++) {
            int kh = h / (c->heads / c->kv_heads);
            const float *qh = q + ((int64_t)s * c->heads + h) * c->hd;
            double max = -INFINITY, sum = 0.0;
            for (int j = lo; j <= pos; j++) {
                double d = 0.0;
                for (int i = 0; i < c->hd; i++)
                    d += (double)qh[i] * kc[j * kvw + kh * c->hd + i];
                p[j] = d * scale;
                max = p[j] > max ? p[j] : max;
            }
            for (int j = lo; j <= pos; j++)
                sum += p[j] = exp(p[j] - max);
            for (int i = 0; i < c->hd; i++) {
                double o = 0.0;
                for (int j = lo; j <= pos; j++)
                    o += p[j] / sum * vc[j * kvw + kh * c->hd + i];
                want[((int64_t)s * c->heads + h) * c->hd + i] = o;
            }
        }
    }
    free(p);
}

static void check_attention(RtPool *pool, AttnCase c)
{
    int kvw = c.kv_heads * c.hd, qw = c.heads * c.hd;
    float *q = rand_floats((int64_t)c.S * qw);
    float *k = rand_floats((int64_t)c.S * kvw), *v = rand_floats((int64_t)c.S * kvw);
    float *kc = rand_floats((int64_t)c.ctx * kvw), *vc = rand_floats((int64_t)c.ctx * kvw);
    float *out = malloc((size_t)c.S * qw * sizeof *out);
    float *scratch = malloc((size_t)rt_pool_size(pool) * c.ctx * sizeof *scratch);
    double *want = malloc((size_t)c.S * qw * sizeof *want);
    for (int i = 0; i < c.S * qw; i++)
        q[i] *= 3.0f;       /* sharper softmax */
    float scale = 1.0f / sqrtf((float)c.hd);
    rt_attention(pool, out, q, k, v, kc, vc, c.S, c.pos0, c.heads, c.kv_heads, c.hd, scale,
                 c.window, c.ctx, scratch);
    assert_memory_equal(kc + c.pos0 * kvw, k, (size_t)c.S * kvw * sizeof(float));
    assert_memory_equal(vc + c.pos0 * kvw, v, (size_t)c.S * kvw * sizeof(float));
    attention_ref(want, &c, q, kc, vc, scale);
    char what[160];
    snprintf(what, sizeof what, "attention S=%d pos0=%d heads=%d/%d hd=%d window=%d threads=%d",
             c.S, c.pos0, c.heads, c.kv_heads, c.hd, c.window, rt_pool_size(pool));
    check_close(what, out, want, NULL, (int64_t)c.S * qw, 2e-6);
    free(q), free(k), free(v), free(kc), free(vc), free(out), free(scratch), free(want);
}

static void test_attention(void **state)
{
    (void)state;
    RtPool *pools[] = {make_pool(1), make_pool(2), NULL};
    static const AttnCase cases[] = {
        {1, 0, 4, 4, 16, 0, 8},         /* first token */
        {5, 0, 4, 2, 20, 0, 9},         /* GQA, head_dim not a multiple of 16 */
        {7, 3, 8, 2, 64, 0, 16},        /* prefix already in the cache */
        {1, 40, 6, 3, 64, 0, 64},       /* decode step */
        {13, 9, 4, 1, 33, 5, 30},       /* sliding window, MQA */
        {1, 100, 4, 2, 64, 17, 128},    /* decode with window */
        {64, 0, 32, 4, 64, 0, 64},      /* full prefill */
        {6, 2, 4, 2, 128, 0, 8},        /* head_dim 128 */
        {4, 7, 6, 2, 80, 3, 16},        /* head_dim 80, window */
        {2, 0, 2, 1, 256, 0, 2},        /* head_dim 256 (the generic path) */
    };
    for (size_t p = 0; p < 3; p++)
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
            check_attention(pools[p], cases[i]);
    rt_pool_destroy(pools[0]);
    rt_pool_destroy(pools[1]);
}

/* ---- elementwise ---- */

static double silu_ref(double x)
{
    return x / (1.0 + exp(-x));
}

static void check_elementwise(RtPool *pool, int64_t n)
{
    float *a = rand_floats(n), *b = rand_floats(n), *out = malloc((size_t)n * sizeof *out);
    double *want = calloc((size_t)n, sizeof *want), *scale = calloc((size_t)n, sizeof *scale);
    for (int64_t i = 0; i < n; i++)
        a[i] *= 20.0f;      /* silu over [-20, 20] */
    rt_silu(pool, out, a, n);
    for (int64_t i = 0; i < n; i++) {
        want[i] = silu_ref(a[i]);
        scale[i] = fabs(want[i]) + 1e-6;
    }
    check_close("silu", out, want, scale, n, 2e-6);
    rt_swiglu(pool, out, a, b, n);
    for (int64_t i = 0; i < n; i++) {
        want[i] = silu_ref(a[i]) * b[i];
        scale[i] = fabs(want[i]) + 1e-6;
    }
    check_close("swiglu", out, want, scale, n, 3e-6);
    rt_mul(pool, out, a, b, n);
    for (int64_t i = 0; i < n; i++)
        want[i] = (double)a[i] * b[i];
    check_close("mul", out, want, NULL, n, 1e-5);
    rt_add(pool, out, a, b, n);
    for (int64_t i = 0; i < n; i++)
        want[i] = (double)a[i] + b[i];
    check_close("add", out, want, NULL, n, 1e-5);
    rt_add(pool, a, a, b, n);       /* in place */
    check_close("add in place", a, want, NULL, n, 1e-5);
    free(a), free(b), free(out), free(want), free(scale);
}

static void test_elementwise(void **state)
{
    (void)state;
    RtPool *pool = make_pool(2);
    static const int64_t ns[] = {1, 15, 16, 17, 100, 5632, 100003};
    for (size_t i = 0; i < sizeof ns / sizeof *ns; i++) {
        check_elementwise(pool, ns[i]);
        check_elementwise(NULL, ns[i]);
    }
    float big[3] = {-200.0f, 200.0f, 0.0f}, out[3];
    rt_silu(pool, out, big, 3);
    assert_true(fabsf(out[0]) < 1e-30f && out[1] == 200.0f && out[2] == 0.0f);
    rt_pool_destroy(pool);
}

/* ---- weights file ---- */

static const uint64_t WT_HASH = 0x1234abcd5678ef00ull;

/* A valid two-tensor file: "a" f32 [3] = {1,2,3}, "b" bf16 [2,2]. */
typedef struct {
    RtWeightsHeader hdr;
    RtTensorEntry e[2];
    unsigned char pad[384 - sizeof(RtWeightsHeader) - 2 * sizeof(RtTensorEntry)];
    float a[16];
    uint16_t b[4];
} WtFile;

static WtFile valid_file(void)
{
    WtFile f;
    memset(&f, 0, sizeof f);
    memcpy(f.hdr.magic, RT_WEIGHTS_MAGIC, 8);
    f.hdr.version = RT_WEIGHTS_VERSION;
    f.hdr.n_tensors = 2;
    f.hdr.model_hash = WT_HASH;
    f.hdr.data_offset = 384;
    f.hdr.file_bytes = 384 + 64 + 8;
    f.e[0] = (RtTensorEntry){.name = "a", .dtype = RT_F32, .ndim = 1, .shape = {3},
                             .offset = 384, .nbytes = 12};
    f.e[1] = (RtTensorEntry){.name = "b", .dtype = RT_BF16, .ndim = 2, .shape = {2, 2},
                             .offset = 448, .nbytes = 8};
    f.a[0] = 1.0f, f.a[1] = 2.0f, f.a[2] = 3.0f;
    for (int i = 0; i < 4; i++)
        f.b[i] = rt_f32_to_bf16((float)i);
    return f;
}

static const char *write_weights(const WtFile *f, size_t len)
{
    const char *path = tu_fmt("%s/weights.bin", tu_tmpdir("rt_weights"));
    tu_write_file(path, f, len);
    return path;
}

static void expect_open_error(const WtFile *f, size_t len, RtStatus want, const char *msg)
{
    const char *path = write_weights(f, len);
    RtWeights w;
    assert_int_equal(rt_weights_open(&w, path, WT_HASH), want);
    assert_null(w.base);
    if (!strstr(rt_last_error(), msg) || !strstr(rt_last_error(), path))
        fail_msg("error '%s' lacks '%s' or the path", rt_last_error(), msg);
}

static void test_weights_valid(void **state)
{
    (void)state;
    WtFile f = valid_file();
    const char *path = write_weights(&f, f.hdr.file_bytes);
    RtWeights w;
    assert_int_equal(rt_weights_open(&w, path, WT_HASH), RT_OK);
    assert_int_equal(w.hdr->n_tensors, 2);
    const void *data;
    assert_int_equal(rt_weights_tensor(&w, 0, "a", RT_F32, 12, &data), RT_OK);
    assert_int_equal((uintptr_t)data % RT_WEIGHTS_ALIGN, 0);
    assert_true(((const float *)data)[2] == 3.0f);
    assert_int_equal(rt_weights_tensor(&w, 1, "b", RT_BF16, 8, &data), RT_OK);
    assert_true(rt_bf16_to_f32(((const uint16_t *)data)[3]) == 3.0f);
    assert_int_equal(rt_weights_tensor(&w, 1, "c", RT_BF16, 8, &data), RT_ERR_FORMAT);
    assert_non_null(strstr(rt_last_error(), "'c'"));
    assert_null(data);
    assert_int_equal(rt_weights_tensor(&w, 1, "b", RT_F16, 8, &data), RT_ERR_FORMAT);
    assert_non_null(strstr(rt_last_error(), "is bf16, expected f16"));
    assert_int_equal(rt_weights_tensor(&w, 0, "a", RT_F32, 16, &data), RT_ERR_FORMAT);
    assert_non_null(strstr(rt_last_error(), "'a' has 12 bytes, expected 16"));
    assert_int_equal(rt_weights_tensor(&w, 2, "z", RT_F32, 4, &data), RT_ERR_FORMAT);
    assert_non_null(strstr(rt_last_error(), "'z'"));
    rt_weights_close(&w);
    assert_null(w.base);
}

static void test_weights_errors(void **state)
{
    (void)state;
    WtFile f = valid_file();
    size_t len = f.hdr.file_bytes;
    f.hdr.magic[0] = 'X';
    expect_open_error(&f, len, RT_ERR_FORMAT, "bad magic");
    f = valid_file();
    f.hdr.version = 9;
    expect_open_error(&f, len, RT_ERR_FORMAT, "version 9");
    f = valid_file();
    f.hdr.model_hash = 0x77;
    expect_open_error(&f, len, RT_ERR_FORMAT, "another model");
    assert_non_null(strstr(rt_last_error(), "0x1234abcd5678ef00"));
    f = valid_file();
    expect_open_error(&f, len - 5, RT_ERR_IO, "truncated");
    expect_open_error(&f, 20, RT_ERR_IO, "too short");
    f.hdr.file_bytes = len - 8;
    expect_open_error(&f, len, RT_ERR_FORMAT, "the header says");
    f = valid_file();
    f.e[1].offset = 4096;
    expect_open_error(&f, len, RT_ERR_FORMAT, "tensor 'b'");
    f = valid_file();
    f.e[1].nbytes = UINT64_MAX - 100;
    expect_open_error(&f, len, RT_ERR_FORMAT, "tensor 'b'");
    f = valid_file();
    f.e[0].offset = 400;
    expect_open_error(&f, len, RT_ERR_FORMAT, "tensor 'a'");
    f = valid_file();
    f.hdr.n_tensors = 1000;
    expect_open_error(&f, len, RT_ERR_FORMAT, "1000 tensors");
    f = valid_file();
    memset(f.e[0].name, 'x', sizeof f.e[0].name);
    expect_open_error(&f, len, RT_ERR_FORMAT, "unterminated");
    RtWeights w;
    assert_int_equal(rt_weights_open(&w, "/nonexistent/weights.bin", WT_HASH), RT_ERR_IO);
    assert_non_null(strstr(rt_last_error(), "/nonexistent/weights.bin"));
}

/* argv[1]: only the tests of that name (the children above). */
int main(int argc, char **argv)
{
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_and_error),
        cmocka_unit_test(test_alloc),
        cmocka_unit_test(test_f16_round_trip),
        cmocka_unit_test(test_f32_to_f16_rounding),
        cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_pool),
        cmocka_unit_test(test_linear),
        cmocka_unit_test(test_linear_large),
        cmocka_unit_test(test_linear_xbf16),
        cmocka_unit_test(test_embed),
        cmocka_unit_test(test_embed_all_halves),
        cmocka_unit_test(test_rmsnorm),
        cmocka_unit_test(test_rope),
        cmocka_unit_test(test_attention),
        cmocka_unit_test(test_elementwise),
        cmocka_unit_test(test_weights_valid),
        cmocka_unit_test(test_weights_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
