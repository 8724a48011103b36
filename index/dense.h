/*
 * dense.h — the dense leg of a store: one vector index per collection, kept
 * in step with SQLite and filled by the in-process encoder.
 *
 * Files: <data dir>/vectors/<collection id>.rgv (rg_vectors_save format).
 * SQLite is the source of truth and the files are caches: when a file's
 * change sequence differs from the store's (a crash after a commit, an
 * ingest by a process without the encoder), opening the collection
 * reconciles it — vectors of chunks that no longer exist are removed, chunks
 * without vectors are embedded — so no committed chunk is ever missing from
 * the dense leg and no deleted one comes back.
 *
 * A collection is bound to one embedding model (collections.model); using
 * it with another model is refused until `ragd reindex` rebuilds it.
 * A handle is used by one thread at a time.
 */
#ifndef RG_DENSE_H
#define RG_DENSE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/base/status.h"
#include "engine/nn/encoder.h"
#include "index/store.h"
#include "index/vectors.h"

/* Chunks embedded per encoder call while filling an index. */
#define RG_DENSE_EMBED_BATCH 256
/* Query embeddings kept in the LRU cache. */
#define RG_DENSE_QUERY_CACHE 256
/* Longest query (bytes) the cache keeps; longer ones are embedded every time. */
#define RG_DENSE_QUERY_CACHE_BYTES 1024
/* Longest model name. */
#define RG_DENSE_MODEL_MAX 128

/* Reports progress while embedding: done of total chunks. */
typedef void (*rg_dense_progress_fn)(void *ctx, size_t done, size_t total);

typedef struct rg_dense_options {
    const char *model_name;   /* what collections are bound to; required */
    rg_encoder *encoder;      /* borrowed; must outlive the handle; required */
    rg_encoder *query_encoder; /* borrowed; the same model set up for single queries
                                  (one thread); NULL: encoder */
    const char *factory;      /* FAISS factory; NULL chooses by collection size */
    int ef_search;            /* HNSW efSearch; 0: 64 */
    const char *query_prefix;   /* put before queries (e5: "query: "); NULL: none */
    const char *passage_prefix; /* put before chunk texts (e5: "passage: "); NULL: none */
    rg_dense_progress_fn progress;
    void *progress_ctx;
} rg_dense_options;

typedef struct rg_dense rg_dense;

/* Opens the dense side of s, whose data directory is data_dir. */
rg_status rg_dense_open(rg_store *s, const char *data_dir, const rg_dense_options *opt,
                        rg_dense **out, rg_error *err);
/* Closes without saving (call rg_dense_save first to keep changes). */
void rg_dense_close(rg_dense *d);

int rg_dense_dim(const rg_dense *d);
const char *rg_dense_model(const rg_dense *d);

/*
 * Makes the collection ready: binds it to the model if it is unbound, loads
 * its index file and reconciles it with the store (embedding what is
 * missing). RG_EINVAL when the collection is bound to another model.
 * Idempotent: later calls return at once, unless a change left the
 * collection's vectors behind the store (a failed update, or
 * rg_dense_mark_stale): then they reconcile it again first.
 */
rg_status rg_dense_attach(rg_dense *d, int64_t collection_id, rg_error *err);

/*
 * Catches the attached collections up with changes other connections made
 * to the store (another worker, another process): vectors of chunks that
 * are gone are removed; chunks without a vector are embedded here when a
 * collection has at most max_embed of them, else the collection is
 * detached, so that its next rg_dense_attach loads the file the writer
 * saved (and reconciles whatever that lacks). Collections deleted or bound
 * to another model since are detached as well. On error the handle should
 * be closed and opened again.
 */
rg_status rg_dense_refresh(rg_dense *d, size_t max_embed, rg_error *err);

/*
 * Records that a store change of the collection was committed but its
 * vectors could not follow (an error after the commit): the next
 * rg_dense_attach reconciles the live index with the store, and until then
 * a save stamps the file as stale, so that no later open trusts it.
 */
void rg_dense_mark_stale(rg_dense *d, int64_t collection_id);

/*
 * Records a document change already committed to the store: the vectors of
 * old_ids (the document's previous chunks) go, new_ids are embedded and
 * added. The collection must be attached.
 */
rg_status rg_dense_update(rg_dense *d, int64_t collection_id, const int64_t *old_ids,
                          size_t n_old, const int64_t *new_ids, size_t n_new, rg_error *err);

/*
 * Saves atomically every collection index this handle changed (its updates,
 * or an attach that had to repair the file), stamped with the store's
 * sequence when it holds exactly the store's chunks (checked here, vectors
 * of deleted chunks dropped); an index behind the store (a change another
 * connection committed that this handle has not caught up with) is saved
 * stamped stale, so that the next attach reconciles it. A file left with an
 * older stamp is compared with the store's chunk ids when next attached.
 */
rg_status rg_dense_save(rg_dense *d, rg_error *err);

/* 1 when rg_dense_save has something to write: a collection this handle
 * changed (its updates, an attach that repaired the file) since it last
 * saved. */
int rg_dense_unsaved(const rg_dense *d);

/*
 * Embeds n chunk texts (each the text rg_store_chunk_embed_text gives: the
 * document title, a line break, the chunk) with the passage prompt in
 * front, into out (n * dim floats). For callers that embed before they
 * write (the ingestion pipeline batches chunks across documents).
 */
rg_status rg_dense_embed_passages(rg_dense *d, const char *const *texts, const size_t *lens,
                                  size_t n, float *out, rg_error *err);

/*
 * rg_dense_update with the new chunks' vectors given (vecs: n_new * dim
 * floats in new_ids order), for a change already committed to the store.
 */
rg_status rg_dense_replace(rg_dense *d, int64_t collection_id, const int64_t *old_ids,
                           size_t n_old, const int64_t *new_ids, size_t n_new, const float *vecs,
                           rg_error *err);

/*
 * Drops a collection's vectors and its model binding, and deletes its file:
 * the next attach embeds everything again (`ragd reindex`).
 */
rg_status rg_dense_reset(rg_dense *d, int64_t collection_id, rg_error *err);

/*
 * 1 if the model can embed text of this script meaningfully
 * (rg_encoder_covers, encoder.h): a Chinese query means nothing to an
 * English-only model, and hybrid search then leaves the dense leg out
 * rather than fuse noise.
 */
int rg_dense_covers(const rg_dense *d, const char *text);

/* Embeds a query (the model's query prefix applied), through the LRU cache. */
rg_status rg_dense_embed_query(rg_dense *d, const char *query, float *out, rg_error *err);

/*
 * Top k chunks of an attached collection for the query vector q, best first
 * (inner product of normalised vectors: cosine). filter as in rg_vectors_search.
 */
rg_status rg_dense_search(rg_dense *d, int64_t collection_id, const float *q, size_t k,
                          rg_vec_filter filter, void *filter_ctx, rg_vec_hit *hits,
                          size_t *n_hits, rg_error *err);

/* Vectors held for a collection (0 if not attached). */
size_t rg_dense_count(const rg_dense *d, int64_t collection_id);

#endif
