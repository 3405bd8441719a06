/* fuzz_arch_xml.c: an architecture file (models/<arch>.xml), loaded by
 * fe_arch_load, then used as hetc compile uses it: resolved against a fixed
 * Llama config.json and lowered, planned, written as model.c and
 * interpreted over fixed weights (hetc synth --preset tiny, written once).
 * Only crashes, hangs and sanitizer reports are findings here: an odd but
 * valid architecture may compute anything. */
#include "fuzz.h"

#include <stdio.h>

#include "compiler/fe.h"

static FeWeights weights;
static FeConfig *config;

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
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) setup(), init = 1;
    const char *path = fz_write("arch.xml", data, size);
    static FeArch arch;
    char err[FE_ERR_LEN];
    if (fe_arch_load(&arch, path, err, sizeof err) == 0) fz_compile_and_run(&arch, config, &weights, NULL, 0);
    return 0;
}
