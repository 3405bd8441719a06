/* fe_tokenizer.c: Hugging Face tokenizers (tokenizer.json) to tokenizer.bin.
 *
 * Reads DIR/tokenizer.json with json-c: a BPE model (vocab, merges in either
 * spelling, byte fallback, unk, fuse_unk, ignore_merges), the normalizer,
 * pre-tokenizer and decoder steps hetc's runtime implements, the template
 * post-processor and the added tokens. tokenizer_config.json adds the
 * special tokens, add_bos_token/add_eos_token and the chat template;
 * generation_config.json (or config.json) the ids that end generation.
 * Anything else is an error naming the file and the JSON path.
 *
 * Byte-level vocabularies (a ByteLevel pre-tokenizer or decoder) spell bytes
 * in GPT-2's alphabet ("Ġthe"); their strings are stored as the bytes they
 * stand for (" the"). Added tokens are plain text and stay as they are.
 */
#include "fe.h"

#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    JPATH_LEN = 256,            /* a JSON path quoted in messages */
    SHOWN_LEN = 160,            /* bytes of a pattern or token quoted in messages */
    MAX_PREFIX = 4,             /* RtTokHeader.prefix / suffix */
    MAX_EOS = 8,                /* RtTokHeader.eos */
};

#define METASPACE "\xE2\x96\x81"    /* U+2581, SentencePiece's space */

/* Split patterns hetc's runtime knows, as tokenizer.json spells them. */
static const struct {
    const char *regex;
    RtTokPattern pattern;
} known_patterns[] = {
    {"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+", RT_PAT_GPT2},
    {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
     "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+", RT_PAT_LLAMA3},
    {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
     "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+", RT_PAT_QWEN2},
    {"\\p{N}", RT_PAT_DIGITS},
    {"\\p{N}{1,3}", RT_PAT_DIGITS3},
};

static const char *const behaviors[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"};

/* A JSON path, for messages: "pre_tokenizer.pretokenizers[0].pattern". */
typedef struct {
    char s[JPATH_LEN];
} JPath;

/* One tokenizer being read. */
typedef struct {
    char dir[FE_PATH_LEN];
    char path[FE_PATH_LEN + 32];    /* DIR/tokenizer.json, for messages */
    json_object *root;              /* tokenizer.json */
    json_object *model;             /* root.model */
    json_object *vocab;             /* model.vocab: string -> id */
    json_object *added;             /* root.added_tokens (array) or NULL */
    json_object *config;            /* tokenizer_config.json or NULL */
    FeTokBuilder *b;
    uint32_t n_tokens;
    int byte_level;                 /* a ByteLevel step was seen */
    int byte_fallback;
    int has_template;               /* a TemplateProcessing was seen */
    char *err;
    size_t errlen;
} Hf;

/* An error at JSON path at of file (tokenizer.json when file is NULL);
 * control characters from the file's strings become '?', so that the
 * message stays one line. */
static int fail_in(Hf *h, const char *file, const char *at, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fe_set_err(h->err, h->errlen, "%s: key '%s': %s", file ? file : h->path, at, msg);
    for (char *c = h->err; h->err && *c; c++)
        if ((unsigned char)*c < 0x20) *c = '?';
    return -1;
}

static int fail(Hf *h, const JPath *at, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return fail_in(h, NULL, at->s, "%s", msg);
}

/* s for a message: at most SHOWN_LEN bytes of it, then "..." if cut. */
static const char *shown(const char *s, char out[SHOWN_LEN + 4])
{
    size_t n = strlen(s);
    size_t k = n < SHOWN_LEN ? n : SHOWN_LEN;
    memcpy(out, s, k);
    strcpy(out + k, n > k ? "..." : "");
    return out;
}

/* A path from a format, cut to JPATH_LEN. */
static JPath jp_make(const char *fmt, ...)
{
    JPath r;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r.s, sizeof r.s, fmt, ap);
    va_end(ap);
    return r;
}

static JPath jp_key(const JPath *p, const char *key)
{
    return jp_make("%s%s%s", p->s, p->s[0] ? "." : "", key);
}

static JPath jp_idx(const JPath *p, size_t i)
{
    return jp_make("%s[%zu]", p->s, i);
}

static JPath jp_root(const char *key)
{
    return jp_make("%s", key);
}

static const char *type_name(json_object *o)
{
    switch (json_object_get_type(o)) {
    case json_type_boolean: return "a boolean";
    case json_type_double: return "a float";
    case json_type_int: return "an integer";
    case json_type_object: return "an object";
    case json_type_array: return "an array";
    case json_type_string: return "a string";
    default: return "null";
    }
}

/* ---- JSON files ---- */

/* Parses the JSON object in path. *out is NULL (and 0 returned) when the
 * file is missing and optional. */
static int load_json(const char *path, int required, json_object **out, char *err, size_t errlen)
{
    *out = NULL;
    size_t len = 0;
    char *text = fe_read_file(path, &len, err, errlen);
    if (!text) return required ? -1 : 0;
    json_tokener *tok = json_tokener_new();
    json_object *root = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (!root && (jerr == json_tokener_continue || jerr == json_tokener_success)) jerr = json_tokener_error_parse_eof;
    while (root && end < len && strchr(" \t\r\n", text[end])) end++;
    int bad = !root || end < len || !json_object_is_type(root, json_type_object);
    if (bad) {
        const char *what = !root ? json_tokener_error_desc(jerr) : end < len ? "trailing data" : "not an object";
        fe_set_err(err, errlen, "%s: JSON: %s at line %d", path, what, fe_line_of(text, end < len ? end : len));
        json_object_put(root);
        root = NULL;
    }
    free(text);
    *out = root;
    return bad ? -1 : 0;
}

