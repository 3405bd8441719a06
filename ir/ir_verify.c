/* ir_verify.c: checks that a graph is well formed, driven by ops.def.
 *
 * Per node: its id is its index, operands come before it and their count
 * matches the op, the attributes are those ops.def lists (with the right
 * kind) plus the optional group=A, the dtype and rank are legal, dims are
 * positive or symbolic, the unit is in range; then the shape rule of the op
 * (linear: x [A,K], W [N,K] -> [A,N], and so on), and the facts the passes
 * the graph has been through promise (see ir.h). The first problem found is
 * reported as
 * "node %12 (l0.attn.q): linear: weight is [64,32] but input has 64 columns".
 */
#include "ir.h"

#include <stdarg.h>
#include <string.h>

enum {
    MAX_COUNT = 1 << 20,            /* bound on heads, kv_heads, head_dim */
};
static const int64_t MAX_NUMEL = (int64_t)1 << 48;  /* bound on elements at S = R = max_chunk */

typedef struct {
    const IrGraph *g;
    int64_t chunk;          /* S and R in size bounds: max_chunk, else 1 */
    const IrNode *n;        /* node being checked */
    int index;              /* its position in g->nodes */
    char *err;              /* the caller's message buffer */
    size_t errlen;
} Check;

typedef struct {
    char s[128];            /* NUL-terminated text, room for 4 dims of 20 digits */
} Text;

static int op_valid(IrOp op) { return (int)op >= 0 && op < IR_OP_COUNT; }

/* Writes "node %ID (NAME): OP: MESSAGE" and returns -1. */
static int bad(const Check *c, const char *fmt, ...)
{
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const IrNode *n = c->n;
    int known = op_valid(n->op);
    if (c->errlen)
        snprintf(c->err, c->errlen, "node %%%d (%.*s): %s%s%s", c->index, IR_NAME_LEN, n->name,
                 known ? ir_op_name(n->op) : "", known ? ": " : "", msg);
    return -1;
}

/* Writes "graph: MESSAGE" and returns -1. */
static int bad_graph(char *err, size_t errlen, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (errlen) snprintf(err, errlen, "graph: %s", msg);
    return -1;
}

/* ---- shapes ---- */

static Text dim_text(int64_t d)
{
    Text t;
    if (d == IR_DIM_S) snprintf(t.s, sizeof t.s, "S");
    else if (d == IR_DIM_R) snprintf(t.s, sizeof t.s, "R");
    else snprintf(t.s, sizeof t.s, "%lld", (long long)d);
    return t;
}

static Text shape_text(const IrNode *n)
{
    Text t;
    ir_shape_str(n, t.s);
    return t;
}

static int same_shape(const IrNode *a, const IrNode *b)
{
    if (a->ndim != b->ndim) return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->dim[d] != b->dim[d]) return 0;
    return 1;
}

static const IrNode *arg(const Check *c, int k) { return &c->g->nodes[c->n->in[k]]; }

static int need_rank(const Check *c, const IrNode *t, int rank, const char *what)
{
    if (t->ndim == rank) return 0;
    return bad(c, "%s must be %d-D, is %s", what, rank, shape_text(t).s);
}

/* The result must be [d0,d1]. */
static int need_result(const Check *c, int64_t d0, int64_t d1)
{
    IrNode want;
    want.ndim = 2;
    want.dim[0] = d0;
    want.dim[1] = d1;
    if (same_shape(c->n, &want)) return 0;
    return bad(c, "result is %s, expected %s", shape_text(c->n).s, shape_text(&want).s);
}

static int need_result_like(const Check *c, const IrNode *t, const char *what)
{
    if (same_shape(c->n, t)) return 0;
    return bad(c, "result is %s but %s is %s", shape_text(c->n).s, what, shape_text(t).s);
}

/* An int attribute in 1..MAX_COUNT (heads, head_dim, ...). */
static int need_count(const Check *c, const char *key, int64_t *v)
{
    *v = ir_attr_int(c->n, key);
    if (*v >= 1 && *v <= MAX_COUNT) return 0;
    return bad(c, "attribute '%s' must be in 1..%d, is %lld", key, MAX_COUNT, (long long)*v);
}

static int need_nonnegative(const Check *c, const char *key)
{
    int64_t v = ir_attr_int(c->n, key);
    if (v >= 0) return 0;
    return bad(c, "attribute '%s' must be >= 0, is %lld", key, (long long)v);
}

/* ---- shape rules, one per op ---- */

static int shape_leaf(const Check *c)
{
    IrOp op = c->n->op;
    if (op == IR_OP_INPUT || op == IR_OP_ROPE_TABLE) return need_rank(c, c->n, 1, "result");
    return 0;
}

static int shape_embed(const Check *c)
{
    const IrNode *ids = arg(c, 0), *table = arg(c, 1);
    if (need_rank(c, ids, 1, "ids") || need_rank(c, table, 2, "table")) return -1;
    return need_result(c, ids->dim[0], table->dim[1]);
}

static int shape_rmsnorm(const Check *c)
{
    const IrNode *x = arg(c, 0), *w = arg(c, 1);
    if (need_rank(c, x, 2, "input") || need_rank(c, w, 1, "weight")) return -1;
    if (w->dim[0] != x->dim[1])
        return bad(c, "weight is %s but input has %s columns", shape_text(w).s, dim_text(x->dim[1]).s);
    return need_result_like(c, x, "input");
}

static int shape_linear(const Check *c)
{
    const IrNode *x = arg(c, 0), *w = arg(c, 1);
    if (need_rank(c, x, 2, "input") || need_rank(c, w, 2, "weight")) return -1;
    if (w->dim[1] != x->dim[1])
        return bad(c, "weight is %s but input has %s columns", shape_text(w).s, dim_text(x->dim[1]).s);
    if (c->n->nin == 3) {
        const IrNode *b = arg(c, 2);
        if (need_rank(c, b, 1, "bias")) return -1;
        if (b->dim[0] != w->dim[0])
            return bad(c, "bias is %s but weight has %s rows", shape_text(b).s, dim_text(w->dim[0]).s);
    }
    return need_result(c, x->dim[0], w->dim[0]);
}

