#include "index/search.h"

#include <math.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "engine/base/mem.h"
#include "index/lexical.h"

typedef struct coll_filter coll_filter;

/*
 * The second thread of rg_search_set_parallel: it runs a hybrid query's
 * lexical leg while the caller's thread embeds the query and walks the
 * vector index. One job at a time, handed over under mu.
 */
typedef struct leg_thread {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    enum { LEG_IDLE, LEG_RUN, LEG_DONE, LEG_QUIT } state;
    /* the job */
    const char *query;
    size_t depth;
    coll_filter *filter;
    /* its result */
    size_t n;
    rg_status st;
    rg_error err;
    double ms, top, ideal;
} leg_thread;

struct rg_search {
    rg_store *store;
    rg_dense *dense;      /* NULL: lexical only */
    rg_lexical *lex;
    int64_t seq;          /* store change sequence at open */
    int64_t del_pos;      /* the store's deletion log, read up to here */
    int exact_refresh;    /* rg_search_set_exact_refresh */
    int32_t *chunk_coll;  /* collection id by chunk id, 0 for none */
    int64_t max_chunk_id;
    size_t map_cap; /* entries the by-chunk-id maps hold (> max_chunk_id; those
                       past it zero), grown by half so that refreshing after
                       each upload costs no copy of the maps */
    rg_collection_info *colls;
    size_t n_colls;
    float *qvec;  /* query embedding, qvec_dim floats */
    int qvec_dim; /* dimension qvec was sized for */
    rg_ranked *lex_list, *dense_list, *merged;
    rg_vec_hit *vhits;
    rg_lex_hit *lhits;
    size_t list_cap;      /* entries in each list buffer */
    unsigned char *allowed; /* by chunk id: passes the query's filter */
    /* Access lists (rg_reader): documents that have one, in id order, and
     * their entries; chunk_acl maps a chunk to its document's index + 1
     * (0: the document has no list). NULL when no document has a list. */
    int32_t *chunk_acl;
    size_t n_acl_docs;
    size_t *acl_start;     /* entries of document i: acl_start[i] .. acl_start[i + 1] */
    char *acl_kind;        /* 'u' user, 'g' group, per entry */
    char **acl_name;       /* per entry */
    unsigned char *acl_ok; /* per document, for the current reader */
    leg_thread *leg;       /* NULL unless rg_search_set_parallel turned it on */
};

struct coll_filter {
    const rg_search *q;
    int64_t coll;     /* 0: any collection */
    int use_allowed;  /* the request has a document filter */
    int acl;          /* a reader is given and some document has an access list */
};

static int chunk_passes(void *ctx, int64_t chunk_id)
{
    const coll_filter *f = ctx;
    if (chunk_id < 0 || chunk_id > f->q->max_chunk_id) return 0;
    if (f->coll && f->q->chunk_coll[chunk_id] != f->coll) return 0;
    if (f->acl) {
        int32_t d = f->q->chunk_acl[chunk_id];
        if (d && !f->q->acl_ok[d - 1]) return 0;
    }
    return !f->use_allowed || f->q->allowed[chunk_id];
}

