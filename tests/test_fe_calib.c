/* test_fe_calib.c: calibration statistics and calib.json.
 *
 * A one-linear graph (embed -> linear -> output) is fed known rows: the
 * statistics must be exact (max|x|, p99.9 over every element and per
 * channel, against a sort done here), the error sums consistent (no
 * clipping past max|x|, so both sums agree there; clipping grows as tau
 * falls), runs deterministic, and calib.json must read back to the same
 * numbers. Bad calib.json files are errors naming the file and the key.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "../compiler/fe.h"

enum { V = 50, K = 24, N = V, T = 3000 };   /* the output is the vocabulary: N = V */

static float table[V * K], w[N * K];

static const float *weights(void *user, const char *name)
{
    (void)user;
    return !strcmp(name, "table") ? table : !strcmp(name, "w") ? w : NULL;
}

static void build(IrGraph *g)
{
    ir_graph_init(g, "calib-test", "llama");
    ir_graph_set_int(g, "vocab", N);
    ir_graph_set_int(g, "max_chunk", 64);
    ir_graph_set_int(g, "max_ctx", 512);
    int64_t s = IR_DIM_S, tdim[2] = {V, K}, wdim[2] = {N, K}, xdim[2] = {IR_DIM_S, K}, ydim[2] = {IR_DIM_S, N};
    int ids = ir_add(g, IR_OP_INPUT, 0, NULL, 1, &s, IR_I32, -1, "ids");
    int tab = ir_add(g, IR_OP_WEIGHT, 0, NULL, 2, tdim, IR_F32, -1, "table");
    ir_set_str(&g->nodes[tab], "name", "table");
    int in[2] = {ids, tab};
    int x = ir_add(g, IR_OP_EMBED, 2, in, 2, xdim, IR_F32, -1, "embed");
    int wn = ir_add(g, IR_OP_WEIGHT, 0, NULL, 2, wdim, IR_F32, 0, "w");
    ir_set_str(&g->nodes[wn], "name", "w");
    int in2[2] = {x, wn};
    int y = ir_add(g, IR_OP_LINEAR, 2, in2, 2, ydim, IR_F32, 0, "l0.proj");
    ir_add(g, IR_OP_OUTPUT, 1, &y, 2, ydim, IR_F32, -1, "out");
}

