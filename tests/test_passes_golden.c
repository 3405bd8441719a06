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

static void test_lower_qwen2(void **state)
{
    check_golden(tu_fmt("%s inspect %s/fixtures/qwen2-tiny --ir", tu_hetc(), tu_shared()), "qwen2-tiny.ir");
}

static void test_fuse(void **state) { check_pass("fuse", "fuse"); }
static void test_dce(void **state) { check_pass("dce", "dce"); }
static void test_place(void **state) { check_pass("place", "place"); }
static void test_transfers(void **state) { check_pass("transfers", "transfers"); }
static void test_memplan(void **state) { check_pass("memplan", "memplan"); }
static void test_memplan_two_units(void **state) { check_pass("memplan-gpu", "memplan"); }
static void test_group(void **state) { check_pass("group", "group"); }

/* memplan keeps what a fusion group reads alive until the group's anchor. */
static void test_memplan_groups(void **state)
{
    check_golden(tu_fmt("%s opt %s/tests/golden/group.in.ir --passes=group,memplan", tu_hetc(), tu_src()),
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
    long plain = gpu_arena("memplan"), grouped = gpu_arena("group,memplan");
    printf("  gpu arena: %ld bytes, %ld with fusion groups\n", plain, grouped);
    assert_true(grouped >= plain);
    assert_true(grouped <= plain + plain / 4);
}

static void test_requires(void **state)
{
    char *out;
    int rc = tu_run(&out, "%s opt %s/tests/golden/fuse.in.ir --passes=memplan", tu_hetc(), tu_src());
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(out, "pass 'memplan' requires pass 'transfers'"));
    free(out);
    rc = tu_run(&out, "%s opt %s/tests/golden/fuse.in.ir --passes=lower", tu_hetc(), tu_src());
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(out, "cannot run on an IR file"));
    free(out);
    rc = tu_run(&out, "%s opt %s/tests/golden/fuse.in.ir --passes=nosuch", tu_hetc(), tu_src());
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(out, "unknown pass 'nosuch'"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lower_llama), cmocka_unit_test(test_lower_qwen2), cmocka_unit_test(test_fuse),
        cmocka_unit_test(test_dce),         cmocka_unit_test(test_place),       cmocka_unit_test(test_transfers),
        cmocka_unit_test(test_memplan),     cmocka_unit_test(test_memplan_two_units), cmocka_unit_test(test_group),
        cmocka_unit_test(test_memplan_groups),   cmocka_unit_test(test_memplan_groups_free),
        cmocka_unit_test(test_requires),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
