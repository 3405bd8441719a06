/* ir_interp.c: the float32 reference interpreter of the IR.
 *
 * Runs a graph node by node, straight from the op semantics in ops.def, with
 * OpenBLAS for matrix products. It keeps a KV cache so a prompt can be fed
 * in pieces like the generated program does. Tests compare it with the
 * transformers reference; calibration will run it over sample text.
 * A graph with plans (pass chunk) runs a step the way the generated program
 * does: the decode plan, or chunks and a remainder (flex, or padded with
 * masked rows), by ir_plan_next.
 * Simplicity over speed: buffers are allocated per step. Every allocation
 * is checked: a size that overflows or memory that is not there is an
 * error naming what was being allocated.
 */
#include "ir.h"

#include <cblas.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* No floating-point contraction: the int8 ops and the float ops an npu
 * runs must round as written (runtime/rt_npu.h), on every architecture. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

struct IrInterp {
    const IrGraph *g;
    IrWeightFn fn;
    void *user;
    int ctx;                /* KV cache capacity in tokens */
    int pos;                /* tokens already in the cache */
    int ncache;             /* cache slots (one per attention node) */
    float **kc, **vc;       /* [ncache][ctx * kv_dim] */
    const float **val;      /* [g->n] result of each node in the current step */
    float **own;            /* [g->n] buffers owned by the current step */
    float **tables;         /* [g->n] RoPE tables and derived weights, computed once */
    double *scores;         /* [ctx] one query row's attention scores */
    IrObserveFn observe;    /* called with every linear's input, or NULL */
    void *observe_user;
};

void ir_interp_observe(IrInterp *it, IrObserveFn fn, void *user)
{
    it->observe = fn;
    it->observe_user = user;
}

