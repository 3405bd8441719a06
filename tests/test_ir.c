/* test_ir.c: the IR core: op table, graph building and editing, the text
 * form (exact format, round trip, parser errors, garbage input), the JSON and
 * DOT dumps, and the verifier's messages. Internal-bug aborts are checked in
 * forked children.
 */
#include "testutil.h"

#include <json-c/json.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../ir/ir.h"

enum { H = 64, HEADS = 4, KV = 2, HD = 16, FFN = 128, VOCAB = 256 };

#define IN(...) (int[]){__VA_ARGS__}, (int)(sizeof((int[]){__VA_ARGS__}) / sizeof(int))

static const char *const ODD_NAME = "l0.mlp.silu \"q\";x\\y";

/* ---- graph building helpers ---- */

static int weight(IrGraph *g, const char *tensor, int64_t d0, int64_t d1, IrDtype t, int layer)
{
    int64_t dim[2] = {d0, d1};
    int id = ir_add(g, IR_OP_WEIGHT, 0, NULL, d1 ? 2 : 1, dim, t, layer, tensor);
    ir_set_str(&g->nodes[id], "name", tensor);
    return id;
}

/* A 2-D f32 node. */
static int node2(IrGraph *g, IrOp op, const int *in, int nin, int64_t d0, int64_t d1, int layer,
                 const char *name)
{
    int64_t dim[2] = {d0, d1};
    return ir_add(g, op, nin, in, 2, dim, IR_F32, layer, name);
}

static int find(const IrGraph *g, const char *name)
{
    for (int i = 0; i < g->n; i++)
        if (strcmp(g->nodes[i].name, name) == 0) return i;
    fail_msg("no node '%s'", name);
    return -1;
}

static int build_attention(IrGraph *g, int x)
{
    int wq = weight(g, "model.layers.0.self_attn.q_proj.weight", H, H, IR_F32, 0);
    int bq = weight(g, "model.layers.0.self_attn.q_proj.bias", H, 0, IR_F32, 0);
    int q = node2(g, IR_OP_LINEAR, IN(x, wq, bq), IR_DIM_S, H, 0, "l0.attn.q");
    int wk = weight(g, "model.layers.0.self_attn.k_proj.weight", KV * HD, H, IR_BF16, 0);
    int k = node2(g, IR_OP_LINEAR, IN(x, wk), IR_DIM_S, KV * HD, 0, "l0.attn.k");
    int wv = weight(g, "model.layers.0.self_attn.v_proj.weight", KV * HD, H, IR_F16, 0);
    int v = node2(g, IR_OP_LINEAR, IN(x, wv), IR_DIM_S, KV * HD, 0, "l0.attn.v");
    int64_t half = HD / 2;
    int tab = ir_add(g, IR_OP_ROPE_TABLE, 0, NULL, 1, &half, IR_F32, -1, "rope");
    IrNode *t = &g->nodes[tab];
    ir_set_float(t, "theta", 10000.0);
    ir_set_str(t, "type", "llama3");
    ir_set_float(t, "factor", 8.0);
    ir_set_float(t, "low", 1.0);
    ir_set_float(t, "high", 4.0);
    ir_set_int(t, "orig_ctx", 8192);
    int rq = node2(g, IR_OP_ROPE, IN(q, tab), IR_DIM_S, H, 0, "l0.attn.q_rope");
    ir_set_int(&g->nodes[rq], "heads", HEADS);
    ir_set_int(&g->nodes[rq], "head_dim", HD);
    int rk = node2(g, IR_OP_ROPE, IN(k, tab), IR_DIM_S, KV * HD, 0, "l0.attn.k_rope");
    ir_set_int(&g->nodes[rk], "heads", KV);
    ir_set_int(&g->nodes[rk], "head_dim", HD);
    int a = node2(g, IR_OP_ATTENTION, IN(rq, rk, v), IR_DIM_S, H, 0, "l0.attn");
    IrNode *an = &g->nodes[a];
    ir_set_int(an, "cache", 0);
    ir_set_int(an, "heads", HEADS);
    ir_set_int(an, "kv_heads", KV);
    ir_set_int(an, "head_dim", HD);
    ir_set_float(an, "scale", 0.25);
    ir_set_int(an, "window", 0);
    an->kv_offset = 0;
    int wo = weight(g, "model.layers.0.self_attn.o_proj.weight", H, H, IR_F32, 0);
    return node2(g, IR_OP_LINEAR, IN(a, wo), IR_DIM_S, H, 0, "l0.attn.o");
}

static int build_mlp(IrGraph *g, int x)
{
    int wg = weight(g, "model.layers.0.mlp.gate_proj.weight", FFN, H, IR_F32, 0);
    int gate = node2(g, IR_OP_LINEAR, IN(x, wg), IR_DIM_S, FFN, 0, "l0.mlp.gate");
    int wu = weight(g, "model.layers.0.mlp.up_proj.weight", FFN, H, IR_F32, 0);
    int up = node2(g, IR_OP_LINEAR, IN(x, wu), IR_DIM_S, FFN, 0, "l0.mlp.up");
    int fused = node2(g, IR_OP_SWIGLU, IN(gate, up), IR_DIM_S, FFN, 0, "l0.mlp.swiglu");
    int act = node2(g, IR_OP_SILU, IN(gate), IR_DIM_S, FFN, 0, ODD_NAME);
    int prod = node2(g, IR_OP_MUL, IN(act, up), IR_DIM_S, FFN, 0, "l0.mlp.mul");
    int wd = weight(g, "model.layers.0.mlp.down_proj.weight", H, FFN, IR_F32, 0);
    int d1 = node2(g, IR_OP_LINEAR, IN(fused, wd), IR_DIM_S, H, 0, "l0.mlp.down");
    int d2 = node2(g, IR_OP_LINEAR, IN(prod, wd), IR_DIM_S, H, 0, "l0.mlp.down2");
    return node2(g, IR_OP_ADD, IN(d1, d2), IR_DIM_S, H, 0, "l0.mlp.sum");
}

static int rmsnorm(IrGraph *g, int x, const char *tensor, int layer, const char *name)
{
    int w = weight(g, tensor, H, 0, IR_F32, layer);
    int n = node2(g, IR_OP_RMSNORM, IN(x, w), IR_DIM_S, H, layer, name);
    ir_set_float(&g->nodes[n], "eps", 1e-5);
    return n;
}

/* An int8 linear with a shadow over a channel set (passes quantize and
 * outliers), added to x. */
static int build_int8(IrGraph *g, int x)
{
    int q8 = node2(g, IR_OP_QUANT, IN(x), IR_DIM_S, H, 0, "l0.out.i8");
    g->nodes[q8].dtype = IR_I8;
    ir_set_float(&g->nodes[q8], "scale", 0.05);
    ir_set_str(&g->nodes[q8], "outliers", "shadow");
    int w8 = weight(g, "model.layers.0.self_attn.o_proj.weight", H, H, IR_I8, 0);
    ir_set_float(&g->nodes[w8], "wscale", 0.01);
    int ql = node2(g, IR_OP_QLINEAR, IN(q8, w8), IR_DIM_S, H, 0, "l0.extra");
    ir_set_float(&g->nodes[ql], "scale", 0.0005);
    const int32_t hot[] = {1, 5};
    ir_chans_add(g, "l0.out.in", 2, hot);
    int wc = weight(g, "model.layers.0.self_attn.o_proj.weight", H, 2, IR_F32, 0);
    ir_set_str(&g->nodes[wc], "chans", "l0.out.in");
    int sh = node2(g, IR_OP_SHADOW, IN(x, wc), IR_DIM_S, H, 0, "l0.extra.shadow");
    ir_set_str(&g->nodes[sh], "chans", "l0.out.in");
    ir_set_float(&g->nodes[sh], "scale", 0.05);
    int r = node2(g, IR_OP_ADD, IN(ql, sh), IR_DIM_S, H, 0, "l0.extra.restored");
    return node2(g, IR_OP_ADD, IN(x, r), IR_DIM_S, H, 0, "l0.extra.residual");
}

