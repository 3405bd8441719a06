/* test_opencl.c: the OpenCL layer of the runtime (rt_opencl.c) and the
 * kernel templates (rt_kernels.cl, instantiated by cg_cltemplate.c) on the
 * default OpenCL device (PoCL on CPU machines): every family with odd shapes
 * against the CPU kernels (relative L2 error per row within 1e-4; embedding
 * rows and half weights through gemv/gemm exact), the binary cache, device
 * selection and build errors. Without an OpenCL platform the device tests
 * are skipped (with a message). */
#include "testutil.h"
#include "hetc_rt_cl.h"
#include "codegen/cg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static RtCl cl;                 /* the device under test */
static char *templ;             /* runtime/rt_kernels.cl */
static int have_platform;

enum { MAX_VALUES = 12 };

/* Launch configuration of a program: the globals kernels.cl starts with. */
typedef struct {
    int wg, tile, fp16;
} Config;

static const Config configs[] = {{64, 8, 0}, {256, 16, 0}, {64, 16, 0}};

/* ---- random data ---- */

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static float frand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)(rng_state >> 40) * 0x1p-23f - 1.0f;
}

static float *rand_floats(size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    for (size_t i = 0; i < n; i++)
        p[i] = frand();
    return p;
}

/* n random weights, stored as f32 or (half != 0) as f16. */
static void *rand_weights(int half, size_t n)
{
    if (!half)
        return rand_floats(n);
    uint16_t *w = malloc((n ? n : 1) * sizeof *w);
    for (size_t i = 0; i < n; i++)
        w[i] = rt_f32_to_f16(frand());
    return w;
}

/* Relative L2 error of each of 'rows' rows of got against want. */
static void expect_close(const char *what, const float *got, const float *want, int rows,
                         int cols, double tol)
{
    for (int r = 0; r < rows; r++) {
        double num = 0.0, den = 0.0;
        for (int c = 0; c < cols; c++) {
            double d = (double)got[(size_t)r * cols + c] - want[(size_t)r * cols + c];
            num += d * d;
            den += (double)want[(size_t)r * cols + c] * want[(size_t)r * cols + c];
        }
        double rel = sqrt(num) / (sqrt(den) > 1e-30 ? sqrt(den) : 1e-30);
        if (!(rel <= tol))
            fail_msg("%s: row %d of %d: relative L2 error %.3g > %.3g (got[0] %g, want[0] %g)",
                     what, r, rows, rel, tol, got[(size_t)r * cols], want[(size_t)r * cols]);
    }
}

/* ---- device helpers ---- */

static int setup_group(void **state)
{
    (void)state;
    cl_uint n = 0;
    if (clGetPlatformIDs(0, NULL, &n) != CL_SUCCESS || n == 0) {
        fprintf(stderr, "test_opencl: no OpenCL platform found: skipping the device tests\n");
        have_platform = 0;
    } else {
        have_platform = 1;
        if (rt_cl_open(&cl, "", "", -1) != RT_OK) {
            fprintf(stderr, "test_opencl: rt_cl_open: %s\n", rt_last_error());
            return -1;
        }
        fprintf(stderr, "test_opencl: [%s] %s, driver %s\n", cl.platform_name, cl.device_name,
                cl.driver_version);
    }
    templ = tu_read_file(tu_fmt("%s/runtime/rt_kernels.cl", tu_src()), NULL);
    if (!templ) {
        fprintf(stderr, "test_opencl: cannot read runtime/rt_kernels.cl (set HETC_SRC)\n");
        return -1;
    }
    return 0;
}

static int teardown_group(void **state)
{
    (void)state;
    if (have_platform)
        rt_cl_close(&cl);
    free(templ);
    return 0;
}

static void need_device(void)
{
    if (!have_platform)
        skip();
}

static void check(cl_int err, const char *what)
{
    if (err != CL_SUCCESS)
        fail_msg("%s: %s", what, rt_cl_error_name(err));
}

/* One kernel-family instance of a program. */
typedef struct {
    const char *family, *suffix;
    const char *values[MAX_VALUES];     /* NULL-terminated */
} Instance;

/* The program text for config c: globals, 'common', then the instances. */
static char *program_text(const Config *c, const Instance *inst, int n, size_t *len)
{
    char *src = NULL, err[256];
    FILE *f = open_memstream(&src, len);
    assert_non_null(f);
    fprintf(f, "#define HETC_WG %d\n#define HETC_TILE %d\n#define HETC_FP16 %d\n", c->wg,
            c->tile, c->fp16);
    const char *none[] = {NULL};
    if (cg_cl_instantiate(f, templ, "common", "_common", none, err, sizeof err) != 0)
        fail_msg("%s", err);
    for (int i = 0; i < n; i++)
        if (cg_cl_instantiate(f, templ, inst[i].family, inst[i].suffix, inst[i].values, err,
                              sizeof err) != 0)
            fail_msg("%s", err);
    fclose(f);
    return src;
}

static void build_program(const Config *c, const Instance *inst, int n)
{
    size_t len;
    char *src = program_text(c, inst, n, &len);
    RtStatus st = rt_cl_build(&cl, src, len, "", NULL);
    if (st != RT_OK)
        fail_msg("build (wg %d, tile %d): %s", c->wg, c->tile, rt_last_error());
    free(src);
}

static cl_kernel kernel(const char *base, const char *suffix)
{
    cl_kernel k;
    if (rt_cl_kernel(&cl, tu_fmt("%s%s", base, suffix), &k) != RT_OK)
        fail_msg("%s", rt_last_error());
    return k;
}

/* Sets the kernel's arguments (rt_cl_args: m cl_mem, i int, f float). */
#define SET_ARGS(k, ...) \
    do { \
        if (rt_cl_args(k, __VA_ARGS__) != RT_OK) \
            fail_msg("%s", rt_last_error()); \
    } while (0)

/* Runs k over global (dims sizes) with local (NULL: any) and waits. */
static void run_kernel(cl_kernel k, int dims, const size_t *global, const size_t *local)
{
    check(clEnqueueNDRangeKernel(cl.queue, k, (cl_uint)dims, NULL, global, local, 0, NULL, NULL),
          "clEnqueueNDRangeKernel");
    check(clFinish(cl.queue), "clFinish");
}

static size_t up(size_t x, size_t m)
{
    return (x + m - 1) / m * m;
}

/* Launch geometry of the linear kernels, as rt_kernels.cl documents it. */
enum { GEMM_RM = 8 };

/* GEMV_GROUPS: the weight-row pairs a gemv work-group takes, for a launch
 * of `pairs` pairs, int8 x where xq (rt_gemv_lanes). */
static size_t gemv_groups(size_t pairs, int wg, int xq)
{
    return (size_t)(wg / rt_gemv_lanes((int64_t)pairs, wg, xq));
}

static size_t gemv_rows(int N, int wg)
{
    return 2 * gemv_groups(((size_t)N + 1) / 2, wg, 0);
}

static cl_mem upload(const void *data, size_t bytes)
{
    cl_mem m;
    if (rt_cl_buffer(&cl, bytes, CL_MEM_READ_WRITE, data, &m) != RT_OK)
        fail_msg("%s", rt_last_error());
    return m;
}

static void download(cl_mem m, size_t elem_off, float *dst, size_t n)
{
    check(clEnqueueReadBuffer(cl.queue, m, CL_TRUE, elem_off * sizeof(float), n * sizeof(float),
                              dst, 0, NULL, NULL), "clEnqueueReadBuffer");
}

/* The activation arena: regions placed one after another with a gap of at
 * least 3 floats, so overruns land in the gaps. Offsets are odd unless
 * place_aligned asks for a multiple of 4 (the kernels' vector-load path). */
typedef struct {
    float *host;
    size_t size;
} Arena;

static int place_aligned(Arena *a, const float *data, size_t n, size_t align)
{
    size_t off = up(a->size + 3, align);
    a->host = realloc(a->host, (off + n + 3) * sizeof(float));
    for (size_t i = a->size; i < off; i++)
        a->host[i] = NAN;
    for (size_t i = 0; i < n; i++)
        a->host[off + i] = data ? data[i] : NAN;
    a->size = off + n;
    return (int)off;
}

