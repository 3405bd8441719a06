/* cli_plan.c: the planning commands of the hetc command line.
 *
 *   hetc partition --target T [--profile P] --op linear --n N --k K --s S [--weight-dtype DT]
 *   hetc simulate --target T [--profile P] MODEL|--preset NAME --prompt-len N [--gen M]
 *                 [--schedule ooo|inorder] ...
 *   hetc profile --target T MODEL|--preset NAME -o profile.json [--weight-dtype DT] [--max-s N]
 *                [--stream-mb MB] [--min-time SEC] [--sweep S1,S2,..]
 *
 * partition and simulate need a model's config alone; profile measures
 * the machine it runs on (runtime/rt_profile.c) at the model's linear
 * shapes and, with --sweep, checks the partition solver against every
 * split of those linears in steps of 1/8, measured.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/cli.h"
#include "runtime/rt_profile.h"
#ifdef HETC_OPENCL
#include "codegen/cg.h"
#include "runtime/hetc_rt_cl.h"
#endif

/* ---- model directories for planning ---- */

/* Removes the preset's directory DIR/NAME (the files synth wrote) and DIR. */
int plan_cleanup(char *path)
{
    DIR *d = opendir(path);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char f[FE_PATH_LEN + 256];
        snprintf(f, sizeof f, "%s/%s", path, e->d_name);
        remove(f);
    }
    if (d) closedir(d);
    remove(path);
    *strrchr(path, '/') = 0;
    remove(path);
    return 0;
}

/* MODEL, or with --preset NAME the preset's config.json alone in a
 * directory of its own under /tmp (its path in tmp, for plan_cleanup). */
int plan_model_open(Model *m, const char *dir, const char *preset, char tmp[64])
{
    char err[FE_ERR_LEN];
    tmp[0] = 0;
    if (preset) {
        snprintf(tmp, 64, "/tmp/hetc-plan-XXXXXX");
        FeSynthOpts so = {.preset = preset, .config_only = 1, .dtype = IR_BF16};
        if (!mkdtemp(tmp)) return die("cannot make a directory in /tmp");
        snprintf(tmp + strlen(tmp), 64 - strlen(tmp), "/%s", preset);
        if (fe_synth(tmp, &so, err, sizeof err)) return plan_cleanup(tmp), die("%s", err);
        dir = tmp;
    }
    if (model_open(m, dir)) return tmp[0] ? plan_cleanup(tmp) : 0, 1;
    return 0;
}

/* ---- partition ---- */

int cmd_partition(int argc, char **argv)
{
    const char *target_path = NULL, *profile_path = NULL, *op = "linear", *v;
    long n = 0, k = 0, s = 0;
    int wdt = IR_F16;
    for (int i = 2; i < argc; i++) {
        if ((v = opt(argc, argv, &i, "--target"))) target_path = v;
        else if ((v = opt(argc, argv, &i, "--profile"))) profile_path = v;
        else if ((v = opt(argc, argv, &i, "--op"))) op = v;
        else if ((v = opt(argc, argv, &i, "--n"))) { if (parse_int(v, "--n", 1, 1L << 30, &n)) return 1; }
        else if ((v = opt(argc, argv, &i, "--k"))) { if (parse_int(v, "--k", 1, 1L << 30, &k)) return 1; }
        else if ((v = opt(argc, argv, &i, "--s"))) { if (parse_int(v, "--s", 1, IR_MAX_CHUNK, &s)) return 1; }
        else if ((v = opt(argc, argv, &i, "--weight-dtype"))) { if (parse_dtype(v, &wdt)) return 1; }
        else return die("partition: unknown argument '%s'", argv[i]);
    }
    if (!target_path || !n || !k || !s)
        return die("usage: hetc partition --target T.xml [--profile profile.json] --op linear --n N --k K --s S "
                   "[--weight-dtype DT]");
    if (strcmp(op, "linear") != 0) return die("--op: '%s': the solver partitions linears only", op);
    if (ir_dtype_is_block((IrDtype)wdt) && k % ir_dtype_block((IrDtype)wdt))
        return die("--k %ld: a %s weight's rows are blocks of %d values", k, ir_dtype_name((IrDtype)wdt),
                   ir_dtype_block((IrDtype)wdt));
    FeTarget t;
    IrProfile prof;
    if (load_planning(target_path, profile_path, &t, &prof)) return 1;
    IrGraph g;
    ir_graph_init(&g, "partition", "none");
    pass_place_units(&g, &t);
    int fu, npu, rc = 0;
    pass_partition_units(&g, &fu, &npu);
    if (npu < 0) rc = die("target %s has no npu unit: there is nothing to partition", t.name);
    if (!rc) {
        IrCost c = {.g = &g, .prof = profile_path ? &prof : NULL};
        PassPart p;
        pass_partition_solve(&c, fu, npu, n, k, s, (IrDtype)wdt, pass_npu_dtype((IrDtype)wdt), &p);
        const char *fname = g.units[fu].name, *nname = g.units[npu].name;
        double rn = p.choice == PASS_PART_FLOAT ? 0 : p.choice == PASS_PART_ACTIVATION ? (double)p.s_npu / (double)s
                                                                                         : (double)p.n_npu / (double)n;
        printf("{\"choice\": \"%s\", \"float_unit\": \"%s\", \"npu_unit\": \"%s\", \"ratio\": {\"%s\": %.4g, "
               "\"%s\": %.4g}, \"n_npu\": %lld, \"s_npu\": %lld, \"s_pad\": %lld, \"us\": %.1f, \"alone_us\": "
               "{\"%s\": %.1f, \"%s\": %.1f}, \"weight_dtype\": {\"%s\": \"%s\", \"%s\": \"%s\"}}\n",
               p.choice == PASS_PART_FLOAT ? g.units[fu].kind : pass_part_name(p.choice), fname, nname, fname, 1 - rn,
               nname, rn, (long long)p.n_npu, (long long)p.s_npu, (long long)p.s_pad, p.us, fname, p.alone_us[0], nname,
               p.alone_us[1], fname, ir_dtype_name((IrDtype)wdt), nname, ir_dtype_name(pass_npu_dtype((IrDtype)wdt)));
    }
    ir_graph_free(&g);
    fe_profile_free(&prof);
    return rc;
}

