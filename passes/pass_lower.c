/* pass_lower.c: architecture XML + config + weights -> one decoder step.
 *
 * Requires: nothing (an empty graph) and a model (c->arch, config, weights).
 * Provides: the graph of one step with symbolic S (tokens in the step) and
 * R (rows of logits returned): input ids, one weight node per tensor, the
 * RoPE table, the embedding, every decoder layer unrolled, the head and the
 * output. Graph attrs carry the resolved dims. Every weight is checked
 * against the shape the config implies; errors name the file and tensor.
 * The dims read here were declared with their kinds (fe_arch_load) and
 * range-checked (fe_arch_resolve): their int conversions are exact.
 */
#include "passes.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    IrGraph *g;
    const PassCtx *c;
    FeDims dims;
    int layer;          /* current layer, -1 outside */
    int ids;            /* node of the input ids */
    int rope_table;     /* node of the RoPE table, -1 until needed */
    int local[FE_MAX_OPS + 1];      /* node of each op of the current section */
    const char *local_id[FE_MAX_OPS + 1];
    int nlocal;
} Lower;

static void expand_name(const Lower *L, const char *pattern, char *out, size_t cap)
{
    const char *p = strstr(pattern, "{i}");
    if (!p) {
        snprintf(out, cap, "%s", pattern);
        return;
    }
    snprintf(out, cap, "%.*s%d%s", (int)(p - pattern), pattern, L->layer, p + 3);
}

static const char *weights_file(const Lower *L, const FeTensor *t)
{
    static char buf[FE_PATH_LEN + 64];
    if (t) snprintf(buf, sizeof buf, "%s", L->c->weights->files[t->file].path);
    else snprintf(buf, sizeof buf, "%s", L->c->model_dir);
    return buf;
}

static int find_weight_node(const IrGraph *g, const char *name)
{
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == IR_OP_WEIGHT && strcmp(ir_attr_str(&g->nodes[i], "name"), name) == 0) return i;
    return -1;
}

/* Expected shape from "dim_expr dim_expr"; returns rank or -1. */
static int expected_shape(Lower *L, const FeArchOp *op, int64_t *shape)
{
    char buf[sizeof op->wshape];
    snprintf(buf, sizeof buf, "%s", op->wshape);
    int rank = 0;
    for (char *tok = strtok(buf, " "); tok && rank < IR_MAX_DIMS; tok = strtok(NULL, " ")) {
        char err[256];
        if (fe_dims_eval(&L->dims, tok, &shape[rank++], err, sizeof err)) {
            pass_error(L->c, "%s:%d: error: %s", L->c->arch->path, op->line, err);
            return -1;
        }
    }
    return rank;
}

static void shape_str(const int64_t *s, int n, char *out, size_t cap)
{
    size_t k = snprintf(out, cap, "[");
    for (int i = 0; i < n && k < cap; i++) k += snprintf(out + k, cap - k, "%s%lld", i ? "," : "", (long long)s[i]);
    if (k < cap) snprintf(out + k, cap - k, "]");
}

/* Block type dt for rows of 'cols' values: where a row is not whole
 * blocks of a K-quant, llama.cpp's fallback (llama-quant.cpp: q4_k ->
 * q5_0, q5_k -> q5_1, q6_k -> q8_0; q2_k and q3_k -> its iq4_nl, which has
 * q4_0's bytes). */
static IrDtype whole_blocks(IrDtype dt, int64_t cols)
{
    if (!ir_dtype_is_block(dt) || cols % ir_dtype_block(dt) == 0) return dt;
    switch (dt) {
    case IR_Q4_K: return IR_Q5_0;
    case IR_Q5_K: return IR_Q5_1;
    case IR_Q6_K: return IR_Q8_0;
    default: return IR_Q4_0;
    }
}

/* The stored type of a weight of a model of config.json alone: vectors
 * f32; matrices --weight-dtype (bf16 by default), except that a block type
 * applies to linears only (the embedding table stays f16), whole_blocks. */
