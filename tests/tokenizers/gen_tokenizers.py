"""Make small Hugging Face tokenizers of the kinds hetc reads, and what the
`tokenizers` library makes of a set of tricky strings with them.

Runs where `tokenizers` is installed (e.g. the accelerator machine):
    python3 gen_tokenizers.py OUT_DIR [EXTRA_TEXTS_FILE...]
For each kind it writes OUT_DIR/<kind>/tokenizer.json and cases.json:
    [{"text", "ids" (add_special_tokens=True), "plain" (False),
      "decoded" (decode(ids, skip_special_tokens=True)), "raw" (decode(ids))}]
Extra texts files are split on lines "__ggml_vocab_test__" like llama.cpp's.
"""
import glob, json, os, sys
from tokenizers import Tokenizer, models, trainers, pre_tokenizers, decoders, normalizers, processors, Regex, AddedToken

LLAMA3 = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""

def corpus():
    files = sorted(glob.glob(os.path.join(os.path.dirname(os.__file__), "*.py")))[:60]
    extra = ["Äpfel und Birnen über café naïve façade", "数字と日本語のテキスト 中文字符", "Привет мир, как дела?",
             "emoji 🦙🦙 😀 👍🏽", "1234567890 3.14159 42", "DON'T WON'T it's we're"] * 50
    for f in files:
        with open(f, encoding="utf-8", errors="ignore") as fh:
            yield fh.read()
    yield from extra

def train(tok, vocab, specials, byte_level=False):
    kw = dict(vocab_size=vocab, special_tokens=specials, show_progress=False)
    if byte_level:
        kw["initial_alphabet"] = pre_tokenizers.ByteLevel.alphabet()
    tok.train_from_iterator(corpus(), trainer=trainers.BpeTrainer(**kw))
    return tok

def llama3():
    t = Tokenizer(models.BPE(ignore_merges=True))
    t.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(LLAMA3), behavior="isolated"),
                                               pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    train(t, 600, ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"], True)
    t.decoder = decoders.ByteLevel()
    t.post_processor = processors.TemplateProcessing(single="<|begin_of_text|> $A", special_tokens=[("<|begin_of_text|>", 0)])
    t.add_tokens([AddedToken("<tool>", special=False)])
    return t

def gpt2():
    t = Tokenizer(models.BPE())
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    train(t, 500, ["<|endoftext|>"], True)
    t.decoder = decoders.ByteLevel()
    t.post_processor = processors.ByteLevel(trim_offsets=True)
    return t

def metaspace_first():
    t = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    t.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first", split=False)
    train(t, 500, ["<unk>", "<s>", "</s>", "[INST]", "[/INST]"] + ["<0x%02X>" % i for i in range(256)])
    t.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="first", split=False)
    t.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    return t

def metaspace_always_split():
    t = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=False))
    t.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    train(t, 400, ["<unk>", "<s>", "</s>"])
    t.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    t.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 1), ("</s>", 2)])
    return t

def digits_nfc_lower():
    t = Tokenizer(models.BPE())
    t.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Lowercase()])
    t.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                               pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)])
    train(t, 450, ["<|endoftext|>"], True)
    t.decoder = decoders.ByteLevel()
    return t

def added_tokens():
    t = gpt2()
    t.add_special_tokens([AddedToken("<|im_start|>", special=True), AddedToken("<|im_end|>", special=True, rstrip=True),
                          AddedToken("<mask>", special=True, lstrip=True)])
    t.add_tokens([AddedToken("hetc", special=False, single_word=True), AddedToken("ABC", special=False, normalized=True)])
    return t

KINDS = {"llama3-bytelevel": llama3, "gpt2-bytelevel": gpt2, "metaspace-first": metaspace_first,
         "metaspace-always-split": metaspace_always_split, "digits-nfc-lower": digits_nfc_lower,
         "added-tokens": added_tokens}

TEXTS = ["", " ", "  ", "   ", "\t", "\n", "\n\n", " \n", "Hello world", " Hello world", "Hello World!",
         "Hello, world!", "  leading spaces", "trailing spaces   ", "tabs\tand\nnewlines\n\n", "\r\n\r\n x",
         "DON'T WON'T it's we're they'll I'M", "'S 's 'll", "Äpfel und Birnen", "e\u0301 cafe\u0301 A\u030a",
         "数字 12345 and 6.78", "1234567 12 1", "emoji 🦙 llama 😀👍🏽", "Привет мир", "\u200b zero\u200bwidth",
         "CamelCaseIdentifier_with_underscores", "def f(x):\n    return x * 2\n", "<|im_start|>user\nhi<|im_end|>\n",
         "a <mask> b", "hetc hetcs xhetc hetc", "abc ABC Abc", "<|eot_id|> end", "<tool>call</tool>",
         "[INST] question [/INST] answer", "<s> and </s> in text", "\x01\x02 control \x7f chars", "   \n   \n",
         "...!!!???", "a\u3000b full-width space", "x" * 300, "ĠĠ literal byte chars Ċ"]

def main():
    out = sys.argv[1]
    texts = list(TEXTS)
    for path in sys.argv[2:]:
        texts += open(path, encoding="utf-8").read().split("\n__ggml_vocab_test__\n")
    for name, make in KINDS.items():
        t = make()
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        t.save(os.path.join(d, "tokenizer.json"))
        cases = []
        for text in texts:
            ids = t.encode(text, add_special_tokens=True).ids
            cases.append({"text": text, "ids": ids, "plain": t.encode(text, add_special_tokens=False).ids,
                          "decoded": t.decode(ids, skip_special_tokens=True), "raw": t.decode(ids, skip_special_tokens=False)})
        json.dump(cases, open(os.path.join(d, "cases.json"), "w"), ensure_ascii=False, indent=0)
        print(name, t.get_vocab_size(), len(cases))

if __name__ == "__main__":
    main()
