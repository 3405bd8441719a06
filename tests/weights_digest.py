"""weights_digest.py WEIGHTS_BIN: one line per tensor of a hetc weights.bin,
"NAME DTYPE SHA256" of its bytes, in file order (a weight in layout r16:
of its rows of blocks, as llama.cpp stores them).

tests/test_e2e_gguf.c compares hetc's quantisation with llama-quantize's
through these lines (tests/data/llama-quantize-trained-llama.txt, written by
scripts/quant_reference.sh)."""
import hashlib, struct, sys

import numpy as np

HEADER = struct.Struct("<8sIIQQQ")          # RtWeightsHeader
ENTRY = struct.Struct("<96sII4qQQ")         # RtTensorEntry
DTYPES = ["f32", "f16", "bf16", "i32", "i8", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1",
          "q2_k", "q3_k", "q4_k", "q5_k", "q6_k"]

R16 = 0x100                                 # RT_R16: rows in layout r16
BLOCK = {5: (32, 34), 6: (32, 18), 12: (256, 144), 14: (256, 210)}   # values, bytes

def r16_at(dtype, r, k):
    """Where byte k of row r's block lies in its group's block (rt_quant.c's r16_at)."""
    if dtype in (5, 6):
        return 2 * r + k if k < 2 else 32 + 64 * ((k - 2) // 4) + 4 * r + (k - 2) % 4
    if dtype == 12:
        if k < 4:
            return 32 * (k // 2) + 2 * r + k % 2
        return 64 + 16 * (k - 4) + r if k < 16 else 256 + 64 * ((k - 16) // 4) + 4 * r + k % 4
    if k < 128:
        return 288 + 64 * (k // 4) + 4 * r + k % 4
    if k < 192:
        return 2336 + 64 * ((k - 128) // 4) + 4 * r + k % 4
    return 32 + 16 * (k - 192) + r if k < 208 else 2 * r + k - 208

def rows_of_r16(dtype, rows, cols, raw):
    """The bytes of a weight in layout r16 as rows of blocks again."""
    per, bb = BLOCK[dtype]
    at = np.array([[r16_at(dtype, r, k) for k in range(bb)] for r in range(16)])
    g = np.frombuffer(raw, np.uint8).reshape(rows // 16, cols // per, 16 * bb)
    out = g[:, :, at]                                       # [group, block, row, byte]
    if dtype == 5:
        out[..., 2:] ^= 0x80
    return out.transpose(0, 2, 1, 3).tobytes()

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
            raw = rows_of_r16(dtype, s0, s1, raw)
        digest = hashlib.sha256(raw).hexdigest()
        print(name.split(b"\0")[0].decode(), DTYPES[dtype], digest)

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: weights_digest.py WEIGHTS_BIN")
    main(sys.argv[1])
