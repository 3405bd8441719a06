/* rt_opencl.c: the OpenCL 1.2 layer of the runtime (hetc_rt_cl.h): choosing
 * a device, the context and its in-order profiling queue, building programs
 * with an on-disk binary cache, buffers, the names of OpenCL error codes,
 * and two measurements the benchmarks compare kernels against: device copy
 * bandwidth and the fp32 FMA peak. Errors are reported through rt_set_error
 * and an RtStatus; nothing here exits, and a broken or stale cache file only
 * costs a rebuild. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "hetc_rt_cl.h"

#include <ctype.h>
#include <stdarg.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    MAX_PLATFORMS = 16,
    MAX_DEVICES = 64,           /* over all platforms */
    MEASURE_REPS = 5,           /* measurements keep the best of this many runs */
    PEAK_CHAINS = 32,           /* independent FMA chains per work-item */
    PEAK_ITEMS_PER_CU = 2048,   /* work-items per compute unit in the peak kernel */
};

/* ---- error names ---- */

#define CL_NAME(code) case code: return #code;

const char *rt_cl_error_name(cl_int err)
{
    static _Thread_local char unknown[48];
    switch (err) {
    CL_NAME(CL_SUCCESS)
    CL_NAME(CL_DEVICE_NOT_FOUND)
    CL_NAME(CL_DEVICE_NOT_AVAILABLE)
    CL_NAME(CL_COMPILER_NOT_AVAILABLE)
    CL_NAME(CL_MEM_OBJECT_ALLOCATION_FAILURE)
    CL_NAME(CL_OUT_OF_RESOURCES)
    CL_NAME(CL_OUT_OF_HOST_MEMORY)
    CL_NAME(CL_PROFILING_INFO_NOT_AVAILABLE)
    CL_NAME(CL_MEM_COPY_OVERLAP)
    CL_NAME(CL_IMAGE_FORMAT_MISMATCH)
    CL_NAME(CL_IMAGE_FORMAT_NOT_SUPPORTED)
    CL_NAME(CL_BUILD_PROGRAM_FAILURE)
    CL_NAME(CL_MAP_FAILURE)
    CL_NAME(CL_MISALIGNED_SUB_BUFFER_OFFSET)
    CL_NAME(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
    CL_NAME(CL_COMPILE_PROGRAM_FAILURE)
    CL_NAME(CL_LINKER_NOT_AVAILABLE)
    CL_NAME(CL_LINK_PROGRAM_FAILURE)
    CL_NAME(CL_DEVICE_PARTITION_FAILED)
    CL_NAME(CL_KERNEL_ARG_INFO_NOT_AVAILABLE)
    CL_NAME(CL_INVALID_VALUE)
    CL_NAME(CL_INVALID_DEVICE_TYPE)
    CL_NAME(CL_INVALID_PLATFORM)
    CL_NAME(CL_INVALID_DEVICE)
    CL_NAME(CL_INVALID_CONTEXT)
    CL_NAME(CL_INVALID_QUEUE_PROPERTIES)
    CL_NAME(CL_INVALID_COMMAND_QUEUE)
    CL_NAME(CL_INVALID_HOST_PTR)
    CL_NAME(CL_INVALID_MEM_OBJECT)
    CL_NAME(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR)
    CL_NAME(CL_INVALID_IMAGE_SIZE)
    CL_NAME(CL_INVALID_SAMPLER)
    CL_NAME(CL_INVALID_BINARY)
    CL_NAME(CL_INVALID_BUILD_OPTIONS)
    CL_NAME(CL_INVALID_PROGRAM)
    CL_NAME(CL_INVALID_PROGRAM_EXECUTABLE)
    CL_NAME(CL_INVALID_KERNEL_NAME)
    CL_NAME(CL_INVALID_KERNEL_DEFINITION)
    CL_NAME(CL_INVALID_KERNEL)
    CL_NAME(CL_INVALID_ARG_INDEX)
    CL_NAME(CL_INVALID_ARG_VALUE)
    CL_NAME(CL_INVALID_ARG_SIZE)
    CL_NAME(CL_INVALID_KERNEL_ARGS)
    CL_NAME(CL_INVALID_WORK_DIMENSION)
    CL_NAME(CL_INVALID_WORK_GROUP_SIZE)
    CL_NAME(CL_INVALID_WORK_ITEM_SIZE)
    CL_NAME(CL_INVALID_GLOBAL_OFFSET)
    CL_NAME(CL_INVALID_EVENT_WAIT_LIST)
    CL_NAME(CL_INVALID_EVENT)
    CL_NAME(CL_INVALID_OPERATION)
    CL_NAME(CL_INVALID_GL_OBJECT)
    CL_NAME(CL_INVALID_BUFFER_SIZE)
    CL_NAME(CL_INVALID_MIP_LEVEL)
    CL_NAME(CL_INVALID_GLOBAL_WORK_SIZE)
    CL_NAME(CL_INVALID_PROPERTY)
    CL_NAME(CL_INVALID_IMAGE_DESCRIPTOR)
    CL_NAME(CL_INVALID_COMPILER_OPTIONS)
    CL_NAME(CL_INVALID_LINKER_OPTIONS)
    CL_NAME(CL_INVALID_DEVICE_PARTITION_COUNT)
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";     /* ICD loader: no platform */
    }
    snprintf(unknown, sizeof unknown, "unknown OpenCL error %d", (int)err);
    return unknown;
}

#undef CL_NAME

RtStatus rt_cl_check(cl_int err, const char *what)
{
    if (err == CL_SUCCESS)
        return RT_OK;
    rt_set_error("%s: %s", what, rt_cl_error_name(err));
    return RT_ERR_IO;
}

/* ---- device selection ---- */

typedef struct {
    cl_platform_id platform;
    cl_device_id device;
    cl_device_type type;
    char platform_name[128];
    char device_name[128];
} DeviceEntry;

typedef struct {
    DeviceEntry dev[MAX_DEVICES];
    int n;
} DeviceList;

static void info_string(cl_device_id d, cl_device_info what, char *buf, size_t cap)
{
    buf[0] = 0;
    if (clGetDeviceInfo(d, what, cap, buf, NULL) != CL_SUCCESS)
        buf[0] = 0;
    buf[cap - 1] = 0;
}

/* Every device of every platform, in platform order. */
static RtStatus list_devices(DeviceList *list)
{
    cl_platform_id plats[MAX_PLATFORMS];
    cl_uint np = 0;
    cl_int err = clGetPlatformIDs(MAX_PLATFORMS, plats, &np);
    list->n = 0;
    if (err != CL_SUCCESS || np == 0) {
        rt_set_error("no OpenCL platform found (clGetPlatformIDs: %s): install an OpenCL "
                     "driver and its ICD file in /etc/OpenCL/vendors",
                     rt_cl_error_name(err));
        return RT_ERR_IO;
    }
    for (cl_uint p = 0; p < np && p < MAX_PLATFORMS; p++) {
        cl_device_id devs[MAX_DEVICES];
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, MAX_DEVICES, devs, &nd) != CL_SUCCESS)
            continue;
        for (cl_uint d = 0; d < nd && d < MAX_DEVICES && list->n < MAX_DEVICES; d++) {
            DeviceEntry *e = &list->dev[list->n++];
            e->platform = plats[p];
            e->device = devs[d];
            e->type = 0;
            clGetDeviceInfo(devs[d], CL_DEVICE_TYPE, sizeof e->type, &e->type, NULL);
            e->platform_name[0] = 0;
            clGetPlatformInfo(plats[p], CL_PLATFORM_NAME, sizeof e->platform_name,
                              e->platform_name, NULL);
            e->platform_name[sizeof e->platform_name - 1] = 0;
            info_string(devs[d], CL_DEVICE_NAME, e->device_name, sizeof e->device_name);
        }
    }
    return RT_OK;
}

