/*
 * store.h — the SQLite store: collections, documents, chunks and the
 * ingestion manifest, the source of truth for every index ragd keeps.
 *
 * One database file, <data dir>/ragd.db, in WAL mode with foreign keys on
 * and a busy timeout. The schema is versioned (PRAGMA user_version) and
 * migrated forward on open. Every document is written in one transaction:
 * its row, its chunks and their FTS5 entries appear together or not at all.
 * SQLite's result codes are translated here into rg_status with messages;
 * nothing above this module sees a raw SQLite error.
 *
 * A handle is used by one thread at a time.
 */
#ifndef RG_STORE_H
#define RG_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "engine/base/buf.h"
#include "engine/base/status.h"

#define RG_STORE_DB_FILE "ragd.db"
/* Schema version this build writes; older databases are migrated. */
#define RG_STORE_SCHEMA_VERSION 4
#define RG_COLLECTION_NAME_MAX 64
#define RG_DEFAULT_COLLECTION "default"

typedef struct rg_store rg_store;

typedef struct rg_store_options {
    int create;          /* create the data dir and database if missing (default 1) */
    int stemming;        /* new databases only: Porter stemming for English (default 1) */
    int busy_timeout_ms; /* default 5000 */
} rg_store_options;

rg_store_options rg_store_default_options(void);

/*
 * Opens (and with create, makes) the store in data_dir. Errors: RG_ENOTFOUND
 * (no store and create is 0), RG_ECORRUPT (not a ragd database, damaged, or a
 * newer schema), RG_EIO, RG_EBUSY. *out is owned by the caller.
 */
rg_status rg_store_open(const char *data_dir, const rg_store_options *opt, rg_store **out,
                        rg_error *err);
void rg_store_close(rg_store *s);
/*
 * Checks the database: SQLite's quick_check, FTS5's integrity-check of the
 * lexical index, and that the lexical index holds exactly the chunks (no
 * chunk missing, no row left from a deleted one). RG_ECORRUPT names what
 * is wrong.
 */
rg_status rg_store_verify(rg_store *s, rg_error *err);
/* The data directory s was opened on (for a second connection to it). */
const char *rg_store_dir(const rg_store *s);

/* The connection, for other index/ modules. Owned by the store. */
sqlite3 *rg_store_db(rg_store *s);
/* The FTS5 tokenize= spec of chunks_fts ("porter ragd" or "ragd"). Owned by the store. */
const char *rg_store_tokenize_spec(const rg_store *s);
/* Increases with every committed change to documents or chunks. */
rg_status rg_store_change_seq(rg_store *s, int64_t *seq, rg_error *err);

/* Collections ---------------------------------------------------------- */

/* Name rules: 1..RG_COLLECTION_NAME_MAX bytes of [A-Za-z0-9_.-]. */
int rg_collection_name_valid(const char *name);
/* Finds the collection's id; with create, makes it when missing. RG_ENOTFOUND otherwise. */
rg_status rg_store_collection(rg_store *s, const char *name, int create, int64_t *id,
                              rg_error *err);

/*
 * The embedding model a collection is bound to, copied into out ("" when the
 * collection has no vectors yet).
 */
rg_status rg_store_collection_model(rg_store *s, int64_t collection_id, char *out, size_t cap,
                                    rg_error *err);
/* Binds the collection to model (NULL unbinds, for reindexing). */
rg_status rg_store_collection_bind(rg_store *s, int64_t collection_id, const char *model,
                                   rg_error *err);

/* A collection's id and name, for listing. */
typedef struct rg_collection_info {
    int64_t id;
    char name[RG_COLLECTION_NAME_MAX + 1];
} rg_collection_info;

/* All collections, by id. *out is owned by the caller (rg_free). */
rg_status rg_store_collections(rg_store *s, rg_collection_info **out, size_t *n, rg_error *err);

/* Documents ------------------------------------------------------------ */

typedef struct rg_doc_meta {
    int64_t collection_id;
    const char *source_uri;   /* unique within the collection (path or external id) */
    const char *title;
    const char *media_type;
    const char *content_hash; /* SHA-256 hex of the source bytes */
    int64_t size;             /* bytes of the source */
    const char *metadata_json; /* a JSON object, or NULL for {}; its "acl": {"users": [...],
                                  "groups": [...]} becomes the document's access list
                                  (search.h: rg_reader); an empty list admits no one */
    const char *text;          /* the normalised document text */
    size_t text_len;
} rg_doc_meta;

typedef struct rg_chunk_row {
    size_t byte_start; /* span in rg_doc_meta.text */
    size_t byte_end;
    size_t token_count;
    const char *section; /* heading the chunk falls under, or NULL */
} rg_chunk_row;

/*
 * Inserts the document, or replaces the one with the same (collection,
 * source_uri): old chunks and their index entries go, new ones come, all in
 * one transaction. *doc_id (may be NULL) receives the document id.
 */
