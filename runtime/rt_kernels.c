/* rt_kernels.c: the CPU kernels called by generated code: embedding lookup,
 * RMSNorm, linear layers (GEMV for one or a few rows, packed and blocked
 * GEMM for more), RoPE, causal attention over the KV cache and elementwise
 * ops. Portable C: GCC vector extensions (16 floats per vector) give AVX-512,
 * AVX2 or NEON code under -march=native. Every kernel splits its work
 * across the pool, allocates nothing and keeps scratch on the stack or in
 * caller buffers. A NULL pool runs everything on the calling thread. */
#include "hetc_rt.h"

#include <math.h>
#include <string.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

/* GCC in ISO C modes (-std=c11) does not contract a*b+c into fused
 * multiply-adds; the kernels rely on it. The vector types' calling
 * convention depends on -march, which is harmless for this file's static
 * functions, so that ABI note is silenced. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=fast")
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

typedef float v16f __attribute__((vector_size(64)));
typedef float v8f __attribute__((vector_size(32)));
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v16i __attribute__((vector_size(64)));
typedef uint32_t v16u __attribute__((vector_size(64)));
typedef uint16_t v16u16 __attribute__((vector_size(32)));

#define ALWAYS_INLINE static inline __attribute__((always_inline))

enum {
    VL = 16,                    /* floats per vector */
    PAR_MIN_WORK = 1 << 15,     /* elementwise work below this stays on one thread */
    GEMV_MAX_S = 4,             /* rt_linear takes the GEMV path up to this many rows */
    GEMV_ROWS = 4,              /* weight rows per GEMV tile */
    XS_MAX = 16384,             /* decode: floats of x prepared on the stack (split, rounded) */
#if defined(__AVX512F__)
    GEMM_MR = 12,               /* rows of x per micro-kernel tile: 12 x 2 accumulators */
    GEMM_NV = 2,                /* vectors of outputs per tile row (of 32 registers) */
#else
    GEMM_MR = 6,                /* 6 x 1 accumulators: 12 AVX2 registers of 16, */
    GEMM_NV = 1,                /* or 24 NEON registers of 32 */
#endif
    GEMM_NR = GEMM_NV * VL,     /* weight rows per packed panel */
    GEMM_KB = 256,              /* k per packed block (a panel: GEMM_KB * GEMM_NR floats) */
    GEMM_MC = 24,               /* rows of x per packed block (a multiple of GEMM_MR) */
    GEMM_NC = 512,              /* weight rows per packed block (a multiple of GEMM_NR) */
    ROPE_CHUNK = 64,            /* frequencies whose cos/sin are computed at once */
};

/* ---- small helpers ---- */

static inline int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* Thread ith's share [*lo, *hi) of n items, cut at multiples of 'unit'. */
static void split(int64_t n, int64_t unit, int ith, int nth, int64_t *lo, int64_t *hi)
{
    int64_t units = (n + unit - 1) / unit;
    *lo = min64(n, units * ith / nth * unit);
    *hi = min64(n, units * (ith + 1) / nth * unit);
}

/* Runs fn on the pool, or on this thread alone when the work is small. */
static void run(RtPool *pool, RtTaskFn fn, void *arg, int64_t work)
{
    if (!pool || work < PAR_MIN_WORK)
        fn(arg, 0, 1);
    else
        rt_pool_run(pool, fn, arg);
}

static inline v16f load_f32(const float *p)
{
    v16f v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void store_f32(float *p, v16f v)
{
    memcpy(p, &v, sizeof v);
}

/* The first n (< VL) floats at p, zero-padded. */
static inline v16f load_part(const float *p, int64_t n)
{
    v16f v = {0};
    memcpy(&v, p, (size_t)n * sizeof(float));
    return v;
}

static inline v16f load_bf16(const uint16_t *p)
{
    v16u16 h;
    memcpy(&h, p, sizeof h);
    return (v16f)(__builtin_convertvector(h, v16u) << 16);
}

/* f16 bits (the low 16 bits of each lane) to f32 with integer and float
 * vector ops (compilers do not vectorize _Float16 conversions well): move
 * exponent and mantissa into place and multiply by 2^112 to rebias the
 * exponent (f16 subnormals, which land on f32 subnormals, come out exact
 * too); inputs of exponent 31 reach 2^16 and become inf/nan; then the
 * sign. (Subnormals need the default floating-point environment: no
 * denormals-are-zero, as -ffast-math sets.) */
static inline v16f f16_bits_to_f32(v16u h)
{
    v16f mag = (v16f)((h & 0x7fffu) << 13) * 0x1p112f;
    v16u infnan = (v16u)(mag >= 65536.0f) & (0xffu << 23);
    return (v16f)((v16u)mag | infnan | ((h & 0x8000u) << 16));
}

static inline v16f load_f16(const uint16_t *p)
{
#if defined(__AVX512F__)
    return (v16f)_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));     /* exact, one instruction */
#else
    v16u16 h;
    memcpy(&h, p, sizeof h);
    return f16_bits_to_f32(__builtin_convertvector(h, v16u));
#endif
}

/* 16 weights from element i of W, widened to f32. dt is a constant at every
 * call site, so the switch folds away. */
ALWAYS_INLINE v16f load_w(const void *W, RtDtype dt, int64_t i)
{
    switch (dt) {
    case RT_F16: return load_f16((const uint16_t *)W + i);
    case RT_BF16: return load_bf16((const uint16_t *)W + i);
    default: return load_f32((const float *)W + i);
    }
}

ALWAYS_INLINE float scalar_w(const void *W, RtDtype dt, int64_t i)
{
    switch (dt) {
    case RT_F16: return rt_f16_to_f32(((const uint16_t *)W)[i]);
    case RT_BF16: return rt_bf16_to_f32(((const uint16_t *)W)[i]);
    default: return ((const float *)W)[i];
    }
}

/* Whether load_w32 gives dt's weights in order (elements 0..15, 16..31):
 * f32, and f16 where AVX-512 converts 16 halves in one instruction. */
ALWAYS_INLINE int w32_in_order(RtDtype dt)
{
#if defined(__AVX512F__)
    return dt == RT_F32 || dt == RT_F16;
#else
    return dt == RT_F32;
#endif
}

/* 32 weights from element i of W as two vectors. In order where
 * w32_in_order; else (f16/bf16) the even and the odd elements, which
 * splitting each 32-bit lane gives without shuffles (little-endian:
 * element 2l is the low half of lane l); x must then be split the same way
 * (split_x). */
ALWAYS_INLINE void load_w32(const void *W, RtDtype dt, int64_t i, v16f *a, v16f *b)
{
#if defined(__AVX512F__)
    if (dt == RT_F16) {
        *a = load_f16((const uint16_t *)W + i);
        *b = load_f16((const uint16_t *)W + i + VL);
        return;
    }
#endif
    if (dt == RT_F32) {
        *a = load_f32((const float *)W + i);
        *b = load_f32((const float *)W + i + VL);
        return;
    }
    v16u u;
    memcpy(&u, (const uint16_t *)W + i, sizeof u);
    if (dt == RT_BF16) {
        *a = (v16f)(u << 16);
        *b = (v16f)(u & 0xffff0000u);
    } else {
        *a = f16_bits_to_f32(u & 0xffffu);
        *b = f16_bits_to_f32(u >> 16);
    }
}

