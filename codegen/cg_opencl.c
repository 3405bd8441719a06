/* cg_opencl.c: the "opencl" backend of codegen.
 *
 * For the nodes placed on an OpenCL unit it writes:
 * - kernels.cl: the target's work-group and tile sizes, the family 'common'
 *   of runtime/rt_kernels.cl, then one instance of a family per distinct
 *   shape (all layers of a model share them), e.g. gemv_2048_5632_half_0;
 *   the same text is embedded in the program (model_kernels.c);
 * - the unit's part of model.c: device buffers and one cl_kernel per node
 *   and role in struct RtModel; in init() the device, the program (with a
 *   binary cache beside the weights), the weights uploaded once, the KV
 *   cache, and every kernel argument that does not change between steps;
 *   in forward() the arguments that do (S, P) and the enqueues, each under
 *   the comment of its IR node. Copies between the host and the unit are
 *   clEnqueueWriteBuffer / a blocking clEnqueueReadBuffer.
 * The decode plan runs each fusion group of pass 'group' as one launch of
 * the gemv family (RMSNorm, the group's linears and its epilogue: residual
 * add, SwiGLU, or RoPE with the KV store) at the group's anchor, and
 * split-K attention; the other plans (prefill chunks, flex) have no groups
 * and run gemm and prefill attention. A join of a split linear (pass
 * partition) copies the parts that are not inside it into its rows or
 * columns (copy2d, emit_join). A linear whose rows are only known
 * at run time (R rows of logits, or S of a flex plan) picks gemv or gemm
 * by them.
 * Launch geometries follow the comments of each family in rt_kernels.cl.
 */
#include "cg.h"
#include "../runtime/rt_profile.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

enum { SMALL_S = IR_DECODE_MAX };   /* rows up to which a linear uses gemv */
#define BRANCH "    "       /* indentation added inside an if/else of forward() */

enum { MAX_VALUES = CG_GEMV_VALUES };   /* params of the largest family (gemv) */

typedef struct {
    char family[16];        /* rt_kernels.cl family */
    char suffix[128];       /* appended to the family's kernel names */
    char values[MAX_VALUES][24];    /* its params */
    int nvalues;
} Instance;

/* A fusion group, kept by its anchor: what its decode launch reads and writes. */
typedef struct {
    int epi;                /* gemv EPI: 0 plain, 1 residual add, 2 SwiGLU, 3 RoPE + KV store; -1 not an anchor */
    int k;                  /* its cl_kernels: k for up to SMALL_S tokens, k + 1 for one */
    int norm;               /* rmsnorm folded into the launch, -1 none */
    int view;               /* last_rows between the norm and the linear, -1 none */
    int x;                  /* the activation read: the norm's input, else the linears' */
    int lin[3], nl;         /* linears in kernel order: W, W1, W2 (q, k, v / gate, up) */
    int res;                /* EPI 1: the residual operand */
    int att;                /* EPI 3: the attention that reads q and the cache */
    int out;                /* the node whose buffer receives the result (EPI 3: rotated q) */
} Group;

struct CgDev {
    const IrUnit *unit;     /* the opencl unit */
    int wg, tile;           /* its work-group size and GEMM tile edge */
    int att_alone, att_split, att_chunks;   /* decode attention: a work-group per query row and chunk of
                                             * keys; up to att_alone keys take one chunk (no combine
                                             * launch), more are split in chunks of att_split, at most
                                             * att_chunks of them (the unit's attributes; memplan sized
                                             * the partials: g->ws) */
    int index;              /* its index in g->units */
    Instance inst[256];
    int ninst;
    int *kernel;            /* [g->n] first cl_kernel index of each node, -1 none */
    int nkernels;
    int64_t kv_floats;      /* K (or V) floats per token over all layers on the unit */
    int *table_buf;         /* [g->n] rope tables used here: index of their device buffer */
    int ntables;
    int *fused;             /* [g->n] rope_kv groups (pass group): the ropes and the attention
                             * anchor: the attention's id, else -1 */
    int *anchor;            /* [g->n] the anchor of the node's gemv group (pass group), -1 none */
    Group *group;           /* [g->n] by anchor */
};

/* The WT of rt_kernels.cl for a weight type: float, half, or a block type
 * that pass place left on the unit (q8_0, q4_0; q8_0g, q4_0g in its layout
 * g4). */
static const char *wt_type(IrDtype t, int g4)
{
    switch (t) {
    case IR_F32: return "float";
    case IR_F16: return "half";
    case IR_Q8_0: return g4 ? "q8_0g" : "q8_0";
    case IR_Q4_0: return g4 ? "q4_0g" : "q4_0";
    default: IR_BUG("an OpenCL weight of type %s", ir_dtype_name(t));
    }
}

static const char *wt_name(const IrNode *w) { return wt_type(w->dtype, ir_attr(w, "layout") != NULL); }

static void add_instance(CgDev *cl, const char *family, const char *const *values, int n)
{
    Instance in = {0};
    snprintf(in.family, sizeof in.family, "%s", family);
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        snprintf(in.values[i], sizeof in.values[i], "%s", values[i]);
        k += snprintf(in.suffix + k, sizeof in.suffix - k, "_%s", values[i]);
    }
    if (n == 0) snprintf(in.suffix, sizeof in.suffix, "_f32"); /* param-less families: f32 kernels */
    in.nvalues = n;
    if (n > MAX_VALUES) IR_BUG("too many family values");
    for (int i = 0; i < cl->ninst; i++)
        if (strcmp(cl->inst[i].family, in.family) == 0 && strcmp(cl->inst[i].suffix, in.suffix) == 0) return;
    if (cl->ninst == (int)(sizeof cl->inst / sizeof cl->inst[0])) IR_BUG("too many kernel instances");
    cl->inst[cl->ninst++] = in;
}

/* A kernel's name: its base, then the suffix add_instance gave its family. */
static void instance_name(char *out, size_t cap, const char *base, const char *const *values, int n)
{
    size_t k = snprintf(out, cap, "%s", base);
    for (int i = 0; i < n; i++) k += snprintf(out + k, cap - k, "_%s", values[i]);
    if (n == 0) snprintf(out + k, cap - k, "_f32");
}

/* The cl_kernel objects a node needs for its own launches, by op; none for
 * a member of a fusion group, which its group's launch computes. */
static int kernels_of(const CgDev *cl, const IrNode *n)
{
    if (cl->anchor[n->id] >= 0) return 0;
    switch (n->op) {
    case IR_OP_LINEAR: return 2;        /* gemv, gemm */
    case IR_OP_ATTENTION: return 4;     /* kv_store, attn_prefill, attn_decode, attn_combine */
    case IR_OP_EMBED:
    case IR_OP_RMSNORM:
    case IR_OP_ROPE:
    case IR_OP_SILU:
    case IR_OP_MUL:
    case IR_OP_SWIGLU:
    case IR_OP_ADD: return 1;
    case IR_OP_JOIN: return 2;          /* copy2d of each part not computed inside it */
    default: return 0;
    }
}

/* The family values of node n (and its second family for attention). */
static int node_values(const CgEmit *e, const IrNode *n, char v[MAX_VALUES][24], char v2[4][24])
{
    const IrGraph *g = e->g;
    switch (n->op) {
    case IR_OP_EMBED:
        sprintf(v[0], "%" PRId64, n->dim[1]);
        sprintf(v[1], "%s", wt_name(&g->nodes[n->in[1]]));
        return 2;
    case IR_OP_RMSNORM: sprintf(v[0], "%" PRId64, n->dim[1]); return 1;
    case IR_OP_LINEAR:
    {   /* gemv: plain, float x (a group's launches are group_values') */
        CgGemvValues gv;
        cg_cl_gemv_plain(&gv, n->dim[1], g->nodes[n->in[0]].dim[1], wt_name(&g->nodes[n->in[1]]), n->nin > 2, SMALL_S, 0);
        memcpy(v, gv.v, sizeof gv.v);
        return MAX_VALUES;
    }
    case IR_OP_ROPE:
        sprintf(v[0], "%" PRId64, ir_attr_int(n, "heads"));
        sprintf(v[1], "%" PRId64, ir_attr_int(n, "head_dim"));
        return 2;
    case IR_OP_ATTENTION:
        sprintf(v[0], "%" PRId64, ir_attr_int(n, "kv_heads") * ir_attr_int(n, "head_dim"));
        sprintf(v2[0], "%" PRId64, ir_attr_int(n, "heads"));
        sprintf(v2[1], "%" PRId64, ir_attr_int(n, "kv_heads"));
        sprintf(v2[2], "%" PRId64, ir_attr_int(n, "head_dim"));
        sprintf(v2[3], "%" PRId64, ir_attr_int(n, "window"));
        return 1;
    default: return 0;
    }
}

