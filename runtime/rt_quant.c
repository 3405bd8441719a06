/* rt_quant.c: linear layers over llama.cpp's block weights with int8
 * activations (q8_0, q4_0, q4_k, q5_k, q6_k as rows of blocks or in layout
 * r16, 16 rows interleaved: below; q4_1, q5_0, q5_1 in layout r16), and
 * rows of them as f32 (embedding lookups).
 *
 * Weights stay in their blocks as weights.bin holds them: q8_0 is 34 bytes
 * (f16 scale d, 32 int8 quants), q4_0 is 18 bytes (f16 d, 16 bytes of
 * nibbles: value j < 16 in the low nibble of byte j, value j + 16 in its
 * high one, stored as q + 8). Activations are quantised per row in blocks
 * of 32 the same way as q8_0 (d = amax / 127, q = round(x / d)), so a
 * block's contribution is d_w * d_x * sum(w_q * x_q), an exact int32 dot
 * product, and each row sums its blocks in f32: llama.cpp's arithmetic
 * (its q8_0 activations keep d in f16; here it stays f32).
 *
 * Three paths compute the dot products, chosen once at run time from the
 * CPU (rt_quant_isa; HETC_ISA=scalar|avx2|avx512vnni|sdot forces one it has):
 *   - avx512vnni: two blocks per 512-bit vpdpbusd (unsigned x signed
 *     bytes into int32). The weight side must be the unsigned one: q4_0's
 *     nibbles are (w + 8), q8_0's bytes are flipped to (w + 128); the
 *     excess, 8 or 128 times the sum of x's quants, is what the
 *     accumulator starts from: each activation block carries the negated
 *     per-lane sums of its quants (lane i of a block: bytes 4i..4i+3);
 *   - avx2: one block per 256-bit vector; |w| (unsigned) times x with w's
 *     sign (vpmaddubsw into int16 pairs, which cannot saturate for |w|,
 *     |x| <= 127... q4_0's w - 8 >= -8), then vpmaddwd into int32;
 *   - sdot (aarch64 with the Armv8.2 dot product): layout r16 of q8_0 and
 *     q4_0, four quants of 16 rows (a 64-byte step of the group) by four
 *     of x in four SDOTs; the int32 sums, scaled, added as the scalar
 *     path adds them, so the same floats; other types and rows of blocks
 *     take the scalar path;
 *   - scalar: the reference, in plain C.
 * All of them add the same int32 block sums, scaled, in f32; only the
 * order of the f32 additions differs, and sdot's is the scalar one (no
 * multiply-add is contracted in this file: the pragma below).
 *
 * Work: N is split among the pool's threads in tiles of 4 weight rows
 * (layout r16: groups of 16). Each thread quantises the activation rows
 * itself (into its stack, at most QX_STACK bytes at a time: a block of
 * rows), then for every tile of its rows runs the rows of that block
 * through it, 4 (r16: 8) at a time: a tile's weights stay in L1 while the
 * rows pass. Decode (S <= 4) is one block.
 */
#include "hetc_rt.h"

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

/* Functions of a path carry its instruction set (GCC and clang alike);
 * the scalar reference is kept from GCC's auto-vectoriser (see below). */
#define AVX2_FN __attribute__((target("avx2,fma,f16c")))
#define VNNI_FN __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))
#if defined(__GNUC__) && !defined(__clang__)
#define SCALAR_FN __attribute__((optimize("no-tree-vectorize")))
#else
#define SCALAR_FN
#endif

enum {
    QK = 32,                    /* values per block */
    TILE_N = 4,                 /* weight rows per tile */
    TILE_S = 4,                 /* activation rows per tile */
    QX_STACK = 512 << 10,       /* bytes of quantised activations per thread at a time */
};

/* One activation row quantised: nb blocks. */
typedef struct {
    int8_t *q;                  /* [nb * 32] */
    float *d;                   /* [nb] scales */
    int32_t *neg;               /* [nb * 8] -(8 or 128) * per-lane sums of q (the avx512vnni path) */
    int32_t *xs;                /* [nb] sums of q */
    float *dxs;                 /* [nb] d times the sum of q (q4_k's minimum) */
} QRow;

/* A path's dot products of up to TILE_N weight rows (in their blocks) and TILE_S activation rows. */
typedef void (*TileFn)(const unsigned char *W, RtDtype dt, int nb, int rows, const QRow *x, int S,
                       float acc[TILE_N][TILE_S]);

static size_t qrow_bytes(int nb)
{
    return (size_t)nb * (QK + 2 * sizeof(float) + 9 * sizeof(int32_t));
}

static QRow qrow_at(unsigned char *base, int nb, int s)
{
    unsigned char *p = base + (size_t)s * qrow_bytes(nb);
    QRow r = {.neg = (int32_t *)p, .d = (float *)(p + (size_t)nb * 32), .xs = (int32_t *)(p + (size_t)nb * 36),
              .dxs = (float *)(p + (size_t)nb * 40), .q = (int8_t *)(p + (size_t)nb * 44)};
    return r;
}

static float block_d(const unsigned char *b) { return rt_f16_to_f32((uint16_t)(b[0] | b[1] << 8)); }

/* The 32-value types' block bytes. */
static int block_bytes(RtDtype dt)
{
    return dt == RT_Q8_0 ? 34 : dt == RT_Q4_1 ? 20 : dt == RT_Q5_0 ? 22 : dt == RT_Q5_1 ? 24 : 18;
}

/* q4_1 and q5_1: d q + m, a minimum per block (applied through the sums of x). */
static int has_m(RtDtype dt) { return dt == RT_Q4_1 || dt == RT_Q5_1; }

/* q5_0 and q5_1: a fifth bit per value, 32 bits after the scales. */
static int is_5bit(RtDtype dt) { return dt == RT_Q5_0 || dt == RT_Q5_1; }

static int is_k(RtDtype dt) { return dt == RT_Q4_K || dt == RT_Q5_K || dt == RT_Q6_K; }

/* q4_k and q5_k: 6-bit scales and mins per chunk (q6_k: int8 scales per 16). */
static int has_min(RtDtype dt) { return dt == RT_Q4_K || dt == RT_Q5_K; }

/* Bytes of a K-quant super-block of 256 values. */
static int k_bytes(RtDtype dt) { return dt == RT_Q4_K ? 144 : dt == RT_Q5_K ? 176 : 210; }

/* Bytes of a row of nb blocks of 32 values. */
static size_t row_bytes(RtDtype dt, int nb)
{
    return is_k(dt) ? (size_t)nb / 8 * k_bytes(dt) : (size_t)nb * block_bytes(dt);
}

/* The excess of the unsigned weight bytes the vector paths multiply:
 * q8_0 w + 128, q4_0 w + 8, q6_k w + 32; q4_k's and q5_k's are unsigned
 * already (their minimum is applied through the sums of x, kept negated:
 * 1). */
static int weight_offset(RtDtype dt)
{
    return dt == RT_Q8_0 ? 128 : dt == RT_Q4_0 ? 8 : dt == RT_Q5_0 ? 16 : dt == RT_Q6_K ? 32 : has_m(dt) ? 0 : 1;
}

/* q4_k's 6-bit scale and min j (0..7) from its 12 bytes. */
static void k4_scale_min(int j, const unsigned char *q, int *sc, int *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 15) | (q[j - 4] >> 6) << 4;
        *m = (q[j + 4] >> 4) | (q[j] >> 6) << 4;
    }
}

#if defined(__x86_64__)
/* All 8 of q4_k's scales (bytes 0..7 of u) and mins (bytes 8..15) at once, on
 * 32-bit words: bytes 0..3 hold scales 0..3 and the top bits of 4..7,
 * bytes 4..7 mins 0..3 and the top bits of mins 4..7, bytes 8..11 the low
 * nibbles of scales (low) and mins (high) 4..7. (The x86 paths'.) */
static void k4_words(const unsigned char *q, uint32_t u[4])
{
    uint32_t lo6 = 0x3f3f3f3f, lo4 = 0x0f0f0f0f, lo2 = 0x03030303;
    memcpy(u, q, 12);
    u[3] = ((u[2] >> 4) & lo4) | (((u[1] >> 6) & lo2) << 4);
    uint32_t mins03 = u[1] & lo6;
    u[1] = (u[2] & lo4) | (((u[0] >> 6) & lo2) << 4);
    u[2] = mins03;
    u[0] &= lo6;
}
#endif


/* Value l (0..31) of 32-value chunk j (0..7) of a K-quant super-block, as
 * the unsigned quant (q4_k 0..15, q5_k 0..31: its fifth bit is bit j of
 * qh[l], q6_k 0..63 = w + 32). */
