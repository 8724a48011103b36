/*
 * loader_email.c — e-mail messages (.eml): headers, MIME structure, bodies.
 *
 * A message is a header block and a body; a MIME body may hold parts, each
 * again headers and a body, to any depth. This file finds the structure
 * (header fields, multipart delimiters, parameters) on the raw bytes without
 * copying them; mime.h turns the pieces it keeps into UTF-8. HTML bodies go
 * through the HTML loader, so mail reads like a web page would.
 *
 * Mail is often slightly broken, so the walk keeps what it can: a header
 * block that stops early leaves the rest as body, a multipart whose declared
 * boundary never occurs is split at the delimiter it does use, and failing
 * that read as plain text.
 */
#include "ingest/loader.h"

#include <stdio.h>
#include <string.h>

#include "engine/base/mem.h"
#include "ingest/mime.h"

/* Header fields in one header block; more is RG_ELIMIT. */
#define EMAIL_MAX_HEADERS 1000
/* One header line, and one field unfolded; longer is RG_ELIMIT. */
#define EMAIL_MAX_HEADER_BYTES (64u << 10)
/* Nested multiparts and attached messages; deeper is RG_ELIMIT. */
#define EMAIL_MAX_DEPTH 16
/* MIME parts in one message, nested ones included; more is RG_ELIMIT. */
#define EMAIL_MAX_PARTS 1000
/* Longest boundary taken (RFC 2046 allows 70). */
#define EMAIL_MAX_BOUNDARY 200
/* Longest media type kept ("text/plain"); longer ones are not understood. */
#define EMAIL_TYPE_MAX 128
/* A decoded header value or parameter: UTF-8 of a field, at most 3 bytes a byte. */
#define EMAIL_MAX_VALUE_BYTES (3 * (size_t)EMAIL_MAX_HEADER_BYTES + 16)
/* A decoded body part in UTF-8 (a byte of a legacy charset takes at most 3). */
#define EMAIL_MAX_TEXT_BYTES (3 * (size_t)RG_LOADER_MAX_FILE_BYTES + 64)
/* Tells the HTML loader the body is UTF-8 now, whatever its own <meta> says. */
#define EMAIL_HTML_PREFIX "<meta charset=\"utf-8\">"

enum { H_FROM, H_TO, H_CC, H_DATE, H_SUBJECT, H_CTYPE, H_CTE, H_CDISP, H_COUNT };
/* The fields shown in the header paragraph are the first five. */
#define H_SHOWN 5

static const char *const header_names[H_COUNT] = {"from",
                                                  "to",
                                                  "cc",
                                                  "date",
                                                  "subject",
                                                  "content-type",
                                                  "content-transfer-encoding",
                                                  "content-disposition"};
static const char *const header_labels[H_SHOWN] = {"From", "To", "Cc", "Date", "Subject"};

typedef struct headers {
    rg_buf v[H_COUNT]; /* raw unfolded values; the first of repeated fields */
    int seen[H_COUNT];
} headers;

typedef struct email {
    rg_doc_builder *b;
    rg_error *err;
    size_t parts;
    rg_buf subject; /* decoded Subject of the outer message */
} email;

/* --- small helpers ------------------------------------------------------------------ */

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static int eq_ci(const char *a, size_t n, const char *lit)
{
    size_t k = strlen(lit);
    if (n != k) return 0;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)lit[i])) return 0;
    return 1;
}

static int is_blank_char(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_blank_char(s[i])) return 0;
    return 1;
}

static rg_status oom_or_limit(email *e, rg_status st, const char *what)
{
    if (st == RG_ELIMIT) return rg_fail(e->err, st, "%s is over its size limit", what);
    return rg_fail(e->err, st, "out of memory decoding %s", what);
}

static void headers_init(headers *h)
{
    memset(h, 0, sizeof *h);
    for (int i = 0; i < H_COUNT; i++)
        rg_buf_init(&h->v[i], EMAIL_MAX_HEADER_BYTES);
}

