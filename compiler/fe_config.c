/* fe_config.c: config.json of a Hugging Face model, held as a json-c tree.
 * Keys are looked up by dotted path ("rope_parameters.rope_theta"); the
 * typed getters tell absent (or null) keys from keys of the wrong type (or
 * integers beyond int64), and every error names the file and the key. */
#include "fe.h"

#include <errno.h>
#include <limits.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct FeConfig {
    char path[FE_PATH_LEN];     /* as given, for messages */
    json_object *root;          /* the top-level object */
};

void fe_set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

char *fe_read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fe_set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0, got;
    char *buf = malloc(cap), *more;
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n >= 2) continue;
        more = cap <= SIZE_MAX / 2 ? realloc(buf, cap *= 2) : NULL;
        if (!more) free(buf);
        buf = more;
    }
    int failed = !buf || ferror(f);
    fclose(f);
    if (failed) {
        fe_set_err(err, errlen, "%s: cannot read%s", path, buf ? "" : ": out of memory");
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

int fe_line_of(const char *text, size_t offset)
{
    int line = 1;
    for (size_t i = 0; i < offset; i++)
        if (text[i] == '\n') line++;
    return line;
}

static json_object *parse_text(const char *path, const char *text, size_t len, char *err, size_t errlen)
{
    if (len > INT_MAX) {
        fe_set_err(err, errlen, "%s: JSON: larger than %d bytes", path, INT_MAX);
        return NULL;
    }
    json_tokener *tok = json_tokener_new();
    json_object *root = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (!root && (jerr == json_tokener_continue || jerr == json_tokener_success))
        jerr = json_tokener_error_parse_eof;
    if (!root) {
        fe_set_err(err, errlen, "%s: JSON: %s at line %d", path, json_tokener_error_desc(jerr), fe_line_of(text, end));
        return NULL;
    }
    while (end < len && strchr(" \t\r\n", text[end])) end++;
    if (end < len) {
        fe_set_err(err, errlen, "%s: JSON: trailing data at line %d", path, fe_line_of(text, end));
        json_object_put(root);
        return NULL;
    }
    return root;
}

FeConfig *fe_config_load(const char *path, char *err, size_t errlen)
{
    if (strlen(path) >= FE_PATH_LEN) {
        fe_set_err(err, errlen, "%s: path is too long", path);
        return NULL;
    }
    size_t len;
    char *text = fe_read_file(path, &len, err, errlen);
    if (!text) return NULL;
    json_object *root = parse_text(path, text, len, err, errlen);
    free(text);
    if (!root) return NULL;
    if (!json_object_is_type(root, json_type_object)) {
        fe_set_err(err, errlen, "%s: top level is not an object", path);
        json_object_put(root);
        return NULL;
    }
    FeConfig *c = calloc(1, sizeof *c);
    strcpy(c->path, path);
    c->root = root;
    return c;
}

FeConfig *fe_config_adopt(void *root, const char *path)
{
    FeConfig *c = calloc(1, sizeof *c);
    if (!c) {
        json_object_put(root);
        return NULL;
    }
    snprintf(c->path, sizeof c->path, "%s", path);
    c->root = root;
    return c;
}

void fe_config_free(FeConfig *c)
{
    if (!c) return;
    json_object_put(c->root);
    free(c);
}

const char *fe_config_path(const FeConfig *c)
{
    return c->path;
}

static const char *type_name(json_object *o)
{
    switch (json_object_get_type(o)) {
    case json_type_boolean: return "boolean";
    case json_type_double: return "float";
    case json_type_int: return "integer";
    case json_type_object: return "object";
    case json_type_array: return "array";
    case json_type_string: return "string";
    default: return "null";
    }
}

/* Walks the dotted key. Returns 1 with *out set, 0 if a part is absent or
 * null, -1 (with err) if a part before the last is not an object. */
static int lookup(const FeConfig *c, const char *key, json_object **out, char *err, size_t errlen)
{
    json_object *o = c->root;
    const char *part = key;
    for (;;) {
        const char *dot = strchr(part, '.');
        size_t len = dot ? (size_t)(dot - part) : strlen(part);
        char name[256];
        if (len >= sizeof name) return 0;
        memcpy(name, part, len);
        name[len] = 0;
        if (!json_object_is_type(o, json_type_object)) {
            fe_set_err(err, errlen, "%s: key '%.*s': expected an object, got %s",
                    c->path, (int)(part - key - 1), key, type_name(o));
            return -1;
        }
        if (!json_object_object_get_ex(o, name, &o) || !o) return 0;
        if (!dot) break;
        part = dot + 1;
    }
    *out = o;
    return 1;
}

/* Looks the key up and checks that its type is one of the two given. */
static int lookup_typed(const FeConfig *c, const char *key, json_type t1, json_type t2,
                        const char *want, json_object **out, char *err, size_t errlen)
{
    int rc = lookup(c, key, out, err, errlen);
    if (rc != 1) return rc;
    if (!json_object_is_type(*out, t1) && !json_object_is_type(*out, t2)) {
        fe_set_err(err, errlen, "%s: key '%s': expected %s, got %s", c->path, key, want, type_name(*out));
        return -1;
    }
    return 1;
}

int fe_config_int(const FeConfig *c, const char *key, int64_t *v, char *err, size_t errlen)
{
    json_object *o;
    int rc = lookup_typed(c, key, json_type_int, json_type_int, "an integer", &o, err, errlen);
    if (rc != 1) return rc;
    /* json-c clamps what does not fit to the int64 limits */
    *v = json_object_get_int64(o);
    if (*v == INT64_MIN || *v == INT64_MAX) {
        fe_set_err(err, errlen, "%s: key '%s': integer out of the 64-bit range", c->path, key);
        return -1;
    }
    return 1;
}

int fe_config_float(const FeConfig *c, const char *key, double *v, char *err, size_t errlen)
{
    json_object *o;
    int rc = lookup_typed(c, key, json_type_double, json_type_int, "a number", &o, err, errlen);
    if (rc == 1) *v = json_object_get_double(o);
    return rc;
}

int fe_config_bool(const FeConfig *c, const char *key, int *v, char *err, size_t errlen)
{
    json_object *o;
    int rc = lookup_typed(c, key, json_type_boolean, json_type_boolean, "a boolean", &o, err, errlen);
    if (rc == 1) *v = json_object_get_boolean(o) ? 1 : 0;
    return rc;
}

int fe_config_str(const FeConfig *c, const char *key, const char **v, char *err, size_t errlen)
{
    json_object *o;
    int rc = lookup_typed(c, key, json_type_string, json_type_string, "a string", &o, err, errlen);
    if (rc == 1) *v = json_object_get_string(o);
    return rc;
}

const char *fe_config_arch_class(const FeConfig *c)
{
    json_object *list;
    if (!json_object_object_get_ex(c->root, "architectures", &list)
        || !json_object_is_type(list, json_type_array) || json_object_array_length(list) == 0)
        return NULL;
    json_object *first = json_object_array_get_idx(list, 0);
    return json_object_is_type(first, json_type_string) ? json_object_get_string(first) : NULL;
}
