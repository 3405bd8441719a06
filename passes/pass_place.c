/* pass_place.c: placement of nodes on the units of the target.
 *
 * Requires: lower. Provides: g->units (the target's units as IR objects:
 * kind, backend, memory space, settings and cost figures) and node.unit
 * for every node. The decoder goes to one unit, the first gpu unit with
 * backend "opencl" if the target has one, else the first cpu unit with
 * backend "c", except the ops the target places by kind (<place op=...
 * unit=.../>, e.g. attention on cpu0). The input ids and the output logits
 * belong to the host: the first cpu unit, where tokenization and sampling
 * run. A view (last_rows) stays with its operand. Weights and the RoPE
 * table take the unit of their first consumer; the others must share its
 * memory, except npu linears of a float weight, which read an int8 copy
 * of their own (pass quantize); a weight
 * stored as bf16 that lands on an OpenCL unit is stored as f16 instead
 * (OpenCL C has no bf16 type), and a weight of a block type (q8_0, ...)
 * that a unit reading it has no kernels for, as floats. With
 * --matmul-precision bf16, a linear of a bf16 weight on a cpu unit gets
 * xdtype=bf16: it rounds x to bf16 (llama.cpp's numerics for bf16
 * weights; twice the multiply-adds per instruction with AVX512_BF16).
 * A linear of the decode plan on an OpenCL unit whose weight is q4_0 in
 * layout g4, at most XQ_MAX_K columns, gets xdtype=q8_0: its one-token
 * launch quantises x to int8 blocks of 32 and multiplies with integer dot
 * products (llama.cpp's numerics for these types, as the cpu kernels of
 * block types always do; gemm and the launches of several tokens keep f32
 * x). Not q8_0: measured on an H100 (docs/PERF.md), its int8 gemv lost to
 * the float one on every shape but the head, and a 7B model's decode went
 * from 57% to 51% of the copy bandwidth; q4_0's float path spends more
 * instructions a byte, and its int8 gemv won on the largest shapes.
 * XQ_MAX_K keeps x's int8 copy in the 32 KB of local memory that OpenCL
 * guarantees.
 * Without a target: the graph's units, else one cpu unit "cpu0".
 */
#include "passes.h"

#include <string.h>

enum { XQ_MAX_K = 16384 };

static int find_unit(const FeTarget *t, const char *kind, const char *backend)
{
    for (int i = 0; i < t->nunits; i++)
        if (strcmp(t->units[i].kind, kind) == 0 && strcmp(t->units[i].backend, backend) == 0) return i;
    return -1;
}

/* The target's unit u as an IR unit object. */
static void ir_unit_of(IrUnit *out, const FeUnit *u)
{
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%s", u->name);
    snprintf(out->kind, sizeof out->kind, "%s", u->kind);
    snprintf(out->backend, sizeof out->backend, "%s", u->backend);
    snprintf(out->mem, sizeof out->mem, "%s", u->mem);
    if (strcmp(u->kind, "cpu") == 0 || strcmp(u->backend, "npu-emu") == 0) ir_unit_set_int(out, "threads", u->threads);
    if (strcmp(u->backend, "npu-emu") == 0) {
        ir_unit_set_int(out, "tile", u->tile);
        ir_unit_set_str(out, "ops", u->ops);
        ir_unit_set_str(out, "shapes", u->shapes);
    }
    if (u->shares[0]) ir_unit_set_str(out, "shares", u->shares);
    if (strcmp(u->backend, "opencl") == 0) {
        ir_unit_set_str(out, "platform", u->platform);
        ir_unit_set_str(out, "device", u->device);
        ir_unit_set_int(out, "index", u->index);
        ir_unit_set_int(out, "fp16", u->fp16);
        ir_unit_set_int(out, "wg", u->wg);
        ir_unit_set_int(out, "tile", u->tile);
        ir_unit_set_int(out, "att_alone", u->att_alone);
        ir_unit_set_int(out, "att_split", u->att_split);
        ir_unit_set_int(out, "att_chunks", u->att_chunks);
    }
    for (int i = 0; i < u->nfig; i++) ir_unit_set_float(out, u->fig[i].key, u->fig[i].v);
}

void pass_place_units(IrGraph *g, const FeTarget *t)
{
    g->nunits = t->nunits;
    for (int i = 0; i < g->nunits; i++) ir_unit_of(&g->units[i], &t->units[i]);
    if (t->mem_gbps > 0) ir_graph_set_float(g, "dram_gbps", t->mem_gbps);
}

