/* fe_quant.c: llama.cpp's block weight formats, read into f32.
 *
 * A block type stores a row in blocks of 32 values (q8_0, q4_0, q4_1,
 * q5_0, q5_1) or of 256 (the K-quants q2_k .. q6_k): quants and f16
 * scales in a fixed number of bytes (ir_dtype_bytes). The layouts, all
 * little-endian, as ggml defines them:
 *
 *   q8_0  34 B: f16 d, i8 q[32]                       x = d q
 *   q4_0  18 B: f16 d, u8 qs[16]                      x = d (q - 8); q of value j < 16 in the low nibble
 *                                                     of qs[j], of value j + 16 in its high nibble
 *   q4_1  20 B: f16 d, f16 m, u8 qs[16]               x = d q + m
 *   q5_0  22 B: f16 d, u32 qh, u8 qs[16]              x = d (q - 16); bit 4 of value j is bit j of qh
 *   q5_1  24 B: f16 d, f16 m, u32 qh, u8 qs[16]       x = d q + m
 *   q2_k  84 B: u8 scales[16], u8 qs[64], f16 d, f16 dmin: 16 groups of 16 values, 2-bit quants,
 *               each group's 4-bit scale and 4-bit min: x = d sc q - dmin m
 *   q3_k 110 B: u8 hmask[32], u8 qs[64], u8 scales[12], f16 d: 16 groups of 16, 3-bit quants (the
 *               third bit in hmask, set meaning +0, clear -4), 6-bit scales biased by 32
 *   q4_k 144 B: f16 d, f16 dmin, u8 scales[12], u8 qs[128]: 8 groups of 32, 6-bit scales and mins
 *   q5_k 176 B: f16 d, f16 dmin, u8 scales[12], u8 qh[32], u8 qs[128]: as q4_k with a fifth bit
 *   q6_k 210 B: u8 ql[128], u8 qh[64], i8 scales[16], f16 d: 16 groups of 16, 6-bit quants - 32
 *
 * Each dequantiser computes in the order ggml's dequantize_row_* does
 * (the scale products first, in f32), so the values are those llama.cpp
 * and gguf-py's dequantisation give. The quantisers of the 32-value types
 * round as llama.cpp's reference quantize_row_*_ref do (what
 * llama-quantize writes without an importance matrix): q8_0 by amax/127,
 * q4_0 and q5_0 by the signed value of largest magnitude over -8 and -16,
 * q4_1 and q5_1 by the range over 15 and 31 from the minimum; the
 * K-quants q4_k, q5_k and q6_k as their reference quantisers do too (below).
 */
#include "fe.h"

#include <math.h>
#include <string.h>

static float f16(const unsigned char *p) { return fe_f16_to_f32((uint16_t)(p[0] | p[1] << 8)); }

uint16_t fe_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000, e = (x >> 23) & 0xff, m = x & 0x7fffff;
    if (e == 0xff) return (uint16_t)(sign | 0x7c00 | (m ? 0x200 : 0));
    int ne = (int)e - 127 + 15;
    if (ne >= 31) return (uint16_t)(sign | 0x7c00);
    if (ne <= 0) {
        if (ne < -10) return (uint16_t)sign;
        m |= 0x800000;
        int shift = 14 - ne;
        uint32_t half = m >> shift, rem = m & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = sign | ((uint32_t)ne << 10) | (m >> 13), rem = m & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) half++;
    return (uint16_t)half;
}

