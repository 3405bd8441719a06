/* test_fe_safetensors.c: the safetensors reader and writer: the reference
 * fixtures, round trips of f32/f16/bf16 data, sharded checkpoints written by
 * synth, and one test per kind of corrupt file, each checking its message. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compiler/fe.h"

static void assert_contains(const char *text, const char *part)
{
    if (!strstr(text, part)) fail_msg("'%s' does not contain '%s'", text, part);
}

static void assert_shape(const FeTensor *t, IrDtype dtype, int ndim, int64_t d0, int64_t d1)
{
    assert_non_null(t);
    assert_int_equal(t->dtype, dtype);
    assert_int_equal(t->ndim, ndim);
    assert_int_equal(t->shape[0], d0);
    if (ndim > 1) assert_int_equal(t->shape[1], d1);
}

static const FeTensor *find(const FeWeights *w, const char *name)
{
    const FeTensor *t = fe_weights_find(w, name);
    if (!t) fail_msg("tensor '%s' not found", name);
    return t;
}

static void open_ok(FeWeights *w, const char *dir)
{
    char err[FE_ERR_LEN];
    if (fe_weights_open_dir(w, dir, err, sizeof err) != 0) fail_msg("%s", err);
}

/* Writes an 8-byte length, the header text and data_len zero bytes. */
static const char *raw_file(const char *dir, const char *header, size_t data_len)
{
    size_t hlen = strlen(header);
    size_t len = 8 + hlen + data_len;
    unsigned char *buf = calloc(1, len);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    memcpy(buf + 8, header, hlen);
    const char *path = tu_fmt("%s/model.safetensors", dir);
    tu_write_file(path, buf, len);
    free(buf);
    return path;
}

/* add_file must fail with a message containing 'part' and leave w empty. */
static void expect_file_error(const char *path, const char *part)
{
    FeWeights w = {0};
    char err[FE_ERR_LEN] = "";
    assert_int_equal(fe_weights_add_file(&w, path, err, sizeof err), -1);
    assert_contains(err, part);
    assert_contains(err, path);
    assert_null(strchr(err, '\n'));
    assert_int_equal(w.ntensors, 0);
    assert_int_equal(w.nfiles, 0);
}

static void expect_header_error(const char *test, const char *header, size_t data_len, const char *part)
{
    const char *path = raw_file(tu_tmpdir(test), header, data_len);
    expect_file_error(path, part);
}

static void expect_dir_error(const char *dir, const char *part)
{
    FeWeights w = {0};
    char err[FE_ERR_LEN] = "";
    assert_int_equal(fe_weights_open_dir(&w, dir, err, sizeof err), -1);
    assert_contains(err, part);
    assert_int_equal(w.ntensors, 0);
    assert_int_equal(w.nfiles, 0);
}

/* ---- fixtures ---- */

static void check_sorted(const FeWeights *w)
{
    for (int i = 1; i < w->ntensors; i++)
        assert_true(strcmp(w->tensors[i - 1].name, w->tensors[i].name) < 0);
}

static void test_fixture_llama_tiny(void **state)
{
    (void)state;
    FeWeights w;
    open_ok(&w, tu_fmt("%s/fixtures/llama-tiny", tu_shared()));
    assert_int_equal(w.nfiles, 1);
    assert_int_equal(w.ntensors, 21);
    check_sorted(&w);
    const FeTensor *head = find(&w, "lm_head.weight");
    assert_shape(head, IR_F32, 2, 1024, 64);
    assert_int_equal(head->nbytes, 1024 * 64 * 4);
    assert_string_equal(fe_tensor_file(&w, head), "model.safetensors");
    assert_shape(find(&w, "model.layers.1.mlp.down_proj.weight"), IR_F32, 2, 64, 160);
    assert_shape(find(&w, "model.layers.0.self_attn.k_proj.weight"), IR_F32, 2, 32, 64);
    assert_shape(find(&w, "model.norm.weight"), IR_F32, 1, 64, 0);
    float norm[64];
    fe_tensor_to_f32(find(&w, "model.norm.weight"), norm);
    for (int i = 0; i < 64; i++) assert_true(isfinite(norm[i]));
    assert_null(fe_weights_find(&w, "model.layers.2.mlp.up_proj.weight"));
    fe_weights_free(&w);
    assert_null(w.tensors);
}

