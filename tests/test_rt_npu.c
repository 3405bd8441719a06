/* test_rt_npu.c: npu-emu (rt_npu.h) against a scalar reference written
 * here from the formulas of rt_npu.h: every instruction path the CPU has
 * (HETC_NPU_ISA) on random QUANT -> QLINEAR graphs of odd sizes and on a
 * chain of every op kind, compared byte for byte (not to a tolerance),
 * with 1, 2 and 3 threads; plus build()'s checks and messages, memory()
 * and the path selection. */
#include "testutil.h"
#include "rt_npu.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The reference must round every step as written. */
#pragma GCC optimize("fp-contract=off")

enum { GUARD = 64, MAX_T = 16 };

static const char *const paths[] = {"scalar", "avx2", "vnni"};

/* ---- random numbers ---- */

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint32_t rand_u32(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}

static int rand_int(int lo, int hi)     /* [lo, hi] */
{
    return lo + (int)(rand_u32() % (uint32_t)(hi - lo + 1));
}

static float frand(void)                /* [-1, 1) */
{
    return (float)(rand_u32() >> 8) * 0x1p-23f - 1.0f;
}

/* QUANT inputs for scale s: nan, inf, exact .5 ties (s a power of two),
 * values at and past the clamp, -0 and ordinary values. */
static float quant_input(float s)
{
    switch (rand_u32() % 16) {
    case 0: return NAN;
    case 1: return rand_u32() & 1 ? INFINITY : -INFINITY;
    case 2: case 3: return ((float)rand_int(-130, 129) + 0.5f) * s;
    case 4: return (float)rand_int(-1000, 1000) * s;
    case 5: return (rand_u32() & 1 ? 127.0f : -127.0f) * s;
    case 6: return (rand_u32() & 1 ? 127.5f : -127.5f) * s;
    case 7: return -0.0f;
    default: return frand() * 140.0f * s;
    }
}

/* ---- graphs ---- */

typedef struct {
    RtNpuTensor t[MAX_T];
    RtNpuOp op[MAX_T];
    int nt, nop;
    int rows, tile;
} Graph;

static int add_tensor(Graph *g, RtDtype dt, int64_t cols)
{
    g->t[g->nt] = (RtNpuTensor){.dtype = dt, .cols = cols};
    return g->nt++;
}

static void add_op(Graph *g, RtNpuOp op)
{
    g->op[g->nop++] = op;
}

static RtNpuGraphDesc desc_of(const Graph *g, const char *name)
{
    return (RtNpuGraphDesc){.name = name, .rows = g->rows, .tile = g->tile, .ntensors = g->nt,
                            .tensors = g->t, .nops = g->nop, .ops = g->op};
}

static size_t tensor_bytes(const Graph *g, int i)
{
    return (size_t)g->rows * (size_t)g->t[i].cols * (g->t[i].dtype == RT_I8 ? 1 : 4);
}

/* Buffers of every tensor with GUARD bytes of 0xa5 after each. */
static void alloc_bufs(const Graph *g, void **bufs)
{
    for (int i = 0; i < g->nt; i++) {
        size_t n = tensor_bytes(g, i);
        bufs[i] = calloc(1, n + GUARD);
        memset((char *)bufs[i] + n, 0xa5, GUARD);
    }
}

static void free_bufs(const Graph *g, void **bufs)
{
    for (int i = 0; i < g->nt; i++)
        free(bufs[i]);
}

static int8_t *rand_weights(int64_t n)
{
    int8_t *w = malloc((size_t)n);
    for (int64_t i = 0; i < n; i++)
        w[i] = (int8_t)(rand_u32() % 8 == 0 ? (rand_u32() & 1 ? 127 : -127) : rand_int(-127, 127));
    return w;
}

static float *rand_floats(int64_t n, float scale)
{
    float *p = malloc((size_t)n * sizeof *p);
    for (int64_t i = 0; i < n; i++)
        p[i] = frand() * scale;
    return p;
}

/* ---- the reference, from rt_npu.h's formulas ---- */