/* ---- typed members: 1 present, 0 absent or null, -1 wrong type ---- */

static json_object *member(json_object *o, const char *key)
{
    json_object *v = NULL;
    if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v)) return NULL;
    return v;
}

static const char *json_type_text(json_type t)
{
    switch (t) {
    case json_type_boolean: return "a boolean";
    case json_type_int: return "an integer";
    case json_type_object: return "an object";
    case json_type_array: return "an array";
    case json_type_string: return "a string";
    default: return "a value";
    }
}

static int member_typed(Hf *h, json_object *o, const JPath *at, const char *key, json_type t, json_object **v)
{
    *v = member(o, key);
    if (!*v) return 0;
    if (json_object_is_type(*v, t)) return 1;
    JPath p = jp_key(at, key);
    return fail(h, &p, "expected %s, got %s", json_type_text(t), type_name(*v));
}

static int member_str(Hf *h, json_object *o, const JPath *at, const char *key, const char **v)
{
    json_object *j;
    int rc = member_typed(h, o, at, key, json_type_string, &j);
    if (rc == 1) *v = json_object_get_string(j);
    return rc;
}

static int member_bool(Hf *h, json_object *o, const JPath *at, const char *key, int *v)
{
    json_object *j;
    int rc = member_typed(h, o, at, key, json_type_boolean, &j);
    if (rc == 1) *v = json_object_get_boolean(j);
    return rc;
}

static int member_int(Hf *h, json_object *o, const JPath *at, const char *key, int64_t *v)
{
    json_object *j;
    int rc = member_typed(h, o, at, key, json_type_int, &j);
    if (rc == 1) *v = json_object_get_int64(j);
    return rc;
}

static int member_array(Hf *h, json_object *o, const JPath *at, const char *key, json_object **v)
{
    return member_typed(h, o, at, key, json_type_array, v);
}

static int required_str(Hf *h, json_object *o, const JPath *at, const char *key, const char **v)
{
    int rc = member_str(h, o, at, key, v);
    if (rc == 0) {
        JPath p = jp_key(at, key);
        return fail(h, &p, "missing");
    }
    return rc < 0 ? -1 : 0;
}

/* ---- token ids ---- */

/* The id of the token whose content is s: added tokens first, then the
 * model's vocabulary (as Hugging Face's token_to_id); -1 if none. */
static int64_t token_id(const Hf *h, const char *s)
{
    size_t n = h->added ? json_object_array_length(h->added) : 0;
    for (size_t i = 0; i < n; i++) {
        json_object *t = json_object_array_get_idx(h->added, i);
        json_object *content = member(t, "content"), *id = member(t, "id");
        if (json_object_is_type(content, json_type_string) && strcmp(json_object_get_string(content), s) == 0
            && json_object_is_type(id, json_type_int))
            return json_object_get_int64(id);
    }
    json_object *id = member(h->vocab, s);
    return json_object_is_type(id, json_type_int) ? json_object_get_int64(id) : -1;
}

static int check_id(Hf *h, const JPath *at, int64_t id)
{
    if (id >= 0 && id < h->n_tokens) return 0;
    return fail(h, at, "id %lld is out of range (%u tokens)", (long long)id, h->n_tokens);
}

/* ---- normalizers ---- */

/* A regex that only matches one literal string: the string (malloc'd), or
 * NULL. Punctuation may be escaped ("\\."); any other escape or an
 * unescaped metacharacter makes it a real regex. */
static char *regex_literal(const char *re)
{
    char *out = malloc(strlen(re) + 1);
    size_t n = 0;
    for (const char *p = re; *p; p++) {
        if (*p == '\\' && p[1] && !isalnum((unsigned char)p[1])) {
            p++;
        } else if (*p == '\\' || strchr(".^$|?*+()[]{}", *p)) {
            free(out);
            return NULL;
        }
        out[n++] = *p;
    }
    out[n] = 0;
    return out;
}

/* The literal of a Replace step's pattern ({"String": s}, or a {"Regex": r}
 * that is a plain literal), malloc'd. */
static int replace_pattern(Hf *h, json_object *o, const JPath *at, char **lit)
{
    JPath p = jp_key(at, "pattern");
    json_object *pat = member(o, "pattern");
    const char *s;
    char buf[SHOWN_LEN + 4];
    if (!json_object_is_type(pat, json_type_object)) return fail(h, &p, "expected an object, got %s", type_name(pat));
    int rc = member_str(h, pat, &p, "String", &s);
    if (rc < 0) return -1;
    if (rc == 1) {
        *lit = strdup(s);
        return 0;
    }
    if (member_str(h, pat, &p, "Regex", &s) != 1) return fail(h, &p, "expected {\"String\": ...} or {\"Regex\": ...}");
    *lit = regex_literal(s);
    if (*lit && **lit) return 0;
    free(*lit);
    JPath r = jp_key(&p, "Regex");
    return fail(h, &r, "unsupported pattern '%s'; hetc replaces literal strings only", shown(s, buf));
}

