/* rt_npu_emu.c: "npu-emu", the CPU emulator of an NPU behind rt_npu.h.
 *
 * build() checks a graph description, repacks every QLINEAR's weights into
 * panels padded with zeros to the tile (and to the kernels' widths), and
 * allocates every buffer execute() needs; execute() runs the ops in order
 * on the emulator's own pool of threads with the numerics of rt_npu.h.
 *
 * The int8 GEMM has four instruction paths, chosen at open (the best the
 * CPU has, or HETC_NPU_ISA=sdot|vnni|avx2|scalar), all exact in int32 and
 * so bit-identical:
 *   vnni    AVX-512 VNNI: vpdpbusd multiplies unsigned by signed bytes, so
 *           activations are packed as x + 128 and the accumulators start
 *           at -128 x the column sums of the weights (computed at build).
 *   avx2    vpmaddubsw of |x| (unsigned) by w with the sign of x applied
 *           (vpsignb): a pair of products is at most 2 x 128 x 127, below
 *           the int16 saturation (weights are never -128); vpmaddwd by
 *           ones widens to int32.
 *   sdot    aarch64's SDOT (Armv8.2 dot product; Armv8.4 makes it
 *           mandatory): four signed bytes of x by four of w into each
 *           int32 lane, as the panels hold them; no offsets needed.
 *   scalar  plain C, the reference, and the path of other CPUs.
 * One x86-64 build carries vnni, avx2 and scalar (target attributes and
 * __builtin_cpu_supports), one aarch64 build sdot and scalar (the target
 * attribute armv8.2-a+dotprod and rt_cpu_dotprod). QUANT has
 * the x86 paths too; the float ops are plain C, which the compiler may
 * vectorise as the results stay the same (no contraction, see the pragmas;
 * the RMSNORM sum stays in order).
 *
 * Layouts. Weights: panels of PANEL columns (the last one narrower, a
 * multiple of 16), each [kpad / 4][width][4] bytes: the 4 consecutive k of
 * one column are adjacent, as vpdpbusd and vpmaddubsw want them. Activations
 * of the current QLINEAR: [rows_pad][kpad] (vnni: x + 128; avx2: x, then
 * |x| in a second plane; scalar: x), pad rows and columns zero.
 *
 * GEMM. Work items are (group of rows, panel): groups small enough for
 * their activations to stay in L2 (and enough items for every thread);
 * thread i takes items i, i + nth, ... Per item, k is cut into blocks of
 * KC_GROUPS k-groups (the block of the panel stays in L1; the next one is
 * prefetched into L2) and a register tile of up to VNNI_MR rows
 * x VNNI_NR zmm (AVX2_MR rows x 2 ymm on avx2, SDOT_MR rows x 4 q
 * registers of a 16-column sub-panel on sdot) walks the rows; between k
 * blocks the int32 tile waits in a per-thread buffer. Pad rows are
 * computed like real ones (an NPU pays for them too) but only real rows
 * and columns are stored into the caller's output. */
#include "rt_npu.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#elif defined(__aarch64__)
#include <arm_neon.h>
#endif

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#define ALWAYS_INLINE static inline __attribute__((always_inline))

enum {
    PANEL = 64,                 /* weight columns per packed panel */
    VNNI_MR = 6,                /* register tile: rows x zmm of 16 columns */
    VNNI_NR = PANEL / 16,
    AVX2_MR = 4,                /* register tile: rows x 2 ymm (16 columns) */
    SDOT_MR = 4,                /* register tile: rows x 4 q registers (16 columns) */
    KC_GROUPS = 128,            /* k-groups (of 4) per k block */
    ACT_L2_BYTES = 768 << 10,   /* activations of one group of rows, kept in L2 */
    PAR_MIN_WORK = 1 << 14,     /* elements below which an op stays on one thread */
    NAME_LEN = 80,
};

typedef enum { ISA_SCALAR, ISA_AVX2, ISA_VNNI, ISA_SDOT, ISA_COUNT } EmuIsa;   /* the best last */

static const char *const isa_names[ISA_COUNT] = {"scalar", "avx2", "vnni", "sdot"};

/* A QLINEAR's packed weights, shared by every graph of the RtNpu built
 * from the same int8 tensor (the chunk plans of one model all run the same
 * linears): packed once, freed with the last graph using them. */
typedef struct Packed {
    const int8_t *src;          /* the description's w8 */
    const float *src_bias;      /* and wf (bias) */
    int64_t n, k, npad, kpad;
    unsigned char *mem;         /* panels, then vnni column sums, then bias */
    int refs;
    struct Packed *next;
} Packed;

struct RtNpu {
    RtPool *pool;
    int nth;
    EmuIsa isa;
    double busy;                /* seconds inside execute */
    Packed *packed;             /* weights packed so far */
};

/* One op as the emulator runs it. */
typedef struct {
    RtNpuOpKind kind;
    int in0, in1, out;
    int64_t n, k;               /* real sizes (k: columns for non-QLINEAR ops) */
    int64_t npad, kpad;         /* QLINEAR: n, k padded to the tile, then to 16 and 4 */
    float scale;
    bool has_bias;              /* QLINEAR */
    const int8_t *w;            /* QLINEAR: packed panels */
    const int32_t *init;        /* QLINEAR on vnni: -128 x column sums [npad] */
    const float *bias;          /* QLINEAR: bias [npad] (zero past n), NULL: none */
    const float *norm;          /* RMSNORM: weight [k] */
    Packed *packed;             /* QLINEAR: where w, init and bias live */
    char name[NAME_LEN];
} EmuOp;

struct RtNpuGraph {
    RtNpu *npu;
    char name[NAME_LEN];
    int rows, rows_pad;
    int ntensors, nops;
    RtNpuTensor *tensors;
    EmuOp *ops;
    unsigned char *weights;     /* packed weights, column sums, biases, norm weights */
    uint8_t *act;               /* activations of the current QLINEAR (one or two planes) */
    int32_t *acc;               /* per-thread int32 tiles between k blocks [nth][rows_pad][PANEL] */
    RtNpuMemory mem;
};

/* ---- small helpers ---- */

static inline int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static inline int64_t round_up(int64_t x, int64_t m)
{
    return (x + m - 1) / m * m;
}

/* Thread ith's share [*lo, *hi) of n items, cut at multiples of 'unit'. */
static void split(int64_t n, int64_t unit, int ith, int nth, int64_t *lo, int64_t *hi)
{
    int64_t units = (n + unit - 1) / unit;
    *lo = min64(n, units * ith / nth * unit);
    *hi = min64(n, units * (ith + 1) / nth * unit);
}

static void run(RtNpu *npu, RtTaskFn fn, void *arg, int64_t work)
{
    if (work < PAR_MIN_WORK)
        fn(arg, 0, 1);
    else
        rt_pool_run(npu->pool, fn, arg);
}

