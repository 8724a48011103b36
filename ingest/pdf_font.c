/*
 * pdf_font.c — decoding character codes: ToUnicode CMaps, encodings, widths.
 *
 * A ToUnicode CMap is kept as ranges (a bfchar is a range of one code), so
 * a bfrange over thousands of CJK codes costs one entry. Values are UTF-16
 * code units in one pool; a range's code c maps to its value with the last
 * unit increased by c - lo, as PDF 32000-1 §9.10.3 prescribes.
 */
#include "ingest/pdf_font.h"

#include <stdlib.h>
#include <string.h>

#include "engine/base/mem.h"
#include "engine/base/utf8.h"
#include "ingest/pdf_lex.h"
#include "ingest/pdf_tables.h"

/* Codes are at most four bytes (PDF 32000-1 §9.7.6.2). */
#define CODE_MAX_BYTES 4
/* Glyph units to text space for all but Type3 fonts. */
#define GLYPH_SCALE 0.001
/* Type0 fonts without /DW: every glyph is 1000 units wide. */
#define DEFAULT_CID_WIDTH 1000.0

typedef struct cmap_range {
    uint32_t lo, hi;
    uint32_t units; /* offset in the unit pool */
    uint8_t nbytes; /* code length */
    uint8_t n_units;
    uint32_t seq; /* definition order: later definitions win */
} cmap_range;

typedef struct codespace {
    uint8_t nbytes;
    uint8_t lo[CODE_MAX_BYTES], hi[CODE_MAX_BYTES];
} codespace;

typedef struct width_range {
    uint32_t lo, hi;
    double w;
} width_range;

struct rg_pdf_font {
    int composite;
    int unicode_codes; /* Type0 codes are UTF-16 units */
    /* simple fonts: each code's text from the encoding, NUL-terminated */
    char simple[256][RG_PDF_GLYPH_TEXT_MAX + 1];
    double widths[256];
    int has_widths;
    rg_pdf_metrics metrics;
    /* ToUnicode */
    cmap_range *ranges;
    size_t n_ranges, cap_ranges;
    uint16_t *pool;
    size_t n_pool, cap_pool;
    /* an embedded Encoding CMap's codespace (composite fonts) */
    codespace cs[RG_PDF_MAX_CODESPACES];
    size_t n_cs;
    /* composite widths */
    width_range *wr;
    size_t n_wr, cap_wr;
    double default_w;
    double scale;
};

/* --- construction -------------------------------------------------------------- */

static rg_pdf_font *font_new(void)
{
    rg_pdf_font *f = rg_calloc(1, sizeof *f);
    if (!f) return NULL;
    f->scale = GLYPH_SCALE;
    f->default_w = DEFAULT_CID_WIDTH;
    return f;
}

static void set_code_cp(rg_pdf_font *f, unsigned code, uint32_t cp)
{
    size_t k = cp ? rg_utf8_encode(cp, f->simple[code]) : 0;
    f->simple[code][k] = '\0';
}

rg_pdf_font *rg_pdf_font_new_simple(rg_pdf_encoding base, const char *base_font)
{
    rg_pdf_font *f = font_new();
    if (!f) return NULL;
    for (unsigned c = 0; c < 256; c++)
        set_code_cp(f, c, rg_pdf_encoding_cp(base, c));
    f->metrics = rg_pdf_metrics_for(base_font);
    return f;
}

rg_pdf_font *rg_pdf_font_new_composite(void)
{
    rg_pdf_font *f = font_new();
    if (f) f->composite = 1;
    return f;
}

void rg_pdf_font_free(rg_pdf_font *f)
{
    if (!f) return;
    rg_free(f->ranges);
    rg_free(f->pool);
    rg_free(f->wr);
    rg_free(f);
}

void rg_pdf_font_set_glyph(rg_pdf_font *f, unsigned code, const char *glyph_name)
{
    if (f->composite || code > 255) return;
    size_t k = rg_pdf_glyph_text(glyph_name, f->simple[code]);
    f->simple[code][k] = '\0';
}

void rg_pdf_font_set_unicode_codes(rg_pdf_font *f)
{
    f->unicode_codes = 1;
}

