/* test_e2e_gguf.c: GGUF models in (compiler/fe_gguf_model.c).
 *
 * Each fixture is written as a GGUF file by tests/gguf_write.py, with
 * gguf-py from llama.cpp's source in $HETC_SHARED/peers: llama.cpp's
 * tensor names, metadata keys and q/k row permutation, and beside it the
 * float model that file holds (gguf-py's dequantisation, Hugging Face
 * layout). Then:
 *   - F32, F16 and BF16 files of every fixture (shared and tests/fixtures):
 *     hetc run on the GGUF gives the logits of hetc run on that float model
 *     within 1e-4 (relative L2 per position), and at F32 the reference's;
 *   - every block type (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K .. Q6_K) of
 *     trained-llama (rows of 256: the K-quants are real there) and of
 *     qwen2-tiny, likewise;
 *   - compiled programs: floats within 1e-4, the block types the cpu runs
 *     with int8 activations within a few percent (test_compiled);
 *   - hetc's quantisation gives the GGUF's bytes (test_quantise_same_bytes);
 *   - perplexity on trained-llama's held-out windows (test_perplexity);
 *   - the embedded vocabulary tokenizes the fixtures' tokenizer cases to
 *     the reference ids;
 *   - broken files (unknown architecture, missing key, foreign tensor,
 *     unsupported type, wrong layer count, truncation) give one clear error
 *     naming the file and the key or tensor.
 */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static const char *const FLOAT_TYPES[] = {"f32", "f16", "bf16"};
static const char *const BLOCK_TYPES[] = {"q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k"};

/* gguf-py, unpacked once from the llama.cpp snapshot in shared/peers. */
static const char *gguf_py(void)
{
    static char dir[4096];
    if (dir[0]) return dir;
    const char *root = tu_tmpdir("gguf-py");
    char *log;
    if (tu_run(&log, "tar xJf %s/peers/llama.cpp-*.tar.xz -C %s gguf-py", tu_shared(), root))
        fail_msg("unpacking gguf-py from %s/peers:\n%s", tu_shared(), log);
    free(log);
    snprintf(dir, sizeof dir, "%s/gguf-py", root);
    return dir;
}

/* Writes fixture fix as a GGUF of type t into a fresh directory; returns it
 * (model.gguf and ref/ inside). */
static const char *write_gguf(const char *fix, const char *name, const char *t)
{
    const char *out = tu_tmpdir(tu_fmt("gguf-%s-%s", name, t));
    char *log;
    if (tu_run(&log, "/usr/bin/python3 %s/tests/gguf_write.py %s %s %s %s", tu_src(), fix, out, t, gguf_py()))
        fail_msg("gguf_write.py %s %s:\n%s", name, t, log);
    free(log);
    return out;
}

/* The first prompt's ids of a reference.json ("1,2,3") and its logits. */
typedef struct {
    char ids[1 << 14];
    int n, vocab;
    float *logits;      /* [n, vocab] */
} Prompt;

static void load_prompt(const char *fix, Prompt *p)
{
    json_object *root = json_object_from_file(tu_fmt("%s/reference.json", fix));
    if (!root) fail_msg("%s/reference.json: cannot parse", fix);
    json_object *pr = json_object_array_get_idx(json_object_object_get(root, "prompts"), 0);
    json_object *ids = json_object_object_get(pr, "ids"), *lg = json_object_object_get(pr, "logits");
    p->n = (int)json_object_array_length(ids);
    p->vocab = (int)json_object_array_length(json_object_array_get_idx(lg, 0));
    p->logits = malloc((size_t)p->n * p->vocab * sizeof *p->logits);
    size_t k = 0;
    for (int s = 0; s < p->n; s++) {
        k += snprintf(p->ids + k, sizeof p->ids - k, "%s%d", s ? "," : "", json_object_get_int(json_object_array_get_idx(ids, s)));
        json_object *row = json_object_array_get_idx(lg, s);
        for (int v = 0; v < p->vocab; v++)
            p->logits[(size_t)s * p->vocab + v] = (float)json_object_get_double(json_object_array_get_idx(row, v));
    }
    json_object_put(root);
}

