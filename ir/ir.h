/* ir.h: the hetc graph IR.
 *
 * A graph is one decoder step of a model: S new tokens enter (ids), the KV
 * cache already holds P tokens, and the logits of the last R positions leave.
 * Nodes are in topological order; node i's operands are nodes with smaller
 * ids. Every node produces one tensor with a (possibly symbolic) shape and a
 * dtype, and remembers where it came from (layer, name) for comments and
 * error messages.
 *
 * Text form (printed by ir_print, read back by ir_parse, one item a line):
 *
 *   hetc-ir 2
 *   graph "llama-tiny" arch="llama"
 *   attr hidden=64 heads=4 eps=1e-05 ...
 *   passes lower fuse place
 *   unit cpu0 kind=cpu backend=c mem=host threads=0
 *   unit gpu0 kind=gpu backend=opencl mem=gpu0 wg=64 tile=16 gflops=500.0
 *   arena 344064 0              (bytes per unit, after memplan)
 *   kv 512 0                    (K floats per token per unit, after memplan)
 *   ws 0 2162688                (attention workspace bytes per unit, after memplan)
 *   %0 = weight() name="model.embed_tokens.weight" : [1024,64] f32 @-1 "embed_tokens" unit=gpu0
 *   ...
 *   plan decode kind=decode s=1..8
 *   %20 = input() : [S] i32 @-1 "ids" unit=cpu0
 *   %21 = embed(%22, %0) : [S,64] f32 @-1 "embed" unit=gpu0 offset=0
 *   ...
 *   plan prefill-32 kind=chunk s=32
 *   %60 = input() : [32] i32 @-1 "ids" unit=cpu0
 *   ...
 *
 * A 'plan' line opens the section of that plan's nodes (after pass chunk;
 * before it there are no plans and the nodes are one step with symbolic S).
 *
 * Units are objects: a name (a C identifier, which nodes use: unit=gpu0),
 * a kind (cpu, gpu, npu), the backend that compiles for it (c, opencl,
 * npu-emu), a memory space (units with the same one share memory: copies
 * are needed only between spaces) and the target's settings and figures as
 * attributes. Codegen and the runtime learn the units from here only.
 *
 * Floats print with %.9g so text round-trips bit-exactly.
 *
 * The passes a graph has been through promise facts that ir_verify checks:
 *   place      at least one unit, and every node has one;
 *   transfers  every operand is in its consumer's memory space, except
 *              weights and RoPE tables (loaded where used) and the operand
 *              of a copy;
 *   group      the only pass that sets the attribute group=A: A is a node
 *              at or after this one, in its own group, on the same unit;
 *   schedule   the only pass that sets node.sub: every node of a plan has
 *              one, numbered from 0 in the plan, never decreasing; a
 *              subgraph is on one unit, and an attention is alone in its;
 *   memplan    the only pass that sets offsets, arena, KV and workspace
 *              sizes: one of each per unit; every attention has a
 *              kv_offset whose slot fits its unit's row; the node
 *              attributes arena=UNIT (a result inside another unit's
 *              arena: a join's part, in the join's buffer) and ld=N (its
 *              rows N floats apart, beside the other part's columns).
 *   chunk      plans: shared constants (weights, tables) first, with no
 *              plan; then each plan's nodes, in plan order, with operands
 *              in their own plan or shared; one input and one output per
 *              plan; no S in a chunk plan's shapes (static).
 * The graph attribute max_chunk, where present, is an int in
 * 1..IR_MAX_CHUNK, and no result has more than 2^48 elements at S = R =
 * max_chunk.
 */
#ifndef HETC_IR_H
#define HETC_IR_H

#include <stdint.h>
#include <stdio.h>

typedef enum {
#define OP(id, name, nin, attrs, view, sem) IR_OP_##id,
#include "ops.def"
#undef OP
    IR_OP_COUNT
} IrOp;

/* Element types. The block types are llama.cpp's weight formats: a block
 * of 32 (or 256 for the K-quants) values along a row stored as quants and
 * scales in a fixed number of bytes; only weights have them. */
typedef enum {
    IR_F32, IR_F16, IR_BF16, IR_I32, IR_I8,
    IR_Q8_0, IR_Q4_0, IR_Q4_1, IR_Q5_0, IR_Q5_1, IR_Q2_K, IR_Q3_K, IR_Q4_K, IR_Q5_K, IR_Q6_K,
    IR_DTYPE_COUNT
} IrDtype;

