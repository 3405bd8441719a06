/* rt_tokenizer.c: tokenizer.bin (see hetc_rt.h): mapping and validating
 * the file, and the encode pipeline around the models of rt_bpe.c:
 *
 *   1. the text is split on added tokens (leftmost-longest, as Hugging
 *      Face's AddedVocabulary), first those matched in the raw text, then,
 *      in each normalized piece, those matched in normalized text;
 *   2. each piece between them is normalized (PREPEND ... STRIP) and split
 *      by the pre-tokenizers (METASPACE ... WHITESPACE_SPLIT);
 *   3. the model turns every final piece into ids;
 *   4. the post-processor's prefix and suffix go around (add_special).
 *
 * Decoding runs the decoders over the list of token strings. The semantics
 * follow Hugging Face tokenizers for files made from tokenizer.json and
 * llama.cpp for files made from GGUF.
 */
#include "rt_tok_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- lookups ---- */

int32_t rt_tok_lookup(const RtTokenizer *t, const char *s, size_t n)
{
    uint32_t mask = t->hdr->str_hash_cap - 1;
    for (uint32_t h = rt_tok_hash_str(s, n) & mask; t->str_hash[h]; h = (h + 1) & mask) {
        const RtTokEntry *e = &t->tokens[t->str_hash[h] - 1];
        if (e->len == n && memcmp(t->pool + e->off, s, n) == 0)
            return e->flags & RT_TOK_UNUSED ? -1 : (int32_t)(t->str_hash[h] - 1);
    }
    return -1;
}

void rt_tok_out_push(RtTokOut *o, int32_t id)
{
    if (o->n < o->cap)
        o->ids[o->n] = id;
    o->n++;
}

/* ---- validation ---- */

/* Whether [off, off + count * size) lies in a file of 'bytes' bytes, 8-byte aligned. */
static int section_ok(uint64_t off, uint64_t count, uint64_t size, uint64_t bytes)
{
    return off % 8 == 0 && off <= bytes && count <= (bytes - off) / size;
}

static int pow2(uint32_t n)
{
    return n > 0 && (n & (n - 1)) == 0;
}

static int id_ok(const RtTokHeader *h, int32_t id, int allow_none)
{
    return (allow_none && id == -1) || (id >= 0 && (uint32_t)id < h->n_tokens);
}

static const char *check_layout(const RtTokHeader *h, size_t bytes)
{
    if (memcmp(h->magic, RT_TOK_MAGIC, sizeof h->magic) != 0)
        return "not a hetc tokenizer file (bad magic)";
    if (h->version != RT_TOK_VERSION)
        return "unsupported tokenizer file version";
    if (h->file_bytes != bytes)
        return "the file size does not match its header (truncated?)";
    if (h->model != RT_TOK_BPE && h->model != RT_TOK_SPM)
        return "unknown tokenizer model";
    if (h->n_tokens == 0)
        return "no tokens";
    if (!pow2(h->str_hash_cap) || !pow2(h->merge_hash_cap))
        return "a hash capacity is not a power of two";
    uint64_t n_ops = (uint64_t)h->n_norm + h->n_pretok + h->n_dec;
    if (!section_ok(h->tokens_off, h->n_tokens, sizeof(RtTokEntry), bytes)
        || !section_ok(h->str_hash_off, h->str_hash_cap, sizeof(uint32_t), bytes)
        || !section_ok(h->merge_hash_off, h->merge_hash_cap, sizeof(RtTokMerge), bytes)
        || !section_ok(h->added_off, h->n_added, sizeof(RtTokAdded), bytes)
        || !section_ok(h->ops_off, n_ops, sizeof(RtTokOp), bytes)
        || !section_ok(h->pool_off, h->pool_bytes, 1, bytes))
        return "a section lies outside the file";
    return NULL;
}

static const char *check_special_ids(const RtTokHeader *h)
{
    if (!id_ok(h, h->unk_id, 1) || !id_ok(h, h->bos_id, 1) || !id_ok(h, h->eos_id, 1) || !id_ok(h, h->pad_id, 1))
        return "a special token id is out of range";
    if (h->n_prefix > 4 || h->n_suffix > 4 || h->n_eos > 8)
        return "too many prefix, suffix or eos ids";
    for (uint32_t i = 0; i < h->n_prefix; i++)
        if (!id_ok(h, h->prefix[i], 0))
            return "a prefix id is out of range";
    for (uint32_t i = 0; i < h->n_suffix; i++)
        if (!id_ok(h, h->suffix[i], 0))
            return "a suffix id is out of range";
    for (uint32_t i = 0; i < h->n_eos; i++)
        if (!id_ok(h, h->eos[i], 0))
            return "an eos id is out of range";
    if (h->chat_format > RT_CHAT_LLAMA3)
        return "unknown chat format";
    return NULL;
}

/* Lookups probe linearly up to an empty slot: a run of occupied slots
 * longer than this (a legitimate table, at most half full, has runs of
 * tens) would make every lookup that lands in it slow. */
enum { MAX_PROBE_RUN = 1024 };

/* The longest (circular) run of slots used[i] != 0 in a table of cap
 * slots with at least one empty one. */
static uint32_t longest_run(const void *table, uint32_t cap, size_t stride, int (*used)(const void *slot))
{
    const char *t = table;
    uint32_t start = 0, best = 0, run = 0;
    while (used(t + (size_t)start * stride))
        start++;
    for (uint32_t k = 1; k <= cap; k++) {
        run = used(t + (size_t)((start + k) & (cap - 1)) * stride) ? run + 1 : 0;
        best = run > best ? run : best;
    }
    return best;
}

static int str_slot_used(const void *slot)
{
    return *(const uint32_t *)slot != 0;
}

static int merge_slot_used(const void *slot)
{
    return ((const RtTokMerge *)slot)->left != UINT32_MAX;
}

static int string_ok(const RtTokHeader *h, uint32_t off, uint32_t len)
{
    return off <= h->pool_bytes && len <= h->pool_bytes - off;
}

