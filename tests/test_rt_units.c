/* test_rt_units.c: the hand-over protocol of rt_units.c: a unit thread runs
 * what is posted to it and reports its status; ready flags order the work
 * of two threads step after step; a failed unit's abort flag ends the
 * other's wait with an error instead of a hang; rt_part_run runs a
 * prompt's chunks out of order: every subgraph once, after what it waits
 * for in its chunk, after itself in the chunk before, after the chunk two
 * before (the buffers), a younger chunk's work while the older waits, and
 * a failed part's abort ends the other's run; a waiter told the
 * producer's predicted end sleeps, and the set wakes it before that end. */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "testutil.h"
#include "hetc_rt.h"

enum { STEPS = 2000, N = 64 };

/* Two units pass a buffer back and forth: the device doubles what the host
 * wrote, the host adds one to what the device wrote, each after the
 * other's flag. */
typedef struct {
    RtFlag to_device, to_host;
    atomic_int abort;
    uint32_t step;
    int data[N];
    int fail_at;            /* step at which the device part fails, 0: never */
} Shared;

static RtStatus device_part(void *arg)
{
    Shared *s = arg;
    RtStatus st = rt_flag_wait(&s->to_device, s->step, &s->abort);
    if (st != RT_OK) return st;
    if ((int)s->step == s->fail_at) {
        rt_set_error("device failed at step %u", s->step);
        atomic_store(&s->abort, 1);
        return RT_ERR_IO;
    }
    for (int i = 0; i < N; i++) s->data[i] *= 2;
    rt_flag_set(&s->to_host, s->step);
    return RT_OK;
}

static void test_steps(void **state)
{
    RtUnitThread *u;
    assert_int_equal(rt_unit_create(&u), RT_OK);
    Shared s = {0};
    for (int step = 1; step <= STEPS; step++) {
        s.step = (uint32_t)step;
        rt_unit_post(u, device_part, &s);
        for (int i = 0; i < N; i++) s.data[i] = step + i;
        rt_flag_set(&s.to_device, s.step);
        assert_int_equal(rt_flag_wait(&s.to_host, s.step, &s.abort), RT_OK);
        for (int i = 0; i < N; i++) assert_int_equal(s.data[i], 2 * (step + i));
        assert_int_equal(rt_unit_wait(u), RT_OK);
    }
    rt_unit_destroy(u);
}

/* The device fails: its status and message come back through
 * rt_unit_wait, and the host's wait for its hand-over returns an error. */
static void test_failure(void **state)
{
    RtUnitThread *u;
    assert_int_equal(rt_unit_create(&u), RT_OK);
    Shared s = {.fail_at = 3};
    RtStatus host = RT_OK, dev = RT_OK;
    for (int step = 1; step <= 3; step++) {
        s.step = (uint32_t)step;
        rt_unit_post(u, device_part, &s);
        rt_flag_set(&s.to_device, s.step);
        host = rt_flag_wait(&s.to_host, s.step, &s.abort);
        dev = rt_unit_wait(u);
    }
    assert_int_equal(host, RT_ERR_THREAD);
    assert_int_equal(dev, RT_ERR_IO);
    assert_string_equal(rt_last_error(), "device failed at step 3");
    rt_unit_destroy(u);
}

/* A thread that has gone to sleep (idle past its polling time) still
 * takes the next post. */
static void test_wakes_after_sleep(void **state)
{
    RtUnitThread *u;
    assert_int_equal(rt_unit_create(&u), RT_OK);
    Shared s = {0};
    for (int step = 1; step <= 3; step++) {
        struct timespec ts = {0, 20 * 1000 * 1000};     /* 20 ms: past the 2 ms of polling */
        nanosleep(&ts, NULL);
        s.step = (uint32_t)step;
        rt_unit_post(u, device_part, &s);
        rt_flag_set(&s.to_device, s.step);
        assert_int_equal(rt_unit_wait(u), RT_OK);
    }
    rt_unit_destroy(u);
}

/* The producer says its work takes 200 ms (rt_flag_begin), then sets the
 * flag after 1 ms: the waiter, asleep until shortly before the predicted
 * end, is woken by the set, long before it. */
