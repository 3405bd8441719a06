/* fe_tokbuild.c: assembles the tokenizer.bin image of runtime/hetc_rt.h.
 *
 * The readers (fe_tokenizer.c for Hugging Face, fe_gguf.c for GGUF) add
 * tokens, merges, added tokens and ops in any order; fe_tokb_finish lays
 * them out as header, entries, string hash, merge hash, added tokens
 * (longest content first), ops (normalizers, pre-tokenizers, decoders) and
 * the string pool, each section 8-byte aligned. Also here: the helpers both
 * readers share (string index, GPT-2 byte alphabet, byte tokens, chat
 * template recognition).
 */
#include "fe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An op as added, its strings as pool offsets. */
typedef struct {
    RtTokOp op;
    int group;                  /* 0 normalizer, 1 pre-tokenizer, 2 decoder */
    size_t seq;                 /* order of addition, for a stable sort */
} BuildOp;

struct FeTokBuilder {
    RtTokHeader hdr;            /* caller's fields; layout filled in by finish */
    RtTokEntry *entries;        /* [n_tokens] */
    uint32_t n_tokens;
    RtTokMerge *merges;         /* in the order added */
    size_t n_merges, cap_merges;
    RtTokAdded *added;
    size_t n_added, cap_added;
    BuildOp *ops;
    size_t n_ops, cap_ops;
    char *pool;                 /* token and op strings */
    size_t pool_len, pool_cap;
    int64_t bad_id;             /* first id out of range given to an adder, or -1 */
};

/* Makes room for one more element of size elem after the n in items. */
static void *grow(void *items, size_t n, size_t *cap, size_t elem)
{
    if (n < *cap) return items;
    *cap = *cap ? *cap * 2 : 64;
    items = realloc(items, *cap * elem);
    if (!items) abort();
    return items;
}

static size_t align8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

static uint32_t pow2_at_least(size_t n)
{
    uint32_t cap = 8;
    while (cap < n) cap *= 2;
    return cap;
}

/* Appends len bytes to the pool; returns their offset. */
static size_t pool_add(FeTokBuilder *b, const char *s, size_t len)
{
    while (b->pool_len + len > b->pool_cap) {
        b->pool_cap = b->pool_cap ? b->pool_cap * 2 : 4096;
        b->pool = realloc(b->pool, b->pool_cap);
        if (!b->pool) abort();
    }
    size_t off = b->pool_len;
    if (len) memcpy(b->pool + off, s, len);
    b->pool_len += len;
    return off;
}

static int id_ok(FeTokBuilder *b, uint32_t id)
{
    if (id < b->n_tokens) return 1;
    if (b->bad_id < 0) b->bad_id = id;
    return 0;
}

FeTokBuilder *fe_tokb_new(uint32_t n_tokens)
{
    FeTokBuilder *b = calloc(1, sizeof *b);
    b->n_tokens = n_tokens;
    b->entries = calloc(n_tokens ? n_tokens : 1, sizeof *b->entries);
    for (uint32_t i = 0; i < n_tokens; i++) b->entries[i].flags = RT_TOK_UNUSED;
    b->hdr.unk_id = b->hdr.bos_id = b->hdr.eos_id = b->hdr.pad_id = -1;
    b->bad_id = -1;
    return b;
}

void fe_tokb_free(FeTokBuilder *b)
{
    if (!b) return;
    free(b->entries);
    free(b->merges);
    free(b->added);
    free(b->ops);
    free(b->pool);
    free(b);
}

RtTokHeader *fe_tokb_header(FeTokBuilder *b)
{
    return &b->hdr;
}

void fe_tokb_token(FeTokBuilder *b, uint32_t id, const char *s, size_t len, float score, unsigned flags,
                   unsigned byte)
{
    if (!id_ok(b, id)) return;
    RtTokEntry *e = &b->entries[id];
    e->off = (uint32_t)pool_add(b, s, len);
    e->len = (uint32_t)len;
    e->score = score;
    e->flags = (uint16_t)flags;
    e->byte = (uint16_t)byte;
}

