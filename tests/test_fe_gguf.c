/* test_fe_gguf.c: the GGUF reader and the tokenizer in GGUF metadata.
 * llama.cpp's vocab-only files (Llama 2 SentencePiece, GPT-2 byte-level)
 * parse and give the expected tokenizer images; small files written here
 * cover tensors, alignment and every value type; truncated and corrupted
 * copies fail with a clear message and never read out of range (the test
 * runs under ASan in CI). */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/fe.h"

static void assert_contains(const char *text, const char *part)
{
    if (!strstr(text, part)) fail_msg("'%s' does not contain '%s'", text, part);
}

static const char *vocab_path(const char *name)
{
    return tu_fmt("%s/tokenizer-vectors/ggml-vocab-%s.gguf", tu_shared(), name);
}

static void open_ok(FeGguf *g, const char *path)
{
    char err[FE_ERR_LEN];
    if (fe_gguf_open(g, path, err, sizeof err) != 0) fail_msg("%s", err);
}

static void expect_mem_error(const void *data, size_t size, const char *part1, const char *part2)
{
    FeGguf g;
    char err[FE_ERR_LEN] = "";
    assert_int_equal(fe_gguf_open_mem(&g, "bad.gguf", data, size, err, sizeof err), -1);
    assert_contains(err, "bad.gguf: ");
    assert_contains(err, part1);
    if (part2) assert_contains(err, part2);
    assert_null(strchr(err, '\n'));
    assert_null(g.kv);
}

/* ---- writing small files ---- */

typedef struct {
    unsigned char *p;
    size_t n, cap;
} Buf;

static void put(Buf *b, const void *data, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
}

static void put_u32(Buf *b, uint32_t v)
{
    put(b, &v, 4);
}

static void put_u64(Buf *b, uint64_t v)
{
    put(b, &v, 8);
}

static void put_str(Buf *b, const char *s)
{
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}

static Buf header(uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
    Buf b = {0};
    put(&b, "GGUF", 4);
    put_u32(&b, version);
    put_u64(&b, n_tensors);
    put_u64(&b, n_kv);
    return b;
}

static void kv_str(Buf *b, const char *key, const char *v)
{
    put_str(b, key);
    put_u32(b, FE_GGUF_STR);
    put_str(b, v);
}

static void kv_u32(Buf *b, const char *key, uint32_t v)
{
    put_str(b, key);
    put_u32(b, FE_GGUF_U32);
    put_u32(b, v);
}

static void kv_bool(Buf *b, const char *key, int v)
{
    unsigned char c = (unsigned char)v;
    put_str(b, key);
    put_u32(b, FE_GGUF_BOOL);
    put(b, &c, 1);
}

static void kv_strs(Buf *b, const char *key, const char *const *v, int n)
{
    put_str(b, key);
    put_u32(b, FE_GGUF_ARR);
    put_u32(b, FE_GGUF_STR);
    put_u64(b, (uint64_t)n);
    for (int i = 0; i < n; i++) put_str(b, v[i]);
}

static void kv_i32s(Buf *b, const char *key, const int32_t *v, int n)
{
    put_str(b, key);
    put_u32(b, FE_GGUF_ARR);
    put_u32(b, FE_GGUF_I32);
    put_u64(b, (uint64_t)n);
    put(b, v, (size_t)n * 4);
}

static void tensor_info(Buf *b, const char *name, int ndim, const uint64_t *dims, uint32_t type, uint64_t offset)
{
    put_str(b, name);
    put_u32(b, (uint32_t)ndim);
    for (int i = 0; i < ndim; i++) put_u64(b, dims[i]);
    put_u32(b, type);
    put_u64(b, offset);
}

static void pad_to(Buf *b, size_t align)
{
    static const unsigned char zero[64];
    put(b, zero, (align - b->n % align) % align);
}

/* ---- llama.cpp's vocab files ---- */

