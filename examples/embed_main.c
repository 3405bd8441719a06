/* embed_main.c: a program of your own around a hetc model, with no command
 * line of hetc's: what a firmware's main or an RTOS task does. It starts the
 * model from the weights linked in (a firmware build) or from weights.bin,
 * opens the tokenizer linked in, tokenizes a prompt, prefills it in chunks
 * of at most MODEL_MAX_CHUNK tokens, then decodes one token at a time,
 * sampling each (greedy here) and streaming its text; every buffer it
 * holds is a static array sized by model.h's constants.
 *
 * Build it in place of the generated main.c (docs/FIRMWARE.md):
 *   hetc compile MODEL --target TARGET.xml -o out --firmware
 *   cmake -S out -B out/build -DMODEL_MAIN=/path/to/embed_main.c
 *   cmake --build out/build && out/build/model "Once upon a time" 32
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hetc_rt_sample.h"
#include "hetc_rt_tok.h"
#include "model.h"

static int32_t ids[MODEL_MAX_CTX];      /* the prompt, then what the model says */
static float logits[MODEL_VOCAB];       /* of the last token fed */
static char text[16 * MODEL_MAX_CTX];   /* the generated tokens' text */

static int fail(const char *what)
{
    fprintf(stderr, "error: %s: %s\n", what, rt_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    const char *prompt = argc > 1 ? argv[1] : "hello world";
    int n_predict = argc > 2 ? atoi(argv[2]) : 16;
    RtModel *m = NULL;
    RtTokenizer *tok = NULL;
    RtSampler *sampler = NULL;

    /* 1. init: weights NULL takes the ones linked in (firmware) or the
     *    compiled weights.bin; ctx 0 the compiled maximum; threads 0 the
     *    target's default */
    if (model_api.init(&m, NULL, 0, 0) != RT_OK) return fail("init");
    RtStatus st = model_api.tokenizer_image
                      ? rt_tok_open_mem(&tok, model_api.tokenizer_image, model_api.tokenizer_image_bytes)
                      : rt_tok_open(&tok, model_api.tokenizer_path);
    if (st != RT_OK) return fail("tokenizer");

    /* 2. the prompt's ids: the tokenizer's BOS first, special tokens parsed */
    size_t n = 0;
    if (rt_tok_encode(tok, prompt, strlen(prompt), 1, 1, ids, MODEL_MAX_CTX, &n) != RT_OK) return fail("tokenize");

    /* 3. prefill: chunks of at most MODEL_MAX_CHUNK tokens, the logits of
     *    the last row only (R = 1) */
    for (size_t done = 0; done < n;) {
        int S = n - done < MODEL_MAX_CHUNK ? (int)(n - done) : MODEL_MAX_CHUNK;
        if (model_api.forward(m, ids + done, S, 1, logits) != RT_OK) return fail("prefill");
        done += (size_t)S;
    }

    /* 4. decode: sample from the logits, stream the text, feed the token */
    RtSamplerParams params = {.temp = 0, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f, .repeat_penalty = 1,
                              .repeat_last_n = 64, .seed = 1};
    if (rt_sampler_create(&sampler, &params, MODEL_VOCAB) != RT_OK) return fail("sampler");
    size_t first = n, shown = 0;
    for (int k = 0; k < n_predict && n < MODEL_MAX_CTX; k++) {
        int32_t id = rt_sampler_sample(sampler, logits, ids, (int)n);
        if (rt_tok_is_eos(tok, id)) break;
        ids[n++] = id;
        /* the text of all generated tokens, printed from where it left off
         * (a token may end inside a UTF-8 character: wait for the rest) */
        size_t len = rt_tok_decode(tok, ids + first, n - first, 1, text, sizeof text);
        if (len > sizeof text) len = sizeof text;
        len = rt_utf8_complete(text, len);
        if (len > shown) {
            fwrite(text + shown, 1, len - shown, stdout);
            fflush(stdout);
            shown = len;
        }
        if (model_api.forward(m, &id, 1, 1, logits) != RT_OK) return fail("decode");
    }
    printf("\n");

    /* 5. done: the instance can be destroyed and started again */
    rt_sampler_destroy(sampler);
    rt_tok_close(tok);
    model_api.destroy(m);
    return 0;
}
