/* fe_arch.c: reads models/<arch>.xml (libxml2), the data that describes an
 * architecture, and resolves its dims against a model's config.json.
 *
 * Loading checks the XML against what the compiler understands: known
 * element names, known ops with the right operand counts, operands defined
 * before use, expressions that parse and use integer dims defined above,
 * and the dims the lowering reads (hidden, layers, the RoPE parameters of a
 * rope op, ...) declared with the right kind. Errors carry "FILE:LINE:
 * error: ...". Resolving reads config keys through fe_config.c and
 * evaluates default expressions (in int64, overflow checked); every value
 * must lie in its range (the dims the compiler interprets have their own,
 * see known[]), and bad values name config.json, the key and the range.
 */
#include "fe.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest value of an integer dim (hidden, heads, ffn, vocab, ...) and of
 * a context length (as hetc compile --ctx). */
#define DIM_MAX (1 << 20)
#define CTX_MAX (1 << 24)

/* The dims the compiler itself interprets: each must be declared with this
 * kind where it is declared, and its value must lie in lo..hi (ints: the
 * larger of lo and the XML's min; params: lo and hi excluded where open).
 * A string dim may only take one of 'words'. Other ints lie in
 * min..DIM_MAX, other params in (0, 1e30]. The ranges hold every released
 * Llama, Mistral and Qwen2 config (llama3 RoPE scaling included). */
typedef struct {
    const char *name;
    FeDimKind kind;
    double lo, hi;
    int lo_open, hi_open;
    const char *words;
} Known;

static const Known known[] = {
    {"hidden", FE_DIM_INT, 1, DIM_MAX, 0, 0, NULL},
    {"layers", FE_DIM_INT, 1, 4096, 0, 0, NULL},
    {"vocab", FE_DIM_INT, 1, DIM_MAX, 0, 0, NULL},
    {"ctx", FE_DIM_INT, 1, CTX_MAX, 0, 0, NULL},
    {"heads", FE_DIM_INT, 1, DIM_MAX, 0, 0, NULL},
    {"kv_heads", FE_DIM_INT, 1, DIM_MAX, 0, 0, NULL},
    {"head_dim", FE_DIM_INT, 1, DIM_MAX, 0, 0, NULL},
    {"window", FE_DIM_INT, 0, CTX_MAX, 0, 0, NULL},
    {"rope_orig_ctx", FE_DIM_INT, 1, CTX_MAX, 0, 0, NULL},
    {"eps", FE_DIM_FLOAT, 1e-12, 1, 0, 1, NULL},     /* a float (in model.c too) and not 0 there */
    {"rope_theta", FE_DIM_FLOAT, 1, 1e12, 1, 0, NULL},
    {"rope_factor", FE_DIM_FLOAT, 1, 1024, 0, 0, NULL},
    {"rope_low", FE_DIM_FLOAT, 0, 1024, 1, 0, NULL},
    {"rope_high", FE_DIM_FLOAT, 0, 1024, 1, 0, NULL},
    {"rope_type", FE_DIM_STR, 0, 0, 0, 0, "default linear llama3"},
};

static const Known generic_param = {"", FE_DIM_FLOAT, 0, 1e30, 1, 0, NULL};

static const Known *find_known(const char *name)
{
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (strcmp(known[i].name, name) == 0) return &known[i];
    return NULL;
}

static const char *kind_elem(FeDimKind k)
{
    return k == FE_DIM_INT ? "dim" : k == FE_DIM_FLAG ? "flag" : k == FE_DIM_FLOAT ? "param" : "str";
}

/* ---- integer expressions over dims ---- */

/* An expression is evaluated over resolved dims (d), or only checked
 * against the dims an architecture declares (d NULL, every name 1). */
typedef struct {
    const FeDims *d;
    const FeArch *a;
    const char *p;
    const char *expr;
    int exact;          /* '/' must divide exactly */
    char *err;
    size_t errlen;
    int failed;
} Expr;

static int64_t expr_sum(Expr *e);

static int64_t expr_fail(Expr *e, const char *fmt, ...)
{
    if (e->failed) return 0;
    e->failed = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->err, e->errlen, fmt, ap);
    va_end(ap);
    return 0;
}

static void skip_ws(Expr *e)
{
    while (*e->p == ' ') e->p++;
}

