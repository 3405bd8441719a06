/* test_rt_unicode.c: the runtime's Unicode support and pre-tokenizer
 * patterns: strict UTF-8 decoding, encoding and streaming completeness,
 * general categories and the classes \p{L}, \p{N}, \s, lowercase, NFC
 * (samples, and NormalizationTest.txt of Debian's unicode-data when
 * installed), every RtTokPattern against pieces computed with Python's
 * regex module (see scripts/check_patterns.py, which fuzzes the same), and
 * 1 MB inputs that must scan in linear time. */
#include "testutil.h"
#include "hetc_rt_tok.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- UTF-8 ---- */

/* Bytes, the length given to the decoder, and the code point and length it must give. */
static const struct {
    const char *bytes;
    size_t len;
    uint32_t cp;
    size_t adv;
} decode_cases[] = {
    {"A", 1, 0x41, 1},
    {"", 1, 0, 1},                              /* NUL */
    {"\x7f", 1, 0x7F, 1},
    {"\xc2\x80", 2, 0x80, 2},                   /* smallest of each length ... */
    {"\xe0\xa0\x80", 3, 0x800, 3},
    {"\xf0\x90\x80\x80", 4, 0x10000, 4},
    {"\xdf\xbf", 2, 0x7FF, 2},                  /* ... and largest */
    {"\xef\xbf\xbf", 3, 0xFFFF, 3},
    {"\xf4\x8f\xbf\xbf", 4, 0x10FFFF, 4},
    {"\xc3\xa9", 2, 0xE9, 2},
    {"\xe2\x82\xac", 3, 0x20AC, 3},
    {"\xf0\x9f\x98\x80", 4, 0x1F600, 4},
    {"\xef\xbf\xbd", 3, 0xFFFD, 3},             /* a real U+FFFD */
    {"\xed\x9f\xbf", 3, 0xD7FF, 3},             /* just below the surrogates */
    {"\xee\x80\x80", 3, 0xE000, 3},             /* just above */
    {"\xc0\x80", 2, 0xFFFD, 1},                 /* overlong */
    {"\xc1\xbf", 2, 0xFFFD, 1},
    {"\xe0\x80\xaf", 3, 0xFFFD, 1},
    {"\xe0\x9f\xbf", 3, 0xFFFD, 1},
    {"\xf0\x8f\xbf\xbf", 4, 0xFFFD, 1},
    {"\xed\xa0\x80", 3, 0xFFFD, 1},             /* surrogates */
    {"\xed\xbf\xbf", 3, 0xFFFD, 1},
    {"\xf4\x90\x80\x80", 4, 0xFFFD, 1},         /* past U+10FFFF */
    {"\xf5\x80\x80\x80", 4, 0xFFFD, 1},
    {"\xff", 1, 0xFFFD, 1},                     /* never in UTF-8 */
    {"\xfe\x80", 2, 0xFFFD, 1},
    {"\x80", 1, 0xFFFD, 1},                     /* stray continuations */
    {"\xbf\xbf", 2, 0xFFFD, 1},
    {"\xc3", 1, 0xFFFD, 1},                     /* truncated */
    {"\xe2\x82", 2, 0xFFFD, 1},
    {"\xf0\x9f\x98", 3, 0xFFFD, 1},
    {"\xc3\xa9", 1, 0xFFFD, 1},                 /* truncated by len */
    {"\xf0\x9f\x98\x80", 3, 0xFFFD, 1},
    {"\xc3\x28", 2, 0xFFFD, 1},                 /* bad continuation */
    {"\xe2\x28\xa1", 3, 0xFFFD, 1},
    {"\xe2\x82\x28", 3, 0xFFFD, 1},
    {"\xf0\x9f\x98\x28", 4, 0xFFFD, 1},
    {"", 0, 0xFFFD, 0},                         /* nothing left */
};

static void test_utf8_decode(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof decode_cases / sizeof *decode_cases; i++) {
        size_t adv = 99;
        uint32_t cp = rt_utf8_decode(decode_cases[i].bytes, decode_cases[i].len, &adv);
        if (cp != decode_cases[i].cp || adv != decode_cases[i].adv)
            fail_msg("case %zu: got U+%04X adv %zu, want U+%04X adv %zu", i, cp, adv,
                     decode_cases[i].cp, decode_cases[i].adv);
    }
}

