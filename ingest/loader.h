/*
 * loader.h — turning files into documents.
 *
 * A loader is a const struct of functions, like SQLite's sqlite3_vfs: it says
 * whether it can read a file (by extension and a sniff of the content) and
 * reads it into an rg_doc_builder. rg_load_file picks the loader, enforces
 * the size limit, rejects binary content, and finishes the document.
 *
 * Where the name does not say what a file is (no extension, or one no
 * loader knows), its content does: libmagic's MIME type is looked up in a
 * table in loader.c that maps types to loader names.
 */
#ifndef RG_LOADER_H
#define RG_LOADER_H

#include <stddef.h>

#include "engine/base/status.h"
#include "ingest/document.h"

/* Files larger than this are refused with RG_ELIMIT before reading. */
#define RG_LOADER_MAX_FILE_BYTES (64u << 20)
/* Longest MIME type rg_loader_detect_type reports. */
#define RG_MIME_MAX 128
/* PDF limits (RG_ELIMIT beyond): pages, decoded content streams of one page
 * (forms included, each time one is drawn) and of the whole file, and
 * extracted text. Other work counts against the two content limits as a
 * fixed number of bytes (loader_pdf.c: a resource looked up, a font
 * decoded, a form drawn), so a small file cannot make unbounded work or
 * memory out of forms drawing forms. The fuzz build lowers the two content
 * limits (meson.build): a 64 KiB input that draws forms within forms
 * reaches them, and at these sizes such an input took up to 2 s under ASan
 * and drawing forms took 56% of the PDF fuzzer's time (288 executions/s;
 * 735/s with 256 KiB and 1 MiB, from the same corpus; 64 KiB and 256 KiB
 * since). */
#define RG_PDF_MAX_PAGES 10000u
#ifndef RG_PDF_MAX_PAGE_CONTENT_BYTES
#define RG_PDF_MAX_PAGE_CONTENT_BYTES (32u << 20)
#endif
#ifndef RG_PDF_MAX_CONTENT_BYTES
#define RG_PDF_MAX_CONTENT_BYTES (512u << 20)
#endif
#define RG_PDF_MAX_TEXT_BYTES         RG_DOC_MAX_BYTES

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
    /*
     * 1 at first; bumped (up to RG_LOADER_VERSION_MAX) whenever the text
     * this loader makes of the same bytes changes. Sync records it per file
     * and reads again only the files of a loader whose version moved.
     */
    int version;
} rg_loader;

#define RG_LOADER_VERSION_MAX 999

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
/*
 * PDF (.pdf whose content has a %PDF- header, or such content under another
 * name, see rg_loader_find): the text layer, read with qpdf; scanned pages
 * without text give nothing (no OCR). Each line group becomes a paragraph
 * block on its page (rg_doc_begin_page), so citations can name the page.
 * Text is decoded through the fonts' /ToUnicode CMaps (CID fonts, CJK) or
 * their encodings (WinAnsi, MacRoman, Standard, /Differences); codes with no
 * known meaning are left out. Form XObjects are followed. The title is
 * /Info /Title, else the first line. A PDF that needs a password is
 * RG_EUNSUPPORTED "encrypted PDF (password required)" (one with an empty
 * user password opens); a damaged one that qpdf cannot repair is RG_EPARSE
 * with qpdf's words.
 */
extern const rg_loader rg_loader_pdf;
/*
 * Word (.docx, or a file without an extension that is a zip holding
 * word/document.xml): word/document.xml read with libzip and libxml2.
 * Paragraphs are the text of their w:t runs (w:tab → tab, w:br/w:cr → line
 * break, deleted text and field codes left out); a paragraph whose style is
 * Heading1..6 or Title, or whose style's name in word/styles.xml is
 * "heading N" or "Title", or that has an outline level, is a heading (Title
 * and outline level 0 are level 1; 7..9 count as 6); one with w:numPr (its
 * own or its style's) is a list item. Each table row (w:tr) is one table
 * row block, cells joined with " | "; the text of a nested table joins its
 * cell, separated by spaces. The title is dc:title of docProps/core.xml,
 * else the first heading. An OLE compound file (Word's container for a
 * password-protected document, or a legacy .doc) or a zip without
 * word/document.xml gives RG_EUNSUPPORTED "encrypted or not a Word
 * document"; a damaged zip or word/document.xml RG_EPARSE (a damaged
 * styles.xml or core.xml is passed over); a part larger than its limit
 * (declared or inflated, see loader_docx.c) or XML nested deeper than its
 * limit RG_ELIMIT.
 */
