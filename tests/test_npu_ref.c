/* test_npu_ref.c: npu-emu against the compiler's own int8 reference.
 *
 * One graph of every op an npu unit runs (rmsnorm, quant, qlinear with and
 * without bias, add, swiglu, a second and third quant), built as IR and run
 * by the reference interpreter (ir_interp.c, with its int8 weights derived
 * by ir_weight_derive from float tensors), and built as an RtNpuGraphDesc
 * from the same tensors and scales and run by npu-emu on each instruction
 * path this CPU has: the results must be the same bytes, at row counts
 * below, at and above the tile of 32. Activations carry outlier channels,
 * so quant clamps.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "../ir/ir.h"
#include "../runtime/rt_npu.h"

enum { K = 96, F = 200, V = 96, MAXS = 70 };

static float table[V * K], norm_w[K], w1[K * K], b1[K], wg[F * K], wu[F * K], wd[V * F];

static uint32_t rng = 12345;
static float uniform(void)
{
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) / 16777216.0 * 2 - 1);
}

static const float *weights(void *user, const char *name)
{
    (void)user;
    if (!strcmp(name, "table")) return table;
    if (!strcmp(name, "norm")) return norm_w;
    if (!strcmp(name, "w1")) return w1;
    if (!strcmp(name, "b1")) return b1;
    if (!strcmp(name, "wg")) return wg;
    if (!strcmp(name, "wu")) return wu;
    if (!strcmp(name, "wd")) return wd;
    return NULL;
}

static int node(IrGraph *g, IrOp op, int a, int b, int c, int64_t cols, IrDtype dt, const char *name)
{
    int in[3] = {a, b, c}, nin = (a >= 0) + (b >= 0) + (c >= 0);
    int64_t dim[2] = {IR_DIM_S, cols};
    return ir_add(g, op, nin, in, 2, dim, dt, 0, name);
}

static int weight(IrGraph *g, const char *name, int64_t n, int64_t k, float wscale)
{
    int64_t dim[2] = {n, k};
    int id = ir_add(g, IR_OP_WEIGHT, 0, NULL, k ? 2 : 1, dim, wscale > 0 ? IR_I8 : IR_F32, -1, name);
    ir_set_str(&g->nodes[id], "name", name);
    if (wscale > 0) ir_set_float(&g->nodes[id], "wscale", wscale);
    return id;
}

/* The graph; ids of its quant and qlinear nodes in q[] and l[] (scales). */
static void build(IrGraph *g, int *q, int *l)
{
    ir_graph_init(g, "npu-ref", "llama");
    ir_graph_set_int(g, "vocab", V);
    ir_graph_set_int(g, "max_chunk", MAXS);
    int64_t s = IR_DIM_S;
    int ids = ir_add(g, IR_OP_INPUT, 0, NULL, 1, &s, IR_I32, -1, "ids");
    int e = node(g, IR_OP_EMBED, ids, weight(g, "table", V, K, 0), -1, K, IR_F32, "embed");
    int n = node(g, IR_OP_RMSNORM, e, weight(g, "norm", K, 0, 0), -1, K, IR_F32, "norm");
    ir_set_float(&g->nodes[n], "eps", 1e-5);
    static const float sx[3] = {0.021f, 0.047f, 0.0033f}, sw[4] = {0.0079f, 0.0081f, 0.0077f, 0.0075f};
    q[0] = node(g, IR_OP_QUANT, n, -1, -1, K, IR_I8, "q0");
    l[0] = node(g, IR_OP_QLINEAR, q[0], weight(g, "w1", K, K, sw[0]), weight(g, "b1", K, 0, 0), K, IR_F32, "l0");
    int a = node(g, IR_OP_ADD, l[0], e, -1, K, IR_F32, "res");
    q[1] = node(g, IR_OP_QUANT, a, -1, -1, K, IR_I8, "q1");
    l[1] = node(g, IR_OP_QLINEAR, q[1], weight(g, "wg", F, K, sw[1]), -1, F, IR_F32, "gate");
    l[2] = node(g, IR_OP_QLINEAR, q[1], weight(g, "wu", F, K, sw[2]), -1, F, IR_F32, "up");
    int sg = node(g, IR_OP_SWIGLU, l[1], l[2], -1, F, IR_F32, "swiglu");
    q[2] = node(g, IR_OP_QUANT, sg, -1, -1, F, IR_I8, "q2");
    l[3] = node(g, IR_OP_QLINEAR, q[2], weight(g, "wd", V, F, sw[3]), -1, V, IR_F32, "down");
    int64_t out_dim[2] = {IR_DIM_S, V};
    ir_add(g, IR_OP_OUTPUT, 1, &l[3], 2, out_dim, IR_F32, -1, "out");
    for (int i = 0; i < 3; i++) ir_set_float(&g->nodes[q[i]], "scale", sx[i]);
    for (int i = 0; i < 4; i++) {
        int qi = i == 0 ? 0 : i < 3 ? 1 : 2;
        ir_set_float(&g->nodes[l[i]], "scale", (float)(sx[qi] * sw[i]));
    }
    char err[256];
    if (ir_verify(g, err, sizeof err)) fail_msg("verify: %s", err);
}

static void fill(void)
{
    for (int i = 0; i < V * K; i++) table[i] = uniform() * ((i % K) % 17 == 3 ? 12.0f : 1.0f);   /* outlier channels */
    for (int i = 0; i < K; i++) norm_w[i] = 1 + 0.5f * uniform(), b1[i] = 0.1f * uniform();
    for (int i = 0; i < K * K; i++) w1[i] = uniform();
    for (int i = 0; i < F * K; i++) wg[i] = uniform(), wu[i] = uniform();
    for (int i = 0; i < V * F; i++) wd[i] = uniform();
}