void ir_rope_table(const IrNode *n, float *out)
{
    int half = (int)n->dim[0];
    double theta = ir_attr_float(n, "theta"), factor = ir_attr_float(n, "factor");
    const char *type = ir_attr_str(n, "type");
    double orig = (double)ir_attr_int(n, "orig_ctx");
    double low_wavelen = orig / ir_attr_float(n, "low"), high_wavelen = orig / ir_attr_float(n, "high");
    for (int i = 0; i < half; i++) {
        double inv = 1.0 / pow(theta, (double)(2 * i) / (double)(2 * half));
        inv = (float)inv; /* transformers computes the table in float32 */
        if (strcmp(type, "linear") == 0) inv /= factor;
        if (strcmp(type, "llama3") == 0) {
            double wavelen = 2.0 * M_PI / inv;
            if (wavelen > low_wavelen) {
                inv /= factor;
            } else if (wavelen >= high_wavelen) {
                double smooth = (orig / wavelen - ir_attr_float(n, "low"))
                                / (ir_attr_float(n, "high") - ir_attr_float(n, "low"));
                inv = (1.0 - smooth) * inv / factor + smooth * inv;
            }
        }
        out[i] = (float)inv;
    }
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* n (at least 1) elements of size bytes each, zeroed; NULL with err set
 * if the size overflows or the memory is not there. */
static void *alloc_array(size_t n, size_t size, const char *what, char *err, size_t errlen)
{
    void *p = n <= SIZE_MAX / size ? calloc(n ? n : 1, size) : NULL;
    if (!p) fail(err, errlen, "%s: cannot allocate %zu x %zu bytes", what, n, size);
    return p;
}

/* The columns (K) of the tensor weight node w is derived from: its own for
 * int8 weights and row parts, the input's of the shadow that reads it for
 * columns. */
static int64_t source_cols(const IrGraph *g, const IrNode *w)
{
    if (ir_attr(w, "wscale") || !ir_attr(w, "chans")) return w->ndim > 1 ? w->dim[1] : 1;
    for (int i = w->id + 1; i < g->n; i++)
        if (g->nodes[i].op == IR_OP_SHADOW && g->nodes[i].in[1] == w->id) return g->nodes[g->nodes[i].in[0]].dim[1];
    return 0;
}

/* A derived weight (int8 or columns) as floats, into it->tables[i]. */
static int derive_weight(IrInterp *it, const IrNode *n, const float *src, char *err, size_t errlen)
{
    int64_t K = source_cols(it->g, n), numel = ir_numel(n, 1, 1);
    if (K <= 0) return fail(err, errlen, "weight %%%d: no shadow reads these columns", n->id);
    void *raw = alloc_array((size_t)numel, (size_t)ir_dtype_size(n->dtype), n->name, err, errlen);
    float *f = raw ? alloc_array((size_t)numel, sizeof(float), n->name, err, errlen) : NULL;
    if (!f) {
        free(raw);
        return -1;
    }
    ir_weight_derive(it->g, n, src, K, raw);
    for (int64_t e = 0; e < numel; e++) f[e] = n->dtype == IR_I8 ? (float)((int8_t *)raw)[e] : ((float *)raw)[e];
    free(raw);
    it->tables[n->id] = f;
    it->val[n->id] = f;
    return 0;
}

IrInterp *ir_interp_new(const IrGraph *g, IrWeightFn fn, void *user, int ctx, char *err, size_t errlen)
{
    if (ir_verify(g, err, errlen)) return NULL;
    if (ctx <= 0) {
        fail(err, errlen, "context of %d tokens", ctx);
        return NULL;
    }
    IrInterp *it = calloc(1, sizeof *it);
    if (!it) {
        fail(err, errlen, "out of memory");
        return NULL;
    }
    it->g = g;
    it->fn = fn;
    it->user = user;
    it->ctx = ctx;
    int ok = (it->val = alloc_array((size_t)g->n, sizeof *it->val, "interpreter", err, errlen))
             && (it->own = alloc_array((size_t)g->n, sizeof *it->own, "interpreter", err, errlen))
             && (it->tables = alloc_array((size_t)g->n, sizeof *it->tables, "interpreter", err, errlen))
             && (it->scores = alloc_array((size_t)ctx, sizeof *it->scores, "attention scores", err, errlen));
    for (int i = 0; ok && i < g->n; i++) {
        const IrNode *n = &g->nodes[i];
        if (n->op == IR_OP_ATTENTION) {
            int64_t slot = ir_attr_int(n, "cache");
            if (slot < 0 || slot >= g->n) ok = fail(err, errlen, "node %%%d: cache slot %lld", i, (long long)slot) == 0;
            else if (slot + 1 > it->ncache) it->ncache = (int)slot + 1;
        }
        if (n->op == IR_OP_ROPE_TABLE) {
            ok = (it->tables[i] = alloc_array((size_t)n->dim[0], sizeof(float), "rope table", err, errlen)) != NULL;
            if (ok) ir_rope_table(n, it->tables[i]);
        }
        if (ok && n->op == IR_OP_WEIGHT) {
            it->val[i] = fn(user, ir_attr_str(n, "name"));
            if (!it->val[i]) ok = fail(err, errlen, "weight '%s' (node %%%d) is not available", ir_attr_str(n, "name"), i) == 0;
            else if (!ir_attr(n, "wscale") && !ir_attr(n, "chans") && ir_attr(n, "row0"))   /* a row part: in place */
                it->val[i] += ir_attr_int(n, "row0") * (n->ndim > 1 ? n->dim[1] : 1);
            else if (ir_weight_is_derived(n)) ok = derive_weight(it, n, it->val[i], err, errlen) == 0;
        }
    }
    ok = ok && (it->kc = alloc_array((size_t)it->ncache, sizeof *it->kc, "KV cache", err, errlen))
         && (it->vc = alloc_array((size_t)it->ncache, sizeof *it->vc, "KV cache", err, errlen));
    for (int i = 0; ok && i < g->n; i++) {
        const IrNode *n = &g->nodes[i];
        if (n->op != IR_OP_ATTENTION) continue;
        int64_t kvdim = ir_attr_int(n, "kv_heads") * ir_attr_int(n, "head_dim");
        int slot = (int)ir_attr_int(n, "cache");
        if (it->kc[slot] && n->plan < 0) {
            ok = fail(err, errlen, "node %%%d: cache slot %d is taken by another attention", i, slot) == 0;
            break;
        }
        if (it->kc[slot]) continue;     /* the same layer in another plan: one cache */
        size_t elems;
        if (kvdim <= 0 || __builtin_mul_overflow((size_t)ctx, (size_t)kvdim, &elems)) {
            ok = fail(err, errlen, "node %%%d: KV cache of %d tokens x %lld values", i, ctx, (long long)kvdim) == 0;
            break;
        }
        ok = (it->kc[slot] = alloc_array(elems, sizeof(float), "KV cache", err, errlen))
             && (it->vc[slot] = alloc_array(elems, sizeof(float), "KV cache", err, errlen));
    }
    if (!ok) {
        ir_interp_free(it);
        return NULL;
    }
    return it;
}

int ir_interp_pos(const IrInterp *it) { return it->pos; }

void ir_interp_free(IrInterp *it)
{
    if (!it) return;
    for (int i = 0; it->own && i < it->g->n; i++) free(it->own[i]);
    for (int i = 0; it->tables && i < it->g->n; i++) free(it->tables[i]);
    for (int i = 0; it->kc && i < it->ncache; i++) free(it->kc[i]);
    for (int i = 0; it->vc && i < it->ncache; i++) free(it->vc[i]);
    free(it->kc);
    free(it->vc);
    free(it->val);
    free(it->own);
    free(it->tables);
    free(it->scores);
    free(it);
}

static void run_rmsnorm(float *out, const float *x, const float *w, int rows, int H, float eps)
{
    for (int s = 0; s < rows; s++) {
        double ss = 0;
        for (int j = 0; j < H; j++) ss += (double)x[s * H + j] * x[s * H + j];
        float inv = (float)(1.0 / sqrt(ss / H + eps));
        for (int j = 0; j < H; j++) out[s * H + j] = x[s * H + j] * inv * w[j];
    }
}

static void run_rope(float *out, const float *x, const float *table, int rows, int heads, int hd, int pos0)
{
    int half = hd / 2;
    for (int s = 0; s < rows; s++)
        for (int h = 0; h < heads; h++) {
            const float *xi = x + (size_t)s * heads * hd + h * hd;
            float *o = out + (size_t)s * heads * hd + h * hd;
            for (int i = 0; i < half; i++) {
                double a = (double)(pos0 + s) * table[i];
                float c = (float)cos(a), sn = (float)sin(a);
                float x0 = xi[i], x1 = xi[i + half];
                o[i] = x0 * c - x1 * sn;
                o[i + half] = x1 * c + x0 * sn;
            }
        }
}

static void run_attention(IrInterp *it, const IrNode *n, float *out, const float *q, const float *k,
                          const float *v, int S)
{
    int heads = (int)ir_attr_int(n, "heads"), kvh = (int)ir_attr_int(n, "kv_heads");
    int hd = (int)ir_attr_int(n, "head_dim"), window = (int)ir_attr_int(n, "window");
    int slot = (int)ir_attr_int(n, "cache");
    float scale = (float)ir_attr_float(n, "scale");
    int kvdim = kvh * hd, group = heads / kvh;
    float *kc = it->kc[slot], *vc = it->vc[slot];
    memcpy(kc + (size_t)it->pos * kvdim, k, (size_t)S * kvdim * sizeof(float));
    memcpy(vc + (size_t)it->pos * kvdim, v, (size_t)S * kvdim * sizeof(float));
    double *p = it->scores;
    for (int s = 0; s < S; s++) {
        int qpos = it->pos + s, lo = window > 0 && qpos - window + 1 > 0 ? qpos - window + 1 : 0;
        for (int h = 0; h < heads; h++) {
            const float *qh = q + (size_t)s * heads * hd + h * hd;
            int kvoff = (h / group) * hd;
            double mx = -INFINITY, sum = 0;
            for (int j = lo; j <= qpos; j++) {
                double d = 0;
                for (int e = 0; e < hd; e++) d += (double)qh[e] * kc[(size_t)j * kvdim + kvoff + e];
                p[j] = d * scale;
                if (p[j] > mx) mx = p[j];
            }
            for (int j = lo; j <= qpos; j++) sum += p[j] = exp(p[j] - mx);
            float *o = out + (size_t)s * heads * hd + h * hd;
            for (int e = 0; e < hd; e++) {
                double acc = 0;
                for (int j = lo; j <= qpos; j++) acc += p[j] * vc[(size_t)j * kvdim + kvoff + e];
                o[e] = (float)(acc / sum);
            }
        }
    }
}

static void run_linear(float *out, const float *x, const float *w, const float *b, int rows, int N, int K)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, N, K, 1.0f, x, K, w, K, 0.0f, out, N);
    if (b)
        for (int s = 0; s < rows; s++)
            for (int j = 0; j < N; j++) out[(size_t)s * N + j] += b[j];
}

