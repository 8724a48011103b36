#include "index/dense.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/base/buf.h"
#include "engine/base/log.h"
#include "engine/base/mem.h"

/* Longest embed text of one chunk (title + chunk): the encoder truncates anyway. */
#define DENSE_TEXT_MAX (256u << 10)
#define DENSE_PREFIX_MAX 64

/* How far an index is known to follow the store, so that a refresh reads
 * only what changed since: every chunk up to max_chunk has its vector
 * (chunk ids only grow, so later chunks are the ones above it) and every
 * deletion up to the log's position del_pos is applied (store.h). */
typedef struct follow_state {
    int valid;
    int64_t max_chunk;
    int64_t del_pos;
} follow_state;

typedef struct coll_index {
    int64_t id;
    rg_vectors *v;
    int dirty;
    int partial; /* an update failed half-way: the file must not claim to be current */
    follow_state follow;
} coll_index;

typedef struct cache_entry {
    char *query; /* owned; NULL when the slot is free */
    float *vec;  /* dim floats, owned */
    uint64_t used;
} cache_entry;

struct rg_dense {
    rg_store *store;
    rg_encoder *enc;
    rg_encoder *qenc;
    char dir[PATH_MAX]; /* <data>/vectors */
    char model[RG_DENSE_MODEL_MAX + 1];
    char factory[RG_VEC_FACTORY_MAX + 1];
    char query_prefix[DENSE_PREFIX_MAX];
    char passage_prefix[DENSE_PREFIX_MAX];
    int ef_search;
    int dim;
    coll_index *colls;
    size_t n_colls, cap_colls;
    cache_entry cache[RG_DENSE_QUERY_CACHE];
    uint64_t tick;
    rg_dense_progress_fn progress;
    void *progress_ctx;
    /* embedding scratch, sized for RG_DENSE_EMBED_BATCH chunks */
    rg_buf texts[RG_DENSE_EMBED_BATCH];
    float *vecs;
};

rg_status rg_dense_open(rg_store *s, const char *data_dir, const rg_dense_options *o,
                        rg_dense **out, rg_error *err)
{
    *out = NULL;
    if (!o || !o->encoder || !o->model_name || !o->model_name[0])
        return rg_fail(err, RG_EINVAL, "dense index needs an encoder and a model name");
    if (strlen(o->model_name) > RG_DENSE_MODEL_MAX)
        return rg_fail(err, RG_ELIMIT, "model name longer than %d bytes", RG_DENSE_MODEL_MAX);
    rg_dense *d = rg_calloc(1, sizeof *d);
    if (!d) return rg_fail(err, RG_ENOMEM, "out of memory opening the dense index");
    d->store = s;
    d->enc = o->encoder;
    d->qenc = o->query_encoder ? o->query_encoder : o->encoder;
    if (rg_encoder_dim(d->qenc) != rg_encoder_dim(d->enc)) {
        rg_free(d);
        return rg_fail(err, RG_EINVAL, "query and passage encoders differ in dimension");
    }
    d->dim = rg_encoder_dim(o->encoder);
    d->ef_search = o->ef_search > 0 ? o->ef_search : 64;
    d->progress = o->progress;
    d->progress_ctx = o->progress_ctx;
    snprintf(d->model, sizeof d->model, "%s", o->model_name);
    snprintf(d->factory, sizeof d->factory, "%s", o->factory ? o->factory : "");
    snprintf(d->query_prefix, sizeof d->query_prefix, "%s", o->query_prefix ? o->query_prefix : "");
    snprintf(d->passage_prefix, sizeof d->passage_prefix, "%s",
             o->passage_prefix ? o->passage_prefix : "");
    for (int i = 0; i < RG_DENSE_EMBED_BATCH; i++) rg_buf_init(&d->texts[i], DENSE_TEXT_MAX);
    rg_status st = RG_OK;
    int n = snprintf(d->dir, sizeof d->dir, "%s/vectors", data_dir);
    if (n < 0 || (size_t)n >= sizeof d->dir) {
        st = rg_fail(err, RG_ELIMIT, "data directory path is too long");
        goto fail;
    }
    if (mkdir(d->dir, 0700) != 0 && errno != EEXIST) {
        st = rg_fail(err, RG_EIO, "cannot create %s: %s", d->dir, strerror(errno));
        goto fail;
    }
    d->vecs = rg_malloc((size_t)RG_DENSE_EMBED_BATCH * (size_t)d->dim * sizeof *d->vecs);
    if (!d->vecs) {
        st = rg_fail(err, RG_ENOMEM, "out of memory opening the dense index");
        goto fail;
    }
    *out = d;
    return RG_OK;
fail:
    rg_dense_close(d);
    return st;
}

