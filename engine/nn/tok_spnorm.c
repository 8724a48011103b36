/*
 * tok_spnorm.c — the normalizers and the pre-tokenizer that come with
 * SentencePiece models in tokenizer.json:
 *
 *   normalizers   Precompiled (SentencePiece's compiled charsmap), Replace,
 *                 NFC/NFD/NFKC/NFKD, Lowercase, Strip, Prepend, Sequence;
 *   pre-tokenizer Metaspace (spaces become U+2581, optional prefix, split).
 *
 * Each does what Hugging Face tokenizers does, quirks included (noted
 * where they occur), because ids must match it exactly.
 */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "engine/base/buf.h"
#include "engine/base/mem.h"
#include "engine/base/utf8.h"
#include "engine/nn/tok_internal.h"
#include "engine/nn/tokenizer.h"

/* Most steps a normalizer Sequence may hold, and how deep Sequences nest. */
#define SN_STEPS_MAX 32
#define SN_DEPTH_MAX 4
/* Longest normalized text, in bytes (NFKC and charsmap rules expand text). */
#define SN_OUTPUT_MAX ((size_t)RG_TOK_INPUT_MAX * 4)
/* Longest Replace pattern or content, in bytes. */
#define SN_REPLACE_MAX 64
/* Largest decoded precompiled_charsmap. */
#define SN_CHARSMAP_MAX (16u * 1024u * 1024u)
/* HF's Precompiled tries a whole grapheme only when it is shorter than this (bytes). */
#define SN_GRAPHEME_WHOLE 6
typedef enum {
    SN_PRECOMPILED,
    SN_REPLACE,
    SN_NFC,
    SN_NFD,
    SN_NFKC,
    SN_NFKD,
    SN_LOWERCASE,
    SN_STRIP,
    SN_PREPEND,
} sn_kind;

typedef struct sn_step {
    sn_kind kind;
    /* Precompiled: darts-clone double array and the NUL-separated string pool */
    uint32_t *units;
    size_t n_units;
    char *pool;
    size_t pool_len;
    /* Replace: a literal, or a run of one code point (min..max times) */
    char pat[SN_REPLACE_MAX + 1], content[SN_REPLACE_MAX + 1];
    size_t pat_len, content_len;
    int run;
    uint32_t run_cp;
    size_t run_min, run_max;
    /* Strip */
    int left, right;
} sn_step;

struct tok_sp_norm {
    sn_step steps[SN_STEPS_MAX];
    size_t n;
};

