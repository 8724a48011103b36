/*
 * loader_pdf.c — the text layer of PDF files, read with qpdf.
 *
 * qpdf (libqpdf, Apache-2.0, used through its C API <qpdf/qpdf-c.h>) parses
 * the file: cross-reference tables and streams, object streams, repair of
 * damaged files, decryption with the empty user password. Apache-2.0 can be
 * combined with ragd's MIT licence; poppler (GPL) and MuPDF (AGPL) could not
 * be linked without relicensing ragd, which is why they are not used.
 *
 * qpdf knows objects, not text, so this file walks the pages, hands each
 * page's content stream to the interpreter (pdf_content.h) and answers its
 * questions about resources: fonts (decoded by pdf_font.h, once per font
 * object) and form XObjects (read once per page, run in place each time one
 * is drawn, nested up to RG_PDF_MAX_FORM_DEPTH). Compressed streams are
 * inflated here with zlib under the byte limits of loader.h, so a small file
 * cannot expand into gigabytes; filters other than FlateDecode (rare for
 * text) are left to qpdf.
 *
 * qpdf's own allocations (stream data it returns) come from malloc and are
 * released with free(), not rg_free.
 */
#include "ingest/loader.h"

#include <qpdf/qpdf-c.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "engine/base/buf.h"
#include "engine/base/mem.h"
#include "engine/base/utf8.h"
#include "ingest/pdf_content.h"
#include "ingest/pdf_font.h"

/* A resource name longer than this is not looked up. */
#define PDF_NAME_MAX 128
/* Font and XObject names remembered per resource dictionary, each (more are
 * looked up each time), and the longest name remembered. */
#define SCOPE_NAMES    32
#define SCOPE_NAME_MAX 31
/* Decoded fonts are found by object number in this many hash buckets. */
#define FONT_BUCKETS 256u
/* Form XObjects read on the current page are found in this many buckets. */
#define FORM_BUCKETS 64u
/*
 * Work that is not content is counted against the content limits as if it
 * were this many bytes: a resource name looked up in qpdf's objects (one not
 * remembered), a font decoded (plus its CMaps' bytes), a form XObject drawn
 * (at least this; its content's size when larger). A small file cannot make
 * the loader look up, decode or draw without end: these costs bound the
 * work, and the memory of what is kept for the page, like content bytes.
 */
#define PDF_LOOKUP_COST 1024u
#define PDF_FONT_COST   4096u
#define PDF_DRAW_COST   256u
/* qpdf's messages are cut to this many bytes, on one line. */
#define PDF_MESSAGE_MAX 200
/* The %PDF- header may follow this many bytes of junk (as readers allow). */
#define PDF_HEADER_SEARCH 1024
/* Inflation output grows in steps of this many bytes. */
#define INFLATE_CHUNK (64u << 10)

/* Stream bytes from qpdf (malloc) or from our inflater (rg_malloc). */
typedef struct bytes {
    unsigned char *data;
    size_t len;
    int from_qpdf;
} bytes;

/* A decoded font object, shared by every page that uses it. */
typedef struct font_entry {
    int obj, gen;
    rg_pdf_font *font;
    size_t next; /* the next entry of its bucket, or SIZE_MAX */
} font_entry;

typedef struct form form;

/* A resource dictionary and the font and XObject names it has resolved. */
typedef struct scope {
    qpdf_oh resources;
    struct {
        char name[SCOPE_NAME_MAX + 1];
        const rg_pdf_font *font; /* NULL: its text is skipped */
    } fonts[SCOPE_NAMES];
    size_t n_fonts;
    struct {
        char name[SCOPE_NAME_MAX + 1];
        form *form; /* NULL: draws nothing (an image, a broken form) */
    } xobjects[SCOPE_NAMES];
    size_t n_xobjects;
} scope;

/*
 * A form XObject drawn on the current page, read once per page however often
 * it is drawn. A form without /Resources uses those of what draws it, so it
 * is kept per drawing scope (parent); one with its own has its own scope.
 */
struct form {
    int obj, gen;
    const scope *parent; /* the scope it draws with, or NULL: its own */
    bytes content;
    double matrix[6];
    scope own;
    form *next; /* in its bucket */
};

typedef struct pdf {
    qpdf_data q;
    rg_error *err;
    font_entry *fonts; /* font objects, for the whole document */
    size_t n_fonts, cap_fonts;
    size_t font_buckets[FONT_BUCKETS];
    rg_pdf_font **page_fonts; /* fonts written directly in a dictionary: this page's */
    size_t n_page_fonts, cap_page_fonts;
    form *forms[FORM_BUCKETS]; /* this page's */
    scope *scope;              /* the resources of the page or form being run */
    unsigned page;
    size_t cmap_bytes;  /* CMap bytes read for the font being decoded */
    size_t page_bytes;  /* content read for this page, forms included */
    size_t total_bytes; /* content read for the document */
} pdf;

