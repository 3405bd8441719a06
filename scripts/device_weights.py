"""Fill a weights.bin for benchmarking on another machine.

The generated program checks weights.bin's header (format version, model
hash, tensor table, size) but not the values. To benchmark a large model
where only the small project can be copied, copy the header and tensor
table (the first data_offset bytes of weights.bin) and rebuild the file
there with random values of the right dtypes:

    python3 device_weights.py weights.hdr weights.bin

Norm weights (1-D) are set near 1 and matrices to N(0, 0.02), so the
forward pass stays finite. Needs numpy.
"""
import struct, sys
import numpy as np

HEADER = struct.Struct("<8sIIQQQ")          # RtWeightsHeader
ENTRY = struct.Struct("<96sII4qQQ")         # RtTensorEntry
DTYPES = {0: np.float32, 1: np.float16, 2: None, 3: np.int32, 4: np.int8}

def main(hdr_path, out_path):
    hdr = open(hdr_path, "rb").read()
    magic, version, n, model_hash, data_offset, file_bytes = HEADER.unpack_from(hdr, 0)
    assert magic == b"HETCWTS1", "not a hetc weights header"
    rng = np.random.default_rng(0)
    with open(out_path, "wb") as f:
        f.write(hdr[:data_offset])
        for i in range(n):
            name, dtype, ndim, s0, s1, s2, s3, offset, nbytes = ENTRY.unpack_from(hdr, HEADER.size + i * ENTRY.size)
            count = nbytes // np.dtype(DTYPES[dtype]).itemsize
            if dtype == 4:      # int8 weights of an npu unit
                vals = rng.integers(-127, 128, count)
            else:
                vals = (1 + 0.1 * rng.standard_normal(count)) if ndim == 1 else 0.02 * rng.standard_normal(count)
            f.seek(offset)
            f.write(vals.astype(DTYPES[dtype]).tobytes())
        f.truncate(file_bytes)

if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
