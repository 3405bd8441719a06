/* test_rt_mem.c: the region allocator behind a firmware build's work area
 * (runtime/rt_mem.c): alignment, first fit and reuse, joining free blocks,
 * growing in place and by moving, running out (NULL, nothing corrupted),
 * the peak; and a random sequence of allocations, growths and frees checked
 * against the bytes each block should hold. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hetc_rt.h"

enum { AREA = 1 << 16 };

static _Alignas(64) unsigned char area[AREA + 64];

static void test_alignment_and_reuse(void **state)
{
    (void)state;
    RtRegion r;
    rt_region_init(&r, area + 8, AREA);     /* an unaligned start: skipped to the next 64 bytes */
    assert_int_equal((uintptr_t)r.base % 64, 0);
    assert_int_equal(r.bytes, AREA - 64);
    void *a = rt_region_alloc(&r, 1), *b = rt_region_alloc(&r, 100), *c = rt_region_alloc(&r, 64);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_int_equal((uintptr_t)a % 64, 0);
    assert_int_equal((uintptr_t)b % 64, 0);
    assert_int_equal((uintptr_t)c % 64, 0);
    assert_true((unsigned char *)b >= (unsigned char *)a + 64 + 64);    /* a's payload and b's header */
    assert_int_equal(r.in_use, 64 + 128 + 64);
    rt_region_free(&r, b);
    assert_ptr_equal(rt_region_alloc(&r, 128), b);     /* first fit: b's block again */
    rt_region_free(&r, a);
    rt_region_free(&r, b);                  /* a and b join: 320 bytes fit where they were */
    assert_ptr_equal(rt_region_alloc(&r, 64 + 64 + 128), a);
    size_t top = r.top;
    rt_region_free(&r, c);                  /* the last block: the top comes down */
    assert_true(r.top < top);
    assert_int_equal(r.peak, top);
}

static void test_grow(void **state)
{
    (void)state;
    RtRegion r;
    rt_region_init(&r, area, AREA);
    unsigned char *a = rt_region_alloc(&r, 64);
    for (int i = 0; i < 64; i++) a[i] = (unsigned char)i;
    assert_ptr_equal(rt_region_realloc(&r, a, 1000), a);   /* the last block grows in place */
    unsigned char *b = rt_region_alloc(&r, 64);
    unsigned char *a2 = rt_region_realloc(&r, a, 4000);    /* b is above: it moves */
    assert_ptr_not_equal(a2, a);
    for (int i = 0; i < 64; i++) assert_int_equal(a2[i], i);
    unsigned char *c = rt_region_alloc(&r, 500);           /* into a's old place, first fit */
    assert_ptr_equal(c, a);
    rt_region_free(&r, b);
    assert_ptr_equal(rt_region_realloc(&r, c, 1024 - 64 + 128), c);   /* takes the free neighbour b */
    assert_null(rt_region_realloc(&r, c, AREA));            /* no room: NULL, c untouched */
    assert_ptr_equal(rt_region_realloc(&r, c, 16), c);      /* smaller: the same block */
    assert_null(rt_region_alloc(&r, AREA));
    assert_non_null(rt_region_alloc(&r, 100));
}

/* Blocks of random sizes allocated, grown and freed in random order; each
 * holds a pattern of its own, checked after every step. */
static void test_random(void **state)
{
    (void)state;
    enum { N = 48, STEPS = 20000 };
    RtRegion r;
    rt_region_init(&r, area, AREA);
    unsigned char *p[N] = {0};
    size_t len[N] = {0};
    uint32_t seed = 12345;
    int failed = 0;
    for (int step = 0; step < STEPS; step++) {
        seed = seed * 1664525u + 1013904223u;
        int k = (int)(seed >> 8) % N;
        size_t want = (seed >> 16) % 3000;
        if (!p[k] || (seed & 3) == 1) {
            unsigned char *q = p[k] ? rt_region_realloc(&r, p[k], want) : rt_region_alloc(&r, want);
            if (!q) {
                failed++;
                continue;
            }
            size_t keep = p[k] ? (len[k] < want ? len[k] : want) : 0;
            for (size_t i = 0; i < keep; i++) assert_int_equal(q[i], (unsigned char)(k * 7 + i));
            for (size_t i = keep; i < want; i++) q[i] = (unsigned char)(k * 7 + i);
            p[k] = q;
            len[k] = want;
        } else {
            rt_region_free(&r, p[k]);
            p[k] = NULL;
            len[k] = 0;
        }
        size_t used = 0;
        for (int j = 0; j < N; j++) {
            if (!p[j]) continue;
            used += (len[j] ? (len[j] + 63) / 64 * 64 : 64);
            assert_true(p[j] >= r.base && p[j] + len[j] <= r.base + r.top);
            for (size_t i = 0; i < len[j]; i += 97) assert_int_equal(p[j][i], (unsigned char)(j * 7 + i));
        }
        assert_true(r.in_use >= used);      /* a block may be larger than asked (a grown neighbour) */
        assert_true(r.top <= r.bytes && r.peak <= r.bytes);
    }
    for (int j = 0; j < N; j++) rt_region_free(&r, p[j]);
    assert_int_equal(r.in_use, 0);
    assert_int_equal(r.top, 0);
    assert_true(failed < STEPS / 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alignment_and_reuse),
        cmocka_unit_test(test_grow),
        cmocka_unit_test(test_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
