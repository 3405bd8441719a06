/* fe_target.c: reads and validates targets/<name>.xml (libxml2).
 *
 *   <target name="host-split" version="1">
 *     <memory gbps="61.9"/>
 *     <unit name="cpu0" kind="cpu" backend="c" threads="0" mem="host"/>
 *     <unit name="gpu0" kind="gpu" backend="opencl" platform="" device="" index="-1"
 *           fp16="0" wg="64" tile="16" att_alone="256" att_split="64" att_chunks="32"
 *           gflops="500" gbps="50"/>
 *     <place op="attention" unit="cpu0"/>
 *   </target>
 *
 * An npu unit (backend npu-emu) has threads, tile (its int8 graphs' rows,
 * n and k pad to multiples of it; default 32), shapes (its standard
 * lengths: the row counts its static graphs are profiled and padded at;
 * default "32 64 128 256 512 1024") and ops: what it runs of "linear
 * rmsnorm add mul silu swiglu" (linear is required); pass place puts those
 * ops of every layer of the static chunk plans there.
 *
 * A unit's memory space (mem=) says which units share memory: cpu units
 * default to "host", others to their own name.
 *
 * Cost figures, for the cost model (ir_cost.c), all optional: gflops (f32),
 * gflops_f16 (half-precision arithmetic, also for weights of 16 bits or
 * fewer on a unit that computes in half), gops_i8 (int8 x int8), gbps (the
 * memory bandwidth this unit reaches alone), launch_us (fixed cost of one
 * kernel or graph), sync_us (handing results over to or from another
 * unit), silu_geps (billions of silu or SwiGLU elements a second: an exp
 * and a divide each, which a unit may compute slower than it moves their
 * bytes), and shares="UNIT": this unit computes on UNIT's cores (an
 * emulation such as npu-emu on the host), so the two never run at once.
 * <memory gbps="G" ram="SIZE"/>: gbps is the bandwidth all units reach
 * together (concurrent parts share it); ram (512M, 8G: powers of 1024) the
 * RAM the program may take: weights, KV cache, arenas (pass memplan checks
 * that the model fits). One of the two at least. They go into the IR: unit
 * attributes and the graph attribute dram_gbps.
 *
 * An opencl unit's decode attention splits the keys: up to att_alone keys
 * in one work-group chunk, else chunks of att_split keys, at most
 * att_chunks (memplan sizes the partials). <place op=OP unit=U/> puts
 * every node of IR op OP on unit U (the rest of the decoder goes to the
 * first opencl unit, else the host cpu unit).
 *
 * Checks on load: the root element and version, no attributes but those
 * listed here (and threads), a target name of [A-Za-z0-9_.-] (model.h
 * quotes it in a comment), unit names unique C identifiers (the generated
 * code names its fields after them; the IR prints them unquoted), platform
 * and device strings that fit in a C string literal as they are, kind one
 * of cpu/gpu/npu, backend one of c/opencl/npu-emu and fitting the kind,
 * numbers in range, attributes that belong to the unit's backend, a cpu
 * unit with backend c (tokenizer, sampling, the host side), <place>
 * elements naming a compute op once and a unit by name. That is all that
 * planning (hetc partition, simulate, --report) needs, so targets of
 * phones load whole. fe_target_codegen_check says whether hetc can
 * generate code for the target: one c unit, at most one opencl unit, with
 * memory of its own, and at most one npu-emu unit sharing the host's
 * memory (the generated program runs a thread per device unit). Errors are
 * "FILE:LINE: error: ...".
 */
#include "fe.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static int target_error(const FeTarget *t, const xmlNode *n, char *err, size_t errlen, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "%s:%ld: error: %s", t->path, n ? xmlGetLineNo(n) : 0L, msg);
    return -1;
}

/* Attribute key of n into dst; missing or too long is an error unless optional. */
static int attr(const FeTarget *t, const xmlNode *n, const char *key, char *dst, size_t cap, int optional,
                char *err, size_t errlen)
{
    xmlChar *v = xmlGetProp(n, (const xmlChar *)key);
    dst[0] = 0;
    if (!v) return optional ? 0 : target_error(t, n, err, errlen, "<%s> needs attribute '%s'", n->name, key);
    size_t len = strlen((const char *)v);
    int bad = len == 0 || len >= cap;
    if (!bad) memcpy(dst, v, len + 1);
    xmlFree(v);
    if (bad) return target_error(t, n, err, errlen, "<%s> attribute '%s' must be 1 to %zu characters", n->name, key, cap - 1);
    return 0;
}

