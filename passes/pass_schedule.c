/* pass_schedule.c: subgraphs, the units of scheduling.
 *
 * Requires: transfers (and runs after group where that runs). Provides: node.sub, the
 * subgraph of every node of a plan (shared constants have none). A
 * subgraph is a maximal run of consecutive nodes of one plan on one unit,
 * except that an attention node (with its KV append) is a subgraph of its
 * own: it reads the cache up to the step's position, so in a chunk plan it
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

void pass_schedule(IrGraph *g, const PassCtx *c)
{
    (void)c;
    int sub = -1, plan = -2, unit = -1, after_attention = 0;
    for (int i = 0; i < g->n; i++) {
        IrNode *n = &g->nodes[i];
        n->sub = -1;
        if (n->plan < 0) continue;
        if (n->plan != plan) sub = -1;
        int attention = n->op == IR_OP_ATTENTION;
        if (sub < 0 || n->plan != plan || n->unit != unit || attention || after_attention) sub++;
        n->sub = sub;
        plan = n->plan;
        unit = n->unit;
        after_attention = attention;
    }
}
