/* test_fe_config.c: config.json lookups (both key spellings, dotted keys,
 * wrong types, nulls, malformed files), architecture XML (load errors with
 * their lines, dims resolved against configs: the range of every value,
 * overflow, RoPE parameters, the configs of real models) and the
 * directories fe_synth writes (config keys and tensor shapes for the preset
 * and its overrides). */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/fe.h"

static void assert_contains(const char *text, const char *part)
{
    if (!strstr(text, part)) fail_msg("'%s' does not contain '%s'", text, part);
}

/* Writes text as DIR/config.json and returns the path. */
static const char *config_file(const char *test, const char *text)
{
    const char *path = tu_fmt("%s/config.json", tu_tmpdir(test));
    tu_write_file(path, text, strlen(text));
    return path;
}

static FeConfig *load_ok(const char *path)
{
    char err[FE_ERR_LEN];
    FeConfig *c = fe_config_load(path, err, sizeof err);
    if (!c) fail_msg("%s", err);
    return c;
}

static void expect_load_error(const char *path, const char *part)
{
    char err[FE_ERR_LEN] = "";
    assert_null(fe_config_load(path, err, sizeof err));
    assert_contains(err, path);
    assert_contains(err, part);
    assert_null(strchr(err, '\n'));
}

static int64_t get_int(const FeConfig *c, const char *key)
{
    char err[FE_ERR_LEN];
    int64_t v = -1;
    if (fe_config_int(c, key, &v, err, sizeof err) != 1) fail_msg("%s: %s", key, err);
    return v;
}

static double get_float(const FeConfig *c, const char *key)
{
    char err[FE_ERR_LEN];
    double v = -1;
    if (fe_config_float(c, key, &v, err, sizeof err) != 1) fail_msg("%s: %s", key, err);
    return v;
}

static const char *get_str(const FeConfig *c, const char *key)
{
    char err[FE_ERR_LEN];
    const char *v = NULL;
    if (fe_config_str(c, key, &v, err, sizeof err) != 1) fail_msg("%s: %s", key, err);
    return v;
}

static int get_bool(const FeConfig *c, const char *key)
{
    char err[FE_ERR_LEN];
    int v = -1;
    if (fe_config_bool(c, key, &v, err, sizeof err) != 1) fail_msg("%s: %s", key, err);
    return v;
}

/* ---- lookups ---- */

static void test_fixture_new_keys(void **state)
{
    (void)state;
    const char *path = tu_fmt("%s/fixtures/llama-tiny/config.json", tu_shared());
    FeConfig *c = load_ok(path);
    assert_string_equal(fe_config_path(c), path);
    assert_string_equal(fe_config_arch_class(c), "LlamaForCausalLM");
    assert_int_equal(get_int(c, "hidden_size"), 64);
    assert_int_equal(get_int(c, "num_key_value_heads"), 2);
    assert_true(get_float(c, "rope_parameters.rope_theta") == 10000.0);
    assert_true(get_float(c, "rms_norm_eps") == 1e-5);
    assert_string_equal(get_str(c, "rope_parameters.rope_type"), "default");
    assert_string_equal(get_str(c, "dtype"), "float32");
    assert_int_equal(get_bool(c, "tie_word_embeddings"), 0);
    fe_config_free(c);
}

static void test_old_keys(void **state)
{
    (void)state;
    FeConfig *c = load_ok(config_file("old_keys",
        "{\"architectures\": [\"MistralForCausalLM\"], \"rope_theta\": 1000000,\n"
        " \"torch_dtype\": \"bfloat16\", \"hidden_size\": 4096, \"tie_word_embeddings\": true}"));
    int64_t i;
    char err[FE_ERR_LEN];
    assert_true(get_float(c, "rope_theta") == 1e6);
    assert_string_equal(get_str(c, "torch_dtype"), "bfloat16");
    assert_int_equal(get_bool(c, "tie_word_embeddings"), 1);
    assert_true(get_float(c, "hidden_size") == 4096.0);
    assert_int_equal(fe_config_int(c, "rope_parameters.rope_theta", &i, err, sizeof err), 0);
    assert_int_equal(fe_config_int(c, "dtype", &i, err, sizeof err), 0);
    assert_string_equal(fe_config_arch_class(c), "MistralForCausalLM");
    fe_config_free(c);
}

