/* fe_gguf_model.c: a GGUF model file as the rest of hetc sees a Hugging
 * Face model: a config (config.json's keys, built from the metadata) and
 * weights under Hugging Face tensor names.
 *
 * Families: general.architecture "llama" (Llama 1-3, TinyLlama, SmolLM,
 * Mistral, whose GGUFs say llama too) and "qwen2". The metadata keys are
 * llama.cpp's ({arch}.embedding_length, {arch}.attention.head_count, ...);
 * vocab_size is the embedding's row count, tie_word_embeddings the absence
 * of output.weight, attention_bias the presence of attn_q.bias.
 *
 * Tensors: GGUF gives dims fastest-varying first, so a [rows, cols]
 * matrix is stored as dims {cols, rows}; shapes here are Hugging Face's.
 * llama.cpp's converter permutes the rows of a llama model's q and k
 * projections (weights and biases) within each head from rotate-half
 * order (the first half of a head's dims, then the second) to interleaved
 * pairs; hetc's RoPE is rotate-half, so those tensors are copied back into
 * memory: row h*hd + i*hd/2 + j of the model is row h*hd + 2*j + i of the
 * file. Rows are whole blocks in every block type, so a permuted copy
 * stays in its type. Everything else points into the mapped file.
 */
#include "fe.h"

#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ggml type id -> IrDtype, -1 where hetc has no such dtype. */
static int ir_dtype_of_ggml(uint32_t t)
{
    switch (t) {
    case 0: return IR_F32;
    case 1: return IR_F16;
    case 2: return IR_Q4_0;
    case 3: return IR_Q4_1;
    case 6: return IR_Q5_0;
    case 7: return IR_Q5_1;
    case 8: return IR_Q8_0;
    case 10: return IR_Q2_K;
    case 11: return IR_Q3_K;
    case 12: return IR_Q4_K;
    case 13: return IR_Q5_K;
    case 14: return IR_Q6_K;
    case 30: return IR_BF16;
    default: return -1;
    }
}

/* GGUF tensor name -> Hugging Face name; layer tensors are "blk.N.<gguf>". */
static const struct {
    const char *gguf, *hf;
} global_names[] = {
    {"token_embd.weight", "model.embed_tokens.weight"},
    {"output_norm.weight", "model.norm.weight"},
    {"output.weight", "lm_head.weight"},
}, layer_names[] = {
    {"attn_norm.weight", "input_layernorm.weight"},
    {"attn_q.weight", "self_attn.q_proj.weight"},
    {"attn_q.bias", "self_attn.q_proj.bias"},
    {"attn_k.weight", "self_attn.k_proj.weight"},
    {"attn_k.bias", "self_attn.k_proj.bias"},
    {"attn_v.weight", "self_attn.v_proj.weight"},
    {"attn_v.bias", "self_attn.v_proj.bias"},
    {"attn_output.weight", "self_attn.o_proj.weight"},
    {"attn_output.bias", "self_attn.o_proj.bias"},
    {"ffn_norm.weight", "post_attention_layernorm.weight"},
    {"ffn_gate.weight", "mlp.gate_proj.weight"},
    {"ffn_up.weight", "mlp.up_proj.weight"},
    {"ffn_down.weight", "mlp.down_proj.weight"},
};

/* The families: general.architecture and the Hugging Face class. */
static const struct {
    const char *arch, *hf_class;
    int permuted_qk;            /* llama.cpp's converter permutes q/k rows */
} families[] = {
    {"llama", "LlamaForCausalLM", 1},
    {"qwen2", "Qwen2ForCausalLM", 0},
};

typedef struct {
    const FeGguf *g;
    const char *arch;           /* general.architecture */
    json_object *cfg;
    char *err;
    size_t errlen;
} Conv;

static int fail_key(Conv *c, const char *key, const char *msg)
{
    fe_set_err(c->err, c->errlen, "%s: key '%s': %s", c->g->path, key, msg);
    return -1;
}

/* {arch}.suffix as an integer into config key hf (required: absent is an error). */
static int int_key(Conv *c, const char *suffix, const char *hf, int required, int64_t lo)
{
    char key[160];
    int64_t v;
    snprintf(key, sizeof key, "%s.%s", c->arch, suffix);
    int rc = fe_gguf_int(c->g, key, &v, c->err, c->errlen);
    if (rc < 0) return -1;
    if (rc == 0) return required ? fail_key(c, key, "missing (a model's shape needs it)") : 0;
    if (v < lo || v > INT32_MAX) {
        char msg[96];
        snprintf(msg, sizeof msg, "%lld is not in %lld..%d", (long long)v, (long long)lo, INT32_MAX);
        return fail_key(c, key, msg);
    }
    json_object_object_add(c->cfg, hf, json_object_new_int64(v));
    return 0;
}