extern const rg_loader rg_loader_docx;
/*
 * CSV (.csv) and TSV (.tsv), RFC 4180: quoted fields, doubled quotes, line
 * breaks inside quotes, CRLF/LF/CR line ends, UTF-8 BOM. The delimiter is a
 * tab for .tsv, a comma for .csv unless the first line has more ';' than
 * ',' outside quotes. The first record is the header. Blocks: the header
 * names joined with " | " as a table row, then one table row per data
 * record, "name: value | name: value", empty values left out (a record with
 * no values gives no block); fields past the header are named "column N"
 * (1-based), as are empty header names. In data rows a name over 64 bytes
 * is cut on a character boundary and ends in "..." (the header row keeps it
 * whole), so a file cannot grow by repeating one long name. No title. An unterminated quote is
 * RG_EPARSE naming its line; too many rows, fields or field bytes RG_ELIMIT.
 */
extern const rg_loader rg_loader_csv;
extern const rg_loader rg_loader_tsv;
/*
 * JSON (.json: an object, or an array of them) and JSON Lines (.jsonl,
 * .ndjson: one value a line, blank lines skipped; a line that does not
 * parse is RG_EPARSE naming it). Each object is a record: its title field
 * (the first of the title fields it has with a non-empty string) becomes a
 * level-1 heading, then each member named in the text fields, in the
 * record's order, becomes paragraphs: a string one paragraph, arrays and
 * objects one paragraph per string inside them. A record without text
 * fields gives its other scalar members as one table row "key: value |
 * key: value" (nested values left out, null omitted). Strings outside
 * objects (also in nested arrays) are paragraphs; other bare values are
 * skipped; a .json whose value is not an object or an array is
 * RG_EUNSUPPORTED. Field names match case-insensitively. The document
 * title is the record's title when there is one record, else none. Nesting
 * deeper than RG_JSON_MAX_DEPTH is RG_ELIMIT; so are a .json over its size
 * limit and too many records.
 */
extern const rg_loader rg_loader_json;
extern const rg_loader rg_loader_jsonl;
/*
 * E-mail (.eml, RFC 5322 and MIME). The first block is one paragraph of the
 * From, To, Cc, Date and Subject headers present ("From: ... To: ...");
 * the title is the Subject. Headers may be folded and carry RFC 2047
 * encoded words (B and Q, any charset iconv knows). The body: text/plain
 * parts become paragraphs (split at blank lines); text/html parts go through
 * the HTML loader; multipart/alternative takes its text/plain part, else its
 * HTML, else a nested multipart, else its last part; multipart/mixed and
 * others take every part in order; message/rfc822 parts are read as nested
 * messages. Attachments
 * (Content-Disposition: attachment, or a named non-text part) give a
 * paragraph "Attachment: NAME" and are not read. Bodies are decoded
 * (base64, quoted-printable) and converted to UTF-8 from their charset;
 * bytes that do not convert become U+FFFD, and unlabelled 8-bit text that is
 * not UTF-8 is read as windows-1252. A multipart without a usable boundary
 * is read as plain text. Too many headers, header lines over the limit,
 * nesting or parts past the limits (loader_email.c) give RG_ELIMIT.
 */
extern const rg_loader rg_loader_email;

/* JSON nesting deeper than this is refused before parsing (cJSON's own limit is 1000). */
#define RG_JSON_MAX_DEPTH 64
/* Field lists for rg_loader_json_set_fields: at most this many names of this many bytes. */
#define RG_JSON_MAX_FIELDS     32
#define RG_JSON_FIELD_NAME_MAX 64
/*
 * Sets the member names the JSON loaders read as text and as titles
 * (NULL-terminated lists, matched case-insensitively); a NULL list restores
 * its default: text "text", "content", "body", "description", "abstract",
 * "summary"; titles "title", "name", "subject". The lists are copied.
 * Thread-safe; loads already running keep the lists they started with.
 * RG_ELIMIT for more than RG_JSON_MAX_FIELDS names, RG_EINVAL for an empty
 * name or one of RG_JSON_FIELD_NAME_MAX bytes or more; on error nothing changes.
 */
