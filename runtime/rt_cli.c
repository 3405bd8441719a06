/* rt_cli.c: the command line of every generated model program (rt_main).
 *
 *   model [-m WEIGHTS] [-t N] [--ctx N] --ids 1,5,9 --logits FILE [--batch N]
 *       runs the prompt and writes the logits of every prompt position to
 *       FILE (raw little-endian f32, vocab values per row).
 *   model [-m WEIGHTS] [-t N] [--ctx N] --bench [--bench-pp N] [--bench-tg M]
 *         [--bench-reps K]
 *       prints llama-bench-style prompt-processing / generation speeds.
 *   model [options] -p TEXT | -f FILE [-n N] [sampling options]
 *       continues the text: only the continuation goes to stdout, streamed
 *       as it comes; the speeds go to stderr.
 *   model [options] -i [-n N] [sampling options]
 *       chats on stdin/stdout in the tokenizer's chat format, keeping the
 *       conversation in the KV cache.
 *   model --tokenize TEXT [--no-special]
 *       prints the token ids of TEXT on one line.
 *   model [options] --perplexity FILE [--ppl-ids] [--ppl-window N]
 *         [--ppl-score half|all]
 *       prints the perplexity of the text (or token ids) of FILE, in
 *       llama-perplexity's way (rt_ppl.c).
 *   model [options] --profile FILE
 *       measures the model's linears on each unit of this machine and
 *       writes profile.json for hetc compile --profile (rt_profile.c).
 *
 * Exit codes: 0 success, 1 runtime error (bad ids, init failure, ...),
 * 2 usage error. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "hetc_rt_tok.h"
#include "hetc_rt_sample.h"
#include "rt_npu.h"
#include "rt_ppl.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

typedef struct {
    const char *weights;    /* -m; NULL: the compiled default */
    int threads;            /* -t; 0: the target's default */
    int ctx;                /* --ctx; 0: max_ctx */
    const char *ids;        /* --ids, comma-separated token ids */
    const char *logits;     /* --logits output file */
    int batch;              /* --batch; 0: max_chunk */
    int bench;              /* --bench given */
    int bench_bandwidth;    /* --bench-bandwidth given */
    int paths;              /* --paths given */
    int work_area;          /* --work-area given */
    int bench_pp;           /* --bench-pp: prompt tokens */
    int bench_tg;           /* --bench-tg: generated tokens */
    int bench_reps;         /* --bench-reps */
    const char *prompt;     /* -p */
    const char *prompt_file;    /* -f */
    const char *tokenize;   /* --tokenize */
    int no_special;         /* --no-special */
    int interactive;        /* -i */
    const char *tok;        /* --tok; NULL: the compiled default */
    int n_predict;          /* -n; -1: 128 for -p/-f, no limit for -i */
    RtSamplerParams sampling;   /* --temp, --top-k, --top-p, --min-p, --repeat-penalty */
    const char *seed;       /* --seed; NULL: from the clock */
    int ignore_eos;         /* --ignore-eos */
    const char *perplexity; /* --perplexity FILE */
    const char *profile;    /* --profile FILE */
    int ppl_ids;            /* --ppl-ids: FILE holds token ids */
    int ppl_window;         /* --ppl-window; 0: DEFAULT_PPL_WINDOW */
    const char *ppl_score;  /* --ppl-score half|all; NULL: half */
} CliOptions;

typedef enum { VAL_STR, VAL_INT, VAL_FLOAT } ValueKind;

typedef struct {
    const char *name;
    ValueKind kind;
    void *dst;              /* const char *, int or float */
    double min, max;        /* accepted numbers */
    const char *why;        /* what the maximum is, or NULL */
} ValueOption;

typedef struct {
    const char *name;
    int *dst;               /* set to 1 when given */
} FlagOption;

typedef enum {
    MODE_NONE = -1, MODE_LOGITS, MODE_BENCH, MODE_GENERATE, MODE_TOKENIZE, MODE_CHAT, MODE_PPL, MODE_PROFILE, MODE_PATHS
} Mode;

enum {
    EXIT_USAGE = 2, PARSE_OK = -1, DEFAULT_PREDICT = 128, REPEAT_LAST_N = 64,
    MAX_THREADS = 1024, MAX_BENCH_REPS = 100, DEFAULT_PPL_WINDOW = 512, MAX_PPL_WINDOW = 1 << 20,
};