static int shape_rope(const Check *c)
{
    const IrNode *x = arg(c, 0), *table = arg(c, 1);
    int64_t heads, hd;
    if (need_count(c, "heads", &heads) || need_count(c, "head_dim", &hd)) return -1;
    if (hd % 2) return bad(c, "head_dim %lld is odd", (long long)hd);
    if (need_rank(c, x, 2, "input") || need_rank(c, table, 1, "table")) return -1;
    if (x->dim[1] != heads * hd)
        return bad(c, "input is %s but heads*head_dim is %lld", shape_text(x).s, (long long)(heads * hd));
    if (table->dim[0] != hd / 2)
        return bad(c, "table is %s but head_dim/2 is %lld", shape_text(table).s, (long long)(hd / 2));
    return need_result_like(c, x, "input");
}

static int shape_attention(const Check *c)
{
    const IrNode *q = arg(c, 0), *k = arg(c, 1), *v = arg(c, 2);
    int64_t heads, kv, hd;
    if (need_count(c, "heads", &heads) || need_count(c, "kv_heads", &kv) || need_count(c, "head_dim", &hd))
        return -1;
    if (need_nonnegative(c, "cache") || need_nonnegative(c, "window")) return -1;
    if (heads % kv)
        return bad(c, "heads %lld is not a multiple of kv_heads %lld", (long long)heads, (long long)kv);
    if (need_rank(c, q, 2, "q") || need_rank(c, k, 2, "k") || need_rank(c, v, 2, "v")) return -1;
    if (q->dim[1] != heads * hd)
        return bad(c, "q is %s but heads*head_dim is %lld", shape_text(q).s, (long long)(heads * hd));
    if (k->dim[1] != kv * hd)
        return bad(c, "k is %s but kv_heads*head_dim is %lld", shape_text(k).s, (long long)(kv * hd));
    if (!same_shape(k, v)) return bad(c, "v is %s but k is %s", shape_text(v).s, shape_text(k).s);
    if (k->dim[0] != q->dim[0]) return bad(c, "k is %s but q is %s", shape_text(k).s, shape_text(q).s);
    return need_result(c, q->dim[0], heads * hd);
}

/* quant: same shape as x; qlinear: like linear; shadow: x [S,K], the
 * columns W [N,H] of a channel set of H channels below K -> [S,N]. */
static int shape_quant(const Check *c) { return need_result_like(c, arg(c, 0), "input"); }

static int shape_shadow(const Check *c)
{
    const IrNode *x = arg(c, 0), *w = arg(c, 1);
    if (need_rank(c, x, 2, "input") || need_rank(c, w, 2, "columns")) return -1;
    const IrAttr *a = ir_attr(c->n, "chans");
    const IrChans *set = a && a->kind == IR_ATTR_STR ? ir_chans_find(c->g, a->s) : NULL;
    if (!set) return bad(c, "channel set '%s' is not defined (no 'chans' line)", a && a->kind == IR_ATTR_STR ? a->s : "");
    if (w->dim[1] != set->n)
        return bad(c, "columns are %s but channel set '%s' has %d channels", shape_text(w).s, set->name, set->n);
    if (x->dim[1] > 0 && set->n && set->idx[set->n - 1] >= x->dim[1])
        return bad(c, "channel set '%s' names channel %d but the input has %s columns", set->name,
                   set->idx[set->n - 1], dim_text(x->dim[1]).s);
    return need_result(c, x->dim[0], w->dim[0]);
}

/* A weight derived by quantize or outliers: int8 with wscale > 0, or the
 * columns of a defined channel set (f32); not both. A part (row0, pass
 * partition): rows from row0 >= 0. */
static int check_derived(const Check *c)
{
    const IrAttr *ws = ir_attr(c->n, "wscale"), *ch = ir_attr(c->n, "chans");
    if (c->n->op == IR_OP_WEIGHT && ir_attr(c->n, "row0") && need_nonnegative(c, "row0")) return -1;
    if (c->n->op != IR_OP_WEIGHT || (!ws && !ch)) return 0;
    if (ws && ch) return bad(c, "attributes 'wscale' and 'chans' exclude each other");
    if (ws && ws->kind == IR_ATTR_FLOAT && !(ws->f > 0 && ws->f < 1e30))
        return bad(c, "attribute 'wscale' must be positive, is %g", ws->f);
    if (ws && c->n->dtype != IR_I8) return bad(c, "a weight with 'wscale' is i8, not %s", ir_dtype_name(c->n->dtype));
    if (ch && c->n->dtype != IR_F32) return bad(c, "a weight with 'chans' is f32, not %s", ir_dtype_name(c->n->dtype));
    if (ch && ch->kind == IR_ATTR_STR && !ir_chans_find(c->g, ch->s))
        return bad(c, "channel set '%s' is not defined (no 'chans' line)", ch->s);
    if (ch && c->n->ndim == 2 && ch->kind == IR_ATTR_STR && c->n->dim[1] != ir_chans_find(c->g, ch->s)->n)
        return bad(c, "shape %s does not match channel set '%s' of %d channels", shape_text(c->n).s, ch->s,
                   ir_chans_find(c->g, ch->s)->n);
    return 0;
}

static int shape_elementwise(const Check *c)
{
    for (int k = 0; k < c->n->nin; k++) {
        const IrNode *a = arg(c, k);
        if (!same_shape(a, c->n))
            return bad(c, "operand %%%d is %s but the result is %s", a->id, shape_text(a).s,
                       shape_text(c->n).s);
    }
    return 0;
}

static int shape_last_rows(const Check *c)
{
    const IrNode *x = arg(c, 0);
    if (need_rank(c, x, 2, "input")) return -1;
    return need_result(c, IR_DIM_R, x->dim[1]);
}