/* A Replace step (normalizer or decoder kind). */
static int add_replace(Hf *h, json_object *o, const JPath *at, RtTokOpKind kind)
{
    char *from;
    const char *to;
    if (replace_pattern(h, o, at, &from)) return -1;
    int rc = required_str(h, o, at, "content", &to);
    if (rc == 0) fe_tokb_op(h->b, kind, 0, 0, 0, from, to);
    free(from);
    return rc;
}

/* Calls add(child) for each element of the array o[key]. */
static int each(Hf *h, json_object *o, const JPath *at, const char *key,
                int (*add)(Hf *, json_object *, const JPath *))
{
    json_object *list;
    JPath p = jp_key(at, key);
    if (member_array(h, o, at, key, &list) != 1) return member(o, key) ? -1 : fail(h, &p, "missing");
    for (size_t i = 0; i < json_object_array_length(list); i++) {
        JPath c = jp_idx(&p, i);
        if (add(h, json_object_array_get_idx(list, i), &c)) return -1;
    }
    return 0;
}

static int add_normalizer(Hf *h, json_object *o, const JPath *at)
{
    const char *type, *s;
    int left = 0, right = 0;
    if (!o) return 0;
    if (required_str(h, o, at, "type", &type)) return -1;
    if (strcmp(type, "Sequence") == 0) return each(h, o, at, "normalizers", add_normalizer);
    if (strcmp(type, "Replace") == 0) return add_replace(h, o, at, RT_TN_REPLACE);
    if (strcmp(type, "NFC") == 0) {
        fe_tokb_op(h->b, RT_TN_NFC, 0, 0, 0, NULL, NULL);
    } else if (strcmp(type, "Lowercase") == 0) {
        fe_tokb_op(h->b, RT_TN_LOWERCASE, 0, 0, 0, NULL, NULL);
    } else if (strcmp(type, "Prepend") == 0) {
        if (required_str(h, o, at, "prepend", &s)) return -1;
        fe_tokb_op(h->b, RT_TN_PREPEND, 0, 0, 0, s, NULL);
    } else if (strcmp(type, "Strip") == 0) {
        if (member_bool(h, o, at, "strip_left", &left) < 0 || member_bool(h, o, at, "strip_right", &right) < 0)
            return -1;
        fe_tokb_op(h->b, RT_TN_STRIP, left, right, 0, NULL, NULL);
    } else {
        JPath p = jp_key(at, "type");
        return fail(h, &p, "unsupported normalizer '%s'; hetc knows Sequence, Prepend, Replace, NFC, Lowercase "
                    "and Strip", type);
    }
    return 0;
}

/* ---- pre-tokenizers ---- */

/* Metaspace's prepend scheme: prepend_scheme, or the older add_prefix_space. */
static int prepend_scheme(Hf *h, json_object *o, const JPath *at, int *scheme)
{
    const char *s = NULL;
    int add = 1;
    int rc = member_str(h, o, at, "prepend_scheme", &s);
    if (rc < 0) return -1;
    if (rc == 0) {
        if (member_bool(h, o, at, "add_prefix_space", &add) < 0) return -1;
        *scheme = add ? RT_PREPEND_ALWAYS : RT_PREPEND_NEVER;
        return 0;
    }
    static const char *const names[] = {"never", "first", "always"};
    for (int i = 0; i < 3; i++)
        if (strcmp(s, names[i]) == 0) {
            *scheme = i;
            return 0;
        }
    JPath p = jp_key(at, "prepend_scheme");
    return fail(h, &p, "unknown scheme '%s' (first, always or never)", s);
}

static int add_metaspace(Hf *h, json_object *o, const JPath *at, RtTokOpKind kind)
{
    const char *replacement = METASPACE;
    int scheme, split = 1;
    if (member_str(h, o, at, "replacement", &replacement) < 0 || prepend_scheme(h, o, at, &scheme)
        || member_bool(h, o, at, "split", &split) < 0)
        return -1;
    fe_tokb_op(h->b, kind, scheme, kind == RT_TP_METASPACE ? split : 0, 0, replacement, NULL);
    return 0;
}

static int split_pattern(Hf *h, json_object *o, const JPath *at, RtTokPattern *pattern)
{
    JPath p = jp_key(at, "pattern");
    json_object *pat = member(o, "pattern");
    const char *re;
    char buf[SHOWN_LEN + 4];
    if (!json_object_is_type(pat, json_type_object)) return fail(h, &p, "expected an object, got %s", type_name(pat));
    if (member(pat, "String")) {
        JPath s = jp_key(&p, "String");
        return fail(h, &s, "unsupported: hetc splits on the GPT-2, Llama 3 and Qwen2 patterns, \\p{N} and "
                    "\\p{N}{1,3} only");
    }
    if (member_str(h, pat, &p, "Regex", &re) != 1) return fail(h, &p, "expected {\"Regex\": ...}");
    for (size_t i = 0; i < sizeof known_patterns / sizeof known_patterns[0]; i++)
        if (strcmp(re, known_patterns[i].regex) == 0) {
            *pattern = known_patterns[i].pattern;
            return 0;
        }
    JPath r = jp_key(&p, "Regex");
    return fail(h, &r, "unsupported pattern '%s'; hetc knows the GPT-2, Llama 3 and Qwen2 patterns, \\p{N} and "
                "\\p{N}{1,3}", shown(re, buf));
}

