/* fuzz_target_xml.c: a target file (targets/<name>.xml), loaded by
 * fe_target_load, then used as hetc compile uses it: the llama architecture
 * over fixed weights (hetc synth --preset tiny, written once) placed,
 * planned, written as model.c and interpreted. A target the compiler
 * accepts must compile the model to finite logits. */
#include "fuzz.h"

#include <stdio.h>

#include "compiler/fe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FeArch arch;
    char err[FE_ERR_LEN];
    if (!arch.name[0]) {
        char path[1024];
        snprintf(path, sizeof path, "%s/models/llama.xml", fz_src());
        FZ_CHECK(fe_arch_load(&arch, path, err, sizeof err) == 0, "%s", err);
    }
    const char *path = fz_write("target.xml", data, size);
    static FeTarget target;
    if (fe_target_load(&target, path, err, sizeof err) == 0)
        fz_compile_and_run(&arch, fz_tiny_config(), fz_tiny_weights(), &target, 1);
    return 0;
}