static void test_utf8_encode(void **state)
{
    (void)state;
    char buf[4];
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        size_t n = rt_utf8_encode(cp, buf), adv;
        assert_int_equal(n, cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4);
        assert_int_equal(rt_utf8_decode(buf, n, &adv), cp);
        assert_int_equal(adv, n);
    }
    const uint32_t invalid[] = {0xD800, 0xDFFF, 0x110000, 0xFFFFFFFF};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(rt_utf8_encode(invalid[i], buf), 3);
        assert_memory_equal(buf, "\xef\xbf\xbd", 3);
    }
}

/* Text and the length of its complete prefix. */
static const struct {
    const char *text;
    size_t complete;
} complete_cases[] = {
    {"", 0},
    {"abc", 3},
    {"ab\xc3", 2},
    {"ab\xe2\x82", 2},
    {"\xf0\x9f\x98", 0},
    {"\xf0\x9f\x98\x80", 4},
    {"\xc3\xa9\xe2", 2},
    {"\xc3\xa9", 2},
    {"ab\xff", 3},              /* invalid bytes never complete later: keep them */
    {"ab\x80", 3},
    {"\x80\x80\x80\x80", 4},
    {"\xe0\x80", 2},            /* overlong start */
    {"\xed\xa0", 2},            /* surrogate start */
    {"\xf4\x90", 2},            /* past U+10FFFF */
    {"a\xf0\x9f", 1},
};

static void test_utf8_complete(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof complete_cases / sizeof *complete_cases; i++) {
        const char *t = complete_cases[i].text;
        if (rt_utf8_complete(t, strlen(t)) != complete_cases[i].complete)
            fail_msg("case %zu: got %zu, want %zu", i, rt_utf8_complete(t, strlen(t)),
                     complete_cases[i].complete);
    }
}

/* ---- character properties ---- */

static const struct {
    uint32_t cp;
    RtUcCategory cat;
} category_cases[] = {
    {'A', RT_UC_LU}, {'z', RT_UC_LL}, {0x01C5, RT_UC_LT}, {0x02B0, RT_UC_LM}, {0x4E2D, RT_UC_LO},
    {0x0301, RT_UC_MN}, {0x0903, RT_UC_MC}, {0x20DD, RT_UC_ME},
    {'5', RT_UC_ND}, {0x0663, RT_UC_ND}, {0x2160, RT_UC_NL}, {0x00BD, RT_UC_NO},
    {'_', RT_UC_PC}, {'-', RT_UC_PD}, {'(', RT_UC_PS}, {')', RT_UC_PE}, {0x00AB, RT_UC_PI},
    {0x00BB, RT_UC_PF}, {'!', RT_UC_PO}, {'\'', RT_UC_PO},
    {'+', RT_UC_SM}, {'$', RT_UC_SC}, {'^', RT_UC_SK}, {0x00A9, RT_UC_SO}, {0x1F600, RT_UC_SO},
    {' ', RT_UC_ZS}, {0x3000, RT_UC_ZS}, {0x2028, RT_UC_ZL}, {0x2029, RT_UC_ZP},
    {'\n', RT_UC_CC}, {0x85, RT_UC_CC}, {0x200D, RT_UC_CF}, {0xD800, RT_UC_CS}, {0xE000, RT_UC_CO},
    {0x10FFFD, RT_UC_CO}, {0x0378, RT_UC_CN}, {0x10FFFF, RT_UC_CN}, {0x110000, RT_UC_CN},
    {0x3400, RT_UC_LO}, {0x4DBF, RT_UC_LO}, {0x20000, RT_UC_LO}, {0x31350, RT_UC_LO}, /* CJK ranges */
    {0xAC00, RT_UC_LO}, {0xD7A3, RT_UC_LO}, {0xFFFD, RT_UC_SO},
};

static void test_categories(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof category_cases / sizeof *category_cases; i++)
        if (rt_uc_category(category_cases[i].cp) != category_cases[i].cat)
            fail_msg("U+%04X: category %d, want %d", category_cases[i].cp,
                     rt_uc_category(category_cases[i].cp), category_cases[i].cat);
}

