/*
 * store_impl.h — inside index/store: the handle and the helpers its three
 * files share (store.c opens, migrates and writes; store_read.c reads
 * documents and chunks; store_manifest.c keeps the ingestion manifest).
 * Not a public header: only those files include it.
 */
#ifndef RG_STORE_IMPL_H
#define RG_STORE_IMPL_H

#include <sqlite3.h>

#include "engine/base/status.h"
#include "index/store.h"

/* Longest data directory path we accept. */
#define RG_STORE_PATH_MAX 4096

/* The prepared statements, in rg_store.stmt. */
enum {
    ST_COLL_FIND,
    ST_COLL_INSERT,
    ST_DOC_FIND,
    ST_DOC_DELETE,
    ST_DOC_INSERT,
    ST_CHUNK_INSERT,
    ST_FTS_INSERT,
    ST_CHUNK_GET,
    ST_CHUNK_COLL,
    ST_CHUNK_SOURCE,
    ST_MANIFEST,
    ST_SEQ_BUMP,
    ST_SEQ_GET,
    ST_EMBED_TEXT,
    ST_ACL_INSERT,
    ST_MANIFEST_GET,
    ST_MANIFEST_FORGET,
    /* prepared ahead so that a failed write can be undone without allocating */
    ST_BEGIN,
    ST_FTS_TOUCH,
    ST_ROLLBACK,
    ST_COUNT
};

struct rg_store {
    sqlite3 *db;
    sqlite3_stmt *stmt[ST_COUNT];
    char tokenize[32];
    char path[RG_STORE_PATH_MAX];
    char dir[RG_STORE_PATH_MAX];
    int fts_stale; /* a failed write may have left FTS5's memory behind the file */
};

/* Translates the connection's last error rc; names the operation. */
rg_status rg_st_fail(rg_store *s, rg_error *err, int rc, const char *what);

/* Runs sql (no parameters, no rows). */
rg_status rg_st_exec(rg_store *s, const char *sql, const char *what, rg_error *err);

/* Prepared statement `which`, reset and with no bindings. */
sqlite3_stmt *rg_st_use(rg_store *s, int which);

/* Steps st once, expecting SQLITE_DONE, and resets it. */
rg_status rg_st_step_done(rg_store *s, sqlite3_stmt *st, const char *what, rg_error *err);

/* Opens a write transaction (recovering FTS5 from an earlier failed write
 * first); rg_st_abort_write undoes it after a failure. */
rg_status rg_st_begin_write(rg_store *s, const char *what, rg_error *err);
void rg_st_abort_write(rg_store *s);

/* Adds one to the store's change sequence (inside a write). */
rg_status rg_st_bump_seq(rg_store *s, rg_error *err);

#endif