void rg_dense_close(rg_dense *d)
{
    if (!d) return;
    for (size_t i = 0; i < d->n_colls; i++) rg_vectors_close(d->colls[i].v);
    rg_free(d->colls);
    for (int i = 0; i < RG_DENSE_QUERY_CACHE; i++) {
        rg_free(d->cache[i].query);
        rg_free(d->cache[i].vec);
    }
    for (int i = 0; i < RG_DENSE_EMBED_BATCH; i++) rg_buf_free(&d->texts[i]);
    rg_free(d->vecs);
    rg_free(d);
}

int rg_dense_dim(const rg_dense *d)
{
    return d->dim;
}

const char *rg_dense_model(const rg_dense *d)
{
    return d->model;
}

static coll_index *find(const rg_dense *d, int64_t coll)
{
    for (size_t i = 0; i < d->n_colls; i++)
        if (d->colls[i].id == coll) return &d->colls[i];
    return NULL;
}

static void file_path(const rg_dense *d, int64_t coll, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%lld.rgv", d->dir, (long long)coll);
}

/*
 * Chunks in the next encoder call when left remain: n chunks go in the
 * fewest calls of at most RG_DENSE_EMBED_BATCH, of equal size (to one), so
 * no call is left with a few chunks, too few to keep every thread busy.
 */
static size_t next_call(size_t left, size_t n)
{
    size_t calls = (n + RG_DENSE_EMBED_BATCH - 1) / RG_DENSE_EMBED_BATCH;
    size_t per = (n + calls - 1) / calls;
    return left < per ? left : per;
}

/* Embeds the chunks ids[0..n) and adds them to v. */
static rg_status embed_and_add(rg_dense *d, rg_vectors *v, const int64_t *ids, size_t n,
                               size_t *done, size_t total, rg_error *err)
{
    const char *texts[RG_DENSE_EMBED_BATCH];
    size_t lens[RG_DENSE_EMBED_BATCH];
    for (size_t at = 0, m; at < n; at += m) {
        m = next_call(n - at, n);
        for (size_t i = 0; i < m; i++) {
            rg_buf *b = &d->texts[i];
            rg_buf_reset(b);
            rg_status st = rg_buf_puts(b, d->passage_prefix);
            if (st) return rg_fail(err, st, "out of memory embedding chunks");
            if ((st = rg_store_chunk_embed_text(d->store, ids[at + i], b, err))) return st;
            texts[i] = rg_buf_str(b);
            lens[i] = b->len;
        }
        rg_status st = rg_encoder_embed_passages(d->enc, texts, lens, m, d->vecs, err);
        if (st) return st;
        if ((st = rg_vectors_add(v, m, d->vecs, ids + at, err))) return st;
        *done += m;
        if (d->progress) d->progress(d->progress_ctx, *done, total);
    }
    return RG_OK;
}

/* Elements of a[0..na) not in b[0..nb), both sorted ascending, into out. */
static size_t sorted_minus(const int64_t *a, size_t na, const int64_t *b, size_t nb, int64_t *out)
{
    size_t i = 0, j = 0, k = 0;
    while (i < na) {
        if (j < nb && b[j] < a[i]) {
            j++;
        } else if (j < nb && b[j] == a[i]) {
            i++, j++;
        } else {
            out[k++] = a[i++];
        }
    }
    return k;
}

/*
 * Brings v in line with the store's chunks of coll: removes vectors whose
 * chunks went and embeds chunks without vectors, unless there are more than
 * max_embed of those: then *over is set and nothing is embedded. *changed
 * says whether v changed. *f (optional) becomes valid when v then holds
 * exactly the chunks listed.
 */
