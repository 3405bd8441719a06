/* rt_ppl.c: the perplexity of the generated model over a token sequence,
 * computed the way llama.cpp's llama-perplexity does (model --perplexity).
 *
 * The ids are cut into consecutive, non-overlapping windows of N tokens;
 * the tail shorter than a window is dropped. Each window runs from an
 * empty KV cache (reset), max_chunk tokens per forward() with the logits of
 * every row; when the tokenizer adds BOS, the window's first token is
 * replaced by BOS. Position p (its logits) predicts token p+1; with
 * RT_PPL_HALF positions N/2 .. N-2 are scored (llama-perplexity: the first
 * half of a window only gives the second half its context), with
 * RT_PPL_ALL positions 0 .. N-2. A position's NLL is -log softmax(logits)
 * of the next token, in double. Over the T positions scored:
 *   P = exp(mean NLL),  E = P * sqrt((mean(NLL^2) - mean(NLL)^2) / (T - 1)),
 * llama-perplexity's estimate and its error (the standard error of the
 * mean NLL, carried through exp). */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "rt_ppl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { MAX_ID_DIGITS = 10, SHOWN_ITEM = 32 };

/* Sums of the NLLs scored so far. */
typedef struct {
    double sum, sum2;
    size_t count;
} NllSum;

/* Everything one run needs, allocated once. */
typedef struct {
    const RtModelApi *api;
    RtModel *m;
    const RtPplParams *p;
    int window;             /* N, after clamping to the context */
    int first;              /* first position scored */
    int32_t *ids;           /* [window] the window as fed */
    float *logits;          /* [max_chunk * vocab] */
    NllSum total;
} PplRun;

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* The id of item s[0..len) if it is decimal digits naming a token below vocab. */
static int parse_id(const char *s, size_t len, int vocab, int32_t *id)
{
    if (len == 0 || len > MAX_ID_DIGITS)
        return 0;
    long long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    if (v >= vocab)
        return 0;
    *id = (int32_t)v;
    return 1;
}

RtStatus rt_ppl_parse_ids(const char *text, size_t len, const char *path, int vocab, int32_t **ids, size_t *n)
{
    size_t items = 0;
    for (size_t i = 0; i < len; i++)
        items += !is_space(text[i]) && (i == 0 || is_space(text[i - 1]));
    int32_t *out = rt_alloc((items ? items : 1) * sizeof *out);
    if (!out) {
        rt_set_error("%s: out of memory for %zu token ids", path, items);
        return RT_ERR_NOMEM;
    }
    size_t k = 0, i = 0;
    while (k < items) {
        while (is_space(text[i]))
            i++;
        size_t end = i;
        while (end < len && !is_space(text[end]))
            end++;
        if (!parse_id(text + i, end - i, vocab, &out[k])) {
            int shown = end - i > SHOWN_ITEM ? SHOWN_ITEM : (int)(end - i);
            rt_set_error("%s: item %zu ('%.*s%s') is not a token id (0..%d, the vocabulary has %d tokens)", path,
                         k + 1, shown, text + i, end - i > SHOWN_ITEM ? "..." : "", vocab - 1, vocab);
            rt_free(out);
            return RT_ERR_ARG;
        }
        k++;
        i = end;
    }
    *ids = out;
    *n = items;
    return RT_OK;
}

/* -log softmax(row)[target], in double. */
static double row_nll(const float *row, int vocab, int32_t target)
{
    double mx = row[0];
    for (int v = 1; v < vocab; v++)
        mx = row[v] > mx ? row[v] : mx;
    double sum = 0.0;
    for (int v = 0; v < vocab; v++)
        sum += exp((double)row[v] - mx);
    return mx + log(sum) - (double)row[target];
}

static double perplexity(const NllSum *s)
{
    return exp(s->sum / (double)s->count);
}

/* Runs window w (ids src[0..window)) and adds its scored NLLs to the total. */
static RtStatus run_window(PplRun *r, size_t w, const int32_t *src)
{
    const RtModelApi *api = r->api;
    int N = r->window;
    memcpy(r->ids, src, (size_t)N * sizeof *r->ids);
    if (r->p->bos >= 0)
        r->ids[0] = r->p->bos;
    api->reset(r->m);
    for (int i = 0; i < N; i += api->max_chunk) {
        int S = N - i < api->max_chunk ? N - i : api->max_chunk;
        if (api->forward(r->m, r->ids + i, S, S, r->logits) != RT_OK) {
            char why[512];
            snprintf(why, sizeof why, "%s", rt_last_error());
            rt_set_error("forward failed in window %zu: %s", w + 1, why);
            return RT_ERR_ARG;
        }
        for (int s = 0; s < S; s++) {
            int pos = i + s;
            if (pos < r->first || pos > N - 2)
                continue;
            double nll = row_nll(r->logits + (size_t)s * (size_t)api->vocab, api->vocab, r->ids[pos + 1]);
            if (!isfinite(nll)) {
                rt_set_error("window %zu, position %d: the model's logits are not finite (NaN or infinity)",
                             w + 1, pos);
                return RT_ERR_FORMAT;
            }
            r->total.sum += nll;
            r->total.sum2 += nll * nll;
            r->total.count++;
        }
    }
    return RT_OK;
}

