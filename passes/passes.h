/* passes.h: the pass pipeline of hetc.
 *
 * Passes form one flat, ordered list (pass_registry.c). Each is
 *   void pass_x(IrGraph *g, const PassCtx *c)
 * in its own file, opening with what it requires and what it provides.
 * A pass that finds bad input reports through pass_error() and returns; the
 * driver stops there. Between passes the driver runs ir_verify. Passes run
 * in list order, each once (pass_registry.c).
 */
#ifndef HETC_PASSES_H
#define HETC_PASSES_H

#include "../compiler/fe.h"
#include "../ir/ir.h"

typedef struct {
    int failed;                 /* set by pass_error */
    char msg[FE_ERR_LEN];       /* the first error */
} PassDiag;

/* --partition: how pass partition places the linears of chunk plans. */
enum { PASS_PARTITION_SOLVE, PASS_PARTITION_NPU };
/* --schedule: chunks' subgraphs out of order (llm.npu's greedy) or in order. */
enum { PASS_SCHEDULE_OOO, PASS_SCHEDULE_INORDER };

/* --remainder: how the tokens left after the chunks of a prompt run. */
enum { PASS_REMAINDER_DEFAULT, PASS_REMAINDER_PAD, PASS_REMAINDER_FLEX };

typedef struct {
    /* model inputs: NULL when running on an IR file (hetc opt) */
    const FeArch *arch;
    const FeConfig *config;
    const FeWeights *weights;
    const char *model_name;
    const char *model_dir;      /* for error messages: "DIR/model.safetensors" */
    /* target: NULL means a single cpu unit */
    const FeTarget *target;
    /* options */
    int weight_dtype;           /* IrDtype of stored matrices, -1: as in the model */
    int shapes_only;            /* the model is config.json alone (planning): every weight takes the shape
                                 * config.json implies, stored as weight_dtype (bf16 when -1) */
    int max_chunk;              /* most tokens one forward takes (memplan size) */
    int ctx;                    /* context length, 0: the model's maximum */
    const int *chunks;          /* --chunk C[,C2..]: static prefill sizes */
    int nchunks;                /* 0: no chunk plans */
    int remainder;              /* PASS_REMAINDER_*: pad or flex (default: flex) */
    int no_decode;              /* --npu-decode: no decode plan (decode steps run as static chunks of 1) */
    /* int8 on npu units (passes quantize and outliers) */
    const FeCalib *calib;       /* statistics of the linears' inputs; NULL: no npu unit to quantise for */
    double outlier_t;           /* --outlier-t: shadow an input only if max > T * p99.9 (0: default 5) */
    double outlier_prune;       /* --outlier-prune: fraction of shadowed inputs pruned (< 0: default 0.85) */
    int no_outliers;            /* --no-outliers: no shadows at all */
    const IrProfile *profile;   /* --profile: measured linears (pass partition); NULL: the target's figures */
    int partition;              /* PASS_PARTITION_*: the solver (default), or every linear of a chunk plan
                                 * on the npu (llm.npu's placement) */
    int schedule;               /* PASS_SCHEDULE_*: out of order across chunks (default) or in order */
    int matmul_bf16;            /* --matmul-precision bf16: cpu linears of bf16 weights round x to bf16 */
    int firmware;               /* --firmware: no heap; memplan sizes the work area (graph work_bytes) */
    int64_t work_bytes;         /* --work-bytes: the work area's size, 0: memplan's estimate */
    PassDiag *diag;
} PassCtx;

void pass_error(const PassCtx *c, const char *fmt, ...);

void pass_lower(IrGraph *g, const PassCtx *c);
void pass_fuse(IrGraph *g, const PassCtx *c);
void pass_dce(IrGraph *g, const PassCtx *c);
void pass_chunk(IrGraph *g, const PassCtx *c);
void pass_place(IrGraph *g, const PassCtx *c);
void pass_transfers(IrGraph *g, const PassCtx *c);
void pass_group(IrGraph *g, const PassCtx *c);
void pass_schedule(IrGraph *g, const PassCtx *c);
void pass_memplan(IrGraph *g, const PassCtx *c);
void pass_partition(IrGraph *g, const PassCtx *c);
void pass_quantize(IrGraph *g, const PassCtx *c);
void pass_outliers(IrGraph *g, const PassCtx *c);
/* The target's units as the graph's IR unit objects (and its dram_gbps). */
void pass_place_units(IrGraph *g, const FeTarget *t);
/* The dtype an npu unit keeps a linear's weight in, for weights stored as
 * wdt: i8 (W8A8, pass quantize) for float types; a block type stays (its
 * values dequantised to half: HeteroLLM's W4A16). */
IrDtype pass_npu_dtype(IrDtype wdt);
/* Whether unit u runs int8 graphs (backend npu-emu). */
int pass_is_npu(const IrGraph *g, int unit);
/* The clip threshold (calibration grid index) of calibration input
 * 'input' with the least measured error summed over its linears, relative
 * to their outputs: without a shadow (err_clip) or with one (err_round). */
int pass_best_tau(const FeCalib *cal, int input, int shadow);

/* HeteroLLM's partition of one linear between a float unit and an npu
 * (pass_partition_solve.c says how each is priced). */
typedef enum {
    PASS_PART_FLOAT,            /* the float unit alone */
    PASS_PART_NPU,              /* the npu alone (s padded to its static rows) */
    PASS_PART_WEIGHT,           /* W's rows split, both at s rows */
    PASS_PART_ACTIVATION,       /* x's rows split: s_npu on the npu (standard chunks), the rest on the float unit */
    PASS_PART_HYBRID,           /* W's rows split, the npu's part at its padded rows s_pad */
    PASS_PART_COUNT
} PassPartChoice;
typedef struct {
    PassPartChoice choice;
    int64_t n_npu;              /* rows of W on the npu (a multiple of its tile); n where it takes all */
    int64_t s_npu;              /* rows of x on the npu */
    int64_t s_pad;              /* the rows of the npu's graph (padded) */
    double us;                  /* predicted time */
    double alone_us[2];         /* the float unit alone, the npu alone */
} PassPart;
/* The least-time partition of x [s,k] @ W [n,k]^T between float unit fu
 * (weights as wf) and npu unit npu (weights as wn). */
void pass_partition_solve(const IrCost *c, int fu, int npu, int64_t n, int64_t k, int64_t s, IrDtype wf, IrDtype wn,
                          PassPart *out);
/* The float unit (the first gpu, else the first cpu) and the npu of g
 * that pass partition splits linears between; -1 where there is none. */
void pass_partition_units(const IrGraph *g, int *fu, int *npu);
/* "float", "npu", "weight", "activation", "hybrid". */
const char *pass_part_name(PassPartChoice c);

typedef struct {
    const char *name;
    void (*run)(IrGraph *g, const PassCtx *c);
    const char *requires;       /* passes that must have run, space separated */
    const char *provides;       /* what it adds to the IR, for messages and --list-passes */
    const char *invalidates;    /* passes whose results it would break: it cannot run after them */
    int needs_model;            /* 1: reads the model (cannot run on an IR file) */
    const char *what;           /* one line for --help */
} PassInfo;

const PassInfo *pass_list(int *n);
const PassInfo *pass_find(const char *name);
int pass_done(const IrGraph *g, const char *name);
/* Runs the named passes (comma separated, or "all": those of the list after
 * the last one g has been through) on g. print_after: pass name, "all" or NULL; dumps the IR text
 * to out after those passes. Returns 0, or -1 with the message in c->diag. */
int pass_run_pipeline(IrGraph *g, const PassCtx *c, const char *passes, const char *print_after, FILE *out);

#endif