void tok_sp_norm_free(tok_sp_norm *nm)
{
    if (!nm)
        return;
    for (size_t i = 0; i < nm->n; i++) {
        rg_free(nm->steps[i].units);
        rg_free(nm->steps[i].pool);
    }
    rg_free(nm);
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Standard base64 with padding, as serde writes the charsmap. */
static rg_status b64_decode(const char *s, unsigned char **out, size_t *n, rg_error *err)
{
    size_t len = strlen(s);
    if (len % 4 != 0 || len / 4 * 3 > SN_CHARSMAP_MAX)
        return rg_fail(err, RG_ECORRUPT, "tokenizer: precompiled_charsmap is not base64");
    unsigned char *p = rg_malloc(len / 4 * 3 + 1);
    if (!p)
        return rg_fail(err, RG_ENOMEM, "tokenizer: out of memory");
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        int v[4], pad = 0;
        for (int k = 0; k < 4; k++) {
            unsigned char c = (unsigned char)s[i + k];
            /* '=' only at the very end, at most two */
            if (c == '=' && i + 4 == len && k >= 2 && (k == 3 || s[i + 3] == '=')) {
                v[k] = 0;
                pad++;
            } else if ((v[k] = b64_value(c)) < 0) {
                rg_free(p);
                return rg_fail(err, RG_ECORRUPT, "tokenizer: precompiled_charsmap is not base64");
            }
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        p[o++] = (unsigned char)(w >> 16);
        if (pad < 2)
            p[o++] = (unsigned char)(w >> 8);
        if (pad < 1)
            p[o++] = (unsigned char)w;
    }
    *out = p;
    *n = o;
    return RG_OK;
}

/* Blob = u32 LE trie size in bytes, the trie's u32 LE units, then the string pool. */
static rg_status load_precompiled(sn_step *st, const cJSON *j, rg_error *err)
{
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(j, "precompiled_charsmap");
    if (!cJSON_IsString(map))
        return rg_fail(err, RG_ECORRUPT, "tokenizer: Precompiled without precompiled_charsmap");
    unsigned char *blob = NULL;
    size_t n = 0;
    rg_status rc = b64_decode(map->valuestring, &blob, &n, err);
    if (rc)
        return rc;
    if (n == 0)
        goto out; /* an empty charsmap normalizes nothing */
    uint32_t trie_bytes = n >= 4 ? (uint32_t)blob[0] | (uint32_t)blob[1] << 8 |
                                       (uint32_t)blob[2] << 16 | (uint32_t)blob[3] << 24
                                 : UINT32_MAX;
    if (trie_bytes > n - 4 || trie_bytes < 4) {
        rc = rg_fail(err, RG_ECORRUPT, "tokenizer: precompiled_charsmap trie size is out of range");
        goto out;
    }
    st->n_units = trie_bytes / 4;
    st->pool_len = n - 4 - st->n_units * 4;
    st->units = rg_malloc(st->n_units * sizeof *st->units);
    st->pool = rg_malloc(st->pool_len + 1);
    if (!st->units || !st->pool) {
        rc = rg_fail(err, RG_ENOMEM, "tokenizer: out of memory");
        goto out;
    }
    for (size_t i = 0; i < st->n_units; i++) {
        const unsigned char *u = blob + 4 + 4 * i;
        st->units[i] = (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
    }
    memcpy(st->pool, blob + 4 + st->n_units * 4, st->pool_len);
    st->pool[st->pool_len] = 0;
    if (!rg_utf8_valid(st->pool, st->pool_len, NULL))
        rc = rg_fail(err, RG_ECORRUPT, "tokenizer: precompiled_charsmap strings are not UTF-8");
out:
    rg_free(blob);
    return rc;
}

/*
 * The pool offset of the shortest rule that is a prefix of key[0..n), or -1.
 * Shortest, not longest as SentencePiece itself picks: HF's quirk. Indices
 * are checked so that a damaged trie reads nothing outside its array.
 */
static long first_prefix_value(const sn_step *st, const unsigned char *key, size_t n)
{
    const uint32_t *a = st->units;
    size_t pos = 0;
#define UNIT_OFFSET(u) (((u) >> 10) << (((u) & (1u << 9)) >> 6))
    pos ^= UNIT_OFFSET(a[0]);
    for (size_t i = 0; i < n && key[i]; i++) {
        pos ^= key[i];
        if (pos >= st->n_units)
            return -1;
        uint32_t u = a[pos];
        if ((u & ((1u << 31) | 0xffu)) != key[i])
            return -1;
        pos ^= UNIT_OFFSET(u);
        if ((u >> 8) & 1) {
            if (pos >= st->n_units)
                return -1;
            uint32_t v = a[pos] & ((1u << 31) - 1);
            return v < st->pool_len ? (long)v : -1;
        }
    }
#undef UNIT_OFFSET
    return -1;
}

static rg_status put(rg_buf *b, const void *p, size_t n, rg_error *err)
{
    rg_status rc = rg_buf_append(b, p, n);
    if (rc == RG_ELIMIT)
        return rg_fail(err, rc, "tokenizer: normalized text longer than %zu bytes", (size_t)SN_OUTPUT_MAX);
    if (rc)
        return rg_fail(err, rc, "tokenizer: out of memory");
    return RG_OK;
}

/* Appends the rule for s[0..n) if one applies; *hit says whether it did. */
static rg_status transform(const sn_step *st, const char *s, size_t n, rg_buf *out, int *hit,
                           rg_error *err)
{
    long v = st->units ? first_prefix_value(st, (const unsigned char *)s, n) : -1;
    *hit = v >= 0;
    if (v < 0)
        return RG_OK;
    const char *r = st->pool + v;
    size_t len = strlen(r);
    /* an offset inside a character: only a damaged file has one, and every
     * later step relies on the text staying valid UTF-8 */
    if (!rg_utf8_valid(r, len, NULL))
        return rg_fail(err, RG_ECORRUPT, "tokenizer: precompiled_charsmap rule is not UTF-8");
    return put(out, r, len, err);
}

/*
 * HF's Precompiled: per extended grapheme cluster, the whole cluster goes
 * through the charsmap when it is short; otherwise (or with no rule for it)
 * each code point does. Only clusters under SN_GRAPHEME_WHOLE bytes with two
 * or more code points depend on the cluster rules, so utf8proc's Unicode
 * version agreeing with Rust's on those (CR LF, a letter and a mark) suffices.
 */
static rg_status apply_precompiled(const sn_step *st, const char *s, size_t n, rg_buf *out,
                                   rg_error *err)
{
    size_t i = 0;
    while (i < n) {
        uint32_t c, prev;
        size_t k = rg_utf8_decode(s + i, n - i, &prev), end = i + k;
        utf8proc_int32_t state = 0;
        while (end < n) {
            k = rg_utf8_decode(s + end, n - end, &c);
            if (utf8proc_grapheme_break_stateful((utf8proc_int32_t)prev, (utf8proc_int32_t)c, &state))
                break;
            prev = c;
            end += k;
        }
        int hit = 0;
        rg_status rc;
        if (end - i < SN_GRAPHEME_WHOLE && (rc = transform(st, s + i, end - i, out, &hit, err)))
            return rc;
        while (!hit && i < end) {
            k = rg_utf8_decode(s + i, end - i, &c);
            if ((rc = transform(st, s + i, k, out, &hit, err)) ||
                (!hit && (rc = put(out, s + i, k, err))))
                return rc;
            hit = 0;
            i += k;
        }
        i = end;
    }
    return RG_OK;
}

/*
 * Replace patterns are regular expressions in general; tokenizer.json files
 * of this family use a literal or a run of one character (" {2,}"), which is
 * all this accepts.
 */
static rg_status load_replace(sn_step *st, const cJSON *j, rg_error *err)
{
    const cJSON *pat = cJSON_GetObjectItemCaseSensitive(j, "pattern");
    const cJSON *str = cJSON_GetObjectItemCaseSensitive(pat, "String");
    const cJSON *re = cJSON_GetObjectItemCaseSensitive(pat, "Regex");
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(j, "content");
    const char *p = cJSON_IsString(str) ? str->valuestring : cJSON_IsString(re) ? re->valuestring : NULL;
    if (!p || !cJSON_IsString(content))
        return rg_fail(err, RG_ECORRUPT, "tokenizer: Replace without pattern or content");
    st->pat_len = strlen(p);
    st->content_len = strlen(content->valuestring);
    if (st->pat_len == 0 || st->pat_len > SN_REPLACE_MAX || st->content_len > SN_REPLACE_MAX)
        return rg_fail(err, RG_ELIMIT, "tokenizer: Replace pattern or content of bad length");
    /* the steps decode what they are given: a pattern that ends inside a character, or
     * content that is not UTF-8, would leave them stuck on a stray byte (tests/fuzz) */
    if (!rg_utf8_valid(p, st->pat_len, NULL) ||
        !rg_utf8_valid(content->valuestring, st->content_len, NULL))
        return rg_fail(err, RG_ECORRUPT, "tokenizer: Replace pattern or content is not UTF-8");
    memcpy(st->pat, p, st->pat_len);
    memcpy(st->content, content->valuestring, st->content_len);
    if (cJSON_IsString(str) || strcspn(p, "\\.^$|?*+()[]{}") == st->pat_len)
        return RG_OK;
    /* one literal code point, then {m,} {m,n} {m} or + */
    size_t k = rg_utf8_decode(p, st->pat_len, &st->run_cp);
    const char *q = p + k;
    char *e;
    int meta = st->run_cp == 0 || (st->run_cp < 0x80 && strchr("\\.^$|?*+()[]{}", (int)st->run_cp));
    if (k && !meta) {
        if (strcmp(q, "+") == 0) {
            st->run_min = 1;
            st->run_max = SIZE_MAX;
            st->run = 1;
        } else if (q[0] == '{' && q[1] >= '0' && q[1] <= '9') {
            st->run_min = strtoul(q + 1, &e, 10);
            st->run_max = st->run_min;
            if (e[0] == ',' && e[1] == '}') {
                st->run_max = SIZE_MAX;
                e++;
            } else if (e[0] == ',' && e[1] >= '0' && e[1] <= '9') {
                st->run_max = strtoul(e + 1, &e, 10);
            }
            st->run = e[0] == '}' && e[1] == 0 && st->run_min >= 1 && st->run_max >= st->run_min;
        }
    }
    if (!st->run)
        return rg_fail(err, RG_EUNSUPPORTED, "tokenizer: Replace regex '%s' is not supported", p);
    return RG_OK;
}

static rg_status apply_replace(const sn_step *st, const char *s, size_t n, rg_buf *out, int *lead,
                               rg_error *err)
{
    rg_status rc;
    size_t i = 0;
    while (i < n) {
        size_t match = 0;
        if (!st->run) {
            match = n - i >= st->pat_len && memcmp(s + i, st->pat, st->pat_len) == 0 ? st->pat_len : 0;
        } else {
            size_t count = 0, j = i;
            uint32_t c;
            size_t k;
            while (count < st->run_max && (k = rg_utf8_decode(s + j, n - j, &c)) && c == st->run_cp) {
                j += k;
                count++;
            }
            match = count >= st->run_min ? j - i : 0;
        }
        if (match) {
            if (i == 0 && st->content_len == 0)
                *lead = 0;
            if ((rc = put(out, st->content, st->content_len, err)))
                return rc;
            i += match;
            continue;
        }
        uint32_t c;
        size_t k = rg_utf8_decode(s + i, n - i, &c);
        if ((rc = put(out, s + i, k, err)))
            return rc;
        i += k;
    }
    return RG_OK;
}

static rg_status apply_unicode(sn_kind kind, const char *s, size_t n, rg_buf *out, rg_error *err)
{
    utf8proc_option_t opt = UTF8PROC_STABLE;
    if (kind == SN_NFC || kind == SN_NFKC)
        opt |= UTF8PROC_COMPOSE;
    else
        opt |= UTF8PROC_DECOMPOSE;
    if (kind == SN_NFKC || kind == SN_NFKD)
        opt |= UTF8PROC_COMPAT;
    utf8proc_uint8_t *r = NULL;
    utf8proc_ssize_t len = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &r, opt);
    if (len < 0)
        return rg_fail(err, len == UTF8PROC_ERROR_NOMEM ? RG_ENOMEM : RG_EUTF8, "tokenizer: %s",
                       utf8proc_errmsg(len));
    rg_status rc = put(out, r, (size_t)len, err);
    free(r); /* utf8proc allocates with malloc */
    return rc;
}

/* Rust's char::to_lowercase, one code point at a time (no final-sigma rule). */
static rg_status apply_lowercase(const char *s, size_t n, rg_buf *out, rg_error *err)
{
    rg_status rc = RG_OK;
    for (size_t i = 0; i < n && !rc;) {
        uint32_t c;
        i += rg_utf8_decode(s + i, n - i, &c);
        char u[8];
        size_t k;
        if (c == 0x130) { /* the one unconditional mapping to two code points */
            k = rg_utf8_encode('i', u);
            k += rg_utf8_encode(0x307, u + k);
        } else {
            k = rg_utf8_encode((uint32_t)utf8proc_tolower((utf8proc_int32_t)c), u);
        }
        rc = put(out, u, k, err);
    }
    return rc;
}

static rg_status apply_strip(const sn_step *st, const char *s, size_t n, rg_buf *out, int *lead,
                             rg_error *err)
{
    size_t a = 0, b = n;
    uint32_t c;
    size_t k;
    while (st->left && a < b && (k = rg_utf8_decode(s + a, b - a, &c)) && tok_is_rust_whitespace(c))
        a += k;
    while (st->right && b > a) {
        size_t j = b - 1;
        while (j > a && ((unsigned char)s[j] & 0xc0) == 0x80)
            j--;
        if (!rg_utf8_decode(s + j, b - j, &c) || !tok_is_rust_whitespace(c))
            break;
        b = j;
    }
    if (a > 0)
        *lead = 0;
    return put(out, s + a, b - a, err);
}

/*
 * *lead: whether the text's first character still stands where the input's
 * first did. HF tracks that through its alignments, and Metaspace's "first"
 * scheme reads it: dropping leading characters (Strip, Replace with nothing)
 * clears it, while Precompiled loses track of what it drops and keeps it.
 */
static rg_status apply_step(const sn_step *st, const char *s, size_t n, rg_buf *out, int *lead,
                            rg_error *err)
{
    switch (st->kind) {
    case SN_PRECOMPILED:
        return apply_precompiled(st, s, n, out, err);
    case SN_REPLACE:
        return apply_replace(st, s, n, out, lead, err);
    case SN_LOWERCASE:
        return apply_lowercase(s, n, out, err);
    case SN_STRIP:
        return apply_strip(st, s, n, out, lead, err);
    case SN_PREPEND: { /* HF prepends nothing to an empty string */
        rg_status rc = n ? put(out, st->content, st->content_len, err) : RG_OK;
        return rc ? rc : put(out, s, n, err);
    }
    default:
        return apply_unicode(st->kind, s, n, out, err);
    }
}

static rg_status load_step(tok_sp_norm *nm, const cJSON *j, int depth, rg_error *err)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
    const char *t = cJSON_IsString(type) ? type->valuestring : "(untyped)";
    if (strcmp(t, "Sequence") == 0) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "normalizers"), *e;
        if (!cJSON_IsArray(list) || depth >= SN_DEPTH_MAX)
            return rg_fail(err, RG_ECORRUPT, "tokenizer: malformed normalizer Sequence");
        cJSON_ArrayForEach(e, list)
        {
            rg_status rc = load_step(nm, e, depth + 1, err);
            if (rc)
                return rc;
        }
        return RG_OK;
    }
    if (nm->n >= SN_STEPS_MAX)
        return rg_fail(err, RG_ELIMIT, "tokenizer: more than %d normalizers", SN_STEPS_MAX);
    sn_step *st = &nm->steps[nm->n++];
    static const struct {
        const char *name;
        sn_kind kind;
    } simple[] = {{"NFC", SN_NFC}, {"NFD", SN_NFD}, {"NFKC", SN_NFKC}, {"NFKD", SN_NFKD},
                  {"Lowercase", SN_LOWERCASE}};
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++)
        if (strcmp(t, simple[i].name) == 0) {
            st->kind = simple[i].kind;
            return RG_OK;
        }
    if (strcmp(t, "Precompiled") == 0) {
        st->kind = SN_PRECOMPILED;
        return load_precompiled(st, j, err);
    }
    if (strcmp(t, "Replace") == 0) {
        st->kind = SN_REPLACE;
        return load_replace(st, j, err);
    }
    if (strcmp(t, "Strip") == 0) {
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(j, "strip_left");
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "strip_right");
        st->kind = SN_STRIP;
        st->left = cJSON_IsBool(l) ? cJSON_IsTrue(l) : 1;
        st->right = cJSON_IsBool(r) ? cJSON_IsTrue(r) : 1;
        return RG_OK;
    }
    if (strcmp(t, "Prepend") == 0) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "prepend");
        if (!cJSON_IsString(p) || strlen(p->valuestring) > SN_REPLACE_MAX ||
            !rg_utf8_valid(p->valuestring, strlen(p->valuestring), NULL))
            return rg_fail(err, RG_ECORRUPT, "tokenizer: malformed Prepend normalizer");
        st->kind = SN_PREPEND;
        st->content_len = strlen(p->valuestring);
        memcpy(st->content, p->valuestring, st->content_len);
        return RG_OK;
    }
    return rg_fail(err, RG_EUNSUPPORTED, "tokenizer: normalizer %s is not supported", t);
}

