/* rt_profile.c: the profiler behind `hetc profile` and `model --profile
 * FILE` (rt_profile.h says what it measures).
 *
 * A point is the time of one linear on one unit alone (rt_prof_time: the
 * lower of two medians after a warm-up run; this machine's noise only
 * ever adds); the unit's weight copies cycle, one per run, so that a run
 * reads weights that the previous runs pushed out of the caches as the
 * model's other linears would. Lengths are 1, 32, 64, 128, ... up to
 * max_s: the cost model interpolates between them (a unit of flexible
 * shapes) or rounds up to them (an npu's static graphs).
 *
 * Besides the points, profile.json gets each unit's measured figures:
 * gbps, the weight bytes a unit streams per second at s = 1 (its best
 * shape; from DRAM where the model's weights are larger than the caches,
 * as a decode step's KV cache and weights are), its peak rate at the
 * longest length (gflops_f16 for 16-bit weights, gflops for f32, gops_i8
 * for int8) and launch_us, the time of a
 * linear of one tile at s = 1 (what any op costs at least); on a cpu unit
 * (float weights) also gflops as its attention reaches it (rt_attention,
 * the model's heads, a chunk of 128 rows after 384 cached): the cost model
 * prices attention and shadows with gflops, the rest of what has no point
 * with gbps and launch_us; on cpu and npu units silu_geps, the billions of
 * SwiGLU elements a second ([SILU_ROWS, SILU_COLS] f32: an exp and a
 * divide each, in cache), which the cost model takes for silu and SwiGLU
 * where a unit computes them slower than it moves their bytes; and
 * sync_us for every pair of units: one hand-over between two threads
 * (rt_flag_set on one, rt_flag_wait on the other).
 */
#include "rt_profile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    MAX_COPIES = 256,
    MAX_RUNS = 2000,            /* timed runs of one point, at most */
    MIN_RUNS = 5,
    SYNC_ROUNDS = 2000,
    MAX_LENGTHS = 16,
};

/* Random values in (-0.5, 0.5) as dtype dt (f32, f16, bf16; normal
 * numbers, no subnormals) or int8 in [0, 127], none repeating: a linear's
 * time does not depend on its values, but it does on their being distinct
 * memory (a virtual machine's host may merge pages of equal bytes, and the
 * weights would then come from cache, not DRAM). A 64-bit xorshift fills a
 * word at a time, masked so that each value's exponent stays in range. */
static void fill(void *p, size_t bytes, int dt, uint64_t seed)
{
    uint64_t keep, set;
    if (dt == RT_F32) keep = 0xBEFFFFFFBEFFFFFFull, set = 0x1000000010000000ull;
    else if (dt == RT_F16) keep = 0xB7FFB7FFB7FFB7FFull, set = 0x1000100010001000ull;
    else if (dt == RT_BF16) keep = 0xBEFFBEFFBEFFBEFFull, set = 0x2000200020002000ull;
    else keep = 0x7F7F7F7F7F7F7F7Full, set = 0;
    uint64_t x = seed | 1, *w = p;
    size_t words = bytes / 8;
    for (size_t i = 0; i < words; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        w[i] = (x & keep) | set;
    }
    memset((uint8_t *)p + words * 8, 0, bytes - words * 8);
}

static int dtype_size(int dt) { return dt == RT_F32 || dt == RT_I32 ? 4 : dt == RT_I8 ? 1 : 2; }

/* The unit's weights: one pool of stream_bytes (at least one matrix), filled
 * once; copy i of an n x k matrix is its i-th n x k window. */
static RtStatus weights(RtProfUnit *u, int64_t n, int64_t k, double stream_bytes, int *copies, const uint8_t **w)
{
    size_t one = (size_t)n * (size_t)k * (size_t)dtype_size(u->dt);
    size_t want = stream_bytes > (double)one ? (size_t)stream_bytes : one;
    if (want > u->pool_bytes) {
        rt_free(u->pool);
        u->pool_bytes = 0;
        if (!(u->pool = rt_alloc(want))) {
            rt_set_error("profile: %s: out of memory for %zu MB of weights", u->name, want >> 20);
            return RT_ERR_NOMEM;
        }
        fill(u->pool, want, u->dt, 7);
        u->pool_bytes = want;
    }
    *copies = want / one > MAX_COPIES ? MAX_COPIES : (int)(want / one);
    *w = u->pool;
    return RT_OK;
}

