/*
 * tok_wordpiece.c — the WordPiece model: greedy longest-match-first over
 * the vocabulary, continuations prefixed with "##"; a word longer than
 * max_input_chars_per_word, or one with any unmatchable part, becomes a
 * single [UNK].
 */
#include <cjson/cJSON.h>
#include <string.h>

#include "engine/base/mem.h"
#include "engine/nn/json_file.h"
#include "engine/nn/tok_internal.h"
#include "engine/nn/tokenizer.h"

/* Longest continuing_subword_prefix accepted. */
#define WP_PREFIX_MAX 16
/* max_input_chars_per_word above this reads as this (no word is longer). */
#define WP_MAX_CHARS_LIMIT ((size_t)1 << 30)

typedef struct wordpiece {
    tok_vocab vocab;
    int32_t unk;
    size_t max_chars;
    char prefix[WP_PREFIX_MAX + 1];
    size_t prefix_len;
} wordpiece;

static void wp_free(void *p)
{
    wordpiece *wp = p;
    if (!wp)
        return;
    tok_vocab_free(&wp->vocab);
    rg_free(wp);
}

static rg_status wp_tokenize(const void *model, const char *w, size_t n, size_t nchars,
                             tok_ids *out, rg_error *err)
{
    const wordpiece *wp = model;
    if (nchars > wp->max_chars)
        return tok_ids_push(out, wp->unk, err);
    char buf[WP_PREFIX_MAX + RG_TOK_PIECE_MAX];
    size_t first = out->n;
    size_t start = 0;
    while (start < n) {
        size_t end = n;
        int32_t id = -1;
        while (end > start) {
            size_t len = end - start;
            if (start == 0) {
                id = len <= RG_TOK_PIECE_MAX ? tok_vocab_find(&wp->vocab, w, len) : -1;
            } else if (len <= RG_TOK_PIECE_MAX) {
                memcpy(buf, wp->prefix, wp->prefix_len);
                memcpy(buf + wp->prefix_len, w + start, len);
                id = tok_vocab_find(&wp->vocab, buf, wp->prefix_len + len);
            }
            if (id >= 0)
                break;
            /* step back one code point */
            do
                end--;
            while (end > start && ((unsigned char)w[end] & 0xc0) == 0x80);
        }
        if (id < 0) {
            out->n = first;
            return tok_ids_push(out, wp->unk, err);
        }
        rg_status rc = tok_ids_push(out, id, err);
        if (rc)
            return rc;
        start = end;
    }
    return RG_OK;
}

const tok_model_ops tok_wordpiece_ops = {"WordPiece", wp_tokenize, wp_free};

rg_status tok_wordpiece_new(const cJSON *model, void **out, const tok_vocab **vocab, rg_error *err)
{
    *out = NULL;
    rg_status rc = RG_OK;
    wordpiece *wp = rg_calloc(1, sizeof *wp);
    if (!wp)
        return rg_fail(err, RG_ENOMEM, "tokenizer: out of memory");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(model, "continuing_subword_prefix");
    const cJSON *mx = cJSON_GetObjectItemCaseSensitive(model, "max_input_chars_per_word");
    if (!cJSON_IsObject(v) || !cJSON_IsString(unk)) {
        rc = rg_fail(err, RG_ECORRUPT, "tokenizer: WordPiece model without vocab or unk_token");
        goto out;
    }
    const char *p = cJSON_IsString(pre) ? pre->valuestring : "##";
    wp->prefix_len = strlen(p);
    if (wp->prefix_len > WP_PREFIX_MAX) {
        rc = rg_fail(err, RG_ELIMIT, "tokenizer: continuing_subword_prefix too long");
        goto out;
    }
    memcpy(wp->prefix, p, wp->prefix_len);
    wp->max_chars = rg_json_size(mx, WP_MAX_CHARS_LIMIT, 100);
    size_t n = (size_t)cJSON_GetArraySize(v);
    if ((rc = tok_vocab_init(&wp->vocab, n, err)))
        goto out;
    const cJSON *e;
    cJSON_ArrayForEach(e, v)
    {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble >= (double)n) {
            rc = rg_fail(err, RG_ECORRUPT, "tokenizer: vocabulary entry '%s' has a bad id", e->string);
            goto out;
        }
        if ((rc = tok_vocab_set(&wp->vocab, (int32_t)e->valuedouble, e->string, strlen(e->string), err)))
            goto out;
    }
    if ((rc = tok_vocab_index(&wp->vocab, err)))
        goto out;
    wp->unk = tok_vocab_find(&wp->vocab, unk->valuestring, strlen(unk->valuestring));
    if (wp->unk < 0) {
        rc = rg_fail(err, RG_ECORRUPT, "tokenizer: unk_token '%s' is not in the vocabulary",
                     unk->valuestring);
        goto out;
    }
out:
    if (rc) {
        wp_free(wp);
        return rc;
    }
    *out = wp;
    *vocab = &wp->vocab;
    return RG_OK;
}
