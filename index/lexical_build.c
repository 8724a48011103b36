/*
 * lexical_build.c — rg_lexical_open: the BM25 index read from an FTS5
 * table's vocabulary (every (term, chunk) instance, ordered by term), chunk
 * ids made dense in id order, term frequencies turned into impacts, and the
 * term hash; and the index's release.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/base/mem.h"
#include "index/lexical.h"
#include "index/lexical_impl.h"

#define RG_LEX_DEFAULT_TABLE    "chunks_fts"
#define RG_LEX_DEFAULT_TOKENIZE "porter ragd"

rg_lexical_options rg_lexical_default_options(void)
{
    rg_lexical_options o = {RG_LEX_DEFAULT_TABLE, RG_LEX_DEFAULT_TOKENIZE, 0.9f, 0.4f, 0};
    return o;
}

/* Grows the array whose pointer is at pp (elements of size elem, capacity
 * *cap) to hold need elements. The pointer is read and written with memcpy
 * so that one helper serves arrays of every type without aliasing tricks. */
int rg_lex_grow(void *pp, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 1;
    size_t c = *cap ? *cap : 1024;
    while (c < need)
        c *= 2;
    if (c > SIZE_MAX / elem) return 0;
    void *p;
    memcpy(&p, pp, sizeof p);
    void *q = rg_realloc(p, c * elem);
    if (!q) return 0;
    memcpy(pp, &q, sizeof q);
    *cap = c;
    return 1;
}

rg_status rg_lex_db_fail(rg_error *err, sqlite3 *db, int rc, const char *what)
{
    rg_status code = RG_EDB;
    switch (rc & 0xFF) {
    case SQLITE_NOMEM:
        code = RG_ENOMEM;
        break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        code = RG_EBUSY;
        break;
    case SQLITE_CORRUPT:
        code = RG_ECORRUPT;
        break;
    default:
        break;
    }
    return rg_fail(err, code, "lexical: %s: %s", what, sqlite3_errmsg(db));
}

/* What the vocabulary scan produces before chunk ids are made dense. */
typedef struct scan {
    size_t cap_pool, cap_term_off, cap_post_off, cap_raw, cap_tf;
    size_t n_post, len_pool;
    int64_t *raw_doc; /* [n_post] chunk id of each posting */
    uint32_t *tf;     /* [n_post] */
} scan;

/* Appends one (term, doc) instance; rows arrive ordered by term, then doc. */
static int scan_row(rg_lexical *lx, scan *s, const char *term, size_t n, int64_t doc)
{
    size_t t = lx->n_terms;
    int same_term = t > 0 && lx->term_off[t] - lx->term_off[t - 1] == n &&
                    memcmp(lx->pool + lx->term_off[t - 1], term, n) == 0;
    if (!same_term) {
        if (!rg_lex_grow(&lx->pool, &s->cap_pool, s->len_pool + n, 1) ||
            !rg_lex_grow(&lx->term_off, &s->cap_term_off, t + 2, sizeof(size_t)) ||
            !rg_lex_grow(&lx->post_off, &s->cap_post_off, t + 2, sizeof(size_t))) {
            return 0;
        }
        if (t == 0) lx->term_off[0] = lx->post_off[0] = 0;
        memcpy(lx->pool + s->len_pool, term, n);
        s->len_pool += n;
        lx->term_off[t + 1] = s->len_pool;
        lx->n_terms = ++t;
    } else if (s->n_post > lx->post_off[t - 1] && s->raw_doc[s->n_post - 1] == doc) {
        s->tf[s->n_post - 1]++;
        return 1;
    }
    if (!rg_lex_grow(&s->raw_doc, &s->cap_raw, s->n_post + 1, sizeof(int64_t)) ||
        !rg_lex_grow(&s->tf, &s->cap_tf, s->n_post + 1, sizeof(uint32_t))) {
        return 0;
    }
    s->raw_doc[s->n_post] = doc;
    s->tf[s->n_post++] = 1;
    lx->post_off[t] = s->n_post;
    return 1;
}