static void bytes_free(bytes *b)
{
    if (b->from_qpdf)
        free(b->data);
    else
        rg_free(b->data);
    memset(b, 0, sizeof *b);
}

/* --- qpdf errors ------------------------------------------------------------------- */

/* qpdf's pending error as one short line in out (its own words), "" if none. */
static void qpdf_message(qpdf_data q, char out[PDF_MESSAGE_MAX], enum qpdf_error_code_e *code)
{
    qpdf_error e = qpdf_has_error(q) ? qpdf_get_error(q) : NULL;
    out[0] = '\0';
    if (code) *code = e ? qpdf_get_error_code(q, e) : qpdf_e_success;
    if (!e) return;
    const char *d = qpdf_get_error_message_detail(q, e);
    size_t n = 0;
    for (; d && d[n] && d[n] != '\n' && n + 1 < PDF_MESSAGE_MAX; n++)
        out[n] = d[n];
    out[n] = '\0';
}

/* Forgets an error of a call whose failure only loses a detail (a font, a form). */
static void clear_error(pdf *p)
{
    if (qpdf_has_error(p->q)) qpdf_get_error(p->q);
}

/* --- streams ------------------------------------------------------------------------ */

static int is_flate_only(pdf *p, qpdf_oh dict)
{
    qpdf_oh f = qpdf_oh_get_key(p->q, dict, "/Filter");
    if (qpdf_oh_is_array(p->q, f)) {
        if (qpdf_oh_get_array_n_items(p->q, f) != 1) return 0;
        f = qpdf_oh_get_array_item(p->q, f, 0);
    }
    if (!qpdf_oh_is_name_and_equals(p->q, f, "/FlateDecode")) return 0;
    qpdf_oh parms = qpdf_oh_get_key(p->q, dict, "/DecodeParms");
    if (qpdf_oh_is_array(p->q, parms)) parms = qpdf_oh_get_array_item(p->q, parms, 0);
    /* predictors are for images; leave such streams to qpdf */
    return !qpdf_oh_is_dictionary(p->q, parms) || !qpdf_oh_has_key(p->q, parms, "/Predictor");
}

/*
 * Inflates in[0..n) (zlib, or raw deflate as some writers produce) into out,
 * at most max bytes: RG_ELIMIT beyond. A truncated or damaged stream gives
 * what inflated before the damage, as qpdf does.
 */
static rg_status inflate_bounded(const unsigned char *in, size_t n, size_t max, bytes *out)
{
    rg_buf buf;
    rg_status st = RG_OK;
    for (int raw = 0; raw < 2; raw++) {
        z_stream z;
        memset(&z, 0, sizeof z);
        if (inflateInit2(&z, raw ? -MAX_WBITS : MAX_WBITS) != Z_OK) return RG_ENOMEM;
        rg_buf_init(&buf, max);
        z.next_in = (Bytef *)in;
        z.avail_in = (uInt)(n > UINT32_MAX ? UINT32_MAX : n);
        int zr = Z_OK;
        while (zr == Z_OK) {
            if ((st = rg_buf_reserve(&buf, INFLATE_CHUNK))) {
                /* fewer than a chunk may still fit under max */
                if (st != RG_ELIMIT || (st = rg_buf_reserve(&buf, max - buf.len))) break;
            }
            size_t room = buf.cap - buf.len - 1;
            if (room == 0) {
                st = RG_ELIMIT;
                break;
            }
            z.next_out = (Bytef *)buf.data + buf.len;
            z.avail_out = (uInt)(room > UINT32_MAX ? UINT32_MAX : room);
            zr = inflate(&z, Z_NO_FLUSH);
            buf.len += (size_t)((Bytef *)z.next_out - ((Bytef *)buf.data + buf.len));
            buf.data[buf.len] = '\0';
            if (zr == Z_BUF_ERROR && z.avail_in == 0) break; /* truncated: keep what we have */
            if (zr == Z_BUF_ERROR) zr = Z_OK;
        }
        inflateEnd(&z);
        if (!st && zr == Z_MEM_ERROR) st = RG_ENOMEM;
        if (!st && zr == Z_DATA_ERROR && buf.len == 0 && !raw) { /* try raw deflate */
            rg_buf_free(&buf);
            continue;
        }
        break;
    }
    if (st) {
        rg_buf_free(&buf);
        return st;
    }
    out->len = buf.len;
    out->data = (unsigned char *)rg_buf_steal(&buf);
    out->from_qpdf = 0;
    return RG_OK;
}

/*
 * The decoded data of a stream, at most max bytes (RG_ELIMIT beyond).
 * RG_EPARSE with qpdf's words when the stream cannot be read.
 */
