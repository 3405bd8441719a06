/* cg_c.c: emits model.h and model.c, and the code of cpu units in them.
 *
 * model.c is straight-line C: one forward() with the code of every IR node,
 * each under a comment naming the node, its layer and shape. Nodes on the
 * cpu unit are calls into the runtime's kernels; nodes on an OpenCL unit
 * are written by that backend (cg_opencl.c). Activations live at the static
 * arena offsets memplan chose; weights are pointers into the mmap'd
 * weights.bin; the KV cache and attention scratch are allocated once at
 * init for the context asked for. Nothing is allocated after init. Names
 * from the model, the command line and the XML files go into the C text
 * escaped (string literals) or with "*\/" broken (comments).
 */
#include "cg.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/hetc_rt.h"

/* The RtDtype of each IrDtype (weights.bin stores IrDtype values; pass
 * place leaves block types only where a unit runs them). */
static const char *const rt_dtypes[] = {"RT_F32",  "RT_F16",  "RT_BF16", "RT_I32",  "RT_I8",
                                        "RT_Q8_0", "RT_Q4_0", "RT_Q4_1", "RT_Q5_0", "RT_Q5_1",
                                        "RT_Q2_K", "RT_Q3_K", "RT_Q4_K", "RT_Q5_K", "RT_Q6_K"};
_Static_assert(sizeof rt_dtypes / sizeof rt_dtypes[0] == IR_DTYPE_COUNT, "an RtDtype per IrDtype");
const char *cg_rt_dtype(IrDtype t)
{
    if ((int)t < 0 || t >= IR_DTYPE_COUNT) IR_BUG("dtype %d", (int)t);
    return rt_dtypes[t];
}
_Static_assert(RT_F32 == (int)IR_F32 && RT_F16 == (int)IR_F16 && RT_BF16 == (int)IR_BF16 && RT_I32 == (int)IR_I32 &&
               RT_I8 == (int)IR_I8 && RT_Q8_0 == (int)IR_Q8_0 && RT_Q4_0 == (int)IR_Q4_0 && RT_Q6_K == (int)IR_Q6_K,
               "weights.bin stores IrDtype values as RtDtype");

typedef CgEmit Emit;

/* The RtDtype of weight w (weights.bin's table, the linears reading it):
 * with RT_R16 in layout r16 (pass place). */
static const char *weight_rt_dtype(const IrNode *w, char *buf)
{
    if (!ir_attr(w, "layout") || strcmp(ir_attr_str(w, "layout"), "r16") != 0) return cg_rt_dtype(w->dtype);
    sprintf(buf, "%s | RT_R16", cg_rt_dtype(w->dtype));
    return buf;
}

/* What a linear's xdtype (pass place) adds to its weight's RtDtype. */
static const char *x_rt_dtype(const IrNode *n)
{
    return ir_attr(n, "xdtype") && strcmp(ir_attr_str(n, "xdtype"), "bf16") == 0 ? " | RT_XBF16" : "";
}

const char *cg_rows_expr(const IrNode *n, char *buf)
{
    int64_t r = n->ndim ? n->dim[0] : 1;
    if (r == IR_DIM_S) return "S";
    if (r == IR_DIM_R) return "R";
    sprintf(buf, "%" PRId64, r);
    return buf;
}

/* s as the inside of a C string literal: quotes, backslashes, '?' (no
 * trigraphs) and unprintable bytes escaped. */
const char *cg_c_str(const char *s, char *buf, size_t cap)
{
    size_t k = 0;
    for (; *s && k + 5 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\' || c == '?') k += (size_t)snprintf(buf + k, cap - k, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f) k += (size_t)snprintf(buf + k, cap - k, "\\%03o", c);
        else buf[k++] = (char)c;
    }
    buf[k] = 0;
    return buf;
}

const char *cg_c_comment(const char *s, char *buf, size_t cap)
{
    size_t k = 0;
    for (; *s && k + 3 < cap; s++) {
        buf[k++] = *s;
        if (s[0] == '*' && s[1] == '/') buf[k++] = ' ';
    }
    buf[k] = 0;
    return buf;
}

static int64_t cols(const IrNode *n)
{
    return n->ndim > 1 ? n->dim[1] : 1;
}

/* "[S,64] f32": the shape and dtype of a node, for comments. */
static const char *shape_text(const IrNode *n, char *buf, size_t cap)
{
    char shape[IR_SHAPE_LEN];
    snprintf(buf, cap, "%s %s", ir_shape_str(n, shape), ir_dtype_name(n->dtype));
    return buf;
}

/* The C expression for operand node id. */
static const char *ref(const Emit *e, int id, char *buf)
{
    const IrNode *n = &e->g->nodes[id];
    switch (n->op) {
    case IR_OP_INPUT: return "ids";
    case IR_OP_WEIGHT: sprintf(buf, "m->w[%d]", cg_weight_index(e->g, id)); return buf;
    case IR_OP_ROPE_TABLE: sprintf(buf, "rope_table_%d", id); return buf;
    default: sprintf(buf, "t%d", id); return buf;
    }
}

static void emit_rope_tables(Emit *e)
{
    for (int i = 0; i < e->g->n; i++) {
        const IrNode *n = &e->g->nodes[i];
        if (n->op != IR_OP_ROPE_TABLE) continue;
        float *t = malloc((size_t)n->dim[0] * sizeof *t);
        ir_rope_table(n, t);
        fprintf(e->f, "/* %%%d rope_table: RoPE inverse frequencies, theta=%g type=%s */\n", i,
                ir_attr_float(n, "theta"), ir_attr_str(n, "type"));
        fprintf(e->f, "static const float rope_table_%d[%" PRId64 "] = {", i, n->dim[0]);
        for (int64_t k = 0; k < n->dim[0]; k++) fprintf(e->f, "%s%.9g%s", k % 6 ? " " : "\n    ", t[k], ",");
        fprintf(e->f, "\n};\n\n");
        free(t);
    }
}

/* The channel sets of the shadows (pass outliers). */
static void emit_chans(Emit *e)
{
    for (int i = 0; i < e->g->nchans; i++) {
        const IrChans *s = &e->g->chans[i];
        char name[2 * IR_NAME_LEN];
        fprintf(e->f, "/* channel set \"%s\": the hot input channels of its shadows */\n"
                      "static const int32_t chans_%d[%d] = {", cg_c_comment(s->name, name, sizeof name), i, s->n);
        for (int k = 0; k < s->n; k++) fprintf(e->f, "%s%d,", k % 12 ? " " : "\n    ", (int)s->idx[k]);
        fputs("\n};\n\n", e->f);
    }
}

static void emit_weight_table(Emit *e)
{
    fprintf(e->f, "/* Weights: entry k of weights.bin is m->w[k]. */\nstatic const struct {\n"
                  "    const char *name;\n    RtDtype dtype;\n    uint64_t nbytes;\n} weight_info[%d] = {\n",
            e->nweights);
    for (int i = 0; i < e->g->n; i++) {
        const IrNode *n = &e->g->nodes[i];
        if (n->op != IR_OP_WEIGHT) continue;
        char name[4 * IR_NAME_LEN], key[IR_NAME_LEN + 8], dt[32];
        fprintf(e->f, "    {\"%s\", %s, %" PRId64 "},\n", cg_c_str(ir_weight_key(n, key), name, sizeof name), weight_rt_dtype(n, dt),
                ir_dtype_bytes(n->dtype, ir_numel(n, 1, 1)));
    }
    fprintf(e->f, "};\n\n");
}

/* A join: the parts not computed in place (memplan gave them no arena=)
 * are copied into their rows or columns of its buffer. */
static void emit_join(Emit *e, const IrNode *n)
{
    int64_t at = 0;
    for (int k = 0; k < 2; k++) {
        const IrNode *p = &e->g->nodes[n->in[k]];
        int64_t rows = p->dim[0], pc = cols(p);
        if (!ir_attr(p, "arena") && ir_attr_int(n, "axis"))
            fprintf(e->f, "    for (int r = 0; r < %" PRId64 "; r++)\n"
                          "        memcpy(t%d + (size_t)r * %" PRId64 " + %" PRId64 ", t%d + (size_t)r * %" PRId64
                          ", %" PRId64 " * sizeof(float));\n",
                    rows, n->id, cols(n), at, p->id, pc, pc);
        else if (!ir_attr(p, "arena"))
            fprintf(e->f, "    memcpy(t%d + (size_t)%" PRId64 " * %" PRId64 ", t%d, (size_t)%" PRId64 " * %" PRId64
                          " * sizeof(float));\n", n->id, at, cols(n), p->id, rows, pc);
        at += ir_attr_int(n, "axis") ? pc : rows;
    }
}

/* Whether node c reads node n's storage for its code (a join does not
 * read the parts computed in place). */
static int reads(const IrGraph *g, const IrNode *c, const IrNode *n)
{
    for (int k = 0; k < c->nin; k++)
        if (cg_base(g, c->in[k]) == n && !(c->op == IR_OP_JOIN && ir_attr(n, "arena"))) return 1;
    return 0;
}

