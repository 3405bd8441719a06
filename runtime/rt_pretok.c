/* rt_pretok.c: the pre-tokenizer split patterns (RtTokPattern), as
 * hand-written scanners with exactly the leftmost-first semantics that
 * Oniguruma (Hugging Face tokenizers) and llama.cpp give the regexes:
 *
 *   GPT2:   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *   LLAMA3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}
 *           | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 *   QWEN2:  LLAMA3 with \p{N} for \p{N}{1,3}
 *   DIGITS: \p{N}        DIGITS3: \p{N}{1,3}
 *
 * Every character is a letter (\p{L}), a number (\p{N}), a space (\s, the
 * White_Space property) or something else; an invalid UTF-8 byte is one
 * U+FFFD, something else. The first three patterns match at every
 * position, so a match always starts where the search does. A scanner reads
 * the characters of its match and at most a few more (a run of spaces is
 * read once for all the whitespace alternatives), so splitting a text
 * takes linear time.
 *
 * Case-insensitive contractions follow Unicode simple case folding, as
 * Oniguruma does: 'S and the long s 'ſ (U+017F) match 's.
 *
 * The splits of the GGUF pre-tokenizers falcon, deepseek-llm and
 * deepseek-coder (RT_PAT_PUNCT_SYMBOLS .. RT_PAT_TRAILING_SPACE) follow
 * llama.cpp, which runs them through C++'s std::regex: a regex naming a
 * Unicode category sees every non-ASCII character as its category (\p{L},
 * \p{N}, \p{P}; whitespace as \s), and ASCII as in the C locale (\p{L}
 * A-Za-z, \p{N} 0-9, \p{P} the ASCII punctuation but $+<=>^`|~, which are
 * symbols); a regex of explicit ranges compares code points, non-ASCII
 * whitespace again matching \s only. \s is the White_Space property;
 * matches are leftmost, and each is a class run, optionally after one
 * whitespace character, so the scanners below find them directly.
 */
#include "hetc_rt_tok.h"

#include <string.h>

/* Character kinds. */
enum {
    K_END = 0,          /* past the end of the text */
    K_LETTER = 1,
    K_NUMBER = 2,
    K_SPACE = 4,
    K_OTHER = 8,
    K_NEWLINE = 16,     /* \r or \n; always with K_SPACE */
};

typedef struct {
    const char *s;
    size_t len;
} Text;

/* Kind of the character at i; *next gets the position after it. */
static unsigned kind_at(Text t, size_t i, size_t *next)
{
    size_t adv;
    if (i >= t.len) {
        *next = t.len;
        return K_END;
    }
    uint32_t cp = rt_utf8_decode(t.s + i, t.len - i, &adv);
    *next = i + adv;
    if (cp == '\r' || cp == '\n')
        return K_SPACE | K_NEWLINE;
    if (rt_uc_is_letter(cp))
        return K_LETTER;
    if (rt_uc_is_number(cp))
        return K_NUMBER;
    return rt_uc_is_space(cp) ? K_SPACE : K_OTHER;
}

/* End of the run of characters with a kind in mask that starts at i. */
static size_t run_end(Text t, size_t i, unsigned mask)
{
    size_t next;
    while (kind_at(t, i, &next) & mask)
        i = next;
    return i;
}

/* End of at most max characters of kind mask from i. */
static size_t run_end_max(Text t, size_t i, unsigned mask, int max)
{
    size_t next;
    for (int n = 0; n < max && (kind_at(t, i, &next) & mask); n++)
        i = next;
    return i;
}

/* ---- contractions: 's|'t|'re|'ve|'m|'ll|'d ---- */

/* Lowercase ASCII of the character at i when it may match a letter of a
 * contraction (folding case if fold: the long s folds to s); 0 otherwise. */
static char contraction_letter(Text t, size_t i, int fold, size_t *next)
{
    size_t adv;
    if (i >= t.len)
        return 0;
    uint32_t cp = rt_utf8_decode(t.s + i, t.len - i, &adv);
    *next = i + adv;
    if (fold && cp == 0x17F)
        return 's';
    if (fold && cp >= 'A' && cp <= 'Z')
        return (char)(cp - 'A' + 'a');
    return cp < 0x80 ? (char)cp : 0;
}

/* End of the contraction at i, or i when there is none. */
static size_t contraction_end(Text t, size_t i, int fold)
{
    size_t next = i, next2 = i;
    if (t.s[i] != '\'')
        return i;
    char a = contraction_letter(t, i + 1, fold, &next);
    if (a == 's' || a == 't' || a == 'm' || a == 'd')
        return next;
    char b = a ? contraction_letter(t, next, fold, &next2) : 0;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
        return next2;
    return i;
}