/* Unit u of g: name, kind, backend, memory space. */
static void set_unit(IrGraph *g, int u, const char *name, const char *kind, const char *backend, const char *mem)
{
    IrUnit *un = &g->units[u];
    memset(un, 0, sizeof *un);
    strcpy(un->name, name);
    strcpy(un->kind, kind);
    strcpy(un->backend, backend);
    strcpy(un->mem, mem);
}

/* One decoder layer using every op, with placement and graph attributes. */
/* An activation split as pass partition writes it: rows 0-1 and 2-3 of x
 * through two linears of the rows 2.. of a tensor, joined (unused). */
static void build_split(IrGraph *g, int x)
{
    int w = weight(g, "split.weight", H, H, IR_F32, 0);
    ir_set_int(&g->nodes[w], "row0", 2);
    int xa = node2(g, IR_OP_ROWS, IN(x), 2, H, 0, "l0.split.x0");
    ir_set_int(&g->nodes[xa], "row0", 0);
    int xb = node2(g, IR_OP_ROWS, IN(x), 2, H, 0, "l0.split.x2");
    ir_set_int(&g->nodes[xb], "row0", 2);
    int ya = node2(g, IR_OP_LINEAR, IN(xa, w), 2, H, 0, "l0.split.npu0");
    g->nodes[ya].unit = 1;
    int yb = node2(g, IR_OP_LINEAR, IN(xb, w), 2, H, 0, "l0.split.cpu0");
    int j = node2(g, IR_OP_JOIN, IN(ya, yb), 4, H, 0, "l0.split");
    ir_set_int(&g->nodes[j], "axis", 0);
    ir_set_str(&g->nodes[j], "part", "activation");
    ir_set_float(&g->nodes[j], "us", 1.5);
}

static void build_model(IrGraph *g)
{
    ir_graph_init(g, "llama-tiny", "llama");
    ir_graph_set_int(g, "hidden", H);
    ir_graph_set_int(g, "heads", HEADS);
    ir_graph_set_float(g, "eps", 1e-5);
    ir_graph_set_float(g, "rope_theta", 500000.0);
    ir_graph_set_float(g, "odd_inf", -INFINITY);
    ir_graph_set_float(g, "odd_nan", NAN);
    snprintf(g->passes, sizeof g->passes, "lower fuse memplan");
    g->nunits = 2;
    set_unit(g, 0, "cpu0", "cpu", "c", "host");
    set_unit(g, 1, "npu0", "npu", "npu-emu", "host");
    ir_unit_set_int(&g->units[0], "threads", 2);
    ir_unit_set_float(&g->units[1], "gops_i8", 1500.0);
    g->narena = 2;
    g->arena[0] = 1 << 20;
    g->arena[1] = 4096;
    g->nkv = 2;
    g->kv[0] = KV * HD;     /* one layer */
    int64_t s = IR_DIM_S;
    int ids = ir_add(g, IR_OP_INPUT, 0, NULL, 1, &s, IR_I32, -1, "ids");
    int tab = weight(g, "model.embed_tokens.weight", VOCAB, H, IR_BF16, -1);
    int x = node2(g, IR_OP_EMBED, IN(ids, tab), IR_DIM_S, H, -1, "embed");
    g->nodes[x].unit = 0;
    g->nodes[x].offset = 0;
    int a = build_attention(g, rmsnorm(g, x, "model.layers.0.input_layernorm.weight", 0, "l0.attn_norm"));
    x = node2(g, IR_OP_ADD, IN(x, a), IR_DIM_S, H, 0, "l0.attn.residual");
    g->nodes[x].unit = 1;
    int m = build_mlp(g, rmsnorm(g, x, "model.layers.0.post_attention_layernorm.weight", 0, "l0.mlp_norm"));
    x = node2(g, IR_OP_ADD, IN(x, m), IR_DIM_S, H, 0, "l0.mlp.residual");
    x = build_int8(g, x);
    build_split(g, x);
    x = rmsnorm(g, x, "model.norm.weight", -1, "norm");
    int last = node2(g, IR_OP_LAST_ROWS, IN(x), IR_DIM_R, H, -1, "last");
    int head = weight(g, "lm_head.weight", VOCAB, H, IR_F32, -1);
    int logits = node2(g, IR_OP_LINEAR, IN(last, head), IR_DIM_R, VOCAB, -1, "lm_head");
    g->nodes[logits].offset = 4096;
    node2(g, IR_OP_OUTPUT, IN(logits), IR_DIM_R, VOCAB, -1, "logits");
    int copy = node2(g, IR_OP_COPY, IN(logits), IR_DIM_R, VOCAB, -1, "logits.to_cpu0");
    g->nodes[copy].unit = 0;
}

/* A few nodes for the small tests: ids, table, embed, silu, output. */
static void build_small(IrGraph *g)
{
    ir_graph_init(g, "small", "llama");
    int64_t s = IR_DIM_S;
    int ids = ir_add(g, IR_OP_INPUT, 0, NULL, 1, &s, IR_I32, -1, "ids");
    int tab = weight(g, "emb", 8, 4, IR_F32, -1);
    int x = node2(g, IR_OP_EMBED, IN(ids, tab), IR_DIM_S, 4, -1, "embed");
    int y = node2(g, IR_OP_SILU, IN(x), IR_DIM_S, 4, 0, "act");
    node2(g, IR_OP_OUTPUT, IN(y), IR_DIM_S, 4, -1, "out");
}

static void assert_verifies(const IrGraph *g)
{
    char err[512] = "";
    int rc = ir_verify(g, err, sizeof err);
    if (rc) fail_msg("verify: %s", err);
}

/* ---- op table, attributes, editing ---- */

