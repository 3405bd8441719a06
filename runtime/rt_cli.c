/* rt_cli.c: the command line of every generated model program (rt_main).
 *
 *   model [-m WEIGHTS] [-t N] [--ctx N] --ids 1,5,9 --logits FILE [--batch N]
 *       runs the prompt and writes the logits of every prompt position to
 *       FILE (raw little-endian f32, vocab values per row).
 *   model [-m WEIGHTS] [-t N] [--ctx N] --bench [--bench-pp N] [--bench-tg M]
 *         [--bench-reps K]
 *       prints llama-bench-style prompt-processing / generation speeds.
 *
 * Exit codes: 0 success, 1 runtime error (bad ids, init failure, ...),
 * 2 usage error. */
#include "hetc_rt.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *weights;    /* -m; NULL: the compiled default */
    int threads;            /* -t; 0: the target's default */
    int ctx;                /* --ctx; 0: max_ctx */
    const char *ids;        /* --ids, comma-separated token ids */
    const char *logits;     /* --logits output file */
    int batch;              /* --batch; 0: max_chunk */
    int bench;              /* --bench given */
    int bench_pp;           /* --bench-pp: prompt tokens */
    int bench_tg;           /* --bench-tg: generated tokens */
    int bench_reps;         /* --bench-reps */
} CliOptions;

typedef struct {
    const char *name;
    const char **str;       /* where a string value goes, or NULL */
    int *num;               /* where an integer value goes, or NULL */
    int min;                /* smallest accepted integer */
} ValueOption;

enum { EXIT_USAGE = 2, PARSE_OK = -1 };

static void usage(FILE *f, const char *prog, const RtModelApi *api)
{
    fprintf(f,
            "usage: %s [options] --ids 1,5,9 --logits FILE\n"
            "       %s [options] --bench [--bench-pp N] [--bench-tg M] [--bench-reps K]\n"
            "Runs the compiled model '%s' (vocabulary %d, context up to %d).\n"
            "  -m WEIGHTS       weights file (default: the path compiled in)\n"
            "  -t THREADS       threads (default: the target's)\n"
            "  --ctx N          context in tokens (default and maximum: %d)\n"
            "  --ids LIST       prompt token ids, comma-separated\n"
            "  --logits FILE    write the logits of every prompt position to FILE\n"
            "                   (raw little-endian float32, %d values per position)\n"
            "  --batch N        feed the prompt in pieces of at most N tokens (default\n"
            "                   and maximum: %d)\n"
            "  --bench          measure prompt processing (pp) and generation (tg) speed\n"
            "  --bench-pp N     prompt tokens of the pp test (default 512, 0: skip)\n"
            "  --bench-tg M     generated tokens of the tg test (default 128, 0: skip)\n"
            "  --bench-reps K   repetitions of each test (default 3)\n"
            "  -h, --help       show this help\n",
            prog, prog, api->name, api->vocab, api->max_ctx, api->max_ctx, api->vocab,
            api->max_chunk);
}

/* Whole-string decimal integer in [min, INT_MAX]. */
static int parse_int(const char *s, int min, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > INT_MAX)
        return 0;
    *out = (int)v;
    return 1;
}

static int set_value(const ValueOption *opt, const char *val)
{
    if (opt->str) {
        *opt->str = val;
        return PARSE_OK;
    }
    if (!parse_int(val, opt->min, opt->num)) {
        fprintf(stderr, "error: %s expects an integer >= %d, got '%s'\n", opt->name, opt->min,
                val);
        return EXIT_USAGE;
    }
    return PARSE_OK;
}