enum {
    IR_DIM_S = -1, /* tokens in this step (1..max_chunk) */
    IR_DIM_R = -2, /* rows whose logits are returned (1 or S) */
};

enum {
    IR_MAX_IN = 4,
    IR_MAX_DIMS = 4,
    IR_MAX_ATTRS = 10,
    IR_MAX_GRAPH_ATTRS = 32,
    IR_MAX_UNITS = 8,
    IR_MAX_UNIT_ATTRS = 20,
    IR_MAX_PLANS = 8,
    IR_DECODE_MAX = 8,      /* most tokens of a step of the decode plan */
    IR_NAME_LEN = 96,
    IR_MAX_CHUNK = 65536,
    IR_SHAPE_LEN = 96,      /* room for any shape as ir_shape_str writes it */   /* bound on the graph attribute max_chunk */
};

typedef enum { IR_ATTR_INT, IR_ATTR_FLOAT, IR_ATTR_STR } IrAttrKind;

typedef struct {
    char key[24];       /* attribute name, [a-z_0-9]+ */
    IrAttrKind kind;
    int64_t i;          /* IR_ATTR_INT */
    double f;           /* IR_ATTR_FLOAT */
    char s[IR_NAME_LEN];/* IR_ATTR_STR */
} IrAttr;

typedef struct {
    char name[16];              /* a C identifier, e.g. "gpu0" */
    char kind[8];               /* cpu | gpu | npu */
    char backend[16];           /* c | opencl | npu-emu */
    char mem[16];               /* memory space, e.g. "host": equal spaces share memory */
    int nattr;
    IrAttr attr[IR_MAX_UNIT_ATTRS]; /* settings and figures: threads, wg, tile, gflops, gbps, ... */
} IrUnit;

typedef struct {
    int id;                     /* index in IrGraph.nodes, printed %id */
    IrOp op;
    int nin;                    /* operand count */
    int in[IR_MAX_IN];          /* operand node ids, each < id */
    int nattr;
    IrAttr attr[IR_MAX_ATTRS];
    int ndim;                   /* rank of the result, 0..IR_MAX_DIMS */
    int64_t dim[IR_MAX_DIMS];   /* >0 static, IR_DIM_S / IR_DIM_R symbolic */
    IrDtype dtype;              /* of the result */
    int layer;                  /* decoder layer, -1 outside the layers */
    char name[IR_NAME_LEN];     /* readable origin, e.g. "l3.attn.q" */
    int plan;                   /* index in IrGraph.plans, -1: shared by every plan (or no plans yet) */
    int unit;                   /* index in IrGraph.units after 'place', else -1 */
    int sub;                    /* subgraph in its plan after 'schedule', else -1 */
    int64_t offset;             /* byte offset in its unit's arena (or the one attribute arena=
                                 * names) after 'memplan', else -1 */
    int64_t kv_offset;          /* attention after 'memplan': first float of its layer's slot in a
                                 * token's row of its unit's KV cache, else -1 */
} IrNode;

/* Plans (pass 'chunk'): one graph per static shape. A step of S tokens
 * runs on plan 'decode' when S <= its s_max; else as chunks, largest
 * first while at least C tokens are left, then the remainder d on plan
 * 'flex' if there is one, else padded (masked rows) to the smallest chunk. */
typedef enum { IR_PLAN_DECODE, IR_PLAN_CHUNK, IR_PLAN_FLEX, IR_PLAN_KIND_COUNT } IrPlanKind;

typedef struct {
    char name[24];              /* "decode", "prefill-32", "flex" */
    IrPlanKind kind;
    int64_t s_min, s_max;       /* tokens of one step; a chunk plan is static: s_min == s_max == C */
    int inflight;               /* pass schedule: chunks of a prompt in flight at once: 2 where its chunks
                                 * run out of order (their buffers alternate), 1 in order; 0 before.
                                 * Text: ' inflight=2' after s= (1 and 0 are not written) */
} IrPlan;

/* A channel set (pass outliers): the input channels of a quantised
 * linear that produced outliers in calibration, ascending. Text form:
 * 'chans NAME c0 c1 ...', one line per set, before the nodes. */
