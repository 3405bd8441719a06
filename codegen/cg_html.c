/* cg_html.c: `hetc compile --report report.html`: what the compiler
 * decided, for people. One self-contained HTML file (inline CSS, SVG, no
 * script, nothing fetched), readable in any browser or offline:
 *
 *   - the target's units with their figures (measured ones where a
 *     profile gave them), memory spaces and arena sizes;
 *   - per plan (section id "plan-NAME"):
 *       linears: every linear with its weight, unit, rows, partition
 *         (the parts of a split and the join that gathers them, with the
 *         solver's choice and predicted time) and predicted time;
 *       schedule: a Gantt chart per unit of one step (two chunks of a
 *         chunk plan where pass schedule ordered them out of order),
 *         timed as hetc simulate times it;
 *       memory: per unit, the arena's buffers by offset (vertical) and
 *         lifetime in the plan's node order (horizontal);
 *   - quantisation and outliers: each int8 input's scale, pass outliers'
 *     decision, the channels its shadows cover.
 * Times come from the cost model (ir_cost.c) at the plan's rows: S = 1
 * for decode, its static size for a chunk, its largest for flex; at cache
 * position S (a chunk after the first) or 256 (decode). Everything is
 * read from the IR after memplan; nothing depends on the time of day, so
 * two reports of one compile are the same bytes.
 */
#include "cg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum { GANTT_W = 1000, LANE_H = 26, MEM_W = 1000, MEM_H = 220, MAX_SPANS = 1 << 16 };

static const char *const colors[] = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759",
                                     "#76b7b2", "#edc948", "#b07aa1", "#ff9da7"};

typedef struct {
    FILE *f;
    const IrGraph *g;
    const IrCost *cost;
} Html;

