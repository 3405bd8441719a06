#!/usr/bin/env bash
# fuzz.sh: builds the libFuzzer harnesses (fuzz/, clang with ASan and UBSan)
# and runs each for a given time from its committed corpus.
#
#   scripts/fuzz.sh [-t SECONDS] [-j JOBS] [-B DIR] [--merge] [--no-build] [NAME ...]
#
#   -t SECONDS  time per harness (default 30; 0: no fuzzing, e.g. only --merge)
#   -j JOBS     harnesses run at once (default: the core count)
#   -B DIR      build directory (default build-fuzz)
#   --merge     make fuzz/corpus/NAME the smallest set of inputs that covers
#               what it and the run's corpus (build-fuzz/corpus/NAME) cover
#   NAME        harnesses to run (fuzz/fuzz_NAME.c; default: all)
#
# A run reads fuzz/corpus/NAME (and the dictionary fuzz/dict/NAME.dict) and keeps what it finds in
# build-fuzz/corpus/NAME (so later runs go on from there); crashes, hangs
# (over 5 s an input), sanitizer reports and failed checks are written to
# build-fuzz/artifacts/NAME/ and make the script fail. Inputs are at most
# 64 kB; the log of each harness is build-fuzz/logs/NAME.log. The last
# lines give each harness's executions and result.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=30 jobs=$(nproc) merge=0 build=1 names=() B=build-fuzz
while [ $# -gt 0 ]; do
  case "$1" in
    -t) secs=$2; shift 2 ;;
    -j) jobs=$2; shift 2 ;;
    -B) B=$2; shift 2 ;;
    --merge) merge=1; shift ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fuzz.sh: unknown option '$1'" >&2; exit 2 ;;
    *) names+=("$1"); shift ;;
  esac
done
if [ ${#names[@]} -eq 0 ]; then
  for f in fuzz/fuzz_*.c; do n=${f#fuzz/fuzz_}; names+=("${n%.c}"); done
fi
for n in "${names[@]}"; do
  [ -f "fuzz/fuzz_$n.c" ] || { echo "fuzz.sh: no harness '$n' (fuzz/fuzz_$n.c)" >&2; exit 2; }
done
shared=${HETC_SHARED:-$(cd .. && pwd)/shared}
if [ $build = 1 ]; then
  CC=clang cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Debug -DHETC_FUZZ=ON -DHETC_SHARED="$shared" >/dev/null
  cmake --build "$B" -j"$(nproc)" --target fuzz >/dev/null
fi
mkdir -p "$B/logs" "$B/tmp"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
HETC_FUZZ_TMP=$(cd "$B/tmp" && pwd)
export HETC_FUZZ_TMP OPENBLAS_NUM_THREADS=1

run_one() {
  local n=$1 bin=$B/fuzz/fuzz_$1
  mkdir -p "$B/corpus/$n" "$B/artifacts/$n" "fuzz/corpus/$n"
  local dict=()
  [ -f "fuzz/dict/$n.dict" ] && dict=(-dict="fuzz/dict/$n.dict")
  "$bin" "${dict[@]}" -max_total_time="$secs" -timeout=5 -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$B/artifacts/$n/" "$B/corpus/$n" "fuzz/corpus/$n" \
    >"$B/logs/$n.log" 2>&1
  local rc=$? execs
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$B/logs/$n.log" | tail -1)
  if [ $rc = 0 ]; then
    printf '%-14s ok      %10s execs in %s s\n' "$n" "${execs:-?}" "$secs"
  else
    printf '%-14s FAILED  %10s execs; see %s and %s\n' "$n" "${execs:-?}" "$B/logs/$n.log" "$B/artifacts/$n/"
  fi
  return $rc
}
export -f run_one
export secs B
status=0
if [ "$secs" != 0 ]; then
  printf '%s\n' "${names[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one {}' || status=1
fi
if [ $merge = 1 ]; then
  for n in "${names[@]}"; do
    rm -rf "$B/merged/$n"
    mkdir -p "$B/merged/$n" "$B/corpus/$n"
    if "$B/fuzz/fuzz_$n" -merge=1 -max_len=65536 -timeout=5 -rss_limit_mb=2048 "$B/merged/$n" "fuzz/corpus/$n" \
      "$B/corpus/$n" >"$B/logs/$n.merge.log" 2>&1; then
      rm -rf "fuzz/corpus/$n"
      mv "$B/merged/$n" "fuzz/corpus/$n"
      echo "$n: $(ls "fuzz/corpus/$n" | wc -l) inputs in fuzz/corpus/$n"
    else
      echo "$n: merge failed; see $B/logs/$n.merge.log"
      status=1
    fi
  done
fi
exit $status