static rg_status reconcile(rg_dense *d, int64_t coll, rg_vectors *v, size_t max_embed, int *over,
                           int *changed, follow_state *f, rg_error *err)
{
    int64_t *want = NULL, *have = NULL, *diff = NULL;
    size_t n_want = 0, n_have = 0;
    *over = 0;
    *changed = 0;
    if (f) f->valid = 0;
    /* the log's position before the listing: deletions after it are
     * applied again by the next refresh, which is harmless */
    int64_t pos = 0;
    rg_status st = rg_store_deletion_pos(d->store, &pos, err);
    if (!st) st = rg_store_chunk_ids(d->store, coll, 0, &want, &n_want, err);
    if (!st) st = rg_vectors_ids(v, &have, &n_have, err);
    if (st) goto out;
    diff = rg_malloc((n_want > n_have ? n_want : n_have) * sizeof *diff + 1);
    if (!diff) {
        st = rg_fail(err, RG_ENOMEM, "out of memory reconciling vectors");
        goto out;
    }
    size_t n_orphans = sorted_minus(have, n_have, want, n_want, diff);
    if (n_orphans && (st = rg_vectors_remove(v, n_orphans, diff, NULL, err))) goto out;
    *changed = n_orphans > 0;
    size_t n_missing = sorted_minus(want, n_want, have, n_have, diff);
    if (n_missing > max_embed) {
        *over = 1;
        goto out;
    }
    if (n_orphans || n_missing)
        rg_log(RG_LOG_INFO, "collection %lld: %zu vectors removed, %zu chunks to embed",
               (long long)coll, n_orphans, n_missing);
    size_t done = 0;
    st = embed_and_add(d, v, diff, n_missing, &done, n_missing, err);
    if (done) *changed = 1;
    if (!st && f) *f = (follow_state){1, n_want ? want[n_want - 1] : 0, pos};
out:
    rg_free(want);
    rg_free(have);
    rg_free(diff);
    return st;
}

static rg_status new_index(rg_dense *d, int64_t coll, rg_vectors **v, rg_error *err)
{
    rg_store_counts c;
    rg_status st = rg_store_counts_get(d->store, coll, &c, err);
    if (st) return st;
    rg_vectors_options o = rg_vectors_default_options();
    o.dim = d->dim;
    o.model = d->model;
    o.factory = d->factory[0] ? d->factory : NULL;
    o.expected_count = (size_t)c.chunks;
    o.ef_search = d->ef_search;
    return rg_vectors_open(&o, v, err);
}

/* Forgets collection i: its next attach loads it again. */
static void detach(rg_dense *d, size_t i)
{
    rg_vectors_close(d->colls[i].v);
    d->colls[i] = d->colls[--d->n_colls];
}

/*
 * Catches c up with the store from its follow state, reading only what
 * changed since: the deletion log and the chunks above max_chunk. Over
 * max_embed new chunks, *over is set and nothing is embedded. *whole is
 * set (and nothing done) when the state cannot say (none, or the log was
 * pruned past it): the caller compares whole id sets instead.
 */
static rg_status follow(rg_dense *d, coll_index *c, size_t max_embed, int *over, int *whole,
                        rg_error *err)
{
    *over = 0;
    *whole = 0;
    if (!c->follow.valid) return *whole = 1, RG_OK;
    int64_t pos = c->follow.del_pos, *gone = NULL, *added = NULL;
    size_t n_gone = 0, n_added = 0, n_new = 0;
    int complete;
    rg_status st = rg_store_deletions_since(d->store, &pos, &gone, &n_gone, &complete, err);
    if (!st && !complete) *whole = 1;
    if (st || !complete) goto out;
    /* ids of other collections and of chunks never embedded are ignored */
    if (n_gone && (st = rg_vectors_remove(c->v, n_gone, gone, NULL, err))) goto out;
    c->follow.del_pos = pos;
    if ((st =
             rg_store_chunk_ids_after(d->store, c->id, c->follow.max_chunk, &added, &n_added, err)))
        goto out;
    int64_t last = n_added ? added[n_added - 1] : c->follow.max_chunk; /* ascending */
    /* this handle's own updates are there already */
    for (size_t i = 0; i < n_added; i++)
        if (!rg_vectors_has(c->v, added[i])) added[n_new++] = added[i];
    if (n_new > max_embed) {
        *over = 1;
        goto out;
    }
    size_t done = 0;
    if (!(st = embed_and_add(d, c->v, added, n_new, &done, n_new, err))) c->follow.max_chunk = last;
out:
    if (st || *whole || *over) c->follow.valid = 0;
    rg_free(gone);
    rg_free(added);
    return st;
}

