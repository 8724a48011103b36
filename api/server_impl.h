/*
 * server_impl.h — inside api/server: the request object that server.c
 * (connections, workers), server_metrics.c (logs, metrics) and
 * server_reply.c (what handlers read from a request and the replies they
 * write, streamed or not) share. Not a public header: only those files
 * include it.
 */
#ifndef RG_SERVER_IMPL_H
#define RG_SERVER_IMPL_H

#include <microhttpd.h>
#include <pthread.h>

#include "api/server.h"
#include "engine/base/buf.h"

/* Response headers a handler may add. */
#define HEADERS_MAX 16

typedef enum req_state { RS_READING, RS_QUEUED, RS_RUNNING, RS_DONE } req_state;

struct rg_request {
    rg_server *srv;
    struct MHD_Connection *conn;
    const rg_route *route; /* NULL when no route matched */
    int route_index;       /* metrics slot; the last one for unmatched */
    char method[16];
    char path[RG_SERVER_PATH_MAX + 1];
    char id[RG_SERVER_REQUEST_ID_MAX + 1];
    const char *param_names[RG_SERVER_PARAMS_MAX];
    char param_values[RG_SERVER_PARAMS_MAX][RG_SERVER_PARAM_MAX + 1];
    size_t n_params;
    int loopback;
    rg_buf body;
    size_t body_max;
    size_t discarded;
    int too_large;
    double t_start;
    double t_queued; /* handed to the worker queue (0: ran inline or never queued) */
    double t_run;    /* a worker picked it up */
    double t_done;   /* the handler returned */
    double deadline;

    pthread_mutex_t mu;
    int refs;
    req_state state;
    int conn_alive;
    int suspended;
    int queued_response;
    volatile int cancel;
    /* the reply */
    int replied;
    unsigned status;
    char ctype[64];
    char *hdr_names[HEADERS_MAX], *hdr_values[HEADERS_MAX];
    size_t n_hdr;
    rg_buf out;
    size_t out_read; /* streaming: bytes of out already handed to libmicrohttpd */
    int stream;
    int stream_done;
    size_t bytes_out;

    rg_request *next;                /* job queue */
    rg_request *act_prev, *act_next; /* active list (queued or running), for the watchdog */
};

/* Per-route request counters and latency histograms (server_metrics.c). */
typedef struct srv_metrics srv_metrics;

/* n_routes + 1 slots, the last for unmatched requests; NULL when out of memory. */
srv_metrics *srv_metrics_new(size_t n_routes);
void srv_metrics_free(srv_metrics *m);
/* Counts one finished request; route_index <= n_routes. Thread-safe. */
void srv_metrics_record(srv_metrics *m, int route_index, unsigned status, double secs);
/* Appends the counters and histograms in Prometheus text; RG_ENOMEM when out is full. */
rg_status srv_metrics_print(srv_metrics *m, const rg_route *routes, size_t n_routes, rg_buf *out);
/* Writes the request's JSON log line to stderr. */
void srv_log_request(const rg_request *r, double ms, int completed);

/* Resumes the request's connection if it waits for a worker's output.
 * Called with r->mu held. */
void rg_srv_wake_locked(rg_request *r);

#endif
