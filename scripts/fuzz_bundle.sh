#!/usr/bin/env bash
# fuzz_bundle.sh: packs the harnesses that scripts/fuzz.sh built (build-fuzz/)
# with the shared libraries and the dynamic loader they use into one
# archive, to fuzz on a larger x86-64 Linux machine where nothing is
# installed (debug info stripped; function names kept).
#
#   scripts/fuzz_bundle.sh [-B DIR] [-o FILE.tar.xz]     (default build-fuzz/hetc-fuzz.tar.xz)
#
# On the other machine, inside a checkout of the same commit (the harnesses
# read fuzz/corpus, fuzz/dict, models/, targets/, runtime/ and tests/ there):
#
#   tar xJf hetc-fuzz.tar.xz && hetc-fuzz/run.sh SECONDS PROCS [NAME ...]
#
# runs PROCS processes of each harness (default all) for SECONDS, sharing
# one output corpus per harness (hetc-fuzz/corpus/NAME); findings go to
# hetc-fuzz/artifacts/NAME/ (a process that finds something starts again),
# logs to hetc-fuzz/logs/; it prints each harness's executions and fails
# if anything was found. Bring
# hetc-fuzz/corpus back into build-fuzz/corpus and run fuzz.sh --merge to
# keep what it found.
set -euo pipefail
cd "$(dirname "$0")/.."
B=build-fuzz out=
while [ $# -gt 0 ]; do
  case "$1" in
    -B) B=$2; shift 2 ;;
    -o) out=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "fuzz_bundle.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
out=${out:-$B/hetc-fuzz.tar.xz}
ls "$B"/fuzz/fuzz_* >/dev/null 2>&1 || { echo "fuzz_bundle.sh: no harnesses in $B/fuzz: run scripts/fuzz.sh -t 1 first" >&2; exit 1; }
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
d=$stage/hetc-fuzz
mkdir -p "$d/bin" "$d/lib"
for b in "$B"/fuzz/fuzz_*; do
  [ -x "$b" ] && [ -f "$b" ] || continue
  strip --strip-debug -o "$d/bin/$(basename "$b")" "$b"
  ldd "$b" | awk '/=> \//{print $3} /^\t\/.*ld-linux/{print $1}' | while read -r lib; do
    cp -Ln "$lib" "$d/lib/" 2>/dev/null || true
  done
done
cp -L /lib64/ld-linux-x86-64.so.2 "$d/lib/"
cat >"$d/run.sh" <<'RUN'
#!/usr/bin/env bash
# run.sh SECONDS PROCS [NAME ...]: see scripts/fuzz_bundle.sh.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
secs=${1:?seconds} procs=${2:?processes per harness}; shift 2
names=("$@")
[ ${#names[@]} -gt 0 ] || for b in "$here"/bin/fuzz_*; do names+=("${b##*/fuzz_}"); done
export HETC_SRC=${HETC_SRC:-$PWD} HETC_FUZZ_TMP=$here/tmp OPENBLAS_NUM_THREADS=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
mkdir -p "$here/tmp" "$here/logs"
pids=()
for n in "${names[@]}"; do
  mkdir -p "$here/corpus/$n" "$here/artifacts/$n"
  dict=()
  [ -f "fuzz/dict/$n.dict" ] && dict=(-dict="fuzz/dict/$n.dict")
  for p in $(seq "$procs"); do
    (
      # a process that finds something starts again until the time is up
      end=$((SECONDS + secs)) rc=0
      while [ $SECONDS -lt "$end" ]; do
        "$here/lib/ld-linux-x86-64.so.2" --library-path "$here/lib" "$here/bin/fuzz_$n" "${dict[@]}" \
          -max_total_time=$((end - SECONDS)) -timeout=5 -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1 \
          -artifact_prefix="$here/artifacts/$n/" "$here/corpus/$n" "fuzz/corpus/$n" >>"$here/logs/$n.$p.log" 2>&1 \
          && break
        rc=1
      done
      exit $rc
    ) &
    pids+=($!)
  done
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
for n in "${names[@]}"; do
  execs=$(cat "$here"/logs/"$n".*.log | sed -n 's/^stat::number_of_executed_units: *//p' | awk '{s+=$1} END {print s+0}')
  found=$(ls "$here/artifacts/$n" | wc -l)
  printf '%-14s %11s execs, %s processes x %s s, %s findings\n' "$n" "$execs" "$procs" "$secs" "$found"
done
exit $status
RUN
chmod +x "$d/run.sh"
tar -C "$stage" -cJf "$out" hetc-fuzz
echo "$out: $(du -h "$out" | cut -f1)"
