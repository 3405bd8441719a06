/* test_e2e_chunks.c: plans of static shape against an independent float64
 * forward, at every chunk edge.
 *
 * A compiled model runs a prompt of L tokens as the decode plan (L <= 8) or
 * as chunks of the --chunk sizes, largest first, and a remainder that runs
 * on the flex plan (--remainder flex) or padded to the smallest chunk with
 * masked rows (--remainder pad). For each fixture, one prompt of 300 real
 * token ids (trained-llama: two held-out windows; the random-weight models:
 * fixed pseudo-random ids) gets its reference logits from
 * scripts/ref_forward.py, a float64 numpy forward that shares no code with
 * hetc; causal attention makes its first L rows the reference of the
 * prompt's first L tokens. Then, for each target and remainder policy, the
 * generated program (compiled with --chunk 32,128 --max-chunk 512, so a
 * prompt runs in one step) must be within relative L2 1e-4 (cpu) or 1e-3
 * (OpenCL, PoCL here) of it at every position, for every prompt length
 * at and around each chunk edge, and with --batch 1 (decode plan only);
 * two runs must give the same bytes.
 *
 * HETC_SWEEP=full (scripts/chunk_sweep.sh) runs every length 1..300, every
 * fixture, and chunk sizes 32, 128 and 32,128: hours on PoCL, not for CI;
 * HETC_SWEEP=edges runs every fixture at the CI lengths; HETC_SWEEP_CHUNKS=
 * 32,128 (say) one --chunk value instead of three; HETC_SWEEP_TARGETS
 * =cpu,split and HETC_SWEEP_FIXTURES=trained-llama,... (say) limit either
 * to some targets and fixtures.
 */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

enum { PROMPT = 300 };

typedef struct {
    const char *name;       /* for messages and temporary directories */
    const char *target;     /* targets/<target>.xml */
    double tol;             /* relative L2 error per position */
    int opencl;
} Target;

static const Target targets[] = {
    {"cpu", "host-cpu", 1e-4, 0},
    {"opencl", "host-opencl", 1e-3, 1},
    {"split", "host-split", 1e-3, 1},
};

/* Prompt lengths of the CI run: each side of every edge of --chunk 32,128
 * (decode up to 8; chunks of 32 and 128; one and two of 128 plus
 * remainders) and the whole prompt. */
static const int ci_lengths[] = {1, 8, 9, 31, 32, 33, 127, 128, 129, 160, 161, 255, 256, 257, 300};

static int full_sweep(void)
{
    const char *v = getenv("HETC_SWEEP");
    return v && strcmp(v, "full") == 0;
}

/* HETC_SWEEP=full or =edges: every fixture (edges: at the CI lengths). */
static int all_fixtures(void)
{
    const char *v = getenv("HETC_SWEEP");
    return full_sweep() || (v && strcmp(v, "edges") == 0);
}

typedef struct {
    char dir[4096];         /* the model */
    char tmp[4096];         /* its scratch directory */
    int vocab;
    int32_t ids[PROMPT];
    float *ref;             /* [PROMPT, vocab] */
} Fixture;

/* The prompt's ids: trained-llama's first two held-out windows, else a
 * fixed pseudo-random sequence of the model's vocabulary. */
static void prompt_ids(Fixture *fx)
{
    json_object *root = json_object_from_file(tu_fmt("%s/reference.json", fx->dir));
    json_object *cfg = json_object_from_file(tu_fmt("%s/config.json", fx->dir));
    if (!root || !cfg) fail_msg("%s: cannot read reference.json or config.json", fx->dir);
    fx->vocab = json_object_get_int(json_object_object_get(cfg, "vocab_size"));
    json_object *held = json_object_object_get(root, "heldout"), *wins = held ? json_object_object_get(held, "windows") : NULL;
    int n = 0;
    for (size_t w = 0; wins && w < json_object_array_length(wins) && n < PROMPT; w++) {
        json_object *win = json_object_array_get_idx(wins, w);
        for (size_t i = 0; i < json_object_array_length(win) && n < PROMPT; i++)
            fx->ids[n++] = json_object_get_int(json_object_array_get_idx(win, i));
    }
    uint32_t x = 12345;
    for (; n < PROMPT; n++) {
        x = x * 1103515245u + 12345u;
        fx->ids[n] = (int32_t)((x >> 8) % (uint32_t)fx->vocab);
    }
    json_object_put(root);
    json_object_put(cfg);
}