/* ---- whitespace: \s*[\r\n]+ and \s+(?!\S)|\s+ ---- */

typedef struct {
    size_t end;         /* end of the run of spaces */
    size_t last;        /* start of its last character */
    size_t newline_end; /* end of its last \r or \n; 0 when it has none */
} SpaceRun;

static SpaceRun space_run(Text t, size_t i)
{
    SpaceRun r = { .end = i, .last = i, .newline_end = 0 };
    size_t next;
    unsigned k;
    while ((k = kind_at(t, r.end, &next)) & K_SPACE) {
        r.last = r.end;
        r.end = next;
        if (k & K_NEWLINE)
            r.newline_end = next;
    }
    return r;
}

/* \s+(?!\S)|\s+ at i: the whole run at the end of the text; else the run
 * but its last character (left to go with the word after it); else, for a
 * single space before a non-space, that one. */
static size_t space_tail_end(Text t, SpaceRun r, size_t i)
{
    return r.end == t.len || r.last == i ? r.end : r.last;
}

/* ---- the patterns ---- */

static size_t gpt2_end(Text t, size_t i)
{
    size_t next, after_next;
    size_t c = contraction_end(t, i, 0);
    if (c > i)
        return c;
    unsigned k = kind_at(t, i, &next);
    unsigned k2 = kind_at(t, next, &after_next);
    /* " ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+": a space may lead a run of one kind */
    if (t.s[i] == ' ' && (k2 & (K_LETTER | K_NUMBER | K_OTHER)))
        return run_end(t, next, k2);
    if (k & (K_LETTER | K_NUMBER | K_OTHER))
        return run_end(t, i, k);
    return space_tail_end(t, space_run(t, i), i);
}

/* LLAMA3 (max_digits 3) and QWEN2 (max_digits 1). */
static size_t llama3_end(Text t, size_t i, int max_digits)
{
    size_t next, after_next;
    size_t c = contraction_end(t, i, 1);
    if (c > i)
        return c;
    unsigned k = kind_at(t, i, &next);
    unsigned k2 = kind_at(t, next, &after_next);
    /* [^\r\n\p{L}\p{N}]?\p{L}+ */
    if (k == K_LETTER)
        return run_end(t, i, K_LETTER);
    if ((k == K_OTHER || k == K_SPACE) && k2 == K_LETTER)
        return run_end(t, next, K_LETTER);
    /* \p{N}{1,3} */
    if (k == K_NUMBER)
        return run_end_max(t, i, K_NUMBER, max_digits);
    /* " ?[^\s\p{L}\p{N}]+[\r\n]*" */
    if (t.s[i] == ' ' && k2 == K_OTHER)
        return run_end(t, run_end(t, next, K_OTHER), K_NEWLINE);
    if (k == K_OTHER)
        return run_end(t, run_end(t, i, K_OTHER), K_NEWLINE);
    /* \s*[\r\n]+ then \s+(?!\S)|\s+ */
    SpaceRun r = space_run(t, i);
    return r.newline_end ? r.newline_end : space_tail_end(t, r, i);
}

/* \p{N} or \p{N}{1,3}: the first run of numbers at or after pos. */
static int digits_next(Text t, size_t pos, int max_digits, size_t *start, size_t *end)
{
    size_t next;
    for (size_t i = pos; i < t.len; i = next) {
        if (kind_at(t, i, &next) == K_NUMBER) {
            *start = i;
            *end = run_end_max(t, i, K_NUMBER, max_digits);
            return 1;
        }
    }
    return 0;
}

/* ---- the class runs of llama.cpp's std::regex splits ---- */

typedef int (*CharClass)(uint32_t cp);

static int ascii_punct(uint32_t cp) { return cp > 32 && cp < 127 && !(cp >= '0' && cp <= '9') && !((cp | 32) >= 'a' && (cp | 32) <= 'z'); }

static int category_p(uint32_t cp)
{
    RtUcCategory c = rt_uc_category(cp);
    return c >= RT_UC_PC && c <= RT_UC_PO && !rt_uc_is_space(cp);
}

/* \p{P} as llama.cpp's collapsed text has it: ASCII punctuation but for the
 * symbols $+<=>^`|~; beyond ASCII the P categories. */
static int cls_punct(uint32_t cp)
{
    if (cp < 128) return ascii_punct(cp) && !strchr("$+<=>^`|~", (int)cp);
    return category_p(cp);
}