rg_status tok_sp_norm_new(const cJSON *normalizer, tok_sp_norm **out, rg_error *err)
{
    *out = NULL;
    tok_sp_norm *nm = rg_calloc(1, sizeof *nm);
    if (!nm)
        return rg_fail(err, RG_ENOMEM, "tokenizer: out of memory");
    rg_status rc = load_step(nm, normalizer, 0, err);
    if (rc) {
        tok_sp_norm_free(nm);
        return rc;
    }
    *out = nm;
    return RG_OK;
}

rg_status tok_sp_normalize(const tok_sp_norm *nm, const char *s, size_t n, tok_cps *out,
                           int *at_start, rg_error *err)
{
    rg_buf a, b;
    rg_buf_init(&a, SN_OUTPUT_MAX);
    rg_buf_init(&b, SN_OUTPUT_MAX);
    rg_status rc = RG_OK;
    const char *cur = s;
    size_t len = n;
    for (size_t i = 0; i < nm->n; i++) {
        rg_buf *dst = i % 2 ? &b : &a;
        rg_buf_reset(dst);
        if ((rc = apply_step(&nm->steps[i], cur, len, dst, at_start, err)))
            goto out;
        cur = dst->data ? dst->data : "";
        len = dst->len;
    }
    if ((rc = tok_cps_reserve(out, len + 1, err)))
        goto out;
    out->n = 0;
    for (size_t i = 0; i < len;) {
        size_t k = rg_utf8_decode(cur + i, len - i, &out->v[out->n]);
        if (!k) { /* a charsmap offset inside a character: only a damaged file does that */
            rc = rg_fail(err, RG_ECORRUPT, "tokenizer: normalizer produced invalid UTF-8");
            goto out;
        }
        out->n++;
        i += k;
    }
out:
    rg_buf_free(&a);
    rg_buf_free(&b);
    return rc;
}

