/* ir_parse.c: reads the text form written by ir_print (see ir.h) back into
 * a graph, then runs ir_verify on it.
 *
 * The text is handled one line at a time; ';' starts a comment that runs to
 * the end of the line (outside strings), and blank lines are skipped. The
 * first line is "hetc-ir 2", the next "graph ..."; then come directive lines
 * (attr, passes, arena, kv, ws), 'unit' lines before the nodes, and node lines with consecutive ids from 0.
 * Every error is "FILE:LINE: error: ...": a syntax error names its line, a
 * graph that parses but fails verification the line of the node at fault
 * ("FILE:LINE: error: node %N (...): ...") or of the directive a graph-level
 * fault concerns. Input is never trusted: every length, number and operand
 * is checked before it is stored.
 */
#include "ir.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *file;       /* name used in messages */
    int line;               /* 1-based number of the current line */
    const char *p;          /* cursor in the current line */
    const char *end;        /* end of the current line ('\n' or NUL) */
    unsigned seen;          /* bit per directive already read */
    int graph_line;         /* line of the 'graph' line */
    int dir_line[5];        /* line of each directive (directives[]), 0 if absent */
    int nws;                /* workspace sizes read ('ws' line) */
    int unit_line;          /* line of the first 'unit' line, 0 if none */
    int chans_line;         /* line of the first 'chans' line, 0 if none */
    int plan_line[IR_MAX_PLANS];    /* line of each 'plan' line */
    int *node_line;         /* [cap] line of each node */
    int cap;
    char *err;              /* the caller's message buffer */
    size_t errlen;
    char found[32];         /* scratch for found() */
} Parser;

static int fail(Parser *P, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (P->errlen) snprintf(P->err, P->errlen, "%s:%d: error: %s", P->file, P->line > 0 ? P->line : 1, msg);
    return -1;
}

/* ---- characters and tokens ---- */

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_lower(char c) { return c >= 'a' && c <= 'z'; }
static int is_alpha(char c) { return is_lower(c) || (c >= 'A' && c <= 'Z'); }
static int is_key_char(char c) { return is_lower(c) || is_digit(c) || c == '_'; }
static int is_word_char(char c) { return is_alpha(c) || is_digit(c) || c == '_' || c == '-' || c == '.'; }
static int is_number_char(char c) { return is_alpha(c) || is_digit(c) || c == '.' || c == '+' || c == '-'; }

/* Skips blanks; a ';' comment ends the line. */
static void skip_ws(Parser *P)
{
    while (P->p < P->end && is_space(*P->p)) P->p++;
    if (P->p < P->end && *P->p == ';') P->p = P->end;
}

static int at_end(Parser *P)
{
    skip_ws(P);
    return P->p >= P->end;
}

static int at_char(Parser *P, char c)
{
    skip_ws(P);
    return P->p < P->end && *P->p == c;
}

/* The text at the cursor, quoted and shortened, for messages. */
static const char *found(Parser *P)
{
    if (at_end(P)) return "end of line";
    int len = 0;
    while (P->p + len < P->end && len < 16 && !is_space(P->p[len])) len++;
    snprintf(P->found, sizeof P->found, "'%.*s'", len, P->p);
    return P->found;
}

static int accept(Parser *P, char c)
{
    if (!at_char(P, c)) return 0;
    P->p++;
    return 1;
}

static int expect(Parser *P, char c)
{
    if (accept(P, c)) return 0;
    return fail(P, "expected '%c', found %s", c, found(P));
}

static int expect_end(Parser *P)
{
    if (at_end(P)) return 0;
    return fail(P, "unexpected %s at end of line", found(P));
}

/* Reads a run of chars accepted by ok() into buf[size]. Returns its length:
 * 0 if there is none, -1 if it does not fit (the cursor moves past it). */
