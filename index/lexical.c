/*
 * lexical.c — BM25 over in-memory postings read from an FTS5 index.
 *
 * Postings hold a precomputed impact per (term, chunk): the BM25 term
 * frequency part tf*(k1+1)/(tf + k1*(1-b+b*dl/avgdl)), so a query only
 * multiplies by idf and adds. Chunks are numbered 0..N-1 in chunk id order,
 * which makes "lower chunk index" and "lower chunk id" the same tie-break.
 * The score accumulator is allocated once per index; only the chunks a
 * query touched are read back and cleared, so a query costs the length of
 * its postings, not N. Building the index is lexical_build.c; bringing it
 * up to date, lexical_refresh.c; snippets, lexical_snippet.c.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "engine/base/mem.h"
#include "engine/base/utf8.h"
#include "engine/base/zh.h"
#include "index/lexical.h"
#include "index/lexical_impl.h"

/* Pruning is considered before a posting list at least this long (or
 * n_docs / RG_LEX_PRUNE_DIV, the larger): below it a plain pass is cheap. */
#define RG_LEX_PRUNE_MIN_DF 512
#define RG_LEX_PRUNE_DIV    64
/* A bound on the remaining terms is inflated by this share before it is
 * compared, covering float rounding of the sums it bounds. */
#define RG_LEX_BOUND_SLACK 1e-4
/* At most this many pruning checks a search (each ranks the chunks touched). */
#define RG_LEX_PRUNE_CHECKS 3
/* A check completes the k best scores only when the remaining terms' bound
 * is below this many times the k-th best partial score. */
#define RG_LEX_THETA_GAIN 2.0

size_t rg_lexical_size(const rg_lexical *lx)
{
    return lx ? lx->n_docs - lx->n_dead : 0;
}

size_t rg_lexical_pruned(rg_lexical *lx)
{
    if (!lx) return 0;
    pthread_mutex_lock(&lx->mu);
    size_t n = lx->n_pruned;
    pthread_mutex_unlock(&lx->mu);
    return n;
}

uint64_t rg_lex_term_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

long rg_lex_delta_term_find(const lex_delta *x, const char *s, size_t n)
{
    if (!x->slots) return -1;
    for (size_t h = rg_lex_term_hash(s, n) & x->slot_mask;; h = (h + 1) & x->slot_mask) {
        uint32_t v = x->slots[h];
        if (!v) return -1;
        size_t i = v - 1;
        if (x->off[i + 1] - x->off[i] == n && memcmp(x->pool + x->off[i], s, n) == 0)
            return (long)i;
    }
}

/* Term id of s[0..n), main or delta, or -1. */
long rg_lex_term_find(const rg_lexical *lx, const char *s, size_t n)
{
    for (size_t i = rg_lex_term_hash(s, n) & lx->slot_mask; lx->slots;
         i = (i + 1) & lx->slot_mask) {
        uint32_t v = lx->slots[i];
        if (!v) break;
        size_t t = v - 1, len = lx->term_off[t + 1] - lx->term_off[t];
        if (len == n && memcmp(lx->pool + lx->term_off[t], s, n) == 0) return (long)t;
    }
    long d = rg_lex_delta_term_find(&lx->delta, s, n);
    return d < 0 ? -1 : (long)lx->n_main_terms + d;
}

lex_dlist *rg_lex_dlist(const rg_lexical *lx, uint32_t t)
{
    if (!lx->dlists) return NULL;
    for (size_t h = rg_lex_dlist_home(t, lx->dlist_mask);; h = (h + 1) & lx->dlist_mask) {
        if (lx->dlists[h].term1 == t + 1) return &lx->dlists[h];
        if (!lx->dlists[h].term1) return NULL;
    }
}

size_t rg_lex_lists(const rg_lexical *lx, uint32_t t, const lex_post *p[2], size_t n[2])
{
    size_t k = 0;
    if (t < lx->n_main_terms && lx->post_off[t + 1] > lx->post_off[t]) {
        p[k] = lx->post + lx->post_off[t];
        n[k++] = lx->post_off[t + 1] - lx->post_off[t];
    }
    const lex_dlist *d = rg_lex_dlist(lx, t);
    if (d) {
        p[k] = lx->dpost + d->start;
        n[k++] = d->n;
    }
    return k;
}

