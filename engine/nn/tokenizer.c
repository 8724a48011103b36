/*
 * tokenizer.c — loading tokenizer.json and running the pipeline:
 * added tokens (raw text) -> normalizer -> pre-tokenizer -> model ->
 * truncation -> template.
 *
 * Added tokens are matched leftmost-longest on the raw bytes, as
 * tokenizers' AddedVocabulary does for tokens with normalized: false
 * (every special token of the BERT and XLM-R families). Tokens marked
 * normalized: true are matched the same way, which differs from
 * tokenizers only when normalisation would change the token's own text.
 */
#include "engine/nn/tokenizer.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "engine/base/mem.h"
#include "engine/base/utf8.h"
#include "engine/nn/json_file.h"
#include "engine/nn/tok_internal.h"

/* Most added tokens, and most special ids the template puts on one side. */
#define TOK_ADDED_MAX 4096
#define TOK_TEMPLATE_MAX 8
/* truncation.max_length above this reads as this. */
#define TOK_TRUNC_LIMIT ((size_t)1 << 30)

typedef struct added_tok {
    char *text;
    size_t len;
    int32_t id;
    int lstrip, rstrip, single_word;
} added_tok;

typedef enum { PRE_NONE, PRE_BERT, PRE_WHITESPACE_SPLIT, PRE_METASPACE } pre_kind;

struct rg_tokenizer {
    tok_bert_norm norm;
    tok_sp_norm *sp_norm; /* set instead of norm for the SentencePiece family */
    pre_kind pre;
    tok_metaspace meta;
    const tok_model_ops *ops;
    void *model;
    const tok_vocab *vocab;
    added_tok *added;
    size_t n_added;
    unsigned char first_byte[256]; /* 1 where some added token starts with that byte */
    int32_t prefix[TOK_TEMPLATE_MAX], suffix[TOK_TEMPLATE_MAX];
    size_t n_prefix, n_suffix;
    size_t trunc_max;
    int32_t pad_id;
    size_t vocab_size;
};

void rg_tokenizer_close(rg_tokenizer *tok)
{
    if (!tok)
        return;
    if (tok->ops)
        tok->ops->free(tok->model);
    tok_sp_norm_free(tok->sp_norm);
    for (size_t i = 0; i < tok->n_added; i++)
        rg_free(tok->added[i].text);
    rg_free(tok->added);
    rg_free(tok);
}

static int json_bool(const cJSON *o, const char *key, int dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

static rg_status load_normalizer(rg_tokenizer *tok, const cJSON *n, rg_error *err)
{
    if (!n || cJSON_IsNull(n))
        return RG_OK;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(n, "type");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "BertNormalizer") != 0)
        return tok_sp_norm_new(n, &tok->sp_norm, err);
    tok->norm.enabled = 1;
    tok->norm.clean_text = json_bool(n, "clean_text", 1);
    tok->norm.handle_chinese_chars = json_bool(n, "handle_chinese_chars", 1);
    tok->norm.lowercase = json_bool(n, "lowercase", 1);
    /* strip_accents: null means "follow lowercase" */
    tok->norm.strip_accents = json_bool(n, "strip_accents", tok->norm.lowercase);
    return RG_OK;
}

static rg_status load_pre_tokenizer(rg_tokenizer *tok, const cJSON *p, rg_error *err)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(p, "type");
    const char *t = cJSON_IsString(type) ? type->valuestring : "(none)";
    if (!p || cJSON_IsNull(p))
        tok->pre = PRE_NONE;
    else if (strcmp(t, "Metaspace") == 0) {
        tok->pre = PRE_METASPACE;
        return tok_metaspace_load(p, &tok->meta, err);
    } else if (strcmp(t, "BertPreTokenizer") == 0)
        tok->pre = PRE_BERT;
    else if (strcmp(t, "WhitespaceSplit") == 0)
        tok->pre = PRE_WHITESPACE_SPLIT;
    else
        return rg_fail(err, RG_EUNSUPPORTED, "tokenizer: pre-tokenizer %s is not supported", t);
    return RG_OK;
}

static rg_status load_model(rg_tokenizer *tok, const cJSON *m, rg_error *err)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(m, "type");
    const char *t = cJSON_IsString(type) ? type->valuestring : "(none)";
    const tok_model_ops *ops = strcmp(t, "WordPiece") == 0 ? &tok_wordpiece_ops
                               : strcmp(t, "Unigram") == 0 ? &tok_unigram_ops
                                                           : NULL;
    if (!ops)
        return rg_fail(err, RG_EUNSUPPORTED, "tokenizer: model %s is not supported", t);
    rg_status rc = ops == &tok_wordpiece_ops ? tok_wordpiece_new(m, &tok->model, &tok->vocab, err)
                                             : tok_unigram_new(m, &tok->model, &tok->vocab, err);
    if (rc == RG_OK)
        tok->ops = ops;
    return rc;
}

