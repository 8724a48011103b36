/*
 * sse.h — incremental parsers for the two streaming formats LLM servers
 * use: Server-Sent Events (OpenAI-compatible chat completions) and
 * newline-delimited JSON (Ollama).
 *
 * Bytes arrive in whatever pieces the network delivers: a line, an event
 * or a CRLF pair may be split anywhere, down to one byte per call. Both
 * parsers keep the unfinished line between calls and hand each complete
 * event or line to a callback, in order. Every line and every event has a
 * named maximum; past it feeding fails with RG_ELIMIT, so a server that
 * never sends a line end cannot make ragd buffer without bound.
 *
 * SSE follows the WHATWG event-stream rules: lines end with CRLF, LF or
 * CR; "field:value" loses one space after the colon; a line without a
 * colon is a field with an empty value; lines starting with ':' are
 * comments (keep-alives) and are skipped; "data" lines of one event are
 * joined with LF; "event" names the event; an empty line dispatches the
 * event when it has data; unknown fields (and "id", "retry") are ignored;
 * a leading UTF-8 BOM is dropped; an event cut off by the end of the
 * stream is discarded. OpenAI's end marker, an event whose data is
 * exactly "[DONE]", is flagged in the event.
 */
#ifndef RG_RAG_SSE_H
#define RG_RAG_SSE_H

#include <stddef.h>

#include "engine/base/status.h"

/* Longest SSE or NDJSON line accepted (bytes, without its line end). */
#define RG_SSE_MAX_LINE (1u << 20)
/* Most data bytes one SSE event may carry (its data lines joined). */
#define RG_SSE_MAX_EVENT (4u << 20)
/* Longest event name kept; longer names fail with RG_ELIMIT. */
#define RG_SSE_EVENT_NAME_MAX 64

/* ---- Server-Sent Events ---- */

typedef struct rg_sse_event {
    const char *event; /* "message" unless an "event:" line named it; NUL-terminated */
    const char *data;  /* data lines joined with LF, NUL-terminated */
    size_t data_len;
    int done; /* data is exactly "[DONE]" */
} rg_sse_event;

/*
 * Receives one complete event. The strings live until the callback
 * returns. Returning anything but RG_OK stops the feed, which returns that
 * status (the callback writes its own message into err).
 */
typedef rg_status (*rg_sse_event_fn)(void *ctx, const rg_sse_event *ev, rg_error *err);

typedef struct rg_sse rg_sse;

/*
 * Creates a parser that calls fn(ctx, ...) for each event. max_line and
 * max_event of 0 mean RG_SSE_MAX_LINE and RG_SSE_MAX_EVENT. Errors: RG_ENOMEM.
 */
rg_status rg_sse_new(size_t max_line, size_t max_event, rg_sse_event_fn fn, void *ctx, rg_sse **out,
                     rg_error *err);
void rg_sse_free(rg_sse *p);
/* Forgets any partial line and event, as for a new stream (a retried request). */
void rg_sse_reset(rg_sse *p);

/*
 * Parses the next n bytes of the stream. Errors: RG_ELIMIT (a line or an
 * event over its maximum), RG_ENOMEM, or the callback's status. After an
 * error the parser must be reset before it is fed again.
 */
rg_status rg_sse_feed(rg_sse *p, const void *data, size_t n, rg_error *err);

/*
 * Number of comment lines seen since the last reset (keep-alives), for
 * tests and diagnostics.
 */
size_t rg_sse_comments(const rg_sse *p);

/* ---- Newline-delimited JSON ---- */

/* Receives one line, without its line end; never an empty or blank line. */
typedef rg_status (*rg_ndjson_line_fn)(void *ctx, const char *line, size_t n, rg_error *err);

typedef struct rg_ndjson rg_ndjson;

/* Creates a splitter; max_line 0 means RG_SSE_MAX_LINE. Errors: RG_ENOMEM. */
rg_status rg_ndjson_new(size_t max_line, rg_ndjson_line_fn fn, void *ctx, rg_ndjson **out,
                        rg_error *err);
void rg_ndjson_free(rg_ndjson *p);
void rg_ndjson_reset(rg_ndjson *p);

/* Splits the next n bytes into lines (LF or CRLF ends). Errors as rg_sse_feed. */
rg_status rg_ndjson_feed(rg_ndjson *p, const void *data, size_t n, rg_error *err);

/*
 * Ends the stream: a last line without a line end is delivered now (a
 * server may omit the final LF). Errors: the callback's status.
 */
rg_status rg_ndjson_finish(rg_ndjson *p, rg_error *err);

#endif
