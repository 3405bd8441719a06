/* hetc_rt.h: the versioned ABI between hetc-generated code and its runtime.
 *
 * Generated model.c includes only this header (and model.h). It declares
 * the weights-file format, status codes, the thread pool, the CPU kernels
 * and the model's API; hetc_rt_tok.h (tokenizer.bin, Unicode, patterns)
 * and hetc_rt_sample.h (the sampler) build on it for the driver
 * (rt_cli.c) and the compiler. Everything here is C11 + pthreads; nothing allocates after
 * init; nothing calls exit(): functions return an RtStatus.
 *
 * Bump HETC_RT_ABI_VERSION on any incompatible change; generated code
 * checks it at compile time.
 */
#ifndef HETC_RT_H
#define HETC_RT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define HETC_RT_ABI_VERSION 10

typedef enum {
    RT_OK = 0,
    RT_ERR_IO,          /* file missing, unreadable, short */
    RT_ERR_FORMAT,      /* weights file corrupt or of another model */
    RT_ERR_ARG,         /* bad argument (e.g. prompt past the context) */
    RT_ERR_NOMEM,
    RT_ERR_THREAD,
} RtStatus;

const char *rt_status_name(RtStatus s);
/* Last error message of this thread (set by functions returning != RT_OK). */
const char *rt_last_error(void);
void rt_set_error(const char *fmt, ...);

/* ---- dtypes of stored tensors (values match the compiler's IrDtype) ---- */
typedef enum {
    RT_F32 = 0, RT_F16 = 1, RT_BF16 = 2, RT_I32 = 3, RT_I8 = 4,
    /* llama.cpp's block types: [rows, cols] in blocks of 32 (256) along a row */
    RT_Q8_0 = 5, RT_Q4_0 = 6, RT_Q4_1 = 7, RT_Q5_0 = 8, RT_Q5_1 = 9,
    RT_Q2_K = 10, RT_Q3_K = 11, RT_Q4_K = 12, RT_Q5_K = 13, RT_Q6_K = 14,
    /* or'd into the dtype of a q8_0, q4_0, q4_1, q5_0, q5_1, q4_k or q6_k
     * weight (weights.bin's table, the linears reading it): its rows in
     * layout r16 (rt_quant.c) */
    RT_R16 = 0x100,
    /* or'd into a bf16 weight's dtype in rt_linear (not in weights.bin):
     * x is rounded to bf16 for the multiply-adds, llama.cpp's numerics for
     * bf16 weights: twice the multiply-adds per instruction where the cpu
     * has AVX512_BF16 (hetc compile --matmul-precision bf16) */
    RT_XBF16 = 0x200,
} RtDtype;
const char *rt_dtype_name(uint32_t dt);     /* "f32", ..., "unknown" */
/* Bytes of a row of cols values (a block type's cols: a multiple of its block). */
uint64_t rt_dtype_row_bytes(uint32_t dt, int64_t cols);

/* ---- weights file (weights.bin) ----
 * [RtWeightsHeader][RtTensorEntry x n_tensors][padding][data ...]
 * every tensor's data starts at a multiple of RT_WEIGHTS_ALIGN. */
#define RT_WEIGHTS_MAGIC "HETCWTS1"
#define RT_WEIGHTS_VERSION 1
#define RT_WEIGHTS_ALIGN 64

typedef struct {
    char magic[8];          /* RT_WEIGHTS_MAGIC, not NUL-terminated */
    uint32_t version;       /* RT_WEIGHTS_VERSION */
    uint32_t n_tensors;
    uint64_t model_hash;    /* hash of the compiled model; must match model.h */
    uint64_t data_offset;   /* byte offset of the first tensor's data */
    uint64_t file_bytes;    /* total size of the file */
} RtWeightsHeader;