static uint32_t u32(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

static void q8_0(const unsigned char *b, float *y)
{
    float d = f16(b);
    for (int j = 0; j < 32; j++) y[j] = (float)(int8_t)b[2 + j] * d;
}

static void q4_0(const unsigned char *b, float *y)
{
    float d = f16(b);
    for (int j = 0; j < 16; j++) {
        y[j] = (float)((b[2 + j] & 15) - 8) * d;
        y[j + 16] = (float)((b[2 + j] >> 4) - 8) * d;
    }
}

static void q4_1(const unsigned char *b, float *y)
{
    float d = f16(b), m = f16(b + 2);
    for (int j = 0; j < 16; j++) {
        y[j] = (float)(b[4 + j] & 15) * d + m;
        y[j + 16] = (float)(b[4 + j] >> 4) * d + m;
    }
}

static void q5_0(const unsigned char *b, float *y)
{
    float d = f16(b);
    uint32_t qh = u32(b + 2);
    for (int j = 0; j < 16; j++) {
        int h0 = (int)((qh >> j) << 4 & 16), h1 = (int)((qh >> (j + 12)) & 16);
        y[j] = (float)(((b[6 + j] & 15) | h0) - 16) * d;
        y[j + 16] = (float)(((b[6 + j] >> 4) | h1) - 16) * d;
    }
}

static void q5_1(const unsigned char *b, float *y)
{
    float d = f16(b), m = f16(b + 2);
    uint32_t qh = u32(b + 4);
    for (int j = 0; j < 16; j++) {
        int h0 = (int)((qh >> j) << 4 & 16), h1 = (int)((qh >> (j + 12)) & 16);
        y[j] = (float)((b[8 + j] & 15) | h0) * d + m;
        y[j + 16] = (float)((b[8 + j] >> 4) | h1) * d + m;
    }
}

static void q2_k(const unsigned char *b, float *y)
{
    const unsigned char *sc = b, *q = b + 16;
    float d = f16(b + 80), dmin = f16(b + 82);
    for (int n = 0, is = 0; n < 256; n += 128, q += 32)
        for (int shift = 0; shift < 8; shift += 2)
            for (int half = 0; half < 2; half++, is++) {
                float dl = d * (float)(sc[is] & 15), ml = dmin * (float)(sc[is] >> 4);
                for (int l = 0; l < 16; l++) *y++ = dl * (float)((q[l + 16 * half] >> shift) & 3) - ml;
            }
}

/* q3_k's 16 6-bit scales from their 12 bytes: the low 4 bits of scale i in
 * byte i % 8 (low nibble for i < 8), its high 2 bits in bytes 8..11. */
static void q3_k_scales(const unsigned char *s, int8_t out[16])
{
    for (int i = 0; i < 16; i++) {
        int lo = i < 8 ? s[i] & 15 : s[i - 8] >> 4;
        int hi = (s[8 + i % 4] >> (2 * (i / 4))) & 3;
        out[i] = (int8_t)((lo | hi << 4) - 32);
    }
}

static void q3_k(const unsigned char *b, float *y)
{
    const unsigned char *hm = b, *q = b + 32;
    int8_t sc[16];
    q3_k_scales(b + 96, sc);
    float d = f16(b + 108);
    unsigned m = 1;
    for (int n = 0, is = 0; n < 256; n += 128, q += 32)
        for (int shift = 0; shift < 8; shift += 2, m <<= 1)
            for (int half = 0; half < 2; half++, is++) {
                float dl = d * (float)sc[is];
                for (int l = 16 * half; l < 16 * half + 16; l++)
                    *y++ = dl * (float)(((q[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4));
            }
}

/* Scale and min j (0..7) of a q4_k/q5_k block's 12 bytes: 6 bits each,
 * j < 4 in the low 6 bits of bytes j and j + 4, the others' low 4 bits in
 * byte j + 4 and high 2 bits in the top of bytes j - 4 and j. */
static void k4_scale_min(int j, const unsigned char *q, float *sc, float *m)
{
    if (j < 4) {
        *sc = (float)(q[j] & 63);
        *m = (float)(q[j + 4] & 63);
    } else {
        *sc = (float)((q[j + 4] & 15) | (q[j - 4] >> 6) << 4);
        *m = (float)((q[j + 4] >> 4) | (q[j] >> 6) << 4);
    }
}

static void q4_k(const unsigned char *b, float *y)
{
    float d = f16(b), dmin = f16(b + 2), sc, m;
    const unsigned char *s = b + 4, *q = b + 16;
    for (int j = 0, is = 0; j < 256; j += 64, q += 32, is += 2) {
        k4_scale_min(is, s, &sc, &m);
        float d1 = d * sc, m1 = dmin * m;
        k4_scale_min(is + 1, s, &sc, &m);
        float d2 = d * sc, m2 = dmin * m;
        for (int l = 0; l < 32; l++) *y++ = d1 * (float)(q[l] & 15) - m1;
        for (int l = 0; l < 32; l++) *y++ = d2 * (float)(q[l] >> 4) - m2;
    }
}

static void q5_k(const unsigned char *b, float *y)
{
    float d = f16(b), dmin = f16(b + 2), sc, m;
    const unsigned char *s = b + 4, *qh = b + 16, *ql = b + 48;
    unsigned u1 = 1, u2 = 2;
    for (int j = 0, is = 0; j < 256; j += 64, ql += 32, is += 2, u1 <<= 2, u2 <<= 2) {
        k4_scale_min(is, s, &sc, &m);
        float d1 = d * sc, m1 = dmin * m;
        k4_scale_min(is + 1, s, &sc, &m);
        float d2 = d * sc, m2 = dmin * m;
        for (int l = 0; l < 32; l++) *y++ = d1 * (float)((ql[l] & 15) + (qh[l] & u1 ? 16 : 0)) - m1;
        for (int l = 0; l < 32; l++) *y++ = d2 * (float)((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
    }
}

static void q6_k(const unsigned char *b, float *y)
{
    const unsigned char *ql = b, *qh = b + 128;
    const int8_t *sc = (const int8_t *)(b + 192);
    float d = f16(b + 208);
    for (int n = 0; n < 256; n += 128, y += 128, ql += 64, qh += 32, sc += 8)
        for (int l = 0; l < 32; l++) {
            int is = l / 16;
            int q1 = ((ql[l] & 15) | ((qh[l] >> 0) & 3) << 4) - 32;
            int q2 = ((ql[l + 32] & 15) | ((qh[l] >> 2) & 3) << 4) - 32;
            int q3 = ((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32;
            int q4 = ((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32;
            y[l] = d * (float)sc[is] * (float)q1;
            y[l + 32] = d * (float)sc[is + 2] * (float)q2;
            y[l + 64] = d * (float)sc[is + 4] * (float)q3;
            y[l + 96] = d * (float)sc[is + 6] * (float)q4;
        }
}

void fe_dequant(IrDtype t, const void *blocks, float *out, int64_t n)
{
    static void (*const fn[IR_DTYPE_COUNT])(const unsigned char *, float *) = {
        [IR_Q8_0] = q8_0, [IR_Q4_0] = q4_0, [IR_Q4_1] = q4_1, [IR_Q5_0] = q5_0, [IR_Q5_1] = q5_1,
        [IR_Q2_K] = q2_k, [IR_Q3_K] = q3_k, [IR_Q4_K] = q4_k, [IR_Q5_K] = q5_k, [IR_Q6_K] = q6_k,
    };
    if (!ir_dtype_is_block(t) || !fn[t] || n % ir_dtype_block(t)) IR_BUG("fe_dequant: %s x %lld", ir_dtype_name(t), (long long)n);
    const unsigned char *b = blocks;
    int per = ir_dtype_block(t), bytes = (int)ir_dtype_bytes(t, per);
    for (int64_t i = 0; i < n; i += per, b += bytes) fn[t](b, out + i);
}

/* ---- quantisation: llama.cpp's reference rounding (quantize_row_*_ref) ---- */

static void put_f16(unsigned char *p, float f)
{
    uint16_t h = fe_f32_to_f16(f);
    p[0] = (unsigned char)h;
    p[1] = (unsigned char)(h >> 8);
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* The value of largest magnitude (the first such, with its sign). */
static float signed_absmax(const float *x)
{
    float amax = 0, max = 0;
    for (int j = 0; j < 32; j++)
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    return max;
}

static void range(const float *x, float *lo, float *hi)
{
    *lo = x[0];
    *hi = x[0];
    for (int j = 1; j < 32; j++) {
        *lo = x[j] < *lo ? x[j] : *lo;
        *hi = x[j] > *hi ? x[j] : *hi;
    }
}

static int min_int(int a, int b) { return a < b ? a : b; }

static void quant_q8_0(const float *x, unsigned char *b)
{
    float amax = 0;
    for (int j = 0; j < 32; j++) amax = fabsf(x[j]) > amax ? fabsf(x[j]) : amax;
    float d = amax / 127, id = d ? 1 / d : 0;
    put_f16(b, d);
    for (int j = 0; j < 32; j++) b[2 + j] = (unsigned char)(int8_t)roundf(x[j] * id);
}

static void quant_q4_0(const float *x, unsigned char *b)
{
    float d = signed_absmax(x) / -8, id = d ? 1 / d : 0;
    put_f16(b, d);
    for (int j = 0; j < 16; j++) {
        int lo = min_int(15, (int8_t)(x[j] * id + 8.5f)), hi = min_int(15, (int8_t)(x[16 + j] * id + 8.5f));
        b[2 + j] = (unsigned char)(lo | hi << 4);
    }
}

static void quant_q4_1(const float *x, unsigned char *b)
{
    float lo, hi;
    range(x, &lo, &hi);
    float d = (hi - lo) / 15, id = d ? 1 / d : 0;
    put_f16(b, d);
    put_f16(b + 2, lo);
    for (int j = 0; j < 16; j++) {
        int q0 = min_int(15, (int8_t)((x[j] - lo) * id + 0.5f)), q1 = min_int(15, (int8_t)((x[16 + j] - lo) * id + 0.5f));
        b[4 + j] = (unsigned char)(q0 | q1 << 4);
    }
}

/* q5_0 and q5_1 share the packing: low nibbles in qs, fifth bits in qh. */
static void pack_q5(const int q[32], unsigned char *qh, unsigned char *qs)
{
    uint32_t h = 0;
    for (int j = 0; j < 16; j++) {
        qs[j] = (unsigned char)((q[j] & 15) | (q[16 + j] & 15) << 4);
        h |= (uint32_t)((q[j] & 16) >> 4) << j | (uint32_t)((q[16 + j] & 16) >> 4) << (j + 16);
    }
    put_u32(qh, h);
}

static void quant_q5_0(const float *x, unsigned char *b)
{
    float d = signed_absmax(x) / -16, id = d ? 1 / d : 0;
    int q[32];
    put_f16(b, d);
    for (int j = 0; j < 32; j++) q[j] = min_int(31, (int8_t)(x[j] * id + 16.5f));
    pack_q5(q, b + 2, b + 6);
}

static void quant_q5_1(const float *x, unsigned char *b)
{
    float lo, hi;
    range(x, &lo, &hi);
    float d = (hi - lo) / 31, id = d ? 1 / d : 0;
    int q[32];
    put_f16(b, d);
    put_f16(b + 2, lo);
    for (int j = 0; j < 32; j++) q[j] = (uint8_t)((x[j] - lo) * id + 0.5f);
    pack_q5(q, b + 4, b + 8);
}

/* ---- K-quants: a search for each group's scale (and min), then 6-bit
 * (q4_k, q5_k: 8 bits, q6_k) scales of those against the block's f16 d.
 * Every step is the float arithmetic of llama.cpp's reference quantisers
 * in their order (this file is built without contraction into fused
 * multiply-adds, as ggml's are on x86-64), so the bytes are llama-quantize's
 * without an importance matrix. */

/* Nearest integer, ties to even, of |x| < 2^22: adding 1.5 * 2^23 leaves
 * the integer in the low mantissa bits (the rounding llama.cpp's use). */
static int nearest(float x)
{
    float v = x + 12582912.f;
    int32_t i;
    memcpy(&i, &v, 4);
    return (i & 0x007fffff) - 0x00400000;
}

static int clamp_int(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Scale and min of n values as x ~ scale L - min, L in 0..nmax, minimising
 * the weighted squared error: the range's fit, then nstep + 1 candidate
 * scales (rmin + rdelta i + nmax levels over the range), each refined by
 * least squares (the min clamped to <= 0). L gets the levels; returns the
 * scale, *neg_min the min's negation (>= 0). */
static float fit_scale_min(int n, int nmax, const float *x, const float *w, uint8_t *L, float *neg_min, float rmin,
                           float rdelta, int nstep)
{
    float min = x[0], max = x[0], sum_w = w[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        min = x[i] < min ? x[i] : min;
        max = x[i] > max ? x[i] : max;
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *neg_min = -min;
        return 0;
    }
    float iscale = nmax / (max - min), scale = 1 / iscale, best = 0;
    for (int i = 0; i < n; i++) {
        L[i] = (uint8_t)clamp_int(nearest(iscale * (x[i] - min)), 0, nmax);
        float diff = scale * L[i] + min - x[i];
        best += w[i] * (diff * diff);
    }
    uint8_t cand[32];
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = clamp_int(nearest(iscale * (x[i] - min)), 0, nmax);
            cand[i] = (uint8_t)l;
            sum_l += w[i] * l;
            sum_l2 += w[i] * l * l;
            sum_xl += w[i] * l * x[i];
        }
        float det = sum_w * sum_l2 - sum_l * sum_l;
        if (det <= 0) continue;
        float s = (sum_w * sum_xl - sum_x * sum_l) / det, m = (sum_l2 * sum_x - sum_l * sum_xl) / det;
        if (m > 0) {
            m = 0;
            s = sum_xl / sum_l2;
        }
        float err = 0;
        for (int i = 0; i < n; i++) {
            float diff = s * cand[i] + m - x[i];
            err += w[i] * (diff * diff);
        }
        if (err < best) {
            memcpy(L, cand, (size_t)n);
            best = err;
            scale = s;
            min = m;
        }
    }
    *neg_min = -min;
    return scale;
}

/* Scale of 16 values as x ~ scale (L - 32), L in 0..63, weighted by x^2:
 * the value of largest magnitude at -32 levels, then 18 nearby level
 * counts, each refined by least squares, the best kept. */
static float fit_scale_q6(const float *x, int8_t *L)
{
    const int nmax = 32;
    float amax = 0, max = 0;
    for (int i = 0; i < 16; i++)
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    if (amax < 1e-15f) {
        memset(L, 0, 16);
        return 0;
    }
    float iscale = -nmax / max, sumlx = 0, suml2 = 0;
    for (int i = 0; i < 16; i++) {
        int l = clamp_int(nearest(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)(l + nmax);
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f, best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < 16; i++) {
            int l = clamp_int(nearest(iscale * x[i]), -nmax, nmax - 1);
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < 16; i++) L[i] = (int8_t)(nmax + clamp_int(nearest(iscale * x[i]), -nmax, nmax - 1));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* q4_k and q5_k (nmax 15 or 31): each group of 32 fitted with weights
 * rms(x) + |x|, its scale and min to 6 bits of the block's d and dmin, then
 * the values quantised again against those. Writes d, dmin and the 12
 * scale bytes; L gets the 256 levels. */
static void quant_k_groups(const float *x, unsigned char *b, int nmax, uint8_t L[256])
{
    float scales[8], mins[8], max_scale = 0, max_min = 0, w[32];
    for (int j = 0; j < 8; j++) {
        const float *g = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += g[l] * g[l];
        float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) w[l] = av_x + fabsf(g[l]);
        scales[j] = fit_scale_min(32, nmax, g, w, L + 32 * j, &mins[j], nmax == 15 ? -1.f : -0.5f, 0.1f,
                                  nmax == 15 ? 20 : 15);
        max_scale = scales[j] > max_scale ? scales[j] : max_scale;
        max_min = mins[j] > max_min ? mins[j] : max_min;
    }
    float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f, inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    unsigned char *sc = b + 4;
    memset(sc, 0, 12);
    for (int j = 0; j < 8; j++) {
        uint8_t ls = (uint8_t)nearest(inv_scale * scales[j]), lm = (uint8_t)nearest(inv_min * mins[j]);
        ls = ls < 63 ? ls : 63;
        lm = lm < 63 ? lm : 63;
        if (j < 4) {
            sc[j] = ls;
            sc[j + 4] = lm;
        } else {
            sc[j + 4] = (unsigned char)((ls & 15) | (lm & 15) << 4);
            sc[j - 4] |= (unsigned char)((ls >> 4) << 6);
            sc[j] |= (unsigned char)((lm >> 4) << 6);
        }
    }
    put_f16(b, max_scale / 63.f);
    put_f16(b + 2, max_min / 63.f);
    float d = f16(b), dmin = f16(b + 2);
    for (int j = 0; j < 8; j++) {
        float s, m;
        k4_scale_min(j, sc, &s, &m);
        float dj = d * s;
        if (!dj) continue;
        float dm = dmin * m;
        for (int l = 0; l < 32; l++) L[32 * j + l] = (uint8_t)clamp_int(nearest((x[32 * j + l] + dm) / dj), 0, nmax);
    }
}

static void quant_q4_k(const float *x, unsigned char *b)
{
    uint8_t L[256];
    quant_k_groups(x, b, 15, L);
    unsigned char *q = b + 16;
    for (int j = 0; j < 256; j += 64, q += 32)
        for (int l = 0; l < 32; l++) q[l] = (unsigned char)(L[j + l] | L[j + l + 32] << 4);
}

static void quant_q5_k(const float *x, unsigned char *b)
{
    uint8_t L[256];
    quant_k_groups(x, b, 31, L);
    unsigned char *qh = b + 16, *ql = b + 48;
    memset(qh, 0, 32);
    for (int n = 0, bit = 0; n < 256; n += 64, bit += 2, ql += 32)
        for (int j = 0; j < 32; j++) {
            int l1 = L[n + j], l2 = L[n + j + 32];
            qh[j] |= (unsigned char)((l1 >> 4) << bit | (l2 >> 4) << (bit + 1));
            ql[j] = (unsigned char)((l1 & 15) | (l2 & 15) << 4);
        }
}

/* q6_k: 16 groups of 16 fitted (fit_scale_q6), their scales to int8 of
 * the block's d (the largest at -128), the values quantised again. */
static void quant_q6_k(const float *x, unsigned char *b)
{
    int8_t L[256];
    float scales[16], max_scale = 0, max_abs = 0;
    for (int ib = 0; ib < 16; ib++) {
        scales[ib] = fit_scale_q6(x + 16 * ib, L + 16 * ib);
        if (fabsf(scales[ib]) > max_abs) {
            max_abs = fabsf(scales[ib]);
            max_scale = scales[ib];
        }
    }
    unsigned char *ql = b, *qh = b + 128;
    int8_t *sc = (int8_t *)(b + 192);
    if (max_abs < 1e-15f) {
        memset(b, 0, 210);
        return;
    }
    float iscale = -128.f / max_scale;
    put_f16(b + 208, 1 / iscale);
    for (int ib = 0; ib < 16; ib++) sc[ib] = (int8_t)min_int(127, nearest(iscale * scales[ib]));
    float d = f16(b + 208);
    for (int j = 0; j < 16; j++) {
        float dj = d * sc[j];
        if (!dj) continue;
        for (int i = 0; i < 16; i++) L[16 * j + i] = (int8_t)(clamp_int(nearest(x[16 * j + i] / dj), -32, 31) + 32);
    }
    for (int j = 0; j < 256; j += 128, ql += 64, qh += 32)
        for (int l = 0; l < 32; l++) {
            int q1 = L[j + l], q2 = L[j + l + 32], q3 = L[j + l + 64], q4 = L[j + l + 96];
            ql[l] = (unsigned char)((q1 & 15) | (q3 & 15) << 4);
            ql[l + 32] = (unsigned char)((q2 & 15) | (q4 & 15) << 4);
            qh[l] = (unsigned char)(q1 >> 4 | (q2 >> 4) << 2 | (q3 >> 4) << 4 | (q4 >> 4) << 6);
        }
}

int fe_can_quant(IrDtype t)
{
    return t == IR_Q8_0 || t == IR_Q4_0 || t == IR_Q4_1 || t == IR_Q5_0 || t == IR_Q5_1 || t == IR_Q4_K ||
           t == IR_Q5_K || t == IR_Q6_K;
}

void fe_quant(IrDtype t, const float *x, void *blocks, int64_t n)
{
    static void (*const fn[IR_DTYPE_COUNT])(const float *, unsigned char *) = {
        [IR_Q8_0] = quant_q8_0, [IR_Q4_0] = quant_q4_0, [IR_Q4_1] = quant_q4_1, [IR_Q5_0] = quant_q5_0,
        [IR_Q5_1] = quant_q5_1, [IR_Q4_K] = quant_q4_k, [IR_Q5_K] = quant_q5_k, [IR_Q6_K] = quant_q6_k,
    };
    int block = ir_dtype_block(t);
    if (!fe_can_quant(t) || n % block) IR_BUG("fe_quant: %s x %lld", ir_dtype_name(t), (long long)n);
    unsigned char *b = blocks;
    int bytes = (int)ir_dtype_bytes(t, block);
    for (int64_t i = 0; i < n; i += block, b += bytes) fn[t](x + i, b);
}
