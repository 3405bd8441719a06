/* fuzz_arch_xml.c: an architecture file (models/<arch>.xml), loaded by
 * fe_arch_load, then used as hetc compile uses it: resolved against a fixed
 * Llama config.json and lowered, planned, written as model.c and
 * interpreted over fixed weights (hetc synth --preset tiny, written once).
 * Only crashes, hangs and sanitizer reports are findings here: an odd but
 * valid architecture may compute anything. */
#include "fuzz.h"

#include <stdio.h>

#include "compiler/fe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fz_write("arch.xml", data, size);
    static FeArch arch;
    char err[FE_ERR_LEN];
    if (fe_arch_load(&arch, path, err, sizeof err) == 0)
        fz_compile_and_run(&arch, fz_tiny_config(), fz_tiny_weights(), NULL, 0);
    return 0;
}
