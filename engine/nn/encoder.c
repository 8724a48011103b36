/*
 * encoder.c — model folder -> tokenizer + BERT + pooling, and batching.
 */
#include "engine/nn/encoder.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "engine/base/mem.h"
#include "engine/base/utf8.h"
#include "engine/nn/bert.h"
#include "engine/nn/gemm.h"
#include "engine/nn/json_file.h"

/* Largest sentence-transformers JSON file read (modules.json and the like). */
#define ENC_SMALL_JSON_MAX (64u * 1024u)
/* Tokens per batch when batches run side by side (side_by_side), and the
 * most threads that do so; each thread past the first holds activations
 * for that many tokens (about 6 MB for a 384-wide, 1536-FFN model).
 * Smaller batches keep more of a layer's activations in the core's own
 * cache: with 2 threads on 600 chunks of 128-211 tokens (AMD EPYC, 1 MB
 * L2 a core), 384 tokens took 7% less time than 1024 and 3% less than 512. */
#define ENC_TEAM_TOKENS 384
#define ENC_TEAM_MAX    256

/* max_seq_length above this reads as this (position tables are far smaller). */
#define ENC_SEQ_LIMIT ((size_t)1 << 20)

struct rg_encoder {
    rg_encoder_options opts;
    rg_tokenizer *tok;
    rg_bert *bert;
    rg_bert_ctx *ctx;
    int dim;
    size_t max_length;
    rg_pooling pooling;
    int normalize;
    char languages[ENC_LANGUAGES_MAX]; /* from README.md front matter, "" if unknown */
    char query_prompt[ENC_PROMPT_MAX];   /* from config_sentence_transformers.json */
    char passage_prompt[ENC_PROMPT_MAX];
    int int8_packed;  /* int8 weights packed beside fp32 (opts.query_int8, passage_int8) */
    rg_bert_ctx **team; /* contexts of embed_texts' batches side by side; [0] unused (ctx) */
    int team_n;         /* contexts in team, 0 until the first such call */
    int32_t *qids;    /* token ids of a batch of queries: RG_ENCODER_QUERY_BATCH_MAX * max_length */
};

rg_encoder_options rg_encoder_default_options(void)
{
    rg_encoder_options o = {0, RG_GEMM_AUTO, 0, 0, RG_ENCODER_BATCH_TOKENS, 0, 1, 1, 0};
    return o;
}

/* Reads modules.json and the pooling config it points to; no modules.json means mean pooling. */
static rg_status read_modules(rg_encoder *e, const char *dir, rg_error *err)
{
    cJSON *mods = NULL, *pool = NULL;
    e->pooling = RG_POOL_MEAN;
    rg_status rc = rg_json_file_read(dir, "modules.json", ENC_SMALL_JSON_MAX, &mods, err);
    if (rc == RG_ENOTFOUND)
        return RG_OK;
    if (rc)
        return rc;
    const char *pool_path = NULL;
    const cJSON *m;
    cJSON_ArrayForEach(m, mods)
    {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(m, "type");
        const cJSON *path = cJSON_GetObjectItemCaseSensitive(m, "path");
        if (!cJSON_IsString(type))
            continue;
        const char *t = strrchr(type->valuestring, '.');
        t = t ? t + 1 : type->valuestring;
        if (strcmp(t, "Normalize") == 0)
            e->normalize = 1;
        else if (strcmp(t, "Pooling") == 0 && cJSON_IsString(path))
            pool_path = path->valuestring;
        else if (strcmp(t, "Transformer") != 0) {
            rc = rg_fail(err, RG_EUNSUPPORTED, "%s/modules.json: module %s is not supported", dir, t);
            goto out;
        }
    }
    if (pool_path) {
        char name[512];
        snprintf(name, sizeof name, "%s/config.json", pool_path);
        if ((rc = rg_json_file_read(dir, name, ENC_SMALL_JSON_MAX, &pool, err)))
            goto out;
        static const struct {
            const char *key;
            rg_pooling mode;
        } modes[] = {{"pooling_mode_mean_tokens", RG_POOL_MEAN},
                     {"pooling_mode_cls_token", RG_POOL_CLS},
                     {"pooling_mode_max_tokens", RG_POOL_MAX},
                     {"pooling_mode_lasttoken", RG_POOL_LAST}};
        int set = 0;
        for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
            if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pool, modes[i].key))) {
                e->pooling = modes[i].mode;
                set++;
            }
        if (set != 1 || cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pool, "pooling_mode_mean_sqrt_len_tokens"))) {
            rc = rg_fail(err, RG_EUNSUPPORTED, "%s/%s: only one of mean, cls, max or last-token pooling is supported",
                         dir, name);
            goto out;
        }
    }