static void test_parse_llama_spm(void **state)
{
    (void)state;
    FeGguf g;
    char err[FE_ERR_LEN];
    open_ok(&g, vocab_path("llama-spm"));
    assert_int_equal(g.version, 3);
    assert_int_equal(g.nkv, 22);
    assert_int_equal(g.ntensors, 0);
    assert_int_equal(g.alignment, 32);
    const FeGgufKv *tokens;
    assert_int_equal(fe_gguf_arr(&g, "tokenizer.ggml.tokens", FE_GGUF_STR, &tokens, err, sizeof err), 1);
    assert_int_equal(tokens->n, 32000);
    assert_int_equal(tokens->str[1].len, 3);
    assert_memory_equal(tokens->str[1].s, "<s>", 3);
    const FeGgufKv *types;
    assert_int_equal(fe_gguf_arr(&g, "tokenizer.ggml.token_type", FE_GGUF_I64, &types, err, sizeof err), 1);
    assert_int_equal(types->elem, FE_GGUF_I32);
    assert_int_equal(fe_gguf_arr_int(types, 0), 2);
    assert_int_equal(fe_gguf_arr_int(types, 1), 3);
    assert_int_equal(fe_gguf_arr_int(types, 3), 6);
    assert_int_equal(fe_gguf_arr_int(types, 1000), 1);
    int64_t v;
    assert_int_equal(fe_gguf_int(&g, "llama.context_length", &v, err, sizeof err), 1);
    assert_int_equal(v, 4096);
    double eps;
    assert_int_equal(fe_gguf_float(&g, "llama.attention.layer_norm_rms_epsilon", &eps, err, sizeof err), 1);
    assert_true(eps > 9e-6 && eps < 1.1e-5);
    const FeStr *s;
    assert_int_equal(fe_gguf_str(&g, "general.architecture", &s, err, sizeof err), 1);
    assert_int_equal(s->len, 5);
    assert_memory_equal(s->s, "llama", 5);
    int flag;
    assert_int_equal(fe_gguf_bool(&g, "tokenizer.ggml.add_bos_token", &flag, err, sizeof err), 1);
    assert_int_equal(flag, 1);
    assert_int_equal(fe_gguf_int(&g, "no.such.key", &v, err, sizeof err), 0);
    assert_int_equal(fe_gguf_int(&g, "general.name", &v, err, sizeof err), -1);
    assert_contains(err, "key 'general.name': expected an integer, got string");
    assert_int_equal(fe_gguf_str(&g, "tokenizer.ggml.tokens", &s, err, sizeof err), -1);
    assert_contains(err, "got an array of string");
    assert_int_equal(fe_gguf_arr(&g, "tokenizer.ggml.scores", FE_GGUF_STR, &types, err, sizeof err), -1);
    assert_contains(err, "expected an array of string, got an array of f32");
    fe_gguf_close(&g);
    assert_null(g.kv);
}

static void test_parse_gpt2(void **state)
{
    (void)state;
    FeGguf g;
    char err[FE_ERR_LEN];
    open_ok(&g, vocab_path("gpt-2"));
    assert_int_equal(g.nkv, 16);
    const FeGgufKv *merges;
    assert_int_equal(fe_gguf_arr(&g, "tokenizer.ggml.merges", FE_GGUF_STR, &merges, err, sizeof err), 1);
    assert_int_equal(merges->n, 50000);
    assert_int_equal(fe_gguf_find(&g, "tokenizer.ggml.tokens")->n, 50257);
    assert_null(fe_gguf_tensor(&g, "token_embd.weight"));
    fe_gguf_close(&g);
}

/* An image's string hash lookup, probing as the format says. */
static int64_t find_str(const unsigned char *blob, const char *s, size_t len)
{
    const RtTokHeader *h = (const RtTokHeader *)blob;
    const uint32_t *slots = (const uint32_t *)(blob + h->str_hash_off);
    const RtTokEntry *e = (const RtTokEntry *)(blob + h->tokens_off);
    for (uint32_t i = rt_tok_hash_str(s, len) & (h->str_hash_cap - 1); slots[i]; i = (i + 1) & (h->str_hash_cap - 1))
        if (e[slots[i] - 1].len == len && memcmp(blob + h->pool_off + e[slots[i] - 1].off, s, len) == 0)
            return slots[i] - 1;
    return -1;
}

static const RtTokMerge *find_merge(const unsigned char *blob, uint32_t left, uint32_t right)
{
    const RtTokHeader *h = (const RtTokHeader *)blob;
    const RtTokMerge *m = (const RtTokMerge *)(blob + h->merge_hash_off);
    for (uint32_t i = rt_tok_hash_pair(left, right) & (h->merge_hash_cap - 1); m[i].left != UINT32_MAX;
         i = (i + 1) & (h->merge_hash_cap - 1))
        if (m[i].left == left && m[i].right == right) return &m[i];
    return NULL;
}

static uint32_t count_merges(const unsigned char *blob)
{
    const RtTokHeader *h = (const RtTokHeader *)blob;
    const RtTokMerge *m = (const RtTokMerge *)(blob + h->merge_hash_off);
    uint32_t n = 0;
    for (uint32_t i = 0; i < h->merge_hash_cap; i++) n += m[i].left != UINT32_MAX;
    return n;
}

