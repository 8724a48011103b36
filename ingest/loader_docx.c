/*
 * loader_docx.c — Word documents (Office Open XML) with libzip and libxml2.
 *
 * A .docx file is a zip package. The text is in word/document.xml; the
 * names of paragraph styles (which decide headings and lists when the style
 * id is localised, "Kop1" for "heading 1") are in word/styles.xml; the title
 * is in docProps/core.xml. Each part is inflated into memory under a limit
 * that holds both for the size the zip declares and for the bytes that
 * actually come out, so a zip bomb stops at the limit.
 *
 * libxml2 parses without network access and without substituting entities;
 * the tree walk is recursive and bounded by DOCX_MAX_DEPTH. libzip and
 * libxml2 allocate with their own allocators, outside rg_malloc.
 */
#include "ingest/loader.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <string.h>
#include <zip.h>

#include "engine/base/mem.h"

/* More entries than this in the package is not a document (RG_ELIMIT). */
#define DOCX_MAX_ZIP_ENTRIES 10000
/* word/document.xml inflates to at most this many bytes. */
#define DOCX_MAX_DOCUMENT_BYTES RG_LOADER_MAX_FILE_BYTES
/* styles.xml and core.xml inflate to at most this many bytes each. */
#define DOCX_MAX_PART_BYTES (8u << 20)
/* Elements nested deeper than this in document.xml give RG_ELIMIT. */
#define DOCX_MAX_DEPTH 128
/* Paragraph styles read from styles.xml; further ones are ignored. */
#define DOCX_MAX_STYLES 4096
/* Longest style id kept; longer ids never match. */
#define DOCX_STYLE_ID_MAX 64
/* basedOn links followed when resolving a style. */
#define DOCX_MAX_STYLE_CHAIN 8
/* Bytes read from the zip per call. */
#define DOCX_READ_CHUNK 16384
/* No paragraph, cell or row is larger than the document. */
#define DOCX_MAX_BLOCK_BYTES DOCX_MAX_DOCUMENT_BYTES
/* Entities are never substituted (no XML_PARSE_NOENT), nor external DTDs loaded. */
#define DOCX_XML_OPTIONS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)

#define W_NS        "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
#define W_NS_STRICT "http://purl.oclc.org/ooxml/wordprocessingml/main"
#define DC_NS       "http://purl.org/dc/elements/1.1/"
#define MC_NS       "http://schemas.openxmlformats.org/markup-compatibility/2006"
#define OLE_SIG     "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1"
#define NOT_WORD    "encrypted or not a Word document"

typedef struct style {
    char id[DOCX_STYLE_ID_MAX];
    char based_on[DOCX_STYLE_ID_MAX];
    int level; /* heading level from its name or outline level, 0 if none */
    int list;  /* the style numbers its paragraphs */
} style;

typedef struct docx {
    rg_doc_builder *b;
    rg_error *err;
    rg_status st;
    style *styles; /* owned */
    size_t n_styles;
    rg_buf text; /* the open paragraph */
    rg_buf cell;
    rg_buf row;
} docx;

/* --- the zip package ----------------------------------------------------------- */

static rg_status zip_status(int zip_code)
{
    return zip_code == ZIP_ER_MEMORY ? RG_ENOMEM : RG_EPARSE;
}

static rg_status open_failed(zip_t *z, zip_file_t *f, const char *name, rg_error *err)
{
    zip_error_t *ze = f ? zip_file_get_error(f) : zip_get_error(z);
    int code = zip_error_code_zip(ze);
    if (code == ZIP_ER_NOPASSWD || code == ZIP_ER_WRONGPASSWD || code == ZIP_ER_ENCRNOTSUPP)
        return rg_fail(err, RG_EUNSUPPORTED, NOT_WORD " (%s is encrypted)", name);
    if (code == ZIP_ER_COMPNOTSUPP)
        return rg_fail(err, RG_EUNSUPPORTED, "%s uses an unsupported compression method", name);
    return rg_fail(err, zip_status(code), "corrupt zip entry %s: %s", name, zip_error_strerror(ze));
}