/* 32 floats of x at p, split to match load_w32 for weights of type dt. */
ALWAYS_INLINE void split_x(const float *p, RtDtype dt, v16f *a, v16f *b)
{
    v16f lo = load_f32(p), hi = load_f32(p + VL);
    if (w32_in_order(dt)) {
        *a = lo;
        *b = hi;
        return;
    }
#ifdef __clang__
    *a = __builtin_shufflevector(lo, hi, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28,
                                 30);
    *b = __builtin_shufflevector(lo, hi, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29,
                                 31);
#else
    const v16i even = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
    *a = __builtin_shuffle(lo, hi, even);
    *b = __builtin_shuffle(lo, hi, even + 1);
#endif
}

/* Sum of the 16 lanes, by halving (a tree, not a serial chain). */
static inline float hsum(v16f v)
{
    v8f a, b;
    memcpy(&a, &v, sizeof a);
    memcpy(&b, (const char *)&v + sizeof a, sizeof b);
    v8f s8 = a + b;
    v4f c, d;
    memcpy(&c, &s8, sizeof c);
    memcpy(&d, (const char *)&s8 + sizeof c, sizeof d);
    v4f s4 = c + d;
    return (s4[0] + s4[2]) + (s4[1] + s4[3]);
}

static inline v16f splat(float f)
{
    return (v16f){0} + f;
}

static inline v16f vmax(v16f a, v16f b)
{
    v16i m = a > b;
    return (v16f)(((v16i)a & m) | ((v16i)b & ~m));
}

static inline v16f vmin(v16f a, v16f b)
{
    v16i m = a < b;
    return (v16f)(((v16i)a & m) | ((v16i)b & ~m));
}

/* e^x, about 1 ulp. Inputs are clamped to [-86, 88] (results outside are
 * not needed by silu or softmax). Round x*log2(e) to n, reduce
 * r = x - n*ln2 in two steps, use the Cephes expf polynomial, scale by 2^n. */
static inline v16f vexp(v16f x)
{
    const float magic = 12582912.0f;     /* 1.5 * 2^23: adding it rounds to an integer */
    x = vmin(vmax(x, splat(-86.0f)), splat(88.0f));
    v16f n = (x * 1.44269504088896341f + magic) - magic;
    v16f r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    v16f p = r * 1.9875691500e-4f + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    v16i e = __builtin_convertvector(n, v16i) << 23;
    return (v16f)((v16i)p + e);
}

/* ---- embedding ---- */

typedef struct {
    float *out;             /* [S, H] */
    const void *table;      /* [vocab, H] of dt */
    RtDtype dt;
    const int32_t *ids;     /* [S] */
    int S, H;
} EmbedArgs;

ALWAYS_INLINE void convert_row(float *out, const void *W, RtDtype dt, int64_t base, int64_t n)
{
    int64_t i = 0;
    for (; i + VL <= n; i += VL)
        store_f32(out + i, load_w(W, dt, base + i));
    for (; i < n; i++)
        out[i] = scalar_w(W, dt, base + i);
}

static void embed_task(void *p, int ith, int nth)
{
    const EmbedArgs *a = p;
    int64_t s0, s1;
    split(a->S, 1, ith, nth, &s0, &s1);
    for (int64_t s = s0; s < s1; s++) {
        float *o = a->out + s * a->H;
        int64_t base = (int64_t)a->ids[s] * a->H;
        switch (a->dt) {
        case RT_Q8_0:
        case RT_Q4_0:
        case RT_Q4_1:
        case RT_Q5_0:
        case RT_Q5_1:
        case RT_Q4_K:
        case RT_Q5_K:
        case RT_Q6_K: rt_dequant_row(o, a->table, a->dt, base, a->H); break;
        case RT_F16: convert_row(o, a->table, RT_F16, base, a->H); break;
        case RT_BF16: convert_row(o, a->table, RT_BF16, base, a->H); break;
        default: convert_row(o, a->table, RT_F32, base, a->H); break;
        }
    }
}

void rt_embed(RtPool *pool, float *out, const void *table, RtDtype dt, const int32_t *ids,
              int S, int H)
{
    EmbedArgs a = {.out = out, .table = table, .dt = dt, .ids = ids, .S = S, .H = H};
    run(pool, embed_task, &a, (int64_t)S * H);
}

/* ---- RMSNorm ---- */

typedef struct {
    float *out;             /* [S, H] */
    const float *x;         /* [S, H] */
    const float *w;         /* [H] */
    int S, H;
    float eps;
} NormArgs;

/* Sum of squares: 16 lanes in float (each a short partial sum), then double. */
static double sum_squares(const float *x, int64_t n)
{
    v16f acc = {0};
    int64_t i = 0;
    for (; i + VL <= n; i += VL) {
        v16f v = load_f32(x + i);
        acc += v * v;
    }
    double s = 0.0;
    for (int l = 0; l < VL; l++)
        s += acc[l];
    for (; i < n; i++)
        s += (double)x[i] * x[i];
    return s;
}

static void rmsnorm_row(float *out, const float *x, const float *w, int64_t H, float eps)
{
    float r = (float)(1.0 / sqrt(sum_squares(x, H) / (double)H + eps));
    int64_t i = 0;
    for (; i + VL <= H; i += VL)
        store_f32(out + i, load_f32(x + i) * r * load_f32(w + i));
    for (; i < H; i++)
        out[i] = x[i] * r * w[i];
}

static void rmsnorm_task(void *p, int ith, int nth)
{
    const NormArgs *a = p;
    int64_t s0, s1;
    split(a->S, 1, ith, nth, &s0, &s1);
    for (int64_t s = s0; s < s1; s++)
        rmsnorm_row(a->out + s * a->H, a->x + s * a->H, a->w, a->H, a->eps);
}

void rt_rmsnorm(RtPool *pool, float *out, const float *x, const float *w, int S, int H, float eps)
{
    NormArgs a = {.out = out, .x = x, .w = w, .S = S, .H = H, .eps = eps};
    run(pool, rmsnorm_task, &a, (int64_t)S * H);
}

/* ---- linear: shared arguments ---- */

typedef struct {
    float *out;             /* [S, N] */
    const float *x;         /* [S, K] */
    const void *W;          /* [N, K] of dt */
    RtDtype dt;
    const float *bias;      /* [N] or NULL */
    int S, N, K;
    int64_t ldo;            /* floats between rows of out (>= N) */
    int xbf16;              /* RT_XBF16: x is rounded to bf16 (decode and GEMM) */
} LinearArgs;

/* ---- linear, GEMV path (S <= GEMV_MAX_S) ----
 * A tile is GEMV_ROWS rows of W against all S rows of x: each weight vector
 * is loaded and widened once and used S times; GEMV_ROWS * S independent
 * accumulators hide the FMA latency. Rows past N repeat the last row and
 * are not stored. Each row prefetches the same place of its counterpart in
 * the next tile: the hardware prefetchers, which stop at 4 KB pages, would
 * miss the starts of the rows. */

/* Prefetches the 32 weights at element i (one or two cache lines); the
 * address may lie past W (prefetches never fault). */
ALWAYS_INLINE void prefetch_w32(const void *W, RtDtype dt, int64_t i)
{
    uintptr_t p = (uintptr_t)W + (uintptr_t)i * (dt == RT_F32 ? 4 : 2);
    __builtin_prefetch((const void *)p);
    if (dt == RT_F32)
        __builtin_prefetch((const void *)(p + 64));
}

