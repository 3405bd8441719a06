#!/usr/bin/env bash
# chunk_sweep.sh: the full sweep of chunked prefill against the float64
# reference (tests/test_e2e_chunks.c with HETC_SWEEP=full): every fixture
# (../shared/fixtures and tests/fixtures), every prompt length 1..300,
# --chunk 32, 128 and 32,128, --remainder pad and flex, on host-cpu,
# host-opencl and host-split. One line per configuration with its worst
# relative L2 error; the first position over tolerance stops it.
# Usage: scripts/chunk_sweep.sh [TARGETS [edges]]   (TARGETS e.g. cpu or
# cpu,split, default all; 'edges': every fixture, but only the CI's prompt
# lengths and --chunk 32,128, minutes instead of hours on PoCL)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${HETC_SWEEP_DIR:-build-sweep}     # another directory runs a second sweep beside a first
scripts/deps.sh
shared=$(cd .. && pwd)/shared
# its own build directory, so that work in build/ does not change the
# compiler under a sweep that takes hours
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DHETC_SHARED="$shared" >/dev/null
cmake --build "$dir" -j"$(nproc)" >/dev/null
# and its own copy of the runtime and the architectures, for the same reason
rm -rf "$dir"/src && mkdir -p "$dir"/src && cp -r runtime models "$dir"/src/
export HETC_RUNTIME="$PWD/$dir/src/runtime" HETC_MODELS="$PWD/$dir/src/models"
export HETC_SWEEP="${2:-full}" HETC_SWEEP_TARGETS="${1:-}"
export HETC_SHARED="$shared" HETC_BIN="$PWD/$dir/hetc" HETC_SRC="$PWD" HETC_TMP="$PWD/$dir/tmp"
exec "$dir"/tests/test_e2e_chunks
