/* test_fe_tokenizer.c: tokenizer.bin images built from Hugging Face
 * tokenizer.json (the three fixtures and small handmade ones): layout,
 * header fields, the string and merge hashes, ops and their parameters,
 * added tokens, byte-level strings, and the errors for what hetc does not
 * support. The runtime tokenizer is tested elsewhere; here the image is
 * read directly, as the format in hetc_rt.h describes it. */
#include "testutil.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/fe.h"

/* A built image and views into it. */
typedef struct {
    unsigned char *blob;
    size_t bytes;
    const RtTokHeader *h;
    const RtTokEntry *entries;
    const uint32_t *str_hash;
    const RtTokMerge *merges;
    const RtTokAdded *added;
    const RtTokOp *ops;
    const char *pool;
} Image;

static void assert_contains(const char *text, const char *part)
{
    if (!strstr(text, part)) fail_msg("'%s' does not contain '%s'", text, part);
}

static void check_layout(const Image *im)
{
    const RtTokHeader *h = im->h;
    assert_memory_equal(h->magic, RT_TOK_MAGIC, 8);
    assert_int_equal(h->version, RT_TOK_VERSION);
    assert_int_equal(h->file_bytes, im->bytes);
    const uint64_t offs[] = {h->tokens_off, h->str_hash_off, h->merge_hash_off, h->added_off, h->ops_off, h->pool_off};
    const uint64_t ends[] = {
        h->tokens_off + h->n_tokens * sizeof(RtTokEntry), h->str_hash_off + h->str_hash_cap * 4ull,
        h->merge_hash_off + h->merge_hash_cap * sizeof(RtTokMerge), h->added_off + h->n_added * sizeof(RtTokAdded),
        h->ops_off + (h->n_norm + h->n_pretok + h->n_dec) * (uint64_t)sizeof(RtTokOp), h->pool_off + h->pool_bytes,
    };
    assert_true(offs[0] >= sizeof(RtTokHeader));
    for (int i = 0; i < 6; i++) {
        assert_int_equal(offs[i] % 8, 0);
        if (i) assert_true(offs[i] >= ends[i - 1]);
    }
    assert_int_equal(ends[5], im->bytes);
    assert_int_equal(h->str_hash_cap & (h->str_hash_cap - 1), 0);
    assert_int_equal(h->merge_hash_cap & (h->merge_hash_cap - 1), 0);
    assert_true(h->str_hash_cap >= 2 * h->n_tokens);
    for (uint32_t i = 0; i < h->n_tokens; i++)
        assert_true(im->entries[i].off + (uint64_t)im->entries[i].len <= h->pool_bytes);
}

static Image view(void *blob, size_t bytes)
{
    Image im = {.blob = blob, .bytes = bytes, .h = blob};
    im.entries = (const RtTokEntry *)(im.blob + im.h->tokens_off);
    im.str_hash = (const uint32_t *)(im.blob + im.h->str_hash_off);
    im.merges = (const RtTokMerge *)(im.blob + im.h->merge_hash_off);
    im.added = (const RtTokAdded *)(im.blob + im.h->added_off);
    im.ops = (const RtTokOp *)(im.blob + im.h->ops_off);
    im.pool = (const char *)im.blob + im.h->pool_off;
    check_layout(&im);
    return im;
}

static Image build(const char *dir)
{
    char err[FE_ERR_LEN] = "";
    void *blob = NULL;
    size_t bytes = 0;
    if (fe_tokenizer_from_hf(dir, &blob, &bytes, err, sizeof err) != 0) fail_msg("%s", err);
    return view(blob, bytes);
}

static void expect_error(const char *dir, const char *part1, const char *part2)
{
    char err[FE_ERR_LEN] = "";
    void *blob = NULL;
    size_t bytes = 0;
    assert_int_equal(fe_tokenizer_from_hf(dir, &blob, &bytes, err, sizeof err), -1);
    assert_null(blob);
    assert_contains(err, part1);
    if (part2) assert_contains(err, part2);
    assert_null(strchr(err, '\n'));
}

/* The id the string hash gives for s, or -1 (probing as the format says). */
static int64_t find_str(const Image *im, const char *s, size_t len)
{
    uint32_t cap = im->h->str_hash_cap;
    for (uint32_t h = rt_tok_hash_str(s, len) & (cap - 1); im->str_hash[h]; h = (h + 1) & (cap - 1)) {
        const RtTokEntry *e = &im->entries[im->str_hash[h] - 1];
        if (e->len == len && memcmp(im->pool + e->off, s, len) == 0) return im->str_hash[h] - 1;
    }
    return -1;
}

static const RtTokMerge *find_merge(const Image *im, uint32_t left, uint32_t right)
{
    uint32_t cap = im->h->merge_hash_cap;
    for (uint32_t h = rt_tok_hash_pair(left, right) & (cap - 1); im->merges[h].left != UINT32_MAX;
         h = (h + 1) & (cap - 1))
        if (im->merges[h].left == left && im->merges[h].right == right) return &im->merges[h];
    return NULL;
}