/* Parses argv into o; returns PARSE_OK or the exit code to return now. */
static int parse_args(CliOptions *o, int argc, char **argv, const RtModelApi *api)
{
    const ValueOption opts[] = {
        {"-m", &o->weights, NULL, 0},       {"-t", NULL, &o->threads, 1},
        {"--ctx", NULL, &o->ctx, 1},        {"--ids", &o->ids, NULL, 0},
        {"--logits", &o->logits, NULL, 0},  {"--batch", NULL, &o->batch, 1},
        {"--bench-pp", NULL, &o->bench_pp, 0}, {"--bench-tg", NULL, &o->bench_tg, 0},
        {"--bench-reps", NULL, &o->bench_reps, 1},
    };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout, argv[0], api);
            return 0;
        }
        if (!strcmp(a, "--bench")) {
            o->bench = 1;
            continue;
        }
        const ValueOption *opt = NULL;
        for (size_t j = 0; j < sizeof opts / sizeof *opts; j++)
            if (!strcmp(a, opts[j].name))
                opt = &opts[j];
        if (!opt) {
            fprintf(stderr, "error: unknown option '%s'\n", a);
            usage(stderr, argv[0], api);
            return EXIT_USAGE;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "error: %s needs a value\n", a);
            return EXIT_USAGE;
        }
        int rc = set_value(opt, argv[++i]);
        if (rc != PARSE_OK)
            return rc;
    }
    return PARSE_OK;
}

/* The mode the options ask for must be complete and unambiguous. */
static int check_mode(const CliOptions *o, const char *prog, const RtModelApi *api)
{
    if (o->bench && (o->ids || o->logits)) {
        fprintf(stderr, "error: --bench cannot be combined with --ids or --logits\n");
        return EXIT_USAGE;
    }
    if (!o->bench && (!o->ids || !o->logits)) {
        if (o->ids || o->logits)
            fprintf(stderr, "error: --ids and --logits go together\n");
        usage(stderr, prog, api);
        return EXIT_USAGE;
    }
    if (o->ctx > api->max_ctx) {
        fprintf(stderr, "error: --ctx %d is larger than the compiled maximum context %d\n",
                o->ctx, api->max_ctx);
        return 1;
    }
    return PARSE_OK;
}

/* Token ids from "1,5,9" into a malloc'd array; prints the error itself. */
static int32_t *parse_ids(const char *list, int vocab, int *n_out)
{
    int n = 1;
    for (const char *c = list; *c; c++)
        n += *c == ',';
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    if (!ids) {
        fprintf(stderr, "error: out of memory reading %d token ids\n", n);
        return NULL;
    }
    const char *p = list;
    for (int i = 0; i < n; i++) {
        size_t len = strcspn(p, ",");
        char tok[32];
        int v;
        snprintf(tok, sizeof tok, "%.*s", (int)len, p);     /* too long: rejected below */
        if (len == 0 || len >= sizeof tok || !parse_int(tok, 0, &v) || v >= vocab) {
            fprintf(stderr,
                    "error: --ids: item %d ('%.*s') is not a token id (0..%d, the vocabulary "
                    "has %d tokens)\n",
                    i + 1, (int)len, p, vocab - 1, vocab);
            free(ids);
            return NULL;
        }
        ids[i] = v;
        p += len + 1;
    }
    *n_out = n;
    return ids;
}

/* Writes n floats as little-endian bytes whatever the host order. */
static int write_f32_le(FILE *f, const float *v, size_t n)
{
    unsigned char buf[4096];
    size_t fill = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], sizeof u);
        for (int b = 0; b < 4; b++)
            buf[fill++] = (unsigned char)(u >> (8 * b));
        if (fill == sizeof buf || i + 1 == n) {
            if (fwrite(buf, 1, fill, f) != fill)
                return 0;
            fill = 0;
        }
    }
    return 1;
}

static int forward_failed(void)
{
    fprintf(stderr, "error: forward failed: %s\n", rt_last_error());
    return 1;
}

