/* fe_gguf.c: GGUF files (llama.cpp's format, versions 2 and 3) and the
 * tokenizer in their metadata.
 *
 * A file is: "GGUF", a u32 version, u64 tensor and key/value counts, the
 * key/value pairs (u64-length strings, a u32 value type, the value; arrays
 * are an element type, a u64 count and the elements), the tensor infos
 * (name, u32 dim count, u64 dims, u32 ggml type, u64 offset) and, aligned to
 * general.alignment (default 32), the data section the offsets point into.
 * The file is mapped and validated whole on open, every count and length
 * against the bytes that are left, so that nothing later reads out of range.
 *
 * fe_tokenizer_from_gguf turns the tokenizer.ggml.* keys into tokenizer.bin
 * the way llama.cpp's llama-vocab.cpp reads them: "llama" is SentencePiece
 * BPE by score with byte fallback, "gpt2" byte-level BPE by merge rank with
 * the pre-tokenizer that tokenizer.ggml.pre names.
 */
#include "fe.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
    GGUF_MAX_STRING = 1 << 30,  /* llama.cpp's limit on one string */
    GGUF_MAX_NAME = 64,         /* ggml's tensor name buffer, NUL included */
    GGUF_MAX_DIMS = 4,
    GGUF_NTYPES = FE_GGUF_F64 + 1,
    KV_MIN_BYTES = 8 + 1 + 4 + 1,       /* key length, a 1-byte key, type, a 1-byte value */
    TENSOR_MIN_BYTES = 8 + 4 + 4 + 8,   /* name length, dim count, type, offset */
    SHOWN_LEN = 64,             /* bytes of a key or name quoted in messages */
};

typedef struct {
    const char *name;
    uint32_t block;             /* elements per block */
    uint32_t size;              /* bytes per block */
} GgmlType;

/* ggml's types by id (ggml.h); the gaps are types removed from the format. */
static const GgmlType ggml_types[] = {
    [0] = {"F32", 1, 4},        [1] = {"F16", 1, 2},        [2] = {"Q4_0", 32, 18},
    [3] = {"Q4_1", 32, 20},     [6] = {"Q5_0", 32, 22},     [7] = {"Q5_1", 32, 24},
    [8] = {"Q8_0", 32, 34},     [9] = {"Q8_1", 32, 36},     [10] = {"Q2_K", 256, 84},
    [11] = {"Q3_K", 256, 110},  [12] = {"Q4_K", 256, 144},  [13] = {"Q5_K", 256, 176},
    [14] = {"Q6_K", 256, 210},  [15] = {"Q8_K", 256, 292},  [16] = {"IQ2_XXS", 256, 66},
    [17] = {"IQ2_XS", 256, 74}, [18] = {"IQ3_XXS", 256, 98}, [19] = {"IQ1_S", 256, 50},
    [20] = {"IQ4_NL", 32, 18},  [21] = {"IQ3_S", 256, 110}, [22] = {"IQ2_S", 256, 82},
    [23] = {"IQ4_XS", 256, 136}, [24] = {"I8", 1, 1},       [25] = {"I16", 1, 2},
    [26] = {"I32", 1, 4},       [27] = {"I64", 1, 8},       [28] = {"F64", 1, 8},
    [29] = {"IQ1_M", 256, 56},  [30] = {"BF16", 1, 2},      [34] = {"TQ1_0", 256, 54},
    [35] = {"TQ2_0", 256, 66},  [39] = {"MXFP4", 32, 17},
};
enum { GGML_NTYPES = sizeof ggml_types / sizeof ggml_types[0] };

const char *fe_ggml_type_name(uint32_t t)
{
    return t < GGML_NTYPES && ggml_types[t].name ? ggml_types[t].name : "?";
}

static const uint8_t value_size[GGUF_NTYPES] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

static const char *const value_names[GGUF_NTYPES] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64",
};

/* The state of parsing one file. */
typedef struct {
    FeGguf *g;
    size_t pos;                 /* next byte to read */
    char what[SHOWN_LEN + 32];  /* what is being read, for messages: "key 'x'" */
    char *err;
    size_t errlen;
} Reader;

/* Copies at most SHOWN_LEN bytes of s, non-printable ones as '?'. */
static void shown(char out[SHOWN_LEN + 1], const char *s, size_t len)
{
    size_t n = len < SHOWN_LEN ? len : SHOWN_LEN;
    for (size_t i = 0; i < n; i++) out[i] = (unsigned char)s[i] >= 0x20 && s[i] != 0x7F ? s[i] : '?';
    out[n] = 0;
}

/* Sets what is being read: kind and a name from the file ("key 'x'"). */
static void set_what(Reader *r, const char *kind, const char *s, size_t len)
{
    char name[SHOWN_LEN + 1];
    shown(name, s, len);
    snprintf(r->what, sizeof r->what, "%s '%s'", kind, name);
}

static int fail(Reader *r, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fe_set_err(r->err, r->errlen, "%s: %s: %s", r->g->path, r->what, msg);
    return -1;
}

static size_t left(const Reader *r)
{
    return r->g->size - r->pos;
}

