/* fe_safetensors.c: safetensors weights. Reads single files and sharded
 * checkpoints (model.safetensors.index.json) through mmap, validating every
 * header before any tensor is used; converts tensors to f32; writes files
 * (for synth and the tests), streaming the data so that no copy is made.
 *
 * A file is: an 8-byte little-endian header length N, N bytes of JSON
 * ({"name": {"dtype", "shape", "data_offsets": [begin, end]}, ...} with an
 * optional "__metadata__"), then the data section the offsets point into.
 */
#include "fe.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
    HEADER_MAX = 100 << 20,     /* the format's own limit on the header length */
    SHAPE_TEXT_LEN = 128,       /* "[a,b,c,d]" with four 64-bit dims */
};

typedef struct {
    const char *name;           /* as spelled in headers */
    IrDtype dtype;
    int size;                   /* bytes per element */
} DtypeInfo;

static const DtypeInfo dtype_table[] = {
    {"F32", IR_F32, 4},
    {"F16", IR_F16, 2},
    {"BF16", IR_BF16, 2},
};
enum { NDTYPES = sizeof dtype_table / sizeof dtype_table[0] };

/* A tensor of the header being parsed, with its range in the data section. */
typedef struct {
    FeTensor t;
    uint64_t begin, end;        /* data_offsets */
} Entry;

/* The state of parsing one file's header. */
typedef struct {
    const char *path;           /* as given, for messages */
    const unsigned char *data;  /* start of the data section in the map */
    uint64_t data_size;         /* bytes in the data section */
    int file;                   /* index the file will have in FeWeights.files */
    Entry *e;                   /* [n] parsed entries */
    int n;
    char *err;
    size_t errlen;
} Parse;

static const DtypeInfo *dtype_by_name(const char *s)
{
    for (int i = 0; i < NDTYPES; i++)
        if (strcmp(dtype_table[i].name, s) == 0) return &dtype_table[i];
    return NULL;
}

static const DtypeInfo *dtype_by_ir(IrDtype t)
{
    for (int i = 0; i < NDTYPES; i++)
        if (dtype_table[i].dtype == t) return &dtype_table[i];
    return NULL;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* "[64,160]" into buf. */
static void shape_text(char *buf, size_t len, int ndim, const int64_t *shape)
{
    size_t at = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < ndim && at < len; i++)
        at += (size_t)snprintf(buf + at, len - at, "%s%lld", i ? "," : "", (long long)shape[i]);
    if (at < len) snprintf(buf + at, len - at, "]");
}

/* Elements times element size, or -1 on overflow. */
static int shape_bytes(int ndim, const int64_t *shape, int elsize, uint64_t *bytes)
{
    uint64_t n = (uint64_t)elsize;
    for (int i = 0; i < ndim; i++) {
        uint64_t d = (uint64_t)shape[i];
        if (d != 0 && n > UINT64_MAX / d) return -1;
        n *= d;
    }
    *bytes = n;
    return 0;
}

static int join_path(char *out, const char *dir, const char *name, char *err, size_t errlen)
{
    int n = snprintf(out, FE_PATH_LEN, "%s/%s", dir, name);
    if (n < 0 || n >= FE_PATH_LEN) {
        fe_set_err(err, errlen, "%s/%s: path is too long", dir, name);
        return -1;
    }
    return 0;
}

/* ---- reading one file ---- */

static int map_file(const char *path, void **map, size_t *size, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        fe_set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        fe_set_err(err, errlen, "%s: not a regular file", path);
        close(fd);
        return -1;
    }
    *size = (size_t)st.st_size;
    if (*size < 8) {
        fe_set_err(err, errlen, "%s: file is %zu bytes, shorter than the 8-byte header length", path, *size);
        close(fd);
        return -1;
    }
    *map = mmap(NULL, *size, PROT_READ, MAP_PRIVATE, fd, 0);
    int mmap_errno = errno;
    close(fd);
    if (*map == MAP_FAILED) {
        fe_set_err(err, errlen, "%s: cannot mmap: %s", path, strerror(mmap_errno));
        return -1;
    }
    return 0;
}

