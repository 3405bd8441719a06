/* fe_synth.c: random-weight Hugging Face model directories with the shapes
 * of real Llama-family models (config.json, model.safetensors or shards plus
 * an index, generation_config.json), for tests and benchmarks without
 * downloads. Values come from a seeded PRNG and are generated tensor by
 * tensor through a bounded buffer, so multi-GB models never sit in memory. */
#include "fe.h"

#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum {
    CHUNK = 1 << 20,            /* elements generated per buffer fill */
    MAX_LAYERS = 128,
    TENSORS_PER_LAYER = 12,     /* 2 norms, 4 attention, 3 biases, 3 mlp */
    MAX_TENSORS = 3 + MAX_LAYERS * TENSORS_PER_LAYER,
    MAX_SHARDS = 999,
};

typedef struct {
    const char *name;           /* preset name */
    const char *arch_class;     /* architectures[0] */
    const char *model_type;
    int64_t hidden, layers, heads, kv_heads, ffn, vocab, ctx;
    double eps, theta;
    int tied;                   /* tie_word_embeddings */
    IrDtype dtype;              /* stored dtype */
    int qkv_bias;               /* q/k/v projections have biases */
} Preset;

static const Preset presets[] = {
    {"tiny", "LlamaForCausalLM", "llama", 64, 2, 4, 2, 160, 1024, 512, 1e-5, 1e4, 0, IR_F32, 0},
    {"smol-135m", "LlamaForCausalLM", "llama", 576, 30, 9, 3, 1536, 49152, 2048, 1e-5, 1e4, 1, IR_BF16, 0},
    {"tinyllama-1.1b", "LlamaForCausalLM", "llama", 2048, 22, 32, 4, 5632, 32000, 2048, 1e-5, 1e4, 0, IR_BF16, 0},
    {"llama-3b", "LlamaForCausalLM", "llama", 3072, 28, 24, 8, 8192, 128256, 8192, 1e-5, 5e5, 1, IR_BF16, 0},
    {"qwen2-0.5b", "Qwen2ForCausalLM", "qwen2", 896, 24, 14, 2, 4864, 151936, 4096, 1e-6, 1e6, 1, IR_BF16, 1},
    {"mistral-7b", "MistralForCausalLM", "mistral", 4096, 32, 32, 8, 14336, 32000, 8192, 1e-5, 1e6, 0, IR_BF16, 0},
    /* the shapes of the models HeteroLLM and llm.npu measure */
    {"llama-8b", "LlamaForCausalLM", "llama", 4096, 32, 32, 8, 14336, 128256, 8192, 1e-5, 5e5, 0, IR_BF16, 0},
    {"qwen1.5-1.8b", "Qwen2ForCausalLM", "qwen2", 2048, 24, 16, 16, 5504, 151936, 32768, 1e-6, 1e6, 0, IR_BF16, 1},
    /* InternLM2-1.8B's dimensions in the Llama layout (its packed wqkv is the same compute) */
    {"internlm-1.8b", "LlamaForCausalLM", "llama", 2048, 24, 16, 8, 8192, 92544, 32768, 1e-5, 1e6, 0, IR_BF16, 0},
};
enum { NPRESETS = sizeof presets / sizeof presets[0] };

/* How a tensor's values are drawn. */
typedef enum { INIT_LINEAR, INIT_EMBED, INIT_NORM, INIT_BIAS } Init;

/* The model being written: resolved shapes and the tensor list. */
typedef struct {
    const Preset *p;
    IrDtype dtype;
    int tied;
    int64_t head_dim;           /* per-head size used for q/k/v/o shapes */
    int explicit_head_dim;      /* write head_dim into config.json */
    char names[MAX_TENSORS][IR_NAME_LEN];
    FeTensorOut t[MAX_TENSORS];
    Init init[MAX_TENSORS];
    int shard[MAX_TENSORS];     /* shard index of each tensor */
    int n;
} Model;