/* Loads the access lists and maps chunks of listed documents to them. */
static rg_status load_acls(rg_search *q, rg_error *err)
{
    sqlite3 *db = rg_store_db(q->store);
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT (SELECT count(DISTINCT document_id) FROM document_acl), "
                                "(SELECT count(*) FROM document_acl)",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rg_fail(err, RG_EDB, "loading access lists: %s", sqlite3_errmsg(db));
    size_t n_docs = 0, n_entries = 0;
    if (sqlite3_step(st) == SQLITE_ROW) {
        n_docs = (size_t)sqlite3_column_int64(st, 0);
        n_entries = (size_t)sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    if (!n_docs) return RG_OK;
    q->chunk_acl = rg_calloc(q->map_cap, sizeof *q->chunk_acl);
    q->acl_start = rg_calloc(n_docs + 1, sizeof *q->acl_start);
    q->acl_kind = rg_calloc(n_entries, 1);
    q->acl_name = rg_calloc(n_entries, sizeof *q->acl_name);
    q->acl_ok = rg_calloc(n_docs, 1);
    int64_t *doc_ids = rg_calloc(n_docs, sizeof *doc_ids);
    if (!q->chunk_acl || !q->acl_start || !q->acl_kind || !q->acl_name || !q->acl_ok || !doc_ids) {
        rg_free(doc_ids);
        return rg_fail(err, RG_ENOMEM, "out of memory loading access lists");
    }
    rc = sqlite3_prepare_v2(db,
                            "SELECT document_id, kind, principal FROM document_acl "
                            "ORDER BY document_id",
                            -1, &st, NULL);
    if (rc != SQLITE_OK) {
        rg_free(doc_ids);
        return rg_fail(err, RG_EDB, "loading access lists: %s", sqlite3_errmsg(db));
    }
    size_t d = 0, e = 0;
    rg_status r = RG_OK;
    while (!r && e < n_entries && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        if (!d || doc_ids[d - 1] != id) {
            if (d == n_docs) break; /* changed under us: the searcher is stale anyway */
            doc_ids[d] = id;
            q->acl_start[d++] = e;
        }
        const char *kind = (const char *)sqlite3_column_text(st, 1);
        const char *name = (const char *)sqlite3_column_text(st, 2);
        q->acl_kind[e] = kind && kind[0] == 'u' ? 'u' : 'g';
        if (!(q->acl_name[e++] = rg_strdup(name ? name : "")))
            r = rg_fail(err, RG_ENOMEM, "out of memory loading access lists");
    }
    sqlite3_finalize(st);
    q->n_acl_docs = d;
    q->acl_start[d] = e;
    if (!r) {
        rc = sqlite3_prepare_v2(db,
                                "SELECT c.id, c.document_id FROM chunks c WHERE c.document_id IN "
                                "(SELECT document_id FROM document_acl)",
                                -1, &st, NULL);
        if (rc != SQLITE_OK)
            r = rg_fail(err, RG_EDB, "loading access lists: %s", sqlite3_errmsg(db));
    }
    while (!r && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0), doc = sqlite3_column_int64(st, 1);
        size_t lo = 0, hi = d; /* binary search of doc in doc_ids[0..d) */
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (doc_ids[mid] < doc)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (id >= 0 && id <= q->max_chunk_id && lo < d && doc_ids[lo] == doc)
            q->chunk_acl[id] = (int32_t)(lo + 1);
    }
    if (!r) sqlite3_finalize(st);
    rg_free(doc_ids);
    return r;
}

/* Which listed documents the reader may read (into q->acl_ok). */
static void mark_readable(rg_search *q, const rg_reader *rd)
{
    for (size_t d = 0; d < q->n_acl_docs; d++) {
        int ok = 0;
        for (size_t e = q->acl_start[d]; !ok && e < q->acl_start[d + 1]; e++) {
            if (q->acl_kind[e] == 'u') {
                ok = rd->user && rd->user[0] && strcmp(rd->user, q->acl_name[e]) == 0;
            } else {
                for (size_t g = 0; !ok && g < rd->n_groups; g++)
                    ok = strcmp(rd->groups[g], q->acl_name[e]) == 0;
            }
        }
        q->acl_ok[d] = (unsigned char)ok;
    }
}

int rg_search_readable(rg_search *q, const rg_reader *rd, int64_t chunk_id)
{
    if (!rd || !q->chunk_acl || chunk_id < 0 || chunk_id > q->max_chunk_id) return 1;
    int32_t d = q->chunk_acl[chunk_id];
    if (!d) return 1;
    mark_readable(q, rd);
    return q->acl_ok[d - 1];
}

static int filter_empty(const rg_search_filter *f)
{
    return !f || (!f->doc_ids && !f->n_meta && !f->modified_from && !f->modified_to);
}

static int key_valid(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > RG_FILTER_KEY_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= 'A' && k[i] <= 'Z') ||
              (k[i] >= '0' && k[i] <= '9') || k[i] == '_' || k[i] == '.' || k[i] == '-'))
            return 0;
    return 1;
}

/*
 * Marks q->allowed for every chunk of a document that passes f. One SQL
 * statement with bound parameters; keys are checked against a strict
 * alphabet and quoted in the JSON path, so they cannot change its meaning.
 */
