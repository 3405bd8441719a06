/* main.c: the hetc command line.
 *
 *   hetc synth --preset NAME -o DIR [--dtype T] [--seed N] [--old-keys] [--shards N] [--tie 0|1] [--head-dim N]
 *   hetc inspect MODEL [--ir [--format text|json|dot] [--chunk C,..] [--remainder pad|flex]]
 *   hetc compile MODEL --target TARGET.xml -o OUT_DIR [options]
 *   hetc opt FILE.ir --passes=P,Q [--print-after=P|all] [--target T.xml] [--chunk C,..] [--remainder pad|flex]
 *   hetc run MODEL --ids 1,2,3 [--logits FILE] [--batch N]
 *   hetc tokenize MODEL (TEXT | --file FILE) [--no-special] [--time]
 *   hetc detokenize MODEL ID... [--skip-special]
 *
 * Each subcommand is one function; errors print "hetc: error: ..." and
 * exit non-zero.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "codegen/cg.h"
#include "compiler/cli.h"
#include "ir/ir.h"
#include "runtime/hetc_rt_tok.h"


/* Prints an error; messages that carry their own "FILE:LINE: error:" stand alone. */
int die(const char *fmt, ...)
{
    char msg[2 * FE_ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s%s\n", strstr(msg, ": error: ") ? "" : "hetc: error: ", msg);
    return 1;
}

double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

const char *data_dir(const char *env, const char *sub, char *buf, size_t cap)
{
    const char *v = getenv(env);
    if (v && *v) return v;
    snprintf(buf, cap, "%s/%s", HETC_SOURCE_DIR, sub);
    return buf;
}

/* Matches "--key=value" or "--key value"; returns the value or NULL. */
const char *opt(int argc, char **argv, int *i, const char *key)
{
    size_t n = strlen(key);
    if (strncmp(argv[*i], key, n) != 0) return NULL;
    if (argv[*i][n] == '=') return argv[*i] + n + 1;
    if (argv[*i][n] != 0) return NULL;
    if (*i + 1 >= argc) {
        die("option %s needs a value", key);
        exit(2);
    }
    return argv[++*i];
}

int parse_int(const char *s, const char *what, long lo, long hi, long *v)
{
    char *end;
    errno = 0;
    *v = strtol(s, &end, 10);
    if (errno || *end || end == s || *v < lo || *v > hi)
        return die("%s: '%s' is not an integer in %ld..%ld", what, s, lo, hi);
    return 0;
}

void model_free(Model *m)
{
    fe_weights_free(&m->weights);
    fe_config_free(m->config);
}

static int is_gguf(const char *path)
{
    size_t n = strlen(path);
    return n > 5 && strcmp(path + n - 5, ".gguf") == 0;
}

int model_open(Model *m, const char *dir)
{
    char err[FE_ERR_LEN], path[FE_PATH_LEN + 16], mdir[FE_PATH_LEN];
    memset(m, 0, sizeof *m);
    struct stat st;
    if (stat(dir, &st) != 0) return die("%s: no such model directory", dir);
    int gguf = is_gguf(dir);
    if (!S_ISDIR(st.st_mode) && !gguf) return die("%s: not a Hugging Face model directory or a .gguf file", dir);
    snprintf(m->dir, sizeof m->dir, "%s", dir);
    /* the name is the last component ("models/tl/" -> "tl", "q/tl.gguf" -> "tl") */
    int end = (int)strlen(dir);
    while (end > 1 && dir[end - 1] == '/') end--;
    int start = end;
    while (start > 0 && dir[start - 1] != '/') start--;
    snprintf(m->name, sizeof m->name, "%.*s", end - start - (gguf ? 5 : 0), dir + start);
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (gguf) {
        if (fe_gguf_model_open(dir, &m->config, &m->weights, err, sizeof err)) return die("%s", err);
        snprintf(path, sizeof path, "%s", dir);
    } else if (!(m->config = fe_config_load(path, err, sizeof err))) return die("%s", err);
    const char *cls = fe_config_arch_class(m->config);
    if (!cls) {
        model_free(m);
        return die("%s: key 'architectures' is missing or empty", path);
    }
    if (fe_arch_find(&m->arch, data_dir("HETC_MODELS", "models", mdir, sizeof mdir), cls, err, sizeof err)) {
        model_free(m);
        /* an unknown class is about config.json; a bad XML file names itself */
        return strstr(err, "unknown architecture") ? die("%s: %s", path, err) : die("%s", err);
    }
    if (gguf) return 0;
    char one[FE_PATH_LEN + 40], idx[FE_PATH_LEN + 40];
    snprintf(one, sizeof one, "%s/model.safetensors", dir);
    snprintf(idx, sizeof idx, "%s/model.safetensors.index.json", dir);
    if (stat(one, &st) != 0 && stat(idx, &st) != 0) {
        m->config_only = 1;     /* shapes from config.json: what inspect and planning need */
        return 0;
    }
    if (fe_weights_open_dir(&m->weights, dir, err, sizeof err)) {
        model_free(m);
        return die("%s", err);
    }
    return 0;
}

/* Commands that read weights refuse a model of config.json alone. */
static int need_weights(Model *m, const char *what)
{
    if (!m->config_only) return 0;
    return die("%s: no model.safetensors or model.safetensors.index.json: %s needs the weights (hetc inspect, "
               "hetc simulate and hetc compile --report take config.json alone)", m->dir, what);
}

PassCtx model_ctx(const Model *m, PassDiag *diag)
{
    return (PassCtx){.arch = &m->arch, .config = m->config, .weights = &m->weights, .model_name = m->name,
                     .model_dir = m->dir, .weight_dtype = -1, .max_chunk = 128, .shapes_only = m->config_only,
                     .diag = diag};
}

int lower_model(const Model *m, IrGraph *g, const PassCtx *c, const char *print_after)
{
    ir_graph_init(g, m->name, m->arch.name);
    if (pass_run_pipeline(g, c, "lower,fuse,dce", print_after, stdout)) return die("%s", c->diag->msg);
    return 0;
}

static int open_tokenizer(const char *model, void **blob, RtTokenizer **tok);

/* ---- calibration ---- */

typedef struct {
    const char *text;           /* --calib FILE: text to calibrate on (default: calib/default.txt) */
    const char *in;             /* --calib-in FILE: a calib.json to reuse instead */
    const char *ids;            /* --calib-ids FILE: token ids to calibrate on instead of text */
    const char *out;            /* where to write calib.json, NULL: nowhere */
    long window;                /* tokens per window (0: 512 or the context) */
} CalibOpts;

/* The statistics of model m's linear inputs: read from o->in, or gathered
 * over o->text with the model's tokenizer through the reference
 * interpreter (and saved to o->out). */
static int calibrate(const Model *m, const CalibOpts *o, FeCalib *cal)
{
    char err[FE_ERR_LEN], path[FE_PATH_LEN];
    if (o->in) {
        if (fe_calib_load(cal, o->in, err, sizeof err)) return die("%s", err);
        if (strcmp(cal->model, m->name) != 0)
            fprintf(stderr, "hetc: note: %s was calibrated on model '%s', not '%s'\n", o->in, cal->model, m->name);
        return 0;
    }
    const char *file = o->ids ? o->ids : o->text ? o->text : data_dir("HETC_CALIB", "calib/default.txt", path, sizeof path);
    size_t len, n = 0;
    char *text = fe_read_file(file, &len, err, sizeof err);
    if (!text) return die("%s", err);
    int32_t *ids = malloc((len + 16) * sizeof *ids);
    int rc = ids ? 0 : die("%s: out of memory", file);
    if (!rc && o->ids) {    /* whitespace-separated decimal ids */
        int64_t vocab = 0;
        fe_config_int(m->config, "vocab_size", &vocab, err, sizeof err);
        char *p = text, *end;
        for (long v; !rc && (v = strtol(p, &end, 10), end != p); p = end) {
            if (v < 0 || (vocab > 0 && v >= vocab)) rc = die("%s: token %zu: id %ld is not in 0..%lld", file, n, v, (long long)vocab - 1);
            ids[n++] = (int32_t)v;
        }
        while (!rc && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')) p++;
        if (!rc && *p) rc = die("%s: token %zu: '%.12s' is not a token id", file, n, p);
    } else if (!rc) {
        void *blob;
        RtTokenizer *tok;
        if (open_tokenizer(m->dir, &blob, &tok)) rc = die("%s: calibrating on text needs the model's tokenizer; give token ids with --calib-ids FILE", m->dir);
        else {
            if (rt_tok_encode(tok, text, len, 1, 0, ids, len + 16, &n) != RT_OK)
                rc = die("%s: tokenizing %s: %s", m->dir, file, rt_last_error());
            rt_tok_close(tok);
            free(blob);
        }
    }
    free(text);
    PassDiag diag = {0};
    PassCtx c = model_ctx(m, &diag);
    IrGraph g;
    if (!rc) rc = lower_model(m, &g, &c, NULL);
    else ir_graph_init(&g, m->name, m->arch.name);
    long ctx = ir_graph_int(&g, "max_ctx", 512), window = o->window > 0 ? o->window : ctx < 512 ? ctx : 512;
    if (!rc && window > ctx) rc = die("--calib-window %ld is larger than the model's context %ld", window, ctx);
    if (!rc && (long)n < window)
        rc = die("%s: %zu tokens; calibration needs a window of %ld (give a longer --calib text)", file, n, window);
    FeF32Cache wc = {.w = &m->weights};
    double t0 = now();
    if (!rc && fe_calib_run(cal, &g, fe_weights_f32, &wc, ids, (int)n, (int)window, err, sizeof err)) rc = die("%s", err);
    if (!rc)
        fprintf(stderr, "hetc: calibrated %d linears on %d tokens of %s in %.1f s\n", cal->nlin, cal->tokens, file,
                now() - t0);
    if (!rc && o->out && fe_calib_save(cal, o->out, err, sizeof err)) rc = die("%s", err);
    fe_f32_cache_free(&wc);
    ir_graph_free(&g);
    free(ids);
    return rc;
}

/* Whether pass partition (under probe's planning options, with chunks)
 * puts a linear on an npu unit. */
static int npu_gets_linears(const PassCtx *probe, const int *chunks, int nchunks)
{
    PassCtx c = *probe;
    PassDiag diag = {0};
    c.diag = &diag;
    c.chunks = chunks;
    c.nchunks = nchunks;
    c.calib = NULL;
    IrGraph g;
    ir_graph_init(&g, "probe", "probe");
    int on_npu = 1;     /* when in doubt (the planning failed: the compile says why), calibrate */
    if (!pass_run_pipeline(&g, &c, "lower,fuse,dce,chunk,place,partition", NULL, NULL)) {
        on_npu = 0;
        for (int i = 0; i < g.n; i++)
            on_npu |= g.nodes[i].op == IR_OP_LINEAR && strcmp(g.units[g.nodes[i].unit].kind, "npu") == 0;
    }
    ir_graph_free(&g);
    return on_npu;
}

/* A target with an npu-emu unit: the standard chunks where none are given,
 * and the calibration of the npu's int8 linears; 1 if there is one, 0 if
 * not, -1 on error. With probe (hetc compile's planning options) and no
 * calibration asked for, none where the partition puts no linear on the
 * npu (every one on a float unit: no int8 decisions to make). */
static int npu_setup(const Model *m, const FeTarget *t, const CalibOpts *co, FeCalib *cal, int *chunks, int *nchunks,
                     const PassCtx *probe)
{
    int npu = 0;
    for (int u = 0; u < t->nunits; u++) npu |= strcmp(t->units[u].backend, "npu-emu") == 0;
    if (!npu) return 0;
    if (*nchunks == 0) {
        chunks[(*nchunks)++] = 32;
        chunks[(*nchunks)++] = 128;
    }
    if (m->config_only) return 0;   /* planning alone: no weights to calibrate on, so no int8 decisions */
    if (probe && !co->text && !co->in && !co->ids && !npu_gets_linears(probe, chunks, *nchunks)) {
        fprintf(stderr, "hetc: note: pass partition puts no linear on %s's npu: no calibration\n", t->name);
        return 0;
    }
    return calibrate(m, co, cal) ? -1 : 1;
}

/* The target and, with --profile, its profile (checked against it). */
int load_planning(const char *target_path, const char *profile_path, FeTarget *t, IrProfile *prof)
{
    char err[FE_ERR_LEN];
    memset(prof, 0, sizeof *prof);
    if (!target_path) return die("--target is required");
    if (fe_target_load(t, target_path, err, sizeof err)) return die("%s", err);
    if (profile_path && (fe_profile_load(prof, profile_path, err, sizeof err) ||
                         fe_profile_check(prof, profile_path, t, err, sizeof err)))
        return fe_profile_free(prof), die("%s", err);
    fe_profile_apply(prof, t);
    return 0;
}

/* --matmul-precision f32|bf16: the activations' precision in the linears
 * of bf16 weights on cpu units (f32, the default: the float forward's
 * logits; bf16: llama.cpp's, twice as fast with AVX512_BF16). */
static int parse_precision(const char *v, int *bf16)
{
    if (strcmp(v, "f32") == 0) *bf16 = 0;
    else if (strcmp(v, "bf16") == 0) *bf16 = 1;
    else return die("--matmul-precision: '%s' is not f32 (x as it is, the default) or bf16 (x rounded to bf16 in the "
                    "linears of bf16 weights)", v);
    return 0;
}

/* --work-bytes SIZE: bytes, or a number with K, M or G (powers of 1024). */
static int parse_bytes(const char *v, const char *what, int64_t *bytes)
{
    uint64_t b;
    if (fe_parse_size(v, "KMG", &b) || b < 4096 || b >= (uint64_t)1 << 50)
        return die("%s: '%s' is not a size of 4K or more (bytes, or a number with K, M or G: 512K, 16M)", what, v);
    *bytes = (int64_t)b;
    return 0;
}

/* --schedule ooo|inorder. */
int parse_schedule(const char *v, int *mode)
{
    if (strcmp(v, "ooo") == 0) *mode = PASS_SCHEDULE_OOO;
    else if (strcmp(v, "inorder") == 0) *mode = PASS_SCHEDULE_INORDER;
    else return die("--schedule: '%s' is not ooo (chunks' subgraphs out of order, llm.npu's greedy) or inorder", v);
    return 0;
}

/* --partition solve|npu. */
int parse_partition(const char *v, int *mode)
{
    if (strcmp(v, "solve") == 0) *mode = PASS_PARTITION_SOLVE;
    else if (strcmp(v, "npu") == 0) *mode = PASS_PARTITION_NPU;
    else return die("--partition: '%s' is not solve (the cost model's choice per linear and shape) or npu (every "
                    "linear of a chunk plan on the npu)", v);
    return 0;
}

/* A calibration option of compile or calibrate: 1 if argv[*i] was one. */
static int calib_opt(int argc, char **argv, int *i, CalibOpts *o, int *bad)
{
    const char *v;
    if ((v = opt(argc, argv, i, "--calib"))) o->text = v;
    else if ((v = opt(argc, argv, i, "--calib-in"))) o->in = v;
    else if ((v = opt(argc, argv, i, "--calib-ids"))) o->ids = v;
    else if ((v = opt(argc, argv, i, "--calib-window"))) *bad = parse_int(v, "--calib-window", 2, 1 << 20, &o->window);
    else return 0;
    return 1;
}

static int cmd_calibrate(int argc, char **argv)
{
    const char *dir = NULL, *v;
    CalibOpts co = {0};
    int bad = 0;
    for (int i = 2; i < argc; i++) {
        if (calib_opt(argc, argv, &i, &co, &bad)) { if (bad) return 1; }
        else if ((v = opt(argc, argv, &i, "-o"))) co.out = v;
        else if (argv[i][0] == '-') return die("calibrate: unknown option '%s'", argv[i]);
        else dir = argv[i];
    }
    if (!dir || !co.out || co.in) return die("usage: hetc calibrate MODEL -o calib.json [--calib TEXT_FILE | --calib-ids IDS_FILE] [--calib-window N]");
    Model m;
    if (model_open(&m, dir)) return 1;
    if (need_weights(&m, "hetc calibrate")) return model_free(&m), 1;
    FeCalib cal;
    int rc = calibrate(&m, &co, &cal);
    if (!rc) fe_calib_free(&cal);
    model_free(&m);
    return rc;
}

/* ---- inspect ---- */

static void human(double v, const char *unit, char *buf, size_t cap)
{
    const char *pre[] = {"", "K", "M", "G", "T"};
    int k = 0;
    while (v >= 1000 && k < 4) v /= 1000, k++;
    snprintf(buf, cap, "%.2f %s%s", v, pre[k], unit);
}

static void print_summary(const Model *m, const IrGraph *g)
{
    double params = 0, bytes[IR_DTYPE_COUNT] = {0}, flops = 0, attn = 0;
    for (int i = 0; i < g->n; i++) {
        const IrNode *n = &g->nodes[i];
        if (n->op == IR_OP_WEIGHT) {
            const FeTensor *t = fe_weights_find(&m->weights, ir_attr_str(n, "name"));
            params += (double)ir_numel(n, 1, 1);
            if (t) bytes[t->dtype] += (double)t->nbytes;
            else bytes[n->dtype] += (double)ir_dtype_bytes(n->dtype, ir_numel(n, 1, 1));   /* config only */
        }
        if (n->op == IR_OP_LINEAR) flops += 2.0 * (double)g->nodes[n->in[1]].dim[0] * g->nodes[n->in[1]].dim[1];
        if (n->op == IR_OP_ATTENTION) attn += 4.0 * ir_attr_int(n, "heads") * ir_attr_int(n, "head_dim");
    }
    char a[32], b[32];
    int64_t kvh = ir_graph_int(g, "kv_heads", 0), hd = ir_graph_int(g, "head_dim", 0);
    printf("model:         %s\n", m->dir);
    printf("architecture:  %s (%s, %s)\n", m->arch.name, fe_config_arch_class(m->config), m->arch.path);
    printf("dims:          layers %lld, hidden %lld, heads %lld (kv %lld, head_dim %lld), ffn %lld, vocab %lld\n",
           (long long)ir_graph_int(g, "layers", 0), (long long)ir_graph_int(g, "hidden", 0),
           (long long)ir_graph_int(g, "heads", 0), (long long)kvh, (long long)hd, (long long)ir_graph_int(g, "ffn", 0),
           (long long)ir_graph_int(g, "vocab", 0));
    printf("context:       %lld tokens; rope theta %g; rms eps %g; tied head %s\n",
           (long long)ir_graph_int(g, "ctx", 0), ir_graph_float(g, "rope_theta", 0), ir_graph_float(g, "eps", 0),
           ir_graph_int(g, "tie", 0) ? "yes" : "no");
    human(params, "", a, sizeof a);
    printf("parameters:    %s (%.0f)\n", a, params);
    for (int t = 0; t < IR_DTYPE_COUNT; t++)
        if (bytes[t] > 0) {
            human(bytes[t], "B", a, sizeof a);
            printf("weights %-5s  %s\n", ir_dtype_name((IrDtype)t), a);
        }
    human(flops, "FLOP", a, sizeof a);
    human(attn, "FLOP", b, sizeof b);
    printf("per token:     %s in linear layers + %s per cached token in attention\n", a, b);
    double kv = 2.0 * ir_graph_int(g, "layers", 0) * kvh * hd * 4;
    human(kv, "B", a, sizeof a);
    human(kv * ir_graph_int(g, "ctx", 0), "B", b, sizeof b);
    printf("KV cache:      %s per token (f32), %s at the full context\n", a, b);
    printf("layer 0 of %lld:\n", (long long)ir_graph_int(g, "layers", 0));
    for (int i = 0; i < g->n; i++) {
        const IrNode *n = &g->nodes[i];
        if (n->layer != 0 || n->op == IR_OP_WEIGHT) continue;
        printf("  %-14s %-10s", n->name, ir_op_name(n->op));
        for (int k = 0; k < n->nin; k++) {
            const IrNode *w = &g->nodes[n->in[k]];
            if (w->op != IR_OP_WEIGHT) continue;
            printf(" %s[", ir_dtype_name(w->dtype));
            for (int d = 0; d < w->ndim; d++) printf("%s%lld", d ? "," : "", (long long)w->dim[d]);
            printf("]");
        }
        printf(" -> [S,%lld]\n", (long long)n->dim[1]);
    }
}

/* --chunk C[,C2..]: up to IR_MAX_PLANS - 2 sizes in 1..IR_MAX_CHUNK. */
int parse_chunks(const char *v, int *sizes, int *n)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", v);
    *n = 0;
    if (!*v || v[0] == ',' || v[strlen(v) - 1] == ',' || strstr(v, ",,"))
        return die("--chunk: '%s' has an empty size (sizes are separated by single commas)", v);
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        long x;
        if (*n == IR_MAX_PLANS - 2) return die("--chunk: at most %d sizes", IR_MAX_PLANS - 2);
        if (parse_int(t, "--chunk", 1, IR_MAX_CHUNK, &x)) return 1;
        sizes[(*n)++] = (int)x;
    }
    if (*n == 0) return die("--chunk: '%s' lists no size", v);
    return 0;
}

