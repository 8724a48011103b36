/*
 * vectors_faiss.c — the FAISS vector backend, through FAISS's C API (the
 * system's libfaiss_c, or our faiss_c_shim.cpp over libfaiss.a).
 *
 * Besides the FAISS index, the backend keeps its own id map, because FAISS
 * alone cannot answer "is this id present?" and the index kinds differ in
 * what they can do:
 * - IDMap2,Flat and IVF remove in place (native remove_ids);
 * - the rest (HNSW, PQ) cannot, so removed ids are marked (tombstones),
 *   filtered out of results with over-fetch, and dropped by a rebuild when
 *   they pass compact_share of the stored vectors;
 * - untrained kinds (IVF, PQ) buffer vectors until enough arrive to train
 *   on (see rg_vectors_add); the buffer is searched exactly meanwhile.
 * Invariant: FAISS's ntotal == n_indexed + n_tomb, and buffered vectors
 * exist only while the index is untrained.
 */
#include "index/vectors.h"

#include <faiss/c_api/AutoTune_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/impl/AuxIndexStructures_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/index_io_c.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/base/mem.h"
#include "index/faiss_simd.h"

/* Values in the id map besides a buffer slot (>= 0). */
#define ST_INDEXED (-1) /* in FAISS, live */
#define ST_TOMB    (-2) /* in FAISS, removed: never returned */

/* Vectors moved per FAISS call while rebuilding: bounds the extra memory. */
#define REBUILD_BATCH 4096

typedef struct fx {
    FaissIndex *index;
    int dim;
    rg_vec_metric metric;
    char factory[RG_VEC_FACTORY_MAX + 1];
    int native_remove;
    int exact;           /* IDMap,Flat: asking for every vector is exact */
    int can_reconstruct; /* IDMap2 finds a vector by id */
    int ef_search;       /* 0: FAISS's default */
    int nprobe;          /* 0: FAISS's default */
    double compact_share;
    size_t train_min; /* buffered vectors needed to train; 0 once trained */
    rg_vec_idmap ids; /* id → ST_INDEXED, ST_TOMB or buffer slot */
    size_t n_indexed, n_tomb;
    float *pend_x; /* the training buffer: n_pend rows */
    int64_t *pend_ids;
    size_t n_pend, cap_pend;
} fx;

/* Translates a FAISS error code and its message at the boundary. */
static rg_status fx_fail(rg_error *err, int frc, const char *what)
{
    const char *msg = faiss_get_last_error();
    if (!msg) msg = "unknown FAISS error";
    rg_status code = strstr(msg, "bad_alloc") ? RG_ENOMEM : RG_EINTERNAL;
    return rg_fail(err, code, "FAISS %s failed (%d): %s", what, frc, msg);
}

static FaissMetricType fx_metric(rg_vec_metric m)
{
    return m == RG_VEC_IP ? METRIC_INNER_PRODUCT : METRIC_L2;
}

static rg_status fx_apply(fx *c, FaissIndex *ix, const char *name, int val, rg_error *err)
{
    FaissParameterSpace *ps = NULL;
    int frc = faiss_ParameterSpace_new(&ps);
    if (frc) return fx_fail(err, frc, "ParameterSpace");
    frc = faiss_ParameterSpace_set_index_parameter(ps, ix, name, (double)val);
    faiss_ParameterSpace_free(ps);
    if (frc) return rg_fail(err, RG_EUNSUPPORTED, "index '%s' has no %s", c->factory, name);
    return RG_OK;
}

/* efSearch and nprobe are settings for whole collections, whatever kind the
 * size picked; kinds without them (Flat) simply ignore them. */
static void fx_apply_settings(fx *c, FaissIndex *ix)
{
    rg_faiss_accelerate(ix); /* a SIMD distance for HNSW walks (faiss_simd.h) */
    if (c->ef_search > 0) fx_apply(c, ix, "efSearch", c->ef_search, NULL);
    if (c->nprobe > 0) fx_apply(c, ix, "nprobe", c->nprobe, NULL);
}

