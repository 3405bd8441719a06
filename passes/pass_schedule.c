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
 * units that produce its operands; units run their subgraphs in this order
 * (in order for now: llm.npu's out-of-order schedule across chunks is the
 * next step). A fusion group never spans two subgraphs: its members are on
 * one unit and attention never joins a group. Numbers count from 0 in each
 * plan.
 */
#include "passes.h"

#include <stdlib.h>

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

void pass_schedule(IrGraph *g, const PassCtx *c)
{
    (void)c;
    unsigned char *read = read_across(g);
    int sub = -1, plan = -2, unit = -1, cut = 0;
    for (int i = 0; i < g->n; i++) {
        IrNode *n = &g->nodes[i];
        n->sub = -1;
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
}