static int parse_remainder(const char *v, int *r)
{
    if (strcmp(v, "pad") == 0) *r = PASS_REMAINDER_PAD;
    else if (strcmp(v, "flex") == 0) *r = PASS_REMAINDER_FLEX;
    else return die("--remainder: '%s' is not pad or flex", v);
    return 0;
}

/* --weight-dtype: a float type, or a block type (q8_0, q4_0, ...), which
 * only a model of config.json alone takes for now (planning: the cost
 * model needs their bytes only); see weight_dtype_ok. */
int parse_dtype(const char *v, int *dt)
{
    *dt = ir_dtype_from_name(v);
    if (*dt < 0 || *dt == IR_I32 || *dt == IR_I8)
        return die("--weight-dtype: '%s' is not f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_k, q3_k, q4_k, q5_k "
                   "or q6_k", v);
    return 0;
}

/* A block weight type on a model with weights: hetc quantises to the
 * types of fe_can_quant; q2_k and q3_k are read from GGUF files only, and
 * planned for models of config.json alone. */
static int weight_dtype_ok(const Model *m, int dt, const char *what)
{
    if (dt < 0 || !ir_dtype_is_block((IrDtype)dt) || m->config_only || fe_can_quant((IrDtype)dt)) return 0;
    return die("%s: --weight-dtype %s: hetc quantises to q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k and q6_k; %s "
               "weights come from GGUF files (and models of config.json alone take it for planning)", what,
               ir_dtype_name((IrDtype)dt), ir_dtype_name((IrDtype)dt));
}

