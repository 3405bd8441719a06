/* fuzz_util.c: the helpers of fuzz.h: a private temporary directory, files
 * written into it, multi-file inputs split at FZ_SEP, failure reports. */
#include "fuzz.h"

#include "codegen/cg.h"
#include "passes/passes.h"
#include "runtime/hetc_rt_tok.h"
#include <math.h>

#include <ctype.h>
#include <ftw.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp_dir[512];

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void remove_tmpdir(void)
{
    nftw(tmp_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *fz_tmpdir(void)
{
    if (tmp_dir[0]) return tmp_dir;
    const char *base = getenv("HETC_FUZZ_TMP");
    snprintf(tmp_dir, sizeof tmp_dir, "%s/hetc-fuzz-%d", base && base[0] ? base : "/tmp", (int)getpid());
    if (mkdir(tmp_dir, 0700) != 0) {
        remove_tmpdir();
        if (mkdir(tmp_dir, 0700) != 0) {
            perror(tmp_dir);
            abort();
        }
    }
    atexit(remove_tmpdir);
    return tmp_dir;
}

const char *fz_write(const char *name, const void *data, size_t len)
{
    static char paths[8][1024];
    static char names[8][64];
    int slot = 0;
    while (slot < 7 && names[slot][0] && strcmp(names[slot], name) != 0) slot++;
    snprintf(names[slot], sizeof names[slot], "%s", name);
    snprintf(paths[slot], sizeof paths[slot], "%s/%s", fz_tmpdir(), name);
    FILE *f = fopen(paths[slot], "wb");
    if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0) {
        perror(paths[slot]);
        abort();
    }
    return paths[slot];
}

void fz_remove(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", fz_tmpdir(), name);
    unlink(path);
}

int fz_split(const uint8_t *data, size_t size, const uint8_t **part, size_t *len, int max)
{
    const size_t seplen = strlen(FZ_SEP);
    int n = 0;
    size_t start = 0;
    for (size_t i = 0; n < max - 1 && i + seplen <= size; i++) {
        if (memcmp(data + i, FZ_SEP, seplen) != 0) continue;
        part[n] = data + start;
        len[n++] = i - start;
        start = i + seplen;
        i = start - 1;
    }
    part[n] = data + start;
    len[n++] = size - start;
    return n;
}

char *fz_strndup(const void *data, size_t len)
{
    char *s = malloc(len + 1);
    memcpy(s, data, len);
    s[len] = 0;
    return s;
}

const char *fz_src(void)
{
    const char *src = getenv("HETC_SRC");
    return src && src[0] ? src : HETC_SOURCE_DIR;
}

void fz_quiet(void)
{
    fflush(stdout);
    int null = open("/dev/null", O_WRONLY);
    if (null < 0) return;
    dup2(null, 1);
    close(null);
}

_Noreturn void fz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s:%d: fuzz check failed: %s: %s\n", file, line, cond, msg);
    abort();
}

static void encode_decode(const RtTokenizer *t, const char *text, size_t len)
{
    const RtTokHeader *h = rt_tok_header(t);
    size_t cap = len + 16, n;
    int32_t *ids = malloc(cap * sizeof *ids);
    for (int mode = 0; mode < 4; mode++) {
        RtStatus st = rt_tok_encode(t, text, len, mode & 1, mode >> 1, ids, cap, &n);
        if (st != RT_OK) continue;
        for (size_t i = 0; i < n; i++)
            FZ_CHECK(ids[i] >= 0 && (uint32_t)ids[i] < h->n_tokens, "id %d of %u", ids[i], h->n_tokens);
        char out[256];
        size_t full = rt_tok_decode(t, ids, n, mode & 1, out, sizeof out);
        (void)full;
        for (size_t i = 0; i < n; i++) rt_tok_is_eos(t, ids[i]);
    }
    free(ids);
}

void fz_tokenizer_use(const void *blob, size_t bytes, const uint8_t *text, size_t len, int must_open)
{
    RtTokenizer *t;
    RtStatus st = rt_tok_open_mem(&t, blob, bytes);
    FZ_CHECK(st == RT_OK || !must_open, "the compiler's tokenizer.bin does not open: %s", rt_last_error());
    if (st != RT_OK) return;
    static const char *const texts[] = {
        "Hello world", " leading space and  double", "caf\xc3\xa9 na\xc3\xafve \xe6\x97\xa5\xe6\x9c\xac 123456",
        "<s>[INST] hi [/INST]</s><|im_start|>user\n<|endoftext|>", "\xff\xfe invalid \xc3", "",
    };
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) encode_decode(t, texts[i], strlen(texts[i]));
    if (len) encode_decode(t, (const char *)text, len);
    int32_t ids[4] = {0, 1, (int32_t)rt_tok_header(t)->n_tokens - 1, -1};
    char out[64];
    rt_tok_decode(t, ids, 3, 0, out, sizeof out);
    rt_tok_close(t);
}