typedef struct {
    char name[96];          /* model tensor name, NUL-terminated */
    uint32_t dtype;         /* RtDtype */
    uint32_t ndim;
    int64_t shape[4];
    uint64_t offset;        /* from file start, multiple of RT_WEIGHTS_ALIGN */
    uint64_t nbytes;
} RtTensorEntry;

typedef struct {
    const uint8_t *base;    /* mmap'd file, or the image linked in */
    size_t size;
    int mapped;             /* base is a mapping of ours (rt_weights_close unmaps it) */
    const RtWeightsHeader *hdr;
    const RtTensorEntry *entries;   /* [hdr->n_tensors] */
} RtWeights;

/* Maps 'path' and checks magic, version, hash, size and the table (every
 * tensor's bytes are its dtype size x shape, inside the file, aligned, in
 * table order without overlap). Errors name the file and the tensor. */
RtStatus rt_weights_open(RtWeights *w, const char *path, uint64_t expected_hash);
/* The same checks on a weights.bin image in memory (a firmware build links
 * it in, 64-byte aligned); errors name it 'what'. */
RtStatus rt_weights_open_image(RtWeights *w, const void *image, size_t size, const char *what,
                               uint64_t expected_hash);
void rt_weights_close(RtWeights *w);
/* Data of tensor i, checked against the expected dtype and byte size. */
RtStatus rt_weights_tensor(const RtWeights *w, uint32_t i, const char *name, RtDtype dtype,
                           uint64_t nbytes, const void **data);

/* ---- thread pool ----
 * n worker threads (the caller is thread 0); rt_pool_run calls
 * fn(arg, ith, nth) on every thread and returns when all are done. */
typedef struct RtPool RtPool;
typedef void (*RtTaskFn)(void *arg, int ith, int nth);
RtStatus rt_pool_create(RtPool **pool, int nthreads);   /* nthreads <= 0: core count */
void rt_pool_run(RtPool *pool, RtTaskFn fn, void *arg);
int rt_pool_size(const RtPool *pool);
void rt_pool_destroy(RtPool *pool);
int rt_cpu_count(void);
int rt_cpu_dotprod(void);   /* aarch64 with SDOT (Armv8.2 dot product, HWCAP_ASIMDDP); 0 elsewhere */
/* Prefetches the `bytes` bytes RT_PREFETCH_AHEAD past p, as the decode
 * kernels do for the weights they stream: the hardware prefetchers stop at
 * 4 KB pages, so each new page of weights would start with a miss (q4_k_m
 * TinyLlama tg64 on 2 cores: 44 -> 61 t/s; f16 and bf16 gain too). */
enum { RT_PREFETCH_AHEAD = 4096 };
static inline __attribute__((always_inline)) void rt_prefetch_ahead(const void *p, size_t bytes)
{
    for (size_t l = 0; l < bytes; l += 64) __builtin_prefetch((const char *)p + RT_PREFETCH_AHEAD + l);
}

/* ---- units running at once (rt_units.c; its comment has the protocol) ----
 * A ready flag carries the number of the last step whose hand-over it
 * made; rt_flag_wait polls (then yields) until it reaches 'step', or
 * returns RT_ERR_THREAD once *abort is set; where the producer said when
 * it expects to set it (rt_flag_begin: the compiler's predicted time of
 * the work, from its start), a waiter sleeps until shortly before that
 * (woken early by the set), then polls. An RtUnitThread runs the parts of
 * steps posted to it, one at a time. */
typedef struct {
    atomic_uint step;
    atomic_int sleepers;        /* waiters asleep on it (rt_units.c) */
    atomic_uint due_step;       /* the step whose set is predicted at due_s */
    _Atomic double due_s;       /* rt_now() seconds */
} RtFlag;
void rt_flag_begin(RtFlag *f, uint32_t step, double us);   /* the work that sets it for step starts: us long */
void rt_flag_set(RtFlag *f, uint32_t step);
RtStatus rt_flag_wait(RtFlag *f, uint32_t step, const atomic_int *abort);
double rt_flag_waited(void);        /* seconds the calling thread has waited in rt_flag_wait */
typedef RtStatus (*RtUnitFn)(void *arg);
typedef struct RtUnitThread RtUnitThread;
RtStatus rt_unit_create(RtUnitThread **u);
void rt_unit_post(RtUnitThread *u, RtUnitFn fn, void *arg);    /* returns at once */
RtStatus rt_unit_wait(RtUnitThread *u);     /* until the posted part returned; its status */
void rt_unit_destroy(RtUnitThread *u);

