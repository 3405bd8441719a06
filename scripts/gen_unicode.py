#!/usr/bin/env python3
"""gen_unicode.py: writes runtime/rt_unicode_tables.c, the character data
behind runtime/rt_unicode.c, from the Unicode Character Database files of
Debian's unicode-data package (apt-get install unicode-data).

Tables written:
  - the general category of every code point (two-stage table),
  - the canonical combining class of every code point (two-stage table),
  - the White_Space ranges,
  - the simple lowercase mapping (sorted pairs),
  - the full canonical decomposition of every decomposable code point but
    the Hangul syllables (sorted code points, offsets into a flat array),
  - the canonical composition pairs, the composition exclusions left out
    (sorted keys first << 21 | second, and the composites).

Usage: scripts/gen_unicode.py [--ucd /usr/share/unicode] [--out runtime/rt_unicode_tables.c]
"""
import argparse
import os
import re
import sys

N_CODE_POINTS = 0x110000
BLOCK = 128     # code points per stage-2 block; UC_BLOCK_SHIFT in rt_unicode.c matches

# The order of RtUcCategory in runtime/hetc_rt.h.
CATEGORIES = ["Cn", "Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me",
              "Nd", "Nl", "No", "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po",
              "Sm", "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf", "Cs",
              "Co"]

HANGUL_FIRST, HANGUL_LAST = 0xAC00, 0xD7A3   # decomposed algorithmically