static int add_split(Hf *h, json_object *o, const JPath *at)
{
    RtTokPattern pattern = RT_PAT_GPT2;
    const char *behavior;
    int invert = 0;
    if (split_pattern(h, o, at, &pattern) || required_str(h, o, at, "behavior", &behavior)
        || member_bool(h, o, at, "invert", &invert) < 0)
        return -1;
    for (int i = 0; i < (int)(sizeof behaviors / sizeof behaviors[0]); i++)
        if (strcmp(behavior, behaviors[i]) == 0) {
            fe_tokb_op(h->b, RT_TP_SPLIT, (int32_t)pattern, i, invert, NULL, NULL);
            return 0;
        }
    JPath p = jp_key(at, "behavior");
    return fail(h, &p, "unknown behavior '%s'", behavior);
}

static int add_pretokenizer(Hf *h, json_object *o, const JPath *at)
{
    const char *type;
    int prefix = 1, regex = 1, individual = 0;
    if (!o) return 0;
    if (required_str(h, o, at, "type", &type)) return -1;
    if (strcmp(type, "Sequence") == 0) return each(h, o, at, "pretokenizers", add_pretokenizer);
    if (strcmp(type, "Metaspace") == 0) return add_metaspace(h, o, at, RT_TP_METASPACE);
    if (strcmp(type, "Split") == 0) return add_split(h, o, at);
    if (strcmp(type, "ByteLevel") == 0) {
        if (member_bool(h, o, at, "add_prefix_space", &prefix) < 0 || member_bool(h, o, at, "use_regex", &regex) < 0)
            return -1;
        fe_tokb_op(h->b, RT_TP_BYTE_LEVEL, prefix, regex, 0, NULL, NULL);
        h->byte_level = 1;
    } else if (strcmp(type, "Digits") == 0) {
        if (member_bool(h, o, at, "individual_digits", &individual) < 0) return -1;
        fe_tokb_op(h->b, RT_TP_DIGITS, individual, 0, 0, NULL, NULL);
    } else if (strcmp(type, "WhitespaceSplit") == 0) {
        fe_tokb_op(h->b, RT_TP_WHITESPACE_SPLIT, 0, 0, 0, NULL, NULL);
    } else {
        JPath p = jp_key(at, "type");
        return fail(h, &p, "unsupported pre-tokenizer '%s'; hetc knows Sequence, Metaspace, ByteLevel, Split, "
                    "Digits and WhitespaceSplit", type);
    }
    return 0;
}

/* ---- decoders ---- */

static int add_strip_decoder(Hf *h, json_object *o, const JPath *at)
{
    const char *content;
    int64_t start = 0, stop = 0;
    if (required_str(h, o, at, "content", &content) || member_int(h, o, at, "start", &start) < 0
        || member_int(h, o, at, "stop", &stop) < 0)
        return -1;
    if (start < 0 || stop < 0 || start > INT32_MAX || stop > INT32_MAX) {
        JPath p = jp_key(at, start < 0 || start > INT32_MAX ? "start" : "stop");
        return fail(h, &p, "count out of range");
    }
    fe_tokb_op(h->b, RT_TD_STRIP, (int32_t)start, (int32_t)stop, 0, content, NULL);
    return 0;
}

static int add_decoder(Hf *h, json_object *o, const JPath *at)
{
    const char *type;
    if (!o) return 0;
    if (required_str(h, o, at, "type", &type)) return -1;
    if (strcmp(type, "Sequence") == 0) return each(h, o, at, "decoders", add_decoder);
    if (strcmp(type, "Replace") == 0) return add_replace(h, o, at, RT_TD_REPLACE);
    if (strcmp(type, "Strip") == 0) return add_strip_decoder(h, o, at);
    if (strcmp(type, "Metaspace") == 0) return add_metaspace(h, o, at, RT_TD_METASPACE);
    if (strcmp(type, "ByteFallback") == 0) {
        fe_tokb_op(h->b, RT_TD_BYTE_FALLBACK, 0, 0, 0, NULL, NULL);
    } else if (strcmp(type, "Fuse") == 0) {
        fe_tokb_op(h->b, RT_TD_FUSE, 0, 0, 0, NULL, NULL);
    } else if (strcmp(type, "ByteLevel") == 0) {
        fe_tokb_op(h->b, RT_TD_BYTE_LEVEL, 0, 0, 0, NULL, NULL);
        h->byte_level = 1;
    } else {
        JPath p = jp_key(at, "type");
        return fail(h, &p, "unsupported decoder '%s'; hetc knows Sequence, Replace, ByteFallback, Fuse, Strip, "
                    "ByteLevel and Metaspace", type);
    }
    return 0;
}

static int add_steps(Hf *h)
{
    JPath norm = jp_root("normalizer"), pre = jp_root("pre_tokenizer"), dec = jp_root("decoder");
    return add_normalizer(h, member(h->root, "normalizer"), &norm)
           || add_pretokenizer(h, member(h->root, "pre_tokenizer"), &pre)
           || add_decoder(h, member(h->root, "decoder"), &dec);
}

/* ---- the model ---- */

