/*
 * store_manifest.c — the ingestion manifest: per source, what sync saw last
 * (size, mtime, hashes, status), the sources under a prefix, and forgetting
 * a source with its document.
 */
#include "index/store_impl.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "engine/base/mem.h"

rg_status rg_store_manifest_put(rg_store *s, int64_t collection_id, const rg_manifest_entry *e,
                                rg_error *err)
{
    sqlite3_stmt *st = rg_st_use(s, ST_MANIFEST);
    sqlite3_bind_int64(st, 1, collection_id);
    sqlite3_bind_text(st, 2, e->source_uri, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, e->size);
    sqlite3_bind_int64(st, 4, e->mtime_ns / 1000000000);
    if (e->content_hash && e->content_hash[0])
        sqlite3_bind_text(st, 5, e->content_hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, e->status, -1, SQLITE_STATIC);
    if (e->message) sqlite3_bind_text(st, 7, e->message, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, (int64_t)time(NULL));
    sqlite3_bind_int64(st, 9, e->mtime_ns);
    if (e->settings_hash && e->settings_hash[0])
        sqlite3_bind_text(st, 10, e->settings_hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 11, (int64_t)e->pii_types);
    return rg_st_step_done(s, st, "recording the manifest", err);
}

static void copy_col(sqlite3_stmt *st, int col, char *out, size_t cap)
{
    const char *v = (const char *)sqlite3_column_text(st, col);
    snprintf(out, cap, "%s", v ? v : "");
}

rg_status rg_store_manifest_get(rg_store *s, int64_t collection_id, const char *source_uri,
                                rg_manifest_row *out, int *found, rg_error *err)
{
    sqlite3_stmt *st = rg_st_use(s, ST_MANIFEST_GET);
    sqlite3_bind_int64(st, 1, collection_id);
    sqlite3_bind_text(st, 2, source_uri, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *found = rc == SQLITE_ROW;
    memset(out, 0, sizeof *out);
    if (rc == SQLITE_ROW) {
        out->size = sqlite3_column_int64(st, 0);
        out->mtime_ns = sqlite3_column_int64(st, 1);
        copy_col(st, 2, out->content_hash, sizeof out->content_hash);
        copy_col(st, 3, out->settings_hash, sizeof out->settings_hash);
        copy_col(st, 4, out->status, sizeof out->status);
        copy_col(st, 5, out->document_hash, sizeof out->document_hash);
        out->pii_types = (unsigned)sqlite3_column_int64(st, 6);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return rg_st_fail(s, err, rc, "reading the manifest");
    return RG_OK;
}

rg_status rg_store_sources_under(rg_store *s, int64_t collection_id, const char *prefix,
                                 char ***uris, size_t *n, rg_error *err)
{
    *uris = NULL;
    *n = 0;
    sqlite3_stmt *st;
    /* substr() compares bytes exactly (see rg_store_delete_prefix). */
    int rc =
        sqlite3_prepare_v2(s->db,
                           "SELECT source_uri FROM documents WHERE collection_id = ?1 AND "
                           "(source_uri = ?2 OR substr(source_uri, 1, length(?2) + 1) = ?2 || '/') "
                           "UNION SELECT source_uri FROM manifest WHERE collection_id = ?1 AND "
                           "(source_uri = ?2 OR substr(source_uri, 1, length(?2) + 1) = ?2 || '/') "
                           "ORDER BY 1",
                           -1, &st, NULL);
    if (rc != SQLITE_OK) return rg_st_fail(s, err, rc, "listing sources");
    sqlite3_bind_int64(st, 1, collection_id);
    sqlite3_bind_text(st, 2, prefix, -1, SQLITE_STATIC);
    rg_status r = RG_OK;
    size_t cap = 0;
    char **list = NULL;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            char **nl = rg_realloc(list, nc * sizeof *nl);
            if (!nl) {
                r = rg_fail(err, RG_ENOMEM, "out of memory listing sources");
                break;
            }
            list = nl;
            cap = nc;
        }
        if (!(list[*n] = rg_strdup((const char *)sqlite3_column_text(st, 0)))) {
            r = rg_fail(err, RG_ENOMEM, "out of memory listing sources");
            break;
        }
        (*n)++;
    }
    if (!r && rc != SQLITE_DONE) r = rg_st_fail(s, err, rc, "listing sources");
    sqlite3_finalize(st);
    if (r) {
        rg_store_sources_free(list, *n);
        *n = 0;
        return r;
    }
    *uris = list;
    return RG_OK;
}

void rg_store_sources_free(char **uris, size_t n)
{
    for (size_t i = 0; i < n; i++)
        rg_free(uris[i]);
    rg_free(uris);
}

rg_status rg_store_forget_source(rg_store *s, int64_t collection_id, const char *source_uri,
                                 int *removed, rg_error *err)
{
    *removed = 0;
    rg_status r = rg_st_begin_write(s, "starting a transaction", err);
    if (r) return r;
    int found;
    int64_t doc_id;
    if ((r = rg_store_find_document(s, collection_id, source_uri, &found, &doc_id, NULL, err)))
        goto fail;
    if (found) {
        sqlite3_stmt *st = rg_st_use(s, ST_DOC_DELETE);
        sqlite3_bind_int64(st, 1, doc_id);
        if ((r = rg_st_step_done(s, st, "deleting a document", err))) goto fail;
        if ((r = rg_st_bump_seq(s, err))) goto fail;
        *removed = 1;
    }
    sqlite3_stmt *st = rg_st_use(s, ST_MANIFEST_FORGET);
    sqlite3_bind_int64(st, 1, collection_id);
    sqlite3_bind_text(st, 2, source_uri, -1, SQLITE_STATIC);
    if ((r = rg_st_step_done(s, st, "deleting a manifest entry", err))) goto fail;
    return rg_st_exec(s, "COMMIT", "committing a delete", err);
fail:
    rg_st_abort_write(s);
    *removed = 0;
    return r;
}