/* The kernel call of one compute node. */
static void emit_call(Emit *e, const IrNode *n)
{
    FILE *f = e->f;
    char a[32], b[32], c[32], d[32], rb[24], dt[32];
    const IrNode *x = n->nin ? &e->g->nodes[n->in[0]] : NULL;
    const char *rows = cg_rows_expr(n, rb);
    int64_t w = cols(n);
    switch (n->op) {
    case IR_OP_EMBED:
        fprintf(f, "    rt_embed(pool, t%d, %s, %s, ids, %s, %" PRId64 ");\n", n->id, ref(e, n->in[1], a),
                cg_rt_dtype(e->g->nodes[n->in[1]].dtype), rows, w);
        break;
    case IR_OP_RMSNORM:
        fprintf(f, "    rt_rmsnorm(pool, t%d, %s, %s, %s, %" PRId64 ", %.9gf);\n", n->id, ref(e, n->in[0], a),
                ref(e, n->in[1], b), rows, w, ir_attr_float(n, "eps"));
        break;
    case IR_OP_LINEAR:
        if (n->nin > 2) sprintf(c, "(const float *)%s", ref(e, n->in[2], d));
        else strcpy(c, "NULL");
        if (ir_attr(n, "ld"))   /* a part of a split linear: its columns of the join's rows */
            fprintf(f, "    rt_linear_ld(pool, t%d, %" PRId64 ", %s, %s, %s%s, %s, %s, %" PRId64 ", %" PRId64 ");\n",
                    n->id, ir_attr_int(n, "ld"), ref(e, n->in[0], a), ref(e, n->in[1], b),
                    weight_rt_dtype(&e->g->nodes[n->in[1]], dt), x_rt_dtype(n), c, rows, w, cols(x));
        else
            fprintf(f, "    rt_linear(pool, t%d, %s, %s, %s%s, %s, %s, %" PRId64 ", %" PRId64 ");\n", n->id,
                    ref(e, n->in[0], a), ref(e, n->in[1], b), weight_rt_dtype(&e->g->nodes[n->in[1]], dt),
                    x_rt_dtype(n), c, rows, w, cols(x));
        break;
    case IR_OP_JOIN: emit_join(e, n); break;
    case IR_OP_ROPE:
        fprintf(f, "    rt_rope(pool, t%d, %s, %s, %s, %" PRId64 ", %" PRId64 ", P);\n", n->id, ref(e, n->in[0], a),
                ref(e, n->in[1], b), rows, ir_attr_int(n, "heads"), ir_attr_int(n, "head_dim"));
        break;
    case IR_OP_ATTENTION:
        fprintf(f, "    rt_attention(pool, t%d, %s, %s, %s, m->kc + (size_t)m->ctx * %d, m->vc + (size_t)m->ctx * %d,\n"
                   "                 S, P, %" PRId64 ", %" PRId64 ", %" PRId64 ", %.9gf, %" PRId64 ", m->ctx, m->scratch);\n",
                n->id, ref(e, n->in[0], a), ref(e, n->in[1], b), ref(e, n->in[2], c), (int)n->kv_offset,
                (int)n->kv_offset, ir_attr_int(n, "heads"), ir_attr_int(n, "kv_heads"), ir_attr_int(n, "head_dim"),
                ir_attr_float(n, "scale"), ir_attr_int(n, "window"));
        if (n->dim[0] != IR_DIM_S)  /* a chunk plan: the padding rows are masked */
            fprintf(f, "    if (S < %s) memset(t%d + (size_t)S * %" PRId64 ", 0, (size_t)(%s - S) * %" PRId64 " * sizeof(float));\n",
                    rows, n->id, w, rows, w);
        break;
    case IR_OP_SILU:
        fprintf(f, "    rt_silu(pool, t%d, %s, (int64_t)%s * %" PRId64 ");\n", n->id, ref(e, n->in[0], a), rows, w);
        break;
    case IR_OP_SHADOW: {
        const IrChans *set = ir_chans_find(e->g, ir_attr_str(n, "chans"));
        fprintf(f, "    rt_shadow(pool, t%d, %s, %s, chans_%d, %d, %.9gf, %s, %" PRId64 ", %" PRId64 ");\n", n->id,
                ref(e, n->in[0], a), ref(e, n->in[1], b), (int)(set - e->g->chans), set->n, ir_attr_float(n, "scale"),
                rows, w, cols(x));
        break;
    }
    case IR_OP_MUL:
    case IR_OP_SWIGLU:
    case IR_OP_ADD:
        fprintf(f, "    rt_%s(pool, t%d, %s, %s, (int64_t)%s * %" PRId64 ");\n", ir_op_name(n->op), n->id,
                ref(e, n->in[0], a), ref(e, n->in[1], b), rows, w);
        break;
    default: IR_BUG("no cpu kernel for op %s", ir_op_name(n->op));
    }
}

const IrNode *cg_base(const IrGraph *g, int id)
{
    while (ir_op_is_view(g->nodes[id].op)) id = g->nodes[id].in[0];
    return &g->nodes[id];
}

static int feeds_output(const IrGraph *g, int id)
{
    for (int i = id + 1; i < g->n; i++)
        if (g->nodes[i].op == IR_OP_OUTPUT && g->nodes[i].in[0] == id) return 1;
    return 0;
}

int cg_in_part(const CgEmit *e, int u) { return u >= 0 && (e->part >> u) & 1; }

/* The device entry of unit u, NULL for the host and units without a backend. */
static const CgDevice *device_of(const Emit *e, int u)
{
    for (int d = 0; d < e->ndev; d++)
        if (e->dev[d].unit == u) return &e->dev[d];
    return NULL;
}

/* Points the backend cursor of e (be, cl, cl_unit, upper_unit) at device d. */
static void use_device(Emit *e, const CgDevice *d)
{
    e->be = d->be;
    e->cl = d->state;
    e->cl_unit = d->unit;
    memcpy(e->upper_unit, d->upper, sizeof e->upper_unit);
}

/* Whether unit u's memory is the host's (the host or a device sharing it). */
static int host_memory(const Emit *e, int u) { return ir_same_memory(e->g, u, e->cpu); }

int cg_exec_unit(const CgEmit *e, const IrNode *n)
{
    if (n->op != IR_OP_COPY) return n->unit;
    int src = cg_base(e->g, n->in[0])->unit;
    return host_memory(e, n->unit) && !host_memory(e, src) ? src : n->unit;
}

int cg_arena_unit(const IrGraph *g, const IrNode *n)
{
    const IrAttr *a = ir_attr(n, "arena");
    if (!a) return n->unit;
    for (int u = 0; u < g->nunits; u++)
        if (strcmp(g->units[u].name, a->s) == 0) return u;
    IR_BUG("node %%%d: arena of unknown unit '%s'", n->id, a->s);
}

int64_t cg_view_bytes(const IrGraph *g, int id)
{
    int64_t at = 0;
    for (const IrNode *v = &g->nodes[id]; ir_op_is_view(v->op); v = &g->nodes[v->in[0]]) {
        if (v->op != IR_OP_ROWS) IR_BUG("node %%%d: a %s view has no fixed place", v->id, ir_op_name(v->op));
        at += ir_attr_int(v, "row0") * cols(v) * ir_dtype_size(v->dtype);
    }
    return at;
}

int cg_tensor_node(const IrGraph *g, int id)
{
    return !ir_op_is_view(g->nodes[id].op) || g->nodes[id].op == IR_OP_ROWS;
}

const char *cg_host_addr(const CgEmit *e, const IrNode *n, char *buf, size_t cap)
{
    int u = cg_arena_unit(e->g, n);
    if (!host_memory(e, u)) IR_BUG("node %%%d is not in the host's memory", n->id);
    if (u == e->cpu) snprintf(buf, cap, "(float *)(A + %" PRId64 ")", n->offset);
    else if (e->ooo) snprintf(buf, cap, "(float *)(A_%s + %" PRId64 ")", e->g->units[u].name, n->offset);
    else snprintf(buf, cap, "(float *)(m->%s_arena + %" PRId64 ")", e->g->units[u].name, n->offset);
    return buf;
}

/* After node n: set the flags of the copies that read it and that another
 * thread enqueues (to a unit of memory of its own), which waits for them. */
static void hand_over(Emit *e, const IrNode *n)
{
    for (int i = n->id + 1; i < e->g->n && e->g->nodes[i].plan == n->plan; i++) {
        const IrNode *c = &e->g->nodes[i];
        if (c->op == IR_OP_COPY && !cg_in_part(e, cg_exec_unit(e, c)) && cg_base(e->g, c->in[0]) == n)
            fprintf(e->f, "    rt_flag_set(&m->flag[%d], m->step);    /* to %%%d %s */\n", e->handover[i], c->id, c->name);
    }
}

/* Whether a node of the host's reads node n (a view) directly. */
static int host_reads(const IrGraph *g, const IrNode *n)
{
    for (int j = n->id + 1; j < g->n && g->nodes[j].plan == n->plan; j++)
        for (int k = 0; k < g->nodes[j].nin; k++)
            if (g->nodes[j].in[k] == n->id && g->nodes[j].unit == n->unit) return 1;
    return 0;
}

static void emit_node(Emit *e, const IrNode *n)
{
    FILE *f = e->f;
    char sh[96], a[64];
    if (n->op == IR_OP_INPUT || n->op == IR_OP_WEIGHT || n->op == IR_OP_ROPE_TABLE || n->op == IR_OP_OUTPUT) return;
    if (n->op == IR_OP_LAST_ROWS && n->unit != e->cpu) return; /* the backend offsets its reader */
    if (n->op == IR_OP_ROWS && (!host_memory(e, n->unit) || !host_reads(e->g, n)))
        return;     /* only a device's graph or kernels read it (they offset their reads) */
    int mine = cg_in_part(e, cg_exec_unit(e, n));
    int waits = !mine && n->op == IR_OP_COPY && cg_in_part(e, n->unit);    /* another thread enqueued it */
    if (!mine && !waits) return;
    char name[2 * IR_NAME_LEN];
    cg_c_comment(n->name, name, sizeof name);
    if (e->mode != CG_DECLS) {
        shape_text(n, sh, sizeof sh);
        if (n->layer >= 0 && n->layer != e->last_layer) fprintf(f, "\n    /* ---- layer %d ---- */\n", n->layer);
        if (n->layer >= 0) e->last_layer = n->layer;
        if (n->sub >= 0 && n->sub != e->last_sub) {
            const IrPlan *pl = &e->g->plans[n->plan];
            fprintf(f, "    /* -- subgraph %d on %s%s -- */\n", n->sub, e->g->units[n->unit].name,
                    pl->kind != IR_PLAN_CHUNK ? "" : n->op == IR_OP_ATTENTION ? ", per chunk" : ", shared by every chunk");
            e->last_sub = n->sub;
        }
        char layer[24] = "", wname[2 * IR_NAME_LEN];
        if (n->layer >= 0) snprintf(layer, sizeof layer, " layer %d", n->layer);
        fprintf(f, "    /* %%%d %s \"%s\"%s %s", n->id, ir_op_name(n->op), name, layer, sh);
        for (int k = 0; k < n->nin; k++) {
            const IrNode *w = &e->g->nodes[n->in[k]];
            if (w->op != IR_OP_WEIGHT) continue;
            shape_text(w, sh, sizeof sh);
            fprintf(f, "\n     *   %s %s", cg_c_comment(ir_attr_str(w, "name"), wname, sizeof wname), sh);
        }
        fputs(" */\n", f);
    }
    int host = n->unit == e->cpu, decls = e->mode != CG_CALLS;
    if (n->op == IR_OP_LAST_ROWS || n->op == IR_OP_ROWS) {
        if (n->op == IR_OP_LAST_ROWS && decls)
            fprintf(f, "    float *t%d = %s + (size_t)(S - R) * %" PRId64 ";\n", n->id, ref(e, n->in[0], a), cols(n));
        else if (decls)
            fprintf(f, "    float *t%d = %s + (size_t)%" PRId64 " * %" PRId64 ";\n", n->id, ref(e, n->in[0], a),
                    ir_attr_int(n, "row0"), cols(n));
        return;
    }
    if (decls && host && feeds_output(e->g, n->id)) fprintf(f, "    float *t%d = logits;\n", n->id);
    else if (decls && (host || (mine && n->op == IR_OP_COPY && host_memory(e, n->unit))))
        fprintf(f, "    float *t%d = %s;\n", n->id, cg_host_addr(e, n, a, sizeof a));
    if (e->mode == CG_DECLS) return;
    const CgDevice *d = device_of(e, cg_exec_unit(e, n));
    if (waits)      /* a subgraph's time (model --profile) leaves the wait out */
        fprintf(f, "    const double w%d = T ? rt_now() : 0;\n"
                   "    if ((st = rt_flag_wait(&m->flag[%d], m->step, &m->abort)) != RT_OK ||\n"
                   "        (st = rt_cl_wait_event(m->ev[%d], &m->abort, \"%%%d %s\")) != RT_OK)\n        return st;\n"
                   "    if (T) t0 += rt_now() - w%d;\n",
                n->id, e->handover[n->id], e->handover[n->id], n->id, name, n->id);
    else if (d) {
        use_device(e, d);
        if (!e->be->owns(e, n)) IR_BUG("node %%%d (%s) on unit %s: its backend does not own it", n->id,
                                       ir_op_name(n->op), e->g->units[d->unit].name);
        e->be->node(e, n);
    } else {
        emit_call(e, n);
    }
    hand_over(e, n);
}

