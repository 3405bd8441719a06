/* test_partition.c: HeteroLLM's partition solver (pass_partition_solve.c)
 * on the times HeteroLLM publishes for Llama-8B's linears on a Snapdragon
 * 8 Gen 3 (its Table 3, targets/profiles/sd8gen3-heterollm-table3.json):
 * it makes the paper's choices (NPU alone where it wins by far, padding up
 * to the NPU's 256 for s = 193..255, activation-centric for s = 257..272,
 * weight-centric splits for decode where neither unit alone is best and
 * the paper's 2:3 for the down projection at 256, the GPU alone for the
 * down projection in decode); and hetc partition prints the same as JSON,
 * with clear errors for bad arguments. Pass partition writes the splits
 * into the IR (joins of parts), and the interpreter runs them: on
 * tests/fixtures/split-npu.xml, llama-tiny's linears split W's rows at
 * chunks of 32 and x's rows at chunks of 48, and the logits stay at least
 * as close to the float reference as with every linear int8 on the npu
 * (a wrong part, row offset or join would be far off). */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "passes/passes.h"

typedef struct {
    IrGraph g;
    IrProfile prof;
    IrCost c;
    int gpu, npu;
} Table3;

static int setup(void **state)
{
    Table3 *t = calloc(1, sizeof *t);
    FeTarget tg;
    char err[FE_ERR_LEN];
    if (fe_target_load(&tg, tu_fmt("%s/targets/sd8gen3.xml", tu_src()), err, sizeof err) ||
        fe_profile_load(&t->prof, tu_fmt("%s/targets/profiles/sd8gen3-heterollm-table3.json", tu_src()), err,
                        sizeof err))
        fail_msg("%s", err);
    ir_graph_init(&t->g, "llama-8b", "llama");
    pass_place_units(&t->g, &tg);
    t->gpu = ir_unit_find(&t->g, "gpu0");
    t->npu = ir_unit_find(&t->g, "npu0");
    t->c = (IrCost){.g = &t->g, .prof = &t->prof};
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    Table3 *t = *state;
    ir_graph_free(&t->g);
    fe_profile_free(&t->prof);
    free(t);
    return 0;
}

static PassPart solve(Table3 *t, int64_t n, int64_t k, int64_t s)
{
    PassPart p;
    t->c.g = &t->g;
    pass_partition_solve(&t->c, t->gpu, t->npu, n, k, s, IR_Q4_0, pass_npu_dtype(IR_Q4_0), &p);
    return p;
}

static void test_table3(void **state)
{
    Table3 *t = *state;
    /* decode: q/o (511 / 693 us) and gate+up (1903 / 3886): weight-centric, faster than either alone */
    int64_t decode[][2] = {{4096, 4096}, {28672, 4096}};
    for (int i = 0; i < 2; i++) {
        PassPart p = solve(t, decode[i][0], decode[i][1], 1);
        assert_int_equal(p.choice, PASS_PART_WEIGHT);
        assert_true(p.n_npu > 0 && p.n_npu < decode[i][0] && p.n_npu % 32 == 0);
        assert_true(p.us < 0.8 * p.alone_us[0] && p.us < p.alone_us[1]);
    }
    assert_float_equal(solve(t, 4096, 4096, 1).alone_us[0], 511, 1e-9);
    /* decode down projection (1467 / 6506): the GPU alone */
    assert_int_equal(solve(t, 4096, 14336, 1).choice, PASS_PART_FLOAT);
    /* 4096x4096 at 128 (7306 / 912) and 256 (10841 / 1884): the NPU alone */
    PassPart p = solve(t, 4096, 4096, 128);
    assert_int_equal(p.choice, PASS_PART_NPU);
    assert_float_equal(p.us, 912, 1e-9);
    assert_int_equal(solve(t, 4096, 4096, 256).choice, PASS_PART_NPU);
    /* 193..255: the NPU alone, padded to its 256 graph */
    for (int s = 193; s <= 255; s++) {
        p = solve(t, 4096, 4096, s);
        assert_int_equal(p.choice, PASS_PART_NPU);
        assert_int_equal(p.s_pad, 256);
        assert_float_equal(p.us, 1884, 1e-9);
    }
    /* 257..272: 256 rows on the NPU, the rest on the GPU */
    for (int s = 257; s <= 272; s++) {
        p = solve(t, 4096, 4096, s);
        assert_int_equal(p.choice, PASS_PART_ACTIVATION);
        assert_int_equal(p.s_npu, 256);
        assert_true(p.us < p.alone_us[0] && p.us < p.alone_us[1]);
    }
    /* the down projection at 256 (35231 / 23445): weight-centric GPU:NPU 2:3 */
    p = solve(t, 4096, 14336, 256);
    assert_int_equal(p.choice, PASS_PART_WEIGHT);
    assert_true(llabs(p.n_npu - 4096 * 3 / 5) <= 32);
}