static void headers_free(headers *h)
{
    for (int i = 0; i < H_COUNT; i++)
        rg_buf_free(&h->v[i]);
}

/* --- header blocks -------------------------------------------------------------------- */

/* Length of a field name before its ':' (printable ASCII, no space), or 0. */
static size_t field_name_len(const char *line, size_t len)
{
    size_t i = 0;
    while (i < len && line[i] > ' ' && line[i] < 127 && line[i] != ':')
        i++;
    return i < len && line[i] == ':' ? i : 0;
}

static rg_status keep(email *e, headers *h, int f, const char *s, size_t n)
{
    rg_status st = rg_buf_append(&h->v[f], s, n);
    if (st == RG_ELIMIT)
        return rg_fail(e->err, st, "the %s header is over %u bytes", header_names[f],
                       EMAIL_MAX_HEADER_BYTES);
    return st ? rg_fail(e->err, st, "out of memory reading headers") : RG_OK;
}

/*
 * Reads the header block at the start of s into h; *body is where the body
 * starts: after the blank line, or at the first line that is not a header.
 */
static rg_status parse_headers(email *e, const char *s, size_t n, headers *h, size_t *body)
{
    size_t pos = 0, count = 0;
    int cur = -1; /* the field that continuation lines extend, -1 for one not kept */
    const char *line;
    size_t len;
    if (n >= 5 && memcmp(s, "From ", 5) == 0) rg_next_line(s, n, &pos, &line, &len); /* mbox */
    for (;;) {
        size_t start = pos;
        if (!rg_next_line(s, n, &pos, &line, &len)) {
            *body = n;
            return RG_OK;
        }
        if (len > EMAIL_MAX_HEADER_BYTES)
            return rg_fail(e->err, RG_ELIMIT, "a header line is over %u bytes",
                           EMAIL_MAX_HEADER_BYTES);
        if (len == 0) {
            *body = pos;
            return RG_OK;
        }
        if (line[0] == ' ' || line[0] == '\t') { /* folded: unfolding drops only the line end */
            rg_status st = cur >= 0 ? keep(e, h, cur, line, len) : RG_OK;
            if (st) return st;
            continue;
        }
        size_t name = field_name_len(line, len);
        if (!name) {
            *body = start;
            return RG_OK;
        }
        if (++count > EMAIL_MAX_HEADERS)
            return rg_fail(e->err, RG_ELIMIT, "more than %d header fields", EMAIL_MAX_HEADERS);
        cur = -1;
        for (int f = 0; f < H_COUNT; f++)
            if (!h->seen[f] && eq_ci(line, name, header_names[f])) cur = f;
        if (cur < 0) continue;
        h->seen[cur] = 1;
        rg_status st = keep(e, h, cur, line + name + 1, len - name - 1);
        if (st) return st;
    }
}

/* --- header values -------------------------------------------------------------------- */

/* "type/subtype" of a Content-Type, lower case; "text/plain" when absent or odd. */
static void media_type(const headers *h, char out[EMAIL_TYPE_MAX])
{
    const char *v = rg_buf_str(&h->v[H_CTYPE]);
    size_t len = 0;
    while (*v == ' ' || *v == '\t')
        v++;
    while (v[len] && v[len] != ';' && !is_blank_char(v[len]) && len + 1 < EMAIL_TYPE_MAX) {
        out[len] = (char)lower((unsigned char)v[len]);
        len++;
    }
    out[len] = '\0';
    if (!strchr(out, '/') || out[0] == '/') snprintf(out, EMAIL_TYPE_MAX, "text/plain");
}

/* 1 if the Content-Disposition says attachment. */
static int is_attachment(const headers *h)
{
    const char *v = rg_buf_str(&h->v[H_CDISP]);
    while (*v == ' ' || *v == '\t')
        v++;
    size_t len = 0;
    while (v[len] && v[len] != ';' && !is_blank_char(v[len]))
        len++;
    return eq_ci(v, len, "attachment");
}

