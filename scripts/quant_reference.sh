#!/usr/bin/env bash
# quant_reference.sh: writes tests/data/llama-quantize-trained-llama.txt, the
# reference test_e2e_gguf checks hetc's quantisers against: trained-llama
# as an f32 GGUF (tests/gguf_write.py), quantised by llama-quantize --pure
# (no importance matrix) to each type hetc quantises to, laid out as hetc's
# weights.bin for targets/host-cpu.xml (scripts/device_weights.py --gguf:
# q/k rows unpermuted; types the cpu has no kernels for dequantised by
# gguf-py), one "TYPE NAME DTYPE SHA256" line per tensor.
# Usage: LLAMA_CPP=DIR scripts/quant_reference.sh (DIR: a build by
# ../shared/peers/build-llama-cpp.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
llama=${LLAMA_CPP:?LLAMA_CPP=DIR: a llama.cpp build (../shared/peers/build-llama-cpp.sh DIR)}
peers=$(cd ../shared/peers && pwd)
fx=../shared/fixtures/trained-llama
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --build build --target hetc >/dev/null
tar xJf "$peers"/llama.cpp-*.tar.xz -C "$work" gguf-py
/usr/bin/python3 tests/gguf_write.py "$fx" "$work/f32" f32 "$work/gguf-py" >/dev/null
out=tests/data/llama-quantize-trained-llama.txt
{
  echo "# llama-quantize --pure of trained-llama (f32 GGUF by tests/gguf_write.py), as hetc's weights.bin"
  echo "# for targets/host-cpu.xml; written by scripts/quant_reference.sh from llama.cpp $(basename "$peers"/llama.cpp-*.tar.xz .tar.xz)"
  for t in q8_0 q4_0 q4_1 q5_0 q5_1 q4_k q5_k q6_k; do
    "$llama/build/bin/llama-quantize" --pure "$work/f32/model.gguf" "$work/$t.gguf" "$(echo $t | tr a-z A-Z)" >/dev/null 2>&1
    build/hetc compile "$fx" --target targets/host-cpu.xml --no-tokenizer --weight-dtype "$t" -o "$work/p-$t" >/dev/null
    head -c "$(/usr/bin/python3 -c "import struct,sys; print(struct.unpack_from('<8sIIQQQ', open(sys.argv[1], 'rb').read(64))[4])" "$work/p-$t/weights.bin")" \
      "$work/p-$t/weights.bin" > "$work/p-$t/weights.hdr"
    /usr/bin/python3 scripts/device_weights.py "$work/p-$t/weights.hdr" "$work/ref-$t.bin" --gguf "$work/$t.gguf" "$work/gguf-py"
    /usr/bin/python3 tests/weights_digest.py "$work/ref-$t.bin" | sed "s/^/$t /"
  done
} > "$out"
echo "wrote $out ($(grep -vc '^#' "$out") tensors)"