static int8_t ref_quant(float x, float scale)
{
    float v = x / scale;
    return v != v ? 0 : v >= 127.0f ? 127 : v <= -127.0f ? -127 : (int8_t)nearbyintf(v);
}

static void ref_run(const Graph *g, void **bufs)
{
    int rows = g->rows;
    for (int o = 0; o < g->nop; o++) {
        const RtNpuOp *op = &g->op[o];
        const float *a = bufs[op->in0], *b = op->in1 >= 0 ? bufs[op->in1] : NULL;
        float *out = bufs[op->out];
        int64_t k = op->k, n = (int64_t)rows * k;
        switch (op->kind) {
        case RT_NPU_QUANT:
            for (int64_t i = 0; i < n; i++)
                ((int8_t *)bufs[op->out])[i] = ref_quant(a[i], op->scale);
            break;
        case RT_NPU_QLINEAR:
            for (int r = 0; r < rows; r++)
                for (int64_t j = 0; j < op->n; j++) {
                    const int8_t *x = (const int8_t *)bufs[op->in0] + r * k;
                    int32_t acc = 0;
                    for (int64_t i = 0; i < k; i++)
                        acc += x[i] * op->w8[j * k + i];
                    float y = (float)acc * op->scale;
                    if (op->wf)
                        y = y + op->wf[j];
                    out[r * op->n + j] = y;
                }
            break;
        case RT_NPU_RMSNORM:
            for (int r = 0; r < rows; r++) {
                const float *x = a + r * k;
                double ss = 0;
                for (int64_t j = 0; j < k; j++)
                    ss += (double)x[j] * x[j];
                float inv = (float)(1.0 / sqrt(ss / k + op->scale));
                for (int64_t j = 0; j < k; j++)
                    out[r * k + j] = x[j] * inv * op->wf[j];
            }
            break;
        case RT_NPU_ADD:
            for (int64_t i = 0; i < n; i++)
                out[i] = a[i] + b[i];
            break;
        case RT_NPU_MUL:
            for (int64_t i = 0; i < n; i++)
                out[i] = a[i] * b[i];
            break;
        case RT_NPU_SILU:
            for (int64_t i = 0; i < n; i++)
                out[i] = a[i] / (1.0f + expf(-a[i]));
            break;
        default:
            for (int64_t i = 0; i < n; i++)
                out[i] = (a[i] / (1.0f + expf(-a[i]))) * b[i];
            break;
        }
    }
}

/* ---- running the emulator ---- */

/* Opens path 'isa' with 'threads' threads; NULL (and says so) when the CPU
 * lacks it. */
static RtNpu *open_path(const char *isa, int threads)
{
    RtNpu *npu = NULL;
    setenv("HETC_NPU_ISA", isa, 1);
    RtStatus st = rt_npu_emu.open(&npu, threads);
    unsetenv("HETC_NPU_ISA");
    if (st != RT_OK) {
        assert_int_equal(st, RT_ERR_ARG);
        assert_non_null(strstr(rt_last_error(), "has no"));
        printf("[  SKIP    ] npu-emu path %s: %s\n", isa, rt_last_error());
        return NULL;
    }
    assert_string_equal(rt_npu_emu.path(npu), isa);
    return npu;
}

/* Builds and runs g on npu over a copy of the inputs in 'in' (tensors
 * no op writes); every tensor must equal 'want' byte for byte, and the
 * guard bytes must be intact. */
