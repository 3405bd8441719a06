/* rt_bpe.c: the models of tokenizer.bin, run on one pre-tokenized piece.
 *
 *   RT_TOK_BPE: Hugging Face's BPE (Word::merge_all) and llama.cpp's gpt2:
 *     initial symbols are the piece's characters (bytes for byte-level
 *     vocabularies), unknown ones become <0xXX> tokens or unk; then the
 *     adjacent pair of lowest merge rank is merged, ties to the leftmost.
 *   RT_TOK_SPM: llama.cpp's llm_tokenizer_spm: symbols are UTF-8
 *     characters; the adjacent pair whose concatenation is the token of
 *     highest score is merged, ties to the leftmost; a final symbol that is
 *     not a token becomes its bytes' <0xXX> tokens.
 *
 * Both keep the symbols in a doubly linked list and the candidate merges in
 * a binary heap, checking a candidate when it is popped, so a piece of n
 * bytes takes O(n log n) even when it is a whole 1 MB text.
 */
#include "rt_tok_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- working arrays ---- */

/* Room for n symbols and 3n heap items (n initial pairs, 2 per merge). */
static int work_reserve(RtTokModelWork *w, size_t n)
{
    if (n > w->sym_cap) {
        RtTokSym *s = rt_realloc(w->sym, n * sizeof *s);
        if (!s)
            return -1;
        w->sym = s;
        w->sym_cap = n;
    }
    if (3 * n > w->heap_cap) {
        RtTokHeapItem *h = rt_realloc(w->heap, 3 * n * sizeof *h);
        if (!h)
            return -1;
        w->heap = h;
        w->heap_cap = 3 * n;
    }
    w->heap_n = 0;
    return 0;
}

void rt_tok_model_work_free(RtTokModelWork *w)
{
    rt_free(w->sym);
    rt_free(w->heap);
    memset(w, 0, sizeof *w);
}

/* ---- the heap (smallest key on top) ---- */

static void heap_push(RtTokModelWork *w, uint64_t key, uint32_t x, uint32_t y)
{
    RtTokHeapItem *h = w->heap;
    size_t i = w->heap_n++;
    while (i > 0 && h[(i - 1) / 2].key > key) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = (RtTokHeapItem){key, x, y};
}

static RtTokHeapItem heap_pop(RtTokModelWork *w)
{
    RtTokHeapItem *h = w->heap;
    RtTokHeapItem top = h[0], last = h[--w->heap_n];
    size_t n = w->heap_n, i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && h[c + 1].key < h[c].key)
            c++;
        if (h[c].key >= last.key)
            break;
        h[i] = h[c];
        i = c;
    }
    if (n > 0)
        h[i] = last;
    return top;
}

/* ---- symbols ---- */

static void sym_add(RtTokModelWork *w, size_t *count, int32_t id, size_t start, size_t n)
{
    int32_t i = (int32_t)*count;
    w->sym[i] = (RtTokSym){id, (uint32_t)start, (uint32_t)n, i - 1, i + 1};
    (*count)++;
}

/* Unlinks the right neighbour of symbol i after i has absorbed it. */
static void sym_absorb_next(RtTokSym *sym, int32_t i)
{
    int32_t r = sym[i].next;
    sym[i].n += sym[r].n;
    sym[r].n = 0;
    sym[i].next = sym[r].next;
    if (sym[i].next >= 0)
        sym[sym[i].next].prev = i;
}

/* ---- BPE ---- */

static const RtTokMerge *merge_find(const RtTokenizer *t, int32_t left, int32_t right)
{
    uint32_t mask = t->hdr->merge_hash_cap - 1;
    uint32_t h = rt_tok_hash_pair((uint32_t)left, (uint32_t)right) & mask;
    for (; t->merges[h].left != UINT32_MAX; h = (h + 1) & mask)
        if (t->merges[h].left == (uint32_t)left && t->merges[h].right == (uint32_t)right)
            return &t->merges[h];
    return NULL;
}

