/* fuzz_cli.c: the generated program's command line (rt_main), one argument
 * per input line, run against a stand-in model (vocab of the gpt2-bytelevel
 * test tokenizer, context 64, chunks of 8, logits a hash of position and
 * id) so every mode runs: --ids/--logits, --bench, -p/-f generation,
 * --tokenize, -i (stdin is /dev/null). The process works inside the
 * fuzzer's private directory (the working directory while rt_main runs), and arguments holding '/' are skipped, so
 * files the program writes (--logits) stay there. */
#include "fuzz.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compiler/fe.h"
#include "runtime/hetc_rt_tok.h"

enum { CTX = 64, CHUNK = 8, MAX_ARGS = 32 };

struct RtModel {
    int pos, ctx, vocab;
};
static int vocab = 256;

static RtStatus m_init(RtModel **m, const char *weights, int ctx, int threads)
{
    if (ctx < 0 || ctx > CTX) {
        rt_set_error("ctx %d out of range", ctx);
        return RT_ERR_ARG;
    }
    *m = calloc(1, sizeof **m);
    (*m)->ctx = ctx ? ctx : CTX;
    (*m)->vocab = vocab;
    return RT_OK;
}

static RtStatus m_forward(RtModel *m, const int32_t *ids, int S, int R, float *logits)
{
    FZ_CHECK(S >= 1 && S <= CHUNK && (R == 1 || R == S), "forward S=%d R=%d", S, R);
    if (m->pos + S > m->ctx) {
        rt_set_error("position %d + %d tokens is past the context of %d", m->pos, S, m->ctx);
        return RT_ERR_ARG;
    }
    for (int s = 0; s < S; s++) FZ_CHECK(ids[s] >= 0 && ids[s] < m->vocab, "id %d of %d", ids[s], m->vocab);
    for (int r = 0; r < R; r++) {
        uint32_t h = (uint32_t)(m->pos + S - R + r) * 2654435761u ^ (uint32_t)ids[S - R + r];
        for (int j = 0; j < m->vocab; j++) {
            h = h * 1103515245u + 12345u;
            logits[(size_t)r * m->vocab + j] = (float)(h >> 8) / (float)(1 << 24) * 8.0f;
        }
    }
    m->pos += S;
    return RT_OK;
}

static void m_reset(RtModel *m) { m->pos = 0; }
static int m_position(const RtModel *m) { return m->pos; }
static int m_context(const RtModel *m) { return m->ctx; }
static int m_threads(const RtModel *m) { return 1; }
static void m_destroy(RtModel *m) { free(m); }

static RtModelApi api = {
    .name = "fuzz", .max_ctx = CTX, .max_chunk = CHUNK, .weight_bytes = 1e6, .params = 1e6,
    .flops_per_token = 2e6, .init = m_init, .forward = m_forward, .reset = m_reset,
    .position = m_position, .context = m_context, .threads = m_threads, .destroy = m_destroy,
};

static void setup(void)
{
    char dir[1024], err[FE_ERR_LEN];
    snprintf(dir, sizeof dir, "%s/tests/tokenizers/gpt2-bytelevel", fz_src());
    void *blob;
    size_t bytes;
    FZ_CHECK(fe_tokenizer_from_hf(dir, &blob, &bytes, err, sizeof err) == 0, "%s", err);
    api.tokenizer_path = strdup(fz_write("tokenizer.bin", blob, bytes));
    vocab = (int)((const RtTokHeader *)blob)->n_tokens;
    api.vocab = vocab;
    free(blob);
    static const char prompt[] = "Once upon a time";
    fz_write("prompt.txt", prompt, sizeof prompt - 1);
    int null = open("/dev/null", O_RDONLY);
    dup2(null, 0);
    close(null);
    fz_quiet();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) setup(), init = 1;
    char *text = fz_strndup(data, size);
    char *argv[MAX_ARGS + 1] = {"model"};
    int argc = 1;
    for (char *line = strtok(text, "\n"); line && argc < MAX_ARGS; line = strtok(NULL, "\n")) {
        if (strchr(line, '/')) continue;
        argv[argc++] = line;
    }
    argv[argc] = NULL;
    int cwd = open(".", O_RDONLY | O_DIRECTORY);
    FZ_CHECK(cwd >= 0 && chdir(fz_tmpdir()) == 0, "cannot enter %s", fz_tmpdir());
    rt_main(argc, argv, &api);
    FZ_CHECK(fchdir(cwd) == 0, "cannot go back");
    close(cwd);
    free(text);
    return 0;
}
