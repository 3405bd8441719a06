/* test_e2e_ppl.c: `model --perplexity` of the generated program against
 * numbers it does not compute itself.
 *
 * trained-llama is compiled for the host cpu once. Its reference.json has
 * 16 held-out windows of 256 token ids and their float64 perplexity
 * (positions 0..254 of each window predict tokens 1..255). With those ids
 * (--ppl-ids, --ppl-window 256):
 * - --ppl-score all must be within 1e-3 (relative) of heldout.ppl;
 * - both --ppl-score all and half must match the perplexity and error
 *   computed here, in double, from the logits `model --ids --logits` writes
 *   for each window (E = P * sqrt(var(NLL) / (T - 1)), llama-perplexity's);
 * - text (--perplexity FILE without --ppl-ids) must give what the ids of
 *   `hetc tokenize --file FILE` give with each window's first id replaced
 *   by BOS, and something else without that replacement;
 * - a context smaller than the window clamps it with a note;
 * - a missing file, too few tokens, a bad or out-of-vocabulary id, bad
 *   option values and a second mode are errors with their messages and
 *   exit codes.
 */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

enum { WINDOWS = 16, WINDOW = 256, VOCAB = 4096, TEXT_WINDOW = 64 };

typedef struct {
    char fix[4096];         /* the fixture */
    char tmp[4096];         /* scratch directory */
    char model[4200];       /* the generated program */
    char ids_file[4200];    /* the held-out windows, whitespace-separated */
    int32_t ids[WINDOWS][WINDOW];
    double ref_ppl;         /* heldout.ppl */
} Fixture;

static Fixture fx;

/* What one run printed on stdout. */
typedef struct {
    double ppl, err;
    long scored, windows;
    int window;
} Ppl;

/* Compiles trained-llama and writes its held-out ids, once. */
static void need_model(void)
{
    static int ready;
    if (ready)
        return;
    snprintf(fx.fix, sizeof fx.fix, "%s/fixtures/trained-llama", tu_shared());
    snprintf(fx.tmp, sizeof fx.tmp, "%s", tu_tmpdir("ppl"));
    snprintf(fx.model, sizeof fx.model, "%s/proj/build/model", fx.tmp);
    char *log;
    if (tu_run(&log, "%s compile %s --target %s/targets/host-cpu.xml -o %s/proj && cmake -S %s/proj -B %s/proj/build "
                     "-DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build %s/proj/build",
               tu_hetc(), fx.fix, tu_src(), fx.tmp, fx.tmp, fx.tmp, fx.tmp))
        fail_msg("compile/build failed:\n%s", log);
    free(log);
    json_object *root = json_object_from_file(tu_fmt("%s/reference.json", fx.fix));
    json_object *held = root ? json_object_object_get(root, "heldout") : NULL;
    json_object *wins = held ? json_object_object_get(held, "windows") : NULL;
    if (!wins || json_object_array_length(wins) != WINDOWS)
        fail_msg("%s/reference.json: no %d heldout.windows", fx.fix, WINDOWS);
    fx.ref_ppl = json_object_get_double(json_object_object_get(held, "ppl"));
    static char text[WINDOWS * WINDOW * 8];
    size_t k = 0;
    for (int w = 0; w < WINDOWS; w++) {
        json_object *win = json_object_array_get_idx(wins, w);
        assert_int_equal(json_object_array_length(win), WINDOW);
        for (int i = 0; i < WINDOW; i++) {
            fx.ids[w][i] = json_object_get_int(json_object_array_get_idx(win, i));
            k += (size_t)snprintf(text + k, sizeof text - k, "%d%s", fx.ids[w][i], i + 1 < WINDOW ? " " : "\n");
        }
    }
    json_object_put(root);
    snprintf(fx.ids_file, sizeof fx.ids_file, "%s/heldout.txt", fx.tmp);
    tu_write_file(fx.ids_file, text, k);
    ready = 1;
}

/* Runs the model with args, which must succeed and print exactly one line
 * of perplexity on stdout; its stderr goes to *err (malloc'd) if err. */
static Ppl run_ppl(const char *args, char **err)
{
    const char *err_file = tu_fmt("%s/stderr.txt", fx.tmp);
    char *out;
    int rc = tu_run(&out, "{ %s %s 2>%s; }", fx.model, args, err_file);
    char *errs = tu_read_file(err_file, NULL);
    if (rc)
        fail_msg("'model %s' failed (%d):\n%s%s", args, rc, out, errs ? errs : "");
    Ppl p;
    int end = 0;
    if (sscanf(out, "perplexity: %lf +/- %lf (%ld tokens scored in %ld windows of %d)\n%n", &p.ppl, &p.err,
               &p.scored, &p.windows, &p.window, &end) != 5 || end == 0 || out[end] != 0)
        fail_msg("'model %s': stdout is not one line of perplexity:\n[%s]", args, out);
    free(out);
    if (err)
        *err = errs;
    else
        free(errs);
    return p;
}

/* Runs the model with args, which must exit with want_rc and print a line
 * starting with "error: " + want. */
