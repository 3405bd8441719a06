/* fe_synthtok.c: the tokenizer of a `hetc synth` model: byte-level BPE
 * (GPT-2's scheme) trained on a text, written as tokenizer.json and
 * tokenizer_config.json, so that a random-weight model takes and prints
 * text like a real one (the text it generates is noise; the path is real).
 *
 * Ids: 0 <|pad|>, then the model's bos and eos ids as <s> and </s> (special
 * added tokens; the presets use 1 and 2), the 256 byte tokens (GPT-2's
 * byte-to-character map), then one token per merge, learned greedily: the
 * most frequent adjacent pair over the training text's pieces (GPT-2's
 * split, approximated: an optional space and a run of letters, of digits,
 * or of other characters; whitespace runs), ties to the pair of smaller
 * ids, until no pair occurs twice. A small text leaves most ids of a real
 * vocabulary unfilled: those become made-up merges of two learned tokens
 * (pseudo-random, deterministic), so that whatever a random model samples
 * decodes to text-like bytes.
 */
#include "fe.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_TOKEN = 64 };    /* bytes of the longest merged token */

typedef struct {
    int *sym;               /* the piece's symbols (token ids) */
    int n;
    int count;              /* occurrences in the text */
} Piece;

typedef struct {
    char (*text)[MAX_TOKEN + 1];    /* [vocab] each token's bytes */
    int *len;
    int ntok;
    Piece *p;
    int np, cap;
} Train;

/* GPT-2's map of bytes to printable characters (UTF-8, up to 2 bytes). */
static int byte_char(int b, char out[3])
{
    int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    int cp = b;
    if (!printable) {
        int k = 0;
        for (int c = 0; c < b; c++)
            k += !((c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF));
        cp = 256 + k;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        out[1] = 0;
        return 1;
    }
    out[0] = (char)(0xC0 | cp >> 6);
    out[1] = (char)(0x80 | (cp & 63));
    out[2] = 0;
    return 2;
}

/* A token's bytes in GPT-2's characters. */
static void token_chars(const Train *t, int id, char *out, size_t cap)
{
    size_t k = 0;
    for (int i = 0; i < t->len[id] && k + 3 < cap; i++) k += (size_t)byte_char((unsigned char)t->text[id][i], out + k);
    out[k] = 0;
}

static int class_of(unsigned char c)
{
    if ((c | 32) >= 'a' && (c | 32) <= 'z') return 1;
    if (c >= 0x80) return 1;        /* UTF-8: letters of other scripts, mostly */
    if (c >= '0' && c <= '9') return 2;
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') return 0;
    return 3;
}

/* Adds piece s[0..n) (first byte token id: base) once more. */
static void add_piece(Train *t, const unsigned char *s, int n, int base)
{
    for (int i = 0; i < t->np; i++)
        if (t->p[i].n == n) {
            int same = 1;
            for (int k = 0; same && k < n; k++) same = t->p[i].sym[k] == base + s[k];
            if (same) {
                t->p[i].count++;
                return;
            }
        }
    if (t->np == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 1024;
        t->p = realloc(t->p, (size_t)t->cap * sizeof *t->p);
    }
    Piece *p = &t->p[t->np++];
    p->sym = malloc((size_t)n * sizeof *p->sym);
    for (int k = 0; k < n; k++) p->sym[k] = base + s[k];
    p->n = n;
    p->count = 1;
}

/* The text's pieces; a piece longer than MAX_TOKEN is cut. */
static void split(Train *t, const unsigned char *s, size_t len, int base)
{
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        if (s[j] == ' ' && j + 1 < len && class_of(s[j + 1])) j++;
        int c = class_of(s[j]);
        while (j < len && class_of(s[j]) == c && j - i < MAX_TOKEN) j++;
        add_piece(t, s + i, (int)(j - i), base);
        i = j;
    }
}

/* Pair counts: open addressing on (a, b), cleared through the list of used slots. */
typedef struct {
    uint64_t *key;          /* [cap] a << 32 | b, or ~0 */
    int *count;
    int *used;              /* [cap] slots in use */
    int nused, cap;
} Pairs;

