/*
 * lexical_refresh.c — rg_lexical_refresh: the BM25 index brought up to date
 * with its FTS5 table in place. Rows above the last indexed chunk id are
 * new (rowids are chunk ids and only grow) and are tokenized here; indexed
 * rows that are gone are dropped; the postings are copied once with their
 * term frequencies (recovered exactly from the impacts, or else the index
 * is rebuilt) and every impact is recomputed for the new average length,
 * so the result is the index a fresh build would give.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/base/mem.h"
#include "index/lexical.h"
#include "index/lexical_impl.h"

/* Exchanges the index arrays of a and b. */
static void swap_index(rg_lexical *a, rg_lexical *b)
{
#define SWAP_FIELD(f)                                                                              \
    do {                                                                                           \
        __typeof__(a->f) t_ = a->f;                                                                \
        a->f = b->f;                                                                               \
        b->f = t_;                                                                                 \
    } while (0)
    SWAP_FIELD(n_docs);
    SWAP_FIELD(chunk_ids);
    SWAP_FIELD(n_terms);
    SWAP_FIELD(pool);
    SWAP_FIELD(term_off);
    SWAP_FIELD(post_off);
    SWAP_FIELD(post);
    SWAP_FIELD(post_max);
    SWAP_FIELD(dl);
    SWAP_FIELD(total);
    SWAP_FIELD(slots);
    SWAP_FIELD(slot_mask);
    SWAP_FIELD(acc);
    SWAP_FIELD(touched);
    SWAP_FIELD(cand);
    SWAP_FIELD(cand_tmp);
    SWAP_FIELD(exhaustive);
    SWAP_FIELD(n_empty);
#undef SWAP_FIELD
}

/* Rebuilds lx from the table, as rg_lexical_open would. */
static rg_status rebuild(rg_lexical *lx, sqlite3 *db, rg_error *err)
{
    rg_lexical_options o = {lx->table, lx->tokenize, lx->k1, lx->b, lx->exhaustive_opt};
    rg_lexical *fresh;
    rg_status st = rg_lexical_open(db, &o, &fresh, err);
    if (st) return st;
    swap_index(lx, fresh);
    rg_lexical_close(fresh);
    return RG_OK;
}

/* Chunks added since the index was built, as tokens: (term, new chunk)
 * keys, the texts of terms the index lacks, and each new chunk's id and
 * length. */
typedef struct delta {
    rg_lexical *lx;
    uint64_t *key; /* term << 32 | slot of the new chunk; term >= n_terms: a new term */
    size_t n_key, cap_key;
    char *pool; /* new terms' texts */
    size_t len_pool, cap_pool;
    size_t *off; /* [n_new_terms + 1] into pool */
    size_t n_terms, cap_off;
    uint32_t *slots; /* hash of new terms: index + 1 */
    size_t slot_mask;
    int64_t *id; /* [n_docs] chunk ids */
    uint32_t *dl;
    size_t n_docs, cap_id, cap_dl;
    int oom;
} delta;

static void delta_free(delta *x)
{
    rg_free(x->key);
    rg_free(x->pool);
    rg_free(x->off);
    rg_free(x->slots);
    rg_free(x->id);
    rg_free(x->dl);
}

/* Index of a new term with this text, added if absent; -1 out of memory. */
static long delta_term(delta *x, const char *s, size_t n)
{
    if (2 * (x->n_terms + 1) > x->slot_mask) { /* rg_lex_grow the hash, rehash */
        size_t cap = x->slot_mask ? 2 * (x->slot_mask + 1) : RG_LEX_MIN_SLOTS;
        uint32_t *sl = rg_calloc(cap, sizeof *sl);
        if (!sl) return -1;
        for (size_t i = 0; i < x->n_terms; i++) {
            size_t h = rg_lex_term_hash(x->pool + x->off[i], x->off[i + 1] - x->off[i]) & (cap - 1);
            while (sl[h])
                h = (h + 1) & (cap - 1);
            sl[h] = (uint32_t)(i + 1);
        }
        rg_free(x->slots);
        x->slots = sl;
        x->slot_mask = cap - 1;
    }
    size_t h = rg_lex_term_hash(s, n) & x->slot_mask;
    for (; x->slots[h]; h = (h + 1) & x->slot_mask) {
        size_t i = x->slots[h] - 1;
        if (x->off[i + 1] - x->off[i] == n && memcmp(x->pool + x->off[i], s, n) == 0)
            return (long)i;
    }
    if (!rg_lex_grow(&x->pool, &x->cap_pool, x->len_pool + n, 1) ||
        !rg_lex_grow(&x->off, &x->cap_off, x->n_terms + 2, sizeof(size_t)))
        return -1;
    if (x->n_terms == 0) x->off[0] = 0;
    memcpy(x->pool + x->len_pool, s, n);
    x->len_pool += n;
    x->off[x->n_terms + 1] = x->len_pool;
    x->slots[h] = (uint32_t)(x->n_terms + 1);
    return (long)x->n_terms++;
}

