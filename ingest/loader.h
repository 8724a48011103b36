/*
 * loader.h — turning files into documents.
 *
 * A loader is a const struct of functions, like SQLite's sqlite3_vfs: it says
 * whether it can read a file (by extension and a sniff of the content) and
 * reads it into an rg_doc_builder. rg_load_file picks the loader, enforces
 * the size limit, rejects binary content, and finishes the document.
 */
#ifndef RG_LOADER_H
#define RG_LOADER_H

#include <stddef.h>

#include "engine/base/status.h"
#include "ingest/document.h"

/* Files larger than this are refused with RG_ELIMIT before reading. */
#define RG_LOADER_MAX_FILE_BYTES (64u << 20)

typedef struct rg_loader {
    const char *name;       /* "text", "markdown", "html" */
    const char *media_type; /* "text/plain", "text/markdown", "text/html" */
    /* 1 if this loader handles the file; path may be used for its extension. */
    int (*can_load)(const char *path, const char *data, size_t n);
    /* Reads data[0..n) into b. data is not NUL-terminated. */
    rg_status (*load)(const char *path, const char *data, size_t n, rg_doc_builder *b,
                      rg_error *err);
} rg_loader;

extern const rg_loader rg_loader_text;
extern const rg_loader rg_loader_markdown;
extern const rg_loader rg_loader_html;

/* The loader for this file, or NULL if none applies. */
const rg_loader *rg_loader_find(const char *path, const char *data, size_t n);

/*
 * 1 if data looks binary: a NUL byte in the first 8 KiB, or a large share of
 * control bytes, or a known binary signature (PDF, ZIP, PNG, ELF...).
 */
int rg_looks_binary(const char *data, size_t n);

/*
 * Loads data[0..n) (the content of path) into doc with the right loader.
 * Errors: RG_EBINARY, RG_EUTF8 (message names path and byte offset),
 * RG_EUNSUPPORTED, RG_ELIMIT, RG_EPARSE, RG_ENOMEM. On error doc is untouched.
 */
rg_status rg_load_buffer(const char *path, const char *data, size_t n, rg_document *doc,
                         rg_error *err);

/* Reads the file at path and calls rg_load_buffer. RG_ENOTFOUND, RG_EIO too. */
rg_status rg_load_file(const char *path, rg_document *doc, rg_error *err);

#endif