/*
 * Inflates the entry name into out (limit max). *found is 0, and out empty,
 * when there is no such entry. The size the zip declares is checked before
 * reading and the bytes read are counted, so neither can pass max.
 */
static rg_status read_entry(zip_t *z, const char *name, size_t max, rg_buf *out, int *found,
                            rg_error *err)
{
    rg_buf_init(out, max);
    *found = 0;
    zip_int64_t idx = zip_name_locate(z, name, ZIP_FL_NOCASE);
    if (idx < 0) return RG_OK;
    *found = 1;
    zip_stat_t sb;
    if (zip_stat_index(z, (zip_uint64_t)idx, 0, &sb) != 0) return open_failed(z, NULL, name, err);
    /* the package format (ECMA-376 Part 2, the ZIP appendix) allows stored
     * and deflated parts only: bzip2, LZMA, zstd... are not Word's, and
     * their decoders are attack surface a document does not need */
    if ((sb.valid & ZIP_STAT_COMP_METHOD) && sb.comp_method != ZIP_CM_STORE &&
        sb.comp_method != ZIP_CM_DEFLATE)
        return rg_fail(err, RG_EUNSUPPORTED,
                       "%s is compressed with zip method %u; a Word document's parts are "
                       "stored or deflated",
                       name, (unsigned)sb.comp_method);
    if ((sb.valid & ZIP_STAT_SIZE) && sb.size > max)
        return rg_fail(err, RG_ELIMIT, "%s declares %llu bytes uncompressed, over the limit of %zu",
                       name, (unsigned long long)sb.size, max);
    zip_file_t *f = zip_fopen_index(z, (zip_uint64_t)idx, 0);
    if (!f) return open_failed(z, NULL, name, err);
    rg_status st = RG_OK;
    char chunk[DOCX_READ_CHUNK];
    for (;;) {
        zip_int64_t got = zip_fread(f, chunk, sizeof chunk);
        if (got == 0) break;
        if (got < 0) {
            st = open_failed(z, f, name, err);
            break;
        }
        st = rg_buf_append(out, chunk, (size_t)got);
        if (st == RG_ELIMIT)
            st = rg_fail(err, st, "%s inflates past the limit of %zu bytes", name, max);
        else if (st)
            st = rg_fail(err, st, "out of memory inflating %s", name);
        if (st) break;
    }
    zip_fclose(f);
    return st;
}

static rg_status open_zip(const char *data, size_t n, zip_t **z, rg_error *err)
{
    zip_error_t ze;
    zip_error_init(&ze);
    rg_status st = RG_OK;
    zip_source_t *src = zip_source_buffer_create(data, n, 0, &ze);
    if (!src) {
        st = rg_fail(err, RG_ENOMEM, "out of memory opening the zip archive");
        goto out;
    }
    *z = zip_open_from_source(src, ZIP_RDONLY, &ze);
    if (!*z) {
        zip_source_free(src);
        int code = zip_error_code_zip(&ze);
        st = rg_fail(err, zip_status(code), "corrupt zip archive: %s", zip_error_strerror(&ze));
        goto out;
    }
    zip_int64_t entries = zip_get_num_entries(*z, 0);
    if (entries > DOCX_MAX_ZIP_ENTRIES) {
        zip_discard(*z);
        *z = NULL;
        st = rg_fail(err, RG_ELIMIT, "the zip archive has %lld entries, over the limit of %d",
                     (long long)entries, DOCX_MAX_ZIP_ENTRIES);
    }
out:
    zip_error_fini(&ze);
    return st;
}

/* --- XML helpers ----------------------------------------------------------------- */

