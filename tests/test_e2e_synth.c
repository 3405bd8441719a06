/* test_e2e_synth.c: the generated program against the reference
 * interpreter on synthesized models of shapes the fixtures do not have.
 *
 * The interpreter itself is checked against transformers in
 * test_e2e_fixtures.c; here it is the oracle for variants made with
 * `hetc synth`: sharded checkpoints, bf16 and f16 storage, the old config
 * key spelling, explicit head_dim, tied heads, and weights converted at
 * compile time (--weight-dtype).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static const char IDS[] = "1,17,300,5,999,42,7,7,7,128,64,1000,3";
enum { NIDS = 13, VOCAB = 1024 };

static float *read_logits(const char *path)
{
    size_t len;
    float *v = (float *)tu_read_file(path, &len);
    if (!v) fail_msg("%s: missing", path);
    assert_int_equal(len, (size_t)NIDS * VOCAB * sizeof(float));
    return v;
}

static double worst_rel_l2(const float *a, const float *b)
{
    double worst = 0;
    for (int s = 0; s < NIDS; s++) {
        double num = 0, den = 0;
        for (int v = 0; v < VOCAB; v++) {
            double d = (double)a[s * VOCAB + v] - b[s * VOCAB + v];
            num += d * d;
            den += (double)b[s * VOCAB + v] * b[s * VOCAB + v];
        }
        if (sqrt(num / den) > worst) worst = sqrt(num / den);
    }
    return worst;
}

static void run_ok(const char *cmd)
{
    char *out;
    if (tu_run(&out, "%s", cmd)) fail_msg("'%s' failed:\n%s", cmd, out);
    free(out);
}

/* Compiles dir/model for targets/TARGET.xml into dir/out with flags, and
 * builds the project (Release) in dir/out/build. */
static void compile_and_build(const char *dir, const char *target, const char *out, const char *flags)
{
    run_ok(tu_fmt("%s compile %s/model --target %s/targets/%s.xml -o %s/%s %s", tu_hetc(), dir, tu_src(), target, dir,
                  out, flags));
    run_ok(tu_fmt("cmake -S %s/%s -B %s/%s/build -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build %s/%s/build",
                  dir, out, dir, out, dir, out));
}

/* Synthesizes with synth_args, compiles with compile_args, and compares the
 * program (default batch, --batch 3 and 1) with the interpreter; returns
 * the default batch's error. */
static double check_variant(const char *name, const char *synth_args, const char *compile_args, double tol)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", tu_tmpdir(name));
    run_ok(tu_fmt("%s synth --preset tiny -o %s/model %s", tu_hetc(), dir, synth_args));
    compile_and_build(dir, "host-cpu", "proj", compile_args);
    run_ok(tu_fmt("%s run %s/model --ids %s --logits %s/ref.bin", tu_hetc(), dir, IDS, dir));
    float *ref = read_logits(tu_fmt("%s/ref.bin", dir));
    static const char *const batches[] = {"", "--batch 3", "--batch 1"};
    double first = 0;
    for (int b = 0; b < 3; b++) {
        run_ok(tu_fmt("%s/proj/build/model --ids %s --logits %s/got.bin %s", dir, IDS, dir, batches[b]));
        float *got = read_logits(tu_fmt("%s/got.bin", dir));
        double err = worst_rel_l2(got, ref);
        printf("  %-28s %-10s worst relative L2 %.2e (tolerance %g)\n", name, batches[b], err, tol);
        if (!(err < tol)) fail_msg("%s %s: relative L2 %.3g > %g", name, batches[b], err, tol);
        if (b == 0) first = err;
        free(got);
    }
    free(ref);
    return first;
}

static void test_sharded(void **state) { check_variant("sharded", "--shards 3", "", 1e-4); }
static void test_bf16(void **state) { check_variant("bf16", "--dtype bf16", "", 1e-4); }
/* x rounded to bf16 in the linears: within bf16's rounding of the float
 * forward, and not exact (every batch size). */