static int place(Arena *a, const float *data, size_t n)
{
    return place_aligned(a, data, n, 1);
}

/* ---- template helper ---- */

static void test_template(void **state)
{
    (void)state;
    static const char *const expect[][2] = {
        {"common", ""}, {"embed", "H WT"}, {"rmsnorm", "H"}, {"gemv", "N K WT HAS_BIAS NORM EPI N1 N2 HEAD_DIM MAX_S XQ"},
        {"gemm", "N K WT HAS_BIAS"}, {"rope", "HEADS HEAD_DIM"}, {"kv_store", "KV_DIM"},
        {"attention", "HEADS KV_HEADS HEAD_DIM WINDOW"}, {"elementwise", ""},
    };
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
        const char *text;
        size_t len;
        char params[128];
        assert_int_equal(cg_cl_family(templ, expect[i][0], &text, &len, params, sizeof params), 0);
        assert_string_equal(params, expect[i][1]);
        assert_true(len > 0);
        assert_true(strncmp(text + len, "//@family", 9) == 0 || text[len] == 0);
    }
    const char *text;
    size_t len;
    char params[8], err[256];
    assert_int_equal(cg_cl_family(templ, "gem", &text, &len, params, sizeof params), -1);
    assert_int_equal(cg_cl_family(templ, "gemv", &text, &len, params, 4), -2);

    char *out = NULL;
    size_t n;
    FILE *f = open_memstream(&out, &n);
    const char *ok[] = {"100", "257", "half", "1", "0", "0", "0", "0", "0", "8", "0", NULL};
    assert_int_equal(cg_cl_instantiate(f, templ, "gemv", "_t3", ok, err, sizeof err), 0);
    const char *few[] = {"100", "257", NULL};
    assert_int_equal(cg_cl_instantiate(f, templ, "gemv", "_t4", few, err, sizeof err), -1);
    assert_non_null(strstr(err, "no value for WT"));
    const char *many[] = {"16", "x", NULL};
    assert_int_equal(cg_cl_instantiate(f, templ, "kv_store", "_t5", many, err, sizeof err), -1);
    assert_non_null(strstr(err, "got more"));
    assert_int_equal(cg_cl_instantiate(f, templ, "kv_store", "a-b", many, err, sizeof err), -1);
    assert_int_equal(cg_cl_instantiate(f, templ, "nope", "_x", NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "nope"));
    fclose(f);
    assert_non_null(strstr(out, "N=100 K=257 WT=half HAS_BIAS=1 NORM=0"));
    assert_non_null(strstr(out, "#define KNAME(base) base##_t3\n#define N 100\n#define K 257\n"));
    assert_non_null(strstr(out, "#undef KNAME\n#undef N\n#undef K\n#undef WT\n#undef HAS_BIAS\n#undef NORM\n"));
    assert_null(strstr(out, "_t4"));
    free(out);
}

/* ---- linear: gemv and gemm against rt_linear ---- */

typedef struct {
    int N, K, half, bias;
} LinearShape;

static const LinearShape linear_shapes[] = {
    {100, 257, 0, 0}, {257, 33, 1, 0}, {33, 64, 0, 1}, {130, 96, 1, 1}, {7, 5, 0, 0},
    {4100, 24, 1, 1}, {10, 4104, 1, 0},     /* 128 lanes: fewer than 4096 row pairs */
    {8200, 24, 1, 0},                       /* 32 lanes: 4100 pairs */
};
enum { N_LINEAR = sizeof linear_shapes / sizeof linear_shapes[0] };

/* gemv for S <= 8, gemm for any S (both are checked at S = 1). */
static void check_linear(const LinearShape *sh, int S, const char *suffix, int tile, int wg)
{
    int N = sh->N, K = sh->K;
    float *x = rand_floats((size_t)S * K), *bias = rand_floats((size_t)N);
    void *w = rand_weights(sh->half, (size_t)N * K);
    float *want = malloc((size_t)S * N * sizeof *want), *got = malloc((size_t)S * N * sizeof *got);
    rt_linear(NULL, want, x, w, sh->half ? RT_F16 : RT_F32, sh->bias ? bias : NULL, S, N, K);

    Arena a = {0};
    /* gemv requires x_off % 4 == 0; gemm takes both load paths */
    int x_off[2] = {place_aligned(&a, x, (size_t)S * K, 4), place_aligned(&a, x, (size_t)S * K, S % 2 ? 1 : 4)};
    int out_off = place(&a, NULL, (size_t)S * N);
    cl_mem arena = upload(a.host, (a.size + 3) * sizeof(float));
    cl_mem wbuf = upload(w, (size_t)N * K * (sh->half ? 2 : 4));
    cl_mem bbuf = upload(bias, (size_t)N * sizeof(float));
    for (int path = 0; path < 2; path++) {
        if (path == 0 && S > 8)
            continue;
        cl_kernel k = kernel(path == 0 ? "gemv" : "gemm", suffix);
        SET_ARGS(k, sh->bias ? "mimimim" : "mimimi", arena, out_off, arena, x_off[path], wbuf, S, bbuf);
        if (path == 0) {
            size_t g = (size_t)wg * up((size_t)N, gemv_rows(N, wg)) / gemv_rows(N, wg);
            size_t l = (size_t)wg;
            run_kernel(k, 1, &g, &l);
        } else {
            size_t bn = 4 * (size_t)tile, bm = GEMM_RM * (size_t)tile;
            size_t g[2] = {tile * ((N + bn - 1) / bn), tile * ((S + bm - 1) / bm)};
            size_t l[2] = {(size_t)tile, (size_t)tile};
            run_kernel(k, 2, g, l);
        }
        download(arena, (size_t)out_off, got, (size_t)S * N);
        expect_close(tu_fmt("%s N=%d K=%d S=%d %s%s wg=%d", path ? "gemm" : "gemv", N, K, S,
                            sh->half ? "half" : "float", sh->bias ? " bias" : "", wg),
                     got, want, S, N, 1e-4);
        clReleaseKernel(k);
    }
    clReleaseMemObject(arena);
    clReleaseMemObject(wbuf);
    clReleaseMemObject(bbuf);
    free(x), free(bias), free(w), free(want), free(got), free(a.host);
}

static void test_linear(void **state)
{
    (void)state;
    need_device();
    static const int steps[] = {1, 2, 3, 8, 9, 37, 70};
    Config cfgs[4] = {configs[0], configs[1], configs[2], {128, 16, 1}};
    int ncfg = cl.has_fp16 ? 4 : 3;
    for (int c = 0; c < ncfg; c++) {
        Instance inst[2 * N_LINEAR];
        char vals[N_LINEAR][3][16];
        for (int i = 0; i < N_LINEAR; i++) {
            const LinearShape *sh = &linear_shapes[i];
            snprintf(vals[i][0], 16, "%d", sh->N);
            snprintf(vals[i][1], 16, "%d", sh->K);
            snprintf(vals[i][2], 16, "%d", sh->bias);
            inst[2 * i] = (Instance){"gemv", tu_fmt("_l%d", i),
                                     {vals[i][0], vals[i][1], sh->half ? "half" : "float", vals[i][2],
                                      "0", "0", "0", "0", "0", "8", "0", NULL}};
            inst[2 * i + 1] = (Instance){"gemm", tu_fmt("_l%d", i),
                                         {vals[i][0], vals[i][1], sh->half ? "half" : "float", vals[i][2], NULL}};
        }
        build_program(&cfgs[c], inst, 2 * N_LINEAR);
        for (int i = 0; i < N_LINEAR; i++)
            for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++)
                check_linear(&linear_shapes[i], steps[s], tu_fmt("_l%d", i), cfgs[c].tile,
                             cfgs[c].wg);
    }
}

/* Half weights through the vector-load paths of gemv and gemm must come out
 * exact: with one-hot rows of x, out[s, n] is the f32 value of one weight.
 * The weights cover normals, subnormals, signed zeros and the largest
 * finite values. */
