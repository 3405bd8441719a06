/* test_passes_golden.c: each pass on a text IR file against a golden file.
 *
 * tests/golden/NAME.in.ir --passes=P--> must print exactly NAME.out.ir
 * (`hetc opt`). The lowering of the llama-tiny and qwen2-tiny fixtures is
 * checked the same way (`hetc inspect --ir`). HETC_UPDATE_GOLDEN=1 rewrites
 * the golden files instead; review the diff before committing it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static void check_golden(const char *cmd, const char *golden)
{
    char *out;
    int rc = tu_run(&out, "%s", cmd);
    if (rc) fail_msg("'%s' failed:\n%s", cmd, out);
    const char *path = tu_fmt("%s/tests/golden/%s", tu_src(), golden);
    const char *update = getenv("HETC_UPDATE_GOLDEN");
    if (update && *update == '1') tu_write_file(path, out, strlen(out));
    char *want = tu_read_file(path, NULL);
    if (!want) fail_msg("%s is missing (HETC_UPDATE_GOLDEN=1 makes it)", path);
    if (strcmp(out, want) != 0) {
        const char *got = tu_fmt("%s/%s.got", tu_tmpdir("golden"), golden);
        tu_write_file(got, out, strlen(out));
        char *diff;
        tu_run(&diff, "diff -u %s %s | head -40", path, got);
        fail_msg("%s differs from %s:\n%s", cmd, golden, diff);
    }
    free(want);
    free(out);
}

static void check_pass(const char *name, const char *passes)
{
    check_golden(tu_fmt("%s opt %s/tests/golden/%s.in.ir --passes=%s", tu_hetc(), tu_src(), name, passes),
                 tu_fmt("%s.out.ir", name));
}

static void test_lower_llama(void **state)
{
    check_golden(tu_fmt("(%s compile %s/fixtures/llama-tiny --target %s/targets/host-cpu.xml -o %s --print-after=lower "
                        "2>/dev/null)",
                        tu_hetc(), tu_shared(), tu_src(), tu_tmpdir("golden-lower")),
                 "llama-tiny.lower.ir");
}

/* Passes quantize and outliers on llama-outliers (RMSNorm weights that
 * make channels 3, 77 and 100 outliers in every layer) for host-npu,
 * calibrated on the default text: scales, decisions, channel sets,
 * shadows and their adds as the IR shows them. */
static void test_quantize_outliers(void **state)
{
    const char *tmp = tu_tmpdir("golden-npu");
    char *out;
    if (tu_run(&out, "%s calibrate %s/fixtures/llama-outliers -o %s/calib.json --calib-window 128", tu_hetc(), tu_shared(),
               tmp))
        fail_msg("calibrate failed:\n%s", out);
    free(out);
    check_golden(tu_fmt("(%s compile %s/fixtures/llama-outliers --target %s/targets/host-npu.xml -o %s/p --calib-in "
                        "%s/calib.json --chunk 16 --partition npu --outlier-t 2 --outlier-prune 0.5 --print-after=outliers 2>/dev/null)",
                        tu_hetc(), tu_shared(), tu_src(), tmp, tmp),
                 "llama-outliers.outliers.ir");
}

/* --matmul-precision bf16: pass place marks the cpu linears of bf16 weights
 * (the lm head of llama-tiny included) with xdtype=bf16. */
static void test_place_matmul_bf16(void **state)
{
    check_golden(tu_fmt("(%s compile %s/fixtures/llama-tiny --target %s/targets/host-cpu.xml -o %s --weight-dtype bf16 "
                        "--matmul-precision bf16 --print-after=place 2>/dev/null)",
                        tu_hetc(), tu_shared(), tu_src(), tu_tmpdir("golden-xbf16")),
                 "llama-tiny-xbf16.place.ir");
}

/* q4_0 weights on an OpenCL unit: layout g4 where rows are whole groups
 * of 128 (not llama-outliers' 320-wide down projection), and xdtype=q8_0
 * on the decode plan's linears of those (int8 x in their one-token
 * launches), none on the flex plan's. */
static void test_place_int8_opencl(void **state)
{
    check_golden(tu_fmt("(%s compile %s/fixtures/llama-outliers --target %s/targets/host-opencl.xml -o %s --weight-dtype q4_0 "
                        "--print-after=place 2>/dev/null)",
                        tu_hetc(), tu_shared(), tu_src(), tu_tmpdir("golden-int8-opencl")),
                 "llama-outliers-q4_0-opencl.place.ir");
}

static void test_lower_qwen2(void **state)
{
    check_golden(tu_fmt("%s inspect %s/fixtures/qwen2-tiny --ir", tu_hetc(), tu_shared()), "qwen2-tiny.ir");
}