static int *pair_slot(Pairs *h, uint64_t key)
{
    size_t i = (size_t)((key * 0x9E3779B97F4A7C15ULL) >> 40) & (size_t)(h->cap - 1);
    while (h->key[i] != key && h->key[i] != ~0ULL) i = (i + 1) & (size_t)(h->cap - 1);
    if (h->key[i] == ~0ULL) {
        h->key[i] = key;
        h->count[i] = 0;
        h->used[h->nused++] = (int)i;
    }
    return &h->count[i];
}

/* The most frequent pair (ties: smaller ids); 0 if none occurs twice. */
static int best_pair(const Train *t, Pairs *h, int *a, int *b)
{
    for (int i = 0; i < h->nused; i++) h->key[h->used[i]] = ~0ULL;
    h->nused = 0;
    int best = 1;
    for (int i = 0; i < t->np; i++)
        for (int k = 0; k + 1 < t->p[i].n; k++) {
            int x = t->p[i].sym[k], y = t->p[i].sym[k + 1];
            if (t->len[x] + t->len[y] > MAX_TOKEN) continue;
            int c = *pair_slot(h, (uint64_t)x << 32 | (uint32_t)y) += t->p[i].count;
            if (c > best || (c == best && best > 1 && (x < *a || (x == *a && y < *b)))) {
                best = c;
                *a = x;
                *b = y;
            }
        }
    return best > 1;
}

static void merge(Train *t, int a, int b, int id)
{
    for (int i = 0; i < t->np; i++) {
        Piece *p = &t->p[i];
        int w = 0;
        for (int k = 0; k < p->n; k++)
            if (k + 1 < p->n && p->sym[k] == a && p->sym[k + 1] == b) p->sym[w++] = id, k++;
            else p->sym[w++] = p->sym[k];
        p->n = w;
    }
}

static json_object *added(int id, const char *content)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "id", json_object_new_int(id));
    json_object_object_add(o, "content", json_object_new_string(content));
    json_object_object_add(o, "single_word", json_object_new_boolean(0));
    json_object_object_add(o, "lstrip", json_object_new_boolean(0));
    json_object_object_add(o, "rstrip", json_object_new_boolean(0));
    json_object_object_add(o, "normalized", json_object_new_boolean(0));
    json_object_object_add(o, "special", json_object_new_boolean(1));
    return o;
}

/* tokenizer.json's ByteLevel pre-tokenizer or decoder (GPT-2's regex). */
static json_object *byte_level(int add_prefix_space)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "type", json_object_new_string("ByteLevel"));
    json_object_object_add(o, "add_prefix_space", json_object_new_boolean(add_prefix_space));
    json_object_object_add(o, "trim_offsets", json_object_new_boolean(1));
    json_object_object_add(o, "use_regex", json_object_new_boolean(1));
    return o;
}

