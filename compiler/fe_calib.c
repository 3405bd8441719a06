/* fe_calib.c: calibration of a model's linear inputs, and calib.json.
 *
 * fe_calib_run feeds token windows through the reference interpreter (the
 * float graph after lower) and watches every linear (ir_interp_observe).
 * Per distinct input tensor (q, k and v share theirs) it keeps:
 *   - max|x| and p99.9 of |x| over all elements, and per channel max|x|
 *     and p99.9 over tokens; the p99.9s are exact (bounded heaps of the
 *     largest 0.1% + 1 values, sized from the token count known up front);
 *   - for every linear that reads it and every clip threshold tau of a
 *     fixed grid (FE_CALIB_TAU), over a sample of at most FE_CALIB_ROWS
 *     rows: what int8 at scale tau/127 loses, each element's squared loss
 *     weighted by the squared norm of the weight's column of its channel
 *     (the output error if channels' errors are uncorrelated): the part
 *     clipped off plus the rounding of the rest (err_clip[j]), and the
 *     rounding alone (err_round[j], what is left with a shadow). Sums is
 *     how that stays cheap: moments for the clipping, exact rounding only
 *     where it is neither nothing nor the whole element;
 *   - ynorm: the sum of each linear's outputs' squares over the same rows. The passes quantize and outliers choose scales and
 * shadows from these (relative errors err / ynorm).
 *
 * calib.json (fe_calib_save / fe_calib_load) holds all of it:
 *   {"format": "hetc-calib 1", "model": NAME, "tokens": T, "rows": R,
 *    "tau": [FE_CALIB_TAU floats],
 *    "inputs": {"l0.q": {"k": K, "max": M, "p999": P, "ch_max": [K], "ch_p999": [K]}, ...},
 *    "linears": {"model.layers.0.self_attn.q_proj.weight": {"input": "l0.q", "n": N,
 *                "ynorm": Y, "err_clip": [..], "err_round": [..]}, ...}}
 * An input is named after the first linear that reads it. Runs are
 * deterministic: the same text and model give the same file.
 */
#include "fe.h"

#include <json-c/json.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int cfail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

double fe_calib_tau(int j) { return ldexp(1.0, -12) * pow(2.0, j / 8.0); }

/* A bounded min-heap of the 'cap' largest values seen. */
typedef struct {
    float *v;
    int n, cap;
} Heap;

static void heap_push(Heap *h, float x)
{
    if (h->n < h->cap) {        /* sift up */
        int i = h->n++;
        while (i > 0 && h->v[(i - 1) / 2] > x) {
            h->v[i] = h->v[(i - 1) / 2];
            i = (i - 1) / 2;
        }
        h->v[i] = x;
        return;
    }
    if (x <= h->v[0]) return;
    int i = 0;                  /* replace the root, sift down */
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = -1;
        float best = x;
        if (l < h->n && h->v[l] < best) best = h->v[m = l];
        if (r < h->n && h->v[r] < best) best = h->v[m = r];
        if (m < 0) break;
        h->v[i] = h->v[m];
        i = m;
    }
    h->v[i] = x;
}

/* The smallest of the kept values: the cap-th largest, 0 if none. */
static float heap_min(const Heap *h) { return h->n ? h->v[0] : 0.0f; }

/* What is being gathered for one input tensor. */
/* The error sums of one linear, weighted per channel by the squared norm
 * of the weight's column (c[k]). An element a = |x| clips at every tau_j
 * below it: the moments of the elements whose first tau_j >= a is b
 * (m0, m1, m2: sums of c, c a, c a^2 over bucket b) give all of those at
 * the end. Below a/254 nothing rounds away but the whole element: tail[b]
 * adds c a^2 from tau_b on. In between, the rounding is summed exactly. */
typedef struct {
    double *c;                              /* [K] column norms^2 */
    double m0[FE_CALIB_TAU + 1], m1[FE_CALIB_TAU + 1], m2[FE_CALIB_TAU + 1];
    double round[FE_CALIB_TAU];
    double tail[FE_CALIB_TAU + 1];
} Sums;