ALWAYS_INLINE void gemv_tile_dt(const LinearArgs *a, int64_t n, int rows, RtDtype dt, int S)
{
    const int64_t K = a->K;
    int64_t wrow[GEMV_ROWS];
    for (int r = 0; r < GEMV_ROWS; r++)
        wrow[r] = (n + (r < rows ? r : rows - 1)) * K;
    v16f acc[GEMV_ROWS][GEMV_MAX_S] = {{{0}}};
    int64_t k = 0;
    for (; k + 2 * VL <= K; k += 2 * VL) {
        v16f xa[GEMV_MAX_S], xb[GEMV_MAX_S];
        for (int s = 0; s < S; s++)
            split_x(a->x + s * K + k, dt, &xa[s], &xb[s]);
        for (int r = 0; r < GEMV_ROWS; r++) {
            v16f wa, wb;
            prefetch_w32(a->W, dt, wrow[r] + GEMV_ROWS * K + k);
            load_w32(a->W, dt, wrow[r] + k, &wa, &wb);
            for (int s = 0; s < S; s++)
                acc[r][s] += wa * xa[s] + wb * xb[s];
        }
    }
    for (; k + VL <= K; k += VL) {
        for (int r = 0; r < GEMV_ROWS; r++) {
            v16f wv = load_w(a->W, dt, wrow[r] + k);
            for (int s = 0; s < S; s++)
                acc[r][s] += wv * load_f32(a->x + s * K + k);
        }
    }
    for (int r = 0; r < rows; r++) {
        for (int s = 0; s < S; s++) {
            float sum = hsum(acc[r][s]);
            for (int64_t kk = k; kk < K; kk++)
                sum += scalar_w(a->W, dt, wrow[r] + kk) * a->x[s * K + kk];
            a->out[s * a->ldo + n + r] = sum + (a->bias ? a->bias[n + r] : 0.0f);
        }
    }
}

ALWAYS_INLINE void gemv_tile_s(const LinearArgs *a, int64_t n, int rows, int S)
{
    switch (a->dt) {
    case RT_F16: gemv_tile_dt(a, n, rows, RT_F16, S); break;
    case RT_BF16: gemv_tile_dt(a, n, rows, RT_BF16, S); break;
    default: gemv_tile_dt(a, n, rows, RT_F32, S); break;
    }
}

static void gemv_tile(const LinearArgs *a, int64_t n, int rows)
{
    switch (a->S) {
    case 1: gemv_tile_s(a, n, rows, 1); break;
    case 2: gemv_tile_s(a, n, rows, 2); break;
    case 3: gemv_tile_s(a, n, rows, 3); break;
    default: gemv_tile_s(a, n, rows, 4); break;
    }
}

/* One activation row (decode): rows n0..n1 one after another, each
 * streamed into 4 accumulators, so that a thread reads its weights as one
 * sequential stream (the tiles' 4 rows side by side, 4 streams, read bf16
 * at 34-36 GB/s on 2 Zen 5 cores where this reads 42-56). Where load_w32
 * splits 32 weights into even and odd (bf16), x comes split the same way
 * (xs: split_x of each 32 values, then 16 and 16), one instruction fewer
 * per 16 weights than widening them in order. */
ALWAYS_INLINE void gemv_rows1_dt(const LinearArgs *a, int64_t n0, int64_t n1, RtDtype dt, const float *xs)
{
    const int64_t K = a->K;
    const size_t es = dt == RT_F32 ? 4 : 2;     /* bytes a weight (rt_prefetch_ahead) */
    for (int64_t n = n0; n < n1; n++) {
        int64_t w = n * K, k = 0;
        v16f acc0 = {0}, acc1 = {0}, acc2 = {0}, acc3 = {0};
        for (; xs && k + 4 * VL <= K; k += 4 * VL) {
            rt_prefetch_ahead((const char *)a->W + (w + k) * es, 4 * VL * es);
            v16f wa, wb, wc, wd;
            load_w32(a->W, dt, w + k, &wa, &wb);
            load_w32(a->W, dt, w + k + 2 * VL, &wc, &wd);
            acc0 += wa * load_f32(xs + k);
            acc1 += wb * load_f32(xs + k + VL);
            acc2 += wc * load_f32(xs + k + 2 * VL);
            acc3 += wd * load_f32(xs + k + 3 * VL);
        }
        for (; !xs && k + 4 * VL <= K; k += 4 * VL) {
            rt_prefetch_ahead((const char *)a->W + (w + k) * es, 4 * VL * es);
            acc0 += load_w(a->W, dt, w + k) * load_f32(a->x + k);
            acc1 += load_w(a->W, dt, w + k + VL) * load_f32(a->x + k + VL);
            acc2 += load_w(a->W, dt, w + k + 2 * VL) * load_f32(a->x + k + 2 * VL);
            acc3 += load_w(a->W, dt, w + k + 3 * VL) * load_f32(a->x + k + 3 * VL);
        }
        for (; k + VL <= K; k += VL) acc0 += load_w(a->W, dt, w + k) * load_f32(a->x + k);
        float sum = hsum((acc0 + acc1) + (acc2 + acc3));
        for (; k < K; k++) sum += scalar_w(a->W, dt, w + k) * a->x[k];
        a->out[n] = sum + (a->bias ? a->bias[n] : 0.0f);
    }
}

static void gemv_rows1_xbf16(const LinearArgs *a, int64_t n0, int64_t n1);

/* Past XS_MAX floats, bf16 takes x in order. */
static void gemv_rows1(const LinearArgs *a, int64_t n0, int64_t n1)
{
    if (a->xbf16) {
        gemv_rows1_xbf16(a, n0, n1);
        return;
    }
    if (a->dt == RT_F16) gemv_rows1_dt(a, n0, n1, RT_F16, NULL);
    if (a->dt == RT_F32) gemv_rows1_dt(a, n0, n1, RT_F32, NULL);
    if (a->dt != RT_BF16) return;
    float xs[XS_MAX] __attribute__((aligned(64)));
    int64_t k = 0;
    for (; a->K <= XS_MAX && k + 2 * VL <= a->K; k += 2 * VL) {
        v16f e, o;
        split_x(a->x + k, RT_BF16, &e, &o);
        store_f32(xs + k, e);
        store_f32(xs + k + VL, o);
    }
    gemv_rows1_dt(a, n0, n1, RT_BF16, k ? xs : NULL);
}

static void gemv_task(void *p, int ith, int nth)
{
    const LinearArgs *a = p;
    int64_t n0, n1;
    split(a->N, GEMV_ROWS, ith, nth, &n0, &n1);
    if (a->S == 1) {
        gemv_rows1(a, n0, n1);
        return;
    }
    for (int64_t n = n0; n < n1; n += GEMV_ROWS)
        gemv_tile(a, n, (int)min64(GEMV_ROWS, n1 - n));
}

/* ---- linear, GEMM path ----
 * BLIS-style blocking. Threads split N into ranges of whole panels
 * (GEMM_NR weight rows). Per block of GEMM_NC columns and GEMM_KB k:
 * the weights are widened to f32 and packed k-major, panel by panel
 * (bp[k][j] = W[n0 + j][k0 + k]: one vector load gives GEMM_NR consecutive
 * outputs' weights; zero past N), staying in L2 with one panel in L1. Then
 * per block of GEMM_MC rows of x, those rows are packed k-major in
 * micro-panels of GEMM_MR rows (ap[k][r] = x[s0 + r][k0 + k]; zero past S),
 * and a GEMM_MR x GEMM_NR register tile accumulates
 * broadcast(ap[k][r]) * bp[k][:] for each (micro-panel, panel) pair.
 * Both packed blocks live on the stack of the thread that runs the task
 * ((GEMM_MC + GEMM_NC) * GEMM_KB floats, 536 KB): pool workers get 4 MB
 * stacks, and a thread calling rt_linear needs that much stack to spare. */