static void expect_type_error(const FeConfig *c, char kind, const char *key, const char *part)
{
    char err[FE_ERR_LEN] = "";
    int64_t i;
    double d;
    int b;
    const char *s;
    int rc = kind == 'i' ? fe_config_int(c, key, &i, err, sizeof err)
           : kind == 'f' ? fe_config_float(c, key, &d, err, sizeof err)
           : kind == 'b' ? fe_config_bool(c, key, &b, err, sizeof err)
           : fe_config_str(c, key, &s, err, sizeof err);
    assert_int_equal(rc, -1);
    assert_contains(err, fe_config_path(c));
    assert_contains(err, part);
}

static void test_wrong_types(void **state)
{
    (void)state;
    FeConfig *c = load_ok(config_file("wrong_types",
        "{\"num_attention_heads\": \"4\", \"head_dim\": 64.0, \"tie_word_embeddings\": 1,\n"
        " \"model_type\": 7, \"rms_norm_eps\": \"1e-5\", \"rope_parameters\": 5, \"architectures\": \"x\"}"));
    expect_type_error(c, 'i', "num_attention_heads",
                      "key 'num_attention_heads': expected an integer, got string");
    expect_type_error(c, 'i', "head_dim", "key 'head_dim': expected an integer, got float");
    expect_type_error(c, 'b', "tie_word_embeddings", "key 'tie_word_embeddings': expected a boolean, got integer");
    expect_type_error(c, 's', "model_type", "key 'model_type': expected a string, got integer");
    expect_type_error(c, 'f', "rms_norm_eps", "key 'rms_norm_eps': expected a number, got string");
    expect_type_error(c, 'f', "rope_parameters.rope_theta", "key 'rope_parameters': expected an object, got integer");
    assert_null(fe_config_arch_class(c));
    fe_config_free(c);
}

static void test_null_is_absent(void **state)
{
    (void)state;
    FeConfig *c = load_ok(config_file("nulls",
        "{\"pad_token_id\": null, \"sliding_window\": null, \"rope_parameters\": null,\n"
        " \"rope_scaling\": {\"factor\": null}, \"architectures\": []}"));
    char err[FE_ERR_LEN];
    int64_t i = 99;
    double d = 99;
    int b = 99;
    const char *s = "unchanged";
    assert_int_equal(fe_config_int(c, "pad_token_id", &i, err, sizeof err), 0);
    assert_int_equal(fe_config_float(c, "rope_parameters.rope_theta", &d, err, sizeof err), 0);
    assert_int_equal(fe_config_float(c, "rope_scaling.factor", &d, err, sizeof err), 0);
    assert_int_equal(fe_config_bool(c, "sliding_window", &b, err, sizeof err), 0);
    assert_int_equal(fe_config_str(c, "absent.key", &s, err, sizeof err), 0);
    assert_int_equal(i, 99);
    assert_true(d == 99);
    assert_string_equal(s, "unchanged");
    assert_null(fe_config_arch_class(c));
    fe_config_free(c);
}

static void test_malformed_json(void **state)
{
    (void)state;
    expect_load_error(config_file("bad_syntax", "{\n  \"a\": 1,\n  \"b\": ]\n}\n"), "JSON: ");
    expect_load_error(config_file("bad_line", "{\n  \"a\": 1,\n  \"b\": ]\n}\n"), "at line 3");
    expect_load_error(config_file("truncated", "{\n  \"a\": 1,\n"), "at line 3");
    expect_load_error(config_file("trailing", "{}\n{}\n"), "trailing data at line 2");
    expect_load_error(config_file("empty", ""), "JSON: ");
    expect_load_error(config_file("array", "[1, 2]"), "top level is not an object");
}