static void test_matmul_bf16(void **state)
{
    double err = check_variant("xbf16", "--dtype bf16", "--matmul-precision bf16", 1e-2);
    if (!(err > 1e-5)) fail_msg("--matmul-precision bf16: relative L2 %.3g, x was not rounded", err);
}
static void test_f16(void **state) { check_variant("f16", "--dtype f16", "", 1e-4); }
static void test_old_keys_head_dim_tied(void **state)
{
    check_variant("oldkeys-headdim-tied", "--old-keys --head-dim 32 --tie 1", "", 1e-4);
}
static void test_small_chunk(void **state) { check_variant("chunk5", "", "--max-chunk 5 --ctx 64", 1e-4); }
/* Weights rounded to 16 bits at compile time: the interpreter keeps f32. */
static void test_weight_dtype_f16(void **state) { check_variant("to-f16", "", "--weight-dtype f16", 2e-3); }
static void test_weight_dtype_bf16(void **state) { check_variant("to-bf16", "", "--weight-dtype bf16", 2e-2); }

/* Relative L2 error of the logits files a and b (the same size). */
static double file_rel_l2(const char *a, const char *b)
{
    size_t na, nb;
    float *x = (float *)tu_read_file(a, &na), *y = (float *)tu_read_file(b, &nb);
    if (!x || !y) fail_msg("%s or %s: missing", a, b);
    assert_int_equal(na, nb);
    double num = 0, den = 0;
    for (size_t i = 0; i < na / sizeof(float); i++) {
        num += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
        den += (double)y[i] * y[i];
    }
    free(x);
    free(y);
    return sqrt(num / den);
}

/* A real shape (SmolLM-135M: 30 layers, GQA 3:1, tied head, bf16) whose
 * tensors are larger than one conversion slice, stored as f16. */
static void test_real_shape_f16(void **state)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", tu_tmpdir("smol"));
    run_ok(tu_fmt("%s synth --preset smol-135m -o %s/model", tu_hetc(), dir));
    compile_and_build(dir, "host-cpu", "proj", "--weight-dtype f16 --ctx 64");
    const char *ids = "1,17,300,5,999,42,7";
    run_ok(tu_fmt("%s run %s/model --ids %s --logits %s/ref.bin", tu_hetc(), dir, ids, dir));
    run_ok(tu_fmt("%s/proj/build/model --ids %s --logits %s/got.bin", dir, ids, dir));
    double err = file_rel_l2(tu_fmt("%s/got.bin", dir), tu_fmt("%s/ref.bin", dir));
    printf("  smol-135m f16 vs bf16 interpreter: relative L2 %.2e\n", err);
    assert_true(err < 1e-3);
}

/* The papers' model shapes as config.json alone (--config-only): what
 * planning needs, without gigabytes of weights. */
