/* ir_sim.c: hetc simulate: a discrete-event run of a scheduled graph under
 * the cost model.
 *
 * A prompt of N tokens runs as the steps the runtime takes (ir_plan_next:
 * chunks largest first, then the remainder on the flex plan or padded),
 * then M decode steps of one token on the decode plan, one after another.
 * A subgraph of pass schedule takes the sum of its nodes' costs
 * (ir_cost_node at the step's rows and cache position), or, where the
 * profile has the program's own times of the plan (model --profile:
 * "plans", matched by the units and first nodes of all its subgraphs),
 * that sum scaled by the measured time over the sum at the mean rows and
 * position of the measured runs (the cost model carries a measurement
 * to other positions and sizes: attention grows with the cache), and,
 * where the profile has the plan's steps timed whole ("steps"), all of
 * them by one more factor, so that a step simulated at the measured rows
 * and position takes the measured time (the marks that time a device's
 * subgraphs add to its queue; a step has waits the subgraphs' sum
 * does not see). It starts once
 * its queue is free and what it waits for has finished (plus one
 * hand-over, ir_cost_sync, from another unit): the subgraphs whose
 * results it reads, the one before it on its unit, and, across the
 * prompt's chunks, as the runtime's rt_part_run: on a plan of two chunks
 * in flight (pass schedule's inflight=2), the same subgraph of the chunk
 * before (a unit runs them in chunk order, so a layer's attention follows
 * the one before it: the KV cache) and every subgraph of the chunk two
 * before (their buffers alternate); else, and between steps of two
 * plans, every subgraph of the step before. A free queue takes the ready
 * subgraph of the highest score (pass schedule's comment).
 * Units that compute on another unit's cores (shares=) queue on that
 * unit: their work never overlaps. What the model leaves out: the shared
 * DRAM between units at once (each subgraph is priced alone), fusion
 * groups' saved launches, and the host's tokenizer and sampling.
 */
#include "ir.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One step of a plan: its subgraphs, their costs and dependencies. */
typedef struct {
    int plan;
    int64_t S, P;               /* rows (padded) and cache position */
    int nsub;
    int *unit;                  /* [nsub] each subgraph's unit, -1: none */
    double *dur;                /* [nsub] its time */
    double *score;              /* [nsub] its contribution score (pass schedule) */
    int *dep_at, *dep;          /* deps of k: dep[dep_at[k] .. dep_at[k+1]), subgraphs of this step */
    double *end;                /* [nsub] when it finished, -1: not yet */
    int left;                   /* subgraphs not yet timed */
    double finish;              /* its last end */
} Step;

/* Per plan, the factor of each subgraph's modelled time that gives the
 * profile's measured time of it; NULL for a plan without times. */
typedef struct {
    double *f[IR_MAX_PLANS];
} Calib;

/* The modelled time of subgraph k of plan p at S rows from position P. */
static double sub_model_us(const IrCost *c, int p, int k, int64_t S, int64_t P)
{
    double us = 0;
    for (int i = 0; i < c->g->n; i++)
        if (c->g->nodes[i].plan == p && c->g->nodes[i].sub == k) us += ir_cost_node(c, &c->g->nodes[i], S, P).us;
    return us;
}

/* The profile's times of plan p: every subgraph must be there, found by
 * its key node (ir_sub_keys: the profile's "first") and run by its unit
 * (else the plan was compiled differently: another profile or
 * partition); why not into why. The program's subgraphs of int8
 * bookkeeping alone (outliers' shadows) have no counterpart here. */
