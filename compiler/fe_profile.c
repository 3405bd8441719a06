/* fe_profile.c: profile.json, measured costs of a machine's units.
 *
 * `hetc profile` and the generated program's `model --profile FILE` write
 * it; `hetc compile`, `partition` and `simulate` read it with --profile.
 * Format (JSON; keys other than these are ignored, so a profile may carry
 * notes):
 *
 *   {"format": "hetc-profile 1",
 *    "machine": "free text",
 *    "units": {"gpu0": [{"op": "linear", "n": 4096, "k": 4096, "s": 128,
 *                        "dtype": "f16", "us": 7306.0}, ...],
 *              "npu0": [...]},
 *    "figures": {"gpu0": {"gbps": 60.2, "gflops_f16": 1800.0}, ...},
 *    "sync_us": {"gpu0-npu0": 5.0},
 *    "plans": {"decode": [{"sub": 0, "unit": "cpu0", "first": "ids", "runs": 32,
 *                          "us": 10.2, "rows": 1, "pos": 527.5}, ...], ...},
 *    "steps": {"decode": {"runs": 32, "us": 1320.4, "rows": 1, "pos": 527.5}, ...}}
 *
 * - units: per unit name, the measured ops: op "linear" (x [s,k] @ W
 *   [n,k]^T with W stored as dtype, an IR dtype name: f32, f16, bf16, i8,
 *   q8_0, q4_0, ...), us its time in microseconds, alone on the machine;
 * - figures: per unit name, measured figures that replace the target's
 *   (gflops, gflops_f16, gops_i8, gbps, launch_us, silu_geps): what the cost model
 *   uses for the work that has no point (norms, attention, ...);
 * - sync_us: per pair "A-B" (either order), one hand-over of a result
 *   between the two units: set a flag on one, see it on the other.
 * - plans (written by `model --profile`): per plan of the program that
 *   measured it, its subgraphs (pass schedule's), each with the unit that
 *   ran it, the name of its first node, and the mean time, rows and cache
 *   position of its runs (rows and pos may be 0; runs is informative).
 *   hetc simulate takes them for a plan of the same name whose subgraphs
 *   have those units and first nodes (ir_sim.c), scaled by the cost model
 *   to each step's rows and position.
 * - steps (written by `model --profile`): per plan, its steps timed whole
 *   (without the marks that time the subgraphs, which add to a device's
 *   queue, and with the waits between units): mean time, rows and cache
 *   position. hetc simulate scales a plan's measured subgraphs so that a
 *   step at those rows and that position takes this time.
 * "format" may be left out (a profile written by hand, such as one made
 * from a paper's table). What a profile lacks, the target's figures give
 * (ir_cost.c). Unit names are checked against the target where the
 * profile is used (fe_profile_check).
 */
#include "fe.h"

#include <json-c/json.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static int pfail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* Member key of o as a positive finite number (integer if whole). */
static int number(json_object *o, const char *path, const char *where, const char *key, int whole, double *v,
                  char *err, size_t errlen)
{
    json_object *m;
    if (!json_object_object_get_ex(o, key, &m) ||
        !(json_object_is_type(m, json_type_double) || json_object_is_type(m, json_type_int)))
        return pfail(err, errlen, "%s: %s: key '%s' is missing or not a number", path, where, key);
    *v = json_object_get_double(m);
    if (!(*v > 0) || !isfinite(*v) || *v > 1e12 || (whole && *v != floor(*v)))
        return pfail(err, errlen, "%s: %s: key '%s' is %g, not a positive %s", path, where, key, *v,
                     whole ? "integer" : "finite number");
    return 0;
}