static uint32_t count_merges(const Image *im)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < im->h->merge_hash_cap; i++) n += im->merges[i].left != UINT32_MAX;
    return n;
}

static void assert_entry(const Image *im, uint32_t id, const char *bytes, size_t len)
{
    const RtTokEntry *e = &im->entries[id];
    assert_int_equal(e->len, len);
    assert_memory_equal(im->pool + e->off, bytes, len);
}

static void assert_op(const Image *im, uint32_t i, RtTokOpKind kind, int a, int b, int c, const char *s1,
                      const char *s2)
{
    const RtTokOp *o = &im->ops[i];
    assert_int_equal(o->kind, kind);
    assert_int_equal(o->a, a);
    assert_int_equal(o->b, b);
    assert_int_equal(o->c, c);
    assert_int_equal(o->s1_len, s1 ? strlen(s1) : 0);
    assert_int_equal(o->s2_len, s2 ? strlen(s2) : 0);
    if (s1) assert_memory_equal(im->pool + o->s1_off, s1, strlen(s1));
    if (s2) assert_memory_equal(im->pool + o->s2_off, s2, strlen(s2));
}

static void check_added_sorted(const Image *im)
{
    for (uint32_t i = 1; i < im->h->n_added; i++)
        assert_true(im->entries[im->added[i - 1].id].len >= im->entries[im->added[i].id].len);
}

static json_object *load(const char *path)
{
    json_object *o = json_object_from_file(path);
    if (!o) fail_msg("cannot parse %s", path);
    return o;
}

/* The GPT-2 byte alphabet decoded independently of the compiler: code point -> byte. */
static int gpt2_byte(unsigned cp)
{
    int n = 0;
    for (int b = 0; b < 256; b++) {
        int keep = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        if (keep && cp == (unsigned)b) return b;
        if (!keep && cp == 256u + (unsigned)n++) return b;
    }
    return -1;
}

/* The bytes a byte-level token string stands for; returns the length. */
static size_t unbyte(const char *s, char *out)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        unsigned cp = *p < 0x80 ? *p : (unsigned)(p[0] & 0x1F) << 6 | (p[1] & 0x3F);
        p += *p < 0x80 ? 1 : 2;
        out[n++] = (char)gpt2_byte(cp);
    }
    return n;
}

/* Every merge of the fixture's tokenizer.json is in the merge hash with
 * its rank and result; byte_level converts the strings first. */
static void check_merges(const Image *im, json_object *root, int byte_level)
{
    json_object *model = json_object_object_get(root, "model");
    json_object *vocab = json_object_object_get(model, "vocab"), *merges = json_object_object_get(model, "merges");
    size_t n = json_object_array_length(merges);
    assert_int_equal(count_merges(im), n);
    for (size_t i = 0; i < n; i++) {
        json_object *m = json_object_array_get_idx(merges, i);
        const char *a = json_object_get_string(json_object_array_get_idx(m, 0));
        const char *b = json_object_get_string(json_object_array_get_idx(m, 1));
        char joined[256];
        snprintf(joined, sizeof joined, "%s%s", a, b);
        int left = json_object_get_int(json_object_object_get(vocab, a));
        int right = json_object_get_int(json_object_object_get(vocab, b));
        const RtTokMerge *mg = find_merge(im, (uint32_t)left, (uint32_t)right);
        assert_non_null(mg);
        assert_int_equal(mg->rank, i);
        assert_int_equal(mg->result, json_object_get_int(json_object_object_get(vocab, joined)));
        char raw[256];
        size_t len = byte_level ? unbyte(joined, raw) : strlen(joined);
        if (!byte_level) memcpy(raw, joined, len);
        assert_entry(im, mg->result, raw, len);
    }
}

/* ---- the fixtures ---- */

