/*
 * pipeline.h — ingesting files into the store.
 *
 * rg_ingest_paths walks the given files and directories (recursively, in
 * sorted order, skipping hidden entries), applies include/exclude globs,
 * loads each file (loader.h), chunks it (chunker.h) and writes it with its
 * chunks in one transaction (store.h). A file whose content hash matches the
 * stored document is left alone; a changed file replaces its chunks. Each
 * failed file is reported through the callback and counted; the run goes on.
 *
 * A file is skipped without being read when the manifest (store.h) holds
 * the same size, nanosecond mtime, settings hash and PII types for it and
 * its document is stored; otherwise its bytes are hashed and it is re-chunked only when
 * they or the settings changed. The settings hash covers what shapes the
 * chunks and vectors: the loaders' version, chunk size and overlap, the
 * token counter (the encoder's model or the approximation). PII masking is
 * not part of it: masking happens before hashing, so turning it on or off
 * updates exactly the files whose masked bytes differ.
 *
 * With sync set, the given paths are the whole source: documents of the
 * collection that lie under a given folder (or are a given file) and were
 * not found by the walk are deleted, from SQLite and the vector index. With
 * dry_run, nothing is written; the callback reports what would happen.
 *
 * rg_ingest_document is the same last step for text that does not come from
 * a file (evaluation corpora, API uploads).
 */
#ifndef RG_PIPELINE_H
#define RG_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/base/status.h"
#include "index/dense.h"
#include "index/store.h"
#include "ingest/chunker.h"
#include "ingest/document.h"
#include "ingest/pii.h"

/* At most this many metadata pairs per run, and the longest key. */
#define RG_INGEST_MAX_META 32
#define RG_META_KEY_MAX 64
/* 1 if key is a valid metadata key. */
int rg_meta_key_valid(const char *key);

/* At most this many include or exclude globs each. */
#define RG_INGEST_MAX_GLOBS 64
/* Directories deeper than this below a given path are not entered. */
#define RG_INGEST_MAX_DEPTH 64
/*
 * A long run saves the vector index this often, bounding the work a crash
 * loses; and at most once per RG_INGEST_SAVE_FACTOR times the last save's
 * duration, since a save rewrites the whole file: without it a collection
 * of a million vectors (a 1.5 GB file) would spend a third of every minute
 * saving, with it saves stay under a tenth of the run.
 */
#define RG_INGEST_SAVE_SECONDS 60
#define RG_INGEST_SAVE_FACTOR  10
/* At most this many files in one run. */
#define RG_INGEST_MAX_FILES 10000000u
/*
 * Files prepared ahead of the writer (read, loaded, chunked): the bound on
 * what a run holds in memory besides the file list, whatever its size.
 */
#define RG_INGEST_QUEUE 16
/* Most loader threads a run starts. */
#define RG_INGEST_LOADERS_MAX 8
/* Most bytes of chunk text one embedding batch holds. */
#define RG_INGEST_BATCH_TEXT_MAX (256u << 20)

typedef enum rg_ingest_event {
    RG_INGEST_ADDED,
    RG_INGEST_UPDATED,
    RG_INGEST_UNCHANGED,
    RG_INGEST_SKIPPED, /* not a supported type, found while walking a directory */
    RG_INGEST_FAILED,
    RG_INGEST_DELETED, /* sync: the source is gone (or no longer selected) */
} rg_ingest_event;

typedef struct rg_ingest_stats {
    size_t files;     /* files considered */
    size_t added;
    size_t updated;
    size_t unchanged;
    size_t skipped;
    size_t failed;
    size_t deleted;   /* sync only */
    size_t chunks;    /* chunks written */
    uint64_t bytes;   /* bytes of files read */
    uint64_t total_bytes; /* bytes of all files to be read (known after the walk) */
    size_t total_files;
    double seconds;
    rg_pii_counts pii;    /* personal data masked in the files added or updated */
} rg_ingest_stats;

/*
 * The word a dry run's plan lists an event under: "add", "update" or
 * "delete"; NULL for events that change nothing.
 */
const char *rg_ingest_plan_word(rg_ingest_event ev);

/* Called after each file; err is set for RG_INGEST_FAILED (and SKIPPED). */
typedef void (*rg_ingest_fn)(void *ctx, const char *path, rg_ingest_event ev,
                             const rg_error *err, const rg_ingest_stats *so_far);

