/* test_ir_cost.c: the cost model (ir_cost.c): the figures' roofline and
 * its defaults, the npu's step-shaped padding, the profile's interpolation
 * (linear along s on a flexible unit, the next length on a static one,
 * between widths and in proportion beyond them, the nearest k), static
 * rows from profiles and standard shapes, hand-overs and work on two
 * units at once (shared bandwidth, shared cores), SwiGLU at a unit's
 * silu_geps where it computes slower than it moves the bytes. */
#include "testutil.h"

#include <math.h>
#include <string.h>

#include "ir/ir.h"

/* cpu0 (flexible), npu0 (static, tile 32), gpu0 (flexible, own memory). */
static void units(IrGraph *g)
{
    ir_graph_init(g, "t", "llama");
    g->nunits = 3;
    memset(g->units, 0, sizeof g->units);
    const char *names[] = {"cpu0", "npu0", "gpu0"}, *kinds[] = {"cpu", "npu", "gpu"};
    for (int i = 0; i < 3; i++) {
        snprintf(g->units[i].name, sizeof g->units[i].name, "%s", names[i]);
        snprintf(g->units[i].kind, sizeof g->units[i].kind, "%s", kinds[i]);
        snprintf(g->units[i].mem, sizeof g->units[i].mem, "%s", i == 2 ? "gpu0" : "host");
    }
    ir_unit_set_float(&g->units[0], "gflops", 100);
    ir_unit_set_float(&g->units[0], "gbps", 10);
    ir_unit_set_float(&g->units[0], "launch_us", 1);
    ir_unit_set_float(&g->units[0], "sync_us", 3);
    ir_unit_set_int(&g->units[1], "tile", 32);
    ir_unit_set_float(&g->units[1], "gops_i8", 1000);
    ir_unit_set_float(&g->units[1], "gbps", 20);
    ir_unit_set_float(&g->units[1], "launch_us", 10);
    ir_unit_set_str(&g->units[1], "shapes", "32 128");
    ir_unit_set_float(&g->units[2], "gflops", 1000);
    ir_unit_set_float(&g->units[2], "gflops_f16", 4000);
    ir_unit_set_float(&g->units[2], "gbps", 100);
    ir_unit_set_float(&g->units[2], "launch_us", 5);
    ir_unit_set_float(&g->units[2], "sync_us", 20);
}

static void test_figures(void **state)
{
    IrGraph g;
    units(&g);
    IrCost c = {.g = &g};
    /* cpu, f32 [256,512] at s=1: bytes 512 KiB + 4*(768) = 527360 over 10 GB/s = 52.736 us, + 1 */
    IrCostEst e = ir_cost_linear(&c, 0, 256, 512, 1, IR_F32);
    assert_float_equal(e.bytes, 256 * 512 * 4 + 4 * 768, 1e-9);
    assert_float_equal(e.us, 1 + e.bytes / 1e4, 1e-9);
    /* s=1024: compute bound, 2*1024*256*512 flops over 100 GFLOP/s */
    e = ir_cost_linear(&c, 0, 256, 512, 1024, IR_F32);
    assert_float_equal(e.us, 1 + 2.0 * 1024 * 256 * 512 / 1e5, 1e-6);
    /* q4_0 weights stream 18 bytes per 32 values; bf16 on a unit with gflops_f16 computes in half */
    assert_float_equal(ir_cost_linear(&c, 2, 256, 512, 1, IR_Q4_0).bytes, 256 * 512 / 32 * 18 + 4 * 768, 1e-9);
    assert_float_equal(ir_cost_linear(&c, 2, 4096, 4096, 4096, IR_BF16).us, 5 + 2.0 * 4096 * 4096 * 4096 / 4e6, 1e-3);
    assert_float_equal(ir_cost_linear(&c, 2, 4096, 4096, 4096, IR_F32).us, 5 + 2.0 * 4096 * 4096 * 4096 / 1e6, 1e-3);
    /* the npu pads s, n and k to its tile: 1 row costs as 32, 33 as 64 */
    double one = ir_cost_linear(&c, 1, 1000, 1000, 1, IR_I8).us, t32 = ir_cost_linear(&c, 1, 1000, 1000, 32, IR_I8).us;
    assert_float_equal(one, t32, 1e-9);
    assert_float_equal(ir_cost_linear(&c, 1, 1024, 1024, 2000, IR_I8).us, 10 + 2.0 * 2016 * 1024 * 1024 / 1e6, 1e-6);
    assert_true(ir_cost_linear(&c, 1, 1024, 1024, 33, IR_I8).us > t32);
    /* standard shapes, then multiples of the largest */
    assert_int_equal(ir_cost_static_rows(&c, 1, 512, 1), 32);
    assert_int_equal(ir_cost_static_rows(&c, 1, 512, 33), 128);
    assert_int_equal(ir_cost_static_rows(&c, 1, 512, 129), 256);
    assert_int_equal(ir_cost_static_rows(&c, 0, 512, 129), 129);
    assert_true(ir_cost_is_static(&c, 1) && !ir_cost_is_static(&c, 2));
    ir_graph_free(&g);
}

static IrCostPoint pt(const char *unit, int64_t n, int64_t k, int64_t s, double us)
{
    IrCostPoint p = {.n = n, .k = k, .s = s, .dtype = IR_F16, .us = us};
    snprintf(p.unit, sizeof p.unit, "%s", unit);
    snprintf(p.op, sizeof p.op, "linear");
    return p;
}

