/* rt_unicode.c: the Unicode support of the tokenizer: strict UTF-8 decoding
 * and encoding, general categories, White_Space, simple lowercase and NFC.
 * The character data lives in rt_unicode_tables.c, generated from the
 * Unicode Character Database by scripts/gen_unicode.py. Nothing allocates.
 */
#include "hetc_rt_tok.h"

/* ---- the generated tables (rt_unicode_tables.c) ---- */
extern const uint16_t rt_uc_cat_stage1[];   /* cp >> 7 -> block */
extern const uint8_t rt_uc_cat_stage2[];    /* block * 128 + (cp & 127) -> RtUcCategory */
extern const uint16_t rt_uc_ccc_stage1[];
extern const uint8_t rt_uc_ccc_stage2[];    /* canonical combining class */
extern const uint32_t rt_uc_space_ranges[]; /* White_Space [first, last] pairs */
extern const uint32_t rt_uc_n_space_ranges;
extern const uint32_t rt_uc_lower_from[], rt_uc_lower_to[];
extern const uint32_t rt_uc_n_lower;
extern const uint32_t rt_uc_decomp_cp[];    /* sorted; Hangul syllables excepted */
extern const uint16_t rt_uc_decomp_off[];   /* n_decomp + 1 offsets into decomp_data */
extern const uint32_t rt_uc_decomp_data[];
extern const uint32_t rt_uc_n_decomp;
extern const uint64_t rt_uc_comp_key[];     /* sorted first << 21 | second */
extern const uint32_t rt_uc_comp_to[];
extern const uint32_t rt_uc_n_comp;

enum {
    UC_BLOCK_SHIFT = 7, UC_BLOCK_MASK = 127,    /* the two-stage tables have blocks of 128 */
    UC_MAX = 0x10FFFF, UC_REPLACEMENT = 0xFFFD,
};

/* Hangul syllables are composed and decomposed arithmetically (Unicode 3.12). */
enum {
    HANGUL_S_BASE = 0xAC00, HANGUL_L_BASE = 0x1100, HANGUL_V_BASE = 0x1161, HANGUL_T_BASE = 0x11A7,
    HANGUL_L_COUNT = 19, HANGUL_V_COUNT = 21, HANGUL_T_COUNT = 28,
    HANGUL_N_COUNT = HANGUL_V_COUNT * HANGUL_T_COUNT,
    HANGUL_S_COUNT = HANGUL_L_COUNT * HANGUL_N_COUNT,
};

/* ---- UTF-8 ---- */

static int is_continuation(uint8_t b)
{
    return (b & 0xC0) == 0x80;
}

/* Length of the sequence that lead byte b starts (0: b leads none) and the
 * allowed range of its second byte, which rules out overlong forms,
 * surrogates and code points past U+10FFFF. */
static size_t lead_info(uint8_t b, uint8_t *lo, uint8_t *hi)
{
    *lo = 0x80;
    *hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF)
        return 2;
    if (b >= 0xE0 && b <= 0xEF) {
        if (b == 0xE0) *lo = 0xA0;
        if (b == 0xED) *hi = 0x9F;
        return 3;
    }
    if (b >= 0xF0 && b <= 0xF4) {
        if (b == 0xF0) *lo = 0x90;
        if (b == 0xF4) *hi = 0x8F;
        return 4;
    }
    return 0;
}

/* Whether s[1..n) are valid continuation bytes of the sequence led by s[0]. */
static int tail_valid(const uint8_t *s, size_t n, uint8_t lo, uint8_t hi)
{
    if (n > 1 && (s[1] < lo || s[1] > hi))
        return 0;
    for (size_t i = 2; i < n; i++)
        if (!is_continuation(s[i]))
            return 0;
    return 1;
}

/* len == 0 gives 0xFFFD with *adv = 0. */
uint32_t rt_utf8_decode(const char *s, size_t len, size_t *adv)
{
    const uint8_t *u = (const uint8_t *)s;
    uint8_t lo, hi;
    *adv = len > 0;
    if (len == 0)
        return UC_REPLACEMENT;
    if (u[0] < 0x80)
        return u[0];
    size_t n = lead_info(u[0], &lo, &hi);
    if (n == 0 || n > len || !tail_valid(u, n, lo, hi))
        return UC_REPLACEMENT;
    uint32_t cp = u[0] & (0xFF >> (n + 1));
    for (size_t i = 1; i < n; i++)
        cp = cp << 6 | (u[i] & 0x3F);
    *adv = n;
    return cp;
}

