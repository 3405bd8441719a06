/* rt_weights.c: maps weights.bin read-only and validates it (magic, version,
 * size, model hash, the tensor table and every tensor's data range) before
 * the generated code takes pointers into it: every entry's bytes are its
 * dtype size x shape, and the tensors lie in the file in table order,
 * aligned, without overlapping. Errors name the file or the tensor. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "hetc_rt.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

const char *rt_dtype_name(uint32_t dt)
{
    switch (dt) {
    case RT_Q8_0 | RT_R16: return "q8_0 (layout r16)";
    case RT_Q4_0 | RT_R16: return "q4_0 (layout r16)";
    case RT_Q4_1 | RT_R16: return "q4_1 (layout r16)";
    case RT_Q5_0 | RT_R16: return "q5_0 (layout r16)";
    case RT_Q5_1 | RT_R16: return "q5_1 (layout r16)";
    case RT_Q4_K | RT_R16: return "q4_k (layout r16)";
    case RT_Q6_K | RT_R16: return "q6_k (layout r16)";
    case RT_F32: return "f32";
    case RT_F16: return "f16";
    case RT_BF16: return "bf16";
    case RT_I32: return "i32";
    case RT_I8: return "i8";
    case RT_Q8_0: return "q8_0";
    case RT_Q4_0: return "q4_0";
    case RT_Q4_1: return "q4_1";
    case RT_Q5_0: return "q5_0";
    case RT_Q5_1: return "q5_1";
    case RT_Q4_K: return "q4_k";
    case RT_Q5_K: return "q5_k";
    case RT_Q6_K: return "q6_k";
    }
    return "unknown";
}

static RtStatus check_header(const RtWeights *w, const char *path, uint64_t expected_hash)
{
    const RtWeightsHeader *h = w->hdr;
    if (memcmp(h->magic, RT_WEIGHTS_MAGIC, sizeof h->magic) != 0) {
        rt_set_error("%s: not a hetc weights file (bad magic)", path);
        return RT_ERR_FORMAT;
    }
    if (h->version != RT_WEIGHTS_VERSION) {
        rt_set_error("%s: weights format version %" PRIu32 ", this program reads version %d",
                     path, h->version, RT_WEIGHTS_VERSION);
        return RT_ERR_FORMAT;
    }
    if (h->file_bytes > w->size) {
        rt_set_error("%s: file is truncated: %zu bytes, the header says %" PRIu64, path,
                     w->size, h->file_bytes);
        return RT_ERR_IO;
    }
    if (h->file_bytes < w->size) {
        rt_set_error("%s: file has %zu bytes, the header says %" PRIu64, path, w->size,
                     h->file_bytes);
        return RT_ERR_FORMAT;
    }
    if (h->model_hash != expected_hash) {
        rt_set_error("%s: weights were written for another model (hash 0x%016" PRIx64
                     ", this program expects 0x%016" PRIx64
                     "): recompile or pass the matching weights.bin",
                     path, h->model_hash, expected_hash);
        return RT_ERR_FORMAT;
    }
    return RT_OK;
}

static RtStatus check_table(const RtWeights *w, const char *path)
{
    const RtWeightsHeader *h = w->hdr;
    uint64_t table_end = sizeof *h + (uint64_t)h->n_tensors * sizeof(RtTensorEntry);
    if (table_end > w->size) {
        rt_set_error("%s: the table of %" PRIu32 " tensors runs past the end of the file", path,
                     h->n_tensors);
        return RT_ERR_FORMAT;
    }
    if (h->data_offset < table_end || h->data_offset > w->size ||
        h->data_offset % RT_WEIGHTS_ALIGN != 0) {
        rt_set_error("%s: bad data offset %" PRIu64, path, h->data_offset);
        return RT_ERR_FORMAT;
    }
    return RT_OK;
}

/* Values per block of a block type (q8_0, q4_0, q4_1, q5_0, q5_1: 32; q4_k, q5_k, q6_k: 256), 1 for the others. */
static uint64_t dtype_block(uint32_t dt)
{
    dt &= ~(uint32_t)RT_R16;
    return dt >= RT_Q8_0 && dt <= RT_Q5_1 ? 32 : dt == RT_Q4_K || dt == RT_Q5_K || dt == RT_Q6_K ? 256 : 1;
}