static void check_run(RtNpu *npu, const Graph *g, void **in, void **want, const char *what)
{
    RtNpuGraphDesc d = desc_of(g, what);
    RtNpuGraph *ng = NULL;
    if (rt_npu_emu.build(npu, &d, &ng) != RT_OK)
        fail_msg("%s: build: %s", what, rt_last_error());
    void *bufs[MAX_T];
    alloc_bufs(g, bufs);
    for (int i = 0; i < g->nt; i++)
        memcpy(bufs[i], in[i], tensor_bytes(g, i));
    if (rt_npu_emu.execute(ng, bufs) != RT_OK)
        fail_msg("%s: execute: %s", what, rt_last_error());
    for (int i = 0; i < g->nt; i++) {
        size_t n = tensor_bytes(g, i);
        for (size_t b = 0; b < n; b++)
            if (((unsigned char *)bufs[i])[b] != ((unsigned char *)want[i])[b])
                fail_msg("%s (path %s): tensor %d differs from the reference at byte %zu",
                         what, rt_npu_emu.path(npu), i, b);
        for (size_t b = n; b < n + GUARD; b++)
            if (((unsigned char *)bufs[i])[b] != 0xa5)
                fail_msg("%s: tensor %d written past its end", what, i);
    }
    free_bufs(g, bufs);
    rt_npu_emu.free_graph(ng);
}

/* ---- tests ---- */

/* QUANT -> QLINEAR (or a QLINEAR on an i8 input of the full range
 * [-128, 127]) on one shape, on every path. */
static void check_qlinear_shape(RtNpu **npus, int rows, int64_t n, int64_t k, bool bias,
                                bool quant, float scale)
{
    Graph g = {.rows = rows, .tile = 32};
    int x = add_tensor(&g, RT_F32, k), xq = add_tensor(&g, RT_I8, k), y = add_tensor(&g, RT_F32, n);
    int8_t *w = rand_weights(n * k);
    float *b = bias ? rand_floats(n, 4.0f) : NULL;
    if (quant)
        add_op(&g, (RtNpuOp){.kind = RT_NPU_QUANT, .in0 = x, .in1 = -1, .out = xq, .k = k,
                             .scale = scale, .name = "%1 quant"});
    add_op(&g, (RtNpuOp){.kind = RT_NPU_QLINEAR, .in0 = xq, .in1 = -1, .out = y, .n = n, .k = k,
                         .w8 = w, .wf = b, .scale = 0.0123f, .name = "%2 qlinear"});
    void *in[MAX_T], *want[MAX_T];
    alloc_bufs(&g, in);
    alloc_bufs(&g, want);
    for (int64_t i = 0; i < rows * k; i++) {
        ((float *)in[x])[i] = quant_input(scale);
        ((int8_t *)in[xq])[i] = quant ? 0 : (int8_t)rand_int(-128, 127);
    }
    for (int i = 0; i < g.nt; i++)
        memcpy(want[i], in[i], tensor_bytes(&g, i));
    ref_run(&g, want);
    char what[128];
    snprintf(what, sizeof what, "rows %d n %lld k %lld%s%s", rows, (long long)n, (long long)k,
             bias ? " bias" : "", quant ? "" : " (i8 input)");
    for (int p = 0; p < 3; p++)
        if (npus[p])
            check_run(npus[p], &g, in, want, what);
    free_bufs(&g, in);
    free_bufs(&g, want);
    free(w);
    free(b);
}

static void test_qlinear_paths(void **state)
{
    (void)state;
    RtNpu *npus[3];
    for (int p = 0; p < 3; p++)
        npus[p] = open_path(paths[p], 2);
    static const int rows[] = {1, 7, 33, 300};
    static const int64_t nk[][2] = {{1, 1}, {3, 5}, {17, 33}, {70, 100}, {100, 70},
                                    {130, 300}, {64, 64}, {200, 600}};
    for (size_t r = 0; r < sizeof rows / sizeof *rows; r++)
        for (size_t s = 0; s < sizeof nk / sizeof *nk; s++)
            check_qlinear_shape(npus, rows[r], nk[s][0], nk[s][1], s % 2 == 0, true, 0.03125f);
    for (int i = 0; i < 12; i++)    /* random shapes and scales */
        check_qlinear_shape(npus, rand_int(1, 80), rand_int(1, 300), rand_int(1, 700),
                            rand_u32() & 1, i % 3 != 0, i % 2 ? 0.0123f : 0.25f);
    for (int p = 0; p < 3; p++)
        rt_npu_emu.close(npus[p]);
}

/* QUANT -> QLINEAR -> ADD -> RMSNORM -> QUANT -> QLINEAR (gate, up) ->
 * SWIGLU -> SILU -> MUL, with 1, 2 and 3 threads on every path. */
