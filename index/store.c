#include "index/store_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "engine/base/mem.h"
#include "index/lexical.h"

static const char *const stmt_sql[ST_COUNT] = {
    [ST_COLL_FIND] = "SELECT id FROM collections WHERE name = ?1",
    [ST_COLL_INSERT] = "INSERT INTO collections(name, created_at) VALUES (?1, ?2)",
    [ST_DOC_FIND] = "SELECT id, content_hash FROM documents WHERE collection_id = ?1 AND "
                    "source_uri = ?2",
    [ST_DOC_DELETE] = "DELETE FROM documents WHERE id = ?1",
    [ST_BEGIN] = "BEGIN",
    [ST_FTS_TOUCH] = "DELETE FROM chunks_fts WHERE rowid = 0",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_DOC_INSERT] = "INSERT INTO documents(collection_id, source_uri, title, media_type, "
                      "content_hash, size, created_at, updated_at, metadata, text) "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, json(?8), ?9)",
    [ST_CHUNK_INSERT] = "INSERT INTO chunks(document_id, ordinal, text, byte_start, byte_end, "
                        "token_count, section) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_FTS_INSERT] = "INSERT INTO chunks_fts(rowid, title, body) VALUES (?1, ?2, ?3)",
    [ST_CHUNK_GET] = "SELECT c.id, c.document_id, d.collection_id, c.ordinal, c.byte_start, "
                     "c.byte_end, c.text, coalesce(c.section, ''), d.title, d.source_uri, k.name, "
                     /* the page: how many pages start at or before the chunk */
                     "(SELECT count(*) FROM json_each(d.metadata, '$.pages') "
                     "WHERE value <= c.byte_start), "
                     /* and the pages that start inside it */
                     "(SELECT group_concat(value, ',') FROM json_each(d.metadata, '$.pages') "
                     "WHERE value > c.byte_start AND value < c.byte_end) "
                     "FROM chunks c JOIN documents d ON d.id = c.document_id "
                     "JOIN collections k ON k.id = d.collection_id WHERE c.id = ?1",
    [ST_CHUNK_COLL] = "SELECT d.collection_id FROM chunks c JOIN documents d ON d.id = "
                      "c.document_id WHERE c.id = ?1",
    [ST_CHUNK_SOURCE] = "SELECT d.source_uri FROM chunks c JOIN documents d ON d.id = "
                        "c.document_id WHERE c.id = ?1",
    [ST_MANIFEST] = "INSERT INTO manifest(collection_id, source_uri, size, mtime, content_hash, "
                    "status, message, updated_at, mtime_ns, settings_hash, pii_types) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) "
                    "ON CONFLICT(collection_id, source_uri) DO UPDATE SET size = excluded.size, "
                    "mtime = excluded.mtime, content_hash = excluded.content_hash, "
                    "status = excluded.status, message = excluded.message, "
                    "updated_at = excluded.updated_at, mtime_ns = excluded.mtime_ns, "
                    "settings_hash = excluded.settings_hash, pii_types = excluded.pii_types",
    [ST_MANIFEST_GET] = "SELECT m.size, m.mtime_ns, coalesce(m.content_hash, ''), "
                        "coalesce(m.settings_hash, ''), m.status, coalesce(d.content_hash, ''), "
                        "m.pii_types "
                        "FROM manifest m LEFT JOIN documents d ON d.collection_id = "
                        "m.collection_id AND d.source_uri = m.source_uri "
                        "WHERE m.collection_id = ?1 AND m.source_uri = ?2",
    [ST_MANIFEST_FORGET] = "DELETE FROM manifest WHERE collection_id = ?1 AND source_uri = ?2",
    [ST_SEQ_BUMP] = "UPDATE meta SET value = value + 1 WHERE key = 'change_seq'",
    [ST_SEQ_GET] = "SELECT value FROM meta WHERE key = 'change_seq'",
    [ST_EMBED_TEXT] = "SELECT d.title, c.text FROM chunks c JOIN documents d ON d.id = "
                      "c.document_id WHERE c.id = ?1",
    [ST_ACL_INSERT] = "INSERT OR IGNORE INTO document_acl(document_id, kind, principal) "
                      "SELECT ?1, 'user', value FROM json_each(?2, '$.acl.users') "
                      "WHERE type = 'text' AND value <> '' UNION "
                      "SELECT ?1, 'group', value FROM json_each(?2, '$.acl.groups') "
                      "WHERE type = 'text' AND value <> '' UNION "
                      /* an access list, even an empty one, makes the document private:
                       * this entry names no one (no reader has an empty name) */
                      "SELECT ?1, 'user', '' WHERE json_type(?2, '$.acl') = 'object'",
};

