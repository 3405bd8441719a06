/* test_simulate.c: hetc simulate (ir/ir_sim.c) through the command line.
 *
 * - One unit never waits for another: its busy time is the whole run, and
 *   the tokens/s are the tokens over the simulated times.
 * - host-npu: npu0 computes on cpu0's cores (shares=): their busy times
 *   never overlap, so they add up to no more than the run.
 * - sd8gen3, Llama-8B with 4-bit weights, figures only (--preset: no
 *   weights): prefill at 256 tokens within 25% of HeteroLLM's 247.9
 *   tokens/s (its section 5).
 * - host-hetero (gpu0 with memory of its own, npu0 on the host's): the
 *   weights the npu's linears read as int8 copies may live on gpu0; the
 *   plan simulates, the gpu working in prefill and decode.
 * - Out of order (llm.npu): the same work in less time, the npu idling
 *   less, where a prompt has several chunks.
 * - A profile's plan times of another compile are not taken (a note).
 * - Bad arguments get clear errors.
 */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The number after "key": in the JSON text (after 'from' if given). */
static double num(const char *json, const char *from, const char *key)
{
    const char *at = from ? strstr(json, from) : json;
    if (!at) fail_msg("no '%s' in %s", from, json);
    const char *k = strstr(at, tu_fmt("\"%s\": ", key));
    if (!k) fail_msg("no '%s' in %s", key, json);
    return strtod(k + strlen(key) + 4, NULL);
}

static char *simulate(const char *args)
{
    char *out;
    if (tu_run(&out, "%s simulate %s --json 2>&1", tu_hetc(), args)) fail_msg("simulate %s: %s", args, out);
    return out;
}

static void test_one_unit(void **state)
{
    (void)state;
    char *j = simulate(tu_fmt("--target %s/targets/host-cpu.xml %s/fixtures/llama-tiny --prompt-len 40 --gen 8",
                              tu_src(), tu_shared()));
    double pre = num(j, NULL, "prefill_us"), dec = num(j, NULL, "decode_us"), busy = num(j, "\"cpu0\"", "busy_us");
    assert_true(pre > 0 && dec > 0);
    assert_true(fabs(busy - (pre + dec)) <= 1e-3 * (pre + dec) + 0.2);
    assert_true(fabs(num(j, NULL, "prefill_tps") - 40 / (pre * 1e-6)) < 1e-3 * 40 / (pre * 1e-6));
    assert_true(fabs(num(j, NULL, "decode_tps") - 8 / (dec * 1e-6)) < 1e-3 * 8 / (dec * 1e-6));
    free(j);
}

static void test_shared_cores(void **state)
{
    (void)state;
    char *j = simulate(tu_fmt("--target %s/targets/host-npu.xml %s/fixtures/trained-llama --prompt-len 300 --gen 4",
                              tu_src(), tu_shared()));
    double pre = num(j, NULL, "prefill_us");
    double cpu = num(j, "\"cpu0\"", "prefill_busy_us"), npu = num(j, "\"npu0\"", "prefill_busy_us");
    assert_true(npu > 0);
    assert_true(cpu + npu <= pre * 1.0001 + 0.2);
    free(j);
}

static void test_three_units(void **state)
{
    (void)state;
    char *j = simulate(tu_fmt("--target %s/targets/host-hetero.xml %s/fixtures/trained-llama --prompt-len 300 --gen 4",
                              tu_src(), tu_shared()));
    assert_true(num(j, "\"gpu0\"", "prefill_busy_us") > 0);
    assert_true(num(j, "\"gpu0\"", "busy_us") > num(j, "\"gpu0\"", "prefill_busy_us"));
    assert_non_null(strstr(j, "\"npu0\""));
    free(j);
}

static void test_sd8gen3(void **state)
{
    (void)state;
    char *j = simulate(tu_fmt("--target %s/targets/sd8gen3.xml --preset llama-8b --prompt-len 256 --gen 16 "
                              "--weight-dtype q4_0", tu_src()));
    double tps = num(j, NULL, "prefill_tps");
    if (fabs(tps / 247.9 - 1) > 0.25) fail_msg("prefill %.1f tokens/s, HeteroLLM measured 247.9: %s", tps, j);
    assert_true(num(j, "\"npu0\"", "prefill_busy_us") > 0);
    free(j);
}