static double *plan_factors(const IrCost *c, int p, int *found, char *why, size_t cap)
{
    const IrGraph *g = c->g;
    const IrPlan *pl = &g->plans[p];
    int nsub = 0;
    *found = 0;
    for (int i = 0; i < c->prof->nsubs; i++) *found |= strcmp(c->prof->subs[i].plan, pl->name) == 0;
    if (!*found) return NULL;
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].plan == p && g->nodes[i].sub + 1 > nsub) nsub = g->nodes[i].sub + 1;
    double *f = malloc(((size_t)nsub + 1) * sizeof *f);
    const IrNode **key = malloc(((size_t)nsub + 1) * sizeof *key);
    ir_sub_keys(g, p, key, nsub);
    for (int k = 0; k < nsub; k++) {
        const IrNode *first = key[k];
        const IrCostSub *q = NULL;
        for (int i = 0; first && i < c->prof->nsubs && !q; i++)
            if (strcmp(c->prof->subs[i].first, first->name) == 0 && strcmp(c->prof->subs[i].plan, pl->name) == 0)
                q = &c->prof->subs[i];
        if (first && (!q || strcmp(q->unit, g->units[first->unit].name) != 0)) {
            if (!q) snprintf(why, cap, "plan %s: the profile has no subgraph from '%s'", pl->name, first->name);
            else
                snprintf(why, cap, "plan %s: the subgraph from '%s' is on %s here, on %s in the profile", pl->name,
                         first->name, g->units[first->unit].name, q->unit);
            free(f), free(key);
            return NULL;
        }
        int64_t S = q && q->rows >= 1 ? (int64_t)llround(q->rows) : pl->s_max, P = q ? (int64_t)llround(q->pos) : 0;
        double model = first ? sub_model_us(c, p, k, S, P) : 0;
        f[k] = model > 1e-9 ? q->us / model : 1;
    }
    free(key);
    return f;
}

static void calib_free(Calib *cal)
{
    for (int p = 0; p < IR_MAX_PLANS; p++) free(cal->f[p]);
}

static void step_free(Step *st)
{
    free(st->unit), free(st->dur), free(st->score), free(st->dep_at), free(st->dep), free(st->end);
}

/* Step of plan p at S rows from position P: subgraphs, costs and what each
 * waits for: the subgraphs whose results it reads, and the one before it
 * on its unit (a unit runs a step's subgraphs in their order). */
static void step_init(Step *st, const IrCost *c, const Calib *cal, int p, int64_t S, int64_t P)
{
    const IrGraph *g = c->g;
    memset(st, 0, sizeof *st);
    st->plan = p, st->S = S, st->P = P;
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].plan == p && g->nodes[i].sub + 1 > st->nsub) st->nsub = g->nodes[i].sub + 1;
    size_t ns = (size_t)st->nsub + 1;
    st->unit = malloc(ns * sizeof *st->unit);
    st->dur = calloc(ns, sizeof *st->dur), st->score = calloc(ns, sizeof *st->score);
    st->end = malloc(ns * sizeof *st->end);
    st->dep_at = calloc(ns + 1, sizeof *st->dep_at);
    unsigned char *edge = calloc(ns * ns, 1);
    for (int k = 0; k < st->nsub; k++) st->unit[k] = -1, st->end[k] = -1;
    for (int i = 0; i < g->n; i++) {
        const IrNode *n = &g->nodes[i];
        if (n->plan != p || n->sub < 0) continue;
        st->unit[n->sub] = n->unit;
        st->dur[n->sub] += ir_cost_node(c, n, S, P).us;
        const IrAttr *sc = ir_attr(n, "score");
        if (sc) st->score[n->sub] = sc->f;
        for (int j = 0; j < n->nin; j++) {
            const IrNode *a = &g->nodes[n->in[j]];
            if (a->plan == p && a->sub >= 0 && a->sub != n->sub) edge[(size_t)n->sub * ns + (size_t)a->sub] = 1;
        }
    }
    for (int k = 0; k < st->nsub; k++) {
        if (cal->f[p]) st->dur[k] *= cal->f[p][k];
        for (int j = k - 1; j >= 0 && st->unit[k] >= 0; j--)
            if (st->unit[j] == st->unit[k]) {
                edge[(size_t)k * ns + (size_t)j] = 1;
                break;
            }
        st->left += st->unit[k] >= 0;
    }
    int nd = 0;
    for (size_t e = 0; e < ns * ns; e++) nd += edge[e];
    st->dep = malloc(((size_t)nd + 1) * sizeof *st->dep);
    nd = 0;
    for (int k = 0; k < st->nsub; k++) {
        st->dep_at[k] = nd;
        for (int j = 0; j < st->nsub; j++)
            if (edge[(size_t)k * ns + (size_t)j]) st->dep[nd++] = j;
    }
    st->dep_at[st->nsub] = nd;
    free(edge);
}