static int cmd_inspect(int argc, char **argv)
{
    const char *dir = NULL, *format = "text";
    int ir = 0, chunks[IR_MAX_PLANS], nchunks = 0, remainder = PASS_REMAINDER_DEFAULT, wdt = -1;
    for (int i = 2; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--ir") == 0) ir = 1;
        else if ((v = opt(argc, argv, &i, "--weight-dtype"))) { if (parse_dtype(v, &wdt)) return 1; }
        else if ((v = opt(argc, argv, &i, "--format"))) format = v;
        else if ((v = opt(argc, argv, &i, "--chunk"))) { if (parse_chunks(v, chunks, &nchunks)) return 1; }
        else if ((v = opt(argc, argv, &i, "--remainder"))) { if (parse_remainder(v, &remainder)) return 1; }
        else if (argv[i][0] == '-') return die("inspect: unknown option '%s'", argv[i]);
        else dir = argv[i];
    }
    if (!dir)
        return die("usage: hetc inspect MODEL [--weight-dtype DT] [--ir [--format text|json|dot] [--chunk C[,C2..]] "
                   "[--remainder pad|flex]]");
    if (strcmp(format, "text") && strcmp(format, "json") && strcmp(format, "dot"))
        return die("--format: '%s' is not text, json or dot", format);
    Model m;
    if (model_open(&m, dir)) return 1;
    if (weight_dtype_ok(&m, wdt, "hetc inspect")) return model_free(&m), 1;
    PassDiag diag = {0};
    PassCtx c = model_ctx(&m, &diag);
    IrGraph g;
    c.weight_dtype = wdt;
    c.chunks = chunks;
    c.nchunks = nchunks;
    c.remainder = remainder;
    int rc = lower_model(&m, &g, &c, NULL);
    if (!rc && !ir) print_summary(&m, &g);
    if (!rc && ir && pass_run_pipeline(&g, &c, "chunk", NULL, stdout)) rc = die("%s", diag.msg);   /* the plans */
    if (!rc && ir) {
        if (strcmp(format, "json") == 0) ir_dump_json(stdout, &g);
        else if (strcmp(format, "dot") == 0) ir_dump_dot(stdout, &g);
        else ir_print(stdout, &g);
    }
    ir_graph_free(&g);
    model_free(&m);
    return rc;
}

