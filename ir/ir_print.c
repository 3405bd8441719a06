/* ir_print.c: writes a graph in the text form that ir_parse reads back (see
 * ir.h). Printing is deterministic, and print(parse(print(g))) == print(g):
 * floats print with %.9g and always carry a '.', 'e', "inf" or "nan" so that
 * they never read back as ints; strings are quoted with '"', '\\', newline
 * and carriage return escaped.
 */
#include "ir.h"

#include <stdlib.h>
#include <string.h>

static void print_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        switch (*s) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        default: fputc(*s, f);
        }
    }
    fputc('"', f);
}

static void print_float(FILE *f, double v)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%.9g", v);
    fputs(buf, f);
    if (!strpbrk(buf, ".eni")) fputs(".0", f);
}

static void print_attrs(FILE *f, const IrAttr *attr, int nattr)
{
    for (int i = 0; i < nattr; i++) {
        const IrAttr *a = &attr[i];
        fprintf(f, " %s=", a->key);
        switch (a->kind) {
        case IR_ATTR_INT: fprintf(f, "%lld", (long long)a->i); break;
        case IR_ATTR_FLOAT: print_float(f, a->f); break;
        case IR_ATTR_STR: print_str(f, a->s); break;
        default: IR_BUG("attribute '%s' has bad kind %d", a->key, (int)a->kind);
        }
    }
}

/* "key v0 v1 ...": a size per unit; nothing when there are none. */
static void print_sizes(FILE *f, const char *key, const int64_t *v, int n)
{
    if (!n) return;
    fputs(key, f);
    for (int u = 0; u < n; u++) fprintf(f, " %lld", (long long)v[u]);
    fputc('\n', f);
}

static void print_header(FILE *f, const IrGraph *g)
{
    fputs("hetc-ir 2\ngraph ", f);
    print_str(f, g->model);
    fputs(" arch=", f);
    print_str(f, g->arch);
    fputc('\n', f);
    if (g->nattr) {
        fputs("attr", f);
        print_attrs(f, g->attr, g->nattr);
        fputc('\n', f);
    }
    if (g->passes[0]) fprintf(f, "passes %s\n", g->passes);
    for (int u = 0; u < g->nunits; u++) {
        const IrUnit *un = &g->units[u];
        fprintf(f, "unit %s kind=%s backend=%s mem=%s", un->name, un->kind, un->backend, un->mem);
        print_attrs(f, un->attr, un->nattr);
        fputc('\n', f);
    }
    print_sizes(f, "arena", g->arena, g->narena);
    print_sizes(f, "kv", g->kv, g->nkv);
    print_sizes(f, "ws", g->ws, g->nkv);
    for (int i = 0; i < g->nchans; i++) {
        fputs("chans ", f);
        print_str(f, g->chans[i].name);
        for (int k = 0; k < g->chans[i].n; k++) fprintf(f, " %d", (int)g->chans[i].idx[k]);
        fputc('\n', f);
    }
}

static void print_node(FILE *f, const IrGraph *g, const IrNode *n)
{
    fprintf(f, "%%%d = %s(", n->id, ir_op_name(n->op));
    for (int k = 0; k < n->nin; k++) fprintf(f, "%s%%%d", k ? ", " : "", n->in[k]);
    fputc(')', f);
    print_attrs(f, n->attr, n->nattr);
    fputs(" : ", f);
    char shape[IR_SHAPE_LEN];
    fputs(ir_shape_str(n, shape), f);
    fprintf(f, " %s @%d ", ir_dtype_name(n->dtype), n->layer);
    print_str(f, n->name);
    if (n->unit >= 0) fprintf(f, " unit=%s", g->units[n->unit].name);
    if (n->sub >= 0) fprintf(f, " sub=%d", n->sub);
    if (n->offset >= 0) fprintf(f, " offset=%lld", (long long)n->offset);
    if (n->kv_offset >= 0) fprintf(f, " kv_offset=%lld", (long long)n->kv_offset);
    fputc('\n', f);
}

static void print_plan(FILE *f, const IrPlan *p)
{
    fprintf(f, "plan %s kind=%s s=%lld", p->name, ir_plan_kind_name(p->kind), (long long)p->s_min);
    if (p->s_max != p->s_min) fprintf(f, "..%lld", (long long)p->s_max);
    if (p->inflight > 1) fprintf(f, " inflight=%d", p->inflight);
    fputc('\n', f);
}

void ir_print(FILE *f, const IrGraph *g)
{
    print_header(f, g);
    int plan = -1;
    for (int i = 0; i < g->n; i++) {
        const IrNode *n = &g->nodes[i];
        while (n->plan > plan && plan + 1 < g->nplans) print_plan(f, &g->plans[++plan]);
        print_node(f, g, n);
    }
    while (plan + 1 < g->nplans) print_plan(f, &g->plans[++plan]);
}

char *ir_print_str(const IrGraph *g)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) IR_BUG("open_memstream failed");
    ir_print(f, g);
    if (fclose(f) != 0) IR_BUG("writing the text form to memory failed");
    return buf;
}
