/* pass_outliers.c: shadow execution of activation outliers (llm.npu, Eq. 1).
 *
 * Requires: quantize. Provides: for the int8 inputs it keeps shadows for,
 * a channel set (the hot channels: those whose calibrated max|x| passes
 * the clip threshold), the float columns of those channels of every
 * linear that reads the input (weight() name=W chans=SET : [N,H] f32),
 * and per linear
 *   shadow(x, cols) chans=SET scale=s_x   on the host cpu unit
 *   add(qlinear, shadow)                  on the npu if it runs add, else the host
 * placed after the input's last qlinear, so that the host computes the
 * shadows while the npu runs the int8 graph; the add's result replaces
 * the qlinear's everywhere after, and what reads a qlinear before the
 * input's last one (the join of a split linear, pass partition) moves
 * after the adds.
 *
 * Which inputs get shadows:
 *   1. llm.npu's rule: a candidate when max > T * p99.9 (--outlier-t T,
 *      default 5); the others are clipped without a shadow;
 *   2. its shadow clips at the lowest threshold of calibration's grid at
 *      which at most 1/HOT_SHARE of the channels are hot: with every
 *      calibrated excursion past it restored, only rounding is left, and
 *      it shrinks with the threshold (llm.npu clips at p99.9, which is no
 *      help where a few channels are large in every token: p99.9 is then
 *      their size); the bound keeps the float columns few (where tails
 *      spread over most channels, a shadow over them would cost more than
 *      the int8 weights it rescues); its benefit is measured, not guessed: the
 *      output error at the input's fallback scale (the error-chosen clip of
 *      pass quantize) minus the error with the shadow, summed over its
 *      linears relative to their outputs (calibration);
 *   3. the fraction F of candidates with the least benefit is pruned
 *      (--outlier-prune F, default 0.85); pruned ones keep the fallback
 *      scale, which is what makes pruning cheap: a pruned input loses its
 *      shadow, not its range. --no-outliers: no shadows.
 * Kept inputs clip at their shadow's threshold (s_x = tau / 127) and every
 * qlinear reading them gets scale s_x * s_w again. The quant node records
 * the decision in outliers= ("shadow", "pruned", "below-t", "off") for
 * the IR dump and --report-json.
 */
#include "passes.h"

#include <stdlib.h>
#include <string.h>

enum { HOT_SHARE = 16 };     /* a shadow covers at most 1/HOT_SHARE of an input's channels */

/* Adds the deferred nodes (old ids, in order) that no longer wait for a
 * qlinear's restored result to out; returns how many still wait. */
static int flush(const IrGraph *g, IrGraph *out, int *map, unsigned char *pending, int *deferred, int n)
{
    int left = 0;
    for (int d = 0; d < n; d++) {
        IrNode node = g->nodes[deferred[d]];
        int wait = 0;
        for (int k = 0; k < node.nin; k++) wait |= pending[node.in[k]];
        if (wait) {
            deferred[left++] = deferred[d];
            continue;
        }
        for (int k = 0; k < node.nin; k++) node.in[k] = map[node.in[k]];
        map[deferred[d]] = ir_add_like(out, &node);
        pending[deferred[d]] = 0;
    }
    return left;
}

/* The hot channels of an input at threshold tau (calibrated max|x| past
 * it): their count, and the channels into set[] unless it is NULL. */
static int hot_channels(const FeCalibInput *in, double tau, int32_t *set)
{
    int h = 0;
    for (int k = 0; k < in->k; k++)
        if (in->ch_max[k] > tau) {
            if (set) set[h] = k;
            h++;
        }
    return h;
}

typedef struct {
    int quant;          /* node id of a quant (in some plan) */
    int input;          /* its calibration input */
    double benefit;
    int tau;            /* grid index of the shadow threshold */
} Candidate;

static int by_benefit(const void *a, const void *b)
{
    const Candidate *x = a, *y = b;
    if (x->benefit != y->benefit) return x->benefit < y->benefit ? -1 : 1;
    return x->input - y->input;
}

static int calib_input_of(const FeCalib *cal, const char *name)
{
    for (int i = 0; i < cal->nin; i++)
        if (strcmp(cal->in[i].name, name) == 0) return i;
    return -1;
}

