"""Fill a weights.bin for benchmarking on another machine.

The generated program checks weights.bin's header (format version, model
hash, tensor table, size) but not the values. To benchmark a large model
where only the small project can be copied, copy the header and tensor
table (the first data_offset bytes of weights.bin) and rebuild the file
there:

    python3 device_weights.py weights.hdr weights.bin
    python3 device_weights.py weights.hdr weights.bin --gguf MODEL.gguf GGUF_PY_DIR [--g4]

Without --gguf the values are random of the right dtypes: norm weights
(1-D) near 1, matrices N(0, 0.02), int8 weights uniform, q8_0 and q4_0
blocks random quants with scales of 0.02 / 127 and 0.02 / 8. With --gguf
they are the tensors of the GGUF file the project was compiled from (made
again on this machine, e.g. by ../shared/peers/make_bench_model.py, which
is deterministic), as hetc writes them: llama.cpp's q/k row permutation
undone, blocks kept where the entry has the GGUF's type, else dequantised
by gguf-py (GGUF_PY_DIR: gguf-py from llama.cpp's source) and converted.
--g4: q8_0 and q4_0 tensors whose rows are whole groups of 128 values are
in layout g4 (pass place gives it to the weights that only OpenCL units
read: on targets/nvidia-opencl.xml, all of them). Entries whose dtype says
layout r16 (RT_R16: weights only cpu linears read) are written in it.
Needs numpy.
"""
import re, struct, sys
import numpy as np

HEADER = struct.Struct("<8sIIQQQ")          # RtWeightsHeader
ENTRY = struct.Struct("<96sII4qQQ")         # RtTensorEntry
FLOATS = {0: np.float32, 1: np.float16, 3: np.int32, 4: np.int8}
BLOCKS = {5: (34, 127), 6: (18, 8)}         # RtDtype: block bytes, largest quant (q8_0, q4_0)
GGML_TYPE = {0: 0, 1: 1, 5: 8, 6: 2, 7: 3, 8: 6, 9: 7, 12: 12, 13: 13, 14: 14}   # RtDtype -> GGMLQuantizationType

R16 = 0x100                                 # RT_R16 in an entry's dtype: layout r16
R16_BLOCK = {5: (32, 34), 6: (32, 18), 7: (32, 20), 8: (32, 22), 9: (32, 24),   # values, bytes of a row's block
             12: (256, 144), 14: (256, 210)}
HAS_M, FIVE = (7, 9), (8, 9)                # q4_1, q5_1: d q + m; q5_0, q5_1: 32 high bits


def r16_quants(dtype):
    """Where a 32-value type's quants start in a group's block, and in a row's."""
    return 32 + 32 * (dtype in HAS_M) + 64 * (dtype in FIVE), 2 + 2 * (dtype in HAS_M) + 4 * (dtype in FIVE)


