/*
 * store_read.c — reading documents and chunks back from the store: counts,
 * document lists and rows (with the reader's access rules applied), chunk
 * views, chunk ids and the text each chunk is embedded from.
 */
#include "index/store_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/base/buf.h"
#include "engine/base/mem.h"

rg_status rg_store_counts_get(rg_store *s, int64_t collection_id, rg_store_counts *out,
                              rg_error *err)
{
    static const char *const all =
        "SELECT (SELECT count(*) FROM collections), (SELECT count(*) FROM documents), "
        "(SELECT count(*) FROM chunks)";
    static const char *const one =
        "SELECT 1, (SELECT count(*) FROM documents WHERE collection_id = ?1), "
        "(SELECT count(*) FROM chunks c JOIN documents d ON d.id = c.document_id "
        "WHERE d.collection_id = ?1)";
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db, collection_id ? one : all, -1, &st, NULL);
    if (rc != SQLITE_OK) return rg_st_fail(s, err, rc, "counting documents");
    if (collection_id) sqlite3_bind_int64(st, 1, collection_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->collections = sqlite3_column_int64(st, 0);
        out->documents = sqlite3_column_int64(st, 1);
        out->chunks = sqlite3_column_int64(st, 2);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? RG_OK : rg_st_fail(s, err, rc, "counting documents");
}

static char *column_dup(sqlite3_stmt *st, int col, size_t *len)
{
    const char *t = (const char *)sqlite3_column_text(st, col);
    size_t n = (size_t)sqlite3_column_bytes(st, col);
    if (len) *len = n;
    return rg_strndup(t ? t : "", t ? n : 0);
}

/* True for a document d the reader in ?8 (user) and ?9 (groups) may read; ?7 = 0 skips it. */
#define READABLE_SQL                                                                               \
    "(?7 = 0 OR NOT EXISTS (SELECT 1 FROM document_acl a WHERE a.document_id = d.id) OR "          \
    "EXISTS (SELECT 1 FROM document_acl a WHERE a.document_id = d.id AND "                         \
    "((a.kind = 'user' AND ?8 <> '' AND a.principal = ?8) OR "                                     \
    "(a.kind = 'group' AND a.principal IN (SELECT value FROM json_each(?9))))))"

static void bind_reader(sqlite3_stmt *st, const rg_store_reader *rd)
{
    sqlite3_bind_int(st, 7, rd != NULL);
    sqlite3_bind_text(st, 8, rd && rd->user ? rd->user : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, rd && rd->groups_json ? rd->groups_json : "[]", -1, SQLITE_STATIC);
}

rg_status rg_store_counts_readable(rg_store *s, int64_t collection_id, const rg_store_reader *rd,
                                   rg_store_counts *out, rg_error *err)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db,
                                "SELECT count(*), coalesce(sum((SELECT count(*) FROM chunks c "
                                "WHERE c.document_id = d.id)), 0) FROM documents d "
                                "WHERE d.collection_id = ?1 AND " READABLE_SQL,
                                -1, &st, NULL);
    if (rc != SQLITE_OK) return rg_st_fail(s, err, rc, "counting documents");
    sqlite3_bind_int64(st, 1, collection_id);
    bind_reader(st, rd);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->collections = 1;
        out->documents = sqlite3_column_int64(st, 0);
        out->chunks = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? RG_OK : rg_st_fail(s, err, rc, "counting documents");
}

void rg_doc_row_free(rg_doc_row *r)
{
    if (!r) return;
    rg_free(r->source_uri);
    rg_free(r->title);
    rg_free(r->media_type);
    rg_free(r->metadata);
    rg_free(r->text);
    rg_free(r->collection);
    memset(r, 0, sizeof *r);
}

void rg_doc_rows_free(rg_doc_row *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++)
        rg_doc_row_free(&rows[i]);
    rg_free(rows);
}

#define DOC_ROW_SQL                                                                                \
    "SELECT d.id, d.source_uri, d.title, d.media_type, d.metadata, d.size, d.updated_at, "         \
    "(SELECT count(*) FROM chunks c WHERE c.document_id = d.id), "                                 \
    "(SELECT name FROM collections k WHERE k.id = d.collection_id)"

