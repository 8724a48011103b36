/*
 * lexical_snippet.c — rg_lexical_snippet: the window of a chunk's text with
 * the most query terms, the terms marked, cut on token boundaries.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/base/buf.h"
#include "engine/base/mem.h"
#include "engine/base/utf8.h"
#include "engine/base/zh.h"
#include "index/lexical.h"
#include "index/lexical_impl.h"

typedef struct snip_tok {
    size_t start, end;
    size_t pos; /* token position; colocated tokens share one */
    int term;   /* index into lx->qtext, or -1 */
} snip_tok;

typedef struct snip {
    rg_lexical *lx;
    snip_tok *tok;
    size_t n, cap;
    int oom;
} snip;

static int collect_text_token(void *ctx, const char *tok, size_t n, size_t start, size_t end,
                              int colocated)
{
    snip *s = ctx;
    if (!rg_lex_grow(&s->tok, &s->cap, s->n + 1, sizeof(snip_tok))) {
        s->oom = 1;
        return 1;
    }
    snip_tok *t = &s->tok[s->n];
    t->start = start;
    t->end = end;
    t->pos = s->n == 0 ? 0 : s->tok[s->n - 1].pos + !colocated;
    t->term = -1;
    /* compared with Traditional folded to Simplified, as the query's terms are */
    char fb[RG_TOKEN_MAX_BYTES];
    size_t m = n <= sizeof fb ? rg_zh_fold(tok, n, fb, sizeof fb) : 0;
    if (m) tok = fb, n = m;
    for (size_t i = 0; i < s->lx->n_qterm; i++) {
        if (s->lx->qlen[i] == n && memcmp(s->lx->qtext[i], tok, n) == 0) t->term = (int)i;
    }
    s->n++;
    return 0;
}

/*
 * First position of the window of w positions holding the most distinct
 * query terms (then the most matching tokens; then the earliest), slid so
 * that its matches sit in the middle rather than at its right edge.
 */
static size_t best_window(const snip *s, size_t n_pos, size_t w)
{
    unsigned cnt[RG_QUERY_MAX_TERMS] = {0};
    size_t distinct = 0, total = 0, best_d = 0, best_t = 0, best = 0;
    size_t lo = 0, hi = 0; /* tokens of the window: tok[lo..hi) */
    for (size_t a = 0; a + w <= n_pos; a++) {
        while (hi < s->n && s->tok[hi].pos < a + w) {
            int t = s->tok[hi++].term;
            if (t >= 0) total++, distinct += cnt[t]++ == 0;
        }
        while (lo < hi && s->tok[lo].pos < a) {
            int t = s->tok[lo++].term;
            if (t >= 0) total--, distinct -= --cnt[t] == 0;
        }
        if (distinct > best_d || (distinct == best_d && total > best_t)) {
            best_d = distinct, best_t = total, best = a;
        }
    }
    if (best_t == 0) return 0;
    /* Centre the matches; no match is lost, since the window was the best. */
    size_t first = SIZE_MAX, last = 0;
    for (size_t i = 0; i < s->n && s->tok[i].pos < best + w; i++) {
        const snip_tok *t = &s->tok[i];
        if (t->term < 0 || t->pos < best) continue;
        if (t->pos < first) first = t->pos;
        last = t->pos;
    }
    size_t pad = (w - (last - first + 1)) / 2;
    size_t a = first > pad ? first - pad : 0;
    return a + w > n_pos ? n_pos - w : a;
}

/* Byte span of a position: that of its first token (the unigram of CJK). */
static const snip_tok *pos_tok(const snip *s, size_t pos)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->tok[mid].pos < pos)
            lo = mid + 1;
        else
            hi = mid;
    }
    return &s->tok[lo];
}