rg_status rg_dense_refresh(rg_dense *d, size_t max_embed, rg_error *err)
{
    if (!d) return rg_fail(err, RG_EINVAL, "no dense index to refresh");
    for (size_t i = d->n_colls; i-- > 0;) {
        coll_index *c = &d->colls[i];
        char bound[RG_DENSE_MODEL_MAX + 64];
        rg_status st = rg_store_collection_model(d->store, c->id, bound, sizeof bound, err);
        if (st == RG_ENOTFOUND) { /* the collection went */
            rg_error_clear(err);
            detach(d, i);
            continue;
        }
        if (st) return st;
        if (bound[0] && strcmp(bound, d->model) != 0) { /* reindexed: attach says so */
            detach(d, i);
            continue;
        }
        /* Not marked dirty: what changed here is another writer's change,
         * which that writer saves (if it did not, the next open repairs
         * the file). */
        int over, changed, whole;
        if (!(st = follow(d, c, max_embed, &over, &whole, err)) && whole)
            st = reconcile(d, c->id, c->v, max_embed, &over, &changed, &c->follow, err);
        if (st) return st;
        if (over) detach(d, i); /* many: the writer's saved file has them */
    }
    return RG_OK;
}

void rg_dense_mark_stale(rg_dense *d, int64_t coll)
{
    coll_index *c = find(d, coll);
    if (c) c->partial = 1;
}

rg_status rg_dense_attach(rg_dense *d, int64_t coll, rg_error *err)
{
    coll_index *c = find(d, coll);
    if (c && c->partial) { /* behind the store since a failed update: catch up */
        c->dirty = 1;
        int over, changed;
        rg_status st = reconcile(d, coll, c->v, SIZE_MAX, &over, &changed, &c->follow, err);
        if (!st) c->partial = 0;
        return st;
    }
    if (c) return RG_OK;
    char bound[RG_DENSE_MODEL_MAX + 64];
    rg_status st = rg_store_collection_model(d->store, coll, bound, sizeof bound, err);
    if (st) return st;
    if (bound[0] && strcmp(bound, d->model) != 0)
        return rg_fail(err, RG_EINVAL,
                       "this collection is embedded with model '%s', not '%s'; run "
                       "'ragd reindex --model %s' to switch",
                       bound, d->model, d->model);
    if (!bound[0] && (st = rg_store_collection_bind(d->store, coll, d->model, err))) return st;
    if (d->n_colls == d->cap_colls) {
        size_t cap = d->cap_colls ? d->cap_colls * 2 : 4;
        coll_index *p = rg_realloc(d->colls, cap * sizeof *p);
        if (!p) return rg_fail(err, RG_ENOMEM, "out of memory attaching a collection");
        d->colls = p;
        d->cap_colls = cap;
    }
    char path[PATH_MAX + 32];
    file_path(d, coll, path, sizeof path);
    rg_vectors_options expect = rg_vectors_default_options();
    expect.dim = d->dim;
    expect.model = d->model;
    expect.ef_search = d->ef_search;
    rg_vectors *v = NULL;
    rg_error lerr;
    st = rg_vectors_load(path, &expect, &v, &lerr);
    if (st == RG_ECORRUPT || st == RG_EINVAL) {
        /* The file is only a cache: rebuild it from the store. */
        rg_log(RG_LOG_WARN, "%s; rebuilding the vector index from the store",
               rg_error_message(&lerr));
    } else if (st && st != RG_ENOTFOUND) {
        return rg_fail(err, st, "%s", rg_error_message(&lerr));
    }
    int no_file = st != RG_OK;
    if (no_file && (st = new_index(d, coll, &v, err))) return st;
    int64_t seq;
    if ((st = rg_store_change_seq(d->store, &seq, err))) goto fail;
    /* A file stamped with another sequence is checked against the store's
     * chunk ids, and saved again only if that changed it: a change to
     * another collection moves the sequence without touching this one. */
    int over, changed = 0;
    follow_state f = {0}; /* a file trusted as it is: the first refresh compares ids */
    if (rg_vectors_change_seq(v) != (uint64_t)seq &&
        (st = reconcile(d, coll, v, SIZE_MAX, &over, &changed, &f, err)))
        goto fail;
    d->colls[d->n_colls++] = (coll_index){coll, v, no_file || changed, 0, f};
    return RG_OK;
fail:
    rg_vectors_close(v);
    return st;
}

