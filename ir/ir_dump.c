/* ir_dump.c: machine- and eye-readable dumps of a graph: JSON (written by
 * hand, as hetc_ir does not link json-c) for tools, and Graphviz DOT with
 * one cluster per decoder layer for looking at the graph.
 */
#include "ir.h"

#include <math.h>
#include <string.h>

/* ---- JSON ---- */

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20) fprintf(f, "\\u%04x", *p);
            else fputc(*p, f);
        }
    }
    fputc('"', f);
}

/* Finite floats as in the text form (always with '.' or 'e'); others null. */
static void json_float(FILE *f, double v)
{
    if (!isfinite(v)) {
        fputs("null", f);
        return;
    }
    char buf[64];
    snprintf(buf, sizeof buf, "%.9g", v);
    fputs(buf, f);
    if (!strpbrk(buf, ".e")) fputs(".0", f);
}

static void json_attrs(FILE *f, const IrAttr *attr, int nattr)
{
    fputc('{', f);
    for (int i = 0; i < nattr; i++) {
        const IrAttr *a = &attr[i];
        if (i) fputc(',', f);
        json_str(f, a->key);
        fputc(':', f);
        if (a->kind == IR_ATTR_INT) fprintf(f, "%lld", (long long)a->i);
        else if (a->kind == IR_ATTR_FLOAT) json_float(f, a->f);
        else json_str(f, a->s);
    }
    fputc('}', f);
}

static void json_shape(FILE *f, const IrNode *n)
{
    fputc('[', f);
    for (int d = 0; d < n->ndim; d++) {
        if (d) fputc(',', f);
        if (n->dim[d] == IR_DIM_S) fputs("\"S\"", f);
        else if (n->dim[d] == IR_DIM_R) fputs("\"R\"", f);
        else fprintf(f, "%lld", (long long)n->dim[d]);
    }
    fputc(']', f);
}

static void json_node(FILE *f, const IrGraph *g, const IrNode *n)
{
    fprintf(f, "{\"id\":%d,\"op\":", n->id);
    json_str(f, ir_op_name(n->op));
    fputs(",\"inputs\":[", f);
    for (int k = 0; k < n->nin; k++) fprintf(f, "%s%d", k ? "," : "", n->in[k]);
    fputs("],\"attrs\":", f);
    json_attrs(f, n->attr, n->nattr);
    fputs(",\"shape\":", f);
    json_shape(f, n);
    fprintf(f, ",\"dtype\":\"%s\",\"layer\":%d,\"name\":", ir_dtype_name(n->dtype), n->layer);
    json_str(f, n->name);
    fputs(",\"unit\":", f);
    if (n->unit >= 0) json_str(f, g->units[n->unit].name);
    else fputs("null", f);
    fprintf(f, ",\"plan\":%d,\"sub\":%d,\"offset\":%lld,\"kv_offset\":%lld}", n->plan, n->sub, (long long)n->offset,
            (long long)n->kv_offset);
}

/* ,"key":[v0,v1,...]: a size per unit. */
static void json_sizes(FILE *f, const char *key, const int64_t *v, int n)
{
    fprintf(f, ",\"%s\":[", key);
    for (int u = 0; u < n; u++) fprintf(f, "%s%lld", u ? "," : "", (long long)v[u]);
    fputc(']', f);
}