const char *rg_store_dir(const rg_store *s)
{
    return s->dir;
}

/* Translates the connection's last error; names the operation. */
rg_status rg_st_fail(rg_store *s, rg_error *err, int rc, const char *what)
{
    int saved_errno = errno; /* first: what the failed call left */
    rg_status code;
    switch (rc & 0xff) {
    case SQLITE_NOMEM:
        code = RG_ENOMEM;
        break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        code = RG_EBUSY;
        break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        code = RG_ECORRUPT;
        break;
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_FULL:
    case SQLITE_READONLY:
        code = RG_EIO;
        break;
    case SQLITE_CONSTRAINT:
        code = RG_EINVAL;
        break;
    default:
        code = RG_EDB;
        break;
    }
    const char *msg = s && s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);
    /* A failed write or open names its cause: "disk I/O error" alone does not
       tell a full disk from a file-size limit or a permission. */
    int sys = s && s->db && code == RG_EIO ? sqlite3_system_errno(s->db) : 0;
    /* SQLite records the system error only for some failures (not for a
       commit's WAL write): then errno, if it is one a write fails with. */
    if (!sys && code == RG_EIO &&
        (saved_errno == EFBIG || saved_errno == ENOSPC || saved_errno == EDQUOT ||
         saved_errno == EROFS))
        sys = saved_errno;
    if (sys) return rg_fail(err, code, "%s: %s (%s, in %s)", what, msg, strerror(sys), s->dir);
    if (code == RG_ECORRUPT)
        return rg_fail(err, code, "%s: database %s is damaged or not a ragd database (%s)", what,
                       s ? s->path : "?", msg);
    return rg_fail(err, code, "%s: %s", what, msg);
}

rg_status rg_st_exec(rg_store *s, const char *sql, const char *what, rg_error *err)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? RG_OK : rg_st_fail(s, err, rc, what);
}

/*
 * After a failed write. On NOMEM, IOERR or FULL SQLite rolls a transaction
 * back by itself, and FTS5 (SQLite 3.40) then keeps the failed
 * transaction's pending terms and cached index structure in memory and
 * writes them with the next commit: a corrupt lexical index (found by
 * injecting allocation failures, tests/faults). A transaction that touches
 * the FTS5 table and rolls back makes FTS5 discard both. Until that has
 * worked, rg_st_begin_write retries it and refuses to write.
 */
static void rollback(rg_store *s)
{ /* the transaction may be gone already: SQLite ends it on some errors */
    if (sqlite3_get_autocommit(s->db)) return;
    sqlite3_step(s->stmt[ST_ROLLBACK]);
    sqlite3_reset(s->stmt[ST_ROLLBACK]);
}

static int fts_reset(rg_store *s)
{
    rollback(s);
    int ok = sqlite3_step(s->stmt[ST_BEGIN]) == SQLITE_DONE;
    sqlite3_reset(s->stmt[ST_BEGIN]);
    if (ok) {
        sqlite3_step(s->stmt[ST_FTS_TOUCH]);
        sqlite3_reset(s->stmt[ST_FTS_TOUCH]);
        ok = sqlite3_step(s->stmt[ST_ROLLBACK]) == SQLITE_DONE;
        sqlite3_reset(s->stmt[ST_ROLLBACK]);
    }
    rollback(s);
    if (ok && sqlite3_get_autocommit(s->db)) s->fts_stale = 0;
    return !s->fts_stale;
}

void rg_st_abort_write(rg_store *s)
{
    s->fts_stale = 1;
    fts_reset(s);
}

rg_status rg_st_begin_write(rg_store *s, const char *what, rg_error *err)
{
    if ((s->fts_stale || !sqlite3_get_autocommit(s->db)) && !fts_reset(s))
        return rg_fail(err, RG_ENOMEM,
                       "%s: the store has not recovered from an earlier failed "
                       "write yet (out of memory?)",
                       what);
    return rg_st_exec(s, "BEGIN IMMEDIATE", what, err);
}