/* The window size for a context of ctx tokens, and the first position scored. */
static RtStatus plan_windows(PplRun *r, size_t n)
{
    const RtPplParams *p = r->p;
    int ctx = r->api->context(r->m);
    r->window = p->window;
    if (r->window > ctx) {
        fprintf(stderr, "note: the context is %d tokens (--ctx): windows of %d tokens instead of %d (--ppl-window)\n",
                ctx, ctx, p->window);
        r->window = ctx;
    }
    r->first = p->score == RT_PPL_HALF ? r->window / 2 : 0;
    if (r->first > r->window - 2) {
        rt_set_error("a window of %d tokens leaves no position to score with --ppl-score %s (a window needs at "
                     "least %d)", r->window, p->score == RT_PPL_HALF ? "half" : "all",
                     p->score == RT_PPL_HALF ? 3 : 2);
        return RT_ERR_ARG;
    }
    if (n < (size_t)r->window) {
        rt_set_error("%s has %zu token%s but a window needs %d (--ppl-window)", p->source, n, n == 1 ? "" : "s",
                     r->window);
        return RT_ERR_ARG;
    }
    return RT_OK;
}

/* Prints the running estimates after each window: as they come on a
 * terminal, else all on one line at the end. */
static void show_running(const double *running, size_t done, size_t windows, int tty)
{
    if (tty) {
        fprintf(stderr, "[%zu]%.4f,", done, running[done - 1]);
        if (done == windows)
            fprintf(stderr, "\n");
        fflush(stderr);
    } else if (done == windows) {
        for (size_t w = 0; w < windows; w++)
            fprintf(stderr, "[%zu]%.4f,", w + 1, running[w]);
        fprintf(stderr, "\n");
    }
}

static void print_result(const PplRun *r, size_t windows, double secs)
{
    const NllSum *s = &r->total;
    double T = (double)s->count, mean = s->sum / T, var = s->sum2 / T - mean * mean;
    double ppl = perplexity(s), err = s->count > 1 && var > 0 ? sqrt(var / (T - 1)) * ppl : 0.0;
    size_t fed = windows * (size_t)r->window;
    fprintf(stderr, "evaluated %zu tokens in %.2f s: %.1f t/s\n", fed, secs, secs > 0 ? fed / secs : 0.0);
    printf("perplexity: %.4f +/- %.5f (%zu tokens scored in %zu windows of %d)\n", ppl, err, s->count, windows,
           r->window);
    fflush(stdout);
}

RtStatus rt_ppl_run(const RtModelApi *api, RtModel *m, const int32_t *ids, size_t n, const RtPplParams *p)
{
    PplRun r = {.api = api, .m = m, .p = p};
    RtStatus st = plan_windows(&r, n);
    if (st != RT_OK)
        return st;
    size_t windows = n / (size_t)r.window;
    r.ids = rt_alloc((size_t)r.window * sizeof *r.ids);
    r.logits = rt_alloc((size_t)api->max_chunk * (size_t)api->vocab * sizeof *r.logits);
    double *running = rt_alloc(windows * sizeof *running);
    if (!r.ids || !r.logits || !running) {
        rt_set_error("out of memory for windows of %d tokens", r.window);
        st = RT_ERR_NOMEM;
    } else {
        fprintf(stderr, "%zu windows of %d tokens (%zu of %zu tokens), positions %d..%d of each scored\n",
                windows, r.window, windows * (size_t)r.window, n, r.first, r.window - 2);
    }
    int tty = isatty(fileno(stderr));
    double t0 = rt_now();
    for (size_t w = 0; w < windows && st == RT_OK; w++) {
        st = run_window(&r, w, ids + w * (size_t)r.window);
        if (st == RT_OK) {
            running[w] = perplexity(&r.total);
            show_running(running, w + 1, windows, tty);
        }
    }
    if (st == RT_OK)
        print_result(&r, windows, rt_now() - t0);
    else if (tty && r.total.count > 0)
        fprintf(stderr, "\n");     /* ends the line of running estimates */
    rt_free(r.ids);
    rt_free(r.logits);
    rt_free(running);
    return st;
}
