"""Write a Hugging Face fixture as a GGUF file, the way llama.cpp's converter
lays it out, and beside it the float model that GGUF holds.

usage: gguf_write.py SRC_DIR OUT_DIR TYPE GGUF_PY_DIR

SRC_DIR is a Hugging Face directory (config.json, model.safetensors,
tokenizer.json); TYPE is f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_k,
q3_k, q4_k, q5_k or q6_k; GGUF_PY_DIR is gguf-py from llama.cpp's source
(../shared/peers). Writes:

  OUT_DIR/model.gguf   general.architecture llama (LlamaForCausalLM,
                       MistralForCausalLM) or qwen2, llama.cpp's metadata keys
                       and tensor names, a llama model's q/k rows permuted
                       within each head as convert_hf_to_gguf.py does, vectors
                       in f32 and matrices in TYPE (rows of a length that is no
                       multiple of TYPE's block: q8_0, else f16, as llama.cpp
                       falls back), the tokenizer as tokenizer.ggml.* keys;
  OUT_DIR/ref/         the same model as a Hugging Face directory with f32
                       weights: the GGUF's values dequantised by gguf-py (the
                       reference a GGUF reader must match), config and
                       tokenizer files copied.

gguf-py quantises the 32-value types itself; for the K-quants it has no
quantiser, so their blocks are random (scales chosen so that values are of
the fixture's size): a reader is judged on dequantising them, not on how
they were made. A llama3 RoPE config gets llama.cpp's rope_freqs.weight.
"""
import json, os, shutil, struct, sys
import numpy as np

src, out, qname, gguf_py = sys.argv[1:5]
sys.path.insert(0, gguf_py)
import gguf  # noqa: E402
from gguf.quants import quantize, dequantize  # noqa: E402

Q = gguf.GGMLQuantizationType
TYPES = {"f32": Q.F32, "f16": Q.F16, "bf16": Q.BF16, "q8_0": Q.Q8_0, "q4_0": Q.Q4_0, "q4_1": Q.Q4_1,
         "q5_0": Q.Q5_0, "q5_1": Q.Q5_1, "q2_k": Q.Q2_K, "q3_k": Q.Q3_K, "q4_k": Q.Q4_K, "q5_k": Q.Q5_K,
         "q6_k": Q.Q6_K}
K_QUANTS = {Q.Q2_K, Q.Q3_K, Q.Q4_K, Q.Q5_K, Q.Q6_K}
qtype = TYPES[qname]
rng = np.random.default_rng(1)