out:
    cJSON_Delete(mods);
    cJSON_Delete(pool);
    return rc;
}

/*
 * The languages a model card declares in its README.md front matter
 * ("language: en", or a "language:" list), joined with commas. Unknown ("")
 * when the card is absent or silent: callers then assume every language.
 */
static void read_languages(rg_encoder *e, const char *dir)
{
    char path[4096];
    e->languages[0] = '\0';
    if (snprintf(path, sizeof path, "%s/README.md", dir) >= (int)sizeof path) return;
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[256];
    int in_front = 0, in_list = 0;
    size_t len = 0;
    for (int lines = 0; lines < ENC_CARD_LINES_MAX && fgets(line, sizeof line, f); lines++) {
        line[strcspn(line, "\r\n")] = '\0';
        if (strcmp(line, "---") == 0) {
            if (in_front) break;
            in_front = 1;
            continue;
        }
        if (!in_front) break;
        const char *v = NULL;
        if (strncmp(line, "language:", 9) == 0) {
            v = line + 9;
            in_list = 1;
        } else if (in_list && strncmp(line, "- ", 2) == 0) {
            v = line + 2;
        } else if (in_list && line[0] && line[0] != ' ') {
            in_list = 0;
        }
        while (v && *v == ' ') v++;
        if (!v || !*v) continue;
        size_t n = strlen(v);
        if (len + n + 2 > sizeof e->languages) break;
        if (len) e->languages[len++] = ',';
        memcpy(e->languages + len, v, n + 1);
        len += n;
    }
    fclose(f);
}

const char *rg_encoder_languages(const rg_encoder *e)
{
    return e->languages;
}

/* 1 if the comma-joined list langs names one of the codes in want. */
static int lists_language(const char *langs, const char *const *want, size_t n_want)
{
    const char *p = langs;
    while (*p) {
        size_t n = strcspn(p, ",");
        for (size_t i = 0; i < n_want; i++) {
            size_t w = strlen(want[i]);
            /* "zh", "zh-tw", "zh_Hant" all name Chinese */
            if (n >= w && strncmp(p, want[i], w) == 0 && (n == w || p[w] == '-' || p[w] == '_'))
                return 1;
        }
        p += n + (p[n] == ',');
    }
    return 0;
}

int rg_encoder_covers(const rg_encoder *enc, const char *text, size_t n)
{
    const char *langs = enc->languages;
    static const char *const multi[] = {"multilingual"};
    if (!langs[0] || lists_language(langs, multi, 1)) return 1;
    size_t han = 0, kana = 0, hangul = 0, latin = 0, other = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = rg_utf8_decode(text + i, n - i, &cp);
        i += k ? k : 1;
        if (!k || !rg_is_word_char(cp)) continue;
        if (rg_is_han(cp))
            han++;
        else if ((cp >= 0x3040 && cp <= 0x30FF) || (cp >= 0xFF66 && cp <= 0xFF9D))
            kana++;
        else if (rg_is_cjk(cp))
            hangul++;
        else if (cp < 0x250 || (cp >= 0x1E00 && cp <= 0x1EFF))
            latin++;
        else
            other++;
    }
    size_t cjk = han + kana + hangul, total = cjk + latin + other;
    if (total == 0 || latin * 2 > total) return 1;
    if (cjk * 2 >= total) {
        static const char *const zh_ja[] = {"zh", "ja"}, *const ja[] = {"ja"}, *const ko[] = {"ko"};
        if (hangul >= han && hangul >= kana) return lists_language(langs, ko, 1);
        if (kana) return lists_language(langs, ja, 1);
        return lists_language(langs, zh_ja, 2);
    }
    return strcmp(langs, "en") != 0;
}