static int need(Reader *r, uint64_t n)
{
    if (n <= left(r)) return 0;
    return fail(r, "truncated: %llu bytes needed at offset %zu, the file has %zu",
                (unsigned long long)n, r->pos, r->g->size);
}

static int read_u32(Reader *r, uint32_t *v)
{
    if (need(r, 4)) return -1;
    memcpy(v, r->g->base + r->pos, 4);
    r->pos += 4;
    return 0;
}

static int read_u64(Reader *r, uint64_t *v)
{
    if (need(r, 8)) return -1;
    memcpy(v, r->g->base + r->pos, 8);
    r->pos += 8;
    return 0;
}

static int read_str(Reader *r, FeStr *s)
{
    uint64_t len;
    if (read_u64(r, &len)) return -1;
    if (len > GGUF_MAX_STRING) return fail(r, "string of %llu bytes (the limit is 1 GiB)", (unsigned long long)len);
    if (need(r, len)) return -1;
    s->s = (const char *)r->g->base + r->pos;
    s->len = (uint32_t)len;
    r->pos += len;
    return 0;
}

/* A NUL-terminated copy of a key or tensor name, which must not hold NULs. */
static char *copy_name(Reader *r, const FeStr *s)
{
    if (memchr(s->s, 0, s->len)) {
        fail(r, "contains a NUL byte");
        return NULL;
    }
    char *out = malloc(s->len + 1);
    memcpy(out, s->s, s->len);
    out[s->len] = 0;
    return out;
}

/* ---- key/value pairs ---- */

static int read_strings(Reader *r, FeGgufKv *kv)
{
    if (kv->type == FE_GGUF_ARR && kv->n > left(r) / 8)
        return fail(r, "%llu strings cannot fit in the %zu bytes left (truncated or corrupt)",
                    (unsigned long long)kv->n, left(r));
    kv->str = malloc((kv->n ? kv->n : 1) * sizeof *kv->str);
    for (uint64_t i = 0; i < kv->n; i++)
        if (read_str(r, &kv->str[i])) return -1;
    return 0;
}

static int read_numbers(Reader *r, FeGgufKv *kv)
{
    size_t size = value_size[kv->elem];
    if (kv->type != FE_GGUF_ARR && need(r, size)) return -1;
    if (kv->n > left(r) / size)
        return fail(r, "%llu values of %zu bytes cannot fit in the %zu bytes left (truncated or corrupt)",
                    (unsigned long long)kv->n, size, left(r));
    kv->data = r->g->base + r->pos;
    r->pos += kv->n * size;
    if (kv->elem != FE_GGUF_BOOL) return 0;
    for (uint64_t i = 0; i < kv->n; i++)
        if (kv->data[i] > 1) return fail(r, "bool value %u is neither 0 nor 1", kv->data[i]);
    return 0;
}

static int read_value(Reader *r, FeGgufKv *kv)
{
    uint32_t type;
    if (read_u32(r, &type)) return -1;
    kv->n = 1;
    if (type == FE_GGUF_ARR) {
        uint32_t elem;
        if (read_u32(r, &elem) || read_u64(r, &kv->n)) return -1;
        if (elem == FE_GGUF_ARR) return fail(r, "nested arrays are not supported");
        if (elem >= GGUF_NTYPES) return fail(r, "unknown array element type %u", elem);
        kv->type = FE_GGUF_ARR;
        kv->elem = (FeGgufType)elem;
    } else {
        if (type >= GGUF_NTYPES) return fail(r, "unknown value type %u", type);
        kv->type = kv->elem = (FeGgufType)type;
    }
    return kv->elem == FE_GGUF_STR ? read_strings(r, kv) : read_numbers(r, kv);
}

