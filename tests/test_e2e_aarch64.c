/* test_e2e_aarch64.c: hetc's output on 64-bit Arm, cross-built with
 * gcc-aarch64-linux-gnu and run under qemu-aarch64 (the fixtures' logits
 * there are test_e2e_fixtures' aarch64 cases).
 *   - npu-emu's int8 graphs (tests/tools/npu_int8_bytes.c: every op kind,
 *     shapes off the tile) give the same bytes on every x86 path
 *     (HETC_NPU_ISA) and on aarch64's (sdot; scalar asked for, and on a
 *     cpu without the dot product): rt_npu.h's numerics are exact;
 *   - rt_qlinear over block weights (tests/tools/quant_bytes.c) gives
 *     the same bytes on x86's scalar path and aarch64's scalar and sdot
 *     paths;
 *   - trained-llama compiled once, built for this machine and through the
 *     project's cmake/aarch64-linux-gnu.cmake, generates the same greedy
 *     text on both, and so does its firmware build (one static program,
 *     run with no sysroot); each build's instruction paths (model --paths)
 *     are printed;
 *   - a project with an OpenCL unit cross-builds (Debian's arm64 loader in
 *     the cross sysroot).
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

/* tests/tools/TOOL.c with the runtime file kernel (and those every tool
 * needs: the pool, helpers, memory, weights), built as d/x86 for this
 * machine and d/arm for aarch64 with cflags. */
static void build_tool(const char *d, const char *tool, const char *kernel, const char *cflags)
{
    const char *rt = tu_fmt("%s/runtime", tu_src());
    const char *src = tu_fmt("%s/tests/tools/%s.c %s/%s %s/rt_pool.c %s/rt_util.c %s/rt_mem.c %s/rt_weights.c", tu_src(),
                             tool, rt, kernel, rt, rt, rt, rt);
    free(run_ok(tu_fmt("cc %s -march=native -D_GNU_SOURCE -I%s %s -lpthread -lm -o %s/x86", cflags, rt, src, d)));
    free(run_ok(tu_fmt("aarch64-linux-gnu-gcc %s -D_GNU_SOURCE -I%s %s -lpthread -lm -o %s/arm", cflags, rt, src, d)));
}

static void test_int8_bytes(void **state)
{
    tu_require_aarch64();
    const char *d = tu_tmpdir("aarch64-int8");
    build_tool(d, "npu_int8_bytes", "rt_npu_emu.c", "-std=c11 -O2");
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
    /* aarch64: sdot (qemu's default cpu has it), scalar asked for, and
     * scalar chosen on a cpu without the dot product (Cortex-A53) */
    static const struct {
        const char *env, *cpu, *path;
    } arm_runs[] = {{"", "", "sdot"}, {"HETC_NPU_ISA=scalar ", "", "scalar"}, {"", "-cpu cortex-a53 ", "scalar"}};
    char *out = NULL;
    for (int i = 0; i < 3; i++) {
        out = run_ok(tu_fmt("%sqemu-aarch64 %s-L /usr/aarch64-linux-gnu %s/arm %s/arm-%d.bin", arm_runs[i].env,
                            arm_runs[i].cpu, d, d, i));
        printf("  aarch64 %s%s: %s", arm_runs[i].env, arm_runs[i].cpu, out);
        if (!strstr(out, tu_fmt("npu-emu %s path", arm_runs[i].path))) fail_msg("expected the %s path", arm_runs[i].path);
        free(out);
        free(run_ok(tu_fmt("cmp %s/x86-0.bin %s/arm-%d.bin", d, d, i)));
    }
    out = run_ok(tu_fmt("stat -c %%s %s/arm-0.bin", d));
    printf("  every path the same %ld bytes\n", atol(out));
    assert_true(atol(out) > 100000);
    free(out);
}

/* Block weights (tests/tools/quant_bytes.c: q8_0 and q4_0 in layout r16
 * and in rows, q4_k): x86's scalar path, aarch64's scalar path and its
 * sdot path give the same bytes. */