/* Feeds the prompt in pieces of 'batch' tokens, writing every row's logits. */
static int run_prompt(const RtModelApi *api, RtModel *m, const int32_t *ids, int n, int batch,
                      FILE *f, const char *path)
{
    float *logits = malloc((size_t)batch * (size_t)api->vocab * sizeof *logits);
    if (!logits) {
        fprintf(stderr, "error: out of memory for %d rows of logits\n", batch);
        return 1;
    }
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i += batch) {
        int S = n - i < batch ? n - i : batch;
        if (api->forward(m, ids + i, S, S, logits) != RT_OK) {
            rc = forward_failed();
        } else if (!write_f32_le(f, logits, (size_t)S * (size_t)api->vocab)) {
            fprintf(stderr, "error: cannot write %s: %s\n", path, strerror(errno));
            rc = 1;
        }
    }
    free(logits);
    return rc;
}

static int prompt_mode(const RtModelApi *api, RtModel *m, const int32_t *ids, int n,
                       const CliOptions *o)
{
    int ctx = api->context(m);
    if (n > ctx) {
        fprintf(stderr, "error: prompt has %d tokens but the context is %d (--ctx)\n", n, ctx);
        return 1;
    }
    int batch = o->batch > 0 && o->batch < api->max_chunk ? o->batch : api->max_chunk;
    FILE *f = fopen(o->logits, "wb");
    if (!f) {
        fprintf(stderr, "error: cannot create %s: %s\n", o->logits, strerror(errno));
        return 1;
    }
    int rc = run_prompt(api, m, ids, n, batch, f, o->logits);
    if (fclose(f) != 0 && rc == 0) {
        fprintf(stderr, "error: cannot write %s: %s\n", o->logits, strerror(errno));
        rc = 1;
    }
    return rc;
}

/* ---- --bench ---- */

typedef struct {
    const char *kind;       /* "pp" or "tg" */
    int tokens;
    double mean, stddev;    /* tokens per second over the repetitions */
    double forwards;        /* forward calls per repetition */
} BenchResult;

static uint32_t bench_rng = 0x2545f491u;

static int32_t random_id(int vocab)
{
    bench_rng ^= bench_rng << 13;
    bench_rng ^= bench_rng >> 17;
    bench_rng ^= bench_rng << 5;
    return (int32_t)(bench_rng % (uint32_t)vocab);
}

/* One repetition: 'tokens' random ids from an empty cache, 'chunk' per
 * forward, one row of logits each; returns seconds or -1 on failure. */
static double bench_once(const RtModelApi *api, RtModel *m, int tokens, int chunk,
                         int32_t *ids, float *logits)
{
    for (int i = 0; i < tokens; i++)
        ids[i] = random_id(api->vocab);
    api->reset(m);
    double t0 = rt_now();
    for (int i = 0; i < tokens; i += chunk) {
        int S = tokens - i < chunk ? tokens - i : chunk;
        if (api->forward(m, ids + i, S, 1, logits) != RT_OK)
            return -1.0;
    }
    return rt_now() - t0;
}

static int bench_test(const RtModelApi *api, RtModel *m, BenchResult *r, int reps,
                      int32_t *ids, float *logits)
{
    int chunk = r->kind[0] == 'p' ? api->max_chunk : 1;
    double sum = 0.0, sum2 = 0.0;
    for (int i = 0; i < reps; i++) {
        double t = bench_once(api, m, r->tokens, chunk, ids, logits);
        if (t < 0)
            return forward_failed();
        double tps = r->tokens / t;
        sum += tps;
        sum2 += tps * tps;
    }
    r->mean = sum / reps;
    r->stddev = reps > 1 ? sqrt(fmax(0.0, (sum2 - sum * r->mean) / (reps - 1))) : 0.0;
    r->forwards = (r->tokens + chunk - 1) / chunk;
    return 0;
}