static void test_config_only_presets(void **state)
{
    static const struct {
        const char *preset, *dims;
    } want[] = {
        {"llama-8b", "\"hidden_size\": 4096"},
        {"qwen1.5-1.8b", "\"intermediate_size\": 5504"},
        {"internlm-1.8b", "\"vocab_size\": 92544"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const char *dir = tu_tmpdir(tu_fmt("cfg-%zu", i));
        run_ok(tu_fmt("%s synth --preset %s -o %s --config-only", tu_hetc(), want[i].preset, dir));
        char *cfg = tu_read_file(tu_fmt("%s/config.json", dir), NULL);
        assert_non_null(cfg);
        if (!strstr(cfg, want[i].dims)) fail_msg("%s: no %s in config.json:\n%s", want[i].preset, want[i].dims, cfg);
        free(cfg);
        char *st = tu_read_file(tu_fmt("%s/model.safetensors", dir), NULL);
        assert_null(st);
    }
    /* inspect takes the shapes config.json implies; commands that read weights say they need them */
    const char *dir = tu_tmpdir("cfg-8b");
    char *out;
    run_ok(tu_fmt("%s synth --preset llama-8b -o %s --config-only", tu_hetc(), dir));
    assert_int_equal(tu_run(&out, "%s inspect %s", tu_hetc(), dir), 0);
    if (!strstr(out, "parameters:    8.03 G (8030261248)")) fail_msg("llama-8b inspect:\n%s", out);
    free(out);
    assert_int_equal(tu_run(&out, "%s compile %s --target %s/targets/host-cpu.xml -o %s/p", tu_hetc(), dir, tu_src(), dir), 1);
    if (!strstr(out, "no model.safetensors or model.safetensors.index.json: hetc compile -o needs the weights"))
        fail_msg("compile of a config-only model:\n%s", out);
    free(out);
}

/* Decode steps on the OpenCL unit past 256 keys, where the decode attention
 * splits the keys into chunks and combines them, one token at a time
 * (the one-token gemv instances) and 8 at a time; every row of logits
 * against the interpreter. Skipped without an OpenCL platform. */
static void test_opencl_long_context(void **state)
{
    tu_require_opencl();
    char dir[4096], ids[8192];
    snprintf(dir, sizeof dir, "%s", tu_tmpdir("opencl-long"));
    size_t n = 0;
    for (int i = 0; i < 300; i++) n += snprintf(ids + n, sizeof ids - n, "%s%d", i ? "," : "", (i * 7919 + 13) % VOCAB);
    run_ok(tu_fmt("%s synth --preset tiny -o %s/model", tu_hetc(), dir));
    compile_and_build(dir, "host-opencl", "proj", "--ctx 320");
    run_ok(tu_fmt("%s run %s/model --ids %s --logits %s/ref.bin", tu_hetc(), dir, ids, dir));
    static const char *const batches[] = {"--batch 8", "--batch 1"};
    for (int b = 0; b < 2; b++) {
        run_ok(tu_fmt("%s/proj/build/model --ids %s --logits %s/got.bin %s", dir, ids, dir, batches[b]));
        double err = file_rel_l2(tu_fmt("%s/got.bin", dir), tu_fmt("%s/ref.bin", dir));
        printf("  opencl, 300 tokens, %s: relative L2 %.2e\n", batches[b], err);
        if (!(err < 1e-3)) fail_msg("opencl 300 tokens %s: relative L2 %.3g > 1e-3", batches[b], err);
    }
}

/* A new family that needs no new op is one XML file: "foo" is Llama with
 * its own class name and tensor names (model.blocks.{i}: the same length,
 * so the checkpoint's header can be edited in place), found through
 * HETC_MODELS. */
static void test_new_family_is_data(void **state)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", tu_tmpdir("family"));
    run_ok(tu_fmt("%s synth --preset tiny -o %s/model && mkdir %s/models", tu_hetc(), dir, dir));
    run_ok(tu_fmt("%s run %s/model --ids %s --logits %s/llama.bin", tu_hetc(), dir, IDS, dir));
    run_ok(tu_fmt("sed -e 's/name=\"llama\"/name=\"foo\"/' -e '/<class /d' -e 's/<dim name=\"hidden\"/"
                  "<class name=\"FooForCausalLM\"\\/>\\n  &/' -e 's/model\\.layers\\./model.blocks./g' "
                  "%s/models/llama.xml > %s/models/foo.xml", tu_src(), dir));
    run_ok(tu_fmt("sed -i 's/LlamaForCausalLM/FooForCausalLM/' %s/model/config.json && "
                  "sed -i 's/model\\.layers\\./model.blocks./g' %s/model/model.safetensors",
                  dir, dir));
    char *out;
    int rc = tu_run(&out, "HETC_MODELS=%s/models %s inspect %s/model", dir, tu_hetc(), dir);
    if (rc || !strstr(out, "architecture:  foo (FooForCausalLM")) fail_msg("inspect:\n%s", out);
    free(out);
    run_ok(tu_fmt("HETC_MODELS=%s/models %s run %s/model --ids %s --logits %s/foo.bin", dir, tu_hetc(), dir, IDS, dir));
    float *a = read_logits(tu_fmt("%s/llama.bin", dir)), *b = read_logits(tu_fmt("%s/foo.bin", dir));
    assert_memory_equal(a, b, (size_t)NIDS * VOCAB * sizeof(float));
    free(a);
    free(b);
}

/* The tokenizer synth writes: texts round-trip through it (ASCII,
 * digits, punctuation, UTF-8, whitespace), its merges shorten text, the
 * same synth writes the same bytes, the generated program turns a prompt
 * into text, --no-tokenizer removes an earlier one, and a missing training
 * text is an error naming it. */
