/*
 * bert.c — BERT / XLM-R weights and forward pass (post-LN):
 *   x = LN(word[id] + pos[offset + i] + type[0])
 *   per layer: x = LN(x + Wo·attn(Wq·x, Wk·x, Wv·x)); x = LN(x + W2·gelu(W1·x))
 */
#include "engine/nn/bert.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "engine/base/mem.h"
#include "engine/nn/json_file.h"
#include "engine/nn/safetensors.h"

#ifdef _OPENMP
#include <omp.h>
#endif

typedef struct linear {
    const float *w, *b; /* w [out, in], b [out] */
    int out, in;
    int8_t *qw;         /* [out, in] int8, after rg_bert_quantize */
    float *qs;          /* [out] scale of each row of qw */
    int32_t *qsum;      /* [out] sum of each row of qw */
} linear;

typedef struct layer {
    linear q, k, v, o, up, down;
    const float *ln1_g, *ln1_b, *ln2_g, *ln2_b; /* [hidden] */
} layer;

struct rg_bert {
    rg_bert_config cfg;
    rg_safetensors *st;
    const float *word;        /* [vocab, hidden] */
    const float *pos;         /* [max_positions, hidden] */
    const float *type;        /* [type_vocab, hidden] */
    const float *ln_g, *ln_b; /* [hidden] */
    layer *layers;            /* [layers] */
    int quantized;
};

struct rg_bert_ctx {
    int max_tokens, max_seq, threads;
    float *x, *tmp, *q, *k, *v, *att; /* [max_tokens, hidden] */
    float *up;                        /* [max_tokens, intermediate] */
    float *scores;                    /* [threads, max_seq, max_seq] */
    uint8_t *qa;                      /* [max_tokens, intermediate] */
    float *qa_scale;                  /* [max_tokens] */
    int32_t *qa_zero;                 /* [max_tokens] */
    int32_t *acc;                     /* [max_tokens, intermediate] */
};

/* ---- Loading ---- */

static int json_int(const cJSON *o, const char *key, int dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valueint : dflt;
}

static rg_status read_config(const char *dir, rg_bert_config *c, rg_error *err)
{
    cJSON *j;
    rg_status rc = rg_json_file_read(dir, "config.json", RG_BERT_CONFIG_MAX, &j, err);
    if (rc)
        return rc;
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(j, "model_type");
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(j, "hidden_act");
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(j, "layer_norm_eps");
    const char *type = cJSON_IsString(mt) ? mt->valuestring : "(none)";
    memset(c, 0, sizeof *c);
    if (strcmp(type, "bert") == 0) {
        c->position_offset = 0;
    } else if (strcmp(type, "xlm-roberta") == 0 || strcmp(type, "roberta") == 0) {
        c->position_offset = json_int(j, "pad_token_id", 1) + 1;
    } else {
        rc = rg_fail(err, RG_EUNSUPPORTED, "%s/config.json: model_type %s is not supported", dir, type);
        goto out;
    }
    if (!cJSON_IsString(act) || strcmp(act->valuestring, "gelu") != 0) {
        rc = rg_fail(err, RG_EUNSUPPORTED, "%s/config.json: hidden_act %s is not supported", dir,
                     cJSON_IsString(act) ? act->valuestring : "(none)");
        goto out;
    }
    c->vocab_size = json_int(j, "vocab_size", 0);
    c->hidden = json_int(j, "hidden_size", 0);
    c->layers = json_int(j, "num_hidden_layers", 0);
    c->heads = json_int(j, "num_attention_heads", 0);
    c->intermediate = json_int(j, "intermediate_size", 0);
    c->max_positions = json_int(j, "max_position_embeddings", 0);
    c->type_vocab = json_int(j, "type_vocab_size", 2);
    c->eps = cJSON_IsNumber(eps) ? (float)eps->valuedouble : 1e-12f;
    if (c->vocab_size <= 0 || c->hidden <= 0 || c->hidden > RG_BERT_MAX_HIDDEN || c->layers <= 0 ||
        c->layers > RG_BERT_MAX_LAYERS || c->heads <= 0 || c->hidden % c->heads != 0 ||
        c->intermediate <= 0 || c->intermediate > 8 * RG_BERT_MAX_HIDDEN ||
        c->max_positions <= c->position_offset || c->type_vocab <= 0)
        rc = rg_fail(err, RG_ECORRUPT, "%s/config.json: inconsistent sizes", dir);
out:
    cJSON_Delete(j);
    return rc;
}

/* Tensor prefix + name, checked to be f32-convertible with the given shape. */
static rg_status tensor(rg_bert *b, const char *prefix, const char *name, int64_t d0, int64_t d1,
                        const float **out, rg_error *err)
{
    char full[256];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    int64_t shape[2] = {d0, d1};
    return rg_safetensors_f32(b->st, full, d1 ? 2 : 1, shape, out, err);
}