/* rows: M static rows from row0, inside x's rows where those are static. */
static int shape_rows(const Check *c)
{
    const IrNode *x = arg(c, 0);
    if (need_rank(c, x, 2, "input") || need_nonnegative(c, "row0")) return -1;
    int64_t row0 = ir_attr_int(c->n, "row0");
    if (c->n->ndim != 2 || c->n->dim[0] <= 0) return bad(c, "result is %s, expected [M,%s] with M static", shape_text(c->n).s, dim_text(x->dim[1]).s);
    if (x->dim[0] > 0 && row0 + c->n->dim[0] > x->dim[0])
        return bad(c, "rows %lld..%lld of an input of %lld rows", (long long)row0, (long long)(row0 + c->n->dim[0] - 1),
                   (long long)x->dim[0]);
    return need_result(c, c->n->dim[0], x->dim[1]);
}

/* join: two parts side by side (axis 1) or one above the other (axis 0),
 * each computed into the result's storage: so each is read by this join
 * only, in its plan, and has storage of its own to give up (no view, no
 * weight or input). */
static int shape_join(const Check *c)
{
    const IrNode *a = arg(c, 0), *b = arg(c, 1);
    int64_t axis = ir_attr_int(c->n, "axis");
    if (axis != 0 && axis != 1) return bad(c, "attribute 'axis' must be 0 or 1, is %lld", (long long)axis);
    if (need_rank(c, a, 2, "operand 0") || need_rank(c, b, 2, "operand 1")) return -1;
    if (a == b) return bad(c, "operands %%%d and %%%d are one node", a->id, b->id);
    int64_t other = axis ? 0 : 1;
    if (a->dim[other] != b->dim[other] || a->dim[axis] <= 0 || b->dim[axis] <= 0)
        return bad(c, "operands %s and %s do not join along axis %lld", shape_text(a).s, shape_text(b).s, (long long)axis);
    for (int k = 0; k < 2; k++) {
        const IrNode *p = arg(c, k);
        if (ir_op_is_view(p->op) || p->op == IR_OP_WEIGHT || p->op == IR_OP_INPUT || p->op == IR_OP_ROPE_TABLE ||
            p->plan != c->n->plan)
            return bad(c, "operand %%%d (%s) cannot be computed into the join's storage", p->id, ir_op_name(p->op));
        for (int i = p->id + 1; i < c->index; i++)
            for (int j = 0; j < c->g->nodes[i].nin; j++)
                if (c->g->nodes[i].in[j] == p->id)
                    return bad(c, "operand %%%d is also read by node %%%d; a join's parts are read by the join only",
                               p->id, i);
    }
    if (axis) return need_result(c, a->dim[0], a->dim[1] + b->dim[1]);
    return need_result(c, a->dim[0] + b->dim[0], a->dim[1]);
}

static int shape_output(const Check *c) { return need_result_like(c, arg(c, 0), "its operand"); }

static int check_shape_rule(const Check *c)
{
    switch (c->n->op) {
    case IR_OP_EMBED: return shape_embed(c);
    case IR_OP_RMSNORM: return shape_rmsnorm(c);
    case IR_OP_LINEAR:
    case IR_OP_QLINEAR: return shape_linear(c);
    case IR_OP_QUANT: return shape_quant(c);
    case IR_OP_SHADOW: return shape_shadow(c);
    case IR_OP_ROPE: return shape_rope(c);
    case IR_OP_ATTENTION: return shape_attention(c);
    case IR_OP_SILU:
    case IR_OP_MUL:
    case IR_OP_SWIGLU:
    case IR_OP_ADD: return shape_elementwise(c);
    case IR_OP_LAST_ROWS: return shape_last_rows(c);
    case IR_OP_ROWS: return shape_rows(c);
    case IR_OP_JOIN: return shape_join(c);
    case IR_OP_OUTPUT:
    case IR_OP_COPY: return shape_output(c);
    default: return shape_leaf(c);
    }
}

/* ---- generic checks ---- */

static int is_float_dtype(IrDtype t) { return t == IR_F32 || t == IR_F16 || t == IR_BF16; }

static int check_dims(const Check *c)
{
    const IrNode *n = c->n;
    if (n->ndim < 0 || n->ndim > IR_MAX_DIMS) return bad(c, "rank %d is not in 0..%d", n->ndim, IR_MAX_DIMS);
    int64_t numel = 1;
    for (int d = 0; d < n->ndim; d++) {
        int64_t v = n->dim[d];
        if (v == IR_DIM_S || v == IR_DIM_R) v = c->chunk;
        else if (v <= 0) return bad(c, "dimension %d is %lld", d, (long long)v);
        if (numel > MAX_NUMEL / v) return bad(c, "shape %s is too large", shape_text(n).s);
        numel *= v;
    }
    return 0;
}

