/* test_tokenizer_e2e.c: the compiler's tokenizer.bin (fe_tokenizer_from_hf,
 * fe_tokenizer_from_gguf) run by the runtime's encoder and decoder against
 * the references:
 *
 *   - every fixture's reference.json (shared/fixtures and tests/fixtures):
 *     tokenizer_cases (text -> ids, decode(ids, skip_special) == decoded)
 *     and prompts (text -> ids with add_special, decode(greedy_ids) ==
 *     greedy_text), as Hugging Face transformers gives them;
 *   - every line of llama.cpp's vocabulary vectors (shared/tokenizer-vectors,
 *     add_special and parse_special off), and of llama.cpp's ids for the
 *     GGUF pre-tokenizers falcon, deepseek-llm and deepseek-coder;
 *   - a 1 MB text through the GGUF vocabularies and llama-tiny's (a
 *     single piece for SentencePiece-style ones): it round-trips, and the
 *     speed is printed.
 */
#include <dirent.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/fe.h"
#include "testutil.h"

enum { MAX_IDS = 1 << 16 };

/* A tokenizer opened from a blob the compiler made. */
typedef struct {
    void *blob;
    RtTokenizer *tok;
} Tok;

static void tok_from_blob(Tok *t, void *blob, size_t bytes)
{
    t->blob = blob;
    if (rt_tok_open_mem(&t->tok, blob, bytes) != RT_OK)
        fail_msg("rt_tok_open_mem: %s", rt_last_error());
}

static void tok_from_hf(Tok *t, const char *dir)
{
    char err[1024];
    void *blob;
    size_t bytes;
    if (fe_tokenizer_from_hf(dir, &blob, &bytes, err, sizeof err))
        fail_msg("fe_tokenizer_from_hf: %s", err);
    tok_from_blob(t, blob, bytes);
}

static void tok_from_gguf(Tok *t, const char *path)
{
    char err[1024];
    void *blob;
    size_t bytes;
    FeGguf g;
    if (fe_gguf_open(&g, path, err, sizeof err) || fe_tokenizer_from_gguf(&g, &blob, &bytes, err, sizeof err))
        fail_msg("%s", err);
    fe_gguf_close(&g);
    tok_from_blob(t, blob, bytes);
}

static void tok_free(Tok *t)
{
    rt_tok_close(t->tok);
    free(t->blob);
}

/* ---- comparisons ---- */

static const char *ids_text(const int32_t *ids, size_t n)
{
    static char buf[8192];
    size_t k = 0;
    buf[0] = 0;
    for (size_t i = 0; i < n && k < sizeof buf - 16; i++)
        k += (size_t)snprintf(buf + k, sizeof buf - k, "%s%d", i ? " " : "", ids[i]);
    return buf;
}

static const char *quoted(const char *s, size_t n)
{
    static char buf[4][4096];
    static int next;
    char *b = buf[next++ & 3];
    size_t k = 0;
    for (size_t i = 0; i < n && k < sizeof buf[0] - 8; i++) {
        unsigned char c = (unsigned char)s[i];
        k += (size_t)(c < 0x20 || c == '\\' ? snprintf(b + k, 8, "\\x%02x", c) : snprintf(b + k, 8, "%c", c));
    }
    b[k] = 0;
    return b;
}

/* Encodes text and compares with want[n_want]; 1 if equal (else prints why). */
static int check_encode(const Tok *t, const char *what, const char *text, size_t len, int add_special,
                        int parse_special, const int32_t *want, size_t n_want)
{
    static int32_t got[MAX_IDS];
    size_t n;
    RtStatus st = rt_tok_encode(t->tok, text, len, add_special, parse_special, got, MAX_IDS, &n);
    assert_int_equal(st, RT_OK);
    if (n == n_want && memcmp(got, want, n * sizeof *got) == 0)
        return 1;
    printf("  FAIL %s: encode('%s')\n    got  %s\n", what, quoted(text, len), ids_text(got, n));
    printf("    want %s\n", ids_text(want, n_want));
    return 0;
}

static int check_decode(const Tok *t, const char *what, const int32_t *ids, size_t n, int skip_special,
                        const char *want)
{
    static char got[1 << 16];
    size_t len = rt_tok_decode(t->tok, ids, n, skip_special, got, sizeof got);
    assert_true(len < sizeof got);
    if (len == strlen(want) && memcmp(got, want, len) == 0)
        return 1;
    printf("  FAIL %s: decode(%s)\n    got  '%s'\n    want '%s'\n", what, ids_text(ids, n), quoted(got, len),
           quoted(want, strlen(want)));
    return 0;
}