static const char *kind_name(RtNpuOpKind k)
{
    static const char *const names[RT_NPU_OP_COUNT] = {"quant", "qlinear", "rmsnorm", "add",
                                                       "mul", "silu", "swiglu"};
    return (unsigned)k < RT_NPU_OP_COUNT ? names[k] : "?";
}


/* ---- QUANT ---- */

static inline int8_t quant_one(float x, float scale)
{
    float v = x / scale;
    return v != v ? 0 : v >= 127.0f ? 127 : v <= -127.0f ? -127 : (int8_t)nearbyintf(v);
}

static void quant_scalar(int8_t *out, const float *x, int64_t n, float scale)
{
    for (int64_t i = 0; i < n; i++)
        out[i] = quant_one(x[i], scale);
}

#if defined(__x86_64__)
#define VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vnni")))
#define AVX2_TARGET __attribute__((target("avx2")))

/* Rounding to nearest even, then clamping to [-127, 127], equals the
 * scalar order (clamp, then round) as +-127 are integers; nan -> 0. */
VNNI_TARGET static void quant_vnni(int8_t *out, const float *x, int64_t n, float scale)
{
    const __m512 s = _mm512_set1_ps(scale), lo = _mm512_set1_ps(-127.0f),
                 hi = _mm512_set1_ps(127.0f);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_div_ps(_mm512_loadu_ps(x + i), s);
        __mmask16 ord = _mm512_cmp_ps_mask(v, v, _CMP_ORD_Q);
        __m512 r = _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        r = _mm512_min_ps(_mm512_max_ps(r, lo), hi);
        __m512i q = _mm512_maskz_cvtps_epi32(ord, r);
        _mm_storeu_si128((__m128i *)(out + i), _mm512_cvtsepi32_epi8(q));
    }
    quant_scalar(out + i, x + i, n - i, scale);
}

AVX2_TARGET static __m256i quant8_avx2(const float *x, __m256 s)
{
    __m256 v = _mm256_div_ps(_mm256_loadu_ps(x), s);
    __m256 ord = _mm256_cmp_ps(v, v, _CMP_ORD_Q);
    __m256 r = _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    r = _mm256_min_ps(_mm256_max_ps(r, _mm256_set1_ps(-127.0f)), _mm256_set1_ps(127.0f));
    return _mm256_cvtps_epi32(_mm256_and_ps(r, ord));
}

AVX2_TARGET static void quant_avx2(int8_t *out, const float *x, int64_t n, float scale)
{
    const __m256 s = _mm256_set1_ps(scale);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i a = _mm256_packs_epi32(quant8_avx2(x + i, s), quant8_avx2(x + i + 8, s));
        __m256i b = _mm256_packs_epi32(quant8_avx2(x + i + 16, s), quant8_avx2(x + i + 24, s));
        __m256i q = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(a, b), order);
        _mm256_storeu_si256((__m256i *)(out + i), q);
    }
    quant_scalar(out + i, x + i, n - i, scale);
}
#endif

/* ---- QLINEAR: the register tiles ---- */

/* One register tile over one k block. */
typedef struct {
    const uint8_t *a;           /* activations of the tile's first row at the block's first k */
    int64_t lda;                /* bytes between rows of a */
    int64_t abs_plane;          /* avx2: bytes from x to |x| */
    const int8_t *b;            /* the panel at the block's first k-group */
    int64_t ldb;                /* bytes between k-groups of b (4 x the panel's width) */
    const int8_t *pf;           /* weights to prefetch into L2 alongside b, NULL: none */
    int64_t nkg;                /* k-groups in the block */
    int32_t *c;                 /* int32 tile kept between k blocks, rows PANEL apart */
    bool first, last;           /* first, last k block */
    const int32_t *init;        /* vnni: accumulators' start at the tile's first column */
    float *out;                 /* caller's output at the tile's first row and column */
    int64_t ldo;                /* floats between rows of out */
    int rows;                   /* rows to store (pad rows are not) */
    int64_t cols;               /* columns to store */
    const float *bias;          /* at the tile's first column, NULL: none */
    float scale;
} Tile;

#if defined(__x86_64__)
/* The k loop of vnni_tile; 'prefetch' (a constant) adds the prefetches. */
VNNI_TARGET ALWAYS_INLINE void vnni_loop(__m512i acc[VNNI_MR][VNNI_NR], const Tile *t, const int mr,
                                         const int nr, const bool prefetch)
{
    const uint8_t *a = t->a;
    const int8_t *b = t->b;
    const int64_t lda = t->lda, ldb = t->ldb, pf = prefetch ? t->pf - t->b : 0;
    for (int64_t g = t->nkg; g > 0; g--, a += 4, b += ldb) {
        __m512i w[VNNI_NR];
#pragma GCC unroll 8
        for (int q = 0; q < nr; q++) {
            if (prefetch)
                _mm_prefetch((const char *)(b + pf + 64 * q), _MM_HINT_T1);
            w[q] = _mm512_loadu_si512(b + 64 * q);
        }
#pragma GCC unroll 8
        for (int r = 0; r < mr; r++) {
            int32_t xv;
            memcpy(&xv, a + r * lda, sizeof xv);
            __m512i x = _mm512_set1_epi32(xv);
#pragma GCC unroll 8
            for (int q = 0; q < nr; q++)
                acc[r][q] = _mm512_dpbusd_epi32(acc[r][q], x, w[q]);
        }
    }
}

VNNI_TARGET ALWAYS_INLINE void vnni_tile(const Tile *t, const int mr, const int nr)
{
    __m512i acc[VNNI_MR][VNNI_NR];
#pragma GCC unroll 8
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 8
        for (int q = 0; q < nr; q++)
            acc[r][q] = _mm512_loadu_si512(t->first ? (const void *)(t->init + 16 * q)
                                                    : (const void *)(t->c + r * PANEL + 16 * q));
    if (t->pf)
        vnni_loop(acc, t, mr, nr, true);
    else
        vnni_loop(acc, t, mr, nr, false);
    if (!t->last) {
#pragma GCC unroll 8
        for (int r = 0; r < mr; r++)
#pragma GCC unroll 8
            for (int q = 0; q < nr; q++)
                _mm512_storeu_si512(t->c + r * PANEL + 16 * q, acc[r][q]);
        return;
    }
    const __m512 s = _mm512_set1_ps(t->scale);
#pragma GCC unroll 8
    for (int r = 0; r < mr; r++) {
        if (r >= t->rows)
            break;
#pragma GCC unroll 8
        for (int q = 0; q < nr; q++) {
            int64_t left = t->cols - 16 * q;
            if (left <= 0)
                break;
            __m512 y = _mm512_mul_ps(_mm512_cvtepi32_ps(acc[r][q]), s);
            if (t->bias)
                y = _mm512_add_ps(y, _mm512_loadu_ps(t->bias + 16 * q));
            __mmask16 m = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
            _mm512_mask_storeu_ps(t->out + r * t->ldo + 16 * q, m, y);
        }
    }
}