static rg_status stream_data(pdf *p, qpdf_oh stream, size_t max, bytes *out, rg_error *err)
{
    char msg[PDF_MESSAGE_MAX];
    memset(out, 0, sizeof *out);
    int flate = is_flate_only(p, qpdf_oh_get_dict(p->q, stream));
    unsigned char *data = NULL;
    size_t len = 0;
    if (qpdf_oh_get_stream_data(p->q, stream, flate ? qpdf_dl_none : qpdf_dl_generalized, NULL,
                                &data, &len) &
        QPDF_ERRORS) {
        free(data);
        qpdf_message(p->q, msg, NULL);
        return rg_fail(err, RG_EPARSE, "page %u: unreadable stream: %s", p->page, msg);
    }
    rg_status st = RG_OK;
    if (flate) {
        st = inflate_bounded(data, len, max, out);
        free(data);
    } else if (len > max) {
        free(data);
        st = RG_ELIMIT;
    } else {
        *out = (bytes){data, len, 1};
    }
    if (st == RG_ELIMIT)
        return rg_fail(err, st, "page %u: content exceeds %u bytes", p->page,
                       RG_PDF_MAX_PAGE_CONTENT_BYTES);
    if (st) return rg_fail(err, st, "out of memory reading page %u", p->page);
    return RG_OK;
}

/* Counts n content bytes (or the cost of other work) against the page and document limits. */
static rg_status charge(pdf *p, size_t n, rg_error *err)
{
    p->page_bytes += n;
    p->total_bytes += n;
    if (p->page_bytes > RG_PDF_MAX_PAGE_CONTENT_BYTES)
        return rg_fail(err, RG_ELIMIT,
                       "page %u: content exceeds %u bytes (forms drawn and fonts read count)",
                       p->page, RG_PDF_MAX_PAGE_CONTENT_BYTES);
    if (p->total_bytes > RG_PDF_MAX_CONTENT_BYTES)
        return rg_fail(err, RG_ELIMIT,
                       "the PDF's content exceeds %u bytes (forms drawn and fonts read count)",
                       RG_PDF_MAX_CONTENT_BYTES);
    return RG_OK;
}

/* What may still be read for this page. */
static size_t page_room(const pdf *p)
{
    return p->page_bytes < RG_PDF_MAX_PAGE_CONTENT_BYTES
               ? RG_PDF_MAX_PAGE_CONTENT_BYTES - p->page_bytes
               : 0;
}

/* --- fonts -------------------------------------------------------------------------- */

static double number(pdf *p, qpdf_oh dict, const char *key, double dflt)
{
    qpdf_oh v = qpdf_oh_get_key(p->q, dict, key);
    return qpdf_oh_is_number(p->q, v) ? qpdf_oh_get_numeric_value(p->q, v) : dflt;
}

static rg_pdf_encoding encoding_named(pdf *p, qpdf_oh name, rg_pdf_encoding dflt)
{
    if (qpdf_oh_is_name_and_equals(p->q, name, "/WinAnsiEncoding")) return RG_PDF_ENC_WINANSI;
    if (qpdf_oh_is_name_and_equals(p->q, name, "/MacRomanEncoding")) return RG_PDF_ENC_MACROMAN;
    if (qpdf_oh_is_name_and_equals(p->q, name, "/StandardEncoding")) return RG_PDF_ENC_STANDARD;
    return dflt;
}

static void differences(pdf *p, rg_pdf_font *f, qpdf_oh enc)
{
    qpdf_oh d = qpdf_oh_get_key(p->q, enc, "/Differences");
    int n = qpdf_oh_is_array(p->q, d) ? qpdf_oh_get_array_n_items(p->q, d) : 0;
    long code = 0;
    for (int i = 0; i < n; i++) {
        qpdf_oh item = qpdf_oh_get_array_item(p->q, d, i);
        if (qpdf_oh_is_number(p->q, item)) {
            double v = qpdf_oh_get_numeric_value(p->q, item);
            code = v >= 0 && v < 256 ? (long)v : 256; /* names after a bad code are ignored */
        } else if (qpdf_oh_is_name(p->q, item)) {
            if (code >= 0 && code < 256)
                rg_pdf_font_set_glyph(f, (unsigned)code, qpdf_oh_get_name(p->q, item) + 1);
            code++;
        }
    }
}