static int scan(Parser *P, int (*ok)(char), char *buf, size_t size)
{
    skip_ws(P);
    size_t len = 0;
    while (P->p + len < P->end && ok(P->p[len])) len++;
    int fits = len < size;
    if (fits) {
        memcpy(buf, P->p, len);
        buf[len] = 0;
    }
    P->p += len;
    return fits ? (int)len : -1;
}

/* Reads an optionally negative decimal integer in [lo, hi]. */
static int read_int(Parser *P, int64_t *v, int64_t lo, int64_t hi, const char *what)
{
    skip_ws(P);
    const char *s = P->p;
    if (s < P->end && *s == '-') s++;
    const char *digits = s;
    while (s < P->end && is_digit(*s)) s++;
    if (s == digits) return fail(P, "expected %s, found %s", what, found(P));
    char buf[32];
    size_t len = (size_t)(s - P->p);
    if (len >= sizeof buf) return fail(P, "%s out of range", what);
    memcpy(buf, P->p, len);
    buf[len] = 0;
    errno = 0;
    long long x = strtoll(buf, NULL, 10);
    if (errno == ERANGE || x < lo || x > hi) return fail(P, "%s %s out of range", what, buf);
    P->p = s;
    *v = x;
    return 0;
}

static int read_small_int(Parser *P, int *v, int lo, int hi, const char *what)
{
    int64_t x;
    if (read_int(P, &x, lo, hi, what)) return -1;
    *v = (int)x;
    return 0;
}

static char unescape(char c)
{
    switch (c) {
    case '"': return '"';
    case '\\': return '\\';
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    default: return 0;
    }
}

/* Reads a double-quoted string with escapes into buf[size]. */
static int read_string(Parser *P, char *buf, size_t size, const char *what)
{
    if (!at_char(P, '"')) return fail(P, "expected %s in double quotes, found %s", what, found(P));
    P->p++;
    size_t len = 0;
    for (;;) {
        if (P->p >= P->end) return fail(P, "unterminated string");
        char c = *P->p++;
        if (c == '"') break;
        if (c == '\\') {
            if (P->p >= P->end) return fail(P, "unterminated string");
            c = unescape(*P->p++);
            if (!c) return fail(P, "bad escape '\\%c' in string", P->p[-1]);
        }
        if (len + 1 >= size) return fail(P, "%s longer than %zu bytes", what, size - 1);
        buf[len++] = c;
    }
    buf[len] = 0;
    return 0;
}

/* ---- attributes ---- */

static int is_int_token(const char *s)
{
    if (*s == '-') s++;
    if (!*s) return 0;
    for (; *s; s++)
        if (!is_digit(*s)) return 0;
    return 1;
}

/* Reads an int or float attribute value token into a. */
static int read_number(Parser *P, IrAttr *a)
{
    const char *start = P->p;
    char tok[64];
    int len = scan(P, is_number_char, tok, sizeof tok);
    int delimited = P->p >= P->end || is_space(*P->p) || *P->p == ';';
    P->p = start;
    if (len <= 0 || !delimited) return fail(P, "attribute '%s' value malformed: %s", a->key, found(P));
    errno = 0;
    char *e;
    if (is_int_token(tok)) {
        a->kind = IR_ATTR_INT;
        a->i = strtoll(tok, &e, 10);
    } else {
        a->kind = IR_ATTR_FLOAT;
        a->f = strtod(tok, &e);
        if (*e || e == tok) return fail(P, "attribute '%s' value malformed: %s", a->key, found(P));
        if (errno == ERANGE && !isinf(a->f)) errno = 0;
    }
    if (errno == ERANGE) return fail(P, "attribute '%s' value %s out of range", a->key, tok);
    P->p += len;
    return 0;
}

