/* rt_util.c: small runtime helpers: status names, the thread-local last
 * error, f16/bf16 <-> f32 conversions (round to nearest even, subnormals,
 * inf and nan kept), the monotonic clock, the core count and whether an
 * aarch64 cpu has the dot product. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "hetc_rt.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__aarch64__)
#include <sys/auxv.h>
#endif

enum { RT_ERROR_MAX = 1024 };

static _Thread_local char last_error[RT_ERROR_MAX];

const char *rt_status_name(RtStatus s)
{
    switch (s) {
    case RT_OK: return "ok";
    case RT_ERR_IO: return "i/o error";
    case RT_ERR_FORMAT: return "bad format";
    case RT_ERR_ARG: return "bad argument";
    case RT_ERR_NOMEM: return "out of memory";
    case RT_ERR_THREAD: return "thread error";
    }
    return "unknown status";
}

const char *rt_last_error(void)
{
    return last_error;
}

void rt_set_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
}

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float rt_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    if (exp == 0) {     /* zero or subnormal: man * 2^-24, exact in f32 */
        float mag = (float)man * 0x1p-24f;
        return bits_f32(sign | f32_bits(mag));
    }
    if (exp == 31)      /* inf or nan (payload kept) */
        return bits_f32(sign | 0x7f800000u | (man << 13));
    return bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}

/* |f| below the smallest normal f16 (2^-14): round mantissa * 2^(e-126) to
 * an integer count of 2^-24 units, to nearest even. */
static uint16_t f16_subnormal(uint32_t ax)
{
    if (ax < 0x33000000u)   /* below 2^-25: rounds to zero */
        return 0;
    uint32_t e = ax >> 23;
    uint32_t m = (ax & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - e;   /* 14..24 */
    uint32_t q = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1);
    uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1)))
        q++;
    return (uint16_t)q;
}

uint16_t rt_f32_to_f16(float f)
{
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u)       /* nan: quiet, top payload bits kept */
        return sign | 0x7e00 | (uint16_t)((ax >> 13) & 0x3ff);
    if (ax >= 0x477ff000u)      /* >= 65520 rounds to inf */
        return sign | 0x7c00;
    if (ax < 0x38800000u)       /* below 2^-14 */
        return sign | f16_subnormal(ax);
    uint32_t r = ax + 0xfff + ((ax >> 13) & 1);     /* round to nearest even */
    return sign | (uint16_t)((r - 0x38000000u) >> 13);
}

float rt_bf16_to_f32(uint16_t h)
{
    return bits_f32((uint32_t)h << 16);
}

uint16_t rt_f32_to_bf16(float f)
{
    uint32_t x = f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u)    /* nan: keep it a (quiet) nan */
        return (uint16_t)((x >> 16) | 0x40);
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1)) >> 16);
}

double rt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int rt_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int rt_cpu_dotprod(void)
{
#if defined(__aarch64__)
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
    return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#else
    return 0;
#endif
}