/* Decides per calibration input: keep[input] = the shadow's grid index, or -1. */
static void decide(const FeCalib *cal, const PassCtx *c, const int *used, int *keep, const char **why)
{
    double T = c->outlier_t > 0 ? c->outlier_t : 5.0, F = c->outlier_prune >= 0 ? c->outlier_prune : 0.85;
    Candidate *cand = malloc(((size_t)cal->nin + 1) * sizeof *cand);
    int n = 0;
    for (int i = 0; i < cal->nin; i++) {
        keep[i] = -1;
        why[i] = "none";
        if (!used[i]) continue;
        const FeCalibInput *in = &cal->in[i];
        why[i] = c->no_outliers ? "off" : "below-t";
        if (c->no_outliers || !(in->max > T * in->p999)) continue;
        int fb = pass_best_tau(cal, i, 0), t = 0;
        while (t + 1 < FE_CALIB_TAU && hot_channels(in, fe_calib_tau(t), NULL) > in->k / HOT_SHARE) t++;
        double b = 0;
        for (int l = 0; l < cal->nlin; l++)
            if (cal->lin[l].input == i)
                b += (cal->lin[l].err_clip[fb] - cal->lin[l].err_round[t]) / (cal->lin[l].ynorm > 0 ? cal->lin[l].ynorm : 1);
        cand[n++] = (Candidate){.input = i, .benefit = b, .tau = t};
    }
    qsort(cand, (size_t)n, sizeof *cand, by_benefit);
    int pruned = (int)(F * n + 0.5);
    for (int k = 0; k < n; k++) {
        int i = cand[k].input;
        if (k < pruned || cand[k].benefit <= 0) why[i] = "pruned";
        else keep[i] = cand[k].tau, why[i] = "shadow";
    }
    free(cand);
}


