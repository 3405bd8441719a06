/* test_rt_cli.c: rt_main (the generated program's command line) driven
 * with a fake model whose logits encode (position, id, vocab index): the
 * logits file, --batch splitting, --bench output, text generation (-p, -f,
 * sampling, end tokens, a full context), --tokenize, the chat (-i), and
 * every error path. */
#include "testutil.h"
#include "hetc_rt_tok.h"

#include <fcntl.h>
#include <stddef.h>
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

static const RtModelApi *cli_api = &fake_api;     /* the model rt_main runs */
static const char *cli_stdin;                       /* a file for stdin, or NULL */

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
    int saved_out = dup(1), saved_err = dup(2), saved_in = dup(0);
    assert_non_null(freopen(path, "w", stdout));
    dup2(1, 2);
    if (cli_stdin) {
        int fd = open(cli_stdin, O_RDONLY);
        assert_true(fd >= 0);
        dup2(fd, 0);
        close(fd);
    }
    largest_S = 0;
    bad_calls = 0;
    int rc = rt_main(argc, argv, cli_api);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    dup2(saved_in, 0);
    clearerr(stdin);
    close(saved_out);
    close(saved_err);
    close(saved_in);
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
    EXPECT(0, "", "-t", "2", "--ids", list, "--logits", path, "--batch", "4");
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
    EXPECT(2, "error: --ctx expects an integer from 1 to 16 (the compiled context), got '17'", "--ctx", "17",
           "--ids", "1", "--logits", path);
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
    EXPECT(2, "error: -t expects an integer from 1 to 1024, got 'abc'", "-t", "abc");
    EXPECT(2, "error: -t expects an integer from 1 to 1024, got '1025'", "-t", "1025");
    EXPECT(2, "error: --batch expects an integer from 1 to 4 (the compiled chunk), got '0'", "--batch", "0");
    /* the help says the maximum is the compiled chunk: more was accepted */
    EXPECT(2, "error: --batch expects an integer from 1 to 4 (the compiled chunk), got '100000'", "--batch",
           "100000", "--ids", "1", "--logits", "x");
    EXPECT(2, "error: --ctx expects an integer from 1 to 16 (the compiled context), got '0'", "--ctx", "0");
    /* counts of tokens and repetitions are bounded: no benchmark runs for ever */
    EXPECT(2, "error: --bench-pp expects an integer from 0 to 16 (the compiled context), got '17'", "--bench",
           "--bench-pp", "17");
    EXPECT(2, "error: --bench-tg expects an integer from 0 to 16 (the compiled context), got '2147483648'",
           "--bench", "--bench-tg", "2147483648");
    EXPECT(2, "error: --bench-reps expects an integer from 1 to 100, got '101'", "--bench", "--bench-reps", "101");
    EXPECT(2, "error: --bench-reps expects an integer from 1 to 100, got '0'", "--bench", "--bench-reps", "0");
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


/* ---- text ---- */

/* tokenizer.bin of the fake vocabulary: one token per character, "<s>"
 * (the prefix when with_bos) and "</s>" special; the greedy pick of the
 * fake model is always id 6, "z". */
typedef struct {
    RtTokHeader h;
    RtTokEntry tokens[FAKE_VOCAB];
    uint32_t str_hash[16];
    RtTokMerge merges[1];
    RtTokOp ops[1];             /* a Fuse decoder */
    char pool[16];
} TokFile;