static void test_op_table(void **state)
{
    (void)state;
    assert_int_equal(IR_OP_COUNT, 20);
    for (int op = 0; op < IR_OP_COUNT; op++) assert_int_equal(ir_op_from_name(ir_op_name(op)), op);
    assert_string_equal(ir_op_name(IR_OP_LAST_ROWS), "last_rows");
    assert_int_equal(ir_op_ninputs(IR_OP_LINEAR), -1);
    assert_int_equal(ir_op_ninputs(IR_OP_ATTENTION), 3);
    assert_string_equal(ir_op_attrs(IR_OP_RMSNORM), "eps:f");
    assert_true(ir_op_is_view(IR_OP_OUTPUT));
    assert_false(ir_op_is_view(IR_OP_ADD));
    assert_non_null(strstr(ir_op_semantics(IR_OP_SILU), "sigmoid"));
    assert_int_equal(ir_op_from_name("nope"), -1);
    assert_int_equal(ir_op_from_name(NULL), -1);
    const char *names[] = {"f32", "f16", "bf16", "i32", "i8", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_k",
                           "q3_k", "q4_k", "q5_k", "q6_k"};
    const int block[] = {1, 1, 1, 1, 1, 32, 32, 32, 32, 32, 256, 256, 256, 256, 256};
    const int bytes[] = {4, 2, 2, 4, 1, 34, 18, 20, 22, 24, 84, 110, 144, 176, 210};   /* ggml's block sizes */
    assert_int_equal(sizeof names / sizeof names[0], IR_DTYPE_COUNT);
    for (int t = 0; t < IR_DTYPE_COUNT; t++) {
        assert_string_equal(ir_dtype_name(t), names[t]);
        assert_int_equal(ir_dtype_from_name(names[t]), t);
        assert_int_equal(ir_dtype_block(t), block[t]);
        assert_int_equal(ir_dtype_is_block(t), block[t] > 1);
        assert_int_equal(ir_dtype_bytes(t, 4096), 4096 / block[t] * bytes[t]);
        if (block[t] == 1) assert_int_equal(ir_dtype_size(t), bytes[t]);
    }
    assert_int_equal(ir_dtype_from_name("f64"), -1);
}

static void test_attrs(void **state)
{
    (void)state;
    IrGraph g;
    build_small(&g);
    assert_int_equal(g.narena, 0);
    assert_int_equal(g.nodes[2].unit, -1);
    assert_int_equal(g.nodes[2].offset, -1);
    IrNode *n = &g.nodes[3];
    ir_set_int(n, "a", 7);
    ir_set_float(n, "b", 0.5);
    ir_set_str(n, "c", "x");
    ir_set_int(n, "a", 9);
    assert_int_equal(n->nattr, 3);
    assert_string_equal(n->attr[0].key, "a");
    assert_int_equal(ir_attr_int(n, "a"), 9);
    assert_true(ir_attr_float(n, "b") == 0.5);
    assert_string_equal(ir_attr_str(n, "c"), "x");
    ir_set_float(n, "a", 2.5);
    assert_int_equal(n->nattr, 3);
    assert_int_equal(ir_attr(n, "a")->kind, IR_ATTR_FLOAT);
    assert_null(ir_attr(n, "zz"));
    ir_graph_set_int(&g, "hidden", 4);
    ir_graph_set_float(&g, "eps", 1e-6);
    ir_graph_set_int(&g, "hidden", 5);
    assert_int_equal(g.nattr, 2);
    assert_int_equal(ir_graph_int(&g, "hidden", 0), 5);
    assert_int_equal(ir_graph_int(&g, "vocab", 77), 77);
    assert_true(ir_graph_float(&g, "eps", 0) == 1e-6);
    assert_true(ir_graph_float(&g, "theta", 3.0) == 3.0);
    assert_int_equal(ir_numel(&g.nodes[2], 3, 1), 12);
    assert_int_equal(ir_numel(&g.nodes[1], 3, 1), 32);
    IrNode scalar = {.ndim = 0};
    assert_int_equal(ir_numel(&scalar, 3, 1), 1);
    ir_graph_free(&g);
}

static void test_compact_and_replace(void **state)
{
    (void)state;
    IrGraph g;
    build_small(&g);
    /* %5 = silu(%2) duplicates %3; %6 adds them. */
    int dup = node2(&g, IR_OP_SILU, IN(2), IR_DIM_S, 4, 0, "dup");
    int sum = node2(&g, IR_OP_ADD, IN(3, dup), IR_DIM_S, 4, 0, "sum");
    ir_replace_uses(&g, dup, 3);
    assert_int_equal(g.nodes[sum].in[1], 3);
    assert_int_equal(g.nodes[dup].in[0], 2);
    unsigned char keep[] = {1, 1, 1, 1, 1, 0, 1};
    ir_compact(&g, keep);
    assert_int_equal(g.n, 6);
    assert_string_equal(g.nodes[5].name, "sum");
    assert_int_equal(g.nodes[5].id, 5);
    assert_int_equal(g.nodes[5].in[0], 3);
    assert_int_equal(g.nodes[5].in[1], 3);
    unsigned char drop_act[] = {1, 1, 1, 0, 1, 1};
    ir_replace_uses(&g, 3, 2);
    ir_compact(&g, drop_act);
    assert_int_equal(g.n, 5);
    assert_string_equal(g.nodes[3].name, "out");
    assert_int_equal(g.nodes[3].in[0], 2);
    assert_string_equal(g.nodes[4].name, "sum");
    assert_int_equal(g.nodes[4].id, 4);
    assert_int_equal(g.nodes[4].in[0], 2);
    assert_verifies(&g);
    ir_graph_free(&g);
}

static void test_copy(void **state)
{
    (void)state;
    IrGraph g, c;
    build_model(&g);
    ir_graph_copy(&c, &g);
    ir_set_int(&g.nodes[0], "changed", 1);
    char *a = ir_print_str(&c);
    ir_graph_free(&g);
    build_model(&g);
    char *b = ir_print_str(&g);
    assert_string_equal(a, b);
    free(a);
    free(b);
    ir_graph_free(&g);
    ir_graph_free(&c);
    ir_graph_free(&c); /* a freed graph is empty: freeing it again is harmless */
    assert_int_equal(c.n, 0);
}

/* ---- internal-bug aborts ---- */

static void bug_absent_attr(void)
{
    IrGraph g;
    build_small(&g);
    ir_attr_int(&g.nodes[3], "nope");
}

static void bug_wrong_kind(void)
{
    IrGraph g;
    build_small(&g);
    ir_attr_float(&g.nodes[1], "name");
}

static void bug_compact_used(void)
{
    IrGraph g;
    build_small(&g);
    unsigned char keep[] = {1, 1, 0, 1, 1};
    ir_compact(&g, keep);
}

static void bug_too_many_attrs(void)
{
    IrGraph g;
    build_small(&g);
    for (int i = 0; i <= IR_MAX_ATTRS; i++) ir_set_int(&g.nodes[3], tu_fmt("k%d", i), i);
}

/* Runs fn in a child; it must abort with "FILE:LINE: internal error: " and want. */
static void expect_bug(void (*fn)(void), const char *want)
{
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fd[1], 2);
        fn();
        _exit(0);
    }
    close(fd[1]);
    char buf[1024];
    size_t len = 0;
    ssize_t got;
    while ((got = read(fd[0], buf + len, sizeof buf - 1 - len)) > 0) len += (size_t)got;
    close(fd[0]);
    buf[len] = 0;
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    assert_non_null(strstr(buf, "ir_graph.c:"));
    assert_non_null(strstr(buf, ": internal error: "));
    if (!strstr(buf, want)) fail_msg("'%s' does not contain '%s'", buf, want);
}

static void test_bugs_abort(void **state)
{
    (void)state;
    expect_bug(bug_absent_attr, "node %3 (act) has no attribute 'nope'");
    expect_bug(bug_wrong_kind, "attribute 'name' is not float");
    expect_bug(bug_compact_used, "node %3 (act) uses removed node %2");
    expect_bug(bug_too_many_attrs, tu_fmt("more than %d attributes", IR_MAX_ATTRS));
}

/* ---- text form ---- */

