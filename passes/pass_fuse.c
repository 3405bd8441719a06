/* pass_fuse.c: operator fusion on the lowered graph.
 *
 * Requires: lower. Provides: every mul(silu(a), b) whose silu result has no
 * other use becomes one swiglu(a, b) node (one pass over memory instead of
 * three); the silu node is removed.
 */
#include "passes.h"

#include <stdlib.h>
#include <string.h>

void pass_fuse(IrGraph *g, const PassCtx *c)
{
    if (g->n <= 0) return;
    int *uses = ir_count_uses(g);
    unsigned char *keep = malloc((size_t)g->n);
    memset(keep, 1, (size_t)g->n);
    for (int i = 0; i < g->n; i++) {
        IrNode *n = &g->nodes[i];
        if (n->op != IR_OP_MUL) continue;
        for (int k = 0; k < 2; k++) {
            const IrNode *s = &g->nodes[n->in[k]];
            if (s->op != IR_OP_SILU || uses[s->id] != 1) continue;
            int gate = s->in[0], up = n->in[1 - k];
            keep[s->id] = 0;
            n->op = IR_OP_SWIGLU;
            n->in[0] = gate;
            n->in[1] = up;
            break;
        }
    }
    ir_compact(g, keep);
    free(keep);
    free(uses);
}
