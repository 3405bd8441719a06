/* fe_arch.c: reads models/<arch>.xml (libxml2), the data that describes an
 * architecture, and resolves its dims against a model's config.json.
 *
 * Loading checks the XML against what the compiler understands: known
 * element names, known ops with the right operand counts, operands defined
 * before use, dims defined before they are used in defaults. Errors carry
 * "FILE:LINE: error: ...". Resolving reads config keys through fe_config.c
 * and evaluates default expressions; bad values name config.json and key.
 */
#include "fe.h"

#include <ctype.h>
#include <dirent.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Copies attribute 'key' of n into dst (size cap); returns 1 if present. */
static int get_attr(const xmlNode *n, const char *key, char *dst, size_t cap)
{
    xmlChar *v = xmlGetProp(n, (const xmlChar *)key);
    if (!v) {
        if (cap) dst[0] = 0;
        return 0;
    }
    snprintf(dst, cap, "%s", (const char *)v);
    xmlFree(v);
    return 1;
}

static int need_attr(Loader *L, const xmlNode *n, const char *key, char *dst, size_t cap)
{
    xmlChar *v = xmlGetProp(n, (const xmlChar *)key);
    if (!v) return xml_error(L, n, "<%s> needs attribute '%s'", (const char *)n->name, key);
    size_t len = strlen((const char *)v);
    if (len >= cap || len == 0) {
        xmlFree(v);
        return xml_error(L, n, "<%s> attribute '%s' is empty or longer than %zu characters",
                         (const char *)n->name, key, cap - 1);
    }
    memcpy(dst, v, len + 1);
    xmlFree(v);
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

/* Every identifier in expr must be a dim defined so far. */
static int check_expr_names(Loader *L, const xmlNode *n, const char *expr)
{
    for (const char *p = expr; *p;) {
        if (isalpha((unsigned char)*p) || *p == '_') {
            char id[24];
            size_t k = 0;
            while ((isalnum((unsigned char)*p) || *p == '_') && k < sizeof id - 1) id[k++] = *p++;
            id[k] = 0;
            if (find_dim(L->a, id) < 0)
                return xml_error(L, n, "expression '%s' uses '%s', which is not a dim defined above",
                                 expr, id);
        } else {
            p++;
        }
    }
    return 0;
}

static int load_dim(Loader *L, FeArch *a, const xmlNode *n, FeDimKind kind)
{
    if (a->ndims == FE_MAX_DIMS) return xml_error(L, n, "more than %d dims", FE_MAX_DIMS);
    FeArchDim *d = &a->dims[a->ndims];
    memset(d, 0, sizeof *d);
    d->kind = kind;
    d->line = (int)xmlGetLineNo(n);
    d->min = 1;
    if (need_attr(L, n, "name", d->name, sizeof d->name) || need_attr(L, n, "key", d->keys, sizeof d->keys))
        return -1;
    if (find_dim(a, d->name) >= 0) return xml_error(L, n, "dim '%s' is defined twice", d->name);
    get_attr(n, "default", d->dflt, sizeof d->dflt);
    get_attr(n, "allowed", d->allowed, sizeof d->allowed);
    char min[16];
    if (get_attr(n, "min", min, sizeof min)) d->min = atoi(min);
    if (kind == FE_DIM_INT && d->dflt[0] && check_expr_names(L, n, d->dflt)) return -1;
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
        int known = 0;
        for (int i = 0; i < nprev; i++) known |= strcmp(prev[i].id, tok) == 0;
        for (int i = 0; extern_names[i]; i++) known |= strcmp(extern_names[i], tok) == 0;
        if (!known) return xml_error(L, n, "op '%s' uses '%s' before it is defined", op->id, tok);
        snprintf(op->in[op->nin++], sizeof op->in[0], "%s", tok);
    }
    return 0;
}

/* One <op>: its operator must take as many operands as given, plus the
 * weight (and bias) for the ops that have one. */