def data_lines(path):
    """The non-comment lines of a UCD file, split on ';' and stripped."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                yield [field.strip() for field in line.split(";")]


def code_range(field):
    """'0041' or '0041..005A' as a range of code points."""
    first, _, last = field.partition("..")
    return range(int(first, 16), int(last or first, 16) + 1)


def unicode_version(ucd):
    """The version in the header of PropList.txt ('# PropList-15.0.0.txt')."""
    with open(os.path.join(ucd, "PropList.txt"), encoding="utf-8") as f:
        m = re.match(r"# PropList-([0-9.]+)\.txt", f.readline())
    if not m:
        sys.exit("gen_unicode.py: no version in PropList.txt")
    return m.group(1)


def read_unicode_data(ucd):
    """Category, combining class, decomposition and lowercase per code point."""
    category = [0] * N_CODE_POINTS
    ccc = [0] * N_CODE_POINTS
    decomp = {}                 # canonical mappings only, one level
    lower = {}
    range_first = None
    for f in data_lines(os.path.join(ucd, "UnicodeData.txt")):
        cp, name, cat = int(f[0], 16), f[1], CATEGORIES.index(f[2])
        if name.endswith(", First>"):
            range_first = cp
            continue
        first = range_first if name.endswith(", Last>") else cp
        range_first = None
        for c in range(first, cp + 1):
            category[c] = cat
            ccc[c] = int(f[3])
        if f[5] and not f[5].startswith("<"):
            decomp[cp] = [int(x, 16) for x in f[5].split()]
        if f[13]:
            lower[cp] = int(f[13], 16)
    return category, ccc, decomp, lower


def read_property(path, name):
    """The code points with a binary property, as a set."""
    cps = set()
    for f in data_lines(path):
        if f[1] == name:
            cps.update(code_range(f[0]))
    return cps


def full_decomposition(cp, decomp):
    if cp not in decomp:
        return [cp]
    return [d for part in decomp[cp] for d in full_decomposition(part, decomp)]


def to_ranges(cps):
    """Sorted code points as [first, last] ranges."""
    ranges = []
    for c in sorted(cps):
        if ranges and ranges[-1][1] == c - 1:
            ranges[-1][1] = c
        else:
            ranges.append([c, c])
    return ranges


def two_stage(values):
    """Stage 1 (block index per BLOCK code points) and stage 2 (unique blocks)."""
    blocks, index, stage1 = [], {}, []
    for start in range(0, N_CODE_POINTS, BLOCK):
        block = tuple(values[start:start + BLOCK])
        if block not in index:
            index[block] = len(blocks)
            blocks.append(block)
        stage1.append(index[block])
    return stage1, [v for b in blocks for v in b]


BITS = {"uint8_t": 8, "uint16_t": 16, "uint32_t": 32, "uint64_t": 64}


def c_array(ctype, name, values, comment, fmt="{}", per_line=24):
    """A const array; the types are fixed: rt_unicode.c declares them."""
    if max(values) >> BITS[ctype]:
        sys.exit("gen_unicode.py: %s does not fit in %s" % (name, ctype))
    lines = ["/* %s */" % comment,
             "const %s %s[%d] = {" % (ctype, name, len(values))]
    for i in range(0, len(values), per_line):
        lines.append("    " + ",".join(fmt.format(v) for v in values[i:i + per_line]) + ",")
    lines.append("};")
    return "\n".join(lines) + "\n"


def c_count(name, n):
    return "const uint32_t %s = %d;\n" % (name, n)


def check_assumptions(ccc, decomp_full, pairs):
    """What rt_unicode.c relies on: ASCII is inert for NFC, decompositions are short."""
    if not (all(ccc[c] == 0 and c not in decomp_full for c in range(0x80))
            and all(second >= 0x80 for (_, second) in pairs)
            and max(len(d) for d in decomp_full.values()) <= 4):
        sys.exit("gen_unicode.py: the data breaks an assumption of rt_unicode.c")


def generate(ucd):
    version = unicode_version(ucd)
    category, ccc, decomp, lower = read_unicode_data(ucd)
    white_space = read_property(os.path.join(ucd, "PropList.txt"), "White_Space")
    excluded = read_property(os.path.join(ucd, "DerivedNormalizationProps.txt"),
                             "Full_Composition_Exclusion")

    decomp_full = {cp: full_decomposition(cp, decomp) for cp in sorted(decomp)}
    pairs = {tuple(d): cp for cp, d in decomp.items()
             if len(d) == 2 and cp not in excluded}
    check_assumptions(ccc, decomp_full, pairs)

    cat1, cat2 = two_stage(category)
    ccc1, ccc2 = two_stage(ccc)
    space = [c for r in to_ranges(white_space) for c in r]
    lower_keys = sorted(lower)
    decomp_keys = sorted(decomp_full)
    decomp_offsets, decomp_data = [], []
    for cp in decomp_keys:
        decomp_offsets.append(len(decomp_data))
        decomp_data.extend(decomp_full[cp])
    decomp_offsets.append(len(decomp_data))
    comp_keys = sorted(pairs)

    hexf = "0x{:X}"
    parts = [
        "/* rt_unicode_tables.c: Unicode %s character data for rt_unicode.c.\n"
        " * Generated by scripts/gen_unicode.py from Debian's unicode-data package:\n"
        " * do not edit. */\n"
        "#include <stdint.h>\n" % version,
        c_array("uint16_t", "rt_uc_cat_stage1", cat1,
                "General category (RtUcCategory): block of cp >> 7 ..."),
        c_array("uint8_t", "rt_uc_cat_stage2", cat2,
                "... and cp & 127 within the block."),
        c_array("uint16_t", "rt_uc_ccc_stage1", ccc1,
                "Canonical combining class: block of cp >> 7 ..."),
        c_array("uint8_t", "rt_uc_ccc_stage2", ccc2,
                "... and cp & 127 within the block."),
        c_array("uint32_t", "rt_uc_space_ranges", space,
                "White_Space: inclusive [first, last] pairs, sorted.", hexf, 8),
        c_count("rt_uc_n_space_ranges", len(space) // 2),
        c_array("uint32_t", "rt_uc_lower_from", lower_keys,
                "Simple lowercase mapping: sorted code points ...", hexf, 12),
        c_array("uint32_t", "rt_uc_lower_to", [lower[c] for c in lower_keys],
                "... and their lowercase.", hexf, 12),
        c_count("rt_uc_n_lower", len(lower_keys)),
        c_array("uint32_t", "rt_uc_decomp_cp", decomp_keys,
                "Full canonical decomposition (Hangul syllables excepted): sorted code points ...",
                hexf, 12),
        c_array("uint16_t", "rt_uc_decomp_off", decomp_offsets,
                "... where their decomposition starts in rt_uc_decomp_data (one more entry: the end) ..."),
        c_array("uint32_t", "rt_uc_decomp_data", decomp_data,
                "... and the decompositions, one after the other.", hexf, 12),
        c_count("rt_uc_n_decomp", len(decomp_keys)),
        c_array("uint64_t", "rt_uc_comp_key", [(a << 21) | b for (a, b) in comp_keys],
                "Canonical composition (no exclusions, no Hangul): sorted first << 21 | second ...",
                hexf, 8),
        c_array("uint32_t", "rt_uc_comp_to", [pairs[k] for k in comp_keys],
                "... and the composite.", hexf, 12),
        c_count("rt_uc_n_comp", len(comp_keys)),
    ]
    return version, "\n".join(parts)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ucd", default="/usr/share/unicode")
    ap.add_argument("--out", default=os.path.normpath(os.path.join(here, "..", "runtime", "rt_unicode_tables.c")))
    args = ap.parse_args()
    version, text = generate(args.ucd)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(text)
    print("wrote %s (Unicode %s, %d bytes)" % (args.out, version, len(text)))


if __name__ == "__main__":
    main()