def read_safetensors(path):
    data = open(path, "rb").read()
    n = struct.unpack_from("<Q", data)[0]
    hdr = json.loads(data[8:8 + n])
    out = {}
    for name, e in hdr.items():
        if name == "__metadata__":
            continue
        a, b = e["data_offsets"]
        raw = np.frombuffer(data, np.uint8, b - a, 8 + n + a)
        if e["dtype"] == "F32":
            v = raw.view(np.float32)
        elif e["dtype"] == "F16":
            v = raw.view(np.float16).astype(np.float32)
        elif e["dtype"] == "BF16":
            v = (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            raise SystemExit(f"{path}: {name}: dtype {e['dtype']}")
        out[name] = v.reshape(e["shape"]).copy()
    return out


def write_safetensors(path, tensors):
    hdr, off = {}, 0
    for k, v in tensors.items():
        hdr[k] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [off, off + v.nbytes]}
        off += v.nbytes
    hb = json.dumps(hdr).encode()
    hb += b" " * ((8 - len(hb) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for v in tensors.values():
            f.write(np.ascontiguousarray(v, np.float32).tobytes())


def cfg_get(cfg, *keys, default=None):
    for k in keys:
        v = cfg
        for part in k.split("."):
            v = v.get(part) if isinstance(v, dict) else None
        if v is not None:
            return v
    return default


def random_k_blocks(t, rows, cols):
    """Random blocks of K-quant t, f16 scales set to make values ~0.05."""
    bsize, tsize = gguf.GGML_QUANT_SIZES[t]
    blocks = rng.integers(0, 256, (rows, cols // bsize, tsize), dtype=np.uint8)
    d = np.float16(0.004).view(np.uint16)
    dmin = np.float16(0.02).view(np.uint16)
    put = lambda at, v: blocks[..., at:at + 2].view(np.uint16).__setitem__(..., v)  # noqa: E731
    if t == Q.Q2_K:
        put(80, np.float16(0.01).view(np.uint16)), put(82, dmin)
    elif t == Q.Q3_K:
        put(108, np.float16(0.002).view(np.uint16))
    elif t in (Q.Q4_K, Q.Q5_K):
        put(0, d), put(2, dmin)
    elif t == Q.Q6_K:
        put(208, np.float16(0.00005).view(np.uint16))
    return blocks.reshape(rows, -1)


def store(w, name, v, t):
    """Adds tensor name (HF-layout array v) in type t; returns its f32 values as stored."""
    if v.ndim == 1 or t == Q.F32:
        w.add_tensor(name, v.astype(np.float32))
        return v.astype(np.float32)
    rows, cols = v.shape
    bsize = gguf.GGML_QUANT_SIZES[t][0]
    if cols % bsize:
        t = Q.Q8_0 if cols % 32 == 0 else Q.F16
    if t == Q.F16:
        w.add_tensor(name, v.astype(np.float16))
        return v.astype(np.float16).astype(np.float32)
    data = random_k_blocks(t, rows, cols) if t in K_QUANTS else quantize(v.astype(np.float32), t)
    w.add_tensor(name, data, raw_shape=data.shape, raw_dtype=t)
    return dequantize(data, t).reshape(rows, cols).astype(np.float32)


def llama3_factors(cfg, hd):
    """rope_freqs.weight as llama.cpp's converter computes it for llama3 RoPE."""
    sc = cfg.get("rope_parameters") or cfg.get("rope_scaling")
    base = float(cfg_get(cfg, "rope_parameters.rope_theta", "rope_theta", default=10000.0))
    factor, low, high = sc["factor"], sc.get("low_freq_factor", 1.0), sc.get("high_freq_factor", 4.0)
    orig = sc.get("original_max_position_embeddings", 8192)
    out = []
    for freq in 1.0 / (base ** (np.arange(0, hd, 2, dtype=np.float32) / hd)):
        wavelen = 2 * np.pi / freq
        if wavelen < orig / high:
            out.append(1)
        elif wavelen > orig / low:
            out.append(factor)
        else:
            smooth = (orig / wavelen - low) / (high - low)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(out, np.float32)


def permute(v, heads):
    return v.reshape(heads, 2, v.shape[0] // heads // 2, *v.shape[1:]).swapaxes(1, 2).reshape(v.shape)


def unpermute(v, heads):
    return v.reshape(heads, v.shape[0] // heads // 2, 2, *v.shape[1:]).swapaxes(1, 2).reshape(v.shape)


def add_tokenizer(w, tok, cfg):
    model = tok["model"]
    vocab = dict(model["vocab"])
    for a in tok.get("added_tokens", []):
        vocab[a["content"]] = a["id"]
    n = max(vocab.values()) + 1
    tokens = [f"[PAD{i}]" for i in range(n)]
    for text, i in vocab.items():
        tokens[i] = text
    special = {a["id"] for a in tok.get("added_tokens", []) if a.get("special")}
    added = {a["id"] for a in tok.get("added_tokens", [])}
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    bos, eos = cfg_get(cfg, "bos_token_id"), cfg_get(cfg, "eos_token_id")
    if model.get("byte_fallback"):       # SentencePiece-style: merge by score, -rank of the merge
        rank = {m.replace(" ", ""): r for r, m in reversed(list(enumerate(merges)))}
        types = []
        for i, t in enumerate(tokens):
            if len(t) == 6 and t.startswith("<0x") and t.endswith(">"):
                types.append(gguf.TokenType.BYTE)
            elif t == model.get("unk_token"):
                types.append(gguf.TokenType.UNKNOWN)
            elif i in special:
                types.append(gguf.TokenType.CONTROL)
            else:
                types.append(gguf.TokenType.USER_DEFINED if i in added else gguf.TokenType.NORMAL)
        w.add_tokenizer_model("llama")
        w.add_token_list(tokens)
        w.add_token_scores([-float(rank.get(t, 0)) for t in tokens])
        w.add_token_types(types)
        w.add_add_bos_token(True)
        if model.get("unk_token") in vocab:
            w.add_unk_token_id(vocab[model["unk_token"]])
    else:                                # byte-level BPE
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre("qwen2")
        w.add_token_list(tokens)
        w.add_token_types([gguf.TokenType.CONTROL if i in special else
                           gguf.TokenType.USER_DEFINED if i in added else gguf.TokenType.NORMAL for i in range(n)])
        w.add_token_merges(merges)
        w.add_add_bos_token(False)
    if isinstance(bos, int):
        w.add_bos_token_id(bos)
    if isinstance(eos, int):
        w.add_eos_token_id(eos)


def main():
    cfg = json.load(open(os.path.join(src, "config.json")))
    cls = cfg["architectures"][0]
    arch = {"LlamaForCausalLM": "llama", "MistralForCausalLM": "llama", "Qwen2ForCausalLM": "qwen2"}[cls]
    H, L = cfg["hidden_size"], cfg["num_hidden_layers"]
    NH = cfg["num_attention_heads"]
    NKV = cfg.get("num_key_value_heads") or NH
    HD = cfg.get("head_dim") or H // NH
    hf = read_safetensors(os.path.join(src, "model.safetensors"))
    os.makedirs(os.path.join(out, "ref"), exist_ok=True)
    w = gguf.GGUFWriter(os.path.join(out, "model.gguf"), arch)
    w.add_name(os.path.basename(os.path.normpath(src)))
    w.add_context_length(cfg_get(cfg, "max_position_embeddings", default=2048))
    w.add_embedding_length(H)
    w.add_block_count(L)
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_rope_dimension_count(HD)
    w.add_head_count(NH)
    w.add_head_count_kv(NKV)
    if cfg.get("head_dim"):
        w.add_key_length(HD)
        w.add_value_length(HD)
    w.add_layer_norm_rms_eps(cfg_get(cfg, "rms_norm_eps", default=1e-6))
    w.add_rope_freq_base(float(cfg_get(cfg, "rope_parameters.rope_theta", "rope_theta", default=10000.0)))
    w.add_file_type(int(qtype) if qtype != Q.BF16 else 32)
    ref = {}
    names = [("model.embed_tokens.weight", "token_embd.weight"), ("model.norm.weight", "output_norm.weight"),
             ("lm_head.weight", "output.weight")]
    per_layer = [("input_layernorm.weight", "attn_norm.weight"), ("post_attention_layernorm.weight", "ffn_norm.weight")]
    for p in "qkvo":
        g = "attn_output" if p == "o" else f"attn_{p}"
        per_layer += [(f"self_attn.{p}_proj.weight", f"{g}.weight"), (f"self_attn.{p}_proj.bias", f"{g}.bias")]
    per_layer += [(f"mlp.{p}_proj.weight", f"ffn_{p}.weight") for p in ("gate", "up", "down")]
    for i in range(L):
        names += [(f"model.layers.{i}.{a}", f"blk.{i}.{b}") for a, b in per_layer]
    if cfg_get(cfg, "rope_parameters.rope_type", "rope_scaling.rope_type", "rope_scaling.type") == "llama3":
        w.add_tensor("rope_freqs.weight", llama3_factors(cfg, HD))
    for hname, gname in names:
        if hname not in hf:
            continue
        v = hf[hname]
        heads = NH if ".q_proj." in hname else NKV if ".k_proj." in hname else 0
        if arch == "llama" and heads:
            ref[hname] = unpermute(store(w, gname, permute(v, heads), qtype), heads)
        else:
            ref[hname] = store(w, gname, v, qtype)
    tok_path = os.path.join(src, "tokenizer.json")
    if os.path.exists(tok_path):
        add_tokenizer(w, json.load(open(tok_path)), cfg)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    write_safetensors(os.path.join(out, "ref", "model.safetensors"), ref)
    for f in ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"):
        if os.path.exists(os.path.join(src, f)):
            shutil.copy(os.path.join(src, f), os.path.join(out, "ref", f))


main()
