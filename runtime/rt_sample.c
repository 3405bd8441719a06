/* rt_sample.c: picking the next token from a row of logits.
 *
 * The chain, as llama.cpp's and Hugging Face's samplers do it: a repeat
 * penalty over the recent tokens (a positive logit is divided by the
 * penalty, a negative one multiplied); then either the argmax (temp <= 0,
 * ties to the lowest id) or top-k, softmax at the temperature, top-p (the
 * smallest set of most likely tokens whose probability reaches p), min-p
 * (tokens less likely than min_p times the most likely one dropped) and a
 * draw from what is left, renormalised, with a splitmix64 generator: the
 * same seed gives the same tokens. Every array is allocated at create.
 */
#include "hetc_rt_sample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct RtSampler {
    RtSamplerParams p;
    int vocab;
    uint64_t rng;               /* splitmix64 state */
    int32_t *cand;              /* [vocab] candidate ids, most likely first */
    float *prob;                /* [vocab] their probabilities */
    uint8_t *seen;              /* [vocab] marks of the penalised ids */
};

RtStatus rt_sampler_create(RtSampler **out, const RtSamplerParams *p, int vocab)
{
    *out = NULL;
    if (vocab <= 0) {
        rt_set_error("sampler: the vocabulary must have tokens (got %d)", vocab);
        return RT_ERR_ARG;
    }
    RtSampler *s = rt_alloc(sizeof *s);
    if (s) {
        s->cand = rt_alloc((size_t)vocab * sizeof *s->cand);
        s->prob = rt_alloc((size_t)vocab * sizeof *s->prob);
        s->seen = rt_alloc((size_t)vocab);
    }
    if (!s || !s->cand || !s->prob || !s->seen) {
        rt_sampler_destroy(s);
        rt_set_error("sampler: out of memory for a vocabulary of %d", vocab);
        return RT_ERR_NOMEM;
    }
    s->p = *p;
    s->vocab = vocab;
    s->rng = p->seed;
    *out = s;
    return RT_OK;
}

void rt_sampler_destroy(RtSampler *s)
{
    if (!s)
        return;
    rt_free(s->cand);
    rt_free(s->prob);
    rt_free(s->seen);
    rt_free(s);
}

/* Uniform in [0, 1). */
static double next_uniform(RtSampler *s)
{
    uint64_t z = (s->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1.0p-53;
}

/* Penalises each distinct id of the last repeat_last_n history tokens once. */
static void repeat_penalty(RtSampler *s, float *logits, const int32_t *history, int n_history)
{
    float penalty = s->p.repeat_penalty;
    int n = s->p.repeat_last_n < n_history ? s->p.repeat_last_n : n_history;
    if (penalty == 1.0f || n <= 0)
        return;
    const int32_t *last = history + n_history - n;
    for (int i = 0; i < n; i++) {
        int32_t id = last[i];
        if (id < 0 || id >= s->vocab || s->seen[id])
            continue;
        s->seen[id] = 1;
        logits[id] = logits[id] > 0 ? logits[id] / penalty : logits[id] * penalty;
    }
    for (int i = 0; i < n; i++)
        if (last[i] >= 0 && last[i] < s->vocab)
            s->seen[last[i]] = 0;
}

static int32_t argmax(const float *logits, int vocab)
{
    int32_t best = 0;
    for (int32_t i = 1; i < vocab; i++)
        if (logits[i] > logits[best])
            best = i;
    return best;
}

/* Whether id a ranks before id b: higher logit, then lower id. */
static int ranks_before(const float *logits, int32_t a, int32_t b)
{
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
}

/* Sifts heap[i] down a heap of n ids whose top is the worst ranked. */
static void sift_down(const float *logits, int32_t *heap, int n, int i)
{
    for (;;) {
        int c = 2 * i + 1;
        if (c >= n)
            return;
        if (c + 1 < n && ranks_before(logits, heap[c], heap[c + 1]))
            c++;
        if (!ranks_before(logits, heap[i], heap[c]))
            return;
        int32_t t = heap[i];
        heap[i] = heap[c];
        heap[c] = t;
        i = c;
    }
}

/* The k best ids into cand, best first: a heap of the k best so far (worst
 * on top), then sorted out of it. */
static void top_k(const float *logits, int vocab, int k, int32_t *cand)
{
    for (int i = 0; i < k; i++)
        cand[i] = i;
    for (int i = k / 2 - 1; i >= 0; i--)
        sift_down(logits, cand, k, i);
    for (int32_t id = k; id < vocab; id++) {
        if (ranks_before(logits, id, cand[0])) {
            cand[0] = id;
            sift_down(logits, cand, k, 0);
        }
    }
    for (int n = k - 1; n > 0; n--) {
        int32_t t = cand[0];
        cand[0] = cand[n];
        cand[n] = t;
        sift_down(logits, cand, n, 0);
    }
}

/* Softmax at temperature temp of the n candidates (best first) into prob. */
static void softmax(const float *logits, const int32_t *cand, int n, float temp, float *prob)
{
    double sum = 0.0, top = logits[cand[0]];
    for (int i = 0; i < n; i++) {
        prob[i] = (float)exp((logits[cand[i]] - top) / temp);
        sum += prob[i];
    }
    for (int i = 0; i < n; i++)
        prob[i] = (float)(prob[i] / sum);
}

/* How many candidates top-p and min-p keep (at least one). */
static int truncate_candidates(const float *prob, int n, float top_p, float min_p)
{
    if (top_p < 1.0f) {
        double cum = 0.0;
        for (int i = 0; i < n; i++) {
            cum += prob[i];
            if (cum >= top_p) {
                n = i + 1;
                break;
            }
        }
    }
    if (min_p > 0.0f) {
        int keep = 1;
        while (keep < n && prob[keep] >= min_p * prob[0])
            keep++;
        n = keep;
    }
    return n;
}

int32_t rt_sampler_sample(RtSampler *s, float *logits, const int32_t *history, int n_history)
{
    repeat_penalty(s, logits, history, n_history);
    if (s->p.temp <= 0.0f)
        return argmax(logits, s->vocab);
    int k = s->p.top_k > 0 && s->p.top_k < s->vocab ? s->p.top_k : s->vocab;
    top_k(logits, s->vocab, k, s->cand);
    softmax(logits, s->cand, k, s->p.temp, s->prob);
    int n = truncate_candidates(s->prob, k, s->p.top_p, s->p.min_p);
    double sum = 0.0;
    for (int i = 0; i < n; i++)
        sum += s->prob[i];
    double r = next_uniform(s) * sum;
    for (int i = 0; i < n; i++) {
        r -= s->prob[i];
        if (r < 0.0)
            return s->cand[i];
    }
    return s->cand[n - 1];
}