/* ---- simulate ---- */

/* The chunks simulate plans with when --chunk gives none: with an npu, its
 * standard shapes up to the prompt (the largest IR_MAX_PLANS - 2); else
 * none (decode and flex plans only). */
static void sim_chunks(const FeTarget *t, long prompt, int *chunks, int *n)
{
    for (int u = 0; u < t->nunits; u++) {
        if (strcmp(t->units[u].kind, "npu") != 0) continue;
        int all[64], na = 0;
        char buf[sizeof t->units[u].shapes];
        snprintf(buf, sizeof buf, "%s", t->units[u].shapes);     /* fe_target gives the default */
        for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok && na < 64; tok = strtok_r(NULL, " ", &save))
            if (atol(tok) <= prompt) all[na++] = atoi(tok);
        int first = na > IR_MAX_PLANS - 2 ? na - (IR_MAX_PLANS - 2) : 0;
        for (int i = first; i < na; i++) chunks[(*n)++] = all[i];
        return;
    }
}

int cmd_simulate(int argc, char **argv)
{
    const char *dir = NULL, *preset = NULL, *target_path = NULL, *profile_path = NULL, *v;
    long prompt = 0, gen = 0;
    int wdt = -1, json = 0, chunks[IR_MAX_PLANS], nchunks = 0, partition = PASS_PARTITION_SOLVE, npu_decode = 0;
    int schedule = PASS_SCHEDULE_OOO;
    for (int i = 2; i < argc; i++) {
        if ((v = opt(argc, argv, &i, "--target"))) target_path = v;
        else if ((v = opt(argc, argv, &i, "--profile"))) profile_path = v;
        else if ((v = opt(argc, argv, &i, "--preset"))) preset = v;
        else if ((v = opt(argc, argv, &i, "--prompt-len"))) { if (parse_int(v, "--prompt-len", 1, 1 << 20, &prompt)) return 1; }
        else if ((v = opt(argc, argv, &i, "--gen"))) { if (parse_int(v, "--gen", 0, 1 << 20, &gen)) return 1; }
        else if ((v = opt(argc, argv, &i, "--weight-dtype"))) { if (parse_dtype(v, &wdt)) return 1; }
        else if ((v = opt(argc, argv, &i, "--chunk"))) { if (parse_chunks(v, chunks, &nchunks)) return 1; }
        else if ((v = opt(argc, argv, &i, "--partition"))) { if (parse_partition(v, &partition)) return 1; }
        else if ((v = opt(argc, argv, &i, "--schedule"))) { if (parse_schedule(v, &schedule)) return 1; }
        else if (strcmp(argv[i], "--json") == 0) json = 1;
        else if (strcmp(argv[i], "--npu-decode") == 0) npu_decode = 1;
        else if (argv[i][0] == '-') return die("simulate: unknown option '%s'", argv[i]);
        else dir = argv[i];
    }
    if ((!dir == !preset) || !target_path || !prompt)
        return die("usage: hetc simulate --target T.xml [--profile P.json] MODEL|--preset NAME --prompt-len N "
                   "[--gen M] [--weight-dtype DT] [--chunk C,..] [--partition solve|npu] [--schedule ooo|inorder] "
                   "[--npu-decode] [--json]");
    FeTarget t;
    IrProfile prof;
    if (load_planning(target_path, profile_path, &t, &prof)) return 1;
    char tmp[64] = "", err[FE_ERR_LEN];
    Model m;
    if (plan_model_open(&m, dir, preset, tmp)) return fe_profile_free(&prof), 1;
    if (!nchunks) sim_chunks(&t, prompt, chunks, &nchunks);
    if (npu_decode && nchunks < IR_MAX_PLANS - 2) chunks[nchunks++] = 1;   /* decode steps as static chunks of 1 */
    PassDiag diag = {0};
    PassCtx c = model_ctx(&m, &diag);
    c.target = &t;
    c.weight_dtype = wdt;
    c.shapes_only = m.config_only || (wdt >= 0 && ir_dtype_is_block((IrDtype)wdt));
    c.chunks = chunks;
    c.nchunks = nchunks;
    c.partition = partition;
    c.schedule = schedule;
    c.no_decode = npu_decode;
    c.profile = profile_path ? &prof : NULL;
    for (int i = 0; i < nchunks; i++)
        if (chunks[i] > c.max_chunk) c.max_chunk = chunks[i];
    IrGraph g;
    ir_graph_init(&g, m.name, m.arch.name);
    /* quantize and outliers need calibration: an npu's float linears are priced as int8, shadows not at all */
    int rc = pass_run_pipeline(&g, &c, "lower,fuse,dce,chunk,place,partition,transfers,group,schedule", NULL, stdout)
                 ? die("%s", diag.msg) : 0;
    IrSimResult r;
    IrCost cost = {.g = &g, .prof = c.profile};
    if (!rc && ir_simulate(&cost, prompt, gen, &r, err, sizeof err)) rc = die("%s", err);
    if (!rc) {
        double total = r.prefill_us + r.decode_us;
        if (r.unmatched[0])
            fprintf(stderr, "note: %s: %s; its subgraphs are priced by the cost model\n", profile_path, r.unmatched);
        if (r.unmeasured) fprintf(stderr, "note: %s: no times of plan", profile_path);
        for (int p = 0, n = 0; p < g.nplans; p++)
            if (r.unmeasured >> p & 1) fprintf(stderr, "%s %s", n++ ? "," : "", g.plans[p].name);
        if (r.unmeasured) fprintf(stderr, " (the program measured had other plans): priced by the cost model\n");
        if (json) {
            printf("{\"model\": \"%s\", \"target\": \"%s\", \"prompt_len\": %ld, \"gen\": %ld, \"prefill_us\": %.1f, "
                   "\"prefill_tps\": %.2f, \"decode_us\": %.1f, \"decode_tps\": %.2f, \"units\": {",
                   m.name, t.name, prompt, gen, r.prefill_us, r.prefill_tps, r.decode_us, r.decode_tps);
            for (int u = 0; u < g.nunits; u++)
                printf("%s\"%s\": {\"busy_us\": %.1f, \"idle_us\": %.1f, \"prefill_busy_us\": %.1f, "
                       "\"prefill_idle_rate\": %.4f}", u ? ", " : "", g.units[u].name, r.busy_us[u], total - r.busy_us[u],
                       r.prefill_busy_us[u], r.prefill_us > 0 ? 1 - r.prefill_busy_us[u] / r.prefill_us : 0);
            printf("}, \"measured_plans\": [");
            for (int p = 0, n = 0; p < g.nplans; p++)
                if (r.measured >> p & 1) printf("%s\"%s\"", n++ ? ", " : "", g.plans[p].name);
            printf("], \"step_factors\": {");
            for (int p = 0, n = 0; p < g.nplans; p++)
                if (r.step_factor[p] > 0) printf("%s\"%s\": %.4f", n++ ? ", " : "", g.plans[p].name, r.step_factor[p]);
            printf("}}\n");
        } else {
            printf("%s on %s: prompt of %ld tokens in %d steps, %ld decode steps\n", m.name, t.name, prompt,
                   r.prefill_steps, gen);
            printf("  prefill  %10.1f ms  %9.2f tokens/s\n", r.prefill_us / 1e3, r.prefill_tps);
            if (gen) printf("  decode   %10.1f ms  %9.2f tokens/s\n", r.decode_us / 1e3, r.decode_tps);
            for (int u = 0; u < g.nunits; u++)
                printf("  %-8s busy %10.1f ms, idle in prefill %5.1f%%\n", g.units[u].name, r.busy_us[u] / 1e3,
                       r.prefill_us > 0 ? 100 * (1 - r.prefill_busy_us[u] / r.prefill_us) : 0);
            for (int p = 0, n = 0; p < g.nplans; p++)
                if (r.measured >> p & 1) printf("%s%s", n++ ? ", " : "  subgraph times measured (model --profile): ", g.plans[p].name);
            if (r.measured) printf("\n");
            int scaled = 0;
            for (int p = 0; p < g.nplans; p++)
                if (r.step_factor[p] > 0)
                    printf("%s%s x%.3f", scaled++ ? ", " : "  scaled to the steps measured whole: ", g.plans[p].name,
                           r.step_factor[p]);
            if (scaled) printf("\n");
        }
    }
    ir_graph_free(&g);
    model_free(&m);
    fe_profile_free(&prof);
    if (tmp[0]) plan_cleanup(tmp);
    return rc;
}

