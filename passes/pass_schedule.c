/* pass_schedule.c: subgraphs, the units of scheduling.
 *
 * Requires: transfers (and runs after group where that runs). Provides: node.sub, the
 * subgraph of every node of a plan (shared constants have none). A
 * subgraph is a maximal run of consecutive nodes of one plan on one unit,
 * except that an attention node (with its KV append) is a subgraph of its
 * own, and that a subgraph ends after a node that another unit sharing
 * its memory reads (a shadow, RoPE, attention): that unit waits for the
 * flag at the subgraph's end, so it can start while this one goes on (the
 * host computes the shadows of q, k and v while the npu computes them).
 * An attention node is a subgraph of its own: it reads the cache up to the step's position, so in a chunk plan it
 * is the per-chunk part, and every other subgraph of a chunk plan has one
 * static shape, shared by every chunk (the NPU backend builds each such
 * subgraph once at init). A subgraph waits for the subgraphs of other
 * units that produce its operands. A fusion group never spans two
 * subgraphs: its members are on one unit and attention never joins a
 * group. Numbers count from 0 in each plan.
 *
 * Order (graph attribute ooo, plan field inflight). A prompt of several
 * chunks runs them in order (--schedule inorder, ooo=0, inflight=1):
 * every subgraph of a chunk before any of the next. Out of order
 * (--schedule ooo, the default, ooo=1), as llm.npu does, a chunk plan of
 * several units that share one memory gets inflight=2: the next chunk's
 * subgraphs may run while this one's are still going (two chunks in
 * flight at most: their buffers alternate, so the third waits for all of
 * the first); each unit runs its subgraphs of a chunk in their order, and
 * its subgraph k of a chunk after its subgraph k of the chunk before (so
 * a layer's attention follows that of the chunk before: its KV rows).
 * Other plans (a unit of memory of its own: its copies) keep inflight=1.
 * When a unit is free and several subgraphs are ready, it takes the one
 * of the highest contribution score (llm.npu's greedy), then the earlier
 * chunk: the first node of a subgraph of a chunk plan carries score=U,
 * the microseconds of work of static-shape units (the npu's graphs) that
 * read its results, under the cost model: a float unit's subgraph that
 * feeds the npu goes first, so that the npu does not stall. Subgraphs
 * without the attribute score 0, and the npu's own run in chunk order.
 *
 * Hand-overs. In a plan of several units the first node of each subgraph
 * carries pred_us=T, its time under the cost model at the plan's smallest
 * step: the program tells it to whoever waits for the subgraph
 * (rt_flag_begin), who sleeps until shortly before then and then polls
 * (HeteroLLM's fast synchronisation), instead of polling the whole time
 * on cores the producer may share.
 */
#include "passes.h"

#include <stdlib.h>
#include <string.h>

/* read[i]: node i's result is read in place by a node of another unit
 * that shares its memory. */
static unsigned char *read_across(const IrGraph *g)
{
    unsigned char *read = calloc((size_t)g->n + 1, 1);
    for (int i = 0; i < g->n; i++) {
        const IrNode *n = &g->nodes[i];
        for (int k = 0; k < n->nin; k++) {
            int a = n->in[k];
            while (ir_op_is_view(g->nodes[a].op)) a = g->nodes[a].in[0];
            const IrNode *p = &g->nodes[a];
            if (p->plan >= 0 && p->unit != n->unit && n->op != IR_OP_COPY && ir_same_memory(g, p->unit, n->unit))
                read[a] = 1;
        }
    }
    return read;
}

/* The subgraphs of plan p: returns how many; dur[k], subgraph k's time
 * under the cost model at the plan's smallest step; first[k], its first
 * node (-1: none). The caller frees both. */
static int sub_times(const IrGraph *g, const IrCost *cost, int p, double **dur, int **first)
{
    int nsub = 0;
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].plan == p && g->nodes[i].sub + 1 > nsub) nsub = g->nodes[i].sub + 1;
    *dur = calloc((size_t)nsub + 1, sizeof **dur);
    *first = malloc(((size_t)nsub + 1) * sizeof **first);
    int64_t S = g->plans[p].s_min;
    for (int k = 0; k < nsub; k++) (*first)[k] = -1;
    for (int i = 0; i < g->n; i++) {
        const IrNode *n = &g->nodes[i];
        if (n->plan != p || n->sub < 0) continue;
        if ((*first)[n->sub] < 0) (*first)[n->sub] = i;
        (*dur)[n->sub] += ir_cost_node(cost, n, S, S).us;
    }
    return nsub;
}

/* score=U on the first node of each subgraph of chunk plan p that
 * static-shape units read from (see the comment at the top). */
