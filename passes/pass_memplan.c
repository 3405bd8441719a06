/* pass_memplan.c: static activation arena by liveness.
 *
 * Requires: schedule (and so transfers, place and chunk). Provides: node.offset
 * (bytes into its unit's arena) for every activation that needs storage,
 * and g->arena[] per unit. Each plan is planned on its own, from an empty
 * arena, for its most rows (S = R = the plan's s_max; a buffer of fewer
 * rows fits in the same place); plans run one after another, so they share
 * the arena, sized for the largest. The KV cache of each unit is laid out
 * here too: a token's row holds K (and, in a second cache, V) of every
 * layer attended on the unit, in order of first appearance of its cache
 * slot; the attention nodes of one layer in different plans share the
 * slot (kv_offset), and g->kv[] is each unit's row size in floats; so are
 * the workspaces of the units' attention (g->ws[]: split-K partials).
 * Views (last_rows, output) take no storage; the result the output marks is written straight into the caller's logits
 * buffer and takes none either. Inputs, weights and the RoPE table live
 * outside the arena. Buffers are freed after their last use (a view's uses
 * count as uses of its base) and placed first-fit, 64-byte aligned. An
 * operand of a fusion group (pass group) from outside it counts as used by
 * the group's anchor: the group's one launch reads it until then. Copies
 * A join's parts (pass partition) are computed inside its buffer where
 * they can (in_place), which is born with the first of them (so they
 * take none of their own, and no data moves to join them); they carry
 * arena=UNIT (the join's unit, whose arena holds them) and, beside
 * another part's columns, ld=N (floats from one row to the next). Copies
 * between the host and another memory space live as the two threads that
 * run them see them (hand_overs), and so do buffers that units sharing
 * memory read from each other (shared_reads). An arena over MAX_ARENA bytes is an error
 * (the verifier bounds each buffer, not their sum), and so is a program
 * that would take more than the target's RAM (<memory ram=...>): weights,
 * KV cache, arenas, workspaces, the RoPE table (check_ram lists them).
 * The graph's work_bytes is the work area of a firmware build (which has no
 * heap): the static array the runtime's input-dependent memory comes from
 * (work_area: --work-bytes, else the estimate there); with --firmware it
 * counts against the RAM too.
 */
#include "passes.h"

#include <stdlib.h>
#include <string.h>

enum { ALIGN = 64 };
static const int64_t MAX_ARENA = (int64_t)1 << 56;

typedef struct {
    int64_t off, size;      /* a free block */
} Block;

typedef struct {
    Block *free;            /* sorted by offset */
    int nfree, cap;
    int64_t top;            /* end of the highest block ever used */
} Arena;

static int64_t arena_alloc(Arena *a, int64_t size)
{
    for (int i = 0; i < a->nfree; i++) {
        Block *b = &a->free[i];
        if (b->size < size) continue;
        int64_t off = b->off;
        b->off += size;
        b->size -= size;
        if (b->size == 0) memmove(b, b + 1, (size_t)(--a->nfree - i) * sizeof *b);
        return off;
    }
    /* Grow: extend a free block that ends at the top, else start at the top. */
    if (a->nfree && a->free[a->nfree - 1].off + a->free[a->nfree - 1].size == a->top) {
        int64_t off = a->free[--a->nfree].off;
        a->top = off + size;
        return off;
    }
    int64_t off = a->top;
    a->top += size;
    return off;
}

static void arena_release(Arena *a, int64_t off, int64_t size)
{
    if (a->nfree == a->cap) a->free = realloc(a->free, (size_t)(a->cap = a->cap * 2 + 8) * sizeof *a->free);
    int i = 0;
    while (i < a->nfree && a->free[i].off < off) i++;
    memmove(&a->free[i + 1], &a->free[i], (size_t)(a->nfree - i) * sizeof *a->free);
    a->free[i] = (Block){off, size};
    a->nfree++;
    if (i + 1 < a->nfree && a->free[i].off + a->free[i].size == a->free[i + 1].off) {
        a->free[i].size += a->free[i + 1].size;
        memmove(&a->free[i + 1], &a->free[i + 2], (size_t)(a->nfree - i - 2) * sizeof *a->free);
        a->nfree--;
    }
    if (i > 0 && a->free[i - 1].off + a->free[i - 1].size == a->free[i].off) {
        a->free[i - 1].size += a->free[i].size;
        memmove(&a->free[i], &a->free[i + 1], (size_t)(a->nfree - i - 1) * sizeof *a->free);
        a->nfree--;
    }
}