static const char *family_of(IrOp op)
{
    switch (op) {
    case IR_OP_EMBED: return "embed";
    case IR_OP_RMSNORM: return "rmsnorm";
    case IR_OP_LINEAR: return "gemv";
    case IR_OP_ROPE: return "rope";
    case IR_OP_ATTENTION: return "kv_store";
    default: return "elementwise";
    }
}

static int on_unit(const CgEmit *e, const IrNode *n) { return n->unit == e->cl->index; }

/* The role=R of node i (pass group), "" without one. */
static const char *role_of(const IrGraph *g, int i)
{
    const IrAttr *r = ir_attr(&g->nodes[i], "role");
    return r ? r->s : "";
}

/* The group anchored at node a (pass group named its kind and the parts
 * of its members); att: for qkv_rope, the attention its ropes feed. */
static void plan_group(const IrGraph *g, const int *anchor, int a, Group *grp)
{
    *grp = (Group){.epi = -1, .norm = -1, .view = -1, .res = -1, .att = -1, .out = a};
    static const char *const parts[] = {"q", "k", "v", "gate", "up", "linear"};
    static const int slot[] = {0, 1, 2, 0, 1, 0};
    for (int i = 0; i <= a; i++) {
        if (anchor[i] != a) continue;
        const char *r = role_of(g, i);
        if (strcmp(r, "norm") == 0) grp->norm = i;
        if (strcmp(r, "view") == 0) grp->view = i;
        for (int k = 0; k < 6; k++)
            if (strcmp(r, parts[k]) == 0) grp->lin[slot[k]] = i, grp->nl = slot[k] + 1 > grp->nl ? slot[k] + 1 : grp->nl;
    }
    const IrNode *n = &g->nodes[a];
    const char *kind = role_of(g, a);
    if (strcmp(kind, "qkv_rope") == 0) {
        for (int i = a + 1; i < g->n && grp->att < 0; i++)
            if (g->nodes[i].op == IR_OP_ATTENTION && (g->nodes[i].in[0] == a || g->nodes[i].in[1] == a)) grp->att = i;
        if (grp->att < 0) IR_BUG("group %%%d (qkv_rope) feeds no attention", a);
        grp->epi = 3;
        grp->out = g->nodes[grp->att].in[0];
    } else if (strcmp(kind, "gate_up") == 0) {
        grp->epi = 2;
    } else if (strcmp(kind, "residual") == 0) {
        grp->epi = 1;
        grp->res = n->in[0] == grp->lin[0] ? n->in[1] : n->in[0];
    } else if (strcmp(kind, "head") == 0) {
        grp->epi = 0, grp->lin[0] = a, grp->nl = 1;
    } else {
        IR_BUG("group %%%d: role '%s' is no launch of the gemv family", a, kind);
    }
    grp->x = grp->norm >= 0 ? g->nodes[grp->norm].in[0] : g->nodes[grp->lin[0]].in[0];
}

/* Whether the group's one-token launch takes int8 x: its linears got
 * xdtype=q8_0 from pass place. */
static int group_xq(const IrGraph *g, const Group *grp)
{
    const IrAttr *xd = ir_attr(&g->nodes[grp->lin[0]], "xdtype");
    return xd && strcmp(xd->s, "q8_0") == 0;
}

/* The gemv values of a group's launch: N K WT HAS_BIAS NORM EPI N1 N2
 * HEAD_DIM MAX_S XQ; XQ in the one-token launch (group_xq). */
static void group_values(const IrGraph *g, const Group *grp, int max_s, char v[MAX_VALUES][24])
{
    const IrNode *l0 = &g->nodes[grp->lin[0]];
    CgGemvValues gv;
    cg_cl_gemv_plain(&gv, l0->dim[1], g->nodes[grp->x].dim[1], wt_name(&g->nodes[l0->in[1]]), l0->nin > 2, max_s,
                     max_s == 1 && group_xq(g, grp));
    memcpy(v, gv.v, sizeof gv.v);
    sprintf(v[CG_GEMV_NORM], "%d", grp->norm >= 0);
    sprintf(v[CG_GEMV_EPI], "%d", grp->epi);
    if (grp->epi == 3) {
        sprintf(v[CG_GEMV_N1], "%" PRId64, g->nodes[grp->lin[1]].dim[1]);
        sprintf(v[CG_GEMV_N2], "%" PRId64, g->nodes[grp->lin[2]].dim[1]);
        sprintf(v[CG_GEMV_HEAD_DIM], "%" PRId64, ir_attr_int(&g->nodes[grp->out], "head_dim"));
    }
}

static CgDev *cl_plan(const CgEmit *e, int unit)
{
    const IrGraph *g = e->g;
    CgDev *cl = calloc(1, sizeof *cl);
    cl->unit = &g->units[unit];
    cl->wg = (int)ir_unit_int(cl->unit, "wg", 64);
    cl->tile = (int)ir_unit_int(cl->unit, "tile", 16);
    cl->att_alone = (int)ir_unit_int(cl->unit, "att_alone", 256);
    cl->att_split = (int)ir_unit_int(cl->unit, "att_split", 64);
    cl->att_chunks = (int)ir_unit_int(cl->unit, "att_chunks", 32);
    cl->index = unit;
    cl->kernel = malloc((size_t)g->n * sizeof *cl->kernel);
    cl->table_buf = malloc((size_t)g->n * sizeof *cl->table_buf);
    cl->fused = malloc((size_t)g->n * sizeof *cl->fused);
    cl->anchor = malloc((size_t)g->n * sizeof *cl->anchor);
    cl->group = malloc((size_t)g->n * sizeof *cl->group);
    cl->kv_floats = unit < g->nkv ? g->kv[unit] : 0;
    for (int i = 0; i < g->n; i++) {     /* rope_kv groups run in their attention's launch, the rest as gemv */
        const IrAttr *a = ir_attr(&g->nodes[i], "group");
        int rope_kv = a && strcmp(role_of(g, (int)a->i), "rope_kv") == 0;
        cl->fused[i] = a && rope_kv && g->nodes[i].unit == unit ? (int)a->i : -1;
        cl->anchor[i] = a && !rope_kv && g->nodes[i].unit == unit ? (int)a->i : -1;
    }
    const CgEmit view = {.g = g, .o = e->o, .cl = cl};
    for (int i = 0; i < g->n; i++) {
        const IrNode *n = &g->nodes[i];
        cl->kernel[i] = -1;
        cl->group[i].epi = -1;
        cl->table_buf[i] = n->op == IR_OP_ROPE_TABLE && n->unit == unit ? cl->ntables++ : -1;
        if (!on_unit(&view, n)) continue;
        int own = n->op == IR_OP_ROPE && cl->fused[i] >= 0 ? 0 : kernels_of(cl, n);
        if (own) {
            cl->kernel[i] = cl->nkernels;
            cl->nkernels += own;
            char v[MAX_VALUES][24], v2[4][24];
            int nv = node_values(&view, n, v, v2);
            const char *vals[MAX_VALUES], *vals2[4] = {v2[0], v2[1], v2[2], v2[3]};
            for (int k = 0; k < MAX_VALUES; k++) vals[k] = v[k];
            if (cl->fused[i] == i) add_instance(cl, "rope_kv", vals2, 3);
            else add_instance(cl, family_of(n->op), vals, nv);
            if (n->op == IR_OP_LINEAR) add_instance(cl, "gemm", vals, 4);
            if (n->op == IR_OP_ATTENTION) add_instance(cl, "attention", vals2, 4);
            if (n->op == IR_OP_ATTENTION && g->plans[n->plan].kind == IR_PLAN_DECODE && g->ws[unit] <= 0)
                IR_BUG("unit %s: decode attention %%%d, but memplan gave no workspace", cl->unit->name, n->id);
        }
        if (cl->anchor[i] == i) {
            Group *grp = &cl->group[i];
            plan_group(g, cl->anchor, i, grp);
            grp->k = cl->nkernels;
            cl->nkernels += 2;
            for (int r = 0; r < 2; r++) {
                char v[MAX_VALUES][24];
                const char *vals[MAX_VALUES];
                group_values(g, grp, r ? 1 : SMALL_S, v);
                for (int k = 0; k < MAX_VALUES; k++) vals[k] = v[k];
                add_instance(cl, "gemv", vals, MAX_VALUES);
            }
        }
    }
    return cl;
}