/* out = (f32)(x @ W^T) * scale (+ b) with x and W holding int8 values:
 * the products' sums are integers below 2^53, exact in double. */
static int run_qlinear(float *out, const float *x, const float *w, const float *b, int rows, int N, int K,
                       float scale, char *err, size_t errlen)
{
    double *xd = alloc_array((size_t)rows * K, sizeof *xd, "qlinear", err, errlen);
    double *wd = xd ? alloc_array((size_t)N * K, sizeof *wd, "qlinear", err, errlen) : NULL;
    double *acc = wd ? alloc_array((size_t)rows * N, sizeof *acc, "qlinear", err, errlen) : NULL;
    if (acc) {
        for (size_t e = 0; e < (size_t)rows * K; e++) xd[e] = x[e];
        for (size_t e = 0; e < (size_t)N * K; e++) wd[e] = w[e];
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, N, K, 1.0, xd, K, wd, K, 0.0, acc, N);
        for (int s = 0; s < rows; s++)
            for (int j = 0; j < N; j++) {
                float y = (float)(int32_t)acc[(size_t)s * N + j] * scale;
                out[(size_t)s * N + j] = b ? y + b[j] : y;
            }
    }
    free(xd);
    free(wd);
    free(acc);
    return acc ? 0 : -1;
}

