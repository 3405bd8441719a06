/* test_rt_cli.c: rt_main (the generated program's command line) driven
 * with a fake model whose logits encode (position, id, vocab index): the
 * logits file, --batch splitting, --bench output, and every error path. */
#include "testutil.h"
#include "hetc_rt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { FAKE_VOCAB = 7, FAKE_CTX = 16, FAKE_CHUNK = 4 };

struct RtModel {
    int pos;                /* tokens in the cache */
    int ctx;
};

static int largest_S;       /* the largest forward() seen */
static int bad_calls;       /* forward() calls that broke the API contract */

static RtStatus fake_init(RtModel **m, const char *path, int ctx, int threads)
{
    (void)threads;
    if (path && strcmp(path, "missing.bin") == 0) {
        rt_set_error("missing.bin: cannot open: No such file or directory");
        return RT_ERR_IO;
    }
    *m = calloc(1, sizeof **m);
    (*m)->ctx = ctx > 0 ? ctx : FAKE_CTX;
    return RT_OK;
}

/* Logit v of the token at position p with id t is p * 1000 + t * 10 + v. */
static RtStatus fake_forward(RtModel *m, const int32_t *ids, int S, int R, float *logits)
{
    if (S < 1 || S > FAKE_CHUNK || m->pos + S > m->ctx || (R != 1 && R != S)) {
        bad_calls++;
        rt_set_error("bad forward(S=%d, R=%d) at %d", S, R, m->pos);
        return RT_ERR_ARG;
    }
    largest_S = S > largest_S ? S : largest_S;
    for (int r = 0; r < R; r++) {
        int row = S - R + r;
        for (int v = 0; v < FAKE_VOCAB; v++)
            logits[r * FAKE_VOCAB + v] = (float)((m->pos + row) * 1000 + ids[row] * 10 + v);
    }
    m->pos += S;
    return RT_OK;
}

static void fake_reset(RtModel *m)
{
    m->pos = 0;
}

static int fake_position(const RtModel *m)
{
    return m->pos;
}

static int fake_context(const RtModel *m)
{
    return m->ctx;
}

static int fake_threads(const RtModel *m)
{
    return 3;
}

static void fake_destroy(RtModel *m)
{
    free(m);
}

static const RtModelApi fake_api = {
    .name = "fake", .vocab = FAKE_VOCAB, .max_ctx = FAKE_CTX, .max_chunk = FAKE_CHUNK,
    .weight_bytes = 1e6, .params = 5e5, .flops_per_token = 2e6, .init = fake_init,
    .forward = fake_forward, .reset = fake_reset, .position = fake_position,
    .context = fake_context, .threads = fake_threads, .destroy = fake_destroy,
};

/* Runs rt_main on the NULL-terminated arguments in ap; stdout and stderr
 * go to *out (malloc'd). Returns the exit code. */
static int vrun_cli(char **out, va_list ap)
{
    char *argv[32] = {"model"};
    int argc = 1;
    for (char *a; argc < 31 && (a = va_arg(ap, char *)); )
        argv[argc++] = a;
    const char *path = tu_fmt("%s/out.txt", tu_tmpdir("rt_cli_out"));
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(1), saved_err = dup(2);
    assert_non_null(freopen(path, "w", stdout));
    dup2(1, 2);
    largest_S = 0;
    bad_calls = 0;
    int rc = rt_main(argc, argv, &fake_api);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    *out = tu_read_file(path, NULL);
    assert_int_equal(bad_calls, 0);
    return rc;
}

static int run_cli(char **out, ...)
{
    va_list ap;
    va_start(ap, out);
    int rc = vrun_cli(out, ap);
    va_end(ap);
    return rc;
}

/* rt_main on the NULL-terminated arguments exits with want_rc and prints
 * want_text. */
static void expect_cli(int want_rc, const char *want_text, ...)
{
    char *out;
    va_list ap;
    va_start(ap, want_text);
    int rc = vrun_cli(&out, ap);
    va_end(ap);
    if (rc != want_rc || !strstr(out, want_text))
        fail_msg("exit %d (want %d), output lacks '%s':\n%s", rc, want_rc, want_text, out);
    free(out);
}

#define EXPECT(rc, text, ...) expect_cli(rc, text, __VA_ARGS__, (char *)NULL)

/* Checks the logits file of the prompt 'ids' (n tokens). */
static void check_logits(const char *path, const int *ids, int n)
{
    size_t len;
    char *data = tu_read_file(path, &len);
    assert_non_null(data);
    assert_int_equal(len, (size_t)n * FAKE_VOCAB * sizeof(float));
    const float *f = (const float *)data;
    for (int p = 0; p < n; p++)
        for (int v = 0; v < FAKE_VOCAB; v++)
            assert_true(f[p * FAKE_VOCAB + v] == (float)(p * 1000 + ids[p] * 10 + v));
    free(data);
}

