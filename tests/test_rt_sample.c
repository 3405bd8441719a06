/* test_rt_sample.c: the sampler (rt_sampler_*): greedy picks, top-k = 1,
 * seed repeatability, the repeat penalty, and the top-p / min-p cut-offs on
 * crafted logits. */
#include "testutil.h"
#include "hetc_rt_sample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { VOCAB = 8, DRAWS = 4000 };

static const RtSamplerParams defaults = {
    .temp = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f, .repeat_penalty = 1.0f, .repeat_last_n = 64,
    .seed = 42,
};

static RtSampler *make(RtSamplerParams p)
{
    RtSampler *s;
    if (rt_sampler_create(&s, &p, VOCAB) != RT_OK)
        fail_msg("rt_sampler_create: %s", rt_last_error());
    return s;
}

/* One sample of a fresh copy of logits (the sampler changes them). */
static int32_t draw(RtSampler *s, const float *logits, const int32_t *history, int n_history)
{
    float copy[VOCAB];
    memcpy(copy, logits, sizeof copy);
    return rt_sampler_sample(s, copy, history, n_history);
}

/* How often each id comes out in DRAWS samples. */
static void histogram(RtSamplerParams p, const float *logits, int *count)
{
    RtSampler *s = make(p);
    memset(count, 0, VOCAB * sizeof *count);
    for (int i = 0; i < DRAWS; i++) {
        int32_t id = draw(s, logits, NULL, 0);
        assert_true(id >= 0 && id < VOCAB);
        count[id]++;
    }
    rt_sampler_destroy(s);
}

static void test_greedy(void **state)
{
    (void)state;
    static const float logits[VOCAB] = {0.5f, 2.0f, -1.0f, 3.0f, 3.0f, 0.0f, 1.0f, -4.0f};
    RtSamplerParams p = defaults;
    p.temp = 0.0f;
    RtSampler *s = make(p);
    for (int i = 0; i < 10; i++)
        assert_int_equal(draw(s, logits, NULL, 0), 3);     /* ties to the lowest id */
    rt_sampler_destroy(s);

    p = defaults;
    p.top_k = 1;
    s = make(p);
    for (int i = 0; i < 10; i++)
        assert_int_equal(draw(s, logits, NULL, 0), 3);
    rt_sampler_destroy(s);
}

static void test_seed(void **state)
{
    (void)state;
    static const float logits[VOCAB] = {1.0f, 1.1f, 0.9f, 1.2f, 0.8f, 1.0f, 1.05f, 0.95f};
    RtSamplerParams p = defaults;
    p.min_p = 0.0f;
    p.top_p = 1.0f;
    RtSampler *a = make(p), *b = make(p);
    p.seed = 43;
    RtSampler *c = make(p);
    int differs = 0, seen[VOCAB] = {0};
    for (int i = 0; i < 200; i++) {
        int32_t x = draw(a, logits, NULL, 0), y = draw(b, logits, NULL, 0), z = draw(c, logits, NULL, 0);
        assert_int_equal(x, y);
        differs |= x != z;
        seen[x] = 1;
    }
    assert_true(differs);
    for (int i = 0; i < VOCAB; i++)
        assert_true(seen[i]);       /* near-uniform logits: every id comes out */
    rt_sampler_destroy(a);
    rt_sampler_destroy(b);
    rt_sampler_destroy(c);
}

/* logit > 0 is divided by the penalty, < 0 multiplied; once per id, and
 * only over the last repeat_last_n tokens. */
static void test_repeat_penalty(void **state)
{
    (void)state;
    RtSamplerParams p = defaults;
    p.temp = 0.0f;
    p.repeat_penalty = 2.0f;
    p.repeat_last_n = 3;
    RtSampler *s = make(p);
    float logits[VOCAB] = {3.0f, 2.0f, -1.0f, -1.5f, 0.0f, 0.0f, 0.0f, 0.0f};
    static const int32_t history[] = {3, 0, 2, 0, 0};
    assert_int_equal(rt_sampler_sample(s, logits, history, 5), 1);
    assert_true(logits[0] == 1.5f);
    assert_true(logits[2] == -2.0f);
    assert_true(logits[3] == -1.5f);    /* older than the last 3 */
    assert_true(logits[1] == 2.0f);
    float again[VOCAB] = {3.0f, 2.0f, -1.0f, -1.5f, 0.0f, 0.0f, 0.0f, 0.0f};
    assert_int_equal(rt_sampler_sample(s, again, history, 5), 1);
    assert_true(again[0] == 1.5f);      /* the marks were cleared */
    rt_sampler_destroy(s);

    p.repeat_penalty = 1.0f;
    s = make(p);
    float none[VOCAB] = {3.0f, 2.0f};
    assert_int_equal(rt_sampler_sample(s, none, history, 5), 0);
    rt_sampler_destroy(s);
}

/* How often each id comes out at temp 1 when the probabilities halve from
 * id to id (0.5, 0.25, 0.125, ...), with the given cut-offs. */
static void halving_histogram(int top_k, float top_p, float min_p, int *count)
{
    float logits[VOCAB];
    for (int i = 0; i < VOCAB; i++)
        logits[i] = -(float)i * logf(2.0f);
    RtSamplerParams p = defaults;
    p.temp = 1.0f;
    p.top_k = top_k;
    p.top_p = top_p;
    p.min_p = min_p;
    histogram(p, logits, count);
}

static void test_top_p(void **state)
{
    (void)state;
    int count[VOCAB];
    halving_histogram(0, 0.7f, 0.0f, count);    /* 0.5 + 0.25 reach it: ids 0 and 1 */
    assert_true(count[0] > 0 && count[1] > 0);
    assert_int_equal(count[0] + count[1], DRAWS);
    assert_true(fabs(count[0] / (double)DRAWS - 2.0 / 3.0) < 0.05);     /* renormalised */
    halving_histogram(0, 0.5f, 0.0f, count);    /* the first alone reaches it */
    assert_int_equal(count[0], DRAWS);
}

static void test_min_p(void **state)
{
    (void)state;
    int count[VOCAB];
    halving_histogram(0, 1.0f, 0.2f, count);    /* keeps p >= 0.1: ids 0, 1, 2 */
    assert_true(count[2] > 0);
    assert_int_equal(count[0] + count[1] + count[2], DRAWS);
    halving_histogram(2, 1.0f, 0.0f, count);    /* top-k 2 */
    assert_int_equal(count[0] + count[1], DRAWS);
    halving_histogram(0, 1.0f, 0.0f, count);    /* nothing cut: even id 5 (p = 1/64) comes */
    assert_true(count[5] > 0);
}

static void test_create_errors(void **state)
{
    (void)state;
    RtSampler *s;
    assert_int_equal(rt_sampler_create(&s, &defaults, 0), RT_ERR_ARG);
    assert_null(s);
    assert_non_null(strstr(rt_last_error(), "vocabulary"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy),
        cmocka_unit_test(test_seed),
        cmocka_unit_test(test_repeat_penalty),
        cmocka_unit_test(test_top_p),
        cmocka_unit_test(test_min_p),
        cmocka_unit_test(test_create_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
