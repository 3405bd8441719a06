#!/usr/bin/env bash
# test.sh: installs what hetc needs, builds it, and runs every test (ctest),
# then the frontend and IR tests again under AddressSanitizer and UBSan,
# then every fuzz harness for 15 s from its committed corpus (fuzz/).
# Expects the shared fixtures beside the checkout (../shared) or $HETC_SHARED.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
shared=${HETC_SHARED:-$(cd .. && pwd)/shared}
jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DHETC_SHARED="$shared" >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs")
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DHETC_SANITIZE=ON -DHETC_SHARED="$shared" >/dev/null
cmake --build build-asan -j"$jobs" --target hetc $(cd build && ctest -N -L sanitize | sed -n 's/^ *Test *#[0-9]*: //p')
(cd build-asan && ctest --output-on-failure -L sanitize -j"$jobs")
scripts/fuzz.sh -t "${HETC_FUZZ_SECONDS:-15}"
