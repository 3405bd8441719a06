/* ir_cost.c: the cost model: how long a piece of work takes on a unit.
 *
 * From the figures (the target's unit attributes; defaults by kind where
 * the target gives none), a linear x [s,k] @ W [n,k]^T costs
 *
 *   launch_us + max(2 s n k / rate, bytes / gbps)
 *
 * where rate is gops_i8 for int8 weights, gflops_f16 for weights of 16
 * bits or fewer on a unit that has that figure (it computes in half), else
 * gflops; bytes are the weight's (ir_dtype_bytes: a q4_0 matrix streams
 * 4.5 bits a value) plus the f32 activations in and out. A unit of static
 * shapes (an npu) pads s, n and k up to multiples of its tile: its cost is
 * step-shaped (HeteroLLM's NPU-1).
 *
 * A measured profile (fe_profile.c reads it) overrides the figures for
 * the linears it has: points of the same unit and weight dtype, of the
 * same k where it has them (else the nearest k, scaled by k), give the
 * time at the asked n and s as follows:
 *   - along s, per profiled n: a unit of flexible shapes interpolates
 *     linearly between profiled lengths (beyond the last, in proportion;
 *     below the first, the first); a unit of static shapes takes the next
 *     profiled length (the graph it would run; beyond the last, as many
 *     graphs of the last as it needs);
 *   - along n: linearly between the profiled widths around n, else from
 *     the nearest one in proportion to the work above launch_us (n padded
 *     to the tile on static units); only widths profiled up to s rows
 *     count where some are (a width measured at decode alone would
 *     extrapolate its memory-bound time to prefill).
 * Other ops cost their bytes over gbps plus launch_us (elementwise ops,
 * norms, RoPE, embedding, copies; silu and SwiGLU at least their elements
 * over silu_geps where the unit has that figure) or, for attention, the larger of its
 * flops (4 heads head_dim S (P + S/2)) over gflops and its cache reads over
 * gbps. Hand-overs cost the profile's sync_us for the pair, else the larger
 * sync_us of the two units. Work on two units at once takes the longer of
 * the two, no less than the bytes of both over the graph's dram_gbps (the
 * memory they share), or their sum where one unit computes on the other's
 * cores (shares=).
 */
#include "ir.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A figure of unit u, or dflt. */
static double fig(const IrUnit *u, const char *key, double dflt)
{
    double v = ir_unit_float(u, key, 0);
    return v > 0 ? v : dflt;
}

static int is_kind(const IrUnit *u, const char *k) { return strcmp(u->kind, k) == 0; }

static const IrUnit *unit_of(const IrCost *c, int u)
{
    if (u < 0 || u >= c->g->nunits) IR_BUG("no unit %d", u);
    return &c->g->units[u];
}

int ir_cost_is_static(const IrCost *c, int u) { return is_kind(unit_of(c, u), "npu"); }

static double gflops(const IrUnit *u) { return fig(u, "gflops", is_kind(u, "cpu") ? 50 : 500); }
static double gbps(const IrUnit *u) { return fig(u, "gbps", 20); }
static double launch(const IrUnit *u) { return fig(u, "launch_us", is_kind(u, "cpu") ? 1 : is_kind(u, "gpu") ? 10 : 20); }

static double rate(const IrUnit *u, IrDtype wdt)
{
    if (wdt == IR_I8) return fig(u, "gops_i8", 2 * fig(u, "gflops_f16", gflops(u)));
    if (wdt != IR_F32) return fig(u, "gflops_f16", gflops(u));
    return gflops(u);
}

static int64_t tile_of(const IrCost *c, int u)
{
    return ir_cost_is_static(c, u) ? ir_unit_int(unit_of(c, u), "tile", 32) : 1;
}

static int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

