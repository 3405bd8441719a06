#!/usr/bin/env bash
# chunk_sweep.sh: the full sweep of chunked prefill against the float64
# reference (tests/test_e2e_chunks.c with HETC_SWEEP=full): every fixture
# (../shared/fixtures and tests/fixtures), every prompt length 1..300,
# --chunk 32, 128 and 32,128, --remainder pad and flex, on host-cpu,
# host-opencl and host-split. One line per configuration with its worst
# relative L2 error; the first position over tolerance stops it.
# Usage: scripts/chunk_sweep.sh [TARGETS]   (e.g. cpu or cpu,split; default all)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
shared=$(cd .. && pwd)/shared
# its own build directory, so that work in build/ does not change the
# compiler under a sweep that takes hours
cmake -S . -B build-sweep -DCMAKE_BUILD_TYPE=Release -DHETC_SHARED="$shared" >/dev/null
cmake --build build-sweep -j"$(nproc)" >/dev/null
# and its own copy of the runtime and the architectures, for the same reason
rm -rf build-sweep/src && mkdir -p build-sweep/src && cp -r runtime models build-sweep/src/
export HETC_RUNTIME="$PWD/build-sweep/src/runtime" HETC_MODELS="$PWD/build-sweep/src/models"
export HETC_SWEEP=full HETC_SWEEP_TARGETS="${1:-}"
export HETC_SHARED="$shared" HETC_BIN="$PWD/build-sweep/hetc" HETC_SRC="$PWD" HETC_TMP="$PWD/build-sweep/tmp"
exec build-sweep/tests/test_e2e_chunks