static rg_status load_added(rg_tokenizer *tok, const cJSON *a, rg_error *err)
{
    if (!cJSON_IsArray(a))
        return RG_OK;
    size_t n = (size_t)cJSON_GetArraySize(a);
    if (n > TOK_ADDED_MAX)
        return rg_fail(err, RG_ELIMIT, "tokenizer: %zu added tokens (max %d)", n, TOK_ADDED_MAX);
    tok->added = rg_calloc(n ? n : 1, sizeof *tok->added);
    if (!tok->added)
        return rg_fail(err, RG_ENOMEM, "tokenizer: out of memory");
    const cJSON *e;
    cJSON_ArrayForEach(e, a)
    {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(e, "content");
        if (!cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble > INT32_MAX ||
            !cJSON_IsString(content) || !content->valuestring[0])
            return rg_fail(err, RG_ECORRUPT, "tokenizer: malformed added token");
        /* cJSON does not check the file's bytes: a token that is not UTF-8 (a
         * lone lead byte) would split the text inside a character and leave the
         * normalizer stuck on the stray bytes (tests/fuzz: fuzz_tokenizer_json) */
        if (!rg_utf8_valid(content->valuestring, strlen(content->valuestring), NULL))
            return rg_fail(err, RG_ECORRUPT, "tokenizer: added token %d is not UTF-8",
                           (int)id->valuedouble);
        added_tok *t = &tok->added[tok->n_added];
        t->len = strlen(content->valuestring);
        t->text = rg_strndup(content->valuestring, t->len);
        if (!t->text)
            return rg_fail(err, RG_ENOMEM, "tokenizer: out of memory");
        t->id = (int32_t)id->valuedouble;
        t->lstrip = json_bool(e, "lstrip", 0);
        t->rstrip = json_bool(e, "rstrip", 0);
        t->single_word = json_bool(e, "single_word", 0);
        tok->first_byte[(unsigned char)t->text[0]] = 1;
        if ((size_t)t->id >= tok->vocab_size)
            tok->vocab_size = (size_t)t->id + 1;
        tok->n_added++;
    }
    return RG_OK;
}

/* 1 when v is a token id: a whole number in [0, INT32_MAX] (stored in *out). */
static int json_id(const cJSON *v, int32_t *out)
{
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= INT32_MAX) ||
        v->valuedouble != (double)(int32_t)v->valuedouble)
        return 0;
    *out = (int32_t)v->valuedouble;
    return 1;
}

/* Ids of the special token called name in a TemplateProcessing's special_tokens. */
static rg_status template_ids(const cJSON *specials, const char *name, int32_t *dst, size_t *n,
                              rg_error *err)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(specials, name);
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(s, "ids");
    if (!cJSON_IsArray(ids))
        return rg_fail(err, RG_ECORRUPT, "tokenizer: template names unknown special token %s", name);
    const cJSON *v;
    cJSON_ArrayForEach(v, ids)
    {
        if (*n >= TOK_TEMPLATE_MAX || !json_id(v, &dst[*n]))
            return rg_fail(err, RG_ECORRUPT, "tokenizer: bad ids for special token %s", name);
        (*n)++;
    }
    return RG_OK;
}

static rg_status load_post_processor(rg_tokenizer *tok, const cJSON *p, rg_error *err)
{
    if (!p || cJSON_IsNull(p))
        return RG_OK;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(p, "type");
    const char *t = cJSON_IsString(type) ? type->valuestring : "(none)";
    if (strcmp(t, "BertProcessing") == 0 || strcmp(t, "RobertaProcessing") == 0) {
        const cJSON *cls = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(p, "cls"), 1);
        const cJSON *sep = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(p, "sep"), 1);
        if (!json_id(cls, &tok->prefix[tok->n_prefix]) ||
            !json_id(sep, &tok->suffix[tok->n_suffix]))
            return rg_fail(err, RG_ECORRUPT, "tokenizer: %s without valid cls/sep ids", t);
        tok->n_prefix++;
        tok->n_suffix++;
        return RG_OK;
    }
    if (strcmp(t, "TemplateProcessing") != 0)
        return rg_fail(err, RG_EUNSUPPORTED, "tokenizer: post-processor %s is not supported", t);
    const cJSON *single = cJSON_GetObjectItemCaseSensitive(p, "single");
    const cJSON *specials = cJSON_GetObjectItemCaseSensitive(p, "special_tokens");
    int seen_seq = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, single)
    {
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(item, "SpecialToken");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(sp, "id");
        rg_status rc;
        if (cJSON_GetObjectItemCaseSensitive(item, "Sequence")) {
            seen_seq = 1;
        } else if (cJSON_IsString(id)) {
            rc = seen_seq ? template_ids(specials, id->valuestring, tok->suffix, &tok->n_suffix, err)
                          : template_ids(specials, id->valuestring, tok->prefix, &tok->n_prefix, err);
            if (rc)
                return rc;
        } else {
            return rg_fail(err, RG_ECORRUPT, "tokenizer: malformed template item");
        }
    }
    if (!seen_seq)
        return rg_fail(err, RG_ECORRUPT, "tokenizer: template has no sequence");
    return RG_OK;
}

