/* cg_weights.c: writes weights.bin and computes the model hash.
 *
 * Layout (runtime/hetc_rt.h): RtWeightsHeader, one RtTensorEntry per weight
 * node in node order, then each tensor's data at a multiple of
 * RT_WEIGHTS_ALIGN, converted from the checkpoint's dtype to the node's.
 * Tensors are read (pread from the checkpoint's files: faulting the mmap in
 * page by page is several times slower) and converted in bounded slices, so
 * a multi-GB checkpoint needs little memory; progress goes to stderr for
 * large files.
 */
#include "cg.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../runtime/hetc_rt.h"

enum { SLICE = 1 << 20 };   /* elements converted at a time (whole groups of 128 values: layout g4; of 16 rows: r16) */

static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

uint64_t cg_model_hash(const IrGraph *g)
{
    char *text = ir_print_str(g);
    uint64_t h = fnv(0xcbf29ce484222325ULL, text, strlen(text));
    free(text);
    uint32_t abi = RT_WEIGHTS_VERSION;
    return fnv(h, &abi, sizeof abi);
}

int cg_weight_index(const IrGraph *g, int id)
{
    int k = 0;
    for (int i = 0; i < id; i++) k += g->nodes[i].op == IR_OP_WEIGHT;
    return k;
}

static uint16_t to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffff) > 0x7f800000) return (uint16_t)((x >> 16) | 0x40);
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

/* Buffers of one slice and the checkpoint files opened for reading. */
typedef struct {
    const FeWeights *w;
    int *fd;            /* [w->nfiles], -1 until opened */
    void *raw;          /* SLICE elements as stored in the checkpoint */
    float *f32;         /* SLICE elements as f32 */
    uint16_t *half;     /* SLICE elements as f16 or bf16 */
} Slices;

/* Reads n elements of t from element first into s->raw (for a block type,
 * n and first are multiples of its block: a part starts at a row). */
static int read_slice(Slices *s, const FeTensor *t, int64_t first, int64_t n)
{
    size_t bytes = (size_t)ir_dtype_bytes(t->dtype, n), done = 0;
    off_t skip = (off_t)ir_dtype_bytes(t->dtype, first);
    if (t->in_memory) {
        memcpy(s->raw, (const char *)t->data + skip, bytes);
        return 1;
    }
    const FeFile *file = &s->w->files[t->file];
    if (s->fd[t->file] < 0) s->fd[t->file] = open(file->path, O_RDONLY);
    off_t at = (const char *)t->data - (const char *)file->map + skip;
    while (s->fd[t->file] >= 0 && done < bytes) {
        ssize_t got = pread(s->fd[t->file], (char *)s->raw + done, bytes - done, at + (off_t)done);
        if (got <= 0) return 0;
        done += (size_t)got;
    }
    return done == bytes;
}

/* Layout g4 (pass place, ops.def) of q8_0 or q4_0 blocks (whole groups of
 * 4, as every slice of a g4 weight is: its rows are): each group becomes their 4 f16 scales, then their quants,
 * q8_0's in order, q4_0's as 16 little-endian 32-bit words whose nibble k
 * of word j is value 8j + k of the group (q + 8, as in the block). */
static void to_g4(IrDtype dt, const unsigned char *src, unsigned char *dst, size_t bytes)
{
    size_t bb = (size_t)ir_dtype_bytes(dt, 32);
    for (size_t g = 0; g < bytes; g += 4 * bb, src += 4 * bb, dst += 4 * bb) {
        unsigned char *q = dst + 8;
        for (int b = 0; b < 4; b++) memcpy(dst + 2 * b, src + b * bb, 2);
        if (dt == IR_Q8_0) {
            for (int b = 0; b < 4; b++) memcpy(q + 32 * b, src + b * bb + 2, 32);
            continue;
        }
        for (int j = 0; j < 16; j++) {
            const unsigned char *qs = src + (j / 4) * bb + 2;
            uint32_t word = 0;
            for (int k = 0; k < 8; k++) {
                int v = (j % 4) * 8 + k;    /* value in its block */
                word |= (uint32_t)(v < 16 ? qs[v] & 15 : qs[v - 16] >> 4) << (4 * k);
            }
            for (int k = 0; k < 4; k++) q[4 * j + k] = (unsigned char)(word >> (8 * k));
        }
    }
}

/* Layout r16 (pass place, ops.def) of block rows of cols values (whole groups of 16 rows, as every slice of an r16 weight
 * is): rt_r16_pack's, the runtime's definition of it (rt_quant.c). */
static void to_r16(IrDtype dt, const unsigned char *src, unsigned char *dst, size_t bytes, int64_t cols)
{
    size_t group = 16 * (size_t)ir_dtype_bytes(dt, cols);
    for (size_t g = 0; g < bytes; g += group) rt_r16_pack((RtDtype)dt, dst + g, src + g, cols);
}