size_t rg_lex_df(const rg_lexical *lx, long t)
{
    if (t < 0) return 0;
    const lex_dlist *d = rg_lex_dlist(lx, (uint32_t)t);
    size_t df = d ? d->n : 0;
    if ((size_t)t < lx->n_main_terms) df += lx->post_off[t + 1] - lx->post_off[t];
    return df;
}

float rg_lex_max_impact(const rg_lexical *lx, uint32_t t)
{
    const lex_dlist *d = rg_lex_dlist(lx, t);
    float m = d ? d->max : 0.0f;
    if (t < lx->n_main_terms && lx->post_max[t] > m) m = lx->post_max[t];
    return m;
}

const char *rg_lex_term_text(const rg_lexical *lx, uint32_t t, size_t *n)
{
    if (t < lx->n_main_terms) {
        *n = lx->term_off[t + 1] - lx->term_off[t];
        return lx->pool + lx->term_off[t];
    }
    const lex_delta *x = &lx->delta;
    size_t i = t - lx->n_main_terms;
    *n = x->off[i + 1] - x->off[i];
    return x->pool + x->off[i];
}

/* An unseen bigram of two characters this common is a seam between words
 * (is_seam); measured on cmrc2018 --holdout, README. */
#define RG_LEX_SEAM_CHAR_SHARE  0.05
#define RG_LEX_SEAM_CHAR_MIN_DF 5

/* The forms of ideograph c in either script (zh.h), c first; returns how many. */
static size_t zh_forms(uint32_t c, uint32_t out[RG_ZH_FORMS_MAX + 2])
{
    size_t n = 0;
    out[n++] = c;
    uint32_t simp = rg_zh_simplified(c), trad[RG_ZH_FORMS_MAX];
    if (simp != c) out[n++] = simp;
    size_t m = rg_zh_traditional(simp, trad, RG_ZH_FORMS_MAX);
    for (size_t i = 0; i < m && i < RG_ZH_FORMS_MAX; i++)
        if (trad[i] != c) out[n++] = trad[i];
    return n;
}

long rg_lex_query_term_find(const rg_lexical *lx, const char *s, size_t n)
{
    long best = rg_lex_term_find(lx, s, n);
    if (best >= 0) return best; /* the text's own script first */
    uint32_t cp[2];
    size_t n_cp = 0, at = 0;
    while (at < n && n_cp < 2) {
        size_t k = rg_utf8_decode(s + at, n - at, &cp[n_cp]);
        if (!k || !rg_is_cjk(cp[n_cp])) return best;
        at += k;
        n_cp++;
    }
    if (at != n) return best; /* longer than a bigram: not a CJK term */
    uint32_t forms[2][RG_ZH_FORMS_MAX + 2];
    size_t n_forms[2] = {1, 1};
    for (size_t j = 0; j < n_cp; j++)
        n_forms[j] = zh_forms(cp[j], forms[j]);
    if (n_forms[0] == 1 && n_forms[1] == 1) return best;
    size_t best_df = 0;
    for (size_t a = 0; a < n_forms[0]; a++) {
        for (size_t b = 0; b < (n_cp == 2 ? n_forms[1] : 1); b++) {
            if (a == 0 && b == 0) continue; /* the token itself */
            char text[8];
            size_t len = rg_utf8_encode(forms[0][a], text);
            if (n_cp == 2) len += rg_utf8_encode(forms[1][b], text + len);
            long t = rg_lex_term_find(lx, text, len);
            if (rg_lex_df(lx, t) > best_df) best = t, best_df = rg_lex_df(lx, t);
        }
    }
    return best;
}

/* Query tokens -> distinct ids of indexed terms in lx->qterm. */
static int collect_term_id(void *ctx, const char *tok, size_t n, size_t start, size_t end,
                           int colocated)
{
    (void)start;
    (void)end;
    (void)colocated;
    rg_lexical *lx = ctx;
    long t = rg_lex_query_term_find(lx, tok, n);
    if (t < 0) return 0;
    for (size_t i = 0; i < lx->n_qterm; i++) {
        if (lx->qterm[i] == (uint32_t)t) return 0;
    }
    lx->qterm[lx->n_qterm++] = (uint32_t)t;
    return lx->n_qterm == RG_QUERY_MAX_TERMS;
}

