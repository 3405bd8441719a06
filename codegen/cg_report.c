/* cg_report.c: `hetc compile --report-json FILE`, what the compiler
 * decided, for people and scripts.
 *
 *   {"model", "arch", "target",
 *    "units": [{"name", "kind", "backend", "mem", "arena_bytes",
 *               "kv_bytes_per_token"}, ...],
 *    "weights_bytes",
 *    "plans": [{"name", "kind", "s_min", "s_max", "inflight", "nodes",
 *               "subgraphs": [{"id", "unit", "nodes", "first", "last",
 *                              "ops", "shared", "bytes", "waits"}, ...]}, ...],
 *    "shared_subgraphs", "shared_bytes",
 *    "int8": {"weights_bytes", "shadow_bytes",            (with an npu unit)
 *             "inputs": [{"input", "layer", "scale", "decision", "hot_channels",
 *                         "linears": [...], "extra_bytes"}, ...]}}
 *
 * A subgraph is "shared" when it belongs to a chunk plan and is not an
 * attention: one compiled instance serves every chunk of every prompt.
 * "bytes" is the arena space of its results at the plan's largest step;
 * "waits" lists the subgraphs of other units whose results it reads.
 * "inflight" is a plan's chunks in flight (pass schedule: 2 out of order).
 * Arena and KV sizes are per unit: the program allocates the arenas once
 * (twice that where a plan has two chunks in flight: their buffers
 * alternate) and the KV cache for the context it is given
 * (kv_bytes_per_token x ctx).
 * "int8" lists each quantised input once (every chunk plan makes the same
 * choices): its activation scale, pass outliers' decision ("shadow",
 * "pruned", "below-t": max <= T * p99.9, "off": --no-outliers), the hot
 * channels a shadow covers, the linears that read it, and the bytes its
 * shadows' float columns add.
 * Everything comes from the IR after memplan; nothing depends on a prompt.
 */
#include "cg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

int64_t cg_result_bytes(const IrGraph *g, const IrNode *n)
{
    if (n->offset < 0) return 0;
    int64_t rows = ir_plan_rows(g, n);
    return ir_numel(n, rows, rows) * ir_dtype_size(n->dtype);
}

/* Whether subgraph b of plan p reads a result of subgraph a (another unit). */
static int waits_on(const IrGraph *g, int p, int b, int a)
{
    for (int i = 0; i < g->n; i++) {
        const IrNode *n = &g->nodes[i];
        if (n->plan != p || n->sub != b) continue;
        for (int k = 0; k < n->nin; k++) {
            const IrNode *x = &g->nodes[n->in[k]];
            if (x->plan == p && x->sub == a && x->unit != n->unit) return 1;
        }
    }
    return 0;
}

static void report_subgraph(FILE *f, const IrGraph *g, int p, int s, int64_t *shared, int64_t *shared_bytes)
{
    int count = 0, first = -1, last = -1, attention = 0, unit = -1;
    int64_t bytes = 0;
    char ops[512] = "";
    size_t len = 0;
    for (int i = 0; i < g->n; i++) {
        const IrNode *n = &g->nodes[i];
        if (n->plan != p || n->sub != s) continue;
        if (first < 0) first = i;
        last = i;
        count++;
        unit = n->unit;
        attention |= n->op == IR_OP_ATTENTION;
        bytes += cg_result_bytes(g, n);
        if (len + 24 < sizeof ops && !strstr(ops, ir_op_name(n->op)))
            len += (size_t)snprintf(ops + len, sizeof ops - len, "%s%s", len ? " " : "", ir_op_name(n->op));
    }
    int is_shared = g->plans[p].kind == IR_PLAN_CHUNK && !attention;
    if (is_shared) (*shared)++, *shared_bytes += bytes;
    fprintf(f, "        {\"id\": %d, \"unit\": ", s);
    json_str(f, unit >= 0 ? g->units[unit].name : "");
    fprintf(f, ", \"nodes\": %d, \"first\": %d, \"last\": %d, \"ops\": ", count, first, last);
    json_str(f, ops);
    fprintf(f, ", \"shared\": %s, \"bytes\": %lld, \"waits\": [", is_shared ? "true" : "false", (long long)bytes);
    int sep = 0;
    for (int a = 0; a < s; a++)
        if (waits_on(g, p, s, a)) fprintf(f, "%s%d", sep++ ? ", " : "", a);
    fputs("]}", f);
}

static void report_plan(FILE *f, const IrGraph *g, int p, int64_t *shared, int64_t *shared_bytes)
{
    const IrPlan *pl = &g->plans[p];
    int nodes = 0, nsub = 0;
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].plan == p) {
            nodes++;
            if (g->nodes[i].sub + 1 > nsub) nsub = g->nodes[i].sub + 1;
        }
    fputs("    {\"name\": ", f);
    json_str(f, pl->name);
    fprintf(f, ", \"kind\": \"%s\", \"s_min\": %lld, \"s_max\": %lld, \"inflight\": %d, \"nodes\": %d, "
               "\"subgraphs\": [\n", ir_plan_kind_name(pl->kind), (long long)pl->s_min, (long long)pl->s_max,
            pl->inflight, nodes);
    for (int s = 0; s < nsub; s++) {
        report_subgraph(f, g, p, s, shared, shared_bytes);
        fputs(s + 1 < nsub ? ",\n" : "\n", f);
    }
    fputs("    ]}", f);
}