static rg_status fx_new_index(fx *c, FaissIndex **out, rg_error *err)
{
    int frc = faiss_index_factory(out, c->dim, c->factory, fx_metric(c->metric));
    if (frc) {
        const char *msg = faiss_get_last_error();
        return rg_fail(err, RG_EINVAL, "FAISS cannot build index '%s': %s", c->factory,
                       msg ? msg : "unknown error");
    }
    fx_apply_settings(c, *out);
    return RG_OK;
}

/* 39·max(nlist, 256): see rg_vectors_add. */
static size_t fx_train_min(const char *factory)
{
    const char *p = strstr(factory, "IVF");
    size_t nlist = p ? strtoul(p + 3, NULL, 10) : 0;
    return 39 * (nlist > 256 ? nlist : 256);
}

static rg_status fx_create(const rg_vectors_options *o, void **ctx, rg_error *err)
{
    fx *c = rg_calloc(1, sizeof *c);
    if (!c) return rg_fail(err, RG_ENOMEM, "out of memory creating vector index");
    c->dim = o->dim;
    c->metric = o->metric;
    c->ef_search = o->ef_search;
    c->nprobe = o->nprobe;
    c->compact_share = o->compact_share;
    snprintf(c->factory, sizeof c->factory, "%s", o->factory);
    /* IDMap's remove_ids renumbers only a flat sub-index correctly; IVF keeps
     * external ids itself (see resolve_factory in vectors.c). */
    c->native_remove = strcmp(c->factory, "IDMap2,Flat") == 0 ||
                       strcmp(c->factory, "IDMap,Flat") == 0 ||
                       strncmp(c->factory, "IDMap", 5) != 0;
    c->exact = strcmp(c->factory, "IDMap2,Flat") == 0 || strcmp(c->factory, "IDMap,Flat") == 0;
    c->can_reconstruct = strncmp(c->factory, "IDMap2,", 7) == 0;
    rg_status rc = fx_new_index(c, &c->index, err);
    if (rc != RG_OK) {
        rg_free(c);
        return rc;
    }
    c->train_min = faiss_Index_is_trained(c->index) ? 0 : fx_train_min(c->factory);
    *ctx = c;
    return RG_OK;
}

static void fx_destroy(void *ctx)
{
    fx *c = ctx;
    if (c->index) faiss_Index_free(c->index);
    rg_vec_idmap_free(&c->ids);
    rg_free(c->pend_x);
    rg_free(c->pend_ids);
    rg_free(c);
}

/* ---- rebuild (compaction) ---- */

/* Copies every live indexed vector into a fresh index, then drops the
 * tombstones. A kind that needs training is trained on the leading vectors;
 * with too few to train on they go back to the training buffer. */