#define VNNI_KERNEL(MR, NR) \
    VNNI_TARGET static void vnni_##MR##_##NR(const Tile *t) { vnni_tile(t, MR, NR); }
#define VNNI_KERNELS(MR) VNNI_KERNEL(MR, 1) VNNI_KERNEL(MR, 2) VNNI_KERNEL(MR, 3) VNNI_KERNEL(MR, 4)
VNNI_KERNELS(1) VNNI_KERNELS(2) VNNI_KERNELS(3) VNNI_KERNELS(4) VNNI_KERNELS(5) VNNI_KERNELS(6)
#define VNNI_ROW(MR) {vnni_##MR##_1, vnni_##MR##_2, vnni_##MR##_3, vnni_##MR##_4}

/* [rows - 1][zmm - 1] */
static void (*const vnni_kernels[VNNI_MR][VNNI_NR])(const Tile *) = {
    VNNI_ROW(1), VNNI_ROW(2), VNNI_ROW(3), VNNI_ROW(4), VNNI_ROW(5), VNNI_ROW(6),
};

/* A 16-column sub-panel: mr rows x 2 ymm. */
AVX2_TARGET ALWAYS_INLINE void avx2_tile(const Tile *t, const int mr)
{
    __m256i acc[AVX2_MR][2];
#pragma GCC unroll 8
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 8
        for (int q = 0; q < 2; q++)
            acc[r][q] = t->first ? _mm256_setzero_si256()
                                 : _mm256_loadu_si256((const __m256i *)(t->c + r * PANEL + 8 * q));
    const __m256i ones = _mm256_set1_epi16(1);
    const uint8_t *a = t->a;
    const int8_t *b = t->b;
    const int64_t lda = t->lda, ldb = t->ldb, plane = t->abs_plane;
    const int64_t pf = t->pf ? t->pf - t->b : 0;
    for (int64_t g = t->nkg; g > 0; g--, a += 4, b += ldb) {
        if (pf)
            _mm_prefetch((const char *)(b + pf), _MM_HINT_T1);
        __m256i w0 = _mm256_loadu_si256((const __m256i *)b);
        __m256i w1 = _mm256_loadu_si256((const __m256i *)(b + 32));
#pragma GCC unroll 8
        for (int r = 0; r < mr; r++) {
            int32_t xs, xa;
            memcpy(&xs, a + r * lda, sizeof xs);
            memcpy(&xa, a + r * lda + plane, sizeof xa);
            __m256i sx = _mm256_set1_epi32(xs), ax = _mm256_set1_epi32(xa);
            __m256i p0 = _mm256_maddubs_epi16(ax, _mm256_sign_epi8(w0, sx));
            __m256i p1 = _mm256_maddubs_epi16(ax, _mm256_sign_epi8(w1, sx));
            acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(p0, ones));
            acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(p1, ones));
        }
    }
    if (!t->last) {
#pragma GCC unroll 8
        for (int r = 0; r < mr; r++)
#pragma GCC unroll 8
            for (int q = 0; q < 2; q++)
                _mm256_storeu_si256((__m256i *)(t->c + r * PANEL + 8 * q), acc[r][q]);
        return;
    }
    const __m256 s = _mm256_set1_ps(t->scale);
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
#pragma GCC unroll 8
    for (int r = 0; r < mr; r++) {
        if (r >= t->rows)
            break;
#pragma GCC unroll 8
        for (int q = 0; q < 2; q++) {
            int64_t left = t->cols - 8 * q;
            if (left <= 0)
                break;
            __m256 y = _mm256_mul_ps(_mm256_cvtepi32_ps(acc[r][q]), s);
            if (t->bias)
                y = _mm256_add_ps(y, _mm256_loadu_ps(t->bias + 8 * q));
            __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)min64(left, 8)), lane);
            _mm256_maskstore_ps(t->out + r * t->ldo + 8 * q, m, y);
        }
    }
}

#define AVX2_KERNEL(MR) \
    AVX2_TARGET static void avx2_##MR(const Tile *t) { avx2_tile(t, MR); }
AVX2_KERNEL(1) AVX2_KERNEL(2) AVX2_KERNEL(3) AVX2_KERNEL(4)

static void (*const avx2_kernels[AVX2_MR])(const Tile *) = {avx2_1, avx2_2, avx2_3, avx2_4};
#endif

#if defined(__aarch64__)
#define SDOT_TARGET __attribute__((target("arch=armv8.2-a+dotprod")))

/* A 16-column sub-panel: mr rows x 4 q registers of 4 int32 columns; each
 * k-group is one 16-byte load of the panel per 4 columns and one SDOT per
 * row and register. */
SDOT_TARGET ALWAYS_INLINE void sdot_tile(const Tile *t, const int mr)
{
    int32x4_t acc[SDOT_MR][4];
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
        for (int q = 0; q < 4; q++)
            acc[r][q] = t->first ? vdupq_n_s32(0) : vld1q_s32(t->c + r * PANEL + 4 * q);
    const int8_t *a = (const int8_t *)t->a, *b = t->b;
    for (int64_t g = t->nkg; g > 0; g--, a += 4, b += t->ldb) {
        int8x16_t w[4];
#pragma GCC unroll 4
        for (int q = 0; q < 4; q++)
            w[q] = vld1q_s8(b + 16 * q);
#pragma GCC unroll 4
        for (int r = 0; r < mr; r++) {
            int32_t xv;
            memcpy(&xv, a + r * t->lda, sizeof xv);
            int8x16_t x = vreinterpretq_s8_s32(vdupq_n_s32(xv));
#pragma GCC unroll 4
            for (int q = 0; q < 4; q++)
                acc[r][q] = vdotq_s32(acc[r][q], x, w[q]);
        }
    }
    if (!t->last) {
#pragma GCC unroll 4
        for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
            for (int q = 0; q < 4; q++)
                vst1q_s32(t->c + r * PANEL + 4 * q, acc[r][q]);
        return;
    }
    const float32x4_t s = vdupq_n_f32(t->scale);
    for (int r = 0; r < mr && r < t->rows; r++) {
        for (int q = 0; q < 4 && 4 * q < t->cols; q++) {
            float32x4_t y = vmulq_f32(vcvtq_f32_s32(acc[r][q]), s);
            if (t->bias)
                y = vaddq_f32(y, vld1q_f32(t->bias + 4 * q));
            float *o = t->out + r * t->ldo + 4 * q;
            if (t->cols - 4 * q >= 4) {
                vst1q_f32(o, y);
            } else {
                float v[4];
                vst1q_f32(v, y);
                memcpy(o, v, (size_t)(t->cols - 4 * q) * sizeof *o);
            }
        }
    }
}