static void test_chain(void **state)
{
    (void)state;
    const int64_t H = 80, F = 100;
    Graph g = {.rows = 45, .tile = 32};
    int x = add_tensor(&g, RT_F32, H), xq = add_tensor(&g, RT_I8, H);
    int h = add_tensor(&g, RT_F32, H), res = add_tensor(&g, RT_F32, H);
    int nrm = add_tensor(&g, RT_F32, H), nq = add_tensor(&g, RT_I8, H);
    int gate = add_tensor(&g, RT_F32, F), up = add_tensor(&g, RT_F32, F);
    int act = add_tensor(&g, RT_F32, F), sil = add_tensor(&g, RT_F32, F);
    int prod = add_tensor(&g, RT_F32, F);
    int8_t *wq = rand_weights(H * H), *wg = rand_weights(F * H), *wu = rand_weights(F * H);
    float *bq = rand_floats(H, 0.5f), *nw = rand_floats(H, 2.0f);
    add_op(&g, (RtNpuOp){RT_NPU_QUANT, x, -1, xq, 0, H, NULL, NULL, 0.02f, "%1 quant"});
    add_op(&g, (RtNpuOp){RT_NPU_QLINEAR, xq, -1, h, H, H, wq, bq, 0.001f, "%2 l0.attn.o"});
    add_op(&g, (RtNpuOp){RT_NPU_ADD, h, x, res, 0, H, NULL, NULL, 0, "%3 residual"});
    add_op(&g, (RtNpuOp){RT_NPU_RMSNORM, res, -1, nrm, 0, H, NULL, nw, 1e-5f, "%4 norm"});
    add_op(&g, (RtNpuOp){RT_NPU_QUANT, nrm, -1, nq, 0, H, NULL, NULL, 0.03f, "%5 quant"});
    add_op(&g, (RtNpuOp){RT_NPU_QLINEAR, nq, -1, gate, F, H, wg, NULL, 0.002f, "%6 l0.mlp.gate"});
    add_op(&g, (RtNpuOp){RT_NPU_QLINEAR, nq, -1, up, F, H, wu, NULL, 0.0015f, "%7 l0.mlp.up"});
    add_op(&g, (RtNpuOp){RT_NPU_SWIGLU, gate, up, act, 0, F, NULL, NULL, 0, "%8 swiglu"});
    add_op(&g, (RtNpuOp){RT_NPU_SILU, act, -1, sil, 0, F, NULL, NULL, 0, "%9 silu"});
    add_op(&g, (RtNpuOp){RT_NPU_MUL, sil, act, prod, 0, F, NULL, NULL, 0, "%10 mul"});
    void *in[MAX_T], *want[MAX_T];
    alloc_bufs(&g, in);
    alloc_bufs(&g, want);
    for (int64_t i = 0; i < g.rows * H; i++)
        ((float *)in[x])[i] = i % 97 == 0 ? 40.0f : frand() * 2.0f;
    memcpy(want[x], in[x], tensor_bytes(&g, x));
    ref_run(&g, want);
    for (int p = 0; p < 3; p++)
        for (int threads = 1; threads <= 3; threads++) {
            RtNpu *npu = open_path(paths[p], threads);
            if (!npu)
                break;
            check_run(npu, &g, in, want, "chain");
            assert_true(rt_npu_emu.busy_seconds(npu) > 0.0);
            rt_npu_emu.close(npu);
        }
    free_bufs(&g, in);
    free_bufs(&g, want);
    free(wq), free(wg), free(wu), free(bq), free(nw);
}

/* A valid QUANT -> QLINEAR -> RMSNORM graph to break in test_build_errors. */
typedef struct {
    Graph g;
    int8_t w[64 * 48];
    float nw[64];
} ErrCase;