static void test_synth_tokenizer(void **state)
{
    const char *dir = tu_tmpdir("synth-tokenizer");
    run_ok(tu_fmt("%s synth --preset tiny -o %s/a && %s synth --preset tiny -o %s/b", tu_hetc(), dir, tu_hetc(), dir));
    size_t la, lb;
    char *ta = tu_read_file(tu_fmt("%s/a/tokenizer.json", dir), &la), *tb = tu_read_file(tu_fmt("%s/b/tokenizer.json", dir), &lb);
    assert_non_null(ta);
    assert_true(la == lb && memcmp(ta, tb, la) == 0);
    free(ta);
    free(tb);
    static const char *const texts[] = {"Hello world, this is a test of the tokenizer.", "Numbers 12345 and symbols !@#$%^&*()",
                                        "Unicode: h\xc3\xa9llo w\xc3\xb6rld \xe6\x97\xa5\xe6\x9c\xac",
                                        "Lines\nand\ttabs  and   spaces\n"};
    for (int i = 0; i < 4; i++) {
        tu_write_file(tu_fmt("%s/text.txt", dir), texts[i], strlen(texts[i]));
        char *ids, *back;
        if (tu_run(&ids, "%s tokenize %s/a --file %s/text.txt --no-special", tu_hetc(), dir, dir)) fail_msg("tokenize: %s", ids);
        ids[strcspn(ids, "\n")] = 0;
        int n = 1;
        for (char *c = ids; *c; c++) n += *c == ' ';
        if (tu_run(&back, "%s detokenize %s/a %s --skip-special", tu_hetc(), dir, ids)) fail_msg("detokenize: %s", back);
        if (strcmp(back, texts[i]) != 0 && !(strlen(back) == strlen(texts[i]) + 1 && back[strlen(texts[i])] == '\n' &&
                                              strncmp(back, texts[i], strlen(texts[i])) == 0))
            fail_msg("text %d: '%s' came back as '%s'", i, texts[i], back);
        printf("  text %d: %zu bytes, %d tokens\n", i, strlen(texts[i]), n);
        if (i == 0) assert_true(n < (int)strlen(texts[i]) / 2);     /* merges apply */
        free(ids);
        free(back);
    }
    char *out;
    run_ok(tu_fmt("%s compile %s/a --target %s/targets/host-cpu.xml -o %s/proj && cmake -S %s/proj -B %s/proj/build "
                  "-DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build %s/proj/build >/dev/null",
                  tu_hetc(), dir, tu_src(), dir, dir, dir, dir));
    if (tu_run(&out, "%s/proj/build/model -p 'Once upon a time' -n 8 --seed 1", dir) || !strstr(out, "generation: 8 tokens"))
        fail_msg("generating from a prompt:\n%s", out);
    free(out);
    run_ok(tu_fmt("%s synth --preset tiny -o %s/a --no-tokenizer", tu_hetc(), dir));
    assert_null(tu_read_file(tu_fmt("%s/a/tokenizer.json", dir), NULL));
    if (tu_run(&out, "%s synth --preset tiny -o %s/c --tokenizer-text %s/missing.txt", tu_hetc(), dir, dir) == 0 ||
        !strstr(out, "missing.txt"))
        fail_msg("a missing training text: %s", out);
    free(out);
}

/* The sha256 of every file of project dir (not build/), and the project
 * hash hetc printed (log: hetc compile's stderr). */
static char *project_sums(const char *dir)
{
    char *out;
    if (tu_run(&out, "cd %s && find . -type f ! -path './build/*' | LC_ALL=C sort | xargs sha256sum", dir))
        fail_msg("sha256sum in %s:\n%s", dir, out);
    return out;
}

static const char *printed_hash(const char *log)
{
    const char *p = strstr(log, "hetc: project hash ");
    if (!p) fail_msg("no project hash in:\n%s", log);
    return tu_fmt("%.16s", p + strlen("hetc: project hash "));
}

/* The same compile twice, into two directories (the second holding a
 * stale OpenCL file and a build directory): byte-identical projects and
 * the same printed hash; another weight dtype: another hash. */
static void test_reproducible(void **state)
{
    const char *dir = tu_tmpdir("reproducible");
    run_ok(tu_fmt("%s synth --preset tiny -o %s/model", tu_hetc(), dir));
    run_ok(tu_fmt("mkdir -p %s/b/build && echo stale > %s/b/model_kernels.c && echo stale > %s/b/build/x", dir, dir, dir));
    const char *hashes[3];
    static const char *const outs[] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
        char *log;
        if (tu_run(&log, "%s compile %s/model --target %s/targets/host-cpu.xml -o %s/%s %s 2>&1", tu_hetc(), dir,
                   tu_src(), dir, outs[i], i == 2 ? "--weight-dtype f16" : ""))
            fail_msg("compile %s:\n%s", outs[i], log);
        hashes[i] = printed_hash(log);
        free(log);
    }
    char *a = project_sums(tu_fmt("%s/a", dir)), *b = project_sums(tu_fmt("%s/b", dir));
    if (strcmp(a, b) != 0) fail_msg("two compiles differ:\n%s\n---\n%s", a, b);
    assert_non_null(strstr(a, "./weights.bin"));
    assert_non_null(strstr(a, "./runtime/rt_kernels.c"));
    assert_null(strstr(b, "model_kernels.c"));
    assert_string_equal(hashes[0], hashes[1]);
    assert_string_not_equal(hashes[0], hashes[2]);
    printf("  two compiles: %zu bytes of sha256sum lines equal, project hash %s\n", strlen(a), hashes[0]);
    free(a);
    free(b);
}

