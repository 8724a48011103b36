/*
 * sse.c — incremental Server-Sent Events and NDJSON parsers. See sse.h.
 */
#include "engine/rag/sse.h"

#include <string.h>

#include "engine/base/buf.h"
#include "engine/base/mem.h"

static const unsigned char BOM[3] = {0xef, 0xbb, 0xbf};

struct rg_sse {
    rg_buf line; /* the line being read, without its end */
    rg_buf data; /* data lines of the event being read, each followed by LF */
    char event[RG_SSE_EVENT_NAME_MAX + 1];
    int has_data; /* a data line was seen, even an empty one */
    int after_cr; /* the last byte was CR: an LF right after it ends nothing */
    int started;  /* past the (optional) BOM at the start of the stream */
    size_t bom;   /* BOM bytes matched so far while !started */
    size_t max_event;
    size_t comments;
    rg_sse_event_fn fn;
    void *ctx;
};

rg_status rg_sse_new(size_t max_line, size_t max_event, rg_sse_event_fn fn, void *ctx, rg_sse **out,
                     rg_error *err)
{
    *out = NULL;
    rg_sse *p = rg_calloc(1, sizeof *p);
    if (!p) return rg_fail(err, RG_ENOMEM, "out of memory");
    p->max_event = max_event ? max_event : RG_SSE_MAX_EVENT;
    rg_buf_init(&p->line, max_line ? max_line : RG_SSE_MAX_LINE);
    /* + 1: each data line is stored with its LF, the last one dropped at dispatch */
    rg_buf_init(&p->data, p->max_event + 1);
    p->fn = fn;
    p->ctx = ctx;
    *out = p;
    return RG_OK;
}

void rg_sse_free(rg_sse *p)
{
    if (!p) return;
    rg_buf_free(&p->line);
    rg_buf_free(&p->data);
    rg_free(p);
}

void rg_sse_reset(rg_sse *p)
{
    rg_buf_reset(&p->line);
    rg_buf_reset(&p->data);
    p->event[0] = 0;
    p->has_data = p->after_cr = p->started = 0;
    p->bom = 0;
    p->comments = 0;
}

size_t rg_sse_comments(const rg_sse *p)
{
    return p->comments;
}

static rg_status dispatch(rg_sse *p, rg_error *err)
{
    rg_status st = RG_OK;
    if (p->has_data) {
        size_t n = p->data.len - 1; /* the last data line's LF */
        p->data.data[n] = 0;
        rg_sse_event ev = {p->event[0] ? p->event : "message", p->data.data, n, 0};
        ev.done = n == 6 && memcmp(ev.data, "[DONE]", 6) == 0;
        st = p->fn(p->ctx, &ev, err);
    }
    rg_buf_reset(&p->data);
    p->event[0] = 0;
    p->has_data = 0;
    return st;
}

static int field_is(const char *f, size_t n, const char *name)
{
    return strlen(name) == n && memcmp(f, name, n) == 0;
}

static rg_status sse_line(rg_sse *p, rg_error *err)
{
    const char *s = rg_buf_str(&p->line);
    size_t n = p->line.len;
    rg_status st = RG_OK;
    if (n == 0) return dispatch(p, err);
    if (s[0] == ':') {
        p->comments++;
        goto out;
    }
    const char *colon = memchr(s, ':', n);
    size_t fn = colon ? (size_t)(colon - s) : n;
    const char *v = colon ? colon + 1 : s + n;
    size_t vn = n - (size_t)(v - s);
    if (vn && *v == ' ') v++, vn--;
    if (field_is(s, fn, "data")) {
        p->has_data = 1;
        st = rg_buf_append(&p->data, v, vn);
        if (!st) st = rg_buf_putc(&p->data, '\n');
        if (st == RG_ELIMIT)
            st = rg_fail(err, st, "server-sent event carries more than %zu bytes of data",
                         p->max_event);
        else if (st)
            st = rg_fail(err, st, "out of memory reading an event stream");
    } else if (field_is(s, fn, "event")) {
        if (vn > RG_SSE_EVENT_NAME_MAX) {
            st = rg_fail(err, RG_ELIMIT, "server-sent event name longer than %d bytes",
                         RG_SSE_EVENT_NAME_MAX);
            goto out;
        }
        memcpy(p->event, v, vn);
        p->event[vn] = 0;
    } /* "id", "retry" and unknown fields mean nothing to a one-shot request */
out:
    rg_buf_reset(&p->line);
    return st;
}

