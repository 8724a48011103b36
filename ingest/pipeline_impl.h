/*
 * pipeline_impl.h — inside ingest/pipeline: what its three files share.
 * pipeline.c runs ingestion and sync (loaders, writer, manifest, deletes);
 * walk.c finds the files (directories, globs, roots) and reads them;
 * ingest_doc.c writes one document with its chunks and vectors. Not a
 * public header: only those files include it.
 */
#ifndef RG_PIPELINE_IMPL_H
#define RG_PIPELINE_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "ingest/pipeline.h"

/* A file found by the walk. */
typedef struct rg_walk_file {
    char *path; /* absolute, owned */
    int64_t size;
    int64_t mtime;    /* seconds */
    int64_t mtime_ns; /* nanoseconds */
    int explicit_arg; /* named on the command line, not found in a directory */
} rg_walk_file;

typedef struct rg_walk {
    rg_walk_file *files;
    size_t n, cap;
    const rg_ingest_options *opt;
} rg_walk;

/*
 * Adds the files under paths (directories walked, files taken as named) to
 * w, which owns them until rg_walk_free. Paths outside w->opt->root fail.
 */
rg_status rg_walk_collect(rg_walk *w, const char *const *paths, size_t n_paths, rg_error *err);
void rg_walk_free(rg_walk *w);

/* Orders rg_walk_files by path (qsort); rg_walk_has needs w->files so sorted. */
int rg_walk_path_cmp(const void *a, const void *b);
/* 1 if path is one of the walk's files. */
int rg_walk_has(const rg_walk *w, const char *path);

/* Reads a whole regular file of at most RG_LOADER_MAX_FILE_BYTES into a
 * NUL-terminated buffer the caller frees. */
rg_status rg_walk_read_file(const char *path, char **data, size_t *len, rg_error *err);

/*
 * Writes doc with its chunks (chunks[0..n)) as source_uri in one
 * transaction, then its vectors: vecs (n * dim floats, already embedded) or,
 * when vecs is NULL, embedded now from the store. Should embedding fail or
 * the process die after the commit, the next attach reconciles the vectors.
 */
rg_status rg_ingest_write_document(rg_store *s, rg_dense *dense, int64_t collection_id,
                                   const char *source_uri, const rg_document *doc,
                                   const rg_chunk *chunks, size_t n, const char *content_hash,
                                   int64_t size, const char *metadata_json, const float *vecs,
                                   rg_error *err);

/*
 * The metadata JSON of one file: the run's pairs plus "modified", and "pii"
 * (pii may be NULL) when masking is on. Caller frees.
 */
char *rg_ingest_file_metadata(const rg_ingest_options *o, int64_t mtime, const rg_pii_counts *pii);

#endif