static void check_spm_style(const Image *im, const char *dir)
{
    const RtTokHeader *h = im->h;
    assert_int_equal(h->model, RT_TOK_BPE);
    assert_int_equal(h->flags, RT_TOK_BYTE_FALLBACK | RT_TOK_FUSE_UNK);
    assert_int_equal(h->n_tokens, 1024);
    assert_int_equal(h->unk_id, 0);
    assert_int_equal(h->bos_id, 1);
    assert_int_equal(h->eos_id, 2);
    assert_int_equal(h->pad_id, -1);
    assert_int_equal(h->n_prefix, 1);
    assert_int_equal(h->prefix[0], 1);
    assert_int_equal(h->n_suffix, 0);
    assert_int_equal(h->n_eos, 1);
    assert_int_equal(h->eos[0], 2);
    assert_int_equal(h->chat_format, RT_CHAT_NONE);
    assert_int_equal(h->n_norm, 2);
    assert_int_equal(h->n_pretok, 0);
    assert_int_equal(h->n_dec, 4);
    assert_op(im, 0, RT_TN_PREPEND, 0, 0, 0, "\xE2\x96\x81", NULL);
    assert_op(im, 1, RT_TN_REPLACE, 0, 0, 0, " ", "\xE2\x96\x81");
    assert_op(im, 2, RT_TD_REPLACE, 0, 0, 0, "\xE2\x96\x81", " ");
    assert_op(im, 3, RT_TD_BYTE_FALLBACK, 0, 0, 0, NULL, NULL);
    assert_op(im, 4, RT_TD_FUSE, 0, 0, 0, NULL, NULL);
    assert_op(im, 5, RT_TD_STRIP, 1, 0, 0, " ", NULL);

    assert_int_equal(h->n_added, 259);
    check_added_sorted(im);
    for (uint32_t i = 0; i < h->n_added; i++) {
        assert_int_equal(im->added[i].flags, RT_TOK_SPECIAL);
        assert_true(im->added[i].id < 259);
    }
    assert_int_equal(im->entries[1].flags, RT_TOK_SPECIAL);
    assert_entry(im, 1, "<s>", 3);
    const RtTokEntry *nl = &im->entries[3 + '\n'];
    assert_int_equal(nl->flags, RT_TOK_SPECIAL | RT_TOK_BYTE);
    assert_int_equal(nl->byte, '\n');
    assert_int_equal(im->entries[3 + 0xFF].byte, 0xFF);
    assert_int_equal(im->entries[300].flags, 0);

    json_object *root = load(tu_fmt("%s/tokenizer.json", dir));
    json_object_object_foreach(json_object_object_get(json_object_object_get(root, "model"), "vocab"), key, val) {
        assert_int_equal(find_str(im, key, strlen(key)), json_object_get_int(val));
        assert_entry(im, (uint32_t)json_object_get_int(val), key, strlen(key));
    }
    check_merges(im, root, 0);
    json_object_put(root);
}

static void test_llama_tiny(void **state)
{
    (void)state;
    const char *dir = tu_fmt("%s/fixtures/llama-tiny", tu_shared());
    Image im = build(dir);
    check_spm_style(&im, dir);
    assert_true(find_str(&im, "\xE2\x96\x81t", 4) > 259);
    assert_int_equal(find_str(&im, "no such token", 13), -1);
    free(im.blob);
}

static void test_llama_outliers(void **state)
{
    (void)state;
    const char *dir = tu_fmt("%s/fixtures/llama-outliers", tu_shared());
    Image im = build(dir);
    check_spm_style(&im, dir);
    free(im.blob);
}

static void test_qwen2_tiny(void **state)
{
    (void)state;
    const char *dir = tu_fmt("%s/fixtures/qwen2-tiny", tu_shared());
    Image im = build(dir);
    const RtTokHeader *h = im.h;
    assert_int_equal(h->model, RT_TOK_BPE);
    assert_int_equal(h->flags, RT_TOK_BYTE_LEVEL);
    assert_int_equal(h->n_tokens, 1024);
    assert_int_equal(h->unk_id, -1);
    assert_int_equal(h->eos_id, 0);
    assert_int_equal(h->pad_id, 0);
    assert_int_equal(h->n_prefix + h->n_suffix, 0);
    assert_int_equal(h->n_eos, 1);
    assert_int_equal(h->eos[0], 0);
    assert_int_equal(h->n_norm, 1);
    assert_int_equal(h->n_pretok, 2);
    assert_int_equal(h->n_dec, 1);
    assert_op(&im, 0, RT_TN_NFC, 0, 0, 0, NULL, NULL);
    assert_op(&im, 1, RT_TP_SPLIT, RT_PAT_QWEN2, RT_SPLIT_ISOLATED, 0, NULL, NULL);
    assert_op(&im, 2, RT_TP_BYTE_LEVEL, 0, 0, 0, NULL, NULL);
    assert_op(&im, 3, RT_TD_BYTE_LEVEL, 0, 0, 0, NULL, NULL);
    assert_int_equal(h->n_added, 3);
    check_added_sorted(&im);
    assert_int_equal(im.added[0].id, 0);    /* <|endoftext|>, the longest */
    assert_int_equal(im.added[0].flags, RT_TOK_SPECIAL);
    assert_entry(&im, 1, "<|im_start|>", 12);
    assert_int_equal(im.entries[1].flags, RT_TOK_SPECIAL);

    json_object *root = load(tu_fmt("%s/tokenizer.json", dir));
    json_object_object_foreach(json_object_object_get(json_object_object_get(root, "model"), "vocab"), key, val) {
        char raw[256];
        size_t len = unbyte(key, raw);
        assert_int_equal(find_str(&im, raw, len), json_object_get_int(val));
        assert_entry(&im, (uint32_t)json_object_get_int(val), raw, len);
    }
    check_merges(&im, root, 1);
    json_object_put(root);
    assert_entry(&im, 1019, " exp", 4);     /* "Ġexp" */
    assert_true(find_str(&im, " ", 1) >= 0);
    assert_true(find_str(&im, "\n", 1) >= 0);
    free(im.blob);
}