static int check_dtype(const Check *c)
{
    const IrNode *n = c->n;
    if ((int)n->dtype < 0 || n->dtype >= IR_DTYPE_COUNT) return bad(c, "bad dtype %d", (int)n->dtype);
    const char *name = ir_dtype_name(n->dtype);
    if (n->op == IR_OP_INPUT && n->dtype != IR_I32) return bad(c, "dtype is %s, expected i32", name);
    if (n->op == IR_OP_WEIGHT && !is_float_dtype(n->dtype) && !(n->dtype == IR_I8 && ir_attr(n, "wscale")) &&
        !(ir_dtype_is_block(n->dtype) && !ir_attr(n, "wscale") && !ir_attr(n, "chans")))
        return bad(c, "dtype is %s, expected f32, f16, bf16, a block type (q8_0, q4_0, ...) or i8 with 'wscale'",
                   name);
    if (ir_dtype_is_block(n->dtype) && n->op != IR_OP_WEIGHT) return bad(c, "dtype %s is for weights only", name);
    if (ir_dtype_is_block(n->dtype) && (n->ndim != 2 || n->dim[1] % ir_dtype_block(n->dtype)))
        return bad(c, "a %s weight is a matrix whose rows are whole blocks of %d values, not %s", name,
                   ir_dtype_block(n->dtype), shape_text(n).s);
    if (n->op == IR_OP_QUANT && n->dtype != IR_I8) return bad(c, "dtype is %s, expected i8", name);
    if (n->op == IR_OP_QLINEAR) {
        for (int k = 0; k < 2 && k < n->nin; k++)
            if (n->in[k] >= 0 && n->in[k] < c->index && c->g->nodes[n->in[k]].dtype != IR_I8)
                return bad(c, "operand %%%d is %s, expected i8", n->in[k], ir_dtype_name(c->g->nodes[n->in[k]].dtype));
    } else if (n->op != IR_OP_COPY && n->op != IR_OP_LAST_ROWS && n->op != IR_OP_ROWS && n->op != IR_OP_OUTPUT) {
        for (int k = 0; k < n->nin; k++)
            if (n->in[k] >= 0 && n->in[k] < c->index && c->g->nodes[n->in[k]].dtype == IR_I8)
                return bad(c, "operand %%%d is i8; only qlinear reads i8", n->in[k]);
    }
    if (n->op == IR_OP_COPY && n->nin == 1 && n->in[0] >= 0 && n->in[0] < c->index &&
        n->dtype != c->g->nodes[n->in[0]].dtype)
        return bad(c, "dtype is %s but its operand's is %s", name, ir_dtype_name(c->g->nodes[n->in[0]].dtype));
    if (n->op != IR_OP_INPUT && n->op != IR_OP_WEIGHT && n->op != IR_OP_COPY && n->op != IR_OP_QUANT &&
        n->dtype != IR_F32)
        return bad(c, "dtype is %s, expected f32", name);
    return 0;
}

/* kv_offset (pass memplan): on every attention after memplan, and only
 * there; its slot inside its unit's KV row. */
static int check_kv_offset(const Check *c)
{
    const IrNode *n = c->n;
    int done = ir_has_pass(c->g, "memplan"), att = n->op == IR_OP_ATTENTION;
    if (n->kv_offset < -1) return bad(c, "KV offset %lld is below -1", (long long)n->kv_offset);
    if (n->kv_offset >= 0 && (!done || !att)) return bad(c, "a KV offset, but %s", att ? "pass 'memplan' has not run" : "it is no attention");
    if (!done || !att) return 0;
    if (n->kv_offset < 0) return bad(c, "no KV offset, but pass 'memplan' has run");
    const IrAttr *kvh = ir_attr(n, "kv_heads"), *hd = ir_attr(n, "head_dim");
    if (!kvh || !hd || kvh->kind != IR_ATTR_INT || hd->kind != IR_ATTR_INT) return 0;  /* check_attrs says so */
    if (n->unit < 0) return 0;     /* not placed: no unit's row to fit */
    if (n->unit >= c->g->nkv || kvh->i > c->g->kv[n->unit] || hd->i > c->g->kv[n->unit] ||
        n->kv_offset > c->g->kv[n->unit] - kvh->i * hd->i)
        return bad(c, "KV slot at %lld does not fit its unit's %lld floats per token", (long long)n->kv_offset,
                   (long long)(n->unit >= 0 && n->unit < c->g->nkv ? c->g->kv[n->unit] : 0));
    return 0;
}

static int check_placement(const Check *c)
{
    const IrNode *n = c->n;
    if (n->layer < -1) return bad(c, "layer %d is below -1", n->layer);
    if (n->unit < -1 || n->unit >= c->g->nunits)
        return bad(c, "unit %d out of range (the graph has %d units)", n->unit, c->g->nunits);
    if (n->unit < 0 && ir_has_pass(c->g, "place")) return bad(c, "no unit, but pass 'place' has run");
    if (n->offset < -1) return bad(c, "offset %lld is below -1", (long long)n->offset);
    if (n->offset >= 0 && !ir_has_pass(c->g, "memplan")) return bad(c, "offset, but pass 'memplan' has not run");
    return 0;
}

static int check_basics(const Check *c)
{
    const IrNode *n = c->n;
    if (!op_valid(n->op)) return bad(c, "bad op %d", (int)n->op);
    if (n->id != c->index) return bad(c, "id is %d but the node is at index %d", n->id, c->index);
    return check_dims(c) || check_dtype(c) || check_placement(c) ? -1 : 0;
}

static int check_operands(const Check *c)
{
    const IrNode *n = c->n;
    int want = ir_op_ninputs(n->op);
    if (want < 0 && (n->nin < 2 || n->nin > 3)) return bad(c, "expects 2 or 3 operands, has %d", n->nin);
    if (want >= 0 && n->nin != want)
        return bad(c, "expects %d operand%s, has %d", want, want == 1 ? "" : "s", n->nin);
    for (int k = 0; k < n->nin; k++) {
        int id = n->in[k];
        if (id < 0 || id >= c->index) return bad(c, "operand %%%d is not defined before use", id);
        IrDtype t = c->g->nodes[id].dtype;
        int ids = (n->op == IR_OP_EMBED && k == 0) || n->op == IR_OP_COPY;
        if (ids && n->op != IR_OP_COPY && t != IR_I32)
            return bad(c, "ids %%%d are %s, expected i32", id, ir_dtype_name(t));
        int int8 = n->op == IR_OP_QLINEAR && k < 2;     /* check_dtype: exactly i8 */
        int block = (n->op == IR_OP_LINEAR || n->op == IR_OP_EMBED) && k == 1 && ir_dtype_is_block(t);
        if (!ids && !int8 && !block && !is_float_dtype(t))
            return bad(c, "operand %%%d is %s, expected a float dtype", id, ir_dtype_name(t));
    }
    return 0;
}

/* After transfers, what a node reads is on its unit: only weights and RoPE
 * tables (loaded where they are used) and the operand of a copy are not. */
static int check_transfers(const Check *c)
{
    const IrNode *n = c->n;
    if (!ir_has_pass(c->g, "transfers") || n->op == IR_OP_COPY) return 0;
    for (int k = 0; k < n->nin; k++) {
        const IrNode *a = arg(c, k);
        if (a->op == IR_OP_WEIGHT || a->op == IR_OP_ROPE_TABLE || a->unit == n->unit) continue;
        if (a->unit < 0 || n->unit < 0 || !ir_same_memory(c->g, a->unit, n->unit))
            return bad(c, "operand %%%d is in another memory space than this node, but pass 'transfers' has run",
                       a->id);
    }
    return 0;
}