/* Reads "key=value" and appends it to attr[*nattr]. */
static int read_attr(Parser *P, IrAttr *attr, int *nattr, int max)
{
    IrAttr a;
    memset(&a, 0, sizeof a);
    int len = scan(P, is_key_char, a.key, sizeof a.key);
    if (len < 0) return fail(P, "attribute name longer than %zu bytes", sizeof a.key - 1);
    if (len == 0) return fail(P, "expected attribute name, found %s", found(P));
    if (expect(P, '=')) return -1;
    if (at_char(P, '"')) {
        a.kind = IR_ATTR_STR;
        if (read_string(P, a.s, sizeof a.s, "string value")) return -1;
    } else if (read_number(P, &a)) {
        return -1;
    }
    for (int i = 0; i < *nattr; i++)
        if (strcmp(attr[i].key, a.key) == 0) return fail(P, "duplicate attribute '%s'", a.key);
    if (*nattr == max) return fail(P, "more than %d attributes", max);
    attr[(*nattr)++] = a;
    return 0;
}

/* ---- header and directive lines ---- */

static int parse_header(Parser *P)
{
    char word[16];
    if (scan(P, is_word_char, word, sizeof word) <= 0 || strcmp(word, "hetc-ir") != 0)
        return fail(P, "missing header 'hetc-ir 2'");
    int version;
    if (read_small_int(P, &version, 0, INT_MAX, "version")) return -1;
    if (version != 2) return fail(P, "unsupported version %d (expected 2)", version);
    return expect_end(P);
}

static int parse_graph_line(Parser *P, IrGraph *g)
{
    char word[16];
    if (scan(P, is_word_char, word, sizeof word) <= 0 || strcmp(word, "graph") != 0)
        return fail(P, "missing 'graph' line");
    if (read_string(P, g->model, sizeof g->model, "model name")) return -1;
    if (scan(P, is_key_char, word, sizeof word) <= 0 || strcmp(word, "arch") != 0)
        return fail(P, "expected 'arch=' after the model name");
    if (expect(P, '=') || read_string(P, g->arch, sizeof g->arch, "arch name")) return -1;
    return expect_end(P);
}

static int parse_attr_line(Parser *P, IrGraph *g)
{
    while (!at_end(P))
        if (read_attr(P, g->attr, &g->nattr, IR_MAX_GRAPH_ATTRS)) return -1;
    return 0;
}

static int parse_passes(Parser *P, IrGraph *g)
{
    while (!at_end(P)) {
        char tok[32];
        int len = scan(P, is_word_char, tok, sizeof tok);
        if (len <= 0) return fail(P, "bad pass name %s", found(P));
        size_t used = strlen(g->passes);
        if (used + (size_t)len + 2 > sizeof g->passes) return fail(P, "too many passes");
        snprintf(g->passes + used, sizeof g->passes - used, "%s%s", used ? " " : "", tok);
    }
    return 0;
}

/* key=WORD, key being the expected one, in a 'line' line. */
static int read_word_field(Parser *P, const char *line, const char *key, char *buf, size_t size)
{
    char word[16];
    skip_ws(P);
    const char *start = P->p;
    if (scan(P, is_key_char, word, sizeof word) <= 0 || strcmp(word, key) != 0 || !accept(P, '=')) {
        P->p = start;
        return fail(P, "expected '%s=' in the %s line, found %s", key, line, found(P));
    }
    int len = scan(P, is_word_char, buf, size);
    if (len < 0) return fail(P, "%s %s longer than %zu bytes", line, key, size - 1);
    if (len == 0) return fail(P, "bad %s %s %s", line, key, found(P));
    return 0;
}

/* "unit NAME kind=K backend=B mem=M key=value ...", before any node. */
static int parse_unit(Parser *P, IrGraph *g)
{
    if (g->n > 0) return fail(P, "unit lines must come before the nodes");
    if (g->nunits == IR_MAX_UNITS) return fail(P, "more than %d units", IR_MAX_UNITS);
    IrUnit *u = &g->units[g->nunits];
    memset(u, 0, sizeof *u);
    int len = scan(P, is_word_char, u->name, sizeof u->name);
    if (len < 0) return fail(P, "unit name longer than %zu bytes", sizeof u->name - 1);
    if (len == 0) return fail(P, "bad unit name %s", found(P));
    if (read_word_field(P, "unit", "kind", u->kind, sizeof u->kind) ||
        read_word_field(P, "unit", "backend", u->backend, sizeof u->backend) ||
        read_word_field(P, "unit", "mem", u->mem, sizeof u->mem))
        return -1;
    while (!at_end(P))
        if (read_attr(P, u->attr, &u->nattr, IR_MAX_UNIT_ATTRS)) return -1;
    g->nunits++;
    return 0;
}

