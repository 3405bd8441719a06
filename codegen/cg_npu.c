/* cg_npu.c: the "npu-emu" device backend, one table of CgBackend.
 *
 * Each subgraph of a plan on the npu unit becomes one static int8 graph
 * (runtime/rt_npu.h): init() describes it (its tensors: the subgraph's
 * results and what it reads from outside, all of the plan's static rows;
 * its ops with their weights and scales) and builds it once; forward()
 * executes it at the subgraph's first node. The npu unit shares the
 * host's memory: its results live in its own arena (memplan's offsets),
 * the host reads them there and the graphs read the host's results in
 * the host's arena, so a graph's buffers are fixed pointers set at init.
 * The host's thread and the npu's hand over through a ready flag per
 * subgraph (cg_c.c writes those). Copies from and to an OpenCL unit are
 * that unit's code: it reads into the npu's arena and writes from it.
 */
#include "cg.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_TENSORS = 64 };

typedef struct {
    int plan, sub;
    int first;                  /* the subgraph's first node */
    int64_t rows;               /* static rows of every tensor: the plan's, or a part's of it */
    int nt;
    int tensor[MAX_TENSORS];    /* node ids: operands from outside, then results, in order */
} NpuGraph;

struct CgDev {
    int unit;
    const IrUnit *u;
    int ngraphs;
    NpuGraph *graphs;
    int *graph_of;              /* [g->n] the graph a node of the npu runs in, else -1 */
};

static int is_tensor(const IrNode *n)
{
    return n->op != IR_OP_WEIGHT && n->op != IR_OP_ROPE_TABLE && n->op != IR_OP_INPUT;
}

static void add_tensor(NpuGraph *gr, int id, const IrNode *n)
{
    for (int t = 0; t < gr->nt; t++)
        if (gr->tensor[t] == id) return;
    if (gr->nt == MAX_TENSORS) IR_BUG("npu subgraph of node %%%d: more than %d tensors", n->id, MAX_TENSORS);
    gr->tensor[gr->nt++] = id;
}

/* The tensor that operand id of a graph's op is: the node itself, or the
 * base of a view other than rows=. */
static int tensor_of(const IrGraph *g, int id)
{
    while (!cg_tensor_node(g, id)) id = g->nodes[id].in[0];
    return id;
}

static int tensor_index(const NpuGraph *gr, int id)
{
    for (int t = 0; t < gr->nt; t++)
        if (gr->tensor[t] == id) return t;
    IR_BUG("node %%%d is no tensor of its npu graph", id);
}

static CgDev *npu_plan(const CgEmit *e, int unit)
{
    const IrGraph *g = e->g;
    CgDev *d = calloc(1, sizeof *d);
    d->unit = unit;
    d->u = &g->units[unit];
    d->graph_of = malloc((size_t)g->n * sizeof *d->graph_of);
    d->graphs = calloc((size_t)g->n + 1, sizeof *d->graphs);
    for (int i = 0; i < g->n; i++) {
        const IrNode *n = &g->nodes[i];
        d->graph_of[i] = -1;
        if (n->unit != unit || !is_tensor(n) || n->op == IR_OP_COPY) continue;  /* copies: the OpenCL unit's */
        if (n->plan < 0 || g->plans[n->plan].kind != IR_PLAN_CHUNK)
            IR_BUG("node %%%d (%s) is on npu unit %s outside a static chunk plan", i, n->name, d->u->name);
        NpuGraph *gr = d->ngraphs ? &d->graphs[d->ngraphs - 1] : NULL;
        if (!gr || gr->plan != n->plan || gr->sub != n->sub) {
            gr = &d->graphs[d->ngraphs++];
            gr->plan = n->plan, gr->sub = n->sub, gr->first = i, gr->rows = n->dim[0];
        }
        d->graph_of[i] = d->ngraphs - 1;
    }
    for (int k = 0; k < d->ngraphs; k++) {    /* tensors: outside operands first, then results */
        NpuGraph *gr = &d->graphs[k];
        for (int i = gr->first; i < g->n && d->graph_of[i] == k; i++)
            for (int j = 0; j < g->nodes[i].nin; j++) {
                const IrNode *a = &g->nodes[tensor_of(g, g->nodes[i].in[j])];
                if (is_tensor(a) && d->graph_of[a->id] != k) add_tensor(gr, a->id, a);
            }
        for (int i = gr->first; i < g->n && d->graph_of[i] == k; i++) add_tensor(gr, i, &g->nodes[i]);
        for (int t = 0; t < gr->nt; t++)
            if (g->nodes[gr->tensor[t]].dim[0] != gr->rows)
                IR_BUG("npu graph of node %%%d: tensor %%%d has %lld rows, the graph %lld", gr->first,
                       gr->tensor[t], (long long)g->nodes[gr->tensor[t]].dim[0], (long long)gr->rows);
    }
    return d;
}