/* ---- compile ---- */

static int tokenizer_image(const char *model, void **blob, size_t *bytes);

/* tokenizer.bin for the project; a model without tokenizer.json compiles
 * to a program that takes token ids only. */
static int compile_tokenizer(const char *dir, void **blob, size_t *bytes)
{
    char path[FE_PATH_LEN + 32];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    struct stat st;
    if (!is_gguf(dir) && stat(path, &st) != 0) {   /* a GGUF file carries its vocabulary */
        fprintf(stderr, "hetc: warning: %s: no tokenizer.json; the program will take token ids only\n", dir);
        return 0;
    }
    if (tokenizer_image(dir, blob, bytes)) {
        fprintf(stderr, "hetc: (--no-tokenizer compiles without it)\n");
        return 1;
    }
    return 0;
}

/* The command line as model.h records it, the output directory as OUT_DIR:
 * the same compile into another directory gives the same bytes. */
static char *join_args(int argc, char **argv)
{
    static char buf[4096];
    size_t k = 0;
    for (int i = 0; i < argc && k < sizeof buf - 1; i++) {
        const char *a = i == 0 ? "hetc" : i > 1 && strcmp(argv[i - 1], "-o") == 0 ? "OUT_DIR" : argv[i];
        k += snprintf(buf + k, sizeof buf - k, "%s%s", i ? " " : "", a);
    }
    return buf;
}

static int parse_real(const char *s, const char *what, double lo, double hi, double *v)
{
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    if (errno || *end || end == s || !(*v >= lo && *v <= hi)) return die("%s: '%s' is not a number in %g..%g", what, s, lo, hi);
    return 0;
}

/* Outlier options of compile and run: --outlier-t T, --outlier-prune F, --no-outliers. */
typedef struct {
    double t, prune;            /* 0, -1: the pass's defaults */
    int off;
} OutlierOpts;

static int outlier_opt(int argc, char **argv, int *i, OutlierOpts *o, int *bad)
{
    const char *v;
    if ((v = opt(argc, argv, i, "--outlier-t"))) *bad = parse_real(v, "--outlier-t", 1, 1e6, &o->t);
    else if ((v = opt(argc, argv, i, "--outlier-prune"))) *bad = parse_real(v, "--outlier-prune", 0, 1, &o->prune);
    else if (strcmp(argv[*i], "--no-outliers") == 0) o->off = 1;
    else return 0;
    return 1;
}