rg_status rg_loader_json_set_fields(const char *const *text_fields, const char *const *title_fields,
                                    rg_error *err);

/*
 * Field lists for one ingestion run rather than the whole process (two
 * collections may read different fields at once): made by
 * rg_json_fields_new (NULL lists: the defaults above; errors as for
 * rg_loader_json_set_fields), given to loads through rg_load_options,
 * freed by rg_json_fields_free.
 */
typedef struct rg_json_fields rg_json_fields;
rg_status rg_json_fields_new(const char *const *text_fields, const char *const *title_fields,
                             rg_json_fields **out, rg_error *err);
void rg_json_fields_free(rg_json_fields *f);

/* A plain-text first line up to this long becomes the title. */
#define RG_TEXT_TITLE_MAX_BYTES 120u

/*
 * The loader for this file, or NULL if none applies.
 * - A known extension decides, and its loader may refuse content that is
 *   not its format (a .pdf without a %PDF- header gives NULL).
 * - A file without an extension goes by its content's MIME type (libmagic,
 *   the table in loader.c), else by the loaders' own sniffing.
 * - A file with an unknown extension (.bin, .dat) is taken only when its
 *   content is a format with a signature (PDF, DOCX); text under an unknown
 *   extension stays unsupported.
 * A text extension on binary content (a PDF or ZIP named .txt) keeps its
 * text loader here, and rg_load_buffer refuses the file (RG_EBINARY) naming
 * the content's type: content never silently overrides a known name.
 * data may be NULL with n == 0 to ask by name only (a file without an
 * extension then counts as plain text, one with an unknown extension as
 * nothing). Thread-safe.
 */
const rg_loader *rg_loader_find(const char *path, const char *data, size_t n);

/* The registered loader called name ("pdf", "docx"...), or NULL. */
const rg_loader *rg_loader_by_name(const char *name);

/*
 * The MIME type of data[0..n) by content (libmagic, on at most the first
 * 64 KiB) into mime (RG_MIME_MAX bytes). Returns 0 with mime "" when there
 * is no data, or libmagic or its database is missing. Thread-safe: one
 * libmagic handle, opened on first use, used under a mutex.
 */
int rg_loader_detect_type(const char *data, size_t n, char *mime);

/*
 * 1 if data looks binary: a NUL byte in the first 8 KiB, or a large share of
 * control bytes, or a known binary signature (PDF, ZIP, PNG, ELF...).
 */
int rg_looks_binary(const char *data, size_t n);

/*
 * Loads data[0..n) (the content of path) into doc with the right loader.
 * Binary content is refused unless the loader reads a binary container
 * (DOCX, PDF). Errors: RG_EBINARY, RG_EUTF8 (message names path and byte offset),
 * RG_EUNSUPPORTED, RG_ELIMIT, RG_EPARSE, RG_ENOMEM. On error doc is untouched.
 */
rg_status rg_load_buffer(const char *path, const char *data, size_t n, rg_document *doc,
                         rg_error *err);
/*
 * rg_load_buffer that masks personal data (pii.h types) in the document's
 * text and title as the loader produces them (rg_doc_builder_mask), adding
 * the matches to *counts (may be NULL). data itself is not changed.
 */
rg_status rg_load_buffer_masked(const char *path, const char *data, size_t n, unsigned pii_types,
                                rg_pii_counts *counts, rg_document *doc, rg_error *err);

/* What one load may be told; zeroed: no masking, the process's JSON fields. */
typedef struct rg_load_options {
    unsigned pii_types;         /* as rg_load_buffer_masked */
    rg_pii_counts *counts;      /* borrowed, may be NULL */
    const rg_json_fields *json; /* borrowed, may be NULL */
} rg_load_options;

/* rg_load_buffer with options (o may be NULL). */
rg_status rg_load_buffer_with(const char *path, const char *data, size_t n,
                              const rg_load_options *o, rg_document *doc, rg_error *err);

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