static void test_missing_file(void **state)
{
    (void)state;
    expect_load_error(tu_fmt("%s/config.json", tu_tmpdir("no_config")), "cannot open: No such file or directory");
}

/* ---- architecture XML ---- */

/* A small architecture: 'dims' on line 7, 'layer' (ops) on line 9. */
static const char *arch_file(const char *test, const char *dims, const char *layer)
{
    const char *path = tu_fmt("%s/t.xml", tu_tmpdir(test));
    const char *xml = tu_fmt("<architecture name=\"t\">\n"
                             "  <class name=\"TForCausalLM\"/>\n"
                             "  <dim name=\"hidden\" key=\"hidden_size\"/>\n"
                             "  <dim name=\"layers\" key=\"num_hidden_layers\"/>\n"
                             "  <dim name=\"vocab\" key=\"vocab_size\"/>\n"
                             "  <dim name=\"ctx\" key=\"max_position_embeddings\" default=\"2048\"/>\n"
                             "  %s\n"
                             "  <embed><op id=\"embed\" op=\"embed\" in=\"ids\" weight=\"e\"/></embed>\n"
                             "  <layer out=\"o\">%s</layer>\n"
                             "  <head><op id=\"logits\" op=\"linear\" in=\"x\" weight=\"lm\"/></head>\n"
                             "</architecture>\n",
                             dims, layer ? layer : "<op id=\"o\" op=\"silu\" in=\"x\"/>");
    tu_write_file(path, xml, strlen(xml));
    return path;
}

/* Loading 'dims' and 'layer' fails with "t.xml:LINE: error: MSG". */
static void expect_arch_error(const char *dims, const char *layer, int line, const char *msg)
{
    FeArch a;
    char err[FE_ERR_LEN] = "";
    const char *path = arch_file("arch_error", dims, layer);
    if (fe_arch_load(&a, path, err, sizeof err) == 0) fail_msg("loaded; expected '%s'", msg);
    assert_string_equal(err, tu_fmt("%s:%d: error: %s", path, line, msg));
}

static const char rope_dims[] =
    "<dim name=\"heads\" key=\"h\"/><dim name=\"head_dim\" key=\"hd\"/><param name=\"rope_theta\" key=\"t\"/>"
    "<str name=\"rope_type\" key=\"rt\" default=\"default\"/><param name=\"rope_factor\" key=\"f\" default=\"1\"/>"
    "<param name=\"rope_low\" key=\"l\" default=\"1\"/><dim name=\"rope_orig_ctx\" key=\"oc\" default=\"8192\"/>";