static int load_point(IrCostPoint *p, json_object *o, const char *unit, const char *path, const char *where,
                      char *err, size_t errlen)
{
    json_object *v;
    memset(p, 0, sizeof *p);
    snprintf(p->unit, sizeof p->unit, "%s", unit);
    if (!json_object_is_type(o, json_type_object)) return pfail(err, errlen, "%s: %s is not an object", path, where);
    if (!json_object_object_get_ex(o, "op", &v) || strcmp(json_object_get_string(v), "linear") != 0)
        return pfail(err, errlen, "%s: %s: key 'op' must be \"linear\"", path, where);
    snprintf(p->op, sizeof p->op, "linear");
    int dt = json_object_object_get_ex(o, "dtype", &v) ? ir_dtype_from_name(json_object_get_string(v)) : -1;
    if (dt < 0 || dt == IR_I32)
        return pfail(err, errlen, "%s: %s: key 'dtype' is missing or not a weight dtype (f32, f16, bf16, i8, q8_0, "
                     "q4_0, ...)", path, where);
    p->dtype = (IrDtype)dt;
    double n, k, s;
    if (number(o, path, where, "n", 1, &n, err, errlen) || number(o, path, where, "k", 1, &k, err, errlen) ||
        number(o, path, where, "s", 1, &s, err, errlen) || number(o, path, where, "us", 0, &p->us, err, errlen))
        return -1;
    p->n = (int64_t)n;
    p->k = (int64_t)k;
    p->s = (int64_t)s;
    return 0;
}

static const char *const figure_keys[] = {"gflops", "gflops_f16", "gops_i8", "gbps", "launch_us", "silu_geps"};

static int load_figures(IrProfile *p, json_object *root, const char *path, char *err, size_t errlen)
{
    json_object *figs;
    if (!json_object_object_get_ex(root, "figures", &figs)) return 0;
    if (!json_object_is_type(figs, json_type_object))
        return pfail(err, errlen, "%s: key 'figures' is not an object", path);
    size_t total = 0;
    json_object_object_foreach(figs, un, o) {
        if (!json_object_is_type(o, json_type_object))
            return pfail(err, errlen, "%s: figures.%s is not an object", path, un);
        if (strlen(un) >= sizeof p->figs[0].unit)
            return pfail(err, errlen, "%s: figures.%s: a unit name has at most 15 characters", path, un);
        total += (size_t)json_object_object_length(o);
    }
    p->figs = calloc(total + 1, sizeof *p->figs);
    json_object_object_foreach(figs, unit, obj) {
        json_object_object_foreach(obj, key, val) {
            (void)val;
            size_t f = 0;
            while (f < sizeof figure_keys / sizeof figure_keys[0] && strcmp(figure_keys[f], key) != 0) f++;
            if (f == sizeof figure_keys / sizeof figure_keys[0])
                return pfail(err, errlen, "%s: figures.%s: '%s' is not a figure (gflops, gflops_f16, gops_i8, gbps, "
                             "launch_us, silu_geps)", path, unit, key);
            IrCostFigure *fg = &p->figs[p->nfigs];
            char where[64];
            snprintf(where, sizeof where, "figures.%s", unit);
            if (number(obj, path, where, key, 0, &fg->v, err, errlen)) return -1;
            snprintf(fg->unit, sizeof fg->unit, "%s", unit);
            snprintf(fg->key, sizeof fg->key, "%s", key);
            p->nfigs++;
        }
    }
    return 0;
}

/* Member key of o as a string of at most cap - 1 characters into out. */
static int string(json_object *o, const char *path, const char *where, const char *key, char *out, size_t cap,
                  char *err, size_t errlen)
{
    json_object *m;
    if (!json_object_object_get_ex(o, key, &m) || !json_object_is_type(m, json_type_string))
        return pfail(err, errlen, "%s: %s: key '%s' is missing or not a string", path, where, key);
    if (strlen(json_object_get_string(m)) >= cap)
        return pfail(err, errlen, "%s: %s: key '%s' is longer than %zu characters", path, where, key, cap - 1);
    snprintf(out, cap, "%s", json_object_get_string(m));
    return 0;
}

/* Member key of o as a number >= 0 (0 where the key is absent). */
static int nonneg(json_object *o, const char *path, const char *where, const char *key, double *v, char *err,
                  size_t errlen)
{
    json_object *m;
    *v = 0;
    if (!json_object_object_get_ex(o, key, &m)) return 0;
    if (!(json_object_is_type(m, json_type_double) || json_object_is_type(m, json_type_int)) ||
        !(json_object_get_double(m) >= 0) || !isfinite(json_object_get_double(m)))
        return pfail(err, errlen, "%s: %s: key '%s' is not a number >= 0", path, where, key);
    *v = json_object_get_double(m);
    return 0;
}