/* Without a profile, from sd8gen3.xml's figures: sane and consistent. */
static void test_figures(void **state)
{
    Table3 *t = *state;
    const IrProfile *saved = t->c.prof;
    t->c.prof = NULL;
    for (int64_t s = 1; s <= 600; s += 37) {
        PassPart p = solve(t, 4096, 4096, s);
        assert_true(p.us <= p.alone_us[0] + 1e-9 && p.us <= p.alone_us[1] + 1e-9);
        assert_true(p.us > 0);
        if (p.choice == PASS_PART_ACTIVATION) assert_true(p.s_npu > 0 && p.s_npu < s);
    }
    assert_int_equal(solve(t, 4096, 4096, 256).choice, PASS_PART_NPU);
    t->c.prof = saved;
}

static void test_cli(void **state)
{
    char *out = NULL;
    const char *base = tu_fmt("%s partition --target %s/targets/sd8gen3.xml --profile "
                              "%s/targets/profiles/sd8gen3-heterollm-table3.json --op linear --weight-dtype q4_0",
                              tu_hetc(), tu_src(), tu_src());
    assert_int_equal(tu_run(&out, "%s --n 4096 --k 14336 --s 256", base), 0);
    assert_non_null(strstr(out, "{\"choice\": \"weight\", \"float_unit\": \"gpu0\", \"npu_unit\": \"npu0\", "
                                "\"ratio\": {\"gpu0\": 0.3984, \"npu0\": 0.6016}"));
    assert_non_null(strstr(out, "\"alone_us\": {\"gpu0\": 35231.0, \"npu0\": 23445.0}"));
    free(out);
    assert_int_equal(tu_run(&out, "%s --n 4096 --k 14336 --s 1", base), 0);
    assert_non_null(strstr(out, "{\"choice\": \"gpu\""));
    free(out);
    static const struct {
        const char *args, *want;
    } bad[] = {
        {"--n 4096 --k 4096", "usage: hetc partition"},
        {"--n 4096 --k 4096 --s 1 --op attention", "--op: 'attention': the solver partitions linears only"},
        {"--n 4096 --k 100 --s 1", "--k 100: a q4_0 weight's rows are blocks of 32 values"},
        {"--n 4096 --k 4096 --s 0", "--s: '0' is not"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_not_equal(tu_run(&out, "%s %s", base, bad[i].args), 0);
        if (!strstr(out, bad[i].want)) fail_msg("%s: got '%s'", bad[i].args, out);
        free(out);
    }
    assert_int_not_equal(tu_run(&out, "%s partition --target %s/targets/host-cpu.xml --n 8 --k 8 --s 1", tu_hetc(),
                                tu_src()), 0);
    assert_non_null(strstr(out, "target host-cpu has no npu unit: there is nothing to partition"));
    free(out);
}

/* The mean |logit - float reference| of hetc run over 40 tokens with the
 * given target options; the IR after pass partition in *ir. */
static double run_error(const char *opts, char **ir)
{
    const char *tmp = tu_tmpdir("partition-run"), *model = tu_fmt("%s/fixtures/llama-tiny", tu_shared());
    const char *ids = "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,"
                      "35,36,37,38,39,40";
    char *out;
    if (tu_run(&out, "%s run %s --ids %s --logits %s/ref.bin", tu_hetc(), model, ids, tmp)) fail_msg("%s", out);
    free(out);
    if (tu_run(&out, "%s run %s --ids %s --logits %s/got.bin %s --calib-window 64", tu_hetc(), model, ids, tmp, opts))
        fail_msg("%s", out);
    free(out);
    if (ir && tu_run(ir, "%s compile %s -o %s/p %s --calib-window 64 --print-after=partition 2>&1", tu_hetc(), model,
                     tmp, opts) == 0)
        fail_msg("compile of split linears should say they are not generated yet");
    size_t nr, ng;
    float *ref = (float *)tu_read_file(tu_fmt("%s/ref.bin", tmp), &nr), *got = (float *)tu_read_file(tu_fmt("%s/got.bin", tmp), &ng);
    assert_true(nr == ng && nr > 0);
    double e = 0;
    for (size_t i = 0; i < nr / 4; i++) e += fabs((double)got[i] - ref[i]);
    free(ref);
    free(got);
    return e / (double)(nr / 4);
}

static void test_splits(void **state)
{
    (void)state;
    const char *target = tu_fmt("--target %s/tests/fixtures/split-npu.xml", tu_src());
    char *ir;
    double all_npu = run_error(tu_fmt("%s --chunk 32 --partition npu", target), NULL);
    double weight = run_error(tu_fmt("%s --chunk 32", target), &ir);
    assert_non_null(strstr(ir, "\"l0.q.weight.npu0\" unit=npu0"));
    assert_non_null(strstr(ir, "join("));
    assert_non_null(strstr(ir, "axis=1 part=\"weight\""));
    assert_non_null(strstr(ir, "the kernels of split linears are not generated yet"));
    free(ir);
    double activation = run_error(tu_fmt("%s --chunk 48", target), &ir);
    assert_non_null(strstr(ir, "axis=0 part=\"activation\""));
    assert_non_null(strstr(ir, "rows("));
    free(ir);
    if (all_npu < 1e-3 || weight > all_npu || activation > all_npu)
        fail_msg("mean logit error: every linear int8 %g, weight splits %g, activation splits %g", all_npu, weight,
                 activation);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_table3, setup, teardown),
        cmocka_unit_test_setup_teardown(test_figures, setup, teardown),
        cmocka_unit_test(test_cli),
        cmocka_unit_test(test_splits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