static void test_quant_bytes(void **state)
{
    tu_require_aarch64();
    const char *d = tu_tmpdir("aarch64-quant");
    build_tool(d, "quant_bytes", "rt_quant.c", "-std=gnu11 -O3");
    char *out = run_ok(tu_fmt("HETC_ISA=scalar %s/x86 %s/x86.bin", d, d));
    printf("  x86: %s", out);
    free(out);
    static const char *const runs[][2] = {{"", "sdot"}, {"HETC_ISA=scalar ", "scalar"}};
    for (int i = 0; i < 2; i++) {
        out = run_ok(tu_fmt("%s" QEMU " %s/arm %s/arm-%d.bin", runs[i][0], d, d, i));
        printf("  aarch64: %s", out);
        if (!strstr(out, tu_fmt("block weights: %s path", runs[i][1]))) fail_msg("expected the %s path", runs[i][1]);
        free(out);
        free(run_ok(tu_fmt("cmp %s/x86.bin %s/arm-%d.bin", d, d, i)));
    }
    out = run_ok(tu_fmt("stat -c %%s %s/x86.bin", d));
    printf("  every path the same %ld bytes\n", atol(out));
    assert_true(atol(out) > 10000);
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
    assert_non_null(strstr(paths, "sdot"));
    free(paths);
    /* the firmware build: one static aarch64 program, no -L, the same text */
    free(run_ok(tu_fmt("%s compile %s/fixtures/trained-llama --target %s/targets/host-cpu.xml -o %s/fw --firmware 2>&1",
                       tu_hetc(), tu_shared(), tu_src(), d)));
    free(run_ok(tu_fmt("cmake -S %s/fw -B %s/fw-arm -DCMAKE_BUILD_TYPE=Release "
                       "-DCMAKE_TOOLCHAIN_FILE=%s/fw/cmake/aarch64-linux-gnu.cmake >/dev/null && cmake --build %s/fw-arm 2>&1",
                       d, d, d, d)));
    char *file = run_ok(tu_fmt("file %s/fw-arm/model", d));
    if (!strstr(file, "ARM aarch64") || !strstr(file, "statically linked")) fail_msg("not a static aarch64 program:\n%s", file);
    free(file);
    char *fw = run_ok(tu_fmt("(cd / && qemu-aarch64 %s/fw-arm/model %s)", d, gen));
    printf("  aarch64 firmware (static): \"%s\"\n", fw);
    x86 = run_ok(tu_fmt("(%s/x86/model %s)", d, gen));
    assert_string_equal(x86, fw);
    free(x86);
    free(fw);
}

/* The OpenCL part cross-builds: a project with an OpenCL unit, through the
 * same toolchain file, against Debian's arm64 OpenCL loader (which
 * scripts/deps.sh unpacks into the cross sysroot). */
static void test_opencl_cross_build(void **state)
{
    tu_require_aarch64();
    const char *d = tu_tmpdir("aarch64-opencl");
    char *out;
    if (tu_run(&out, "test -e /usr/aarch64-linux-gnu/lib/libOpenCL.so -a -e /usr/aarch64-linux-gnu/include/CL/cl.h"))
        fail_msg("the OpenCL cross build needs the arm64 OpenCL loader in /usr/aarch64-linux-gnu (scripts/deps.sh "
                 "unpacks it there)");
    free(out);
    free(run_ok(tu_fmt("%s compile %s/fixtures/trained-llama --target %s/targets/host-opencl.xml -o %s/proj 2>&1",
                       tu_hetc(), tu_shared(), tu_src(), d)));
    free(run_ok(tu_fmt("cmake -S %s/proj -B %s/arm -DCMAKE_BUILD_TYPE=Release "
                       "-DCMAKE_TOOLCHAIN_FILE=%s/proj/cmake/aarch64-linux-gnu.cmake >/dev/null && cmake --build %s/arm 2>&1",
                       d, d, d, d)));
    out = run_ok(tu_fmt("file %s/arm/model && grep -c clEnqueueNDRangeKernel %s/arm/model", d, d));
    if (!strstr(out, "ARM aarch64")) fail_msg("not an aarch64 program:\n%s", out);
    printf("  the OpenCL project cross-built: %.*s\n", (int)strcspn(out, ","), out);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int8_bytes),
        cmocka_unit_test(test_quant_bytes),
        cmocka_unit_test(test_greedy_text),
        cmocka_unit_test(test_opencl_cross_build),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