static void test_half_exact(void **state)
{
    (void)state;
    need_device();
    enum { N = 40, K = 64 };
    static const uint16_t special[] = {0x0001, 0x8001, 0x0155, 0x03ff, 0x83ff, 0x0000, 0x8000,
                                       0x0400, 0x8400, 0x3c00, 0xbc00, 0x7bff, 0xfbff, 0x3555};
    uint16_t *w = malloc(N * K * sizeof *w);
    for (int i = 0; i < N * K; i++) {
        uint16_t h = (uint16_t)(frand() * 32768.0f + 32768.0f);
        if ((h & 0x7c00) == 0x7c00)
            h ^= 0x4000;                /* no infinities or NaNs */
        int nspecial = (int)(sizeof special / sizeof special[0]);
        w[i] = i % 41 == 0 && i / 41 < nspecial ? special[i / 41] : h;  /* spread over rows */
    }
    float x[K * K], got[K * N];
    for (int i = 0; i < K * K; i++)
        x[i] = i % (K + 1) == 0 ? 1.0f : 0.0f;     /* identity: row s is one-hot at s */
    Instance inst[2] = {{"gemv", "_x", {"40", "64", "half", "0", "0", "0", "0", "0", "0", "8", "0", NULL}},
                        {"gemm", "_x", {"40", "64", "half", "0", NULL}}};
    build_program(&configs[1], inst, 2);
    Arena a = {0};
    int x_off = place_aligned(&a, x, K * K, 4), out_off = place(&a, NULL, K * N);
    cl_mem arena = upload(a.host, (a.size + 3) * sizeof(float));
    cl_mem wbuf = upload(w, sizeof(uint16_t) * N * K);
    for (int path = 0; path < 2; path++) {
        cl_kernel k = kernel(path ? "gemm" : "gemv", "_x");
        for (int s0 = 0; s0 < K; s0 += path ? K : 8) {
            int S = path ? K : 8;
            SET_ARGS(k, "mimimi", arena, out_off, arena, x_off + s0 * K, wbuf, S);
            if (path)
                run_kernel(k, 2, (size_t[]){16, 16}, (size_t[]){16, 16});
            else
                run_kernel(k, 1, (size_t[]){256 * ((N + gemv_rows(N, 256) - 1) /
                                                   gemv_rows(N, 256))}, (size_t[]){256});
            download(arena, (size_t)out_off, got, (size_t)S * N);
            for (int s = 0; s < S; s++)
                for (int n = 0; n < N; n++)
                    if (got[s * N + n] != rt_f16_to_f32(w[n * K + s0 + s]))
                        fail_msg("%s: weight 0x%04x [%d, %d] came out as %a",
                                 path ? "gemm" : "gemv", w[n * K + s0 + s], n, s0 + s,
                                 got[s * N + n]);
        }
        clReleaseKernel(k);
    }
    clReleaseMemObject(arena);
    clReleaseMemObject(wbuf);
    free(w), free(a.host);
}

/* ---- fused gemv: RMSNorm prologue; residual, SwiGLU and QKV + RoPE + KV epilogues ---- */

typedef struct {
    int epi, N, K, half, bias, norm;
    int heads, kv_heads, head_dim;      /* EPI 3 (N = heads * head_dim) */
} FusedShape;

static const FusedShape fused_shapes[] = {
    {0, 7, 36, 0, 1, 1, 0, 0, 0}, {0, 130, 257, 1, 0, 1, 0, 0, 0}, {0, 33, 64, 1, 1, 0, 0, 0, 0},
    {1, 33, 70, 1, 1, 0, 0, 0, 0}, {1, 130, 128, 0, 0, 1, 0, 0, 0}, {1, 7, 257, 1, 1, 1, 0, 0, 0},
    {1, 10, 4100, 1, 1, 1, 0, 0, 0},    /* 128 lanes (HETC_WG 256) */
    {2, 7, 64, 0, 0, 1, 0, 0, 0}, {2, 33, 257, 1, 0, 0, 0, 0, 0}, {2, 130, 36, 1, 0, 1, 0, 0, 0},
    {2, 4100, 24, 0, 0, 1, 0, 0, 0},    /* 32 lanes (4100 pairs) */
    {3, 64, 64, 1, 1, 1, 4, 2, 16}, {3, 64, 128, 0, 0, 0, 4, 2, 16},
    {3, 24, 70, 0, 1, 0, 3, 1, 8}, {3, 24, 257, 1, 0, 1, 3, 1, 8}, {3, 24, 36, 1, 1, 1, 3, 1, 8},
};
enum { N_FUSED = sizeof fused_shapes / sizeof fused_shapes[0] };

/* The KV caches of EPI 3: FUSED_CTX rows of N1 from FUSED_KV_OFF. */
enum { FUSED_CTX = 3010, FUSED_KV_OFF = 5 };
static const float fused_eps = 1e-5f;

/* Steps: S tokens at position P; in_place: EPI 1 writes out over res. */
static const int fused_steps[][3] = {{1, 0, 0}, {3, 3001, 1}, {8, 17, 0}, {1, 9, 1}};

/* An instance under test: its weights (host and device) and, for EPI 3,
 * the KV caches with the values they should hold (NaN: never written). */
typedef struct {
    const FusedShape *sh;
    int wg, max_s, rows[3];             /* rows of W, W1, W2 (0: none) */
    int xq;                             /* 0: float or half weights; XQ: 1 q8_0g, 2 q4_0g, int8 x */
    int8_t *wq[3];                      /* XQ: the weights' values q (q4_0: nibble - 8) */
    float *wd[3];                       /* XQ: their blocks' d */
    void *w[3];
    float *bias[3], *gain, *inv_freq, *cache_want[2];
    cl_mem wbuf[3], bbuf[3], gbuf, ibuf, cache[2];
    cl_kernel k;
} Fused;

/* Floats in a KV cache buffer: the rows and the gaps before and after. */
static size_t fused_cache_len(const Fused *f)
{
    return FUSED_KV_OFF + (size_t)FUSED_CTX * f->rows[2] + 3;
}

/* Random q8_0 (xq 1) or q4_0 (xq 2) blocks of n values in layout g4
 * (rt_kernels.cl 'common': groups of 4 blocks, their 4 half scales, then
 * the quants; q4_0g's value 8j + k in nibble k of word j); their values
 * into q, their scales into d. Returns the bytes (*bytes of them). */
static unsigned char *rand_g4(int xq, size_t n, int8_t *q, float *d, size_t *bytes)
{
    size_t gbytes = xq == 1 ? 136 : 72;
    *bytes = n / 128 * gbytes;
    unsigned char *g = malloc(*bytes);
    for (size_t b = 0; b < n / 32; b++) {
        uint16_t h = rt_f32_to_f16(0.01f + 0.02f * frand());
        d[b] = rt_f16_to_f32(h);
        memcpy(g + b / 4 * gbytes + 2 * (b % 4), &h, 2);
        for (int k = 0; k < 32; k++) {
            int v = (int)((frand() + 1.0f) * (xq == 1 ? 127.5f : 8.0f));     /* 0..255 or 0..15 */
            v = v > (xq == 1 ? 255 : 15) ? (xq == 1 ? 255 : 15) : v;
            size_t at = b * 32 + k, j = at % 128;       /* j: the value's place in its group */
            unsigned char *quants = g + at / 128 * gbytes + 8;
            if (xq == 1) {
                q[at] = (int8_t)(v - 128 == -128 ? -127 : v - 128);
                quants[j] = (unsigned char)q[at];
            } else {
                q[at] = (int8_t)(v - 8);
                if (j % 2 == 0) quants[j / 2] = 0;      /* nibble j % 8 of word j / 8: byte j / 2 */
                quants[j / 2] |= (unsigned char)(v << (4 * (j % 2)));
            }
        }
    }
    return g;
}

/* Random weights, biases, gain (and inv_freq, NaN caches) for sh; the kernel
 * of instance 'suffix'; xq: as Fused.xq (sh->half unused then). */
