/* test_fe_profile.c: profile.json (fe_profile.c): what hetc profile writes
 * reads back the same, the shipped paper profile loads, and every bad
 * profile is refused naming the file and the key: not JSON, another
 * format, a missing or non-positive number, an op or dtype it does not
 * know, a bad sync pair, a figure it does not know, a bad plan entry
 * (model --profile's subgraph times) or step, a unit the target does not have;
 * measured figures replace the target's. */
#include "testutil.h"

#include <string.h>

#include "compiler/fe.h"

static void test_round_trip(void **state)
{
    IrCostPoint pts[2] = {{"gpu0", "linear", 4096, 4096, 1, IR_Q4_0, 511}, {"npu0", "linear", 64, 32, 128, IR_I8, 2.5}};
    IrCostSync sync = {"gpu0", "npu0", 4.25};
    IrCostFigure figs[2] = {{"gpu0", "gbps", 61.5}, {"npu0", "launch_us", 0.75}};
    IrCostSub subs[2] = {{"decode", 0, "cpu0", "ids", 10.5, 1, 527.5}, {"prefill-32", 3, "npu0", "l0.o", 80.25, 32, 240}};
    IrCostStep steps[2] = {{"decode", 1320.25, 1, 527.5}, {"prefill-32", 5120.5, 32, 240}};
    IrProfile p = {.pts = pts, .npts = 2, .sync = &sync, .nsync = 1, .figs = figs, .nfigs = 2, .subs = subs, .nsubs = 2,
                   .steps = steps, .nsteps = 2}, q;
    char err[FE_ERR_LEN] = "";
    const char *path = tu_fmt("%s/p.json", tu_tmpdir("fe-profile"));
    if (fe_profile_save(&p, "test machine", path, err, sizeof err)) fail_msg("%s", err);
    if (fe_profile_load(&q, path, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(q.npts, 2);
    assert_int_equal(q.nsync, 1);
    for (int i = 0; i < 2; i++) {
        const IrCostPoint *a = &pts[i], *b = NULL;
        for (int j = 0; j < 2; j++)
            if (strcmp(q.pts[j].unit, a->unit) == 0) b = &q.pts[j];
        assert_non_null(b);
        assert_string_equal(b->op, "linear");
        assert_true(b->n == a->n && b->k == a->k && b->s == a->s && b->dtype == a->dtype);
        assert_float_equal(b->us, a->us, 0);
    }
    assert_string_equal(q.sync[0].a, "gpu0");
    assert_string_equal(q.sync[0].b, "npu0");
    assert_float_equal(q.sync[0].us, 4.25, 0);
    assert_int_equal(q.nfigs, 2);
    assert_int_equal(q.nsubs, 2);
    assert_int_equal(q.nsteps, 2);
    for (int i = 0; i < 2; i++) {
        const IrCostStep *a = &steps[i], *b = NULL;
        for (int j = 0; j < 2; j++)
            if (strcmp(q.steps[j].plan, a->plan) == 0) b = &q.steps[j];
        assert_non_null(b);
        assert_true(b->us == a->us && b->rows == a->rows && b->pos == a->pos);
    }
    for (int i = 0; i < 2; i++) {
        const IrCostSub *a = &subs[i], *b = NULL;
        for (int j = 0; j < 2; j++)
            if (strcmp(q.subs[j].plan, a->plan) == 0) b = &q.subs[j];
        assert_non_null(b);
        assert_int_equal(b->sub, a->sub);
        assert_string_equal(b->unit, a->unit);
        assert_string_equal(b->first, a->first);
        assert_true(b->us == a->us && b->rows == a->rows && b->pos == a->pos);
    }
    FeTarget t;
    char err2[FE_ERR_LEN];
    if (fe_target_load(&t, tu_fmt("%s/targets/sd8gen3.xml", tu_src()), err2, sizeof err2)) fail_msg("%s", err2);
    fe_profile_apply(&q, &t);     /* measured figures replace the target's: gpu0's gbps, npu0's launch_us */
    for (int u = 0; u < t.nunits; u++)
        for (int f = 0; f < t.units[u].nfig; f++) {
            const char *key = t.units[u].fig[f].key;
            if (strcmp(t.units[u].name, "gpu0") == 0 && strcmp(key, "gbps") == 0)
                assert_float_equal(t.units[u].fig[f].v, 61.5, 0);
            if (strcmp(t.units[u].name, "npu0") == 0 && strcmp(key, "launch_us") == 0)
                assert_float_equal(t.units[u].fig[f].v, 0.75, 0);
        }
    fe_profile_free(&q);
    if (fe_target_load(&t, tu_fmt("%s/targets/sd8gen3.xml", tu_src()), err, sizeof err)) fail_msg("%s", err);
    const char *table3 = tu_fmt("%s/targets/profiles/sd8gen3-heterollm-table3.json", tu_src());
    if (fe_profile_load(&q, table3, err, sizeof err) || fe_profile_check(&q, table3, &t, err, sizeof err))
        fail_msg("%s", err);
    assert_int_equal(q.npts, 12);
    fe_profile_free(&q);
    if (fe_target_load(&t, tu_fmt("%s/targets/host-npu.xml", tu_src()), err, sizeof err)) fail_msg("%s", err);
    if (fe_profile_load(&q, path, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(fe_profile_check(&q, path, &t, err, sizeof err), -1);
    assert_string_equal(err, tu_fmt("%s: unit 'gpu0' is not a unit of target host-npu (%s/targets/host-npu.xml)", path,
                                    tu_src()));
    fe_profile_free(&q);
}

static void test_errors(void **state)
{
    static const struct {
        const char *text, *want;
    } bad[] = {
        {"{\"units\": ", "cannot read or not JSON"},
        {"[1]", "the top level is not an object"},
        {"{\"format\": \"hetc-profile 2\", \"units\": {}}", "key 'format' is \"hetc-profile 2\", not \"hetc-profile 1\""},
        {"{}", "key 'units' is missing or not an object"},
        {"{\"units\": {\"gpu0\": {}}}", "units.gpu0 is not an array"},
        {"{\"units\": {\"gpu0\": [{\"op\": \"matmul\"}]}}", "units.gpu0[0]: key 'op' must be \"linear\""},
        {"{\"units\": {\"gpu0\": [{\"op\": \"linear\", \"dtype\": \"f64\"}]}}",
         "units.gpu0[0]: key 'dtype' is missing or not a weight dtype (f32, f16, bf16, i8, q8_0, q4_0, ...)"},
        {"{\"units\": {\"gpu0\": [{\"op\": \"linear\", \"dtype\": \"f16\", \"n\": 8, \"k\": 8, \"s\": 1.5, \"us\": 1}]}}",
         "units.gpu0[0]: key 's' is 1.5, not a positive integer"},
        {"{\"units\": {\"gpu0\": [{\"op\": \"linear\", \"dtype\": \"f16\", \"n\": 8, \"k\": 8, \"s\": 1}]}}",
         "units.gpu0[0]: key 'us' is missing or not a number"},
        {"{\"units\": {\"gpu0\": [{\"op\": \"linear\", \"dtype\": \"f16\", \"n\": 8, \"k\": 8, \"s\": 1, \"us\": -2}]}}",
         "units.gpu0[0]: key 'us' is -2, not a positive finite number"},
        {"{\"units\": {}, \"sync_us\": {\"gpu0npu0\": 3}}", "sync_us: key 'gpu0npu0' is not \"UNIT-UNIT\""},
        {"{\"units\": {}, \"sync_us\": {\"gpu0-npu0\": \"fast\"}}", "sync_us: 'gpu0-npu0' is not a positive number of microseconds"},
        {"{\"units\": {}, \"figures\": []}", "key 'figures' is not an object"},
        {"{\"units\": {}, \"figures\": {\"gpu0\": {\"tflops\": 3}}}",
         "figures.gpu0: 'tflops' is not a figure (gflops, gflops_f16, gops_i8, gbps, launch_us, silu_geps)"},
        {"{\"units\": {}, \"figures\": {\"gpu0\": {\"gbps\": 0}}}", "figures.gpu0: key 'gbps' is 0, not a positive finite number"},
        {"{\"units\": {}, \"plans\": []}", "key 'plans' is not an object"},
        {"{\"units\": {}, \"plans\": {\"decode\": {}}}", "plans.decode is not an array"},
        {"{\"units\": {}, \"plans\": {\"decode\": [{\"sub\": 0, \"first\": \"ids\", \"us\": 3}]}}",
         "plans.decode[0]: key 'unit' is missing or not a string"},
        {"{\"units\": {}, \"plans\": {\"decode\": [{\"sub\": 0, \"unit\": \"cpu0\", \"first\": \"ids\"}]}}",
         "plans.decode[0]: key 'us' is missing or not a number"},
        {"{\"units\": {}, \"plans\": {\"decode\": [{\"sub\": 1.5, \"unit\": \"cpu0\", \"first\": \"ids\", \"us\": 3}]}}",
         "plans.decode[0]: key 'sub' is 1.5, not a subgraph number"},
        {"{\"units\": {}, \"plans\": {\"decode\": [{\"sub\": 0, \"unit\": \"cpu0\", \"first\": \"ids\", \"us\": 3, "
         "\"pos\": -1}]}}", "plans.decode[0]: key 'pos' is not a number >= 0"},
        {"{\"units\": {}, \"steps\": []}", "key 'steps' is not an object"},
        {"{\"units\": {}, \"steps\": {\"decode\": 5}}", "steps.decode is not an object"},
        {"{\"units\": {}, \"steps\": {\"decode\": {\"us\": 0, \"rows\": 1}}}",
         "steps.decode: key 'us' is 0, not a positive finite number"},
        {"{\"units\": {}, \"steps\": {\"decode\": {\"us\": 3}}}", "steps.decode: key 'rows' is missing or not a number"},
    };
    const char *path = tu_fmt("%s/bad.json", tu_tmpdir("fe-profile-bad"));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tu_write_file(path, bad[i].text, strlen(bad[i].text));
        IrProfile p;
        char err[FE_ERR_LEN] = "";
        if (fe_profile_load(&p, path, err, sizeof err) != -1 || strncmp(err, path, strlen(path)) != 0 ||
            !strstr(err, bad[i].want))
            fail_msg("case %zu: '%s', wanted '%s: ...%s'", i, err, path, bad[i].want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
