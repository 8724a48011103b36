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
#include <sys/mman.h>
#include <unistd.h>

#include "engine/base/mem.h"
#include "engine/nn/gemm.h"
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
    rg_packed pf, pq;   /* packed fp32 / int8 forms (gemm.h), after rg_bert_pack */
    int mapped;         /* w points into the file mapping (not a converted copy) */
} linear;

typedef struct layer {
    linear q, k, v, o, up, down;
    linear qkv; /* packed only: q, k and v stacked [3 * hidden, hidden], one product */
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
    int packed[2];            /* rg_bert_pack done for fp32 [0] / int8 [1] */
    int int8_down;            /* FFN-down in int8 too (rg_bert_pack_options) */
};

struct rg_bert_ctx {
    int max_tokens, max_seq, threads;
    float *x, *tmp, *att;             /* [max_tokens, hidden] */
    float *qkv;                       /* [max_tokens, 3 * hidden]: q, k, v */
    float *up;                        /* [max_tokens, intermediate] */
    float *scores;                    /* [threads, per_thread]: attention scratch */
    size_t per_thread;
    uint8_t *qa;                      /* [max_tokens, intermediate] */
    float *qa_scale;                  /* [max_tokens] */
    int32_t *qa_zero;                 /* [max_tokens] */
    int32_t *acc;                     /* [max_tokens, intermediate], rg_qgemm only */
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
    if (rc)
        return rc;
    char full[256];
    snprintf(full, sizeof full, "%s%s", prefix, w);
    const rg_tensor_info *ti = rg_safetensors_find(b->st, full);
    l->mapped = ti && ti->data == (const void *)l->w;
    return tensor(b, prefix, bias, out, 0, &l->b, err);
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
    rg_packed_free(&l->pf);
    rg_packed_free(&l->pq);
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
            linear *ls[] = {&L->q, &L->k, &L->v, &L->o, &L->up, &L->down, &L->qkv};
            for (size_t k = 0; k < 7; k++)
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

/*
 * Drops the file pages of a weight now held packed: they would count in
 * RSS and are not read again (a later fault re-reads the file). Only for
 * weights inside the mapping; on a converted heap copy it would zero them.
 */
static void drop_pages(const linear *l)
{
    long pg = sysconf(_SC_PAGESIZE);
    if (!l->mapped || pg <= 0)
        return;
    uintptr_t p = (uintptr_t)l->w, n = (uintptr_t)l->out * (uintptr_t)l->in * sizeof(float);
    uintptr_t a = (p + (uintptr_t)pg - 1) & ~((uintptr_t)pg - 1), e = (p + n) & ~((uintptr_t)pg - 1);
    if (e > a)
        madvise((void *)a, e - a, MADV_DONTNEED);
}

void rg_bert_set_int8_down(rg_bert *b, int on) { b->int8_down = on != 0; }

/* q, k and v stacked into one [3 * hidden, hidden] matrix, packed. */
static int pack_qkv(layer *L, int int8)
{
    if (int8 ? L->qkv.pq.q != NULL : L->qkv.pf.f != NULL)
        return 0;
    int H = L->q.in;
    size_t hh = (size_t)H * H;
    float *w = rg_malloc(3 * hh * sizeof *w), *bias = rg_malloc(3 * (size_t)H * sizeof *bias);
    int rc = -1;
    if (w && bias) {
        const linear *src[] = {&L->q, &L->k, &L->v};
        for (int i = 0; i < 3; i++) {
            memcpy(w + i * hh, src[i]->w, hh * sizeof *w);
            memcpy(bias + i * H, src[i]->b, (size_t)H * sizeof *bias);
        }
        L->qkv.out = 3 * H;
        L->qkv.in = H;
        rc = int8 ? rg_pack_s8(&L->qkv.pq, w, bias, 3 * H, H) : rg_pack_f32(&L->qkv.pf, w, bias, 3 * H, H);
    }
    rg_free(w);
    rg_free(bias);
    return rc;
}

/* The packed form a forward pass uses for l (see layer_forward). */
static rg_packed *used_form(linear *l, int int8)
{
    return int8 && l->pq.q ? &l->pq : &l->pf;
}

/* Links each product to the one the forward pass runs next (gemm.h). */
static void chain_products(rg_bert *b, int int8)
{
    rg_packed *prev = NULL;
    for (int i = 0; i < b->cfg.layers; i++) {
        layer *L = &b->layers[i];
        rg_packed *seq[] = {used_form(&L->qkv, int8), used_form(&L->o, int8),
                            used_form(&L->up, int8), used_form(&L->down, int8)};
        for (size_t k = 0; k < 4; k++) {
            if (prev) rg_packed_chain(prev, seq[k]);
            prev = seq[k];
        }
    }
    if (prev) rg_packed_chain(prev, NULL);
}

static int pack_linear(linear *l, int int8)
{
    if (int8)
        return l->pq.q ? 0 : rg_pack_s8(&l->pq, l->w, l->b, l->out, l->in);
    return l->pf.f ? 0 : rg_pack_f32(&l->pf, l->w, l->b, l->out, l->in);
}

rg_status rg_bert_pack(rg_bert *b, int int8, rg_error *err)
{
    int s8 = int8 && rg_packed_fast_s8() && b->cfg.hidden % 4 == 0 && b->cfg.intermediate % 4 == 0;
    if (b->packed[int8 != 0])
        return RG_OK;
    if (int8 && !s8) /* AVX-512 without VNNI: rg_qgemm on row-major copies */
        return rg_bert_quantize(b, err);
    if (!int8 && !rg_packed_fast_f32())
        return RG_OK; /* the libraries' sgemm on the mapped weights */
    for (int i = 0; i < b->cfg.layers; i++) {
        layer *L = &b->layers[i];
        /* FFN-down stays fp32 in int8 mode unless asked (see layer_forward) */
        int down8 = int8 && b->int8_down;
        if (pack_qkv(L, int8) || pack_linear(&L->o, int8) || pack_linear(&L->up, int8) ||
            pack_linear(&L->down, down8))
            return rg_fail(err, RG_ENOMEM, "out of memory packing the model");
        linear *ls[] = {&L->q, &L->k, &L->v, &L->o, &L->up, &L->down};
        for (size_t k = 0; k < 6; k++)
            drop_pages(ls[k]);
    }
    chain_products(b, int8);
    if (int8)
        b->quantized = 1;
    b->packed[int8 != 0] = 1;
    return RG_OK;
}

/* ---- Context ---- */

void rg_bert_ctx_free(rg_bert_ctx *ctx)
{
    if (!ctx)
        return;
    float *fs[] = {ctx->x, ctx->tmp, ctx->qkv, ctx->att, ctx->up, ctx->scores, ctx->qa_scale};
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
    /* the larger of the library path's score matrix and rg_attention_head's scratch */
    x->per_thread = (size_t)max_seq * (size_t)max_seq;
    size_t fast = rg_attention_scratch(max_seq, c->hidden / c->heads);
    if (fast > x->per_thread)
        x->per_thread = fast;
    x->x = rg_malloc(T * H * sizeof(float));
    x->tmp = rg_malloc(T * H * sizeof(float));
    x->qkv = rg_malloc(3 * T * H * sizeof(float));
    x->att = rg_malloc(T * H * sizeof(float));
    x->up = rg_malloc(T * I * sizeof(float));
    x->scores = rg_malloc((size_t)x->threads * x->per_thread * sizeof(float));
    x->qa = rg_malloc(T * I);
    x->qa_scale = rg_malloc(T * sizeof(float));
    x->qa_zero = rg_malloc(T * sizeof(int32_t));
    /* rg_qgemm's int32 products: only when some layer is not packed for int8 */
    x->acc = b->quantized && !b->packed[1] ? rg_malloc(T * I * sizeof(int32_t)) : NULL;
    if (!x->x || !x->tmp || !x->qkv || !x->att || !x->up || !x->scores || !x->qa ||
        !x->qa_scale || !x->qa_zero || (b->quantized && !b->packed[1] && !x->acc)) {
        rg_bert_ctx_free(x);
        return rg_fail(err, RG_ENOMEM, "out of memory for encoder activations");
    }
    *out = x;
    return RG_OK;
}

/* ---- Forward ---- */

/*
 * out[T, l->out] = act(in · W^T + b) by the fastest form the layer has:
 * packed int8, row-major int8 through rg_qgemm, packed fp32, or the
 * library sgemm on the mapped weights. ldo is the row stride of out.
 */
static void apply_linear(rg_bert_ctx *ctx, rg_gemm_backend be, int int8, const linear *l,
                         const float *in, int T, float *out, int ldo, rg_act act)
{
    if (int8 && l->pq.q) {
        rg_quantize_rows_u8(in, T, l->in, 255, ctx->qa, ctx->qa_scale, ctx->qa_zero);
        rg_packed_qgemm(&l->pq, T, ctx->qa, l->in, ctx->qa_scale, ctx->qa_zero, out, ldo, act);
        return;
    }
    if (l->pf.f && be == RG_GEMM_NATIVE) {
        rg_packed_sgemm(&l->pf, T, in, l->in, out, ldo, act);
        return;
    }
    /* the unpacked paths write rows back to back */
    if (int8 && l->qw) {
        rg_quantize_rows_u8(in, T, l->in, rg_qgemm_act_max(be), ctx->qa, ctx->qa_scale, ctx->qa_zero);
        rg_qgemm(be, T, l->out, l->in, ctx->qa, ctx->qa_scale, ctx->qa_zero, l->qw, l->qs, l->qsum,
                 l->b, ctx->acc, out);
    } else {
        rg_sgemm(be, 1, T, l->out, l->in, in, l->in, l->w, l->in, 0.0f, out, l->out);
        rg_add_bias(out, T, l->out, l->b);
    }
    if (act == RG_ACT_GELU)
        rg_gelu(out, (size_t)T * l->out);
}

/*
 * Self-attention of every (sequence, head) pair into ctx->att; q, k, v rows
 * ld apart; bf16: the products in bf16 (rg_attention_head_bf16).
 */
static void attention(const rg_bert *b, rg_bert_ctx *ctx, rg_gemm_backend be, int bf16,
                      const float *q, const float *k, const float *v, int ld, const int *lens,
                      const int *offs, int n)
{
    int H = b->cfg.hidden, heads = b->cfg.heads, dh = H / heads;
    int pairs = n * heads;
    float scale = 1.0f / sqrtf((float)dh);
    /* The caller's thread count now (a short query runs on one), within the
     * scratch the context was made with: a team of two here for every
     * query stalled each layer whenever the other core was busy. */
    int nt = rg_kernels_threads();
    if (nt > ctx->threads) nt = ctx->threads;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic) num_threads(nt) if (pairs > 1 && nt > 1)
#endif
    for (int p = 0; p < pairs; p++) {
        int s = p / heads, h = p % heads, L = lens[s];
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        float *S = ctx->scores + (size_t)t * ctx->per_thread;
        size_t in = (size_t)offs[s] * ld + (size_t)h * dh, o = (size_t)offs[s] * H + (size_t)h * dh;
        if (be == RG_GEMM_NATIVE) {
            (bf16 ? rg_attention_head_bf16 : rg_attention_head)(q + in, k + in, v + in, ld, L, dh,
                                                                scale, ctx->att + o, H, S);
            continue;
        }
        rg_sgemm(be, 1, L, L, dh, q + in, ld, k + in, ld, 0.0f, S, L);
        for (int i = 0; i < L * L; i++)
            S[i] *= scale;
        rg_softmax_rows(S, L, L, L);
        rg_sgemm(be, 0, L, dh, L, S, L, v + in, ld, 0.0f, ctx->att + o, H);
    }
}