static void test_fuse(void **state) { check_pass("fuse", "fuse"); }
static void test_dce(void **state) { check_pass("dce", "dce"); }
static void test_place(void **state) { check_pass("place", "chunk,place"); }

/* Without --chunk: a decode plan (1..8 tokens) and a flex plan (1..max_chunk). */
static void test_chunk(void **state) { check_pass("chunk", "chunk"); }

/* --chunk 32 --remainder pad: decode and a static prefill-32 plan, no S in
 * its shapes and no flex plan (remainders are padded). */
static void test_chunk_pad(void **state)
{
    check_golden(tu_fmt("%s opt %s/tests/golden/chunk.in.ir --passes=chunk --chunk 32 --remainder pad", tu_hetc(),
                        tu_src()),
                 "chunk-pad.out.ir");
}

/* --chunk 16,32 with a flex remainder, through memplan: each plan from an
 * empty arena, the arena sized by the largest. */
static void test_chunk_memplan(void **state)
{
    check_golden(tu_fmt("%s opt %s/tests/golden/chunk.in.ir --passes=chunk,place,transfers,group,schedule,memplan --chunk 32,16 "
                        "--remainder flex --target %s/targets/host-opencl.xml",
                        tu_hetc(), tu_src(), tu_src()),
                 "chunk-memplan.out.ir");
}
static void test_transfers(void **state) { check_pass("transfers", "transfers"); }
/* Units in one memory space (cpu0 and npu0 on "host") need no copies. */
static void test_transfers_shared(void **state) { check_pass("transfers-shared", "transfers"); }
static void test_memplan(void **state) { check_pass("memplan", "schedule,memplan"); }

/* Placement by op kind (host-split: attention on cpu0, the rest on gpu0)
 * and copies only between memory spaces: q, k, v to the host, attention's
 * result back, per layer. */
static void test_place_split(void **state)
{
    check_golden(tu_fmt("%s opt %s/tests/golden/place.in.ir --passes=chunk,place,transfers --target %s/targets/host-split.xml",
                        tu_hetc(), tu_src(), tu_src()),
                 "place-split.out.ir");
}
/* Subgraphs on host-split: the gpu's runs, each attention alone on the cpu,
 * the copies with their consumers. */
static void test_schedule_split(void **state)
{
    check_golden(tu_fmt("%s opt %s/tests/golden/place.in.ir --passes=chunk,place,transfers,schedule --chunk 32 "
                        "--remainder pad --target %s/targets/host-split.xml",
                        tu_hetc(), tu_src(), tu_src()),
                 "schedule-split.out.ir");
}

/* Out of order on host-npu (the default): the first node of each cpu0
 * subgraph that npu0's graphs read from carries its contribution score
 * (the microseconds of npu0 work it makes ready); in order, none does. */
static void test_schedule_ooo(void **state)
{
    const char *cmd = "%s opt %s/tests/golden/place.in.ir --passes=chunk,place,transfers,schedule --chunk 32 "
                      "--remainder pad --target %s/targets/host-npu.xml%s";
    check_golden(tu_fmt(cmd, tu_hetc(), tu_src(), tu_src(), ""), "schedule-ooo.out.ir");
    char *out;
    if (tu_run(&out, cmd, tu_hetc(), tu_src(), tu_src(), " --schedule inorder")) fail_msg("%s", out);
    assert_null(strstr(out, "score="));
    assert_non_null(strstr(out, " ooo=0\n"));
    free(out);
}

/* memplan on host-split: a copy to the host is born at the host's previous
 * wait, and what goes to the device lives until the host's next wait, so
 * the two threads never share bytes. */
static void test_memplan_split(void **state)
{
    check_golden(tu_fmt("%s opt %s/tests/golden/place.in.ir --passes=chunk,place,transfers,schedule,memplan --chunk 32 "
                        "--remainder pad --target %s/targets/host-split.xml",
                        tu_hetc(), tu_src(), tu_src()),
                 "memplan-split.out.ir");
}

static void test_memplan_two_units(void **state) { check_pass("memplan-gpu", "schedule,memplan"); }
static void test_group(void **state) { check_pass("group", "group"); }

/* memplan keeps what a fusion group reads alive until the group's anchor. */
static void test_memplan_groups(void **state)
{
    check_golden(tu_fmt("%s opt %s/tests/golden/group.in.ir --passes=group,schedule,memplan", tu_hetc(), tu_src()),
                 "group-memplan.out.ir");
}

/* The gpu unit's arena after memplan of group.in.ir, with or without groups. */
static long gpu_arena(const char *passes)
{
    char *out;
    if (tu_run(&out, "%s opt %s/tests/golden/group.in.ir --passes=%s", tu_hetc(), tu_src(), passes))
        fail_msg("hetc opt --passes=%s failed:\n%s", passes, out);
    const char *line = strstr(out, "\narena ");
    long cpu = -1, gpu = -1;
    if (!line || sscanf(line, "\narena %ld %ld", &cpu, &gpu) != 2) fail_msg("no arena line in:\n%s", out);
    free(out);
    return gpu;
}