static int read_kv(Reader *r, size_t i)
{
    FeGgufKv *kv = &r->g->kv[i];
    FeStr key;
    snprintf(r->what, sizeof r->what, "key #%zu", i);
    if (read_str(r, &key)) return -1;
    if (key.len == 0) return fail(r, "empty key");
    set_what(r, "key", key.s, key.len);
    kv->key = copy_name(r, &key);
    if (!kv->key) return -1;
    return read_value(r, kv);
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Fails if two of the n names are equal; the i-th is the char * at
 * first + i * stride (the key or name field of an array of structs). */
static int check_unique(Reader *r, const char *kind, const void *first, size_t n, size_t stride)
{
    char **sorted = malloc((n ? n : 1) * sizeof *sorted);
    for (size_t i = 0; i < n; i++) memcpy(&sorted[i], (const char *)first + i * stride, sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_str_ptr);
    const char *dup = NULL;
    for (size_t i = 1; i < n && !dup; i++)
        if (strcmp(sorted[i - 1], sorted[i]) == 0) dup = sorted[i];
    if (dup) {
        set_what(r, kind, dup, strlen(dup));
        fail(r, "appears twice");
    }
    free(sorted);
    return dup ? -1 : 0;
}

static int read_alignment(Reader *r)
{
    FeGguf *g = r->g;
    g->alignment = 32;
    const FeGgufKv *kv = fe_gguf_find(g, "general.alignment");
    if (!kv) return 0;
    snprintf(r->what, sizeof r->what, "key 'general.alignment'");
    if (kv->type != FE_GGUF_U32) return fail(r, "expected u32, got %s", value_names[kv->type]);
    uint32_t a;
    memcpy(&a, kv->data, 4);
    if (a == 0 || (a & (a - 1)) != 0) return fail(r, "alignment %u is not a power of two", a);
    g->alignment = a;
    return 0;
}

/* ---- tensor infos ---- */

static int tensor_size(Reader *r, FeGgufTensor *t)
{
    const GgmlType *gt = &ggml_types[t->type];
    if (t->ndim > 0 && t->dims[0] % gt->block != 0)
        return fail(r, "%lld elements per row is not a multiple of %s's block of %u", (long long)t->dims[0],
                    gt->name, gt->block);
    uint64_t numel = 1;
    for (int d = 0; d < t->ndim; d++) {
        uint64_t dim = (uint64_t)t->dims[d];
        if (dim && numel > (uint64_t)INT64_MAX / dim) return fail(r, "too many elements");
        numel *= dim;
    }
    uint64_t blocks = numel / gt->block;
    if (blocks && blocks > UINT64_MAX / gt->size) return fail(r, "too many bytes");
    t->nbytes = blocks * gt->size;
    return 0;
}

static int read_dims(Reader *r, FeGgufTensor *t)
{
    uint32_t ndim;
    if (read_u32(r, &ndim)) return -1;
    if (ndim > GGUF_MAX_DIMS) return fail(r, "%u dimensions (ggml allows %d)", ndim, GGUF_MAX_DIMS);
    t->ndim = (int)ndim;
    for (int d = 0; d < t->ndim; d++) {
        uint64_t dim;
        if (read_u64(r, &dim)) return -1;
        if (dim > (uint64_t)INT64_MAX) return fail(r, "dimension %d is %llu", d, (unsigned long long)dim);
        t->dims[d] = (int64_t)dim;
    }
    return 0;
}

static int read_tensor_info(Reader *r, size_t i)
{
    FeGgufTensor *t = &r->g->tensors[i];
    FeStr name;
    snprintf(r->what, sizeof r->what, "tensor #%zu", i);
    if (read_str(r, &name)) return -1;
    set_what(r, "tensor", name.s, name.len);
    if (name.len >= GGUF_MAX_NAME) return fail(r, "name of %u bytes (ggml allows %d)", name.len, GGUF_MAX_NAME - 1);
    t->name = copy_name(r, &name);
    if (!t->name || read_dims(r, t) || read_u32(r, &t->type) || read_u64(r, &t->offset)) return -1;
    if (t->type >= GGML_NTYPES || !ggml_types[t->type].name) return fail(r, "unknown ggml type %u", t->type);
    if (t->offset % r->g->alignment) return fail(r, "offset %llu is not a multiple of the alignment %llu",
                                                 (unsigned long long)t->offset,
                                                 (unsigned long long)r->g->alignment);
    return tensor_size(r, t);
}

/* Places the data section and checks every tensor's bytes lie inside it. */
static int place_data(Reader *r)
{
    FeGguf *g = r->g;
    uint64_t start = r->pos;
    if (g->ntensors > 0) start = (start + g->alignment - 1) / g->alignment * g->alignment;
    if (start > g->size) {
        snprintf(r->what, sizeof r->what, "data section");
        return fail(r, "starts at %llu, past the end of the file (%zu bytes)", (unsigned long long)start, g->size);
    }
    g->data_offset = start;
    uint64_t avail = g->size - start;
    for (size_t i = 0; i < g->ntensors; i++) {
        FeGgufTensor *t = &g->tensors[i];
        set_what(r, "tensor", t->name, strlen(t->name));
        if (t->offset > avail || t->nbytes > avail - t->offset)
            return fail(r, "data [%llu, +%llu) runs past the end of the data section (%llu bytes)",
                        (unsigned long long)t->offset, (unsigned long long)t->nbytes, (unsigned long long)avail);
        t->data = g->base + start + t->offset;
    }
    return 0;
}

/* ---- header ---- */

static int read_header(Reader *r, uint64_t *n_tensors, uint64_t *n_kv)
{
    FeGguf *g = r->g;
    snprintf(r->what, sizeof r->what, "header");
    if (need(r, 4)) return -1;
    if (memcmp(g->base, "GGUF", 4) != 0) {
        char magic[SHOWN_LEN + 1];
        shown(magic, (const char *)g->base, 4);
        return fail(r, "bad magic '%s' (expected 'GGUF')", magic);
    }
    r->pos = 4;
    if (read_u32(r, &g->version)) return -1;
    if (g->version != 2 && g->version != 3) {
        if ((g->version & 0xFFFF) == 0)
            return fail(r, "version 0x%08x: a big-endian file? only little-endian is supported", g->version);
        return fail(r, "version %u is not supported (only 2 and 3)", g->version);
    }
    if (read_u64(r, n_tensors) || read_u64(r, n_kv)) return -1;
    if (*n_kv > left(r) / KV_MIN_BYTES)
        return fail(r, "%llu key/value pairs cannot fit in a file of %zu bytes (truncated or corrupt)",
                    (unsigned long long)*n_kv, g->size);
    if (*n_tensors > left(r) / TENSOR_MIN_BYTES)
        return fail(r, "%llu tensors cannot fit in a file of %zu bytes (truncated or corrupt)",
                    (unsigned long long)*n_tensors, g->size);
    return 0;
}

static int parse(FeGguf *g, char *err, size_t errlen)
{
    Reader r = {.g = g, .err = err, .errlen = errlen};
    uint64_t n_tensors, n_kv;
    if (read_header(&r, &n_tensors, &n_kv)) return -1;
    g->kv = calloc(n_kv ? n_kv : 1, sizeof *g->kv);
    for (g->nkv = 0; g->nkv < n_kv; g->nkv++)
        if (read_kv(&r, g->nkv)) {
            g->nkv++;
            return -1;
        }
    if (check_unique(&r, "key", &g->kv[0].key, g->nkv, sizeof *g->kv) || read_alignment(&r)) return -1;
    g->tensors = calloc(n_tensors ? n_tensors : 1, sizeof *g->tensors);
    for (g->ntensors = 0; g->ntensors < n_tensors; g->ntensors++)
        if (read_tensor_info(&r, g->ntensors)) {
            g->ntensors++;
            return -1;
        }
    if (check_unique(&r, "tensor", &g->tensors[0].name, g->ntensors, sizeof *g->tensors)) return -1;
    return place_data(&r);
}

int fe_gguf_open_mem(FeGguf *g, const char *name, const void *data, size_t size, char *err, size_t errlen)
{
    memset(g, 0, sizeof *g);
    if (strlen(name) >= FE_PATH_LEN) {
        fe_set_err(err, errlen, "%s: path is too long", name);
        return -1;
    }
    strcpy(g->path, name);
    g->base = data;
    g->size = size;
    if (parse(g, err, errlen) == 0) return 0;
    fe_gguf_close(g);
    return -1;
}

int fe_gguf_open(FeGguf *g, const char *path, char *err, size_t errlen)
{
    memset(g, 0, sizeof *g);
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        fe_set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    if (st.st_size == 0) {
        fe_set_err(err, errlen, "%s: header: truncated: the file is empty", path);
        close(fd);
        return -1;
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        fe_set_err(err, errlen, "%s: cannot map: %s", path, strerror(errno));
        return -1;
    }
    if (fe_gguf_open_mem(g, path, map, (size_t)st.st_size, err, errlen) != 0) {
        munmap(map, (size_t)st.st_size);
        return -1;
    }
    g->map = map;
    return 0;
}

void fe_gguf_close(FeGguf *g)
{
    for (size_t i = 0; i < g->nkv; i++) {
        free(g->kv[i].key);
        free(g->kv[i].str);
    }
    for (size_t i = 0; i < g->ntensors; i++) free(g->tensors[i].name);
    free(g->kv);
    free(g->tensors);
    if (g->map) munmap(g->map, g->size);
    memset(g, 0, sizeof *g);
}

/* ---- lookups ---- */

const FeGgufKv *fe_gguf_find(const FeGguf *g, const char *key)
{
    for (size_t i = 0; i < g->nkv; i++)
        if (strcmp(g->kv[i].key, key) == 0) return &g->kv[i];
    return NULL;
}

const FeGgufTensor *fe_gguf_tensor(const FeGguf *g, const char *name)
{
    for (size_t i = 0; i < g->ntensors; i++)
        if (strcmp(g->tensors[i].name, name) == 0) return &g->tensors[i];
    return NULL;
}

const char *fe_gguf_type_name(FeGgufType t)
{
    return (unsigned)t < GGUF_NTYPES ? value_names[t] : "unknown";
}

static int is_int_type(FeGgufType t)
{
    return t <= FE_GGUF_I32 || t == FE_GGUF_U64 || t == FE_GGUF_I64;
}

static int is_number_type(FeGgufType t)
{
    return is_int_type(t) || t == FE_GGUF_F32 || t == FE_GGUF_F64;
}

/* Element i of kv as a signed integer; a u64 above INT64_MAX reads as -1. */
static int64_t elem_int(const FeGgufKv *kv, uint64_t i)
{
    const unsigned char *p = kv->data + i * value_size[kv->elem];
    union { uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32; uint64_t u64; int64_t i64; } v;
    memcpy(&v, p, value_size[kv->elem]);
    switch (kv->elem) {
    case FE_GGUF_U8: case FE_GGUF_BOOL: return v.u8;
    case FE_GGUF_I8: return v.i8;
    case FE_GGUF_U16: return v.u16;
    case FE_GGUF_I16: return v.i16;
    case FE_GGUF_U32: return v.u32;
    case FE_GGUF_I32: return v.i32;
    case FE_GGUF_U64: return v.u64 > (uint64_t)INT64_MAX ? -1 : (int64_t)v.u64;
    default: return v.i64;
    }
}

int64_t fe_gguf_arr_int(const FeGgufKv *kv, uint64_t i)
{
    return elem_int(kv, i);
}

double fe_gguf_arr_float(const FeGgufKv *kv, uint64_t i)
{
    const unsigned char *p = kv->data + i * value_size[kv->elem];
    if (kv->elem == FE_GGUF_F32) {
        float f;
        memcpy(&f, p, 4);
        return f;
    }
    if (kv->elem == FE_GGUF_F64) {
        double d;
        memcpy(&d, p, 8);
        return d;
    }
    return (double)elem_int(kv, i);
}

/* Finds key; 1 if present with a type that ok() accepts (scalars only),
 * 0 if absent, -1 with err otherwise. */
static int lookup(const FeGguf *g, const char *key, int (*ok)(FeGgufType), const char *want,
                  const FeGgufKv **out, char *err, size_t errlen)
{
    const FeGgufKv *kv = fe_gguf_find(g, key);
    if (!kv) return 0;
    if (kv->type == FE_GGUF_ARR || !ok(kv->elem)) {
        fe_set_err(err, errlen, "%s: key '%s': expected %s, got %s%s", g->path, key, want,
                kv->type == FE_GGUF_ARR ? "an array of " : "", value_names[kv->elem]);
        return -1;
    }
    *out = kv;
    return 1;
}

static int is_bool_type(FeGgufType t)
{
    return t == FE_GGUF_BOOL;
}

static int is_str_type(FeGgufType t)
{
    return t == FE_GGUF_STR;
}

int fe_gguf_int(const FeGguf *g, const char *key, int64_t *v, char *err, size_t errlen)
{
    const FeGgufKv *kv;
    int rc = lookup(g, key, is_int_type, "an integer", &kv, err, errlen);
    if (rc != 1) return rc;
    if (kv->elem == FE_GGUF_U64 && elem_int(kv, 0) < 0) {
        fe_set_err(err, errlen, "%s: key '%s': value is above INT64_MAX", g->path, key);
        return -1;
    }
    *v = elem_int(kv, 0);
    return 1;
}

int fe_gguf_float(const FeGguf *g, const char *key, double *v, char *err, size_t errlen)
{
    const FeGgufKv *kv;
    int rc = lookup(g, key, is_number_type, "a number", &kv, err, errlen);
    if (rc == 1) *v = fe_gguf_arr_float(kv, 0);
    return rc;
}

int fe_gguf_bool(const FeGguf *g, const char *key, int *v, char *err, size_t errlen)
{
    const FeGgufKv *kv;
    int rc = lookup(g, key, is_bool_type, "a bool", &kv, err, errlen);
    if (rc == 1) *v = kv->data[0];
    return rc;
}

int fe_gguf_str(const FeGguf *g, const char *key, const FeStr **v, char *err, size_t errlen)
{
    const FeGgufKv *kv;
    int rc = lookup(g, key, is_str_type, "a string", &kv, err, errlen);
    if (rc == 1) *v = &kv->str[0];
    return rc;
}

int fe_gguf_arr(const FeGguf *g, const char *key, FeGgufType elem, const FeGgufKv **v, char *err, size_t errlen)
{
    const FeGgufKv *kv = fe_gguf_find(g, key);
    if (!kv) return 0;
    int ok = kv->type == FE_GGUF_ARR
             && (elem == FE_GGUF_I64 ? is_int_type(kv->elem) : elem == FE_GGUF_F64 ? is_number_type(kv->elem)
                                                                                   : kv->elem == elem);
    if (!ok) {
        const char *want = elem == FE_GGUF_I64 ? "integers" : elem == FE_GGUF_F64 ? "numbers" : value_names[elem];
        fe_set_err(err, errlen, "%s: key '%s': expected an array of %s, got %s%s", g->path, key, want,
                kv->type == FE_GGUF_ARR ? "an array of " : "", value_names[kv->elem]);
        return -1;
    }
    *v = kv;
    return 1;
}

/* ---- tokenizer.ggml.* ---- */

enum {
    TT_UNDEFINED = 0, TT_NORMAL, TT_UNKNOWN, TT_CONTROL, TT_USER_DEFINED, TT_UNUSED, TT_BYTE,
};

/* tokenizer.ggml.pre values and the splits llama.cpp applies for them
 * (llama-vocab.cpp): each group's regexes are hetc's patterns, applied one
 * after the other to every piece, with matches isolated. "default" (also
 * taken when the key is missing) becomes GPT-2's split; llama.cpp's own
 * fallback for it is a cascade of four regexes that hetc's runtime does not
 * implement. */
enum { MAX_SPLITS = 6 };
typedef struct {
    const char *names;          /* space separated */
    RtTokPattern splits[MAX_SPLITS];    /* in order; 0 ends the list */
    int ignore_merges, add_bos; /* llama.cpp's defaults for the group */
} PreTokenizer;

static const PreTokenizer pre_tokenizers[] = {
    {"default gpt-2 phi-2 mpt olmo jais gigachat a.x-4.0 mellum exaone4 trillion granite-docling",
     {RT_PAT_GPT2}, 0, 0},
    {"llama3 llama-v3 llama-bpe falcon3 falcon-h1 pixtral midm-2.0 lfm2", {RT_PAT_LLAMA3}, 1, 1},
    {"dbrx smaug-bpe", {RT_PAT_LLAMA3}, 0, 0},
    {"qwen2 deepseek-r1-qwen stablelm2 megrez hunyuan solar-open", {RT_PAT_QWEN2}, 0, 0},
    {"starcoder refact command-r smollm codeshell exaone minerva-7b mellum2", {RT_PAT_DIGITS, RT_PAT_GPT2}, 0, 0},
    {"falcon", {RT_PAT_PUNCT_SYMBOLS, RT_PAT_GPT2, RT_PAT_ASCII_DIGITS3}, 0, 0},
    {"deepseek-llm",
     {RT_PAT_NEWLINE, RT_PAT_SPACE_CASED, RT_PAT_SPACE_ASCII_PUNCT, RT_PAT_TRAILING_SPACE, RT_PAT_CJK, RT_PAT_NUMBERS},
     0, 0},
    {"deepseek-coder", {RT_PAT_NEWLINE, RT_PAT_SPACE_LETTERS, RT_PAT_SPACE_PUNCT, RT_PAT_CJK, RT_PAT_DIGITS}, 0, 0},
};
enum { NPRE = sizeof pre_tokenizers / sizeof pre_tokenizers[0] };

/* What the tokenizer keys say, read and checked. */
typedef struct {
    const FeGguf *g;
    const FeGgufKv *tokens, *scores, *types;
    uint32_t n;
    int spm;                    /* "llama"; else "gpt2" */
    char *err;
    size_t errlen;
} GgufTok;

static int tok_fail(const GgufTok *t, const char *key, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fe_set_err(t->err, t->errlen, "%s: key '%s': %s", t->g->path, key, msg);
    return -1;
}

static int str_is(const FeStr *s, const char *want)
{
    return s->len == strlen(want) && memcmp(s->s, want, s->len) == 0;
}

static int read_model(GgufTok *t)
{
    const char *key = "tokenizer.ggml.model";
    const FeStr *model = NULL;
    int rc = fe_gguf_str(t->g, key, &model, t->err, t->errlen);
    if (rc < 0) return -1;
    if (rc == 0) return tok_fail(t, key, "missing: the file has no tokenizer");
    if (!str_is(model, "llama") && !str_is(model, "gpt2")) {
        char name[SHOWN_LEN + 1];
        shown(name, model->s, model->len);
        return tok_fail(t, key, "unsupported tokenizer '%s'; hetc knows 'llama' (SentencePiece) and 'gpt2' "
                        "(byte-level BPE)", name);
    }
    t->spm = str_is(model, "llama");
    return 0;
}

/* An optional per-token array: absent, or at least one element per token. */
static int read_per_token(GgufTok *t, const char *key, FeGgufType elem, const FeGgufKv **out)
{
    *out = NULL;
    int rc = fe_gguf_arr(t->g, key, elem, out, t->err, t->errlen);
    if (rc < 0) return -1;
    if (rc == 1 && (*out)->n < t->n)
        return tok_fail(t, key, "%llu values for %u tokens", (unsigned long long)(*out)->n, t->n);
    return 0;
}

static int read_arrays(GgufTok *t)
{
    const char *key = "tokenizer.ggml.tokens";
    int rc = fe_gguf_arr(t->g, key, FE_GGUF_STR, &t->tokens, t->err, t->errlen);
    if (rc < 0) return -1;
    if (rc == 0) return tok_fail(t, key, "missing");
    if (t->tokens->n == 0 || t->tokens->n > FE_TOK_MAX_TOKENS)
        return tok_fail(t, key, "%llu tokens (1 to %d allowed)", (unsigned long long)t->tokens->n,
                        FE_TOK_MAX_TOKENS);
    t->n = (uint32_t)t->tokens->n;
    if (read_per_token(t, "tokenizer.ggml.scores", FE_GGUF_F64, &t->scores)) return -1;
    return read_per_token(t, "tokenizer.ggml.token_type", FE_GGUF_I64, &t->types);
}

/* Entry flags of a token type; -1 for a type that does not exist. */
static int type_flags(int64_t type)
{
    switch (type) {
    case TT_UNDEFINED: case TT_NORMAL: case TT_USER_DEFINED: return 0;
    case TT_UNKNOWN: return RT_TOK_SPECIAL;
    case TT_CONTROL: return RT_TOK_SPECIAL | RT_TOK_CONTROL;
    case TT_UNUSED: return RT_TOK_UNUSED;
    case TT_BYTE: return RT_TOK_BYTE;
    default: return -1;
    }
}

/* Adds token i. Byte-level vocabularies store normal tokens in GPT-2's
 * alphabet: they become bytes; control and user-defined tokens are text. */
static int add_token(const GgufTok *t, FeTokBuilder *b, uint32_t i, char *buf)
{
    const FeStr *s = &t->tokens->str[i];
    int64_t type = t->types ? fe_gguf_arr_int(t->types, i) : TT_NORMAL;
    int flags = type_flags(type);
    if (flags < 0) return tok_fail(t, "tokenizer.ggml.token_type", "token %u has type %lld (0 to 6 exist)", i,
                                   (long long)type);
    int byte = 0;
    if (type == TT_BYTE && (byte = fe_tok_byte_value(s->s, s->len)) < 0) {
        char name[SHOWN_LEN + 1];
        shown(name, s->s, s->len);
        return tok_fail(t, "tokenizer.ggml.tokens", "token %u '%s' has the byte type but is not <0xXX>", i, name);
    }
    long len = !t->spm && type <= TT_NORMAL ? fe_tok_unbyte(s->s, s->len, buf) : -1;
    float score = t->scores ? (float)fe_gguf_arr_float(t->scores, i) : 0.0f;
    fe_tokb_token(b, i, len >= 0 ? buf : s->s, len >= 0 ? (size_t)len : s->len, score, (unsigned)flags,
                  (unsigned)byte);
    if (type == TT_UNKNOWN || type == TT_CONTROL) fe_tokb_added(b, i, RT_TOK_SPECIAL);
    if (type == TT_USER_DEFINED) fe_tokb_added(b, i, 0);
    return 0;
}

static int add_tokens(const GgufTok *t, FeTokBuilder *b)
{
    uint32_t longest = 0;
    for (uint32_t i = 0; i < t->n; i++)
        if (t->tokens->str[i].len > longest) longest = t->tokens->str[i].len;
    char *buf = malloc(longest + 1);
    int rc = 0;
    for (uint32_t i = 0; i < t->n && rc == 0; i++) rc = add_token(t, b, i, buf);
    free(buf);
    return rc;
}

/* Merges "a b" (split at the first space after the first byte, as llama.cpp
 * does), resolved by the stored (byte-level) token text; merges naming
 * missing tokens are skipped. */
static int add_merges(const GgufTok *t, FeTokBuilder *b)
{
    const char *key = "tokenizer.ggml.merges";
    const FeGgufKv *merges;
    int rc = fe_gguf_arr(t->g, key, FE_GGUF_STR, &merges, t->err, t->errlen);
    if (rc < 0) return -1;
    if (rc == 0) return tok_fail(t, key, "missing: a gpt2 tokenizer needs its merges");
    FeStrIndex index;
    fe_str_index_build(&index, t->tokens->str, t->n);
    char *joined = NULL;
    size_t cap = 0;
    for (uint64_t i = 0; i < merges->n; i++) {
        const FeStr *m = &merges->str[i];
        const char *space = m->len > 1 ? memchr(m->s + 1, ' ', m->len - 1) : NULL;
        if (!space) continue;
        size_t la = (size_t)(space - m->s), lb = m->len - la - 1;
        if (la + lb > cap) joined = realloc(joined, cap = la + lb);
        memcpy(joined, m->s, la);
        memcpy(joined + la, space + 1, lb);
        int64_t left = fe_str_index_find(&index, m->s, la), right = fe_str_index_find(&index, space + 1, lb);
        int64_t result = fe_str_index_find(&index, joined, la + lb);
        if (left >= 0 && right >= 0 && result >= 0)
            fe_tokb_merge(b, (uint32_t)left, (uint32_t)right, (uint32_t)i, (uint32_t)result);
    }
    free(joined);
    fe_str_index_free(&index);
    return 0;
}

static const PreTokenizer *find_pre(const FeStr *name)
{
    for (int i = 0; i < NPRE; i++)
        for (const char *p = pre_tokenizers[i].names; *p;) {
            size_t len = strcspn(p, " ");
            if (len == name->len && memcmp(p, name->s, len) == 0) return &pre_tokenizers[i];
            p += len + (p[len] == ' ');
        }
    return NULL;
}

static int read_pre(const GgufTok *t, const PreTokenizer **pre)
{
    const char *key = "tokenizer.ggml.pre";
    static const FeStr dflt = {"default", 7};
    const FeStr *name = &dflt;
    if (fe_gguf_str(t->g, key, &name, t->err, t->errlen) < 0) return -1;
    *pre = find_pre(name);
    if (*pre) return 0;
    char shown_name[SHOWN_LEN + 1], known[1024] = "";
    shown(shown_name, name->s, name->len);
    for (int i = 0; i < NPRE; i++) snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s",
                                            i ? " " : "", pre_tokenizers[i].names);
    return tok_fail(t, key, "unsupported pre-tokenizer '%s'; hetc knows: %s", shown_name, known);
}

