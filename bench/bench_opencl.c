/* bench_opencl.c: throughput of the OpenCL kernel templates (rt_kernels.cl)
 * on the shapes of TinyLlama-1.1B (hidden 2048, MLP 5632, 32 heads, 4 kv
 * heads, head_dim 64, vocab 32000) and the linears of Llama-3-8B (hidden
 * 4096, MLP 14336, 8 kv heads of 128), weights of type WT (half by default;
 * float, q8_0, q4_0, or those in layout g4, q8_0g and q4_0g, with -W):
 *   - gemv at S=1: GB/s of weights read, against the device copy bandwidth
 *     (weights cycled through copies larger than the caches);
 *   - gemm at S=512: GFLOP/s against the fp32 FMA peak;
 *   - attention: prefill at S=512 and decode (split-K) at several contexts.
 * Times come from profiling events: "kernel" is the median duration of one
 * launch, "stream" the time per launch of back-to-back launches (first start
 * to last end), which includes the gaps between kernels. The "launch floor"
 * line gives both for a kernel that does almost nothing, and the host's time
 * per launch without events.
 *
 *   bench_opencl [-d DEVICE] [-w HETC_WG] [-t HETC_TILE] [-f HETC_FP16]
 *                [-k rt_kernels.cl] [-c CACHE_FILE] [-W WT] [-x XQ]
 * XQ 1 (with -W q8_0g or q4_0g): the gemv takes int8 activations (the
 * family's XQ, pass place's xdtype=q8_0); each shape also prints how far
 * its result is from the float gemv's on the same weights (relative L2:
 * some 1e-2 is the int8 rounding of x, more is a broken kernel).
 * DEVICE is as HETC_OPENCL_DEVICE: "N" or "PLATFORM:DEVICE" substrings.
 * CACHE_FILE: the program's binary cache (rt_cl_build), also a way to look
 * at the device code (PTX on NVIDIA). */
#include "hetc_rt_cl.h"
#include "codegen/cg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef HETC_SOURCE_DIR
#define HETC_SOURCE_DIR "."
#endif

enum {
    HIDDEN = 2048, FFN = 5632, HEADS = 32, KV_HEADS = 4, HEAD_DIM = 64, VOCAB = 32000,
    REPS = 50,                  /* timed launches per case */
    PREFILL_S = 512,
    MAX_K = 14336,              /* the widest linear input (8B down) */
    MAX_CTX = 4096,
};

typedef struct {
    int N, K;
    const char *what;
} Shape;

static const Shape shapes[] = {
    {HIDDEN, HIDDEN, "q/o proj"}, {KV_HEADS * HEAD_DIM, HIDDEN, "k/v proj"},
    {FFN, HIDDEN, "gate/up"}, {HIDDEN, FFN, "down"}, {VOCAB, HIDDEN, "lm head"},
    {4096, 4096, "8B q/o"}, {1024, 4096, "8B k/v"}, {14336, 4096, "8B gate/up"}, {4096, 14336, "8B down"},
};
enum { N_SHAPES = sizeof shapes / sizeof shapes[0] };

typedef struct {
    RtCl cl;
    const char *wt;             /* the weights' WT: half, float, q8_0, q4_0 */
    RtDtype dt;
    int wg, tile;
    int xq;                     /* -x: gemv with int8 activations */
    double copy_gbs, peak_gflops;
} Bench;

/* Launch geometry of the linear kernels, as rt_kernels.cl documents it. */
enum { GEMM_RM = 8 };

static size_t gemv_rows(int N, int wg, int xq)
{
    return (size_t)(2 * wg / rt_gemv_lanes((N + 1) / 2, wg, xq));
}

typedef struct {
    cl_kernel k;
    cl_uint dims;
    size_t global[3], local[3];     /* local[0] == 0: any (NULL) */
    const cl_mem *rotate;       /* if not NULL: argument rotate_arg cycles through these */
    int n_rotate, rotate_arg;
} Launch;

typedef struct {
    double kernel_s;            /* median duration of one launch */
    double stream_s;            /* first start to last end, per launch */
} Timing;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int fail(const char *what)
{
    fprintf(stderr, "bench_opencl: %s: %s\n", what, rt_last_error());
    return 1;
}

