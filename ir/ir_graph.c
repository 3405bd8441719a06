/* ir_graph.c: the op table (generated from ops.def), dtype names and sizes,
 * and building and editing graphs: nodes, attributes, graph attributes,
 * compaction and use replacement. Misuse by the caller is an internal bug
 * and aborts through IR_BUG.
 */
#include "ir.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;       /* spelling in the text form */
    int nin;                /* operand count, -1: 2 or 3 */
    const char *attrs;      /* required attributes "key:kind ..." */
    int view;               /* 1 when the result aliases operand 0 */
    const char *semantics;  /* one-line description */
} OpInfo;

static const OpInfo op_table[IR_OP_COUNT] = {
#define OP(id, name, nin, attrs, view, sem) [IR_OP_##id] = {name, nin, attrs, view, sem},
#include "ops.def"
#undef OP
};

/* The op table has one entry per OP line of ops.def, and the enum too. */
enum { OPS_DEF_LINES = 0
#define OP(id, name, nin, attrs, view, sem) + 1
#include "ops.def"
#undef OP
};
_Static_assert((int)OPS_DEF_LINES == (int)IR_OP_COUNT && sizeof op_table / sizeof op_table[0] == IR_OP_COUNT,
               "one op table entry per line of ops.def");

/* Name, values per block and bytes per block of each dtype (block types:
 * ggml's block layouts, e.g. q4_0 = an f16 scale and 32 4-bit quants). */
static const struct {
    const char *name;
    int block, bytes;
} dtypes[] = {
    {"f32", 1, 4},      {"f16", 1, 2},      {"bf16", 1, 2},     {"i32", 1, 4},      {"i8", 1, 1},
    {"q8_0", 32, 34},   {"q4_0", 32, 18},   {"q4_1", 32, 20},   {"q5_0", 32, 22},   {"q5_1", 32, 24},
    {"q2_k", 256, 84},  {"q3_k", 256, 110}, {"q4_k", 256, 144}, {"q5_k", 256, 176}, {"q6_k", 256, 210},
};
_Static_assert(sizeof dtypes / sizeof dtypes[0] == IR_DTYPE_COUNT, "a name and a size per dtype");

_Noreturn void ir_bug(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s:%d: internal error: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    abort();
}

/* ---- op table and dtypes ---- */

static const OpInfo *op_info(IrOp op)
{
    if ((int)op < 0 || op >= IR_OP_COUNT) IR_BUG("bad op %d", (int)op);
    return &op_table[op];
}

const char *ir_op_name(IrOp op) { return op_info(op)->name; }
int ir_op_ninputs(IrOp op) { return op_info(op)->nin; }
const char *ir_op_attrs(IrOp op) { return op_info(op)->attrs; }
int ir_op_is_view(IrOp op) { return op_info(op)->view; }
const char *ir_op_semantics(IrOp op) { return op_info(op)->semantics; }

int ir_op_from_name(const char *name)
{
    if (!name) return -1;
    for (int i = 0; i < IR_OP_COUNT; i++)
        if (strcmp(op_table[i].name, name) == 0) return i;
    return -1;
}

static void check_dtype(IrDtype t)
{
    if ((int)t < 0 || t >= IR_DTYPE_COUNT) IR_BUG("bad dtype %d", (int)t);
}

const char *ir_dtype_name(IrDtype t)
{
    check_dtype(t);
    return dtypes[t].name;
}

int ir_dtype_size(IrDtype t)
{
    check_dtype(t);
    if (dtypes[t].block != 1) IR_BUG("dtype %s has no size per element", dtypes[t].name);
    return dtypes[t].bytes;
}

int ir_dtype_block(IrDtype t)
{
    check_dtype(t);
    return dtypes[t].block;
}

int ir_dtype_is_block(IrDtype t) { return ir_dtype_block(t) > 1; }

int64_t ir_dtype_bytes(IrDtype t, int64_t numel)
{
    check_dtype(t);
    return (numel + dtypes[t].block - 1) / dtypes[t].block * dtypes[t].bytes;
}

int ir_dtype_from_name(const char *name)
{
    if (!name) return -1;
    for (int i = 0; i < IR_DTYPE_COUNT; i++)
        if (strcmp(dtypes[i].name, name) == 0) return i;
    return -1;
}

/* ---- graphs ---- */

/* Copies src into dst[size]; a string that does not fit is a caller bug. */
static void copy_str(char *dst, size_t size, const char *src, const char *what)
{
    if (!src) src = "";
    size_t len = strlen(src);
    if (len >= size) IR_BUG("%s '%s' is longer than %zu bytes", what, src, size - 1);
    memcpy(dst, src, len + 1);
}