/* llama.cpp's SentencePiece handling: spaces become U+2581 and one is put
 * before the text; decoding undoes both. */
static int spm_ops(const GgufTok *t, FeTokBuilder *b)
{
    int prefix_space = 1;
    if (fe_gguf_bool(t->g, "tokenizer.ggml.add_space_prefix", &prefix_space, t->err, t->errlen) < 0) return -1;
    if (prefix_space) fe_tokb_op(b, RT_TN_PREPEND, 0, 0, 0, "\xE2\x96\x81", NULL);
    fe_tokb_op(b, RT_TN_REPLACE, 0, 0, 0, " ", "\xE2\x96\x81");
    fe_tokb_op(b, RT_TD_REPLACE, 0, 0, 0, "\xE2\x96\x81", " ");
    fe_tokb_op(b, RT_TD_BYTE_FALLBACK, 0, 0, 0, NULL, NULL);
    fe_tokb_op(b, RT_TD_FUSE, 0, 0, 0, NULL, NULL);
    if (prefix_space) fe_tokb_op(b, RT_TD_STRIP, 1, 0, 0, " ", NULL);
    return 0;
}

static void bpe_ops(const PreTokenizer *pre, FeTokBuilder *b)
{
    for (int i = 0; i < MAX_SPLITS && pre->splits[i]; i++)
        fe_tokb_op(b, RT_TP_SPLIT, (int32_t)pre->splits[i], RT_SPLIT_ISOLATED, 0, NULL, NULL);
    fe_tokb_op(b, RT_TP_BYTE_LEVEL, 0, 0, 0, NULL, NULL);
    fe_tokb_op(b, RT_TD_BYTE_LEVEL, 0, 0, 0, NULL, NULL);
}