/* llm.npu's out-of-order execution: Qwen1.5-1.8B int8 on sd8gen3's npu
 * (--partition npu), a prompt of 4 chunks of 256: with the chunks'
 * subgraphs out of order the same work (busy times equal) ends sooner and
 * the npu idles less; a prompt of one chunk has nothing to reorder. */
static void test_out_of_order(void **state)
{
    (void)state;
    const char *args = "--target %s/targets/sd8gen3.xml --preset qwen1.5-1.8b --prompt-len %d --chunk 256 "
                       "--partition npu --schedule %s";
    char *in = simulate(tu_fmt(args, tu_src(), 1024, "inorder")), *out = simulate(tu_fmt(args, tu_src(), 1024, "ooo"));
    double bin = num(in, "\"npu0\"", "prefill_busy_us"), bout = num(out, "\"npu0\"", "prefill_busy_us");
    assert_true(fabs(bin - bout) < 1e-6 * bin + 0.1);
    assert_true(fabs(num(in, "\"gpu0\"", "prefill_busy_us") - num(out, "\"gpu0\"", "prefill_busy_us")) < 0.1 + 1e-6 * bin);
    if (!(num(out, NULL, "prefill_us") < 0.97 * num(in, NULL, "prefill_us")))
        fail_msg("out of order is no faster:\n%s%s", in, out);
    assert_true(num(out, "\"npu0\"", "prefill_idle_rate") < num(in, "\"npu0\"", "prefill_idle_rate"));
    free(in);
    free(out);
    in = simulate(tu_fmt(args, tu_src(), 256, "inorder"));
    out = simulate(tu_fmt(args, tu_src(), 256, "ooo"));
    assert_true(fabs(num(in, NULL, "prefill_us") - num(out, NULL, "prefill_us")) < 1e-6 * num(in, NULL, "prefill_us"));
    free(in);
    free(out);
}

/* A profile's plan times of another compile (a subgraph on another unit)
 * are not taken: a note names the plan and subgraph, the cost model prices
 * it as without them. */
static void test_unmatched_plan_times(void **state)
{
    (void)state;
    const char *path = tu_fmt("%s/p.json", tu_tmpdir("simulate-plans"));
    const char *text = "{\"units\": {}, \"plans\": {\"decode\": [{\"sub\": 0, \"unit\": \"npu0\", \"first\": \"ids\", "
                       "\"us\": 5}]}}";
    tu_write_file(path, text, strlen(text));
    const char *args = tu_fmt("--target %s/targets/host-npu.xml %%s %s/fixtures/trained-llama --prompt-len 40 --gen 4",
                              tu_src(), tu_shared());
    char *with = simulate(tu_fmt(args, tu_fmt("--profile %s", path))), *without = simulate(tu_fmt(args, ""));
    if (!strstr(with, tu_fmt("note: %s: plan decode: the subgraph from 'ids' is on cpu0 here, on npu0 in the profile; "
                             "its subgraphs are priced by the cost model", path)))
        fail_msg("no note: %s", with);
    assert_non_null(strstr(with, "\"measured_plans\": []"));
    assert_true(num(with, NULL, "decode_us") == num(without, NULL, "decode_us"));
    free(with);
    free(without);
}

static void test_errors(void **state)
{
    (void)state;
    static const struct {
        const char *args, *want;
    } bad[] = {
        {"--preset llama-8b --prompt-len 8", "usage: hetc simulate"},
        {"--target T --prompt-len 8", "usage: hetc simulate"},
        {"--target %s/targets/sd8gen3.xml --preset nope --prompt-len 8", "nope"},
        {"--target %s/targets/sd8gen3.xml --preset llama-8b --prompt-len 0", "--prompt-len"},
        {"--target %s/targets/sd8gen3.xml --preset llama-8b --prompt-len 8 --partition maybe", "--partition: 'maybe'"},
        {"--target %s/targets/sd8gen3.xml --preset llama-8b --prompt-len 8 --schedule soon", "--schedule: 'soon'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *out;
        const char *args = strstr(bad[i].args, "%s") ? tu_fmt(bad[i].args, tu_src()) : bad[i].args;
        assert_int_not_equal(tu_run(&out, "%s simulate %s 2>&1", tu_hetc(), args), 0);
        if (!strstr(out, bad[i].want)) fail_msg("%s: got '%s'", args, out);
        free(out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_unit),
        cmocka_unit_test(test_shared_cores),
        cmocka_unit_test(test_three_units),
        cmocka_unit_test(test_sd8gen3),
        cmocka_unit_test(test_out_of_order),
        cmocka_unit_test(test_unmatched_plan_times),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