static rg_pdf_font *simple_font(pdf *p, qpdf_oh dict)
{
    qpdf_oh base = qpdf_oh_get_key(p->q, dict, "/BaseFont");
    const char *base_name = qpdf_oh_is_name(p->q, base) ? qpdf_oh_get_name(p->q, base) : "";
    int symbolic =
        strstr(base_name, "Symbol") || strstr(base_name, "Dingbats") ||
        qpdf_oh_is_name_and_equals(p->q, qpdf_oh_get_key(p->q, dict, "/Subtype"), "/Type3");
    rg_pdf_encoding dflt = symbolic ? RG_PDF_ENC_NONE : RG_PDF_ENC_WINANSI;
    qpdf_oh enc = qpdf_oh_get_key(p->q, dict, "/Encoding");
    rg_pdf_encoding e = qpdf_oh_is_dictionary(p->q, enc)
                            ? encoding_named(p, qpdf_oh_get_key(p->q, enc, "/BaseEncoding"), dflt)
                            : encoding_named(p, enc, dflt);
    rg_pdf_font *f = rg_pdf_font_new_simple(e, base_name);
    if (!f) return NULL;
    if (qpdf_oh_is_dictionary(p->q, enc)) differences(p, f, enc);
    qpdf_oh w = qpdf_oh_get_key(p->q, dict, "/Widths");
    int n = qpdf_oh_is_array(p->q, w) ? qpdf_oh_get_array_n_items(p->q, w) : 0;
    if (n > 0) {
        double widths[256];
        int k = n < 256 ? n : 256;
        for (int i = 0; i < k; i++) {
            qpdf_oh v = qpdf_oh_get_array_item(p->q, w, i);
            widths[i] = qpdf_oh_is_number(p->q, v) ? qpdf_oh_get_numeric_value(p->q, v) : 0;
        }
        qpdf_oh desc = qpdf_oh_get_key(p->q, dict, "/FontDescriptor");
        double missing =
            qpdf_oh_is_dictionary(p->q, desc) ? number(p, desc, "/MissingWidth", 0) : 0;
        double first = number(p, dict, "/FirstChar", 0);
        rg_pdf_font_set_widths(f, first >= 0 && first < 256 ? (unsigned)first : 0, widths,
                               (size_t)k, missing);
    }
    qpdf_oh fm = qpdf_oh_get_key(p->q, dict, "/FontMatrix");
    if (qpdf_oh_is_array(p->q, fm) && qpdf_oh_get_array_n_items(p->q, fm) == 6) {
        qpdf_oh a = qpdf_oh_get_array_item(p->q, fm, 0);
        if (qpdf_oh_is_number(p->q, a))
            rg_pdf_font_set_width_scale(f, qpdf_oh_get_numeric_value(p->q, a));
    }
    return f;
}

/* /W of a CIDFont: c [w1 w2 ...] and c_first c_last w. */
static rg_status cid_widths(pdf *p, rg_pdf_font *f, qpdf_oh w)
{
    int n = qpdf_oh_is_array(p->q, w) ? qpdf_oh_get_array_n_items(p->q, w) : 0;
    rg_status st = RG_OK;
    for (int i = 0; i + 1 < n && !st;) {
        qpdf_oh a = qpdf_oh_get_array_item(p->q, w, i), b = qpdf_oh_get_array_item(p->q, w, i + 1);
        if (!qpdf_oh_is_number(p->q, a)) break;
        double first = qpdf_oh_get_numeric_value(p->q, a);
        if (first < 0 || first > UINT32_MAX) break;
        if (qpdf_oh_is_array(p->q, b)) {
            int m = qpdf_oh_get_array_n_items(p->q, b);
            for (int j = 0; j < m && !st; j++) {
                qpdf_oh v = qpdf_oh_get_array_item(p->q, b, j);
                uint32_t c = (uint32_t)first + (uint32_t)j;
                if (qpdf_oh_is_number(p->q, v))
                    st = rg_pdf_font_add_width(f, c, c, qpdf_oh_get_numeric_value(p->q, v));
            }
            i += 2;
        } else if (i + 2 < n && qpdf_oh_is_number(p->q, b)) {
            double last = qpdf_oh_get_numeric_value(p->q, b);
            qpdf_oh v = qpdf_oh_get_array_item(p->q, w, i + 2);
            if (last >= first && last <= UINT32_MAX && qpdf_oh_is_number(p->q, v))
                st = rg_pdf_font_add_width(f, (uint32_t)first, (uint32_t)last,
                                           qpdf_oh_get_numeric_value(p->q, v));
            i += 3;
        } else {
            break;
        }
    }
    return st;
}

/*
 * A CMap stream's bytes (bounded); nothing when there is none or it cannot
 * be read (the font then decodes without it). RG_ENOMEM only.
 */
static rg_status cmap_bytes(pdf *p, qpdf_oh stream, bytes *out)
{
    rg_error ignored;
    memset(out, 0, sizeof *out);
    if (!qpdf_oh_is_stream(p->q, stream)) return RG_OK;
    rg_status st = stream_data(p, stream, RG_PDF_MAX_CMAP_BYTES, out, &ignored);
    clear_error(p);
    p->cmap_bytes += out->len;
    return st == RG_ENOMEM ? st : RG_OK;
}