static int float_key(Conv *c, const char *suffix, const char *hf)
{
    char key[160];
    double v;
    snprintf(key, sizeof key, "%s.%s", c->arch, suffix);
    int rc = fe_gguf_float(c->g, key, &v, c->err, c->errlen);
    if (rc < 0) return -1;
    if (rc == 0) return 0;
    if (!(v > 0) || v > 1e12) return fail_key(c, key, "not a positive number");
    json_object_object_add(c->cfg, hf, json_object_new_double(v));
    return 0;
}

static int64_t cfg_int(json_object *cfg, const char *key, int64_t dflt)
{
    json_object *v;
    return json_object_object_get_ex(cfg, key, &v) ? json_object_get_int64(v) : dflt;
}

/* The factor of frequency i (wavelength w) under llama3 RoPE scaling. */
static double llama3_factor(double w, double factor, double low, double high, double orig)
{
    if (w < orig / high) return 1;
    if (w > orig / low) return factor;
    double smooth = (orig / w - low) / (high - low);
    return 1 / ((1 - smooth) / factor + smooth);
}

/* Llama 3's RoPE scaling from llama.cpp's rope_freqs.weight (the factor
 * each frequency is divided by). The converter computes the factors from
 * factor, low_freq_factor, high_freq_factor and the original context; it
 * keeps only the factors, so the parameters are recovered here: factor is
 * the largest, low and high are Llama 3's 1 and 4, and the original
 * context follows from a factor between 1 and factor (or, with none, from
 * where the factors step). Every factor must then come out as stored. */
static int llama3_rope(Conv *c, const FeGgufTensor *t, int64_t head_dim)
{
    const char *name = "rope_freqs.weight";
    int64_t half = head_dim / 2;
    if (t->type != 0 || t->ndim != 1 || t->dims[0] != half) {
        fe_set_err(c->err, c->errlen, "%s: tensor '%s': expected %lld f32 values (one per rotated pair)", c->g->path,
                   name, (long long)half);
        return -1;
    }
    json_object *v;
    double theta = json_object_object_get_ex(c->cfg, "rope_theta", &v) ? json_object_get_double(v) : 10000;
    float f[4096];      /* the file's alignment may leave the data unaligned for floats */
    if (half > 4096) {
        fe_set_err(c->err, c->errlen, "%s: tensor '%s': %lld factors (at most 4096)", c->g->path, name, (long long)half);
        return -1;
    }
    memcpy(f, t->data, (size_t)half * sizeof *f);
    double factor = 1, orig = 0, lo_orig = 0, hi_orig = 1e30;
    int mid = 0;
    for (int64_t i = 0; i < half; i++) factor = f[i] > factor ? f[i] : factor;
    for (int64_t i = 0; i < half; i++) {
        double w = 2 * M_PI / (float)(1.0 / pow(theta, (double)(2 * i) / (double)head_dim));
        if (f[i] <= 1 + 1e-6) lo_orig = 4 * w > lo_orig ? 4 * w : lo_orig;   /* w < orig / 4 */
        else if (f[i] >= factor * (1 - 1e-6)) hi_orig = w < hi_orig ? w : hi_orig;  /* w > orig */
        else {
            double smooth = (1 / f[i] - 1 / factor) / (1 - 1 / factor);
            orig += w * (1 + 3 * smooth);
            mid++;
        }
    }
    if (factor == 1) return 0;
    orig = mid ? round(orig / mid) : floor((lo_orig + hi_orig) / 2);
    int ok = orig >= 1 && orig <= INT32_MAX;
    for (int64_t i = 0; ok && i < half; i++) {
        double w = 2 * M_PI / (float)(1.0 / pow(theta, (double)(2 * i) / (double)head_dim));
        ok = fabs(llama3_factor(w, factor, 1, 4, orig) - f[i]) <= 1e-4 * f[i];
    }
    if (!ok) {
        fe_set_err(c->err, c->errlen, "%s: tensor '%s': the factors are not Llama 3's RoPE scaling (low_freq_factor "
                   "1, high_freq_factor 4)", c->g->path, name);
        return -1;
    }
    json_object *s = json_object_new_object();
    json_object_object_add(s, "rope_type", json_object_new_string("llama3"));
    json_object_object_add(s, "factor", json_object_new_double(factor));
    json_object_object_add(s, "low_freq_factor", json_object_new_double(1));
    json_object_object_add(s, "high_freq_factor", json_object_new_double(4));
    json_object_object_add(s, "original_max_position_embeddings", json_object_new_int64((int64_t)orig));
    json_object_object_add(c->cfg, "rope_scaling", s);
    return 0;
}