/* REPS launches after a warm-up pass (one launch per rotated buffer). */
static int time_launches(Bench *b, const Launch *l, Timing *t)
{
    cl_event ev[REPS];
    int warm = l->rotate ? l->n_rotate : 2;
    for (int i = -warm; i < REPS; i++) {
        if (l->rotate) {
            cl_mem m = l->rotate[(i + warm) % l->n_rotate];
            if (rt_cl_check(clSetKernelArg(l->k, (cl_uint)l->rotate_arg, sizeof m, &m),
                            "clSetKernelArg") != RT_OK)
                return fail("launch");
        }
        cl_int err = clEnqueueNDRangeKernel(b->cl.queue, l->k, l->dims, NULL, l->global,
                                            l->local[0] ? l->local : NULL, 0, NULL,
                                            i >= 0 ? &ev[i] : NULL);
        if (rt_cl_check(err, "clEnqueueNDRangeKernel") != RT_OK)
            return fail("launch");
    }
    if (rt_cl_check(clFinish(b->cl.queue), "clFinish") != RT_OK)
        return fail("launch");
    double d[REPS];
    cl_ulong first = 0, last = 0;
    for (int i = 0; i < REPS; i++) {
        cl_ulong s = 0, e = 0;
        clGetEventProfilingInfo(ev[i], CL_PROFILING_COMMAND_START, sizeof s, &s, NULL);
        clGetEventProfilingInfo(ev[i], CL_PROFILING_COMMAND_END, sizeof e, &e, NULL);
        d[i] = (double)(e - s) * 1e-9;
        if (i == 0)
            first = s;
        last = e;
        clReleaseEvent(ev[i]);
    }
    qsort(d, REPS, sizeof d[0], cmp_double);
    t->kernel_s = d[REPS / 2];
    t->stream_s = (double)(last - first) * 1e-9 / REPS;
    return 0;
}

/* "base_sI": the kernel of shape i. */
static const char *kname(const char *base, int i)
{
    static char buf[64];
    snprintf(buf, sizeof buf, "%s_s%d", base, i);
    return buf;
}

/* Sets a kernel's arguments (rt_cl_args: m cl_mem, i int, f float); 0, or
 * 1 with the error printed. */
#define SET_ARGS(k, ...) (rt_cl_args(k, __VA_ARGS__) == RT_OK ? 0 : fail("kernel arguments"))

/* A buffer of n random f16 (half != 0) or f32 values in [-0.5, 0.5). The
 * values are generated once, for the largest buffer asked for so far. */
static int random_buffer(Bench *b, size_t n, int half, cl_mem *m)
{
    static unsigned char *pattern;
    static size_t pattern_bytes;
    size_t es = half ? 2 : 4;
    if (n * 4 > pattern_bytes) {
        free(pattern);
        pattern_bytes = n * 4;
        pattern = malloc(pattern_bytes);
        if (!pattern)
            return fail("out of memory");
        uint32_t r = 12345;
        for (size_t i = 0; i < pattern_bytes / 2; i++) {
            r = r * 1664525u + 1013904223u;
            ((uint16_t *)pattern)[i] = rt_f32_to_f16((float)(r >> 8) * 0x1p-24f - 0.5f);
        }
    }
    if (!half) {    /* f32: widen the f16 values */
        float *f = malloc(n * es);
        if (!f)
            return fail("out of memory");
        for (size_t i = 0; i < n; i++)
            f[i] = rt_f16_to_f32(((uint16_t *)pattern)[i]);
        RtStatus st = rt_cl_buffer(&b->cl, n * es, CL_MEM_READ_WRITE, f, m);
        free(f);
        return st == RT_OK ? 0 : fail("buffer");
    }
    return rt_cl_buffer(&b->cl, n * es, CL_MEM_READ_WRITE, pattern, m) == RT_OK ? 0
                                                                             : fail("buffer");
}

/* -x 1: the XQ gemv of shape i (launch l, weights l->rotate[0]) against
 * the float one ("gemvf_sI"): prints the relative L2 distance of their
 * outputs. */
