/* cg.h: code generation: from a planned IR graph to a self-contained
 * project (model.h, model.c, main.c, CMakeLists.txt, weights.bin and a
 * copy of the runtime) that builds without hetc.
 *
 * - cg_project.c: the driver; files other than model.c and weights.bin.
 * - cg_c.c: model.c and model.h for cpu units (calls into runtime/).
 * - cg_weights.c: weights.bin and the model hash.
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
} CgOptions;

/* Writes the whole project; requires memplan. Progress goes to stderr. */
int cg_emit_project(const IrGraph *g, const CgOptions *o, char *err, size_t errlen);

/* Hash of the compiled model (IR text and weight table). */
uint64_t cg_model_hash(const IrGraph *g);
/* weights.bin: every weight node, in node order, converted to its dtype. */
int cg_write_weights(const IrGraph *g, const CgOptions *o, const char *path, uint64_t hash, char *err,
                     size_t errlen);
/* model.c and model.h. */
int cg_emit_c(const IrGraph *g, const CgOptions *o, uint64_t hash, char *err, size_t errlen);
/* Index of weight node id among the graph's weight nodes. */
int cg_weight_index(const IrGraph *g, int id);

#endif