static int load_plans(IrProfile *p, json_object *root, const char *path, char *err, size_t errlen)
{
    json_object *plans;
    if (!json_object_object_get_ex(root, "plans", &plans)) return 0;
    if (!json_object_is_type(plans, json_type_object)) return pfail(err, errlen, "%s: key 'plans' is not an object", path);
    size_t total = 0;
    json_object_object_foreach(plans, pn, list) {
        if (!json_object_is_type(list, json_type_array)) return pfail(err, errlen, "%s: plans.%s is not an array", path, pn);
        if (strlen(pn) >= sizeof p->subs[0].plan)
            return pfail(err, errlen, "%s: plans.%s: a plan name has at most 15 characters", path, pn);
        total += json_object_array_length(list);
    }
    p->subs = calloc(total + 1, sizeof *p->subs);
    json_object_object_foreach(plans, name, arr) {
        for (size_t i = 0; i < json_object_array_length(arr); i++) {
            json_object *o = json_object_array_get_idx(arr, i);
            IrCostSub *q = &p->subs[p->nsubs];
            char where[64];
            double sub;
            snprintf(where, sizeof where, "plans.%s[%zu]", name, i);
            if (!json_object_is_type(o, json_type_object)) return pfail(err, errlen, "%s: %s is not an object", path, where);
            snprintf(q->plan, sizeof q->plan, "%s", name);
            if (nonneg(o, path, where, "sub", &sub, err, errlen) ||
                string(o, path, where, "unit", q->unit, sizeof q->unit, err, errlen) ||
                string(o, path, where, "first", q->first, sizeof q->first, err, errlen) ||
                number(o, path, where, "us", 0, &q->us, err, errlen) || nonneg(o, path, where, "rows", &q->rows, err, errlen) ||
                nonneg(o, path, where, "pos", &q->pos, err, errlen))
                return -1;
            if (sub != floor(sub) || sub > 65535)
                return pfail(err, errlen, "%s: %s: key 'sub' is %g, not a subgraph number", path, where, sub);
            q->sub = (int)sub;
            p->nsubs++;
        }
    }
    return 0;
}

static int load_steps(IrProfile *p, json_object *root, const char *path, char *err, size_t errlen)
{
    json_object *steps;
    if (!json_object_object_get_ex(root, "steps", &steps)) return 0;
    if (!json_object_is_type(steps, json_type_object)) return pfail(err, errlen, "%s: key 'steps' is not an object", path);
    p->steps = calloc((size_t)json_object_object_length(steps) + 1, sizeof *p->steps);
    json_object_object_foreach(steps, name, o) {
        IrCostStep *q = &p->steps[p->nsteps];
        char where[64];
        snprintf(where, sizeof where, "steps.%s", name);
        if (strlen(name) >= sizeof q->plan)
            return pfail(err, errlen, "%s: %s: a plan name has at most 15 characters", path, where);
        if (!json_object_is_type(o, json_type_object)) return pfail(err, errlen, "%s: %s is not an object", path, where);
        snprintf(q->plan, sizeof q->plan, "%s", name);
        if (number(o, path, where, "us", 0, &q->us, err, errlen) || number(o, path, where, "rows", 0, &q->rows, err, errlen) ||
            nonneg(o, path, where, "pos", &q->pos, err, errlen))
            return -1;
        p->nsteps++;
    }
    return 0;
}