static void test_fixture_qwen2_tiny(void **state)
{
    (void)state;
    FeWeights w;
    open_ok(&w, tu_fmt("%s/fixtures/qwen2-tiny", tu_shared()));
    assert_int_equal(w.ntensors, 26);
    assert_null(fe_weights_find(&w, "lm_head.weight"));
    assert_shape(find(&w, "model.embed_tokens.weight"), IR_F32, 2, 1024, 64);
    assert_shape(find(&w, "model.layers.1.self_attn.q_proj.bias"), IR_F32, 1, 64, 0);
    assert_shape(find(&w, "model.layers.1.self_attn.k_proj.weight"), IR_F32, 2, 16, 64);
    assert_shape(find(&w, "model.layers.0.mlp.up_proj.weight"), IR_F32, 2, 192, 64);
    fe_weights_free(&w);
}

static void test_fixture_llama_outliers(void **state)
{
    (void)state;
    FeWeights w;
    open_ok(&w, tu_fmt("%s/fixtures/llama-outliers", tu_shared()));
    assert_int_equal(w.ntensors, 30);
    assert_shape(find(&w, "lm_head.weight"), IR_F32, 2, 1024, 128);
    const FeTensor *norm = find(&w, "model.layers.2.input_layernorm.weight");
    assert_shape(norm, IR_F32, 1, 128, 0);
    float v[128];
    fe_tensor_to_f32(norm, v);
    assert_true(fabsf(v[77]) > 5 * fabsf(v[0]));
    fe_weights_free(&w);
}

/* ---- writing and reading back ---- */

static void test_write_read_dtypes(void **state)
{
    (void)state;
    const char *path = tu_fmt("%s/model.safetensors", tu_tmpdir("write_read"));
    const float f32[6] = {1.5f, -2.25f, 3e-30f, 1e30f, 0.0f, -7.0f};
    const uint16_t f16[12] = {0x0000, 0x8000, 0x3c00, 0xc000, 0x7bff, 0x0001,
                              0x03ff, 0x0400, 0x7c00, 0xfc00, 0x7e00, 0x3555};
    const uint16_t bf16[4] = {0x3f80, 0xc040, 0x7f80, 0x0001};
    const float scalar = 42.0f;
    FeTensorOut out[] = {
        {"z.f32", IR_F32, 2, {2, 3}, f32},
        {"a.f16", IR_F16, 1, {12}, f16},
        {"m.bf16", IR_BF16, 2, {2, 2}, bf16},
        {"scalar", IR_F32, 0, {0}, &scalar},
        {"empty", IR_F16, 2, {0, 5}, NULL},
    };
    char err[FE_ERR_LEN];
    if (fe_safetensors_write(path, out, 5, err, sizeof err) != 0) fail_msg("%s", err);

    size_t len;
    unsigned char *raw = (unsigned char *)tu_read_file(path, &len);
    assert_int_equal(raw[0] % 8, 0);
    assert_non_null(strstr((char *)raw + 8, "\"__metadata__\":{\"format\":\"pt\"}"));
    free(raw);

    FeWeights w = {0};
    if (fe_weights_add_file(&w, path, err, sizeof err) != 0) fail_msg("%s", err);
    assert_int_equal(w.ntensors, 5);
    float v[12];
    fe_tensor_to_f32(find(&w, "z.f32"), v);
    assert_memory_equal(v, f32, sizeof f32);

    const float want16[12] = {0.0f, -0.0f, 1.0f, -2.0f, 65504.0f, 0x1p-24f,
                              1023 * 0x1p-24f, 0x1p-14f, INFINITY, -INFINITY, NAN, 0.333251953125f};
    fe_tensor_to_f32(find(&w, "a.f16"), v);
    for (int i = 0; i < 12; i++) {
        if (isnan(want16[i])) assert_true(isnan(v[i]));
        else assert_memory_equal(&v[i], &want16[i], sizeof v[i]);
    }
    const float want_bf[4] = {1.0f, -3.0f, INFINITY, 0x1p-133f};
    fe_tensor_to_f32(find(&w, "m.bf16"), v);
    assert_memory_equal(v, want_bf, sizeof want_bf);

    const FeTensor *s = find(&w, "scalar");
    assert_int_equal(s->ndim, 0);
    fe_tensor_to_f32(s, v);
    assert_true(v[0] == 42.0f);
    assert_shape(find(&w, "empty"), IR_F16, 2, 0, 5);
    assert_int_equal(find(&w, "empty")->nbytes, 0);
    fe_weights_free(&w);
}