static void contribution_scores(IrGraph *g, const PassCtx *c, int p)
{
    IrCost cost = {.g = g, .prof = c->profile};
    double *dur;
    int *first, nsub = sub_times(g, &cost, p, &dur, &first);
    double *score = calloc((size_t)nsub + 1, sizeof *score);
    unsigned char *fed = calloc((size_t)nsub * (size_t)nsub + 1, 1);   /* [a][b]: sub a feeds static sub b */
    for (int i = 0; i < g->n; i++) {
        const IrNode *n = &g->nodes[i];
        if (n->plan != p || n->sub < 0 || !ir_cost_is_static(&cost, n->unit)) continue;
        for (int j = 0; j < n->nin; j++) {
            const IrNode *a = &g->nodes[n->in[j]];
            if (a->plan == p && a->sub >= 0 && a->sub != n->sub && !ir_cost_is_static(&cost, a->unit))
                fed[(size_t)a->sub * (size_t)nsub + (size_t)n->sub] = 1;
        }
    }
    for (int a = 0; a < nsub; a++)
        for (int b = 0; b < nsub; b++)
            if (fed[(size_t)a * (size_t)nsub + (size_t)b]) score[a] += dur[b];
    for (int k = 0; k < nsub; k++)
        if (score[k] > 0 && first[k] >= 0) ir_set_float(&g->nodes[first[k]], "score", score[k]);
    free(dur);
    free(score);
    free(first);
    free(fed);
}

/* The score and pred_us of an earlier run of the pass go. */
static void drop_attrs(IrNode *n)
{
    for (int i = 0; i < n->nattr; i++)
        if (strcmp(n->attr[i].key, "score") == 0 || strcmp(n->attr[i].key, "pred_us") == 0) {
            memmove(&n->attr[i], &n->attr[i + 1], (size_t)(n->nattr - i - 1) * sizeof n->attr[0]);
            n->nattr--;
            i--;
        }
}

/* pred_us=T on the first node of each subgraph of plan p, if the plan runs on
 * several units: its predicted microseconds at the plan's smallest step
 * (the runtime's rt_flag_begin: a unit waiting for it sleeps until then). */
static void predicted_times(IrGraph *g, const PassCtx *c, int p)
{
    int unit = -1, units = 0;
    for (int i = 0; i < g->n; i++) {
        const IrNode *n = &g->nodes[i];
        if (n->plan != p || n->sub < 0) continue;
        if (unit < 0) unit = n->unit;
        units |= n->unit != unit;
    }
    if (!units) return;
    IrCost cost = {.g = g, .prof = c->profile};
    double *dur;
    int *first, nsub = sub_times(g, &cost, p, &dur, &first);
    for (int k = 0; k < nsub; k++)
        if (dur[k] > 0 && first[k] >= 0) ir_set_float(&g->nodes[first[k]], "pred_us", dur[k]);
    free(dur);
    free(first);
}

/* Whether chunks of plan p can run out of order: a chunk plan of two units
 * or more, all sharing one memory (the two chunks' buffers alternate by
 * offset; a copy to memory of its own would need its buffers twice). */
static int overlaps(const IrGraph *g, int p)
{
    if (g->plans[p].kind != IR_PLAN_CHUNK) return 0;
    int first = -1, units = 0;
    for (int i = 0; i < g->n; i++) {
        const IrNode *n = &g->nodes[i];
        if (n->plan != p || n->unit < 0 || n->op == IR_OP_INPUT || n->op == IR_OP_OUTPUT) continue;
        if (n->op == IR_OP_COPY) return 0;
        if (first < 0) first = n->unit;
        if (!ir_same_memory(g, first, n->unit)) return 0;
        units |= 1 << n->unit;
    }
    return units & (units - 1);
}

void pass_schedule(IrGraph *g, const PassCtx *c)
{
    unsigned char *read = read_across(g);
    int sub = -1, plan = -2, unit = -1, cut = 0;
    for (int i = 0; i < g->n; i++) {
        IrNode *n = &g->nodes[i];
        n->sub = -1;
        drop_attrs(n);
        if (n->plan < 0) continue;
        if (n->plan != plan) sub = -1;
        int attention = n->op == IR_OP_ATTENTION;
        if (sub < 0 || n->plan != plan || n->unit != unit || attention || cut) sub++;
        n->sub = sub;
        plan = n->plan;
        unit = n->unit;
        cut = attention || (read[i] && !ir_op_is_view(n->op));
    }
    free(read);
    int ooo = c->schedule != PASS_SCHEDULE_INORDER;
    ir_graph_set_int(g, "ooo", ooo);
    for (int p = 0; p < g->nplans; p++) {
        g->plans[p].inflight = ooo && overlaps(g, p) ? 2 : 1;
        if (g->plans[p].inflight == 2) contribution_scores(g, c, p);
        predicted_times(g, c, p);
    }
}