static int cls_punct_symbols(uint32_t cp) { return cp < 128 ? ascii_punct(cp) : category_p(cp); }

static int cls_letter(uint32_t cp) { return !rt_uc_is_space(cp) && rt_uc_is_letter(cp); }

static int cls_number(uint32_t cp) { return !rt_uc_is_space(cp) && rt_uc_is_number(cp); }

static int cls_newline(uint32_t cp) { return cp == '\r' || cp == '\n'; }

static int cls_ascii_digit(uint32_t cp) { return cp >= '0' && cp <= '9'; }

static int cls_cjk(uint32_t cp)
{
    return !rt_uc_is_space(cp) && ((cp >= 0x800 && cp <= 0x9FA5) || (cp >= 0xAC00 && cp <= 0xD7FF));
}

static int in_ranges(uint32_t cp, const uint32_t (*r)[2], size_t n)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < r[mid][0]) hi = mid;
        else if (cp > r[mid][1]) lo = mid + 1;
        else return 1;
    }
    return 0;
}

/* DeepSeek LLM's letter class (its tokenizer's regex, as llama.cpp has it):
 * the cased letters of some Unicode version, and a few more. */
static int cls_cased(uint32_t cp)
{
    static const uint32_t r[][2] = {
        {0x41, 0x5A}, {0x61, 0x7A}, {0xB5, 0xB5}, {0xC0, 0xD6}, {0xD8, 0xF6}, {0xF8, 0x1BA}, {0x1BC, 0x1BF},
        {0x1C4, 0x293}, {0x295, 0x2AF}, {0x370, 0x373}, {0x376, 0x377}, {0x37B, 0x37D}, {0x37F, 0x37F},
        {0x386, 0x386}, {0x388, 0x38A}, {0x38C, 0x38C}, {0x38E, 0x3A1}, {0x3A3, 0x3F5}, {0x3F7, 0x481},
        {0x48A, 0x52F}, {0x531, 0x556}, {0x10A0, 0x10C5}, {0x13A0, 0x13F5}, {0x13F8, 0x13FD}, {0x1C90, 0x1CBA},
        {0x1CBD, 0x1CBF}, {0x1D00, 0x1D2B}, {0x1D6B, 0x1D77}, {0x1D79, 0x1D9A}, {0x1E00, 0x1F15}, {0x1F18, 0x1F1D},
        {0x1F20, 0x1F45}, {0x1F48, 0x1F4D}, {0x1F50, 0x1F57}, {0x1F59, 0x1F59}, {0x1F5B, 0x1F5B}, {0x1F5D, 0x1F5D},
        {0x1F5F, 0x1F7D}, {0x1F80, 0x1FB4}, {0x1FB6, 0x1FBC}, {0x1FBE, 0x1FBE}, {0x1FC2, 0x1FC4}, {0x1FC6, 0x1FCC},
        {0x1FD0, 0x1FD3}, {0x1FD6, 0x1FDB}, {0x1FE0, 0x1FEC}, {0x1FF2, 0x1FF4}, {0x1FF6, 0x1FFC}, {0x2102, 0x2102},
        {0x2107, 0x2107}, {0x210A, 0x2113}, {0x2115, 0x2115}, {0x2119, 0x211D}, {0x2124, 0x2124}, {0x2126, 0x2126},
        {0x2128, 0x2128}, {0x212A, 0x212D}, {0x212F, 0x2134}, {0x2139, 0x2139}, {0x213C, 0x213F}, {0x2145, 0x2149},
        {0x214E, 0x214E}, {0x2183, 0x2184}, {0x2C00, 0x2C7B}, {0x2C7E, 0x2CE4}, {0x2CEB, 0x2CEE}, {0x2CF2, 0x2CF3},
        {0xA640, 0xA66D}, {0xA680, 0xA69B}, {0xA722, 0xA76F}, {0xA771, 0xA787}, {0xA78B, 0xA78E}, {0xAB70, 0xABBF},
        {0xFB00, 0xFB06}, {0xFB13, 0xFB17}, {0xFF21, 0xFF3A}, {0xFF41, 0xFF5A}, {0x10400, 0x1044F},
        {0x104B0, 0x104D3}, {0x104D8, 0x104FB}, {0x10C80, 0x10CB2}, {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF},
        {0x1E900, 0x1E943},
    };
    return in_ranges(cp, r, sizeof r / sizeof r[0]);
}