static int load_json(IrProfile *p, json_object *root, const char *path, char *err, size_t errlen)
{
    json_object *v, *units, *sync;
    if (json_object_object_get_ex(root, "format", &v) && strcmp(json_object_get_string(v), "hetc-profile 1") != 0)
        return pfail(err, errlen, "%s: key 'format' is \"%s\", not \"hetc-profile 1\"", path, json_object_get_string(v));
    if (!json_object_object_get_ex(root, "units", &units) || !json_object_is_type(units, json_type_object))
        return pfail(err, errlen, "%s: key 'units' is missing or not an object", path);
    size_t total = 0;
    json_object_object_foreach(units, un, list) {
        if (!json_object_is_type(list, json_type_array))
            return pfail(err, errlen, "%s: units.%s is not an array", path, un);
        if (strlen(un) >= sizeof p->pts[0].unit)
            return pfail(err, errlen, "%s: units.%s: a unit name has at most 15 characters", path, un);
        total += json_object_array_length(list);
    }
    p->pts = calloc(total + 1, sizeof *p->pts);
    json_object_object_foreach(units, name, arr) {
        for (size_t i = 0; i < json_object_array_length(arr); i++) {
            char where[64];
            snprintf(where, sizeof where, "units.%s[%zu]", name, i);
            if (load_point(&p->pts[p->npts], json_object_array_get_idx(arr, i), name, path, where, err, errlen))
                return -1;
            p->npts++;
        }
    }
    if (load_figures(p, root, path, err, errlen) || load_plans(p, root, path, err, errlen) ||
        load_steps(p, root, path, err, errlen))
        return -1;
    if (!json_object_object_get_ex(root, "sync_us", &sync)) return 0;
    if (!json_object_is_type(sync, json_type_object))
        return pfail(err, errlen, "%s: key 'sync_us' is not an object", path);
    p->sync = calloc((size_t)json_object_object_length(sync) + 1, sizeof *p->sync);
    json_object_object_foreach(sync, pair, val) {
        IrCostSync *s = &p->sync[p->nsync];
        const char *dash = strchr(pair, '-');
        if (!dash || dash == pair || !dash[1] || (size_t)(dash - pair) >= sizeof s->a || strlen(dash + 1) >= sizeof s->b)
            return pfail(err, errlen, "%s: sync_us: key '%s' is not \"UNIT-UNIT\"", path, pair);
        snprintf(s->a, sizeof s->a, "%.*s", (int)(dash - pair), pair);
        snprintf(s->b, sizeof s->b, "%s", dash + 1);
        json_object *holder = json_object_new_object();
        json_object_object_add(holder, "v", json_object_get(val));
        char where[64];
        snprintf(where, sizeof where, "sync_us.%s", pair);
        int rc = number(holder, path, where, "v", 0, &s->us, err, errlen);
        json_object_put(holder);
        if (rc) return pfail(err, errlen, "%s: sync_us: '%s' is not a positive number of microseconds", path, pair);
        p->nsync++;
    }
    return 0;
}

int fe_profile_load(IrProfile *p, const char *path, char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    json_object *root = json_object_from_file(path);
    if (!root) return pfail(err, errlen, "%s: cannot read or not JSON (%s)", path, json_util_get_last_err());
    int rc = json_object_is_type(root, json_type_object) ? load_json(p, root, path, err, errlen)
                                                         : pfail(err, errlen, "%s: the top level is not an object", path);
    json_object_put(root);
    if (rc) fe_profile_free(p);
    return rc;
}

int fe_profile_check(const IrProfile *p, const char *path, const FeTarget *t, char *err, size_t errlen)
{
    for (int i = 0; i < p->npts + 2 * p->nsync + p->nfigs + p->nsubs; i++) {
        int j = i - p->npts - 2 * p->nsync;
        const char *name = i < p->npts ? p->pts[i].unit : j >= p->nfigs ? p->subs[j - p->nfigs].unit
                         : j >= 0 ? p->figs[j].unit
                                                        : (i - p->npts) % 2 ? p->sync[(i - p->npts) / 2].b
                                                                            : p->sync[(i - p->npts) / 2].a;
        int found = 0;
        for (int u = 0; u < t->nunits; u++) found |= strcmp(t->units[u].name, name) == 0;
        if (!found)
            return pfail(err, errlen, "%s: unit '%s' is not a unit of target %s (%s)", path, name, t->name, t->path);
    }
    return 0;
}

void fe_profile_apply(const IrProfile *p, FeTarget *t)
{
    for (int i = 0; i < p->nfigs; i++)
        for (int u = 0; u < t->nunits; u++) {
            FeUnit *fu = &t->units[u];
            if (strcmp(fu->name, p->figs[i].unit) != 0) continue;
            int f = 0;
            while (f < fu->nfig && strcmp(fu->fig[f].key, p->figs[i].key) != 0) f++;
            if (f == FE_MAX_FIGURES) continue;
            if (f == fu->nfig) fu->nfig++;
            snprintf(fu->fig[f].key, sizeof fu->fig[f].key, "%s", p->figs[i].key);
            fu->fig[f].v = p->figs[i].v;
        }
}