/* Queues the merge of symbol pos with its right neighbour, if there is one. */
static void bpe_try_pair(const RtTokenizer *t, RtTokModelWork *w, int32_t pos)
{
    if (pos < 0 || w->sym[pos].next < 0)
        return;
    const RtTokMerge *m = merge_find(t, w->sym[pos].id, w->sym[w->sym[pos].next].id);
    if (m)
        heap_push(w, (uint64_t)m->rank << 32 | (uint32_t)pos, (uint32_t)pos, m->result);
}

/* The pending unknown run of Hugging Face's merge_word. */
typedef struct {
    size_t start, n;            /* n == 0: none */
} UnkRun;

static void unk_flush(const RtTokenizer *t, RtTokModelWork *w, size_t *count, UnkRun *u)
{
    if (u->n > 0)
        sym_add(w, count, t->hdr->unk_id, u->start, u->n);
    u->n = 0;
}

/* A character no token spells: its bytes' <0xXX> tokens if all exist. */
static int bpe_byte_fallback(const RtTokenizer *t, RtTokModelWork *w, size_t *count, const char *s,
                             size_t start, size_t n)
{
    if (!(t->hdr->flags & RT_TOK_BYTE_FALLBACK))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (t->byte_token[(uint8_t)s[start + i]] < 0)
            return 0;
    for (size_t i = 0; i < n; i++)
        sym_add(w, count, t->byte_token[(uint8_t)s[start + i]], start + i, 1);
    return 1;
}

/* Initial symbols of a piece, as merge_word makes them; returns their count. */
static size_t bpe_symbols(const RtTokenizer *t, RtTokModelWork *w, const char *s, size_t len)
{
    int bytes = t->hdr->flags & RT_TOK_BYTE_LEVEL;
    size_t count = 0;
    UnkRun unk = {0, 0};
    for (size_t i = 0, n; i < len; i += n) {
        n = 1;
        if (!bytes)
            rt_utf8_decode(s + i, len - i, &n);
        int32_t id = rt_tok_lookup(t, s + i, n);
        if (id >= 0) {
            unk_flush(t, w, &count, &unk);
            sym_add(w, &count, id, i, n);
        } else if (bpe_byte_fallback(t, w, &count, s, i, n) || t->hdr->unk_id < 0) {
            continue;
        } else if (unk.n > 0 && (t->hdr->flags & RT_TOK_FUSE_UNK)) {
            unk.n += n;
        } else {
            unk_flush(t, w, &count, &unk);
            unk = (UnkRun){i, n};
        }
    }
    unk_flush(t, w, &count, &unk);
    return count;
}

static int bpe_encode(const RtTokenizer *t, RtTokModelWork *w, const char *s, size_t len, RtTokOut *out)
{
    if (t->hdr->flags & RT_TOK_IGNORE_MERGES) {
        int32_t id = rt_tok_lookup(t, s, len);
        if (id >= 0) {
            rt_tok_out_push(out, id);
            return 0;
        }
    }
    if (work_reserve(w, len))
        return -1;
    size_t count = bpe_symbols(t, w, s, len);
    if (count == 0)
        return 0;
    RtTokSym *sym = w->sym;
    sym[count - 1].next = -1;
    for (size_t i = 0; i + 1 < count; i++)
        bpe_try_pair(t, w, (int32_t)i);
    while (w->heap_n > 0) {
        RtTokHeapItem top = heap_pop(w);
        int32_t pos = (int32_t)top.x;
        if (sym[pos].n == 0 || sym[pos].next < 0)
            continue;
        const RtTokMerge *m = merge_find(t, sym[pos].id, sym[sym[pos].next].id);
        if (!m || m->result != top.y)
            continue;       /* an expired candidate */
        sym[pos].id = (int32_t)top.y;
        sym_absorb_next(sym, pos);
        bpe_try_pair(t, w, sym[pos].prev);
        bpe_try_pair(t, w, pos);
    }
    for (int32_t i = 0; i >= 0; i = sym[i].next)
        rt_tok_out_push(out, sym[i].id);
    return 0;
}

