/* rt_ppl.h: what rt_cli.c (the --perplexity mode) uses of rt_ppl.c (the
 * perplexity of a token sequence, llama-perplexity's way). Not part of the
 * ABI: generated code includes only hetc_rt.h. */
#ifndef RT_PPL_H
#define RT_PPL_H

#include "hetc_rt.h"

typedef enum {
    RT_PPL_HALF = 0,    /* the second half of each window (llama-perplexity's) */
    RT_PPL_ALL,         /* every position but the last */
} RtPplScore;

typedef struct {
    const char *source;     /* the file the ids come from, for messages */
    int window;             /* tokens per window; clamped to the model's context */
    RtPplScore score;
    int32_t bos;            /* replaces each window's first token; -1: none */
} RtPplParams;

/* Whitespace-separated decimal token ids of text[0..len) (read from the
 * file 'path') into a malloc'd *ids[*n]; an item that is not an id below
 * vocab is RT_ERR_ARG naming the file and the item's position. */
RtStatus rt_ppl_parse_ids(const char *text, size_t len, const char *path, int vocab, int32_t **ids, size_t *n);

/* Cuts ids[0..n) into windows of p->window tokens (the shorter tail is
 * dropped), runs each from an empty KV cache with the logits of every row,
 * and scores the positions p->score picks. Prints the running estimates
 * and the speed on stderr, the perplexity and its error on stdout. */
RtStatus rt_ppl_run(const RtModelApi *api, RtModel *m, const int32_t *ids, size_t n, const RtPplParams *p);

#endif