static IrDtype planning_dtype(const PassCtx *c, const FeArchOp *op, const int64_t *want, int nwant)
{
    IrDtype dt = c->weight_dtype >= 0 ? (IrDtype)c->weight_dtype : IR_BF16;
    if (nwant == 1) return IR_F32;
    if (!ir_dtype_is_block(dt)) return dt;
    if (op->op != IR_OP_LINEAR) return IR_F16;
    return whole_blocks(dt, want[nwant - 1]);
}

/* The weight node for tensor 'name'; checks it against 'want' (rank nwant,
 * or nwant < 0: no expectation). Returns -1 after reporting an error. */
static int weight(Lower *L, const FeArchOp *op, const char *name, const char *node_name, const int64_t *want,
                  int nwant)
{
    int id = find_weight_node(L->g, name);
    if (id >= 0) return id;
    const FeTensor *t = fe_weights_find(L->c->weights, name);
    if (!t && L->c->shapes_only && nwant > 0) {    /* a model of config.json alone */
        IrDtype dt = planning_dtype(L->c, op, want, nwant);
        id = ir_add(L->g, IR_OP_WEIGHT, 0, NULL, nwant, want, dt, L->layer, node_name);
        ir_set_str(&L->g->nodes[id], "name", name);
        return id;
    }
    if (!t) {
        pass_error(L->c, "%s: tensor '%s' is missing (needed by op '%s' of %s:%d)", weights_file(L, NULL), name,
                   op->id, L->c->arch->path, op->line);
        return -1;
    }
    int ok = nwant < 0 || t->ndim == nwant;
    for (int i = 0; ok && nwant > 0 && i < nwant; i++) ok = t->shape[i] == want[i];
    if (!ok) {
        char got[96], exp[96];
        shape_str(t->shape, t->ndim, got, sizeof got);
        shape_str(want, nwant, exp, sizeof exp);
        pass_error(L->c, "%s: tensor '%s': shape %s but %s implies %s (%s)", weights_file(L, t),
                   t->src[0] ? t->src : name, got, t->src[0] ? "the metadata" : "config.json", exp, op->wshape);
        return -1;
    }
    IrDtype dt = t->dtype;
    if (t->ndim == 1) dt = IR_F32;
    else if (L->c->weight_dtype >= 0) dt = whole_blocks((IrDtype)L->c->weight_dtype, t->shape[t->ndim - 1]);
    id = ir_add(L->g, IR_OP_WEIGHT, 0, NULL, t->ndim, t->shape, dt, L->layer, node_name);
    ir_set_str(&L->g->nodes[id], "name", name);
    return id;
}

static int local(const Lower *L, const char *id)
{
    for (int i = L->nlocal - 1; i >= 0; i--)
        if (strcmp(L->local_id[i], id) == 0) return L->local[i];
    IR_BUG("operand '%s' not bound", id);
}

static int flag(const Lower *L, const char *name)
{
    return name[0] && fe_dims_get(&L->dims, name) != 0;
}

static int dim_or(const Lower *L, const char *name, int dflt)
{
    for (int i = 0; i < L->dims.n; i++)
        if (strcmp(L->dims.name[i], name) == 0) return (int)L->dims.val[i];
    return dflt;
}

static int get_rope_table(Lower *L)
{
    if (L->rope_table >= 0) return L->rope_table;
    int64_t half = dim_or(L, "head_dim", 0) / 2;
    int id = ir_add(L->g, IR_OP_ROPE_TABLE, 0, NULL, 1, &half, IR_F32, -1, "rope_table");
    IrNode *n = &L->g->nodes[id];
    ir_set_float(n, "theta", fe_dims_get(&L->dims, "rope_theta"));
    ir_set_str(n, "type", fe_dims_str(&L->dims, "rope_type"));
    ir_set_float(n, "factor", fe_dims_get(&L->dims, "rope_factor"));
    ir_set_float(n, "low", fe_dims_get(&L->dims, "rope_low"));
    ir_set_float(n, "high", fe_dims_get(&L->dims, "rope_high"));
    ir_set_int(n, "orig_ctx", (int64_t)fe_dims_get(&L->dims, "rope_orig_ctx"));
    return L->rope_table = id;
}