static void embed(const rg_bert *b, rg_bert_ctx *ctx, const int32_t *ids, const int *lens,
                  const int *offs, int n)
{
    const rg_bert_config *c = &b->cfg;
    int H = c->hidden;
    for (int s = 0; s < n; s++)
        for (int i = 0; i < lens[s]; i++) {
            int t = offs[s] + i;
            const float *w = b->word + (size_t)ids[t] * H;
            const float *p = b->pos + (size_t)(c->position_offset + i) * H;
            float *x = ctx->x + (size_t)t * H;
            for (int d = 0; d < H; d++)
                x[d] = w[d] + p[d] + b->type[d];
        }
    rg_add_layernorm(ctx->x, NULL, offs[n - 1] + lens[n - 1], H, b->ln_g, b->ln_b, c->eps);
}

static void layer_forward(const rg_bert *b, const layer *L, rg_bert_ctx *ctx, rg_gemm_backend be,
                          int int8, int bf16, const int *lens, const int *offs, int n, int T)
{
    const rg_bert_config *c = &b->cfg;
    int H = c->hidden;
    size_t TH = (size_t)T * H;
    if ((int8 && L->qkv.pq.q) || (be == RG_GEMM_NATIVE && L->qkv.pf.f)) {
        /* one product, rows of [q | k | v] */
        apply_linear(ctx, be, int8, &L->qkv, ctx->x, T, ctx->qkv, 3 * H, RG_ACT_NONE);
        attention(b, ctx, be, bf16, ctx->qkv, ctx->qkv + H, ctx->qkv + 2 * H, 3 * H, lens, offs, n);
    } else {
        apply_linear(ctx, be, int8, &L->q, ctx->x, T, ctx->qkv, H, RG_ACT_NONE);
        apply_linear(ctx, be, int8, &L->k, ctx->x, T, ctx->qkv + TH, H, RG_ACT_NONE);
        apply_linear(ctx, be, int8, &L->v, ctx->x, T, ctx->qkv + 2 * TH, H, RG_ACT_NONE);
        attention(b, ctx, be, bf16, ctx->qkv, ctx->qkv + TH, ctx->qkv + 2 * TH, H, lens, offs, n);
    }
    apply_linear(ctx, be, int8, &L->o, ctx->att, T, ctx->tmp, H, RG_ACT_NONE);
    rg_add_layernorm(ctx->x, ctx->tmp, T, H, L->ln1_g, L->ln1_b, c->eps);
    apply_linear(ctx, be, int8, &L->up, ctx->x, T, ctx->up, c->intermediate, RG_ACT_GELU);
    /* FFN-down in int8 costs more accuracy than all the rest (worst cosine
     * 0.9935 against 0.9959 on the fixture; int8 weights with 16-bit
     * activations were no better, so it is the weights): it stays fp32
     * unless packed int8 on request (rg_bert_set_int8_down) */
    apply_linear(ctx, be, int8 && L->down.pq.q, &L->down, ctx->up, T, ctx->tmp, H, RG_ACT_NONE);
    rg_add_layernorm(ctx->x, ctx->tmp, T, H, L->ln2_g, L->ln2_b, c->eps);
}

