/* bench_kernels.c: throughput of rt_linear on the shapes of a 1.1B Llama
 * (hidden 2048, MLP 5632): GFLOP/s for decode (S=1) and prefill (S=128,
 * 512) with f32 and bf16 weights (and bf16 with x rounded to bf16,
 * RT_XBF16), plus GB/s of weight streaming for S=1
 * (weights cycled through a set larger than the last-level cache), the
 * pool's dispatch latency and the memory's read bandwidth (their ceiling); then npu-emu's QLINEAR (int8 x int8 -> int32,
 * one-op graphs of rows 32/128/512 at the same shapes, tile 32) in GOP/s
 * (2 x rows x n x k per run; the mean, and the best run, which other load
 * on the machine disturbs least) on the path HETC_NPU_ISA picks (default:
 * the best the CPU has). -q runs only the QLINEAR cases.
 *
 *   bench_kernels [-t THREADS] [-s SECONDS_PER_CASE] [-q] */
#include "hetc_rt.h"
#include "rt_npu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int S, N, K;
} Shape;

typedef struct {
    RtPool *pool;
    double seconds;         /* time to spend per case */
    size_t stream_bytes;    /* S=1 weights are cycled over at least this much */
} BenchConfig;

static const Shape shapes[] = {
    {1, 2048, 2048}, {1, 5632, 2048}, {128, 2048, 2048}, {512, 5632, 2048},
};

static void fill_weights(void *w, RtDtype dt, size_t n)
{
    uint32_t r = 12345;
    for (size_t i = 0; i < n; i++) {
        r = r * 1664525u + 1013904223u;
        float f = (float)(r >> 8) * 0x1p-24f - 0.5f;
        if (dt == RT_F32)
            ((float *)w)[i] = f;
        else
            ((uint16_t *)w)[i] = rt_f32_to_bf16(f);
    }
}

/* Runs one shape until cfg->seconds have passed; prints its line. */
static int bench_shape(const BenchConfig *cfg, Shape sh, RtDtype dt)
{
    size_t esize = (dt & ~RT_XBF16) == RT_F32 ? 4 : 2;
    size_t wbytes = (size_t)sh.N * sh.K * esize;
    size_t copies = sh.S == 1 ? (cfg->stream_bytes + wbytes - 1) / wbytes : 1;
    unsigned char *w = rt_alloc(wbytes * copies);
    float *x = rt_alloc((size_t)sh.S * sh.K * sizeof *x);
    float *out = rt_alloc((size_t)sh.S * sh.N * sizeof *out);
    if (!w || !x || !out) {
        fprintf(stderr, "out of memory\n");
        rt_free(w), rt_free(x), rt_free(out);
        return 1;
    }
    for (size_t c = 0; c < copies; c++)
        fill_weights(w + c * wbytes, dt & ~RT_XBF16, (size_t)sh.N * sh.K);
    fill_weights(x, RT_F32, (size_t)sh.S * sh.K);
    for (size_t c = 0; c < copies; c++)      /* warm-up, one pass over every copy */
        rt_linear(cfg->pool, out, x, w + c * wbytes, dt, NULL, sh.S, sh.N, sh.K);
    long calls = 0;
    double t0 = rt_now(), t;
    do {
        rt_linear(cfg->pool, out, x, w + (size_t)(calls % (long)copies) * wbytes, dt, NULL,
                  sh.S, sh.N, sh.K);
        calls++;
    } while ((t = rt_now() - t0) < cfg->seconds);
    double per_call = t / (double)calls;
    double gflops = 2.0 * sh.S * sh.N * sh.K / per_call / 1e9;
    printf("%-9s S=%-4d N=%-5d K=%-5d %9.3f ms %8.1f GFLOP/s", dt == RT_F32 ? "f32" : dt == RT_BF16 ? "bf16" : "bf16xbf16",
           sh.S, sh.N, sh.K, per_call * 1e3, gflops);
    if (sh.S == 1)
        printf(" %7.2f GB/s of weights", (double)wbytes / per_call / 1e9);
    printf("\n");
    rt_free(w), rt_free(x), rt_free(out);
    return 0;
}

/* ---- npu-emu QLINEAR ---- */

static const Shape npu_shapes[] = {
    {32, 2048, 2048}, {32, 256, 2048}, {32, 5632, 2048}, {32, 2048, 5632},
    {128, 2048, 2048}, {128, 256, 2048}, {128, 5632, 2048}, {128, 2048, 5632},
    {512, 2048, 2048}, {512, 256, 2048}, {512, 5632, 2048}, {512, 2048, 5632},
};

static void fill_i8(int8_t *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (int8_t)((int)(seed >> 24) % 255 - 127);
    }
}

