#!/usr/bin/env bash
# quickstart.sh: installs what hetc needs, builds it, writes a small default
# model (hetc synth --preset smol-135m), compiles it for targets/host-cpu.xml,
# builds the generated project and runs it: a prompt of token ids, then the
# prefill/decode benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
preset=${PRESET:-smol-135m}
[ -f "out/$preset/model/config.json" ] || build/hetc synth --preset "$preset" -o "out/$preset/model"
build/hetc inspect "out/$preset/model"
build/hetc compile "out/$preset/model" --target targets/host-cpu.xml -o "out/$preset/proj"
cmake -S "out/$preset/proj" -B "out/$preset/proj/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "out/$preset/proj/build" -j"$(nproc)"
"out/$preset/proj/build/model" --ids 1,450,4996,17354,1701 --logits "out/$preset/logits.bin"
echo "wrote the logits of 5 positions to out/$preset/logits.bin"
"out/$preset/proj/build/model" --bench --bench-pp 128 --bench-tg 32 --bench-reps 2