static rg_status mark_allowed(rg_search *q, const rg_search_filter *f, rg_error *err)
{
    if (f->n_doc_ids > RG_FILTER_MAX_DOCS || f->n_meta > RG_FILTER_MAX_META)
        return rg_fail(err, RG_ELIMIT, "at most %d document ids and %d metadata conditions",
                       RG_FILTER_MAX_DOCS, RG_FILTER_MAX_META);
    rg_buf sql;
    rg_buf_init(&sql, 4096);
    rg_status st = rg_buf_puts(&sql, "SELECT c.id FROM chunks c JOIN documents d ON d.id = "
                                     "c.document_id WHERE 1");
    if (!st && f->doc_ids)
        st = rg_buf_puts(&sql, " AND d.id IN (SELECT value FROM json_each(?1))");
    for (size_t i = 0; !st && i < f->n_meta; i++) {
        if (!key_valid(f->meta_keys[i])) {
            rg_buf_free(&sql);
            return rg_fail(err, RG_EINVAL, "metadata key '%.64s' is not valid", f->meta_keys[i]);
        }
        st = rg_buf_printf(&sql, " AND json_extract(d.metadata, '$.\"%s\"') = ?%zu",
                           f->meta_keys[i], i + 4);
    }
    const char *modified = "coalesce(json_extract(d.metadata, '$.modified'), d.updated_at)";
    if (!st && f->modified_from) st = rg_buf_printf(&sql, " AND %s >= ?2", modified);
    if (!st && f->modified_to) st = rg_buf_printf(&sql, " AND %s < ?3", modified);
    if (st) {
        rg_buf_free(&sql);
        return rg_fail(err, RG_ENOMEM, "out of memory building a filter");
    }
    sqlite3 *db = rg_store_db(q->store);
    sqlite3_stmt *stmt;
    int rc = sqlite3_prepare_v2(db, rg_buf_str(&sql), -1, &stmt, NULL);
    rg_buf_free(&sql);
    if (rc != SQLITE_OK) return rg_fail(err, RG_EDB, "filter: %s", sqlite3_errmsg(db));
    rg_buf ids;
    rg_buf_init(&ids, (size_t)RG_FILTER_MAX_DOCS * 24 + 2);
    st = rg_buf_putc(&ids, '[');
    for (size_t i = 0; !st && f->doc_ids && i < f->n_doc_ids; i++)
        st = rg_buf_printf(&ids, "%s%lld", i ? "," : "", (long long)f->doc_ids[i]);
    if (!st) st = rg_buf_putc(&ids, ']');
    if (st) {
        sqlite3_finalize(stmt);
        rg_buf_free(&ids);
        return rg_fail(err, RG_ENOMEM, "out of memory building a filter");
    }
    if (f->doc_ids) sqlite3_bind_text(stmt, 1, rg_buf_str(&ids), -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, f->modified_from);
    sqlite3_bind_int64(stmt, 3, f->modified_to);
    for (size_t i = 0; i < f->n_meta; i++)
        sqlite3_bind_text(stmt, (int)(i + 4), f->meta_values[i], -1, SQLITE_STATIC);
    memset(q->allowed, 0, (size_t)q->max_chunk_id + 1);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(stmt, 0);
        if (id >= 0 && id <= q->max_chunk_id) q->allowed[id] = 1;
    }
    sqlite3_finalize(stmt);
    rg_buf_free(&ids);
    return rc == SQLITE_DONE ? RG_OK : rg_fail(err, RG_EDB, "filter: %s", sqlite3_errmsg(db));
}

static double ms_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

int rg_search_mode_parse(const char *name, rg_search_mode *mode)
{
    static const char *const names[] = {"hybrid", "lexical", "dense"};
    for (int i = 0; i < 3; i++)
        if (strcmp(name, names[i]) == 0) {
            *mode = (rg_search_mode)i;
            return 1;
        }
    return 0;
}

const char *rg_search_mode_name(rg_search_mode mode)
{
    return mode == RG_SEARCH_LEXICAL ? "lexical" : mode == RG_SEARCH_DENSE ? "dense" : "hybrid";
}

rg_search_request rg_search_default_request(const char *query)
{
    rg_search_request r = {.query = query, .k = 10, .mode = RG_SEARCH_HYBRID,
                           .fusion = rg_fusion_default_options()};
    return r;
}

/* The largest chunk id in the store (0: none) into *id. */
static rg_status read_max_chunk_id(sqlite3 *db, int64_t *id, rg_error *err)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "SELECT coalesce(max(id), 0) FROM chunks", -1, &st, NULL);
    if (rc != SQLITE_OK) return rg_fail(err, RG_EDB, "loading chunks: %s", sqlite3_errmsg(db));
    *id = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return RG_OK;
}