typedef struct {
    float *c;               /* out at the tile's first row and column */
    int64_t ldc;            /* row stride of out */
    int rows, cols;         /* valid rows (<= GEMM_MR) and columns (<= GEMM_NR) */
    int first;              /* first k block: start from zero, not from c */
    const float *bias;      /* last k block with a bias: bias at column 0, else NULL */
} GemmTile;

/* The packed operands of one (row block, column block, k block): kw
 * 32-bit words per k row, kb floats, or (pairs) ceil(kb / 2) pairs of
 * bf16 (the GEMM with x in bf16, below). */
typedef struct {
    const void *ap;         /* [ceil(mc / GEMM_MR)][kw][GEMM_MR] */
    const void *bp;         /* [ceil(nc / GEMM_NR)][kw][GEMM_NR] */
    int64_t s0, n0, k0;     /* first row, column and k of the block */
    int mc, nc, kb;         /* rows, columns and k of the block */
    int pairs, kw;          /* bf16 pairs; words per k row of a panel */
} GemmBlock;

/* Transposes 16 x 16 floats in registers: four rounds of the perfect
 * shuffle (t[2i] interleaves lanes 0..7 of r[i] and r[i + 8], t[2i + 1]
 * lanes 8..15); each round rotates the 8 bits (row, lane) left by one, so
 * four rounds swap row and lane. */
static inline void transpose16(v16f r[VL])
{
    for (int round = 0; round < 4; round++) {
        v16f t[VL];
        for (int i = 0; i < VL / 2; i++) {
#ifdef __clang__
            t[2 * i] = __builtin_shufflevector(r[i], r[i + 8], 0, 16, 1, 17, 2, 18, 3, 19, 4,
                                               20, 5, 21, 6, 22, 7, 23);
            t[2 * i + 1] = __builtin_shufflevector(r[i], r[i + 8], 8, 24, 9, 25, 10, 26, 11,
                                                   27, 12, 28, 13, 29, 14, 30, 15, 31);
#else
            const v16i lo = {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23};
            t[2 * i] = __builtin_shuffle(r[i], r[i + 8], lo);
            t[2 * i + 1] = __builtin_shuffle(r[i], r[i + 8], lo + 8);
#endif
        }
        memcpy(r, t, sizeof t);
    }
}

/* Panel columns j0..j0+16 from the 16 weight rows n.. (all within N):
 * 16 x 16 blocks widened, transposed in registers and stored whole. */
ALWAYS_INLINE void pack_16_rows(float *panel, const LinearArgs *a, int64_t n, int j0,
                                int64_t k0, int kb, RtDtype dt)
{
    int k = 0;
    for (; k + VL <= kb; k += VL) {
        v16f r[VL];
        for (int i = 0; i < VL; i++)
            r[i] = load_w(a->W, dt, (n + i) * a->K + k0 + k);
        transpose16(r);
        for (int i = 0; i < VL; i++)
            store_f32(panel + (k + i) * GEMM_NR + j0, r[i]);
    }
    for (; k < kb; k++)
        for (int i = 0; i < VL; i++)
            panel[k * GEMM_NR + j0 + i] = scalar_w(a->W, dt, (n + i) * a->K + k0 + k);
}

/* Panel columns j0..j0+16 with only 'rows' (< 16) weight rows left: element
 * by element, zero past the last row. */
ALWAYS_INLINE void pack_rows_scalar(float *panel, const LinearArgs *a, int64_t n, int j0,
                                    int rows, int64_t k0, int kb, RtDtype dt)
{
    for (int k = 0; k < kb; k++)
        for (int i = 0; i < VL; i++)
            panel[k * GEMM_NR + j0 + i] =
                i < rows ? scalar_w(a->W, dt, (n + i) * a->K + k0 + k) : 0.0f;
}

ALWAYS_INLINE void pack_panel_dt(float *panel, const LinearArgs *a, int64_t n0, int cols,
                                 int64_t k0, int kb, RtDtype dt)
{
    for (int j0 = 0; j0 < GEMM_NR; j0 += VL) {
        if (cols - j0 >= VL)
            pack_16_rows(panel, a, n0 + j0, j0, k0, kb, dt);
        else
            pack_rows_scalar(panel, a, n0 + j0, j0, cols - j0, k0, kb, dt);
    }
}

/* Packs the weights of columns n0..n0+nc, k0..k0+kb into bp. */
static void pack_b(float *bp, const LinearArgs *a, int64_t n0, int nc, int64_t k0, int kb)
{
    for (int j = 0; j < nc; j += GEMM_NR) {
        float *panel = bp + (int64_t)j * kb;
        int cols = (int)min64(GEMM_NR, nc - j);
        switch (a->dt) {
        case RT_F16: pack_panel_dt(panel, a, n0 + j, cols, k0, kb, RT_F16); break;
        case RT_BF16: pack_panel_dt(panel, a, n0 + j, cols, k0, kb, RT_BF16); break;
        default: pack_panel_dt(panel, a, n0 + j, cols, k0, kb, RT_F32); break;
        }
    }
}

/* x[i] rounded to bf16 (to nearest even), as f32. */
static inline float round_bf16(float x) { return rt_bf16_to_f32(rt_f32_to_bf16(x)); }

/* Packs rows s0..s0+mc of x, k0..k0+kb into ap (rounded to bf16 with
 * RT_XBF16: the path of a cpu without AVX512_BF16). */
static void pack_a(float *ap, const LinearArgs *a, int64_t s0, int mc, int64_t k0, int kb)
{
    for (int i = 0; i < mc; i += GEMM_MR) {
        float *mp = ap + (int64_t)i * kb;
        for (int r = 0; r < GEMM_MR && i + r < mc; r++) {
            const float *src = a->x + (s0 + i + r) * a->K + k0;
            for (int k = 0; k < kb; k++)
                mp[k * GEMM_MR + r] = a->xbf16 ? round_bf16(src[k]) : src[k];
        }
        for (int r = mc - i; r < GEMM_MR; r++)
            for (int k = 0; k < kb; k++)
                mp[k * GEMM_MR + r] = 0.0f;
    }
}

/* Loads (or zeroes) the accumulators of a tile from out. */
ALWAYS_INLINE void tile_load(v16f acc[GEMM_MR][GEMM_NV], const GemmTile *t)
{
    for (int r = 0; r < GEMM_MR; r++) {
        const float *row = t->c + r * t->ldc;
        for (int v = 0; v < GEMM_NV; v++) {
            int n = t->cols - v * VL;
            if (t->first || r >= t->rows || n <= 0)
                acc[r][v] = splat(0.0f);
            else
                acc[r][v] = n >= VL ? load_f32(row + v * VL) : load_part(row + v * VL, n);
        }
    }
}

