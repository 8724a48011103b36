/*
 * server.h — the HTTP layer of `ragd serve`: libmicrohttpd for the sockets,
 * a pool of compute workers for the requests, one JSON error envelope.
 *
 * Threads. libmicrohttpd runs a small pool of I/O threads (epoll) that
 * read requests and write responses and never block. A request whose body
 * is complete is handed, as a job, to a bounded queue served by a fixed
 * pool of workers; its connection is suspended meanwhile and resumed when
 * the worker has a response (or, when streaming, each time it has more
 * bytes). Each worker owns a context the application opens on that
 * worker's thread (rg_server_options.worker_open): a store connection, a
 * searcher, an encoder. So the number of queries computing at once is the
 * number of workers, whatever the number of connections.
 *
 * Routes are a table of (method, path pattern, handler, flags). A pattern
 * matches literally, except that a segment "{name}" matches one non-empty
 * path segment, available to the handler through rg_req_param. A route
 * flagged RG_ROUTE_INLINE is cheap (health, metrics) and runs on the I/O
 * thread with a NULL worker context.
 *
 * Limits: request body (options.max_body; a larger Content-Length is
 * refused with 413 before the body is read), time a request may wait and
 * run (options.request_timeout_ms: past it the job's cancel flag is set,
 * and a job still queued is answered 503), queued jobs (RG_SERVER_QUEUE_MAX:
 * 503 beyond it), connections (options.max_connections), idle keep-alive
 * connections (options.idle_timeout_s).
 *
 * Every response carries X-Request-Id (the client's, when it sent a valid
 * one, else a fresh one); each request is logged as one JSON line on
 * standard error. Errors use one envelope: {"error":{"code","message"}}.
 *
 * Shutdown (rg_server_stop): the listening socket closes, requests that
 * arrive on open connections get 503, requests in flight finish (up to
 * options.drain_timeout_ms, then they are cancelled), then the daemon stops.
 */
#ifndef RG_SERVER_H
#define RG_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "engine/base/buf.h"
#include "engine/base/status.h"

/* Jobs waiting for a worker before new ones are refused with 503. */
#define RG_SERVER_QUEUE_MAX 1024
/* Longest URL path routed (bytes). */
#define RG_SERVER_PATH_MAX 1024
/* Path parameters ("{name}" segments) one route may have. */
#define RG_SERVER_PARAMS_MAX 4
/* Longest path parameter (bytes). */
#define RG_SERVER_PARAM_MAX 256
/* Longest X-Request-Id accepted from a client. */
#define RG_SERVER_REQUEST_ID_MAX 64
/* Routes a server may have. */
#define RG_SERVER_ROUTES_MAX 64
/* Largest response body a handler may build (bytes). */
#define RG_SERVER_RESPONSE_MAX (256u << 20)
/* Largest worker pool. */
#define RG_SERVER_WORKERS_MAX 64

typedef struct rg_server rg_server;
typedef struct rg_request rg_request;

/*
 * Handles one request on a worker (ctx is that worker's context) or, for
 * RG_ROUTE_INLINE routes, on an I/O thread (ctx NULL). It answers through
 * rg_reply_* before returning; a handler that returns without replying is
 * answered 500. The request and everything it hands out live until the
 * handler returns.
 */
typedef void (*rg_handler)(void *app, void *ctx, rg_request *req);

enum {
    RG_ROUTE_INLINE = 1, /* run on the I/O thread: must not block */
};

typedef struct rg_route {
    const char *method; /* "GET", "POST", "DELETE" */
    const char *path;   /* "/v1/search", "/v1/collections/{c}/documents/{id}" */
    rg_handler handler;
    unsigned flags;
    size_t max_body; /* 0: the server's max_body */
} rg_route;