static int needs_storage(const IrNode *n)
{
    return n->op != IR_OP_INPUT && n->op != IR_OP_WEIGHT && n->op != IR_OP_ROPE_TABLE && !ir_op_is_view(n->op);
}

/* The node whose storage n's result lives in (follows views). */
static int base_of(const IrGraph *g, int id)
{
    while (ir_op_is_view(g->nodes[id].op)) id = g->nodes[id].in[0];
    return id;
}

static int64_t storage(const IrNode *n, int64_t chunk)
{
    return (ir_numel(n, chunk, chunk) * ir_dtype_size(n->dtype) + ALIGN - 1) / ALIGN * ALIGN;
}

/* g->ws[]: the split-K partials of a unit's decode attention (a unit with
 * att_chunks: each chunk of keys keeps, per query row and head, head_dim
 * sums and its max and denominator), for the most rows of a decode step. */
static void layout_workspaces(IrGraph *g)
{
    for (int u = 0; u < g->nunits; u++) g->ws[u] = 0;
    for (int i = 0; i < g->n; i++) {
        const IrNode *n = &g->nodes[i];
        if (n->op != IR_OP_ATTENTION || n->plan < 0 || g->plans[n->plan].kind != IR_PLAN_DECODE) continue;
        int64_t chunks = ir_unit_int(&g->units[n->unit], "att_chunks", 0);
        int64_t bytes = chunks * g->plans[n->plan].s_max * ir_attr_int(n, "heads") *
                        (ir_attr_int(n, "head_dim") + 2) * (int64_t)sizeof(float);
        if (bytes > g->ws[n->unit]) g->ws[n->unit] = bytes;
    }
}

/* kv_offset of every attention and g->kv[] (see above). */
static void layout_kv(IrGraph *g)
{
    int64_t *slot = malloc(((size_t)g->n + 1) * sizeof *slot);  /* cache id -> offset */
    for (int i = 0; i < g->n; i++) slot[i] = -1;
    g->nkv = g->nunits;
    for (int u = 0; u < g->nunits; u++) g->kv[u] = 0;
    for (int i = 0; i < g->n; i++) {
        IrNode *n = &g->nodes[i];
        n->kv_offset = -1;
        if (n->op != IR_OP_ATTENTION) continue;
        int64_t id = ir_attr_int(n, "cache");
        if (id < 0 || id >= g->n) IR_BUG("node %%%d: cache slot %lld", i, (long long)id);
        if (slot[id] < 0) {
            slot[id] = g->kv[n->unit];
            g->kv[n->unit] += ir_attr_int(n, "kv_heads") * ir_attr_int(n, "head_dim");
        }
        n->kv_offset = slot[id];
    }
    free(slot);
}

/* Whether part p of join j can be computed inside the join's buffer: in
 * the join's memory space, and, beside another part's columns (axis 1),
 * by a kernel that writes rows with a stride (the host's linear, the
 * npu's qlinear). Else it takes a buffer of its own and the join copies
 * it in. */
static int in_place(const IrGraph *g, const IrNode *j, const IrNode *p)
{
    if (!ir_same_memory(g, p->unit, j->unit) || p->op == IR_OP_COPY) return 0;
    if (!ir_attr_int(j, "axis")) return 1;
    const char *be = g->units[p->unit].backend;
    return (p->op == IR_OP_LINEAR && strcmp(be, "c") == 0) || (p->op == IR_OP_QLINEAR && strcmp(be, "npu-emu") == 0);
}

/* The join whose storage node i is computed into, else -1 ([g->n]). */
static int *join_parts(const IrGraph *g)
{
    int *inside = malloc((size_t)g->n * sizeof *inside);
    for (int i = 0; i < g->n; i++) inside[i] = -1;
    for (int i = 0; i < g->n; i++) {
        const IrNode *j = &g->nodes[i];
        for (int k = 0; j->op == IR_OP_JOIN && k < 2; k++)
            if (in_place(g, j, &g->nodes[j->in[k]])) inside[j->in[k]] = i;
    }
    return inside;
}