static void fused_open(Fused *f, const FusedShape *sh, const char *suffix, int wg, int max_s, int xq)
{
    int K = sh->K, hd = sh->head_dim, n1 = sh->kv_heads * hd;
    *f = (Fused){.sh = sh, .wg = wg, .max_s = max_s, .xq = xq,
                 .rows = {sh->N, sh->epi == 2 ? sh->N : n1, n1}};
    for (int m = 0; m < 3 && f->rows[m]; m++) {
        size_t n = (size_t)f->rows[m] * K, bytes = n * (sh->half ? 2 : 4);
        if (xq) {
            f->wq[m] = malloc(n);
            f->wd[m] = malloc(n / 32 * sizeof *f->wd[m]);
            f->w[m] = rand_g4(xq, n, f->wq[m], f->wd[m], &bytes);
        } else {
            f->w[m] = rand_weights(sh->half, n);
        }
        f->bias[m] = rand_floats((size_t)f->rows[m]);
        f->wbuf[m] = upload(f->w[m], bytes);
        f->bbuf[m] = upload(f->bias[m], (size_t)f->rows[m] * sizeof(float));
    }
    f->gain = rand_floats((size_t)K);
    f->gbuf = upload(f->gain, (size_t)K * sizeof(float));
    if (sh->epi == 3) {
        f->inv_freq = malloc((size_t)hd / 2 * sizeof *f->inv_freq);
        for (int i = 0; i < hd / 2; i++)
            f->inv_freq[i] = powf(10000.0f, -2.0f * i / hd);
        f->ibuf = upload(f->inv_freq, (size_t)hd / 2 * sizeof(float));
        for (int c = 0; c < 2; c++) {
            f->cache_want[c] = malloc(fused_cache_len(f) * sizeof(float));
            for (size_t i = 0; i < fused_cache_len(f); i++)
                f->cache_want[c][i] = NAN;
            f->cache[c] = upload(f->cache_want[c], fused_cache_len(f) * sizeof(float));
        }
    }
    f->k = kernel("gemv", suffix);
}

/* Releases what fused_open made. */
static void fused_close(Fused *f)
{
    for (int m = 0; m < 3 && f->rows[m]; m++) {
        clReleaseMemObject(f->wbuf[m]);
        clReleaseMemObject(f->bbuf[m]);
        free(f->w[m]), free(f->bias[m]), free(f->wq[m]), free(f->wd[m]);
    }
    clReleaseMemObject(f->gbuf);
    if (f->sh->epi == 3) {
        clReleaseMemObject(f->ibuf);
        clReleaseMemObject(f->cache[0]), clReleaseMemObject(f->cache[1]);
    }
    clReleaseKernel(f->k);
    free(f->gain), free(f->inv_freq), free(f->cache_want[0]), free(f->cache_want[1]);
}

/* out[s, :] = x[s, :] * gain / sqrt(mean(x[s, :]^2) + eps). */
static void ref_rmsnorm(float *out, const float *x, const float *gain, int S, int K)
{
    for (int s = 0; s < S; s++) {
        double ss = 0.0;
        for (int i = 0; i < K; i++)
            ss += (double)x[s * K + i] * x[s * K + i];
        double r = 1.0 / sqrt(ss / K + fused_eps);
        for (int i = 0; i < K; i++)
            out[s * K + i] = (float)(x[s * K + i] * gain[i] * r);
    }
}

/* RoPE in place on y [S, width]: in every head of hd, the pair (i, i + hd / 2)
 * of row s turns by the angle (P + s) * inv_freq[i]. */
static void ref_rope(float *y, int S, int width, int hd, const float *inv_freq, int P)
{
    for (int s = 0; s < S; s++)
        for (int h = 0; h < width; h += hd)
            for (int i = 0; i < hd / 2; i++) {
                float *lo = &y[(size_t)s * width + h + i], *hi = lo + hd / 2;
                double a = (double)(P + s) * inv_freq[i], c = cos(a), sn = sin(a);   /* the exact angle */
                double l = *lo, u = *hi;
                *lo = (float)(l * c - u * sn);
                *hi = (float)(u * c + l * sn);
            }
}

/* XQ: y [rows] = W x' with x' [K] in int8 blocks as the kernel makes them
 * (d = max |x'| / 127, q = x' / d rounded half away from zero), each
 * block's integer dot product scaled by d_w d_x. */
static void ref_xq(const Fused *f, int m, const float *xn, float *y)
{
    int K = f->sh->K;
    int8_t *qx = malloc((size_t)K);
    float *dx = malloc((size_t)K / 32 * sizeof *dx);
    for (int b = 0; b < K / 32; b++) {
        float amax = 0.0f;
        for (int k = 0; k < 32; k++)
            amax = fabsf(xn[32 * b + k]) > amax ? fabsf(xn[32 * b + k]) : amax;
        float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        dx[b] = d;
        for (int k = 0; k < 32; k++)
            qx[32 * b + k] = (int8_t)roundf(xn[32 * b + k] * id);
    }
    for (int n = 0; n < f->rows[m]; n++) {
        double acc = 0.0;
        for (int b = 0; b < K / 32; b++) {
            int dot = 0;
            for (int k = 0; k < 32; k++)
                dot += f->wq[m][(size_t)n * K + 32 * b + k] * qx[32 * b + k];
            acc += (double)f->wd[m][(size_t)n * K / 32 + b] * dx[b] * dot;
        }
        y[n] = (float)(acc + (f->sh->bias ? f->bias[m][n] : 0.0f));
    }
    free(qx), free(dx);
}

/* The CPU result of a step: out into want; for EPI 3 the k and v rows into
 * f->cache_want. */
static void fused_reference(Fused *f, const float *x, const float *res, int S, int P, float *want)
{
    const FusedShape *sh = f->sh;
    int K = sh->K, N = sh->N, n1 = f->rows[2];
    float *xn = malloc((size_t)S * K * sizeof *xn), *y[3] = {NULL, NULL, NULL};
    if (sh->norm)
        ref_rmsnorm(xn, x, f->gain, S, K);
    else
        memcpy(xn, x, (size_t)S * K * sizeof *xn);
    for (int m = 0; m < 3 && f->rows[m]; m++) {
        y[m] = malloc((size_t)S * f->rows[m] * sizeof *y[m]);
        if (f->xq)
            ref_xq(f, m, xn, y[m]);     /* MAX_S 1: S is 1 */
        else
            rt_linear(NULL, y[m], xn, f->w[m], sh->half ? RT_F16 : RT_F32, sh->bias ? f->bias[m] : NULL,
                      S, f->rows[m], K);
    }
    for (size_t i = 0; i < (size_t)S * N; i++) {
        double v = y[0][i];
        want[i] = (float)(sh->epi == 1   ? res[i] + v
                          : sh->epi == 2 ? v / (1.0 + exp(-v)) * y[1][i]   /* silu * up */
                                         : v);
    }
    if (sh->epi == 3) {
        ref_rope(want, S, N, sh->head_dim, f->inv_freq, P);
        ref_rope(y[1], S, n1, sh->head_dim, f->inv_freq, P);
        for (int c = 0; c < 2; c++)
            memcpy(f->cache_want[c] + FUSED_KV_OFF + (size_t)P * n1, y[1 + c],
                   (size_t)S * n1 * sizeof(float));
    }
    free(xn), free(y[0]), free(y[1]), free(y[2]);
}

/* Sets the arguments of f's kernel, in the order of its signature. */
static void fused_args(Fused *f, cl_mem arena, int out_off, int x_off, int res_off, int S, int P)
{
    const FusedShape *sh = f->sh;
    const float eps = fused_eps;
    const int kv_off = FUSED_KV_OFF;
    cl_uint i = 0;
#define ARG(v) check(clSetKernelArg(f->k, i++, sizeof(v), &(v)), "clSetKernelArg")
    ARG(arena), ARG(out_off), ARG(arena), ARG(x_off), ARG(f->wbuf[0]), ARG(S);
    if (sh->bias)
        ARG(f->bbuf[0]);
    if (sh->norm)
        ARG(f->gbuf), ARG(eps);
    if (sh->epi == 1)
        ARG(arena), ARG(res_off);
    if (sh->epi >= 2)
        ARG(f->wbuf[1]);
    if (sh->epi == 3) {
        ARG(f->wbuf[2]);
        if (sh->bias)
            ARG(f->bbuf[1]), ARG(f->bbuf[2]);
        ARG(f->cache[0]), ARG(f->cache[1]), ARG(kv_off), ARG(f->ibuf), ARG(P);
    }
#undef ARG
}

