/* test_e2e_fixtures.c: the whole path against transformers.
 *
 * For every fixture in $HETC_SHARED/fixtures and every prompt of its
 * reference.json: the reference interpreter (hetc run) and the generated
 * program (hetc compile, cmake, model --ids --logits) with the default
 * batch, --batch 1 and --batch 7 must give logits within relative L2 error
 * 1e-4 of the reference at every position. The same for the fixtures in
 * tests/fixtures, and both again on the OpenCL unit (targets/host-opencl.xml,
 * PoCL on machines without a GPU) and on two units at once
 * (targets/host-split.xml: attention on the cpu, the rest on OpenCL), within
 * 1e-3; and cross-built for 64-bit Arm (the project's
 * cmake/aarch64-linux-gnu.cmake) and run under qemu-aarch64, within 1e-4,
 * its instruction paths printed (model --paths).
 */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* A way of running the fixtures: the target and the tolerance it must meet. */
typedef struct {
    const char *name;       /* for messages and temporary directories */
    const char *target;     /* targets/<target>.xml */
    double tol;             /* relative L2 error per position */
    int interpreter;        /* also check `hetc run` */
    int cross;              /* build with the project's aarch64 toolchain file, run under qemu */
} Unit;

static const Unit CPU = {"cpu", "host-cpu", 1e-4, 1, 0};
static const Unit OPENCL = {"opencl", "host-opencl", 1e-3, 0, 0};
static const Unit SPLIT = {"split", "host-split", 1e-3, 0, 0};
static const Unit AARCH64 = {"aarch64", "host-cpu", 1e-4, 0, 1};
#define QEMU "qemu-aarch64 -L /usr/aarch64-linux-gnu"

typedef struct {
    int n;          /* positions */
    int vocab;
    int32_t *ids;   /* [n] */
    float *logits;  /* [n, vocab] */
} Prompt;

typedef struct {
    Prompt p[16];
    int np;
} Reference;

static void load_reference(const char *path, Reference *r)
{
    json_object *root = json_object_from_file(path);
    if (!root) fail_msg("%s: cannot parse", path);
    json_object *prompts = json_object_object_get(root, "prompts");
    r->np = (int)json_object_array_length(prompts);
    assert_true(r->np > 0 && r->np <= 16);
    for (int i = 0; i < r->np; i++) {
        json_object *p = json_object_array_get_idx(prompts, i);
        json_object *ids = json_object_object_get(p, "ids"), *lg = json_object_object_get(p, "logits");
        Prompt *q = &r->p[i];
        q->n = (int)json_object_array_length(ids);
        q->vocab = (int)json_object_array_length(json_object_array_get_idx(lg, 0));
        q->ids = malloc(q->n * sizeof *q->ids);
        q->logits = malloc((size_t)q->n * q->vocab * sizeof *q->logits);
        for (int s = 0; s < q->n; s++) {
            q->ids[s] = json_object_get_int(json_object_array_get_idx(ids, s));
            json_object *row = json_object_array_get_idx(lg, s);
            for (int v = 0; v < q->vocab; v++)
                q->logits[(size_t)s * q->vocab + v] = (float)json_object_get_double(json_object_array_get_idx(row, v));
        }
    }
    json_object_put(root);
}

static void free_reference(Reference *r)
{
    for (int i = 0; i < r->np; i++) free(r->p[i].ids), free(r->p[i].logits);
}

static const char *ids_arg(const Prompt *p)
{
    static char buf[1 << 14];
    size_t k = 0;
    for (int s = 0; s < p->n; s++) k += snprintf(buf + k, sizeof buf - k, "%s%d", s ? "," : "", p->ids[s]);
    return buf;
}

/* Checks the logits file against the reference, position by position. */
static void check_logits(const char *path, const Prompt *p, double tol, const char *what)
{
    size_t len;
    float *got = (float *)tu_read_file(path, &len);
    assert_non_null(got);
    assert_int_equal(len, (size_t)p->n * p->vocab * sizeof(float));
    double worst = 0;
    for (int s = 0; s < p->n; s++) {
        double num = 0, den = 0;
        for (int v = 0; v < p->vocab; v++) {
            double ref = p->logits[(size_t)s * p->vocab + v], d = got[(size_t)s * p->vocab + v] - ref;
            num += d * d;
            den += ref * ref;
        }
        double rel = sqrt(num / den);
        if (!(rel < tol)) fail_msg("%s: position %d: relative L2 error %.3g > %g", what, s, rel, tol);
        if (rel > worst) worst = rel;
    }
    printf("  %-48s %3d positions, worst relative L2 %.2e\n", what, p->n, worst);
    free(got);
}