rg_status rg_store_put_document(rg_store *s, const rg_doc_meta *doc, const rg_chunk_row *chunks,
                                size_t n_chunks, int64_t *doc_id, rg_error *err);

/*
 * Looks up (collection, source_uri). *found is 0 when absent; otherwise
 * *doc_id and hash (65 bytes, may be NULL) are filled.
 */
rg_status rg_store_find_document(rg_store *s, int64_t collection_id, const char *source_uri,
                                 int *found, int64_t *doc_id, char hash[65], rg_error *err);

/*
 * Records new source bytes whose text is what the document already holds:
 * its content hash and size change, nothing else (no change sequence bump:
 * no index sees them).
 */
rg_status rg_store_set_document_hash(rg_store *s, int64_t doc_id, const char *content_hash,
                                     int64_t size, rg_error *err);

/* Deletes a document with its chunks. RG_ENOTFOUND if there is none. */
rg_status rg_store_delete_document(rg_store *s, int64_t doc_id, rg_error *err);

/*
 * Deletes every document of the collection whose source_uri equals prefix or
 * starts with prefix followed by '/'. *n_deleted receives the count.
 */
rg_status rg_store_delete_prefix(rg_store *s, int64_t collection_id, const char *prefix,
                                 size_t *n_deleted, rg_error *err);

typedef struct rg_store_counts {
    int64_t collections;
    int64_t documents;
    int64_t chunks;
} rg_store_counts;

/* Counts for one collection, or for all when collection_id is 0. */
rg_status rg_store_counts_get(rg_store *s, int64_t collection_id, rg_store_counts *out,
                              rg_error *err);

/*
 * Who reads, for the document views below: a document with an access list
 * (rg_doc_meta.metadata_json "acl") is seen only by the user it names or a
 * member of a group it names. groups_json is a JSON array of group names.
 * A NULL view means no access check (local use).
 */
typedef struct rg_store_reader {
    const char *user;
    const char *groups_json;
} rg_store_reader;

/* rg_store_counts_get for one collection, counting only what rd may read. */
rg_status rg_store_counts_readable(rg_store *s, int64_t collection_id, const rg_store_reader *rd,
                                   rg_store_counts *out, rg_error *err);

/* One document as the documents API shows it. Strings owned: rg_doc_row_free. */
typedef struct rg_doc_row {
    int64_t id;
    char *source_uri;
    char *title;
    char *media_type;
    char *metadata;   /* JSON object */
    char *text;       /* only from rg_store_document_get, else NULL */
    char *collection; /* the collection's name */
    int64_t size;
    int64_t updated_at;
    int64_t chunks;
} rg_doc_row;

void rg_doc_row_free(rg_doc_row *r);

/* Longest page rg_store_documents returns. */
#define RG_STORE_PAGE_MAX 1000

/*
 * Documents of a collection that rd may read, by id, after after_id, at
 * most limit (1..RG_STORE_PAGE_MAX). *rows: rg_doc_rows_free.
 */
rg_status rg_store_documents(rg_store *s, int64_t collection_id, const rg_store_reader *rd,
                             int64_t after_id, size_t limit, rg_doc_row **rows, size_t *n,
                             rg_error *err);
void rg_doc_rows_free(rg_doc_row *rows, size_t n);

/*
 * One document of the collection (0: of any) with its text, if rd may read it;
 * RG_ENOTFOUND otherwise (whether it does not exist or may not be read).
 */
rg_status rg_store_document_get(rg_store *s, int64_t collection_id, int64_t doc_id,
                                const rg_store_reader *rd, rg_doc_row *out, rg_error *err);

/* Chunks for display ---------------------------------------------------- */

/* Page starts one chunk view records (a chunk is a few hundred tokens). */
#define RG_CHUNK_PAGE_BREAKS_MAX 32

/* A chunk with its document's fields. Strings are owned by the view. */
typedef struct rg_chunk_view {
    int64_t chunk_id;
    int64_t doc_id;
    int64_t collection_id;
    int64_t ordinal;
    int64_t byte_start;
    int64_t byte_end;
    char *text;
    size_t text_len;
    char *section; /* "" if none */
    char *title;
    char *source_uri;
    char *collection; /* collection name */
    int64_t page;     /* 1-based page the chunk starts on, from the document metadata's
                         "pages" (ingest/pipeline.c); 0 for documents without pages */
    /* document offsets where later pages start inside the chunk, ascending
     * (the first RG_CHUNK_PAGE_BREAKS_MAX: a chunk spans a few pages at most) */
    int64_t page_breaks[RG_CHUNK_PAGE_BREAKS_MAX];
    size_t n_page_breaks;
} rg_chunk_view;

