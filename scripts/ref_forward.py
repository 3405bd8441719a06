#!/usr/bin/env python3
"""ref_forward.py: an independent float64 forward of a Llama/Mistral/Qwen2
Hugging Face model (numpy only), the reference for hetc's long-prompt tests.

    ref_forward.py MODEL_DIR IDS_FILE OUT_FILE

IDS_FILE: token ids, comma or whitespace separated. OUT_FILE: the logits of
every position of one forward over all of them, as float32 [n, vocab]
(little endian). Causal attention makes row i the logits of the prompt
ids[:i+1], so one forward gives the reference for every prefix length.

Everything is computed in float64 from the stored weights (f32, f16 or
bf16): embeddings, RMSNorm, the linears (with q/k/v biases for Qwen2 or
attention_bias), rotate-half RoPE with its inverse frequencies in float64
(default, linear and llama3 scaling; both config spellings: rope_parameters
or rope_theta + rope_scaling), grouped-query attention with an optional
sliding window, SwiGLU, tied or untied output head. It shares no code with
hetc, so agreement is evidence and not an echo.
"""
import json
import os
import struct
import sys

import numpy as np


def load_safetensors(d):
    """name -> float64 array, from model.safetensors or its shards."""
    index = os.path.join(d, "model.safetensors.index.json")
    files = sorted(set(json.load(open(index))["weight_map"].values())) if os.path.exists(index) else ["model.safetensors"]
    out = {}
    for f in files:
        raw = open(os.path.join(d, f), "rb").read()
        n = struct.unpack("<Q", raw[:8])[0]
        header = json.loads(raw[8:8 + n])
        base = 8 + n
        for name, t in header.items():
            if name == "__metadata__":
                continue
            a, b = t["data_offsets"]
            buf = raw[base + a:base + b]
            if t["dtype"] == "F32":
                x = np.frombuffer(buf, "<f4")
            elif t["dtype"] == "F16":
                x = np.frombuffer(buf, "<f2")
            elif t["dtype"] == "BF16":
                x = (np.frombuffer(buf, "<u2").astype(np.uint32) << 16).view(np.float32)
            else:
                raise SystemExit("%s: tensor %s: dtype %s not supported" % (f, name, t["dtype"]))
            out[name] = x.astype(np.float64).reshape(t["shape"])
    return out


def rope_inv_freq(c, head_dim):
    p = c.get("rope_parameters") or {}
    theta = p.get("rope_theta", c.get("rope_theta", 10000.0))
    scaling = c.get("rope_scaling") or p
    kind = scaling.get("rope_type", scaling.get("type", "default"))
    inv = 1.0 / theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    if kind == "linear":
        inv = inv / scaling["factor"]
    elif kind == "llama3":
        f, lo, hi = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
        orig = scaling["original_max_position_embeddings"]
        wavelen = 2 * np.pi / inv
        smooth = (orig / wavelen - lo) / (hi - lo)
        scaled = np.where(wavelen > orig / lo, inv / f, inv)
        mid = (wavelen <= orig / lo) & (wavelen >= orig / hi)
        inv = np.where(mid, (1 - smooth) * inv / f + smooth * inv, scaled)
    elif kind != "default":
        raise SystemExit("rope type %s not supported" % kind)
    return inv


def rmsnorm(x, w, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


def rope(x, heads, hd, cos, sin):
    x = x.reshape(len(x), heads, hd)
    half = hd // 2
    rot = np.concatenate([-x[..., half:], x[..., :half]], -1)
    return (x * cos[:, None, :] + rot * sin[:, None, :]).reshape(len(x), heads * hd)


def forward(d, ids):
    c = json.load(open(os.path.join(d, "config.json")))
    W = load_safetensors(d)
    H, L = c["hidden_size"], c["num_hidden_layers"]
    heads = c["num_attention_heads"]
    kvh = c.get("num_key_value_heads") or heads
    hd = c.get("head_dim") or H // heads
    eps = c.get("rms_norm_eps", 1e-6)
    window = c.get("sliding_window") or 0
    if c.get("model_type") == "qwen2" and not c.get("use_sliding_window", False):
        window = 0
    n = len(ids)
    pos = np.arange(n, dtype=np.float64)
    ang = pos[:, None] * rope_inv_freq(c, hd)[None, :]
    cos = np.concatenate([np.cos(ang)] * 2, -1)
    sin = np.concatenate([np.sin(ang)] * 2, -1)
    x = W["model.embed_tokens.weight"][ids]
    mask = np.tril(np.ones((n, n), dtype=bool))
    if window:
        mask &= ~np.tril(np.ones((n, n), dtype=bool), -window)
    for l in range(L):
        p = "model.layers.%d." % l
        h = rmsnorm(x, W[p + "input_layernorm.weight"], eps)
        def lin(name):
            y = h @ W[p + name + ".weight"].T
            b = W.get(p + name + ".bias")
            return y + b if b is not None else y
        q = rope(lin("self_attn.q_proj"), heads, hd, cos, sin).reshape(n, heads, hd)
        k = rope(lin("self_attn.k_proj"), kvh, hd, cos, sin).reshape(n, kvh, hd)
        v = lin("self_attn.v_proj").reshape(n, kvh, hd)
        att = np.empty((n, heads, hd))
        for hh in range(heads):
            g = hh // (heads // kvh)
            s = (q[:, hh] @ k[:, g].T) / np.sqrt(hd)
            s = np.where(mask, s, -np.inf)
            s = np.exp(s - s.max(-1, keepdims=True))
            att[:, hh] = (s / s.sum(-1, keepdims=True)) @ v[:, g]
        x = x + att.reshape(n, heads * hd) @ W[p + "self_attn.o_proj.weight"].T
        h = rmsnorm(x, W[p + "post_attention_layernorm.weight"], eps)
        gate = h @ W[p + "mlp.gate_proj.weight"].T
        up = h @ W[p + "mlp.up_proj.weight"].T
        x = x + (gate / (1 + np.exp(-gate)) * up) @ W[p + "mlp.down_proj.weight"].T
    x = rmsnorm(x, W["model.norm.weight"], eps)
    head = W.get("lm_head.weight", W["model.embed_tokens.weight"])
    return x @ head.T


def main():
    if len(sys.argv) != 4:
        raise SystemExit("usage: ref_forward.py MODEL_DIR IDS_FILE OUT_FILE")
    ids = [int(t) for t in open(sys.argv[2]).read().replace(",", " ").split()]
    forward(sys.argv[1], np.array(ids)).astype("<f4").tofile(sys.argv[3])


if __name__ == "__main__":
    main()