ALWAYS_INLINE void tile_store(v16f acc[GEMM_MR][GEMM_NV], const GemmTile *t)
{
    for (int v = 0; v < GEMM_NV; v++) {
        int n = t->cols - v * VL;
        if (n <= 0)
            break;
        v16f b = !t->bias ? splat(0.0f)
                 : n >= VL ? load_f32(t->bias + v * VL) : load_part(t->bias + v * VL, n);
        for (int r = 0; r < t->rows; r++) {
            float *dst = t->c + r * t->ldc + v * VL;
            v16f c = acc[r][v] + b;
            if (n >= VL)
                store_f32(dst, c);
            else
                memcpy(dst, &c, (size_t)n * sizeof(float));
        }
    }
}

/* c[0..rows)[0..cols) (+)= ap (GEMM_MR x kb) times bp (kb x GEMM_NR). */
static void micro_kernel(const GemmTile *t, const float *ap, const float *bp, int kb)
{
    v16f acc[GEMM_MR][GEMM_NV];
    tile_load(acc, t);
#pragma GCC unroll 2
    for (int k = 0; k < kb; k++) {
        v16f b[GEMM_NV];
        for (int v = 0; v < GEMM_NV; v++)
            b[v] = load_f32(bp + k * GEMM_NR + v * VL);
        for (int r = 0; r < GEMM_MR; r++)
            for (int v = 0; v < GEMM_NV; v++)
                acc[r][v] += ap[k * GEMM_MR + r] * b[v];
    }
    tile_store(acc, t);
}

/* ---- linear with x in bf16 (RT_XBF16, AVX512_BF16) ----
 * The GEMM's blocking over pairs of k (blocks of 2 * GEMM_KB values, the
 * same bytes): a 32-bit word holds the bf16 values of k and k + 1 (k even)
 * of a weight row (bp[p][j] = word p of row n0 + j from k0: the rows'
 * words transposed 16 x 16 in registers) or of a row of x rounded to
 * nearest even (ap[p][r]); vdpbf16ps adds both products of a pair into an
 * f32 lane, 32 multiply-adds per instruction where the f32 path does 16.
 * An odd K's last pair has a zero high half. Decode reads the weights as
 * they are stored, one instruction per 64 bytes (the exact bf16 path takes
 * five), which also lets one core stream them faster. */
#if defined(__AVX512F__) && defined(__x86_64__)
#define BF16_GEMM 1
#define BF16_FN __attribute__((target("avx512f,avx512bf16")))

static inline uint32_t bf16_pair(float lo, float hi)
{
    return rt_f32_to_bf16(lo) | (uint32_t)rt_f32_to_bf16(hi) << 16;
}

/* Word p (values k0 + 2p, k0 + 2p + 1 < k0 + kb) of weight row n. */
static inline uint32_t w_pair(const LinearArgs *a, int64_t n, int64_t k0, int kb, int p)
{
    const uint16_t *row = (const uint16_t *)a->W + n * a->K + k0;
    return row[2 * p] | (2 * p + 1 < kb ? (uint32_t)row[2 * p + 1] << 16 : 0);
}

static void pack_b_pairs(uint32_t *bp, const LinearArgs *a, int64_t n0, int nc, int64_t k0, int kb)
{
    int kw = (kb + 1) / 2;
    for (int j = 0; j < nc; j += VL) {
        uint32_t *panel = bp + (int64_t)(j / GEMM_NR * GEMM_NR) * kw + j % GEMM_NR;
        int rows = (int)min64(VL, nc - j), p = 0;
        for (; rows == VL && p + VL <= kb / 2; p += VL) {
            v16f r[VL];
            for (int i = 0; i < VL; i++)
                memcpy(&r[i], (const uint16_t *)a->W + (n0 + j + i) * a->K + k0 + 2 * p, sizeof r[i]);
            transpose16(r);
            for (int i = 0; i < VL; i++)
                memcpy(panel + (p + i) * GEMM_NR, &r[i], sizeof r[i]);
        }
        for (; p < kw; p++)
            for (int i = 0; i < VL; i++)
                panel[p * GEMM_NR + i] = i < rows ? w_pair(a, n0 + j + i, k0, kb, p) : 0;
    }
}

/* Rows s0..s0+mc of x, k0..k0+kb, rounded to bf16 (vcvtne2ps2bf16: to
 * nearest even) into a row of pairs, then spread into the micro-panel. */
BF16_FN static void pack_a_pairs(uint32_t *ap, const LinearArgs *a, int64_t s0, int mc, int64_t k0, int kb)
{
    int kw = (kb + 1) / 2;
    uint32_t row[GEMM_KB] __attribute__((aligned(64)));
    for (int i = 0; i < mc; i += GEMM_MR) {
        uint32_t *mp = ap + (int64_t)i * kw;
        for (int r = 0; r < GEMM_MR; r++) {
            int p = 0;
            if (i + r < mc) {
                const float *src = a->x + (s0 + i + r) * a->K + k0;
                for (; 2 * p + 2 * VL <= kb; p += VL)
                    _mm512_store_si512(row + p, (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + 2 * p + VL),
                                                                             _mm512_loadu_ps(src + 2 * p)));
                for (; p < kw; p++)
                    row[p] = bf16_pair(src[2 * p], 2 * p + 1 < kb ? src[2 * p + 1] : 0.0f);
            }
            for (int q = 0; q < kw; q++)
                mp[q * GEMM_MR + r] = q < p ? row[q] : 0;
        }
    }
}

BF16_FN static void micro_kernel_pairs(const GemmTile *t, const uint32_t *ap, const uint32_t *bp, int kw)
{
    v16f acc[GEMM_MR][GEMM_NV];
    tile_load(acc, t);
    for (int p = 0; p < kw; p++) {
        __m512bh b[GEMM_NV];
        for (int v = 0; v < GEMM_NV; v++)
            b[v] = (__m512bh)_mm512_load_si512(bp + p * GEMM_NR + v * VL);
        for (int r = 0; r < GEMM_MR; r++) {
            __m512bh x = (__m512bh)_mm512_set1_epi32((int)ap[p * GEMM_MR + r]);
            for (int v = 0; v < GEMM_NV; v++)
                acc[r][v] = (v16f)_mm512_dpbf16_ps((__m512)acc[r][v], x, b[v]);
        }
    }
    tile_store(acc, t);
}

/* Whether the GEMM with x in bf16 takes vdpbf16ps: the cpu has it, and
 * HETC_ISA (rt_quant_isa) has not picked a path without AVX-512. */
static int bf16_pairs(void)
{
    static int cached = -1;
    if (cached < 0)
        cached = __builtin_cpu_supports("avx512bf16") && strcmp(rt_quant_isa(), "avx512vnni") == 0;
    return cached;
}

/* Decode with x rounded to bf16: x's pairs once, then each row streamed
 * in order into 4 accumulators, one vdpbf16ps per 64 bytes of weights. */