/* "chans NAME c0 c1 ...": a channel set, before any node. */
static int parse_chans(Parser *P, IrGraph *g)
{
    if (g->n > 0) return fail(P, "chans lines must come before the nodes");
    char name[IR_NAME_LEN];
    skip_ws(P);
    if (read_string(P, name, sizeof name, "channel set name")) return -1;
    if (ir_chans_find(g, name)) return fail(P, "channel set '%s' is defined twice", name);
    int n = 0, cap = 16;
    int32_t *idx = malloc((size_t)cap * sizeof *idx);
    if (!idx) return fail(P, "out of memory");
    while (!at_end(P)) {
        int v;
        if (read_small_int(P, &v, 0, IR_MAX_CHUNK * 16, "channel")) {
            free(idx);
            return -1;
        }
        if (n && v <= idx[n - 1]) {
            int last = idx[n - 1];
            free(idx);
            return fail(P, "channel set '%s': channel %d is not above %d (channels ascend)", name, v, last);
        }
        if (n == cap) {
            int32_t *more = realloc(idx, (size_t)(cap *= 2) * sizeof *idx);
            if (!more) {
                free(idx);
                return fail(P, "out of memory");
            }
            idx = more;
        }
        idx[n++] = v;
    }
    if (!n) {
        free(idx);
        return fail(P, "channel set '%s' has no channels", name);
    }
    ir_chans_add(g, name, n, idx);
    free(idx);
    return 0;
}

/* The rest of a line of sizes, one per unit ("arena size", ...), into
 * dst[*count]. */
static int read_sizes(Parser *P, int64_t *dst, int *count, const char *what)
{
    while (!at_end(P)) {
        if (*count == IR_MAX_UNITS) return fail(P, "more than %d %ss", IR_MAX_UNITS, what);
        if (read_int(P, &dst[*count], 0, INT64_MAX, what)) return -1;
        (*count)++;
    }
    return 0;
}

static int parse_arena(Parser *P, IrGraph *g) { return read_sizes(P, g->arena, &g->narena, "arena size"); }

/* "plan NAME kind=K s=A[..B] [inflight=N]": opens the section of the plan's nodes. */
static int parse_plan(Parser *P, IrGraph *g)
{
    if (g->nplans == IR_MAX_PLANS) return fail(P, "more than %d plans", IR_MAX_PLANS);
    IrPlan *p = &g->plans[g->nplans];
    memset(p, 0, sizeof *p);
    int len = scan(P, is_word_char, p->name, sizeof p->name);
    if (len < 0) return fail(P, "plan name longer than %zu bytes", sizeof p->name - 1);
    if (len == 0) return fail(P, "bad plan name %s", found(P));
    char kind[16];
    if (read_word_field(P, "plan", "kind", kind, sizeof kind)) return -1;
    int k = ir_plan_kind_from_name(kind);
    if (k < 0) return fail(P, "plan '%s': kind '%s' is not decode, chunk or flex", p->name, kind);
    p->kind = (IrPlanKind)k;
    char word[16];
    skip_ws(P);
    const char *start = P->p;
    if (scan(P, is_key_char, word, sizeof word) <= 0 || strcmp(word, "s") != 0 || !accept(P, '=')) {
        P->p = start;
        return fail(P, "expected 's=' in the plan line, found %s", found(P));
    }
    if (read_int(P, &p->s_min, 1, IR_MAX_CHUNK, "plan size")) return -1;
    p->s_max = p->s_min;
    if (accept(P, '.')) {
        if (expect(P, '.') || read_int(P, &p->s_max, 1, IR_MAX_CHUNK, "plan size")) return -1;
    }
    skip_ws(P);
    start = P->p;
    if (scan(P, is_key_char, word, sizeof word) > 0) {
        int64_t v;
        if (strcmp(word, "inflight") != 0 || !accept(P, '=')) {
            P->p = start;
            return fail(P, "expected 'inflight=' or the end of the plan line, found %s", found(P));
        }
        if (read_int(P, &v, 1, 2, "chunks in flight")) return -1;
        p->inflight = (int)v;
    }
    g->nplans++;
    return expect_end(P);
}