static int kquant(const unsigned char *b, RtDtype dt, int j, int l)
{
    if (dt == RT_Q4_K) {
        const unsigned char *q = b + 16 + 32 * (j / 2);
        return j % 2 ? q[l] >> 4 : q[l] & 15;
    }
    if (dt == RT_Q5_K) {
        const unsigned char *q = b + 48 + 32 * (j / 2);
        return (j % 2 ? q[l] >> 4 : q[l] & 15) | ((b[16 + l] >> j) & 1) << 4;
    }
    int h = j / 4, k = j % 4;
    int lo = (b[64 * h + 32 * (k & 1) + l] >> (k >= 2 ? 4 : 0)) & 15;
    int hi = (b[128 + 32 * h + l] >> (2 * k)) & 3;
    return lo | hi << 4;
}

/* q6_k's scale of values 16 g .. 16 g + 15 of chunk j (g 0 or 1). */
static int k6_scale(const unsigned char *b, int j, int g)
{
    return (int8_t)b[192 + 8 * (j / 4) + 2 * (j % 4) + g];
}

/* Quantises x[K] into r; off: the weight side's excess (8 or 128). Each
 * block of 32: d = max |x| / 127, q = x / d rounded half away from zero
 * (t + 0.5 truncated), in 16-lane vectors (GCC vectors: the same
 * operations per value on every path, so the bytes are the same as value
 * by value; a NaN leaves the maximum as it is). Decode quantises its row
 * once per linear, so this is on the path of every token. */
typedef float QV16f __attribute__((vector_size(64)));
typedef int32_t QV16i __attribute__((vector_size(64)));
typedef int8_t QV16b __attribute__((vector_size(16)));

static inline __attribute__((always_inline)) QV16i abs_bits(QV16f v) { return (QV16i)v & 0x7fffffff; }

static inline __attribute__((always_inline)) QV16i round_away(QV16f v, float id)
{
    QV16f t = v * id;
    QV16i pos = t >= 0.0f;
    QV16i i = __builtin_convertvector((QV16f)((pos & (QV16i)(t + 0.5f)) | (~pos & (QV16i)(0.5f - t))), QV16i);
    return (pos & i) | (~pos & -i);
}

static void quantise_row(const float *x, int K, int off, QRow r)
{
    for (int b = 0; b < K / QK; b++) {
        QV16f v0, v1;
        memcpy(&v0, x + b * QK, sizeof v0);
        memcpy(&v1, x + b * QK + 16, sizeof v1);
        QV16f a0 = (QV16f)abs_bits(v0), a1 = (QV16f)abs_bits(v1);
        QV16i gt = a1 > a0;     /* lane max (NaN lanes lose) */
        QV16f m = (QV16f)((gt & (QV16i)a1) | (~gt & (QV16i)a0));
        float amax = 0;
        for (int j = 0; j < 16; j++) amax = m[j] > amax ? m[j] : amax;
        float d = amax / 127, id = d ? 1 / d : 0;
        r.d[b] = d;
        QV16i q0 = round_away(v0, id), q1 = round_away(v1, id);
        QV16b b0 = __builtin_convertvector(q0, QV16b), b1 = __builtin_convertvector(q1, QV16b);
        memcpy(r.q + b * QK, &b0, 16);
        memcpy(r.q + b * QK + 16, &b1, 16);
        r.xs[b] = 0;
        for (int l = 0; l < 8; l++) {
            const int8_t *q = r.q + b * QK + 4 * l;
            r.neg[b * 8 + l] = -off * (q[0] + q[1] + q[2] + q[3]);
            r.xs[b] += q[0] + q[1] + q[2] + q[3];
        }
        r.dxs[b] = d * (float)r.xs[b];
    }
}

/* ---- scalar reference ----
 * Kept scalar (no auto-vectorisation): it is the reference the vector
 * paths are tested against, and GCC 12 at -O3 -march=native miscompiled
 * the q8_0 dot product's vectorised form. */

SCALAR_FN static int32_t dot_block_scalar(const unsigned char *w, RtDtype dt, const int8_t *x)
{
    int32_t s = 0;
    if (dt == RT_Q8_0) {
        for (int j = 0; j < QK; j++) s += (int8_t)w[2 + j] * x[j];
    } else {
        for (int j = 0; j < 16; j++) s += ((w[2 + j] & 15) - 8) * x[j] + ((w[2 + j] >> 4) - 8) * x[16 + j];
    }
    return s;
}

/* A K-quant row against activation row x: per 32-value chunk j of each
 * super-block (activation block b), q4_k and q5_k: dx (d sc_j sum(q x) -
 * dmin m_j sum(x)); q6_k: dx d (sc_g0 sum16(w x) + sc_g1 sum16(w x)),
 * w = q - 32. */
SCALAR_FN static float kq_row_scalar(const unsigned char *w, RtDtype dt, int nb, QRow x)
{
    float sum = 0;
    int bytes = k_bytes(dt);
    for (int b = 0; b < nb; b++) {
        const unsigned char *sb = w + (size_t)(b / 8) * bytes;
        const int8_t *xq = x.q + b * QK;
        int j = b % 8;
        if (has_min(dt)) {
            int sc, m, dot = 0, xs = 0;
            k4_scale_min(j, sb + 4, &sc, &m);
            for (int l = 0; l < QK; l++) dot += kquant(sb, dt, j, l) * xq[l], xs += xq[l];
            sum += x.d[b] * (block_d(sb) * (float)sc * (float)dot - block_d(sb + 2) * (float)m * (float)xs);
        } else {
            int dot[2] = {0, 0};
            for (int l = 0; l < QK; l++) dot[l / 16] += (kquant(sb, dt, j, l) - 32) * xq[l];
            sum += x.d[b] * block_d(sb + 208) * (float)(k6_scale(sb, j, 0) * dot[0] + k6_scale(sb, j, 1) * dot[1]);
        }
    }
    return sum;
}

SCALAR_FN static void tile_scalar(const unsigned char *W, RtDtype dt, int nb, int rows, const QRow *x, int S, float acc[TILE_N][TILE_S])
{
    if (is_k(dt)) {
        for (int r = 0; r < rows; r++)
            for (int s = 0; s < S; s++) acc[r][s] = kq_row_scalar(W + r * row_bytes(dt, nb), dt, nb, x[s]);
        return;
    }
    int bb = block_bytes(dt);
    for (int r = 0; r < rows; r++)
        for (int s = 0; s < S; s++) {
            const unsigned char *w = W + (size_t)r * nb * bb;
            float sum = 0;
            for (int b = 0; b < nb; b++, w += bb) sum += block_d(w) * x[s].d[b] * (float)dot_block_scalar(w, dt, x[s].q + b * QK);
            acc[r][s] = sum;
        }
}

/* ---- layout r16 ----
 * A q8_0, q4_0, q4_1, q5_0, q5_1, q4_k or q6_k weight that only linears on the cpu read, its
 * rows a multiple of 16, is stored by pass place's layout r16 (ops.def):
 * rows in groups of 16, each group block by block (q4_k, q6_k: super-block
 * by super-block), a group's block 16 times the bytes of a row's. First its
 * scales, the 16 rows' side by side (f16: row r's at 2r; bytes: byte k of
 * row r at 16k + r), then its quants in 64-byte vectors whose byte 4r + i
 * is row r's (r16_at gives every byte's place):
 *   q8_0: d; 8 vectors, value 4v + i as w + 128 (unsigned);
 *   q4_0: d; 4 vectors, the block's byte 4v + i (values 4v + i and
 *         16 + 4v + i in its nibbles);
 *   q4_1: d, m; 4 vectors as q4_0's;
 *   q5_0, q5_1: d (m); a vector of the high bits (bit v of byte 4r + i:
 *         value 4v + i's); 4 vectors as q4_0's;
 *   q4_k: d, dmin, the 12 bytes of scales and mins; 32 vectors of qs;
 *   q6_k: d, the 16 scales; 32 vectors of ql, 16 of qh.
 * A vector's 16 lanes are the 16 rows, so one vpdpbusd against 4 of x's
 * quants (broadcast) adds 4 values to each row's block sum: a block's 8
 * steps sum in int32 and convert once for 16 rows, where the row layout
 * converts and scales every 2 blocks of every row. */
enum { R16_S = 8 };             /* activation rows per call of a kernel */

typedef void (*R16Fn)(const unsigned char *G, RtDtype dt, int nb, const QRow *x, int S, float out[R16_S][16]);

/* Where a 32-value type's quants start in a group's block of layout r16
 * (after 16 d, 16 m, and q5's plane of high bits), and where they start
 * in a row's block. */
static int r16_quants(RtDtype dt) { return 32 + 32 * has_m(dt) + 64 * is_5bit(dt); }
static int bytes_before_quants(RtDtype dt) { return 2 + 2 * has_m(dt) + 4 * is_5bit(dt); }