/* sub=K (pass schedule): every node of a plan has one, from 0 in each
 * plan, never decreasing, one unit per subgraph, attention alone. */
static int check_sub(const Check *c)
{
    const IrNode *n = c->n;
    int done = ir_has_pass(c->g, "schedule");
    if (n->sub < -1) return bad(c, "subgraph %d is below -1", n->sub);
    if (n->sub >= 0 && !done) return bad(c, "subgraph, but pass 'schedule' has not run");
    if (!done) return 0;
    if ((n->sub >= 0) != (n->plan >= 0)) return bad(c, "%s", n->plan >= 0 ? "in a plan but in no subgraph" : "a shared constant in a subgraph");
    if (n->sub < 0) return 0;
    const IrNode *prev = c->index > 0 ? &c->g->nodes[c->index - 1] : NULL;
    int first = !prev || prev->plan != n->plan;
    if (first && n->sub != 0) return bad(c, "the first subgraph of a plan is %d, not 0", n->sub);
    if (first) return 0;
    if (n->sub != prev->sub && n->sub != prev->sub + 1)
        return bad(c, "subgraph %d follows subgraph %d", n->sub, prev->sub);
    if (n->sub == prev->sub && (n->unit != prev->unit || n->op == IR_OP_ATTENTION || prev->op == IR_OP_ATTENTION))
        return bad(c, "subgraph %d spans two units or holds an attention with other nodes", n->sub);
    return 0;
}

/* The roles of pass group: the op each applies to, and whether it names
 * a kind of group (the anchor's role) or a part. */
static const struct {
    const char *role;
    IrOp op;
    int kind;
} roles[] = {
    {"qkv_rope", IR_OP_ROPE, 1},   {"gate_up", IR_OP_SWIGLU, 1}, {"residual", IR_OP_ADD, 1},
    {"head", IR_OP_LINEAR, 1},     {"rope_kv", IR_OP_ATTENTION, 1}, {"norm", IR_OP_RMSNORM, 0},
    {"view", IR_OP_LAST_ROWS, 0},  {"q", IR_OP_LINEAR, 0},       {"k", IR_OP_LINEAR, 0},
    {"v", IR_OP_LINEAR, 0},        {"gate", IR_OP_LINEAR, 0},    {"up", IR_OP_LINEAR, 0},
    {"linear", IR_OP_LINEAR, 0},   {"rope_q", IR_OP_ROPE, 0},    {"rope_k", IR_OP_ROPE, 0},
};

/* role=R with group=A: a role of the table for this op; a kind on the
 * anchor, a part on the other members. */
static int check_role(const Check *c, const IrAttr *group)
{
    const IrAttr *r = ir_attr(c->n, "role");
    if (!r && !group) return 0;
    if (!r || !group) return bad(c, "attributes 'group' and 'role' come together");
    if (r->kind != IR_ATTR_STR) return 0;   /* check_attrs says so */
    size_t k = 0, nk = sizeof roles / sizeof roles[0];
    while (k < nk && strcmp(roles[k].role, r->s) != 0) k++;
    if (k == nk) return bad(c, "role '%.40s' is not a role of pass group", r->s);
    if (roles[k].op != c->n->op) return bad(c, "role '%s' is for %s nodes", r->s, ir_op_name(roles[k].op));
    if (roles[k].kind != (group->kind == IR_ATTR_INT && group->i == c->index))
        return bad(c, "role '%s' is %s", r->s, roles[k].kind ? "the anchor's, but this node is not the anchor" :
                                                                  "a member's, but this node is the anchor");
    return 0;
}

/* group=A (pass group): A is this node or a later one, the anchor of its
 * own group, on the same unit; role=R (check_role). */
static int check_group(const Check *c)
{
    const IrAttr *a = ir_attr(c->n, "group");
    if (!a) return check_role(c, a);
    if (!ir_has_pass(c->g, "group")) return bad(c, "attribute 'group', but pass 'group' has not run");
    if (a->i < c->index || a->i >= c->g->n)
        return bad(c, "group %lld is not a node from %%%d to %%%d", (long long)a->i, c->index, c->g->n - 1);
    const IrNode *anchor = &c->g->nodes[a->i];
    const IrAttr *own = ir_attr(anchor, "group");
    if (!own || own->kind != IR_ATTR_INT || own->i != a->i)
        return bad(c, "group %lld: node %%%lld is not in its own group", (long long)a->i, (long long)a->i);
    if (anchor->unit != c->n->unit)
        return bad(c, "group %lld is on unit %d, this node on unit %d", (long long)a->i, anchor->unit, c->n->unit);
    return check_role(c, a);
}

static IrAttrKind kind_of(char k)
{
    switch (k) {
    case 'i': return IR_ATTR_INT;
    case 'f': return IR_ATTR_FLOAT;
    case 's': return IR_ATTR_STR;
    default: IR_BUG("ops.def: bad attribute kind '%c'", k);
    }
}

static const char *kind_name(IrAttrKind k)
{
    return k == IR_ATTR_INT ? "int" : k == IR_ATTR_FLOAT ? "float" : k == IR_ATTR_STR ? "string" : "bad";
}

/* Whether key is one of the "key:kind ..." of spec. */
static int listed(const char *spec, const char *key)
{
    size_t len = strlen(key);
    for (const char *s = spec; (s = strstr(s, key)); s += len)
        if ((s == spec || s[-1] == ' ') && s[len] == ':') return 1;
    return 0;
}

/* arena=UNIT and ld=N (pass memplan, on a join's part computed inside
 * the join's buffer): UNIT shares the node's memory; N >= its columns. */