static int load_op(Loader *L, const xmlNode *n, FeArchOp *ops, int *nops, int cap,
                   const char *const *extern_names)
{
    if (*nops == cap) return xml_error(L, n, "more than %d ops in this section", cap);
    FeArchOp *op = &ops[*nops];
    memset(op, 0, sizeof *op);
    op->line = (int)xmlGetLineNo(n);
    char opname[24];
    if (need_attr(L, n, "id", op->id, sizeof op->id) || need_attr(L, n, "op", opname, sizeof opname))
        return -1;
    int k = ir_op_from_name(opname);
    if (k < 0 || k == IR_OP_INPUT || k == IR_OP_WEIGHT || k == IR_OP_ROPE_TABLE || k == IR_OP_OUTPUT)
        return xml_error(L, n, "op '%s': unknown operator '%s'", op->id, opname);
    op->op = (IrOp)k;
    if (parse_operands(L, n, op, ops, *nops, extern_names)) return -1;
    get_attr(n, "weight", op->weight, sizeof op->weight);
    get_attr(n, "shape", op->wshape, sizeof op->wshape);
    get_attr(n, "bias", op->bias, sizeof op->bias);
    get_attr(n, "bias_if", op->bias_if, sizeof op->bias_if);
    get_attr(n, "tied", op->tied, sizeof op->tied);
    get_attr(n, "tied_if", op->tied_if, sizeof op->tied_if);
    get_attr(n, "heads", op->heads, sizeof op->heads);

    int has_weight = op->op == IR_OP_EMBED || op->op == IR_OP_RMSNORM || op->op == IR_OP_LINEAR;
    int want = has_weight ? 1 : (op->op == IR_OP_ATTENTION ? 3 : ir_op_ninputs(op->op));
    if (op->op == IR_OP_ROPE) want = 1;
    if (op->nin != want)
        return xml_error(L, n, "op '%s' (%s) takes %d operand%s in 'in', not %d", op->id, opname, want,
                         want == 1 ? "" : "s", op->nin);
    if (has_weight && !op->weight[0]) return xml_error(L, n, "op '%s' (%s) needs a weight", op->id, opname);
    if (!has_weight && op->weight[0])
        return xml_error(L, n, "op '%s' (%s) takes no weight", op->id, opname);
    if (op->bias[0] && op->op != IR_OP_LINEAR)
        return xml_error(L, n, "op '%s': only linear ops take a bias", op->id);
    if (op->op == IR_OP_ROPE && find_dim(L->a, op->heads) < 0)
        return xml_error(L, n, "op '%s' (rope) needs heads=\"DIM\" naming a dim", op->id);
    const char *flags[2] = {op->bias_if, op->tied_if};
    for (int i = 0; i < 2; i++)
        if (flags[i][0] && find_dim(L->a, flags[i]) < 0)
            return xml_error(L, n, "op '%s': '%s' is not a flag defined above", op->id, flags[i]);
    if (op->wshape[0] && check_expr_names(L, n, op->wshape)) return -1;
    (*nops)++;
    return 0;
}

static int load_section(Loader *L, const xmlNode *sec, FeArchOp *ops, int *nops, int cap,
                        const char *const *extern_names)
{
    for (const xmlNode *n = sec->children; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE) continue;
        if (!is_elem(n, "op")) return xml_error(L, n, "unexpected <%s> in <%s>", n->name, sec->name);
        if (load_op(L, n, ops, nops, cap, extern_names)) return -1;
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
                need_attr(L, n, "message", c->message, sizeof c->message) || check_expr_names(L, n, c->expr))
                return -1;
        } else if (is_elem(n, "embed")) {
            if (load_section(L, n, a->embed, &a->nembed, 4, embed_in)) return -1;
        } else if (is_elem(n, "layer")) {
            if (need_attr(L, n, "out", a->layer_out, sizeof a->layer_out)) return -1;
            if (load_section(L, n, a->layer, &a->nlayer, FE_MAX_OPS, layer_in)) return -1;
        } else if (is_elem(n, "head")) {
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
    char known[512] = "";
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
            size_t k = strlen(known);
            snprintf(known + k, sizeof known - k, "%s%s", k ? ", " : "", a->classes[i]);
        }
    }
    closedir(d);
    if (found == -1)
        snprintf(err, errlen, "unknown architecture '%s' (known: %s); add a models/*.xml for it", hf_class,
                 known);
    return found == 1 ? 0 : -1;
}