rg_status rg_store_chunk_get(rg_store *s, int64_t chunk_id, rg_chunk_view *out, rg_error *err);
void rg_chunk_view_free(rg_chunk_view *v);

/* The collection id of a chunk (0 when the chunk does not exist). For filters. */
int64_t rg_store_chunk_collection(rg_store *s, int64_t chunk_id);

/* Source URI of each document id is what eval maps hits to; this returns the
 * document's source_uri for a chunk id into out (size cap), "" if missing. */
rg_status rg_store_chunk_source(rg_store *s, int64_t chunk_id, char *out, size_t cap,
                                rg_error *err);

/*
 * Chunk ids, ascending: of one document (doc_id > 0) or of one collection
 * (doc_id == 0). *ids is owned by the caller (rg_free); NULL when *n is 0.
 */
rg_status rg_store_chunk_ids(rg_store *s, int64_t collection_id, int64_t doc_id, int64_t **ids,
                             size_t *n, rg_error *err);

/* Chunk ids of the collection above after, ascending: the chunks added
 * since a reader saw after (chunk ids only grow). Ownership as above. */
rg_status rg_store_chunk_ids_after(rg_store *s, int64_t collection_id, int64_t after, int64_t **ids,
                                   size_t *n, rg_error *err);

/*
 * The deletion log: every deleted chunk's id, appended by a trigger in the
 * deleting transaction (the newest RG_STORE_DELETION_LOG_MAX kept), so that
 * a reader follows deletions without listing every chunk.
 * rg_store_deletion_pos gives its current position (0: empty): read it
 * before a full listing of chunk ids, then follow from there.
 * rg_store_deletions_since gives the ids deleted after *pos, in order, and
 * moves *pos past them; *complete is 0 (and nothing read) when entries
 * after *pos have been dropped since, and the reader must compare whole id
 * sets instead. *ids as above.
 */
#define RG_STORE_DELETION_LOG_MAX 1000000
rg_status rg_store_deletion_pos(rg_store *s, int64_t *pos, rg_error *err);
rg_status rg_store_deletions_since(rg_store *s, int64_t *pos, int64_t **ids, size_t *n,
                                   int *complete, rg_error *err);

/*
 * The text an encoder embeds for a chunk: the document title, a line break,
 * then the chunk text (titles carry much of a passage's topic). Appended to
 * out; RG_ENOTFOUND for an unknown chunk.
 */
rg_status rg_store_chunk_embed_text(rg_store *s, int64_t chunk_id, rg_buf *out, rg_error *err);

/* Manifest -------------------------------------------------------------- */

/* One source's last ingestion, as rg_store_manifest_put records it. */
/* Longest settings description a manifest row keeps (pipeline.h writes them). */
#define RG_STORE_SETTINGS_MAX 96

typedef struct rg_manifest_entry {
    const char *source_uri;
    int64_t size;
    int64_t mtime_ns;          /* modification time, nanoseconds since the epoch */
    const char *content_hash;  /* of the (masked) bytes; NULL or "" when unknown */
    const char *settings_hash; /* of the ingestion settings (pipeline.h); NULL or "" */
    const char *status;        /* "ok", "unchanged" or "error" */
    const char *message;       /* the error, or NULL */
    unsigned pii_types;        /* the personal data masked (pii.h bits), 0 for none */
} rg_manifest_entry;

/* Records the outcome of ingesting one source (insert or replace). */
rg_status rg_store_manifest_put(rg_store *s, int64_t collection_id, const rg_manifest_entry *e,
                                rg_error *err);

/* A manifest row as read back, with the hash of the stored document. */
typedef struct rg_manifest_row {
    int64_t size;
    int64_t mtime_ns;
    char content_hash[65];
    char settings_hash[RG_STORE_SETTINGS_MAX + 1];
    char status[16];
    char document_hash[65]; /* content hash of the stored document; "" if there is none */
    unsigned pii_types;
} rg_manifest_row;

/* The manifest row of (collection, source_uri); *found is 0 when there is none. */
rg_status rg_store_manifest_get(rg_store *s, int64_t collection_id, const char *source_uri,
                                rg_manifest_row *out, int *found, rg_error *err);

/*
 * Every source of the collection, documents and manifest rows alike (a file
 * that failed has only the latter), that equals prefix or lies below
 * prefix + '/', sorted by strcmp. *uris (owned: rg_store_sources_free) is
 * NULL when *n is 0.
 */
rg_status rg_store_sources_under(rg_store *s, int64_t collection_id, const char *prefix,
                                 char ***uris, size_t *n, rg_error *err);
void rg_store_sources_free(char **uris, size_t n);

/*
 * Deletes the document of source_uri (with its chunks) and its manifest row
 * in one transaction. *removed is 1 when a document went.
 */
rg_status rg_store_forget_source(rg_store *s, int64_t collection_id, const char *source_uri,
                                 int *removed, rg_error *err);

#endif
