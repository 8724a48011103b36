/*
 * pdf_lex.c — PDF tokens from a byte stream (PDF 32000-1 §7.2-7.3).
 *
 * Strings and names are decoded into one growable buffer rather than
 * allocated one by one: an operator's operands are few and short-lived, so
 * the interpreter resets the buffer after every operator.
 */
#include "ingest/pdf_lex.h"

#include <string.h>

void rg_pdf_lex_init(rg_pdf_lexer *lx, const char *data, size_t n, size_t max_string_bytes)
{
    lx->p = (const unsigned char *)data;
    lx->n = n;
    lx->pos = 0;
    rg_buf_init(&lx->buf, max_string_bytes);
}

void rg_pdf_lex_free(rg_pdf_lexer *lx)
{
    rg_buf_free(&lx->buf);
}

void rg_pdf_lex_init_spare(rg_pdf_lexer *lx, const char *data, size_t n, size_t max_string_bytes,
                           rg_buf *spare)
{
    rg_pdf_lex_init(lx, data, n, max_string_bytes);
    lx->buf.data = spare->data;
    lx->buf.cap = spare->cap;
    rg_buf_reset(&lx->buf);
    rg_buf_init(spare, spare->max);
}

void rg_pdf_lex_end(rg_pdf_lexer *lx, rg_buf *spare, size_t keep_bytes)
{
    if (lx->buf.cap > keep_bytes) rg_pdf_lex_free(lx);
    rg_buf_free(spare);
    spare->data = lx->buf.data;
    spare->cap = lx->buf.cap;
    rg_buf_init(&lx->buf, lx->buf.max);
}

void rg_pdf_lex_reset_strings(rg_pdf_lexer *lx)
{
    rg_buf_reset(&lx->buf);
}

static int is_white(int c)
{
    return c == 0 || c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' ';
}

static int is_delim(int c)
{
    return c == '(' || c == ')' || c == '<' || c == '>' || c == '[' || c == ']' || c == '{' ||
           c == '}' || c == '/' || c == '%';
}

static int is_regular(int c)
{
    return !is_white(c) && !is_delim(c);
}

static int hex_value(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static void skip_space_and_comments(rg_pdf_lexer *lx)
{
    while (lx->pos < lx->n) {
        int c = lx->p[lx->pos];
        if (is_white(c)) {
            lx->pos++;
        } else if (c == '%') {
            while (lx->pos < lx->n && lx->p[lx->pos] != '\n' && lx->p[lx->pos] != '\r')
                lx->pos++;
        } else {
            return;
        }
    }
}

static rg_status put(rg_pdf_lexer *lx, int c)
{
    return rg_buf_putc(&lx->buf, (char)c);
}

/* The escape after a backslash in a literal string. */
static rg_status literal_escape(rg_pdf_lexer *lx)
{
    if (lx->pos >= lx->n) return RG_OK;
    int c = lx->p[lx->pos++];
    switch (c) {
    case 'n':
        return put(lx, '\n');
    case 'r':
        return put(lx, '\r');
    case 't':
        return put(lx, '\t');
    case 'b':
        return put(lx, '\b');
    case 'f':
        return put(lx, '\f');
    case '\r': /* a line continuation */
        if (lx->pos < lx->n && lx->p[lx->pos] == '\n') lx->pos++;
        return RG_OK;
    case '\n':
        return RG_OK;
    default:
        break;
    }
    if (c >= '0' && c <= '7') {
        int v = c - '0';
        for (int k = 0; k < 2 && lx->pos < lx->n && lx->p[lx->pos] >= '0' && lx->p[lx->pos] <= '7';
             k++)
            v = v * 8 + (lx->p[lx->pos++] - '0');
        return put(lx, v & 0xFF);
    }
    return put(lx, c); /* \( \) \\ and unknown escapes: the character itself */
}

/* A literal string; the '(' has been read. An unterminated one ends at the end. */
static rg_status literal_string(rg_pdf_lexer *lx)
{
    int depth = 1;
    rg_status st = RG_OK;
    while (lx->pos < lx->n && !st) {
        int c = lx->p[lx->pos++];
        if (c == '\\') {
            st = literal_escape(lx);
            continue;
        }
        if (c == '(') depth++;
        if (c == ')' && --depth == 0) break;
        if (c == '\r') { /* an end of line in a string reads as \n */
            if (lx->pos < lx->n && lx->p[lx->pos] == '\n') lx->pos++;
            c = '\n';
        }
        st = put(lx, c);
    }
    return st;
}

/* A hex string; the '<' has been read. Other bytes are ignored; odd digits pad with 0. */
static rg_status hex_string(rg_pdf_lexer *lx)
{
    int hi = -1;
    rg_status st = RG_OK;
    while (lx->pos < lx->n && !st) {
        int c = lx->p[lx->pos++];
        if (c == '>') break;
        int v = hex_value(c);
        if (v < 0) continue;
        if (hi < 0) {
            hi = v;
        } else {
            st = put(lx, hi * 16 + v);
            hi = -1;
        }
    }
    if (!st && hi >= 0) st = put(lx, hi * 16);
    return st;
}

static rg_status name(rg_pdf_lexer *lx)
{
    rg_status st = RG_OK;
    while (lx->pos < lx->n && is_regular(lx->p[lx->pos]) && !st) {
        int c = lx->p[lx->pos++];
        if (c == '#' && lx->pos + 1 < lx->n && hex_value(lx->p[lx->pos]) >= 0 &&
            hex_value(lx->p[lx->pos + 1]) >= 0) {
            c = hex_value(lx->p[lx->pos]) * 16 + hex_value(lx->p[lx->pos + 1]);
            lx->pos += 2;
        }
        st = put(lx, c);
    }
    return st;
}

/* 1 and the value if s[0..n) is a PDF number: [+-] digits [. digits], or [+-] . digits */
static int parse_number(const unsigned char *s, size_t n, double *out)
{
    size_t i = 0;
    int neg = 0, digits = 0, used = 0;
    double v = 0, scale = 1;
    if (i < n && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++)
        if (used++ < RG_PDF_NUMBER_MAX_DIGITS) v = v * 10 + (s[i] - '0');
    if (i < n && s[i] == '.') {
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++)
            if (used++ < RG_PDF_NUMBER_MAX_DIGITS) v += (s[i] - '0') * (scale /= 10);
    }
    if (i != n || digits == 0) return 0;
    *out = neg ? -v : v;
    return 1;
}