/* Chunks out of order (rt_units.c, pass schedule's inflight=2): a prompt's
 * chunks of one static plan, two in flight, their buffers alternating.
 * Each unit's thread runs rt_part_run over its part: its subgraphs of a
 * chunk in order, each once the flags of the other units' subgraphs it
 * reads reached the chunk's step; the ready one of the highest score
 * first, then the earlier chunk. */
typedef RtStatus (*RtSubFn)(void *model, int chunk, int i);    /* runs subgraph i of the part for a chunk */
typedef struct {
    int nsub;                   /* its subgraphs of a chunk, in order */
    const uint16_t *flag;       /* [nsub] the flag each sets when done (its subgraph number) */
    const float *score;         /* [nsub] contribution score: microseconds of npu work it unblocks */
    const float *us;            /* [nsub] its predicted time (rt_flag_begin) */
    const uint16_t *wait_at;    /* [nsub + 1] subgraph i waits for flags wait[wait_at[i] .. wait_at[i + 1]) */
    const uint16_t *wait;
} RtPart;
/* Subgraph times (model --profile): while a model's table of them is set,
 * the thread that runs a subgraph adds the time it spent in it (after its
 * waits; an OpenCL unit's queue finished), the step's rows and its cache
 * position; pass schedule's subgraphs, by plan. */
typedef struct {
    double us, rows, pos;       /* sums over the runs */
    int64_t runs;
} RtSubTime;
void rt_sub_time(RtSubTime *t, double t0, int rows, int pos);     /* one run, from rt_now() t0 to now */
typedef struct {
    RtFlag *flags;              /* the plan's ready flags, one per subgraph */
    const uint16_t *last;       /* [nlast] each part's last subgraph: a chunk is done when all are set */
    int nlast;
    uint32_t step0;             /* chunk c's flag value is step0 + c */
    int nchunks;
    atomic_int *abort;
    RtSubTime *times;           /* NULL, or the plan's subgraph times (by flag) to add to */
    int rows, pos0;             /* a chunk's rows; chunk c's cache position is pos0 + c * rows */
} RtRun;
RtStatus rt_part_run(const RtRun *run, const RtPart *part, RtSubFn fn, void *model);

/* ---- CPU kernels ----
 * Activations are f32, row-major [rows, cols]. Weights may be f32, f16 or
 * bf16 (RtDtype). 'pool' splits work across threads. */
void rt_embed(RtPool *pool, float *out, const void *table, RtDtype dt, const int32_t *ids,
              int S, int H);
void rt_rmsnorm(RtPool *pool, float *out, const float *x, const float *w, int S, int H, float eps);
/* out[S,N] = x[S,K] @ W[N,K]^T (+ bias[N] if not NULL; bias is f32); dt
 * with RT_XBF16 (a bf16 W): x rounded to bf16 first. */
void rt_linear(RtPool *pool, float *out, const float *x, const void *W, RtDtype dt,
               const float *bias, int S, int N, int K);
/* The same, with out's rows ldo >= N floats apart (a part of a split
 * linear writing its columns of the whole result). */
void rt_linear_ld(RtPool *pool, float *out, int64_t ldo, const float *x, const void *W, RtDtype dt,
                  const float *bias, int S, int N, int K);