/* The value of an integer or flag dim; fails on other names. */
static int64_t expr_name(Expr *e, const char *id)
{
    if (!e->d) {
        for (int i = 0; i < e->a->ndims; i++)
            if (strcmp(e->a->dims[i].name, id) == 0) {
                FeDimKind k = e->a->dims[i].kind;
                if (k == FE_DIM_INT || k == FE_DIM_FLAG) return 1;
                return expr_fail(e, "expression '%s' uses '%s', which is a <%s>, not a <dim> or <flag>", e->expr,
                                 id, kind_elem(k));
            }
        return expr_fail(e, "expression '%s' uses '%s', which is not a dim defined above", e->expr, id);
    }
    for (int i = 0; i < e->d->n; i++) {
        if (strcmp(e->d->name[i], id) != 0) continue;
        double v = e->d->val[i];
        if ((e->d->kind[i] != FE_DIM_INT && e->d->kind[i] != FE_DIM_FLAG) || !(fabs(v) <= (double)CTX_MAX))
            return expr_fail(e, "expression '%s': '%s' is not an integer dim", e->expr, id);
        return (int64_t)v;
    }
    return expr_fail(e, "expression '%s': unknown name '%s'", e->expr, id);
}

static int64_t expr_atom(Expr *e)
{
    skip_ws(e);
    if (*e->p == '(') {
        e->p++;
        int64_t v = expr_sum(e);
        skip_ws(e);
        if (*e->p != ')') return expr_fail(e, "expression '%s': missing ')'", e->expr);
        e->p++;
        return v;
    }
    if (isdigit((unsigned char)*e->p)) {
        errno = 0;
        int64_t v = strtoll(e->p, (char **)&e->p, 10);
        if (errno == ERANGE) return expr_fail(e, "expression '%s': number out of range", e->expr);
        return v;
    }
    const char *start = e->p;
    while (isalnum((unsigned char)*e->p) || *e->p == '_') e->p++;
    size_t len = (size_t)(e->p - start);
    if (len == 0)
        return expr_fail(e, "expression '%s': expected a number, a name or '(' at '%s'", e->expr, start);
    char id[sizeof e->d->name[0]];
    if (len >= sizeof id) return expr_fail(e, "expression '%s': name '%.*s' is too long", e->expr, (int)len, start);
    memcpy(id, start, len);
    id[len] = 0;
    return expr_name(e, id);
}

/* "a * b", "a / b", "a % b" left to right; the text of an operand for
 * messages is what lies between the operators. */
static int64_t expr_product(Expr *e)
{
    const char *lhs = e->p;
    int64_t v = expr_atom(e);
    for (;;) {
        skip_ws(e);
        const char *op = e->p;
        if (e->failed || (*op != '*' && *op != '/' && *op != '%')) return v;
        e->p++;
        skip_ws(e);
        const char *rhs = e->p;
        int64_t r = expr_atom(e), out;
        if (e->failed) return 0;
        if (*op == '*') {
            if (__builtin_mul_overflow(v, r, &out)) return expr_fail(e, "expression '%s' overflows", e->expr);
            v = out;
            continue;
        }
        if (r == 0) {
            if (!e->d) continue; /* names are 1 while checking: only the values can tell */
            return expr_fail(e, "expression '%s' divides by zero", e->expr);
        }
        if (r == -1 && v == INT64_MIN) return expr_fail(e, "expression '%s' overflows", e->expr);
        if (e->exact && *op == '/' && v % r) {
            int n = (int)(op - lhs);
            while (n > 0 && lhs[n - 1] == ' ') n--;
            return expr_fail(e, "'%.*s' (%lld) is not divisible by '%.*s' (%lld)", n, lhs, (long long)v,
                             (int)(e->p - rhs), rhs, (long long)r);
        }
        v = *op == '/' ? v / r : v % r;
    }
}

static int64_t expr_sum(Expr *e)
{
    int64_t v = expr_product(e);
    for (;;) {
        skip_ws(e);
        char op = *e->p;
        if (e->failed || (op != '+' && op != '-')) return v;
        e->p++;
        int64_t r = expr_product(e), out;
        if (e->failed) return 0;
        if (op == '+' ? __builtin_add_overflow(v, r, &out) : __builtin_sub_overflow(v, r, &out))
            return expr_fail(e, "expression '%s' overflows", e->expr);
        v = out;
    }
}

static int expr_eval(Expr *e, int64_t *v)
{
    int64_t r = expr_sum(e);
    skip_ws(e);
    if (!e->failed && *e->p) expr_fail(e, "expression '%s': unexpected '%s'", e->expr, e->p);
    if (v) *v = r;
    return e->failed ? -1 : 0;
}

int fe_dims_eval(const FeDims *d, const char *expr, int64_t *v, char *err, size_t errlen)
{
    Expr e = {.d = d, .p = expr, .expr = expr, .err = err, .errlen = errlen};
    return expr_eval(&e, v);
}