static int parse_kv(Parser *P, IrGraph *g) { return read_sizes(P, g->kv, &g->nkv, "KV size"); }
static int parse_ws(Parser *P, IrGraph *g) { return read_sizes(P, g->ws, &P->nws, "workspace size"); }

/* ---- node lines ---- */

static int parse_operands(Parser *P, IrNode *n)
{
    if (expect(P, '(')) return -1;
    if (accept(P, ')')) return 0;
    do {
        int64_t id;
        if (expect(P, '%') || read_int(P, &id, INT64_MIN, INT64_MAX, "operand id")) return -1;
        if (id < 0 || id >= n->id) return fail(P, "operand %%%lld not defined before use", (long long)id);
        if (n->nin == IR_MAX_IN) return fail(P, "more than %d operands", IR_MAX_IN);
        n->in[n->nin++] = (int)id;
    } while (accept(P, ','));
    return expect(P, ')');
}

static int read_dim(Parser *P, int64_t *v)
{
    skip_ws(P);
    char c = P->p < P->end ? *P->p : 0;
    if (c == 'S' || c == 'R') {
        P->p++;
        *v = c == 'S' ? IR_DIM_S : IR_DIM_R;
        return 0;
    }
    if (!is_digit(c)) return fail(P, "bad dimension %s", found(P));
    if (read_int(P, v, INT64_MIN, INT64_MAX, "dimension")) return -1;
    if (*v <= 0) return fail(P, "bad dimension %lld", (long long)*v);
    return 0;
}

static int parse_shape(Parser *P, IrNode *n)
{
    if (expect(P, '[')) return -1;
    if (accept(P, ']')) return 0;
    do {
        if (n->ndim == IR_MAX_DIMS) return fail(P, "more than %d dimensions", IR_MAX_DIMS);
        if (read_dim(P, &n->dim[n->ndim++])) return -1;
    } while (accept(P, ','));
    return expect(P, ']');
}

/* A name of the op table or the dtypes (from_name), its index in *out;
 * what: the thing expected, bad: the error for an unknown name. */
static int parse_name(Parser *P, const char *what, const char *bad, int (*from_name)(const char *), int *out)
{
    char word[32];
    int len = scan(P, is_word_char, word, sizeof word);
    if (len == 0) return fail(P, "expected %s, found %s", what, found(P));
    *out = len < 0 ? -1 : from_name(word);
    if (*out < 0) return fail(P, "%s '%s'", bad, len < 0 ? "(too long)" : word);
    return 0;
}