/* Where byte k of row r's block (the 32-value types: of 32 values; q4_k,
 * q6_k: of 256) lies in its group's block in layout r16 (q5's high bits:
 * their plane's bytes, which rt_r16_pack fills). */
static size_t r16_at(RtDtype dt, int r, int k)
{
    if (!is_k(dt)) {    /* d (and m) by row, q5's high-bit plane (r16_pack), then quants */
        int scales = 2 + 2 * has_m(dt), qs = r16_quants(dt);
        if (k < scales) return (size_t)(32 * (k / 2) + 2 * r + k % 2);
        if (k < scales + 4 * is_5bit(dt)) return (size_t)(qs - 64 + 4 * r + k - scales);
        return (size_t)(qs + 64 * ((k - bytes_before_quants(dt)) / 4) + 4 * r + (k - bytes_before_quants(dt)) % 4);
    }
    if (dt == RT_Q4_K) {
        if (k < 4) return (size_t)(32 * (k / 2) + 2 * r + k % 2);
        if (k < 16) return (size_t)(64 + 16 * (k - 4) + r);
        return (size_t)(256 + 64 * ((k - 16) / 4) + 4 * r + k % 4);
    }
    if (k < 128) return (size_t)(288 + 64 * (k / 4) + 4 * r + k % 4);                /* q6_k: ql */
    if (k < 192) return (size_t)(2336 + 64 * ((k - 128) / 4) + 4 * r + k % 4);       /* qh */
    if (k < 208) return (size_t)(32 + 16 * (k - 192) + r);                           /* scales */
    return (size_t)(2 * r + k - 208);                                                /* d */
}

void rt_r16_pack(RtDtype dt, void *group, const void *rows, int64_t cols)
{
    int per = is_k(dt) ? 256 : QK, bb = is_k(dt) ? k_bytes(dt) : block_bytes(dt);
    int64_t nb = cols / per;
    unsigned char *g = group;
    const unsigned char *src = rows;
    for (int64_t b = 0; b < nb; b++, g += 16 * bb)
        for (int r = 0; r < 16; r++) {
            const unsigned char *blk = src + ((size_t)r * nb + b) * bb;
            for (int k = 0; k < bb; k++) g[r16_at(dt, r, k)] = dt == RT_Q8_0 && k >= 2 ? blk[k] ^ 0x80 : blk[k];
            if (!is_5bit(dt)) continue;
            /* q5's 32 high bits as a plane: bit v of byte 4r + i is value 4v + i's */
            const unsigned char *qh = blk + 2 + 2 * has_m(dt);
            uint32_t bits = (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
            for (int i = 0; i < 4; i++) {
                unsigned char plane = 0;
                for (int v = 0; v < 8; v++) plane |= (unsigned char)((bits >> (4 * v + i) & 1) << v);
                g[r16_quants(dt) - 64 + 4 * r + i] = plane;
            }
        }
}
/* Layout r16 of q4_k or q6_k through a path's row kernels (scalar, avx2):
 * slabs of the group's super-blocks put back as rows of blocks, then
 * 4 x 4 tiles of them; each slab's sums added. */
static void r16k_by_rows(TileFn tile, const unsigned char *G, RtDtype dt, int nb, const QRow *x, int S, float out[R16_S][16])
{
    enum { SLAB = 8 };                                      /* super-blocks at a time */
    unsigned char rows[16 * SLAB * 210];
    int bb = k_bytes(dt), nsb = nb / 8;
    for (int s = 0; s < S; s++)
        for (int r = 0; r < 16; r++) out[s][r] = 0;
    for (int sb0 = 0; sb0 < nsb; sb0 += SLAB) {
        int n = nsb - sb0 < SLAB ? nsb - sb0 : SLAB;
        for (int i = 0; i < n; i++)
            for (int r = 0; r < 16; r++)
                for (int k = 0; k < bb; k++) rows[((size_t)r * n + i) * bb + k] = G[(size_t)(sb0 + i) * 16 * bb + r16_at(dt, r, k)];
        QRow xs[R16_S];
        for (int s = 0; s < S; s++) {
            int b = 8 * sb0;
            xs[s] = (QRow){.q = x[s].q + b * QK, .d = x[s].d + b, .neg = x[s].neg + 8 * b, .xs = x[s].xs + b, .dxs = x[s].dxs + b};
        }
        for (int r0 = 0; r0 < 16; r0 += TILE_N)
            for (int s0 = 0; s0 < S; s0 += TILE_S) {
                float acc[TILE_N][TILE_S];
                int m = S - s0 < TILE_S ? S - s0 : TILE_S;
                tile(rows + (size_t)r0 * n * bb, dt, 8 * n, TILE_N, xs + s0, m, acc);
                for (int r = 0; r < TILE_N; r++)
                    for (int i = 0; i < m; i++) out[s0 + i][r0 + r] += acc[r][i];
            }
    }
}

SCALAR_FN static void r16_scalar(const unsigned char *G, RtDtype dt, int nb, const QRow *x, int S, float out[R16_S][16])
{
    if (is_k(dt)) {
        r16k_by_rows(tile_scalar, G, dt, nb, x, S, out);
        return;
    }
    size_t bs = 16 * (size_t)block_bytes(dt);
    int off = weight_offset(dt);
    for (int s = 0; s < S; s++)
        for (int r = 0; r < 16; r++) {
            float sum = 0;
            for (int b = 0; b < nb; b++) {
                const unsigned char *blk = G + b * bs, *q = blk + r16_quants(dt), *hb = q - 64 + 4 * r;
                const int8_t *xq = x[s].q + b * QK;
                int32_t dot = 0;
                for (int j = 0; j < QK; j++) {
                    int u = dt == RT_Q8_0 ? q[64 * (j / 4) + 4 * r + j % 4]
                                          : q[64 * (j % 16 / 4) + 4 * r + j % 4] >> (4 * (j / 16)) & 15;
                    if (is_5bit(dt)) u |= (hb[j % 4] >> (j / 4) & 1) << 4;
                    dot += (u - off) * xq[j];
                }
                sum += block_d(blk + 2 * r) * x[s].d[b] * (float)dot;
                if (has_m(dt)) sum += block_d(blk + 32 + 2 * r) * x[s].dxs[b];
            }
            out[s][r] = sum;
        }
}

#if defined(__x86_64__)
/* ---- avx2 ---- */

AVX2_FN static inline __m256i unpack_q4(const unsigned char *qs)
{
    /* the 16 bytes in both halves (a load alone), the upper half's words
     * shifted by a nibble: each byte's high nibble comes down (the bits
     * from the next byte land above it, which the mask clears) */
    __m256i both = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs));
    both = _mm256_srlv_epi32(both, _mm256_set_epi32(4, 4, 4, 4, 0, 0, 0, 0));
    return _mm256_and_si256(both, _mm256_set1_epi8(15));
}

/* w's 32 signed values of block b (q4_0: nibble - 8). */
AVX2_FN static inline __m256i weights_avx2(const unsigned char *w, RtDtype dt)
{
    if (dt == RT_Q8_0) return _mm256_loadu_si256((const __m256i *)(w + 2));
    return _mm256_sub_epi8(unpack_q4(w + 2), _mm256_set1_epi8(8));
}

AVX2_FN static inline __m256 dot_avx2(__m256i w, __m256i x)
{
    __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(p, _mm256_set1_epi16(1)));
}

AVX2_FN static inline float hsum256(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* The 32 unsigned quants of chunk j of K-quant super-block sb, in x's order. */
AVX2_FN static inline __m256i kquants_avx2(const unsigned char *sb, RtDtype dt, int j)
{
    const __m256i low4 = _mm256_set1_epi8(15);
    if (dt == RT_Q4_K) {
        __m256i q = _mm256_loadu_si256((const __m256i *)(sb + 16 + 32 * (j / 2)));
        return _mm256_and_si256(j % 2 ? _mm256_srli_epi16(q, 4) : q, low4);
    }
    if (dt == RT_Q5_K) {    /* bit j of each qh byte, moved to bit 4 (16-bit shifts: the mask keeps each byte's own) */
        __m256i q = _mm256_loadu_si256((const __m256i *)(sb + 48 + 32 * (j / 2)));
        __m256i h = _mm256_and_si256(_mm256_srl_epi16(_mm256_loadu_si256((const __m256i *)(sb + 16)),
                                                      _mm_cvtsi32_si128(j)), _mm256_set1_epi8(1));
        return _mm256_or_si256(_mm256_and_si256(j % 2 ? _mm256_srli_epi16(q, 4) : q, low4), _mm256_slli_epi16(h, 4));
    }
    int h = j / 4, k = j % 4;
    __m256i ql = _mm256_loadu_si256((const __m256i *)(sb + 64 * h + 32 * (k & 1)));
    __m256i qh = _mm256_loadu_si256((const __m256i *)(sb + 128 + 32 * h));
    __m256i lo = _mm256_and_si256(k >= 2 ? _mm256_srli_epi16(ql, 4) : ql, low4);
    __m256i hi = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * k)), _mm256_set1_epi8(3));
    return _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4));
}