rg_status rg_bert_forward(const rg_bert *b, rg_bert_ctx *ctx, rg_gemm_backend be, int flags,
                          const int32_t *ids, const int *lens, int n, const float **hidden,
                          rg_error *err)
{
    int int8 = (flags & RG_BERT_INT8) != 0;
    const rg_bert_config *c = &b->cfg;
    int offs_small[64];
    if (n <= 0)
        return rg_fail(err, RG_EINVAL, "encoder: empty batch");
    int *offs = n <= 64 ? offs_small : rg_malloc((size_t)n * sizeof *offs);
    if (!offs)
        return rg_fail(err, RG_ENOMEM, "out of memory");
    if (be == RG_GEMM_AUTO)
        be = rg_gemm_best();
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
    if (int8 && !b->packed[1] && !ctx->acc) {
        rc = rg_fail(err, RG_EINVAL, "encoder: context made before the model was quantised");
        goto out;
    }
    for (int t = 0; t < T; t++)
        if (ids[t] < 0 || ids[t] >= c->vocab_size) {
            rc = rg_fail(err, RG_EINVAL, "encoder: token id %d out of range", (int)ids[t]);
            goto out;
        }
    embed(b, ctx, ids, lens, offs, n);
    for (int l = 0; l < c->layers; l++)
        layer_forward(b, &b->layers[l], ctx, be, int8, (flags & RG_BERT_ATT_BF16) != 0, lens, offs,
                      n, T);
    *hidden = ctx->x;
out:
    if (offs != offs_small)
        rg_free(offs);
    return rc;
}
