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
 */
#include "hetc_rt_tok.h"

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

int rt_pattern_next(RtTokPattern p, const char *s, size_t len, size_t pos, size_t *start, size_t *end)
{
    Text t = { s, len };
    if (pos >= len)
        return 0;
    switch (p) {
    case RT_PAT_DIGITS: return digits_next(t, pos, 1, start, end);
    case RT_PAT_DIGITS3: return digits_next(t, pos, 3, start, end);
    case RT_PAT_GPT2: *end = gpt2_end(t, pos); break;
    case RT_PAT_LLAMA3: *end = llama3_end(t, pos, 3); break;
    case RT_PAT_QWEN2: *end = llama3_end(t, pos, 1); break;
    default: return 0;
    }
    *start = pos;
    return 1;
}