/* Reads every token instance of the FTS5 table through a temporary
 * fts5vocab "instance" table (dropped again before returning). */
static rg_status scan_vocab(rg_lexical *lx, sqlite3 *db, const char *table, scan *s, rg_error *err)
{
    static atomic_ulong seq;
    char name[64];
    snprintf(name, sizeof name, "rg_lex_vocab_%lu", atomic_fetch_add(&seq, 1));
    rg_status st = RG_OK;
    sqlite3_stmt *q = NULL;
    char *sql = sqlite3_mprintf("CREATE VIRTUAL TABLE temp.\"%w\" USING fts5vocab(main, \"%w\", "
                                "instance)",
                                name, table);
    if (!sql) return rg_fail(err, RG_ENOMEM, "lexical: out of memory");
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_free(sql);
    if (rc != SQLITE_OK) return rg_lex_db_fail(err, db, rc, "creating the vocabulary table");

    sql = sqlite3_mprintf("SELECT term, doc FROM temp.\"%w\"", name);
    rc = sql ? sqlite3_prepare_v2(db, sql, -1, &q, NULL) : SQLITE_NOMEM;
    sqlite3_free(sql);
    if (rc != SQLITE_OK) {
        st = rg_lex_db_fail(err, db, rc, "reading the vocabulary");
        goto out;
    }
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *term = (const char *)sqlite3_column_text(q, 0);
        size_t n = (size_t)sqlite3_column_bytes(q, 0);
        if (!term || !scan_row(lx, s, term, n, sqlite3_column_int64(q, 1))) {
            st = rg_fail(err, RG_ENOMEM, "lexical: out of memory reading the index");
            goto out;
        }
    }
    if (rc != SQLITE_DONE) st = rg_lex_db_fail(err, db, rc, "reading the vocabulary");
out:
    sqlite3_finalize(q);
    sql = sqlite3_mprintf("DROP TABLE IF EXISTS temp.\"%w\"", name);
    if (sql) sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_free(sql);
    return st;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static uint32_t doc_index(const rg_lexical *lx, int64_t id)
{
    size_t lo = 0, hi = lx->n_docs;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (lx->chunk_ids[mid] <= id)
            lo = mid;
        else
            hi = mid;
    }
    return (uint32_t)lo;
}

float rg_lex_impact(const rg_lexical *lx, double tf, double dl, double avgdl)
{
    double k1 = lx->k1, b = lx->b;
    double norm = k1 * (1.0 - b + b * dl / avgdl);
    return (float)(tf * (k1 + 1.0) / (tf + norm));
}

/* Turns the term frequencies held in post[].w into BM25 impacts, from dl
 * and total; sets avgdl, post_max, and exhaustive when a list is out of
 * chunk order. The one place impacts of the main index are computed: a
 * refreshed index and a fresh one get the same bits. */
void rg_lex_set_impacts(rg_lexical *lx)
{
    lx->avgdl = lx->n_docs ? (double)lx->total / (double)lx->n_docs : 1.0;
    for (size_t t = 0; t < lx->n_terms; t++) {
        lx->post_max[t] = 0.0f;
        for (size_t p = lx->post_off[t]; p < lx->post_off[t + 1]; p++) {
            lx->post[p].w = rg_lex_impact(lx, lx->post[p].w, lx->dl[lx->post[p].doc], lx->avgdl);
            if (lx->post[p].w > lx->post_max[t]) lx->post_max[t] = lx->post[p].w;
            /* rows came ordered by term, then chunk id: lookups rely on it */
            if (p > lx->post_off[t] && lx->post[p].doc <= lx->post[p - 1].doc) lx->exhaustive = 1;
        }
    }
}