/* Writes bytes of blocks of type dt (rows of cols values) in their layout
 * ("g4", "r16" or NULL: as they are), through scratch. */
static int write_blocks(FILE *f, const void *blocks, size_t bytes, IrDtype dt, const char *layout, int64_t cols,
                        void *scratch)
{
    if (layout && strcmp(layout, "g4") == 0) to_g4(dt, blocks, scratch, bytes);
    else if (layout) to_r16(dt, blocks, scratch, bytes, cols);
    if (layout) blocks = scratch;
    return fwrite(blocks, 1, bytes, f) == bytes;
}

/* Writes n elements of t starting at element first, converted to dt;
 * via >= 0: rounded to the values of that block type first; layout: of
 * the blocks, rows of cols values (pass place). */
static int write_slice(FILE *f, Slices *s, const FeTensor *t, int64_t first, int64_t n, IrDtype dt, int via,
                       const char *layout, int64_t cols)
{
    if (!read_slice(s, t, first, n)) return 0;
    size_t src_bytes = (size_t)ir_dtype_bytes(t->dtype, n);
    if (t->dtype == dt) return write_blocks(f, s->raw, src_bytes, dt, layout, cols, s->f32);
    FeTensor view = *t;
    view.ndim = 1;
    view.shape[0] = n;
    view.data = s->raw;
    view.nbytes = src_bytes;
    fe_tensor_to_f32(&view, s->f32);
    if (via >= 0 && via != (int)t->dtype) {
        fe_quant((IrDtype)via, s->f32, s->half, n);
        fe_dequant((IrDtype)via, s->half, s->f32, n);
    }
    if (dt == IR_F32) return fwrite(s->f32, 4, (size_t)n, f) == (size_t)n;
    if (ir_dtype_is_block(dt)) {    /* --weight-dtype: quantised here (whole rows: n is a multiple of the block) */
        size_t bytes = (size_t)ir_dtype_bytes(dt, n);
        fe_quant(dt, s->f32, s->half, n);
        return write_blocks(f, s->half, bytes, dt, layout, cols, s->f32);
    }
    for (int64_t i = 0; i < n; i++) s->half[i] = dt == IR_F16 ? fe_f32_to_f16(s->f32[i]) : to_bf16(s->f32[i]);
    return fwrite(s->half, 2, (size_t)n, f) == (size_t)n;
}

static int64_t numel(const IrNode *n)
{
    int64_t e = 1;
    for (int d = 0; d < n->ndim; d++) e *= n->dim[d];
    return e;
}

static void progress(uint64_t done, uint64_t total, double *last)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double now = ts.tv_sec + ts.tv_nsec * 1e-9;
    if (total < (256u << 20) || !isatty(fileno(stderr)) || (now - *last < 1.0 && done < total)) return;
    *last = now;
    fprintf(stderr, "\rhetc: writing weights.bin: %.2f / %.2f GB", done / 1e9, total / 1e9);
    if (done == total) fputc('\n', stderr);
}

/* A weight derived from tensor t (int8, or the columns of a channel set,
 * of all its rows or a part's): the whole tensor in f32, then
 * ir_weight_derive, as the interpreter does. */
static int write_derived(FILE *f, const IrGraph *g, const IrNode *n, const FeTensor *t)
{
    int64_t total = 1, bytes = numel(n) * ir_dtype_size(n->dtype);
    for (int d = 0; d < t->ndim; d++) total *= t->shape[d];
    float *src = malloc((size_t)total * sizeof *src);
    void *out = malloc((size_t)bytes);
    int ok = src && out;
    if (ok) {
        fe_tensor_to_f32(t, src);
        ir_weight_derive(g, n, src, t->ndim > 1 ? t->shape[1] : 1, out);
        ok = fwrite(out, 1, (size_t)bytes, f) == (size_t)bytes;
    }
    free(src);
    free(out);
    return ok;
}

static void build_table(const IrGraph *g, RtTensorEntry *e, uint64_t *data_offset, int nw)
{
    uint64_t off = sizeof(RtWeightsHeader) + (uint64_t)nw * sizeof(RtTensorEntry);
    off = (off + RT_WEIGHTS_ALIGN - 1) / RT_WEIGHTS_ALIGN * RT_WEIGHTS_ALIGN;
    *data_offset = off;
    int k = 0;
    for (int i = 0; i < g->n; i++) {
        const IrNode *n = &g->nodes[i];
        if (n->op != IR_OP_WEIGHT) continue;
        RtTensorEntry *t = &e[k++];
        memset(t, 0, sizeof *t);
        char key[IR_NAME_LEN + 8];
        snprintf(t->name, sizeof t->name, "%s", ir_weight_key(n, key));
        t->dtype = (uint32_t)n->dtype;
        if (ir_attr(n, "layout") && strcmp(ir_attr_str(n, "layout"), "r16") == 0) t->dtype |= RT_R16;
        t->ndim = (uint32_t)n->ndim;
        for (int d = 0; d < n->ndim; d++) t->shape[d] = n->dim[d];
        t->offset = off;
        t->nbytes = (uint64_t)ir_dtype_bytes(n->dtype, numel(n));
        off = (off + t->nbytes + RT_WEIGHTS_ALIGN - 1) / RT_WEIGHTS_ALIGN * RT_WEIGHTS_ALIGN;
    }
}