void ir_graph_init(IrGraph *g, const char *model, const char *arch)
{
    memset(g, 0, sizeof *g);
    copy_str(g->model, sizeof g->model, model, "model name");
    copy_str(g->arch, sizeof g->arch, arch, "arch name");
}

void ir_graph_free(IrGraph *g)
{
    for (int i = 0; i < g->nchans; i++) free(g->chans[i].idx);
    free(g->chans);
    g->chans = NULL;
    g->nchans = 0;
    free(g->nodes);
    g->nodes = NULL;
    g->n = 0;
    g->cap = 0;
}

void ir_graph_copy(IrGraph *dst, const IrGraph *src)
{
    *dst = *src;
    dst->nodes = NULL;
    dst->chans = NULL;
    dst->nchans = 0;
    for (int i = 0; i < src->nchans; i++) ir_chans_add(dst, src->chans[i].name, src->chans[i].n, src->chans[i].idx);
    dst->cap = src->n;
    if (src->n == 0) return;
    dst->nodes = malloc((size_t)src->n * sizeof *dst->nodes);
    if (!dst->nodes) IR_BUG("out of memory copying %d nodes", src->n);
    memcpy(dst->nodes, src->nodes, (size_t)src->n * sizeof *dst->nodes);
}

const IrChans *ir_chans_find(const IrGraph *g, const char *name)
{
    for (int i = 0; i < g->nchans; i++)
        if (strcmp(g->chans[i].name, name) == 0) return &g->chans[i];
    return NULL;
}

const IrChans *ir_chans_add(IrGraph *g, const char *name, int n, const int32_t *idx)
{
    if (ir_chans_find(g, name)) IR_BUG("channel set '%s' defined twice", name);
    IrChans *sets = realloc(g->chans, (size_t)(g->nchans + 1) * sizeof *sets);
    int32_t *copy = malloc((size_t)(n > 0 ? n : 1) * sizeof *copy);
    if (!sets || !copy) IR_BUG("out of memory for channel set '%s'", name);
    g->chans = sets;
    IrChans *s = &g->chans[g->nchans++];
    memset(s, 0, sizeof *s);
    copy_str(s->name, sizeof s->name, name, "channel set name");
    s->n = n;
    s->idx = copy;
    if (n > 0) memcpy(copy, idx, (size_t)n * sizeof *copy);
    return s;
}

static void grow(IrGraph *g)
{
    int cap = g->cap ? g->cap * 2 : 16;
    IrNode *nodes = realloc(g->nodes, (size_t)cap * sizeof *nodes);
    if (!nodes) IR_BUG("out of memory growing the graph to %d nodes", cap);
    g->nodes = nodes;
    g->cap = cap;
}

int ir_add(IrGraph *g, IrOp op, int nin, const int *in, int ndim, const int64_t *dim,
           IrDtype dtype, int layer, const char *name)
{
    op_info(op);
    check_dtype(dtype);
    if (nin < 0 || nin > IR_MAX_IN) IR_BUG("%s: %d operands", ir_op_name(op), nin);
    if (ndim < 0 || ndim > IR_MAX_DIMS) IR_BUG("%s: rank %d", ir_op_name(op), ndim);
    if (g->n == g->cap) grow(g);
    IrNode *n = &g->nodes[g->n];
    memset(n, 0, sizeof *n);
    n->id = g->n;
    n->op = op;
    n->nin = nin;
    if (nin) memcpy(n->in, in, (size_t)nin * sizeof *in);
    n->ndim = ndim;
    if (ndim) memcpy(n->dim, dim, (size_t)ndim * sizeof *dim);
    n->dtype = dtype;
    n->layer = layer;
    copy_str(n->name, sizeof n->name, name, "node name");
    n->plan = -1;
    n->sub = -1;
    n->kv_offset = -1;
    n->unit = -1;
    n->offset = -1;
    return g->n++;
}

/* ---- attributes ---- */

static int find_attr(const IrAttr *attr, int nattr, const char *key)
{
    for (int i = 0; i < nattr; i++)
        if (strcmp(attr[i].key, key) == 0) return i;
    return -1;
}