static void usage(FILE *f, const char *prog, const RtModelApi *api)
{
    fprintf(f,
            "usage: %s [options] -p TEXT | -f FILE [-n N] [sampling options]\n"
            "       %s [options] -i [-n N] [sampling options]\n"
            "       %s --tokenize TEXT [--no-special]\n"
            "       %s [options] --ids 1,5,9 --logits FILE\n"
            "       %s [options] --bench [--bench-pp N] [--bench-tg M] [--bench-reps K]\n"
            "       %s [options] --perplexity FILE [--ppl-ids] [--ppl-window N] [--ppl-score half|all]\n"
            "       %s [options] --profile FILE\n"
            "       %s --paths\n"
            "Runs the compiled model '%s' (vocabulary %d, context up to %d).\n"
            "  -m WEIGHTS       weights file (default: the path compiled in)\n"
            "  -t THREADS       threads (default: the target's; at most %d)\n"
            "  --ctx N          context in tokens (default and maximum: %d)\n"
            "  --tok FILE       tokenizer.bin (default: %s)\n"
            "  -p TEXT          continue TEXT; only the continuation is printed\n"
            "  -f FILE          continue the text of FILE\n"
            "  -i               chat: read a message per line, answer it\n"
            "  -n N             tokens to generate, at most the context (default 128 with -p/-f,\n"
            "                   until the context is full with -i)\n"
            "  --temp T         temperature, 0 to 100 (default 0.8; 0: greedy)\n"
            "  --top-k K        keep the K most likely tokens (default 40; 0: all)\n"
            "  --top-p P        keep the most likely tokens up to probability P (default 0.95)\n"
            "  --min-p P        drop tokens less likely than P x the most likely (default 0.05)\n"
            "  --repeat-penalty R  penalise the last 64 tokens, 0.01 to 100 (default 1.0: off)\n"
            "  --seed S         random seed (default: from the clock, printed)\n"
            "  --ignore-eos     go on past the end-of-text token\n"
            "  --tokenize TEXT  print the token ids of TEXT (with the special ones\n"
            "                   unless --no-special)\n"
            "  --ids LIST       prompt token ids, comma-separated\n"
            "  --logits FILE    write the logits of every prompt position to FILE\n"
            "                   (raw little-endian float32, %d values per position)\n"
            "  --batch N        feed the prompt in pieces of at most N tokens (default\n"
            "                   and maximum: %d)\n"
            "  --bench          measure prompt processing (pp) and generation (tg) speed\n"
            "  --bench-pp N     prompt tokens of the pp test (default 512, 0: skip)\n"
            "  --bench-tg M     generated tokens of the tg test (default 128, 0: skip)\n"
            "  --bench-reps K   repetitions of each test (default 3, at most %d)\n"
            "  --bench-bandwidth  measure the device's copy bandwidth and fp32 FMA peak;\n"
            "                   with --bench, also the fraction of them the model reaches\n"
            "  --perplexity FILE  perplexity of the text of FILE, llama-perplexity's way: windows\n"
            "                   of N tokens, each from an empty cache (its first token BOS when the\n"
            "                   tokenizer adds one); prints P +/- its error on stdout\n"
            "  --ppl-ids        FILE holds whitespace-separated token ids instead of text\n"
            "  --ppl-window N   tokens per window (default %d; at most the context)\n"
            "  --ppl-score half|all  score the second half of each window (default, as\n"
            "                   llama-perplexity) or every position\n"
            "  --profile FILE   measure the model's linears on each unit of this machine and\n"
            "                   write FILE (profile.json, for hetc compile --profile)\n"
            "  --paths          print the instruction paths this cpu takes in each kind of kernel\n"
            "  --work-area      at the end, print how much of a firmware build's work area\n"
            "                   (MODEL_WORK_BYTES, hetc compile --work-bytes) the run took\n"
            "  -h, --help       show this help\n",
            prog, prog, prog, prog, prog, prog, prog, prog, api->name, api->vocab, api->max_ctx, MAX_THREADS, api->max_ctx,
            api->tokenizer_path    ? api->tokenizer_path
            : api->tokenizer_image ? "the one linked in"
                                   : "none compiled in",
            api->vocab, api->max_chunk,
            MAX_BENCH_REPS, DEFAULT_PPL_WINDOW);
}

/* Which instructions each kind of cpu kernel runs on this machine (--paths,
 * and after --bench's table). */
static void print_paths(FILE *f)
{
    fprintf(f, "cpu kernels of float weights (f32, f16, bf16): %s\n", rt_kernels_isa());
    const char *q = rt_quant_isa();
    if (strcmp(q, "sdot") == 0)     /* sdot takes two of the types */
        fprintf(f, "cpu kernels of block weights: q8_0, q4_0 (layout r16): sdot path; q4_1, q5_0, q5_1, q4_k, "
                   "q5_k, q6_k: scalar path\n");
    else
        fprintf(f, "cpu kernels of block weights (q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k): %s path\n", q);
    RtNpu *npu = NULL;
    if (rt_npu_emu.open(&npu, 1) == RT_OK) {
        fprintf(f, "npu-emu int8 linears: %s path\n", rt_npu_emu.path(npu));
        rt_npu_emu.close(npu);
    } else {
        fprintf(f, "npu-emu int8 linears: %s\n", rt_last_error());
    }
}

/* Whole-string decimal integer in [min, max]. */
static int parse_int(const char *s, long min, long max, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return 0;
    *out = (int)v;
    return 1;
}

/* Whole-string finite number in [min, max]. */
static int parse_float(const char *s, double min, double max, float *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < min || v > max)
        return 0;
    *out = (float)v;
    return 1;
}

/* Whole-string decimal integer in [0, 2^64). */
static int parse_seed(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] < '0' || s[0] > '9')
        return 0;
    *out = (uint64_t)v;
    return 1;
}

static int set_value(const ValueOption *opt, const char *val)
{
    if (opt->kind == VAL_STR) {
        *(const char **)opt->dst = val;
        return PARSE_OK;
    }
    int ok = opt->kind == VAL_INT ? parse_int(val, (long)opt->min, (long)opt->max, opt->dst)
                                  : parse_float(val, opt->min, opt->max, opt->dst);
    if (!ok) {
        fprintf(stderr, "error: %s expects %s from %.15g to %.15g%s%s%s, got '%s'\n", opt->name,
                opt->kind == VAL_INT ? "an integer" : "a number", opt->min, opt->max,
                opt->why ? " (" : "", opt->why ? opt->why : "", opt->why ? ")" : "", val);
        return EXIT_USAGE;
    }
    return PARSE_OK;
}

static int set_flag(CliOptions *o, const char *a)
{
    const FlagOption flags[] = {
        {"--bench", &o->bench}, {"--bench-bandwidth", &o->bench_bandwidth},
        {"--no-special", &o->no_special}, {"-i", &o->interactive},
        {"--ignore-eos", &o->ignore_eos}, {"--ppl-ids", &o->ppl_ids}, {"--paths", &o->paths},
        {"--work-area", &o->work_area},
    };
    for (size_t j = 0; j < sizeof flags / sizeof *flags; j++) {
        if (!strcmp(a, flags[j].name)) {
            *flags[j].dst = 1;
            return 1;
        }
    }
    return 0;
}

/* Parses argv into o; returns PARSE_OK or the exit code to return now.
 * Every number has a range: counts of tokens are bounded by the compiled
 * context (nothing can run for ever), --batch by the compiled chunk. */