void rt_prof_unit_free(RtProfUnit *u)
{
    rt_free(u->pool);
    u->pool = NULL;
    u->pool_bytes = 0;
}

/* ---- the cpu: rt_linear ---- */

typedef struct {
    RtProfJob job;
    RtPool *pool;
    int dt, s, copies, cur;
    int64_t n, k;
    float *x, *out;             /* [s,k], [s,n] */
    const uint8_t *w;           /* copies x [n,k] of dt */
} CpuJob;

static void cpu_release(RtProfJob *job)
{
    CpuJob *j = (CpuJob *)job;
    if (!j) return;
    rt_free(j->x);
    rt_free(j->out);
    rt_free(j);
}

static RtStatus cpu_run(RtProfJob *job);

static RtStatus cpu_prepare(RtProfUnit *u, int64_t n, int64_t k, int s, double stream_bytes, RtProfJob **job)
{
    CpuJob *j = rt_alloc(sizeof *j);
    if (!j) return RT_ERR_NOMEM;
    *j = (CpuJob){.job = {cpu_run, cpu_release, 0}, .pool = u->ctx, .dt = u->dt, .s = s, .n = n, .k = k};
    RtStatus st = weights(u, n, k, stream_bytes, &j->copies, &j->w);
    j->x = rt_alloc((size_t)s * (size_t)k * 4);
    j->out = rt_alloc((size_t)s * (size_t)n * 4);
    if (st == RT_OK && !(j->x && j->out)) {
        rt_set_error("profile: %s: out of memory for a linear %lldx%lld at s=%d", u->name, (long long)n, (long long)k,
                     s);
        st = RT_ERR_NOMEM;
    }
    if (st != RT_OK) {
        cpu_release(&j->job);
        return st;
    }
    fill(j->x, (size_t)s * (size_t)k * 4, RT_F32, 3);
    *job = &j->job;
    return RT_OK;
}

static RtStatus cpu_run(RtProfJob *job)
{
    CpuJob *j = (CpuJob *)job;
    const uint8_t *w = j->w + (size_t)j->cur * (size_t)j->n * (size_t)j->k * (size_t)dtype_size(j->dt);
    rt_linear(j->pool, j->out, j->x, w, (RtDtype)j->dt, NULL, j->s, (int)j->n, (int)j->k);
    j->cur = (j->cur + 1) % j->copies;
    return RT_OK;
}

void rt_prof_unit_init(RtProfUnit *u, const char *name, const char *dtype, int tile, void *ctx, int dt,
                       RtStatus (*prepare)(RtProfUnit *, int64_t, int64_t, int, double, RtProfJob **))
{
    memset(u, 0, sizeof *u);
    snprintf(u->name, sizeof u->name, "%s", name);
    snprintf(u->dtype, sizeof u->dtype, "%s", dtype);
    u->tile = tile;
    u->ctx = ctx;
    u->dt = dt;
    u->prepare = prepare;
}

void rt_prof_cpu(RtProfUnit *u, const char *name, RtPool *pool, RtDtype dt)
{
    rt_prof_unit_init(u, name, rt_dtype_name(dt), 1, pool, dt, cpu_prepare);
}

/* ---- an npu: one QLINEAR graph per weight copy ---- */

typedef struct {
    RtProfJob job;
    const RtNpuBackend *b;
    int copies, cur;
    void *bufs[2];              /* the graph's tensors: x, out */
    int8_t *x;                  /* [s,k] */
    float *out;                 /* [s,n] */
    RtNpuGraph *g[MAX_COPIES];  /* one per weight copy */
} NpuJob;

static void npu_release(RtProfJob *job)
{
    NpuJob *j = (NpuJob *)job;
    if (!j) return;
    for (int i = 0; i < j->copies; i++)
        if (j->g[i]) j->b->free_graph(j->g[i]);
    rt_free(j->x);
    rt_free(j->out);
    rt_free(j);
}

static RtStatus npu_run(RtProfJob *job);