/* One pass over chunks fills the chunk -> collection map used by filters. */
static rg_status load_collections(rg_search *q, rg_error *err)
{
    sqlite3 *db = rg_store_db(q->store);
    sqlite3_stmt *st;
    rg_status r = read_max_chunk_id(db, &q->max_chunk_id, err);
    if (r) return r;
    q->map_cap = (size_t)q->max_chunk_id + 1;
    q->chunk_coll = rg_calloc(q->map_cap, sizeof *q->chunk_coll);
    q->allowed = rg_calloc(q->map_cap, 1);
    if (!q->chunk_coll || !q->allowed) return rg_fail(err, RG_ENOMEM, "out of memory loading chunks");
    int rc = sqlite3_prepare_v2(db,
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
    return rg_store_collections(q->store, &q->colls, &q->n_colls, err);
}

/* Grows a by-chunk-id map of elem-byte entries from old_n to n entries,
 * zeroing the new ones; 0 out of memory (the map unchanged). */
static int grow_map(void *pp, size_t old_n, size_t n, size_t elem)
{
    unsigned char *m = rg_realloc(*(void **)pp, n * elem);
    if (!m) return 0;
    memset(m + old_n * elem, 0, (n - old_n) * elem);
    *(void **)pp = m;
    return 1;
}

/* Appends document doc's access list to the loaded ones; its index + 1
 * into *index. */
static rg_status append_acl(rg_search *q, sqlite3 *db, int64_t doc, int32_t *index, rg_error *err)
{
    size_t n_entries = q->acl_start ? q->acl_start[q->n_acl_docs] : 0, d = q->n_acl_docs;
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(
        db, "SELECT kind, principal FROM document_acl WHERE document_id = ?1", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rg_fail(err, RG_EDB, "loading access lists: %s", sqlite3_errmsg(db));
    sqlite3_bind_int64(st, 1, doc);
    rg_status r = RG_OK;
    size_t *start = rg_realloc(q->acl_start, (d + 2) * sizeof *start);
    if (start) q->acl_start = start;
    unsigned char *ok = start ? rg_realloc(q->acl_ok, d + 1) : NULL;
    if (ok) q->acl_ok = ok;
    if (!start || !ok) r = rg_fail(err, RG_ENOMEM, "out of memory loading access lists");
    if (!r) q->acl_start[d] = n_entries;
    while (!r && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        char *kind = rg_realloc(q->acl_kind, n_entries + 1);
        if (kind) q->acl_kind = kind;
        char **name = kind ? rg_realloc(q->acl_name, (n_entries + 1) * sizeof *name) : NULL;
        if (name) q->acl_name = name;
        const char *k = (const char *)sqlite3_column_text(st, 0);
        const char *p = (const char *)sqlite3_column_text(st, 1);
        if (!kind || !name || !(q->acl_name[n_entries] = rg_strdup(p ? p : ""))) {
            r = rg_fail(err, RG_ENOMEM, "out of memory loading access lists");
            break;
        }
        q->acl_kind[n_entries++] = k && k[0] == 'u' ? 'u' : 'g';
        q->acl_start[d + 1] = n_entries; /* kept whole after each entry: free_maps reads it */
    }
    if (!r && rc != SQLITE_DONE)
        r = rg_fail(err, RG_EDB, "loading access lists: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    if (r) return r;
    q->acl_start[d + 1] = n_entries;
    q->n_acl_docs = d + 1;
    *index = (int32_t)(d + 1);
    return RG_OK;
}

/*
 * The maps brought up to date with the chunks added since they were loaded
 * (ids above max_chunk_id; chunk ids only grow): their collections, and
 * the access lists of their documents, appended. A document's collection
 * and access list never change in place (the store replaces a document by
 * deleting it and inserting it again, with new chunk ids), so the maps of
 * older chunks stay right; those of deleted chunks are never looked at,
 * since neither leg returns such a chunk.
 */
static rg_status load_new_chunks(rg_search *q, rg_error *err)
{
    sqlite3 *db = rg_store_db(q->store);
    sqlite3_stmt *st;
    int64_t max_id = 0;
    rg_status r = read_max_chunk_id(db, &max_id, err);
    if (r) return r;
    rg_free(q->colls);
    q->colls = NULL, q->n_colls = 0;
    if ((r = rg_store_collections(q->store, &q->colls, &q->n_colls, err)) ||
        max_id <= q->max_chunk_id)
        return r;
    size_t n = (size_t)max_id + 1;
    if (n > q->map_cap) {
        size_t cap = q->map_cap + q->map_cap / 2 > n ? q->map_cap + q->map_cap / 2 : n;
        if (!grow_map(&q->chunk_coll, q->map_cap, cap, sizeof *q->chunk_coll) ||
            !grow_map(&q->allowed, q->map_cap, cap, 1) ||
            (q->chunk_acl && !grow_map(&q->chunk_acl, q->map_cap, cap, sizeof *q->chunk_acl)))
            return rg_fail(err, RG_ENOMEM, "out of memory loading chunks");
        q->map_cap = cap;
    }
    int64_t after = q->max_chunk_id;
    q->max_chunk_id = max_id; /* the maps cover it now, zeroed */
    int rc = sqlite3_prepare_v2(db,
                                "SELECT c.id, d.collection_id, d.id, EXISTS (SELECT 1 FROM "
                                "document_acl a WHERE a.document_id = d.id) FROM chunks c JOIN "
                                "documents d ON d.id = c.document_id WHERE c.id > ?1 AND c.id <= "
                                "?2 ORDER BY c.id",
                                -1, &st, NULL);
    if (rc != SQLITE_OK) return rg_fail(err, RG_EDB, "loading chunks: %s", sqlite3_errmsg(db));
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int64(st, 2, max_id);
    int64_t acl_doc = 0;
    int32_t acl_index = 0;
    while (!r && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0), doc = sqlite3_column_int64(st, 2);
        q->chunk_coll[id] = (int32_t)sqlite3_column_int64(st, 1);
        if (!sqlite3_column_int(st, 3)) continue;
        if (!q->chunk_acl && !grow_map(&q->chunk_acl, 0, q->map_cap, sizeof *q->chunk_acl)) {
            r = rg_fail(err, RG_ENOMEM, "out of memory loading access lists");
            break;
        }
        /* a document's chunks are inserted together: their ids run on */
        if (doc != acl_doc && (r = append_acl(q, db, doc, &acl_index, err))) break;
        acl_doc = doc;
        q->chunk_acl[id] = acl_index;
    }
    if (!r && rc != SQLITE_DONE) r = rg_fail(err, RG_EDB, "loading chunks: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return r;
}

/* A read transaction around loading, so that the sequence, the deletion
 * log and the rows read are one state of the store (none when the
 * connection is inside a transaction already: *own = 0). */
static rg_status read_begin(sqlite3 *db, int *own, rg_error *err)
{
    *own = sqlite3_get_autocommit(db);
    if (*own && sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return rg_fail(err, RG_EDB, "starting a read: %s", sqlite3_errmsg(db));
    return RG_OK;
}

static void read_end(sqlite3 *db, int own)
{
    if (own) sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
}

/* Grows the per-query lists to hold n entries each (allocated once, reused). */
static rg_status lists_reserve(rg_search *q, size_t n, rg_error *err)
{
    if (n <= q->list_cap) return RG_OK;
    rg_free(q->lex_list), rg_free(q->dense_list), rg_free(q->merged), rg_free(q->vhits);
    rg_free(q->lhits);
    q->lhits = rg_malloc(n * sizeof *q->lhits);
    q->lex_list = rg_malloc(n * sizeof *q->lex_list);
    q->dense_list = rg_malloc(n * sizeof *q->dense_list);
    q->merged = rg_malloc(n * sizeof *q->merged);
    q->vhits = rg_malloc(n * sizeof *q->vhits);
    if (!q->lex_list || !q->dense_list || !q->merged || !q->vhits || !q->lhits) {
        q->list_cap = 0;
        return rg_fail(err, RG_ENOMEM, "out of memory searching");
    }
    q->list_cap = n;
    return RG_OK;
}

rg_status rg_search_open(rg_store *s, rg_dense *dense, rg_search **out, rg_error *err)
{
    *out = NULL;
    rg_search *q = rg_calloc(1, sizeof *q);
    if (!q) return rg_fail(err, RG_ENOMEM, "out of memory opening search");
    q->store = s;
    q->dense = dense;
    rg_status st;
    int own = 0;
    if ((st = read_begin(rg_store_db(s), &own, err))) goto fail;
    /* the sequence and the deletion log's position first: even outside a
     * transaction, a change racing with the load then shows as stale */
    if ((st = rg_store_change_seq(s, &q->seq, err)) ||
        (st = rg_store_deletion_pos(s, &q->del_pos, err)))
        goto fail_read;
    rg_lexical_options lo = rg_lexical_default_options();
    lo.tokenize = rg_store_tokenize_spec(s);
    if ((st = rg_lexical_open(rg_store_db(s), &lo, &q->lex, err))) goto fail_read;
    if ((st = load_collections(q, err))) goto fail_read;
    if ((st = load_acls(q, err))) goto fail_read;
    read_end(rg_store_db(s), own);
    if ((st = lists_reserve(q, RG_SEARCH_LEG_DEPTH * 2, err))) goto fail;
    if (dense && !(q->qvec = rg_malloc((size_t)rg_dense_dim(dense) * sizeof *q->qvec))) {
        st = rg_fail(err, RG_ENOMEM, "out of memory opening search");
        goto fail;
    }
    q->qvec_dim = dense ? rg_dense_dim(dense) : 0;
    *out = q;
    return RG_OK;
fail_read:
    read_end(rg_store_db(s), own);
fail:
    rg_search_close(q);
    return st;
}

static void leg_stop(rg_search *q);

/* Frees what load_collections and load_acls filled. */
static void free_maps(rg_search *q)
{
    rg_free(q->chunk_coll);
    rg_free(q->allowed);
    rg_free(q->chunk_acl);
    for (size_t i = 0; q->acl_name && q->acl_start && i < q->acl_start[q->n_acl_docs]; i++)
        rg_free(q->acl_name[i]);
    rg_free(q->acl_name);
    rg_free(q->acl_kind);
    rg_free(q->acl_start);
    rg_free(q->acl_ok);
    rg_free(q->colls);
    q->chunk_coll = NULL, q->allowed = NULL, q->chunk_acl = NULL, q->acl_name = NULL;
    q->acl_kind = NULL, q->acl_start = NULL, q->acl_ok = NULL, q->colls = NULL;
    q->n_acl_docs = 0, q->n_colls = 0, q->max_chunk_id = 0, q->map_cap = 0;
}

void rg_search_close(rg_search *q)
{
    if (!q) return;
    leg_stop(q);
    rg_lexical_close(q->lex);
    free_maps(q);
    rg_free(q->qvec);
    rg_free(q->lex_list), rg_free(q->dense_list), rg_free(q->merged), rg_free(q->vhits);
    rg_free(q->lhits);
    rg_free(q);
}

rg_status rg_search_refresh(rg_search *q, rg_dense *dense, rg_error *err)
{
    if (!q) return rg_fail(err, RG_EINVAL, "no searcher to refresh");
    int64_t seq, pos = q->del_pos, *gone = NULL;
    size_t n_gone = 0;
    int complete = 0, merged = 0, own = 0;
    sqlite3 *db = rg_store_db(q->store);
    rg_status st = read_begin(db, &own, err);
    if (st) return st;
    /* the sequence first: a change racing with the reload shows as stale */
    if ((st = rg_store_change_seq(q->store, &seq, err)) ||
        (st = rg_store_deletions_since(q->store, &pos, &gone, &n_gone, &complete, err)))
        goto out;
    /* the deletions and new rows only, unless the log lost entries we need */
    if (complete)
        st = rg_lexical_update(q->lex, db, gone, n_gone, q->exact_refresh, &merged, err);
    else if (!(st = rg_store_deletion_pos(q->store, &pos, err)))
        st = rg_lexical_refresh(q->lex, db, NULL, err);
    if (st) goto out;
    /* the maps follow the new chunks, and are read whole again when the
     * lexical index merged by itself (so entries of deleted documents do
     * not pile up) */
    if (complete && (!merged || q->exact_refresh)) {
        st = load_new_chunks(q, err);
    } else {
        free_maps(q);
        if (!(st = load_collections(q, err))) st = load_acls(q, err);
    }
out:
    read_end(db, own);
    rg_free(gone);
    if (st) return st;
    q->del_pos = pos;
    /* the dense index given before may be closed already: not looked at */
    if (dense && rg_dense_dim(dense) != q->qvec_dim) {
        rg_free(q->qvec);
        q->qvec_dim = 0;
        if (!(q->qvec = rg_malloc((size_t)rg_dense_dim(dense) * sizeof *q->qvec)))
            return rg_fail(err, RG_ENOMEM, "out of memory refreshing search");
        q->qvec_dim = rg_dense_dim(dense);
    }
    q->dense = dense;
    q->seq = seq;
    return RG_OK;
}

void rg_search_set_exact_refresh(rg_search *q, int exact)
{
    if (q) q->exact_refresh = exact != 0;
}

int rg_search_stale(rg_search *q)
{
    int64_t seq;
    rg_error e;
    if (rg_store_change_seq(q->store, &seq, &e)) return 1;
    return seq != q->seq;
}

static rg_status lexical_leg(rg_search *q, const char *query, size_t k, coll_filter *f,
                             rg_ranked *out, size_t *n, rg_error *err)
{
    rg_lex_hit *lh = q->lhits;
    int any = f->coll || f->use_allowed || f->acl;
    rg_status st = rg_lexical_search(q->lex, query, k, any ? chunk_passes : NULL, f, lh, n, err);
    for (size_t i = 0; !st && i < *n; i++) out[i] = (rg_ranked){lh[i].chunk_id, lh[i].score};
    return st;
}

/* The lexical leg with its signals, timed; what both threads run. */
static rg_status lexical_leg_timed(rg_search *q, const char *query, size_t depth, coll_filter *f,
                                   size_t *n, double *ms, double *top, double *ideal, rg_error *err)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rg_status st = lexical_leg(q, query, depth, f, q->lex_list, n, err);
    if (st) return st;
    *top = *n ? q->lex_list[0].score : NAN;
    *ideal = rg_lexical_ideal(q->lex, query);
    *ms = ms_since(&t0);
    return RG_OK;
}

static void *leg_main(void *arg)
{
    rg_search *q = arg;
    leg_thread *t = q->leg;
    pthread_mutex_lock(&t->mu);
    for (;;) {
        while (t->state != LEG_RUN && t->state != LEG_QUIT)
            pthread_cond_wait(&t->cv, &t->mu);
        if (t->state == LEG_QUIT) break;
        pthread_mutex_unlock(&t->mu);
        rg_error_clear(&t->err);
        t->st = lexical_leg_timed(q, t->query, t->depth, t->filter, &t->n, &t->ms, &t->top,
                                  &t->ideal, &t->err);
        pthread_mutex_lock(&t->mu);
        t->state = LEG_DONE;
        pthread_cond_broadcast(&t->cv);
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

static void leg_stop(rg_search *q)
{
    leg_thread *t = q->leg;
    if (!t) return;
    pthread_mutex_lock(&t->mu);
    t->state = LEG_QUIT;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    pthread_join(t->thread, NULL);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    rg_free(t);
    q->leg = NULL;
}

rg_status rg_search_set_parallel(rg_search *q, int on, rg_error *err)
{
    if (!on) {
        leg_stop(q);
        return RG_OK;
    }
    if (q->leg) return RG_OK;
    leg_thread *t = rg_calloc(1, sizeof *t);
    if (!t) return rg_fail(err, RG_ENOMEM, "out of memory starting the search thread");
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    t->state = LEG_IDLE;
    q->leg = t;
    int rc = pthread_create(&t->thread, NULL, leg_main, q);
    if (rc) {
        pthread_cond_destroy(&t->cv);
        pthread_mutex_destroy(&t->mu);
        rg_free(t);
        q->leg = NULL;
        return rg_fail(err, RG_ENOMEM, "cannot start the search thread: %s", strerror(rc));
    }
    return RG_OK;
}

/* Dense hits of one collection, or of every collection merged by score. */
static rg_status dense_leg(rg_search *q, size_t k, coll_filter *f, rg_ranked *out, size_t *n,
                           rg_error *err)
{
    *n = 0;
    for (size_t c = 0; c < q->n_colls; c++) {
        if (f->coll && q->colls[c].id != f->coll) continue;
        rg_status st = rg_dense_attach(q->dense, q->colls[c].id, err);
        if (st) return st;
        size_t m = 0;
        if ((st = rg_dense_search(q->dense, q->colls[c].id, q->qvec, k,
                                  f->use_allowed || f->acl ? chunk_passes : NULL, f, q->vhits, &m,
                                  err)))
            return st;
        /* Insert into the best-first list of at most k entries. */
        for (size_t i = 0; i < m; i++) {
            size_t at = *n;
            while (at > 0 && out[at - 1].score < q->vhits[i].score) at--;
            if (at >= k) break;
            size_t last = *n < k ? *n : k - 1;
            memmove(out + at + 1, out + at, (last - at) * sizeof *out);
            out[at] = (rg_ranked){q->vhits[i].id, q->vhits[i].score};
            if (*n < k) (*n)++;
        }
    }
    return RG_OK;
}

rg_status rg_search_run(rg_search *q, const rg_search_request *req, rg_search_hit *hits,
                        size_t *n_hits, rg_search_stats *timings, rg_error *err)
{
    rg_search_stats tm = {.dense_top = NAN, .lexical_top = NAN, .lexical_ideal = NAN};
    tm.lexical_chunks = q->lex ? rg_lexical_size(q->lex) : 0;
    *n_hits = 0;
    if (!req->query || !req->query[0]) return rg_fail(err, RG_EINVAL, "empty query");
    if (req->k == 0 || req->k > RG_SEARCH_MAX_K)
        return rg_fail(err, RG_EINVAL, "k must be between 1 and %d", RG_SEARCH_MAX_K);
    if (req->mode != RG_SEARCH_LEXICAL && !q->dense)
        return rg_fail(err, RG_EINVAL,
                       "%s search needs an embedding model (import one with 'ragd model import')",
                       rg_search_mode_name(req->mode));
    coll_filter filt = {q, 0, !filter_empty(req->filter), req->reader && q->chunk_acl};
    rg_status st;
    if (req->reader && req->reader->n_groups > RG_READER_GROUPS_MAX)
        return rg_fail(err, RG_ELIMIT, "a reader has at most %d groups", RG_READER_GROUPS_MAX);
    if (filt.acl) mark_readable(q, req->reader);
    if (req->collection &&
        (st = rg_store_collection(q->store, req->collection, 0, &filt.coll, err)))
        return st;
    if (filt.use_allowed && (st = mark_allowed(q, req->filter, err))) return st;
    size_t depth = req->mode == RG_SEARCH_HYBRID
                       ? (req->depth ? req->depth : RG_SEARCH_LEG_DEPTH)
                       : req->k;
    if (depth < req->k) depth = req->k;
    if (depth > RG_FUSION_MAX_LIST) depth = RG_FUSION_MAX_LIST;
    if ((st = lists_reserve(q, depth, err))) return st;
    size_t n_lex = 0, n_dense = 0;
    struct timespec t0;
    rg_search_mode mode = req->mode;
    if (mode == RG_SEARCH_HYBRID && !rg_dense_covers(q->dense, req->query)) {
        mode = RG_SEARCH_LEXICAL;
        tm.dense_skipped = 1;
    }
    /* Both legs of a hybrid query at once when a second thread is on. */
    leg_thread *lt = mode == RG_SEARCH_HYBRID ? q->leg : NULL;
    if (lt) {
        pthread_mutex_lock(&lt->mu);
        lt->query = req->query;
        lt->depth = depth;
        lt->filter = &filt;
        lt->state = LEG_RUN;
        pthread_cond_broadcast(&lt->cv);
        pthread_mutex_unlock(&lt->mu);
    } else if (req->mode != RG_SEARCH_DENSE) {
        if ((st = lexical_leg_timed(q, req->query, depth, &filt, &n_lex, &tm.lexical_ms,
                                    &tm.lexical_top, &tm.lexical_ideal, err)))
            return st;
    }
    if (mode != RG_SEARCH_LEXICAL) {
        clock_gettime(CLOCK_MONOTONIC, &t0);
        st = rg_dense_embed_query(q->dense, req->query, q->qvec, err);
        tm.embed_ms = ms_since(&t0);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (!st) st = dense_leg(q, depth, &filt, q->dense_list, &n_dense, err);
        if (!st && n_dense) tm.dense_top = q->dense_list[0].score;
        tm.dense_ms = ms_since(&t0);
    }
    if (lt) { /* always wait: the thread uses filt and the lists */
        pthread_mutex_lock(&lt->mu);
        while (lt->state != LEG_DONE)
            pthread_cond_wait(&lt->cv, &lt->mu);
        lt->state = LEG_IDLE;
        pthread_mutex_unlock(&lt->mu);
        if (!st && lt->st) st = rg_fail(err, lt->st, "%s", lt->err.msg);
        n_lex = lt->n;
        tm.lexical_ms = lt->ms;
        tm.lexical_top = lt->top;
        tm.lexical_ideal = lt->ideal;
    }
    if (st) return st;
    const rg_ranked *final = req->mode == RG_SEARCH_DENSE ? q->dense_list : q->lex_list;
    size_t n = req->mode == RG_SEARCH_DENSE ? n_dense : n_lex;
    if (mode == RG_SEARCH_HYBRID) {
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if ((st = rg_fuse(&req->fusion, q->lex_list, n_lex, q->dense_list, n_dense, req->k,
                          q->merged, &n, err)))
            return st;
        final = q->merged;
        tm.fuse_ms = ms_since(&t0);
    }
    if (n > req->k) n = req->k;
    for (size_t i = 0; i < n; i++) hits[i] = (rg_search_hit){final[i].id, final[i].score};
    *n_hits = n;
    if (timings) *timings = tm;
    return RG_OK;
}

rg_status rg_search_snippet(rg_search *q, const char *query, const char *text, size_t len,
                            size_t max_tokens, const char *open, const char *close, rg_buf *out,
                            rg_error *err)
{
    return rg_lexical_snippet(q->lex, query, text, len, max_tokens, open, close, out, err);
}
