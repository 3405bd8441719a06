/* test_rt_tokenizer.c: the runtime tokenizer on small tokenizer.bin images
 * made by a builder local to the test: BPE merge order, byte fallback, unk
 * fusing, byte-level vocabularies, SentencePiece scores, added tokens
 * (longest match, lstrip/rstrip, single words, special parsing, normalized
 * matching), normalizers, pre-tokenizer splits, the decoders, and the
 * rejection of corrupt files. The expectations follow Hugging Face
 * tokenizers and llama.cpp; the real vocabularies are in
 * test_tokenizer_e2e.c. */
#include "testutil.h"
#include "hetc_rt_tok.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SP "\xE2\x96\x81"       /* U+2581 */

/* ---- a tiny tokenizer.bin builder ---- */

enum { MAX_TOK = 96, MAX_MERGE = 32, MAX_ADDED = 8, MAX_OPS = 12, POOL = 4096 };

typedef struct {
    RtTokHeader h;
    RtTokEntry tok[MAX_TOK];
    RtTokMerge merge[MAX_MERGE];
    uint32_t n_merge;
    RtTokAdded added[MAX_ADDED];
    RtTokOp ops[MAX_OPS];       /* in file order: normalizers, pre-tokenizers, decoders */
    char pool[POOL];
    uint32_t pool_len;
} Builder;

static void b_init(Builder *b, RtTokModel model, unsigned flags)
{
    memset(b, 0, sizeof *b);
    b->h.model = model;
    b->h.flags = flags;
    b->h.unk_id = b->h.bos_id = b->h.eos_id = b->h.pad_id = -1;
}

static uint32_t pool_add(Builder *b, const char *s, size_t n)
{
    assert_true(b->pool_len + n <= POOL);
    memcpy(b->pool + b->pool_len, s, n);
    b->pool_len += (uint32_t)n;
    return b->pool_len - (uint32_t)n;
}

/* A token of n bytes; returns its id. */
static int32_t b_token_n(Builder *b, const char *s, size_t n, unsigned flags, float score)
{
    assert_true(b->h.n_tokens < MAX_TOK);
    RtTokEntry *e = &b->tok[b->h.n_tokens];
    e->off = pool_add(b, s, n);
    e->len = (uint32_t)n;
    e->score = score;
    e->flags = (uint16_t)flags;
    return (int32_t)b->h.n_tokens++;
}

static int32_t b_token(Builder *b, const char *s)
{
    return b_token_n(b, s, strlen(s), 0, 0.0f);
}

static int32_t b_scored(Builder *b, const char *s, float score)
{
    return b_token_n(b, s, strlen(s), 0, score);
}

/* The <0xXX> token of byte v. */
static int32_t b_byte(Builder *b, unsigned v)
{
    char s[8];
    snprintf(s, sizeof s, "<0x%02X>", v);
    int32_t id = b_token_n(b, s, 6, RT_TOK_BYTE, 0.0f);
    b->tok[id].byte = (uint16_t)v;
    return id;
}

static int32_t b_find(const Builder *b, const char *s, size_t n)
{
    for (uint32_t i = 0; i < b->h.n_tokens; i++)
        if (b->tok[i].len == n && memcmp(b->pool + b->tok[i].off, s, n) == 0)
            return (int32_t)i;
    fail_msg("no token '%.*s'", (int)n, s);
    return -1;
}

/* The merge of tokens l and r into the token l+r, ranked by order of addition. */
static void b_merge(Builder *b, const char *l, const char *r)
{
    char joined[64];
    snprintf(joined, sizeof joined, "%s%s", l, r);
    assert_true(b->n_merge < MAX_MERGE);
    b->merge[b->n_merge] = (RtTokMerge){(uint32_t)b_find(b, l, strlen(l)), (uint32_t)b_find(b, r, strlen(r)),
                                        b->n_merge, (uint32_t)b_find(b, joined, strlen(joined))};
    b->n_merge++;
}

/* An added token (and its entry); added tokens must come longest first. */
static int32_t b_added(Builder *b, const char *s, unsigned flags)
{
    int32_t id = b_token_n(b, s, strlen(s), flags & RT_TOK_SPECIAL, 0.0f);
    assert_true(b->h.n_added < MAX_ADDED);
    b->added[b->h.n_added++] = (RtTokAdded){(uint32_t)id, flags};
    return id;
}

/* An op; ops must be added normalizers first, then pre-tokenizers, then decoders. */
static void b_op(Builder *b, RtTokOpKind kind, int a, int bv, int c, const char *s1, const char *s2)
{
    uint32_t i = b->h.n_norm + b->h.n_pretok + b->h.n_dec;
    assert_true(i < MAX_OPS);
    RtTokOp *o = &b->ops[i];
    *o = (RtTokOp){.kind = kind, .a = a, .b = bv, .c = c};
    if (s1) {
        o->s1_len = (uint32_t)strlen(s1);
        o->s1_off = pool_add(b, s1, o->s1_len);
    }
    if (s2) {
        o->s2_len = (uint32_t)strlen(s2);
        o->s2_off = pool_add(b, s2, o->s2_len);
    }
    if (kind < RT_TP_METASPACE)
        b->h.n_norm++;
    else if (kind < RT_TD_REPLACE)
        b->h.n_pretok++;
    else
        b->h.n_dec++;
}

