/* pass_group.c: fusion groups for decode steps.
 *
 * Requires: transfers (node ids are final from here on). Provides: the
 * attributes group=A and role=R on every node that a backend can compute
 * inside one launch, A being the id of the group's anchor, its last node,
 * whose role names the kind of group; the other members' roles name their
 * part. A backend with a fused kernel (the opencl backend) runs the whole
 * group at the anchor; others ignore the attributes and still run every
 * node, so the graph means what it meant before. The kinds, by anchor:
 *   qkv_rope  (a rope; decode plans) [norm ->] q, k, v linears -> rope_q
 *             and the anchor rope, feeding one attention: the launch writes
 *             rotated q and fills the KV cache (the attention only reads);
 *   gate_up   (swiglu; decode plans) [norm ->] gate, up linears -> swiglu;
 *   residual  (add; decode plans) linear -> add of a residual;
 *   head      (linear; decode plans) norm [-> view (last_rows)] -> linear;
 *   rope_kv   (attention; any plan, where qkv_rope did not take its ropes)
 *             rope_q and rope_k rotate in the attention's KV store launch.
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
    const char **role;      /* [n] the node's role in its group */
} Grouping;

static void join(Grouping *p, int id, int anchor, const char *role)
{
    p->group[id] = anchor;
    p->role[id] = role;
}

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
    join(p, x, anchor, "norm");
    if (view >= 0) join(p, view, anchor, "view");
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
    join(p, rq->id, anchor, rq->id == anchor ? "qkv_rope" : "rope_q");
    join(p, rk->id, anchor, rk->id == anchor ? "qkv_rope" : "rope_k");
    join(p, lins[0], anchor, "q");
    join(p, lins[1], anchor, "k");
    join(p, lins[2], anchor, "v");
    absorb_norm(p, lins, 3, anchor);
}

static void group_swiglu(Grouping *p, const IrNode *n)
{
    int lins[2] = {n->in[0], n->in[1]};
    if (lins[0] == lins[1] || !same_input_linears(p, lins, 2, n->unit) || p->g->nodes[lins[0]].nin != 2 ||
        p->g->nodes[lins[0]].dim[1] != p->g->nodes[lins[1]].dim[1])
        return;
    join(p, lins[0], n->id, "gate");
    join(p, lins[1], n->id, "up");
    join(p, n->id, n->id, "gate_up");
    absorb_norm(p, lins, 2, n->id);
}

static void group_residual(Grouping *p, const IrNode *n)
{
    for (int k = 0; k < 2; k++) {
        int l = n->in[k], res = n->in[1 - k];
        if (l == res || !free_node(p, l, n->unit, IR_OP_LINEAR) || p->uses[l] != 1) continue;
        join(p, l, n->id, "linear");
        join(p, n->id, n->id, "residual");
        absorb_norm(p, &l, 1, n->id);
        return;
    }
}

/* Ropes of q and k from one table, used by nothing but one attention,
 * rotate in the attention's KV store launch (any plan). */
static void group_rope_kv(Grouping *p, const IrNode *att)
{
    const IrNode *rq = &p->g->nodes[att->in[0]], *rk = &p->g->nodes[att->in[1]];
    if (!free_node(p, rq->id, att->unit, IR_OP_ROPE) || !free_node(p, rk->id, att->unit, IR_OP_ROPE) ||
        rq->id == rk->id || rq->in[1] != rk->in[1] || p->uses[rq->id] != 1 || p->uses[rk->id] != 1)
        return;
    join(p, rq->id, att->id, "rope_q");
    join(p, rk->id, att->id, "rope_k");
    join(p, att->id, att->id, "rope_kv");
}

static int in_decode_plan(const IrGraph *g, const IrNode *n)
{
    return n->plan >= 0 && g->plans[n->plan].kind == IR_PLAN_DECODE;
}

void pass_group(IrGraph *g, const PassCtx *c)
{
    (void)c;
    Grouping p = {g, ir_count_uses(g), malloc(((size_t)g->n + 1) * sizeof(int)),
                  calloc((size_t)g->n + 1, sizeof(const char *))};
    for (int i = 0; i < g->n; i++) p.group[i] = -1;
    for (int i = 0; i < g->n; i++) {     /* the decode launches: decode plans only */
        const IrNode *n = &g->nodes[i];
        if (n->op == IR_OP_ATTENTION && in_decode_plan(g, n)) group_attention_inputs(&p, n);
    }
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == IR_OP_SWIGLU && p.group[i] < 0 && in_decode_plan(g, &g->nodes[i]))
            group_swiglu(&p, &g->nodes[i]);
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == IR_OP_ADD && p.group[i] < 0 && in_decode_plan(g, &g->nodes[i]))
            group_residual(&p, &g->nodes[i]);
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == IR_OP_LINEAR && p.group[i] < 0 && in_decode_plan(g, &g->nodes[i]) &&
            absorb_norm(&p, &i, 1, i))
            join(&p, i, i, "head");
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == IR_OP_ATTENTION && p.group[i] < 0) group_rope_kv(&p, &g->nodes[i]);
    for (int i = 0; i < g->n; i++)
        if (p.group[i] >= 0) {
            ir_set_int(&g->nodes[i], "group", p.group[i]);
            ir_set_str(&g->nodes[i], "role", p.role[i]);
        }
    free(p.uses);
    free(p.group);
    free(p.role);
}