/* ---- SentencePiece (llama.cpp) ---- */

/* Bytes of the UTF-8 sequence lead byte c announces, as llama.cpp counts. */
static size_t spm_char_len(uint8_t c)
{
    static const uint8_t lengths[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lengths[c >> 4];
}

/* Heap key: higher scores first, then the leftmost. */
static uint64_t spm_key(float score, int32_t left)
{
    uint32_t u;
    if (score == 0.0f)
        score = 0.0f;       /* -0 ties with +0 */
    memcpy(&u, &score, sizeof u);
    u = u & 0x80000000u ? ~u : u | 0x80000000u;     /* float order as unsigned order */
    return (uint64_t)~u << 32 | (uint32_t)left;
}

/* Queues the merge of left and right if their text is a token. */
static void spm_try_pair(const RtTokenizer *t, RtTokModelWork *w, const char *s, int32_t left, int32_t right)
{
    if (left < 0 || right < 0)
        return;
    uint32_t size = w->sym[left].n + w->sym[right].n;
    int32_t id = rt_tok_lookup(t, s + w->sym[left].start, size);
    if (id >= 0)
        heap_push(w, spm_key(t->tokens[id].score, left), (uint32_t)right, size);
}

/* A final symbol: its token, else its bytes as byte tokens (else unk). */
static void spm_emit(const RtTokenizer *t, const char *s, const RtTokSym *sym, RtTokOut *out)
{
    int32_t id = rt_tok_lookup(t, s + sym->start, sym->n);
    if (id >= 0) {
        rt_tok_out_push(out, id);
        return;
    }
    for (uint32_t i = 0; i < sym->n; i++) {
        const char *b = s + sym->start + i;
        int32_t bid = t->byte_token[(uint8_t)*b];
        if (bid < 0)
            bid = rt_tok_lookup(t, b, 1);
        if (bid < 0)
            bid = t->hdr->unk_id;
        if (bid >= 0)
            rt_tok_out_push(out, bid);
    }
}

static int spm_encode(const RtTokenizer *t, RtTokModelWork *w, const char *s, size_t len, RtTokOut *out)
{
    if (work_reserve(w, len))
        return -1;
    size_t count = 0;
    for (size_t i = 0, n; i < len; i += n) {
        n = spm_char_len((uint8_t)s[i]);
        n = n < len - i ? n : len - i;
        sym_add(w, &count, -1, i, n);
    }
    RtTokSym *sym = w->sym;
    sym[count - 1].next = -1;
    for (size_t i = 1; i < count; i++)
        spm_try_pair(t, w, s, (int32_t)i - 1, (int32_t)i);
    while (w->heap_n > 0) {
        RtTokHeapItem top = heap_pop(w);
        int32_t left = (int32_t)(top.key & 0xFFFFFFFFu), right = (int32_t)top.x;
        if (sym[left].n == 0 || sym[right].n == 0 || sym[left].n + sym[right].n != top.y)
            continue;       /* one side was merged since */
        sym_absorb_next(sym, left);
        spm_try_pair(t, w, s, sym[left].prev, left);
        spm_try_pair(t, w, s, left, sym[left].next);
    }
    for (int32_t i = 0; i >= 0; i = sym[i].next)
        spm_emit(t, s, &sym[i], out);
    return 0;
}

int rt_tok_model_encode(const RtTokenizer *t, RtTokModelWork *w, const char *s, size_t n, RtTokOut *out)
{
    if (n == 0)
        return 0;
    return t->hdr->model == RT_TOK_SPM ? spm_encode(t, w, s, n, out) : bpe_encode(t, w, s, n, out);
}