static rg_status load_linear(rg_bert *b, const char *prefix, const char *name, int out, int in,
                             linear *l, rg_error *err)
{
    char w[200], bias[200];
    snprintf(w, sizeof w, "%s.weight", name);
    snprintf(bias, sizeof bias, "%s.bias", name);
    l->out = out;
    l->in = in;
    rg_status rc = tensor(b, prefix, w, out, in, &l->w, err);
    return rc ? rc : tensor(b, prefix, bias, out, 0, &l->b, err);
}

static rg_status load_layer(rg_bert *b, const char *prefix, int i, layer *L, rg_error *err)
{
    const rg_bert_config *c = &b->cfg;
    int H = c->hidden, I = c->intermediate;
    char p[160], n[200];
    snprintf(p, sizeof p, "%sencoder.layer.%d.", prefix, i);
    rg_status rc;
    if ((rc = load_linear(b, p, "attention.self.query", H, H, &L->q, err)) ||
        (rc = load_linear(b, p, "attention.self.key", H, H, &L->k, err)) ||
        (rc = load_linear(b, p, "attention.self.value", H, H, &L->v, err)) ||
        (rc = load_linear(b, p, "attention.output.dense", H, H, &L->o, err)) ||
        (rc = load_linear(b, p, "intermediate.dense", I, H, &L->up, err)) ||
        (rc = load_linear(b, p, "output.dense", H, I, &L->down, err)))
        return rc;
    snprintf(n, sizeof n, "%sattention.output.LayerNorm.", p);
    if ((rc = tensor(b, n, "weight", H, 0, &L->ln1_g, err)) ||
        (rc = tensor(b, n, "bias", H, 0, &L->ln1_b, err)))
        return rc;
    snprintf(n, sizeof n, "%soutput.LayerNorm.", p);
    if ((rc = tensor(b, n, "weight", H, 0, &L->ln2_g, err)) ||
        (rc = tensor(b, n, "bias", H, 0, &L->ln2_b, err)))
        return rc;
    return RG_OK;
}

static rg_status load_weights(rg_bert *b, rg_error *err)
{
    /* checkpoints saved from BertModel have no prefix; from task heads they do */
    static const char *prefixes[] = {"", "bert.", "roberta.", "model."};
    const char *prefix = NULL;
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0] && !prefix; i++) {
        char name[64];
        snprintf(name, sizeof name, "%sembeddings.word_embeddings.weight", prefixes[i]);
        if (rg_safetensors_find(b->st, name))
            prefix = prefixes[i];
    }
    if (!prefix)
        return rg_fail(err, RG_ECORRUPT, "model.safetensors has no embeddings.word_embeddings.weight");
    const rg_bert_config *c = &b->cfg;
    rg_status rc;
    if ((rc = tensor(b, prefix, "embeddings.word_embeddings.weight", c->vocab_size, c->hidden,
                     &b->word, err)) ||
        (rc = tensor(b, prefix, "embeddings.position_embeddings.weight", c->max_positions,
                     c->hidden, &b->pos, err)) ||
        (rc = tensor(b, prefix, "embeddings.token_type_embeddings.weight", c->type_vocab,
                     c->hidden, &b->type, err)) ||
        (rc = tensor(b, prefix, "embeddings.LayerNorm.weight", c->hidden, 0, &b->ln_g, err)) ||
        (rc = tensor(b, prefix, "embeddings.LayerNorm.bias", c->hidden, 0, &b->ln_b, err)))
        return rc;
    b->layers = rg_calloc((size_t)c->layers, sizeof *b->layers);
    if (!b->layers)
        return rg_fail(err, RG_ENOMEM, "out of memory");
    for (int i = 0; i < c->layers; i++)
        if ((rc = load_layer(b, prefix, i, &b->layers[i], err)))
            return rc;
    return RG_OK;
}

rg_status rg_bert_open(const char *dir, rg_bert **out, rg_error *err)
{
    *out = NULL;
    rg_bert *b = rg_calloc(1, sizeof *b);
    if (!b)
        return rg_fail(err, RG_ENOMEM, "out of memory");
    char path[4096];
    rg_status rc = read_config(dir, &b->cfg, err);
    if (rc)
        goto out;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if ((rc = rg_safetensors_open(path, &b->st, err)) || (rc = load_weights(b, err)))
        goto out;
out:
    if (rc) {
        rg_bert_close(b);
        return rc;
    }
    *out = b;
    return RG_OK;
}