/* rt_quant.c: out[S, ldo] = x[S,K] @ W[N,K]^T (+ bias) for W in q8_0 or q4_0
 * blocks (K a multiple of 32) or q4_k, q5_k or q6_k (K a multiple of 256);
 * with RT_R16 (q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q6_k; q4_1, q5_0 and
 * q5_1 only so), in layout r16, N a multiple of 16;
 * activations quantised to int8 per block of 32; rt_linear and
 * rt_linear_ld call it for those dtypes. */
void rt_qlinear(RtPool *pool, float *out, int64_t ldo, const float *x, const void *W, RtDtype dt,
                const float *bias, int S, int N, int K);
/* Packs 16 rows of cols values in blocks of dt (q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q6_k)
 * into layout r16 (rt_quant.c describes it; the same bytes in all). */
void rt_r16_pack(RtDtype dt, void *group, const void *rows, int64_t cols);
/* Values first..first+n (multiples of 32) of blocks (q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k; rows of them) as f32. */
void rt_dequant_row(float *out, const void *W, RtDtype dt, int64_t first, int64_t n);
/* The instructions of the float kernels (rt_linear of f32/f16/bf16, the
 * rest of rt_kernels.c), as this build and cpu have them: "avx512",
 * "avx2", "neon", ..., and what the bf16 x bf16 dot products take. */
const char *rt_kernels_isa(void);
/* The instruction path of rt_qlinear on this CPU: "avx512vnni", "avx2", "sdot" or
 * "scalar" (HETC_ISA=NAME picks another that the CPU has). */
const char *rt_quant_isa(void);
/* x, out: [S, heads*head_dim]; position of row s is pos0+s; inv_freq [head_dim/2]. */
void rt_rope(RtPool *pool, float *out, const float *x, const float *inv_freq, int S, int heads,
             int head_dim, int pos0);
/* KV cache of one layer: kc, vc [ctx, kv_heads*head_dim]. Writes k,v rows at
 * pos0..pos0+S-1, then out[S, heads*head_dim] = causal attention of q over
 * keys 0..pos0+s (window > 0: only the last 'window' of them).
 * scratch: rt_pool_size(pool) * ctx floats. */
void rt_attention(RtPool *pool, float *out, const float *q, const float *k, const float *v,
                  float *kc, float *vc, int S, int pos0, int heads, int kv_heads, int head_dim,
                  float scale, int window, int ctx, float *scratch);
void rt_silu(RtPool *pool, float *out, const float *x, int64_t n);
void rt_mul(RtPool *pool, float *out, const float *a, const float *b, int64_t n);
void rt_swiglu(RtPool *pool, float *out, const float *gate, const float *up, int64_t n);
void rt_add(RtPool *pool, float *out, const float *a, const float *b, int64_t n);
/* The shadow of an int8 linear (IR op shadow): out[S,N] = sum over the H
 * channels chans[j] of x [S,K] of e(x[s,chans[j]]) * W[n,j], W [N,H] f32,
 * e(v) = v -/+ 127*scale where |v / scale| > 127, else 0. */
void rt_shadow(RtPool *pool, float *out, const float *x, const float *W, const int32_t *chans, int H, float scale,
               int S, int N, int K);

/* ---- the generated model as seen by the driver (rt_cli.c) ----
 * model.c fills one of these; main.c calls rt_main(argc, argv, &model_api). */
