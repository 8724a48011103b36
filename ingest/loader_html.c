/*
 * loader_html.c — HTML to blocks with libxml2's HTML parser.
 *
 * libxml2 repairs real-world HTML (unclosed tags, stray end tags) into a
 * tree; this file walks the tree and turns block elements into blocks.
 * Text directly inside a block element collects into that block; a nested
 * block element ends it and starts its own, and the rest of the outer
 * element's text becomes a further block of the outer kind. Headings,
 * table cells and <pre> take all the text below them, whatever its markup.
 *
 * libxml2 allocates the tree with its own allocator, outside rg_malloc.
 */
#include "ingest/loader.h"

#include <libxml/HTMLparser.h>
#include <libxml/encoding.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <string.h>

#include "engine/base/mem.h"

/* The HTML standard's encoding prescan looks at this many bytes. */
#define HTML_PRESCAN_BYTES 1024
/* Longest charset name taken from <meta>. */
#define HTML_CHARSET_MAX 40
/* Deeper elements are flattened into their ancestor's text (no recursion). */
#define HTML_MAX_DEPTH 256
/* No block of text is larger than a file. */
#define HTML_MAX_BLOCK_BYTES RG_LOADER_MAX_FILE_BYTES
#define HTML_PARSE_FLAGS                                                                           \
    (HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING | HTML_PARSE_NONET)

typedef enum elem_class {
    EL_INLINE,
    EL_SKIP,
    EL_BR,
    EL_HEADING,
    EL_PRE,
    EL_ROW,
    EL_ITEM,
    EL_BLOCK,
} elem_class;

typedef struct html {
    rg_doc_builder *b;
    rg_error *err;
    rg_status st;
    rg_buf text; /* inline text of the open block */
    rg_block_kind kind;
    rg_buf scratch; /* a heading, cell or <pre> */
    rg_buf row;
    rg_buf h1; /* text of the first <h1>, the title when there is no <title> */
    int have_h1;
} html;

/* --- elements ---------------------------------------------------------------- */

static int name_in(const char *name, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(name, *list) == 0) return 1;
    return 0;
}

static elem_class classify(const xmlNode *n, int *level)
{
    static const char *const skip[] = {
        "script", "style", "nav",    "noscript", "template", "head",   "svg",      "math", "iframe",
        "object", "embed", "canvas", "select",   "img",      "button", "textarea", NULL};
    static const char *const block[] = {
        "p",       "div",     "blockquote", "section", "article", "main",   "header",
        "footer",  "aside",   "body",       "html",    "address", "figure", "figcaption",
        "details", "summary", "dl",         "dt",      "dd",      "ul",     "ol",
        "table",   "thead",   "tbody",      "tfoot",   "caption", "form",   "fieldset",
        "legend",  "center",  "hr",         "td",      "th",      "menu",   NULL};
    const char *name = (const char *)n->name;
    *level = 0;
    if (name[0] == 'h' && name[1] >= '1' && name[1] <= '6' && name[2] == '\0') {
        *level = name[1] - '0';
        return EL_HEADING;
    }
    if (name_in(name, skip)) return EL_SKIP;
    if (strcmp(name, "br") == 0) return EL_BR;
    if (strcmp(name, "pre") == 0) return EL_PRE;
    if (strcmp(name, "tr") == 0) return EL_ROW;
    if (strcmp(name, "li") == 0) return EL_ITEM;
    return name_in(name, block) ? EL_BLOCK : EL_INLINE;
}

static int is_text(const xmlNode *n)
{
    return n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE;
}

static void append(html *h, rg_buf *to, const char *s, size_t n)
{
    if (h->st) return;
    rg_status st = rg_buf_append(to, s, n);
    if (st == RG_ELIMIT)
        h->st = rg_fail(h->err, st, "an HTML block exceeds %u bytes", HTML_MAX_BLOCK_BYTES);
    else if (st)
        h->st = rg_fail(h->err, st, "out of memory reading HTML");
}

