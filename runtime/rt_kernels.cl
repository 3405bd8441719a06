/* rt_kernels.cl: the OpenCL C 1.2 kernel templates of hetc's gpu units.
 *
 * FORMAT. The compiler cuts this file into families. A family is a section
 * that starts with a line beginning with the marker '//@family', followed by
 * the family's NAME and its PARAMs (space separated), and runs to the next
 * marker line or to the end of the file; this comment belongs to no family.
 * codegen/cg_cltemplate.c instantiates a family by writing
 *     #define KNAME(base) base##SUFFIX      (SUFFIX unique in the program)
 *     #define PARAM VALUE                    (one per PARAM, in order)
 *     <the family's text>
 *     #undef ... (all of the above)
 * so one program can hold many instances of a family. A family's text
 *   - names every kernel and helper function KNAME(base);
 *   - uses its PARAMs as compile-time constants (shapes, weight type);
 *     runtime values (S, P, offsets, eps, scale) are kernel arguments;
 *   - #undefs every macro it defines itself, at its end.
 *
 * PROGRAM. kernels.cl, as the compiler writes it, is:
 *     #define HETC_WG 256     work-group size of the 1-D kernels: a power of
 *                             two, 32..min(512, CL_DEVICE_MAX_WORK_GROUP_SIZE)
 *                             (NVIDIA H200: 256; PoCL: 64)
 *     #define HETC_TILE 16    edge of the GEMM work-group (local size
 *                             HETC_TILE x HETC_TILE): 8 or 16 (GPUs: 16);
 *                             the GEMM uses 4 * T * (12T + 8) bytes of local
 *                             memory (12.8 KB at 16)
 *     #define HETC_FP16 0     1: the device has cl_khr_fp16 and the target
 *                             allows it
 *     the family 'common', once, then every instance.
 * Build options must not relax the math (no -cl-fast-relaxed-math or
 * -cl-unsafe-math-optimizations): RoPE and softmax rely on the full-precision
 * sin, cos and exp.
 *
 * CONVENTIONS. Activations are f32. The compiler keeps them in one arena
 * buffer, so every activation argument is a pair (buffer, int offset in
 * ELEMENTS). Offsets need no alignment, but gemv and gemm read x with vector
 * loads only when x_off is a multiple of 4 (much faster on NVIDIA). Weights
 * are separate buffers of WT (float, half or blocks: see 'common') without offset; biases and
 * RoPE tables are f32 buffers. Half weights are widened exactly (vload_half*,
 * 32-bit loads and integer operations, or native half loads when HETC_FP16)
 * and all arithmetic is f32: half accumulation would break the 1e-4
 * agreement with the CPU kernels, so HETC_FP16 only changes how half
 * weights are loaded. S = tokens in the step, P = tokens already in the KV
 * cache. Work sizes below: global and local per kernel, for
 * clEnqueueNDRangeKernel; up(x, m) = x rounded up to a multiple of m. Local
 * sizes are exact (kernels with local memory declare them with
 * reqd_work_group_size); "any" means pass NULL. Every kernel ignores the
 * work-items past its data, so rounded-up global sizes are fine. */

//@family common
/* Helpers of every family: instantiate once, first (KNAME is unused).
 *
 * LOAD_W(p, i)      element i of a weight row p (WT *) as float
 * LOAD_W4(p, i)     elements 4i..4i+3 as float4, any alignment
 * LOAD_W4A(p, i)    the same when p + 4i is aligned to 4 elements
 * LOAD_W8(p, i)     elements 8i..8i+7 as float8, any alignment
 * LOAD_W8A(p, i)    the same when p + 8i is aligned to 8 elements
 * LOAD_Q8A(p, i)    elements 8i..8i+7 unscaled, aligned (a block type's
 *                   d (q - c); the float types' values)
 * LOAD_D8(p, i)     their scale (the block's d; 1 for the float types)
 * W_ROW(p, n, k)    row n of a weight matrix p of k columns
 * The macros pick the function for the family's WT by name
 * (hetc_load4_half, hetc_load4_float, hetc_load8a_q4_0, ...).
 *
 * WT is float, half, or one of llama.cpp's block types q8_0 and q4_0
 * (bytes; a row is k / 32 blocks): their values are widened to f32
 * exactly (d * q), so the kernels compute the float forward over the
 * dequantised weights. A q8_0 block is 34 bytes, the half scale d, then
 * 32 int8 q; a q4_0 block 18 bytes, d, then 16 bytes whose low nibbles
 * are values 0..15 and high nibbles 16..31, each nibble minus 8. Blocks
 * are 2-byte aligned only: the quants are read as 16-bit words.
 * q8_0g and q4_0g are those types in layout g4 (pass place): each group
 * of 4 blocks (128 values: 136 or 72 bytes) holds the 4 scales, then the
 * quants in aligned words, q4_0g's value 8j + k in nibble k of word j, so
 * that 8 values take one 64- or 32-bit load. Unscaled values are made
 * exact with 2^23 arithmetic: the float of bits 0x4B000000 | q is 2^23 + q. */
#if HETC_FP16
#pragma OPENCL EXTENSION cl_khr_fp16 : enable
#endif

#define HETC_CAT2(a, b) a##b
#define HETC_CAT(a, b) HETC_CAT2(a, b)
#define LOAD_W(p, i) HETC_CAT(hetc_load1_, WT)(p, i)
#define LOAD_W4(p, i) HETC_CAT(hetc_load4_, WT)(p, i)
#define LOAD_W4A(p, i) HETC_CAT(hetc_load4a_, WT)(p, i)
#define LOAD_W8(p, i) HETC_CAT(hetc_load8_, WT)(p, i)
#define LOAD_W8A(p, i) HETC_CAT(hetc_load8a_, WT)(p, i)
#define LOAD_Q8A(p, i) HETC_CAT(hetc_loadq8a_, WT)(p, i)
#define LOAD_D8(p, i) HETC_CAT(hetc_d8_, WT)(p, i)
#define W_ROW(p, n, k) ((p) + (size_t)(n) * HETC_CAT(hetc_row_, WT)(k))
#define hetc_row_float(k) (k)
#define hetc_row_half(k) (k)
#define hetc_row_q8_0(k) ((k) / 32 * 34)
#define hetc_row_q4_0(k) ((k) / 32 * 18)
#define hetc_row_q8_0g(k) ((k) / 32 * 34)
#define hetc_row_q4_0g(k) ((k) / 32 * 18)
#define hetc_loadq8a_float(p, i) hetc_load8a_float(p, i)
#define hetc_loadq8a_half(p, i) hetc_load8a_half(p, i)
#define hetc_loadq8a_q8_0(p, i) hetc_load8a_q8_0(p, i)
#define hetc_loadq8a_q4_0(p, i) hetc_load8a_q4_0(p, i)
#define hetc_d8_float(p, i) 1.0f
#define hetc_d8_half(p, i) 1.0f
#define hetc_d8_q8_0(p, i) 1.0f
#define hetc_d8_q4_0(p, i) 1.0f
typedef uchar q8_0;
typedef uchar q4_0;
typedef uchar q8_0g;
typedef uchar q4_0g;

float hetc_load1_float(global const float *p, int i)
{
    return p[i];
}

float4 hetc_load4_float(global const float *p, int i)
{
    return vload4(i, p);
}

float4 hetc_load4a_float(global const float *p, int i)
{
    return ((global const float4 *)p)[i];
}

float8 hetc_load8_float(global const float *p, int i)
{
    return vload8(i, p);
}

float8 hetc_load8a_float(global const float *p, int i)
{
    return ((global const float8 *)p)[i];
}

float hetc_load1_half(global const half *p, int i)
{
    return vload_half(i, p);
}

float4 hetc_load4_half(global const half *p, int i)
{
    return vload_half4(i, p);
}

float8 hetc_load8_half(global const half *p, int i)
{
    return vload_half8(i, p);
}

#if HETC_FP16
float4 hetc_load4a_half(global const half *p, int i)
{
    return convert_float4(((global const half4 *)p)[i]);
}

float8 hetc_load8a_half(global const half *p, int i)
{
    return convert_float8(((global const half8 *)p)[i]);
}
#else
/* Without cl_khr_fp16, aligned half weights are loaded as 32-bit words (one
 * vector load: some compilers turn vloada_half8 into eight 2-byte loads) and
 * widened with integer operations: the 15 bits of exponent and mantissa of
 * each half move to bits 13..27 of a float, the sign to bit 31, and a
 * multiplication by 2^112 rebiases the exponent. That is exact for normal
 * and subnormal values (these pass through f32 subnormals, so the device
 * must not flush denormals); infinities and NaNs, which weights never hold,
 * become large finite values. */
float4 hetc_half_lo(uint4 w)
{
    return as_float4(((w << 13) & 0x0fffe000u) | ((w << 16) & 0x80000000u)) * 0x1p112f;
}

float4 hetc_half_hi(uint4 w)
{
    return as_float4(((w >> 3) & 0x0fffe000u) | (w & 0x80000000u)) * 0x1p112f;
}

float4 hetc_load4a_half(global const half *p, int i)
{
    uint2 w = ((global const uint2 *)p)[i];
    float4 lo = hetc_half_lo((uint4)(w, 0, 0)), hi = hetc_half_hi((uint4)(w, 0, 0));
    return (float4)(lo.s0, hi.s0, lo.s1, hi.s1);
}