/* Logits of `hetc run model --ids` (or of a built program) into a buffer. */
static float *logits_of(const char *cmd_fmt, const char *model, const Prompt *p, const char *file)
{
    char *log;
    if (tu_run(&log, cmd_fmt, model, p->ids, file)) fail_msg("%s failed:\n%s", model, log);
    free(log);
    size_t len;
    float *l = (float *)tu_read_file(file, &len);
    assert_non_null(l);
    assert_int_equal(len, (size_t)p->n * p->vocab * sizeof(float));
    return l;
}

/* Worst relative L2 error over positions of got against ref. */
static double worst_rel(const float *got, const float *ref, const Prompt *p)
{
    double worst = 0;
    for (int s = 0; s < p->n; s++) {
        double num = 0, den = 0;
        for (int v = 0; v < p->vocab; v++) {
            double r = ref[(size_t)s * p->vocab + v], d = got[(size_t)s * p->vocab + v] - r;
            num += d * d;
            den += r * r;
        }
        double rel = sqrt(num / den);
        worst = rel > worst || rel != rel ? rel : worst;
    }
    return worst;
}

/* hetc run of fixture fix as a GGUF of type t against hetc run of the float
 * model it holds (and, at f32, against the reference). */
static void check_run(const char *fix, const char *name, const char *t)
{
    Prompt p;
    load_prompt(fix, &p);
    const char *dir = write_gguf(fix, name, t);
    const char *run = tu_fmt("%s run %%s --ids %%s --logits %%s", tu_hetc());
    float *got = logits_of(run, tu_fmt("%s/model.gguf", dir), &p, tu_fmt("%s/a.bin", dir));
    float *ref = logits_of(run, tu_fmt("%s/ref", dir), &p, tu_fmt("%s/b.bin", dir));
    double rel = worst_rel(got, ref, &p);
    printf("  %-24s %-5s %3d positions: GGUF vs its float model %.2e", name, t, p.n, rel);
    if (!(rel < 1e-4)) fail_msg("%s %s: relative L2 %.3g against the dequantised float model", name, t, rel);
    if (strcmp(t, "f32") == 0) {
        double r2 = worst_rel(got, p.logits, &p);
        printf(", vs reference %.2e", r2);
        if (!(r2 < 1e-4)) fail_msg("%s f32: relative L2 %.3g against reference.json", name, r2);
    }
    printf("\n");
    free(got);
    free(ref);
    free(p.logits);
}

static void float_types(const char *root, const char *name, void *ctx)
{
    (void)ctx;
    for (size_t i = 0; i < sizeof FLOAT_TYPES / sizeof *FLOAT_TYPES; i++)
        check_run(tu_fmt("%s/%s", root, name), name, FLOAT_TYPES[i]);
}

static void test_float_types(void **state)
{
    assert_true(tu_each_fixture(tu_fmt("%s/fixtures", tu_shared()), float_types, NULL) >= 4);
    assert_true(tu_each_fixture(tu_fmt("%s/tests/fixtures", tu_src()), float_types, NULL) >= 4);
}

static void test_block_types(void **state)
{
    static const char *const fixtures[] = {"trained-llama", "qwen2-tiny"};
    for (int f = 0; f < 2; f++)
        for (size_t i = 0; i < sizeof BLOCK_TYPES / sizeof *BLOCK_TYPES; i++)
            check_run(tu_fmt("%s/fixtures/%s", tu_shared(), fixtures[f]), fixtures[f], BLOCK_TYPES[i]);
}

/* hetc compile of a GGUF for a target into a built program in DIR/proj;
 * returns its path. */
static const char *build(const char *dir, const char *gguf, const char *target)
{
    char *log;
    if (tu_run(&log, "%s compile %s --target %s/targets/%s.xml -o %s/proj && cmake -S %s/proj -B %s/proj/build "
               "-DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build %s/proj/build >/dev/null",
               tu_hetc(), gguf, tu_src(), target, dir, dir, dir, dir))
        fail_msg("compiling %s:\n%s", gguf, log);
    free(log);
    return tu_fmt("%s/proj/build/model", dir);
}

