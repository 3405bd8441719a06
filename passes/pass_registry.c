/* pass_registry.c: the flat, ordered list of passes (the pipeline, written
 * only here) and the driver that runs them, checks their contracts,
 * verifies the IR between passes and prints it after the passes asked for
 * (--print-after).
 *
 * Each pass states what it requires, what it provides and which passes'
 * results it invalidates (it rewrites node ids, units or liveness). A pass
 * runs once, only after the passes it requires (and those they require),
 * and never after a pass whose results it invalidates (only fuse and dce,
 * which touch no pass's results but lower's, may swap). The graph a pass gets verifies
 * (ir_parse verifies what it reads), so a graph that fails verification
 * after a pass is an internal bug. */
#include "passes.h"

#include <stdarg.h>
#include <string.h>

static const PassInfo passes[] = {
    {"lower", pass_lower, "", "the decoder step, symbolic S", "", 1,
     "architecture XML + config + weights -> one decoder step"},
    {"fuse", pass_fuse, "lower", "swiglu nodes", "chunk place transfers group schedule memplan", 0, "silu(a) * b -> swiglu(a, b)"},
    {"dce", pass_dce, "lower", "only live nodes", "chunk place transfers group schedule memplan", 0,
     "remove nodes the output does not depend on"},
    {"chunk", pass_chunk, "lower", "plans", "place transfers group schedule memplan", 0,
     "plans of static shape: decode, prefill chunks (--chunk), flex remainder"},
    {"place", pass_place, "chunk", "units, node units", "transfers group schedule memplan", 0,
     "assign every node to a unit of the target"},
    {"partition", pass_partition, "place", "linears of chunk plans on a unit or split (join)",
     "transfers group schedule memplan quantize outliers", 0,
     "HeteroLLM's per-shape partition of linears between the float unit and the npu (cost model, --profile)"},
    {"quantize", pass_quantize, "place", "int8 linears on npu units", "transfers group schedule memplan", 1,
     "W8A8 for npu linears: quant + qlinear, weight and activation scales from calibration"},
    {"outliers", pass_outliers, "quantize", "shadows of activation outliers", "transfers group schedule memplan", 1,
     "clipped-off outliers of int8 inputs in float on the host (llm.npu), pruned by measured benefit"},
    {"transfers", pass_transfers, "place", "copies between memory spaces", "group schedule memplan", 0,
     "copy nodes where an operand lives in another memory space"},
    {"group", pass_group, "transfers", "fusion groups", "schedule memplan", 0,
     "fusion groups that a decode step runs as one launch"},
    {"schedule", pass_schedule, "transfers", "subgraphs", "memplan", 0,
     "subgraphs (runs of one unit; attention alone) and their order"},
    {"memplan", pass_memplan, "schedule", "offsets, arena sizes", "", 0,
     "static arena offsets by liveness, one arena per unit"},
};
enum { NPASSES = sizeof passes / sizeof passes[0] };

const PassInfo *pass_list(int *n)
{
    *n = NPASSES;
    return passes;
}

const PassInfo *pass_find(const char *name)
{
    for (int i = 0; i < NPASSES; i++)
        if (strcmp(passes[i].name, name) == 0) return &passes[i];
    return NULL;
}

int pass_done(const IrGraph *g, const char *name) { return ir_has_pass(g, name); }

void pass_error(const PassCtx *c, const char *fmt, ...)
{
    if (c->diag->failed) return;
    c->diag->failed = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->diag->msg, sizeof c->diag->msg, fmt, ap);
    va_end(ap);
}

/* The passes that 'by' requires, and those they require, have run. */
static int check_requires(const IrGraph *g, const PassCtx *c, const PassInfo *p, const PassInfo *by)
{
    char req[128];
    snprintf(req, sizeof req, "%s", by->requires);
    char *save = NULL;
    for (char *r = strtok_r(req, " ", &save); r; r = strtok_r(NULL, " ", &save)) {
        if (!pass_done(g, r)) {
            pass_error(c, "pass '%s' requires pass '%s' to have run first", p->name, r);
            return -1;
        }
        if (check_requires(g, c, p, pass_find(r))) return -1;
    }
    return 0;
}

/* A pass runs once, and not after a pass whose results it invalidates. */
static int check_order(const IrGraph *g, const PassCtx *c, const PassInfo *p)
{
    if (pass_done(g, p->name)) {
        pass_error(c, "pass '%s' has already run", p->name);
        return -1;
    }
    char inv[128];
    snprintf(inv, sizeof inv, "%s", p->invalidates);
    char *save = NULL;
    for (char *r = strtok_r(inv, " ", &save); r; r = strtok_r(NULL, " ", &save))
        if (pass_done(g, r)) {
            pass_error(c, "pass '%s' cannot run after pass '%s': it would invalidate its %s (passes run in the "
                       "order of --list-passes)", p->name, r, pass_find(r)->provides);
            return -1;
        }
    return 0;
}

static int run_one(IrGraph *g, const PassCtx *c, const PassInfo *p)
{
    if (check_requires(g, c, p, p) || check_order(g, c, p)) return -1;
    size_t used = strlen(g->passes);
    if (used + 1 + strlen(p->name) >= sizeof g->passes) {
        pass_error(c, "pass '%s': the graph's 'passes' line has no room for it (%zu bytes at most)", p->name,
                   sizeof g->passes - 1);
        return -1;
    }
    p->run(g, c);
    if (c->diag->failed) return -1;
    snprintf(g->passes + used, sizeof g->passes - used, "%s%s", used ? " " : "", p->name);
    char err[FE_ERR_LEN];
    if (ir_verify(g, err, sizeof err)) IR_BUG("IR invalid after pass '%s': %s", p->name, err);
    return 0;
}

int pass_run_pipeline(IrGraph *g, const PassCtx *c, const char *list, const char *print_after, FILE *out)
{
    char names[512] = "";
    if (strcmp(list, "all") == 0) {     /* the passes after the last one the graph has been through */
        int first = 0;
        for (int i = 0; i < NPASSES; i++)
            if (pass_done(g, passes[i].name)) first = i + 1;
        for (int i = first; i < NPASSES; i++)
            if (g->n == 0 || !passes[i].needs_model) {
                strcat(names, passes[i].name);
                strcat(names, ",");
            }
    } else {
        snprintf(names, sizeof names, "%s", list);
    }
    if (print_after && strcmp(print_after, "all") != 0 && !pass_find(print_after)) {
        pass_error(c, "--print-after: unknown pass '%s'", print_after);
        return -1;
    }
    char *save = NULL;
    for (char *name = strtok_r(names, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
        const PassInfo *p = pass_find(name);
        if (!p) {
            pass_error(c, "unknown pass '%s' (hetc opt --list-passes lists them)", name);
            return -1;
        }
        if (run_one(g, c, p)) return -1;
        if (print_after && (strcmp(print_after, "all") == 0 || strcmp(print_after, name) == 0)) {
            fprintf(out, "; IR after pass '%s'\n", name);
            ir_print(out, g);
            fflush(out);
        }
    }
    return 0;
}