/* ---- reference.json ---- */

static size_t json_ids(json_object *arr, int32_t *ids)
{
    size_t n = json_object_array_length(arr);
    assert_true(n <= MAX_IDS);
    for (size_t i = 0; i < n; i++)
        ids[i] = json_object_get_int(json_object_array_get_idx(arr, i));
    return n;
}

static const char *json_str(json_object *o, const char *key, size_t *len)
{
    json_object *v = json_object_object_get(o, key);
    assert_non_null(v);
    *len = (size_t)json_object_get_string_len(v);
    return json_object_get_string(v);
}

typedef struct {
    int passed, total;
} Tally;

static void count(Tally *t, int ok)
{
    t->passed += ok;
    t->total++;
}

static void check_cases(const Tok *t, json_object *cases, const char *name, Tally *tally)
{
    static int32_t want[MAX_IDS];
    size_t n_cases = cases ? json_object_array_length(cases) : 0;
    for (size_t i = 0; i < n_cases; i++) {
        json_object *c = json_object_array_get_idx(cases, i);
        size_t len, dlen;
        const char *text = json_str(c, "text", &len), *decoded = json_str(c, "decoded", &dlen);
        size_t n = json_ids(json_object_object_get(c, "ids"), want);
        const char *what = tu_fmt("%s case %zu", name, i);
        count(tally, check_encode(t, what, text, len, 1, 1, want, n));
        count(tally, check_decode(t, what, want, n, 1, decoded));
    }
}

static void check_prompts(const Tok *t, json_object *prompts, const char *name, Tally *tally)
{
    static int32_t want[MAX_IDS];
    for (size_t i = 0; i < json_object_array_length(prompts); i++) {
        json_object *p = json_object_array_get_idx(prompts, i);
        size_t len, glen;
        const char *text = json_str(p, "text", &len);
        size_t n = json_ids(json_object_object_get(p, "ids"), want);
        const char *what = tu_fmt("%s prompt %zu", name, i);
        count(tally, check_encode(t, what, text, len, 1, 1, want, n));
        json_object *greedy = json_object_object_get(p, "greedy_ids");
        if (!greedy)
            continue;
        const char *greedy_text = json_str(p, "greedy_text", &glen);
        n = json_ids(greedy, want);
        count(tally, check_decode(t, what, want, n, 0, greedy_text));
    }
}

static void check_fixture(const char *root, const char *name, Tally *tally)
{
    const char *dir = tu_fmt("%s/%s", root, name);
    json_object *ref = json_object_from_file(tu_fmt("%s/reference.json", dir));
    if (!ref)
        fail_msg("%s/reference.json: cannot parse", dir);
    Tok t;
    tok_from_hf(&t, dir);
    check_cases(&t, json_object_object_get(ref, "tokenizer_cases"), name, tally);
    check_prompts(&t, json_object_object_get(ref, "prompts"), name, tally);
    tok_free(&t);
    json_object_put(ref);
}

/* Every directory under root with a reference.json and a tokenizer.json. */
static void check_fixtures(const char *where)
{
    char root[4096];    /* a copy: tu_fmt's buffers are reused */
    snprintf(root, sizeof root, "%s", where);
    DIR *d = opendir(root);
    if (!d)
        fail_msg("%s: cannot open", root);
    Tally tally = {0, 0};
    struct dirent *e;
    while ((e = readdir(d))) {
        char *json = e->d_name[0] == '.' ? NULL : tu_read_file(tu_fmt("%s/%s/tokenizer.json", root, e->d_name), NULL);
        if (!json)
            continue;
        free(json);
        check_fixture(root, e->d_name, &tally);
    }
    closedir(d);
    printf("  %s: %d of %d checks pass\n", root, tally.passed, tally.total);
    assert_true(tally.total > 0);
    assert_int_equal(tally.passed, tally.total);
}

static void test_shared_fixtures(void **state)
{
    (void)state;
    check_fixtures(tu_fmt("%s/fixtures", tu_shared()));
}

static void test_own_fixtures(void **state)
{
    (void)state;
    check_fixtures(tu_fmt("%s/tests/fixtures", tu_src()));
}

/* ---- llama.cpp's vectors ---- */

/* Parses one line of space-separated ids. */
static size_t line_ids(const char *line, size_t len, int32_t *ids)
{
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        while (i < len && line[i] == ' ')
            i++;
        if (i == len)
            break;
        assert_true(n < MAX_IDS);
        ids[n++] = (int32_t)strtol(line + i, NULL, 10);
        while (i < len && line[i] != ' ')
            i++;
    }
    return n;
}