static rg_status fx_rebuild(fx *c, rg_error *err)
{
    size_t n = c->n_indexed, nt = n;
    FaissIndex *nix = NULL;
    int64_t *ids = rg_malloc((n + c->n_tomb + 1) * sizeof *ids);
    float *x = NULL;
    rg_status rc = ids ? fx_new_index(c, &nix, err)
                       : rg_fail(err, RG_ENOMEM, "out of memory compacting vector index");
    if (rc != RG_OK) goto out;
    for (size_t i = 0, nl = 0; i < c->ids.cap; i++)
        if (c->ids.used[i]) ids[c->ids.vals[i] == ST_INDEXED ? nl++ : nt++] = c->ids.keys[i];
    size_t train_min = faiss_Index_is_trained(nix) ? 0 : fx_train_min(c->factory);
    int to_buffer = train_min > n;
    size_t rows = to_buffer ? n : train_min > REBUILD_BATCH ? train_min : REBUILD_BATCH;
    rows = rows < n ? rows : n;
    x = rg_malloc((rows + 1) * (size_t)c->dim * sizeof *x);
    int64_t *bids = to_buffer ? rg_malloc((n + 1) * sizeof *bids) : NULL;
    if (!x || (to_buffer && !bids)) {
        rg_free(bids);
        rc = rg_fail(err, RG_ENOMEM, "out of memory compacting vector index");
        goto out;
    }
    int frc = 0;
    for (size_t i = 0; i < n && !frc; i += rows) {
        size_t m = n - i < rows ? n - i : rows;
        for (size_t j = 0; j < m && !frc; j++)
            frc = faiss_Index_reconstruct(c->index, ids[i + j], x + j * (size_t)c->dim);
        if (!frc && !to_buffer && i == 0 && train_min) frc = faiss_Index_train(nix, (idx_t)m, x);
        if (!frc && !to_buffer) frc = faiss_Index_add_with_ids(nix, (idx_t)m, x, ids + i);
    }
    if (frc) {
        rg_free(bids);
        rc = fx_fail(err, frc, "rebuild");
        goto out;
    }
    for (size_t i = n; i < nt; i++)
        rg_vec_idmap_del(&c->ids, ids[i]);
    if (to_buffer) {
        memcpy(bids, ids, n * sizeof *bids);
        for (size_t i = 0; i < n; i++)
            rg_vec_idmap_put(&c->ids, bids[i], (int64_t)i); /* overwrite */
        rg_free(c->pend_x);
        rg_free(c->pend_ids);
        c->pend_x = x;
        c->pend_ids = bids;
        c->n_pend = c->cap_pend = n;
        c->n_indexed = 0;
        x = NULL;
    }
    c->train_min = train_min;
    faiss_Index_free(c->index);
    c->index = nix;
    nix = NULL;
    c->n_tomb = 0;
out:
    if (nix) faiss_Index_free(nix);
    rg_free(ids);
    rg_free(x);
    return rc;
}

static rg_status fx_compact(void *ctx, rg_error *err)
{
    fx *c = ctx;
    return c->n_tomb ? fx_rebuild(c, err) : RG_OK;
}

/* ---- add ---- */

/* Trains on the whole buffer (which holds at least train_min vectors), then
 * moves it into FAISS. */
static rg_status fx_train_and_flush(fx *c, rg_error *err)
{
    int frc = faiss_Index_train(c->index, (idx_t)c->n_pend, c->pend_x);
    if (frc) return fx_fail(err, frc, "train");
    frc = faiss_Index_add_with_ids(c->index, (idx_t)c->n_pend, c->pend_x, c->pend_ids);
    if (frc) {
        faiss_Index_reset(c->index);
        return fx_fail(err, frc, "add");
    }
    for (size_t i = 0; i < c->n_pend; i++)
        rg_vec_idmap_put(&c->ids, c->pend_ids[i], ST_INDEXED); /* overwrite */
    c->n_indexed += c->n_pend;
    c->n_pend = 0;
    c->train_min = 0;
    rg_free(c->pend_x);
    rg_free(c->pend_ids);
    c->pend_x = NULL;
    c->pend_ids = NULL;
    c->cap_pend = 0;
    return RG_OK;
}

static rg_status fx_buffer(fx *c, size_t n, const float *x, const int64_t *ids, rg_error *err)
{
    if (c->n_pend + n > c->cap_pend) {
        size_t cap = c->cap_pend ? c->cap_pend : 256;
        while (cap < c->n_pend + n)
            cap *= 2;
        float *nx = rg_realloc(c->pend_x, cap * (size_t)c->dim * sizeof *nx);
        if (!nx) return rg_fail(err, RG_ENOMEM, "out of memory buffering vectors");
        c->pend_x = nx;
        int64_t *ni = rg_realloc(c->pend_ids, cap * sizeof *ni);
        if (!ni) return rg_fail(err, RG_ENOMEM, "out of memory buffering vectors");
        c->pend_ids = ni;
        c->cap_pend = cap;
    }
    memcpy(c->pend_x + c->n_pend * (size_t)c->dim, x, n * (size_t)c->dim * sizeof *x);
    memcpy(c->pend_ids + c->n_pend, ids, n * sizeof *ids);
    for (size_t i = 0; i < n; i++)
        rg_vec_idmap_put(&c->ids, ids[i], (int64_t)(c->n_pend + i)); /* reserved */
    c->n_pend += n;
    if (c->n_pend >= c->train_min) return fx_train_and_flush(c, err);
    return RG_OK;
}