static void test_arch_load_errors(void **state)
{
    (void)state;
    /* a dim the lowering needs must be declared, with its kind */
    expect_arch_error(rope_dims, "<op id=\"o\" op=\"rope\" in=\"x\" heads=\"heads\"/>", 9,
                      "op 'o' (rope) needs <param name=\"rope_high\"> above");
    expect_arch_error("", "<op id=\"o\" op=\"rmsnorm\" in=\"x\" weight=\"w\"/>", 9,
                      "op 'o' (rmsnorm) needs <param name=\"eps\"> above");
    expect_arch_error("", "<op id=\"o\" op=\"attention\" in=\"x x x\"/>", 9,
                      "op 'o' (attention) needs <dim name=\"heads\"> above");
    expect_arch_error("<dim name=\"heads\" key=\"h\"/><dim name=\"head_dim\" key=\"hd\"/>",
                      "<op id=\"a\" op=\"attention\" in=\"x x x\"/><op id=\"o\" op=\"attention\" in=\"a a a\"/>", 9,
                      "op 'o': a layer has one attention op ('a' is one)");
    expect_arch_error("<param name=\"head_dim\" key=\"hd\"/>", NULL, 7, "'head_dim' must be a <dim>, not a <param>");
    expect_arch_error("", "<op id=\"x\" op=\"silu\" in=\"x\"/>", 9, "op id 'x' is reserved for the section's input");
    expect_arch_error("", "<op id=\"o*/\" op=\"silu\" in=\"x\"/>", 9, "op id 'o*/': letters, digits and '_' only");
    expect_arch_error("", "<op id=\"o\" op=\"last_rows\" in=\"x\"/>", 9, "op 'o': last_rows belongs in <head>");
    expect_arch_error("", "<op id=\"o\" op=\"copy\" in=\"x\"/>", 9, "op 'o': unknown operator 'copy'");
    /* expressions parse and use integer dims */
    expect_arch_error("<dim name=\"ffn\" key=\"i\" default=\"hidden $ 2\"/>", NULL, 7,
                      "expression 'hidden $ 2': unexpected '$ 2'");
    expect_arch_error("<param name=\"eps\" key=\"e\"/><dim name=\"ffn\" key=\"i\" default=\"hidden * eps\"/>", NULL, 7,
                      "expression 'hidden * eps' uses 'eps', which is a <param>, not a <dim> or <flag>");
    expect_arch_error("<dim name=\"ffn\" key=\"i\" default=\"99999999999999999999\"/>", NULL, 7,
                      "expression '99999999999999999999': number out of range");
    expect_arch_error("<dim name=\"ffn\" key=\"i\" default=\"(hidden\"/>", NULL, 7, "expression '(hidden': missing ')'");
    expect_arch_error("<check expr=\"hidden % heads\" message=\"m\"/>", NULL, 7,
                      "expression 'hidden % heads' uses 'heads', which is not a dim defined above");
    expect_arch_error("<dim name=\"w`x\" key=\"w\"/>", NULL, 7,
                      "name 'w`x': a dim's name is lowercase letters, digits and '_', not first a digit");
    char many[2048] = "";
    for (int i = 0; i < 27; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "<dim name=\"d%d\" key=\"k%d\"/>", i, i);
    expect_arch_error(many, NULL, 7, "more than 30 dims, flags and params");
    /* attributes */
    expect_arch_error("<dim name=\"w\" key=\"w\" min=\"-1\"/>", NULL, 7,
                      "min '-1' of 'w': only a <dim> has one, an integer in 0..16777216");
    expect_arch_error("<param name=\"p\" key=\"p\" default=\"abc\"/>", NULL, 7, "default 'abc' of 'p' is not a finite number");
    expect_arch_error("<param name=\"p\" key=\"p\" default=\"1e999\"/>", NULL, 7,
                      "default '1e999' of 'p' is not a finite number");
    expect_arch_error("", "<op id=\"o\" op=\"linear\" in=\"x\" weight=\"w\" shape=\"hidden hidden hidden hidden hidden "
                      "hidden hidden hidden hidden hidden\"/>", 9, "<op> attribute 'shape' is longer than 63 characters");
}

/* Resolves 'arch' against config text; returns the error ("" if none). */
static const char *resolve(const char *arch, const char *config_text, FeDims *d)
{
    static char err[FE_ERR_LEN];
    FeArch a;
    FeDims dims;
    err[0] = 0;
    if (fe_arch_load(&a, arch, err, sizeof err)) fail_msg("%s", err);
    FeConfig *c = load_ok(config_file("resolve", config_text));
    fe_arch_resolve(&a, c, d ? d : &dims, err, sizeof err);
    fe_config_free(c);
    return err;
}

/* A Llama config with 'from' replaced by 'to'. */
static const char *llama_config(const char *from, const char *to)
{
    static const char base[] =
        "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 64, \"intermediate_size\": 160,\n"
        " \"num_attention_heads\": 4, \"num_hidden_layers\": 2, \"num_key_value_heads\": 2, \"vocab_size\": 1024,\n"
        " \"max_position_embeddings\": 512, \"rms_norm_eps\": 1e-05, \"rope_theta\": 10000.0, \"hidden_act\": \"silu\"}";
    const char *p = strstr(base, from);
    if (!p) fail_msg("'%s' is not in the config", from);
    return tu_fmt("%.*s%s%s", (int)(p - base), base, to, p + strlen(from));
}

