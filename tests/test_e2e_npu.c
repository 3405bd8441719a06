/* test_e2e_npu.c: trained-llama compiled for targets/host-npu.xml (int8
 * linears on npu-emu, attention and shadows on the cpu), judged on real
 * numbers.
 *
 * Once: `hetc calibrate` on the project's default calibration text, then
 * three builds from that calib.json: the default (pruned shadows), every
 * shadow kept (--outlier-prune 0) and none (--no-outliers).
 * - perplexity on reference.json's 16 held-out windows against their
 *   float64 perplexity: the default and no-shadow builds within 2%, every
 *   shadow within 1%;
 * - the npu-emu instruction paths (HETC_NPU_ISA=vnni, avx2, scalar; those
 *   this CPU has) give the same logits, byte for byte, at prompt lengths
 *   around the chunks (32 and 128, remainder padded; HETC_SWEEP=full:
 *   every length 1..300);
 * - chunks out of order (the default schedule: two chunks in flight,
 *   rt_part_run) give the logits of --schedule inorder, byte for byte, at
 *   prompt lengths of several chunks;
 * - bad calibration input is an error naming the file;
 * - model --profile writes a profile of its own linears, of its plans'
 *   subgraphs and of its steps timed whole that hetc reads: hetc simulate
 *   takes the plans' times, scaled to the steps';
 * - three units at once (targets/host-hetero.xml, --partition npu: the
 *   linears on npu0, the rest on gpu0 through OpenCL, copies between
 *   them): the reference interpreter's logits of the same plans within
 *   relative L2 1e-3 at lengths around the chunks; the same with the
 *   layers' linears split between gpu0 and npu0 (a profile pricing them
 *   alike), joined on gpu0.
 */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/fe.h"
#include "testutil.h"

enum { WINDOWS = 16, WINDOW = 256, VOCAB = 4096 };

static struct {
    char fix[4096], tmp[4096], calib[4200], ids_file[4200];
    int32_t ids[WINDOWS * WINDOW];
    double ref_ppl;
} fx;

/* Compiles OUT with extra flags from the shared calib.json and builds it. */
static void build_for(const char *target, const char *out, const char *flags)
{
    char *log;
    if (tu_run(&log, "%s compile %s --target %s/targets/%s.xml -o %s/%s --calib-in %s %s && cmake -S %s/%s "
                     "-B %s/%s/b -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build %s/%s/b",
               tu_hetc(), fx.fix, tu_src(), target, fx.tmp, out, fx.calib, flags, fx.tmp, out, fx.tmp, out, fx.tmp,
               out))
        fail_msg("compile/build of %s (%s) failed:\n%s", out, flags, log);
    free(log);
}

static void build(const char *out, const char *flags) { build_for("host-npu", out, flags); }

static void need_builds(void)
{
    static int ready;
    if (ready) return;
    snprintf(fx.fix, sizeof fx.fix, "%s/fixtures/trained-llama", tu_shared());
    snprintf(fx.tmp, sizeof fx.tmp, "%s", tu_tmpdir("npu"));
    snprintf(fx.calib, sizeof fx.calib, "%s/calib.json", fx.tmp);
    char *log;
    if (tu_run(&log, "%s calibrate %s -o %s", tu_hetc(), fx.fix, fx.calib)) fail_msg("calibrate failed:\n%s", log);
    free(log);
    build("default", "");
    build("all", "--outlier-prune 0");
    build("none", "--no-outliers");
    json_object *root = json_object_from_file(tu_fmt("%s/reference.json", fx.fix));
    json_object *held = root ? json_object_object_get(root, "heldout") : NULL;
    json_object *wins = held ? json_object_object_get(held, "windows") : NULL;
    if (!wins || json_object_array_length(wins) != WINDOWS) fail_msg("%s: no %d heldout.windows", fx.fix, WINDOWS);
    fx.ref_ppl = json_object_get_double(json_object_object_get(held, "ppl"));
    static char text[WINDOWS * WINDOW * 8];
    size_t k = 0;
    for (int w = 0; w < WINDOWS; w++)
        for (int i = 0; i < WINDOW; i++) {
            fx.ids[w * WINDOW + i] = json_object_get_int(json_object_array_get_idx(json_object_array_get_idx(wins, w), i));
            k += (size_t)snprintf(text + k, sizeof text - k, "%d ", fx.ids[w * WINDOW + i]);
        }
    json_object_put(root);
    snprintf(fx.ids_file, sizeof fx.ids_file, "%s/heldout.txt", fx.tmp);
    tu_write_file(fx.ids_file, text, k);
    ready = 1;
}