/* RG_EEXISTS for an id present (or repeated in the batch); sets *tombs when
 * some ids are tombstoned, which must be compacted away before re-adding
 * (FAISS would otherwise hold two vectors under one id). */
static rg_status fx_check_new(fx *c, size_t n, const int64_t *ids, int *tombs, rg_error *err)
{
    rg_vec_idmap seen = {0};
    rg_status rc = rg_vec_idmap_reserve(&seen, n);
    if (rc != RG_OK) return rg_fail(err, rc, "out of memory adding vectors");
    *tombs = 0;
    for (size_t i = 0; i < n && rc == RG_OK; i++) {
        int64_t st;
        if (rg_vec_idmap_get(&seen, ids[i], NULL) ||
            (rg_vec_idmap_get(&c->ids, ids[i], &st) && st != ST_TOMB))
            rc = rg_fail(err, RG_EEXISTS, "vector id %lld already present", (long long)ids[i]);
        else if (rg_vec_idmap_get(&c->ids, ids[i], NULL))
            *tombs = 1;
        rg_vec_idmap_put(&seen, ids[i], 0);
    }
    rg_vec_idmap_free(&seen);
    return rc;
}

static rg_status fx_add(void *ctx, size_t n, const float *x, const int64_t *ids, rg_error *err)
{
    fx *c = ctx;
    int tombs = 0;
    rg_status rc = fx_check_new(c, n, ids, &tombs, err);
    if (rc == RG_OK && tombs) rc = fx_rebuild(c, err);
    if (rc != RG_OK) return rc;
    /* Reserve first so that, once FAISS has the vectors, the map cannot fail. */
    if (rg_vec_idmap_reserve(&c->ids, n) != RG_OK)
        return rg_fail(err, RG_ENOMEM, "out of memory adding vectors");
    if (c->train_min) return fx_buffer(c, n, x, ids, err);
    int frc = faiss_Index_add_with_ids(c->index, (idx_t)n, x, ids);
    if (frc) return fx_fail(err, frc, "add");
    for (size_t i = 0; i < n; i++)
        rg_vec_idmap_put(&c->ids, ids[i], ST_INDEXED);
    c->n_indexed += n;
    return RG_OK;
}

/* ---- remove ---- */

static void fx_unbuffer(fx *c, size_t slot)
{
    size_t last = c->n_pend - 1;
    if (slot != last) {
        memcpy(c->pend_x + slot * (size_t)c->dim, c->pend_x + last * (size_t)c->dim,
               (size_t)c->dim * sizeof *c->pend_x);
        c->pend_ids[slot] = c->pend_ids[last];
        rg_vec_idmap_put(&c->ids, c->pend_ids[slot], (int64_t)slot); /* overwrite */
    }
    c->n_pend--;
}

static rg_status fx_remove_native(fx *c, size_t n, const int64_t *ids, rg_error *err)
{
    FaissIDSelectorBatch *sel = NULL;
    int frc = faiss_IDSelectorBatch_new(&sel, n, ids);
    if (frc) return fx_fail(err, frc, "IDSelectorBatch");
    size_t removed = 0;
    frc = faiss_Index_remove_ids(c->index, (const FaissIDSelector *)sel, &removed);
    faiss_IDSelector_free((FaissIDSelector *)sel);
    if (frc) return fx_fail(err, frc, "remove_ids");
    if (removed != n)
        return rg_fail(err, RG_EINTERNAL, "FAISS removed %zu of %zu vectors", removed, n);
    for (size_t i = 0; i < n; i++)
        rg_vec_idmap_del(&c->ids, ids[i]);
    c->n_indexed -= n;
    return RG_OK;
}