static void expect_error(const char *args, int want_rc, const char *want)
{
    char *out;
    int rc = tu_run(&out, "%s %s", fx.model, args);
    char line[1024];
    snprintf(line, sizeof line, "error: %s", want);
    if (rc != want_rc || strncmp(out, line, strlen(line)) != 0)
        fail_msg("'model %s': want exit %d and [%s...], got exit %d and:\n%s", args, want_rc, line, rc, out);
    free(out);
}

static void expect_close(double got, double want, double rel, const char *what)
{
    if (!(fabs(got - want) <= rel * fabs(want)))
        fail_msg("%s: %.6f, want %.6f (relative %.1e > %.0e)", what, got, want, fabs(got - want) / fabs(want), rel);
}

/* NLL of every position 0..WINDOW-2 of every window, in double, from the
 * logits of `model --ids --logits`. */
static void reference_nll(double nll[WINDOWS][WINDOW - 1])
{
    const char *bin = tu_fmt("%s/logits.bin", fx.tmp);
    for (int w = 0; w < WINDOWS; w++) {
        char list[WINDOW * 8];
        size_t k = 0;
        for (int i = 0; i < WINDOW; i++)
            k += (size_t)snprintf(list + k, sizeof list - k, "%s%d", i ? "," : "", fx.ids[w][i]);
        char *out;
        if (tu_run(&out, "%s --ids %s --logits %s", fx.model, list, bin))
            fail_msg("window %d: --logits failed:\n%s", w, out);
        free(out);
        size_t len;
        float *lg = (float *)tu_read_file(bin, &len);
        assert_non_null(lg);
        assert_int_equal(len, (size_t)WINDOW * VOCAB * sizeof *lg);
        for (int p = 0; p < WINDOW - 1; p++) {
            const float *row = lg + (size_t)p * VOCAB;
            double mx = row[0], sum = 0;
            for (int v = 1; v < VOCAB; v++)
                mx = fmax(mx, row[v]);
            for (int v = 0; v < VOCAB; v++)
                sum += exp((double)row[v] - mx);
            nll[w][p] = mx + log(sum) - row[fx.ids[w][p + 1]];
        }
        free(lg);
    }
}

/* P and E over positions first..WINDOW-2 of every window. */
static Ppl expected(double nll[WINDOWS][WINDOW - 1], int first)
{
    double sum = 0, sum2 = 0;
    long n = 0;
    for (int w = 0; w < WINDOWS; w++)
        for (int p = first; p < WINDOW - 1; p++, n++) {
            sum += nll[w][p];
            sum2 += nll[w][p] * nll[w][p];
        }
    double mean = sum / n, var = sum2 / n - mean * mean;
    Ppl e = {exp(mean), 0, n, WINDOWS, WINDOW};
    e.err = sqrt(var / (n - 1)) * e.ppl;
    return e;
}

static void expect_ppl(Ppl got, Ppl want, const char *what)
{
    assert_int_equal(got.scored, want.scored);
    assert_int_equal(got.windows, want.windows);
    assert_int_equal(got.window, want.window);
    expect_close(got.ppl, want.ppl, 1e-4, tu_fmt("%s perplexity", what));
    expect_close(got.err, want.err, 1e-3, tu_fmt("%s error", what));
}

static void test_heldout(void **state)
{
    need_model();
    char *err;
    Ppl all = run_ppl(tu_fmt("--perplexity %s --ppl-ids --ppl-window 256 --ppl-score all", fx.ids_file), &err);
    printf("  all:  %.4f +/- %.5f (reference %.4f)\n", all.ppl, all.err, fx.ref_ppl);
    expect_close(all.ppl, fx.ref_ppl, 1e-3, "--ppl-score all against heldout.ppl");
    assert_int_equal(all.scored, WINDOWS * (WINDOW - 1));
    assert_true(all.err > 0.01 * all.ppl && all.err < 0.2 * all.ppl);
    if (!strstr(err, "[1]") || !strstr(err, "[16]") || !strstr(err, " t/s"))
        fail_msg("stderr lacks the running estimates or the speed:\n%s", err);
    free(err);
    Ppl half = run_ppl(tu_fmt("--perplexity %s --ppl-ids --ppl-window 256", fx.ids_file), NULL);
    printf("  half: %.4f +/- %.5f\n", half.ppl, half.err);
    assert_int_equal(half.scored, WINDOWS * (WINDOW / 2 - 1));
    assert_true(half.ppl > 1.0 && half.ppl < 0.5 * VOCAB && fabs(half.ppl - all.ppl) > 1e-3 * all.ppl);
    assert_true(half.err > all.err);
    static double nll[WINDOWS][WINDOW - 1];
    reference_nll(nll);
    expect_ppl(all, expected(nll, 0), "--ppl-score all");
    expect_ppl(half, expected(nll, WINDOW / 2), "--ppl-score half");
}

/* The ids of `hetc tokenize --file` in windows of TEXT_WINDOW to a file, the
 * first id of every window replaced by bos (< 0: kept). */