/* Runs one statement with ?1 = i1 and ?2 = t2 (when not NULL). */
static rg_status exec_bound(rg_store *s, const char *sql, int64_t i1, const char *t2,
                            const char *what, rg_error *err)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) return rg_st_fail(s, err, rc, what);
    sqlite3_bind_int64(st, 1, i1);
    if (t2) sqlite3_bind_text(st, 2, t2, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? RG_OK : rg_st_fail(s, err, rc, what);
}

/*
 * Migrations: entry i takes the schema from version i to i + 1. Append new
 * ones; never edit a released one. The FTS5 table is created separately
 * because its tokenize= spec is chosen when the database is made.
 */
/* migration 4 spells the log's bound out */
_Static_assert(RG_STORE_DELETION_LOG_MAX == 1000000, "migration 4 names RG_STORE_DELETION_LOG_MAX");

static const char *const migrations[] = {
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value ANY) STRICT;"
    "INSERT INTO meta(key, value) VALUES ('change_seq', 0);"
    "CREATE TABLE collections("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  created_at INTEGER NOT NULL,"
    "  model TEXT,"
    "  settings TEXT NOT NULL DEFAULT '{}') STRICT;"
    "CREATE TABLE documents("
    "  id INTEGER PRIMARY KEY,"
    "  collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,"
    "  source_uri TEXT NOT NULL,"
    "  title TEXT NOT NULL DEFAULT '',"
    "  media_type TEXT NOT NULL,"
    "  content_hash TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  metadata TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),"
    "  text TEXT NOT NULL,"
    "  UNIQUE(collection_id, source_uri)) STRICT;"
    /* AUTOINCREMENT: chunk ids are vector ids, and a reused id would make
     * vector indexes that only mark deletions rebuild. */
    "CREATE TABLE chunks("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,"
    "  ordinal INTEGER NOT NULL,"
    "  text TEXT NOT NULL,"
    "  byte_start INTEGER NOT NULL,"
    "  byte_end INTEGER NOT NULL,"
    "  token_count INTEGER NOT NULL,"
    "  section TEXT,"
    "  UNIQUE(document_id, ordinal),"
    "  CHECK (byte_start >= 0 AND byte_end > byte_start)) STRICT;"
    "CREATE TABLE manifest("
    "  collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,"
    "  source_uri TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  mtime INTEGER NOT NULL,"
    "  content_hash TEXT,"
    "  status TEXT NOT NULL,"
    "  message TEXT,"
    "  updated_at INTEGER NOT NULL,"
    "  PRIMARY KEY(collection_id, source_uri)) STRICT;"
    /* Chunks leave the FTS index with their rows, cascades included. */
    "CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN"
    "  DELETE FROM chunks_fts WHERE rowid = old.id;"
    "END;",
    /* 2: document access lists (who may read a document; none: every reader of
     * the collection) and the HTTP API's keys (keys.h), stored as hashes. */
    "CREATE TABLE document_acl("
    "  document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,"
    "  kind TEXT NOT NULL CHECK (kind IN ('user', 'group')),"
    "  principal TEXT NOT NULL,"
    "  PRIMARY KEY(document_id, kind, principal)) STRICT, WITHOUT ROWID;"
    "CREATE INDEX document_acl_principal ON document_acl(kind, principal);"
    "CREATE TABLE api_keys("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  prefix TEXT NOT NULL,"
    "  hash TEXT NOT NULL UNIQUE,"
    "  scopes INTEGER NOT NULL,"
    "  collections TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(collections)),"
    "  user TEXT NOT NULL,"
    "  groups TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(groups)),"
    "  created_at INTEGER NOT NULL,"
    "  revoked_at INTEGER) STRICT;",
    /* 3: sync (pipeline.h) skips a file without reading it when its size,
     * nanosecond mtime and the ingestion settings all match the manifest. */
    "ALTER TABLE manifest ADD COLUMN mtime_ns INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE manifest ADD COLUMN settings_hash TEXT;"
    "ALTER TABLE manifest ADD COLUMN pii_types INTEGER NOT NULL DEFAULT 0;",
    /* 4: the deletion log (store.h), which lets a reader's vector index
     * follow deletions without listing every chunk; pruned to the newest
     * RG_STORE_DELETION_LOG_MAX entries as it grows. */
    "CREATE TABLE chunk_deletions("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  chunk_id INTEGER NOT NULL) STRICT;"
    "CREATE TRIGGER chunks_log_delete AFTER DELETE ON chunks BEGIN"
    "  INSERT INTO chunk_deletions(chunk_id) VALUES (old.id);"
    "  DELETE FROM chunk_deletions WHERE seq <= last_insert_rowid() - 1000000;"
    "END;",
};