/* xoshiro256** seeded through splitmix64, and progress counters. */
typedef struct {
    uint64_t s[4];              /* PRNG state */
    float *vals;                /* [CHUNK] values being generated */
    unsigned char *bytes;       /* [CHUNK * 4] the same in the stored dtype */
    int done, total;            /* tensors written / to write */
    uint64_t written;           /* bytes of tensor data written */
    struct timespec last;       /* time of the last progress line */
} Gen;

const char *const *fe_synth_presets(void)
{
    static const char *names[NPRESETS + 1];
    for (int i = 0; i < NPRESETS; i++) names[i] = presets[i].name;
    names[NPRESETS] = NULL;
    return names;
}

/* ---- random numbers ---- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t next_u64(Gen *g)
{
    uint64_t *s = g->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* About N(0,1): the sum of the four 16-bit uniforms of one draw, scaled to
 * unit variance (Irwin-Hall with n = 4, already close to normal). */
static float next_normal(Gen *g)
{
    uint64_t r = next_u64(g);
    int64_t sum = (int64_t)(r & 0xffff) + (int64_t)(r >> 16 & 0xffff)
                + (int64_t)(r >> 32 & 0xffff) + (int64_t)(r >> 48);
    return (float)(sum - 131070) / 37837.23f;
}

/* Fills v[0..n) with values drawn as the tensor's kind asks. */
static void draw(Gen *g, Init init, float *v, int64_t n)
{
    float mean = init == INIT_NORM ? 1.0f : 0.0f;
    float std = init == INIT_NORM || init == INIT_BIAS ? 0.1f : 0.02f;
    for (int64_t i = 0; i < n; i++) v[i] = mean + std * next_normal(g);
}

/* ---- dtype conversion (round to nearest even) ---- */

static uint32_t float_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static uint16_t float_to_bf16(float f)
{
    uint32_t u = float_bits(f);
    if ((u & 0x7fffffff) > 0x7f800000) return (uint16_t)(u >> 16 | 0x40);
    return (uint16_t)((u + 0x7fff + (u >> 16 & 1)) >> 16);
}

static uint16_t float_to_half(float f)
{
    uint32_t u = float_bits(f);
    uint16_t sign = (uint16_t)(u >> 16 & 0x8000);
    int exp = (int)(u >> 23 & 0xff) - 127 + 15;
    uint32_t mant = u & 0x7fffff;
    if ((u & 0x7fffffff) > 0x7f800000) return sign | 0x7e00;
    if (exp >= 31) return sign | 0x7c00;
    if (exp <= 0) {
        if (exp < -10) return sign;
        mant |= 0x800000;
        int shift = 14 - exp;
        uint32_t half = mant >> shift;
        uint32_t rest = mant & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rest > mid || (rest == mid && (half & 1))) half++;
        return sign | (uint16_t)half;
    }
    uint32_t h = (uint32_t)exp << 10 | mant >> 13;
    uint32_t rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++;
    return sign | (uint16_t)h;
}

/* Little-endian bytes of n values in the given dtype. */
static void encode(const float *v, int64_t n, IrDtype dtype, unsigned char *out)
{
    if (dtype == IR_F32) {
        for (int64_t i = 0; i < n; i++) {
            uint32_t u = float_bits(v[i]);
            for (int b = 0; b < 4; b++) out[4 * i + b] = (unsigned char)(u >> (8 * b));
        }
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        uint16_t h = dtype == IR_F16 ? float_to_half(v[i]) : float_to_bf16(v[i]);
        out[2 * i] = (unsigned char)h;
        out[2 * i + 1] = (unsigned char)(h >> 8);
    }
}

static int dtype_size(IrDtype t)
{
    return t == IR_F32 ? 4 : 2;
}

static const char *dtype_hf_name(IrDtype t)
{
    return t == IR_F32 ? "float32" : t == IR_F16 ? "float16" : "bfloat16";
}

/* ---- the model's tensors ---- */

