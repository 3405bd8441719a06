/* test_rt_weights.c: rt_weights_open on small weights.bin files built here
 * (three tensors laid out as codegen/cg_weights.c lays them out): a good
 * file and the data rt_weights_tensor hands out, then every corruption of
 * the header and the tensor table, each with the exact error it gets. */
#include "testutil.h"
#include "hetc_rt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { N_TENSORS = 3, HASH = 0x1234 };

/* A file image: header, table, then the data of each tensor aligned. */
typedef struct {
    RtWeightsHeader h;
    RtTensorEntry e[N_TENSORS];
    unsigned char pad[RT_WEIGHTS_ALIGN * 8];
} Image;

static uint64_t align_up(uint64_t n)
{
    return (n + RT_WEIGHTS_ALIGN - 1) / RT_WEIGHTS_ALIGN * RT_WEIGHTS_ALIGN;
}

static void entry(RtTensorEntry *e, const char *name, RtDtype dt, int64_t d0, int64_t d1, uint64_t *off)
{
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    e->dtype = (uint32_t)dt;
    e->ndim = d1 ? 2 : 1;
    e->shape[0] = d0;
    e->shape[1] = d1;
    e->nbytes = (uint64_t)(d0 * (d1 ? d1 : 1)) * (dt == RT_F32 ? 4 : 2);
    e->offset = *off;
    *off = align_up(*off + e->nbytes);
}

/* a f32 [4,3], b f16 [10], c bf16 [2,2]; returns the file size. */
static size_t good_image(Image *im)
{
    memset(im, 0, sizeof *im);
    memcpy(im->h.magic, RT_WEIGHTS_MAGIC, 8);
    im->h.version = RT_WEIGHTS_VERSION;
    im->h.n_tensors = N_TENSORS;
    im->h.model_hash = HASH;
    uint64_t off = align_up(sizeof im->h + sizeof im->e);
    im->h.data_offset = off;
    entry(&im->e[0], "a", RT_F32, 4, 3, &off);
    entry(&im->e[1], "b", RT_F16, 10, 0, &off);
    entry(&im->e[2], "c", RT_BF16, 2, 2, &off);
    im->h.file_bytes = im->e[2].offset + im->e[2].nbytes;
    assert_true(im->h.file_bytes <= sizeof *im);
    unsigned char *bytes = (unsigned char *)im;
    for (uint64_t i = im->h.data_offset; i < im->h.file_bytes; i++)
        bytes[i] = (unsigned char)i;
    return (size_t)im->h.file_bytes;
}

static const char *write_image(const Image *im, size_t bytes)
{
    const char *path = tu_fmt("%s/weights.bin", tu_tmpdir("rt_weights"));
    tu_write_file(path, im, bytes);
    return path;
}

/* The image must be refused with exactly "<path>: <want>". */
static void expect_refused(const Image *im, size_t bytes, RtStatus want_st, const char *want)
{
    char path[4096];
    snprintf(path, sizeof path, "%s", write_image(im, bytes));
    RtWeights w;
    RtStatus st = rt_weights_open(&w, path, HASH);
    char full[8192];
    snprintf(full, sizeof full, "%s: %s", path, want);
    if (st != want_st || strcmp(rt_last_error(), full) != 0)
        fail_msg("status %d (want %d), error:\n  %s\nwant:\n  %s", st, want_st, rt_last_error(), full);
    assert_null(w.base);
}

static void test_good(void **state)
{
    (void)state;
    Image im;
    size_t bytes = good_image(&im);
    RtWeights w;
    assert_int_equal(rt_weights_open(&w, write_image(&im, bytes), HASH), RT_OK);
    const void *p;
    assert_int_equal(rt_weights_tensor(&w, 1, "b", RT_F16, 20, &p), RT_OK);
    assert_ptr_equal(p, w.base + im.e[1].offset);
    assert_int_equal(*(const unsigned char *)p, (unsigned char)im.e[1].offset);
    assert_int_equal(rt_weights_tensor(&w, 1, "b", RT_F16, 22, &p), RT_ERR_FORMAT);
    assert_string_equal(rt_last_error(), "weights: tensor 'b' has 20 bytes, expected 22");
    assert_int_equal(rt_weights_tensor(&w, 0, "a", RT_F16, 48, &p), RT_ERR_FORMAT);
    assert_string_equal(rt_last_error(), "weights: tensor 'a' is f32, expected f16");
    assert_int_equal(rt_weights_tensor(&w, 2, "b", RT_BF16, 8, &p), RT_ERR_FORMAT);
    assert_string_equal(rt_last_error(), "weights: tensor #2 is 'c', expected 'b'");
    assert_int_equal(rt_weights_tensor(&w, 3, "d", RT_F32, 4, &p), RT_ERR_FORMAT);
    assert_string_equal(rt_last_error(), "weights: tensor 'd' (#3) is missing from the file");
    rt_weights_close(&w);
}