/* Whether any node on the host needs storage or a kernel (forward() then
 * needs the pool and arena): not only the logits read back. */
static int cpu_kernels(const Emit *e)
{
    for (int i = 0; i < e->g->n; i++) {
        const IrNode *n = &e->g->nodes[i];
        if (n->unit == e->cpu && n->op != IR_OP_INPUT && n->op != IR_OP_WEIGHT && n->op != IR_OP_ROPE_TABLE &&
            n->op != IR_OP_OUTPUT && !(n->op == IR_OP_COPY && feeds_output(e->g, n->id)))
            return 1;
    }
    return 0;
}

/* The C name of plan p: "plan_" and its name with '-' as '_'. */
static const char *plan_fn(const IrPlan *p, char buf[48])
{
    snprintf(buf, 48, "plan_%s", p->name);
    for (char *c = buf; *c; c++)
        if (*c == '-' || *c == '.') *c = '_';
    return buf;
}

/* The threads a step of plan p runs on, as unit sets: the calling
 * thread's first (the host's, and the first computing device's when the
 * host's part is only the ids going in and the logits coming out: it
 * enqueues that device's work and reads the logits back), then one per
 * other device unit that computes in the plan. One thread: every unit. */
static int plan_threads(const Emit *e, int p, unsigned part[CG_MAX_DEVICES + 1])
{
    unsigned busy = 0;
    for (int i = 0; i < e->g->n; i++) {
        const IrNode *n = &e->g->nodes[i];
        if (n->plan != p || n->op == IR_OP_INPUT || n->op == IR_OP_OUTPUT || ir_op_is_view(n->op)) continue;
        busy |= 1u << cg_exec_unit(e, n);
    }
    int nt = 1;
    part[0] = 1u << e->cpu;
    for (int d = 0; d < e->ndev; d++) {
        unsigned bit = 1u << e->dev[d].unit;
        if (!(busy & bit)) continue;
        if (!(busy & part[0])) part[0] |= bit;
        else part[nt++] = bit;
    }
    if (nt == 1) part[0] = ~0u;
    return nt;
}

/* In a function with the host's code: pointers to the results of device
 * units sharing the host's memory that the host reads (in their arenas). */
static void shared_results(Emit *e, int p)
{
    const IrGraph *g = e->g;
    char a[64];
    for (int i = 0; i < g->n; i++) {
        const IrNode *n = &g->nodes[i];
        if (n->plan != p || n->unit == e->cpu || n->op == IR_OP_COPY || n->offset < 0 || !host_memory(e, n->unit))
            continue;
        int read = 0;
        for (int j = i + 1; j < g->n && g->nodes[j].plan == p; j++)
            read |= g->nodes[j].unit == e->cpu && reads(g, &g->nodes[j], n);
        if (read)
            fprintf(e->f, "    float *t%d = %s; /* %s, from unit %s */\n", i, cg_host_addr(e, n, a, sizeof a),
                    n->name, g->units[n->unit].name);
    }
}

/* The unit of subgraph k of plan p. */
static int sub_unit(const IrGraph *g, int p, int k)
{
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].plan == p && g->nodes[i].sub == k) return g->nodes[i].unit;
    IR_BUG("plan %d has no subgraph %d", p, k);
}

/* The subgraphs of other threads (units sharing its memory) that made
 * what subgraph k of plan p reads directly (copies wait for their own
 * flags), into wait[]; returns how many. */
static int sub_wait_list(const Emit *e, int p, int k, int *wait)
{
    const IrGraph *g = e->g;
    unsigned char *seen = calloc((size_t)g->n + 1, 1);     /* by subgraph number (below the node count) */
    int nw = 0;
    for (int i = 0; i < g->n; i++) {
        const IrNode *n = &g->nodes[i];
        if (n->plan != p || n->sub != k || n->op == IR_OP_COPY) continue;
        for (int j = 0; j < n->nin; j++) {
            const IrNode *a = cg_base(g, n->in[j]);
            if (a->plan != p || cg_in_part(e, a->unit) || a->op == IR_OP_INPUT || a->sub < 0 || seen[a->sub]++) continue;
            wait[nw++] = a->sub;
        }
    }
    free(seen);
    return nw;
}

/* Before subgraph k of plan p in a thread of its own: wait for those. */
static void sub_waits(Emit *e, int p, int k)
{
    int *wait = malloc(((size_t)e->g->n + 1) * sizeof *wait), nw = sub_wait_list(e, p, k, wait);
    for (int w = 0; w < nw; w++)
        fprintf(e->f, "    if ((st = rt_flag_wait(&m->sub[%d], m->step, &m->abort)) != RT_OK) return st; "
                      "/* subgraph %d on %s */\n", wait[w], wait[w], e->g->units[sub_unit(e->g, p, wait[w])].name);
    free(wait);
}

/* The locals of a function that runs subgraphs of plan p in order: where
 * their times go (model --profile), and when the current one began. */
static void sub_time_locals(Emit *e, int p)
{
    char fn[48];
    fprintf(e->f, "    RtSubTime *T = m->subt ? m->subt + SUBT_%s : NULL; /* model --profile */\n"
                  "    double t0 = 0;\n    (void)t0;\n", plan_fn(&e->g->plans[p], fn) + 5);
}

/* The device of unit u whose backend times its subgraphs itself, or NULL. */
static const CgDevice *timing_device(const Emit *e, int u)
{
    for (int d = 0; d < e->ndev; d++)
        if (e->dev[d].unit == u && e->dev[d].be->sub_begin) return &e->dev[d];
    return NULL;
}

/* The start of subgraph k of unit u in a function of sub_time_locals. */
static void sub_time_begin(Emit *e, int u)
{
    const CgDevice *d = timing_device(e, u);
    if (!d) {
        fputs("    if (T) t0 = rt_now();\n", e->f);
        return;
    }
    use_device(e, d);
    fputs("    if (T) {\n", e->f);
    e->be->sub_begin(e);
    fputs("    }\n", e->f);
}

/* The end of subgraph k of unit u in a function of sub_time_locals: its
 * time (the host's clock, or the unit's own: timing_device). */
static void sub_time_end(Emit *e, int p, int u, int k)
{
    const IrPlan *pl = &e->g->plans[p];
    char rows[24] = "S";
    if (pl->kind == IR_PLAN_CHUNK) snprintf(rows, sizeof rows, "%lld", (long long)pl->s_max);
    const CgDevice *d = timing_device(e, u);
    fputs("    if (T) {\n", e->f);
    if (d) use_device(e, d), e->be->sub_end(e, k, rows);
    else fprintf(e->f, "        rt_sub_time(&T[%d], t0, %s, P);\n", k, rows);
    fputs("    }\n", e->f);
}

/* After the last subgraph of a function of sub_time_locals: the units of
 * its part that time their own subgraphs add them up. */
static void sub_time_flush(Emit *e)
{
    for (int d = 0; d < e->ndev; d++)
        if (e->dev[d].be->sub_flush && cg_in_part(e, e->dev[d].unit)) use_device(e, &e->dev[d]), e->be->sub_flush(e);
}

/* The nodes of plan p whose code runs in the function being written, each
 * subgraph timed where m->subt is set; with threads > 1, a ready flag
 * after each subgraph in the host's memory. */
static void emit_part(Emit *e, int p, int threads)
{
    e->last_layer = -1;
    e->last_sub = -1;
    int cur = -1, cur_unit = -1, flag = 0, timed = 0;
    if (cg_in_part(e, e->cpu)) shared_results(e, p);
    for (int i = 0; i < e->g->n; i++) {
        const IrNode *n = &e->g->nodes[i];
        if (n->plan != p) continue;
        if (n->sub != cur) {
            if (timed) sub_time_end(e, p, cur_unit, cur);
            if (flag) fprintf(e->f, "    rt_flag_set(&m->sub[%d], m->step);\n", cur);
            cur = n->sub, cur_unit = n->unit;
            flag = threads > 1 && cg_in_part(e, n->unit) && host_memory(e, n->unit);
            timed = n->sub >= 0 && cg_in_part(e, n->unit);
            if (flag) sub_waits(e, p, cur);
            if (flag && ir_attr(n, "pred_us"))  /* its waiters sleep until about then (pass schedule's pred_us=) */
                fprintf(e->f, "    rt_flag_begin(&m->sub[%d], m->step, %.1f);\n", cur, ir_attr_float(n, "pred_us"));
            if (timed) sub_time_begin(e, n->unit);
        }
        emit_node(e, n);
    }
    if (timed) sub_time_end(e, p, cur_unit, cur);
    if (flag) fprintf(e->f, "    rt_flag_set(&m->sub[%d], m->step);\n", cur);
    sub_time_flush(e);
}

/* The step's arguments as locals of a part's function. */
static const char step_locals[] =
    "    const int32_t *ids = m->step_ids;\n    const int S = m->step_S, R = m->step_R, P = m->step_P;\n"
    "    float *logits = m->step_logits;\n    RtStatus st = RT_OK;\n    uint8_t *A = m->arena;\n"
    "    (void)ids, (void)S, (void)R, (void)P, (void)logits, (void)st, (void)A;\n";