static int one_of(const char *v, const char *const *set)
{
    for (int i = 0; set[i]; i++)
        if (strcmp(v, set[i]) == 0) return 1;
    return 0;
}

static int is_identifier(const char *s)
{
    static const char first[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_";
    return s[0] && strchr(first, s[0]) &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789") == strlen(s);
}

/* Printable ASCII but '"', '\' and '?' (trigraphs): written into model.c
 * inside a string literal as it is. */
static int is_literal_text(const char *s)
{
    for (; *s; s++)
        if (*s < 0x20 || *s > 0x7e || *s == '"' || *s == '\\' || *s == '?') return 0;
    return 1;
}

/* Every attribute of n is one of keys. */
static int known_attrs(const FeTarget *t, const xmlNode *n, const char *const *keys, char *err, size_t errlen)
{
    for (const xmlAttr *a = n->properties; a; a = a->next)
        if (!one_of((const char *)a->name, keys))
            return target_error(t, n, err, errlen, "<%s> has unknown attribute '%s'", n->name, a->name);
    return 0;
}

/* Optional integer attribute key in lo..hi (default dflt). */
static int number(const FeTarget *t, const xmlNode *n, const FeUnit *u, const char *key, long lo, long hi, int dflt,
                  int *v, char *err, size_t errlen)
{
    char text[24];
    *v = dflt;
    if (attr(t, n, key, text, sizeof text, 1, err, errlen)) return -1;
    if (!text[0]) return 0;
    char *end;
    long x = strtol(text, &end, 10);
    if (*end || x < lo || x > hi)
        return target_error(t, n, err, errlen, "unit '%s': %s '%s' is not an integer in %ld..%ld", u->name, key, text,
                            lo, hi);
    *v = (int)x;
    return 0;
}

/* Device choice and kernel shapes of an opencl unit; other units must not have them. */
static int opencl_attrs(const FeTarget *t, const xmlNode *n, FeUnit *u, char *err, size_t errlen)
{
    static const char *const keys[] = {"platform", "device", "index", "fp16", "wg", "tile", "att_alone", "att_split",
                                       "att_chunks", NULL};
    if (strcmp(u->backend, "opencl") != 0) {
        for (int i = 0; keys[i]; i++)
            if (xmlHasProp(n, (const xmlChar *)keys[i]) && !(strcmp(keys[i], "tile") == 0 && strcmp(u->backend, "npu-emu") == 0))
                return target_error(t, n, err, errlen, "unit '%s': '%s' applies to opencl units only", u->name,
                                    keys[i]);
        return 0;
    }
    if (attr(t, n, "platform", u->platform, sizeof u->platform, 1, err, errlen) ||
        attr(t, n, "device", u->device, sizeof u->device, 1, err, errlen) ||
        number(t, n, u, "index", -1, 255, -1, &u->index, err, errlen) ||
        number(t, n, u, "fp16", 0, 1, 0, &u->fp16, err, errlen) ||
        number(t, n, u, "wg", 1, 1024, 64, &u->wg, err, errlen) ||
        number(t, n, u, "tile", 4, 64, 16, &u->tile, err, errlen) ||
        number(t, n, u, "att_alone", 1, 1 << 20, 256, &u->att_alone, err, errlen) ||
        number(t, n, u, "att_split", 1, 1 << 16, 64, &u->att_split, err, errlen) ||
        number(t, n, u, "att_chunks", 1, 1024, 32, &u->att_chunks, err, errlen))
        return -1;
    if (!is_literal_text(u->platform) || !is_literal_text(u->device))
        return target_error(t, n, err, errlen, "unit '%s': attribute '%s' must be printable ASCII without '\"', "
                            "'\\' or '?'", u->name, is_literal_text(u->platform) ? "device" : "platform");
    if (u->wg & (u->wg - 1)) return target_error(t, n, err, errlen, "unit '%s': wg %d is not a power of two", u->name, u->wg);
    return 0;
}

/* An npu unit's tile (rows, n and k of its int8 graphs are padded to
 * multiples of it) and the ops it runs (space separated; linear always). */
static int npu_attrs(const FeTarget *t, const xmlNode *n, FeUnit *u, char *err, size_t errlen)
{
    static const char *const ops[] = {"linear", "rmsnorm", "add", "mul", "silu", "swiglu", NULL};
    if (strcmp(u->backend, "npu-emu") != 0) {
        for (const char *k = "ops"; k; k = strcmp(k, "ops") == 0 ? "shapes" : NULL)
            if (xmlHasProp(n, (const xmlChar *)k))
                return target_error(t, n, err, errlen, "unit '%s': '%s' applies to npu units only", u->name, k);
        return 0;
    }
    if (number(t, n, u, "tile", 1, 256, 32, &u->tile, err, errlen) ||
        attr(t, n, "ops", u->ops, sizeof u->ops, 1, err, errlen))
        return -1;
    if (!u->ops[0]) snprintf(u->ops, sizeof u->ops, "linear");
    if (attr(t, n, "shapes", u->shapes, sizeof u->shapes, 1, err, errlen)) return -1;
    if (!u->shapes[0]) snprintf(u->shapes, sizeof u->shapes, "32 64 128 256 512 1024");
    char text[sizeof u->shapes], *sv = NULL;
    snprintf(text, sizeof text, "%s", u->shapes);
    long last = 0;
    for (char *w = strtok_r(text, " ", &sv); w; w = strtok_r(NULL, " ", &sv)) {
        char *end;
        long v = strtol(w, &end, 10);
        if (*end || v <= last || v > 65536)
            return target_error(t, n, err, errlen, "unit '%s': shapes: '%s' is not a row count in %ld..65536 "
                                "(ascending)", u->name, w, last + 1);
        last = v;
    }
    char list[sizeof u->ops], *save = NULL;
    snprintf(list, sizeof list, "%s", u->ops);
    int linear = 0;
    for (char *op = strtok_r(list, " ", &save); op; op = strtok_r(NULL, " ", &save)) {
        if (!one_of(op, ops))
            return target_error(t, n, err, errlen, "unit '%s': ops: '%s' is not an op an npu unit runs (linear, "
                                "rmsnorm, add, mul, silu, swiglu)", u->name, op);
        linear |= strcmp(op, "linear") == 0;
    }
    if (!linear) return target_error(t, n, err, errlen, "unit '%s': ops must include 'linear'", u->name);
    return 0;
}

/* A positive number attribute key of n in (0, hi], 0 when absent. */
static int positive(const FeTarget *t, const xmlNode *n, const char *who, const char *key, double hi, double *v,
                    char *err, size_t errlen)
{
    char text[32];
    *v = 0;
    if (attr(t, n, key, text, sizeof text, 1, err, errlen)) return -1;
    if (!text[0]) return 0;
    char *end;
    *v = strtod(text, &end);
    if (*end || !(*v > 0 && *v <= hi))
        return target_error(t, n, err, errlen, "%s: %s '%s' is not a number in (0, %g]", who, key, text, hi);
    return 0;
}

/* Cost figures: optional positive numbers, kept for the IR's unit objects. */
static int figures(const FeTarget *t, const xmlNode *n, FeUnit *u, char *err, size_t errlen)
{
    static const struct {
        const char *key;
        double hi;
    } figs[] = {{"gflops", 1e7}, {"gflops_f16", 1e7}, {"gops_i8", 1e7}, {"gbps", 1e5}, {"launch_us", 1e6},
                {"sync_us", 1e6}, {"silu_geps", 1e5}};
    _Static_assert(sizeof figs / sizeof figs[0] <= FE_MAX_FIGURES, "room for every figure");
    char who[32];
    snprintf(who, sizeof who, "unit '%s'", u->name);
    for (size_t i = 0; i < sizeof figs / sizeof figs[0]; i++) {
        double v;
        if (positive(t, n, who, figs[i].key, figs[i].hi, &v, err, errlen)) return -1;
        if (v == 0) continue;
        snprintf(u->fig[u->nfig].key, sizeof u->fig[0].key, "%s", figs[i].key);
        u->fig[u->nfig++].v = v;
    }
    return 0;
}

static int load_unit(FeTarget *t, const xmlNode *n, char *err, size_t errlen)
{
    static const char *const kinds[] = {"cpu", "gpu", "npu", NULL};
    static const char *const backends[] = {"c", "opencl", "npu-emu", NULL};
    static const char *const fits[] = {"cpu:c", "gpu:opencl", "npu:npu-emu", NULL};
    static const char *const keys[] = {"name", "kind", "backend", "threads", "platform", "device", "index", "fp16",
                                       "wg", "tile", "att_alone", "att_split", "att_chunks", "mem", "ops", "gflops", "gflops_f16", "gops_i8", "gbps", "launch_us",
                                       "sync_us", "silu_geps", "shares", "shapes", NULL};
    if (t->nunits == FE_MAX_UNITS) return target_error(t, n, err, errlen, "more than %d units", FE_MAX_UNITS);
    FeUnit *u = &t->units[t->nunits];
    memset(u, 0, sizeof *u);
    u->line = (int)xmlGetLineNo(n);
    if (known_attrs(t, n, keys, err, errlen) || attr(t, n, "name", u->name, sizeof u->name, 0, err, errlen))
        return -1;
    if (!is_identifier(u->name))
        return target_error(t, n, err, errlen,
                            "unit '%s': attribute 'name' must be a C identifier (letters, digits and '_', not starting "
                            "with a digit)", u->name);
    if (attr(t, n, "kind", u->kind, sizeof u->kind, 0, err, errlen) ||
        attr(t, n, "backend", u->backend, sizeof u->backend, 0, err, errlen))
        return -1;
    if (!one_of(u->kind, kinds))
        return target_error(t, n, err, errlen, "unit '%s': kind '%s' is not cpu, gpu or npu", u->name, u->kind);
    if (!one_of(u->backend, backends))
        return target_error(t, n, err, errlen, "unit '%s': backend '%s' is not c, opencl or npu-emu", u->name,
                            u->backend);
    char pair[32];
    snprintf(pair, sizeof pair, "%s:%s", u->kind, u->backend);
    if (!one_of(pair, fits))
        return target_error(t, n, err, errlen, "unit '%s': a %s unit cannot use backend '%s'", u->name, u->kind,
                            u->backend);
    if (number(t, n, u, "threads", 0, 1024, 0, &u->threads, err, errlen) ||
        opencl_attrs(t, n, u, err, errlen) || npu_attrs(t, n, u, err, errlen) || figures(t, n, u, err, errlen) ||
        attr(t, n, "mem", u->mem, sizeof u->mem, 1, err, errlen) ||
        attr(t, n, "shares", u->shares, sizeof u->shares, 1, err, errlen))
        return -1;
    if (!u->mem[0]) snprintf(u->mem, sizeof u->mem, "%s", strcmp(u->kind, "cpu") == 0 ? "host" : u->name);
    if (!is_identifier(u->mem))
        return target_error(t, n, err, errlen, "unit '%s': attribute 'mem' must be a C identifier", u->name);
    for (int i = 0; i < t->nunits; i++)
        if (strcmp(t->units[i].name, u->name) == 0)
            return target_error(t, n, err, errlen, "unit name '%s' is used twice", u->name);
    t->nunits++;
    return 0;
}

/* What codegen supports today: the host side on a cpu unit with backend c,
 * at most one opencl unit, with memory of its own, and at most one
 * npu-emu unit, sharing the host's. */
int fe_target_codegen_check(const FeTarget *t, char *err, size_t errlen)
{
    int host = -1, opencl = -1, npu = -1;
    for (int i = 0; i < t->nunits; i++)
        if (host < 0 && strcmp(t->units[i].kind, "cpu") == 0 && strcmp(t->units[i].backend, "c") == 0) host = i;
    if (host < 0) IR_BUG("target loaded without a host unit");
    for (int i = 0; i < t->nunits; i++) {
        const FeUnit *u = &t->units[i];
        if (strcmp(u->backend, "c") == 0 && i != host) {
            snprintf(err, errlen, "%s:%d: error: unit '%s': backend 'c': hetc compiles for one c unit (its thread "
                     "pool uses every core), and unit '%s' is one", t->path, u->line, u->name, t->units[host].name);
            return -1;
        }
        if (strcmp(u->backend, "npu-emu") == 0) {
            if (npu >= 0 || strcmp(u->mem, t->units[host].mem) != 0) {
                snprintf(err, errlen, "%s:%d: error: unit '%s': backend 'npu-emu': hetc compiles for one npu-emu unit, "
                         "sharing the host cpu unit's memory (mem=\"%s\")", t->path, u->line, u->name,
                         t->units[host].mem);
                return -1;
            }
            npu = i;
        }
        if (strcmp(u->backend, "opencl") != 0) continue;
        for (int j = 0; j < t->nunits; j++)
            if (j != i && strcmp(t->units[j].mem, u->mem) == 0) {
                snprintf(err, errlen, "%s:%d: error: unit '%s': attribute 'mem': an opencl unit has memory of its "
                         "own in this hetc, but unit '%s' is in space '%s' too", t->path, u->line, u->name,
                         t->units[j].name, u->mem);
                return -1;
            }
        if (opencl >= 0) {
            snprintf(err, errlen, "%s:%d: error: unit '%s': backend 'opencl': hetc compiles for one opencl unit, and "
                     "unit '%s' is one", t->path, u->line, u->name, t->units[opencl].name);
            return -1;
        }
        opencl = i;
    }
    return 0;
}

/* A host unit exists; shares= names another unit. */
static int check_units(const FeTarget *t, const xmlNode *root, char *err, size_t errlen)
{
    int host = 0;
    for (int i = 0; i < t->nunits; i++) {
        const FeUnit *u = &t->units[i];
        host |= strcmp(u->kind, "cpu") == 0 && strcmp(u->backend, "c") == 0;
        if (!u->shares[0]) continue;
        int found = 0;
        for (int j = 0; j < t->nunits; j++) found |= j != i && strcmp(t->units[j].name, u->shares) == 0;
        if (!found) {
            snprintf(err, errlen, "%s:%d: error: unit '%s': attribute 'shares': no other unit is called '%s'", t->path,
                     u->line, u->name, u->shares);
            return -1;
        }
    }
    if (!host)
        return target_error(t, root, err, errlen, "the target needs a unit with kind 'cpu' and backend 'c' (the "
                            "tokenizer and sampling run there)");
    return 0;
}

int fe_parse_size(const char *text, const char *units, uint64_t *v)
{
    char *end;
    double x = strtod(text, &end);
    const char *u = *end ? strchr(units, *end) : NULL;
    double scale = u ? (double)((uint64_t)1 << (10 * (u - units + 1))) : 1;
    if ((*end && (!u || end[1])) || end == text || !(x > 0) || !(x * scale >= 1 && x * scale < 0x1p62)) return -1;
    *v = (uint64_t)(x * scale);
    return 0;
}

/* A size of RAM: bytes, or a number with K, M, G or T (powers of 1024). */
static int ram_size(const FeTarget *t, const xmlNode *n, uint64_t *v, char *err, size_t errlen)
{
    char text[32];
    *v = 0;
    if (attr(t, n, "ram", text, sizeof text, 1, err, errlen)) return -1;
    if (!text[0]) return 0;
    if (fe_parse_size(text, "KMGT", v))
        return target_error(t, n, err, errlen, "<memory> attribute 'ram': '%s' is not a size (bytes, or a number "
                            "with K, M, G or T: 512M, 8G)", text);
    return 0;
}

/* <memory gbps="G" ram="SIZE"/>: the bandwidth the units reach together;
 * the RAM the program may take (pass memplan checks the model fits). */
static int load_memory(FeTarget *t, const xmlNode *n, char *err, size_t errlen)
{
    static const char *const keys[] = {"gbps", "ram", NULL};
    if (t->mem_line) return target_error(t, n, err, errlen, "<memory> is given twice");
    t->mem_line = (int)xmlGetLineNo(n);
    if (known_attrs(t, n, keys, err, errlen) || positive(t, n, "<memory>", "gbps", 1e5, &t->mem_gbps, err, errlen) ||
        ram_size(t, n, &t->ram, err, errlen))
        return -1;
    if (t->mem_gbps == 0 && t->ram == 0) return target_error(t, n, err, errlen, "<memory> needs attribute 'gbps' or 'ram'");
    return 0;
}

/* <place op="OP" unit="U"/>: the unit is resolved once all units are read. */
static int load_place(FeTarget *t, const xmlNode *n, char *err, size_t errlen)
{
    static const char *const keys[] = {"op", "unit", NULL};
    static const char *const ops[] = {"embed", "rmsnorm", "linear", "rope", "attention", "silu", "mul", "swiglu",
                                      "add", NULL};
    if (t->nplace == FE_MAX_PLACES) return target_error(t, n, err, errlen, "more than %d <place> elements", FE_MAX_PLACES);
    FePlace *p = &t->place[t->nplace];
    p->line = (int)xmlGetLineNo(n);
    p->unit = -1;
    char unit[16];
    if (known_attrs(t, n, keys, err, errlen) || attr(t, n, "op", p->op, sizeof p->op, 0, err, errlen) ||
        attr(t, n, "unit", unit, sizeof unit, 0, err, errlen))
        return -1;
    if (!one_of(p->op, ops))
        return target_error(t, n, err, errlen, "<place> attribute 'op': '%s' is not a compute op (embed, rmsnorm, "
                            "linear, rope, attention, silu, mul, swiglu, add)", p->op);
    for (int i = 0; i < t->nplace; i++)
        if (strcmp(t->place[i].op, p->op) == 0)
            return target_error(t, n, err, errlen, "<place> attribute 'op': op '%s' is placed twice", p->op);
    snprintf(t->place_unit[t->nplace], sizeof t->place_unit[0], "%s", unit);
    t->nplace++;
    return 0;
}

static int resolve_places(FeTarget *t, char *err, size_t errlen)
{
    for (int i = 0; i < t->nplace; i++) {
        FePlace *p = &t->place[i];
        for (int u = 0; u < t->nunits; u++)
            if (strcmp(t->units[u].name, t->place_unit[i]) == 0) p->unit = u;
        if (p->unit < 0) {
            snprintf(err, errlen, "%s:%d: error: <place> attribute 'unit': no unit is called '%s'", t->path, p->line,
                     t->place_unit[i]);
            return -1;
        }
    }
    return 0;
}

static int load_target(FeTarget *t, const xmlNode *root, char *err, size_t errlen)
{
    static const char *const keys[] = {"name", "version", NULL};
    char version[8];
    if (!root || strcmp((const char *)root->name, "target") != 0)
        return target_error(t, root, err, errlen, "root element must be <target>");
    if (known_attrs(t, root, keys, err, errlen) || attr(t, root, "name", t->name, sizeof t->name, 0, err, errlen))
        return -1;
    if (strspn(t->name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != strlen(t->name))
        return target_error(t, root, err, errlen, "target '%s': attribute 'name' must be letters, digits, '_', '.' "
                            "and '-' only", t->name);
    if (attr(t, root, "version", version, sizeof version, 0, err, errlen)) return -1;
    if (strcmp(version, "1") != 0)
        return target_error(t, root, err, errlen, "target version '%s' is not supported (this hetc reads 1)", version);
    for (const xmlNode *n = root->children; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE) continue;
        if (strcmp((const char *)n->name, "memory") == 0) {
            if (load_memory(t, n, err, errlen)) return -1;
            continue;
        }
        if (strcmp((const char *)n->name, "place") == 0) {
            if (load_place(t, n, err, errlen)) return -1;
            continue;
        }
        if (strcmp((const char *)n->name, "unit") != 0)
            return target_error(t, n, err, errlen, "unknown element <%s> in <target>", n->name);
        if (load_unit(t, n, err, errlen)) return -1;
    }
    if (t->nunits == 0) return target_error(t, root, err, errlen, "the target has no <unit>");
    return resolve_places(t, err, errlen) || check_units(t, root, err, errlen) ? -1 : 0;
}

static void quiet(void *ctx, const char *msg, ...) {}

int fe_target_load(FeTarget *t, const char *path, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    snprintf(t->path, sizeof t->path, "%s", path);
    xmlSetGenericErrorFunc(NULL, quiet);
    xmlDoc *doc = xmlReadFile(path, NULL, XML_PARSE_NONET | XML_PARSE_NOWARNING | XML_PARSE_NOERROR);
    if (!doc) {
        const xmlError *e = xmlGetLastError();
        if (e && e->message && e->code != XML_IO_LOAD_ERROR)
            snprintf(err, errlen, "%s:%d: error: malformed XML: %.*s", path, e->line,
                     (int)strcspn(e->message, "\n"), e->message);
        else
            snprintf(err, errlen, "%s: error: cannot read the target file", path);
        return -1;
    }
    int rc = load_target(t, xmlDocGetRootElement(doc), err, errlen);
    xmlFreeDoc(doc);
    return rc;
}
