/* rt_tok_internal.h: what rt_tokenizer.c (the file, the encode pipeline
 * and decode) shares with rt_bpe.c (the BPE and SentencePiece models). Not
 * part of the ABI: generated code includes only hetc_rt.h. */
#ifndef RT_TOK_INTERNAL_H
#define RT_TOK_INTERNAL_H

#include "hetc_rt_tok.h"

enum { RT_TOK_STAGES = 2 };     /* added tokens matched in the raw text, then in normalized text */

struct RtTokenizer {
    void *map;                  /* mmap of rt_tok_open, or NULL */
    size_t map_bytes;
    const RtTokHeader *hdr;
    const RtTokEntry *tokens;   /* [n_tokens] */
    const uint32_t *str_hash;   /* [str_hash_cap] id+1, 0 empty */
    const RtTokMerge *merges;   /* [merge_hash_cap] */
    const RtTokAdded *added;    /* [n_added], longest first */
    const RtTokOp *ops;         /* [n_norm + n_pretok + n_dec] */
    const char *pool;           /* [pool_bytes] */
    int32_t byte_token[256];    /* id of the <0xXX> token of each byte, -1 if none */
    uint32_t *added_order;      /* [n_added] indices into added, by stage and first byte */
    uint32_t first[RT_TOK_STAGES][257];  /* added_order range of each stage and first byte */
};

/* Ids of an encode: written while they fit in cap, all counted in n. */
typedef struct {
    int32_t *ids;
    size_t cap;
    size_t n;
} RtTokOut;

/* A symbol of a piece being merged: a token over text [start, start+n). */
typedef struct {
    int32_t id;
    uint32_t start, n;          /* n == 0: merged into its left neighbour */
    int32_t prev, next;         /* -1 at the ends */
} RtTokSym;

/* A candidate merge, smallest key first. */
typedef struct {
    uint64_t key;
    uint32_t x, y;              /* BPE: position, result id; SPM: right symbol, byte size */
} RtTokHeapItem;

/* Working arrays of the models, grown as pieces need and reused. */
typedef struct {
    RtTokSym *sym;
    size_t sym_cap;
    RtTokHeapItem *heap;
    size_t heap_n, heap_cap;
} RtTokModelWork;

/* Id of the token whose bytes are s[0..n), -1 if none (unused slots never match). */
int32_t rt_tok_lookup(const RtTokenizer *t, const char *s, size_t n);
void rt_tok_out_push(RtTokOut *o, int32_t id);
/* Runs the model over one pre-tokenized piece, appending its ids to out.
 * Returns 0, or -1 when out of memory. */
int rt_tok_model_encode(const RtTokenizer *t, RtTokModelWork *w, const char *s, size_t n, RtTokOut *out);
void rt_tok_model_work_free(RtTokModelWork *w);

#endif