/* The units of a thread's part, for its comment: "gpu0 and cpu0". */
static const char *part_units(const Emit *e, unsigned part, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = 0;
    for (int u = 0; u < e->g->nunits; u++)
        if ((part >> u) & 1)
            len += (size_t)snprintf(buf + len, len < cap ? cap - len : 0, "%s%s", len ? " and " : "", e->g->units[u].name);
    return buf;
}

/* The subgraphs of plan p whose unit is in the thread's part, in order,
 * into subs[] (and their first nodes into first[], if given); returns how
 * many. */
static int part_subs(const Emit *e, int p, unsigned part, int *subs, int *first)
{
    int n = 0;
    for (int i = 0; i < e->g->n; i++) {
        const IrNode *nd = &e->g->nodes[i];
        if (nd->plan != p || nd->sub < 0 || !((part >> nd->unit) & 1) || (n && subs[n - 1] == nd->sub)) continue;
        if (first) first[n] = i;
        subs[n++] = nd->sub;
    }
    return n;
}

/* Pass schedule's attribute key (score=, pred_us=) of node n, 0 if none. */
static double sched_attr(const IrNode *n, const char *key) { return ir_attr(n, key) ? ir_attr_float(n, key) : 0; }

/* One thread's part of plan p of two chunks in flight: a function running
 * its subgraph i for chunk c (the chunk's rows, position, ids and logits;
 * its buffers in slot c % 2) and its RtPart (rt_part_run in rt_units.c). */
static void emit_part_ooo(Emit *e, int p, unsigned part, const char *fn, const char *unit)
{
    FILE *f = e->f;
    const IrGraph *g = e->g;
    long long C = (long long)g->plans[p].s_max;
    int *subs = malloc(((size_t)g->n + 1) * sizeof *subs), *first = malloc(((size_t)g->n + 1) * sizeof *first);
    int nsub = part_subs(e, p, part, subs, first);
    char units[128];
    fprintf(f, "/* Plan %s, the part of unit %s, out of order: its subgraph i for chunk c of the\n"
               " * step (rows c * %lld on), the chunk's buffers in slot c %% 2; rt_part_run calls it. */\n"
               "static RtStatus %s_%s_sub(void *arg, int c, int i)\n{\n    RtModel *m = arg;\n"
               "    const int S = m->step_S - c * %lld < %lld ? m->step_S - c * %lld : %lld;\n"
               "    const int R = m->step_R == 1 ? 1 : S, P = m->step_P + c * %lld;\n"
               "    const int32_t *ids = S == %lld ? m->step_ids + (size_t)c * %lld : m->ids_pad;\n"
               "    float *logits = m->step_R == 1 ? m->step_logits : m->step_logits + (size_t)c * %lld * MODEL_VOCAB;\n"
               "    RtStatus st = RT_OK;\n    uint8_t *A = m->arena + (size_t)(c & 1) * MODEL_ARENA_BYTES;\n",
            g->plans[p].name, part_units(e, part, units, sizeof units), C, fn, unit, C, C, C, C, C, C, C, C);
    fputs("    (void)ids, (void)S, (void)R, (void)P, (void)logits, (void)st, (void)A;\n", f);
    for (int d = 0; d < e->ndev; d++) {
        if (!host_memory(e, e->dev[d].unit) || !g->arena[e->dev[d].unit]) continue;
        const char *name = g->units[e->dev[d].unit].name;
        fprintf(f, "    uint8_t *A_%s = m->%s_arena + (size_t)(c & 1) * MODEL_ARENA_%s_BYTES;\n    (void)A_%s;\n", name,
                name, e->dev[d].upper, name);
    }
    e->part = part;
    e->ooo = 1;
    if (cg_in_part(e, e->cpu) && cpu_kernels(e)) fputs("    RtPool *pool = m->pool;\n    (void)pool;\n", f);
    if (cg_in_part(e, e->cpu)) shared_results(e, p);
    e->mode = CG_DECLS;
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].plan == p) emit_node(e, &g->nodes[i]);
    e->mode = CG_CALLS;
    e->last_layer = e->last_sub = -1;
    fputs("    switch (i) {\n", f);
    for (int k = 0, i = 0; k < nsub; k++) {
        fprintf(f, "    case %d:\n", k);
        for (; i < g->n; i++) {
            const IrNode *n = &g->nodes[i];
            if (n->plan != p || n->sub < 0) continue;
            if (n->sub > subs[k]) break;
            if (n->sub == subs[k]) emit_node(e, n);
        }
        fputs("        break;\n", f);
    }
    fputs("    }\n    return st;\n}\n\n", f);
    e->mode = CG_DECLS_CALLS;
    e->ooo = 0;
    /* the waits of subgraph k: wait[at[k] .. at[k + 1]) (each a subgraph of another thread, once) */
    int *at = malloc(((size_t)nsub + 1) * sizeof *at), *wait = malloc(((size_t)nsub * (size_t)nsub + 1) * sizeof *wait);
    at[0] = 0;
    for (int k = 0; k < nsub; k++) at[k + 1] = at[k] + sub_wait_list(e, p, subs[k], wait + at[k]);
    int nw = at[nsub];
    fprintf(f, "static const uint16_t %s_%s_flag[] = {", fn, unit);
    for (int k = 0; k < nsub; k++) fprintf(f, "%s%d", k ? ", " : "", subs[k]);
    fprintf(f, "};\nstatic const float %s_%s_score[] = {", fn, unit);
    for (int k = 0; k < nsub; k++) fprintf(f, "%s%.1f", k ? ", " : "", sched_attr(&g->nodes[first[k]], "score"));
    fprintf(f, "};\nstatic const float %s_%s_us[] = {", fn, unit);
    for (int k = 0; k < nsub; k++) fprintf(f, "%s%.1f", k ? ", " : "", sched_attr(&g->nodes[first[k]], "pred_us"));
    fprintf(f, "};\nstatic const uint16_t %s_%s_wait_at[] = {", fn, unit);
    for (int k = 0; k <= nsub; k++) fprintf(f, "%s%d", k ? ", " : "", at[k]);
    fprintf(f, "};\nstatic const uint16_t %s_%s_wait[] = {", fn, unit);
    for (int w = 0; w < nw; w++) fprintf(f, "%s%d", w ? ", " : "", wait[w]);
    fprintf(f, "%s};\nstatic const RtPart %s_%s_part = {%d, %s_%s_flag, %s_%s_score, %s_%s_us, %s_%s_wait_at, %s_%s_wait};\n\n",
            nw ? "" : "0", fn, unit, nsub, fn, unit, fn, unit, fn, unit, fn, unit, fn, unit);
    free(wait);
    free(at);
    free(first);
    free(subs);
}

/* Plan p of two chunks in flight (pass schedule's inflight=2): the step's
 * S tokens as ceil(S / C) chunks, each thread's part run by rt_part_run. */
static void emit_plan_ooo(Emit *e, int p, int nt, const unsigned *part, const char *fn)
{
    FILE *f = e->f;
    const IrGraph *g = e->g;
    long long C = (long long)g->plans[p].s_max;
    char units[128];
    unsigned all = 0;
    for (int t = nt - 1; t >= 0; t--) {
        const char *unit = g->units[__builtin_ctz(part[t])].name;
        emit_part_ooo(e, p, part[t], fn, unit);
        all |= part[t];
        if (t)
            fprintf(f, "static RtStatus %s_%s_thread(void *arg)\n{\n    RtModel *m = arg;\n"
                       "    RtStatus st = rt_part_run(&m->run, &%s_%s_part, %s_%s_sub, m);\n"
                       "    if (st != RT_OK) atomic_store(&m->abort, 1);\n    return st;\n}\n\n",
                    fn, unit, fn, unit, fn, unit);
    }
    fprintf(f, "/* Plan %s (chunk, static: %lld rows) on %s, out of order: S tokens (ids) at cache\n"
               " * position P = m->pos as chunks of %lld rows (the last padded, masked), two in flight:\n"
               " * each unit runs its subgraphs of a chunk in order, the next chunk's when this one's wait\n"
               " * (rt_part_run); logits of the last R rows (R == 1 or R == S) go to logits[R * MODEL_VOCAB]. */\n"
               "static RtStatus %s(RtModel *m, const int32_t *ids, int S, int R, float *logits)\n{\n",
            g->plans[p].name, C, part_units(e, all, units, sizeof units), C, fn);
    fputs("    static const uint16_t last[] = {", f);
    int *subs = malloc(((size_t)g->n + 1) * sizeof *subs);
    for (int t = 0; t < nt; t++) fprintf(f, "%s%d", t ? ", " : "", subs[part_subs(e, p, part[t], subs, NULL) - 1]);
    free(subs);
    fprintf(f, "}; /* each part's last subgraph */\n"
               "    if (S %% %lld) {\n"
               "        memcpy(m->ids_pad, ids + S / %lld * %lld, (size_t)(S %% %lld) * sizeof *ids);\n"
               "        memset(m->ids_pad + S %% %lld, 0, (size_t)(%lld - S %% %lld) * sizeof *ids);\n    }\n"
               "    m->step_ids = ids, m->step_S = S, m->step_R = R, m->step_P = m->pos, m->step_logits = logits;\n"
               "    m->run = (RtRun){m->sub, last, %d, m->step + 1, (S + %lld) / %lld, &m->abort,\n"
               "                     m->subt ? m->subt + SUBT_%s : NULL, %lld, m->pos};\n"
               "    m->step += (uint32_t)m->run.nchunks;\n    atomic_store(&m->abort, 0);\n",
            C, C, C, C, C, C, C, nt, C - 1, C, fn + 5, C);
    for (int t = 1; t < nt; t++) {
        const char *unit = g->units[__builtin_ctz(part[t])].name;
        fprintf(f, "    rt_unit_post(m->%s_thread, %s_%s_thread, m);\n", unit, fn, unit);
    }
    const char *unit = g->units[__builtin_ctz(part[0])].name;
    fprintf(f, "    const double busy0 = rt_now(), wait0 = rt_flag_waited();\n"
               "    RtStatus st = rt_part_run(&m->run, &%s_%s_part, %s_%s_sub, m);\n"
               "    if (st != RT_OK) atomic_store(&m->abort, 1);\n"
               "    m->busy_host += rt_now() - busy0 - (rt_flag_waited() - wait0);\n", fn, unit, fn, unit);
    for (int t = 1; t < nt; t++)
        fprintf(f, "    RtStatus st%d = rt_unit_wait(m->%s_thread);\n    if (st == RT_OK) st = st%d;\n", t,
                g->units[__builtin_ctz(part[t])].name, t);
    fputs("    if (st != RT_OK) return st;\n\n    m->pos += S;\n    return RT_OK;\n}\n\n", f);
}