static const char *write_tokenizer_chat(const char *name, int with_bos, int32_t eos, RtChatFormat chat)
{
    static const char *const text[FAKE_VOCAB] = {"<s>", "</s>", "a", "b", " ", "\n", "z"};
    TokFile f;
    memset(&f, 0, sizeof f);
    RtTokHeader *h = &f.h;
    *h = (RtTokHeader){
        .version = RT_TOK_VERSION, .model = RT_TOK_BPE, .n_tokens = FAKE_VOCAB, .unk_id = -1, .bos_id = 0,
        .eos_id = eos, .pad_id = -1, .n_prefix = with_bos, .prefix = {0}, .n_eos = 1, .eos = {eos},
        .chat_format = chat, .n_dec = 1, .str_hash_cap = 16, .merge_hash_cap = 1,
        .tokens_off = offsetof(TokFile, tokens), .str_hash_off = offsetof(TokFile, str_hash),
        .merge_hash_off = offsetof(TokFile, merges), .added_off = offsetof(TokFile, ops),
        .ops_off = offsetof(TokFile, ops), .pool_off = offsetof(TokFile, pool), .file_bytes = sizeof f,
    };
    memcpy(h->magic, RT_TOK_MAGIC, sizeof h->magic);
    for (uint32_t id = 0, off = 0; id < FAKE_VOCAB; off += f.tokens[id++].len) {
        f.tokens[id] = (RtTokEntry){off, (uint32_t)strlen(text[id]), 0.0f, id < 2 ? RT_TOK_SPECIAL : 0, 0};
        memcpy(f.pool + off, text[id], f.tokens[id].len);
        uint32_t slot = rt_tok_hash_str(text[id], f.tokens[id].len) & 15;
        while (f.str_hash[slot])
            slot = (slot + 1) & 15;
        f.str_hash[slot] = id + 1;
        h->pool_bytes = off + f.tokens[id].len;
    }
    f.merges[0].left = UINT32_MAX;
    f.ops[0].kind = RT_TD_FUSE;
    static char path[4][4096];  /* copies: tu_fmt's buffers are reused */
    static int next;
    char *p = path[next++ & 3];
    snprintf(p, sizeof path[0], "%s/%s", tu_tmpdir(tu_fmt("rt_cli_%s", name)), name);
    tu_write_file(p, &f, sizeof f);
    return p;
}

static const char *write_tokenizer(const char *name, int with_bos, int32_t eos)
{
    return write_tokenizer_chat(name, with_bos, eos, RT_CHAT_NONE);
}

/* Runs rt_main on the NULL-terminated arguments; the output is malloc'd. */
static char *output_of(int want_rc, ...)
{
    char *out;
    va_list ap;
    va_start(ap, want_rc);
    int rc = vrun_cli(&out, ap);
    va_end(ap);
    if (rc != want_rc)
        fail_msg("exit %d (want %d):\n%s", rc, want_rc, out);
    return out;
}

#define OUTPUT(rc, ...) output_of(rc, __VA_ARGS__, (char *)NULL)

static void expect_text(char *out, const char *want)
{
    if (!strstr(out, want))
        fail_msg("output lacks '%s':\n%s", want, out);
    free(out);
}

static void test_tokenize(void **state)
{
    (void)state;
    const char *tok = write_tokenizer("tok.bin", 1, 1);
    char *out = OUTPUT(0, "--tok", tok, "--tokenize", "ab a");
    assert_string_equal(out, "0 2 3 4 2\n");
    free(out);
    out = OUTPUT(0, "--tokenize", "ab a", "--no-special", "--tok", tok);
    assert_string_equal(out, "2 3 4 2\n");
    free(out);
    static RtModelApi api;
    api = fake_api;
    api.tokenizer_path = tok;
    cli_api = &api;
    out = OUTPUT(0, "--tokenize", "");
    assert_string_equal(out, "0\n");
    free(out);
}

static void test_generate(void **state)
{
    (void)state;
    const char *tok = write_tokenizer("tok.bin", 1, 1), *eos_z = write_tokenizer("eos_z.bin", 0, 6);
    expect_text(OUTPUT(0, "--tok", tok, "-p", "ab", "-n", "3", "--temp", "0"),
                "zzz\nprompt: 3 tokens, ");
    expect_text(OUTPUT(0, "--tok", tok, "-p", "ab", "-n", "3", "--temp", "0"), "generation: 3 tokens, ");
    char *out = OUTPUT(0, "--tok", tok, "-p", "ab", "-n", "0", "--temp", "0");
    assert_non_null(strstr(out, "generation: 0 tokens"));
    assert_int_equal(out[0], '\n');
    free(out);
    /* 3 prompt tokens, 13 fed replies, the 14th sampled: the context is full */
    expect_text(OUTPUT(0, "--tok", tok, "-p", "ab", "-n", "16", "--temp", "0"),
                "zzzzzzzzzzzzzz\nnote: the context (16 tokens) is full");
    const char *prompt = tu_fmt("%s/prompt.txt", tu_tmpdir("rt_cli_prompt"));
    tu_write_file(prompt, "a b\n", 4);
    expect_text(OUTPUT(0, "--tok", tok, "-f", prompt, "-n", "2", "--temp", "0"), "zz\nprompt: 5 tokens");
    /* an end token stops, unless --ignore-eos */
    expect_text(OUTPUT(0, "--tok", eos_z, "-p", "ab", "--temp", "0"), "generation: 0 tokens");
    expect_text(OUTPUT(0, "--tok", eos_z, "-p", "ab", "--temp", "0", "--ignore-eos", "-n", "2"), "zz\nprompt");
}