static rg_status fx_remove(void *ctx, size_t n, const int64_t *ids, size_t *n_removed,
                           rg_error *err)
{
    fx *c = ctx;
    int64_t *live = rg_malloc(n * sizeof *live);
    if (!live) return rg_fail(err, RG_ENOMEM, "out of memory removing vectors");
    size_t nl = 0, removed = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t st;
        if (!rg_vec_idmap_get(&c->ids, ids[i], &st) || st == ST_TOMB) continue;
        removed++;
        if (st >= 0) { /* still in the training buffer */
            fx_unbuffer(c, (size_t)st);
            rg_vec_idmap_del(&c->ids, ids[i]);
        } else {
            rg_vec_idmap_put(&c->ids, ids[i], ST_TOMB); /* dedups repeats; no allocation */
            live[nl++] = ids[i];
        }
    }
    rg_status rc = RG_OK;
    if (nl && c->native_remove) {
        rc = fx_remove_native(c, nl, live, err);
        if (rc != RG_OK) /* FAISS kept them: keep them live, and visible */
            for (size_t i = 0; i < nl; i++)
                rg_vec_idmap_put(&c->ids, live[i], ST_INDEXED);
    } else if (nl) {
        c->n_indexed -= nl;
        c->n_tomb += nl;
        if ((double)c->n_tomb > c->compact_share * (double)(c->n_indexed + c->n_tomb))
            rc = fx_rebuild(c, err); /* on failure the tombstones still hide them */
    }
    rg_free(live);
    if (n_removed) *n_removed = removed;
    return rc;
}

/* ---- search ---- */

/* Exact top-k over n given vectors, through the brute-force backend so both
 * share one ranking rule. */
static rg_status fx_exact(fx *c, size_t n, const float *x, const int64_t *ids, const float *q,
                          size_t k, rg_vec_filter filter, void *fctx, rg_vec_hit *hits,
                          size_t *n_hits, rg_error *err)
{
    rg_vectors_options o = rg_vectors_default_options();
    o.backend = &rg_vectors_brute;
    o.dim = c->dim;
    o.metric = c->metric;
    void *b = NULL;
    rg_status rc = rg_vectors_brute.create(&o, &b, err);
    if (rc == RG_OK) rc = rg_vectors_brute.add(b, n, x, ids, err);
    if (rc == RG_OK) rc = rg_vectors_brute.search(b, q, k, filter, fctx, hits, n_hits, err);
    if (b) rg_vectors_brute.destroy(b);
    return rc;
}

/* The last resort of a filtered search on an approximate index: score every
 * live id the filter keeps, exactly. Reached only when over-fetching found
 * fewer than k, i.e. when few ids pass, so the copy stays small. */
static rg_status fx_scan(fx *c, const float *q, size_t k, rg_vec_filter filter, void *fctx,
                         rg_vec_hit *hits, size_t *n_hits, rg_error *err)
{
    size_t n = 0, cap = 0;
    int64_t *ids = NULL;
    float *x = NULL;
    rg_status rc = RG_OK;
    for (size_t i = 0; i < c->ids.cap && rc == RG_OK; i++) {
        if (!c->ids.used[i] || c->ids.vals[i] != ST_INDEXED) continue;
        int64_t id = c->ids.keys[i];
        if (filter && !filter(fctx, id)) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            int64_t *ni = rg_realloc(ids, cap * sizeof *ni);
            ids = ni ? ni : ids;
            float *nx = ni ? rg_realloc(x, cap * (size_t)c->dim * sizeof *nx) : NULL;
            x = nx ? nx : x;
            if (!ni || !nx) {
                rc = rg_fail(err, RG_ENOMEM, "out of memory searching vectors");
                break;
            }
        }
        int frc = faiss_Index_reconstruct(c->index, id, x + n * (size_t)c->dim);
        if (frc) rc = fx_fail(err, frc, "reconstruct");
        ids[n++] = id;
    }
    if (rc == RG_OK) rc = fx_exact(c, n, x, ids, q, k, NULL, NULL, hits, n_hits, err);
    rg_free(ids);
    rg_free(x);
    return rc;
}