static void test_classes(void **state)
{
    (void)state;
    const uint32_t letters[] = {'a', 'Z', 0xE9, 0x017F, 0x212A, 0x041F, 0x4E2D, 0x3042, 0x02B0, 0x01C5};
    const uint32_t numbers[] = {'0', '9', 0x0663, 0x2160, 0x00BD, 0x00B2, 0xFF15};
    const uint32_t spaces[] = {' ', '\t', '\n', '\v', '\f', '\r', 0x85, 0xA0, 0x1680, 0x2000,
                               0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000};
    const uint32_t others[] = {'!', '\'', 0x1C, 0x1F, 0x200B, 0x200D, 0x180E, 0xFEFF, 0x0301, 0x1F600, 0xFFFD};
    for (size_t i = 0; i < sizeof letters / sizeof *letters; i++)
        assert_true(rt_uc_is_letter(letters[i]) && !rt_uc_is_number(letters[i]) && !rt_uc_is_space(letters[i]));
    for (size_t i = 0; i < sizeof numbers / sizeof *numbers; i++)
        assert_true(!rt_uc_is_letter(numbers[i]) && rt_uc_is_number(numbers[i]) && !rt_uc_is_space(numbers[i]));
    for (size_t i = 0; i < sizeof spaces / sizeof *spaces; i++)
        assert_true(!rt_uc_is_letter(spaces[i]) && !rt_uc_is_number(spaces[i]) && rt_uc_is_space(spaces[i]));
    for (size_t i = 0; i < sizeof others / sizeof *others; i++)
        assert_true(!rt_uc_is_letter(others[i]) && !rt_uc_is_number(others[i]) && !rt_uc_is_space(others[i]));
}

static void test_lower(void **state)
{
    (void)state;
    const uint32_t pairs[][2] = {
        {'A', 'a'}, {'a', 'a'}, {'1', '1'}, {0xC4, 0xE4}, {0x0130, 'i'}, {0x03A3, 0x03C3},
        {0x041F, 0x043F}, {0x212A, 'k'}, {0x1E9E, 0xDF}, {0x01C5, 0x01C6}, {0x10400, 0x10428},
        {0x4E2D, 0x4E2D}, {0x110000, 0x110000},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++)
        assert_int_equal(rt_uc_lower(pairs[i][0]), pairs[i][1]);
}

/* ---- NFC ---- */

/* The NFC of text must be want (both NUL-terminated). */
static void check_nfc(const char *text, size_t len, const char *want, size_t want_len, const char *what)
{
    char out[256];
    size_t n = rt_uc_nfc(text, len, out, sizeof out);
    if (n != want_len || memcmp(out, want, n) != 0)
        fail_msg("%s: NFC gave %zu bytes \"%.*s\", want %zu \"%.*s\"", what, n, (int)(n < 256 ? n : 256), out,
                 want_len, (int)want_len, want);
}

static const struct {
    const char *text, *nfc;
} nfc_cases[] = {
    {"", ""},
    {"plain ascii", "plain ascii"},
    {"e\xcc\x81", "\xc3\xa9"},                              /* e + acute -> é */
    {"\xc3\xa9", "\xc3\xa9"},
    {"A\xcc\x8a", "\xc3\x85"},                              /* A + ring -> Å */
    {"\xe2\x84\xab", "\xc3\x85"},                           /* angstrom sign (a singleton) -> Å */
    {"\xe1\xb8\x8b\xcc\xa3", "\xe1\xb8\x8d\xcc\x87"},       /* ḋ + dot below -> ḍ + dot above */
    {"q\xcc\x87\xcc\xa3", "q\xcc\xa3\xcc\x87"},             /* reordered, nothing composes */
    {"\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8", "\xea\xb0\x81"}, /* Hangul L V T -> 각 */
    {"\xe1\x84\x80\xe1\x85\xa1", "\xea\xb0\x80"},           /* L V -> 가 */
    {"\xea\xb0\x80\xe1\x86\xa8", "\xea\xb0\x81"},           /* LV T -> 각 */
    {"\xe0\xa5\x98", "\xe0\xa4\x95\xe0\xa4\xbc"},           /* excluded: qa stays decomposed */
    {"\xe0\xad\x87\xe0\xac\xbe", "\xe0\xad\x8b"},           /* two starters compose (Oriya o) */
    {"a\xffz", "a\xffz"},                                   /* invalid bytes copied through ... */
    {"e\xff\xcc\x81", "e\xff\xcc\x81"},                     /* ... and block composition */
    {"\xcc\x81" "e", "\xcc\x81" "e"},                       /* a leading mark */
};

static void test_nfc_samples(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof nfc_cases / sizeof *nfc_cases; i++)
        check_nfc(nfc_cases[i].text, strlen(nfc_cases[i].text), nfc_cases[i].nfc, strlen(nfc_cases[i].nfc),
                  nfc_cases[i].text);
}

