/* rt_prof_cl.c: an OpenCL unit for the profiler (rt_profile.h), so that
 * `hetc profile` measures a GPU's linears as the generated program runs
 * them: the gemv kernel of rt_kernels.cl for up to RT_PROF_CL_GEMV_S rows
 * (the decode path), else gemm, with the launch geometry those families
 * document, f16 or f32 weights.
 *
 * The caller builds the program (hetc: cg_cl_instantiate over the model's
 * shapes) with one "gemv" and one "gemm" instance per linear shape, named
 * by rt_prof_cl_suffix, and hands over the open device. Weights live in one
 * device buffer of the unit, filled once on the device and grown to
 * stream_bytes: a job's weight copies are sub-buffers of it, one per run,
 * as the host units' copies are windows of their pool. A run enqueues the
 * kernel CL_BATCH times back to back (weights cycling) and waits once
 * (clFinish): a step's launches follow each other in the queue, so a
 * linear costs its share of that stream, not a round trip to the host
 * (that is sync_us); a part of a split, timed beside another unit's, is
 * one launch waited for. A part
 * of a split linear (its first n of N outputs, as `hetc profile --sweep`
 * measures them) runs the kernel of the whole over the work-groups of its
 * rows only, writing rows of N floats as the split's part would.
 */
#include "hetc_rt_cl.h"
#include "rt_profile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_COPIES = 256, GEMM_RM = 8, CL_BATCH = 16 };

typedef struct {
    RtProfJob job;
    RtProfCl *dev;
    cl_kernel k;
    cl_mem x, out;              /* [s,k], [s,n] */
    cl_mem w[MAX_COPIES];       /* sub-buffers of the unit's pool */
    int copies, cur;
    cl_uint dims;
    size_t global[2], local[2];
} ClJob;

static void cl_release(RtProfJob *job)
{
    ClJob *j = (ClJob *)job;
    if (!j) return;
    for (int i = 0; i < j->copies; i++) clReleaseMemObject(j->w[i]);
    if (j->x) clReleaseMemObject(j->x);
    if (j->out) clReleaseMemObject(j->out);
    if (j->k) clReleaseKernel(j->k);
    free(j);
}

static RtStatus cl_run(RtProfJob *job)
{
    ClJob *j = (ClJob *)job;
    RtStatus st = RT_OK;
    for (int b = 0; st == RT_OK && b < (job->batch > 1 ? job->batch : 1); b++) {
        st = rt_cl_check(clSetKernelArg(j->k, 4, sizeof(cl_mem), &j->w[j->cur]), "profile: weights");
        if (st == RT_OK)
            st = rt_cl_check(clEnqueueNDRangeKernel(j->dev->cl->queue, j->k, j->dims, NULL, j->global, j->local, 0,
                                                    NULL, NULL), "profile: linear");
        j->cur = (j->cur + 1) % j->copies;
    }
    if (st == RT_OK) st = rt_cl_check(clFinish(j->dev->cl->queue), "profile: linear");
    return st;
}

/* The unit's weight pool: at least want bytes, filled on the device. */
static RtStatus pool(RtProfCl *d, size_t want)
{
    if (d->pool && d->pool_bytes >= want) return RT_OK;
    if (d->pool) clReleaseMemObject(d->pool);
    d->pool = NULL;
    d->pool_bytes = 0;
    if (want > d->cl->global_mem / 2) want = (size_t)(d->cl->global_mem / 2);
    RtStatus st = rt_cl_buffer(d->cl, want, CL_MEM_READ_ONLY, NULL, &d->pool);
    const uint16_t pattern = 0x2e66;    /* 0.1 as a half; as part of a float or a block a small number too */
    if (st == RT_OK)
        st = rt_cl_check(clEnqueueFillBuffer(d->cl->queue, d->pool, &pattern, sizeof pattern, 0, want, 0, NULL, NULL),
                         "profile: filling the weights");
    if (st == RT_OK) st = rt_cl_check(clFinish(d->cl->queue), "profile: filling the weights");
    if (st == RT_OK) d->pool_bytes = want;
    return st;
}