/* ---- profile ---- */

enum { MAX_SHAPES = 64, MAX_SWEEP = 16, STREAM_MB = 2048 };

/* The model's linears: their weight shapes, each once, and bytes. */
typedef struct {
    int64_t shape[MAX_SHAPES][2];   /* {n, k} */
    int nshapes;
    double bytes;                   /* of every linear's weights */
    IrDtype wdt;                    /* their dtype */
} Linears;

static void model_linears(const IrGraph *g, Linears *l)
{
    memset(l, 0, sizeof *l);
    l->wdt = IR_F32;
    l->nshapes = ir_linear_shapes(g, l->shape, MAX_SHAPES);
    for (int i = 0; i < g->n; i++) {
        if (g->nodes[i].op != IR_OP_LINEAR) continue;
        const IrNode *w = &g->nodes[g->nodes[i].in[1]];
        l->bytes += (double)ir_dtype_bytes(w->dtype, w->dim[0] * w->dim[1]);
        l->wdt = w->dtype;
    }
}

/* The target's units as the profiler measures them. */
typedef struct {
    RtProfUnit u[FE_MAX_UNITS];
    int n;
    RtPool *pool[FE_MAX_UNITS];
    RtNpu *npu[FE_MAX_UNITS];
#ifdef HETC_OPENCL
    RtCl cl[FE_MAX_UNITS];
    RtProfCl pcl[FE_MAX_UNITS];
    int64_t cl_shapes[MAX_SHAPES + 1][2];   /* the OpenCL program's linears: the model's and launch_us's */
    int ncl_shapes;
#endif
} ProfUnits;