/* ---- the builder ---- */

static void test_builder(void **state)
{
    (void)state;
    FeTokBuilder *b = fe_tokb_new(6);
    fe_tokb_header(b)->model = RT_TOK_SPM;
    fe_tokb_op(b, RT_TD_FUSE, 0, 0, 0, NULL, NULL);
    fe_tokb_op(b, RT_TP_DIGITS, 1, 0, 0, NULL, NULL);
    fe_tokb_op(b, RT_TN_REPLACE, 0, 0, 0, "a", "bb");
    fe_tokb_op(b, RT_TD_STRIP, 1, 0, 0, " ", NULL);
    fe_tokb_op(b, RT_TN_NFC, 0, 0, 0, NULL, NULL);
    fe_tokb_token(b, 4, "xy", 2, 1.5f, 0, 0);
    fe_tokb_token(b, 1, "xy", 2, -1.0f, RT_TOK_SPECIAL, 0);
    fe_tokb_token(b, 2, "x", 1, 0.0f, 0, 0);
    fe_tokb_token(b, 3, "y", 1, 0.0f, RT_TOK_BYTE, 'y');
    fe_tokb_merge(b, 2, 3, 7, 1);
    fe_tokb_merge(b, 2, 3, 9, 4);
    fe_tokb_added(b, 2, 0);
    fe_tokb_added(b, 1, RT_TOK_SPECIAL);
    fe_tokb_added(b, 3, 0);
    void *blob;
    size_t bytes;
    char err[FE_ERR_LEN];
    if (fe_tokb_finish(b, "test", &blob, &bytes, err, sizeof err) != 0) fail_msg("%s", err);
    fe_tokb_free(b);
    Image im = view(blob, bytes);
    assert_int_equal(im.h->model, RT_TOK_SPM);
    assert_int_equal(im.h->n_tokens, 6);
    assert_int_equal(im.h->bos_id, -1);
    assert_int_equal(im.h->n_norm, 2);
    assert_int_equal(im.h->n_pretok, 1);
    assert_int_equal(im.h->n_dec, 2);
    assert_op(&im, 0, RT_TN_REPLACE, 0, 0, 0, "a", "bb");
    assert_op(&im, 1, RT_TN_NFC, 0, 0, 0, NULL, NULL);
    assert_op(&im, 2, RT_TP_DIGITS, 1, 0, 0, NULL, NULL);
    assert_op(&im, 3, RT_TD_FUSE, 0, 0, 0, NULL, NULL);
    assert_op(&im, 4, RT_TD_STRIP, 1, 0, 0, " ", NULL);
    assert_int_equal(find_str(&im, "xy", 2), 1);    /* the lowest id of equal strings */
    assert_int_equal(find_str(&im, "y", 1), 3);
    assert_int_equal(im.entries[3].byte, 'y');
    assert_true(im.entries[4].score == 1.5f);
    assert_int_equal(im.entries[0].flags, RT_TOK_UNUSED);
    assert_int_equal(im.entries[5].len, 0);
    assert_int_equal(count_merges(&im), 1);
    assert_int_equal(find_merge(&im, 2, 3)->rank, 7);     /* the first of a pair wins */
    assert_int_equal(find_merge(&im, 2, 3)->result, 1);
    assert_int_equal(im.h->n_added, 3);
    assert_int_equal(im.added[0].id, 1);
    assert_int_equal(im.added[0].flags, RT_TOK_SPECIAL);
    assert_int_equal(im.added[1].id, 2);
    assert_int_equal(im.added[2].id, 3);
    free(blob);

    b = fe_tokb_new(2);
    fe_tokb_token(b, 1, "a", 1, 0.0f, 0, 0);
    fe_tokb_merge(b, 0, 1, 0, 7);
    assert_int_equal(fe_tokb_finish(b, "test", &blob, &bytes, err, sizeof err), -1);
    assert_string_equal(err, "test: token id 7 is out of range (2 tokens)");
    fe_tokb_free(b);
}

/* ---- handmade tokenizers ---- */

static const char *write_dir(const char *test, const char *tokenizer, const char *config, const char *generation)
{
    const char *dir = tu_tmpdir(test);
    tu_write_file(tu_fmt("%s/tokenizer.json", dir), tokenizer, strlen(tokenizer));
    if (config) tu_write_file(tu_fmt("%s/tokenizer_config.json", dir), config, strlen(config));
    if (generation) tu_write_file(tu_fmt("%s/generation_config.json", dir), generation, strlen(generation));
    return dir;
}

/* A tokenizer.json with the given model, steps and added tokens. */
static const char *tokenizer_json(const char *model, const char *steps, const char *added)
{
    return tu_fmt("{\"version\": \"1.0\", \"added_tokens\": [%s], %s, \"model\": %s}", added, steps, model);
}