static void npu_free(CgDev *d)
{
    if (!d) return;
    free(d->graphs);
    free(d->graph_of);
    free(d);
}

static int npu_files(const CgEmit *e, char *err, size_t errlen) { return 0; }

static void npu_includes(const CgEmit *e) { fputs("#include \"rt_npu.h\"\n", e->f); }

static void npu_fields(const CgEmit *e)
{
    const CgDev *d = e->cl;
    int maxt = 1;
    for (int k = 0; k < d->ngraphs; k++)
        if (d->graphs[k].nt > maxt) maxt = d->graphs[k].nt;
    fprintf(e->f,
            "    RtNpu *npu;                 /* unit %s (npu-emu) */\n"
            "    uint8_t *%s_arena;          /* [MODEL_ARENA_%s_BYTES] its results, read by the host in place */\n"
            "    RtNpuGraph *graph[%d];       /* one static int8 graph per subgraph of %s */\n"
            "    void *graph_buf[MODEL_ARENA_SLOTS][%d][%d]; /* each graph's tensors per arena slot, fixed at init */\n",
            d->u->name, d->u->name, e->upper_unit, d->ngraphs ? d->ngraphs : 1, d->u->name,
            d->ngraphs ? d->ngraphs : 1, maxt);
}

static void npu_sizes(const CgEmit *e, FILE *h)
{
    fprintf(h, "#define MODEL_NPU_GRAPHS %d /* static int8 graphs of unit %s, built at init */\n", e->cl->ngraphs,
            e->cl->u->name);
}

/* The address of tensor id in arena slot s (a buffer in the host's arena
 * or a device's sharing it, or rows of one). */
static void address(const CgEmit *e, int id, char *buf, size_t cap)
{
    const IrNode *b = cg_base(e->g, id);
    int u = cg_arena_unit(e->g, b);
    int64_t at = b->offset + cg_view_bytes(e->g, id);
    if (u == e->cpu) snprintf(buf, cap, "m->arena + s * MODEL_ARENA_BYTES + %" PRId64, at);
    else if (u == e->cl_unit) snprintf(buf, cap, "m->%s_arena + s * MODEL_ARENA_%s_BYTES + %" PRId64, e->cl->u->name,
                                       e->upper_unit, at);
    else IR_BUG("npu graph tensor %%%d is in the arena of unit %s", id, e->g->units[u].name);
}

static const char *op_kind(IrOp op)
{
    switch (op) {
    case IR_OP_QUANT: return "RT_NPU_QUANT";
    case IR_OP_QLINEAR: return "RT_NPU_QLINEAR";
    case IR_OP_RMSNORM: return "RT_NPU_RMSNORM";
    case IR_OP_ADD: return "RT_NPU_ADD";
    case IR_OP_MUL: return "RT_NPU_MUL";
    case IR_OP_SILU: return "RT_NPU_SILU";
    case IR_OP_SWIGLU: return "RT_NPU_SWIGLU";
    default: return NULL;
    }
}