static void units_close(ProfUnits *p)
{
    for (int i = 0; i < p->n; i++) {
        rt_prof_unit_free(&p->u[i]);
        if (p->pool[i]) rt_pool_destroy(p->pool[i]);
        if (p->npu[i]) rt_npu_emu.close(p->npu[i]);
#ifdef HETC_OPENCL
        if (p->pcl[i].cl) rt_prof_cl_free(&p->pcl[i]), rt_cl_close(&p->cl[i]);
#endif
    }
    p->n = 0;
}

#ifdef HETC_OPENCL
/* The program of an OpenCL unit: gemv and gemm of every linear shape, as
 * codegen instantiates them from runtime/rt_kernels.cl. */
static char *prof_program(const FeUnit *fu, const ProfUnits *p, IrDtype wt, size_t *len)
{
    char dir[FE_PATH_LEN], path[FE_PATH_LEN + 32], err[FE_ERR_LEN];
    size_t tlen;
    snprintf(path, sizeof path, "%s/rt_kernels.cl", data_dir("HETC_RUNTIME", "runtime", dir, sizeof dir));
    char *templ = fe_read_file(path, &tlen, err, sizeof err), *text = NULL;
    if (!templ) return die("profile: unit %s: %s", fu->name, err), NULL;
    FILE *f = open_memstream(&text, len);
    fprintf(f, "/* hetc profile: gemv and gemm of the model's linears */\n#define HETC_WG %d\n#define HETC_TILE %d\n"
               "#ifndef HETC_FP16\n#define HETC_FP16 0\n#endif\n", fu->wg, fu->tile);
    int rc = cg_cl_instantiate(f, templ, "common", "_common", (const char *const[]){NULL}, err, sizeof err);
    const char *wtn = wt == IR_F16 ? "half" : "float";
    for (int i = 0; !rc && i < p->ncl_shapes; i++) {
        char suffix[48];
        CgGemvValues gv;   /* float x: the profile measures the float gemv */
        const char *const *v = cg_cl_gemv_plain(&gv, p->cl_shapes[i][0], p->cl_shapes[i][1], wtn, 0, RT_PROF_CL_GEMV_S, 0);
        rt_prof_cl_suffix(suffix, sizeof suffix, p->cl_shapes[i][0], p->cl_shapes[i][1]);
        rc = cg_cl_instantiate(f, templ, "gemv", suffix, v, err, sizeof err);
        if (!rc) rc = cg_cl_instantiate(f, templ, "gemm", suffix, (const char *const[]){v[0], v[1], wtn, "0", NULL}, err,
                                        sizeof err);
    }
    fclose(f);
    free(templ);
    if (rc) return free(text), die("profile: unit %s: %s", fu->name, err), NULL;
    return text;
}