typedef struct {
    Heap all;               /* largest |x| overall */
    Heap *ch;               /* [K] largest |x| per channel */
    int nlin;
    int lin[8];             /* the linears reading this input (at most 8 get error sums) */
    Sums *sums;             /* [nlin] */
} Gather;

typedef struct {
    FeCalib *c;
    float tau[FE_CALIB_TAU];
    Gather *gin;            /* [c->nin] */
    int64_t total_rows;     /* rows fed so far */
    int stride;             /* every stride-th row is sampled for errors */
    char *err;
    size_t errlen;
    int failed;
} Run;

static int find_linear(const FeCalib *c, const char *name)
{
    for (int i = 0; i < c->nlin; i++)
        if (strcmp(c->lin[i].name, name) == 0) return i;
    return -1;
}

const FeCalibLinear *fe_calib_linear(const FeCalib *c, const char *weight)
{
    int i = find_linear(c, weight);
    return i >= 0 ? &c->lin[i] : NULL;
}

const FeCalibInput *fe_calib_input(const FeCalib *c, const FeCalibLinear *l) { return &c->in[l->input]; }

/* Grid index of the first tau_j >= a (FE_CALIB_TAU when none). */
static int first_tau_at_least(const Run *r, float a)
{
    int lo = 0, hi = FE_CALIB_TAU;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (r->tau[mid] >= a) hi = mid;
        else lo = mid + 1;
    }
    return lo;
}

/* One sampled element v of channel k into the sums of every linear that reads it. */
static void add_element(const Run *r, Gather *ga, float v, int k)
{
    float a = fabsf(v);
    if (a == 0) return;
    int b = first_tau_at_least(r, a), e = first_tau_at_least(r, 254.0f * a);
    double a2 = (double)a * a;
    for (int i = 0; i < ga->nlin; i++) {
        Sums *su = &ga->sums[i];
        double w = su->c[k];
        su->m0[b] += w, su->m1[b] += w * a, su->m2[b] += w * a2;
        su->tail[e] += w * a2;
    }
    for (int j = b; j < e; j++) {   /* a <= tau_j: rounded at scale tau_j / 127, nothing clipped */
        float s = r->tau[j] / 127.0f, d = v - (float)ir_quant_i8(v, s) * s;
        double dd = (double)d * d;
        for (int i = 0; i < ga->nlin; i++) ga->sums[i].round[j] += ga->sums[i].c[k] * dd;
    }
}

static void observe(void *user, const IrNode *n, const float *x, int rows, const float *y)
{
    Run *r = user;
    FeCalib *c = r->c;
    if (r->failed) return;
    const IrGraph *g = c->graph;
    const char *wname = ir_attr_str(&g->nodes[n->in[1]], "name");
    int li = find_linear(c, wname);
    if (li < 0) IR_BUG("calibration: linear '%s' was not prepared", wname);
    FeCalibLinear *l = &c->lin[li];
    FeCalibInput *in = &c->in[l->input];
    Gather *ga = &r->gin[l->input];
    int K = in->k, N = l->n;
    int fresh = in->first == li;    /* the input's statistics are gathered once, at its first linear */
    for (int s = 0; s < rows; s++) {
        const float *xr = x + (size_t)s * K;
        int sampled = (r->total_rows + s) % r->stride == 0;
        if (sampled) {
            double yy = 0;
            for (int j = 0; j < N; j++) yy += (double)y[(size_t)s * N + j] * y[(size_t)s * N + j];
            l->ynorm += yy;
        }
        if (!fresh) continue;
        for (int k = 0; k < K; k++) {
            float a = fabsf(xr[k]);
            if (a > in->max) in->max = a;
            if (a > in->ch_max[k]) in->ch_max[k] = a;
            heap_push(&ga->all, a);
            heap_push(&ga->ch[k], a);
        }
        if (!sampled) continue;
        in->rows++;
        for (int k = 0; k < K; k++) add_element(r, ga, xr[k], k);
    }
}