static RtStatus npu_prepare(RtProfUnit *u, int64_t n, int64_t k, int s, double stream_bytes, RtProfJob **job)
{
    NpuJob *j = rt_alloc(sizeof *j);
    if (!j) return RT_ERR_NOMEM;
    j->job = (RtProfJob){npu_run, npu_release, 1};
    j->b = u->backend;
    const uint8_t *w;
    int copies;
    RtStatus st = weights(u, n, k, stream_bytes, &copies, &w);
    j->x = rt_alloc((size_t)s * (size_t)k);
    j->out = rt_alloc((size_t)s * (size_t)n * 4);
    if (st == RT_OK && !(j->x && j->out)) st = RT_ERR_NOMEM;
    if (st == RT_OK) fill(j->x, (size_t)s * (size_t)k, RT_I8, 3);
    char name[64];
    snprintf(name, sizeof name, "profile %lldx%lld s=%d", (long long)n, (long long)k, s);
    const RtNpuTensor tensors[2] = {{RT_I8, k, 0}, {RT_F32, n, 0}};
    for (; st == RT_OK && j->copies < copies; j->copies++) {
        RtNpuOp op = {.kind = RT_NPU_QLINEAR, .in0 = 0, .in1 = -1, .out = 1, .n = n, .k = k,
                      .w8 = (const int8_t *)w + (size_t)j->copies * (size_t)n * (size_t)k, .scale = 1e-4f,
                      .name = name};
        RtNpuGraphDesc d = {.name = name, .rows = s, .tile = u->tile, .ntensors = 2, .tensors = tensors, .nops = 1,
                            .ops = &op};
        st = j->b->build(u->ctx, &d, &j->g[j->copies]);
    }
    if (st != RT_OK) {
        if (st == RT_ERR_NOMEM)
            rt_set_error("profile: %s: out of memory for a linear %lldx%lld at s=%d", u->name, (long long)n,
                         (long long)k, s);
        npu_release(&j->job);
        return st;
    }
    j->bufs[0] = j->x, j->bufs[1] = j->out;
    *job = &j->job;
    return RT_OK;
}

static RtStatus npu_run(RtProfJob *job)
{
    NpuJob *j = (NpuJob *)job;
    RtStatus st = j->b->execute(j->g[j->cur], j->bufs);
    j->cur = (j->cur + 1) % j->copies;
    return st;
}

void rt_prof_npu(RtProfUnit *u, const char *name, const RtNpuBackend *b, RtNpu *npu, int tile)
{
    rt_prof_unit_init(u, name, "i8", tile > 0 ? tile : 32, npu, RT_I8, npu_prepare);
    u->backend = b;
}

/* ---- timing ---- */

static RtStatus run_part(void *arg)
{
    const RtProfPart *p = arg;
    return p->job->run(p->job);
}