typedef struct {
    char name[IR_NAME_LEN];     /* e.g. "l3.mlp.down.in" */
    int n;                      /* channels, >= 1 */
    int32_t *idx;               /* [n] ascending, owned by the graph */
} IrChans;

typedef struct {
    char model[IR_NAME_LEN];    /* model name (directory base name) */
    char arch[32];              /* architecture XML name, e.g. "llama" */
    int nattr;
    IrAttr attr[IR_MAX_GRAPH_ATTRS]; /* model dims: hidden, heads, vocab, ctx, max_chunk, ... */
    char passes[160];           /* names of the passes run so far, in order, space separated */
    int nunits;
    IrUnit units[IR_MAX_UNITS]; /* the target's units, after 'place' */
    int nplans;                 /* 0 before pass 'chunk': the nodes are one step with symbolic S */
    IrPlan plans[IR_MAX_PLANS];
    int narena;                 /* entries of arena[]: one per unit after memplan, else 0 */
    int64_t arena[IR_MAX_UNITS];/* bytes of each unit's activation arena */
    int nkv;                    /* entries of kv[] and ws[]: one per unit after memplan, else 0 */
    int64_t kv[IR_MAX_UNITS];   /* K (and as many V) floats per token in each unit's KV cache */
    int64_t ws[IR_MAX_UNITS];   /* bytes of each unit's attention workspace (split-K partials) */
    int nchans;                 /* channel sets (pass outliers) */
    IrChans *chans;             /* [nchans], malloc'd */
    IrNode *nodes;              /* [n] in topological order */
    int n, cap;
} IrGraph;

/* ---- op table queries (ir_graph.c) ---- */
const char *ir_op_name(IrOp op);
int ir_op_from_name(const char *name);          /* -1 if unknown */
int ir_op_ninputs(IrOp op);                     /* -1: 2 or 3 */
const char *ir_op_attrs(IrOp op);               /* "eps:f ..." */
int ir_op_is_view(IrOp op);
const char *ir_op_semantics(IrOp op);
const char *ir_dtype_name(IrDtype t);           /* "f32", "f16", "bf16", "i32", "i8" */
int ir_dtype_from_name(const char *name);       /* -1 if unknown */
int ir_dtype_size(IrDtype t);                   /* bytes per element of a plain type (a block type: internal bug) */
int ir_dtype_block(IrDtype t);                  /* values per block: 1 for plain types, 32 or 256 */
int ir_dtype_is_block(IrDtype t);
/* Bytes of numel values of type t (numel a multiple of its block). */
int64_t ir_dtype_bytes(IrDtype t, int64_t numel);

/* ---- graph building (ir_graph.c) ---- */
void ir_graph_init(IrGraph *g, const char *model, const char *arch);
void ir_graph_free(IrGraph *g);
void ir_graph_copy(IrGraph *dst, const IrGraph *src);
/* Appends a node; returns its id. Operands are given as ids; shape is copied. */
int ir_add(IrGraph *g, IrOp op, int nin, const int *in, int ndim, const int64_t *dim,
           IrDtype dtype, int layer, const char *name);
/* Appends a copy of n (operands as they are in n: already renumbered for
 * g) with its attributes, unit and plan; returns its id. For passes that
 * rebuild a graph node by node. */
int ir_add_like(IrGraph *g, const IrNode *n);
void ir_set_int(IrNode *n, const char *key, int64_t v);
void ir_set_float(IrNode *n, const char *key, double v);
void ir_set_str(IrNode *n, const char *key, const char *v);
const IrAttr *ir_attr(const IrNode *n, const char *key);    /* NULL if absent */
int64_t ir_attr_int(const IrNode *n, const char *key);      /* aborts if absent */
double ir_attr_float(const IrNode *n, const char *key);     /* aborts if absent */
const char *ir_attr_str(const IrNode *n, const char *key);  /* aborts if absent */
void ir_graph_set_int(IrGraph *g, const char *key, int64_t v);
void ir_graph_set_float(IrGraph *g, const char *key, double v);
int64_t ir_graph_int(const IrGraph *g, const char *key, int64_t dflt);
double ir_graph_float(const IrGraph *g, const char *key, double dflt);
/* Plans: kind names ("decode", "chunk", "flex"), the plan a step of
 * 'left' tokens runs next (the rule above; *rows: the tokens it takes, its
 * static size when padded in *padded, else the same), -1 without plans. */