/* ---- resolving dims against a config ---- */

typedef struct {
    const FeDims *d;
    const char *p;
    const char *expr;
    char *err;
    size_t errlen;
    int failed;
} Expr;

static int64_t expr_sum(Expr *e);

static void expr_fail(Expr *e, const char *fmt, ...)
{
    if (e->failed) return;
    e->failed = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->err, e->errlen, fmt, ap);
    va_end(ap);
}

static void skip_ws(Expr *e)
{
    while (*e->p == ' ') e->p++;
}

static int64_t expr_atom(Expr *e)
{
    skip_ws(e);
    if (*e->p == '(') {
        e->p++;
        int64_t v = expr_sum(e);
        skip_ws(e);
        if (*e->p != ')') expr_fail(e, "expression '%s': missing ')'", e->expr);
        else e->p++;
        return v;
    }
    if (isdigit((unsigned char)*e->p)) return strtoll(e->p, (char **)&e->p, 10);
    char id[24];
    size_t k = 0;
    while ((isalnum((unsigned char)*e->p) || *e->p == '_') && k < sizeof id - 1) id[k++] = *e->p++;
    id[k] = 0;
    for (int i = 0; i < e->d->n; i++)
        if (strcmp(e->d->name[i], id) == 0) return (int64_t)e->d->val[i];
    expr_fail(e, "expression '%s': unknown name '%s'", e->expr, id);
    return 0;
}

static int64_t expr_product(Expr *e)
{
    int64_t v = expr_atom(e);
    for (;;) {
        skip_ws(e);
        char op = *e->p;
        if (op != '*' && op != '/' && op != '%') return v;
        e->p++;
        int64_t r = expr_atom(e);
        if (op == '*') { v *= r; continue; }
        if (r == 0) {
            expr_fail(e, "expression '%s' divides by zero", e->expr);
            return 0;
        }
        v = op == '/' ? v / r : v % r;
    }
}

static int64_t expr_sum(Expr *e)
{
    int64_t v = expr_product(e);
    for (;;) {
        skip_ws(e);
        char op = *e->p;
        if (op != '+' && op != '-') return v;
        e->p++;
        int64_t r = expr_product(e);
        v = op == '+' ? v + r : v - r;
    }
}

int fe_dims_eval(const FeDims *d, const char *expr, int64_t *v, char *err, size_t errlen)
{
    Expr e = {d, expr, expr, err, errlen, 0};
    *v = expr_sum(&e);
    skip_ws(&e);
    if (!e.failed && *e.p) expr_fail(&e, "expression '%s': unexpected '%s'", expr, e.p);
    return e.failed ? -1 : 0;
}

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

/* Reads the first present key of dim 'ad' into d's slot k; returns 1 if
 * found, 0 if none is present, -1 on a wrongly typed value. */
static int read_keys(const FeArchDim *ad, const FeConfig *c, FeDims *d, int k, const char **which,
                     char *err, size_t errlen)
{
    char keys[sizeof ad->keys];
    snprintf(keys, sizeof keys, "%s", ad->keys);
    for (char *key = strtok(keys, " "); key; key = strtok(NULL, " ")) {
        int64_t iv;
        double fv;
        int bv;
        const char *sv;
        int rc;
        switch (ad->kind) {
        case FE_DIM_INT: rc = fe_config_int(c, key, &iv, err, errlen); fv = (double)iv; break;
        case FE_DIM_FLAG: rc = fe_config_bool(c, key, &bv, err, errlen); fv = bv; break;
        case FE_DIM_FLOAT: rc = fe_config_float(c, key, &fv, err, errlen); break;
        default:
            rc = fe_config_str(c, key, &sv, err, errlen);
            if (rc == 1) snprintf(d->str[k], sizeof d->str[k], "%s", sv);
            fv = 0;
            break;
        }
        if (rc < 0) return -1;
        if (rc == 1) {
            d->val[k] = fv;
            *which = ad->keys + (key - keys);
            return 1;
        }
    }
    return 0;
}

