/* test_cli_errors.c: bad input through the hetc command line and the
 * generated program. Every case must exit non-zero with a message that
 * names the file and the key or tensor, and must not crash.
 *
 * Models are made by `hetc synth --preset tiny` and then broken: config
 * keys patched, tensors dropped or reshaped, XML files mangled.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/fe.h"
#include "testutil.h"

static const char *good;     /* a valid tiny model */

/* Copies the good model to a new directory and returns it. */
static const char *copy_model(const char *name)
{
    static char dir[4096];
    snprintf(dir, sizeof dir, "%s", tu_tmpdir(name));
    if (tu_run(NULL, "cp %s/* %s/", good, dir)) fail_msg("copy failed");
    return dir;
}

/* Replaces the first 'from' in file by 'to'. */
static void patch(const char *path, const char *from, const char *to)
{
    size_t len;
    char *s = tu_read_file(path, &len);
    assert_non_null(s);
    char *p = strstr(s, from);
    if (!p) fail_msg("%s: '%s' not found", path, from);
    size_t a = (size_t)(p - s), fl = strlen(from), tl = strlen(to);
    char *out = malloc(len - fl + tl + 1);
    memcpy(out, s, a);
    memcpy(out + a, to, tl);
    memcpy(out + a + tl, p + fl, len - a - fl + 1);
    tu_write_file(path, out, len - fl + tl);
    free(out);
    free(s);
}

/* Runs a command that must fail with 'expect' in its output. */
static void expect_error(const char *expect, const char *cmd)
{
    char *out;
    int rc = tu_run(&out, "%s", cmd);
    if (rc == 0) fail_msg("'%s' succeeded; expected an error containing \"%s\"", cmd, expect);
    if (rc >= 128 || strstr(out, "Sanitizer") || strstr(out, "Segmentation"))
        fail_msg("'%s' crashed (status %d):\n%s", cmd, rc, out);
    if (!strstr(out, expect)) fail_msg("'%s': expected \"%s\" in:\n%s", cmd, expect, out);
    free(out);
}

static const char *inspect(const char *dir)
{
    return tu_fmt("%s inspect %s", tu_hetc(), dir);
}

static const char *compile(const char *dir)
{
    return tu_fmt("%s compile %s --target %s/targets/host-cpu.xml -o %s/out", tu_hetc(), dir, tu_src(), dir);
}

static const char *run(const char *dir, const char *ids)
{
    return tu_fmt("%s run %s --ids %s", tu_hetc(), dir, ids);
}

/* The good model with the first 'from' of config.json replaced by 'to'. */
static const char *patched_model(const char *name, const char *from, const char *to)
{
    const char *d = copy_model(name);
    patch(tu_fmt("%s/config.json", d), from, to);
    return d;
}

/* The line of the first 'part' in a file. */
static int line_of(const char *path, const char *part)
{
    char *s = tu_read_file(path, NULL);
    assert_non_null(s);
    char *p = strstr(s, part);
    if (!p) fail_msg("%s: '%s' not found", path, part);
    int line = 1;
    for (char *q = s; q < p; q++) line += *q == '\n';
    free(s);
    return line;
}

static int setup(void **state)
{
    good = strdup(tu_tmpdir("errors-good"));
    char *out;
    if (tu_run(&out, "%s synth --preset tiny -o %s --no-tokenizer", tu_hetc(), good)) fail_msg("synth failed: %s", out);
    free(out);
    return 0;
}

static void test_missing_model(void **state)
{
    expect_error("/nonexistent/model: no such model directory", inspect("/nonexistent/model"));
}

static void test_config_malformed(void **state)
{
    const char *d = copy_model("bad-json");
    patch(tu_fmt("%s/config.json", d), "\"hidden_size\"", "\"hidden_size\" oops");
    expect_error("config.json", inspect(d));
}

static void test_config_wrong_type(void **state)
{
    const char *d = copy_model("bad-type");
    patch(tu_fmt("%s/config.json", d), "\"hidden_size\": 64", "\"hidden_size\": \"64\"");
    expect_error("config.json: key 'hidden_size'", inspect(d));
}

static void test_unknown_arch(void **state)
{
    const char *d = copy_model("bad-arch");
    patch(tu_fmt("%s/config.json", d), "LlamaForCausalLM", "GPT2LMHeadModel");
    expect_error("unknown architecture 'GPT2LMHeadModel'", inspect(d));
}