void fe_tokb_merge(FeTokBuilder *b, uint32_t left, uint32_t right, uint32_t rank, uint32_t result)
{
    if (!id_ok(b, left) || !id_ok(b, right) || !id_ok(b, result)) return;
    b->merges = grow(b->merges, b->n_merges, &b->cap_merges, sizeof *b->merges);
    b->merges[b->n_merges++] = (RtTokMerge){left, right, rank, result};
}

void fe_tokb_added(FeTokBuilder *b, uint32_t id, unsigned flags)
{
    if (!id_ok(b, id)) return;
    b->added = grow(b->added, b->n_added, &b->cap_added, sizeof *b->added);
    b->added[b->n_added++] = (RtTokAdded){id, flags};
}

static int op_group(RtTokOpKind kind)
{
    return kind < RT_TP_METASPACE ? 0 : kind < RT_TD_REPLACE ? 1 : 2;
}

void fe_tokb_op(FeTokBuilder *b, RtTokOpKind kind, int32_t a, int32_t bv, int32_t c, const char *s1,
                const char *s2)
{
    b->ops = grow(b->ops, b->n_ops, &b->cap_ops, sizeof *b->ops);
    BuildOp *o = &b->ops[b->n_ops];
    memset(o, 0, sizeof *o);
    o->op.kind = kind;
    o->op.a = a;
    o->op.b = bv;
    o->op.c = c;
    if (s1) {
        o->op.s1_len = (uint32_t)strlen(s1);
        o->op.s1_off = (uint32_t)pool_add(b, s1, o->op.s1_len);
    }
    if (s2) {
        o->op.s2_len = (uint32_t)strlen(s2);
        o->op.s2_off = (uint32_t)pool_add(b, s2, o->op.s2_len);
    }
    o->group = op_group(kind);
    o->seq = b->n_ops++;
}

/* ---- layout ---- */

/* Sort orders: added tokens by content length descending, then id; ops by
 * group, then order of addition. The entries are reached through a global
 * because qsort has no context argument. */
static const RtTokEntry *sort_entries;