typedef struct rg_server_options {
    const char *host;         /* address to bind: "127.0.0.1", "::", "0.0.0.0" ... */
    uint16_t port;            /* 0: any free port (rg_server_port tells which) */
    int io_threads;           /* libmicrohttpd threads; <= 0: 2 */
    int workers;              /* compute workers; <= 0: the number of cores */
    size_t max_body;          /* default 1 MiB */
    long request_timeout_ms;  /* default 120000 */
    long drain_timeout_ms;    /* default 30000 */
    unsigned idle_timeout_s;  /* keep-alive connections idle this long are closed (30) */
    unsigned max_connections; /* default 512 */
    int log_requests;         /* one JSON line per request on stderr (1) */
    const rg_route *routes;   /* borrowed, n_routes entries */
    size_t n_routes;
    void *app; /* passed to handlers and the worker hooks */
    /* Opens a worker's context on the worker's thread; an error stops the server start. */
    rg_status (*worker_open)(void *app, int index, void **ctx, rg_error *err);
    void (*worker_close)(void *app, void *ctx);
    /* Optional, for deferred work (saving what requests changed): called on
     * the worker's thread after each request it ran, and again once it has
     * waited idle as long as the last call asked. Returns the seconds until
     * the next idle call it wants; <= 0: none until the next request. */
    double (*worker_idle)(void *app, void *ctx);
} rg_server_options;

rg_server_options rg_server_default_options(void);

/*
 * Starts the workers (each opens its context) and the daemon. *out is
 * owned by the caller: rg_server_stop. Errors: RG_EINVAL (bad options or
 * host), RG_EIO (cannot bind), a worker_open error, RG_ENOMEM.
 */
rg_status rg_server_start(const rg_server_options *opt, rg_server **out, rg_error *err);
/* The port the server listens on. */
uint16_t rg_server_port(const rg_server *s);
/* Graceful stop (see above), then releases everything. s may be NULL. */
void rg_server_stop(rg_server *s);

/* Appends the server's own metrics (Prometheus text format) to out. */
rg_status rg_server_metrics(rg_server *s, rg_buf *out);

/* ---- what a handler sees ---- */

/* The server that received r (for its metrics). */
rg_server *rg_req_server(const rg_request *r);
const char *rg_req_method(const rg_request *r);
const char *rg_req_path(const rg_request *r);
/* The request id echoed in X-Request-Id. */
const char *rg_req_id(const rg_request *r);
/* The body (NUL-terminated; *len may be NULL). */
const char *rg_req_body(const rg_request *r, size_t *len);
/* A request header, or NULL. */
const char *rg_req_header(const rg_request *r, const char *name);
/* A query-string argument, or NULL. */
const char *rg_req_query(const rg_request *r, const char *name);
/* The value of path parameter "{name}", or NULL. */
const char *rg_req_param(const rg_request *r, const char *name);
/* 1 when the peer is a loopback address. */
int rg_req_loopback(const rg_request *r);
/* Set when the request should stop: timeout, client gone, shutdown. */
const volatile int *rg_req_cancel(const rg_request *r);
/* The route's label for metrics and logs ("POST /v1/search"). */
const char *rg_req_route(const rg_request *r);

/* ---- replying (exactly one reply per request) ---- */

/* Adds a response header (before the reply). */
rg_status rg_reply_header(rg_request *r, const char *name, const char *value);
/* Replies with data[0..n) (copied). */
rg_status rg_reply(rg_request *r, unsigned status, const char *content_type, const void *data,
                   size_t n);
/* Replies with the JSON text of v (v stays the caller's). */
rg_status rg_reply_json(rg_request *r, unsigned status, const cJSON *v);
/* Replies with the error envelope; message is printf-formatted. */
rg_status rg_reply_error(rg_request *r, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The HTTP status and error code for an rg_status (400 invalid, 404 not found, ...). */
unsigned rg_http_status_of(rg_status st, const char **code);
/* Replies with err's message and the status rg_http_status_of gives. */
rg_status rg_reply_status(rg_request *r, const rg_error *err);

/*
 * Streaming (workers only): rg_reply_stream_begin sends the status and
 * headers; each rg_reply_stream_write sends data[0..n) as soon as the
 * client can take it; the stream ends when the handler returns. write
 * returns RG_EIO once the client has gone (the handler should stop), and
 * never blocks on a slow client: bytes wait in memory, up to
 * RG_SERVER_STREAM_BACKLOG_MAX, past which it returns RG_ELIMIT.
 */
#define RG_SERVER_STREAM_BACKLOG_MAX (8u << 20)
rg_status rg_reply_stream_begin(rg_request *r, unsigned status, const char *content_type);
rg_status rg_reply_stream_write(rg_request *r, const void *data, size_t n);

#endif