#define N_MIGRATIONS (sizeof migrations / sizeof migrations[0])
_Static_assert(N_MIGRATIONS == RG_STORE_SCHEMA_VERSION, "store.h names the schema version");

static rg_status user_version(rg_store *s, int *v, rg_error *err)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL);
    if (rc != SQLITE_OK) return rg_st_fail(s, err, rc, "reading schema version");
    rc = sqlite3_step(st);
    *v = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? RG_OK : rg_st_fail(s, err, rc, "reading schema version");
}

static rg_status migrate(rg_store *s, int stemming, rg_error *err)
{
    int v;
    rg_status st = rg_st_exec(s, "BEGIN IMMEDIATE", "starting migration", err);
    if (st) return st;
    if ((st = user_version(s, &v, err))) goto fail;
    if (v > (int)N_MIGRATIONS) {
        st =
            rg_fail(err, RG_ECORRUPT, "database %s has schema version %d; this ragd reads up to %d",
                    s->path, v, (int)N_MIGRATIONS);
        goto fail;
    }
    if (v == 0) {
        char sql[160];
        snprintf(sql, sizeof sql,
                 "CREATE VIRTUAL TABLE chunks_fts USING fts5(title, body, tokenize='%s');",
                 stemming ? "porter " RG_FTS5_TOKENIZER : RG_FTS5_TOKENIZER);
        if ((st = rg_st_exec(s, sql, "creating the lexical index", err))) goto fail;
    }
    for (; v < (int)N_MIGRATIONS; v++) {
        char sql[64];
        if ((st = rg_st_exec(s, migrations[v], "migrating the schema", err))) goto fail;
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v + 1);
        if ((st = rg_st_exec(s, sql, "migrating the schema", err))) goto fail;
    }
    return rg_st_exec(s, "COMMIT", "committing migration", err);
fail:
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL); /* statements are not prepared yet */
    return st;
}

/* Reads the tokenize= spec back from the FTS5 table's declaration. */
static rg_status load_tokenize_spec(rg_store *s, rg_error *err)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db, "SELECT sql FROM sqlite_schema WHERE name = 'chunks_fts'",
                                -1, &st, NULL);
    if (rc != SQLITE_OK) return rg_st_fail(s, err, rc, "reading the schema");
    rg_status out = RG_OK;
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *sql = (const char *)sqlite3_column_text(st, 0);
        const char *t = sql ? strstr(sql, "tokenize='") : NULL;
        if (!t) {
            out = rg_fail(err, RG_ECORRUPT, "database %s: lexical index has no tokenizer", s->path);
        } else {
            t += strlen("tokenize='");
            size_t n = strcspn(t, "'");
            if (n >= sizeof s->tokenize) n = sizeof s->tokenize - 1;
            memcpy(s->tokenize, t, n);
            s->tokenize[n] = '\0';
        }
    } else {
        out = rg_fail(err, RG_ECORRUPT, "database %s: lexical index is missing", s->path);
    }
    sqlite3_finalize(st);
    return out;
}

rg_store_options rg_store_default_options(void)
{
    rg_store_options o = {.create = 1, .stemming = 1, .busy_timeout_ms = 5000};
    return o;
}

