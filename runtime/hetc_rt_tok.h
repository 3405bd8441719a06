/* hetc_rt_tok.h: the tokenizer part of the runtime ABI: the tokenizer.bin
 * format the compiler writes and the runtime maps, the tokenizer calls,
 * Unicode categories and the pre-tokenizer patterns. Part of the versioned
 * ABI of hetc_rt.h (HETC_RT_ABI_VERSION covers it); the generated model.c
 * does not need it, the driver (rt_cli.c) and the compiler do.
 */
#ifndef HETC_RT_TOK_H
#define HETC_RT_TOK_H

#include "hetc_rt.h"

/* ---- tokenizer (rt_tokenizer.c): tokenizer.bin ----
 * The compiler turns tokenizer.json or GGUF tokenizer metadata into this
 * compact, position-independent file; the runtime maps it and never parses
 * JSON. All integers little-endian; offsets from the file start; every
 * section 8-byte aligned.
 *
 * Token strings are stored as the raw bytes they stand for: byte-level
 * vocabularies ("Ġhello") are converted back to bytes (" hello") by the
 * compiler, so byte-level pre-tokenizer and decoder steps are identities at
 * run time. SentencePiece-style strings keep their U+2581.
 *
 *   [RtTokHeader]
 *   [RtTokEntry x n_tokens]            by id
 *   [uint32 x str_hash_cap]            string -> id+1 (0 empty), open addressing
 *   [RtTokMerge x merge_hash_cap]      (left,right) pair -> rank, result; left == UINT32_MAX empty
 *   [RtTokAdded x n_added]             added tokens, longest content first
 *   [RtTokOp x n_ops]                  normalizers, then pre-tokenizers, then decoders
 *   [string pool]                      token strings and op strings, as (offset,len)
 *
 * Hashes: rt_tok_hash_str (FNV-1a 32 over the bytes) and rt_tok_hash_pair
 * (below); probing is linear; capacities are powers of two, at least 2x the
 * entries. */
#define RT_TOK_MAGIC "HETCTOK1"
#define RT_TOK_VERSION 1

typedef enum {
    RT_TOK_BPE = 1,     /* merges by rank (Hugging Face BPE, GGUF gpt2) */
    RT_TOK_SPM = 2,     /* merges by score, SentencePiece style (GGUF llama) */
} RtTokModel;

enum {                  /* RtTokHeader.flags */
    RT_TOK_BYTE_LEVEL = 1 << 0,     /* initial symbols are bytes, not UTF-8 characters */
    RT_TOK_BYTE_FALLBACK = 1 << 1,  /* unknown characters become <0xXX> tokens */
    RT_TOK_FUSE_UNK = 1 << 2,       /* consecutive unknowns become one unk */
    RT_TOK_IGNORE_MERGES = 1 << 3,  /* a pre-token that is a whole token skips merging */
};

enum {                  /* RtTokAdded.flags, RtTokEntry.flags */
    RT_TOK_SPECIAL = 1 << 0,        /* skipped by decode(skip_special); parsed only with parse_special */
    RT_TOK_LSTRIP = 1 << 1,         /* match eats whitespace on its left */
    RT_TOK_RSTRIP = 1 << 2,         /* ... and on its right */
    RT_TOK_SINGLE_WORD = 1 << 3,    /* only matches between word boundaries */
    RT_TOK_NORMALIZED = 1 << 4,     /* matched in normalized text (else in the raw text) */
    RT_TOK_CONTROL = 1 << 5,        /* GGUF control token: decodes to nothing */
    RT_TOK_BYTE = 1 << 6,           /* a <0xXX> byte token; value in RtTokEntry.byte */
    RT_TOK_UNUSED = 1 << 7,         /* GGUF unused slot: never produced by encode */
};

typedef enum {                      /* RtTokOp.kind */
    /* normalizers, applied in order to each piece of text between added tokens */
    RT_TN_PREPEND = 1,      /* s1 before the text (if the text is not empty) */
    RT_TN_REPLACE,          /* every s1 -> s2 (literal strings) */
    RT_TN_NFC,              /* Unicode canonical composition */
    RT_TN_LOWERCASE,
    RT_TN_STRIP,            /* a: strip left whitespace, b: strip right */
    /* pre-tokenizers: split the normalized text into pieces */
    RT_TP_METASPACE = 32,   /* s1 replacement (U+2581); a: prepend scheme (RtTokPrepend); b: split */
    RT_TP_BYTE_LEVEL,       /* a: add_prefix_space; b: use the GPT-2 regex */
    RT_TP_SPLIT,            /* a: RtTokPattern; b: RtTokBehavior; c: invert */
    RT_TP_DIGITS,           /* a: individual digits */
    RT_TP_WHITESPACE_SPLIT, /* split on whitespace, drop it */
    /* decoders: applied to the token strings of decode() */
    RT_TD_REPLACE = 64,     /* every s1 -> s2 */
    RT_TD_BYTE_FALLBACK,    /* <0xXX> tokens -> bytes */
    RT_TD_FUSE,             /* join (a no-op on byte strings, kept for fidelity) */
    RT_TD_STRIP,            /* s1: the character; a: count from the start; b: from the end */
    RT_TD_BYTE_LEVEL,       /* identity: strings are stored as bytes */
    RT_TD_METASPACE,        /* s1 replacement -> ' '; a: prepend scheme (drop leading space of the first token) */
} RtTokOpKind;