/* --firmware: weights.bin and tokenizer.bin linked into one static
 * program, which runs from a directory holding nothing else and gives
 * the normal build's logits (the same bytes) and greedy text; compiled
 * and built in another directory, the same binary, byte for byte. It has
 * no heap: its memory comes from static arrays and the work area (whose
 * peak --work-area reports), libc's allocator is not linked in, and a
 * runtime file that calls malloc stops the build. */
static void test_firmware(void **state)
{
    const char *dir = tu_tmpdir("firmware");
    run_ok(tu_fmt("%s synth --preset tiny -o %s/model", tu_hetc(), dir));
    static const char *const kinds[] = {"firmware", "normal", "firmware2"};
    for (int i = 0; i < 3; i++) compile_and_build(dir, "host-cpu", kinds[i], i != 1 ? "--firmware" : "");
    run_ok(tu_fmt("cmp %s/firmware/build/model %s/firmware2/build/model", dir, dir));
    run_ok(tu_fmt("mkdir %s/alone && cp %s/firmware/build/model %s/alone/", dir, dir, dir));
    char *out;
    if (tu_run(&out, "file %s/alone/model", dir) || !strstr(out, "statically linked")) fail_msg("not static:\n%s", out);
    free(out);
    run_ok(tu_fmt("cd %s/alone && ./model --ids %s --logits %s/fw.bin", dir, IDS, dir));
    run_ok(tu_fmt("%s/normal/build/model --ids %s --logits %s/normal.bin", dir, IDS, dir));
    run_ok(tu_fmt("cmp %s/fw.bin %s/normal.bin", dir, dir));
    char *fw, *normal;
    if (tu_run(&fw, "(cd %s/alone && ./model -p 'hello world' -n 12 --temp 0 2>/dev/null)", dir) ||
        tu_run(&normal, "(%s/normal/build/model -p 'hello world' -n 12 --temp 0 2>/dev/null)", dir))
        fail_msg("generation failed");
    assert_true(strlen(fw) > 0);
    assert_string_equal(fw, normal);
    printf("  firmware build alone: logits identical to the normal build's, greedy text \"%s\"\n", fw);
    /* examples/embed_main.c in place of main.c: the same text through the
     * calls model.h documents */
    char *embed;
    run_ok(tu_fmt("cmake -S %s/firmware -B %s/embed -DCMAKE_BUILD_TYPE=Release -DMODEL_MAIN=%s/examples/embed_main.c "
                  ">/dev/null && cmake --build %s/embed", dir, dir, tu_src(), dir));
    if (tu_run(&embed, "(cd %s/alone && %s/embed/model 'hello world' 12)", dir, dir)) fail_msg("embed_main failed");
    size_t len = strlen(embed);
    assert_true(len > 0 && embed[len - 1] == '\n');
    embed[len - 1] = 0;
    assert_string_equal(embed, fw);
    free(embed);
    printf("  examples/embed_main.c as the firmware's main: the same text\n");
    free(fw);
    free(normal);
    /* no heap: the runtime's memory came from the work area, and libc's
     * allocator is not in the program at all */
    char *area;
    size_t peak = 0, cap = 0;
    if (tu_run(&area, "(cd %s/alone && ./model -p 'hello world' -n 12 --temp 0 --work-area 2>&1 >/dev/null)", dir))
        fail_msg("--work-area failed:\n%s", area);
    const char *at = strstr(area, "work area: peak ");
    if (!at || sscanf(at, "work area: peak %zu of %zu", &peak, &cap) != 2) fail_msg("no work area line:\n%s", area);
    assert_true(peak > 0 && peak < cap);
    free(area);
    if (tu_run(&out, "nm %s/alone/model | grep -c -w -E '_int_malloc|__libc_malloc|malloc_consolidate'", dir) == 0)
        fail_msg("libc's heap allocator is linked in:\n%s", out);
    free(out);
    /* an object that calls malloc stops the link, named */
    run_ok(tu_fmt("cp -r %s/firmware %s/heap && rm -rf %s/heap/build", dir, dir, dir));
    FILE *f = fopen(tu_fmt("%s/heap/runtime/rt_zz_heap.c", dir), "w");
    assert_non_null(f);
    fputs("#include <stdlib.h>\nvoid *rt_zz_heap(size_t n) { return malloc(n); }\n", f);
    fclose(f);
    if (tu_run(&out, "cmake -S %s/heap -B %s/heap/build >/dev/null && cmake --build %s/heap/build 2>&1", dir, dir, dir) == 0)
        fail_msg("the build with a call to malloc linked:\n%s", out);
    if (!strstr(out, "rt_zz_heap.c.o: malloc") || !strstr(out, "no heap")) fail_msg("unclear failure:\n%s", out);
    assert_null(strstr(out, "rt_mem.c.o:"));   /* it defines malloc for libc: allowed */
    free(out);
    printf("  no heap: work area peak %zu of %zu bytes; a call to malloc stops the link\n", peak, cap);
    /* with an npu unit: the emulator's packed weights come from the work area */
    for (int i = 0; i < 2; i++) {
        const char *kind = i ? "npu-normal" : "npu-firmware";
        compile_and_build(dir, "host-npu", kind, i ? "" : "--firmware");
        run_ok(tu_fmt("%s/%s/build/model --ids %s --logits %s/%s.bin", dir, kind, IDS, dir, kind));
    }
    run_ok(tu_fmt("cmp %s/npu-firmware.bin %s/npu-normal.bin", dir, dir));
    printf("  with an npu-emu unit: the firmware build's logits identical to the normal build's\n");
}