/* An OpenCL unit as the generated program opens it (the target's device
 * choice, HETC_OPENCL_DEVICE over it), its weights in the type codegen
 * stores there (16-bit as f16: OpenCL C has no bf16). */
static RtStatus cl_unit_open(ProfUnits *p, const FeUnit *fu, const Linears *l, IrDtype wdt)
{
    IrDtype wt = wdt == IR_F32 ? IR_F32 : IR_F16;
    memcpy(p->cl_shapes, l->shape, (size_t)l->nshapes * sizeof l->shape[0]);
    p->cl_shapes[l->nshapes][0] = p->cl_shapes[l->nshapes][1] = RT_PROF_LAUNCH_EDGE;
    p->ncl_shapes = l->nshapes + 1;
    size_t len;
    char *src = prof_program(fu, p, wt, &len);
    if (!src) return RT_ERR_ARG;
    RtStatus st = rt_cl_open(&p->cl[p->n], fu->platform, fu->device, fu->index);
    const char *options = fu->fp16 && st == RT_OK && p->cl[p->n].has_fp16 ? "-cl-std=CL1.2 -DHETC_FP16=1"
                                                                             : "-cl-std=CL1.2";
    if (st == RT_OK) {
        fprintf(stderr, "profile: %s: OpenCL device %s (%s); building kernels for %d shapes\n", fu->name,
                p->cl[p->n].device_name, p->cl[p->n].platform_name, p->ncl_shapes);
        st = rt_cl_build(&p->cl[p->n], src, len, options, NULL);
        if (st != RT_OK) rt_cl_close(&p->cl[p->n]);
    }
    free(src);
    if (st != RT_OK) return st;
    p->pcl[p->n] = (RtProfCl){.cl = &p->cl[p->n], .wg = fu->wg, .tile = fu->tile,
                              .shapes = (const int64_t(*)[2])p->cl_shapes, .nshapes = p->ncl_shapes};
    rt_prof_cl(&p->u[p->n], fu->name, &p->pcl[p->n], wt == IR_F16 ? RT_F16 : RT_F32);
    return RT_OK;
}
#endif