/* The linears of the lowered graph and their inputs. */
static int prepare(FeCalib *c, const IrGraph *g, char *err, size_t errlen)
{
    for (int i = 0; i < g->n; i++) {
        const IrNode *n = &g->nodes[i];
        if (n->op != IR_OP_LINEAR) continue;
        const IrNode *x = &g->nodes[n->in[0]], *w = &g->nodes[n->in[1]];
        int input = -1;
        for (int j = 0; j < c->nlin; j++)
            if (c->lin[j].x_node == x->id) input = c->lin[j].input;
        if (input < 0) {
            c->in = realloc(c->in, (size_t)(c->nin + 1) * sizeof *c->in);
            FeCalibInput *in = &c->in[c->nin];
            memset(in, 0, sizeof *in);
            snprintf(in->name, sizeof in->name, "%.90s.in", n->name);
            in->k = (int)x->dim[1];
            in->first = c->nlin;
            in->ch_max = calloc((size_t)in->k, sizeof(float));
            in->ch_p999 = calloc((size_t)in->k, sizeof(float));
            if (!in->ch_max || !in->ch_p999) return cfail(err, errlen, "calibration: out of memory");
            input = c->nin++;
        }
        c->lin = realloc(c->lin, (size_t)(c->nlin + 1) * sizeof *c->lin);
        FeCalibLinear *l = &c->lin[c->nlin++];
        memset(l, 0, sizeof *l);
        snprintf(l->name, sizeof l->name, "%s", ir_attr_str(w, "name"));
        l->input = input;
        l->x_node = x->id;
        l->n = (int)w->dim[0];
    }
    return 0;
}

/* The linears reading input i and their column norms^2, from the weights. */
static int prepare_sums(FeCalib *c, int i, Gather *ga, IrWeightFn fn, void *user, char *err, size_t errlen)
{
    int K = c->in[i].k;
    for (int li = 0; li < c->nlin; li++)
        if (c->lin[li].input == i && ga->nlin < (int)(sizeof ga->lin / sizeof ga->lin[0])) ga->lin[ga->nlin++] = li;
    ga->sums = calloc((size_t)ga->nlin + 1, sizeof *ga->sums);
    if (!ga->sums) return cfail(err, errlen, "calibration: out of memory");
    for (int n = 0; n < ga->nlin; n++) {
        const FeCalibLinear *l = &c->lin[ga->lin[n]];
        const float *w = fn(user, l->name);
        if (!w) return cfail(err, errlen, "calibration: weight '%s' is not available", l->name);
        double *col = ga->sums[n].c = calloc((size_t)K, sizeof *col);
        if (!col) return cfail(err, errlen, "calibration: out of memory");
        for (int j = 0; j < l->n; j++)
            for (int k = 0; k < K; k++) col[k] += (double)w[(size_t)j * K + k] * w[(size_t)j * K + k];
    }
    return 0;
}

static void finish(FeCalib *c, Run *r, const IrGraph *g, IrWeightFn fn, void *user)
{
    for (int i = 0; i < c->nin; i++) {
        FeCalibInput *in = &c->in[i];
        in->p999 = heap_min(&r->gin[i].all);
        for (int k = 0; k < in->k; k++) in->ch_p999[k] = heap_min(&r->gin[i].ch[k]);
    }
    for (int i = 0; i < c->nin; i++) {
        const Gather *ga = &r->gin[i];
        for (int n = 0; n < ga->nlin; n++) {
            const Sums *su = &ga->sums[n];
            FeCalibLinear *l = &c->lin[ga->lin[n]];
            double tail = 0;
            for (int j = 0; j < FE_CALIB_TAU; j++) {
                double t = fe_calib_tau(j), clip = 0;
                for (int bk = j + 1; bk <= FE_CALIB_TAU; bk++)   /* elements above tau_j */
                    clip += su->m2[bk] - 2 * t * su->m1[bk] + t * t * su->m0[bk];
                tail += su->tail[j];
                l->err_round[j] = su->round[j] + tail;
                l->err_clip[j] = l->err_round[j] + (clip > 0 ? clip : 0);
            }
        }
    }
    (void)fn, (void)user;
    (void)g;
}

