/* pass_dce.c: dead-node elimination.
 *
 * Requires: lower. Provides: only nodes that some output depends on
 * remain (unused weights of a checkpoint are not written to weights.bin).
 */
#include "passes.h"

#include <stdlib.h>

void pass_dce(IrGraph *g, const PassCtx *c)
{
    unsigned char *live = calloc((size_t)g->n, 1);
    for (int i = g->n - 1; i >= 0; i--) {
        const IrNode *n = &g->nodes[i];
        if (n->op == IR_OP_OUTPUT) live[i] = 1;
        if (!live[i]) continue;
        for (int k = 0; k < n->nin; k++) live[n->in[k]] = 1;
    }
    ir_compact(g, live);
    free(live);
}