static void load_limits(rg_tokenizer *tok, const cJSON *root)
{
    const cJSON *tr = cJSON_GetObjectItemCaseSensitive(root, "truncation");
    const cJSON *ml = cJSON_GetObjectItemCaseSensitive(tr, "max_length");
    size_t max_len = rg_json_size(ml, TOK_TRUNC_LIMIT, 0);
    if (max_len > 0) tok->trunc_max = max_len;
    const cJSON *pad = cJSON_GetObjectItemCaseSensitive(root, "padding");
    const cJSON *pid = cJSON_GetObjectItemCaseSensitive(pad, "pad_id");
    if (json_id(pid, &tok->pad_id)) return;
    int32_t id = rg_tokenizer_token_to_id(tok, "[PAD]");
    if (id < 0)
        id = rg_tokenizer_token_to_id(tok, "<pad>");
    tok->pad_id = id < 0 ? 0 : id;
}

rg_status rg_tokenizer_from_json(const char *json, size_t n, rg_tokenizer **out, rg_error *err)
{
    *out = NULL;
    if (n > RG_TOK_JSON_MAX)
        return rg_fail(err, RG_ELIMIT, "tokenizer: tokenizer.json is %zu bytes (max %u)", n,
                       RG_TOK_JSON_MAX);
    rg_status rc = RG_OK;
    rg_tokenizer *tok = rg_calloc(1, sizeof *tok);
    cJSON *root = cJSON_ParseWithLength(json, n);
    if (!tok) {
        rc = rg_fail(err, RG_ENOMEM, "tokenizer: out of memory");
        goto out;
    }
    if (!cJSON_IsObject(root)) {
        rc = rg_fail(err, RG_EPARSE, "tokenizer: tokenizer.json is not a JSON object");
        goto out;
    }
    if ((rc = load_model(tok, cJSON_GetObjectItemCaseSensitive(root, "model"), err)))
        goto out;
    tok->vocab_size = tok->vocab->n;
    if ((rc = load_normalizer(tok, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), err)) ||
        (rc = load_pre_tokenizer(tok, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), err)) ||
        (rc = load_added(tok, cJSON_GetObjectItemCaseSensitive(root, "added_tokens"), err)) ||
        (rc = load_post_processor(tok, cJSON_GetObjectItemCaseSensitive(root, "post_processor"), err)))
        goto out;
    load_limits(tok, root);
    /* what the post-processor adds and padding fills in must be tokens the model has */
    for (size_t i = 0; !rc && i < tok->n_prefix + tok->n_suffix + 1; i++) {
        int32_t id = i < tok->n_prefix                   ? tok->prefix[i]
                     : i < tok->n_prefix + tok->n_suffix ? tok->suffix[i - tok->n_prefix]
                                                         : tok->pad_id;
        if ((size_t)id >= tok->vocab_size)
            rc = rg_fail(err, RG_ECORRUPT,
                         "tokenizer: special token id %d is outside the vocabulary of %zu", (int)id,
                         tok->vocab_size);
    }
out:
    cJSON_Delete(root);
    if (rc) {
        rg_tokenizer_close(tok);
        return rc;
    }
    *out = tok;
    return RG_OK;
}