static int parse_args(CliOptions *o, int argc, char **argv, const RtModelApi *api)
{
    RtSamplerParams *sp = &o->sampling;
    const double ctx = api->max_ctx, vocab = api->vocab;
    const char *in_ctx = "the compiled context";
    const ValueOption opts[] = {
        {"-m", VAL_STR, &o->weights, 0, 0, NULL},
        {"-t", VAL_INT, &o->threads, 1, MAX_THREADS, NULL},
        {"--ctx", VAL_INT, &o->ctx, 1, ctx, in_ctx},
        {"--ids", VAL_STR, &o->ids, 0, 0, NULL},
        {"--logits", VAL_STR, &o->logits, 0, 0, NULL},
        {"--batch", VAL_INT, &o->batch, 1, api->max_chunk, "the compiled chunk"},
        {"--bench-pp", VAL_INT, &o->bench_pp, 0, ctx, in_ctx},
        {"--bench-tg", VAL_INT, &o->bench_tg, 0, ctx, in_ctx},
        {"--bench-reps", VAL_INT, &o->bench_reps, 1, MAX_BENCH_REPS, NULL},
        {"-p", VAL_STR, &o->prompt, 0, 0, NULL},
        {"-f", VAL_STR, &o->prompt_file, 0, 0, NULL},
        {"--tokenize", VAL_STR, &o->tokenize, 0, 0, NULL},
        {"--tok", VAL_STR, &o->tok, 0, 0, NULL},
        {"-n", VAL_INT, &o->n_predict, 0, ctx, in_ctx},
        {"--seed", VAL_STR, &o->seed, 0, 0, NULL},
        {"--temp", VAL_FLOAT, &sp->temp, 0, 100, NULL},
        {"--top-k", VAL_INT, &sp->top_k, 0, vocab, "the vocabulary"},
        {"--top-p", VAL_FLOAT, &sp->top_p, 0, 1, NULL},
        {"--min-p", VAL_FLOAT, &sp->min_p, 0, 1, NULL},
        {"--repeat-penalty", VAL_FLOAT, &sp->repeat_penalty, 0.01, 100, NULL},
        {"--perplexity", VAL_STR, &o->perplexity, 0, 0, NULL},
        {"--profile", VAL_STR, &o->profile, 0, 0, NULL},
        {"--ppl-window", VAL_INT, &o->ppl_window, 2, MAX_PPL_WINDOW, NULL},
        {"--ppl-score", VAL_STR, &o->ppl_score, 0, 0, NULL},
    };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout, argv[0], api);
            return 0;
        }
        if (set_flag(o, a))
            continue;
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

/* The one mode the options ask for, or the exit code for a usage error. */
static int pick_mode(const CliOptions *o, const char *prog, const RtModelApi *api, Mode *mode)
{
    static const char *const names[] = {"--ids/--logits", "--bench", "-p/-f", "--tokenize", "-i", "--perplexity",
                                        "--profile", "--paths"};
    const int given[] = {o->ids || o->logits, o->bench || o->bench_bandwidth, o->prompt || o->prompt_file,
                         o->tokenize != NULL, o->interactive, o->perplexity != NULL, o->profile != NULL, o->paths};
    *mode = MODE_NONE;
    for (int m = 0; m < (int)(sizeof given / sizeof *given); m++) {
        if (!given[m])
            continue;
        if (*mode != MODE_NONE) {
            fprintf(stderr, "error: %s cannot be combined with %s\n", names[*mode], names[m]);
            return EXIT_USAGE;
        }
        *mode = (Mode)m;
    }
    if (*mode == MODE_NONE) {
        usage(stderr, prog, api);
        return EXIT_USAGE;
    }
    return PARSE_OK;
}

/* The mode the options ask for must be complete and unambiguous. */
static int check_mode(const CliOptions *o, const char *prog, const RtModelApi *api, Mode *mode)
{
    int rc = pick_mode(o, prog, api, mode);
    if (rc != PARSE_OK)
        return rc;
    if (*mode == MODE_LOGITS && (!o->ids || !o->logits)) {
        fprintf(stderr, "error: --ids and --logits go together\n");
        usage(stderr, prog, api);
        return EXIT_USAGE;
    }
    if (o->prompt && o->prompt_file) {
        fprintf(stderr, "error: -p and -f cannot be combined\n");
        return EXIT_USAGE;
    }
    if (*mode != MODE_PPL && (o->ppl_ids || o->ppl_window || o->ppl_score)) {
        fprintf(stderr, "error: --ppl-ids, --ppl-window and --ppl-score go with --perplexity\n");
        return EXIT_USAGE;
    }
    if (o->ppl_score && strcmp(o->ppl_score, "half") && strcmp(o->ppl_score, "all")) {
        fprintf(stderr, "error: --ppl-score expects half or all, got '%s'\n", o->ppl_score);
        return EXIT_USAGE;
    }
    uint64_t seed;
    if (o->seed && !parse_seed(o->seed, &seed)) {
        fprintf(stderr, "error: --seed expects an integer from 0 to %llu, got '%s'\n", ULLONG_MAX, o->seed);
        return EXIT_USAGE;
    }
    return PARSE_OK;
}