static const char *type_name(cl_device_type t)
{
    if (t & CL_DEVICE_TYPE_GPU)
        return "GPU";
    if (t & CL_DEVICE_TYPE_CPU)
        return "CPU";
    if (t & CL_DEVICE_TYPE_ACCELERATOR)
        return "accelerator";
    return "other";
}

/* "  N: [platform] device (type)" lines for an error message. */
static void describe(const DeviceList *list, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = 0;
    if (list->n == 0)
        snprintf(buf, cap, "  (platforms found, but no devices)\n");
    for (int i = 0; i < list->n && used < cap; i++) {
        const DeviceEntry *e = &list->dev[i];
        int w = snprintf(buf + used, cap - used, "  %d: [%s] %s (%s)\n", i, e->platform_name,
                         e->device_name, type_name(e->type));
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

/* Case-insensitive substring test; an empty or NULL needle matches. */
static int contains(const char *hay, const char *needle)
{
    if (!needle || !*needle)
        return 1;
    size_t n = strlen(needle);
    for (const char *h = hay; *h; h++) {
        size_t i = 0;
        while (i < n && h[i] && tolower((unsigned char)h[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n)
            return 1;
    }
    return 0;
}

/* The device chosen by substrings and index (see rt_cl_open), or -1. */
static int choose(const DeviceList *list, const char *pmatch, const char *dmatch, int index)
{
    int seen = 0, first = -1;
    for (int i = 0; i < list->n; i++) {
        const DeviceEntry *e = &list->dev[i];
        if (!contains(e->platform_name, pmatch) || !contains(e->device_name, dmatch))
            continue;
        if (index >= 0 && seen++ == index)
            return i;
        if (index < 0 && (e->type & CL_DEVICE_TYPE_GPU))
            return i;
        if (first < 0)
            first = i;
    }
    return index < 0 ? first : -1;
}

/* Applies HETC_OPENCL_DEVICE: "N" (index over all devices), "PLATFORM:DEVICE"
 * or "DEVICE" (substrings). Returns the chosen entry or -1 (with the error
 * set); -2 when the variable is unset or empty. */
static int choose_from_env(const DeviceList *list, const char *listing)
{
    const char *env = getenv("HETC_OPENCL_DEVICE");
    if (!env || !*env)
        return -2;
    const char *p = env;
    while (isdigit((unsigned char)*p))
        p++;
    if (*p == 0) {
        long i = strtol(env, NULL, 10);
        if (i >= 0 && i < list->n)
            return (int)i;
        rt_set_error("HETC_OPENCL_DEVICE=%s: no device %ld; devices:\n%s", env, i, listing);
        return -1;
    }
    char plat[128] = "", dev[128];
    const char *colon = strchr(env, ':');
    if (colon) {
        snprintf(plat, sizeof plat, "%.*s", (int)(colon - env), env);
        snprintf(dev, sizeof dev, "%s", colon + 1);
    } else {
        snprintf(dev, sizeof dev, "%s", env);
    }
    int i = choose(list, plat, dev, -1);
    if (i < 0)
        rt_set_error("HETC_OPENCL_DEVICE=%s matches no OpenCL device; devices:\n%s", env, listing);
    return i;
}

RtStatus rt_cl_open(RtCl *cl, const char *platform_match, const char *device_match, int index)
{
    memset(cl, 0, sizeof *cl);
    DeviceList list;
    RtStatus st = list_devices(&list);
    if (st != RT_OK)
        return st;
    char listing[768];
    describe(&list, listing, sizeof listing);
    int pick = choose_from_env(&list, listing);
    if (pick == -1)
        return RT_ERR_IO;
    if (pick == -2) {
        pick = choose(&list, platform_match, device_match, index);
        if (pick < 0) {
            rt_set_error("no OpenCL device matches platform \"%s\", device \"%s\", index %d; "
                         "devices:\n%s",
                         platform_match ? platform_match : "", device_match ? device_match : "",
                         index, listing);
            return RT_ERR_IO;
        }
    }
    const DeviceEntry *e = &list.dev[pick];
    cl->platform = e->platform;
    cl->device = e->device;
    snprintf(cl->platform_name, sizeof cl->platform_name, "%s", e->platform_name);
    snprintf(cl->device_name, sizeof cl->device_name, "%s", e->device_name);
    info_string(e->device, CL_DRIVER_VERSION, cl->driver_version, sizeof cl->driver_version);

    size_t ext_len = 0;
    if (clGetDeviceInfo(e->device, CL_DEVICE_EXTENSIONS, 0, NULL, &ext_len) == CL_SUCCESS &&
        ext_len > 0) {
        char *ext = malloc(ext_len + 1);
        if (!ext) {
            rt_set_error("out of memory reading the device's extensions");
            return RT_ERR_NOMEM;
        }
        ext[0] = 0;
        clGetDeviceInfo(e->device, CL_DEVICE_EXTENSIONS, ext_len, ext, NULL);
        ext[ext_len] = 0;
        cl->has_fp16 = strstr(ext, "cl_khr_fp16") != NULL;
        free(ext);
    }
    clGetDeviceInfo(e->device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof cl->max_work_group,
                    &cl->max_work_group, NULL);
    clGetDeviceInfo(e->device, CL_DEVICE_LOCAL_MEM_SIZE, sizeof cl->local_mem, &cl->local_mem,
                    NULL);
    clGetDeviceInfo(e->device, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof cl->global_mem,
                    &cl->global_mem, NULL);
    clGetDeviceInfo(e->device, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cl->compute_units,
                    &cl->compute_units, NULL);

    cl_int err;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)e->platform, 0};
    cl->context = clCreateContext(props, 1, &cl->device, NULL, NULL, &err);
    if (err != CL_SUCCESS) {
        rt_set_error("clCreateContext on %s: %s", cl->device_name, rt_cl_error_name(err));
        cl->context = NULL;
        return RT_ERR_IO;
    }
    cl->queue = clCreateCommandQueue(cl->context, cl->device, 0, &err);
    if (err != CL_SUCCESS) {
        rt_set_error("clCreateCommandQueue on %s: %s", cl->device_name, rt_cl_error_name(err));
        cl->queue = NULL;
        rt_cl_close(cl);
        return RT_ERR_IO;
    }
    const char *skip = getenv("HETC_CL_SKIP");
    if (skip && *skip) {
        snprintf(cl->skip, sizeof cl->skip, "%s", skip);
        fprintf(stderr, "warning: HETC_CL_SKIP=%s: launches of kernels named *%s* are skipped, "
                        "results are wrong (a timing diagnostic)\n", cl->skip, cl->skip);
    }
    return RT_OK;
}

/* ---- program build and binary cache ----
 * Cache file: [CacheHeader][binary]. 'key' hashes everything the binary
 * depends on; 'check' hashes the binary itself, so a damaged file is caught
 * here instead of being handed to the driver. */

#define CACHE_MAGIC "HETCCLB1"

typedef struct {
    char magic[8];
    uint64_t key;           /* hash of device name, driver version, options, source */
    uint64_t size;          /* bytes of the binary that follows */
    uint64_t check;         /* hash of the binary */
} CacheHeader;

static _Thread_local int last_build_cached;

int rt_cl_cache_used(void)
{
    return last_build_cached;
}

/* FNV-1a, 64 bits, continuing from h. */
static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* Each field is hashed with its terminating NUL, so fields cannot run into
 * each other. */
static uint64_t cache_key(const RtCl *cl, const char *source, size_t len, const char *options)
{
    uint64_t h = 0xcbf29ce484222325ull;
    h = hash_bytes(h, CACHE_MAGIC, sizeof CACHE_MAGIC);
    h = hash_bytes(h, cl->device_name, strlen(cl->device_name) + 1);
    h = hash_bytes(h, cl->driver_version, strlen(cl->driver_version) + 1);
    h = hash_bytes(h, options, strlen(options) + 1);
    return hash_bytes(h, source, len);
}

/* The cached binary for key, malloc'd, or NULL when missing or unusable. */
static unsigned char *cache_read(const char *path, uint64_t key, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    CacheHeader h;
    unsigned char *bin = NULL;
    if (fread(&h, sizeof h, 1, f) == 1 && memcmp(h.magic, CACHE_MAGIC, 8) == 0 && h.key == key &&
        h.size > 0 && h.size < ((uint64_t)1 << 31)) {
        bin = malloc((size_t)h.size);
        int extra = 0;
        if (bin && (fread(bin, 1, (size_t)h.size, f) != h.size || fread(&extra, 1, 1, f) != 0 ||
                    hash_bytes(0xcbf29ce484222325ull, bin, (size_t)h.size) != h.check)) {
            free(bin);
            bin = NULL;
        }
    }
    fclose(f);
    *size = bin ? (size_t)h.size : 0;
    return bin;
}

/* Writes the program's binary next to path and renames it into place, so
 * readers never see half a file. Failures are ignored: the cache is an
 * optimisation. */
static void cache_write(cl_program prog, const char *path, uint64_t key)
{
    size_t size = 0;
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL) != CL_SUCCESS ||
        size == 0)
        return;
    unsigned char *bin = malloc(size);
    char tmp[4096];
    if (!bin)
        return;
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
    FILE *f = NULL;
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof bin, &bin, NULL) == CL_SUCCESS &&
        (f = fopen(tmp, "wb")) != NULL) {
        CacheHeader h = {.key = key, .size = size,
                         .check = hash_bytes(0xcbf29ce484222325ull, bin, size)};
        memcpy(h.magic, CACHE_MAGIC, 8);
        int ok = fwrite(&h, sizeof h, 1, f) == 1 && fwrite(bin, 1, size, f) == size;
        ok = fclose(f) == 0 && ok;
        if (!ok || rename(tmp, path) != 0)
            remove(tmp);
    }
    free(bin);
}

