/* pass_chunk.c: plans of static shape (llm.npu's chunked prefill).
 *
 * Requires: lower (and runs after fuse and dce, so that the step is cleaned
 * once before it is copied). Provides: the graph's plans, and every node
 * in one of them except the shared constants (weights, RoPE tables), which
 * come first. The plans, in this order:
 *   decode       kind decode, s=1..min(IR_DECODE_MAX, max_chunk): steps of
 *                a few tokens (generation), on flexible shapes (none with
 *                --npu-decode, which adds a chunk of 1 instead: decode
 *                steps then run static, on the npu, for measuring);
 *   prefill-C    kind chunk, s=C, for each size of --chunk, ascending: a
 *                static copy of the step, S replaced by C everywhere, so
 *                every buffer size is a constant; a prompt runs as chunks,
 *                largest first, each through the same compiled plan;
 *   flex         kind flex, s=1..max_chunk: without --chunk, every prompt
 *                longer than a decode step; with it, the remainder d of
 *                L = k*C + d when --remainder flex.
 * With --remainder pad (the default where a unit takes static shapes only,
 * an npu; flex is the default elsewhere) there is no flex plan: the remainder runs on the smallest chunk >= d,
 * its last rows masked (ir.h states the rule, ops.def what masked rows
 * mean for attention and last_rows). Attention and its KV append are per
 * chunk by nature (they read the cache up to the chunk's position); every
 * other op of a chunk plan has the same static shape for every chunk, so
 * codegen compiles it once and the NPU backend builds its graph once.
 */
#include "passes.h"

#include <stdlib.h>
#include <string.h>

static int is_constant(const IrNode *n) { return n->op == IR_OP_WEIGHT || n->op == IR_OP_ROPE_TABLE; }

static void add_plan(IrGraph *g, const char *name, IrPlanKind kind, int64_t lo, int64_t hi)
{
    if (g->nplans == IR_MAX_PLANS) IR_BUG("more than %d plans", IR_MAX_PLANS);
    IrPlan *p = &g->plans[g->nplans++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->kind = kind;
    p->s_min = lo;
    p->s_max = hi;
}

/* Whether a unit of the target runs static shapes only (an npu): then
 * remainders are padded by default, else they run on a flex plan. */
static int static_only(const FeTarget *t)
{
    for (int i = 0; t && i < t->nunits; i++)
        if (strcmp(t->units[i].kind, "npu") == 0) return 1;
    return 0;
}

/* The plans the options ask for; -1 (with the error) when they do not fit. */
static int choose_plans(IrGraph *g, const PassCtx *c)
{
    int64_t max_chunk = ir_graph_int(g, "max_chunk", 1);
    int sizes[IR_MAX_PLANS], n = 0;
    for (int i = 0; i < c->nchunks; i++) {
        int C = c->chunks[i];
        if (C < 1 || C > max_chunk) {
            pass_error(c, "--chunk %d: a chunk must be 1 to %lld tokens (--max-chunk, the most one step takes)", C,
                       (long long)max_chunk);
            return -1;
        }
        int k = 0;
        while (k < n && sizes[k] < C) k++;
        if (k < n && sizes[k] == C) continue;
        if (n == IR_MAX_PLANS - 2) {
            pass_error(c, "--chunk: at most %d chunk sizes", IR_MAX_PLANS - 2);
            return -1;
        }
        memmove(sizes + k + 1, sizes + k, (size_t)(n - k) * sizeof *sizes);
        sizes[k] = C;
        n++;
    }
    if (!c->no_decode) add_plan(g, "decode", IR_PLAN_DECODE, 1, max_chunk < IR_DECODE_MAX ? max_chunk : IR_DECODE_MAX);
    for (int k = 0; k < n; k++) {
        char name[24];
        snprintf(name, sizeof name, "prefill-%d", sizes[k]);
        add_plan(g, name, IR_PLAN_CHUNK, sizes[k], sizes[k]);
    }
    int flex = n == 0 ? max_chunk > IR_DECODE_MAX : c->remainder == PASS_REMAINDER_FLEX;
    if (n > 0 && c->remainder == PASS_REMAINDER_DEFAULT) flex = !static_only(c->target);
    if (flex) add_plan(g, "flex", IR_PLAN_FLEX, 1, max_chunk);
    return 0;
}

void pass_chunk(IrGraph *g, const PassCtx *c)
{
    if (g->nplans) IR_BUG("pass chunk on a graph with plans");
    int inputs = 0, outputs = 0;
    for (int i = 0; i < g->n; i++) {
        inputs += g->nodes[i].op == IR_OP_INPUT;
        outputs += g->nodes[i].op == IR_OP_OUTPUT;
    }
    if (inputs != 1 || outputs != 1) {
        pass_error(c, "chunk: the step has %d inputs and %d outputs; a plan needs one of each", inputs, outputs);
        return;
    }
    IrGraph out;
    ir_graph_copy(&out, g);
    out.n = 0;
    if (choose_plans(&out, c)) {
        ir_graph_free(&out);
        return;
    }
    int *map = malloc(((size_t)g->n + 1) * sizeof *map);    /* old id -> new id, in the plan being built */
    for (int i = 0; i < g->n; i++) {
        if (!is_constant(&g->nodes[i])) continue;
        map[i] = ir_add_like(&out, &g->nodes[i]);
    }
    for (int p = 0; p < out.nplans; p++) {
        const IrPlan *pl = &out.plans[p];
        for (int i = 0; i < g->n; i++) {
            IrNode n = g->nodes[i];
            if (is_constant(&n)) continue;
            for (int k = 0; k < n.nin; k++) n.in[k] = map[n.in[k]];
            for (int d = 0; d < n.ndim; d++)
                if (n.dim[d] == IR_DIM_S && pl->kind == IR_PLAN_CHUNK) n.dim[d] = pl->s_max;
            n.plan = p;
            map[i] = ir_add_like(&out, &n);
        }
    }
    free(map);
    ir_graph_free(g);
    *g = out;
}
