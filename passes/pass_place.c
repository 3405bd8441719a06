/* pass_place.c: layer-level placement of nodes on the units of the target.
 *
 * Requires: lower. Provides: g->units (the target's unit names) and
 * node.unit for every node. Compute nodes go to the first unit whose
 * backend hetc generates code for; without a target, one cpu unit "cpu0".
 * Weights and the input live in memory every unit reads; they take the
 * unit of their first consumer.
 */
#include "passes.h"

#include <string.h>

static int pick_unit(const PassCtx *c)
{
    if (!c->target) return 0;
    for (int i = 0; i < c->target->nunits; i++)
        if (strcmp(c->target->units[i].backend, "c") == 0) return i;
    pass_error(c, "%s: no unit with backend \"c\"; this hetc generates code for cpu units only", c->target->path);
    return -1;
}

void pass_place(IrGraph *g, const PassCtx *c)
{
    int unit = pick_unit(c);
    if (unit < 0) return;
    if (c->target) {
        g->nunits = c->target->nunits;
        for (int i = 0; i < g->nunits; i++)
            snprintf(g->units[i], sizeof g->units[i], "%s", c->target->units[i].name);
    } else if (g->nunits == 0) {
        g->nunits = 1;
        snprintf(g->units[0], sizeof g->units[0], "cpu0");
    }
    for (int i = 0; i < g->n; i++) g->nodes[i].unit = unit;
}
