/*
 * mime.c — transfer encodings, encoded words and charsets to UTF-8.
 *
 * Charsets go through the C library's iconv (glibc knows Big5, GB18030,
 * the ISO-8859 and windows code pages, ISO-2022-JP...). Conversion runs in
 * one pass over the input with the output buffer grown ahead of it; a byte
 * iconv rejects costs one U+FFFD and the pass goes on after it.
 */
#include "ingest/mime.h"

#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "engine/base/utf8.h"

/* Decoded bytes are gathered here before they go to the output buffer. */
#define MIME_STAGE_BYTES 256
/* Output room asked for ahead of each iconv call, besides twice the input left. */
#define MIME_ICONV_SLACK 64

#define REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD */

typedef struct stage {
    char buf[MIME_STAGE_BYTES];
    size_t len;
    rg_buf *out;
    rg_status st;
} stage;

static void stage_put(stage *s, char c)
{
    if (s->len == sizeof s->buf) {
        if (!s->st) s->st = rg_buf_append(s->out, s->buf, s->len);
        s->len = 0;
    }
    s->buf[s->len++] = c;
}

static rg_status stage_end(stage *s)
{
    if (!s->st && s->len) s->st = rg_buf_append(s->out, s->buf, s->len);
    return s->st;
}

/* --- transfer encodings ------------------------------------------------------- */

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

rg_status rg_mime_base64(const char *s, size_t n, rg_buf *out)
{
    stage st = {.out = out};
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n && s[i] != '='; i++) {
        int v = b64_value((unsigned char)s[i]);
        if (v < 0) continue;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            stage_put(&st, (char)((acc >> bits) & 0xFF));
        }
    }
    return stage_end(&st);
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

rg_status rg_mime_qp(const char *s, size_t n, int q_word, rg_buf *out)
{
    stage st = {.out = out};
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (q_word && c == '_') {
            stage_put(&st, ' ');
            continue;
        }
        if (c != '=') {
            stage_put(&st, c);
            continue;
        }
        int hi = i + 1 < n ? hex_value(s[i + 1]) : -1;
        int lo = i + 2 < n ? hex_value(s[i + 2]) : -1;
        if (hi >= 0 && lo >= 0) {
            stage_put(&st, (char)(hi * 16 + lo));
            i += 2;
            continue;
        }
        /* a soft line break: '=', perhaps trailing blanks, then the line end */
        size_t j = i + 1;
        while (j < n && (s[j] == ' ' || s[j] == '\t'))
            j++;
        if (j < n && s[j] == '\r') j++;
        if (j < n && s[j] == '\n') {
            i = j;
            continue;
        }
        if (j == n) break; /* '=' at the very end: a soft break with no line end */
        stage_put(&st, c); /* a lone '=' stays */
    }
    return stage_end(&st);
}

/* --- charsets ---------------------------------------------------------------------- */

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static int label_is(const char *label, const char *const *names)
{
    for (; *names; names++) {
        const char *a = label, *b = *names;
        while (*a && lower((unsigned char)*a) == *b)
            a++, b++;
        if (!*a && !*b) return 1;
    }
    return 0;
}

/* Appends s with NUL bytes dropped and invalid UTF-8 bytes replaced by U+FFFD. */
static rg_status put_utf8(const char *s, size_t n, rg_buf *out)
{
    size_t i = 0;
    while (i < n) {
        size_t run = i, bad = 0;
        while (run < n && s[run] != '\0') {
            unsigned char c = (unsigned char)s[run];
            if (c < 0x80) {
                run++;
                continue;
            }
            uint32_t cp;
            size_t k = rg_utf8_decode(s + run, n - run, &cp);
            if (!k) {
                bad = 1;
                break;
            }
            run += k;
        }
        rg_status st = rg_buf_append(out, s + i, run - i);
        if (!st && bad) st = rg_buf_append(out, REPLACEMENT, 3);
        if (st) return st;
        i = run + 1; /* past the NUL or the bad byte */
    }
    return RG_OK;
}

static rg_status put_iconv(iconv_t cd, const char *s, size_t n, rg_buf *out)
{
    char *in = (char *)s; /* iconv's prototype wants char **, it does not write */
    size_t in_left = n;
    size_t from = out->len;
    while (in_left) {
        size_t room = 2 * in_left + MIME_ICONV_SLACK;
        rg_status st = rg_buf_reserve(out, room);
        if (st) return st;
        char *o = out->data + out->len;
        size_t o_left = room;
        size_t r = iconv(cd, &in, &in_left, &o, &o_left);
        out->len += room - o_left;
        out->data[out->len] = '\0';
        if (r != (size_t)-1 || errno == E2BIG) continue;
        if ((st = rg_buf_append(out, REPLACEMENT, 3))) return st;
        if (errno == EINVAL) break; /* a sequence cut off at the end */
        in++, in_left--;            /* EILSEQ: skip the byte */
    }
    char flush[MIME_ICONV_SLACK]; /* stateful charsets return to their initial state */
    char *o = flush;
    size_t o_left = sizeof flush;
    iconv(cd, NULL, NULL, &o, &o_left);
    rg_status st = rg_buf_append(out, flush, sizeof flush - o_left);
    if (st) return st;
    size_t w = from; /* UTF-8 from iconv is valid; only NULs need to go */
    for (size_t r = from; r < out->len; r++)
        if (out->data[r] != '\0') out->data[w++] = out->data[r];
    out->len = w;
    out->data[w] = '\0';
    return RG_OK;
}

