/* test_profile.c: `hetc profile` (compiler/cli_plan.c over
 * runtime/rt_profile.c) on this machine, and its errors.
 *
 * - trained-llama on targets/host-npu.xml: profile.json loads and checks
 *   against the target; cpu0 (bf16, the model's weights) and npu0 (i8)
 *   each have a point for every linear shape of the model (those of
 *   config.json: q/o, k/v, gate/up, down, lm head) at every standard
 *   length up to --max-s (1, 32, 64, 128), each a positive time; each unit
 *   has measured figures (gbps, launch_us, its rate, silu_geps) and the pair a
 *   hand-over time; the solver reads the profile back (hetc partition
 *   --profile);
 * - --sweep: one JSON line per shape and length; the solver's plan is one
 *   unit alone (host-npu's npu computes on cpu0's cores: splits never
 *   pay), no split beats the best measured one (best <= solver), and both
 *   units' alone times are there;
 * - an OpenCL unit (targets/host-hetero.xml's gpu0 on PoCL) is measured also
 *   at the widths of a split's parts (n/2, n/4, n/8: a GPU's time is not in
 *   proportion to width), the npu at the model's widths alone;
 * - bad input: no -o, an unknown option, a length out of range, a block
 *   type the cpu cannot run, --sweep on a target without an npu.
 * Times themselves are not asserted: the machine is noisy.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/fe.h"
#include "testutil.h"

static struct {
    char fix[4096], tmp[4096], prof[4200];
    char *sweep;                /* stdout of the profile run: the sweep's lines */
    int64_t shapes[5][2];       /* {n, k} from config.json */
} fx;

static int64_t cfg_int(json_object *c, const char *key)
{
    json_object *v;
    if (!json_object_object_get_ex(c, key, &v)) fail_msg("config.json: no '%s'", key);
    return json_object_get_int64(v);
}