/* The optional " unit=U sub=K offset=O kv_offset=F" after the node name. */
static int parse_placement(Parser *P, const IrGraph *g, IrNode *n)
{
    while (!at_end(P)) {
        const char *start = P->p;
        char key[16];
        if (scan(P, is_key_char, key, sizeof key) <= 0 || !accept(P, '=')) {
            P->p = start;
            return fail(P, "unexpected %s after the node name", found(P));
        }
        if (strcmp(key, "unit") == 0 && n->unit < 0) {
            char name[16];
            int len = scan(P, is_word_char, name, sizeof name);
            if (len <= 0) return fail(P, "bad unit name %s", found(P));
            n->unit = ir_unit_find(g, name);
            if (n->unit < 0) return fail(P, "unknown unit '%s' (no 'unit %s' line)", name, name);
        } else if (strcmp(key, "sub") == 0 && n->sub < 0) {
            if (read_small_int(P, &n->sub, 0, INT_MAX, "subgraph")) return -1;
        } else if (strcmp(key, "offset") == 0 && n->offset < 0) {
            if (read_int(P, &n->offset, 0, INT64_MAX, "offset")) return -1;
        } else if (strcmp(key, "kv_offset") == 0 && n->kv_offset < 0) {
            if (read_int(P, &n->kv_offset, 0, INT64_MAX, "KV offset")) return -1;
        } else {
            return fail(P, "unexpected or repeated '%s=' after the node name", key);
        }
    }
    return 0;
}

static int parse_node_id(Parser *P, IrGraph *g, IrNode *n)
{
    if (read_small_int(P, &n->id, 0, INT_MAX, "node id")) return -1;
    if (n->id < g->n) return fail(P, "duplicate node id %%%d", n->id);
    if (n->id > g->n) return fail(P, "node ids not consecutive from 0: expected %%%d, found %%%d", g->n, n->id);
    return expect(P, '=');
}

/* A node line after its leading '%'. */
static int parse_node(Parser *P, IrGraph *g)
{
    IrNode n;
    memset(&n, 0, sizeof n);
    n.unit = -1;
    n.offset = -1;
    n.sub = -1;
    n.kv_offset = -1;
    int op, dtype;
    if (parse_node_id(P, g, &n) || parse_name(P, "op name", "unknown op", ir_op_from_name, &op)) return -1;
    n.op = (IrOp)op;
    if (parse_operands(P, &n)) return -1;
    while (!at_end(P) && is_key_char(*P->p))
        if (read_attr(P, n.attr, &n.nattr, IR_MAX_ATTRS)) return -1;
    if (expect(P, ':') || parse_shape(P, &n) || parse_name(P, "dtype", "bad dtype", ir_dtype_from_name, &dtype)) return -1;
    n.dtype = (IrDtype)dtype;
    if (expect(P, '@') || read_small_int(P, &n.layer, INT_MIN, INT_MAX, "layer")) return -1;
    if (read_string(P, n.name, sizeof n.name, "node name") || parse_placement(P, g, &n)) return -1;
    if (g->n == P->cap) {
        int cap = P->cap ? P->cap * 2 : 64;
        int *lines = realloc(P->node_line, (size_t)cap * sizeof *lines);
        if (!lines) return fail(P, "out of memory at node %%%d", g->n);
        P->node_line = lines;
        P->cap = cap;
    }
    P->node_line[g->n] = P->line;
    int id = ir_add(g, n.op, n.nin, n.in, n.ndim, n.dim, n.dtype, n.layer, n.name);
    IrNode *dst = &g->nodes[id];
    memcpy(dst->attr, n.attr, sizeof n.attr);
    dst->nattr = n.nattr;
    dst->unit = n.unit;
    dst->offset = n.offset;
    dst->sub = n.sub;
    dst->kv_offset = n.kv_offset;
    dst->plan = g->nplans - 1;
    return 0;
}

/* ---- lines ---- */

typedef struct {
    const char *name;                       /* first word of the line */
    int (*parse)(Parser *, IrGraph *);      /* reads the rest */
} Directive;

static const Directive directives[] = {
    {"attr", parse_attr_line},
    {"passes", parse_passes},
    {"arena", parse_arena},
    {"kv", parse_kv},
    {"ws", parse_ws},
};
_Static_assert(sizeof directives / sizeof directives[0] == sizeof ((Parser *)0)->dir_line / sizeof(int),
               "one dir_line per directive");

