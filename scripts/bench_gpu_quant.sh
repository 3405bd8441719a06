#!/usr/bin/env bash
# bench_gpu_quant.sh: on a machine with an NVIDIA GPU, from the repository
# root, with out-dev/ from scripts/gpu_quant_bundle.sh beside it: OpenCL
# q8_0/q4_0 (hetc, layout g4) against llama.cpp's CUDA build on the same
# GGUF files. Writes to $OUT: gpu.txt (the GPU, the files' sha256, times),
# kernels.txt (bench_opencl -W q8_0g, q4_0g, q8_0, q4_0, half, and -x 1:
# int8 activations, what decode runs on q8_0g and q4_0g), hetc.txt
# (model --bench --bench-bandwidth of each project), lcpp.txt (llama-bench
# -ngl 99 -p 512 -n 128 on each file); MODELS="l3:llama-3b" and KERNELS="q4_0g"
# take fewer. About 5 minutes on 16 cores, most
# of it llama.cpp's CUDA build (FlashAttention kernels left out).
set -uo pipefail
here=$(pwd)/out-dev
OUT=${OUT:-/tmp/out}
mkdir -p /etc/OpenCL/vendors $OUT
echo /usr/local/nvidia/lib64/libnvidia-opencl.so.1 > /etc/OpenCL/vendors/nvidia.icd
mkdir -p /opt/ocl && for f in $here/debs/*.deb; do dpkg -x $f /opt/ocl; done
export LD_LIBRARY_PATH=/opt/ocl/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > $OUT/gpu.txt 2>&1
python3 -c "import numpy; print('numpy', numpy.__version__)" >> $OUT/gpu.txt 2>&1
nproc >> $OUT/gpu.txt

lc=/tmp/lc
if [ ! -d $lc/src/gguf-py ]; then mkdir -p $lc/src && tar -xJf $here/llama.cpp-*.tar.xz -C $lc/src; fi
# llama.cpp with CUDA (FlashAttention kernels left out: llama-bench runs without them by default)
if [ ! -x $lc/build/bin/llama-bench ]; then
  ( cmake -S $lc/src -B $lc/build -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DGGML_NATIVE=ON -DGGML_CUDA=ON \
      -DCMAKE_CUDA_ARCHITECTURES=90 -DGGML_CUDA_FA=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
      -DLLAMA_BUILD_SERVER=OFF >/dev/null && cmake --build $lc/build -j16 --target llama-bench llama-quantize ) \
      > $OUT/lc-build.log 2>&1 &
  lcpid=$!
fi
# a CPU llama-quantize first (the CUDA build takes longer)
if [ ! -x /tmp/lq/bin/llama-quantize ]; then
  cmake -S $lc/src -B /tmp/lq -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF >/dev/null && cmake --build /tmp/lq -j8 --target llama-quantize >/dev/null 2>&1
fi
ls /tmp/lq/bin >> $OUT/gpu.txt

for m in ${MODELS:-tl:tinyllama-1.1b l3:llama-3b}; do
  p=${m%%:*} preset=${m#*:}
  d=/tmp/bm-$p
  [ -f $d/model-f16.gguf ] || python3 $here/make_bench_model.py $preset $d $lc/src > /dev/null
  rm -f $d/model.safetensors
  for t in q8_0 q4_0; do
    f=$d/model-$t-pure.gguf
    [ -f $f ] || /tmp/lq/bin/llama-quantize --pure $d/model-f16.gguf $f $(echo $t | tr a-z A-Z) > /dev/null 2>&1
    sha256sum $f >> $OUT/gpu.txt
    proj=$here/$p-$t
    [ -f $proj/weights.bin ] || python3 scripts/device_weights.py $proj/weights.hdr $proj/weights.bin --gguf $f $lc/src/gguf-py --g4
    cmake -S $proj -B $proj/build -DCMAKE_BUILD_TYPE=Release -DOpenCL_INCLUDE_DIR=/opt/ocl/usr/include \
      -DOpenCL_LIBRARY=/opt/ocl/usr/lib/x86_64-linux-gnu/libOpenCL.so > /dev/null && cmake --build $proj/build -j8 > /dev/null
  done
done
date >> $OUT/gpu.txt
for t in ${KERNELS:-q8_0g q4_0g q8_0 q4_0 half}; do echo "== -W $t"; $here/bench_opencl -k runtime/rt_kernels.cl -W $t 2>&1; done > $OUT/kernels.txt
for t in q8_0g q4_0g; do   # int8 activations (xdtype=q8_0: what decode runs), with their distance from float x
  case " ${KERNELS:-q8_0g q4_0g} " in *" $t "*) echo "== -W $t -x 1"; $here/bench_opencl -k runtime/rt_kernels.cl -W $t -x 1 2>&1;; esac
done >> $OUT/kernels.txt
for p in $(for m in ${MODELS:-tl:tinyllama-1.1b l3:llama-3b}; do echo ${m%%:*}; done); do
  for t in q8_0 q4_0; do
    echo "== $p $t"; $here/$p-$t/build/model --bench --bench-bandwidth --bench-reps 3 2>&1
  done
done > $OUT/hetc.txt
date >> $OUT/gpu.txt
[ -n "${lcpid:-}" ] && wait $lcpid
for p in $(for m in ${MODELS:-tl:tinyllama-1.1b l3:llama-3b}; do echo ${m%%:*}; done); do
  for t in q8_0 q4_0; do
    echo "== $p $t"; $lc/build/bin/llama-bench -m /tmp/bm-$p/model-$t-pure.gguf -ngl 99 -p 512 -n 128 -r 3 2>&1
  done
done > $OUT/lcpp.txt
date >> $OUT/gpu.txt