static void cl_free(CgDev *cl)
{
    if (!cl) return;
    free(cl->kernel);
    free(cl->table_buf);
    free(cl->fused);
    free(cl->anchor);
    free(cl->group);
    free(cl);
}

/* ---- kernels.cl ---- */

static char *read_template(const CgEmit *e, char *err, size_t errlen)
{
    char path[FE_PATH_LEN + 32];
    size_t len;
    snprintf(path, sizeof path, "%s/rt_kernels.cl", e->o->runtime_dir);
    return fe_read_file(path, &len, err, errlen);
}

/* The weights of the unit's linears, as `model --profile` measures them:
 * those of its linears (their type and layout g4), else f16 where the
 * model's are 16-bit, else f32. */
static const IrNode *profile_weight(const CgEmit *e)
{
    static const IrNode f32 = {.dtype = IR_F32}, f16 = {.dtype = IR_F16};
    const IrNode *any = &f32;
    for (int i = 0; i < e->g->n; i++) {
        const IrNode *n = &e->g->nodes[i];
        if (n->op != IR_OP_LINEAR) continue;
        const IrNode *w = &e->g->nodes[n->in[1]];
        if (n->unit == e->cl->index) return w->dtype == IR_BF16 ? &f32 : w;
        if (w->dtype == IR_F16 || w->dtype == IR_BF16) any = &f16;
    }
    return any;
}

/* For `model --profile` (runtime/rt_prof_cl.c): gemv and gemm of every
 * linear shape of the model and of the launch_us linear, plain, named
 * gemv_N_K and gemm_N_K. */
static int profile_kernels(const CgEmit *e, FILE *f, const char *templ, char *err, size_t errlen)
{
    int64_t (*shape)[2] = malloc(((size_t)e->g->n + 2) * sizeof *shape);
    int ns = ir_linear_shapes(e->g, shape, e->g->n), rc = 0;
    shape[ns][0] = shape[ns][1] = RT_PROF_LAUNCH_EDGE;
    const char *wt = wt_name(profile_weight(e));
    fputs("\n/* ---- model --profile: the model's linear shapes, plain ---- */\n", f);
    for (int i = 0; !rc && i <= ns; i++) {
        char suffix[48];
        CgGemvValues gv;
        const char *const *v = cg_cl_gemv_plain(&gv, shape[i][0], shape[i][1], wt, 0, RT_PROF_CL_GEMV_S, 0);
        rt_prof_cl_suffix(suffix, sizeof suffix, shape[i][0], shape[i][1]);
        rc = cg_cl_instantiate(f, templ, "gemv", suffix, v, err, errlen);
        if (!rc) rc = cg_cl_instantiate(f, templ, "gemm", suffix, (const char *const[]){v[0], v[1], wt, "0", NULL}, err, errlen);
    }
    free(shape);
    return rc;
}

/* The text of kernels.cl (malloc'd) or NULL with err. */
static char *kernels_text(const CgEmit *e, char *err, size_t errlen)
{
    const CgDev *cl = e->cl;
    char *templ = read_template(e, err, errlen);
    if (!templ) return NULL;
    char *text = NULL, model[2 * IR_NAME_LEN];
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    fprintf(f, "/* kernels.cl: OpenCL kernels of %s for unit %s, generated by hetc from\n"
               " * runtime/rt_kernels.cl: one instance per distinct shape. */\n"
               "#define HETC_WG %d\n#define HETC_TILE %d\n#ifndef HETC_FP16\n#define HETC_FP16 0\n#endif\n\n",
            cg_c_comment(e->g->model, model, sizeof model), cl->unit->name, cl->wg, cl->tile);
    int rc = cg_cl_instantiate(f, templ, "common", "_common", (const char *const[]){NULL}, err, errlen);
    for (int i = 0; !rc && i < cl->ninst; i++) {
        const Instance *in = &cl->inst[i];
        const char *vals[MAX_VALUES + 1] = {NULL};
        for (int k = 0; k < in->nvalues; k++) vals[k] = in->values[k];
        rc = cg_cl_instantiate(f, templ, in->family, in->suffix, vals, err, errlen);
    }
    if (!rc) rc = profile_kernels(e, f, templ, err, errlen);
    fclose(f);
    free(templ);
    if (rc) {
        free(text);
        return NULL;
    }
    return text;
}

/* kernels.cl, and model_kernels.c holding the same text as a C string. */
static int cl_files(const CgEmit *e, char *err, size_t errlen)
{
    char *text = kernels_text(e, err, errlen);
    if (!text) return -1;
    size_t len = strlen(text);
    char *c = NULL;
    size_t clen = 0;
    FILE *f = open_memstream(&c, &clen);
    fprintf(f, "/* model_kernels.c: kernels.cl embedded as a string, generated by hetc. */\n"
               "#include <stddef.h>\n\nconst char model_kernels_cl[] =\n    \"");
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)text[i];
        if (ch == '\n') fputs(i + 1 < len ? "\\n\"\n    \"" : "\\n", f);
        else if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
        else if (ch < 32 || ch > 126) fprintf(f, "\\%03o", ch);
        else fputc(ch, f);
    }
    fputs("\";\nconst size_t model_kernels_cl_len = sizeof model_kernels_cl - 1;\n", f);
    fclose(f);
    int rc = cg_write_file(e->o->outdir, "kernels.cl", text, len, err, errlen) ||
             cg_write_file(e->o->outdir, "model_kernels.c", c, clen, err, errlen);
    free(text);
    free(c);
    return rc ? -1 : 0;
}

/* ---- model.c: struct fields, init, destroy ---- */

static void cl_fields(const CgEmit *e)
{
    const CgDev *cl = e->cl;
    const char *u = cl->unit->name;
    fprintf(e->f,
            "    RtCl cl;                    /* unit %s */\n"
            "    cl_mem %s_arena;            /* [MODEL_ARENA_%s_BYTES] activations */\n"
            "    cl_mem gw[MODEL_WEIGHTS];   /* weights used on %s, else NULL */\n"
            "    cl_mem %s_kc, %s_vc;        /* [ctx][%" PRId64 "] keys and values of every layer */\n"
            "    cl_mem %s_part;             /* split-K attention scratch */\n"
            "    cl_mem %s_tables[%d];       /* RoPE tables */\n"
            "    int n_chunks_max;           /* split-K chunks the scratch holds */\n"
            "    cl_event ev[%d];             /* copies to the host in flight, by flag */\n"
            "    cl_kernel k[%d];            /* one per node and role, see init() */\n"
            "    RtProfCl prof_cl;           /* model --profile's view of the unit */\n"
            "    RtClTimes clt;              /* model --profile: the subgraphs' markers on the queue */\n",
            u, u, e->upper_unit, u, u, u, cl->kv_floats, u, u, cl->ntables > 0 ? cl->ntables : 1,
            e->nhandover > 0 ? e->nhandover : 1, cl->nkernels > 0 ? cl->nkernels : 1);
}

static void cl_destroy(const CgEmit *e)
{
    const char *u = e->cl->unit->name;
    fprintf(e->f,
            "    for (int i = 0; i < %d; i++)\n        if (m->k[i]) clReleaseKernel(m->k[i]);\n"
            "    for (int i = 0; i < MODEL_WEIGHTS; i++)\n        if (m->gw[i]) clReleaseMemObject(m->gw[i]);\n"
            "    for (int i = 0; i < %d; i++)\n        if (m->%s_tables[i]) clReleaseMemObject(m->%s_tables[i]);\n"
            "    cl_mem bufs[] = {m->%s_arena, m->%s_kc, m->%s_vc, m->%s_part};\n"
            "    for (int i = 0; i < 4; i++)\n        if (bufs[i]) clReleaseMemObject(bufs[i]);\n"
            "    rt_prof_cl_free(&m->prof_cl);\n    rt_cl_close(&m->cl);\n",
            e->cl->nkernels, e->cl->ntables, u, u, u, u, u, u);
}