static int read_doc_row(sqlite3_stmt *st, rg_doc_row *r, int with_text)
{
    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(st, 0);
    r->source_uri = column_dup(st, 1, NULL);
    r->title = column_dup(st, 2, NULL);
    r->media_type = column_dup(st, 3, NULL);
    r->metadata = column_dup(st, 4, NULL);
    r->size = sqlite3_column_int64(st, 5);
    r->updated_at = sqlite3_column_int64(st, 6);
    r->chunks = sqlite3_column_int64(st, 7);
    r->collection = column_dup(st, 8, NULL);
    if (with_text) r->text = column_dup(st, 9, NULL);
    if (!r->source_uri || !r->title || !r->media_type || !r->metadata || !r->collection ||
        (with_text && !r->text)) {
        rg_doc_row_free(r);
        return 0;
    }
    return 1;
}

rg_status rg_store_documents(rg_store *s, int64_t collection_id, const rg_store_reader *rd,
                             int64_t after_id, size_t limit, rg_doc_row **rows, size_t *n,
                             rg_error *err)
{
    *rows = NULL;
    *n = 0;
    if (limit == 0 || limit > RG_STORE_PAGE_MAX)
        return rg_fail(err, RG_EINVAL, "a page holds 1 to %d documents", RG_STORE_PAGE_MAX);
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db,
                                DOC_ROW_SQL " FROM documents d WHERE d.collection_id = ?1 AND "
                                            "d.id > ?2 AND " READABLE_SQL " ORDER BY d.id LIMIT ?3",
                                -1, &st, NULL);
    if (rc != SQLITE_OK) return rg_st_fail(s, err, rc, "listing documents");
    sqlite3_bind_int64(st, 1, collection_id);
    sqlite3_bind_int64(st, 2, after_id);
    sqlite3_bind_int64(st, 3, (int64_t)limit);
    bind_reader(st, rd);
    rg_doc_row *v = rg_calloc(limit, sizeof *v);
    if (!v) {
        sqlite3_finalize(st);
        return rg_fail(err, RG_ENOMEM, "out of memory listing documents");
    }
    size_t len = 0;
    while (len < limit && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (!read_doc_row(st, &v[len], 0)) {
            sqlite3_finalize(st);
            rg_doc_rows_free(v, len);
            return rg_fail(err, RG_ENOMEM, "out of memory listing documents");
        }
        len++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        rg_doc_rows_free(v, len);
        return rg_st_fail(s, err, rc, "listing documents");
    }
    *rows = v;
    *n = len;
    return RG_OK;
}

rg_status rg_store_document_get(rg_store *s, int64_t collection_id, int64_t doc_id,
                                const rg_store_reader *rd, rg_doc_row *out, rg_error *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db,
                                DOC_ROW_SQL ", d.text FROM documents d WHERE (?1 = 0 OR "
                                            "d.collection_id = ?1) AND d.id = ?2 AND " READABLE_SQL,
                                -1, &st, NULL);
    if (rc != SQLITE_OK) return rg_st_fail(s, err, rc, "reading a document");
    sqlite3_bind_int64(st, 1, collection_id);
    sqlite3_bind_int64(st, 2, doc_id);
    bind_reader(st, rd);
    rc = sqlite3_step(st);
    rg_status r = RG_OK;
    if (rc == SQLITE_ROW) {
        if (!read_doc_row(st, out, 1)) r = rg_fail(err, RG_ENOMEM, "out of memory");
    } else if (rc == SQLITE_DONE) {
        r = rg_fail(err, RG_ENOTFOUND, "no document %lld", (long long)doc_id);
    } else {
        r = rg_st_fail(s, err, rc, "reading a document");
    }
    sqlite3_finalize(st);
    return r;
}

rg_status rg_store_chunk_get(rg_store *s, int64_t chunk_id, rg_chunk_view *v, rg_error *err)
{
    memset(v, 0, sizeof *v);
    sqlite3_stmt *st = rg_st_use(s, ST_CHUNK_GET);
    sqlite3_bind_int64(st, 1, chunk_id);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        if (rc == SQLITE_DONE)
            return rg_fail(err, RG_ENOTFOUND, "no chunk with id %lld", (long long)chunk_id);
        return rg_st_fail(s, err, rc, "reading a chunk");
    }
    v->chunk_id = sqlite3_column_int64(st, 0);
    v->doc_id = sqlite3_column_int64(st, 1);
    v->collection_id = sqlite3_column_int64(st, 2);
    v->ordinal = sqlite3_column_int64(st, 3);
    v->byte_start = sqlite3_column_int64(st, 4);
    v->byte_end = sqlite3_column_int64(st, 5);
    v->text = column_dup(st, 6, &v->text_len);
    v->section = column_dup(st, 7, NULL);
    v->title = column_dup(st, 8, NULL);
    v->source_uri = column_dup(st, 9, NULL);
    v->collection = column_dup(st, 10, NULL);
    v->page = sqlite3_column_int64(st, 11);
    const char *breaks = (const char *)sqlite3_column_text(st, 12);
    for (const char *p = breaks; p && *p && v->n_page_breaks < RG_CHUNK_PAGE_BREAKS_MAX;) {
        char *end;
        long long off = strtoll(p, &end, 10);
        if (end == p) break;
        v->page_breaks[v->n_page_breaks++] = off;
        p = *end == ',' ? end + 1 : end;
    }
    sqlite3_reset(st);
    if (!v->text || !v->section || !v->title || !v->source_uri || !v->collection) {
        rg_chunk_view_free(v);
        return rg_fail(err, RG_ENOMEM, "out of memory reading a chunk");
    }
    return RG_OK;
}