static double perplexity(const char *build_name)
{
    char *out;
    if (tu_run(&out, "%s/%s/b/model --perplexity %s --ppl-ids --ppl-window %d --ppl-score all 2>/dev/null", fx.tmp,
               build_name, fx.ids_file, WINDOW))
        fail_msg("perplexity of %s failed:\n%s", build_name, out);
    double p = 0;
    const char *line = strstr(out, "perplexity: ");
    if (!line || sscanf(line, "perplexity: %lf", &p) != 1) fail_msg("%s: no perplexity in [%s]", build_name, out);
    free(out);
    print_message("[ ppl      ] %s: %.4f (float64 reference %.4f, %+.2f%%)\n", build_name, p, fx.ref_ppl,
                  100 * (p / fx.ref_ppl - 1));
    return p;
}

static void test_perplexity(void **state)
{
    need_builds();
    assert_true(perplexity("default") <= 1.02 * fx.ref_ppl);
    assert_true(perplexity("none") <= 1.02 * fx.ref_ppl);
    assert_true(perplexity("all") <= 1.01 * fx.ref_ppl);
}

/* The first n held-out tokens of window w, comma-separated. */
static const char *window_ids(int w, int n)
{
    static char buf[WINDOWS * WINDOW * 8];
    size_t k = 0;
    for (int i = 0; i < n; i++) k += (size_t)snprintf(buf + k, sizeof buf - k, "%s%d", i ? "," : "", fx.ids[w * WINDOW + i]);
    return buf;
}

static const char *id_list(int n) { return window_ids(0, n); }

/* The logits of the program (env: extra environment) or of the reference
 * interpreter (env NULL) for the first n held-out tokens: [n * VOCAB]. */
static float *logits(const char *build_name, const char *env, int n)
{
    const char *bin = tu_fmt("%s/%s-%s-%d.bin", fx.tmp, build_name, env ? env : "interp", n);
    char *out;
    int rc = env ? tu_run(&out, "%s %s/%s/b/model --ids %s --logits %s", env, fx.tmp, build_name, id_list(n), bin)
                 : tu_run(&out, "%s run %s --target %s/targets/host-npu.xml --calib-in %s --ids %s --logits %s",
                          tu_hetc(), fx.fix, tu_src(), fx.calib, id_list(n), bin);
    if (rc) fail_msg("logits of %d tokens (%s) failed:\n%s", n, env ? env : "interpreter", out);
    free(out);
    size_t len;
    float *l = (float *)tu_read_file(bin, &len);
    if (!l) fail_msg("%s: missing", bin);
    return l;
}

static int cpu_has(const char *flag)
{
    return tu_run(NULL, "grep -qw %s /proc/cpuinfo", flag) == 0;
}

static const int lengths[] = {1, 5, 31, 32, 33, 100, 127, 128, 129, 161, 300};

/* Prompt lengths around the chunks; HETC_SWEEP=full: every one of 1..300. */
static void test_isa_paths_identical(void **state)
{
    need_builds();
    static const char *const isa[] = {"avx2", "vnni"}, *const flag[] = {"avx2", "avx512_vnni"};
    const char *sweep = getenv("HETC_SWEEP");
    int full = sweep && strcmp(sweep, "full") == 0, count = full ? 300 : (int)(sizeof lengths / sizeof lengths[0]);
    for (int k = 0; k < count; k++) {
        int n = full ? k + 1 : lengths[k];
        float *ref = logits("all", "HETC_NPU_ISA=scalar", n);
        for (int p = 0; p < 2; p++) {
            if (!cpu_has(flag[p])) {
                print_message("[ skip     ] this CPU has no %s: path %s untested\n", flag[p], isa[p]);
                continue;
            }
            float *got = logits("all", tu_fmt("HETC_NPU_ISA=%s", isa[p]), n);
            if (memcmp(ref, got, (size_t)n * VOCAB * sizeof(float)) != 0)
                fail_msg("%d tokens: path %s's logits differ from the scalar path's", n, isa[p]);
            free(got);
        }
        free(ref);
    }
    print_message("[ paths    ] logits identical at %d prompt lengths%s\n", count, full ? " (1..300)" : "");
}