/* Bytes into join n's storage where its part r goes: after part 0's rows
 * (axis 0) or columns (axis 1). */
static int64_t join_at(const IrGraph *g, const IrNode *n, int r)
{
    const IrNode *a = &g->nodes[n->in[0]];
    if (!r) return 0;
    return (ir_attr_int(n, "axis") ? a->dim[1] : a->dim[0] * n->dim[1]) * 4;
}

/* The element offset of a rows view (pass partition's row0=) into its
 * base; 0 for any other node. */
static int64_t rows_offset(const IrGraph *g, int id)
{
    const IrNode *v = &g->nodes[id];
    return v->op == IR_OP_ROWS ? ir_attr_int(v, "row0") * (v->ndim > 1 ? v->dim[1] : 1) : 0;
}

/* Buffer expression and element offset of an activation operand (a
 * last_rows view: its base; forward() moves the offset, see view_offset;
 * a rows view: its first row). */
static void act(const CgEmit *e, int id, char *buf, size_t cap)
{
    snprintf(buf, cap, "m->%s_arena, %" PRId64, e->cl->unit->name, cg_base(e->g, id)->offset / 4 + rows_offset(e->g, id));
}

static const char *weight_buf(const CgEmit *e, int id, char *buf)
{
    sprintf(buf, "m->gw[%d]", cg_weight_index(e->g, id));
    return buf;
}

/* The static arguments of node n's kernels, set once in init(). */
static void init_args(const CgEmit *e, const IrNode *n)
{
    FILE *f = e->f;
    const char *u = e->cl->unit->name;
    int k = e->cl->kernel[n->id];
    char o[96], a[96], b[96], c[96], w[32], bias[32] = "";
    act(e, n->id, o, sizeof o);
    if (n->nin > 0) act(e, n->in[0], a, sizeof a);
    if (n->nin > 1) act(e, n->in[1], b, sizeof b);
    if (n->nin > 2) act(e, n->in[2], c, sizeof c);
    switch (n->op) {
    case IR_OP_EMBED:
        act(e, n->in[0], a, sizeof a);
        fprintf(f, "    if (!st) st = rt_cl_args(m->k[%d], \"mimmi\", %s, %s, %s);\n", k, o, weight_buf(e, n->in[1], w), a);
        break;
    case IR_OP_RMSNORM:
        fprintf(f, "    if (!st) st = rt_cl_args(m->k[%d], \"mimimf\", %s, %s, %s, %.9gf);\n", k, o, a,
                weight_buf(e, n->in[1], w), ir_attr_float(n, "eps"));
        break;
    case IR_OP_LINEAR:
        if (n->nin > 2) sprintf(bias, ", m->gw[%d]", cg_weight_index(e->g, n->in[2]));
        for (int r = 0; r < kernels_of(e->cl, n); r++)
            fprintf(f, "    if (!st) st = rt_cl_args(m->k[%d], \"mimimi%s\", %s, %s, %s, 0%s);\n", k + r,
                    n->nin > 2 ? "m" : "", o, a, weight_buf(e, n->in[1], w), bias);
        break;
    case IR_OP_ROPE:
        fprintf(f, "    if (!st) st = rt_cl_args(m->k[%d], \"mimimii\", %s, %s, m->%s_tables[%d], 0, 0);\n", k, o, a, u,
                e->cl->table_buf[n->in[1]]);
        break;
    case IR_OP_ATTENTION: {
        int off = (int)n->kv_offset;
        float scale = (float)ir_attr_float(n, "scale");
        if (e->cl->fused[n->id] == n->id) {
            const IrNode *rq = &e->g->nodes[n->in[0]], *rk = &e->g->nodes[n->in[1]];
            char q[96], kk[96];
            act(e, rq->in[0], q, sizeof q);
            act(e, rk->in[0], kk, sizeof kk);
            fprintf(f, "    if (!st) st = rt_cl_args(m->k[%d], \"mimimimimimimii\", %s, %s, %s, %s, m->%s_kc, %d * m->ctx, "
                       "m->%s_vc, %d * m->ctx, m->%s_tables[%d], 0, 0);\n", k, a, q, kk, c, u, off, u, off, u,
                    e->cl->table_buf[rq->in[1]]);
        } else {
            fprintf(f, "    if (!st) st = rt_cl_args(m->k[%d], \"mimimimiii\", m->%s_kc, %d * m->ctx, m->%s_vc, %d * m->ctx, "
                       "%s, %s, 0, 0);\n", k, u, off, u, off, b, c);
        }
        fprintf(f, "    if (!st) st = rt_cl_args(m->k[%d], \"mimimimiiif\", %s, %s, m->%s_kc, %d * m->ctx, m->%s_vc, "
                   "%d * m->ctx, 0, 0, %.9gf);\n", k + 1, o, a, u, off, u, off, scale);
        fprintf(f, "    if (!st) st = rt_cl_args(m->k[%d], \"mimimimimiiiif\", %s, m->%s_part, 0, %s, m->%s_kc, "
                   "%d * m->ctx, m->%s_vc, %d * m->ctx, 0, 0, 0, %.9gf);\n", k + 2, o, u, a, u, off, u, off, scale);
        fprintf(f, "    if (!st) st = rt_cl_args(m->k[%d], \"mimiii\", %s, m->%s_part, 0, 0, 0);\n", k + 3, o, u);
        break;
    }
    case IR_OP_SILU:
        fprintf(f, "    if (!st) st = rt_cl_args(m->k[%d], \"mimii\", %s, %s, 0);\n", k, o, a);
        break;
    case IR_OP_JOIN:
        for (int r = 0; r < 2; r++) {
            const IrNode *p = &e->g->nodes[n->in[r]];
            if (ir_attr(p, "arena")) continue;     /* computed inside the join */
            fprintf(f, "    if (!st) st = rt_cl_args(m->k[%d], \"miimiii\", m->%s_arena, %" PRId64 ", %" PRId64 ", %s, "
                       "%" PRId64 ", %" PRId64 ");\n", k + r, u, (n->offset + join_at(e->g, n, r)) / 4, n->dim[1],
                    r ? b : a, p->dim[1], p->dim[0] * p->dim[1]);
        }
        break;
    default:
        fprintf(f, "    if (!st) st = rt_cl_args(m->k[%d], \"mimimii\", %s, %s, %s, 0);\n", k, o, a, b);
        break;
    }
}

/* The argument kinds (for rt_cl_args) and values of the launch of group
 * grp: the gemv family's argument list for its NORM, EPI and HAS_BIAS. */
static void group_args(const CgEmit *e, const Group *grp, char kinds[32], char args[640])
{
    const IrGraph *g = e->g;
    const char *u = e->cl->unit->name;
    char o[96], x[96], w[32];
    strcpy(kinds, "mimimi");
    act(e, grp->out, o, sizeof o);
    act(e, grp->x, x, sizeof x);
    size_t n = snprintf(args, 640, "%s, %s, %s, 0", o, x, weight_buf(e, g->nodes[grp->lin[0]].in[1], w));
    int bias = g->nodes[grp->lin[0]].nin > 2;
    if (bias) {
        strcat(kinds, "m");
        n += snprintf(args + n, 640 - n, ", %s", weight_buf(e, g->nodes[grp->lin[0]].in[2], w));
    }
    if (grp->norm >= 0) {
        strcat(kinds, "mf");
        n += snprintf(args + n, 640 - n, ", %s, %.9gf", weight_buf(e, g->nodes[grp->norm].in[1], w),
                      ir_attr_float(&g->nodes[grp->norm], "eps"));
    }
    if (grp->epi == 1) {
        char r[96];
        act(e, grp->res, r, sizeof r);
        strcat(kinds, "mi");
        n += snprintf(args + n, 640 - n, ", %s", r);
    }
    for (int l = 1; l < grp->nl; l++) {
        strcat(kinds, "m");
        n += snprintf(args + n, 640 - n, ", %s", weight_buf(e, g->nodes[grp->lin[l]].in[1], w));
    }
    if (grp->epi == 3) {
        for (int l = 1; bias && l < 3; l++) {
            strcat(kinds, "m");
            n += snprintf(args + n, 640 - n, ", %s", weight_buf(e, g->nodes[grp->lin[l]].in[2], w));
        }
        strcat(kinds, "mmimi");
        snprintf(args + n, 640 - n, ", m->%s_kc, m->%s_vc, %d * m->ctx, m->%s_tables[%d], 0", u, u,
                 (int)g->nodes[grp->att].kv_offset, u, e->cl->table_buf[g->nodes[grp->out].in[1]]);
    }
}

