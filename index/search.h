/*
 * search.h — query-time retrieval over a store: filters, the lexical leg,
 * and (later) the dense leg and fusion.
 *
 * rg_search_open loads what queries need into memory (the BM25 postings,
 * the chunk -> collection map) once; each rg_search_run then costs only the
 * query. The searcher is a snapshot: documents ingested after it was opened
 * are not seen until it is reopened (rg_search_stale says when).
 * A searcher is used by one thread at a time.
 */
#ifndef RG_SEARCH_H
#define RG_SEARCH_H

#include <stddef.h>
#include <stdint.h>

#include "engine/base/buf.h"
#include "engine/base/status.h"
#include "index/store.h"

/* Largest k a query may ask for. */
#define RG_SEARCH_MAX_K 1000

typedef struct rg_search rg_search;

/* s must outlive the searcher. */
rg_status rg_search_open(rg_store *s, rg_search **out, rg_error *err);
void rg_search_close(rg_search *q);
/* 1 if the store has changed since the searcher was opened. */
int rg_search_stale(rg_search *q);

typedef struct rg_search_request {
    const char *query;
    size_t k;               /* 1..RG_SEARCH_MAX_K */
    const char *collection; /* NULL: all collections */
} rg_search_request;

typedef struct rg_search_hit {
    int64_t chunk_id;
    float score;
} rg_search_hit;

/*
 * Runs the query. hits has room for req->k; *n_hits receives the count.
 * An unknown collection is RG_ENOTFOUND; an empty query RG_EINVAL.
 */
rg_status rg_search_run(rg_search *q, const rg_search_request *req, rg_search_hit *hits,
                        size_t *n_hits, rg_error *err);

/*
 * Appends a highlighted snippet of text for query to out (see
 * rg_lexical_snippet).
 */
rg_status rg_search_snippet(rg_search *q, const char *query, const char *text, size_t len,
                            size_t max_tokens, const char *open, const char *close, rg_buf *out,
                            rg_error *err);

#endif