static void test_write_rejects_bad_dtype(void **state)
{
    (void)state;
    const char *path = tu_fmt("%s/model.safetensors", tu_tmpdir("write_bad"));
    const int32_t ids[2] = {1, 2};
    FeTensorOut out = {"ids", IR_I32, 1, {2}, ids};
    char err[FE_ERR_LEN];
    assert_int_equal(fe_safetensors_write(path, &out, 1, err, sizeof err), -1);
    assert_contains(err, "tensor 'ids'");
    assert_null(tu_read_file(path, NULL));
}

/* ---- sharded checkpoints ---- */

static void synth_tiny(const char *dir, IrDtype dtype, int shards)
{
    FeSynthOpts o = {.preset = "tiny", .dtype = dtype, .seed = 7, .shards = shards, .tie = -1};
    char err[FE_ERR_LEN];
    if (fe_synth(dir, &o, err, sizeof err) != 0) fail_msg("%s", err);
}

static void test_sharded_round_trip(void **state)
{
    (void)state;
    const char *one = tu_tmpdir("synth_one"), *three = tu_tmpdir("synth_three");
    synth_tiny(one, (IrDtype)-1, 1);
    synth_tiny(three, (IrDtype)-1, 3);
    assert_null(tu_read_file(tu_fmt("%s/model.safetensors", three), NULL));
    FeWeights a, b;
    open_ok(&a, one);
    open_ok(&b, three);
    assert_int_equal(a.nfiles, 1);
    assert_int_equal(b.nfiles, 3);
    assert_int_equal(b.ntensors, 21);
    assert_string_equal(fe_tensor_file(&b, find(&b, "model.embed_tokens.weight")),
                        "model-00001-of-00003.safetensors");
    assert_string_equal(fe_tensor_file(&b, find(&b, "lm_head.weight")), "model-00003-of-00003.safetensors");
    for (int i = 0; i < a.ntensors; i++) {
        const FeTensor *x = &a.tensors[i], *y = find(&b, x->name);
        assert_int_equal(x->nbytes, y->nbytes);
        assert_memory_equal(x->data, y->data, x->nbytes);
    }
    fe_weights_free(&a);
    fe_weights_free(&b);
}

/* Values stored in f16 and bf16 are the f32 ones, correctly rounded. */
static void test_synth_dtypes_round(void **state)
{
    (void)state;
    const char *d32 = tu_tmpdir("synth_f32"), *d16 = tu_tmpdir("synth_f16"), *dbf = tu_tmpdir("synth_bf16");
    synth_tiny(d32, IR_F32, 1);
    synth_tiny(d16, IR_F16, 1);
    synth_tiny(dbf, IR_BF16, 1);
    FeWeights a, h, b;
    open_ok(&a, d32);
    open_ok(&h, d16);
    open_ok(&b, dbf);
    const char *name = "model.layers.1.mlp.gate_proj.weight";
    enum { N = 160 * 64 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y), *z = malloc(N * sizeof *z);
    assert_int_equal(find(&h, name)->dtype, IR_F16);
    fe_tensor_to_f32(find(&a, name), x);
    fe_tensor_to_f32(find(&h, name), y);
    fe_tensor_to_f32(find(&b, name), z);
    for (int i = 0; i < N; i++) {
        assert_true(fabsf(y[i] - x[i]) <= fabsf(x[i]) * 0x1p-11f + 0x1p-25f);
        assert_true(fabsf(z[i] - x[i]) <= fabsf(x[i]) * 0x1p-8f);
        assert_true(fabsf(x[i]) < 0.2f);
    }
    free(x);
    free(y);
    free(z);
    fe_weights_free(&a);
    fe_weights_free(&h);
    fe_weights_free(&b);
}