int fe_calib_run(FeCalib *c, const IrGraph *g, IrWeightFn fn, void *user, const int32_t *ids, int n, int window,
                 char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    c->graph = g;
    snprintf(c->model, sizeof c->model, "%s", g->model);
    if (n < 2) return cfail(err, errlen, "calibration: the text gives %d tokens; at least 2 are needed", n);
    if (window > n) window = n;
    int windows = n / window;
    c->tokens = windows * window;
    if (prepare(c, g, err, errlen)) return -1;
    Run r = {.c = c, .err = err, .errlen = errlen};
    for (int j = 0; j < FE_CALIB_TAU; j++) r.tau[j] = (float)fe_calib_tau(j);
    r.stride = (int)(c->tokens / FE_CALIB_ROWS) + 1;
    r.gin = calloc((size_t)c->nin, sizeof *r.gin);
    int rc = r.gin ? 0 : cfail(err, errlen, "calibration: out of memory");
    for (int i = 0; !rc && i < c->nin; i++) {
        Gather *ga = &r.gin[i];
        int K = c->in[i].k;
        ga->all.cap = (int)((int64_t)c->tokens * K / 1000) + 1;
        ga->all.v = malloc((size_t)ga->all.cap * sizeof(float));
        ga->ch = calloc((size_t)K, sizeof *ga->ch);
        if (!ga->all.v || !ga->ch) rc = cfail(err, errlen, "calibration: out of memory");
        if (!rc) rc = prepare_sums(c, i, ga, fn, user, err, errlen);
        for (int k = 0; !rc && k < K; k++) {
            ga->ch[k].cap = c->tokens / 1000 + 1;
            if (!(ga->ch[k].v = malloc((size_t)ga->ch[k].cap * sizeof(float))))
                rc = cfail(err, errlen, "calibration: out of memory");
        }
    }
    int vocab = (int)ir_graph_int(g, "vocab", 0), step = (int)ir_graph_int(g, "max_chunk", 128);
    float *logits = rc ? NULL : malloc((size_t)step * vocab * sizeof(float));
    if (!rc && !logits) rc = cfail(err, errlen, "calibration: out of memory");
    int tty = windows > 1 && isatty(fileno(stderr));   /* progress on a terminal only */
    for (int wi = 0; !rc && wi < windows; wi++) {
        IrInterp *it = ir_interp_new(g, fn, user, window, err, errlen);
        if (!it) {
            rc = -1;
            break;
        }
        ir_interp_observe(it, observe, &r);
        for (int done = 0; !rc && done < window; done += step) {
            int S = window - done < step ? window - done : step;
            rc = ir_interp_step(it, ids + (size_t)wi * window + done, S, logits, err, errlen);
            r.total_rows += S;
        }
        ir_interp_free(it);
        if (tty) fprintf(stderr, "\rhetc: calibrating: window %d of %d (%d tokens each)", wi + 1, windows, window);
    }
    if (tty) fputc('\n', stderr);
    if (!rc) finish(c, &r, g, fn, user);
    for (int i = 0; r.gin && i < c->nin; i++) {
        free(r.gin[i].all.v);
        for (int k = 0; r.gin[i].ch && k < c->in[i].k; k++) free(r.gin[i].ch[k].v);
        free(r.gin[i].ch);
        for (int n = 0; r.gin[i].sums && n < r.gin[i].nlin; n++) free(r.gin[i].sums[n].c);
        free(r.gin[i].sums);
    }
    free(r.gin);
    free(logits);
    c->graph = NULL;
    return rc;
}

void fe_calib_free(FeCalib *c)
{
    for (int i = 0; i < c->nin; i++) {
        free(c->in[i].ch_max);
        free(c->in[i].ch_p999);
    }
    free(c->in);
    free(c->lin);
    memset(c, 0, sizeof *c);
}

/* ---- calib.json ---- */

static json_object *float_array(const float *v, int n)
{
    json_object *a = json_object_new_array_ext(n);
    for (int i = 0; i < n; i++) json_object_array_add(a, json_object_new_double((double)v[i]));
    return a;
}

static json_object *double_array(const double *v, int n)
{
    json_object *a = json_object_new_array_ext(n);
    for (int i = 0; i < n; i++) json_object_array_add(a, json_object_new_double(v[i]));
    return a;
}