static rg_status parse_xml(const rg_buf *src, const char *name, xmlDocPtr *doc, rg_error *err)
{
    xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
    if (!ctxt) return rg_fail(err, RG_ENOMEM, "out of memory parsing %s", name);
    *doc = xmlCtxtReadMemory(ctxt, src->data ? src->data : "", (int)src->len, name, NULL,
                             DOCX_XML_OPTIONS);
    rg_status st = RG_OK;
    if (!*doc) {
        const char *msg = ctxt->lastError.message ? ctxt->lastError.message : "not XML";
        size_t len = strlen(msg);
        while (len && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
            len--;
        st = rg_fail(err, ctxt->lastError.code == XML_ERR_NO_MEMORY ? RG_ENOMEM : RG_EPARSE,
                     "%s line %d: %.*s", name, ctxt->lastError.line, (int)len, msg);
    }
    xmlFreeParserCtxt(ctxt);
    return st;
}

static int ns_is(const xmlNode *n, const char *href)
{
    return n->ns && n->ns->href && strcmp((const char *)n->ns->href, href) == 0;
}

/* 1 if n is the WordprocessingML element local (transitional or strict namespace). */
static int is_w(const xmlNode *n, const char *local)
{
    return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, local) == 0 &&
           (ns_is(n, W_NS) || ns_is(n, W_NS_STRICT));
}

/* The w:val attribute of n (no copy), or NULL. */
static const char *w_val(const xmlNode *n)
{
    for (const xmlAttr *a = n->properties; a; a = a->next) {
        if (strcmp((const char *)a->name, "val") != 0) continue;
        if (a->ns && strcmp((const char *)a->ns->href, W_NS) != 0 &&
            strcmp((const char *)a->ns->href, W_NS_STRICT) != 0)
            continue;
        if (a->children && a->children->type == XML_TEXT_NODE && a->children->content)
            return (const char *)a->children->content;
        return "";
    }
    return NULL;
}

