/* test_fe_target.c: target XML (fe_target_load): the shipped targets load
 * with the values they state, and every bad target is refused with the
 * exact "FILE:LINE: error: ..." naming the element or attribute: unknown
 * attributes, unit names that are no C identifiers (model.c names fields
 * after them), platform and device strings that would break out of their C
 * string literal, values out of range, and
 * cost figures out of range, <place> elements naming no compute op or no
 * unit, and targets hetc cannot compile for (no cpu unit with backend c, a
 * second opencl unit, an opencl unit sharing memory, an npu-emu unit of
 * its own memory, npu ops it cannot run). */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/fe.h"

static void test_shipped(void **state)
{
    static const char *const names[] = {"host-cpu", "host-opencl", "nvidia-opencl", "host-split"};
    for (int i = 0; i < 4; i++) {
        FeTarget t;
        char err[FE_ERR_LEN] = "";
        if (fe_target_load(&t, tu_fmt("%s/targets/%s.xml", tu_src(), names[i]), err, sizeof err)) fail_msg("%s", err);
        assert_string_equal(t.name, names[i]);
        assert_string_equal(t.units[0].name, "cpu0");
        assert_string_equal(t.units[0].backend, "c");
    }
    FeTarget t;
    char err[FE_ERR_LEN];
    assert_int_equal(fe_target_load(&t, tu_fmt("%s/targets/nvidia-opencl.xml", tu_src()), err, sizeof err), 0);
    assert_int_equal(t.nunits, 2);
    assert_string_equal(t.units[1].platform, "NVIDIA");
    assert_int_equal(t.units[1].wg, 256);
    assert_int_equal(t.units[1].fp16, 1);
    assert_int_equal(t.units[1].line, 8);
    assert_string_equal(t.units[0].mem, "host");
    assert_string_equal(t.units[1].mem, "gpu0");
    assert_int_equal(fe_target_load(&t, tu_fmt("%s/targets/host-split.xml", tu_src()), err, sizeof err), 0);
    assert_int_equal(t.nplace, 1);
    assert_string_equal(t.place[0].op, "attention");
    assert_int_equal(t.place[0].unit, 0);
}

typedef struct {
    const char *units;      /* the lines inside <target>, from line 2 (roots[]: the <target> line) */
    const char *want;       /* the message after "PATH:" */
} BadTarget;

#define CPU "<unit name=\"cpu0\" kind=\"cpu\" backend=\"c\"/>\n"
#define GPU(name) "<unit name=\"" name "\" kind=\"gpu\" backend=\"opencl\"/>\n"