static const char *window_ids(const int32_t *ids, size_t n, int32_t bos, const char *name)
{
    char *text = malloc(n * 8 + 2);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += (size_t)sprintf(text + k, "%d ", i % TEXT_WINDOW == 0 && bos >= 0 ? bos : ids[i]);
    const char *path = tu_fmt("%s/%s", fx.tmp, name);
    tu_write_file(path, text, k);
    free(text);
    return path;
}

static void test_text(void **state)
{
    need_model();
    const char *src = tu_fmt("%s/scripts/ref_forward.py", tu_src());
    char *out;
    if (tu_run(&out, "{ %s tokenize %s --file %s 2>/dev/null; }", tu_hetc(), fx.fix, src))
        fail_msg("hetc tokenize failed:\n%s", out);
    size_t n = 0;
    int32_t *ids = malloc(strlen(out) * sizeof *ids);
    for (char *p = out, *end; (ids[n] = (int32_t)strtol(p, &end, 10)), end != p; p = end)
        n++;
    free(out);
    assert_true(n >= 4 * TEXT_WINDOW);
    assert_int_equal(ids[0], 1);    /* the tokenizer adds BOS (<s>) */
    Ppl text = run_ppl(tu_fmt("--perplexity %s --ppl-window %d", src, TEXT_WINDOW), NULL);
    Ppl bos = run_ppl(tu_fmt("--perplexity %s --ppl-ids --ppl-window %d", window_ids(ids, n, 1, "bos.txt"),
                             TEXT_WINDOW), NULL);
    Ppl kept = run_ppl(tu_fmt("--perplexity %s --ppl-ids --ppl-window %d", window_ids(ids, n, -1, "kept.txt"),
                              TEXT_WINDOW), NULL);
    printf("  text: %.4f +/- %.5f; ids without BOS: %.4f\n", text.ppl, text.err, kept.ppl);
    assert_int_equal(text.windows, (long)(n / TEXT_WINDOW));
    assert_true(text.ppl == bos.ppl && text.err == bos.err && text.scored == bos.scored);
    assert_true(text.ppl != kept.ppl);
    free(ids);
}

static void test_clamped_window(void **state)
{
    need_model();
    char *err;
    Ppl p = run_ppl(tu_fmt("--perplexity %s --ppl-ids --ctx 300", fx.ids_file), &err);
    assert_int_equal(p.window, 300);
    assert_int_equal(p.windows, WINDOWS * WINDOW / 300);
    assert_int_equal(p.scored, p.windows * (300 - 150 - 1));
    if (!strstr(err, "note: the context is 300 tokens (--ctx): windows of 300 tokens instead of 512"))
        fail_msg("no note on the clamped window:\n%s", err);
    free(err);
}

static void test_errors(void **state)
{
    need_model();
    const char *dir = fx.tmp;
    const char *few = tu_fmt("%s/few.txt", dir), *word = tu_fmt("%s/word.txt", dir);
    const char *big = tu_fmt("%s/big.txt", dir);
    tu_write_file(few, "1 2 3 4 5\n", 10);
    tu_write_file(word, "1 2\n3x 4\n", 9);
    tu_write_file(big, "1 4095 4096 5", 13);
    expect_error(tu_fmt("--perplexity %s/missing.txt --ppl-ids", dir), 1,
                 tu_fmt("cannot read %s/missing.txt: No such file or directory", dir));
    expect_error(tu_fmt("--perplexity %s/missing.txt", dir), 1,
                 tu_fmt("cannot read %s/missing.txt: No such file or directory", dir));
    expect_error(tu_fmt("--perplexity %s --ppl-ids --ppl-window 8", few), 1,
                 tu_fmt("%s has 5 tokens but a window needs 8 (--ppl-window)", few));
    expect_error(tu_fmt("--perplexity %s --ppl-ids --ppl-window 2", few), 1,
                 "a window of 2 tokens leaves no position to score with --ppl-score half (a window needs at least 3)");
    expect_error(tu_fmt("--perplexity %s --ppl-ids", word), 1,
                 tu_fmt("%s: item 3 ('3x') is not a token id (0..4095, the vocabulary has 4096 tokens)", word));
    expect_error(tu_fmt("--perplexity %s --ppl-ids", big), 1,
                 tu_fmt("%s: item 3 ('4096') is not a token id (0..4095, the vocabulary has 4096 tokens)", big));
    expect_error(tu_fmt("--perplexity %s --ppl-ids --ppl-window 0", few), 2,
                 "--ppl-window expects an integer from 2 to 1048576, got '0'");
    expect_error(tu_fmt("--perplexity %s --ppl-ids --ppl-score most", few), 2,
                 "--ppl-score expects half or all, got 'most'");
    expect_error(tu_fmt("--perplexity %s --bench", few), 2, "--bench cannot be combined with --perplexity");
    expect_error("--bench --ppl-window 64", 2, "--ppl-ids, --ppl-window and --ppl-score go with --perplexity");
    Ppl two = run_ppl(tu_fmt("--perplexity %s --ppl-ids --ppl-window 2 --ppl-score all", few), NULL);
    assert_int_equal(two.scored, 2);
    assert_int_equal(two.windows, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heldout),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_clamped_window),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