void rg_pdf_font_set_widths(rg_pdf_font *f, unsigned first, const double *w, size_t n,
                            double missing)
{
    for (unsigned c = 0; c < 256; c++)
        f->widths[c] = c >= first && c - first < n ? w[c - first] : missing;
    f->has_widths = 1;
}

void rg_pdf_font_set_default_width(rg_pdf_font *f, double w)
{
    f->default_w = w;
}

rg_status rg_pdf_font_add_width(rg_pdf_font *f, uint32_t lo, uint32_t hi, double w)
{
    if (hi < lo || f->n_wr >= RG_PDF_MAX_WIDTH_RANGES) return RG_OK;
    if (f->n_wr == f->cap_wr) {
        size_t cap = f->cap_wr ? f->cap_wr * 2 : 64;
        width_range *p = rg_realloc(f->wr, cap * sizeof *p);
        if (!p) return RG_ENOMEM;
        f->wr = p;
        f->cap_wr = cap;
    }
    f->wr[f->n_wr++] = (width_range){lo, hi, w};
    return RG_OK;
}

void rg_pdf_font_set_width_scale(rg_pdf_font *f, double scale)
{
    if (scale > 0 && scale < 1) f->scale = scale;
}

/* --- CMaps ----------------------------------------------------------------------- */

static uint32_t code_value(const unsigned char *s, size_t n)
{
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | s[i];
    return v;
}

/* Adds lo..hi → units[0..n) (UTF-16 code units). */
static rg_status add_range(rg_pdf_font *f, size_t nbytes, uint32_t lo, uint32_t hi,
                           const uint16_t *units, size_t n)
{
    if (nbytes < 1 || nbytes > CODE_MAX_BYTES || hi < lo || n == 0) return RG_OK;
    if (f->n_ranges >= RG_PDF_MAX_CMAP_ENTRIES) return RG_OK;
    if (n > RG_PDF_CMAP_VALUE_UNITS) n = RG_PDF_CMAP_VALUE_UNITS;
    if (f->n_ranges == f->cap_ranges) {
        size_t cap = f->cap_ranges ? f->cap_ranges * 2 : 64;
        cmap_range *p = rg_realloc(f->ranges, cap * sizeof *p);
        if (!p) return RG_ENOMEM;
        f->ranges = p;
        f->cap_ranges = cap;
    }
    if (f->n_pool + n > f->cap_pool) {
        size_t cap = f->cap_pool ? f->cap_pool * 2 : 256;
        while (cap < f->n_pool + n)
            cap *= 2;
        uint16_t *p = rg_realloc(f->pool, cap * sizeof *p);
        if (!p) return RG_ENOMEM;
        f->pool = p;
        f->cap_pool = cap;
    }
    memcpy(f->pool + f->n_pool, units, n * sizeof *units);
    f->ranges[f->n_ranges] = (cmap_range){
        lo, hi, (uint32_t)f->n_pool, (uint8_t)nbytes, (uint8_t)n, (uint32_t)f->n_ranges};
    f->n_ranges++;
    f->n_pool += n;
    return RG_OK;
}

/* A bfchar/bfrange value: UTF-16BE bytes (a lone odd byte counts as one unit). */
static size_t value_units(const unsigned char *s, size_t n, uint16_t *units)
{
    if (n == 1) {
        units[0] = s[0];
        return 1;
    }
    size_t k = 0;
    for (size_t i = 0; i + 1 < n && k < RG_PDF_CMAP_VALUE_UNITS; i += 2)
        units[k++] = (uint16_t)(s[i] << 8 | s[i + 1]);
    return k;
}

/* A glyph name as a bfchar value ("/space"), turned into UTF-16 units. */
static size_t name_units(const char *name, size_t len, uint16_t *units)
{
    char nm[64], text[RG_PDF_GLYPH_TEXT_MAX];
    if (len >= sizeof nm) return 0;
    memcpy(nm, name, len);
    nm[len] = '\0';
    size_t n = rg_pdf_glyph_text(nm, text), k = 0;
    for (size_t i = 0; i < n && k + 2 <= RG_PDF_CMAP_VALUE_UNITS;) {
        uint32_t cp;
        size_t step = rg_utf8_decode(text + i, n - i, &cp);
        if (!step) break;
        i += step;
        if (cp >= 0x10000) {
            units[k++] = (uint16_t)(0xD800 + ((cp - 0x10000) >> 10));
            units[k++] = (uint16_t)(0xDC00 + ((cp - 0x10000) & 0x3FF));
        } else {
            units[k++] = (uint16_t)cp;
        }
    }
    return k;
}