typedef enum { RT_PREPEND_NEVER = 0, RT_PREPEND_FIRST = 1, RT_PREPEND_ALWAYS = 2 } RtTokPrepend;
typedef enum {
    RT_SPLIT_REMOVED = 0, RT_SPLIT_ISOLATED, RT_SPLIT_MERGED_PREVIOUS, RT_SPLIT_MERGED_NEXT, RT_SPLIT_CONTIGUOUS
} RtTokBehavior;
typedef enum {
    RT_PAT_GPT2 = 1,        /* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
    RT_PAT_LLAMA3,          /* (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
    RT_PAT_QWEN2,           /* as LLAMA3 with \p{N} instead of \p{N}{1,3} */
    RT_PAT_DIGITS,          /* \p{N} (one digit per match) */
    RT_PAT_DIGITS3,         /* \p{N}{1,3} */
    /* llama.cpp's splits for GGUF pre-tokenizers falcon, deepseek-llm and
     * deepseek-coder (rt_pretok.c says how its regex engines read them) */
    RT_PAT_PUNCT_SYMBOLS,   /* [\p{P}\$\+<=>\^~\|`]+ */
    RT_PAT_ASCII_DIGITS3,   /* [0-9][0-9][0-9] */
    RT_PAT_NEWLINE,         /* [\r\n] */
    RT_PAT_SPACE_LETTERS,   /* \s?\p{L}+ */
    RT_PAT_SPACE_PUNCT,     /* \s?\p{P}+ */
    RT_PAT_CJK,             /* [一-龥ࠀ-一가-퟿]+: U+0800..U+9FA5, U+AC00..U+D7FF */
    RT_PAT_NUMBERS,         /* \p{N}+ */
    RT_PAT_SPACE_CASED,     /* \s?[A-Za-zµÀ-ÖØ-öø-ƺ...]+: DeepSeek LLM's cased letters */
    RT_PAT_SPACE_ASCII_PUNCT, /* \s?[!-/:-~！-／：-～‘-‟　-。]+ */
    RT_PAT_TRAILING_SPACE,  /* \s+$ */
    RT_PAT_LAST = RT_PAT_TRAILING_SPACE,
} RtTokPattern;

typedef enum { RT_CHAT_NONE = 0, RT_CHAT_CHATML, RT_CHAT_LLAMA2, RT_CHAT_LLAMA3 } RtChatFormat;

typedef struct {
    char magic[8];          /* RT_TOK_MAGIC */
    uint32_t version;       /* RT_TOK_VERSION */
    uint32_t model;         /* RtTokModel */
    uint32_t flags;         /* RT_TOK_BYTE_LEVEL ... */
    uint32_t n_tokens;
    int32_t unk_id;         /* -1: none */
    int32_t bos_id, eos_id, pad_id; /* -1: none */
    uint32_t n_prefix, n_suffix;    /* post-processor: ids added before/after the text */
    int32_t prefix[4], suffix[4];
    uint32_t n_eos;                 /* ids that end generation */
    int32_t eos[8];
    uint32_t chat_format;           /* RtChatFormat */
    uint32_t n_added;
    uint32_t n_norm, n_pretok, n_dec;   /* op counts; ops stored in this order */
    uint32_t str_hash_cap, merge_hash_cap;
    uint64_t tokens_off, str_hash_off, merge_hash_off, added_off, ops_off, pool_off, pool_bytes;
    uint64_t file_bytes;
} RtTokHeader;

typedef struct {
    uint32_t off, len;      /* token bytes in the pool */
    float score;            /* SPM merge priority (higher first); 0 for BPE */
    uint16_t flags;         /* RT_TOK_SPECIAL, RT_TOK_CONTROL, RT_TOK_BYTE, RT_TOK_UNUSED */
    uint16_t byte;          /* value of a byte token */
} RtTokEntry;

typedef struct {
    uint32_t left, right;   /* token ids; left == UINT32_MAX: empty slot */
    uint32_t rank;          /* lower merges first */
    uint32_t result;        /* id of left+right */
} RtTokMerge;

