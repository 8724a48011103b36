/*
 * pdf_content.h — the text of PDF content streams, laid out in paragraphs.
 *
 * Internal to the PDF loader. rg_pdf_interp runs a page's content stream
 * (PDF 32000-1 §8-9): it keeps the graphics state (q/Q, cm) and text state
 * (BT/ET, Tf, Tc, Tw, Tz, TL, Ts, Td, TD, Tm, T*), shows strings (Tj, TJ,
 * ', ") through the current font (pdf_font.h) and places every glyph on the
 * page. Glyphs are then grouped by position: a glyph on the same baseline
 * continues the line (with a space where there is a gap of more than
 * RG_PDF_SPACE_GAP of the font size, which is how TJ kerning and word
 * positioning separate words); a change of baseline starts a line; a line
 * further below the previous one than the paragraph's line spacing, a jump
 * up, or a change of font size starts a paragraph. Lines of a paragraph are
 * joined with a space, without one between two CJK characters, and "exam-"
 * + "ple" becomes "example" when both sides are lowercase Latin letters.
 * Each paragraph becomes one RG_BLOCK_PARAGRAPH of the document builder on
 * the page being run.
 *
 * Fonts and XObjects live in the page's resources, which only the loader
 * can read (through qpdf); it passes callbacks (rg_pdf_content_ops). A Form
 * XObject runs through rg_pdf_interp_form from inside the xobject callback.
 */
#ifndef RG_PDF_CONTENT_H
#define RG_PDF_CONTENT_H

#include <stddef.h>

#include "engine/base/status.h"
#include "ingest/document.h"
#include "ingest/pdf_font.h"

/* At most this many operands before an operator; an operator with more is skipped. */
#define RG_PDF_MAX_OPERANDS 4096
/* q nests this deep; deeper q/Q pairs leave the state alone. */
#define RG_PDF_MAX_GSTATE_DEPTH 64
/* Form XObjects inside forms are followed this deep. */
#define RG_PDF_MAX_FORM_DEPTH 8
/* A gap wider than this share of the font size between two glyphs is a space. */
#define RG_PDF_SPACE_GAP 0.15
/* The first line kept as a title candidate is cut at this many bytes. */
#define RG_PDF_FIRST_LINE_MAX 1024

typedef struct rg_pdf_interp rg_pdf_interp;

typedef struct rg_pdf_content_ops {
    void *ctx;
    /*
     * The font resource name[0..len) of the current resources in *font, NULL
     * when there is none (its text is skipped). An error (RG_ENOMEM) stops the page.
     */
    rg_status (*font)(void *ctx, const char *name, size_t len, const rg_pdf_font **font,
                      rg_error *err);
    /* Draws the XObject name[0..len): a form is run with rg_pdf_interp_form, others ignored. */
    rg_status (*xobject)(void *ctx, rg_pdf_interp *ip, const char *name, size_t len, rg_error *err);
} rg_pdf_content_ops;

/*
 * An interpreter writing into b (borrowed, must outlive it); the document's
 * text may not exceed max_text_bytes (RG_ELIMIT). NULL when out of memory.
 */
rg_pdf_interp *rg_pdf_interp_new(rg_doc_builder *b, size_t max_text_bytes);
void rg_pdf_interp_free(rg_pdf_interp *ip);

/*
 * Runs the content of page (1-based, increasing) and emits its paragraphs.
 * ops is borrowed for the call. Errors: RG_ENOMEM, RG_ELIMIT, or what a
 * callback returns. Malformed content is not an error: what cannot be
 * understood is skipped.
 */
rg_status rg_pdf_interp_page(rg_pdf_interp *ip, unsigned page, const char *content, size_t n,
                             const rg_pdf_content_ops *ops, rg_error *err);

/*
 * Runs a form's content inside the current page with matrix (a b c d e f)
 * applied, its graphics state saved and restored around it. Beyond
 * RG_PDF_MAX_FORM_DEPTH nested forms nothing is run.
 */
rg_status rg_pdf_interp_form(rg_pdf_interp *ip, const char *content, size_t n,
                             const double matrix[6], rg_error *err);
/* How many forms are running now (0 on the page itself). */
int rg_pdf_interp_form_depth(const rg_pdf_interp *ip);

/* The document's first line of text (a title candidate); "" before there is one. */
const char *rg_pdf_interp_first_line(const rg_pdf_interp *ip, size_t *len);

#endif
