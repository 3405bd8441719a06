/* test_fe_config.c: config.json lookups (both key spellings, dotted keys,
 * wrong types, nulls, malformed files) and the directories fe_synth writes
 * (config keys and tensor shapes for the preset and its overrides). */
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
    assert_int_equal(n, 6);
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
        cmocka_unit_test(test_synth_tiny_overrides),
        cmocka_unit_test(test_synth_new_keys_tied),
        cmocka_unit_test(test_synth_presets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