static void emit_plan(Emit *e, int p)
{
    FILE *f = e->f;
    const IrPlan *pl = &e->g->plans[p];
    char fn[48], units[128];
    unsigned part[CG_MAX_DEVICES + 1];
    int nt = plan_threads(e, p, part);
    e->plan = p;
    plan_fn(pl, fn);
    if (pl->inflight == 2) {
        emit_plan_ooo(e, p, nt, part, fn);
        return;
    }
    for (int t = nt > 1 ? nt - 1 : -1; t >= 0; t--) {     /* the other threads' parts first */
        const char *unit = e->g->units[__builtin_ctz(part[t])].name;
        fprintf(f, "/* Plan %s, the part of unit %s (%s): its subgraphs in order, each after the\n"
                   " * hand-overs it waits for; copies to and from memory of its own are enqueued by\n"
                   " * that unit's thread, right after what they read, and flagged. */\n"
                   "static RtStatus %s_%s(RtModel *m)\n{\n%s%s",
                pl->name, part_units(e, part[t], units, sizeof units), t ? "its own thread" : "the calling thread",
                fn, unit, step_locals, t == 0 && cpu_kernels(e) ? "    RtPool *pool = m->pool;\n    (void)pool;\n" : "");
        e->part = part[t];
        sub_time_locals(e, p);
        emit_part(e, p, nt);
        fprintf(f, "    return RT_OK;\n}\n\n");
        if (t)
            fprintf(f, "static RtStatus %s_%s_thread(void *arg)\n{\n    RtModel *m = arg;\n"
                       "    RtStatus st = %s_%s(m);\n    if (st != RT_OK) atomic_store(&m->abort, 1);\n    return st;\n}\n\n",
                    fn, unit, fn, unit);
    }
    fprintf(f, "/* Plan %s (%s, ", pl->name, ir_plan_kind_name(pl->kind));
    if (pl->kind == IR_PLAN_CHUNK) fprintf(f, "static: %lld rows", (long long)pl->s_max);
    else fprintf(f, "%lld..%lld tokens", (long long)pl->s_min, (long long)pl->s_max);
    unsigned all = 0;
    for (int t = 0; t < nt; t++) all |= part[t];
    fprintf(f, ") on %s: S tokens (ids) at cache position P = m->pos;\n"
               " * logits of the last R rows (R == 1 or R == S) go to logits[R * MODEL_VOCAB].",
            nt > 1 ? part_units(e, all, units, sizeof units) : "one thread");
    if (pl->kind == IR_PLAN_CHUNK)
        fprintf(f, "\n * Every shape is static; with S < %lld the rows from S on are padding (masked:\n"
                   " * attention leaves them out of the cache and zeroes them).", (long long)pl->s_max);
    fprintf(f, " */\nstatic RtStatus %s(RtModel *m, const int32_t *ids, int S, int R, float *logits)\n{\n"
               "    const int P = m->pos;\n", fn);
    if (pl->kind == IR_PLAN_CHUNK)
        fprintf(f, "    if (S < %lld) {\n"
                   "        memcpy(m->ids_pad, ids, (size_t)S * sizeof *ids);\n"
                   "        memset(m->ids_pad + S, 0, (size_t)(%lld - S) * sizeof *ids);\n"
                   "        ids = m->ids_pad;\n    }\n", (long long)pl->s_max, (long long)pl->s_max);
    if (nt > 1) {
        fprintf(f, "    /* %d threads at once, handing over through ready flags */\n"
                   "    m->step_ids = ids, m->step_S = S, m->step_R = R, m->step_P = P, m->step_logits = logits;\n"
                   "    m->step++;\n    atomic_store(&m->abort, 0);\n", nt);
        for (int t = 1; t < nt; t++) {
            const char *unit = e->g->units[__builtin_ctz(part[t])].name;
            fprintf(f, "    rt_unit_post(m->%s_thread, %s_%s_thread, m);\n", unit, fn, unit);
        }
        fprintf(f, "    const double busy0 = rt_now(), wait0 = rt_flag_waited();\n"
                   "    RtStatus st = %s_%s(m);\n    if (st != RT_OK) atomic_store(&m->abort, 1);\n"
                   "    m->busy_host += rt_now() - busy0 - (rt_flag_waited() - wait0);\n",
                fn, e->g->units[__builtin_ctz(part[0])].name);
        for (int t = 1; t < nt; t++)
            fprintf(f, "    RtStatus st%d = rt_unit_wait(m->%s_thread);\n    if (st == RT_OK) st = st%d;\n", t,
                    e->g->units[__builtin_ctz(part[t])].name, t);
        fputs("    if (st != RT_OK) return st;\n", f);
    } else {
        fprintf(f, "%s    uint8_t *A = m->arena;\n    (void)A;\n%s\n", cpu_kernels(e) ? "    RtPool *pool = m->pool;\n" : "",
                e->ndev ? "    RtStatus st;\n    const double busy0 = rt_now();\n" : "");
        e->part = part[0];
        sub_time_locals(e, p);
        emit_part(e, p, nt);
        if (e->ndev) fputs("    m->busy_host += rt_now() - busy0;\n", f);
    }
    fprintf(f, "\n    m->pos += S;\n    return RT_OK;\n}\n\n");
}

/* forward(): checks, then the plans a step of S tokens runs on (the rule
 * of ir_plan_next in ir.h): the decode plan, or chunks, largest first,
 * and the remainder on the flex plan or padded to the smallest chunk. */
static void emit_forward(Emit *e)
{
    FILE *f = e->f;
    const IrGraph *g = e->g;
    fputs("/* One step: S tokens (ids) at cache position m->pos; logits of the last R rows\n"
          " * (R == 1 or R == S) go to logits[R * MODEL_VOCAB]. It runs on the plans\n"
          " * below by the prompt's length. */\n"
          "static RtStatus forward(RtModel *m, const int32_t *ids, int S, int R, float *logits)\n{\n"
          "    if (S < 1 || S > MODEL_MAX_CHUNK || (R != 1 && R != S)) {\n"
          "        rt_set_error(\"forward: %d tokens, %d logit rows (at most %d tokens, 1 or all rows)\", S, R,\n"
          "                     MODEL_MAX_CHUNK);\n"
          "        return RT_ERR_ARG;\n    }\n"
          "    if (m->pos + S > m->ctx) {\n"
          "        rt_set_error(\"forward: %d tokens at position %d do not fit the context of %d\", S, m->pos, m->ctx);\n"
          "        return RT_ERR_ARG;\n    }\n"
          "    for (int s = 0; s < S; s++)\n"
          "        if (ids[s] < 0 || ids[s] >= MODEL_VOCAB) {\n"
          "            rt_set_error(\"forward: token id %d is out of range (vocab %d)\", (int)ids[s], MODEL_VOCAB);\n"
          "            return RT_ERR_ARG;\n        }\n", f);
    char fn[48];
    int flex = -1, smallest = -1;
    for (int p = 0; p < g->nplans; p++) {
        const IrPlan *pl = &g->plans[p];
        if (pl->kind == IR_PLAN_DECODE)
            fprintf(f, "    if (S <= %lld) return %s(m, ids, S, R, logits);\n", (long long)pl->s_max, plan_fn(pl, fn));
        if (pl->kind == IR_PLAN_FLEX) flex = p;
        if (pl->kind == IR_PLAN_CHUNK && (smallest < 0 || pl->s_max < g->plans[smallest].s_max)) smallest = p;
    }
    fputs("    RtStatus st = RT_OK;\n    int done = 0;\n", f);
    for (int p = g->nplans - 1; p >= 0; p--) {     /* chunk plans are in ascending size */
        const IrPlan *pl = &g->plans[p];
        if (pl->kind != IR_PLAN_CHUNK) continue;
        long long C = (long long)pl->s_max;
        if (pl->inflight == 2)      /* all its chunks in one call: two in flight */
            fprintf(f, "    if (st == RT_OK && S - done >= %lld) {\n        int n = (S - done) / %lld * %lld;\n"
                       "        st = %s(m, ids + done, n, R == 1 ? 1 : n, R == 1 ? logits : logits + (size_t)done * MODEL_VOCAB);\n"
                       "        done += n;\n    }\n", C, C, C, plan_fn(pl, fn));
        else
            fprintf(f, "    for (; st == RT_OK && S - done >= %lld; done += %lld)\n"
                       "        st = %s(m, ids + done, %lld, R == 1 ? 1 : %lld, R == 1 ? logits : logits + (size_t)done * MODEL_VOCAB);\n",
                    C, C, plan_fn(pl, fn), C, C);
    }
    int rest = flex >= 0 ? flex : smallest;
    if (rest >= 0) {
        fprintf(f, "    if (st == RT_OK && done < S) /* the remainder, %s */\n"
                   "        st = %s(m, ids + done, S - done, R == 1 ? 1 : S - done,\n"
                   "                R == 1 ? logits : logits + (size_t)done * MODEL_VOCAB);\n",
                flex >= 0 ? "on the flex plan" : "padded to the smallest chunk", plan_fn(&g->plans[rest], fn));
    }
    fputs("    return st;\n}\n\n", f);
}

static const char model_struct[] =
    "struct RtModel {\n"
    "    RtWeights file;             /* mmap'd weights.bin */\n"
    "    const void *w[MODEL_WEIGHTS]; /* tensor data, in weight_info order */\n"
    "    RtPool *pool;\n"
    "    uint8_t *arena;             /* [MODEL_ARENA_SLOTS][MODEL_ARENA_BYTES] activations */\n"
    "    float *kc, *vc;             /* [ctx][MODEL_KV_FLOATS] keys and values of every layer */\n"
    "    float *scratch;             /* [threads][ctx] attention scores */\n"
    "    int ctx;                    /* context of this instance (<= MODEL_MAX_CTX) */\n"
    "    int32_t ids_pad[MODEL_MAX_CHUNK]; /* the ids of a chunk, padded */\n"
    "    int pos;                    /* tokens in the cache */\n"
    "    RtSubTime *subt;            /* model --profile: [MODEL_SUBGRAPHS] each plan's subgraph times\n"
    "                                 * (rt_prof_steps, plan p's from its SUBT_ on), else NULL */\n";

static const char model_destroy[] =
    "static void destroy(RtModel *m)\n{\n"
    "    if (!m) return;\n";