/* K-quant rows (S activation rows) super-block by super-block: its scales
 * decoded once, then per 32-value chunk j (activation block b) one block
 * product DOT(w, x, init) (the lane sums of unsigned w times signed x,
 * added to init). q4_k, q5_k: d sc_j dx_b sum(q x) per chunk, its minimum
 * (dmin m_j dx_b sum(x)) in scalar from the stored sums of x; q6_k:
 * d dx_b (sc_g0, sc_g1 per half of the lanes) sum((w + 32) x) with the
 * accumulator started at -32 sum(x) per lane. */
#define KQ_ROWS(NAME, DOT, DT, FN, NACC)                                                                                \
    FN static void NAME(const unsigned char *W, int nb, int rows, const QRow *x, int S, float acc[TILE_N][TILE_S]) \
    {                                                                                                             \
        const RtDtype dt = DT;                                                                                    \
        int bytes = k_bytes(dt);                                                                                  \
        for (int r = 0; r < rows; r++) {                                                                          \
            const unsigned char *w = W + r * row_bytes(dt, nb);                                                   \
            __m256 a[NACC][TILE_S], vmins[TILE_S];    /* NACC sets of sums, block j into set j % NACC */        \
            for (int s = 0; s < TILE_S; s++) {                                                                    \
                vmins[s] = _mm256_setzero_ps();                                                                   \
                for (int k = 0; k < NACC; k++) a[k][s] = _mm256_setzero_ps();                                     \
            }                                                                                                     \
            for (int b0 = 0; b0 < nb; b0 += 8) {                                                                  \
                const unsigned char *sb = w + (size_t)(b0 / 8) * bytes;                                           \
                float scale[8];                                                                                   \
                __m256i sc6[2];                                                                                   \
                if (has_min(dt)) {                                                                                \
                    uint32_t u[4];      /* the 8 scales, then the 8 mins, kept in registers: a load spanning  \
                                         * two stores would wait for them */                                      \
                    k4_words(sb + 4, u);                                                                          \
                    __m128i scm = _mm_set_epi32((int)u[3], (int)u[2], (int)u[1], (int)u[0]);                      \
                    __m256 d = _mm256_set1_ps(_cvtsh_ss((unsigned short)(sb[0] | sb[1] << 8)));                   \
                    _mm256_storeu_ps(scale, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(scm))));     \
                    __m256 m = _mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss((unsigned short)(sb[2] | sb[3] << 8))),    \
                                             _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(scm, 8))));  \
                    for (int s = 0; s < S; s++)                                                                   \
                        vmins[s] = _mm256_fmadd_ps(m, _mm256_loadu_ps(x[s].dxs + b0), vmins[s]);                  \
                } else {                                                                                          \
                    float d = _cvtsh_ss((unsigned short)(sb[208] | sb[209] << 8));                                \
                    for (int j = 0; j < 8; j++) scale[j] = d;                                                     \
                    sc6[0] = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(sb + 192)));                  \
                    sc6[1] = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(sb + 200)));                  \
                }                                                                                                 \
                _Pragma("GCC unroll 8") for (int j = 0; j < 8; j++) {                                             \
                    int b = b0 + j;                                                                               \
                    __m256i wv = kquants_avx2(sb, dt, j);                                                         \
                    __m256i gs = _mm256_setzero_si256();                                                          \
                    if (dt == RT_Q6_K) /* scales 2j and 2j + 1, each on 4 lanes */                               \
                        gs = _mm256_permutevar8x32_epi32(sc6[j / 4],                                              \
                                                         _mm256_set_epi32(2 * (j % 4) + 1, 2 * (j % 4) + 1,       \
                                                                          2 * (j % 4) + 1, 2 * (j % 4) + 1,       \
                                                                          2 * (j % 4), 2 * (j % 4), 2 * (j % 4),  \
                                                                          2 * (j % 4)));                          \
                    for (int s = 0; s < S; s++) {                                                                 \
                        __m256i xv = _mm256_loadu_si256((const __m256i *)(x[s].q + b * QK));                      \
                        __m256i p;                                                                                \
                        if (has_min(dt)) p = DOT(wv, xv, _mm256_setzero_si256());                                 \
                        else p = _mm256_mullo_epi32(                                                              \
                                 DOT(wv, xv, _mm256_loadu_si256((const __m256i *)(x[s].neg + b * 8))), gs);       \
                        a[j % NACC][s] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(scale[j] * x[s].d[b]), \
                                                         a[j % NACC][s]);                                         \
                    }                                                                                             \
                }                                                                                                 \
            }                                                                                                     \
            for (int s = 0; s < S; s++) {                                                                         \
                for (int k = 1; k < NACC; k++) a[0][s] = _mm256_add_ps(a[0][s], a[k][s]);                         \
                acc[r][s] = hsum256(_mm256_sub_ps(a[0][s], vmins[s]));                                            \
            }                                                                                                     \
        }                                                                                                         \
    }

#define DOT_AVX2(w, x, init) _mm256_add_epi32((init), _mm256_madd_epi16(_mm256_maddubs_epi16((w), (x)), _mm256_set1_epi16(1)))
KQ_ROWS(q4k_rows_avx2, DOT_AVX2, RT_Q4_K, AVX2_FN, 2)
KQ_ROWS(q5k_rows_avx2, DOT_AVX2, RT_Q5_K, AVX2_FN, 2)
KQ_ROWS(q6k_rows_avx2, DOT_AVX2, RT_Q6_K, AVX2_FN, 2)

AVX2_FN static void tile_avx2(const unsigned char *W, RtDtype dt, int nb, int rows, const QRow *x, int S, float acc[TILE_N][TILE_S])
{
    if (is_k(dt)) {
        (dt == RT_Q4_K ? q4k_rows_avx2 : dt == RT_Q5_K ? q5k_rows_avx2 : q6k_rows_avx2)(W, nb, rows, x, S, acc);
        return;
    }
    int bb = block_bytes(dt);
    for (int r = 0; r < rows; r++) {
        const unsigned char *w = W + (size_t)r * nb * bb;
        __m256 a[TILE_S] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
        for (int b = 0; b < nb; b++, w += bb) {
            __m256i wv = weights_avx2(w, dt);
            float dw = _cvtsh_ss((unsigned short)(w[0] | w[1] << 8));
            for (int s = 0; s < S; s++) {
                __m256i xv = _mm256_loadu_si256((const __m256i *)(x[s].q + b * QK));
                a[s] = _mm256_fmadd_ps(dot_avx2(wv, xv), _mm256_set1_ps(dw * x[s].d[b]), a[s]);
            }
        }
        for (int s = 0; s < S; s++) acc[r][s] = hsum256(a[s]);
    }
}


/* Layout r16 on avx2: each half of the group (8 rows) in 256-bit vectors,
 * the signed weights against x's 4 quants by vpmaddubsw's sign trick. */
AVX2_FN static void r16_avx2(const unsigned char *G, RtDtype dt, int nb, const QRow *x, int S, float out[R16_S][16])
{
    if (is_k(dt)) {
        r16k_by_rows(tile_avx2, G, dt, nb, x, S, out);
        return;
    }
    if (has_m(dt) || is_5bit(dt)) {     /* q4_1, q5_0, q5_1: the reference (these types have no avx2 kernels) */
        r16_scalar(G, dt, nb, x, S, out);
        return;
    }
    size_t bs = 16 * (size_t)block_bytes(dt);
    for (int h = 0; h < 2; h++) {
        __m256 acc[R16_S];
        for (int s = 0; s < S; s++) acc[s] = _mm256_setzero_ps();
        for (int b = 0; b < nb; b++) {
            const unsigned char *blk = G + b * bs;
            __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(blk + 16 * h)));
            __m256i w[8], wa[8];
            for (int v = 0; v < 8; v++) {
                if (dt == RT_Q8_0) {
                    w[v] = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(blk + 32 + 64 * v + 32 * h)),
                                            _mm256_set1_epi8((char)0x80));
                } else {
                    __m256i q = _mm256_loadu_si256((const __m256i *)(blk + 32 + 64 * (v % 4) + 32 * h));
                    w[v] = _mm256_sub_epi8(_mm256_and_si256(v < 4 ? q : _mm256_srli_epi16(q, 4), _mm256_set1_epi8(15)),
                                           _mm256_set1_epi8(8));
                }
                wa[v] = _mm256_sign_epi8(w[v], w[v]);
            }
            for (int s = 0; s < S; s++) {
                __m256i sum = _mm256_setzero_si256();
                for (int v = 0; v < 8; v++) {
                    int32_t x4;
                    memcpy(&x4, x[s].q + b * QK + 4 * v, 4);
                    __m256i p = _mm256_maddubs_epi16(wa[v], _mm256_sign_epi8(_mm256_set1_epi32(x4), w[v]));
                    sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p, _mm256_set1_epi16(1)));
                }
                acc[s] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_mul_ps(dw, _mm256_set1_ps(x[s].d[b])), acc[s]);
            }
        }
        for (int s = 0; s < S; s++) _mm256_storeu_ps(out[s] + 8 * h, acc[s]);
    }
}