#define SMALL_MODEL                                                                                     \
    "{\"type\": \"BPE\", \"unk_token\": null, \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2, \"c\": 3, "    \
    "\"abc\": 4, \"<s>\": 5, \"</s>\": 6}, \"merges\": [\"a b\", [\"ab\", \"c\"]]}"
#define NO_STEPS "\"normalizer\": null, \"pre_tokenizer\": null, \"post_processor\": null, \"decoder\": null"

static void test_merges_both_spellings_and_missing(void **state)
{
    (void)state;
    const char *model = "{\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2, \"c\": 3, \"abc\": 4}, "
                        "\"merges\": [\"a b\", \"x y\", [\"a\", \"c\"], [\"ab\", \"c\"], \"b zz\", \"a b\"]}";
    Image im = build(write_dir("merges", tokenizer_json(model, NO_STEPS, ""), NULL, NULL));
    assert_int_equal(count_merges(&im), 2);
    const RtTokMerge *m = find_merge(&im, 0, 1);
    assert_non_null(m);
    assert_int_equal(m->rank, 0);
    assert_int_equal(m->result, 2);
    m = find_merge(&im, 2, 3);
    assert_non_null(m);
    assert_int_equal(m->rank, 3);
    assert_int_equal(m->result, 4);
    assert_null(find_merge(&im, 0, 3));
    assert_int_equal(im.h->n_norm + im.h->n_pretok + im.h->n_dec, 0);
    assert_int_equal(im.h->flags, 0);
    free(im.blob);
}

static void test_sparse_ids_and_added_tokens(void **state)
{
    (void)state;
    const char *added = "{\"id\": 9, \"content\": \"<tool>\", \"special\": false, \"lstrip\": true, \"rstrip\": true, "
                        "\"single_word\": true, \"normalized\": true}, "
                        "{\"id\": 5, \"content\": \"<s>\", \"special\": true, \"lstrip\": false, \"rstrip\": false, "
                        "\"single_word\": false, \"normalized\": false}";
    Image im = build(write_dir("sparse", tokenizer_json(SMALL_MODEL, NO_STEPS, added), NULL, NULL));
    assert_int_equal(im.h->n_tokens, 10);
    for (uint32_t id = 7; id < 9; id++) {
        assert_int_equal(im.entries[id].flags, RT_TOK_UNUSED);
        assert_int_equal(im.entries[id].len, 0);
    }
    assert_entry(&im, 9, "<tool>", 6);
    assert_int_equal(im.entries[9].flags, 0);
    assert_int_equal(im.entries[5].flags, RT_TOK_SPECIAL);
    assert_int_equal(im.h->n_added, 2);
    assert_int_equal(im.added[0].id, 9);
    assert_int_equal(im.added[0].flags, RT_TOK_LSTRIP | RT_TOK_RSTRIP | RT_TOK_SINGLE_WORD | RT_TOK_NORMALIZED);
    assert_int_equal(im.added[1].id, 5);
    assert_int_equal(im.added[1].flags, RT_TOK_SPECIAL);
    assert_int_equal(find_str(&im, "<tool>", 6), 9);
    free(im.blob);
}

static void test_steps_and_parameters(void **state)
{
    (void)state;
    const char *steps =
        "\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Strip\", \"strip_left\": true, "
        "\"strip_right\": false}, {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Lowercase\"}, "
        "{\"type\": \"Replace\", \"pattern\": {\"Regex\": \"\\\\.\\\\.\"}, \"content\": \"!\"}]}]}, "
        "\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"WhitespaceSplit\"}, "
        "{\"type\": \"Digits\", \"individual_digits\": true}, {\"type\": \"Metaspace\", \"replacement\": \"_\", "
        "\"add_prefix_space\": false}, {\"type\": \"Metaspace\", \"replacement\": \"_\", \"prepend_scheme\": "
        "\"first\", \"split\": false}, {\"type\": \"Split\", \"pattern\": {\"Regex\": \"\\\\p{N}{1,3}\"}, "
        "\"behavior\": \"MergedWithNext\", \"invert\": true}]}, "
        "\"post_processor\": null, "
        "\"decoder\": {\"type\": \"Sequence\", \"decoders\": [{\"type\": \"Metaspace\", \"replacement\": \"_\", "
        "\"prepend_scheme\": \"always\", \"split\": true}, {\"type\": \"Strip\", \"content\": \"x\", \"start\": 0, "
        "\"stop\": 2}]}";
    Image im = build(write_dir("steps", tokenizer_json(SMALL_MODEL, steps, ""), NULL, NULL));
    assert_int_equal(im.h->n_norm, 3);
    assert_int_equal(im.h->n_pretok, 5);
    assert_int_equal(im.h->n_dec, 2);
    assert_op(&im, 0, RT_TN_STRIP, 1, 0, 0, NULL, NULL);
    assert_op(&im, 1, RT_TN_LOWERCASE, 0, 0, 0, NULL, NULL);
    assert_op(&im, 2, RT_TN_REPLACE, 0, 0, 0, "..", "!");
    assert_op(&im, 3, RT_TP_WHITESPACE_SPLIT, 0, 0, 0, NULL, NULL);
    assert_op(&im, 4, RT_TP_DIGITS, 1, 0, 0, NULL, NULL);
    assert_op(&im, 5, RT_TP_METASPACE, RT_PREPEND_NEVER, 1, 0, "_", NULL);
    assert_op(&im, 6, RT_TP_METASPACE, RT_PREPEND_FIRST, 0, 0, "_", NULL);
    assert_op(&im, 7, RT_TP_SPLIT, RT_PAT_DIGITS3, RT_SPLIT_MERGED_NEXT, 1, NULL, NULL);
    assert_op(&im, 8, RT_TD_METASPACE, RT_PREPEND_ALWAYS, 0, 0, "_", NULL);
    assert_op(&im, 9, RT_TD_STRIP, 0, 2, 0, "x", NULL);
    free(im.blob);
}