static int valid_key(const char *key)
{
    if (!key[0]) return 0;
    for (const char *p = key; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')) return 0;
    return 1;
}

/* The slot for key in attr[*nattr] (existing or appended), cleared and keyed. */
static IrAttr *attr_slot(IrAttr *attr, int *nattr, int max, const char *key)
{
    if (!valid_key(key)) IR_BUG("bad attribute key '%s'", key);
    int i = find_attr(attr, *nattr, key);
    if (i < 0) {
        if (*nattr == max) IR_BUG("more than %d attributes setting '%s'", max, key);
        i = (*nattr)++;
    }
    memset(&attr[i], 0, sizeof attr[i]);
    copy_str(attr[i].key, sizeof attr[i].key, key, "attribute key");
    return &attr[i];
}

/* Sets key in attr[0..*n) (node or graph attributes) to an int or a float. */
static void put_int(IrAttr *attr, int *n, int cap, const char *key, int64_t v)
{
    IrAttr *a = attr_slot(attr, n, cap, key);
    a->kind = IR_ATTR_INT;
    a->i = v;
}

static void put_float(IrAttr *attr, int *n, int cap, const char *key, double v)
{
    IrAttr *a = attr_slot(attr, n, cap, key);
    a->kind = IR_ATTR_FLOAT;
    a->f = v;
}

int ir_add_like(IrGraph *g, const IrNode *n)
{
    int id = ir_add(g, n->op, n->nin, n->in, n->ndim, n->dim, n->dtype, n->layer, n->name);
    IrNode *m = &g->nodes[id];
    memcpy(m->attr, n->attr, sizeof n->attr);
    m->nattr = n->nattr;
    m->unit = n->unit;
    m->plan = n->plan;
    return id;
}

void ir_set_int(IrNode *n, const char *key, int64_t v) { put_int(n->attr, &n->nattr, IR_MAX_ATTRS, key, v); }
void ir_set_float(IrNode *n, const char *key, double v) { put_float(n->attr, &n->nattr, IR_MAX_ATTRS, key, v); }

void ir_set_str(IrNode *n, const char *key, const char *v)
{
    IrAttr *a = attr_slot(n->attr, &n->nattr, IR_MAX_ATTRS, key);
    a->kind = IR_ATTR_STR;
    copy_str(a->s, sizeof a->s, v, "attribute value");
}

const IrAttr *ir_attr(const IrNode *n, const char *key)
{
    int i = find_attr(n->attr, n->nattr, key);
    return i < 0 ? NULL : &n->attr[i];
}

/* The attribute key of n, which must exist and be of the given kind. */
static const IrAttr *need_attr(const IrNode *n, const char *key, IrAttrKind kind)
{
    static const char *const kinds[] = {"int", "float", "string"};
    const IrAttr *a = ir_attr(n, key);
    if (!a) IR_BUG("node %%%d (%s) has no attribute '%s'", n->id, n->name, key);
    if (a->kind != kind)
        IR_BUG("node %%%d (%s): attribute '%s' is not %s", n->id, n->name, key, kinds[kind]);
    return a;
}

int64_t ir_attr_int(const IrNode *n, const char *key) { return need_attr(n, key, IR_ATTR_INT)->i; }
double ir_attr_float(const IrNode *n, const char *key) { return need_attr(n, key, IR_ATTR_FLOAT)->f; }
const char *ir_attr_str(const IrNode *n, const char *key) { return need_attr(n, key, IR_ATTR_STR)->s; }

const char *ir_shape_str(const IrNode *n, char buf[IR_SHAPE_LEN])
{
    size_t k = 0;
    buf[k++] = '[';
    for (int d = 0; d < n->ndim && d < IR_MAX_DIMS; d++) {
        int64_t v = n->dim[d];
        const char *sep = d ? "," : "";
        if (v == IR_DIM_S) k += (size_t)snprintf(buf + k, IR_SHAPE_LEN - k, "%sS", sep);
        else if (v == IR_DIM_R) k += (size_t)snprintf(buf + k, IR_SHAPE_LEN - k, "%sR", sep);
        else k += (size_t)snprintf(buf + k, IR_SHAPE_LEN - k, "%s%lld", sep, (long long)v);
    }
    snprintf(buf + k, IR_SHAPE_LEN - k, "]");
    return buf;
}

/* ---- plans ---- */

static const char *const plan_kinds[IR_PLAN_KIND_COUNT] = {"decode", "chunk", "flex"};

const char *ir_plan_kind_name(IrPlanKind k)
{
    if ((int)k < 0 || k >= IR_PLAN_KIND_COUNT) IR_BUG("bad plan kind %d", (int)k);
    return plan_kinds[k];
}

int ir_plan_kind_from_name(const char *name)
{
    for (int k = 0; k < IR_PLAN_KIND_COUNT; k++)
        if (strcmp(plan_kinds[k], name) == 0) return k;
    return -1;
}

int ir_plan_next(const IrGraph *g, int64_t left, int first, int64_t *rows, int64_t *padded)
{
    int best = -1, flex = -1, pad = -1;
    for (int p = 0; p < g->nplans; p++) {
        const IrPlan *pl = &g->plans[p];
        if (pl->kind == IR_PLAN_DECODE && first && left <= pl->s_max) {
            *rows = *padded = left;
            return p;
        }
        if (pl->kind == IR_PLAN_FLEX) flex = p;
        if (pl->kind != IR_PLAN_CHUNK) continue;
        if (pl->s_max <= left && (best < 0 || pl->s_max > g->plans[best].s_max)) best = p;
        if (pl->s_max >= left && (pad < 0 || pl->s_max < g->plans[pad].s_max)) pad = p;
    }
    if (best >= 0) {
        *rows = *padded = g->plans[best].s_max;
        return best;
    }
    int p = flex >= 0 ? flex : pad;
    if (p < 0) return -1;
    *rows = left;
    *padded = p == flex ? left : g->plans[p].s_max;
    return p;
}

int64_t ir_plan_rows(const IrGraph *g, const IrNode *n)
{
    if (n->plan >= 0 && n->plan < g->nplans) return g->plans[n->plan].s_max;
    return ir_graph_int(g, "max_chunk", 1);
}

/* ---- units ---- */

static const IrAttr *unit_attr(const IrUnit *u, const char *key, IrAttrKind kind)
{
    int i = find_attr(u->attr, u->nattr, key);
    return i >= 0 && u->attr[i].kind == kind ? &u->attr[i] : NULL;
}

int64_t ir_unit_int(const IrUnit *u, const char *key, int64_t dflt)
{
    const IrAttr *a = unit_attr(u, key, IR_ATTR_INT);
    return a ? a->i : dflt;
}

double ir_unit_float(const IrUnit *u, const char *key, double dflt)
{
    const IrAttr *a = unit_attr(u, key, IR_ATTR_FLOAT);
    return a ? a->f : dflt;
}

const char *ir_unit_str(const IrUnit *u, const char *key, const char *dflt)
{
    const IrAttr *a = unit_attr(u, key, IR_ATTR_STR);
    return a ? a->s : dflt;
}

void ir_unit_set_int(IrUnit *u, const char *key, int64_t v) { put_int(u->attr, &u->nattr, IR_MAX_UNIT_ATTRS, key, v); }
void ir_unit_set_float(IrUnit *u, const char *key, double v)
{
    put_float(u->attr, &u->nattr, IR_MAX_UNIT_ATTRS, key, v);
}

void ir_unit_set_str(IrUnit *u, const char *key, const char *v)
{
    IrAttr *a = attr_slot(u->attr, &u->nattr, IR_MAX_UNIT_ATTRS, key);
    a->kind = IR_ATTR_STR;
    copy_str(a->s, sizeof a->s, v, "unit attribute value");
}

int ir_unit_find(const IrGraph *g, const char *name)
{
    for (int u = 0; u < g->nunits; u++)
        if (strcmp(g->units[u].name, name) == 0) return u;
    return -1;
}

int ir_same_memory(const IrGraph *g, int a, int b)
{
    if (a < 0 || b < 0 || a >= g->nunits || b >= g->nunits) IR_BUG("units %d, %d out of range", a, b);
    return strcmp(g->units[a].mem, g->units[b].mem) == 0;
}

void ir_graph_set_int(IrGraph *g, const char *key, int64_t v)
{
    put_int(g->attr, &g->nattr, IR_MAX_GRAPH_ATTRS, key, v);
}

void ir_graph_set_float(IrGraph *g, const char *key, double v)
{
    put_float(g->attr, &g->nattr, IR_MAX_GRAPH_ATTRS, key, v);
}

/* The graph attribute key if present; a present one of another kind is a bug. */
static const IrAttr *graph_attr(const IrGraph *g, const char *key, IrAttrKind kind)
{
    int i = find_attr(g->attr, g->nattr, key);
    if (i < 0) return NULL;
    if (g->attr[i].kind != kind)
        IR_BUG("graph attribute '%s' is not %s", key, kind == IR_ATTR_INT ? "int" : "float");
    return &g->attr[i];
}

int64_t ir_graph_int(const IrGraph *g, const char *key, int64_t dflt)
{
    const IrAttr *a = graph_attr(g, key, IR_ATTR_INT);
    return a ? a->i : dflt;
}

double ir_graph_float(const IrGraph *g, const char *key, double dflt)
{
    const IrAttr *a = graph_attr(g, key, IR_ATTR_FLOAT);
    return a ? a->f : dflt;
}

int ir_has_pass(const IrGraph *g, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = g->passes; (p = strstr(p, name)); p += n)
        if ((p == g->passes || p[-1] == ' ') && (p[n] == ' ' || p[n] == 0)) return 1;
    return 0;
}