static size_t align8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

static void fill_hashes(const Builder *b, uint32_t *str, uint32_t str_cap, RtTokMerge *mh, uint32_t merge_cap)
{
    for (uint32_t id = 0; id < b->h.n_tokens; id++) {
        const RtTokEntry *e = &b->tok[id];
        uint32_t h = rt_tok_hash_str(b->pool + e->off, e->len) & (str_cap - 1);
        while (str[h])
            h = (h + 1) & (str_cap - 1);
        str[h] = id + 1;
    }
    for (uint32_t i = 0; i < merge_cap; i++)
        mh[i].left = UINT32_MAX;
    for (uint32_t i = 0; i < b->n_merge; i++) {
        uint32_t h = rt_tok_hash_pair(b->merge[i].left, b->merge[i].right) & (merge_cap - 1);
        while (mh[h].left != UINT32_MAX)
            h = (h + 1) & (merge_cap - 1);
        mh[h] = b->merge[i];
    }
}

/* Lays out the file; the blob is malloc'd (8-byte aligned). */
static void *b_finish(Builder *b, size_t *bytes)
{
    RtTokHeader *h = &b->h;
    memcpy(h->magic, RT_TOK_MAGIC, 8);
    h->version = RT_TOK_VERSION;
    h->str_hash_cap = h->str_hash_cap ? h->str_hash_cap : 256;
    h->merge_hash_cap = h->merge_hash_cap ? h->merge_hash_cap : 128;
    uint32_t n_ops = h->n_norm + h->n_pretok + h->n_dec;
    h->tokens_off = align8(sizeof *h);
    h->str_hash_off = align8(h->tokens_off + h->n_tokens * sizeof(RtTokEntry));
    h->merge_hash_off = align8(h->str_hash_off + h->str_hash_cap * sizeof(uint32_t));
    h->added_off = align8(h->merge_hash_off + h->merge_hash_cap * sizeof(RtTokMerge));
    h->ops_off = align8(h->added_off + h->n_added * sizeof(RtTokAdded));
    h->pool_off = align8(h->ops_off + n_ops * sizeof(RtTokOp));
    h->pool_bytes = b->pool_len;
    h->file_bytes = h->pool_off + b->pool_len;
    unsigned char *out = calloc(1, h->file_bytes);
    memcpy(out, h, sizeof *h);
    memcpy(out + h->tokens_off, b->tok, h->n_tokens * sizeof(RtTokEntry));
    fill_hashes(b, (uint32_t *)(out + h->str_hash_off), h->str_hash_cap, (RtTokMerge *)(out + h->merge_hash_off),
                h->merge_hash_cap);
    memcpy(out + h->added_off, b->added, h->n_added * sizeof(RtTokAdded));
    memcpy(out + h->ops_off, b->ops, n_ops * sizeof(RtTokOp));
    memcpy(out + h->pool_off, b->pool, b->pool_len);
    *bytes = h->file_bytes;
    return out;
}

/* The tokenizer the builder describes; free with tok_free. */
static RtTokenizer *b_open(Builder *b)
{
    size_t bytes;
    void *blob = b_finish(b, &bytes);
    RtTokenizer *t;
    if (rt_tok_open_mem(&t, blob, bytes) != RT_OK)
        fail_msg("rt_tok_open_mem: %s", rt_last_error());
    static void *blobs[64];     /* kept alive until the test ends */
    static int n_blobs;
    free(blobs[n_blobs % 64]);
    blobs[n_blobs++ % 64] = blob;
    return t;
}

/* ---- checks ---- */

#define IDS(...) ((const int32_t[]){__VA_ARGS__}), (sizeof((const int32_t[]){__VA_ARGS__}) / sizeof(int32_t))
#define NO_IDS NULL, 0

static void expect_encode(const RtTokenizer *t, const char *text, int add_special, int parse_special,
                          const int32_t *want, size_t n_want)
{
    int32_t got[256];
    size_t n;
    RtStatus st = rt_tok_encode(t, text, strlen(text), add_special, parse_special, got, 256, &n);
    if (st != RT_OK)
        fail_msg("encode('%s'): %s", text, rt_last_error());
    int same = n == n_want && (n == 0 || memcmp(got, want, n * sizeof *got) == 0);
    if (!same) {
        char buf[1024];
        size_t k = 0;
        for (size_t i = 0; i < n && k < sizeof buf - 16; i++)
            k += (size_t)snprintf(buf + k, sizeof buf - k, " %d", got[i]);
        buf[k] = 0;
        fail_msg("encode('%s') gave%s (%zu ids, want %zu)", text, buf, n, n_want);
    }
}