static void append_node_text(html *h, rg_buf *to, const xmlNode *n)
{
    if (n->content) append(h, to, (const char *)n->content, strlen((const char *)n->content));
}

/*
 * All text below root into to, without recursion (parent links lead back).
 * Block boundaries and <br> become sep, so words of two cells do not merge.
 */
static void text_content(html *h, const xmlNode *root, rg_buf *to, char sep)
{
    const xmlNode *n = root->children;
    while (n && !h->st) {
        int level, descend = 0;
        if (is_text(n)) {
            append_node_text(h, to, n);
        } else if (n->type == XML_ELEMENT_NODE) {
            elem_class c = classify(n, &level);
            if (c == EL_BR || c == EL_BLOCK || c == EL_ROW || c == EL_ITEM || c == EL_HEADING ||
                c == EL_PRE)
                append(h, to, &sep, 1);
            descend = c != EL_SKIP && c != EL_BR && n->children;
        }
        if (descend) {
            n = n->children;
            continue;
        }
        for (;;) {
            if (n->next) {
                n = n->next;
                break;
            }
            n = n->parent;
            if (!n || n == root) {
                n = NULL;
                break;
            }
            if (n->type == XML_ELEMENT_NODE && classify(n, &level) != EL_INLINE)
                append(h, to, &sep, 1);
        }
    }
}

/* --- blocks ------------------------------------------------------------------ */

static void emit(html *h, rg_block_kind kind, int level, const rg_buf *text)
{
    if (h->st || !text->len) return;
    h->st = rg_doc_add(h->b, kind, level, text->data, text->len, h->err);
}

static void flush(html *h)
{
    emit(h, h->kind, 0, &h->text);
    rg_buf_reset(&h->text);
}

static int is_blank(const rg_buf *b)
{
    for (size_t i = 0; i < b->len; i++)
        if (b->data[i] != ' ' && b->data[i] != '\t' && b->data[i] != '\n' && b->data[i] != '\r')
            return 0;
    return 1;
}

/* A <tr>: its <td>/<th> cells joined with " | "; rows of empty cells vanish. */
static void row(html *h, const xmlNode *tr)
{
    int any = 0, cells = 0;
    rg_buf_reset(&h->row);
    for (const xmlNode *c = tr->children; c && !h->st; c = c->next) {
        if (c->type != XML_ELEMENT_NODE) continue;
        const char *name = (const char *)c->name;
        if (strcmp(name, "td") != 0 && strcmp(name, "th") != 0) continue;
        rg_buf_reset(&h->scratch);
        text_content(h, c, &h->scratch, ' ');
        if (cells++) append(h, &h->row, " | ", 3);
        append(h, &h->row, rg_buf_str(&h->scratch), h->scratch.len);
        any |= !is_blank(&h->scratch);
    }
    if (any) emit(h, RG_BLOCK_TABLE_ROW, 0, &h->row);
}

static void walk(html *h, const xmlNode *parent, int depth);

static void element(html *h, const xmlNode *n, int depth)
{
    int level;
    elem_class c = classify(n, &level);
    if (depth > HTML_MAX_DEPTH && c != EL_SKIP) c = EL_INLINE;
    switch (c) {
    case EL_SKIP:
        return;
    case EL_BR:
        append(h, &h->text, " ", 1);
        return;
    case EL_HEADING:
    case EL_PRE:
        flush(h);
        rg_buf_reset(&h->scratch);
        text_content(h, n, &h->scratch, c == EL_PRE ? '\n' : ' ');
        emit(h, c == EL_PRE ? RG_BLOCK_CODE : RG_BLOCK_HEADING, level, &h->scratch);
        if (level == 1 && !h->have_h1 && !is_blank(&h->scratch)) {
            append(h, &h->h1, rg_buf_str(&h->scratch), h->scratch.len);
            h->have_h1 = 1;
        }
        return;
    case EL_ROW:
        flush(h);
        row(h, n);
        return;
    case EL_ITEM:
    case EL_BLOCK: {
        rg_block_kind outer = h->kind;
        flush(h);
        h->kind = c == EL_ITEM ? RG_BLOCK_LIST_ITEM : RG_BLOCK_PARAGRAPH;
        walk(h, n, depth + 1);
        flush(h);
        h->kind = outer;
        return;
    }
    case EL_INLINE:
        if (depth > HTML_MAX_DEPTH)
            text_content(h, n, &h->text, ' ');
        else
            walk(h, n, depth + 1);
        return;
    }
}

