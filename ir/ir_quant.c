/* ir_quant.c: the arithmetic of hetc's int8 ops, written once.
 *
 * ops.def defines quant (f32 -> int8 by a per-tensor scale), qlinear (int8
 * x int8 -> int32 -> f32) and shadow (the part of an activation that quant
 * clipped off, in float over a channel set), and weights derived from a
 * model tensor: int8 by a weight scale (wscale) or the float columns of a
 * channel set (chans). The interpreter, the passes that choose scales and
 * the weights writer all call these functions, and runtime/rt_npu_emu.c
 * implements the same formulas, so that every path agrees bit for bit.
 * This file is compiled without floating-point contraction (see the pragma)
 * so that x / s and (float)acc * s + b round as written.
 */
#include "ir.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

int8_t ir_quant_i8(float x, float scale)
{
    float v = x / scale;
    if (v != v) return 0;
    if (v >= 127.0f) return 127;
    if (v <= -127.0f) return -127;
    return (int8_t)nearbyintf(v);
}

float ir_shadow_excess(float v, float scale)
{
    float t = v / scale, edge = 127.0f * scale;
    if (t > 127.0f) return v - edge;
    if (t < -127.0f) return v + edge;
    return 0.0f;
}

int ir_weight_is_derived(const IrNode *w)
{
    return w->op == IR_OP_WEIGHT && (ir_attr(w, "wscale") || ir_attr(w, "chans") || ir_attr(w, "row0"));
}

void ir_weight_derive(const IrGraph *g, const IrNode *w, const float *src, int64_t K, void *out)
{
    const IrAttr *ws = ir_attr(w, "wscale"), *ch = ir_attr(w, "chans");
    int64_t rows = w->ndim ? w->dim[0] : 1;
    const IrAttr *r0 = ir_attr(w, "row0");
    if (r0) src += r0->i * (w->ndim > 1 ? K : 1);
    if (ws) {
        int64_t n = ir_numel(w, 1, 1);
        float s = (float)ws->f;
        int8_t *o = out;
        for (int64_t i = 0; i < n; i++) o[i] = ir_quant_i8(src[i], s);
    } else if (ch) {
        const IrChans *set = ir_chans_find(g, ch->s);
        if (!set) IR_BUG("weight %%%d: channel set '%s' is not defined", w->id, ch->s);
        if (set->idx[set->n - 1] >= K) IR_BUG("weight %%%d: channel %d of a tensor of %lld columns", w->id,
                                              set->idx[set->n - 1], (long long)K);
        float *o = out;
        for (int64_t r = 0; r < rows; r++)
            for (int j = 0; j < set->n; j++) o[r * set->n + j] = src[r * K + set->idx[j]];
    } else if (w->dtype == IR_F32) {
        memcpy(out, src, (size_t)ir_numel(w, 1, 1) * sizeof(float));
    } else {
        IR_BUG("weight %%%d: only f32, int8, column and row weights are derived here", w->id);
    }
}

const char *ir_weight_key(const IrNode *w, char buf[IR_NAME_LEN + 8])
{
    const char *name = ir_attr_str(w, "name");
    const IrAttr *r0 = ir_attr(w, "row0");
    char rows[24] = "";
    if (r0) snprintf(rows, sizeof rows, "#r%lld", (long long)r0->i);
    snprintf(buf, IR_NAME_LEN + 8, "%.*s%s%s", IR_NAME_LEN - 20, name, rows,
             ir_attr(w, "wscale") ? "#i8" : ir_attr(w, "chans") ? "#cols" : "");
    return buf;
}