/*
 * The prompts sentence-transformers puts before queries and passages
 * ("prompts" in config_sentence_transformers.json; e5 models use "query: "
 * and "passage: "). "document" is accepted for the passage prompt too.
 */
static void read_prompts(rg_encoder *e, const char *dir)
{
    cJSON *j = NULL;
    e->query_prompt[0] = e->passage_prompt[0] = '\0';
    if (rg_json_file_read(dir, "config_sentence_transformers.json", ENC_SMALL_JSON_MAX, &j, NULL))
        return;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "prompts");
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(p, "query");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(p, "passage");
    if (!cJSON_IsString(d)) d = cJSON_GetObjectItemCaseSensitive(p, "document");
    if (cJSON_IsString(q) && strlen(q->valuestring) < sizeof e->query_prompt)
        memcpy(e->query_prompt, q->valuestring, strlen(q->valuestring) + 1);
    if (cJSON_IsString(d) && strlen(d->valuestring) < sizeof e->passage_prompt)
        memcpy(e->passage_prompt, d->valuestring, strlen(d->valuestring) + 1);
    cJSON_Delete(j);
}

const char *rg_encoder_query_prompt(const rg_encoder *e)
{
    return e->query_prompt;
}

const char *rg_encoder_passage_prompt(const rg_encoder *e)
{
    return e->passage_prompt;
}

/* max_seq_length from sentence_bert_config.json, 0 when absent. */
static size_t read_max_seq(const char *dir)
{
    cJSON *j = NULL;
    size_t n = 0;
    if (rg_json_file_read(dir, "sentence_bert_config.json", ENC_SMALL_JSON_MAX, &j, NULL) == RG_OK) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "max_seq_length");
        n = rg_json_size(v, ENC_SEQ_LIMIT, 0);
    }
    cJSON_Delete(j);
    return n;
}

rg_status rg_encoder_open(const char *dir, const rg_encoder_options *opts, rg_encoder **out,
                          rg_error *err)
{
    *out = NULL;
    rg_encoder *e = rg_calloc(1, sizeof *e);
    if (!e)
        return rg_fail(err, RG_ENOMEM, "out of memory");
    e->opts = opts ? *opts : rg_encoder_default_options();
    if (!e->opts.batch_tokens)
        e->opts.batch_tokens = RG_ENCODER_BATCH_TOKENS;
    if (e->opts.backend == RG_GEMM_AUTO)
        e->opts.backend = rg_gemm_best();
    rg_kernels_set_threads(e->opts.threads);
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    rg_status rc;
    if ((rc = rg_tokenizer_open(path, &e->tok, err)) || (rc = read_modules(e, dir, err)) ||
        (rc = rg_bert_open(dir, &e->bert, err)))
        goto out;
    const rg_bert_config *c = rg_bert_get_config(e->bert);
    size_t cap = (size_t)(c->max_positions - c->position_offset);
    e->dim = c->hidden;
    read_languages(e, dir);
    read_prompts(e, dir);
    e->max_length = e->opts.max_length ? e->opts.max_length : read_max_seq(dir);
    if (!e->max_length)
        e->max_length = rg_tokenizer_max_length(e->tok);
    if (!e->max_length || e->max_length > cap)
        e->max_length = cap;
    if (e->max_length <= rg_tokenizer_num_special(e->tok)) {
        rc = rg_fail(err, RG_EINVAL, "encoder: max_length %zu leaves no room for text", e->max_length);
        goto out;
    }
    if (e->opts.batch_tokens < e->max_length)
        e->opts.batch_tokens = e->max_length;
    /* int8 weights only where their products are full-range: ragd's VNNI
     * kernels, or a backend that takes 8-bit activations (255). Elsewhere
     * (oneDNN without VNNI keeps activations to 7 bits so that its 16-bit
     * sums cannot saturate) they are both less exact and no faster than
     * fp32, so opts.int8 falls back to fp32 (rg_encoder_int8 says which). */
    if (e->opts.int8 && !(e->opts.backend == RG_GEMM_NATIVE && rg_packed_fast_s8()) &&
        rg_qgemm_act_max(e->opts.backend) < 255)
        e->opts.int8 = e->opts.int8_down = 0;
    rg_bert_set_int8_down(e->bert, e->opts.int8_down);
    if (e->opts.backend == RG_GEMM_NATIVE)
        rc = rg_bert_pack(e->bert, e->opts.int8, err);
    else if (e->opts.int8)
        rc = rg_bert_quantize(e->bert, err);
    if (rc)
        goto out;
    rc = rg_bert_ctx_new(e->bert, (int)e->opts.batch_tokens, (int)e->max_length, &e->ctx, err);
out:
    if (rc) {
        rg_encoder_close(e);
        return rc;
    }
    *out = e;
    return RG_OK;
}