/*
 * FAISS cannot skip ids it does not know are gone or filtered, so ask it
 * for more than k (twice k under a filter, plus up to k for tombstones), and
 * four times as many again until k survive. Flat indexes may go up to the
 * whole index, which is exact. HNSW stops at APPROX_FETCH_MAX: a graph walk
 * for a huge k is slower than a scan and still misses nodes, so after that
 * the live ids the filter keeps are scored exactly (fx_scan).
 */
#define APPROX_FETCH_MAX 4096

static rg_status fx_search(void *ctx, const float *q, size_t k, rg_vec_filter filter, void *fctx,
                           rg_vec_hit *hits, size_t *n_hits, rg_error *err)
{
    fx *c = ctx;
    if (c->n_pend)
        return fx_exact(c, c->n_pend, c->pend_x, c->pend_ids, q, k, filter, fctx, hits, n_hits,
                        err);
    size_t total = c->n_indexed + c->n_tomb, got = 0;
    size_t fetch = (filter ? 2 * k : k) + (c->n_tomb < k ? c->n_tomb : k);
    size_t limit = c->exact || !c->can_reconstruct ? total : APPROX_FETCH_MAX;
    float *d = NULL;
    idx_t *l = NULL;
    rg_status rc = RG_OK;
    while (total > 0) {
        if (fetch > total) fetch = total;
        rg_free(d);
        rg_free(l);
        d = rg_malloc(fetch * sizeof *d);
        l = rg_malloc(fetch * sizeof *l);
        if (!d || !l) {
            rc = rg_fail(err, RG_ENOMEM, "out of memory searching vectors");
            break;
        }
        int frc = faiss_Index_search(c->index, 1, q, (idx_t)fetch, d, l);
        if (frc) {
            rc = fx_fail(err, frc, "search");
            break;
        }
        got = 0;
        for (size_t i = 0; i < fetch && got < k; i++) {
            int64_t st;
            if (l[i] < 0) /* FAISS pads with -1 when it found fewer */
                continue;
            if (c->n_tomb && rg_vec_idmap_get(&c->ids, l[i], &st) && st == ST_TOMB) continue;
            if (filter && !filter(fctx, l[i])) continue;
            hits[got].id = l[i];
            hits[got].score = d[i];
            got++;
        }
        if (got == k || fetch == total || fetch >= limit) break;
        fetch = fetch > total / 4 ? total : fetch * 4;
    }
    rg_free(d);
    rg_free(l);
    if (rc == RG_OK && got < k && got < c->n_indexed && !c->exact && c->can_reconstruct)
        return fx_scan(c, q, k, filter, fctx, hits, n_hits, err);
    *n_hits = rc == RG_OK ? got : 0;
    return rc;
}

static rg_vectors_stats fx_stats(void *ctx)
{
    fx *c = ctx;
    rg_vectors_stats st = {c->n_indexed + c->n_pend, c->n_tomb, c->n_pend};
    return st;
}

static int fx_has(void *ctx, int64_t id)
{
    int64_t st;
    return rg_vec_idmap_get(&((fx *)ctx)->ids, id, &st) && st != ST_TOMB;
}

static void fx_list_ids(void *ctx, int64_t *out)
{
    fx *c = ctx;
    size_t n = 0;
    for (size_t i = 0; i < c->ids.cap; i++)
        if (c->ids.used[i] && c->ids.vals[i] != ST_TOMB) /* indexed or buffered */
            out[n++] = c->ids.keys[i];
}