float8 hetc_load8a_half(global const half *p, int i)
{
    uint4 w = ((global const uint4 *)p)[i];
    float4 lo = hetc_half_lo(w), hi = hetc_half_hi(w);
    return (float8)(lo.s0, hi.s0, lo.s1, hi.s1, lo.s2, hi.s2, lo.s3, hi.s3);
}
#endif

/* The scale of the block at b. */
float hetc_block_d(global const uchar *b)
{
    return vload_half(0, (global const half *)b);
}

/* n / 2 16-bit words of quants at b (2-byte aligned) as bytes. */
uchar4 hetc_bytes4(global const uchar *b)
{
    return as_uchar4(vload2(0, (global const ushort *)b));
}

uchar8 hetc_bytes8(global const uchar *b)
{
    return as_uchar8(vload4(0, (global const ushort *)b));
}

float hetc_load1_q8_0(global const q8_0 *p, int i)
{
    global const uchar *b = p + i / 32 * 34;
    return hetc_block_d(b) * (float)as_char(b[2 + i % 32]);
}

float4 hetc_load4_q8_0(global const q8_0 *p, int i)
{
    global const uchar *b = p + i / 8 * 34;
    return hetc_block_d(b) * convert_float4(as_char4(hetc_bytes4(b + 2 + i % 8 * 4)));
}

float8 hetc_load8_q8_0(global const q8_0 *p, int i)
{
    global const uchar *b = p + i / 4 * 34;
    return hetc_block_d(b) * convert_float8(as_char8(hetc_bytes8(b + 2 + i % 4 * 8)));
}

float4 hetc_load4a_q8_0(global const q8_0 *p, int i)
{
    return hetc_load4_q8_0(p, i);
}

float8 hetc_load8a_q8_0(global const q8_0 *p, int i)
{
    return hetc_load8_q8_0(p, i);
}

float hetc_load1_q4_0(global const q4_0 *p, int i)
{
    global const uchar *b = p + i / 32 * 18;
    int j = i % 32;
    return hetc_block_d(b) * (float)(((b[2 + j % 16] >> (j / 16 * 4)) & 15) - 8);
}

/* Values 4i..4i+3 of a row: group i % 8 of its block, the low nibbles of
 * bytes 0..15 for groups 0..3, the high ones for 4..7. */
float4 hetc_load4_q4_0(global const q4_0 *p, int i)
{
    global const uchar *b = p + i / 8 * 18;
    int g = i % 8;
    uchar4 q = hetc_bytes4(b + 2 + g % 4 * 4);
    q = g < 4 ? q & (uchar)15 : q >> (uchar)4;
    return hetc_block_d(b) * (convert_float4(q) - 8.0f);
}

float8 hetc_load8_q4_0(global const q4_0 *p, int i)
{
    global const uchar *b = p + i / 4 * 18;
    int g = i % 4;
    uchar8 q = hetc_bytes8(b + 2 + g % 2 * 8);
    q = g < 2 ? q & (uchar)15 : q >> (uchar)4;
    return hetc_block_d(b) * (convert_float8(q) - 8.0f);
}

float4 hetc_load4a_q4_0(global const q4_0 *p, int i)
{
    return hetc_load4_q4_0(p, i);
}

float8 hetc_load8a_q4_0(global const q4_0 *p, int i)
{
    return hetc_load8_q4_0(p, i);
}

/* The loads of a layout-g4 type T from its unscaled 8 values and their
 * scale (hetc_loadq8a_T, hetc_d8_T) and its 4 values (hetc_load4_T). */
#define HETC_G4_LOADS(T)                                                     \
    float8 hetc_load8a_##T(global const T *p, int i)                         \
    {                                                                        \
        return hetc_d8_##T(p, i) * hetc_loadq8a_##T(p, i);                   \
    }                                                                        \
    float8 hetc_load8_##T(global const T *p, int i)                          \
    {                                                                        \
        return hetc_load8a_##T(p, i);                                        \
    }                                                                        \
    float4 hetc_load4a_##T(global const T *p, int i)                         \
    {                                                                        \
        return hetc_load4_##T(p, i);                                         \
    }

/* Layout g4: the 128-value group of value 8i (i as 8-value index), and
 * the scale of value 8i's block. */
global const uchar *hetc_g4(global const uchar *p, int i, int group_bytes)
{
    return p + (i >> 4) * group_bytes;
}

float hetc_g4_d(global const uchar *g, int i)
{
    return vload_half((i >> 2) & 3, (global const half *)g);
}

/* q4_0g: nibbles of a word, the first 4 or all 8, minus 8, exactly. */
float4 hetc_nib4(uint w)
{
    uint4 q = (uint4)(w, w >> 4, w >> 8, w >> 12) & 15u;
    return as_float4(q | 0x4B000000u) - 8388616.0f;
}

float8 hetc_nib8(uint w)
{
    return (float8)(hetc_nib4(w), hetc_nib4(w >> 16));
}

float8 hetc_loadq8a_q4_0g(global const q4_0g *p, int i)
{
    return hetc_nib8(((global const uint *)(hetc_g4(p, i, 72) + 8))[i & 15]);
}

float hetc_d8_q4_0g(global const q4_0g *p, int i)
{
    return hetc_g4_d(hetc_g4(p, i, 72), i);
}

float4 hetc_load4_q4_0g(global const q4_0g *p, int i)
{
    global const uchar *g = hetc_g4(p, i >> 1, 72);
    uint w = ((global const uint *)(g + 8))[(i >> 1) & 15];
    return hetc_g4_d(g, i >> 1) * hetc_nib4(w >> (16 * (i & 1)));
}

float hetc_load1_q4_0g(global const q4_0g *p, int i)
{
    global const uchar *g = hetc_g4(p, i >> 3, 72);
    uint w = ((global const uint *)(g + 8))[(i >> 3) & 15];
    return hetc_g4_d(g, i >> 3) * hetc_nib4(w >> (4 * (i & 7))).s0;
}

HETC_G4_LOADS(q4_0g)

/* q8_0g: signed bytes made exact floats through 2^23 + (q + 128). */
float4 hetc_bytes4f(uint w)
{
    uint4 q = ((uint4)(w, w >> 8, w >> 16, w >> 24) & 255u) ^ 128u;
    return as_float4(q | 0x4B000000u) - 8388736.0f;
}

float8 hetc_loadq8a_q8_0g(global const q8_0g *p, int i)
{
    uint2 w = ((global const uint2 *)(hetc_g4(p, i, 136) + 8))[i & 15];
    return (float8)(hetc_bytes4f(w.x), hetc_bytes4f(w.y));
}

float hetc_d8_q8_0g(global const q8_0g *p, int i)
{
    return hetc_g4_d(hetc_g4(p, i, 136), i);
}

float4 hetc_load4_q8_0g(global const q8_0g *p, int i)
{
    global const uchar *g = hetc_g4(p, i >> 1, 136);
    return hetc_g4_d(g, i >> 1) * hetc_bytes4f(((global const uint *)(g + 8))[i & 31]);
}

float hetc_load1_q8_0g(global const q8_0g *p, int i)
{
    global const uchar *g = hetc_g4(p, i >> 3, 136);
    return hetc_g4_d(g, i >> 3) * (float)as_char(g[8 + (i & 127)]);
}

HETC_G4_LOADS(q8_0g)

/* Int8 activations (the gemv family's XQ): 4 signed bytes of b times 4
 * signed (ss) or unsigned (us) bytes of a, added to c. NVIDIA's dp4a
 * through inline PTX where the runtime says the compiler takes it
 * (HETC_NV_PTX, rt_cl_build), else byte by byte (the same integers). */
#if HETC_NV_PTX
int hetc_dp4a_ss(uint a, uint b, int c)
{
    int r;
    asm("dp4a.s32.s32 %0, %1, %2, %3;" : "=r"(r) : "r"(a), "r"(b), "r"(c));
    return r;
}

int hetc_dp4a_us(uint a, uint b, int c)
{
    int r;
    asm("dp4a.u32.s32 %0, %1, %2, %3;" : "=r"(r) : "r"(a), "r"(b), "r"(c));
    return r;
}
#else
int hetc_dp4a_ss(uint a, uint b, int c)
{
    int4 p = convert_int4(as_char4(a)) * convert_int4(as_char4(b));
    return c + p.s0 + p.s1 + p.s2 + p.s3;
}

int hetc_dp4a_us(uint a, uint b, int c)
{
    int4 p = convert_int4(as_uchar4(a)) * convert_int4(as_char4(b));
    return c + p.s0 + p.s1 + p.s2 + p.s3;
}
#endif

/* Which layout-g4 types take int8 activations (XQ) and how: q4_0g's
 * nibbles go against x in nibble order (below, gemv). */
#define hetc_xq_q8_0g 1
#define hetc_xq_q4_0g 2

/* 4 or 8 floats of an activation row p from element 4i or 8i: vector loads
 * when p is 16-byte aligned ('aligned', the same for the whole work-group),
 * else element by element. */
float4 hetc_x4(global const float *p, int i, int aligned)
{
    return aligned ? ((global const float4 *)p)[i] : vload4(i, p);
}

float8 hetc_x8(global const float *p, int i, int aligned)
{
    if (aligned)
        return (float8)(((global const float4 *)p)[2 * i], ((global const float4 *)p)[2 * i + 1]);
    return vload8(i, p);
}