static void test_zero_heads(void **state)
{
    const char *d = copy_model("zero-heads");
    patch(tu_fmt("%s/config.json", d), "\"num_attention_heads\": 4", "\"num_attention_heads\": 0");
    expect_error("config.json: key 'num_attention_heads': 0 is not in 1..1048576", inspect(d));
}

static void test_hidden_not_divisible(void **state)
{
    const char *d = copy_model("indivisible");
    patch(tu_fmt("%s/config.json", d), "\"num_attention_heads\": 4", "\"num_attention_heads\": 3");
    expect_error("not divisible", inspect(d));
}

static void test_gqa_ratio(void **state)
{
    const char *d = copy_model("gqa");
    patch(tu_fmt("%s/config.json", d), "\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3");
    expect_error("num_attention_heads must be a multiple of num_key_value_heads", inspect(d));
}

static void test_unsupported_activation(void **state)
{
    const char *d = copy_model("gelu");
    patch(tu_fmt("%s/config.json", d), "\"silu\"", "\"gelu\"");
    expect_error("key 'hidden_act' is 'gelu'", inspect(d));
}

/* The examples of issue 8: each was a hang, a crash or garbage accepted. */
static void test_config_hang(void **state)
{
    const char *d = patched_model("empty-act", "\"silu\"", "\"\"");
    expect_error("config.json: key 'hidden_act' is ''; hetc supports: silu", tu_fmt("timeout 20 %s", inspect(d)));
    d = patched_model("empty-rope-type", "\"rope_type\": \"default\"", "\"rope_type\": \"\"");
    expect_error("config.json: key 'rope_parameters.rope_type' is ''; hetc supports: default linear llama3",
                 tu_fmt("timeout 20 %s", inspect(d)));
}

static void test_config_huge_numbers(void **state)
{
    const char *d = patched_model("huge-layers", "\"num_hidden_layers\": 2", "\"num_hidden_layers\": 2147483648");
    expect_error("config.json: key 'num_hidden_layers': 2147483648 is not in 1..4096", compile(d));
    expect_error("config.json: key 'num_hidden_layers': 2147483648 is not in 1..4096", run(d, "1,2"));
    d = patched_model("huge-ctx", "\"max_position_embeddings\": 512", "\"max_position_embeddings\": 9007199254740992");
    expect_error("config.json: key 'max_position_embeddings': 9007199254740992 is not in 1..16777216", compile(d));
    d = patched_model("huge-hidden", "\"hidden_size\": 64", "\"hidden_size\": 9223372036854775807");
    expect_error("config.json: key 'hidden_size': integer out of the 64-bit range", inspect(d));
    d = patched_model("big-vocab", "\"vocab_size\": 1024", "\"vocab_size\": 1099511627776");
    expect_error("config.json: key 'vocab_size': 1099511627776 is not in 1..1048576", inspect(d));
}

static void test_run_context(void **state)
{
    const char *d = patched_model("run-ctx", "\"max_position_embeddings\": 512", "\"max_position_embeddings\": 2147483647");
    expect_error("config.json: key 'max_position_embeddings': 2147483647 is not in 1..16777216", run(d, "1,2,3"));
    /* the largest context: the interpreter's KV cache holds the prompt only */
    d = patched_model("run-max-ctx", "\"max_position_embeddings\": 512", "\"max_position_embeddings\": 16777216");
    char *out;
    if (tu_run(&out, "%s", run(d, "1,2,3"))) fail_msg("%s", out);
    free(out);
    d = patched_model("run-small-ctx", "\"max_position_embeddings\": 512", "\"max_position_embeddings\": 4");
    expect_error("5 tokens at position 0 do not fit the context of 4", run(d, "1,2,3,4,5"));
}

static void test_config_rope(void **state)
{
    const char *d = patched_model("rope-theta", "\"rope_theta\": 10000.0", "\"rope_theta\": 1e-300");
    expect_error("config.json: key 'rope_parameters.rope_theta': 1e-300 is not in (1, 1e+12]", run(d, "1,2,3"));
    expect_error("config.json: key 'rope_parameters.rope_theta': 1e-300 is not in (1, 1e+12]", compile(d));
    d = patched_model("rope-factor", "\"rope_type\": \"default\"", "\"rope_type\": \"linear\", \"factor\": 1e-45");
    expect_error("config.json: key 'rope_parameters.factor': 1e-45 is not in [1, 1024]", run(d, "1,2,3"));
    d = patched_model("rope-llama3", "\"rope_type\": \"default\"",
                      "\"rope_type\": \"llama3\", \"factor\": 8, \"low_freq_factor\": 4, \"high_freq_factor\": 1");
    expect_error("config.json: key 'rope_parameters.high_freq_factor' (1) must be greater than key "
                 "'rope_parameters.low_freq_factor' (4) for llama3 RoPE scaling", compile(d));
    d = patched_model("eps", "\"rms_norm_eps\": 1e-05", "\"rms_norm_eps\": -1e-05");
    expect_error("config.json: key 'rms_norm_eps': -1e-05 is not in [1e-12, 1)", run(d, "1"));
}