static void test_post_processor_and_config(void **state)
{
    (void)state;
    const char *steps =
        "\"normalizer\": null, \"pre_tokenizer\": null, \"decoder\": null, "
        "\"post_processor\": {\"type\": \"Sequence\", \"processors\": [{\"type\": \"ByteLevel\"}, "
        "{\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"<s>\", \"type_id\": 0}}, "
        "{\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}, {\"SpecialToken\": {\"id\": \"</s>\", \"type_id\": 0}}], "
        "\"special_tokens\": {\"<s>\": {\"id\": \"<s>\", \"ids\": [5], \"tokens\": [\"<s>\"]}, "
        "\"</s>\": {\"id\": \"</s>\", \"ids\": [6], \"tokens\": [\"</s>\"]}}}]}";
    const char *json = tokenizer_json(SMALL_MODEL, steps, "");
    Image im = build(write_dir("post", json, NULL, NULL));
    assert_int_equal(im.h->n_prefix, 1);
    assert_int_equal(im.h->prefix[0], 5);
    assert_int_equal(im.h->n_suffix, 1);
    assert_int_equal(im.h->suffix[0], 6);
    free(im.blob);

    const char *config = "{\"bos_token\": {\"content\": \"<s>\"}, \"eos_token\": \"</s>\", \"pad_token\": \"c\", "
                         "\"add_bos_token\": false, \"add_eos_token\": false, "
                         "\"chat_template\": [{\"name\": \"tool_use\", \"template\": \"x\"}, "
                         "{\"name\": \"default\", \"template\": \"{{ '<|im_start|>' }}\"}]}";
    im = build(write_dir("post_off", json, config, "{\"eos_token_id\": [4, 6]}"));
    assert_int_equal(im.h->n_prefix + im.h->n_suffix, 0);
    assert_int_equal(im.h->bos_id, 5);
    assert_int_equal(im.h->eos_id, 6);
    assert_int_equal(im.h->pad_id, 3);
    assert_int_equal(im.h->n_eos, 2);
    assert_int_equal(im.h->eos[0], 4);
    assert_int_equal(im.h->eos[1], 6);
    assert_int_equal(im.h->chat_format, RT_CHAT_CHATML);
    free(im.blob);

    config = "{\"bos_token\": \"<s>\", \"eos_token\": \"</s>\", \"add_bos_token\": true, \"add_eos_token\": true, "
             "\"chat_template\": \"<|start_header_id|>\"}";
    im = build(write_dir("post_on", tokenizer_json(SMALL_MODEL, NO_STEPS, ""), config, "{\"eos_token_id\": 4}"));
    assert_int_equal(im.h->n_prefix, 1);
    assert_int_equal(im.h->prefix[0], 5);
    assert_int_equal(im.h->n_suffix, 1);
    assert_int_equal(im.h->suffix[0], 6);
    assert_int_equal(im.h->n_eos, 2);
    assert_int_equal(im.h->eos[1], 6);
    assert_int_equal(im.h->chat_format, RT_CHAT_LLAMA3);
    free(im.blob);
}

static void test_chat_formats(void **state)
{
    (void)state;
    assert_int_equal(fe_tok_chat_format("{{ '<|im_start|>' + m['role'] }}"), RT_CHAT_CHATML);
    assert_int_equal(fe_tok_chat_format("<|start_header_id|>{{ role }}<|end_header_id|>"), RT_CHAT_LLAMA3);
    assert_int_equal(fe_tok_chat_format("{{ bos_token + '[INST] ' + content }}"), RT_CHAT_LLAMA2);
    assert_int_equal(fe_tok_chat_format("{{ messages }}"), RT_CHAT_NONE);
    assert_int_equal(fe_tok_chat_format(NULL), RT_CHAT_NONE);
}