static RtStatus early_producer(void *arg)
{
    Shared *s = arg;
    rt_flag_begin(&s->to_host, s->step, 200e3);
    rt_flag_set(&s->to_device, s->step);
    struct timespec ms = {0, 1000 * 1000};
    nanosleep(&ms, NULL);
    rt_flag_set(&s->to_host, s->step);
    return RT_OK;
}

static void test_predicted_sleep(void **state)
{
    RtUnitThread *u;
    assert_int_equal(rt_unit_create(&u), RT_OK);
    Shared s = {.step = 1};
    rt_unit_post(u, early_producer, &s);
    assert_int_equal(rt_flag_wait(&s.to_device, 1, &s.abort), RT_OK);    /* rt_flag_begin has run */
    double t0 = rt_now();
    assert_int_equal(rt_flag_wait(&s.to_host, 1, &s.abort), RT_OK);
    assert_true(rt_now() - t0 < 0.1);
    assert_int_equal(rt_unit_wait(u), RT_OK);
    rt_unit_destroy(u);
}

/* A chunk plan of four subgraphs: 0 on the host (feeds the npu: score 5),
 * 1 on the npu (reads 0), 2 on the host (reads 1), 3 on the npu (reads 2).
 * Each subgraph checks, as it starts, that what must have run did. */
enum { CHUNKS = 6, SUBS = 4 };
static const uint16_t host_flag[] = {0, 2}, npu_flag[] = {1, 3};
static const float host_score[] = {5, 0}, npu_score[] = {0, 0}, host_us[] = {50, 100}, npu_us[] = {2000, 100};
static const uint16_t host_wait_at[] = {0, 0, 1}, host_wait[] = {1}, npu_wait_at[] = {0, 1, 2}, npu_wait[] = {0, 2};
static const RtPart host_part = {2, host_flag, host_score, host_us, host_wait_at, host_wait};
static const RtPart npu_part = {2, npu_flag, npu_score, npu_us, npu_wait_at, npu_wait};
static const uint16_t last_subs[] = {2, 3};

typedef struct {
    RtFlag flags[SUBS];
    atomic_int abort;
    RtRun run;
    atomic_int done[CHUNKS][SUBS];
    atomic_int log[CHUNKS * SUBS][2];   /* (chunk, subgraph) in the order they started */
    atomic_int nlog, bad;
    int fail_chunk;                     /* the npu fails at this chunk's subgraph 1, -1: never */
    RtSubTime *times;                   /* NULL, or [SUBS] the subgraphs' times (model --profile) */
    char why[128];
} Ooo;

static RtStatus run_sub(Ooo *o, int c, int k)
{
    static const int wait_of[SUBS] = {-1, 0, 1, 2};
    int at = atomic_fetch_add(&o->nlog, 1);
    atomic_store(&o->log[at][0], c), atomic_store(&o->log[at][1], k);
    if (wait_of[k] >= 0 && !atomic_load(&o->done[c][wait_of[k]]))
        snprintf(o->why, sizeof o->why, "chunk %d subgraph %d before its input %d", c, k, wait_of[k]), atomic_store(&o->bad, 1);
    if (c > 0 && !atomic_load(&o->done[c - 1][k]))
        snprintf(o->why, sizeof o->why, "chunk %d subgraph %d before the chunk before's", c, k), atomic_store(&o->bad, 1);
    if (c >= 2 && (!atomic_load(&o->done[c - 2][2]) || !atomic_load(&o->done[c - 2][3])))
        snprintf(o->why, sizeof o->why, "chunk %d subgraph %d while chunk %d runs", c, k, c - 2), atomic_store(&o->bad, 1);
    if (k == 1) {           /* the npu's slow graph */
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
        if (c == o->fail_chunk) {
            rt_set_error("npu failed at chunk %d", c);
            return RT_ERR_IO;
        }
    }
    atomic_store(&o->done[c][k], 1);
    return RT_OK;
}

static RtStatus host_sub(void *m, int c, int i) { return run_sub(m, c, host_flag[i]); }
static RtStatus npu_sub(void *m, int c, int i) { return run_sub(m, c, npu_flag[i]); }

