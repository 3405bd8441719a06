#!/usr/bin/env bash
# bench_npu.sh: the NPU issue's side-by-side benchmark, in one go, on this
# machine: a TinyLlama-1.1B-shaped random-weight model written twice with
# identical weights (Hugging Face f16 for hetc, GGUF for llama.cpp; see
# ../shared/peers), then pp512 and tg128 with 2 threads for
#   - hetc, targets/host-cpu.xml, bf16 weights (the float cpu path);
#   - hetc, targets/host-npu.xml, bf16 weights for the float parts and
#     decode: int8 npu-emu linears with the default shadows, with none
#     (--no-outliers) and with a shadow on every int8 input (--outlier-t 1
#     --outlier-prune 0: the cost of shadows), and with decode on the npu
#     too (--npu-decode), each with the busy time of each unit; the npu's
#     graphs and memory after prompts of 64 and 1024 tokens;
#   - llama.cpp's llama-bench on the same weights as BF16, F16 and Q8_0.
# The model has no tokenizer: calibration runs on pseudo-random token ids
# (speed does not depend on them; perplexity is judged on trained-llama).
# Usage: scripts/bench_npu.sh [WORK_DIR (default out/bench-npu)]
#   LLAMA_CPP=DIR: a llama.cpp build from ../shared/peers/build-llama-cpp.sh
#   (default WORK_DIR/llama.cpp, built when missing: 10-15 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-out/bench-npu}
peers=$(cd ../shared/peers && pwd)
llama=${LLAMA_CPP:-$work/llama.cpp}
mkdir -p "$work"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target hetc >/dev/null
[ -x "$llama/build/bin/llama-bench" ] || "$peers/build-llama-cpp.sh" "$llama" >/dev/null
model=$work/tl
[ -f "$model/model-f16.gguf" ] || /usr/bin/python3 "$peers/make_bench_model.py" tinyllama-1.1b "$model" "$llama/src"
for q in BF16 Q8_0; do
  f=$model/model-$(echo $q | tr A-Z a-z).gguf
  [ -f "$f" ] || "$llama/build/bin/llama-quantize" "$model/model-f16.gguf" "$f" $q >/dev/null 2>&1
done
[ -f "$work/calib.json" ] || {
  awk 'BEGIN { x = 12345; for (i = 0; i < 512; i++) { x = (x * 1103515245 + 12345) % 2147483648; printf "%d ", x % 32000 } }' > "$work/calib.ids"
  build/hetc calibrate "$model" -o "$work/calib.json" --calib-ids "$work/calib.ids" --calib-window 128
}
build_hetc() {  # NAME TARGET FLAGS...
  local name=$1 target=$2; shift 2
  [ -x "$work/$name/b/model" ] && return
  build/hetc compile "$model" --target "targets/$target.xml" -o "$work/$name" --no-tokenizer --weight-dtype bf16 "$@" 2>&1 | grep -v writing
  cmake -S "$work/$name" -B "$work/$name/b" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$work/$name/b" -j"$(nproc)" >/dev/null
}
build_hetc cpu host-cpu
build_hetc npu host-npu --calib-in "$work/calib.json" --report-json "$work/npu.json"
build_hetc npu-none host-npu --calib-in "$work/calib.json" --no-outliers
build_hetc npu-decode host-npu --calib-in "$work/calib.json" --npu-decode --partition npu
build_hetc npu-all host-npu --calib-in "$work/calib.json" --outlier-t 1 --outlier-prune 0
echo "== $(date -u +%FT%TZ) $(git rev-parse --short HEAD) on $(nproc) cores"
for name in cpu npu npu-none npu-all npu-decode; do
  echo "-- hetc $name"
  "$work/$name/b/model" --bench -t 2 --bench-reps 3 2>&1 | grep -E '^\| [^m-]|pp512|tg128|static graphs|peak'
done
for n in 64 1024; do
  echo "-- hetc npu, a prompt of $n tokens: the npu's graphs and memory"
  "$work/npu/b/model" --bench -t 2 --bench-reps 1 --bench-pp $n --bench-tg 0 2>&1 | grep -E 'static graphs|peak'
done
for q in bf16 f16 q8_0; do
  echo "-- llama.cpp $q"
  "$llama/build/bin/llama-bench" -m "$model/model-$q.gguf" -t 2 -p 512 -n 128 -r 3 2>/dev/null | grep -E 'pp512|tg128'
done