static uint64_t read_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static int is_json_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Checks the header length and parses the header JSON into *root. */
static int parse_header_json(const char *path, const unsigned char *map, size_t size,
                             uint64_t *hlen, json_object **root, char *err, size_t errlen)
{
    uint64_t n = read_le64(map);
    if (n > size - 8) {
        fe_set_err(err, errlen, "%s: header length %llu is past the end of the file (%zu bytes)",
                path, (unsigned long long)n, size);
        return -1;
    }
    if (n > HEADER_MAX) {
        fe_set_err(err, errlen, "%s: header length %llu is absurdly large (the limit is %d)",
                path, (unsigned long long)n, HEADER_MAX);
        return -1;
    }
    json_tokener *tok = json_tokener_new();
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS);
    const char *text = (const char *)map + 8;
    *root = json_tokener_parse_ex(tok, text, (int)n);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (!*root) {
        if (jerr == json_tokener_continue || jerr == json_tokener_success)
            jerr = json_tokener_error_parse_eof;
        fe_set_err(err, errlen, "%s: header JSON: %s at byte %zu", path, json_tokener_error_desc(jerr), end);
        return -1;
    }
    while (end < n && is_json_space((unsigned char)text[end])) end++;
    if (end < n) {
        fe_set_err(err, errlen, "%s: header JSON: trailing data after the header at byte %zu", path, end);
        json_object_put(*root);
        return -1;
    }
    if (!json_object_is_type(*root, json_type_object)) {
        fe_set_err(err, errlen, "%s: header is not a JSON object", path);
        json_object_put(*root);
        return -1;
    }
    *hlen = n;
    return 0;
}

/* A JSON integer >= 0 into *v; 0 if it is one. */
static int get_count(json_object *o, int64_t *v)
{
    if (!json_object_is_type(o, json_type_int)) return -1;
    *v = json_object_get_int64(o);
    return *v >= 0 ? 0 : -1;
}

static int parse_dtype(Parse *p, const char *name, json_object *entry, const DtypeInfo **dt)
{
    json_object *o;
    if (!json_object_object_get_ex(entry, "dtype", &o) || !json_object_is_type(o, json_type_string)) {
        fe_set_err(p->err, p->errlen, "%s: tensor '%s': missing dtype", p->path, name);
        return -1;
    }
    *dt = dtype_by_name(json_object_get_string(o));
    if (!*dt) {
        fe_set_err(p->err, p->errlen, "%s: tensor '%s': unknown dtype '%s'",
                p->path, name, json_object_get_string(o));
        return -1;
    }
    return 0;
}

static int parse_shape(Parse *p, const char *name, json_object *entry, FeTensor *t)
{
    json_object *o;
    if (!json_object_object_get_ex(entry, "shape", &o) || !json_object_is_type(o, json_type_array)) {
        fe_set_err(p->err, p->errlen, "%s: tensor '%s': missing shape array", p->path, name);
        return -1;
    }
    size_t rank = json_object_array_length(o);
    if (rank > IR_MAX_DIMS) {
        fe_set_err(p->err, p->errlen, "%s: tensor '%s': shape has rank %zu, more than %d",
                p->path, name, rank, IR_MAX_DIMS);
        return -1;
    }
    t->ndim = (int)rank;
    for (int i = 0; i < t->ndim; i++) {
        if (get_count(json_object_array_get_idx(o, (size_t)i), &t->shape[i]) != 0) {
            fe_set_err(p->err, p->errlen, "%s: tensor '%s': shape[%d] is not a non-negative integer",
                    p->path, name, i);
            return -1;
        }
    }
    return 0;
}

