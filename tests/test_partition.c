/* test_partition.c: HeteroLLM's partition solver (pass_partition_solve.c)
 * on the times HeteroLLM publishes for Llama-8B's linears on a Snapdragon
 * 8 Gen 3 (its Table 3, targets/profiles/sd8gen3-heterollm-table3.json):
 * it makes the paper's choices (NPU alone where it wins by far, padding up
 * to the NPU's 256 for s = 193..255, activation-centric for s = 257..272,
 * weight-centric splits for decode where neither unit alone is best and
 * the paper's 2:3 for the down projection at 256, the GPU alone for the
 * down projection in decode); and hetc partition prints the same as JSON,
 * with clear errors for bad arguments. Pass partition writes the splits
 * into the IR (joins of parts), and the interpreter and the generated
 * program run them: on tests/fixtures/split-npu.xml, llama-tiny's linears
 * split W's rows at chunks of 32 and x's rows at chunks of 48; the
 * program's logits are the interpreter's, which stay at least as close to
 * the float reference as with every linear int8 on the npu (a wrong part,
 * row offset, stride or join would be far off); trained-llama with shadows
 * of outliers on the npu's parts too, every shadow restored. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "passes/passes.h"

#define IDS "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40"

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

/* Logits of 40 tokens of fixture fx: by hetc run with the given target
 * options (NULL: the float reference) into a malloc'd array of *n floats. */
static float *run_logits(const char *fx, const char *opts, size_t *n)
{
    const char *tmp = tu_tmpdir("partition-run");
    char *out;
    if (tu_run(&out, "%s run %s/fixtures/%s --ids %s --logits %s/run.bin %s", tu_hetc(), tu_shared(), fx, IDS, tmp,
               opts ? opts : ""))
        fail_msg("%s", out);
    free(out);
    float *l = (float *)tu_read_file(tu_fmt("%s/run.bin", tmp), n);
    *n /= sizeof(float);
    return l;
}

/* The same logits by the program hetc compiles with those options (built
 * and run); the IR after pass memplan in *ir. */
static float *program_logits(const char *fx, const char *opts, size_t *n, char **ir)
{
    const char *tmp = tu_tmpdir("partition-run");
    char *out;
    if (tu_run(ir, "%s compile %s/fixtures/%s -o %s/p %s --print-after=memplan", tu_hetc(), tu_shared(), fx, tmp,
               opts))
        fail_msg("%s", *ir);
    if (tu_run(&out, "cmake -S %s/p -B %s/p/b -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build %s/p/b -j2 "
               ">/dev/null && %s/p/b/model --ids %s --logits %s/prog.bin", tmp, tmp, tmp, tmp, IDS, tmp))
        fail_msg("%s", out);
    free(out);
    float *l = (float *)tu_read_file(tu_fmt("%s/prog.bin", tmp), n);
    *n /= sizeof(float);
    return l;
}

static double mean_abs(const float *a, const float *b, size_t n)
{
    double e = 0;
    for (size_t i = 0; i < n; i++) e += fabs((double)a[i] - b[i]);
    return e / (double)n;
}

static double rel_l2(const float *a, const float *b, size_t n)
{
    double d = 0, r = 0;
    for (size_t i = 0; i < n; i++) d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]), r += (double)b[i] * b[i];
    return sqrt(d / r);
}

/* A split's plan, compiled and run, against the interpreter of the same
 * plan; returns the interpreter's mean |logit - float| and the IR. */
static double check_split(const char *fx, const char *opts, char **ir)
{
    size_t nf, ni, np;
    float *ref = run_logits(fx, NULL, &nf), *interp = run_logits(fx, opts, &ni);
    float *prog = program_logits(fx, opts, &np, ir);
    assert_true(nf == ni && ni == np && nf > 0);
    double e = rel_l2(prog, interp, np);
    if (e > 1e-5) fail_msg("%s %s: generated program vs hetc run: relative L2 %g", fx, opts, e);
    double d = mean_abs(interp, ref, ni);
    free(ref);
    free(interp);
    free(prog);
    return d;
}

/* Every add that restores a shadow ("*.restored") is read by a later node. */
static void assert_restored_used(const char *ir)
{
    for (const char *p = ir; (p = strstr(p, " = add(")); p++) {
        const char *eol = strchr(p, '\n'), *start = p;
        while (start > ir && start[-1] != '\n') start--;
        if (!eol || !memmem(p, (size_t)(eol - p), ".restored\"", 10)) continue;
        char ref1[24], ref2[24];
        int id = atoi(start + 1);
        snprintf(ref1, sizeof ref1, "%%%d)", id);
        snprintf(ref2, sizeof ref2, "%%%d,", id);
        if (!strstr(eol, ref1) && !strstr(eol, ref2)) fail_msg("shadow add %%%d is read by nothing", id);
    }
}

static void test_splits(void **state)
{
    (void)state;
    const char *target = tu_fmt("--target %s/tests/fixtures/split-npu.xml --calib-window 64", tu_src());
    char *ir;
    double all_npu = check_split("llama-tiny", tu_fmt("%s --chunk 32 --partition npu", target), &ir);
    free(ir);
    double weight = check_split("llama-tiny", tu_fmt("%s --chunk 32", target), &ir);
    assert_non_null(strstr(ir, "\"l0.q.weight.npu0\" unit=npu0"));
    assert_non_null(strstr(ir, "axis=1 part=\"weight\""));
    assert_non_null(strstr(ir, "arena=\"cpu0\" ld=64"));    /* the npu's part, in place in the host's buffer */
    free(ir);
    double activation = check_split("llama-tiny", tu_fmt("%s --chunk 48", target), &ir);
    assert_non_null(strstr(ir, "axis=0 part=\"activation\""));
    assert_non_null(strstr(ir, "rows("));
    free(ir);
    if (all_npu < 1e-3 || weight > all_npu || activation > all_npu)
        fail_msg("mean logit error: every linear int8 %g, weight splits %g, activation splits %g", all_npu, weight,
                 activation);
    /* shadows of outliers on the npu's parts: restored by adds on the
     * host, which the joins copy in (an add writes no strided rows) */
    check_split("trained-llama", tu_fmt("%s --chunk 32 --outlier-t 2 --outlier-prune 0", target), &ir);
    assert_non_null(strstr(ir, ".restored\""));
    assert_non_null(strstr(ir, "axis=1 part=\"weight\""));
    assert_restored_used(ir);
    free(ir);
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