/* The kernel of group a's launch and its arguments that never change. */
static void init_group(const CgEmit *e, int a)
{
    const Group *grp = &e->cl->group[a];
    char kinds[32], args[640];
    group_args(e, grp, kinds, args);
    fprintf(e->f, "    /* the decode launch of group %%%d: up to %d tokens, one token */\n", a, SMALL_S);
    for (int r = 0; r < 2; r++) {
        char v[MAX_VALUES][24], name[192];
        const char *vals[MAX_VALUES];
        group_values(e->g, grp, r ? 1 : SMALL_S, v);
        for (int k = 0; k < MAX_VALUES; k++) vals[k] = v[k];
        instance_name(name, sizeof name, "gemv", vals, MAX_VALUES);
        fprintf(e->f, "    if (!st) st = rt_cl_kernel(&m->cl, \"%s\", &m->k[%d]);\n", name, grp->k + r);
        fprintf(e->f, "    if (!st) st = rt_cl_args(m->k[%d], \"%s\", %s);\n", grp->k + r, kinds, args);
    }
}

static void create_kernels(const CgEmit *e, const IrNode *n)
{
    static const char *const roles[IR_OP_COUNT][4] = {
        [IR_OP_EMBED] = {"embed"}, [IR_OP_RMSNORM] = {"rmsnorm"}, [IR_OP_LINEAR] = {"gemv", "gemm"},
        [IR_OP_ROPE] = {"rope"}, [IR_OP_ATTENTION] = {"kv_store", "attn_prefill", "attn_decode", "attn_combine"},
        [IR_OP_SILU] = {"silu"}, [IR_OP_MUL] = {"mul"}, [IR_OP_SWIGLU] = {"swiglu"}, [IR_OP_ADD] = {"add"},
        [IR_OP_JOIN] = {"copy2d", "copy2d"},
    };
    char v[MAX_VALUES][24], v2[4][24];
    int nv = node_values(e, n, v, v2);
    for (int r = 0; r < kernels_of(e->cl, n); r++) {
        char name[192];
        int second = n->op == IR_OP_ATTENTION && r > 0;
        const char *vals[MAX_VALUES];
        for (int i = 0; i < MAX_VALUES; i++) vals[i] = second && i < 4 ? v2[i] : v[i];
        const char *role = roles[n->op][r];
        int count = second ? 4 : n->op >= IR_OP_SILU && n->op <= IR_OP_ADD ? 0 : nv;
        if (strcmp(role, "gemm") == 0) count = 4;
        if (r == 0 && n->op == IR_OP_ATTENTION && e->cl->fused[n->id] == n->id) {
            role = "rope_kv";
            vals[0] = v2[0], vals[1] = v2[1], vals[2] = v2[2];
            count = 3;
        }
        instance_name(name, sizeof name, role, vals, count);
        fprintf(e->f, "    if (!st) st = rt_cl_kernel(&m->cl, \"%s\", &m->k[%d]);\n", name, e->cl->kernel[n->id] + r);
    }
}

static void cl_sizes(const CgEmit *e, FILE *h)
{
    fprintf(h, "#define MODEL_WS_%s_BYTES %" PRId64 "ULL /* decode attention's split-K partials, up to %d key "
               "chunks */\n", e->upper_unit, e->g->ws[e->cl->index], e->cl->att_chunks);
}

static void cl_init(const CgEmit *e)
{
    const CgDev *cl = e->cl;
    const IrUnit *u = cl->unit;
    FILE *f = e->f;
    char platform[4 * IR_NAME_LEN], device[4 * IR_NAME_LEN];
    fprintf(f, "    /* unit %s: the device, the program, buffers and kernels */\n", u->name);
    fprintf(f, "    if (!st) st = rt_cl_open(&m->cl, \"%s\", \"%s\", %d);\n",
            cg_c_str(ir_unit_str(u, "platform", ""), platform, sizeof platform),
            cg_c_str(ir_unit_str(u, "device", ""), device, sizeof device), (int)ir_unit_int(u, "index", -1));
    fprintf(f, "    char cache[4096];\n"
               "    snprintf(cache, sizeof cache, \"%%s.%s.clbin\", weights_path ? weights_path : MODEL_DEFAULT_WEIGHTS);\n"
               "    const char *options = %s ? \"-cl-std=CL1.2 -DHETC_FP16=1\" : \"-cl-std=CL1.2\";\n"
               "    if (!st) st = rt_cl_build(&m->cl, model_kernels_cl, model_kernels_cl_len, options, cache);\n",
            u->name, ir_unit_int(u, "fp16", 0) ? "m->cl.has_fp16" : "0");
    fprintf(f, "    if (!st) st = rt_cl_buffer(&m->cl, MODEL_ARENA_%s_BYTES, CL_MEM_READ_WRITE, NULL, &m->%s_arena);\n",
            e->upper_unit, u->name);
    if (cl->kv_floats > 0) {    /* attention runs here: its KV cache */
        fprintf(f, "    size_t kv_bytes = (size_t)ctx * MODEL_KV_%s_FLOATS * sizeof(float);\n", e->upper_unit);
        fprintf(f, "    if (!st) st = rt_cl_buffer(&m->cl, kv_bytes, CL_MEM_READ_WRITE, NULL, &m->%s_kc);\n", u->name);
        fprintf(f, "    if (!st) st = rt_cl_buffer(&m->cl, kv_bytes, CL_MEM_READ_WRITE, NULL, &m->%s_vc);\n", u->name);
    }
    fprintf(f, "    m->n_chunks_max = (ctx + %d) / %d < %d ? (ctx + %d) / %d : %d;\n", cl->att_split - 1,
            cl->att_split, cl->att_chunks, cl->att_split - 1, cl->att_split, cl->att_chunks);
    if (e->g->ws[cl->index] > 0)    /* decode attention runs here: its partials */
        fprintf(f, "    if (!st) st = rt_cl_buffer(&m->cl, MODEL_WS_%s_BYTES, CL_MEM_READ_WRITE, NULL, &m->%s_part);\n",
                e->upper_unit, u->name);
    for (int i = 0; i < e->g->n; i++) {
        const IrNode *n = &e->g->nodes[i];
        if (n->op == IR_OP_WEIGHT && n->unit == cl->index) {
            int w = cg_weight_index(e->g, i);
            fprintf(f, "    if (!st) st = rt_cl_buffer(&m->cl, weight_info[%d].nbytes, CL_MEM_READ_ONLY | "
                       "CL_MEM_COPY_HOST_PTR, (void *)m->w[%d], &m->gw[%d]);\n", w, w, w);
        }
        if (cl->table_buf[i] >= 0)
            fprintf(f, "    if (!st) st = rt_cl_buffer(&m->cl, sizeof rope_table_%d, CL_MEM_READ_ONLY | "
                       "CL_MEM_COPY_HOST_PTR, (void *)rope_table_%d, &m->%s_tables[%d]);\n", i, i, u->name,
                    cl->table_buf[i]);
    }
    for (int i = 0; i < e->g->n; i++) {
        const IrNode *n = &e->g->nodes[i];
        if (cl->kernel[i] >= 0) {
            fprintf(f, "    /* %%%d %s \"%s\" */\n", i, ir_op_name(n->op), n->name);
            create_kernels(e, n);
            init_args(e, n);
        }
        if (cl->group[i].epi >= 0) init_group(e, i);
    }
}

static void cl_measure(const CgEmit *e)
{
    fprintf(e->f,
            "/* --bench-bandwidth: copy bandwidth (a copy of up to 1 GiB) and fp32 FMA peak of unit %s. */\n"
            "static RtStatus measure(RtModel *m, double *copy_gb_s, double *fma_gflop_s)\n{\n"
            "    size_t bytes = (size_t)1 << 30;\n"
            "    if (bytes > m->cl.global_mem / 8) bytes = (size_t)(m->cl.global_mem / 8);\n"
            "    RtStatus st = rt_cl_measure_bandwidth(&m->cl, bytes, copy_gb_s);\n"
            "    return st ? st : rt_cl_measure_peak(&m->cl, fma_gflop_s);\n}\n"
            "#define MODEL_MEASURE measure\n\n",
            e->cl->unit->name);
}