/* Runs every part once, at the same time; *seconds: wall time. */
static RtStatus run_once(const RtProfPart *parts, int n, RtUnitThread *const *threads, double *seconds)
{
    double t0 = rt_now();
    for (int i = 1; i < n; i++) rt_unit_post(threads[i - 1], run_part, (void *)&parts[i]);
    RtStatus st = run_part((void *)&parts[0]);
    for (int i = 1; i < n; i++) {
        RtStatus s = rt_unit_wait(threads[i - 1]);
        if (st == RT_OK) st = s;
    }
    *seconds = rt_now() - t0;
    return st;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of runs for at least min_seconds and MIN_RUNS runs. */
static RtStatus median(const RtProfPart *parts, int n, RtUnitThread *const *threads, double min_seconds,
                       double *seconds)
{
    double t[MAX_RUNS], total = 0;
    int runs = 0;
    while (runs < MAX_RUNS && (runs < MIN_RUNS || total < min_seconds)) {
        RtStatus st = run_once(parts, n, threads, &t[runs]);
        if (st != RT_OK) return st;
        total += t[runs++];
    }
    qsort(t, (size_t)runs, sizeof t[0], cmp_double);
    *seconds = t[runs / 2];
    return RT_OK;
}

RtStatus rt_prof_time(const RtProfPart *parts, int n, RtUnitThread *const *threads, double min_seconds,
                      double *seconds)
{
    double warm, again;
    if (min_seconds <= 0) min_seconds = 0.05;
    for (int i = 0; n > 1 && i < n; i++) parts[i].job->batch = 1;
    int batch = n == 1 && parts[0].job->batch > 1 ? parts[0].job->batch : 1;
    RtStatus st = run_once(parts, n, threads, &warm);
    if (st == RT_OK) st = median(parts, n, threads, min_seconds, seconds);
    if (st == RT_OK) st = median(parts, n, threads, min_seconds, &again);     /* noise only ever adds */
    if (st == RT_OK && again < *seconds) *seconds = again;
    *seconds /= batch;
    return st;
}

typedef struct {
    RtFlag ping, pong;
    atomic_int abort;
} PingPong;

static RtStatus pong(void *arg)
{
    PingPong *p = arg;
    for (uint32_t i = 1; i <= SYNC_ROUNDS; i++) {
        RtStatus st = rt_flag_wait(&p->ping, i, &p->abort);
        if (st != RT_OK) return st;
        rt_flag_set(&p->pong, i);
    }
    return RT_OK;
}

RtStatus rt_prof_sync(RtUnitThread *t, double *us)
{
    double rt[SYNC_ROUNDS];
    PingPong p;
    memset(&p, 0, sizeof p);
    rt_unit_post(t, pong, &p);
    RtStatus st = RT_OK;
    for (uint32_t i = 1; i <= SYNC_ROUNDS && st == RT_OK; i++) {
        double t0 = rt_now();
        rt_flag_set(&p.ping, i);
        st = rt_flag_wait(&p.pong, i, &p.abort);
        rt[i - 1] = rt_now() - t0;
    }
    if (st != RT_OK) atomic_store(&p.abort, 1);
    RtStatus w = rt_unit_wait(t);
    if (st != RT_OK || w != RT_OK) return st != RT_OK ? st : w;
    qsort(rt, SYNC_ROUNDS, sizeof rt[0], cmp_double);
    *us = rt[SYNC_ROUNDS / 2] * 0.5e6;
    return RT_OK;
}

/* ---- the whole profile ---- */

typedef struct {
    int64_t n, k;
    int s;
    double us;
} Point;

typedef struct {
    double gbps, rate;          /* best weight streaming at s = 1; best rate at the longest length */
    double launch_us;           /* a linear of one tile at s = 1: what any op costs at least */
    double attention;           /* GFLOP/s of attention (cpu units; 0: not measured) */
    double silu;                /* G elements/s of SwiGLU (cpu and npu units; 0: not measured) */
} Figures;

/* ---- SwiGLU: out = silu(a) * b on a unit, in cache ---- */

enum { SILU_ROWS = 128, SILU_COLS = 4096 };

typedef struct {
    RtProfJob job;
    const RtProfUnit *u;
    float *buf;                 /* a, b, out: [SILU_ROWS, SILU_COLS] each */
    RtNpuGraph *g;              /* an npu's graph of one SWIGLU op */
    void *bufs[3];
} SiluJob;

static RtStatus silu_run(RtProfJob *job)
{
    SiluJob *j = (SiluJob *)job;
    size_t n = (size_t)SILU_ROWS * SILU_COLS;
    if (j->g) return ((const RtNpuBackend *)j->u->backend)->execute(j->g, j->bufs);
    rt_swiglu(j->u->ctx, j->buf + 2 * n, j->buf, j->buf + n, (int64_t)n);
    return RT_OK;
}

static void silu_release(RtProfJob *job)
{
    SiluJob *j = (SiluJob *)job;
    if (j->g) ((const RtNpuBackend *)j->u->backend)->free_graph(j->g);
    rt_free(j->buf);
}

/* SwiGLU elements a second on a cpu unit's pool or an npu unit's graph, in
 * billions; 0 where it cannot be measured. */
static double measure_silu(const RtProfSpec *sp, RtProfUnit *u)
{
    size_t n = (size_t)SILU_ROWS * SILU_COLS;
    SiluJob j = {{silu_run, silu_release, 1}, u, rt_alloc(3 * n * sizeof(float)), NULL, {NULL}};
    if (!j.buf) return 0;
    fill(j.buf, 2 * n * sizeof(float), RT_F32, 11);
    j.bufs[0] = j.buf, j.bufs[1] = j.buf + n, j.bufs[2] = j.buf + 2 * n;
    if (u->prepare == npu_prepare) {
        const RtNpuTensor t[3] = {{RT_F32, SILU_COLS, 0}, {RT_F32, SILU_COLS, 0}, {RT_F32, SILU_COLS, 0}};
        RtNpuOp op = {.kind = RT_NPU_SWIGLU, .in0 = 0, .in1 = 1, .out = 2, .k = SILU_COLS, .name = "profile swiglu"};
        RtNpuGraphDesc d = {.name = "profile swiglu", .rows = SILU_ROWS, .tile = u->tile, .ntensors = 3, .tensors = t,
                            .nops = 1, .ops = &op};
        if (((const RtNpuBackend *)u->backend)->build(u->ctx, &d, &j.g) != RT_OK) {
            silu_release(&j.job);
            return 0;
        }
    }
    RtProfPart part = {u, &j.job};
    double sec = 0;
    RtStatus st = rt_prof_time(&part, 1, NULL, sp->min_seconds, &sec);
    silu_release(&j.job);
    return st == RT_OK && sec > 0 ? (double)n / sec * 1e-9 : 0;
}

enum { ATT_S = 128, ATT_P = 384 };

/* The model's attention of one layer: S rows after P cached keys. */
typedef struct {
    RtProfJob job;
    RtPool *pool;
    int heads, kv_heads, head_dim;
    float *buf;                 /* out, q, k, v, the caches, the scratch */
} AttJob;

static RtStatus att_run(RtProfJob *job)
{
    AttJob *j = (AttJob *)job;
    size_t q = (size_t)ATT_S * j->heads * j->head_dim, kv = (size_t)ATT_S * j->kv_heads * j->head_dim;
    size_t cache = (size_t)(ATT_P + ATT_S) * j->kv_heads * j->head_dim;
    float *out = j->buf, *qb = out + q, *kb = qb + q, *vb = kb + kv, *kc = vb + kv, *vc = kc + cache;
    rt_attention(j->pool, out, qb, kb, vb, kc, vc, ATT_S, ATT_P, j->heads, j->kv_heads, j->head_dim, 0.125f, 0,
                 ATT_P + ATT_S, vc + cache);
    return RT_OK;
}

static void att_release(RtProfJob *job)
{
    rt_free(((AttJob *)job)->buf);
}

/* The rate of the model's attention on a cpu unit's pool in GFLOP/s (4
 * heads head_dim S (P + S/2) flops, as the cost model counts them); 0
 * where memory is short. */
static double measure_attention(const RtProfSpec *sp, RtProfUnit *u)
{
    int h = sp->heads, kvh = sp->kv_heads, hd = sp->head_dim, ctx = ATT_P + ATT_S;
    size_t q = (size_t)ATT_S * h * hd, kv = (size_t)ATT_S * kvh * hd, cache = (size_t)ctx * kvh * hd;
    AttJob j = {{att_run, att_release, 1}, u->ctx, h, kvh, hd, NULL};
    j.buf = rt_alloc((2 * q + 2 * kv + 2 * cache + (size_t)rt_pool_size(u->ctx) * ctx) * sizeof(float));
    if (!j.buf) return 0;
    fill(j.buf + q, (q + 2 * kv + 2 * cache) * sizeof(float), RT_F32, 5);
    RtProfPart part = {u, &j.job};
    double sec = 0;
    RtStatus st = rt_prof_time(&part, 1, NULL, sp->min_seconds, &sec);
    j.job.release(&j.job);
    return st == RT_OK && sec > 0 ? 4.0 * h * hd * ATT_S * (ATT_P + ATT_S / 2.0) / sec * 1e-9 : 0;
}

static int lengths(int max_s, int *len)
{
    int nl = 0;
    len[nl++] = 1;
    for (int s = 32; s <= max_s && nl < MAX_LENGTHS; s *= 2) len[nl++] = s;
    return nl;
}

/* Whether width n of k is a shape of the model or a point already measured. */
static int measured(const RtProfSpec *sp, const Point *pts, int np, int64_t n, int64_t k)
{
    for (int i = 0; i < sp->nshapes; i++)
        if (sp->shapes[i][0] == n && sp->shapes[i][1] == k) return 1;
    for (int i = 0; i < np; i++)
        if (pts[i].n == n && pts[i].k == k) return 1;
    return 0;
}

static RtStatus measure_unit(const RtProfSpec *sp, RtProfUnit *u, Point *pts, int *np, Figures *fig)
{
    int len[MAX_LENGTHS], nl = lengths(sp->max_s, len);
    memset(fig, 0, sizeof *fig);
    RtProfJob *job;     /* warm-up: the unit's threads awake, its clocks up, before the first point */
    RtStatus st = u->prepare(u, sp->shapes[0][0], sp->shapes[0][1], len[nl > 1 ? 1 : 0], sp->stream_bytes, &job);
    if (st != RT_OK) return st;
    for (double t0 = rt_now(); st == RT_OK && rt_now() - t0 < 0.2;) st = job->run(job);
    job->release(job);
    int t = u->tile > RT_PROF_LAUNCH_EDGE ? u->tile : RT_PROF_LAUNCH_EDGE;
    double sec = 0;
    if (st == RT_OK) st = u->prepare(u, t, t, 1, 0, &job);      /* launch_us: a linear of one tile */
    if (st != RT_OK) return st;
    RtProfPart tiny = {u, job};
    st = rt_prof_time(&tiny, 1, NULL, sp->min_seconds, &sec);
    job->release(job);
    if (st != RT_OK) return st;
    fig->launch_us = sec * 1e6;
    if (u->prepare == cpu_prepare && sp->heads > 0 && sp->kv_heads > 0 && sp->head_dim > 0) {
        fig->attention = measure_attention(sp, u);
        if (sp->progress) fprintf(stderr, "profile: %s: attention at %.1f GFLOP/s\n", u->name, fig->attention);
    }
    if (u->prepare == cpu_prepare || u->prepare == npu_prepare) {
        fig->silu = measure_silu(sp, u);
        if (sp->progress) fprintf(stderr, "profile: %s: SwiGLU at %.2f G elements/s\n", u->name, fig->silu);
    }
    for (int i = 0; i < sp->nshapes * RT_PROF_WIDTHS; i++) {
        int64_t n = sp->shapes[i / RT_PROF_WIDTHS][0] >> (i % RT_PROF_WIDTHS), k = sp->shapes[i / RT_PROF_WIDTHS][1];
        if (i % RT_PROF_WIDTHS && (!u->part_widths || n < RT_PROF_LAUNCH_EDGE || measured(sp, pts, *np, n, k)))
            continue;
        if (sp->progress)
            fprintf(stderr, "profile: %s: linear %lldx%lld %s%s\n", u->name, (long long)n, (long long)k, u->dtype,
                    i % RT_PROF_WIDTHS ? " (a split's part)" : "");
        for (int l = 0; l < nl; l++) {
            st = u->prepare(u, n, k, len[l], sp->stream_bytes, &job);
            if (st != RT_OK) return st;
            RtProfPart part = {u, job};
            st = rt_prof_time(&part, 1, NULL, sp->min_seconds, &sec);
            job->release(job);
            if (st != RT_OK) return st;
            pts[(*np)++] = (Point){n, k, len[l], sec * 1e6};
            double bytes = (double)n * (double)k * dtype_size(u->dt), ops = 2.0 * len[l] * (double)n * (double)k;
            if (len[l] == 1 && bytes / sec * 1e-9 > fig->gbps) fig->gbps = bytes / sec * 1e-9;
            if (l == nl - 1 && ops / sec * 1e-9 > fig->rate) fig->rate = ops / sec * 1e-9;
        }
    }
    return RT_OK;
}

/* s as a JSON string (quotes and backslashes escaped, control characters blanked). */
static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const char *c = s; *c; c++)
        fprintf(f, *c == '"' || *c == '\\' ? "\\%c" : (unsigned char)*c < 32 ? " " : "%c", *c);
    fputc('"', f);
}

