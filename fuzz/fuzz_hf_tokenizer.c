/* fuzz_hf_tokenizer.c: a Hugging Face tokenizer: tokenizer.json, then
 * (after the line FZ_SEP, optional) tokenizer_config.json, then (optional)
 * a text to encode. fe_tokenizer_from_hf reads them from a directory as
 * `hetc compile` does; an image it produces must open in the runtime and
 * encode and decode every text. */
#include "fuzz.h"

#include <stdlib.h>

#include "compiler/fe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *part[3];
    size_t len[3];
    int n = fz_split(data, size, part, len, 3);
    fz_write("tokenizer.json", part[0], len[0]);
    if (n > 1) fz_write("tokenizer_config.json", part[1], len[1]);
    else fz_remove("tokenizer_config.json");
    void *blob = NULL;
    size_t bytes = 0;
    char err[FE_ERR_LEN];
    if (fe_tokenizer_from_hf(fz_tmpdir(), &blob, &bytes, err, sizeof err) == 0)
        fz_tokenizer_use(blob, bytes, n > 2 ? part[2] : NULL, n > 2 ? len[2] : 0, 1);
    free(blob);
    return 0;
}