static rg_status fx_set_ef(void *ctx, int ef, rg_error *err)
{
    fx *c = ctx;
    rg_status rc = fx_apply(c, c->index, "efSearch", ef, err);
    if (rc == RG_OK) c->ef_search = ef;
    return rc;
}

/* ---- body I/O ----
 * u64 n_indexed, n_tomb, n_pend; int64 indexed ids; int64 tombstoned ids;
 * int64 buffered ids; buffered vectors (n_pend·dim floats); FAISS's own
 * serialisation of the index to the end of the body. */

static rg_status fx_write_ids(fx *c, FILE *f, int64_t state, rg_error *err)
{
    rg_status rc = RG_OK;
    for (size_t i = 0; i < c->ids.cap && rc == RG_OK; i++)
        if (c->ids.used[i] && c->ids.vals[i] == state)
            rc = rg_vec_write(f, &c->ids.keys[i], sizeof c->ids.keys[i], err);
    return rc;
}

static rg_status fx_save(void *ctx, FILE *f, rg_error *err)
{
    fx *c = ctx;
    uint64_t counts[3] = {c->n_indexed, c->n_tomb, c->n_pend};
    rg_status rc = rg_vec_write(f, counts, sizeof counts, err);
    if (rc == RG_OK) rc = fx_write_ids(c, f, ST_INDEXED, err);
    if (rc == RG_OK) rc = fx_write_ids(c, f, ST_TOMB, err);
    if (rc == RG_OK) rc = rg_vec_write(f, c->pend_ids, c->n_pend * sizeof *c->pend_ids, err);
    if (rc == RG_OK)
        rc = rg_vec_write(f, c->pend_x, c->n_pend * (size_t)c->dim * sizeof *c->pend_x, err);
    if (rc != RG_OK) return rc;
    errno = 0;
    int frc = faiss_write_index(c->index, f);
    if (!frc) return RG_OK;
    if (errno) /* a failed write: its cause is all the reader needs */
        return rg_fail(err, RG_EIO, "write failed: %s", strerror(errno));
    return rg_fail(err, RG_EIO, "FAISS write_index failed: %s",
                   faiss_get_last_error() ? faiss_get_last_error() : "unknown error");
}

static rg_status fx_read_ids(fx *c, FILE *f, uint64_t n, int64_t state, rg_error *err)
{
    for (uint64_t i = 0; i < n; i++) {
        int64_t id;
        rg_status rc = rg_vec_read(f, &id, sizeof id, err);
        if (rc != RG_OK) return rc;
        if (rg_vec_idmap_get(&c->ids, id, NULL))
            return rg_fail(err, RG_ECORRUPT, "vector file lists id %lld twice", (long long)id);
        rg_vec_idmap_put(&c->ids, id, state); /* reserved */
    }
    return RG_OK;
}