/* ---- avx512vnni ---- */

/* The f16 scales of blocks b and b + 1 (bb bytes apart), block b's in
 * lanes 0..7 and b + 1's in lanes 8..15. */
VNNI_FN static inline __m512 scales2(const unsigned char *w, int bb)
{
    uint16_t lo, hi;
    memcpy(&lo, w, 2);
    memcpy(&hi, w + bb, 2);
    __m128 f = _mm_cvtph_ps(_mm_cvtsi32_si128((int)((uint32_t)lo | (uint32_t)hi << 16)));
    return _mm512_permutexvar_ps(_mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0),
                                 _mm512_castps128_ps512(f));
}

/* Blocks b and b + 1 of a q8_0 row as unsigned bytes (w + 128). */
VNNI_FN static inline __m512i quants2_q8(const unsigned char *w)
{
    __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(w + 2))),
                                   _mm256_loadu_si256((const __m256i *)(w + 34 + 2)), 1);
    return _mm512_xor_si512(v, _mm512_set1_epi8((char)0x80));
}

/* Blocks b and b + 1 of a q4_0 row as their nibbles (w + 8), in x's order:
 * [b 0..15, b 16..31, b+1 0..15, b+1 16..31]. */
VNNI_FN static inline __m512i quants2_q4(const unsigned char *w)
{
    __m256i y = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(w + 2))),
                                        _mm_loadu_si128((const __m128i *)(w + 18 + 2)), 1);
    __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(y), _mm256_srli_epi16(y, 4), 1);
    z = _mm512_and_si512(z, _mm512_set1_epi8(15));      /* [b lo, b+1 lo, b hi, b+1 hi] */
    return _mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0));
}

/* A tile of 4 weight rows (w[r]: row r's first block; rows past the last
 * repeat it) against S activation rows; DT and S are constants where this
 * is expanded. An odd last block goes through the avx2 block product. */
#define TILE_VNNI(NAME, DT, BB, QUANTS2, S)                                                                    \
    VNNI_FN static void NAME(const unsigned char *const w[TILE_N], int nb, const QRow *x, float acc[TILE_N][TILE_S]) \
    {                                                                                                          \
        __m512 a[TILE_N][S];                                                                                   \
        for (int r = 0; r < TILE_N; r++)                                                                       \
            for (int s = 0; s < S; s++) a[r][s] = _mm512_setzero_ps();                                         \
        int b = 0;                                                                                             \
        for (; b + 2 <= nb; b += 2) {                                                                          \
            __m512i xv[S], xn[S];                                                                              \
            __m512 dx[S];                                                                                      \
            for (int s = 0; s < S; s++) {                                                                      \
                xv[s] = _mm512_loadu_si512((const void *)(x[s].q + b * QK));                                   \
                xn[s] = _mm512_loadu_si512((const void *)(x[s].neg + b * 8));                                  \
                dx[s] = _mm512_permutexvar_ps(_mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0), \
                                              _mm512_castps128_ps512(_mm_castsi128_ps(                          \
                                                  _mm_loadl_epi64((const __m128i *)(x[s].d + b)))));             \
            }                                                                                                  \
            for (int r = 0; r < TILE_N; r++) {                                                                 \
                const unsigned char *wb = w[r] + (size_t)b * BB;                                               \
                __m512i wv = QUANTS2(wb);                                                                      \
                __m512 dw = scales2(wb, BB);                                                                   \
                for (int s = 0; s < S; s++)                                                                    \
                    a[r][s] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_dpbusd_epi32(xn[s], wv, xv[s])),       \
                                              _mm512_mul_ps(dw, dx[s]), a[r][s]);                              \
            }                                                                                                  \
        }                                                                                                      \
        for (int r = 0; r < TILE_N; r++)                                                                       \
            for (int s = 0; s < S; s++) acc[r][s] = _mm512_reduce_add_ps(a[r][s]);                             \
        for (; b < nb; b++)                                                                                    \
            for (int r = 0; r < TILE_N; r++) {                                                                 \
                const unsigned char *wb = w[r] + (size_t)b * BB;                                               \
                __m256i wv = weights_avx2(wb, DT);                                                             \
                float dw = _cvtsh_ss((unsigned short)(wb[0] | wb[1] << 8));                                    \
                for (int s = 0; s < S; s++)                                                                    \
                    acc[r][s] += dw * x[s].d[b] *                                                              \
                                 hsum256(dot_avx2(wv, _mm256_loadu_si256((const __m256i *)(x[s].q + b * QK)))); \
            }                                                                                                  \
    }

TILE_VNNI(vnni_q8_1, RT_Q8_0, 34, quants2_q8, 1)
TILE_VNNI(vnni_q8_2, RT_Q8_0, 34, quants2_q8, 2)
TILE_VNNI(vnni_q8_3, RT_Q8_0, 34, quants2_q8, 3)
TILE_VNNI(vnni_q8_4, RT_Q8_0, 34, quants2_q8, 4)
TILE_VNNI(vnni_q4_1, RT_Q4_0, 18, quants2_q4, 1)
TILE_VNNI(vnni_q4_2, RT_Q4_0, 18, quants2_q4, 2)
TILE_VNNI(vnni_q4_3, RT_Q4_0, 18, quants2_q4, 3)
TILE_VNNI(vnni_q4_4, RT_Q4_0, 18, quants2_q4, 4)

/* The 32 unsigned weight bytes of a q8_0 (w + 128) or q4_0 (nibbles) block. */
#define WEIGHTS_VNNI256(DT, w)                                                                                  \
    (DT == RT_Q8_0 ? _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)((w) + 2)), _mm256_set1_epi8((char)0x80)) \
                   : unpack_q4((w) + 2))

/* a + block b of a q8_0 or q4_0 row (at w) times the activation row x. */
VNNI_FN static inline __m256 block1_vnni256(RtDtype dt, const unsigned char *w, const QRow *x, int b, __m256 a)
{
    __m256i p = _mm256_dpbusd_epi32(_mm256_loadu_si256((const __m256i *)(x->neg + b * 8)), WEIGHTS_VNNI256(dt, w),
                                    _mm256_loadu_si256((const __m256i *)(x->q + b * QK)));
    float dw = _cvtsh_ss((unsigned short)(w[0] | w[1] << 8));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dw * x->d[b]), a);
}

/* Decode (at most 4 activation rows in all): row by row, one block per
 * 256-bit vpdpbusd. A single activation row (S = 1, generation) takes 4
 * blocks at a time into 4 accumulators: with one, the chain of
 * multiply-adds holds each block to the adder's latency. Measured on Zen 5
 * (which runs 512-bit vectors as two halves), the row loop streams q8_0 at
 * about twice the rate of the 512-bit tile, whose cross-lane shuffles cost
 * more than they save, or of interleaving the tile's 4 rows. */
#define ROWS_VNNI256(NAME, DT, BB)                                                                              \
    VNNI_FN static void NAME(const unsigned char *W, int nb, int rows, const QRow *x, int S, float acc[TILE_N][TILE_S]) \
    {                                                                                                           \
        for (int r = 0; r < rows; r++) {                                                                        \
            const unsigned char *w = W + (size_t)r * nb * BB;                                                   \
            if (S == 1) {                                                                                       \
                __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                                     \
                int b = 0;                                                                                      \
                for (; b + 4 <= nb; b += 4, w += 4 * BB) {                                                      \
                    a0 = block1_vnni256(DT, w, x, b, a0);                                                       \
                    a1 = block1_vnni256(DT, w + BB, x, b + 1, a1);                                              \
                    a2 = block1_vnni256(DT, w + 2 * BB, x, b + 2, a2);                                          \
                    a3 = block1_vnni256(DT, w + 3 * BB, x, b + 3, a3);                                          \
                }                                                                                               \
                for (; b < nb; b++, w += BB) a0 = block1_vnni256(DT, w, x, b, a0);                              \
                acc[r][0] = hsum256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));               \
                continue;                                                                                       \
            }                                                                                                   \
            __m256 a[TILE_S] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()}; \
            for (int b = 0; b < nb; b++, w += BB) {                                                             \
                __m256i wv = WEIGHTS_VNNI256(DT, w);                                                            \
                float dw = _cvtsh_ss((unsigned short)(w[0] | w[1] << 8));                                       \
                for (int s = 0; s < S; s++) {                                                                   \
                    __m256i p = _mm256_dpbusd_epi32(_mm256_loadu_si256((const __m256i *)(x[s].neg + b * 8)), wv, \
                                                    _mm256_loadu_si256((const __m256i *)(x[s].q + b * QK)));    \
                    a[s] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dw * x[s].d[b]), a[s]);        \
                }                                                                                               \
            }                                                                                                   \
            for (int s = 0; s < S; s++) acc[r][s] = hsum256(a[s]);                                              \
        }                                                                                                       \
    }
