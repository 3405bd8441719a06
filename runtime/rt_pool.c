/* rt_pool.c: the persistent worker pool behind every multithreaded kernel.
 *
 * rt_pool_run publishes (fn, arg) and bumps an atomic generation counter;
 * workers spin on that counter for a short while (dispatch then costs well
 * under a microsecond) and fall back to sleeping on a condition variable.
 * The caller runs its own share as thread 0, then waits the same way (spin,
 * then sleep) until the workers' pending count drops to zero. Bounded spins
 * keep an oversubscribed machine usable. Calls must not be nested or
 * concurrent. A NULL pool counts as one thread: rt_pool_run(NULL, ...) calls
 * fn(arg, 0, 1). */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "hetc_rt.h"
#include "rt_spin.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

enum {
    SPIN_WORK = 1 << 12,        /* polls of 'generation' before a worker sleeps (~50 us) */
    SPIN_DONE = 1 << 12,        /* polls of 'pending' before the caller sleeps (~50 us) */
    WORKER_STACK = 4 << 20,     /* bytes; kernels keep packing buffers on the stack */
};

typedef struct {
    RtPool *pool;
    int ith;                    /* 1..nth-1 */
} RtWorker;

struct RtPool {
    int nth;                    /* threads, the caller included */
    pthread_t *threads;         /* [nth - 1] */
    RtWorker *workers;          /* [nth - 1] */
    RtTaskFn fn;                /* task of the current generation */
    void *arg;
    atomic_uint generation;     /* bumped by every rt_pool_run */
    atomic_int pending;         /* workers still inside the current task */
    atomic_int sleepers;        /* workers blocked (or about to block) on 'wake' */
    atomic_bool caller_asleep;  /* the caller blocks (or is about to) on 'done' */
    atomic_bool stop;           /* set once by rt_pool_destroy */
    pthread_mutex_t lock;       /* guards sleeping on 'wake' and 'done' */
    pthread_cond_t wake;        /* a new generation started */
    pthread_cond_t done;        /* pending reached zero */
};

/* Waits until the generation differs from 'seen'; returns the new one. A
 * sleeper counts itself in 'sleepers' before its last check (under the
 * lock), and rt_pool_run reads 'sleepers' after bumping the generation, so
 * one of the two always sees the other (both are seq_cst). */
static unsigned wait_for_work(RtPool *pool, unsigned seen)
{
    for (int i = 0; i < SPIN_WORK; i++) {
        unsigned g = atomic_load_explicit(&pool->generation, memory_order_acquire);
        if (g != seen)
            return g;
        rt_cpu_relax();
    }
    atomic_fetch_add(&pool->sleepers, 1);
    pthread_mutex_lock(&pool->lock);
    unsigned g;
    while ((g = atomic_load(&pool->generation)) == seen)
        pthread_cond_wait(&pool->wake, &pool->lock);
    pthread_mutex_unlock(&pool->lock);
    atomic_fetch_sub(&pool->sleepers, 1);
    return g;
}

/* A worker is done with the current task; the last one wakes a sleeping
 * caller (same seq_cst handshake as in wait_for_work). */
static void finish(RtPool *pool)
{
    if (atomic_fetch_sub(&pool->pending, 1) == 1 && atomic_load(&pool->caller_asleep)) {
        pthread_mutex_lock(&pool->lock);
        pthread_cond_signal(&pool->done);
        pthread_mutex_unlock(&pool->lock);
    }
}

static void *worker_main(void *p)
{
    RtWorker *w = p;
    RtPool *pool = w->pool;
    unsigned seen = 0;
    for (;;) {
        seen = wait_for_work(pool, seen);
        if (atomic_load(&pool->stop))
            break;
        pool->fn(pool->arg, w->ith, pool->nth);
        finish(pool);
    }
    return NULL;
}

/* Starts a new generation: wakes spinning workers at once, sleeping ones
 * through the condition variable. */