const char *ir_plan_kind_name(IrPlanKind k);
int ir_plan_kind_from_name(const char *name);
int ir_plan_next(const IrGraph *g, int64_t left, int first, int64_t *rows, int64_t *padded);
/* The most tokens one step of node n's plan has (max_chunk without plans). */
int64_t ir_plan_rows(const IrGraph *g, const IrNode *n);
/* Unit attribute key: the int, float or string value, or dflt when absent. */
int64_t ir_unit_int(const IrUnit *u, const char *key, int64_t dflt);
double ir_unit_float(const IrUnit *u, const char *key, double dflt);
const char *ir_unit_str(const IrUnit *u, const char *key, const char *dflt);
void ir_unit_set_int(IrUnit *u, const char *key, int64_t v);
void ir_unit_set_float(IrUnit *u, const char *key, double v);
void ir_unit_set_str(IrUnit *u, const char *key, const char *v);
/* Index of the unit called name, -1 if none. */
int ir_unit_find(const IrGraph *g, const char *name);
/* Channel sets: the set called name, NULL if none; adding copies idx
 * (n ascending channels) and returns the set (a name defined twice is an
 * internal bug). */
const IrChans *ir_chans_find(const IrGraph *g, const char *name);
const IrChans *ir_chans_add(IrGraph *g, const char *name, int n, const int32_t *idx);
/* Whether units a and b share a memory space (no copy between them). */
int ir_same_memory(const IrGraph *g, int a, int b);
/* The node's shape as the text form writes it, e.g. "[S,64]", in buf. */
const char *ir_shape_str(const IrNode *n, char buf[IR_SHAPE_LEN]);
/* Elements of a node's result with S and R replaced by the given values. */
int64_t ir_numel(const IrNode *n, int64_t S, int64_t R);
/* Whether pass 'name' is one of those the graph has been through (g->passes). */
int ir_has_pass(const IrGraph *g, const char *name);
/* Removes nodes whose keep[i] is 0 and renumbers operands; keep[] has g->n entries. */
void ir_compact(IrGraph *g, const unsigned char *keep);
/* The nodes that name the subgraphs 0..nsub-1 of plan p across compiles
 * (a profile's "plans"), into keys[]: each one's first node that is not
 * int8 bookkeeping (quant, shadow and the add of a shadow: passes
 * quantize and outliers, which hetc simulate does not run), else its
 * first node; NULL for a subgraph without nodes. One pass over g. */
void ir_sub_keys(const IrGraph *g, int p, const IrNode **keys, int nsub);
/* The weight shapes {n, k} of g's linears, each once, in the order of
 * their first linear: at most cap of them; returns how many. */
int ir_linear_shapes(const IrGraph *g, int64_t (*shape)[2], int cap);
/* The number of operand slots that name each node: [g->n], malloc'd. */
int *ir_count_uses(const IrGraph *g);
/* Replaces every use of node 'from' by node 'to'. */
void ir_replace_uses(IrGraph *g, int from, int to);
/* Internal-bug abort with location. */
#define IR_BUG(...) ir_bug(__FILE__, __LINE__, __VA_ARGS__)
_Noreturn void ir_bug(const char *file, int line, const char *fmt, ...);

/* ---- int8 quantisation (ir_quant.c): the formulas of ops.def's quant,
 * qlinear, shadow and derived weights, shared by the interpreter, the
 * passes and the weights writer so that all of them agree bit for bit ---- */
int8_t ir_quant_i8(float x, float scale);           /* clamp(round_even(x / scale), -127, 127), NaN: 0 */
float ir_shadow_excess(float v, float scale);       /* e(v) of op shadow */
/* Whether weight node w is derived (wscale or chans) rather than stored as read. */
int ir_weight_is_derived(const IrNode *w);
/* Weight node w's values from its source tensor src (f32 [N,K], as the
 * model stores it): int8 for wscale, the set's columns for chans, else src
 * as f32; out holds numel x dtype size bytes. */
