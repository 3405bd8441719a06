#!/usr/bin/env bash
# deps.sh: installs the Debian 12 packages hetc needs to build and test.
# Skips apt-get when everything is already there; uses sudo when not root.
set -euo pipefail
pkgs="build-essential cmake pkg-config python3-numpy clang libclang-rt-14-dev libxml2-dev libjson-c-dev libopenblas-dev libcmocka-dev unicode-data bzip2 ocl-icd-opencl-dev opencl-headers pocl-opencl-icd chromium gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user file"
missing=""
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "deps: installing$missing"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
fi
# The arm64 OpenCL loader and the OpenCL headers in the cross sysroot
# (/usr/aarch64-linux-gnu), for cross builds of projects with an OpenCL
# unit: the .debs unpacked there, not installed (an installed :arm64
# package brings Debian's arm64 libc, which qemu-aarch64 -L then mixes
# with the cross libc: threaded programs hang).
sysroot=/usr/aarch64-linux-gnu
if [ ! -e $sysroot/lib/libOpenCL.so ] || [ ! -e $sysroot/include/CL/cl.h ]; then
  echo "deps: the arm64 OpenCL loader into $sysroot"
  dpkg --print-foreign-architectures | grep -qx arm64 || $sudo dpkg --add-architecture arm64
  $sudo apt-get update -qq
  tmp=$(mktemp -d)
  chmod a+rwx "$tmp"      # apt-get download runs as _apt
  (cd "$tmp" && apt-get download -qq ocl-icd-libopencl1:arm64 ocl-icd-opencl-dev:arm64 opencl-c-headers >/dev/null)
  for deb in "$tmp"/*.deb; do dpkg -x "$deb" "$tmp/root"; done
  $sudo cp -a "$tmp"/root/usr/lib/aarch64-linux-gnu/libOpenCL.so* $sysroot/lib/
  $sudo cp -a "$tmp"/root/usr/include/CL $sysroot/include/
  rm -rf "$tmp"
fi