static const BadTarget bad[] = {
    {"<unit name=\"cp#u0\" kind=\"cpu\" backend=\"c\"/>\n",
     "2: error: unit 'cp#u0': attribute 'name' must be a C identifier (letters, digits and '_', not starting with a "
     "digit)"},
    {CPU "<unit name=\"gpu-0\" kind=\"gpu\" backend=\"opencl\"/>\n",
     "3: error: unit 'gpu-0': attribute 'name' must be a C identifier (letters, digits and '_', not starting with a "
     "digit)"},
    {"<unit name=\"0cpu\" kind=\"cpu\" backend=\"c\"/>\n",
     "2: error: unit '0cpu': attribute 'name' must be a C identifier (letters, digits and '_', not starting with a "
     "digit)"},
    {CPU "<unit name=\"gpu0\" kind=\"gpu\" backend=\"opencl\" platform='x\", \"y'/>\n",
     "3: error: unit 'gpu0': attribute 'platform' must be printable ASCII without '\"', '\\' or '?'"},
    {CPU "<unit name=\"gpu0\" kind=\"gpu\" backend=\"opencl\" device=\"a?\"/>\n",
     "3: error: unit 'gpu0': attribute 'device' must be printable ASCII without '\"', '\\' or '?'"},
    {"<unit name=\"abcdefghijklmnop\" kind=\"cpu\" backend=\"c\"/>\n",
     "2: error: <unit> attribute 'name' must be 1 to 15 characters"},
    {CPU "<unit name=\"cpu1\" kind=\"cpu\" backend=\"c\" gflop=\"100\"/>\n",
     "3: error: <unit> has unknown attribute 'gflop'"},
    {CPU "<unit name=\"cpu1\" kind=\"cpu\" backend=\"c\" gflops=\"-1\"/>\n",
     "3: error: unit 'cpu1': gflops '-1' is not a number in (0, 1e+07]"},
    {CPU "<unit name=\"cpu1\" kind=\"cpu\" backend=\"c\" gbps=\"fast\"/>\n",
     "3: error: unit 'cpu1': gbps 'fast' is not a number in (0, 100000]"},
    {CPU "<unit name=\"cpu1\" kind=\"cpu\" backend=\"c\" mem=\"a b\"/>\n",
     "3: error: unit 'cpu1': attribute 'mem' must be a C identifier"},
    {CPU "<unit name=\"npu0\" kind=\"npu\" backend=\"npu-emu\" mem=\"host\" ops=\"linear attention\"/>\n",
     "3: error: unit 'npu0': ops: 'attention' is not an op an npu unit runs (linear, rmsnorm, add, mul, silu, "
     "swiglu)"},
    {CPU "<unit name=\"npu0\" kind=\"npu\" backend=\"npu-emu\" mem=\"host\" ops=\"add\"/>\n",
     "3: error: unit 'npu0': ops must include 'linear'"},
    {CPU "<place op=\"attention\" unit=\"gpu9\"/>\n", "3: error: <place> attribute 'unit': no unit is called 'gpu9'"},
    {CPU "<place op=\"copy\" unit=\"cpu0\"/>\n",
     "3: error: <place> attribute 'op': 'copy' is not a compute op (embed, rmsnorm, linear, rope, attention, silu, "
     "mul, swiglu, add)"},
    {CPU "<place op=\"rope\" unit=\"cpu0\"/>\n<place op=\"rope\" unit=\"cpu0\"/>\n",
     "4: error: <place> attribute 'op': op 'rope' is placed twice"},
    {CPU "<place op=\"rope\" unit=\"cpu0\" when=\"always\"/>\n", "3: error: <place> has unknown attribute 'when'"},
    {CPU "<unit name=\"cpu1\" kind=\"cpu\" backend=\"c\" wg=\"64\"/>\n",
     "3: error: unit 'cpu1': 'wg' applies to opencl units only"},
    {GPU("gpu0"), "1: error: the target needs a unit with kind 'cpu' and backend 'c' (the tokenizer and sampling run "
                  "there)"},
    {"<unit name=\"gpu0\" kind=\"gpu\" backend=\"opencl\"/>\n<place op=\"add\" unit=\"gpu0\"/>\n",
     "1: error: the target needs a unit with kind 'cpu' and backend 'c' (the tokenizer and sampling run there)"},
    {CPU "<unit name=\"gpu0\" kind=\"gpu\" backend=\"opencl\" wg=\"48\"/>\n", "3: error: unit 'gpu0': wg 48 is not a power of two"},
    {CPU "<unit name=\"gpu0\" kind=\"gpu\" backend=\"opencl\" att_chunks=\"0\"/>\n",
     "3: error: unit 'gpu0': att_chunks '0' is not an integer in 1..1024"},
    {CPU "<unit name=\"cpu1\" kind=\"cpu\" backend=\"c\" att_split=\"64\"/>\n",
     "3: error: unit 'cpu1': 'att_split' applies to opencl units only"},
    {CPU "<unit name=\"gpu0\" kind=\"gpu\" backend=\"opencl\" tile=\"1e3\"/>\n",
     "3: error: unit 'gpu0': tile '1e3' is not an integer in 4..64"},
    {CPU "<unit name=\"gpu0\" kind=\"cpu\" backend=\"opencl\"/>\n", "3: error: unit 'gpu0': a cpu unit cannot use backend 'opencl'"},
    {CPU CPU, "3: error: unit name 'cpu0' is used twice"},
    {CPU "<device/>\n", "3: error: unknown element <device> in <target>"},
    {CPU "<unit name=\"npu0\" kind=\"npu\" backend=\"npu-emu\" mem=\"host\" shares=\"cpu9\"/>\n",
     "3: error: unit 'npu0': attribute 'shares': no other unit is called 'cpu9'"},
    {CPU "<unit name=\"npu0\" kind=\"npu\" backend=\"npu-emu\" mem=\"host\" shapes=\"32 16\"/>\n",
     "3: error: unit 'npu0': shapes: '16' is not a row count in 33..65536 (ascending)"},
    {CPU "<unit name=\"gpu0\" kind=\"gpu\" backend=\"opencl\" shapes=\"32\"/>\n",
     "3: error: unit 'gpu0': 'shapes' applies to npu units only"},
    {"<memory gbps=\"0\"/>\n" CPU, "2: error: <memory>: gbps '0' is not a number in (0, 100000]"},
    {"<memory/>\n" CPU, "2: error: <memory> needs attribute 'gbps' or 'ram'"},
    {"<memory ram=\"8Q\"/>\n" CPU, "2: error: <memory> attribute 'ram': '8Q' is not a size (bytes, or a number with K, "
                                   "M, G or T: 512M, 8G)"},
    {"<memory ram=\"1.5GB\"/>\n" CPU, "2: error: <memory> attribute 'ram': '1.5GB' is not a size (bytes, or a number "
                                      "with K, M, G or T: 512M, 8G)"},
    {"<memory ram=\"-1\"/>\n" CPU, "2: error: <memory> attribute 'ram': '-1' is not a size (bytes, or a number with K, "
                                   "M, G or T: 512M, 8G)"},
    {"<memory gbps=\"60\" kind=\"lpddr5x\"/>\n" CPU, "2: error: <memory> has unknown attribute 'kind'"},
    {"<memory gbps=\"60\"/>\n<memory gbps=\"60\"/>\n" CPU, "3: error: <memory> is given twice"},
    {"", "1: error: the target has no <unit>"},
};