/* [!-/:-~！-／：-～‘-‟　-。] (U+3000, a space, matches \s only) */
static int cls_ascii_punct_wide(uint32_t cp)
{
    static const uint32_t r[][2] = {{0x21, 0x2F}, {0x3A, 0x7E}, {0x2018, 0x201F}, {0x3001, 0x3002},
                                    {0xFF01, 0xFF0F}, {0xFF1A, 0xFF5E}};
    return in_ranges(cp, r, sizeof r / sizeof r[0]);
}

static uint32_t cp_at(Text t, size_t i, size_t *next)
{
    size_t adv;
    uint32_t cp = rt_utf8_decode(t.s + i, t.len - i, &adv);
    *next = i + adv;
    return cp;
}

/* End of the run of class c from i. */
static size_t class_run_end(Text t, size_t i, CharClass c)
{
    size_t next;
    while (i < t.len && c(cp_at(t, i, &next)))
        i = next;
    return i;
}

/* The first match of \s?C+ (space 1) or C+ (space 0) at or after pos. */
static int class_run_next(Text t, size_t pos, CharClass c, int space, size_t *start, size_t *end)
{
    size_t next, after;
    for (size_t i = pos; i < t.len; i = next) {
        uint32_t cp = cp_at(t, i, &next);
        if (c(cp) || (space && rt_uc_is_space(cp) && next < t.len && c(cp_at(t, next, &after)))) {
            *start = i;
            *end = class_run_end(t, c(cp) ? i : next, c);
            return 1;
        }
    }
    return 0;
}

/* The first character of class c at or after pos. */
static int class_char_next(Text t, size_t pos, CharClass c, size_t *start, size_t *end)
{
    size_t next;
    for (size_t i = pos; i < t.len; i = next)
        if (c(cp_at(t, i, &next))) {
            *start = i;
            *end = next;
            return 1;
        }
    return 0;
}

/* [0-9][0-9][0-9]: the first three ASCII digits in a row. */
static int ascii_digits3_next(Text t, size_t pos, size_t *start, size_t *end)
{
    for (size_t i = pos; i + 3 <= t.len; i++)
        if (cls_ascii_digit((unsigned char)t.s[i]) && cls_ascii_digit((unsigned char)t.s[i + 1]) &&
            cls_ascii_digit((unsigned char)t.s[i + 2])) {
            *start = i;
            *end = i + 3;
            return 1;
        }
    return 0;
}

/* \s+$: the whitespace that ends the text, from pos on. */
static int trailing_space_next(Text t, size_t pos, size_t *start, size_t *end)
{
    size_t first = t.len, next;
    for (size_t i = pos; i < t.len; i = next)
        if (!rt_uc_is_space(cp_at(t, i, &next))) first = t.len;
        else if (first == t.len) first = i;
    if (first == t.len) return 0;
    *start = first;
    *end = t.len;
    return 1;
}

int rt_pattern_next(RtTokPattern p, const char *s, size_t len, size_t pos, size_t *start, size_t *end)
{
    Text t = { s, len };
    if (pos >= len)
        return 0;
    switch (p) {
    case RT_PAT_DIGITS: return digits_next(t, pos, 1, start, end);
    case RT_PAT_DIGITS3: return digits_next(t, pos, 3, start, end);
    case RT_PAT_PUNCT_SYMBOLS: return class_run_next(t, pos, cls_punct_symbols, 0, start, end);
    case RT_PAT_ASCII_DIGITS3: return ascii_digits3_next(t, pos, start, end);
    case RT_PAT_NEWLINE: return class_char_next(t, pos, cls_newline, start, end);
    case RT_PAT_SPACE_LETTERS: return class_run_next(t, pos, cls_letter, 1, start, end);
    case RT_PAT_SPACE_PUNCT: return class_run_next(t, pos, cls_punct, 1, start, end);
    case RT_PAT_CJK: return class_run_next(t, pos, cls_cjk, 0, start, end);
    case RT_PAT_NUMBERS: return class_run_next(t, pos, cls_number, 0, start, end);
    case RT_PAT_SPACE_CASED: return class_run_next(t, pos, cls_cased, 1, start, end);
    case RT_PAT_SPACE_ASCII_PUNCT: return class_run_next(t, pos, cls_ascii_punct_wide, 1, start, end);
    case RT_PAT_TRAILING_SPACE: return trailing_space_next(t, pos, start, end);
    case RT_PAT_GPT2: *end = gpt2_end(t, pos); break;
    case RT_PAT_LLAMA3: *end = llama3_end(t, pos, 3); break;
    case RT_PAT_QWEN2: *end = llama3_end(t, pos, 1); break;
    default: return 0;
    }
    *start = pos;
    return 1;
}