BF16_FN static void gemv_rows1_pairs(const LinearArgs *a, int64_t n0, int64_t n1)
{
    const int64_t K = a->K, kw = (K + 1) / 2;
    uint32_t xw[XS_MAX / 2] __attribute__((aligned(64)));
    int64_t p = 0;
    for (; 2 * p + 2 * VL <= K; p += VL)
        _mm512_store_si512(xw + p, (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(a->x + 2 * p + VL),
                                                                _mm512_loadu_ps(a->x + 2 * p)));
    for (; p < kw; p++)
        xw[p] = bf16_pair(a->x[2 * p], 2 * p + 1 < K ? a->x[2 * p + 1] : 0.0f);
    for (int64_t n = n0; n < n1; n++) {
        const uint16_t *row = (const uint16_t *)a->W + n * K;
        __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
        for (p = 0; 2 * p + 8 * VL <= K; p += 4 * VL) {
            rt_prefetch_ahead(row + 2 * p, 8 * VL * sizeof *row);
            acc0 = _mm512_dpbf16_ps(acc0, (__m512bh)_mm512_loadu_si512(row + 2 * p), (__m512bh)_mm512_load_si512(xw + p));
            acc1 = _mm512_dpbf16_ps(acc1, (__m512bh)_mm512_loadu_si512(row + 2 * p + 2 * VL),
                                    (__m512bh)_mm512_load_si512(xw + p + VL));
            acc2 = _mm512_dpbf16_ps(acc2, (__m512bh)_mm512_loadu_si512(row + 2 * p + 4 * VL),
                                    (__m512bh)_mm512_load_si512(xw + p + 2 * VL));
            acc3 = _mm512_dpbf16_ps(acc3, (__m512bh)_mm512_loadu_si512(row + 2 * p + 6 * VL),
                                    (__m512bh)_mm512_load_si512(xw + p + 3 * VL));
        }
        for (; 2 * p + 2 * VL <= K; p += VL)
            acc0 = _mm512_dpbf16_ps(acc0, (__m512bh)_mm512_loadu_si512(row + 2 * p), (__m512bh)_mm512_load_si512(xw + p));
        float sum = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
        for (int64_t k = 2 * p; k < K; k++)
            sum += rt_bf16_to_f32(row[k]) * rt_bf16_to_f32((uint16_t)(xw[k / 2] >> (k % 2 * 16)));
        a->out[n] = sum + (a->bias ? a->bias[n] : 0.0f);
    }
}
#else
#define BF16_GEMM 0
static int bf16_pairs(void) { return 0; }
#endif

/* One row of x rounded to bf16 (K <= XS_MAX): the pairs above where the
 * cpu has them, else the f32 decode on a rounded copy of x. */
static void gemv_rows1_xbf16(const LinearArgs *a, int64_t n0, int64_t n1)
{
#if BF16_GEMM
    if (bf16_pairs()) {
        gemv_rows1_pairs(a, n0, n1);
        return;
    }
#endif
    float xr[XS_MAX] __attribute__((aligned(64)));
    for (int64_t k = 0; k < a->K; k++)
        xr[k] = round_bf16(a->x[k]);
    LinearArgs r = *a;
    r.x = xr;
    r.xbf16 = 0;
    gemv_rows1(&r, n0, n1);
}

/* Every (micro-panel, panel) tile of a packed block. */
static void gemm_block(const LinearArgs *a, const GemmBlock *b)
{
    GemmTile t = {.ldc = a->ldo, .first = b->k0 == 0};
    int last = b->k0 + b->kb == a->K;
    for (int j = 0; j < b->nc; j += GEMM_NR) {
        t.cols = (int)min64(GEMM_NR, b->nc - j);
        t.bias = last && a->bias ? a->bias + b->n0 + j : NULL;
        for (int i = 0; i < b->mc; i += GEMM_MR) {
            t.rows = (int)min64(GEMM_MR, b->mc - i);
            t.c = a->out + (b->s0 + i) * a->ldo + b->n0 + j;
#if BF16_GEMM
            if (b->pairs) {
                micro_kernel_pairs(&t, (const uint32_t *)b->ap + (int64_t)i * b->kw,
                                   (const uint32_t *)b->bp + (int64_t)j * b->kw, b->kw);
                continue;
            }
#endif
            micro_kernel(&t, (const float *)b->ap + (int64_t)i * b->kw, (const float *)b->bp + (int64_t)j * b->kw, b->kw);
        }
    }
}

/* Columns n0..n0+nc, all rows and k. */
static void gemm_columns(const LinearArgs *a, int64_t n0, int nc, float *ap, float *bp)
{
    GemmBlock b = {.ap = ap, .bp = bp, .n0 = n0, .nc = nc, .pairs = a->xbf16 && bf16_pairs()};
    int step = b.pairs ? 2 * GEMM_KB : GEMM_KB;  /* GEMM_KB words a row either way */
    for (b.k0 = 0; b.k0 < a->K; b.k0 += step) {
        b.kb = (int)min64(step, a->K - b.k0);
        b.kw = b.pairs ? (b.kb + 1) / 2 : b.kb;
#if BF16_GEMM
        if (b.pairs) pack_b_pairs((uint32_t *)bp, a, n0, nc, b.k0, b.kb);
        else
#endif
            pack_b(bp, a, n0, nc, b.k0, b.kb);
        for (b.s0 = 0; b.s0 < a->S; b.s0 += GEMM_MC) {
            b.mc = (int)min64(GEMM_MC, a->S - b.s0);
#if BF16_GEMM
            if (b.pairs) pack_a_pairs((uint32_t *)ap, a, b.s0, b.mc, b.k0, b.kb);
            else
#endif
                pack_a(ap, a, b.s0, b.mc, b.k0, b.kb);
            gemm_block(a, &b);
        }
    }
}

static void gemm_task(void *p, int ith, int nth)
{
    const LinearArgs *a = p;
    float ap[GEMM_MC * GEMM_KB] __attribute__((aligned(64)));
    float bp[GEMM_NC * GEMM_KB] __attribute__((aligned(64)));
    int64_t p0, p1;
    split((a->N + GEMM_NR - 1) / GEMM_NR, 1, ith, nth, &p0, &p1);
    int64_t n1 = min64(a->N, p1 * GEMM_NR);
    for (int64_t n0 = p0 * GEMM_NR; n0 < n1; n0 += GEMM_NC)
        gemm_columns(a, n0, (int)min64(GEMM_NC, n1 - n0), ap, bp);
}

void rt_linear(RtPool *pool, float *out, const float *x, const void *W, RtDtype dt,
               const float *bias, int S, int N, int K)
{
    rt_linear_ld(pool, out, N, x, W, dt, bias, S, N, K);
}

void rt_linear_ld(RtPool *pool, float *out, int64_t ldo, const float *x, const void *W, RtDtype dt,
                  const float *bias, int S, int N, int K)
{
    RtDtype base = dt & ~(RT_R16 | RT_XBF16);
    if (base >= RT_Q8_0 && base <= RT_Q6_K && base != RT_Q2_K && base != RT_Q3_K) {
        rt_qlinear(pool, out, ldo, x, W, dt, bias, S, N, K);
        return;
    }
    LinearArgs a = {.out = out, .x = x, .W = W, .dt = dt & ~RT_XBF16, .bias = bias, .S = S, .N = N, .K = K, .ldo = ldo,
                    .xbf16 = (dt & RT_XBF16) && (dt & ~RT_XBF16) == RT_BF16};
    int64_t work = (int64_t)S * N * K;
    if (S <= GEMV_MAX_S && (!a.xbf16 || (S == 1 && K <= XS_MAX)))  /* x in bf16: decode or GEMM */
        run(pool, gemv_task, &a, work);
    else
        run(pool, gemm_task, &a, work);
}

/* ---- RoPE ---- */

typedef struct {
    float *out;             /* [S, heads * head_dim] */
    const float *x;         /* [S, heads * head_dim] */
    const float *inv_freq;  /* [head_dim / 2] */
    int S, heads, head_dim, pos0;
} RopeArgs;

/* Rotates frequencies i0..i0+n of every head of one row (rotate-half
 * convention). The angle pos * inv_freq and its cos and sin are taken in
 * double: transformers rounds the angle to f32, which is off by up to 1e-5
 * rad at position 300, enough to move the logits by 1e-4 where activations
 * have outliers. */