/* The figures' estimate (also the bytes of a profiled one). */
static IrCostEst figures_linear(const IrCost *c, int u, int64_t n, int64_t k, int64_t s, IrDtype wdt)
{
    const IrUnit *un = unit_of(c, u);
    int64_t t = tile_of(c, u);
    double sp = (double)round_up(s, t), np = (double)round_up(n, t), kp = (double)round_up(k, t);
    double bytes = (double)ir_dtype_bytes(wdt, n * k) + 4.0 * (double)s * (double)(n + k);
    double flops = 2 * sp * np * kp;
    double us = launch(un) + fmax(flops / (rate(un, wdt) * 1e3), bytes / (gbps(un) * 1e3));
    return (IrCostEst){us, bytes};
}

/* ---- profiles ---- */

static int point_of(const IrCost *c, int u, const IrCostPoint *p, IrDtype wdt)
{
    return strcmp(p->unit, unit_of(c, u)->name) == 0 && strcmp(p->op, "linear") == 0 && p->dtype == wdt;
}

/* The profiled k nearest to k (by ratio) among unit u's points of wdt; -1 if none. */
static int64_t nearest_k(const IrCost *c, int u, int64_t k, IrDtype wdt)
{
    int64_t best = -1;
    double bd = INFINITY;
    for (int i = 0; c->prof && i < c->prof->npts; i++) {
        const IrCostPoint *p = &c->prof->pts[i];
        if (!point_of(c, u, p, wdt)) continue;
        double d = fabs(log((double)p->k / (double)k));
        if (d < bd || (d == bd && p->k > best)) bd = d, best = p->k;
    }
    return best;
}

/* Time along s for the points of (u, wdt, k, n). */
static double along_s(const IrCost *c, int u, IrDtype wdt, int64_t k, int64_t n, int64_t s)
{
    const IrCostPoint *lo = NULL, *hi = NULL, *first = NULL, *last = NULL;
    for (int i = 0; i < c->prof->npts; i++) {
        const IrCostPoint *p = &c->prof->pts[i];
        if (!point_of(c, u, p, wdt) || p->k != k || p->n != n) continue;
        if (!first || p->s < first->s) first = p;
        if (!last || p->s > last->s) last = p;
        if (p->s <= s && (!lo || p->s > lo->s)) lo = p;
        if (p->s >= s && (!hi || p->s < hi->s)) hi = p;
    }
    if (!first) IR_BUG("no profile points of width %lld", (long long)n);
    if (ir_cost_is_static(c, u)) {
        if (hi) return hi->us;
        return last->us * (double)((s + last->s - 1) / last->s);
    }
    if (!hi) return last->us * (double)s / (double)last->s;
    if (!lo) return first->us;
    if (hi->s == lo->s) return lo->us;
    return lo->us + (hi->us - lo->us) * (double)(s - lo->s) / (double)(hi->s - lo->s);
}

/* The most rows profiled for width n. */
static int64_t width_reach(const IrCost *c, int u, IrDtype wdt, int64_t k, int64_t n)
{
    int64_t r = 0;
    for (int i = 0; i < c->prof->npts; i++) {
        const IrCostPoint *p = &c->prof->pts[i];
        if (point_of(c, u, p, wdt) && p->k == k && p->n == n && p->s > r) r = p->s;
    }
    return r;
}

