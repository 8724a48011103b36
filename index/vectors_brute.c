/*
 * vectors_brute.c — the reference vector backend: every query scores every
 * stored vector in plain C. Exact by construction, so tests hold FAISS's
 * results against it; fine in production for a few thousand vectors.
 *
 * Vectors live in one row-major array; removal moves the last row into the
 * hole, and an id map gives each id's row.
 */
#include "index/vectors.h"

#include <stdlib.h>
#include <string.h>

#include "engine/base/mem.h"

typedef struct brute {
    int dim;
    rg_vec_metric metric;
    float *x;     /* n rows of dim floats */
    int64_t *ids; /* n ids, ids[r] is row r's */
    size_t n, cap;
    rg_vec_idmap row; /* id → row */
} brute;

static rg_status bf_create(const rg_vectors_options *o, void **ctx, rg_error *err)
{
    brute *b = rg_calloc(1, sizeof *b);
    if (!b) return rg_fail(err, RG_ENOMEM, "out of memory creating vector index");
    b->dim = o->dim;
    b->metric = o->metric;
    *ctx = b;
    return RG_OK;
}

static void bf_destroy(void *ctx)
{
    brute *b = ctx;
    rg_free(b->x);
    rg_free(b->ids);
    rg_vec_idmap_free(&b->row);
    rg_free(b);
}

static rg_status bf_reserve(brute *b, size_t more, rg_error *err)
{
    if (b->n + more <= b->cap) return RG_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + more)
        cap *= 2;
    if (cap > SIZE_MAX / sizeof(float) / (size_t)b->dim)
        return rg_fail(err, RG_ENOMEM, "vector index too large");
    float *x = rg_realloc(b->x, cap * (size_t)b->dim * sizeof *x);
    if (!x) return rg_fail(err, RG_ENOMEM, "out of memory growing vector index");
    b->x = x;
    int64_t *ids = rg_realloc(b->ids, cap * sizeof *ids);
    if (!ids) return rg_fail(err, RG_ENOMEM, "out of memory growing vector index");
    b->ids = ids;
    b->cap = cap;
    if (rg_vec_idmap_reserve(&b->row, cap - b->n) != RG_OK)
        return rg_fail(err, RG_ENOMEM, "out of memory growing vector index");
    return RG_OK;
}

static rg_status bf_add(void *ctx, size_t n, const float *x, const int64_t *ids, rg_error *err)
{
    brute *b = ctx;
    rg_status rc = bf_reserve(b, n, err);
    if (rc != RG_OK) return rc;
    /* Room is reserved, so puts cannot fail; a duplicate undoes this batch. */
    for (size_t i = 0; i < n; i++) {
        if (rg_vec_idmap_get(&b->row, ids[i], NULL)) {
            for (size_t j = 0; j < i; j++)
                rg_vec_idmap_del(&b->row, ids[j]);
            return rg_fail(err, RG_EEXISTS, "vector id %lld already present", (long long)ids[i]);
        }
        rg_vec_idmap_put(&b->row, ids[i], (int64_t)(b->n + i));
    }
    memcpy(b->x + b->n * (size_t)b->dim, x, n * (size_t)b->dim * sizeof *x);
    memcpy(b->ids + b->n, ids, n * sizeof *ids);
    b->n += n;
    return RG_OK;
}

static rg_status bf_remove(void *ctx, size_t n, const int64_t *ids, size_t *n_removed,
                           rg_error *err)
{
    (void)err;
    brute *b = ctx;
    size_t removed = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t r;
        if (!rg_vec_idmap_get(&b->row, ids[i], &r)) continue;
        rg_vec_idmap_del(&b->row, ids[i]);
        size_t last = b->n - 1;
        if ((size_t)r != last) {
            memcpy(b->x + (size_t)r * (size_t)b->dim, b->x + last * (size_t)b->dim,
                   (size_t)b->dim * sizeof *b->x);
            b->ids[r] = b->ids[last];
            rg_vec_idmap_put(&b->row, b->ids[r], r); /* overwrite: no allocation */
        }
        b->n--;
        removed++;
    }
    if (n_removed) *n_removed = removed;
    return RG_OK;
}

static rg_status bf_compact(void *ctx, rg_error *err)
{
    (void)ctx;
    (void)err;
    return RG_OK; /* removal is in place: nothing to compact */
}

/* Whether hit a ranks after hit b; equal scores rank by id so results are
 * deterministic. */
static int worse(rg_vec_metric m, rg_vec_hit a, rg_vec_hit b)
{
    if (a.score != b.score) return rg_vec_better(m, b.score, a.score);
    return a.id > b.id;
}

/* A heap of the k best so far with the worst on top. */
static void sift_down(rg_vec_metric m, rg_vec_hit *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && worse(m, h[l], h[w])) w = l;
        if (r < n && worse(m, h[r], h[w])) w = r;
        if (w == i) return;
        rg_vec_hit t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