static void test_duplicate_across_files(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir("dup_files");
    const float v[2] = {1, 2};
    FeTensorOut t[2] = {{"a", IR_F32, 1, {2}, v}, {"b", IR_F32, 1, {1}, v}};
    char err[FE_ERR_LEN];
    const char *p1 = tu_fmt("%s/one.safetensors", dir), *p2 = tu_fmt("%s/two.safetensors", dir);
    assert_int_equal(fe_safetensors_write(p1, &t[0], 1, err, sizeof err), 0);
    assert_int_equal(fe_safetensors_write(p2, t, 2, err, sizeof err), 0);
    FeWeights w = {0};
    assert_int_equal(fe_weights_add_file(&w, p1, err, sizeof err), 0);
    assert_int_equal(fe_weights_add_file(&w, p2, err, sizeof err), -1);
    assert_contains(err, tu_fmt("%s: tensor 'a' is also in %s", p2, p1));
    assert_int_equal(w.nfiles, 1);
    assert_int_equal(w.ntensors, 1);
    fe_weights_free(&w);
}

static void write_index(const char *dir, const char *weight_map)
{
    const char *text = tu_fmt("{\"metadata\": {\"total_size\": 12}, \"weight_map\": {%s}}", weight_map);
    tu_write_file(tu_fmt("%s/model.safetensors.index.json", dir), text, strlen(text));
}

static void write_shard(const char *dir, const char *file, const char *name)
{
    const float v[3] = {1, 2, 3};
    FeTensorOut t = {name, IR_F32, 1, {3}, v};
    char err[FE_ERR_LEN];
    if (fe_safetensors_write(tu_fmt("%s/%s", dir, file), &t, 1, err, sizeof err) != 0) fail_msg("%s", err);
}

static void test_index_duplicate_across_shards(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir("dup_shards");
    write_shard(dir, "s1.safetensors", "w");
    write_shard(dir, "s2.safetensors", "w");
    write_index(dir, "\"w\": \"s1.safetensors\", \"v\": \"s2.safetensors\"");
    expect_dir_error(dir, "s2.safetensors: tensor 'w' is also in");
}

static void test_index_missing_shard(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir("missing_shard");
    write_shard(dir, "model-00001-of-00002.safetensors", "a");
    write_index(dir, "\"a\": \"model-00001-of-00002.safetensors\", \"b\": \"model-00002-of-00002.safetensors\"");
    expect_dir_error(dir, tu_fmt("%s/model.safetensors.index.json: shard 'model-00002-of-00002.safetensors'", dir));
}

static void test_index_wrong_shard(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir("wrong_shard");
    write_shard(dir, "s1.safetensors", "a");
    write_shard(dir, "s2.safetensors", "b");
    write_index(dir, "\"a\": \"s1.safetensors\", \"b\": \"s2.safetensors\", \"c\": \"s1.safetensors\"");
    expect_dir_error(dir, "tensor 'c' is not in its shard 's1.safetensors'");
    write_index(dir, "\"a\": \"s1.safetensors\", \"b\": \"s1.safetensors\", \"x\": \"s2.safetensors\"");
    expect_dir_error(dir, "tensor 'b' is listed in shard 's1.safetensors' but is in 's2.safetensors'");
}

static void test_index_malformed(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir("bad_index");
    const char *index = tu_fmt("%s/model.safetensors.index.json", dir);
    tu_write_file(index, "{\"weight_map\": [1]}", 19);
    expect_dir_error(dir, "no \"weight_map\" object");
    tu_write_file(index, "{\"weight_map\": {\"a\": 1}}", 24);
    expect_dir_error(dir, "weight_map entry 'a' is not a file name");
    tu_write_file(index, "{\"weight_map\": {", 16);
    expect_dir_error(dir, "model.safetensors.index.json: JSON:");
}