#define SDOT_KERNEL(MR) \
    SDOT_TARGET static void sdot_##MR(const Tile *t) { sdot_tile(t, MR); }
SDOT_KERNEL(1) SDOT_KERNEL(2) SDOT_KERNEL(3) SDOT_KERNEL(4)

static void (*const sdot_kernels[SDOT_MR])(const Tile *) = {sdot_1, sdot_2, sdot_3, sdot_4};
#endif

/* The scalar tile: one row at a time over the whole width and k. */
static void scalar_tile(const Tile *t, int mr, int64_t width)
{
    for (int r = 0; r < mr; r++) {
        int32_t acc[PANEL] = {0};
        const int8_t *x = (const int8_t *)t->a + r * t->lda;
        const int8_t *b = t->b;
        for (int64_t g = 0; g < t->nkg; g++, x += 4, b += t->ldb)
            for (int64_t j = 0; j < width; j++)
                for (int q = 0; q < 4; q++)
                    acc[j] += x[q] * b[4 * j + q];
        if (r >= t->rows)
            continue;
        for (int64_t j = 0; j < t->cols; j++) {
            float y = (float)acc[j] * t->scale;
            if (t->bias)
                y = y + t->bias[j];
            t->out[r * t->ldo + j] = y;
        }
    }
}

/* ---- QLINEAR: work items ---- */

typedef struct {
    const RtNpuGraph *g;
    const EmuOp *op;
    const int8_t *x;            /* caller's input [rows, k] */
    float *out;                 /* caller's output [rows, n], rows ldo floats apart */
    int64_t ldo;
    int64_t npanels;
    int64_t ngroups;            /* groups of rows (items: ngroups x npanels, group-major) */
} LinearJob;

static int path_rows(EmuIsa isa)
{
    return isa == ISA_VNNI ? VNNI_MR : isa == ISA_AVX2 ? AVX2_MR : isa == ISA_SDOT ? SDOT_MR : 1;
}

/* Rows [r0, r1) of panel p; c: this thread's int32 tile buffer; next:
 * the panel of the thread's next item (-1: none). The rows are cut into
 * tiles of equal height (within one), at most the path's. The first tile
 * of each k block prefetches the next block's weights (after the last
 * block, those of the next panel). */
static void linear_item(const LinearJob *j, int64_t p, int64_t r0, int64_t r1, int32_t *c,
                        int64_t next)
{
    const EmuOp *op = j->op;
    const RtNpuGraph *g = j->g;
    EmuIsa isa = g->npu->isa;
    int64_t j0 = p * PANEL, width = min64(PANEL, op->npad - j0);
    int64_t kgroups = op->kpad / 4;
    int64_t kc = isa == ISA_SCALAR ? kgroups : KC_GROUPS;
    int64_t ntiles = (r1 - r0 + path_rows(isa) - 1) / path_rows(isa);
    const int8_t *panel = op->w + j0 * op->kpad, *end = op->w + op->npad * op->kpad;
    for (int64_t g0 = 0; g0 < kgroups; g0 += kc) {
        int64_t nkg = min64(kc, kgroups - g0);
        const int8_t *b = panel + g0 * 4 * width;
        const int8_t *pf = g0 + nkg < kgroups ? b + nkg * 4 * width
                           : next >= 0        ? op->w + next * PANEL * op->kpad
                                              : NULL;
        if (pf && end - pf < nkg * 4 * width)
            pf = NULL;
        for (int64_t i = 0; i < ntiles; i++) {
            int64_t r = r0 + (r1 - r0) * i / ntiles;
            int mr = (int)(r0 + (r1 - r0) * (i + 1) / ntiles - r);
            int store = (int)(r < g->rows ? min64(mr, g->rows - r) : 0);
            Tile t = {
                .a = g->act + r * op->kpad + 4 * g0,
                .lda = op->kpad,
                .abs_plane = (int64_t)g->rows_pad * op->kpad,
                .b = b,
                .ldb = 4 * width,
                .pf = i == 0 ? pf : NULL,
                .nkg = nkg,
                .c = c ? c + (r - r0) * PANEL : NULL,
                .first = g0 == 0,
                .last = g0 + nkg == kgroups,
                .init = op->init ? op->init + j0 : NULL,
                .out = store ? j->out + r * j->ldo + j0 : NULL,
                .ldo = j->ldo,
                .rows = store,
                .cols = min64(width, op->n - j0),
                .bias = op->bias ? op->bias + j0 : NULL,
                .scale = op->scale,
            };
            switch (isa) {
#if defined(__x86_64__)
            case ISA_VNNI:
                vnni_kernels[mr - 1][width / 16 - 1](&t);
                break;
            case ISA_AVX2:
                for (int64_t s = 0; s < width; s += 16) {
                    Tile u = t;
                    u.b = t.b + 4 * s;
                    u.pf = t.pf ? t.pf + 4 * s : NULL;
                    u.c = t.c ? t.c + s : NULL;
                    u.out = t.out ? t.out + s : NULL;
                    u.cols = min64(16, t.cols - s);
                    u.bias = t.bias ? t.bias + s : NULL;
                    avx2_kernels[mr - 1](&u);
                }
                break;
#elif defined(__aarch64__)
            case ISA_SDOT:
                for (int64_t s = 0; s < width; s += 16) {
                    Tile u = t;
                    u.b = t.b + 4 * s;
                    u.c = t.c ? t.c + s : NULL;
                    u.out = t.out ? t.out + s : NULL;
                    u.cols = min64(16, t.cols - s);
                    u.bias = t.bias ? t.bias + s : NULL;
                    sdot_kernels[mr - 1](&u);
                }
                break;
#endif
            default:
                scalar_tile(&t, mr, width);
                break;
            }
        }
    }
}

static void linear_task(void *arg, int ith, int nth)
{
    const LinearJob *j = arg;
    int64_t items = j->npanels * j->ngroups, rows = j->g->rows_pad;
    int32_t *c = j->g->acc ? j->g->acc + (int64_t)ith * rows * PANEL : NULL;
    for (int64_t it = ith; it < items; it += nth) {
        int64_t grp = it / j->npanels, p = it % j->npanels;
        int64_t next = it + nth < items ? (it + nth) % j->npanels : -1;
        linear_item(j, p, rows * grp / j->ngroups, rows * (grp + 1) / j->ngroups, c, next);
    }
}

