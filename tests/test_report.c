/* test_report.c: hetc compile --report report.html (codegen/cg_html.c),
 * read back as a person would, through headless Chromium.
 *
 * - Llama-8B on sd8gen3 from its config alone (--preset), 4-bit weights,
 *   chunks of 256: the page is self-contained (no script, nothing
 *   fetched), Chromium renders it (a screenshot) and its DOM has the
 *   units, a section per plan, a Gantt chart with a lane per unit and bars,
 *   a memory map, and in the decode plan one table row per linear of the
 *   model (7 per layer and the head); the prefill plan's splits are rows
 *   of joins with the solver's choice; two reports of one plan are the
 *   same bytes.
 * - llama-tiny compiled for host-npu (a project and a report): the int8
 *   section lists each quantised input with its scale and decision.
 * - Errors: a config without weights cannot make a project; a report
 *   that cannot be written names its path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static int count(const char *s, const char *what)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, what)); p += strlen(what)) n++;
    return n;
}

/* The text between 'from' and the next 'to' after it (a copy). */
static char *between(const char *s, const char *from, const char *to)
{
    const char *a = strstr(s, from);
    if (!a) fail_msg("no '%s' in the page", from);
    const char *b = strstr(a + strlen(from), to);
    size_t n = b ? (size_t)(b - a) : strlen(a);
    char *r = malloc(n + 1);
    memcpy(r, a, n);
    r[n] = 0;
    return r;
}

/* The page as Chromium's DOM after loading it (and a screenshot beside it). */
static char *render(const char *html, const char *png)
{
    char *out;
    if (tu_run(&out, "command -v chromium >/dev/null")) {
        free(out);
        fail_msg("chromium is not installed (scripts/deps.sh installs it)");
    }
    free(out);
    const char *flags = "--headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1200,1600";
    if (tu_run(&out, "timeout 120 chromium %s --screenshot=%s file://%s >/dev/null", flags, png, html))
        fail_msg("chromium --screenshot failed:\n%s", out);
    free(out);
    size_t len = 0;
    char *img = tu_read_file(png, &len);
    if (!img || len < 10000 || memcmp(img, "\x89PNG", 4) != 0) fail_msg("%s: no screenshot", png);
    free(img);
    char *dom;
    if (tu_run(&dom, "timeout 120 chromium %s --dump-dom file://%s 2>/dev/null", flags, html))
        fail_msg("chromium --dump-dom failed:\n%s", dom);
    return dom;
}

static void test_config_only(void **state)
{
    (void)state;
    const char *tmp = tu_tmpdir("report"), *html = tu_fmt("%s/llama-8b.html", tmp);
    const char *cmd = "%s compile --preset llama-8b --target %s/targets/sd8gen3.xml --weight-dtype q4_0 --chunk 256 "
                      "--max-chunk 256 --report %s";
    char *out;
    if (tu_run(&out, cmd, tu_hetc(), tu_src(), html)) fail_msg("compile --report failed:\n%s", out);
    free(out);
    size_t len;
    char *page = tu_read_file(html, &len);
    assert_non_null(page);
    assert_null(strstr(page, "<script"));
    assert_null(strstr(page, "src="));
    assert_null(strstr(page, "url("));
    assert_int_equal(count(page, "http"), count(page, "xmlns=\"http://www.w3.org/2000/svg\""));
    const char *again = tu_fmt("%s/again.html", tmp);
    if (tu_run(&out, cmd, tu_hetc(), tu_src(), again)) fail_msg("%s", out);
    free(out);
    char *page2 = tu_read_file(again, NULL);
    assert_string_equal(page, page2);
    free(page2);
    char *dom = render(html, tu_fmt("%s/llama-8b.png", tmp));
    assert_non_null(strstr(dom, "<h1>llama-8b on sd8gen3</h1>"));
    assert_non_null(strstr(dom, "id=\"units\""));
    assert_non_null(strstr(dom, "id=\"int8\""));
    char *decode = between(dom, "id=\"plan-decode\"", "</section>");
    char *prefill = between(dom, "id=\"plan-prefill-256\"", "</section>");
    /* every linear of the model once in the decode plan: 7 per layer and the head */
    char *lin = between(decode, "<table class=\"linears\">", "</table>");
    assert_int_equal(count(lin, "<tr>") - 1, 7 * 32 + 1);
    assert_int_equal(count(decode, "<svg class=\"gantt\""), 1);
    assert_true(count(decode, "<rect class=\"sub\"") > 32);
    assert_true(count(decode, "<rect class=\"buf\"") > 32);
    for (const char *u = "cpu0\0gpu0\0npu0\0"; *u; u += strlen(u) + 1)
        assert_non_null(strstr(decode, tu_fmt(">%s</text>", u)));
    /* the prefill plan: splits (HeteroLLM's k and v at 256), two chunks out of order */
    assert_true(count(prefill, "<tr class=\"join\">") >= 32);
    assert_non_null(strstr(prefill, "split: weight"));
    assert_non_null(strstr(prefill, "W rows 0–767"));
    assert_non_null(strstr(prefill, "Two steps of 256 rows"));
    assert_non_null(strstr(prefill, "fill-opacity=\"0.5\""));
    free(lin);
    free(decode);
    free(prefill);
    free(dom);
    free(page);
}

static void test_int8(void **state)
{
    (void)state;
    const char *tmp = tu_tmpdir("report-int8"), *html = tu_fmt("%s/tiny.html", tmp);
    char *out;
    if (tu_run(&out, "%s compile %s/fixtures/llama-tiny --target %s/targets/host-npu.xml -o %s/p --report %s "
                     "--calib-window 64 --partition npu", tu_hetc(), tu_shared(), tu_src(), tmp, html))
        fail_msg("compile failed:\n%s", out);
    free(out);
    char *page = tu_read_file(html, NULL);
    char *int8 = between(page, "id=\"int8\"", "</section>");
    assert_int_equal(count(int8, "<tr><td>"), 2 * 4);   /* 2 layers: q/k/v, o, gate/up and down inputs */
    assert_non_null(strstr(int8, "l0.q, l0.k, l0.v"));
    assert_non_null(strstr(page, "id=\"plan-prefill-32\""));
    free(int8);
    free(page);
}

static void test_errors(void **state)
{
    (void)state;
    char *out;
    assert_int_equal(tu_run(&out, "%s compile --preset llama-8b --target %s/targets/host-npu.xml -o %s/x",
                            tu_hetc(), tu_src(), tu_tmpdir("report-err")), 1);     /* an error, not a crash */
    assert_non_null(strstr(out, "no model.safetensors or model.safetensors.index.json: hetc compile -o needs the weights"));
    free(out);
    assert_int_not_equal(tu_run(&out, "%s compile --preset llama-8b --target %s/targets/sd8gen3.xml --report "
                                      "/nonexistent/r.html", tu_hetc(), tu_src()), 0);
    assert_non_null(strstr(out, "/nonexistent/r.html: cannot write"));
    free(out);
    assert_int_not_equal(tu_run(&out, "%s compile --target %s/targets/sd8gen3.xml --report r.html", tu_hetc(),
                                tu_src()), 0);
    assert_non_null(strstr(out, "usage: hetc compile MODEL|--preset NAME"));
    free(out);
}

int main(void)
{
    if (!tu_shared()) return 0;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_only),
        cmocka_unit_test(test_int8),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