/* RoPE: the full head rotated; no scaling, linear scaling, or Llama 3's
 * (rope_freqs.weight). */
static int rope_keys(Conv *c, int64_t head_dim)
{
    char key[160];
    int64_t v;
    snprintf(key, sizeof key, "%s.rope.dimension_count", c->arch);
    int rc = fe_gguf_int(c->g, key, &v, c->err, c->errlen);
    if (rc < 0) return -1;
    if (rc && v != head_dim) {
        char msg[128];
        snprintf(msg, sizeof msg, "%lld, but the head has %lld dims (partial rotary is not supported)",
                 (long long)v, (long long)head_dim);
        return fail_key(c, key, msg);
    }
    if (float_key(c, "rope.freq_base", "rope_theta")) return -1;
    const FeGgufTensor *freqs = fe_gguf_tensor(c->g, "rope_freqs.weight");
    if (freqs) return llama3_rope(c, freqs, head_dim);
    const FeStr *type;
    snprintf(key, sizeof key, "%s.rope.scaling.type", c->arch);
    if ((rc = fe_gguf_str(c->g, key, &type, c->err, c->errlen)) < 0) return -1;
    if (rc == 0 || (type->len == 4 && memcmp(type->s, "none", 4) == 0)) return 0;
    if (!(type->len == 6 && memcmp(type->s, "linear", 6) == 0))
        return fail_key(c, key, "only none and linear RoPE scaling are supported");
    double factor = 1;
    snprintf(key, sizeof key, "%s.rope.scaling.factor", c->arch);
    if ((rc = fe_gguf_float(c->g, key, &factor, c->err, c->errlen)) < 0) return -1;
    if (rc == 0 || !(factor >= 1)) return fail_key(c, key, "linear RoPE scaling needs a factor of at least 1");
    json_object *s = json_object_new_object();
    json_object_object_add(s, "rope_type", json_object_new_string("linear"));
    json_object_object_add(s, "factor", json_object_new_double(factor));
    json_object_object_add(c->cfg, "rope_scaling", s);
    return 0;
}

static int token_id_key(Conv *c, const char *key, const char *hf)
{
    int64_t v;
    int rc = fe_gguf_int(c->g, key, &v, c->err, c->errlen);
    if (rc > 0 && v >= 0 && v <= INT32_MAX) json_object_object_add(c->cfg, hf, json_object_new_int64(v));
    return rc < 0 ? -1 : 0;
}

