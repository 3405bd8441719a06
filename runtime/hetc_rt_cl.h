/* hetc_rt_cl.h: the OpenCL part of the runtime ABI (rt_opencl.c).
 *
 * Only programs whose target has a gpu unit with backend "opencl" include
 * this header and link OpenCL; the rest of the runtime never depends on it.
 * Generated model.c enqueues its kernels with the plain OpenCL 1.2 API;
 * this layer does what every program needs around that: choosing the
 * device, building the program (with a binary cache), buffers, error names,
 * and the two measurements the benchmarks compare against (copy bandwidth,
 * fp32 FMA peak). Functions return RtStatus and set rt_set_error; nothing
 * exits.
 */
#ifndef HETC_RT_CL_H
#define HETC_RT_CL_H

#define CL_TARGET_OPENCL_VERSION 120
#define CL_USE_DEPRECATED_OPENCL_1_2_APIS
#include <CL/cl.h>

#include "hetc_rt.h"

typedef struct {
    cl_platform_id platform;
    cl_device_id device;
    cl_context context;
    cl_command_queue queue;     /* in-order; profiling only after rt_cl_profiling */
    int profiling;              /* the queue has CL_QUEUE_PROFILING_ENABLE */
    cl_program program;         /* after rt_cl_build */
    char platform_name[128];
    char device_name[128];
    char driver_version[64];
    int has_fp16;               /* cl_khr_fp16 */
    size_t max_work_group;      /* CL_DEVICE_MAX_WORK_GROUP_SIZE */
    cl_ulong local_mem;         /* bytes */
    cl_ulong global_mem;        /* bytes */
    cl_uint compute_units;
    char skip[64];              /* HETC_CL_SKIP: rt_cl_run skips kernels whose name contains it */
} RtCl;

/* Chooses a device and creates a context and queue. The target's choice
 * (platform and device name substrings, "" = any; index: the n-th matching
 * device, -1 = the first, preferring GPUs over other device types) is
 * overridden by the environment variable HETC_OPENCL_DEVICE: "N" (index over
 * all devices of all platforms) or "PLATFORM:DEVICE" substrings. No platform
 * or no matching device is RT_ERR_IO with a message listing what exists.
 * HETC_CL_SKIP=TEXT, a timing diagnostic, makes rt_cl_run skip every
 * launch of a kernel whose name contains TEXT (the results are wrong; the
 * time saved is that kernel's share of a step); a warning says so. */
RtStatus rt_cl_open(RtCl *cl, const char *platform_match, const char *device_match, int index);
/* Builds the program from source with options. cache_path: where the binary
 * is cached (NULL: no cache); a cached binary is used only when it was built
 * for the same device name, driver version, options and source (a hash in
 * the cache file's header), else rebuilt and rewritten. A build failure is
 * RT_ERR_FORMAT with the build log in rt_last_error(). On NVIDIA's
 * platform the program is first built with -DHETC_NV_PTX=1 (the kernels'
 * inline PTX: dp4a), and without it where that build fails;
 * HETC_CL_PTX=0 skips the first. */
RtStatus rt_cl_build(RtCl *cl, const char *source, size_t len, const char *options, const char *cache_path);
/* 1 when this thread's last rt_cl_build took its program from the cache. */
int rt_cl_cache_used(void);
RtStatus rt_cl_kernel(RtCl *cl, const char *name, cl_kernel *k);
/* A device buffer of bytes, copied from host if not NULL. */
RtStatus rt_cl_buffer(RtCl *cl, size_t bytes, cl_mem_flags flags, const void *host, cl_mem *buf);
/* Checks an OpenCL return code: RT_OK, or RT_ERR_IO with "what: CL_ERROR_NAME". */
RtStatus rt_cl_check(cl_int err, const char *what);
const char *rt_cl_error_name(cl_int err);
/* Sets kernel arguments from index 0 on: kinds has one letter per argument,
 * 'm' a cl_mem, 'i' an int, 'f' a float (passed as double), then the values.
 * Generated init() sets every argument that does not change between steps. */