/* Compiled programs against hetc run of the float model the GGUF holds.
 * F16 runs as floats: within 1e-4. The block types the cpu runs as blocks
 * (q8_0, q4_0, q4_k, q5_k, q6_k; q4_1, q5_0, q5_1 in layout r16) quantise
 * activations to int8 per block of 32, as llama.cpp does: within a few
 * percent, the same next token at nearly every position (their judge is
 * perplexity, test_perplexity); a type it has no kernels for (q3_k) is
 * dequantised: within 1e-4 again. The OpenCL
 * unit (PoCL here) runs q8_0 and q4_0 blocks in layout g4 where rows are
 * whole groups of 128 values (trained-llama; llama-outliers' linears but
 * its down projection, 320 wide), else as plain blocks (qwen2-tiny). With
 * float activations, the float forward within 1e-4: gemm (the prompt at
 * once), the fused gemv launches of several tokens (--batch 4) and those
 * of plain blocks, and q8_0's one-token launches (--batch 1). Those of
 * q4_0 in g4 take int8 activations (pass place's xdtype=q8_0), as the
 * cpu's: within a few percent, some 5% on llama-outliers, whose outlier
 * channels int8 blocks of 32 serve worst. */
static void test_compiled(void **state)
{
    static const struct {
        const char *fixture, *type, *target, *batch;
        double tol, agree;      /* relative L2; least share of positions with the same argmax */
    } cases[] = {{"llama-tiny", "f16", "host-cpu", "", 1e-4, 1},
                 {"trained-llama", "q3_k", "host-cpu", "", 1e-4, 1},
                 {"qwen2-tiny", "q5_1", "host-cpu", "", 5e-2, 0.9},
                 {"trained-llama", "q4_1", "host-cpu", "", 5e-2, 0.9},
                 {"llama-tiny", "q5_0", "host-cpu", "", 5e-2, 0.9},
                 {"llama-tiny", "q4_0", "host-cpu", "", 5e-2, 0.9},
                 {"qwen2-tiny", "q8_0", "host-cpu", "", 5e-2, 0.9},
                 {"trained-llama", "q4_k", "host-cpu", "", 5e-2, 0.9},
                 {"trained-llama", "q5_k", "host-cpu", "", 5e-2, 0.9},
                 {"trained-llama", "q6_k", "host-cpu", "", 5e-2, 0.9},
                 {"llama-outliers", "q4_0", "host-opencl", "", 1e-4, 1},
                 {"llama-outliers", "q4_0", "host-opencl", "--batch 1", 1e-1, 0.8},   /* outlier channels */
                 {"trained-llama", "q8_0", "host-opencl", "", 1e-4, 1},
                 {"trained-llama", "q8_0", "host-opencl", "--batch 4", 1e-4, 1},
                 {"trained-llama", "q8_0", "host-opencl", "--batch 1", 1e-4, 1},
                 {"qwen2-tiny", "q8_0", "host-opencl", "--batch 1", 1e-4, 1}};
    char dir[4096] = "", model[4096] = "";
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *fix = tu_fmt("%s/fixtures/%s", tu_shared(), cases[i].fixture);
        Prompt p;
        load_prompt(fix, &p);
        int again = i > 0 && strcmp(cases[i].fixture, cases[i - 1].fixture) == 0 &&
                    strcmp(cases[i].type, cases[i - 1].type) == 0 && strcmp(cases[i].target, cases[i - 1].target) == 0;
        if (!again) {   /* tu_fmt's buffers are a ring: keep copies */
            snprintf(dir, sizeof dir, "%s", write_gguf(fix, cases[i].fixture, cases[i].type));
            snprintf(model, sizeof model, "%s", build(dir, tu_fmt("%s/model.gguf", dir), cases[i].target));
        }
        float *got = logits_of(tu_fmt("%%s --ids %%s --logits %%s %s", cases[i].batch), model, &p, tu_fmt("%s/a.bin", dir));
        float *ref = logits_of(tu_fmt("%s run %%s --ids %%s --logits %%s", tu_hetc()), tu_fmt("%s/ref", dir), &p,
                               tu_fmt("%s/b.bin", dir));
        int same = 0;
        for (int s = 0; s < p.n; s++) {
            int a = 0, b = 0;
            for (int v = 1; v < p.vocab; v++) {
                a = got[(size_t)s * p.vocab + v] > got[(size_t)s * p.vocab + a] ? v : a;
                b = ref[(size_t)s * p.vocab + v] > ref[(size_t)s * p.vocab + b] ? v : b;
            }
            same += a == b;
        }
        double rel = worst_rel(got, ref, &p);
        printf("  compiled %-15s %-5s %-11s %-9s: relative L2 %.2e, next token the same at %d of %d positions\n",
               cases[i].fixture, cases[i].type, cases[i].target, cases[i].batch, rel, same, p.n);
        if (!(rel < cases[i].tol) || same < cases[i].agree * p.n)
            fail_msg("compiled %s %s for %s %s: relative L2 %.3g (limit %g), argmax equal at %d of %d",
                     cases[i].fixture, cases[i].type, cases[i].target, cases[i].batch, rel, cases[i].tol, same, p.n);
        free(got);
        free(ref);
        free(p.logits);
    }
}