static rg_status fx_load(void *ctx, FILE *f, uint64_t body_len, rg_error *err)
{
    fx *c = ctx;
    off_t start = ftello(f);
    uint64_t k[3];
    rg_status rc = rg_vec_read(f, k, sizeof k, err);
    if (rc != RG_OK) return rc;
    uint64_t row = sizeof(int64_t) + (uint64_t)c->dim * sizeof(float);
    if (k[0] > RG_VEC_MAX_COUNT || k[1] > RG_VEC_MAX_COUNT || k[2] > RG_VEC_MAX_COUNT ||
        sizeof k + (k[0] + k[1]) * sizeof(int64_t) + k[2] * row > body_len)
        return rg_fail(err, RG_ECORRUPT, "vector file counts exceed its length");
    if (rg_vec_idmap_reserve(&c->ids, (size_t)(k[0] + k[1] + k[2])) != RG_OK)
        return rg_fail(err, RG_ENOMEM, "out of memory loading vectors");
    rc = fx_read_ids(c, f, k[0], ST_INDEXED, err);
    if (rc == RG_OK) rc = fx_read_ids(c, f, k[1], ST_TOMB, err);
    if (rc != RG_OK) return rc;
    if (k[2]) {
        c->pend_ids = rg_malloc((size_t)k[2] * sizeof *c->pend_ids);
        c->pend_x = rg_malloc((size_t)k[2] * (size_t)c->dim * sizeof *c->pend_x);
        if (!c->pend_ids || !c->pend_x)
            return rg_fail(err, RG_ENOMEM, "out of memory loading vectors");
        c->cap_pend = (size_t)k[2];
        rc = rg_vec_read(f, c->pend_ids, (size_t)k[2] * sizeof *c->pend_ids, err);
        if (rc == RG_OK)
            rc = rg_vec_read(f, c->pend_x, (size_t)k[2] * (size_t)c->dim * sizeof(float), err);
        for (size_t i = 0; i < k[2] && rc == RG_OK; i++) {
            if (rg_vec_idmap_get(&c->ids, c->pend_ids[i], NULL))
                rc = rg_fail(err, RG_ECORRUPT, "vector file lists id %lld twice",
                             (long long)c->pend_ids[i]);
            rg_vec_idmap_put(&c->ids, c->pend_ids[i], (int64_t)i);
        }
        if (rc != RG_OK) return rc;
    }
    FaissIndex *ix = NULL;
    int frc = faiss_read_index(f, 0, &ix);
    if (frc)
        return rg_fail(err, RG_ECORRUPT, "FAISS index data unreadable: %s",
                       faiss_get_last_error() ? faiss_get_last_error() : "unknown error");
    if (faiss_Index_d(ix) != c->dim || faiss_Index_metric_type(ix) != fx_metric(c->metric) ||
        (uint64_t)faiss_Index_ntotal(ix) != k[0] + k[1] || (k[2] && k[0] + k[1]) ||
        ftello(f) - start != (off_t)body_len) {
        faiss_Index_free(ix);
        return rg_fail(err, RG_ECORRUPT, "FAISS index data disagrees with the ragd header");
    }
    faiss_Index_free(c->index);
    c->index = ix;
    c->n_indexed = (size_t)k[0];
    c->n_tomb = (size_t)k[1];
    c->n_pend = (size_t)k[2];
    /* A buffer next to a trained index means a flush failed: retry it. */
    c->train_min = faiss_Index_is_trained(ix) && !k[2] ? 0 : fx_train_min(c->factory);
    fx_apply_settings(c, c->index);
    return RG_OK;
}

static rg_status fx_reconstruct(void *ctx, int64_t id, float *out, rg_error *err)
{
    fx *c = ctx;
    int64_t slot;
    if (!rg_vec_idmap_get(&c->ids, id, &slot) || slot == ST_TOMB)
        return rg_fail(err, RG_ENOTFOUND, "no vector with id %lld", (long long)id);
    if (slot >= 0) { /* still in the training buffer */
        memcpy(out, c->pend_x + (size_t)slot * (size_t)c->dim, (size_t)c->dim * sizeof *out);
        return RG_OK;
    }
    if (!c->can_reconstruct)
        return rg_fail(err, RG_EUNSUPPORTED, "index %s cannot give vectors back", c->factory);
    int frc = faiss_Index_reconstruct(c->index, id, out);
    return frc ? fx_fail(err, frc, "reconstruct") : RG_OK;
}

const rg_vectors_methods rg_vectors_faiss = {
    .reconstruct = fx_reconstruct,
    .version = RG_VECTORS_METHODS_VERSION,
    .name = "faiss",
    .file_tag = 1,
    .create = fx_create,
    .destroy = fx_destroy,
    .add = fx_add,
    .remove = fx_remove,
    .compact = fx_compact,
    .search = fx_search,
    .stats = fx_stats,
    .has = fx_has,
    .list_ids = fx_list_ids,
    .set_ef_search = fx_set_ef,
    .save = fx_save,
    .load = fx_load,
};