static int parse_offsets(Parse *p, const char *name, json_object *entry, Entry *e)
{
    json_object *o;
    int64_t begin, end;
    if (!json_object_object_get_ex(entry, "data_offsets", &o)) {
        fe_set_err(p->err, p->errlen, "%s: tensor '%s': missing data_offsets", p->path, name);
        return -1;
    }
    if (!json_object_is_type(o, json_type_array) || json_object_array_length(o) != 2
        || get_count(json_object_array_get_idx(o, 0), &begin) != 0
        || get_count(json_object_array_get_idx(o, 1), &end) != 0) {
        fe_set_err(p->err, p->errlen, "%s: tensor '%s': data_offsets is not [begin,end] of non-negative integers",
                p->path, name);
        return -1;
    }
    if (begin > end) {
        fe_set_err(p->err, p->errlen, "%s: tensor '%s': data_offsets [%lld,%lld] end before they begin",
                p->path, name, (long long)begin, (long long)end);
        return -1;
    }
    if ((uint64_t)end > p->data_size) {
        fe_set_err(p->err, p->errlen, "%s: tensor '%s': data_offsets [%lld,%lld] go past the end of the data (%llu bytes)",
                p->path, name, (long long)begin, (long long)end, (unsigned long long)p->data_size);
        return -1;
    }
    e->begin = (uint64_t)begin;
    e->end = (uint64_t)end;
    return 0;
}

static int check_size(Parse *p, const Entry *e, const DtypeInfo *dt)
{
    char shape[SHAPE_TEXT_LEN];
    uint64_t need;
    shape_text(shape, sizeof shape, e->t.ndim, e->t.shape);
    if (shape_bytes(e->t.ndim, e->t.shape, dt->size, &need) != 0) {
        fe_set_err(p->err, p->errlen, "%s: tensor '%s': shape %s x %s is too large",
                p->path, e->t.name, shape, dt->name);
        return -1;
    }
    if (need != e->end - e->begin) {
        fe_set_err(p->err, p->errlen, "%s: tensor '%s': shape %s x %s needs %llu bytes but data_offsets span %llu",
                p->path, e->t.name, shape, dt->name, (unsigned long long)need,
                (unsigned long long)(e->end - e->begin));
        return -1;
    }
    return 0;
}

static int parse_entry(Parse *p, const char *name, json_object *val)
{
    Entry *e = &p->e[p->n];
    const DtypeInfo *dt;
    memset(e, 0, sizeof *e);
    if (strlen(name) >= IR_NAME_LEN) {
        fe_set_err(p->err, p->errlen, "%s: tensor '%s': name is longer than %d characters",
                p->path, name, IR_NAME_LEN - 1);
        return -1;
    }
    strcpy(e->t.name, name);
    if (!json_object_is_type(val, json_type_object)) {
        fe_set_err(p->err, p->errlen, "%s: tensor '%s': entry is not an object", p->path, name);
        return -1;
    }
    if (parse_dtype(p, name, val, &dt) != 0 || parse_shape(p, name, val, &e->t) != 0
        || parse_offsets(p, name, val, e) != 0 || check_size(p, e, dt) != 0)
        return -1;
    e->t.dtype = dt->dtype;
    e->t.data = p->data + e->begin;
    e->t.nbytes = e->end - e->begin;
    e->t.file = p->file;
    p->n++;
    return 0;
}

static int cmp_range(const void *a, const void *b)
{
    const Entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* Sorts the entries by range and reports the first two that share a byte. */
static int check_overlaps(Parse *p)
{
    qsort(p->e, (size_t)p->n, sizeof *p->e, cmp_range);
    const Entry *reach = NULL;  /* the non-empty range that ends last so far */
    for (int i = 0; i < p->n; i++) {
        const Entry *e = &p->e[i];
        if (e->begin == e->end) continue;
        if (reach && e->begin < reach->end) {
            fe_set_err(p->err, p->errlen, "%s: tensor '%s' bytes [%llu,%llu) overlap tensor '%s' bytes [%llu,%llu)",
                    p->path, reach->t.name, (unsigned long long)reach->begin, (unsigned long long)reach->end,
                    e->t.name, (unsigned long long)e->begin, (unsigned long long)e->end);
            return -1;
        }
        if (!reach || e->end > reach->end) reach = e;
    }
    return 0;
}

static int check_duplicates(const FeWeights *w, Parse *p)
{
    for (int i = 0; i < p->n; i++) {
        const FeTensor *old = fe_weights_find(w, p->e[i].t.name);
        if (old) {
            fe_set_err(p->err, p->errlen, "%s: tensor '%s' is also in %s",
                    p->path, old->name, w->files[old->file].path);
            return -1;
        }
    }
    return 0;
}

static int parse_entries(const FeWeights *w, Parse *p, json_object *root)
{
    p->e = calloc((size_t)json_object_object_length(root) + 1, sizeof *p->e);
    json_object_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0) continue;
        if (parse_entry(p, key, val) != 0) return -1;
    }
    if (check_overlaps(p) != 0) return -1;
    return check_duplicates(w, p);
}