/* Targets that load (planning takes them) but that hetc cannot generate
 * code for: fe_target_codegen_check refuses them. */
static const BadTarget codegen_bad[] = {
    {CPU "<unit name=\"gpu0\" kind=\"gpu\" backend=\"opencl\" mem=\"host\"/>\n",
     "3: error: unit 'gpu0': attribute 'mem': an opencl unit has memory of its own in this hetc, but unit 'cpu0' is "
     "in space 'host' too"},
    {CPU "<unit name=\"npu0\" kind=\"npu\" backend=\"npu-emu\"/>\n",
     "3: error: unit 'npu0': backend 'npu-emu': hetc compiles for one npu-emu unit, sharing the host cpu unit's "
     "memory (mem=\"host\")"},
    {CPU GPU("gpu0") "\n" GPU("gpu1"),
     "5: error: unit 'gpu1': backend 'opencl': hetc compiles for one opencl unit, and unit 'gpu0' is one"},
    {CPU "<unit name=\"cpu1\" kind=\"cpu\" backend=\"c\" mem=\"host\"/>\n",
     "3: error: unit 'cpu1': backend 'c': hetc compiles for one c unit (its thread pool uses every core), and unit "
     "'cpu0' is one"},
};

/* fe_target_load of text (written to path) must fail with path:want, or
 * (codegen) load and fail fe_target_codegen_check so. */
static void expect_load_error(const char *path, const char *text, const char *want, int codegen, const char *what,
                              size_t i)
{
    tu_write_file(path, text, strlen(text));
    FeTarget t;
    char err[FE_ERR_LEN] = "";
    const char *full = tu_fmt("%s:%s", path, want);
    int rc = fe_target_load(&t, path, err, sizeof err);
    if (codegen && rc == 0) rc = fe_target_codegen_check(&t, err, sizeof err);
    else if (codegen) fail_msg("%s %zu: does not load: %s", what, i, err);
    if (rc != -1 || strcmp(err, full) != 0) fail_msg("%s %zu: '%s', wanted '%s'", what, i, err, full);
}

/* <memory ram=...>: powers of 1024, fractions allowed, plain bytes. */
static void test_ram(void **state)
{
    static const struct {
        const char *text;
        uint64_t bytes;
    } sizes[] = {{"512M", 512ull << 20}, {"8G", 8ull << 30}, {"1.5G", 3ull << 29}, {"65536", 65536}, {"64K", 65536}};
    for (int i = 0; i < 5; i++) {
        const char *path = tu_fmt("%s/ram.xml", tu_tmpdir("target-ram"));
        const char *xml = tu_fmt("<target name=\"t\" version=\"1\">\n<memory ram=\"%s\"/>\n" CPU "</target>\n", sizes[i].text);
        tu_write_file(path, xml, strlen(xml));
        FeTarget t;
        char err[FE_ERR_LEN] = "";
        if (fe_target_load(&t, path, err, sizeof err)) fail_msg("%s", err);
        assert_int_equal(t.ram, sizes[i].bytes);
        assert_int_equal(t.mem_line, 2);
        assert_true(t.mem_gbps == 0);
    }
}

static void test_errors(void **state)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/t.xml", tu_tmpdir("fe-target"));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_load_error(path, tu_fmt("<target name=\"t\" version=\"1\">\n%s</target>\n", bad[i].units), bad[i].want,
                          0, "case", i);
    for (size_t i = 0; i < sizeof codegen_bad / sizeof codegen_bad[0]; i++)
        expect_load_error(path, tu_fmt("<target name=\"t\" version=\"1\">\n%s</target>\n", codegen_bad[i].units),
                          codegen_bad[i].want, 1, "codegen case", i);
    static const BadTarget roots[] = {
        {"<target name=\"t\" version=\"1\" arch=\"x\">", "1: error: <target> has unknown attribute 'arch'"},
        {"<target name=\"t */ x\" version=\"1\">",
         "1: error: target 't */ x': attribute 'name' must be letters, digits, '_', '.' and '-' only"},
        {"<target name=\"t\" version=\"2\">", "1: error: target version '2' is not supported (this hetc reads 1)"},
    };
    for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++)
        expect_load_error(path, tu_fmt("%s\n" CPU "</target>\n", roots[i].units), roots[i].want, 0, "root", i);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped),
        cmocka_unit_test(test_ram),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