static const char *ids_arg(const int32_t *ids, int n)
{
    static char buf[PROMPT * 12];
    size_t k = 0;
    for (int i = 0; i < n; i++) k += (size_t)snprintf(buf + k, sizeof buf - k, "%s%d", i ? "," : "", ids[i]);
    return buf;
}

static void load_fixture(Fixture *fx, const char *root, const char *name)
{
    snprintf(fx->dir, sizeof fx->dir, "%s/%s", root, name);
    snprintf(fx->tmp, sizeof fx->tmp, "%s", tu_tmpdir(tu_fmt("chunks-%s", name)));
    prompt_ids(fx);
    const char *idf = tu_fmt("%s/ids.txt", fx->tmp), *reff = tu_fmt("%s/ref.bin", fx->tmp);
    const char *text = ids_arg(fx->ids, PROMPT);
    tu_write_file(idf, text, strlen(text));
    char *log;
    if (tu_run(&log, "/usr/bin/python3 %s/scripts/ref_forward.py %s %s %s", tu_src(), fx->dir, idf, reff))
        fail_msg("ref_forward.py failed:\n%s", log);
    free(log);
    size_t len;
    fx->ref = (float *)tu_read_file(reff, &len);
    if (!fx->ref || len != (size_t)PROMPT * fx->vocab * sizeof(float)) fail_msg("%s: %zu bytes", reff, len);
}

static int failures;        /* positions over tolerance in a full sweep (it goes on and counts) */

/* Rows [0, n) of got against the reference; returns the worst relative L2. */
static double worst_error(const Fixture *fx, const float *got, int n, double tol, const char *what)
{
    double worst = 0;
    for (int s = 0; s < n; s++) {
        double num = 0, den = 0;
        for (int v = 0; v < fx->vocab; v++) {
            double d = (double)got[(size_t)s * fx->vocab + v] - fx->ref[(size_t)s * fx->vocab + v];
            num += d * d;
            den += (double)fx->ref[(size_t)s * fx->vocab + v] * fx->ref[(size_t)s * fx->vocab + v];
        }
        double e = sqrt(num / (den > 0 ? den : 1));
        if (!(e <= tol) && !all_fixtures()) fail_msg("%s: position %d: relative L2 %.3e > %.0e", what, s, e, tol);
        if (!(e <= tol)) {
            fflush(stdout);
            printf("  FAIL %s: position %d: relative L2 %.3e > %.0e\n", what, s, e, tol);
            failures++;
        }
        if (e > worst) worst = e;
    }
    return worst;
}

/* Runs the program on the first n ids; returns its logits (malloc'd). */
static float *run_model(const Fixture *fx, const char *proj, int n, const char *extra, size_t *len)
{
    const char *lf = tu_fmt("%s/logits.bin", proj);
    char *log;
    if (tu_run(&log, "%s/build/model --ids %s --logits %s %s", proj, ids_arg(fx->ids, n), lf, extra))
        fail_msg("model failed on %d tokens:\n%s", n, log);
    free(log);
    float *got = (float *)tu_read_file(lf, len);
    if (!got || *len != (size_t)n * fx->vocab * sizeof(float)) fail_msg("%s: %zu bytes for %d rows", lf, *len, n);
    return got;
}