int fe_profile_save(const IrProfile *p, const char *machine, const char *path, char *err, size_t errlen)
{
    json_object *root = json_object_new_object(), *units = json_object_new_object(), *sync = json_object_new_object();
    json_object_object_add(root, "format", json_object_new_string("hetc-profile 1"));
    json_object_object_add(root, "machine", json_object_new_string(machine ? machine : ""));
    for (int i = 0; i < p->npts; i++) {
        const IrCostPoint *q = &p->pts[i];
        json_object *list;
        if (!json_object_object_get_ex(units, q->unit, &list)) {
            list = json_object_new_array();
            json_object_object_add(units, q->unit, list);
        }
        json_object *o = json_object_new_object();
        json_object_object_add(o, "op", json_object_new_string(q->op));
        json_object_object_add(o, "n", json_object_new_int64(q->n));
        json_object_object_add(o, "k", json_object_new_int64(q->k));
        json_object_object_add(o, "s", json_object_new_int64(q->s));
        json_object_object_add(o, "dtype", json_object_new_string(ir_dtype_name(q->dtype)));
        json_object_object_add(o, "us", json_object_new_double(q->us));
        json_object_array_add(list, o);
    }
    json_object_object_add(root, "units", units);
    json_object *figs = json_object_new_object();
    for (int i = 0; i < p->nfigs; i++) {
        json_object *o;
        if (!json_object_object_get_ex(figs, p->figs[i].unit, &o)) {
            o = json_object_new_object();
            json_object_object_add(figs, p->figs[i].unit, o);
        }
        json_object_object_add(o, p->figs[i].key, json_object_new_double(p->figs[i].v));
    }
    json_object_object_add(root, "figures", figs);
    for (int i = 0; i < p->nsync; i++) {
        char key[40];
        snprintf(key, sizeof key, "%s-%s", p->sync[i].a, p->sync[i].b);
        json_object_object_add(sync, key, json_object_new_double(p->sync[i].us));
    }
    json_object_object_add(root, "sync_us", sync);
    if (p->nsubs) {
        json_object *plans = json_object_new_object();
        for (int i = 0; i < p->nsubs; i++) {
            const IrCostSub *q = &p->subs[i];
            json_object *list, *o = json_object_new_object();
            if (!json_object_object_get_ex(plans, q->plan, &list)) {
                list = json_object_new_array();
                json_object_object_add(plans, q->plan, list);
            }
            json_object_object_add(o, "sub", json_object_new_int(q->sub));
            json_object_object_add(o, "unit", json_object_new_string(q->unit));
            json_object_object_add(o, "first", json_object_new_string(q->first));
            json_object_object_add(o, "us", json_object_new_double(q->us));
            json_object_object_add(o, "rows", json_object_new_double(q->rows));
            json_object_object_add(o, "pos", json_object_new_double(q->pos));
            json_object_array_add(list, o);
        }
        json_object_object_add(root, "plans", plans);
    }
    if (p->nsteps) {
        json_object *steps = json_object_new_object();
        for (int i = 0; i < p->nsteps; i++) {
            json_object *o = json_object_new_object();
            json_object_object_add(o, "us", json_object_new_double(p->steps[i].us));
            json_object_object_add(o, "rows", json_object_new_double(p->steps[i].rows));
            json_object_object_add(o, "pos", json_object_new_double(p->steps[i].pos));
            json_object_object_add(steps, p->steps[i].plan, o);
        }
        json_object_object_add(root, "steps", steps);
    }
    int rc = json_object_to_file_ext(path, root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED);
    json_object_put(root);
    return rc ? pfail(err, errlen, "%s: cannot write (%s)", path, json_util_get_last_err()) : 0;
}

void fe_profile_free(IrProfile *p)
{
    free(p->pts);
    free(p->sync);
    free(p->figs);
    free(p->subs);
    free(p->steps);
    memset(p, 0, sizeof *p);
}