/* Node i's buffer; -1 (with the error) past MAX_ARENA. A join's parts that
 * are computed inside it get their place there, in the join's unit's arena
 * (attribute arena=UNIT): part b starts after a's rows (axis 0) or a's
 * columns (axis 1, where each row of a part is ld= floats after the
 * previous one: the join's columns). */
static int place(IrGraph *g, Arena *arena, const unsigned char *external, const int *inside, int i, const PassCtx *c)
{
    IrNode *n = &g->nodes[i];
    if (inside[i] >= 0) return 0;
    n->offset = -1;
    if (!needs_storage(n) || external[i]) return 0;
    n->offset = arena_alloc(&arena[n->unit], storage(n, ir_plan_rows(g, n)));
    if (n->op == IR_OP_JOIN) {
        int axis = (int)ir_attr_int(n, "axis");
        const IrNode *a = &g->nodes[n->in[0]];
        int64_t at[2] = {0, (axis ? a->dim[1] : ir_numel(a, 1, 1)) * ir_dtype_size(a->dtype)};
        for (int k = 0; k < 2; k++) {
            IrNode *p = &g->nodes[n->in[k]];
            if (inside[p->id] != i) continue;
            p->offset = n->offset + at[k];
            ir_set_str(p, "arena", g->units[n->unit].name);
            if (axis) ir_set_int(p, "ld", n->dim[1]);
        }
    }
    if (arena[n->unit].top <= MAX_ARENA) return 0;
    pass_error(c, "memplan: node %%%d (%s): the arena of unit '%s' needs more than %lld bytes", i, n->name,
               g->units[n->unit].name, (long long)MAX_ARENA);
    return -1;
}

/* Copies between the host's memory (the space of a plan's input: the
 * host's and the units sharing it, each on a thread of its own) and a
 * unit of another memory space run on that unit's thread, while the
 * others go on (rt_units.c): a thread only knows where that unit is at
 * the copies into its own buffers that it waits for. So a copy into unit
 * U may write its buffer any time after U's previous wait: it is born
 * there (born[]); and a copy from unit V may read its operand until V's
 * next wait: the operand lives until then (last[]). With these, buffers
 * that two threads use at the same time never share bytes. */
static void hand_overs(const IrGraph *g, int *born, int *last)
{
    int plan = -2, host = -1, start = 0, prev_in[IR_MAX_UNITS];
    for (int i = 0; i < g->n; i++) born[i] = i;
    for (int i = 0; i < g->n; i++) {
        const IrNode *n = &g->nodes[i];
        if (n->plan != plan) {
            plan = n->plan, start = i, host = -1;
            for (int u = 0; u < IR_MAX_UNITS; u++) prev_in[u] = -1;
            for (int j = i; j < g->n && g->nodes[j].plan == plan; j++)
                if (g->nodes[j].op == IR_OP_INPUT) host = g->nodes[j].unit;
        }
        if (n->op != IR_OP_COPY || host < 0) continue;
        const IrNode *src = &g->nodes[base_of(g, n->in[0])];
        if (ir_same_memory(g, n->unit, host) && !ir_same_memory(g, src->unit, host)) {  /* in: after U's previous wait */
            born[i] = prev_in[n->unit] >= 0 ? prev_in[n->unit] : start;
            prev_in[n->unit] = i;
        } else if (!ir_same_memory(g, n->unit, host) && ir_same_memory(g, src->unit, host)) {  /* out: until V's next */
            int next = i;
            while (next + 1 < g->n && g->nodes[next + 1].plan == plan) {
                next++;
                const IrNode *m = &g->nodes[next];
                if (m->op == IR_OP_COPY && m->unit == src->unit &&
                    !ir_same_memory(g, g->nodes[base_of(g, m->in[0])].unit, host))
                    break;
            }
            if (last[src->id] < next) last[src->id] = next;
        }
    }
}