static const char model_destroy_cpu[] =
    "    if (m->pool) rt_pool_destroy(m->pool);\n"
    "    rt_free(m->scratch);\n    rt_weights_close(&m->file);\n"
    "#ifdef MODEL_FIRMWARE\n    model_in_use = 0;\n#else\n"
    "    rt_free(m->arena);\n    rt_free(m->kc);\n    rt_free(m->vc);\n    rt_free(m);\n#endif\n}\n\n";

/* A firmware build's state: static arrays, no heap. */
static const char model_statics[] =
    "#ifdef MODEL_FIRMWARE\n"
    "/* No heap (hetc compile --firmware): one model instance, its state in static\n"
    " * arrays sized by model.h; the runtime's other memory (the thread pool, the\n"
    " * tokenizer's and the sampler's, the attention scores) comes from the work\n"
    " * area (rt_mem.c). */\n"
    "static RtModel model_state;\nstatic int model_in_use;\n"
    "static _Alignas(64) uint8_t model_arena[MODEL_ARENA_SLOTS * MODEL_ARENA_BYTES + 64];\n"
    "static _Alignas(64) float model_kc[(size_t)MODEL_MAX_CTX * MODEL_KV_FLOATS + 16];\n"
    "static _Alignas(64) float model_vc[(size_t)MODEL_MAX_CTX * MODEL_KV_FLOATS + 16];\n"
    "_Alignas(64) unsigned char rt_work_area[MODEL_WORK_BYTES];\n"
    "const size_t rt_work_area_bytes = MODEL_WORK_BYTES;\n"
    "#endif\n\n";

static const char model_init[] =
    "static RtStatus init(RtModel **out, const char *weights_path, int ctx, int threads)\n{\n"
    "    *out = NULL;\n"
    "    if (ctx <= 0) ctx = MODEL_MAX_CTX;\n"
    "    if (ctx > MODEL_MAX_CTX) {\n"
    "        rt_set_error(\"context %d is larger than the compiled maximum %d (hetc compile --ctx)\", ctx, MODEL_MAX_CTX);\n"
    "        return RT_ERR_ARG;\n    }\n"
    "#ifdef MODEL_FIRMWARE\n"
    "    if (model_in_use) {\n"
    "        rt_set_error(\"a firmware build holds one model instance: destroy the other first\");\n"
    "        return RT_ERR_ARG;\n    }\n"
    "    RtModel *m = &model_state;\n    memset(m, 0, sizeof *m);\n    model_in_use = 1;\n"
    "#else\n"
    "    RtModel *m = rt_alloc(sizeof *m);\n"
    "    if (!m) return RT_ERR_NOMEM;\n"
    "#endif\n"
    "    m->ctx = ctx;\n"
    "#ifdef MODEL_FIRMWARE\n"
    "    RtStatus st = weights_path ? rt_weights_open(&m->file, weights_path, MODEL_HASH)\n"
    "                               : rt_weights_open_image(&m->file, model_weights_image, (size_t)model_weights_image_bytes,\n"
    "                                                       \"the weights linked in\", MODEL_HASH);\n"
    "#else\n"
    "    RtStatus st = rt_weights_open(&m->file, weights_path ? weights_path : MODEL_DEFAULT_WEIGHTS, MODEL_HASH);\n"
    "#endif\n"
    "    for (uint32_t k = 0; st == RT_OK && k < MODEL_WEIGHTS; k++)\n"
    "        st = rt_weights_tensor(&m->file, k, weight_info[k].name, weight_info[k].dtype, weight_info[k].nbytes,\n"
    "                               &m->w[k]);\n"
    "    if (st == RT_OK) st = rt_pool_create(&m->pool, threads > 0 ? threads : MODEL_THREADS);\n"
    "    if (st == RT_OK) {\n"
    "#ifdef MODEL_FIRMWARE\n"
    "        m->arena = model_arena;\n        m->kc = model_kc;\n        m->vc = model_vc;\n"
    "#else\n"
    "        size_t kv = (size_t)ctx * MODEL_KV_FLOATS * sizeof(float);\n"
    "        m->arena = rt_alloc(MODEL_ARENA_SLOTS * MODEL_ARENA_BYTES + 64);\n"
    "        m->kc = rt_alloc(kv + 64);\n        m->vc = rt_alloc(kv + 64);\n"
    "#endif\n"
    "        m->scratch = rt_alloc((size_t)rt_pool_size(m->pool) * ctx * sizeof(float));\n"
    "        if (!m->arena || !m->kc || !m->vc || !m->scratch) {\n"
    "            rt_set_error(\"out of memory for the arena and a KV cache of %d tokens\", ctx);\n"
    "            st = RT_ERR_NOMEM;\n        }\n    }\n";

static const char model_init_end[] =
    "    if (st != RT_OK) {\n        destroy(m);\n        return st;\n    }\n"
    "    *out = m;\n    return RT_OK;\n}\n\n";

static const char model_api[] =
    "static void reset(RtModel *m) { m->pos = 0; }\n"
    "static int position(const RtModel *m) { return m->pos; }\n"
    "static int context(const RtModel *m) { return m->ctx; }\n"
    "static int threads(const RtModel *m) { return rt_pool_size(m->pool); }\n\n"
    "const RtModelApi model_api = {\n"
    "    .name = MODEL_NAME,\n    .vocab = MODEL_VOCAB,\n    .max_ctx = MODEL_MAX_CTX,\n"
    "    .max_chunk = MODEL_MAX_CHUNK,\n    .weight_bytes = MODEL_WEIGHT_BYTES,\n    .params = MODEL_PARAMS,\n"
    "    .flops_per_token = MODEL_FLOPS_PER_TOKEN,\n"
    "    .init = init,\n    .forward = forward,\n    .reset = reset,\n    .position = position,\n"
    "    .context = context,\n    .threads = threads,\n    .destroy = destroy,\n"
    "    .tokenizer_path = MODEL_TOKENIZER_PATH,\n    .tokenizer_image = MODEL_TOKENIZER_IMAGE,\n"
    "    .tokenizer_image_bytes = MODEL_TOKENIZER_IMAGE_BYTES,\n    .measure = MODEL_MEASURE,\n"
    "    .device = MODEL_DEVICE,\n    .busy = MODEL_BUSY,\n    .describe = MODEL_DESCRIBE,\n    .profile = profile,\n};\n";

static void totals(const IrGraph *g, double *bytes, double *params, double *flops)
{
    *bytes = *params = *flops = 0;
    for (int i = 0; i < g->n; i++) {
        const IrNode *n = &g->nodes[i];
        if (n->op == IR_OP_WEIGHT) *bytes += (double)ir_dtype_bytes(n->dtype, ir_numel(n, 1, 1));
        if (n->op == IR_OP_WEIGHT && !ir_attr(n, "wscale") && !ir_attr(n, "chans")) *params += (double)ir_numel(n, 1, 1);
        if ((n->op == IR_OP_LINEAR || n->op == IR_OP_QLINEAR) && n->plan <= 0) /* one plan: every plan computes the same per token */
            *flops += 2.0 * (double)g->nodes[n->in[1]].dim[0] * g->nodes[n->in[1]].dim[1];
    }
}

static FILE *open_out(const CgOptions *o, const char *name, char *err, size_t errlen)
{
    char path[FE_PATH_LEN + 32];
    snprintf(path, sizeof path, "%s/%s", o->outdir, name);
    FILE *f = fopen(path, "w");
    if (!f) snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
    return f;
}

/* model.h's last words: how a program of its own (a firmware's main, an
 * RTOS task) drives the model; examples/embed_main.c is the whole of it. */
static const char embedding_doc[] =
    "/* Embedding: the calls a program of your own makes (a firmware's main or an\n"
    " * RTOS task, built with cmake -DMODEL_MAIN=your_main.c in place of main.c;\n"
    " * hetc's examples/embed_main.c and docs/FIRMWARE.md show all of it):\n"
    " *   RtModel *m;\n"
    " *   model_api.init(&m, NULL, 0, 0);   weights linked in (firmware) or the\n"
    " *                                      compiled weights.bin; ctx 0: MODEL_MAX_CTX;\n"
    " *                                      threads 0: MODEL_THREADS (or the cores)\n"
    " *   rt_tok_open_mem(&tok, model_api.tokenizer_image, model_api.tokenizer_image_bytes);\n"
    " *                                      (rt_tok_open(&tok, model_api.tokenizer_path)\n"
    " *                                      where it is not linked in; hetc_rt_tok.h)\n"
    " *   rt_tok_encode(tok, text, len, 1, 1, ids, MODEL_MAX_CTX, &n);\n"
    " *   prefill: model_api.forward(m, ids + done, S, 1, logits) for chunks of\n"
    " *            S <= MODEL_MAX_CHUNK tokens; logits[MODEL_VOCAB], the last row's\n"
    " *   decode:  id = rt_sampler_sample(sampler, logits, ids, n)  (hetc_rt_sample.h),\n"
    " *            stop at rt_tok_is_eos(tok, id), else model_api.forward(m, &id, 1, 1,\n"
    " *            logits); rt_tok_decode turns ids into text\n"
    " *   model_api.reset(m) empties the KV cache; model_api.destroy(m) ends it.\n"
    " * Every call returns an RtStatus (or, for decode, 0 bytes) and leaves the\n"
    " * reason in rt_last_error(); none exits. A firmware build holds one instance,\n"
    " * its state in static arrays; the rest (the tokenizer's and the sampler's\n"
    " * memory, the thread pool) comes from the work area, MODEL_WORK_BYTES. */\n";