/* Bytes of a block (or of one value). */
static uint64_t dtype_size(uint32_t dt)
{
    dt &= ~(uint32_t)RT_R16;
    switch (dt) {
    case RT_Q8_0: return 34;
    case RT_Q4_0: return 18;
    case RT_Q4_1: return 20;
    case RT_Q5_0: return 22;
    case RT_Q5_1: return 24;
    case RT_Q4_K: return 144;
    case RT_Q5_K: return 176;
    case RT_Q6_K: return 210;
    case RT_F32:
    case RT_I32: return 4;
    case RT_I8: return 1;
    }
    return 2;
}

uint64_t rt_dtype_row_bytes(uint32_t dt, int64_t cols)
{
    return dtype_size(dt) * (uint64_t)cols / dtype_block(dt);
}

/* Entry i: a known dtype, a shape of positive dims whose size (checked for
 * overflow) is its byte count, and data inside the file, aligned, after the
 * data of the entry before it (*prev_end, advanced here). */
static RtStatus check_entry(const RtWeights *w, const char *path, uint32_t i, uint64_t *prev_end)
{
    const RtTensorEntry *e = &w->entries[i];
    if (memchr(e->name, 0, sizeof e->name) == NULL) {
        rt_set_error("%s: tensor %" PRIu32 " has an unterminated name", path, i);
        return RT_ERR_FORMAT;
    }
    uint64_t block = dtype_block(e->dtype);
    uint32_t base = e->dtype & ~(uint32_t)RT_R16;   /* layout r16: q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q6_k rows in whole groups of 16 */
    int bad_r16 = base != e->dtype && (base < RT_Q8_0 || base > RT_Q6_K || base == RT_Q2_K || base == RT_Q3_K || base == RT_Q5_K ||
                                       e->ndim != 2 || e->shape[0] % 16);
    if (e->ndim > 4 || (e->dtype > RT_I8 && block == 1) || (block > 1 && (e->ndim != 2 || (uint64_t)e->shape[1] % block)) ||
        bad_r16) {
        rt_set_error("%s: tensor '%s' has a bad dtype (%" PRIu32 ") or rank (%" PRIu32 ")",
                     path, e->name, e->dtype, e->ndim);
        return RT_ERR_FORMAT;
    }
    uint64_t bytes = dtype_size(e->dtype);
    for (uint32_t d = 0; d < e->ndim; d++) {
        if (e->shape[d] <= 0 || (uint64_t)e->shape[d] > UINT64_MAX / bytes) {
            rt_set_error("%s: tensor '%s' has dim %" PRIu32 " of %" PRId64
                         " (dims must be > 0 and the size below 2^64 bytes)",
                         path, e->name, d, e->shape[d]);
            return RT_ERR_FORMAT;
        }
        bytes *= (uint64_t)e->shape[d] / (d == 1 ? block : 1);
    }
    if (bytes != e->nbytes) {
        rt_set_error("%s: tensor '%s' has %" PRIu64 " bytes, its %s shape needs %" PRIu64, path,
                     e->name, e->nbytes, rt_dtype_name(e->dtype), bytes);
        return RT_ERR_FORMAT;
    }
    if (e->offset % RT_WEIGHTS_ALIGN != 0 || e->offset < w->hdr->data_offset ||
        e->offset > w->size || e->nbytes > w->size - e->offset) {
        rt_set_error("%s: tensor '%s' (offset %" PRIu64 ", %" PRIu64
                     " bytes) is misaligned or outside the file (%zu bytes)",
                     path, e->name, e->offset, e->nbytes, w->size);
        return RT_ERR_FORMAT;
    }
    if (e->offset < *prev_end) {
        rt_set_error("%s: tensor '%s' (offset %" PRIu64 ") overlaps tensor '%s' before it (bytes %" PRIu64
                     " to %" PRIu64 ")", path, e->name, e->offset, w->entries[i - 1].name,
                     w->entries[i - 1].offset, *prev_end);
        return RT_ERR_FORMAT;
    }
    *prev_end = e->offset + e->nbytes;
    return RT_OK;
}