/* hetc's own quantisation (--weight-dtype on the Hugging Face model) gives
 * the bytes of the GGUF that gguf-py wrote, whose quantisers round as
 * llama-quantize's reference ones do (checked against llama-quantize
 * --pure: identical q8_0 and q4_0 tensors). The types without cpu kernels
 * land as f32: the same values. */
static void test_quantise_same_bytes(void **state)
{
    static const char *const types[] = {"q8_0", "q4_0", "q4_1", "q5_0", "q5_1"};
    const char *fix = tu_fmt("%s/fixtures/trained-llama", tu_shared());
    for (int i = 0; i < 5; i++) {
        const char *dir = write_gguf(fix, "trained-llama", types[i]);
        char *log;
        if (tu_run(&log, "%s compile %s/model.gguf --target %s/targets/host-cpu.xml --no-tokenizer -o %s/a && "
                   "%s compile %s --target %s/targets/host-cpu.xml --no-tokenizer --weight-dtype %s -o %s/b",
                   tu_hetc(), dir, tu_src(), dir, tu_hetc(), fix, tu_src(), types[i], dir))
            fail_msg("compiling %s:\n%s", types[i], log);
        free(log);
        size_t la, lb;
        unsigned char *a = (unsigned char *)tu_read_file(tu_fmt("%s/a/weights.bin", dir), &la);
        unsigned char *b = (unsigned char *)tu_read_file(tu_fmt("%s/b/weights.bin", dir), &lb);
        assert_non_null(a);
        assert_non_null(b);
        uint64_t oa, ob;        /* RtWeightsHeader.data_offset */
        memcpy(&oa, a + 24, 8);
        memcpy(&ob, b + 24, 8);
        if (la - oa != lb - ob || memcmp(a + oa, b + ob, la - oa))
            fail_msg("%s: the weights hetc quantised differ from the GGUF's", types[i]);
        printf("  %-5s: %zu bytes of weights, identical\n", types[i], la - oa);
        free(a);
        free(b);
    }
}

/* hetc's quantisers against llama-quantize itself (--pure, no importance
 * matrix), every type hetc quantises to, K-quants included: the sha256 of
 * each tensor of weights.bin, hetc's own against those of the file
 * llama-quantize wrote laid out as weights.bin (tests/data, written by
 * scripts/quant_reference.sh: llama.cpp is not built here). Tensors of a
 * type the cpu has no kernels for are compared as the f32 values of their
 * blocks. */
static void test_quantise_llama_quantize(void **state)
{
    char *ref = tu_read_file(tu_fmt("%s/tests/data/llama-quantize-trained-llama.txt", tu_src()), NULL);
    assert_non_null(ref);
    char fix[4096];     /* tu_fmt's buffers are a ring, reused by the loop below */
    snprintf(fix, sizeof fix, "%s/fixtures/trained-llama", tu_shared());
    static const char *const types[] = {"q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q4_k", "q5_k", "q6_k"};
    for (int i = 0; i < 8; i++) {
        const char *dir = tu_tmpdir(tu_fmt("llama-quantize-%s", types[i]));
        char *log;
        if (tu_run(&log, "%s compile %s --target %s/targets/host-cpu.xml --no-tokenizer --weight-dtype %s -o %s/p && "
                   "/usr/bin/python3 %s/tests/weights_digest.py %s/p/weights.bin > %s/digest.txt",
                   tu_hetc(), fix, tu_src(), types[i], dir, tu_src(), dir, dir))
            fail_msg("quantising to %s:\n%s", types[i], log);
        free(log);
        char *got = tu_read_file(tu_fmt("%s/digest.txt", dir), NULL);  /* before the ring wraps */
        assert_non_null(got);
        int n = 0, blocks = 0;
        for (char *line = got, *end; *line; line = end + 1, n++) {
            end = strchr(line, '\n');
            assert_non_null(end);
            *end = 0;
            const char *want = strstr(ref, tu_fmt("\n%s %s\n", types[i], line));
            if (!want) {
                char name[128];
                sscanf(line, "%127s", name);
                fail_msg("%s: tensor %s: hetc's bytes are not llama-quantize's (%s)", types[i], name, line);
            }
            blocks += strstr(line, tu_fmt(" %s ", types[i])) != NULL;
        }
        const char *p = ref;
        int want_n = 0;
        while ((p = strstr(p, tu_fmt("\n%s ", types[i])))) want_n++, p++;
        printf("  %-5s: %d tensors (%d as blocks) as llama-quantize writes them\n", types[i], n, blocks);
        assert_int_equal(n, want_n);
        free(got);
    }
    free(ref);
}