static int units_open(const FeTarget *t, const Linears *l, ProfUnits *p)
{
    memset(p, 0, sizeof *p);
    for (int i = 0; i < t->nunits; i++) {
        const FeUnit *fu = &t->units[i];
        RtStatus st = RT_OK;
        if (strcmp(fu->backend, "c") == 0) {     /* cmd_profile refused block types */
            st = rt_pool_create(&p->pool[p->n], fu->threads);
            if (st == RT_OK) rt_prof_cpu(&p->u[p->n], fu->name, p->pool[p->n], (RtDtype)l->wdt);
        } else if (strcmp(fu->backend, "npu-emu") == 0) {
            st = rt_npu_emu.open(&p->npu[p->n], fu->threads);
            if (st == RT_OK) rt_prof_npu(&p->u[p->n], fu->name, &rt_npu_emu, p->npu[p->n], fu->tile);
#ifdef HETC_OPENCL
        } else if (strcmp(fu->backend, "opencl") == 0) {
            st = cl_unit_open(p, fu, l, l->wdt);
            if (st == RT_ERR_ARG) return units_close(p), 1;
#endif
        } else {
            fprintf(stderr, "hetc: note: profile: unit %s (%s) is not measured by this hetc (built without OpenCL); "
                    "its figures come from %s\n", fu->name, fu->backend, t->path);
            continue;
        }
        if (st != RT_OK) return units_close(p), die("profile: unit %s: %s", fu->name, rt_last_error());
        p->n++;
    }
    if (!p->n) return die("%s: no unit this hetc can measure", t->path);
    return 0;
}

static RtProfUnit *unit_named(ProfUnits *p, const char *name)
{
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->u[i].name, name) == 0) return &p->u[i];
    return NULL;
}

/* What the sweep measures: the float unit on sf rows x nf columns and the
 * npu on sq rows x nq columns, at once (either may be empty). */
typedef struct {
    RtProfUnit *f, *q;
    RtUnitThread *thread;       /* the npu part's */
    int64_t k;
    double stream, min_time;
} Sweep;

static int time_split(Sweep *sw, int64_t sf, int64_t nf, int64_t sq, int64_t nq, double *us)
{
    RtProfPart parts[2] = {{0}};
    int np = 0;
    RtStatus st = RT_OK;
    if (sf > 0 && nf > 0 && (st = sw->f->prepare(sw->f, nf, sw->k, (int)sf, sw->stream, &parts[np].job)) == RT_OK)
        parts[np++].unit = sw->f;
    if (st == RT_OK && sq > 0 && nq > 0 &&
        (st = sw->q->prepare(sw->q, nq, sw->k, (int)sq, sw->stream, &parts[np].job)) == RT_OK)
        parts[np++].unit = sw->q;
    double sec = 0;
    if (st == RT_OK) st = rt_prof_time(parts, np, &sw->thread, sw->min_time, &sec);
    for (int i = 0; i < np; i++) parts[i].job->release(parts[i].job);
    if (st != RT_OK) return die("profile --sweep: %s", rt_last_error());
    *us = sec * 1e6;
    return 0;
}

typedef struct {
    const char *kind;           /* "float", "npu", "weight", "activation" */
    double ratio;               /* the npu's share of W's rows (weight) or of x's rows (activation) */
    double us;
} Measured;

/* One linear at s rows: the solver's plan and every split in steps of 1/8,
 * measured; one JSON line. Returns 0, 1 on error; *ok: the solver's plan
 * is within 10% of the best and no slower than the best unit alone. */