static const xmlNode *w_child(const xmlNode *n, const char *local)
{
    for (const xmlNode *c = n->children; c; c = c->next)
        if (is_w(c, local)) return c;
    return NULL;
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* Case-insensitive prefix match of an ASCII literal. */
static int starts_ci(const char *s, const char *lit)
{
    for (; *lit; s++, lit++)
        if (lower((unsigned char)*s) != *lit) return 0;
    return 1;
}

/* "Heading3", "heading 3" → 3; "Title", "title" → 1; else 0. */
static int heading_level_of(const char *s)
{
    if (starts_ci(s, "title") && s[5] == '\0') return 1;
    if (!starts_ci(s, "heading")) return 0;
    s += 7;
    if (*s == ' ') s++;
    return s[0] >= '1' && s[0] <= '9' && s[1] == '\0' ? s[0] - '0' : 0;
}

/* w:outlineLvl 0..8 under pPr → heading 1..9; 9 (body text) and absence → 0. */
static int outline_level(const xmlNode *ppr)
{
    const xmlNode *o = w_child(ppr, "outlineLvl");
    const char *v = o ? w_val(o) : NULL;
    return v && v[0] >= '0' && v[0] <= '8' && v[1] == '\0' ? v[0] - '0' + 1 : 0;
}

/* numPr with a numId other than 0 (which switches numbering off). */
static int numbered(const xmlNode *ppr)
{
    const xmlNode *num = w_child(ppr, "numPr");
    if (!num) return 0;
    const xmlNode *id = w_child(num, "numId");
    const char *v = id ? w_val(id) : NULL;
    return !(v && strcmp(v, "0") == 0);
}

/* --- styles.xml ------------------------------------------------------------------------ */

static void copy_id(char out[DOCX_STYLE_ID_MAX], const char *v)
{
    out[0] = '\0';
    if (v && strlen(v) < DOCX_STYLE_ID_MAX) snprintf(out, DOCX_STYLE_ID_MAX, "%s", v);
}

static void read_style(style *s, const xmlNode *n)
{
    const char *id = NULL;
    for (const xmlAttr *a = n->properties; a; a = a->next)
        if (strcmp((const char *)a->name, "styleId") == 0 && a->children &&
            a->children->type == XML_TEXT_NODE)
            id = (const char *)a->children->content;
    memset(s, 0, sizeof *s);
    copy_id(s->id, id);
    const xmlNode *name = w_child(n, "name"), *based = w_child(n, "basedOn");
    const xmlNode *ppr = w_child(n, "pPr");
    const char *nv = name ? w_val(name) : NULL;
    s->level = nv ? heading_level_of(nv) : 0;
    if (!s->level && id) s->level = heading_level_of(id);
    if (ppr && !s->level) s->level = outline_level(ppr);
    s->list = ppr && numbered(ppr);
    copy_id(s->based_on, based ? w_val(based) : NULL);
}

static const style *find_style(const docx *d, const char *id)
{
    if (!id || !id[0]) return NULL;
    for (size_t i = 0; i < d->n_styles; i++)
        if (strcmp(d->styles[i].id, id) == 0) return &d->styles[i];
    return NULL;
}

/* Heading level and list flag of a style id, following basedOn links. */
static void resolve_style(const docx *d, const char *id, int *level, int *list)
{
    *level = heading_level_of(id); /* "Heading1" works even without styles.xml */
    *list = 0;
    const style *s = find_style(d, id);
    for (int hop = 0; s && hop < DOCX_MAX_STYLE_CHAIN; hop++) {
        if (!*level) *level = s->level;
        *list |= s->list;
        s = find_style(d, s->based_on);
    }
}

static rg_status load_styles(docx *d, const rg_buf *xml, rg_error *err)
{
    xmlDocPtr doc;
    rg_status st = parse_xml(xml, "word/styles.xml", &doc, err);
    if (st) return st;
    const xmlNode *root = xmlDocGetRootElement(doc);
    size_t n = 0;
    for (const xmlNode *c = root ? root->children : NULL; c; c = c->next)
        if (is_w(c, "style")) n++;
    if (n > DOCX_MAX_STYLES) n = DOCX_MAX_STYLES;
    if (n && !(d->styles = rg_calloc(n, sizeof *d->styles)))
        st = rg_fail(err, RG_ENOMEM, "out of memory reading styles");
    for (const xmlNode *c = root ? root->children : NULL; c && !st && d->n_styles < n; c = c->next)
        if (is_w(c, "style")) read_style(&d->styles[d->n_styles++], c);
    xmlFreeDoc(doc);
    return st;
}

/* --- document.xml ------------------------------------------------------------------------- */

static void append(docx *d, rg_buf *to, const char *s, size_t n)
{
    if (d->st) return;
    rg_status st = rg_buf_append(to, s, n);
    if (st == RG_ELIMIT)
        d->st = rg_fail(d->err, st, "a paragraph exceeds %u bytes", DOCX_MAX_BLOCK_BYTES);
    else if (st)
        d->st = rg_fail(d->err, st, "out of memory reading the document");
}

static int too_deep(docx *d, int depth)
{
    if (depth <= DOCX_MAX_DEPTH) return 0;
    if (!d->st)
        d->st = rg_fail(d->err, RG_ELIMIT, "elements nest deeper than %d levels", DOCX_MAX_DEPTH);
    return 1;
}

/* Parts of a paragraph that are not its current text. */
static int skipped(const xmlNode *n)
{
    static const char *const skip[] = {"pPr",  "rPr",    "del",       "moveFrom", "tblPr", "tcPr",
                                       "trPr", "sectPr", "instrText", "delText",  NULL};
    if (n->type == XML_ELEMENT_NODE && ns_is(n, MC_NS) &&
        strcmp((const char *)n->name, "Fallback") == 0)
        return 1; /* the same content as mc:Choice, for older readers */
    for (const char *const *s = skip; *s; s++)
        if (is_w(n, *s)) return 1;
    return 0;
}

/*
 * The text below n into to: w:t text, w:tab as a tab, w:br and w:cr as line
 * breaks. Paragraphs and cells met on the way (text boxes, nested tables)
 * are separated from what came before by a space.
 */
static void collect_text(docx *d, const xmlNode *n, rg_buf *to, int depth)
{
    if (too_deep(d, depth)) return;
    for (const xmlNode *c = n->children; c && !d->st; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || skipped(c)) continue;
        if (is_w(c, "t")) {
            for (const xmlNode *t = c->children; t; t = t->next)
                if (t->type == XML_TEXT_NODE && t->content)
                    append(d, to, (const char *)t->content, strlen((const char *)t->content));
        } else if (is_w(c, "tab")) {
            append(d, to, "\t", 1);
        } else if (is_w(c, "br") || is_w(c, "cr")) {
            append(d, to, "\n", 1);
        } else if (is_w(c, "noBreakHyphen")) {
            append(d, to, "-", 1);
        } else {
            if ((is_w(c, "p") || is_w(c, "tc")) && to->len) append(d, to, " ", 1);
            collect_text(d, c, to, depth + 1);
        }
    }
}