rg_status rg_tokenizer_open(const char *path, rg_tokenizer **out, rg_error *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return rg_fail(err, errno == ENOENT ? RG_ENOTFOUND : RG_EIO, "tokenizer: %s: %s", path,
                       strerror(errno));
    rg_status rc = RG_OK;
    char *data = NULL;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0) {
        rc = rg_fail(err, RG_EIO, "tokenizer: %s: cannot read", path);
        goto out;
    }
    if ((unsigned long)size > RG_TOK_JSON_MAX) {
        rc = rg_fail(err, RG_ELIMIT, "tokenizer: %s is %ld bytes (max %u)", path, size, RG_TOK_JSON_MAX);
        goto out;
    }
    data = rg_malloc((size_t)size + 1);
    if (!data) {
        rc = rg_fail(err, RG_ENOMEM, "tokenizer: out of memory");
        goto out;
    }
    if (fread(data, 1, (size_t)size, f) != (size_t)size) {
        rc = rg_fail(err, RG_EIO, "tokenizer: %s: short read", path);
        goto out;
    }
    rc = rg_tokenizer_from_json(data, (size_t)size, out, err);
out:
    rg_free(data);
    fclose(f);
    return rc;
}

/* ---- Encoding ---- */

typedef struct run_ctx {
    const rg_tokenizer *tok;
    tok_ids *ids;
    char *word;  /* scratch, 4 bytes per code point of the segment + 1 */
    rg_error *err;
} run_ctx;

static rg_status on_word(void *p, const uint32_t *cps, size_t start, size_t end)
{
    run_ctx *c = p;
    if (c->ids->n >= c->ids->stop)
        return RG_OK;
    size_t len = 0;
    for (size_t i = start; i < end; i++)
        len += rg_utf8_encode(cps[i], c->word + len);
    return c->tok->ops->tokenize(c->tok->model, c->word, len, end - start, c->ids, c->err);
}

/*
 * Normalizes, pre-tokenizes and tokenizes text[0..n) that holds no added
 * token; at_start: the segment begins the input (Metaspace's "first").
 */
static rg_status run_segment(const rg_tokenizer *tok, const char *text, size_t n, int at_start,
                             tok_cps *cps, tok_ids *ids, rg_error *err)
{
    if (n == 0 || ids->n >= ids->stop)
        return RG_OK;
    rg_status rc = tok->sp_norm ? tok_sp_normalize(tok->sp_norm, text, n, cps, &at_start, err)
                                : tok_bert_normalize(&tok->norm, text, n, cps, err);
    if (rc)
        return rc;
    /* one more code point: Metaspace may prepend its replacement */
    run_ctx c = {tok, ids, rg_malloc(4 * (cps->n + 1) + 1), err};
    if (!c.word)
        return rg_fail(err, RG_ENOMEM, "tokenizer: out of memory");
    switch (tok->pre) {
    case PRE_BERT:
        rc = tok_bert_pretokenize(cps->v, cps->n, on_word, &c);
        break;
    case PRE_WHITESPACE_SPLIT:
        rc = tok_whitespace_split(cps->v, cps->n, on_word, &c);
        break;
    case PRE_METASPACE:
        rc = tok_metaspace_pretokenize(&tok->meta, cps, at_start, on_word, &c, err);
        break;
    case PRE_NONE:
        rc = cps->n ? on_word(&c, cps->v, 0, cps->n) : RG_OK;
        break;
    }
    rg_free(c.word);
    return rc;
}

static int is_word_at(const char *s, size_t n, size_t i)
{
    uint32_t cp;
    return i < n && rg_utf8_decode(s + i, n - i, &cp) && rg_is_word_char(cp);
}

static int is_word_before(const char *s, size_t i)
{
    if (i == 0)
        return 0;
    size_t j = i - 1;
    while (j > 0 && ((unsigned char)s[j] & 0xc0) == 0x80)
        j--;
    return is_word_at(s, i, j);
}

/* Longest added token at s[i]; NULL when none. */
static const added_tok *match_added(const rg_tokenizer *tok, const char *s, size_t n, size_t i)
{
    if (!tok->first_byte[(unsigned char)s[i]])
        return NULL;
    const added_tok *best = NULL;
    for (size_t k = 0; k < tok->n_added; k++) {
        const added_tok *t = &tok->added[k];
        if (t->len > n - i || (best && t->len <= best->len) || memcmp(s + i, t->text, t->len) != 0)
            continue;
        if (t->single_word && (is_word_before(s, i) || is_word_at(s, n, i + t->len)))
            continue;
        best = t;
    }
    return best;
}

/*
 * An added token's lstrip and rstrip: the white space before text[end]
 * (down to from) or from text[i] (up to len), whole code points of valid
 * UTF-8. Taking single bytes for code points would read the last byte of
 * a character such as U+C785 (EC 9E 85) as U+0085, a space, and cut the
 * character in two (found by tests/fuzz: fuzz_unigram).
 */