/* A program built from a cached binary, or NULL when the driver refuses it. */
static cl_program build_binary(RtCl *cl, const unsigned char *bin, size_t size, const char *options)
{
    cl_int err, status = CL_SUCCESS;
    cl_program prog = clCreateProgramWithBinary(cl->context, 1, &cl->device, &size, &bin, &status,
                                                &err);
    if (err != CL_SUCCESS)
        return NULL;
    if (status != CL_SUCCESS ||
        clBuildProgram(prog, 1, &cl->device, options, NULL, NULL) != CL_SUCCESS) {
        clReleaseProgram(prog);
        return NULL;
    }
    return prog;
}

/* Sets the error to the build log (as much as the message holds). */
static void report_build_failure(const RtCl *cl, cl_program prog, cl_int err)
{
    size_t n = 0;
    char *log = NULL;
    if (clGetProgramBuildInfo(prog, cl->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &n) == CL_SUCCESS &&
        n > 0 && (log = malloc(n + 1)) != NULL) {
        log[0] = 0;
        clGetProgramBuildInfo(prog, cl->device, CL_PROGRAM_BUILD_LOG, n, log, NULL);
        log[n] = 0;
    }
    const char *text = log ? log : "(no build log)";
    while (isspace((unsigned char)*text))
        text++;
    rt_set_error("OpenCL build failed on %s (%s); build log:\n%s", cl->device_name,
                 rt_cl_error_name(err), text);
    free(log);
}