/* ---- loading ---- */

typedef struct {
    const FeArch *a;
    char *err;
    size_t errlen;
} Loader;

static int xml_error(Loader *L, const xmlNode *n, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(L->err, L->errlen, "%s:%ld: error: %s", L->a->path, n ? xmlGetLineNo(n) : 0L, msg);
    return -1;
}

/* Copies attribute 'key' of n into dst (size cap), "" if absent; a value
 * that does not fit is an error. */
static int get_attr(Loader *L, const xmlNode *n, const char *key, char *dst, size_t cap)
{
    dst[0] = 0;
    xmlChar *v = xmlGetProp(n, (const xmlChar *)key);
    if (!v) return 0;
    size_t len = strlen((const char *)v);
    if (len < cap) memcpy(dst, v, len + 1);
    xmlFree(v);
    if (len >= cap)
        return xml_error(L, n, "<%s> attribute '%s' is longer than %zu characters", (const char *)n->name, key,
                         cap - 1);
    return 0;
}

static int need_attr(Loader *L, const xmlNode *n, const char *key, char *dst, size_t cap)
{
    if (get_attr(L, n, key, dst, cap)) return -1;
    if (!dst[0]) return xml_error(L, n, "<%s> needs attribute '%s'", (const char *)n->name, key);
    return 0;
}

