/* rt_mem.c: the runtime's memory. rt_alloc, rt_realloc and rt_free are the
 * only allocation calls in the runtime and the generated code.
 *
 * A normal build takes them from libc's heap. A firmware build (RT_NO_HEAP,
 * hetc compile --firmware) has no heap: the model's state (arenas, KV cache,
 * workspaces) lives in static arrays the generated model.c declares from
 * model.h's constants, and what depends on the input (the tokenizer's work
 * on a prompt, the sampler, the command line's buffers, the thread pool) comes
 * from one more static array, the work area rt_work_area[MODEL_WORK_BYTES]
 * (pass memplan sizes it; hetc compile --work-bytes overrides). libc's own
 * few needs in that build (stdio's buffers, a thread's TLS vector) are served
 * from the work area as well: malloc, free, calloc, realloc and the aligned
 * variants are defined here, so the static program never asks the system for
 * heap memory. The runtime's and the model's objects must not call them: the
 * generated CMake's link step checks (cmake/check_no_heap.cmake).
 *
 * The region allocator (RtRegion, used for the work area and tested on its
 * own): blocks laid end to end from the region's start, each a 64-byte header
 * (payload bytes, in use or free) and a payload rounded up to 64 bytes, so
 * every pointer is 64-byte aligned. Allocation is first fit from the start,
 * joining runs of free blocks as it walks; a free block that ends at the top
 * grows in place; freeing the last block brings the top down to the end of
 * the last block in use. Growing a
 * block takes its free neighbour or the room above the top before it moves
 * the data. Everything is deterministic: the same calls give the same
 * addresses and the same peak. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "hetc_rt.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { HDR = 64 };

typedef struct {
    size_t size;    /* payload bytes (a multiple of 64) */
    size_t used;    /* 1 in use, 0 free */
} Hdr;

static size_t round64(size_t n) { return n > SIZE_MAX - 63 ? 0 : (n + 63) / 64 * 64; }
static Hdr *hdr_at(const RtRegion *r, size_t off) { return (Hdr *)(r->base + off); }
static size_t off_of(const RtRegion *r, const void *p) { return (size_t)((const unsigned char *)p - r->base) - HDR; }

void rt_region_init(RtRegion *r, void *base, size_t bytes)
{
    size_t skip = (size_t)(-(uintptr_t)base & 63);
    r->base = (unsigned char *)base + (skip < bytes ? skip : bytes);
    r->bytes = skip < bytes ? (bytes - skip) / 64 * 64 : 0;
    r->top = r->peak = r->in_use = 0;
}

/* Joins the free blocks that follow the free block at off into it. */
static void join_free(RtRegion *r, size_t off)
{
    Hdr *h = hdr_at(r, off);
    for (size_t next = off + HDR + h->size; next < r->top && !hdr_at(r, next)->used; next = off + HDR + h->size)
        h->size += HDR + hdr_at(r, next)->size;
}

/* Cuts the block at off to size bytes when the rest can hold a block. */
static void split(RtRegion *r, size_t off, size_t size)
{
    Hdr *h = hdr_at(r, off);
    if (h->size < size + 2 * HDR) return;
    Hdr *rest = hdr_at(r, off + HDR + size);
    *rest = (Hdr){h->size - size - HDR, 0};
    h->size = size;
}

static void *take(RtRegion *r, size_t off)
{
    hdr_at(r, off)->used = 1;
    r->in_use += hdr_at(r, off)->size;
    if (r->top > r->peak) r->peak = r->top;
    return r->base + off + HDR;
}

void *rt_region_alloc(RtRegion *r, size_t bytes)
{
    size_t size = round64(bytes ? bytes : 1);
    if (!size) return NULL;
    for (size_t off = 0; off < r->top;) {
        Hdr *h = hdr_at(r, off);
        if (!h->used) {
            join_free(r, off);
            if (h->size >= size) {
                split(r, off, size);
                return take(r, off);
            }
            if (off + HDR + h->size == r->top && r->bytes - off - HDR >= size) {   /* the last block: grow it */
                h->size = size;
                r->top = off + HDR + size;
                return take(r, off);
            }
        }
        off += HDR + h->size;
    }
    if (r->bytes - r->top < HDR || r->bytes - r->top - HDR < size) return NULL;
    size_t off = r->top;
    *hdr_at(r, off) = (Hdr){size, 0};
    r->top = off + HDR + size;
    return take(r, off);
}

void rt_region_free(RtRegion *r, void *p)
{
    if (!p) return;
    size_t off = off_of(r, p);
    Hdr *h = hdr_at(r, off);
    r->in_use -= h->size;
    h->used = 0;
    join_free(r, off);
    if (off + HDR + h->size != r->top) return;
    size_t end = 0;         /* the last block: the top comes down to the end of the last one in use */
    for (size_t at = 0; at < off; at += HDR + hdr_at(r, at)->size)
        if (hdr_at(r, at)->used) end = at + HDR + hdr_at(r, at)->size;
    r->top = end;
}