/* NVIDIA's OpenCL compiler takes inline PTX: the kernels' int8 dot
 * products use dp4a there (rt_kernels.cl, HETC_NV_PTX), unless
 * HETC_CL_PTX=0. */
static int takes_ptx(const RtCl *cl)
{
    const char *env = getenv("HETC_CL_PTX");
    return strstr(cl->platform_name, "NVIDIA") != NULL && !(env && strcmp(env, "0") == 0);
}

static RtStatus build_with(RtCl *cl, const char *source, size_t len, const char *options,
                           const char *cache_path)
{
    last_build_cached = 0;
    if (cl->program) {
        clReleaseProgram(cl->program);
        cl->program = NULL;
    }
    uint64_t key = cache_key(cl, source, len, options);
    if (cache_path) {
        size_t size;
        unsigned char *bin = cache_read(cache_path, key, &size);
        if (bin) {
            cl->program = build_binary(cl, bin, size, options);
            free(bin);
            if (cl->program) {
                last_build_cached = 1;
                return RT_OK;
            }
        }
    }
    cl_int err;
    cl_program prog = clCreateProgramWithSource(cl->context, 1, &source, &len, &err);
    if (err != CL_SUCCESS)
        return rt_cl_check(err, "clCreateProgramWithSource");
    err = clBuildProgram(prog, 1, &cl->device, options, NULL, NULL);
    if (err != CL_SUCCESS) {
        RtStatus st = RT_ERR_FORMAT;
        if (err == CL_INVALID_BUILD_OPTIONS) {
            rt_set_error("OpenCL build options \"%s\" rejected by %s", options, cl->device_name);
            st = RT_ERR_ARG;
        } else {
            report_build_failure(cl, prog, err);
        }
        clReleaseProgram(prog);
        return st;
    }
    if (cache_path)
        cache_write(prog, cache_path, key);
    cl->program = prog;
    return RT_OK;
}