def r16_at(dtype, r, k):
    """Where byte k of row r's block lies in its group's block in layout r16 (runtime/rt_quant.c's r16_at)."""
    if dtype < 12:
        scales, (qs, before) = 2 + 2 * (dtype in HAS_M), r16_quants(dtype)
        if k < scales:
            return 32 * (k // 2) + 2 * r + k % 2
        if k < before:                      # q5's high bits: a plane there (to_r16)
            return qs - 64 + 4 * r + k - scales
        return qs + 64 * ((k - before) // 4) + 4 * r + (k - before) % 4
    if dtype == 12:
        if k < 4:
            return 32 * (k // 2) + 2 * r + k % 2
        return 64 + 16 * (k - 4) + r if k < 16 else 256 + 64 * ((k - 16) // 4) + 4 * r + k % 4
    if k < 128:
        return 288 + 64 * (k // 4) + 4 * r + k % 4
    if k < 192:
        return 2336 + 64 * ((k - 128) // 4) + 4 * r + k % 4
    return 32 + 16 * (k - 192) + r if k < 208 else 2 * r + k - 208


def r16_map(dtype):
    return np.array([[r16_at(dtype, r, k) for k in range(R16_BLOCK[dtype][1])] for r in range(16)])


def high_bits(qh, to_plane):
    """q5's 32 high bits of a row (4 bytes, bit j: value j's) to the plane
    of layout r16 (bit v of byte i: value 4v + i's), or back."""
    q = qh.astype(np.uint32)
    out = np.zeros_like(q)
    for i in range(4):
        for v in range(8):
            if to_plane:
                out[..., i] |= ((q[..., (4 * v + i) // 8] >> ((4 * v + i) % 8)) & 1) << v
            else:
                out[..., (4 * v + i) // 8] |= ((q[..., i] >> v) & 1) << ((4 * v + i) % 8)
    return out.astype(np.uint8)


def to_r16(dtype, rows, cols, data):
    """Rows of blocks (q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q6_k) into layout
    r16 (q8_0's quants as w + 128, q5's high bits as a plane)."""
    per, bb = R16_BLOCK[dtype]
    src = np.frombuffer(data, np.uint8).reshape(rows // 16, 16, cols // per, bb).transpose(0, 2, 1, 3).copy()
    if dtype == 5:
        src[..., 2:] ^= 0x80
    if dtype in FIVE:
        h = r16_quants(dtype)[1] - 4
        src[..., h:h + 4] = high_bits(src[..., h:h + 4], True)
    out = np.empty((rows // 16, cols // per, 16 * bb), np.uint8)
    out[:, :, r16_map(dtype)] = src
    return out.tobytes()


def from_r16(dtype, rows, cols, data):
    """A weight in layout r16 as rows of blocks again."""
    per, bb = R16_BLOCK[dtype]
    out = np.frombuffer(data, np.uint8).reshape(rows // 16, cols // per, 16 * bb)[:, :, r16_map(dtype)]
    if dtype == 5:
        out[..., 2:] ^= 0x80
    if dtype in FIVE:
        h = r16_quants(dtype)[1] - 4
        out[..., h:h + 4] = high_bits(out[..., h:h + 4], False)
    return out.transpose(0, 2, 1, 3).tobytes()


# Hugging Face names (hetc's) -> GGUF names (llama.cpp's)
LAYER = {"input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
         "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
         "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
         "mlp.down_proj": "ffn_down"}
TOP = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
       "lm_head.weight": "output.weight"}


def entries(hdr):
    magic, version, n, model_hash, data_offset, file_bytes = HEADER.unpack_from(hdr, 0)
    assert magic == b"HETCWTS1", "not a hetc weights header"
    for i in range(n):
        name, dtype, ndim, s0, s1, s2, s3, offset, nbytes = ENTRY.unpack_from(hdr, HEADER.size + i * ENTRY.size)
        yield name.split(b"\0")[0].decode(), dtype, [s0, s1, s2, s3][:ndim], offset, nbytes


def random_values(rng, dtype, shape, nbytes):
    if dtype in BLOCKS:
        size, qmax = BLOCKS[dtype]
        b = rng.integers(0, 256, nbytes, dtype=np.uint8).reshape(-1, size)
        b[:, 0:2] = np.frombuffer(np.float16(0.02 / qmax).tobytes(), np.uint8)
        return b.tobytes()
    if dtype not in FLOATS:
        sys.exit(f"device_weights.py: no random values for dtype {dtype}; use --gguf")
    count = nbytes // np.dtype(FLOATS[dtype]).itemsize
    if dtype == 4:      # int8 weights of an npu unit
        vals = rng.integers(-127, 128, count)
    else:
        vals = (1 + 0.1 * rng.standard_normal(count)) if len(shape) == 1 else 0.02 * rng.standard_normal(count)
    return vals.astype(FLOATS[dtype]).tobytes()


class Gguf:
    def __init__(self, path, gguf_py):
        sys.path.insert(0, gguf_py)
        import gguf
        self.gguf = gguf
        self.reader = gguf.GGUFReader(path)
        self.tensors = {t.name: t for t in self.reader.tensors}
        arch = self.field("general.architecture")
        self.heads = int(self.field(f"{arch}.attention.head_count"))
        self.kv_heads = int(self.field(f"{arch}.attention.head_count_kv"))

    def field(self, key):
        f = self.reader.fields[key]
        v = f.parts[f.data[0]]
        return bytes(v).decode() if v.dtype == np.uint8 else v[0]

    def values(self, name, dtype, shape, nbytes):
        m = re.fullmatch(r"model\.layers\.(\d+)\.(.+)\.(weight|bias)", name)
        gname = f"blk.{m[1]}.{LAYER[m[2]]}.{m[3]}" if m and m[2] in LAYER else TOP.get(name)
        if gname == "output.weight" and gname not in self.tensors:
            gname = "token_embd.weight"     # tied embeddings
        if gname not in self.tensors:
            sys.exit(f"device_weights.py: {name}: no tensor {gname} in the GGUF")
        t = self.tensors[gname]
        rows = shape[0]
        if int(t.tensor_type) == GGML_TYPE.get(dtype, -1):
            data = np.ascontiguousarray(t.data).view(np.uint8).reshape(rows, -1)
        elif dtype in (0, 1):
            f = self.gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
            data = f.reshape(rows, -1).astype(FLOATS[dtype]).view(np.uint8)
        else:
            sys.exit(f"device_weights.py: {name}: GGUF type {t.tensor_type.name}, weights.bin dtype {dtype}")
        if m and m[2] in ("self_attn.q_proj", "self_attn.k_proj"):
            heads = self.heads if m[2] == "self_attn.q_proj" else self.kv_heads
            data = data.reshape(heads, rows // heads // 2, 2, -1).swapaxes(1, 2).reshape(rows, -1)
        out = data.tobytes()
        if len(out) != nbytes:
            sys.exit(f"device_weights.py: {name}: {len(out)} bytes from {gname}, weights.bin wants {nbytes}")
        return out


def to_g4(dtype, rows, data):
    """Layout g4 (codegen/cg_weights.c): per group of 4 blocks, their f16
    scales, then their quants; q4_0's value 8j + k in nibble k of word j."""
    size = BLOCKS[dtype][0]
    g = np.frombuffer(data, np.uint8).reshape(rows, -1, 4, size)
    scales = g[..., 0:2].reshape(rows, -1, 8)
    if dtype == 5:
        quants = g[..., 2:].reshape(rows, -1, 128)
    else:
        qs = g[..., 2:].astype(np.uint32)
        vals = np.concatenate([qs & 15, qs >> 4], axis=-1).reshape(rows, -1, 16, 8)
        words = (vals << (4 * np.arange(8, dtype=np.uint32))).sum(axis=-1, dtype=np.uint32)
        quants = words.astype("<u4").view(np.uint8).reshape(rows, -1, 64)
    return np.concatenate([scales, quants], axis=-1).tobytes()


def main(argv):
    g4 = "--g4" in argv
    argv = [a for a in argv if a != "--g4"]
    if len(argv) not in (2, 5) or (len(argv) == 5 and argv[2] != "--gguf"):
        sys.exit("usage: device_weights.py weights.hdr weights.bin [--gguf MODEL.gguf GGUF_PY_DIR [--g4]]")
    hdr = open(argv[0], "rb").read()
    src = Gguf(argv[3], argv[4]) if len(argv) == 5 else None
    rng = np.random.default_rng(0)
    _, _, _, _, data_offset, file_bytes = HEADER.unpack_from(hdr, 0)
    with open(argv[1], "wb") as f:
        f.write(hdr[:data_offset])
        for name, dtype, shape, offset, nbytes in entries(hdr):
            base = dtype & ~R16
            data = src.values(name, base, shape, nbytes) if src else random_values(rng, base, shape, nbytes)
            if dtype & R16:
                data = to_r16(base, shape[0], shape[1], data)
            elif g4 and dtype in BLOCKS and len(shape) == 2 and shape[1] % 128 == 0:
                data = to_g4(dtype, shape[0], data)
            f.seek(offset)
            f.write(data)
        f.truncate(file_bytes)


if __name__ == "__main__":
    main(sys.argv[1:])