/* ---- Metaspace ---- */

rg_status tok_metaspace_load(const cJSON *p, tok_metaspace *m, rg_error *err)
{
    const cJSON *rep = cJSON_GetObjectItemCaseSensitive(p, "replacement");
    const cJSON *scheme = cJSON_GetObjectItemCaseSensitive(p, "prepend_scheme");
    const cJSON *prefix = cJSON_GetObjectItemCaseSensitive(p, "add_prefix_space");
    const cJSON *split = cJSON_GetObjectItemCaseSensitive(p, "split");
    size_t k = cJSON_IsString(rep) ? rg_utf8_decode(rep->valuestring, strlen(rep->valuestring), &m->replacement) : 0;
    if (!k || rep->valuestring[k])
        return rg_fail(err, RG_ECORRUPT, "tokenizer: Metaspace replacement must be one character");
    m->prepend = TOK_PREPEND_ALWAYS;
    if (cJSON_IsString(scheme)) {
        const char *s = scheme->valuestring;
        if (strcmp(s, "first") == 0)
            m->prepend = TOK_PREPEND_FIRST;
        else if (strcmp(s, "never") == 0)
            m->prepend = TOK_PREPEND_NEVER;
        else if (strcmp(s, "always") != 0)
            return rg_fail(err, RG_ECORRUPT, "tokenizer: Metaspace prepend_scheme %s is unknown", s);
    }
    /* older files: add_prefix_space false means never (HF rejects it with another scheme) */
    if (cJSON_IsFalse(prefix)) {
        if (cJSON_IsString(scheme) && m->prepend != TOK_PREPEND_NEVER)
            return rg_fail(err, RG_ECORRUPT, "tokenizer: Metaspace add_prefix_space contradicts prepend_scheme");
        m->prepend = TOK_PREPEND_NEVER;
    }
    m->split = cJSON_IsBool(split) ? cJSON_IsTrue(split) : 1;
    return RG_OK;
}

rg_status tok_metaspace_pretokenize(const tok_metaspace *m, tok_cps *a, int at_start,
                                    tok_word_fn word, void *ctx, rg_error *err)
{
    if (a->n == 0) /* HF's prepend needs a first character to attach to */
        return RG_OK;
    for (size_t i = 0; i < a->n; i++)
        if (a->v[i] == ' ')
            a->v[i] = m->replacement;
    int prepend = m->prepend == TOK_PREPEND_ALWAYS || (m->prepend == TOK_PREPEND_FIRST && at_start);
    if (prepend && a->v[0] != m->replacement) {
        rg_status rc = tok_cps_reserve(a, a->n + 1, err);
        if (rc)
            return rc;
        memmove(a->v + 1, a->v, a->n * sizeof *a->v);
        a->v[0] = m->replacement;
        a->n++;
    }
    if (!m->split)
        return word(ctx, a->v, 0, a->n);
    /* each piece starts at a replacement character (MergedWithNext) */
    size_t start = 0;
    rg_status rc;
    for (size_t i = 1; i < a->n; i++)
        if (a->v[i] == m->replacement) {
            if ((rc = word(ctx, a->v, start, i)))
                return rc;
            start = i;
        }
    return word(ctx, a->v, start, a->n);
}