static rg_status line_append(rg_buf *line, const char *s, size_t n, const char *what, rg_error *err)
{
    rg_status st = rg_buf_append(line, s, n);
    if (st == RG_ELIMIT) return rg_fail(err, st, "%s line longer than %zu bytes", what, line->max);
    if (st) return rg_fail(err, st, "out of memory reading a %s stream", what);
    return RG_OK;
}

/* Consumes the BOM, or the bytes that looked like its start, at the stream's start. */
static rg_status skip_bom(rg_sse *p, const unsigned char **s, const unsigned char *end,
                          rg_error *err)
{
    while (!p->started && *s < end) {
        if (**s == BOM[p->bom]) {
            (*s)++;
            if (++p->bom == sizeof BOM) p->started = 1;
            continue;
        }
        p->started = 1; /* not a BOM: what matched so far was text */
        return line_append(&p->line, (const char *)BOM, p->bom, "event-stream", err);
    }
    return RG_OK;
}

rg_status rg_sse_feed(rg_sse *p, const void *data, size_t n, rg_error *err)
{
    const unsigned char *s = data, *end = s + n;
    rg_status st = skip_bom(p, &s, end, err);
    while (!st && s < end) {
        if (p->after_cr) {
            p->after_cr = 0;
            if (*s == '\n') {
                s++;
                continue;
            }
        }
        const unsigned char *e = s;
        while (e < end && *e != '\r' && *e != '\n')
            e++;
        st = line_append(&p->line, (const char *)s, (size_t)(e - s), "event-stream", err);
        if (st || e == end) break;
        p->after_cr = *e == '\r';
        s = e + 1;
        st = sse_line(p, err);
    }
    return st;
}

/* ---- NDJSON ---- */

struct rg_ndjson {
    rg_buf line;
    rg_ndjson_line_fn fn;
    void *ctx;
};

rg_status rg_ndjson_new(size_t max_line, rg_ndjson_line_fn fn, void *ctx, rg_ndjson **out,
                        rg_error *err)
{
    *out = NULL;
    rg_ndjson *p = rg_calloc(1, sizeof *p);
    if (!p) return rg_fail(err, RG_ENOMEM, "out of memory");
    rg_buf_init(&p->line, max_line ? max_line : RG_SSE_MAX_LINE);
    p->fn = fn;
    p->ctx = ctx;
    *out = p;
    return RG_OK;
}

void rg_ndjson_free(rg_ndjson *p)
{
    if (!p) return;
    rg_buf_free(&p->line);
    rg_free(p);
}

void rg_ndjson_reset(rg_ndjson *p)
{
    rg_buf_reset(&p->line);
}

/* Hands over the buffered line unless it is blank (keep-alive newlines). */
static rg_status ndjson_line(rg_ndjson *p, rg_error *err)
{
    const char *s = rg_buf_str(&p->line);
    size_t n = p->line.len;
    while (n && (s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    size_t lead = 0;
    while (lead < n && (s[lead] == ' ' || s[lead] == '\t'))
        lead++;
    rg_status st = n > lead ? p->fn(p->ctx, s + lead, n - lead, err) : RG_OK;
    rg_buf_reset(&p->line);
    return st;
}

rg_status rg_ndjson_feed(rg_ndjson *p, const void *data, size_t n, rg_error *err)
{
    const char *s = data, *end = s + n;
    rg_status st = RG_OK;
    while (!st && s < end) {
        const char *e = memchr(s, '\n', (size_t)(end - s));
        st = line_append(&p->line, s, (size_t)((e ? e : end) - s), "NDJSON", err);
        if (st || !e) break;
        s = e + 1;
        st = ndjson_line(p, err);
    }
    return st;
}

rg_status rg_ndjson_finish(rg_ndjson *p, rg_error *err)
{
    return ndjson_line(p, err);
}
