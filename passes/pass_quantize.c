/* pass_quantize.c: W8A8 for the linears of npu units.
 *
 * Requires: place (which put linears on npu units) and calibration
 * (PassCtx.calib: statistics of every linear's input, fe_calib.c).
 * Provides: every linear on an npu unit (backend npu-emu) becomes
 *   quant(x) scale=s_x            [S,K] f32 -> i8, one per input and plan
 *   qlinear(q, W8 [, b]) scale=s_x*s_w
 * with W8 a derived weight: weight() name=W wscale=s_w : [N,K] i8 (of
 * the rows of a part where pass partition split W: row0 stays). Linears
 * whose weights are a block type stay (W4A16).
 * Scales are per tensor and symmetric:
 *   - s_w = r * max|W| / 127, with the clip ratio r of FE_WCLIP chosen by
 *     the squared error of W against its int8 image (1.0 is max|W|/127);
 *   - s_x = tau / 127 for the clip threshold tau of calibration's grid
 *     whose measured output error (clipping and rounding, summed over the
 *     linears that read x, each relative to its output) is least. Pass
 *     outliers may lower it to clip harder where a shadow takes the rest.
 * The quant node records why (outliers="none" until pass outliers runs).
 */
#include "passes.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const double wclip[] = {1.0, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6};
enum { NCLIP = sizeof wclip / sizeof wclip[0], MAX_SAMPLE = 1 << 22 };

IrDtype pass_npu_dtype(IrDtype wdt) { return ir_dtype_is_block(wdt) ? wdt : IR_I8; }

int pass_is_npu(const IrGraph *g, int unit)
{
    return unit >= 0 && strcmp(g->units[unit].backend, "npu-emu") == 0;
}

/* s_w of weight W [numel]: the clip ratio with the least squared error,
 * over at most MAX_SAMPLE elements (a fixed stride: deterministic). */
static float weight_scale(const float *w, int64_t numel)
{
    float mx = 0;
    for (int64_t i = 0; i < numel; i++)
        if (fabsf(w[i]) > mx) mx = fabsf(w[i]);
    if (mx == 0) return 1.0f;
    int64_t stride = numel / MAX_SAMPLE + 1;
    double best = INFINITY;
    float best_s = mx / 127.0f;
    for (int r = 0; r < NCLIP; r++) {
        float s = (float)(wclip[r] * mx / 127.0);
        double e = 0;
        for (int64_t i = 0; i < numel; i += stride) {
            double d = (double)w[i] - (double)ir_quant_i8(w[i], s) * s;
            e += d * d;
        }
        if (e < best) best = e, best_s = s;
    }
    return best_s;
}

int pass_best_tau(const FeCalib *cal, int input, int shadow)
{
    int best = 0;
    double best_e = INFINITY;
    for (int j = 0; j < FE_CALIB_TAU; j++) {
        double e = 0;
        for (int i = 0; i < cal->nlin; i++) {
            const FeCalibLinear *l = &cal->lin[i];
            if (l->input == input) e += (shadow ? l->err_round[j] : l->err_clip[j]) / (l->ynorm > 0 ? l->ynorm : 1);
        }
        if (e < best_e) best_e = e, best = j;
    }
    return best;
}

static size_t tensor_numel(const FeTensor *t)
{
    size_t e = 1;
    for (int d = 0; d < t->ndim; d++) e *= (size_t)t->shape[d];
    return e;
}

/* Whether linear l becomes W8A8: on an npu unit, with float weights (a
 * block type is W4A16: the npu dequantises its blocks to half). */
static int quantised(const IrGraph *g, const IrNode *l)
{
    return l->op == IR_OP_LINEAR && pass_is_npu(g, l->unit) && !ir_dtype_is_block(g->nodes[l->in[1]].dtype);
}