static const char SMALL_TEXT[] =
    "hetc-ir 2\n"
    "graph \"small\" arch=\"llama\"\n"
    "attr hidden=4 eps=1e-05 theta=10000.0 kind=\"a \\\"b\\\" \\\\c\"\n"
    "passes lower fuse dce memplan\n"
    "unit cpu0 kind=cpu backend=c mem=host\n"
    "unit npu kind=npu backend=npu-emu mem=npu\n"
    "arena 128 0\n"
    "kv 0 0\n"
    "ws 0 0\n"
    "%0 = input() : [S] i32 @-1 \"ids\"\n"
    "%1 = weight() name=\"emb\" : [8,4] f32 @-1 \"emb\"\n"
    "%2 = embed(%0, %1) : [S,4] f32 @-1 \"embed\" unit=npu offset=0\n"
    "%3 = silu(%2) : [S,4] f32 @0 \"act\" offset=64\n"
    "%4 = output(%3) : [S,4] f32 @-1 \"out\" unit=cpu0\n";

static void test_print_exact(void **state)
{
    (void)state;
    IrGraph g;
    build_small(&g);
    ir_graph_set_int(&g, "hidden", 4);
    ir_graph_set_float(&g, "eps", 1e-5);
    ir_graph_set_float(&g, "theta", 10000.0);
    g.nattr++; /* string graph attributes have no setter; the text form has them */
    strcpy(g.attr[3].key, "kind");
    g.attr[3].kind = IR_ATTR_STR;
    strcpy(g.attr[3].s, "a \"b\" \\c");
    snprintf(g.passes, sizeof g.passes, "lower fuse dce memplan");
    g.nunits = 2;
    set_unit(&g, 0, "cpu0", "cpu", "c", "host");
    set_unit(&g, 1, "npu", "npu", "npu-emu", "npu");
    g.narena = 2;
    g.arena[0] = 128;
    g.nkv = 2;
    g.nodes[2].unit = 1;
    g.nodes[2].offset = 0;
    g.nodes[3].offset = 64;
    g.nodes[4].unit = 0;
    assert_verifies(&g);
    char *text = ir_print_str(&g);
    assert_string_equal(text, SMALL_TEXT);
    free(text);
    ir_graph_free(&g);
}

static void test_print_minimal(void **state)
{
    (void)state;
    IrGraph g;
    ir_graph_init(&g, "m", "a");
    int64_t dims[] = {1, 2, 3, 4};
    int w = ir_add(&g, IR_OP_WEIGHT, 0, NULL, 4, dims, IR_F16, 2, "w");
    ir_set_str(&g.nodes[w], "name", "t");
    ir_set_float(&g.nodes[w], "f", 3.0);
    ir_set_float(&g.nodes[w], "g", -0.0);
    ir_set_float(&g.nodes[w], "h", 1e30);
    ir_set_int(&g.nodes[w], "i", -5);
    char *text = ir_print_str(&g);
    assert_string_equal(text, "hetc-ir 2\ngraph \"m\" arch=\"a\"\n"
                              "%0 = weight() name=\"t\" f=3.0 g=-0.0 h=1e+30 i=-5 : [1,2,3,4] f16 @2 \"w\"\n");
    free(text);
    ir_graph_free(&g);
}

/* print(parse(text)) must be text; returns the parsed graph in g. */
static void assert_round_trip(IrGraph *g, const char *text)
{
    char err[512] = "";
    if (ir_parse(g, text, "rt.ir", err, sizeof err) != 0) fail_msg("parse: %s", err);
    char *again = ir_print_str(g);
    assert_string_equal(again, text);
    free(again);
}

static void test_round_trip(void **state)
{
    (void)state;
    IrGraph g, back;
    build_model(&g);
    assert_verifies(&g);
    char *text = ir_print_str(&g);
    assert_round_trip(&back, text);
    assert_int_equal(back.n, g.n);
    for (int i = 0; i < g.n; i++) {
        const IrNode *a = &g.nodes[i], *b = &back.nodes[i];
        assert_int_equal(a->op, b->op);
        assert_memory_equal(a->in, b->in, sizeof a->in);
        assert_memory_equal(a->dim, b->dim, sizeof a->dim);
        assert_string_equal(a->name, b->name);
        assert_int_equal(a->unit, b->unit);
        assert_int_equal(a->offset, b->offset);
    }
    assert_string_equal(back.nodes[find(&back, ODD_NAME)].name, ODD_NAME);
    assert_true(ir_attr_float(&back.nodes[find(&back, "l0.attn_norm")], "eps") == 1e-5);
    assert_true(isnan(ir_graph_float(&back, "odd_nan", 0)));
    assert_true(ir_graph_float(&back, "odd_inf", 0) == -INFINITY);
    assert_string_equal(back.passes, "lower fuse memplan");
    assert_int_equal(back.narena, 2);
    assert_int_equal(back.arena[0], 1 << 20);
    assert_int_equal(back.arena[1], 4096);
    assert_string_equal(back.units[1].name, "npu0");
    assert_string_equal(back.units[1].backend, "npu-emu");
    assert_true(ir_unit_float(&back.units[1], "gops_i8", 0) == 1500.0);
    assert_int_equal(ir_unit_int(&back.units[0], "threads", -1), 2);
    for (int op = 0; op < IR_OP_COUNT; op++)
        if (!strstr(text, tu_fmt(" = %s(", ir_op_name(op)))) fail_msg("no %s in the graph", ir_op_name(op));
    free(text);
    ir_graph_free(&g);
    ir_graph_free(&back);
}

static void test_parse_comments(void **state)
{
    (void)state;
    const char *text =
        "; a comment first\n\n"
        "  hetc-ir   2 ; version\n"
        "graph \"small\"   arch=\"llama\"\r\n"
        "\t\n"
        "unit cpu0  kind=cpu backend=c   mem=host ; the only one\n"
        "%0 = input() : [S] i32 @-1 \"ids;not a comment\"\n"
        "%1 = weight() name=\"emb\" : [ 8 , 4 ] f32 @-1 \"emb\"   ; trailing\n"
        "%2 = embed(%0,%1) : [S,4] f32 @-1 \"embed\" unit=cpu0\n"
        "; last line without newline";
    IrGraph g;
    char err[512] = "";
    if (ir_parse(&g, text, "c.ir", err, sizeof err) != 0) fail_msg("parse: %s", err);
    assert_int_equal(g.n, 3);
    assert_string_equal(g.nodes[0].name, "ids;not a comment");
    assert_int_equal(g.nodes[2].unit, 0);
    char *canon = ir_print_str(&g);
    ir_graph_free(&g);
    assert_round_trip(&g, canon);
    free(canon);
    ir_graph_free(&g);
}

typedef struct {
    const char *text;       /* input after the header when 'header' */
    int header;             /* 1: prefixed with the two header lines */
    const char *want;       /* exact start of the message */
} BadCase;

#define U(name) "unit " #name " kind=cpu backend=c mem=" #name "\n"
#define HDR "hetc-ir 2\ngraph \"m\" arch=\"llama\"\n"
#define IDS "%0 = input() : [S] i32 @-1 \"ids\"\n"