static int sweep_point(Sweep *sw, const IrCost *c, int fu, int npu, int64_t n, int64_t s, IrDtype wdt, int *ok)
{
    int64_t tile = ir_unit_int(&c->g->units[npu], "tile", 32), rows = ir_cost_static_rows(c, npu, sw->k, s);
    PassPart p;
    pass_partition_solve(c, fu, npu, n, sw->k, s, wdt, IR_I8, &p);
    Measured best, alone[2], plan;
    if (time_split(sw, s, n, 0, 0, &alone[0].us) || time_split(sw, 0, 0, rows, n, &alone[1].us)) return 1;
    alone[0].kind = "float", alone[0].ratio = 0;
    alone[1].kind = "npu", alone[1].ratio = 1;
    best = alone[0].us <= alone[1].us ? alone[0] : alone[1];
    for (int i = 1; i < 8; i++) {
        int64_t nq = (n * i / 8 + tile / 2) / tile * tile, sq = (s * i / 8 + tile / 2) / tile * tile;
        double us;
        if (nq > 0 && nq < n) {
            if (time_split(sw, s, n - nq, rows, nq, &us)) return 1;
            if (us < best.us) best = (Measured){"weight", (double)nq / (double)n, us};
        }
        if (sq > 0 && sq < s) {
            if (time_split(sw, s - sq, n, sq, n, &us)) return 1;
            if (us < best.us) best = (Measured){"activation", (double)sq / (double)s, us};
        }
    }
    switch (p.choice) {
    case PASS_PART_FLOAT: plan = alone[0]; break;
    case PASS_PART_NPU: plan = alone[1]; break;
    case PASS_PART_ACTIVATION:
        plan = (Measured){"activation", (double)p.s_npu / (double)s, 0};
        if (time_split(sw, s - p.s_npu, n, p.s_npu, n, &plan.us)) return 1;
        break;
    default:
        plan = (Measured){"weight", (double)p.n_npu / (double)n, 0};
        if (time_split(sw, s, n - p.n_npu, p.s_pad > 0 ? p.s_pad : rows, p.n_npu, &plan.us)) return 1;
        break;
    }
    if (plan.us < best.us) best = plan;
    double single = alone[0].us < alone[1].us ? alone[0].us : alone[1].us;
    *ok = plan.us <= 1.10 * best.us && plan.us <= 1.02 * single;
    const char *fname = c->g->units[fu].name, *qname = c->g->units[npu].name;
    printf("{\"n\": %lld, \"k\": %lld, \"s\": %lld, \"solver\": {\"choice\": \"%s\", \"ratio_npu\": %.4g, "
           "\"predicted_us\": %.1f, \"us\": %.1f}, \"best\": {\"choice\": \"%s\", \"ratio_npu\": %.4g, \"us\": %.1f}, "
           "\"alone_us\": {\"%s\": %.1f, \"%s\": %.1f}, \"vs_best\": %.3f, \"ok\": %s}\n",
           (long long)n, (long long)sw->k, (long long)s, pass_part_name(p.choice), plan.ratio, p.us, plan.us,
           best.kind, best.ratio, best.us, fname, alone[0].us, qname, alone[1].us, plan.us / best.us,
           *ok ? "true" : "false");
    fflush(stdout);
    return 0;
}

/* --sweep: the solver, given the profile just measured, against the
 * measured splits of each of the model's linear shapes at each length. */
static int sweep(const FeTarget *t, const char *profile_path, ProfUnits *pu, const Linears *l, const int *lens,
                 int nlens, double stream, double min_time)
{
    FeTarget tm = *t;
    IrProfile prof;
    char err[FE_ERR_LEN];
    if (fe_profile_load(&prof, profile_path, err, sizeof err)) return die("%s", err);
    fe_profile_apply(&prof, &tm);
    IrGraph g;
    ir_graph_init(&g, "sweep", "none");
    pass_place_units(&g, &tm);
    int fu, npu, rc = 0, good = 0, total = 0;
    pass_partition_units(&g, &fu, &npu);
    Sweep sw = {.stream = stream, .min_time = min_time};
    if (npu < 0) rc = die("profile --sweep: target %s has no npu unit: there is nothing to split", t->name);
    else if (!(sw.f = unit_named(pu, g.units[fu].name)) || !(sw.q = unit_named(pu, g.units[npu].name)))
        rc = die("profile --sweep: units %s and %s must both be measured", g.units[fu].name, g.units[npu].name);
    if (!rc && rt_unit_create(&sw.thread) != RT_OK) rc = die("profile --sweep: %s", rt_last_error());
    IrCost c = {.g = &g, .prof = &prof};
    for (int i = 0; !rc && i < l->nshapes; i++)
        for (int j = 0; !rc && j < nlens; j++) {
            int ok;
            sw.k = l->shape[i][1];
            rc = sweep_point(&sw, &c, fu, npu, l->shape[i][0], lens[j], l->wdt, &ok);
            good += !rc && ok;
            total++;
        }
    if (sw.thread) rt_unit_destroy(sw.thread);
    if (!rc)
        fprintf(stderr, "hetc: sweep: the solver's plan is within 10%% of the best split and no slower than the best "
                "unit alone at %d of %d points\n", good, total);
    ir_graph_free(&g);
    fe_profile_free(&prof);
    return rc;
}

/* --sweep S1,S2,..: lengths. */
static int parse_lengths(const char *v, int *lens, int *n)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", v);
    *n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        long s;
        if (*n == MAX_SWEEP) return die("--sweep: at most %d lengths", MAX_SWEEP);
        if (parse_int(tok, "--sweep", 1, IR_MAX_CHUNK, &s)) return 1;
        lens[(*n)++] = (int)s;
    }
    return *n ? 0 : die("--sweep: no lengths in '%s'", v);
}