void ir_weight_derive(const IrGraph *g, const IrNode *w, const float *src, int64_t K, void *out);
/* The name weight node w has in weights.bin: its tensor's, with "#i8" or
 * "#cols" added for a derived one. */
const char *ir_weight_key(const IrNode *w, char buf[IR_NAME_LEN + 8]);

/* ---- cost model (ir_cost.c): the time of work on a unit ----
 * One model serves pass partition, pass schedule, the report and hetc
 * simulate. It reads the units' figures (gflops, gflops_f16, gops_i8,
 * gbps, launch_us, sync_us, shares, tile, shapes) and the graph attribute
 * dram_gbps, and a measured profile where one is given: profiled linears
 * override the figures (see ir_cost.c for the interpolation rules). */
typedef struct {
    char unit[16];              /* unit name */
    char op[16];                /* "linear" */
    int64_t n, k, s;            /* weight [n,k], s rows */
    IrDtype dtype;              /* weight dtype */
    double us;
} IrCostPoint;
typedef struct {
    char a[16], b[16];          /* unit names */
    double us;                  /* one hand-over between them */
} IrCostSync;
typedef struct {
    char unit[16];              /* unit name */
    char key[16];               /* a figure of the target's units: gflops, gflops_f16, gops_i8, gbps, launch_us,
                                 * silu_geps */
    double v;
} IrCostFigure;
typedef struct {
    char plan[16];              /* the plan's name */
    int sub;                    /* its subgraph (pass schedule's numbers) */
    char unit[16];              /* the unit that ran it */
    char first[IR_NAME_LEN];    /* the name of its first node */
    double us, rows, pos;       /* mean time, rows and cache position of its runs */
} IrCostSub;
typedef struct {
    char plan[16];              /* the plan's name */
    double us, rows, pos;       /* mean time, rows and cache position of its steps, each timed whole */
} IrCostStep;
typedef struct {
    IrCostPoint *pts;           /* [npts] */
    int npts;
    IrCostSync *sync;           /* [nsync] */
    int nsync;
    IrCostFigure *figs;         /* [nfigs] measured figures, which replace the target's */
    int nfigs;
    IrCostSub *subs;            /* [nsubs] a program's subgraphs as measured (model --profile), which
                                 * hetc simulate takes for a plan whose subgraphs they match */
    int nsubs;
    IrCostStep *steps;          /* [nsteps] a program's steps as measured whole (model --profile): the
                                 * measured subgraphs of a plan are scaled to give its step's time */
    int nsteps;
} IrProfile;
typedef struct {
    const IrGraph *g;           /* the units and their figures */
    const IrProfile *prof;      /* NULL: figures only */
} IrCost;
/* What one piece of work costs on its unit, alone. */
typedef struct {
    double us;                  /* time */
    double bytes;               /* bytes it moves through memory (weights, activations) */
} IrCostEst;
/* A linear x [s,k] @ W [n,k]^T with W stored as wdt on unit u. */
IrCostEst ir_cost_linear(const IrCost *c, int u, int64_t n, int64_t k, int64_t s, IrDtype wdt);
/* Node nd on its unit for a step of S tokens at cache position P (its
 * plan's static size in a chunk plan). Weights, views and outputs cost 0. */
IrCostEst ir_cost_node(const IrCost *c, const IrNode *nd, int64_t S, int64_t P);
/* One hand-over between units a and b (0 for a == b). */
double ir_cost_sync(const IrCost *c, int a, int b);
/* The time of work ea on unit a and eb on unit b started together: the
 * longer one (their sum where one computes on the other's cores, shares=),
 * but no less than their bytes over dram_gbps. */
double ir_cost_together(const IrCost *c, int a, IrCostEst ea, int b, IrCostEst eb);
/* The rows unit u's static graphs take for s rows: the next profiled
 * length of linears of width k (the next standard shape, 'shapes', without
 * a profile; a multiple of the largest beyond it); s itself on units that
 * take any shape. */
int64_t ir_cost_static_rows(const IrCost *c, int u, int64_t k, int64_t s);
/* The unit whose cores unit u computes on: its shares=, else u itself. */
int ir_cost_core(const IrCost *c, int u);
/* Whether unit u runs static shapes only (an npu). */
int ir_cost_is_static(const IrCost *c, int u);