/* Groups only delay when their operands die: every buffer is still freed,
 * so the arena grows by little (not by a buffer per layer). */
static void test_memplan_groups_free(void **state)
{
    long plain = gpu_arena("schedule,memplan"), grouped = gpu_arena("group,schedule,memplan");
    printf("  gpu arena: %ld bytes, %ld with fusion groups\n", plain, grouped);
    assert_true(grouped >= plain);
    assert_true(grouped <= plain + plain / 4);
}

/* hetc opt FILE --passes=P must fail with exactly the message want; file is
 * a golden input (NAME.in.ir, run from tests/golden) or, with a newline in
 * it, the IR text itself (then written to bad.ir in the directory hetc runs
 * in). Pass errors name the file: "NAME.in.ir: error: ...". */
static void expect_opt_error(const char *file, const char *passes, const char *want)
{
    const char *dir = tu_fmt("%s/tests/golden", tu_src()), *path = file;
    if (strchr(file, '\n')) {
        dir = tu_tmpdir("golden-bad");
        path = "bad.ir";
        tu_write_file(tu_fmt("%s/bad.ir", dir), file, strlen(file));
    }
    char *out;
    int rc = tu_run(&out, "cd %s && %s opt %s --passes=%s 2>&1", dir, tu_hetc(), path, passes);
    if (rc == 0 || strcmp(out, tu_fmt("%s\n", want)) != 0)
        fail_msg("--passes=%s: exit %d, output '%s', wanted '%s'", passes, rc, out, want);
    free(out);
}

#define HDR "hetc-ir 2\ngraph \"m\" arch=\"llama\"\n"

static void test_requires(void **state)
{
    expect_opt_error("fuse.in.ir", "memplan",
                     "fuse.in.ir: error: pass 'memplan' requires pass 'schedule' to have run first");
    expect_opt_error("fuse.in.ir", "schedule",
                     "fuse.in.ir: error: pass 'schedule' requires pass 'transfers' to have run first");
    expect_opt_error(HDR "passes lower transfers\n", "schedule",
                     "bad.ir: error: pass 'schedule' requires pass 'place' to have run first");
    expect_opt_error(HDR, "lower", "bad.ir: error: pass 'lower' needs a model; it cannot run on an IR file");
    expect_opt_error("fuse.in.ir", "place", "fuse.in.ir: error: pass 'place' requires pass 'chunk' to have run first");
    expect_opt_error("chunk.in.ir", "chunk --chunk 256",
                     "chunk.in.ir: error: --chunk 256: a chunk must be 1 to 128 tokens (--max-chunk, the most one "
                     "step takes)");
    expect_opt_error("fuse.in.ir", "nosuch",
                     "fuse.in.ir: error: unknown pass 'nosuch' (hetc opt --list-passes lists them)");
}

/* Passes run in the order of the list, each once: a later pass's results
 * (ids, units, offsets) would not survive an earlier one. */
static void test_order(void **state)
{
    expect_opt_error("fuse.in.ir", "lower", "fuse.in.ir: error: pass 'lower' has already run");
    expect_opt_error(HDR "passes lower place\nunit cpu0 kind=cpu backend=c mem=host\n", "dce",
                     "bad.ir: error: pass 'dce' cannot run after pass 'place': it would invalidate its units, node "
                     "units (passes run in the order of --list-passes)");
    expect_opt_error("group.in.ir", "schedule,memplan,group",
                     "group.in.ir: error: pass 'group' cannot run after pass 'schedule': it would invalidate its "
                     "subgraphs (passes run in the order of --list-passes)");
    expect_opt_error("transfers.in.ir", "chunk", "transfers.in.ir: error: pass 'chunk' has already run");
    expect_opt_error("group.in.ir", "transfers", "group.in.ir: error: pass 'transfers' has already run");
    expect_opt_error("group.in.ir", "chunk", "group.in.ir: error: pass 'chunk' has already run");
    char full[200] = HDR "passes lower";
    while (strlen(full) < strlen(HDR "passes ") + 157) strcat(full, " x");     /* 157 of 159 bytes */
    strcat(full, "\n");
    expect_opt_error(full, "fuse",
                     "bad.ir: error: pass 'fuse': the graph's 'passes' line has no room for it (159 bytes at most)");
}

/* IR that parses but breaks what a pass relies on is refused where it is
 * read, naming the line (before, passes overflowed buffers or aborted). */