static int check_place_attr(const Check *c, const IrAttr *a)
{
    const IrNode *n = c->n;
    if (!ir_has_pass(c->g, "memplan")) return bad(c, "attribute '%s', but pass 'memplan' has not run", a->key);
    if (strcmp(a->key, "ld") == 0) {
        int64_t cols = n->ndim > 1 ? n->dim[1] : 1;
        if (a->kind != IR_ATTR_INT || a->i < cols)
            return bad(c, "attribute 'ld' is not an int of at least the node's %lld columns", (long long)cols);
        return 0;
    }
    if (a->kind != IR_ATTR_STR) return bad(c, "attribute 'arena' is %s, expected string", kind_name(a->kind));
    for (int u = 0; u < c->g->nunits; u++)
        if (strcmp(c->g->units[u].name, a->s) == 0) {
            if (n->unit >= 0 && !ir_same_memory(c->g, u, n->unit))
                return bad(c, "arena of unit '%s', which does not share the memory of unit '%s'", a->s,
                           c->g->units[n->unit].name);
            return 0;
        }
    return bad(c, "arena of unknown unit '%.40s'", a->s);
}

/* Checks attribute kinds, the attributes ops.def requires ("eps:f ...") and
 * that there are no others but group, role, score, pred_us, arena and ld. */
static int check_attrs(const Check *c)
{
    const IrNode *n = c->n;
    if (n->nattr < 0 || n->nattr > IR_MAX_ATTRS) return bad(c, "%d attributes", n->nattr);
    for (int i = 0; i < n->nattr; i++) {
        const IrAttr *a = &n->attr[i];
        if ((unsigned)a->kind > IR_ATTR_STR) return bad(c, "attribute %d has bad kind %d", i, (int)a->kind);
        int group = strcmp(a->key, "group") == 0, role = strcmp(a->key, "role") == 0;
        if (strcmp(a->key, "score") == 0 || strcmp(a->key, "pred_us") == 0) {
            if (a->kind != IR_ATTR_FLOAT || !(a->f > 0))
                return bad(c, "attribute '%s' is not a positive float", a->key);
            if (!ir_has_pass(c->g, "schedule"))
                return bad(c, "attribute '%s', but pass 'schedule' has not run", a->key);
            const IrNode *prev = c->index > 0 ? &c->g->nodes[c->index - 1] : NULL;
            if (n->sub < 0 || (prev && prev->plan == n->plan && prev->sub == n->sub))
                return bad(c, "attribute '%s' on a node that does not begin a subgraph", a->key);
            continue;
        }
        if (strcmp(a->key, "arena") == 0 || strcmp(a->key, "ld") == 0) {
            if (check_place_attr(c, a)) return -1;
            continue;
        }
        if (!group && !role && !listed(ir_op_attrs(n->op), a->key))
            return bad(c, "unknown attribute '%.23s'", a->key);
        if (group && a->kind != IR_ATTR_INT)
            return bad(c, "attribute 'group' is %s, expected int", kind_name(a->kind));
        if (role && a->kind != IR_ATTR_STR)
            return bad(c, "attribute 'role' is %s, expected string", kind_name(a->kind));
    }
    for (const char *s = ir_op_attrs(n->op); *s;) {
        char key[24], k;
        int used = 0;
        if (sscanf(s, " %23[^:]:%c%n", key, &k, &used) != 2) IR_BUG("ops.def: bad attrs '%s'", s);
        s += used;
        int optional = *s == '?';
        s += optional;
        s += strspn(s, " ");
        IrAttrKind want = kind_of(k);
        const IrAttr *a = ir_attr(n, key);
        if (!a && optional) continue;
        if (!a) return bad(c, "missing attribute '%s' (%s)", key, kind_name(want));
        if (a->kind != want)
            return bad(c, "attribute '%s' is %s, expected %s", key, kind_name(a->kind), kind_name(want));
    }
    return 0;
}

/* Unit names are C identifiers (the generated code names fields after
 * them); kind, backend and memory space print unquoted, as words. */
static int is_identifier(const char *s, size_t size)
{
    size_t len = strnlen(s, size);
    if (len == 0 || len == size || (s[0] >= '0' && s[0] <= '9')) return 0;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == len;
}

static int is_word(const char *s, size_t size)
{
    size_t len = strnlen(s, size);
    if (len == 0 || len == size) return 0;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == len;
}

/* The attributes a unit may carry, with their kinds (see fe_target.c for
 * their meaning). */
static const struct {
    const char *key;
    IrAttrKind kind;
} unit_keys[] = {
    {"threads", IR_ATTR_INT}, {"platform", IR_ATTR_STR}, {"device", IR_ATTR_STR},   {"index", IR_ATTR_INT},
    {"fp16", IR_ATTR_INT},    {"wg", IR_ATTR_INT},       {"tile", IR_ATTR_INT},     {"gflops", IR_ATTR_FLOAT},
    {"gflops_f16", IR_ATTR_FLOAT}, {"gops_i8", IR_ATTR_FLOAT}, {"gbps", IR_ATTR_FLOAT},
    {"launch_us", IR_ATTR_FLOAT}, {"sync_us", IR_ATTR_FLOAT}, {"silu_geps", IR_ATTR_FLOAT}, {"att_alone", IR_ATTR_INT},
    {"att_split", IR_ATTR_INT}, {"att_chunks", IR_ATTR_INT}, {"ops", IR_ATTR_STR},     {"shapes", IR_ATTR_STR},
    {"shares", IR_ATTR_STR},
};

static int check_unit_attrs(const IrUnit *u, char *err, size_t errlen)
{
    if (u->nattr < 0 || u->nattr > IR_MAX_UNIT_ATTRS)
        return bad_graph(err, errlen, "unit '%s': bad attribute count %d", u->name, u->nattr);
    for (int i = 0; i < u->nattr; i++) {
        const IrAttr *a = &u->attr[i];
        size_t k = 0, nk = sizeof unit_keys / sizeof unit_keys[0];
        while (k < nk && strcmp(unit_keys[k].key, a->key) != 0) k++;
        if (k == nk) return bad_graph(err, errlen, "unit '%s': unknown attribute '%.23s'", u->name, a->key);
        if (a->kind != unit_keys[k].kind)
            return bad_graph(err, errlen, "unit '%s': attribute '%s' is %s, expected %s", u->name, a->key,
                             kind_name(a->kind), kind_name(unit_keys[k].kind));
        for (int j = 0; j < i; j++)
            if (strcmp(u->attr[j].key, a->key) == 0)
                return bad_graph(err, errlen, "unit '%s': attribute '%s' given twice", u->name, a->key);
    }
    return 0;
}