static unsigned char *tokenizer_of(const FeGguf *g, size_t *bytes)
{
    char err[FE_ERR_LEN];
    void *blob;
    if (fe_tokenizer_from_gguf(g, &blob, bytes, err, sizeof err) != 0) fail_msg("%s", err);
    const RtTokHeader *h = blob;
    assert_memory_equal(h->magic, RT_TOK_MAGIC, 8);
    assert_int_equal(h->file_bytes, *bytes);
    assert_int_equal(h->pool_off + h->pool_bytes, *bytes);
    return blob;
}

static const RtTokOp *op(const unsigned char *blob, uint32_t i)
{
    return (const RtTokOp *)(blob + ((const RtTokHeader *)blob)->ops_off) + i;
}

static void test_tokenizer_llama_spm(void **state)
{
    (void)state;
    FeGguf g;
    size_t bytes;
    open_ok(&g, vocab_path("llama-spm"));
    unsigned char *blob = tokenizer_of(&g, &bytes);
    const RtTokHeader *h = (const RtTokHeader *)blob;
    const RtTokEntry *e = (const RtTokEntry *)(blob + h->tokens_off);
    assert_int_equal(h->model, RT_TOK_SPM);
    assert_int_equal(h->flags, RT_TOK_BYTE_FALLBACK);
    assert_int_equal(h->n_tokens, 32000);
    assert_int_equal(h->unk_id, 0);
    assert_int_equal(h->bos_id, 1);
    assert_int_equal(h->eos_id, 2);
    assert_int_equal(h->n_prefix, 1);
    assert_int_equal(h->prefix[0], 1);
    assert_int_equal(h->n_suffix, 0);
    assert_int_equal(h->n_eos, 1);
    assert_int_equal(count_merges(blob), 0);
    assert_int_equal(e[0].flags, RT_TOK_SPECIAL);
    assert_int_equal(e[1].flags, RT_TOK_SPECIAL | RT_TOK_CONTROL);
    assert_int_equal(e[3 + 0x41].flags, RT_TOK_BYTE);
    assert_int_equal(e[3 + 0x41].byte, 0x41);
    assert_int_equal(h->n_added, 3);
    const RtTokAdded *added = (const RtTokAdded *)(blob + h->added_off);
    assert_int_equal(added[0].id, 0);       /* <unk>, then </s>, then <s> */
    assert_int_equal(added[1].id, 2);
    assert_int_equal(added[2].id, 1);
    int64_t the = find_str(blob, "\xE2\x96\x81the", 6);
    assert_true(the > 258);
    assert_true(e[the].score < 0 && e[the].score > e[29999].score);
    assert_int_equal(find_str(blob, "<0x0A>", 6), 3 + 10);
    assert_int_equal(h->n_norm, 2);
    assert_int_equal(h->n_pretok, 0);
    assert_int_equal(h->n_dec, 4);
    assert_int_equal(op(blob, 0)->kind, RT_TN_PREPEND);
    assert_int_equal(op(blob, 1)->kind, RT_TN_REPLACE);
    assert_int_equal(op(blob, 2)->kind, RT_TD_REPLACE);
    assert_int_equal(op(blob, 3)->kind, RT_TD_BYTE_FALLBACK);
    assert_int_equal(op(blob, 4)->kind, RT_TD_FUSE);
    assert_int_equal(op(blob, 5)->kind, RT_TD_STRIP);
    assert_int_equal(op(blob, 5)->a, 1);
    assert_int_equal(op(blob, 5)->b, 0);
    free(blob);
    fe_gguf_close(&g);
}

static void test_tokenizer_gpt2(void **state)
{
    (void)state;
    FeGguf g;
    size_t bytes;
    open_ok(&g, vocab_path("gpt-2"));
    unsigned char *blob = tokenizer_of(&g, &bytes);
    const RtTokHeader *h = (const RtTokHeader *)blob;
    const RtTokEntry *e = (const RtTokEntry *)(blob + h->tokens_off);
    assert_int_equal(h->model, RT_TOK_BPE);
    assert_int_equal(h->flags, RT_TOK_BYTE_LEVEL);
    assert_int_equal(h->n_tokens, 50257);
    assert_int_equal(h->bos_id, 50256);
    assert_int_equal(h->eos_id, 50256);
    assert_int_equal(h->unk_id, -1);
    assert_int_equal(h->n_prefix + h->n_suffix, 0);
    assert_int_equal(count_merges(blob), 50000);
    assert_int_equal(find_str(blob, " the", 4), 262);
    assert_int_equal(find_str(blob, "\n", 1), 198);
    int64_t t = find_str(blob, "t", 1), he = find_str(blob, "he", 2);
    const RtTokMerge *m = find_merge(blob, (uint32_t)find_str(blob, " ", 1), (uint32_t)t);
    assert_non_null(m);
    assert_int_equal(m->rank, 0);
    assert_int_equal(m->result, find_str(blob, " t", 2));
    m = find_merge(blob, (uint32_t)find_str(blob, " t", 2), (uint32_t)he);
    assert_non_null(m);
    assert_int_equal(m->rank, 6);
    assert_int_equal(m->result, 262);
    assert_int_equal(e[50256].flags, RT_TOK_SPECIAL | RT_TOK_CONTROL);
    assert_int_equal(h->n_added, 1);
    assert_int_equal(h->n_pretok, 2);
    assert_int_equal(op(blob, 0)->kind, RT_TP_SPLIT);
    assert_int_equal(op(blob, 0)->a, RT_PAT_GPT2);
    assert_int_equal(op(blob, 0)->b, RT_SPLIT_ISOLATED);
    assert_int_equal(op(blob, 1)->kind, RT_TP_BYTE_LEVEL);
    assert_int_equal(op(blob, 2)->kind, RT_TD_BYTE_LEVEL);
    free(blob);
    fe_gguf_close(&g);
}