/* Packs the caller's rows (and zero pad rows) into the activation planes. */
static void pack_task(void *arg, int ith, int nth)
{
    const LinearJob *j = arg;
    const RtNpuGraph *g = j->g;
    int64_t k = j->op->k, kpad = j->op->kpad, plane = (int64_t)g->rows_pad * kpad;
    EmuIsa isa = g->npu->isa;
    int64_t r0, r1;
    split(g->rows_pad, 1, ith, nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        uint8_t *dst = g->act + r * kpad;
        int64_t real = r < g->rows ? k : 0;
        const int8_t *x = real ? j->x + r * k : NULL;
        if (isa == ISA_VNNI) {
            for (int64_t i = 0; i < real; i++)
                dst[i] = (uint8_t)(x[i] ^ 0x80);
            memset(dst + real, 0x80, (size_t)(kpad - real));
            continue;
        }
        for (int64_t i = 0; i < real; i++)
            dst[i] = (uint8_t)x[i];
        memset(dst + real, 0, (size_t)(kpad - real));
        if (isa == ISA_AVX2) {
            for (int64_t i = 0; i < real; i++)
                dst[plane + i] = (uint8_t)(x[i] < 0 ? -x[i] : x[i]);
            memset(dst + plane + real, 0, (size_t)(kpad - real));
        }
    }
}

static void run_qlinear(RtNpuGraph *g, const EmuOp *op, const int8_t *x, float *out, int64_t ldo)
{
    int nth = g->npu->nth, mr = path_rows(g->npu->isa);
    int64_t npanels = (op->npad + PANEL - 1) / PANEL;
    int64_t act = (int64_t)g->rows_pad * op->kpad * (g->npu->isa == ISA_AVX2 ? 2 : 1);
    int64_t ngroups = (act + ACT_L2_BYTES - 1) / ACT_L2_BYTES;
    if (nth > 1 && npanels * ngroups < 4 * nth)     /* enough items for every thread */
        ngroups = (4 * nth + npanels - 1) / npanels;
    ngroups = min64(ngroups, (g->rows_pad + mr - 1) / mr);
    LinearJob j = {.g = g, .op = op, .x = x, .out = out, .ldo = ldo, .npanels = npanels, .ngroups = ngroups};
    run(g->npu, pack_task, &j, (int64_t)g->rows_pad * op->kpad);
    run(g->npu, linear_task, &j, (int64_t)g->rows_pad * op->npad * op->kpad);
}

/* ---- float ops ---- */

typedef struct {
    const EmuOp *op;
    float *out;
    const float *a, *b;
    const float *x;             /* QUANT input */
    int8_t *q;                  /* QUANT output */
    EmuIsa isa;
    int rows;
} FloatJob;

static void quant_task(void *arg, int ith, int nth)
{
    const FloatJob *j = arg;
    int64_t lo, hi;
    split((int64_t)j->rows * j->op->k, 64, ith, nth, &lo, &hi);
    switch (j->isa) {
#if defined(__x86_64__)
    case ISA_VNNI: quant_vnni(j->q + lo, j->x + lo, hi - lo, j->op->scale); break;
    case ISA_AVX2: quant_avx2(j->q + lo, j->x + lo, hi - lo, j->op->scale); break;
#endif
    default: quant_scalar(j->q + lo, j->x + lo, hi - lo, j->op->scale); break;
    }
}

/* RMSNORM of rows [r0, r1): four rows' sums run side by side (each in its
 * own order), which hides the latency of the double adds. */
static void rmsnorm_rows(const FloatJob *j, int64_t r0, int64_t r1)
{
    const int64_t k = j->op->k;
    const double eps = j->op->scale;
    for (int64_t r = r0; r < r1; r += 4) {
        int nr = (int)min64(4, r1 - r);
        double ss[4] = {0, 0, 0, 0};
        const float *x[4];
        for (int i = 0; i < 4; i++)
            x[i] = j->a + (r + (i < nr ? i : 0)) * k;
        for (int64_t c = 0; c < k; c++)
            for (int i = 0; i < 4; i++)
                ss[i] += (double)x[i][c] * x[i][c];
        for (int i = 0; i < nr; i++) {
            float inv = (float)(1.0 / sqrt(ss[i] / (double)k + eps));
            float *o = j->out + (r + i) * k;
            for (int64_t c = 0; c < k; c++)
                o[c] = x[i][c] * inv * j->op->norm[c];
        }
    }
}

static void float_task(void *arg, int ith, int nth)
{
    const FloatJob *j = arg;
    int64_t lo, hi;
    if (j->op->kind == RT_NPU_RMSNORM) {
        split(j->rows, 1, ith, nth, &lo, &hi);
        rmsnorm_rows(j, lo, hi);
        return;
    }
    split((int64_t)j->rows * j->op->k, 16, ith, nth, &lo, &hi);
    const float *a = j->a, *b = j->b;
    float *o = j->out;
    switch (j->op->kind) {
    case RT_NPU_ADD:
        for (int64_t i = lo; i < hi; i++)
            o[i] = a[i] + b[i];
        break;
    case RT_NPU_MUL:
        for (int64_t i = lo; i < hi; i++)
            o[i] = a[i] * b[i];
        break;
    case RT_NPU_SILU:
        for (int64_t i = lo; i < hi; i++)
            o[i] = a[i] / (1.0f + expf(-a[i]));
        break;
    default:    /* RT_NPU_SWIGLU */
        for (int64_t i = lo; i < hi; i++)
            o[i] = (a[i] / (1.0f + expf(-a[i]))) * b[i];
        break;
    }
}

/* ---- open / close ---- */

static bool isa_available(EmuIsa isa)
{
#if defined(__x86_64__)
    __builtin_cpu_init();
    switch (isa) {
    case ISA_VNNI:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vnni");
    case ISA_AVX2:
        return __builtin_cpu_supports("avx2");
    default:
        return isa == ISA_SCALAR;
    }
#else
    return isa == ISA_SCALAR || (isa == ISA_SDOT && rt_cpu_dotprod());
#endif
}

static RtStatus choose_isa(EmuIsa *isa)
{
    const char *want = getenv("HETC_NPU_ISA");
    if (!want || !*want) {
        int best = ISA_COUNT - 1;
        while (!isa_available((EmuIsa)best))
            best--;
        *isa = (EmuIsa)best;
        return RT_OK;
    }
    for (int i = 0; i < ISA_COUNT; i++) {
        if (strcmp(want, isa_names[i]))
            continue;
        if (!isa_available((EmuIsa)i)) {
            rt_set_error("npu-emu: HETC_NPU_ISA=%s: this CPU (or this build) has no %s path",
                         want, want);
            return RT_ERR_ARG;
        }
        *isa = (EmuIsa)i;
        return RT_OK;
    }
    rt_set_error("npu-emu: HETC_NPU_ISA=%s: not one of sdot, vnni, avx2, scalar", want);
    return RT_ERR_ARG;
}

static RtStatus emu_open(RtNpu **out, int threads)
{
    if (!out) {
        rt_set_error("npu-emu: open: no result pointer");
        return RT_ERR_ARG;
    }
    *out = NULL;
    EmuIsa isa;
    RtStatus st = choose_isa(&isa);
    if (st != RT_OK)
        return st;
    RtNpu *npu = rt_alloc(sizeof *npu);
    if (!npu) {
        rt_set_error("npu-emu: out of memory opening the emulator");
        return RT_ERR_NOMEM;
    }
    st = rt_pool_create(&npu->pool, threads);
    if (st != RT_OK) {
        rt_free(npu);
        return st;
    }
    npu->nth = rt_pool_size(npu->pool);
    npu->isa = isa;
    *out = npu;
    return RT_OK;
}