static int setup(void **state)
{
    (void)state;
    snprintf(fx.fix, sizeof fx.fix, "%s/fixtures/trained-llama", tu_shared());
    snprintf(fx.tmp, sizeof fx.tmp, "%s", tu_tmpdir("profile"));
    snprintf(fx.prof, sizeof fx.prof, "%s/profile.json", fx.tmp);
    json_object *c = json_object_from_file(tu_fmt("%s/config.json", fx.fix));
    if (!c) fail_msg("%s/config.json: cannot read", fx.fix);
    int64_t h = cfg_int(c, "hidden_size"), ffn = cfg_int(c, "intermediate_size"), hd = cfg_int(c, "head_dim");
    int64_t q = cfg_int(c, "num_attention_heads") * hd, kv = cfg_int(c, "num_key_value_heads") * hd;
    int64_t shapes[5][2] = {{q, h}, {kv, h}, {ffn, h}, {h, ffn}, {cfg_int(c, "vocab_size"), h}};
    memcpy(fx.shapes, shapes, sizeof shapes);
    json_object_put(c);
    char *err;
    if (tu_run(&fx.sweep, "{ %s profile --target %s/targets/host-npu.xml %s -o %s --max-s 128 --min-time 0.002 "
                          "--sweep 1,32,100 2>%s/stderr; }", tu_hetc(), tu_src(), fx.fix, fx.prof, fx.tmp)) {
        err = tu_read_file(tu_fmt("%s/stderr", fx.tmp), NULL);
        fail_msg("hetc profile failed:\n%s", err ? err : "");
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(fx.sweep);
    return 0;
}

static const IrCostPoint *point(const IrProfile *p, const char *unit, int64_t n, int64_t k, int64_t s)
{
    for (int i = 0; i < p->npts; i++)
        if (!strcmp(p->pts[i].unit, unit) && p->pts[i].n == n && p->pts[i].k == k && p->pts[i].s == s)
            return &p->pts[i];
    return NULL;
}

static void test_profile_file(void **state)
{
    (void)state;
    IrProfile p;
    FeTarget t;
    char err[FE_ERR_LEN];
    if (fe_target_load(&t, tu_fmt("%s/targets/host-npu.xml", tu_src()), err, sizeof err) ||
        fe_profile_load(&p, fx.prof, err, sizeof err) || fe_profile_check(&p, fx.prof, &t, err, sizeof err))
        fail_msg("%s", err);
    static const int64_t lens[] = {1, 32, 64, 128};
    static const char *const units[] = {"cpu0", "npu0"}, *const dtypes[] = {"bf16", "i8"};
    for (int u = 0; u < 2; u++)
        for (int i = 0; i < 5; i++)
            for (int l = 0; l < 4; l++) {
                const IrCostPoint *q = point(&p, units[u], fx.shapes[i][0], fx.shapes[i][1], lens[l]);
                if (!q)
                    fail_msg("%s: no point of %s for %lldx%lld at s=%lld", fx.prof, units[u],
                             (long long)fx.shapes[i][0], (long long)fx.shapes[i][1], (long long)lens[l]);
                assert_string_equal(ir_dtype_name(q->dtype), dtypes[u]);
                assert_true(q->us > 0);
            }
    assert_int_equal(p.npts, 2 * 5 * 4);      /* each shape once: q and o share theirs */
    for (int u = 0; u < 2; u++) {
        int gbps = 0, launch = 0, rate = 0, silu = 0;
        for (int i = 0; i < p.nfigs; i++) {
            if (strcmp(p.figs[i].unit, units[u])) continue;
            assert_true(p.figs[i].v > 0);
            gbps += !strcmp(p.figs[i].key, "gbps");
            launch += !strcmp(p.figs[i].key, "launch_us");
            rate += !strcmp(p.figs[i].key, u ? "gops_i8" : "gflops_f16");
            silu += !strcmp(p.figs[i].key, "silu_geps");
        }
        if (gbps != 1 || launch != 1 || rate != 1 || silu != 1)
            fail_msg("%s: figures of %s incomplete", fx.prof, units[u]);
    }
    assert_int_equal(p.nsync, 1);
    assert_string_equal(p.sync[0].a, "cpu0");
    assert_string_equal(p.sync[0].b, "npu0");
    assert_true(p.sync[0].us > 0);
    fe_profile_free(&p);
    char *out;      /* the solver reads it */
    if (tu_run(&out, "%s partition --target %s/targets/host-npu.xml --profile %s --op linear --n %lld --k %lld --s 128",
               tu_hetc(), tu_src(), fx.prof, (long long)fx.shapes[2][0], (long long)fx.shapes[2][1]))
        fail_msg("hetc partition --profile failed:\n%s", out);
    assert_non_null(strstr(out, "\"choice\": "));
    free(out);
}

static double num(json_object *o, const char *a, const char *b)
{
    json_object *v = json_object_object_get(o, a);
    if (b) v = v ? json_object_object_get(v, b) : NULL;
    if (!v) fail_msg("sweep line without %s%s%s", a, b ? "." : "", b ? b : "");
    return json_object_get_double(v);
}

static void test_sweep(void **state)
{
    (void)state;
    int lines = 0;
    for (char *save = NULL, *l = strtok_r(fx.sweep, "\n", &save); l; l = strtok_r(NULL, "\n", &save), lines++) {
        json_object *o = json_tokener_parse(l);
        if (!o) fail_msg("sweep: not JSON: %s", l);
        const char *choice = json_object_get_string(json_object_object_get(json_object_object_get(o, "solver"), "choice"));
        if (strcmp(choice, "float") && strcmp(choice, "npu"))
            fail_msg("sweep: host-npu's units share cores, yet the solver split: %s", l);
        assert_true(num(o, "best", "us") <= num(o, "solver", "us"));
        assert_true(num(o, "alone_us", "cpu0") > 0 && num(o, "alone_us", "npu0") > 0);
        assert_true(num(o, "s", NULL) == 1 || num(o, "s", NULL) == 32 || num(o, "s", NULL) == 100);
        json_object_put(o);
    }
    assert_int_equal(lines, 5 * 3);
}

static void test_gpu_parts(void **state)
{
    (void)state;
    const char *path = tu_fmt("%s/hetero.json", fx.tmp);
    char *out;
    if (tu_run(&out, "%s profile --target %s/targets/host-hetero.xml %s -o %s --max-s 32 --min-time 0.001 2>&1",
               tu_hetc(), tu_src(), fx.fix, path))
        fail_msg("hetc profile on host-hetero failed:\n%s", out);
    assert_non_null(strstr(out, "(a split's part)"));
    free(out);
    IrProfile p;
    char err[FE_ERR_LEN];
    if (fe_profile_load(&p, path, err, sizeof err)) fail_msg("%s", err);
    for (int i = 0; i < 5; i++)
        for (int s = 1; s <= 32; s += 31) {
            int64_t n = fx.shapes[i][0], k = fx.shapes[i][1];
            if (!point(&p, "gpu0", n, k, s) || !point(&p, "gpu0", n / 2, k, s) || !point(&p, "gpu0", n / 8, k, s))
                fail_msg("%s: gpu0 lacks width %lld, %lld or %lld of k %lld at s=%d", path, (long long)n,
                         (long long)n / 2, (long long)n / 8, (long long)k, s);
            if (!point(&p, "npu0", n, k, s)) fail_msg("%s: npu0 lacks %lldx%lld at s=%d", path, (long long)n, (long long)k, s);
        }
    for (int i = 0; i < p.npts; i++) {     /* the npu: the model's widths alone */
        if (strcmp(p.pts[i].unit, "npu0")) continue;
        int shape = 0;
        for (int j = 0; j < 5; j++) shape |= p.pts[i].n == fx.shapes[j][0] && p.pts[i].k == fx.shapes[j][1];
        if (!shape) fail_msg("%s: npu0 measured %lldx%lld, not a shape of the model", path, (long long)p.pts[i].n, (long long)p.pts[i].k);
    }
    fe_profile_free(&p);
}

static void test_errors(void **state)
{
    (void)state;
    static const struct {
        const char *args, *want;
    } bad[] = {
        {"--target %s/targets/host-npu.xml %s", "usage: hetc profile --target T.xml MODEL|--preset NAME -o profile.json"},
        {"--target %s/targets/host-npu.xml %s -o /dev/null --fast", "profile: unknown option '--fast'"},
        {"--target %s/targets/host-npu.xml %s -o /dev/null --sweep 1,0", "--sweep: '0' is not an integer in 1.."},
        {"--target %s/targets/host-npu.xml %s -o /dev/null --weight-dtype q4_0",
         "unit cpu0: the cpu runs f32, f16 and bf16 linears, not q4_0"},
        {"--target %s/targets/host-cpu.xml %s -o " "%s/cpu.json --max-s 32 --min-time 0.001 --sweep 32",
         "target host-cpu has no npu unit: there is nothing to split"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *out;
        const char *args = tu_fmt(bad[i].args, tu_src(), fx.fix, fx.tmp);
        if (tu_run(&out, "%s profile %s 2>&1", tu_hetc(), args) == 0) fail_msg("case %zu: succeeded:\n%s", i, out);
        if (!strstr(out, bad[i].want)) fail_msg("case %zu: wanted '%s' in:\n%s", i, bad[i].want, out);
        free(out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_profile_file),
        cmocka_unit_test(test_sweep),
        cmocka_unit_test(test_gpu_parts),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