typedef struct {
    uint32_t id;
    uint32_t flags;         /* RT_TOK_SPECIAL, LSTRIP, RSTRIP, SINGLE_WORD, NORMALIZED */
} RtTokAdded;

typedef struct {
    uint32_t kind;          /* RtTokOpKind */
    int32_t a, b, c;
    uint32_t s1_off, s1_len, s2_off, s2_len;    /* strings in the pool */
} RtTokOp;

static inline uint32_t rt_tok_hash_str(const void *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ ((const uint8_t *)s)[i]) * 16777619u;
    return h;
}

static inline uint32_t rt_tok_hash_pair(uint32_t left, uint32_t right)
{
    uint64_t k = ((uint64_t)left << 32 | right) * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(k >> 32);
}

typedef struct RtTokenizer RtTokenizer;
/* Maps tokenizer.bin / uses a caller-owned buffer; validates every offset. */
RtStatus rt_tok_open(RtTokenizer **t, const char *path);
RtStatus rt_tok_open_mem(RtTokenizer **t, const void *data, size_t bytes);
void rt_tok_close(RtTokenizer *t);
const RtTokHeader *rt_tok_header(const RtTokenizer *t);
/* Encodes len bytes of text. add_special: the post-processor's prefix and
 * suffix ids; parse_special: special added tokens in the text become their
 * ids (non-special added tokens always do). Writes at most cap ids and sets
 * *n to the full count (RT_ERR_ARG if it exceeds cap). RT_ERR_FORMAT when
 * the file's normalizers and pre-tokenizers grow the text past 16 times
 * its length plus 64 kB. */
RtStatus rt_tok_encode(const RtTokenizer *t, const char *text, size_t len, int add_special, int parse_special,
                       int32_t *ids, size_t cap, size_t *n);
/* Decodes ids like Hugging Face decode(): decoders applied over the whole
 * sequence; skip_special drops special tokens. Writes at most cap bytes
 * (no NUL) and returns the full length; 0 with rt_last_error() set when
 * out of memory or the decoders grow the text past 16 times its length
 * plus 64 kB. */
size_t rt_tok_decode(const RtTokenizer *t, const int32_t *ids, size_t n, int skip_special, char *out, size_t cap);
int rt_tok_is_eos(const RtTokenizer *t, int32_t id);

/* ---- Unicode (rt_unicode.c; tables in rt_unicode_tables.c, generated from
 * Debian's unicode-data by scripts/gen_unicode.py) ---- */
typedef enum {          /* general categories */
    RT_UC_CN = 0, RT_UC_LU, RT_UC_LL, RT_UC_LT, RT_UC_LM, RT_UC_LO, RT_UC_MN, RT_UC_MC, RT_UC_ME,
    RT_UC_ND, RT_UC_NL, RT_UC_NO, RT_UC_PC, RT_UC_PD, RT_UC_PS, RT_UC_PE, RT_UC_PI, RT_UC_PF, RT_UC_PO,
    RT_UC_SM, RT_UC_SC, RT_UC_SK, RT_UC_SO, RT_UC_ZS, RT_UC_ZL, RT_UC_ZP, RT_UC_CC, RT_UC_CF, RT_UC_CS,
    RT_UC_CO,
} RtUcCategory;
/* Decodes one code point at s (len bytes left); sets *adv to the bytes used.
 * Invalid or truncated sequences give 0xFFFD with *adv = 1. */
uint32_t rt_utf8_decode(const char *s, size_t len, size_t *adv);
size_t rt_utf8_encode(uint32_t cp, char out[4]);
/* Length of the longest prefix of s[0..len) that is complete UTF-8 (for streaming). */
size_t rt_utf8_complete(const char *s, size_t len);
RtUcCategory rt_uc_category(uint32_t cp);
int rt_uc_is_letter(uint32_t cp);       /* \p{L} */
int rt_uc_is_number(uint32_t cp);       /* \p{N} */
int rt_uc_is_space(uint32_t cp);        /* \s: the White_Space property */
uint32_t rt_uc_lower(uint32_t cp);      /* simple lowercase mapping */
/* NFC of s[0..len) into out (cap bytes); returns the full length needed. */
size_t rt_uc_nfc(const char *s, size_t len, char *out, size_t cap);

/* ---- pre-tokenizer patterns (rt_pretok.c) ----
 * Finds the next match of pattern p in s[0..len) at or after pos, with the
 * leftmost-first semantics of the regex it stands for. Returns 1 and sets
 * [*start, *end) or returns 0 when there is none. */
int rt_pattern_next(RtTokPattern p, const char *s, size_t len, size_t pos, size_t *start, size_t *end);

#endif