static void add_codespace(rg_pdf_font *f, const unsigned char *lo, const unsigned char *hi,
                          size_t n)
{
    if (n < 1 || n > CODE_MAX_BYTES || f->n_cs >= RG_PDF_MAX_CODESPACES) return;
    codespace *c = &f->cs[f->n_cs++];
    c->nbytes = (uint8_t)n;
    memcpy(c->lo, lo, n);
    memcpy(c->hi, hi, n);
}

typedef enum cmap_section { CM_NONE, CM_CODESPACE, CM_BFCHAR, CM_BFRANGE } cmap_section;

typedef struct cmap_parse {
    rg_pdf_font *f;
    rg_pdf_lexer lx;
    cmap_section sec;
    rg_pdf_token pend[2];
    int n_pend;
    int in_array;  /* inside a bfrange's [ values ] */
    uint32_t next; /* the code the next array value maps */
    int want_codespace, want_maps;
} cmap_parse;

static const unsigned char *tok(cmap_parse *cp, const rg_pdf_token *t)
{
    return (const unsigned char *)rg_pdf_tok_bytes(&cp->lx, t);
}

/* A value token (string or glyph name) for code lo..hi of nbytes. */
static rg_status map_value(cmap_parse *cp, size_t nbytes, uint32_t lo, uint32_t hi,
                           const rg_pdf_token *v)
{
    uint16_t units[RG_PDF_CMAP_VALUE_UNITS];
    size_t n = v->type == RG_PDF_TOK_STRING ? value_units(tok(cp, v), v->len, units)
               : v->type == RG_PDF_TOK_NAME ? name_units((const char *)tok(cp, v), v->len, units)
                                            : 0;
    return add_range(cp->f, nbytes, lo, hi, units, n);
}

static rg_status cmap_value(cmap_parse *cp, const rg_pdf_token *t)
{
    const rg_pdf_token *a = &cp->pend[0], *b = &cp->pend[1];
    rg_status st = RG_OK;
    if (cp->in_array) { /* lo hi [v0 v1 ...]: value i maps lo + i */
        if (cp->next <= code_value(tok(cp, b), b->len) && cp->want_maps)
            st = map_value(cp, a->len, cp->next, cp->next, t);
        cp->next++;
        return st;
    }
    int need = cp->sec == CM_BFCHAR ? 1 : 2; /* source strings before the value */
    if (cp->n_pend < need || cp->sec == CM_CODESPACE) {
        if (t->type != RG_PDF_TOK_STRING) {
            cp->n_pend = 0;
            return RG_OK;
        }
        cp->pend[cp->n_pend++] = *t;
        if (cp->sec == CM_CODESPACE && cp->n_pend == 2) {
            if (cp->want_codespace && a->len == b->len)
                add_codespace(cp->f, tok(cp, a), tok(cp, b), a->len);
            cp->n_pend = 0;
        }
        return RG_OK;
    }
    uint32_t lo = code_value(tok(cp, a), a->len);
    uint32_t hi = need == 1 ? lo : code_value(tok(cp, b), b->len);
    if (cp->want_maps && (need == 1 || a->len == b->len)) st = map_value(cp, a->len, lo, hi, t);
    cp->n_pend = 0;
    return st;
}

static cmap_section section_start(const rg_pdf_lexer *lx, const rg_pdf_token *t)
{
    if (rg_pdf_tok_is(lx, t, "begincodespacerange")) return CM_CODESPACE;
    if (rg_pdf_tok_is(lx, t, "beginbfchar")) return CM_BFCHAR;
    if (rg_pdf_tok_is(lx, t, "beginbfrange")) return CM_BFRANGE;
    return CM_NONE;
}