/* HETC_CL_OPTIONS: more build options, after the program's own (the
 * tests give PoCL -cl-opt-disable: its optimising build of a model's
 * kernels takes 20 s a program, about 4 without). */
RtStatus rt_cl_build(RtCl *cl, const char *source, size_t len, const char *options,
                     const char *cache_path)
{
    const char *extra = getenv("HETC_CL_OPTIONS");
    char plain[1024];
    if (snprintf(plain, sizeof plain, "%s%s%s", options ? options : "", extra && *extra ? " " : "",
                 extra ? extra : "") >= (int)sizeof plain) {
        rt_set_error("OpenCL build options: HETC_CL_OPTIONS is too long");
        return RT_ERR_ARG;
    }
    if (takes_ptx(cl)) {
        char opts[1100];
        snprintf(opts, sizeof opts, "%s -DHETC_NV_PTX=1", plain);
        if (build_with(cl, source, len, opts, cache_path) == RT_OK)
            return RT_OK;
        /* a driver whose compiler refuses the inline PTX: the portable code */
    }
    return build_with(cl, source, len, plain, cache_path);
}

RtStatus rt_cl_kernel(RtCl *cl, const char *name, cl_kernel *k)
{
    cl_int err;
    *k = NULL;
    if (!cl->program) {
        rt_set_error("kernel %s: no program built", name);
        return RT_ERR_ARG;
    }
    cl_kernel kern = clCreateKernel(cl->program, name, &err);
    if (err != CL_SUCCESS) {
        rt_set_error("kernel %s: %s", name, rt_cl_error_name(err));
        return RT_ERR_IO;
    }
    *k = kern;
    return RT_OK;
}

/* ---- buffers ---- */