static const char *check_tables(const RtTokenizer *t)
{
    const RtTokHeader *h = t->hdr;
    for (uint32_t i = 0; i < h->n_tokens; i++)
        if (!string_ok(h, t->tokens[i].off, t->tokens[i].len))
            return "a token string lies outside the string pool";
    uint32_t used = 0;
    for (uint32_t i = 0; i < h->str_hash_cap; i++) {
        if (t->str_hash[i] > h->n_tokens)
            return "the string hash names a token out of range";
        used += t->str_hash[i] != 0;
    }
    if (used == h->str_hash_cap)
        return "the string hash is full";
    if (longest_run(t->str_hash, h->str_hash_cap, sizeof *t->str_hash, str_slot_used) > MAX_PROBE_RUN)
        return "the string hash has a run of more than 1024 occupied slots";
    used = 0;
    for (uint32_t i = 0; i < h->merge_hash_cap; i++) {
        const RtTokMerge *m = &t->merges[i];
        if (m->left == UINT32_MAX)
            continue;
        if (m->left >= h->n_tokens || m->right >= h->n_tokens || m->result >= h->n_tokens)
            return "a merge names a token out of range";
        used++;
    }
    if (used == h->merge_hash_cap)
        return "the merge hash is full";
    if (longest_run(t->merges, h->merge_hash_cap, sizeof *t->merges, merge_slot_used) > MAX_PROBE_RUN)
        return "the merge hash has a run of more than 1024 occupied slots";
    for (uint32_t i = 0; i < h->n_added; i++)
        if (t->added[i].id >= h->n_tokens || t->tokens[t->added[i].id].len == 0)
            return "an added token is out of range or empty";
    return NULL;
}

/* The group an op kind belongs to (0 normalizer, 1 pre-tokenizer, 2 decoder), -1 if unknown. */
static int op_group(uint32_t kind)
{
    if (kind >= RT_TN_PREPEND && kind <= RT_TN_STRIP)
        return 0;
    if (kind >= RT_TP_METASPACE && kind <= RT_TP_WHITESPACE_SPLIT)
        return 1;
    if (kind >= RT_TD_REPLACE && kind <= RT_TD_METASPACE)
        return 2;
    return -1;
}

static int op_args_ok(const RtTokOp *o)
{
    switch (o->kind) {
    case RT_TP_METASPACE:
    case RT_TD_METASPACE:
        return o->a >= RT_PREPEND_NEVER && o->a <= RT_PREPEND_ALWAYS && o->s1_len > 0;
    case RT_TP_SPLIT:
        return o->a >= RT_PAT_GPT2 && o->a <= RT_PAT_LAST && o->b >= RT_SPLIT_REMOVED
               && o->b <= RT_SPLIT_CONTIGUOUS;
    case RT_TD_STRIP:
        return o->a >= 0 && o->b >= 0 && o->s1_len > 0;
    default:
        return 1;
    }
}

static const char *check_ops(const RtTokenizer *t)
{
    const RtTokHeader *h = t->hdr;
    uint32_t n_ops = h->n_norm + h->n_pretok + h->n_dec;
    for (uint32_t i = 0; i < n_ops; i++) {
        const RtTokOp *o = &t->ops[i];
        int want = i < h->n_norm ? 0 : i < h->n_norm + h->n_pretok ? 1 : 2;
        if (op_group(o->kind) != want)
            return "an op of unknown kind, or out of its group";
        if (!string_ok(h, o->s1_off, o->s1_len) || !string_ok(h, o->s2_off, o->s2_len))
            return "an op string lies outside the string pool";
        if (!op_args_ok(o))
            return "an op has invalid arguments";
    }
    return NULL;
}

/* ---- tables built at open ---- */

static void build_byte_tokens(RtTokenizer *t)
{
    for (int b = 0; b < 256; b++)
        t->byte_token[b] = -1;
    for (uint32_t i = t->hdr->n_tokens; i-- > 0;)
        if ((t->tokens[i].flags & RT_TOK_BYTE) && t->tokens[i].byte < 256)
            t->byte_token[t->tokens[i].byte] = (int32_t)i;
}

static int added_stage(const RtTokAdded *a)
{
    return a->flags & RT_TOK_NORMALIZED ? 1 : 0;
}

static uint8_t added_first_byte(const RtTokenizer *t, const RtTokAdded *a)
{
    return (uint8_t)t->pool[t->tokens[a->id].off];
}

/* Orders the added tokens by stage and first byte, keeping longest first
 * within each (a stable counting sort). */
static int build_added_index(RtTokenizer *t)
{
    uint32_t n = t->hdr->n_added;
    t->added_order = rt_alloc((n ? n : 1) * sizeof *t->added_order);
    if (!t->added_order)
        return -1;
    uint32_t count[RT_TOK_STAGES * 256 + 1] = {0};
    for (uint32_t i = 0; i < n; i++)
        count[added_stage(&t->added[i]) * 256 + added_first_byte(t, &t->added[i]) + 1]++;
    for (int k = 0; k < RT_TOK_STAGES * 256; k++)
        count[k + 1] += count[k];
    for (int s = 0; s < RT_TOK_STAGES; s++)
        memcpy(t->first[s], count + s * 256, sizeof t->first[s]);
    for (uint32_t i = 0; i < n; i++)
        t->added_order[count[added_stage(&t->added[i]) * 256 + added_first_byte(t, &t->added[i])]++] = i;
    return 0;
}