static rg_status composite_font(pdf *p, qpdf_oh dict, rg_pdf_font **out)
{
    rg_pdf_font *f = *out = rg_pdf_font_new_composite();
    if (!f) return RG_ENOMEM;
    qpdf_oh enc = qpdf_oh_get_key(p->q, dict, "/Encoding");
    if (qpdf_oh_is_name(p->q, enc)) {
        const char *name = qpdf_oh_get_name(p->q, enc);
        if (strstr(name, "UCS2") || strstr(name, "UTF16")) rg_pdf_font_set_unicode_codes(f);
    } else if (qpdf_oh_is_stream(p->q, enc)) {
        bytes cm;
        rg_status st = cmap_bytes(p, enc, &cm);
        if (!st) st = rg_pdf_font_load_encoding_cmap(f, (const char *)cm.data, cm.len);
        bytes_free(&cm);
        if (st) return st;
    }
    qpdf_oh kids = qpdf_oh_get_key(p->q, dict, "/DescendantFonts");
    qpdf_oh cid = qpdf_oh_is_array(p->q, kids) ? qpdf_oh_get_array_item(p->q, kids, 0) : kids;
    if (!qpdf_oh_is_dictionary(p->q, cid)) return RG_OK;
    rg_pdf_font_set_default_width(f, number(p, cid, "/DW", 1000));
    return cid_widths(p, f, qpdf_oh_get_key(p->q, cid, "/W"));
}

/* Decodes a font dictionary; *out NULL (text skipped) when it is not a font. */
static rg_status build_font(pdf *p, qpdf_oh dict, rg_pdf_font **out)
{
    *out = NULL;
    if (!qpdf_oh_is_dictionary(p->q, dict)) return RG_OK;
    rg_status st = RG_OK;
    if (qpdf_oh_is_name_and_equals(p->q, qpdf_oh_get_key(p->q, dict, "/Subtype"), "/Type0"))
        st = composite_font(p, dict, out);
    else if (!(*out = simple_font(p, dict)))
        st = RG_ENOMEM;
    if (!st) {
        bytes cm;
        st = cmap_bytes(p, qpdf_oh_get_key(p->q, dict, "/ToUnicode"), &cm);
        if (!st && cm.len) st = rg_pdf_font_load_to_unicode(*out, (const char *)cm.data, cm.len);
        bytes_free(&cm);
    }
    clear_error(p);
    if (st) {
        rg_pdf_font_free(*out);
        *out = NULL;
        return st;
    }
    rg_pdf_font_finish(*out);
    return RG_OK;
}

/* Keeps f for the rest of the document (obj > 0) or of the page, and frees it then. */
static rg_status remember(pdf *p, int obj, int gen, rg_pdf_font *f)
{
    if (obj <= 0) {
        if (p->n_page_fonts == p->cap_page_fonts) {
            size_t cap = p->cap_page_fonts ? p->cap_page_fonts * 2 : 16;
            rg_pdf_font **e = rg_realloc(p->page_fonts, cap * sizeof *e);
            if (!e) return RG_ENOMEM;
            p->page_fonts = e;
            p->cap_page_fonts = cap;
        }
        p->page_fonts[p->n_page_fonts++] = f;
        return RG_OK;
    }
    if (p->n_fonts == p->cap_fonts) {
        size_t cap = p->cap_fonts ? p->cap_fonts * 2 : 16;
        font_entry *e = rg_realloc(p->fonts, cap * sizeof *e);
        if (!e) return RG_ENOMEM;
        p->fonts = e;
        p->cap_fonts = cap;
    }
    size_t *head = &p->font_buckets[(unsigned)obj % FONT_BUCKETS];
    p->fonts[p->n_fonts] = (font_entry){obj, gen, f, *head};
    *head = p->n_fonts++;
    return RG_OK;
}

/*
 * The decoded font of a font dictionary in *font (NULL when it is not a
 * font): shared per font object, decoded anew for a direct one. Decoding
 * counts against the content limits.
 */
static rg_status font_of(pdf *p, qpdf_oh dict, const rg_pdf_font **font, rg_error *err)
{
    int obj = qpdf_oh_get_object_id(p->q, dict), gen = qpdf_oh_get_generation(p->q, dict);
    *font = NULL;
    if (obj > 0)
        for (size_t i = p->font_buckets[(unsigned)obj % FONT_BUCKETS]; i != SIZE_MAX;
             i = p->fonts[i].next)
            if (p->fonts[i].obj == obj && p->fonts[i].gen == gen) {
                *font = p->fonts[i].font;
                return RG_OK;
            }
    if (!qpdf_oh_is_dictionary(p->q, dict)) return RG_OK;
    p->cmap_bytes = 0;
    rg_pdf_font *f;
    rg_status st = build_font(p, dict, &f);
    if (!st && f && (st = remember(p, obj, gen, f))) rg_pdf_font_free(f);
    if (st) return rg_fail(err, st, "out of memory reading the fonts of page %u", p->page);
    *font = f;
    return charge(p, PDF_FONT_COST + p->cmap_bytes, err);
}