RtStatus rt_cl_buffer(RtCl *cl, size_t bytes, cl_mem_flags flags, const void *host, cl_mem *buf)
{
    *buf = NULL;
    cl_ulong max_alloc = 0;
    clGetDeviceInfo(cl->device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof max_alloc, &max_alloc, NULL);
    if (bytes == 0 || (max_alloc > 0 && bytes > max_alloc)) {
        rt_set_error("OpenCL buffer of %zu bytes: %s allows 1 to %llu bytes per buffer", bytes,
                     cl->device_name, (unsigned long long)max_alloc);
        return RT_ERR_ARG;
    }
    if (host)
        flags |= CL_MEM_COPY_HOST_PTR;
    cl_int err;
    cl_mem mem = clCreateBuffer(cl->context, flags, bytes, (void *)host, &err);
    if (err == CL_SUCCESS) {
        *buf = mem;
        return RT_OK;
    }
    rt_set_error("clCreateBuffer of %zu bytes on %s: %s", bytes, cl->device_name,
                 rt_cl_error_name(err));
    if (err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_RESOURCES ||
        err == CL_OUT_OF_HOST_MEMORY)
        return RT_ERR_NOMEM;
    return RT_ERR_IO;
}

/* ---- kernel arguments and launches ---- */

RtStatus rt_cl_args(cl_kernel k, const char *kinds, ...)
{
    va_list ap;
    va_start(ap, kinds);
    cl_int err = CL_SUCCESS;
    for (cl_uint i = 0; kinds[i] && err == CL_SUCCESS; i++) {
        if (kinds[i] == 'm') {
            cl_mem m = va_arg(ap, cl_mem);
            err = clSetKernelArg(k, i, sizeof m, &m);
        } else if (kinds[i] == 'i') {
            int v = va_arg(ap, int);
            err = clSetKernelArg(k, i, sizeof v, &v);
        } else {
            float v = (float)va_arg(ap, double);
            err = clSetKernelArg(k, i, sizeof v, &v);
        }
    }
    va_end(ap);
    if (err == CL_SUCCESS)
        return RT_OK;
    char name[128] = "?";
    clGetKernelInfo(k, CL_KERNEL_FUNCTION_NAME, sizeof name, name, NULL);
    return rt_cl_check(err, name);
}

void rt_cl_set_int(cl_kernel k, cl_uint i, int value)
{
    clSetKernelArg(k, i, sizeof value, &value);
}

RtStatus rt_cl_wait_event(cl_event ev, const atomic_int *abort, const char *what)
{
    cl_int status = CL_QUEUED;
    RtStatus st = RT_OK;
    for (unsigned i = 0;; i++) {
        cl_int err = clGetEventInfo(ev, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status, &status, NULL);
        if (err != CL_SUCCESS || status < 0) {
            st = rt_cl_check(err != CL_SUCCESS ? err : status, what);
            break;
        }
        if (status == CL_COMPLETE) break;
        if (atomic_load_explicit(abort, memory_order_relaxed)) {
            rt_set_error("%s: another unit failed during this step", what);
            st = RT_ERR_THREAD;
            break;
        }
        if (i > 4096) sched_yield();
    }
    clReleaseEvent(ev);
    return st;
}

RtStatus rt_cl_run(RtCl *cl, cl_kernel k, cl_uint dims, const size_t *global, const size_t *local,
                   const char *what)
{
    if (cl->skip[0]) {
        char name[128] = "";
        clGetKernelInfo(k, CL_KERNEL_FUNCTION_NAME, sizeof name, name, NULL);
        if (strstr(name, cl->skip))
            return RT_OK;
    }
    cl_int err = clEnqueueNDRangeKernel(cl->queue, k, dims, NULL, global, local, 0, NULL, NULL);
    return rt_cl_check(err, what);
}

/* ---- measurements ---- */

RtStatus rt_cl_profiling(RtCl *cl, int on)
{
    on = on != 0;
    if (cl->profiling == on)
        return RT_OK;
    RtStatus st = rt_cl_check(clFinish(cl->queue), "the queue before a change of profiling");
    if (st != RT_OK)
        return st;
    cl_int err;
    cl_command_queue q = clCreateCommandQueue(cl->context, cl->device, on ? CL_QUEUE_PROFILING_ENABLE : 0, &err);
    if (err != CL_SUCCESS) {
        rt_set_error("clCreateCommandQueue (profiling %s) on %s: %s", on ? "on" : "off", cl->device_name,
                     rt_cl_error_name(err));
        return RT_ERR_IO;
    }
    clReleaseCommandQueue(cl->queue);
    cl->queue = q;
    cl->profiling = on;
    return RT_OK;
}

/* Seconds between the start and the end of a finished command. */
static RtStatus event_seconds(cl_event ev, double *s)
{
    cl_ulong t0 = 0, t1 = 0;
    cl_int err = clWaitForEvents(1, &ev);
    if (err == CL_SUCCESS)
        err = clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, sizeof t0, &t0, NULL);
    if (err == CL_SUCCESS)
        err = clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof t1, &t1, NULL);
    *s = (double)(t1 - t0) * 1e-9;
    return rt_cl_check(err, "profiling event");
}