static int delta_token(void *ctx, const char *tok, size_t n, size_t start, size_t end,
                       int colocated)
{
    (void)start, (void)end, (void)colocated;
    delta *x = ctx;
    long t = rg_lex_term_find(x->lx, tok, n);
    if (t < 0) {
        long nt = delta_term(x, tok, n);
        t = nt < 0 ? -1 : (long)x->lx->n_terms + nt;
    }
    if (t < 0 || t > (long)UINT32_MAX ||
        !rg_lex_grow(&x->key, &x->cap_key, x->n_key + 1, sizeof(uint64_t))) {
        x->oom = 1;
        return 1;
    }
    x->key[x->n_key++] = (uint64_t)t << 32 | (uint64_t)(x->n_docs - 1);
    x->dl[x->n_docs - 1]++;
    return 0;
}

/* Tokenizes the rows with rowid > after (as the table's tokenizer does for
 * a document: title, then body) into x; rows without a token are left out,
 * as a fresh build leaves them. */
static rg_status read_new_rows(rg_lexical *lx, sqlite3 *db, int64_t after, delta *x, rg_error *err)
{
    sqlite3_stmt *q = NULL;
    char *sql =
        sqlite3_mprintf("SELECT rowid, * FROM \"%w\" WHERE rowid > ?1 ORDER BY rowid", lx->table);
    int rc = sql ? sqlite3_prepare_v2(db, sql, -1, &q, NULL) : SQLITE_NOMEM;
    sqlite3_free(sql);
    if (rc != SQLITE_OK) return rg_lex_db_fail(err, db, rc, "reading new rows");
    sqlite3_bind_int64(q, 1, after);
    rg_status st = RG_OK;
    int cols = sqlite3_column_count(q);
    while (!st && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (!rg_lex_grow(&x->id, &x->cap_id, x->n_docs + 1, sizeof(int64_t)) ||
            !rg_lex_grow(&x->dl, &x->cap_dl, x->n_docs + 1, sizeof(uint32_t))) {
            st = rg_fail(err, RG_ENOMEM, "lexical: out of memory refreshing");
            break;
        }
        x->id[x->n_docs] = sqlite3_column_int64(q, 0);
        x->dl[x->n_docs++] = 0;
        size_t mark = x->n_key;
        for (int c = 1; !st && c < cols; c++) {
            const char *text = (const char *)sqlite3_column_text(q, c);
            if (!text) continue;
            st = rg_fts5_tokenizer_run(lx->tok, text, (size_t)sqlite3_column_bytes(q, c), 0,
                                       delta_token, x, err);
            if (!st && x->oom) st = rg_fail(err, RG_ENOMEM, "lexical: out of memory refreshing");
        }
        if (!st && x->n_key == mark) x->n_docs--; /* no token: not indexed */
    }
    if (!st && rc != SQLITE_DONE) st = rg_lex_db_fail(err, db, rc, "reading new rows");
    sqlite3_finalize(q);
    return st;
}

/* Every rowid of the table, ascending (its docsize shadow table). */
static rg_status read_row_ids(rg_lexical *lx, sqlite3 *db, int64_t **ids, size_t *n, rg_error *err)
{
    sqlite3_stmt *q = NULL;
    char *sql = sqlite3_mprintf("SELECT id FROM \"%w_docsize\" ORDER BY id", lx->table);
    int rc = sql ? sqlite3_prepare_v2(db, sql, -1, &q, NULL) : SQLITE_NOMEM;
    sqlite3_free(sql);
    if (rc != SQLITE_OK) return rg_lex_db_fail(err, db, rc, "reading row ids");
    size_t cap = 0;
    *ids = NULL;
    *n = 0;
    rg_status st = RG_OK;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (!rg_lex_grow(ids, &cap, *n + 1, sizeof(int64_t))) {
            st = rg_fail(err, RG_ENOMEM, "lexical: out of memory refreshing");
            break;
        }
        (*ids)[(*n)++] = sqlite3_column_int64(q, 0);
    }
    if (!st && rc != SQLITE_DONE) st = rg_lex_db_fail(err, db, rc, "reading row ids");
    sqlite3_finalize(q);
    return st;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* The term frequency behind old posting p, from its impact; 0 when it
 * cannot be recovered exactly (the caller then rebuilds). */
