/* test_rt_units.c: the hand-over protocol of rt_units.c: a unit thread runs
 * what is posted to it and reports its status; ready flags order the work
 * of two threads step after step; a failed unit's abort flag ends the
 * other's wait with an error instead of a hang. */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_steps),
        cmocka_unit_test(test_failure),
        cmocka_unit_test(test_wakes_after_sleep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