/* "/" + name[0..len) in key, or 0 when it does not fit. */
static int resource_key(const char *name, size_t len, char key[PDF_NAME_MAX + 1])
{
    if (len >= PDF_NAME_MAX || memchr(name, '\0', len)) return 0;
    key[0] = '/';
    memcpy(key + 1, name, len);
    key[len + 1] = '\0';
    return 1;
}

static rg_status on_font(void *ctx, const char *name, size_t len, const rg_pdf_font **font,
                         rg_error *err)
{
    pdf *p = ctx;
    scope *sc = p->scope;
    char key[PDF_NAME_MAX + 1];
    *font = NULL;
    if (!resource_key(name, len, key)) return RG_OK;
    for (size_t i = 0; i < sc->n_fonts; i++)
        if (strcmp(sc->fonts[i].name, key) == 0) {
            *font = sc->fonts[i].font;
            return RG_OK;
        }
    rg_status st = charge(p, PDF_LOOKUP_COST, err);
    if (st) return st;
    qpdf_oh fonts = qpdf_oh_get_key_if_dict(p->q, sc->resources, "/Font");
    st = font_of(p, qpdf_oh_get_key_if_dict(p->q, fonts, key), font, err);
    clear_error(p);
    if (st) return st;
    if (sc->n_fonts < SCOPE_NAMES && strlen(key) <= SCOPE_NAME_MAX) {
        memcpy(sc->fonts[sc->n_fonts].name, key, strlen(key) + 1);
        sc->fonts[sc->n_fonts++].font = *font;
    }
    return RG_OK;
}

/* --- pages and forms -------------------------------------------------------------- */

static rg_status on_xobject(void *ctx, rg_pdf_interp *ip, const char *name, size_t len,
                            rg_error *err);

static const rg_pdf_content_ops content_ops_proto = {NULL, on_font, on_xobject};

static void form_matrix(pdf *p, qpdf_oh dict, double m[6])
{
    static const double id[6] = {1, 0, 0, 1, 0, 0};
    memcpy(m, id, sizeof id);
    qpdf_oh a = qpdf_oh_get_key(p->q, dict, "/Matrix");
    if (!qpdf_oh_is_array(p->q, a) || qpdf_oh_get_array_n_items(p->q, a) != 6) return;
    for (int i = 0; i < 6; i++) {
        qpdf_oh v = qpdf_oh_get_array_item(p->q, a, i);
        if (!qpdf_oh_is_number(p->q, v)) {
            memcpy(m, id, sizeof id);
            return;
        }
        m[i] = qpdf_oh_get_numeric_value(p->q, v);
    }
}

/* Frees what was kept for the page: its forms and its direct fonts. */
static void page_end(pdf *p)
{
    for (size_t i = 0; i < p->n_page_fonts; i++)
        rg_pdf_font_free(p->page_fonts[i]);
    p->n_page_fonts = 0;
    for (size_t b = 0; b < FORM_BUCKETS; b++) {
        while (p->forms[b]) {
            form *f = p->forms[b];
            p->forms[b] = f->next;
            bytes_free(&f->content);
            rg_free(f);
        }
    }
}

/*
 * The form XObject named key in the current scope, read on its first draw on
 * the page: *out NULL when it is not one or cannot be read (it draws nothing).
 */
static rg_status resolve_form(pdf *p, const char *key, form **out, rg_error *err)
{
    *out = NULL;
    qpdf_oh xobjects = qpdf_oh_get_key_if_dict(p->q, p->scope->resources, "/XObject");
    qpdf_oh xo = qpdf_oh_get_key_if_dict(p->q, xobjects, key);
    if (!qpdf_oh_is_stream(p->q, xo)) {
        clear_error(p);
        return RG_OK;
    }
    qpdf_oh dict = qpdf_oh_get_dict(p->q, xo);
    if (!qpdf_oh_is_name_and_equals(p->q, qpdf_oh_get_key(p->q, dict, "/Subtype"), "/Form"))
        return RG_OK; /* an image */
    qpdf_oh res = qpdf_oh_get_key(p->q, dict, "/Resources");
    int own = qpdf_oh_is_dictionary(p->q, res);
    const scope *parent = own ? NULL : p->scope;
    int obj = qpdf_oh_get_object_id(p->q, xo), gen = qpdf_oh_get_generation(p->q, xo);
    form **head = &p->forms[(unsigned)obj % FORM_BUCKETS];
    for (form *f = *head; f && obj > 0; f = f->next)
        if (f->obj == obj && f->gen == gen && f->parent == parent) {
            *out = f;
            return RG_OK;
        }
    bytes data;
    rg_status st = stream_data(p, xo, page_room(p), &data, err);
    if (st == RG_EPARSE) { /* a broken form loses its own text, not the page */
        clear_error(p);
        return RG_OK;
    }
    if (!st) st = charge(p, sizeof(form) + data.len, err);
    form *f = st ? NULL : rg_calloc(1, sizeof *f);
    if (!f) {
        bytes_free(&data);
        return st ? st : rg_fail(err, RG_ENOMEM, "out of memory reading page %u", p->page);
    }
    f->obj = obj;
    f->gen = gen;
    f->parent = parent;
    f->content = data;
    if (own) f->own.resources = res;
    form_matrix(p, dict, f->matrix);
    f->next = *head;
    *head = f;
    *out = f;
    return RG_OK;
}