/* Bytes of generated text at the start of out (before the speeds). */
static size_t text_len(const char *out)
{
    const char *end = strstr(out, "\nprompt:");
    if (!end)
        fail_msg("no speeds in:\n%s", out);
    return (size_t)(end - out);
}

static void test_sampling(void **state)
{
    (void)state;
    const char *tok = write_tokenizer("tok.bin", 1, 1);
    char *a = OUTPUT(0, "--tok", tok, "-p", "ab", "-n", "12", "--seed", "7", "--top-k", "0", "--temp", "3");
    char *b = OUTPUT(0, "--tok", tok, "-p", "ab", "-n", "12", "--seed", "7", "--top-k", "0", "--temp", "3");
    assert_null(strstr(a, "seed:"));
    assert_int_equal(text_len(a), text_len(b));
    assert_memory_equal(a, b, text_len(a));
    free(a);
    free(b);
    expect_text(OUTPUT(0, "--tok", tok, "-p", "ab", "-n", "2"), "seed: ");
    expect_text(OUTPUT(0, "--tok", tok, "-p", "ab", "-n", "2", "--top-p", "0.5", "--min-p", "1",
                       "--repeat-penalty", "1.3", "--top-k", "3"), "generation: ");
}

static void test_chat(void **state)
{
    (void)state;
    static RtModelApi api;
    api = fake_api;
    api.tokenizer_path = write_tokenizer("tok.bin", 1, 1);
    const char *input = tu_fmt("%s/input.txt", tu_tmpdir("rt_cli_chat"));
    tu_write_file(input, "ab\n\nba\n", 7);
    cli_api = &api;
    cli_stdin = input;
    char *out = OUTPUT(0, "-i", "-n", "2", "--temp", "0");
    assert_string_equal(out, "> zz\n> > zz\n> \n");
    free(out);
    /* turns of 4, 6, 4 tokens and replies of 2: the third fills the context,
     * the fourth starts over */
    tu_write_file(input, "ab\nba\nab\nb\n", 11);
    out = OUTPUT(0, "-i", "-n", "2", "--temp", "0");
    assert_non_null(strstr(out, "> zz\n> zz\n> z\n[the context (16 tokens) is full]\n"));
    assert_non_null(strstr(out, "starting a new conversation]\nzz\n> \n"));
    free(out);
    tu_write_file(input, "abababababababababab\n", 21);
    expect_text(OUTPUT(0, "-i", "--temp", "0"), "the message takes 22 tokens but the context is 16");
    /* the chat formats wrap each message (here mostly in characters the
     * vocabulary lacks) and end each reply */
    static const RtChatFormat formats[] = {RT_CHAT_CHATML, RT_CHAT_LLAMA2, RT_CHAT_LLAMA3};
    tu_write_file(input, "ab\nb\n", 5);
    for (int i = 0; i < 3; i++) {
        api.tokenizer_path = write_tokenizer_chat("chat.bin", i != 2, 1, formats[i]);
        expect_text(OUTPUT(0, "-i", "-n", "1", "--temp", "0"), "> z\n> ");
    }
}

/* Back to the fake model without a tokenizer, stdin as it was. */
static int restore_cli(void **state)
{
    (void)state;
    cli_api = &fake_api;
    cli_stdin = NULL;
    return 0;
}