/* ---- small files ---- */

static void test_tensors_and_alignment(void **state)
{
    (void)state;
    const uint64_t d2[2] = {64, 3}, d1[1] = {5};
    Buf b = header(3, 2, 2);
    kv_u32(&b, "general.alignment", 64);
    kv_str(&b, "general.architecture", "llama");
    tensor_info(&b, "w.q8", 2, d2, 8, 0);       /* Q8_0: 2 blocks of 34 bytes per row */
    tensor_info(&b, "b.f32", 1, d1, 0, 256);
    pad_to(&b, 64);
    size_t data = b.n;
    unsigned char fill[300];
    for (int i = 0; i < 300; i++) fill[i] = (unsigned char)i;
    put(&b, fill, 276);
    FeGguf g;
    char err[FE_ERR_LEN];
    if (fe_gguf_open_mem(&g, "t.gguf", b.p, b.n, err, sizeof err) != 0) fail_msg("%s", err);
    assert_int_equal(g.alignment, 64);
    assert_int_equal(g.data_offset, data);
    const FeGgufTensor *w = fe_gguf_tensor(&g, "w.q8");
    assert_int_equal(w->ndim, 2);
    assert_int_equal(w->dims[0], 64);
    assert_int_equal(w->dims[1], 3);
    assert_int_equal(w->nbytes, 3 * 2 * 34);
    assert_ptr_equal(w->data, b.p + data);
    const FeGgufTensor *f = fe_gguf_tensor(&g, "b.f32");
    assert_int_equal(f->nbytes, 20);
    assert_ptr_equal(f->data, b.p + data + 256);
    fe_gguf_close(&g);

    expect_mem_error(b.p, b.n - 1, "tensor 'b.f32'", "runs past the end");
    free(b.p);
}