#define ENCODE(t, text, ...) expect_encode(t, text, 0, 1, IDS(__VA_ARGS__))

static void expect_decode(const RtTokenizer *t, int skip_special, const char *want, const int32_t *ids, size_t n)
{
    char got[256];
    size_t len = rt_tok_decode(t, ids, n, skip_special, got, sizeof got);
    assert_true(len < sizeof got);
    got[len] = 0;
    if (strcmp(got, want) != 0)
        fail_msg("decode gave '%s', want '%s'", got, want);
}

#define DECODE(t, skip, want, ...) expect_decode(t, skip, want, IDS(__VA_ARGS__))

/* ---- BPE ---- */

/* Lowest rank first, whatever the position; ties to the leftmost. */
static void test_bpe_merge_order(void **state)
{
    (void)state;
    Builder b;
    b_init(&b, RT_TOK_BPE, 0);
    int32_t a = b_token(&b, "a"), bb = b_token(&b, "b"), c = b_token(&b, "c");
    int32_t ab = b_token(&b, "ab"), bc = b_token(&b, "bc"), abc = b_token(&b, "abc"), aa = b_token(&b, "aa");
    b_merge(&b, "b", "c");
    b_merge(&b, "a", "b");
    b_merge(&b, "a", "bc");
    b_merge(&b, "a", "a");
    RtTokenizer *t = b_open(&b);
    ENCODE(t, "abc", abc);
    ENCODE(t, "ab", ab);
    ENCODE(t, "bcab", bc, ab);
    ENCODE(t, "aaa", aa, a);
    ENCODE(t, "aaaa", aa, aa);
    ENCODE(t, "cba", c, bb, a);
    expect_encode(t, "", 0, 1, NO_IDS);
    rt_tok_close(t);

    b_init(&b, RT_TOK_BPE, 0);
    a = b_token(&b, "a");
    bb = b_token(&b, "b");
    c = b_token(&b, "c");
    ab = b_token(&b, "ab");
    bc = b_token(&b, "bc");
    abc = b_token(&b, "abc");
    b_merge(&b, "a", "b");
    b_merge(&b, "b", "c");
    b_merge(&b, "ab", "c");
    t = b_open(&b);
    ENCODE(t, "abc", abc);
    ENCODE(t, "bc", bc);
    rt_tok_close(t);
}

/* Unknown characters: byte tokens when all their bytes have one, else unk
 * (one per run with fuse_unk). */
static void test_bpe_unknown(void **state)
{
    (void)state;
    Builder b;
    b_init(&b, RT_TOK_BPE, RT_TOK_BYTE_FALLBACK | RT_TOK_FUSE_UNK);
    int32_t unk = b_token_n(&b, "<unk>", 5, RT_TOK_SPECIAL, 0.0f);
    b.h.unk_id = unk;
    int32_t a = b_token(&b, "a"), x = b_token(&b, "x");
    int32_t c3 = b_byte(&b, 0xC3), a9 = b_byte(&b, 0xA9);
    RtTokenizer *t = b_open(&b);
    ENCODE(t, "a\xC3\xA9x", a, c3, a9, x);       /* é: both bytes have tokens */
    ENCODE(t, "a\xC3\xB6\xC3\xB6x", a, unk, x);  /* ö ö: 0xB6 has none, one fused unk */
    ENCODE(t, "\xC3\xB6", unk);
    rt_tok_close(t);

    b.h.flags = RT_TOK_BYTE_FALLBACK;
    t = b_open(&b);
    ENCODE(t, "a\xC3\xB6\xC3\xB6x", a, unk, unk, x);
    rt_tok_close(t);

    b.h.unk_id = -1;
    t = b_open(&b);
    ENCODE(t, "a\xC3\xB6x", a, x);               /* no unk: dropped */
    rt_tok_close(t);
}

/* Byte-level: the symbols are bytes; ignore_merges emits a whole piece. */
static void test_bpe_byte_level(void **state)
{
    (void)state;
    Builder b;
    b_init(&b, RT_TOK_BPE, RT_TOK_BYTE_LEVEL);
    int32_t c3 = b_token(&b, "\xC3"), a9 = b_token(&b, "\xA9"), e_acute = b_token(&b, "\xC3\xA9");
    int32_t sp = b_token(&b, " "), h = b_token(&b, "h"), i = b_token(&b, "i"), hi = b_token(&b, "hi");
    int32_t hii = b_token(&b, "hii");
    int32_t ef = b_token(&b, "\xEF"), bf = b_token(&b, "\xBF"), bd = b_token(&b, "\xBD");
    b_merge(&b, "\xC3", "\xA9");
    b_merge(&b, "h", "i");
    b_op(&b, RT_TP_BYTE_LEVEL, 1, 1, 0, NULL, NULL);
    b_op(&b, RT_TD_BYTE_LEVEL, 0, 0, 0, NULL, NULL);
    RtTokenizer *t = b_open(&b);
    ENCODE(t, "\xC3\xA9", sp, e_acute);          /* add_prefix_space */
    ENCODE(t, " \xC3", sp, ef, bf, bd);         /* invalid UTF-8: U+FFFD, as llama.cpp */
    ENCODE(t, "hii", sp, hi, i);
    DECODE(t, 0, " \xC3\xA9" "hi", sp, c3, a9, hi);
    DECODE(t, 0, "\xEF\xBF\xBD" "h", c3, h);     /* invalid UTF-8: U+FFFD */
    DECODE(t, 0, "\xEF\xBF\xBD\xEF\xBF\xBD", a9, a9);
    rt_tok_close(t);

    b.h.flags |= RT_TOK_IGNORE_MERGES;
    b.ops[0].a = 0;
    t = b_open(&b);
    ENCODE(t, "hii", hii);
    ENCODE(t, "hi hii", hi, sp, hi, i);
    rt_tok_close(t);
}