static int cmp_tensor_name(const void *a, const void *b)
{
    return strcmp(((const FeTensor *)a)->name, ((const FeTensor *)b)->name);
}

int fe_weights_sort(FeWeights *w, char *err, size_t errlen)
{
    qsort(w->tensors, (size_t)w->ntensors, sizeof *w->tensors, cmp_tensor_name);
    for (int i = 1; i < w->ntensors; i++)
        if (strcmp(w->tensors[i - 1].name, w->tensors[i].name) == 0) {
            const FeTensor *t = &w->tensors[i];
            fe_set_err(err, errlen, "%s: tensor '%s': given twice", w->files[t->file].path, t->src[0] ? t->src : t->name);
            return -1;
        }
    return 0;
}

/* Adds the file and its parsed entries to w, keeping the tensors sorted. */
static void append_file(FeWeights *w, const Parse *p, void *map, size_t size)
{
    w->files = realloc(w->files, (size_t)(w->nfiles + 1) * sizeof *w->files);
    FeFile *f = &w->files[w->nfiles++];
    memset(f, 0, sizeof *f);
    strcpy(f->path, p->path);
    f->map = map;
    f->size = size;
    w->tensors = realloc(w->tensors, (size_t)(w->ntensors + p->n + 1) * sizeof *w->tensors);
    for (int i = 0; i < p->n; i++) w->tensors[w->ntensors++] = p->e[i].t;
    qsort(w->tensors, (size_t)w->ntensors, sizeof *w->tensors, cmp_tensor_name);
}

int fe_weights_add_file(FeWeights *w, const char *path, char *err, size_t errlen)
{
    void *map;
    size_t size;
    uint64_t hlen;
    json_object *root;
    if (strlen(path) >= FE_PATH_LEN) {
        fe_set_err(err, errlen, "%s: path is too long", path);
        return -1;
    }
    if (map_file(path, &map, &size, err, errlen) != 0) return -1;
    if (parse_header_json(path, map, size, &hlen, &root, err, errlen) != 0) {
        munmap(map, size);
        return -1;
    }
    Parse p = {
        .path = path, .data = (const unsigned char *)map + 8 + hlen,
        .data_size = size - 8 - hlen, .file = w->nfiles, .err = err, .errlen = errlen,
    };
    int rc = parse_entries(w, &p, root);
    json_object_put(root);
    if (rc == 0) append_file(w, &p, map, size);
    else munmap(map, size);
    free(p.e);
    return rc;
}

/* ---- directories and sharded checkpoints ---- */

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Parses a whole JSON file (the index) into a new object. */
static json_object *load_json(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fe_set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    json_tokener *tok = json_tokener_new();
    json_object *root = NULL;
    char buf[65536];
    size_t got, offset = 0;
    enum json_tokener_error jerr = json_tokener_continue;
    while (jerr == json_tokener_continue && (got = fread(buf, 1, sizeof buf, f)) > 0) {
        root = json_tokener_parse_ex(tok, buf, (int)got);
        jerr = json_tokener_get_error(tok);
        offset += json_tokener_get_parse_end(tok);
    }
    fclose(f);
    json_tokener_free(tok);
    if (!root) {
        if (jerr == json_tokener_continue) jerr = json_tokener_error_parse_eof;
        fe_set_err(err, errlen, "%s: JSON: %s at byte %zu", path, json_tokener_error_desc(jerr), offset);
    }
    return root;
}