ROWS_VNNI256(rows_vnni_q8, RT_Q8_0, 34)
ROWS_VNNI256(rows_vnni_q4, RT_Q4_0, 18)

#define DOT_VNNI(w, x, init) _mm256_dpbusd_epi32((init), (w), (x))
KQ_ROWS(q4k_rows_vnni, DOT_VNNI, RT_Q4_K, VNNI_FN, 4)
KQ_ROWS(q5k_rows_vnni, DOT_VNNI, RT_Q5_K, VNNI_FN, 4)
KQ_ROWS(q6k_rows_vnni, DOT_VNNI, RT_Q6_K, VNNI_FN, 4)

/* Decode (the linear has at most TILE_S rows): rows one at a time. */
VNNI_FN static void tile_vnni_decode(const unsigned char *W, RtDtype dt, int nb, int rows, const QRow *x, int S,
                                     float acc[TILE_N][TILE_S])
{
    if (is_k(dt)) (dt == RT_Q4_K ? q4k_rows_vnni : dt == RT_Q5_K ? q5k_rows_vnni : q6k_rows_vnni)(W, nb, rows, x, S, acc);
    else (dt == RT_Q8_0 ? rows_vnni_q8 : rows_vnni_q4)(W, nb, rows, x, S, acc);
}

/* Prefill: the 512-bit tiles of 4 weight rows (the K-quants: their rows). */
VNNI_FN static void tile_vnni(const unsigned char *W, RtDtype dt, int nb, int rows, const QRow *x, int S, float acc[TILE_N][TILE_S])
{
    if (is_k(dt)) {
        (dt == RT_Q4_K ? q4k_rows_vnni : dt == RT_Q5_K ? q5k_rows_vnni : q6k_rows_vnni)(W, nb, rows, x, S, acc);
        return;
    }
    typedef void (*Fn)(const unsigned char *const[TILE_N], int, const QRow *, float[TILE_N][TILE_S]);
    static const Fn tiles[2][TILE_S] = {{vnni_q8_1, vnni_q8_2, vnni_q8_3, vnni_q8_4},
                                        {vnni_q4_1, vnni_q4_2, vnni_q4_3, vnni_q4_4}};
    size_t row = row_bytes(dt, nb);
    const unsigned char *w[TILE_N];
    for (int r = 0; r < TILE_N; r++) w[r] = W + (r < rows ? r : rows - 1) * row;
    tiles[dt == RT_Q4_0][S - 1](w, nb, x, acc);
}

/* x's 4 quants at p in every lane (a broadcast from memory, no trip through a general register). */
VNNI_FN static inline __m512i bcast4(const int8_t *p) { return _mm512_broadcastd_epi32(_mm_loadu_si32(p)); }

/* Layout r16 on avx512vnni: a block's 8 steps into two int32 chains per
 * activation row (the excess of the unsigned weights, off times the sum of
 * x's quants, where one starts), S rows against the same weight vectors. */
VNNI_FN static inline __attribute__((always_inline)) void r16_vnni_rows(const unsigned char *G, const RtDtype dt, int nb,
                                                                       const QRow *x, const int S, float out[R16_S][16])
{
    const size_t bs = 16 * (size_t)block_bytes(dt);
    const int off = weight_offset(dt), qs = r16_quants(dt);
    __m512 acc[R16_S];
    _Pragma("GCC unroll 8") for (int s = 0; s < S; s++) acc[s] = _mm512_setzero_ps();
    for (int b = 0; b < nb; b++, G += bs) {
        rt_prefetch_ahead(G, bs);
        __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)G)), mw = _mm512_setzero_ps();
        if (has_m(dt)) mw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(G + 32)));
        __m512i w[8];
        if (dt == RT_Q8_0) {
            _Pragma("GCC unroll 8") for (int v = 0; v < 8; v++) w[v] = _mm512_loadu_si512((const void *)(G + 32 + 64 * v));
        } else {
            _Pragma("GCC unroll 4") for (int v = 0; v < 4; v++) {
                __m512i q = _mm512_loadu_si512((const void *)(G + qs + 64 * v));
                w[v] = _mm512_and_si512(q, _mm512_set1_epi8(15));
                w[v + 4] = _mm512_and_si512(_mm512_srli_epi16(q, 4), _mm512_set1_epi8(15));
            }
        }
        if (is_5bit(dt)) {      /* bit v of the plane's byte to bit 4 of w[v]'s */
            __m512i hb = _mm512_loadu_si512((const void *)(G + qs - 64));
            _Pragma("GCC unroll 8") for (int v = 0; v < 8; v++)
                w[v] = _mm512_or_si512(w[v], _mm512_and_si512(v <= 4 ? _mm512_slli_epi16(hb, 4 - v) : _mm512_srli_epi16(hb, v - 4),
                                                              _mm512_set1_epi8(16)));
        }
        _Pragma("GCC unroll 8") for (int s = 0; s < S; s++) {
            const int8_t *xq = x[s].q + b * QK;
            __m512i i0 = _mm512_set1_epi32(-off * x[s].xs[b]), i1 = _mm512_setzero_si512();
            _Pragma("GCC unroll 4") for (int v = 0; v < 8; v += 2) {
                i0 = _mm512_dpbusd_epi32(i0, w[v], bcast4(xq + 4 * v));
                i1 = _mm512_dpbusd_epi32(i1, w[v + 1], bcast4(xq + 4 * v + 4));
            }
            acc[s] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(i0, i1)),
                                     _mm512_mul_ps(dw, _mm512_set1_ps(x[s].d[b])), acc[s]);
            if (has_m(dt)) acc[s] = _mm512_fmadd_ps(mw, _mm512_set1_ps(x[s].dxs[b]), acc[s]);
        }
    }
    _Pragma("GCC unroll 8") for (int s = 0; s < S; s++) _mm512_storeu_ps(out[s], acc[s]);
}

/* The 16 rows' q4_k scales and mins, from the 12 transposed scale bytes
 * at G + 64, into sm: byte 16j + r row r's scale j, byte 128 + 16j + r its
 * min j (6 bits each: for j < 4 the low 6 bits of bytes j and j + 4; for
 * j >= 4 the low (high) nibble of byte j + 4 and the top 2 bits of byte
 * j - 4 (j)). */
VNNI_FN static inline void k4_scales_mins(const unsigned char *G, unsigned char sm[256])
{
    __m512i q0 = _mm512_loadu_si512((const void *)(G + 64)), q1 = _mm512_loadu_si512((const void *)(G + 128));
    __m512i q2 = _mm512_loadu_si512((const void *)(G + 192));
    const __m512i six = _mm512_set1_epi8(63), four = _mm512_set1_epi8(15), top = _mm512_set1_epi8(0x30);
    _mm512_storeu_si512((void *)sm, _mm512_and_si512(q0, six));
    _mm512_storeu_si512((void *)(sm + 64),
                        _mm512_or_si512(_mm512_and_si512(q2, four), _mm512_and_si512(_mm512_srli_epi16(q0, 2), top)));
    _mm512_storeu_si512((void *)(sm + 128), _mm512_and_si512(q1, six));
    _mm512_storeu_si512((void *)(sm + 192), _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(q2, 4), four),
                                                            _mm512_and_si512(_mm512_srli_epi16(q1, 2), top)));
}

/* 16 bytes at p as floats, times f. */
VNNI_FN static inline __m512 bytes16_times(const unsigned char *p, __m512 f)
{
    return _mm512_mul_ps(f, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p))));
}

/* Layout r16 of q4_k and q6_k on avx512vnni, super-block by super-block:
 * per chunk j (activation block b) the 16 rows' unsigned quants against
 * x's, in int32 (q6_k: its two 16-value halves apart, each from -32 times
 * its sum of x), then scaled: q4_k d sc_j dx_b sum(q x) - dmin m_j dx_b
 * sum(x); q6_k d dx_b (sc_2j sum16 + sc_2j+1 sum16). */