/* ---- SentencePiece ---- */

static void test_spm(void **state)
{
    (void)state;
    Builder b;
    b_init(&b, RT_TOK_SPM, RT_TOK_BYTE_FALLBACK);
    int32_t unk = b_token_n(&b, "<unk>", 5, RT_TOK_SPECIAL, 0.0f);
    b.h.unk_id = unk;
    int32_t a = b_scored(&b, "a", -5), bb = b_scored(&b, "b", -5), c = b_scored(&b, "c", -5);
    int32_t ab = b_scored(&b, "ab", -2), bc = b_scored(&b, "bc", -1), sp = b_scored(&b, SP, -3);
    int32_t spa = b_scored(&b, SP "a", -1), abc = b_scored(&b, "abc", -4);
    int32_t c3 = b_byte(&b, 0xC3), a9 = b_byte(&b, 0xA9);
    b_op(&b, RT_TN_PREPEND, 0, 0, 0, SP, NULL);
    b_op(&b, RT_TN_REPLACE, 0, 0, 0, " ", SP);
    RtTokenizer *t = b_open(&b);
    ENCODE(t, "bc", sp, bc);
    ENCODE(t, "abc", spa, bc);                   /* ▁a and bc score -1: the leftmost first */
    ENCODE(t, "b c", sp, bb, sp, c);
    ENCODE(t, "\xC3\xA9" "ab", sp, c3, a9, ab);  /* é is no token: its bytes */
    rt_tok_close(t);

    b.h.n_norm = 0;
    t = b_open(&b);
    ENCODE(t, "abc", abc);                       /* bc (-1) before ab (-2), then a + bc */
    ENCODE(t, "ab", ab);
    ENCODE(t, "ba", bb, a);
    rt_tok_close(t);
}

/* ---- added tokens ---- */

static void test_added_tokens(void **state)
{
    (void)state;
    Builder b;
    b_init(&b, RT_TOK_BPE, 0);
    int32_t x = b_token(&b, "x"), y = b_token(&b, "y"), sp = b_token(&b, " "), lt = b_token(&b, "<");
    int32_t gt = b_token(&b, ">"), s = b_token(&b, "s"), w = b_token(&b, "w");
    int32_t ab = b_added(&b, "<a><b>", 0);
    int32_t spec = b_added(&b, "<s>", RT_TOK_SPECIAL);
    int32_t strip = b_added(&b, "<m>", RT_TOK_LSTRIP | RT_TOK_RSTRIP);
    int32_t word = b_added(&b, "<w>", RT_TOK_SINGLE_WORD);
    int32_t a = b_added(&b, "<a>", 0);
    RtTokenizer *t = b_open(&b);
    ENCODE(t, "x<a><b>y", x, ab, y);            /* the longest at the leftmost position */
    ENCODE(t, "<a><a><b>", a, ab);
    ENCODE(t, "x <s>y", x, sp, spec, y);
    expect_encode(t, "x<s>", 0, 0, IDS(x, lt, s, gt));     /* special tokens only with parse_special */
    expect_encode(t, "<a><s>", 0, 0, IDS(a, lt, s, gt));
    ENCODE(t, "x  <m>  y", x, strip, y);
    ENCODE(t, "<s> <m>y", spec, strip, y);
    ENCODE(t, "<m>  <m>", strip, strip);        /* lstrip stops where the previous match ended */
    ENCODE(t, "x<w>", x, lt, w, gt);            /* single_word: not inside a word */
    ENCODE(t, "x <w> y", x, sp, word, sp, y);
    ENCODE(t, "<w>", word);
    rt_tok_close(t);
}

/* Tokens marked normalized are found in the normalized text. */
static void test_added_normalized(void **state)
{
    (void)state;
    Builder b;
    b_init(&b, RT_TOK_BPE, 0);
    int32_t h = b_token(&b, "h"), i = b_token(&b, "i"), x = b_token(&b, "x");
    int32_t hi = b_added(&b, "hi", RT_TOK_NORMALIZED);
    b_op(&b, RT_TN_LOWERCASE, 0, 0, 0, NULL, NULL);
    RtTokenizer *t = b_open(&b);
    ENCODE(t, "xHIx", x, hi, x);
    ENCODE(t, "HhIi", h, hi, i);
    rt_tok_close(t);
}