static void test_out_of_order_identical(void **state)
{
    need_builds();
    build("inorder", "--outlier-prune 0 --schedule inorder");
    char *src = tu_read_file(tu_fmt("%s/all/model.c", fx.tmp), NULL), *in = tu_read_file(tu_fmt("%s/inorder/model.c", fx.tmp), NULL);
    assert_true(src && in);
    assert_non_null(strstr(src, "rt_part_run("));       /* the default runs chunks out of order */
    assert_null(strstr(in, "rt_part_run("));
    free(src);
    free(in);
    static const int several[] = {64, 100, 161, 300};
    for (size_t k = 0; k < sizeof several / sizeof several[0]; k++) {
        int n = several[k];
        float *ooo = logits("all", "env", n), *inorder = logits("inorder", "env", n);
        if (memcmp(ooo, inorder, (size_t)n * VOCAB * sizeof(float)) != 0)
            fail_msg("%d tokens: the out-of-order logits differ from those in order", n);
        free(ooo);
        free(inorder);
    }
    print_message("[ ooo      ] out of order = in order, byte for byte, at 4 prompt lengths\n");
}

static void test_bad_calibration(void **state)
{
    need_builds();
    char *out;
    assert_int_not_equal(tu_run(&out, "%s compile %s --target %s/targets/host-npu.xml -o %s/bad --calib-in %s/none.json",
                                tu_hetc(), fx.fix, tu_src(), fx.tmp, fx.tmp), 0);
    assert_non_null(strstr(out, tu_fmt("%s/none.json: cannot read", fx.tmp)));
    free(out);
    tu_write_file(tu_fmt("%s/bad.json", fx.tmp), "{\"format\": \"hetc-calib 1\", \"tokens\": -3}", 40);
    assert_int_not_equal(tu_run(&out, "%s compile %s --target %s/targets/host-npu.xml -o %s/bad --calib-in %s/bad.json",
                                tu_hetc(), fx.fix, tu_src(), fx.tmp, fx.tmp), 0);
    assert_non_null(strstr(out, "bad.json: calibration: key 'tokens' is -3"));
    free(out);
}

/* model --profile FILE: the generated program measures its own linears on
 * its own units (cpu0's pool, npu0's graphs) and writes a profile that
 * hetc reads back, with a point per unit, shape and length up to the
 * compiled chunk, its plans' subgraphs and its steps timed whole (hetc
 * simulate takes them); it takes no other mode with it. */