static void test_text_errors(void **state)
{
    (void)state;
    const char *tok = write_tokenizer("tok.bin", 1, 1), *no_bos = write_tokenizer("no_bos.bin", 0, 1);
    EXPECT(1, "compiled without a tokenizer: give one with --tok FILE", "-p", "ab");
    EXPECT(1, "compiled without a tokenizer", "--tokenize", "ab");
    EXPECT(1, "compiled without a tokenizer", "-i");
    EXPECT(1, "missing.bin: cannot open", "--tok", "missing.bin", "-p", "ab");
    const char *junk = tu_fmt("%s/junk.bin", tu_tmpdir("rt_cli_junk"));
    tu_write_file(junk, "not a tokenizer", 15);
    EXPECT(1, "junk.bin: too short", "--tok", junk, "--tokenize", "ab");
    EXPECT(1, "cannot read /nonexistent/p.txt", "--tok", tok, "-f", "/nonexistent/p.txt");
    EXPECT(1, "prompt has 21 tokens but the context is 16", "--tok", tok, "-p", "aaaaaaaaaaaaaaaaaaaa");
    EXPECT(1, "the prompt has no tokens", "--tok", no_bos, "-p", "");
    EXPECT(1, "missing.bin: cannot open", "--tok", tok, "-m", "missing.bin", "-p", "ab");
    EXPECT(2, "-p and -f cannot be combined", "-p", "a", "-f", "b");
    EXPECT(2, "--bench cannot be combined with -p/-f", "-p", "a", "--bench");
    EXPECT(2, "--tokenize cannot be combined with -i", "--tokenize", "a", "-i");
    EXPECT(2, "--ids/--logits cannot be combined with -i", "-i", "--ids", "1");
    EXPECT(2, "error: --temp expects a number from 0 to 100, got 'abc'", "--temp", "abc", "-p", "a");
    EXPECT(2, "error: --temp expects a number from 0 to 100, got '-1'", "--temp", "-1", "-p", "a");
    EXPECT(2, "error: --temp expects a number from 0 to 100, got 'inf'", "--temp", "inf", "-p", "a");
    EXPECT(2, "error: --top-p expects a number from 0 to 1, got '1.5'", "--top-p", "1.5", "-p", "a");
    EXPECT(2, "error: --min-p expects a number from 0 to 1, got 'nan'", "--min-p", "nan", "-p", "a");
    EXPECT(2, "error: --repeat-penalty expects a number from 0.01 to 100, got '0'", "--repeat-penalty", "0",
           "-p", "a");
    EXPECT(2, "error: --repeat-penalty expects a number from 0.01 to 100, got '1e300'", "--repeat-penalty",
           "1e300", "-p", "a");
    EXPECT(2, "error: --top-k expects an integer from 0 to 7 (the vocabulary), got '-2'", "--top-k", "-2", "-p",
           "a");
    EXPECT(2, "error: --top-k expects an integer from 0 to 7 (the vocabulary), got '8'", "--top-k", "8", "-p",
           "a");
    EXPECT(2, "error: -n expects an integer from 0 to 16 (the compiled context), got '-1'", "-n", "-1", "-p", "a");
    /* was refused with a message about ">= 0" */
    EXPECT(2, "error: -n expects an integer from 0 to 16 (the compiled context), got '99999999999'", "-n",
           "99999999999", "-p", "a");
    EXPECT(2, "error: -n expects an integer from 0 to 16 (the compiled context), got '17'", "-n", "17", "-p", "a");
    EXPECT(2, "error: --seed expects an integer from 0 to 18446744073709551615, got '-3'", "--seed", "-3", "-p",
           "a");
    EXPECT(2, "error: --seed expects an integer from 0 to 18446744073709551615, got '99999999999999999999'",
           "--seed", "99999999999999999999", "-p", "a");
    EXPECT(2, "-p needs a value", "-p");
    /* a tokenizer of a larger vocabulary than the model's: its ids must not reach forward() */
    RtModelApi small = fake_api;
    small.vocab = 3;
    cli_api = &small;
    EXPECT(1, "error: the tokenizer gives token id 3 but the model has 3 tokens (is --tok the model's tokenizer?)",
           "--tok", tok, "-p", "ab");
    cli_stdin = tu_fmt("%s/in.txt", tu_tmpdir("rt_cli_small"));
    tu_write_file(cli_stdin, "ab\n", 3);
    EXPECT(0, "error: the tokenizer gives token id 3 but the model has 3 tokens", "--tok", tok, "-i");
    cli_api = &fake_api;
    cli_stdin = NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prompt),
        cmocka_unit_test(test_prompt_errors),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_bench),
        cmocka_unit_test_teardown(test_tokenize, restore_cli),
        cmocka_unit_test(test_generate),
        cmocka_unit_test(test_sampling),
        cmocka_unit_test_teardown(test_chat, restore_cli),
        cmocka_unit_test(test_text_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