static int check_units(const IrGraph *g, char *err, size_t errlen)
{
    static const char *const kinds[] = {"cpu", "gpu", "npu"};
    if (g->nunits < 0 || g->nunits > IR_MAX_UNITS) return bad_graph(err, errlen, "bad unit count %d", g->nunits);
    for (int u = 0; u < g->nunits; u++) {
        const IrUnit *un = &g->units[u];
        if (!is_identifier(un->name, sizeof un->name))
            return bad_graph(err, errlen, "unit %d name '%.15s' is not a C identifier", u, un->name);
        int kind = 0;
        while (kind < 3 && strncmp(un->kind, kinds[kind], sizeof un->kind) != 0) kind++;
        if (kind == 3) return bad_graph(err, errlen, "unit '%s': kind '%.7s' is not cpu, gpu or npu", un->name, un->kind);
        if (!is_word(un->backend, sizeof un->backend) || !is_word(un->mem, sizeof un->mem))
            return bad_graph(err, errlen, "unit '%s': backend and memory space must be words of [A-Za-z0-9_.-]",
                             un->name);
        if (check_unit_attrs(un, err, errlen)) return -1;
        for (int v = 0; v < u; v++)
            if (strcmp(un->name, g->units[v].name) == 0)
                return bad_graph(err, errlen, "unit name '%s' is used twice", un->name);
    }
    if (g->nunits == 0 && ir_has_pass(g, "place")) return bad_graph(err, errlen, "no units, but pass 'place' has run");
    return 0;
}

/* Channel sets: distinct names, channels ascending, at least one. */
static int check_chans(const IrGraph *g, char *err, size_t errlen)
{
    if (g->nchans < 0 || (g->nchans && !g->chans)) return bad_graph(err, errlen, "bad channel set count %d", g->nchans);
    for (int i = 0; i < g->nchans; i++) {
        const IrChans *s = &g->chans[i];
        if (s->n < 1 || !s->idx) return bad_graph(err, errlen, "channel set '%s' is empty", s->name);
        for (int k = 0; k < s->n; k++)
            if (s->idx[k] < 0 || (k && s->idx[k] <= s->idx[k - 1]))
                return bad_graph(err, errlen, "channel set '%s': channel %d (%d) is not above the one before and >= 0",
                                 s->name, k, s->idx[k]);
        for (int j = 0; j < i; j++)
            if (strcmp(g->chans[j].name, s->name) == 0)
                return bad_graph(err, errlen, "channel set '%s' is defined twice", s->name);
    }
    return 0;
}

static int check_graph_attrs(const IrGraph *g, char *err, size_t errlen)
{
    if (g->nattr < 0 || g->nattr > IR_MAX_GRAPH_ATTRS)
        return bad_graph(err, errlen, "bad attribute count %d", g->nattr);
    for (int i = 0; i < g->nattr; i++) {
        const IrAttr *a = &g->attr[i];
        if ((unsigned)a->kind > IR_ATTR_STR)
            return bad_graph(err, errlen, "attribute '%.23s' has bad kind %d", a->key, (int)a->kind);
        if (strcmp(a->key, "max_chunk") == 0 && (a->kind != IR_ATTR_INT || a->i < 1 || a->i > IR_MAX_CHUNK))
            return bad_graph(err, errlen, "attribute 'max_chunk' must be an int in 1..%d", IR_MAX_CHUNK);
    }
    return 0;
}

static int check_arena(const IrGraph *g, char *err, size_t errlen)
{
    if (g->narena < 0 || g->narena > IR_MAX_UNITS || (g->narena && g->narena != g->nunits) ||
        (g->narena == 0 && g->nunits && ir_has_pass(g, "memplan")))
        return bad_graph(err, errlen, "%d arena sizes for %d units", g->narena, g->nunits);
    if (g->narena && !ir_has_pass(g, "memplan"))
        return bad_graph(err, errlen, "arena sizes, but pass 'memplan' has not run");
    for (int u = 0; u < g->narena; u++)
        if (g->arena[u] < 0) return bad_graph(err, errlen, "arena size %lld is negative", (long long)g->arena[u]);
    if (g->nkv != g->narena) return bad_graph(err, errlen, "%d KV sizes for %d arena sizes", g->nkv, g->narena);
    for (int u = 0; u < g->nkv; u++) {
        if (g->kv[u] < 0 || g->kv[u] > ((int64_t)1 << 31))
            return bad_graph(err, errlen, "KV size %lld is not in 0..2^31 floats per token", (long long)g->kv[u]);
        if (g->ws[u] < 0 || g->ws[u] > ((int64_t)1 << 48))
            return bad_graph(err, errlen, "workspace size %lld is not in 0..2^48 bytes", (long long)g->ws[u]);
    }
    return 0;
}