/* The profile's time, or -1 where it has no point of (u, wdt). */
static double profiled_linear(const IrCost *c, int u, int64_t n, int64_t k, int64_t s, IrDtype wdt)
{
    int64_t kp = nearest_k(c, u, k, wdt);
    if (kp < 0) return -1;
    /* widths profiled up to s rows (else those profiled furthest): a width
     * measured at s = 1 alone says nothing of the compute at s = 256 */
    int64_t reach = 0;
    for (int i = 0; i < c->prof->npts; i++) {
        const IrCostPoint *p = &c->prof->pts[i];
        if (point_of(c, u, p, wdt) && p->k == kp && p->s > reach) reach = p->s;
    }
    int64_t need = s < reach ? s : reach, lo = -1, hi = -1, near = -1;
    for (int i = 0; i < c->prof->npts; i++) {
        const IrCostPoint *p = &c->prof->pts[i];
        if (!point_of(c, u, p, wdt) || p->k != kp || width_reach(c, u, wdt, kp, p->n) < need) continue;
        if (p->n <= n && p->n > lo) lo = p->n;
        if (p->n >= n && (hi < 0 || p->n < hi)) hi = p->n;
        if (near < 0 || fabs(log((double)p->n / (double)n)) < fabs(log((double)near / (double)n))) near = p->n;
    }
    double L = launch(unit_of(c, u)), us;
    int64_t t = tile_of(c, u);
    if (lo >= 0 && hi >= 0) {
        double a = along_s(c, u, wdt, kp, lo, s), b = along_s(c, u, wdt, kp, hi, s);
        us = hi == lo ? a : a + (b - a) * (double)(n - lo) / (double)(hi - lo);
    } else {
        double a = along_s(c, u, wdt, kp, near, s);
        us = L + fmax(a - L, 0) * (double)round_up(n, t) / (double)round_up(near, t);
    }
    if (kp != k) us = L + fmax(us - L, 0) * (double)round_up(k, t) / (double)round_up(kp, t);
    return us;
}

IrCostEst ir_cost_linear(const IrCost *c, int u, int64_t n, int64_t k, int64_t s, IrDtype wdt)
{
    IrCostEst e = figures_linear(c, u, n, k, s, wdt);
    double p = c->prof ? profiled_linear(c, u, n, k, s, wdt) : -1;
    if (p >= 0) e.us = p;
    return e;
}

int64_t ir_cost_static_rows(const IrCost *c, int u, int64_t k, int64_t s)
{
    if (!ir_cost_is_static(c, u)) return s;
    int64_t best = -1, last = -1;
    for (int i = 0; c->prof && i < c->prof->npts; i++) {    /* profiled lengths of this width */
        const IrCostPoint *p = &c->prof->pts[i];
        if (strcmp(p->unit, unit_of(c, u)->name) != 0 || p->k != k) continue;
        if (p->s >= s && (best < 0 || p->s < best)) best = p->s;
        if (p->s > last) last = p->s;
    }
    if (last < 0) {     /* the standard shapes */
        const char *sh = ir_unit_str(unit_of(c, u), "shapes", "32 64 128 256 512 1024");
        for (char *end; *sh; sh = end) {
            long v = strtol(sh, &end, 10);
            if (end == sh) break;
            if (v >= s && best < 0) best = v;
            last = v;
        }
    }
    if (best >= 0) return best;
    if (last <= 0) return round_up(s, tile_of(c, u));
    return round_up(s, last);
}

/* ---- other ops ---- */

/* Elements of nd's result in a step of S rows; R, the rows whose logits
 * the step returns, is 1 (a prompt's chunks and decode steps return the
 * last row's; all of them is for --logits and perplexity). */
static double numel_of(const IrNode *nd, int64_t S) { return (double)ir_numel(nd, S, 1); }

static int64_t rows_of(const IrNode *nd, int64_t S)
{
    return nd->dim[0] == IR_DIM_S ? S : nd->dim[0] == IR_DIM_R ? 1 : nd->dim[0];
}