static void emit_header(const IrGraph *g, const CgOptions *o, FILE *f, uint64_t hash, Emit *e)
{
    double bytes, params, flops;
    char t[4][8192];
    totals(g, &bytes, &params, &flops);
    fprintf(f, "/* model.h: %s (architecture %s), generated by hetc for target %s.\n"
               " * Regenerate with: %s */\n"
               "#ifndef MODEL_H\n#define MODEL_H\n\n#include \"hetc_rt.h\"\n\n"
               "#if HETC_RT_ABI_VERSION != %d\n#error \"runtime ABI mismatch: regenerate with this hetc\"\n#endif\n\n",
            cg_c_comment(g->model, t[0], sizeof t[0]), cg_c_comment(g->arch, t[1], sizeof t[1]),
            cg_c_comment(o->target ? o->target->name : "host-cpu", t[2], sizeof t[2]),
            cg_c_comment(o->command, t[3], sizeof t[3]),
            HETC_RT_ABI_VERSION);
    fprintf(f, "#define MODEL_NAME \"%s\"\n", cg_c_str(g->model, t[0], sizeof t[0]));
    fprintf(f, "#define MODEL_HASH 0x%016" PRIx64 "ULL /* must match weights.bin */\n", hash);
    fprintf(f, "#define MODEL_VOCAB %" PRId64 "\n", ir_graph_int(g, "vocab", 0));
    fprintf(f, "#define MODEL_LAYERS %" PRId64 "\n", ir_graph_int(g, "layers", 0));
    fprintf(f, "#define MODEL_MAX_CTX %" PRId64 " /* tokens */\n", ir_graph_int(g, "max_ctx", 0));
    fprintf(f, "#define MODEL_MAX_CHUNK %" PRId64 " /* tokens per forward */\n", ir_graph_int(g, "max_chunk", 0));
    fprintf(f, "#define MODEL_ARENA_BYTES %" PRId64 "ULL /* activations of %s at MODEL_MAX_CHUNK */\n",
            (g->arena[e->cpu] + 63) / 64 * 64, g->units[e->cpu].name);
    fprintf(f, "#define MODEL_ARENA_SLOTS %d /* %s */\n", e->slots,
            e->slots > 1 ? "chunks in flight: each arena holds two, in alternate slots" : "one chunk at a time");
    fprintf(f, "#define MODEL_KV_FLOATS %" PRId64 " /* K (and V) floats per token of the layers attended on %s */\n",
            e->kv_floats, g->units[e->cpu].name);
    fprintf(f, "/* and %s's attention scores: a float per thread and token of the context, at init */\n",
            g->units[e->cpu].name);
    for (int d = 0; d < e->ndev; d++) {
        use_device(e, &e->dev[d]);
        fprintf(f, "#define MODEL_ARENA_%s_BYTES %" PRId64 "ULL /* activations of %s */\n", e->upper_unit,
                (g->arena[e->cl_unit] + 63) / 64 * 64, g->units[e->cl_unit].name);
        fprintf(f, "#define MODEL_KV_%s_FLOATS %" PRId64 " /* K (and V) floats per token of the layers attended on "
                   "%s */\n", e->upper_unit, g->kv[e->cl_unit], g->units[e->cl_unit].name);
        e->be->sizes(e, f);
    }
    fprintf(f, "#define MODEL_WEIGHTS %d /* tensors in weights.bin */\n", e->nweights);
    fprintf(f, "#define MODEL_WEIGHT_BYTES %.0f.0\n", bytes);
    fprintf(f, "#define MODEL_PARAMS %.0f.0\n", params);
    fprintf(f, "#define MODEL_FLOPS_PER_TOKEN %.0f.0 /* linear layers */\n", flops);
    fprintf(f, "#define MODEL_THREADS %d /* 0: the core count */\n", o->threads);
    fprintf(f, "#define MODEL_WORK_BYTES %" PRId64 "ULL /* a firmware build's work area (pass memplan; hetc compile "
               "--work-bytes) */\n", ir_graph_int(g, "work_bytes", 4096));
    fprintf(f, "#ifndef MODEL_DEFAULT_WEIGHTS\n#define MODEL_DEFAULT_WEIGHTS \"weights.bin\"\n#endif\n");
    if (o->tokenizer)
        fprintf(f, "#ifndef MODEL_DEFAULT_TOKENIZER\n#define MODEL_DEFAULT_TOKENIZER \"tokenizer.bin\"\n#endif\n\n");
    else
        fprintf(f, "#define MODEL_DEFAULT_TOKENIZER NULL /* compiled without a tokenizer */\n\n");
    fprintf(f, "/* A firmware build (hetc compile --firmware, or cmake -DMODEL_FIRMWARE=ON)\n"
               " * links weights.bin and tokenizer.bin in (firmware_data.c): init(NULL, ...)\n"
               " * reads the weights from there, and the tokenizer comes from there too;\n"
               " * the program needs no file beside it. */\n"
               "#ifdef MODEL_FIRMWARE\n"
               "extern const unsigned char model_weights_image[];   /* 64-byte aligned */\n"
               "extern const uint64_t model_weights_image_bytes;\n");
    if (o->tokenizer)
        fprintf(f, "extern const unsigned char model_tokenizer_image[];\n"
                   "#define MODEL_TOKENIZER_PATH NULL\n#define MODEL_TOKENIZER_IMAGE model_tokenizer_image\n"
                   "#define MODEL_TOKENIZER_IMAGE_BYTES %zu /* tokenizer.bin */\n#else\n"
                   "#define MODEL_TOKENIZER_PATH MODEL_DEFAULT_TOKENIZER\n#define MODEL_TOKENIZER_IMAGE NULL\n"
                   "#define MODEL_TOKENIZER_IMAGE_BYTES 0\n#endif\n\n",
                o->tokenizer_bytes);
    else
        fprintf(f, "#endif\n#define MODEL_TOKENIZER_PATH NULL\n#define MODEL_TOKENIZER_IMAGE NULL\n"
                   "#define MODEL_TOKENIZER_IMAGE_BYTES 0\n\n");
    fputs(embedding_doc, f);
    fprintf(f, "extern const RtModelApi model_api;\n\n#endif\n");
}

/* The copies between memory spaces, numbered in each plan: each has a
 * ready flag (and, into the host's memory, an event); and the ready flags
 * of the subgraphs (one per subgraph of the largest plan). */
static void number_handovers(Emit *e)
{
    const IrGraph *g = e->g;
    int count[IR_MAX_PLANS] = {0};
    for (int i = 0; i < g->n; i++) {
        const IrNode *n = &g->nodes[i];
        e->handover[i] = n->op == IR_OP_COPY && n->plan >= 0 ? count[n->plan]++ : -1;
        if (n->plan >= 0 && count[n->plan] > e->nhandover) e->nhandover = count[n->plan];
        if (n->sub + 1 > e->nsubs) e->nsubs = n->sub + 1;
        if (n->plan >= 0 && n->sub + 1 > e->sub_at[n->plan + 1]) e->sub_at[n->plan + 1] = n->sub + 1;
    }
    for (int p = 0; p < g->nplans; p++) e->sub_at[p + 1] += e->sub_at[p];     /* counts to offsets */
}

const CgBackend *cg_backend(const char *name)
{
    static const CgBackend *const backends[] = {&cg_backend_opencl, &cg_backend_npu};
    for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
        if (strcmp(backends[i]->name, name) == 0) return backends[i];
    return NULL;
}

/* The host unit (that of the input ids) and the device units (units with
 * a backend of the table), each with its backend's plan. */
static void find_units(Emit *e)
{
    e->cpu = 0;
    for (int i = 0; i < e->g->n; i++)
        if (e->g->nodes[i].op == IR_OP_INPUT) {
            e->cpu = e->g->nodes[i].unit;
            break;
        }
    if (e->g->nunits > 32) IR_BUG("%d units: at most 32", e->g->nunits);
    for (int u = 0; u < e->g->nunits; u++) {
        const CgBackend *be = u != e->cpu ? cg_backend(e->g->units[u].backend) : NULL;
        if (!be) continue;
        if (e->ndev == CG_MAX_DEVICES) IR_BUG("more than %d device units", CG_MAX_DEVICES);
        CgDevice *d = &e->dev[e->ndev++];
        d->be = be;
        d->unit = u;
        for (size_t k = 0; k < sizeof d->upper - 1 && e->g->units[u].name[k]; k++)
            d->upper[k] = (char)toupper((unsigned char)e->g->units[u].name[k]);
        use_device(e, d);
        d->state = be->plan(e, u);
    }
}

/* Per plan, its subgraphs' units and keys (ir_sub_keys: profile.json's
 * "first", by which hetc simulate finds the subgraphs it compiled). */
static void emit_plan_tables(Emit *e)
{
    const IrGraph *g = e->g;
    char fn[48], name[2 * IR_NAME_LEN];
    for (int p = 0; p < g->nplans; p++) {
        int nsub = e->sub_at[p + 1] - e->sub_at[p];
        const IrNode **key = malloc(((size_t)nsub + 1) * sizeof *key);
        ir_sub_keys(g, p, key, nsub);
        plan_fn(&g->plans[p], fn);
        fprintf(e->f, "static const char *const %s_units[] = {", fn);
        for (int k = 0; k < nsub; k++)
            fprintf(e->f, "%s\"%s\"", k ? ", " : "", key[k] ? g->units[key[k]->unit].name : "");
        fprintf(e->f, "%s};\nstatic const char *const %s_first[] = {", nsub ? "" : "\"\"", fn);
        for (int k = 0; k < nsub; k++)
            fprintf(e->f, "%s\"%s\"", k ? ", " : "", key[k] ? cg_c_str(key[k]->name, name, sizeof name) : "");
        fprintf(e->f, "%s};\n", nsub ? "" : "\"\"");
        free(key);
    }
}

/* The start of profile(): a step of each plan's size timed (the decode
 * plan's 1; a chunk plan's rows; a flex plan's largest where no chunk
 * takes it), and the plans' tables for the profile. */
static void emit_plan_steps(Emit *e)
{
    const IrGraph *g = e->g;
    FILE *f = e->f;
    char fn[48];
    int nrows = 0, row[IR_MAX_PLANS];  /* plan p's entry of rows[], -1: none */
    fputs("    static const int rows[] = {", f);
    for (int p = 0; p < g->nplans; p++) {
        const IrPlan *pl = &g->plans[p];
        int64_t r = pl->kind == IR_PLAN_DECODE ? 1 : pl->s_max;
        for (int q = 0; pl->kind == IR_PLAN_FLEX && q < g->nplans; q++)
            if (g->plans[q].kind == IR_PLAN_CHUNK && g->plans[q].s_max <= r) r = 0;
        row[p] = r > 0 ? nrows : -1;
        if (r > 0) fprintf(f, "%s%lld", nrows++ ? ", " : "", (long long)r);
    }
    fprintf(f, "};\n    RtSubTime *t = rt_alloc((MODEL_SUBGRAPHS + 1) * sizeof *t), whole[%d];\n"
               "    if (!t) return RT_ERR_NOMEM;\n"
               "    const RtProfModel pm = {m, forward, reset, &m->subt, m->ctx, MODEL_VOCAB, MODEL_MAX_CHUNK};\n"
               "    RtStatus st = rt_prof_steps(&pm, rows, %d, t, MODEL_SUBGRAPHS, whole, 1);\n"
               "    if (st != RT_OK) {\n        rt_free(t);\n        return st;\n    }\n"
               "    const RtProfPlan plans[] = {\n", nrows, nrows);
    for (int p = 0; p < g->nplans; p++) {
        char step[24] = "NULL";
        if (row[p] >= 0) snprintf(step, sizeof step, "&whole[%d]", row[p]);
        plan_fn(&g->plans[p], fn);
        fprintf(f, "        {\"%s\", %d, %s_units, %s_first, t + SUBT_%s, %s},\n", g->plans[p].name,
                e->sub_at[p + 1] - e->sub_at[p], fn, fn, fn + 5, step);
    }
    fputs("    };\n", f);
}