static int xq_check(Bench *b, int i, const Launch *l, cl_mem x, cl_mem out)
{
    int N = shapes[i].N, zero = 0, one = 1;
    float *y[2];
    cl_kernel kf;
    if (rt_cl_kernel(&b->cl, kname("gemvf", i), &kf))
        return fail("kernel");
    for (int r = 0; r < 2; r++) {
        cl_kernel k = r ? kf : l->k;
        size_t rows = gemv_rows(N, b->wg, !r), global = (size_t)b->wg * ((N + rows - 1) / rows);
        y[r] = malloc((size_t)N * sizeof *y[r]);
        if (!y[r] || SET_ARGS(k, "mimimi", out, zero, x, zero, l->rotate[0], one) ||
            rt_cl_check(clEnqueueNDRangeKernel(b->cl.queue, k, 1, NULL, &global, l->local, 0, NULL, NULL),
                        "clEnqueueNDRangeKernel") != RT_OK ||
            rt_cl_check(clEnqueueReadBuffer(b->cl.queue, out, CL_TRUE, 0, (size_t)N * sizeof *y[r], y[r], 0,
                                            NULL, NULL), "clEnqueueReadBuffer") != RT_OK)
            return fail("xq check");
    }
    double num = 0, den = 0;
    for (int n = 0; n < N; n++) {
        num += ((double)y[0][n] - y[1][n]) * ((double)y[0][n] - y[1][n]);
        den += (double)y[1][n] * y[1][n];
    }
    printf("  %-9s N=%-5d K=%-5d int8 x against float x: relative L2 %.2e\n", shapes[i].what, N, shapes[i].K,
           sqrt(num / (den > 0 ? den : 1)));
    free(y[0]);
    free(y[1]);
    clReleaseKernel(kf);
    return 0;
}

/* gemv at S=1 and gemm at S=512 for every shape. */
static int bench_linear(Bench *b, cl_mem x, cl_mem out)
{
    cl_ulong cache = 0;
    clGetDeviceInfo(b->cl.device, CL_DEVICE_GLOBAL_MEM_CACHE_SIZE, sizeof cache, &cache, NULL);
    size_t stream = 4 * (size_t)cache > ((size_t)512 << 20) ? 4 * (size_t)cache
                                                             : ((size_t)512 << 20);
    printf("\ngemv, S=1, %s weights (cycled over >= %zu MB)\n", b->wt, stream >> 20);
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1)
            printf("\ngemm, S=%d, %s weights\n", PREFILL_S, b->wt);
        for (int i = 0; i < N_SHAPES; i++) {
            const Shape *sh = &shapes[i];
            size_t wbytes = (size_t)sh->N * rt_dtype_row_bytes(b->dt, sh->K);
            int copies = pass == 0 ? (int)((stream + wbytes - 1) / wbytes) : 1;
            cl_mem w[256];
            copies = copies > 256 ? 256 : copies;
            for (int c = 0; c < copies; c++)
                if (b->dt == RT_F32 ? random_buffer(b, (size_t)sh->N * sh->K, 0, &w[c])
                                    : random_buffer(b, wbytes / 2, 1, &w[c]))   /* halves: as blocks, finite values */
                    return 1;
            cl_kernel k;
            if (rt_cl_kernel(&b->cl, pass == 0 ? kname("gemv", i) : kname("gemm", i), &k))
                return fail("kernel");
            int zero = 0, S = pass == 0 ? 1 : PREFILL_S;
            if (SET_ARGS(k, "mimimi", out, zero, x, zero, w[0], S))
                return 1;
            Launch l = {.k = k, .rotate = w, .n_rotate = copies, .rotate_arg = 4};
            if (pass == 0) {
                l.dims = 1;
                size_t rows = gemv_rows(sh->N, b->wg, b->xq);
                l.global[0] = (size_t)b->wg * ((sh->N + rows - 1) / rows);
                l.local[0] = (size_t)b->wg;
            } else {
                size_t bn = 4 * (size_t)b->tile, bm = (size_t)GEMM_RM * b->tile;
                l.dims = 2;
                l.global[0] = b->tile * ((sh->N + bn - 1) / bn);
                l.global[1] = b->tile * ((S + bm - 1) / bm);
                l.local[0] = l.local[1] = (size_t)b->tile;
            }
            if (pass == 0 && b->xq && xq_check(b, i, &l, x, out) != 0)
                return 1;
            Timing t;
            if (time_launches(b, &l, &t) != 0)
                return 1;
            printf("  %-9s N=%-5d K=%-5d kernel %8.2f us", sh->what, sh->N, sh->K,
                   t.kernel_s * 1e6);
            if (pass == 0) {
                double gbs = (double)wbytes / t.kernel_s * 1e-9;
                printf("  %7.1f GB/s (%4.1f%% of copy)  stream %8.2f us %7.1f GB/s\n", gbs,
                       100.0 * gbs / b->copy_gbs, t.stream_s * 1e6,
                       (double)wbytes / t.stream_s * 1e-9);
            } else {
                double gf = 2.0 * S * sh->N * sh->K / t.kernel_s * 1e-9;
                printf("  %8.1f GFLOP/s (%4.1f%% of peak)\n", gf, 100.0 * gf / b->peak_gflops);
            }
            clReleaseKernel(k);
            for (int c = 0; c < copies; c++)
                clReleaseMemObject(w[c]);
        }
    }
    return 0;
}

