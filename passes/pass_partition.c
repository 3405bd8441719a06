/* pass_partition.c: HeteroLLM's partitions of the linears of static plans
 * between a float unit and an npu.
 *
 * Requires: place (linears of chunk plans on the npu, the rest on the
 * decoder's unit). Provides: every linear of a chunk plan inside a layer
 * on the unit, or the split, that pass_partition_solve prices least for
 * its shape [C,K] @ [N,K]^T at the plan's C rows, with the cost model's
 * figures and profile (PassCtx.profile):
 *
 *   float, npu   the linear moves to that unit;
 *   weight,      W's rows split (weight() row0=...: parts of the tensor):
 *   hybrid         ya = linear(x, W[0:Nn])   on the npu   [C,Nn]
 *                  yb = linear(x, W[Nn:N])   on the float [C,N-Nn]
 *                  y  = join(ya, yb) axis=1                [C,N]
 *                (hybrid: the npu's graph is padded to its static rows,
 *                a cost of the npu the cost model prices; the emulator
 *                runs any static shape);
 *   activation   x's rows split: the npu takes the first Sn rows (whole
 *                standard chunks), the float unit the rest:
 *                  ya = linear(rows(x) row0=0, W) ... [Sn,N]
 *                  yb = linear(rows(x) row0=Sn, W) ... [C-Sn,N]
 *                  y  = join(ya, yb) axis=0.
 *
 * A join takes no copy: its parts are computed into its storage (pass
 * memplan); the join records the choice and the predicted time (part=,
 * us=). The decode and flex plans (any S) stay on the decoder's unit: an
 * npu runs static shapes; with --npu-decode, decode steps are chunks of one
 * row, which the solver partitions like any chunk (HeteroLLM's decode
 * splits). Linears outside layers (the LM head) stay where place put
 * them. A target without an npu, or whose npu runs no linears, is left as
 * it is, and so is every plan with --partition npu (llm.npu's placement:
 * every linear of a chunk plan on the npu).
 */
#include "passes.h"

#include <stdlib.h>
#include <string.h>

void pass_partition_units(const IrGraph *g, int *fu, int *npu)
{
    *fu = *npu = -1;
    for (int i = 0; i < g->nunits; i++) {
        if (strcmp(g->units[i].kind, "npu") == 0 && *npu < 0) *npu = i;
        if (strcmp(g->units[i].kind, "gpu") == 0 && (*fu < 0 || strcmp(g->units[*fu].kind, "cpu") == 0)) *fu = i;
        if (strcmp(g->units[i].kind, "cpu") == 0 && *fu < 0) *fu = i;
    }
}

/* Whether linear n is the solver's to place: in a layer of a chunk plan,
 * on the npu or the float unit. */
static int candidate(const IrGraph *g, const PassCtx *c, const IrNode *n, int fu, int npu)
{
    if (n->op != IR_OP_LINEAR || n->layer < 0 || n->plan < 0) return 0;
    const IrPlan *p = &g->plans[n->plan];
    return p->kind == IR_PLAN_CHUNK && (n->unit == fu || n->unit == npu);
}

/* Rebuilding: the old graph, the new one, and old id -> new id. */
typedef struct {
    const IrGraph *g;
    IrGraph *out;
    int *map;
    const PassPart *part;       /* [g->n]: the decision of each candidate */
    int fu, npu;
} Build;

/* A part of weight w: its rows row0 .. row0+rows-1, on unit u. */
static int weight_part(Build *b, const IrNode *w, int64_t row0, int64_t rows, int u, const char *tag)
{
    int64_t dim[2] = {rows, w->ndim > 1 ? w->dim[1] : 1};
    char nm[IR_NAME_LEN];
    snprintf(nm, sizeof nm, "%.80s.%s", w->name, tag);
    IrDtype dt = w->dtype == IR_BF16 && strcmp(b->g->units[u].backend, "opencl") == 0 ? IR_F16 : w->dtype;
    int id = ir_add(b->out, IR_OP_WEIGHT, 0, NULL, w->ndim, dim, dt, w->layer, nm);
    IrNode *p = &b->out->nodes[id];
    ir_set_str(p, "name", ir_attr_str(w, "name"));
    ir_set_int(p, "row0", row0);
    p->unit = u;
    return id;
}

/* The weight parts of the weight and hybrid splits, before the plans:
 * wpart[2*i], wpart[2*i+1] for linear i (npu rows first; bias parts in
 * bpart[] the same way). Parts of one tensor at the same rows are shared. */