VNNI_FN static inline __attribute__((always_inline)) void r16k_vnni_rows(const unsigned char *G, const RtDtype dt, int nb,
                                                                        const QRow *x, const int S, float out[R16_S][16])
{
    const size_t bs = 16 * (size_t)k_bytes(dt);
    __m512 acc[R16_S];
    _Pragma("GCC unroll 8") for (int s = 0; s < S; s++) acc[s] = _mm512_setzero_ps();
    for (int b0 = 0; b0 < nb; b0 += 8, G += bs) {
        rt_prefetch_ahead(G, bs);
        __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)G)), dmin = _mm512_setzero_ps();
        unsigned char sm[256] __attribute__((aligned(64)));
        if (dt == RT_Q4_K) {
            dmin = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(G + 32)));
            k4_scales_mins(G, sm);
        }
        _Pragma("GCC unroll 8") for (int j = 0; j < 8; j++) {
            const int b = b0 + j;
            __m512i w[8];
            __m512 sc0, sc1;
            if (dt == RT_Q4_K) {
                /* an odd chunk's high nibbles stay in place, 16 times their value: d / 16 scales them */
                _Pragma("GCC unroll 8") for (int v = 0; v < 8; v++)
                    w[v] = _mm512_and_si512(_mm512_loadu_si512((const void *)(G + 256 + 512 * (j / 2) + 64 * v)),
                                            _mm512_set1_epi8(j % 2 ? (char)0xf0 : 15));
                sc0 = bytes16_times(sm + 16 * j, j % 2 ? _mm512_mul_ps(d, _mm512_set1_ps(0.0625f)) : d);
                sc1 = bytes16_times(sm + 128 + 16 * j, dmin);
            } else {
                const int h = j / 4, c = j % 4;
                _Pragma("GCC unroll 8") for (int v = 0; v < 8; v++) {
                    __m512i lo = _mm512_loadu_si512((const void *)(G + 288 + 1024 * h + 64 * (8 * (c & 1) + v)));
                    __m512i hi = _mm512_loadu_si512((const void *)(G + 2336 + 512 * h + 64 * v));
                    lo = _mm512_and_si512(c >= 2 ? _mm512_srli_epi16(lo, 4) : lo, _mm512_set1_epi8(15));
                    hi = c == 3 ? _mm512_srli_epi16(hi, 2) : _mm512_slli_epi16(hi, 4 - 2 * c);   /* bits 2c, 2c + 1 to 4, 5 */
                    w[v] = _mm512_or_si512(lo, _mm512_and_si512(hi, _mm512_set1_epi8(0x30)));
                }
                const unsigned char *sc = G + 32 + 16 * (8 * h + 2 * c);
                sc0 = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)sc))));
                sc1 = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(sc + 16)))));
            }
            _Pragma("GCC unroll 8") for (int s = 0; s < S; s++) {
                const int8_t *xq = x[s].q + b * QK;
                __m512i i0, i1;
                if (dt == RT_Q4_K) {
                    i0 = _mm512_setzero_si512();
                    i1 = _mm512_setzero_si512();
                } else {
                    const int32_t *n = x[s].neg + b * 8;
                    i0 = _mm512_set1_epi32(n[0] + n[1] + n[2] + n[3]);
                    i1 = _mm512_set1_epi32(n[4] + n[5] + n[6] + n[7]);
                }
                _Pragma("GCC unroll 4") for (int v = 0; v < 4; v++) {
                    i0 = _mm512_dpbusd_epi32(i0, w[v], bcast4(xq + 4 * v));
                    i1 = _mm512_dpbusd_epi32(i1, w[v + 4], bcast4(xq + 4 * v + 16));
                }
                __m512 dx = _mm512_set1_ps(x[s].d[b]);
                if (dt == RT_Q4_K) {
                    acc[s] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(i0, i1)), _mm512_mul_ps(sc0, dx), acc[s]);
                    acc[s] = _mm512_fnmadd_ps(sc1, _mm512_set1_ps(x[s].dxs[b]), acc[s]);
                } else {
                    acc[s] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i0), _mm512_mul_ps(sc0, dx), acc[s]);
                    acc[s] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i1), _mm512_mul_ps(sc1, dx), acc[s]);
                }
            }
        }
    }
    _Pragma("GCC unroll 8") for (int s = 0; s < S; s++) _mm512_storeu_ps(out[s], acc[s]);
}

/* One function per type, S a constant in each call (the rows' loop unrolled). */
#define R16_VNNI(NAME, ROWS, DT)                                                                                \
    VNNI_FN static void NAME(const unsigned char *G, int nb, const QRow *x, int S, float out[R16_S][16])         \
    {                                                                                                           \
        switch (S) {                                                                                            \
        case 1: ROWS(G, DT, nb, x, 1, out); break;                                                              \
        case 2: ROWS(G, DT, nb, x, 2, out); break;                                                              \
        case 3: ROWS(G, DT, nb, x, 3, out); break;                                                              \
        case 4: ROWS(G, DT, nb, x, 4, out); break;                                                              \
        case 5: ROWS(G, DT, nb, x, 5, out); break;                                                              \
        case 6: ROWS(G, DT, nb, x, 6, out); break;                                                              \
        case 7: ROWS(G, DT, nb, x, 7, out); break;                                                              \
        default: ROWS(G, DT, nb, x, R16_S, out); break;                                                         \
        }                                                                                                       \
    }
R16_VNNI(r16_vnni_q8, r16_vnni_rows, RT_Q8_0)
R16_VNNI(r16_vnni_q4, r16_vnni_rows, RT_Q4_0)
R16_VNNI(r16_vnni_q41, r16_vnni_rows, RT_Q4_1)
R16_VNNI(r16_vnni_q50, r16_vnni_rows, RT_Q5_0)
R16_VNNI(r16_vnni_q51, r16_vnni_rows, RT_Q5_1)
R16_VNNI(r16_vnni_q4k, r16k_vnni_rows, RT_Q4_K)
R16_VNNI(r16_vnni_q6k, r16k_vnni_rows, RT_Q6_K)

VNNI_FN static void r16_vnni(const unsigned char *G, RtDtype dt, int nb, const QRow *x, int S, float out[R16_S][16])
{
    switch (dt) {
    case RT_Q8_0: r16_vnni_q8(G, nb, x, S, out); break;
    case RT_Q4_0: r16_vnni_q4(G, nb, x, S, out); break;
    case RT_Q4_1: r16_vnni_q41(G, nb, x, S, out); break;
    case RT_Q5_0: r16_vnni_q50(G, nb, x, S, out); break;
    case RT_Q5_1: r16_vnni_q51(G, nb, x, S, out); break;
    case RT_Q4_K: r16_vnni_q4k(G, nb, x, S, out); break;
    default: r16_vnni_q6k(G, nb, x, S, out); break;
    }
}

#endif

#if defined(__aarch64__)
/* ---- sdot (aarch64) ---- */

#define SDOT_FN __attribute__((target("arch=armv8.2-a+dotprod")))

/* One block of layout r16, q8_0 (stored w ^ 0x80: flipped back) or q4_0
 * (nibbles - 8): dot[i] lane j is row 4i + j's int32 sum with x's 32
 * quants. */
SDOT_FN static inline void r16_block_sdot(const unsigned char *q, RtDtype dt, const int8_t *xq, int32x4_t dot[4])
{
    for (int i = 0; i < 4; i++) dot[i] = vdupq_n_s32(0);
    if (dt == RT_Q8_0) {
        for (int g = 0; g < 8; g++) {           /* values 4g .. 4g + 3 */
            int32_t xv;
            memcpy(&xv, xq + 4 * g, sizeof xv);
            int8x16_t xb = vreinterpretq_s8_s32(vdupq_n_s32(xv));
            for (int i = 0; i < 4; i++) {
                int8x16_t w = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(q + 64 * g + 16 * i), vdupq_n_u8(0x80)));
                dot[i] = vdotq_s32(dot[i], w, xb);
            }
        }
        return;
    }
    for (int g = 0; g < 4; g++) {               /* values 4g .. 4g + 3 (low nibbles) and 16 + 4g .. (high) */
        int32_t lo, hi;
        memcpy(&lo, xq + 4 * g, sizeof lo);
        memcpy(&hi, xq + 16 + 4 * g, sizeof hi);
        int8x16_t xl = vreinterpretq_s8_s32(vdupq_n_s32(lo)), xh = vreinterpretq_s8_s32(vdupq_n_s32(hi));
        for (int i = 0; i < 4; i++) {
            uint8x16_t v = vld1q_u8(q + 64 * g + 16 * i);
            int8x16_t wl = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(15))), vdupq_n_s8(8));
            int8x16_t wh = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(v, 4)), vdupq_n_s8(8));
            dot[i] = vdotq_s32(vdotq_s32(dot[i], wl, xl), wh, xh);
        }
    }
}