/* The Llama config with 'from' replaced by 'to' fails with
 * "config.json: MSG" (MSG after the path). */
static void expect_llama_error(const char *from, const char *to, const char *msg)
{
    const char *err = resolve(tu_fmt("%s/models/llama.xml", tu_src()), llama_config(from, to), NULL);
    const char *path = tu_fmt("%s/config.json", tu_tmpdir("resolve"));
    assert_string_equal(err, tu_fmt("%s: %s", path, msg));
}

static void test_resolve_ranges(void **state)
{
    (void)state;
    /* the examples: a hang, undefined conversions, NaN logits */
    expect_llama_error("\"silu\"", "\"\"", "key 'hidden_act' is ''; hetc supports: silu");
    expect_llama_error("\"rope_theta\": 10000.0", "\"rope_scaling\": {\"rope_type\": \"\"}",
                       "key 'rope_scaling.rope_type' is ''; hetc supports: default linear llama3");
    expect_llama_error("\"num_hidden_layers\": 2", "\"num_hidden_layers\": 2147483648",
                       "key 'num_hidden_layers': 2147483648 is not in 1..4096");
    expect_llama_error("\"max_position_embeddings\": 512", "\"max_position_embeddings\": 9007199254740992",
                       "key 'max_position_embeddings': 9007199254740992 is not in 1..16777216");
    expect_llama_error("\"max_position_embeddings\": 512", "\"max_position_embeddings\": 2147483647",
                       "key 'max_position_embeddings': 2147483647 is not in 1..16777216");
    expect_llama_error("\"rope_theta\": 10000.0", "\"rope_theta\": 1e-300", "key 'rope_theta': 1e-300 is not in (1, 1e+12]");
    expect_llama_error("\"rope_theta\": 10000.0", "\"rope_theta\": NaN", "key 'rope_theta': nan is not in (1, 1e+12]");
    expect_llama_error("\"rope_theta\": 10000.0", "\"rope_theta\": 1e999", "key 'rope_theta': inf is not in (1, 1e+12]");
    expect_llama_error("\"rope_theta\": 10000.0", "\"rope_scaling\": {\"type\": \"linear\", \"factor\": 1e-45}",
                       "key 'rope_scaling.factor': 1e-45 is not in [1, 1024]");
    /* every number has a range that names the key */
    expect_llama_error("\"hidden_size\": 64", "\"hidden_size\": 9223372036854775807",
                       "key 'hidden_size': integer out of the 64-bit range");
    expect_llama_error("\"hidden_size\": 64", "\"hidden_size\": -99999999999999999999",
                       "key 'hidden_size': integer out of the 64-bit range");
    expect_llama_error("\"hidden_size\": 64", "\"hidden_size\": 1048577", "key 'hidden_size': 1048577 is not in 1..1048576");
    expect_llama_error("\"vocab_size\": 1024", "\"vocab_size\": 0", "key 'vocab_size': 0 is not in 1..1048576");
    expect_llama_error("\"num_key_value_heads\": 2", "\"num_key_value_heads\": -2",
                       "key 'num_key_value_heads': -2 is not in 1..1048576");
    expect_llama_error("\"num_key_value_heads\": 2", "\"sliding_window\": -1",
                       "key 'sliding_window': -1 is not in 0..16777216");
    expect_llama_error("\"rms_norm_eps\": 1e-05", "\"rms_norm_eps\": 0", "key 'rms_norm_eps': 0 is not in [1e-12, 1)");
    expect_llama_error("\"rms_norm_eps\": 1e-05", "\"rms_norm_eps\": 1e-300",
                       "key 'rms_norm_eps': 1e-300 is not in [1e-12, 1)");
    expect_llama_error("\"rms_norm_eps\": 1e-05", "\"rms_norm_eps\": 1", "key 'rms_norm_eps': 1 is not in [1e-12, 1)");
    expect_llama_error("\"num_attention_heads\": 4", "\"num_attention_heads\": 64",
                       "key 'head_dim' (absent; default 'hidden / heads'): 1 is odd; RoPE rotates pairs of values");
    expect_llama_error("\"num_attention_heads\": 4", "\"num_attention_heads\": 4, \"head_dim\": 15",
                       "key 'head_dim': 15 is odd; RoPE rotates pairs of values");
    expect_llama_error("\"num_attention_heads\": 4", "\"num_attention_heads\": 3",
                       "'hidden' (64) is not divisible by 'heads' (3), needed for 'head_dim' when key 'head_dim' is absent");
    expect_llama_error("\"rope_theta\": 10000.0",
                       "\"rope_scaling\": {\"rope_type\": \"llama3\", \"low_freq_factor\": 4, \"high_freq_factor\": 4}",
                       "key 'rope_scaling.high_freq_factor' (4) must be greater than key "
                       "'rope_scaling.low_freq_factor' (4) for llama3 RoPE scaling");
    expect_llama_error("\"rope_theta\": 10000.0", "\"rope_scaling\": {\"rope_type\": \"llama3\", \"low_freq_factor\": 8}",
                       "key 'rope_parameters.high_freq_factor' (absent; default '4') (4) must be greater than key "
                       "'rope_scaling.low_freq_factor' (8) for llama3 RoPE scaling");
    expect_llama_error("\"rope_theta\": 10000.0", "\"rope_scaling\": {\"rope_type\": \"yarn\"}",
                       "key 'rope_scaling.rope_type' is 'yarn'; hetc supports: default linear llama3");
}