static void add_block(docx *d, rg_block_kind kind, int level, const rg_buf *text)
{
    if (d->st || !text->len) return;
    d->st = rg_doc_add(d->b, kind, level, text->data, text->len, d->err);
}

static void paragraph(docx *d, const xmlNode *p, int depth)
{
    rg_buf_reset(&d->text);
    collect_text(d, p, &d->text, depth);
    int level = 0, list = 0;
    const xmlNode *ppr = w_child(p, "pPr");
    if (ppr) {
        const xmlNode *ps = w_child(ppr, "pStyle");
        if (ps) resolve_style(d, w_val(ps) ? w_val(ps) : "", &level, &list);
        int outline = outline_level(ppr);
        if (outline) level = outline;
        list |= numbered(ppr);
    }
    rg_block_kind kind = level ? RG_BLOCK_HEADING : list ? RG_BLOCK_LIST_ITEM : RG_BLOCK_PARAGRAPH;
    add_block(d, kind, level, &d->text);
}

static int is_blank(const rg_buf *b)
{
    for (size_t i = 0; i < b->len; i++)
        if (b->data[i] != ' ' && b->data[i] != '\t' && b->data[i] != '\n') return 0;
    return 1;
}

/* The w:tc cells of a row (also inside content controls) into d->row. */
static void cells(docx *d, const xmlNode *n, int *count, int *any, int depth)
{
    if (too_deep(d, depth)) return;
    for (const xmlNode *c = n->children; c && !d->st; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || skipped(c)) continue;
        if (!is_w(c, "tc")) {
            cells(d, c, count, any, depth + 1);
            continue;
        }
        rg_buf_reset(&d->cell);
        collect_text(d, c, &d->cell, depth + 1);
        if ((*count)++) append(d, &d->row, " | ", 3);
        append(d, &d->row, rg_buf_str(&d->cell), d->cell.len);
        *any |= !is_blank(&d->cell);
    }
}

/* Each w:tr (also inside content controls) becomes a table row block. */
static void table(docx *d, const xmlNode *tbl, int depth)
{
    if (too_deep(d, depth)) return;
    for (const xmlNode *c = tbl->children; c && !d->st; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || skipped(c) || is_w(c, "tblGrid")) continue;
        if (!is_w(c, "tr")) {
            table(d, c, depth + 1);
            continue;
        }
        int count = 0, any = 0;
        rg_buf_reset(&d->row);
        cells(d, c, &count, &any, depth + 1);
        if (any) add_block(d, RG_BLOCK_TABLE_ROW, 0, &d->row);
    }
}

/* Block-level content: paragraphs, tables, and containers of them. */
static void body(docx *d, const xmlNode *n, int depth)
{
    if (too_deep(d, depth)) return;
    for (const xmlNode *c = n->children; c && !d->st; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || skipped(c)) continue;
        if (is_w(c, "p"))
            paragraph(d, c, depth + 1);
        else if (is_w(c, "tbl"))
            table(d, c, depth + 1);
        else
            body(d, c, depth + 1);
    }
}

/* --- docProps/core.xml --------------------------------------------------------------------- */

static rg_status load_title(docx *d, const rg_buf *xml, rg_error *err)
{
    xmlDocPtr doc;
    rg_status st = parse_xml(xml, "docProps/core.xml", &doc, err);
    if (st) return st;
    const xmlNode *root = xmlDocGetRootElement(doc);
    for (const xmlNode *c = root ? root->children : NULL; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || !ns_is(c, DC_NS) ||
            strcmp((const char *)c->name, "title") != 0)
            continue;
        rg_buf_reset(&d->text);
        for (const xmlNode *t = c->children; t; t = t->next)
            if (t->type == XML_TEXT_NODE && t->content)
                append(d, &d->text, (const char *)t->content, strlen((const char *)t->content));
        if (!d->st && !is_blank(&d->text))
            d->st = rg_doc_set_title(d->b, d->text.data, d->text.len, err);
        break;
    }
    xmlFreeDoc(doc);
    return d->st;
}