static RtStatus cl_prepare(RtProfUnit *u, int64_t n, int64_t k, int s, double stream_bytes, RtProfJob **out)
{
    RtProfCl *d = u->ctx;
    ClJob *j = calloc(1, sizeof *j);
    if (!j) return RT_ERR_NOMEM;
    j->job = (RtProfJob){cl_run, cl_release, CL_BATCH};
    j->dev = d;
    int64_t full = 0;   /* the kernel's n: the shape itself, or the smallest with more outputs */
    for (int i = 0; i < d->nshapes; i++)
        if (d->shapes[i][1] == k && d->shapes[i][0] >= n && (!full || d->shapes[i][0] < full)) full = d->shapes[i][0];
    if (!full) {
        rt_set_error("profile: %s: no kernel for a linear %lldx%lld", u->name, (long long)n, (long long)k);
        free(j);
        return RT_ERR_ARG;
    }
    /* a part's last work-group reads whole rows of the kernel's weight past n (it
     * stores only rows below its N): each copy has the full N rows */
    size_t one = (size_t)full * (size_t)rt_dtype_row_bytes(u->dt, k), align = 4096;
    size_t stride = (one + align - 1) / align * align;
    size_t want = stream_bytes > (double)stride ? (size_t)stream_bytes : stride;
    char name[64], suffix[48];
    rt_prof_cl_suffix(suffix, sizeof suffix, full, k);
    snprintf(name, sizeof name, "%s%s", s <= RT_PROF_CL_GEMV_S ? "gemv" : "gemm", suffix);
    RtStatus st = pool(d, want);
    if (st == RT_OK) st = rt_cl_kernel(d->cl, name, &j->k);
    if (st == RT_OK) st = rt_cl_buffer(d->cl, (size_t)s * (size_t)k * 4, CL_MEM_READ_WRITE, NULL, &j->x);
    if (st == RT_OK) st = rt_cl_buffer(d->cl, (size_t)s * (size_t)full * 4, CL_MEM_READ_WRITE, NULL, &j->out);
    int copies = (int)(d->pool_bytes / stride);
    if (copies > MAX_COPIES) copies = MAX_COPIES;
    if (st == RT_OK && copies < 1) {
        rt_set_error("profile: %s: a %lldx%lld weight does not fit its memory", u->name, (long long)n, (long long)k);
        st = RT_ERR_NOMEM;
    }
    for (; st == RT_OK && j->copies < copies; j->copies++) {
        cl_buffer_region r = {(size_t)j->copies * stride, one};
        cl_int err;
        j->w[j->copies] = clCreateSubBuffer(d->pool, CL_MEM_READ_ONLY, CL_BUFFER_CREATE_TYPE_REGION, &r, &err);
        st = rt_cl_check(err, "profile: a weight copy");
        if (st != RT_OK) j->w[j->copies] = NULL;
    }
    const float zero = 0;
    if (st == RT_OK)
        st = rt_cl_check(clEnqueueFillBuffer(d->cl->queue, j->x, &zero, sizeof zero, 0, (size_t)s * (size_t)k * 4, 0,
                                             NULL, NULL), "profile: x");
    if (st == RT_OK) st = rt_cl_args(j->k, "mimimi", j->out, 0, j->x, 0, j->w[0], s);
    if (st != RT_OK) {
        cl_release(&j->job);
        return st;
    }
    if (s <= RT_PROF_CL_GEMV_S) {     /* rt_kernels.cl's gemv: GEMV_GROUPS row pairs per work-group */
        int64_t pairs = (n + 1) / 2, groups = d->wg / rt_gemv_lanes(pairs, d->wg, 0);
        j->dims = 1;
        j->global[0] = (size_t)d->wg * (size_t)((pairs + groups - 1) / groups);
        j->local[0] = (size_t)d->wg;
    } else {                        /* gemm: blocks of 4T outputs by GEMM_RM * T rows */
        size_t t = (size_t)d->tile;
        j->dims = 2;
        j->global[0] = t * (((size_t)n + 4 * t - 1) / (4 * t));
        j->global[1] = t * (((size_t)s + GEMM_RM * t - 1) / (GEMM_RM * t));
        j->local[0] = j->local[1] = t;
    }
    *out = &j->job;
    return RT_OK;
}

void rt_prof_cl(RtProfUnit *u, const char *name, RtProfCl *dev, RtDtype dt)
{
    rt_prof_unit_init(u, name, rt_dtype_name(dt), 1, dev, dt, cl_prepare);
    u->part_widths = 1;
}

void rt_prof_cl_free(RtProfCl *dev)
{
    if (dev->pool) clReleaseMemObject(dev->pool);
    dev->pool = NULL;
    dev->pool_bytes = 0;
}