static void test_prompt(void **state)
{
    (void)state;
    static const int ids[] = {1, 5, 6, 0, 2, 3, 4, 1, 1, 6};
    const char *list = "1,5,6,0,2,3,4,1,1,6";
    char path[4096];    /* a copy: tu_fmt's buffers are reused */
    snprintf(path, sizeof path, "%s/logits.bin", tu_tmpdir("rt_cli"));
    EXPECT(0, "", "--ids", list, "--logits", path);
    assert_int_equal(largest_S, FAKE_CHUNK);
    check_logits(path, ids, 10);
    EXPECT(0, "", "--logits", path, "--batch", "3", "--ids", list);
    assert_int_equal(largest_S, 3);
    check_logits(path, ids, 10);
    EXPECT(0, "", "-t", "2", "--ids", list, "--logits", path, "--batch", "1000");
    assert_int_equal(largest_S, FAKE_CHUNK);
    check_logits(path, ids, 10);
    EXPECT(0, "", "--ids", "6", "--logits", path, "--ctx", "1");
    check_logits(path, (const int[]){6}, 1);
}

static void test_prompt_errors(void **state)
{
    (void)state;
    char path[4096];    /* a copy: tu_fmt's buffers are reused */
    snprintf(path, sizeof path, "%s/logits.bin", tu_tmpdir("rt_cli"));
    const char *long_prompt = "1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1";
    EXPECT(1, "prompt has 17 tokens but the context is 16 (--ctx)", "--ids", long_prompt,
           "--logits", path);
    EXPECT(1, "prompt has 3 tokens but the context is 2 (--ctx)", "--ids", "1,2,3", "--logits",
           path, "--ctx", "2");
    EXPECT(1, "item 2 ('x')", "--ids", "1,x,3", "--logits", path);
    EXPECT(1, "not a token id", "--ids", "-1", "--logits", path);
    EXPECT(1, "not a token id", "--ids", "7", "--logits", path);
    EXPECT(1, "not a token id", "--ids", "", "--logits", path);
    EXPECT(1, "not a token id", "--ids", "1,,2", "--logits", path);
    EXPECT(1, "not a token id", "--ids", "1,2,", "--logits", path);
    EXPECT(1, "not a token id", "--ids", "99999999999999999999", "--logits", path);
    EXPECT(1, "cannot create /nonexistent/x.bin", "--ids", "1", "--logits", "/nonexistent/x.bin");
    EXPECT(1, "missing.bin: cannot open", "-m", "missing.bin", "--ids", "1", "--logits", path);
    EXPECT(1, "larger than the compiled maximum context 16", "--ctx", "17", "--ids", "1",
           "--logits", path);
}

static void test_usage_errors(void **state)
{
    (void)state;
    EXPECT(0, "usage:", "--help");
    EXPECT(0, "--bench-reps K", "-h");
    EXPECT(2, "usage:", "--frobnicate");
    EXPECT(2, "unknown option '--frobnicate'", "--frobnicate");
    EXPECT(2, "-t needs a value", "-t");
    EXPECT(2, "-t needs a value", "--ids", "1", "--logits", "x", "-t");
    EXPECT(2, "-t expects an integer >= 1, got 'abc'", "-t", "abc");
    EXPECT(2, "--batch expects an integer >= 1, got '0'", "--batch", "0");
    EXPECT(2, "--ids and --logits go together", "--ids", "1");
    EXPECT(2, "cannot be combined", "--bench", "--ids", "1");
    char *out;
    assert_int_equal(run_cli(&out, (char *)NULL), 2);
    assert_non_null(strstr(out, "usage:"));
    free(out);
}

static void test_bench(void **state)
{
    (void)state;
    EXPECT(0, "| model | size | params | threads | test | t/s |", "--bench", "--bench-pp", "8",
           "--bench-tg", "5", "--bench-reps", "2");
    EXPECT(0, "| fake | 0.00 GiB | 0.00 B | 3 | pp8 | ", "--bench", "--bench-pp", "8",
           "--bench-tg", "5", "-t", "2");
    EXPECT(0, "| tg5 | ", "--bench", "--bench-pp", "8", "--bench-tg", "5");
    EXPECT(0, "GB/s", "--bench", "--bench-pp", "0", "--bench-tg", "3");
    EXPECT(1, "needs a context of 512 tokens but the context is 16", "--bench");
    EXPECT(1, "needs a context of 9 tokens but the context is 8", "--bench", "--ctx", "8",
           "--bench-pp", "9", "--bench-tg", "1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prompt),
        cmocka_unit_test(test_prompt_errors),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_bench),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
