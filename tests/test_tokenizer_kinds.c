/* test_tokenizer_kinds.c: tokenizer.json kinds beyond the fixtures.
 *
 * tests/tokenizers/<kind>/ holds a small tokenizer made with the Hugging
 * Face `tokenizers` library (gen_tokenizers.py beside them: Llama 3 and
 * GPT-2 byte-level, Metaspace with each prepend scheme, NFC + Lowercase +
 * Digits, added tokens with lstrip/rstrip/single_word/normalized) and
 * cases.json: what the library gives for 88 tricky strings. Each must come
 * out the same through hetc's compiler (tokenizer.bin) and runtime: ids
 * with and without special tokens' post-processing, and decode with and
 * without skip_special.
 */
#include <dirent.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/fe.h"
#include "runtime/hetc_rt_tok.h"
#include "testutil.h"

static int same_ids(json_object *want, const int32_t *ids, size_t n)
{
    if (json_object_array_length(want) != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (json_object_get_int(json_object_array_get_idx(want, i)) != ids[i]) return 0;
    return 1;
}

static void check_decode(const RtTokenizer *tok, const int32_t *ids, size_t n, int skip, const char *want,
                         const char *what)
{
    size_t len = rt_tok_decode(tok, ids, n, skip, NULL, 0);
    char *text = malloc(len + 1);
    rt_tok_decode(tok, ids, n, skip, text, len);
    text[len] = 0;
    if (strcmp(text, want) != 0) fail_msg("%s: decode(skip_special=%d) gave [%s], want [%s]", what, skip, text, want);
    free(text);
}

/* Checks every case of one kind; returns how many. */
static int check_kind(const char *dir, const char *kind)
{
    void *blob;
    size_t bytes;
    char err[FE_ERR_LEN];
    if (fe_tokenizer_from_hf(dir, &blob, &bytes, err, sizeof err)) fail_msg("%s", err);
    RtTokenizer *tok;
    if (rt_tok_open_mem(&tok, blob, bytes) != RT_OK) fail_msg("%s: %s", kind, rt_last_error());
    json_object *cases = json_object_from_file(tu_fmt("%s/cases.json", dir));
    assert_non_null(cases);
    int n_cases = (int)json_object_array_length(cases);
    for (int i = 0; i < n_cases; i++) {
        json_object *c = json_object_array_get_idx(cases, i);
        const char *text = json_object_get_string(json_object_object_get(c, "text"));
        size_t len = (size_t)json_object_get_string_len(json_object_object_get(c, "text")), n = 0;
        size_t cap = len + 16;
        int32_t *ids = malloc(cap * sizeof *ids);
        const char *what = tu_fmt("%s case %d (%.40s)", kind, i, text);
        assert_int_equal(rt_tok_encode(tok, text, len, 1, 1, ids, cap, &n), RT_OK);
        if (!same_ids(json_object_object_get(c, "ids"), ids, n)) fail_msg("%s: ids differ", what);
        check_decode(tok, ids, n, 1, json_object_get_string(json_object_object_get(c, "decoded")), what);
        check_decode(tok, ids, n, 0, json_object_get_string(json_object_object_get(c, "raw")), what);
        assert_int_equal(rt_tok_encode(tok, text, len, 0, 1, ids, cap, &n), RT_OK);
        if (!same_ids(json_object_object_get(c, "plain"), ids, n)) fail_msg("%s: ids without post-processing differ", what);
        free(ids);
    }
    json_object_put(cases);
    rt_tok_close(tok);
    free(blob);
    return n_cases;
}

static void test_kinds(void **state)
{
    char root[4096];
    snprintf(root, sizeof root, "%s/tests/tokenizers", tu_src());
    DIR *d = opendir(root);
    assert_non_null(d);
    struct dirent *e;
    int kinds = 0;
    while ((e = readdir(d))) {
        char *probe = tu_read_file(tu_fmt("%s/%s/cases.json", root, e->d_name), NULL);
        if (!probe) continue;
        free(probe);
        int n = check_kind(tu_fmt("%s/%s", root, e->d_name), e->d_name);
        printf("  %-24s %d cases\n", e->d_name, n);
        kinds++;
    }
    closedir(d);
    assert_true(kinds >= 6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_kinds)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