/* Relative L2 limit of a fused result: 1e-4 with float x; with int8 x
 * (XQ) the reference quantises x' of its own, and an ulp of difference in
 * x' may round a value of x the other way. */
static double fused_tol(const Fused *f)
{
    return f->xq ? 1e-3 : 1e-4;
}

/* KV cache c as the kernel left it: the rows of f->cache_want within
 * fused_tol, the rest (other rows, the gaps before and after) still NaN. */
static void expect_cache(const Fused *f, int c, const char *what)
{
    size_t len = fused_cache_len(f), n1 = (size_t)f->rows[2];
    const float *want = f->cache_want[c];
    float *got = malloc(len * sizeof *got);
    download(f->cache[c], 0, got, len);
    for (size_t i = 0; i < len; i++)
        if (!isnan(got[i]) != !isnan(want[i]))
            fail_msg("%s: %s[%zu] is %g, want %g", what, c ? "vc" : "kc", i, got[i], want[i]);
    for (size_t at = FUSED_KV_OFF; at < len - 3; at += n1)
        if (!isnan(want[at]))
            expect_close(tu_fmt("%s %s row %zu", what, c ? "vc" : "kc", (at - FUSED_KV_OFF) / n1),
                         got + at, want + at, 1, (int)n1, fused_tol(f));
    free(got);
}

/* One step of S tokens at position P (EPI 1 in place: out over res): out
 * against fused_reference, the rest of the arena unchanged, and for EPI 3
 * the KV caches. */
static void fused_step(Fused *f, int S, int P, int in_place)
{
    const FusedShape *sh = f->sh;
    int N = sh->N, K = sh->K;
    float *x = rand_floats((size_t)S * K), *res = rand_floats((size_t)S * N);
    float *want = malloc((size_t)S * N * sizeof *want);
    for (int i = 0; sh->norm && i < K; i++)
        x[i] *= 1e-3f;          /* row 0: small enough for eps to matter */
    fused_reference(f, x, res, S, P, want);

    Arena a = {0};
    int x_off = place_aligned(&a, x, (size_t)S * K, 4);
    int res_off = sh->epi == 1 ? place(&a, res, (size_t)S * N) : 0;
    int out_off = sh->epi == 1 && in_place ? res_off : place(&a, NULL, (size_t)S * N);
    cl_mem arena = upload(a.host, (a.size + 3) * sizeof(float));
    fused_args(f, arena, out_off, x_off, res_off, S, P);
    size_t pairs = sh->epi == 2 ? (size_t)N : sh->epi == 3 ? (size_t)(N + 2 * f->rows[2]) / 2
                                                          : (size_t)(N + 1) / 2;
    size_t groups = gemv_groups(pairs, f->wg, f->xq != 0), local = (size_t)f->wg;
    size_t global = local * ((pairs + groups - 1) / groups);
    run_kernel(f->k, 1, &global, &local);

    const char *what = tu_fmt("gemv epi %d N=%d K=%d %s%s%s wg=%d max_s=%d S=%d P=%d%s", sh->epi,
                              N, K, f->xq ? (f->xq == 1 ? "q8_0g xq" : "q4_0g xq") : sh->half ? "half" : "float",
                              sh->bias ? " bias" : "",
                              sh->norm ? " norm" : "", f->wg, f->max_s, S, P,
                              sh->epi == 1 && in_place ? " in place" : "");
    float *got = malloc((a.size + 3) * sizeof *got);
    download(arena, 0, got, a.size + 3);
    expect_close(what, got + out_off, want, S, N, fused_tol(f));
    for (size_t i = 0; i < a.size + 3; i++)
        if ((i < (size_t)out_off || i >= (size_t)out_off + (size_t)S * N) &&
            memcmp(&got[i], &a.host[i], sizeof *got) != 0)
            fail_msg("%s: arena[%zu] changed (out at %d)", what, i, out_off);
    for (int c = 0; sh->epi == 3 && c < 2; c++)
        expect_cache(f, c, what);
    clReleaseMemObject(arena);
    free(x), free(res), free(want), free(got), free(a.host);
}

/* Every fused shape as a MAX_S 1 and a MAX_S 8 instance, with HETC_WG 64
 * and 256 (and native half loads where the device has them). */
static void test_gemv_fused(void **state)
{
    (void)state;
    need_device();
    Config cfgs[3] = {configs[0], configs[1], {128, 16, 1}};
    int ncfg = cl.has_fp16 ? 3 : 2;
    for (int c = 0; c < ncfg; c++) {
        Instance inst[2 * N_FUSED];
        char vals[N_FUSED][7][16], suffix[N_FUSED][2][16];
        for (int i = 0; i < N_FUSED; i++) {
            const FusedShape *sh = &fused_shapes[i];
            int v[7] = {sh->N, sh->K, sh->bias, sh->norm, sh->epi, sh->kv_heads * sh->head_dim,
                        sh->head_dim};
            for (int j = 0; j < 7; j++)
                snprintf(vals[i][j], 16, "%d", v[j]);
            for (int m = 0; m < 2; m++) {
                snprintf(suffix[i][m], 16, "_f%d_%d", i, m);
                inst[2 * i + m] = (Instance){"gemv", suffix[i][m],
                                             {vals[i][0], vals[i][1], sh->half ? "half" : "float",
                                              vals[i][2], vals[i][3], vals[i][4], vals[i][5],
                                              vals[i][5], vals[i][6], m ? "8" : "1", "0", NULL}};
            }
        }
        build_program(&cfgs[c], inst, 2 * N_FUSED);
        for (int i = 0; i < N_FUSED; i++)
            for (int m = 0; m < 2; m++) {
                Fused f;
                fused_open(&f, &fused_shapes[i], suffix[i][m], cfgs[c].wg, m ? 8 : 1, 0);
                for (size_t st = 0; st < sizeof fused_steps / sizeof fused_steps[0]; st++)
                    if (fused_steps[st][0] <= f.max_s)
                        fused_step(&f, fused_steps[st][0], fused_steps[st][1], fused_steps[st][2]);
                fused_close(&f);
            }
    }
}

/* Int8 activations (XQ 1): the one-token launch of q8_0g and q4_0g
 * weights against ref_xq, every epilogue, with and without RMSNorm, 128
 * and 32 lanes, HETC_WG 64 and 256. */
static const FusedShape xq_shapes[] = {
    {0, 7, 128, 0, 1, 1, 0, 0, 0}, {1, 33, 256, 0, 0, 1, 0, 0, 0}, {1, 10, 4096, 0, 1, 0, 0, 0, 0},
    {2, 130, 384, 0, 0, 1, 0, 0, 0}, {2, 4100, 128, 0, 0, 1, 0, 0, 0},     /* 32 lanes */
    {3, 64, 128, 0, 1, 1, 4, 2, 16}, {3, 24, 256, 0, 0, 0, 3, 1, 8},
};
enum { N_XQ = sizeof xq_shapes / sizeof xq_shapes[0] };

static void test_gemv_xq(void **state)
{
    (void)state;
    need_device();
    for (int c = 0; c < 2; c++) {
        Instance inst[2 * N_XQ];
        char vals[N_XQ][7][16], suffix[N_XQ][2][16];
        for (int i = 0; i < N_XQ; i++) {
            const FusedShape *sh = &xq_shapes[i];
            int v[7] = {sh->N, sh->K, sh->bias, sh->norm, sh->epi, sh->kv_heads * sh->head_dim, sh->head_dim};
            for (int j = 0; j < 7; j++)
                snprintf(vals[i][j], 16, "%d", v[j]);
            for (int t = 0; t < 2; t++) {
                snprintf(suffix[i][t], 16, "_x%d_%d", i, t);
                inst[2 * i + t] = (Instance){"gemv", suffix[i][t],
                                             {vals[i][0], vals[i][1], t ? "q4_0g" : "q8_0g", vals[i][2],
                                              vals[i][3], vals[i][4], vals[i][5], vals[i][5], vals[i][6],
                                              "1", "1", NULL}};
            }
        }
        build_program(&configs[c], inst, 2 * N_XQ);
        for (int i = 0; i < N_XQ; i++)
            for (int t = 0; t < 2; t++) {
                Fused f;
                fused_open(&f, &xq_shapes[i], suffix[i][t], configs[c].wg, 1, t + 1);
                for (size_t st = 0; st < sizeof fused_steps / sizeof fused_steps[0]; st++)
                    if (fused_steps[st][0] == 1)
                        fused_step(&f, 1, fused_steps[st][1], fused_steps[st][2]);
                fused_close(&f);
            }
    }
}