static int shape_error(Lower *L, const FeArchOp *op, const char *what)
{
    pass_error(L->c, "%s:%d: error: op '%s' in layer %d: %s", L->c->arch->path, op->line, op->id, L->layer, what);
    return -1;
}

/* Builds the node of one op; returns its id or -1. */
static int lower_op(Lower *L, const FeArchOp *op, const char *prefix)
{
    int in[3];
    for (int i = 0; i < op->nin; i++) in[i] = strcmp(op->in[i], "ids") == 0 ? L->ids : local(L, op->in[i]);
    const IrNode *x = &L->g->nodes[in[0]];
    int64_t rows = x->ndim > 0 ? x->dim[0] : IR_DIM_S, cols = x->ndim > 1 ? x->dim[1] : 0;
    int64_t shape[2] = {rows, cols};
    int nin = op->nin;
    char name[IR_NAME_LEN], wname[IR_NAME_LEN];
    snprintf(name, sizeof name, "%s%s", prefix, op->id);
    int64_t want[IR_MAX_DIMS];
    int nwant = op->wshape[0] ? expected_shape(L, op, want) : -1;
    if (op->wshape[0] && nwant < 0) return -1;

    if (op->weight[0]) {
        int tied = flag(L, op->tied_if);
        expand_name(L, tied ? op->tied : op->weight, wname, sizeof wname);
        char wnode[IR_NAME_LEN + 8];
        snprintf(wnode, sizeof wnode, "%s.weight", name);
        int w = weight(L, op, wname, wnode, want, nwant);
        if (w < 0) return -1;
        const IrNode *wn = &L->g->nodes[w];
        in[nin++] = w;
        if (op->op == IR_OP_EMBED) {
            if (wn->ndim != 2 || wn->dim[0] != (int64_t)fe_dims_get(&L->dims, "vocab"))
                return shape_error(L, op, "the table does not have vocab_size rows");
            shape[1] = wn->dim[1];
        }
        if (op->op == IR_OP_LINEAR) {
            if (wn->ndim != 2 || wn->dim[1] != cols) return shape_error(L, op, "weight columns do not match the input");
            shape[1] = wn->dim[0];
        }
        if (op->op == IR_OP_RMSNORM && (wn->ndim != 1 || wn->dim[0] != cols))
            return shape_error(L, op, "norm weight does not match the input width");
    }
    if (op->bias[0] && (!op->bias_if[0] || flag(L, op->bias_if))) {
        expand_name(L, op->bias, wname, sizeof wname);
        char bnode[IR_NAME_LEN + 8];
        snprintf(bnode, sizeof bnode, "%s.bias", name);
        int b = weight(L, op, wname, bnode, &shape[1], 1);
        if (b < 0) return -1;
        in[nin++] = b;
    }
    if (op->op == IR_OP_LAST_ROWS) shape[0] = IR_DIM_R;
    if (op->op == IR_OP_ROPE) in[nin++] = get_rope_table(L);
    if ((op->op == IR_OP_ADD || op->op == IR_OP_MUL || op->op == IR_OP_SWIGLU)
        && (L->g->nodes[in[1]].dim[1] != cols || L->g->nodes[in[1]].dim[0] != rows))
        return shape_error(L, op, "operands have different shapes");

    int id = ir_add(L->g, op->op, nin, in, 2, shape, IR_F32, L->layer, name);
    IrNode *n = &L->g->nodes[id];
    int head_dim = dim_or(L, "head_dim", 0);
    if (op->op == IR_OP_RMSNORM) ir_set_float(n, "eps", fe_dims_get(&L->dims, "eps"));
    if (op->op == IR_OP_ROPE) {
        int heads = (int)fe_dims_get(&L->dims, op->heads);
        if (cols != (int64_t)heads * head_dim) return shape_error(L, op, "width is not heads * head_dim");
        ir_set_int(n, "heads", heads);
        ir_set_int(n, "head_dim", head_dim);
    }
    if (op->op == IR_OP_ATTENTION) {
        int heads = dim_or(L, "heads", 0), kv = dim_or(L, "kv_heads", heads);
        const IrNode *k = &L->g->nodes[in[1]], *v = &L->g->nodes[in[2]];
        if (cols != (int64_t)heads * head_dim || k->dim[1] != (int64_t)kv * head_dim || v->dim[1] != k->dim[1])
            return shape_error(L, op, "q/k/v widths do not match heads, kv_heads and head_dim");
        if (heads % kv) return shape_error(L, op, "heads is not a multiple of kv_heads");
        ir_set_int(n, "cache", L->layer);
        ir_set_int(n, "heads", heads);
        ir_set_int(n, "kv_heads", kv);
        ir_set_int(n, "head_dim", head_dim);
        ir_set_float(n, "scale", 1.0 / sqrt((double)head_dim));
        ir_set_int(n, "window", dim_or(L, "window", 0));
    }
    return id;
}