static void rope_chunk(const RopeArgs *a, int64_t s, int i0, int n)
{
    float c[ROPE_CHUNK], sn[ROPE_CHUNK];
    double pos = (double)(a->pos0 + s);
    for (int i = 0; i < n; i++) {
        double angle = pos * a->inv_freq[i0 + i];
        c[i] = (float)cos(angle);
        sn[i] = (float)sin(angle);
    }
    int half = a->head_dim / 2;
    int64_t width = (int64_t)a->heads * a->head_dim;
    for (int h = 0; h < a->heads; h++) {
        const float *xh = a->x + s * width + h * a->head_dim + i0;
        float *oh = a->out + s * width + h * a->head_dim + i0;
        for (int i = 0; i < n; i++) {
            float lo = xh[i], hi = xh[i + half];
            oh[i] = lo * c[i] - hi * sn[i];
            oh[i + half] = hi * c[i] + lo * sn[i];
        }
    }
}

static void rope_task(void *p, int ith, int nth)
{
    const RopeArgs *a = p;
    int half = a->head_dim / 2;
    int64_t s0, s1;
    split(a->S, 1, ith, nth, &s0, &s1);
    for (int64_t s = s0; s < s1; s++)
        for (int i0 = 0; i0 < half; i0 += ROPE_CHUNK)
            rope_chunk(a, s, i0, half - i0 < ROPE_CHUNK ? half - i0 : ROPE_CHUNK);
}

void rt_rope(RtPool *pool, float *out, const float *x, const float *inv_freq, int S, int heads,
             int head_dim, int pos0)
{
    RopeArgs a = {.out = out, .x = x, .inv_freq = inv_freq, .S = S, .heads = heads,
                  .head_dim = head_dim, .pos0 = pos0};
    run(pool, rope_task, &a, (int64_t)S * heads * head_dim);
}

/* ---- attention ---- */

typedef struct {
    float *out;             /* [S, heads * head_dim] */
    const float *q;         /* [S, heads * head_dim] */
    const float *kc, *vc;   /* [ctx, kv_heads * head_dim], rows 0..pos0+S-1 filled */
    float *scratch;         /* [nth, ctx] */
    int S, pos0, heads, kv_heads, head_dim, window, ctx;
    float scale;
} AttnArgs;