static uint32_t old_tf(const rg_lexical *lx, size_t p, double avgdl)
{
    double k1 = lx->k1, b = lx->b, w = lx->post[p].w;
    if (k1 == 0.0) return 1; /* every impact is 1 whatever tf is */
    double norm = k1 * (1.0 - b + b * (double)lx->dl[lx->post[p].doc] / avgdl);
    double tf = nearbyint(w * norm / ((k1 + 1.0) - w));
    if (!(tf >= 1.0 && tf <= 16777216.0)) return 0;
    return (float)(tf * (k1 + 1.0) / (tf + norm)) == lx->post[p].w ? (uint32_t)tf : 0;
}

/* Builds into nx the index of lx minus the chunks not kept plus x's. 1 on
 * success, 0 when an old frequency cannot be recovered, -1 out of memory. */
static int merge_index(rg_lexical *lx, const uint8_t *keep, delta *x, rg_lexical *nx)
{
    size_t n_old = lx->n_docs, n_kept = 0;
    for (size_t d = 0; d < n_old; d++)
        n_kept += keep[d];
    size_t nd = n_kept + x->n_docs, nterms = lx->n_terms + x->n_terms;
    if (nd > RG_LEX_MAX_CHUNKS) return -1;
    uint32_t *remap = rg_malloc((n_old ? n_old : 1) * sizeof *remap);
    nx->chunk_ids = rg_malloc((nd ? nd : 1) * sizeof(int64_t));
    nx->dl = rg_malloc((nd ? nd : 1) * sizeof(uint32_t));
    nx->term_off = rg_malloc((nterms + 1) * sizeof(size_t));
    nx->post_off = rg_calloc(nterms + 1, sizeof(size_t));
    nx->pool =
        rg_malloc(lx->term_off ? lx->term_off[lx->n_terms] + x->len_pool + 1 : x->len_pool + 1);
    nx->post_max = rg_calloc(nterms ? nterms : 1, sizeof(float));
    int ok = -1;
    if (!remap || !nx->chunk_ids || !nx->dl || !nx->term_off || !nx->post_off || !nx->pool ||
        !nx->post_max)
        goto out;
    /* chunks: the kept ones in order, then the new ones (larger ids) */
    size_t d2 = 0;
    nx->total = 0;
    for (size_t d = 0; d < n_old; d++) {
        if (!keep[d]) continue;
        remap[d] = (uint32_t)d2;
        nx->chunk_ids[d2] = lx->chunk_ids[d];
        nx->total += nx->dl[d2++] = lx->dl[d];
    }
    for (size_t j = 0; j < x->n_docs; j++) {
        nx->chunk_ids[d2] = x->id[j];
        nx->total += nx->dl[d2++] = x->dl[j];
    }
    nx->n_docs = nd;
    /* terms: the old ones, then the new ones */
    size_t old_pool = lx->n_terms ? lx->term_off[lx->n_terms] : 0;
    if (old_pool) memcpy(nx->pool, lx->pool, old_pool);
    if (x->len_pool) memcpy(nx->pool + old_pool, x->pool, x->len_pool);
    nx->term_off[0] = 0;
    for (size_t t = 0; t < lx->n_terms; t++)
        nx->term_off[t + 1] = lx->term_off[t + 1];
    for (size_t t = 0; t < x->n_terms; t++)
        nx->term_off[lx->n_terms + t + 1] = old_pool + x->off[t + 1];
    nx->n_terms = nterms;
    /* x's keys sorted by term, then chunk; runs of one (term, chunk) are its tf */
    if (x->n_key) qsort(x->key, x->n_key, sizeof *x->key, cmp_u64);
    for (size_t t = 0; t < lx->n_terms; t++)
        for (size_t p = lx->post_off[t]; p < lx->post_off[t + 1]; p++)
            nx->post_off[t + 1] += keep[lx->post[p].doc];
    for (size_t i = 0; i < x->n_key; i++)
        if (i == 0 || x->key[i] != x->key[i - 1]) nx->post_off[(x->key[i] >> 32) + 1]++;
    for (size_t t = 0; t < nterms; t++)
        nx->post_off[t + 1] += nx->post_off[t];
    nx->post = rg_malloc((nx->post_off[nterms] ? nx->post_off[nterms] : 1) * sizeof(lex_post));
    if (!nx->post) goto out;
    double avgdl = n_old ? (double)lx->total / (double)n_old : 1.0;
    size_t k = 0;
    ok = 0;
    for (size_t t = 0; t < nterms; t++) {
        size_t at = nx->post_off[t];
        for (size_t p = t < lx->n_terms ? lx->post_off[t] : 0;
             t < lx->n_terms && p < lx->post_off[t + 1]; p++) {
            if (!keep[lx->post[p].doc]) continue;
            uint32_t tf = old_tf(lx, p, avgdl);
            if (!tf) goto out;
            nx->post[at++] = (lex_post){remap[lx->post[p].doc], (float)tf};
        }
        for (; k < x->n_key && (x->key[k] >> 32) == t;) {
            size_t run = 1;
            while (k + run < x->n_key && x->key[k + run] == x->key[k])
                run++;
            nx->post[at++] = (lex_post){(uint32_t)(n_kept + (x->key[k] & 0xffffffffu)), (float)run};
            k += run;
        }
    }
    nx->exhaustive = lx->exhaustive_opt;
    rg_lex_set_impacts(nx);
    ok = 1;
out:
    rg_free(remap);
    return ok;
}

