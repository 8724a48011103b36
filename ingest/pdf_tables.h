/*
 * pdf_tables.h — fixed data of PDF text: base encodings, glyph names, metrics.
 *
 * Internal to the PDF loader (pdf_font.c). The tables cover what text
 * extraction needs: the three Latin base encodings of PDF 32000-1 Annex D,
 * the Adobe glyph names that common Latin fonts use in /Differences, and
 * the advance widths of the standard Helvetica, Times and Courier fonts for
 * printable ASCII, which fonts without /Widths are drawn with.
 */
#ifndef RG_PDF_TABLES_H
#define RG_PDF_TABLES_H

#include <stddef.h>
#include <stdint.h>

#include "ingest/pdf_font.h"

/* Longest text one glyph name gives (a ligature such as f_f_i, or uniXXXXYYYY). */
#define RG_PDF_GLYPH_TEXT_MAX 16u

/* The code point of code in a base encoding, 0 when it has none. */
uint32_t rg_pdf_encoding_cp(rg_pdf_encoding enc, unsigned code);

/*
 * The text of an Adobe glyph name ("eacute", "quotedblleft", "uni4E2D",
 * "f_i", "a.sc") as UTF-8 in out (RG_PDF_GLYPH_TEXT_MAX bytes). Accented
 * letters come back decomposed (letter + combining mark); normalisation
 * composes them. Returns the length, 0 for unknown names.
 */
size_t rg_pdf_glyph_text(const char *name, char *out);

typedef enum rg_pdf_metrics {
    RG_PDF_METRICS_HELVETICA,
    RG_PDF_METRICS_TIMES,
    RG_PDF_METRICS_COURIER,
} rg_pdf_metrics;

/* Standard metrics for a /BaseFont name (Arial reads as Helvetica; unknown as Helvetica). */
rg_pdf_metrics rg_pdf_metrics_for(const char *base_font);
/* The width (glyph units) of code point cp in those metrics; a typical width outside ASCII. */
double rg_pdf_metrics_width(rg_pdf_metrics m, uint32_t cp);

#endif
