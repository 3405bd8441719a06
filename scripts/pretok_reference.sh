#!/usr/bin/env bash
# pretok_reference.sh: writes tests/data/pretok-PRE.out, llama.cpp's token
# ids for the GGUF pre-tokenizers hetc reads beyond gpt-2 and llama3's
# families (falcon, deepseek-llm, deepseek-coder): GPT-2's vocabulary
# (shared/tokenizer-vectors/ggml-vocab-gpt-2.gguf) with tokenizer.ggml.pre
# set to PRE, tokenized by llama.cpp (scripts/llama_tokenize.c) over the
# strings of ggml-vocab-gpt-2.gguf.inp, then tests/data/pretok.inp.
# tests/test_tokenizer_e2e.c checks hetc against these files.
# Usage: LLAMA_CPP=DIR scripts/pretok_reference.sh (DIR: a build by
# ../shared/peers/build-llama-cpp.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
llama=${LLAMA_CPP:?LLAMA_CPP=DIR: a llama.cpp build (../shared/peers/build-llama-cpp.sh DIR)}
vectors=../shared/tokenizer-vectors
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cc -O2 -I"$llama/src/include" -I"$llama/src/ggml/include" scripts/llama_tokenize.c -o "$work/llama_tokenize" \
  -L"$llama/build/bin" -lllama -Wl,-rpath,"$llama/build/bin"
cat "$vectors/ggml-vocab-gpt-2.gguf.inp" tests/data/pretok.inp > "$work/all.inp"
for pre in falcon deepseek-llm deepseek-coder; do
  /usr/bin/python3 - "$vectors/ggml-vocab-gpt-2.gguf" "$pre" "$work/vocab-$pre.gguf" <<'PY'
import struct, sys
# the key's string value replaced in place: a vocabulary GGUF has no tensor data to realign
src, pre, dst = sys.argv[1], sys.argv[2].encode(), sys.argv[3]
d = open(src, "rb").read()
key = b"tokenizer.ggml.pre"
at = d.index(struct.pack("<Q", len(key)) + key) + 8 + len(key)
assert struct.unpack_from("<I", d, at)[0] == 8, "tokenizer.ggml.pre is not a string"
n = struct.unpack_from("<Q", d, at + 4)[0]
open(dst, "wb").write(d[:at + 4] + struct.pack("<Q", len(pre)) + pre + d[at + 12 + n:])
PY
  "$work/llama_tokenize" "$work/vocab-$pre.gguf" "$work/all.inp" > "tests/data/pretok-$pre.out" 2>"$work/log" ||
    { cat "$work/log"; exit 1; }
  echo "wrote tests/data/pretok-$pre.out ($(wc -l < "tests/data/pretok-$pre.out") strings)"
done