static int check_model(Hf *h)
{
    JPath at = jp_root("model");
    const char *type, *affix;
    if (!json_object_is_type(h->model, json_type_object))
        return fail(h, &at, "expected an object, got %s", type_name(h->model));
    if (required_str(h, h->model, &at, "type", &type)) return -1;
    if (strcmp(type, "BPE") != 0) {
        JPath p = jp_key(&at, "type");
        return fail(h, &p, "unsupported model '%s'; hetc supports BPE", type);
    }
    static const char *const affixes[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        int rc = member_str(h, h->model, &at, affixes[i], &affix);
        JPath p = jp_key(&at, affixes[i]);
        if (rc < 0) return -1;
        if (rc == 1 && affix[0]) return fail(h, &p, "'%s' is not supported (only null or \"\")", affix);
    }
    json_object *dropout = member(h->model, "dropout");
    if (dropout && json_object_get_double(dropout) != 0.0) {
        JPath p = jp_key(&at, "dropout");
        return fail(h, &p, "BPE dropout is not supported");
    }
    json_object *vocab;
    if (member_typed(h, h->model, &at, "vocab", json_type_object, &vocab) != 1)
        return vocab ? -1 : fail(h, &at, "no vocab");
    h->vocab = vocab;
    return 0;
}

/* Counts the ids: the largest of the vocabulary and the added tokens, + 1. */
static int count_tokens(Hf *h)
{
    JPath vocab = jp_root("model.vocab"), added = jp_root("added_tokens");
    int64_t top = -1;
    json_object_object_foreach(h->vocab, key, val) {
        JPath p = jp_key(&vocab, key);
        if (!json_object_is_type(val, json_type_int)) return fail(h, &p, "expected an integer, got %s", type_name(val));
        int64_t id = json_object_get_int64(val);
        if (id < 0 || id >= FE_TOK_MAX_TOKENS) return fail(h, &p, "id %lld is out of range", (long long)id);
        if (id > top) top = id;
    }
    size_t n = h->added ? json_object_array_length(h->added) : 0;
    for (size_t i = 0; i < n; i++) {
        JPath p = jp_idx(&added, i);
        int64_t id;
        if (member_int(h, json_object_array_get_idx(h->added, i), &p, "id", &id) != 1)
            return fail(h, &p, "expected an object with an integer id");
        if (id < 0 || id >= FE_TOK_MAX_TOKENS) return fail(h, &p, "id %lld is out of range", (long long)id);
        if (id > top) top = id;
    }
    if (top < 0) return fail(h, &vocab, "the vocabulary is empty");
    h->n_tokens = (uint32_t)top + 1;
    return 0;
}

/* Flags and byte value of a token string as the vocabulary spells it. */
static unsigned byte_flags(const Hf *h, const char *s, unsigned *byte)
{
    int v = h->byte_fallback ? fe_tok_byte_value(s, strlen(s)) : -1;
    *byte = v < 0 ? 0 : (unsigned)v;
    return v < 0 ? 0 : RT_TOK_BYTE;
}

static int add_vocab(Hf *h)
{
    JPath vocab = jp_root("model.vocab");
    const char **by_id = calloc(h->n_tokens, sizeof *by_id);
    char *buf = NULL;
    size_t cap = 0;
    int rc = 0;
    json_object_object_foreach(h->vocab, key, val) {
        uint32_t id = (uint32_t)json_object_get_int64(val);
        size_t len = strlen(key);
        if (by_id[id]) {
            JPath p = jp_key(&vocab, key);
            rc = fail(h, &p, "id %u is also given to '%s'", id, by_id[id]);
            break;
        }
        by_id[id] = key;
        if (len + 1 > cap) buf = realloc(buf, cap = len + 1);
        long raw = h->byte_level ? fe_tok_unbyte(key, len, buf) : -1;
        unsigned byte, flags = byte_flags(h, key, &byte);
        fe_tokb_token(h->b, id, raw >= 0 ? buf : key, raw >= 0 ? (size_t)raw : len, 0.0f, flags, byte);
    }
    free(buf);
    free(by_id);
    return rc;
}

static int added_flag(Hf *h, json_object *t, const JPath *at, const char *key, int dflt, unsigned flag,
                      unsigned *flags)
{
    int v = dflt;
    if (member_bool(h, t, at, key, &v) < 0) return -1;
    if (v) *flags |= flag;
    return 0;
}

static int add_added_token(Hf *h, json_object *t, const JPath *at, unsigned char *seen)
{
    int64_t id = 0;
    const char *content;
    int special = 0;
    unsigned flags = 0, byte;
    member_int(h, t, at, "id", &id);    /* checked by count_tokens */
    if (required_str(h, t, at, "content", &content) || member_bool(h, t, at, "special", &special) < 0) return -1;
    if (seen[id]) return fail(h, at, "id %lld appears twice", (long long)id);
    seen[id] = 1;
    if (special) flags |= RT_TOK_SPECIAL;
    if (added_flag(h, t, at, "lstrip", 0, RT_TOK_LSTRIP, &flags)
        || added_flag(h, t, at, "rstrip", 0, RT_TOK_RSTRIP, &flags)
        || added_flag(h, t, at, "single_word", 0, RT_TOK_SINGLE_WORD, &flags)
        || added_flag(h, t, at, "normalized", !special, RT_TOK_NORMALIZED, &flags))
        return -1;
    unsigned entry = (special ? RT_TOK_SPECIAL : 0) | byte_flags(h, content, &byte);
    fe_tokb_token(h->b, (uint32_t)id, content, strlen(content), 0.0f, entry, byte);
    fe_tokb_added(h->b, (uint32_t)id, flags);
    return 0;
}