/* Attention of one layer: kv_store + prefill at S=512, and kv_store +
 * decode + combine at S=1 for several contexts. */
static int bench_attention(Bench *b)
{
    const int width = HEADS * HEAD_DIM, kvd = KV_HEADS * HEAD_DIM, group = HEADS / KV_HEADS;
    const int max_chunks = (MAX_CTX + 63) / 64;
    const float scale = 0.125f;
    size_t wg = (size_t)b->wg, awg = wg < 16 * HEAD_DIM ? wg : 16 * HEAD_DIM;
    /* arena: q, k, v, out, then the cache, then the decode scratch */
    int q_off = 0, k_off = q_off + PREFILL_S * width, v_off = k_off + PREFILL_S * kvd;
    int o_off = v_off + PREFILL_S * kvd, kc_off = o_off + PREFILL_S * width;
    int vc_off = kc_off + MAX_CTX * kvd, part_off = vc_off + MAX_CTX * kvd;
    size_t total = (size_t)part_off + (size_t)max_chunks * HEADS * (HEAD_DIM + 2);
    cl_mem arena;
    if (random_buffer(b, total, 0, &arena) != 0)
        return 1;
    cl_kernel store, prefill, decode, combine;
    if (rt_cl_kernel(&b->cl, "kv_store_att", &store) || rt_cl_kernel(&b->cl, "attn_prefill_att",
                                                                     &prefill) ||
        rt_cl_kernel(&b->cl, "attn_decode_att", &decode) ||
        rt_cl_kernel(&b->cl, "attn_combine_att", &combine))
        return fail("kernel");
    printf("\nattention, heads %d, kv heads %d, head_dim %d (one layer)\n", HEADS, KV_HEADS,
           HEAD_DIM);
    Timing ts, ta, tc;
    int S = PREFILL_S, P = 0;
    Launch ls = {.k = store, .dims = 2, .global = {(kvd + wg - 1) / wg * wg, (size_t)S},
                 .local = {wg, 1}};
    Launch lp = {.k = prefill, .dims = 2,
                 .global = {awg * (((size_t)S * group + 15) / 16), KV_HEADS}, .local = {awg, 1}};
    if (SET_ARGS(store, "mimimimiii", arena, kc_off, arena, vc_off, arena, k_off, arena, v_off, S,
                 P) ||
        SET_ARGS(prefill, "mimimimiiif", arena, o_off, arena, q_off, arena, kc_off, arena, vc_off,
                 S, P, (double)scale) ||
        time_launches(b, &ls, &ts) || time_launches(b, &lp, &ta))
        return 1;
    /* causal: S*(S+1)/2 query-key pairs per head, 2 dot products of HEAD_DIM each */
    double flops = 4.0 * HEADS * HEAD_DIM * (double)S * (S + 1) / 2;
    printf("  prefill S=%d P=%d: kv_store %7.2f us, attn_prefill %8.2f us (%.1f GFLOP/s)\n", S, P,
           ts.kernel_s * 1e6, ta.kernel_s * 1e6, flops / ta.kernel_s * 1e-9);

    static const int contexts[] = {512, 2048, 4096};
    for (int c = 0; c < 3; c++) {
        S = 1, P = contexts[c] - 1;
        int chunks = (P + S + 63) / 64;        /* as the generated code: chunks of 64 keys, */
        if (chunks > 32)                         /* at most 32 */
            chunks = 32;
        ls.global[1] = 1;
        Launch ld = {.k = decode, .dims = 3, .global = {wg * chunks, HEADS, 1},
                     .local = {wg, 1, 1}};
        Launch lc = {.k = combine, .dims = 2, .global = {HEAD_DIM, HEADS}};
        Launch l1 = {.k = prefill, .dims = 2, .global = {awg, KV_HEADS}, .local = {awg, 1}};
        Timing t1;
        if (SET_ARGS(store, "mimimimiii", arena, kc_off, arena, vc_off, arena, k_off, arena,
                     v_off, S, P) ||
            SET_ARGS(decode, "mimimimimiiiif", arena, o_off, arena, part_off, arena, q_off, arena,
                     kc_off, arena, vc_off, S, P, chunks, (double)scale) ||
            SET_ARGS(combine, "mimiii", arena, o_off, arena, part_off, S, chunks) ||
            SET_ARGS(prefill, "mimimimiiif", arena, o_off, arena, q_off, arena, kc_off, arena,
                     vc_off, S, P, (double)scale) ||
            time_launches(b, &ls, &ts) || time_launches(b, &ld, &ta) ||
            time_launches(b, &lc, &tc) || time_launches(b, &l1, &t1))
            return 1;
        double kv_bytes = 2.0 * (P + S) * kvd * sizeof(float);
        printf("  decode S=1 P=%-4d: kv_store %6.2f us, attn_decode (%d chunks) %7.2f us "
               "(%.0f GB/s of KV), attn_combine %6.2f us; attn_prefill alone %8.2f us\n",
               P, ts.kernel_s * 1e6, chunks, ta.kernel_s * 1e6, kv_bytes / ta.kernel_s * 1e-9,
               tc.kernel_s * 1e6, t1.kernel_s * 1e6);
    }
    clReleaseKernel(store), clReleaseKernel(prefill), clReleaseKernel(decode);
    clReleaseKernel(combine);
    clReleaseMemObject(arena);
    return 0;
}