static void test_profile(void **state)
{
    IrGraph g;
    units(&g);
    IrCostPoint pts[] = {pt("gpu0", 1024, 1024, 1, 100), pt("gpu0", 1024, 1024, 128, 1100),
                         pt("gpu0", 2048, 1024, 1, 180), pt("gpu0", 2048, 1024, 128, 2100),
                         pt("npu0", 1024, 1024, 1, 300), pt("npu0", 1024, 1024, 32, 320),
                         pt("npu0", 1024, 1024, 128, 400)};
    IrCostSync sync = {"npu0", "gpu0", 7};
    IrProfile prof = {.pts = pts, .npts = 7, .sync = &sync, .nsync = 1};
    IrCost c = {.g = &g, .prof = &prof};
    /* flexible: linear between lengths, the first below, in proportion beyond */
    assert_float_equal(ir_cost_linear(&c, 2, 1024, 1024, 1, IR_F16).us, 100, 1e-9);
    assert_float_equal(ir_cost_linear(&c, 2, 1024, 1024, 64, IR_F16).us, 100 + 1000.0 * 63 / 127, 1e-9);
    assert_float_equal(ir_cost_linear(&c, 2, 1024, 1024, 256, IR_F16).us, 2200, 1e-9);
    /* between widths: linear in n; beyond: in proportion above launch_us (5) */
    assert_float_equal(ir_cost_linear(&c, 2, 1536, 1024, 1, IR_F16).us, 140, 1e-9);
    assert_float_equal(ir_cost_linear(&c, 2, 512, 1024, 1, IR_F16).us, 5 + 95.0 / 2, 1e-9);
    /* the nearest k, in proportion */
    assert_float_equal(ir_cost_linear(&c, 2, 1024, 2048, 1, IR_F16).us, 5 + 95.0 * 2, 1e-9);
    /* static: the next profiled length, multiples of the last beyond it */
    assert_float_equal(ir_cost_linear(&c, 1, 1024, 1024, 2, IR_F16).us, 320, 1e-9);
    assert_float_equal(ir_cost_linear(&c, 1, 1024, 1024, 33, IR_F16).us, 400, 1e-9);
    assert_float_equal(ir_cost_linear(&c, 1, 1024, 1024, 300, IR_F16).us, 1200, 1e-9);
    assert_int_equal(ir_cost_static_rows(&c, 1, 1024, 2), 32);
    assert_int_equal(ir_cost_static_rows(&c, 1, 1024, 129), 256);
    /* another dtype than profiled: the figures */
    assert_float_equal(ir_cost_linear(&c, 2, 1024, 1024, 1, IR_F32).us,
                       5 + (1024.0 * 1024 * 4 + 4 * 2048) / 1e5, 1e-9);
    /* hand-overs: the profile's pair in either order, else the larger figure */
    assert_float_equal(ir_cost_sync(&c, 2, 1), 7, 0);
    assert_float_equal(ir_cost_sync(&c, 0, 2), 20, 0);
    assert_float_equal(ir_cost_sync(&c, 1, 1), 0, 0);
    ir_graph_free(&g);
}

static void test_swiglu(void **state)
{
    IrGraph g;
    units(&g);
    IrCost c = {.g = &g};
    int64_t dim[2] = {128, 1000};
    int a = ir_add(&g, IR_OP_INPUT, 0, NULL, 2, dim, IR_F32, -1, "a");
    int b = ir_add(&g, IR_OP_INPUT, 0, NULL, 2, dim, IR_F32, -1, "b");
    int in[2] = {a, b};
    int sw = ir_add(&g, IR_OP_SWIGLU, 2, in, 2, dim, IR_F32, 0, "gated");
    g.nodes[sw].unit = 0;
    /* without the figure: its result, 128000 floats, over 10 GB/s = 51.2 us, + 1 (inputs of the
     * step are not counted) */
    IrCostEst e = ir_cost_node(&c, &g.nodes[sw], 128, 0);
    assert_float_equal(e.us, 1 + 128000 * 4 / 1e4, 1e-9);
    ir_unit_set_float(&g.units[0], "silu_geps", 0.1);   /* 128000 elements at 0.1 G/s: 1280 us */
    assert_float_equal(ir_cost_node(&c, &g.nodes[sw], 128, 0).us, 1 + 1280, 1e-9);
    ir_unit_set_float(&g.units[0], "silu_geps", 100);   /* faster than its bytes: bytes again */
    assert_float_equal(ir_cost_node(&c, &g.nodes[sw], 128, 0).us, 1 + 128000 * 4 / 1e4, 1e-9);
    ir_graph_free(&g);
}

static void test_together(void **state)
{
    IrGraph g;
    units(&g);
    IrCost c = {.g = &g};
    IrCostEst a = {100, 1e6}, b = {60, 3e6};
    assert_float_equal(ir_cost_together(&c, 0, a, 2, b), 100, 0);
    ir_graph_set_float(&g, "dram_gbps", 20);    /* 4 MB over 20 GB/s = 200 us */
    assert_float_equal(ir_cost_together(&c, 0, a, 2, b), 200, 1e-9);
    ir_unit_set_str(&g.units[1], "shares", "cpu0");
    assert_float_equal(ir_cost_together(&c, 1, a, 0, b), 200, 1e-9);  /* serialised: 160, bandwidth 200 */
    a.bytes = b.bytes = 0;
    assert_float_equal(ir_cost_together(&c, 0, a, 1, b), 160, 1e-9);
    ir_graph_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_figures),
        cmocka_unit_test(test_profile),
        cmocka_unit_test(test_swiglu),
        cmocka_unit_test(test_together),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
