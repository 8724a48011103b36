#include "index/search.h"

#include <string.h>

#include "engine/base/mem.h"
#include "index/lexical.h"

struct rg_search {
    rg_store *store;
    rg_lexical *lex;
    int64_t seq;         /* store change sequence at open */
    int32_t *chunk_coll; /* collection id by chunk id, 0 for none */
    int64_t max_chunk_id;
};

typedef struct coll_filter {
    const rg_search *q;
    int64_t coll;
} coll_filter;

static int in_collection(void *ctx, int64_t chunk_id)
{
    const coll_filter *f = ctx;
    return chunk_id >= 0 && chunk_id <= f->q->max_chunk_id && f->q->chunk_coll[chunk_id] == f->coll;
}

/* One pass over chunks fills the chunk -> collection map used by filters. */
static rg_status load_collections(rg_search *q, rg_error *err)
{
    sqlite3 *db = rg_store_db(q->store);
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "SELECT coalesce(max(id), 0) FROM chunks", -1, &st, NULL);
    if (rc != SQLITE_OK) return rg_fail(err, RG_EDB, "loading chunks: %s", sqlite3_errmsg(db));
    q->max_chunk_id = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    q->chunk_coll = rg_calloc((size_t)q->max_chunk_id + 1, sizeof *q->chunk_coll);
    if (!q->chunk_coll) return rg_fail(err, RG_ENOMEM, "out of memory loading chunks");
    rc = sqlite3_prepare_v2(db,
                            "SELECT c.id, d.collection_id FROM chunks c JOIN documents d "
                            "ON d.id = c.document_id",
                            -1, &st, NULL);
    if (rc != SQLITE_OK) return rg_fail(err, RG_EDB, "loading chunks: %s", sqlite3_errmsg(db));
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        if (id >= 0 && id <= q->max_chunk_id)
            q->chunk_coll[id] = (int32_t)sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return rg_fail(err, RG_EDB, "loading chunks: %s", sqlite3_errmsg(db));
    return RG_OK;
}

rg_status rg_search_open(rg_store *s, rg_search **out, rg_error *err)
{
    *out = NULL;
    rg_search *q = rg_calloc(1, sizeof *q);
    if (!q) return rg_fail(err, RG_ENOMEM, "out of memory opening search");
    q->store = s;
    rg_status st;
    /* Read the sequence first: a change racing with the load shows as stale. */
    if ((st = rg_store_change_seq(s, &q->seq, err))) goto fail;
    rg_lexical_options lo = rg_lexical_default_options();
    lo.tokenize = rg_store_tokenize_spec(s);
    if ((st = rg_lexical_open(rg_store_db(s), &lo, &q->lex, err))) goto fail;
    if ((st = load_collections(q, err))) goto fail;
    *out = q;
    return RG_OK;
fail:
    rg_search_close(q);
    return st;
}

void rg_search_close(rg_search *q)
{
    if (!q) return;
    rg_lexical_close(q->lex);
    rg_free(q->chunk_coll);
    rg_free(q);
}

int rg_search_stale(rg_search *q)
{
    int64_t seq;
    rg_error e;
    if (rg_store_change_seq(q->store, &seq, &e)) return 1;
    return seq != q->seq;
}

rg_status rg_search_run(rg_search *q, const rg_search_request *req, rg_search_hit *hits,
                        size_t *n_hits, rg_error *err)
{
    *n_hits = 0;
    if (!req->query || !req->query[0]) return rg_fail(err, RG_EINVAL, "empty query");
    if (req->k == 0 || req->k > RG_SEARCH_MAX_K)
        return rg_fail(err, RG_EINVAL, "k must be between 1 and %d", RG_SEARCH_MAX_K);
    coll_filter f = {q, 0};
    if (req->collection) {
        rg_status st = rg_store_collection(q->store, req->collection, 0, &f.coll, err);
        if (st) return st;
    }
    /* rg_lex_hit and rg_search_hit have the same layout by design; copy
     * anyway so the two modules stay free to diverge. */
    rg_lex_hit lh[64];
    rg_lex_hit *lhits = req->k <= 64 ? lh : rg_malloc(req->k * sizeof *lhits);
    if (!lhits) return rg_fail(err, RG_ENOMEM, "out of memory searching");
    size_t n = 0;
    rg_status st = rg_lexical_search(q->lex, req->query, req->k,
                                     req->collection ? in_collection : NULL, &f, lhits, &n, err);
    for (size_t i = 0; !st && i < n; i++)
        hits[i] = (rg_search_hit){lhits[i].chunk_id, lhits[i].score};
    if (!st) *n_hits = n;
    if (lhits != lh) rg_free(lhits);
    return st;
}

rg_status rg_search_snippet(rg_search *q, const char *query, const char *text, size_t len,
                            size_t max_tokens, const char *open, const char *close, rg_buf *out,
                            rg_error *err)
{
    return rg_lexical_snippet(q->lex, query, text, len, max_tokens, open, close, out, err);
}