typedef struct rg_ingest_options {
    const char *collection;   /* default RG_DEFAULT_COLLECTION */
    const char *const *include; /* fnmatch globs against the path and the base name */
    size_t n_include;
    const char *const *exclude;
    size_t n_exclude;
    rg_chunk_options chunk;
    /*
     * Borrowed; NULL for lexical-only ingestion. With it, chunks are sized in
     * the encoder's tokens, embedded as they are written, and the vector file
     * is saved at the end of the run (and every RG_INGEST_SAVE_SECONDS).
     */
    rg_dense *dense;
    /*
     * Metadata given to every document of the run: n_meta key/value pairs
     * (keys of RG_META_KEY_MAX bytes of [A-Za-z0-9_.-]). Each document also
     * gets "modified" (the file's mtime, Unix seconds), which date filters use.
     */
    const char *const *meta_keys;
    const char *const *meta_values;
    size_t n_meta;
    rg_ingest_fn on_file;     /* may be NULL */
    void *ctx;
    /*
     * A real path (no symlinks) or NULL. When set, every path given and every
     * file and folder found must resolve inside it: a path outside is
     * RG_EINVAL, and a symlink found in a walk that leads outside is skipped
     * (with a warning), so a served folder cannot be used to read others.
     */
    const char *root;
    /*
     * Personal data to mask (a set of RG_PII_BIT types from pii.h; 0, the
     * default, masks nothing). Each file's bytes are masked before the loader
     * parses them, so titles, blocks and their offsets all come from the
     * masked text and no original value reaches the chunks, vectors or
     * store. The document's content hash is then the hash of the masked
     * bytes (switching masking on re-ingests files that had matches), and
     * its metadata gets "pii": the per-type counts, {} when nothing matched.
     */
    unsigned pii_types;
    /*
     * Threads that read, load and chunk files while the calling thread
     * embeds and writes (0: one on up to two cores, else half the cores;
     * at most RG_INGEST_LOADERS_MAX). The calling thread takes the files in
     * walk order and embeds the chunks of several documents per batch.
     */
    int loaders;
    /*
     * The member names the JSON and JSONL loaders read as text and as
     * titles (NULL-terminated lists; NULL: loader.h's defaults). They are
     * part of the settings a sync compares, apart from those that shape
     * chunks: changing them re-reads every file but re-chunks only those
     * whose loaded text changes (the JSON files that have the fields).
     */
    const char *const *json_text_fields;
    const char *const *json_title_fields;
    int sync;    /* delete what the walk no longer finds (see the top of this file) */
    int dry_run; /* change nothing; report through on_file what would change */
} rg_ingest_options;

/*
 * Bumped whenever what every loader hands on changes (the document builder,
 * normalisation), so that sync reads every file again. A change to one
 * loader bumps that loader's own version (rg_loader.version) instead, and
 * sync reads again only the files that loader read.
 */
#define RG_INGEST_LOADERS_VERSION 1

/*
 * The settings hash of o (hex SHA-256, 65 bytes with the NUL) for the
 * collection's model (NULL or "" when chunks are counted without an encoder):
 * what shapes chunks. A run's manifest rows hold it, followed by "+j" and
 * 16 hex digits of the JSON field lists when they are not the defaults.
 */
void rg_ingest_settings_hash(const rg_ingest_options *o, const char *model, char out[65]);

rg_ingest_options rg_ingest_default_options(void);

/*
 * Ingests paths. Returns RG_OK when the run completed, even if some files
 * failed (see stats->failed); an error only for what stops the whole run
 * (a path that does not exist, the store failing, a bad option).
 */
rg_status rg_ingest_paths(rg_store *s, const char *const *paths, size_t n_paths,
                          const rg_ingest_options *opt, rg_ingest_stats *stats, rg_error *err);

/*
 * Chunks doc and writes it as source_uri in the collection, replacing any
 * document with that source. content_hash identifies the source bytes; size
 * is their length. With dense (may be NULL; the collection must be attached)
 * the old chunks' vectors are dropped and the new chunks embedded. *n_chunks
 * (may be NULL) receives the chunk count.
 */
rg_status rg_ingest_document(rg_store *s, rg_dense *dense, int64_t collection_id,
                             const char *source_uri, const rg_document *doc,
                             const char *content_hash, int64_t size, const char *metadata_json,
                             const rg_chunk_options *chunk, size_t *n_chunks, rg_error *err);

/*
 * Chunk options that count tokens with the encoder's tokenizer (target and
 * overlap from base) when enc is not NULL; base unchanged otherwise.
 */
rg_chunk_options rg_ingest_chunk_options(rg_chunk_options base, const rg_encoder *enc);

#endif