int cmd_profile(int argc, char **argv)
{
    const char *dir = NULL, *preset = NULL, *target_path = NULL, *out = NULL, *v;
    long max_s = 512, stream_mb = STREAM_MB;
    double min_time = 0.05;
    int wdt = -1, lens[MAX_SWEEP], nlens = 0;
    for (int i = 2; i < argc; i++) {
        if ((v = opt(argc, argv, &i, "--target"))) target_path = v;
        else if ((v = opt(argc, argv, &i, "--preset"))) preset = v;
        else if ((v = opt(argc, argv, &i, "-o"))) out = v;
        else if ((v = opt(argc, argv, &i, "--weight-dtype"))) { if (parse_dtype(v, &wdt)) return 1; }
        else if ((v = opt(argc, argv, &i, "--max-s"))) { if (parse_int(v, "--max-s", 1, IR_MAX_CHUNK, &max_s)) return 1; }
        else if ((v = opt(argc, argv, &i, "--stream-mb"))) { if (parse_int(v, "--stream-mb", 0, 1 << 20, &stream_mb)) return 1; }
        else if ((v = opt(argc, argv, &i, "--min-time"))) {
            char *end;
            min_time = strtod(v, &end);
            if (*end || end == v || !(min_time > 0 && min_time <= 10)) return die("--min-time: '%s' is not 0..10 seconds", v);
        }
        else if ((v = opt(argc, argv, &i, "--sweep"))) { if (parse_lengths(v, lens, &nlens)) return 1; }
        else if (argv[i][0] == '-') return die("profile: unknown option '%s'", argv[i]);
        else dir = argv[i];
    }
    if ((!dir == !preset) || !target_path || !out)
        return die("usage: hetc profile --target T.xml MODEL|--preset NAME -o profile.json [--weight-dtype DT] "
                   "[--max-s N] [--stream-mb MB] [--min-time SEC] [--sweep S1,S2,..]");
    FeTarget t;
    IrProfile none;
    if (load_planning(target_path, NULL, &t, &none)) return 1;
    for (int u = 0; wdt >= 0 && u < t.nunits; u++)
        if (strcmp(t.units[u].backend, "c") == 0 && wdt != IR_F32 && wdt != IR_F16 && wdt != IR_BF16)
            return die("%s: unit %s: the cpu runs f32, f16 and bf16 linears, not %s (a type for planning only)", t.path,
                       t.units[u].name, ir_dtype_name((IrDtype)wdt));
    char tmp[64];
    Model m;
    if (plan_model_open(&m, dir, preset, tmp)) return 1;
    PassDiag diag = {0};
    PassCtx c = model_ctx(&m, &diag);
    c.weight_dtype = wdt;
    c.shapes_only = 1;
    IrGraph g;
    int rc = lower_model(&m, &g, &c, NULL);
    Linears l;
    if (!rc) model_linears(&g, &l);
    if (!rc && !l.nshapes) rc = die("%s: the model has no linears to measure", m.dir);
    double stream = l.bytes < (double)stream_mb * 1048576 ? l.bytes : (double)stream_mb * 1048576;
    ProfUnits pu = {0};
    if (!rc) rc = units_open(&t, &l, &pu);
    if (!rc) {
        char machine[FE_PATH_LEN + 128];
        snprintf(machine, sizeof machine, "hetc profile of %s's linears on target %s, %d cores, weights read over "
                 "%.0f MB", m.name, t.name, rt_cpu_count(), stream / 1048576);
        RtProfSpec sp = {.machine = machine, .units = pu.u, .nunits = pu.n, .shapes = (const int64_t(*)[2])l.shape,
                         .nshapes = l.nshapes, .max_s = (int)max_s, .stream_bytes = stream, .min_seconds = min_time,
                         .progress = 1, .heads = (int)ir_graph_int(&g, "heads", 0),
                         .kv_heads = (int)ir_graph_int(&g, "kv_heads", 0), .head_dim = (int)ir_graph_int(&g, "head_dim", 0)};
        double t0 = now();
        if (rt_profile(&sp, out) != RT_OK) rc = die("profile: %s", rt_last_error());
        else fprintf(stderr, "hetc: wrote %s (%d linear shapes, %d units) in %.1f s\n", out, l.nshapes, pu.n, now() - t0);
    }
    if (!rc && nlens) rc = sweep(&t, out, &pu, &l, lens, nlens, stream, min_time);
    units_close(&pu);
    ir_graph_free(&g);
    model_free(&m);
    if (tmp[0]) plan_cleanup(tmp);
    return rc;
}