static const BadCase bad_cases[] = {
    {"", 0, "t.ir:1: error: missing header 'hetc-ir 2'"},
    {"\n\n; only a comment\n", 0, "t.ir:3: error: missing header 'hetc-ir 2'"},
    {"garbage here\n", 0, "t.ir:1: error: missing header 'hetc-ir 2'"},
    {"\x01\x02\xff\n", 0, "t.ir:1: error: missing header 'hetc-ir 2'"},
    {"hetc-ir 1\n", 0, "t.ir:1: error: unsupported version 1"},
    {"hetc-ir 2 extra\n", 0, "t.ir:1: error: unexpected 'extra' at end of line"},
    {"hetc-ir 2\n", 0, "t.ir:1: error: missing 'graph' line"},
    {"hetc-ir 2\nnodes\n", 0, "t.ir:2: error: missing 'graph' line"},
    {"hetc-ir 2\ngraph \"m arch=\"x\"\n", 0, "t.ir:2: error: expected 'arch=' after the model name"},
    {"hetc-ir 2\ngraph \"m\" arch=\"x\n", 0, "t.ir:2: error: unterminated string"},
    {"%0 = foo() : [S] i32 @-1 \"x\"\n", 1, "t.ir:3: error: unknown op 'foo'"},
    {"%0 = silu(%7) : [S,4] f32 @-1 \"x\"\n", 1, "t.ir:3: error: operand %7 not defined before use"},
    {IDS "%1 = silu(%-1) : [S,4] f32 @-1 \"x\"\n", 1, "t.ir:4: error: operand %-1 not defined before use"},
    {"%0 = input() : [S", 1, "t.ir:3: error: expected ']', found end of line"},
    {"%0 = input(", 1, "t.ir:3: error: expected '%', found end of line"},
    {"%0 =", 1, "t.ir:3: error: expected op name, found end of line"},
    {"%0 = input() [S] i32 @-1 \"x\"\n", 1, "t.ir:3: error: expected ':', found '[S]'"},
    {"%0 = input() : [S] f64 @-1 \"x\"\n", 1, "t.ir:3: error: bad dtype 'f64'"},
    {"%0 = input() : [0] i32 @-1 \"x\"\n", 1, "t.ir:3: error: bad dimension 0"},
    {"%0 = input() : [Q] i32 @-1 \"x\"\n", 1, "t.ir:3: error: bad dimension 'Q]'"},
    {"%0 = input() : [S,1,1,1,1] i32 @-1 \"x\"\n", 1, "t.ir:3: error: more than 4 dimensions"},
    {"%0 = input() : [S] i32 @-1 \"ids\n", 1, "t.ir:3: error: unterminated string"},
    {"%0 = input() : [S] i32 @-1 \"a\\qb\"\n", 1, "t.ir:3: error: bad escape '\\q' in string"},
    {"%0 = input() : [S] i32 @-1 ids\n", 1, "t.ir:3: error: expected node name in double quotes, found 'ids'"},
    {IDS IDS, 1, "t.ir:4: error: duplicate node id %0"},
    {"%1 = input() : [S] i32 @-1 \"x\"\n", 1, "t.ir:3: error: node ids not consecutive from 0: expected %0, found %1"},
    {"%99999999999999999999 = input()\n", 1, "t.ir:3: error: node id 99999999999999999999 out of range"},
    {"%0 = input() : [99999999999999999999] i32 @-1 \"x\"\n", 1, "t.ir:3: error: dimension 99999999999999999999 out of range"},
    {"%0 = weight() name=abc : [4] f32 @-1 \"w\"\n", 1, "t.ir:3: error: attribute 'name' value malformed: 'abc'"},
    {"%0 = weight() x=1.5.2 : [4] f32 @-1 \"w\"\n", 1, "t.ir:3: error: attribute 'x' value malformed: '1.5.2'"},
    {"%0 = weight() x=99999999999999999999 : [4] f32 @-1 \"w\"\n", 1, "t.ir:3: error: attribute 'x' value 99999999999999999999 out of range"},
    {"%0 = weight() name=\"a\" name=\"b\" : [4] f32 @-1 \"w\"\n", 1, "t.ir:3: error: duplicate attribute 'name'"},
    {"%0 = input() : [S] i32 @-1 \"x\" bogus\n", 1, "t.ir:3: error: unexpected 'bogus' after the node name"},
    {U(a) "%0 = input() : [S] i32 @-1 \"x\" unit=a unit=a\n", 1, "t.ir:4: error: unexpected or repeated 'unit='"},
    {IDS "frobnicate 3\n", 1, "t.ir:4: error: expected a node or a directive, found 'frobnicate'"},
    {U(a) U(b) U(c) U(d) U(e) U(f) U(g) U(h) U(i), 1, "t.ir:11: error: more than 8 units"},
    {"unit abcdefghijklmnopq kind=cpu\n", 1, "t.ir:3: error: unit name longer than 15 bytes"},
    {"unit a backend=c kind=cpu mem=host\n", 1, "t.ir:3: error: expected 'kind=' in the unit line, found 'backend=c'"},
    {"unit a kind=cpu backend=c mem=host wg=\n", 1, "t.ir:3: error: attribute 'wg' value malformed: end of line"},
    {IDS U(a), 1, "t.ir:4: error: unit lines must come before the nodes"},
    {U(a) "%0 = input() : [S] i32 @-1 \"x\" unit=b\n", 1, "t.ir:4: error: unknown unit 'b' (no 'unit b' line)"},
    {"passes lower \"x\"\n", 1, "t.ir:3: error: bad pass name"},
    {"arena -4\n", 1, "t.ir:3: error: arena size -4 out of range"},
    {"attr big=1e999\n", 1, "t.ir:3: error: attribute 'big' value 1e999 out of range"},
    {"attr k=\n", 1, "t.ir:3: error: attribute 'k' value malformed: end of line"},
    {"attr =3\n", 1, "t.ir:3: error: expected attribute name, found '=3'"},
    {IDS "%1 = silu(%0, %0) : [S] f32 @-1 \"s\"\n", 1, "t.ir:4: error: node %1 (s): silu: expects 1 operand, has 2"},
    {"%0 = input() : [S] i32 @-1 \"x\" unit=1\n", 1, "t.ir:3: error: unknown unit '1' (no 'unit 1' line)"},
    {"plan p kind=chunk s=8 inflight=3\n", 1, "t.ir:3: error: chunks in flight 3 out of range"},
    {"plan p kind=chunk s=8 colour=1\n", 1, "t.ir:3: error: expected 'inflight=' or the end of the plan line, found 'colour=1'"},
};

/* Graphs that parse but do not verify, each at the line of the fault: the
 * facts the passes a graph claims promise (a pass never sees a graph that
 * lacks them), group ids, max_chunk. */