static void test_header(void **state)
{
    (void)state;
    Image im;
    size_t bytes = good_image(&im);
    im.h.magic[0] = 'X';
    expect_refused(&im, bytes, RT_ERR_FORMAT, "not a hetc weights file (bad magic)");
    good_image(&im);
    im.h.version = 7;
    expect_refused(&im, bytes, RT_ERR_FORMAT, "weights format version 7, this program reads version 1");
    good_image(&im);
    expect_refused(&im, bytes - 1, RT_ERR_IO, "file is truncated: 647 bytes, the header says 648");
    im.h.file_bytes = bytes - 8;
    expect_refused(&im, bytes, RT_ERR_FORMAT, "file has 648 bytes, the header says 640");
    good_image(&im);
    im.h.model_hash = 0x99;
    expect_refused(&im, bytes, RT_ERR_FORMAT,
                   "weights were written for another model (hash 0x0000000000000099, this program expects "
                   "0x0000000000001234): recompile or pass the matching weights.bin");
    expect_refused(&im, 10, RT_ERR_IO, "file is too short (10 bytes) for a hetc weights file");
    good_image(&im);
    im.h.n_tensors = 1000;
    expect_refused(&im, bytes, RT_ERR_FORMAT, "the table of 1000 tensors runs past the end of the file");
    good_image(&im);
    im.h.data_offset = 64;
    expect_refused(&im, bytes, RT_ERR_FORMAT, "bad data offset 64");
}

static void test_table(void **state)
{
    (void)state;
    Image im;
    size_t bytes = good_image(&im);
    /* the finding: an offset moved into the tensor before it was accepted
     * (the logits changed silently) */
    im.e[1].offset = im.e[0].offset;
    expect_refused(&im, bytes, RT_ERR_FORMAT,
                   "tensor 'b' (offset 512) overlaps tensor 'a' before it (bytes 512 to 560)");
    good_image(&im);
    im.e[2].offset = im.e[1].offset;
    expect_refused(&im, bytes, RT_ERR_FORMAT,
                   "tensor 'c' (offset 576) overlaps tensor 'b' before it (bytes 576 to 596)");
    good_image(&im);
    im.e[1].offset += 8;
    expect_refused(&im, bytes, RT_ERR_FORMAT,
                   "tensor 'b' (offset 584, 20 bytes) is misaligned or outside the file (648 bytes)");
    good_image(&im);
    im.e[2].offset = 704;
    expect_refused(&im, bytes, RT_ERR_FORMAT,
                   "tensor 'c' (offset 704, 8 bytes) is misaligned or outside the file (648 bytes)");
    good_image(&im);
    im.e[0].offset = 0;
    expect_refused(&im, bytes, RT_ERR_FORMAT,
                   "tensor 'a' (offset 0, 48 bytes) is misaligned or outside the file (648 bytes)");
    good_image(&im);
    im.e[0].shape[1] = 0;
    expect_refused(&im, bytes, RT_ERR_FORMAT,
                   "tensor 'a' has dim 1 of 0 (dims must be > 0 and the size below 2^64 bytes)");
    good_image(&im);
    im.e[1].shape[0] = -10;
    expect_refused(&im, bytes, RT_ERR_FORMAT,
                   "tensor 'b' has dim 0 of -10 (dims must be > 0 and the size below 2^64 bytes)");
    good_image(&im);
    im.e[0].shape[0] = INT64_C(1) << 61;
    im.e[0].shape[1] = 4;
    expect_refused(&im, bytes, RT_ERR_FORMAT,
                   "tensor 'a' has dim 1 of 4 (dims must be > 0 and the size below 2^64 bytes)");
    good_image(&im);
    im.e[2].nbytes = 16;
    expect_refused(&im, bytes, RT_ERR_FORMAT, "tensor 'c' has 16 bytes, its bf16 shape needs 8");
    good_image(&im);
    im.e[1].shape[0] = 11;
    expect_refused(&im, bytes, RT_ERR_FORMAT, "tensor 'b' has 20 bytes, its f16 shape needs 22");
    good_image(&im);
    im.e[2].dtype = 9;
    expect_refused(&im, bytes, RT_ERR_FORMAT, "tensor 'c' has a bad dtype (9) or rank (2)");
    good_image(&im);
    im.e[2].ndim = 5;
    expect_refused(&im, bytes, RT_ERR_FORMAT, "tensor 'c' has a bad dtype (2) or rank (5)");
    good_image(&im);
    memset(im.e[1].name, 'x', sizeof im.e[1].name);
    expect_refused(&im, bytes, RT_ERR_FORMAT, "tensor 1 has an unterminated name");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_header),
        cmocka_unit_test(test_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
