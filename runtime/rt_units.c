/* rt_units.c: units running at once: a worker thread per unit beside the
 * host, and the ready flags through which units hand results over.
 *
 * Protocol. A step of a plan runs on every unit at the same time: the host
 * thread is the worker of the host unit (with its thread pool), and every
 * other unit has an RtUnitThread that the step posts its part to
 * (rt_unit_post) and then waits for (rt_unit_wait). A hand-over between
 * units is an RtFlag: the producer stores the step's number into it once
 * the consumer may go on (rt_flag_set, release), the consumer polls until
 * the flag reaches that number (rt_flag_wait, acquire): a few thousand
 * polls, a few hundred sched_yields, then (Linux) sleeps on a futex of the
 * flag, which rt_flag_set wakes when someone sleeps there; a sleep lasts at
 * most 1 ms, so a set abort flag is seen within that. Where the producer
 * said when it will set the flag (rt_flag_begin at the start of its work,
 * with the compiler's predicted time: pass schedule's pred_us=), the waiter
 * skips the polls and sleeps until 50 us before then (a set wakes it
 * early), then polls: the unit it waits for gets the cores it shares. A waiting unit never
 * blocks in the driver, never sleeps through a hand-over, and does not
 * steal the cores of the unit it waits for (a unit emulated on CPU threads
 * computes while the host waits). Numbers only grow,
 * so flags need no reset between steps. A unit that fails sets the abort
 * flag, which every wait checks: nobody waits for a hand-over that will
 * not come. An idle RtUnitThread polls for the next post (a step follows
 * the previous one at once in generation), yielding after a few thousand
 * polls, and sleeps on a condition variable after 2 ms.
 *
 * Out of order (rt_part_run). A run of a prompt's chunks of one static
 * plan keeps two chunks in flight: chunk c's flags carry step0 + c and
 * its buffers are those of slot c % 2. Each unit's thread takes, of the
 * next subgraph of its oldest chunk and that of the chunk after, the
 * ready one of the higher score (then the older): a subgraph is ready
 * when the flags it waits for reached its chunk's step; the younger
 * chunk's subgraph i waits for the older's (a unit runs each subgraph in
 * chunk order, so flags still only grow, and a layer's attention follows
 * that of the chunk before); a chunk's first subgraph waits for every
 * part's last of the chunk two before (its buffers). With two candidates
 * blocked the thread polls both (yields, then sleeps 50 us at a time);
 * with one it waits on its flag as rt_flag_wait does.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "hetc_rt.h"
#include "rt_spin.h"

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum {
    SPIN_POLLS = 1 << 12,       /* polls before yielding the core (~50 us) */
    YIELDS = 256,               /* yields before sleeping on the flag */
    UNIT_STACK = 4 << 20,       /* bytes, as the pool's workers */
};
/* An idle unit thread yields between polls this long before it sleeps: a
 * decode step's device work takes about a millisecond, and the next step
 * is posted right after it, so a thread that slept would add a wake-up to
 * every token. */
static const double IDLE_YIELD_S = 2e-3;
/* A waiter told the producer's predicted end (rt_flag_begin) sleeps until
 * this long before it, then polls: a futex wake-up costs tens of
 * microseconds, a poll nothing. */
static const double SPIN_AHEAD_S = 50e-6;

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Sleeps while f->step is 'seen', 'ns' nanoseconds at most (below 1 ms). */
static void flag_sleep(RtFlag *f, uint32_t seen, long ns)
{
    struct timespec ts = {0, ns};
    syscall(SYS_futex, (uint32_t *)&f->step, FUTEX_WAIT_PRIVATE, seen, &ts, NULL, 0);
}

static void flag_wake(RtFlag *f) { syscall(SYS_futex, (uint32_t *)&f->step, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0); }
#else
static void flag_sleep(RtFlag *f, uint32_t seen, long ns) { (void)f, (void)seen, (void)ns, sched_yield(); }
static void flag_wake(RtFlag *f) { (void)f; }
#endif

void rt_flag_set(RtFlag *f, uint32_t step)
{
    atomic_store_explicit(&f->step, step, memory_order_release);
    if (atomic_load_explicit(&f->sleepers, memory_order_seq_cst) > 0) flag_wake(f);
}

/* Seconds this thread has spent waiting in rt_flag_wait. */
static _Thread_local double waited;

double rt_flag_waited(void) { return waited; }

void rt_flag_begin(RtFlag *f, uint32_t step, double us)
{
    atomic_store_explicit(&f->due_s, rt_now() + us * 1e-6, memory_order_relaxed);
    atomic_store_explicit(&f->due_step, step, memory_order_release);
}