static void err_case(ErrCase *c)
{
    memset(c, 0, sizeof *c);
    c->g.rows = 5, c->g.tile = 32;
    add_tensor(&c->g, RT_F32, 48);
    add_tensor(&c->g, RT_I8, 48);
    add_tensor(&c->g, RT_F32, 64);
    add_tensor(&c->g, RT_F32, 64);
    add_op(&c->g, (RtNpuOp){RT_NPU_QUANT, 0, -1, 1, 0, 48, NULL, NULL, 0.1f, "%3 quant"});
    add_op(&c->g, (RtNpuOp){RT_NPU_QLINEAR, 1, -1, 2, 64, 48, c->w, NULL, 0.1f, "%7 l0.q"});
    add_op(&c->g, (RtNpuOp){RT_NPU_RMSNORM, 2, -1, 3, 0, 64, NULL, c->nw, 1e-5f, "%8 norm"});
}

static void expect_build_error(RtNpu *npu, const ErrCase *c, const char *op, const char *msg)
{
    RtNpuGraphDesc d = desc_of(&c->g, "errors-graph");
    RtNpuGraph *g = (RtNpuGraph *)&d;
    assert_int_equal(rt_npu_emu.build(npu, &d, &g), RT_ERR_ARG);
    assert_null(g);
    const char *e = rt_last_error();
    if (!strstr(e, "errors-graph") || !strstr(e, op) || !strstr(e, msg))
        fail_msg("error '%s' lacks the graph, '%s' or '%s'", e, op, msg);
}

static void test_build_errors(void **state)
{
    (void)state;
    RtNpu *npu = NULL;
    assert_int_equal(rt_npu_emu.open(&npu, 1), RT_OK);
    ErrCase c;
    err_case(&c);
    RtNpuGraphDesc d = desc_of(&c.g, "ok");
    RtNpuGraph *g = NULL;
    assert_int_equal(rt_npu_emu.build(npu, &d, &g), RT_OK);
    rt_npu_emu.free_graph(g);

    c.g.op[1].in0 = 0;                  /* f32 into a qlinear */
    expect_build_error(npu, &c, "%7 l0.q", "in0 (tensor 0) has dtype f32, want i8");
    err_case(&c);
    c.g.op[0].out = 2;                  /* quant into f32 */
    expect_build_error(npu, &c, "%3 quant", "out (tensor 2) has dtype f32, want i8");
    err_case(&c);
    c.g.op[1].k = 64;                   /* k mismatch */
    expect_build_error(npu, &c, "%7 l0.q", "in0 (tensor 1) has 48 columns, but k = 64");
    err_case(&c);
    c.g.op[1].n = 32;                   /* n mismatch */
    expect_build_error(npu, &c, "%7 l0.q", "out (tensor 2) has 64 columns, but n = 32");
    err_case(&c);
    c.g.op[1].w8 = NULL;
    expect_build_error(npu, &c, "%7 l0.q", "missing weights");
    err_case(&c);
    c.g.op[2].wf = NULL;
    expect_build_error(npu, &c, "%8 norm", "missing weights");
    err_case(&c);
    c.g.op[2].out = 9;
    expect_build_error(npu, &c, "%8 norm", "out tensor 9 out of range");
    err_case(&c);
    c.g.op[1].in0 = -1;
    expect_build_error(npu, &c, "%7 l0.q", "in0 tensor -1 out of range");
    err_case(&c);
    c.g.op[2].in1 = 0;
    expect_build_error(npu, &c, "%8 norm", "in1 must be -1");
    err_case(&c);
    c.g.op[1].kind = RT_NPU_OP_COUNT;
    expect_build_error(npu, &c, "%7 l0.q", "unknown op kind");
    err_case(&c);
    c.w[3 * 48 + 5] = -128;
    expect_build_error(npu, &c, "%7 l0.q", "weight [3, 5] is -128");
    err_case(&c);
    c.g.op[0].scale = 0.0f;
    expect_build_error(npu, &c, "%3 quant", "scale");

    err_case(&c);
    c.g.rows = 0;
    d = desc_of(&c.g, "no-rows");
    assert_int_equal(rt_npu_emu.build(npu, &d, &g), RT_ERR_ARG);
    assert_non_null(strstr(rt_last_error(), "no-rows"));
    err_case(&c);
    c.g.t[3].dtype = RT_BF16;
    d = desc_of(&c.g, "bad-dtype");
    assert_int_equal(rt_npu_emu.build(npu, &d, &g), RT_ERR_ARG);
    assert_non_null(strstr(rt_last_error(), "tensor 3: dtype bf16"));

    err_case(&c);                       /* execute without a buffer */
    d = desc_of(&c.g, "ok");
    assert_int_equal(rt_npu_emu.build(npu, &d, &g), RT_OK);
    void *bufs[MAX_T];
    alloc_bufs(&c.g, bufs);
    void *kept = bufs[2];
    bufs[2] = NULL;
    assert_int_equal(rt_npu_emu.execute(g, bufs), RT_ERR_ARG);
    assert_non_null(strstr(rt_last_error(), "no buffer for tensor 2"));
    bufs[2] = kept;
    free_bufs(&c.g, bufs);
    rt_npu_emu.free_graph(g);
    rt_npu_emu.close(npu);
}