int fe_calib_save(const FeCalib *c, const char *path, char *err, size_t errlen)
{
    json_object *root = json_object_new_object(), *ins = json_object_new_object(), *lins = json_object_new_object();
    double tau[FE_CALIB_TAU];
    for (int j = 0; j < FE_CALIB_TAU; j++) tau[j] = fe_calib_tau(j);
    json_object_object_add(root, "format", json_object_new_string("hetc-calib 1"));
    json_object_object_add(root, "model", json_object_new_string(c->model));
    json_object_object_add(root, "tokens", json_object_new_int(c->tokens));
    json_object_object_add(root, "tau", double_array(tau, FE_CALIB_TAU));
    for (int i = 0; i < c->nin; i++) {
        const FeCalibInput *in = &c->in[i];
        json_object *o = json_object_new_object();
        json_object_object_add(o, "k", json_object_new_int(in->k));
        json_object_object_add(o, "rows", json_object_new_int(in->rows));
        json_object_object_add(o, "max", json_object_new_double(in->max));
        json_object_object_add(o, "p999", json_object_new_double(in->p999));
        json_object_object_add(o, "ch_max", float_array(in->ch_max, in->k));
        json_object_object_add(o, "ch_p999", float_array(in->ch_p999, in->k));
        json_object_object_add(ins, in->name, o);
    }
    for (int i = 0; i < c->nlin; i++) {
        const FeCalibLinear *l = &c->lin[i];
        json_object *o = json_object_new_object();
        json_object_object_add(o, "input", json_object_new_string(c->in[l->input].name));
        json_object_object_add(o, "n", json_object_new_int(l->n));
        json_object_object_add(o, "ynorm", json_object_new_double(l->ynorm));
        json_object_object_add(o, "err_clip", double_array(l->err_clip, FE_CALIB_TAU));
        json_object_object_add(o, "err_round", double_array(l->err_round, FE_CALIB_TAU));
        json_object_object_add(lins, l->name, o);
    }
    json_object_object_add(root, "inputs", ins);
    json_object_object_add(root, "linears", lins);
    int rc = json_object_to_file_ext(path, root, JSON_C_TO_STRING_PLAIN) ? cfail(err, errlen, "%s: cannot write", path) : 0;
    json_object_put(root);
    return rc;
}

/* Member key of o as a number (>= 0), or -1 with the error. */
static int get_num(json_object *o, const char *path, const char *where, const char *key, double *v, char *err,
                   size_t errlen)
{
    json_object *m;
    if (!json_object_object_get_ex(o, key, &m) || !(json_object_is_type(m, json_type_double) || json_object_is_type(m, json_type_int)))
        return cfail(err, errlen, "%s: %s: key '%s' is missing or not a number", path, where, key);
    *v = json_object_get_double(m);
    if (!(*v >= 0) || !isfinite(*v)) return cfail(err, errlen, "%s: %s: key '%s' is %g, not a finite number >= 0", path, where, key, *v);
    return 0;
}

/* Array key of o of exactly n numbers >= 0 into dst (float or double). */
static int get_array(json_object *o, const char *path, const char *where, const char *key, int n, float *f, double *d,
                     char *err, size_t errlen)
{
    json_object *a;
    if (!json_object_object_get_ex(o, key, &a) || !json_object_is_type(a, json_type_array) ||
        (int)json_object_array_length(a) != n)
        return cfail(err, errlen, "%s: %s: key '%s' must be an array of %d numbers", path, where, key, n);
    for (int i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(a, (size_t)i);
        double v = json_object_get_double(e);
        if (!(json_object_is_type(e, json_type_double) || json_object_is_type(e, json_type_int)) || !(v >= 0) || !isfinite(v))
            return cfail(err, errlen, "%s: %s: %s[%d] is not a finite number >= 0", path, where, key, i);
        if (f) f[i] = (float)v;
        else d[i] = v;
    }
    return 0;
}