/* --- the loader ------------------------------------------------------------------------------ */

static int contains(const char *hay, size_t n, const char *needle, size_t k)
{
    for (size_t i = 0; k <= n && i <= n - k; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, k) == 0) return 1;
    return 0;
}

/* An OLE compound file: Word's container for encrypted documents, or a legacy .doc. */
static rg_status ole_file(const char *data, size_t n, rg_error *err)
{
    static const char enc[] = "E\0n\0c\0r\0y\0p\0t\0e\0d\0P\0a\0c\0k\0a\0g\0e\0";
    if (contains(data, n, enc, sizeof enc - 1))
        return rg_fail(err, RG_EUNSUPPORTED, NOT_WORD " (a password-protected Word file)");
    return rg_fail(err, RG_EUNSUPPORTED, NOT_WORD " (an OLE compound file, such as a legacy .doc)");
}

static rg_status read_parts(docx *d, zip_t *z, rg_error *err)
{
    rg_buf xml;
    int found;
    /* styles and properties only add to the text: a damaged one is passed over */
    rg_status st = read_entry(z, "word/styles.xml", DOCX_MAX_PART_BYTES, &xml, &found, err);
    if (!st && found) st = load_styles(d, &xml, err);
    rg_buf_free(&xml);
    if (st == RG_EPARSE) st = RG_OK;
    if (!st) st = read_entry(z, "docProps/core.xml", DOCX_MAX_PART_BYTES, &xml, &found, err);
    if (!st && found) st = load_title(d, &xml, err);
    rg_buf_free(&xml);
    if (st == RG_EPARSE) st = RG_OK;
    if (st) return st;
    st = read_entry(z, "word/document.xml", DOCX_MAX_DOCUMENT_BYTES, &xml, &found, err);
    if (!st && !found)
        st = rg_fail(err, RG_EUNSUPPORTED, NOT_WORD " (the zip has no word/document.xml)");
    xmlDocPtr doc = NULL;
    if (!st) st = parse_xml(&xml, "word/document.xml", &doc, err);
    rg_buf_free(&xml);
    if (st) return st;
    const xmlNode *root = xmlDocGetRootElement(doc);
    if (root) body(d, root, 0);
    xmlFreeDoc(doc);
    return d->st;
}

static rg_status docx_load(const char *path, const char *data, size_t n, rg_doc_builder *b,
                           rg_error *err)
{
    (void)path;
    if (n >= 8 && memcmp(data, OLE_SIG, 8) == 0) return ole_file(data, n, err);
    zip_t *z = NULL;
    rg_status st = open_zip(data, n, &z, err);
    if (st) return st;
    docx d;
    memset(&d, 0, sizeof d);
    d.b = b;
    d.err = err;
    rg_buf_init(&d.text, DOCX_MAX_BLOCK_BYTES);
    rg_buf_init(&d.cell, DOCX_MAX_BLOCK_BYTES);
    rg_buf_init(&d.row, DOCX_MAX_BLOCK_BYTES);
    st = read_parts(&d, z, err);
    zip_discard(z);
    rg_free(d.styles);
    rg_buf_free(&d.text);
    rg_buf_free(&d.cell);
    rg_buf_free(&d.row);
    return st;
}

static const char *const docx_exts[] = {"docx", NULL};

static int docx_can_load(const char *path, const char *data, size_t n)
{
    int zip = n >= 4 && memcmp(data, "PK\x03\x04", 4) == 0;
    if (rg_path_has_ext(path, docx_exts))
        return !data || zip || (n >= 8 && memcmp(data, OLE_SIG, 8) == 0);
    return rg_path_has_no_ext(path) && zip && contains(data, n, "word/document.xml", 17);
}

const rg_loader rg_loader_docx = {
    "docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    docx_can_load, docx_load, 1};