static int is_elem(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

static int find_dim(const FeArch *a, const char *name)
{
    for (int i = 0; i < a->ndims; i++)
        if (strcmp(a->dims[i].name, name) == 0) return i;
    return -1;
}

/* expr must parse and use only integer dims and flags defined so far. */
static int check_expr(Loader *L, const xmlNode *n, const char *expr)
{
    char msg[256];
    Expr e = {.a = L->a, .p = expr, .expr = expr, .err = msg, .errlen = sizeof msg};
    return expr_eval(&e, NULL) ? xml_error(L, n, "%s", msg) : 0;
}

static int load_dim(Loader *L, FeArch *a, const xmlNode *n, FeDimKind kind)
{
    if (a->ndims == FE_MAX_DIMS) return xml_error(L, n, "more than %d dims", FE_MAX_DIMS);
    FeArchDim *d = &a->dims[a->ndims];
    memset(d, 0, sizeof *d);
    d->kind = kind;
    d->line = (int)xmlGetLineNo(n);
    d->min = 1;
    char min[16];
    if (need_attr(L, n, "name", d->name, sizeof d->name) || need_attr(L, n, "key", d->keys, sizeof d->keys)
        || get_attr(L, n, "default", d->dflt, sizeof d->dflt) || get_attr(L, n, "allowed", d->allowed, sizeof d->allowed)
        || get_attr(L, n, "min", min, sizeof min))
        return -1;
    if (find_dim(a, d->name) >= 0) return xml_error(L, n, "dim '%s' is defined twice", d->name);
    if (strspn(d->name, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(d->name) || isdigit((unsigned char)d->name[0]))
        return xml_error(L, n, "name '%s': a dim's name is lowercase letters, digits and '_', not first a digit", d->name);
    /* every non-string dim becomes a graph attribute, beside max_ctx and max_chunk */
    int nattrs = 0;
    for (int i = 0; i < a->ndims; i++) nattrs += a->dims[i].kind != FE_DIM_STR;
    if (kind != FE_DIM_STR && nattrs == IR_MAX_GRAPH_ATTRS - 2)
        return xml_error(L, n, "more than %d dims, flags and params", IR_MAX_GRAPH_ATTRS - 2);
    const Known *k = find_known(d->name);
    if (k && k->kind != kind)
        return xml_error(L, n, "'%s' must be a <%s>, not a <%s>", d->name, kind_elem(k->kind), kind_elem(kind));
    if (min[0]) {
        char *end;
        errno = 0;
        long v = strtol(min, &end, 10);
        if (kind != FE_DIM_INT || errno || *end || end == min || v < 0 || v > CTX_MAX)
            return xml_error(L, n, "min '%s' of '%s': only a <dim> has one, an integer in 0..%d", min, d->name,
                             CTX_MAX);
        d->min = (int)v;
    }
    if ((kind == FE_DIM_INT || kind == FE_DIM_FLAG) && d->dflt[0] && check_expr(L, n, d->dflt)) return -1;
    if (kind == FE_DIM_FLOAT && d->dflt[0]) {
        char *end;
        double v = strtod(d->dflt, &end);
        if (*end || end == d->dflt || !isfinite(v))
            return xml_error(L, n, "default '%s' of '%s' is not a finite number", d->dflt, d->name);
    }
    a->ndims++;
    return 0;
}

static int parse_operands(Loader *L, const xmlNode *n, FeArchOp *op, const FeArchOp *prev, int nprev,
                          const char *const *extern_names)
{
    char in[96];
    if (need_attr(L, n, "in", in, sizeof in)) return -1;
    op->nin = 0;
    for (char *tok = strtok(in, " "); tok; tok = strtok(NULL, " ")) {
        if (op->nin == 3) return xml_error(L, n, "op '%s' has more than 3 operands", op->id);
        int known_name = 0;
        for (int i = 0; i < nprev; i++) known_name |= strcmp(prev[i].id, tok) == 0;
        for (int i = 0; extern_names[i]; i++) known_name |= strcmp(extern_names[i], tok) == 0;
        if (!known_name) return xml_error(L, n, "op '%s' uses '%s' before it is defined", op->id, tok);
        if (strlen(tok) >= sizeof op->in[0]) return xml_error(L, n, "op '%s': operand '%s' is too long", op->id, tok);
        snprintf(op->in[op->nin++], sizeof op->in[0], "%s", tok);
    }
    return 0;
}

/* Fails unless the architecture declares 'name' (as a <dim>, <param>, ...
 * as known[] says), which op 'op' needs. */
static int need_dim(Loader *L, const xmlNode *n, const FeArchOp *op, const char *opname, const char *name)
{
    int i = find_dim(L->a, name);
    if (i >= 0) return 0;
    return xml_error(L, n, "op '%s' (%s) needs <%s name=\"%s\"> above", op->id, opname,
                     kind_elem(find_known(name)->kind), name);
}

/* One <op>: its operator must take as many operands as given, plus the
 * weight (and bias) for the ops that have one, and sit where the lowering
 * can build it: embed on the token ids, one attention per <layer>,
 * last_rows in <head>, the dims it reads declared above. */
static int load_op(Loader *L, const xmlNode *n, FeArchOp *ops, int *nops, int cap,
                   const char *const *extern_names, const char *section)
{
    if (*nops == cap) return xml_error(L, n, "more than %d ops in this section", cap);
    FeArchOp *op = &ops[*nops];
    memset(op, 0, sizeof *op);
    op->line = (int)xmlGetLineNo(n);
    char opname[24];
    if (need_attr(L, n, "id", op->id, sizeof op->id) || need_attr(L, n, "op", opname, sizeof opname))
        return -1;
    if (strspn(op->id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != strlen(op->id))
        return xml_error(L, n, "op id '%s': letters, digits and '_' only", op->id);
    if (strcmp(op->id, "x") == 0 || strcmp(op->id, "ids") == 0)
        return xml_error(L, n, "op id '%s' is reserved for the section's input", op->id);
    int k = ir_op_from_name(opname);
    if (k < 0 || k == IR_OP_INPUT || k == IR_OP_WEIGHT || k == IR_OP_ROPE_TABLE || k == IR_OP_OUTPUT || k == IR_OP_COPY)
        return xml_error(L, n, "op '%s': unknown operator '%s'", op->id, opname);
    op->op = (IrOp)k;
    if (parse_operands(L, n, op, ops, *nops, extern_names) || get_attr(L, n, "weight", op->weight, sizeof op->weight)
        || get_attr(L, n, "shape", op->wshape, sizeof op->wshape) || get_attr(L, n, "bias", op->bias, sizeof op->bias)
        || get_attr(L, n, "bias_if", op->bias_if, sizeof op->bias_if)
        || get_attr(L, n, "tied", op->tied, sizeof op->tied) || get_attr(L, n, "tied_if", op->tied_if, sizeof op->tied_if)
        || get_attr(L, n, "heads", op->heads, sizeof op->heads))
        return -1;

    int has_weight = op->op == IR_OP_EMBED || op->op == IR_OP_RMSNORM || op->op == IR_OP_LINEAR;
    int want = has_weight ? 1 : (op->op == IR_OP_ATTENTION ? 3 : ir_op_ninputs(op->op));
    if (op->op == IR_OP_ROPE) want = 1;
    if (op->nin != want)
        return xml_error(L, n, "op '%s' (%s) takes %d operand%s in 'in', not %d", op->id, opname, want,
                         want == 1 ? "" : "s", op->nin);
    if (has_weight && !op->weight[0]) return xml_error(L, n, "op '%s' (%s) needs a weight", op->id, opname);
    if (!has_weight && op->weight[0])
        return xml_error(L, n, "op '%s' (%s) takes no weight", op->id, opname);
    for (int i = 0; i < op->nin; i++)
        if ((strcmp(op->in[i], "ids") == 0) != (op->op == IR_OP_EMBED))
            return xml_error(L, n, "op '%s': the token ids are the operand of embed ops only", op->id);
    if (op->op == IR_OP_LAST_ROWS && strcmp(section, "head"))
        return xml_error(L, n, "op '%s': last_rows belongs in <head>", op->id);
    if (op->bias[0] && op->op != IR_OP_LINEAR)
        return xml_error(L, n, "op '%s': only linear ops take a bias", op->id);
    if (!op->tied[0] != !op->tied_if[0])
        return xml_error(L, n, "op '%s': tied and tied_if go together", op->id);
    if (op->op == IR_OP_ROPE) {
        int h = find_dim(L->a, op->heads);
        if (h < 0 || L->a->dims[h].kind != FE_DIM_INT)
            return xml_error(L, n, "op '%s' (rope) needs heads=\"DIM\" naming a <dim>", op->id);
        static const char *const rope_dims[] = {"head_dim", "rope_theta", "rope_type", "rope_factor", "rope_low",
                                                "rope_high", "rope_orig_ctx", NULL};
        for (int i = 0; rope_dims[i]; i++)
            if (need_dim(L, n, op, opname, rope_dims[i])) return -1;
    } else if (op->heads[0]) {
        return xml_error(L, n, "op '%s': only rope ops take heads", op->id);
    }
    if (op->op == IR_OP_ATTENTION) {
        if (strcmp(section, "layer")) return xml_error(L, n, "op '%s': attention belongs in <layer>", op->id);
        for (int i = 0; i < *nops; i++)
            if (ops[i].op == IR_OP_ATTENTION)
                return xml_error(L, n, "op '%s': a layer has one attention op ('%s' is one)", op->id, ops[i].id);
        if (need_dim(L, n, op, opname, "heads") || need_dim(L, n, op, opname, "head_dim")) return -1;
    }
    if (op->op == IR_OP_RMSNORM && need_dim(L, n, op, opname, "eps")) return -1;
    const char *flags[2] = {op->bias_if, op->tied_if};
    for (int i = 0; i < 2; i++) {
        int f = flags[i][0] ? find_dim(L->a, flags[i]) : 0;
        if (f < 0 || (flags[i][0] && L->a->dims[f].kind != FE_DIM_FLAG))
            return xml_error(L, n, "op '%s': '%s' is not a flag defined above", op->id, flags[i]);
    }
    if (op->wshape[0]) {
        char shape[sizeof op->wshape];
        snprintf(shape, sizeof shape, "%s", op->wshape);
        for (char *tok = strtok(shape, " "); tok; tok = strtok(NULL, " "))
            if (check_expr(L, n, tok)) return -1;
    }
    (*nops)++;
    return 0;
}

static int load_section(Loader *L, const xmlNode *sec, FeArchOp *ops, int *nops, int cap,
                        const char *const *extern_names)
{
    for (const xmlNode *n = sec->children; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE) continue;
        if (!is_elem(n, "op")) return xml_error(L, n, "unexpected <%s> in <%s>", n->name, sec->name);
        if (load_op(L, n, ops, nops, cap, extern_names, (const char *)sec->name)) return -1;
    }
    if (*nops == 0) return xml_error(L, sec, "<%s> has no ops", sec->name);
    return 0;
}

static int load_root(Loader *L, FeArch *a, const xmlNode *root)
{
    static const char *const embed_in[] = {"ids", NULL};
    static const char *const layer_in[] = {"x", NULL};
    if (!is_elem(root, "architecture")) return xml_error(L, root, "root element must be <architecture>");
    if (need_attr(L, root, "name", a->name, sizeof a->name)) return -1;
    if (strspn(a->name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != strlen(a->name))
        return xml_error(L, root, "architecture name '%s': letters, digits, '_', '.' and '-' only", a->name);
    for (const xmlNode *n = root->children; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE) continue;
        if (is_elem(n, "class")) {
            if (a->nclasses == FE_MAX_CLASSES) return xml_error(L, n, "too many <class> elements");
            if (need_attr(L, n, "name", a->classes[a->nclasses], sizeof a->classes[0])) return -1;
            a->nclasses++;
        } else if (is_elem(n, "dim") || is_elem(n, "flag") || is_elem(n, "param") || is_elem(n, "str")) {
            FeDimKind k = is_elem(n, "dim") ? FE_DIM_INT : is_elem(n, "flag") ? FE_DIM_FLAG
                          : is_elem(n, "param") ? FE_DIM_FLOAT : FE_DIM_STR;
            if (load_dim(L, a, n, k)) return -1;
        } else if (is_elem(n, "check")) {
            if (a->nchecks == FE_MAX_CHECKS) return xml_error(L, n, "too many <check> elements");
            FeArchCheck *c = &a->checks[a->nchecks++];
            c->line = (int)xmlGetLineNo(n);
            if (need_attr(L, n, "expr", c->expr, sizeof c->expr) ||
                need_attr(L, n, "message", c->message, sizeof c->message) || check_expr(L, n, c->expr))
                return -1;
        } else if (is_elem(n, "embed")) {
            if (a->nembed) return xml_error(L, n, "a second <embed>");
            if (load_section(L, n, a->embed, &a->nembed, 4, embed_in)) return -1;
        } else if (is_elem(n, "layer")) {
            if (a->nlayer) return xml_error(L, n, "a second <layer>");
            if (need_attr(L, n, "out", a->layer_out, sizeof a->layer_out)) return -1;
            if (load_section(L, n, a->layer, &a->nlayer, FE_MAX_OPS, layer_in)) return -1;
        } else if (is_elem(n, "head")) {
            if (a->nhead) return xml_error(L, n, "a second <head>");
            if (load_section(L, n, a->head, &a->nhead, 8, layer_in)) return -1;
        } else {
            return xml_error(L, n, "unknown element <%s>", n->name);
        }
    }
    if (!a->nclasses) return xml_error(L, root, "no <class> names a Hugging Face architecture");
    if (!a->nembed || !a->nlayer || !a->nhead)
        return xml_error(L, root, "needs <embed>, <layer> and <head> sections");
    static const char *const required[] = {"hidden", "layers", "vocab", "ctx", NULL};
    for (int i = 0; required[i]; i++)
        if (find_dim(a, required[i]) < 0) return xml_error(L, root, "no <dim name=\"%s\">", required[i]);
    int out_found = 0;
    for (int i = 0; i < a->nlayer; i++) out_found |= strcmp(a->layer[i].id, a->layer_out) == 0;
    if (!out_found) return xml_error(L, root, "<layer out=\"%s\"> names no op of the layer", a->layer_out);
    return 0;
}

static void silence_xml(void *ctx, const char *msg, ...) {}

int fe_arch_load(FeArch *a, const char *path, char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    snprintf(a->path, sizeof a->path, "%s", path);
    Loader L = {a, err, errlen};
    xmlSetGenericErrorFunc(NULL, silence_xml);
    xmlDoc *doc = xmlReadFile(path, NULL, XML_PARSE_NONET | XML_PARSE_NOWARNING | XML_PARSE_NOERROR);
    if (!doc) {
        const xmlError *e = xmlGetLastError();
        if (e && e->message)
            snprintf(err, errlen, "%s:%d: error: malformed XML: %.*s", path, e->line,
                     (int)strcspn(e->message, "\n"), e->message);
        else
            snprintf(err, errlen, "%s: error: cannot read", path);
        return -1;
    }
    int rc = load_root(&L, a, xmlDocGetRootElement(doc));
    xmlFreeDoc(doc);
    return rc;
}

int fe_arch_find(FeArch *a, const char *dir, const char *hf_class, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "%s: cannot open the architectures directory", dir);
        return -1;
    }
    char names[512] = "";
    struct dirent *e;
    int found = -1;
    while (found < 0 && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".xml") != 0) continue;
        char path[FE_PATH_LEN];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (fe_arch_load(a, path, err, errlen)) {
            found = -2;
            break;
        }
        for (int i = 0; i < a->nclasses; i++) {
            if (strcmp(a->classes[i], hf_class) == 0) found = 1;
            size_t k = strlen(names);
            snprintf(names + k, sizeof names - k, "%s%s", k ? ", " : "", a->classes[i]);
        }
    }
    closedir(d);
    if (found == -1)
        snprintf(err, errlen, "unknown architecture '%s' (known: %s); add a models/*.xml for it", hf_class,
                 names);
    return found == 1 ? 0 : -1;
}