static void emu_close(RtNpu *npu)
{
    if (!npu)
        return;
    rt_pool_destroy(npu->pool);
    while (npu->packed) {       /* graphs must be freed first; this frees what they left */
        Packed *p = npu->packed;
        npu->packed = p->next;
        rt_free(p->mem);
        rt_free(p);
    }
    rt_free(npu);
}

static const char *emu_path(const RtNpu *npu)
{
    return isa_names[npu->isa];
}

static double emu_busy_seconds(const RtNpu *npu)
{
    return npu->busy;
}

/* ---- build: checks ---- */

typedef struct {
    const RtNpuGraphDesc *d;
    int index;                  /* op index */
    const RtNpuOp *op;
} OpCtx;

/* Sets the error "npu-emu: graph 'G': op I 'NAME' (KIND): <msg>". */
static RtStatus op_error(const OpCtx *c, const char *msg)
{
    rt_set_error("npu-emu: graph '%s': op %d '%s' (%s): %s", c->d->name ? c->d->name : "",
                 c->index, c->op->name ? c->op->name : "", kind_name(c->op->kind), msg);
    return RT_ERR_ARG;
}

/* Operand 'which' (tensor t) must exist, be of dtype dt and have cols columns. */
static RtStatus check_tensor(const OpCtx *c, const char *which, int t, RtDtype dt, int64_t cols,
                             const char *cols_name)
{
    char msg[160];
    if (t < 0 || t >= c->d->ntensors) {
        snprintf(msg, sizeof msg, "%s tensor %d out of range (the graph has %d tensors)", which,
                 t, c->d->ntensors);
        return op_error(c, msg);
    }
    const RtNpuTensor *tt = &c->d->tensors[t];
    if (tt->dtype != dt) {
        snprintf(msg, sizeof msg, "%s (tensor %d) has dtype %s, want %s", which, t,
                 rt_dtype_name(tt->dtype), rt_dtype_name(dt));
        return op_error(c, msg);
    }
    if (tt->cols != cols) {
        snprintf(msg, sizeof msg, "%s (tensor %d) has %lld columns, but %s = %lld", which, t,
                 (long long)tt->cols, cols_name, (long long)cols);
        return op_error(c, msg);
    }
    return RT_OK;
}

static RtStatus check_op(const OpCtx *c)
{
    const RtNpuOp *op = c->op;
    char msg[160];
    if ((unsigned)op->kind >= RT_NPU_OP_COUNT) {
        snprintf(msg, sizeof msg, "unknown op kind %d", (int)op->kind);
        return op_error(c, msg);
    }
    if (op->k < 1 || op->k > (1 << 24) || (op->kind == RT_NPU_QLINEAR && (op->n < 1 || op->n > (1 << 24))))
        return op_error(c, "n and k must be in 1..2^24");
    bool binary = op->kind == RT_NPU_ADD || op->kind == RT_NPU_MUL || op->kind == RT_NPU_SWIGLU;
    if (!binary && op->in1 != -1)
        return op_error(c, "in1 must be -1 (the op has one operand)");
    RtDtype in_dt = op->kind == RT_NPU_QLINEAR ? RT_I8 : RT_F32;
    RtDtype out_dt = op->kind == RT_NPU_QUANT ? RT_I8 : RT_F32;
    int64_t out_cols = op->kind == RT_NPU_QLINEAR ? op->n : op->k;
    RtStatus st = check_tensor(c, "in0", op->in0, in_dt, op->k, "k");
    if (st == RT_OK && binary)
        st = check_tensor(c, "in1", op->in1, RT_F32, op->k, "k");
    if (st == RT_OK)
        st = check_tensor(c, "out", op->out, out_dt, out_cols, op->kind == RT_NPU_QLINEAR ? "n" : "k");
    if (st != RT_OK)
        return st;
    switch (op->kind) {
    case RT_NPU_QUANT:
        if (!(op->scale > 0.0f) || !isfinite(op->scale))
            return op_error(c, "the quant scale must be finite and > 0");
        break;
    case RT_NPU_QLINEAR:
        if (!op->w8)
            return op_error(c, "missing weights (w8 is NULL)");
        if (!isfinite(op->scale))
            return op_error(c, "the output scale must be finite");
        if (op->k > 132104)    /* 128 * 127 * k must fit in int32 */
            return op_error(c, "k is too large for int32 accumulation (at most 132104)");
        break;
    case RT_NPU_RMSNORM:
        if (!op->wf)
            return op_error(c, "missing weights (wf, the norm weight, is NULL)");
        if (!(op->scale >= 0.0f) || !isfinite(op->scale))
            return op_error(c, "eps must be finite and >= 0");
        break;
    default:
        break;
    }
    return RT_OK;
}

/* Whether tensor t, with a row stride, is anything but the result of a
 * QLINEAR that no op reads (the only place the stride is honoured). */
static bool strided_misuse(const RtNpuGraphDesc *d, int t)
{
    if (d->tensors[t].ld == d->tensors[t].cols) return false;
    bool made = false;
    for (int i = 0; i < d->nops && d->ops; i++) {
        const RtNpuOp *op = &d->ops[i];
        if (op->in0 == t || op->in1 == t || (op->out == t && op->kind != RT_NPU_QLINEAR)) return true;
        made |= op->out == t;
    }
    return !made;
}

static RtStatus check_desc(const RtNpuGraphDesc *d)
{
    const char *name = d->name ? d->name : "";
    if (d->rows < 1 || d->rows > (1 << 20) || d->tile < 1 || d->tile > 4096) {
        rt_set_error("npu-emu: graph '%s': rows %d and tile %d must be in 1..2^20 and 1..4096",
                     name, d->rows, d->tile);
        return RT_ERR_ARG;
    }
    if (d->ntensors < 0 || d->nops < 0 || (d->ntensors && !d->tensors) || (d->nops && !d->ops)) {
        rt_set_error("npu-emu: graph '%s': missing tensors or ops", name);
        return RT_ERR_ARG;
    }
    for (int i = 0; i < d->ntensors; i++) {
        const RtNpuTensor *t = &d->tensors[i];
        if ((t->dtype != RT_F32 && t->dtype != RT_I8) || t->cols < 1 || t->cols > (1 << 24)) {
            rt_set_error("npu-emu: graph '%s': tensor %d: dtype %s and %lld columns (want f32 or "
                         "i8, 1..2^24 columns)", name, i, rt_dtype_name(t->dtype), (long long)t->cols);
            return RT_ERR_ARG;
        }
        if (t->ld && (t->ld < t->cols || t->ld > (1 << 24) || strided_misuse(d, i))) {
            rt_set_error("npu-emu: graph '%s': tensor %d: row stride %lld (want 0, or %lld..2^24 for the "
                         "output of a qlinear that no op of the graph reads)", name, i, (long long)t->ld,
                         (long long)t->cols);
            return RT_ERR_ARG;
        }
    }
    for (int i = 0; i < d->nops; i++) {
        OpCtx c = {.d = d, .index = i, .op = &d->ops[i]};
        RtStatus st = check_op(&c);
        if (st != RT_OK)
            return st;
    }
    return RT_OK;
}