static rg_status on_xobject(void *ctx, rg_pdf_interp *ip, const char *name, size_t len,
                            rg_error *err)
{
    pdf *p = ctx;
    scope *sc = p->scope;
    char key[PDF_NAME_MAX + 1];
    if (rg_pdf_interp_form_depth(ip) >= RG_PDF_MAX_FORM_DEPTH || !resource_key(name, len, key))
        return RG_OK;
    form *f = NULL;
    size_t i = 0;
    while (i < sc->n_xobjects && strcmp(sc->xobjects[i].name, key) != 0)
        i++;
    rg_status st = RG_OK;
    if (i < sc->n_xobjects) {
        f = sc->xobjects[i].form;
    } else {
        if ((st = charge(p, PDF_LOOKUP_COST, err)) || (st = resolve_form(p, key, &f, err)))
            return st;
        if (sc->n_xobjects < SCOPE_NAMES && strlen(key) <= SCOPE_NAME_MAX) {
            memcpy(sc->xobjects[sc->n_xobjects].name, key, strlen(key) + 1);
            sc->xobjects[sc->n_xobjects++].form = f;
        }
    }
    if (!f) return RG_OK;
    size_t n = f->content.len;
    if ((st = charge(p, n > PDF_DRAW_COST ? n : PDF_DRAW_COST, err))) return st;
    p->scope = f->parent ? sc : &f->own;
    st = rg_pdf_interp_form(ip, (const char *)f->content.data, n, f->matrix, err);
    p->scope = sc;
    return st;
}

/* The page's content streams joined by newlines into content. */
static rg_status page_content(pdf *p, qpdf_oh page, rg_buf *content, rg_error *err)
{
    qpdf_oh c = qpdf_oh_get_key(p->q, page, "/Contents");
    int n = qpdf_oh_is_array(p->q, c) ? qpdf_oh_get_array_n_items(p->q, c) : 1;
    rg_status st = RG_OK;
    for (int i = 0; i < n && !st; i++) {
        qpdf_oh s = qpdf_oh_is_array(p->q, c) ? qpdf_oh_get_array_item(p->q, c, i) : c;
        if (!qpdf_oh_is_stream(p->q, s)) continue; /* a page without content, or junk */
        bytes data;
        if ((st = stream_data(p, s, page_room(p), &data, err))) break;
        if (!(st = charge(p, data.len + 1, err))) {
            st = rg_buf_append(content, data.data, data.len);
            if (!st) st = rg_buf_putc(content, '\n');
            if (st) st = rg_fail(err, st, "out of memory reading page %u", p->page);
        }
        bytes_free(&data);
    }
    return st;
}

static rg_status read_pages(pdf *p, rg_pdf_interp *ip, int n_pages, rg_error *err)
{
    rg_buf content;
    rg_buf_init(&content, RG_PDF_MAX_PAGE_CONTENT_BYTES + 1);
    rg_status st = RG_OK;
    rg_pdf_content_ops ops = content_ops_proto;
    ops.ctx = p;
    scope sc; /* the page's resources */
    memset(&sc, 0, sizeof sc);
    for (int i = 0; i < n_pages && !st; i++) {
        p->page = (unsigned)i + 1;
        p->page_bytes = 0;
        rg_buf_reset(&content);
        qpdf_oh page = qpdf_get_page_n(p->q, (size_t)i);
        sc.resources = qpdf_oh_get_key(p->q, page, "/Resources");
        sc.n_fonts = sc.n_xobjects = 0;
        p->scope = &sc;
        st = page_content(p, page, &content, err);
        if (!st) st = rg_pdf_interp_page(ip, p->page, rg_buf_str(&content), content.len, &ops, err);
        p->scope = NULL;
        page_end(p);
        qpdf_oh_release_all(p->q);       /* handles are per page; decoded fonts are ours */
        while (qpdf_more_warnings(p->q)) /* a damaged file warns a lot: keep memory flat */
            qpdf_next_warning(p->q);
    }
    rg_buf_free(&content);
    return st;
}