static RtStatus open_checked(RtTokenizer **out, const void *data, size_t bytes, const char *name, void *map)
{
    if (bytes < sizeof(RtTokHeader) || (uintptr_t)data % 8 != 0) {
        rt_set_error("%s: %s", name, bytes < sizeof(RtTokHeader) ? "too short for a tokenizer file"
                                                                   : "the data is not 8-byte aligned");
        return RT_ERR_FORMAT;
    }
    const uint8_t *base = data;
    const RtTokHeader *h = data;
    const char *why = check_layout(h, bytes);
    if (why) {
        rt_set_error("%s: %s", name, why);
        return RT_ERR_FORMAT;
    }
    RtTokenizer *t = rt_alloc(sizeof *t);
    if (!t) {
        rt_set_error("%s: out of memory", name);
        return RT_ERR_NOMEM;
    }
    *t = (RtTokenizer){
        .map = map, .map_bytes = bytes, .hdr = h,
        .tokens = (const void *)(base + h->tokens_off), .str_hash = (const void *)(base + h->str_hash_off),
        .merges = (const void *)(base + h->merge_hash_off), .added = (const void *)(base + h->added_off),
        .ops = (const void *)(base + h->ops_off), .pool = (const char *)base + h->pool_off,
    };
    why = check_special_ids(h);
    if (!why)
        why = check_tables(t);
    if (!why)
        why = check_ops(t);
    if (why || build_added_index(t)) {
        rt_set_error("%s: %s", name, why ? why : "out of memory");
        rt_free(t);
        return why ? RT_ERR_FORMAT : RT_ERR_NOMEM;
    }
    build_byte_tokens(t);
    *out = t;
    return RT_OK;
}

RtStatus rt_tok_open_mem(RtTokenizer **t, const void *data, size_t bytes)
{
    *t = NULL;
    return open_checked(t, data, bytes, "tokenizer data", NULL);
}