/* Every string of inp (separated by __ggml_vocab_test__ lines) against
 * its line of ids in out, through the GGUF vocabulary at path. */
static void check_inp_out(const char *path, const char *vocab, const char *inp, const char *out, int min)
{
    static const char sep[] = "\n__ggml_vocab_test__\n";
    static int32_t want[MAX_IDS];
    Tok t;
    tok_from_gguf(&t, path);
    Tally tally = {0, 0};
    const char *text = inp, *line = out;
    for (const char *end; (end = strstr(text, sep)) && *line; text = end + strlen(sep)) {
        size_t line_len = strcspn(line, "\n");
        size_t n = line_ids(line, line_len, want);
        count(&tally, check_encode(&t, tu_fmt("%s vector %d", vocab, tally.total), text, (size_t)(end - text), 0, 0,
                                   want, n));
        line += line_len + (line[line_len] == '\n');
    }
    printf("  %s: %d of %d vectors pass\n", vocab, tally.passed, tally.total);
    assert_true(tally.total >= min);
    assert_int_equal(tally.passed, tally.total);
    tok_free(&t);
}

static void check_vectors(const char *vocab)
{
    const char *base = tu_fmt("%s/tokenizer-vectors/%s", tu_shared(), vocab);
    char *inp = tu_read_file(tu_fmt("%s.inp", base), NULL), *out = tu_read_file(tu_fmt("%s.out", base), NULL);
    assert_non_null(inp);
    assert_non_null(out);
    check_inp_out(base, vocab, inp, out, 40);
    free(inp);
    free(out);
}

static void test_vectors_llama_spm(void **state)
{
    (void)state;
    check_vectors("ggml-vocab-llama-spm.gguf");
}

static void test_vectors_gpt2(void **state)
{
    (void)state;
    check_vectors("ggml-vocab-gpt-2.gguf");
}

/* The GGUF pre-tokenizers falcon, deepseek-llm and deepseek-coder:
 * GPT-2's vocabulary with tokenizer.ggml.pre set to each, over the GPT-2
 * vector strings and tests/data/pretok.inp (CJK, full-width punctuation,
 * Unicode spaces and digits, trailing whitespace, code), against the ids
 * llama.cpp gives (tests/data/pretok-PRE.out, by
 * scripts/pretok_reference.sh: llama.cpp is not built here). */
static void test_vectors_pre_tokenizers(void **state)
{
    (void)state;
    static const char *const pres[] = {"falcon", "deepseek-llm", "deepseek-coder"};
    size_t len, own_len;
    char *gguf = tu_read_file(tu_fmt("%s/tokenizer-vectors/ggml-vocab-gpt-2.gguf", tu_shared()), &len);
    char *inp = tu_read_file(tu_fmt("%s/tokenizer-vectors/ggml-vocab-gpt-2.gguf.inp", tu_shared()), NULL);
    char *own = tu_read_file(tu_fmt("%s/tests/data/pretok.inp", tu_src()), &own_len);
    assert_non_null(gguf);
    assert_non_null(inp);
    assert_non_null(own);
    size_t inp_len = strlen(inp);
    char *all = malloc(inp_len + own_len + 1);
    assert_non_null(all);
    memcpy(all, inp, inp_len);
    memcpy(all + inp_len, own, own_len + 1);
    /* tokenizer.ggml.pre's string value replaced: a vocabulary GGUF has no tensor data to realign */
    static const char key[] = "tokenizer.ggml.pre";
    char *at = NULL;
    for (size_t i = 8; !at && i + sizeof key + 12 < len; i++)
        if (memcmp(gguf + i, key, sizeof key - 1) == 0 && (uint8_t)gguf[i - 8] == sizeof key - 1) at = gguf + i + sizeof key - 1;
    assert_non_null(at);
    uint32_t type;
    uint64_t n;
    memcpy(&type, at, 4);
    memcpy(&n, at + 4, 8);
    assert_int_equal(type, 8);      /* a string */
    for (int p = 0; p < 3; p++) {
        const char *path = tu_fmt("%s/vocab-%s.gguf", tu_tmpdir(tu_fmt("pretok-%s", pres[p])), pres[p]);
        uint64_t m = strlen(pres[p]);
        size_t head = (size_t)(at - gguf) + 4, tail = head + 8 + n;
        char *v = malloc(len + m);
        assert_non_null(v);
        memcpy(v, gguf, head);
        memcpy(v + head, &m, 8);
        memcpy(v + head + 8, pres[p], m);
        memcpy(v + head + 8 + m, gguf + tail, len - tail);
        tu_write_file(path, v, len - tail + head + 8 + m);
        free(v);
        char *out = tu_read_file(tu_fmt("%s/tests/data/pretok-%s.out", tu_src(), pres[p]), NULL);
        assert_non_null(out);
        check_inp_out(path, pres[p], all, out, 70);
        free(out);
    }
    free(all);
    free(own);
    free(inp);
    free(gguf);
}