/* ---- normalizers and pre-tokenizers ----
 * With ignore_merges and a token for every expected piece, the ids show
 * the pieces. */

static void test_normalizers(void **state)
{
    (void)state;
    Builder b;
    b_init(&b, RT_TOK_BPE, RT_TOK_IGNORE_MERGES);
    int32_t cafe = b_token(&b, "_caf\xC3\xA9_x");
    b_op(&b, RT_TN_STRIP, 1, 1, 0, NULL, NULL);
    b_op(&b, RT_TN_NFC, 0, 0, 0, NULL, NULL);
    b_op(&b, RT_TN_LOWERCASE, 0, 0, 0, NULL, NULL);
    b_op(&b, RT_TN_REPLACE, 0, 0, 0, " ", "_");
    b_op(&b, RT_TN_PREPEND, 0, 0, 0, "_", NULL);
    RtTokenizer *t = b_open(&b);
    ENCODE(t, " \tCAFe\xCC\x81 X\n", cafe);    /* strip, NFC, lowercase, replace, prepend */
    expect_encode(t, "  ", 0, 1, NO_IDS);       /* stripped empty: nothing, not even the prefix */
    rt_tok_close(t);
}

static RtTokenizer *split_tokenizer(Builder *b, RtTokBehavior behavior, int invert)
{
    static const char *const pieces[] = {"ab", "cd", "1", "2", "3", "12", "ab1", "cd3", "2cd", "ab12cd3"};
    b_init(b, RT_TOK_BPE, RT_TOK_IGNORE_MERGES);
    for (int i = 0; i < 10; i++)
        b_token(b, pieces[i]);
    b_op(b, RT_TP_SPLIT, RT_PAT_DIGITS, behavior, invert, NULL, NULL);
    return b_open(b);
}

/* Split's behaviors on "ab12cd3" (each digit one match); ids are the
 * indices of split_tokenizer's pieces. */
static void test_split_behaviors(void **state)
{
    (void)state;
    Builder b;
    RtTokenizer *t = split_tokenizer(&b, RT_SPLIT_REMOVED, 0);
    ENCODE(t, "ab12cd3", 0, 1);
    rt_tok_close(t);
    t = split_tokenizer(&b, RT_SPLIT_ISOLATED, 0);
    ENCODE(t, "ab12cd3", 0, 2, 3, 1, 4);
    rt_tok_close(t);
    t = split_tokenizer(&b, RT_SPLIT_MERGED_PREVIOUS, 0);
    ENCODE(t, "ab12cd3", 6, 3, 7);
    rt_tok_close(t);
    t = split_tokenizer(&b, RT_SPLIT_MERGED_NEXT, 0);
    ENCODE(t, "ab12cd3", 0, 2, 8, 4);
    rt_tok_close(t);
    t = split_tokenizer(&b, RT_SPLIT_CONTIGUOUS, 0);
    ENCODE(t, "ab12cd3", 0, 5, 1, 4);
    rt_tok_close(t);
    t = split_tokenizer(&b, RT_SPLIT_REMOVED, 1);
    ENCODE(t, "ab12cd3", 2, 3, 4);
    rt_tok_close(t);
}

static void test_pre_tokenizers(void **state)
{
    (void)state;
    Builder b;
    b_init(&b, RT_TOK_BPE, RT_TOK_IGNORE_MERGES);
    int32_t a = b_token(&b, "a"), bb = b_token(&b, "b"), c = b_token(&b, "c"), n12 = b_token(&b, "12");
    int32_t n1 = b_token(&b, "1"), n2 = b_token(&b, "2");
    b_op(&b, RT_TP_WHITESPACE_SPLIT, 0, 0, 0, NULL, NULL);
    b_op(&b, RT_TP_DIGITS, 0, 0, 0, NULL, NULL);
    RtTokenizer *t = b_open(&b);
    ENCODE(t, " a\tb \n c12 ", a, bb, c, n12);
    rt_tok_close(t);
    b.ops[1].a = 1;
    t = b_open(&b);
    ENCODE(t, "a12", a, n1, n2);
    rt_tok_close(t);
}

/* Metaspace: spaces become ▁, prepended per scheme (first: only at the
 * start of the text, not after an added token), split before each ▁. */