static void test_invalid_input(void **state)
{
    expect_opt_error(HDR "passes lower place\nunit cpu0 kind=cpu backend=c mem=host\n%0 = input() : [S] i32 @-1 \"ids\"\n", "transfers",
                     "bad.ir:5: error: node %0 (ids): input: no unit, but pass 'place' has run");
    expect_opt_error(HDR "passes lower place transfers group\nunit cpu0 kind=cpu backend=c mem=host\n"
                         "%0 = input() group=3 : [S] i32 @-1 \"ids\" unit=cpu0\n",
                     "memplan", "bad.ir:5: error: node %0 (ids): input: group 3 is not a node from %0 to %0");
    expect_opt_error(HDR "attr max_chunk=16.5\npasses lower place transfers\nunit cpu0 kind=cpu backend=c mem=host\n", "memplan",
                     "bad.ir:3: error: graph: attribute 'max_chunk' must be an int in 1..65536");
    expect_opt_error(HDR "passes lower chunk place transfers\nunit cpu0 kind=cpu backend=c mem=host\n"
                         "%0 = weight() name=\"e\" : [8,4] f32 @-1 \"e\" unit=cpu0\n"
                         "plan flex kind=flex s=1..4\n"
                         "%1 = input() : [S] i32 @-1 \"ids\" unit=cpu0\n"
                         "%2 = embed(%1, %0) : [S,4] f32 @-1 \"x\" unit=cpu0\n"
                         "%3 = output(%2) : [S,4] f32 @-1 \"out\" unit=cpu0\n",
                     "schedule,memplan", "bad.ir: error: memplan: the graph has no max_chunk attribute");
    expect_opt_error(HDR "passes lower\n", "chunk",
                     "bad.ir: error: chunk: the step has 0 inputs and 0 outputs; a plan needs one of each");
    expect_opt_error(HDR "passes lower chunk\n%0 = weight() name=\"e\" : [8,4] f32 @-1 \"e\"\n", "place",
                     "bad.ir:3: error: graph: no plans, but pass 'chunk' has run");
}

/* Each buffer is bounded (2^48 elements at max_chunk), their sum is not:
 * 65 live embeds of 2^50 bytes go past memplan's 2^56. */
static void test_memplan_too_large(void **state)
{
    char *text = malloc(1 << 16);
    int len = snprintf(text, 1 << 16, HDR "attr max_chunk=65536\npasses lower chunk place transfers\n"
                                          "unit cpu0 kind=cpu backend=c mem=host\n"
                                          "%%0 = weight() name=\"t\" : [8,4294967296] f32 @-1 \"t\" unit=cpu0\n"
                                          "plan flex kind=flex s=1..65536\n"
                                          "%%1 = input() : [S] i32 @-1 \"ids\" unit=cpu0\n");
    for (int k = 0; k < 65; k++)
        len += snprintf(text + len, (1 << 16) - len, "%%%d = embed(%%1, %%0) : [S,4294967296] f32 @-1 \"e%d\" unit=cpu0\n",
                        2 + k, k);
    int sum = 2;
    for (int k = 1; k < 65; k++, sum = 66 + k - 1)
        len += snprintf(text + len, (1 << 16) - len, "%%%d = add(%%%d, %%%d) : [S,4294967296] f32 @-1 \"s%d\" unit=cpu0\n",
                        66 + k, sum, 2 + k, k);
    snprintf(text + len, (1 << 16) - len, "%%131 = output(%%130) : [S,4294967296] f32 @-1 \"out\" unit=cpu0\n");
    expect_opt_error(text, "schedule,memplan",
                     "bad.ir: error: memplan: node %66 (e64): the arena of unit 'cpu0' needs more than "
                     "72057594037927936 bytes");
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lower_llama), cmocka_unit_test(test_lower_qwen2), cmocka_unit_test(test_fuse),
        cmocka_unit_test(test_dce),         cmocka_unit_test(test_place),       cmocka_unit_test(test_transfers),
        cmocka_unit_test(test_memplan),
        cmocka_unit_test(test_place_split),
        cmocka_unit_test(test_chunk),
        cmocka_unit_test(test_chunk_pad),
        cmocka_unit_test(test_chunk_memplan),
        cmocka_unit_test(test_schedule_split),
        cmocka_unit_test(test_schedule_ooo),
        cmocka_unit_test(test_memplan_split),
        cmocka_unit_test(test_transfers_shared),     cmocka_unit_test(test_memplan_two_units), cmocka_unit_test(test_group),
        cmocka_unit_test(test_memplan_groups),   cmocka_unit_test(test_memplan_groups_free),
        cmocka_unit_test(test_requires), cmocka_unit_test(test_order), cmocka_unit_test(test_invalid_input),
        cmocka_unit_test(test_memplan_too_large),
        cmocka_unit_test(test_place_matmul_bf16),
        cmocka_unit_test(test_place_int8_opencl),
        cmocka_unit_test(test_quantize_outliers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