static int64_t numel(const FeTensorOut *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

static void add_tensor(Model *m, Init init, int64_t d0, int64_t d1, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->names[m->n], IR_NAME_LEN, fmt, ap);
    va_end(ap);
    FeTensorOut *t = &m->t[m->n];
    memset(t, 0, sizeof *t);
    t->name = m->names[m->n];
    t->dtype = m->dtype;
    t->ndim = d1 > 0 ? 2 : 1;
    t->shape[0] = d0;
    t->shape[1] = d1;
    m->init[m->n++] = init;
}

static void add_layer(Model *m, int i)
{
    const Preset *p = m->p;
    int64_t q = p->heads * m->head_dim, kv = p->kv_heads * m->head_dim;
    const char *pre = "model.layers";
    add_tensor(m, INIT_NORM, p->hidden, 0, "%s.%d.input_layernorm.weight", pre, i);
    add_tensor(m, INIT_LINEAR, q, p->hidden, "%s.%d.self_attn.q_proj.weight", pre, i);
    if (p->qkv_bias) add_tensor(m, INIT_BIAS, q, 0, "%s.%d.self_attn.q_proj.bias", pre, i);
    add_tensor(m, INIT_LINEAR, kv, p->hidden, "%s.%d.self_attn.k_proj.weight", pre, i);
    if (p->qkv_bias) add_tensor(m, INIT_BIAS, kv, 0, "%s.%d.self_attn.k_proj.bias", pre, i);
    add_tensor(m, INIT_LINEAR, kv, p->hidden, "%s.%d.self_attn.v_proj.weight", pre, i);
    if (p->qkv_bias) add_tensor(m, INIT_BIAS, kv, 0, "%s.%d.self_attn.v_proj.bias", pre, i);
    add_tensor(m, INIT_LINEAR, p->hidden, q, "%s.%d.self_attn.o_proj.weight", pre, i);
    add_tensor(m, INIT_NORM, p->hidden, 0, "%s.%d.post_attention_layernorm.weight", pre, i);
    add_tensor(m, INIT_LINEAR, p->ffn, p->hidden, "%s.%d.mlp.gate_proj.weight", pre, i);
    add_tensor(m, INIT_LINEAR, p->ffn, p->hidden, "%s.%d.mlp.up_proj.weight", pre, i);
    add_tensor(m, INIT_LINEAR, p->hidden, p->ffn, "%s.%d.mlp.down_proj.weight", pre, i);
}

/* The tensors in the order Hugging Face stores them. */
static void build_tensors(Model *m)
{
    const Preset *p = m->p;
    m->n = 0;
    add_tensor(m, INIT_EMBED, p->vocab, p->hidden, "model.embed_tokens.weight");
    for (int i = 0; i < p->layers; i++) add_layer(m, i);
    add_tensor(m, INIT_NORM, p->hidden, 0, "model.norm.weight");
    if (!m->tied) add_tensor(m, INIT_LINEAR, p->vocab, p->hidden, "lm_head.weight");
}

static uint64_t tensor_bytes(const Model *m, int i)
{
    return (uint64_t)numel(&m->t[i]) * (uint64_t)dtype_size(m->dtype);
}

/* Splits the tensors into shards of about equal bytes, none empty. */
static void assign_shards(Model *m, int shards)
{
    uint64_t total = 0, before = 0;
    for (int i = 0; i < m->n; i++) total += tensor_bytes(m, i);
    int s = 0, in_shard = 0;
    for (int i = 0; i < m->n; i++) {
        int must = m->n - i == shards - 1 - s;
        int full = (double)before >= (double)total * (s + 1) / shards;
        if (in_shard > 0 && s < shards - 1 && (must || full)) {
            s++;
            in_shard = 0;
        }
        m->shard[i] = s;
        in_shard++;
        before += tensor_bytes(m, i);
    }
}

static const Preset *find_preset(const char *name)
{
    for (int i = 0; i < NPRESETS; i++)
        if (name && strcmp(presets[i].name, name) == 0) return &presets[i];
    return NULL;
}