/* Perplexity on trained-llama's held-out windows (--ppl-ids), the program
 * compiled from GGUF files: q8_0 within 0.5% of the f32 file's, q4_0
 * within 5% (against llama.cpp on the same file it is within 1%: see
 * docs/PERF.md; llama.cpp is not built here). */
static void test_perplexity(void **state)
{
    const char *fix = tu_fmt("%s/fixtures/trained-llama", tu_shared());
    json_object *root = json_object_from_file(tu_fmt("%s/reference.json", fix));
    json_object *wins = json_object_object_get(json_object_object_get(root, "heldout"), "windows");
    assert_non_null(wins);
    static char text[1 << 16];
    size_t k = 0;
    for (size_t w = 0; w < json_object_array_length(wins); w++) {
        json_object *win = json_object_array_get_idx(wins, w);
        for (size_t i = 0; i < json_object_array_length(win); i++)
            k += (size_t)snprintf(text + k, sizeof text - k, "%d%s", json_object_get_int(json_object_array_get_idx(win, i)),
                                  i + 1 < json_object_array_length(win) ? " " : "\n");
    }
    json_object_put(root);
    static const char *const types[] = {"f32", "q8_0", "q4_0"};
    double ppl[3];
    for (int i = 0; i < 3; i++) {
        const char *dir = write_gguf(fix, "trained-llama", types[i]);
        tu_write_file(tu_fmt("%s/heldout.txt", dir), text, k);
        char *out;
        const char *model = build(dir, tu_fmt("%s/model.gguf", dir), "host-cpu");
        int rc = tu_run(&out, "%s --perplexity %s/heldout.txt --ppl-ids --ppl-window 256", model, dir);
        const char *line = strstr(out, "perplexity: ");
        if (rc || !line || sscanf(line, "perplexity: %lf", &ppl[i]) != 1)
            fail_msg("perplexity of %s:\n%s", types[i], out);
        free(out);
        printf("  %-5s perplexity %.4f (%+.2f%% against f32)\n", types[i], ppl[i], 100 * (ppl[i] / ppl[0] - 1));
    }
    if (!(fabs(ppl[1] / ppl[0] - 1) < 0.005)) fail_msg("q8_0: %.4f against f32 %.4f", ppl[1], ppl[0]);
    if (!(fabs(ppl[2] / ppl[0] - 1) < 0.05)) fail_msg("q4_0: %.4f against f32 %.4f", ppl[2], ppl[0]);
}

/* Tokenizes each {text, ids} of cases with the GGUF's vocabulary; returns how many. */
static int check_cases(const char *dir, const char *name, json_object *cases)
{
    int n = cases ? (int)json_object_array_length(cases) : 0;
    for (int i = 0; i < n; i++) {
        json_object *c = json_object_array_get_idx(cases, i), *ids = json_object_object_get(c, "ids");
        const char *text = json_object_get_string(json_object_object_get(c, "text"));
        tu_write_file(tu_fmt("%s/text.txt", dir), text, strlen(text));
        char want[1 << 14] = "", *out;
        size_t k = 0;
        for (size_t j = 0; j < json_object_array_length(ids); j++)
            k += snprintf(want + k, sizeof want - k, "%s%d", j ? " " : "", json_object_get_int(json_object_array_get_idx(ids, j)));
        if (tu_run(&out, "%s tokenize %s/model.gguf --file %s/text.txt", tu_hetc(), dir, dir))
            fail_msg("hetc tokenize %s:\n%s", name, out);
        out[strcspn(out, "\n")] = 0;
        if (strcmp(out, want)) fail_msg("%s: '%s': got '%s', want '%s'", name, text, out, want);
        free(out);
    }
    return n;
}

