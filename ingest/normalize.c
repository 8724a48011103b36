/*
 * normalize.c — UTF-8 check, NFKC, line ends, control characters, white space.
 *
 * The input is cut into segments that end just before a '\n'. A line feed is
 * a starter that composes with nothing, so NFKC of the whole equals the
 * concatenation of NFKC of the segments; cutting keeps the UTF-32 scratch
 * buffer small and lets pure-ASCII segments (already NFKC) skip utf8proc.
 * The NFKC output of each segment is then fed, code point by code point, to
 * a small state machine that does line ends, control characters and the
 * white-space mode; its state carries over segment edges (a "\r" may end one
 * segment and its "\n" start the next).
 */
#include "ingest/normalize.h"

#include <stdint.h>
#include <string.h>
#include <utf8proc.h>

#include "engine/base/fuzz.h"
#include "engine/base/mem.h"
#include "engine/base/utf8.h"

/* Segments are cut at the first '\n' after this many bytes. */
#define NORM_SEGMENT_BYTES (64u << 10)
/* NFKC output options: exactly those of utf8proc_NFKC. */
#define NORM_NFKC_OPTIONS (UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT)

typedef struct ws_state {
    rg_ws_mode mode;
    rg_buf *out;
    size_t base;         /* out->len when this call began: nothing before it is touched */
    int emitted;         /* something other than white space was written */
    int pending_space;   /* COLLAPSE/PARAGRAPHS: white space seen since the last character */
    unsigned pending_nl; /* PARAGRAPHS: line feeds seen since the last character */
    size_t ws_start;     /* KEEP: where the current run of trailing blanks began, or SIZE_MAX */
    int after_cr;        /* the previous code point was '\r' */
} ws_state;

typedef struct nfkc_scratch {
    utf8proc_int32_t *cps;
    size_t cap; /* code points */
} nfkc_scratch;

static rg_status put(ws_state *st, const char *p, size_t n)
{
    return rg_buf_append(st->out, p, n);
}

/* Writes what the pending white space stands for, just before a character. */
static rg_status flush_pending(ws_state *st)
{
    rg_status rc = RG_OK;
    if (st->mode == RG_WS_PARAGRAPHS && st->pending_nl > 0) {
        if (st->emitted) rc = put(st, "\n\n", st->pending_nl >= 2 ? 2 : 1);
    } else if (st->pending_space && st->emitted) {
        rc = put(st, " ", 1);
    }
    st->pending_space = 0;
    st->pending_nl = 0;
    return rc;
}

static rg_status on_newline(ws_state *st)
{
    switch (st->mode) {
    case RG_WS_COLLAPSE:
        st->pending_space = 1;
        return RG_OK;
    case RG_WS_PARAGRAPHS:
        st->pending_nl++;
        st->pending_space = 0; /* trailing blanks of the line go */
        return RG_OK;
    case RG_WS_KEEP:
        if (st->ws_start != SIZE_MAX) {
            st->out->len = st->ws_start;
            st->out->data[st->out->len] = '\0';
            st->ws_start = SIZE_MAX;
        }
        return put(st, "\n", 1);
    }
    return RG_OK;
}

static rg_status on_blank(ws_state *st, const char *p, size_t n)
{
    if (st->mode != RG_WS_KEEP) {
        /* a blank right after a line feed is leading indentation: dropped */
        if (!(st->mode == RG_WS_PARAGRAPHS && st->pending_nl > 0)) st->pending_space = 1;
        return RG_OK;
    }
    if (st->ws_start == SIZE_MAX) st->ws_start = st->out->len;
    return put(st, p, n);
}

static rg_status on_char(ws_state *st, const char *p, size_t n)
{
    rg_status rc = RG_OK;
    if (st->mode != RG_WS_KEEP) rc = flush_pending(st);
    st->ws_start = SIZE_MAX;
    st->emitted = 1;
    return rc ? rc : put(st, p, n);
}

/* Control characters (Cc) other than the ones that mean a line end or a tab. */
static int is_dropped_control(uint32_t cp)
{
    return (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\v' && cp != '\f') || cp == 0x7F ||
           (cp >= 0x80 && cp <= 0x9F && cp != 0x85);
}

/* Feeds one code point (its UTF-8 bytes p[0..n)) to the state machine. */
static rg_status feed(ws_state *st, uint32_t cp, const char *p, size_t n)
{
    int cr = st->after_cr;
    st->after_cr = cp == '\r';
    if (cp == '\r') return on_newline(st);
    if (cp == '\n') return cr ? RG_OK : on_newline(st);
    /* vertical tab, form feed, NEL and the Unicode line/paragraph separators end lines */
    if (cp == '\v' || cp == '\f' || cp == 0x85 || cp == 0x2028 || cp == 0x2029)
        return on_newline(st);
    if (is_dropped_control(cp)) return RG_OK;
    if (cp == '\t' || rg_is_space(cp)) return on_blank(st, p, n);
    return on_char(st, p, n);
}

/*
 * Length of the run of printable ASCII other than the space at the start of
 * s[0..n): characters that feed() passes to on_char one by one, and that
 * on_char may take as one piece (only the first of them flushes pending
 * white space).
 */
RG_FUZZ_UNTRACED static size_t plain_run(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && (unsigned char)s[i] - 0x21u < 0x5Eu) /* 0x21 '!' .. 0x7E '~' */
        i++;
    return i;
}