static int hex(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Appends an RFC 2231 value, %XX decoded; in the first part "charset'lang'" goes to charset. */
static rg_status ext_value(const char *s, size_t n, int first, char charset[RG_MIME_CHARSET_MAX],
                           rg_buf *raw)
{
    size_t i = 0;
    if (first) {
        const char *q1 = memchr(s, '\'', n);
        const char *q2 = q1 ? memchr(q1 + 1, '\'', n - (size_t)(q1 + 1 - s)) : NULL;
        if (q2) {
            size_t cl = (size_t)(q1 - s);
            if (cl < RG_MIME_CHARSET_MAX) {
                memcpy(charset, s, cl);
                charset[cl] = '\0';
            }
            i = (size_t)(q2 + 1 - s);
        }
    }
    for (; i < n; i++) {
        char c = s[i];
        if (c == '%' && i + 2 < n && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
            c = (char)(hex(s[i + 1]) * 16 + hex(s[i + 2]));
            i += 2;
        }
        rg_status st = rg_buf_putc(raw, c);
        if (st) return st;
    }
    return RG_OK;
}

/*
 * The parameter key of a Content-Type or Content-Disposition value, decoded
 * to UTF-8 into out: a plain value may hold encoded words, an RFC 2231 one
 * (key*=, key*0*=, key*1=...) a charset and %XX bytes. 1 if it was there.
 */
static int param(const rg_buf *field, const char *key, rg_buf *out, rg_status *st)
{
    const char *v = rg_buf_str(field), *end = v + field->len;
    size_t klen = strlen(key);
    char charset[RG_MIME_CHARSET_MAX] = "";
    rg_buf plain, ext;
    rg_buf_init(&plain, EMAIL_MAX_HEADER_BYTES);
    rg_buf_init(&ext, EMAIL_MAX_HEADER_BYTES);
    int have_plain = 0, have_ext = 0;
    const char *p = memchr(v, ';', field->len);
    while (p && p < end && !*st) {
        p++;
        while (p < end && is_blank_char(*p))
            p++;
        const char *name = p;
        while (p < end && *p != '=' && *p != ';' && !is_blank_char(*p))
            p++;
        size_t nlen = (size_t)(p - name);
        while (p < end && is_blank_char(*p))
            p++;
        if (p >= end || *p != '=') {
            p = memchr(p, ';', (size_t)(end - p));
            continue;
        }
        p++;
        while (p < end && is_blank_char(*p))
            p++;
        rg_buf val;
        rg_buf_init(&val, EMAIL_MAX_HEADER_BYTES);
        if (p < end && *p == '"') { /* a quoted string, \ escapes the next character */
            for (p++; p < end && *p != '"'; p++) {
                if (*p == '\\' && p + 1 < end) p++;
                if (!*st) *st = rg_buf_putc(&val, *p);
            }
            if (p < end) p++;
        } else {
            const char *t = p;
            while (p < end && *p != ';' && !is_blank_char(*p))
                p++;
            if (!*st) *st = rg_buf_append(&val, t, (size_t)(p - t));
        }
        const char *vs = val.data ? val.data : "";
        int match = !*st && nlen >= klen && eq_ci(name, klen, key);
        const char *rest = match ? name + klen : "";
        size_t rlen = match ? nlen - klen : 0;
        if (match && rlen == 0 && !have_plain) {
            have_plain = 1;
            *st = rg_buf_append(&plain, vs, val.len);
        } else if (match && rlen > 0 && rest[0] == '*') { /* key*, key*0*, key*1 ... in order */
            int first = rlen == 1 || rest[1] == '0';
            if (rest[rlen - 1] == '*')
                *st = ext_value(vs, val.len, first, charset, &ext);
            else
                *st = rg_buf_append(&ext, vs, val.len);
            have_ext = 1;
        }
        rg_buf_free(&val);
        while (p < end && *p != ';')
            p++;
    }
    if (!*st && have_ext)
        *st = rg_mime_to_utf8(charset, ext.data ? ext.data : "", ext.len, out);
    else if (!*st && have_plain)
        *st = rg_mime_decode_header(plain.data, plain.len, out);
    rg_buf_free(&plain);
    rg_buf_free(&ext);
    return have_ext || have_plain;
}

/* --- blocks ------------------------------------------------------------------------------ */

/* One paragraph: "From: ... To: ... Cc: ... Date: ... Subject: ..." (those present). */
static rg_status header_paragraph(email *e, const headers *h, rg_buf *subject)
{
    rg_buf text;
    rg_buf_init(&text, H_SHOWN * EMAIL_MAX_VALUE_BYTES);
    rg_status st = RG_OK;
    for (int f = 0; f < H_SHOWN && !st; f++) {
        if (!h->seen[f] || blank(h->v[f].data, h->v[f].len)) continue;
        st = rg_buf_printf(&text, "%s: ", header_labels[f]);
        size_t before = text.len;
        if (!st) st = rg_mime_decode_header(h->v[f].data, h->v[f].len, &text);
        if (!st && f == H_SUBJECT && subject)
            st = rg_buf_append(subject, text.data + before, text.len - before);
        if (!st) st = rg_buf_putc(&text, '\n');
    }
    if (st) st = oom_or_limit(e, st, "the headers");
    if (!st && text.len) st = rg_doc_add(e->b, RG_BLOCK_PARAGRAPH, 0, text.data, text.len, e->err);
    rg_buf_free(&text);
    return st;
}

/* Plain text: paragraphs separated by blank lines. */
static rg_status paragraphs(email *e, const char *s, size_t n)
{
    size_t pos = 0, start = 0, end = 0;
    int open = 0;
    const char *line;
    size_t len;
    for (;;) {
        int more = rg_next_line(s, n, &pos, &line, &len);
        if (more && !blank(line, len)) {
            if (!open) start = (size_t)(line - s);
            end = (size_t)(line - s) + len;
            open = 1;
            continue;
        }
        if (open) {
            rg_status st = rg_doc_add(e->b, RG_BLOCK_PARAGRAPH, 0, s + start, end - start, e->err);
            if (st) return st;
            open = 0;
        }
        if (!more) return RG_OK;
    }
}

/* HTML through the HTML loader; a document it cannot parse leaves no blocks. */
static rg_status html(email *e, const char *s, size_t n)
{
    rg_buf page;
    rg_buf_init(&page, EMAIL_MAX_TEXT_BYTES + sizeof EMAIL_HTML_PREFIX);
    rg_status st = rg_buf_puts(&page, EMAIL_HTML_PREFIX);
    if (!st) st = rg_buf_append(&page, s, n);
    if (st) {
        rg_buf_free(&page);
        return oom_or_limit(e, st, "an HTML part");
    }
    rg_error inner;
    rg_error_clear(&inner);
    st = rg_loader_html.load(NULL, page.data, page.len, e->b, &inner);
    rg_buf_free(&page);
    if (st == RG_ENOMEM || st == RG_ELIMIT)
        return rg_fail(e->err, st, "HTML part: %s", rg_error_message(&inner));
    return RG_OK;
}

static rg_status attachment(email *e, const headers *h, const char *type)
{
    rg_buf text;
    rg_buf_init(&text, EMAIL_MAX_VALUE_BYTES + 32);
    rg_status st = rg_buf_puts(&text, "Attachment: ");
    size_t before = text.len;
    if (!st && !param(&h->v[H_CDISP], "filename", &text, &st) && !st)
        param(&h->v[H_CTYPE], "name", &text, &st);
    if (!st && blank(text.data + before, text.len - before)) st = rg_buf_puts(&text, type);
    if (st) st = oom_or_limit(e, st, "an attachment name");
    if (!st) st = rg_doc_add(e->b, RG_BLOCK_PARAGRAPH, 0, text.data, text.len, e->err);
    rg_buf_free(&text);
    return st;
}

/*
 * The body of a part with its transfer encoding undone, converted from its
 * charset to UTF-8 when to_utf8 is set (not for an attached message, whose
 * own parts name their charsets).
 */
static rg_status decode_body(email *e, const headers *h, const char *s, size_t n, int to_utf8,
                             rg_buf *out)
{
    const char *cte = rg_buf_str(&h->v[H_CTE]);
    while (*cte == ' ' || *cte == '\t')
        cte++;
    size_t clen = 0;
    while (cte[clen] && !is_blank_char(cte[clen]) && cte[clen] != ';')
        clen++;
    rg_buf raw, cs;
    rg_buf_init(&raw, RG_LOADER_MAX_FILE_BYTES);
    rg_buf_init(&cs, EMAIL_MAX_VALUE_BYTES);
    rg_buf *bytes = to_utf8 ? &raw : out;
    rg_status st = RG_OK;
    if (eq_ci(cte, clen, "base64"))
        st = rg_mime_base64(s, n, bytes);
    else if (eq_ci(cte, clen, "quoted-printable"))
        st = rg_mime_qp(s, n, 0, bytes);
    else
        st = rg_buf_append(bytes, s, n);
    if (!st && to_utf8) param(&h->v[H_CTYPE], "charset", &cs, &st);
    if (!st && to_utf8)
        st = rg_mime_to_utf8(rg_buf_str(&cs), raw.data ? raw.data : "", raw.len, out);
    rg_buf_free(&raw);
    rg_buf_free(&cs);
    return st ? oom_or_limit(e, st, "a body part") : RG_OK;
}

/* --- multipart ---------------------------------------------------------------------------- */

typedef struct part_iter {
    const char *s;
    size_t n, pos;
    const char *bd; /* boundary */
    size_t blen;
    int done;
} part_iter;

/* 1 if a delimiter line "--boundary" (or "--boundary--") starts at s[i]. */
static int delimiter_at(const part_iter *p, size_t i, int *close, size_t *after)
{
    const char *s = p->s;
    size_t n = p->n;
    if (n - i < 2 + p->blen || s[i] != '-' || s[i + 1] != '-' ||
        memcmp(s + i + 2, p->bd, p->blen) != 0)
        return 0;
    size_t j = i + 2 + p->blen;
    *close = j + 1 < n && s[j] == '-' && s[j + 1] == '-';
    if (*close) j += 2;
    while (j < n && (s[j] == ' ' || s[j] == '\t'))
        j++;
    if (j < n && s[j] != '\r' && s[j] != '\n') return 0;
    if (j < n && s[j] == '\r') j++;
    if (j < n && s[j] == '\n') j++;
    *after = j;
    return 1;
}

/* Start of the first delimiter line at or after the line start pos, or n. */
static size_t find_delimiter(const part_iter *p, size_t pos, int *close, size_t *after)
{
    const char *s = p->s;
    size_t i = pos;
    while (i < p->n) {
        if (delimiter_at(p, i, close, after)) return i;
        while (i < p->n && s[i] != '\n' && s[i] != '\r')
            i++;
        if (i < p->n && s[i] == '\r') i++;
        if (i < p->n && s[i] == '\n') i++;
    }
    return p->n;
}

/* Positions p at its first part; 0 when the boundary never occurs. */
static int parts_begin(part_iter *p, const char *s, size_t n, const char *bd, size_t blen)
{
    *p = (part_iter){s, n, 0, bd, blen, 0};
    int close;
    size_t after;
    if (blen == 0 || find_delimiter(p, 0, &close, &after) == n) return 0;
    p->pos = after;
    p->done = close;
    return 1;
}

/* The next part's bytes (without the line end before the delimiter); 0 after the last. */
static int parts_next(part_iter *p, const char **ps, size_t *pn)
{
    if (p->done) return 0;
    int close = 0;
    size_t after = p->n, start = p->pos;
    size_t d = find_delimiter(p, start, &close, &after), end = d;
    if (end > start && p->s[end - 1] == '\n') end--;
    if (end > start && p->s[end - 1] == '\r') end--;
    p->done = d == p->n || close; /* no closing delimiter: the last part runs to the end */
    p->pos = after;
    *ps = p->s + start;
    *pn = end - start;
    return 1;
}

/* The boundary the body actually uses: its first line that starts with "--". */
static size_t guess_boundary(const char *s, size_t n, const char **bd)
{
    size_t pos = 0, len;
    const char *line;
    while (rg_next_line(s, n, &pos, &line, &len)) {
        if (len < 3 || line[0] != '-' || line[1] != '-') continue;
        while (len > 2 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
            len--;
        if (len - 2 > EMAIL_MAX_BOUNDARY || blank(line + 2, len - 2)) continue;
        *bd = line + 2;
        return len - 2;
    }
    return 0;
}

static rg_status entity(email *e, const headers *h, const char *body, size_t n, int depth);

/* A part: its headers, then its body. */
static rg_status sub_entity(email *e, const char *s, size_t n, int depth, char *type_out)
{
    headers h;
    headers_init(&h);
    size_t body;
    rg_status st = parse_headers(e, s, n, &h, &body);
    if (!st && type_out) media_type(&h, type_out);
    if (!st && !type_out) st = entity(e, &h, s + body, n - body, depth);
    headers_free(&h);
    return st;
}

/* Which part of a multipart/alternative to read: plain text, else HTML, else the last. */
static rg_status choose_alternative(email *e, part_iter it, int depth, size_t *pick)
{
    const char *ps;
    size_t pn, i = 0, html_at = (size_t)-1, nested_at = (size_t)-1;
    *pick = (size_t)-1;
    for (; parts_next(&it, &ps, &pn); i++) {
        char type[EMAIL_TYPE_MAX];
        rg_status st = sub_entity(e, ps, pn, depth, type);
        if (st) return st;
        if (strcmp(type, "text/plain") == 0) {
            *pick = i;
            return RG_OK;
        }
        if (strcmp(type, "text/html") == 0) html_at = i;
        if (strncmp(type, "multipart/", 10) == 0) nested_at = i;
    }
    *pick = html_at != (size_t)-1 ? html_at : nested_at != (size_t)-1 ? nested_at : i - 1;
    return RG_OK;
}

static rg_status multipart(email *e, const part_iter *start, int alternative, int depth)
{
    part_iter it = *start;
    size_t pick = (size_t)-1, i = 0;
    const char *ps;
    size_t pn;
    if (alternative) {
        rg_status st = choose_alternative(e, it, depth + 1, &pick);
        if (st) return st;
    }
    for (; parts_next(&it, &ps, &pn); i++) {
        if (alternative && i != pick) continue;
        rg_status st = sub_entity(e, ps, pn, depth + 1, NULL);
        if (st) return st;
    }
    return RG_OK;
}

/* --- entities ------------------------------------------------------------------------------- */

static rg_status message(email *e, const char *s, size_t n, int depth);

static rg_status text_body(email *e, const headers *h, const char *body, size_t n, int is_html)
{
    rg_buf text;
    rg_buf_init(&text, EMAIL_MAX_TEXT_BYTES);
    rg_status st = decode_body(e, h, body, n, 1, &text);
    if (!st && is_html) st = html(e, text.data ? text.data : "", text.len);
    if (!st && !is_html) st = paragraphs(e, text.data ? text.data : "", text.len);
    rg_buf_free(&text);
    return st;
}

static rg_status entity(email *e, const headers *h, const char *body, size_t n, int depth)
{
    if (++e->parts > EMAIL_MAX_PARTS)
        return rg_fail(e->err, RG_ELIMIT, "more than %d MIME parts", EMAIL_MAX_PARTS);
    if (depth > EMAIL_MAX_DEPTH)
        return rg_fail(e->err, RG_ELIMIT, "MIME parts nest deeper than %d levels", EMAIL_MAX_DEPTH);
    char type[EMAIL_TYPE_MAX];
    media_type(h, type);
    int text = strncmp(type, "text/", 5) == 0, multi = strncmp(type, "multipart/", 10) == 0;
    int msg = strcmp(type, "message/rfc822") == 0 || strcmp(type, "message/global") == 0;
    rg_status st = RG_OK;
    if (is_attachment(h)) return attachment(e, h, type);
    if (multi) {
        rg_buf bd;
        rg_buf_init(&bd, EMAIL_MAX_VALUE_BYTES);
        param(&h->v[H_CTYPE], "boundary", &bd, &st);
        if (st) {
            rg_buf_free(&bd);
            return oom_or_limit(e, st, "a boundary");
        }
        part_iter it;
        const char *guess;
        size_t glen;
        int ok = bd.len <= EMAIL_MAX_BOUNDARY && parts_begin(&it, body, n, bd.data, bd.len);
        if (!ok && (glen = guess_boundary(body, n, &guess)))
            ok = parts_begin(&it, body, n, guess, glen);
        if (ok) st = multipart(e, &it, strcmp(type, "multipart/alternative") == 0, depth);
        rg_buf_free(&bd);
        if (st || ok) return st;
        return text_body(e, h, body, n, 0); /* no structure to be found: plain text */
    }
    if (msg) {
        rg_buf inner;
        rg_buf_init(&inner, EMAIL_MAX_TEXT_BYTES);
        st = decode_body(e, h, body, n, 0, &inner);
        if (!st) st = message(e, inner.data ? inner.data : "", inner.len, depth + 1);
        rg_buf_free(&inner);
        return st;
    }
    if (text) return text_body(e, h, body, n, strcmp(type, "text/html") == 0);
    rg_buf name;
    rg_buf_init(&name, EMAIL_MAX_VALUE_BYTES);
    int named = param(&h->v[H_CTYPE], "name", &name, &st);
    rg_buf_free(&name);
    if (st) return oom_or_limit(e, st, "a part name");
    return named ? attachment(e, h, type) : RG_OK; /* unnamed inline images and such */
}

/* A message: its header paragraph, then its body. */
static rg_status message(email *e, const char *s, size_t n, int depth)
{
    headers h;
    headers_init(&h);
    size_t body;
    rg_status st = parse_headers(e, s, n, &h, &body);
    if (!st) st = header_paragraph(e, &h, depth == 0 ? &e->subject : NULL);
    if (!st) st = entity(e, &h, s + body, n - body, depth);
    headers_free(&h);
    return st;
}

/* --- the loader ------------------------------------------------------------------------------- */

static rg_status email_load(const char *path, const char *data, size_t n, rg_doc_builder *b,
                            rg_error *err)
{
    (void)path;
    email e;
    memset(&e, 0, sizeof e);
    e.b = b;
    e.err = err;
    rg_buf_init(&e.subject, EMAIL_MAX_VALUE_BYTES);
    size_t bom = rg_loader_bom_len(data, n);
    rg_status st = message(&e, data + bom, n - bom, 0);
    /* last, so that an HTML body's <title> does not replace the Subject */
    if (!st && !blank(e.subject.data, e.subject.len))
        st = rg_doc_set_title(b, e.subject.data, e.subject.len, err);
    rg_buf_free(&e.subject);
    return st;
}

static const char *const email_exts[] = {"eml", NULL};

static int email_can_load(const char *path, const char *data, size_t n)
{
    (void)data, (void)n;
    return rg_path_has_ext(path, email_exts);
}

const rg_loader rg_loader_email = {"email", "message/rfc822", email_can_load, email_load, 1};