/* Heap order: a ranks below b (lower score, or same score and higher id). */
static int hit_worse(const rg_lex_hit *a, const rg_lex_hit *b)
{
    return a->score < b->score || (a->score == b->score && a->chunk_id > b->chunk_id);
}

/* Restores the min-heap (worst hit at the root) below position i. */
static void sift_down(rg_lex_hit *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && hit_worse(&h[l], &h[m])) m = l;
        if (r < n && hit_worse(&h[r], &h[m])) m = r;
        if (m == i) return;
        rg_lex_hit t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void sift_up(rg_lex_hit *h, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!hit_worse(&h[i], &h[p])) return;
        rg_lex_hit t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

static double idf_of(double n, double df)
{
    return log(1.0 + (n - df + 0.5) / (df + 0.5));
}

/* Adds a whole posting list into acc, recording chunks touched for the
 * first time; returns the new number of touched chunks. */
static size_t add_list(rg_lexical *lx, uint32_t t, float idf, size_t nt)
{
    const lex_post *lists[2];
    size_t lens[2], n_lists = rg_lex_lists(lx, t, lists, lens);
    float *acc = lx->acc;
    uint32_t *touched = lx->touched;
    for (size_t l = 0; l < n_lists; l++) {
        const lex_post *p = lists[l];
        for (size_t i = 0, df = lens[l]; i < df; i++) {
            uint32_t d = p[i].doc;
            float a = acc[d];
            touched[nt] = d; /* kept only if new: no branch to mispredict */
            nt += a == 0.0f;
            acc[d] = a + idf * p[i].w;
        }
    }
    return nt;
}

/* First position at or after lo in p[0..n) whose chunk is >= d (galloping:
 * cheap when the next match is near). */
static size_t seek(const lex_post *p, size_t lo, size_t n, uint32_t d)
{
    size_t step = 1, hi = lo;
    while (hi < n && p[hi].doc < d) {
        lo = hi + 1;
        hi += step;
        step *= 2;
    }
    if (hi > n) hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p[mid].doc < d)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Adds term t's impacts to the chunks cand[0..nc) (ascending) only. */
static void add_to_candidates(rg_lexical *lx, uint32_t t, float idf, size_t nc)
{
    const lex_post *lists[2];
    size_t lens[2], n_lists = rg_lex_lists(lx, t, lists, lens);
    float *acc = lx->acc;
    for (size_t l = 0; l < n_lists; l++) {
        const lex_post *p = lists[l];
        size_t df = lens[l];
        if (nc * 16 < df) { /* few candidates, long list: look them up */
            size_t at = 0;
            for (size_t i = 0; i < nc && at < df; i++) {
                at = seek(p, at, df, lx->cand[i]);
                if (at < df && p[at].doc == lx->cand[i]) acc[p[at].doc] += idf * p[at].w;
            }
            continue;
        }
        /* many candidates: a pass over the list that touches no new chunk
         * (chunks pruned earlier may gain too; they are not ranked) */
        for (size_t i = 0; i < df; i++) {
            uint32_t d = p[i].doc;
            if (acc[d] != 0.0f) acc[d] += idf * p[i].w;
        }
    }
}

/* The best k of docs[0..n) by acc that the filter allows, as a min-heap in
 * hits (worst at hits[0]); returns how many. With as_index, a hit's
 * chunk_id field holds the chunk's index instead of its id (the same order,
 * so the same ties). */
static size_t heap_top(rg_lexical *lx, const uint32_t *docs, size_t n, size_t k,
                       rg_chunk_filter filter, void *filter_ctx, rg_lex_hit *hits, int as_index)
{
    size_t nh = 0;
    float floor = -INFINITY; /* the worst kept score once the heap is full */
    for (size_t i = 0; i < n; i++) {
        uint32_t d = docs[i];
        float sc = lx->acc[d];
        if (sc < floor) continue; /* the common case: no chunk id to load */
        if (lx->n_dead && lx->dead[d]) continue; /* deleted since the last merge */
        rg_lex_hit c = {as_index ? (int64_t)d : lx->chunk_ids[d], sc};
        if (nh == k && !hit_worse(&hits[0], &c)) continue;
        if (filter && !filter(filter_ctx, lx->chunk_ids[d])) continue;
        if (nh < k) {
            hits[nh] = c;
            sift_up(hits, nh++);
        } else {
            hits[0] = c;
            sift_down(hits, nh, 0);
        }
        if (nh == k) floor = hits[0].score;
    }
    return nh;
}

