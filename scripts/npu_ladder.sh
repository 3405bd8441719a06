#!/usr/bin/env bash
# npu_ladder.sh: what int8 and its outlier shadows cost in accuracy.
#   trained-llama: perplexity on reference.json's 16 held-out windows
#   (float64 reference: heldout.ppl), calibrated on calib/default.txt;
#   and calibrated on windows 0-7, scored on windows 8-15;
#   llama-outliers: logits of its reference prompts against the float64
#   reference logits: worst error (relative to the largest |logit|), mean
#   absolute error and top-1 agreement over every position.
# Builds: float (host-cpu), then host-npu with no shadows, the defaults,
# every shadow, and every shadow at T = 1, 2, 3, 4, 5, 8, 16, 32.
# Each model is calibrated once on calib/default.txt.
# Usage: scripts/npu_ladder.sh [WORK_DIR (default out/npu-ladder)]
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-out/npu-ladder}
fix=$(cd ../shared/fixtures && pwd)
mkdir -p "$work"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target hetc >/dev/null
/usr/bin/python3 - "$fix" "$work" <<'PY'
import json, sys
fix, work = sys.argv[1], sys.argv[2]
r = json.load(open(f"{fix}/trained-llama/reference.json"))
wins = r["heldout"]["windows"]
open(f"{work}/heldout.ids", "w").write(" ".join(str(t) for w in wins for t in w))
open(f"{work}/w0-7.ids", "w").write(" ".join(str(t) for w in wins[:8] for t in w))
open(f"{work}/w8-15.ids", "w").write(" ".join(str(t) for w in wins[8:] for t in w))
print(f"trained-llama float64 perplexity: {r['heldout']['ppl']:.4f}")
PY
build() {  # MODEL NAME TARGET FLAGS...
  local m=$1 name=$2 target=$3; shift 3
  local out=$work/$m-$name
  rm -rf "$out"
  build/hetc compile "$fix/$m" --target "targets/$target.xml" -o "$out" "$@" >/dev/null 2>&1
  cmake -S "$out" -B "$out/b" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$out/b" -j"$(nproc)" >/dev/null
  echo "$out/b/model"
}
ladder() {  # MODEL MEASURE CALIBRATION-NAME [CALIBRATE FLAGS...]
  local m=$1 measure=$2
  local cal=$work/$m.$3.calib.json
  shift 3
  [ -f "$cal" ] || build/hetc calibrate "$fix/$m" -o "$cal" "$@" 2>/dev/null
  local c="--calib-in $cal"
  $measure "float" "$(build "$m" float host-cpu)"
  $measure "W8A8, no shadows" "$(build "$m" none host-npu $c --no-outliers)"
  $measure "W8A8, default shadows" "$(build "$m" default host-npu $c)"
  $measure "W8A8, every shadow" "$(build "$m" all host-npu $c --outlier-prune 0)"
  for t in 1 2 3 4 5 8 16 32; do
    $measure "W8A8, every shadow, T=$t" "$(build "$m" t$t host-npu $c --outlier-prune 0 --outlier-t $t)"
  done
}
ppl() { printf '%-32s %s\n' "$1" "$("$2" --perplexity "$work/$scored" --ppl-ids --ppl-window 256 --ppl-score all 2>/dev/null)"; }
logits() {
  /usr/bin/python3 - "$1" "$2" "$fix/llama-outliers/reference.json" "$work" <<'PY'
import json, subprocess, sys
import numpy as np
name, model, ref, work = sys.argv[1:5]
r = json.load(open(ref))
worst = err = n = agree = 0.0
for p in r["prompts"]:
    subprocess.run([model, "--ids", ",".join(map(str, p["ids"])), "--logits", f"{work}/l.bin"], check=True,
                   capture_output=True)
    got = np.fromfile(f"{work}/l.bin", dtype=np.float32).reshape(len(p["ids"]), -1).astype(np.float64)
    want = np.array(p["logits"], dtype=np.float64)
    worst = max(worst, np.abs(got - want).max() / np.abs(want).max())
    err += np.abs(got - want).sum(); n += want.size
    agree += (got.argmax(1) == want.argmax(1)).sum()
rows = sum(len(p["ids"]) for p in r["prompts"])
print(f"{name:32s} worst {worst:.2e}  mean abs {err / n:.2e}  top-1 {100 * agree / rows:.1f}% of {rows}")
PY
}
echo "== trained-llama (perplexity of the 16 held-out windows; calibrated on calib/default.txt)"
scored=heldout.ids
ladder trained-llama ppl default
echo "== trained-llama (calibrated on held-out windows 0-7, perplexity of windows 8-15)"
scored=w8-15.ids
ladder trained-llama ppl w0-7 --calib-ids "$work/w0-7.ids" --calib-window 256
echo "== llama-outliers (logits)"
ladder llama-outliers logits default