static void esc(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

static void human_bytes(double b, char *buf, size_t cap)
{
    if (b >= 1e9) snprintf(buf, cap, "%.2f GB", b / 1e9);
    else if (b >= 1e6) snprintf(buf, cap, "%.2f MB", b / 1e6);
    else if (b >= 1e3) snprintf(buf, cap, "%.1f kB", b / 1e3);
    else snprintf(buf, cap, "%.0f B", b);
}

static void human_us(double us, char *buf, size_t cap)
{
    if (us >= 1e6) snprintf(buf, cap, "%.2f s", us / 1e6);
    else if (us >= 1e3) snprintf(buf, cap, "%.2f ms", us / 1e3);
    else snprintf(buf, cap, "%.1f µs", us);
}

static const char style[] =
    "body{font:14px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:1180px;color:#222;padding:0 1em}\n"
    "h1{font-size:1.5em}h2{border-bottom:2px solid #4e79a7;padding-bottom:2px;margin-top:2em}\n"
    "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 7px;text-align:right}\n"
    "th{background:#eef2f7}td.l,th.l{text-align:left}tr.join td{background:#f6f1e7;font-style:italic}\n"
    "svg{display:block;margin:.5em 0;background:#fafafa;border:1px solid #ddd}\n"
    "svg text{font:11px system-ui,sans-serif;fill:#333}.note{color:#666;font-size:.92em}\n"
    "nav a{margin-right:1em}code{background:#f2f2f2;padding:0 3px}summary{cursor:pointer;margin:.6em 0;font-weight:600}\n";

/* The rows and cache position a plan's step is shown at. */
static void plan_step(const IrGraph *g, int p, int64_t *S, int64_t *P)
{
    const IrPlan *pl = &g->plans[p];
    *S = pl->kind == IR_PLAN_DECODE ? 1 : pl->s_max;
    int64_t ctx = ir_graph_int(g, "max_ctx", 512);
    *P = pl->kind == IR_PLAN_DECODE ? (ctx > 257 ? 256 : ctx / 2) : (*S * 2 <= ctx ? *S : 0);
}

static void write_units(Html *h)
{
    FILE *f = h->f;
    const IrGraph *g = h->g;
    fputs("<section id=\"units\"><h2>Units</h2>\n<table><tr><th class=\"l\">unit</th><th class=\"l\">kind</th>"
          "<th class=\"l\">backend</th><th class=\"l\">memory</th><th class=\"l\">settings and figures</th>"
          "<th>arena</th><th>KV cache per token</th></tr>\n", f);
    for (int u = 0; u < g->nunits; u++) {
        const IrUnit *un = &g->units[u];
        char a[32], kv[32];
        human_bytes((double)(u < g->narena ? g->arena[u] : 0), a, sizeof a);
        human_bytes(2.0 * (double)(u < g->nkv ? g->kv[u] : 0) * 4, kv, sizeof kv);
        fprintf(f, "<tr><td class=\"l\"><span style=\"color:%s\">&#9632;</span> ", colors[u % 8]);
        esc(f, un->name);
        fprintf(f, "</td><td class=\"l\">%s</td><td class=\"l\">%s</td><td class=\"l\">", un->kind, un->backend);
        esc(f, un->mem);
        fputs("</td><td class=\"l\">", f);
        for (int i = 0; i < un->nattr; i++) {
            const IrAttr *at = &un->attr[i];
            fprintf(f, "%s%s=", i ? " " : "", at->key);
            if (at->kind == IR_ATTR_INT) fprintf(f, "%lld", (long long)at->i);
            else if (at->kind == IR_ATTR_FLOAT) fprintf(f, "%g", at->f);
            else esc(f, at->s);
        }
        fprintf(f, "</td><td>%s</td><td>%s</td></tr>\n", a, kv);
    }
    fputs("</table></section>\n", f);
}

/* The part of a split that linear n computes: its weight's rows, or its input's rows. */
static void part_text(const IrGraph *g, const IrNode *n, char *buf, size_t cap)
{
    const IrNode *w = &g->nodes[n->in[1]];
    const IrNode *x = &g->nodes[n->in[0]];
    while (x->op == IR_OP_QUANT) x = &g->nodes[x->in[0]];
    if (ir_attr(w, "row0"))
        snprintf(buf, cap, "W rows %lld&ndash;%lld", (long long)ir_attr_int(w, "row0"),
                 (long long)(ir_attr_int(w, "row0") + w->dim[0] - 1));
    else if (x->op == IR_OP_ROWS)
        snprintf(buf, cap, "x rows %lld&ndash;%lld", (long long)ir_attr_int(x, "row0"),
                 (long long)(ir_attr_int(x, "row0") + x->dim[0] - 1));
    else snprintf(buf, cap, "part");
}

static void write_linears(Html *h, int p, int64_t S, int64_t P)
{
    FILE *f = h->f;
    const IrGraph *g = h->g;
    int count = 0, splits = 0;
    unsigned char *part = calloc((size_t)g->n + 1, 1);     /* part[i]: a join gathers node i's result */
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].plan == p) {
            count += g->nodes[i].op == IR_OP_LINEAR || g->nodes[i].op == IR_OP_QLINEAR;
            if (g->nodes[i].op != IR_OP_JOIN) continue;
            splits++;
            for (int k = 0; k < g->nodes[i].nin; k++) part[g->nodes[i].in[k]] = 1;
        }
    fprintf(f, "<details class=\"linears\"%s><summary>Linears: %d, %d of them split between units</summary>\n",
            splits ? " open" : "", count, splits);
    fputs("<table class=\"linears\"><tr><th>layer</th><th class=\"l\">linear</th>"
          "<th class=\"l\">weight</th><th class=\"l\">unit</th><th>rows</th><th class=\"l\">partition</th>"
          "<th>predicted</th></tr>\n", f);
    for (int i = 0; i < g->n; i++) {
        const IrNode *n = &g->nodes[i];
        if (n->plan != p || (n->op != IR_OP_LINEAR && n->op != IR_OP_QLINEAR && n->op != IR_OP_JOIN)) continue;
        char t[32], split[96] = "one unit", rows[24];
        human_us(n->op == IR_OP_JOIN ? (ir_attr(n, "us") ? ir_attr_float(n, "us") : 0) : ir_cost_node(h->cost, n, S, P).us,
                 t, sizeof t);
        int64_t r = n->dim[0] > 0 ? n->dim[0] : S;
        snprintf(rows, sizeof rows, "%lld", (long long)r);
        if (n->op == IR_OP_JOIN) {
            fprintf(f, "<tr class=\"join\"><td>%d</td><td class=\"l\">", n->layer);
            esc(f, n->name);
            fprintf(f, "</td><td class=\"l\">join, axis %lld</td><td class=\"l\">%s</td><td>%s</td><td class=\"l\">"
                       "split: %s</td><td>%s</td></tr>\n", (long long)ir_attr_int(n, "axis"), g->units[n->unit].name,
                    rows, ir_attr(n, "part") ? ir_attr_str(n, "part") : "-", t);
            continue;
        }
        if (part[i]) part_text(g, n, split, sizeof split);
        const IrNode *w = &g->nodes[n->in[1]];
        fprintf(f, "<tr><td>%d</td><td class=\"l\">", n->layer);
        esc(f, n->name);
        fprintf(f, "</td><td class=\"l\">%lld&times;%lld %s</td><td class=\"l\">%s</td><td>%s</td>"
                   "<td class=\"l\">%s</td><td>%s</td></tr>\n", (long long)w->dim[0], (long long)w->dim[1],
                ir_dtype_name(w->dtype), g->units[n->unit].name, rows, split, t);
    }
    fputs("</table></details>\n", f);
    free(part);
}

