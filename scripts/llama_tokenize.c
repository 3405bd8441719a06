/* llama_tokenize.c: llama.cpp's tokenizer over a vocabulary GGUF, the
 * reference for hetc's GGUF pre-tokenizers (scripts/pretok_reference.sh
 * builds it against a llama.cpp build and writes tests/data/pretok-*.out).
 *
 *   llama_tokenize VOCAB.gguf INP > OUT
 *
 * INP holds test strings separated by the line __ggml_vocab_test__ (as
 * llama.cpp's vocabulary tests); OUT gets one line per string: its token
 * ids, each after a space, without BOS/EOS and with special tokens left
 * as text (the format of shared/tokenizer-vectors/X.gguf.out). */
#include "llama.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    *len = buf ? fread(buf, 1, (size_t)n, f) : 0;
    if (buf) buf[*len] = 0;
    fclose(f);
    return buf;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: llama_tokenize VOCAB.gguf INP > OUT\n");
        return 2;
    }
    size_t len;
    char *inp = read_all(argv[2], &len);
    if (!inp) {
        fprintf(stderr, "llama_tokenize: cannot read %s\n", argv[2]);
        return 1;
    }
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    mp.vocab_only = 1;
    struct llama_model *model = llama_model_load_from_file(argv[1], mp);
    if (!model) {
        fprintf(stderr, "llama_tokenize: cannot load %s\n", argv[1]);
        return 1;
    }
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    static const char sep[] = "\n__ggml_vocab_test__\n";
    enum { CAP = 1 << 16 };
    static llama_token ids[CAP];
    for (char *text = inp, *end; (end = strstr(text, sep)); text = end + strlen(sep)) {
        int n = llama_tokenize(vocab, text, (int32_t)(end - text), ids, CAP, 0, 0);
        if (n < 0) {
            fprintf(stderr, "llama_tokenize: a test string needs more than %d tokens\n", CAP);
            return 1;
        }
        for (int i = 0; i < n; i++) printf(" %d", ids[i]);
        printf("\n");
    }
    llama_model_free(model);
    llama_backend_free();
    free(inp);
    return 0;
}