static void walk(html *h, const xmlNode *parent, int depth)
{
    for (const xmlNode *n = parent->children; n && !h->st; n = n->next) {
        if (is_text(n))
            append_node_text(h, &h->text, n);
        else if (n->type == XML_ELEMENT_NODE)
            element(h, n, depth);
    }
}

/* The first <title> outside <svg>, found without recursion. */
static const xmlNode *find_title(const xmlNode *root)
{
    const xmlNode *n = root->children;
    while (n) {
        if (n->type == XML_ELEMENT_NODE) {
            const char *name = (const char *)n->name;
            if (strcmp(name, "title") == 0) return n;
            if (strcmp(name, "svg") != 0 && n->children) {
                n = n->children;
                continue;
            }
        }
        while (n && !n->next) {
            n = n->parent;
            if (n == root) return NULL;
        }
        n = n ? n->next : NULL;
    }
    return NULL;
}

/* --- charset ------------------------------------------------------------------ */

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static int starts_ci(const char *s, size_t n, const char *lit)
{
    size_t k = strlen(lit);
    if (n < k) return 0;
    for (size_t i = 0; i < k; i++)
        if (lower((unsigned char)s[i]) != lit[i]) return 0;
    return 1;
}

static int is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == ':';
}

/*
 * The charset declared by a <meta> (or an XML declaration) in the first
 * bytes, lower-cased into out; "" when there is none.
 */
static void declared_charset(const char *s, size_t n, char out[HTML_CHARSET_MAX])
{
    out[0] = '\0';
    if (n > HTML_PRESCAN_BYTES) n = HTML_PRESCAN_BYTES;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '<' || !(starts_ci(s + i, n - i, "<meta") || starts_ci(s + i, n - i, "<?xml")))
            continue;
        for (size_t j = i + 5; j < n && s[j] != '>'; j++) {
            size_t k;
            if (starts_ci(s + j, n - j, "charset"))
                k = j + 7;
            else if (starts_ci(s + j, n - j, "encoding"))
                k = j + 8;
            else
                continue;
            while (k < n && s[k] == ' ')
                k++;
            if (k >= n || s[k] != '=') continue; /* "charset" in some other text */
            k++;
            while (k < n && (s[k] == ' ' || s[k] == '"' || s[k] == '\''))
                k++;
            size_t len = 0;
            while (k + len < n && is_name_char(s[k + len]) && len + 1 < HTML_CHARSET_MAX) {
                out[len] = (char)lower((unsigned char)s[k + len]);
                len++;
            }
            out[len] = '\0';
            if (len) return;
        }
    }
}

/*
 * Decides the encoding to parse with: "UTF-8" (after checking the bytes) or
 * a declared charset libxml2 can convert. The HTML standard reads Latin-1
 * and ASCII labels as windows-1252, a superset that browsers use for them.
 */