/* ---- model.c: forward ---- */

/* The enqueue of kernel k for node n; in: extra indentation inside a branch. */
static void run_on(const CgEmit *e, const char *in, const char *kern, const char *dims, const char *global,
                   const char *local, const IrNode *n)
{
    fprintf(e->f, "%s    if ((st = rt_cl_run(&m->cl, %s, %s, (size_t[]){%s}, %s, \"%%%d %s\")) != RT_OK) return st;\n",
            in, kern, dims, global, local, n->id, n->name);
}

/* The arguments of every kernel of rt_kernels.cl, in order, by name: the
 * one place that knows their positions (test_cg_clargs checks it against
 * the kernels' signatures). gemv and gemm list their fixed head; the
 * arguments their family parameters add follow it (group_args). */
static const struct {
    const char *kernel;
    const char *args;
} kernel_args[] = {
    {"embed", "out out_off table ids ids_off"},
    {"rmsnorm", "out out_off x x_off w eps"},
    {"gemv", "out out_off x x_off W S"},
    {"gemm", "out out_off x x_off W S"},
    {"rope", "out out_off x x_off inv_freq S P"},
    {"rope_kv", "qo qo_off q q_off k k_off v v_off kc kc_off vc vc_off inv_freq S P"},
    {"kv_store", "kc kc_off vc vc_off k k_off v v_off S P"},
    {"attn_prefill", "out out_off q q_off kc kc_off vc vc_off S P scale"},
    {"attn_decode", "out out_off part part_off q q_off kc kc_off vc vc_off S P n_chunks scale"},
    {"attn_combine", "out out_off part part_off S n_chunks"},
    {"silu", "out out_off x x_off n"},
    {"mul", "out out_off a a_off b b_off n"},
    {"swiglu", "out out_off gate gate_off up up_off n"},
    {"add", "out out_off a a_off b b_off n"},
};

const char *cg_cl_kernel_args(const char *kernel)
{
    for (size_t i = 0; i < sizeof kernel_args / sizeof kernel_args[0]; i++)
        if (strcmp(kernel_args[i].kernel, kernel) == 0) return kernel_args[i].args;
    return NULL;
}

/* The position of argument 'name' of 'kernel'. */
static int arg_index(const char *kernel, const char *name)
{
    const char *args = cg_cl_kernel_args(kernel);
    if (!args) IR_BUG("no argument list for kernel %s", kernel);
    size_t len = strlen(name);
    int k = 0;
    for (const char *p = args; *p; k++) {
        size_t w = strcspn(p, " ");
        if (w == len && strncmp(p, name, len) == 0) return k;
        p += w + (p[w] == ' ');
    }
    IR_BUG("kernel %s has no argument '%s'", kernel, name);
}

static void set_int_on(const CgEmit *e, const char *in, const char *kern, const char *kernel, const char *name,
                       const char *value)
{
    fprintf(e->f, "%s    rt_cl_set_int(%s, %d /* %s */, %s);\n", in, kern, arg_index(kernel, name), name, value);
}

static void run(const CgEmit *e, const char *in, int k, const char *dims, const char *global, const char *local,
                const IrNode *n)
{
    char kern[32];
    snprintf(kern, sizeof kern, "m->k[%d]", k);
    run_on(e, in, kern, dims, global, local, n);
}

static void set_int(const CgEmit *e, const char *in, int k, const char *kernel, const char *name, const char *value)
{
    char kern[32];
    snprintf(kern, sizeof kern, "m->k[%d]", k);
    set_int_on(e, in, kern, kernel, name, value);
}

/* A linear whose input is a last_rows view reads its rows at an offset
 * that depends on S and R: set it for its kernels. */
static void view_offset(const CgEmit *e, const IrNode *n, int k, int nk, const char *in)
{
    const IrNode *x = &e->g->nodes[n->in[0]];
    if (x->op != IR_OP_LAST_ROWS) return;
    char expr[96];
    snprintf(expr, sizeof expr, "%" PRId64 " + (S - R) * %" PRId64, cg_base(e->g, x->id)->offset / 4, x->dim[1]);
    for (int r = 0; r < nk; r++) set_int(e, in, k + r, r ? "gemm" : "gemv", "x_off", expr);
}

/* Work-groups of a gemv launch over `pairs` row pairs, x int8 where xq
 * (the family's rule). */
static int64_t gemv_groups(int wg, int64_t pairs, int xq)
{
    int64_t groups = wg / rt_gemv_lanes(pairs, wg, xq);
    return (pairs + groups - 1) / groups;
}

static void emit_gemm(const CgEmit *e, const IrNode *n, const char *rows, int k, const char *in)
{
    int64_t N = n->dim[1];
    int t = e->cl->tile;
    char g[128], l[64];
    set_int(e, in, k, "gemm", "S", rows);
    snprintf(g, sizeof g, "%d * %" PRId64 ", %d * (((size_t)%s + %d) / %d)", t, (N + 4 * t - 1) / (4 * t), t, rows,
             8 * t - 1, 8 * t);
    snprintf(l, sizeof l, "(size_t[]){%d, %d}", t, t);
    run(e, in, k, "2", g, l, n);
}

/* A linear: gemv for few rows, else gemm; decided here where the rows are
 * known (the decode plan, a static chunk), else at run time. */
static void emit_linear(const CgEmit *e, const IrNode *n, const char *rows, int k, const char *in)
{
    int64_t N = n->dim[1];
    int wg = e->cl->wg;
    char g[96], l[64], in2[16];
    view_offset(e, n, k, 2, in);
    int decode = e->g->plans[n->plan].kind == IR_PLAN_DECODE;
    int known = decode || (n->dim[0] != IR_DIM_S && n->dim[0] != IR_DIM_R);
    int gemv = decode || (known && n->dim[0] <= SMALL_S);
    snprintf(in2, sizeof in2, "%s%s", in, known ? "" : BRANCH);
    if (!known) fprintf(e->f, "%s    if (%s <= %d) {\n", in, rows, SMALL_S);
    if (!known || gemv) {
        set_int(e, in2, k, "gemv", "S", rows);
        snprintf(g, sizeof g, "%d * %" PRId64, wg, gemv_groups(wg, (N + 1) / 2, 0));
        snprintf(l, sizeof l, "(size_t[]){%d}", wg);
        run(e, in2, k, "1", g, l, n);
    }
    if (!known) fprintf(e->f, "%s    } else {\n", in);
    if (!known || !gemv) emit_gemm(e, n, rows, k + 1, in2);
    if (!known) fprintf(e->f, "%s    }\n", in);
}

/* The launch of the group anchored at a (in a decode plan). */
static void emit_group(const CgEmit *e, int a)
{
    const IrGraph *g = e->g;
    const Group *grp = &e->cl->group[a];
    const IrNode *out = &g->nodes[grp->out], *l0 = &g->nodes[grp->lin[0]];
    static const char *const what[] = {"", " + residual add", " -> swiglu", " -> rope of q and k, KV store"};
    fprintf(e->f, "    {   /* one launch: %s", grp->norm >= 0 ? "rmsnorm, " : "");
    for (int l = 0; l < grp->nl; l++) fprintf(e->f, "%s%%%d %s", l ? ", " : "", grp->lin[l], g->nodes[grp->lin[l]].name);
    fprintf(e->f, "%s */\n", what[grp->epi]);
    char rb[24], g2[96], l[64];
    const char *rows = cg_rows_expr(out, rb);
    fprintf(e->f, BRANCH "    cl_kernel kg = m->k[%s == 1 ? %d : %d];\n", rows, grp->k + 1, grp->k);
    if (grp->view >= 0) {
        char expr[96];
        snprintf(expr, sizeof expr, "%" PRId64 " + (S - R) * %" PRId64, cg_base(g, grp->x)->offset / 4,
                 g->nodes[grp->x].dim[1]);
        set_int_on(e, BRANCH, "kg", "gemv", "x_off", expr);
    }
    set_int_on(e, BRANCH, "kg", "gemv", "S", rows);
    if (grp->epi == 3) {
        char kinds[32], args[640];
        group_args(e, grp, kinds, args);
        fprintf(e->f, BRANCH "    rt_cl_set_int(kg, %d /* P, the last of rope's epilogue */, P);\n", (int)strlen(kinds) - 1);
    }
    int64_t N = l0->dim[1], pairs = (N + 1) / 2;
    if (grp->epi == 2) pairs = N;
    if (grp->epi == 3) pairs = (N + g->nodes[grp->lin[1]].dim[1] + g->nodes[grp->lin[2]].dim[1]) / 2;
    int wg = e->cl->wg;
    int64_t groups = gemv_groups(wg, pairs, 0), groups1 = gemv_groups(wg, pairs, group_xq(g, grp));
    if (groups1 == groups) snprintf(g2, sizeof g2, "%d * %" PRId64, wg, groups);
    else snprintf(g2, sizeof g2, "%d * (%s == 1 ? %" PRId64 " : %" PRId64 ")", wg, rows, groups1, groups);
    snprintf(l, sizeof l, "(size_t[]){%d}", wg);
    run_on(e, BRANCH, "kg", "1", g2, l, &g->nodes[a]);
    fputs("    }\n", e->f);
}