int cg_int8_inputs(const IrGraph *g, CgInt8Input **out, double *w8, double *cols)
{
    int first_plan = -1, n = 0;
    *w8 = *cols = 0;
    *out = NULL;
    for (int i = 0; i < g->n; i++) {
        const IrNode *nd = &g->nodes[i];
        if (nd->op == IR_OP_QUANT && first_plan < 0) first_plan = nd->plan;
        if (nd->op == IR_OP_WEIGHT && ir_attr(nd, "wscale")) *w8 += (double)ir_numel(nd, 1, 1);
        if (nd->op == IR_OP_WEIGHT && ir_attr(nd, "chans")) *cols += (double)ir_numel(nd, 1, 1) * 4;
        n += nd->op == IR_OP_QUANT;
    }
    if (first_plan < 0) return 0;
    *out = calloc((size_t)n, sizeof **out);
    n = 0;
    for (int i = 0; i < g->n; i++) {
        const IrNode *q = &g->nodes[i];
        if (q->op != IR_OP_QUANT || q->plan != first_plan) continue;
        CgInt8Input *in = &(*out)[n++];
        in->quant = i;
        in->input = ir_attr(q, "input") ? ir_attr_str(q, "input") : q->name;
        in->layer = q->layer;
        in->scale = ir_attr_float(q, "scale");
        in->decision = ir_attr(q, "outliers") ? ir_attr_str(q, "outliers") : "none";
        const IrChans *set = ir_chans_find(g, in->input);
        in->hot = set ? set->n : 0;
        for (int j = 0; set && j < g->n; j++)
            if (g->nodes[j].op == IR_OP_WEIGHT && ir_attr(&g->nodes[j], "chans") &&
                strcmp(ir_attr_str(&g->nodes[j], "chans"), in->input) == 0)
                in->extra_bytes += (double)ir_numel(&g->nodes[j], 1, 1) * 4;
    }
    return n;
}

static void report_int8(FILE *f, const IrGraph *g)
{
    CgInt8Input *in;
    double w8, cols;
    int n = cg_int8_inputs(g, &in, &w8, &cols);
    if (!n) return;
    fprintf(f, ",\n  \"int8\": {\"weights_bytes\": %.0f, \"shadow_bytes\": %.0f, \"inputs\": [\n", w8, cols);
    for (int k = 0; k < n; k++) {
        const IrNode *q = &g->nodes[in[k].quant];
        fprintf(f, "%s    {\"input\": ", k ? ",\n" : "");
        json_str(f, in[k].input);
        fprintf(f, ", \"layer\": %d, \"scale\": %.9g, \"decision\": ", in[k].layer, in[k].scale);
        json_str(f, in[k].decision);
        fprintf(f, ", \"hot_channels\": %d, \"linears\": [", in[k].hot);
        int lsep = 0;
        for (int j = in[k].quant + 1; j < g->n && g->nodes[j].plan == q->plan; j++)
            if (g->nodes[j].op == IR_OP_QLINEAR && g->nodes[j].in[0] == in[k].quant) {
                fputs(lsep++ ? ", " : "", f);
                json_str(f, g->nodes[j].name);
            }
        fprintf(f, "], \"extra_bytes\": %.0f}", in[k].extra_bytes);
    }
    fputs("\n  ]}", f);
    free(in);
}

int cg_report_json(const IrGraph *g, const char *target, const char *path, char *err, size_t errlen)
{
    if (!ir_has_pass(g, "memplan")) IR_BUG("report before memplan");
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        return -1;
    }
    fputs("{\"model\": ", f);
    json_str(f, g->model);
    fputs(", \"arch\": ", f);
    json_str(f, g->arch);
    fputs(", \"target\": ", f);
    json_str(f, target ? target : "");
    fputs(",\n  \"units\": [\n", f);
    for (int u = 0; u < g->nunits; u++) {
        const IrUnit *un = &g->units[u];
        int64_t kv = u < g->nkv ? g->kv[u] : 0;
        fputs("    {\"name\": ", f);
        json_str(f, un->name);
        fprintf(f, ", \"kind\": \"%s\", \"backend\": \"%s\", \"mem\": \"%s\", \"arena_bytes\": %lld, "
                   "\"kv_bytes_per_token\": %lld}%s\n",
                un->kind, un->backend, un->mem, (long long)(u < g->narena ? g->arena[u] : 0),
                (long long)(2 * kv * (int64_t)sizeof(float)), u + 1 < g->nunits ? "," : "");
    }
    double wbytes = 0;
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == IR_OP_WEIGHT) wbytes += (double)ir_dtype_bytes(g->nodes[i].dtype, ir_numel(&g->nodes[i], 1, 1));
    fprintf(f, "  ],\n  \"weights_bytes\": %.0f,\n  \"plans\": [\n", wbytes);
    int64_t shared = 0, shared_bytes = 0;
    for (int p = 0; p < g->nplans; p++) {
        report_plan(f, g, p, &shared, &shared_bytes);
        fputs(p + 1 < g->nplans ? ",\n" : "\n", f);
    }
    fprintf(f, "  ],\n  \"shared_subgraphs\": %lld, \"shared_bytes\": %lld", (long long)shared,
            (long long)shared_bytes);
    report_int8(f, g);
    fputs("\n}\n", f);
    if (fclose(f) != 0) {
        snprintf(err, errlen, "%s: writing failed", path);
        return -1;
    }
    return 0;
}