static RtStatus write_json(const RtProfSpec *sp, const char *path, Point *const *pts, const int *np, const Figures *fig,
                           double sync_us)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        rt_set_error("%s: cannot write the profile", path);
        return RT_ERR_IO;
    }
    fprintf(f, "{\"format\": \"hetc-profile 1\",\n \"machine\": ");
    json_str(f, sp->machine ? sp->machine : "");
    fprintf(f, ",\n \"units\": {");
    for (int u = 0; u < sp->nunits; u++) {
        fprintf(f, "%s\n  \"%s\": [", u ? "," : "", sp->units[u].name);
        for (int i = 0; i < np[u]; i++)
            fprintf(f, "%s\n    {\"op\": \"linear\", \"n\": %lld, \"k\": %lld, \"s\": %d, \"dtype\": \"%s\", "
                       "\"us\": %.3f}", i ? "," : "", (long long)pts[u][i].n, (long long)pts[u][i].k, pts[u][i].s,
                    sp->units[u].dtype, pts[u][i].us);
        fprintf(f, "]");
    }
    fprintf(f, "},\n \"figures\": {");
    for (int u = 0; u < sp->nunits; u++)
    {
        int f32 = sp->units[u].dt == RT_F32;
        fprintf(f, "%s\n  \"%s\": {\"gbps\": %.4g, \"launch_us\": %.4g", u ? "," : "", sp->units[u].name,
                fig[u].gbps, fig[u].launch_us);
        if (!(f32 && fig[u].attention > 0))     /* an f32 unit's gflops is its attention's where measured */
            fprintf(f, ", \"%s\": %.4g", sp->units[u].dt == RT_I8 ? "gops_i8" : f32 ? "gflops" : "gflops_f16",
                    fig[u].rate);
        if (fig[u].attention > 0) fprintf(f, ", \"gflops\": %.4g", fig[u].attention);
        if (fig[u].silu > 0) fprintf(f, ", \"silu_geps\": %.4g", fig[u].silu);
        fprintf(f, "}");
    }
    fprintf(f, "},\n \"sync_us\": {");
    int first = 1;
    for (int a = 0; a < sp->nunits; a++)
        for (int b = a + 1; b < sp->nunits; b++, first = 0)
            fprintf(f, "%s\"%s-%s\": %.4g", first ? "" : ", ", sp->units[a].name, sp->units[b].name, sync_us);
    fprintf(f, "}");
    if (sp->nplans) fprintf(f, ",\n \"plans\": {");
    for (int p = 0; p < sp->nplans; p++) {
        const RtProfPlan *pl = &sp->plans[p];
        fprintf(f, "%s\n  \"%s\": [", p ? "," : "", pl->name);
        for (int k = 0, first = 1; k < pl->nsub; k++) {
            const RtSubTime *t = &pl->t[k];
            if (!t->runs) continue;
            fprintf(f, "%s\n    {\"sub\": %d, \"unit\": \"%s\", \"first\": ", first ? "" : ",", k, pl->unit[k]);
            json_str(f, pl->first[k]);
            fprintf(f, ", \"runs\": %lld, \"us\": %.3f, \"rows\": %.2f, \"pos\": %.2f}", (long long)t->runs,
                    t->us / (double)t->runs, t->rows / (double)t->runs, t->pos / (double)t->runs);
            first = 0;
        }
        fprintf(f, "]");
    }
    if (sp->nplans) fprintf(f, "},\n \"steps\": {");
    for (int p = 0, first = 1; p < sp->nplans; p++) {
        const RtSubTime *t = sp->plans[p].step;
        if (!t || !t->runs) continue;
        fprintf(f, "%s\n  \"%s\": {\"runs\": %lld, \"us\": %.3f, \"rows\": %.2f, \"pos\": %.2f}", first ? "" : ",",
                sp->plans[p].name, (long long)t->runs, t->us / (double)t->runs, t->rows / (double)t->runs,
                t->pos / (double)t->runs);
        first = 0;
    }
    fprintf(f, "%s}\n", sp->nplans ? "}" : "");
    if (fclose(f) != 0) {
        rt_set_error("%s: cannot write the profile", path);
        return RT_ERR_IO;
    }
    return RT_OK;
}

