/* fuzz.h: helpers shared by the libFuzzer harnesses in fuzz/.
 *
 * Every harness is one file fuzz_<reader>.c defining LLVMFuzzerTestOneInput
 * over one input hetc reads. A harness feeds the bytes to the reader the way
 * hetc does (through a file where the reader takes a path) and, where the
 * reader accepts the input, checks what it produced (finite numbers, a round
 * trip, a consistent table): a sanitizer report, a timeout or a failed
 * FZ_CHECK is a finding. Inputs that hold several files separate them with
 * the line FZ_SEP; the seed corpora in fuzz/corpus/<harness>/ show the form.
 */
#ifndef HETC_FUZZ_H
#define HETC_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "compiler/fe.h"

/* Separates the files of a multi-file input ("\n#--\n"). */
#define FZ_SEP "\n#--\n"

/* A directory private to this process: $HETC_FUZZ_TMP/hetc-fuzz-PID or
 * /tmp/hetc-fuzz-PID, created on first use and removed at exit. */
const char *fz_tmpdir(void);
/* Writes len bytes to fz_tmpdir()/name and returns the path (a static
 * buffer per name slot: valid until the next fz_write of the same name). */
const char *fz_write(const char *name, const void *data, size_t len);
/* Removes fz_tmpdir()/name if it exists. */
void fz_remove(const char *name);
/* Splits data at FZ_SEP into at most max parts; returns the count. Parts
 * are not NUL-terminated. */
int fz_split(const uint8_t *data, size_t size, const uint8_t **part, size_t *len, int max);
/* A NUL-terminated malloc'd copy of len bytes. */
char *fz_strndup(const void *data, size_t len);
/* The source tree (models/, targets/, runtime/, tests/): $HETC_SRC, else
 * the one the harness was built from. */
const char *fz_src(void);
/* Sends the process's stdout to /dev/null (for code that prints results);
 * stderr stays for libFuzzer's reports. */
void fz_quiet(void);

/* Opens a tokenizer.bin image (which must open when must_open is set),
 * encodes a fixed set of texts plus text[0..len) with and without special
 * tokens, checks every id is below n_tokens, and decodes the ids back. */
void fz_tokenizer_use(const void *blob, size_t bytes, const uint8_t *text, size_t len, int must_open);

/* hetc compile's pipeline on a model for target t (NULL: one cpu unit):
 * passes lower..memplan, model.c and model.h into the private directory,
 * then the reference interpreter on 3 tokens (context at most 32). With
 * check set, what the pipeline accepts must give finite logits and a
 * model.c without inf or nan literals. Returns 0 if every step accepted the
 * model. */
int fz_compile_and_run(const FeArch *arch, const FeConfig *config, const FeWeights *weights,
                       const FeTarget *target, int check);
/* The model of `hetc synth --preset tiny` (Llama, f32), written into the
 * private directory on the first call: its weights and its config.json. */
const FeWeights *fz_tiny_weights(void);
const FeConfig *fz_tiny_config(void);

/* Aborts with the location and message when cond is false: a harness's
 * check of what a reader accepted. */
#define FZ_CHECK(cond, ...) ((cond) ? (void)0 : fz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__))
_Noreturn void fz_fail(const char *file, int line, const char *cond, const char *fmt, ...);

#endif
