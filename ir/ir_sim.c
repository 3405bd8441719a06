/* ir_sim.c: hetc simulate: a discrete-event run of a scheduled graph under
 * the cost model.
 *
 * A prompt of N tokens runs as the steps the runtime takes (ir_plan_next:
 * chunks largest first, then the remainder on the flex plan or padded),
 * one after another, then M decode steps of one token on the decode plan.
 * Inside a step, the subgraphs of pass schedule run on their units' queues
 * in their order: a subgraph starts once its unit is free and every
 * subgraph whose results it reads has finished (plus one hand-over,
 * ir_cost_sync, where that one ran on another unit); it takes the sum of
 * its nodes' costs (ir_cost_node at the step's rows and cache position).
 * Units that compute on another unit's cores (shares=) queue on that
 * unit: their work never overlaps. What the model leaves out: the shared
 * DRAM between units at once (each subgraph is priced alone), fusion
 * groups' saved launches, and the host's tokenizer and sampling.
 */
#include "ir.h"

#include <stdlib.h>
#include <string.h>

/* A step's subgraphs as they are timed. */
typedef struct {
    const IrCost *c;
    const int *unit;            /* [nsub] each subgraph's unit, -1: none */
    const double *ready, *dur;  /* [nsub] when its inputs are there; its time */
    double *end;                /* [nsub] when it finished */
    double *free_at;            /* [units] when each unit's queue is free */
    IrSimResult *r;
    int prefill;
    double step_end;            /* the latest end so far */
} Queues;

/* Subgraph k on its unit's queue (its cores' queue: shares=). */
static void time_sub(Queues *q, int k)
{
    int u = q->unit[k];
    if (u < 0) return;
    int core = ir_cost_core(q->c, u);
    double start = q->ready[k] > q->free_at[core] ? q->ready[k] : q->free_at[core];
    q->end[k] = start + q->dur[k];
    q->free_at[core] = q->end[k];
    q->r->busy_us[u] += q->dur[k];
    if (q->prefill) q->r->prefill_busy_us[u] += q->dur[k];
    if (q->end[k] > q->step_end) q->step_end = q->end[k];
}

/* One step of plan p at S rows from cache position P starting at t0 (all
 * units free from their free[] times on); returns its end. */
static double run_step(const IrCost *c, int p, int64_t S, int64_t P, double *free_at, IrSimResult *r, int prefill)
{
    const IrGraph *g = c->g;
    int nsub = 0;
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].plan == p && g->nodes[i].sub + 1 > nsub) nsub = g->nodes[i].sub + 1;
    double *end = calloc((size_t)nsub + 1, sizeof *end), *dur = calloc((size_t)nsub + 1, sizeof *dur);
    double *ready = calloc((size_t)nsub + 1, sizeof *ready);
    int *unit = malloc(((size_t)nsub + 1) * sizeof *unit);
    for (int k = 0; k < nsub; k++) unit[k] = -1;
    double step_end = 0;
    for (int u = 0; u < g->nunits; u++)
        if (free_at[u] > step_end) step_end = free_at[u];
    for (int i = 0; i < g->n; i++) {
        const IrNode *n = &g->nodes[i];
        if (n->plan != p || n->sub < 0) continue;
        unit[n->sub] = n->unit;
        dur[n->sub] += ir_cost_node(c, n, S, P).us;
    }
    /* dependencies: the latest finish among the subgraphs a subgraph reads from (+ a hand-over) */
    for (int k = 0; k < nsub; k++) ready[k] = step_end;
    Queues sq = {c, unit, ready, dur, end, free_at, r, prefill, step_end};
    int done_upto = -1;
    for (int i = 0; i < g->n; i++) {
        const IrNode *n = &g->nodes[i];
        if (n->plan != p || n->sub < 0) continue;
        /* subgraphs before this one are complete: time them in order */
        for (int k = done_upto + 1; k < n->sub; k++) time_sub(&sq, k);
        if (n->sub - 1 > done_upto) done_upto = n->sub - 1;
        for (int j = 0; j < n->nin; j++) {
            const IrNode *a = &g->nodes[n->in[j]];
            if (a->plan != p || a->sub < 0 || a->sub == n->sub) continue;
            double t = end[a->sub] + ir_cost_sync(c, a->unit, n->unit);
            if (t > ready[n->sub]) ready[n->sub] = t;
        }
    }
    for (int k = done_upto + 1; k < nsub; k++) time_sub(&sq, k);
    step_end = sq.step_end;
    for (int u = 0; u < g->nunits; u++) free_at[u] = step_end;     /* the step's logits: every unit waits */
    free(end);
    free(dur);
    free(ready);
    free(unit);
    return step_end;
}

int ir_simulate(const IrCost *c, int64_t prompt, int64_t gen, IrSimResult *r, char *err, size_t errlen)
{
    const IrGraph *g = c->g;
    memset(r, 0, sizeof *r);
    if (!ir_has_pass(g, "schedule")) {
        snprintf(err, errlen, "simulate: the graph has not been through pass 'schedule'");
        return -1;
    }
    double free_at[IR_MAX_UNITS] = {0};
    int64_t pos = 0;
    for (int64_t left = prompt; left > 0;) {
        int64_t rows, padded;
        int p = ir_plan_next(g, left, pos == 0, &rows, &padded);
        if (p < 0) {
            snprintf(err, errlen, "simulate: no plan runs a step of %lld tokens", (long long)left);
            return -1;
        }
        r->prefill_us = run_step(c, p, padded, pos, free_at, r, 1);
        r->prefill_steps++;
        pos += rows;
        left -= rows;
    }
    double t = r->prefill_us;
    for (int64_t i = 0; i < gen; i++) {
        int64_t rows, padded;
        int p = ir_plan_next(g, 1, 1, &rows, &padded);
        if (p < 0) {
            snprintf(err, errlen, "simulate: no plan runs a decode step");
            return -1;
        }
        t = run_step(c, p, padded, pos + i, free_at, r, 0);
    }
    r->decode_us = t - r->prefill_us;
    r->prefill_tps = r->prefill_us > 0 ? (double)prompt / (r->prefill_us * 1e-6) : 0;
    r->decode_tps = r->decode_us > 0 ? (double)gen / (r->decode_us * 1e-6) : 0;
    return 0;
}
