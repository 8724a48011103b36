/*
 * lexical.c — BM25 over in-memory postings read from an FTS5 index.
 *
 * Postings hold a precomputed impact per (term, chunk): the BM25 term
 * frequency part tf*(k1+1)/(tf + k1*(1-b+b*dl/avgdl)), so a query only
 * multiplies by idf and adds. Chunks are numbered 0..N-1 in chunk id order,
 * which makes "lower chunk index" and "lower chunk id" the same tie-break.
 * The score accumulator is allocated once per index; only the chunks a
 * query touched are read back and cleared, so a query costs the length of
 * its postings, not N.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/base/mem.h"
#include "engine/base/utf8.h"
#include "index/lexical.h"

#define RG_LEX_DEFAULT_TABLE    "chunks_fts"
#define RG_LEX_DEFAULT_TOKENIZE "porter ragd"
/* Longest FTS5 table name and tokenize= spec kept for refreshes. */
#define RG_LEX_NAME_MAX 127
/* Chunk indexes are uint32_t. */
#define RG_LEX_MAX_CHUNKS ((size_t)UINT32_MAX - 1)
#define RG_LEX_MIN_SLOTS  16
#define RG_ELLIPSIS       "\xe2\x80\xa6"
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
/* The floor of a check comes from final scores for k up to this, else from
 * partial ones. */
#define RG_LEX_THETA_MAX 1024

typedef struct lex_post {
    uint32_t doc; /* chunk index */
    float w;      /* BM25 impact without idf */
} lex_post;

struct rg_lexical {
    rg_fts5_tokenizer *tok;
    pthread_mutex_t mu; /* guards tok, acc, touched and the query scratch */
    size_t n_docs;
    int64_t *chunk_ids; /* [n_docs], ascending */
    size_t n_terms;
    char *pool;        /* term bytes, back to back */
    size_t *term_off;  /* [n_terms + 1] into pool */
    size_t *post_off;  /* [n_terms + 1] into post */
    lex_post *post;    /* postings of term t: post[post_off[t] .. post_off[t+1]), by chunk */
    float *post_max;   /* [n_terms] largest impact of each term */
    uint32_t *slots;   /* hash of terms: term id + 1, 0 = empty */
    size_t slot_mask;  /* slots has slot_mask + 1 entries, a power of two */
    float *acc;        /* [n_docs] scores; 0 = untouched (every impact is > 0) */
    uint32_t *touched; /* [n_docs + 1] chunks with a non-zero acc */
    uint32_t *cand;    /* [n_docs] chunks still able to enter the top k (pruning) */
    uint32_t *cand_tmp; /* [n_docs] radix sort scratch */
    uint32_t th_doc[RG_LEX_THETA_MAX]; /* kth_final scratch */
    float th_score[RG_LEX_THETA_MAX];
    uint32_t *dl;      /* [n_docs] token instances of each chunk */
    uint64_t total;    /* sum of dl */
    float k1;          /* BM25 k1: an impact approaches k1 + 1 as tf grows */
    float b;           /* BM25 b */
    int exhaustive;    /* no pruning */
    /* what rg_lexical_refresh needs to read the table again */
    char table[RG_LEX_NAME_MAX + 1];
    char tokenize[RG_LEX_NAME_MAX + 1];
    int exhaustive_opt; /* exhaustive as asked (it is also set when postings are unordered) */
    size_t n_empty;     /* rows of the table below the last indexed chunk that have no token */
    size_t n_pruned;   /* searches that pruned */
    /* query scratch: the distinct query terms */
    uint32_t qterm[RG_QUERY_MAX_TERMS];
    size_t n_qterm;
    struct lex_qterm {
        uint32_t t;
        float idf;
        double bound; /* idf * largest impact */
    } qinfo[RG_QUERY_MAX_TERMS];
    char qtext[RG_QUERY_MAX_TERMS][RG_TOKEN_MAX_BYTES];
    size_t qlen[RG_QUERY_MAX_TERMS];
};

rg_lexical_options rg_lexical_default_options(void)
{
    rg_lexical_options o = {RG_LEX_DEFAULT_TABLE, RG_LEX_DEFAULT_TOKENIZE, 0.9f, 0.4f, 0};
    return o;
}

size_t rg_lexical_size(const rg_lexical *lx)
{
    return lx ? lx->n_docs : 0;
}

size_t rg_lexical_pruned(rg_lexical *lx)
{
    if (!lx) return 0;
    pthread_mutex_lock(&lx->mu);
    size_t n = lx->n_pruned;
    pthread_mutex_unlock(&lx->mu);
    return n;
}

static uint64_t term_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