static void test_nfc_edges(void **state)
{
    (void)state;
    char out[128], text[128];
    /* the full length is returned; only cap bytes are written */
    memset(out, '#', sizeof out);
    assert_int_equal(rt_uc_nfc("e\xcc\x81x", 4, out, 1), 3);
    assert_int_equal((unsigned char)out[0], 0xC3);
    assert_int_equal(out[1], '#');
    assert_int_equal(rt_uc_nfc("e\xcc\x81x", 4, NULL, 0), 3);
    /* a run of 40 acute accents: the first composes, the rest stay */
    size_t n = 0;
    text[n++] = 'a';
    for (int i = 0; i < 40; i++) {
        text[n++] = '\xcc';
        text[n++] = '\x81';
    }
    char want[128];
    memcpy(want, "\xc3\xa1", 2);
    memcpy(want + 2, text + 3, n - 3);
    check_nfc(text, n, want, n - 1, "40 marks");
}

/* NormalizationTest.txt as text (plain or bzip2'd), or NULL. */
static char *read_normalization_test(void)
{
    const char *plain = "/usr/share/unicode/NormalizationTest.txt";
    const char *bz2 = "/usr/share/unicode/NormalizationTest.txt.bz2";
    char *text = tu_read_file(plain, NULL);
    FILE *f;
    if (text || !(f = fopen(bz2, "rb")))
        return text;
    fclose(f);
    if (tu_run(&text, "bzcat %s", bz2) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

/* One column ("1E0A 0323") as UTF-8 into buf; returns its length. */
static size_t parse_column(const char *col, const char *end, char *buf)
{
    size_t n = 0;
    while (col < end) {
        char *next;
        unsigned long cp = strtoul(col, &next, 16);
        if (next == col)
            break;
        n += rt_utf8_encode((uint32_t)cp, buf + n);
        col = next;
    }
    return n;
}

/* Checks c2 == NFC(c1) == NFC(c2) == NFC(c3) and c4 == NFC(c4) == NFC(c5) on
 * one data line; returns the first code point of c1. */
static uint32_t check_conformance_line(const char *line, int line_no)
{
    char cols[5][128], what[64];
    size_t lens[5];
    const char *p = line;
    for (int c = 0; c < 5; c++) {
        const char *semi = strchr(p, ';');
        assert_non_null(semi);
        lens[c] = parse_column(p, semi, cols[c]);
        p = semi + 1;
    }
    const int from[5] = {1, 1, 1, 3, 3};
    for (int c = 0; c < 5; c++) {
        snprintf(what, sizeof what, "line %d column %d", line_no, c + 1);
        check_nfc(cols[c], lens[c], cols[from[c]], lens[from[c]], what);
    }
    size_t adv;
    return rt_utf8_decode(cols[0], lens[0], &adv);
}

/* Code points not in part 1 of the test are their own NFC. */
static void check_unlisted(const uint8_t *listed)
{
    char buf[4];
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
        if (listed[cp] || (cp >= 0xD800 && cp <= 0xDFFF))
            continue;
        size_t n = rt_utf8_encode(cp, buf);
        check_nfc(buf, n, buf, n, "an unlisted code point");
    }
}

static void test_nfc_conformance(void **state)
{
    (void)state;
    char *text = read_normalization_test();
    if (!text) {
        fprintf(stderr, "NormalizationTest.txt not found (apt-get install unicode-data): skipped\n");
        skip();
    }
    uint8_t *listed = calloc(0x110000, 1);
    int part = -1, line_no = 0, checked = 0;
    for (char *line = text; *line; ) {
        char *nl = strchr(line, '\n');
        line_no++;
        if (strncmp(line, "@Part", 5) == 0) {
            part = atoi(line + 5);
        } else if (line[0] != '#' && line[0] != '\n') {
            uint32_t first = check_conformance_line(line, line_no);
            if (part == 1)
                listed[first] = 1;
            checked++;
        }
        line = nl ? nl + 1 : line + strlen(line);
    }
    assert_true(checked > 10000);
    check_unlisted(listed);
    free(listed);
    free(text);
}

/* ---- pre-tokenizer patterns ---- */

/* Text and the pieces the pattern's regex gives (Python's regex module;
 * generated with the regex_spans function of scripts/check_patterns.py). */
typedef struct {
    const char *text;
    const char *pieces[40];     /* NULL-terminated */
} PatternCase;

static const PatternCase gpt2_cases[] = {
    {"Hello world",
     {"Hello", " world", NULL}},
    {"Hello, world! How are you?",
     {"Hello", ",", " world", "!", " How", " are", " you", "?", NULL}},
    {"I'm here, you're there, he'll go, we've been, she'd say, it's done, don't",
     {"I", "'m", " here", ",", " you", "'re", " there", ",", " he", "'ll", " go", ",", " we", "'ve", " been", ",", " she", "'d", " say", ",", " it", "'s", " done", ",", " don", "'t", NULL}},
    {"I'M HERE, YOU'RE THERE, HE'LL GO, WE'VE, SHE'D, IT'S, DON'T",
     {"I", "'", "M", " HERE", ",", " YOU", "'", "RE", " THERE", ",", " HE", "'", "LL", " GO", ",", " WE", "'", "VE", ",", " SHE", "'", "D", ",", " IT", "'", "S", ",", " DON", "'", "T", NULL}},
    {"'s's 'S 'Re ſ'ſ 'x ''s",
     {"'s", "'s", " '", "S", " '", "Re", " ſ", "'", "ſ", " '", "x", " ''", "s", NULL}},
    {"héllo wörld café naïve ße",
     {"héllo", " wörld", " café", " naïve", " ße", NULL}},
    {"Привет, мир!",
     {"Привет", ",", " мир", "!", NULL}},
    {"中文字符测试 日本語のテキスト。",
     {"中文字符测试", " 日本語のテキスト", "。", NULL}},
    {"emoji 😀👍🏽 test ❤\xef\xb8\x8f!",
     {"emoji", " 😀👍🏽", " test", " ❤\xef\xb8\x8f!", NULL}},
    {"e\xcc\x81té कि",
     {"e", "\xcc\x81", "té", " क", "ि", NULL}},
    {"1 12 123 1234 12345 123456 1234567",
     {"1", " 12", " 123", " 1234", " 12345", " 123456", " 1234567", NULL}},
    {"a1b22c333d4444e55555",
     {"a", "1", "b", "22", "c", "333", "d", "4444", "e", "55555", NULL}},
    {"٣٤٥ Ⅻ ½² x³",
     {"٣٤٥", " Ⅻ", " ½²", " x", "³", NULL}},
    {"\t\n  \r\n",
     {"\t\n  \r\n", NULL}},
    {"hello   world",
     {"hello", "  ", " world", NULL}},
    {"hello  \n  world",
     {"hello", "  \n ", " world", NULL}},
    {"trailing   ",
     {"trailing", "   ", NULL}},
    {"   leading",
     {"  ", " leading", NULL}},
    {"a \n\n b",
     {"a", " \n\n", " b", NULL}},
    {"x\r\n\r\ny",
     {"x", "\r\n\r", "\n", "y", NULL}},
    {"\xc2\xa0 x \xe3\x80\x80\xe3\x80\x80y\xe2\x80\xa8z",
     {"\xc2\xa0", " x", " \xe3\x80\x80", "\xe3\x80\x80", "y", "\xe2\x80\xa8", "z", NULL}},
    {"!!!\n\nhello!!!\n\nworld",
     {"!!!", "\n", "\n", "hello", "!!!", "\n", "\n", "world", NULL}},
    {" ...\r\nx ?!  \n",
     {" ...", "\r", "\n", "x", " ?!", "  \n", NULL}},
    {"(a+b)*c = d; // done",
     {"(", "a", "+", "b", ")*", "c", " =", " d", ";", " //", " done", NULL}},
    {"foo.bar@example.com $100.00 & 50%",
     {"foo", ".", "bar", "@", "example", ".", "com", " $", "100", ".", "00", " &", " 50", "%", NULL}},
    {"def f(x):\n    return x + 1\n",
     {"def", " f", "(", "x", "):", "\n   ", " return", " x", " +", " 1", "\n", NULL}},
    {"if (a) {\n\tb();\n}\n",
     {"if", " (", "a", ")", " {", "\n", "\t", "b", "();", "\n", "}", "\n", NULL}},
    {"ab\xff" "cd \xc3( \xff\xfe x \xed\xa0\x80z",
     {"ab", "\xff", "cd", " \xc3(", " \xff\xfe", " x", " \xed\xa0\x80", "z", NULL}},
    {"don't stop-believin' 2023!  ok\n",
     {"don", "'t", " stop", "-", "believin", "'", " 2023", "!", " ", " ok", "\n", NULL}},
    {"\t\tindented\ttabs",
     {"\t", "\t", "indented", "\t", "tabs", NULL}},
};

static const PatternCase llama3_cases[] = {
    {"Hello world",
     {"Hello", " world", NULL}},
    {"Hello, world! How are you?",
     {"Hello", ",", " world", "!", " How", " are", " you", "?", NULL}},
    {"I'm here, you're there, he'll go, we've been, she'd say, it's done, don't",
     {"I", "'m", " here", ",", " you", "'re", " there", ",", " he", "'ll", " go", ",", " we", "'ve", " been", ",", " she", "'d", " say", ",", " it", "'s", " done", ",", " don", "'t", NULL}},
    {"I'M HERE, YOU'RE THERE, HE'LL GO, WE'VE, SHE'D, IT'S, DON'T",
     {"I", "'M", " HERE", ",", " YOU", "'RE", " THERE", ",", " HE", "'LL", " GO", ",", " WE", "'VE", ",", " SHE", "'D", ",", " IT", "'S", ",", " DON", "'T", NULL}},
    {"'s's 'S 'Re ſ'ſ 'x ''s",
     {"'s", "'s", " '", "S", " '", "Re", " ſ", "'ſ", " '", "x", " ''", "s", NULL}},
    {"héllo wörld café naïve ße",
     {"héllo", " wörld", " café", " naïve", " ße", NULL}},
    {"Привет, мир!",
     {"Привет", ",", " мир", "!", NULL}},
    {"中文字符测试 日本語のテキスト。",
     {"中文字符测试", " 日本語のテキスト", "。", NULL}},
    {"emoji 😀👍🏽 test ❤\xef\xb8\x8f!",
     {"emoji", " 😀👍🏽", " test", " ❤\xef\xb8\x8f!", NULL}},
    {"e\xcc\x81té कि",
     {"e", "\xcc\x81té", " क", "ि", NULL}},
    {"1 12 123 1234 12345 123456 1234567",
     {"1", " ", "12", " ", "123", " ", "123", "4", " ", "123", "45", " ", "123", "456", " ", "123", "456", "7", NULL}},
    {"a1b22c333d4444e55555",
     {"a", "1", "b", "22", "c", "333", "d", "444", "4", "e", "555", "55", NULL}},
    {"٣٤٥ Ⅻ ½² x³",
     {"٣٤٥", " ", "Ⅻ", " ", "½²", " x", "³", NULL}},
    {"\t\n  \r\n",
     {"\t\n  \r\n", NULL}},
    {"hello   world",
     {"hello", "  ", " world", NULL}},
    {"hello  \n  world",
     {"hello", "  \n", " ", " world", NULL}},
    {"trailing   ",
     {"trailing", "   ", NULL}},
    {"   leading",
     {"  ", " leading", NULL}},
    {"a \n\n b",
     {"a", " \n\n", " b", NULL}},
    {"x\r\n\r\ny",
     {"x", "\r\n\r\n", "y", NULL}},
    {"\xc2\xa0 x \xe3\x80\x80\xe3\x80\x80y\xe2\x80\xa8z",
     {"\xc2\xa0", " x", " \xe3\x80\x80", "\xe3\x80\x80y", "\xe2\x80\xa8z", NULL}},
    {"!!!\n\nhello!!!\n\nworld",
     {"!!!\n\n", "hello", "!!!\n\n", "world", NULL}},
    {" ...\r\nx ?!  \n",
     {" ...\r\n", "x", " ?!", "  \n", NULL}},
    {"(a+b)*c = d; // done",
     {"(a", "+b", ")*", "c", " =", " d", ";", " //", " done", NULL}},
    {"foo.bar@example.com $100.00 & 50%",
     {"foo", ".bar", "@example", ".com", " $", "100", ".", "00", " &", " ", "50", "%", NULL}},
    {"def f(x):\n    return x + 1\n",
     {"def", " f", "(x", "):\n", "   ", " return", " x", " +", " ", "1", "\n", NULL}},
    {"if (a) {\n\tb();\n}\n",
     {"if", " (", "a", ")", " {\n", "\tb", "();\n", "}\n", NULL}},
    {"ab\xff" "cd \xc3( \xff\xfe x \xed\xa0\x80z",
     {"ab", "\xff" "cd", " \xc3(", " \xff\xfe", " x", " \xed\xa0\x80", "z", NULL}},
    {"don't stop-believin' 2023!  ok\n",
     {"don", "'t", " stop", "-believin", "'", " ", "202", "3", "!", " ", " ok", "\n", NULL}},
    {"\t\tindented\ttabs",
     {"\t", "\tindented", "\ttabs", NULL}},
};

static const PatternCase qwen2_cases[] = {
    {"Hello world",
     {"Hello", " world", NULL}},
    {"I'm here, you're there, he'll go, we've been, she'd say, it's done, don't",
     {"I", "'m", " here", ",", " you", "'re", " there", ",", " he", "'ll", " go", ",", " we", "'ve", " been", ",", " she", "'d", " say", ",", " it", "'s", " done", ",", " don", "'t", NULL}},
    {"I'M HERE, YOU'RE THERE, HE'LL GO, WE'VE, SHE'D, IT'S, DON'T",
     {"I", "'M", " HERE", ",", " YOU", "'RE", " THERE", ",", " HE", "'LL", " GO", ",", " WE", "'VE", ",", " SHE", "'D", ",", " IT", "'S", ",", " DON", "'T", NULL}},
    {"'s's 'S 'Re ſ'ſ 'x ''s",
     {"'s", "'s", " '", "S", " '", "Re", " ſ", "'ſ", " '", "x", " ''", "s", NULL}},
    {"1 12 123 1234 12345 123456 1234567",
     {"1", " ", "1", "2", " ", "1", "2", "3", " ", "1", "2", "3", "4", " ", "1", "2", "3", "4", "5", " ", "1", "2", "3", "4", "5", "6", " ", "1", "2", "3", "4", "5", "6", "7", NULL}},
    {"a1b22c333d4444e55555",
     {"a", "1", "b", "2", "2", "c", "3", "3", "3", "d", "4", "4", "4", "4", "e", "5", "5", "5", "5", "5", NULL}},
    {"٣٤٥ Ⅻ ½² x³",
     {"٣", "٤", "٥", " ", "Ⅻ", " ", "½", "²", " x", "³", NULL}},
    {"\t\n  \r\n",
     {"\t\n  \r\n", NULL}},
    {"trailing   ",
     {"trailing", "   ", NULL}},
    {"!!!\n\nhello!!!\n\nworld",
     {"!!!\n\n", "hello", "!!!\n\n", "world", NULL}},
    {"def f(x):\n    return x + 1\n",
     {"def", " f", "(x", "):\n", "   ", " return", " x", " +", " ", "1", "\n", NULL}},
    {"ab\xff" "cd \xc3( \xff\xfe x \xed\xa0\x80z",
     {"ab", "\xff" "cd", " \xc3(", " \xff\xfe", " x", " \xed\xa0\x80", "z", NULL}},
};

static const PatternCase digits_cases[] = {
    {"1 12 123 1234 12345 123456 1234567",
     {"1", "1", "2", "1", "2", "3", "1", "2", "3", "4", "1", "2", "3", "4", "5", "1", "2", "3", "4", "5", "6", "1", "2", "3", "4", "5", "6", "7", NULL}},
    {"a1b22c333d4444e55555",
     {"1", "2", "2", "3", "3", "3", "4", "4", "4", "4", "5", "5", "5", "5", "5", NULL}},
    {"٣٤٥ Ⅻ ½² x³",
     {"٣", "٤", "٥", "Ⅻ", "½", "²", "³", NULL}},
    {"foo.bar@example.com $100.00 & 50%",
     {"1", "0", "0", "0", "0", "5", "0", NULL}},
    {"def f(x):\n    return x + 1\n",
     {"1", NULL}},
    {"don't stop-believin' 2023!  ok\n",
     {"2", "0", "2", "3", NULL}},
};

static const PatternCase digits3_cases[] = {
    {"1 12 123 1234 12345 123456 1234567",
     {"1", "12", "123", "123", "4", "123", "45", "123", "456", "123", "456", "7", NULL}},
    {"a1b22c333d4444e55555",
     {"1", "22", "333", "444", "4", "555", "55", NULL}},
    {"٣٤٥ Ⅻ ½² x³",
     {"٣٤٥", "Ⅻ", "½²", "³", NULL}},
    {"foo.bar@example.com $100.00 & 50%",
     {"100", "00", "50", NULL}},
    {"def f(x):\n    return x + 1\n",
     {"1", NULL}},
    {"don't stop-believin' 2023!  ok\n",
     {"202", "3", NULL}},
};

static void check_pattern_cases(RtTokPattern p, const PatternCase *cases, size_t n_cases)
{
    for (size_t i = 0; i < n_cases; i++) {
        const char *text = cases[i].text;
        size_t len = strlen(text), pos = 0, start, end;
        int k = 0;
        while (rt_pattern_next(p, text, len, pos, &start, &end)) {
            const char *want = cases[i].pieces[k];
            if (!want || end - start != strlen(want) || memcmp(text + start, want, end - start) != 0)
                fail_msg("pattern %d, \"%s\": piece %d is \"%.*s\", want \"%s\"", (int)p, text, k,
                         (int)(end - start), text + start, want ? want : "(none)");
            k++;
            pos = end;
        }
        if (cases[i].pieces[k])
            fail_msg("pattern %d, \"%s\": %d pieces, want more", (int)p, text, k);
    }
}

#define CHECK_CASES(p, cases) check_pattern_cases(p, cases, sizeof cases / sizeof *cases)

static void test_pattern_gpt2(void **state)
{
    (void)state;
    CHECK_CASES(RT_PAT_GPT2, gpt2_cases);
}

static void test_pattern_llama3(void **state)
{
    (void)state;
    CHECK_CASES(RT_PAT_LLAMA3, llama3_cases);
}

static void test_pattern_qwen2(void **state)
{
    (void)state;
    CHECK_CASES(RT_PAT_QWEN2, qwen2_cases);
}

static void test_pattern_digits(void **state)
{
    (void)state;
    CHECK_CASES(RT_PAT_DIGITS, digits_cases);
    CHECK_CASES(RT_PAT_DIGITS3, digits3_cases);
}

static void test_pattern_edges(void **state)
{
    (void)state;
    size_t start = 7, end = 7;
    for (int p = RT_PAT_GPT2; p <= RT_PAT_DIGITS3; p++) {
        assert_false(rt_pattern_next((RtTokPattern)p, "", 0, 0, &start, &end));
        assert_false(rt_pattern_next((RtTokPattern)p, "ab", 2, 2, &start, &end));
    }
    assert_false(rt_pattern_next((RtTokPattern)0, "ab", 2, 0, &start, &end));
    assert_false(rt_pattern_next(RT_PAT_DIGITS, "no digits here", 14, 0, &start, &end));
    /* a search may start mid-text: "'s" there is still a contraction */
    assert_true(rt_pattern_next(RT_PAT_GPT2, "it's", 4, 2, &start, &end));
    assert_int_equal(start, 2);
    assert_int_equal(end, 4);
    assert_true(rt_pattern_next(RT_PAT_DIGITS3, "ab 12345", 8, 1, &start, &end));
    assert_int_equal(start, 3);
    assert_int_equal(end, 6);
}

/* ---- linear time on 1 MB inputs ---- */

enum { BIG = 1 << 20 };

/* Fills buf[0..BIG) by repeating unit; the last byte is set to last (if not 0). */
static void fill(char *buf, const char *unit, char last)
{
    size_t n = strlen(unit);
    for (size_t i = 0; i < BIG; i++)
        buf[i] = unit[i % n];
    if (last)
        buf[BIG - 1] = last;
}

/* Scans buf with p: pieces in order, and for the split patterns contiguous
 * from the start to the end. */
static void scan_big(RtTokPattern p, const char *buf)
{
    size_t pos = 0, start, end, prev_end = 0;
    int contiguous = p != RT_PAT_DIGITS && p != RT_PAT_DIGITS3;
    while (rt_pattern_next(p, buf, BIG, pos, &start, &end)) {
        assert_true(start >= prev_end && end > start && end <= BIG);
        if (contiguous)
            assert_int_equal(start, prev_end);
        prev_end = pos = end;
    }
    if (contiguous)
        assert_int_equal(prev_end, BIG);
}

static void test_pattern_big(void **state)
{
    (void)state;
    static const struct {
        const char *unit;
        char last;
    } kinds[] = {
        {" ", 'a'}, {" ", 0}, {"\n", 0}, {" \n", 0}, {"\t \r\n  ", 'x'}, {"a", 0}, {"7", 0},
        {"!", 0}, {" a", 0}, {"'s", 0}, {"'", 'x'}, {"\xff", 0}, {"\xe4\xb8\xad", 0},
        {"Hello, world! It's 2024.\n\n  ", 0}, {"\xc2\xa0", 'z'},
    };
    char *buf = malloc(BIG);
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
        fill(buf, kinds[k].unit, kinds[k].last);
        for (int p = RT_PAT_GPT2; p <= RT_PAT_DIGITS3; p++)
            scan_big((RtTokPattern)p, buf);
        char *out = malloc(3 * BIG);
        assert_true(rt_uc_nfc(buf, BIG, out, 3 * BIG) <= 3 * BIG);
        free(out);
    }
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_decode),
        cmocka_unit_test(test_utf8_encode),
        cmocka_unit_test(test_utf8_complete),
        cmocka_unit_test(test_categories),
        cmocka_unit_test(test_classes),
        cmocka_unit_test(test_lower),
        cmocka_unit_test(test_nfc_samples),
        cmocka_unit_test(test_nfc_edges),
        cmocka_unit_test(test_nfc_conformance),
        cmocka_unit_test(test_pattern_gpt2),
        cmocka_unit_test(test_pattern_llama3),
        cmocka_unit_test(test_pattern_qwen2),
        cmocka_unit_test(test_pattern_digits),
        cmocka_unit_test(test_pattern_edges),
        cmocka_unit_test(test_pattern_big),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
