/*
 * pdf_lex.h — the PDF tokenizer shared by content streams and CMaps.
 *
 * Internal to the PDF loader (loader_pdf.c, pdf_content.c, pdf_font.c).
 * Page content streams and ToUnicode CMaps use the same lexical rules
 * (PDF 32000-1 §7.2-7.3): numbers, (literal) and <hex> strings, /names,
 * [ ] arrays, << >> dictionaries and bare keywords (operators). The lexer
 * never fails: bytes it cannot make sense of become keywords, so a damaged
 * stream yields junk operators that the interpreter ignores.
 */
#ifndef RG_PDF_LEX_H
#define RG_PDF_LEX_H

#include <stddef.h>

#include "engine/base/buf.h"
#include "engine/base/status.h"

/* Numbers with more digits than this are cut (they are junk in any case). */
#define RG_PDF_NUMBER_MAX_DIGITS 32

typedef enum rg_pdf_tok_type {
    RG_PDF_TOK_EOF,
    RG_PDF_TOK_NUMBER,
    RG_PDF_TOK_STRING, /* bytes decoded (escapes, hex digits) into the lexer's buffer */
    RG_PDF_TOK_NAME,   /* without the slash, #xx escapes decoded, in the buffer */
    RG_PDF_TOK_ARRAY_OPEN,
    RG_PDF_TOK_ARRAY_CLOSE,
    RG_PDF_TOK_DICT_OPEN,
    RG_PDF_TOK_DICT_CLOSE,
    RG_PDF_TOK_KEYWORD, /* an operator or true/false/null; points into the input */
} rg_pdf_tok_type;

typedef struct rg_pdf_token {
    rg_pdf_tok_type type;
    double num; /* RG_PDF_TOK_NUMBER */
    size_t off; /* STRING and NAME: offset in the lexer's buffer; KEYWORD: in the input */
    size_t len;
} rg_pdf_token;

/*
 * The lexer borrows the input; strings and names are decoded into buf, which
 * the caller owns and may reset between tokens (rg_pdf_lex_reset_strings)
 * once it no longer needs earlier ones.
 */
typedef struct rg_pdf_lexer {
    const unsigned char *p;
    size_t n;
    size_t pos;
    rg_buf buf;
} rg_pdf_lexer;

/* Starts lexing data[0..n); buf may grow to max_string_bytes in all. */
void rg_pdf_lex_init(rg_pdf_lexer *lx, const char *data, size_t n, size_t max_string_bytes);
void rg_pdf_lex_free(rg_pdf_lexer *lx);
/*
 * As rg_pdf_lex_init, but the buffer takes over the memory of *spare (left
 * empty); rg_pdf_lex_end hands it back, so that lexers run one after another
 * (a page's forms, drawn again and again) reuse one allocation.
 */
void rg_pdf_lex_init_spare(rg_pdf_lexer *lx, const char *data, size_t n, size_t max_string_bytes,
                           rg_buf *spare);
/* Ends a lexer: its buffer's memory goes to *spare, or is freed when over keep_bytes. */
void rg_pdf_lex_end(rg_pdf_lexer *lx, rg_buf *spare, size_t keep_bytes);
/* Forgets decoded strings and names (their tokens become invalid). */
void rg_pdf_lex_reset_strings(rg_pdf_lexer *lx);

/*
 * Reads the next token into *t. RG_OK (RG_PDF_TOK_EOF at the end), or
 * RG_ENOMEM / RG_ELIMIT when a string does not fit the buffer.
 */
rg_status rg_pdf_lex_next(rg_pdf_lexer *lx, rg_pdf_token *t);

/* The bytes of a STRING, NAME or KEYWORD token (valid until the next reset). */
const char *rg_pdf_tok_bytes(const rg_pdf_lexer *lx, const rg_pdf_token *t);
/* 1 if t is the keyword kw. */
int rg_pdf_tok_is(const rg_pdf_lexer *lx, const rg_pdf_token *t, const char *kw);

/*
 * After an inline image's ID keyword: skips the image data up to and past
 * the EI keyword (or to the end).
 */
void rg_pdf_lex_skip_inline_image(rg_pdf_lexer *lx);

#endif