static void sift_up(rg_vec_metric m, rg_vec_hit *h, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!worse(m, h[i], h[p])) return;
        rg_vec_hit t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

static rg_status bf_search(void *ctx, const float *q, size_t k, rg_vec_filter filter,
                           void *filter_ctx, rg_vec_hit *hits, size_t *n_hits, rg_error *err)
{
    (void)err;
    brute *b = ctx;
    size_t n = 0;
    for (size_t r = 0; r < b->n; r++) {
        if (filter && !filter(filter_ctx, b->ids[r])) continue;
        rg_vec_hit h = {b->ids[r], rg_vec_score(b->metric, q, b->x + r * (size_t)b->dim, b->dim)};
        if (n < k) {
            hits[n] = h;
            sift_up(b->metric, hits, n++);
        } else if (worse(b->metric, hits[0], h)) {
            hits[0] = h;
            sift_down(b->metric, hits, n, 0);
        }
    }
    /* Heap sort in place: repeatedly move the worst to the end. */
    for (size_t end = n; end > 1; end--) {
        rg_vec_hit t = hits[0];
        hits[0] = hits[end - 1];
        hits[end - 1] = t;
        sift_down(b->metric, hits, end - 1, 0);
    }
    *n_hits = n;
    return RG_OK;
}

static rg_vectors_stats bf_stats(void *ctx)
{
    rg_vectors_stats st = {((brute *)ctx)->n, 0, 0};
    return st;
}

static int bf_has(void *ctx, int64_t id)
{
    return rg_vec_idmap_get(&((brute *)ctx)->row, id, NULL);
}

static void bf_list_ids(void *ctx, int64_t *out)
{
    brute *b = ctx;
    memcpy(out, b->ids, b->n * sizeof *out);
}

static rg_status bf_set_ef(void *ctx, int ef, rg_error *err)
{
    (void)ctx;
    (void)ef;
    return rg_fail(err, RG_EUNSUPPORTED, "brute-force index has no efSearch");
}

/* Body: u64 n, then n int64 ids, then n·dim floats (host byte order). */
static rg_status bf_save(void *ctx, FILE *f, rg_error *err)
{
    brute *b = ctx;
    uint64_t n = b->n;
    rg_status rc = rg_vec_write(f, &n, sizeof n, err);
    if (rc == RG_OK) rc = rg_vec_write(f, b->ids, b->n * sizeof *b->ids, err);
    if (rc == RG_OK) rc = rg_vec_write(f, b->x, b->n * (size_t)b->dim * sizeof *b->x, err);
    return rc;
}

static rg_status bf_load(void *ctx, FILE *f, uint64_t body_len, rg_error *err)
{
    brute *b = ctx;
    uint64_t n;
    rg_status rc = rg_vec_read(f, &n, sizeof n, err);
    if (rc != RG_OK) return rc;
    uint64_t row = sizeof(int64_t) + (uint64_t)b->dim * sizeof(float);
    if (n > RG_VEC_MAX_COUNT || sizeof n + n * row != body_len)
        return rg_fail(err, RG_ECORRUPT, "vector file body length does not match its count");
    rc = bf_reserve(b, (size_t)n, err);
    if (rc == RG_OK) rc = rg_vec_read(f, b->ids, (size_t)n * sizeof *b->ids, err);
    if (rc == RG_OK) rc = rg_vec_read(f, b->x, (size_t)n * (size_t)b->dim * sizeof *b->x, err);
    if (rc != RG_OK) return rc;
    for (size_t i = 0; i < n; i++) {
        if (rg_vec_idmap_get(&b->row, b->ids[i], NULL))
            return rg_fail(err, RG_ECORRUPT, "vector file lists id %lld twice",
                           (long long)b->ids[i]);
        rg_vec_idmap_put(&b->row, b->ids[i], (int64_t)i);
    }
    b->n = (size_t)n;
    return RG_OK;
}

static rg_status bf_reconstruct(void *ctx, int64_t id, float *out, rg_error *err)
{
    brute *b = ctx;
    int64_t r;
    if (!rg_vec_idmap_get(&b->row, id, &r))
        return rg_fail(err, RG_ENOTFOUND, "no vector with id %lld", (long long)id);
    memcpy(out, b->x + (size_t)r * (size_t)b->dim, (size_t)b->dim * sizeof *out);
    return RG_OK;
}

const rg_vectors_methods rg_vectors_brute = {
    .reconstruct = bf_reconstruct,
    .version = RG_VECTORS_METHODS_VERSION,
    .name = "brute",
    .file_tag = 2,
    .create = bf_create,
    .destroy = bf_destroy,
    .add = bf_add,
    .remove = bf_remove,
    .compact = bf_compact,
    .search = bf_search,
    .stats = bf_stats,
    .has = bf_has,
    .list_ids = bf_list_ids,
    .set_ef_search = bf_set_ef,
    .save = bf_save,
    .load = bf_load,
};