/* The Hugging Face config of g's metadata; *permuted: q/k rows permuted. */
static json_object *config_of(const FeGguf *g, int *permuted, char *err, size_t errlen)
{
    const FeStr *arch;
    int rc = fe_gguf_str(g, "general.architecture", &arch, err, errlen);
    if (rc <= 0) {
        if (rc == 0) fe_set_err(err, errlen, "%s: key 'general.architecture': missing (not a model file?)", g->path);
        return NULL;
    }
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)(arch->len < 60 ? arch->len : 60), arch->s);
    int fam = -1;
    for (int i = 0; i < (int)(sizeof families / sizeof families[0]); i++)
        if (strcmp(families[i].arch, name) == 0) fam = i;
    if (fam < 0) {
        fe_set_err(err, errlen, "%s: key 'general.architecture': '%s' is not supported (llama, qwen2; Mistral's "
                   "GGUF files say llama)", g->path, name);
        return NULL;
    }
    *permuted = families[fam].permuted_qk;
    Conv c = {.g = g, .arch = families[fam].arch, .cfg = json_object_new_object(), .err = err, .errlen = errlen};
    json_object *classes = json_object_new_array();
    json_object_array_add(classes, json_object_new_string(families[fam].hf_class));
    json_object_object_add(c.cfg, "architectures", classes);
    json_object_object_add(c.cfg, "model_type", json_object_new_string(families[fam].arch));
    json_object_object_add(c.cfg, "hidden_act", json_object_new_string("silu"));
    const FeGgufTensor *embd = fe_gguf_tensor(g, "token_embd.weight");
    if (!embd || embd->ndim != 2) {
        fe_set_err(err, errlen, "%s: tensor 'token_embd.weight': %s", g->path, embd ? "not a matrix" : "missing");
        json_object_put(c.cfg);
        return NULL;
    }
    json_object_object_add(c.cfg, "vocab_size", json_object_new_int64(embd->dims[1]));
    json_object_object_add(c.cfg, "tie_word_embeddings", json_object_new_boolean(!fe_gguf_tensor(g, "output.weight")));
    if (*permuted)
        json_object_object_add(c.cfg, "attention_bias", json_object_new_boolean(fe_gguf_tensor(g, "blk.0.attn_q.bias") != NULL));
    int bad = int_key(&c, "embedding_length", "hidden_size", 1, 1) || int_key(&c, "block_count", "num_hidden_layers", 1, 1)
              || int_key(&c, "feed_forward_length", "intermediate_size", 1, 1)
              || int_key(&c, "attention.head_count", "num_attention_heads", 1, 1)
              || int_key(&c, "attention.head_count_kv", "num_key_value_heads", 0, 1)
              || int_key(&c, "attention.key_length", "head_dim", 0, 2)
              || int_key(&c, "context_length", "max_position_embeddings", 0, 1)
              || float_key(&c, "attention.layer_norm_rms_epsilon", "rms_norm_eps");
    if (!bad) {
        int64_t heads = cfg_int(c.cfg, "num_attention_heads", 1);
        int64_t head_dim = cfg_int(c.cfg, "head_dim", cfg_int(c.cfg, "hidden_size", 0) / heads);
        int64_t vlen = head_dim;
        char key[160];
        snprintf(key, sizeof key, "%s.attention.value_length", c.arch);
        rc = fe_gguf_int(g, key, &vlen, err, errlen);
        if (rc < 0) bad = 1;
        else if (vlen != head_dim) bad = fail_key(&c, key, "differs from the key length (not supported)") != 0;
        bad = bad || rope_keys(&c, head_dim) || token_id_key(&c, "tokenizer.ggml.bos_token_id", "bos_token_id")
              || token_id_key(&c, "tokenizer.ggml.eos_token_id", "eos_token_id");
    }
    if (bad) {
        json_object_put(c.cfg);
        return NULL;
    }
    return c.cfg;
}

/* The Hugging Face name of GGUF tensor gname into hf; *layer gets its
 * layer (-1 for a global tensor). 0 if the name is not of the layout. */
static int hf_name(const char *gname, int64_t nlayers, char hf[IR_NAME_LEN], int *layer)
{
    *layer = -1;
    for (size_t i = 0; i < sizeof global_names / sizeof global_names[0]; i++)
        if (strcmp(gname, global_names[i].gguf) == 0) return snprintf(hf, IR_NAME_LEN, "%s", global_names[i].hf), 1;
    int n = 0;
    long l;
    if (sscanf(gname, "blk.%ld.%n", &l, &n) != 1 || n == 0 || l < 0 || l >= nlayers) return 0;
    for (size_t i = 0; i < sizeof layer_names / sizeof layer_names[0]; i++)
        if (strcmp(gname + n, layer_names[i].gguf) == 0) {
            *layer = (int)l;
            snprintf(hf, IR_NAME_LEN, "model.layers.%ld.%s", l, layer_names[i].hf);
            return 1;
        }
    return 0;
}

/* A copy of t's rows in rotate-half order; heads: of q or of k. */
static void *unpermute(const FeTensor *t, int64_t heads)
{
    int64_t rows = t->shape[0], hd = rows / heads;
    size_t row_bytes = (size_t)(t->nbytes / (uint64_t)rows);
    unsigned char *out = malloc(t->nbytes ? t->nbytes : 1);
    if (!out) return NULL;
    const unsigned char *in = t->data;
    for (int64_t h = 0; h < heads; h++)
        for (int64_t i = 0; i < 2; i++)
            for (int64_t j = 0; j < hd / 2; j++)
                memcpy(out + (size_t)(h * hd + i * hd / 2 + j) * row_bytes, in + (size_t)(h * hd + 2 * j + i) * row_bytes,
                       row_bytes);
    return out;
}

