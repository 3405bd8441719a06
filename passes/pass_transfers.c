/* pass_transfers.c: explicit copies between memory spaces.
 *
 * Requires: place. Provides: every operand that lives in another memory
 * space than its consumer reaches it through a copy node placed on the
 * consumer's unit, made once per (operand, unit) and inserted just before
 * its first consumer. Units that share a memory space (e.g. a cpu and an
 * npu on a phone's unified memory) read each other's results where they
 * are: the hand-over is a ready flag, not a copy. Weights and RoPE tables
 * are not copied: each is loaded on the unit that uses it. A graph on one
 * memory space is left as it is.
 */
#include "passes.h"

#include <stdlib.h>
#include <string.h>

static int is_resident(const IrNode *n)
{
    return n->op == IR_OP_WEIGHT || n->op == IR_OP_ROPE_TABLE;
}

void pass_transfers(IrGraph *g, const PassCtx *c)
{
    IrGraph out;
    ir_graph_copy(&out, g);
    out.n = 0;
    int *map = malloc((size_t)g->n * sizeof *map);                       /* old id -> new id */
    int *copies = malloc((size_t)g->n * IR_MAX_UNITS * sizeof *copies);  /* [old id][unit] -> copy id */
    for (int i = 0; i < g->n * IR_MAX_UNITS; i++) copies[i] = -1;
    for (int i = 0; i < g->n; i++) {
        IrNode n = g->nodes[i];
        for (int k = 0; k < n.nin; k++) {
            const IrNode *src = &g->nodes[n.in[k]];
            int *slot = &copies[src->id * IR_MAX_UNITS + n.unit];
            if (ir_same_memory(g, src->unit, n.unit) || is_resident(src)) {
                n.in[k] = map[src->id];
                continue;
            }
            if (*slot < 0) {
                char name[IR_NAME_LEN];
                snprintf(name, sizeof name, "%.70s.to_%s", src->name, g->units[n.unit].name);
                int from = map[src->id];
                *slot = ir_add(&out, IR_OP_COPY, 1, &from, src->ndim, src->dim, src->dtype, src->layer, name);
                out.nodes[*slot].unit = n.unit;
                out.nodes[*slot].plan = n.plan;
            }
            n.in[k] = *slot;
        }
        map[i] = ir_add_like(&out, &n);
    }
    ir_graph_free(g);
    *g = out;
    free(copies);
    free(map);
}