static int cmd_compile(int argc, char **argv)
{
    const char *dir = NULL, *target_path = NULL, *out = NULL, *print_after = NULL, *report = NULL, *v;
    const char *html = NULL, *preset = NULL;
    long ctx = 0, chunk = 128, threads = 0;
    int wdt = -1, no_tokenizer = 0, firmware = 0, chunks[IR_MAX_PLANS], nchunks = 0, remainder = PASS_REMAINDER_DEFAULT;
    int bad = 0, npu_decode = 0, partition = PASS_PARTITION_SOLVE, schedule = PASS_SCHEDULE_OOO, matmul_bf16 = 0;
    int64_t work_bytes = 0;
    const char *profile_path = NULL;
    OutlierOpts oo = {0, -1, 0};
    CalibOpts co = {0};
    for (int i = 2; i < argc; i++) {
        if (calib_opt(argc, argv, &i, &co, &bad)) { if (bad) return 1; }
        else if (outlier_opt(argc, argv, &i, &oo, &bad)) { if (bad) return 1; }
        else if (strcmp(argv[i], "--npu-decode") == 0) npu_decode = 1;
        else if ((v = opt(argc, argv, &i, "--partition"))) { if (parse_partition(v, &partition)) return 1; }
        else if ((v = opt(argc, argv, &i, "--schedule"))) { if (parse_schedule(v, &schedule)) return 1; }
        else if ((v = opt(argc, argv, &i, "--matmul-precision"))) { if (parse_precision(v, &matmul_bf16)) return 1; }
        else if ((v = opt(argc, argv, &i, "--profile"))) profile_path = v;
        else if ((v = opt(argc, argv, &i, "--target"))) target_path = v;
        else if ((v = opt(argc, argv, &i, "-o"))) out = v;
        else if ((v = opt(argc, argv, &i, "--print-after"))) print_after = v;
        else if ((v = opt(argc, argv, &i, "--ctx"))) { if (parse_int(v, "--ctx", 1, 1 << 24, &ctx)) return 1; }
        else if ((v = opt(argc, argv, &i, "--max-chunk"))) { if (parse_int(v, "--max-chunk", 1, 8192, &chunk)) return 1; }
        else if ((v = opt(argc, argv, &i, "--threads"))) { if (parse_int(v, "--threads", 0, 1024, &threads)) return 1; }
        else if ((v = opt(argc, argv, &i, "--chunk"))) { if (parse_chunks(v, chunks, &nchunks)) return 1; }
        else if ((v = opt(argc, argv, &i, "--remainder"))) { if (parse_remainder(v, &remainder)) return 1; }
        else if ((v = opt(argc, argv, &i, "--report-json"))) report = v;
        else if ((v = opt(argc, argv, &i, "--report"))) html = v;
        else if ((v = opt(argc, argv, &i, "--preset"))) preset = v;
        else if ((v = opt(argc, argv, &i, "--weight-dtype"))) { if (parse_dtype(v, &wdt)) return 1; }
        else if (strcmp(argv[i], "--no-tokenizer") == 0) no_tokenizer = 1;
        else if (strcmp(argv[i], "--firmware") == 0) firmware = 1;
        else if ((v = opt(argc, argv, &i, "--work-bytes"))) { if (parse_bytes(v, "--work-bytes", &work_bytes)) return 1; }
        else if (argv[i][0] == '-') return die("compile: unknown option '%s'", argv[i]);
        else dir = argv[i];
    }
    if (!dir == !preset || !target_path || !(out || html))
        return die("usage: hetc compile MODEL|--preset NAME --target TARGET.xml (-o OUT_DIR | --report report.html) "
                   "[--report report.html] [--ctx N] [--max-chunk N] "
                   "[--chunk C[,C2..]] [--remainder pad|flex] "
                   "[--weight-dtype f32|f16|bf16|q8_0|q4_0|q4_1|q5_0|q5_1|q4_k|q5_k|q6_k] [--matmul-precision f32|bf16] "
                   "[--threads N] [--no-tokenizer] [--firmware [--work-bytes SIZE]] "
                   "[--print-after=PASS|all] [--report-json FILE] [--calib FILE | --calib-in "
                   "calib.json] [--outlier-t T] [--outlier-prune F] [--no-outliers] [--partition solve|npu] "
                   "[--schedule ooo|inorder] [--profile profile.json]");
    if (work_bytes && !firmware)
        return die("--work-bytes sizes the work area of a firmware build: it needs --firmware");
    char err[FE_ERR_LEN], rtdir[FE_PATH_LEN];
    FeTarget target;
    IrProfile prof;
    if (load_planning(target_path, profile_path, &target, &prof)) return 1;
    if (out && fe_target_codegen_check(&target, err, sizeof err)) return fe_profile_free(&prof), die("%s", err);
    for (int u = 0; firmware && u < target.nunits; u++)
        if (strcmp(target.units[u].backend, "opencl") == 0)
            return fe_profile_free(&prof), die("--firmware: target %s has OpenCL unit '%s': a static firmware program "
                                               "cannot load an OpenCL driver; compile for a target of cpu (and npu) "
                                               "units, or without --firmware", target.name, target.units[u].name);
    double t0 = now();
    Model m;
    char tmp[64];
    if (plan_model_open(&m, dir, preset, tmp)) return fe_profile_free(&prof), 1;
    if ((out && need_weights(&m, "hetc compile -o")) || weight_dtype_ok(&m, wdt, "hetc compile"))
        return tmp[0] ? plan_cleanup(tmp) : 0, model_free(&m), fe_profile_free(&prof), 1;
    FeCalib cal = {0};
    PassDiag diag = {0};
    PassCtx c = model_ctx(&m, &diag);
    c.target = &target;
    c.weight_dtype = wdt;
    c.max_chunk = (int)chunk;
    c.ctx = (int)ctx;
    c.remainder = remainder;
    c.partition = partition;
    c.profile = profile_path ? &prof : NULL;
    c.shapes_only = m.config_only;
    /* a config without weights: npu_setup gives no calibration (an npu's linears are priced as int8 all the same) */
    int npu = npu_setup(&m, &target, &co, &cal, chunks, &nchunks, npu_decode ? NULL : &c);
    if (npu < 0) return tmp[0] ? plan_cleanup(tmp) : 0, model_free(&m), fe_profile_free(&prof), 1;
    int has_npu = 0;
    for (int u = 0; u < target.nunits; u++) has_npu |= strcmp(target.units[u].backend, "npu-emu") == 0;
    if (!has_npu && (co.text || co.in || oo.t > 0 || oo.prune >= 0 || oo.off))
        fprintf(stderr, "hetc: note: target %s has no npu unit: calibration and outlier options do nothing\n", target.name);
    if (npu_decode && !npu) return model_free(&m), fe_calib_free(&cal), die("--npu-decode: target %s has no npu unit", target.name);
    if (npu_decode && nchunks < IR_MAX_PLANS - 2) chunks[nchunks++] = 1;   /* decode steps as static chunks of 1 */
    c.chunks = chunks;
    c.nchunks = nchunks;
    c.no_decode = npu_decode;
    c.calib = npu ? &cal : NULL;
    c.outlier_t = oo.t;
    c.outlier_prune = oo.prune;
    c.no_outliers = oo.off;
    c.schedule = schedule;
    c.matmul_bf16 = matmul_bf16;
    c.firmware = firmware;
    c.work_bytes = work_bytes;
    IrGraph g;
    ir_graph_init(&g, m.name, m.arch.name);
    const char *pipeline = m.config_only ? "lower,fuse,dce,chunk,place,partition,transfers,group,schedule,memplan" : "all";
    int rc = pass_run_pipeline(&g, &c, pipeline, print_after, stdout) ? die("%s", diag.msg) : 0;
    double t1 = now();
    void *tok = NULL;
    size_t tok_bytes = 0;
    if (!rc && out && !no_tokenizer) rc = compile_tokenizer(m.dir, &tok, &tok_bytes);
    if (!rc && out) {
        CgOptions o = {.outdir = out, .weights = &m.weights, .target = &target, .threads = (int)threads,
                       .tokenizer = tok, .tokenizer_bytes = tok_bytes, .firmware = firmware,
                       .runtime_dir = data_dir("HETC_RUNTIME", "runtime", rtdir, sizeof rtdir),
                       .command = join_args(argc, argv)};
        if (cg_emit_project(&g, &o, err, sizeof err)) rc = die("%s", err);
    }
    if (!rc && report && cg_report_json(&g, target.name, report, err, sizeof err)) rc = die("%s", err);
    IrCost cost = {.g = &g, .prof = c.profile};
    if (!rc && html && cg_report_html(&g, &target, &cost, html, err, sizeof err)) rc = die("%s", err);
    if (!rc && out && npu && !co.in) {     /* reusable: hetc compile --calib-in OUT_DIR/calib.json */
        char cpath[FE_PATH_LEN + 16];
        snprintf(cpath, sizeof cpath, "%s/calib.json", out);
        if (fe_calib_save(&cal, cpath, err, sizeof err)) rc = die("%s", err);
    }
    fe_calib_free(&cal);
    uint64_t phash = 0;
    if (!rc && out && cg_project_hash(out, &phash, err, sizeof err)) rc = die("%s", err);
    if (!rc && out)
        fprintf(stderr, "hetc: compiled %s for %s into %s in %.2f s (passes %.2f s, codegen and weights %.2f s)\n"
                        "hetc: project hash %016" PRIx64 "\n",
                m.name, target.name, out, now() - t0, t1 - t0, now() - t1, phash);
    if (!rc && html) fprintf(stderr, "hetc: wrote the plan of %s for %s to %s\n", m.name, target.name, html);
    free(tok);
    ir_graph_free(&g);
    model_free(&m);
    fe_profile_free(&prof);
    if (tmp[0]) plan_cleanup(tmp);
    return rc;
}