/* The shadow of a quantised linear: the clipped-off excess of the set's
 * channels times their float columns. */
static int run_shadow(const IrGraph *g, const IrNode *n, float *out, const float *x, const float *w, int rows,
                      char *err, size_t errlen)
{
    const IrChans *set = ir_chans_find(g, ir_attr_str(n, "chans"));
    int K = (int)g->nodes[n->in[0]].dim[1], N = (int)n->dim[1];
    float scale = (float)ir_attr_float(n, "scale");
    float *e = alloc_array((size_t)rows * set->n, sizeof *e, "shadow", err, errlen);
    if (!e) return -1;
    for (int s = 0; s < rows; s++)
        for (int j = 0; j < set->n; j++) e[(size_t)s * set->n + j] = ir_shadow_excess(x[(size_t)s * K + set->idx[j]], scale);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, N, set->n, 1.0f, e, set->n, w, set->n, 0.0f, out, N);
    free(e);
    return 0;
}

static void run_elementwise(IrOp op, float *out, const float *a, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float s = op == IR_OP_SILU || op == IR_OP_SWIGLU ? a[i] / (1.0f + expf(-a[i])) : a[i];
        out[i] = op == IR_OP_ADD ? a[i] + b[i] : op == IR_OP_MUL ? a[i] * b[i] : op == IR_OP_SWIGLU ? s * b[i] : s;
    }
}

/* join: a and b side by side (axis 1) or one above the other (axis 0). */
static void run_join(const IrGraph *g, const IrNode *n, float *out, const float *a, const float *b, int S)
{
    const IrNode *pa = &g->nodes[n->in[0]], *pb = &g->nodes[n->in[1]];
    int64_t na = ir_numel(pa, S, S), nb = ir_numel(pb, S, S);
    if (ir_attr_int(n, "axis") == 0) {
        memcpy(out, a, (size_t)na * sizeof(float));
        memcpy(out + na, b, (size_t)nb * sizeof(float));
        return;
    }
    int64_t ca = pa->dim[1], cb = pb->dim[1], rows = na / ca;
    for (int64_t r = 0; r < rows; r++) {
        memcpy(out + r * (ca + cb), a + r * ca, (size_t)ca * sizeof(float));
        memcpy(out + r * (ca + cb) + ca, b + r * cb, (size_t)cb * sizeof(float));
    }
}

/* One node over S rows, of which the first 'valid' are real tokens (the
 * rest pad a chunk: attention leaves them out of the cache, and zero). */