/* ---- 1 MB ---- */

static const char paragraph[] =
    "The quick brown fox jumps over the lazy dog; it's 12345 times faster than 6.78 snails. "
    "Äpfel und Birnen, нещо на Български, 数字 and emoji 🦙🚀 live here too.\n"
    "    def forward(self, x):\n        return self.linear(x) + 1  # code\n\n";

/* Encodes 1 MB (one piece where no pre-tokenizer splits it), decodes it
 * back and prints the speed. */
static void check_megabyte(Tok *t, const char *name)
{
    enum { TEXT_BYTES = 1 << 20 };
    char *text = malloc(TEXT_BYTES + sizeof paragraph);
    size_t len = 0;
    while (len < TEXT_BYTES) {
        memcpy(text + len, paragraph, sizeof paragraph - 1);
        len += sizeof paragraph - 1;
    }
    int32_t *ids = malloc(len * sizeof *ids);
    size_t n;
    double t0 = rt_now();
    assert_int_equal(rt_tok_encode(t->tok, text, len, 0, 0, ids, len, &n), RT_OK);
    double secs = rt_now() - t0;
    char *back = malloc(len + 1);
    assert_int_equal(rt_tok_decode(t->tok, ids, n, 0, back, len + 1), len);
    assert_memory_equal(back, text, len);
    printf("  %s: %zu bytes -> %zu tokens in %.3f s (%.2f MB/s)\n", name, len, n, secs, len / secs / 1e6);
    tok_free(t);
    free(back);
    free(ids);
    free(text);
}

static void test_megabyte(void **state)
{
    (void)state;
    static const char *const vocabs[] = {"ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf"};
    Tok t;
    for (int i = 0; i < 2; i++) {
        tok_from_gguf(&t, tu_fmt("%s/tokenizer-vectors/%s", tu_shared(), vocabs[i]));
        check_megabyte(&t, vocabs[i]);
    }
    tok_from_hf(&t, tu_fmt("%s/fixtures/llama-tiny", tu_shared()));
    check_megabyte(&t, "llama-tiny (tokenizer.json)");
}

/* Invalid UTF-8 as llama.cpp tokenizes it: a byte-level vocabulary sees
 * each invalid byte as U+FFFD; SentencePiece cuts characters by the lead
 * byte's length (0xFF: 4, so "\xff\x81b" is one unknown piece) and falls
 * back to byte tokens. */
static void test_invalid_utf8(void **state)
{
    Tok gpt2, spm;
    tok_from_gguf(&gpt2, tu_fmt("%s/tokenizer-vectors/ggml-vocab-gpt-2.gguf", tu_shared()));
    tok_from_gguf(&spm, tu_fmt("%s/tokenizer-vectors/ggml-vocab-llama-spm.gguf", tu_shared()));
    int32_t want[16];
    size_t n;
    assert_int_equal(rt_tok_encode(gpt2.tok, "a\xEF\xBF\xBD\xEF\xBF\xBD" "b", 8, 0, 0, want, 16, &n), RT_OK);
    assert_true(check_encode(&gpt2, "gpt-2 invalid bytes", "a\xff\x80" "b", 4, 0, 0, want, n));
    const int32_t spm_want[] = {263, 258, 132, 101};      /* ▁a <0xFF> <0x81> <0x62> */
    assert_true(check_encode(&spm, "llama-spm invalid bytes", "a\xff\x81" "b", 4, 0, 0, spm_want, 4));
    tok_free(&gpt2);
    tok_free(&spm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared_fixtures),
        cmocka_unit_test(test_own_fixtures),
        cmocka_unit_test(test_vectors_llama_spm),
        cmocka_unit_test(test_vectors_gpt2),
        cmocka_unit_test(test_vectors_pre_tokenizers),
        cmocka_unit_test(test_megabyte),
        cmocka_unit_test(test_invalid_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