/* Token ids from "1,5,9" into a malloc'd array; prints the error itself. */
static int32_t *parse_ids(const char *list, int vocab, int *n_out)
{
    int n = 1;
    for (const char *c = list; *c; c++)
        n += *c == ',';
    int32_t *ids = rt_alloc((size_t)n * sizeof *ids);
    if (!ids) {
        fprintf(stderr, "error: reading %d token ids: %s\n", n, rt_last_error());
        return NULL;
    }
    const char *p = list;
    for (int i = 0; i < n; i++) {
        size_t len = strcspn(p, ",");
        char tok[32];
        int v;
        snprintf(tok, sizeof tok, "%.*s", (int)len, p);     /* too long: rejected below */
        if (len == 0 || len >= sizeof tok || !parse_int(tok, 0, vocab - 1, &v)) {
            fprintf(stderr,
                    "error: --ids: item %d ('%.*s') is not a token id (0..%d, the vocabulary "
                    "has %d tokens)\n",
                    i + 1, (int)len, p, vocab - 1, vocab);
            rt_free(ids);
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
    float *logits = rt_alloc((size_t)batch * (size_t)api->vocab * sizeof *logits);
    if (!logits) {
        fprintf(stderr, "error: %d rows of logits: %s\n", batch, rt_last_error());
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
    rt_free(logits);
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
    int batch = o->batch > 0 ? o->batch : api->max_chunk;
    if (batch > n && n > 0) batch = n;  /* rows of logits held at once */
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
    double wall;            /* seconds of every repetition */
    double busy_host, busy_device;  /* of which each unit computed (api->busy) */
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
    double sum = 0.0, sum2 = 0.0, host0 = 0, dev0 = 0, host1 = 0, dev1 = 0;
    r->wall = 0;
    if (api->busy)
        api->busy(m, &host0, &dev0);
    for (int i = 0; i < reps; i++) {
        double t = bench_once(api, m, r->tokens, chunk, ids, logits);
        if (t < 0)
            return forward_failed();
        r->wall += t;
        double tps = r->tokens / t;
        sum += tps;
        sum2 += tps * tps;
    }
    if (api->busy)
        api->busy(m, &host1, &dev1);
    r->busy_host = host1 - host0;
    r->busy_device = dev1 - dev0;
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
        if (api->busy && res[i].wall > 0)
            printf("%s%d: busy: host %.0f%%, %s %.0f%% of %.2f s\n", res[i].kind, res[i].tokens,
                   100 * res[i].busy_host / res[i].wall, api->device, 100 * res[i].busy_device / res[i].wall,
                   res[i].wall);
    }
}

/* Runs the pp and tg tests; the results of those run go to res[0..*n). */
static int bench_mode(const RtModelApi *api, RtModel *m, const CliOptions *o, BenchResult *out, int *nout)
{
    int ctx = api->context(m);
    int most = o->bench_pp > o->bench_tg ? o->bench_pp : o->bench_tg;
    if (most > ctx) {
        fprintf(stderr, "error: the benchmark needs a context of %d tokens but the context is "
                "%d (--ctx)\n", most, ctx);
        return 1;
    }
    int32_t *ids = rt_alloc((size_t)(most > 0 ? most : 1) * sizeof *ids);
    float *logits = rt_alloc((size_t)api->vocab * sizeof *logits);
    BenchResult res[2] = {{.kind = "pp", .tokens = o->bench_pp}, {.kind = "tg", .tokens = o->bench_tg}};
    int rc = 0;
    if (!ids || !logits) {
        fprintf(stderr, "error: %s\n", rt_last_error());
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
    if (rc == 0) {
        print_table(api, m, res, n);
        char line[512];
        if (api->describe) {
            api->describe(m, line, sizeof line);
            printf("%s\n", line);
        }
        print_paths(stdout);
        struct rusage ru;
        if (getrusage(RUSAGE_SELF, &ru) == 0)
            printf("peak resident memory: %.1f MB\n", ru.ru_maxrss / 1024.0);
    }
    memcpy(out, res, sizeof res);
    *nout = rc == 0 ? n : 0;
    rt_free(ids);
    rt_free(logits);
    return rc;
}

/* ---- tokenizer ---- */

static RtTokenizer *open_tokenizer(const RtModelApi *api, const CliOptions *o)
{
    const char *path = o->tok ? o->tok : api->tokenizer_path;
    RtTokenizer *t;
    if (!o->tok && api->tokenizer_image) {     /* linked in (a firmware build) */
        if (rt_tok_open_mem(&t, api->tokenizer_image, api->tokenizer_image_bytes) != RT_OK) {
            fprintf(stderr, "error: the tokenizer linked in: %s\n", rt_last_error());
            return NULL;
        }
        return t;
    }
    if (!path) {
        fprintf(stderr, "error: the model '%s' was compiled without a tokenizer: give one with --tok FILE "
                "(or token ids with --ids or --ppl-ids)\n", api->name);
        return NULL;
    }
    if (rt_tok_open(&t, path) != RT_OK) {
        fprintf(stderr, "error: %s\n", rt_last_error());
        return NULL;
    }
    return t;
}

/* A growing list of token ids. */
typedef struct {
    int32_t *ids;
    size_t n, cap;
} IdList;

/* Room for more ids after l->n; prints the error itself. */
static int reserve_ids(IdList *l, size_t more)
{
    if (l->n + more <= l->cap)
        return 0;
    int32_t *p = rt_realloc(l->ids, (l->n + more) * sizeof *p);
    if (!p) {
        fprintf(stderr, "error: %zu token ids: %s\n", l->n + more, rt_last_error());
        return 1;
    }
    l->ids = p;
    l->cap = l->n + more;
    return 0;
}

/* Appends the tokens of text to l; prints the error itself. */
static int encode_append(const RtTokenizer *t, IdList *l, const char *text, size_t len, int add_special,
                         int parse_special)
{
    size_t n = len + 16;
    for (;;) {
        if (reserve_ids(l, n))
            return 1;
        RtStatus st = rt_tok_encode(t, text, len, add_special, parse_special, l->ids + l->n, l->cap - l->n, &n);
        if (st == RT_OK) {
            l->n += n;
            return 0;
        }
        if (st != RT_ERR_ARG || n <= l->cap - l->n) {
            fprintf(stderr, "error: cannot tokenize the text: %s\n", rt_last_error());
            return 1;
        }
    }
}

static int append_ids(IdList *l, const int32_t *ids, size_t n)
{
    if (n == 0)
        return 0;
    if (reserve_ids(l, n))
        return 1;
    memcpy(l->ids + l->n, ids, n * sizeof *ids);
    l->n += n;
    return 0;
}

static int tokenize_mode(const RtModelApi *api, const CliOptions *o)
{
    RtTokenizer *t = open_tokenizer(api, o);
    if (!t)
        return 1;
    IdList l = {0};
    int special = !o->no_special;
    int rc = encode_append(t, &l, o->tokenize, strlen(o->tokenize), special, special);
    for (size_t i = 0; rc == 0 && i < l.n; i++)
        printf("%s%d", i ? " " : "", l.ids[i]);
    if (rc == 0)
        printf("\n");
    rt_free(l.ids);
    rt_tok_close(t);
    return rc;
}

/* Whole file as a NUL-terminated malloc'd buffer; prints the error itself. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "error: cannot read %s: %s\n", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t cap = 0, got = 1;
    *len = 0;
    while (got > 0) {
        if (*len + 1 >= cap) {
            size_t bigger = cap ? 2 * cap : 65536;
            char *p = rt_realloc(buf, bigger);
            if (!p)
                break;
            buf = p;
            cap = bigger;
        }
        got = fread(buf + *len, 1, cap - *len - 1, f);
        *len += got;
    }
    int ok = got == 0 && !ferror(f);
    fclose(f);
    if (!ok) {
        fprintf(stderr, "error: cannot read %s: %s\n", path, got ? rt_last_error() : strerror(errno));
        rt_free(buf);
        return NULL;
    }
    buf[*len] = 0;
    return buf;
}

/* ---- streaming text ---- */

/* The text of the reply so far, printed as far as it can no longer change:
 * an unfinished UTF-8 character, or the U+FFFD an unfinished byte sequence
 * decodes to for now, waits for the next tokens. */
typedef struct {
    char *text;             /* the decode of the reply's tokens */
    size_t cap;
    char *shown;            /* what was printed */
    size_t n_shown, shown_cap;
    int32_t *visible;       /* [ctx + 1] the reply's tokens that are text */
} Stream;

/* End of the part of text[0..len) that more tokens cannot change. */
static size_t stable_end(const char *text, size_t len)
{
    size_t end = rt_utf8_complete(text, len);
    while (end >= 3 && memcmp(text + end - 3, "\xEF\xBF\xBD", 3) == 0)
        end -= 3;
    return end;
}

/* Decodes ids, leaving out special tokens other than byte tokens. */
static int decode_reply(Stream *st, const RtTokenizer *t, const int32_t *ids, size_t n, size_t *len)
{
    const RtTokHeader *h = rt_tok_header(t);
    const RtTokEntry *entries = (const RtTokEntry *)((const char *)h + h->tokens_off);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned flags = (uint32_t)ids[i] < h->n_tokens ? entries[ids[i]].flags : 0;
        if (!(flags & RT_TOK_SPECIAL) || (flags & RT_TOK_BYTE))
            st->visible[k++] = ids[i];
    }
    *len = rt_tok_decode(t, st->visible, k, 0, st->text, st->cap);
    if (*len <= st->cap)
        return 0;
    char *p = rt_realloc(st->text, 2 * *len);
    if (!p)
        return 1;
    st->text = p;
    st->cap = 2 * *len;
    rt_tok_decode(t, st->visible, k, 0, st->text, st->cap);
    return 0;
}

/* Prints what is new and settled in the decode of the reply ids (all of it
 * when final). */
static int stream_show(Stream *st, const RtTokenizer *t, const int32_t *ids, size_t n, int final)
{
    size_t len;
    if (decode_reply(st, t, ids, n, &len))
        return 1;
    size_t end = final ? len : stable_end(st->text, len);
    if (end <= st->n_shown || (st->n_shown > 0 && memcmp(st->text, st->shown, st->n_shown) != 0))
        return 0;
    if (end > st->shown_cap) {
        char *p = rt_realloc(st->shown, 2 * end);
        if (!p)
            return 1;
        st->shown = p;
        st->shown_cap = 2 * end;
    }
    fwrite(st->text + st->n_shown, 1, end - st->n_shown, stdout);
    fflush(stdout);
    memcpy(st->shown + st->n_shown, st->text + st->n_shown, end - st->n_shown);
    st->n_shown = end;
    return 0;
}

static void stream_free(Stream *st)
{
    rt_free(st->text);
    rt_free(st->shown);
    rt_free(st->visible);
}

/* ---- generation ---- */

/* A model and its tokenizer producing text. */
typedef struct {
    const RtModelApi *api;
    RtModel *m;
    const RtTokenizer *tok;
    const CliOptions *o;
    RtSampler *sampler;
    int ctx;
    float *logits;          /* [vocab] of the last token fed */
    int32_t *history;       /* [ctx + 1] tokens fed, then at most one sampled one */
    int n_history;
    int fed;                /* history tokens in the KV cache */
    Stream stream;
    int prompt_tokens, gen_tokens;
    double prompt_secs, gen_secs;
} Session;

typedef enum { STOP_LIMIT, STOP_EOS, STOP_FULL, STOP_ERROR } Stop;

static uint64_t clock_seed(void)
{
    return (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull ^ (uint64_t)(rt_now() * 1e9);
}

static int session_open(Session *s, const RtModelApi *api, const RtTokenizer *tok, const CliOptions *o)
{
    memset(s, 0, sizeof *s);
    s->api = api;
    s->tok = tok;
    s->o = o;
    if (api->init(&s->m, o->weights, o->ctx, o->threads) != RT_OK) {
        s->m = NULL;
        fprintf(stderr, "error: %s\n", rt_last_error());
        return 1;
    }
    s->ctx = api->context(s->m);
    RtSamplerParams p = o->sampling;
    p.seed = clock_seed();
    if (o->seed)
        parse_seed(o->seed, &p.seed);
    else if (p.temp > 0.0f)
        fprintf(stderr, "seed: %llu\n", (unsigned long long)p.seed);
    size_t slots = (size_t)s->ctx + 1;
    s->logits = rt_alloc((size_t)api->vocab * sizeof *s->logits);
    s->history = rt_alloc(slots * sizeof *s->history);
    s->stream.visible = rt_alloc(slots * sizeof *s->stream.visible);
    if (!s->logits || !s->history || !s->stream.visible) {
        fprintf(stderr, "error: a context of %d tokens: %s\n", s->ctx, rt_last_error());
        return 1;
    }
    if (rt_sampler_create(&s->sampler, &p, api->vocab) != RT_OK) {
        fprintf(stderr, "error: %s\n", rt_last_error());
        return 1;
    }
    return 0;
}

static void session_close(Session *s)
{
    if (s->m)
        s->api->destroy(s->m);
    rt_sampler_destroy(s->sampler);
    rt_free(s->logits);
    rt_free(s->history);
    stream_free(&s->stream);
}

/* Feeds the history tokens not in the cache yet, max_chunk at a time;
 * the logits of the last one are kept. */
static int feed(Session *s)
{
    while (s->fed < s->n_history) {
        int S = s->n_history - s->fed < s->api->max_chunk ? s->n_history - s->fed : s->api->max_chunk;
        if (s->api->forward(s->m, s->history + s->fed, S, 1, s->logits) != RT_OK)
            return forward_failed();
        s->fed += S;
    }
    return 0;
}

/* A tokenizer of another model (--tok) may give ids past the model's
 * vocabulary; prints the error itself. */
static int check_vocab(const int32_t *ids, size_t n, int vocab)
{
    for (size_t i = 0; i < n; i++) {
        if (ids[i] >= vocab) {
            fprintf(stderr, "error: the tokenizer gives token id %d but the model has %d tokens (is --tok the "
                    "model's tokenizer?)\n", (int)ids[i], vocab);
            return 1;
        }
    }
    return 0;
}

/* Appends ids to the history and feeds them, timed as prompt. */
static int feed_prompt(Session *s, const int32_t *ids, size_t n)
{
    if (check_vocab(ids, n, s->api->vocab))
        return 1;
    memcpy(s->history + s->n_history, ids, n * sizeof *ids);
    s->n_history += (int)n;
    double t0 = rt_now();
    int rc = feed(s);
    s->prompt_secs += rt_now() - t0;
    s->prompt_tokens += (int)n;
    return rc;
}

/* Samples up to limit tokens (< 0: no limit) and streams their text; the
 * last one sampled stays out of the cache, an end token out of the history. */
static Stop generate(Session *s, int limit)
{
    int start = s->n_history, n = 0;
    Stop why = STOP_LIMIT;
    double t0 = rt_now();
    s->stream.n_shown = 0;
    while (limit < 0 || n < limit) {
        if (n > 0 && s->fed >= s->ctx) {
            why = STOP_FULL;
            break;
        }
        if (n > 0 && feed(s)) {
            why = STOP_ERROR;
            break;
        }
        int32_t id = rt_sampler_sample(s->sampler, s->logits, s->history, s->n_history);
        if (!s->o->ignore_eos && rt_tok_is_eos(s->tok, id)) {
            why = STOP_EOS;
            break;
        }
        s->history[s->n_history++] = id;
        n++;
        if (stream_show(&s->stream, s->tok, s->history + start, (size_t)n, 0)) {
            why = STOP_ERROR;
            break;
        }
    }
    if (stream_show(&s->stream, s->tok, s->history + start, (size_t)n, 1) && why != STOP_ERROR) {
        fprintf(stderr, "error: decoding the text: %s\n", rt_last_error());
        why = STOP_ERROR;
    }
    s->gen_secs += rt_now() - t0;
    s->gen_tokens += n;
    return why;
}

static double per_second(int n, double secs)
{
    return secs > 0 ? n / secs : 0.0;
}

static int generate_mode(const RtModelApi *api, const CliOptions *o, const RtTokenizer *tok)
{
    size_t len = 0;
    char *file = o->prompt_file ? read_file(o->prompt_file, &len) : NULL;
    const char *text = o->prompt_file ? file : o->prompt;
    IdList prompt = {0};
    Session s;
    if (!text || encode_append(tok, &prompt, text, o->prompt_file ? len : strlen(text), 1, 1)) {
        rt_free(file);
        return 1;
    }
    rt_free(file);
    int rc = session_open(&s, api, tok, o);
    if (rc == 0 && prompt.n == 0) {
        fprintf(stderr, "error: the prompt has no tokens to start from\n");
        rc = 1;
    } else if (rc == 0 && prompt.n > (size_t)s.ctx) {
        fprintf(stderr, "error: prompt has %zu tokens but the context is %d (--ctx)\n", prompt.n, s.ctx);
        rc = 1;
    }
    Stop why = STOP_ERROR;
    if (rc == 0 && (rc = feed_prompt(&s, prompt.ids, prompt.n)) == 0)
        why = generate(&s, o->n_predict < 0 ? DEFAULT_PREDICT : o->n_predict);
    if (rc == 0 && why == STOP_FULL)
        fprintf(stderr, "\nnote: the context (%d tokens) is full\n", s.ctx);
    if (rc == 0 && why != STOP_ERROR)
        fprintf(stderr, "\nprompt: %d tokens, %.1f t/s; generation: %d tokens, %.1f t/s\n", s.prompt_tokens,
                per_second(s.prompt_tokens, s.prompt_secs), s.gen_tokens, per_second(s.gen_tokens, s.gen_secs));
    session_close(&s);
    rt_free(prompt.ids);
    return rc == 0 && why == STOP_ERROR ? 1 : rc;
}

/* ---- chat ---- */

/* How a chat format wraps the user's message and ends the model's turn. */
typedef struct {
    const char *before, *after;     /* around the message */
    const char *end_of_reply;       /* closes the model's turn before the next message */
} ChatTemplate;

static const ChatTemplate chat_templates[] = {
    [RT_CHAT_NONE] = {"", "\n", "\n"},
    [RT_CHAT_CHATML] = {"<|im_start|>user\n", "<|im_end|>\n<|im_start|>assistant\n", "<|im_end|>\n"},
    [RT_CHAT_LLAMA2] = {"[INST] ", " [/INST]", " </s>"},
    [RT_CHAT_LLAMA3] = {"<|start_header_id|>user<|end_header_id|>\n\n",
                        "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", "<|eot_id|>"},
};

/* The tokens of one user turn: the end of the previous reply, the
 * tokenizer's prefix (BOS) at the start (and before every turn of Llama 2),
 * the wrapped message. */
static int turn_tokens(const RtTokenizer *tok, const char *msg, int first, IdList *out)
{
    const RtTokHeader *h = rt_tok_header(tok);
    const ChatTemplate *c = &chat_templates[h->chat_format];
    out->n = 0;
    if (!first && encode_append(tok, out, c->end_of_reply, strlen(c->end_of_reply), 0, 1))
        return 1;
    if ((first || h->chat_format == RT_CHAT_LLAMA2) && append_ids(out, h->prefix, h->n_prefix))
        return 1;
    const char *bos = first && h->chat_format == RT_CHAT_LLAMA3 && h->n_prefix == 0 ? "<|begin_of_text|>" : "";
    size_t len = strlen(bos) + strlen(c->before) + strlen(msg) + strlen(c->after);
    char *text = rt_alloc(len + 1);
    if (!text) {
        fprintf(stderr, "error: %s\n", rt_last_error());
        return 1;
    }
    snprintf(text, len + 1, "%s%s%s%s", bos, c->before, msg, c->after);
    int rc = encode_append(tok, out, text, len, 0, 1);
    rt_free(text);
    return rc;
}

/* Feeds one user message after the conversation so far, starting it over
 * when the context cannot hold both; 1 if it could not be fed. */
static int chat_turn(Session *s, const char *msg, IdList *turn)
{
    int first = s->n_history == 0;
    if (turn_tokens(s->tok, msg, first, turn))
        return 1;
    if (!first && (size_t)s->n_history + turn->n > (size_t)s->ctx) {
        fprintf(stderr, "[the context (%d tokens) is full: starting a new conversation]\n", s->ctx);
        s->api->reset(s->m);
        s->n_history = s->fed = 0;
        if (turn_tokens(s->tok, msg, 1, turn))
            return 1;
    }
    if (turn->n > (size_t)s->ctx) {
        fprintf(stderr, "error: the message takes %zu tokens but the context is %d (--ctx)\n", turn->n, s->ctx);
        return 1;
    }
    return feed_prompt(s, turn->ids, turn->n);
}

/* One line of stdin into *line (grown with rt_realloc), without its end of
 * line; -1 at the end of input or when out of memory. */
static long read_line(char **line, size_t *cap)
{
    size_t len = 0;
    for (;;) {
        if (*cap - len < 2) {
            size_t bigger = *cap ? 2 * *cap : 256;
            char *p = rt_realloc(*line, bigger);
            if (!p) return -1;
            *line = p;
            *cap = bigger;
        }
        if (!fgets(*line + len, (int)(*cap - len), stdin)) return len ? (long)len : -1;
        len += strlen(*line + len);
        if (len && (*line)[len - 1] == '\n') break;
    }
    while (len > 0 && ((*line)[len - 1] == '\n' || (*line)[len - 1] == '\r'))
        (*line)[--len] = 0;
    return (long)len;
}

static int chat_mode(const RtModelApi *api, const CliOptions *o, const RtTokenizer *tok)
{
    Session s;
    IdList turn = {0};
    char *line = NULL;
    size_t cap = 0;
    int rc = session_open(&s, api, tok, o);
    while (rc == 0) {
        printf("> ");
        fflush(stdout);
        long len = read_line(&line, &cap);
        if (len < 0) {
            printf("\n");
            break;
        }
        if (len == 0 || chat_turn(&s, line, &turn))
            continue;
        Stop why = generate(&s, o->n_predict);
        printf("\n");
        fflush(stdout);
        if (why == STOP_FULL)
            fprintf(stderr, "[the context (%d tokens) is full]\n", s.ctx);
        rc = why == STOP_ERROR;
    }
    rt_free(line);
    rt_free(turn.ids);
    session_close(&s);
    return rc;
}

/* ---- main ---- */

static int ids_mode(const RtModelApi *api, const CliOptions *o)
{
    int n = 0;
    int32_t *ids = parse_ids(o->ids, api->vocab, &n);
    if (!ids)
        return 1;
    int ctx = o->ctx > 0 ? o->ctx : api->max_ctx;
    int rc = 1;
    RtModel *m = NULL;
    if (n > ctx) {
        fprintf(stderr, "error: prompt has %d tokens but the context is %d (--ctx)\n", n, ctx);
    } else if (api->init(&m, o->weights, o->ctx, o->threads) != RT_OK) {
        fprintf(stderr, "error: %s\n", rt_last_error());
    } else {
        rc = prompt_mode(api, m, ids, n, o);
        api->destroy(m);
    }
    rt_free(ids);
    return rc;
}

/* --bench-bandwidth: the device's limits, and with --bench how close the
 * model comes: decode streams the weights once per token, prefill does
 * flops_per_token per token. */
static int bandwidth_mode(const RtModelApi *api, RtModel *m, const BenchResult *res, int n)
{
    double copy = 0, peak = 0;
    if (!api->measure) {
        fprintf(stderr, "error: --bench-bandwidth: this model runs on the cpu; there is no device to measure\n");
        return 1;
    }
    if (api->measure(m, &copy, &peak) != RT_OK) {
        fprintf(stderr, "error: %s\n", rt_last_error());
        return 1;
    }
    printf("device copy bandwidth: %.1f GB/s (clEnqueueCopyBuffer, read + write)\n", copy);
    printf("device fp32 FMA peak:  %.1f GFLOP/s\n", peak);
    for (int i = 0; i < n; i++) {
        if (res[i].kind[0] == 't')
            printf("%s%d: weights %.2f GB x %.2f t/s = %.1f GB/s = %.0f%% of copy bandwidth\n", res[i].kind,
                   res[i].tokens, api->weight_bytes / 1e9, res[i].mean, api->weight_bytes * res[i].mean / 1e9,
                   100.0 * api->weight_bytes * res[i].mean / 1e9 / copy);
        else
            printf("%s%d: %.2f TFLOP/s = %.0f%% of fp32 FMA peak\n", res[i].kind, res[i].tokens,
                   api->flops_per_token * res[i].mean / 1e12, 100.0 * api->flops_per_token * res[i].mean / 1e9 / peak);
    }
    return 0;
}

static int bench_main(const RtModelApi *api, const CliOptions *o)
{
    RtModel *m = NULL;
    if (api->init(&m, o->weights, o->ctx, o->threads) != RT_OK) {
        fprintf(stderr, "error: %s\n", rt_last_error());
        return 1;
    }
    BenchResult res[2];
    int n = 0, rc = o->bench ? bench_mode(api, m, o, res, &n) : 0;
    if (rc == 0 && o->bench_bandwidth)
        rc = bandwidth_mode(api, m, res, n);
    api->destroy(m);
    return rc;
}

/* The tokens of --perplexity's file: its ids (--ppl-ids), or its text
 * tokenized as llama-perplexity does (with the tokenizer's BOS and EOS,
 * special tokens as text); *bos: the BOS the tokenizer adds, or -1. */
static int ppl_tokens(const RtModelApi *api, const CliOptions *o, const char *text, size_t len, IdList *l,
                      int32_t *bos)
{
    *bos = -1;
    if (o->ppl_ids) {
        if (rt_ppl_parse_ids(text, len, o->perplexity, api->vocab, &l->ids, &l->n) == RT_OK)
            return 0;
        fprintf(stderr, "error: %s\n", rt_last_error());
        return 1;
    }
    RtTokenizer *tok = open_tokenizer(api, o);
    if (!tok)
        return 1;
    const RtTokHeader *h = rt_tok_header(tok);
    if (h->bos_id >= 0 && h->n_prefix > 0 && h->prefix[0] == h->bos_id)
        *bos = h->bos_id;
    int rc = encode_append(tok, l, text, len, 1, 0) || check_vocab(l->ids, l->n, api->vocab);
    rt_tok_close(tok);
    return rc;
}

/* --perplexity: the model's context is the window unless --ctx says. */
static int ppl_mode(const RtModelApi *api, const CliOptions *o)
{
    RtPplParams p = {o->perplexity, o->ppl_window > 0 ? o->ppl_window : DEFAULT_PPL_WINDOW,
                     o->ppl_score && !strcmp(o->ppl_score, "all") ? RT_PPL_ALL : RT_PPL_HALF, -1};
    IdList l = {0};
    size_t len = 0;
    char *text = read_file(o->perplexity, &len);
    int rc = !text || ppl_tokens(api, o, text, len, &l, &p.bos);
    rt_free(text);
    RtModel *m = NULL;
    int ctx = o->ctx > 0 ? o->ctx : p.window < api->max_ctx ? p.window : api->max_ctx;
    if (rc == 0 && api->init(&m, o->weights, ctx, o->threads) != RT_OK) {
        m = NULL;
        fprintf(stderr, "error: %s\n", rt_last_error());
        rc = 1;
    }
    if (rc == 0 && rt_ppl_run(api, m, l.ids, l.n, &p) != RT_OK) {
        fprintf(stderr, "error: %s\n", rt_last_error());
        rc = 1;
    }
    if (m)
        api->destroy(m);
    rt_free(l.ids);
    return rc;
}

/* -p/-f and -i: the tokenizer first, so that a missing one fails early. */
static int text_mode(const RtModelApi *api, const CliOptions *o, Mode mode)
{
    RtTokenizer *tok = open_tokenizer(api, o);
    if (!tok)
        return 1;
    int rc = mode == MODE_CHAT ? chat_mode(api, o, tok) : generate_mode(api, o, tok);
    rt_tok_close(tok);
    return rc;
}

/* --profile FILE: the model's own linear shapes on each of its units. */
static int profile_mode(const RtModelApi *api, const CliOptions *o)
{
    RtModel *m = NULL;
    if (!api->profile) {
        fprintf(stderr, "error: --profile: this model was compiled without a profiler\n");
        return 1;
    }
    double t0 = rt_now();
    RtStatus st = api->init(&m, o->weights, o->ctx, o->threads);
    if (st == RT_OK) st = api->profile(m, o->profile);
    if (st != RT_OK) fprintf(stderr, "error: %s\n", rt_last_error());
    else fprintf(stderr, "wrote %s in %.1f s\n", o->profile, rt_now() - t0);
    if (m) api->destroy(m);
    return st == RT_OK ? 0 : 1;
}

int rt_main(int argc, char **argv, const RtModelApi *api)
{
    CliOptions o = {
        .bench_pp = 512, .bench_tg = 128, .bench_reps = 3, .n_predict = -1,
        .sampling = {.temp = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f, .repeat_penalty = 1.0f,
                     .repeat_last_n = REPEAT_LAST_N},
    };
    const char *prog = argc > 0 ? argv[0] : "model";
    Mode mode = MODE_NONE;
    int rc = parse_args(&o, argc, argv, api);
    if (rc == PARSE_OK)
        rc = check_mode(&o, prog, api, &mode);
    if (rc != PARSE_OK)
        return rc;
    switch (mode) {
    case MODE_LOGITS: rc = ids_mode(api, &o); break;
    case MODE_BENCH: rc = bench_main(api, &o); break;
    case MODE_TOKENIZE: rc = tokenize_mode(api, &o); break;
    case MODE_PPL: rc = ppl_mode(api, &o); break;
    case MODE_PROFILE: rc = profile_mode(api, &o); break;
    case MODE_PATHS: rc = (print_paths(stdout), 0); break;
    default: rc = text_mode(api, &o, mode); break;
    }
    size_t capacity, peak = rt_mem_peak(&capacity);
    if (o.work_area && capacity)
        fprintf(stderr, "work area: peak %zu of %zu bytes (%.0f%%, MODEL_WORK_BYTES)\n", peak, capacity,
                100.0 * (double)peak / (double)capacity);
    else if (o.work_area)
        fprintf(stderr, "work area: none (not a firmware build: the runtime's memory comes from the heap)\n");
    return rc;
}