RtStatus rt_flag_wait(RtFlag *f, uint32_t step, const atomic_int *abort)
{
    if ((int32_t)(atomic_load_explicit(&f->step, memory_order_acquire) - step) >= 0) return RT_OK;
    double t0 = rt_now();
    /* the producer's predicted end, where it said (rt_flag_begin): sleep until SPIN_AHEAD_S before it */
    double due = atomic_load_explicit(&f->due_step, memory_order_acquire) == step
                     ? atomic_load_explicit(&f->due_s, memory_order_relaxed) - SPIN_AHEAD_S : 0;
    if (due <= t0) due = 0;
    RtStatus st = RT_OK;
    for (unsigned i = due > 0 ? SPIN_POLLS + YIELDS : 0;; i++) {
        uint32_t seen = atomic_load_explicit(&f->step, memory_order_acquire);
        if ((int32_t)(seen - step) >= 0) break;
        if (atomic_load_explicit(abort, memory_order_relaxed)) {
            rt_set_error("another unit failed during this step");
            st = RT_ERR_THREAD;
            break;
        }
        if (i < SPIN_POLLS) {
            rt_cpu_relax();
        } else if (i < SPIN_POLLS + YIELDS) {
            sched_yield();
        } else {
            double left = due - rt_now();     /* before the predicted end: sleep up to it, then poll again */
            atomic_fetch_add(&f->sleepers, 1);     /* seq_cst: rt_flag_set sees it or we see its step */
            if (atomic_load(&f->step) == seen) flag_sleep(f, seen, left > 0 && left < 1e-3 ? (long)(left * 1e9) : 1000000);
            atomic_fetch_sub(&f->sleepers, 1);
            if (due > 0 && left < 1e-3) due = 0, i = 0;
        }
    }
    waited += rt_now() - t0;
    return st;
}

struct RtUnitThread {
    pthread_t thread;
    RtUnitFn fn;                /* the part of the current step */
    void *arg;
    RtStatus status;            /* what fn returned */
    char error[256];            /* and its rt_last_error() */
    atomic_uint posted;         /* steps posted */
    atomic_uint done;           /* steps finished */
    atomic_bool asleep;         /* the thread blocks (or is about to) on 'wake' */
    atomic_bool stop;
    pthread_mutex_t lock;
    pthread_cond_t wake;
};

/* Waits until a step after 'seen' is posted (spin, then sleep; the
 * sleeper announces itself before its last check, as in rt_pool.c). */
static unsigned next_post(RtUnitThread *u, unsigned seen)
{
    for (int i = 0; i < SPIN_POLLS; i++) {
        unsigned p = atomic_load_explicit(&u->posted, memory_order_acquire);
        if (p != seen) return p;
        rt_cpu_relax();
    }
    for (double t0 = rt_now(); rt_now() - t0 < IDLE_YIELD_S && !atomic_load(&u->stop);) {
        unsigned p = atomic_load_explicit(&u->posted, memory_order_acquire);
        if (p != seen) return p;
        sched_yield();
    }
    pthread_mutex_lock(&u->lock);
    atomic_store(&u->asleep, true);
    unsigned p;
    while ((p = atomic_load(&u->posted)) == seen && !atomic_load(&u->stop)) pthread_cond_wait(&u->wake, &u->lock);
    atomic_store(&u->asleep, false);
    pthread_mutex_unlock(&u->lock);
    return p;
}

static void *unit_main(void *p)
{
    RtUnitThread *u = p;
    unsigned seen = 0;
    for (;;) {
        seen = next_post(u, seen);
        if (atomic_load(&u->stop)) break;
        u->status = u->fn(u->arg);
        if (u->status != RT_OK) snprintf(u->error, sizeof u->error, "%s", rt_last_error());
        atomic_store_explicit(&u->done, seen, memory_order_release);
    }
    return NULL;
}

RtStatus rt_unit_create(RtUnitThread **out)
{
    *out = NULL;
    RtUnitThread *u = rt_alloc(sizeof *u);
    if (!u) return RT_ERR_NOMEM;
    pthread_mutex_init(&u->lock, NULL);
    pthread_cond_init(&u->wake, NULL);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, UNIT_STACK);
    int rc = pthread_create(&u->thread, &attr, unit_main, u);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        pthread_cond_destroy(&u->wake);
        pthread_mutex_destroy(&u->lock);
        rt_free(u);
        rt_set_error("cannot start a unit's worker thread");
        return RT_ERR_THREAD;
    }
    *out = u;
    return RT_OK;
}

static void wake(RtUnitThread *u)
{
    if (atomic_load(&u->asleep)) {
        pthread_mutex_lock(&u->lock);
        pthread_cond_signal(&u->wake);
        pthread_mutex_unlock(&u->lock);
    }
}