void rg_chunk_view_free(rg_chunk_view *v)
{
    rg_free(v->text);
    rg_free(v->section);
    rg_free(v->title);
    rg_free(v->source_uri);
    rg_free(v->collection);
    memset(v, 0, sizeof *v);
}

int64_t rg_store_chunk_collection(rg_store *s, int64_t chunk_id)
{
    sqlite3_stmt *st = rg_st_use(s, ST_CHUNK_COLL);
    sqlite3_bind_int64(st, 1, chunk_id);
    int64_t id = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return id;
}

rg_status rg_store_chunk_source(rg_store *s, int64_t chunk_id, char *out, size_t cap, rg_error *err)
{
    sqlite3_stmt *st = rg_st_use(s, ST_CHUNK_SOURCE);
    sqlite3_bind_int64(st, 1, chunk_id);
    int rc = sqlite3_step(st);
    out[0] = '\0';
    if (rc == SQLITE_ROW) snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return rg_st_fail(s, err, rc, "reading a chunk");
    return RG_OK;
}

/* Steps st (bound, owned: finalized here) and collects its first column
 * into *ids (rg_free), *n of them. */
static rg_status read_ids(rg_store *s, sqlite3_stmt *st, int64_t **ids, size_t *n, const char *what,
                          rg_error *err)
{
    size_t cap = 0;
    rg_status r = RG_OK;
    int rc;
    *ids = NULL;
    *n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            size_t c = cap ? cap * 2 : 64;
            int64_t *p = rg_realloc(*ids, c * sizeof *p);
            if (!p) {
                r = rg_fail(err, RG_ENOMEM, "out of memory %s", what);
                break;
            }
            *ids = p;
            cap = c;
        }
        (*ids)[(*n)++] = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    if (!r && rc != SQLITE_DONE) r = rg_st_fail(s, err, rc, what);
    if (r) {
        rg_free(*ids);
        *ids = NULL;
        *n = 0;
    }
    return r;
}

rg_status rg_store_chunk_ids(rg_store *s, int64_t collection_id, int64_t doc_id, int64_t **ids,
                             size_t *n, rg_error *err)
{
    sqlite3_stmt *st;
    *ids = NULL;
    *n = 0;
    const char *sql = doc_id ? "SELECT id FROM chunks WHERE document_id = ?2 ORDER BY id"
                             : "SELECT c.id FROM chunks c JOIN documents d ON d.id = "
                               "c.document_id WHERE d.collection_id = ?1 ORDER BY c.id";
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) return rg_st_fail(s, err, rc, "listing chunks");
    if (doc_id)
        sqlite3_bind_int64(st, 2, doc_id);
    else
        sqlite3_bind_int64(st, 1, collection_id);
    return read_ids(s, st, ids, n, "listing chunks", err);
}

rg_status rg_store_chunk_ids_after(rg_store *s, int64_t collection_id, int64_t after, int64_t **ids,
                                   size_t *n, rg_error *err)
{
    sqlite3_stmt *st;
    *ids = NULL;
    *n = 0;
    /* a range of the chunks' primary key, each row's document checked
     * (CROSS JOIN keeps chunks the outer loop: the planner would otherwise
     * walk every chunk of the collection) */
    int rc = sqlite3_prepare_v2(s->db,
                                "SELECT c.id FROM chunks c CROSS JOIN documents d ON d.id = "
                                "c.document_id WHERE c.id > ?2 AND d.collection_id = ?1 "
                                "ORDER BY c.id",
                                -1, &st, NULL);
    if (rc != SQLITE_OK) return rg_st_fail(s, err, rc, "listing new chunks");
    sqlite3_bind_int64(st, 1, collection_id);
    sqlite3_bind_int64(st, 2, after);
    return read_ids(s, st, ids, n, "listing new chunks", err);
}