/* Units that share memory read each other's buffers directly, each on its
 * own thread; a unit waits for the other's subgraphs that made what it
 * reads (the ready flags of cg_c.c). So unit A knows that unit B is past
 * node C only once A waits for something B made at or after C: a buffer of
 * A that C reads lives until A's first node after C that reads such a
 * result of B, else to the end of the plan. */
static void shared_reads(const IrGraph *g, int *last)
{
    for (int c = 0; c < g->n; c++) {
        const IrNode *cn = &g->nodes[c];
        if (cn->plan < 0 || cn->op == IR_OP_COPY) continue;
        for (int k = 0; k < cn->nin; k++) {
            int p = base_of(g, cn->in[k]);
            const IrNode *pn = &g->nodes[p];
            if (!needs_storage(pn) || pn->unit == cn->unit || !ir_same_memory(g, pn->unit, cn->unit)) continue;
            int until = c;
            for (int m = c + 1; m < g->n && g->nodes[m].plan == cn->plan; m++) {
                until = m;
                const IrNode *mn = &g->nodes[m];
                int waits = 0;
                for (int j = 0; mn->unit == pn->unit && j < mn->nin; j++) {
                    int src = base_of(g, mn->in[j]);
                    waits |= src >= c && g->nodes[src].unit == cn->unit;
                }
                if (waits) break;
            }
            if (last[p] < until) last[p] = until;
        }
    }
}

static int64_t round_to(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

/* Threads a unit runs at most: its threads=, else (0, the core count where
 * the program runs) this many. */
enum { FIRMWARE_CORES = 16 };

static int64_t unit_threads(const IrUnit *u)
{
    int64_t t = ir_unit_int(u, "threads", 0);
    return t > 0 ? t : FIRMWARE_CORES;
}

/* The npu-emu units' memory at init: each weight packed once, int8 panels of
 * 64 columns with k in groups of 64 and a float bias and int32 sum per
 * column; each graph (a run of one plan's subgraph on the unit) its
 * activation planes (two of rows x K) and its threads' int32 tiles (rows x
 * 64). A little more than the emulator takes (it pads to its tile of 32
 * rows and to 4 in k). And the unit's activation arena. */
static int64_t npu_emu_bytes(const IrGraph *g)
{
    int64_t bytes = 0, act = 0;
    unsigned char *packed = calloc((size_t)g->n + 1, 1);
    for (int i = 0; i < g->n; i++) {
        const IrNode *n = &g->nodes[i];
        if (n->unit < 0 || strcmp(g->units[n->unit].backend, "npu-emu") != 0) continue;
        const IrUnit *u = &g->units[n->unit];
        int64_t rows = round_to(n->dim[0], ir_unit_int(u, "tile", 32));
        if (i > 0 && (g->nodes[i - 1].unit != n->unit || g->nodes[i - 1].plan != n->plan ||
                      g->nodes[i - 1].sub != n->sub))  /* a new graph */
            bytes += act, act = 0;
        if (n->op != IR_OP_QLINEAR) continue;
        const IrNode *w = &g->nodes[n->in[1]];
        int64_t cols = w->dim[0], k = round_to(w->dim[1], 64);
        int64_t need = 2 * rows * k + unit_threads(u) * rows * 64 * 4;
        if (need > act) act = need;
        if (!packed[w->id]) bytes += round_to(cols, 64) * (k + 8) + 4 * cols;
        packed[w->id] = 1;
    }
    free(packed);
    for (int u = 0; u < g->nunits; u++)     /* the unit's arena (two slots at most) */
        if (strcmp(g->units[u].backend, "npu-emu") == 0) bytes += 2 * round_to(g->arena[u], 64) + 64;
    return bytes + act;
}

/* The firmware's work area (the graph's work_bytes): the runtime's memory
 * that depends on the input, in one static array. The estimate: 1 MiB for
 * the thread pool, the tokenizer's tables and index, the command line and
 * libc's own buffers; per vocabulary entry a session's logits, 16 rows of
 * --logits (a longer --batch may not fit) and the sampler's candidates,
 * probabilities and flags (96 bytes with some slack); per token of context
 * the prompt's and the history's ids and the output stream's marks (32 bytes), each cpu thread's attention scores (4
 * bytes each) and the tokenizer's work on a prompt that fills the context
 * (16 bytes of text a token, ~40 bytes of work a byte: 640); the npu-emu
 * units' packed weights and buffers. */
static int64_t work_area(const IrGraph *g)
{
    int64_t vocab = ir_graph_int(g, "vocab", 0), ctx = ir_graph_int(g, "max_ctx", 0), threads = 0;
    for (int u = 0; u < g->nunits; u++)
        if (strcmp(g->units[u].backend, "c") == 0) threads += unit_threads(&g->units[u]);
    int64_t bytes = (1 << 20) + 96 * vocab + (32 + 4 * threads + 640) * ctx + npu_emu_bytes(g);
    return round_to(bytes, 4096);
}

/* bytes as "2.20 GiB", "46.1 MiB", "12.0 KiB" or "100 B". */
static const char *human(double bytes, char *buf)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024 && u < 4) bytes /= 1024, u++;
    sprintf(buf, u == 0 ? "%.0f %s" : bytes < 10 ? "%.2f %s" : "%.1f %s", bytes, units[u]);
    return buf;
}