static void free_quant(linear *l)
{
    rg_free(l->qw);
    rg_free(l->qs);
    rg_free(l->qsum);
    l->qw = NULL;
    l->qs = NULL;
    l->qsum = NULL;
}

void rg_bert_close(rg_bert *b)
{
    if (!b)
        return;
    if (b->layers)
        for (int i = 0; i < b->cfg.layers; i++) {
            layer *L = &b->layers[i];
            linear *ls[] = {&L->q, &L->k, &L->v, &L->o, &L->up, &L->down};
            for (size_t k = 0; k < 6; k++)
                free_quant(ls[k]);
        }
    rg_free(b->layers);
    rg_safetensors_close(b->st);
    rg_free(b);
}

const rg_bert_config *rg_bert_get_config(const rg_bert *b) { return &b->cfg; }

rg_status rg_bert_quantize(rg_bert *b, rg_error *err)
{
    if (b->quantized)
        return RG_OK;
    for (int i = 0; i < b->cfg.layers; i++) {
        layer *L = &b->layers[i];
        linear *ls[] = {&L->q, &L->k, &L->v, &L->o, &L->up};
        for (size_t k = 0; k < 5; k++) {
            linear *l = ls[k];
            l->qw = rg_malloc((size_t)l->out * (size_t)l->in);
            l->qs = rg_malloc((size_t)l->out * sizeof *l->qs);
            l->qsum = rg_malloc((size_t)l->out * sizeof *l->qsum);
            if (!l->qw || !l->qs || !l->qsum)
                return rg_fail(err, RG_ENOMEM, "out of memory quantising the model");
            rg_quantize_rows_s8(l->w, l->out, l->in, l->qw, l->qs, l->qsum);
        }
    }
    b->quantized = 1;
    return RG_OK;
}

/* ---- Context ---- */

void rg_bert_ctx_free(rg_bert_ctx *ctx)
{
    if (!ctx)
        return;
    float *fs[] = {ctx->x, ctx->tmp, ctx->q, ctx->k, ctx->v, ctx->att, ctx->up, ctx->scores,
                   ctx->qa_scale};
    for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++)
        rg_free(fs[i]);
    rg_free(ctx->qa);
    rg_free(ctx->qa_zero);
    rg_free(ctx->acc);
    rg_free(ctx);
}

rg_status rg_bert_ctx_new(const rg_bert *b, int max_tokens, int max_seq, rg_bert_ctx **out,
                          rg_error *err)
{
    *out = NULL;
    const rg_bert_config *c = &b->cfg;
    if (max_seq <= 0 || max_tokens < max_seq || max_seq > c->max_positions - c->position_offset)
        return rg_fail(err, RG_EINVAL, "encoder: bad context sizes (%d tokens, %d per sequence)",
                       max_tokens, max_seq);
    rg_bert_ctx *x = rg_calloc(1, sizeof *x);
    if (!x)
        return rg_fail(err, RG_ENOMEM, "out of memory");
    size_t T = (size_t)max_tokens, H = (size_t)c->hidden, I = (size_t)c->intermediate;
    x->max_tokens = max_tokens;
    x->max_seq = max_seq;
    x->threads = rg_kernels_threads();
    x->x = rg_malloc(T * H * sizeof(float));
    x->tmp = rg_malloc(T * H * sizeof(float));
    x->q = rg_malloc(T * H * sizeof(float));
    x->k = rg_malloc(T * H * sizeof(float));
    x->v = rg_malloc(T * H * sizeof(float));
    x->att = rg_malloc(T * H * sizeof(float));
    x->up = rg_malloc(T * I * sizeof(float));
    x->scores = rg_malloc((size_t)x->threads * (size_t)max_seq * (size_t)max_seq * sizeof(float));
    x->qa = rg_malloc(T * I);
    x->qa_scale = rg_malloc(T * sizeof(float));
    x->qa_zero = rg_malloc(T * sizeof(int32_t));
    x->acc = rg_malloc(T * I * sizeof(int32_t));
    if (!x->x || !x->tmp || !x->q || !x->k || !x->v || !x->att || !x->up || !x->scores || !x->qa ||
        !x->qa_scale || !x->qa_zero || !x->acc) {
        rg_bert_ctx_free(x);
        return rg_fail(err, RG_ENOMEM, "out of memory for encoder activations");
    }
    *out = x;
    return RG_OK;
}

/* ---- Forward ---- */

static void apply_linear(rg_bert_ctx *ctx, rg_gemm_backend be, int int8, const linear *l,
                         const float *in, int T, float *out)
{
    if (int8) {
        rg_quantize_rows_u8(in, T, l->in, rg_qgemm_act_max(be), ctx->qa, ctx->qa_scale, ctx->qa_zero);
        rg_qgemm(be, T, l->out, l->in, ctx->qa, ctx->qa_scale, ctx->qa_zero, l->qw, l->qs, l->qsum,
                 l->b, ctx->acc, out);
        return;
    }
    rg_sgemm(be, 1, T, l->out, l->in, in, l->in, l->w, l->in, 0.0f, out, l->out);
    rg_add_bias(out, T, l->out, l->b);
}

