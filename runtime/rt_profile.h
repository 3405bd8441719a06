/* rt_profile.h: measuring a machine's units for the compiler's cost model.
 *
 * `hetc profile` and the generated program's `model --profile FILE` both
 * end here: they describe the machine's units (an RtProfUnit each: how to
 * run one linear x [s,k] @ W [n,k]^T on it) and the model's linear shapes,
 * and rt_profile() times every shape on every unit at the standard lengths
 * 1, 32, 64, 128, ... up to max_s, the model's attention on cpu units,
 * measures the hand-over between two threads, and writes profile.json (compiler/fe_profile.c documents the
 * format). Weights and activations are the profiler's own (random values:
 * a linear's time does not depend on them); a unit's weight copies cycle
 * through as many bytes as the model's weights (stream_bytes), so each
 * linear reads its weights from as far as it does in the model.
 *
 * rt_prof_time() runs parts of a linear on several units at once, each on
 * a thread of its own: `hetc profile --sweep` measures split linears with
 * it.
 *
 * The generated program also times its own plans (rt_prof_steps): steps
 * of each plan's size on its own weights, every subgraph's time recorded
 * by the thread that runs it (RtSubTime), written to profile.json's
 * "plans": what `hetc simulate` takes for those subgraphs instead of the
 * sum of their nodes' modelled costs.
 */
#ifndef HETC_RT_PROFILE_H
#define HETC_RT_PROFILE_H

#include <stdio.h>

#include "hetc_rt.h"
#include "rt_npu.h"

/* launch_us is the time of a linear of RT_PROF_LAUNCH_EDGE (or the unit's
 * tile where larger) rows, outputs and inputs at s = 1. */
enum { RT_PROF_LAUNCH_EDGE = 16 };
/* Widths measured per shape: n itself, and, for a unit with part_widths, n/2, n/4, n/8 (n >> i). */
enum { RT_PROF_WIDTHS = 4 };

/* An OpenCL unit (rt_prof_cl.c, declared in hetc_rt_cl.h) runs the gemv
 * kernel of rt_kernels.cl up to RT_PROF_CL_GEMV_S rows, else gemm; its
 * program has both for every shape measured, instances named with the
 * suffix "_N_K" that rt_prof_cl_suffix writes. */
enum { RT_PROF_CL_GEMV_S = 8 };     /* codegen's IR_DECODE_MAX */

/* Lanes per row pair of rt_kernels.cl's gemv, the rule its
 * GEMV_LANES_WANTED states (capped at wg / 2): 32 where a launch has 4096
 * row pairs or more, which fill the device with 32 lanes each, and where x
 * is int8 (xq: the family's XQ), whose work-groups each quantise all of x
 * first, so that more rows share that; else 128, so that fewer rows still
 * make enough work-items (a 7B model's 4096-row projections: 2048 pairs).
 * Launch geometry: wg / lanes pairs a work-group. */
static inline int64_t rt_gemv_lanes(int64_t pairs, int wg, int xq)
{
    int64_t lanes = xq || pairs >= 4096 ? 32 : 128;
    return lanes < wg / 2 ? lanes : wg / 2;
}
static inline void rt_prof_cl_suffix(char *buf, size_t cap, int64_t n, int64_t k)
{
    snprintf(buf, cap, "_%lld_%lld", (long long)n, (long long)k);
}

/* Something prepared to run on a unit, again and again (a linear). */
typedef struct RtProfJob RtProfJob;
struct RtProfJob {
    RtStatus (*run)(RtProfJob *job);    /* batch executions (0: one), on the calling thread */
    void (*release)(RtProfJob *job);
    int batch;      /* a device queue's launches back to back, as a step enqueues them, waited for once:
                     * rt_prof_time counts the time per execution of a unit alone, and sets it to 1 where
                     * parts run at once (each part of a split runs once) */
};

typedef struct RtProfUnit RtProfUnit;
struct RtProfUnit {
    char name[16];              /* the target's unit name, e.g. "cpu0" */
    char dtype[8];              /* the weight type its linears read, as the IR names it: "f16", "i8" */
    int tile;                   /* its static graphs pad rows and n to this (1: flexible shapes) */
    int part_widths;            /* also measure widths n/8, n/4, n/2 of each shape (the parts of a split,
                                 * where time is not in proportion to width: a GPU's few work-groups) */
    void *ctx;                  /* the backend's handle (RtPool, RtNpu, ...) */
    const void *backend;        /* an npu's RtNpuBackend */
    int dt;                     /* RtDtype of its weights */
    void *pool;                 /* its random weights (rt_prof_unit_free frees them) */
    size_t pool_bytes;
    /* A linear of s rows, ready to run, its weight copies making up
     * stream_bytes (at least one). */
    RtStatus (*prepare)(RtProfUnit *u, int64_t n, int64_t k, int s, double stream_bytes, RtProfJob **job);
};