/* Wall time per launch of 10 * REPS back-to-back launches of k (no events),
 * up to the end of the last. */
static double wall_per_launch(Bench *b, cl_kernel k, const Launch *l)
{
    double t0 = rt_now();
    for (int i = 0; i < 10 * REPS; i++)
        if (rt_cl_check(clEnqueueNDRangeKernel(b->cl.queue, k, 1, NULL, l->global, l->local, 0,
                                               NULL, NULL), "clEnqueueNDRangeKernel") != RT_OK)
            return -1.0;
    if (rt_cl_check(clFinish(b->cl.queue), "clFinish") != RT_OK)
        return -1.0;
    return (rt_now() - t0) / (10 * REPS);
}

/* The time of a launch that does almost nothing (an add of 256 floats),
 * from events, and the wall time per launch of a stream of them without
 * events, on a profiling queue and on a plain one (the one models use). */
static int bench_floor(Bench *b, cl_mem buf)
{
    cl_kernel k;
    if (rt_cl_kernel(&b->cl, "add_e", &k) != RT_OK)
        return fail("kernel");
    size_t wg = (size_t)b->wg;
    Launch l = {.k = k, .dims = 1, .global = {wg}, .local = {wg}};
    Timing t;
    int rc = SET_ARGS(k, "mimimii", buf, 0, buf, 256, buf, 512, 256);
    if (rc == 0)
        rc = time_launches(b, &l, &t);
    double with = rc == 0 ? wall_per_launch(b, k, &l) : -1.0, plain = -1.0;
    if (with >= 0.0 && rt_cl_profiling(&b->cl, 0) == RT_OK) {
        plain = wall_per_launch(b, k, &l);
        if (rt_cl_profiling(&b->cl, 1) != RT_OK)
            plain = -1.0;
    }
    if (rc == 0 && (with < 0.0 || plain < 0.0))
        rc = fail("launch");
    if (rc == 0)
        printf("launch floor (add of 256 floats): kernel %.2f us, stream %.2f us (events); "
               "%.2f us per launch without events, %.2f us on a queue without profiling\n",
               t.kernel_s * 1e6, t.stream_s * 1e6, with * 1e6, plain * 1e6);
    clReleaseKernel(k);
    return rc;
}