static void print_table(const RtModelApi *api, const RtModel *m, const BenchResult *res, int n)
{
    char threads[16];
    snprintf(threads, sizeof threads, "%d", api->threads(m));
    printf("| model | size | params | threads | test | t/s |\n");
    printf("| ----- | ---: | -----: | ------: | ---: | --: |\n");
    for (int i = 0; i < n; i++)
        printf("| %s | %.2f GiB | %.2f B | %s | %s%d | %.2f ± %.2f |\n", api->name,
               api->weight_bytes / (1024.0 * 1024.0 * 1024.0), api->params / 1e9,
               threads, res[i].kind, res[i].tokens, res[i].mean, res[i].stddev);
    printf("\n");
    for (int i = 0; i < n; i++) {
        double fps = res[i].mean * res[i].forwards / res[i].tokens;
        printf("%s%d: %.2f t/s = %.1f GFLOP/s (excluding attention); weights %.2f GB x "
               "%.2f forwards/s = %.2f GB/s\n",
               res[i].kind, res[i].tokens, res[i].mean, api->flops_per_token * res[i].mean / 1e9,
               api->weight_bytes / 1e9, fps, api->weight_bytes * fps / 1e9);
    }
}

static int bench_mode(const RtModelApi *api, RtModel *m, const CliOptions *o)
{
    int ctx = api->context(m);
    int most = o->bench_pp > o->bench_tg ? o->bench_pp : o->bench_tg;
    if (most > ctx) {
        fprintf(stderr, "error: the benchmark needs a context of %d tokens but the context is "
                "%d (--ctx)\n", most, ctx);
        return 1;
    }
    int32_t *ids = malloc((size_t)(most > 0 ? most : 1) * sizeof *ids);
    float *logits = malloc((size_t)api->vocab * sizeof *logits);
    BenchResult res[2] = {{"pp", o->bench_pp, 0, 0, 0}, {"tg", o->bench_tg, 0, 0, 0}};
    int rc = 0;
    if (!ids || !logits) {
        fprintf(stderr, "error: out of memory\n");
        rc = 1;
    } else if (bench_once(api, m, most < api->max_chunk ? most : api->max_chunk,
                          api->max_chunk, ids, logits) < 0) {
        rc = forward_failed();      /* the warm-up (it also faults the weights in) failed */
    }
    int n = 0;      /* tests run, compacted to the front of res */
    for (int i = 0; i < 2 && rc == 0; i++) {
        if (res[i].tokens == 0)
            continue;
        rc = bench_test(api, m, &res[i], o->bench_reps, ids, logits);
        res[n++] = res[i];
    }
    if (rc == 0)
        print_table(api, m, res, n);
    free(ids);
    free(logits);
    return rc;
}

/* ---- main ---- */

static int run_model(const RtModelApi *api, const CliOptions *o, const int32_t *ids, int n)
{
    RtModel *m = NULL;
    if (api->init(&m, o->weights, o->ctx, o->threads) != RT_OK) {
        fprintf(stderr, "error: %s\n", rt_last_error());
        return 1;
    }
    int rc = o->bench ? bench_mode(api, m, o) : prompt_mode(api, m, ids, n, o);
    api->destroy(m);
    return rc;
}

int rt_main(int argc, char **argv, const RtModelApi *api)
{
    CliOptions o = {.bench_pp = 512, .bench_tg = 128, .bench_reps = 3};
    const char *prog = argc > 0 ? argv[0] : "model";
    int rc = parse_args(&o, argc, argv, api);
    if (rc == PARSE_OK)
        rc = check_mode(&o, prog, api);
    if (rc != PARSE_OK)
        return rc;
    int n = 0;
    int32_t *ids = NULL;
    if (!o.bench) {
        ids = parse_ids(o.ids, api->vocab, &n);
        if (!ids)
            return 1;
        int ctx = o.ctx > 0 ? o.ctx : api->max_ctx;
        if (n > ctx) {
            fprintf(stderr, "error: prompt has %d tokens but the context is %d (--ctx)\n", n,
                    ctx);
            free(ids);
            return 1;
        }
    }
    rc = run_model(api, &o, ids, n);
    free(ids);
    return rc;
}