/* Term id of s[0..n), or -1. */
static long term_find(const rg_lexical *lx, const char *s, size_t n)
{
    if (!lx->slots) return -1;
    for (size_t i = term_hash(s, n) & lx->slot_mask;; i = (i + 1) & lx->slot_mask) {
        uint32_t v = lx->slots[i];
        if (!v) return -1;
        size_t t = v - 1, len = lx->term_off[t + 1] - lx->term_off[t];
        if (len == n && memcmp(lx->pool + lx->term_off[t], s, n) == 0) return (long)t;
    }
}

/* Grows the array whose pointer is at pp (elements of size elem, capacity
 * *cap) to hold need elements. The pointer is read and written with memcpy
 * so that one helper serves arrays of every type without aliasing tricks. */
static int grow(void *pp, size_t *cap, size_t need, size_t elem)
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

static rg_status db_fail(rg_error *err, sqlite3 *db, int rc, const char *what)
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
        if (!grow(&lx->pool, &s->cap_pool, s->len_pool + n, 1) ||
            !grow(&lx->term_off, &s->cap_term_off, t + 2, sizeof(size_t)) ||
            !grow(&lx->post_off, &s->cap_post_off, t + 2, sizeof(size_t))) {
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
    if (!grow(&s->raw_doc, &s->cap_raw, s->n_post + 1, sizeof(int64_t)) ||
        !grow(&s->tf, &s->cap_tf, s->n_post + 1, sizeof(uint32_t))) {
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
    if (rc != SQLITE_OK) return db_fail(err, db, rc, "creating the vocabulary table");

    sql = sqlite3_mprintf("SELECT term, doc FROM temp.\"%w\"", name);
    rc = sql ? sqlite3_prepare_v2(db, sql, -1, &q, NULL) : SQLITE_NOMEM;
    sqlite3_free(sql);
    if (rc != SQLITE_OK) {
        st = db_fail(err, db, rc, "reading the vocabulary");
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
    if (rc != SQLITE_DONE) st = db_fail(err, db, rc, "reading the vocabulary");
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

/* Turns the term frequencies held in post[].w into BM25 impacts, from dl
 * and total; sets post_max, and exhaustive when a list is out of chunk
 * order. The one place impacts are computed: a refreshed index and a fresh
 * one get the same bits. */
static void set_impacts(rg_lexical *lx)
{
    double k1 = lx->k1, b = lx->b, avgdl = (double)lx->total / (double)lx->n_docs;
    for (size_t t = 0; t < lx->n_terms; t++) {
        lx->post_max[t] = 0.0f;
        for (size_t p = lx->post_off[t]; p < lx->post_off[t + 1]; p++) {
            double tf = lx->post[p].w;
            double norm = k1 * (1.0 - b + b * (double)lx->dl[lx->post[p].doc] / avgdl);
            lx->post[p].w = (float)(tf * (k1 + 1.0) / (tf + norm));
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
    lx->n_docs = n;
    int64_t *ids = rg_realloc(lx->chunk_ids, n * sizeof(int64_t));
    if (ids) lx->chunk_ids = ids; /* only gives memory back; failing is harmless */
    lx->dl = rg_calloc(n, sizeof *lx->dl);
    if (!lx->dl) goto oom;
    lx->total = 0;
    for (size_t p = 0; p < s->n_post; p++) {
        uint32_t d = doc_index(lx, s->raw_doc[p]);
        lx->post[p].doc = d;
        lx->post[p].w = (float)s->tf[p]; /* set_impacts turns it into the impact */
        lx->dl[d] += s->tf[p];
        lx->total += s->tf[p];
    }
    if (!(lx->post_max = rg_calloc(lx->n_terms ? lx->n_terms : 1, sizeof(float)))) goto oom;
    set_impacts(lx);
    return RG_OK;
oom:
    return rg_fail(err, RG_ENOMEM, "lexical: out of memory building postings");
}

static rg_status build_hash(rg_lexical *lx, rg_error *err)
{
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
        size_t i = term_hash(s, lx->term_off[t + 1] - lx->term_off[t]) & lx->slot_mask;
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
    if (!lx->n_docs) return RG_OK;
    sqlite3_stmt *q = NULL;
    char *sql = sqlite3_mprintf("SELECT count(*) FROM \"%w_docsize\" WHERE id <= ?1", lx->table);
    int rc = sql ? sqlite3_prepare_v2(db, sql, -1, &q, NULL) : SQLITE_NOMEM;
    sqlite3_free(sql);
    if (rc != SQLITE_OK) return db_fail(err, db, rc, "counting rows");
    sqlite3_bind_int64(q, 1, lx->chunk_ids[lx->n_docs - 1]);
    rc = sqlite3_step(q);
    int64_t rows = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : -1;
    sqlite3_finalize(q);
    if (rc != SQLITE_ROW) return db_fail(err, db, rc, "counting rows");
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
    if (st == RG_OK) st = build_hash(lx, err);
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
static void free_index(rg_lexical *lx)
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
}

void rg_lexical_close(rg_lexical *lx)
{
    if (!lx) return;
    rg_fts5_tokenizer_close(lx->tok);
    pthread_mutex_destroy(&lx->mu);
    free_index(lx);
    rg_free(lx);
}

/* ---- refresh ---- */

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
    if (2 * (x->n_terms + 1) > x->slot_mask) { /* grow the hash, rehash */
        size_t cap = x->slot_mask ? 2 * (x->slot_mask + 1) : RG_LEX_MIN_SLOTS;
        uint32_t *sl = rg_calloc(cap, sizeof *sl);
        if (!sl) return -1;
        for (size_t i = 0; i < x->n_terms; i++) {
            size_t h = term_hash(x->pool + x->off[i], x->off[i + 1] - x->off[i]) & (cap - 1);
            while (sl[h])
                h = (h + 1) & (cap - 1);
            sl[h] = (uint32_t)(i + 1);
        }
        rg_free(x->slots);
        x->slots = sl;
        x->slot_mask = cap - 1;
    }
    size_t h = term_hash(s, n) & x->slot_mask;
    for (; x->slots[h]; h = (h + 1) & x->slot_mask) {
        size_t i = x->slots[h] - 1;
        if (x->off[i + 1] - x->off[i] == n && memcmp(x->pool + x->off[i], s, n) == 0)
            return (long)i;
    }
    if (!grow(&x->pool, &x->cap_pool, x->len_pool + n, 1) ||
        !grow(&x->off, &x->cap_off, x->n_terms + 2, sizeof(size_t)))
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
    long t = term_find(x->lx, tok, n);
    if (t < 0) {
        long nt = delta_term(x, tok, n);
        t = nt < 0 ? -1 : (long)x->lx->n_terms + nt;
    }
    if (t < 0 || t > (long)UINT32_MAX ||
        !grow(&x->key, &x->cap_key, x->n_key + 1, sizeof(uint64_t))) {
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
    if (rc != SQLITE_OK) return db_fail(err, db, rc, "reading new rows");
    sqlite3_bind_int64(q, 1, after);
    rg_status st = RG_OK;
    int cols = sqlite3_column_count(q);
    while (!st && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (!grow(&x->id, &x->cap_id, x->n_docs + 1, sizeof(int64_t)) ||
            !grow(&x->dl, &x->cap_dl, x->n_docs + 1, sizeof(uint32_t))) {
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
    if (!st && rc != SQLITE_DONE) st = db_fail(err, db, rc, "reading new rows");
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
    if (rc != SQLITE_OK) return db_fail(err, db, rc, "reading row ids");
    size_t cap = 0;
    *ids = NULL;
    *n = 0;
    rg_status st = RG_OK;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (!grow(ids, &cap, *n + 1, sizeof(int64_t))) {
            st = rg_fail(err, RG_ENOMEM, "lexical: out of memory refreshing");
            break;
        }
        (*ids)[(*n)++] = sqlite3_column_int64(q, 0);
    }
    if (!st && rc != SQLITE_DONE) st = db_fail(err, db, rc, "reading row ids");
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
    qsort(x->key, x->n_key, sizeof *x->key, cmp_u64);
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
    set_impacts(nx);
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
    if (ok < 0 || (st = build_hash(nx, err))) {
        if (!st) st = rg_fail(err, RG_ENOMEM, "lexical: out of memory refreshing");
        goto out;
    }
    swap_index(lx, nx);
    lx->n_empty = empty_below_last(lx, ids, n_ids);
out:
    if (nx) free_index(nx);
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

/* Query tokens -> distinct ids of indexed terms in lx->qterm. */
static int collect_term_id(void *ctx, const char *tok, size_t n, size_t start, size_t end,
                           int colocated)
{
    (void)start;
    (void)end;
    (void)colocated;
    rg_lexical *lx = ctx;
    long t = term_find(lx, tok, n);
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
    const lex_post *p = lx->post + lx->post_off[t];
    size_t df = lx->post_off[t + 1] - lx->post_off[t];
    float *acc = lx->acc;
    uint32_t *touched = lx->touched;
    for (size_t i = 0; i < df; i++) {
        uint32_t d = p[i].doc;
        float a = acc[d];
        touched[nt] = d; /* kept only if new: no branch to mispredict */
        nt += a == 0.0f;
        acc[d] = a + idf * p[i].w;
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
    const lex_post *p = lx->post + lx->post_off[t];
    size_t df = lx->post_off[t + 1] - lx->post_off[t];
    float *acc = lx->acc;
    if (nc * 16 < df) { /* few candidates, long list: look them up */
        size_t at = 0;
        for (size_t i = 0; i < nc && at < df; i++) {
            at = seek(p, at, df, lx->cand[i]);
            if (at < df && p[at].doc == lx->cand[i]) acc[p[at].doc] += idf * p[at].w;
        }
        return;
    }
    /* many candidates: a pass over the list that touches no new chunk
     * (chunks pruned earlier may gain too; they are not ranked) */
    for (size_t i = 0; i < df; i++) {
        uint32_t d = p[i].doc;
        if (acc[d] != 0.0f) acc[d] += idf * p[i].w;
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
        uint32_t t = lx->qinfo[j].t;
        const lex_post *p = lx->post + lx->post_off[t];
        size_t df = lx->post_off[t + 1] - lx->post_off[t], at = 0;
        float idf = lx->qinfo[j].idf;
        for (size_t i = 0; i < k && at < df; i++) {
            at = seek(p, at, df, lx->th_doc[i]);
            if (at < df && p[at].doc == lx->th_doc[i]) lx->th_score[i] += idf * p[at].w;
        }
    }
    low = lx->th_score[0];
    for (size_t i = 1; i < k; i++)
        if (lx->th_score[i] < low) low = lx->th_score[i];
    return low;
}

/* Term t's text. */
static const char *term_text(const rg_lexical *lx, uint32_t t, size_t *n)
{
    *n = lx->term_off[t + 1] - lx->term_off[t];
    return lx->pool + lx->term_off[t];
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
    const char *tx = term_text(sort_lx, x->t, &nx), *ty = term_text(sort_lx, y->t, &ny);
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
        size_t df = lx->post_off[t + 1] - lx->post_off[t];
        lx->qinfo[q].t = t;
        lx->qinfo[q].idf = (float)idf_of(n, (double)df);
        lx->qinfo[q].bound = (double)lx->qinfo[q].idf * (double)lx->post_max[t];
    }
    sort_lx = lx;
    qsort(lx->qinfo, nq, sizeof lx->qinfo[0], qterm_before);
    rest[nq] = 0.0;
    rest_df[nq] = 0;
    for (size_t q = nq; q-- > 0;) {
        uint32_t t = lx->qinfo[q].t;
        rest[q] = rest[q + 1] + lx->qinfo[q].bound;
        rest_df[q] = rest_df[q + 1] + (lx->post_off[t + 1] - lx->post_off[t]);
    }
    size_t min_df = lx->n_docs / RG_LEX_PRUNE_DIV;
    if (min_df < RG_LEX_PRUNE_MIN_DF) min_df = RG_LEX_PRUNE_MIN_DF;

    size_t nt = 0, nc = 0, q = 0, nh = 0;
    int pruning = 0, checks = 0;
    float theta = 0.0f;
    for (; q < nq; q++) {
        uint32_t t = lx->qinfo[q].t;
        size_t df = lx->post_off[t + 1] - lx->post_off[t];
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

static int collect_term_text(void *ctx, const char *tok, size_t n, size_t start, size_t end,
                             int colocated);

double rg_lexical_ideal(rg_lexical *lx, const char *query)
{
    if (!lx || !query || strlen(query) > RG_QUERY_MAX_BYTES) return NAN;
    double sum = 0.0;
    pthread_mutex_lock(&lx->mu);
    lx->n_qterm = 0;
    rg_status st =
        rg_fts5_tokenizer_run(lx->tok, query, strlen(query), 1, collect_term_text, lx, NULL);
    /* distinct query terms, indexed or not (df 0: the highest idf) */
    for (size_t i = 0; st == RG_OK && i < lx->n_qterm; i++) {
        long t = term_find(lx, lx->qtext[i], lx->qlen[i]);
        double df = t < 0 ? 0.0 : (double)(lx->post_off[t + 1] - lx->post_off[t]);
        sum += idf_of((double)lx->n_docs, df) * (lx->k1 + 1.0);
    }
    lx->n_qterm = 0;
    pthread_mutex_unlock(&lx->mu);
    return st == RG_OK ? sum : NAN;
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

/* ---- snippets ---- */

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

/* Query tokens -> distinct term texts in lx->qtext. */
static int collect_term_text(void *ctx, const char *tok, size_t n, size_t start, size_t end,
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

static int collect_text_token(void *ctx, const char *tok, size_t n, size_t start, size_t end,
                              int colocated)
{
    snip *s = ctx;
    if (!grow(&s->tok, &s->cap, s->n + 1, sizeof(snip_tok))) {
        s->oom = 1;
        return 1;
    }
    snip_tok *t = &s->tok[s->n];
    t->start = start;
    t->end = end;
    t->pos = s->n == 0 ? 0 : s->tok[s->n - 1].pos + !colocated;
    t->term = -1;
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
    rg_status st = rg_fts5_tokenizer_run(lx->tok, query, qn, 1, collect_term_text, lx, err);
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