/* ---- embed, rmsnorm, rope, kv_store, elementwise ---- */

static void test_embed_rmsnorm(void **state)
{
    (void)state;
    need_device();
    const int S = 5, vocab = 50;
    static const int widths[] = {33, 100, 2048};
    for (int c = 0; c < 2; c++) {
        Instance inst[9];
        for (int i = 0; i < 3; i++) {
            const char *h = tu_fmt("%d", widths[i]);
            inst[3 * i] = (Instance){"embed", tu_fmt("_e%d", i), {h, "float", NULL}};
            inst[3 * i + 1] = (Instance){"embed", tu_fmt("_h%d", i), {h, "half", NULL}};
            inst[3 * i + 2] = (Instance){"rmsnorm", tu_fmt("_r%d", i), {h, NULL}};
        }
        build_program(&configs[c], inst, 9);
        size_t wg = (size_t)configs[c].wg;
        for (int i = 0; i < 3; i++) {
            int H = widths[i];
            int32_t ids[5] = {3, 0, 49, 3, 17};
            float *want = malloc((size_t)S * H * sizeof *want);
            float *got = malloc((size_t)S * H * sizeof *got);
            Arena a = {0};
            int ids_at = place(&a, NULL, S);
            memcpy(a.host + ids_at, ids, sizeof ids);
            int out_off = place(&a, NULL, (size_t)S * H);
            float *x = rand_floats((size_t)S * H), *w = rand_floats((size_t)H);
            for (int j = 0; j < H; j++)
                x[j] *= 1e-3f;      /* row 0: small enough for eps to matter */
            int x_off = place(&a, x, (size_t)S * H);
            cl_mem arena = upload(a.host, (a.size + 3) * sizeof(float));
            cl_mem wbuf = upload(w, (size_t)H * sizeof(float));
            for (int half = 0; half < 2; half++) {
                void *table = rand_weights(half, (size_t)vocab * H);
                cl_mem tbuf = upload(table, (size_t)vocab * H * (half ? 2 : 4));
                rt_embed(NULL, want, table, half ? RT_F16 : RT_F32, ids, S, H);
                cl_kernel k = kernel("embed", tu_fmt(half ? "_h%d" : "_e%d", i));
                SET_ARGS(k, "mimmi", arena, out_off, tbuf, arena, ids_at);
                run_kernel(k, 2, (size_t[]){up((size_t)H, wg), (size_t)S}, (size_t[]){wg, 1});
                download(arena, (size_t)out_off, got, (size_t)S * H);
                expect_close(tu_fmt("embed H=%d half=%d", H, half), got, want, S, H, 0.0);
                clReleaseKernel(k);
                clReleaseMemObject(tbuf);
                free(table);
            }
            /* rmsnorm out of place, then in place */
            rt_rmsnorm(NULL, want, x, w, S, H, 1e-5f);
            cl_kernel k = kernel("rmsnorm", tu_fmt("_r%d", i));
            for (int in_place = 0; in_place < 2; in_place++) {
                int dst = in_place ? x_off : out_off;
                SET_ARGS(k, "mimimf", arena, dst, arena, x_off, wbuf, 1e-5);
                run_kernel(k, 1, (size_t[]){wg * S}, &wg);
                download(arena, (size_t)dst, got, (size_t)S * H);
                expect_close(tu_fmt("rmsnorm H=%d in_place=%d", H, in_place), got, want, S, H,
                             1e-4);
            }
            clReleaseKernel(k);
            clReleaseMemObject(arena);
            clReleaseMemObject(wbuf);
            free(want), free(got), free(x), free(w), free(a.host);
        }
    }
}

static void test_rope_kv_elementwise(void **state)
{
    (void)state;
    need_device();
    static const int dims[][2] = {{3, 16}, {2, 64}, {5, 128}};     /* heads, head_dim */
    Instance inst[5] = {
        {"rope", "_r0", {"3", "16", NULL}}, {"rope", "_r1", {"2", "64", NULL}},
        {"rope", "_r2", {"5", "128", NULL}}, {"kv_store", "_k", {"48", NULL}},
        {"elementwise", "_w", {NULL}},
    };
    build_program(&configs[0], inst, 5);
    size_t wg = (size_t)configs[0].wg;
    const int S = 5;
    for (int i = 0; i < 3; i++) {
        int heads = dims[i][0], hd = dims[i][1], width = heads * hd;
        float *inv = malloc((size_t)hd / 2 * sizeof *inv);
        for (int j = 0; j < hd / 2; j++)
            inv[j] = powf(10000.0f, -2.0f * j / hd);
        float *x = rand_floats((size_t)S * width);
        float *want = malloc((size_t)S * width * sizeof *want);
        float *got = malloc((size_t)S * width * sizeof *got);
        Arena a = {0};
        int x_off = place(&a, x, (size_t)S * width), out_off = place(&a, NULL, (size_t)S * width);
        cl_mem arena = upload(a.host, (a.size + 3) * sizeof(float));
        cl_mem ibuf = upload(inv, (size_t)hd / 2 * sizeof(float));
        cl_kernel k = kernel("rope", tu_fmt("_r%d", i));
        static const int positions[] = {0, 7, 3001};
        for (int p = 0; p < 3; p++) {
            rt_rope(NULL, want, x, inv, S, heads, hd, positions[p]);
            SET_ARGS(k, "mimimii", arena, out_off, arena, x_off, ibuf, S, positions[p]);
            run_kernel(k, 2, (size_t[]){(size_t)hd / 2, (size_t)S}, NULL);
            download(arena, (size_t)out_off, got, (size_t)S * width);
            expect_close(tu_fmt("rope heads=%d head_dim=%d P=%d", heads, hd, positions[p]), got,
                         want, S, width, 1e-5);
        }
        clReleaseKernel(k);
        clReleaseMemObject(arena);
        clReleaseMemObject(ibuf);
        free(inv), free(x), free(want), free(got), free(a.host);
    }

    /* kv_store: rows P..P+S-1 of a [ctx, 48] cache, the rest untouched */
    const int kvd = 48, ctx = 20, P = 9;
    float *kv = rand_floats((size_t)2 * S * kvd);
    Arena a = {0};
    int k_off = place(&a, kv, (size_t)S * kvd), v_off = place(&a, kv + S * kvd, (size_t)S * kvd);
    int kc_off = place(&a, NULL, (size_t)ctx * kvd), vc_off = place(&a, NULL, (size_t)ctx * kvd);
    cl_mem arena = upload(a.host, (a.size + 3) * sizeof(float));
    cl_kernel k = kernel("kv_store", "_k");
    SET_ARGS(k, "mimimimiii", arena, kc_off, arena, vc_off, arena, k_off, arena, v_off, S, P);
    run_kernel(k, 2, (size_t[]){up((size_t)kvd, wg), (size_t)S}, (size_t[]){wg, 1});
    float *cache = malloc((size_t)ctx * kvd * sizeof *cache);
    for (int which = 0; which < 2; which++) {
        download(arena, (size_t)(which ? vc_off : kc_off), cache, (size_t)ctx * kvd);
        for (int r = 0; r < ctx; r++)
            for (int j = 0; j < kvd; j++) {
                float v = cache[r * kvd + j];
                if (r >= P && r < P + S)
                    assert_true(v == kv[(which * S + r - P) * kvd + j]);
                else
                    assert_true(isnan(v));
            }
    }
    clReleaseKernel(k);
    clReleaseMemObject(arena);
    free(kv), free(cache), free(a.host);

    /* elementwise on n = 1001 */
    const int n = 1001;
    float *in1 = rand_floats(n), *in2 = rand_floats(n);
    for (int i = 0; i < n; i++)
        in1[i] *= 12.0f;
    float *want = malloc(n * sizeof *want), *got = malloc(n * sizeof *got);
    Arena e = {0};
    int a_off = place(&e, in1, n), b_off = place(&e, in2, n), o_off = place(&e, NULL, n);
    arena = upload(e.host, (e.size + 3) * sizeof(float));
    static const char *names[] = {"silu", "mul", "swiglu", "add"};
    for (int op = 0; op < 4; op++) {
        k = kernel(names[op], "_w");
        if (op == 0) {
            rt_silu(NULL, want, in1, n);
            SET_ARGS(k, "mimii", arena, o_off, arena, a_off, n);
        } else {
            if (op == 1)
                rt_mul(NULL, want, in1, in2, n);
            else if (op == 2)
                rt_swiglu(NULL, want, in1, in2, n);
            else
                rt_add(NULL, want, in1, in2, n);
            SET_ARGS(k, "mimimii", arena, o_off, arena, a_off, arena, b_off, n);
        }
        run_kernel(k, 1, (size_t[]){up(n, wg)}, &wg);
        download(arena, (size_t)o_off, got, n);
        expect_close(names[op], got, want, 1, n, 1e-6);
        clReleaseKernel(k);
    }
    clReleaseMemObject(arena);
    free(in1), free(in2), free(want), free(got), free(e.host);
}