static void test_metaspace(void **state)
{
    (void)state;
    Builder b;
    b_init(&b, RT_TOK_BPE, RT_TOK_IGNORE_MERGES);
    int32_t hey = b_token(&b, SP "hey"), friend = b_token(&b, SP "friend"), bare = b_token(&b, "hey");
    int32_t sp = b_token(&b, SP), both = b_token(&b, SP "hey" SP "friend");
    int32_t s = b_added(&b, "<s>", RT_TOK_SPECIAL);
    b_op(&b, RT_TP_METASPACE, RT_PREPEND_ALWAYS, 1, 0, SP, NULL);
    RtTokenizer *t = b_open(&b);
    ENCODE(t, "hey friend", hey, friend);
    ENCODE(t, "hey<s>hey", hey, s, hey);
    ENCODE(t, "  hey", sp, hey);
    rt_tok_close(t);
    b.ops[0].a = RT_PREPEND_FIRST;
    t = b_open(&b);
    ENCODE(t, "hey<s>hey", hey, s, bare);
    rt_tok_close(t);
    b.ops[0].a = RT_PREPEND_NEVER;
    b.ops[0].b = 0;
    t = b_open(&b);
    ENCODE(t, "hey", bare);
    ENCODE(t, " hey friend", both);
    rt_tok_close(t);
}

/* ---- post-processor ---- */

static void test_add_special(void **state)
{
    (void)state;
    Builder b;
    b_init(&b, RT_TOK_BPE, 0);
    int32_t bos = b_token_n(&b, "<s>", 3, RT_TOK_SPECIAL, 0.0f), eos = b_token_n(&b, "</s>", 4, RT_TOK_SPECIAL, 0.0f);
    int32_t x = b_token(&b, "x");
    b.h.n_prefix = 1;
    b.h.prefix[0] = bos;
    b.h.n_suffix = 1;
    b.h.suffix[0] = eos;
    b.h.n_eos = 1;
    b.h.eos[0] = eos;
    RtTokenizer *t = b_open(&b);
    expect_encode(t, "x", 1, 1, IDS(bos, x, eos));
    expect_encode(t, "", 1, 1, IDS(bos, eos));
    expect_encode(t, "x", 0, 1, IDS(x));
    assert_true(rt_tok_is_eos(t, eos));
    assert_false(rt_tok_is_eos(t, bos));
    assert_int_equal(rt_tok_header(t)->n_tokens, 3);
    int32_t ids[2];
    size_t n;
    assert_int_equal(rt_tok_encode(t, "xxx", 3, 1, 1, ids, 2, &n), RT_ERR_ARG);   /* too many for cap */
    assert_int_equal(n, 5);
    assert_int_equal(ids[0], bos);
    assert_int_equal(ids[1], x);
    rt_tok_close(t);
}

/* ---- decoders ---- */

/* Llama 2's chain: Replace(▁ -> ' '), ByteFallback, Fuse, Strip(' ', 1, 0). */
static void test_decode_llama(void **state)
{
    (void)state;
    Builder b;
    b_init(&b, RT_TOK_BPE, RT_TOK_BYTE_FALLBACK);
    int32_t bos = b_token_n(&b, "<s>", 3, RT_TOK_SPECIAL, 0.0f);
    int32_t hello = b_token(&b, SP "Hello"), world = b_token(&b, SP "world"), sp = b_token(&b, SP);
    int32_t e6 = b_byte(&b, 0xE6), x95 = b_byte(&b, 0x95), xb0 = b_byte(&b, 0xB0), bang = b_token(&b, "!");
    b_op(&b, RT_TD_REPLACE, 0, 0, 0, SP, " ");
    b_op(&b, RT_TD_BYTE_FALLBACK, 0, 0, 0, NULL, NULL);
    b_op(&b, RT_TD_FUSE, 0, 0, 0, NULL, NULL);
    b_op(&b, RT_TD_STRIP, 1, 0, 0, " ", NULL);
    RtTokenizer *t = b_open(&b);
    DECODE(t, 1, "Hello world", bos, hello, world);
    DECODE(t, 0, "<s> Hello world", bos, hello, world);
    DECODE(t, 1, " world", sp, world);          /* only the first space of the whole text goes */
    DECODE(t, 1, "\xE6\x95\xB0!", e6, x95, xb0, bang);   /* a run of bytes that is UTF-8: its text */
    DECODE(t, 1, "\xEF\xBF\xBD\xEF\xBF\xBD world", e6, x95, world);    /* an invalid run: U+FFFD per byte */
    DECODE(t, 1, "Hello", hello, -1, 9999);     /* ids out of range are dropped */
    DECODE(t, 1, "");
    char small[4];
    int32_t ids[] = {hello, world};
    assert_int_equal(rt_tok_decode(t, ids, 2, 1, small, sizeof small), 11);
    assert_memory_equal(small, "Hell", 4);
    rt_tok_close(t);
}

static void test_decode_metaspace(void **state)
{
    (void)state;
    Builder b;
    b_init(&b, RT_TOK_BPE, 0);
    int32_t hey = b_token(&b, SP "Hey"), friend = b_token(&b, SP "friend!");
    b_op(&b, RT_TD_METASPACE, RT_PREPEND_ALWAYS, 0, 0, SP, NULL);
    RtTokenizer *t = b_open(&b);
    DECODE(t, 0, "Hey friend!", hey, friend);
    rt_tok_close(t);
    b.ops[0].a = RT_PREPEND_NEVER;
    t = b_open(&b);
    DECODE(t, 0, " Hey friend!", hey, friend);
    rt_tok_close(t);
    b.h.n_dec = 0;      /* no decoders: tokens joined by spaces */
    t = b_open(&b);
    DECODE(t, 0, SP "Hey " SP "friend!", hey, friend);
    rt_tok_close(t);
}