SDOT_FN static void r16_sdot(const unsigned char *G, RtDtype dt, int nb, const QRow *x, int S, float out[R16_S][16])
{
    if (dt != RT_Q8_0 && dt != RT_Q4_0) {
        r16_scalar(G, dt, nb, x, S, out);
        return;
    }
    size_t bs = 16 * (size_t)block_bytes(dt);
    for (int s = 0; s < S; s++) {
        float32x4_t sum[4];
        for (int i = 0; i < 4; i++) sum[i] = vdupq_n_f32(0);
        for (int b = 0; b < nb; b++) {
            const unsigned char *blk = G + b * bs;
            rt_prefetch_ahead(blk, bs);
            int32x4_t dot[4];
            r16_block_sdot(blk + r16_quants(dt), dt, x[s].q + b * QK, dot);
            for (int i = 0; i < 4; i++) {   /* d of rows 4i .. 4i + 3: f16 at blk + 2r */
                float32x4_t dw = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)(const void *)(blk + 8 * i))));
                sum[i] = vaddq_f32(sum[i], vmulq_f32(vmulq_n_f32(dw, x[s].d[b]), vcvtq_f32_s32(dot[i])));
            }
        }
        for (int i = 0; i < 4; i++) vst1q_f32(out[s] + 4 * i, sum[i]);
    }
}
#endif

/* ---- dispatch ---- */

static const struct {
    const char *name;
    TileFn decode, prefill;     /* linears of at most TILE_S rows, and of more */
    R16Fn r16;                  /* weights in layout r16 */
} isas[] = {
    {"scalar", tile_scalar, tile_scalar, r16_scalar},
#if defined(__x86_64__)
    {"avx2", tile_avx2, tile_avx2, r16_avx2},
    {"avx512vnni", tile_vnni_decode, tile_vnni, r16_vnni},
#elif defined(__aarch64__)
    {"sdot", tile_scalar, tile_scalar, r16_sdot},
#endif
};
enum { NISA = sizeof isas / sizeof isas[0] };

static int isa_supported(int i)
{
#if defined(__x86_64__)
    if (i == 1) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");   /* F16C comes with both */
    if (i == 2)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512vnni") && isa_supported(1);
#elif defined(__aarch64__)
    if (i == 1) return rt_cpu_dotprod();
#endif
    return i == 0;
}

/* The best path the CPU has, or HETC_ISA's (when the CPU has it). */
static int chosen_isa(void)
{
    static int chosen = -1;
    if (chosen >= 0) return chosen;
    int best = 0;
    for (int i = 0; i < NISA; i++)
        if (isa_supported(i)) best = i;
    const char *want = getenv("HETC_ISA");
    for (int i = 0; want && i < NISA; i++)
        if (strcmp(want, isas[i].name) == 0 && isa_supported(i)) best = i;
    return chosen = best;
}

const char *rt_quant_isa(void) { return isas[chosen_isa()].name; }

/* ---- linear ---- */

typedef struct {
    float *out;                 /* [S, ldo] */
    int64_t ldo;
    const float *x;             /* [S, K] */
    const unsigned char *W;     /* [N, K / 32] blocks, or in layout r16 */
    RtDtype dt;                 /* without RT_R16 */
    int r16;
    const float *bias;          /* [N] or NULL */
    int S, N, K;
    TileFn tile;
    R16Fn r16fn;
} QLinear;

/* Activation rows s0 .. s0 + sb (quantised in buf) through weight rows n .. n + 16 of layout r16. */
static void r16_group(const QLinear *a, unsigned char *buf, int nb, int s0, int sb, int64_t n)
{
    const unsigned char *G = a->W + (size_t)n * row_bytes(a->dt, nb);
    for (int s = 0; s < sb; s += R16_S) {
        QRow x[R16_S];
        int S = sb - s < R16_S ? sb - s : R16_S;
        for (int i = 0; i < S; i++) x[i] = qrow_at(buf, nb, s + i);
        float o[R16_S][16];
        a->r16fn(G, a->dt, nb, x, S, o);
        for (int i = 0; i < S; i++)
            for (int r = 0; r < 16; r++) a->out[(s0 + s + i) * a->ldo + n + r] = o[i][r] + (a->bias ? a->bias[n + r] : 0.0f);
    }
}

static void qlinear_task(void *p, int ith, int nth)
{
    const QLinear *a = p;
    int nb = a->K / QK, off = weight_offset(a->dt), tn = a->r16 ? 16 : TILE_N;
    int64_t tiles = (a->N + tn - 1) / tn;
    int64_t n0 = tiles * ith / nth * tn, n1 = tiles * (ith + 1) / nth * tn;
    n1 = n1 < a->N ? n1 : a->N;
    if (n0 >= n1) return;
    int rows_per = (int)(QX_STACK / qrow_bytes(nb)) / R16_S * R16_S;
    rows_per = rows_per < R16_S ? R16_S : rows_per;
    unsigned char buf[QX_STACK + R16_S * qrow_bytes(nb) * (rows_per == R16_S)] __attribute__((aligned(64)));
    for (int s0 = 0; s0 < a->S; s0 += rows_per) {
        int sb = a->S - s0 < rows_per ? a->S - s0 : rows_per;
        for (int s = 0; s < sb; s++) quantise_row(a->x + (int64_t)(s0 + s) * a->K, a->K, off, qrow_at(buf, nb, s));
        for (int64_t n = n0; n < n1; n += tn) {
            if (a->r16) {
                r16_group(a, buf, nb, s0, sb, n);
                continue;
            }
            int rows = n1 - n < TILE_N ? (int)(n1 - n) : TILE_N;
            const unsigned char *w = a->W + (size_t)n * row_bytes(a->dt, nb);
            for (int s = 0; s < sb; s += TILE_S) {
                QRow x[TILE_S];
                int S = sb - s < TILE_S ? sb - s : TILE_S;
                for (int i = 0; i < S; i++) x[i] = qrow_at(buf, nb, s + i);
                float acc[TILE_N][TILE_S];
                a->tile(w, a->dt, nb, rows, x, S, acc);
                for (int r = 0; r < rows; r++)
                    for (int i = 0; i < S; i++)
                        a->out[(s0 + s + i) * a->ldo + n + r] = acc[r][i] + (a->bias ? a->bias[n + r] : 0.0f);
            }
        }
    }
}

void rt_qlinear(RtPool *pool, float *out, int64_t ldo, const float *x, const void *W, RtDtype dt,
                const float *bias, int S, int N, int K)
{
    QLinear a = {.out = out, .ldo = ldo, .x = x, .W = W, .dt = dt & ~RT_R16, .r16 = (dt & RT_R16) != 0, .bias = bias,
                 .S = S, .N = N, .K = K, .tile = S <= TILE_S ? isas[chosen_isa()].decode : isas[chosen_isa()].prefill,
                 .r16fn = isas[chosen_isa()].r16};
    if (!pool || (int64_t)S * N * K < (1 << 15)) qlinear_task(&a, 0, 1);
    else rt_pool_run(pool, qlinear_task, &a);
}

/* ---- rows as f32 ---- */

void rt_dequant_row(float *out, const void *W, RtDtype dt, int64_t first, int64_t n)
{
    const unsigned char *w = W;
    for (int64_t i = 0; i < n; i += QK) {
        int64_t b = (first + i) / QK;
        if (is_k(dt)) {
            const unsigned char *sb = w + (size_t)(b / 8) * k_bytes(dt);
            int j = (int)(b % 8), sc, m;
            if (has_min(dt)) {
                k4_scale_min(j, sb + 4, &sc, &m);
                float d1 = block_d(sb) * (float)sc, m1 = block_d(sb + 2) * (float)m;
                for (int l = 0; l < QK; l++) out[i + l] = d1 * (float)kquant(sb, dt, j, l) - m1;
            } else {
                for (int l = 0; l < QK; l++)
                    out[i + l] = block_d(sb + 208) * (float)k6_scale(sb, j, l / 16) * (float)(kquant(sb, dt, j, l) - 32);
            }
            continue;
        }
        const unsigned char *blk = w + (size_t)b * block_bytes(dt), *qs = blk + bytes_before_quants(dt);
        const unsigned char *qh = qs - 4;   /* q5: bit j of these 32, value j's fifth */
        float d = block_d(blk), m = has_m(dt) ? block_d(blk + 2) : 0;
        int off = dt == RT_Q8_0 ? 0 : weight_offset(dt);   /* q8_0's bytes are signed as stored */
        for (int j = 0; j < QK; j++) {
            int q = dt == RT_Q8_0 ? (int8_t)blk[2 + j] : j < 16 ? qs[j] & 15 : qs[j - 16] >> 4;
            if (is_5bit(dt)) q |= (qh[j / 8] >> (j % 8) & 1) << 4;
            out[i + j] = (float)(q - off) * d + m;
        }
    }
}