/* A special token id: the key's value, or dflt when absent (or out of range). */
static int special_id(const GgufTok *t, const char *key, int32_t dflt, int32_t *id)
{
    int64_t v;
    int rc = fe_gguf_int(t->g, key, &v, t->err, t->errlen);
    if (rc < 0) return -1;
    if (rc == 0) {
        *id = dflt >= 0 && (uint32_t)dflt < t->n ? dflt : -1;
        return 0;
    }
    if (v < 0 || v >= t->n) return tok_fail(t, key, "id %lld is out of range (%u tokens)", (long long)v, t->n);
    *id = (int32_t)v;
    return 0;
}

static int read_specials(const GgufTok *t, RtTokHeader *h, int add_bos_dflt)
{
    int32_t eot, eom;
    if (special_id(t, "tokenizer.ggml.bos_token_id", t->spm ? 1 : -1, &h->bos_id)
        || special_id(t, "tokenizer.ggml.eos_token_id", t->spm ? 2 : -1, &h->eos_id)
        || special_id(t, "tokenizer.ggml.unknown_token_id", t->spm ? 0 : -1, &h->unk_id)
        || special_id(t, "tokenizer.ggml.padding_token_id", -1, &h->pad_id)
        || special_id(t, "tokenizer.ggml.eot_token_id", -1, &eot)
        || special_id(t, "tokenizer.ggml.eom_token_id", -1, &eom))
        return -1;
    fe_tok_add_eos(h, h->eos_id);
    fe_tok_add_eos(h, eot);
    fe_tok_add_eos(h, eom);
    int add_bos = add_bos_dflt, add_eos_token = 0;
    if (fe_gguf_bool(t->g, "tokenizer.ggml.add_bos_token", &add_bos, t->err, t->errlen) < 0
        || fe_gguf_bool(t->g, "tokenizer.ggml.add_eos_token", &add_eos_token, t->err, t->errlen) < 0)
        return -1;
    if (add_bos && h->bos_id < 0) return tok_fail(t, "tokenizer.ggml.add_bos_token", "true, but there is no bos id");
    if (add_eos_token && h->eos_id < 0)
        return tok_fail(t, "tokenizer.ggml.add_eos_token", "true, but there is no eos id");
    if (add_bos) h->prefix[h->n_prefix++] = h->bos_id;
    if (add_eos_token) h->suffix[h->n_suffix++] = h->eos_id;
    return 0;
}