static void test_empty_dir(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir("empty");
    expect_dir_error(dir, tu_fmt("%s: no model.safetensors or model.safetensors.index.json", dir));
    expect_dir_error(tu_fmt("%s/absent", dir), "cannot open");
}

/* ---- corrupt files ---- */

static void test_short_file(void **state)
{
    (void)state;
    const char *path = tu_fmt("%s/model.safetensors", tu_tmpdir("short"));
    tu_write_file(path, "\x10\0\0\0\0", 5);
    expect_file_error(path, "file is 5 bytes, shorter than the 8-byte header length");
}

static void test_missing_file(void **state)
{
    (void)state;
    expect_file_error(tu_fmt("%s/nothing.safetensors", tu_tmpdir("missing")), "cannot open: No such file");
}

static void test_header_past_eof(void **state)
{
    (void)state;
    const char *path = tu_fmt("%s/model.safetensors", tu_tmpdir("past_eof"));
    unsigned char buf[1000] = {0};
    uint64_t n = 123456789;
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(n >> (8 * i));
    tu_write_file(path, buf, sizeof buf);
    expect_file_error(path, "header length 123456789 is past the end of the file (1000 bytes)");
}

/* A sparse file over the format's 100 MB header limit. */
static void test_header_absurd(void **state)
{
    (void)state;
    const char *path = tu_fmt("%s/model.safetensors", tu_tmpdir("absurd"));
    unsigned char len[8] = {0};
    uint64_t n = 150u << 20;
    for (int i = 0; i < 8; i++) len[i] = (unsigned char)(n >> (8 * i));
    tu_write_file(path, len, sizeof len);
    assert_int_equal(truncate(path, 200 << 20), 0);
    expect_file_error(path, "header length 157286400 is absurdly large");
}

static void test_invalid_json(void **state)
{
    (void)state;
    expect_header_error("json_syntax", "{\"a\": {\"dtype\": \"F32\",, }}", 0, "header JSON: ");
    expect_header_error("json_syntax_at", "{\"a\": @}", 0, "at byte 6");
    expect_header_error("json_truncated", "{\"a\": {", 0, "header JSON: unexpected end of data");
    expect_header_error("json_trailing", "{} x", 0, "trailing data");
}

static void test_header_not_object(void **state)
{
    (void)state;
    expect_header_error("not_object", "[1, 2]  ", 0, "header is not a JSON object");
}

static void test_unknown_dtype(void **state)
{
    (void)state;
    expect_header_error("dtype_i64", "{\"x\": {\"dtype\": \"I64\", \"shape\": [2], \"data_offsets\": [0, 16]}}",
                        16, "tensor 'x': unknown dtype 'I64'");
    expect_header_error("dtype_missing", "{\"x\": {\"shape\": [2], \"data_offsets\": [0, 8]}}",
                        8, "tensor 'x': missing dtype");
}

static void test_size_mismatch(void **state)
{
    (void)state;
    expect_header_error("size", "{\"w\": {\"dtype\": \"F32\", \"shape\": [64, 160], \"data_offsets\": [0, 40000]}}",
                        40000, "tensor 'w': shape [64,160] x F32 needs 40960 bytes but data_offsets span 40000");
}

static void test_offsets_out_of_range(void **state)
{
    (void)state;
    expect_header_error("range", "{\"w\": {\"dtype\": \"F32\", \"shape\": [100], \"data_offsets\": [0, 400]}}",
                        100, "tensor 'w': data_offsets [0,400] go past the end of the data (100 bytes)");
    expect_header_error("reversed", "{\"w\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [8, 4]}}",
                        16, "data_offsets [8,4] end before they begin");
    expect_header_error("offsets_bad", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0]}}",
                        16, "data_offsets is not [begin,end]");
}

