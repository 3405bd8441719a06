/* fuzz_target_xml.c: a target file (targets/<name>.xml), loaded by
 * fe_target_load, then used as hetc compile uses it: the llama architecture
 * over fixed weights (hetc synth --preset tiny, written once) placed,
 * planned, written as model.c and interpreted. A target the compiler
 * accepts must compile the model to finite logits. */
#include "fuzz.h"

#include <stdio.h>

#include "compiler/fe.h"

static FeWeights weights;
static FeConfig *config;
static FeArch arch;

static void setup(void)
{
    char err[FE_ERR_LEN], dir[1024], path[1100];
    snprintf(dir, sizeof dir, "%s/tiny", fz_tmpdir());
    FeSynthOpts o = {.preset = "tiny", .dtype = -1, .seed = 1, .tie = -1};
    FZ_CHECK(fe_synth(dir, &o, err, sizeof err) == 0, "%s", err);
    FZ_CHECK(fe_weights_open_dir(&weights, dir, err, sizeof err) == 0, "%s", err);
    snprintf(path, sizeof path, "%s/config.json", dir);
    config = fe_config_load(path, err, sizeof err);
    FZ_CHECK(config, "%s", err);
    snprintf(path, sizeof path, "%s/models/llama.xml", fz_src());
    FZ_CHECK(fe_arch_load(&arch, path, err, sizeof err) == 0, "%s", err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) setup(), init = 1;
    const char *path = fz_write("target.xml", data, size);
    static FeTarget target;
    char err[FE_ERR_LEN];
    if (fe_target_load(&target, path, err, sizeof err) == 0)
        fz_compile_and_run(&arch, config, &weights, &target, 1);
    return 0;
}