static rg_status convert(const char *iconv_name, const char *s, size_t n, rg_buf *out, int *known)
{
    iconv_t cd = iconv_open("UTF-8", iconv_name);
    *known = cd != (iconv_t)-1;
    if (!*known) return RG_OK;
    rg_status st = put_iconv(cd, s, n, out);
    iconv_close(cd);
    return st;
}

rg_status rg_mime_to_utf8(const char *charset, const char *s, size_t n, rg_buf *out)
{
    static const char *const utf8[] = {"utf-8", "utf8", NULL};
    static const char *const unlabelled[] = {"",          "us-ascii", "ascii", "unknown-8bit",
                                             "x-unknown", "default",  NULL};
    static const char *const latin1[] = {"iso-8859-1", "iso8859-1", "latin1", "iso_8859-1",
                                         "l1",         "cp819",     NULL};
    static const char *const gb[] = {"gb2312", "gbk",        "x-gbk", "euc-cn",
                                     "cp936",  "gb_2312-80", NULL};
    static const char *const big5[] = {"big5", "x-x-big5", "cn-big5", "csbig5", NULL};
    char label[RG_MIME_CHARSET_MAX];
    snprintf(label, sizeof label, "%s", charset && strlen(charset) < sizeof label ? charset : "");
    int known = 0;
    rg_status st = RG_OK;
    if (label_is(label, utf8) || (!label[0] && charset && charset[0]))
        return put_utf8(s, n, out); /* a label too long to be real: keep what is valid */
    if (label_is(label, unlabelled)) {
        if (rg_utf8_valid(s, n, NULL)) return put_utf8(s, n, out);
        st = convert("WINDOWS-1252", s, n, out, &known);
    } else if (label_is(label, latin1)) {
        st = convert("WINDOWS-1252", s, n, out, &known);
    } else if (label_is(label, gb)) {
        st = convert("GB18030", s, n, out, &known);
    } else if (label_is(label, big5)) {
        st = convert("BIG5-HKSCS", s, n, out, &known);
    } else {
        st = convert(label, s, n, out, &known);
    }
    if (st || known) return st;
    return put_utf8(s, n, out); /* a charset iconv does not know */
}

/* --- RFC 2047 ----------------------------------------------------------------------------- */

/*
 * If s[i..n) starts an encoded word "=?charset?X?text?=", its parts and the
 * end; 0 otherwise. No white space may occur inside a word.
 */
static int encoded_word(const char *s, size_t n, size_t i, size_t *cs, size_t *cs_len, char *enc,
                        size_t *txt, size_t *txt_len, size_t *end)
{
    if (i + 2 > n || s[i] != '=' || s[i + 1] != '?') return 0;
    size_t j = i + 2;
    while (j < n && s[j] != '?' && s[j] != ' ' && s[j] != '\t')
        j++;
    if (j + 3 > n || s[j] != '?' || j == i + 2 || s[j + 2] != '?') return 0;
    *cs = i + 2;
    *cs_len = j - (i + 2);
    *enc = (char)lower((unsigned char)s[j + 1]);
    if (*enc != 'b' && *enc != 'q') return 0;
    size_t k = j + 3;
    while (k + 1 < n && !(s[k] == '?' && s[k + 1] == '=') && s[k] != ' ' && s[k] != '\t')
        k++;
    if (k + 1 >= n || s[k] != '?' || s[k + 1] != '=') return 0;
    *txt = j + 3;
    *txt_len = k - (j + 3);
    *end = k + 2;
    return 1;
}

static rg_status decode_word(const char *s, size_t cs, size_t cs_len, char enc, size_t txt,
                             size_t txt_len, rg_buf *out)
{
    char charset[RG_MIME_CHARSET_MAX];
    size_t len = cs_len < sizeof charset ? cs_len : 0; /* too long: unknown, taken as UTF-8 */
    memcpy(charset, s + cs, len);
    charset[len] = '\0';
    char *star = strchr(charset, '*'); /* RFC 2231 language: "utf-8*en" */
    if (star) *star = '\0';
    rg_buf raw;
    rg_buf_init(&raw, out->max);
    rg_status st =
        enc == 'b' ? rg_mime_base64(s + txt, txt_len, &raw) : rg_mime_qp(s + txt, txt_len, 1, &raw);
    if (!st) st = rg_mime_to_utf8(charset, raw.data ? raw.data : "", raw.len, out);
    rg_buf_free(&raw);
    return st;
}

rg_status rg_mime_decode_header(const char *s, size_t n, rg_buf *out)
{
    size_t i = 0, plain = 0; /* s[plain..i) is text not yet written */
    int after_word = 0;
    while (i < n) {
        size_t cs, cs_len, txt, txt_len, end;
        char enc;
        if (!encoded_word(s, n, i, &cs, &cs_len, &enc, &txt, &txt_len, &end)) {
            if (s[i] != ' ' && s[i] != '\t') after_word = 0;
            i++;
            continue;
        }
        rg_status st = RG_OK;
        if (!after_word) st = rg_mime_to_utf8(NULL, s + plain, i - plain, out);
        if (!st) st = decode_word(s, cs, cs_len, enc, txt, txt_len, out);
        if (st) return st;
        i = plain = end;
        after_word = 1; /* blanks up to a next word are dropped with it */
    }
    return rg_mime_to_utf8(NULL, s + plain, n - plain, out);
}