/* Sorts a[0..n) (values below max) ascending: least significant digit
 * first, RG_LEX_RADIX_BITS at a time, through tmp[0..n). */
#define RG_LEX_RADIX_BITS 11
static void sort_u32(uint32_t *a, uint32_t *tmp, size_t n, uint32_t max)
{
    size_t count[1u << RG_LEX_RADIX_BITS];
    uint32_t mask = (1u << RG_LEX_RADIX_BITS) - 1;
    for (unsigned shift = 0; shift < 32 && (max >> shift) != 0; shift += RG_LEX_RADIX_BITS) {
        memset(count, 0, sizeof count);
        for (size_t i = 0; i < n; i++)
            count[(a[i] >> shift) & mask]++;
        size_t sum = 0;
        for (size_t b = 0; b <= mask; b++) {
            size_t c = count[b];
            count[b] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            tmp[count[(a[i] >> shift) & mask]++] = a[i];
        memcpy(a, tmp, n * sizeof *a);
    }
}

/* Keeps the candidates whose partial score plus rest can still reach
 * theta; returns how many remain (order kept). */
static size_t prune(rg_lexical *lx, size_t nc, double rest, float theta)
{
    size_t m = 0;
    double slack = rest * (1.0 + RG_LEX_BOUND_SLACK);
    for (size_t i = 0; i < nc; i++) {
        uint32_t d = lx->cand[i];
        if ((double)lx->acc[d] + slack >= (double)theta) lx->cand[m++] = d;
    }
    return m;
}

/* A floor for the k-th best final score, at term q with the k best
 * partial scores in hits (all allowed by the filter): their final scores,
 * completed by looking them up in the lists of terms q.., added in the order
 * the search adds them, so each equals that chunk's score at the end; the
 * lowest of them. Without room for k (k > RG_LEX_THETA_MAX), the lowest
 * partial score, a weaker floor. */
static float kth_final(rg_lexical *lx, size_t q, const rg_lex_hit *hits, size_t k)
{
    float low = hits[0].score; /* the heap's root: the lowest partial score */
    if (k > RG_LEX_THETA_MAX) return low;
    /* hits hold chunk indexes here (heap_top as_index) */
    for (size_t i = 0; i < k; i++)
        lx->th_doc[i] = (uint32_t)hits[i].chunk_id; /* heap_top as_index */
    sort_u32(lx->th_doc, lx->cand_tmp, k, (uint32_t)lx->n_docs);
    for (size_t i = 0; i < k; i++)
        lx->th_score[i] = lx->acc[lx->th_doc[i]];
    for (size_t j = q; j < lx->n_qterm; j++) {
        const lex_post *lists[2];
        size_t lens[2], n_lists = rg_lex_lists(lx, lx->qinfo[j].t, lists, lens);
        float idf = lx->qinfo[j].idf;
        for (size_t l = 0; l < n_lists; l++) {
            const lex_post *p = lists[l];
            size_t df = lens[l], at = 0;
            for (size_t i = 0; i < k && at < df; i++) {
                at = seek(p, at, df, lx->th_doc[i]);
                if (at < df && p[at].doc == lx->th_doc[i]) lx->th_score[i] += idf * p[at].w;
            }
        }
    }
    low = lx->th_score[0];
    for (size_t i = 1; i < k; i++)
        if (lx->th_score[i] < low) low = lx->th_score[i];
    return low;
}

/* qsort has no context argument: the handle whose terms are compared
 * (set under its mutex). */
static _Thread_local const rg_lexical *sort_lx;

/* Larger bound first; equal bounds by term text, not by term id, so that a
 * refreshed index (new terms numbered last) sums in the order a fresh one
 * does. */
static int qterm_before(const void *a, const void *b)
{
    const struct lex_qterm *x = a, *y = b;
    if (x->bound != y->bound) return x->bound > y->bound ? -1 : 1;
    size_t nx, ny;
    const char *tx = rg_lex_term_text(sort_lx, x->t, &nx),
               *ty = rg_lex_term_text(sort_lx, y->t, &ny);
    int c = memcmp(tx, ty, nx < ny ? nx : ny);
    return c ? c : (nx > ny) - (nx < ny);
}

/* Scores the query terms of lx->qterm into acc and ranks the top k into
 * hits as a min-heap; returns the number of hits. Clears acc again. */
static size_t score_top(rg_lexical *lx, size_t k, rg_chunk_filter filter, void *filter_ctx,
                        rg_lex_hit *hits)
{
    size_t nq = lx->n_qterm;
    double n = (double)lx->n_docs;
    double rest[RG_QUERY_MAX_TERMS + 1]; /* rest[i]: bound of terms i.. together */
    size_t rest_df[RG_QUERY_MAX_TERMS + 1];
    for (size_t q = 0; q < nq; q++) {
        uint32_t t = lx->qterm[q];
        size_t df = rg_lex_df(lx, t);
        lx->qinfo[q].t = t;
        lx->qinfo[q].idf = (float)idf_of(n, (double)df);
        lx->qinfo[q].bound = (double)lx->qinfo[q].idf * (double)rg_lex_max_impact(lx, t);
    }
    sort_lx = lx;
    qsort(lx->qinfo, nq, sizeof lx->qinfo[0], qterm_before);
    rest[nq] = 0.0;
    rest_df[nq] = 0;
    for (size_t q = nq; q-- > 0;) {
        uint32_t t = lx->qinfo[q].t;
        rest[q] = rest[q + 1] + lx->qinfo[q].bound;
        rest_df[q] = rest_df[q + 1] + rg_lex_df(lx, t);
    }
    size_t min_df = lx->n_docs / RG_LEX_PRUNE_DIV;
    if (min_df < RG_LEX_PRUNE_MIN_DF) min_df = RG_LEX_PRUNE_MIN_DF;

    size_t nt = 0, nc = 0, q = 0, nh = 0;
    int pruning = 0, checks = 0;
    float theta = 0.0f;
    for (; q < nq; q++) {
        uint32_t t = lx->qinfo[q].t;
        size_t df = rg_lex_df(lx, t);
        /* worth a look: a long list ahead, and ranking what is touched costs
         * less than the passes it could save */
        if (!lx->exhaustive && q > 0 && nt >= k && df >= min_df && nt <= rest_df[q] &&
            checks < RG_LEX_PRUNE_CHECKS) {
            checks++;
            nh = heap_top(lx, lx->touched, nt, k, filter, filter_ctx, hits, 1);
            theta = nh == k ? hits[0].score : 0.0f;
            /* completing the k scores costs lookups: only when the remaining
             * terms could add less than the floor could rise to */
            if (nh == k && rest[q] < RG_LEX_THETA_GAIN * (double)theta)
                theta = kth_final(lx, q, hits, nh);
            if (nh == k && rest[q] * (1.0 + RG_LEX_BOUND_SLACK) < (double)theta) {
                memcpy(lx->cand, lx->touched, nt * sizeof(uint32_t));
                nc = prune(lx, nt, rest[q], theta);
                sort_u32(lx->cand, lx->cand_tmp, nc, (uint32_t)lx->n_docs);
                pruning = 1;
                lx->n_pruned++;
                break;
            }
        }
        nt = add_list(lx, t, lx->qinfo[q].idf, nt);
    }
    if (pruning) {
        for (; q < nq; q++) {
            add_to_candidates(lx, lx->qinfo[q].t, lx->qinfo[q].idf, nc);
            nc = prune(lx, nc, rest[q + 1], theta);
        }
        nh = heap_top(lx, lx->cand, nc, k, filter, filter_ctx, hits, 0);
    } else {
        nh = heap_top(lx, lx->touched, nt, k, filter, filter_ctx, hits, 0);
    }
    for (size_t i = 0; i < nt; i++)
        lx->acc[lx->touched[i]] = 0.0f;
    return nh;
}

/* Query tokens -> distinct term texts in lx->qtext. */
int rg_lex_collect_term_text(void *ctx, const char *tok, size_t n, size_t start, size_t end,
                             int colocated)
{
    (void)start;
    (void)end;
    (void)colocated;
    rg_lexical *lx = ctx;
    if (n > RG_TOKEN_MAX_BYTES) n = rg_utf8_floor(tok, RG_TOKEN_MAX_BYTES);
    for (size_t i = 0; i < lx->n_qterm; i++) {
        if (lx->qlen[i] == n && memcmp(lx->qtext[i], tok, n) == 0) return 0;
    }
    memcpy(lx->qtext[lx->n_qterm], tok, n);
    lx->qlen[lx->n_qterm++] = n;
    return lx->n_qterm == RG_QUERY_MAX_TERMS;
}

/*
 * 1 for a query term that is a bigram of two ideographs the index never
 * holds side by side although each is common (in at least
 * RG_LEX_SEAM_CHAR_SHARE of the chunks, and RG_LEX_SEAM_CHAR_MIN_DF): the
 * seam between two words of the question ("婚假有几天": 假有), not a word
 * the collection lacks. A missing name ("范廷颂") is made of rarer
 * characters and still counts.
 */
static int is_seam(rg_lexical *lx, const char *s, size_t n)
{
    uint32_t a, b;
    size_t ka = rg_utf8_decode(s, n, &a), kb = ka ? rg_utf8_decode(s + ka, n - ka, &b) : 0;
    if (!ka || !kb || ka + kb != n || !rg_is_cjk(a) || !rg_is_cjk(b)) return 0;
    double common = RG_LEX_SEAM_CHAR_SHARE * (double)lx->n_docs;
    if (common < RG_LEX_SEAM_CHAR_MIN_DF) common = RG_LEX_SEAM_CHAR_MIN_DF;
    return (double)rg_lex_df(lx, rg_lex_query_term_find(lx, s, ka)) >= common &&
           (double)rg_lex_df(lx, rg_lex_query_term_find(lx, s + ka, kb)) >= common;
}

double rg_lexical_ideal(rg_lexical *lx, const char *query)
{
    if (!lx || !query || strlen(query) > RG_QUERY_MAX_BYTES) return NAN;
    double sum = 0.0, seams = 0.0;
    pthread_mutex_lock(&lx->mu);
    lx->n_qterm = 0;
    rg_status st =
        rg_fts5_tokenizer_run(lx->tok, query, strlen(query), 1, rg_lex_collect_term_text, lx, NULL);
    /* distinct query terms, indexed or not (df 0: the highest idf) */
    for (size_t i = 0; st == RG_OK && i < lx->n_qterm; i++) {
        long t = rg_lex_query_term_find(lx, lx->qtext[i], lx->qlen[i]);
        double w = idf_of((double)lx->n_docs, (double)rg_lex_df(lx, t)) * (lx->k1 + 1.0);
        if (t < 0 && is_seam(lx, lx->qtext[i], lx->qlen[i]))
            seams += w;
        else
            sum += w;
    }
    lx->n_qterm = 0;
    pthread_mutex_unlock(&lx->mu);
    /* a question of seams alone: nothing of it is covered */
    return st != RG_OK ? NAN : sum > 0 ? sum : seams;
}

rg_status rg_lexical_search(rg_lexical *lx, const char *query, size_t k, rg_chunk_filter filter,
                            void *filter_ctx, rg_lex_hit *hits, size_t *n_hits, rg_error *err)
{
    if (n_hits) *n_hits = 0;
    if (!lx || !query || !n_hits || (k && !hits)) {
        return rg_fail(err, RG_EINVAL, "lexical: bad search arguments");
    }
    size_t qn = strlen(query);
    if (qn > RG_QUERY_MAX_BYTES) {
        return rg_fail(err, RG_ELIMIT, "lexical: query of %zu bytes, at most %d", qn,
                       RG_QUERY_MAX_BYTES);
    }
    if (k == 0) return RG_OK;
    pthread_mutex_lock(&lx->mu);
    lx->n_qterm = 0;
    rg_status st = rg_fts5_tokenizer_run(lx->tok, query, qn, 1, collect_term_id, lx, err);
    size_t nh = st == RG_OK ? score_top(lx, k, filter, filter_ctx, hits) : 0;
    pthread_mutex_unlock(&lx->mu);
    /* Heap sort: moving the worst to the back leaves the best first. */
    for (size_t n = nh; n > 1; n--) {
        rg_lex_hit t = hits[0];
        hits[0] = hits[n - 1];
        hits[n - 1] = t;
        sift_down(hits, n - 1, 0);
    }
    *n_hits = nh;
    return st;
}