/* Sets t from GGUF tensor gt (file 0 of w); 0 or an error. */
static int tensor_of(const FeGguf *g, const FeGgufTensor *gt, const char *hf, FeTensor *t, char *err, size_t errlen)
{
    int dt = ir_dtype_of_ggml(gt->type);
    if (dt < 0) {
        fe_set_err(err, errlen, "%s: tensor '%s': type %s is not supported (F32, F16, BF16, Q8_0, Q4_0, Q4_1, "
                   "Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K)", g->path, gt->name, fe_ggml_type_name(gt->type));
        return -1;
    }
    if (gt->ndim < 1 || gt->ndim > 2) {
        fe_set_err(err, errlen, "%s: tensor '%s': %d dims (a vector or a matrix expected)", g->path, gt->name, gt->ndim);
        return -1;
    }
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", hf);
    snprintf(t->src, sizeof t->src, "%s", gt->name);
    t->dtype = (IrDtype)dt;
    t->ndim = gt->ndim;
    for (int d = 0; d < gt->ndim; d++) t->shape[d] = gt->dims[gt->ndim - 1 - d];
    t->data = gt->data;
    t->nbytes = gt->nbytes;
    return 0;
}

int fe_gguf_model_open(const char *path, FeConfig **config, FeWeights *w, char *err, size_t errlen)
{
    FeGguf g;
    memset(w, 0, sizeof *w);
    *config = NULL;
    if (fe_gguf_open(&g, path, err, errlen)) return -1;
    int permuted = 0;
    json_object *cfg = config_of(&g, &permuted, err, errlen);
    if (!cfg) {
        fe_gguf_close(&g);
        return -1;
    }
    int64_t layers = cfg_int(cfg, "num_hidden_layers", 0), heads = cfg_int(cfg, "num_attention_heads", 1);
    int64_t kv = cfg_int(cfg, "num_key_value_heads", heads);
    w->files = calloc(1, sizeof *w->files);
    w->tensors = calloc(g.ntensors + 1, sizeof *w->tensors);
    w->owned = calloc(4 * (size_t)layers + 1, sizeof *w->owned);    /* q and k, weights and biases */
    int rc = w->files && w->tensors && w->owned ? 0 : -1;
    if (rc) fe_set_err(err, errlen, "%s: out of memory", path);
    else {
        snprintf(w->files[0].path, sizeof w->files[0].path, "%s", path);
        w->nfiles = 1;
    }
    for (size_t i = 0; !rc && i < g.ntensors; i++) {
        const FeGgufTensor *gt = &g.tensors[i];
        char hf[IR_NAME_LEN];
        int layer;
        if (strcmp(gt->name, "rope_freqs.weight") == 0) continue;     /* read into the config */
        if (!hf_name(gt->name, layers, hf, &layer)) {
            fe_set_err(err, errlen, "%s: tensor '%s': not a tensor of the %s layout (token_embd, output_norm, output, "
                       "blk.N.attn_*, blk.N.ffn_*; N < %lld)", path, gt->name, permuted ? "llama" : "qwen2",
                       (long long)layers);
            rc = -1;
            break;
        }
        FeTensor *t = &w->tensors[w->ntensors];
        if ((rc = tensor_of(&g, gt, hf, t, err, errlen))) break;
        w->ntensors++;
        int is_q = strstr(hf, ".q_proj.") != NULL, is_k = strstr(hf, ".k_proj.") != NULL;
        if (!permuted || !(is_q || is_k)) continue;
        int64_t h = is_q ? heads : kv;
        if (h <= 0 || t->shape[0] <= 0 || t->shape[0] % (2 * h)) {
            fe_set_err(err, errlen, "%s: tensor '%s': %lld rows are not %lld heads of an even size", path, gt->name,
                       (long long)t->shape[0], (long long)h);
            rc = -1;
            break;
        }
        void *copy = unpermute(t, h);
        if (!copy) {
            fe_set_err(err, errlen, "%s: tensor '%s': out of memory", path, gt->name);
            rc = -1;
            break;
        }
        if (w->nowned == 4 * layers) IR_BUG("more q/k tensors than layers");
        w->owned[w->nowned++] = copy;
        t->data = copy;
        t->in_memory = 1;
    }
    if (!rc) rc = fe_weights_sort(w, err, errlen);
    if (!rc && !(*config = fe_config_adopt(cfg, path))) {
        fe_set_err(err, errlen, "%s: out of memory", path);
        rc = -1;
    }
    cfg = rc ? cfg : NULL;
    if (!rc) {      /* the weights own the map from here on */
        w->files[0].map = g.map;
        w->files[0].size = g.size;
        g.map = NULL;
    }
    fe_gguf_close(&g);
    if (cfg) json_object_put(cfg);
    if (rc) fe_weights_free(w);
    return rc;
}