static void test_decode_strip(void **state)
{
    (void)state;
    Builder b;
    b_init(&b, RT_TOK_BPE, 0);
    int32_t x = b_token(&b, "__x__"), y = b_token(&b, "_y"), u = b_token(&b, "_");
    b_op(&b, RT_TD_STRIP, 1, 2, 0, "_", NULL);
    RtTokenizer *t = b_open(&b);
    DECODE(t, 0, "_xy", x, y);                 /* each token: one from the start, two from the end */
    DECODE(t, 0, "", u);
    rt_tok_close(t);
}

/* ---- files ---- */

static void expect_rejected(const void *blob, size_t bytes, const char *why)
{
    RtTokenizer *t = (RtTokenizer *)1;
    RtStatus st = rt_tok_open_mem(&t, blob, bytes);
    if (st == RT_OK)
        fail_msg("accepted a file with %s", why);
    assert_null(t);
    if (!strstr(rt_last_error(), why))
        fail_msg("error '%s' lacks '%s'", rt_last_error(), why);
}

/* A valid blob to corrupt (malloc'd). */
static unsigned char *good_blob(size_t *bytes)
{
    Builder b;
    b_init(&b, RT_TOK_BPE, 0);
    b_token(&b, "a");
    b_token(&b, "b");
    b_token(&b, "ab");
    b_merge(&b, "a", "b");
    b_added(&b, "<x>", RT_TOK_SPECIAL);
    b_op(&b, RT_TN_NFC, 0, 0, 0, NULL, NULL);
    b_op(&b, RT_TD_FUSE, 0, 0, 0, NULL, NULL);
    return b_finish(&b, bytes);
}

/* bad = a fresh copy of the n bytes of blob; returns its header. */
static RtTokHeader *fresh(unsigned char *bad, const unsigned char *blob, size_t n)
{
    memcpy(bad, blob, n);
    return (RtTokHeader *)bad;
}

static void *section(unsigned char *blob, uint64_t off)
{
    return blob + off;
}

static void test_corrupt(void **state)
{
    (void)state;
    size_t n;
    unsigned char *blob = good_blob(&n), *bad = malloc(n);
    RtTokenizer *t;
    assert_int_equal(rt_tok_open_mem(&t, blob, n), RT_OK);
    rt_tok_close(t);
    expect_rejected(blob, 16, "too short");
    expect_rejected(blob, n - 1, "truncated");

    RtTokHeader *h = fresh(bad, blob, n);
    bad[0] = 'X';
    expect_rejected(bad, n, "bad magic");
    fresh(bad, blob, n)->version = 2;
    expect_rejected(bad, n, "version");
    fresh(bad, blob, n)->model = 7;
    expect_rejected(bad, n, "model");
    fresh(bad, blob, n)->str_hash_cap = 100;
    expect_rejected(bad, n, "power of two");
    fresh(bad, blob, n)->pool_off = n + 8;
    expect_rejected(bad, n, "outside the file");
    fresh(bad, blob, n)->n_tokens = 1u << 30;
    expect_rejected(bad, n, "outside the file");
    fresh(bad, blob, n)->merge_hash_off = n - 8;
    expect_rejected(bad, n, "outside the file");
    fresh(bad, blob, n)->unk_id = 99;
    expect_rejected(bad, n, "out of range");
    fresh(bad, blob, n)->n_prefix = 1;
    h->prefix[0] = 3000;
    expect_rejected(bad, n, "prefix");

    fresh(bad, blob, n);
    ((RtTokEntry *)section(bad, h->tokens_off))[1].off = 1u << 20;
    expect_rejected(bad, n, "token string");
    fresh(bad, blob, n);
    ((uint32_t *)section(bad, h->str_hash_off))[7] = 77;
    expect_rejected(bad, n, "string hash");
    fresh(bad, blob, n);
    ((RtTokMerge *)section(bad, h->merge_hash_off))[0] = (RtTokMerge){0, 50, 0, 2};
    expect_rejected(bad, n, "merge");
    fresh(bad, blob, n);
    ((RtTokAdded *)section(bad, h->added_off))[0].id = 40;
    expect_rejected(bad, n, "added token");

    RtTokOp *ops = section(bad, h->ops_off);
    fresh(bad, blob, n);
    ops[0].kind = 99;
    expect_rejected(bad, n, "unknown kind");
    fresh(bad, blob, n);
    ops[0].kind = RT_TD_FUSE;
    expect_rejected(bad, n, "out of its group");
    fresh(bad, blob, n);
    ops[1].s1_len = 1u << 20;
    expect_rejected(bad, n, "op string");
    fresh(bad, blob, n);
    ops[1] = (RtTokOp){.kind = RT_TD_STRIP, .a = -1};
    expect_rejected(bad, n, "invalid arguments");
    free(bad);
    free(blob);

    /* hash tables whose lookups would probe more than 1024 slots */
    Builder b;
    b_init(&b, RT_TOK_BPE, 0);
    b_token(&b, "a");
    b.h.str_hash_cap = b.h.merge_hash_cap = 2048;
    blob = b_finish(&b, &n);
    h = (RtTokHeader *)blob;
    uint32_t *str = section(blob, h->str_hash_off);
    for (int i = 1; i < 1026; i++)
        str[i] = 1;
    expect_rejected(blob, n, "the string hash has a run of more than 1024 occupied slots");
    str[1] = 0;
    RtTokMerge *merges = section(blob, h->merge_hash_off);
    for (int i = 2040; i < 2048 + 1016; i++)
        merges[i % 2048] = (RtTokMerge){0, 0, 0, 0};
    assert_int_equal(rt_tok_open_mem(&t, blob, n), RT_OK);
    rt_tok_close(t);
    merges[1016] = (RtTokMerge){0, 0, 0, 0};
    expect_rejected(blob, n, "the merge hash has a run of more than 1024 occupied slots");
    free(blob);
}

