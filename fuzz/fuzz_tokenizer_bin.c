/* fuzz_tokenizer_bin.c: tokenizer.bin as the generated program maps it
 * (rt_tok_open_mem validates every offset), then text encoded and decoded
 * through it: the image, then (after FZ_SEP, optional) the text. The image
 * is copied into an 8-byte-aligned buffer, as a mapped file is aligned. */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *part[2];
    size_t len[2];
    int n = fz_split(data, size, part, len, 2);
    void *img = malloc(len[0] ? len[0] : 1);
    memcpy(img, part[0], len[0]);
    fz_tokenizer_use(img, len[0], n > 1 ? part[1] : NULL, n > 1 ? len[1] : 0, 0);
    free(img);
    return 0;
}