/* ---- opt ---- */

static int cmd_opt(int argc, char **argv)
{
    const char *file = NULL, *passes = NULL, *print_after = NULL, *target_path = NULL, *v;
    int chunks[IR_MAX_PLANS], nchunks = 0, remainder = PASS_REMAINDER_DEFAULT, schedule = PASS_SCHEDULE_OOO;
    for (int i = 2; i < argc; i++) {
        if ((v = opt(argc, argv, &i, "--passes"))) passes = v;
        else if ((v = opt(argc, argv, &i, "--schedule"))) { if (parse_schedule(v, &schedule)) return 1; }
        else if ((v = opt(argc, argv, &i, "--chunk"))) { if (parse_chunks(v, chunks, &nchunks)) return 1; }
        else if ((v = opt(argc, argv, &i, "--remainder"))) { if (parse_remainder(v, &remainder)) return 1; }
        else if ((v = opt(argc, argv, &i, "--print-after"))) print_after = v;
        else if ((v = opt(argc, argv, &i, "--target"))) target_path = v;
        else if (strcmp(argv[i], "--list-passes") == 0) {
            int n;
            const PassInfo *p = pass_list(&n);
            for (int k = 0; k < n; k++)
                printf("%-9s %s\n          requires: %s; provides: %s; invalidates: %s\n", p[k].name, p[k].what,
                       p[k].requires[0] ? p[k].requires : "-", p[k].provides,
                       p[k].invalidates[0] ? p[k].invalidates : "-");
            return 0;
        } else if (argv[i][0] == '-') return die("opt: unknown option '%s'", argv[i]);
        else file = argv[i];
    }
    if (!file || !passes)
        return die("usage: hetc opt FILE.ir --passes=P,Q [--print-after=P|all] [--target T.xml] [--chunk C[,C2..]] "
                   "[--remainder pad|flex] [--schedule ooo|inorder]");
    char err[FE_ERR_LEN];
    FeTarget target;
    if (target_path && fe_target_load(&target, target_path, err, sizeof err)) return die("%s", err);
    size_t len;
    char *text = fe_read_file(file, &len, err, sizeof err);
    if (!text) return die("%s", err);
    IrGraph g;
    int rc = 0;
    if (ir_parse(&g, text, file, err, sizeof err)) {
        free(text);
        return die("%s", err);
    }
    free(text);
    PassDiag diag = {0};
    PassCtx c = {.target = target_path ? &target : NULL, .weight_dtype = -1, .chunks = chunks, .nchunks = nchunks,
                 .remainder = remainder, .schedule = schedule, .diag = &diag};
    if (pass_run_pipeline(&g, &c, passes, print_after, stdout)) rc = die("%s: error: %s", file, diag.msg);
    else if (!print_after) ir_print(stdout, &g);
    ir_graph_free(&g);
    return rc;
}

/* ---- run (reference interpreter) ---- */

static int parse_ids(const char *s, int32_t **ids, int *n)
{
    *n = 0;
    *ids = malloc((strlen(s) / 2 + 2) * sizeof **ids);
    for (const char *p = s; *p;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > INT32_MAX || (*end && *end != ',')) return die("--ids: bad token id list '%s'", s);
        (*ids)[(*n)++] = (int32_t)v;
        p = *end ? end + 1 : end;
    }
    return *n ? 0 : die("--ids: empty list");
}

