/* hetc_rt_sample.h: the sampler of the runtime (rt_sample.c): logits to a
 * token id by temperature, top-k, top-p, min-p and repetition penalty.
 * Part of the versioned ABI of hetc_rt.h; used by the driver (rt_cli.c).
 */
#ifndef HETC_RT_SAMPLE_H
#define HETC_RT_SAMPLE_H

#include "hetc_rt.h"

/* ---- sampling (rt_sample.c) ---- */
typedef struct {
    float temp;             /* 0: greedy */
    int top_k;              /* 0: off */
    float top_p;            /* 1: off */
    float min_p;            /* 0: off */
    float repeat_penalty;   /* 1: off; over the last repeat_last_n tokens */
    int repeat_last_n;
    uint64_t seed;
} RtSamplerParams;
typedef struct RtSampler RtSampler;
RtStatus rt_sampler_create(RtSampler **s, const RtSamplerParams *p, int vocab);
/* Picks the next token from logits[vocab] (modified in place) given the
 * recent history. */
int32_t rt_sampler_sample(RtSampler *s, float *logits, const int32_t *history, int n_history);
void rt_sampler_destroy(RtSampler *s);

#endif