RtStatus rt_profile(const RtProfSpec *sp, const char *path)
{
    int len[MAX_LENGTHS], nl = lengths(sp->max_s, len);
    Point *pts[8] = {0};
    int np[8] = {0};
    Figures fig[8];
    double sync_us = 0;
    if (sp->nunits < 1 || sp->nunits > 8 || sp->nshapes < 1) {
        rt_set_error("profile: %d units and %d shapes: nothing to measure", sp->nunits, sp->nshapes);
        return RT_ERR_ARG;
    }
    RtStatus st = RT_OK;
    for (int u = 0; u < sp->nunits && st == RT_OK; u++) {
        pts[u] = rt_alloc(((size_t)sp->nshapes * RT_PROF_WIDTHS * (size_t)nl) * sizeof *pts[u]);
        st = pts[u] ? measure_unit(sp, &sp->units[u], pts[u], &np[u], &fig[u]) : RT_ERR_NOMEM;
    }
    if (st == RT_OK && sp->nunits > 1) {
        RtUnitThread *t;
        st = rt_unit_create(&t);
        if (st == RT_OK) {
            st = rt_prof_sync(t, &sync_us);
            rt_unit_destroy(t);
        }
        if (st == RT_OK && sp->progress) fprintf(stderr, "profile: one hand-over between threads: %.2f us\n", sync_us);
    }
    if (st == RT_OK) st = write_json(sp, path, pts, np, fig, sync_us);
    for (int u = 0; u < sp->nunits; u++) rt_free(pts[u]);
    return st;
}

