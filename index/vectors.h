/*
 * vectors.h — the vector index: chunk embeddings in, nearest chunk ids out.
 *
 * An rg_vectors holds one collection's vectors, keyed by chunk id (int64),
 * and answers top-k queries by inner product (normalised embeddings) or L2.
 * Two backends share this interface, chosen through rg_vectors_options:
 * FAISS (IDMap2 over Flat or HNSW, or IVF-PQ, from a factory string) and a
 * plain C brute-force scan that tests use as the reference for FAISS.
 * SQLite stays the source of truth; this file is a rebuildable cache saved
 * atomically next to the database.
 *
 * Threads: any number of rg_vectors_search/count calls may run at once on
 * one handle; add, remove, compact, save and close need it exclusively
 * (the caller holds a read/write lock).
 */
#ifndef RG_VECTORS_H
#define RG_VECTORS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "engine/base/status.h"

/* Named limits. */
#define RG_VEC_MAX_DIM     4096                /* widest embedding accepted */
#define RG_VEC_MAX_K       10000               /* most results one search returns */
#define RG_VEC_MODEL_MAX   255                 /* longest model name kept in the header */
#define RG_VEC_FACTORY_MAX 127                 /* longest FAISS factory string */
#define RG_VEC_MAX_COUNT   ((uint64_t)1 << 40) /* vectors a file may claim */

/* Collection sizes where the default index type changes (see
 * rg_vectors_default_factory). */
#define RG_VEC_FLAT_MAX 5000    /* up to this many: exact (~1.5 ms at dim 384) */
#define RG_VEC_HNSW_MAX 2000000 /* up to this many: HNSW; above: IVF-PQ */

typedef struct rg_vectors rg_vectors;
typedef struct rg_vectors_methods rg_vectors_methods;

typedef enum rg_vec_metric {
    RG_VEC_IP = 0, /* inner product, larger is closer (cosine when normalised) */
    RG_VEC_L2 = 1, /* squared Euclidean distance, smaller is closer */
} rg_vec_metric;

/* One result: a chunk id and its score in the metric's own units. */
typedef struct rg_vec_hit {
    int64_t id;
    float score;
} rg_vec_hit;

/*
 * Returns non-zero to keep id. It may be called more than once for the same
 * id during one search (retries after over-fetching), so it must be pure.
 */
typedef int (*rg_vec_filter)(void *ctx, int64_t id);

/* The two built-in backends. */
extern const rg_vectors_methods rg_vectors_faiss;
extern const rg_vectors_methods rg_vectors_brute;

typedef struct rg_vectors_options {
    const rg_vectors_methods *backend; /* default &rg_vectors_faiss */
    int dim;                           /* embedding width, 1..RG_VEC_MAX_DIM */
    rg_vec_metric metric;              /* default RG_VEC_IP */
    const char *model;                 /* embedding model name, kept in the file */
    /*
     * FAISS factory string; NULL picks rg_vectors_default_factory(
     * expected_count). Strings without their own id support ("Flat",
     * "HNSW32", "PQ16") get "IDMap2," put in front; "IVF..." strings keep
     * ids natively; "IDMap,X" is read as "IDMap2,X"; "IDMap...,IVF..." is
     * refused (FAISS's IDMap cannot remove from an IVF).
     */
    const char *factory;
    size_t expected_count; /* collection size hint for the default factory */
    int ef_search;         /* HNSW search breadth; 0 keeps FAISS's default 16 */
    int nprobe;            /* IVF lists visited per query; 0 keeps FAISS's 1 */
    /*
     * Backends that cannot delete in place mark ids as removed and filter
     * them at query time; once removed ids exceed this share of the stored
     * vectors the index is rebuilt without them. Default 0.2.
     */
    double compact_share;
} rg_vectors_options;

/* Defaults: FAISS, inner product, no model, dim 0 (the caller must set it). */
rg_vectors_options rg_vectors_default_options(void);

/*
 * The factory string for a collection of n vectors of width dim, written to
 * out (at least RG_VEC_FACTORY_MAX + 1 bytes): "IDMap2,Flat" up to
 * RG_VEC_FLAT_MAX, "IDMap2,HNSW32" up to RG_VEC_HNSW_MAX, then
 * "IVF<nlist>,PQ<m>" with nlist = 4·√n rounded to a power of two and m
 * sub-quantisers of 8 dimensions (the largest divisor of dim ≤ dim/8 when 8
 * does not divide it).
 */
void rg_vectors_default_factory(size_t n, int dim, char *out);

/* Open and close */

/* Creates an empty index. On error *out is NULL and err says why. */
rg_status rg_vectors_open(const rg_vectors_options *opts, rg_vectors **out, rg_error *err);