/* When subgraph k of step i may start (its inputs there, plus a hand-over
 * from another unit), or -1 while something it waits for is not timed:
 * its step's subgraphs, subgraph k of the step before (its unit runs them
 * in chunk order), every subgraph of step i - window (the chunks in
 * flight: window 1 in order or across plans, 2 where they alternate). */
static double ready_at(const IrCost *c, Step *steps, int i, int k, double t0)
{
    const IrGraph *g = c->g;
    int window = i > 0 && steps[i - 1].plan == steps[i].plan && g->plans[steps[i].plan].inflight > 1 ? 2 : 1;
    Step *st = &steps[i];
    double t = t0;
    for (int d = st->dep_at[k]; d < st->dep_at[k + 1]; d++) {
        int j = st->dep[d];
        if (st->end[j] < 0) return -1;
        double e = st->end[j] + (st->unit[j] >= 0 ? ir_cost_sync(c, st->unit[j], st->unit[k]) : 0);
        if (e > t) t = e;
    }
    if (i >= window) {
        if (steps[i - window].left) return -1;
        if (steps[i - window].finish > t) t = steps[i - window].finish;
    }
    if (window == 2) {
        if (steps[i - 1].end[k] < 0) return -1;
        if (steps[i - 1].end[k] > t) t = steps[i - 1].end[k];
    }
    return t;
}

/* Times steps[0..n) from t0: each queue (a unit's cores: shares=) takes,
 * when free, the ready subgraph it ranks first: the highest score, then
 * the earliest step and subgraph, among those ready by then. Returns the
 * last end. */
static double run_steps(const IrCost *c, Step *steps, int n, double t0, IrSimResult *r, int prefill)
{
    const IrGraph *g = c->g;
    int left = 0;
    double free_at[IR_MAX_UNITS], last = t0;
    for (int u = 0; u < IR_MAX_UNITS; u++) free_at[u] = t0;
    for (int i = 0; i < n; i++) left += steps[i].left;
    while (left > 0) {
        int bi = -1, bk = -1;
        double bstart = 0;
        for (int core = 0; core < g->nunits; core++) {
            int ci = -1, ck = -1;
            double cstart = 0;
            for (int i = 0; i < n; i++) {
                Step *st = &steps[i];
                for (int k = 0; k < st->nsub; k++) {
                    int u = st->unit[k];
                    if (u < 0 || st->end[k] >= 0 || ir_cost_core(c, u) != core) continue;
                    double t = ready_at(c, steps, i, k, t0);
                    if (t < 0) continue;
                    double start = t > free_at[core] ? t : free_at[core];
                    /* the earliest start; among those starting then, the highest score */
                    if (ci < 0 || start < cstart - 1e-9 ||
                        (start < cstart + 1e-9 && st->score[k] > steps[ci].score[ck]))
                        ci = i, ck = k, cstart = start;
                }
            }
            if (ci >= 0 && (bi < 0 || cstart < bstart)) bi = ci, bk = ck, bstart = cstart;
        }
        if (bi < 0) IR_BUG("simulate: no subgraph can run (a dependency cycle)");
        Step *st = &steps[bi];
        int u = st->unit[bk], core = ir_cost_core(c, u);
        st->end[bk] = bstart + st->dur[bk];
        free_at[core] = st->end[bk];
        if (st->end[bk] > st->finish) st->finish = st->end[bk];
        if (st->end[bk] > last) last = st->end[bk];
        st->left--;
        left--;
        r->busy_us[u] += st->dur[bk];
        if (prefill) r->prefill_busy_us[u] += st->dur[bk];
    }
    return last;
}

/* Plan p's step at the rows and position the profile measured it whole,
 * under its subgraphs' factors: the factor that gives the measured time. */
static double step_factor(const IrCost *c, const Calib *cal, int p)
{
    const IrCostStep *m = NULL;
    for (int i = 0; i < c->prof->nsteps && !m; i++)
        if (strcmp(c->prof->steps[i].plan, c->g->plans[p].name) == 0) m = &c->prof->steps[i];
    if (!m) return 0;
    Step st;
    IrSimResult scratch;
    memset(&scratch, 0, sizeof scratch);
    step_init(&st, c, cal, p, (int64_t)llround(m->rows), (int64_t)llround(m->pos));
    double us = run_steps(c, &st, 1, 0, &scratch, 0);
    step_free(&st);
    return us > 1e-9 ? m->us / us : 0;
}

