/* cg.h: code generation: from a planned IR graph to a self-contained
 * project (model.h, model.c, main.c, CMakeLists.txt, weights.bin and a
 * copy of the runtime) that builds without hetc.
 *
 * - cg_project.c: the driver; files other than model.c and weights.bin.
 * - cg_c.c: model.c and model.h for cpu units (calls into runtime/).
 * - cg_weights.c: weights.bin and the model hash.
 * - cg_report.c: the --report-json summary of plans, subgraphs and memory.
 * - cg_html.c: the --report HTML page of the plans (partitions, Gantt
 *   charts, memory maps, int8 decisions).
 * - cg_npu.c: the "npu-emu" device backend (static int8 graphs);
 * - cg_opencl.c: the "opencl" device backend, one table of CgBackend;
 *   cg_backend() finds a unit's by its backend name.
 */
#ifndef HETC_CG_H
#define HETC_CG_H

#include <stdint.h>
#include <stdio.h>

#include "../compiler/fe.h"
#include "../ir/ir.h"

typedef struct {
    const char *outdir;         /* OUT_DIR, created if missing */
    const FeWeights *weights;   /* source tensors */
    const FeTarget *target;     /* NULL: one cpu unit */
    const char *runtime_dir;    /* runtime sources to copy */
    const char *command;        /* the hetc command line, for the header comment */
    int threads;                /* default thread count (0: core count at run time) */
    const void *tokenizer;      /* tokenizer.bin image, NULL: none */
    size_t tokenizer_bytes;
    int firmware;               /* --firmware: CMake's MODEL_FIRMWARE defaults to ON */
} CgOptions;

/* Writes the whole project; requires memplan. Progress goes to stderr. */
int cg_emit_project(const IrGraph *g, const CgOptions *o, char *err, size_t errlen);
/* A 64-bit hash of the project in outdir: its files and runtime/'s (not
 * build directories), each one's name, size and bytes, in name order. */
int cg_project_hash(const char *outdir, uint64_t *hash, char *err, size_t errlen);

/* --report-json: plans, subgraphs, per-unit arena and KV bytes (see
 * cg_report.c for the format); target: its name, for the record. */
int cg_report_json(const IrGraph *g, const char *target, const char *path, char *err, size_t errlen);
/* The int8 decisions (passes quantize and outliers) on the inputs of the
 * npu's linears, as the first plan that quantises has them: each
 * quantised input once (every chunk plan makes the same choices). */
typedef struct {
    int quant;                  /* its quant node */
    const char *input;          /* the input's name */
    int layer;
    double scale;               /* activation scale */
    const char *decision;       /* pass outliers': shadow, pruned, below-t, off (none: not set) */
    int hot;                    /* the hot channels its shadows cover */
    double extra_bytes;         /* its shadows' float columns */
} CgInt8Input;
/* Returns how many (0: no int8 plan; else *out is malloc'd); *w8 and
 * *cols: the bytes of the int8 weights and of the shadows' columns. */
int cg_int8_inputs(const IrGraph *g, CgInt8Input **out, double *w8, double *cols);
/* --report: the same decisions for people, one self-contained HTML file
 * with SVG (cg_html.c); cost: the model that predicts times. */
int cg_report_html(const IrGraph *g, const FeTarget *t, const IrCost *cost, const char *path, char *err,
                   size_t errlen);

/* The arena bytes of node n's result at its plan's largest step (0: no buffer). */
int64_t cg_result_bytes(const IrGraph *g, const IrNode *n);
/* Hash of the compiled model (IR text and weight table). */
uint64_t cg_model_hash(const IrGraph *g);
/* weights.bin: every weight node, in node order, converted to its dtype. */
int cg_write_weights(const IrGraph *g, const CgOptions *o, const char *path, uint64_t hash, char *err,
                     size_t errlen);
/* model.c and model.h. */
int cg_emit_c(const IrGraph *g, const CgOptions *o, uint64_t hash, char *err, size_t errlen);
/* Writes len bytes to DIR/NAME; errors name the path. */
int cg_write_file(const char *dir, const char *name, const void *data, size_t len, char *err, size_t errlen);
/* Index of weight node id among the graph's weight nodes. */
int cg_weight_index(const IrGraph *g, int id);