static void test_resolve_overflow(void **state)
{
    (void)state;
    const char *cfg = "{\"hidden_size\": 1048576, \"num_hidden_layers\": 1, \"vocab_size\": 8}";
    const char *arch = arch_file("overflow", "<dim name=\"big\" key=\"b\" default=\"hidden * hidden * hidden * hidden\"/>",
                                 NULL);
    const char *path = tu_fmt("%s/config.json", tu_tmpdir("resolve"));
    assert_string_equal(resolve(arch, cfg, NULL),
                        tu_fmt("%s: key 'b' is missing and its default failed: expression 'hidden * hidden * hidden * "
                               "hidden' overflows", path));
    cfg = "{\"hidden_size\": 1024, \"num_hidden_layers\": 1, \"vocab_size\": 8}";
    assert_string_equal(resolve(arch, cfg, NULL),
                        tu_fmt("%s: key 'b' (absent; default 'hidden * hidden * hidden * hidden'): 1099511627776 is "
                               "not in 1..1048576", path));
    arch = arch_file("overflow", "<dim name=\"z\" key=\"z\" min=\"0\" default=\"0\"/><check expr=\"hidden % z\" "
                     "message=\"m\"/>", NULL);
    assert_string_equal(resolve(arch, cfg, NULL),
                        tu_fmt("%s:7: error: expression 'hidden %% z' divides by zero (with %s)", arch, path));
}