static void test_overlap(void **state)
{
    (void)state;
    expect_header_error("overlap",
                        "{\"b\": {\"dtype\": \"F32\", \"shape\": [25], \"data_offsets\": [50, 150]},"
                        " \"a\": {\"dtype\": \"F32\", \"shape\": [25], \"data_offsets\": [0, 100]},"
                        " \"e\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [60, 60]}}",
                        150, "tensor 'a' bytes [0,100) overlap tensor 'b' bytes [50,150)");
}

static void test_bad_shape(void **state)
{
    (void)state;
    expect_header_error("shape_negative", "{\"w\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}",
                        4, "tensor 'w': shape[0] is not a non-negative integer");
    expect_header_error("shape_float", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1, 2.5], \"data_offsets\": [0, 4]}}",
                        4, "tensor 'w': shape[1] is not a non-negative integer");
    expect_header_error("shape_missing", "{\"w\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}",
                        4, "tensor 'w': missing shape");
    expect_header_error("shape_rank5",
                        "{\"w\": {\"dtype\": \"F32\", \"shape\": [1, 1, 1, 1, 1], \"data_offsets\": [0, 4]}}",
                        4, "shape has rank 5, more than 4");
    expect_header_error("shape_huge",
                        "{\"w\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296], \"data_offsets\": [0, 4]}}",
                        4, "is too large");
}

static void test_missing_offsets(void **state)
{
    (void)state;
    expect_header_error("no_offsets", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1]}}",
                        4, "tensor 'w': missing data_offsets");
    expect_header_error("entry_string", "{\"w\": \"F32\"}", 4, "tensor 'w': entry is not an object");
}

static void test_long_name(void **state)
{
    (void)state;
    char name[IR_NAME_LEN + 1];
    memset(name, 'n', IR_NAME_LEN);
    name[IR_NAME_LEN] = 0;
    const char *header = tu_fmt("{\"%s\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", name);
    expect_header_error("long_name", header, 4, "name is longer than 95 characters");
}

static void test_metadata_skipped(void **state)
{
    (void)state;
    const char *path = raw_file(tu_tmpdir("metadata"),
                                "{\"__metadata__\": {\"format\": \"pt\", \"x\": 5},"
                                " \"w\": {\"dtype\": \"BF16\", \"shape\": [2], \"data_offsets\": [0, 4]}}   ", 4);
    FeWeights w = {0};
    char err[FE_ERR_LEN];
    if (fe_weights_add_file(&w, path, err, sizeof err) != 0) fail_msg("%s", err);
    assert_int_equal(w.ntensors, 1);
    assert_shape(find(&w, "w"), IR_BF16, 1, 2, 0);
    assert_null(fe_weights_find(&w, "__metadata__"));
    fe_weights_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_llama_tiny),
        cmocka_unit_test(test_fixture_qwen2_tiny),
        cmocka_unit_test(test_fixture_llama_outliers),
        cmocka_unit_test(test_write_read_dtypes),
        cmocka_unit_test(test_write_rejects_bad_dtype),
        cmocka_unit_test(test_sharded_round_trip),
        cmocka_unit_test(test_synth_dtypes_round),
        cmocka_unit_test(test_duplicate_across_files),
        cmocka_unit_test(test_index_duplicate_across_shards),
        cmocka_unit_test(test_index_missing_shard),
        cmocka_unit_test(test_index_wrong_shard),
        cmocka_unit_test(test_index_malformed),
        cmocka_unit_test(test_empty_dir),
        cmocka_unit_test(test_short_file),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_header_past_eof),
        cmocka_unit_test(test_header_absurd),
        cmocka_unit_test(test_invalid_json),
        cmocka_unit_test(test_header_not_object),
        cmocka_unit_test(test_unknown_dtype),
        cmocka_unit_test(test_size_mismatch),
        cmocka_unit_test(test_offsets_out_of_range),
        cmocka_unit_test(test_overlap),
        cmocka_unit_test(test_bad_shape),
        cmocka_unit_test(test_missing_offsets),
        cmocka_unit_test(test_long_name),
        cmocka_unit_test(test_metadata_skipped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