static int resolve(Model *m, const FeSynthOpts *o, char *err, size_t errlen)
{
    m->p = find_preset(o->preset);
    if (!m->p) {
        char list[256] = "";
        for (int i = 0; i < NPRESETS; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", presets[i].name);
        fe_set_err(err, errlen, "synth: unknown preset '%s' (valid: %s)", o->preset ? o->preset : "", list);
        return -1;
    }
    m->dtype = (int)o->dtype == -1 ? m->p->dtype : o->dtype;
    if (m->dtype != IR_F32 && m->dtype != IR_F16 && m->dtype != IR_BF16) {
        fe_set_err(err, errlen, "synth: dtype %d is not f32, f16 or bf16", (int)o->dtype);
        return -1;
    }
    m->tied = o->tie < 0 ? m->p->tied : o->tie != 0;
    if (o->head_dim < 0) {
        fe_set_err(err, errlen, "synth: head_dim %lld is negative", (long long)o->head_dim);
        return -1;
    }
    m->explicit_head_dim = o->head_dim > 0;
    m->head_dim = o->head_dim > 0 ? o->head_dim : m->p->hidden / m->p->heads;
    build_tensors(m);
    int shards = o->shards > 1 ? o->shards : 1;
    if (shards > m->n || shards > MAX_SHARDS) {
        fe_set_err(err, errlen, "synth: %d shards for %d tensors", shards, m->n);
        return -1;
    }
    assign_shards(m, shards);
    return 0;
}

/* ---- files ---- */

static int mkdir_p(const char *dir, char *err, size_t errlen)
{
    char path[FE_PATH_LEN];
    if (!*dir) {
        fe_set_err(err, errlen, "synth: the output directory name is empty");
        return -1;
    }
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path) {
        fe_set_err(err, errlen, "%s: path is too long", dir);
        return -1;
    }
    for (char *p = path + 1; ; p++) {
        if (*p != '/' && *p != 0) continue;
        char c = *p;
        *p = 0;
        if (mkdir(path, 0777) != 0 && errno != EEXIST) {
            fe_set_err(err, errlen, "%s: cannot create: %s", path, strerror(errno));
            return -1;
        }
        *p = c;
        if (c == 0) break;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fe_set_err(err, errlen, "%s: not a directory", dir);
        return -1;
    }
    return 0;
}

static int join(char *out, const char *dir, const char *name, char *err, size_t errlen)
{
    if (snprintf(out, FE_PATH_LEN, "%s/%s", dir, name) >= FE_PATH_LEN) {
        fe_set_err(err, errlen, "%s/%s: path is too long", dir, name);
        return -1;
    }
    return 0;
}

static int write_json(const char *dir, const char *name, json_object *o, char *err, size_t errlen)
{
    char path[FE_PATH_LEN];
    int rc = join(path, dir, name, err, errlen);
    if (rc == 0 && json_object_to_file_ext(path, o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED
                                           | JSON_C_TO_STRING_NOSLASHESCAPE) != 0) {
        fe_set_err(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        rc = -1;
    }
    json_object_put(o);
    return rc;
}

/* A float the way Python writes it: "1e-05", "10000.0". */
static json_object *new_float(double v)
{
    char text[40];
    if (v == (double)(int64_t)v && fabs(v) < 1e15) {
        snprintf(text, sizeof text, "%.1f", v);
    } else {
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(text, sizeof text, "%.*g", prec, v);
            if (strtod(text, NULL) == v) break;
        }
    }
    return json_object_new_double_s(v, text);
}

static void add_int(json_object *o, const char *key, int64_t v)
{
    json_object_object_add(o, key, json_object_new_int64(v));
}

static void add_str(json_object *o, const char *key, const char *v)
{
    json_object_object_add(o, key, json_object_new_string(v));
}