/* Rewrites the good model's weights without 'drop', or with 'reshape' given a wrong shape. */
static const char *rewrite_weights(const char *name, const char *drop, const char *reshape)
{
    const char *d = copy_model(name);
    FeWeights w = {0};
    char err[FE_ERR_LEN];
    if (fe_weights_open_dir(&w, good, err, sizeof err)) fail_msg("%s", err);
    FeTensorOut *t = calloc((size_t)w.ntensors, sizeof *t);
    int n = 0;
    for (int i = 0; i < w.ntensors; i++) {
        const FeTensor *s = &w.tensors[i];
        if (drop && strcmp(s->name, drop) == 0) continue;
        t[n] = (FeTensorOut){s->name, s->dtype, s->ndim, {0}, s->data};
        memcpy(t[n].shape, s->shape, sizeof s->shape);
        if (reshape && strcmp(s->name, reshape) == 0) {
            t[n].shape[0] = s->shape[1];
            t[n].shape[1] = s->shape[0];
        }
        n++;
    }
    if (fe_safetensors_write(tu_fmt("%s/model.safetensors", d), t, n, err, sizeof err)) fail_msg("%s", err);
    free(t);
    fe_weights_free(&w);
    return d;
}

static void test_missing_tensor(void **state)
{
    const char *d = rewrite_weights("no-tensor", "model.layers.1.mlp.up_proj.weight", NULL);
    expect_error("tensor 'model.layers.1.mlp.up_proj.weight' is missing", inspect(d));
}

static void test_misshaped_tensor(void **state)
{
    const char *d = rewrite_weights("bad-shape", NULL, "model.layers.0.mlp.down_proj.weight");
    expect_error("model.safetensors: tensor 'model.layers.0.mlp.down_proj.weight': shape [160,64] but config.json "
                 "implies [64,160]", inspect(d));
}

static void test_truncated_safetensors(void **state)
{
    const char *d = copy_model("truncated");
    if (tu_run(NULL, "truncate -s 5000 %s/model.safetensors", d)) fail_msg("truncate failed");
    expect_error("model.safetensors", inspect(d));
}

static void test_bad_target(void **state)
{
    char d[4096], t[4200];
    snprintf(d, sizeof d, "%s", tu_tmpdir("bad-target"));
    snprintf(t, sizeof t, "%s/t.xml", d);
    const char *xml = "<target name=\"x\" version=\"1\">\n  <unit name=\"cpu0\" kind=\"cpu\" backend=\"c\">\n</target>\n";
    tu_write_file(t, xml, strlen(xml));
    expect_error(tu_fmt("%s:4: error: malformed XML", t),
                 tu_fmt("%s compile %s --target %s -o %s/out", tu_hetc(), good, t, d));
    xml = "<target name=\"x\" version=\"1\">\n  <unit name=\"u\" kind=\"dsp\" backend=\"c\"/>\n</target>\n";
    tu_write_file(t, xml, strlen(xml));
    expect_error(tu_fmt("%s:2: error: unit 'u': kind 'dsp'", t),
                 tu_fmt("%s compile %s --target %s -o %s/out", tu_hetc(), good, t, d));
    expect_error("/nonexistent.xml: error: cannot read",
                 tu_fmt("%s compile %s --target /nonexistent.xml -o %s/out", tu_hetc(), good, d));
}

/* --chunk, --remainder, --report-json, --weight-dtype,
 * --matmul-precision and --work-bytes: each bad value
 * names the option. */