static void publish(RtPool *pool)
{
    atomic_fetch_add(&pool->generation, 1);
    if (atomic_load(&pool->sleepers) > 0) {
        pthread_mutex_lock(&pool->lock);
        pthread_cond_broadcast(&pool->wake);
        pthread_mutex_unlock(&pool->lock);
    }
}

static void wait_done(RtPool *pool)
{
    for (int i = 0; i < SPIN_DONE; i++) {
        if (atomic_load_explicit(&pool->pending, memory_order_acquire) == 0)
            return;
        rt_cpu_relax();
    }
    atomic_store(&pool->caller_asleep, true);
    pthread_mutex_lock(&pool->lock);
    while (atomic_load(&pool->pending) > 0)
        pthread_cond_wait(&pool->done, &pool->lock);
    pthread_mutex_unlock(&pool->lock);
    atomic_store(&pool->caller_asleep, false);
}

/* Stops and joins the first 'started' workers. */
static void stop_workers(RtPool *pool, int started)
{
    atomic_store(&pool->stop, true);
    publish(pool);
    for (int i = 0; i < started; i++)
        pthread_join(pool->threads[i], NULL);
}

static void free_pool(RtPool *pool)
{
    pthread_cond_destroy(&pool->done);
    pthread_cond_destroy(&pool->wake);
    pthread_mutex_destroy(&pool->lock);
    rt_free(pool->workers);
    rt_free(pool->threads);
    rt_free(pool);
}

static RtStatus start_workers(RtPool *pool)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, WORKER_STACK);
    for (int i = 0; i < pool->nth - 1; i++) {
        pool->workers[i] = (RtWorker){.pool = pool, .ith = i + 1};
        int err = pthread_create(&pool->threads[i], &attr, worker_main, &pool->workers[i]);
        if (err) {
            pthread_attr_destroy(&attr);
            stop_workers(pool, i);
            rt_set_error("cannot start worker thread %d of %d: %s", i + 1, pool->nth - 1,
                         strerror(err));
            return RT_ERR_THREAD;
        }
    }
    pthread_attr_destroy(&attr);
    return RT_OK;
}

RtStatus rt_pool_create(RtPool **out, int nthreads)
{
    *out = NULL;
    int nth = nthreads > 0 ? nthreads : rt_cpu_count();
    RtPool *pool = rt_alloc(sizeof *pool);
    if (!pool) {
        rt_set_error("out of memory creating a pool of %d threads", nth);
        return RT_ERR_NOMEM;
    }
    pool->nth = nth;
    pool->threads = rt_alloc(((size_t)nth) * sizeof *pool->threads);
    pool->workers = rt_alloc(((size_t)nth) * sizeof *pool->workers);
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pthread_cond_init(&pool->done, NULL);
    atomic_init(&pool->generation, 0);
    atomic_init(&pool->pending, 0);
    atomic_init(&pool->sleepers, 0);
    atomic_init(&pool->caller_asleep, false);
    atomic_init(&pool->stop, false);
    if (!pool->threads || !pool->workers) {
        free_pool(pool);
        rt_set_error("out of memory creating a pool of %d threads", nth);
        return RT_ERR_NOMEM;
    }
    RtStatus st = start_workers(pool);
    if (st != RT_OK) {
        free_pool(pool);
        return st;
    }
    *out = pool;
    return RT_OK;
}

void rt_pool_run(RtPool *pool, RtTaskFn fn, void *arg)
{
    if (!pool || pool->nth == 1) {
        fn(arg, 0, 1);
        return;
    }
    pool->fn = fn;
    pool->arg = arg;
    atomic_store_explicit(&pool->pending, pool->nth - 1, memory_order_relaxed);
    publish(pool);
    fn(arg, 0, pool->nth);
    wait_done(pool);
}

int rt_pool_size(const RtPool *pool)
{
    return pool ? pool->nth : 1;
}

void rt_pool_destroy(RtPool *pool)
{
    if (!pool)
        return;
    stop_workers(pool, pool->nth - 1);
    free_pool(pool);
}