enum { LABEL = 256 };

/* Per subgraph of plan p (label + s * LABEL): its ops, then the names of
 * its first and last node. Returns the labels (malloc'd). */
static char *sub_labels(const IrGraph *g, int p)
{
    int nsub = 0;
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].plan == p && g->nodes[i].sub + 1 > nsub) nsub = g->nodes[i].sub + 1;
    char *label = calloc((size_t)nsub + 1, LABEL);
    const char **first = calloc(2 * (size_t)nsub + 1, sizeof *first), **last = first + nsub;
    for (int i = 0; i < g->n; i++) {
        const IrNode *n = &g->nodes[i];
        if (n->plan != p || n->sub < 0) continue;
        char *buf = label + (size_t)n->sub * LABEL;
        size_t len = strlen(buf);
        if (!first[n->sub]) first[n->sub] = n->name;
        last[n->sub] = n->name;
        if (len + 24 < LABEL && !strstr(buf, ir_op_name(n->op)))
            snprintf(buf + len, LABEL - len, "%s%s", len ? " " : "", ir_op_name(n->op));
    }
    for (int s = 0; s < nsub; s++) {
        char *buf = label + (size_t)s * LABEL;
        size_t len = strlen(buf);
        if (first[s] && len + 8 < LABEL) snprintf(buf + len, LABEL - len, " (%s .. %s)", first[s], last[s]);
    }
    free(first);
    return label;
}

static void write_gantt(Html *h, int p, int64_t S, int64_t P)
{
    FILE *f = h->f;
    const IrGraph *g = h->g;
    int ooo = g->plans[p].inflight > 1;
    int steps = ooo ? 2 : 1;
    IrSimSpan *sp = malloc(MAX_SPANS * sizeof *sp);
    int n = ir_sim_spans(h->cost, p, S, P, steps, sp, MAX_SPANS);
    if (n > MAX_SPANS) n = MAX_SPANS;
    double total = 0;
    for (int i = 0; i < n; i++)
        if (sp[i].end > total) total = sp[i].end;
    char t[32];
    human_us(total, t, sizeof t);
    fprintf(f, "<h3>Schedule</h3>\n<p class=\"note\">%s of %lld rows at cache position %lld: %s%s. Each bar is a "
               "subgraph (hover for its ops and times).</p>\n",
            steps == 2 ? "Two steps" : "One step", (long long)S, (long long)P, t,
            ooo ? "; out of order (the second chunk's bars lighter)" : "");
    int lanes = g->nunits, height = lanes * LANE_H + 30, left = 70;
    fprintf(f, "<svg class=\"gantt\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "viewBox=\"0 0 %d %d\">\n", GANTT_W, height, GANTT_W, height);
    double scale = total > 0 ? (GANTT_W - left - 10) / total : 0;
    for (int u = 0; u < lanes; u++) {
        fprintf(f, "<text x=\"4\" y=\"%d\">", u * LANE_H + 18);
        esc(f, g->units[u].name);
        fputs("</text>\n", f);
    }
    for (int k = 0; k <= 4; k++) {
        double x = left + scale * total * k / 4;
        human_us(total * k / 4, t, sizeof t);
        fprintf(f, "<line x1=\"%.1f\" y1=\"0\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ccc\"/><text x=\"%.1f\" y=\"%d\"%s>%s"
                   "</text>\n", x, x, lanes * LANE_H, k == 4 ? x - 2 : x + 2, lanes * LANE_H + 16,
                k == 4 ? " text-anchor=\"end\"" : "", t);
    }
    char *label = sub_labels(g, p);
    for (int i = 0; i < n; i++) {
        double x = left + sp[i].start * scale, w = (sp[i].end - sp[i].start) * scale;
        fprintf(f, "<rect class=\"sub\" x=\"%.2f\" y=\"%d\" width=\"%.2f\" height=\"%d\" fill=\"%s\" "
                   "fill-opacity=\"%s\" stroke=\"#fff\" stroke-width=\"0.5\"><title>%s, step %d, subgraph %d: ",
                x, sp[i].unit * LANE_H + 3, w > 0.5 ? w : 0.5, LANE_H - 6, colors[sp[i].unit % 8],
                sp[i].step ? "0.5" : "0.95", g->units[sp[i].unit].name, sp[i].step, sp[i].sub);
        esc(f, label + (size_t)sp[i].sub * LABEL);
        fprintf(f, "; %.1f to %.1f µs</title></rect>\n", sp[i].start, sp[i].end);
    }
    fputs("</svg>\n", f);
    free(label);
    free(sp);
}

