#!/usr/bin/env bash
# bench.sh: end-to-end CPU benchmark. Writes a random-weight model of a real
# shape (default tinyllama-1.1b, bf16 as published), times `hetc compile` for
# targets/host-cpu.xml, builds the generated program and runs
# `model --bench` (pp512 / tg128, llama-bench style), then the kernel
# benchmark. Usage: scripts/bench.sh [PRESET] [extra hetc compile options]
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-tinyllama-1.1b}
shift || true
scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
model="out/$preset"
proj="out/$preset.proj"
[ -f "$model/config.json" ] || build/hetc synth --preset "$preset" -o "$model"
start=$EPOCHREALTIME
build/hetc compile "$model" --target targets/host-cpu.xml -o "$proj" "$@"
awk -v a="$start" -v b="$EPOCHREALTIME" -v p="$preset" 'BEGIN { printf "compile: %.2f s wall for %s\n", b - a, p }'
cmake -S "$proj" -B "$proj/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$proj/build" -j"$(nproc)" >/dev/null
"$proj/build/model" --bench
build/bench_kernels
