/* fuzz_ir_passes.c: `hetc opt FILE.ir --passes=...`: the IR text, parsed,
 * then a pass list run on it. The first input byte picks the passes (bit k:
 * the k-th of those that need no model, in registry order) and the target
 * (bits 6-7: none, host-cpu, host-opencl, nvidia-opencl); the rest is the
 * IR text. A pass may refuse the graph with an error, never crash or
 * abort; a graph it accepts must still verify and print. */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/fe.h"
#include "passes/passes.h"

static FeTarget targets[3];

static void setup(void)
{
    static const char *const names[3] = {"host-cpu", "host-opencl", "nvidia-opencl"};
    char err[FE_ERR_LEN], path[1024];
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/targets/%s.xml", fz_src(), names[i]);
        FZ_CHECK(fe_target_load(&targets[i], path, err, sizeof err) == 0, "%s", err);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) setup(), init = 1;
    if (size < 1) return 0;
    char *text = fz_strndup(data + 1, size - 1);
    IrGraph g;
    char err[FE_ERR_LEN];
    if (ir_parse(&g, text, "fuzz.ir", err, sizeof err) == 0) {
        int n;
        const PassInfo *p = pass_list(&n);
        char passes[256] = "";
        for (int k = 0, bit = 0; k < n && bit < 6; k++) {
            if (p[k].needs_model) continue;
            if (data[0] >> bit++ & 1) {
                if (passes[0]) strcat(passes, ",");
                strcat(passes, p[k].name);
            }
        }
        int t = data[0] >> 6;
        PassDiag diag = {0};
        PassCtx c = {.target = t ? &targets[t - 1] : NULL, .weight_dtype = -1, .diag = &diag};
        if (passes[0] && pass_run_pipeline(&g, &c, passes, NULL, NULL) == 0) {
            FZ_CHECK(ir_verify(&g, err, sizeof err) == 0, "after %s: %s", passes, err);
            free(ir_print_str(&g));
        }
        ir_graph_free(&g);
    }
    free(text);
    return 0;
}