/* Per unit: the plan's buffers in its arena (offset up, node order across). */
static void write_memory(Html *h, int p)
{
    FILE *f = h->f;
    const IrGraph *g = h->g;
    int first = -1, last = -1;
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].plan == p) last = i, first = first < 0 ? i : first;
    if (first < 0) return;
    int *death = malloc((size_t)g->n * sizeof *death);
    for (int i = 0; i < g->n; i++) death[i] = i;
    for (int i = first; i <= last; i++)
        for (int k = 0; k < g->nodes[i].nin; k++) {
            int a = g->nodes[i].in[k];
            while (ir_op_is_view(g->nodes[a].op)) a = g->nodes[a].in[0];
            if (g->nodes[a].plan == p && death[a] < i) death[a] = i;
        }
    fputs("<h3>Memory</h3>\n", f);
    double span = (double)(last - first + 1);
    for (int u = 0; u < g->nunits; u++) {
        int64_t arena = u < g->narena ? g->arena[u] : 0, used = 0;
        int count = 0;
        for (int i = first; i <= last; i++) {
            const IrNode *n = &g->nodes[i];
            int64_t b = n->unit == u && !ir_op_is_view(n->op) ? cg_result_bytes(g, n) : 0;
            if (b > 0) count++, used = n->offset + b > used ? n->offset + b : used;
        }
        if (!count || arena <= 0) continue;
        char a[32], m[32];
        human_bytes((double)arena, a, sizeof a);
        human_bytes((double)used, m, sizeof m);
        fprintf(f, "<p class=\"note\">Unit %s (memory space %s): arena %s, this plan uses %s in %d buffers.</p>\n"
                   "<svg class=\"memory\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                   "viewBox=\"0 0 %d %d\">\n", g->units[u].name, g->units[u].mem, a, m, count, MEM_W, MEM_H, MEM_W,
                MEM_H);
        for (int i = first; i <= last; i++) {
            const IrNode *n = &g->nodes[i];
            int64_t b = n->unit == u && !ir_op_is_view(n->op) ? cg_result_bytes(g, n) : 0;
            if (b <= 0) continue;
            double x = (i - first) / span * MEM_W, w = (death[i] - i + 1) / span * MEM_W;
            double y = MEM_H - (double)(n->offset + b) / (double)arena * MEM_H, hgt = (double)b / (double)arena * MEM_H;
            human_bytes((double)b, m, sizeof m);
            fprintf(f, "<rect class=\"buf\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\" "
                       "fill-opacity=\"0.75\" stroke=\"#fff\" stroke-width=\"0.3\"><title>%%%d ", x, y, w > 0.5 ? w : 0.5,
                    hgt > 0.5 ? hgt : 0.5, colors[u % 8], i);
            esc(f, n->name);
            fprintf(f, " (%s): %s at offset %lld, nodes %%%d to %%%d</title></rect>\n", ir_op_name(n->op), m,
                    (long long)n->offset, i, death[i]);
        }
        fputs("</svg>\n", f);
    }
    free(death);
}