/* profile(): --profile FILE measures this model's linear shapes (each
 * once) on the host's pool and on the device unit where its backend can
 * be measured (rt_profile.h). */
static void emit_profile(Emit *e)
{
    FILE *f = e->f;
    const IrGraph *g = e->g;
    int64_t (*shape)[2] = malloc(((size_t)g->n + 1) * sizeof *shape);
    int ns = ir_linear_shapes(g, shape, g->n);
    IrDtype wdt = IR_F32;   /* the cpu's weights: 16-bit where the model's linears are */
    char name[2 * IR_NAME_LEN];
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == IR_OP_LINEAR) {
            IrDtype dt = g->nodes[g->nodes[i].in[1]].dtype;
            if (dt == IR_F16 || dt == IR_BF16) wdt = dt;
        }
    fputs("/* --profile FILE: the model's plans, each subgraph timed (rt_prof_steps), then its\n"
          " * linears, each shape once, on its units. Per plan, its subgraphs' units and first nodes. */\n", f);
    emit_plan_tables(e);
    fputs("static const int64_t linear_shapes[][2] = {", f);
    for (int j = 0; j < ns; j++) fprintf(f, "%s{%" PRId64 ", %" PRId64 "}", j ? ", " : "", shape[j][0], shape[j][1]);
    if (!ns) fputs("{1, 1}", f);
    fputs("};\n\nstatic void reset(RtModel *m);\n\nstatic RtStatus profile(RtModel *m, const char *path)\n{\n", f);
    emit_plan_steps(e);
    fprintf(f, "    RtProfUnit u[%d];\n    int n = 0;\n"
               "    rt_prof_cpu(&u[n++], \"%s\", m->pool, %s);\n", 1 + e->ndev, g->units[e->cpu].name,
            wdt == IR_F16 ? "RT_F16" : wdt == IR_BF16 ? "RT_BF16" : "RT_F32");
    for (int d = 0; d < e->ndev; d++) {
        use_device(e, &e->dev[d]);
        if (e->be->profile_unit) e->be->profile_unit(e);
        else
            fprintf(f, "    fprintf(stderr, \"note: unit %s (%s) is not measured by this runtime; its figures come "
                       "from the target\\n\");\n", g->units[e->cl_unit].name, g->units[e->cl_unit].backend);
    }
    fprintf(f, "    double stream = MODEL_WEIGHT_BYTES < 2048.0 * 1048576 ? MODEL_WEIGHT_BYTES : 2048.0 * 1048576;\n"
               "    RtProfSpec sp = {.machine = \"model --profile: %s's linears\", .units = u, .nunits = n,\n"
               "                     .shapes = linear_shapes, .nshapes = %d, .max_s = MODEL_MAX_CHUNK,\n"
               "                     .stream_bytes = stream, .progress = 1, .heads = %lld, .kv_heads = %lld,\n"
               "                     .head_dim = %lld, .plans = plans, .nplans = %d};\n"
               "    st = rt_profile(&sp, path);\n"
               "    for (int i = 0; i < n; i++) rt_prof_unit_free(&u[i]);\n    rt_free(t);\n    return st;\n}\n\n",
            cg_c_str(g->model, name, sizeof name), ns ? ns : 1, (long long)ir_graph_int(g, "heads", 0),
            (long long)ir_graph_int(g, "kv_heads", 0), (long long)ir_graph_int(g, "head_dim", 0), g->nplans);
    free(shape);
}

static void emit_model_c(Emit *e)
{
    FILE *f = e->f;
    char t[2][2 * IR_NAME_LEN];
    fprintf(f, "/* model.c: %s (architecture %s), generated by hetc. One decoder step as\n"
               " * straight-line code; each kernel call names its IR node. */\n"
               "#include <stddef.h>\n#include <stdint.h>\n#include <stdio.h>\n#include <string.h>\n\n#include \"model.h\"\n"
               "#include \"rt_profile.h\"\n",
            cg_c_comment(e->g->model, t[0], sizeof t[0]), cg_c_comment(e->g->arch, t[1], sizeof t[1]));
    for (int d = 0; d < e->ndev; d++) use_device(e, &e->dev[d]), e->be->includes(e);
    fputs("\n", f);
    emit_rope_tables(e);
    emit_chans(e);
    emit_weight_table(e);
    fputs(model_struct, f);
    if (e->ndev) {
        fprintf(f, "    /* the step in flight, and how its units hand over (rt_units.c) */\n"
                   "    atomic_int abort;           /* set by a unit that failed */\n"
                   "    uint32_t step;              /* steps begun: the flags' values */\n"
                   "    RtFlag flag[%d];             /* one per copy between memory spaces, in plan order */\n"
                   "    RtFlag sub[%d];              /* one per subgraph, set when it is done */\n"
                   "    const int32_t *step_ids;\n    int step_S, step_R, step_P;\n    float *step_logits;\n"
                   "    double busy_host;           /* seconds the calling thread has computed in steps (not waited) */\n",
                e->nhandover > 0 ? e->nhandover : 1, e->nsubs > 0 ? e->nsubs : 1);
        if (e->slots > 1) fputs("    RtRun run;                  /* the chunks of a step out of order (rt_part_run) */\n", f);
        for (int d = 0; d < e->ndev; d++) {
            use_device(e, &e->dev[d]);
            fprintf(f, "    RtUnitThread *%s_thread;   /* the thread of unit %s */\n", e->g->units[e->cl_unit].name,
                    e->g->units[e->cl_unit].name);
            e->be->fields(e);
        }
    }
    fputs("};\n\n/* Each plan's first subgraph in m->subt (model --profile). */\nenum {", f);
    for (int p = 0; p < e->g->nplans; p++) fprintf(f, " SUBT_%s = %d,", plan_fn(&e->g->plans[p], t[0]) + 5, e->sub_at[p]);
    fprintf(f, " MODEL_SUBGRAPHS = %d };\n\n", e->sub_at[e->g->nplans]);
    for (int p = 0; p < e->g->nplans; p++) emit_plan(e, p);
    emit_forward(e);
    fputs(model_statics, f);
    fputs(model_destroy, f);
    for (int d = 0; d < e->ndev; d++) {
        use_device(e, &e->dev[d]);
        fprintf(f, "    if (m->%s_thread) rt_unit_destroy(m->%s_thread);\n", e->g->units[e->cl_unit].name,
                e->g->units[e->cl_unit].name);
    }
    for (int d = 0; d < e->ndev; d++) use_device(e, &e->dev[d]), e->be->destroy(e);
    fputs(model_destroy_cpu, f);
    fputs(model_init, f);
    for (int d = 0; d < e->ndev; d++) {
        use_device(e, &e->dev[d]);
        fprintf(f, "    if (st == RT_OK) st = rt_unit_create(&m->%s_thread);\n", e->g->units[e->cl_unit].name);
        e->be->init(e);
    }
    fputs(model_init_end, f);
    const CgDevice *measured = NULL, *busy = NULL, *described = NULL;
    char expr[128];
    for (int d = e->ndev - 1; d >= 0; d--) {
        use_device(e, &e->dev[d]);
        if (e->be->measure) measured = &e->dev[d];
        if (e->be->busy && e->be->busy(e, expr, sizeof expr)) busy = &e->dev[d];
        if (e->be->describe) described = &e->dev[d];
    }
    if (measured) use_device(e, measured), e->be->measure(e);
    else fputs("#define MODEL_MEASURE NULL /* no unit with memory of its own to measure */\n\n", f);
    if (busy) {
        use_device(e, busy);
        e->be->busy(e, expr, sizeof expr);
        fprintf(f, "/* --bench: how long each unit computed. */\n"
                   "static void busy(const RtModel *m, double *host_s, double *device_s)\n{\n"
                   "    *host_s = m->busy_host;\n    *device_s = %s;\n}\n"
                   "#define MODEL_DEVICE \"%s\"\n#define MODEL_BUSY busy\n\n", expr, e->g->units[e->cl_unit].name);
    } else {
        fputs("#define MODEL_DEVICE NULL\n#define MODEL_BUSY NULL /* no device unit that counts its time */\n\n", f);
    }
    if (described) use_device(e, described), e->be->describe(e);
    else fputs("#define MODEL_DESCRIBE NULL\n\n", f);
    emit_profile(e);
    fputs(model_api, f);
}

static void free_devices(Emit *e)
{
    for (int d = 0; d < e->ndev; d++) e->dev[d].be->free(e->dev[d].state);
    free(e->handover);
}

int cg_emit_c(const IrGraph *g, const CgOptions *o, uint64_t hash, char *err, size_t errlen)
{
    Emit e = {.g = g, .o = o, .handover = malloc(((size_t)g->n + 1) * sizeof(int))};
    find_units(&e);
    number_handovers(&e);
    e.slots = 1;
    for (int p = 0; p < g->nplans; p++)
        if (g->plans[p].inflight > e.slots) e.slots = g->plans[p].inflight;
    e.kv_floats = e.cpu < g->nkv ? g->kv[e.cpu] : 0;
    for (int i = 0; i < g->n; i++) e.nweights += g->nodes[i].op == IR_OP_WEIGHT;
    int ok = 0;
    if (e.kv_floats > INT32_MAX) {
        snprintf(err, errlen, "the KV cache holds %" PRId64 " floats per token; at most %d are supported", e.kv_floats,
                 INT32_MAX);
        free_devices(&e);
        return -1;
    }
    FILE *h = open_out(o, "model.h", err, errlen);
    if (h) {
        emit_header(g, o, h, hash, &e);
        ok = fclose(h) == 0;
    }
    e.f = ok ? open_out(o, "model.c", err, errlen) : NULL;
    if (!e.f) ok = 0;
    if (e.f) {
        emit_model_c(&e);
        ok = fclose(e.f) == 0;
        if (!ok) snprintf(err, errlen, "%s: writing model.c failed", o->outdir);
    }
    for (int d = 0; ok && d < e.ndev; d++) {
        use_device(&e, &e.dev[d]);
        if (e.be->files(&e, err, errlen)) ok = 0;
    }
    free_devices(&e);
    return ok ? 0 : -1;
}
