#!/usr/bin/env bash
# deps.sh: installs the Debian 12 packages hetc needs to build and test.
# Skips apt-get when everything is already there; uses sudo when not root.
set -euo pipefail
pkgs="build-essential cmake pkg-config python3-numpy clang libclang-rt-14-dev libxml2-dev libjson-c-dev libopenblas-dev libcmocka-dev unicode-data bzip2 ocl-icd-opencl-dev opencl-headers pocl-opencl-icd chromium gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user file"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "deps: installing$missing"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
fi
