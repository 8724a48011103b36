/*
 * search.h — query-time retrieval over a store: filters, the lexical leg,
 * and (later) the dense leg and fusion.
 *
 * rg_search_open loads what queries need into memory (the BM25 postings,
 * the chunk -> collection map) once; each rg_search_run then costs only the
 * query. The searcher is a snapshot: documents ingested after it was opened
 * are not seen until it is reopened (rg_search_stale says when).
 * A searcher is used by one thread at a time (it may run a second thread of
 * its own: rg_search_set_parallel).
 */
#ifndef RG_SEARCH_H
#define RG_SEARCH_H

#include <stddef.h>
#include <stdint.h>

#include "engine/base/buf.h"
#include "engine/base/status.h"
#include "index/dense.h"
#include "index/fusion.h"
#include "index/store.h"

/* Largest k a query may ask for. */
#define RG_SEARCH_MAX_K 1000

typedef struct rg_search rg_search;

/*
 * s must outlive the searcher; so must dense, which may be NULL (then only
 * lexical search is possible).
 */
rg_status rg_search_open(rg_store *s, rg_dense *dense, rg_search **out, rg_error *err);
void rg_search_close(rg_search *q);
/* 1 if the store has changed since the searcher was opened or refreshed. */
int rg_search_stale(rg_search *q);

/*
 * Brings a stale searcher up to date in place, following the store's
 * deletion log: the BM25 index by rg_lexical_update (new rows tokenized
 * into its delta, deleted chunks masked), the collection and access-list
 * maps extended by the new chunks; both read whole again when the lexical
 * index merges, and a full rg_lexical_refresh when the log no longer
 * reaches back to the last refresh. One read transaction (unless the
 * connection is in one already). dense (may be NULL; may be a newly opened
 * index) replaces the one given before. The cost follows what changed, not
 * the collection. On error the searcher must be closed (its maps may be
 * half loaded).
 */
rg_status rg_search_refresh(rg_search *q, rg_dense *dense, rg_error *err);

/* exact != 0: every refresh merges the lexical index (scores equal those
 * of a searcher opened afresh, at the cost of a pass over all postings);
 * 0, the default: lexical scores lag a little between merges
 * (rg_lexical_update). */
void rg_search_set_exact_refresh(rg_search *q, int exact);

/*
 * With on, hybrid queries run their lexical leg on a second thread (the
 * searcher's own, started here and joined by rg_search_close) while the
 * calling thread embeds the query and searches the vectors: a query's
 * latency becomes the longer leg, not the sum. Results are the same either
 * way. Worth it when a core is idle (one query at a time: the CLI, eval);
 * a server whose workers already use every core gains nothing from it.
 */
rg_status rg_search_set_parallel(rg_search *q, int on, rg_error *err);

typedef enum rg_search_mode {
    RG_SEARCH_HYBRID, /* both legs, fused (the default) */
    RG_SEARCH_LEXICAL,
    RG_SEARCH_DENSE,
} rg_search_mode;

/* "hybrid", "lexical", "dense" -> mode; 0 if the name is unknown. */
int rg_search_mode_parse(const char *name, rg_search_mode *mode);
const char *rg_search_mode_name(rg_search_mode mode);

/* Limits on one query's filters. */
#define RG_FILTER_MAX_DOCS 10000
#define RG_FILTER_MAX_META 32
#define RG_FILTER_KEY_MAX 64

/*
 * Restricts a query to some documents; every condition must hold. Applied
 * to both legs before ranking, so a filtered query still returns k results
 * when k matching chunks exist.
 */
typedef struct rg_search_filter {
    const int64_t *doc_ids;  /* documents allowed, or NULL for any */
    size_t n_doc_ids;
    const char *const *meta_keys;   /* metadata key = value pairs (string values) */
    const char *const *meta_values;
    size_t n_meta;
    int64_t modified_from; /* documents modified at or after (Unix seconds); 0: no bound */
    int64_t modified_to;   /* ... and before; 0: no bound */
} rg_search_filter;

/* Groups one reader may name. */
#define RG_READER_GROUPS_MAX 64

/*
 * Who is asking, for document access lists (store.h: a document's
 * metadata "acl"). A document with a list is read only by the users it
 * names and the members of the groups it names; one without a list, by
 * anyone. Enforced in both legs before ranking, like a filter: a reader
 * never gets a chunk of a document it may not read, nor has one take a
 * place among its k results or raise its relevance signals.
 */
typedef struct rg_reader {
    const char *user; /* may be NULL or "" (matches no user entry) */
    const char *const *groups;
    size_t n_groups; /* at most RG_READER_GROUPS_MAX */
} rg_reader;

/* Candidates each leg contributes to fusion, unless the request says more. */
#define RG_SEARCH_LEG_DEPTH 100

typedef struct rg_search_request {
    const char *query;
    size_t k;               /* 1..RG_SEARCH_MAX_K */
    const char *collection; /* NULL: all collections */
    rg_search_mode mode;
    rg_fusion_options fusion;
    size_t depth;           /* per-leg candidates for hybrid; 0: max(k, RG_SEARCH_LEG_DEPTH) */
    const rg_search_filter *filter; /* NULL: no filter */
    const rg_reader *reader;        /* NULL: no access check (local use, or auth off) */
} rg_search_request;

/* A request with the defaults: hybrid, weighted fusion (fusion.h), k = 10. */
rg_search_request rg_search_default_request(const char *query);

/*
 * What a query did: where its time went (milliseconds), and the best raw
 * score each leg found among the chunks the filters allow (NAN when the
 * leg did not run or matched nothing). Fused scores rank but have no
 * absolute meaning; these do, and answers use them to refuse (answer.h).
 */
typedef struct rg_search_stats {
    int dense_skipped; /* hybrid ran lexical only: the model does not cover the query's script */
    double embed_ms;
    double dense_ms;
    double lexical_ms;
    double fuse_ms;
    double dense_top;     /* cosine similarity of the dense leg's best chunk */
    double lexical_top;   /* BM25 of the lexical leg's best chunk */
    double lexical_ideal; /* BM25 a chunk holding every query term would approach
                             (rg_lexical_ideal); lexical_top / lexical_ideal is the
                             idf-weighted share of the query the best chunk covers */
    size_t lexical_chunks; /* chunks in the lexical index: the idf statistics behind it */
} rg_search_stats;

typedef struct rg_search_hit {
    int64_t chunk_id;
    float score;
} rg_search_hit;

/*
 * Runs the query. hits has room for req->k; *n_hits receives the count.
 * timings may be NULL. An unknown collection is RG_ENOTFOUND; an empty
 * query RG_EINVAL; dense or hybrid without an encoder RG_EINVAL.
 */
rg_status rg_search_run(rg_search *q, const rg_search_request *req, rg_search_hit *hits,
                        size_t *n_hits, rg_search_stats *timings, rg_error *err);

/* 1 if the reader (NULL: anyone) may read the chunk's document, as of the snapshot. */
int rg_search_readable(rg_search *q, const rg_reader *rd, int64_t chunk_id);

/*
 * Appends a highlighted snippet of text for query to out (see
 * rg_lexical_snippet).
 */
rg_status rg_search_snippet(rg_search *q, const char *query, const char *text, size_t len,
                            size_t max_tokens, const char *open, const char *close, rg_buf *out,
                            rg_error *err);

#endif