typedef struct RtModel RtModel;
typedef struct {
    const char *name;           /* model name */
    int vocab;                  /* logits per row */
    int max_ctx;                /* compiled maximum context */
    int max_chunk;              /* most tokens one forward() takes */
    double weight_bytes;        /* bytes of weights read per forward */
    double params;              /* parameters (elements of all weights) */
    double flops_per_token;     /* multiply-adds x2 per token, excluding attention */
    /* Loads weights (NULL: the compiled default path), sizes the KV cache for
     * ctx tokens (0: max_ctx), starts 'threads' threads (0: target default). */
    RtStatus (*init)(RtModel **m, const char *weights_path, int ctx, int threads);
    /* Feeds ids[0..S) (S <= max_chunk, position + S <= ctx) at the current
     * position; writes the logits of the last R rows (R == 1 or R == S) to
     * logits[R*vocab]. */
    RtStatus (*forward)(RtModel *m, const int32_t *ids, int S, int R, float *logits);
    void (*reset)(RtModel *m);  /* empties the KV cache */
    int (*position)(const RtModel *m);
    int (*context)(const RtModel *m);
    int (*threads)(const RtModel *m);   /* threads the instance runs on */
    void (*destroy)(RtModel *m);
    const char *tokenizer_path; /* compiled default tokenizer.bin, NULL: the model has none */
    const void *tokenizer_image;    /* tokenizer.bin linked in (firmware builds), else NULL */
    size_t tokenizer_image_bytes;
    /* The device's copy bandwidth (GB/s, read + write) and fp32 FMA rate
     * (GFLOP/s), measured now; NULL when the model runs on the cpu only. */
    RtStatus (*measure)(RtModel *m, double *copy_gb_s, double *fma_gflop_s);
    /* Seconds the host unit and the device unit (named device) have been
     * busy since init: the host's time in steps less its waits for the
     * device, the device's own count. NULL when the model has no device
     * unit that counts its time. */
    const char *device;
    void (*busy)(const RtModel *m, double *host_s, double *device_s);
    /* One line on the device unit as it runs: its compiled graphs and its
     * memory (NULL: nothing to say). */
    void (*describe)(const RtModel *m, char *buf, size_t cap);
    /* --profile FILE: measures the model's linear shapes on each of its
     * units and writes profile.json (rt_profile.h). */
    RtStatus (*profile)(RtModel *m, const char *path);
} RtModelApi;

/* The generated program's command line: --ids, --logits, --batch, --bench,
 * --bench-pp, --bench-tg, --ctx, -m, -t; text generation (-p, -f, -n,
 * --temp, --top-k, --top-p, --min-p, --repeat-penalty, --seed,
 * --ignore-eos, --tok), --tokenize, chat (-i), --perplexity
 * (--ppl-ids, --ppl-window, --ppl-score) and --profile FILE. Returns the process exit code. */
int rt_main(int argc, char **argv, const RtModelApi *api);

/* ---- helpers ---- */
float rt_f16_to_f32(uint16_t h);
uint16_t rt_f32_to_f16(float f);
float rt_bf16_to_f32(uint16_t h);
uint16_t rt_f32_to_bf16(float f);   /* round to nearest even */
double rt_now(void);                /* monotonic seconds */

/* ---- memory (rt_mem.c): the only allocation calls of the runtime and the
 * generated code. A firmware build (RT_NO_HEAP) takes them from the static
 * work area rt_work_area[MODEL_WORK_BYTES]; the others from libc. NULL (with
 * rt_last_error) when there is no room. ---- */
void *rt_alloc(size_t bytes);       /* 64-byte aligned, zeroed */
void *rt_realloc(void *p, size_t bytes);  /* p may be NULL; the added bytes are not zeroed */
void rt_free(void *p);              /* p may be NULL */
size_t rt_mem_peak(size_t *capacity);     /* firmware: the work area's high-water mark and size; else 0 */

/* A first-fit allocator over one caller's array (the work area's). */
typedef struct {
    unsigned char *base;    /* [bytes], 64-byte aligned */
    size_t bytes;
    size_t top;             /* end of the last block */
    size_t peak;            /* the highest top so far */
    size_t in_use;          /* payload bytes of the blocks in use */
} RtRegion;
void rt_region_init(RtRegion *r, void *base, size_t bytes);
void *rt_region_alloc(RtRegion *r, size_t bytes);         /* 64-byte aligned, not zeroed */
void *rt_region_realloc(RtRegion *r, void *p, size_t bytes);
void rt_region_free(RtRegion *r, void *p);

#endif