static void add_weight_parts(Build *b, int *wpart, int *bpart)
{
    const IrGraph *g = b->g;
    for (int i = 0; i < g->n; i++) {
        const PassPart *p = &b->part[i];
        if (p->choice != PASS_PART_WEIGHT && p->choice != PASS_PART_HYBRID) continue;
        const IrNode *l = &g->nodes[i];
        int found = 0;
        for (int j = 0; j < i && !found; j++)
            if ((b->part[j].choice == PASS_PART_WEIGHT || b->part[j].choice == PASS_PART_HYBRID) &&
                g->nodes[j].in[1] == l->in[1] && b->part[j].n_npu == p->n_npu &&
                (l->nin < 3 || g->nodes[j].in[2] == l->in[2])) {
                memcpy(&wpart[2 * i], &wpart[2 * j], 2 * sizeof *wpart);
                memcpy(&bpart[2 * i], &bpart[2 * j], 2 * sizeof *bpart);
                found = 1;
            }
        if (found) continue;
        const IrNode *w = &g->nodes[l->in[1]];
        int64_t n = w->dim[0];
        wpart[2 * i] = weight_part(b, w, 0, p->n_npu, b->npu, b->g->units[b->npu].name);
        wpart[2 * i + 1] = weight_part(b, w, p->n_npu, n - p->n_npu, b->fu, b->g->units[b->fu].name);
        if (l->nin > 2) {
            const IrNode *bias = &g->nodes[l->in[2]];
            bpart[2 * i] = weight_part(b, bias, 0, p->n_npu, b->npu, b->g->units[b->npu].name);
            bpart[2 * i + 1] = weight_part(b, bias, p->n_npu, n - p->n_npu, b->fu, b->g->units[b->fu].name);
        }
    }
}

/* linear(x, w [, bias]) on unit u: the shape of a part, [rows, cols]. */
static int linear_part(Build *b, const IrNode *l, int x, int w, int bias, int64_t rows, int64_t cols, int u,
                       const char *tag)
{
    int64_t dim[2] = {rows, cols};
    int in[3] = {x, w, bias};
    char nm[IR_NAME_LEN];
    snprintf(nm, sizeof nm, "%.80s.%s", l->name, tag);
    int id = ir_add(b->out, IR_OP_LINEAR, bias >= 0 ? 3 : 2, in, 2, dim, IR_F32, l->layer, nm);
    b->out->nodes[id].unit = u;
    b->out->nodes[id].plan = l->plan;
    return id;
}

static int rows_view(Build *b, const IrNode *l, int x, int64_t row0, int64_t rows, const char *tag)
{
    const IrNode *xn = &b->out->nodes[x];
    int64_t dim[2] = {rows, xn->dim[1]};
    char nm[IR_NAME_LEN];
    snprintf(nm, sizeof nm, "%.80s.%s", xn->name, tag);
    int id = ir_add(b->out, IR_OP_ROWS, 1, &x, 2, dim, xn->dtype, l->layer, nm);
    ir_set_int(&b->out->nodes[id], "row0", row0);
    b->out->nodes[id].unit = xn->unit;
    b->out->nodes[id].plan = l->plan;
    return id;
}

/* The split linear l (operands renumbered) as its parts and their join. */
static int split(Build *b, const IrNode *l, const int *in, const int *wpart, const int *bpart)
{
    const PassPart *p = &b->part[l->id];
    const char *un = b->g->units[b->npu].name, *uf = b->g->units[b->fu].name;
    int64_t C = l->dim[0], N = l->dim[1];
    int ya, yb, axis;
    if (p->choice == PASS_PART_ACTIVATION) {
        int bias = l->nin > 2 ? in[2] : -1;
        ya = linear_part(b, l, rows_view(b, l, in[0], 0, p->s_npu, un), in[1], bias, p->s_npu, N, b->npu, un);
        yb = linear_part(b, l, rows_view(b, l, in[0], p->s_npu, C - p->s_npu, uf), in[1], bias, C - p->s_npu, N,
                         b->fu, uf);
        axis = 0;
    } else {
        const int *wp = &wpart[2 * l->id], *bp = &bpart[2 * l->id];
        ya = linear_part(b, l, in[0], wp[0], l->nin > 2 ? bp[0] : -1, C, p->n_npu, b->npu, un);
        yb = linear_part(b, l, in[0], wp[1], l->nin > 2 ? bp[1] : -1, C, N - p->n_npu, b->fu, uf);
        axis = 1;
    }
    int two[2] = {ya, yb};
    int id = ir_add(b->out, IR_OP_JOIN, 2, two, 2, l->dim, IR_F32, l->layer, l->name);
    IrNode *j = &b->out->nodes[id];
    ir_set_int(j, "axis", axis);
    ir_set_str(j, "part", pass_part_name(p->choice));
    ir_set_float(j, "us", p->us);
    j->unit = b->fu;
    j->plan = l->plan;
    return id;
}

