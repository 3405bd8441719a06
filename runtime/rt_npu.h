/* rt_npu.h: the interface between hetc-generated code and an NPU backend.
 *
 * A phone's NPU runs static-shape int8 graphs. For every NPU subgraph the
 * compiler emits an RtNpuGraphDesc (tensors of a fixed row count, ops in
 * execution order); the program builds it once at init and executes it
 * many times on its own buffers. A backend (npu-emu here; QNN or
 * NeuroPilot on phones) implements RtNpuBackend.
 *
 * Numerics (every backend, bit for bit; ir/ir_quant.c and the compiler's
 * interpreter use the same formulas):
 *   QUANT    f32 -> i8:  v = x / scale; nan -> 0, v >= 127 -> 127,
 *                        v <= -127 -> -127, else nearbyintf(v) (ties to even)
 *   QLINEAR  i8 -> f32:  acc = sum_k x[r,k] * w[j,k] in int32 (exact);
 *                        y = (float)acc * scale; y = y + bias[j] if bias
 *   RMSNORM  f32:        ss = sum_j (double)x[j] * x[j] in order;
 *                        inv = (float)(1.0 / sqrt(ss / k + eps));
 *                        out[j] = x[j] * inv * wf[j] (f32, left to right)
 *   ADD, MUL a + b, a * b;  SILU a / (1.0f + expf(-a));
 *   SWIGLU   (a / (1.0f + expf(-a))) * b  (in0 = gate a, in1 = up b)
 * int8 values are symmetric, [-127, 127]: build() rejects weights of -128.
 * No step fuses a multiply and an add.
 *
 * Tile padding: rows, n and k are padded to multiples of 'tile' inside the
 * backend (its weights and buffers); padding never changes a result and is
 * never written to the caller's buffers.
 *
 * Threads: one execute at a time per RtNpu (its graphs share its threads).
 * Graphs are freed before their RtNpu is closed.
 */
#ifndef HETC_RT_NPU_H
#define HETC_RT_NPU_H

#include "hetc_rt.h"

typedef enum { RT_NPU_QUANT, RT_NPU_QLINEAR, RT_NPU_RMSNORM, RT_NPU_ADD, RT_NPU_MUL, RT_NPU_SILU, RT_NPU_SWIGLU,
               RT_NPU_OP_COUNT } RtNpuOpKind;

typedef struct {
    RtNpuOpKind kind;
    int in0, in1;        /* operand tensors (indices into the graph's tensors), -1: none */
    int out;             /* result tensor */
    int64_t n, k;        /* QLINEAR: out [rows,n] = in0 [rows,k] x W[n,k]^T; other ops: k = columns, n unused */
    const int8_t *w8;    /* QLINEAR: int8 weights [n,k], row-major (caller's memory, valid while the graph lives) */
    const float *wf;     /* RMSNORM: its weight [k]; QLINEAR: bias [n] or NULL */
    float scale;         /* QUANT: s; QLINEAR: the output scale (activation scale x weight scale); RMSNORM: eps */
    const char *name;    /* for messages, e.g. the IR node "%12 l0.attn.q" */
} RtNpuOp;

typedef struct {
    RtDtype dtype;       /* RT_F32 or RT_I8 */
    int64_t cols;        /* every tensor has the graph's 'rows' rows */
    int64_t ld;          /* elements from a row to the next; 0: cols. Only a QLINEAR's result that
                          * no op of the graph reads may have ld > cols (a part of a split linear
                          * writing its columns of the whole result) */
} RtNpuTensor;

typedef struct {
    const char *name;    /* e.g. "prefill-128 subgraph 3" */
    int rows;            /* static rows of every tensor (the chunk size) */
    int tile;            /* the unit's tile (32): rows, n and k are padded to multiples of it */
    int ntensors;
    const RtNpuTensor *tensors;
    int nops;
    const RtNpuOp *ops;  /* in execution order */
} RtNpuGraphDesc;

typedef struct {
    uint64_t weight_bytes;  /* the backend's copy of the weights this graph added, padding included
                             * (graphs of one RtNpu built from the same int8 tensor share it: the
                             * first one counts it) */
    uint64_t work_bytes;    /* its own buffers (padded activations, ...) */
    uint64_t pad_bytes;     /* of the two above, what tile padding adds */
} RtNpuMemory;

typedef struct RtNpu RtNpu;
typedef struct RtNpuGraph RtNpuGraph;

typedef struct {
    const char *name;                                   /* "npu-emu" */
    RtStatus (*open)(RtNpu **npu, int threads);         /* threads <= 0: core count */
    RtStatus (*build)(RtNpu *npu, const RtNpuGraphDesc *d, RtNpuGraph **g);  /* copies what it needs from d */
    RtStatus (*execute)(RtNpuGraph *g, void *const *bufs);  /* bufs[i]: tensor i, rows x cols of its dtype */
    void (*memory)(const RtNpuGraph *g, RtNpuMemory *m);
    void (*free_graph)(RtNpuGraph *g);
    void (*close)(RtNpu *npu);
    const char *(*path)(const RtNpu *npu);              /* instruction path in use: "vnni", "avx2", "scalar", ... */
    double (*busy_seconds)(const RtNpu *npu);           /* time spent in execute, since open */
} RtNpuBackend;

/* The CPU emulator (rt_npu_emu.c): its own pool of threads, int8 GEMMs on
 * AVX-512 VNNI, AVX2 or scalar code (the best the CPU has, or the one
 * HETC_NPU_ISA=vnni|avx2|scalar names), all bit-identical. */
extern const RtNpuBackend rt_npu_emu;

#endif