static int add_added_tokens(Hf *h)
{
    JPath at = jp_root("added_tokens");
    size_t n = h->added ? json_object_array_length(h->added) : 0;
    unsigned char *seen = calloc(h->n_tokens, 1);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        JPath p = jp_idx(&at, i);
        rc = add_added_token(h, json_object_array_get_idx(h->added, i), &p, seen);
    }
    free(seen);
    return rc;
}

/* The two parts of merge i: "a b" or ["a", "b"]. */
static int merge_parts(Hf *h, json_object *m, const JPath *at, char **a, char **b)
{
    char buf[SHOWN_LEN + 4];
    if (json_object_is_type(m, json_type_string)) {
        const char *s = json_object_get_string(m), *space = strchr(s, ' ');
        if (!space || strchr(space + 1, ' '))
            return fail(h, at, "'%s' is not two tokens separated by one space", shown(s, buf));
        *a = strndup(s, (size_t)(space - s));
        *b = strdup(space + 1);
        return 0;
    }
    int pair = json_object_is_type(m, json_type_array) && json_object_array_length(m) == 2;
    json_object *x = pair ? json_object_array_get_idx(m, 0) : NULL, *y = pair ? json_object_array_get_idx(m, 1) : NULL;
    if (!json_object_is_type(x, json_type_string) || !json_object_is_type(y, json_type_string))
        return fail(h, at, "expected \"a b\" or [\"a\", \"b\"], got %s", type_name(m));
    *a = strdup(json_object_get_string(x));
    *b = strdup(json_object_get_string(y));
    return 0;
}

static int64_t vocab_id(const Hf *h, const char *s)
{
    json_object *id = member(h->vocab, s);
    return json_object_is_type(id, json_type_int) ? json_object_get_int64(id) : -1;
}

/* Merges by rank; one naming a token the vocabulary lacks is skipped. */
static int add_merges(Hf *h)
{
    JPath model = jp_root("model"), at = jp_root("model.merges");
    json_object *merges;
    int rc = member_array(h, h->model, &model, "merges", &merges);
    if (rc <= 0) return rc < 0 ? -1 : fail(h, &at, "missing");
    for (size_t i = 0; i < json_object_array_length(merges); i++) {
        JPath p = jp_idx(&at, i);
        char *a = NULL, *b = NULL;
        if (merge_parts(h, json_object_array_get_idx(merges, i), &p, &a, &b)) return -1;
        char *joined = malloc(strlen(a) + strlen(b) + 1);
        strcat(strcpy(joined, a), b);
        int64_t left = vocab_id(h, a), right = vocab_id(h, b), result = vocab_id(h, joined);
        if (left >= 0 && right >= 0 && result >= 0)
            fe_tokb_merge(h->b, (uint32_t)left, (uint32_t)right, (uint32_t)i, (uint32_t)result);
        free(a);
        free(b);
        free(joined);
    }
    return 0;
}

static int read_model(Hf *h)
{
    JPath at = jp_root("model");
    const char *unk;
    int fuse = 0, ignore = 0, fallback = 0;
    if (member_bool(h, h->model, &at, "byte_fallback", &fallback) < 0
        || member_bool(h, h->model, &at, "fuse_unk", &fuse) < 0
        || member_bool(h, h->model, &at, "ignore_merges", &ignore) < 0)
        return -1;
    h->byte_fallback = fallback;
    RtTokHeader *hdr = fe_tokb_header(h->b);
    hdr->model = RT_TOK_BPE;
    hdr->flags |= (h->byte_level ? RT_TOK_BYTE_LEVEL : 0) | (fallback ? RT_TOK_BYTE_FALLBACK : 0)
                  | (fuse ? RT_TOK_FUSE_UNK : 0) | (ignore ? RT_TOK_IGNORE_MERGES : 0);
    int rc = member_str(h, h->model, &at, "unk_token", &unk);
    if (rc < 0) return -1;
    if (rc == 1 && (hdr->unk_id = (int32_t)token_id(h, unk)) < 0) {
        JPath p = jp_key(&at, "unk_token");
        return fail(h, &p, "'%s' is not a token", unk);
    }
    return add_vocab(h) || add_added_tokens(h) || add_merges(h);
}

/* ---- post-processor ---- */

/* Appends the ids of special token name (from special_tokens) to list. */
static int template_ids(Hf *h, json_object *specials, const JPath *at, const char *name, int32_t *list,
                        uint32_t *n)
{
    JPath p = jp_key(at, name);
    json_object *ids;
    json_object *tok = member(specials, name);
    if (!tok) return fail(h, at, "no special token '%s'", name);
    if (member_array(h, tok, &p, "ids", &ids) != 1) return fail(h, &p, "expected an ids array");
    for (size_t i = 0; i < json_object_array_length(ids); i++) {
        json_object *id = json_object_array_get_idx(ids, i);
        JPath q = jp_idx(&p, i);
        if (!json_object_is_type(id, json_type_int)) return fail(h, &q, "expected an integer, got %s", type_name(id));
        if (check_id(h, &q, json_object_get_int64(id))) return -1;
        if (*n >= MAX_PREFIX) return fail(h, at, "more than %d special tokens on one side of the text", MAX_PREFIX);
        list[(*n)++] = (int32_t)json_object_get_int64(id);
    }
    return 0;
}

