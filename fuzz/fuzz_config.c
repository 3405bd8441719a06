/* fuzz_config.c: config.json of a Hugging Face model, through what `hetc
 * compile` and `hetc run` do with it: the architecture found by class among
 * the XML files in models/, dims resolved and checked, the graph lowered and planned
 * against fixed weights (hetc synth --preset tiny, written once), model.c
 * written, and the reference interpreter run. A config the compiler accepts
 * must give finite logits and a model.c without inf or nan. */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>

#include "compiler/fe.h"

static FeWeights weights;
static char model_dir[1024];

static void setup(void)
{
    char err[FE_ERR_LEN];
    snprintf(model_dir, sizeof model_dir, "%s/tiny", fz_tmpdir());
    FeSynthOpts o = {.preset = "tiny", .dtype = -1, .seed = 1, .tie = -1};
    FZ_CHECK(fe_synth(model_dir, &o, err, sizeof err) == 0, "%s", err);
    FZ_CHECK(fe_weights_open_dir(&weights, model_dir, err, sizeof err) == 0, "%s", err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) setup(), init = 1;
    const char *path = fz_write("config.json", data, size);
    char err[FE_ERR_LEN], models[1024];
    FeConfig *c = fe_config_load(path, err, sizeof err);
    if (!c) return 0;
    const char *cls = fe_config_arch_class(c);
    static FeArch arch;
    snprintf(models, sizeof models, "%s/models", fz_src());
    if (cls && fe_arch_find(&arch, models, cls, err, sizeof err) == 0)
        fz_compile_and_run(&arch, c, &weights, NULL, 1);
    fe_config_free(c);
    return 0;
}