static int shard_opened(const FeWeights *w, const char *path)
{
    for (int i = 0; i < w->nfiles; i++)
        if (strcmp(w->files[i].path, path) == 0) return 1;
    return 0;
}

/* Opens each distinct shard of the weight_map once, in order of first mention. */
static int open_shards(FeWeights *w, const char *dir, const char *index, json_object *map,
                       char *err, size_t errlen)
{
    char path[FE_PATH_LEN];
    json_object_object_foreach(map, name, val) {
        if (!json_object_is_type(val, json_type_string)) {
            fe_set_err(err, errlen, "%s: weight_map entry '%s' is not a file name", index, name);
            return -1;
        }
        const char *shard = json_object_get_string(val);
        if (join_path(path, dir, shard, err, errlen) != 0) return -1;
        if (shard_opened(w, path)) continue;
        if (!file_exists(path)) {
            fe_set_err(err, errlen, "%s: shard '%s' of tensor '%s' is missing (%s: %s)",
                    index, shard, name, path, strerror(errno));
            return -1;
        }
        if (fe_weights_add_file(w, path, err, errlen) != 0) return -1;
    }
    return 0;
}

/* Every weight_map entry must be found in the shard it names. */
static int check_weight_map(const FeWeights *w, const char *dir, const char *index,
                            json_object *map, char *err, size_t errlen)
{
    char path[FE_PATH_LEN];
    json_object_object_foreach(map, name, val) {
        const char *shard = json_object_get_string(val);
        const FeTensor *t = fe_weights_find(w, name);
        if (!t) {
            fe_set_err(err, errlen, "%s: tensor '%s' is not in its shard '%s'", index, name, shard);
            return -1;
        }
        if (join_path(path, dir, shard, err, errlen) != 0) return -1;
        if (strcmp(w->files[t->file].path, path) != 0) {
            fe_set_err(err, errlen, "%s: tensor '%s' is listed in shard '%s' but is in '%s'",
                    index, name, shard, fe_tensor_file(w, t));
            return -1;
        }
    }
    return 0;
}

static int open_index(FeWeights *w, const char *dir, const char *index, char *err, size_t errlen)
{
    json_object *root = load_json(index, err, errlen);
    if (!root) return -1;
    json_object *map;
    int rc = -1;
    if (!json_object_is_type(root, json_type_object) || !json_object_object_get_ex(root, "weight_map", &map)
        || !json_object_is_type(map, json_type_object))
        fe_set_err(err, errlen, "%s: no \"weight_map\" object", index);
    else if (open_shards(w, dir, index, map, err, errlen) == 0)
        rc = check_weight_map(w, dir, index, map, err, errlen);
    json_object_put(root);
    return rc;
}

int fe_weights_open_dir(FeWeights *w, const char *dir, char *err, size_t errlen)
{
    char path[FE_PATH_LEN];
    int rc;
    memset(w, 0, sizeof *w);
    if (!file_exists(dir)) {
        fe_set_err(err, errlen, "%s: cannot open: %s", dir, strerror(errno));
        return -1;
    }
    if (join_path(path, dir, "model.safetensors.index.json", err, errlen) != 0) return -1;
    if (file_exists(path)) {
        rc = open_index(w, dir, path, err, errlen);
    } else {
        if (join_path(path, dir, "model.safetensors", err, errlen) != 0) return -1;
        if (!file_exists(path)) {
            fe_set_err(err, errlen, "%s: no model.safetensors or model.safetensors.index.json", dir);
            return -1;
        }
        rc = fe_weights_add_file(w, path, err, errlen);
    }
    if (rc != 0) fe_weights_free(w);
    return rc;
}