static int read_chat(const GgufTok *t, RtTokHeader *h)
{
    const FeStr *tmpl = NULL;
    int rc = fe_gguf_str(t->g, "tokenizer.chat_template", &tmpl, t->err, t->errlen);
    if (rc <= 0) return rc;
    char *text = malloc((size_t)tmpl->len + 1);
    memcpy(text, tmpl->s, tmpl->len);
    text[tmpl->len] = 0;
    h->chat_format = fe_tok_chat_format(text);
    free(text);
    return 0;
}

static int build(const GgufTok *t, FeTokBuilder *b)
{
    RtTokHeader *h = fe_tokb_header(b);
    const PreTokenizer *pre = NULL;
    if (add_tokens(t, b)) return -1;
    if (t->spm) {
        h->model = RT_TOK_SPM;
        h->flags = RT_TOK_BYTE_FALLBACK;
        if (spm_ops(t, b)) return -1;
    } else {
        if (read_pre(t, &pre) || add_merges(t, b)) return -1;
        h->model = RT_TOK_BPE;
        h->flags = RT_TOK_BYTE_LEVEL | (pre->ignore_merges ? RT_TOK_IGNORE_MERGES : 0);
        bpe_ops(pre, b);
    }
    if (read_specials(t, h, t->spm || pre->add_bos)) return -1;
    return read_chat(t, h);
}

int fe_tokenizer_from_gguf(const FeGguf *g, void **blob, size_t *bytes, char *err, size_t errlen)
{
    GgufTok t = {.g = g, .err = err, .errlen = errlen};
    *blob = NULL;
    *bytes = 0;
    if (read_model(&t) || read_arrays(&t)) return -1;
    FeTokBuilder *b = fe_tokb_new(t.n);
    int rc = build(&t, b);
    if (rc == 0) rc = fe_tokb_finish(b, g->path, blob, bytes, err, errlen);
    fe_tokb_free(b);
    return rc;
}