static void test_model_profile(void **state)
{
    need_builds();
    char *out;
    const char *path = tu_fmt("%s/model-profile.json", fx.tmp);
    if (tu_run(&out, "%s/default/b/model --profile %s -t 2", fx.tmp, path)) fail_msg("model --profile failed:\n%s", out);
    free(out);
    IrProfile p;
    FeTarget t;
    char err[FE_ERR_LEN];
    if (fe_target_load(&t, tu_fmt("%s/targets/host-npu.xml", tu_src()), err, sizeof err) ||
        fe_profile_load(&p, path, err, sizeof err) || fe_profile_check(&p, path, &t, err, sizeof err))
        fail_msg("%s", err);
    int per_unit[2] = {0, 0}, longest = 0;
    for (int i = 0; i < p.npts; i++) {
        int u = strcmp(p.pts[i].unit, "npu0") == 0;
        per_unit[u]++;
        assert_true(p.pts[i].us > 0);
        assert_int_equal(p.pts[i].dtype, u ? IR_I8 : IR_BF16);
        if (p.pts[i].s > longest) longest = (int)p.pts[i].s;
    }
    assert_int_equal(per_unit[0], 5 * 4);      /* 5 shapes at 1, 32, 64, 128 */
    assert_int_equal(per_unit[1], 5 * 4);
    assert_int_equal(longest, 128);
    assert_int_equal(p.nsync, 1);
    /* its plans, each subgraph timed: hetc simulate takes them for all three plans; decode steps
     * around the profile's positions take the measured time (the cost model carries it along) */
    double decode_us = 0, decode_pos = 0;
    int plans[3] = {0, 0, 0};
    for (int i = 0; i < p.nsubs; i++) {
        const IrCostSub *q = &p.subs[i];
        assert_true(q->us > 0);
        int d = strcmp(q->plan, "decode") == 0;
        plans[d ? 0 : strcmp(q->plan, "prefill-32") == 0 ? 1 : 2]++;
        if (d) decode_us += q->us, decode_pos = q->pos, assert_true(q->rows == 1);
    }
    assert_true(plans[0] > 0 && plans[1] > 0 && plans[2] > 0);
    /* each plan's steps timed whole, at its rows */
    double step_us = 0;
    assert_int_equal(p.nsteps, 3);
    for (int i = 0; i < p.nsteps; i++) {
        const IrCostStep *q = &p.steps[i];
        int d = strcmp(q->plan, "decode") == 0;
        assert_true(q->us > 0);
        assert_true(q->rows == (d ? 1 : strcmp(q->plan, "prefill-32") == 0 ? 32 : 128));
        if (d) step_us = q->us, assert_true(q->pos == decode_pos);
    }
    /* the plan times alone: the build was partitioned under the target's figures, and so is this simulation
     * (the profile's linears could move a linear: another plan, whose times the simulator would not take);
     * with the steps, a decode step takes the step's time, without them the sum of its subgraphs' */
    const char *plans_only = tu_fmt("%s/model-profile-plans.json", fx.tmp);
    p.npts = p.nfigs = 0;
    for (int with_steps = 1; with_steps >= 0; with_steps--) {
        int nsteps = p.nsteps;
        p.nsteps = with_steps ? nsteps : 0;
        if (fe_profile_save(&p, "plans only", plans_only, err, sizeof err)) fail_msg("%s", err);
        p.nsteps = nsteps;
        int prompt = (int)lround(decode_pos - 15.5);
        if (tu_run(&out, "%s simulate --target %s/targets/host-npu.xml --profile %s %s --chunk 32,128 --prompt-len %d "
                         "--gen 32 --json", tu_hetc(), tu_src(), plans_only, fx.fix, prompt))
            fail_msg("simulate failed:\n%s", out);
        assert_non_null(strstr(out, "\"measured_plans\": [\"decode\", \"prefill-32\", \"prefill-128\"]"));
        assert_int_equal(strstr(out, "\"step_factors\": {}") == NULL, with_steps);
        const char *dec = strstr(out, "\"decode_us\": ");
        assert_non_null(dec);
        double sim = strtod(dec + 13, NULL), want = 32 * (with_steps ? step_us : decode_us);
        if (fabs(sim - want) > 0.03 * want) fail_msg("simulated decode %.1f us, measured %.1f us", sim, want);
        free(out);
    }
    fe_profile_free(&p);
    assert_int_not_equal(tu_run(&out, "%s/default/b/model --profile %s --bench", fx.tmp, path), 0);
    assert_non_null(strstr(out, "cannot be combined with --profile"));
    free(out);
}

/* The largest relative L2 distance of a row of got from ref's ([n * VOCAB]). */
static double worst_row(const float *got, const float *ref, int n)
{
    double worst = 0;
    for (int r = 0; r < n; r++) {
        double d = 0, w = 0;
        for (int v = 0; v < VOCAB; v++) {
            double x = got[(size_t)r * VOCAB + v], y = ref[(size_t)r * VOCAB + v];
            d += (x - y) * (x - y), w += y * y;
        }
        if (sqrt(d / w) > worst || d != d) worst = d != d ? INFINITY : sqrt(d / w);
    }
    return worst;
}

/* The worst relative L2 distance of a row of build `name`'s logits (for
 * host-hetero, compiled with flags) from the interpreter's of the same
 * plans, for the first n tokens of held-out window w. */
static double hetero_error(const char *name, const char *flags, int w, int n)
{
    const char *got_bin = tu_fmt("%s/%s-%d-%d.bin", fx.tmp, name, w, n);
    const char *ref_bin = tu_fmt("%s/%s-ref-%d-%d.bin", fx.tmp, name, w, n);
    char *out;
    if (tu_run(&out, "%s/%s/b/model --ids %s --logits %s", fx.tmp, name, window_ids(w, n), got_bin))
        fail_msg("host-hetero (%s), %d tokens:\n%s", flags, n, out);
    free(out);
    if (tu_run(&out, "%s run %s --target %s/targets/host-hetero.xml %s --calib-in %s --ids %s --logits %s", tu_hetc(),
               fx.fix, tu_src(), flags, fx.calib, window_ids(w, n), ref_bin))
        fail_msg("interpreter, host-hetero (%s), %d tokens:\n%s", flags, n, out);
    free(out);
    size_t a, b;
    float *got = (float *)tu_read_file(got_bin, &a), *ref = (float *)tu_read_file(ref_bin, &b);
    assert_true(got && ref && a == (size_t)n * VOCAB * sizeof(float) && b == a);
    double err = worst_row(got, ref, n);
    free(got);
    free(ref);
    return err;
}