void pass_quantize(IrGraph *g, const PassCtx *c)
{
    int any = 0;
    for (int i = 0; i < g->n; i++) any |= quantised(g, &g->nodes[i]);
    if (!any) return;
    if (!c->calib || !c->weights) {
        pass_error(c, "quantize: linears on an npu unit need calibration and the model's weights (hetc compile)");
        return;
    }
    float *data = NULL;         /* one tensor at a time in f32: the scale search needs nothing kept */
    size_t have = 0;
    IrGraph out;
    ir_graph_copy(&out, g);
    out.n = 0;
    int *map = malloc((size_t)g->n * sizeof *map), *w8 = malloc((size_t)g->n * sizeof *w8);
    int *quant = malloc((size_t)g->n * sizeof *quant);     /* x -> its quant node in the current plan */
    for (int i = 0; i < g->n; i++) w8[i] = quant[i] = -1;
    int plan = -2, failed = 0;
    for (int i = 0; i < g->n && !failed; i++) {
        IrNode n = g->nodes[i];
        if (n.plan >= 0 && n.plan != plan) {   /* the shared constants end: add the int8 weights */
            if (plan == -2 || plan == -1)
                for (int j = 0; j < g->n && !failed; j++) {
                    const IrNode *l = &g->nodes[j];
                    if (!quantised(g, l) || w8[l->in[1]] >= 0) continue;
                    const IrNode *w = &g->nodes[l->in[1]];
                    const char *name = ir_attr_str(w, "name");
                    const FeTensor *t = fe_weights_find(c->weights, name);
                    size_t need = t ? tensor_numel(t) : 0;
                    int64_t first = ir_attr(w, "row0") ? ir_attr_int(w, "row0") * w->dim[1] : 0;
                    if (t && need > have) {
                        free(data);
                        data = malloc(need * sizeof *data);
                        have = data ? need : 0;
                    }
                    if (!t || !data || first + ir_numel(w, 1, 1) > (int64_t)need) {
                        pass_error(c, "%s: tensor '%s' cannot be read for quantisation", c->model_dir, name);
                        failed = 1;
                        break;
                    }
                    fe_tensor_to_f32(t, data);
                    char nm[IR_NAME_LEN];
                    snprintf(nm, sizeof nm, "%.88s.i8", w->name);
                    int id = ir_add(&out, IR_OP_WEIGHT, 0, NULL, w->ndim, w->dim, IR_I8, w->layer, nm);
                    ir_set_str(&out.nodes[id], "name", name);
                    if (ir_attr(w, "row0")) ir_set_int(&out.nodes[id], "row0", ir_attr_int(w, "row0"));
                    ir_set_float(&out.nodes[id], "wscale", weight_scale(data + first, ir_numel(w, 1, 1)));
                    out.nodes[id].unit = l->unit;
                    w8[l->in[1]] = id;
                }
            plan = n.plan;
            for (int j = 0; j < g->n; j++) quant[j] = -1;
        }
        for (int k = 0; k < n.nin; k++) n.in[k] = map[n.in[k]];
        if (quantised(g, &g->nodes[i])) {
            const char *wname = ir_attr_str(&g->nodes[g->nodes[i].in[1]], "name");
            const FeCalibLinear *cl = fe_calib_linear(c->calib, wname);
            if (!cl) {
                pass_error(c, "quantize: the calibration has no statistics for tensor '%s' (a calib.json of "
                           "another model?)", wname);
                failed = 1;
                break;
            }
            int x = g->nodes[i].in[0];
            if (fe_calib_input(c->calib, cl)->k != g->nodes[x].dim[1]) {
                pass_error(c, "quantize: the calibration's input of tensor '%s' has %d channels, the model's %lld "
                           "(a calib.json of another model?)", wname, fe_calib_input(c->calib, cl)->k,
                           (long long)g->nodes[x].dim[1]);
                failed = 1;
                break;
            }
            float sx = (float)(fe_calib_tau(pass_best_tau(c->calib, cl->input, 0)) / 127.0);
            if (quant[x] < 0) {
                char nm[IR_NAME_LEN];
                snprintf(nm, sizeof nm, "%.88s.i8", g->nodes[x].name);
                const IrNode *xn = &out.nodes[map[x]];
                int in0 = map[x];
                quant[x] = ir_add(&out, IR_OP_QUANT, 1, &in0, xn->ndim, xn->dim, IR_I8, n.layer, nm);
                ir_set_float(&out.nodes[quant[x]], "scale", sx);
                ir_set_str(&out.nodes[quant[x]], "outliers", "none");
                ir_set_str(&out.nodes[quant[x]], "input", fe_calib_input(c->calib, cl)->name);
                out.nodes[quant[x]].unit = n.unit;
                out.nodes[quant[x]].plan = n.plan;
            }
            const IrNode *wn = &out.nodes[w8[g->nodes[i].in[1]]];
            int in[3] = {quant[x], wn->id, n.nin > 2 ? n.in[2] : -1};
            map[i] = ir_add(&out, IR_OP_QLINEAR, n.nin, in, n.ndim, n.dim, IR_F32, n.layer, n.name);
            ir_set_float(&out.nodes[map[i]], "scale", (float)(sx * (float)ir_attr_float(wn, "wscale")));
        } else {
            map[i] = ir_add_like(&out, &n);
        }
        out.nodes[map[i]].unit = n.unit;
        out.nodes[map[i]].plan = n.plan;
    }
    free(data);
    free(map);
    free(w8);
    free(quant);
    if (failed) {
        ir_graph_free(&out);
        return;
    }
    ir_graph_free(g);
    *g = out;
}
