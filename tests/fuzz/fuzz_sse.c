/*
 * fuzz_sse.c — the incremental stream parsers of the LLM clients
 * (engine/rag/sse.h): Server-Sent Events (OpenAI-compatible servers) and
 * NDJSON (Ollama).
 *
 * The first byte picks the parser, small or default line and event limits,
 * and how the rest of the input is cut into feeds (whole, byte by byte,
 * random pieces of 1..8 or 1..256 bytes, fuzz.h). Each stream is parsed
 * twice, in one piece and cut up: the events (name, data, [DONE] flag) or
 * lines delivered and the final status must be the same both ways, so a
 * line end, a CRLF pair or the BOM split across feeds changes nothing.
 * Events must carry NUL-terminated strings within their limits; NDJSON
 * never delivers a blank line.
 */
#include "fuzz.h"

#include "engine/rag/sse.h"

typedef struct digest {
    uint64_t h;
    size_t count;
    size_t max_event;
} digest;

static void mix(digest *d, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        d->h = (d->h ^ b[i]) * 1099511628211ull;
}

static rg_status on_event(void *ctx, const rg_sse_event *ev, rg_error *err)
{
    (void)err;
    digest *d = ctx;
    FUZZ_CHECK(ev->event && ev->data && ev->data[ev->data_len] == '\0');
    FUZZ_CHECK(strlen(ev->event) <= RG_SSE_EVENT_NAME_MAX && ev->data_len <= d->max_event);
    FUZZ_CHECK(!ev->done || (ev->data_len == 6 && !memcmp(ev->data, "[DONE]", 6)));
    mix(d, ev->event, strlen(ev->event) + 1);
    mix(d, ev->data, ev->data_len + 1);
    mix(d, &ev->done, sizeof ev->done);
    d->count++;
    return RG_OK;
}

static rg_status on_line(void *ctx, const char *line, size_t n, rg_error *err)
{
    (void)err;
    digest *d = ctx;
    int blank = 1;
    for (size_t i = 0; i < n && blank; i++)
        blank = line[i] == ' ' || line[i] == '\t' || line[i] == '\r';
    FUZZ_CHECK(n > 0 && !blank && !memchr(line, '\n', n));
    mix(d, line, n);
    mix(d, "\n", 1);
    d->count++;
    return RG_OK;
}

typedef struct feeder {
    rg_sse *sse;
    rg_ndjson *nd;
    rg_status st;
} feeder;

static int feed(void *ctx, const uint8_t *p, size_t n)
{
    feeder *f = ctx;
    rg_error err;
    f->st = f->sse ? rg_sse_feed(f->sse, p, n, &err) : rg_ndjson_feed(f->nd, p, n, &err);
    return f->st != RG_OK;
}

/* Parses the stream in pieces as mode says; returns the final status, events in *d. */
static rg_status run(fuzz_in *in, int ndjson, size_t max_line, size_t max_event, unsigned mode,
                     digest *d)
{
    rg_error err;
    feeder f = {0};
    *d = (digest){1469598103934665603ull, 0, max_event ? max_event : RG_SSE_MAX_EVENT};
    if (ndjson ? rg_ndjson_new(max_line, on_line, d, &f.nd, &err)
               : rg_sse_new(max_line, max_event, on_event, d, &f.sse, &err))
        abort();
    fuzz_feed_split(in, mode, in->p, in->n, feed, &f);
    if (ndjson && f.st == RG_OK) f.st = rg_ndjson_finish(f.nd, &err);
    if (ndjson) {
        /* a reset parser must parse like a new one */
        rg_ndjson_reset(f.nd);
        rg_ndjson_free(f.nd);
    } else {
        rg_sse_reset(f.sse);
        FUZZ_CHECK(rg_sse_comments(f.sse) == 0);
        rg_sse_free(f.sse);
    }
    return f.st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in in = fuzz_in_make(data, size);
    uint8_t sel = fuzz_byte(&in);
    int ndjson = sel & 1;
    size_t max_line = (sel & 2) ? 16 + (sel >> 4) * 8 : 0;
    size_t max_event = (sel & 2) ? 32 + (sel >> 4) * 16 : 0;
    digest whole, cut;
    rg_status a = run(&in, ndjson, max_line, max_event, 0, &whole);
    rg_status b = run(&in, ndjson, max_line, max_event, 1 + (sel >> 2) % 3, &cut);
    FUZZ_CHECK(a == b);
    FUZZ_CHECK(whole.count == cut.count && whole.h == cut.h);
    return 0;
}