/* ---- simulation (ir_sim.c): a scheduled graph's steps under the cost
 * model, for hetc simulate ---- */
typedef struct {
    double prefill_us, decode_us;       /* the prompt's steps; the decode steps after it */
    double prefill_tps, decode_tps;     /* tokens per second of each */
    int prefill_steps;
    double busy_us[IR_MAX_UNITS];       /* each unit's work, prefill and decode */
    double prefill_busy_us[IR_MAX_UNITS];
    unsigned measured;                  /* bit p: plan p's subgraphs took the profile's measured times */
    double step_factor[IR_MAX_PLANS];   /* plan p's measured subgraphs scaled by this to give its measured
                                         * step (the profile's "steps"), 0: no step measured */
    unsigned unmeasured;                /* bit p: the profile has plan times, none of plan p's */
    char unmatched[400];                /* why a plan the profile has times of did not take them, or "" */
} IrSimResult;
/* A subgraph as simulated: step (0, 1, ...), subgraph, unit, when. */
typedef struct {
    int step, sub, unit;
    double start, end;          /* microseconds from the first step's start */
} IrSimSpan;
/* nsteps steps of plan p at S rows, from cache position P on (each the
 * next S rows), with the plan's chunks in flight (pass schedule): up to
 * cap spans, ordered by step and subgraph; returns how many there are. */
int ir_sim_spans(const IrCost *c, int p, int64_t S, int64_t P, int nsteps, IrSimSpan *spans, int cap);
/* Runs a prompt of 'prompt' tokens and 'gen' decode steps of g (after pass
 * schedule) under cost model c. Returns 0, or -1 with the reason in err. */
int ir_simulate(const IrCost *c, int64_t prompt, int64_t gen, IrSimResult *r, char *err, size_t errlen);

/* ---- text form (ir_print.c, ir_parse.c) ---- */
void ir_print(FILE *f, const IrGraph *g);
char *ir_print_str(const IrGraph *g);           /* malloc'd text form */
/* Parses text; on error returns -1 and writes "file:line: error: ..." to err. */
int ir_parse(IrGraph *g, const char *text, const char *filename, char *err, size_t errlen);

/* ---- dumps (ir_dump.c) ---- */
void ir_dump_json(FILE *f, const IrGraph *g);
void ir_dump_dot(FILE *f, const IrGraph *g);

/* ---- verifier (ir_verify.c) ---- */
/* Returns 0 if well formed; else -1 with "node %id (name): ..." or
 * "graph: ..." in err. */
int ir_verify(const IrGraph *g, char *err, size_t errlen);
/* Where ir_verify_at found a fault: the node's index, or -1 for the graph,
 * and then the directive line it concerns: "units", "arena", "attr",
 * "passes" or "plan" (with the plan's index). */
typedef struct {
    int node;
    const char *line;
    int plan;           /* line "plan": the plan's index, -1 for the first plan line */
} IrFault;
int ir_verify_at(const IrGraph *g, IrFault *at, char *err, size_t errlen);

/* ---- reference interpreter (ir_interp.c) ---- */
/* Weights come through a callback: the f32 data of tensor 'name' (converted
 * from its stored dtype), or NULL if missing. The interpreter keeps no copy. */
typedef const float *(*IrWeightFn)(void *user, const char *name);
typedef struct IrInterp IrInterp;
/* ctx: KV cache capacity in tokens. Returns NULL (with err) on bad graphs. */
IrInterp *ir_interp_new(const IrGraph *g, IrWeightFn fn, void *user, int ctx, char *err, size_t errlen);
/* Runs S tokens at the current cache position; writes S*vocab logits (all rows). */
int ir_interp_step(IrInterp *it, const int32_t *ids, int S, float *logits, char *err, size_t errlen);
int ir_interp_pos(const IrInterp *it);
/* Calibration's hook: fn sees the input x [rows, K] and the result y
 * [rows, N] (real rows only) of every linear node once it has run. */
typedef void (*IrObserveFn)(void *user, const IrNode *n, const float *x, int rows, const float *y);
void ir_interp_observe(IrInterp *it, IrObserveFn fn, void *user);
/* The inverse frequencies of a rope_table node ([dim[0]] floats). */
void ir_rope_table(const IrNode *n, float *out);
void ir_interp_free(IrInterp *it);

#endif
