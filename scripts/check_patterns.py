#!/usr/bin/python3
"""check_patterns.py: checks the runtime's pre-tokenizer scanners
(runtime/rt_pretok.c) and character classes (runtime/rt_unicode.c) against
the regex module (Debian: apt-get install python3-regex), which gives these
patterns the same leftmost-first backtracking semantics as Oniguruma.

It builds a small driver with cc, then
  1. compares \\p{L}, \\p{N} and \\s for every code point,
  2. splits random strings over an alphabet of tricky characters (and
     invalid UTF-8 bytes) with every pattern and compares the pieces.
Invalid bytes are one U+FFFD each to the runtime; here they decode with
'surrogateescape' to one lone surrogate each, which the regexes class the
same way (not a letter, number or space).

Usage: scripts/check_patterns.py [--cases N] [--seed S] [--parts P]
"""
import argparse
import os
import random
import struct
import subprocess
import sys
import tempfile

import regex

CONTRACTIONS = r"'s|'t|'re|'ve|'m|'ll|'d"
LLAMA3_TAIL = r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
PATTERNS = {    # RtTokPattern value -> (name, regex)
    1: ("GPT2", CONTRACTIONS + r"| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"),
    2: ("LLAMA3", "(?i:" + CONTRACTIONS + r")|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|" + LLAMA3_TAIL),
    3: ("QWEN2", "(?i:" + CONTRACTIONS + r")|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|" + LLAMA3_TAIL),
    4: ("DIGITS", r"\p{N}"),
    5: ("DIGITS3", r"\p{N}{1,3}"),
}

# Pieces random strings are made of: each is UTF-8 text or raw bytes.
ALPHABET = [
    "a", "b", "Z", "s", "t", "r", "e", "v", "m", "l", "d", "S", "T", "R", "E", "V", "M", "L", "D",
    "'", "'", "'", "\u2019", "'s", "'T", "'re", "'VE", "'Ll", "'d", "'\u017f",
    "0", "7", "42", "123", "99999", "\u0663", "\u216b", "\u00bd", "\u00b2",
    " ", " ", " ", "  ", "\t", "\n", "\r", "\r\n", "\v", "\f", "\x85", "\xa0", "\u2009", "\u3000", "\u2028",
    "!", ".", ",", "-", '"', "?", "(", "@", "...", "\x00", "\x1c", "\x7f",
    "\u00e9", "\u00c4", "\u00df", "\u017f", "\u212a", "e\u0301", "\u0301",
    "\u4e2d", "\u6587", "\u306e", "\U0001F600", "\U0001F44D\U0001F3FD", "\u200d", "\ufe0f", "\ufffd",
    "\u041f", "\u0440", "\u0438",
    b"\xff", b"\xc3", b"\x80", b"\xed\xa0\x80", b"\xf0\x9f", b"\xc0\xaf",
]

DRIVER = r"""
#include "hetc_rt.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* props: one of L N S O per code point; else records [u8 pattern][u32 len][bytes] -> lines of spans */
int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "props") == 0) {
        for (uint32_t cp = 0; cp <= 0x10FFFF; cp++)
            putchar(rt_uc_is_letter(cp) ? 'L' : rt_uc_is_number(cp) ? 'N' : rt_uc_is_space(cp) ? 'S' : 'O');
        return 0;
    }
    unsigned char hdr[5];
    while (fread(hdr, 1, 5, stdin) == 5) {
        size_t len = hdr[1] | hdr[2] << 8 | hdr[3] << 16 | (size_t)hdr[4] << 24;
        char *s = malloc(len + 1);
        if (fread(s, 1, len, stdin) != len) return 1;
        size_t pos = 0, start, end;
        while (rt_pattern_next((RtTokPattern)hdr[0], s, len, pos, &start, &end)) {
            printf("%zu-%zu ", start, end);
            pos = end;
        }
        putchar('\n');
        free(s);
    }
    return 0;
}
"""


def build_driver(tmp):
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "runtime")
    src = os.path.join(tmp, "driver.c")
    exe = os.path.join(tmp, "driver")
    with open(src, "w") as f:
        f.write(DRIVER)
    sources = [os.path.join(root, n) for n in ("rt_unicode.c", "rt_unicode_tables.c", "rt_pretok.c")]
    subprocess.run(["cc", "-std=c11", "-O2", "-fsanitize=address,undefined", "-I", root, "-o", exe, src]
                   + sources, check=True)
    return exe


def check_classes(exe):
    got = subprocess.run([exe, "props"], check=True, capture_output=True).stdout.decode()
    bad = 0
    for cp in range(0x110000):
        c = chr(cp)
        want = ("L" if regex.match(r"\p{L}", c) else "N" if regex.match(r"\p{N}", c)
                else "S" if regex.match(r"\s", c) else "O")
        if got[cp] != want:
            bad += 1
            if bad <= 10:
                print("class of U+%04X: runtime %s, regex %s" % (cp, got[cp], want))
    print("classes: %d code points, %d mismatches" % (0x110000, bad))
    return bad == 0


def regex_spans(pattern, data):
    """Byte spans of the matches of pattern in data."""
    text = data.decode("utf-8", "surrogateescape")
    offsets = [0]
    for c in text:
        offsets.append(offsets[-1] + (1 if 0xDC80 <= ord(c) <= 0xDCFF else len(c.encode())))
    return [(offsets[m.start()], offsets[m.end()]) for m in regex.finditer(pattern, text)]


def random_case(rng, max_parts):
    parts = []
    for _ in range(rng.randint(0, max_parts)):
        p = rng.choice(ALPHABET)
        parts.append((p if isinstance(p, bytes) else p.encode()) * rng.choice([1, 1, 1, 2, 3]))
    return b"".join(parts)


def check_patterns(exe, cases):
    records, expected = [], []
    for data in cases:
        for pid, (_, pattern) in PATTERNS.items():
            records.append(struct.pack("<BI", pid, len(data)) + data)
            expected.append((pid, data, regex_spans(pattern, data)))
    out = subprocess.run([exe], input=b"".join(records), check=True, capture_output=True).stdout
    bad = 0
    for (pid, data, want), line in zip(expected, out.decode().split("\n")):
        got = [tuple(int(x) for x in span.split("-")) for span in line.split()]
        if got != want:
            bad += 1
            if bad <= 10:
                print("%s %r: runtime %s, regex %s" % (PATTERNS[pid][0], data,
                      [data[a:b] for a, b in got], [data[a:b] for a, b in want]))
    print("patterns: %d strings x %d patterns, %d mismatches" % (len(cases), len(PATTERNS), bad))
    return bad == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--parts", type=int, default=12, help="most alphabet pieces in a string")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        exe = build_driver(tmp)
        ok = check_classes(exe)
        ok = check_patterns(exe, [random_case(rng, args.parts) for _ in range(args.cases)]) and ok
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
