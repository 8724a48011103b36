/*
 * tok_bert.c — BertNormalizer and BertPreTokenizer, character for
 * character as Hugging Face tokenizers does them:
 *   clean_text: drop NUL, U+FFFD and "other" characters (Cc Cf Cs Co Cn,
 *               except \t \n \r), turn Rust-whitespace into ' ';
 *   handle_chinese_chars: ' ' c ' ' around CJK ideographs (BERT's ranges);
 *   strip_accents: NFD, then drop Mn (this leaves Hangul as jamo, as HF does);
 *   lowercase: full lower-case mapping per character (U+0130 -> "i\u0307").
 * The pre-tokenizer splits on whitespace (removed) and isolates every
 * punctuation character (ASCII punctuation or Unicode P*).
 */
#include <string.h>
#include <utf8proc.h>

#include "engine/base/mem.h"
#include "engine/base/utf8.h"
#include "engine/nn/tok_internal.h"

/* Rust's char::is_whitespace: the White_Space property. */
int tok_is_rust_whitespace(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
           c == 0x205f || c == 0x3000;
}

static int is_other(uint32_t c)
{
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k == UTF8PROC_CATEGORY_CC || k == UTF8PROC_CATEGORY_CF || k == UTF8PROC_CATEGORY_CS ||
           k == UTF8PROC_CATEGORY_CO || k == UTF8PROC_CATEGORY_CN;
}

static int is_chinese_char(uint32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

static int is_bert_punct(uint32_t c)
{
    if (c < 0x80)
        return (c >= 0x21 && c <= 0x2f) || (c >= 0x3a && c <= 0x40) || (c >= 0x5b && c <= 0x60) ||
               (c >= 0x7b && c <= 0x7e);
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k == UTF8PROC_CATEGORY_PC || k == UTF8PROC_CATEGORY_PD || k == UTF8PROC_CATEGORY_PS ||
           k == UTF8PROC_CATEGORY_PE || k == UTF8PROC_CATEGORY_PI || k == UTF8PROC_CATEGORY_PF ||
           k == UTF8PROC_CATEGORY_PO;
}

/* NFD of a->v[0..n) in place (through a temporary), keeping non-Mn code points. */
static rg_status strip_accents(tok_cps *a, rg_error *err)
{
    rg_status rc = RG_OK;
    char *u = rg_malloc(a->n * 4 + 1);
    utf8proc_int32_t *d = NULL;
    if (!u)
        return rg_fail(err, RG_ENOMEM, "tokenizer: out of memory");
    size_t ulen = 0;
    for (size_t i = 0; i < a->n; i++)
        ulen += rg_utf8_encode(a->v[i], u + ulen);
    size_t cap = a->n + 16;
    for (;;) {
        d = rg_malloc(cap * sizeof *d);
        if (!d) {
            rc = rg_fail(err, RG_ENOMEM, "tokenizer: out of memory");
            goto out;
        }
        utf8proc_ssize_t r = utf8proc_decompose((const utf8proc_uint8_t *)u, (utf8proc_ssize_t)ulen,
                                                d, (utf8proc_ssize_t)cap, UTF8PROC_DECOMPOSE);
        if (r < 0) {
            rc = rg_fail(err, RG_EUTF8, "tokenizer: %s", utf8proc_errmsg(r));
            goto out;
        }
        if ((size_t)r <= cap) {
            rc = tok_cps_reserve(a, (size_t)r, err);
            if (rc)
                goto out;
            a->n = 0;
            for (utf8proc_ssize_t i = 0; i < r; i++)
                if (utf8proc_category(d[i]) != UTF8PROC_CATEGORY_MN)
                    a->v[a->n++] = (uint32_t)d[i];
            goto out;
        }
        cap = (size_t)r;
        rg_free(d);
        d = NULL;
    }
out:
    rg_free(d);
    rg_free(u);
    return rc;
}

static rg_status lowercase(tok_cps *a, rg_error *err)
{
    size_t extra = 0;
    for (size_t i = 0; i < a->n; i++)
        extra += a->v[i] == 0x130;
    if (extra) {
        rg_status rc = tok_cps_reserve(a, a->n + extra, err);
        if (rc)
            return rc;
    }
    /* walk backwards so the one expanding mapping can shift in place */
    size_t w = a->n + extra;
    for (size_t i = a->n; i-- > 0;) {
        uint32_t c = a->v[i];
        if (c == 0x130) {
            a->v[--w] = 0x307;
            a->v[--w] = 'i';
        } else {
            a->v[--w] = (uint32_t)utf8proc_tolower((utf8proc_int32_t)c);
        }
    }
    a->n += extra;
    return RG_OK;
}

rg_status tok_bert_normalize(const tok_bert_norm *cfg, const char *s, size_t n, tok_cps *out,
                             rg_error *err)
{
    /* each input byte yields at most one code point, tripled by CJK spacing */
    rg_status rc = tok_cps_reserve(out, 3 * n + 1, err);
    if (rc)
        return rc;
    out->n = 0;
    size_t i = 0;
    while (i < n) {
        uint32_t c;
        size_t k = rg_utf8_decode(s + i, n - i, &c);
        if (!k)
            return rg_fail(err, RG_EUTF8, "tokenizer: invalid UTF-8 at byte %zu", i);
        i += k;
        if (cfg->enabled && cfg->clean_text) {
            if (c == 0 || c == 0xfffd || (c != '\t' && c != '\n' && c != '\r' && is_other(c)))
                continue;
            if (c == '\t' || c == '\n' || c == '\r' || tok_is_rust_whitespace(c))
                c = ' ';
        }
        if (cfg->enabled && cfg->handle_chinese_chars && is_chinese_char(c)) {
            out->v[out->n++] = ' ';
            out->v[out->n++] = c;
            out->v[out->n++] = ' ';
        } else {
            out->v[out->n++] = c;
        }
    }
    if (cfg->enabled && cfg->strip_accents && (rc = strip_accents(out, err)))
        return rc;
    if (cfg->enabled && cfg->lowercase && (rc = lowercase(out, err)))
        return rc;
    return RG_OK;
}

rg_status tok_bert_pretokenize(const uint32_t *cps, size_t n, tok_word_fn word, void *ctx)
{
    size_t start = 0;
    rg_status rc;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = cps[i];
        int ws = tok_is_rust_whitespace(c);
        if (!ws && !is_bert_punct(c))
            continue;
        if (i > start && (rc = word(ctx, cps, start, i)))
            return rc;
        if (!ws && (rc = word(ctx, cps, i, i + 1)))
            return rc;
        start = i + 1;
    }
    if (n > start && (rc = word(ctx, cps, start, n)))
        return rc;
    return RG_OK;
}

rg_status tok_whitespace_split(const uint32_t *cps, size_t n, tok_word_fn word, void *ctx)
{
    size_t start = 0;
    rg_status rc;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && !tok_is_rust_whitespace(cps[i]))
            continue;
        if (i > start && (rc = word(ctx, cps, start, i)))
            return rc;
        start = i + 1;
    }
    return RG_OK;
}