/* The quick-start model (scripts/quickstart.sh: hetc synth --preset
 * smol-135m, 135M parameters in bf16) compiled with --firmware: the static
 * program alone in a directory gives the normal build's logits, byte for
 * byte, and its greedy text. */
static void test_firmware_quickstart(void **state)
{
    const char *dir = tu_tmpdir("firmware-quickstart");
    run_ok(tu_fmt("%s synth --preset smol-135m -o %s/model", tu_hetc(), dir));
    compile_and_build(dir, "host-cpu", "firmware", "--ctx 512 --firmware");
    compile_and_build(dir, "host-cpu", "normal", "--ctx 512");
    run_ok(tu_fmt("mkdir %s/alone && mv %s/firmware/build/model %s/alone/ && rm -rf %s/firmware %s/model", dir, dir, dir,
                  dir, dir));
    run_ok(tu_fmt("cd %s/alone && ./model --ids %s --logits %s/fw.bin", dir, IDS, dir));
    run_ok(tu_fmt("%s/normal/build/model --ids %s --logits %s/normal.bin", dir, IDS, dir));
    run_ok(tu_fmt("cmp %s/fw.bin %s/normal.bin", dir, dir));
    char *fw, *normal;
    if (tu_run(&fw, "(cd %s/alone && ./model -p 'Once upon a time' -n 8 --temp 0 2>/dev/null)", dir) ||
        tu_run(&normal, "(%s/normal/build/model -p 'Once upon a time' -n 8 --temp 0 2>/dev/null)", dir))
        fail_msg("generation failed");
    assert_true(strlen(fw) > 0);
    assert_string_equal(fw, normal);
    printf("  smol-135m --firmware, alone: the normal build's logits, greedy text \"%s\"\n", fw);
    free(fw);
    free(normal);
    run_ok(tu_fmt("rm -rf %s", dir));
}

/* argv[1]: only the tests of that name. */
int main(int argc, char **argv)
{
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sharded),          cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_matmul_bf16),
        cmocka_unit_test(test_reproducible),
        cmocka_unit_test(test_firmware),
        cmocka_unit_test(test_firmware_quickstart),
        cmocka_unit_test(test_f16),              cmocka_unit_test(test_old_keys_head_dim_tied),
        cmocka_unit_test(test_small_chunk),      cmocka_unit_test(test_weight_dtype_f16),
        cmocka_unit_test(test_weight_dtype_bf16), cmocka_unit_test(test_new_family_is_data),
        cmocka_unit_test(test_real_shape_f16),    cmocka_unit_test(test_opencl_long_context),
        cmocka_unit_test(test_config_only_presets), cmocka_unit_test(test_synth_tokenizer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