static RtStatus check_file(const RtWeights *w, const char *path, uint64_t expected_hash)
{
    RtStatus st = check_header(w, path, expected_hash);
    if (st == RT_OK)
        st = check_table(w, path);
    uint64_t prev_end = 0;
    for (uint32_t i = 0; st == RT_OK && i < w->hdr->n_tensors; i++)
        st = check_entry(w, path, i, &prev_end);
    return st;
}

/* Opens and maps 'path' into w->base / w->size. */
static RtStatus map_file(RtWeights *w, const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        rt_set_error("%s: cannot open: %s", path, strerror(errno));
        return RT_ERR_IO;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        rt_set_error("%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return RT_ERR_IO;
    }
    if ((uint64_t)sb.st_size < sizeof(RtWeightsHeader)) {
        rt_set_error("%s: file is too short (%lld bytes) for a hetc weights file", path,
                     (long long)sb.st_size);
        close(fd);
        return RT_ERR_IO;
    }
    void *base = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_errno = errno;
    close(fd);
    if (base == MAP_FAILED) {
        rt_set_error("%s: cannot map: %s", path, strerror(map_errno));
        return RT_ERR_IO;
    }
    w->base = base;
    w->size = (size_t)sb.st_size;
    return RT_OK;
}

RtStatus rt_weights_open(RtWeights *w, const char *path, uint64_t expected_hash)
{
    memset(w, 0, sizeof *w);
    RtStatus st = map_file(w, path);
    if (st != RT_OK)
        return st;
    w->mapped = 1;
    w->hdr = (const RtWeightsHeader *)w->base;
    w->entries = (const RtTensorEntry *)(w->base + sizeof(RtWeightsHeader));
    st = check_file(w, path, expected_hash);
    if (st != RT_OK)
        rt_weights_close(w);
    return st;
}

RtStatus rt_weights_open_image(RtWeights *w, const void *image, size_t size, const char *what,
                               uint64_t expected_hash)
{
    memset(w, 0, sizeof *w);
    if (size < sizeof(RtWeightsHeader) || ((uintptr_t)image & (RT_WEIGHTS_ALIGN - 1))) {
        rt_set_error("%s: %zu bytes at %p: too short or not %d-byte aligned for a hetc weights image", what, size,
                     image, RT_WEIGHTS_ALIGN);
        return RT_ERR_FORMAT;
    }
    w->base = image;
    w->size = size;
    w->hdr = (const RtWeightsHeader *)w->base;
    w->entries = (const RtTensorEntry *)(w->base + sizeof(RtWeightsHeader));
    RtStatus st = check_file(w, what, expected_hash);
    if (st != RT_OK)
        memset(w, 0, sizeof *w);
    return st;
}

void rt_weights_close(RtWeights *w)
{
    if (w->base && w->mapped)
        munmap((void *)w->base, w->size);
    memset(w, 0, sizeof *w);
}

RtStatus rt_weights_tensor(const RtWeights *w, uint32_t i, const char *name, RtDtype dtype,
                           uint64_t nbytes, const void **data)
{
    *data = NULL;
    if (!w->hdr || i >= w->hdr->n_tensors) {
        rt_set_error("weights: tensor '%s' (#%" PRIu32 ") is missing from the file", name, i);
        return RT_ERR_FORMAT;
    }
    const RtTensorEntry *e = &w->entries[i];
    if (strcmp(e->name, name) != 0) {
        rt_set_error("weights: tensor #%" PRIu32 " is '%s', expected '%s'", i, e->name, name);
        return RT_ERR_FORMAT;
    }
    if (e->dtype != (uint32_t)dtype) {
        rt_set_error("weights: tensor '%s' is %s, expected %s", name, rt_dtype_name(e->dtype),
                     rt_dtype_name((uint32_t)dtype));
        return RT_ERR_FORMAT;
    }
    if (e->nbytes != nbytes) {
        rt_set_error("weights: tensor '%s' has %" PRIu64 " bytes, expected %" PRIu64, name,
                     e->nbytes, nbytes);
        return RT_ERR_FORMAT;
    }
    *data = w->base + e->offset;
    return RT_OK;
}