/* Numbers the chunks densely and turns term frequencies into impacts. */
static rg_status build_postings(rg_lexical *lx, scan *s, rg_error *err)
{
    if (s->n_post == 0) return RG_OK;
    lx->chunk_ids = rg_malloc(s->n_post * sizeof(int64_t));
    lx->post = rg_malloc(s->n_post * sizeof(lex_post));
    if (!lx->chunk_ids || !lx->post) goto oom;
    memcpy(lx->chunk_ids, s->raw_doc, s->n_post * sizeof(int64_t));
    qsort(lx->chunk_ids, s->n_post, sizeof(int64_t), cmp_i64);
    size_t n = 0;
    for (size_t i = 0; i < s->n_post; i++) {
        if (n == 0 || lx->chunk_ids[n - 1] != lx->chunk_ids[i])
            lx->chunk_ids[n++] = lx->chunk_ids[i];
    }
    if (n > RG_LEX_MAX_CHUNKS) {
        return rg_fail(err, RG_ELIMIT, "lexical: %zu chunks, at most %zu", n, RG_LEX_MAX_CHUNKS);
    }
    lx->n_docs = lx->n_main = n;
    int64_t *ids = rg_realloc(lx->chunk_ids, n * sizeof(int64_t));
    if (ids) lx->chunk_ids = ids; /* only gives memory back; failing is harmless */
    lx->dl = rg_calloc(n, sizeof *lx->dl);
    if (!lx->dl) goto oom;
    lx->total = 0;
    for (size_t p = 0; p < s->n_post; p++) {
        uint32_t d = doc_index(lx, s->raw_doc[p]);
        lx->post[p].doc = d;
        lx->post[p].w = (float)s->tf[p]; /* rg_lex_set_impacts turns it into the impact */
        lx->dl[d] += s->tf[p];
        lx->total += s->tf[p];
    }
    if (!(lx->post_max = rg_calloc(lx->n_terms ? lx->n_terms : 1, sizeof(float)))) goto oom;
    rg_lex_set_impacts(lx);
    return RG_OK;
oom:
    return rg_fail(err, RG_ENOMEM, "lexical: out of memory building postings");
}

rg_status rg_lex_build_hash(rg_lexical *lx, rg_error *err)
{
    lx->n_main = lx->n_docs;
    lx->n_main_terms = lx->n_terms;
    lx->cap_docs = lx->n_docs;
    size_t n = RG_LEX_MIN_SLOTS;
    while (n < 2 * lx->n_terms)
        n *= 2;
    lx->slots = rg_calloc(n, sizeof(uint32_t));
    lx->acc = rg_calloc(lx->n_docs ? lx->n_docs : 1, sizeof(float));
    /* one spare slot: add_list stores before it knows whether to keep */
    lx->touched = rg_malloc((lx->n_docs + 1) * sizeof(uint32_t));
    lx->cand = rg_malloc((lx->n_docs ? lx->n_docs : 1) * sizeof(uint32_t));
    lx->cand_tmp = rg_malloc((lx->n_docs ? lx->n_docs : 1) * sizeof(uint32_t));
    if (!lx->slots || !lx->acc || !lx->touched || !lx->cand || !lx->cand_tmp) {
        return rg_fail(err, RG_ENOMEM, "lexical: out of memory");
    }
    lx->slot_mask = n - 1;
    for (size_t t = 0; t < lx->n_terms; t++) {
        const char *s = lx->pool + lx->term_off[t];
        size_t i = rg_lex_term_hash(s, lx->term_off[t + 1] - lx->term_off[t]) & lx->slot_mask;
        while (lx->slots[i])
            i = (i + 1) & lx->slot_mask;
        lx->slots[i] = (uint32_t)(t + 1);
    }
    return RG_OK;
}

/* n_empty of a fresh build: rows up to the last indexed chunk, less the
 * indexed ones. */