static void run_config(const Fixture *fx, const Target *t, const char *chunks, const char *remainder)
{
    const char *proj = tu_fmt("%s/%s-%s-%s", fx->tmp, t->name, chunks, remainder);
    char *log;
    if (tu_run(&log, "%s compile %s --target %s/targets/%s.xml -o %s --chunk %s --remainder %s --max-chunk 512 && "
                     "cmake -S %s -B %s/build -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build %s/build",
               tu_hetc(), fx->dir, tu_src(), t->target, proj, chunks, remainder, proj, proj, proj))
        fail_msg("compiling %s for %s failed:\n%s", fx->dir, t->target, log);
    free(log);
    char projbuf[4096];
    snprintf(projbuf, sizeof projbuf, "%s", proj);
    double worst = 0;
    int nlen = full_sweep() ? PROMPT : (int)(sizeof ci_lengths / sizeof ci_lengths[0]);
    for (int i = 0; i < nlen; i++) {
        int n = full_sweep() ? i + 1 : ci_lengths[i];
        size_t len;
        float *got = run_model(fx, projbuf, n, "", &len);
        double e = worst_error(fx, got, n, t->tol,
                               tu_fmt("%s %s --chunk %s --remainder %s, %d tokens", fx->dir, t->name, chunks, remainder, n));
        if (e > worst) worst = e;
        if (n == PROMPT) {      /* the same bytes twice, and the same logits token by token */
            size_t len2;
            float *again = run_model(fx, projbuf, n, "", &len2);
            if (len2 != len || memcmp(again, got, len) != 0) fail_msg("%s: two runs differ", projbuf);
            free(again);
            again = run_model(fx, projbuf, 40, "--batch 1", &len2);
            worst_error(fx, again, 40, t->tol, tu_fmt("%s %s --batch 1", fx->dir, t->name));
            free(again);
        }
        free(got);
    }
    printf("  %-28s %-6s --chunk %-6s --remainder %-4s %3d lengths, worst relative L2 %.2e\n",
           strrchr(fx->dir, '/') + 1, t->name, chunks, remainder, nlen, worst);
    fflush(stdout);
}

/* Whether HETC_SWEEP_TARGETS (default: all) names target t. */
static int wanted_target(const Target *t)
{
    const char *v = getenv("HETC_SWEEP_TARGETS");
    if (!v || !*v) return 1;
    char list[256];
    snprintf(list, sizeof list, ",%s,", v);
    return strstr(list, tu_fmt(",%s,", t->name)) != NULL;
}

static void run_fixture(const char *root, const char *name, int opencl)
{
    Fixture fx;
    load_fixture(&fx, root, name);
    static const char *const ci_chunks[] = {"32,128"}, *const all_chunks[] = {"32", "128", "32,128"};
    int nchunks = full_sweep() ? 3 : 1;
    const char *only = getenv("HETC_SWEEP_CHUNKS");     /* one --chunk value instead */
    const char *one[] = {only};
    if (only && *only) nchunks = 1;
    for (size_t t = 0; t < sizeof targets / sizeof targets[0]; t++) {
        if (targets[t].opencl != opencl || !wanted_target(&targets[t])) continue;
        for (int c = 0; c < nchunks; c++)
            for (int r = 0; r < 2; r++)
                run_config(&fx, &targets[t], only && *only ? one[0] : full_sweep() ? all_chunks[c] : ci_chunks[c],
                           r ? "flex" : "pad");
    }
    free(fx.ref);
}

static void sweep_fixture(const char *root, const char *name, void *opencl)
{
    const char *only = getenv("HETC_SWEEP_FIXTURES");
    char list[512];
    snprintf(list, sizeof list, ",%s,", only ? only : "");
    if (only && *only && !strstr(list, tu_fmt(",%s,", name))) return;
    run_fixture(root, name, *(int *)opencl);
}

/* Every fixture with a reference.json under root (CI: those listed). */
static void run_root(const char *where, const char *const *ci, int opencl)
{
    char root[4096];
    snprintf(root, sizeof root, "%s", where);
    if (!all_fixtures()) {
        for (int i = 0; ci[i]; i++) run_fixture(root, ci[i], opencl);
        return;
    }
    tu_each_fixture(root, sweep_fixture, &opencl);
}

static void test_cpu(void **state)
{
    static const char *const shared[] = {"trained-llama", "qwen2-tiny", NULL}, *const own[] = {"mistral-headdim", NULL};
    run_root(tu_fmt("%s/fixtures", tu_shared()), shared, 0);
    run_root(tu_fmt("%s/tests/fixtures", tu_src()), own, 0);
    if (failures) fail_msg("%d positions over tolerance", failures);
}