static void bind(Lower *L, const char *id, int node)
{
    L->local_id[L->nlocal] = id;
    L->local[L->nlocal++] = node;
}

/* Lowers one section; x is the node bound to "x". Returns the last node. */
static int lower_section(Lower *L, const FeArchOp *ops, int n, int x, const char *out, const char *prefix)
{
    L->nlocal = 0;
    bind(L, "x", x);
    int last = -1;
    for (int i = 0; i < n; i++) {
        last = lower_op(L, &ops[i], prefix);
        if (last < 0) return -1;
        bind(L, ops[i].id, last);
    }
    return out ? local(L, out) : last;
}

static void set_graph_attrs(Lower *L)
{
    for (int i = 0; i < L->dims.n; i++) {
        if (L->dims.kind[i] == FE_DIM_FLOAT) ir_graph_set_float(L->g, L->dims.name[i], L->dims.val[i]);
        else if (L->dims.kind[i] != FE_DIM_STR) ir_graph_set_int(L->g, L->dims.name[i], (int64_t)L->dims.val[i]);
    }
    int ctx = L->c->ctx > 0 ? L->c->ctx : dim_or(L, "ctx", 2048);
    ir_graph_set_int(L->g, "max_ctx", ctx);
    ir_graph_set_int(L->g, "max_chunk", L->c->max_chunk > 0 ? L->c->max_chunk : 128);
}

void pass_lower(IrGraph *g, const PassCtx *c)
{
    if (!c->arch || !c->config || !c->weights) {
        pass_error(c, "pass 'lower' needs a model; it cannot run on an IR file");
        return;
    }
    if (g->n) IR_BUG("lower runs on an empty graph");
    Lower L = {.g = g, .c = c, .layer = -1, .rope_table = -1};
    char err[FE_ERR_LEN];
    if (fe_arch_resolve(c->arch, c->config, &L.dims, err, sizeof err)) {
        pass_error(c, "%s", err);
        return;
    }
    snprintf(g->arch, sizeof g->arch, "%s", c->arch->name);
    set_graph_attrs(&L);
    int64_t s = IR_DIM_S;
    L.ids = ir_add(g, IR_OP_INPUT, 0, NULL, 1, &s, IR_I32, -1, "ids");
    int x = lower_section(&L, c->arch->embed, c->arch->nembed, L.ids, NULL, "");
    int layers = (int)fe_dims_get(&L.dims, "layers");
    for (L.layer = 0; x >= 0 && L.layer < layers; L.layer++) {
        char prefix[16];
        snprintf(prefix, sizeof prefix, "l%d.", L.layer);
        x = lower_section(&L, c->arch->layer, c->arch->nlayer, x, c->arch->layer_out, prefix);
    }
    L.layer = -1;
    if (x >= 0) x = lower_section(&L, c->arch->head, c->arch->nhead, x, NULL, "");
    if (x < 0) return;
    if (g->nodes[x].dim[1] != (int64_t)fe_dims_get(&L.dims, "vocab")) {
        pass_error(c, "%s: the head produces %lld columns but vocab_size is %lld", c->arch->path,
                   (long long)g->nodes[x].dim[1], (long long)fe_dims_get(&L.dims, "vocab"));
        return;
    }
    const IrNode *last = &g->nodes[x];
    ir_add(g, IR_OP_OUTPUT, 1, &x, last->ndim, last->dim, IR_F32, -1, "logits");
}