/* Surrogates and code points past U+10FFFF are written as U+FFFD. */
size_t rt_utf8_encode(uint32_t cp, char out[4])
{
    if (cp > UC_MAX || (cp >= 0xD800 && cp <= 0xDFFF))
        cp = UC_REPLACEMENT;
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Only a valid but unfinished sequence at the very end is held back: invalid
 * bytes never become valid, so they count as complete. */
size_t rt_utf8_complete(const char *s, size_t len)
{
    const uint8_t *u = (const uint8_t *)s;
    uint8_t lo, hi;
    if (len == 0)
        return 0;
    size_t lead = len - 1;
    while (lead > 0 && len - lead < 4 && is_continuation(u[lead]))
        lead--;
    size_t n = lead_info(u[lead], &lo, &hi);
    if (n > len - lead && tail_valid(u + lead, len - lead, lo, hi))
        return lead;
    return len;
}

/* ---- character properties ---- */

RtUcCategory rt_uc_category(uint32_t cp)
{
    if (cp > UC_MAX)
        return RT_UC_CN;
    size_t block = rt_uc_cat_stage1[cp >> UC_BLOCK_SHIFT];
    return (RtUcCategory)rt_uc_cat_stage2[block << UC_BLOCK_SHIFT | (cp & UC_BLOCK_MASK)];
}

int rt_uc_is_letter(uint32_t cp)
{
    RtUcCategory c = rt_uc_category(cp);
    return c >= RT_UC_LU && c <= RT_UC_LO;
}

int rt_uc_is_number(uint32_t cp)
{
    RtUcCategory c = rt_uc_category(cp);
    return c >= RT_UC_ND && c <= RT_UC_NO;
}

int rt_uc_is_space(uint32_t cp)
{
    if (cp < 0x80)
        return cp == ' ' || (cp >= '\t' && cp <= '\r');
    for (uint32_t i = 0; i < rt_uc_n_space_ranges; i++)
        if (cp >= rt_uc_space_ranges[2 * i] && cp <= rt_uc_space_ranges[2 * i + 1])
            return 1;
    return 0;
}

/* Index of key in the sorted a[0..n), or -1. */
static long find_u32(const uint32_t *a, uint32_t n, uint32_t key)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (a[mid] < key) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && a[lo] == key ? (long)lo : -1;
}

static long find_u64(const uint64_t *a, uint32_t n, uint64_t key)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (a[mid] < key) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && a[lo] == key ? (long)lo : -1;
}

uint32_t rt_uc_lower(uint32_t cp)
{
    if (cp < 0x80)
        return cp >= 'A' && cp <= 'Z' ? cp + ('a' - 'A') : cp;
    long i = find_u32(rt_uc_lower_from, rt_uc_n_lower, cp);
    return i < 0 ? cp : rt_uc_lower_to[i];
}

/* ---- normalization ---- */

static unsigned combining_class(uint32_t cp)
{
    if (cp > UC_MAX)
        return 0;
    size_t block = rt_uc_ccc_stage1[cp >> UC_BLOCK_SHIFT];
    return rt_uc_ccc_stage2[block << UC_BLOCK_SHIFT | (cp & UC_BLOCK_MASK)];
}

/* Full canonical decomposition of cp into d (at most 4 code points); returns the count. */
static size_t decompose(uint32_t cp, uint32_t d[4])
{
    if (cp >= HANGUL_S_BASE && cp < HANGUL_S_BASE + HANGUL_S_COUNT) {
        uint32_t s = cp - HANGUL_S_BASE, t = s % HANGUL_T_COUNT;
        d[0] = HANGUL_L_BASE + s / HANGUL_N_COUNT;
        d[1] = HANGUL_V_BASE + s % HANGUL_N_COUNT / HANGUL_T_COUNT;
        d[2] = HANGUL_T_BASE + t;
        return t ? 3 : 2;
    }
    long i = cp < 0x80 ? -1 : find_u32(rt_uc_decomp_cp, rt_uc_n_decomp, cp);
    if (i < 0) {
        d[0] = cp;
        return 1;
    }
    size_t n = 0;
    for (uint32_t k = rt_uc_decomp_off[i]; k < rt_uc_decomp_off[i + 1]; k++)
        d[n++] = rt_uc_decomp_data[k];
    return n;
}

/* The primary composite of a + b, or 0. No pair has an ASCII second
 * (gen_unicode.py checks that ASCII never decomposes nor composes). */
static uint32_t compose(uint32_t a, uint32_t b)
{
    if (b < 0x80)
        return 0;
    if (a >= HANGUL_L_BASE && a < HANGUL_L_BASE + HANGUL_L_COUNT &&
        b >= HANGUL_V_BASE && b < HANGUL_V_BASE + HANGUL_V_COUNT)
        return HANGUL_S_BASE + ((a - HANGUL_L_BASE) * HANGUL_V_COUNT + (b - HANGUL_V_BASE)) * HANGUL_T_COUNT;
    if (a >= HANGUL_S_BASE && a < HANGUL_S_BASE + HANGUL_S_COUNT && (a - HANGUL_S_BASE) % HANGUL_T_COUNT == 0 &&
        b > HANGUL_T_BASE && b < HANGUL_T_BASE + HANGUL_T_COUNT)
        return a + (b - HANGUL_T_BASE);
    long i = find_u64(rt_uc_comp_key, rt_uc_n_comp, (uint64_t)a << 21 | b);
    return i < 0 ? 0 : rt_uc_comp_to[i];
}