/* kernels.cl for the benchmark: globals, common, gemv_sI and gemm_sI for
 * every shape, attention and kv_store as _att. */
static char *program_source(const Bench *b, const char *templ, int fp16, size_t *len)
{
    char *src = NULL, err[256];
    FILE *f = open_memstream(&src, len);
    if (!f)
        return NULL;
    fprintf(f, "#define HETC_WG %d\n#define HETC_TILE %d\n#define HETC_FP16 %d\n", b->wg, b->tile,
            fp16);
    const char *none[] = {NULL};
    int rc = cg_cl_instantiate(f, templ, "common", "_common", none, err, sizeof err);
    for (int i = 0; i < N_SHAPES && rc == 0; i++) {
        char suffix[16];
        snprintf(suffix, sizeof suffix, "_s%d", i);
        /* gemv as a decode step of one token runs it: plain, MAX_S 1 */
        CgGemvValues gv;
        const char *const *gemv = cg_cl_gemv_plain(&gv, shapes[i].N, shapes[i].K, b->wt, 0, 1, b->xq);
        const char *gemm[] = {gemv[0], gemv[1], b->wt, "0", NULL};
        rc = cg_cl_instantiate(f, templ, "gemv", suffix, gemv, err, sizeof err);
        if (rc == 0 && b->xq) {     /* the float gemv beside it, named gemvf_sI */
            char fsuffix[24];
            CgGemvValues gf;
            snprintf(fsuffix, sizeof fsuffix, "f_s%d", i);
            rc = cg_cl_instantiate(f, templ, "gemv", fsuffix, cg_cl_gemv_plain(&gf, shapes[i].N, shapes[i].K, b->wt, 0, 1, 0),
                                   err, sizeof err);
        }
        if (rc == 0)
            rc = cg_cl_instantiate(f, templ, "gemm", suffix, gemm, err, sizeof err);
    }
    const char *att[] = {"32", "4", "64", "0", NULL}, *kv[] = {"256", NULL};
    if (rc == 0)
        rc = cg_cl_instantiate(f, templ, "attention", "_att", att, err, sizeof err);
    if (rc == 0)
        rc = cg_cl_instantiate(f, templ, "kv_store", "_att", kv, err, sizeof err);
    if (rc == 0)
        rc = cg_cl_instantiate(f, templ, "elementwise", "_e", none, err, sizeof err);
    fclose(f);
    if (rc != 0) {
        fprintf(stderr, "bench_opencl: %s\n", err);
        free(src);
        return NULL;
    }
    return src;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf)
        buf[fread(buf, 1, (size_t)n, f)] = 0;
    fclose(f);
    return buf;
}