/* Frees v and everything it holds; NULL is a no-op. */
void rg_vectors_close(rg_vectors *v);

/* Changing the contents */

/*
 * Adds n vectors (n·dim floats, row-major) under ids. Ids must be new: an id
 * already present (or twice in the batch) fails with RG_EEXISTS and nothing
 * is added. The caller keeps x and ids. RG_ENOMEM/RG_EINTERNAL leave the
 * index as it was before the call.
 *
 * IVF indexes need training: their vectors wait in a buffer, searched
 * exactly, until 39·max(nlist, 256) of them are present; then the index is
 * trained on that buffer and the buffer is added. (39 points per centroid is
 * the fewest FAISS's k-means accepts without warning; 256 centroids per
 * PQ sub-quantiser.) If training fails the vectors stay buffered, still
 * searched, and the next add retries.
 */
rg_status rg_vectors_add(rg_vectors *v, size_t n, const float *x, const int64_t *ids,
                         rg_error *err);

/*
 * Removes the listed ids; unknown ids are ignored. *n_removed (optional)
 * gets how many were present. A removed id is never returned again, even
 * when the backend only marks it (then compaction may run inside this call).
 */
rg_status rg_vectors_remove(rg_vectors *v, size_t n, const int64_t *ids, size_t *n_removed,
                            rg_error *err);

/* Rebuilds the index without marked-removed vectors now. */
rg_status rg_vectors_compact(rg_vectors *v, rg_error *err);

/* Queries */

/*
 * Writes up to k hits for the dim-float query q into hits (room for k),
 * best first, and their number to *n_hits. With a filter, only ids it keeps
 * are returned, and k of them whenever the index holds k such ids: FAISS
 * is asked for more than k, and when that is not enough an HNSW index scores
 * the kept ids exactly; an IVF index finds them only in the lists it probes.
 * The filter runs on the caller's thread. k is 1..RG_VEC_MAX_K. Hits are in
 * the metric's units: FAISS and brute force agree to float rounding.
 */
rg_status rg_vectors_search(const rg_vectors *v, const float *q, size_t k, rg_vec_filter filter,
                            void *filter_ctx, rg_vec_hit *hits, size_t *n_hits, rg_error *err);

/* Live vectors (marked-removed ones not counted). */
size_t rg_vectors_count(const rg_vectors *v);
/* 1 when the index holds a live vector under id. */
int rg_vectors_has(const rg_vectors *v, int64_t id);

typedef struct rg_vectors_stats {
    size_t live;       /* vectors a search can return */
    size_t tombstones; /* removed, still stored until the next compaction */
    size_t buffered;   /* live vectors waiting for enough to train on */
} rg_vectors_stats;

rg_vectors_stats rg_vectors_get_stats(const rg_vectors *v);

/*
 * Lists the live ids in ascending order (for reconciling with the store):
 * *ids is allocated with rg_malloc and owned by the caller (rg_free), *n
 * its length. On error *ids is NULL and *n is 0.
 */
rg_status rg_vectors_ids(const rg_vectors *v, int64_t **ids, size_t *n, rg_error *err);
int rg_vectors_dim(const rg_vectors *v);
rg_vec_metric rg_vectors_metric(const rg_vectors *v);
/* The model name given at open or read from the file; "" when none. */
const char *rg_vectors_model(const rg_vectors *v);
/* The effective factory string ("" for the brute-force backend). */
const char *rg_vectors_factory(const rg_vectors *v);
/* The store's change sequence given to the last save or read by load. */
uint64_t rg_vectors_change_seq(const rg_vectors *v);

/*
 * Moves every live vector into a new index built from factory (same
 * backend, dimension, metric and model), for instance from exact search to
 * HNSW once a collection has grown. *v is replaced only on success; on
 * failure it is unchanged. Needs a backend that can give vectors back
 * (FAISS IDMap2 indexes, brute force).
 */
rg_status rg_vectors_convert(rg_vectors **v, const char *factory, rg_error *err);

/*
 * Sets HNSW's efSearch (larger: better recall, slower). RG_EUNSUPPORTED when
 * the index has no such parameter.
 */
rg_status rg_vectors_set_ef_search(rg_vectors *v, int ef_search, rg_error *err);

/* Files */

/*
 * Writes v to path atomically: a temporary file in the same directory is
 * written, fsynced, renamed over path, and the directory fsynced. When any
 * step fails the previous file at path is untouched and the temporary file
 * removed. change_seq is the store's change sequence the index reflects.
 *
 * File layout (little-endian; see vectors.c for the exact fields): a
 * 512-byte ragd header (magic "RGVECIX1", version, backend, metric, dim,
 * model, factory, change sequence, vector count, body length, CRC-32 of the
 * body, CRC-32 of the header), then the backend's body (ids, marked-removed
 * ids, untrained buffer, then FAISS's own serialisation or raw floats).
 */