static rg_status pick_encoding(const char *data, size_t n, char enc[HTML_CHARSET_MAX],
                               rg_error *err)
{
    declared_charset(data, n, enc);
    if (!enc[0] || strcmp(enc, "utf-8") == 0 || strcmp(enc, "utf8") == 0 ||
        strncmp(enc, "utf-16", 6) == 0) { /* a UTF-16 label on 8-bit bytes is a lie */
        snprintf(enc, HTML_CHARSET_MAX, "UTF-8");
        return rg_loader_check_utf8(data, n, err);
    }
    if (strcmp(enc, "iso-8859-1") == 0 || strcmp(enc, "latin1") == 0 ||
        strcmp(enc, "us-ascii") == 0 || strcmp(enc, "ascii") == 0)
        snprintf(enc, HTML_CHARSET_MAX, "windows-1252");
    xmlCharEncodingHandlerPtr handler = xmlFindCharEncodingHandler(enc);
    if (!handler) return rg_fail(err, RG_EUNSUPPORTED, "unsupported charset \"%s\"", enc);
    xmlCharEncCloseFunc(handler);
    return RG_OK;
}

/* --- the loader ------------------------------------------------------------------ */

static rg_status html_load(const char *path, const char *data, size_t n, rg_doc_builder *b,
                           rg_error *err)
{
    (void)path;
    char enc[HTML_CHARSET_MAX];
    size_t bom = rg_loader_bom_len(data, n);
    rg_status st = pick_encoding(data, n, enc, err);
    if (st) return st;
    data += bom, n -= bom;
    size_t i = 0;
    while (i < n && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r'))
        i++;
    if (i == n) return RG_OK; /* libxml2 gives no tree for an empty input */
    htmlDocPtr doc = htmlReadMemory(data, (int)n, NULL, enc, HTML_PARSE_FLAGS);
    if (!doc) return rg_fail(err, RG_EPARSE, "the HTML parser could not read the document");
    html h;
    memset(&h, 0, sizeof h);
    h.b = b;
    h.err = err;
    h.kind = RG_BLOCK_PARAGRAPH;
    rg_buf_init(&h.text, HTML_MAX_BLOCK_BYTES);
    rg_buf_init(&h.scratch, HTML_MAX_BLOCK_BYTES);
    rg_buf_init(&h.row, HTML_MAX_BLOCK_BYTES);
    rg_buf_init(&h.h1, HTML_MAX_BLOCK_BYTES);
    const xmlNode *title = find_title((const xmlNode *)doc);
    if (title) {
        text_content(&h, title, &h.scratch, ' ');
        if (!h.st && !is_blank(&h.scratch))
            h.st = rg_doc_set_title(b, h.scratch.data, h.scratch.len, err);
    }
    walk(&h, (const xmlNode *)doc, 0);
    flush(&h);
    if (!h.st && !rg_doc_has_title(b) && h.have_h1)
        h.st = rg_doc_set_title(b, h.h1.data, h.h1.len, err);
    xmlFreeDoc(doc);
    rg_buf_free(&h.text);
    rg_buf_free(&h.scratch);
    rg_buf_free(&h.row);
    rg_buf_free(&h.h1);
    return h.st;
}

static const char *const html_exts[] = {"html", "htm", "xhtml", NULL};

/* Starts like an HTML document: a doctype, <html>, <head> or <body> early on. */
static int sniff_html(const char *data, size_t n)
{
    size_t i = rg_loader_bom_len(data, n);
    while (i < n && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r'))
        i++;
    if (i >= n || data[i] != '<') return 0;
    size_t lim = n - i > HTML_PRESCAN_BYTES ? i + HTML_PRESCAN_BYTES : n;
    for (size_t j = i; j < lim; j++) {
        if (data[j] != '<') continue;
        if (starts_ci(data + j, lim - j, "<!doctype html") ||
            starts_ci(data + j, lim - j, "<html") || starts_ci(data + j, lim - j, "<head") ||
            starts_ci(data + j, lim - j, "<body"))
            return 1;
    }
    return 0;
}

static int html_can_load(const char *path, const char *data, size_t n)
{
    if (rg_path_has_ext(path, html_exts)) return 1;
    return rg_path_has_no_ext(path) && sniff_html(data, n);
}

const rg_loader rg_loader_html = {"html", "text/html", html_can_load, html_load, 1};