static int load_json(FeCalib *c, json_object *root, const char *path, char *err, size_t errlen)
{
    json_object *v, *ins, *lins;
    if (!json_object_object_get_ex(root, "format", &v) || strcmp(json_object_get_string(v), "hetc-calib 1") != 0)
        return cfail(err, errlen, "%s: key 'format' must be \"hetc-calib 1\"", path);
    if (json_object_object_get_ex(root, "model", &v)) snprintf(c->model, sizeof c->model, "%s", json_object_get_string(v));
    double tokens;
    if (get_num(root, path, "calibration", "tokens", &tokens, err, errlen)) return -1;
    c->tokens = (int)tokens;
    double tau[FE_CALIB_TAU];
    if (get_array(root, path, "calibration", "tau", FE_CALIB_TAU, NULL, tau, err, errlen)) return -1;
    for (int j = 0; j < FE_CALIB_TAU; j++)
        if (fabs(tau[j] / fe_calib_tau(j) - 1) > 1e-9)
            return cfail(err, errlen, "%s: key 'tau' is not this hetc's grid (written by another version?)", path);
    if (!json_object_object_get_ex(root, "inputs", &ins) || !json_object_is_type(ins, json_type_object) ||
        !json_object_object_get_ex(root, "linears", &lins) || !json_object_is_type(lins, json_type_object))
        return cfail(err, errlen, "%s: keys 'inputs' and 'linears' must be objects", path);
    c->nin = json_object_object_length(ins);
    c->in = calloc((size_t)c->nin + 1, sizeof *c->in);
    int i = 0;
    json_object_object_foreach(ins, name, o) {
        FeCalibInput *in = &c->in[i++];
        snprintf(in->name, sizeof in->name, "%s", name);
        double k, rows;
        if (!json_object_is_type(o, json_type_object)) return cfail(err, errlen, "%s: input '%s' is not an object", path, name);
        if (get_num(o, path, name, "k", &k, err, errlen) || get_num(o, path, name, "rows", &rows, err, errlen)) return -1;
        if (k < 1 || k > (1 << 20)) return cfail(err, errlen, "%s: input '%s': k %g is not in 1..%d", path, name, k, 1 << 20);
        in->k = (int)k;
        in->rows = (int)rows;
        double m, p;
        if (get_num(o, path, name, "max", &m, err, errlen) || get_num(o, path, name, "p999", &p, err, errlen)) return -1;
        in->max = (float)m;
        in->p999 = (float)p;
        in->ch_max = calloc((size_t)in->k, sizeof(float));
        in->ch_p999 = calloc((size_t)in->k, sizeof(float));
        if (get_array(o, path, name, "ch_max", in->k, in->ch_max, NULL, err, errlen) ||
            get_array(o, path, name, "ch_p999", in->k, in->ch_p999, NULL, err, errlen))
            return -1;
    }
    c->nlin = json_object_object_length(lins);
    c->lin = calloc((size_t)c->nlin + 1, sizeof *c->lin);
    i = 0;
    json_object_object_foreach(lins, lname, lo) {
        FeCalibLinear *l = &c->lin[i++];
        snprintf(l->name, sizeof l->name, "%s", lname);
        json_object *inp;
        if (!json_object_is_type(lo, json_type_object) || !json_object_object_get_ex(lo, "input", &inp))
            return cfail(err, errlen, "%s: linear '%s': key 'input' is missing", path, lname);
        l->input = -1;
        for (int j = 0; j < c->nin; j++)
            if (strcmp(c->in[j].name, json_object_get_string(inp)) == 0) l->input = j;
        if (l->input < 0)
            return cfail(err, errlen, "%s: linear '%s': input '%s' is not in 'inputs'", path, lname, json_object_get_string(inp));
        double n;
        if (get_num(lo, path, lname, "n", &n, err, errlen) || get_num(lo, path, lname, "ynorm", &l->ynorm, err, errlen) ||
            get_array(lo, path, lname, "err_clip", FE_CALIB_TAU, NULL, l->err_clip, err, errlen) ||
            get_array(lo, path, lname, "err_round", FE_CALIB_TAU, NULL, l->err_round, err, errlen))
            return -1;
        l->n = (int)n;
        l->x_node = -1;
    }
    return 0;
}

int fe_calib_load(FeCalib *c, const char *path, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    json_object *root = json_object_from_file(path);
    if (!root) return cfail(err, errlen, "%s: cannot read or not JSON (%s)", path, json_util_get_last_err());
    int rc = json_object_is_type(root, json_type_object) ? load_json(c, root, path, err, errlen)
                                                         : cfail(err, errlen, "%s: the top level is not an object", path);
    json_object_put(root);
    if (rc) fe_calib_free(c);
    return rc;
}