const FeTensor *fe_weights_find(const FeWeights *w, const char *name)
{
    if (w->ntensors == 0) return NULL;
    FeTensor key;
    if (strlen(name) >= sizeof key.name) return NULL;
    strcpy(key.name, name);
    return bsearch(&key, w->tensors, (size_t)w->ntensors, sizeof *w->tensors, cmp_tensor_name);
}

void fe_weights_free(FeWeights *w)
{
    for (int i = 0; i < w->nfiles; i++)
        if (w->files[i].map) munmap(w->files[i].map, w->files[i].size);
    for (int i = 0; i < w->nowned; i++) free(w->owned[i]);
    free(w->owned);
    free(w->files);
    free(w->tensors);
    memset(w, 0, sizeof *w);
}

const char *fe_tensor_file(const FeWeights *w, const FeTensor *t)
{
    return base_name(w->files[t->file].path);
}

const float *fe_weights_f32(void *cache, const char *name)
{
    FeF32Cache *c = cache;
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->names[i], name) == 0) return c->data[i];
    const FeTensor *t = fe_weights_find(c->w, name);
    if (!t) return NULL;
    int64_t e = 1;
    for (int d = 0; d < t->ndim; d++) e *= t->shape[d];
    char **names = realloc(c->names, (size_t)(c->n + 1) * sizeof *c->names);
    if (names) c->names = names;
    float **data = realloc(c->data, (size_t)(c->n + 1) * sizeof *c->data);
    if (data) c->data = data;
    float *f = names && data ? malloc((size_t)e * sizeof(float) + 1) : NULL;
    char *copy = f ? strdup(name) : NULL;
    if (!copy) {
        free(f);
        return NULL;
    }
    fe_tensor_to_f32(t, f);
    c->names[c->n] = copy;
    c->data[c->n] = f;
    return c->data[c->n++];
}

void fe_f32_cache_free(FeF32Cache *c)
{
    for (int i = 0; i < c->n; i++) free(c->names[i]), free(c->data[i]);
    free(c->names);
    free(c->data);
    memset(c, 0, sizeof *c);
}

/* ---- conversion ---- */

static float bits_to_float(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* IEEE half to single: exact, subnormals normalized, inf and NaN kept. */
float fe_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    if (exp == 0x1f) return bits_to_float(sign | 0xffu << 23 | mant << 13);
    if (exp != 0) return bits_to_float(sign | (exp + 112) << 23 | mant << 13);
    if (mant == 0) return bits_to_float(sign);
    exp = 113;
    while (!(mant & 0x400)) {
        mant <<= 1;
        exp--;
    }
    return bits_to_float(sign | exp << 23 | (mant & 0x3ff) << 13);
}

/* Files and hosts are little-endian, so f32 data is copied as it is. */
void fe_tensor_to_f32(const FeTensor *t, float *out)
{
    const unsigned char *p = t->data;
    if (ir_dtype_is_block(t->dtype)) {
        int64_t n = 1;
        for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
        fe_dequant(t->dtype, p, out, n);
        return;
    }
    uint64_t n = t->nbytes / (uint64_t)dtype_by_ir(t->dtype)->size;
    if (t->dtype == IR_F32) {
        memcpy(out, p, t->nbytes);
    } else if (t->dtype == IR_F16) {
        for (uint64_t i = 0; i < n; i++) out[i] = fe_f16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
    } else {
        for (uint64_t i = 0; i < n; i++) out[i] = bits_to_float((uint32_t)(p[2 * i] | p[2 * i + 1] << 8) << 16);
    }
}

/* ---- writing ---- */