RtStatus rt_cl_measure_bandwidth(RtCl *cl, size_t bytes, double *gb_per_s)
{
    *gb_per_s = 0.0;
    const int was = cl->profiling;
    cl_mem src = NULL, dst = NULL;
    RtStatus st = rt_cl_profiling(cl, 1);
    if (st == RT_OK)
        st = rt_cl_buffer(cl, bytes, CL_MEM_READ_WRITE, NULL, &src);
    if (st == RT_OK)
        st = rt_cl_buffer(cl, bytes, CL_MEM_READ_WRITE, NULL, &dst);
    const cl_uint pattern = 0x3f800000u;
    if (st == RT_OK && bytes % sizeof pattern == 0)
        st = rt_cl_check(clEnqueueFillBuffer(cl->queue, src, &pattern, sizeof pattern, 0, bytes,
                                             0, NULL, NULL), "clEnqueueFillBuffer");
    double best = 0.0;
    /* run 0 is a warm-up: first touches may fault pages in */
    for (int rep = 0; st == RT_OK && rep <= MEASURE_REPS; rep++) {
        cl_event ev;
        st = rt_cl_check(clEnqueueCopyBuffer(cl->queue, src, dst, 0, 0, bytes, 0, NULL, &ev),
                         "clEnqueueCopyBuffer");
        if (st != RT_OK)
            break;
        double t;
        st = event_seconds(ev, &t);
        clReleaseEvent(ev);
        if (st == RT_OK && rep > 0 && t > 0.0 && (best == 0.0 || t < best))
            best = t;
    }
    if (src)
        clReleaseMemObject(src);
    if (dst)
        clReleaseMemObject(dst);
    if (st == RT_OK)
        *gb_per_s = best > 0.0 ? 2.0 * (double)bytes / best * 1e-9 : 0.0;
    if (st == RT_OK)
        st = rt_cl_profiling(cl, was);
    return st;
}

/* Every work-item runs PEAK_CHAINS independent chains a = a * b + c, as
 * four float8 vectors; the sum is stored so that nothing can be optimised
 * away. b and c are arguments, so the compiler cannot fold the chains. */
static const char peak_source[] =
    "kernel void hetc_fma_peak(global float *out, int iters, float b, float c)\n"
    "{\n"
    "    float8 a0 = (float)get_global_id(0) * 1e-7f + (float8)(0, 1, 2, 3, 4, 5, 6, 7) * 0.01f;\n"
    "    float8 a1 = a0 + 0.1f, a2 = a0 + 0.2f, a3 = a0 + 0.3f;\n"
    "    for (int i = 0; i < iters; i++) {\n"
    "        a0 = fma(a0, b, c);\n"
    "        a1 = fma(a1, b, c);\n"
    "        a2 = fma(a2, b, c);\n"
    "        a3 = fma(a3, b, c);\n"
    "    }\n"
    "    float8 s = (a0 + a1) + (a2 + a3);\n"
    "    out[get_global_id(0)] = ((s.s0 + s.s1) + (s.s2 + s.s3)) +\n"
    "                            ((s.s4 + s.s5) + (s.s6 + s.s7));\n"
    "}\n";

/* Times one launch of the peak kernel with 'iters' steps. */
static RtStatus peak_run(RtCl *cl, cl_kernel k, size_t global, size_t local, int iters, double *t)
{
    cl_event ev;
    cl_int err = clSetKernelArg(k, 1, sizeof iters, &iters);
    if (err == CL_SUCCESS)
        err = clEnqueueNDRangeKernel(cl->queue, k, 1, NULL, &global, &local, 0, NULL, &ev);
    if (err != CL_SUCCESS)
        return rt_cl_check(err, "FMA peak kernel");
    RtStatus st = event_seconds(ev, t);
    clReleaseEvent(ev);
    return st;
}