static size_t strip_back(const char *text, size_t from, size_t end)
{
    while (end > from) {
        size_t k = 1;
        while (k < 4 && end - k > from && ((unsigned char)text[end - k] & 0xC0) == 0x80)
            k++;
        uint32_t c;
        if (rg_utf8_decode(text + end - k, k, &c) != k || !tok_is_rust_whitespace(c)) break;
        end -= k;
    }
    return end;
}

static size_t strip_forward(const char *text, size_t i, size_t len)
{
    uint32_t c;
    size_t k;
    while (i < len && (k = rg_utf8_decode(text + i, len - i, &c)) && tok_is_rust_whitespace(c))
        i += k;
    return i;
}

static rg_status run(const rg_tokenizer *tok, const char *text, size_t len, tok_ids *ids,
                     rg_error *err)
{
    if (len > RG_TOK_INPUT_MAX)
        return rg_fail(err, RG_ELIMIT, "tokenizer: input of %zu bytes (max %u)", len, RG_TOK_INPUT_MAX);
    size_t bad;
    if (!rg_utf8_valid(text, len, &bad))
        return rg_fail(err, RG_EUTF8, "tokenizer: invalid UTF-8 at byte %zu", bad);
    tok_cps cps = {0};
    rg_status rc = RG_OK;
    size_t seg = 0;
    for (size_t i = 0; i < len && ids->n < ids->stop; i++) {
        const added_tok *t = match_added(tok, text, len, i);
        if (!t)
            continue;
        size_t end = i;
        if (t->lstrip) end = strip_back(text, seg, end);
        if ((rc = run_segment(tok, text + seg, end - seg, seg == 0, &cps, ids, err)) ||
            (rc = tok_ids_push(ids, t->id, err)))
            goto out;
        i += t->len;
        if (t->rstrip) i = strip_forward(text, i, len);
        seg = i;
        i--;
    }
    rc = run_segment(tok, text + seg, len - seg, seg == 0, &cps, ids, err);
out:
    rg_free(cps.v);
    return rc;
}

rg_status rg_tokenizer_encode(const rg_tokenizer *tok, const char *text, size_t len,
                              size_t max_len, int32_t *ids, size_t cap, size_t *n, rg_error *err)
{
    *n = 0;
    size_t special = tok->n_prefix + tok->n_suffix;
    if (cap < special)
        return rg_fail(err, RG_ELIMIT, "tokenizer: room for %zu ids, template needs %zu", cap, special);
    tok_ids a = {ids + tok->n_prefix, 0, cap - special, (size_t)-1};
    if (max_len)
        a.stop = max_len > special ? max_len - special : 0;
    rg_status rc = run(tok, text, len, &a, err);
    if (rc)
        return rc;
    memcpy(ids, tok->prefix, tok->n_prefix * sizeof *ids);
    memcpy(ids + tok->n_prefix + a.n, tok->suffix, tok->n_suffix * sizeof *ids);
    *n = a.n + special;
    return RG_OK;
}

rg_status rg_tokenizer_count(const rg_tokenizer *tok, const char *text, size_t len, size_t *n,
                             rg_error *err)
{
    tok_ids a = {NULL, 0, 0, (size_t)-1};
    rg_status rc = run(tok, text, len, &a, err);
    *n = rc ? 0 : a.n;
    return rc;
}

size_t rg_tokenizer_vocab_size(const rg_tokenizer *tok) { return tok->vocab_size; }
int32_t rg_tokenizer_pad_id(const rg_tokenizer *tok) { return tok->pad_id; }
size_t rg_tokenizer_num_special(const rg_tokenizer *tok) { return tok->n_prefix + tok->n_suffix; }
size_t rg_tokenizer_max_length(const rg_tokenizer *tok) { return tok->trunc_max; }

const char *rg_tokenizer_id_to_token(const rg_tokenizer *tok, int32_t id)
{
    if (id >= 0 && (size_t)id < tok->vocab->n)
        return tok->vocab->pieces[id];
    for (size_t i = 0; i < tok->n_added; i++)
        if (tok->added[i].id == id)
            return tok->added[i].text;
    return NULL;
}

int32_t rg_tokenizer_token_to_id(const rg_tokenizer *tok, const char *token)
{
    size_t len = strlen(token);
    for (size_t i = 0; i < tok->n_added; i++)
        if (tok->added[i].len == len && memcmp(tok->added[i].text, token, len) == 0)
            return tok->added[i].id;
    return tok_vocab_find(tok->vocab, token, len);
}