/* The same chain on npu-emu: embedded rows in, the down projection out. */
static void run_npu(const IrGraph *g, const int *q, const int *l, const int32_t *ids, int S, float *out)
{
    int8_t *w8[4];
    const int wnode[4] = {g->nodes[l[0]].in[1], g->nodes[l[1]].in[1], g->nodes[l[2]].in[1], g->nodes[l[3]].in[1]};
    for (int i = 0; i < 4; i++) {
        const IrNode *w = &g->nodes[wnode[i]];
        w8[i] = malloc((size_t)ir_numel(w, 1, 1));
        ir_weight_derive(g, w, weights(NULL, ir_attr_str(w, "name")), w->dim[1], w8[i]);
    }
    static const RtNpuTensor t[] = {{RT_F32, K, 0}, {RT_F32, K, 0}, {RT_I8, K, 0}, {RT_F32, K, 0}, {RT_F32, K, 0}, {RT_I8, K, 0},
                                    {RT_F32, F, 0}, {RT_F32, F, 0}, {RT_F32, F, 0}, {RT_I8, F, 0}, {RT_F32, V, 0}};
    float sc[7];
    for (int i = 0; i < 3; i++) sc[i] = (float)ir_attr_float(&g->nodes[q[i]], "scale");
    for (int i = 0; i < 4; i++) sc[3 + i] = (float)ir_attr_float(&g->nodes[l[i]], "scale");
    const RtNpuOp ops[] = {
        {RT_NPU_RMSNORM, 0, -1, 1, 0, K, NULL, norm_w, 1e-5f, "norm"},
        {RT_NPU_QUANT, 1, -1, 2, 0, K, NULL, NULL, sc[0], "q0"},
        {RT_NPU_QLINEAR, 2, -1, 3, K, K, w8[0], b1, sc[3], "l0"},
        {RT_NPU_ADD, 3, 0, 4, 0, K, NULL, NULL, 0, "res"},
        {RT_NPU_QUANT, 4, -1, 5, 0, K, NULL, NULL, sc[1], "q1"},
        {RT_NPU_QLINEAR, 5, -1, 6, F, K, w8[1], NULL, sc[4], "gate"},
        {RT_NPU_QLINEAR, 5, -1, 7, F, K, w8[2], NULL, sc[5], "up"},
        {RT_NPU_SWIGLU, 6, 7, 8, 0, F, NULL, NULL, 0, "swiglu"},
        {RT_NPU_QUANT, 8, -1, 9, 0, F, NULL, NULL, sc[2], "q2"},
        {RT_NPU_QLINEAR, 9, -1, 10, V, F, w8[3], NULL, sc[6], "down"},
    };
    RtNpuGraphDesc d = {"npu-ref", S, 32, 11, t, 10, ops};
    RtNpu *npu;
    RtNpuGraph *gr;
    if (rt_npu_emu.open(&npu, 2) != RT_OK || rt_npu_emu.build(npu, &d, &gr) != RT_OK)
        fail_msg("npu-emu: %s", rt_last_error());
    void *bufs[11];
    for (int i = 0; i < 11; i++) bufs[i] = calloc((size_t)S * (size_t)t[i].cols, 4);
    for (int s = 0; s < S; s++) memcpy((float *)bufs[0] + (size_t)s * K, table + (size_t)ids[s] * K, K * sizeof(float));
    if (rt_npu_emu.execute(gr, bufs) != RT_OK) fail_msg("execute: %s", rt_last_error());
    memcpy(out, bufs[10], (size_t)S * V * sizeof(float));
    for (int i = 0; i < 11; i++) free(bufs[i]);
    for (int i = 0; i < 4; i++) free(w8[i]);
    rt_npu_emu.free_graph(gr);
    rt_npu_emu.close(npu);
}

static void test_equal_to_interpreter(void **state)
{
    fill();
    IrGraph g;
    int q[3], l[4];
    build(&g, q, l);
    static const char *const paths[] = {"scalar", "avx2", "vnni"};
#if defined(__x86_64__)
    const int has[] = {1, __builtin_cpu_supports("avx2"), __builtin_cpu_supports("avx512vnni")};
#else
    const int has[] = {1, 0, 0};
#endif
    static const int rows[] = {1, 7, 31, 32, 33, 70};
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        int S = rows[r];
        int32_t ids[MAXS];
        for (int s = 0; s < S; s++) ids[s] = (int32_t)((s * 37 + 11) % V);
        char err[256];
        IrInterp *it = ir_interp_new(&g, weights, NULL, S, err, sizeof err);
        if (!it) fail_msg("interpreter: %s", err);
        float ref[MAXS * V], got[MAXS * V];
        if (ir_interp_step(it, ids, S, ref, err, sizeof err)) fail_msg("interpreter: %s", err);
        ir_interp_free(it);
        for (int p = 0; p < 3; p++) {
            if (!has[p]) {
                print_message("[ skip     ] this CPU lacks path %s: untested\n", paths[p]);
                continue;
            }
            setenv("HETC_NPU_ISA", paths[p], 1);
            run_npu(&g, q, l, ids, S, got);
            if (memcmp(ref, got, (size_t)S * V * sizeof(float)) != 0)
                fail_msg("%d rows, path %s: npu-emu differs from the interpreter", S, paths[p]);
        }
        unsetenv("HETC_NPU_ISA");
    }
    ir_graph_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_equal_to_interpreter)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