/* ---- resolving dims against a config ---- */

static int dim_index(const FeDims *d, const char *name)
{
    for (int i = 0; i < d->n; i++)
        if (strcmp(d->name[i], name) == 0) return i;
    return -1;
}

double fe_dims_get(const FeDims *d, const char *name)
{
    int i = dim_index(d, name);
    if (i < 0) IR_BUG("dim '%s' is not defined", name);
    return d->val[i];
}

const char *fe_dims_str(const FeDims *d, const char *name)
{
    int i = dim_index(d, name);
    if (i < 0 || d->kind[i] != FE_DIM_STR) IR_BUG("string dim '%s' is not defined", name);
    return d->str[i];
}

/* Reads the first present key of dim 'ad': an int or flag into *iv, a
 * float into d's slot k, a string into d->str[k]. Returns 1 if found (with
 * *which the key), 0 if none is present, -1 on a wrongly typed value. */
static int read_keys(const FeArchDim *ad, const FeConfig *c, FeDims *d, int k, const char **which, int64_t *iv,
                     char *err, size_t errlen)
{
    char keys[sizeof ad->keys];
    snprintf(keys, sizeof keys, "%s", ad->keys);
    for (char *key = strtok(keys, " "); key; key = strtok(NULL, " ")) {
        int bv, rc;
        const char *sv;
        switch (ad->kind) {
        case FE_DIM_INT: rc = fe_config_int(c, key, iv, err, errlen); break;
        case FE_DIM_FLAG:
            rc = fe_config_bool(c, key, &bv, err, errlen);
            if (rc == 1) *iv = bv;
            break;
        case FE_DIM_FLOAT: rc = fe_config_float(c, key, &d->val[k], err, errlen); break;
        default:
            rc = fe_config_str(c, key, &sv, err, errlen);
            if (rc == 1) snprintf(d->str[k], sizeof d->str[k], "%s", sv);
            break;
        }
        if (rc < 0) return -1;
        if (rc == 1) {
            *which = ad->keys + (key - keys);
            return 1;
        }
    }
    return 0;
}