/* ---- attention: kv_store + prefill, kv_store + decode/combine ---- */

typedef struct {
    int heads, kv_heads, head_dim, window;
} AttnShape;

static const AttnShape attn_shapes[] = {
    {2, 2, 16, 0}, {4, 2, 32, 37}, {8, 2, 64, 0}, {8, 1, 128, 20}, {16, 2, 64, 0}, {3, 3, 48, 0},
};
enum { N_ATTN = sizeof attn_shapes / sizeof attn_shapes[0] };

/* Runs a sequence of steps (S, P) through the CPU and both GPU paths. */
static void check_attention(const AttnShape *sh, const char *suffix, size_t wg)
{
    static const int steps[][2] = {{5, 0}, {1, 5}, {3, 6}, {150, 9}, {1, 159}, {8, 160}};
    const int ctx = 200, width = sh->heads * sh->head_dim, kvd = sh->kv_heads * sh->head_dim;
    const float scale = 1.0f / sqrtf((float)sh->head_dim);
    const int max_s = 150, max_chunks = 7;
    size_t awg = wg < (size_t)16 * sh->head_dim ? wg : (size_t)16 * sh->head_dim;
    float *kc = calloc((size_t)ctx * kvd, sizeof *kc), *vc = calloc((size_t)ctx * kvd, sizeof *vc);
    float *scratch = malloc((size_t)ctx * sizeof *scratch);
    float *want = malloc((size_t)max_s * width * sizeof *want);
    float *got = malloc((size_t)max_s * width * sizeof *got);
    Arena a = {0};
    int q_off = place(&a, NULL, (size_t)max_s * width);
    int k_off = place(&a, NULL, (size_t)max_s * kvd), v_off = place(&a, NULL, (size_t)max_s * kvd);
    int o_off = place(&a, NULL, (size_t)max_s * width);
    int kc_off = place(&a, NULL, (size_t)ctx * kvd), vc_off = place(&a, NULL, (size_t)ctx * kvd);
    int part_off = place(&a, NULL, (size_t)max_chunks * 8 * sh->heads * (sh->head_dim + 2));
    cl_mem arena = upload(a.host, (a.size + 3) * sizeof(float));
    cl_kernel store = kernel("kv_store", suffix), prefill = kernel("attn_prefill", suffix);
    cl_kernel decode = kernel("attn_decode", suffix), combine = kernel("attn_combine", suffix);
    int rows_per_kv = sh->heads / sh->kv_heads;

    for (size_t st = 0; st < sizeof steps / sizeof steps[0]; st++) {
        int S = steps[st][0], P = steps[st][1];
        char what[128];
        snprintf(what, sizeof what, "attention heads=%d kv=%d hd=%d window=%d S=%d P=%d",
                 sh->heads, sh->kv_heads, sh->head_dim, sh->window, S, P);
        float *q = rand_floats((size_t)S * width), *k = rand_floats((size_t)S * kvd);
        float *v = rand_floats((size_t)S * kvd);
        for (size_t i = 0; i < (size_t)S * width; i++)
            q[i] *= 3.0f;   /* sharper softmax */
        check(clEnqueueWriteBuffer(cl.queue, arena, CL_TRUE, q_off * sizeof(float),
                                   (size_t)S * width * sizeof(float), q, 0, NULL, NULL), "write q");
        check(clEnqueueWriteBuffer(cl.queue, arena, CL_TRUE, k_off * sizeof(float),
                                   (size_t)S * kvd * sizeof(float), k, 0, NULL, NULL), "write k");
        check(clEnqueueWriteBuffer(cl.queue, arena, CL_TRUE, v_off * sizeof(float),
                                   (size_t)S * kvd * sizeof(float), v, 0, NULL, NULL), "write v");
        rt_attention(NULL, want, q, k, v, kc, vc, S, P, sh->heads, sh->kv_heads, sh->head_dim,
                     scale, sh->window, ctx, scratch);

        SET_ARGS(store, "mimimimiii", arena, kc_off, arena, vc_off, arena, k_off, arena, v_off, S,
                 P);
        run_kernel(store, 2, (size_t[]){up((size_t)kvd, wg), (size_t)S}, (size_t[]){wg, 1});

        size_t blocks = ((size_t)S * rows_per_kv + 15) / 16;
        SET_ARGS(prefill, "mimimimiiif", arena, o_off, arena, q_off, arena, kc_off, arena, vc_off,
                 S, P, (double)scale);
        run_kernel(prefill, 2, (size_t[]){awg * blocks, (size_t)sh->kv_heads},
                   (size_t[]){awg, 1});
        download(arena, (size_t)o_off, got, (size_t)S * width);
        expect_close(tu_fmt("%s prefill", what), got, want, S * sh->heads, sh->head_dim, 1e-4);

        static const int chunk_counts[] = {1, 3, max_chunks};
        for (int c = 0; S <= 8 && c < 3; c++) {
            int nc = chunk_counts[c];
            SET_ARGS(decode, "mimimimimiiiif", arena, o_off, arena, part_off, arena, q_off, arena,
                     kc_off, arena, vc_off, S, P, nc, (double)scale);
            run_kernel(decode, 3, (size_t[]){wg * nc, (size_t)sh->heads, (size_t)S},
                       (size_t[]){wg, 1, 1});
            if (nc > 1) {
                SET_ARGS(combine, "mimiii", arena, o_off, arena, part_off, S, nc);
                run_kernel(combine, 2, (size_t[]){(size_t)sh->head_dim, (size_t)S * sh->heads},
                           NULL);
            }
            download(arena, (size_t)o_off, got, (size_t)S * width);
            expect_close(tu_fmt("%s decode n_chunks=%d", what, nc), got, want, S * sh->heads,
                         sh->head_dim, 1e-4);
        }
        free(q), free(k), free(v);
    }
    clReleaseKernel(store), clReleaseKernel(prefill), clReleaseKernel(decode);
    clReleaseKernel(combine);
    clReleaseMemObject(arena);
    free(kc), free(vc), free(scratch), free(want), free(got), free(a.host);
}

static void test_attention(void **state)
{
    (void)state;
    need_device();
    for (int c = 0; c < 2; c++) {
        Instance inst[2 * N_ATTN];
        char vals[N_ATTN][5][16];
        for (int i = 0; i < N_ATTN; i++) {
            const AttnShape *sh = &attn_shapes[i];
            snprintf(vals[i][0], 16, "%d", sh->heads);
            snprintf(vals[i][1], 16, "%d", sh->kv_heads);
            snprintf(vals[i][2], 16, "%d", sh->head_dim);
            snprintf(vals[i][3], 16, "%d", sh->window);
            snprintf(vals[i][4], 16, "%d", sh->kv_heads * sh->head_dim);
            inst[2 * i] = (Instance){"attention", tu_fmt("_a%d", i),
                                     {vals[i][0], vals[i][1], vals[i][2], vals[i][3], NULL}};
            inst[2 * i + 1] = (Instance){"kv_store", tu_fmt("_a%d", i), {vals[i][4], NULL}};
        }
        build_program(&configs[c], inst, 2 * N_ATTN);
        for (int i = 0; i < N_ATTN; i++)
            check_attention(&attn_shapes[i], tu_fmt("_a%d", i), (size_t)configs[c].wg);
    }
}