/* /Info /Title as UTF-8, or the first line of text. */
static rg_status set_title(pdf *p, rg_pdf_interp *ip, rg_doc_builder *b, rg_error *err)
{
    qpdf_oh info = qpdf_oh_get_key_if_dict(p->q, qpdf_get_trailer(p->q), "/Info");
    qpdf_oh t = qpdf_oh_get_key_if_dict(p->q, info, "/Title");
    const char *title = qpdf_oh_is_string(p->q, t) ? qpdf_oh_get_utf8_value(p->q, t) : NULL;
    size_t n = title ? strlen(title) : 0;
    clear_error(p);
    size_t k = 0;
    while (k < n && (title[k] == ' ' || title[k] == '\t' || title[k] == '\r' || title[k] == '\n'))
        k++;
    if (k < n && rg_utf8_valid(title, n, NULL)) return rg_doc_set_title(b, title, n, err);
    const char *line = rg_pdf_interp_first_line(ip, &n);
    return n ? rg_doc_set_title(b, line, n, err) : RG_OK;
}

/* --- the loader -------------------------------------------------------------------- */

static rg_status open_pdf(qpdf_data q, const char *data, size_t n, rg_error *err)
{
    char msg[PDF_MESSAGE_MAX];
    enum qpdf_error_code_e code;
    if (!(qpdf_read_memory(q, "pdf", data, (unsigned long long)n, "") & QPDF_ERRORS)) return RG_OK;
    qpdf_message(q, msg, &code);
    if (code == qpdf_e_password)
        return rg_fail(err, RG_EUNSUPPORTED, "encrypted PDF (password required)");
    return rg_fail(err, RG_EPARSE, "damaged PDF: %s", msg[0] ? msg : "unreadable");
}

static rg_status pdf_load(const char *path, const char *data, size_t n, rg_doc_builder *b,
                          rg_error *err)
{
    (void)path;
    pdf p = {.err = err};
    for (size_t i = 0; i < FONT_BUCKETS; i++)
        p.font_buckets[i] = SIZE_MAX;
    rg_pdf_interp *ip = NULL;
    p.q = qpdf_init();
    if (!p.q) return rg_fail(err, RG_ENOMEM, "out of memory opening the PDF");
    qpdf_silence_errors(p.q);
    qpdf_set_suppress_warnings(p.q, QPDF_TRUE);
    rg_status st = open_pdf(p.q, data, n, err);
    if (st) goto out;
    int pages = qpdf_get_num_pages(p.q);
    if (pages < 0) {
        char msg[PDF_MESSAGE_MAX];
        qpdf_message(p.q, msg, NULL);
        st = rg_fail(err, RG_EPARSE, "damaged PDF page tree: %s", msg[0] ? msg : "unreadable");
        goto out;
    }
    if ((unsigned)pages > RG_PDF_MAX_PAGES) {
        st = rg_fail(err, RG_ELIMIT, "the PDF has %d pages; the limit is %u", pages,
                     RG_PDF_MAX_PAGES);
        goto out;
    }
    if (!(ip = rg_pdf_interp_new(b, RG_PDF_MAX_TEXT_BYTES))) {
        st = rg_fail(err, RG_ENOMEM, "out of memory reading the PDF");
        goto out;
    }
    /* pages inherit /Resources from the page tree; make every page carry its own */
    qpdf_push_inherited_attributes_to_page(p.q);
    clear_error(&p);
    st = read_pages(&p, ip, pages, err);
    if (!st) st = set_title(&p, ip, b, err);
out:
    page_end(&p);
    for (size_t i = 0; i < p.n_fonts; i++)
        rg_pdf_font_free(p.fonts[i].font);
    rg_free(p.fonts);
    rg_free(p.page_fonts);
    rg_pdf_interp_free(ip);
    qpdf_cleanup(&p.q);
    return st;
}

/* "%PDF-" near the start, where readers look for it. */
static int has_pdf_header(const char *data, size_t n)
{
    size_t lim = n < PDF_HEADER_SEARCH ? n : PDF_HEADER_SEARCH;
    for (size_t i = 0; i + 5 <= lim; i++)
        if (data[i] == '%' && memcmp(data + i, "%PDF-", 5) == 0) return 1;
    return 0;
}

static const char *const pdf_exts[] = {"pdf", NULL};

static int pdf_can_load(const char *path, const char *data, size_t n)
{
    if (rg_path_has_ext(path, pdf_exts)) return !data || has_pdf_header(data, n);
    return data && rg_path_has_no_ext(path) && has_pdf_header(data, n);
}

const rg_loader rg_loader_pdf = {"pdf", "application/pdf", pdf_can_load, pdf_load, 1};