rg_status rg_dense_update(rg_dense *d, int64_t coll, const int64_t *old_ids, size_t n_old,
                          const int64_t *new_ids, size_t n_new, rg_error *err)
{
    coll_index *c = find(d, coll);
    if (!c) return rg_fail(err, RG_EINTERNAL, "collection %lld is not attached", (long long)coll);
    c->dirty = 1;
    rg_status st = n_old ? rg_vectors_remove(c->v, n_old, old_ids, NULL, err) : RG_OK;
    size_t done = 0;
    if (!st) st = embed_and_add(d, c->v, new_ids, n_new, &done, n_new, err);
    if (st) c->partial = 1;
    return st;
}

rg_status rg_dense_embed_passages(rg_dense *d, const char *const *texts, const size_t *lens,
                                  size_t n, float *out, rg_error *err)
{
    const char *batch[RG_DENSE_EMBED_BATCH];
    size_t blens[RG_DENSE_EMBED_BATCH];
    for (size_t at = 0, m; at < n; at += m) {
        m = next_call(n - at, n);
        for (size_t i = 0; i < m; i++) {
            if (!d->passage_prefix[0]) { /* no copy needed */
                batch[i] = texts[at + i];
                blens[i] = lens[at + i];
                continue;
            }
            rg_buf *b = &d->texts[i];
            rg_buf_reset(b);
            if (rg_buf_puts(b, d->passage_prefix) || rg_buf_append(b, texts[at + i], lens[at + i]))
                return rg_fail(err, RG_ENOMEM, "out of memory embedding chunks");
            batch[i] = rg_buf_str(b);
            blens[i] = b->len;
        }
        rg_status st =
            rg_encoder_embed_passages(d->enc, batch, blens, m, out + at * (size_t)d->dim, err);
        if (st) return st;
    }
    return RG_OK;
}

rg_status rg_dense_replace(rg_dense *d, int64_t coll, const int64_t *old_ids, size_t n_old,
                           const int64_t *new_ids, size_t n_new, const float *vecs, rg_error *err)
{
    coll_index *c = find(d, coll);
    if (!c) return rg_fail(err, RG_EINTERNAL, "collection %lld is not attached", (long long)coll);
    c->dirty = 1;
    rg_status st = n_old ? rg_vectors_remove(c->v, n_old, old_ids, NULL, err) : RG_OK;
    if (!st && n_new) st = rg_vectors_add(c->v, n_new, vecs, new_ids, err);
    if (st) c->partial = 1;
    return st;
}

/*
 * A collection starts with exact search (its index is made when it is
 * empty); once it outgrows that, its vectors move to the index type chosen
 * for its size, unless the user named a factory.
 */
static rg_status maybe_upgrade(rg_dense *d, coll_index *c, rg_error *err)
{
    if (d->factory[0] || strcmp(rg_vectors_factory(c->v), "IDMap2,Flat") != 0) return RG_OK;
    char want[RG_VEC_FACTORY_MAX + 1];
    rg_vectors_default_factory(rg_vectors_count(c->v), d->dim, want);
    if (strcmp(want, "IDMap2,Flat") == 0) return RG_OK;
    rg_log(RG_LOG_INFO, "collection %lld: %zu vectors, moving to %s", (long long)c->id,
           rg_vectors_count(c->v), want);
    rg_status st = rg_vectors_convert(&c->v, want, err);
    if (st) return st;
    c->dirty = 1;
    return d->ef_search ? rg_vectors_set_ef_search(c->v, d->ef_search, err) : RG_OK;
}