/* The plan lines: names, kinds, sizes; present exactly when 'chunk' ran. */
static int check_plans(const IrGraph *g, IrFault *at, char *err, size_t errlen)
{
    if (g->nplans < 0 || g->nplans > IR_MAX_PLANS) return bad_graph(err, errlen, "bad plan count %d", g->nplans);
    if (g->nplans == 0 && ir_has_pass(g, "chunk")) return bad_graph(err, errlen, "no plans, but pass 'chunk' has run");
    for (int p = 0; p < g->nplans; p++) {
        const IrPlan *pl = &g->plans[p];
        at->plan = p;
        if (!ir_has_pass(g, "chunk")) return bad_graph(err, errlen, "plans, but pass 'chunk' has not run");
        if (!is_word(pl->name, sizeof pl->name))
            return bad_graph(err, errlen, "plan %d name '%.23s' is not a word of [A-Za-z0-9_.-]", p, pl->name);
        if ((unsigned)pl->kind >= IR_PLAN_KIND_COUNT) return bad_graph(err, errlen, "plan '%s': bad kind", pl->name);
        if (pl->s_min < 1 || pl->s_min > pl->s_max || pl->s_max > IR_MAX_CHUNK)
            return bad_graph(err, errlen, "plan '%s': sizes %lld..%lld are not within 1..%d", pl->name,
                             (long long)pl->s_min, (long long)pl->s_max, IR_MAX_CHUNK);
        if (pl->kind == IR_PLAN_CHUNK && pl->s_min != pl->s_max)
            return bad_graph(err, errlen, "plan '%s': a chunk plan has one static size", pl->name);
        if (pl->inflight < 0 || pl->inflight > 2 || (pl->inflight == 2 && pl->kind != IR_PLAN_CHUNK))
            return bad_graph(err, errlen, "plan '%s': %d chunks in flight (2 only on a chunk plan, else 1)", pl->name,
                             pl->inflight);
        if (pl->inflight && !ir_has_pass(g, "schedule"))
            return bad_graph(err, errlen, "plan '%s': chunks in flight, but pass 'schedule' has not run", pl->name);
        for (int i = 0; pl->inflight == 2 && i < g->n; i++)
            if (g->nodes[i].plan == p && g->nodes[i].op == IR_OP_COPY)
                return bad_graph(err, errlen, "plan '%s': two chunks in flight, but node %%%d copies between memory "
                                 "spaces (their buffers cannot alternate)", pl->name, i);
        for (int q = 0; q < p; q++)
            if (strcmp(g->plans[q].name, pl->name) == 0)
                return bad_graph(err, errlen, "plan name '%s' is used twice", pl->name);
    }
    at->plan = -1;
    return 0;
}

/* Node n's plan: shared constants first, then each plan's nodes in plan
 * order, operands in the node's plan or shared, static shapes in chunk
 * plans. */
static int check_node_plan(const Check *c)
{
    const IrNode *n = c->n;
    const IrGraph *g = c->g;
    if (n->plan < -1 || n->plan >= g->nplans)
        return bad(c, "plan %d out of range (the graph has %d plans)", n->plan, g->nplans);
    if (g->nplans == 0) return 0;
    int constant = n->op == IR_OP_WEIGHT || n->op == IR_OP_ROPE_TABLE;
    if (constant && n->plan >= 0) return bad(c, "a constant is shared by every plan, but is in plan '%s'", g->plans[n->plan].name);
    if (!constant && n->plan < 0) return bad(c, "in no plan, but pass 'chunk' has run");
    if (c->index > 0 && g->nodes[c->index - 1].plan > n->plan && g->nodes[c->index - 1].plan >= -1)
        return bad(c, "nodes of plan %d come after those of plan %d", n->plan, g->nodes[c->index - 1].plan);
    for (int k = 0; k < n->nin && k < IR_MAX_IN; k++) {
        int a = n->in[k];
        if (a < 0 || a >= c->index) continue;  /* check_operands says so */
        int ap = g->nodes[a].plan;
        if (ap != -1 && ap != n->plan) return bad(c, "operand %%%d is in another plan", a);
    }
    if (n->plan >= 0 && g->plans[n->plan].kind == IR_PLAN_CHUNK)
        for (int d = 0; d < n->ndim && d < IR_MAX_DIMS; d++)
            if (n->dim[d] == IR_DIM_S) return bad(c, "dimension S in chunk plan '%s' (its shapes are static)",
                                                 g->plans[n->plan].name);
    return 0;
}

/* One input and one output in every plan. */
static int check_plan_ends(const IrGraph *g, IrFault *at, char *err, size_t errlen)
{
    for (int p = 0; p < g->nplans; p++) {
        int in = 0, out = 0;
        for (int i = 0; i < g->n; i++) {
            if (g->nodes[i].plan != p) continue;
            in += g->nodes[i].op == IR_OP_INPUT;
            out += g->nodes[i].op == IR_OP_OUTPUT;
        }
        at->plan = p;
        if (in != 1 || out != 1)
            return bad_graph(err, errlen, "plan '%s' has %d inputs and %d outputs (one each)", g->plans[p].name, in,
                             out);
    }
    at->plan = -1;
    return 0;
}

int ir_verify_at(const IrGraph *g, IrFault *at, char *err, size_t errlen)
{
    IrFault none;
    if (!at) at = &none;
    if (!err) errlen = 0;
    at->node = -1;
    at->line = "passes";
    at->plan = -1;
    if (g->n < 0 || (g->n > 0 && !g->nodes)) return bad_graph(err, errlen, "bad node count %d", g->n);
    at->line = "plan";
    if (check_plans(g, at, err, errlen)) return -1;
    at->line = "units";
    if (check_units(g, err, errlen)) return -1;
    at->line = "attr";
    if (check_graph_attrs(g, err, errlen)) return -1;
    at->line = "arena";
    if (check_arena(g, err, errlen)) return -1;
    at->line = "chans";
    if (check_chans(g, err, errlen)) return -1;
    at->line = NULL;
    for (int i = 0; i < g->n; i++) {
        Check c = {.g = g, .chunk = 1, .n = &g->nodes[i], .index = i, .err = err, .errlen = errlen};
        at->node = i;
        if (check_node_plan(&c)) return -1;
        c.chunk = ir_plan_rows(g, c.n);
        if (check_basics(&c) || check_operands(&c) || check_attrs(&c) || check_shape_rule(&c) || check_derived(&c) ||
            check_transfers(&c) || check_group(&c) || check_sub(&c) || check_kv_offset(&c))
            return -1;
    }
    at->node = -1;
    at->line = "plan";
    return check_plan_ends(g, at, err, errlen);
}

int ir_verify(const IrGraph *g, char *err, size_t errlen) { return ir_verify_at(g, NULL, err, errlen); }
