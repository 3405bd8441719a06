/* pass_group.c: fusion groups for decode steps.
 *
 * Requires: transfers (node ids are final from here on). Provides: the
 * attribute group=A on every node of a decode plan (steps of a few tokens)
 * that can be computed inside one launch, A being the id of the group's
 * anchor, its last node; prefill plans have no groups. A backend with a
 * fused decode kernel (the opencl backend's gemv family) runs the whole
 * group at the anchor; others ignore the attribute
 * and still run every node, so the graph means what it meant before. The
 * groups, by the anchor's op:
 *   rope    [rmsnorm ->] q, k, v linears -> rope of q and of k, feeding one
 *           attention: the launch writes rotated q and fills the KV cache
 *           (the attention then only reads it);
 *   swiglu  [rmsnorm ->] gate and up linears -> swiglu;
 *   add     linear -> add of a residual;
 *   linear  rmsnorm [-> last_rows] -> linear (the output head).
 * A node joins only if its result has no use outside the group, and all
 * members sit on one unit. memplan keeps the operands a group reads from
 * outside alive until its anchor, so that its launch never writes over
 * what it still reads.
 */
#include "passes.h"

#include <stdlib.h>

typedef struct {
    IrGraph *g;
    int *uses;              /* [n] uses of each result */
    int *group;             /* [n] anchor id, -1: none */
} Grouping;

static int free_node(const Grouping *p, int id, int unit, int op)
{
    const IrNode *n = &p->g->nodes[id];
    return n->op == op && n->unit == unit && p->group[id] < 0;
}

/* The rmsnorm feeding linears lins[0..nl-1] joins when they are its only
 * users; returns whether it did. */
static int absorb_norm(Grouping *p, const int *lins, int nl, int anchor)
{
    const IrNode *l0 = &p->g->nodes[lins[0]];
    int x = l0->in[0], view = -1;
    if (p->g->nodes[x].op == IR_OP_LAST_ROWS && nl == 1 && p->uses[x] == 1) view = x, x = p->g->nodes[x].in[0];
    if (!free_node(p, x, l0->unit, IR_OP_RMSNORM) || p->uses[x] != (view >= 0 ? 1 : nl)) return 0;
    for (int i = 1; i < nl; i++)
        if (p->g->nodes[lins[i]].in[0] != x) return 0;
    p->group[x] = anchor;
    if (view >= 0) p->group[view] = anchor;
    return 1;
}

static int same_input_linears(const Grouping *p, const int *ids, int count, int unit)
{
    const IrNode *a = &p->g->nodes[ids[0]];
    for (int i = 0; i < count; i++) {
        const IrNode *l = &p->g->nodes[ids[i]];
        if (!free_node(p, ids[i], unit, IR_OP_LINEAR) || p->uses[ids[i]] != 1 || l->in[0] != a->in[0] ||
            l->nin != a->nin || p->g->nodes[l->in[1]].dtype != p->g->nodes[a->in[1]].dtype)
            return 0;
    }
    return 1;
}

static void group_attention_inputs(Grouping *p, const IrNode *att)
{
    const IrGraph *g = p->g;
    const IrNode *rq = &g->nodes[att->in[0]], *rk = &g->nodes[att->in[1]];
    if (!free_node(p, rq->id, att->unit, IR_OP_ROPE) || !free_node(p, rk->id, att->unit, IR_OP_ROPE) ||
        rq->in[1] != rk->in[1] || p->uses[rq->id] != 1 || p->uses[rk->id] != 1)
        return;
    int lins[3] = {rq->in[0], rk->in[0], att->in[2]};
    if (!same_input_linears(p, lins, 3, att->unit) || g->nodes[lins[1]].dim[1] != g->nodes[lins[2]].dim[1]) return;
    int anchor = rq->id > rk->id ? rq->id : rk->id;
    for (int i = 0; i < 3; i++)
        if (lins[i] > anchor) return;   /* v after the ropes: no single point to launch at */
    p->group[rq->id] = p->group[rk->id] = anchor;
    for (int i = 0; i < 3; i++) p->group[lins[i]] = anchor;
    absorb_norm(p, lins, 3, anchor);
}

static void group_swiglu(Grouping *p, const IrNode *n)
{
    int lins[2] = {n->in[0], n->in[1]};
    if (lins[0] == lins[1] || !same_input_linears(p, lins, 2, n->unit) || p->g->nodes[lins[0]].nin != 2 ||
        p->g->nodes[lins[0]].dim[1] != p->g->nodes[lins[1]].dim[1])
        return;
    p->group[lins[0]] = p->group[lins[1]] = p->group[n->id] = n->id;
    absorb_norm(p, lins, 2, n->id);
}

static void group_residual(Grouping *p, const IrNode *n)
{
    for (int k = 0; k < 2; k++) {
        int l = n->in[k], res = n->in[1 - k];
        if (l == res || !free_node(p, l, n->unit, IR_OP_LINEAR) || p->uses[l] != 1) continue;
        p->group[l] = p->group[n->id] = n->id;
        absorb_norm(p, &l, 1, n->id);
        return;
    }
}

void pass_group(IrGraph *g, const PassCtx *c)
{
    (void)c;
    Grouping p = {g, ir_count_uses(g), malloc(((size_t)g->n + 1) * sizeof(int))};
    for (int i = 0; i < g->n; i++) p.group[i] = -1;
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == IR_OP_ATTENTION) group_attention_inputs(&p, &g->nodes[i]);
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == IR_OP_SWIGLU && p.group[i] < 0) group_swiglu(&p, &g->nodes[i]);
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == IR_OP_ADD && p.group[i] < 0) group_residual(&p, &g->nodes[i]);
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == IR_OP_LINEAR && p.group[i] < 0 && absorb_norm(&p, &i, 1, i)) p.group[i] = i;
    for (int i = 0; i < g->n; i++)     /* a group lies in one plan: keep those of decode plans */
        if (p.group[i] >= 0 && g->nodes[i].plan >= 0 && g->plans[g->nodes[i].plan].kind == IR_PLAN_DECODE)
            ir_set_int(&g->nodes[i], "group", p.group[i]);
    free(p.uses);
    free(p.group);
}