/* ---- shapes and editing ---- */

int64_t ir_numel(const IrNode *n, int64_t S, int64_t R)
{
    int64_t numel = 1;
    for (int d = 0; d < n->ndim; d++) {
        int64_t v = n->dim[d] == IR_DIM_S ? S : n->dim[d] == IR_DIM_R ? R : n->dim[d];
        numel *= v;
    }
    return numel;
}

static int int8_bookkeeping(const IrGraph *g, const IrNode *n)
{
    if (n->op == IR_OP_QUANT || n->op == IR_OP_SHADOW) return 1;
    for (int j = 0; n->op == IR_OP_ADD && j < n->nin; j++)
        if (g->nodes[n->in[j]].op == IR_OP_SHADOW) return 1;
    return 0;
}

void ir_sub_keys(const IrGraph *g, int p, const IrNode **keys, int nsub)
{
    unsigned char *plain = calloc((size_t)nsub + 1, 1);     /* keys[k] is not bookkeeping */
    for (int k = 0; k < nsub; k++) keys[k] = NULL;
    for (int i = 0; i < g->n; i++) {
        const IrNode *n = &g->nodes[i];
        if (n->plan != p || n->sub < 0 || n->sub >= nsub || plain[n->sub]) continue;
        if (!int8_bookkeeping(g, n)) keys[n->sub] = n, plain[n->sub] = 1;
        else if (!keys[n->sub]) keys[n->sub] = n;
    }
    free(plain);
}