static void emit_attention(const CgEmit *e, const IrNode *n, int k)
{
    FILE *f = e->f;
    int64_t heads = ir_attr_int(n, "heads"), kvh = ir_attr_int(n, "kv_heads"), hd = ir_attr_int(n, "head_dim");
    int64_t window = ir_attr_int(n, "window"), group = heads / kvh;
    int wg = e->cl->wg;
    int att_wg = wg < 16 * hd ? wg : (int)(16 * hd);
    char g[128], l[64];
    /* The KV store (with the ropes when fused), unless the launch of the
     * fusion group that computes q did it. */
    const char *in = "";
    if (e->cl->anchor[n->in[0]] >= 0)
        fprintf(f, "    /* q, k, v rotated and stored by the launch of group %%%d */\n", e->cl->anchor[n->in[0]]);
    else if (e->cl->fused[n->id] == n->id) {
        set_int(e, in, k, "rope_kv", "S", "S");
        set_int(e, in, k, "rope_kv", "P", "P");
        snprintf(g, sizeof g, "%" PRId64 ", (size_t)S, %" PRId64, hd / 2, heads + kvh);
        run(e, in, k, "3", g, "NULL", n);
    } else {
        set_int(e, in, k, "kv_store", "S", "S");
        set_int(e, in, k, "kv_store", "P", "P");
        snprintf(g, sizeof g, "%d, (size_t)S", (int)((kvh * hd + wg - 1) / wg * wg));
        snprintf(l, sizeof l, "(size_t[]){%d, 1}", wg);
        run(e, in, k, "2", g, l, n);
    }
    if (e->g->plans[n->plan].kind != IR_PLAN_DECODE) {
        set_int(e, "", k + 1, "attn_prefill", "S", "S");
        set_int(e, "", k + 1, "attn_prefill", "P", "P");
        snprintf(g, sizeof g, "%d * (((size_t)S * %" PRId64 " + 15) / 16), %" PRId64, att_wg, group, kvh);
        snprintf(l, sizeof l, "(size_t[]){%d, 1}", att_wg);
        run(e, "", k + 1, "2", g, l, n);
        if (n->dim[0] != IR_DIM_S) {    /* a chunk plan: the padding rows are masked */
            int64_t w = n->dim[1];
            fprintf(f, "    if (S < %" PRId64 ") {\n        const float zero = 0;\n"
                       "        if ((st = rt_cl_check(clEnqueueFillBuffer(m->cl.queue, m->%s_arena, &zero, sizeof zero, "
                       "%" PRId64 " + (size_t)S * %" PRId64 ", (size_t)(%" PRId64 " - S) * %" PRId64 ", 0, NULL, NULL), "
                       "\"%%%d %s\")) != RT_OK) return st;\n    }\n",
                    n->dim[0], e->cl->unit->name, n->offset, w * 4, n->dim[0], w * 4, n->id, n->name);
        }
        return;
    }
    fprintf(f, "    {\n");
    if (window > 0)
        fprintf(f, "        int lo = P - %" PRId64 " + 1 > 0 ? P - %" PRId64 " + 1 : 0;\n", window, window);
    else
        fprintf(f, "        int lo = 0;\n");
    fprintf(f, "        int keys = P + S - lo, chunks = keys <= %d ? 1 : (keys + %d) / %d;\n"
               "        if (chunks > m->n_chunks_max) chunks = m->n_chunks_max;\n", e->cl->att_alone, e->cl->att_split - 1,
            e->cl->att_split);
    set_int(e, BRANCH, k + 2, "attn_decode", "S", "S");
    set_int(e, BRANCH, k + 2, "attn_decode", "P", "P");
    set_int(e, BRANCH, k + 2, "attn_decode", "n_chunks", "chunks");
    snprintf(g, sizeof g, "%d * (size_t)chunks, %" PRId64 ", (size_t)S", wg, heads);
    snprintf(l, sizeof l, "(size_t[]){%d, 1, 1}", wg);
    run(e, BRANCH, k + 2, "3", g, l, n);
    fprintf(f, "        if (chunks > 1) {\n");
    set_int(e, BRANCH BRANCH, k + 3, "attn_combine", "S", "S");
    set_int(e, BRANCH BRANCH, k + 3, "attn_combine", "n_chunks", "chunks");
    snprintf(g, sizeof g, "%" PRId64 ", (size_t)S * %" PRId64, hd, heads);
    run(e, BRANCH BRANCH, k + 3, "2", g, "NULL", n);
    fprintf(f, "        }\n    }\n");
}

/* A copy between the host's memory and the unit: a write of the host's
 * tensor (the ids, or a tensor in the arena of the host or of a unit
 * sharing its memory) into the unit's arena, or a read of the unit's
 * tensor into the copy's own buffer (t<id>, which cg_c.c declared: the
 * logits or an arena tensor). Where another thread makes the tensor
 * written, the write waits for its flag; where another thread reads the
 * copy, the read is enqueued without blocking, right after what it
 * reads, and that thread waits for its flag and its event. */
static void emit_copy(const CgEmit *e, const IrNode *n)
{
    const IrNode *src = cg_base(e->g, n->in[0]);
    char rows[24], host[64];
    const char *r = cg_rows_expr(n, rows);
    int64_t bytes_per_row = (n->ndim > 1 ? n->dim[1] : 1) * ir_dtype_size(n->dtype);
    int h = e->handover ? e->handover[n->id] : -1;
    if (on_unit(e, n)) {
        if (src->op == IR_OP_INPUT) {
            snprintf(host, sizeof host, "ids");
        } else {
            if (src->id != n->in[0]) IR_BUG("copy %%%d of a view to the device", n->id);
            cg_host_addr(e, src, host, sizeof host);
            if (!cg_in_part(e, src->unit) && n->sub < 0)      /* once its thread has handed it over */
                fprintf(e->f, "    if ((st = rt_flag_wait(&m->flag[%d], m->step, &m->abort)) != RT_OK) return st;\n", h);
            else if (!cg_in_part(e, src->unit))     /* the same, the subgraph's time paused meanwhile */
                fprintf(e->f, "    if (T && (st = rt_cl_sub_end(&m->cl, &m->clt, &T[%d], 0, 0, 0)) != RT_OK) return st;\n"
                              "    if ((st = rt_flag_wait(&m->flag[%d], m->step, &m->abort)) != RT_OK) return st;\n"
                              "    if (T && (st = rt_cl_sub_begin(&m->cl, &m->clt)) != RT_OK) return st;\n", n->sub, h);
        }
        fprintf(e->f, "    if ((st = rt_cl_check(clEnqueueWriteBuffer(m->cl.queue, m->%s_arena, CL_FALSE, %" PRId64 ", "
                      "(size_t)%s * %" PRId64 ", %s, 0, NULL, NULL), \"%%%d %s\")) != RT_OK) return st;\n",
                e->cl->unit->name, n->offset, r, bytes_per_row, host, n->id, n->name);
    } else if (!cg_in_part(e, n->unit)) {
        fprintf(e->f, "    if ((st = rt_cl_check(clEnqueueReadBuffer(m->cl.queue, m->%s_arena, CL_FALSE, %" PRId64 ", "
                      "(size_t)%s * %" PRId64 ", t%d, 0, NULL, &m->ev[%d]), \"%%%d %s\")) != RT_OK ||\n"
                      "        (st = rt_cl_check(clFlush(m->cl.queue), \"%%%d %s\")) != RT_OK)\n        return st;\n"
                      "    rt_flag_set(&m->flag[%d], m->step);\n",
                e->cl->unit->name, src->offset + 4 * rows_offset(e->g, n->in[0]), r, bytes_per_row, n->id, h, n->id,
                n->name, n->id, n->name, h);
    } else {        /* the host's subgraph (model --profile) leaves out the wait for the unit's work before */
        fprintf(e->f, "    if (T) {\n        const double w = rt_now();\n"
                      "        if ((st = rt_cl_check(clFinish(m->cl.queue), \"%%%d %s\")) != RT_OK) return st;\n"
                      "        t0 += rt_now() - w;\n    }\n", n->id, n->name);
        fprintf(e->f, "    if ((st = rt_cl_check(clEnqueueReadBuffer(m->cl.queue, m->%s_arena, CL_TRUE, %" PRId64 ", "
                      "(size_t)%s * %" PRId64 ", t%d, 0, NULL, NULL), \"%%%d %s\")) != RT_OK) return st;\n",
                e->cl->unit->name, src->offset + 4 * rows_offset(e->g, n->in[0]), r, bytes_per_row, n->id, n->id,
                n->name);
    }
}