static void write_plan(Html *h, int p)
{
    FILE *f = h->f;
    const IrPlan *pl = &h->g->plans[p];
    int64_t S, P;
    plan_step(h->g, p, &S, &P);
    fprintf(f, "<section class=\"plan\" id=\"plan-%s\"><h2>Plan %s</h2>\n<p>Kind %s, steps of %lld", pl->name,
            pl->name, ir_plan_kind_name(pl->kind), (long long)pl->s_min);
    if (pl->s_max != pl->s_min) fprintf(f, " to %lld", (long long)pl->s_max);
    fprintf(f, " tokens; shown at %lld rows.</p>\n", (long long)S);
    write_gantt(h, p, S, P);
    write_linears(h, p, S, P);
    write_memory(h, p);
    fputs("</section>\n", f);
}

static void write_int8(Html *h)
{
    FILE *f = h->f;
    CgInt8Input *in;
    double w8, cols;
    int n = cg_int8_inputs(h->g, &in, &w8, &cols);
    fputs("<section id=\"int8\"><h2>Quantisation and outliers</h2>\n", f);
    if (!n) {
        fputs("<p>No int8 linears: no npu unit, or a plan for planning only (passes quantize and outliers need the "
              "model's weights and calibration).</p></section>\n", f);
        return;
    }
    char a[32], b[32];
    human_bytes(w8, a, sizeof a);
    human_bytes(cols, b, sizeof b);
    fprintf(f, "<p>int8 weights %s; shadows' float columns %s. Each quantised input once (every chunk plan makes the "
               "same choices).</p>\n<table class=\"int8\"><tr><th>layer</th><th class=\"l\">input</th><th>scale</th>"
               "<th class=\"l\">outliers</th><th>hot channels</th><th class=\"l\">linears</th><th>shadow bytes</th></tr>\n",
            a, b);
    for (int k = 0; k < n; k++) {
        const IrNode *q = &h->g->nodes[in[k].quant];
        fprintf(f, "<tr><td>%d</td><td class=\"l\">", in[k].layer);
        esc(f, in[k].input);
        fprintf(f, "</td><td>%.4g</td><td class=\"l\">%s</td><td>%d</td><td class=\"l\">", in[k].scale, in[k].decision,
                in[k].hot);
        int sep = 0;
        for (int j = in[k].quant + 1; j < h->g->n && h->g->nodes[j].plan == q->plan; j++)
            if (h->g->nodes[j].op == IR_OP_QLINEAR && h->g->nodes[j].in[0] == in[k].quant) {
                fputs(sep++ ? ", " : "", f);
                esc(f, h->g->nodes[j].name);
            }
        human_bytes(in[k].extra_bytes, a, sizeof a);
        fprintf(f, "</td><td>%s</td></tr>\n", a);
    }
    fputs("</table></section>\n", f);
    free(in);
}

static void model_on_target(FILE *f, const IrGraph *g, const FeTarget *t)
{
    esc(f, g->model);
    fputs(" on ", f);
    esc(f, t->name);
}

int cg_report_html(const IrGraph *g, const FeTarget *t, const IrCost *cost, const char *path, char *err,
                   size_t errlen)
{
    if (!ir_has_pass(g, "memplan")) IR_BUG("report before memplan");
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        return -1;
    }
    Html h = {f, g, cost};
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>hetc plan: ", f);
    model_on_target(f, g, t);
    fprintf(f, "</title>\n<style>\n%s</style></head>\n<body>\n<h1>", style);
    model_on_target(f, g, t);
    fputs("</h1>\n<p>Architecture ", f);
    esc(f, g->arch);
    fputs("; passes <code>", f);
    esc(f, g->passes);
    fprintf(f, "</code>; chunks %s; times predicted by the cost model%s.</p>\n<nav>",
            ir_graph_int(g, "ooo", 0) ? "out of order" : "in order",
            cost->prof ? " with a measured profile" : " from the target's figures");
    fputs("<a href=\"#units\">units</a>", f);
    for (int p = 0; p < g->nplans; p++) fprintf(f, "<a href=\"#plan-%s\">%s</a>", g->plans[p].name, g->plans[p].name);
    fputs("<a href=\"#int8\">int8</a></nav>\n", f);
    write_units(&h);
    for (int p = 0; p < g->nplans; p++) write_plan(&h, p);
    write_int8(&h);
    fputs("</body></html>\n", f);
    if (fclose(f) != 0) {
        snprintf(err, errlen, "%s: writing failed", path);
        return -1;
    }
    return 0;
}