/* ---- the state of writing model.c (cg_c.c), shared with the backends ---- */
typedef struct CgDev CgDev;
typedef struct CgBackend CgBackend;
/* A device unit: a unit with a backend of the table (cg_backend). */
enum { CG_MAX_DEVICES = 4 };
typedef struct {
    const CgBackend *be;
    CgDev *state;               /* the backend's own struct CgDev */
    int unit;                   /* index in g->units */
    char upper[16];             /* the unit's name in capitals (macro names) */
} CgDevice;
typedef struct {
    const IrGraph *g;
    const CgOptions *o;
    FILE *f;                    /* model.c or model.h being written */
    int64_t kv_floats;          /* K (or V) floats per token of the cpu unit's layers */
    int nweights;
    int last_layer;             /* layer of the last emitted node, for section comments */
    int last_sub;               /* its subgraph */
    int plan;                   /* the plan being written */
    unsigned part;              /* bit u set: the code of unit u runs in the function being written (a
                                 * thread of its own per computing device unit in a plan, see cg_c.c) */
    int *handover;              /* [g->n] copies between memory spaces: their flag (and event) index */
    int nhandover;              /* copy flags the largest plan needs */
    int nsubs;                  /* subgraph flags the largest plan needs */
    int sub_at[IR_MAX_PLANS + 1];   /* plan p's subgraph times are m->subt[sub_at[p] .. sub_at[p + 1]) */
    int slots;                  /* MODEL_ARENA_SLOTS: 2 where a plan runs two chunks in flight (pass
                                 * schedule's inflight; each arena twice, slot c % 2 for chunk c) */
    int ooo;                    /* the function being written runs a subgraph of chunk c out of order:
                                 * addresses are in its slot (A, A_<unit>; npu graph_buf[c & 1]) */
    enum { CG_DECLS_CALLS, CG_DECLS, CG_CALLS } mode;   /* what emit_node writes: the pointers to
                                 * its buffers and its code, or one of them (out of order: the
                                 * pointers first, then the code per subgraph) */
    int cpu;                    /* the host unit */
    int ndev;
    CgDevice dev[CG_MAX_DEVICES];
    /* The device whose backend is being called (cg_c.c sets these before
     * each call into a backend's table). */
    const CgBackend *be;
    CgDev *cl;                  /* its state */
    int cl_unit;                /* its index in g->units */
    char upper_unit[16];        /* its name in capitals */
} CgEmit;
/* Whether the code of unit u runs in the function being written. */
int cg_in_part(const CgEmit *e, int u);
/* The unit whose thread runs node n's code: n's own, except for a copy
 * to or from a unit of memory of its own (OpenCL), which that unit's
 * thread enqueues. */
int cg_exec_unit(const CgEmit *e, const IrNode *n);
/* The address of node n's result in the host's memory (the host's arena
 * "A" or the arena of a device unit sharing it) as a float pointer. */
const char *cg_host_addr(const CgEmit *e, const IrNode *n, char *buf, size_t cap);
/* The unit whose arena holds node n's result: its own, or the one pass
 * memplan names (arena=, a join's part inside the join's buffer). */
int cg_arena_unit(const IrGraph *g, const IrNode *n);
/* Bytes from the start of node id's storage (cg_base) to its first element
 * (rows= views; a last_rows view is the backends' own). */
int64_t cg_view_bytes(const IrGraph *g, int id);
/* Whether node id is a tensor of its own to a backend: not a view, or a
 * rows= view (a fixed part of its base). */
int cg_tensor_node(const IrGraph *g, int id);
/* s as the inside of a C string literal: quotes, backslashes, '?' and
 * unprintable bytes escaped. */
const char *cg_c_str(const char *s, char *buf, size_t cap);
/* s made safe inside a C (or OpenCL C) comment: a "*\/" in it is broken up. */
const char *cg_c_comment(const char *s, char *buf, size_t cap);
/* The runtime's name of a dtype (RT_F32, ..., RT_Q6_K). */
const char *cg_rt_dtype(IrDtype t);
/* "S", "R" or a number: the rows of node n as a C expression. */
const char *cg_rows_expr(const IrNode *n, char *buf);
/* The node whose storage holds node id's result (views followed). */
const IrNode *cg_base(const IrGraph *g, int id);

/* ---- device backends: one table per unit backend ----
 * The host unit's code (backend "c") is cg_c.c's own; every other unit
 * backend has a table of these, found by name (cg_backend). The NPU
 * backend plugs in here next to "opencl" (cg_opencl.c). */