/* ---- build: weights ---- */

/* Bytes of the emulator's copy of op's weights (and, in *pad, of its padding). */
static uint64_t op_weight_bytes(const EmuOp *op, EmuIsa isa, uint64_t *pad)
{
    uint64_t bytes = 0, real = 0;
    if (op->kind == RT_NPU_QLINEAR) {
        int per_col = (isa == ISA_VNNI ? 4 : 0) + (op->has_bias ? 4 : 0);
        bytes = (uint64_t)op->npad * op->kpad + (uint64_t)per_col * op->npad;
        real = (uint64_t)op->n * op->k + (uint64_t)per_col * op->n;
    } else if (op->kind == RT_NPU_RMSNORM) {
        bytes = real = (uint64_t)op->k * sizeof(float);
    }
    *pad += bytes - real;
    return round_up((int64_t)bytes, 64);
}

/* Repacks w8 [n, k] into panels, written in order (the panel's rows read
 * 4 bytes at a time); the column sums for vnni. Fails on -128. */
static RtStatus pack_weights(const OpCtx *c, EmuOp *op, int8_t *dst, int32_t *init)
{
    const int8_t *w8 = c->op->w8;
    const int64_t n = op->n, k = op->k, kpad = op->kpad;
    for (int64_t j = 0; j < n; j++) {
        const int8_t *row = w8 + j * k;
        int32_t sum = 0;
        int8_t lowest = 0;
        for (int64_t i = 0; i < k; i++) {
            sum += row[i];
            lowest = row[i] < lowest ? row[i] : lowest;
        }
        if (lowest == -128) {
            int64_t i = 0;
            while (row[i] != -128)
                i++;
            char msg[160];
            snprintf(msg, sizeof msg, "weight [%lld, %lld] is -128 (npu int8 is [-127, 127])",
                     (long long)j, (long long)i);
            return op_error(c, msg);
        }
        if (init)
            init[j] = -128 * sum;
    }
    for (int64_t j0 = 0; j0 < n; j0 += PANEL) {
        int64_t width = min64(PANEL, op->npad - j0), cols = min64(width, n - j0);
        int8_t *panel = dst + j0 * kpad;
        int64_t i = 0;
        for (; i + 4 <= k; i += 4)
            for (int64_t jj = 0; jj < cols; jj++)
                memcpy(panel + i * width + 4 * jj, w8 + (j0 + jj) * k + i, 4);
        for (int64_t jj = 0; jj < cols; jj++)
            memcpy(panel + i * width + 4 * jj, w8 + (j0 + jj) * k + i, (size_t)(k - i));
    }
    return RT_OK;
}

/* ---- build / free / memory ---- */

/* Drops a graph's use of p; the last use frees it. */
static void release(RtNpu *npu, Packed *p)
{
    if (--p->refs > 0)
        return;
    for (Packed **at = &npu->packed; *at; at = &(*at)->next)
        if (*at == p) {
            *at = p->next;
            break;
        }
    rt_free(p->mem);
    rt_free(p);
}

static void emu_free_graph(RtNpuGraph *g)
{
    if (!g)
        return;
    for (int i = 0; g->ops && i < g->nops; i++)
        if (g->ops[i].packed)
            release(g->npu, g->ops[i].packed);
    rt_free(g->weights);
    rt_free(g->act);
    rt_free(g->acc);
    rt_free(g->ops);
    rt_free(g->tensors);
    rt_free(g);
}

static void copy_name(char *dst, const char *src)
{
    snprintf(dst, NAME_LEN, "%s", src ? src : "");
}

/* Copies the ops and sizes their padded shapes; the weights' bytes. */
static uint64_t plan_ops(RtNpuGraph *g, const RtNpuGraphDesc *d, int tile)
{
    uint64_t bytes = 0;
    for (int i = 0; i < d->nops; i++) {
        const RtNpuOp *s = &d->ops[i];
        EmuOp *op = &g->ops[i];
        *op = (EmuOp){.kind = s->kind, .in0 = s->in0, .in1 = s->in1, .out = s->out, .n = s->n,
                      .k = s->k, .scale = s->scale};
        copy_name(op->name, s->name);
        if (op->kind == RT_NPU_QLINEAR) {
            op->npad = round_up(round_up(op->n, tile), 16);
            op->kpad = round_up(round_up(op->k, tile), 4);
            op->has_bias = s->wf != NULL;
            continue;       /* packed apart, shared between graphs (fill_weights) */
        }
        bytes += op_weight_bytes(op, g->npu->isa, &g->mem.pad_bytes);
    }
    return bytes;
}

/* A QLINEAR's packed weights: those of an earlier graph built from the
 * same tensor, else packed now (and counted in this graph's memory). */
static RtStatus qlinear_weights(RtNpuGraph *g, const RtNpuGraphDesc *d, int i)
{
    EmuOp *op = &g->ops[i];
    const RtNpuOp *s = &d->ops[i];
    RtNpu *npu = g->npu;
    Packed *p = npu->packed;
    while (p && !(p->src == s->w8 && p->src_bias == s->wf && p->n == op->n && p->k == op->k &&
                  p->npad == op->npad && p->kpad == op->kpad))
        p = p->next;
    if (!p) {
        uint64_t bytes = op_weight_bytes(op, npu->isa, &g->mem.pad_bytes);
        p = rt_alloc(sizeof *p);
        if (!p || !(p->mem = rt_alloc(bytes))) {
            rt_free(p);
            rt_set_error("npu-emu: graph '%s': out of memory for %llu bytes of weights", g->name,
                         (unsigned long long)bytes);
            return RT_ERR_NOMEM;
        }
        *p = (Packed){.src = s->w8, .src_bias = s->wf, .n = op->n, .k = op->k, .npad = op->npad,
                      .kpad = op->kpad, .mem = p->mem, .next = npu->packed};
        unsigned char *q = p->mem + op->npad * op->kpad;
        int32_t *init = NULL;
        if (npu->isa == ISA_VNNI) {
            init = (int32_t *)q;
            q += 4 * op->npad;
        }
        if (op->has_bias)
            memcpy(q, s->wf, (size_t)op->n * sizeof(float));
        OpCtx c = {.d = d, .index = i, .op = s};
        RtStatus st = pack_weights(&c, op, (int8_t *)p->mem, init);
        if (st != RT_OK) {
            rt_free(p->mem);
            rt_free(p);
            return st;
        }
        npu->packed = p;
        g->mem.weight_bytes += bytes;
    }
    p->refs++;
    op->packed = p;
    op->w = (const int8_t *)p->mem;
    unsigned char *q = p->mem + op->npad * op->kpad;
    op->init = npu->isa == ISA_VNNI ? (const int32_t *)q : NULL;
    op->bias = op->has_bias ? (const float *)(q + (npu->isa == ISA_VNNI ? 4 * op->npad : 0)) : NULL;
    return RT_OK;
}