static void set_units(IrGraph *g, const PassCtx *c)
{
    if (c->target) {
        pass_place_units(g, c->target);
    } else if (g->nunits == 0) {
        g->nunits = 1;
        IrUnit *u = &g->units[0];
        memset(u, 0, sizeof *u);
        snprintf(u->name, sizeof u->name, "cpu0");
        snprintf(u->kind, sizeof u->kind, "cpu");
        snprintf(u->backend, sizeof u->backend, "c");
        snprintf(u->mem, sizeof u->mem, "host");
        ir_unit_set_int(u, "threads", 0);
    }
}

/* The unit of op 'op' by the target's <place> elements, else dflt. */
static int placed(const FeTarget *t, IrOp op, int dflt)
{
    for (int i = 0; t && i < t->nplace; i++)
        if (strcmp(t->place[i].op, ir_op_name(op)) == 0) return t->place[i].unit;
    return dflt;
}

/* Whether node n goes to npu unit u: an op of its list ("ops"), inside a
 * layer, in a static chunk plan. */
static int on_npu(const IrGraph *g, const IrNode *n, const IrUnit *u)
{
    if (n->layer < 0 || n->plan < 0 || g->plans[n->plan].kind != IR_PLAN_CHUNK) return 0;
    const char *ops = ir_unit_str(u, "ops", "linear"), *name = ir_op_name(n->op);
    size_t len = strlen(name);
    for (const char *s = ops; (s = strstr(s, name)); s += len)
        if ((s == ops || s[-1] == ' ') && (s[len] == ' ' || s[len] == 0)) return 1;
    return 0;
}

/* Puts weight or table 'id' on the unit of its first consumer; -1 if its
 * consumers are in different memory spaces. */
static int consumer_unit(IrGraph *g, int id, const PassCtx *c)
{
    int unit = -1;
    for (int i = id + 1; i < g->n; i++)
        for (int k = 0; k < g->nodes[i].nin; k++) {
            if (g->nodes[i].in[k] != id) continue;
            int u = g->nodes[i].unit;
            if (g->nodes[i].op == IR_OP_LINEAR && k == 1 && pass_is_npu(g, u) && !ir_dtype_is_block(g->nodes[id].dtype))
                continue;   /* an npu reads its own int8 copy of a float weight (pass quantize) */
            if (unit >= 0 && !ir_same_memory(g, u, unit)) {
                pass_error(c, "%s: %s '%s' is used on units %s and %s; place its users on one unit",
                           c->target ? c->target->path : "place", ir_op_name(g->nodes[id].op), g->nodes[id].name,
                           g->units[unit].name, g->units[u].name);
                return -1;
            }
            if (unit < 0) unit = u;
        }
    return unit >= 0 ? unit : g->nodes[id].unit;
}

/* Whether unit u has kernels for weights of block type t: the c backend
 * runs q8_0, q4_0, q4_k, q5_k and q6_k (runtime/rt_quant.c), and q4_1,
 * q5_0 and q5_1 in layout r16 or as embedding rows (float_blocks checks
 * that); the opencl one q8_0 and q4_0 (rt_kernels.cl); npu-emu none (its
 * linears read int8 copies). */
static int runs_block(const IrUnit *u, IrDtype t)
{
    if (strcmp(u->backend, "opencl") == 0) return t == IR_Q8_0 || t == IR_Q4_0;
    return strcmp(u->backend, "c") == 0 && t >= IR_Q8_0 && t <= IR_Q6_K && t != IR_Q2_K && t != IR_Q3_K;
}

/* Block types the cpu's linears read in layout r16 (r16_only: the linears
 * read them in it alone; the cpu's other reader of them is an embedding). */
static int r16_type(IrDtype t) { return t != IR_Q5_K && t != IR_Q2_K && t != IR_Q3_K && t >= IR_Q8_0 && t <= IR_Q6_K; }
static int r16_only(IrDtype t) { return t == IR_Q4_1 || t == IR_Q5_0 || t == IR_Q5_1; }

/* A weight of a block type that one of its consumers' units cannot run is
 * stored as floats instead (f16 where an OpenCL unit reads it, else f32):
 * the values of those blocks (attribute 'blocks': the weights writer
 * dequantises a GGUF's blocks, or quantises a float tensor and back). A
 * model of config.json alone keeps its block type, which the cost model
 * prices by its bytes. A q8_0 or q4_0 weight read by OpenCL units only,
 * its rows whole groups of 4 blocks, is stored in layout g4 (ops.def): a
 * group's scales together and its quants in aligned words, which a GPU
 * loads in one instruction where the 34- and 18-byte blocks take several.
 * One of q8_0, q4_0, q4_1, q5_0, q5_1, q4_k or q6_k that only linears on
 * cpu units read, its rows in whole groups of 16 (at most 65536 columns: a
 * group is one slice of the weights writer), is stored in layout r16: 16
 * rows interleaved, so that one vector instruction steps all 16 rows' dot
 * products (runtime/rt_quant.c). */
