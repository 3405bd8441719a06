"""weights_digest.py WEIGHTS_BIN: one line per tensor of a hetc weights.bin,
"NAME DTYPE SHA256" of its bytes, in file order (a weight in layout r16:
of its rows of blocks, as llama.cpp stores them).

tests/test_e2e_gguf.c compares hetc's quantisation with llama-quantize's
through these lines (tests/data/llama-quantize-trained-llama.txt, written by
scripts/quant_reference.sh)."""
import hashlib, os, struct, sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from device_weights import R16, from_r16

HEADER = struct.Struct("<8sIIQQQ")          # RtWeightsHeader
ENTRY = struct.Struct("<96sII4qQQ")         # RtTensorEntry
DTYPES = ["f32", "f16", "bf16", "i32", "i8", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1",
          "q2_k", "q3_k", "q4_k", "q5_k", "q6_k"]

def main(path):
    data = open(path, "rb").read()
    magic, version, n, model_hash, data_offset, file_bytes = HEADER.unpack_from(data, 0)
    if magic != b"HETCWTS1":
        sys.exit(f"{path}: not a hetc weights file")
    for i in range(n):
        name, dtype, ndim, s0, s1, s2, s3, offset, nbytes = ENTRY.unpack_from(data, HEADER.size + i * ENTRY.size)
        raw = data[offset:offset + nbytes]
        if dtype & R16:
            dtype &= ~R16
            raw = from_r16(dtype, s0, s1, raw)
        digest = hashlib.sha256(raw).hexdigest()
        print(name.split(b"\0")[0].decode(), DTYPES[dtype], digest)

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: weights_digest.py WEIGHTS_BIN")
    main(sys.argv[1])
