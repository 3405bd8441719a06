#!/usr/bin/env python3
"""seeds.py: writes the seed corpora of the fuzz harnesses (fuzz/corpus/NAME/)
from the project's own test data and the shared fixtures.

    fuzz/seeds.py [--shared ../shared] [--hetc build/hetc] [--out fuzz/corpus]

Large inputs are cut down to what a harness reads well below 64 kB:
safetensors files keep their first tensors, GGUF and weights.bin seeds are
written small from scratch in their formats. scripts/fuzz.sh runs the
harnesses from these seeds plus whatever a run has added (--merge folds
those back here, minimised)."""
import argparse
import glob
import hashlib
import json
import os
import struct
import subprocess
import tempfile

SEP = b"\n#--\n"
SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def put(out, name, data):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    h = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, h), "wb") as f:
        f.write(data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


# ---- safetensors ----
def small_safetensors(path, keep=3):
    raw = read(path)
    n = struct.unpack("<Q", raw[:8])[0]
    hdr = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    meta = hdr.pop("__metadata__", None)
    names = sorted(hdr, key=lambda k: hdr[k]["data_offsets"][1] - hdr[k]["data_offsets"][0])[:keep]
    out_hdr, blob = {}, b""
    if meta is not None:
        out_hdr["__metadata__"] = meta
    for k in names:
        b, e = hdr[k]["data_offsets"]
        piece = data[b:e]
        out_hdr[k] = {"dtype": hdr[k]["dtype"], "shape": hdr[k]["shape"],
                      "data_offsets": [len(blob), len(blob) + len(piece)]}
        blob += piece
    js = json.dumps(out_hdr).encode()
    js += b" " * (-len(js) % 8)
    return struct.pack("<Q", len(js)) + js + blob


# ---- GGUF ----
GG_U32, GG_I32, GG_F32, GG_BOOL, GG_STR, GG_ARR, GG_U64 = 4, 5, 6, 7, 8, 9, 10


def gg_str(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def gg_value(t, v):
    if t == GG_STR:
        return gg_str(v)
    if t == GG_ARR:
        et, items = v
        return struct.pack("<IQ", et, len(items)) + b"".join(gg_value(et, x) for x in items)
    return struct.pack({GG_U32: "<I", GG_I32: "<i", GG_F32: "<f", GG_BOOL: "<?", GG_U64: "<Q"}[t], v)


def gguf(kvs, tensors, version=3, align=32):
    """kvs: [(key, type, value)]; tensors: [(name, dims, ggml_type, bytes)]."""
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
    for k, t, v in kvs:
        out += gg_str(k) + struct.pack("<I", t) + gg_value(t, v)
    off, data = 0, b""
    for name, dims, ty, blob in tensors:
        out += gg_str(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        out += struct.pack("<IQ", ty, len(data))
        data += blob + b"\0" * (-len(blob) % align)
    out += b"\0" * (-len(out) % align)
    return out + data


def gguf_seeds(out):
    tj = json.loads(read(os.path.join(SRC, "tests/tokenizers/gpt2-bytelevel/tokenizer.json")))
    vocab = sorted(tj["model"]["vocab"].items(), key=lambda kv: kv[1])[:300]
    toks = [k for k, _ in vocab]
    merges = [m if isinstance(m, str) else " ".join(m) for m in tj["model"]["merges"]][:100]
    tensors = [("token_embd.weight", [4, 8], 0, struct.pack("<32f", *[i / 8 for i in range(32)])),
               ("output_norm.weight", [4], 1, struct.pack("<4e", 1, 1, 1, 1))]
    base = [("general.architecture", GG_STR, "llama"), ("general.alignment", GG_U32, 32),
            ("llama.context_length", GG_U32, 128), ("llama.embedding_length", GG_U32, 4)]
    put(out, "gguf", gguf(base + [
        ("tokenizer.ggml.model", GG_STR, "gpt2"), ("tokenizer.ggml.pre", GG_STR, "gpt-2"),
        ("tokenizer.ggml.tokens", GG_ARR, (GG_STR, toks)),
        ("tokenizer.ggml.token_type", GG_ARR, (GG_I32, [3 if t.startswith("<|") else 1 for t in toks])),
        ("tokenizer.ggml.merges", GG_ARR, (GG_STR, merges)),
        ("tokenizer.ggml.bos_token_id", GG_U32, 0), ("tokenizer.ggml.eos_token_id", GG_U32, 0)], tensors))
    spm = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)] + \
          ["\u2581", "\u2581t", "he", "\u2581the", "\u2581a", "in", "er", "\u2581w", "or", "ld", "\u2581wor", "\u2581world"]
    types = [2, 3, 3] + [6] * 256 + [1] * 12
    scores = [0.0] * 259 + [-float(i) for i in range(12)]
    put(out, "gguf", gguf(base + [
        ("tokenizer.ggml.model", GG_STR, "llama"),
        ("tokenizer.ggml.tokens", GG_ARR, (GG_STR, spm)),
        ("tokenizer.ggml.scores", GG_ARR, (GG_F32, scores)),
        ("tokenizer.ggml.token_type", GG_ARR, (GG_I32, types)),
        ("tokenizer.ggml.add_bos_token", GG_BOOL, True),
        ("tokenizer.ggml.add_space_prefix", GG_BOOL, True)], tensors))
    put(out, "gguf", gguf(base, tensors, version=2))


# ---- weights.bin (runtime/hetc_rt.h) ----
def weights_bin(tensors, model_hash=0x1234):
    """tensors: [(name, dtype, shape, bytes)] -> a weights.bin image."""
    n = len(tensors)
    data_off = (40 + 160 * n + 63) // 64 * 64
    entries, data, off = b"", b"", data_off
    for name, dt, shape, blob in tensors:
        shp = list(shape) + [0] * (4 - len(shape))
        entries += name.encode().ljust(96, b"\0") + struct.pack("<II4qQQ", dt, len(shape), *shp, off, len(blob))
        pad = b"\0" * (-len(blob) % 64)
        data += blob + pad
        off += len(blob) + len(pad)
    total = data_off + len(data)
    hdr = b"HETCWTS1" + struct.pack("<IIQQQ", 1, n, model_hash, data_off, total)
    head = hdr + entries
    return head + b"\0" * (data_off - len(head)) + data


def weights_seeds(out):
    f32 = struct.pack("<16f", *range(16))
    f16 = struct.pack("<8e", *range(8))
    put(out, "weights_bin", weights_bin([("model.embed_tokens.weight", 0, [4, 4], f32),
                                         ("model.norm.weight", 1, [8], f16),
                                         ("lm_head.weight", 2, [2, 4], f16)]))
    put(out, "weights_bin", weights_bin([("a", 0, [16], f32)]))
    put(out, "weights_bin", weights_bin([]))


# ---- the rest ----
def tokenizer_seeds(out, hetc, shared):
    texts = ["Hello world, it's 2026!", "caf\u00e9  \u65e5\u672c\u8a9e\n\n tabs\tand <|endoftext|>",
             "<s>[INST] hi [/INST]"]
    dirs = sorted(glob.glob(os.path.join(SRC, "tests/tokenizers/*/")))
    dirs += sorted(glob.glob(os.path.join(SRC, "tests/fixtures/*/")))
    for i, d in enumerate(dirs):
        tj = read(os.path.join(d, "tokenizer.json"))
        if len(tj) > 60000:
            continue
        cfg = os.path.join(d, "tokenizer_config.json")
        seed = tj
        if os.path.exists(cfg):
            seed += SEP + read(cfg)
            seed += SEP + texts[i % len(texts)].encode()
        put(out, "hf_tokenizer", seed)
    if not hetc:
        return
    for d in sorted(glob.glob(os.path.join(SRC, "tests/fixtures/*/"))):
        with tempfile.TemporaryDirectory() as tmp:
            r = subprocess.run([hetc, "compile", d, "--target", os.path.join(SRC, "targets/host-cpu.xml"),
                                "-o", tmp], capture_output=True)
            tb = os.path.join(tmp, "tokenizer.bin")
            if r.returncode == 0 and os.path.getsize(tb) < 60000:
                put(out, "tokenizer_bin", read(tb) + SEP + texts[0].encode())


def config_seeds(out, hetc, shared):
    with tempfile.TemporaryDirectory() as tmp:
        for args in ([], ["--old-keys"], ["--tie", "1"], ["--head-dim", "32"]):
            if hetc and subprocess.run([hetc, "synth", "--preset", "tiny", "-o", tmp] + args,
                                       capture_output=True).returncode == 0:
                put(out, "config", read(os.path.join(tmp, "config.json")))
    for c in sorted(glob.glob(os.path.join(SRC, "tests/fixtures/*/config.json"))
                    + glob.glob(os.path.join(shared, "fixtures/*/config.json"))):
        put(out, "config", read(c))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default=os.path.join(os.path.dirname(SRC), "shared"))
    ap.add_argument("--hetc", default=os.path.join(SRC, "build/hetc"))
    ap.add_argument("--out", default=os.path.join(SRC, "fuzz/corpus"))
    a = ap.parse_args()
    hetc = a.hetc if os.path.exists(a.hetc) else None
    out = a.out
    st = sorted(glob.glob(os.path.join(SRC, "tests/fixtures/*/model.safetensors"))
                + glob.glob(os.path.join(a.shared, "fixtures/*/model.safetensors")))
    for p in st:
        put(out, "safetensors", small_safetensors(p))
    sizes = {"a": 16, "b": 6, "c": 8}
    wm = {"a": "model-00001-of-00002.safetensors", "b": "model-00001-of-00002.safetensors",
          "c": "model-00002-of-00002.safetensors"}
    put(out, "st_index", json.dumps({"metadata": {"total_size": sum(sizes.values())}, "weight_map": wm}, indent=2))
    put(out, "st_index", json.dumps({"weight_map": {"a": wm["a"]}}))
    gguf_seeds(out)
    weights_seeds(out)
    tokenizer_seeds(out, hetc, a.shared)
    config_seeds(out, hetc, a.shared)
    for x in glob.glob(os.path.join(SRC, "models/*.xml")):
        put(out, "arch_xml", read(x))
    for x in glob.glob(os.path.join(SRC, "targets/*.xml")):
        put(out, "target_xml", read(x))
    for x in sorted(glob.glob(os.path.join(SRC, "tests/golden/*.ir"))):
        ir = read(x)
        put(out, "ir_parse", ir)
        for sel in (0x3f, 0x7f, 0xbf, 0x41, 0x5c):
            put(out, "ir_passes", bytes([sel]) + ir)
    for args in (["--ids", "1,2,3", "--logits", "out.bin"], ["--ids", "5,6,7,8,9", "--logits", "l.bin", "--batch", "2"],
                 ["-p", "Hello", "-n", "5", "--temp", "0"], ["-p", "Once", "-n", "8", "--seed", "7", "--top-k", "5",
                                                           "--top-p", "0.9", "--min-p", "0.1", "--repeat-penalty", "1.1"],
                 ["-f", "prompt.txt", "-n", "3", "--ignore-eos"], ["--tokenize", "Hello world", "--no-special"],
                 ["--bench", "--bench-pp", "16", "--bench-tg", "4", "--bench-reps", "1"], ["-i"], ["--help"],
                 ["--ctx", "32", "-t", "1", "-p", "x"]):
        put(out, "cli", "\n".join(args))


if __name__ == "__main__":
    main()
