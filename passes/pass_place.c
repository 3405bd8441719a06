/* pass_place.c: layer-level placement of nodes on the units of the target.
 *
 * Requires: lower. Provides: g->units (the target's unit names) and
 * node.unit for every node. The whole decoder step goes to one unit: the
 * first gpu unit with backend "opencl" if the target has one, else the
 * first cpu unit with backend "c". The input ids and the output logits
 * belong to the host: the first cpu unit, where tokenization and sampling
 * run. Weights and the RoPE table take the unit of their first consumer;
 * a weight stored as bf16 that lands on an OpenCL unit is stored as f16
 * instead (OpenCL C has no bf16 type). Without a target: the graph's units,
 * else one cpu unit "cpu0".
 */
#include "passes.h"

#include <string.h>

static int find_unit(const FeTarget *t, const char *kind, const char *backend)
{
    for (int i = 0; i < t->nunits; i++)
        if (strcmp(t->units[i].kind, kind) == 0 && strcmp(t->units[i].backend, backend) == 0) return i;
    return -1;
}

static void set_units(IrGraph *g, const PassCtx *c)
{
    if (c->target) {
        g->nunits = c->target->nunits;
        for (int i = 0; i < g->nunits; i++)
            snprintf(g->units[i], sizeof g->units[i], "%s", c->target->units[i].name);
    } else if (g->nunits == 0) {
        g->nunits = 1;
        snprintf(g->units[0], sizeof g->units[0], "cpu0");
    }
}

/* The unit of a weight or table: that of its first consumer. */
static int first_consumer_unit(const IrGraph *g, int id)
{
    for (int i = id + 1; i < g->n; i++)
        for (int k = 0; k < g->nodes[i].nin; k++)
            if (g->nodes[i].in[k] == id) return g->nodes[i].unit;
    return g->nodes[id].unit;
}

void pass_place(IrGraph *g, const PassCtx *c)
{
    int host = 0, decoder = 0, opencl = 0;
    if (c->target) {
        host = find_unit(c->target, "cpu", "c");
        int gpu = find_unit(c->target, "gpu", "opencl");
        if (host < 0) {
            pass_error(c, "%s: the target needs a cpu unit with backend \"c\" (tokenizer and sampling run there)",
                       c->target->path);
            return;
        }
        opencl = gpu >= 0;
        decoder = opencl ? gpu : host;
    }
    set_units(g, c);
    for (int i = 0; i < g->n; i++) {
        IrNode *n = &g->nodes[i];
        n->unit = n->op == IR_OP_INPUT || n->op == IR_OP_OUTPUT ? host : decoder;
    }
    for (int i = g->n - 1; i >= 0; i--) {
        IrNode *n = &g->nodes[i];
        if (n->op != IR_OP_WEIGHT && n->op != IR_OP_ROPE_TABLE) continue;
        n->unit = first_consumer_unit(g, i);
        if (opencl && n->unit == decoder && n->dtype == IR_BF16) n->dtype = IR_F16;
    }
}