/* The value of dim 'ad' when none of its keys is present. */
static int resolve_default(const FeArchDim *ad, const FeConfig *c, FeDims *d, int k, int64_t *iv, char *err,
                           size_t errlen)
{
    int keylen = (int)strcspn(ad->keys, " ");
    if (!ad->dflt[0]) {
        snprintf(err, errlen, "%s: key '%.*s' is missing", fe_config_path(c), keylen, ad->keys);
        return -1;
    }
    if (ad->kind == FE_DIM_STR) {
        snprintf(d->str[k], sizeof d->str[k], "%s", ad->dflt);
        return 0;
    }
    if (ad->kind == FE_DIM_FLOAT) {
        d->val[k] = strtod(ad->dflt, NULL);
        return 0;
    }
    /* A default that divides must divide exactly: hidden / heads. */
    char eerr[256];
    Expr e = {.d = d, .p = ad->dflt, .expr = ad->dflt, .exact = 1, .err = eerr, .errlen = sizeof eerr};
    if (expr_eval(&e, iv) == 0) return 0;
    if (strstr(eerr, "is not divisible"))
        snprintf(err, errlen, "%s: %s, needed for '%s' when key '%.*s' is absent", fe_config_path(c), eerr, ad->name,
                 keylen, ad->keys);
    else
        snprintf(err, errlen, "%s: key '%.*s' is missing and its default failed: %s", fe_config_path(c), keylen,
                 ad->keys, eerr);
    return -1;
}