/* Ops that chain replacements grow text exponentially (4 bytes through four
 * 16x replacements: 256 kB): encode and decode stop at 16 x the text plus
 * 64 kB instead of exhausting memory. */
static void test_text_growth(void **state)
{
    (void)state;
    const char *a16 = "aaaaaaaaaaaaaaaa";
    Builder b;
    b_init(&b, RT_TOK_BPE, 0);
    int32_t a = b_token(&b, "a");
    for (int i = 0; i < 4; i++)
        b_op(&b, RT_TN_REPLACE, 0, 0, 0, "a", a16);
    for (int i = 0; i < 4; i++)
        b_op(&b, RT_TD_REPLACE, 0, 0, 0, "a", a16);
    RtTokenizer *t = b_open(&b);
    int32_t ids[8];
    size_t n;
    assert_int_equal(rt_tok_encode(t, "aaaa", 4, 0, 0, ids, 8, &n), RT_ERR_FORMAT);
    assert_string_equal(rt_last_error(),
                        "tokenizer: the normalizers and pre-tokenizers make 4 bytes of text longer than 65600 bytes");
    char out[64];
    assert_int_equal(rt_tok_decode(t, IDS(a, a, a, a), 0, out, sizeof out), 0);
    assert_string_equal(rt_last_error(), "tokenizer: the decoders make the 4 bytes of 4 tokens longer than 65600 bytes");
    /* 1 byte grows to 64 kB, within 16 + 64 kB */
    assert_int_equal(rt_tok_decode(t, IDS(a), 0, out, sizeof out), 65536);
    rt_tok_close(t);
}

static void test_open_file(void **state)
{
    (void)state;
    size_t n;
    unsigned char *blob = good_blob(&n);
    const char *dir = tu_tmpdir("rt_tokenizer");
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.bin", dir);
    tu_write_file(path, blob, n);
    RtTokenizer *t;
    assert_int_equal(rt_tok_open(&t, path), RT_OK);
    int32_t ids[4];
    size_t count;
    assert_int_equal(rt_tok_encode(t, "ab<x>", 5, 0, 1, ids, 4, &count), RT_OK);
    assert_int_equal(count, 2);
    assert_int_equal(ids[0], 2);
    assert_int_equal(ids[1], 3);
    rt_tok_close(t);

    snprintf(path, sizeof path, "%s/missing.bin", dir);
    assert_int_equal(rt_tok_open(&t, path), RT_ERR_IO);
    assert_non_null(strstr(rt_last_error(), "missing.bin: cannot open"));
    snprintf(path, sizeof path, "%s/short.bin", dir);
    tu_write_file(path, blob, 40);
    assert_int_equal(rt_tok_open(&t, path), RT_ERR_FORMAT);
    assert_non_null(strstr(rt_last_error(), "short.bin: too short"));
    free(blob);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bpe_merge_order),
        cmocka_unit_test(test_bpe_unknown),
        cmocka_unit_test(test_bpe_byte_level),
        cmocka_unit_test(test_spm),
        cmocka_unit_test(test_added_tokens),
        cmocka_unit_test(test_added_normalized),
        cmocka_unit_test(test_normalizers),
        cmocka_unit_test(test_split_behaviors),
        cmocka_unit_test(test_pre_tokenizers),
        cmocka_unit_test(test_metaspace),
        cmocka_unit_test(test_add_special),
        cmocka_unit_test(test_decode_llama),
        cmocka_unit_test(test_decode_metaspace),
        cmocka_unit_test(test_decode_strip),
        cmocka_unit_test(test_corrupt),
        cmocka_unit_test(test_text_growth),
        cmocka_unit_test(test_open_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