/* One pass of rt_prof_steps: per size, steps from position 0; where whole
 * is not NULL, each step's wall time into whole[r] (a decode row's steps
 * after its prompt only). */
static RtStatus steps_pass(const RtProfModel *pm, const int *rows, int nrows, int32_t *ids, float *logits,
                           RtSubTime *whole)
{
    int span = pm->ctx / 2 < RT_PROF_SPAN ? pm->ctx / 2 : RT_PROF_SPAN;
    RtStatus st = RT_OK;
    for (int r = 0; r < nrows && st == RT_OK; r++) {
        int S = rows[r], n = span / S > 0 ? span / S : 1, pos = 0;
        pm->reset(pm->m);
        if (S == 1) {       /* decode: after a prompt */
            for (int done = 0; span > 1 && span + RT_PROF_DECODE <= pm->ctx && done < span && st == RT_OK;) {
                int piece = span - done < pm->max_chunk ? span - done : pm->max_chunk;
                st = pm->forward(pm->m, ids + done, piece, 1, logits);
                done += piece;
                pos = done;
            }
            n = RT_PROF_DECODE;
        }
        for (int i = 0; i < n && st == RT_OK && pos + S <= pm->ctx; i++, pos += S) {
            double t0 = rt_now();
            st = pm->forward(pm->m, S == 1 ? ids + i : ids, S, 1, logits);
            if (whole) rt_sub_time(&whole[r], t0, S, pos);
        }
    }
    pm->reset(pm->m);
    return st;
}