/* config.json, keys in sorted order as Hugging Face writes them. */
static int write_config(const char *dir, const Model *m, const FeSynthOpts *o, char *err, size_t errlen)
{
    const Preset *p = m->p;
    json_object *c = json_object_new_object();
    json_object *arch = json_object_new_array();
    json_object_array_add(arch, json_object_new_string(p->arch_class));
    json_object_object_add(c, "architectures", arch);
    if (strcmp(p->model_type, "llama") == 0)
        json_object_object_add(c, "attention_bias", json_object_new_boolean(0));
    add_int(c, "bos_token_id", 1);
    if (!o->old_keys) add_str(c, "dtype", dtype_hf_name(m->dtype));
    add_int(c, "eos_token_id", 2);
    if (m->explicit_head_dim) add_int(c, "head_dim", m->head_dim);
    add_str(c, "hidden_act", "silu");
    add_int(c, "hidden_size", p->hidden);
    add_int(c, "intermediate_size", p->ffn);
    add_int(c, "max_position_embeddings", p->ctx);
    add_str(c, "model_type", p->model_type);
    add_int(c, "num_attention_heads", p->heads);
    add_int(c, "num_hidden_layers", p->layers);
    add_int(c, "num_key_value_heads", p->kv_heads);
    json_object_object_add(c, "rms_norm_eps", new_float(p->eps));
    if (o->old_keys) {
        json_object_object_add(c, "rope_theta", new_float(p->theta));
    } else {
        json_object *rope = json_object_new_object();
        json_object_object_add(rope, "rope_theta", new_float(p->theta));
        add_str(rope, "rope_type", "default");
        json_object_object_add(c, "rope_parameters", rope);
    }
    json_object_object_add(c, "tie_word_embeddings", json_object_new_boolean(m->tied));
    if (o->old_keys) add_str(c, "torch_dtype", dtype_hf_name(m->dtype));
    add_int(c, "vocab_size", p->vocab);
    return write_json(dir, "config.json", c, err, errlen);
}

static int write_generation_config(const char *dir, char *err, size_t errlen)
{
    json_object *c = json_object_new_object();
    add_int(c, "bos_token_id", 1);
    add_int(c, "eos_token_id", 2);
    return write_json(dir, "generation_config.json", c, err, errlen);
}

static void shard_name(char *out, size_t len, int shard, int shards)
{
    if (shards == 1) snprintf(out, len, "model.safetensors");
    else snprintf(out, len, "model-%05d-of-%05d.safetensors", shard + 1, shards);
}

static int write_index(const char *dir, const Model *m, int shards, char *err, size_t errlen)
{
    json_object *root = json_object_new_object();
    json_object *meta = json_object_new_object();
    json_object *map = json_object_new_object();
    uint64_t total = 0;
    char file[64];
    for (int i = 0; i < m->n; i++) {
        total += tensor_bytes(m, i);
        shard_name(file, sizeof file, m->shard[i], shards);
        json_object_object_add(map, m->t[i].name, json_object_new_string(file));
    }
    add_int(meta, "total_size", (int64_t)total);
    json_object_object_add(root, "metadata", meta);
    json_object_object_add(root, "weight_map", map);
    return write_json(dir, "model.safetensors.index.json", root, err, errlen);
}

/* ---- generating the data ---- */

static double seconds_since(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) * 1e-9;
}

/* One progress line, rewritten in place, on a terminal only (not into
 * logs or pipes). */
static void progress(Gen *g, int last)
{
    if (!isatty(fileno(stderr)) || (!last && seconds_since(&g->last) < 0.5)) return;
    clock_gettime(CLOCK_MONOTONIC, &g->last);
    double mb = (double)g->written / 1e6;
    if (mb >= 1000) fprintf(stderr, "\rsynth: %d/%d tensors, %.1f GB", g->done, g->total, mb / 1e3);
    else fprintf(stderr, "\rsynth: %d/%d tensors, %.1f MB", g->done, g->total, mb);
    if (last) fputc('\n', stderr);
}

