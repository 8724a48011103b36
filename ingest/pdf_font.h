/*
 * pdf_font.h — from a PDF font's character codes to Unicode text and widths.
 *
 * Internal to the PDF loader. A PDF string is a run of character codes
 * whose meaning depends on the font selected with Tf. loader_pdf.c reads a
 * font dictionary through qpdf and describes it here with the setters below
 * (base encoding, /Differences glyph names, the /ToUnicode CMap, widths);
 * pdf_content.c then splits strings into codes, decodes each code and
 * advances the pen by its width. Nothing here touches qpdf, so the decoding
 * rules are tested on plain bytes.
 *
 * Decoding order for a code: the /ToUnicode CMap (bfchar and bfrange, 1- to
 * 4-byte codes, UTF-16BE values with surrogate pairs) when it maps the code;
 * else, for simple fonts, the encoding (base encoding plus /Differences
 * glyph names); for Type0 fonts with a Unicode CMap (Uni*-UCS2-*, *-UTF16-*)
 * the code itself. A code with no known meaning decodes to nothing: the text
 * loses a character rather than gaining a wrong one. Control characters,
 * private-use code points and U+FFFD are dropped the same way.
 */
#ifndef RG_PDF_FONT_H
#define RG_PDF_FONT_H

#include <stddef.h>
#include <stdint.h>

#include "engine/base/status.h"

/* At most this many bfchar/bfrange entries are read from one CMap; the rest is ignored. */
#define RG_PDF_MAX_CMAP_ENTRIES 100000u
/* At most this many codespace ranges per CMap (the spec allows 100). */
#define RG_PDF_MAX_CODESPACES 100u
/* A CMap value longer than this many UTF-16 units is cut. */
#define RG_PDF_CMAP_VALUE_UNITS 32u
/* Longest CMap stream read (bytes). */
#define RG_PDF_MAX_CMAP_BYTES (4u << 20)
/* Longest UTF-8 text of one code: RG_PDF_CMAP_VALUE_UNITS units, 3 bytes each at most. */
#define RG_PDF_CODE_TEXT_MAX (3u * RG_PDF_CMAP_VALUE_UNITS)
/* At most this many /W width ranges per composite font. */
#define RG_PDF_MAX_WIDTH_RANGES 65536u

typedef enum rg_pdf_encoding {
    RG_PDF_ENC_STANDARD,
    RG_PDF_ENC_WINANSI,
    RG_PDF_ENC_MACROMAN,
    RG_PDF_ENC_NONE, /* a symbol font: only /Differences and /ToUnicode say anything */
} rg_pdf_encoding;

typedef struct rg_pdf_font rg_pdf_font;

/* Construction (loader_pdf.c) ---------------------------------------------- */

/*
 * A simple font (one byte per code) with this base encoding, or a composite
 * (Type0) font, whose codes are two bytes unless a CMap with codespace ranges
 * says otherwise. base_font (may be NULL) names standard metrics for simple
 * fonts without /Widths (Helvetica, Times, Courier and look-alikes).
 * NULL when out of memory. Free with rg_pdf_font_free.
 */
rg_pdf_font *rg_pdf_font_new_simple(rg_pdf_encoding base, const char *base_font);
rg_pdf_font *rg_pdf_font_new_composite(void);
void rg_pdf_font_free(rg_pdf_font *f);

/* Simple fonts: /Differences gives code this glyph name (unknown names: no text). */
void rg_pdf_font_set_glyph(rg_pdf_font *f, unsigned code, const char *glyph_name);

/*
 * Reads a /ToUnicode CMap (bfchar, bfrange, codespacerange). A damaged CMap
 * gives what could be read. RG_ENOMEM only; RG_PDF_MAX_CMAP_ENTRIES is
 * enforced by ignoring the rest.
 */
rg_status rg_pdf_font_load_to_unicode(rg_pdf_font *f, const char *cmap, size_t n);
/* Composite fonts: an embedded /Encoding CMap; only its codespace ranges are used. */
rg_status rg_pdf_font_load_encoding_cmap(rg_pdf_font *f, const char *cmap, size_t n);
/* Composite fonts: codes are UTF-16 code units (a Uni*-UCS2 or *-UTF16 encoding). */
void rg_pdf_font_set_unicode_codes(rg_pdf_font *f);

/* Simple fonts: /FirstChar and /Widths (glyph units); codes outside use missing. */
void rg_pdf_font_set_widths(rg_pdf_font *f, unsigned first, const double *w, size_t n,
                            double missing);
/* Composite fonts: /DW, and one /W range (CIDs lo..hi have width w). RG_ENOMEM. */
void rg_pdf_font_set_default_width(rg_pdf_font *f, double w);
rg_status rg_pdf_font_add_width(rg_pdf_font *f, uint32_t lo, uint32_t hi, double w);
/* Glyph units to text space: 0.001 (the default), or a Type3 font's FontMatrix. */
void rg_pdf_font_set_width_scale(rg_pdf_font *f, double scale);
/* Must be called once the setters are done (sorts the tables). */
void rg_pdf_font_finish(rg_pdf_font *f);

/* Use (pdf_content.c) ------------------------------------------------------ */

/* The next code of s[0..n) (n > 0): returns its byte length and sets *code. */
size_t rg_pdf_font_next_code(const rg_pdf_font *f, const unsigned char *s, size_t n, uint32_t *code,
                             size_t *code_len);
/*
 * The text of a code as UTF-8 in out (RG_PDF_CODE_TEXT_MAX bytes); returns
 * its length, 0 when the code has no known text. White space comes back as
 * a single ' '.
 */
size_t rg_pdf_font_decode(const rg_pdf_font *f, uint32_t code, size_t code_len, char *out);
/* The advance of a code in text space units (1 = the font size). */
double rg_pdf_font_width(const rg_pdf_font *f, uint32_t code);
/* 1 for simple fonts: word spacing (Tw) applies to their byte 32. */
int rg_pdf_font_is_simple(const rg_pdf_font *f);

#endif