/* The GGUF's own vocabulary against the reference's tokenizer cases and prompts. */
static void test_tokenizer(void **state)
{
    static const char *const fixtures[] = {"llama-tiny", "qwen2-tiny", "trained-llama"};
    for (int f = 0; f < 3; f++) {
        const char *fix = tu_fmt("%s/fixtures/%s", tu_shared(), fixtures[f]);
        const char *dir = write_gguf(fix, fixtures[f], "f16");
        json_object *root = json_object_from_file(tu_fmt("%s/reference.json", fix));
        int n = check_cases(dir, fixtures[f], json_object_object_get(root, "tokenizer_cases"));
        n += check_cases(dir, fixtures[f], json_object_object_get(root, "prompts"));
        assert_true(n >= 3);
        printf("  %-14s %d texts tokenized by the GGUF's vocabulary as the reference does\n", fixtures[f], n);
        json_object_put(root);
    }
}

/* A copy of file src with the first occurrence of bytes from replaced by
 * to (same length, or to == NULL: the file cut at that point). */
static void patched(const char *src, const char *dst, const void *from, size_t n, const void *to)
{
    size_t len;
    char *buf = tu_read_file(src, &len);
    assert_non_null(buf);
    char *at = memmem(buf, len, from, n);
    if (!at) fail_msg("%s: pattern not found", src);
    if (to) memcpy(at, to, n);
    tu_write_file(dst, buf, to ? len : (size_t)(at - buf));
    free(buf);
}

static void expect_error(const char *file, const char *want)
{
    char *out;
    int rc = tu_run(&out, "%s inspect %s", tu_hetc(), file);
    if (rc == 0 || !strstr(out, want) || !strstr(out, file))
        fail_msg("hetc inspect %s: rc %d, wanted an error with '%s' naming the file:\n%s", file, rc, want, out);
    printf("  %s", out);
    free(out);
}

static void test_errors(void **state)
{
    const char *dir = write_gguf(tu_fmt("%s/fixtures/llama-tiny", tu_shared()), "llama-tiny", "q4_0");
    const char *src = tu_fmt("%s/model.gguf", dir);
    const char *f = tu_fmt("%s/bad.gguf", dir);
    patched(src, f, "\x05\0\0\0\0\0\0\0llama", 13, "\x05\0\0\0\0\0\0\0gemma");
    expect_error(f, "key 'general.architecture': 'gemma' is not supported");
    patched(src, f, "llama.block_count", 17, "llama.block_cnuot");
    expect_error(f, "key 'llama.block_count': missing");
    patched(src, f, "blk.1.ffn_up.weight", 19, "blk.1.ffn_xx.weight");
    expect_error(f, "tensor 'blk.1.ffn_xx.weight': not a tensor of the llama layout");
    /* the type of blk.0.attn_q.weight (after its name, rank and two dims): Q4_0 -> IQ4_NL, same block size */
    size_t len;
    char *buf = tu_read_file(src, &len);
    char *at = memmem(buf, len, "blk.0.attn_q.weight", 19);
    assert_non_null(at);
    uint32_t type;
    memcpy(&type, at + 19 + 4 + 16, 4);
    assert_int_equal(type, 2);
    type = 20;
    memcpy(at + 19 + 4 + 16, &type, 4);
    tu_write_file(f, buf, len);
    free(buf);
    expect_error(f, "tensor 'blk.0.attn_q.weight': type IQ4_NL is not supported");
    /* block_count 2 -> 3: the third layer's tensors are missing */
    patched(src, f, "llama.block_count\x04\0\0\0\x02\0\0\0", 25, "llama.block_count\x04\0\0\0\x03\0\0\0");
    expect_error(f, "is missing");
    patched(src, f, "blk.1.ffn_up.weight", 19, NULL);
    expect_error(f, "truncated");
}

/* argv[1]: only the tests of that name. */
int main(int argc, char **argv)
{
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_float_types), cmocka_unit_test(test_block_types),         cmocka_unit_test(test_compiled),
        cmocka_unit_test(test_quantise_same_bytes), cmocka_unit_test(test_quantise_llama_quantize),
        cmocka_unit_test(test_perplexity), cmocka_unit_test(test_tokenizer),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