/* One op of graph k for node n: {kind, in0, in1, out, n, k, w8, wf, scale, name}. */
static void emit_op(const CgEmit *e, const NpuGraph *gr, const IrNode *n)
{
    const IrGraph *g = e->g;
    const char *kind = op_kind(n->op);
    if (!kind) IR_BUG("node %%%d: op %s has no npu-emu kernel", n->id, ir_op_name(n->op));
    const IrNode *x = &g->nodes[n->in[0]];
    int in1 = -1;
    char w8[48] = "NULL", wf[64] = "NULL", name[2 * IR_NAME_LEN], cname[4 * IR_NAME_LEN];
    double scale = 0;
    int64_t cols = n->dim[1], k = x->dim[1];
    switch (n->op) {
    case IR_OP_QUANT: scale = ir_attr_float(n, "scale"); break;
    case IR_OP_QLINEAR:
        snprintf(w8, sizeof w8, "(const int8_t *)m->w[%d]", cg_weight_index(g, n->in[1]));
        if (n->nin > 2) snprintf(wf, sizeof wf, "(const float *)m->w[%d]", cg_weight_index(g, n->in[2]));
        scale = ir_attr_float(n, "scale");
        break;
    case IR_OP_RMSNORM:
        snprintf(wf, sizeof wf, "(const float *)m->w[%d]", cg_weight_index(g, n->in[1]));
        scale = ir_attr_float(n, "eps");
        break;
    case IR_OP_ADD:
    case IR_OP_MUL:
    case IR_OP_SWIGLU: in1 = tensor_index(gr, tensor_of(g, n->in[1])); break;
    default: break;
    }
    snprintf(name, sizeof name, "%%%d %s", n->id, n->name);
    fprintf(e->f, "            {%s, %d, %d, %d, %" PRId64 ", %" PRId64 ", %s, %s, (float)%.9g, \"%s\"},\n", kind,
            tensor_index(gr, tensor_of(g, n->in[0])), in1, tensor_index(gr, n->id), cols, k, w8, wf, scale,
            cg_c_str(name, cname, sizeof cname));
}

static void npu_init(const CgEmit *e)
{
    const CgDev *d = e->cl;
    const IrGraph *g = e->g;
    FILE *f = e->f;
    fprintf(f, "    /* unit %s: its threads, its arena and one static int8 graph per subgraph */\n", d->u->name);
    fprintf(f, "    if (!st) st = rt_npu_emu.open(&m->npu, %d);\n", (int)ir_unit_int(d->u, "threads", 0));
    fprintf(f, "    if (!st && !(m->%s_arena = rt_alloc(MODEL_ARENA_SLOTS * MODEL_ARENA_%s_BYTES + 64))) {\n"
               "        rt_set_error(\"out of memory for the arena of unit %s\");\n        st = RT_ERR_NOMEM;\n    }\n",
            d->u->name, e->upper_unit, d->u->name);
    for (int k = 0; k < d->ngraphs; k++) {
        const NpuGraph *gr = &d->graphs[k];
        const IrPlan *pl = &g->plans[gr->plan];
        fprintf(f, "    if (!st) { /* graph %d: plan %s, subgraph %d */\n        static const RtNpuTensor tensors[] = {\n",
                k, pl->name, gr->sub);
        for (int t = 0; t < gr->nt; t++) {
            const IrNode *n = &g->nodes[gr->tensor[t]];
            fprintf(f, "            {%s, %" PRId64 ", %" PRId64 "}, /* %%%d %s%s */\n", n->dtype == IR_I8 ? "RT_I8" : "RT_F32",
                    n->ndim > 1 ? n->dim[1] : 1, ir_attr(n, "ld") ? ir_attr_int(n, "ld") : 0, n->id, n->name,
                    ir_attr(n, "ld") ? ", its columns of the join's rows" : "");
        }
        fputs("        };\n        const RtNpuOp ops[] = {\n", f);
        int nops = 0;
        for (int i = gr->first; i < g->n && d->graph_of[i] == k; i++, nops++) emit_op(e, gr, &g->nodes[i]);
        fprintf(f, "        };\n        const RtNpuGraphDesc desc = {\"%s subgraph %d\", %lld, %d, %d, tensors, %d, ops};\n"
                   "        st = rt_npu_emu.build(m->npu, &desc, &m->graph[%d]);\n",
                pl->name, gr->sub, (long long)gr->rows, (int)ir_unit_int(d->u, "tile", 32), gr->nt, nops, k);
        fputs("        for (size_t s = 0; s < MODEL_ARENA_SLOTS; s++) {\n", f);
        for (int t = 0; t < gr->nt; t++) {
            char addr[128];
            address(e, gr->tensor[t], addr, sizeof addr);
            fprintf(f, "            m->graph_buf[s][%d][%d] = %s;\n", k, t, addr);
        }
        fputs("        }\n    }\n", f);
    }
}

