"""gguf_skeleton.py: a GGUF holding the tensors (names, shapes, types) that
`llama-quantize --pure TYPE` makes of ../shared/peers/make_bench_model.py's
model of a preset, with no data (a sparse file of zeros), the tokenizer
metadata copied from another GGUF. hetc compiles it like the real file:
the project's weights.hdr is the same, and scripts/device_weights.py
fills weights.bin from the real file on the GPU machine. Used by
scripts/gpu_quant_bundle.sh for the models too large to write here.
usage: gguf_skeleton.py PRESET TYPE(q8_0|q4_0) OUT.gguf TOKENIZER.gguf GGUF_PY_DIR"""
import sys

import numpy as np

PRESETS = {  # hidden, layers, heads, kv heads, MLP, vocab (make_bench_model.py's, and mistral-7b)
    "tinyllama-1.1b": (2048, 22, 32, 4, 5632, 32000),
    "llama-3b": (3072, 26, 24, 8, 8192, 32000),
    "mistral-7b": (4096, 32, 32, 8, 14336, 32000),
}
preset, qt, out, tok_path, gguf_py = sys.argv[1:6]
sys.path.insert(0, gguf_py)
import gguf  # noqa: E402

H, L, NH, NKV, F, V = PRESETS[preset]
HD = H // NH
qtype = {"q8_0": gguf.GGMLQuantizationType.Q8_0, "q4_0": gguf.GGMLQuantizationType.Q4_0}[qt]
block = {"q8_0": 34, "q4_0": 18}[qt]
w = gguf.GGUFWriter(out, "llama")
w.add_name(preset); w.add_context_length(2048); w.add_embedding_length(H); w.add_block_count(L)
w.add_feed_forward_length(F); w.add_rope_dimension_count(HD); w.add_head_count(NH); w.add_head_count_kv(NKV)
w.add_layer_norm_rms_eps(1e-5); w.add_rope_freq_base(10000.0)
w.add_quantization_version(2); w.add_file_type(7 if qt == "q8_0" else 2)
for field in gguf.GGUFReader(tok_path).fields.values():
    if not field.name.startswith("tokenizer."):
        continue
    t, value = field.types[0], field.parts[field.data[0]] if field.data else None
    if t == gguf.GGUFValueType.ARRAY:
        if field.types[1] == gguf.GGUFValueType.STRING:
            w.add_array(field.name, [bytes(field.parts[i]).decode("utf-8", errors="replace") for i in field.data])
        else:
            w.add_array(field.name, [field.parts[i].tolist()[0] for i in field.data])
    elif t == gguf.GGUFValueType.STRING: w.add_string(field.name, bytes(value).decode())
    elif t == gguf.GGUFValueType.UINT32: w.add_uint32(field.name, int(value[0]))
    elif t == gguf.GGUFValueType.INT32: w.add_int32(field.name, int(value[0]))
    elif t == gguf.GGUFValueType.BOOL: w.add_bool(field.name, bool(value[0]))
    elif t == gguf.GGUFValueType.FLOAT32: w.add_float32(field.name, float(value[0]))
data = 0  # bytes of tensor data, each tensor padded to the alignment


def tensor(name, shape, quantised):
    global data
    n = int(np.prod(shape))
    nbytes = n // 32 * block if quantised else 4 * n
    w.add_tensor_info(name, shape, np.dtype(np.float32), nbytes, raw_dtype=qtype if quantised else None)
    data += w.ggml_pad(nbytes, 32)


tensor("token_embd.weight", (V, H), True)  # make_bench_model.py's order
for i in range(L):
    b = f"blk.{i}."
    tensor(b + "attn_norm.weight", (H,), False)
    tensor(b + "attn_q.weight", (NH * HD, H), True)
    tensor(b + "attn_k.weight", (NKV * HD, H), True)
    tensor(b + "attn_v.weight", (NKV * HD, H), True)
    tensor(b + "attn_output.weight", (H, NH * HD), True)
    tensor(b + "ffn_norm.weight", (H,), False)
    tensor(b + "ffn_gate.weight", (F, H), True)
    tensor(b + "ffn_up.weight", (F, H), True)
    tensor(b + "ffn_down.weight", (H, F), True)
tensor("output_norm.weight", (H,), False)
tensor("output.weight", (V, H), True)
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_ti_data_to_file()
f = w.fout[0]
w.write_padding(f, f.tell())
start = f.tell()
w.close()
with open(out, "r+b") as fh:
    fh.truncate(start + data)
