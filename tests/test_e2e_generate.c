/* test_e2e_generate.c: text in, text out, through the command lines.
 *
 * For every fixture in $HETC_SHARED/fixtures and tests/fixtures:
 * - `hetc tokenize` and the generated `model --tokenize` give every prompt's
 *   ids and every tokenizer case's ids; `hetc detokenize --skip-special`
 *   gives each case's `decoded`;
 * - `model -p TEXT -n N --temp 0` prints exactly the prompt's greedy_text
 *   when all of its greedy_margins exceed 2e-3 (below that, float32
 *   rounding may legitimately pick the other token).
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* Single-quotes s for the shell. */
static const char *shq(const char *s)
{
    static char buf[4][1 << 15];
    static int next;
    char *out = buf[next++ & 3];
    size_t k = 0;
    out[k++] = '\'';
    for (; *s && k < sizeof buf[0] - 8; s++) {
        if (*s == '\'') {
            memcpy(out + k, "'\\''", 4);
            k += 4;
        } else {
            out[k++] = *s;
        }
    }
    out[k++] = '\'';
    out[k] = 0;
    return out;
}

static char *ids_text(json_object *ids)
{
    size_t n = json_object_array_length(ids), k = 0;
    char *s = malloc(n * 12 + 2);
    s[0] = 0;
    for (size_t i = 0; i < n; i++)
        k += sprintf(s + k, "%s%d", i ? " " : "", json_object_get_int(json_object_array_get_idx(ids, i)));
    return s;
}

/* Runs cmd, which must succeed, and compares its stdout with want. */
static void expect_output(const char *cmd, const char *want, const char *what)
{
    char *out;
    int rc = tu_run(&out, "{ %s 2>/dev/null; }", cmd);
    if (rc) fail_msg("%s: '%s' failed (%d):\n%s", what, cmd, rc, out);
    if (strcmp(out, want) != 0) fail_msg("%s:\n  command: %s\n  want: [%s]\n  got:  [%s]", what, cmd, want, out);
    free(out);
}

static void check_tokenizer(const char *fix, const char *model, json_object *text, json_object *ids,
                            const char *what)
{
    char *want = ids_text(ids);
    char line[1 << 15];
    snprintf(line, sizeof line, "%s\n", want);
    expect_output(tu_fmt("%s tokenize %s %s", tu_hetc(), fix, shq(json_object_get_string(text))), line, what);
    expect_output(tu_fmt("%s --tokenize %s", model, shq(json_object_get_string(text))), line, what);
    free(want);
}

static int all_margins_above(json_object *margins, double min)
{
    for (size_t i = 0; i < json_object_array_length(margins); i++)
        if (json_object_get_double(json_object_array_get_idx(margins, i)) <= min) return 0;
    return 1;
}

static void run_fixture(const char *root, const char *name, int *greedy_checked)
{
    char fix[8192], out[4096], model[4200];
    snprintf(fix, sizeof fix, "%s/%s", root, name);
    snprintf(out, sizeof out, "%s", tu_tmpdir(tu_fmt("gen-%s", name)));
    snprintf(model, sizeof model, "%s/proj/build/model", out);
    char *log;
    if (tu_run(&log, "%s compile %s --target %s/targets/host-cpu.xml -o %s/proj && cmake -S %s/proj -B %s/proj/build "
                     "-DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build %s/proj/build",
               tu_hetc(), fix, tu_src(), out, out, out, out))
        fail_msg("compile/build failed:\n%s", log);
    free(log);
    json_object *root_obj = json_object_from_file(tu_fmt("%s/reference.json", fix));
    json_object *prompts = json_object_object_get(root_obj, "prompts");
    for (size_t i = 0; i < json_object_array_length(prompts); i++) {
        json_object *p = json_object_array_get_idx(prompts, i);
        json_object *text = json_object_object_get(p, "text");
        check_tokenizer(fix, model, text, json_object_object_get(p, "ids"), tu_fmt("%s prompt %zu ids", name, i));
        if (!all_margins_above(json_object_object_get(p, "greedy_margins"), 2e-3)) continue;
        int n = (int)json_object_array_length(json_object_object_get(p, "greedy_ids"));
        expect_output(tu_fmt("%s -p %s -n %d --temp 0 --ignore-eos", model, shq(json_object_get_string(text)), n),
                      json_object_get_string(json_object_object_get(p, "greedy_text")),
                      tu_fmt("%s prompt %zu greedy text", name, i));
        (*greedy_checked)++;
    }
    json_object *cases = json_object_object_get(root_obj, "tokenizer_cases");
    for (size_t i = 0; i < json_object_array_length(cases); i++) {
        json_object *c = json_object_array_get_idx(cases, i);
        json_object *ids = json_object_object_get(c, "ids");
        check_tokenizer(fix, model, json_object_object_get(c, "text"), ids, tu_fmt("%s case %zu ids", name, i));
        char *id_args = ids_text(ids), want[1 << 15];
        snprintf(want, sizeof want, "%s\n", json_object_get_string(json_object_object_get(c, "decoded")));
        expect_output(tu_fmt("%s detokenize %s %s --skip-special", tu_hetc(), fix, id_args), want,
                      tu_fmt("%s case %zu decoded", name, i));
        free(id_args);
    }
    printf("  %-24s %zu prompts, %zu tokenizer cases\n", name, json_object_array_length(prompts),
           json_object_array_length(cases));
    json_object_put(root_obj);
}

static void fixture(const char *root, const char *name, void *greedy_checked)
{
    run_fixture(root, name, greedy_checked);
}

static void run_all(const char *where, int *greedy_checked)
{
    tu_each_fixture(where, fixture, greedy_checked);
}

static void test_shared_fixtures(void **state)
{
    int greedy = 0;
    run_all(tu_fmt("%s/fixtures", tu_shared()), &greedy);
    assert_true(greedy >= 3);
}

static void test_own_fixtures(void **state)
{
    int greedy = 0;
    run_all(tu_fmt("%s/tests/fixtures", tu_src()), &greedy);
    assert_true(greedy >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared_fixtures),
        cmocka_unit_test(test_own_fixtures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
