/* test_e2e_aarch64.c: hetc's output on 64-bit Arm, cross-built with
 * gcc-aarch64-linux-gnu and run under qemu-aarch64 (the fixtures' logits
 * there are test_e2e_fixtures' aarch64 cases).
 *   - npu-emu's int8 graphs (tests/tools/npu_int8_bytes.c: every op kind,
 *     shapes off the tile) give the same bytes on every x86 path
 *     (HETC_NPU_ISA) and on aarch64: rt_npu.h's numerics are exact;
 *   - trained-llama compiled once, built for this machine and through the
 *     project's cmake/aarch64-linux-gnu.cmake, generates the same greedy
 *     text on both; each build's instruction paths (model --paths) are
 *     printed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define QEMU "qemu-aarch64 -L /usr/aarch64-linux-gnu"

static char *run_ok(const char *cmd)
{
    char *out;
    if (tu_run(&out, "%s", cmd)) fail_msg("'%s' failed:\n%s", cmd, out);
    return out;
}

static void test_int8_bytes(void **state)
{
    tu_require_aarch64();
    const char *d = tu_tmpdir("aarch64-int8");
    const char *rt = tu_fmt("%s/runtime", tu_src());
    const char *src = tu_fmt("%s/tests/tools/npu_int8_bytes.c %s/rt_npu_emu.c %s/rt_pool.c %s/rt_util.c %s/rt_weights.c",
                             tu_src(), rt, rt, rt, rt);
    free(run_ok(tu_fmt("cc -std=c11 -O2 -march=native -D_GNU_SOURCE -I%s %s -lpthread -lm -o %s/x86", rt, src, d)));
    free(run_ok(tu_fmt("aarch64-linux-gnu-gcc -std=c11 -O2 -D_GNU_SOURCE -I%s %s -lpthread -lm -o %s/arm", rt, src, d)));
    static const char *const x86_paths[] = {"HETC_NPU_ISA=scalar ", "HETC_NPU_ISA=avx2 ", ""};   /* scalar first */
    for (int i = 0; i < 3; i++) {
        char *out;
        if (tu_run(&out, "%s%s/x86 %s/x86-%d.bin", x86_paths[i], d, d, i)) {
            if (strstr(out, "has no")) {    /* a cpu without that path */
                free(out);
                continue;
            }
            fail_msg("x86 %s:\n%s", x86_paths[i], out);
        }
        printf("  x86: %s", out);
        free(out);
        free(run_ok(tu_fmt("cmp %s/x86-0.bin %s/x86-%d.bin", d, d, i)));
    }
    char *out = run_ok(tu_fmt(QEMU " %s/arm %s/arm.bin", d, d));
    printf("  aarch64: %s", out);
    free(out);
    out = run_ok(tu_fmt("cmp %s/x86-0.bin %s/arm.bin && stat -c %%s %s/arm.bin", d, d, d));
    printf("  every path the same %ld bytes\n", atol(out));
    assert_true(atol(out) > 100000);
    free(out);
}

static void test_greedy_text(void **state)
{
    tu_require_aarch64();
    const char *d = tu_tmpdir("aarch64-greedy");
    free(run_ok(tu_fmt("%s compile %s/fixtures/trained-llama --target %s/targets/host-cpu.xml -o %s/proj 2>&1", tu_hetc(),
                       tu_shared(), tu_src(), d)));
    free(run_ok(tu_fmt("cmake -S %s/proj -B %s/x86 -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build %s/x86 2>&1",
                       d, d, d)));
    free(run_ok(tu_fmt("cmake -S %s/proj -B %s/arm -DCMAKE_BUILD_TYPE=Release "
                       "-DCMAKE_TOOLCHAIN_FILE=%s/proj/cmake/aarch64-linux-gnu.cmake >/dev/null && cmake --build %s/arm 2>&1",
                       d, d, d, d)));
    const char *gen = "-p 'Once upon a time' -n 40 --temp 0 2>/dev/null";   /* the continuation alone */
    char *x86 = run_ok(tu_fmt("(%s/x86/model %s)", d, gen)), *arm = run_ok(tu_fmt("(" QEMU " %s/arm/model %s)", d, gen));
    printf("  x86:     \"%s\"\n  aarch64: \"%s\"\n", x86, arm);
    assert_true(strlen(x86) > 20);
    assert_string_equal(x86, arm);
    free(x86);
    free(arm);
    char *paths = run_ok(tu_fmt(QEMU " %s/arm/model --paths", d));
    printf("%s", paths);
    assert_non_null(strstr(paths, "neon"));
    free(paths);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int8_bytes),
        cmocka_unit_test(test_greedy_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