/* One QLINEAR graph of shape sh, run until cfg->seconds have passed. */
static int bench_qlinear(const BenchConfig *cfg, RtNpu *npu, Shape sh)
{
    const RtNpuBackend *be = &rt_npu_emu;
    int8_t *w = rt_alloc((size_t)sh.N * sh.K);
    int8_t *x = rt_alloc((size_t)sh.S * sh.K);
    float *out = rt_alloc((size_t)sh.S * sh.N * sizeof *out);
    RtNpuGraph *g = NULL;
    int rc = 1;
    if (!w || !x || !out) {
        fprintf(stderr, "out of memory\n");
        goto done;
    }
    fill_i8(w, (size_t)sh.N * sh.K, 7);
    fill_i8(x, (size_t)sh.S * sh.K, 11);
    const RtNpuTensor tensors[] = {{RT_I8, sh.K, 0}, {RT_F32, sh.N, 0}};
    const RtNpuOp op = {.kind = RT_NPU_QLINEAR, .in0 = 0, .in1 = -1, .out = 1, .n = sh.N,
                        .k = sh.K, .w8 = w, .scale = 1e-3f, .name = "bench"};
    const RtNpuGraphDesc d = {.name = "bench", .rows = sh.S, .tile = 32, .ntensors = 2,
                              .tensors = tensors, .nops = 1, .ops = &op};
    void *bufs[] = {x, out};
    if (be->build(npu, &d, &g) != RT_OK || be->execute(g, bufs) != RT_OK) {
        fprintf(stderr, "%s\n", rt_last_error());
        goto done;
    }
    long calls = 0;
    double t0 = rt_now(), t, best = 1e30;
    do {
        double c0 = rt_now();
        be->execute(g, bufs);
        double c1 = rt_now();
        best = c1 - c0 < best ? c1 - c0 : best;
        calls++;
        t = c1 - t0;
    } while (t < cfg->seconds);
    double per_call = t / (double)calls, ops = 2.0 * sh.S * sh.N * sh.K;
    printf("qlinear %-6s rows=%-4d N=%-5d K=%-5d %9.3f ms %8.1f GOP/s (best run %8.1f)\n",
           be->path(npu), sh.S, sh.N, sh.K, per_call * 1e3, ops / per_call / 1e9, ops / best / 1e9);
    rc = 0;
done:
    be->free_graph(g);
    rt_free(w), rt_free(x), rt_free(out);
    return rc;
}

static int bench_npu(const BenchConfig *cfg, int threads)
{
    RtNpu *npu = NULL;
    if (rt_npu_emu.open(&npu, threads) != RT_OK) {
        fprintf(stderr, "%s\n", rt_last_error());
        return 1;
    }
    int rc = 0;
    for (size_t i = 0; i < sizeof npu_shapes / sizeof *npu_shapes && rc == 0; i++)
        rc = bench_qlinear(cfg, npu, npu_shapes[i]);
    rt_npu_emu.close(npu);
    return rc;
}

static void nop_task(void *arg, int ith, int nth)
{
    (void)arg, (void)ith, (void)nth;
}

static void bench_dispatch(RtPool *pool)
{
    const int runs = 100000;
    double t0 = rt_now();
    for (int i = 0; i < runs; i++)
        rt_pool_run(pool, nop_task, NULL);
    printf("pool dispatch (%d threads): %.2f us per rt_pool_run\n", rt_pool_size(pool),
           (rt_now() - t0) / runs * 1e6);
}

/* The memory's read bandwidth as the pool's threads see it: each sums its
 * part of a buffer larger than the last-level cache (the ceiling of a
 * decode step, which reads every weight once). */
typedef struct {
    const uint64_t *buf;
    size_t n;
    uint64_t sum[64];
} ReadArgs;

static void read_task(void *p, int ith, int nth)
{
    ReadArgs *a = p;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = a->n * ith / nth / 8 * 8, end = a->n * (ith + 1) / nth / 8 * 8; i < end; i += 8)
        s0 += a->buf[i] + a->buf[i + 4], s1 += a->buf[i + 1] + a->buf[i + 5], s2 += a->buf[i + 2] + a->buf[i + 6],
            s3 += a->buf[i + 3] + a->buf[i + 7];
    a->sum[ith % 64] = s0 + s1 + s2 + s3;
}

static void bench_read(const BenchConfig *cfg)
{
    ReadArgs a = {.n = cfg->stream_bytes / sizeof(uint64_t)};
    uint64_t *buf = malloc(cfg->stream_bytes);
    if (!buf) return;
    for (size_t i = 0; i < a.n; i++) buf[i] = i;
    a.buf = buf;
    double best = 1e30, t_end = rt_now() + cfg->seconds;
    do {
        double t0 = rt_now();
        rt_pool_run(cfg->pool, read_task, &a);
        best = rt_now() - t0 < best ? rt_now() - t0 : best;
    } while (rt_now() < t_end);
    printf("memory read (%d threads, %zu MB): %.1f GB/s (the best pass)\n", rt_pool_size(cfg->pool),
           cfg->stream_bytes >> 20, cfg->stream_bytes / best / 1e9);
    free(buf);
}

int main(int argc, char **argv)
{
    int threads = 0, npu_only = 0;
    BenchConfig cfg = {.seconds = 2.0, .stream_bytes = (size_t)1 << 30};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-t") && i + 1 < argc) {
            threads = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "-s") && i + 1 < argc) {
            cfg.seconds = atof(argv[++i]);
        } else if (!strcmp(argv[i], "-q")) {
            npu_only = 1;
        } else {
            fprintf(stderr, "usage: %s [-t THREADS] [-s SECONDS_PER_CASE] [-q]\n", argv[0]);
            return 2;
        }
    }
    if (npu_only)
        return bench_npu(&cfg, threads);
    if (rt_pool_create(&cfg.pool, threads) != RT_OK) {
        fprintf(stderr, "%s\n", rt_last_error());
        return 1;
    }
    bench_dispatch(cfg.pool);
    bench_read(&cfg);
    static const RtDtype dts[] = {RT_F32, RT_BF16, RT_BF16 | RT_XBF16};
    int rc = 0;
    for (size_t d = 0; d < 3 && rc == 0; d++)
        for (size_t i = 0; i < sizeof shapes / sizeof *shapes && rc == 0; i++)
            rc = bench_shape(&cfg, shapes[i], dts[d]);
    rt_pool_destroy(cfg.pool);
    return rc ? rc : bench_npu(&cfg, threads);
}