void *rt_region_realloc(RtRegion *r, void *p, size_t bytes)
{
    if (!p) return rt_region_alloc(r, bytes);
    size_t size = round64(bytes ? bytes : 1), off = off_of(r, p);
    Hdr *h = hdr_at(r, off);
    if (!size) return NULL;
    if (h->size >= size) return p;
    size_t had = h->size, avail = had, next = off + HDR + had;
    if (next < r->top && !hdr_at(r, next)->used) {       /* a free neighbour above */
        join_free(r, next);
        avail += HDR + hdr_at(r, next)->size;
        next += HDR + hdr_at(r, next)->size;
    }
    if (next == r->top && r->bytes - off - HDR >= size) { /* the last block: grow past the top */
        h->size = size;
        r->top = off + HDR + size;
    } else if (avail >= size) {
        h->size = avail;
        split(r, off, size);
    } else {
        void *q = rt_region_alloc(r, size);
        if (!q) return NULL;
        memcpy(q, p, had);
        rt_region_free(r, p);
        return q;
    }
    r->in_use += h->size - had;
    if (r->top > r->peak) r->peak = r->top;
    return p;
}

#ifdef RT_NO_HEAP

/* The work area, declared by the generated model.c from MODEL_WORK_BYTES. */
extern unsigned char rt_work_area[];
extern const size_t rt_work_area_bytes;

static RtRegion work;
static int work_ready;
static pthread_mutex_t work_lock = PTHREAD_MUTEX_INITIALIZER;

static RtRegion *work_region(void)
{
    if (!work_ready) {
        rt_region_init(&work, rt_work_area, rt_work_area_bytes);
        work_ready = 1;
    }
    return &work;
}

/* The region's calls under the lock (p NULL: a new block). */
static void *work_realloc(void *p, size_t bytes)
{
    pthread_mutex_lock(&work_lock);
    void *q = rt_region_realloc(work_region(), p, bytes);
    pthread_mutex_unlock(&work_lock);
    return q;
}

static void *no_room(size_t bytes)
{
    rt_set_error("the firmware's work area (%zu bytes, MODEL_WORK_BYTES) has no room for %zu more bytes "
                 "(%zu in use): a shorter prompt, or hetc compile --work-bytes", work.bytes, bytes, work.in_use);
    return NULL;
}

void *rt_alloc(size_t bytes)
{
    void *p = work_realloc(NULL, bytes);
    if (!p) return no_room(bytes);
    memset(p, 0, round64(bytes ? bytes : 1));
    return p;
}

void *rt_realloc(void *p, size_t bytes)
{
    void *q = work_realloc(p, bytes);
    return q ? q : no_room(bytes);
}

void rt_free(void *p)
{
    pthread_mutex_lock(&work_lock);
    rt_region_free(work_region(), p);
    pthread_mutex_unlock(&work_lock);
}

size_t rt_mem_peak(size_t *capacity)
{
    if (capacity) *capacity = work_region()->bytes;
    return work.peak;
}

/* libc's own requests (stdio, threads) in the static firmware program. */
void *malloc(size_t n) { return work_realloc(NULL, n); }
void free(void *p) { rt_free(p); }
void *realloc(void *p, size_t n) { return work_realloc(p, n); }

void *calloc(size_t n, size_t each)
{
    if (each && n > SIZE_MAX / each) return NULL;
    void *p = work_realloc(NULL, n * each);
    if (p) memset(p, 0, n * each);
    return p;
}

void *aligned_alloc(size_t align, size_t n) { return align <= 64 ? malloc(n) : NULL; }
void *memalign(size_t align, size_t n) { return aligned_alloc(align, n); }
void *valloc(size_t n) { (void)n; return NULL; }
void *pvalloc(size_t n) { (void)n; return NULL; }
size_t malloc_usable_size(void *p) { return p ? hdr_at(&work, off_of(&work, p))->size : 0; }

int posix_memalign(void **out, size_t align, size_t n)
{
    void *p = aligned_alloc(align, n);
    if (!p) return 12;   /* ENOMEM */
    *out = p;
    return 0;
}

#else

void *rt_alloc(size_t bytes)
{
    size_t rounded = round64(bytes ? bytes : 1);
    void *p = rounded ? aligned_alloc(64, rounded) : NULL;
    if (p) memset(p, 0, rounded);
    else rt_set_error("out of memory for %zu bytes", bytes);
    return p;
}

void *rt_realloc(void *p, size_t bytes)
{
    void *q = realloc(p, bytes ? bytes : 1);
    if (!q) rt_set_error("out of memory for %zu bytes", bytes);
    return q;
}

void rt_free(void *p)
{
    free(p);
}

size_t rt_mem_peak(size_t *capacity)
{
    if (capacity) *capacity = 0;
    return 0;
}

#endif