/* host-opencl and host-split (attention on the cpu, the rest on OpenCL). */
static void test_opencl(void **state)
{
    tu_require_opencl();
    static const char *const shared[] = {"trained-llama", NULL}, *const own[] = {NULL};
    run_root(tu_fmt("%s/fixtures", tu_shared()), shared, 1);
    run_root(tu_fmt("%s/tests/fixtures", tu_src()), own, 1);
    if (failures) fail_msg("%d positions over tolerance", failures);
}

static json_object *get(json_object *o, const char *key)
{
    json_object *v = json_object_object_get(o, key);
    if (!v) fail_msg("report: no key '%s'", key);
    return v;
}

/* --report-json: the plans, their subgraphs (attention alone, the rest of
 * a chunk plan shared), and per-unit arena and KV sizes that match the IR
 * and model.h. */
static void test_report(void **state)
{
    const char *dir = tu_tmpdir("chunks-report");
    char *ir;
    if (tu_run(&ir, "%s compile %s/fixtures/llama-tiny --target %s/targets/host-split.xml -o %s/proj --chunk 32 "
                    "--report-json %s/r.json --print-after=memplan 2>&1",
               tu_hetc(), tu_shared(), tu_src(), dir, dir))
        fail_msg("compile failed:\n%s", ir);
    json_object *r = json_object_from_file(tu_fmt("%s/r.json", dir));
    if (!r) fail_msg("r.json is not JSON");
    json_object *plans = get(r, "plans"), *units = get(r, "units");
    assert_int_equal(json_object_array_length(plans), 3);
    static const char *const names[] = {"decode", "prefill-32", "flex"};
    for (int p = 0; p < 3; p++) {
        assert_string_equal(json_object_get_string(get(json_object_array_get_idx(plans, p), "name")), names[p]);
        /* in order everywhere: host-split's chunk plan copies between gpu0's memory and the host's */
        assert_int_equal(json_object_get_int(get(json_object_array_get_idx(plans, p), "inflight")), 1);
    }
    json_object *subs = get(json_object_array_get_idx(plans, 1), "subgraphs");
    int attention = 0, shared = 0;
    for (size_t i = 0; i < json_object_array_length(subs); i++) {
        json_object *sg = json_object_array_get_idx(subs, i);
        int is_att = strcmp(json_object_get_string(get(sg, "ops")), "attention") == 0;
        attention += is_att;
        shared += json_object_get_boolean(get(sg, "shared"));
        assert_int_equal(json_object_get_boolean(get(sg, "shared")), !is_att);
        if (is_att) assert_string_equal(json_object_get_string(get(sg, "unit")), "cpu0");
    }
    assert_int_equal(attention, 2);     /* one per layer */
    assert_int_equal(json_object_get_int(get(r, "shared_subgraphs")), shared);
    long cpu = -1, gpu = -1;
    const char *line = strstr(ir, "\narena ");
    if (!line || sscanf(line, "\narena %ld %ld", &cpu, &gpu) != 2) fail_msg("no arena line");
    assert_int_equal(json_object_get_int64(get(json_object_array_get_idx(units, 0), "arena_bytes")), cpu);
    assert_int_equal(json_object_get_int64(get(json_object_array_get_idx(units, 1), "arena_bytes")), gpu);
    /* 2 layers x K and V x 2 kv heads x head_dim 16 x 4 bytes, all on cpu0 with attention */
    assert_int_equal(json_object_get_int(get(json_object_array_get_idx(units, 0), "kv_bytes_per_token")), 512);
    assert_int_equal(json_object_get_int(get(json_object_array_get_idx(units, 1), "kv_bytes_per_token")), 0);
    char *h = tu_read_file(tu_fmt("%s/proj/model.h", dir), NULL);
    if (!h || !strstr(h, tu_fmt("#define MODEL_ARENA_BYTES %ldULL", cpu))) fail_msg("model.h's arena is not %ld", cpu);
    free(h);
    json_object_put(r);
    free(ir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report),
        cmocka_unit_test(test_cpu),
        cmocka_unit_test(test_opencl),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