/* Self-attention of every (sequence, head) pair into ctx->att. */
static void attention(const rg_bert *b, rg_bert_ctx *ctx, rg_gemm_backend be, const int *lens,
                      const int *offs, int n)
{
    int H = b->cfg.hidden, heads = b->cfg.heads, dh = H / heads;
    int pairs = n * heads;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic) num_threads(ctx->threads) if (pairs > 1)
#endif
    for (int p = 0; p < pairs; p++) {
        int s = p / heads, h = p % heads, L = lens[s];
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        float *S = ctx->scores + (size_t)t * ctx->max_seq * ctx->max_seq;
        size_t base = (size_t)offs[s] * H + (size_t)h * dh;
        rg_sgemm(be, 1, L, L, dh, ctx->q + base, H, ctx->k + base, H, 0.0f, S, L);
        rg_softmax_rows(S, L, L, L);
        rg_sgemm(be, 0, L, dh, L, S, L, ctx->v + base, H, 0.0f, ctx->att + base, H);
    }
}

rg_status rg_bert_forward(const rg_bert *b, rg_bert_ctx *ctx, rg_gemm_backend be, int int8,
                          const int32_t *ids, const int *lens, int n, const float **hidden,
                          rg_error *err)
{
    const rg_bert_config *c = &b->cfg;
    int H = c->hidden;
    int offs_small[64];
    int *offs = n <= 64 ? offs_small : rg_malloc((size_t)n * sizeof *offs);
    if (!offs)
        return rg_fail(err, RG_ENOMEM, "out of memory");
    rg_status rc = RG_OK;
    int T = 0;
    for (int s = 0; s < n; s++) {
        if (lens[s] <= 0 || lens[s] > ctx->max_seq || T > ctx->max_tokens - lens[s]) {
            rc = rg_fail(err, RG_ELIMIT, "encoder: batch does not fit its context");
            goto out;
        }
        offs[s] = T;
        T += lens[s];
    }
    if (int8 && !b->quantized) {
        rc = rg_fail(err, RG_EINVAL, "encoder: int8 forward on a model that is not quantised");
        goto out;
    }
    /* embeddings */
    for (int s = 0; s < n; s++)
        for (int i = 0; i < lens[s]; i++) {
            int t = offs[s] + i;
            if (ids[t] < 0 || ids[t] >= c->vocab_size) {
                rc = rg_fail(err, RG_EINVAL, "encoder: token id %d out of range", (int)ids[t]);
                goto out;
            }
            const float *w = b->word + (size_t)ids[t] * H;
            const float *p = b->pos + (size_t)(c->position_offset + i) * H;
            float *x = ctx->x + (size_t)t * H;
            for (int d = 0; d < H; d++)
                x[d] = w[d] + p[d] + b->type[d];
        }
    rg_add_layernorm(ctx->x, NULL, T, H, b->ln_g, b->ln_b, c->eps);
    float scale = 1.0f / sqrtf((float)(H / c->heads));
    for (int l = 0; l < c->layers; l++) {
        const layer *L = &b->layers[l];
        apply_linear(ctx, be, int8, &L->q, ctx->x, T, ctx->q);
        apply_linear(ctx, be, int8, &L->k, ctx->x, T, ctx->k);
        apply_linear(ctx, be, int8, &L->v, ctx->x, T, ctx->v);
        for (size_t i = 0; i < (size_t)T * H; i++)
            ctx->q[i] *= scale;
        attention(b, ctx, be, lens, offs, n);
        apply_linear(ctx, be, int8, &L->o, ctx->att, T, ctx->tmp);
        rg_add_layernorm(ctx->x, ctx->tmp, T, H, L->ln1_g, L->ln1_b, c->eps);
        apply_linear(ctx, be, int8, &L->up, ctx->x, T, ctx->up);
        rg_gelu(ctx->up, (size_t)T * c->intermediate);
        /* the GELU output has a long positive tail and the product lands in the
         * residual stream: int8 here alone costs more accuracy than all the rest */
        apply_linear(ctx, be, 0, &L->down, ctx->up, T, ctx->tmp);
        rg_add_layernorm(ctx->x, ctx->tmp, T, H, L->ln2_g, L->ln2_b, c->eps);
    }
    *hidden = ctx->x;
out:
    if (offs != offs_small)
        rg_free(offs);
    return rc;
}