static void test_byte_helpers(void **state)
{
    (void)state;
    char out[16];
    assert_int_equal(fe_tok_unbyte("\xC4\xA0the", 5, out), 4);     /* "Ġthe" */
    assert_memory_equal(out, " the", 4);
    assert_int_equal(fe_tok_unbyte("\xC4\x8A", 2, out), 1);        /* "Ċ" */
    assert_int_equal(out[0], '\n');
    assert_int_equal(fe_tok_unbyte("\xC3\xBF", 2, out), 1);        /* "ÿ" is itself */
    assert_int_equal((unsigned char)out[0], 0xFF);
    assert_int_equal(fe_tok_unbyte(" x", 2, out), -1);             /* a raw space is outside */
    assert_int_equal(fe_tok_unbyte("\xE4\xB8\x80", 3, out), -1);
    for (unsigned cp = 0; cp < 0x200; cp++) {
        char s[2] = {(char)(0xC0 | cp >> 6), (char)(0x80 | (cp & 0x3F))};
        long n = cp < 0x80 ? fe_tok_unbyte((char[]){(char)cp}, 1, out) : fe_tok_unbyte(s, 2, out);
        int want = gpt2_byte(cp);
        assert_int_equal(n, want < 0 ? -1 : 1);
        if (want >= 0) assert_int_equal((unsigned char)out[0], want);
    }
    assert_int_equal(fe_tok_byte_value("<0x0A>", 6), 10);
    assert_int_equal(fe_tok_byte_value("<0xFF>", 6), 255);
    assert_int_equal(fe_tok_byte_value("<0xff>", 6), -1);
    assert_int_equal(fe_tok_byte_value("<0x0A", 5), -1);
}

static void test_duplicate_bytes_lowest_id(void **state)
{
    (void)state;
    const char *model = "{\"type\": \"BPE\", \"vocab\": {\"\xC4\xA0\": 0, \"x\": 1}, \"merges\": []}";
    const char *added = "{\"id\": 2, \"content\": \" \", \"special\": false}";
    const char *steps = "\"normalizer\": null, \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": "
                        "false, \"trim_offsets\": true, \"use_regex\": true}, \"post_processor\": null, "
                        "\"decoder\": {\"type\": \"ByteLevel\"}";
    Image im = build(write_dir("dup_bytes", tokenizer_json(model, steps, added), NULL, NULL));
    assert_entry(&im, 0, " ", 1);
    assert_entry(&im, 2, " ", 1);
    assert_int_equal(find_str(&im, " ", 1), 0);
    assert_op(&im, 0, RT_TP_BYTE_LEVEL, 0, 1, 0, NULL, NULL);
    free(im.blob);
}

/* ---- errors ---- */

/* The qwen2-tiny tokenizer.json with one edit, written to a fresh dir. */
static const char *edited_qwen2(const char *test, void (*edit)(json_object *root))
{
    json_object *root = load(tu_fmt("%s/fixtures/qwen2-tiny/tokenizer.json", tu_shared()));
    edit(root);
    const char *text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
    const char *dir = write_dir(test, text, NULL, NULL);
    json_object_put(root);
    return dir;
}

static void set_unigram(json_object *root)
{
    json_object_object_add(json_object_object_get(root, "model"), "type", json_object_new_string("Unigram"));
}

static void set_pattern(json_object *root)
{
    json_object *seq = json_object_object_get(json_object_object_get(root, "pre_tokenizer"), "pretokenizers");
    json_object *pattern = json_object_object_get(json_object_array_get_idx(seq, 0), "pattern");
    json_object_object_add(pattern, "Regex", json_object_new_string("\\w+|\\s+"));
}

static void test_unknown_model_type(void **state)
{
    (void)state;
    expect_error(edited_qwen2("unigram", set_unigram), "tokenizer.json: key 'model.type'", "'Unigram'");
    const char *model = "{\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}";
    expect_error(write_dir("wordpiece", tokenizer_json(model, NO_STEPS, ""), NULL, NULL), "'WordPiece'", "BPE");
}

static void test_unknown_pattern(void **state)
{
    (void)state;
    expect_error(edited_qwen2("pattern", set_pattern), "key 'pre_tokenizer.pretokenizers[0].pattern.Regex'",
                 "unsupported pattern '\\w+|\\s+'");
}

static void test_malformed_json(void **state)
{
    (void)state;
    const char *dir = write_dir("malformed", "{\n  \"model\": {\n    \"type\": \"BPE\",,\n  }\n}\n", NULL, NULL);
    expect_error(dir, "tokenizer.json: JSON:", "line 3");
    dir = write_dir("malformed_config", tokenizer_json(SMALL_MODEL, NO_STEPS, ""), "{\"bos_token\": [\n", NULL);
    expect_error(dir, "tokenizer_config.json: JSON:", "line 2");
    expect_error(tu_tmpdir("missing"), "tokenizer.json: cannot open", NULL);
}