rg_status rg_dense_save(rg_dense *d, rg_error *err)
{
    for (size_t i = 0; i < d->n_colls; i++) {
        coll_index *c = &d->colls[i];
        rg_status st = maybe_upgrade(d, c, err);
        if (st) return st;
        /* Only what this handle changed is written: a file whose collection
         * did not change keeps its older stamp, and the next open compares
         * its ids with the store's (cheap) instead of this save writing
         * every vector again because another collection changed. */
        if (!c->dirty) continue;
        /* The sequence before the chunk ids below: a change committed in
         * between leaves the stamp behind the store, so the next open
         * reconciles rather than trusts. */
        int64_t seq;
        if ((st = rg_store_change_seq(d->store, &seq, err))) return st;
        /* The file claims the store's sequence only when it holds exactly
         * the store's chunks: a change another connection committed that
         * this handle has not caught up with (rg_dense_refresh) would
         * otherwise stay missing from every later open. */
        int behind, changed;
        if ((st = reconcile(d, c->id, c->v, 0, &behind, &changed, &c->follow, err))) return st;
        if (behind) /* another writer raced this one: the next open repairs it */
            rg_log(RG_LOG_WARN, "collection %lld: vectors behind the store, saved as stale",
                   (long long)c->id);
        char path[PATH_MAX + 32];
        file_path(d, c->id, path, sizeof path);
        /* Sequence 0 never matches the store: the next attach reconciles. */
        uint64_t stamp = c->partial || behind ? 0 : (uint64_t)seq;
        if ((st = rg_vectors_save(c->v, path, stamp, err))) return st;
        c->dirty = 0;
    }
    return RG_OK;
}

int rg_dense_unsaved(const rg_dense *d)
{
    for (size_t i = 0; i < d->n_colls; i++)
        if (d->colls[i].dirty) return 1;
    return 0;
}

rg_status rg_dense_reset(rg_dense *d, int64_t coll, rg_error *err)
{
    for (size_t i = 0; i < d->n_colls; i++) {
        if (d->colls[i].id != coll) continue;
        rg_vectors_close(d->colls[i].v);
        d->colls[i] = d->colls[--d->n_colls];
        break;
    }
    char path[PATH_MAX + 32];
    file_path(d, coll, path, sizeof path);
    if (unlink(path) != 0 && errno != ENOENT)
        return rg_fail(err, RG_EIO, "cannot remove %s: %s", path, strerror(errno));
    return rg_store_collection_bind(d->store, coll, NULL, err);
}

int rg_dense_covers(const rg_dense *d, const char *text)
{
    return rg_encoder_covers(d->qenc, text, strlen(text));
}

rg_status rg_dense_embed_query(rg_dense *d, const char *query, float *out, rg_error *err)
{
    size_t qn = strlen(query);
    size_t dim = (size_t)d->dim;
    int cacheable = qn <= RG_DENSE_QUERY_CACHE_BYTES;
    cache_entry *slot = &d->cache[0];
    if (cacheable) {
        for (int i = 0; i < RG_DENSE_QUERY_CACHE; i++) {
            cache_entry *e = &d->cache[i];
            if (e->query && strcmp(e->query, query) == 0) {
                e->used = ++d->tick;
                memcpy(out, e->vec, dim * sizeof *out);
                return RG_OK;
            }
            if (!e->query || e->used < slot->used) slot = e;
        }
    }
    rg_buf text;
    rg_buf_init(&text, DENSE_PREFIX_MAX + qn);
    if (rg_buf_puts(&text, d->query_prefix) || rg_buf_append(&text, query, qn))
        return rg_fail(err, RG_ENOMEM, "out of memory embedding a query");
    const char *t = rg_buf_str(&text);
    rg_status st = rg_encoder_embed_query(d->qenc, t, text.len, out, err);
    rg_buf_free(&text);
    if (st || !cacheable) return st;
    if (!slot->vec && !(slot->vec = rg_malloc(dim * sizeof *slot->vec))) return RG_OK;
    char *q = rg_strndup(query, qn);
    if (!q) return RG_OK; /* the cache is an optimisation: no entry, no error */
    rg_free(slot->query);
    slot->query = q;
    slot->used = ++d->tick;
    memcpy(slot->vec, out, dim * sizeof *out);
    return RG_OK;
}

rg_status rg_dense_search(rg_dense *d, int64_t coll, const float *q, size_t k,
                          rg_vec_filter filter, void *filter_ctx, rg_vec_hit *hits,
                          size_t *n_hits, rg_error *err)
{
    *n_hits = 0;
    coll_index *c = find(d, coll);
    if (!c) return rg_fail(err, RG_EINTERNAL, "collection %lld is not attached", (long long)coll);
    if (rg_vectors_count(c->v) == 0) return RG_OK;
    return rg_vectors_search(c->v, q, k, filter, filter_ctx, hits, n_hits, err);
}

size_t rg_dense_count(const rg_dense *d, int64_t coll)
{
    coll_index *c = find(d, coll);
    return c ? rg_vectors_count(c->v) : 0;
}