static const BadCase invalid_cases[] = {
    {"passes lower place\n" U(cpu0) IDS, 1, "t.ir:5: error: node %0 (ids): input: no unit, but pass 'place' has run"},
    {"passes lower place\n" IDS, 1, "t.ir:3: error: graph: no units, but pass 'place' has run"},
    {"passes lower place transfers group\n" U(cpu0) "%0 = input() group=7 : [S] i32 @-1 \"ids\" unit=cpu0\n", 1,
     "t.ir:5: error: node %0 (ids): input: group 7 is not a node from %0 to %0"},
    {"passes lower\n%0 = input() group=0 : [S] i32 @-1 \"ids\"\n", 1,
     "t.ir:4: error: node %0 (ids): input: attribute 'group', but pass 'group' has not run"},
    {"passes group\n%0 = input() group=\"0\" : [S] i32 @-1 \"ids\"\n", 1,
     "t.ir:4: error: node %0 (ids): input: attribute 'group' is string, expected int"},
    {"passes group\n%0 = input() role=\"norm\" : [S] i32 @-1 \"ids\"\n", 1,
     "t.ir:4: error: node %0 (ids): input: attributes 'group' and 'role' come together"},
    {"passes group\n%0 = input() group=0 role=\"q\" : [S] i32 @-1 \"ids\"\n", 1,
     "t.ir:4: error: node %0 (ids): input: role 'q' is for linear nodes"},
    {"passes group\n%0 = input() group=0 role=\"fast\" : [S] i32 @-1 \"ids\"\n", 1,
     "t.ir:4: error: node %0 (ids): input: role 'fast' is not a role of pass group"},
    {"passes group\n%0 = weight() name=\"w\" : [4,4] f32 @-1 \"w\"\n%1 = weight() name=\"x\" : [2,4] f32 @-1 \"x\"\n"
     "%2 = linear(%1, %0) group=2 role=\"q\" : [2,4] f32 @-1 \"l\"\n", 1,
     "t.ir:6: error: node %2 (l): linear: role 'q' is a member's, but this node is the anchor"},
    {"passes group\n%0 = input() group=1 : [S] i32 @-1 \"ids\"\n%1 = weight() name=\"w\" : [4] f32 @-1 \"w\"\n", 1,
     "t.ir:4: error: node %0 (ids): input: group 1: node %1 is not in its own group"},
    {"passes group\n" U(a) U(b) "%0 = input() group=1 : [S] i32 @-1 \"ids\" unit=a\n"
     "%1 = weight() name=\"w\" group=1 : [4] f32 @-1 \"w\" unit=b\n", 1,
     "t.ir:6: error: node %0 (ids): input: group 1 is on unit 1, this node on unit 0"},
    {"passes lower place transfers\n" U(cpu0) U(gpu0) "%0 = input() : [S] i32 @-1 \"ids\" unit=cpu0\n"
     "%1 = weight() name=\"e\" : [8,4] f32 @-1 \"e\" unit=cpu0\n%2 = embed(%0, %1) : [S,4] f32 @-1 \"embed\" unit=gpu0\n", 1,
     "t.ir:8: error: node %2 (embed): embed: operand %0 is in another memory space than this node, but pass 'transfers' has run"},
    {"attr hidden=4 max_chunk=1.5\n", 1, "t.ir:3: error: graph: attribute 'max_chunk' must be an int in 1..65536"},
    {"passes lower\nattr max_chunk=0\n", 1, "t.ir:4: error: graph: attribute 'max_chunk' must be an int in 1..65536"},
    {"attr max_chunk=65536\n%0 = weight() name=\"w\" : [S,S,S,S] f32 @-1 \"w\"\n", 1,
     "t.ir:4: error: node %0 (w): weight: shape [S,S,S,S] is too large"},
    {U(cpu0) "arena 64\n", 1, "t.ir:4: error: graph: arena sizes, but pass 'memplan' has not run"},
    {"passes memplan\n" U(cpu0), 1, "t.ir:3: error: graph: 0 arena sizes for 1 units"},
    {"passes memplan\n" U(a) "arena 64\n", 1, "t.ir:5: error: graph: 0 KV sizes for 1 arena sizes"},
    {"passes memplan\n" U(a) "arena 64\nkv 8\n", 1, "t.ir:6: error: graph: 0 workspace sizes for 1 KV sizes"},
    {"passes memplan\n" U(a) "arena 64\nkv 8\nws 0\n%0 = input() : [S] i32 @-1 \"x\" unit=a kv_offset=0\n", 1,
     "t.ir:8: error: node %0 (x): input: a KV offset, but it is no attention"},
    {"passes memplan\n" U(a) U(b) "arena 64\n", 1, "t.ir:6: error: graph: 1 arena sizes for 2 units"},
    {"%0 = input() : [S] i32 @-1 \"x\" offset=0\n", 1,
     "t.ir:3: error: node %0 (x): input: offset, but pass 'memplan' has not run"},
    {"%0 = input() foo=1 : [S] i32 @-1 \"x\"\n", 1, "t.ir:3: error: node %0 (x): input: unknown attribute 'foo'"},
    {"passes lower\n%0 = input() score=2.5 : [S] i32 @-1 \"ids\"\n", 1,
     "t.ir:4: error: node %0 (ids): input: attribute 'score', but pass 'schedule' has not run"},
    {"passes schedule\n%0 = input() score=-1.0 : [S] i32 @-1 \"ids\"\n", 1,
     "t.ir:4: error: node %0 (ids): input: attribute 'score' is not a positive float"},
    {"passes schedule\n%0 = input() score=2.5 : [S] i32 @-1 \"ids\"\n", 1,
     "t.ir:4: error: node %0 (ids): input: attribute 'score' on a node that does not begin a subgraph"},
    {"passes lower chunk schedule\nplan d kind=decode s=1..8 inflight=2\n", 1,
     "t.ir:4: error: graph: plan 'd': 2 chunks in flight (2 only on a chunk plan, else 1)"},
    {"passes lower chunk\nplan p kind=chunk s=8 inflight=2\n", 1,
     "t.ir:4: error: graph: plan 'p': chunks in flight, but pass 'schedule' has not run"},
    {U(a) U(a), 1, "t.ir:3: error: graph: unit name 'a' is used twice"},
    {"unit 9a kind=cpu backend=c mem=host\n", 1, "t.ir:3: error: graph: unit 0 name '9a' is not a C identifier"},
    {"unit a kind=dsp backend=c mem=host\n", 1, "t.ir:3: error: graph: unit 'a': kind 'dsp' is not cpu, gpu or npu"},
    {"unit a kind=cpu backend=c mem=host colour=1\n", 1, "t.ir:3: error: graph: unit 'a': unknown attribute 'colour'"},
};

static void test_parse_invalid(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof invalid_cases / sizeof invalid_cases[0]; i++) {
        const BadCase *c = &invalid_cases[i];
        IrGraph g;
        char err[512] = "";
        int rc = ir_parse(&g, tu_fmt("%s%s", HDR, c->text), "t.ir", err, sizeof err);
        if (rc != -1 || strcmp(err, c->want) != 0)
            fail_msg("case %zu: rc %d, message '%s', wanted '%s'", i, rc, err, c->want);
    }
}

static void test_parse_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const BadCase *c = &bad_cases[i];
        const char *text = c->header ? tu_fmt("%s%s", HDR, c->text) : c->text;
        IrGraph g;
        char err[512] = "";
        int rc = ir_parse(&g, text, "t.ir", err, sizeof err);
        if (rc != -1 || strncmp(err, c->want, strlen(c->want)) != 0)
            fail_msg("case %zu: rc %d, message '%s', wanted '%s'", i, rc, err, c->want);
        assert_int_equal(g.n, 0);
        assert_null(g.nodes);
    }
    IrGraph g;
    char tiny[8];
    assert_int_equal(ir_parse(&g, "bad", NULL, tiny, sizeof tiny), -1);
    assert_string_equal(tiny, "<input>");
    assert_int_equal(ir_parse(&g, NULL, "x", NULL, 0), -1);
}