/* Per plan the profile has times of: its subgraphs' factors, each scaled
 * by its step's (step_factor) where the profile has the step. */
static void calib_init(Calib *cal, const IrCost *c, IrSimResult *r)
{
    memset(cal, 0, sizeof *cal);
    for (int p = 0; c->prof && c->prof->nsubs && p < c->g->nplans; p++) {
        int found, nsub = 0;
        cal->f[p] = plan_factors(c, p, &found, r->unmatched, sizeof r->unmatched);
        if (cal->f[p]) r->measured |= 1u << p;
        if (!found) r->unmeasured |= 1u << p;
        double f = cal->f[p] ? step_factor(c, cal, p) : 0;
        for (int i = 0; f > 0 && i < c->g->n; i++)
            if (c->g->nodes[i].plan == p && c->g->nodes[i].sub + 1 > nsub) nsub = c->g->nodes[i].sub + 1;
        for (int k = 0; k < nsub; k++) cal->f[p][k] *= f;
        r->step_factor[p] = f;
    }
}

int ir_sim_spans(const IrCost *c, int p, int64_t S, int64_t P, int nsteps, IrSimSpan *spans, int cap)
{
    Step *steps = calloc((size_t)nsteps + 1, sizeof *steps);
    IrSimResult r;
    memset(&r, 0, sizeof r);
    Calib cal;
    calib_init(&cal, c, &r);
    for (int i = 0; i < nsteps; i++) step_init(&steps[i], c, &cal, p, S, P + (int64_t)i * S);
    run_steps(c, steps, nsteps, 0, &r, 1);
    calib_free(&cal);
    int n = 0;
    for (int i = 0; i < nsteps; i++) {
        for (int k = 0; k < steps[i].nsub; k++) {
            if (steps[i].unit[k] < 0) continue;
            if (n < cap) spans[n] = (IrSimSpan){i, k, steps[i].unit[k], steps[i].end[k] - steps[i].dur[k], steps[i].end[k]};
            n++;
        }
        step_free(&steps[i]);
    }
    free(steps);
    return n;
}

int ir_simulate(const IrCost *c, int64_t prompt, int64_t gen, IrSimResult *r, char *err, size_t errlen)
{
    const IrGraph *g = c->g;
    memset(r, 0, sizeof *r);
    if (!ir_has_pass(g, "schedule")) {
        snprintf(err, errlen, "simulate: the graph has not been through pass 'schedule'");
        return -1;
    }
    int nsteps = 0;
    Step *steps = NULL;
    int64_t pos = 0;
    Calib cal;
    calib_init(&cal, c, r);
    for (int64_t left = prompt; left > 0;) {
        int64_t rows, padded;
        int p = ir_plan_next(g, left, pos == 0, &rows, &padded);
        if (p < 0) {
            snprintf(err, errlen, "simulate: no plan runs a step of %lld tokens", (long long)left);
            for (int i = 0; i < nsteps; i++) step_free(&steps[i]);
            free(steps);
            calib_free(&cal);
            return -1;
        }
        steps = realloc(steps, (size_t)(nsteps + 1) * sizeof *steps);
        step_init(&steps[nsteps++], c, &cal, p, padded, pos);
        pos += rows;
        left -= rows;
    }
    r->prefill_steps = nsteps;
    r->prefill_us = run_steps(c, steps, nsteps, 0, r, 1);
    for (int i = 0; i < nsteps; i++) step_free(&steps[i]);
    free(steps);
    double t = r->prefill_us;
    for (int64_t i = 0; i < gen; i++) {
        int64_t rows, padded;
        int p = ir_plan_next(g, 1, 1, &rows, &padded);
        if (p < 0) {
            snprintf(err, errlen, "simulate: no plan runs a decode step");
            calib_free(&cal);
            return -1;
        }
        Step st;
        step_init(&st, c, &cal, p, padded, pos + i);
        t = run_steps(c, &st, 1, t, r, 0);
        step_free(&st);
    }
    calib_free(&cal);
    r->decode_us = t - r->prefill_us;
    r->prefill_tps = r->prefill_us > 0 ? (double)prompt / (r->prefill_us * 1e-6) : 0;
    r->decode_tps = r->decode_us > 0 ? (double)gen / (r->decode_us * 1e-6) : 0;
    return 0;
}
