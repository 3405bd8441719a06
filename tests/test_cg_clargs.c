/* test_cg_clargs.c: the table of kernel arguments in cg_opencl.c (the
 * only place that knows their positions) against the signatures in
 * runtime/rt_kernels.cl: every kernel the table names exists there and
 * takes exactly those arguments, in that order (gemv and gemm: their fixed
 * head, before the arguments under #if). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "codegen/cg.h"

/* The parameter names of kernel 'name' in the .cl text, space separated,
 * up to the first preprocessor line inside the list; NULL if absent. */
static char *params_of(const char *cl, const char *name)
{
    const char *p = strstr(cl, tu_fmt("void KNAME(%s)(", name));
    if (!p) return NULL;
    p = strchr(p, ')') + 2;
    char *out = calloc(1, 1024);
    size_t k = 0;
    while (*p && *p != ')') {
        if (*p == '#' || (p[0] == '\n' && strspn(p + 1, " ") && p[1 + strspn(p + 1, " ")] == '#')) break;
        const char *end = p + strcspn(p, ",)\n");
        const char *id = end;       /* the last identifier before end */
        while (id > p && !(isalnum((unsigned char)id[-1]) || id[-1] == '_')) id--;
        const char *start = id;
        while (start > p && (isalnum((unsigned char)start[-1]) || start[-1] == '_')) start--;
        if (id > start) k += (size_t)snprintf(out + k, 1024 - k, "%s%.*s", k ? " " : "", (int)(id - start), start);
        p = *end == ',' || *end == '\n' ? end + 1 : end;
    }
    return out;
}

static void test_table_matches_kernels(void **state)
{
    char *cl = tu_read_file(tu_fmt("%s/runtime/rt_kernels.cl", tu_src()), NULL);
    assert_non_null(cl);
    static const char *const kernels[] = {"embed", "rmsnorm", "gemv", "gemm", "rope", "rope_kv", "kv_store",
                                          "attn_prefill", "attn_decode", "attn_combine", "silu", "mul", "swiglu",
                                          "add"};
    for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; i++) {
        const char *want = cg_cl_kernel_args(kernels[i]);
        if (!want) fail_msg("no argument table for %s", kernels[i]);
        char *got = params_of(cl, kernels[i]);
        if (!got) fail_msg("rt_kernels.cl has no kernel %s", kernels[i]);
        printf("  %-12s %s\n", kernels[i], got);
        if (strcmp(got, want) != 0) fail_msg("%s: rt_kernels.cl takes '%s', the table says '%s'", kernels[i], got, want);
        free(got);
    }
    assert_null(cg_cl_kernel_args("no_such_kernel"));
    free(cl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_matches_kernels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