/* An inf or nan literal in C code: the word, not part of an identifier,
 * outside comments and string and character literals. */
static int has_nonfinite_literal(const char *text)
{
    for (const char *p = text; *p; p++) {
        if (p[0] == '/' && p[1] == '*') {
            const char *e = strstr(p + 2, "*/");
            if (!e) return 0;
            p = e + 1;
        } else if (p[0] == '/' && p[1] == '/') {
            while (p[1] && p[1] != '\n') p++;
        } else if (*p == '"' || *p == '\'') {
            char q = *p;
            while (p[1] && p[1] != q) p += p[1] == '\\' && p[2] ? 2 : 1;
            if (!p[1]) return 0;
            p++;
        } else if (isalpha((unsigned char)*p) || *p == '_') {
            const char *w = p;
            while (isalnum((unsigned char)p[1]) || p[1] == '_') p++;
            size_t n = (size_t)(p + 1 - w);
            if (n == 3 && (strncasecmp(w, "inf", 3) == 0 || strncasecmp(w, "nan", 3) == 0)) return 1;
        }
    }
    return 0;
}

int fz_compile_and_run(const FeArch *arch, const FeConfig *config, const FeWeights *w, const FeTarget *target,
                       int check)
{
    PassDiag diag = {0};
    PassCtx c = {.arch = arch, .config = config, .weights = w, .model_name = "fuzz", .model_dir = fz_tmpdir(),
                 .target = target, .weight_dtype = -1, .max_chunk = 16, .diag = &diag};
    IrGraph g;
    ir_graph_init(&g, "fuzz", arch->name);
    int rc = pass_run_pipeline(&g, &c, "lower,fuse,dce,place,transfers,group,memplan", NULL, NULL);
    char err[FE_ERR_LEN];
    if (rc == 0) {
        char rtdir[1024];
        snprintf(rtdir, sizeof rtdir, "%s/runtime", fz_src());
        CgOptions o = {.outdir = fz_tmpdir(), .target = target, .command = "fuzz", .runtime_dir = rtdir};
        rc = cg_emit_c(&g, &o, cg_model_hash(&g), err, sizeof err);
        FZ_CHECK(rc == 0, "codegen failed on an accepted graph: %s", err);
        char path[1024];
        snprintf(path, sizeof path, "%s/model.c", fz_tmpdir());
        size_t len;
        char *text = fe_read_file(path, &len, err, sizeof err);
        FZ_CHECK(text, "%s", err);
        FZ_CHECK(!check || !has_nonfinite_literal(text), "model.c has an inf or nan literal");
        free(text);
    }
    if (rc == 0) {
        FeF32Cache wc = {.w = w};
        int vocab = (int)ir_graph_int(&g, "vocab", 0), ctx = (int)ir_graph_int(&g, "max_ctx", 0);
        FZ_CHECK(vocab > 0 && ctx > 0, "vocab %d, max_ctx %d", vocab, ctx);
        IrInterp *it = ir_interp_new(&g, fe_weights_f32, &wc, ctx < 32 ? ctx : 32, err, sizeof err);
        if (!it) rc = -1;
        const int32_t ids[3] = {1, 2, 3};
        int S = ctx < 3 ? ctx : 3;
        float *logits = malloc((size_t)S * vocab * sizeof(float));
        if (it && ir_interp_step(it, ids, S, logits, err, sizeof err) == 0) {
            for (size_t i = 0; check && i < (size_t)S * vocab; i++)
                FZ_CHECK(isfinite(logits[i]), "logit %zu is %g", i, logits[i]);
        } else {
            rc = -1;
        }
        free(logits);
        ir_interp_free(it);
        fe_f32_cache_free(&wc);
    }
    ir_graph_free(&g);
    return rc;
}

static FeWeights tiny_weights;
static FeConfig *tiny_config;

static void tiny_model(void)
{
    if (tiny_config) return;
    char err[FE_ERR_LEN], dir[1024], path[1100];
    snprintf(dir, sizeof dir, "%s/tiny", fz_tmpdir());
    FeSynthOpts o = {.preset = "tiny", .dtype = -1, .seed = 1, .tie = -1};
    FZ_CHECK(fe_synth(dir, &o, err, sizeof err) == 0, "%s", err);
    FZ_CHECK(fe_weights_open_dir(&tiny_weights, dir, err, sizeof err) == 0, "%s", err);
    snprintf(path, sizeof path, "%s/config.json", dir);
    tiny_config = fe_config_load(path, err, sizeof err);
    FZ_CHECK(tiny_config, "%s", err);
}

const FeWeights *fz_tiny_weights(void)
{
    tiny_model();
    return &tiny_weights;
}

const FeConfig *fz_tiny_config(void)
{
    tiny_model();
    return tiny_config;
}