static int check_out(const char *path, const FeTensorOut *t, uint64_t *bytes, char *err, size_t errlen)
{
    const DtypeInfo *dt = dtype_by_ir(t->dtype);
    if (!dt) {
        fe_set_err(err, errlen, "%s: tensor '%s': dtype %d cannot be stored (F32, F16, BF16)",
                path, t->name, (int)t->dtype);
        return -1;
    }
    if (t->ndim < 0 || t->ndim > IR_MAX_DIMS) {
        fe_set_err(err, errlen, "%s: tensor '%s': rank %d is not 0..%d", path, t->name, t->ndim, IR_MAX_DIMS);
        return -1;
    }
    for (int i = 0; i < t->ndim; i++) {
        if (t->shape[i] < 0) {
            fe_set_err(err, errlen, "%s: tensor '%s': shape[%d] is negative", path, t->name, i);
            return -1;
        }
    }
    if (shape_bytes(t->ndim, t->shape, dt->size, bytes) != 0 || *bytes > INT64_MAX) {
        fe_set_err(err, errlen, "%s: tensor '%s': shape is too large", path, t->name);
        return -1;
    }
    return 0;
}

/* The header JSON of the tensors, laid out in order; NULL on a bad tensor. */
static json_object *header_json(const char *path, const FeTensorOut *t, int n, char *err, size_t errlen)
{
    json_object *root = json_object_new_object();
    json_object *meta = json_object_new_object();
    json_object_object_add(meta, "format", json_object_new_string("pt"));
    json_object_object_add(root, "__metadata__", meta);
    uint64_t offset = 0, bytes;
    for (int i = 0; i < n; i++) {
        if (check_out(path, &t[i], &bytes, err, errlen) != 0) {
            json_object_put(root);
            return NULL;
        }
        json_object *e = json_object_new_object();
        json_object *shape = json_object_new_array();
        json_object *offs = json_object_new_array();
        for (int d = 0; d < t[i].ndim; d++) json_object_array_add(shape, json_object_new_int64(t[i].shape[d]));
        json_object_array_add(offs, json_object_new_int64((int64_t)offset));
        json_object_array_add(offs, json_object_new_int64((int64_t)(offset + bytes)));
        json_object_object_add(e, "dtype", json_object_new_string(dtype_by_ir(t[i].dtype)->name));
        json_object_object_add(e, "shape", shape);
        json_object_object_add(e, "data_offsets", offs);
        json_object_object_add(root, t[i].name, e);
        offset += bytes;
    }
    return root;
}

int fe_safetensors_write_header(FILE *f, const char *path, const FeTensorOut *t, int n,
                                char *err, size_t errlen)
{
    json_object *root = header_json(path, t, n, err, errlen);
    if (!root) return -1;
    const char *text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    size_t len = strlen(text);
    size_t padded = (len + 7) / 8 * 8;
    unsigned char prefix[8];
    for (int i = 0; i < 8; i++) prefix[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    int ok = fwrite(prefix, 1, 8, f) == 8 && fwrite(text, 1, len, f) == len;
    for (size_t i = len; ok && i < padded; i++) ok = fputc(' ', f) != EOF;
    json_object_put(root);
    if (!ok) {
        fe_set_err(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int write_data(FILE *f, const char *path, const FeTensorOut *t, int n, char *err, size_t errlen)
{
    for (int i = 0; i < n; i++) {
        uint64_t bytes = 0;
        shape_bytes(t[i].ndim, t[i].shape, dtype_by_ir(t[i].dtype)->size, &bytes);
        if (bytes > 0 && !t[i].data) {
            fe_set_err(err, errlen, "%s: tensor '%s': no data", path, t[i].name);
            return -1;
        }
        if (bytes > 0 && fwrite(t[i].data, 1, (size_t)bytes, f) != bytes) {
            fe_set_err(err, errlen, "%s: cannot write: %s", path, strerror(errno));
            return -1;
        }
    }
    return 0;
}

int fe_safetensors_write(const char *path, const FeTensorOut *t, int n, char *err, size_t errlen)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        fe_set_err(err, errlen, "%s: cannot create: %s", path, strerror(errno));
        return -1;
    }
    int rc = fe_safetensors_write_header(f, path, t, n, err, errlen);
    if (rc == 0) rc = write_data(f, path, t, n, err, errlen);
    if (fclose(f) != 0 && rc == 0) {
        fe_set_err(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        rc = -1;
    }
    if (rc != 0) unlink(path);
    return rc;
}