static RtStatus npu_thread(void *arg)
{
    Ooo *o = arg;
    RtStatus st = rt_part_run(&o->run, &npu_part, npu_sub, o);
    if (st != RT_OK) atomic_store(&o->abort, 1);
    return st;
}

static void run_chunks(Ooo *o, RtStatus *host, RtStatus *npu)
{
    RtUnitThread *u;
    assert_int_equal(rt_unit_create(&u), RT_OK);
    o->run = (RtRun){o->flags, last_subs, 2, 1, CHUNKS, &o->abort, o->times, 32, 100};
    rt_unit_post(u, npu_thread, o);
    *host = rt_part_run(&o->run, &host_part, host_sub, o);
    if (*host != RT_OK) atomic_store(&o->abort, 1);
    *npu = rt_unit_wait(u);
    rt_unit_destroy(u);
}

static void test_out_of_order(void **state)
{
    static Ooo o;
    memset(&o, 0, sizeof o);
    o.fail_chunk = -1;
    RtStatus host, npu;
    run_chunks(&o, &host, &npu);
    assert_int_equal(host, RT_OK);
    assert_int_equal(npu, RT_OK);
    if (atomic_load(&o.bad)) fail_msg("%s", o.why);
    assert_int_equal(atomic_load(&o.nlog), CHUNKS * SUBS);
    for (int c = 0; c < CHUNKS; c++)
        for (int k = 0; k < SUBS; k++) assert_true(atomic_load(&o.done[c][k]));
    int next0 = -1, attn0 = -1;     /* chunk 1's subgraph 0 starts while chunk 0's npu graph runs */
    for (int i = 0; i < CHUNKS * SUBS; i++) {
        if (o.log[i][0] == 1 && o.log[i][1] == 0) next0 = i;
        if (o.log[i][0] == 0 && o.log[i][1] == 2) attn0 = i;
    }
    assert_true(next0 >= 0 && attn0 >= 0 && next0 < attn0);
    assert_int_equal(atomic_load(&o.flags[3].step), CHUNKS);     /* chunk c's flags carry step0 + c */
}

/* With a table of subgraph times, each subgraph adds its runs there: one
 * per chunk, the chunk's rows and position (32 rows a chunk from 100), and
 * the npu's graph its 2 ms sleep each. */
static void test_out_of_order_times(void **state)
{
    static Ooo o;
    static RtSubTime t[SUBS];
    memset(&o, 0, sizeof o);
    memset(t, 0, sizeof t);
    o.fail_chunk = -1;
    o.times = t;
    RtStatus host, npu;
    run_chunks(&o, &host, &npu);
    assert_int_equal(host, RT_OK);
    assert_int_equal(npu, RT_OK);
    for (int k = 0; k < SUBS; k++) {
        assert_int_equal(t[k].runs, CHUNKS);
        assert_true(t[k].rows == 32.0 * CHUNKS);
        assert_true(t[k].pos == CHUNKS * 100.0 + 32.0 * (CHUNKS * (CHUNKS - 1) / 2));
    }
    assert_true(t[1].us >= CHUNKS * 2000.0 && t[1].us < CHUNKS * 200000.0);
    assert_true(t[0].us < t[1].us);
}

static void test_out_of_order_failure(void **state)
{
    static Ooo o;
    memset(&o, 0, sizeof o);
    o.fail_chunk = 3;
    RtStatus host, npu;
    run_chunks(&o, &host, &npu);
    assert_int_equal(npu, RT_ERR_IO);
    assert_int_equal(host, RT_ERR_THREAD);
    assert_string_equal(rt_last_error(), "npu failed at chunk 3");
    assert_false(atomic_load(&o.done[3][1]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_steps),
        cmocka_unit_test(test_failure),
        cmocka_unit_test(test_wakes_after_sleep),
        cmocka_unit_test(test_predicted_sleep),
        cmocka_unit_test(test_out_of_order),
        cmocka_unit_test(test_out_of_order_times),
        cmocka_unit_test(test_out_of_order_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