static void run_fixture(const Unit *u, const char *root, const char *name)
{
    char fix[8192], out[4096];
    snprintf(fix, sizeof fix, "%s/%s", root, name);
    Reference r;
    load_reference(tu_fmt("%s/reference.json", fix), &r);
    snprintf(out, sizeof out, "%s", tu_tmpdir(tu_fmt("e2e-%s-%s", u->name, name)));
    char *log;
    int rc = tu_run(&log, "%s compile %s --target %s/targets/%s.xml -o %s/proj", tu_hetc(), fix, tu_src(), u->target,
                    out);
    if (rc) fail_msg("hetc compile failed:\n%s", log);
    free(log);
    rc = tu_run(&log, "cmake -S %s/proj -B %s/proj/build -DCMAKE_BUILD_TYPE=Release %s%s%s >/dev/null && "
                      "cmake --build %s/proj/build", out, out, u->cross ? "-DCMAKE_TOOLCHAIN_FILE=" : "",
                u->cross ? out : "", u->cross ? "/proj/cmake/aarch64-linux-gnu.cmake" : "", out);
    if (rc) fail_msg("building the generated project failed:\n%s", log);
    free(log);
    const char *runner = u->cross ? QEMU " " : "";
    if (u->cross) {
        rc = tu_run(&log, "file %s/proj/build/model && %s%s/proj/build/model --paths", out, runner, out);
        if (rc || !strstr(log, "ARM aarch64") || !strstr(log, "neon")) fail_msg("not an aarch64 program:\n%s", log);
        for (char *l = strtok(strchr(log, '\n') + 1, "\n"); l; l = strtok(NULL, "\n")) printf("  %s\n", l);
        free(log);
    }
    for (int i = 0; i < r.np; i++) {
        const Prompt *p = &r.p[i];
        char lf[4200];
        snprintf(lf, sizeof lf, "%s/logits.bin", out);
        if (u->interpreter) {
            rc = tu_run(&log, "%s run %s --ids %s --logits %s", tu_hetc(), fix, ids_arg(p), lf);
            if (rc) fail_msg("hetc run failed:\n%s", log);
            free(log);
            check_logits(lf, p, u->tol, tu_fmt("%s prompt %d interpreter", name, i));
        }
        static const char *const batches[] = {"", "--batch 1", "--batch 7"};
        for (int b = 0; b < 3; b++) {
            rc = tu_run(&log, "%s%s/proj/build/model --ids %s --logits %s %s", runner, out, ids_arg(p), lf, batches[b]);
            if (rc) fail_msg("model failed:\n%s", log);
            free(log);
            check_logits(lf, p, u->tol,
                         tu_fmt("%s %s prompt %d model %s", u->name, name, i, b ? batches[b] : "(default batch)"));
        }
    }
    free_reference(&r);
}

static void fixture(const char *root, const char *name, void *unit) { run_fixture(unit, root, name); }

/* Every fixture under root; returns how many. */
static int run_all(const Unit *u, const char *where)
{
    return tu_each_fixture(where, fixture, (void *)u);
}

static void test_shared_fixtures(void **state)
{
    assert_true(run_all(&CPU, tu_fmt("%s/fixtures", tu_shared())) >= 3);
}

/* Our own fixtures (tests/fixtures, see its README): shapes, GQA ratios,
 * explicit head_dim, bf16, tied heads, llama3 RoPE and old config keys that
 * the shared ones do not cover. */
static void test_own_fixtures(void **state)
{
    assert_true(run_all(&CPU, tu_fmt("%s/tests/fixtures", tu_src())) >= 4);
}

/* The same on the OpenCL unit (PoCL where there is no GPU), within 1e-3;
 * skipped when the machine has no OpenCL platform. */
static void test_shared_fixtures_opencl(void **state)
{
    tu_require_opencl();
    assert_true(run_all(&OPENCL, tu_fmt("%s/fixtures", tu_shared())) >= 3);
}

static void test_own_fixtures_opencl(void **state)
{
    tu_require_opencl();
    assert_true(run_all(&OPENCL, tu_fmt("%s/tests/fixtures", tu_src())) >= 4);
}

/* Two units: attention and the KV cache on cpu0, the rest on gpu0. */
static void test_shared_fixtures_split(void **state)
{
    tu_require_opencl();
    assert_true(run_all(&SPLIT, tu_fmt("%s/fixtures", tu_shared())) >= 3);
}

static void test_own_fixtures_split(void **state)
{
    tu_require_opencl();
    assert_true(run_all(&SPLIT, tu_fmt("%s/tests/fixtures", tu_src())) >= 4);
}

/* Cross-built for aarch64 (gcc-aarch64-linux-gnu) and run under qemu-aarch64. */
static void test_shared_fixtures_aarch64(void **state)
{
    tu_require_aarch64();
    assert_true(run_all(&AARCH64, tu_fmt("%s/fixtures", tu_shared())) >= 3);
}

static void test_own_fixtures_aarch64(void **state)
{
    tu_require_aarch64();
    assert_true(run_all(&AARCH64, tu_fmt("%s/tests/fixtures", tu_src())) >= 4);
}

/* argv[1]: only the tests of that name. */
int main(int argc, char **argv)
{
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared_fixtures),
        cmocka_unit_test(test_own_fixtures),
        cmocka_unit_test(test_shared_fixtures_opencl),
        cmocka_unit_test(test_own_fixtures_opencl),
        cmocka_unit_test(test_shared_fixtures_split),
        cmocka_unit_test(test_own_fixtures_split),
        cmocka_unit_test(test_shared_fixtures_aarch64),
        cmocka_unit_test(test_own_fixtures_aarch64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