void rg_encoder_close(rg_encoder *e)
{
    if (!e)
        return;
    rg_bert_ctx_free(e->ctx);
    for (int t = 1; t < e->team_n; t++)
        rg_bert_ctx_free(e->team[t]);
    rg_free(e->team);
    rg_bert_close(e->bert);
    rg_tokenizer_close(e->tok);
    rg_free(e->qids);
    rg_free(e);
}

int rg_encoder_dim(const rg_encoder *e) { return e->dim; }
size_t rg_encoder_max_length(const rg_encoder *e) { return e->max_length; }
rg_pooling rg_encoder_pooling(const rg_encoder *e) { return e->pooling; }
int rg_encoder_normalizes(const rg_encoder *e) { return e->normalize; }
const rg_tokenizer *rg_encoder_tokenizer(const rg_encoder *e) { return e->tok; }

static void pool(const rg_encoder *e, const float *h, int len, float *out)
{
    int D = e->dim;
    switch (e->pooling) {
    case RG_POOL_CLS:
        memcpy(out, h, (size_t)D * sizeof *out);
        break;
    case RG_POOL_LAST:
        memcpy(out, h + (size_t)(len - 1) * D, (size_t)D * sizeof *out);
        break;
    case RG_POOL_MAX:
        memcpy(out, h, (size_t)D * sizeof *out);
        for (int t = 1; t < len; t++)
            for (int d = 0; d < D; d++)
                out[d] = fmaxf(out[d], h[(size_t)t * D + d]);
        break;
    case RG_POOL_MEAN:
        memset(out, 0, (size_t)D * sizeof *out);
        for (int t = 0; t < len; t++)
            for (int d = 0; d < D; d++)
                out[d] += h[(size_t)t * D + d];
        for (int d = 0; d < D; d++)
            out[d] /= (float)len;
        break;
    }
    if (e->normalize) {
        double s = 0;
        for (int d = 0; d < D; d++)
            s += (double)out[d] * out[d];
        /* sentence-transformers divides by max(norm, 1e-12) */
        float inv = (float)(1.0 / fmax(sqrt(s), 1e-12));
        for (int d = 0; d < D; d++)
            out[d] *= inv;
    }
}

typedef struct seq {
    size_t index;
    int len;
} seq;

