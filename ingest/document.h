/*
 * document.h — a loaded document: normalised text plus its structure.
 *
 * Loaders (loader.h) do not build text directly; they emit blocks (a heading,
 * a paragraph, a list item, a table cell, a code block) into an rg_doc_builder.
 * rg_doc_builder_finish normalises each block (normalize.h) and joins them
 * into one text, separated by blank lines, recording every block's byte span
 * in that final text. Byte offsets everywhere in ragd (chunks, citations)
 * refer to this normalised text.
 */
#ifndef RG_DOCUMENT_H
#define RG_DOCUMENT_H

#include <stddef.h>

#include "engine/base/buf.h"
#include "engine/base/status.h"
#include "ingest/pii.h"

/* A document larger than this (normalised) is rejected with RG_ELIMIT. */
#define RG_DOC_MAX_BYTES (64u << 20)
/* At most this many blocks per document. */
#define RG_DOC_MAX_BLOCKS 1000000u
/* Titles longer than this (normalised) are cut at a character boundary. */
#define RG_DOC_MAX_TITLE_BYTES 1024u
/* Page numbers run 1..RG_DOC_MAX_PAGES (rg_doc_begin_page). */
#define RG_DOC_MAX_PAGES 1000000u
/* Heading levels 1..6 as in Markdown and HTML. */
#define RG_HEADING_MAX_LEVEL 6

typedef enum rg_block_kind {
    RG_BLOCK_PARAGRAPH, /* prose; whitespace is collapsed */
    RG_BLOCK_HEADING,   /* a section title; level 1..6 */
    RG_BLOCK_LIST_ITEM, /* prose */
    RG_BLOCK_TABLE_ROW, /* cells joined with " | " by the loader */
    RG_BLOCK_CODE,      /* preformatted: line breaks and indentation kept */
} rg_block_kind;

typedef struct rg_block {
    rg_block_kind kind;
    int level;    /* heading level, 0 for other blocks */
    size_t start; /* byte span in rg_document.text */
    size_t end;
    long section;  /* index of the heading block this block belongs to (a heading's
                      own index for a heading), -1 if none */
    unsigned page; /* 1-based page the block starts on; 0 in documents without pages */
} rg_block;

typedef struct rg_document {
    char *title;      /* owned; NUL-terminated; may be "" but never NULL after finish */
    char *text;       /* owned; normalised UTF-8, NUL-terminated */
    size_t len;       /* bytes in text */
    rg_block *blocks; /* owned; in text order */
    size_t n_blocks;
    const char *media_type; /* static string, e.g. "text/markdown" */
    const struct rg_loader *loader; /* static: the loader that made it (NULL: built directly) */
} rg_document;

typedef struct rg_doc_builder rg_doc_builder;

/* Creates a builder. Returns NULL on allocation failure. */
rg_doc_builder *rg_doc_builder_new(void);
void rg_doc_builder_free(rg_doc_builder *b);

/*
 * Masks personal data (pii.h types; 0: none) in every block and title added
 * after the call: the builder keeps only the masked copy, so no block,
 * offset, title or chunk built from it holds an original value, whatever
 * the file's format (compressed PDF streams, DOCX, encoded e-mail parts).
 * Matches in blocks are added to *counts (may be NULL; borrowed until
 * finish); the title is masked but not counted (it mostly repeats a line).
 */
void rg_doc_builder_mask(rg_doc_builder *b, unsigned pii_types, rg_pii_counts *counts);

/* The JSON loaders' field lists for this load (loader.h), borrowed; NULL: the process's. */
struct rg_json_fields;
void rg_doc_builder_set_json_fields(rg_doc_builder *b, const struct rg_json_fields *f);
const struct rg_json_fields *rg_doc_builder_json_fields(const rg_doc_builder *b);

/*
 * Adds a block of raw (not yet normalised) UTF-8 text; the builder copies it.
 * Empty blocks (after normalisation) are dropped. level is used for headings
 * only (clamped to 1..RG_HEADING_MAX_LEVEL). Prose blocks are normalised with
 * RG_WS_COLLAPSE; code blocks with RG_WS_KEEP, then stripped of leading blank
 * lines and trailing white space. RG_ELIMIT past RG_DOC_MAX_BLOCKS blocks.
 */
rg_status rg_doc_add(rg_doc_builder *b, rg_block_kind kind, int level, const char *text, size_t len,
                     rg_error *err);
/*
 * For paged formats (PDF): blocks added from now on belong to page (1-based).
 * Pages only go forward: page must be at least the current one, else
 * RG_EINVAL; RG_ELIMIT past RG_DOC_MAX_PAGES. A document whose loader never
 * calls this has page 0 on every block.
 */
rg_status rg_doc_begin_page(rg_doc_builder *b, unsigned page, rg_error *err);
/* Sets the title (raw UTF-8, normalised on finish). Later calls replace it. */
rg_status rg_doc_set_title(rg_doc_builder *b, const char *title, size_t len, rg_error *err);
/* True once a title has been set. */
int rg_doc_has_title(const rg_doc_builder *b);

/*
 * Normalises and joins the blocks into doc (which the caller then owns and
 * releases with rg_document_free). When no title was set, the first heading
 * becomes the title. The builder is left empty and may be reused or freed.
 * doc->media_type is set to "text/plain"; loaders overwrite it. On error
 * (RG_EUTF8, RG_ELIMIT past RG_DOC_MAX_BYTES, RG_ENOMEM) doc is untouched
 * and the builder keeps its blocks.
 */
rg_status rg_doc_builder_finish(rg_doc_builder *b, rg_document *doc, rg_error *err);

/*
 * Pages of a finished document: the page of its last block, 0 when it is not
 * paged. Pages after the last text are not counted (nothing can cite them).
 */
unsigned rg_doc_page_count(const rg_document *doc);
/*
 * Fills starts[0..n) (n = rg_doc_page_count) with the byte offset in text at
 * which pages 1..n start. A page without text starts where the next page's
 * text does, so "the last start <= offset" finds the page of any offset.
 */
void rg_doc_page_starts(const rg_document *doc, size_t *starts, unsigned n);

/* Releases what doc owns and zeroes it; safe on a zeroed document. */
void rg_document_free(rg_document *doc);

#endif