IrCostEst ir_cost_node(const IrCost *c, const IrNode *nd, int64_t S, int64_t P)
{
    const IrGraph *g = c->g;
    const IrUnit *un = unit_of(c, nd->unit);
    if (ir_cost_is_static(c, nd->unit)) S = round_up(S, tile_of(c, nd->unit));
    double bytes = numel_of(nd, S) * 4, flops = 0, ew = 0;
    switch (nd->op) {
    case IR_OP_INPUT: case IR_OP_WEIGHT: case IR_OP_ROPE_TABLE: case IR_OP_LAST_ROWS: case IR_OP_OUTPUT:
    case IR_OP_ROWS: case IR_OP_JOIN:
        return (IrCostEst){0, 0};
    case IR_OP_LINEAR: case IR_OP_QLINEAR: {
        const IrNode *w = &g->nodes[nd->in[1]];
        IrDtype dt = w->dtype;      /* an npu keeps float weights as int8 (pass quantize, when it runs) */
        if (ir_cost_is_static(c, nd->unit) && (dt == IR_F32 || dt == IR_F16 || dt == IR_BF16)) dt = IR_I8;
        int64_t rows = rows_of(nd, S);
        return ir_cost_linear(c, nd->unit, w->dim[0], w->dim[1],
                              ir_cost_is_static(c, nd->unit) ? round_up(rows, tile_of(c, nd->unit)) : rows, dt);
    }
    case IR_OP_SHADOW: {
        const IrNode *w = &g->nodes[nd->in[1]];
        flops = 2.0 * (double)S * (double)w->dim[0] * (double)w->dim[1];
        bytes += (double)ir_dtype_bytes(w->dtype, w->dim[0] * w->dim[1]) + numel_of(&g->nodes[nd->in[0]], S) * 4;
        break;
    }
    case IR_OP_ATTENTION: {
        double heads = (double)ir_attr_int(nd, "heads"), kvh = (double)ir_attr_int(nd, "kv_heads");
        double hd = (double)ir_attr_int(nd, "head_dim"), keys = (double)P + (double)S / 2;
        flops = 4.0 * heads * hd * (double)S * keys;
        bytes += 2.0 * 4.0 * kvh * hd * ((double)P + (double)S) + numel_of(&g->nodes[nd->in[0]], S) * 4;
        break;
    }
    case IR_OP_SILU: case IR_OP_SWIGLU:     /* an exp and a divide an element: silu_geps where measured */
        if (fig(un, "silu_geps", 0) > 0) ew = numel_of(nd, S) / (fig(un, "silu_geps", 0) * 1e3);
        /* fall through */
    default:    /* elementwise, norms, RoPE, embedding, quant, copies: their operands in, the result out */
        for (int i = 0; i < nd->nin; i++) {
            const IrNode *a = &g->nodes[nd->in[i]];
            if (a->op != IR_OP_WEIGHT && a->op != IR_OP_ROPE_TABLE && a->op != IR_OP_INPUT) bytes += numel_of(a, S) * 4;
        }
        break;
    }
    double us = launch(un) + fmax(fmax(flops / (gflops(un) * 1e3), ew), bytes / (gbps(un) * 1e3));
    return (IrCostEst){us, bytes};
}

/* ---- hand-overs and concurrency ---- */

double ir_cost_sync(const IrCost *c, int a, int b)
{
    if (a == b) return 0;
    const char *na = unit_of(c, a)->name, *nb = unit_of(c, b)->name;
    for (int i = 0; c->prof && i < c->prof->nsync; i++) {
        const IrCostSync *s = &c->prof->sync[i];
        if ((strcmp(s->a, na) == 0 && strcmp(s->b, nb) == 0) || (strcmp(s->a, nb) == 0 && strcmp(s->b, na) == 0))
            return s->us;
    }
    return fmax(fig(unit_of(c, a), "sync_us", 5), fig(unit_of(c, b), "sync_us", 5));
}

int ir_cost_core(const IrCost *c, int u)
{
    const char *s = ir_unit_str(unit_of(c, u), "shares", "");
    int v = s[0] ? ir_unit_find(c->g, s) : -1;
    return v >= 0 ? v : u;
}

/* Whether units a and b compute on the same cores. */
static int share_cores(const IrCost *c, int a, int b) { return ir_cost_core(c, a) == ir_cost_core(c, b); }

double ir_cost_together(const IrCost *c, int a, IrCostEst ea, int b, IrCostEst eb)
{
    double t = share_cores(c, a, b) ? ea.us + eb.us : fmax(ea.us, eb.us), dram = ir_graph_float(c->g, "dram_gbps", 0);
    if (dram > 0) t = fmax(t, (ea.bytes + eb.bytes) / (dram * 1e3));
    return t;
}