static int parse_body_line(Parser *P, IrGraph *g)
{
    if (accept(P, '%')) return parse_node(P, g);
    const char *start = P->p;
    char word[16];
    if (scan(P, is_word_char, word, sizeof word) > 0) {
        if (strcmp(word, "unit") == 0) {
            if (!P->unit_line) P->unit_line = P->line;
            return parse_unit(P, g);
        }
        if (strcmp(word, "chans") == 0) {
            if (!P->chans_line) P->chans_line = P->line;
            return parse_chans(P, g);
        }
        if (strcmp(word, "plan") == 0) {
            if (g->nplans < IR_MAX_PLANS) P->plan_line[g->nplans] = P->line;
            return parse_plan(P, g);
        }
        for (unsigned i = 0; i < sizeof directives / sizeof directives[0]; i++) {
            if (strcmp(word, directives[i].name) != 0) continue;
            if (P->seen & (1u << i)) return fail(P, "duplicate '%s' line", word);
            P->seen |= 1u << i;
            P->dir_line[i] = P->line;
            return directives[i].parse(P, g);
        }
    }
    P->p = start;
    return fail(P, "expected a node or a directive, found %s", found(P));
}

/* The line of directive name (a graph-level fault), else of 'passes', else
 * of the 'graph' line. */
static int fault_line(const Parser *P, const char *name, int plan)
{
    int passes = 0;
    if (name && strcmp(name, "units") == 0 && P->unit_line) return P->unit_line;
    if (name && strcmp(name, "chans") == 0 && P->chans_line) return P->chans_line;
    if (name && strcmp(name, "plan") == 0) {
        if (plan < 0) plan = 0;
        if (plan < IR_MAX_PLANS && P->plan_line[plan]) return P->plan_line[plan];
    }
    for (unsigned i = 0; i < sizeof directives / sizeof directives[0]; i++) {
        if (name && strcmp(directives[i].name, name) == 0 && P->dir_line[i]) return P->dir_line[i];
        if (strcmp(directives[i].name, "passes") == 0) passes = P->dir_line[i];
    }
    return passes ? passes : P->graph_line;
}

/* Parses every line; 'stage' counts the header lines read so far (0..2). */
static int parse_lines(Parser *P, IrGraph *g, const char *text)
{
    int stage = 0;
    const char *s = text;
    while (*s) {
        const char *nl = strchr(s, '\n');
        P->line++;
        P->p = s;
        P->end = nl ? nl : s + strlen(s);
        s = nl ? nl + 1 : P->end;
        if (at_end(P)) continue;
        int rc = stage == 0 ? parse_header(P) : stage == 1 ? parse_graph_line(P, g) : parse_body_line(P, g);
        if (rc) return -1;
        if (stage == 1) P->graph_line = P->line;
        if (stage < 2) stage++;
    }
    if (stage == 0) return fail(P, "missing header 'hetc-ir 2'");
    if (stage == 1) return fail(P, "missing 'graph' line");
    return 0;
}

int ir_parse(IrGraph *g, const char *text, const char *filename, char *err, size_t errlen)
{
    Parser P;
    memset(&P, 0, sizeof P);
    P.file = filename ? filename : "<input>";
    P.err = err;
    P.errlen = err ? errlen : 0;
    ir_graph_init(g, "", "");
    int rc = parse_lines(&P, g, text ? text : "");
    if (rc == 0 && P.nws != g->nkv) {
        P.line = fault_line(&P, P.nws ? "ws" : "kv", -1);
        rc = fail(&P, "graph: %d workspace sizes for %d KV sizes", P.nws, g->nkv);
    }
    if (rc == 0) {
        char msg[512];
        IrFault at;
        rc = ir_verify_at(g, &at, msg, sizeof msg);
        if (rc) {
            P.line = at.node >= 0 ? P.node_line[at.node] : fault_line(&P, at.line, at.plan);
            fail(&P, "%s", msg);
        }
    }
    free(P.node_line);
    if (rc) ir_graph_free(g);
    return rc ? -1 : 0;
}