static int resolve_default(const FeArchDim *ad, const FeConfig *c, FeDims *d, int k, char *err,
                           size_t errlen)
{
    if (!ad->dflt[0]) {
        snprintf(err, errlen, "%s: key '%.*s' is missing", fe_config_path(c), (int)strcspn(ad->keys, " "),
                 ad->keys);
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
    int64_t v;
    char eerr[256];
    if (fe_dims_eval(d, ad->dflt, &v, eerr, sizeof eerr)) {
        snprintf(err, errlen, "%s: key '%.*s' is missing and its default failed: %s", fe_config_path(c),
                 (int)strcspn(ad->keys, " "), ad->keys, eerr);
        return -1;
    }
    /* A default that divides must divide exactly: hidden / heads. */
    const char *slash = strchr(ad->dflt, '/');
    if (slash) {
        int64_t num, den;
        char lhs[64];
        snprintf(lhs, sizeof lhs, "%.*s", (int)(slash - ad->dflt), ad->dflt);
        if (!fe_dims_eval(d, lhs, &num, eerr, sizeof eerr) && !fe_dims_eval(d, slash + 1, &den, eerr, sizeof eerr)
            && den && num % den) {
            snprintf(err, errlen, "%s: '%s' (%lld) is not divisible by '%s' (%lld), needed for '%s' when key "
                     "'%.*s' is absent", fe_config_path(c), lhs, (long long)num, slash + 1, (long long)den,
                     ad->name, (int)strcspn(ad->keys, " "), ad->keys);
            return -1;
        }
    }
    d->val[k] = (double)v;
    return 0;
}

static int word_in(const char *list, const char *w)
{
    size_t n = strlen(w);
    for (const char *p = list; (p = strstr(p, w)); p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == 0)) return 1;
    return 0;
}

int fe_arch_resolve(const FeArch *a, const FeConfig *c, FeDims *d, char *err, size_t errlen)
{
    memset(d, 0, sizeof *d);
    for (int i = 0; i < a->ndims; i++) {
        const FeArchDim *ad = &a->dims[i];
        int k = d->n++;
        snprintf(d->name[k], sizeof d->name[k], "%s", ad->name);
        d->kind[k] = ad->kind;
        const char *which = NULL;
        int rc = read_keys(ad, c, d, k, &which, err, errlen);
        if (rc < 0) return -1;
        if (rc == 0 && resolve_default(ad, c, d, k, err, errlen)) return -1;
        if (ad->kind == FE_DIM_INT && rc == 1 && d->val[k] < ad->min) {
            snprintf(err, errlen, "%s: key '%.*s' is %lld; it must be at least %d", fe_config_path(c),
                     (int)strcspn(which, " "), which, (long long)d->val[k], ad->min);
            return -1;
        }
        if (ad->kind == FE_DIM_STR && ad->allowed[0] && !word_in(ad->allowed, d->str[k])) {
            snprintf(err, errlen, "%s: key '%.*s' is '%s'; hetc supports: %s", fe_config_path(c),
                     (int)strcspn(which ? which : ad->keys, " "), which ? which : ad->keys, d->str[k], ad->allowed);
            return -1;
        }
        if (ad->kind == FE_DIM_FLOAT && rc == 1 && !(d->val[k] > 0)) {
            snprintf(err, errlen, "%s: key '%.*s' is %g; it must be positive", fe_config_path(c),
                     (int)strcspn(which, " "), which, d->val[k]);
            return -1;
        }
    }
    for (int i = 0; i < a->nchecks; i++) {
        int64_t v;
        if (fe_dims_eval(d, a->checks[i].expr, &v, err, errlen)) return -1;
        if (v != 0) {
            snprintf(err, errlen, "%s: %s (%s is %lld)", fe_config_path(c), a->checks[i].message,
                     a->checks[i].expr, (long long)v);
            return -1;
        }
    }
    return 0;
}