static int run_node(IrInterp *it, const IrNode *n, const int32_t *ids, int S, int valid, float *out, char *err,
                    size_t errlen)
{
    const float *a = n->nin > 0 ? it->val[n->in[0]] : NULL, *b = n->nin > 1 ? it->val[n->in[1]] : NULL;
    int cols = n->ndim > 1 ? (int)n->dim[1] : 1;
    const IrNode *x = n->nin ? &it->g->nodes[n->in[0]] : NULL;
    switch (n->op) {
    case IR_OP_EMBED:
        for (int s = 0; s < S; s++) memcpy(out + (size_t)s * cols, b + (size_t)ids[s] * cols, cols * sizeof(float));
        break;
    case IR_OP_RMSNORM: run_rmsnorm(out, a, b, S, cols, (float)ir_attr_float(n, "eps")); break;
    case IR_OP_LINEAR:
        run_linear(out, a, b, n->nin > 2 ? it->val[n->in[2]] : NULL, (int)ir_numel(x, S, S) / (int)x->dim[1],
                   cols, (int)x->dim[1]);
        if (it->observe) it->observe(it->observe_user, n, a, valid, out);
        break;
    case IR_OP_QUANT: {
        float scale = (float)ir_attr_float(n, "scale");
        for (int64_t e = 0; e < ir_numel(n, S, S); e++) out[e] = (float)ir_quant_i8(a[e], scale);
        break;
    }
    case IR_OP_QLINEAR:
        return run_qlinear(out, a, b, n->nin > 2 ? it->val[n->in[2]] : NULL, (int)(ir_numel(x, S, S) / x->dim[1]),
                           cols, (int)x->dim[1], (float)ir_attr_float(n, "scale"), err, errlen);
    case IR_OP_SHADOW: return run_shadow(it->g, n, out, a, b, (int)(ir_numel(x, S, S) / x->dim[1]), err, errlen);
    case IR_OP_ROPE:
        run_rope(out, a, b, S, (int)ir_attr_int(n, "heads"), (int)ir_attr_int(n, "head_dim"), it->pos);
        break;
    case IR_OP_ATTENTION: run_attention(it, n, out, a, b, it->val[n->in[2]], valid); break;
    case IR_OP_JOIN: run_join(it->g, n, out, a, b, S); break;
    default: run_elementwise(n->op, out, a, b, ir_numel(n, S, S)); break;
    }
    return 0;
}

/* Runs the nodes of plan 'plan' (-1: a graph without plans) on S rows, the
 * first 'valid' of them real; their logits go to logits[valid * vocab]. */
static int run_plan(IrInterp *it, int plan, const int32_t *ids, int S, int valid, float *logits, char *err,
                    size_t errlen)
{
    const IrGraph *g = it->g;
    int vocab = (int)ir_graph_int(g, "vocab", 0);
    const float *result = NULL;
    for (int i = 0; i < g->n; i++) {
        const IrNode *n = &g->nodes[i];
        if (n->plan != plan && n->plan >= 0) continue;
        switch (n->op) {
        case IR_OP_WEIGHT: continue;
        case IR_OP_INPUT: it->val[i] = NULL; continue;
        case IR_OP_ROPE_TABLE: it->val[i] = it->tables[i]; continue;
        case IR_OP_LAST_ROWS: /* R = S: all rows */
        case IR_OP_COPY: it->val[i] = it->val[n->in[0]]; continue;
        case IR_OP_ROWS: it->val[i] = it->val[n->in[0]] + ir_attr_int(n, "row0") * n->dim[1]; continue;
        case IR_OP_OUTPUT: result = it->val[i] = it->val[n->in[0]]; continue;
        default: break;
        }
        free(it->own[i]);
        it->own[i] = alloc_array((size_t)ir_numel(n, S, S), sizeof(float), n->name, err, errlen);
        if (!it->own[i]) return -1;
        if (run_node(it, n, ids, S, valid, it->own[i], err, errlen)) return -1;
        it->val[i] = it->own[i];
    }
    if (!result) return fail(err, errlen, "the graph has no output");
    memcpy(logits, result, (size_t)valid * vocab * sizeof(float));
    it->pos += valid;
    return 0;
}

int ir_interp_step(IrInterp *it, const int32_t *ids, int S, float *logits, char *err, size_t errlen)
{
    const IrGraph *g = it->g;
    if (S <= 0 || S > it->ctx - it->pos)
        return fail(err, errlen, "%d tokens at position %d do not fit the context of %d", S, it->pos, it->ctx);
    int vocab = (int)ir_graph_int(g, "vocab", 0);
    for (int s = 0; s < S; s++)
        if (ids[s] < 0 || ids[s] >= vocab) return fail(err, errlen, "token id %d is out of range (vocab %d)", ids[s], vocab);
    if (g->nplans == 0) return run_plan(it, -1, ids, S, S, logits, err, errlen);
    for (int done = 0; done < S;) {
        int64_t rows, padded;
        int p = ir_plan_next(g, S - done, done == 0, &rows, &padded);
        if (p < 0) return fail(err, errlen, "no plan takes %d tokens", S - done);
        int32_t *pad = alloc_array((size_t)padded, sizeof *pad, "padded ids", err, errlen);
        if (!pad) return -1;
        memcpy(pad, ids + done, (size_t)rows * sizeof *pad);
        int rc = run_plan(it, p, pad, (int)padded, (int)rows, logits + (size_t)done * vocab, err, errlen);
        free(pad);
        if (rc) return -1;
        done += (int)rows;
    }
    return 0;
}