static int cmd_run(int argc, char **argv)
{
    const char *dir = NULL, *ids_s = NULL, *logits_path = NULL, *target_path = NULL, *profile_path = NULL, *v;
    long batch = 0;
    int bad = 0, chunks[IR_MAX_PLANS], nchunks = 0, partition = PASS_PARTITION_SOLVE;
    CalibOpts co = {0};
    OutlierOpts oo = {0, -1, 0};
    for (int i = 2; i < argc; i++) {
        if ((v = opt(argc, argv, &i, "--ids"))) ids_s = v;
        else if ((v = opt(argc, argv, &i, "--profile"))) profile_path = v;
        else if ((v = opt(argc, argv, &i, "--logits"))) logits_path = v;
        else if ((v = opt(argc, argv, &i, "--batch"))) { if (parse_int(v, "--batch", 1, 1 << 20, &batch)) return 1; }
        else if ((v = opt(argc, argv, &i, "--target"))) target_path = v;
        else if ((v = opt(argc, argv, &i, "--chunk"))) { if (parse_chunks(v, chunks, &nchunks)) return 1; }
        else if ((v = opt(argc, argv, &i, "--partition"))) { if (parse_partition(v, &partition)) return 1; }
        else if (calib_opt(argc, argv, &i, &co, &bad)) { if (bad) return 1; }
        else if (outlier_opt(argc, argv, &i, &oo, &bad)) { if (bad) return 1; }
        else if (argv[i][0] == '-') return die("run: unknown option '%s'", argv[i]);
        else dir = argv[i];
    }
    if (!dir || !ids_s)
        return die("usage: hetc run MODEL --ids 1,2,3 [--logits FILE] [--batch N] [--target T.xml [--chunk C,..] "
                   "[--partition solve|npu] [--profile P.json] [--calib FILE | --calib-in calib.json] [--outlier-t T] "
                   "[--outlier-prune F] [--no-outliers]]");
    if (profile_path && !target_path) return die("run: --profile plans for a target: give --target too");
    int32_t *ids;
    int n;
    if (parse_ids(ids_s, &ids, &n)) return 1;
    Model m;
    if (model_open(&m, dir)) return 1;
    if (need_weights(&m, "hetc run")) return model_free(&m), 1;
    PassDiag diag = {0};
    PassCtx c = model_ctx(&m, &diag);
    IrGraph g;
    FeTarget target;
    FeCalib cal = {0};
    char err[FE_ERR_LEN];
    int rc = 0;
    IrProfile prof = {0};
    if (target_path) {  /* the compiled graph: plans, units, int8 (the compiler's own reference of a build) */
        if (load_planning(target_path, profile_path, &target, &prof)) rc = 1;
        int npu = rc ? 0 : npu_setup(&m, &target, &co, &cal, chunks, &nchunks, NULL);
        if (npu < 0) rc = 1;
        c.target = &target;
        c.calib = npu > 0 ? &cal : NULL;
        c.chunks = chunks;
        c.nchunks = nchunks;
        c.outlier_t = oo.t;
        c.outlier_prune = oo.prune;
        c.no_outliers = oo.off;
        c.partition = partition;
        c.profile = profile_path ? &prof : NULL;
        ir_graph_init(&g, m.name, m.arch.name);
        if (!rc && pass_run_pipeline(&g, &c, "all", NULL, stdout)) rc = die("%s", diag.msg);
        fe_calib_free(&cal);
    } else {
        rc = lower_model(&m, &g, &c, NULL);
    }
    FeF32Cache wc = {.w = &m.weights};
    /* the KV cache holds the prompt; a longer one than the context fails at the step that does not fit */
    int vocab = (int)ir_graph_int(&g, "vocab", 0), ctx = (int)ir_graph_int(&g, "max_ctx", 0);
    IrInterp *it = rc ? NULL : ir_interp_new(&g, fe_weights_f32, &wc, n < ctx ? n : ctx, err, sizeof err);
    if (!rc && !it) rc = die("%s", err);
    float *logits = rc ? NULL : malloc((size_t)n * vocab * sizeof(float));
    if (!rc && !logits) rc = die("logits of %d tokens: out of memory", n);
    for (int done = 0; !rc && done < n;) {
        int step = batch > 0 && n - done > batch ? (int)batch : n - done;
        if (ir_interp_step(it, ids + done, step, logits + (size_t)done * vocab, err, sizeof err)) rc = die("%s", err);
        done += step;
    }
    if (!rc && logits_path) {
        FILE *f = fopen(logits_path, "wb");
        if (!f || fwrite(logits, sizeof(float), (size_t)n * vocab, f) != (size_t)n * vocab)
            rc = die("%s: cannot write", logits_path);
        if (f) fclose(f);
    }
    if (!rc) {
        int best = 0;
        const float *last = logits + (size_t)(n - 1) * vocab;
        for (int j = 1; j < vocab; j++)
            if (last[j] > last[best]) best = j;
        printf("next token: %d (logit %.6g)\n", best, last[best]);
    }
    free(logits);
    fe_profile_free(&prof);
    ir_interp_free(it);
    fe_f32_cache_free(&wc);
    free(ids);
    ir_graph_free(&g);
    model_free(&m);
    return rc;
}

/* ---- tokenizers ---- */

/* The tokenizer.bin image of MODEL: a Hugging Face directory (tokenizer.json)
 * or a GGUF file (its tokenizer.ggml.* metadata). */
static int tokenizer_image(const char *model, void **blob, size_t *bytes)
{
    char err[FE_ERR_LEN];
    if (is_gguf(model)) {
        FeGguf g;
        if (fe_gguf_open(&g, model, err, sizeof err)) return die("%s", err);
        int rc = fe_tokenizer_from_gguf(&g, blob, bytes, err, sizeof err);
        fe_gguf_close(&g);
        return rc ? die("%s", err) : 0;
    }
    struct stat st;
    if (stat(model, &st) != 0 || !S_ISDIR(st.st_mode))
        return die("%s: not a Hugging Face model directory or a .gguf file", model);
    return fe_tokenizer_from_hf(model, blob, bytes, err, sizeof err) ? die("%s", err) : 0;
}

static int open_tokenizer(const char *model, void **blob, RtTokenizer **tok)
{
    size_t bytes;
    if (tokenizer_image(model, blob, &bytes)) return 1;
    if (rt_tok_open_mem(tok, *blob, bytes) != RT_OK) {
        free(*blob);
        return die("%s: tokenizer: %s", model, rt_last_error());
    }
    return 0;
}

static int cmd_tokenize(int argc, char **argv)
{
    const char *model = NULL, *text = NULL, *file = NULL, *v;
    char *file_text = NULL;
    int special = 1, timing = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--no-special") == 0) special = 0;
        else if (strcmp(argv[i], "--time") == 0) timing = 1;
        else if ((v = opt(argc, argv, &i, "--file"))) file = v;
        else if (argv[i][0] == '-' && argv[i][1] == '-') return die("tokenize: unknown option '%s'", argv[i]);
        else if (!model) model = argv[i];
        else if (!text) text = argv[i];
        else return die("tokenize: one TEXT argument expected (quote it)");
    }
    size_t len = text ? strlen(text) : 0;
    char err[FE_ERR_LEN];
    if (file && !(text = file_text = fe_read_file(file, &len, err, sizeof err))) return die("%s", err);
    if (!model || !text)
        return die("usage: hetc tokenize MODEL (TEXT | --file FILE) [--no-special] [--time]");
    void *blob;
    RtTokenizer *tok;
    if (open_tokenizer(model, &blob, &tok)) return free(file_text), 1;
    size_t cap = len + 16, n = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    double t0 = now();
    RtStatus st = rt_tok_encode(tok, text, len, special, special, ids, cap, &n);
    double dt = now() - t0;
    if (timing && st == RT_OK)
        fprintf(stderr, "tokenize: %zu bytes -> %zu tokens in %.3f s: %.2f MB/s\n", len, n, dt, len / 1e6 / dt);
    if (st == RT_OK)
        for (size_t i = 0; i < n; i++) printf("%s%d", i ? " " : "", ids[i]);
    if (st == RT_OK) printf("\n");
    int rc = st == RT_OK ? 0 : die("%s: %s", model, rt_last_error());
    free(ids);
    free(file_text);
    rt_tok_close(tok);
    free(blob);
    return rc;
}

static int cmd_detokenize(int argc, char **argv)
{
    const char *model = NULL;
    int skip = 0, n = 0;
    int32_t *ids = malloc((size_t)argc * sizeof *ids);
    for (int i = 2; i < argc; i++) {
        long v;
        if (strcmp(argv[i], "--skip-special") == 0) skip = 1;
        else if (!model) model = argv[i];
        else if (parse_int(argv[i], "token id", 0, INT32_MAX, &v)) return free(ids), 1;
        else ids[n++] = (int32_t)v;
    }
    if (!model) return free(ids), die("usage: hetc detokenize MODEL ID... [--skip-special]");
    void *blob;
    RtTokenizer *tok;
    if (open_tokenizer(model, &blob, &tok)) return free(ids), 1;
    int rc = 0;
    for (int i = 0; i < n; i++)
        if ((uint32_t)ids[i] >= rt_tok_header(tok)->n_tokens)
            rc = die("token id %d is out of range (%u tokens)", ids[i], rt_tok_header(tok)->n_tokens);
    if (!rc) {
        size_t len = rt_tok_decode(tok, ids, (size_t)n, skip, NULL, 0);
        char *text = malloc(len + 1);
        rt_tok_decode(tok, ids, (size_t)n, skip, text, len);
        fwrite(text, 1, len, stdout);
        putchar('\n');
        free(text);
    }
    free(ids);
    rt_tok_close(tok);
    free(blob);
    return rc;
}