/* NFC works on one segment at a time: a starter (combining class 0)
 * followed by the non-starters after it, kept decomposed until the next
 * starter arrives. A segment of more than NFC_SEGMENT_MAX code points (a
 * run of more than 32 combining marks) is finished early: the marks past
 * that point are ordered and composed among themselves, without the
 * starter. Only contrived ("Zalgo") text has such runs; the Stream-Safe
 * Text Format of UAX #15 allows 30. */
enum { NFC_SEGMENT_MAX = 33 };

typedef struct {
    char *out;
    size_t cap, n;                      /* n: bytes of the full result so far */
    uint32_t seg[NFC_SEGMENT_MAX];
    size_t len;                         /* code points in seg */
} Nfc;

static void nfc_put_byte(Nfc *z, char b)
{
    if (z->n < z->cap)
        z->out[z->n] = b;
    z->n++;
}

static void nfc_put(Nfc *z, uint32_t cp)
{
    char buf[4];
    size_t n = rt_utf8_encode(cp, buf);
    for (size_t i = 0; i < n; i++)
        nfc_put_byte(z, buf[i]);
}

/* Canonical ordering: a stable sort of the non-starters by combining class
 * (all of the segment when it has no starter). */
static void nfc_order(Nfc *z)
{
    size_t first = z->len > 0 && combining_class(z->seg[0]) == 0;
    for (size_t i = first + 1; i < z->len; i++) {
        uint32_t cp = z->seg[i];
        unsigned cc = combining_class(cp);
        size_t j = i;
        for (; j > first && combining_class(z->seg[j - 1]) > cc; j--)
            z->seg[j] = z->seg[j - 1];
        z->seg[j] = cp;
    }
}

/* Canonical composition of the ordered segment: each mark that is not
 * blocked (no kept mark of the same or a higher class before it) and pairs
 * with the starter is folded into the starter. */
static void nfc_compose(Nfc *z)
{
    if (z->len == 0 || combining_class(z->seg[0]) != 0)
        return;
    unsigned last_cc = 0;
    size_t kept = 1;
    for (size_t i = 1; i < z->len; i++) {
        unsigned cc = combining_class(z->seg[i]);
        uint32_t c = last_cc < cc ? compose(z->seg[0], z->seg[i]) : 0;
        if (c) {
            z->seg[0] = c;
        } else {
            last_cc = cc;
            z->seg[kept++] = z->seg[i];
        }
    }
    z->len = kept;
}

/* Orders and composes the segment; done once per segment, as composing
 * again could pair a kept mark with a later composite. */
static void nfc_finish(Nfc *z)
{
    nfc_order(z);
    nfc_compose(z);
}

static void nfc_emit(Nfc *z)
{
    for (size_t i = 0; i < z->len; i++)
        nfc_put(z, z->seg[i]);
    z->len = 0;
}

/* Adds one code point of the decomposed text. A starter first finishes the
 * segment before it; if that segment composed down to its starter alone,
 * the two starters may compose too (Hangul L+V, LV+T, some Indic vowels). */
static void nfc_add(Nfc *z, uint32_t cp)
{
    if (combining_class(cp) != 0) {
        if (z->len == NFC_SEGMENT_MAX) {
            nfc_finish(z);
            nfc_emit(z);
        }
        z->seg[z->len++] = cp;
        return;
    }
    nfc_finish(z);
    if (z->len == 1 && combining_class(z->seg[0]) == 0) {
        uint32_t c = compose(z->seg[0], cp);
        if (c) {
            z->seg[0] = c;
            return;
        }
    }
    nfc_emit(z);
    z->seg[z->len++] = cp;
}

/* Invalid UTF-8 bytes are copied through; they end the segment before them. */
size_t rt_uc_nfc(const char *s, size_t len, char *out, size_t cap)
{
    Nfc z = { .out = out, .cap = cap };
    size_t i = 0;
    while (i < len) {
        size_t adv;
        uint32_t cp = rt_utf8_decode(s + i, len - i, &adv);
        if (cp == UC_REPLACEMENT && adv == 1) {
            nfc_finish(&z);
            nfc_emit(&z);
            nfc_put_byte(&z, s[i]);
        } else {
            uint32_t d[4];
            size_t n = decompose(cp, d);
            for (size_t k = 0; k < n; k++)
                nfc_add(&z, d[k]);
        }
        i += adv;
    }
    nfc_finish(&z);
    nfc_emit(&z);
    return z.n;
}