/* "key 'K'", or "key 'K' (absent; default 'D')" for a value from the default. */
static const char *source(const FeArchDim *ad, const char *which, char *buf, size_t cap)
{
    if (which) snprintf(buf, cap, "key '%.*s'", (int)strcspn(which, " "), which);
    else snprintf(buf, cap, "key '%.*s' (absent; default '%s')", (int)strcspn(ad->keys, " "), ad->keys, ad->dflt);
    return buf;
}

static int word_in(const char *list, const char *w)
{
    size_t n = strlen(w);
    if (n == 0) return 0;
    for (const char *p = list; (p = strstr(p, w)); p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == 0)) return 1;
    return 0;
}

/* Checks the value just read into d's slot k (an int or flag: iv) against
 * its range and stores it. */
static int check_value(const FeArchDim *ad, const FeConfig *c, FeDims *d, int k, const char *which, int64_t iv,
                       char *err, size_t errlen)
{
    const Known *kn = find_known(ad->name);
    char src[sizeof ad->keys + sizeof ad->dflt + 32];
    source(ad, which, src, sizeof src);
    if (ad->kind == FE_DIM_FLAG) {
        d->val[k] = iv != 0;
        return 0;
    }
    if (ad->kind == FE_DIM_INT) {
        int64_t lo = kn && kn->lo > ad->min ? (int64_t)kn->lo : ad->min, hi = kn ? (int64_t)kn->hi : DIM_MAX;
        if (iv < lo || iv > hi) {
            snprintf(err, errlen, "%s: %s: %lld is not in %lld..%lld", fe_config_path(c), src, (long long)iv,
                     (long long)lo, (long long)hi);
            return -1;
        }
        d->val[k] = (double)iv;
        return 0;
    }
    if (ad->kind == FE_DIM_FLOAT) {
        const Known *r = kn ? kn : &generic_param;
        double v = d->val[k];
        if (!(r->lo_open ? v > r->lo : v >= r->lo) || !(r->hi_open ? v < r->hi : v <= r->hi)) {
            snprintf(err, errlen, "%s: %s: %g is not in %c%g, %g%c", fe_config_path(c), src, v,
                     r->lo_open ? '(' : '[', r->lo, r->hi, r->hi_open ? ')' : ']');
            return -1;
        }
        return 0;
    }
    const char *words = ad->allowed[0] && !word_in(ad->allowed, d->str[k]) ? ad->allowed
                        : kn && kn->words && !word_in(kn->words, d->str[k]) ? kn->words : NULL;
    if (words) {
        snprintf(err, errlen, "%s: %s is '%s'; hetc supports: %s", fe_config_path(c), src, d->str[k], words);
        return -1;
    }
    return 0;
}