static int by_length(const void *a, const void *b)
{
    const seq *x = a, *y = b;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Whether int8 weights stand in for fp32 on a path that asks for them
 * (want: opts.query_int8 or opts.passage_int8): only with ragd's own GEMM
 * on a CPU that runs int8 natively (VNNI). The first use packs them. */
static int int8_for(const rg_encoder *e, int want)
{
    return e->opts.int8 || (want && e->opts.backend == RG_GEMM_NATIVE && rg_packed_fast_s8());
}

int rg_encoder_batch_invariant(const rg_encoder *e)
{
    return e->opts.backend == RG_GEMM_NATIVE || e->opts.backend == RG_GEMM_REF;
}

int rg_encoder_int8(const rg_encoder *e)
{
    return e->opts.int8;
}

int rg_encoder_passages_int8(const rg_encoder *e)
{
    return int8_for(e, e->opts.passage_int8);
}

static rg_status use_int8(rg_encoder *e, int want, int *int8, rg_error *err)
{
    *int8 = int8_for(e, want);
    if (!*int8 || e->opts.int8 || e->int8_packed) return RG_OK; /* opts.int8: packed at open */
    /* beside the fp32 weights, which rg_encoder_embed keeps using */
    rg_bert_set_int8_down(e->bert, e->opts.int8_down || e->opts.query_int8_down);
    rg_status rc = rg_bert_pack(e->bert, 1, err);
    e->int8_packed = rc == RG_OK;
    return rc;
}

/* End of the batch that starts at order[s]: texts while their tokens fit in
 * cap (the first always does: no text is longer than max_length <= cap). */
static size_t batch_end(const seq *order, size_t s, size_t n, size_t cap)
{
    size_t used = (size_t)order[s].len, i = s + 1;
    while (i < n && used + (size_t)order[i].len <= cap)
        used += (size_t)order[i++].len;
    return i;
}

/* Texts order[s..end) through the layers on ctx (their ids gathered into
 * buf, their lengths into lens) and pooled into their rows of out. */
static rg_status run_batch(rg_encoder *e, rg_bert_ctx *ctx, int int8, const seq *order, size_t s,
                           size_t end, const int32_t *ids, int32_t *buf, int *lens, float *out,
                           rg_error *err)
{
    size_t at = 0, L = e->max_length;
    int k = 0;
    for (size_t i = s; i < end; i++, k++) {
        memcpy(buf + at, ids + order[i].index * L, (size_t)order[i].len * sizeof *buf);
        at += (size_t)order[i].len;
        lens[k] = order[i].len;
    }
    const float *h;
    /* texts in int8 (opts.int8, passages) take attention in bf16 too, where
       it runs natively: a passage's attention is a fifth of its time, a
       short query's next to nothing (queries keep fp32 attention) */
    int flags = int8 ? RG_BERT_INT8 | RG_BERT_ATT_BF16 : 0;
    rg_status rc = rg_bert_forward(e->bert, ctx, e->opts.backend, flags, buf, lens, k, &h, err);
    if (rc) return rc;
    for (size_t i = s; i < end; i++) {
        pool(e, h, order[i].len, out + order[i].index * (size_t)e->dim);
        h += (size_t)order[i].len * e->dim;
    }
    return RG_OK;
}

/*
 * Texts (sorted longest first in order) in batches of at most
 * ENC_TEAM_TOKENS tokens run side by side, one batch per thread at a time,
 * each thread's kernels on that thread alone: no barrier per layer, where
 * splitting every product of one batch over the threads waits at each (on
 * two cores: 1.59x one thread's int8 texts/s that way). Only with ragd's own
 * kernels (the libraries keep pools of their own) and when the texts make at
 * least two batches per thread. Each row's result does not depend on the
 * batch it is in, so the vectors equal the one-batch-at-a-time path's.
 * Returns 1 when it ran (*rc then says how it went), 0 to leave it to that path.
 */
static int side_by_side(rg_encoder *e, const seq *order, size_t n, int int8, const int32_t *ids,
                        float *out, rg_status *rc, rg_error *err)
{
#ifdef _OPENMP
    int T = rg_kernels_threads();
    size_t cap = ENC_TEAM_TOKENS < e->opts.batch_tokens ? ENC_TEAM_TOKENS : e->opts.batch_tokens;
    if (cap < e->max_length) cap = e->max_length;
    if (T < 2 || e->opts.backend != RG_GEMM_NATIVE || T > ENC_TEAM_MAX) return 0;
    size_t *start = rg_malloc((n + 1) * sizeof *start), nb = 0;
    if (!start) return 0;
    for (size_t i = 0; i < n; i = batch_end(order, i, n, cap))
        start[nb++] = i;
    start[nb] = n;
    if (nb < 2 * (size_t)T) {
        rg_free(start);
        return 0;
    }
    int32_t *buf = NULL;
    int *lens = NULL;
    if (e->team_n < T) { /* contexts for threads 1..T-1 (thread 0 has e->ctx), made once */
        rg_bert_ctx **team = rg_realloc(e->team, (size_t)T * sizeof *team);
        if (!team) goto fallback;
        e->team = team;
        for (int t = e->team_n ? e->team_n : 1; t < T; t++) {
            if (rg_bert_ctx_new(e->bert, (int)cap, (int)e->max_length, &team[t], NULL)) {
                e->team_n = t;
                goto fallback;
            }
        }
        team[0] = NULL;
        e->team_n = T;
    }
    buf = rg_malloc((size_t)T * cap * sizeof *buf);
    lens = rg_malloc((size_t)T * cap * sizeof *lens);
    if (!buf || !lens) goto fallback;
    int failed = 0;
    rg_error first;
    rg_error_clear(&first);
#pragma omp parallel num_threads(T)
    {
        int t = omp_get_thread_num();
        rg_bert_ctx *ctx = t ? e->team[t] : e->ctx;
        int32_t *my = buf + (size_t)t * cap;
        int *my_lens = lens + (size_t)t * cap;
        rg_error local;
        rg_error_clear(&local);
        rg_kernels_set_threads_here(1);
#pragma omp for schedule(dynamic, 1)
        for (size_t b = 0; b < nb; b++) {
            int stop;
#pragma omp atomic read
            stop = failed;
            if (stop) continue;
            rg_status st = run_batch(e, ctx, int8, order, start[b], start[b + 1], ids, my, my_lens,
                                     out, &local);
            if (st) { /* the first failure is reported; the rest of the batches are skipped */
                int was;
#pragma omp atomic capture
                {
                    was = failed;
                    failed = 1;
                }
                if (!was) {
                    *rc = st;
                    first = local;
                }
            }
        }
    }
    rg_kernels_set_threads_here(T);
    if (failed && err) *err = first;
    rg_free(start), rg_free(buf), rg_free(lens);
    return 1;
fallback:
    rg_free(start), rg_free(buf), rg_free(lens);
    return 0;
#else
    (void)e, (void)order, (void)n, (void)int8, (void)ids, (void)out, (void)rc, (void)err;
    return 0;
#endif
}

static rg_status embed_texts(rg_encoder *e, int int8, const char *const *texts, const size_t *lens,
                             size_t n, float *out, rg_error *err)
{
    if (n == 0)
        return RG_OK;
    if (n > RG_ENCODER_MAX_TEXTS)
        return rg_fail(err, RG_ELIMIT, "encoder: %zu texts in one call (max %d)", n, RG_ENCODER_MAX_TEXTS);
    /* The kernels' thread count is process-wide: several encoders (a bulk one
     * on every core, a query one on one thread) each set theirs per call. */
    rg_kernels_set_threads(e->opts.threads);
    size_t L = e->max_length;
    int32_t *ids = rg_malloc(n * L * sizeof *ids);
    int32_t *batch = rg_malloc(e->opts.batch_tokens * sizeof *batch);
    seq *order = rg_malloc(n * sizeof *order);
    int *blens = rg_malloc(n * sizeof *blens);
    rg_status rc = RG_OK;
    if (!ids || !batch || !order || !blens) {
        rc = rg_fail(err, RG_ENOMEM, "encoder: out of memory for %zu texts", n);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        size_t len = lens ? lens[i] : strlen(texts[i]), k;
        rc = rg_tokenizer_encode(e->tok, texts[i], len, L, ids + i * L, L, &k, err);
        if (rc) {
            if (err) {
                char msg[RG_ERROR_MSG_MAX];
                snprintf(msg, sizeof msg, "%s", err->msg);
                rg_fail(err, rc, "text %zu: %s", i, msg);
            }
            goto out;
        }
        order[i].index = i;
        order[i].len = (int)k;
    }
    qsort(order, n, sizeof *order, by_length);
    if (side_by_side(e, order, n, int8, ids, out, &rc, err)) goto out;
    for (size_t s = 0, end; s < n && !rc; s = end) {
        end = batch_end(order, s, n, e->opts.batch_tokens);
        rc = run_batch(e, e->ctx, int8, order, s, end, ids, batch, blens, out, err);
    }
out:
    rg_free(ids);
    rg_free(batch);
    rg_free(order);
    rg_free(blens);
    return rc;
}

rg_status rg_encoder_embed(rg_encoder *e, const char *const *texts, const size_t *lens, size_t n,
                           float *out, rg_error *err)
{
    return embed_texts(e, e->opts.int8, texts, lens, n, out, err);
}

rg_status rg_encoder_embed_passages(rg_encoder *e, const char *const *texts, const size_t *lens,
                                    size_t n, float *out, rg_error *err)
{
    int int8;
    rg_status rc = use_int8(e, e->opts.passage_int8, &int8, err);
    return rc ? rc : embed_texts(e, int8, texts, lens, n, out, err);
}

rg_status rg_encoder_embed_queries(rg_encoder *e, const char *const *texts, const size_t *lens,
                                   size_t n, float *out, rg_error *err)
{
    if (n == 0) return RG_OK;
    if (n > RG_ENCODER_QUERY_BATCH_MAX)
        return rg_fail(err, RG_ELIMIT, "encoder: %zu queries in one call (max %d)", n,
                       RG_ENCODER_QUERY_BATCH_MAX);
    if (e->max_length > RG_ENCODER_QUERY_TOKENS_MAX) /* a model with longer inputs: general path */
        return rg_encoder_embed(e, texts, lens, n, out, err);
    size_t L = e->max_length, cap = e->opts.batch_tokens;
    if (!e->qids &&
        !(e->qids = rg_malloc((size_t)RG_ENCODER_QUERY_BATCH_MAX * L * sizeof *e->qids)))
        return rg_fail(err, RG_ENOMEM, "encoder: out of memory for queries");
    int qlens[RG_ENCODER_QUERY_BATCH_MAX];
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k;
        rg_status rc =
            rg_tokenizer_encode(e->tok, texts[i], lens[i], L, e->qids + total, L, &k, err);
        if (rc) return rc;
        qlens[i] = (int)k;
        total += k;
    }
    int int8;
    rg_status rc0 = use_int8(e, e->opts.query_int8, &int8, err);
    if (rc0) return rc0;
    rg_kernels_set_threads(total >= RG_ENCODER_QUERY_SPLIT_TOKENS ? e->opts.threads : 1);
    /* one forward for as many whole queries as the context holds */
    size_t i = 0, at = 0;
    while (i < n) {
        size_t used = 0, nb = 0;
        while (i + nb < n && (nb == 0 || used + (size_t)qlens[i + nb] <= cap))
            used += (size_t)qlens[i + nb++];
        const float *h;
        rg_status rc = rg_bert_forward(e->bert, e->ctx, e->opts.backend, int8 ? RG_BERT_INT8 : 0,
                                       e->qids + at, qlens + i, (int)nb, &h, err);
        if (rc) return rc;
        for (size_t b = 0; b < nb; b++) {
            pool(e, h, qlens[i + b], out + (i + b) * (size_t)e->dim);
            h += (size_t)qlens[i + b] * e->dim;
        }
        at += used;
        i += nb;
    }
    return RG_OK;
}

rg_status rg_encoder_embed_query(rg_encoder *e, const char *text, size_t len, float *out,
                                 rg_error *err)
{
    return rg_encoder_embed_queries(e, &text, &len, 1, out, err);
}
