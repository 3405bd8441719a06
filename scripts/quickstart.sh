#!/usr/bin/env bash
# quickstart.sh: installs what hetc needs, builds it, writes a small default
# model (hetc synth --preset smol-135m: random weights of SmolLM-135M's shape
# and a byte-level BPE tokenizer), compiles it for targets/host-cpu.xml,
# builds the generated project and runs it: text generated from a prompt
# (random weights: the text is noise, the path is real), the logits of a
# prompt of token ids, then the prefill/decode benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
preset=${PRESET:-smol-135m}
model="out/$preset"
proj="out/$preset.proj"
[ -f "$model/tokenizer.json" ] || build/hetc synth --preset "$preset" -o "$model"
build/hetc inspect "$model"
build/hetc compile "$model" --target targets/host-cpu.xml -o "$proj"
cmake -S "$proj" -B "$proj/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$proj/build" -j"$(nproc)"
"$proj/build/model" -p "Once upon a time" -n 32 --seed 1
"$proj/build/model" --ids 1,450,4996,17354,1701 --logits "$proj/logits.bin"
echo "wrote the logits of 5 positions to $proj/logits.bin"
"$proj/build/model" --bench --bench-pp 128 --bench-tg 32 --bench-reps 2