static int by_value(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* The r-th largest of v[n] (1-based). */
static float rank_from_top(float *v, int n, int r)
{
    qsort(v, (size_t)n, sizeof *v, by_value);
    return v[n - r];
}

static int32_t ids[T];

static void run(FeCalib *c)
{
    IrGraph g;
    build(&g);
    char err[512];
    if (fe_calib_run(c, &g, weights, NULL, ids, T, 100, err, sizeof err)) fail_msg("calibration: %s", err);
    ir_graph_free(&g);
}

static void setup_data(void)
{
    uint32_t r = 7;
    for (int i = 0; i < V * K; i++) {
        r = r * 1664525u + 1013904223u;
        table[i] = ((float)(r >> 8) / 16777216.0f - 0.5f) * ((i % K) == 5 ? 30.0f : 2.0f);
    }
    for (int i = 0; i < N * K; i++) w[i] = (float)((i * 7) % 11) / 11.0f - 0.45f;
    for (int t = 0; t < T; t++) ids[t] = (t * 13 + t / 7) % V;
}

static void test_exact_statistics(void **state)
{
    setup_data();
    FeCalib c;
    run(&c);
    assert_int_equal(c.tokens, T);
    assert_int_equal(c.nin, 1);
    assert_int_equal(c.nlin, 1);
    const FeCalibInput *in = &c.in[0];
    float *all = malloc((size_t)T * K * sizeof *all), *ch = malloc(T * sizeof *ch);
    for (int t = 0; t < T; t++)
        for (int k = 0; k < K; k++) all[t * K + k] = fabsf(table[ids[t] * K + k]);
    float mx = 0;
    for (int i = 0; i < T * K; i++) mx = all[i] > mx ? all[i] : mx;
    assert_true(in->max == mx);
    assert_true(in->p999 == rank_from_top(all, T * K, T * K / 1000 + 1));
    for (int k = 0; k < K; k++) {
        float cm = 0;
        for (int t = 0; t < T; t++) {
            ch[t] = fabsf(table[ids[t] * K + k]);
            cm = ch[t] > cm ? ch[t] : cm;
        }
        assert_true(in->ch_max[k] == cm);
        assert_true(in->ch_p999[k] == rank_from_top(ch, T, T / 1000 + 1));
    }
    const FeCalibLinear *l = fe_calib_linear(&c, "w");
    assert_non_null(l);
    assert_true(l->ynorm > 0);
    for (int j = 0; j < FE_CALIB_TAU; j++) {
        assert_true(l->err_clip[j] >= l->err_round[j]);
        if (fe_calib_tau(j) >= mx) assert_true(l->err_clip[j] == l->err_round[j]);     /* nothing clipped */
        if (j && fe_calib_tau(j) <= mx / 4) assert_true(l->err_clip[j - 1] > l->err_clip[j]);  /* clipping dominates */
    }
    free(all);
    free(ch);
    FeCalib again;
    run(&again);
    assert_memory_equal(again.in[0].ch_p999, in->ch_p999, K * sizeof(float));
    assert_memory_equal(again.lin[0].err_clip, l->err_clip, sizeof l->err_clip);
    fe_calib_free(&again);
    fe_calib_free(&c);
}

static void test_save_load(void **state)
{
    setup_data();
    FeCalib c, back;
    run(&c);
    const char *path = tu_fmt("%s/calib.json", tu_tmpdir("fe-calib"));
    char err[512];
    if (fe_calib_save(&c, path, err, sizeof err)) fail_msg("%s", err);
    if (fe_calib_load(&back, path, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(back.tokens, c.tokens);
    assert_string_equal(back.in[0].name, c.in[0].name);
    assert_true(back.in[0].p999 == c.in[0].p999);
    assert_memory_equal(back.in[0].ch_max, c.in[0].ch_max, K * sizeof(float));
    for (int j = 0; j < FE_CALIB_TAU; j++)
        assert_true(fabs(back.lin[0].err_clip[j] - c.lin[0].err_clip[j]) <= 1e-12 * fabs(c.lin[0].err_clip[j]));
    fe_calib_free(&back);
    fe_calib_free(&c);
}

static void expect_load_error(const char *text, const char *want)
{
    const char *path = tu_fmt("%s/bad.json", tu_tmpdir("fe-calib-bad"));
    tu_write_file(path, text, strlen(text));
    FeCalib c;
    char err[512] = "";
    assert_int_equal(fe_calib_load(&c, path, err, sizeof err), -1);
    if (!strstr(err, want)) fail_msg("'%s': got [%s], want [...%s...]", text, err, want);
}

static void test_bad_files(void **state)
{
    expect_load_error("[1, 2]", "bad.json: the top level is not an object");
    expect_load_error("{\"format\": \"x\"}", "bad.json: key 'format' must be \"hetc-calib 1\"");
    expect_load_error("{\"format\": \"hetc-calib 1\", \"tokens\": \"many\"}",
                      "bad.json: calibration: key 'tokens' is missing or not a number");
    expect_load_error("{\"format\": \"hetc-calib 1\", \"tokens\": 5, \"tau\": [1, 2]}",
                      "bad.json: calibration: key 'tau' must be an array of 224 numbers");
    expect_load_error("{\"format\": \"hetc-calib 1\"", "bad.json: cannot read or not JSON");
    char err[512] = "";
    FeCalib c;
    assert_int_equal(fe_calib_load(&c, "/nonexistent/calib.json", err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/calib.json: cannot read"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_statistics),
        cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_bad_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