/* Rows among ids[0..n) (ascending) below the last indexed chunk that the
 * index lacks: rows without a token. */
static size_t empty_below_last(const rg_lexical *lx, const int64_t *ids, size_t n)
{
    if (!lx->n_docs) return 0;
    int64_t last = lx->chunk_ids[lx->n_docs - 1];
    size_t below = 0;
    while (below < n && ids[below] <= last)
        below++;
    return below - lx->n_docs;
}

static rg_status refresh_locked(rg_lexical *lx, sqlite3 *db, int *rebuilt, rg_error *err)
{
    int64_t *ids = NULL;
    size_t n_ids = 0;
    uint8_t *keep = NULL;
    delta x = {.lx = lx};
    rg_lexical *nx = NULL;
    rg_status st = read_row_ids(lx, db, &ids, &n_ids, err);
    if (st) return st;
    size_t n_old = lx->n_docs, i = 0, removed = 0, unindexed = 0;
    int64_t last = n_old ? lx->chunk_ids[n_old - 1] : INT64_MIN;
    keep = rg_calloc(n_old ? n_old : 1, 1);
    if (!keep) {
        st = rg_fail(err, RG_ENOMEM, "lexical: out of memory refreshing");
        goto out;
    }
    /* both ascending: which indexed chunks remain, and rows the index lacks
     * below its last id (rows without a token, or a change it cannot
     * follow: then rebuild) */
    for (size_t d = 0; d < n_old; d++) {
        while (i < n_ids && ids[i] < lx->chunk_ids[d])
            unindexed++, i++;
        keep[d] = i < n_ids && ids[i] == lx->chunk_ids[d];
        if (keep[d]) i++;
        removed += !keep[d];
    }
    if (unindexed != lx->n_empty) {
        *rebuilt = 1;
        st = rebuild(lx, db, err);
        goto out;
    }
    if ((st = read_new_rows(lx, db, last, &x, err))) goto out;
    if (!removed && !x.n_docs) goto out; /* nothing indexed changed */
    if (!(nx = rg_calloc(1, sizeof *nx))) {
        st = rg_fail(err, RG_ENOMEM, "lexical: out of memory refreshing");
        goto out;
    }
    nx->k1 = lx->k1, nx->b = lx->b;
    int ok = merge_index(lx, keep, &x, nx);
    if (ok == 0) {
        *rebuilt = 1;
        st = rebuild(lx, db, err);
        goto out;
    }
    if (ok < 0 || (st = rg_lex_build_hash(nx, err))) {
        if (!st) st = rg_fail(err, RG_ENOMEM, "lexical: out of memory refreshing");
        goto out;
    }
    swap_index(lx, nx);
    lx->n_empty = empty_below_last(lx, ids, n_ids);
out:
    if (nx) rg_lex_free_index(nx);
    rg_free(nx);
    delta_free(&x);
    rg_free(keep);
    rg_free(ids);
    return st;
}

rg_status rg_lexical_refresh(rg_lexical *lx, sqlite3 *db, int *rebuilt, rg_error *err)
{
    int r = 0;
    if (rebuilt) *rebuilt = 0;
    if (!lx || !db) return rg_fail(err, RG_EINVAL, "lexical: bad refresh arguments");
    pthread_mutex_lock(&lx->mu);
    rg_status st = refresh_locked(lx, db, &r, err);
    pthread_mutex_unlock(&lx->mu);
    if (rebuilt) *rebuilt = r;
    return st;
}