static int save(json_object *o, const char *dir, const char *name, char *err, size_t errlen)
{
    char path[FE_PATH_LEN + 32];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int rc = json_object_to_file_ext(path, o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
    if (rc) fe_set_err(err, errlen, "%s: cannot write", path);
    return rc ? -1 : 0;
}

int fe_synth_tokenizer(const char *outdir, const char *text_path, int64_t vocab, int64_t bos, int64_t eos,
                       char *err, size_t errlen)
{
    int first = 3;      /* pad, bos, eos */
    if (vocab < first + 256 || vocab > (1 << 20) || bos < 1 || bos > 2 || eos < 1 || eos > 2 || bos == eos) {
        fe_set_err(err, errlen, "%s: a synthesized tokenizer needs a vocabulary of 259 to 2^20 tokens and "
                   "bos/eos ids 1 and 2 (vocab %lld)", outdir, (long long)vocab);
        return -1;
    }
    size_t len;
    char *text = fe_read_file(text_path, &len, err, errlen);
    if (!text) return -1;
    Train t = {.text = calloc((size_t)vocab, sizeof *t.text), .len = calloc((size_t)vocab, sizeof *t.len)};
    for (int b = 0; b < 256; b++) t.text[first + b][0] = (char)b, t.len[first + b] = 1;
    t.ntok = first + 256;
    split(&t, (const unsigned char *)text, len, first);
    free(text);
    int syms = 0;
    for (int i = 0; i < t.np; i++) syms += t.p[i].n;
    Pairs h = {.cap = 1024};
    while (h.cap < 2 * syms) h.cap *= 2;
    h.key = malloc((size_t)h.cap * sizeof *h.key);
    h.count = malloc((size_t)h.cap * sizeof *h.count);
    h.used = malloc((size_t)h.cap * sizeof *h.used);
    memset(h.key, 0xff, (size_t)h.cap * sizeof *h.key);
    json_object *merges = json_object_new_array(), *vmap = json_object_new_object();
    static const char *const special[] = {"<|pad|>", "<s>", "</s>"};
    char sa[3 * MAX_TOKEN + 16], sb[3 * MAX_TOKEN + 16], m[6 * MAX_TOKEN + 40];
    for (int id = 0; id < t.ntok; id++) {
        if (id < first) snprintf(sa, sizeof sa, "%s", special[id]);
        else token_chars(&t, id, sa, sizeof sa);
        json_object_object_add(vmap, sa, json_object_new_int(id));
    }
    /* learned merges, then made-up ones (two learned tokens joined) for the
     * ids the text cannot fill, so that any id decodes to text-like bytes */
    int learned = 1, tries = 0;
    uint64_t r = 0x9E3779B97F4A7C15ULL;
    for (int a = 0, b = 0; t.ntok < vocab && tries < 64 * vocab; tries++) {
        if (learned && !(learned = best_pair(&t, &h, &a, &b))) continue;
        if (!learned) {
            int trained = t.ntok > first + 256 ? t.ntok : first + 256;
            r = r * 6364136223846793005ULL + 1442695040888963407ULL;
            a = first + (int)((r >> 33) % (uint64_t)(trained - first));
            b = first + (int)((r >> 13) % (uint64_t)(trained - first));
            if (t.len[a] + t.len[b] > MAX_TOKEN) continue;
        }
        memcpy(t.text[t.ntok], t.text[a], (size_t)t.len[a]);
        memcpy(t.text[t.ntok] + t.len[a], t.text[b], (size_t)t.len[b]);
        t.len[t.ntok] = t.len[a] + t.len[b];
        token_chars(&t, t.ntok, m, sizeof m);
        if (!learned && json_object_object_get_ex(vmap, m, NULL)) continue;   /* already a token */
        json_object_object_add(vmap, m, json_object_new_int(t.ntok));
        if (learned) merge(&t, a, b, t.ntok);
        token_chars(&t, a, sa, sizeof sa);
        token_chars(&t, b, sb, sizeof sb);
        snprintf(m, sizeof m, "%s %s", sa, sb);
        json_object_array_add(merges, json_object_new_string(m));
        t.ntok++;
    }
    free(h.key);
    free(h.count);
    free(h.used);
    for (int id = t.ntok; id < vocab; id++) {
        snprintf(sa, sizeof sa, "<unused_%d>", id - t.ntok);
        json_object_object_add(vmap, sa, json_object_new_int(id));
    }
    json_object *root = json_object_new_object(), *model = json_object_new_object();
    json_object_object_add(root, "version", json_object_new_string("1.0"));
    json_object *addl = json_object_new_array();
    for (int id = 0; id < first; id++) json_object_array_add(addl, added(id, special[id]));
    json_object_object_add(root, "added_tokens", addl);
    json_object_object_add(root, "normalizer", NULL);
    json_object_object_add(root, "pre_tokenizer", byte_level(0));
    json_object_object_add(root, "decoder", byte_level(1));
    json_object_object_add(model, "type", json_object_new_string("BPE"));
    json_object_object_add(model, "dropout", NULL);
    json_object_object_add(model, "unk_token", NULL);
    json_object_object_add(model, "byte_fallback", json_object_new_boolean(0));
    json_object_object_add(model, "vocab", vmap);
    json_object_object_add(model, "merges", merges);
    json_object_object_add(root, "model", model);
    int rc = save(root, outdir, "tokenizer.json", err, errlen);
    json_object_put(root);
    json_object *cfg = json_object_new_object();
    json_object_object_add(cfg, "bos_token", json_object_new_string(special[bos]));
    json_object_object_add(cfg, "eos_token", json_object_new_string(special[eos]));
    json_object_object_add(cfg, "pad_token", json_object_new_string(special[0]));
    json_object_object_add(cfg, "add_bos_token", json_object_new_boolean(1));
    if (!rc) rc = save(cfg, outdir, "tokenizer_config.json", err, errlen);
    json_object_put(cfg);
    for (int i = 0; i < t.np; i++) free(t.p[i].sym);
    free(t.p);
    free(t.text);
    free(t.len);
    return rc;
}