int cg_write_weights(const IrGraph *g, const CgOptions *o, const char *path, uint64_t hash, char *err, size_t errlen)
{
    int nw = 0;
    for (int i = 0; i < g->n; i++) {
        if (g->nodes[i].op != IR_OP_WEIGHT) continue;
        char key[IR_NAME_LEN + 8];
        const char *name = ir_weight_key(&g->nodes[i], key);
        if (strlen(name) >= sizeof ((RtTensorEntry *)0)->name) {
            snprintf(err, errlen, "%s: weight '%s' has a name of %zu bytes; weights.bin holds at most %zu", path,
                     name, strlen(name), sizeof ((RtTensorEntry *)0)->name - 1);
            return -1;
        }
        nw++;
    }
    RtTensorEntry *e = calloc((size_t)nw + 1, sizeof *e);
    if (!e) {
        snprintf(err, errlen, "%s: out of memory for a table of %d tensors", path, nw);
        return -1;
    }
    RtWeightsHeader h = {.version = RT_WEIGHTS_VERSION, .n_tensors = (uint32_t)nw, .model_hash = hash};
    memcpy(h.magic, RT_WEIGHTS_MAGIC, 8);
    build_table(g, e, &h.data_offset, nw);
    h.file_bytes = nw ? e[nw - 1].offset + e[nw - 1].nbytes : h.data_offset;
    FILE *f = fopen(path, "wb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        free(e);
        return -1;
    }
    Slices sl = {.w = o->weights, .fd = malloc((size_t)o->weights->nfiles * sizeof(int)),
                 .raw = malloc(SLICE * sizeof(float)), .f32 = malloc(SLICE * sizeof(float)),
                 .half = malloc(SLICE * sizeof(uint16_t))};
    for (int i = 0; sl.fd && i < o->weights->nfiles; i++) sl.fd[i] = -1;
    int ok = sl.fd && sl.raw && sl.f32 && sl.half && fwrite(&h, sizeof h, 1, f) == 1 && fwrite(e, sizeof *e, (size_t)nw, f) == (size_t)nw;
    double last = 0;
    for (int i = 0, k = 0; ok && i < g->n; i++) {
        const IrNode *n = &g->nodes[i];
        if (n->op != IR_OP_WEIGHT) continue;
        const FeTensor *t = fe_weights_find(o->weights, ir_attr_str(n, "name"));
        if (!t) IR_BUG("weight '%s' vanished", ir_attr_str(n, "name"));
        ok = fseek(f, (long)e[k].offset, SEEK_SET) == 0;
        /* a row part (pass partition) is a run of the tensor's elements from its first row */
        int64_t base = ir_attr(n, "row0") ? ir_attr_int(n, "row0") * (n->ndim > 1 ? n->dim[1] : 1) : 0;
        if (ir_attr(n, "wscale") || ir_attr(n, "chans")) ok = ok && write_derived(f, g, n, t);
        else {
            const char *layout = ir_attr(n, "layout") ? ir_attr_str(n, "layout") : NULL;
            int64_t cols = n->ndim > 1 ? n->dim[1] : 1;
            int64_t step = layout && strcmp(layout, "r16") == 0 ? SLICE / (16 * cols) * 16 * cols : SLICE;
            for (int64_t first = 0, total = numel(n); ok && first < total; first += step)
                ok = write_slice(f, &sl, t, base + first, total - first < step ? total - first : step, n->dtype,
                                 ir_attr(n, "blocks") ? ir_dtype_from_name(ir_attr_str(n, "blocks")) : -1, layout, cols);
        }
        progress(e[k].offset + e[k].nbytes, h.file_bytes, &last);
        k++;
    }
    int closed = fclose(f) == 0;
    ok = ok && closed;
    if (!ok) snprintf(err, errlen, "%s: write failed: %s", path, strerror(errno));
    for (int i = 0; sl.fd && i < o->weights->nfiles; i++)
        if (sl.fd[i] >= 0) close(sl.fd[i]);
    free(sl.fd);
    free(sl.raw);
    free(sl.f32);
    free(sl.half);
    free(e);
    return ok ? 0 : -1;
}