static const char *ctx_note(int64_t ctx, char *buf)
{
    sprintf(buf, " (%lld tokens of context)", (long long)ctx);
    return buf;
}

/* The target's RAM (<memory ram=...>) against what the program takes:
 * weights (weights.bin, mapped or linked in), the KV cache at the compiled
 * context, the units' arenas and attention workspaces, the RoPE table; the
 * error lists them, largest first. */
static void check_ram(const IrGraph *g, const PassCtx *c)
{
    const FeTarget *t = c->target;
    if (!t || !t->ram || (c->diag && c->diag->failed)) return;
    int64_t ctx = ir_graph_int(g, "max_ctx", 0);
    typedef struct {
        const char *what;
        double bytes;
    } Part;
    Part part[] = {{"weights", 0}, {"KV cache", 0}, {"activation arenas", 0}, {"attention workspaces", 0},
                 {"RoPE table", 0}, {"the firmware's work area", c->firmware ? (double)ir_graph_int(g, "work_bytes", 0) : 0}};
    enum { NPART = sizeof part / sizeof *part };
    for (int i = 0; i < g->n; i++) {
        const IrNode *n = &g->nodes[i];
        double b = (double)ir_dtype_bytes(n->dtype, ir_numel(n, 1, 1));
        if (n->op == IR_OP_WEIGHT) part[0].bytes += b;
        if (n->op == IR_OP_ROPE_TABLE) part[4].bytes += b;
    }
    for (int u = 0; u < g->nunits; u++) {
        part[1].bytes += 2.0 * (double)g->kv[u] * sizeof(float) * (double)ctx;
        part[2].bytes += (double)g->arena[u];
        part[3].bytes += (double)g->ws[u];
    }
    double total = 0;
    for (int i = 0; i < NPART; i++) total += part[i].bytes;
    if (total <= (double)t->ram) return;
    for (int i = 1; i < NPART; i++)     /* largest first */
        for (int j = i; j > 0 && part[j].bytes > part[j - 1].bytes; j--) {
            Part tmp = part[j];
            part[j] = part[j - 1];
            part[j - 1] = tmp;
        }
    char list[512], a[32], b[32];
    int k = 0;
    for (int i = 0; i < NPART && part[i].bytes > 0; i++)
        k += snprintf(list + k, sizeof list - (size_t)k, "%s%s %s%s", i ? ", " : "", part[i].what,
                      human(part[i].bytes, a),
                      strcmp(part[i].what, "KV cache") == 0 ? ctx_note(ctx, b) : "");
    pass_error(c, "%s:%d: error: model '%s' needs %s of RAM and target '%s' has %s (<memory ram=...>): %s; a smaller "
                  "--weight-dtype (q8_0, q4_0), --ctx%s takes less",
               t->path, t->mem_line, g->model, human(total, a), t->name, human((double)t->ram, b), list,
               c->firmware ? ", --max-chunk or --work-bytes" : " or --max-chunk");
}