void rt_unit_post(RtUnitThread *u, RtUnitFn fn, void *arg)
{
    u->fn = fn;
    u->arg = arg;
    atomic_fetch_add(&u->posted, 1);   /* seq_cst: against the sleeper's 'asleep' then 'posted' */
    wake(u);
}

RtStatus rt_unit_wait(RtUnitThread *u)
{
    unsigned want = atomic_load(&u->posted);
    for (unsigned i = 0; atomic_load_explicit(&u->done, memory_order_acquire) != want; i++) {
        if (i < SPIN_POLLS) rt_cpu_relax();
        else sched_yield();
    }
    if (u->status != RT_OK) rt_set_error("%s", u->error);
    return u->status;
}

void rt_unit_destroy(RtUnitThread *u)
{
    if (!u) return;
    pthread_mutex_lock(&u->lock);
    atomic_store(&u->stop, true);
    pthread_cond_signal(&u->wake);
    pthread_mutex_unlock(&u->lock);
    pthread_join(u->thread, NULL);
    pthread_cond_destroy(&u->wake);
    pthread_mutex_destroy(&u->lock);
    rt_free(u);
}

/* Whether flag f has reached step (acquire: what its setter wrote is seen). */
static int reached(RtFlag *f, uint32_t step)
{
    return (int32_t)(atomic_load_explicit(&f->step, memory_order_acquire) - step) >= 0;
}

/* The first flag that subgraph i of the part still waits for to run for
 * chunk c, and the value it waits for; NULL when the subgraph is ready. */
static RtFlag *part_blocker(const RtRun *run, const RtPart *p, int c, int i, uint32_t *want)
{
    uint32_t step = run->step0 + (uint32_t)c;
    for (int w = p->wait_at[i]; w < p->wait_at[i + 1]; w++)
        if (!reached(&run->flags[p->wait[w]], step)) return *want = step, &run->flags[p->wait[w]];
    for (int l = 0; i == 0 && c >= 2 && l < run->nlast; l++)
        if (!reached(&run->flags[run->last[l]], step - 2)) return *want = step - 2, &run->flags[run->last[l]];
    return NULL;
}

RtStatus rt_part_run(const RtRun *run, const RtPart *p, RtSubFn fn, void *model)
{
    int old = 0, next[2] = {0, 0};      /* the oldest chunk not done here; next subgraph per slot */
    unsigned polls = 0;
    double t0 = 0;
    while (old < run->nchunks) {
        int cand[2], nc = 0;
        cand[nc++] = old;
        if (old + 1 < run->nchunks && next[(old + 1) & 1] < next[old & 1]) cand[nc++] = old + 1;
        int pick = -1;
        uint32_t want;
        for (int k = 0; k < nc; k++) {
            int c = cand[k];
            if (part_blocker(run, p, c, next[c & 1], &want)) continue;
            if (pick < 0 || p->score[next[c & 1]] > p->score[next[pick & 1]]) pick = c;
        }
        if (pick < 0) {
            if (atomic_load_explicit(run->abort, memory_order_relaxed)) {
                rt_set_error("another unit failed during this step");
                return RT_ERR_THREAD;
            }
            if (!polls++) t0 = rt_now();
            if (nc == 1) {
                RtFlag *f = part_blocker(run, p, old, next[old & 1], &want);
                RtStatus st = f ? rt_flag_wait(f, want, run->abort) : RT_OK;
                polls = 0;      /* rt_flag_wait counted its own time */
                if (st != RT_OK) return st;
            } else if (polls < SPIN_POLLS) {
                rt_cpu_relax();
            } else if (polls < SPIN_POLLS + YIELDS) {
                sched_yield();
            } else {
                struct timespec us50 = {0, 50000};
                nanosleep(&us50, NULL);
            }
            continue;
        }
        if (polls) waited += rt_now() - t0, polls = 0;
        int i = next[pick & 1];
        rt_flag_begin(&run->flags[p->flag[i]], run->step0 + (uint32_t)pick, p->us[i]);
        const double start = run->times ? rt_now() : 0;
        RtStatus st = fn(model, pick, i);
        if (st != RT_OK) return st;
        if (run->times) rt_sub_time(&run->times[p->flag[i]], start, run->rows, run->pos0 + pick * run->rows);
        rt_flag_set(&run->flags[p->flag[i]], run->step0 + (uint32_t)pick);
        if (++next[pick & 1] == p->nsub) {      /* only the oldest chunk completes: the younger lags */
            next[pick & 1] = 0;
            old++;
        }
    }
    return RT_OK;
}

void rt_sub_time(RtSubTime *t, double t0, int rows, int pos)
{
    t->us += (rt_now() - t0) * 1e6;
    t->rows += rows;
    t->pos += pos;
    t->runs++;
}