void ir_dump_json(FILE *f, const IrGraph *g)
{
    fputs("{\"version\":2,\"model\":", f);
    json_str(f, g->model);
    fputs(",\"arch\":", f);
    json_str(f, g->arch);
    fputs(",\"attrs\":", f);
    json_attrs(f, g->attr, g->nattr);
    fputs(",\"units\":[", f);
    for (int u = 0; u < g->nunits; u++) {
        if (u) fputc(',', f);
        const IrUnit *un = &g->units[u];
        fputs("{\"name\":", f);
        json_str(f, un->name);
        fputs(",\"kind\":", f);
        json_str(f, un->kind);
        fputs(",\"backend\":", f);
        json_str(f, un->backend);
        fputs(",\"mem\":", f);
        json_str(f, un->mem);
        fputs(",\"attrs\":", f);
        json_attrs(f, un->attr, un->nattr);
        fputc('}', f);
    }
    fprintf(f, "],\"passes\":\"%s\"", g->passes);
    json_sizes(f, "arena", g->arena, g->narena);
    json_sizes(f, "kv", g->kv, g->nkv);
    json_sizes(f, "ws", g->ws, g->nkv);
    fputs(",\"plans\":[", f);
    for (int p = 0; p < g->nplans; p++) {
        fputs(p ? ",{\"name\":" : "{\"name\":", f);
        json_str(f, g->plans[p].name);
        fprintf(f, ",\"kind\":\"%s\",\"s_min\":%lld,\"s_max\":%lld}", ir_plan_kind_name(g->plans[p].kind),
                (long long)g->plans[p].s_min, (long long)g->plans[p].s_max);
    }
    fputs("],\"nodes\":[", f);
    for (int i = 0; i < g->n; i++) {
        fputs(i ? ",\n" : "\n", f);
        json_node(f, g, &g->nodes[i]);
    }
    fputs("\n]}\n", f);
}

/* ---- DOT ---- */

/* Writes s escaped for the inside of a DOT double-quoted string. */
static void dot_escaped(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        if (*s == '\n') fputs("\\n", f);
        else fputc(*s, f);
    }
}

static void dot_node(FILE *f, const IrNode *n, const char *indent)
{
    fprintf(f, "%sn%d [label=\"%%%d %s\\n", indent, n->id, n->id, ir_op_name(n->op));
    dot_escaped(f, n->name);
    char shape[IR_SHAPE_LEN];
    fprintf(f, "\\n%s %s\"%s];\n", ir_shape_str(n, shape), ir_dtype_name(n->dtype),
            n->op == IR_OP_WEIGHT ? ", shape=ellipse" : "");
}

/* Whether node i is the first of its layer. */
static int opens_layer(const IrGraph *g, int i)
{
    for (int j = 0; j < i; j++)
        if (g->nodes[j].layer == g->nodes[i].layer) return 0;
    return 1;
}

/* The cluster of the layer that node 'first' opens. */
static void dot_cluster(FILE *f, const IrGraph *g, int first)
{
    int layer = g->nodes[first].layer;
    fprintf(f, "  subgraph cluster_L%d {\n    label=\"layer %d\";\n", layer, layer);
    for (int i = first; i < g->n; i++)
        if (g->nodes[i].layer == layer) dot_node(f, &g->nodes[i], "    ");
    fputs("  }\n", f);
}

/* With plans: a cluster per plan (its layers are too many to nest). */
static void dot_plans(FILE *f, const IrGraph *g)
{
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].plan < 0) dot_node(f, &g->nodes[i], "  ");
    for (int p = 0; p < g->nplans; p++) {
        fprintf(f, "  subgraph cluster_P%d {\n    label=\"plan ", p);
        dot_escaped(f, g->plans[p].name);
        fputs("\";\n", f);
        for (int i = 0; i < g->n; i++)
            if (g->nodes[i].plan == p) dot_node(f, &g->nodes[i], "    ");
        fputs("  }\n", f);
    }
}

void ir_dump_dot(FILE *f, const IrGraph *g)
{
    fputs("digraph \"", f);
    dot_escaped(f, g->model);
    fputs("\" {\n  node [shape=box, fontname=\"monospace\"];\n", f);
    if (g->nplans) dot_plans(f, g);
    for (int i = 0; i < g->n && !g->nplans; i++)
        if (g->nodes[i].layer < 0) dot_node(f, &g->nodes[i], "  ");
    for (int i = 0; i < g->n && !g->nplans; i++)
        if (g->nodes[i].layer >= 0 && opens_layer(g, i)) dot_cluster(f, g, i);
    for (int i = 0; i < g->n; i++)
        for (int k = 0; k < g->nodes[i].nin; k++) fprintf(f, "  n%d -> n%d;\n", g->nodes[i].in[k], i);
    fputs("}\n", f);
}