/* A join of a split linear (pass partition) on the unit: the parts that
 * pass memplan placed inside it (arena=) are there already; each other
 * part (the copy of another unit's part, or this unit's part of a column
 * split) is copied into its rows (axis 0) or its columns (axis 1) of the
 * join's storage by a copy2d launch (arguments set in init()). A join is
 * in a chunk plan: its rows are static. */
static void emit_join(const CgEmit *e, const IrNode *n)
{
    int k = e->cl->kernel[n->id], wg = e->cl->wg;
    for (int r = 0; r < 2; r++) {
        const IrNode *p = &e->g->nodes[n->in[r]];
        if (ir_attr(p, "arena")) {
            fprintf(e->f, "    /* part %%%d is computed inside the join */\n", p->id);
            continue;
        }
        char g[64], l[32];
        int64_t count = p->dim[0] * p->dim[1];
        snprintf(g, sizeof g, "%" PRId64, (count + wg - 1) / wg * wg);
        snprintf(l, sizeof l, "(size_t[]){%d}", wg);
        run(e, "", k + r, "1", g, l, n);
    }
}

static void cl_profile_unit(const CgEmit *e)
{
    int64_t (*shape)[2] = malloc(((size_t)e->g->n + 2) * sizeof *shape);
    int ns = ir_linear_shapes(e->g, shape, e->g->n);
    fputs("    static const int64_t cl_shapes[][2] = {", e->f);
    for (int i = 0; i < ns; i++) fprintf(e->f, "{%" PRId64 ", %" PRId64 "}, ", shape[i][0], shape[i][1]);
    fprintf(e->f, "{%d, %d}}; /* kernels.cl's gemv_N_K and gemm_N_K */\n", RT_PROF_LAUNCH_EDGE, RT_PROF_LAUNCH_EDGE);
    free(shape);
    fprintf(e->f, "    m->prof_cl = (RtProfCl){.cl = &m->cl, .wg = %d, .tile = %d, .shapes = cl_shapes,\n"
                  "                            .nshapes = sizeof cl_shapes / sizeof cl_shapes[0]};\n"
                  "    rt_prof_cl(&u[n++], \"%s\", &m->prof_cl, %s);\n",
            e->cl->wg, e->cl->tile, e->cl->unit->name, cg_rt_dtype(profile_weight(e)->dtype));
}

static int cl_owns(const CgEmit *e, const IrNode *n)
{
    if (!e->cl) return 0;
    if (n->op == IR_OP_COPY) return on_unit(e, n) || e->g->nodes[n->in[0]].unit == e->cl->index;
    return on_unit(e, n);
}

/* The node's own launches (all steps, or the longer steps of a group
 * member); in: extra indentation. */
static void emit_node(const CgEmit *e, const IrNode *n, const char *in)
{
    if (n->op == IR_OP_ROPE && e->cl->fused[n->id] >= 0) {
        fprintf(e->f, "%s    /* done by the rope_kv launch of %%%d */\n", in, e->cl->fused[n->id]);
        return;
    }
    int k = e->cl->kernel[n->id], wg = e->cl->wg;
    char rb[24], g[128], l[48];
    const char *rows = cg_rows_expr(n, rb);
    int64_t w = n->ndim > 1 ? n->dim[1] : 1;
    snprintf(l, sizeof l, "(size_t[]){%d}", wg);
    switch (n->op) {
    case IR_OP_EMBED:
        snprintf(g, sizeof g, "%" PRId64 ", (size_t)%s", (w + wg - 1) / wg * wg, rows);
        snprintf(l, sizeof l, "(size_t[]){%d, 1}", wg);
        run(e, in, k, "2", g, l, n);
        break;
    case IR_OP_RMSNORM:
        snprintf(g, sizeof g, "%d * (size_t)%s", wg, rows);
        run(e, in, k, "1", g, l, n);
        break;
    case IR_OP_LINEAR: emit_linear(e, n, rows, k, in); break;
    case IR_OP_ROPE:
        set_int(e, in, k, "rope", "S", rows);
        set_int(e, in, k, "rope", "P", "P");
        snprintf(g, sizeof g, "%" PRId64 ", (size_t)%s", ir_attr_int(n, "head_dim") / 2, rows);
        run(e, in, k, "2", g, "NULL", n);
        break;
    case IR_OP_ATTENTION: emit_attention(e, n, k); break;
    default: {
        char count[64];
        snprintf(count, sizeof count, "%s * %" PRId64, rows, w);
        set_int(e, in, k, ir_op_name(n->op), "n", count);
        snprintf(g, sizeof g, "(((size_t)%s * %" PRId64 " + %d) / %d) * %d", rows, w, wg - 1, wg, wg);
        run(e, in, k, "1", g, l, n);
        break;
    }
    }
}

static void cl_node(const CgEmit *e, const IrNode *n)
{
    if (n->op == IR_OP_COPY) {
        emit_copy(e, n);
        return;
    }
    if (n->op == IR_OP_JOIN) {
        emit_join(e, n);
        return;
    }
    int a = e->cl->anchor[n->id];
    if (a == n->id) emit_group(e, a);
    else if (a >= 0) fprintf(e->f, "    /* computed by the launch of group %%%d */\n", a);
    else emit_node(e, n, "");
}

static void cl_includes(const CgEmit *e)
{
    fputs("#include \"hetc_rt_cl.h\"\n\n/* kernels.cl, in model_kernels.c */\nextern const char model_kernels_cl[];\n"
          "extern const size_t model_kernels_cl_len;\n", e->f);
}

/* model --profile: a subgraph's time is its launches' on the device, between
 * markers around them, read once the function's work is done. */
static void cl_sub_begin(const CgEmit *e)
{
    fputs("        if ((st = rt_cl_sub_begin(&m->cl, &m->clt)) != RT_OK) return st;\n", e->f);
}

static void cl_sub_end(const CgEmit *e, int k, const char *rows)
{
    fprintf(e->f, "        if ((st = rt_cl_sub_end(&m->cl, &m->clt, &T[%d], %s, P, 1)) != RT_OK) return st;\n", k, rows);
}

static void cl_sub_flush(const CgEmit *e)
{
    fputs("    if (T && (st = rt_cl_sub_flush(&m->cl, &m->clt)) != RT_OK) return st;\n", e->f);
}

const CgBackend cg_backend_opencl = {
    .name = "opencl",
    .includes = cl_includes,
    .plan = cl_plan,
    .free = cl_free,
    .files = cl_files,
    .fields = cl_fields,
    .sizes = cl_sizes,
    .init = cl_init,
    .destroy = cl_destroy,
    .measure = cl_measure,
    .profile_unit = cl_profile_unit,
    .sub_begin = cl_sub_begin,
    .sub_end = cl_sub_end,
    .sub_flush = cl_sub_flush,
    .owns = cl_owns,
    .node = cl_node,
};