rg_status rg_pdf_lex_next(rg_pdf_lexer *lx, rg_pdf_token *t)
{
    memset(t, 0, sizeof *t);
    skip_space_and_comments(lx);
    if (lx->pos >= lx->n) return RG_OK; /* RG_PDF_TOK_EOF */
    int c = lx->p[lx->pos];
    size_t start = lx->pos++;
    rg_status st = RG_OK;
    t->off = lx->buf.len;
    switch (c) {
    case '(':
        t->type = RG_PDF_TOK_STRING;
        st = literal_string(lx);
        break;
    case '<':
        if (lx->pos < lx->n && lx->p[lx->pos] == '<') {
            lx->pos++;
            t->type = RG_PDF_TOK_DICT_OPEN;
            return RG_OK;
        }
        t->type = RG_PDF_TOK_STRING;
        st = hex_string(lx);
        break;
    case '>':
        if (lx->pos < lx->n && lx->p[lx->pos] == '>') {
            lx->pos++;
            t->type = RG_PDF_TOK_DICT_CLOSE;
            return RG_OK;
        }
        t->type = RG_PDF_TOK_KEYWORD; /* a stray '>' */
        t->off = start;
        t->len = 1;
        return RG_OK;
    case '[':
        t->type = RG_PDF_TOK_ARRAY_OPEN;
        return RG_OK;
    case ']':
        t->type = RG_PDF_TOK_ARRAY_CLOSE;
        return RG_OK;
    case '/':
        t->type = RG_PDF_TOK_NAME;
        st = name(lx);
        break;
    default:
        if (is_regular(c))
            while (lx->pos < lx->n && is_regular(lx->p[lx->pos]))
                lx->pos++;
        /* ')', '{', '}' stand alone as keywords the interpreter ignores */
        t->len = lx->pos - start;
        if (parse_number(lx->p + start, t->len, &t->num)) {
            t->type = RG_PDF_TOK_NUMBER;
            t->len = 0;
            return RG_OK;
        }
        t->type = RG_PDF_TOK_KEYWORD;
        t->off = start;
        return RG_OK;
    }
    t->len = lx->buf.len - t->off;
    return st;
}

const char *rg_pdf_tok_bytes(const rg_pdf_lexer *lx, const rg_pdf_token *t)
{
    if (t->type == RG_PDF_TOK_KEYWORD) return (const char *)lx->p + t->off;
    return lx->buf.data ? lx->buf.data + t->off : "";
}

int rg_pdf_tok_is(const rg_pdf_lexer *lx, const rg_pdf_token *t, const char *kw)
{
    size_t n = strlen(kw);
    return t->type == RG_PDF_TOK_KEYWORD && t->len == n && memcmp(lx->p + t->off, kw, n) == 0;
}

void rg_pdf_lex_skip_inline_image(rg_pdf_lexer *lx)
{
    if (lx->pos < lx->n && is_white(lx->p[lx->pos])) lx->pos++;
    for (size_t i = lx->pos; i + 1 < lx->n; i++) {
        if (lx->p[i] != 'E' || lx->p[i + 1] != 'I') continue;
        if (i > 0 && !is_white(lx->p[i - 1])) continue;
        if (i + 2 < lx->n && !is_white(lx->p[i + 2])) continue;
        lx->pos = i + 2;
        return;
    }
    lx->pos = lx->n;
}
