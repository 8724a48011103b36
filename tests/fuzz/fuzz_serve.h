/*
 * fuzz_serve.h — `ragd serve`'s handlers without sockets, for the fuzz
 * targets that drive them (fuzz_http, fuzz_filters).
 *
 * fuzz_serve.c implements the handler side of api/server.h (rg_req_*,
 * rg_reply_*) over an in-memory request, and opens one real worker
 * (serve_worker_open) on a store in the scratch folder: lexical only (no
 * model is registered there), the extractive generator, no LLM, auth off
 * unless a call asks for it. The store is seeded through the handlers
 * themselves (POST /v1/collections/docs/documents) with a few documents,
 * one with an access list and metadata; a sync root holds two small files.
 *
 * Every call checks server.h's contract: the handler replies exactly once
 * (rg_reply*, or rg_reply_stream_begin), with a status from 200 to 599, and
 * writes to a stream only after beginning it.
 */
#ifndef RG_FUZZ_SERVE_H
#define RG_FUZZ_SERVE_H

#include <stddef.h>

#include "api/routes.h"
#include "api/serve.h"
#include "engine/base/buf.h"

/* A request as a handler sees it; the strings are borrowed for the call. */
typedef struct fuzz_request {
    const char *body; /* any bytes; copied and NUL-terminated for the handler */
    size_t len;
    const char *content_type;  /* NULL: application/json */
    const char *authorization; /* NULL: none sent */
    const char *param_c;       /* path parameter {c} */
    const char *param_id;      /* path parameter {id} */
    int auth;                  /* check credentials for this call (app.auth) */
    unsigned pii_types;        /* app.pii_types for this call */
} fuzz_request;

/* What the handler replied: status and body (owned, rg_buf_free). */
typedef struct fuzz_response {
    unsigned status;
    int streamed;
    rg_buf body;
} fuzz_response;

/* Opens the app, the worker and the seeded store once; later calls return the same worker. */
serve_worker *fuzz_serve_open(void);

/* The API key the worker's store holds: read and write, collections "docs" and "fuzz", user alice.
 */
const char *fuzz_serve_key(void);

/* Runs handler on r; *out must be freed with rg_buf_free(&out->body). */
void fuzz_serve_call(rg_handler handler, const fuzz_request *r, fuzz_response *out);

#endif