RtStatus rt_cl_args(cl_kernel k, const char *kinds, ...);
/* Sets int argument i of k (S, P and other per-step values). */
void rt_cl_set_int(cl_kernel k, cl_uint i, int value);
/* Enqueues k over dims dimensions; local NULL lets the driver choose. what
 * names the IR node in error messages. */
/* Polls (then yields) until the command of ev completed, and releases ev:
 * how a unit waits for a copy another unit's thread enqueued, without
 * blocking in the driver; returns early with RT_ERR_THREAD once *abort is
 * set. Errors name 'what'. */
RtStatus rt_cl_wait_event(cl_event ev, const atomic_int *abort, const char *what);
RtStatus rt_cl_run(RtCl *cl, cl_kernel k, cl_uint dims, const size_t *global, const size_t *local, const char *what);
/* Gives cl a queue with (on = 1) or without CL_QUEUE_PROFILING_ENABLE,
 * finishing and replacing the one it has when that differs. Timing with
 * events needs profiling; a step does not, so the default is a plain
 * queue (on an H100, driver 580, both give the same launch rate and the
 * same decode speed: profiling is not what the launches cost there). The
 * measurements below turn it on for themselves and back off; the subgraph
 * times turn it on for good. */
RtStatus rt_cl_profiling(RtCl *cl, int on);
/* Device copy bandwidth: a clEnqueueCopyBuffer of bytes, timed with events,
 * best of several; GB/s counts bytes read plus bytes written. */
RtStatus rt_cl_measure_bandwidth(RtCl *cl, size_t bytes, double *gb_per_s);
/* fp32 FMA rate of a kernel of independent FMA chains filling the device. */
RtStatus rt_cl_measure_peak(RtCl *cl, double *gflop_per_s);
void rt_cl_close(RtCl *cl);

/* Subgraph times on the unit (model --profile): a marker before and after
 * each subgraph's launches on the (in-order, profiling) queue; after the
 * step, rt_cl_sub_flush finishes the queue once and adds to each
 * subgraph's RtSubTime the time between its markers' completions: the
 * device's time in it, launches streaming as in any step (no finish per
 * subgraph). */
enum { RT_CL_MAX_TIMED = 1024 };
typedef struct {
    cl_event begin[RT_CL_MAX_TIMED], end[RT_CL_MAX_TIMED];
    RtSubTime *t[RT_CL_MAX_TIMED];
    int rows[RT_CL_MAX_TIMED], pos[RT_CL_MAX_TIMED], run[RT_CL_MAX_TIMED];
    int n;                      /* intervals ended */
} RtClTimes;
RtStatus rt_cl_sub_begin(RtCl *cl, RtClTimes *ct);
/* run 0: a pause of the subgraph (its thread waits for another unit: the
 * queue idles), which rt_cl_sub_begin resumes; run 1: its end. */
RtStatus rt_cl_sub_end(RtCl *cl, RtClTimes *ct, RtSubTime *t, int rows, int pos, int run);
RtStatus rt_cl_sub_flush(RtCl *cl, RtClTimes *ct);

/* ---- the profiler's OpenCL unit (rt_prof_cl.c) ---- */
#include "rt_profile.h"

typedef struct {
    RtCl *cl;                   /* open, with a program holding gemv and gemm of every shape measured */
    int wg, tile;               /* the program's HETC_WG and HETC_TILE */
    const int64_t (*shapes)[2]; /* [nshapes] {n, k} of its gemv and gemm instances; a linear of fewer
                                 * outputs (a part of a split) runs the next larger n's kernel over its rows */
    int nshapes;
    cl_mem pool;                /* the weights the jobs read (rt_prof_cl_free releases it) */
    size_t pool_bytes;
} RtProfCl;
/* An OpenCL unit on dev with weights of dtype dt (f16 or f32). */
void rt_prof_cl(RtProfUnit *u, const char *name, RtProfCl *dev, RtDtype dt);
void rt_prof_cl_free(RtProfCl *dev);

#endif