int main(int argc, char **argv)
{
    const char *templ_path = HETC_SOURCE_DIR "/runtime/rt_kernels.cl", *cache = NULL;
    int wg = 0, tile = 0, fp16 = -1, xq = 0;
    const char *wt = "half";
    int bad = argc % 2 == 0;
    for (int i = 1; i + 1 < argc && !bad; i += 2) {
        if (strcmp(argv[i], "-d") == 0)
            setenv("HETC_OPENCL_DEVICE", argv[i + 1], 1);
        else if (strcmp(argv[i], "-w") == 0)
            wg = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "-t") == 0)
            tile = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "-f") == 0)
            fp16 = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "-k") == 0)
            templ_path = argv[i + 1];
        else if (strcmp(argv[i], "-c") == 0)
            cache = argv[i + 1];
        else if (strcmp(argv[i], "-W") == 0)
            wt = argv[i + 1];
        else if (strcmp(argv[i], "-x") == 0)
            xq = atoi(argv[i + 1]);
        else
            bad = 1;
    }
    if (bad) {
        fprintf(stderr, "usage: bench_opencl [-d DEVICE] [-w HETC_WG] [-t HETC_TILE] "
                        "[-f HETC_FP16] [-k rt_kernels.cl] [-c CACHE_FILE] [-W half|float|q8_0|q4_0|q8_0g|q4_0g] [-x 0|1]\n");
        return 2;
    }
    char *templ = read_file(templ_path);
    if (!templ) {
        fprintf(stderr, "bench_opencl: cannot read %s\n", templ_path);
        return 1;
    }
    Bench b = {.wt = wt, .xq = xq};
    b.dt = strcmp(wt, "half") == 0 ? RT_F16 : strcmp(wt, "float") == 0 ? RT_F32
         : strncmp(wt, "q8_0", 4) == 0 && (!wt[4] || strcmp(wt + 4, "g") == 0) ? RT_Q8_0
         : strncmp(wt, "q4_0", 4) == 0 && (!wt[4] || strcmp(wt + 4, "g") == 0) ? RT_Q4_0 : (RtDtype)-1;
    if (xq && strcmp(wt, "q8_0g") != 0 && strcmp(wt, "q4_0g") != 0) {
        fprintf(stderr, "bench_opencl: -x 1 needs -W q8_0g or q4_0g\n");
        return 2;
    }
    if ((int)b.dt < 0) {
        fprintf(stderr, "bench_opencl: -W %s: the weight types are half, float, q8_0, q4_0, q8_0g and q4_0g\n", wt);
        return 2;
    }
    if (rt_cl_open(&b.cl, "", "", -1) != RT_OK)
        return fail("rt_cl_open");
    cl_device_type type = 0;
    clGetDeviceInfo(b.cl.device, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    int gpu = (type & CL_DEVICE_TYPE_GPU) != 0;
    b.wg = wg > 0 ? wg : gpu ? 256 : 64;
    b.tile = tile > 0 ? tile : gpu ? 16 : 8;
    fp16 = fp16 >= 0 ? fp16 : b.cl.has_fp16;
    printf("device: [%s] %s, driver %s, %u compute units, %.1f GB\n", b.cl.platform_name,
           b.cl.device_name, b.cl.driver_version, b.cl.compute_units,
           (double)b.cl.global_mem * 1e-9);
    printf("HETC_WG %d, HETC_TILE %d, HETC_FP16 %d\n", b.wg, b.tile, fp16);

    size_t bw_bytes = (size_t)256 << 20;
    if (rt_cl_measure_bandwidth(&b.cl, bw_bytes, &b.copy_gbs) != RT_OK)
        return fail("rt_cl_measure_bandwidth");
    if (rt_cl_measure_peak(&b.cl, &b.peak_gflops) != RT_OK)
        return fail("rt_cl_measure_peak");
    printf("copy bandwidth %.1f GB/s (read + write, %zu MB), fp32 FMA peak %.1f GFLOP/s\n",
           b.copy_gbs, bw_bytes >> 20, b.peak_gflops);
    if (rt_cl_profiling(&b.cl, 1) != RT_OK)     /* the kernel times come from events */
        return fail("rt_cl_profiling");

    size_t len;
    char *src = program_source(&b, templ, fp16, &len);
    if (!src)
        return 1;
    double t0 = rt_now();
    if (rt_cl_build(&b.cl, src, len, "", cache) != RT_OK)
        return fail("build");
    printf("program: %zu bytes of OpenCL C, built in %.2f s%s\n", len, rt_now() - t0,
           rt_cl_cache_used() ? " (from the cache)" : "");
    free(src);

    cl_mem x, out;
    if (random_buffer(&b, (size_t)PREFILL_S * MAX_K, 0, &x) != 0 ||
        random_buffer(&b, (size_t)PREFILL_S * VOCAB, 0, &out) != 0)
        return 1;
    int rc = bench_floor(&b, out);
    if (rc == 0)
        rc = bench_linear(&b, x, out);
    if (rc == 0)
        rc = bench_attention(&b);
    clReleaseMemObject(x);
    clReleaseMemObject(out);
    rt_cl_close(&b.cl);
    free(templ);
    return rc;
}