/* ---- synth ---- */

static int cmd_synth(int argc, char **argv)
{
    char tpath[FE_PATH_LEN];
    FeSynthOpts o = {.dtype = -1, .seed = 1, .tie = -1,
                     .tokenizer_text = data_dir("HETC_CALIB", "calib/default.txt", tpath, sizeof tpath)};
    const char *out = NULL, *v;
    long x;
    for (int i = 2; i < argc; i++) {
        if ((v = opt(argc, argv, &i, "--preset"))) o.preset = v;
        else if ((v = opt(argc, argv, &i, "-o"))) out = v;
        else if ((v = opt(argc, argv, &i, "--dtype"))) {
            int dt;
            if (parse_dtype(v, &dt)) return 1;
            if (ir_dtype_is_block((IrDtype)dt)) return die("synth: --dtype: '%s' is not f32, f16 or bf16", v);
            o.dtype = (IrDtype)dt;
        } else if ((v = opt(argc, argv, &i, "--seed"))) { if (parse_int(v, "--seed", 0, 1L << 62, &x)) return 1; o.seed = (uint64_t)x; }
        else if ((v = opt(argc, argv, &i, "--shards"))) { if (parse_int(v, "--shards", 1, 999, &x)) return 1; o.shards = (int)x; }
        else if ((v = opt(argc, argv, &i, "--tie"))) { if (parse_int(v, "--tie", 0, 1, &x)) return 1; o.tie = (int)x; }
        else if ((v = opt(argc, argv, &i, "--head-dim"))) { if (parse_int(v, "--head-dim", 2, 1024, &x)) return 1; o.head_dim = x; }
        else if (strcmp(argv[i], "--old-keys") == 0) o.old_keys = 1;
        else if (strcmp(argv[i], "--config-only") == 0) o.config_only = 1;
        else if (strcmp(argv[i], "--no-tokenizer") == 0) o.tokenizer_text = NULL;
        else if ((v = opt(argc, argv, &i, "--tokenizer-text"))) o.tokenizer_text = v;
        else return die("synth: unknown argument '%s'", argv[i]);
    }
    if (!o.preset || !out) {
        fprintf(stderr, "usage: hetc synth --preset NAME -o DIR [--dtype f32|f16|bf16] [--seed N] [--old-keys] "
                        "[--shards N] [--tie 0|1] [--head-dim N] [--config-only]\n       [--no-tokenizer | --tokenizer-text FILE] "
                        "(a byte-level BPE tokenizer trained on FILE, default calib/default.txt)\npresets:");
        for (const char *const *p = fe_synth_presets(); *p; p++) fprintf(stderr, " %s", *p);
        fputc('\n', stderr);
        return 2;
    }
    char err[FE_ERR_LEN];
    if (fe_synth(out, &o, err, sizeof err)) return die("%s", err);
    return 0;
}

static void usage(void)
{
    fputs("usage: hetc COMMAND ...\n"
          "  synth    --preset NAME -o DIR      write a random-weight model of a real shape\n"
          "  inspect  MODEL [--ir [--format text|json|dot] [--chunk C,..] [--remainder pad|flex]]\n"
          "  compile  MODEL|--preset NAME --target T.xml (-o OUT_DIR | --report report.html) [--ctx N]\n"
          "           [--max-chunk N] [--chunk C[,C2..]]\n"
          "           [--remainder pad|flex] [--threads N] [--no-tokenizer] [--firmware [--work-bytes SIZE]]\n"
          "           [--weight-dtype f32|f16|bf16|q8_0|q4_0|q4_1|q5_0|q5_1|q4_k|q5_k|q6_k]\n"
          "           [--matmul-precision f32|bf16]   (bf16: x rounded to bf16 for bf16 weights)\n"
          "           [--print-after=PASS|all] [--report-json FILE] [--report report.html]\n"
          "           npu targets: [--calib TEXT | --calib-in calib.json] [--calib-window N] [--outlier-t T]\n"
          "           [--outlier-prune F] [--no-outliers] [--npu-decode]\n"
          "           planning: [--partition solve|npu] [--schedule ooo|inorder] [--profile profile.json]\n"
          "  calibrate MODEL -o calib.json [--calib TEXT | --calib-ids FILE] [--calib-window N]   (int8 statistics)\n"
          "  opt      FILE.ir --passes=P,Q [--print-after=PASS|all] [--target T.xml] [--chunk C[,C2..]]\n"
          "           [--remainder pad|flex] [--schedule ooo|inorder] | --list-passes\n"
          "  run      MODEL --ids 1,2,3 [--logits FILE] [--batch N]   (reference interpreter)\n"
          "  partition --target T.xml [--profile P.json] --op linear --n N --k K --s S [--weight-dtype DT]\n"
          "           (the solver's split of one linear between the float unit and the npu, as JSON)\n"
          "  simulate --target T.xml [--profile P.json] MODEL|--preset NAME --prompt-len N [--gen M]\n"
          "           [--weight-dtype DT] [--chunk C,..] [--partition solve|npu] [--schedule ooo|inorder]\n"
          "           [--npu-decode] [--json]   (predicted speed of the compiled schedule)\n"
          "  profile  --target T.xml MODEL|--preset NAME -o profile.json [--weight-dtype DT] [--max-s N]\n"
          "           [--stream-mb MB] [--min-time SEC] [--sweep S1,S2,..]   (measure this machine's units)\n"
          "  tokenize MODEL (TEXT | --file FILE) [--no-special] [--time]   MODEL: HF directory or .gguf\n"
          "  detokenize MODEL ID... [--skip-special]\n",
          stderr);
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage();
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "synth") == 0) return cmd_synth(argc, argv);
    if (strcmp(argv[1], "inspect") == 0) return cmd_inspect(argc, argv);
    if (strcmp(argv[1], "compile") == 0) return cmd_compile(argc, argv);
    if (strcmp(argv[1], "calibrate") == 0) return cmd_calibrate(argc, argv);
    if (strcmp(argv[1], "opt") == 0) return cmd_opt(argc, argv);
    if (strcmp(argv[1], "run") == 0) return cmd_run(argc, argv);
    if (strcmp(argv[1], "partition") == 0) return cmd_partition(argc, argv);
    if (strcmp(argv[1], "simulate") == 0) return cmd_simulate(argc, argv);
    if (strcmp(argv[1], "profile") == 0) return cmd_profile(argc, argv);
    if (strcmp(argv[1], "tokenize") == 0) return cmd_tokenize(argc, argv);
    if (strcmp(argv[1], "detokenize") == 0) return cmd_detokenize(argc, argv);
    usage();
    return die("unknown command '%s'", argv[1]);
}