void pass_outliers(IrGraph *g, const PassCtx *c)
{
    const FeCalib *cal = c->calib;
    int any = 0;
    for (int i = 0; i < g->n; i++) any |= g->nodes[i].op == IR_OP_QUANT;
    if (!any) return;
    if (!cal || !c->weights) {
        pass_error(c, "outliers: shadows need calibration and the model's weights (hetc compile)");
        return;
    }
    int *used = calloc((size_t)cal->nin + 1, sizeof *used), *keep = malloc(((size_t)cal->nin + 1) * sizeof *keep);
    const char **why = malloc(((size_t)cal->nin + 1) * sizeof *why);
    int *cin = malloc((size_t)g->n * sizeof *cin);       /* quant node -> calibration input */
    for (int i = 0; i < g->n; i++) {
        cin[i] = -1;
        if (g->nodes[i].op != IR_OP_QUANT) continue;
        cin[i] = calib_input_of(cal, ir_attr_str(&g->nodes[i], "input"));
        if (cin[i] < 0) IR_BUG("quant %%%d: calibration input '%s' vanished", i, ir_attr_str(&g->nodes[i], "input"));
        used[cin[i]] = 1;
    }
    decide(cal, c, used, keep, why);
    /* the channel sets and the quant scales */
    int32_t *set = NULL;
    for (int i = 0; i < cal->nin; i++) {
        if (keep[i] < 0) continue;
        set = realloc(set, (size_t)cal->in[i].k * sizeof *set);
        int h = hot_channels(&cal->in[i], fe_calib_tau(keep[i]), set);
        if (h == 0) keep[i] = -1, why[i] = "pruned";
        else ir_chans_add(g, cal->in[i].name, h, set);
    }
    free(set);
    int *last = malloc((size_t)g->n * sizeof *last);     /* quant -> its last qlinear */
    for (int i = 0; i < g->n; i++) {
        IrNode *n = &g->nodes[i];
        last[i] = -1;
        if (n->op == IR_OP_QUANT) {
            ir_set_str(n, "outliers", why[cin[i]]);
            if (keep[cin[i]] >= 0) ir_set_float(n, "scale", (float)(fe_calib_tau(keep[cin[i]]) / 127.0));
        }
        if (n->op == IR_OP_QLINEAR) {
            const IrNode *q = &g->nodes[n->in[0]];
            ir_set_float(n, "scale", (float)((float)ir_attr_float(q, "scale") * (float)ir_attr_float(&g->nodes[n->in[1]], "wscale")));
            last[q->id] = i;
        }
    }
    /* rebuild: the columns with the shared constants; shadows and adds after each input's last qlinear */
    IrGraph out;
    ir_graph_copy(&out, g);
    out.n = 0;
    int *map = malloc((size_t)g->n * sizeof *map), *cols = malloc((size_t)g->n * sizeof *cols);
    int *deferred = malloc((size_t)g->n * sizeof *deferred), ndeferred = 0;
    unsigned char *pending = calloc((size_t)g->n, 1);   /* a kept qlinear not restored yet, or reads one */
    for (int i = 0; i < g->n; i++) cols[i] = -1;
    int host = -1, added_cols = 0;
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == IR_OP_INPUT) host = g->nodes[i].unit;
    for (int i = 0; i < g->n; i++) {
        IrNode n = g->nodes[i];
        if (n.plan >= 0 && !added_cols) {
            added_cols = 1;
            for (int j = 0; j < g->n; j++) {
                const IrNode *l = &g->nodes[j];
                if (l->op != IR_OP_QLINEAR || keep[cin[l->in[0]]] < 0 || cols[l->in[1]] >= 0) continue;
                const IrNode *w = &g->nodes[l->in[1]];
                const IrChans *s = ir_chans_find(g, cal->in[cin[l->in[0]]].name);
                int64_t dim[2] = {w->dim[0], s->n};
                char nm[IR_NAME_LEN];
                snprintf(nm, sizeof nm, "%.86s.hot", w->name);
                int id = ir_add(&out, IR_OP_WEIGHT, 0, NULL, 2, dim, IR_F32, w->layer, nm);
                ir_set_str(&out.nodes[id], "name", ir_attr_str(w, "name"));
                if (ir_attr(w, "row0")) ir_set_int(&out.nodes[id], "row0", ir_attr_int(w, "row0"));
                ir_set_str(&out.nodes[id], "chans", s->name);
                out.nodes[id].unit = host;
                cols[l->in[1]] = id;
            }
        }
        int wait = 0;
        for (int k = 0; k < n.nin; k++) wait |= pending[n.in[k]];
        if (wait) {     /* reads a qlinear not restored yet: after the adds */
            pending[i] = 1;
            deferred[ndeferred++] = i;
            continue;
        }
        for (int k = 0; k < n.nin; k++) n.in[k] = map[n.in[k]];
        map[i] = ir_add_like(&out, &n);
        if (n.op == IR_OP_QLINEAR && keep[cin[g->nodes[i].in[0]]] >= 0) pending[i] = 1;
        if (n.op != IR_OP_QLINEAR || last[g->nodes[i].in[0]] != i) continue;
        const IrNode *q = &g->nodes[g->nodes[i].in[0]];
        if (keep[cin[q->id]] < 0) continue;
        /* this input's shadows, then the adds that replace its qlinears */
        int x = map[q->in[0]], nq = 0, ql[16];
        for (int j = q->id + 1; j <= i; j++)
            if (g->nodes[j].op == IR_OP_QLINEAR && g->nodes[j].in[0] == q->id && nq < 16) ql[nq++] = j;
        int sh[16];
        for (int k = 0; k < nq; k++) {
            const IrNode *l = &g->nodes[ql[k]];
            char nm[IR_NAME_LEN];
            snprintf(nm, sizeof nm, "%.86s.shadow", l->name);
            int in[2] = {x, cols[l->in[1]]};
            sh[k] = ir_add(&out, IR_OP_SHADOW, 2, in, l->ndim, l->dim, IR_F32, l->layer, nm);
            ir_set_str(&out.nodes[sh[k]], "chans", cal->in[cin[q->id]].name);
            ir_set_float(&out.nodes[sh[k]], "scale", ir_attr_float(q, "scale"));
            out.nodes[sh[k]].unit = host;
            out.nodes[sh[k]].plan = l->plan;
        }
        for (int k = 0; k < nq; k++) {
            const IrNode *l = &g->nodes[ql[k]];
            char nm[IR_NAME_LEN];
            snprintf(nm, sizeof nm, "%.82s.restored", l->name);
            int in[2] = {map[ql[k]], sh[k]};
            int a = ir_add(&out, IR_OP_ADD, 2, in, l->ndim, l->dim, IR_F32, l->layer, nm);
            const char *ops = ir_unit_str(&g->units[l->unit], "ops", "");
            out.nodes[a].unit = strstr(ops, "add") ? l->unit : host;
            out.nodes[a].plan = l->plan;
            map[ql[k]] = a;     /* later readers of the qlinear read the restored result */
            pending[ql[k]] = 0;
        }
        ndeferred = flush(g, &out, map, pending, deferred, ndeferred);
    }
    ir_graph_free(g);
    *g = out;
    if (ndeferred) IR_BUG("outliers: node %%%d still waits for a restored qlinear", deferred[0]);
    free(map);
    free(cols);
    free(deferred);
    free(pending);
    free(last);
    free(cin);
    free(used);
    free(keep);
    free(why);
}