static rg_status make_dir(const char *dir, int create, rg_error *err)
{
    struct stat sb;
    if (stat(dir, &sb) == 0) {
        if (!S_ISDIR(sb.st_mode))
            return rg_fail(err, RG_EINVAL, "data directory %s is not a directory", dir);
        return RG_OK;
    }
    if (!create) return rg_fail(err, RG_ENOTFOUND, "no ragd data directory at %s", dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return rg_fail(err, RG_EIO, "cannot create data directory %s: %s", dir, strerror(errno));
    return RG_OK;
}

rg_status rg_store_open(const char *data_dir, const rg_store_options *opt, rg_store **out,
                        rg_error *err)
{
    rg_store_options o = opt ? *opt : rg_store_default_options();
    *out = NULL;
    rg_status st = make_dir(data_dir, o.create, err);
    if (st) return st;
    rg_store *s = rg_calloc(1, sizeof *s);
    if (!s) return rg_fail(err, RG_ENOMEM, "out of memory opening the store");
    snprintf(s->dir, sizeof s->dir, "%s", data_dir);
    int n = snprintf(s->path, sizeof s->path, "%s/%s", data_dir, RG_STORE_DB_FILE);
    if (n < 0 || (size_t)n >= sizeof s->path) {
        rg_free(s);
        return rg_fail(err, RG_ELIMIT, "data directory path is too long");
    }
    struct stat sb;
    if (!o.create && stat(s->path, &sb) != 0) {
        rg_free(s);
        return rg_fail(err, RG_ENOTFOUND, "no ragd database in %s (run 'ragd ingest' first)",
                       data_dir);
    }
    int flags = SQLITE_OPEN_READWRITE | (o.create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX |
                SQLITE_OPEN_EXRESCODE;
    int rc = sqlite3_open_v2(s->path, &s->db, flags, NULL);
    if (rc != SQLITE_OK) {
        st = rg_st_fail(s, err, rc, "opening the store");
        goto fail;
    }
    sqlite3_busy_timeout(s->db, o.busy_timeout_ms);
    if ((st = rg_fts5_register(s->db, err))) goto fail;
    /* journal_mode is the first statement that reads the file: a damaged or
     * foreign file fails here with SQLITE_NOTADB. */
    if ((st = rg_st_exec(s, "PRAGMA journal_mode = WAL", "opening the store", err))) goto fail;
    if ((st = rg_st_exec(s,
                         "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;"
                         "PRAGMA temp_store = MEMORY;",
                         "configuring the store", err)))
        goto fail;
    if ((st = migrate(s, o.stemming, err))) goto fail;
    if ((st = load_tokenize_spec(s, err))) goto fail;
    for (int i = 0; i < ST_COUNT; i++) {
        rc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[i],
                                NULL);
        if (rc != SQLITE_OK) {
            st = rg_st_fail(s, err, rc, "preparing statements");
            goto fail;
        }
    }
    *out = s;
    return RG_OK;
fail:
    rg_store_close(s);
    return st;
}

void rg_store_close(rg_store *s)
{
    if (!s) return;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(s->stmt[i]);
    sqlite3_close(s->db);
    rg_free(s);
}

sqlite3 *rg_store_db(rg_store *s)
{
    return s->db;
}

const char *rg_store_tokenize_spec(const rg_store *s)
{
    return s->tokenize;
}

/* Resets and clears a cached statement before use. */
sqlite3_stmt *rg_st_use(rg_store *s, int which)
{
    sqlite3_stmt *st = s->stmt[which];
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

rg_status rg_st_step_done(rg_store *s, sqlite3_stmt *st, const char *what, rg_error *err)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? RG_OK : rg_st_fail(s, err, rc, what);
}

rg_status rg_store_verify(rg_store *s, rg_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA quick_check", -1, &st, NULL);
    if (rc != SQLITE_OK) return rg_st_fail(s, err, rc, "checking the database");
    rc = sqlite3_step(st);
    const char *res = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
    if (rc == SQLITE_ROW && (!res || strcmp(res, "ok") != 0)) {
        rg_status r = rg_fail(err, RG_ECORRUPT, "database %s: %s", s->path, res ? res : "?");
        sqlite3_finalize(st);
        return r;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW) return rg_st_fail(s, err, rc, "checking the database");
    rg_status r = rg_st_exec(s, "INSERT INTO chunks_fts(chunks_fts) VALUES ('integrity-check')",
                             "checking the lexical index", err);
    /* integrity-check holds the index to its own rows; these hold it to the chunks */
    static const char *const orphans[2][2] = {
        {"SELECT count(*) FROM chunks WHERE id NOT IN (SELECT id FROM chunks_fts_docsize)",
         "chunks missing from the lexical index"},
        {"SELECT count(*) FROM chunks_fts_docsize WHERE id NOT IN (SELECT id FROM chunks)",
         "lexical index rows without a chunk"},
    };
    for (int i = 0; i < 2 && !r; i++) {
        if ((rc = sqlite3_prepare_v2(s->db, orphans[i][0], -1, &st, NULL)) != SQLITE_OK)
            return rg_st_fail(s, err, rc, "checking the lexical index");
        rc = sqlite3_step(st);
        long long n = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
        sqlite3_finalize(st);
        if (rc != SQLITE_ROW) return rg_st_fail(s, err, rc, "checking the lexical index");
        if (n) r = rg_fail(err, RG_ECORRUPT, "database %s: %lld %s", s->path, n, orphans[i][1]);
    }
    return r;
}

rg_status rg_store_change_seq(rg_store *s, int64_t *seq, rg_error *err)
{
    sqlite3_stmt *st = rg_st_use(s, ST_SEQ_GET);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) return rg_st_fail(s, err, rc, "reading the change sequence");
    *seq = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return RG_OK;
}