static rg_status count_empty(rg_lexical *lx, sqlite3 *db, rg_error *err)
{
    lx->n_empty = 0;
    lx->last_read = lx->n_docs ? lx->chunk_ids[lx->n_docs - 1] : INT64_MIN;
    if (!lx->n_docs) return RG_OK;
    sqlite3_stmt *q = NULL;
    char *sql = sqlite3_mprintf("SELECT count(*) FROM \"%w_docsize\" WHERE id <= ?1", lx->table);
    int rc = sql ? sqlite3_prepare_v2(db, sql, -1, &q, NULL) : SQLITE_NOMEM;
    sqlite3_free(sql);
    if (rc != SQLITE_OK) return rg_lex_db_fail(err, db, rc, "counting rows");
    sqlite3_bind_int64(q, 1, lx->chunk_ids[lx->n_docs - 1]);
    rc = sqlite3_step(q);
    int64_t rows = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : -1;
    sqlite3_finalize(q);
    if (rc != SQLITE_ROW) return rg_lex_db_fail(err, db, rc, "counting rows");
    lx->n_empty = rows > (int64_t)lx->n_docs ? (size_t)rows - lx->n_docs : 0;
    return RG_OK;
}

rg_status rg_lexical_open(sqlite3 *db, const rg_lexical_options *opt, rg_lexical **out,
                          rg_error *err)
{
    if (!out) return rg_fail(err, RG_EINVAL, "lexical: no output handle");
    *out = NULL;
    rg_lexical_options o = opt ? *opt : rg_lexical_default_options();
    if (!o.fts_table) o.fts_table = RG_LEX_DEFAULT_TABLE;
    if (!o.tokenize) o.tokenize = RG_LEX_DEFAULT_TOKENIZE;
    if (!db || !(o.k1 >= 0.0f) || !(o.b >= 0.0f && o.b <= 1.0f)) {
        return rg_fail(err, RG_EINVAL, "lexical: bad options (need db, k1 >= 0, 0 <= b <= 1)");
    }
    if (strlen(o.fts_table) > RG_LEX_NAME_MAX || strlen(o.tokenize) > RG_LEX_NAME_MAX)
        return rg_fail(err, RG_ELIMIT, "lexical: table name or tokenize spec over %d bytes",
                       RG_LEX_NAME_MAX);
    rg_lexical *lx = rg_calloc(1, sizeof *lx);
    if (!lx) return rg_fail(err, RG_ENOMEM, "lexical: out of memory");
    if (pthread_mutex_init(&lx->mu, NULL) != 0) {
        rg_free(lx);
        return rg_fail(err, RG_EINTERNAL, "lexical: cannot create a mutex");
    }
    scan s = {0};
    rg_status st = rg_fts5_tokenizer_open(db, o.tokenize, &lx->tok, err);
    if (st == RG_OK) st = scan_vocab(lx, db, o.fts_table, &s, err);
    lx->k1 = o.k1;
    lx->b = o.b;
    lx->exhaustive = lx->exhaustive_opt = o.exhaustive != 0;
    snprintf(lx->table, sizeof lx->table, "%s", o.fts_table);
    snprintf(lx->tokenize, sizeof lx->tokenize, "%s", o.tokenize);
    if (st == RG_OK) st = build_postings(lx, &s, err);
    if (st == RG_OK) st = rg_lex_build_hash(lx, err);
    if (st == RG_OK) st = count_empty(lx, db, err);
    rg_free(s.raw_doc);
    rg_free(s.tf);
    if (st != RG_OK) {
        rg_lexical_close(lx);
        return st;
    }
    *out = lx;
    return RG_OK;
}

/* The index arrays of lx (not the tokenizer, the mutex or the handle). */
void rg_lex_free_index(rg_lexical *lx)
{
    rg_free(lx->chunk_ids);
    rg_free(lx->pool);
    rg_free(lx->term_off);
    rg_free(lx->post_off);
    rg_free(lx->post);
    rg_free(lx->post_max);
    rg_free(lx->dl);
    rg_free(lx->slots);
    rg_free(lx->acc);
    rg_free(lx->touched);
    rg_free(lx->cand);
    rg_free(lx->cand_tmp);
    rg_free(lx->dead);
    rg_lex_delta_clear(lx);
}

void rg_lexical_close(rg_lexical *lx)
{
    if (!lx) return;
    rg_fts5_tokenizer_close(lx->tok);
    pthread_mutex_destroy(&lx->mu);
    rg_lex_free_index(lx);
    rg_free(lx);
}