rg_status rg_vectors_save(rg_vectors *v, const char *path, uint64_t change_seq, rg_error *err);

/*
 * Reads a file written by rg_vectors_save. The backend comes from the file.
 * expect->model (when not NULL/"") and expect->dim (when > 0) must match the
 * header, else RG_EINVAL with a message naming both; expect->ef_search and
 * compact_share apply to the loaded index; expect may be NULL. A truncated or
 * damaged file gives RG_ECORRUPT, a missing one RG_ENOTFOUND.
 */
rg_status rg_vectors_load(const char *path, const rg_vectors_options *expect, rg_vectors **out,
                          rg_error *err);

/*
 * Writing a backend. Like sqlite3_vfs: a const table of functions and a
 * context each instance owns. rg_vectors checks arguments (dimensions, k,
 * NULLs) before calling in, so backends see only valid ones.
 */
#define RG_VECTORS_METHODS_VERSION 1

struct rg_vectors_methods {
    int version;       /* RG_VECTORS_METHODS_VERSION */
    const char *name;  /* "faiss", "brute" */
    uint32_t file_tag; /* identifies the backend in file headers */
    /* New empty context for opts (factory already resolved, dim valid). */
    rg_status (*create)(const rg_vectors_options *opts, void **ctx, rg_error *err);
    void (*destroy)(void *ctx);
    rg_status (*add)(void *ctx, size_t n, const float *x, const int64_t *ids, rg_error *err);
    rg_status (*remove)(void *ctx, size_t n, const int64_t *ids, size_t *n_removed, rg_error *err);
    rg_status (*compact)(void *ctx, rg_error *err);
    rg_status (*search)(void *ctx, const float *q, size_t k, rg_vec_filter filter, void *filter_ctx,
                        rg_vec_hit *hits, size_t *n_hits, rg_error *err);
    rg_vectors_stats (*stats)(void *ctx);
    /* 1 when id is live (added and not removed). */
    int (*has)(void *ctx, int64_t id);
    /* Writes the stats().live live ids to out, in any order. */
    void (*list_ids)(void *ctx, int64_t *out);
    /* Copies the live vector stored under id into out (dim floats);
     * RG_ENOTFOUND when there is none, RG_EUNSUPPORTED when the index
     * cannot give vectors back. */
    rg_status (*reconstruct)(void *ctx, int64_t id, float *out, rg_error *err);
    rg_status (*set_ef_search)(void *ctx, int ef_search, rg_error *err);
    /* Body I/O: save writes at f's position; load fills a context made by
     * create and reads exactly body_len bytes, returning RG_ECORRUPT for
     * anything inconsistent. */
    rg_status (*save)(void *ctx, FILE *f, rg_error *err);
    rg_status (*load)(void *ctx, FILE *f, uint64_t body_len, rg_error *err);
};

/* Helpers for backends: an int64 → int64 hash map (open addressing). */
typedef struct rg_vec_idmap {
    int64_t *keys;
    int64_t *vals;
    unsigned char *used;
    size_t cap; /* power of two, or 0 */
    size_t len;
} rg_vec_idmap;

/* Sets *val (optional) and returns 1 when key is present, else 0. */
int rg_vec_idmap_get(const rg_vec_idmap *m, int64_t key, int64_t *val);
/* Inserts or overwrites; RG_ENOMEM leaves m unchanged. */
rg_status rg_vec_idmap_put(rg_vec_idmap *m, int64_t key, int64_t val);
/* Returns 1 when key was present. */
int rg_vec_idmap_del(rg_vec_idmap *m, int64_t key);
/* Makes room for `more` further keys without reallocating. */
rg_status rg_vec_idmap_reserve(rg_vec_idmap *m, size_t more);
void rg_vec_idmap_free(rg_vec_idmap *m);

/* Exact reads and writes for bodies: short I/O is RG_EIO on write and
 * RG_ECORRUPT on read (the header promised those bytes). */
rg_status rg_vec_write(FILE *f, const void *p, size_t n, rg_error *err);
rg_status rg_vec_read(FILE *f, void *p, size_t n, rg_error *err);

/* Score of x against q in metric (inner product or squared L2). */
float rg_vec_score(rg_vec_metric metric, const float *q, const float *x, int dim);
/* Whether score a ranks before score b in metric. */
static inline int rg_vec_better(rg_vec_metric metric, float a, float b)
{
    return metric == RG_VEC_IP ? a > b : a < b;
}

#endif
