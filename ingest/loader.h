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
    /*
     * Reads data[0..n) into b. data is not NUL-terminated. Messages do not
     * name the file: rg_load_buffer puts "PATH: " in front of them.
     */
    rg_status (*load)(const char *path, const char *data, size_t n, rg_doc_builder *b,
                      rg_error *err);
} rg_loader;

/*
 * Plain text (.txt, .text, and files without an extension that do not look
 * like HTML): paragraphs are separated by blank lines; when the first
 * paragraph is a single line of at most RG_TEXT_TITLE_MAX_BYTES it is also
 * the title (and stays in the text).
 */
extern const rg_loader rg_loader_text;
/*
 * Markdown (.md, .markdown, .mdown, .mkd), CommonMark block structure plus
 * GFM tables: ATX/setext headings, fenced and indented code, list items,
 * table rows, paragraphs. Inline markup is removed (emphasis, links → their
 * text, images → alt text, HTML tags and comments); YAML front matter gives
 * the title (`title:`), the rest of it is dropped. Block quotes lose their
 * markers and keep their blocks.
 */
extern const rg_loader rg_loader_markdown;
/*
 * HTML (.html, .htm, .xhtml, or content that starts like HTML), parsed with
 * libxml2's forgiving HTML parser. script, style, nav, noscript, template,
 * head (except <title>), svg, iframe, object and canvas are dropped. The
 * title is <title>, else the first <h1>, else the first heading. A <meta>
 * charset other than UTF-8 is honoured when libxml2 can convert it (else
 * RG_EUNSUPPORTED); without one the input must be UTF-8. Images are dropped
 * (alt text too).
 */
extern const rg_loader rg_loader_html;

/* A plain-text first line up to this long becomes the title. */
#define RG_TEXT_TITLE_MAX_BYTES 120u

/*
 * The loader for this file, or NULL if none applies. A known extension
 * decides; a file without one is sniffed (HTML or plain text); any other
 * extension gives NULL. data may be NULL with n == 0 to ask by name only
 * (a file without an extension then counts as plain text).
 */
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

/*
 * Reads the file at path and calls rg_load_buffer. RG_ENOTFOUND, RG_EIO too;
 * RG_EINVAL for something that is not a regular file.
 */
rg_status rg_load_file(const char *path, rg_document *doc, rg_error *err);

/* Helpers for loader implementations */

/* RG_OK, or RG_EUTF8 with "invalid UTF-8 at byte N" (N counted from data). */
rg_status rg_loader_check_utf8(const char *data, size_t n, rg_error *err);
/* 3 when data starts with a UTF-8 byte order mark, else 0. */
size_t rg_loader_bom_len(const char *data, size_t n);
/*
 * 1 if the extension of path (after the last '.' of the last component, a
 * leading '.' does not count) is one of exts (NULL-terminated, lower case,
 * no dots), compared case-insensitively. rg_path_has_no_ext: 1 when path is
 * NULL or has no extension.
 */
int rg_path_has_ext(const char *path, const char *const *exts);
int rg_path_has_no_ext(const char *path);
/*
 * Line iteration: the next line of data[*pos..n) without its line end
 * (\n, \r\n or \r) in *line and *len; advances *pos. Returns 0 at the end.
 */
int rg_next_line(const char *data, size_t n, size_t *pos, const char **line, size_t *len);

#endif