static void test_chunk_options(void **state)
{
    const char *d = tu_tmpdir("chunk-options");
    static const struct {
        const char *args, *expect;
    } cases[] = {
        {"--chunk 0", "--chunk: '0' is not an integer in 1..65536"},
        {"--chunk 32,", "--chunk: '32,' has an empty size"},
        {"--chunk 8,,16", "--chunk: '8,,16' has an empty size"},
        {"--chunk 256", "--chunk 256: a chunk must be 1 to 128 tokens (--max-chunk, the most one step takes)"},
        {"--chunk 1,2,3,4,5,6,7", "--chunk: at most 6 sizes"},
        {"--remainder some", "--remainder: 'some' is not pad or flex"},
        {"--report-json /nonexistent/r.json", "/nonexistent/r.json: cannot write"},
        {"--weight-dtype q3_k", "--weight-dtype q3_k: hetc quantises to q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k and q6_k; "
                                "q3_k weights come from GGUF files"},
        {"--weight-dtype i8", "--weight-dtype: 'i8' is not f32, f16, bf16, q8_0"},
        {"--matmul-precision f16", "--matmul-precision: 'f16' is not f32 (x as it is, the default) or bf16"},
        {"--work-bytes 1M", "--work-bytes sizes the work area of a firmware build: it needs --firmware"},
        {"--firmware --work-bytes 12x", "--work-bytes: '12x' is not a size of 4K or more (bytes, or a number with K, "
                                        "M or G: 512K, 16M)"},
        {"--firmware --work-bytes 1000", "--work-bytes: '1000' is not a size of 4K or more"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_error(cases[i].expect, tu_fmt("%s compile %s --target %s/targets/host-cpu.xml -o %s/out %s 2>&1",
                                             tu_hetc(), good, tu_src(), d, cases[i].args));
}

/* A target whose RAM (<memory ram=...>) the tiny model does not fit: the
 * error names the target's line and lists what takes the memory, largest
 * first (the tiny model in f32: weights 849 KiB, the arena, the KV cache
 * at 512 tokens); with --weight-dtype q4_0 and --ctx 64 it fits, unless
 * --firmware adds its work area (which --work-bytes makes smaller). */
static void test_ram_too_small(void **state)
{
    const char *d = tu_tmpdir("ram-too-small");
    const char *xml = "<?xml version=\"1.0\"?>\n<target name=\"board\" version=\"1\">\n  <memory ram=\"640K\"/>\n"
                      "  <unit name=\"cpu0\" kind=\"cpu\" backend=\"c\" threads=\"1\"/>\n</target>\n";
    const char *target = tu_fmt("%s/board.xml", d);
    tu_write_file(target, xml, strlen(xml));
    expect_error(tu_fmt("%s:3: error: model 'errors-good' needs 1.41 MiB of RAM and target 'board' has 640.0 KiB "
                        "(<memory ram=...>): weights 849.2 KiB, activation arenas 336.0 KiB, KV cache 256.0 KiB (512 "
                        "tokens of context), RoPE table 32 B; a smaller --weight-dtype (q8_0, q4_0), --ctx or "
                        "--max-chunk takes less",
                        target),
                 tu_fmt("%s compile %s --target %s -o %s/out 2>&1", tu_hetc(), good, target, d));
    char *out;
    if (tu_run(&out, "%s compile %s --target %s -o %s/out --weight-dtype q4_0 --ctx 64 --max-chunk 32 2>&1", tu_hetc(),
               good, target, d))
        fail_msg("q4_0, --ctx 64 --max-chunk 32 should fit 640K:\n%s", out);
    free(out);
    /* a firmware build's work area counts too (1 MiB and more by default) */
    expect_error(tu_fmt("%s:3: error: model 'errors-good' needs 1.37 MiB of RAM and target 'board' has 640.0 KiB "
                        "(<memory ram=...>): the firmware's work area 1.14 MiB, weights 120.5 KiB, activation arenas "
                        "84.0 KiB, KV cache 32.0 KiB (64 tokens of context), RoPE table 32 B; a smaller --weight-dtype "
                        "(q8_0, q4_0), --ctx, --max-chunk or --work-bytes takes less", target),
                 tu_fmt("%s compile %s --target %s -o %s/out --weight-dtype q4_0 --ctx 64 --max-chunk 32 --firmware 2>&1",
                        tu_hetc(), good, target, d));
    if (tu_run(&out, "%s compile %s --target %s -o %s/out --weight-dtype q4_0 --ctx 64 --max-chunk 32 --firmware "
               "--work-bytes 64K 2>&1", tu_hetc(), good, target, d))
        fail_msg("--firmware --work-bytes 64K should fit 640K:\n%s", out);
    free(out);
}

/* --firmware for a target with an OpenCL unit: a static program cannot
 * load an OpenCL driver. */
static void test_firmware_opencl(void **state)
{
    expect_error("--firmware: target host-opencl has OpenCL unit 'gpu0': a static firmware program cannot load an "
                 "OpenCL driver",
                 tu_fmt("%s compile %s --target %s/targets/host-opencl.xml -o %s/out --firmware 2>&1", tu_hetc(), good,
                        tu_src(), tu_tmpdir("firmware-opencl")));
}

/* A model without a tokenizer, for a target with an npu: calibration (on
 * the default text) is asked for only where pass partition puts a linear
 * on the npu; where it puts none there (host-hetero's figures: every
 * linear on gpu0), the compile goes on without, and says so. */
static void test_calibration_needed(void **state)
{
    const char *d = tu_tmpdir("calibration-needed");
    char *out;
    if (tu_run(&out, "%s compile %s --target %s/targets/host-hetero.xml -o %s/solve 2>&1", tu_hetc(), good, tu_src(), d))
        fail_msg("compile failed: %s", out);
    assert_non_null(strstr(out, "pass partition puts no linear on host-hetero's npu: no calibration"));
    free(out);
    expect_error("calibrating on text needs the model's tokenizer; give token ids with --calib-ids FILE",
                 tu_fmt("%s compile %s --target %s/targets/host-hetero.xml --partition npu -o %s/npu 2>&1", tu_hetc(),
                        good, tu_src(), d));
}

static void test_bad_arch_xml(void **state)
{
    char d[4096];
    snprintf(d, sizeof d, "%s", tu_tmpdir("bad-arch-xml"));
    if (tu_run(NULL, "cp %s/models/llama.xml %s/", tu_src(), d)) fail_msg("copy failed");
    patch(tu_fmt("%s/llama.xml", d), "op=\"silu\"", "op=\"gelu\"");
    expect_error(tu_fmt("%s/llama.xml:", d), tu_fmt("HETC_MODELS=%s %s", d, inspect(good)));
    expect_error("unknown operator 'gelu'", tu_fmt("HETC_MODELS=%s %s", d, inspect(good)));
    patch(tu_fmt("%s/llama.xml", d), "</architecture>", "</architecture");
    expect_error("malformed XML", tu_fmt("HETC_MODELS=%s %s", d, inspect(good)));
    /* a dim the lowering needs is missing: an error at the op, not an abort */
    if (tu_run(NULL, "cp %s/models/llama.xml %s/", tu_src(), d)) fail_msg("copy failed");
    patch(tu_fmt("%s/llama.xml", d), "<param name=\"rope_high\"", "<param name=\"rope_hi\"");
    expect_error(tu_fmt("%s/llama.xml:%d: error: op 'q_rope' (rope) needs <param name=\"rope_high\"> above", d,
                        line_of(tu_fmt("%s/llama.xml", d), "id=\"q_rope\"")),
                 tu_fmt("HETC_MODELS=%s %s", d, inspect(good)));
    /* shapes the lowering checks beyond the weights' */
    const char *xml = tu_fmt("%s/llama.xml", d);
    if (tu_run(NULL, "cp %s/models/llama.xml %s/", tu_src(), d)) fail_msg("copy failed");
    patch(xml, "in=\"q_rope k_rope v\"", "in=\"q_rope k_rope q\"");
    expect_error(tu_fmt("%s:%d: error: op 'attn' in layer 0: q/k/v widths do not match heads, kv_heads and head_dim", xml,
                        line_of(xml, "id=\"attn\"")), tu_fmt("HETC_MODELS=%s %s", d, inspect(good)));
    if (tu_run(NULL, "cp %s/models/llama.xml %s/", tu_src(), d)) fail_msg("copy failed");
    patch(xml, "weight=\"model.embed_tokens.weight\" shape=\"vocab hidden\"",
          "weight=\"model.layers.0.self_attn.q_proj.weight\"");
    expect_error(tu_fmt("%s:%d: error: op 'embed' in layer -1: the table does not have vocab_size rows", xml,
                        line_of(xml, "id=\"embed\"")), tu_fmt("HETC_MODELS=%s %s", d, inspect(good)));
}

/* Names from the command line go into model.c escaped: it still compiles. */
static void test_odd_names(void **state)
{
    char d[4096];
    snprintf(d, sizeof d, "%s", tu_tmpdir("odd-names"));
    char *out;
    if (tu_run(&out, "mkdir -p '%s/m\"??*' && cp %s/* '%s/m\"??*/' && %s compile '%s/m\"??*/' --target "
                     "%s/targets/host-cpu.xml -o '%s/o*/' && cc -std=c11 -fsyntax-only -I'%s/o*/runtime' '%s/o*/model.c'",
               d, good, d, tu_hetc(), d, tu_src(), d, d, d))
        fail_msg("%s", out);
    free(out);
    char *h = tu_read_file(tu_fmt("%s/o*/model.h", d), NULL);
    assert_non_null(h);
    if (!strstr(h, "#define MODEL_NAME \"m\\\"\\?\\?*\"\n")) fail_msg("%s", h);
    free(h);
}

/* The generated program: context overflow, wrong weights, bad ids. */
static void test_program_errors(void **state)
{
    char d[4096], model[4200];
    snprintf(d, sizeof d, "%s", tu_tmpdir("program-errors"));
    char *out;
    if (tu_run(&out, "%s compile %s --target %s/targets/host-cpu.xml -o %s/a --ctx 8 && "
                     "%s compile %s --target %s/targets/host-cpu.xml -o %s/b --max-chunk 4 && "
                     "cmake -S %s/a -B %s/a/build >/dev/null && cmake --build %s/a/build",
               tu_hetc(), good, tu_src(), d, tu_hetc(), good, tu_src(), d, d, d, d))
        fail_msg("compile/build failed: %s", out);
    free(out);
    snprintf(model, sizeof model, "%s/a/build/model", d);
    expect_error("prompt has 9 tokens but the context is 8", tu_fmt("%s --ids 1,2,3,4,5,6,7,8,9 --logits %s/l", model, d));
    expect_error("context is 4", tu_fmt("%s --ctx 4 --ids 1,2,3,4,5 --logits %s/l", model, d));
    expect_error("another model", tu_fmt("%s -m %s/b/weights.bin --ids 1 --logits %s/l", model, d, d));
    expect_error("1024", tu_fmt("%s --ids 1,5000 --logits %s/l", model, d));
    if (tu_run(NULL, "cp %s/a/weights.bin %s/short.bin && truncate -s 1000 %s/short.bin", d, d, d)) fail_msg("cp");
    expect_error("short.bin", tu_fmt("%s -m %s/short.bin --ids 1 --logits %s/l", model, d, d));
    expect_error("missing.bin", tu_fmt("%s -m %s/missing.bin --ids 1 --logits %s/l", model, d, d));
}

/* The generated program on the OpenCL unit: a device that does not exist
 * and a platform list that is empty are errors that say what exists. */
static void test_opencl_device_errors(void **state)
{
    tu_require_opencl();
    char d[4096], model[4200];
    snprintf(d, sizeof d, "%s", tu_tmpdir("opencl-errors"));
    snprintf(model, sizeof model, "%s/p/build/model", d);
    char *out;
    if (tu_run(&out, "%s compile %s --target %s/targets/host-opencl.xml -o %s/p && cmake -S %s/p -B %s/p/build "
                     ">/dev/null && cmake --build %s/p/build", tu_hetc(), good, tu_src(), d, d, d, d))
        fail_msg("compile/build failed: %s", out);
    free(out);
    expect_error("HETC_OPENCL_DEVICE=nosuchdevice matches no OpenCL device",
                 tu_fmt("HETC_OPENCL_DEVICE=nosuchdevice %s --ids 1,2 --logits %s/l", model, d));
    expect_error("no OpenCL platform found",
                 tu_fmt("mkdir -p %s/empty && OCL_ICD_VENDORS=%s/empty %s --ids 1,2 --logits %s/l", d, d, model, d));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_model),
        cmocka_unit_test(test_calibration_needed),
        cmocka_unit_test(test_config_malformed),
        cmocka_unit_test(test_config_wrong_type),
        cmocka_unit_test(test_unknown_arch),
        cmocka_unit_test(test_zero_heads),
        cmocka_unit_test(test_hidden_not_divisible),
        cmocka_unit_test(test_gqa_ratio),
        cmocka_unit_test(test_unsupported_activation),
        cmocka_unit_test(test_config_hang),
        cmocka_unit_test(test_config_huge_numbers),
        cmocka_unit_test(test_run_context),
        cmocka_unit_test(test_config_rope),
        cmocka_unit_test(test_missing_tensor),
        cmocka_unit_test(test_misshaped_tensor),
        cmocka_unit_test(test_truncated_safetensors),
        cmocka_unit_test(test_bad_target),
        cmocka_unit_test(test_bad_arch_xml),
        cmocka_unit_test(test_chunk_options),
        cmocka_unit_test(test_ram_too_small),
        cmocka_unit_test(test_firmware_opencl),
        cmocka_unit_test(test_odd_names),
        cmocka_unit_test(test_program_errors),
        cmocka_unit_test(test_opencl_device_errors),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