/* Parses text; if accepted, its printed form must round-trip. */
static void parse_anything(const char *text)
{
    IrGraph g;
    char err[512] = "";
    if (ir_parse(&g, text, "fuzz.ir", err, sizeof err) != 0) {
        if (strncmp(err, "fuzz.ir", 7) != 0) fail_msg("bad message '%s'", err);
        return;
    }
    char *once = ir_print_str(&g);
    ir_graph_free(&g);
    assert_round_trip(&g, once);
    free(once);
    ir_graph_free(&g);
}

static void test_parse_garbage(void **state)
{
    (void)state;
    IrGraph g;
    build_model(&g);
    char *text = ir_print_str(&g);
    ir_graph_free(&g);
    size_t len = strlen(text);
    char *buf = malloc(len + 1);
    for (size_t cut = 0; cut <= len; cut++) {
        memcpy(buf, text, cut);
        buf[cut] = 0;
        parse_anything(buf);
    }
    static const char pool[] = "%\"\\;[]():,=@-+.0123456789eSRx \t\r\nz\x80";
    uint64_t seed = 12345;
    for (int round = 0; round < 3000; round++) {
        memcpy(buf, text, len + 1);
        for (int k = 0; k < 1 + round % 3; k++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            size_t at = (size_t)(seed >> 33) % len;
            int pick = (int)((seed >> 20) % (sizeof pool - 1 + 8));
            buf[at] = pick < (int)sizeof pool - 1 ? pool[pick] : (char)(1 + (seed >> 8) % 255);
        }
        parse_anything(buf);
    }
    free(buf);
    free(text);
}

/* ---- dumps ---- */

static char *dump(void (*fn)(FILE *, const IrGraph *), const IrGraph *g)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    fn(f, g);
    fclose(f);
    return buf;
}

static json_object *get(json_object *o, const char *key)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(o, key, &v)) fail_msg("no key '%s'", key);
    return v;
}

static void test_json(void **state)
{
    (void)state;
    IrGraph g;
    build_model(&g);
    char *text = dump(ir_dump_json, &g);
    json_object *root = json_tokener_parse(text);
    if (!root) fail_msg("invalid JSON:\n%s", text);
    assert_int_equal(json_object_get_int(get(root, "version")), 2);
    json_object *npu = json_object_array_get_idx(get(root, "units"), 1);
    assert_string_equal(json_object_get_string(get(npu, "name")), "npu0");
    assert_string_equal(json_object_get_string(get(npu, "backend")), "npu-emu");
    assert_string_equal(json_object_get_string(get(npu, "mem")), "host");
    assert_string_equal(json_object_get_string(get(root, "model")), "llama-tiny");
    assert_string_equal(json_object_get_string(get(root, "arch")), "llama");
    json_object *attrs = get(root, "attrs");
    assert_int_equal(json_object_get_int(get(attrs, "hidden")), H);
    assert_true(json_object_is_type(get(attrs, "eps"), json_type_double));
    assert_true(json_object_is_type(get(attrs, "rope_theta"), json_type_double));
    assert_true(json_object_is_type(get(attrs, "odd_nan"), json_type_null));
    assert_int_equal(json_object_array_length(get(root, "units")), 2);
    assert_int_equal(json_object_get_int64(json_object_array_get_idx(get(root, "arena"), 0)), 1 << 20);
    json_object *nodes = get(root, "nodes");
    assert_int_equal((int)json_object_array_length(nodes), g.n);
    json_object *embed = json_object_array_get_idx(nodes, 2);
    assert_int_equal(json_object_get_int(get(embed, "id")), 2);
    assert_string_equal(json_object_get_string(get(embed, "op")), "embed");
    assert_int_equal(json_object_get_int(json_object_array_get_idx(get(embed, "inputs"), 1)), 1);
    json_object *shape = get(embed, "shape");
    assert_string_equal(json_object_get_string(json_object_array_get_idx(shape, 0)), "S");
    assert_int_equal(json_object_get_int(json_object_array_get_idx(shape, 1)), H);
    assert_string_equal(json_object_get_string(get(embed, "dtype")), "f32");
    assert_int_equal(json_object_get_int(get(embed, "layer")), -1);
    assert_int_equal(json_object_get_int(get(embed, "unit")), 0);
    assert_int_equal(json_object_get_int(get(embed, "offset")), 0);
    json_object *odd = json_object_array_get_idx(nodes, find(&g, ODD_NAME));
    assert_string_equal(json_object_get_string(get(odd, "name")), ODD_NAME);
    json_object *w = json_object_array_get_idx(nodes, 1);
    assert_string_equal(json_object_get_string(get(get(w, "attrs"), "name")), "model.embed_tokens.weight");
    assert_string_equal(json_object_get_string(get(w, "dtype")), "bf16");
    json_object_put(root);
    free(text);
    ir_graph_free(&g);
}

static void test_dot(void **state)
{
    (void)state;
    IrGraph g;
    build_model(&g);
    char *text = dump(ir_dump_dot, &g);
    assert_true(strncmp(text, "digraph \"llama-tiny\" {", 22) == 0);
    assert_non_null(strstr(text, "subgraph cluster_L0 {"));
    assert_null(strstr(text, "cluster_L-1"));
    assert_non_null(strstr(text, "n0 -> n2;"));
    assert_non_null(strstr(text, "n1 -> n2;"));
    assert_non_null(strstr(text, "n1 [label=\"%1 weight\\nmodel.embed_tokens.weight\\n[256,64] bf16\", shape=ellipse];"));
    assert_non_null(strstr(text, "n2 [label=\"%2 embed\\nembed\\n[S,64] f32\"];"));
    assert_non_null(strstr(text, "silu\\nl0.mlp.silu \\\"q\\\";x\\\\y\\n"));
    const char *cluster = strstr(text, "cluster_L0");
    assert_true(strstr(text, "label=\"%4 rmsnorm") > cluster);
    assert_true(text[strlen(text) - 2] == '}');
    free(text);
    ir_graph_free(&g);
}

/* ---- verifier ---- */

/* Applies edit to a fresh model; verify must fail with exactly want. */
static void expect_verify(void (*edit)(IrGraph *), const char *want)
{
    IrGraph g;
    build_model(&g);
    edit(&g);
    char err[512] = "";
    assert_int_equal(ir_verify(&g, err, sizeof err), -1);
    assert_string_equal(err, want);
    ir_graph_free(&g);
}

