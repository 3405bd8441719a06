#!/usr/bin/env bash
# gpu_quant_bundle.sh: prepares out-dev/, the bundle that
# scripts/bench_gpu_quant.sh runs on a machine with an NVIDIA GPU (OpenCL
# and CUDA) and no Debian -dev packages: q8_0 and q4_0 GGUF files of the
# TinyLlama-1.1B and Llama-3B shapes (../shared/peers/make_bench_model.py,
# deterministic, then llama-quantize --pure; the GPU machine makes the same
# files again and prints their sha256), each compiled by hetc for
# targets/nvidia-opencl.xml with weights.hdr in place of weights.bin (the
# GPU machine refills it from the GGUF: scripts/device_weights.py --gguf
# --g4), bench_opencl, the OpenCL headers and loader as .deb files, and
# the peers' llama.cpp source with its build script and model writer.
# Usage: LLAMA_CPP=DIR scripts/gpu_quant_bundle.sh [WORK_DIR (default out/gpu-quant)]
#   (DIR: a llama.cpp build by ../shared/peers/build-llama-cpp.sh, for llama-quantize;
#   without DIR/build/bin/llama-quantize every model is compiled from its
#   skeleton, and DIR need only hold the source: DIR/src/models/*.gguf)
#   MODELS="tl:tinyllama-1.1b l3:llama-3b m7:mistral-7b": the models (default the
#   first two; pass the same MODELS to run.sh). mistral-7b (hidden 4096, 32
#   layers, MLP 14336) is not one of make_bench_model.py's presets: the
#   bundle's copy gets it, and here hetc compiles a data-less GGUF of the
#   same tensors (scripts/gguf_skeleton.py: the same project, byte for byte).
set -euo pipefail
cd "$(dirname "$0")/.."
llama=${LLAMA_CPP:?LLAMA_CPP=DIR: a llama.cpp build (../shared/peers/build-llama-cpp.sh DIR)}
work=${1:-out/gpu-quant}
peers=$(cd ../shared/peers && pwd)
cmake --build build --target hetc bench_opencl >/dev/null
mkdir -p out-dev/debs "$work"
gguf_py=$work/gguf-py
[ -d "$gguf_py" ] || tar xJf "$peers"/llama.cpp-*.tar.xz -C "$work" gguf-py
for m in ${MODELS:-tl:tinyllama-1.1b l3:llama-3b}; do
  p=${m%%:*} preset=${m#*:}
  mkdir -p "$work/$p"
  for t in q8_0 q4_0; do
    f=$work/$p/model-$t-pure.gguf
    if [ "$preset" = mistral-7b ] || [ ! -x "$llama/build/bin/llama-quantize" ]; then
      [ -f "$f" ] || /usr/bin/python3 scripts/gguf_skeleton.py "$preset" "$t" "$f" \
        "$llama/src/models/ggml-vocab-llama-spm.gguf" "$gguf_py"
    else
      [ -f "$work/$p/model-f16.gguf" ] || /usr/bin/python3 "$peers/make_bench_model.py" "$preset" "$work/$p" "$llama/src" >/dev/null
      [ -f "$f" ] || "$llama/build/bin/llama-quantize" --pure "$work/$p/model-f16.gguf" "$f" "$(echo $t | tr a-z A-Z)" >/dev/null 2>&1
      sha256sum "$f"
    fi
    rm -rf "out-dev/$p-$t"
    build/hetc compile "$f" --target targets/nvidia-opencl.xml -o "out-dev/$p-$t" --max-chunk 512 >/dev/null
    off=$(/usr/bin/python3 -c "import struct,sys; print(struct.unpack_from('<8sIIQQQ', open(sys.argv[1], 'rb').read(64))[4])" \
          "out-dev/$p-$t/weights.bin")
    head -c "$off" "out-dev/$p-$t/weights.bin" > "out-dev/$p-$t/weights.hdr"
    rm "out-dev/$p-$t/weights.bin"
  done
done
(cd out-dev/debs && apt-get download ocl-icd-libopencl1 ocl-icd-opencl-dev opencl-headers opencl-c-headers \
   opencl-clhpp-headers >/dev/null 2>&1)
cp build/bench_opencl "$peers"/llama.cpp-*.tar.xz out-dev/
/usr/bin/python3 - "$peers/make_bench_model.py" out-dev/make_bench_model.py <<'PY'
import sys   # the peers' model writer with one more preset, mistral-7b
s = open(sys.argv[1]).read()
at = s.index(' "llama-3b":')
s = s[:at] + ' "mistral-7b":     dict(hidden=4096, layers=32, heads=32, kv=8, ffn=14336, vocab=32000),\n' + s[at:]
open(sys.argv[2], "w").write(s)
PY
cp scripts/bench_gpu_quant.sh out-dev/run.sh
echo "out-dev: $(du -sh out-dev | cut -f1); on the GPU machine, from the repository root: out-dev/run.sh"