static int add_template_item(Hf *h, json_object *item, const JPath *at, json_object *specials, const JPath *map,
                             int *seen_a)
{
    RtTokHeader *hdr = fe_tokb_header(h->b);
    const char *id;
    JPath sp = jp_key(at, "SpecialToken"), seq = jp_key(at, "Sequence");
    json_object *special = member(item, "SpecialToken"), *sequence = member(item, "Sequence");
    if (sequence) {
        if (required_str(h, sequence, &seq, "id", &id)) return -1;
        if (strcmp(id, "A") != 0 || *seen_a) return fail(h, &seq, "unexpected sequence '%s'", id);
        *seen_a = 1;
        return 0;
    }
    if (!special) return fail(h, at, "expected SpecialToken or Sequence");
    if (required_str(h, special, &sp, "id", &id)) return -1;
    return template_ids(h, specials, map, id, *seen_a ? hdr->suffix : hdr->prefix,
                        *seen_a ? &hdr->n_suffix : &hdr->n_prefix);
}

static int add_template(Hf *h, json_object *o, const JPath *at)
{
    JPath single = jp_key(at, "single"), map = jp_key(at, "special_tokens");
    json_object *items, *specials = member(o, "special_tokens");
    int seen_a = 0;
    if (member_array(h, o, at, "single", &items) != 1) return fail(h, &single, "expected an array");
    for (size_t i = 0; i < json_object_array_length(items); i++) {
        JPath p = jp_idx(&single, i);
        if (add_template_item(h, json_object_array_get_idx(items, i), &p, specials, &map, &seen_a)) return -1;
    }
    return seen_a ? 0 : fail(h, &single, "no {\"Sequence\": {\"id\": \"A\"}}");
}

static int add_post_processor(Hf *h, json_object *o, const JPath *at)
{
    const char *type;
    if (!o) return 0;
    if (required_str(h, o, at, "type", &type)) return -1;
    if (strcmp(type, "Sequence") == 0) return each(h, o, at, "processors", add_post_processor);
    if (strcmp(type, "ByteLevel") == 0) return 0;
    if (strcmp(type, "TemplateProcessing") == 0) {
        if (h->has_template) return fail(h, at, "a second template");
        h->has_template = 1;
        return add_template(h, o, at);
    }
    JPath p = jp_key(at, "type");
    return fail(h, &p, "unsupported post-processor '%s'; hetc knows TemplateProcessing, ByteLevel and Sequence",
                type);
}

/* ---- tokenizer_config.json, generation_config.json, config.json ---- */

/* The id of a special token named in tokenizer_config.json, as a string or
 * an AddedToken object; -1 if absent. */
static int config_token(Hf *h, const char *file, const char *key, int32_t *id)
{
    json_object *v = member(h->config, key);
    *id = -1;
    if (!v) return 0;
    if (json_object_is_type(v, json_type_object)) v = member(v, "content");
    if (!json_object_is_type(v, json_type_string)) return fail_in(h, file, key, "expected a string or an object");
    *id = (int32_t)token_id(h, json_object_get_string(v));
    if (*id < 0) return fail_in(h, file, key, "'%s' is not a token", json_object_get_string(v));
    return 0;
}

/* Adds (on) or removes (off) id at the start of the prefix or end of the suffix. */
static void toggle(int32_t *list, uint32_t *n, int32_t id, int on, int at_start)
{
    uint32_t k = 0, has = 0;
    for (uint32_t i = 0; i < *n; i++) {
        has |= list[i] == id;
        if (on || list[i] != id) list[k++] = list[i];
    }
    *n = k;
    if (!on || has || *n >= MAX_PREFIX) return;
    if (at_start) memmove(list + 1, list, *n * sizeof *list);
    list[at_start ? 0 : *n] = id;
    (*n)++;
}

static int add_special_override(Hf *h, const char *file, const char *key, int32_t id, int prefix)
{
    RtTokHeader *hdr = fe_tokb_header(h->b);
    json_object *v = member(h->config, key);
    if (!v) return 0;
    if (!json_object_is_type(v, json_type_boolean)) return fail_in(h, file, key, "expected a boolean");
    int on = json_object_get_boolean(v);
    if (on && id < 0) return fail_in(h, file, key, "true, but there is no such token");
    if (prefix) toggle(hdr->prefix, &hdr->n_prefix, id, on, 1);
    else toggle(hdr->suffix, &hdr->n_suffix, id, on, 0);
    return 0;
}