static RtNpuMemory memory_of(RtNpu *npu, int rows, int64_t n, int64_t k)
{
    Graph g = {.rows = rows, .tile = 32};
    add_tensor(&g, RT_I8, k);
    add_tensor(&g, RT_F32, n);
    int8_t *w = rand_weights(n * k);
    add_op(&g, (RtNpuOp){RT_NPU_QLINEAR, 0, -1, 1, n, k, w, NULL, 1.0f, "%1 mem"});
    RtNpuGraphDesc d = desc_of(&g, "memory");
    RtNpuGraph *ng = NULL;
    assert_int_equal(rt_npu_emu.build(npu, &d, &ng), RT_OK);
    RtNpuMemory m;
    rt_npu_emu.memory(ng, &m);
    rt_npu_emu.free_graph(ng);
    free(w);
    return m;
}

static void test_memory(void **state)
{
    (void)state;
    for (int p = 0; p < 3; p++) {
        RtNpu *npu = open_path(paths[p], 1);
        if (!npu)
            continue;
        /* n 100 -> 128, k 70 -> 96, rows 7 -> 32 */
        RtNpuMemory m = memory_of(npu, 7, 100, 70);
        assert_true(m.weight_bytes >= 128 * 96);
        assert_true(m.weight_bytes <= 128 * 96 + 8 * 128 + 64);
        assert_true(m.work_bytes >= 32 * 96);
        assert_true(m.pad_bytes >= (128 * 96 - 100 * 70) + (32 * 96 - 7 * 70));
        assert_true(m.pad_bytes < m.weight_bytes + m.work_bytes);
        /* multiples of the tile: no padding */
        m = memory_of(npu, 64, 64, 96);
        assert_true(m.weight_bytes >= 64 * 96);
        assert_int_equal(m.pad_bytes, 0);
        rt_npu_emu.close(npu);
    }
}

static void test_open(void **state)
{
    (void)state;
    RtNpu *npu = NULL;
    setenv("HETC_NPU_ISA", "bogus", 1);
    assert_int_equal(rt_npu_emu.open(&npu, 1), RT_ERR_ARG);
    unsetenv("HETC_NPU_ISA");
    assert_null(npu);
    assert_non_null(strstr(rt_last_error(), "HETC_NPU_ISA=bogus"));
    assert_int_equal(rt_npu_emu.open(&npu, 0), RT_OK);
    assert_string_equal(rt_npu_emu.name, "npu-emu");
    const char *best = rt_npu_emu.path(npu);
    assert_true(!strcmp(best, "vnni") || !strcmp(best, "avx2") || !strcmp(best, "scalar"));
    printf("npu-emu: best path here: %s\n", best);
    assert_true(rt_npu_emu.busy_seconds(npu) == 0.0);
    rt_npu_emu.close(npu);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open),
        cmocka_unit_test(test_qlinear_paths),
        cmocka_unit_test(test_chain),
        cmocka_unit_test(test_build_errors),
        cmocka_unit_test(test_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