void pass_memplan(IrGraph *g, const PassCtx *c)
{
    if (ir_graph_int(g, "max_chunk", 0) <= 0) {
        pass_error(c, "memplan: the graph has no max_chunk attribute");
        return;
    }
    int *last = malloc((size_t)g->n * sizeof *last);
    unsigned char *external = calloc((size_t)g->n, 1);
    for (int i = 0; i < g->n; i++) last[i] = i;
    for (int i = 0; i < g->n; i++) {
        const IrNode *n = &g->nodes[i];
        for (int k = 0; k < n->nin; k++) last[base_of(g, n->in[k])] = i;
        if (n->op == IR_OP_OUTPUT) external[base_of(g, n->in[0])] = 1;
    }
    for (int i = 0; i < g->n; i++) {     /* what a fusion group reads lives until its anchor */
        const IrAttr *grp = ir_attr(&g->nodes[i], "group");
        if (!grp) continue;
        for (int k = 0; k < g->nodes[i].nin; k++) {
            int b = base_of(g, g->nodes[i].in[k]);
            const IrAttr *bg = ir_attr(&g->nodes[b], "group");
            if ((!bg || bg->i != grp->i) && last[b] < grp->i) last[b] = (int)grp->i;
        }
    }
    int *born = malloc((size_t)g->n * sizeof *born), *inside = join_parts(g);
    hand_overs(g, born, last);
    shared_reads(g, last);
    for (int i = 0; i < g->n; i++) {     /* a join's buffer is born with its first part */
        if (inside[i] < 0) continue;
        int j = inside[i];
        if (born[i] < born[j]) born[j] = born[i];
        if (last[i] > last[j]) last[j] = last[i];
    }
    /* early[i]: the first node born at i other than i itself, chained by next_early */
    int *early = malloc((size_t)g->n * sizeof *early), *next_early = malloc((size_t)g->n * sizeof *next_early);
    for (int i = 0; i < g->n; i++) early[i] = -1;
    for (int j = g->n - 1; j >= 0; j--)
        if (born[j] != j) {
            next_early[j] = early[born[j]];
            early[born[j]] = j;
        }
    /* dies[i]: the first buffer whose last use is node i, chained by next_dead */
    int *dies = malloc((size_t)g->n * sizeof *dies), *next_dead = malloc((size_t)g->n * sizeof *next_dead);
    for (int i = 0; i < g->n; i++) dies[i] = -1;
    for (int b = g->n - 1; b >= 0; b--) {
        next_dead[b] = dies[last[b]];
        dies[last[b]] = b;
    }
    Arena arena[IR_MAX_UNITS] = {{0}};
    int64_t top[IR_MAX_UNITS] = {0};
    for (int i = 0; i < g->n; i++) {
        IrNode *n = &g->nodes[i];
        if (i > 0 && n->plan != g->nodes[i - 1].plan)     /* a new plan: an empty arena */
            for (int u = 0; u < g->nunits; u++) {
                if (arena[u].top > top[u]) top[u] = arena[u].top;
                arena[u].top = 0;
                arena[u].nfree = 0;
            }
        int failed = 0;
        if (born[i] == i) failed = place(g, arena, external, inside, i, c);
        for (int j = early[i]; j >= 0 && !failed; j = next_early[j]) failed = place(g, arena, external, inside, j, c);
        if (failed) break;
        for (int b = dies[i]; b >= 0; b = next_dead[b]) {
            const IrNode *dead = &g->nodes[b];
            if (b != i && dead->offset >= 0 && inside[b] < 0)
                arena_release(&arena[dead->unit], dead->offset, storage(dead, ir_plan_rows(g, dead)));
        }
    }
    free(dies);
    free(next_dead);
    free(born);
    free(inside);
    free(early);
    free(next_early);
    layout_kv(g);
    layout_workspaces(g);
    g->narena = g->nunits;
    for (int u = 0; u < g->nunits; u++) {
        g->arena[u] = arena[u].top > top[u] ? arena[u].top : top[u];
        free(arena[u].free);
    }
    free(external);
    free(last);
    ir_graph_set_int(g, "work_bytes", c->work_bytes > 0 ? round_to(c->work_bytes, 64) : work_area(g));
    check_ram(g, c);
}