RtStatus rt_cl_measure_peak(RtCl *cl, double *gflop_per_s)
{
    *gflop_per_s = 0.0;
    size_t len = sizeof peak_source - 1;
    const char *src = peak_source;
    cl_int err;
    cl_program prog = clCreateProgramWithSource(cl->context, 1, &src, &len, &err);
    if (err != CL_SUCCESS)
        return rt_cl_check(err, "clCreateProgramWithSource (FMA peak)");
    err = clBuildProgram(prog, 1, &cl->device, "", NULL, NULL);
    if (err != CL_SUCCESS) {
        report_build_failure(cl, prog, err);
        clReleaseProgram(prog);
        return RT_ERR_FORMAT;
    }
    size_t local = cl->max_work_group < 256 ? cl->max_work_group : 256;
    size_t cus = cl->compute_units ? cl->compute_units : 1;
    size_t global = (cus * PEAK_ITEMS_PER_CU + local - 1) / local * local;
    cl_kernel k = clCreateKernel(prog, "hetc_fma_peak", &err);
    cl_mem out = NULL;
    RtStatus st = rt_cl_check(err, "clCreateKernel (FMA peak)");
    if (st == RT_OK)
        st = rt_cl_buffer(cl, global * sizeof(float), CL_MEM_WRITE_ONLY, NULL, &out);
    float b = 0.999999f, c = 1e-6f;
    if (st == RT_OK) {
        err = clSetKernelArg(k, 0, sizeof out, &out);
        if (err == CL_SUCCESS)
            err = clSetKernelArg(k, 2, sizeof b, &b);
        if (err == CL_SUCCESS)
            err = clSetKernelArg(k, 3, sizeof c, &c);
        st = rt_cl_check(err, "clSetKernelArg (FMA peak)");
    }
    /* Grow the iteration count until one launch takes at least 20 ms, so
     * that launch overheads do not count; then keep the best of several. */
    const int was = cl->profiling;
    if (st == RT_OK)
        st = rt_cl_profiling(cl, 1);
    int iters = 256;
    double t = 0.0, best = 0.0;
    while (st == RT_OK && (st = peak_run(cl, k, global, local, iters, &t)) == RT_OK &&
           t < 0.02 && iters < (1 << 22))
        iters *= t > 0.002 ? 2 : 8;
    for (int rep = 0; st == RT_OK && rep < MEASURE_REPS; rep++) {
        st = peak_run(cl, k, global, local, iters, &t);
        if (st == RT_OK && t > 0.0 && (best == 0.0 || t < best))
            best = t;
    }
    if (st == RT_OK && best > 0.0)
        *gflop_per_s = 2.0 * PEAK_CHAINS * (double)global * iters / best * 1e-9;
    if (st == RT_OK)
        st = rt_cl_profiling(cl, was);
    if (out)
        clReleaseMemObject(out);
    if (k)
        clReleaseKernel(k);
    clReleaseProgram(prog);
    return st;
}

void rt_cl_close(RtCl *cl)
{
    if (cl->program)
        clReleaseProgram(cl->program);
    if (cl->queue) {
        clFinish(cl->queue);
        clReleaseCommandQueue(cl->queue);
    }
    if (cl->context)
        clReleaseContext(cl->context);
    memset(cl, 0, sizeof *cl);
}

/* ---- subgraph times (model --profile) ---- */

RtStatus rt_cl_sub_begin(RtCl *cl, RtClTimes *ct)
{
    RtStatus st = ct->n == RT_CL_MAX_TIMED ? rt_cl_sub_flush(cl, ct) : rt_cl_profiling(cl, 1);
    if (st == RT_OK)
        st = rt_cl_check(clEnqueueMarkerWithWaitList(cl->queue, 0, NULL, &ct->begin[ct->n]), "subgraph times");
    return st;
}

RtStatus rt_cl_sub_end(RtCl *cl, RtClTimes *ct, RtSubTime *t, int rows, int pos, int run)
{
    RtStatus st = rt_cl_check(clEnqueueMarkerWithWaitList(cl->queue, 0, NULL, &ct->end[ct->n]), "subgraph times");
    if (st != RT_OK) {
        clReleaseEvent(ct->begin[ct->n]);
        return st;
    }
    ct->t[ct->n] = t, ct->rows[ct->n] = rows, ct->pos[ct->n] = pos, ct->run[ct->n] = run;
    ct->n++;
    return RT_OK;
}

RtStatus rt_cl_sub_flush(RtCl *cl, RtClTimes *ct)
{
    RtStatus st = rt_cl_check(clFinish(cl->queue), "subgraph times");
    for (int i = 0; i < ct->n; i++) {
        cl_ulong b = 0, e = 0;
        if (st == RT_OK)
            st = rt_cl_check(clGetEventProfilingInfo(ct->begin[i], CL_PROFILING_COMMAND_END, sizeof b, &b, NULL),
                             "subgraph times");
        if (st == RT_OK)
            st = rt_cl_check(clGetEventProfilingInfo(ct->end[i], CL_PROFILING_COMMAND_END, sizeof e, &e, NULL),
                             "subgraph times");
        if (st == RT_OK) {
            RtSubTime *t = ct->t[i];
            t->us += e > b ? (double)(e - b) * 1e-3 : 0;
            t->rows += ct->rows[i];
            t->pos += ct->pos[i];
            t->runs += ct->run[i];
        }
        clReleaseEvent(ct->begin[i]);
        clReleaseEvent(ct->end[i]);
    }
    ct->n = 0;
    return st;
}