float hetc_dot8(float8 a, float8 b)
{
    return dot(a.lo, b.lo) + dot(a.hi, b.hi);
}

/* Sum (is_max 0) or maximum (is_max 1) of v over the (1-D, power-of-two
 * sized) work-group, returned to every work-item; scratch holds
 * get_local_size(0) floats. Every work-item must call it. */
float hetc_group_reduce(local float *scratch, float v, int is_max)
{
    int lid = get_local_id(0);
    scratch[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int half_n = get_local_size(0) / 2; half_n > 0; half_n /= 2) {
        if (lid < half_n) {
            float a = scratch[lid], b = scratch[lid + half_n];
            scratch[lid] = is_max ? fmax(a, b) : a + b;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float total = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return total;
}

/* RoPE's cos and sin of the angle pos * inv as a real number: the float
 * product is rounded, by up to half an ulp of the angle (1e-5 rad at
 * position 300), so its rounding error, which fma gives exactly, corrects
 * the result to first order. */
float hetc_rope_sincos(float pos, float inv, float *c)
{
    float a = pos * inv, err = fma(pos, inv, -a);
    float ca, sa = sincos(a, &ca);
    *c = ca - sa * err;
    return sa + ca * err;
}

//@family embed H WT
/* Embedding lookup (rt_embed): out[s, :] = table[ids[s], :] widened to f32.
 *
 * kernel KNAME(embed)(global float *out, int out_off, global const WT *table,
 *                     global const int *ids, int ids_off)
 *   table [vocab, H]; ids [S] at ids_off (valid ids: the driver checks
 *   them); out [S, H] at out_off.
 *   global (up(H, HETC_WG), S), local (HETC_WG, 1): one work-item per value.
 */
kernel __attribute__((reqd_work_group_size(HETC_WG, 1, 1)))
void KNAME(embed)(global float *out, int out_off, global const WT *table, global const int *ids,
                  int ids_off)
{
    int i = get_global_id(0), s = get_global_id(1);
    if (i >= H)
        return;
    global const WT *row = W_ROW(table, ids[ids_off + s], H);
    out[out_off + s * H + i] = LOAD_W(row, i);
}

//@family rmsnorm H
/* RMSNorm (rt_rmsnorm): out[s, :] = x[s, :] / sqrt(mean(x[s, :]^2) + eps) * w.
 *
 * kernel KNAME(rmsnorm)(global float *out, int out_off, global const float *x,
 *                       int x_off, global const float *w, float eps)
 *   x, out [S, H] (out may be x at the same offset); w [H].
 *   global (HETC_WG * S), local (HETC_WG): work-group s normalises row s.
 * Each work-item sums the squares of elements lid, lid + HETC_WG, ...; the
 * partial sums are added in local memory (a tree), then every work-item
 * scales its elements.
 */
kernel __attribute__((reqd_work_group_size(HETC_WG, 1, 1)))
void KNAME(rmsnorm)(global float *out, int out_off, global const float *x, int x_off,
                    global const float *w, float eps)
{
    local float scratch[HETC_WG];
    int lid = get_local_id(0);
    global const float *xr = x + x_off + get_group_id(0) * H;
    global float *outr = out + out_off + get_group_id(0) * H;
    float ss = 0.0f;
    for (int i = lid; i < H; i += HETC_WG)
        ss += xr[i] * xr[i];
    float r = 1.0f / sqrt(hetc_group_reduce(scratch, ss, 0) / H + eps);
    for (int i = lid; i < H; i += HETC_WG)
        outr[i] = xr[i] * r * w[i];
}

//@family gemv N K WT HAS_BIAS NORM EPI N1 N2 HEAD_DIM MAX_S XQ
/* Linear layer for a few rows (S <= 8), the decode hot path, with the work
 * around it fused in: out[s, n] = sum_k x'[s, k] * W[n, k] (+ bias[n]),
 * then an epilogue. Bound by reading the weights once; NVIDIA's OpenCL
 * also costs some 3-4 us per launch, so a decode step wants few of them.
 *
 * NORM 1: x' is RMSNorm(x) * gain, computed on the fly: y = rms(x)^-1 *
 *   sum_k W[n, k] * x[k] * gain[k], where the lanes that read x for the
 *   dot products also add up its squares (each group of lanes reads all
 *   of x once); NORM 0: x' = x.
 * EPI picks what the results become (N1, N2, HEAD_DIM are 0 unless used):
 *   0  out[s, n] = y[s, n]                                  (plain linear)
 *   1  out[s, n] = res[s, n] + y[s, n]              (linear + residual add)
 *   2  out[s, n] = silu(y[s, n]) * y1[s, n], y1 from W1 [N, K]    (SwiGLU)
 *   3  attention input: W [N, K] = q, W1 [N1, K] = k, W2 [N2, K] = v
 *      projections, N = heads x HEAD_DIM, N1 = N2 = kv heads x HEAD_DIM.
 *      q and k are rotated (RoPE, pairs i and i + HEAD_DIM / 2 of a head,
 *      angle (P + s) * inv_freq[i]); q goes to out, k and v go to the KV
 *      cache rows P + s: kc / vc [ctx, N1] from kv_off.
 *
 * kernel KNAME(gemv)(global float *out, int out_off, global const float *x,
 *         int x_off, global const WT *W, int S
 *         [, global const float *bias]                 (HAS_BIAS)
 *         [, global const float *gain, float eps]      (NORM)
 *         [, global const float *res, int res_off]     (EPI 1)
 *         [, global const WT *W1]                      (EPI 2; no bias)
 *         [, global const WT *W1, global const WT *W2
 *            [, global const float *bias1, global const float *bias2]
 *          , global float *kc, global float *vc, int kv_off,
 *            global const float *inv_freq, int P])     (EPI 3)
 *   x [S, K] at x_off; out, res [S, N] (EPI 3: out [S, N] is q);
 *   bias [N]; gain [K]; inv_freq [HEAD_DIM / 2]; 1 <= S <= MAX_S <= 8
 *   (an instance for MAX_S 1 runs single tokens faster: its loops are
 *   known to take one row). When K % 4 == 0, x_off must be a multiple of
 *   4: x is read with 16-byte vector loads.
 *   global (HETC_WG * ceil(PAIRS / GEMV_GROUPS)), local (HETC_WG), where
 *     PAIRS = ceil(N / 2) (EPI 0, 1), N (EPI 2), (N + N1 + N2) / 2 (EPI 3)
 *     GEMV_LANES = min(HETC_WG / 2, PAIRS >= 4096 ? 32 : 128)
 *     GEMV_GROUPS = HETC_WG / GEMV_LANES
 *   (a larger global size works too: the extra work-groups do no loads).
 *   HETC_WG <= 512 (local memory: 96 * HETC_WG bytes).
 *
 * Tiling: the work-items of a work-group form GEMV_GROUPS groups of
 * GEMV_LANES lanes; each group owns a pair of weight rows: rows 2p, 2p + 1
 * (EPI 0, 1), row p of W and of W1 (EPI 2), or rows i and i + HEAD_DIM / 2
 * of one head (EPI 3: the pairs of q heads, then k, then v), so that the
 * epilogue has both values it needs (a block type's 8 values come
 * unscaled, LOAD_Q8A, and their dot product is scaled once, LOAD_D8).
 * Lane l takes the 8 weights 8l..8l+7 of
 * both rows (one 16-byte load of half per row), then the 8 weights
 * GEMV_LANES * 8 further on, and so on: neighbouring lanes read neighbouring
 * 16-byte pieces, so the loads of a row are coalesced, and the 8 values of
 * x that go with them are loaded once for both rows. Every lane keeps
 * 2 * S partial sums, and S sums of squares of x with NORM (loops unrolled
 * to MAX_S with a uniform guard, in registers; each weight is loaded once
 * for all S). The partial sums of a group's lanes are added in local
 * memory in two rounds: lane l < GEMV_FOLD adds up the lanes l, l +
 * GEMV_FOLD, ..., then the work-item (group, s) adds those GEMV_FOLD sums
 * and does the epilogue (short chains of dependent adds). The last K % 8
 * weights of a row, if any, are taken one at a time. The lanes per row
 * trade the length of each lane's loop (loads in flight) against the
 * number of work-items on the device: many
 * row pairs (4096 or more) fill it with 32 lanes each, fewer (the q/k/v
 * and o projections, the down projection) go faster with 128. The rule was
 * tuned on an NVIDIA H200 with back-to-back launches of the fused kernels
 * of TinyLlama (q/k/v 8.5 -> 7.2 us, o 6.4 -> 5.9 us going from 64 to 128).
 *
 * XQ 1 (pass place's xdtype=q8_0; WT q8_0g or q4_0g, MAX_S 1, K a multiple
 * of 32): int8 activations, llama.cpp's numerics for these types. The
 * work-group first makes x' (RMSNorm included) into blocks of 32 in local
 * memory, as the cpu's kernels do (d = max |x'| / 127, q = x' / d rounded
 * half away from zero); then a lane's 8 weights of a row cost two 4-byte
 * integer dot products (dp4a) and one scaling by d_w d_x, where the float
 * path widens and multiplies each value: the float path is bound by those
 * instructions, not by the bytes. q4_0g's word holds values 8j..8j+7 in
 * nibbles 0..7, so x's bytes are stored in that order, (0 2 4 6) (1 3 5 7),
 * against the masked even and shifted odd nibbles, and the -8 of each
 * nibble comes in as -8 * (the 8 values' sum), kept beside them. Local
 * memory: 1.25 K bytes (q8_0g) or 1.625 K (q4_0g) more. XQ launches take
 * 32 lanes a pair whatever their rows, so that a work-group's quantising
 * of x serves HETC_WG / 16 rows (on an H100 at 128 lanes, 4 rows, the
 * prologue made q8_0's 4096 x 14336 gemv 1.45x slower than float x).
 */
#define GEMV_MAX_S MAX_S
#define GEMV_FOLD 8                     /* sums per group after the first round */
#if XQ
#define GEMV_XQ HETC_CAT(hetc_xq_, WT)  /* 1 q8_0g, 2 q4_0g */
#if GEMV_XQ == 0 || MAX_S != 1 || K % 32 != 0
#error "gemv XQ: WT q8_0g or q4_0g, MAX_S 1, K a multiple of 32"
#endif
#define GEMV_SQUARES 0                  /* the prologue normalises x */
#else
#define GEMV_SQUARES NORM
#endif
#if EPI == 2
#define GEMV_PAIRS N
#elif EPI == 3
#define GEMV_PAIRS ((N + N1 + N2) / 2)
#define GEMV_HALF (HEAD_DIM / 2)
#else
#define GEMV_PAIRS ((N + 1) / 2)
#endif
#if XQ || GEMV_PAIRS >= 4096            /* rt_gemv_lanes (rt_profile.h) states the same rule */
#define GEMV_LANES_WANTED 32
#else
#define GEMV_LANES_WANTED 128
#endif
#define GEMV_LANES (HETC_WG / 2 < GEMV_LANES_WANTED ? HETC_WG / 2 : GEMV_LANES_WANTED)
#define GEMV_GROUPS (HETC_WG / GEMV_LANES)
#define GEMV_K8 (K / 8)
#define GEMV_STEPS ((GEMV_K8 + GEMV_LANES - 1) / GEMV_LANES)
#if K % 8 == 0
#define GEMV_LOAD8(p, i) LOAD_Q8A(p, i)
#else
#define GEMV_LOAD8(p, i) LOAD_W8(p, i)  /* the float types (scale 1) */
#endif

/* Pair p's first row in its matrix, and which matrix (*mat, EPI 3 only);
 * the second row is the next one (EPI 0, 1), the same row of W1 (EPI 2), or
 * HEAD_DIM / 2 further on (EPI 3). */
int KNAME(gemv_row)(int p, int *mat)
{
    *mat = 0;
#if EPI == 2
    return p;
#elif EPI == 3
    if (p >= (N + N1) / 2)
        *mat = 2, p -= (N + N1) / 2;
    else if (p >= N / 2)
        *mat = 1, p -= N / 2;
    return p / GEMV_HALF * HEAD_DIM + p % GEMV_HALF;
#else
    return 2 * p;
#endif
}

kernel __attribute__((reqd_work_group_size(HETC_WG, 1, 1)))
void KNAME(gemv)(global float *out, int out_off, global const float *x, int x_off,
                 global const WT *W, int S
#if HAS_BIAS
                 , global const float *bias
#endif
#if NORM
                 , global const float *gain, float eps
#endif
#if EPI == 1
                 , global const float *res, int res_off
#elif EPI == 2
                 , global const WT *W1
#elif EPI == 3
                 , global const WT *W1, global const WT *W2
#if HAS_BIAS
                 , global const float *bias1, global const float *bias2
#endif
                 , global float *kc, global float *vc, int kv_off, global const float *inv_freq, int P
#endif
                 )
{
    local float partial[3 * GEMV_MAX_S][HETC_WG];   /* row 0, row 1, squares of x */
    int lid = get_local_id(0);
    int lane = lid % GEMV_LANES, group = lid / GEMV_LANES;
    int pair = get_group_id(0) * GEMV_GROUPS + group;
    global const float *xs = x + x_off;
#if XQ
    local uint2 xq[K / 8];          /* x' as int8, 8 values a pair of words */
    local float xd[K / 32];         /* their blocks' d */
#if GEMV_XQ == 2
    local int xc[K / 8];            /* -8 * the sum of each 8 */
#endif
    {
        float inv = 1.0f;
#if NORM
        float ss = 0.0f;
        for (int k4 = lid; k4 < K / 4; k4 += HETC_WG) {
            float4 v = ((global const float4 *)xs)[k4];
            ss += dot(v, v);
        }
        inv = 1.0f / sqrt(hetc_group_reduce(partial[0], ss, 0) / K + eps);
#endif
        for (int b = lid; b < K / 32; b += HETC_WG) {
            float8 v[4];
            float8 m = 0.0f;
#pragma unroll
            for (int j = 0; j < 4; j++) {
                v[j] = hetc_x8(xs, 4 * b + j, 1);
#if NORM
                v[j] = v[j] * inv * hetc_x8(gain, 4 * b + j, 1);
#endif
                m = fmax(m, fabs(v[j]));
            }
            float4 m4 = fmax(m.lo, m.hi);
            float amax = fmax(fmax(m4.x, m4.y), fmax(m4.z, m4.w));
            float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
            xd[b] = d;
#pragma unroll
            for (int j = 0; j < 4; j++) {
                int8 q = convert_int8(round(v[j] * id));
                uint8 u = as_uint8(q) & 255u;
#if GEMV_XQ == 2
                xq[4 * b + j] = (uint2)(u.s0 | u.s2 << 8 | u.s4 << 16 | u.s6 << 24,
                                        u.s1 | u.s3 << 8 | u.s5 << 16 | u.s7 << 24);
                xc[4 * b + j] = -8 * (q.s0 + q.s1 + q.s2 + q.s3 + q.s4 + q.s5 + q.s6 + q.s7);
#else
                xq[4 * b + j] = (uint2)(u.s0 | u.s1 << 8 | u.s2 << 16 | u.s3 << 24,
                                        u.s4 | u.s5 << 8 | u.s6 << 16 | u.s7 << 24);
#endif
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
#endif

    /* The pair's two weight rows. Pairs past the end repeat the last one. */
    int mat, row = KNAME(gemv_row)(min(pair, GEMV_PAIRS - 1), &mat);
    global const WT *w[2];
#if EPI == 2
    w[0] = W_ROW(W, row, K);
    w[1] = W_ROW(W1, row, K);
#elif EPI == 3
    global const WT *Wm = mat == 0 ? W : mat == 1 ? W1 : W2;
    w[0] = W_ROW(Wm, row, K);
    w[1] = W_ROW(Wm, row + GEMV_HALF, K);
#else
    w[0] = W_ROW(W, row, K);
    w[1] = W_ROW(W, min(row + 1, N - 1), K);
#endif

    float acc[3][GEMV_MAX_S];      /* row 0, row 1, squares of x (NORM) */
#pragma unroll
    for (int r = 0; r < 3; r++)
#pragma unroll
        for (int s = 0; s < GEMV_MAX_S; s++)
            acc[r][s] = 0.0f;

    if (pair < GEMV_PAIRS) {
        /* All lanes take the same, compile-time number of steps, so that the
         * loop can be unrolled and several loads be in flight at once. */
#if GEMV_MAX_S == 1
#pragma unroll
#else
#pragma unroll 4
#endif
        for (int step = 0; step < GEMV_STEPS; step++) {
            int i = step * GEMV_LANES + lane;
#if XQ
            if (GEMV_K8 % GEMV_LANES == 0 || i < GEMV_K8) {
                uint2 xv = xq[i];
                float dx = xd[i >> 2];
#if GEMV_XQ == 2
                int c = xc[i];
                uint a0 = ((global const uint *)(hetc_g4(w[0], i, 72) + 8))[i & 15];
                uint a1 = ((global const uint *)(hetc_g4(w[1], i, 72) + 8))[i & 15];
                int s0 = hetc_dp4a_us(a0 & 0x0f0f0f0fu, xv.x, hetc_dp4a_us((a0 >> 4) & 0x0f0f0f0fu, xv.y, c));
                int s1 = hetc_dp4a_us(a1 & 0x0f0f0f0fu, xv.x, hetc_dp4a_us((a1 >> 4) & 0x0f0f0f0fu, xv.y, c));
#else
                uint2 a0 = ((global const uint2 *)(hetc_g4(w[0], i, 136) + 8))[i & 15];
                uint2 a1 = ((global const uint2 *)(hetc_g4(w[1], i, 136) + 8))[i & 15];
                int s0 = hetc_dp4a_ss(a0.x, xv.x, hetc_dp4a_ss(a0.y, xv.y, 0));
                int s1 = hetc_dp4a_ss(a1.x, xv.x, hetc_dp4a_ss(a1.y, xv.y, 0));
#endif
                acc[0][0] += LOAD_D8(w[0], i) * dx * (float)s0;
                acc[1][0] += LOAD_D8(w[1], i) * dx * (float)s1;
            }
#else
            if (GEMV_K8 % GEMV_LANES == 0 || i < GEMV_K8) {
                float8 wv0 = GEMV_LOAD8(w[0], i), wv1 = GEMV_LOAD8(w[1], i);
                float d0 = LOAD_D8(w[0], i), d1 = LOAD_D8(w[1], i);
#if NORM
                float8 gv = hetc_x8(gain, i, K % 4 == 0);
#endif
#pragma unroll
                for (int s = 0; s < GEMV_MAX_S; s++) {
                    if (s < S) {
                        float8 xv = hetc_x8(xs + s * K, i, K % 4 == 0);
#if NORM
                        acc[2][s] += hetc_dot8(xv, xv);
                        xv *= gv;
#endif
                        acc[0][s] += d0 * hetc_dot8(wv0, xv);
                        acc[1][s] += d1 * hetc_dot8(wv1, xv);
                    }
                }
            }
#endif
        }
        for (int k = GEMV_K8 * 8 + lane; k < K; k += GEMV_LANES) {
            float w0 = LOAD_W(w[0], k), w1 = LOAD_W(w[1], k);
#pragma unroll
            for (int s = 0; s < GEMV_MAX_S; s++) {
                if (s < S) {
                    float xk = xs[s * K + k];
#if NORM
                    acc[2][s] += xk * xk;
                    xk *= gain[k];
#endif
                    acc[0][s] += w0 * xk;
                    acc[1][s] += w1 * xk;
                }
            }
        }
    }

#pragma unroll
    for (int s = 0; s < GEMV_MAX_S; s++) {
        if (s < S) {
            partial[s][lid] = acc[0][s];
            partial[GEMV_MAX_S + s][lid] = acc[1][s];
#if GEMV_SQUARES
            partial[2 * GEMV_MAX_S + s][lid] = acc[2][s];
#endif
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    /* first round: lane l < GEMV_FOLD sums the lanes l + k * GEMV_FOLD into lane l */
    if (lane < GEMV_FOLD) {
        for (int r = 0; r < (GEMV_SQUARES ? 3 : 2); r++) {
#pragma unroll
            for (int s = 0; s < GEMV_MAX_S; s++) {
                if (s < S) {
                    float t = 0.0f;
                    for (int j = lane; j < GEMV_LANES; j += GEMV_FOLD)
                        t += partial[r * GEMV_MAX_S + s][group * GEMV_LANES + j];
                    partial[r * GEMV_MAX_S + s][lid] = t;
                }
            }
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lid >= GEMV_GROUPS * S)
        return;

    /* The epilogue of work-item (g, s): its group's pair, for token s. */
    int g = lid / S, s = lid % S;
    pair = get_group_id(0) * GEMV_GROUPS + g;
    if (pair >= GEMV_PAIRS)
        return;
    row = KNAME(gemv_row)(pair, &mat);
    float y0 = 0.0f, y1 = 0.0f, ss = 0.0f;
#pragma unroll
    for (int j = 0; j < GEMV_FOLD; j++) {
        int l = g * GEMV_LANES + j;
        y0 += partial[s][l];
        y1 += partial[GEMV_MAX_S + s][l];
#if GEMV_SQUARES
        ss += partial[2 * GEMV_MAX_S + s][l];
#endif
    }
#if GEMV_SQUARES
    float inv = 1.0f / sqrt(ss / K + eps);
    y0 *= inv;
    y1 *= inv;
#endif
#if EPI == 2
    out[out_off + s * N + row] = y0 / (1.0f + exp(-y0)) * y1;
#elif EPI == 3
    int at = row;
    if (mat == 0) {
#if HAS_BIAS
        y0 += bias[at], y1 += bias[at + GEMV_HALF];
#endif
    } else if (mat == 1) {
#if HAS_BIAS
        y0 += bias1[at], y1 += bias1[at + GEMV_HALF];
#endif
    } else {
#if HAS_BIAS
        y0 += bias2[at], y1 += bias2[at + GEMV_HALF];
#endif
        vc[kv_off + (P + s) * N2 + at] = y0;
        vc[kv_off + (P + s) * N2 + at + GEMV_HALF] = y1;
        return;
    }
    float c, sn = hetc_rope_sincos((float)(P + s), inv_freq[at % GEMV_HALF], &c);
    float r0 = y0 * c - y1 * sn, r1 = y1 * c + y0 * sn;
    if (mat == 0) {
        out[out_off + s * N + at] = r0;
        out[out_off + s * N + at + GEMV_HALF] = r1;
    } else {
        kc[kv_off + (P + s) * N1 + at] = r0;
        kc[kv_off + (P + s) * N1 + at + GEMV_HALF] = r1;
    }
#else
#pragma unroll
    for (int r = 0; r < 2; r++) {
        int n = row + r;
        if (n >= N)
            break;
        float v = r ? y1 : y0;
#if HAS_BIAS
        v += bias[n];
#endif
#if EPI == 1
        v += res[res_off + s * N + n];
#endif
        out[out_off + s * N + n] = v;
    }
#endif
}

#undef GEMV_MAX_S
#undef GEMV_FOLD
#undef GEMV_SQUARES
#if XQ
#undef GEMV_XQ
#endif
#undef GEMV_LANES_WANTED
#undef GEMV_LANES
#undef GEMV_GROUPS
#undef GEMV_K8
#undef GEMV_STEPS
#undef GEMV_PAIRS
#undef GEMV_LOAD8
#if EPI == 3
#undef GEMV_HALF
#endif

//@family gemm N K WT HAS_BIAS
/* Linear layer for many rows (rt_linear, prefill): out[s, n] =
 * sum_k x[s, k] * W[n, k] (+ bias[n]).
 *
 * kernel KNAME(gemm)(global float *out, int out_off, global const float *x,
 *                    int x_off, global const WT *W, int S
 *                    [, global const float *bias]      (only if HAS_BIAS))
 *   x [S, K] at x_off; W [N, K]; bias [N]; out [S, N] at out_off; any S.
 *   x is read with vector loads when K % 4 == 0 and x_off % 4 == 0.
 *   global (T * ceil(N / (4T)), T * ceil(S / (GEMM_RM * T))), local (T, T),
 *   T = HETC_TILE, GEMM_RM = 8 (a larger global size works too: the extra
 *   work-groups skip the work).
 *
 * Tiling: work-group (bx, by) computes the block of out of BM = GEMM_RM * T
 * rows (tokens) from by * BM and BN = 4T columns (outputs) from bx * BN.
 * Work-item (tx, ty) holds a GEMM_RM x 4 register tile of it: rows
 * ty * GEMM_RM .. + GEMM_RM - 1, columns tx * 4 .. tx * 4 + 3. K is walked
 * in steps of T. In each step the work-group copies the x block [BM rows]
 * [T k] and the W block [BN rows][T k] into local memory, transposed to
 * k-major (xs[k][row], ws[k][col]; rows padded by 4 floats, which spreads
 * the transposing stores over the banks); the work-items load float4s
 * along k, so neighbours read neighbouring pieces of a row. Then for each of
 * the T values of k a work-item reads GEMM_RM / 4 float4s of xs (its rows)
 * and one of ws (its 4 columns) and does 4 * GEMM_RM multiply-adds. Values
 * past S, N or K load as 0; results past S or N are not stored.
 */
#define GEMM_T HETC_TILE
#define GEMM_RM 8                       /* rows per work-item, a multiple of 4 */
#define GEMM_BM (GEMM_RM * HETC_TILE)   /* rows per block */
#define GEMM_BN (4 * HETC_TILE)         /* columns per block */
#define GEMM_KQ (HETC_TILE / 4)         /* float4s per row and k step */
#define GEMM_LDM (GEMM_BM + 4)          /* local row strides, padded */
#define GEMM_LDN (GEMM_BN + 4)

/* 4 consecutive values of row 'row' of x [rows, K] from column k
 * (k % 4 == 0), zero past the matrix. */
float4 KNAME(gemm_load_x)(global const float *x, int rows, int row, int k, int aligned)
{
    if (row >= rows || k >= K)
        return (float4)(0.0f);
    global const float *p = x + row * K;
#if K % 4 == 0
    return hetc_x4(p, k / 4, aligned);
#else
    return (float4)(p[k], k + 1 < K ? p[k + 1] : 0.0f, k + 2 < K ? p[k + 2] : 0.0f,
                    k + 3 < K ? p[k + 3] : 0.0f);
#endif
}

float4 KNAME(gemm_load_w)(global const WT *W, int n, int k)
{
    if (n >= N || k >= K)
        return (float4)(0.0f);
    global const WT *p = W_ROW(W, n, K);
#if K % 4 == 0
    return LOAD_W4A(p, k / 4);
#else
    return (float4)(LOAD_W(p, k), k + 1 < K ? LOAD_W(p, k + 1) : 0.0f,
                    k + 2 < K ? LOAD_W(p, k + 2) : 0.0f, k + 3 < K ? LOAD_W(p, k + 3) : 0.0f);
#endif
}

/* Stores v as column k..k+3 (k % 4 == 0) of a k-major local tile. */
void KNAME(gemm_store_t)(local float4 *tile, int ld, int row, int k, float4 v)
{
    local float *col = (local float *)tile + row;
    col[(k + 0) * ld] = v.s0;
    col[(k + 1) * ld] = v.s1;
    col[(k + 2) * ld] = v.s2;
    col[(k + 3) * ld] = v.s3;
}

kernel __attribute__((reqd_work_group_size(HETC_TILE, HETC_TILE, 1)))
void KNAME(gemm)(global float *out, int out_off, global const float *x, int x_off,
                 global const WT *W, int S
#if HAS_BIAS
                 , global const float *bias
#endif
                 )
{
    local float4 xs[GEMM_T][GEMM_LDM / 4];  /* xs[k][r]: x rows 4r..4r+3 of the block at k */
    local float4 ws[GEMM_T][GEMM_LDN / 4];  /* ws[k][c]: W rows 4c..4c+3 of the block at k */
    int tx = get_local_id(0), ty = get_local_id(1);
    int lin = ty * GEMM_T + tx;
    int m0 = get_group_id(1) * GEMM_BM, n0 = get_group_id(0) * GEMM_BN;
    int aligned = K % 4 == 0 && x_off % 4 == 0;
    float4 acc[GEMM_RM];
#pragma unroll
    for (int i = 0; i < GEMM_RM; i++)
        acc[i] = (float4)(0.0f);
    x += x_off;

    /* A work-group past the rows (launched by a grid rounded up for a larger
     * block) skips the loop; leaving with 'return' instead is not safe with
     * barriers on every implementation. */
    int k_end = m0 < S ? K : 0;
    for (int k0 = 0; k0 < k_end; k0 += GEMM_T) {
        /* copies: GEMM_RM / 4 float4s of x and one of W per work-item */
#pragma unroll
        for (int c = 0; c < GEMM_RM / 4; c++) {
            int e = lin + c * GEMM_T * GEMM_T;
            int row = e / GEMM_KQ, k = e % GEMM_KQ * 4;
            KNAME(gemm_store_t)(xs[0], GEMM_LDM, row, k,
                                KNAME(gemm_load_x)(x, S, m0 + row, k0 + k, aligned));
        }
        int row = lin / GEMM_KQ, k = lin % GEMM_KQ * 4;
        KNAME(gemm_store_t)(ws[0], GEMM_LDN, row, k, KNAME(gemm_load_w)(W, n0 + row, k0 + k));
        barrier(CLK_LOCAL_MEM_FENCE);
#pragma unroll
        for (int kk = 0; kk < GEMM_T; kk++) {
            float4 b = ws[kk][tx];
#pragma unroll
            for (int q = 0; q < GEMM_RM / 4; q++) {
                float4 a = xs[kk][ty * (GEMM_RM / 4) + q];
                acc[4 * q + 0] += a.s0 * b;
                acc[4 * q + 1] += a.s1 * b;
                acc[4 * q + 2] += a.s2 * b;
                acc[4 * q + 3] += a.s3 * b;
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }

    int n = n0 + tx * 4;
    if (n >= N)
        return;
#if HAS_BIAS
    /* indices clamped to N - 1: columns past N are not stored */
    float4 b = (float4)(bias[n], bias[min(n + 1, N - 1)], bias[min(n + 2, N - 1)],
                        bias[min(n + 3, N - 1)]);
#else
    float4 b = (float4)(0.0f);
#endif
#pragma unroll
    for (int i = 0; i < GEMM_RM; i++) {
        int m = m0 + ty * GEMM_RM + i;
        if (m >= S)
            break;
        float4 v = acc[i] + b;
        global float *o = out + out_off + m * N + n;
        if (n + 3 < N) {
            vstore4(v, 0, o);
        } else {
            o[0] = v.s0;
            if (n + 1 < N)
                o[1] = v.s1;
            if (n + 2 < N)
                o[2] = v.s2;
        }
    }
}

#undef GEMM_T
#undef GEMM_RM
#undef GEMM_BM
#undef GEMM_BN
#undef GEMM_KQ
#undef GEMM_LDM
#undef GEMM_LDN

//@family rope HEADS HEAD_DIM
/* Rotate-half RoPE (rt_rope) at positions P + s: for each head and
 * i < HEAD_DIM / 2, with a = (P + s) * inv_freq[i] (hetc_rope_sincos):
 *   out[i] = x[i] cos a - x[i + HEAD_DIM/2] sin a
 *   out[i + HEAD_DIM/2] = x[i + HEAD_DIM/2] cos a + x[i] sin a
 *
 * kernel KNAME(rope)(global float *out, int out_off, global const float *x,
 *                    int x_off, global const float *inv_freq, int S, int P)
 *   x, out [S, HEADS * HEAD_DIM] (out may be x at the same offset);
 *   inv_freq [HEAD_DIM / 2].
 *   global (HEAD_DIM / 2, S), local any: one work-item per (i, s) computes
 *   cos and sin once (full precision) and rotates that pair in every head.
 */
kernel void KNAME(rope)(global float *out, int out_off, global const float *x, int x_off,
                        global const float *inv_freq, int S, int P)
{
    int i = get_global_id(0), s = get_global_id(1);
    if (i >= HEAD_DIM / 2 || s >= S)
        return;
    float c, sn = hetc_rope_sincos((float)(P + s), inv_freq[i], &c);
    for (int h = 0; h < HEADS; h++) {
        int base = s * HEADS * HEAD_DIM + h * HEAD_DIM + i;
        float lo = x[x_off + base], hi = x[x_off + base + HEAD_DIM / 2];
        out[out_off + base] = lo * c - hi * sn;
        out[out_off + base + HEAD_DIM / 2] = hi * c + lo * sn;
    }
}

//@family rope_kv HEADS KV_HEADS HEAD_DIM
/* The rope of q, the rope of k and kv_store in one launch (the decode path
 * is bound by launches): q is rotated into qo; k is rotated straight into
 * the layer's key cache and v copied into its value cache at rows P + s.
 * Same arithmetic as the rope family.
 *
 * kernel KNAME(rope_kv)(global float *qo, int qo_off, global const float *q,
 *         int q_off, global const float *k, int k_off, global const float *v,
 *         int v_off, global float *kc, int kc_off, global float *vc,
 *         int vc_off, global const float *inv_freq, int S, int P)
 *   q, qo [S, HEADS * HEAD_DIM]; k, v [S, KV_HEADS * HEAD_DIM];
 *   kc, vc [ctx, KV_HEADS * HEAD_DIM]; inv_freq [HEAD_DIM / 2].
 *   global (HEAD_DIM / 2, S, HEADS + KV_HEADS), local any: work-item
 *   (i, s, h) rotates pair i of q head h (h < HEADS) or of k head
 *   h - HEADS, which also copies that pair of v.
 */
kernel void KNAME(rope_kv)(global float *qo, int qo_off, global const float *q, int q_off,
                           global const float *k, int k_off, global const float *v, int v_off,
                           global float *kc, int kc_off, global float *vc, int vc_off,
                           global const float *inv_freq, int S, int P)
{
    int i = get_global_id(0), s = get_global_id(1), h = get_global_id(2);
    if (i >= HEAD_DIM / 2 || s >= S)
        return;
    float c, sn = hetc_rope_sincos((float)(P + s), inv_freq[i], &c);
    if (h < HEADS) {
        int at = s * HEADS * HEAD_DIM + h * HEAD_DIM + i;
        float lo = q[q_off + at], hi = q[q_off + at + HEAD_DIM / 2];
        qo[qo_off + at] = lo * c - hi * sn;
        qo[qo_off + at + HEAD_DIM / 2] = hi * c + lo * sn;
        return;
    }
    int kv = KV_HEADS * HEAD_DIM, at = s * kv + (h - HEADS) * HEAD_DIM + i;
    int to = (P + s) * kv + (h - HEADS) * HEAD_DIM + i;
    float lo = k[k_off + at], hi = k[k_off + at + HEAD_DIM / 2];
    kc[kc_off + to] = lo * c - hi * sn;
    kc[kc_off + to + HEAD_DIM / 2] = hi * c + lo * sn;
    vc[vc_off + to] = v[v_off + at];
    vc[vc_off + to + HEAD_DIM / 2] = v[v_off + at + HEAD_DIM / 2];
}

//@family kv_store KV_DIM
/* Appends this step's keys and values to a layer's KV cache (the first half
 * of rt_attention): kc[P + s, :] = k[s, :], vc[P + s, :] = v[s, :].
 *
 * kernel KNAME(kv_store)(global float *kc, int kc_off, global float *vc,
 *                        int vc_off, global const float *k, int k_off,
 *                        global const float *v, int v_off, int S, int P)
 *   kc, vc [ctx, KV_DIM] at kc_off, vc_off; k, v [S, KV_DIM].
 *   global (up(KV_DIM, HETC_WG), S), local (HETC_WG, 1).
 */
kernel __attribute__((reqd_work_group_size(HETC_WG, 1, 1)))
void KNAME(kv_store)(global float *kc, int kc_off, global float *vc, int vc_off,
                     global const float *k, int k_off, global const float *v, int v_off, int S,
                     int P)
{
    int i = get_global_id(0), s = get_global_id(1);
    if (i >= KV_DIM || s >= S)
        return;
    kc[kc_off + (P + s) * KV_DIM + i] = k[k_off + s * KV_DIM + i];
    vc[vc_off + (P + s) * KV_DIM + i] = v[v_off + s * KV_DIM + i];
}

//@family attention HEADS KV_HEADS HEAD_DIM WINDOW
/* Causal GQA attention over a layer's KV cache (the second half of
 * rt_attention; kv_store has written this step's keys). Query row s, head h
 * (position pos = P + s) attends to keys lo..pos, lo = 0, or with WINDOW > 0
 * max(0, pos - WINDOW + 1), of kv head h / (HEADS / KV_HEADS):
 *   out[s, h, :] = softmax_j(scale * q[s, h, :] . kc[j, kvh, :]) . vc[j, kvh, :]
 * attn_prefill for many rows (the block routine below); attn_decode, one
 * work-group per query row and key chunk, + attn_combine (split-K) for few.
 *
 * Rows: the S * GROUP query rows that share a kv head (GROUP = HEADS /
 * KV_HEADS) are numbered qi = s * GROUP + g (head h = kvh * GROUP + g), and
 * a work-group takes ATT_BQ = 16 consecutive ones, so query heads of a group
 * share every key and value loaded. Keys are walked in chunks of
 * ATT_BKV = 2048 / HEAD_DIM (128 for HEAD_DIM 16, 16 for 128). Per chunk:
 * keys and values are copied to local memory (keys in rows padded to
 * HEAD_DIM + 1 floats, so that work-items reading different keys hit
 * different banks); the 16 x ATT_BKV scores go to local memory (-inf where
 * a key is outside its row's range); one work-item per row updates that
 * row's running max m and sum l (online softmax) and turns scores into
 * weights; then every work-item rescales and accumulates its outputs: the
 * 16 x HEAD_DIM outputs are spread over the work-group, ATT_ACC each, in
 * registers. Any context length works; local memory is about
 * 4 * (16 * HEAD_DIM + 2 * 2048 + ATT_BKV * 17) bytes (25 KB at
 * HEAD_DIM 128). Work-group size ATT_WG = min(HETC_WG, 16 * HEAD_DIM).
 *
 * kernel KNAME(attn_prefill)(global float *out, int out_off,
 *         global const float *q, int q_off, global const float *kc, int kc_off,
 *         global const float *vc, int vc_off, int S, int P, float scale)
 *   q, out [S, HEADS * HEAD_DIM]; kc, vc [ctx, KV_HEADS * HEAD_DIM].
 *   global (ATT_WG * ceil(S * GROUP / 16), KV_HEADS), local (ATT_WG, 1).
 *   A work-group walks the keys its rows need (lo of its first row to pos of
 *   its last) and writes normalised outputs.
 *
 * kernel KNAME(attn_decode)(global float *out, int out_off,
 *         global float *part, int part_off, global const float *q, int q_off,
 *         global const float *kc, int kc_off, global const float *vc,
 *         int vc_off, int S, int P, int n_chunks, float scale)
 *   For small S (decode steps): one work-group per query row (s, head h)
 *   and chunk c: the keys of the row, lo(P + s) .. P + s, are cut into
 *   n_chunks equal chunks (n_chunks >= 1, chosen by the caller; a chunk may
 *   be empty). The work-group walks its keys HETC_WG at a time: one
 *   work-item per key for the score (a dot product of HEAD_DIM in float4s),
 *   the group's max and sum (online softmax), then HEAD_DIM / 4 x ATT_NSUB
 *   work-items add up weights x values, each 4 dimensions over every
 *   ATT_NSUB-th key (HEAD_DIM must be a multiple of 4).
 *   n_chunks 1: writes the normalised output row to out; else the record
 *   (m, l, acc[HEAD_DIM]) of its chunk (unnormalised) to part, for
 *   attn_combine.
 *   global (HETC_WG * n_chunks, HEADS, S), local (HETC_WG, 1, 1).
 *   Scratch part: n_chunks * S * HEADS * (HEAD_DIM + 2) floats at part_off;
 *   record (kvh, chunk c, row qi) at ((kvh * n_chunks + c) * S * GROUP + qi)
 *   * (HEAD_DIM + 2).
 *
 * kernel KNAME(attn_combine)(global float *out, int out_off,
 *         global const float *part, int part_off, int S, int n_chunks)
 *   out[s, h, d] = sum_c acc_c[d] e^(m_c - M) / sum_c l_c e^(m_c - M),
 *   M = max_c m_c, over the chunks of row (s, h).
 *   global (HEAD_DIM, S * HEADS), local any.
 */
#define ATT_GROUP (HEADS / KV_HEADS)
#define ATT_KV_DIM (KV_HEADS * HEAD_DIM)
#define ATT_BQ 16
#define ATT_BKV (2048 / HEAD_DIM)
#define ATT_KSTRIDE (HEAD_DIM + 1)
#define ATT_WG (HETC_WG < ATT_BQ * HEAD_DIM ? HETC_WG : ATT_BQ * HEAD_DIM)
#define ATT_ACC ((ATT_BQ * HEAD_DIM + ATT_WG - 1) / ATT_WG)
#define ATT_REC (HEAD_DIM + 2)
#define ATT_D4 (HEAD_DIM / 4)
#define ATT_NSUB (HETC_WG >= ATT_D4 ? HETC_WG / ATT_D4 : 1)
#define ATT_DACC ((ATT_D4 * ATT_NSUB + HETC_WG - 1) / HETC_WG)
#if HEAD_DIM % 4
#error "attention: HEAD_DIM must be a multiple of 4"
#endif

/* The first key query row s may attend to. */
int KNAME(attn_lo)(int pos)
{
    return WINDOW > 0 && pos - WINDOW + 1 > 0 ? pos - WINDOW + 1 : 0;
}

/* Online softmax of query rows qi0..qi0+15 (of kv head kvh) over keys
 * j0..j1, each row limited to its own range. Leaves each row's running max
 * and sum in m[r], l[r] and work-item lid's unnormalised outputs
 * (r, d) = divmod(lid + i * ATT_WG, HEAD_DIM) in acc[i]. Every work-item of
 * the group must call it with the same arguments. */
void KNAME(attn_block)(global const float *q, global const float *kc, global const float *vc,
                       int S, int P, int kvh, int qi0, int j0, int j1, float scale,
                       local float *qs, local float *ks, local float *vs, local float *ps,
                       local float *m, local float *l, local float *alpha, float *acc)
{
    int lid = get_local_id(0);
    int rows = S * ATT_GROUP;

    /* this block's queries, pre-scaled, and the row state */
    for (int e = lid; e < ATT_BQ * HEAD_DIM; e += ATT_WG) {
        int qi = qi0 + e / HEAD_DIM, d = e % HEAD_DIM;
        int s = qi / ATT_GROUP, h = kvh * ATT_GROUP + qi % ATT_GROUP;
        qs[e] = qi < rows ? q[(s * HEADS + h) * HEAD_DIM + d] * scale : 0.0f;
    }
    if (lid < ATT_BQ) {
        m[lid] = -INFINITY;
        l[lid] = 0.0f;
    }
    for (int i = 0; i < ATT_ACC; i++)
        acc[i] = 0.0f;
    barrier(CLK_LOCAL_MEM_FENCE);

    for (int jc = j0; jc <= j1; jc += ATT_BKV) {
        /* keys and values of the chunk; zero past j1 */
        for (int e = lid; e < ATT_BKV * HEAD_DIM; e += ATT_WG) {
            int j = e / HEAD_DIM, d = e % HEAD_DIM;
            int src = (jc + j) * ATT_KV_DIM + kvh * HEAD_DIM + d;
            int in = jc + j <= j1;
            ks[j * ATT_KSTRIDE + d] = in ? kc[src] : 0.0f;
            vs[j * HEAD_DIM + d] = in ? vc[src] : 0.0f;
        }
        barrier(CLK_LOCAL_MEM_FENCE);

        /* scores; -inf outside the row's causal (and window) range */
        for (int e = lid; e < ATT_BQ * ATT_BKV; e += ATT_WG) {
            int r = e / ATT_BKV, j = e % ATT_BKV;
            int qi = qi0 + r, key = jc + j;
            int pos = qi < rows ? P + qi / ATT_GROUP : -1;
            float score = -INFINITY;
            if (key <= j1 && key <= pos && key >= KNAME(attn_lo)(pos)) {
                score = 0.0f;
                for (int d = 0; d < HEAD_DIM; d++)
                    score += qs[r * HEAD_DIM + d] * ks[j * ATT_KSTRIDE + d];
            }
            ps[e] = score;
        }
        barrier(CLK_LOCAL_MEM_FENCE);

        /* online softmax: new max, rescale factor, weights, new sum */
        if (lid < ATT_BQ) {
            local float *p = ps + lid * ATT_BKV;
            float mx = m[lid];
            for (int j = 0; j < ATT_BKV; j++)
                mx = fmax(mx, p[j]);
            float a = 1.0f, sum = 0.0f;
            if (mx != -INFINITY) {
                a = exp(m[lid] - mx);
                for (int j = 0; j < ATT_BKV; j++) {
                    p[j] = exp(p[j] - mx);
                    sum += p[j];
                }
            } else {
                for (int j = 0; j < ATT_BKV; j++)
                    p[j] = 0.0f;
            }
            m[lid] = mx;
            l[lid] = l[lid] * a + sum;
            alpha[lid] = a;
        }
        barrier(CLK_LOCAL_MEM_FENCE);

        /* outputs: acc = acc * alpha + weights . values */
        for (int i = 0; i < ATT_ACC; i++) {
            int e = lid + i * ATT_WG;
            if (e < ATT_BQ * HEAD_DIM) {
                int r = e / HEAD_DIM, d = e % HEAD_DIM;
                float o = acc[i] * alpha[r];
                for (int j = 0; j < ATT_BKV; j++)
                    o += ps[r * ATT_BKV + j] * vs[j * HEAD_DIM + d];
                acc[i] = o;
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

kernel __attribute__((reqd_work_group_size(ATT_WG, 1, 1)))
void KNAME(attn_prefill)(global float *out, int out_off, global const float *q, int q_off,
                         global const float *kc, int kc_off, global const float *vc,
                         int vc_off, int S, int P, float scale)
{
    local float qs[ATT_BQ * HEAD_DIM], ks[ATT_BKV * ATT_KSTRIDE], vs[ATT_BKV * HEAD_DIM];
    local float ps[ATT_BQ * ATT_BKV], m[ATT_BQ], l[ATT_BQ], alpha[ATT_BQ];
    float acc[ATT_ACC];
    int kvh = get_group_id(1), qi0 = get_group_id(0) * ATT_BQ;
    int rows = S * ATT_GROUP;
    int last = min(qi0 + ATT_BQ, rows) - 1;
    int j0 = KNAME(attn_lo)(P + qi0 / ATT_GROUP), j1 = P + last / ATT_GROUP;
    KNAME(attn_block)(q + q_off, kc + kc_off, vc + vc_off, S, P, kvh, qi0, j0, j1, scale, qs, ks,
                      vs, ps, m, l, alpha, acc);
    for (int i = 0; i < ATT_ACC; i++) {
        int e = get_local_id(0) + i * ATT_WG;
        int qi = qi0 + e / HEAD_DIM, d = e % HEAD_DIM;
        if (e < ATT_BQ * HEAD_DIM && qi < rows) {
            int s = qi / ATT_GROUP, h = kvh * ATT_GROUP + qi % ATT_GROUP;
            out[out_off + (s * HEADS + h) * HEAD_DIM + d] = acc[i] / l[e / HEAD_DIM];
        }
    }
}

kernel __attribute__((reqd_work_group_size(HETC_WG, 1, 1)))
void KNAME(attn_decode)(global float *out, int out_off, global float *part, int part_off,
                        global const float *q, int q_off, global const float *kc, int kc_off,
                        global const float *vc, int vc_off, int S, int P, int n_chunks, float scale)
{
    local float qs[HEAD_DIM], ps[HETC_WG], red[HETC_WG];
    local float4 os[ATT_D4 * ATT_NSUB];
    int lid = get_local_id(0), c = get_group_id(0), h = get_group_id(1), s = get_group_id(2);
    int kvh = h / ATT_GROUP, pos = P + s, lo = KNAME(attn_lo)(pos);
    int chunk = (pos - lo + n_chunks) / n_chunks;
    int j0 = lo + c * chunk, j1 = min(pos, j0 + chunk - 1);
    for (int d = lid; d < HEAD_DIM; d += HETC_WG)
        qs[d] = q[q_off + (s * HEADS + h) * HEAD_DIM + d] * scale;
    barrier(CLK_LOCAL_MEM_FENCE);
    global const float *kh = kc + kc_off + kvh * HEAD_DIM, *vh = vc + vc_off + kvh * HEAD_DIM;

    float m = -INFINITY, l = 0.0f;
    float4 acc[ATT_DACC];
    for (int i = 0; i < ATT_DACC; i++)
        acc[i] = 0.0f;
    for (int jb = j0; jb <= j1; jb += HETC_WG) {
        int j = jb + lid, n = min(HETC_WG, j1 - jb + 1);
        float score = -INFINITY;
        if (lid < n) {
            float4 sc = 0.0f;
            for (int d = 0; d < ATT_D4; d++)
                sc += vload4(d, qs) * vload4(d, kh + j * ATT_KV_DIM);
            score = sc.x + sc.y + sc.z + sc.w;
        }
        float mx = fmax(m, hetc_group_reduce(red, score, 1));
        float p = lid < n ? exp(score - mx) : 0.0f, alpha = exp(m - mx);
        ps[lid] = p;
        l = l * alpha + hetc_group_reduce(red, p, 0);     /* its barriers also publish ps */
        m = mx;
        for (int i = 0; i < ATT_DACC; i++) {
            int e = lid + i * HETC_WG, d = e % ATT_D4;
            if (e < ATT_D4 * ATT_NSUB) {
                float4 o = acc[i] * alpha;
                for (int k = e / ATT_D4; k < n; k += ATT_NSUB)
                    o += ps[k] * vload4(d, vh + (jb + k) * ATT_KV_DIM);
                acc[i] = o;
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);       /* ps is rewritten next */
    }

    for (int i = 0; i < ATT_DACC; i++) {
        int e = lid + i * HETC_WG;
        if (e < ATT_D4 * ATT_NSUB)
            os[e] = acc[i];
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    int rows = S * ATT_GROUP, qi = s * ATT_GROUP + h % ATT_GROUP;
    global float *rec = part + part_off + ((kvh * n_chunks + c) * rows + qi) * ATT_REC;
    for (int d = lid; d < ATT_D4; d += HETC_WG) {
        float4 o = 0.0f;
        for (int k = 0; k < ATT_NSUB; k++)
            o += os[k * ATT_D4 + d];
        if (n_chunks == 1)
            vstore4(o / l, d, out + out_off + (s * HEADS + h) * HEAD_DIM);
        else
            vstore4(o, d, rec + 2);
    }
    if (n_chunks > 1 && lid == 0) {
        rec[0] = m;
        rec[1] = l;
    }
}

kernel void KNAME(attn_combine)(global float *out, int out_off, global const float *part,
                                int part_off, int S, int n_chunks)
{
    int d = get_global_id(0), row = get_global_id(1);
    if (d >= HEAD_DIM || row >= S * HEADS)
        return;
    int s = row / HEADS, h = row % HEADS;
    int kvh = h / ATT_GROUP, qi = s * ATT_GROUP + h % ATT_GROUP;
    int rows = S * ATT_GROUP;
    global const float *rec = part + part_off + (kvh * n_chunks * rows + qi) * ATT_REC;
    int stride = rows * ATT_REC;    /* from one chunk's record to the next */
    float mx = -INFINITY;
    for (int c = 0; c < n_chunks; c++)
        mx = fmax(mx, rec[c * stride]);
    float sum = 0.0f, o = 0.0f;
    for (int c = 0; c < n_chunks; c++) {
        float w = exp(rec[c * stride] - mx);
        sum += rec[c * stride + 1] * w;
        o += rec[c * stride + 2 + d] * w;
    }
    out[out_off + row * HEAD_DIM + d] = o / sum;
}

#undef ATT_GROUP
#undef ATT_KV_DIM
#undef ATT_BQ
#undef ATT_BKV
#undef ATT_KSTRIDE
#undef ATT_WG
#undef ATT_ACC
#undef ATT_REC
#undef ATT_D4
#undef ATT_NSUB
#undef ATT_DACC

//@family elementwise
/* Elementwise ops on n = S * WIDTH floats (rt_silu, rt_mul, rt_swiglu,
 * rt_add); out may be an input at the same offset.
 *
 * kernel KNAME(silu)(global float *out, int out_off, global const float *x, int x_off, int n)
 *   out = x * sigmoid(x)
 * kernel KNAME(mul)(global float *out, int out_off, global const float *a, int a_off,
 *                   global const float *b, int b_off, int n)
 *   out = a * b
 * kernel KNAME(swiglu)(global float *out, int out_off, global const float *gate,
 *                      int gate_off, global const float *up, int up_off, int n)
 *   out = silu(gate) * up
 * kernel KNAME(add)(global float *out, int out_off, global const float *a, int a_off,
 *                   global const float *b, int b_off, int n)
 *   out = a + b
 * kernel KNAME(copy2d)(global float *out, int out_off, int ld_out, global const float *a, int a_off,
 *                      int cols, int n)
 *   out[r * ld_out + c] = a[r * cols + c] over n = rows * cols values: a part of a split linear
 *   into its rows or columns of the join (pass partition; codegen's emit_join)
 * Each: global (up(n, HETC_WG)), local (HETC_WG): one work-item per value.
 */
kernel __attribute__((reqd_work_group_size(HETC_WG, 1, 1)))
void KNAME(copy2d)(global float *out, int out_off, int ld_out, global const float *a, int a_off, int cols, int n)
{
    int i = get_global_id(0);
    if (i < n) out[out_off + (i / cols) * ld_out + i % cols] = a[a_off + i];
}

kernel __attribute__((reqd_work_group_size(HETC_WG, 1, 1)))
void KNAME(silu)(global float *out, int out_off, global const float *x, int x_off, int n)
{
    int i = get_global_id(0);
    if (i < n) {
        float v = x[x_off + i];
        out[out_off + i] = v / (1.0f + exp(-v));
    }
}

kernel __attribute__((reqd_work_group_size(HETC_WG, 1, 1)))
void KNAME(mul)(global float *out, int out_off, global const float *a, int a_off,
                global const float *b, int b_off, int n)
{
    int i = get_global_id(0);
    if (i < n)
        out[out_off + i] = a[a_off + i] * b[b_off + i];
}

kernel __attribute__((reqd_work_group_size(HETC_WG, 1, 1)))
void KNAME(swiglu)(global float *out, int out_off, global const float *gate, int gate_off,
                   global const float *up, int up_off, int n)
{
    int i = get_global_id(0);
    if (i < n) {
        float g = gate[gate_off + i];
        out[out_off + i] = g / (1.0f + exp(-g)) * up[up_off + i];
    }
}

kernel __attribute__((reqd_work_group_size(HETC_WG, 1, 1)))
void KNAME(add)(global float *out, int out_off, global const float *a, int a_off,
                global const float *b, int b_off, int n)
{
    int i = get_global_id(0);
    if (i < n)
        out[out_off + i] = a[a_off + i] + b[b_off + i];
}