struct CgBackend {
    const char *name;                                       /* the units' backend, e.g. "opencl" */
    CgDev *(*plan)(const CgEmit *e, int unit);               /* what the unit's code needs */
    void (*free)(CgDev *state);
    int (*files)(const CgEmit *e, char *err, size_t errlen);    /* files of its own (kernels.cl, ...) */
    void (*includes)(const CgEmit *e);                      /* its headers and declarations in model.c */
    void (*fields)(const CgEmit *e);                        /* struct RtModel members */
    void (*sizes)(const CgEmit *e, FILE *h);                /* its workspace sizes, into model.h */
    void (*init)(const CgEmit *e);                          /* code in init() */
    void (*destroy)(const CgEmit *e);                       /* code in destroy() */
    void (*measure)(const CgEmit *e);                       /* measure() of RtModelApi, MODEL_MEASURE
                                                             * (optional: NULL; the first device's that has one) */
    /* The C expression of the unit's busy seconds since init into buf; 0
     * when it does not count them (optional: NULL). */
    int (*busy)(const CgEmit *e, char *buf, size_t cap);
    /* Writes describe() of RtModelApi and defines MODEL_DESCRIBE (optional: NULL). */
    void (*describe)(const CgEmit *e);
    /* Code in profile() that adds the unit to u[n++] (rt_profile.h; optional: NULL, not measured). */
    void (*profile_unit)(const CgEmit *e);
    /* model --profile's subgraph times on the unit (optional: NULL, the
     * host's clock around the unit's calls, which return when done): code in
     * an `if (T)` branch as a subgraph starts and as it ends (T[k]; rows: a
     * C expression), and once after the function's last subgraph. */
    void (*sub_begin)(const CgEmit *e);
    void (*sub_end)(const CgEmit *e, int k, const char *rows);
    void (*sub_flush)(const CgEmit *e);
    int (*owns)(const CgEmit *e, const IrNode *n);          /* the code of node n is the backend's */
    void (*node)(const CgEmit *e, const IrNode *n);         /* that code */
};
/* The backend for units of backend 'name'; NULL for "c" (the host) and
 * for backends hetc has no code generator for. */
const CgBackend *cg_backend(const char *name);
extern const CgBackend cg_backend_opencl;
extern const CgBackend cg_backend_npu;

/* The arguments of kernel 'kernel' of rt_kernels.cl by name, in order,
 * space separated (gemv, gemm: their fixed head); NULL if unknown. */
const char *cg_cl_kernel_args(const char *kernel);

/* ---- OpenCL kernel templates (cg_cltemplate.c) ----
 * templ is the text of runtime/rt_kernels.cl: families start at lines
 * '//@family NAME PARAM ...' (the file's first comment gives the format).
 * cg_cl_family finds family NAME: *text and *len give its text (after the
 * marker line, up to the next marker), params its PARAM names, single
 * spaced. Returns 0, -1 when there is no such family, -2 when the param
 * list does not fit in cap. */
int cg_cl_family(const char *templ, const char *family, const char **text, size_t *len,
                 char *params, size_t cap);
/* Writes one instance of a family to out: a comment naming the family and
 * its values, '#define KNAME(base) base##suffix', '#define PARAM value' for
 * each param, the family's text, then the matching #undefs. values: one
 * string per param, in order, then NULL (NULL alone for a family without
 * params); suffix: an identifier unique in the program. Returns 0, or -1
 * with a message in err (unknown family, wrong number of values, ...). */
int cg_cl_instantiate(FILE *out, const char *templ, const char *family, const char *suffix,
                      const char *const *values, char *err, size_t errlen);

/* The gemv family's values, in its order: N K WT HAS_BIAS NORM EPI N1 N2
 * HEAD_DIM MAX_S XQ (rt_kernels.cl). cg_cl_gemv_plain fills gv for a plain
 * launch (no RMSNorm, no epilogue) of an N x K linear of weight type wt
 * ("float", "half", "q8_0g", ...) for up to max_s rows, int8 x where xq,
 * and returns gv->p (the values, then NULL) for cg_cl_instantiate: the one
 * list that codegen, `hetc profile` and bench_opencl instantiate. Codegen's
 * fused launches overwrite NORM, EPI, N1, N2 and HEAD_DIM. */
enum { CG_GEMV_VALUES = 11, CG_GEMV_NORM = 4, CG_GEMV_EPI, CG_GEMV_N1, CG_GEMV_N2, CG_GEMV_HEAD_DIM };
typedef struct {
    char v[CG_GEMV_VALUES][24];
    const char *p[CG_GEMV_VALUES + 1];   /* v's strings, then NULL */
} CgGemvValues;
const char *const *cg_cl_gemv_plain(CgGemvValues *gv, int64_t n, int64_t k, const char *wt, int has_bias,
                                    int max_s, int xq);

#endif