static int write_tensor(FILE *f, const char *path, const Model *m, int i, Gen *g, char *err, size_t errlen)
{
    int64_t left = numel(&m->t[i]);
    size_t size = (size_t)dtype_size(m->dtype);
    while (left > 0) {
        int64_t n = left < CHUNK ? left : CHUNK;
        draw(g, m->init[i], g->vals, n);
        encode(g->vals, n, m->dtype, g->bytes);
        if (fwrite(g->bytes, size, (size_t)n, f) != (size_t)n) {
            fe_set_err(err, errlen, "%s: cannot write: %s", path, strerror(errno));
            return -1;
        }
        left -= n;
        g->written += (uint64_t)n * size;
        progress(g, 0);
    }
    g->done++;
    return 0;
}

static int write_shard(const char *dir, const Model *m, int shard, int shards, Gen *g,
                       char *err, size_t errlen)
{
    char name[64], path[FE_PATH_LEN];
    shard_name(name, sizeof name, shard, shards);
    if (join(path, dir, name, err, errlen) != 0) return -1;
    int first = 0, n = 0;
    while (m->shard[first] != shard) first++;
    while (first + n < m->n && m->shard[first + n] == shard) n++;
    FILE *f = fopen(path, "wb");
    if (!f) {
        fe_set_err(err, errlen, "%s: cannot create: %s", path, strerror(errno));
        return -1;
    }
    int rc = fe_safetensors_write_header(f, path, &m->t[first], n, err, errlen);
    for (int i = first; rc == 0 && i < first + n; i++) rc = write_tensor(f, path, m, i, g, err, errlen);
    if (fclose(f) != 0 && rc == 0) {
        fe_set_err(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        rc = -1;
    }
    return rc;
}

/* Removes a file of the other layout left by an earlier run, which the
 * reader would otherwise pick up (the index wins over model.safetensors). */
/* Files of an earlier synth into dir that this one would not overwrite. */
static int remove_stale(const char *dir, int shards, int tokenizer, char *err, size_t errlen)
{
    const char *stale[] = {shards > 1 ? "model.safetensors" : "model.safetensors.index.json",
                           tokenizer ? NULL : "tokenizer.json", tokenizer ? NULL : "tokenizer_config.json"};
    for (int i = 0; i < 3; i++) {
        char path[FE_PATH_LEN];
        if (!stale[i]) continue;
        if (join(path, dir, stale[i], err, errlen) != 0) return -1;
        if (unlink(path) != 0 && errno != ENOENT) {
            fe_set_err(err, errlen, "%s: cannot remove: %s", path, strerror(errno));
            return -1;
        }
    }
    return 0;
}

static int write_weights(const char *dir, const Model *m, uint64_t seed, int shards, char *err, size_t errlen)
{
    Gen g = {.total = m->n};
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) g.s[i] = splitmix64(&x);
    g.vals = malloc(CHUNK * sizeof *g.vals);
    g.bytes = malloc(CHUNK * 4);
    clock_gettime(CLOCK_MONOTONIC, &g.last);
    int rc = 0;
    for (int s = 0; rc == 0 && s < shards; s++) rc = write_shard(dir, m, s, shards, &g, err, errlen);
    if (rc == 0) progress(&g, 1);
    free(g.vals);
    free(g.bytes);
    return rc;
}

int fe_synth(const char *outdir, const FeSynthOpts *o, char *err, size_t errlen)
{
    Model *m = calloc(1, sizeof *m);
    int shards = o->shards > 1 ? o->shards : 1;
    int rc = resolve(m, o, err, errlen);
    if (rc == 0) rc = mkdir_p(outdir, err, errlen);
    if (rc == 0) rc = remove_stale(outdir, shards, o->tokenizer_text && !o->config_only, err, errlen);
    if (rc == 0) rc = write_config(outdir, m, o, err, errlen);
    if (rc == 0) rc = write_generation_config(outdir, err, errlen);
    if (rc == 0 && shards > 1 && !o->config_only) rc = write_index(outdir, m, shards, err, errlen);
    if (rc == 0 && o->tokenizer_text && !o->config_only)
        rc = fe_synth_tokenizer(outdir, o->tokenizer_text, m->p->vocab, 1, 2, err, errlen);
    if (rc == 0 && !o->config_only) rc = write_weights(outdir, m, o->seed, shards, err, errlen);
    free(m);
    return rc;
}