/* The fields every unit sets (the backends' rt_prof_* below call it). */
void rt_prof_unit_init(RtProfUnit *u, const char *name, const char *dtype, int tile, void *ctx, int dt,
                       RtStatus (*prepare)(RtProfUnit *, int64_t, int64_t, int, double, RtProfJob **));
/* A cpu unit: rt_linear on 'pool' with weights of dtype dt (f32, f16, bf16). */
void rt_prof_cpu(RtProfUnit *u, const char *name, RtPool *pool, RtDtype dt);
/* An npu unit: one QLINEAR graph of backend b (int8 weights and input). */
void rt_prof_npu(RtProfUnit *u, const char *name, const RtNpuBackend *b, RtNpu *npu, int tile);

void rt_prof_unit_free(RtProfUnit *u);

/* One part of a measured step: a prepared job of a unit. */
typedef struct {
    const RtProfUnit *unit;
    RtProfJob *job;
} RtProfPart;

/* The seconds of running parts[0..n) at once: parts[0] on the calling
 * thread, parts[i] on threads[i-1]; after a warm-up run, the lower of two
 * medians of runs for at least min_seconds (0: 0.05) and 5 runs each (a
 * noisy machine only ever adds time). */
RtStatus rt_prof_time(const RtProfPart *parts, int n, RtUnitThread *const *threads, double min_seconds,
                      double *seconds);
/* One hand-over between the calling thread and thread t (a flag set on one
 * and seen on the other), in microseconds: half of a round trip's median. */
RtStatus rt_prof_sync(RtUnitThread *t, double *us);

/* A plan's subgraphs for profile.json's "plans". */
typedef struct {
    const char *name;           /* the plan's name (pass plan's) */
    int nsub;
    const char *const *unit;    /* [nsub] each subgraph's unit */
    const char *const *first;   /* [nsub] the name of its first node */
    const RtSubTime *t;         /* [nsub] its times (rt_prof_steps) */
    const RtSubTime *step;      /* its steps timed whole, without the subgraphs' marks, or NULL */
} RtProfPlan;

/* What rt_prof_steps runs: a generated model's forward() and reset(). */
typedef struct {
    RtModel *m;
    RtStatus (*forward)(RtModel *m, const int32_t *ids, int S, int R, float *logits);
    void (*reset)(RtModel *m);
    RtSubTime **table;          /* the model's subgraph time table: set while timing, else NULL */
    int ctx, vocab, max_chunk;  /* forward() takes at most max_chunk tokens */
} RtProfModel;

/* Times the model's plans into t[0..nt): per entry of rows[] (a plan's
 * step size: 1 for decode), a run from position 0 of steps of that many
 * tokens over up to RT_PROF_SPAN positions (half the context at most);
 * for 1, a prompt of that span, then RT_PROF_DECODE decode steps. All of it three times: the first to warm up
 * (weights paged in), the second with every subgraph timed into t, the third with each step timed whole
 * into whole[r] (the decode steps only, after their prompt): what the marks of the second leave out or
 * add (a device queue's markers, the waits between units) is in the third. */
enum { RT_PROF_SPAN = 512, RT_PROF_DECODE = 32 };
RtStatus rt_prof_steps(const RtProfModel *pm, const int *rows, int nrows, RtSubTime *t, size_t nt, RtSubTime *whole,
                       int progress);

typedef struct {
    const char *machine;        /* free text, recorded */
    RtProfUnit *units;          /* [nunits] */
    int nunits;
    const int64_t (*shapes)[2]; /* [nshapes] {n, k} of the model's linears, each once */
    int nshapes;
    int max_s;                  /* the longest length to measure (1, 32, 64, ... up to it) */
    double stream_bytes;        /* the model's weight bytes: how far weights are read from */
    double min_seconds;         /* per measured point (0: 0.05) */
    int heads, kv_heads, head_dim;  /* the model's attention (0: not measured): a cpu unit's gflops */
    int progress;               /* lines on stderr as it goes */
    const RtProfPlan *plans;    /* [nplans] the program's plans as timed, or NULL */
    int nplans;
} RtProfSpec;

/* Measures spec's shapes on its units and writes profile.json to path. */
RtStatus rt_profile(const RtProfSpec *spec, const char *path);

#endif