static int has_op(const FeArch *a, IrOp op)
{
    for (int i = 0; i < a->nlayer; i++)
        if (a->layer[i].op == op) return 1;
    for (int i = 0; i < a->nembed; i++)
        if (a->embed[i].op == op) return 1;
    for (int i = 0; i < a->nhead; i++)
        if (a->head[i].op == op) return 1;
    return 0;
}

/* What RoPE needs beyond each value's range: pairs to rotate, and llama3
 * scaling's smoothing between two distinct wavelengths. */
static int check_rope(const FeArch *a, const FeConfig *c, const FeDims *d, const char *const *which, char *err,
                      size_t errlen)
{
    char s1[256], s2[256];
    int hd = find_dim(a, "head_dim");
    if ((int64_t)d->val[hd] % 2) {
        snprintf(err, errlen, "%s: %s: %lld is odd; RoPE rotates pairs of values", fe_config_path(c),
                 source(&a->dims[hd], which[hd], s1, sizeof s1), (long long)d->val[hd]);
        return -1;
    }
    int lo = find_dim(a, "rope_low"), hi = find_dim(a, "rope_high");
    if (strcmp(fe_dims_str(d, "rope_type"), "llama3") == 0 && !(d->val[hi] > d->val[lo])) {
        snprintf(err, errlen, "%s: %s (%g) must be greater than %s (%g) for llama3 RoPE scaling", fe_config_path(c),
                 source(&a->dims[hi], which[hi], s1, sizeof s1), d->val[hi],
                 source(&a->dims[lo], which[lo], s2, sizeof s2), d->val[lo]);
        return -1;
    }
    return 0;
}

int fe_arch_resolve(const FeArch *a, const FeConfig *c, FeDims *d, char *err, size_t errlen)
{
    memset(d, 0, sizeof *d);
    const char *which[FE_MAX_DIMS];
    for (int i = 0; i < a->ndims; i++) {
        const FeArchDim *ad = &a->dims[i];
        int k = d->n++;
        snprintf(d->name[k], sizeof d->name[k], "%s", ad->name);
        d->kind[k] = ad->kind;
        which[k] = NULL;
        int64_t iv = 0;
        int rc = read_keys(ad, c, d, k, &which[k], &iv, err, errlen);
        if (rc < 0 || (rc == 0 && resolve_default(ad, c, d, k, &iv, err, errlen))
            || check_value(ad, c, d, k, which[k], iv, err, errlen))
            return -1;
    }
    for (int i = 0; i < a->nchecks; i++) {
        int64_t v;
        char eerr[256];
        if (fe_dims_eval(d, a->checks[i].expr, &v, eerr, sizeof eerr)) {
            snprintf(err, errlen, "%s:%d: error: %s (with %s)", a->path, a->checks[i].line, eerr, fe_config_path(c));
            return -1;
        }
        if (v != 0) {
            snprintf(err, errlen, "%s: %s (%s is %lld)", fe_config_path(c), a->checks[i].message,
                     a->checks[i].expr, (long long)v);
            return -1;
        }
    }
    return has_op(a, IR_OP_ROPE) ? check_rope(a, c, d, which, err, errlen) : 0;
}