static void float_blocks(IrGraph *g, const PassCtx *c)
{
    if (c->shapes_only) return;
    for (int id = 0; id < g->n; id++) {
        IrNode *w = &g->nodes[id];
        if (w->op != IR_OP_WEIGHT || !ir_dtype_is_block(w->dtype)) continue;
        int keep = 1, opencl = 0, others = 0, cpu_linears = 1, embeds = 1;
        for (int i = id + 1; i < g->n; i++)
            for (int k = 0; k < g->nodes[i].nin; k++)
                if (g->nodes[i].in[k] == id) {
                    const IrUnit *u = &g->units[g->nodes[i].unit];
                    keep = keep && runs_block(u, w->dtype);
                    opencl = opencl || strcmp(u->backend, "opencl") == 0;
                    others = others || strcmp(u->backend, "opencl") != 0;
                    cpu_linears = cpu_linears && g->nodes[i].op == IR_OP_LINEAR && k == 1 && strcmp(u->backend, "c") == 0;
                    embeds = embeds && g->nodes[i].op == IR_OP_EMBED && strcmp(u->backend, "c") == 0;
                }
        if (keep && opencl && !others && w->ndim == 2 && w->dim[1] % (4 * ir_dtype_block(w->dtype)) == 0)
            ir_set_str(w, "layout", "g4");
        int r16 = keep && cpu_linears && r16_type(w->dtype) && w->ndim == 2 && w->dim[0] % 16 == 0 && w->dim[1] <= 65536;
        if (r16) ir_set_str(w, "layout", "r16");
        keep = keep && (r16 || embeds || !r16_only(w->dtype));
        if (keep) continue;
        ir_set_str(w, "blocks", ir_dtype_name(w->dtype));  /* its values are those blocks' (cg_weights) */
        w->dtype = opencl ? IR_F16 : IR_F32;
    }
}

/* Linear n runs its one-token launch with int8 x (xdtype=q8_0, above). */
static int int8_x_on_opencl(const IrGraph *g, const IrNode *n)
{
    const IrNode *w = &g->nodes[n->in[1]];
    const IrAttr *layout = ir_attr(w, "layout");
    return strcmp(g->units[n->unit].backend, "opencl") == 0 && n->plan >= 0 &&
           g->plans[n->plan].kind == IR_PLAN_DECODE && w->dtype == IR_Q4_0 &&
           layout && strcmp(layout->s, "g4") == 0 && w->dim[1] <= XQ_MAX_K;
}

void pass_place(IrGraph *g, const PassCtx *c)
{
    int host = 0, decoder = 0, npu = -1;
    if (c->target) {
        npu = find_unit(c->target, "npu", "npu-emu");
        host = find_unit(c->target, "cpu", "c");
        int gpu = find_unit(c->target, "gpu", "opencl");
        if (host < 0) {
            pass_error(c, "%s: the target needs a cpu unit with backend \"c\" (tokenizer and sampling run there)",
                       c->target->path);
            return;
        }
        decoder = gpu >= 0 ? gpu : host;
    }
    set_units(g, c);
    for (int i = 0; i < g->n; i++) {
        IrNode *n = &g->nodes[i];
        if (n->op == IR_OP_INPUT || n->op == IR_OP_OUTPUT) n->unit = host;
        else if (ir_op_is_view(n->op)) n->unit = g->nodes[n->in[0]].unit;
        else n->unit = placed(c->target, n->op, npu >= 0 && on_npu(g, n, &g->units[npu]) ? npu : decoder);
    }
    float_blocks(g, c);
    for (int i = g->n - 1; i >= 0; i--) {
        IrNode *n = &g->nodes[i];
        if (n->op != IR_OP_WEIGHT && n->op != IR_OP_ROPE_TABLE) continue;
        n->unit = consumer_unit(g, i, c);
        if (n->unit < 0) return;
        if (strcmp(g->units[n->unit].backend, "opencl") == 0 && n->dtype == IR_BF16) n->dtype = IR_F16;
    }
    for (int i = 0; i < g->n; i++) {
        IrNode *n = &g->nodes[i];
        if (n->op != IR_OP_LINEAR) continue;
        const IrNode *w = &g->nodes[n->in[1]];
        if (c->matmul_bf16 && strcmp(g->units[n->unit].backend, "c") == 0 && w->dtype == IR_BF16)
            ir_set_str(n, "xdtype", "bf16");
        if (int8_x_on_opencl(g, n)) ir_set_str(n, "xdtype", "q8_0");
    }
}