/* Configs of released models resolve, with their values. */
static void test_resolve_real_models(void **state)
{
    (void)state;
    FeDims d;
    const char *llama31 =
        "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 4096, \"intermediate_size\": 14336,\n"
        " \"num_attention_heads\": 32, \"num_hidden_layers\": 32, \"num_key_value_heads\": 8, \"vocab_size\": 128256,\n"
        " \"max_position_embeddings\": 131072, \"rms_norm_eps\": 1e-05, \"rope_theta\": 500000.0,\n"
        " \"rope_scaling\": {\"factor\": 8.0, \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0,\n"
        " \"original_max_position_embeddings\": 8192, \"rope_type\": \"llama3\"}, \"hidden_act\": \"silu\"}";
    assert_string_equal(resolve(tu_fmt("%s/models/llama.xml", tu_src()), llama31, &d), "");
    assert_true(fe_dims_get(&d, "ctx") == 131072 && fe_dims_get(&d, "rope_factor") == 8);
    const char *mistral =
        "{\"architectures\": [\"MistralForCausalLM\"], \"hidden_size\": 4096, \"intermediate_size\": 14336,\n"
        " \"num_attention_heads\": 32, \"num_hidden_layers\": 32, \"num_key_value_heads\": 8, \"vocab_size\": 32000,\n"
        " \"max_position_embeddings\": 32768, \"rms_norm_eps\": 1e-05, \"rope_theta\": 10000.0,\n"
        " \"sliding_window\": 4096, \"hidden_act\": \"silu\"}";
    assert_string_equal(resolve(tu_fmt("%s/models/llama.xml", tu_src()), mistral, &d), "");
    assert_true(fe_dims_get(&d, "window") == 4096);
    const char *qwen25 =
        "{\"architectures\": [\"Qwen2ForCausalLM\"], \"hidden_size\": 3584, \"intermediate_size\": 18944,\n"
        " \"num_attention_heads\": 28, \"num_hidden_layers\": 28, \"num_key_value_heads\": 4, \"vocab_size\": 152064,\n"
        " \"max_position_embeddings\": 32768, \"rms_norm_eps\": 1e-06, \"rope_theta\": 1000000.0,\n"
        " \"sliding_window\": 131072, \"use_sliding_window\": false, \"hidden_act\": \"silu\", \"rope_scaling\": null}";
    assert_string_equal(resolve(tu_fmt("%s/models/qwen2.xml", tu_src()), qwen25, &d), "");
    assert_true(fe_dims_get(&d, "head_dim") == 128 && fe_dims_get(&d, "rope_theta") == 1e6);
}

/* ---- synth ---- */

static void assert_shape(const FeWeights *w, const char *name, IrDtype dtype, int64_t d0, int64_t d1)
{
    const FeTensor *t = fe_weights_find(w, name);
    if (!t) fail_msg("tensor '%s' not found", name);
    assert_int_equal(t->dtype, dtype);
    assert_int_equal(t->ndim, d1 ? 2 : 1);
    assert_int_equal(t->shape[0], d0);
    if (d1) assert_int_equal(t->shape[1], d1);
}

static void test_synth_tiny_overrides(void **state)
{
    (void)state;
    char dir[FE_PATH_LEN], err[FE_ERR_LEN];
    snprintf(dir, sizeof dir, "%s/deeper/model", tu_tmpdir("synth_overrides"));
    FeSynthOpts o = {.preset = "tiny", .dtype = IR_BF16, .seed = 3, .old_keys = 1, .tie = -1, .head_dim = 32};
    if (fe_synth(dir, &o, err, sizeof err) != 0) fail_msg("%s", err);

    FeConfig *c = load_ok(tu_fmt("%s/config.json", dir));
    assert_string_equal(fe_config_arch_class(c), "LlamaForCausalLM");
    assert_string_equal(get_str(c, "model_type"), "llama");
    assert_true(get_float(c, "rope_theta") == 10000.0);
    assert_string_equal(get_str(c, "torch_dtype"), "bfloat16");
    assert_int_equal(get_int(c, "head_dim"), 32);
    assert_int_equal(get_int(c, "num_hidden_layers"), 2);
    assert_int_equal(get_int(c, "vocab_size"), 1024);
    assert_int_equal(get_int(c, "bos_token_id"), 1);
    assert_true(get_float(c, "rms_norm_eps") == 1e-5);
    assert_int_equal(get_bool(c, "tie_word_embeddings"), 0);
    assert_int_equal(get_bool(c, "attention_bias"), 0);
    assert_string_equal(get_str(c, "hidden_act"), "silu");
    const char *s;
    assert_int_equal(fe_config_str(c, "dtype", &s, err, sizeof err), 0);
    assert_int_equal(fe_config_str(c, "rope_parameters.rope_type", &s, err, sizeof err), 0);
    fe_config_free(c);

    FeWeights w;
    if (fe_weights_open_dir(&w, dir, err, sizeof err) != 0) fail_msg("%s", err);
    assert_int_equal(w.ntensors, 21);
    assert_shape(&w, "model.embed_tokens.weight", IR_BF16, 1024, 64);
    assert_shape(&w, "model.layers.1.self_attn.q_proj.weight", IR_BF16, 128, 64);
    assert_shape(&w, "model.layers.1.self_attn.k_proj.weight", IR_BF16, 64, 64);
    assert_shape(&w, "model.layers.1.self_attn.v_proj.weight", IR_BF16, 64, 64);
    assert_shape(&w, "model.layers.1.self_attn.o_proj.weight", IR_BF16, 64, 128);
    assert_shape(&w, "model.layers.0.mlp.down_proj.weight", IR_BF16, 64, 160);
    assert_shape(&w, "model.layers.0.post_attention_layernorm.weight", IR_BF16, 64, 0);
    assert_shape(&w, "lm_head.weight", IR_BF16, 1024, 64);
    float norm[64];
    fe_tensor_to_f32(fe_weights_find(&w, "model.norm.weight"), norm);
    for (int i = 0; i < 64; i++) assert_true(norm[i] > 0.5f && norm[i] < 1.5f);
    fe_weights_free(&w);
    char *gen = tu_read_file(tu_fmt("%s/generation_config.json", dir), NULL);
    assert_non_null(gen);
    assert_contains(gen, "\"eos_token_id\": 2");
    free(gen);
}