static void drop_operand(IrGraph *g) { g->nodes[find(g, "l0.attn.q")].nin = 1; }
static void narrow_weight(IrGraph *g) { g->nodes[find(g, "model.layers.0.self_attn.k_proj.weight")].dim[1] = 32; }
static void drop_eps(IrGraph *g) { g->nodes[find(g, "l0.attn_norm")].nattr = 0; }
static void int_eps(IrGraph *g) { ir_set_int(&g->nodes[find(g, "l0.attn_norm")], "eps", 1); }
static void bad_gqa(IrGraph *g) { ir_set_int(&g->nodes[find(g, "l0.attn")], "kv_heads", 3); }
static void half_embed(IrGraph *g) { g->nodes[find(g, "embed")].dtype = IR_F16; }
static void self_use(IrGraph *g) { g->nodes[find(g, "l0.mlp.sum")].in[1] = find(g, "l0.mlp.sum"); }
static void far_unit(IrGraph *g) { g->nodes[find(g, "embed")].unit = 2; }
static void rank5(IrGraph *g) { g->nodes[find(g, "embed")].ndim = 5; }
static void zero_dim(IrGraph *g) { g->nodes[find(g, "model.norm.weight")].dim[0] = 0; }
static void short_table(IrGraph *g) { g->nodes[find(g, "rope")].dim[0] = 4; }
static void wrong_id(IrGraph *g) { g->nodes[3].id = 7; }
static void bias_mismatch(IrGraph *g) { g->nodes[find(g, "model.layers.0.self_attn.q_proj.bias")].dim[0] = 32; }
static void mixed_add(IrGraph *g) { g->nodes[find(g, "l0.mlp.down2")].dim[1] = 32; }
static void full_rows(IrGraph *g) { g->nodes[find(g, "last")].dim[0] = IR_DIM_S; }
static void ids_float(IrGraph *g) { g->nodes[0].dtype = IR_F32; }
static void int8_weight(IrGraph *g) { g->nodes[1].dtype = IR_I8; }
static void spaced_unit(IrGraph *g) { strcpy(g->units[1].name, "npu 0"); }
static void odd_unit_attr(IrGraph *g) { ir_unit_set_int(&g->units[1], "gflops", 3); }
static void short_join(IrGraph *g) { g->nodes[find(g, "l0.split")].dim[0] = 3; }
static void join_axis(IrGraph *g) { ir_set_int(&g->nodes[find(g, "l0.split")], "axis", 2); }
static void same_parts(IrGraph *g)
{
    IrNode *j = &g->nodes[find(g, "l0.split")];
    j->in[1] = j->in[0];
}
static void rows_past(IrGraph *g) { ir_set_int(&g->nodes[find(g, "l0.split.x2")], "row0", -1); }
/* a join's part that another node reads too */
static void shared_part(IrGraph *g)
{
    g->nodes[find(g, "l0.split.cpu0")].in[0] = find(g, "l0.split.npu0");
}

static void test_verify_errors(void **state)
{
    (void)state;
    IrGraph g;
    build_model(&g);
    int q = find(&g, "l0.attn.q"), k = find(&g, "l0.attn.k"), norm = find(&g, "l0.attn_norm");
    int att = find(&g, "l0.attn"), sum = find(&g, "l0.mlp.sum"), down2 = find(&g, "l0.mlp.down2");
    int qrope = find(&g, "l0.attn.q_rope"), last = find(&g, "last");
    int wnorm = find(&g, "model.norm.weight");
    ir_graph_free(&g);
    IrGraph g2, g2b;
    build_model(&g2);
    build_model(&g2b);
    expect_verify(drop_operand, tu_fmt("node %%%d (l0.attn.q): linear: expects 2 or 3 operands, has 1", q));
    expect_verify(narrow_weight, tu_fmt("node %%%d (l0.attn.k): linear: weight is [32,32] but input has 64 columns", k));
    expect_verify(drop_eps, tu_fmt("node %%%d (l0.attn_norm): rmsnorm: missing attribute 'eps' (float)", norm));
    expect_verify(int_eps, tu_fmt("node %%%d (l0.attn_norm): rmsnorm: attribute 'eps' is int, expected float", norm));
    expect_verify(bad_gqa, tu_fmt("node %%%d (l0.attn): attention: heads 4 is not a multiple of kv_heads 3", att));
    expect_verify(half_embed, "node %2 (embed): embed: dtype is f16, expected f32");
    expect_verify(self_use, tu_fmt("node %%%d (l0.mlp.sum): add: operand %%%d is not defined before use", sum, sum));
    expect_verify(far_unit, "node %2 (embed): embed: unit 2 out of range (the graph has 2 units)");
    expect_verify(rank5, "node %2 (embed): embed: rank 5 is not in 0..4");
    expect_verify(zero_dim, tu_fmt("node %%%d (model.norm.weight): weight: dimension 0 is 0", wnorm));
    expect_verify(short_table, tu_fmt("node %%%d (l0.attn.q_rope): rope: table is [4] but head_dim/2 is 8", qrope));
    expect_verify(wrong_id, "node %3 (model.layers.0.input_layernorm.weight): weight: id is 7 but the node is at index 3");
    expect_verify(bias_mismatch, tu_fmt("node %%%d (l0.attn.q): linear: bias is [32] but weight has 64 rows", q));
    expect_verify(mixed_add, tu_fmt("node %%%d (l0.mlp.down2): linear: result is [S,32], expected [S,64]", down2));
    expect_verify(full_rows, tu_fmt("node %%%d (last): last_rows: result is [S,64], expected [R,64]", last));
    expect_verify(ids_float, "node %0 (ids): input: dtype is f32, expected i32");
    expect_verify(int8_weight, "node %1 (model.embed_tokens.weight): weight: dtype is i8, expected f32, f16, bf16, a block type (q8_0, q4_0, ...) or i8 with 'wscale'");
    expect_verify(spaced_unit, "graph: unit 1 name 'npu 0' is not a C identifier");
    expect_verify(odd_unit_attr, "graph: unit 'npu0': attribute 'gflops' is int, expected float");
    int join = find(&g2, "l0.split"), xb = find(&g2, "l0.split.x2"), ya = find(&g2, "l0.split.npu0");
    ir_graph_free(&g2);
    expect_verify(short_join, tu_fmt("node %%%d (l0.split): join: result is [3,64], expected [4,64]", join));
    expect_verify(join_axis, tu_fmt("node %%%d (l0.split): join: attribute 'axis' must be 0 or 1, is 2", join));
    expect_verify(same_parts, tu_fmt("node %%%d (l0.split): join: operands %%%d and %%%d are one node", join, ya, ya));
    expect_verify(rows_past, tu_fmt("node %%%d (l0.split.x2): rows: attribute 'row0' must be >= 0, is -1", xb));
    expect_verify(shared_part, tu_fmt("node %%%d (l0.split): join: operand %%%d is also read by node %%%d; a join's "
                                      "parts are read by the join only", join, ya, find(&g2b, "l0.split.cpu0")));
    ir_graph_free(&g2b);
}

static void test_verify_gqa_message_in_parse(void **state)
{
    (void)state;
    IrGraph g;
    build_model(&g);
    ir_set_int(&g.nodes[find(&g, "l0.attn")], "kv_heads", 3);
    char *text = ir_print_str(&g);
    int att = find(&g, "l0.attn");
    ir_graph_free(&g);
    char err[512] = "";
    assert_int_equal(ir_parse(&g, text, "m.ir", err, sizeof err), -1);
    int line = 1;
    for (const char *p = text; p < strstr(text, "\"l0.attn\""); p++) line += *p == '\n';
    assert_string_equal(err, tu_fmt("m.ir:%d: error: node %%%d (l0.attn): attention: heads 4 is not a multiple of "
                                    "kv_heads 3", line, att));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_op_table),
        cmocka_unit_test(test_attrs),
        cmocka_unit_test(test_compact_and_replace),
        cmocka_unit_test(test_copy),
        cmocka_unit_test(test_bugs_abort),
        cmocka_unit_test(test_print_exact),
        cmocka_unit_test(test_print_minimal),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_parse_comments),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_invalid),
        cmocka_unit_test(test_parse_garbage),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_dot),
        cmocka_unit_test(test_verify_errors),
        cmocka_unit_test(test_verify_gqa_message_in_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