static rg_status feed_utf8(ws_state *st, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t run = plain_run(s + i, n - i);
        if (run > 0) {
            st->after_cr = 0;
            rg_status rc = on_char(st, s + i, run);
            if (rc) return rc;
            i += run;
            continue;
        }
        uint32_t cp;
        size_t k = (unsigned char)s[i] < 0x80 ? (cp = (unsigned char)s[i], 1)
                                              : rg_utf8_decode(s + i, n - i, &cp);
        if (k == 0) return RG_EINTERNAL; /* utf8proc wrote invalid UTF-8: cannot happen */
        rg_status rc = feed(st, cp, s + i, k);
        if (rc) return rc;
        i += k;
    }
    return RG_OK;
}

/*
 * NFKC of one segment, the way utf8proc_map(COMPOSE|COMPAT|STABLE) does it
 * (decompose, then compose and re-encode in place), but with a scratch
 * buffer from rg_malloc that is reused across segments.
 */
static rg_status nfkc_segment(nfkc_scratch *sc, const char *s, size_t n, const char **res,
                              size_t *res_len)
{
    for (;;) {
        utf8proc_ssize_t got =
            utf8proc_decompose((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, sc->cps,
                               (utf8proc_ssize_t)(sc->cap ? sc->cap - 1 : 0), NORM_NFKC_OPTIONS);
        if (got < 0) return RG_EINTERNAL;
        if ((size_t)got + 1 <= sc->cap) {
            got = utf8proc_reencode(sc->cps, got, NORM_NFKC_OPTIONS);
            if (got < 0) return RG_EINTERNAL;
            *res = (const char *)sc->cps;
            *res_len = (size_t)got;
            return RG_OK;
        }
        /* +1: utf8proc_reencode needs one spare unit for its terminating NUL */
        size_t cap = (size_t)got + 1;
        if (cap < n + 1) cap = n + 1;
        if (cap > SIZE_MAX / sizeof *sc->cps) return RG_ENOMEM;
        utf8proc_int32_t *p = rg_realloc(sc->cps, cap * sizeof *p);
        if (!p) return RG_ENOMEM;
        sc->cps = p;
        sc->cap = cap;
    }
}

static int is_ascii(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80) return 0;
    return 1;
}

/* End of the segment starting at s[0]: just before a '\n' past the soft size. */
static size_t segment_end(const char *s, size_t n)
{
    if (n <= NORM_SEGMENT_BYTES) return n;
    const char *nl = memchr(s + NORM_SEGMENT_BYTES, '\n', n - NORM_SEGMENT_BYTES);
    return nl ? (size_t)(nl - s) : n;
}

static rg_status run(const char *in, size_t n, ws_state *st)
{
    nfkc_scratch sc = {NULL, 0};
    rg_status rc = RG_OK;
    size_t i = 0;
    while (i < n && rc == RG_OK) {
        size_t len = segment_end(in + i, n - i);
        if (is_ascii(in + i, len)) {
            rc = feed_utf8(st, in + i, len);
        } else {
            const char *norm;
            size_t norm_len;
            rc = nfkc_segment(&sc, in + i, len, &norm, &norm_len);
            if (rc == RG_OK) rc = feed_utf8(st, norm, norm_len);
        }
        i += len;
    }
    /* KEEP: trailing blanks of the last line are trimmed too */
    if (rc == RG_OK && st->mode == RG_WS_KEEP && st->ws_start != SIZE_MAX) {
        st->out->len = st->ws_start;
        st->out->data[st->out->len] = '\0';
    }
    rg_free(sc.cps);
    return rc;
}

rg_status rg_normalize(const char *in, size_t n, rg_ws_mode mode, rg_buf *out, rg_error *err)
{
    size_t bad;
    if (mode != RG_WS_COLLAPSE && mode != RG_WS_PARAGRAPHS && mode != RG_WS_KEEP)
        return rg_fail(err, RG_EINVAL, "unknown white-space mode %d", (int)mode);
    if (n > (size_t)PTRDIFF_MAX) return rg_fail(err, RG_ELIMIT, "input too large to normalise");
    if (!rg_utf8_valid(in, n, &bad))
        return rg_fail(err, RG_EUTF8, "invalid UTF-8 at byte %zu", bad);
    if (n >= 3 && memcmp(in, "\xEF\xBB\xBF", 3) == 0) {
        in += 3;
        n -= 3;
    }
    ws_state st = {mode, out, out->len, 0, 0, 0, SIZE_MAX, 0};
    rg_status rc = run(in, n, &st);
    if (rc == RG_OK) return RG_OK;
    /* leave out as it was */
    out->len = st.base;
    if (out->data) out->data[out->len] = '\0';
    if (rc == RG_ELIMIT)
        return rg_fail(err, rc, "normalised text exceeds the limit of %zu bytes", out->max);
    if (rc == RG_ENOMEM) return rg_fail(err, rc, "out of memory while normalising text");
    return rg_fail(err, rc, "Unicode normalisation failed");
}