int rg_collection_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > RG_COLLECTION_NAME_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '.' || c == '-';
        if (!ok) return 0;
    }
    return 1;
}

rg_status rg_store_collection(rg_store *s, const char *name, int create, int64_t *id, rg_error *err)
{
    if (!rg_collection_name_valid(name))
        return rg_fail(err, RG_EINVAL,
                       "invalid collection name '%s' (1-%d characters of A-Z a-z 0-9 _ . -)", name,
                       RG_COLLECTION_NAME_MAX);
    sqlite3_stmt *st = rg_st_use(s, ST_COLL_FIND);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        return RG_OK;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) return rg_st_fail(s, err, rc, "looking up a collection");
    if (!create) return rg_fail(err, RG_ENOTFOUND, "no collection named '%s'", name);
    st = rg_st_use(s, ST_COLL_INSERT);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (int64_t)time(NULL));
    rg_status r = rg_st_step_done(s, st, "creating a collection", err);
    if (r) return r;
    *id = sqlite3_last_insert_rowid(s->db);
    return RG_OK;
}

rg_status rg_store_find_document(rg_store *s, int64_t collection_id, const char *source_uri,
                                 int *found, int64_t *doc_id, char hash[65], rg_error *err)
{
    sqlite3_stmt *st = rg_st_use(s, ST_DOC_FIND);
    sqlite3_bind_int64(st, 1, collection_id);
    sqlite3_bind_text(st, 2, source_uri, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *found = rc == SQLITE_ROW;
    if (rc == SQLITE_ROW) {
        if (doc_id) *doc_id = sqlite3_column_int64(st, 0);
        if (hash) {
            const char *h = (const char *)sqlite3_column_text(st, 1);
            snprintf(hash, 65, "%s", h ? h : "");
        }
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return rg_st_fail(s, err, rc, "looking up a document");
    return RG_OK;
}

rg_status rg_st_bump_seq(rg_store *s, rg_error *err)
{
    return rg_st_step_done(s, rg_st_use(s, ST_SEQ_BUMP), "updating the change sequence", err);
}

static rg_status insert_chunks(rg_store *s, int64_t doc_id, const rg_doc_meta *doc,
                               const rg_chunk_row *chunks, size_t n, rg_error *err)
{
    for (size_t i = 0; i < n; i++) {
        const rg_chunk_row *c = &chunks[i];
        if (c->byte_end <= c->byte_start || c->byte_end > doc->text_len)
            return rg_fail(err, RG_EINTERNAL, "chunk %zu of %s has a bad span", i, doc->source_uri);
        const char *text = doc->text + c->byte_start;
        int len = (int)(c->byte_end - c->byte_start);
        sqlite3_stmt *st = rg_st_use(s, ST_CHUNK_INSERT);
        sqlite3_bind_int64(st, 1, doc_id);
        sqlite3_bind_int64(st, 2, (int64_t)i);
        sqlite3_bind_text(st, 3, text, len, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, (int64_t)c->byte_start);
        sqlite3_bind_int64(st, 5, (int64_t)c->byte_end);
        sqlite3_bind_int64(st, 6, (int64_t)c->token_count);
        if (c->section && c->section[0]) sqlite3_bind_text(st, 7, c->section, -1, SQLITE_STATIC);
        rg_status r = rg_st_step_done(s, st, "storing a chunk", err);
        if (r) return r;
        int64_t chunk_id = sqlite3_last_insert_rowid(s->db);
        /* The section heading is indexed with the title: a chunk is often
         * found by the heading it sits under. */
        char title[1024];
        if (c->section && c->section[0] && strcmp(c->section, doc->title ? doc->title : ""))
            snprintf(title, sizeof title, "%s — %s", doc->title ? doc->title : "", c->section);
        else
            snprintf(title, sizeof title, "%s", doc->title ? doc->title : "");
        st = rg_st_use(s, ST_FTS_INSERT);
        sqlite3_bind_int64(st, 1, chunk_id);
        sqlite3_bind_text(st, 2, title, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, text, len, SQLITE_STATIC);
        if ((r = rg_st_step_done(s, st, "indexing a chunk", err))) return r;
    }
    return RG_OK;
}

rg_status rg_store_put_document(rg_store *s, const rg_doc_meta *doc, const rg_chunk_row *chunks,
                                size_t n_chunks, int64_t *doc_id, rg_error *err)
{
    rg_status r = rg_st_begin_write(s, "starting a transaction", err);
    if (r) return r;
    int found;
    int64_t old_id = 0, id;
    if ((r = rg_store_find_document(s, doc->collection_id, doc->source_uri, &found, &old_id, NULL,
                                    err)))
        goto fail;
    if (found) {
        sqlite3_stmt *st = rg_st_use(s, ST_DOC_DELETE);
        sqlite3_bind_int64(st, 1, old_id);
        if ((r = rg_st_step_done(s, st, "replacing a document", err))) goto fail;
    }
    sqlite3_stmt *st = rg_st_use(s, ST_DOC_INSERT);
    sqlite3_bind_int64(st, 1, doc->collection_id);
    sqlite3_bind_text(st, 2, doc->source_uri, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, doc->title ? doc->title : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, doc->media_type ? doc->media_type : "text/plain", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, doc->content_hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, doc->size);
    sqlite3_bind_int64(st, 7, (int64_t)time(NULL));
    sqlite3_bind_text(st, 8, doc->metadata_json ? doc->metadata_json : "{}", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, doc->text, (int)doc->text_len, SQLITE_STATIC);
    if ((r = rg_st_step_done(s, st, "storing a document", err))) goto fail;
    id = sqlite3_last_insert_rowid(s->db);
    if (doc->metadata_json) {
        st = rg_st_use(s, ST_ACL_INSERT);
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_text(st, 2, doc->metadata_json, -1, SQLITE_STATIC);
        if ((r = rg_st_step_done(s, st, "storing a document's access list", err))) goto fail;
    }
    if ((r = insert_chunks(s, id, doc, chunks, n_chunks, err))) goto fail;
    if ((r = rg_st_bump_seq(s, err))) goto fail;
    if ((r = rg_st_exec(s, "COMMIT", "committing a document", err))) goto fail;
    if (doc_id) *doc_id = id;
    return RG_OK;
fail:
    rg_st_abort_write(s);
    return r;
}

rg_status rg_store_set_document_hash(rg_store *s, int64_t doc_id, const char *content_hash,
                                     int64_t size, rg_error *err)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(
        s->db, "UPDATE documents SET content_hash = ?2, size = ?3 WHERE id = ?1", -1, &st, NULL);
    if (rc != SQLITE_OK) return rg_st_fail(s, err, rc, "updating a document");
    sqlite3_bind_int64(st, 1, doc_id);
    sqlite3_bind_text(st, 2, content_hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, size);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? RG_OK : rg_st_fail(s, err, rc, "updating a document");
}

rg_status rg_store_delete_document(rg_store *s, int64_t doc_id, rg_error *err)
{
    rg_status r = rg_st_begin_write(s, "starting a transaction", err);
    if (r) return r;
    /* The manifest row goes too, so that a later sync or ingest of the file
     * adds it again rather than finding it unchanged. */
    if ((r = exec_bound(s,
                        "DELETE FROM manifest WHERE (collection_id, source_uri) IN "
                        "(SELECT collection_id, source_uri FROM documents WHERE id = ?1)",
                        doc_id, NULL, "deleting a manifest entry", err)))
        goto fail;
    sqlite3_stmt *st = rg_st_use(s, ST_DOC_DELETE);
    sqlite3_bind_int64(st, 1, doc_id);
    if ((r = rg_st_step_done(s, st, "deleting a document", err))) goto fail;
    if (sqlite3_changes(s->db) == 0) {
        r = rg_fail(err, RG_ENOTFOUND, "no document with id %lld", (long long)doc_id);
        goto fail;
    }
    if ((r = rg_st_bump_seq(s, err))) goto fail;
    return rg_st_exec(s, "COMMIT", "committing a delete", err);
fail:
    rg_st_abort_write(s);
    return r;
}

rg_status rg_store_delete_prefix(rg_store *s, int64_t collection_id, const char *prefix,
                                 size_t *n_deleted, rg_error *err)
{
    *n_deleted = 0;
    rg_status r = rg_st_begin_write(s, "starting a transaction", err);
    if (r) return r;
    sqlite3_stmt *st;
    /* substr() compares bytes exactly, unlike LIKE or GLOB, which would give
     * '%', '_', '*' and '[' in file names a meaning. */
    int rc = sqlite3_prepare_v2(s->db,
                                "DELETE FROM documents WHERE collection_id = ?1 AND "
                                "(source_uri = ?2 OR substr(source_uri, 1, length(?2) + 1) = "
                                "?2 || '/')",
                                -1, &st, NULL);
    if (rc != SQLITE_OK) {
        r = rg_st_fail(s, err, rc, "deleting documents");
        goto fail;
    }
    sqlite3_bind_int64(st, 1, collection_id);
    sqlite3_bind_text(st, 2, prefix, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        r = rg_st_fail(s, err, rc, "deleting documents");
        goto fail;
    }
    *n_deleted = (size_t)sqlite3_changes(s->db);
    if (*n_deleted && (r = rg_st_bump_seq(s, err))) goto fail;
    if ((r = exec_bound(s,
                        "DELETE FROM manifest WHERE collection_id = ?1 AND (source_uri = ?2 OR "
                        "substr(source_uri, 1, length(?2) + 1) = ?2 || '/')",
                        collection_id, prefix, "deleting manifest entries", err)))
        goto fail;
    return rg_st_exec(s, "COMMIT", "committing a delete", err);
fail:
    rg_st_abort_write(s);
    return r;
}

rg_status rg_store_collection_model(rg_store *s, int64_t collection_id, char *out, size_t cap,
                                    rg_error *err)
{
    sqlite3_stmt *st;
    out[0] = '\0';
    int rc = sqlite3_prepare_v2(s->db, "SELECT coalesce(model, '') FROM collections WHERE id = ?1",
                                -1, &st, NULL);
    if (rc != SQLITE_OK) return rg_st_fail(s, err, rc, "reading a collection");
    sqlite3_bind_int64(st, 1, collection_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
        return rg_fail(err, RG_ENOTFOUND, "no collection with id %lld", (long long)collection_id);
    return rc == SQLITE_ROW ? RG_OK : rg_st_fail(s, err, rc, "reading a collection");
}

rg_status rg_store_collection_bind(rg_store *s, int64_t collection_id, const char *model,
                                   rg_error *err)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db, "UPDATE collections SET model = ?2 WHERE id = ?1", -1, &st,
                                NULL);
    if (rc != SQLITE_OK) return rg_st_fail(s, err, rc, "binding a collection to a model");
    sqlite3_bind_int64(st, 1, collection_id);
    if (model) sqlite3_bind_text(st, 2, model, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? RG_OK : rg_st_fail(s, err, rc, "binding a collection to a model");
}

rg_status rg_store_collections(rg_store *s, rg_collection_info **out, size_t *n, rg_error *err)
{
    sqlite3_stmt *st;
    *out = NULL;
    *n = 0;
    int rc = sqlite3_prepare_v2(s->db, "SELECT id, name FROM collections ORDER BY id", -1, &st,
                                NULL);
    if (rc != SQLITE_OK) return rg_st_fail(s, err, rc, "listing collections");
    rg_status r = RG_OK;
    size_t cap = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            size_t c = cap ? cap * 2 : 8;
            rg_collection_info *p = rg_realloc(*out, c * sizeof *p);
            if (!p) {
                r = rg_fail(err, RG_ENOMEM, "out of memory listing collections");
                break;
            }
            *out = p;
            cap = c;
        }
        (*out)[*n].id = sqlite3_column_int64(st, 0);
        snprintf((*out)[*n].name, sizeof (*out)[*n].name, "%s",
                 (const char *)sqlite3_column_text(st, 1));
        (*n)++;
    }
    sqlite3_finalize(st);
    if (!r && rc != SQLITE_DONE) r = rg_st_fail(s, err, rc, "listing collections");
    if (r) {
        rg_free(*out);
        *out = NULL;
        *n = 0;
    }
    return r;
}