static rg_status parse_cmap(rg_pdf_font *f, const char *data, size_t n, int want_codespace,
                            int want_maps)
{
    if (n > RG_PDF_MAX_CMAP_BYTES) n = RG_PDF_MAX_CMAP_BYTES;
    cmap_parse cp = {.f = f, .want_codespace = want_codespace, .want_maps = want_maps};
    rg_pdf_lex_init(&cp.lx, data, n, n + 1);
    rg_status st = RG_OK;
    for (;;) {
        if (cp.n_pend == 0 && !cp.in_array) rg_pdf_lex_reset_strings(&cp.lx);
        rg_pdf_token t;
        if ((st = rg_pdf_lex_next(&cp.lx, &t)) || t.type == RG_PDF_TOK_EOF) break;
        if (t.type == RG_PDF_TOK_KEYWORD) {
            cp.sec = section_start(&cp.lx, &t); /* any other keyword ends a section */
            cp.n_pend = 0;
            cp.in_array = 0;
        } else if (cp.sec == CM_NONE) {
            continue;
        } else if (t.type == RG_PDF_TOK_ARRAY_OPEN && cp.sec == CM_BFRANGE && cp.n_pend == 2) {
            cp.in_array = 1;
            cp.next = code_value(tok(&cp, &cp.pend[0]), cp.pend[0].len);
        } else if (t.type == RG_PDF_TOK_ARRAY_CLOSE && cp.in_array) {
            cp.in_array = 0;
            cp.n_pend = 0;
        } else if (t.type == RG_PDF_TOK_STRING || t.type == RG_PDF_TOK_NAME) {
            if ((st = cmap_value(&cp, &t))) break;
        } else {
            cp.n_pend = 0; /* a number or dictionary here: not a mapping, start over */
        }
    }
    rg_pdf_lex_free(&cp.lx);
    return st == RG_ELIMIT ? RG_OK : st; /* a string larger than the CMap cannot occur */
}

rg_status rg_pdf_font_load_to_unicode(rg_pdf_font *f, const char *cmap, size_t n)
{
    return parse_cmap(f, cmap, n, 0, 1);
}

rg_status rg_pdf_font_load_encoding_cmap(rg_pdf_font *f, const char *cmap, size_t n)
{
    return parse_cmap(f, cmap, n, 1, 0);
}

static int range_cmp(const void *a, const void *b)
{
    const cmap_range *x = a, *y = b;
    if (x->nbytes != y->nbytes) return x->nbytes < y->nbytes ? -1 : 1;
    if (x->lo != y->lo) return x->lo < y->lo ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int width_cmp(const void *a, const void *b)
{
    const width_range *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

void rg_pdf_font_finish(rg_pdf_font *f)
{
    if (f->n_ranges) qsort(f->ranges, f->n_ranges, sizeof *f->ranges, range_cmp);
    if (f->n_wr) qsort(f->wr, f->n_wr, sizeof *f->wr, width_cmp);
}

/* --- use ------------------------------------------------------------------------- */

static int in_codespace(const codespace *c, const unsigned char *s, size_t n)
{
    if (n < c->nbytes) return 0;
    for (size_t i = 0; i < c->nbytes; i++)
        if (s[i] < c->lo[i] || s[i] > c->hi[i]) return 0;
    return 1;
}

size_t rg_pdf_font_next_code(const rg_pdf_font *f, const unsigned char *s, size_t n, uint32_t *code,
                             size_t *code_len)
{
    size_t len = 1;
    if (f->composite) {
        len = 2;
        if (f->n_cs) {
            size_t shortest = CODE_MAX_BYTES;
            len = 0;
            for (size_t i = 0; i < f->n_cs && !len; i++) {
                if (in_codespace(&f->cs[i], s, n)) len = f->cs[i].nbytes;
                if (f->cs[i].nbytes < shortest) shortest = f->cs[i].nbytes;
            }
            if (!len) len = shortest; /* not in any range: skip the shortest code */
        }
    }
    if (len > n) len = n;
    *code = code_value(s, len);
    *code_len = len;
    return len;
}

/* The last range of code length nbytes starting at or before code that contains it. */
static const cmap_range *find_range(const rg_pdf_font *f, uint32_t code, size_t nbytes)
{
    size_t lo = 0, hi = f->n_ranges;
    while (lo < hi) { /* first range that sorts after (nbytes, code) */
        size_t mid = lo + (hi - lo) / 2;
        const cmap_range *r = &f->ranges[mid];
        if (r->nbytes < nbytes || (r->nbytes == nbytes && r->lo <= code))
            lo = mid + 1;
        else
            hi = mid;
    }
    /* overlapping ranges are rare: look back a little for one that holds code */
    for (size_t i = lo, k = 0; i > 0 && k < 8; i--, k++) {
        const cmap_range *r = &f->ranges[i - 1];
        if (r->nbytes != nbytes) break;
        if (code <= r->hi) return r;
    }
    return NULL;
}

/* Appends cp as text, dropping what is not text; white space becomes ' '. */
static size_t put_text(uint32_t cp, char *out, size_t len)
{
    if (cp == '\t' || cp == '\n' || cp == '\r' || cp == '\f' || cp == 0xA0) cp = ' ';
    if (cp == 0xAD) cp = '-'; /* PDF encodings name 0xAD "hyphen": it is printed */
    if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0)) return len;
    if ((cp >= 0xE000 && cp <= 0xF8FF) || cp >= 0xF0000 || cp == 0xFFFD || cp == 0xFFFE ||
        cp == 0xFFFF)
        return len;
    if (len + 4 > RG_PDF_CODE_TEXT_MAX) return len;
    return len + rg_utf8_encode(cp, out + len);
}