static float dot(const float *a, const float *b, int64_t n)
{
    v16f acc = {0};
    int64_t i = 0;
    for (; i + VL <= n; i += VL)
        acc += load_f32(a + i) * load_f32(b + i);
    float s = hsum(acc);
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* y += alpha * x */
static void axpy(float *y, float alpha, const float *x, int64_t n)
{
    int64_t i = 0;
    for (; i + VL <= n; i += VL)
        store_f32(y + i, load_f32(y + i) + alpha * load_f32(x + i));
    for (; i < n; i++)
        y[i] += alpha * x[i];
}

/* p[i] = exp(p[i] - max) in place; returns their sum. */
static float softmax_exp(float *p, int64_t n, float max)
{
    v16f acc = {0};
    int64_t i = 0;
    for (; i + VL <= n; i += VL) {
        v16f e = vexp(load_f32(p + i) - max);
        store_f32(p + i, e);
        acc += e;
    }
    if (i < n) {
        v16f e = vexp(load_part(p + i, n - i) - max);
        memcpy(p + i, &e, (size_t)(n - i) * sizeof(float));
        for (int64_t l = 0; l < n - i; l++)
            acc[l] += e[l];
    }
    return hsum(acc);
}

static float array_max(const float *p, int64_t n)
{
    v16f m = splat(-INFINITY);
    int64_t i = 0;
    for (; i + VL <= n; i += VL)
        m = vmax(m, load_f32(p + i));
    float max = -INFINITY;
    for (int l = 0; l < VL; l++)
        max = m[l] > max ? m[l] : max;
    for (; i < n; i++)
        max = p[i] > max ? p[i] : max;
    return max;
}

/* The keys query row s attends to: lo..pos (causal; window > 0: the last
 * 'window'). */
static void key_range(const AttnArgs *a, int64_t s, int64_t *lo, int64_t *pos)
{
    *pos = a->pos0 + s;
    *lo = a->window > 0 && *pos - a->window + 1 > 0 ? *pos - a->window + 1 : 0;
}

/* Query row s, head h, any head_dim: softmax(q . k_j * scale) times v. */
static void attend_any(const AttnArgs *a, int64_t s, int h, float *sc)
{
    int64_t hd = a->head_dim, kvw = (int64_t)a->kv_heads * hd, lo, pos;
    key_range(a, s, &lo, &pos);
    int64_t koff = (int64_t)(h / (a->heads / a->kv_heads)) * hd;
    const float *qh = a->q + (s * a->heads + h) * hd;
    for (int64_t j = lo; j <= pos; j++)
        sc[j - lo] = dot(qh, a->kc + j * kvw + koff, hd) * a->scale;
    int64_t n = pos - lo + 1;
    float inv = 1.0f / softmax_exp(sc, n, array_max(sc, n));
    float *oh = a->out + (s * a->heads + h) * hd;
    memset(oh, 0, (size_t)hd * sizeof(float));
    for (int64_t j = lo; j <= pos; j++)
        axpy(oh, sc[j - lo] * inv, a->vc + j * kvw + koff, hd);
}

/* The same for head_dim == NV * VL (NV <= 8, a constant once inlined): q
 * and the output stay in registers, and two accumulator sets (even and odd
 * keys) halve the dependency chain of the weighted sum of v. */
ALWAYS_INLINE void attend_nv(const AttnArgs *a, int64_t s, int h, float *sc, int NV)
{
    int64_t kvw = (int64_t)a->kv_heads * NV * VL, lo, pos;
    key_range(a, s, &lo, &pos);
    int64_t koff = (int64_t)(h / (a->heads / a->kv_heads)) * NV * VL;
    const float *qh = a->q + (s * a->heads + h) * NV * VL;
    const float *kc = a->kc + koff, *vc = a->vc + koff;
    v16f qv[8], o0[8], o1[8];
    for (int v = 0; v < NV; v++)
        qv[v] = load_f32(qh + v * VL) * a->scale;
    for (int64_t j = lo; j <= pos; j++) {
        v16f acc = qv[0] * load_f32(kc + j * kvw);
        for (int v = 1; v < NV; v++)
            acc += qv[v] * load_f32(kc + j * kvw + v * VL);
        sc[j - lo] = hsum(acc);
    }
    int64_t n = pos - lo + 1;
    float inv = 1.0f / softmax_exp(sc, n, array_max(sc, n));
    for (int v = 0; v < NV; v++)
        o0[v] = o1[v] = splat(0.0f);
    int64_t j = lo;
    for (; j < pos; j += 2) {
        for (int v = 0; v < NV; v++) {
            o0[v] += sc[j - lo] * load_f32(vc + j * kvw + v * VL);
            o1[v] += sc[j + 1 - lo] * load_f32(vc + (j + 1) * kvw + v * VL);
        }
    }
    if (j == pos)
        for (int v = 0; v < NV; v++)
            o0[v] += sc[j - lo] * load_f32(vc + j * kvw + v * VL);
    float *oh = a->out + (s * a->heads + h) * NV * VL;
    for (int v = 0; v < NV; v++)
        store_f32(oh + v * VL, (o0[v] + o1[v]) * inv);
}

/* Query row s, head h: softmax(q . k_j * scale) over keys lo..pos, times v. */
static void attend(const AttnArgs *a, int64_t s, int h, float *sc)
{
    switch (a->head_dim) {
    case 16: attend_nv(a, s, h, sc, 1); break;
    case 32: attend_nv(a, s, h, sc, 2); break;
    case 48: attend_nv(a, s, h, sc, 3); break;
    case 64: attend_nv(a, s, h, sc, 4); break;
    case 80: attend_nv(a, s, h, sc, 5); break;
    case 96: attend_nv(a, s, h, sc, 6); break;
    case 112: attend_nv(a, s, h, sc, 7); break;
    case 128: attend_nv(a, s, h, sc, 8); break;
    default: attend_any(a, s, h, sc); break;
    }
}

static void attn_task(void *p, int ith, int nth)
{
    const AttnArgs *a = p;
    float *sc = a->scratch + (int64_t)ith * a->ctx;
    int64_t t0, t1;
    split((int64_t)a->S * a->heads, 1, ith, nth, &t0, &t1);
    for (int64_t t = t0; t < t1; t++)
        attend(a, t / a->heads, (int)(t % a->heads), sc);
}

void rt_attention(RtPool *pool, float *out, const float *q, const float *k, const float *v,
                  float *kc, float *vc, int S, int pos0, int heads, int kv_heads, int head_dim,
                  float scale, int window, int ctx, float *scratch)
{
    size_t kvw = (size_t)kv_heads * head_dim;
    memcpy(kc + (size_t)pos0 * kvw, k, (size_t)S * kvw * sizeof(float));
    memcpy(vc + (size_t)pos0 * kvw, v, (size_t)S * kvw * sizeof(float));
    AttnArgs a = {.out = out, .q = q, .kc = kc, .vc = vc, .scratch = scratch, .S = S,
                  .pos0 = pos0, .heads = heads, .kv_heads = kv_heads, .head_dim = head_dim,
                  .window = window, .ctx = ctx, .scale = scale};
    int64_t keys = window > 0 && window < pos0 + S ? window : pos0 + S;
    run(pool, attn_task, &a, (int64_t)S * heads * head_dim * keys);
}

/* ---- elementwise ---- */

typedef enum { ELT_SILU, ELT_MUL, ELT_SWIGLU, ELT_ADD } EltOp;

typedef struct {
    EltOp op;
    float *out;             /* [n] */
    const float *a, *b;     /* [n]; b unused by silu */
    int64_t n;
} EltArgs;

static inline v16f silu_v(v16f x)
{
    return x / (1.0f + vexp(-x));
}

ALWAYS_INLINE v16f elt_op(EltOp op, v16f a, v16f b)
{
    switch (op) {
    case ELT_SILU: return silu_v(a);
    case ELT_MUL: return a * b;
    case ELT_SWIGLU: return silu_v(a) * b;
    default: return a + b;
    }
}

/* out[i0..i1) = op(a, b); the tail goes through zero-padded vectors. */
ALWAYS_INLINE void elt_range(const EltArgs *e, int64_t i, int64_t i1, EltOp op)
{
    const float *b = op == ELT_SILU ? e->a : e->b;
    for (; i + VL <= i1; i += VL)
        store_f32(e->out + i, elt_op(op, load_f32(e->a + i), load_f32(b + i)));
    if (i < i1) {
        v16f r = elt_op(op, load_part(e->a + i, i1 - i), load_part(b + i, i1 - i));
        memcpy(e->out + i, &r, (size_t)(i1 - i) * sizeof(float));
    }
}

static void elt_task(void *p, int ith, int nth)
{
    const EltArgs *e = p;
    int64_t i0, i1;
    split(e->n, VL, ith, nth, &i0, &i1);
    switch (e->op) {
    case ELT_SILU: elt_range(e, i0, i1, ELT_SILU); break;
    case ELT_MUL: elt_range(e, i0, i1, ELT_MUL); break;
    case ELT_SWIGLU: elt_range(e, i0, i1, ELT_SWIGLU); break;
    case ELT_ADD: elt_range(e, i0, i1, ELT_ADD); break;
    }
}

static void elementwise(RtPool *pool, EltOp op, float *out, const float *a, const float *b,
                        int64_t n)
{
    EltArgs e = {.op = op, .out = out, .a = a, .b = b, .n = n};
    run(pool, elt_task, &e, n);
}

void rt_silu(RtPool *pool, float *out, const float *x, int64_t n)
{
    elementwise(pool, ELT_SILU, out, x, NULL, n);
}

void rt_mul(RtPool *pool, float *out, const float *a, const float *b, int64_t n)
{
    elementwise(pool, ELT_MUL, out, a, b, n);
}

void rt_swiglu(RtPool *pool, float *out, const float *gate, const float *up, int64_t n)
{
    elementwise(pool, ELT_SWIGLU, out, gate, up, n);
}

void rt_add(RtPool *pool, float *out, const float *a, const float *b, int64_t n)
{
    elementwise(pool, ELT_ADD, out, a, b, n);
}

typedef struct {
    float *out;
    const float *x, *W;
    const int32_t *chans;
    int H, S, N, K;
    float scale;
} ShadowTask;

/* Rows of outputs split across threads; per row, only the channels that
 * were clipped contribute (most rows have none or a few). */
static void shadow_task(void *arg, int ith, int nth)
{
    const ShadowTask *t = arg;
    int n0 = (int)((int64_t)t->N * ith / nth), n1 = (int)((int64_t)t->N * (ith + 1) / nth);
    float edge = 127.0f * t->scale;
    for (int s = 0; s < t->S; s++) {
        float e[256];
        int jj[256], nz = 0;
        float *o = t->out + (size_t)s * t->N;
        for (int n = n0; n < n1; n++) o[n] = 0.0f;
        for (int j0 = 0; j0 < t->H; j0 += 256) {
            nz = 0;
            for (int j = j0; j < t->H && j < j0 + 256; j++) {
                float v = t->x[(size_t)s * t->K + t->chans[j]], q = v / t->scale;
                if (q > 127.0f) e[nz] = v - edge, jj[nz++] = j;
                else if (q < -127.0f) e[nz] = v + edge, jj[nz++] = j;
            }
            for (int n = n0; nz && n < n1; n++) {
                const float *w = t->W + (size_t)n * t->H;
                float acc = o[n];
                for (int z = 0; z < nz; z++) acc += e[z] * w[jj[z]];
                o[n] = acc;
            }
        }
    }
}

void rt_shadow(RtPool *pool, float *out, const float *x, const float *W, const int32_t *chans, int H, float scale,
               int S, int N, int K)
{
    ShadowTask t = {out, x, W, chans, H, S, N, K, scale};
    rt_pool_run(pool, shadow_task, &t);
}

const char *rt_kernels_isa(void)
{
#if defined(__AVX512F__)
    return bf16_pairs() ? "avx512 (GCC vectors); bf16 x bf16 dot products: avx512bf16"
                        : "avx512 (GCC vectors); bf16 x bf16 dot products: f32 on rounded x";
#elif defined(__AVX2__)
    return "avx2 (GCC vectors)";
#elif defined(__ARM_NEON)
    return "neon (GCC vectors)";
#elif defined(__SSE2__)
    return "sse2 (GCC vectors)";
#else
    return "generic C (GCC vectors)";
#endif
}