/* The last position the deletion log issued (AUTOINCREMENT keeps it in
 * sqlite_sequence: it never goes back, whatever was pruned); 0 if none. */
rg_status rg_store_deletion_pos(rg_store *s, int64_t *pos, rg_error *err)
{
    sqlite3_stmt *st;
    *pos = 0;
    int rc = sqlite3_prepare_v2(
        s->db, "SELECT seq FROM sqlite_sequence WHERE name = 'chunk_deletions'", -1, &st, NULL);
    if (rc != SQLITE_OK) return rg_st_fail(s, err, rc, "reading the deletion log");
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) *pos = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE
               ? RG_OK
               : rg_st_fail(s, err, rc, "reading the deletion log");
}

rg_status rg_store_deletions_since(rg_store *s, int64_t *pos, int64_t **ids, size_t *n,
                                   int *complete, rg_error *err)
{
    sqlite3_stmt *st = NULL;
    *ids = NULL;
    *n = 0;
    *complete = 0;
    /* one read transaction (or a part of the caller's): the bounds and the
     * rows from the same state */
    rg_status r = rg_st_exec(s, "SAVEPOINT deletions", "reading the deletion log", err);
    if (r) return r;
    int64_t issued, lo = 0;
    if ((r = rg_store_deletion_pos(s, &issued, err))) goto out;
    if (issued < *pos) goto out; /* a log that went back: a store put back from a copy */
    if (issued == *pos) {
        *complete = 1;
        goto out;
    }
    /* pruning drops the oldest entries: those after *pos are all there
     * when the oldest left is at most the next one */
    int rc = sqlite3_prepare_v2(s->db, "SELECT min(seq) FROM chunk_deletions", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
        lo = sqlite3_column_type(st, 0) == SQLITE_NULL ? INT64_MAX : sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW) {
        r = rg_st_fail(s, err, rc, "reading the deletion log");
        goto out;
    }
    if (lo > *pos + 1) goto out; /* pruned past *pos */
    *complete = 1;
    rc = sqlite3_prepare_v2(s->db,
                            "SELECT chunk_id FROM chunk_deletions WHERE seq > ?1 AND seq <= ?2 "
                            "ORDER BY seq",
                            -1, &st, NULL);
    if (rc != SQLITE_OK) {
        r = rg_st_fail(s, err, rc, "reading the deletion log");
        goto out;
    }
    sqlite3_bind_int64(st, 1, *pos);
    sqlite3_bind_int64(st, 2, issued);
    if (!(r = read_ids(s, st, ids, n, "reading the deletion log", err))) *pos = issued;
out:
    if (r) {
        sqlite3_exec(s->db, "ROLLBACK TO deletions", NULL, NULL, NULL);
        sqlite3_exec(s->db, "RELEASE deletions", NULL, NULL, NULL);
        return r;
    }
    return rg_st_exec(s, "RELEASE deletions", "reading the deletion log", err);
}

rg_status rg_store_chunk_embed_text(rg_store *s, int64_t chunk_id, rg_buf *out, rg_error *err)
{
    sqlite3_stmt *st = rg_st_use(s, ST_EMBED_TEXT);
    sqlite3_bind_int64(st, 1, chunk_id);
    int rc = sqlite3_step(st);
    rg_status r = RG_OK;
    if (rc == SQLITE_ROW) {
        const char *title = (const char *)sqlite3_column_text(st, 0);
        const char *text = (const char *)sqlite3_column_text(st, 1);
        size_t tn = (size_t)sqlite3_column_bytes(st, 0);
        size_t xn = (size_t)sqlite3_column_bytes(st, 1);
        if ((tn && (rg_buf_append(out, title, tn) || rg_buf_putc(out, '\n'))) ||
            rg_buf_append(out, text, xn))
            r = rg_fail(err, RG_ENOMEM, "chunk %lld: text too large", (long long)chunk_id);
    } else if (rc == SQLITE_DONE) {
        r = rg_fail(err, RG_ENOTFOUND, "no chunk with id %lld", (long long)chunk_id);
    } else {
        r = rg_st_fail(s, err, rc, "reading a chunk");
    }
    sqlite3_reset(st);
    return r;
}