static void test_unsupported_steps(void **state)
{
    (void)state;
    static const struct {
        const char *steps, *part1, *part2;
    } cases[] = {
        {"\"normalizer\": {\"type\": \"NFKC\"}", "key 'normalizer.type'", "'NFKC'"},
        {"\"normalizer\": {\"type\": \"A\\nB\"}", "key 'normalizer.type'", "'A?B'"},
        {"\"normalizer\": {\"type\": \"Replace\", \"pattern\": {\"Regex\": \"\\\\s+\"}, \"content\": \" \"}",
         "key 'normalizer.pattern.Regex'", "unsupported pattern '\\s+'"},
        {"\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"String\": \" \"}, \"behavior\": \"Removed\"}",
         "key 'pre_tokenizer.pattern.String'", "unsupported"},
        {"\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Whitespace\"}]}",
         "key 'pre_tokenizer.pretokenizers[0].type'", "'Whitespace'"},
        {"\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"\\\\p{N}\"}, \"behavior\": \"Odd\"}",
         "key 'pre_tokenizer.behavior'", "'Odd'"},
        {"\"pre_tokenizer\": {\"type\": \"Metaspace\", \"prepend_scheme\": \"sometimes\"}",
         "key 'pre_tokenizer.prepend_scheme'", "'sometimes'"},
        {"\"post_processor\": {\"type\": \"RobertaProcessing\"}", "key 'post_processor.type'", "'RobertaProcessing'"},
        {"\"decoder\": {\"type\": \"WordPiece\"}", "key 'decoder.type'", "'WordPiece'"},
        {"\"decoder\": {\"type\": \"Strip\", \"content\": \" \", \"start\": \"1\"}", "key 'decoder.start'",
         "expected an integer, got a string"},
        {"\"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"[X]\"}}, "
         "{\"Sequence\": {\"id\": \"A\"}}], \"special_tokens\": {}}",
         "key 'post_processor.special_tokens'", "no special token '[X]'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *dir = write_dir(tu_fmt("steps_%zu", i), tokenizer_json(SMALL_MODEL, cases[i].steps, ""), NULL,
                                    NULL);
        expect_error(dir, cases[i].part1, cases[i].part2);
    }
}

static void test_bad_model_fields(void **state)
{
    (void)state;
    static const struct {
        const char *model, *part1, *part2;
    } cases[] = {
        {"{\"type\": \"BPE\", \"continuing_subword_prefix\": \"##\", \"vocab\": {\"a\": 0}, \"merges\": []}",
         "key 'model.continuing_subword_prefix'", "'##'"},
        {"{\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 0}, \"merges\": []}", "key 'model.vocab.", "id 0"},
        {"{\"type\": \"BPE\", \"vocab\": {\"a\": -3}, \"merges\": []}", "key 'model.vocab.a'", "out of range"},
        {"{\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a b c\"]}", "key 'model.merges[0]'",
         "one space"},
        {"{\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [3]}", "key 'model.merges[0]'", "got an integer"},
        {"{\"type\": \"BPE\", \"unk_token\": \"<unk>\", \"vocab\": {\"a\": 0}, \"merges\": []}",
         "key 'model.unk_token'", "'<unk>' is not a token"},
        {"{\"type\": \"BPE\", \"dropout\": 0.1, \"vocab\": {\"a\": 0}, \"merges\": []}", "key 'model.dropout'", NULL},
        {"{\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}", "key 'model.vocab'", "empty"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *dir = write_dir(tu_fmt("model_%zu", i), tokenizer_json(cases[i].model, NO_STEPS, ""), NULL, NULL);
        expect_error(dir, cases[i].part1, cases[i].part2);
    }
    const char *dup = "{\"id\": 1, \"content\": \"x\"}, {\"id\": 1, \"content\": \"y\"}";
    expect_error(write_dir("added_dup", tokenizer_json(SMALL_MODEL, NO_STEPS, dup), NULL, NULL),
                 "key 'added_tokens[1]'", "appears twice");
    expect_error(write_dir("config_bad", tokenizer_json(SMALL_MODEL, NO_STEPS, ""), "{\"eos_token\": \"<eot>\"}", NULL),
                 "tokenizer_config.json: key 'eos_token'", "'<eot>' is not a token");
    expect_error(write_dir("gen_bad", tokenizer_json(SMALL_MODEL, NO_STEPS, ""), NULL, "{\"eos_token_id\": [99]}"),
                 "generation_config.json: key 'eos_token_id'", "out of range");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama_tiny),
        cmocka_unit_test(test_llama_outliers),
        cmocka_unit_test(test_qwen2_tiny),
        cmocka_unit_test(test_builder),
        cmocka_unit_test(test_merges_both_spellings_and_missing),
        cmocka_unit_test(test_sparse_ids_and_added_tokens),
        cmocka_unit_test(test_steps_and_parameters),
        cmocka_unit_test(test_post_processor_and_config),
        cmocka_unit_test(test_chat_formats),
        cmocka_unit_test(test_byte_helpers),
        cmocka_unit_test(test_duplicate_bytes_lowest_id),
        cmocka_unit_test(test_unknown_model_type),
        cmocka_unit_test(test_unknown_pattern),
        cmocka_unit_test(test_malformed_json),
        cmocka_unit_test(test_unsupported_steps),
        cmocka_unit_test(test_bad_model_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