/* The eos ids of generation_config.json or config.json (an id or a list). */
static int read_eos_list(Hf *h, json_object *gen, const char *file)
{
    RtTokHeader *hdr = fe_tokb_header(h->b);
    json_object *v = member(gen, "eos_token_id");
    size_t n = json_object_is_type(v, json_type_array) ? json_object_array_length(v) : v ? 1 : 0;
    for (size_t i = 0; i < n; i++) {
        json_object *id = json_object_is_type(v, json_type_array) ? json_object_array_get_idx(v, i) : v;
        if (!json_object_is_type(id, json_type_int)) return fail_in(h, file, "eos_token_id", "expected integers");
        int64_t x = json_object_get_int64(id);
        if (x < 0 || x >= h->n_tokens) return fail_in(h, file, "eos_token_id", "id %lld is out of range", (long long)x);
        if (hdr->n_eos >= MAX_EOS) return fail_in(h, file, "eos_token_id", "more than %d ids", MAX_EOS);
        fe_tok_add_eos(hdr, (int32_t)x);
    }
    return 0;
}

/* A token id given as an integer key of generation_config.json or config.json. */
static int config_id(Hf *h, json_object *o, const char *file, const char *key, int32_t *id)
{
    json_object *v = member(o, key);
    if (!v || *id >= 0) return 0;
    if (!json_object_is_type(v, json_type_int)) return fail_in(h, file, key, "expected an integer");
    int64_t x = json_object_get_int64(v);
    if (x < 0 || x >= h->n_tokens) return fail_in(h, file, key, "id %lld is out of range", (long long)x);
    *id = (int32_t)x;
    return 0;
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static int read_generation(Hf *h)
{
    RtTokHeader *hdr = fe_tokb_header(h->b);
    static const char *const names[] = {"generation_config.json", "config.json"};
    int rc = 0;
    for (int i = 0; i < 2 && rc == 0; i++) {
        char *path = join(h->dir, names[i]);
        json_object *o;
        rc = load_json(path, 0, &o, h->err, h->errlen);
        if (rc == 0 && hdr->n_eos == 0) rc = read_eos_list(h, o, path);
        if (rc == 0) rc = config_id(h, o, path, "bos_token_id", &hdr->bos_id);
        json_object_put(o);
        free(path);
    }
    if (rc) return -1;
    if (hdr->eos_id < 0 && hdr->n_eos) hdr->eos_id = hdr->eos[0];
    fe_tok_add_eos(hdr, hdr->eos_id);
    return 0;
}

/* tokenizer_config.json's chat_template (a string, or a list of named
 * templates), else DIR/chat_template.jinja. */
static RtChatFormat chat_format(Hf *h)
{
    json_object *t = member(h->config, "chat_template");
    if (json_object_is_type(t, json_type_array)) {
        json_object *list = t;
        for (size_t i = 0; i < json_object_array_length(list); i++) {
            json_object *named = json_object_array_get_idx(list, i), *name = member(named, "name");
            if (i == 0 || (json_object_is_type(name, json_type_string)
                           && strcmp(json_object_get_string(name), "default") == 0))
                t = member(named, "template");
        }
    }
    if (json_object_is_type(t, json_type_string)) return fe_tok_chat_format(json_object_get_string(t));
    char *path = join(h->dir, "chat_template.jinja");
    size_t len;
    char *text = fe_read_file(path, &len, NULL, 0);
    RtChatFormat f = fe_tok_chat_format(text);
    free(text);
    free(path);
    return f;
}

static int read_config(Hf *h)
{
    RtTokHeader *hdr = fe_tokb_header(h->b);
    char *path = join(h->dir, "tokenizer_config.json");
    int rc = load_json(path, 0, &h->config, h->err, h->errlen);
    if (rc == 0)
        rc = config_token(h, path, "bos_token", &hdr->bos_id) || config_token(h, path, "eos_token", &hdr->eos_id)
             || config_token(h, path, "pad_token", &hdr->pad_id)
             || add_special_override(h, path, "add_bos_token", hdr->bos_id, 1)
             || add_special_override(h, path, "add_eos_token", hdr->eos_id, 0);
    if (rc == 0) hdr->chat_format = chat_format(h);
    free(path);
    return rc ? -1 : read_generation(h);
}

/* ---- entry point ---- */

static int read_all(Hf *h)
{
    JPath post = jp_root("post_processor"), added = jp_root("added_tokens");
    if (load_json(h->path, 1, &h->root, h->err, h->errlen)) return -1;
    h->model = member(h->root, "model");
    if (check_model(h)) return -1;
    h->added = member(h->root, "added_tokens");
    if (h->added && !json_object_is_type(h->added, json_type_array))
        return fail(h, &added, "expected an array, got %s", type_name(h->added));
    if (count_tokens(h)) return -1;
    h->b = fe_tokb_new(h->n_tokens);
    return add_steps(h) || read_model(h) || add_post_processor(h, member(h->root, "post_processor"), &post)
           || read_config(h);
}

int fe_tokenizer_from_hf(const char *dir, void **blob, size_t *bytes, char *err, size_t errlen)
{
    Hf h = {.err = err, .errlen = errlen};
    *blob = NULL;
    *bytes = 0;
    if (strlen(dir) >= FE_PATH_LEN) {
        fe_set_err(err, errlen, "%s: path is too long", dir);
        return -1;
    }
    strcpy(h.dir, dir);
    snprintf(h.path, sizeof h.path, "%s/tokenizer.json", dir);
    int rc = read_all(&h) ? -1 : fe_tokb_finish(h.b, h.path, blob, bytes, err, errlen);
    fe_tokb_free(h.b);
    json_object_put(h.root);
    json_object_put(h.config);
    return rc;
}