/* Places the ops' weights (norms in g->weights; QLINEARs' shared) and fills them. */
static RtStatus fill_weights(RtNpuGraph *g, const RtNpuGraphDesc *d)
{
    unsigned char *p = g->weights;
    uint64_t unused = 0;
    for (int i = 0; i < d->nops; i++) {
        EmuOp *op = &g->ops[i];
        const RtNpuOp *s = &d->ops[i];
        if (op->kind == RT_NPU_QLINEAR) {
            RtStatus st = qlinear_weights(g, d, i);
            if (st != RT_OK)
                return st;
            continue;
        }
        unsigned char *next = p + op_weight_bytes(op, g->npu->isa, &unused);
        if (op->kind == RT_NPU_RMSNORM) {
            memcpy(p, s->wf, (size_t)op->k * sizeof(float));
            op->norm = (const float *)p;
        }
        p = next;
    }
    return RT_OK;
}

/* The activation planes and the per-thread int32 tiles. */
static RtStatus alloc_work(RtNpuGraph *g)
{
    int64_t kpad = 0, k = 0;
    bool blocked = false;
    for (int i = 0; i < g->nops; i++) {
        const EmuOp *op = &g->ops[i];
        if (op->kind != RT_NPU_QLINEAR)
            continue;
        kpad = op->kpad > kpad ? op->kpad : kpad;
        k = op->k > k ? op->k : k;
        blocked |= g->npu->isa != ISA_SCALAR && op->kpad / 4 > KC_GROUPS;
    }
    int planes = g->npu->isa == ISA_AVX2 ? 2 : 1;
    uint64_t act = (uint64_t)planes * g->rows_pad * kpad;
    uint64_t acc = blocked ? (uint64_t)g->npu->nth * g->rows_pad * PANEL * sizeof(int32_t) : 0;
    g->mem.work_bytes = act + acc;
    g->mem.pad_bytes += act - (uint64_t)planes * g->rows * k;
    g->mem.pad_bytes += acc ? (uint64_t)g->npu->nth * (g->rows_pad - g->rows) * PANEL * 4 : 0;
    g->act = act ? rt_alloc(act) : NULL;
    g->acc = acc ? rt_alloc(acc) : NULL;
    if ((act && !g->act) || (acc && !g->acc)) {
        rt_set_error("npu-emu: graph '%s': out of memory for %llu bytes of buffers", g->name,
                     (unsigned long long)(act + acc));
        return RT_ERR_NOMEM;
    }
    return RT_OK;
}

static RtStatus emu_build(RtNpu *npu, const RtNpuGraphDesc *d, RtNpuGraph **out)
{
    if (!out || !npu || !d) {
        rt_set_error("npu-emu: build: no emulator, description or result pointer");
        return RT_ERR_ARG;
    }
    *out = NULL;
    RtStatus st = check_desc(d);
    if (st != RT_OK)
        return st;
    RtNpuGraph *g = rt_alloc(sizeof *g);
    if (!g || !(g->tensors = rt_alloc(((size_t)d->ntensors + 1) * sizeof *g->tensors)) ||
        !(g->ops = rt_alloc(((size_t)d->nops + 1) * sizeof *g->ops))) {
        emu_free_graph(g);
        rt_set_error("npu-emu: graph '%s': out of memory", d->name ? d->name : "");
        return RT_ERR_NOMEM;
    }
    g->npu = npu;
    copy_name(g->name, d->name);
    g->rows = d->rows;
    g->rows_pad = (int)round_up(d->rows, d->tile);
    g->ntensors = d->ntensors;
    g->nops = d->nops;
    if (d->ntensors)
        memcpy(g->tensors, d->tensors, (size_t)d->ntensors * sizeof *g->tensors);
    uint64_t wbytes = plan_ops(g, d, d->tile);
    g->mem.weight_bytes = wbytes;
    g->weights = wbytes ? rt_alloc(wbytes) : NULL;
    if (wbytes && !g->weights) {
        rt_set_error("npu-emu: graph '%s': out of memory for %llu bytes of weights", g->name,
                     (unsigned long long)wbytes);
        emu_free_graph(g);
        return RT_ERR_NOMEM;
    }
    st = fill_weights(g, d);
    if (st == RT_OK)
        st = alloc_work(g);
    if (st != RT_OK) {
        emu_free_graph(g);
        return st;
    }
    *out = g;
    return RT_OK;
}

static void emu_memory(const RtNpuGraph *g, RtNpuMemory *m)
{
    *m = g->mem;
}

/* ---- execute ---- */

static RtStatus emu_execute(RtNpuGraph *g, void *const *bufs)
{
    if (!g) {
        rt_set_error("npu-emu: execute: no graph");
        return RT_ERR_ARG;
    }
    for (int i = 0; i < g->ntensors; i++) {
        if (!bufs || !bufs[i]) {
            rt_set_error("npu-emu: graph '%s': no buffer for tensor %d", g->name, i);
            return RT_ERR_ARG;
        }
    }
    double t0 = rt_now();
    for (int i = 0; i < g->nops; i++) {
        const EmuOp *op = &g->ops[i];
        if (op->kind == RT_NPU_QLINEAR) {
            const RtNpuTensor *o = &g->tensors[op->out];
            run_qlinear(g, op, bufs[op->in0], bufs[op->out], o->ld ? o->ld : o->cols);
            continue;
        }
        FloatJob j = {
            .op = op, .out = bufs[op->out], .a = bufs[op->in0],
            .b = op->in1 >= 0 ? bufs[op->in1] : NULL, .x = bufs[op->in0], .q = bufs[op->out],
            .isa = g->npu->isa, .rows = g->rows,
        };
        run(g->npu, op->kind == RT_NPU_QUANT ? quant_task : float_task, &j,
            (int64_t)g->rows * op->k);
    }
    g->npu->busy += rt_now() - t0;
    return RT_OK;
}

const RtNpuBackend rt_npu_emu = {
    .name = "npu-emu",
    .open = emu_open,
    .build = emu_build,
    .execute = emu_execute,
    .memory = emu_memory,
    .free_graph = emu_free_graph,
    .close = emu_close,
    .path = emu_path,
    .busy_seconds = emu_busy_seconds,
};