static void test_all_value_types(void **state)
{
    (void)state;
    Buf b = header(2, 0, 13);
    for (uint32_t t = 0; t < 13; t++) {
        char key[16];
        snprintf(key, sizeof key, "k.%u", t);
        put_str(&b, key);
        if (t == FE_GGUF_ARR) {
            put_u32(&b, FE_GGUF_ARR);
            put_u32(&b, FE_GGUF_U16);
            put_u64(&b, 3);
            const uint16_t v[3] = {1, 2, 65535};
            put(&b, v, sizeof v);
            continue;
        }
        put_u32(&b, t);
        static const unsigned char minus_two[8] = {0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
        static const size_t sizes[13] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
        if (t == FE_GGUF_STR) put_str(&b, "text");
        else if (t == FE_GGUF_BOOL) put(&b, "\1", 1);
        else if (t == FE_GGUF_F32) put(&b, &(float){2.5f}, 4);
        else if (t == FE_GGUF_F64) put(&b, &(double){-0.25}, 8);
        else put(&b, minus_two, sizes[t]);
    }
    FeGguf g;
    char err[FE_ERR_LEN];
    if (fe_gguf_open_mem(&g, "types.gguf", b.p, b.n, err, sizeof err) != 0) fail_msg("%s", err);
    static const int64_t want[13] = {254, -2, 65534, -2, 4294967294, -2, 0, 0, 0, 0, -1, -2, 0};
    int64_t v;
    for (uint32_t t = 0; t < 13; t++) {
        char key[16];
        snprintf(key, sizeof key, "k.%u", t);
        int is_int = t <= FE_GGUF_I32 || t == FE_GGUF_U64 || t == FE_GGUF_I64;
        int rc = fe_gguf_int(&g, key, &v, err, sizeof err);
        assert_int_equal(rc, is_int ? (t == FE_GGUF_U64 ? -1 : 1) : -1);
        if (rc == 1) assert_int_equal(v, want[t]);
    }
    assert_contains(err, "key 'k.12': expected an integer, got f64");
    double d;
    assert_int_equal(fe_gguf_float(&g, "k.6", &d, err, sizeof err), 1);
    assert_true(d == 2.5);
    assert_int_equal(fe_gguf_float(&g, "k.12", &d, err, sizeof err), 1);
    assert_true(d == -0.25);
    assert_int_equal(fe_gguf_float(&g, "k.5", &d, err, sizeof err), 1);
    assert_true(d == -2.0);
    int flag;
    assert_int_equal(fe_gguf_bool(&g, "k.7", &flag, err, sizeof err), 1);
    assert_int_equal(flag, 1);
    const FeGgufKv *arr;
    assert_int_equal(fe_gguf_arr(&g, "k.9", FE_GGUF_I64, &arr, err, sizeof err), 1);
    assert_int_equal(arr->n, 3);
    assert_int_equal(fe_gguf_arr_int(arr, 2), 65535);
    assert_true(fe_gguf_arr_float(arr, 1) == 2.0);
    assert_string_equal(fe_gguf_type_name(FE_GGUF_BOOL), "bool");
    fe_gguf_close(&g);
    free(b.p);
}

/* ---- corrupt files ---- */

static unsigned char *file_copy(const char *name, size_t *len)
{
    unsigned char *data = (unsigned char *)tu_read_file(vocab_path(name), len);
    if (!data) fail_msg("cannot read %s", vocab_path(name));
    return data;
}

static void test_truncated(void **state)
{
    (void)state;
    static const char *const names[] = {"llama-spm", "gpt-2"};
    for (int f = 0; f < 2; f++) {
        size_t len;
        unsigned char *data = file_copy(names[f], &len);
        for (size_t cut = 0; cut < len; cut += cut < 600 ? 1 : 997) {
            unsigned char *copy = malloc(cut ? cut : 1);   /* exact size: ASan sees any overread */
            memcpy(copy, data, cut);
            expect_mem_error(copy, cut, "truncated", NULL);
            free(copy);
        }
        free(data);
    }
    const char *path = tu_fmt("%s/empty.gguf", tu_tmpdir("gguf_empty"));
    tu_write_file(path, "", 0);
    FeGguf g;
    char err[FE_ERR_LEN];
    assert_int_equal(fe_gguf_open(&g, path, err, sizeof err), -1);
    assert_contains(err, "empty");
    assert_int_equal(fe_gguf_open(&g, tu_fmt("%s/none.gguf", tu_tmpdir("gguf_none")), err, sizeof err), -1);
    assert_contains(err, "cannot open");
}

static void patch_u32(unsigned char *p, size_t at, uint32_t v)
{
    memcpy(p + at, &v, 4);
}

static void patch_u64(unsigned char *p, size_t at, uint64_t v)
{
    memcpy(p + at, &v, 8);
}

static void test_corrupted_header(void **state)
{
    (void)state;
    size_t len;
    unsigned char *data = file_copy("llama-spm", &len);
    unsigned char *copy = malloc(len);
    /* key 0 "general.architecture" (20 bytes): length at 24, type at 52, value length at 56 */
    const struct {
        size_t at;
        int wide;
        uint64_t value;
        const char *part1, *part2;
    } cases[] = {
        {0, 0, 0x46554747u + 1, "header: bad magic 'HGUF'", NULL},
        {4, 0, 1, "header: version 1 is not supported", NULL},
        {4, 0, 4, "header: version 4", NULL},
        {4, 0, 0x03000000u, "big-endian", NULL},
        {8, 1, 1ull << 40, "header: 1099511627776 tensors cannot fit", NULL},
        {16, 1, UINT64_MAX, "key/value pairs cannot fit", NULL},
        {24, 1, 1ull << 31, "key #0: string of 2147483648 bytes", NULL},
        {24, 1, 1000000, "key #0: truncated", NULL},
        {52, 0, 13, "key 'general.architecture': unknown value type 13", NULL},
        {52, 0, 77, "unknown value type 77", NULL},
        {56, 1, 1ull << 30, "key 'general.architecture': truncated", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memcpy(copy, data, len);
        if (cases[i].wide) patch_u64(copy, cases[i].at, cases[i].value);
        else patch_u32(copy, cases[i].at, (uint32_t)cases[i].value);
        expect_mem_error(copy, len, cases[i].part1, cases[i].part2);
    }
    free(copy);
    free(data);
}

static void test_corrupted_values(void **state)
{
    (void)state;
    Buf b = header(3, 0, 1);
    put_str(&b, "nested");
    put_u32(&b, FE_GGUF_ARR);
    put_u32(&b, FE_GGUF_ARR);
    put_u64(&b, 1);
    expect_mem_error(b.p, b.n, "key 'nested': nested arrays", NULL);
    free(b.p);

    b = header(3, 0, 1);
    put_str(&b, "strings");
    put_u32(&b, FE_GGUF_ARR);
    put_u32(&b, FE_GGUF_STR);
    put_u64(&b, 1ull << 60);
    put_str(&b, "a");
    expect_mem_error(b.p, b.n, "key 'strings': 1152921504606846976 strings cannot fit", NULL);
    free(b.p);

    b = header(3, 0, 1);
    put_str(&b, "ints");
    put_u32(&b, FE_GGUF_ARR);
    put_u32(&b, FE_GGUF_I64);
    put_u64(&b, UINT64_MAX / 4);
    put_u64(&b, 7);
    expect_mem_error(b.p, b.n, "key 'ints':", "cannot fit");
    free(b.p);

    b = header(3, 0, 1);
    put_str(&b, "elem");
    put_u32(&b, FE_GGUF_ARR);
    put_u32(&b, 99);
    put_u64(&b, 0);
    expect_mem_error(b.p, b.n, "key 'elem': unknown array element type 99", NULL);
    free(b.p);

    b = header(3, 0, 1);
    kv_bool(&b, "flag", 2);
    expect_mem_error(b.p, b.n, "key 'flag': bool value 2", NULL);
    free(b.p);

    b = header(3, 0, 2);
    kv_u32(&b, "twice", 1);
    kv_u32(&b, "twice", 2);
    expect_mem_error(b.p, b.n, "key 'twice': appears twice", NULL);
    free(b.p);

    b = header(3, 0, 1);
    put_u64(&b, 3);
    put(&b, "a\0b", 3);
    put_u32(&b, FE_GGUF_U8);
    put(&b, "x", 1);
    expect_mem_error(b.p, b.n, "key 'a?b': contains a NUL byte", NULL);
    b.p[24 + 8 + 1] = 'c';
    FeGguf g;
    char err[FE_ERR_LEN];
    assert_int_equal(fe_gguf_open_mem(&g, "ok.gguf", b.p, b.n, err, sizeof err), 0);
    fe_gguf_close(&g);
    free(b.p);

    b = header(3, 0, 1);
    put_str(&b, "general.alignment");
    put_u32(&b, FE_GGUF_U32);
    put_u32(&b, 48);
    expect_mem_error(b.p, b.n, "key 'general.alignment': alignment 48 is not a power of two", NULL);
    free(b.p);
}

static void test_corrupted_tensors(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        int ndim;
        uint64_t dims[5];
        uint32_t type;
        uint64_t offset;
        const char *part;
    } cases[] = {
        {"w", 5, {1, 1, 1, 1, 1}, 0, 0, "tensor 'w': 5 dimensions"},
        {"w", 1, {4}, 4, 0, "tensor 'w': unknown ggml type 4"},
        {"w", 1, {4}, 200, 0, "unknown ggml type 200"},
        {"w", 1, {33}, 2, 0, "tensor 'w': 33 elements per row is not a multiple of Q4_0's block of 32"},
        {"w", 1, {8}, 0, 16, "tensor 'w': offset 16 is not a multiple of the alignment 32"},
        {"w", 1, {9}, 0, 0, "tensor 'w': data [0, +36) runs past the end of the data section (32 bytes)"},
        {"w", 2, {1ull << 62, 4}, 0, 0, "tensor 'w': too many elements"},
        {"w", 1, {1ull << 63}, 0, 0, "tensor 'w': dimension 0 is 9223372036854775808"},
        {"a-name-that-is-much-longer-than-the-sixty-three-bytes-ggml-allows", 1, {1}, 0, 0,
         "name of 65 bytes (ggml allows 63)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Buf b = header(3, 1, 0);
        tensor_info(&b, cases[i].name, cases[i].ndim, cases[i].dims, cases[i].type, cases[i].offset);
        pad_to(&b, 32);
        put(&b, (unsigned char[32]){0}, 32);
        expect_mem_error(b.p, b.n, cases[i].part, NULL);
        free(b.p);
    }
    const uint64_t one[1] = {8};
    Buf b = header(3, 2, 0);
    tensor_info(&b, "same", 1, one, 0, 0);
    tensor_info(&b, "same", 1, one, 0, 32);
    pad_to(&b, 32);
    put(&b, (unsigned char[64]){0}, 64);
    expect_mem_error(b.p, b.n, "tensor 'same': appears twice", NULL);
    free(b.p);

    b = header(3, 1, 0);
    tensor_info(&b, "w", 1, one, 0, 0);
    expect_mem_error(b.p, b.n, "data section", "past the end of the file");
    free(b.p);
}

/* ---- tokenizer metadata ---- */

static const char *const tiny_tokens[] = {"<unk>", "<s>", "</s>", "<0x41>", "a", "b", "ab", "\xC4\xA0", "<tool>"};
static const int32_t tiny_types[] = {2, 3, 3, 6, 1, 1, 1, 1, 4};
static const char *const tiny_merges[] = {"a b", "x y", "\xC4\xA0 a"};

static void set_kv_count(Buf *b, uint64_t n)
{
    memcpy(b->p + 16, &n, 8);
}

/* A vocab-only GGUF with the tiny vocabulary (bos 1, eos 2), the given
 * model and pre, and token types (tiny_types when NULL). */
static Buf tiny_vocab(const char *model, const char *pre, int with_merges, const int32_t *types)
{
    Buf b = header(3, 0, 6 + (pre != NULL) + with_merges);
    kv_str(&b, "tokenizer.ggml.model", model);
    kv_strs(&b, "tokenizer.ggml.tokens", tiny_tokens, 9);
    kv_i32s(&b, "tokenizer.ggml.token_type", types ? types : tiny_types, 9);
    kv_u32(&b, "tokenizer.ggml.bos_token_id", 1);
    kv_u32(&b, "tokenizer.ggml.eos_token_id", 2);
    kv_str(&b, "tokenizer.chat_template", "{% for m in messages %}<|im_start|>{% endfor %}");
    if (pre) kv_str(&b, "tokenizer.ggml.pre", pre);
    if (with_merges) kv_strs(&b, "tokenizer.ggml.merges", tiny_merges, 3);
    return b;
}

static unsigned char *tiny_tokenizer(Buf *b)
{
    FeGguf g;
    char err[FE_ERR_LEN];
    size_t bytes;
    if (fe_gguf_open_mem(&g, "tiny.gguf", b->p, b->n, err, sizeof err) != 0) fail_msg("%s", err);
    unsigned char *blob = tokenizer_of(&g, &bytes);
    fe_gguf_close(&g);
    return blob;
}

static void expect_tokenizer_error(Buf *b, const char *part1, const char *part2)
{
    FeGguf g;
    char err[FE_ERR_LEN] = "";
    void *blob = NULL;
    size_t bytes;
    if (fe_gguf_open_mem(&g, "tiny.gguf", b->p, b->n, err, sizeof err) != 0) fail_msg("%s", err);
    assert_int_equal(fe_tokenizer_from_gguf(&g, &blob, &bytes, err, sizeof err), -1);
    assert_null(blob);
    assert_contains(err, "tiny.gguf: ");
    assert_contains(err, part1);
    if (part2) assert_contains(err, part2);
    fe_gguf_close(&g);
}

static void test_tokenizer_pre_values(void **state)
{
    (void)state;
    static const struct {
        const char *pre;
        int digits;
        RtTokPattern pattern;
        uint32_t flags;
    } cases[] = {
        {NULL, 0, RT_PAT_GPT2, RT_TOK_BYTE_LEVEL},
        {"default", 0, RT_PAT_GPT2, RT_TOK_BYTE_LEVEL},
        {"llama-bpe", 0, RT_PAT_LLAMA3, RT_TOK_BYTE_LEVEL | RT_TOK_IGNORE_MERGES},
        {"smaug-bpe", 0, RT_PAT_LLAMA3, RT_TOK_BYTE_LEVEL},
        {"qwen2", 0, RT_PAT_QWEN2, RT_TOK_BYTE_LEVEL},
        {"starcoder", 1, RT_PAT_GPT2, RT_TOK_BYTE_LEVEL},
        {"refact", 1, RT_PAT_GPT2, RT_TOK_BYTE_LEVEL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Buf b = tiny_vocab("gpt2", cases[i].pre, 1, NULL);
        unsigned char *blob = tiny_tokenizer(&b);
        const RtTokHeader *h = (const RtTokHeader *)blob;
        assert_int_equal(h->flags, cases[i].flags);
        assert_int_equal(h->n_pretok, 2 + cases[i].digits);
        if (cases[i].digits) assert_int_equal(op(blob, 0)->a, RT_PAT_DIGITS);
        assert_int_equal(op(blob, (uint32_t)cases[i].digits)->kind, RT_TP_SPLIT);
        assert_int_equal(op(blob, (uint32_t)cases[i].digits)->a, cases[i].pattern);
        int add_bos = (cases[i].flags & RT_TOK_IGNORE_MERGES) != 0;    /* the llama3 group */
        assert_int_equal(h->n_prefix, add_bos);
        assert_int_equal(h->chat_format, RT_CHAT_CHATML);
        free(blob);
        free(b.p);
    }
}

static void test_tokenizer_tiny_gpt2(void **state)
{
    (void)state;
    Buf b = tiny_vocab("gpt2", "gpt-2", 1, NULL);
    kv_u32(&b, "tokenizer.ggml.eot_token_id", 8);
    kv_bool(&b, "tokenizer.ggml.add_bos_token", 1);
    set_kv_count(&b, 8 + 2);
    unsigned char *blob = tiny_tokenizer(&b);
    const RtTokHeader *h = (const RtTokHeader *)blob;
    const RtTokEntry *e = (const RtTokEntry *)(blob + h->tokens_off);
    assert_int_equal(h->n_prefix, 1);
    assert_int_equal(h->prefix[0], 1);
    assert_int_equal(h->n_eos, 2);
    assert_int_equal(h->eos[0], 2);
    assert_int_equal(h->eos[1], 8);
    assert_int_equal(e[7].len, 1);              /* "Ġ" is a space */
    assert_int_equal(e[8].flags, 0);            /* user defined: text, added, not special */
    assert_int_equal(e[8].len, 6);
    assert_int_equal(h->n_added, 4);
    assert_int_equal(count_merges(blob), 1);
    assert_int_equal(find_merge(blob, 4, 5)->result, 6);
    assert_null(find_merge(blob, 7, 4));        /* "Ġa" is not a token */
    assert_int_equal(e[3].flags, RT_TOK_BYTE);
    assert_int_equal(e[3].byte, 0x41);
    free(blob);
    free(b.p);
}

static void test_tokenizer_errors(void **state)
{
    (void)state;
    Buf b = tiny_vocab("bert", NULL, 0, NULL);
    expect_tokenizer_error(&b, "key 'tokenizer.ggml.model': unsupported tokenizer 'bert'", "'llama'");
    free(b.p);
    b = tiny_vocab("gpt2", "deepseek-v3", 1, NULL);
    expect_tokenizer_error(&b, "key 'tokenizer.ggml.pre': unsupported pre-tokenizer 'deepseek-v3'", "llama-bpe");
    free(b.p);
    b = tiny_vocab("gpt2", "gpt-2", 0, NULL);
    expect_tokenizer_error(&b, "key 'tokenizer.ggml.merges': missing", NULL);
    free(b.p);
    b = tiny_vocab("llama", NULL, 0, NULL);
    kv_u32(&b, "tokenizer.ggml.padding_token_id", 9);
    set_kv_count(&b, 6 + 1);
    expect_tokenizer_error(&b, "key 'tokenizer.ggml.padding_token_id': id 9 is out of range", NULL);
    free(b.p);
    b = tiny_vocab("llama", NULL, 0, NULL);
    kv_bool(&b, "tokenizer.ggml.add_eos_token", 1);
    kv_bool(&b, "tokenizer.ggml.add_space_prefix", 0);
    set_kv_count(&b, 6 + 2);
    unsigned char *blob = tiny_tokenizer(&b);
    const RtTokHeader *h = (const RtTokHeader *)blob;
    assert_int_equal(h->n_suffix, 1);
    assert_int_equal(h->suffix[0], 2);
    assert_int_equal(h->n_norm, 1);     /* no U+2581 prefix, no Strip */
    assert_int_equal(h->n_dec, 3);
    free(blob);
    free(b.p);
    const int32_t bad_types[9] = {2, 3, 3, 6, 6, 1, 1, 1, 4};
    b = tiny_vocab("llama", NULL, 0, bad_types);
    expect_tokenizer_error(&b, "key 'tokenizer.ggml.tokens': token 4 'a' has the byte type", NULL);
    free(b.p);
    const int32_t odd_types[9] = {2, 3, 3, 6, 1, 1, 9, 1, 4};
    b = tiny_vocab("llama", NULL, 0, odd_types);
    expect_tokenizer_error(&b, "key 'tokenizer.ggml.token_type': token 6 has type 9", NULL);
    free(b.p);
    b = header(3, 0, 0);
    expect_tokenizer_error(&b, "key 'tokenizer.ggml.model': missing", NULL);
    free(b.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_llama_spm),
        cmocka_unit_test(test_parse_gpt2),
        cmocka_unit_test(test_tokenizer_llama_spm),
        cmocka_unit_test(test_tokenizer_gpt2),
        cmocka_unit_test(test_tensors_and_alignment),
        cmocka_unit_test(test_all_value_types),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_corrupted_header),
        cmocka_unit_test(test_corrupted_values),
        cmocka_unit_test(test_corrupted_tensors),
        cmocka_unit_test(test_tokenizer_pre_values),
        cmocka_unit_test(test_tokenizer_tiny_gpt2),
        cmocka_unit_test(test_tokenizer_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