static void test_three_units(void **state)
{
    tu_require_opencl();
    need_builds();
    build_for("host-hetero", "hetero", "--partition npu");
    static const int three[] = {5, 33, 161};
    for (size_t k = 0; k < sizeof three / sizeof three[0]; k++) {
        double err = hetero_error("hetero", "--partition npu", 0, three[k]);
        print_message("[ 3 units  ] %d tokens: relative L2 %.2e from the interpreter\n", three[k], err);
        assert_true(err <= 1e-3);
    }
}

/* Splits joined on an OpenCL unit: a profile that prices gpu0 and npu0
 * alike makes the solver split the layers' linears between them (by
 * weight rows at 32 rows, by activation rows at 128); the join on gpu0
 * takes the npu's part copied in (copy2d), the gpu's part of an
 * activation split computed inside it. Against the interpreter over six
 * held-out windows at 33 and 161 tokens: a window agrees to float
 * rounding (1e-7) unless an int8 rounding went the other way (the gpu's
 * float parts sum in another order than the interpreter's, and a value
 * at a quantisation step moves by one: that row, and the rows that
 * attend to it, move by up to a few 1e-2), so within 5e-2; and the
 * perplexity of the held-out windows within 2% of float64's, as the
 * host-npu builds. */
static void test_three_units_split(void **state)
{
    tu_require_opencl();
    need_builds();
    static const int shapes[][2] = {{256, 256}, {128, 256}, {768, 256}, {256, 768}}, lengths[] = {1, 32, 64, 128, 256};
    const char *path = tu_fmt("%s/alike.json", fx.tmp);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"sync_us\": {\"gpu0-npu0\": 1}, \"units\": {", f);
    for (int u = 0; u < 2; u++) {
        fprintf(f, "%s\"%s\": [", u ? "], " : "", u ? "npu0" : "gpu0");
        for (int i = 0; i < 4; i++)
            for (int l = 0; l < 5; l++)
                fprintf(f, "%s{\"op\": \"linear\", \"n\": %d, \"k\": %d, \"s\": %d, \"dtype\": \"%s\", \"us\": %.1f}",
                        i || l ? ", " : "", shapes[i][0], shapes[i][1], lengths[l], u ? "i8" : "f16",
                        50 + shapes[i][0] * shapes[i][1] * (double)lengths[l] / 2e4);
    }
    fputs("]}}\n", f);
    fclose(f);
    const char *flags = tu_fmt("--profile %s", path);
    build_for("host-hetero", "hetero-split", flags);
    static const int lengths2[] = {33, 161};
    for (int k = 0; k < 2; k++)
        for (int w = 0; w < 6; w++) {
            double err = hetero_error("hetero-split", flags, w, lengths2[k]);
            print_message("[ 3 units  ] split, window %d, %d tokens: relative L2 %.2e from the interpreter\n", w,
                          lengths2[k], err);
            assert_true(err <= 5e-2);
        }
    assert_true(perplexity("hetero-split") <= 1.02 * fx.ref_ppl);
    size_t len;
    char *src = tu_read_file(tu_fmt("%s/hetero-split/model.c", fx.tmp), &len);
    assert_non_null(src);
    assert_non_null(strstr(src, "\"copy2d_f32\""));                      /* a part copied into its join */
    assert_non_null(strstr(src, "is computed inside the join"));         /* an activation split's gpu part */
    free(src);
}

int main(void)
{
    if (!tu_shared()) return 0;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_perplexity),
        cmocka_unit_test(test_isa_paths_identical),
        cmocka_unit_test(test_out_of_order_identical),
        cmocka_unit_test(test_bad_calibration),
        cmocka_unit_test(test_model_profile),
        cmocka_unit_test(test_three_units),
        cmocka_unit_test(test_three_units_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