void pass_partition(IrGraph *g, const PassCtx *c)
{
    int fu, npu;
    pass_partition_units(g, &fu, &npu);
    if (fu < 0 || npu < 0 || fu == npu || c->partition == PASS_PARTITION_NPU) return;
    const char *ops = ir_unit_str(&g->units[npu], "ops", "linear");
    if (!strstr(ops, "linear")) return;
    IrCost cost = {.g = g, .prof = c->profile};
    PassPart *part = calloc((size_t)g->n, sizeof *part);
    int splits = 0;
    for (int i = 0; i < g->n; i++) {
        IrNode *n = &g->nodes[i];
        part[i].choice = PASS_PART_COUNT;
        if (!candidate(g, c, n, fu, npu)) continue;
        const IrNode *w = &g->nodes[n->in[1]];
        int64_t C = g->plans[n->plan].s_max;
        pass_partition_solve(&cost, fu, npu, w->dim[0], w->dim[1], C, w->dtype, pass_npu_dtype(w->dtype), &part[i]);
        if (part[i].choice == PASS_PART_FLOAT) n->unit = fu;
        else if (part[i].choice == PASS_PART_NPU) n->unit = npu;
        else splits++;
    }
    if (splits) {
        IrGraph out;
        ir_graph_copy(&out, g);
        out.n = 0;
        Build b = {.g = g, .out = &out, .map = malloc((size_t)g->n * sizeof(int)), .part = part, .fu = fu, .npu = npu};
        int *wpart = malloc(2 * (size_t)g->n * sizeof *wpart), *bpart = malloc(2 * (size_t)g->n * sizeof *bpart);
        int parts_added = 0;
        for (int i = 0; i < g->n; i++) {
            const IrNode *n = &g->nodes[i];
            if (n->plan >= 0 && !parts_added) {
                add_weight_parts(&b, wpart, bpart);
                parts_added = 1;
            }
            int in[IR_MAX_IN];
            for (int k = 0; k < n->nin; k++) in[k] = b.map[n->in[k]];
            if (part[i].choice >= PASS_PART_WEIGHT && part[i].choice < PASS_PART_COUNT) {
                b.map[i] = split(&b, n, in, wpart, bpart);
                continue;
            }
            IrNode m = *n;
            memcpy(m.in, in, sizeof in);
            b.map[i] = ir_add_like(&out, &m);
        }
        /* weights whose every linear now reads parts of them */
        int *uses = ir_count_uses(&out);
        unsigned char *keep = malloc((size_t)out.n);
        for (int i = 0; i < out.n; i++) keep[i] = out.nodes[i].op != IR_OP_WEIGHT || uses[i] > 0;
        ir_compact(&out, keep);
        free(keep);
        free(uses);
        free(wpart);
        free(bpart);
        free(b.map);
        ir_graph_free(g);
        *g = out;
    }
    free(part);
    /* weights follow their linears: a weight read on one unit only lives there */
    int *reader = malloc((size_t)g->n * sizeof *reader);   /* its readers' unit, -1: none yet, -2: several */
    for (int i = 0; i < g->n; i++) reader[i] = -1;
    for (int j = 0; j < g->n; j++)
        for (int k = 0; k < g->nodes[j].nin; k++) {
            int w = g->nodes[j].in[k], u = g->nodes[j].unit;
            if (g->nodes[w].op == IR_OP_WEIGHT) reader[w] = reader[w] == -1 || reader[w] == u ? u : -2;
        }
    for (int i = 0; i < g->n; i++) {
        IrNode *w = &g->nodes[i];
        if (w->op != IR_OP_WEIGHT) continue;
        if (reader[i] >= 0) w->unit = reader[i];
        if (strcmp(g->units[w->unit].backend, "opencl") == 0 && w->dtype == IR_BF16) w->dtype = IR_F16;
    }
    free(reader);
}