int ir_linear_shapes(const IrGraph *g, int64_t (*shape)[2], int cap)
{
    int ns = 0;
    for (int i = 0; i < g->n; i++) {
        if (g->nodes[i].op != IR_OP_LINEAR) continue;
        const IrNode *w = &g->nodes[g->nodes[i].in[1]];
        int j = 0;
        while (j < ns && !(shape[j][0] == w->dim[0] && shape[j][1] == w->dim[1])) j++;
        if (j == ns && ns < cap) shape[ns][0] = w->dim[0], shape[ns][1] = w->dim[1], ns++;
    }
    return ns;
}

int *ir_count_uses(const IrGraph *g)
{
    int *uses = calloc((size_t)g->n + 1, sizeof *uses);
    if (!uses) IR_BUG("out of memory");
    for (int i = 0; i < g->n; i++)
        for (int k = 0; k < g->nodes[i].nin; k++) uses[g->nodes[i].in[k]]++;
    return uses;
}

void ir_compact(IrGraph *g, const unsigned char *keep)
{
    int *newid = malloc((size_t)(g->n ? g->n : 1) * sizeof *newid);
    if (!newid) IR_BUG("out of memory compacting %d nodes", g->n);
    int m = 0;
    for (int i = 0; i < g->n; i++) newid[i] = keep[i] ? m++ : -1;
    for (int i = 0; i < g->n; i++) {
        if (!keep[i]) continue;
        IrNode *n = &g->nodes[i];
        for (int k = 0; k < n->nin; k++) {
            int from = n->in[k];
            if (from < 0 || from >= i) IR_BUG("node %%%d (%s): bad operand %%%d", i, n->name, from);
            if (newid[from] < 0)
                IR_BUG("ir_compact: node %%%d (%s) uses removed node %%%d", i, n->name, from);
            n->in[k] = newid[from];
        }
        n->id = newid[i];
        if (newid[i] != i) g->nodes[newid[i]] = *n;
    }
    g->n = m;
    free(newid);
}

void ir_replace_uses(IrGraph *g, int from, int to)
{
    if (from < 0 || from >= g->n || to < 0 || to >= g->n)
        IR_BUG("ir_replace_uses(%d, %d) in a graph of %d nodes", from, to, g->n);
    for (int i = 0; i < g->n; i++) {
        IrNode *n = &g->nodes[i];
        for (int k = 0; k < n->nin; k++)
            if (n->in[k] == from) n->in[k] = to;
    }
}