/* Appends text[*at..a) and then text[a..b) wrapped in open/close. */
static rg_status mark(const char *text, size_t *at, size_t a, size_t b, const char *open,
                      const char *close, rg_buf *out)
{
    rg_status st = rg_buf_append(out, text + *at, a - *at);
    if (st == RG_OK) st = rg_buf_puts(out, open);
    if (st == RG_OK) st = rg_buf_append(out, text + a, b - a);
    if (st == RG_OK) st = rg_buf_puts(out, close);
    *at = b;
    return st;
}

/* Writes text[from..to) with the matching tokens inside it wrapped;
 * overlapping matches (CJK bigrams) become one wrapped span. Tokens come
 * in order of their start. */
static rg_status write_marked(const snip *s, const char *text, size_t from, size_t to,
                              const char *open, const char *close, rg_buf *out)
{
    rg_status st = RG_OK;
    size_t at = from, a = 0, b = 0; /* [a, b): the span being grown; empty when a == b */
    for (size_t i = 0; i < s->n && st == RG_OK; i++) {
        const snip_tok *t = &s->tok[i];
        size_t ta = t->start > from ? t->start : from, tb = t->end < to ? t->end : to;
        if (t->term < 0 || ta >= tb) continue;
        if (a < b && ta <= b) {
            if (tb > b) b = tb;
            continue;
        }
        if (a < b) st = mark(text, &at, a, b, open, close, out);
        a = ta;
        b = tb;
    }
    if (st == RG_OK && a < b) st = mark(text, &at, a, b, open, close, out);
    if (st == RG_OK && to > at) st = rg_buf_append(out, text + at, to - at);
    return st;
}

rg_status rg_lexical_snippet(rg_lexical *lx, const char *query, const char *text, size_t len,
                             size_t max_tokens, const char *open, const char *close, rg_buf *out,
                             rg_error *err)
{
    if (!lx || !query || (!text && len) || !open || !close || !out) {
        return rg_fail(err, RG_EINVAL, "lexical: bad snippet arguments");
    }
    size_t qn = strlen(query);
    if (qn > RG_QUERY_MAX_BYTES) {
        return rg_fail(err, RG_ELIMIT, "lexical: query of %zu bytes, at most %d", qn,
                       RG_QUERY_MAX_BYTES);
    }
    snip s = {lx, NULL, 0, 0, 0};
    pthread_mutex_lock(&lx->mu);
    lx->n_qterm = 0;
    rg_status st = rg_fts5_tokenizer_run(lx->tok, query, qn, 1, rg_lex_collect_term_text, lx, err);
    /* a question in one Chinese script highlights the passage in the other (zh.h) */
    for (size_t i = 0; st == RG_OK && i < lx->n_qterm; i++) {
        char fb[RG_TOKEN_MAX_BYTES];
        size_t m = rg_zh_fold(lx->qtext[i], lx->qlen[i], fb, sizeof fb);
        if (m) memcpy(lx->qtext[i], fb, lx->qlen[i] = m);
    }
    if (st == RG_OK) st = rg_fts5_tokenizer_run(lx->tok, text, len, 0, collect_text_token, &s, err);
    if (st == RG_OK && s.oom) st = rg_fail(err, RG_ENOMEM, "lexical: out of memory in snippet");
    if (st == RG_OK) {
        size_t n_pos = s.n ? s.tok[s.n - 1].pos + 1 : 0;
        size_t w = max_tokens && max_tokens < n_pos ? max_tokens : n_pos;
        size_t a = n_pos ? best_window(&s, n_pos, w) : 0;
        size_t from = a == 0 ? 0 : pos_tok(&s, a)->start;
        size_t to = a + w >= n_pos ? len : pos_tok(&s, a + w - 1)->end;
        if (from > 0) st = rg_buf_puts(out, RG_ELLIPSIS);
        if (st == RG_OK) st = write_marked(&s, text, from, to, open, close, out);
        if (st == RG_OK && to < len) st = rg_buf_puts(out, RG_ELLIPSIS);
        if (st != RG_OK) st = rg_fail(err, st, "lexical: snippet: %s", rg_strerror(st));
    }
    pthread_mutex_unlock(&lx->mu);
    rg_free(s.tok);
    return st;
}
