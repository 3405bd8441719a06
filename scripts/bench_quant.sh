#!/usr/bin/env bash
# bench_quant.sh: issue 12's side-by-side benchmark, in one go, on this
# machine: a TinyLlama-1.1B-shaped random-weight GGUF (../shared/peers'
# make_bench_model.py, F16) quantised by llama-quantize to BF16, Q8_0, Q4_0,
# Q4_K_M and Q5_K_M; each file compiled by hetc for targets/host-cpu.xml (the
# BF16 file twice: as it is, and as bf16x with --matmul-precision bf16, x
# rounded to bf16 as llama.cpp does for BF16 weights) and run by
# both programs, pp512 and tg128 with 2 threads (hetc's model --bench and
# llama-bench, back to back, the same file); then the perplexity of
# trained-llama on its held-out text through both, from the same GGUF files
# (tests/gguf_write.py's f32 file, llama-quantize --pure to each type).
# Prints one markdown table per part (docs/PERF.md keeps them).
# Usage: scripts/bench_quant.sh [WORK_DIR (default out/bench-quant)]
#   LLAMA_CPP=DIR: a llama.cpp build from ../shared/peers/build-llama-cpp.sh
#   (default WORK_DIR/llama.cpp, built when missing: 10-15 minutes).
#   TYPES="f16 q8_0 ...": the subset to run (default all).
#   ROUNDS=N: N back-to-back rounds per type (default 1); the table gives
#   each program's median t/s and the median of the rounds' ratios (this
#   VM's speed drifts by 30% within minutes: a ratio of one round is noisy).
#   PERPLEXITY=0: the speed table only.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-out/bench-quant}
peers=$(cd ../shared/peers && pwd)
llama=${LLAMA_CPP:-$work/llama.cpp}
types=${TYPES:-f16 bf16 bf16x q8_0 q4_0 q4_k_m q5_k_m}
mkdir -p "$work"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target hetc >/dev/null
[ -x "$llama/build/bin/llama-bench" ] || "$peers/build-llama-cpp.sh" "$llama" >/dev/null
gguf_py=$work/gguf-py
[ -d "$gguf_py" ] || tar xJf "$peers"/llama.cpp-*.tar.xz -C "$work" gguf-py
quantize() {  # IN OUT TYPE [--pure]
  [ -f "$2" ] || "$llama/build/bin/llama-quantize" ${4:-} "$1" "$2" "$(echo "$3" | tr a-z A-Z)" >/dev/null 2>&1
}
build_hetc() {  # GGUF DIR [COMPILE OPTIONS]
  [ -x "$2/build/model" ] && return
  build/hetc compile "$1" --target targets/host-cpu.xml -o "$2" ${3:-} >/dev/null
  cmake -S "$2" -B "$2/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$2/build" -j"$(nproc)" >/dev/null
}
rate() {  # the t/s column of a llama-bench style table row for TEST
  grep "| *$1 *|" | tail -1 | awk -F'|' '{print $(NF-1)}' | sed 's/^ *//; s/ *$//'
}

tl=$work/tl
[ -f "$tl/model-f16.gguf" ] || /usr/bin/python3 "$peers/make_bench_model.py" tinyllama-1.1b "$tl" "$llama/src" >/dev/null
median() { sort -g | awk '{v[NR] = $1} END {printf "%.2f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
rounds=${ROUNDS:-1}
if [ "$rounds" = 1 ]; then
  echo "| weights | hetc pp512 | llama.cpp pp512 | ratio | hetc tg128 | llama.cpp tg128 | ratio |"
else
  echo "| weights ($rounds rounds: medians) | hetc pp512 | llama.cpp pp512 | ratio | hetc tg128 | llama.cpp tg128 | ratio |"
fi
echo "| --- | --- | --- | --- | --- | --- | --- |"
for t in $types; do
  f=$tl/model-${t%x}.gguf
  [ "$t" = f16 ] || quantize "$tl/model-f16.gguf" "$f" "${t%x}"
  opts=; [ "$t" = bf16x ] && opts="--matmul-precision bf16"
  build_hetc "$f" "$work/hetc-$t" "$opts"
  rows=
  for r in $(seq "$rounds"); do
    h=$("$work/hetc-$t/build/model" --bench --bench-pp 512 --bench-tg 128 --bench-reps 3 -t 2 2>/dev/null)
    l=$("$llama/build/bin/llama-bench" -m "$f" -t 2 -p 512 -n 128 -r 3 2>/dev/null)
    rows="$rows$(echo "$h" | rate pp512)|$(echo "$l" | rate pp512)|$(echo "$h" | rate tg128)|$(echo "$l" | rate tg128)
"
  done
  if [ "$rounds" = 1 ]; then
    IFS='|' read -r hp lp ht lt <<< "$rows"
    echo "| $t | $hp | $lp | $(awk "BEGIN{printf \"%.2f\", ${hp%% *}/${lp%% *}}") | $ht | $lt | $(awk "BEGIN{printf \"%.2f\", ${ht%% *}/${lt%% *}}") |"
    continue
  fi
  col() { echo -n "$rows" | awk -F'|' -v c="$1" '{split($c, a, " "); print a[1]}' | median; }
  ratio() { echo -n "$rows" | awk -F'|' -v a="$1" -v b="$2" '{split($a, x, " "); split($b, y, " "); print x[1] / y[1]}' | median; }
  echo "| $t | $(col 1) | $(col 2) | $(ratio 1 2) | $(col 3) | $(col 4) | $(ratio 3 4) |"
done
[ "${PERPLEXITY:-1}" = 0 ] && exit 0

fx=../shared/fixtures/trained-llama
pp=$work/ppl
mkdir -p "$pp"
[ -f "$pp/f32/model.gguf" ] || /usr/bin/python3 tests/gguf_write.py "$fx" "$pp/f32" f32 "$gguf_py"
/usr/bin/python3 -c "
import json; r = json.load(open('$fx/reference.json'))
print(' '.join(str(i) for w in r['heldout']['windows'] for i in w))" > "$pp/heldout.ids"
build/hetc detokenize "$fx" $(cat "$pp/heldout.ids") > "$pp/heldout.txt" 2>/dev/null
echo
echo "| trained-llama | hetc perplexity | llama.cpp perplexity | hetc / llama.cpp |"
echo "| --- | --- | --- | --- |"
for t in f32 q8_0 q4_0 q4_k_m; do
  f=$pp/f32/model.gguf
  [ "$t" = f32 ] || { f=$pp/model-$t.gguf; quantize "$pp/f32/model.gguf" "$f" "$t" --pure; }
  build_hetc "$f" "$pp/hetc-$t"
  h=$("$pp/hetc-$t/build/model" --perplexity "$pp/heldout.txt" --ppl-window 256 -t 2 2>/dev/null | awk '{print $2}')
  l=$("$llama/build/bin/llama-perplexity" -m "$f" -f "$pp/heldout.txt" -c 256 -t 2 2>&1 | awk '/Final estimate/ {print $5}')
  echo "| $t | $h | $l | $(awk "BEGIN{printf \"%.4f\", $h/$l}") |"
done