RtStatus rt_tok_open(RtTokenizer **t, const char *path)
{
    *t = NULL;
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        rt_set_error("%s: cannot open: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return RT_ERR_IO;
    }
    size_t bytes = (size_t)st.st_size;
    void *map = bytes ? mmap(NULL, bytes, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    close(fd);
    if (map == MAP_FAILED) {
        rt_set_error("%s: %s", path, bytes ? "cannot map the file" : "the file is empty");
        return bytes ? RT_ERR_IO : RT_ERR_FORMAT;
    }
    RtStatus st2 = open_checked(t, map, bytes, path, map);
    if (st2 != RT_OK)
        munmap(map, bytes);
    return st2;
}

void rt_tok_close(RtTokenizer *t)
{
    if (!t)
        return;
    if (t->map)
        munmap(t->map, t->map_bytes);
    rt_free(t->added_order);
    rt_free(t);
}

const RtTokHeader *rt_tok_header(const RtTokenizer *t)
{
    return t->hdr;
}

int rt_tok_is_eos(const RtTokenizer *t, int32_t id)
{
    for (uint32_t i = 0; i < t->hdr->n_eos; i++)
        if (t->hdr->eos[i] == id)
            return 1;
    return 0;
}

/* ---- working buffers of one encode ---- */

/* Normalizers, pre-tokenizers and decoders may lengthen text (U+2581 for a
 * space, NFC, a prepended string), but a text of n bytes never grows past
 * TEXT_GROWTH * n + TEXT_SLACK: a file whose ops chain replacements into
 * more (exponential growth) is stopped there. */
enum { TEXT_GROWTH = 16, TEXT_SLACK = 1 << 16 };

static size_t text_budget(size_t n)
{
    return n > (SIZE_MAX - TEXT_SLACK) / TEXT_GROWTH ? SIZE_MAX : n * TEXT_GROWTH + TEXT_SLACK;
}

typedef struct {
    char *p;
    size_t len, cap;
    size_t max;                 /* the most bytes it may hold */
    int over;                   /* a put went past max */
} Buf;

/* A piece of text: [off, off+len) of the current text. */
typedef struct {
    size_t off, len;
    int first;                  /* starts at offset 0 of the original text */
} Piece;

typedef struct {
    Piece *p;
    size_t n, cap;
} Pieces;

/* A span of a split: a match of the pattern or the text between matches. */
typedef struct {
    size_t off, len;
    int match;
} Span;

typedef struct {
    Span *p;
    size_t n, cap;
} Spans;

typedef struct {
    const RtTokenizer *t;
    int parse_special;
    RtTokOut out;
    Buf norm[2];                /* normalizers write to these in turn */
    Buf text[2];                /* pre-tokenizers that rewrite the text, in turn */
    Pieces pieces[2];           /* pre-tokenizers split into these in turn */
    Spans spans;                /* one split's spans */
    RtTokModelWork model;
} Enc;

/* items (of *cap elements of size elem) grown to hold need > 0, doubling;
 * NULL when out of memory, items then untouched. */
static void *reserve(void *items, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return items;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *p = rt_realloc(items, c * elem);
    if (p)
        *cap = c;
    return p;
}

static int buf_put(Buf *b, const void *s, size_t n)
{
    if (n == 0)
        return 0;
    if (n > b->max - b->len) {
        b->over = 1;
        return -1;
    }
    char *p = reserve(b->p, &b->cap, b->len + n, 1);
    if (!p)
        return -1;
    b->p = p;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    return 0;
}

static int pieces_add(Pieces *ps, size_t off, size_t len, int first)
{
    if (len == 0)
        return 0;
    Piece *p = reserve(ps->p, &ps->cap, ps->n + 1, sizeof *p);
    if (!p)
        return -1;
    ps->p = p;
    ps->p[ps->n++] = (Piece){off, len, first};
    return 0;
}

static int spans_add(Spans *sp, size_t off, size_t len, int match)
{
    if (len == 0)
        return 0;
    Span *p = reserve(sp->p, &sp->cap, sp->n + 1, sizeof *p);
    if (!p)
        return -1;
    sp->p = p;
    sp->p[sp->n++] = (Span){off, len, match};
    return 0;
}

static void enc_free(Enc *e)
{
    for (int i = 0; i < 2; i++) {
        rt_free(e->norm[i].p);
        rt_free(e->text[i].p);
        rt_free(e->pieces[i].p);
    }
    rt_free(e->spans.p);
    rt_tok_model_work_free(&e->model);
}

/* ---- characters ---- */

static const char *op_s1(const RtTokenizer *t, const RtTokOp *o)
{
    return t->pool + o->s1_off;
}

static const char *op_s2(const RtTokenizer *t, const RtTokOp *o)
{
    return t->pool + o->s2_off;
}

static int starts_with(const char *s, size_t len, const char *p, size_t plen)
{
    return plen <= len && memcmp(s, p, plen) == 0;
}

/* The code point before s[i] (0xFFFD if invalid); *start gets its offset. */
static uint32_t char_before(const char *s, size_t i, size_t *start)
{
    size_t j = i - 1, adv;
    while (j > 0 && i - j < 4 && ((uint8_t)s[j] & 0xC0) == 0x80)
        j--;
    uint32_t cp = rt_utf8_decode(s + j, i - j, &adv);
    if (j + adv != i) {
        *start = i - 1;
        return 0xFFFD;
    }
    *start = j;
    return cp;
}

/* \w of the Rust regex crate: letters, marks, decimal and letter numbers,
 * connector punctuation and the joiners. */
static int is_word_char(uint32_t cp)
{
    RtUcCategory c = rt_uc_category(cp);
    return (c >= RT_UC_LU && c <= RT_UC_ME) || c == RT_UC_ND || c == RT_UC_NL || c == RT_UC_PC || cp == 0x200C
           || cp == 0x200D;
}

/* ---- added tokens ---- */

/* An added token to split on: [start, end) with whitespace stripping. */
typedef struct {
    size_t start, end;
    int32_t id;
} AddedMatch;

/* The leftmost-longest added token of a stage in s[pos..len): index into added and offset. */
static int added_find(const RtTokenizer *t, int stage, const char *s, size_t len, size_t pos, uint32_t *which,
                      size_t *at)
{
    for (size_t i = pos; i < len; i++) {
        uint8_t c = (uint8_t)s[i];
        for (uint32_t k = t->first[stage][c]; k < t->first[stage][c + 1]; k++) {
            const RtTokEntry *e = &t->tokens[t->added[t->added_order[k]].id];
            if (starts_with(s + i, len - i, t->pool + e->off, e->len)) {
                *which = t->added_order[k];
                *at = i;
                return 1;
            }
        }
    }
    return 0;
}

/* Neither s[start-1] nor s[end] is a word character. */
static int single_word_ok(const char *s, size_t len, size_t start, size_t end)
{
    size_t dummy, adv;
    if (start > 0 && is_word_char(char_before(s, start, &dummy)))
        return 0;
    return end == len || !is_word_char(rt_utf8_decode(s + end, len - end, &adv));
}

/* Start of the whitespace that ends s[0..i). */
static size_t space_start_before(const char *s, size_t i)
{
    size_t start;
    while (i > 0 && rt_uc_is_space(char_before(s, i, &start)))
        i = start;
    return i;
}

/* End of the whitespace that starts s[i..len). */
static size_t space_end_after(const char *s, size_t len, size_t i)
{
    size_t adv;
    while (i < len) {
        uint32_t cp = rt_utf8_decode(s + i, len - i, &adv);
        if (!rt_uc_is_space(cp))
            break;
        i += adv;
    }
    return i;
}

/* The next added token of a stage to split s on after seg (the end of the
 * previous split), as AddedVocabulary::find_matches: special ones are
 * skipped (as text) without parse_special, so are single-word ones inside
 * words; lstrip takes the whitespace before (back to seg at most), rstrip
 * the whitespace after. */
static int next_added(const Enc *e, int stage, const char *s, size_t len, size_t seg, AddedMatch *m)
{
    const RtTokenizer *t = e->t;
    uint32_t k;
    size_t at, pos = seg;
    while (added_find(t, stage, s, len, pos, &k, &at)) {
        const RtTokAdded *a = &t->added[k];
        size_t end = at + t->tokens[a->id].len;
        pos = end;
        if ((a->flags & RT_TOK_SPECIAL) && !e->parse_special)
            continue;
        if ((a->flags & RT_TOK_SINGLE_WORD) && !single_word_ok(s, len, at, end))
            continue;
        m->start = at;
        if (a->flags & RT_TOK_LSTRIP) {
            size_t sp = space_start_before(s, at);
            m->start = sp > seg ? sp : seg;
        }
        m->end = a->flags & RT_TOK_RSTRIP ? space_end_after(s, len, end) : end;
        m->id = (int32_t)a->id;
        return 1;
    }
    return 0;
}

/* ---- normalizers ---- */

static int norm_replace(const char *s, size_t len, const char *from, size_t nfrom, const char *to, size_t nto,
                        Buf *out)
{
    size_t i = 0, copied = 0;
    while (nfrom > 0 && i + nfrom <= len) {
        if (memcmp(s + i, from, nfrom) != 0) {
            i++;
            continue;
        }
        if (buf_put(out, s + copied, i - copied) || buf_put(out, to, nto))
            return -1;
        i += nfrom;
        copied = i;
    }
    return buf_put(out, s + copied, len - copied);
}

static int norm_nfc(const char *s, size_t len, Buf *out)
{
    size_t need = rt_uc_nfc(s, len, out->p, out->cap);
    if (need > out->max) {
        out->over = 1;
        return -1;
    }
    if (need > out->cap) {
        char *p = reserve(out->p, &out->cap, need, 1);
        if (!p)
            return -1;
        out->p = p;
        rt_uc_nfc(s, len, out->p, out->cap);
    }
    out->len = need;
    return 0;
}

/* Lowercases valid characters; invalid bytes are kept as they are. */
static int norm_lower(const char *s, size_t len, Buf *out)
{
    for (size_t i = 0, adv; i < len; i += adv) {
        uint32_t cp = rt_utf8_decode(s + i, len - i, &adv);
        char u[4];
        int valid = cp != 0xFFFD || adv == 3;
        size_t n = valid ? rt_utf8_encode(rt_uc_lower(cp), u) : 1;
        if (buf_put(out, valid ? u : s + i, n))
            return -1;
    }
    return 0;
}

static int norm_strip(const char *s, size_t len, int left, int right, Buf *out)
{
    size_t start = left ? space_end_after(s, len, 0) : 0;
    size_t end = right ? space_start_before(s, len) : len;
    return buf_put(out, s + start, end > start ? end - start : 0);
}

static int normalize_once(const RtTokenizer *t, const RtTokOp *o, const char *s, size_t len, Buf *out)
{
    out->len = 0;
    switch (o->kind) {
    case RT_TN_PREPEND:
        if (len > 0 && buf_put(out, op_s1(t, o), o->s1_len))
            return -1;
        return buf_put(out, s, len);
    case RT_TN_REPLACE:
        return norm_replace(s, len, op_s1(t, o), o->s1_len, op_s2(t, o), o->s2_len, out);
    case RT_TN_NFC:
        return norm_nfc(s, len, out);
    case RT_TN_LOWERCASE:
        return norm_lower(s, len, out);
    default:
        return norm_strip(s, len, o->a, o->b, out);
    }
}

/* Runs the normalizers over s; *out is s itself when there are none. */
static int normalize(Enc *e, const char *s, size_t len, const char **out, size_t *out_len)
{
    const RtTokenizer *t = e->t;
    for (uint32_t i = 0; i < t->hdr->n_norm; i++) {
        Buf *b = &e->norm[i % 2];
        if (normalize_once(t, &t->ops[i], s, len, b))
            return -1;
        s = b->len ? b->p : "";     /* an empty buffer may have no storage */
        len = b->len;
    }
    *out = s;
    *out_len = len;
    return 0;
}

/* ---- splitting ---- */

typedef enum { MATCH_PATTERN, MATCH_SPACE, MATCH_LITERAL } MatchKind;

/* What a split matches: a pattern, each whitespace character or each
 * occurrence of a literal. */
typedef struct {
    MatchKind kind;
    RtTokPattern pattern;
    const char *lit;
    size_t lit_len;
} Matcher;

/* Whether the character at s (len bytes left) is a match of a character
 * matcher; *adv gets the bytes it takes. */
static int char_matches(const Matcher *m, const char *s, size_t len, size_t *adv)
{
    if (m->kind == MATCH_SPACE)
        return rt_uc_is_space(rt_utf8_decode(s, len, adv));
    int hit = starts_with(s, len, m->lit, m->lit_len);
    *adv = hit ? m->lit_len : 1;
    return hit;
}

static int matcher_next(const Matcher *m, const char *s, size_t len, size_t pos, size_t *start, size_t *end)
{
    if (m->kind == MATCH_PATTERN)
        return rt_pattern_next(m->pattern, s, len, pos, start, end);
    for (size_t i = pos, adv; i < len; i += adv) {
        if (char_matches(m, s + i, len - i, &adv)) {
            *start = i;
            *end = i + adv;
            return 1;
        }
    }
    return 0;
}

/* The matches and the text between them over piece p, as Hugging Face's
 * find_matches (invert flips them). */
static int find_spans(Enc *e, const char *text, const Piece *p, const Matcher *m, int invert)
{
    const char *s = text + p->off;
    size_t prev = 0, pos = 0, start, end;
    e->spans.n = 0;
    while (pos < p->len && matcher_next(m, s, p->len, pos, &start, &end)) {
        if (end <= start) {     /* an empty match splits nothing */
            pos = start + 1;
            continue;
        }
        if (spans_add(&e->spans, p->off + prev, start - prev, invert)
            || spans_add(&e->spans, p->off + start, end - start, !invert))
            return -1;
        prev = pos = end;
    }
    return spans_add(&e->spans, p->off + prev, p->len - prev, invert);
}

/* Appends span sp to the piece list, or extends its last piece (merge). */
static int put_span(Pieces *dst, const Span *sp, const Piece *from, int merge)
{
    if (merge) {
        Piece *last = &dst->p[dst->n - 1];
        last->len = sp->off + sp->len - last->off;
        return 0;
    }
    return pieces_add(dst, sp->off, sp->len, from->first && sp->off == from->off);
}

/* Turns the spans of piece p into pieces by SplitDelimiterBehavior. */
static int apply_behavior(const Spans *spans, const Piece *p, RtTokBehavior behavior, Pieces *dst)
{
    size_t base = dst->n;
    int prev_match = 0;
    for (size_t i = 0; i < spans->n; i++) {
        const Span *sp = &spans->p[i];
        int have_last = dst->n > base, rc = 0;
        switch (behavior) {
        case RT_SPLIT_REMOVED:
            rc = sp->match ? 0 : put_span(dst, sp, p, 0);
            break;
        case RT_SPLIT_ISOLATED:
            rc = put_span(dst, sp, p, 0);
            break;
        case RT_SPLIT_MERGED_PREVIOUS:
            rc = put_span(dst, sp, p, sp->match && !prev_match && have_last);
            break;
        case RT_SPLIT_MERGED_NEXT:
            rc = put_span(dst, sp, p, 0);
            if (rc == 0 && sp->match && i + 1 < spans->n && !spans->p[i + 1].match)
                rc = put_span(dst, &spans->p[++i], p, 1);
            break;
        case RT_SPLIT_CONTIGUOUS:
            rc = put_span(dst, sp, p, sp->match == prev_match && have_last);
            break;
        }
        if (rc)
            return -1;
        prev_match = spans->p[i].match;
    }
    return 0;
}

/* Splits every piece of src into dst. */
static int split_all(Enc *e, const char *text, const Pieces *src, Pieces *dst, const Matcher *m,
                     RtTokBehavior behavior, int invert)
{
    dst->n = 0;
    for (size_t i = 0; i < src->n; i++)
        if (find_spans(e, text, &src->p[i], m, invert) || apply_behavior(&e->spans, &src->p[i], behavior, dst))
            return -1;
    return 0;
}

/* ---- pre-tokenizers ---- */

/* The text and pieces between pre-tokenizers. */
typedef struct {
    const char *text;
    int buf;                    /* e->text index holding text, -1 for the caller's */
    int pieces;                 /* e->pieces index holding the pieces */
} PreState;

/* Metaspace: ' ' becomes the replacement, which is put before a piece
 * (always, or only at the very start of the text, unless it is there
 * already); then the text may be split before each replacement. */
static int pre_metaspace(Enc *e, const RtTokOp *o, PreState *st)
{
    const char *rep = op_s1(e->t, o);
    int nb = st->buf == 0 ? 1 : 0;
    Buf *out = &e->text[nb];
    Pieces *src = &e->pieces[st->pieces], *mid = &e->pieces[!st->pieces];
    out->len = 0;
    mid->n = 0;
    for (size_t i = 0; i < src->n; i++) {
        const Piece *p = &src->p[i];
        const char *s = st->text + p->off;
        int has = s[0] == ' ' || starts_with(s, p->len, rep, o->s1_len);
        int want = o->a == RT_PREPEND_ALWAYS || (o->a == RT_PREPEND_FIRST && p->first);
        size_t off = out->len;
        if ((!has && want && buf_put(out, rep, o->s1_len)) || norm_replace(s, p->len, " ", 1, rep, o->s1_len, out)
            || pieces_add(mid, off, out->len - off, p->first))
            return -1;
    }
    st->text = out->p;
    st->buf = nb;
    if (!o->b) {
        st->pieces = !st->pieces;
        return 0;
    }
    Matcher m = {MATCH_LITERAL, 0, rep, o->s1_len};
    return split_all(e, st->text, mid, src, &m, RT_SPLIT_MERGED_NEXT, 0);
}

/* ByteLevel: a space before each piece that lacks one (a), the GPT-2
 * pattern split (b); the byte mapping itself is an identity here. */
static int pre_byte_level(Enc *e, const RtTokOp *o, PreState *st)
{
    if (o->a) {
        int nb = st->buf == 0 ? 1 : 0;
        Buf *out = &e->text[nb];
        Pieces *ps = &e->pieces[st->pieces];
        out->len = 0;
        for (size_t i = 0; i < ps->n; i++) {
            Piece *p = &ps->p[i];
            size_t off = out->len;
            if ((st->text[p->off] != ' ' && buf_put(out, " ", 1)) || buf_put(out, st->text + p->off, p->len))
                return -1;
            p->off = off;
            p->len = out->len - off;
        }
        st->text = out->p;
        st->buf = nb;
    }
    if (!o->b)
        return 0;
    Matcher m = {MATCH_PATTERN, RT_PAT_GPT2, NULL, 0};
    st->pieces = !st->pieces;
    return split_all(e, st->text, &e->pieces[!st->pieces], &e->pieces[st->pieces], &m, RT_SPLIT_ISOLATED, 0);
}

static int pre_tokenize_once(Enc *e, const RtTokOp *o, PreState *st)
{
    Matcher m = {MATCH_PATTERN, RT_PAT_DIGITS, NULL, 0};
    RtTokBehavior behavior = RT_SPLIT_ISOLATED;
    int invert = 0;
    switch (o->kind) {
    case RT_TP_METASPACE:
        return pre_metaspace(e, o, st);
    case RT_TP_BYTE_LEVEL:
        return pre_byte_level(e, o, st);
    case RT_TP_SPLIT:
        m.pattern = (RtTokPattern)o->a;
        behavior = (RtTokBehavior)o->b;
        invert = o->c != 0;
        break;
    case RT_TP_DIGITS:
        behavior = o->a ? RT_SPLIT_ISOLATED : RT_SPLIT_CONTIGUOUS;
        break;
    default:
        m.kind = MATCH_SPACE;
        behavior = RT_SPLIT_REMOVED;
        break;
    }
    st->pieces = !st->pieces;
    return split_all(e, st->text, &e->pieces[!st->pieces], &e->pieces[st->pieces], &m, behavior, invert);
}

/* Pre-tokenizes s (first: it starts the original text) and runs the model
 * on every piece. */
static int encode_piece(Enc *e, const char *s, size_t len, int first)
{
    const RtTokenizer *t = e->t;
    if (len == 0)
        return 0;
    PreState st = {s, -1, 0};
    e->pieces[0].n = 0;
    if (pieces_add(&e->pieces[0], 0, len, first))
        return -1;
    for (uint32_t i = 0; i < t->hdr->n_pretok; i++)
        if (pre_tokenize_once(e, &t->ops[t->hdr->n_norm + i], &st))
            return -1;
    const Pieces *ps = &e->pieces[st.pieces];
    for (size_t i = 0; i < ps->n; i++)
        if (rt_tok_model_encode(t, &e->model, st.text + ps->p[i].off, ps->p[i].len, &e->out))
            return -1;
    return 0;
}

/* A piece of the raw text between added tokens: normalized, then split on
 * the added tokens matched in normalized text. */
static int encode_segment(Enc *e, const char *s, size_t len, int first)
{
    const char *n;
    size_t nlen, seg = 0;
    AddedMatch m;
    if (len == 0)
        return 0;
    if (normalize(e, s, len, &n, &nlen))
        return -1;
    while (next_added(e, 1, n, nlen, seg, &m)) {
        if (encode_piece(e, n + seg, m.start - seg, first && seg == 0))
            return -1;
        rt_tok_out_push(&e->out, m.id);
        seg = m.end;
    }
    return encode_piece(e, n + seg, nlen - seg, first && seg == 0);
}

static int encode_text(Enc *e, const char *text, size_t len)
{
    size_t seg = 0;
    AddedMatch m;
    while (next_added(e, 0, text, len, seg, &m)) {
        if (encode_segment(e, text + seg, m.start - seg, seg == 0))
            return -1;
        rt_tok_out_push(&e->out, m.id);
        seg = m.end;
    }
    return encode_segment(e, text + seg, len - seg, seg == 0);
}

#define REPLACEMENT_CHAR "\xEF\xBF\xBD"     /* U+FFFD */

/* Byte-level vocabularies see invalid UTF-8 as llama.cpp does: each byte
 * that starts no valid sequence becomes U+FFFD (whose three bytes are then
 * encoded). Returns a malloc'd copy, or NULL when text is valid (or on no
 * memory, with *failed set). */
static char *replace_invalid(const char *text, size_t len, size_t *out_len, int *failed)
{
    size_t extra = 0, adv;
    for (size_t i = 0; i < len; i += adv)
        if (rt_utf8_decode(text + i, len - i, &adv) == 0xFFFD && adv != 3) extra += 2;
    if (!extra) return NULL;
    char *out = rt_alloc(len + extra);
    if (!out) {
        *failed = 1;
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < len; i += adv) {
        uint32_t cp = rt_utf8_decode(text + i, len - i, &adv);
        if (cp == 0xFFFD && adv != 3) {
            memcpy(out + k, REPLACEMENT_CHAR, 3);
            k += 3;
        } else {
            memcpy(out + k, text + i, adv);
            k += adv;
        }
    }
    *out_len = k;
    return out;
}

RtStatus rt_tok_encode(const RtTokenizer *t, const char *text, size_t len, int add_special, int parse_special,
                       int32_t *ids, size_t cap, size_t *n)
{
    const RtTokHeader *h = t->hdr;
    *n = 0;
    if (len > INT32_MAX / 3) {
        rt_set_error("tokenizer: the text has %zu bytes; at most %d can be encoded at once", len, INT32_MAX / 3);
        return RT_ERR_ARG;
    }
    int failed = 0;
    char *lossy = h->flags & RT_TOK_BYTE_LEVEL ? replace_invalid(text, len, &len, &failed) : NULL;
    if (failed) {
        rt_set_error("tokenizer: out of memory encoding %zu bytes", len);
        return RT_ERR_NOMEM;
    }
    Enc e = {.t = t, .parse_special = parse_special, .out = {ids, cap, 0}};
    for (int i = 0; i < 2; i++)
        e.norm[i].max = e.text[i].max = text_budget(len);
    for (uint32_t i = 0; add_special && i < h->n_prefix; i++)
        rt_tok_out_push(&e.out, h->prefix[i]);
    int rc = encode_text(&e, lossy ? lossy : text, len);
    rt_free(lossy);
    for (uint32_t i = 0; add_special && i < h->n_suffix; i++)
        rt_tok_out_push(&e.out, h->suffix[i]);
    int over = e.norm[0].over || e.norm[1].over || e.text[0].over || e.text[1].over;
    enc_free(&e);
    *n = e.out.n;
    if (rc && over) {
        rt_set_error("tokenizer: the normalizers and pre-tokenizers make %zu bytes of text longer than %zu bytes",
                     len, text_budget(len));
        return RT_ERR_FORMAT;
    }
    if (rc) {
        rt_set_error("tokenizer: out of memory encoding %zu bytes", len);
        return RT_ERR_NOMEM;
    }
    if (e.out.n > cap) {
        rt_set_error("tokenizer: the text has %zu tokens, more than the %zu expected", e.out.n, cap);
        return RT_ERR_ARG;
    }
    return RT_OK;
}

/* ---- decode ---- */

/* A list of token strings, as offsets into one buffer. */
typedef struct {
    size_t off, len;
} Str;

typedef struct {
    Buf b;
    Str *s;
    size_t n, cap;
} StrList;


/* Ends the token that began at offset start of l's buffer. */
static int list_close(StrList *l, size_t start)
{
    Str *p = reserve(l->s, &l->cap, l->n + 1, sizeof *p);
    if (!p)
        return -1;
    l->s = p;
    l->s[l->n++] = (Str){start, l->b.len - start};
    return 0;
}

static int list_push(StrList *l, const char *s, size_t n)
{
    size_t start = l->b.len;
    return buf_put(&l->b, s, n) || list_close(l, start);
}

static void list_clear(StrList *l)
{
    l->b.len = 0;
    l->n = 0;
}

static const char *list_str(const StrList *l, size_t i)
{
    return l->b.p ? l->b.p + l->s[i].off : "";
}

static int utf8_valid(const char *s, size_t n)
{
    for (size_t i = 0, adv; i < n; i += adv)
        if (rt_utf8_decode(s + i, n - i, &adv) == 0xFFFD && adv != 3)
            return 0;
    return 1;
}

/* s as String::from_utf8_lossy: each maximal invalid subsequence -> U+FFFD. */
static int put_lossy(Buf *out, const char *s, size_t n)
{
    for (size_t i = 0, adv; i < n; i += adv) {
        uint32_t cp = rt_utf8_decode(s + i, n - i, &adv);
        if (cp != 0xFFFD || adv == 3) {
            if (buf_put(out, s + i, adv))
                return -1;
            continue;
        }
        while (adv < 3 && adv < n - i && rt_utf8_complete(s + i, adv + 1) == 0)
            adv++;
        if (buf_put(out, REPLACEMENT_CHAR, 3))
            return -1;
    }
    return 0;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The byte a "<0xXX>" token stands for, or -1. */
static int byte_token_value(const char *s, size_t n)
{
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>')
        return -1;
    int hi = hex_digit(s[3]), lo = hex_digit(s[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

/* A run of byte tokens: its text if it is UTF-8, else one U+FFFD per byte. */
static int flush_bytes(Buf *run, StrList *dst)
{
    int valid = utf8_valid(run->p, run->len);
    if (valid && run->len > 0 && list_push(dst, run->p, run->len))
        return -1;
    for (size_t i = 0; !valid && i < run->len; i++)
        if (list_push(dst, REPLACEMENT_CHAR, 3))
            return -1;
    run->len = 0;
    return 0;
}

static int dec_byte_fallback(const StrList *src, StrList *dst, Buf *run)
{
    run->len = 0;
    for (size_t i = 0; i < src->n; i++) {
        int v = byte_token_value(list_str(src, i), src->s[i].len);
        if (v >= 0) {
            char c = (char)v;
            if (buf_put(run, &c, 1))
                return -1;
        } else if (flush_bytes(run, dst) || list_push(dst, list_str(src, i), src->s[i].len)) {
            return -1;
        }
    }
    return flush_bytes(run, dst);
}

/* Strip: up to a leading and b trailing characters equal to ch, per token. */
static int dec_strip(const StrList *src, StrList *dst, uint32_t ch, int32_t a, int32_t b)
{
    for (size_t i = 0; i < src->n; i++) {
        const char *s = list_str(src, i);
        size_t len = src->s[i].len, start = 0, end = len, adv, prev;
        for (int32_t k = 0; k < a && start < len && rt_utf8_decode(s + start, len - start, &adv) == ch; k++)
            start += adv;
        for (int32_t k = 0; k < b && end > start && char_before(s, end, &prev) == ch; k++)
            end = prev;
        if (list_push(dst, s + start, end - start))
            return -1;
    }
    return 0;
}

/* Metaspace: the replacement becomes ' ', but vanishes from the first
 * token unless the prepend scheme is 'never'. */
static int dec_metaspace(const RtTokenizer *t, const RtTokOp *o, const StrList *src, StrList *dst)
{
    for (size_t i = 0; i < src->n; i++) {
        size_t start = dst->b.len;
        int drop = i == 0 && o->a != RT_PREPEND_NEVER;
        if (norm_replace(list_str(src, i), src->s[i].len, op_s1(t, o), o->s1_len, " ", !drop, &dst->b)
            || list_close(dst, start))
            return -1;
    }
    return 0;
}

static int dec_replace(const RtTokenizer *t, const RtTokOp *o, const StrList *src, StrList *dst)
{
    for (size_t i = 0; i < src->n; i++) {
        size_t start = dst->b.len;
        if (norm_replace(list_str(src, i), src->s[i].len, op_s1(t, o), o->s1_len, op_s2(t, o), o->s2_len, &dst->b)
            || list_close(dst, start))
            return -1;
    }
    return 0;
}

/* Fuse: one string of all. */
static int dec_fuse(const StrList *src, StrList *dst)
{
    size_t start = dst->b.len;
    for (size_t i = 0; i < src->n; i++)
        if (buf_put(&dst->b, list_str(src, i), src->s[i].len))
            return -1;
    return list_close(dst, start);
}

/* ByteLevel: one string of all (the strings are bytes already), its
 * invalid UTF-8 replaced as String::from_utf8_lossy does. */
static int dec_byte_level(const StrList *src, StrList *dst, Buf *all)
{
    all->len = 0;
    for (size_t i = 0; i < src->n; i++)
        if (buf_put(all, list_str(src, i), src->s[i].len))
            return -1;
    size_t start = dst->b.len;
    return put_lossy(&dst->b, all->p, all->len) || list_close(dst, start);
}

static int decode_once(const RtTokenizer *t, const RtTokOp *o, const StrList *src, StrList *dst, Buf *scratch)
{
    size_t adv;
    switch (o->kind) {
    case RT_TD_REPLACE:
        return dec_replace(t, o, src, dst);
    case RT_TD_BYTE_FALLBACK:
        return dec_byte_fallback(src, dst, scratch);
    case RT_TD_FUSE:
        return dec_fuse(src, dst);
    case RT_TD_STRIP:
        return dec_strip(src, dst, rt_utf8_decode(op_s1(t, o), o->s1_len, &adv), o->a, o->b);
    case RT_TD_BYTE_LEVEL:
        return dec_byte_level(src, dst, scratch);
    default:
        return dec_metaspace(t, o, src, dst);
    }
}

/* The token strings of ids: out-of-range and unused ids dropped, special
 * (and GGUF control) ones too with skip_special. */
static int token_strings(const RtTokenizer *t, const int32_t *ids, size_t n, int skip_special, StrList *l)
{
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || (uint32_t)ids[i] >= t->hdr->n_tokens)
            continue;
        const RtTokEntry *e = &t->tokens[ids[i]];
        if ((e->flags & RT_TOK_UNUSED) || (skip_special && (e->flags & (RT_TOK_SPECIAL | RT_TOK_CONTROL))))
            continue;
        if (list_push(l, t->pool + e->off, e->len))
            return -1;
    }
    return 0;
}

/* Runs the decoders; the result is the concatenation of *out's strings
 * (joined by spaces when there are no decoders, as Hugging Face does). */
static int run_decoders(const RtTokenizer *t, StrList lists[2], Buf *scratch, const StrList **out)
{
    const RtTokOp *ops = t->ops + t->hdr->n_norm + t->hdr->n_pretok;
    int cur = 0;
    for (uint32_t i = 0; i < t->hdr->n_dec; i++, cur = !cur) {
        list_clear(&lists[!cur]);
        if (decode_once(t, &ops[i], &lists[cur], &lists[!cur], scratch))
            return -1;
    }
    *out = &lists[cur];
    return 0;
}

/* Appends n bytes to out (cap bytes) as far as they fit; *total counts all. */
static void put_out(char *out, size_t cap, size_t *total, const char *s, size_t n)
{
    if (*total < cap)
        memcpy(out + *total, s, n < cap - *total ? n : cap - *total);
    *total += n;
}

size_t rt_tok_decode(const RtTokenizer *t, const int32_t *ids, size_t n, int skip_special, char *out, size_t cap)
{
    StrList lists[2] = {{.b.max = SIZE_MAX}};
    Buf scratch = {0};
    const StrList *res = NULL;
    size_t total = 0;
    int rc = token_strings(t, ids, n, skip_special, &lists[0]);
    size_t bytes = lists[0].b.len;
    lists[0].b.max = lists[1].b.max = scratch.max = text_budget(bytes);
    rc = rc || run_decoders(t, lists, &scratch, &res);
    for (size_t i = 0; rc == 0 && i < res->n; i++) {
        if (t->hdr->n_dec == 0 && i > 0)
            put_out(out, cap, &total, " ", 1);
        put_out(out, cap, &total, list_str(res, i), res->s[i].len);
    }
    if (rc && (lists[0].b.over || lists[1].b.over || scratch.over))
        rt_set_error("tokenizer: the decoders make the %zu bytes of %zu tokens longer than %zu bytes", bytes, n,
                     text_budget(bytes));
    else if (rc)
        rt_set_error("tokenizer: out of memory decoding %zu tokens", n);
    if (rc)
        total = 0;
    for (int i = 0; i < 2; i++) {
        rt_free(lists[i].b.p);
        rt_free(lists[i].s);
    }
    rt_free(scratch.p);
    return total;
}