static void test_synth_new_keys_tied(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir("synth_new_keys");
    char err[FE_ERR_LEN];
    FeSynthOpts o = {.preset = "tiny", .dtype = (IrDtype)-1, .seed = 1, .tie = 1};
    if (fe_synth(dir, &o, err, sizeof err) != 0) fail_msg("%s", err);
    char *text = tu_read_file(tu_fmt("%s/config.json", dir), NULL);
    assert_contains(text, "\"rope_theta\": 10000.0");
    assert_contains(text, "\"rms_norm_eps\": 1e-05");
    assert_null(strstr(text, "head_dim"));
    free(text);
    FeConfig *c = load_ok(tu_fmt("%s/config.json", dir));
    assert_true(get_float(c, "rope_parameters.rope_theta") == 10000.0);
    assert_string_equal(get_str(c, "dtype"), "float32");
    assert_int_equal(get_bool(c, "tie_word_embeddings"), 1);
    fe_config_free(c);
    FeWeights w;
    if (fe_weights_open_dir(&w, dir, err, sizeof err) != 0) fail_msg("%s", err);
    assert_int_equal(w.ntensors, 20);
    assert_null(fe_weights_find(&w, "lm_head.weight"));
    assert_shape(&w, "model.layers.0.self_attn.q_proj.weight", IR_F32, 64, 64);
    fe_weights_free(&w);
}

static void test_synth_presets(void **state)
{
    (void)state;
    const char *const *names = fe_synth_presets();
    int n = 0;
    while (names[n]) n++;
    assert_int_equal(n, 9);
    assert_string_equal(names[0], "tiny");
    char err[FE_ERR_LEN];
    FeSynthOpts o = {.preset = "llama-70b", .dtype = (IrDtype)-1, .tie = -1};
    assert_int_equal(fe_synth(tu_tmpdir("synth_unknown"), &o, err, sizeof err), -1);
    assert_contains(err, "unknown preset 'llama-70b'");
    for (int i = 0; i < n; i++) assert_contains(err, names[i]);
    o = (FeSynthOpts){.preset = "tiny", .dtype = IR_I8, .tie = -1};
    assert_int_equal(fe_synth(tu_tmpdir("synth_i8"), &o, err, sizeof err), -1);
    assert_contains(err, "dtype");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_new_keys),
        cmocka_unit_test(test_old_keys),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_null_is_absent),
        cmocka_unit_test(test_malformed_json),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_arch_load_errors),
        cmocka_unit_test(test_resolve_ranges),
        cmocka_unit_test(test_resolve_overflow),
        cmocka_unit_test(test_resolve_real_models),
        cmocka_unit_test(test_synth_tiny_overrides),
        cmocka_unit_test(test_synth_new_keys_tied),
        cmocka_unit_test(test_synth_presets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
