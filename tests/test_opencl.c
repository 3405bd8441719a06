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

static size_t gemv_rows(int N, int K, int wg)
{
    int lanes = N >= 4096 ? 32 : K >= 4096 ? 128 : 64;
    return (size_t)(2 * wg / (lanes < wg / 2 ? lanes : wg / 2));
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
        {"common", ""}, {"embed", "H WT"}, {"rmsnorm", "H"}, {"gemv", "N K WT HAS_BIAS NORM EPI N1 N2 HEAD_DIM MAX_S"},
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
    const char *ok[] = {"100", "257", "half", "1", "0", "0", "0", "0", "0", "8", NULL};
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
    {4100, 24, 1, 1}, {10, 4104, 1, 0},     /* the other lane counts of gemv */
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
            size_t g = (size_t)wg * up((size_t)N, gemv_rows(N, K, wg)) / gemv_rows(N, K, wg);
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
                                      "0", "0", "0", "0", "0", "8", NULL}};
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
    Instance inst[2] = {{"gemv", "_x", {"40", "64", "half", "0", "0", "0", "0", "0", "0", "8", NULL}},
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
                run_kernel(k, 1, (size_t[]){256 * ((N + gemv_rows(N, K, 256) - 1) /
                                                   gemv_rows(N, K, 256))}, (size_t[]){256});
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
            SET_ARGS(decode, "mimimimiiiif", arena, part_off, arena, q_off, arena, kc_off, arena,
                     vc_off, S, P, nc, (double)scale);
            run_kernel(decode, 3, (size_t[]){awg * nc, blocks, (size_t)sh->kv_heads},
                       (size_t[]){awg, 1, 1});
            SET_ARGS(combine, "mimiii", arena, o_off, arena, part_off, S, nc);
            run_kernel(combine, 2, (size_t[]){(size_t)sh->head_dim, (size_t)S * sh->heads}, NULL);
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
        cmocka_unit_test(test_attention),
        cmocka_unit_test(test_measure),
    };
    return cmocka_run_group_tests(tests, setup_group, teardown_group);
}