static size_t range_text(const rg_pdf_font *f, const cmap_range *r, uint32_t code, char *out)
{
    uint16_t u[RG_PDF_CMAP_VALUE_UNITS];
    size_t n = r->n_units, len = 0;
    memcpy(u, f->pool + r->units, n * sizeof *u);
    u[n - 1] = (uint16_t)(u[n - 1] + (code - r->lo));
    for (size_t i = 0; i < n; i++) {
        uint32_t cp = u[i];
        if (cp >= 0xD800 && cp <= 0xDBFF && i + 1 < n && u[i + 1] >= 0xDC00 && u[i + 1] <= 0xDFFF)
            cp = 0x10000 + ((cp - 0xD800) << 10) + (u[++i] - 0xDC00);
        else if (cp >= 0xD800 && cp <= 0xDFFF)
            continue; /* a lone surrogate */
        len = put_text(cp, out, len);
    }
    return len;
}

size_t rg_pdf_font_decode(const rg_pdf_font *f, uint32_t code, size_t code_len, char *out)
{
    const cmap_range *r = f->n_ranges ? find_range(f, code, code_len) : NULL;
    if (!r && !f->composite && f->n_ranges) r = find_range(f, code, 2); /* <0041> for 'A' */
    if (r) return range_text(f, r, code, out);
    if (f->composite) {
        if (!f->unicode_codes || (code >= 0xD800 && code <= 0xDFFF)) return 0;
        return put_text(code, out, 0);
    }
    size_t len = 0;
    const char *s = f->simple[code & 0xFF];
    for (size_t i = 0; s[i];) {
        uint32_t cp;
        size_t step = rg_utf8_decode(s + i, strlen(s + i), &cp);
        if (!step) break;
        len = put_text(cp, out, len);
        i += step;
    }
    return len;
}

double rg_pdf_font_width(const rg_pdf_font *f, uint32_t code)
{
    if (f->composite) {
        size_t lo = 0, hi = f->n_wr;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (f->wr[mid].lo <= code)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo > 0 && code <= f->wr[lo - 1].hi) return f->wr[lo - 1].w * f->scale;
        return f->default_w * f->scale;
    }
    if (f->has_widths) return f->widths[code & 0xFF] * f->scale;
    uint32_t cp = 0;
    rg_utf8_decode(f->simple[code & 0xFF], strlen(f->simple[code & 0xFF]), &cp);
    return rg_pdf_metrics_width(f->metrics, cp) * GLYPH_SCALE;
}

int rg_pdf_font_is_simple(const rg_pdf_font *f)
{
    return !f->composite;
}