RtStatus rt_prof_steps(const RtProfModel *pm, const int *rows, int nrows, RtSubTime *t, size_t nt, RtSubTime *whole,
                       int progress)
{
    int most = RT_PROF_SPAN;
    for (int r = 0; r < nrows; r++) most = rows[r] > most ? rows[r] : most;
    int32_t *ids = rt_alloc((size_t)most * sizeof *ids);
    float *logits = rt_alloc((size_t)pm->vocab * sizeof *logits);
    if (!ids || !logits) {
        rt_free(ids), rt_free(logits);
        rt_set_error("profile: out of memory for the plans' steps");
        return RT_ERR_NOMEM;
    }
    for (int i = 0; i < most; i++) ids[i] = (int32_t)(((uint32_t)i * 7919u + 13u) % (uint32_t)pm->vocab);
    memset(t, 0, nt * sizeof *t);
    memset(whole, 0, (size_t)nrows * sizeof *whole);
    if (progress) fprintf(stderr, "profile: the program's plans, each subgraph timed (steps of %d", rows[0]);
    for (int r = 1; progress && r < nrows; r++) fprintf(stderr, ", %d", rows[r]);
    if (progress) fprintf(stderr, " tokens), then each step whole\n");
    *pm->table = NULL;
    RtStatus st = steps_pass(pm, rows, nrows, ids, logits, NULL);
    *pm->table = t;
    if (st == RT_OK) st = steps_pass(pm, rows, nrows, ids, logits, NULL);
    *pm->table = NULL;
    if (st == RT_OK) st = steps_pass(pm, rows, nrows, ids, logits, whole);
    rt_free(ids), rt_free(logits);
    return st;
}