static int cmp_added(const void *pa, const void *pb)
{
    const RtTokAdded *a = pa, *b = pb;
    uint32_t la = sort_entries[a->id].len, lb = sort_entries[b->id].len;
    if (la != lb) return la > lb ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

static int cmp_ops(const void *pa, const void *pb)
{
    const BuildOp *a = pa, *b = pb;
    if (a->group != b->group) return a->group - b->group;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static void fill_str_hash(const FeTokBuilder *b, uint32_t *slots, uint32_t cap)
{
    FeStr *str = malloc((b->n_tokens ? b->n_tokens : 1) * sizeof *str);
    for (uint32_t i = 0; i < b->n_tokens; i++)
        str[i] = (FeStr){b->pool + b->entries[i].off, b->entries[i].len};
    FeStrIndex x;
    fe_str_index_build(&x, str, b->n_tokens);
    memcpy(slots, x.slots, (size_t)cap * sizeof *slots);
    fe_str_index_free(&x);
    free(str);
}

static void fill_merge_hash(const FeTokBuilder *b, RtTokMerge *slots, uint32_t cap)
{
    for (uint32_t i = 0; i < cap; i++) slots[i] = (RtTokMerge){UINT32_MAX, 0, 0, 0};
    for (size_t i = 0; i < b->n_merges; i++) {
        const RtTokMerge *m = &b->merges[i];
        uint32_t h = rt_tok_hash_pair(m->left, m->right) & (cap - 1);
        while (slots[h].left != UINT32_MAX && !(slots[h].left == m->left && slots[h].right == m->right))
            h = (h + 1) & (cap - 1);
        if (slots[h].left == UINT32_MAX) slots[h] = *m;
    }
}

/* Section offsets and sizes of the file. */
typedef struct {
    size_t tokens, str_hash, merge_hash, added, ops, pool, end;
} Layout;

static Layout plan(const RtTokHeader *h, size_t n_ops, size_t pool_bytes)
{
    Layout l;
    l.tokens = align8(sizeof(RtTokHeader));
    l.str_hash = align8(l.tokens + (size_t)h->n_tokens * sizeof(RtTokEntry));
    l.merge_hash = align8(l.str_hash + (size_t)h->str_hash_cap * sizeof(uint32_t));
    l.added = align8(l.merge_hash + (size_t)h->merge_hash_cap * sizeof(RtTokMerge));
    l.ops = align8(l.added + (size_t)h->n_added * sizeof(RtTokAdded));
    l.pool = align8(l.ops + n_ops * sizeof(RtTokOp));
    l.end = l.pool + pool_bytes;
    return l;
}

static void fill_header(FeTokBuilder *b, RtTokHeader *h)
{
    *h = b->hdr;
    memcpy(h->magic, RT_TOK_MAGIC, sizeof h->magic);
    h->version = RT_TOK_VERSION;
    h->n_tokens = b->n_tokens;
    h->n_added = (uint32_t)b->n_added;
    h->n_norm = h->n_pretok = h->n_dec = 0;
    for (size_t i = 0; i < b->n_ops; i++) {
        int g = b->ops[i].group;
        if (g == 0) h->n_norm++;
        else if (g == 1) h->n_pretok++;
        else h->n_dec++;
    }
    h->str_hash_cap = pow2_at_least(2 * (size_t)b->n_tokens);
    h->merge_hash_cap = pow2_at_least(2 * b->n_merges);
}

int fe_tokb_finish(FeTokBuilder *b, const char *source, void **blob, size_t *bytes, char *err, size_t errlen)
{
    if (b->bad_id >= 0) {
        fe_set_err(err, errlen, "%s: token id %lld is out of range (%u tokens)", source, (long long)b->bad_id,
                b->n_tokens);
        return -1;
    }
    if (b->pool_len > UINT32_MAX) {
        fe_set_err(err, errlen, "%s: the token strings take %zu bytes; the format allows 4 GiB", source, b->pool_len);
        return -1;
    }
    RtTokHeader h;
    fill_header(b, &h);
    Layout l = plan(&h, b->n_ops, b->pool_len);
    unsigned char *out = calloc(1, l.end);
    if (!out) abort();
    h.tokens_off = l.tokens;
    h.str_hash_off = l.str_hash;
    h.merge_hash_off = l.merge_hash;
    h.added_off = l.added;
    h.ops_off = l.ops;
    h.pool_off = l.pool;
    h.pool_bytes = b->pool_len;
    h.file_bytes = l.end;
    memcpy(out, &h, sizeof h);
    memcpy(out + l.tokens, b->entries, (size_t)b->n_tokens * sizeof(RtTokEntry));
    fill_str_hash(b, (uint32_t *)(out + l.str_hash), h.str_hash_cap);
    fill_merge_hash(b, (RtTokMerge *)(out + l.merge_hash), h.merge_hash_cap);
    sort_entries = b->entries;
    if (b->n_added) {
        qsort(b->added, b->n_added, sizeof *b->added, cmp_added);
        memcpy(out + l.added, b->added, b->n_added * sizeof(RtTokAdded));
    }
    if (b->n_ops) qsort(b->ops, b->n_ops, sizeof *b->ops, cmp_ops);
    for (size_t i = 0; i < b->n_ops; i++) memcpy(out + l.ops + i * sizeof(RtTokOp), &b->ops[i].op, sizeof(RtTokOp));
    if (b->pool_len) memcpy(out + l.pool, b->pool, b->pool_len);
    *blob = out;
    *bytes = l.end;
    return 0;
}

/* ---- string index ---- */

void fe_str_index_build(FeStrIndex *x, const FeStr *str, uint32_t n)
{
    x->cap = pow2_at_least(2 * (size_t)n);
    x->slots = calloc(x->cap, sizeof *x->slots);
    x->str = str;
    for (uint32_t id = 0; id < n; id++) {
        if (str[id].len == 0 || fe_str_index_find(x, str[id].s, str[id].len) >= 0) continue;
        uint32_t h = rt_tok_hash_str(str[id].s, str[id].len) & (x->cap - 1);
        while (x->slots[h]) h = (h + 1) & (x->cap - 1);
        x->slots[h] = id + 1;
    }
}

int64_t fe_str_index_find(const FeStrIndex *x, const char *s, size_t len)
{
    uint32_t h = rt_tok_hash_str(s, len) & (x->cap - 1);
    for (; x->slots[h]; h = (h + 1) & (x->cap - 1)) {
        const FeStr *t = &x->str[x->slots[h] - 1];
        if (t->len == len && memcmp(t->s, s, len) == 0) return x->slots[h] - 1;
    }
    return -1;
}

void fe_str_index_free(FeStrIndex *x)
{
    free(x->slots);
    x->slots = NULL;
}

/* ---- shared helpers ---- */

/* The byte GPT-2's bytes_to_unicode maps to code point cp, or -1. Printable
 * Latin-1 ('!'..'~', U+00A1..U+00AC, U+00AE..U+00FF) maps to itself; the
 * other 68 bytes, in increasing order, to U+0100 onwards. */
static int unbyte_char(uint32_t cp)
{
    static int16_t table[256 + 68];
    static int ready;
    if (!ready) {
        int next = 256;
        for (int i = 0; i < 256 + 68; i++) table[i] = -1;
        for (int byte = 0; byte < 256; byte++) {
            int printable = (byte >= 0x21 && byte <= 0x7E) || (byte >= 0xA1 && byte <= 0xAC) || byte >= 0xAE;
            table[printable ? byte : next++] = (int16_t)byte;
        }
        ready = 1;
    }
    return cp < 256 + 68 ? table[cp] : -1;
}

/* Decodes one UTF-8 code point of at most 2 bytes (the alphabet's range);
 * returns its length, or 0 for anything else. */
static int utf8_small(const unsigned char *s, size_t len, uint32_t *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if ((s[0] & 0xE0) == 0xC0 && len >= 2 && (s[1] & 0xC0) == 0x80) {
        *cp = (uint32_t)(s[0] & 0x1F) << 6 | (s[1] & 0x3F);
        return *cp >= 0x80 ? 2 : 0;
    }
    return 0;
}

long fe_tok_unbyte(const char *s, size_t len, char *out)
{
    const unsigned char *p = (const unsigned char *)s;
    long n = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int adv = utf8_small(p + i, len - i, &cp);
        int byte = adv ? unbyte_char(cp) : -1;
        if (byte < 0) return -1;
        out[n++] = (char)byte;
        i += (size_t)adv;
    }
    return n;
}

static int hex_upper(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int fe_tok_byte_value(const char *s, size_t len)
{
    if (len != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    int hi = hex_upper(s[3]), lo = hex_upper(s[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

void fe_tok_add_eos(RtTokHeader *h, int32_t id)
{
    if (id < 0 || h->n_eos >= sizeof h->eos / sizeof h->eos[0]) return;
    for (uint32_t i = 0; i < h->n_eos; i++)
        if (h->eos[i] == id) return;
    h->eos[h->n_eos++] = id;
}

RtChatFormat fe_tok_chat_format(const char *tmpl)
{
    if (!tmpl) return RT_CHAT_NONE;
    if (strstr(tmpl, "<|start_header_id|>")) return RT_CHAT_LLAMA3;
    if (strstr(tmpl, "<|im_start|>")) return RT_CHAT_CHATML;
    if (strstr(tmpl, "[INST]")) return RT_CHAT_LLAMA2;
    return RT_CHAT_NONE;
}