static void npu_destroy(const CgEmit *e)
{
    fprintf(e->f, "    for (int i = 0; i < %d; i++)\n        if (m->graph[i]) rt_npu_emu.free_graph(m->graph[i]);\n"
                  "    if (m->npu) rt_npu_emu.close(m->npu);\n    rt_free(m->%s_arena);\n",
            e->cl->ngraphs ? e->cl->ngraphs : 1, e->cl->u->name);
}

static int npu_busy(const CgEmit *e, char *buf, size_t cap)
{
    snprintf(buf, cap, "rt_npu_emu.busy_seconds(m->npu)");
    return 1;
}

static void npu_describe(const CgEmit *e)
{
    fprintf(e->f, "/* --bench: the npu unit's graphs and memory. */\n"
                  "static void describe(const RtModel *m, char *buf, size_t cap)\n{\n"
                  "    RtNpuMemory sum = {0}, one;\n"
                  "    for (int i = 0; i < MODEL_NPU_GRAPHS; i++) {\n"
                  "        rt_npu_emu.memory(m->graph[i], &one);\n"
                  "        sum.weight_bytes += one.weight_bytes, sum.work_bytes += one.work_bytes, sum.pad_bytes += one.pad_bytes;\n"
                  "    }\n"
                  "    snprintf(buf, cap, \"%s (npu-emu, %%s path): %%d static graphs; weights %%.1f MB, buffers %%.1f MB, \"\n"
                  "             \"of which tile padding %%.1f MB\", rt_npu_emu.path(m->npu), MODEL_NPU_GRAPHS,\n"
                  "             sum.weight_bytes / 1e6, sum.work_bytes / 1e6, sum.pad_bytes / 1e6);\n}\n"
                  "#define MODEL_DESCRIBE describe\n\n", e->cl->u->name);
}

static void npu_profile_unit(const CgEmit *e)
{
    fprintf(e->f, "    rt_prof_npu(&u[n++], \"%s\", &rt_npu_emu, m->npu, %" PRId64 ");\n", e->cl->u->name,
            ir_unit_int(e->cl->u, "tile", 32));
}

static int npu_owns(const CgEmit *e, const IrNode *n) { return n->unit == e->cl->unit && n->op != IR_OP_COPY; }

/* The graph runs at its subgraph's first node; the other nodes are in it. */
static void npu_node(const CgEmit *e, const IrNode *n)
{
    int k = e->cl->graph_of[n->id];
    if (k < 0 || e->cl->graphs[k].first != n->id) return;
    fprintf(e->f, "    if ((st = rt_npu_emu.execute(m->graph[%d], m->graph_buf[%s][%d])) != RT_OK) return st;\n", k,
            e->ooo ? "c & 1" : "0", k);
}

const CgBackend cg_backend_npu = {
    .name = "npu-emu",
    .plan = npu_plan,
    .free = npu_free,
    .files = npu_files,
    .includes = npu_includes,
    .fields = npu_fields,
    .sizes = npu_sizes,
    .init = npu_init,
    .destroy = npu_destroy,
    .busy = npu_busy,
    .describe = npu_describe,
    .profile_unit = npu_profile_unit,
    .owns = npu_owns,
    .node = npu_node,
};
