/* fuzz_config.c: config.json of a Hugging Face model, through what `hetc
 * compile` and `hetc run` do with it: the architecture found by class among
 * the XML files in models/, dims resolved and checked, the graph lowered
 * and planned against fixed weights (hetc synth --preset tiny, written once), model.c
 * written, and the reference interpreter run. A config the compiler accepts
 * must give finite logits and a model.c without inf or nan. */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>

#include "compiler/fe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fz_write("config.json", data, size);
    char err[FE_ERR_LEN], models[1024];
    FeConfig *c = fe_config_load(path, err, sizeof err);
    if (!c) return 0;
    const char *cls = fe_config_arch_class(c);
    static FeArch arch;
    snprintf(models, sizeof models, "%s/models", fz_src());
    if (cls && fe_arch_find(&arch, models, cls, err, sizeof err) == 0)
        fz_compile_and_run(&arch, c, fz_tiny_weights(), NULL, 1);
    fe_config_free(c);
    return 0;
}