/* ---- binary cache ---- */

static const char small_source[] =
    "kernel void twice(global float *x) { x[get_global_id(0)] *= 2.0f; }\n";

static ino_t inode_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_ino : 0;
}

/* Builds small_source with the cache; checks whether the cache was used. */
static void build_cached(const char *path, const char *options, int expect_used)
{
    if (rt_cl_build(&cl, small_source, sizeof small_source - 1, options, path) != RT_OK)
        fail_msg("%s", rt_last_error());
    assert_int_equal(rt_cl_cache_used(), expect_used);
    cl_kernel k = kernel("twice", "");
    float data[4] = {1, 2, 3, 4};
    cl_mem buf = upload(data, sizeof data);
    SET_ARGS(k, "m", buf);
    run_kernel(k, 1, (size_t[]){4}, NULL);
    download(buf, 0, data, 4);
    assert_true(data[0] == 2.0f && data[3] == 8.0f);
    clReleaseKernel(k);
    clReleaseMemObject(buf);
}

static void test_cache(void **state)
{
    (void)state;
    need_device();
    const char *dir = tu_tmpdir("opencl_cache");
    const char *path = tu_fmt("%s/kernels.bin", dir);
    build_cached(path, "", 0);
    ino_t first = inode_of(path);
    assert_true(first != 0);
    build_cached(path, "", 1);
    assert_true(inode_of(path) == first);      /* a hit does not rewrite */

    /* a flipped byte in the binary: rebuilt and rewritten */
    size_t len;
    char *data = tu_read_file(path, &len);
    assert_true(len > 64);
    data[32 + (len - 32) / 2] ^= 0x5a;
    tu_write_file(path, data, len);
    build_cached(path, "", 0);
    build_cached(path, "", 1);
    /* truncated, garbage and empty files */
    tu_write_file(path, data, len / 2);
    build_cached(path, "", 0);
    tu_write_file(path, "not a cache file", 16);
    build_cached(path, "", 0);
    tu_write_file(path, "", 0);
    build_cached(path, "", 0);
    free(data);
    /* other options: another key */
    build_cached(path, "-DUNUSED=1", 0);
    build_cached(path, "-DUNUSED=1", 1);
    build_cached(path, "", 0);
    /* an unwritable cache path is not an error */
    build_cached(tu_fmt("%s/missing/dir/kernels.bin", dir), "", 0);
}

/* ---- device selection and errors ---- */

static void expect_open_error(const char *pmatch, const char *dmatch, int index,
                              const char *needle)
{
    RtCl other;
    assert_int_equal(rt_cl_open(&other, pmatch, dmatch, index), RT_ERR_IO);
    const char *msg = rt_last_error();
    if (!strstr(msg, needle) || !strstr(msg, cl.device_name))
        fail_msg("error without '%s' or the device list: %s", needle, msg);
}

static void expect_open(const char *pmatch, const char *dmatch, int index)
{
    RtCl other;
    if (rt_cl_open(&other, pmatch, dmatch, index) != RT_OK)
        fail_msg("rt_cl_open(\"%s\", \"%s\", %d): %s", pmatch, dmatch, index, rt_last_error());
    assert_string_equal(other.device_name, cl.device_name);
    assert_non_null(other.queue);
    rt_cl_close(&other);
}

static void test_device_selection(void **state)
{
    (void)state;
    need_device();
    char psub[8], dsub[8];
    snprintf(psub, sizeof psub, "%.7s", cl.platform_name);
    snprintf(dsub, sizeof dsub, "%.7s", cl.device_name + (strlen(cl.device_name) > 10 ? 3 : 0));
    for (char *p = dsub; *p; p++)       /* matching ignores case */
        *p = (char)((*p >= 'a' && *p <= 'z') ? *p - 32 : (*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
    unsetenv("HETC_OPENCL_DEVICE");
    expect_open("", "", -1);
    expect_open(psub, dsub, -1);
    expect_open("", dsub, 0);
    expect_open(NULL, NULL, 0);
    expect_open_error("", "no-such-device", -1, "no-such-device");
    expect_open_error("no-such-platform", "", 0, "no-such-platform");
    expect_open_error("", "", 1000, "index 1000");

    setenv("HETC_OPENCL_DEVICE", "0", 1);
    expect_open("", "no-such-device", 5);       /* the variable overrides the target */
    setenv("HETC_OPENCL_DEVICE", tu_fmt("%s:%s", psub, dsub), 1);
    expect_open("no-such-platform", "", -1);
    setenv("HETC_OPENCL_DEVICE", dsub, 1);
    expect_open("", "", -1);
    setenv("HETC_OPENCL_DEVICE", "nope:nothing", 1);
    expect_open_error("", "", -1, "HETC_OPENCL_DEVICE=nope:nothing");
    setenv("HETC_OPENCL_DEVICE", "1000", 1);
    expect_open_error("", "", -1, "no device 1000");
    unsetenv("HETC_OPENCL_DEVICE");
}

static void test_build_error(void **state)
{
    (void)state;
    need_device();
    static const char broken[] =
        "kernel void broken(global float *x)\n{\n    x[0] = undeclared_thing + 1.0f;\n}\n";
    assert_int_equal(rt_cl_build(&cl, broken, sizeof broken - 1, "", NULL), RT_ERR_FORMAT);
    const char *msg = rt_last_error();
    if (!strstr(msg, "build log") || !strstr(msg, "undeclared_thing"))
        fail_msg("build error without the log: %s", msg);
    assert_null(cl.program);
    assert_string_equal(rt_cl_error_name(CL_INVALID_WORK_GROUP_SIZE), "CL_INVALID_WORK_GROUP_SIZE");
    assert_string_equal(rt_cl_error_name(CL_INVALID_DEVICE_PARTITION_COUNT),
                        "CL_INVALID_DEVICE_PARTITION_COUNT");
    assert_string_equal(rt_cl_error_name(-1001), "CL_PLATFORM_NOT_FOUND_KHR");
    assert_non_null(strstr(rt_cl_error_name(-4242), "-4242"));
    assert_int_equal(rt_cl_check(CL_OUT_OF_RESOURCES, "enqueue"), RT_ERR_IO);
    assert_string_equal(rt_last_error(), "enqueue: CL_OUT_OF_RESOURCES");
    cl_mem m;
    assert_int_equal(rt_cl_buffer(&cl, 0, CL_MEM_READ_WRITE, NULL, &m), RT_ERR_ARG);
    assert_null(m);
}

static void test_measure(void **state)
{
    (void)state;
    need_device();
    double bw, peak;
    if (rt_cl_measure_bandwidth(&cl, (size_t)32 << 20, &bw) != RT_OK)
        fail_msg("%s", rt_last_error());
    if (rt_cl_measure_peak(&cl, &peak) != RT_OK)
        fail_msg("%s", rt_last_error());
    fprintf(stderr, "test_opencl: copy %.1f GB/s, fp32 FMA peak %.1f GFLOP/s\n", bw, peak);
    assert_true(bw > 0.0 && peak > 0.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_template),
        cmocka_unit_test(test_build_error),
        cmocka_unit_test(test_device_selection),
        cmocka_unit_test(test_cache),
        cmocka_unit_test(test_embed_rmsnorm),
        cmocka_unit_test(test_rope_kv_elementwise),
        cmocka_unit_test(test_linear),
        cmocka_unit_test(test_half_exact),
        cmocka_unit_test(test_gemv_fused),
        cmocka_unit_test(test_gemv_xq),
        cmocka_unit_test(test_attention),
        cmocka_unit_test(test_measure),
    };
    return cmocka_run_group_tests(tests, setup_group, teardown_group);
}
