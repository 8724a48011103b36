/*
 * server.c — libmicrohttpd I/O threads, a worker pool, suspend/resume
 * hand-off between them, streaming and limits (server.h); the request log
 * and the per-route counters are in server_metrics.c.
 *
 * A request's state is shared by the connection (libmicrohttpd's side,
 * released in the request-completed callback) and, while it is queued or
 * running, by its job; it is freed when both have let go (refs). Its mutex
 * orders the hand-off: the I/O thread suspends the connection while
 * holding it, and a worker resumes the connection only while holding it,
 * so a resume can never overtake the suspend it answers.
 */
#include "api/server_impl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "engine/base/mem.h"

/* Bytes of an over-limit body read and thrown away before the connection is cut. */
#define DISCARD_MAX (64u << 20)
/* Watchdog period (ms). */
#define WATCHDOG_MS 50
typedef struct worker {
    rg_server *srv;
    int index;
    pthread_t thread;
    void *ctx;
    rg_status open_status;
    rg_error open_err;
    int opened; /* 1 opened, -1 failed */
} worker;

struct rg_server {
    rg_server_options opt;
    struct MHD_Daemon *daemon;
    uint16_t port;

    pthread_mutex_t mu;     /* queue, active list, worker start-up, inflight */
    pthread_cond_t cv;      /* jobs arrived / stop */
    pthread_cond_t idle_cv; /* inflight fell / a worker opened */
    rg_request *q_head, *q_tail;
    size_t q_len;
    rg_request *active;
    size_t inflight;
    int stopping;
    atomic_int draining;
    worker workers[RG_SERVER_WORKERS_MAX];
    int n_workers;
    pthread_t watchdog;
    int watchdog_started;

    srv_metrics *metrics;
    atomic_ullong id_counter;
    unsigned long long id_seed;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

rg_server_options rg_server_default_options(void)
{
    return (rg_server_options){.host = "127.0.0.1",
                               .port = 8080,
                               .io_threads = 2,
                               .workers = 0,
                               .max_body = 1u << 20,
                               .request_timeout_ms = 120000,
                               .drain_timeout_ms = 30000,
                               .idle_timeout_s = 30,
                               .max_connections = 512,
                               .log_requests = 1};
}

/* ---- routing ---- */

/* Matches path against pattern; fills the request's parameters. */
static int route_match(const char *pattern, const char *path, rg_request *r)
{
    size_t np = 0;
    const char *p = pattern, *s = path;
    while (*p && *s) {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            size_t n = strcspn(s, "/");
            if (!close || n == 0 || n > RG_SERVER_PARAM_MAX || np == RG_SERVER_PARAMS_MAX) return 0;
            r->param_names[np] = p + 1; /* up to '}' */
            memcpy(r->param_values[np], s, n);
            r->param_values[np][n] = '\0';
            np++;
            p = close + 1;
            s += n;
        } else if (*p++ != *s++) {
            return 0;
        }
    }
    if (*p || *s) return 0;
    r->n_params = np;
    return 1;
}

/* Finds the route; *method_ok says whether some route has the path with another method. */
static const rg_route *route_find(rg_server *s, rg_request *r, int *path_known)
{
    *path_known = 0;
    for (size_t i = 0; i < s->opt.n_routes; i++) {
        const rg_route *rt = &s->opt.routes[i];
        if (!route_match(rt->path, r->path, r)) continue;
        if (strcmp(rt->method, r->method) == 0) {
            r->route_index = (int)i;
            return rt;
        }
        *path_known = 1;
    }
    r->n_params = 0;
    return NULL;
}

/* ---- request lifetime ---- */

static void req_unref(rg_request *r)
{
    pthread_mutex_lock(&r->mu);
    int left = --r->refs;
    pthread_mutex_unlock(&r->mu);
    if (left) return;
    for (size_t i = 0; i < r->n_hdr; i++) {
        rg_free(r->hdr_names[i]);
        rg_free(r->hdr_values[i]);
    }
    rg_buf_free(&r->body);
    rg_buf_free(&r->out);
    pthread_mutex_destroy(&r->mu);
    rg_free(r);
}

static int id_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == ':';
}

static void req_set_id(rg_server *s, rg_request *r)
{
    const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-Request-Id");
    if (h) {
        size_t n = strlen(h), i = 0;
        while (i < n && id_char_ok(h[i]))
            i++;
        if (n && i == n && n <= RG_SERVER_REQUEST_ID_MAX) {
            memcpy(r->id, h, n + 1);
            return;
        }
    }
    unsigned long long c = atomic_fetch_add(&s->id_counter, 1) + 1;
    unsigned long long x = (c + s->id_seed) * 0x9E3779B97F4A7C15ull;
    x ^= x >> 31;
    snprintf(r->id, sizeof r->id, "%016llx", x);
}

static int addr_is_loopback(const struct sockaddr *sa)
{
    if (!sa) return 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr)) return 1;
        return memcmp(in6->sin6_addr.s6_addr, v4mapped, 12) == 0 &&
               in6->sin6_addr.s6_addr[12] == 127;
    }
    return 0;
}

static rg_request *req_new(rg_server *s, struct MHD_Connection *conn, const char *url,
                           const char *method)
{
    rg_request *r = rg_calloc(1, sizeof *r);
    if (!r) return NULL;
    if (pthread_mutex_init(&r->mu, NULL)) {
        rg_free(r);
        return NULL;
    }
    r->srv = s;
    r->conn = conn;
    r->refs = 1;
    r->conn_alive = 1;
    r->state = RS_READING;
    r->t_start = now_s();
    r->route_index = (int)s->opt.n_routes;
    snprintf(r->method, sizeof r->method, "%s", method);
    size_t n = strlen(url);
    if (n > RG_SERVER_PATH_MAX) n = RG_SERVER_PATH_MAX;
    memcpy(r->path, url, n);
    r->path[n] = '\0';
    rg_buf_init(&r->body, (size_t)1 << 30); /* the route's max_body is checked on append */
    rg_buf_init(&r->out, RG_SERVER_RESPONSE_MAX);
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    r->loopback = ci && addr_is_loopback(ci->client_addr);
    req_set_id(s, r);
    return r;
}

/* libmicrohttpd pulls streamed bytes from here (I/O thread). */
static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    rg_request *r = cls;
    ssize_t got;
    pthread_mutex_lock(&r->mu);
    size_t avail = r->out.len - r->out_read;
    if (avail) {
        size_t n = avail < max ? avail : max;
        memcpy(buf, r->out.data + r->out_read, n);
        r->out_read += n;
        r->bytes_out += n;
        got = (ssize_t)n;
    } else if (r->stream_done) {
        got = MHD_CONTENT_READER_END_OF_STREAM;
    } else {
        r->suspended = 1;
        MHD_suspend_connection(r->conn);
        got = 0;
    }
    pthread_mutex_unlock(&r->mu);
    return got;
}

/* Queues the reply held in r (I/O thread, r->mu held). */
static enum MHD_Result queue_locked(rg_request *r)
{
    struct MHD_Response *resp;
    if (r->stream) {
        resp =
            MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_reader, r, NULL);
    } else {
        if (!r->replied) { /* the handler forgot: a bug */
            static const char body[] =
                "{\"error\":{\"code\":\"internal\",\"message\":\"no response\"}}";
            r->status = 500;
            snprintf(r->ctype, sizeof r->ctype, "application/json");
            rg_buf_reset(&r->out);
            (void)rg_buf_append(&r->out, body, sizeof body - 1);
        }
        resp = MHD_create_response_from_buffer(r->out.len, r->out.data, MHD_RESPMEM_MUST_COPY);
        r->bytes_out = r->out.len;
    }
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", r->ctype);
    MHD_add_response_header(resp, "X-Request-Id", r->id);
    if (r->stream) MHD_add_response_header(resp, "Cache-Control", "no-cache");
    for (size_t i = 0; i < r->n_hdr; i++)
        MHD_add_response_header(resp, r->hdr_names[i], r->hdr_values[i]);
    if (atomic_load(&r->srv->draining) || r->too_large)
        MHD_add_response_header(resp, "Connection", "close");
    enum MHD_Result ok = MHD_queue_response(r->conn, r->status, resp);
    MHD_destroy_response(resp);
    r->queued_response = 1;
    return ok;
}

/* ---- the job queue ---- */

static void active_add_locked(rg_server *s, rg_request *r)
{
    r->act_prev = NULL;
    r->act_next = s->active;
    if (s->active) s->active->act_prev = r;
    s->active = r;
}

static void active_del_locked(rg_server *s, rg_request *r)
{
    if (r->act_prev)
        r->act_prev->act_next = r->act_next;
    else if (s->active == r)
        s->active = r->act_next;
    if (r->act_next) r->act_next->act_prev = r->act_prev;
    r->act_prev = r->act_next = NULL;
}

/* Adds r to the queue; 0 when the queue is full or the server stops. */
static int submit(rg_server *s, rg_request *r)
{
    pthread_mutex_lock(&s->mu);
    if (s->q_len >= RG_SERVER_QUEUE_MAX || s->stopping) {
        pthread_mutex_unlock(&s->mu);
        return 0;
    }
    r->refs++; /* the job's reference (r->mu is held by the caller) */
    r->state = RS_QUEUED;
    r->t_queued = now_s();
    r->deadline = r->t_start + (double)s->opt.request_timeout_ms / 1e3;
    r->next = NULL;
    if (s->q_tail)
        s->q_tail->next = r;
    else
        s->q_head = r;
    s->q_tail = r;
    s->q_len++;
    active_add_locked(s, r);
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return 1;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    rg_server *s = w->srv;
    rg_error_clear(&w->open_err);
    w->open_status = s->opt.worker_open
                         ? s->opt.worker_open(s->opt.app, w->index, &w->ctx, &w->open_err)
                         : RG_OK;
    pthread_mutex_lock(&s->mu);
    w->opened = w->open_status ? -1 : 1;
    pthread_cond_broadcast(&s->idle_cv);
    pthread_mutex_unlock(&s->mu);
    if (w->open_status) return NULL;
    /* when worker_idle wants its next call, from the last one */
    double idle_s = s->opt.worker_idle ? s->opt.worker_idle(s->opt.app, w->ctx) : 0;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->q_head && !s->stopping) {
            if (idle_s <= 0) {
                pthread_cond_wait(&s->cv, &s->mu);
                continue;
            }
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            double at = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9 + idle_s;
            ts.tv_sec = (time_t)at;
            ts.tv_nsec = (long)((at - (double)ts.tv_sec) * 1e9);
            if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) != ETIMEDOUT) continue;
            pthread_mutex_unlock(&s->mu);
            idle_s = s->opt.worker_idle(s->opt.app, w->ctx);
            pthread_mutex_lock(&s->mu);
        }
        rg_request *r = s->q_head;
        if (!r) { /* stopping and nothing left */
            pthread_mutex_unlock(&s->mu);
            break;
        }
        s->q_head = r->next;
        if (!s->q_head) s->q_tail = NULL;
        s->q_len--;
        pthread_mutex_unlock(&s->mu);

        pthread_mutex_lock(&r->mu);
        r->state = RS_RUNNING;
        r->t_run = now_s();
        int expired = r->cancel || now_s() > r->deadline || !r->conn_alive;
        pthread_mutex_unlock(&r->mu);
        if (expired)
            rg_reply_error(r, 503, "unavailable",
                           "the request waited past its deadline or was cancelled");
        else
            r->route->handler(s->opt.app, w->ctx, r);

        pthread_mutex_lock(&s->mu);
        active_del_locked(s, r);
        pthread_mutex_unlock(&s->mu);
        pthread_mutex_lock(&r->mu);
        r->t_done = now_s();
        r->state = RS_DONE;
        if (r->stream) r->stream_done = 1;
        rg_srv_wake_locked(r);
        pthread_mutex_unlock(&r->mu);
        req_unref(r);
        if (s->opt.worker_idle) idle_s = s->opt.worker_idle(s->opt.app, w->ctx);
    }
    if (s->opt.worker_close) s->opt.worker_close(s->opt.app, w->ctx);
    return NULL;
}

static void *watchdog_main(void *arg)
{
    rg_server *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        int stop = s->stopping;
        double t = now_s();
        for (rg_request *r = s->active; r; r = r->act_next)
            if (t > r->deadline) r->cancel = 1;
        pthread_mutex_unlock(&s->mu);
        if (stop) break;
        struct timespec ts = {0, WATCHDOG_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* ---- libmicrohttpd callbacks ---- */

static enum MHD_Result answer_now(rg_request *r, unsigned status, const char *code, const char *msg)
{
    rg_reply_error(r, status, code, "%s", msg);
    pthread_mutex_lock(&r->mu);
    r->state = RS_DONE;
    enum MHD_Result ok = queue_locked(r);
    pthread_mutex_unlock(&r->mu);
    return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    rg_server *s = cls;
    rg_request *r = *con_cls;
    if (!r) {
        r = req_new(s, conn, url, method);
        if (!r) return MHD_NO;
        *con_cls = r;
        pthread_mutex_lock(&s->mu);
        s->inflight++;
        pthread_mutex_unlock(&s->mu);
        if (atomic_load(&s->draining))
            return answer_now(r, 503, "unavailable", "the server is shutting down");
        if (strlen(url) > RG_SERVER_PATH_MAX)
            return answer_now(r, 414, "too_large", "the URL is too long");
        int path_known;
        r->route = route_find(s, r, &path_known);
        if (!r->route) {
            if (path_known) return answer_now(r, 405, "method_not_allowed", "method not allowed");
            return answer_now(r, 404, "not_found", "no such endpoint");
        }
        r->body_max = r->route->max_body ? r->route->max_body : s->opt.max_body;
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl) {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(cl, &end, 10);
            if (errno || *end || v > r->body_max) {
                r->too_large = 1;
                char msg[96];
                snprintf(msg, sizeof msg, "the request body is larger than %zu bytes", r->body_max);
                return answer_now(r, 413, "too_large", msg);
            }
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (r->state != RS_READING) { /* already answered */
            *upload_size = 0;
            return MHD_YES;
        }
        if (r->too_large || r->body.len + *upload_size > r->body_max) {
            r->too_large = 1;
            r->discarded += *upload_size;
            *upload_size = 0;
            return r->discarded > DISCARD_MAX ? MHD_NO : MHD_YES;
        }
        if (rg_buf_append(&r->body, upload_data, *upload_size)) return MHD_NO;
        *upload_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&r->mu);
    enum MHD_Result ok = MHD_YES;
    if (r->queued_response) {
        /* nothing: a resume while the response is already under way */
    } else if (r->state == RS_READING) {
        if (r->too_large) {
            pthread_mutex_unlock(&r->mu);
            char msg[96];
            snprintf(msg, sizeof msg, "the request body is larger than %zu bytes", r->body_max);
            return answer_now(r, 413, "too_large", msg);
        }
        if (r->route->flags & RG_ROUTE_INLINE) {
            pthread_mutex_unlock(&r->mu);
            r->state = RS_RUNNING;
            r->route->handler(s->opt.app, NULL, r);
            pthread_mutex_lock(&r->mu);
            r->state = RS_DONE;
            ok = queue_locked(r);
        } else if (!submit(s, r)) {
            pthread_mutex_unlock(&r->mu);
            return answer_now(r, 503, "overloaded", "too many requests are waiting; retry later");
        } else {
            r->suspended = 1;
            MHD_suspend_connection(conn);
        }
    } else if (r->stream || r->state == RS_DONE) {
        ok = queue_locked(r);
    } else {
        /* resumed before the worker finished (cannot happen: resumes come with data) */
        r->suspended = 1;
        MHD_suspend_connection(conn);
    }
    pthread_mutex_unlock(&r->mu);
    return ok;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    rg_server *s = cls;
    rg_request *r = *con_cls;
    if (!r) return;
    *con_cls = NULL;
    double secs = now_s() - r->t_start;
    pthread_mutex_lock(&r->mu);
    r->conn_alive = 0;
    r->suspended = 0;
    if (r->state != RS_DONE) r->cancel = 1; /* the client left while a worker runs it */
    if (!r->status) r->status = 499;        /* closed before any reply */
    pthread_mutex_unlock(&r->mu);

    srv_metrics_record(s->metrics, r->route_index, r->status, secs);
    if (s->opt.log_requests)
        srv_log_request(r, secs * 1e3, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);

    pthread_mutex_lock(&s->mu);
    s->inflight--;
    pthread_cond_broadcast(&s->idle_cv);
    pthread_mutex_unlock(&s->mu);
    req_unref(r);
}

/* ---- metrics ---- */

rg_status rg_server_metrics(rg_server *s, rg_buf *out)
{
    rg_status st = srv_metrics_print(s->metrics, s->opt.routes, s->opt.n_routes, out);
    pthread_mutex_lock(&s->mu);
    size_t q = s->q_len, infl = s->inflight;
    pthread_mutex_unlock(&s->mu);
    if (!st)
        st = rg_buf_printf(out,
                           "# HELP ragd_http_queue_length Requests waiting for a worker.\n"
                           "# TYPE ragd_http_queue_length gauge\nragd_http_queue_length %zu\n"
                           "# HELP ragd_http_in_flight Requests being read, run or answered.\n"
                           "# TYPE ragd_http_in_flight gauge\nragd_http_in_flight %zu\n"
                           "# HELP ragd_http_workers Compute workers.\n"
                           "# TYPE ragd_http_workers gauge\nragd_http_workers %d\n",
                           q, infl, s->n_workers);
    return st;
}

/* ---- start and stop ---- */

static void stop_workers(rg_server *s)
{
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < s->n_workers; i++)
        pthread_join(s->workers[i].thread, NULL);
    s->n_workers = 0;
    if (s->watchdog_started) pthread_join(s->watchdog, NULL);
    s->watchdog_started = 0;
}

static void server_free(rg_server *s)
{
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    pthread_cond_destroy(&s->idle_cv);
    srv_metrics_free(s->metrics);
    rg_free(s);
}

static rg_status resolve(const char *host, uint16_t port, struct sockaddr_storage *ss,
                         rg_error *err)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc || !res)
        return rg_fail(err, RG_EINVAL, "'%s' is not an IP address to listen on (%s)", host,
                       gai_strerror(rc));
    memset(ss, 0, sizeof *ss);
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)ss)->sin_port = htons(port);
    else
        ((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
    return RG_OK;
}

rg_status rg_server_start(const rg_server_options *opt, rg_server **out, rg_error *err)
{
    *out = NULL;
    if (!opt->routes || !opt->n_routes || opt->n_routes > RG_SERVER_ROUTES_MAX)
        return rg_fail(err, RG_EINVAL, "a server needs 1..%d routes", RG_SERVER_ROUTES_MAX);
    rg_server *s = rg_calloc(1, sizeof *s);
    if (!s) return rg_fail(err, RG_ENOMEM, "out of memory");
    s->opt = *opt;
    rg_server_options def = rg_server_default_options();
    if (s->opt.io_threads <= 0) s->opt.io_threads = def.io_threads;
    if (s->opt.workers <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        s->opt.workers = c > 0 ? (int)c : 1;
    }
    if (s->opt.workers > RG_SERVER_WORKERS_MAX) s->opt.workers = RG_SERVER_WORKERS_MAX;
    if (!s->opt.max_body) s->opt.max_body = def.max_body;
    if (s->opt.request_timeout_ms <= 0) s->opt.request_timeout_ms = def.request_timeout_ms;
    if (s->opt.drain_timeout_ms <= 0) s->opt.drain_timeout_ms = def.drain_timeout_ms;
    if (!s->opt.idle_timeout_s) s->opt.idle_timeout_s = def.idle_timeout_s;
    if (!s->opt.max_connections) s->opt.max_connections = def.max_connections;
    if (!s->opt.host) s->opt.host = def.host;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_cond_init(&s->idle_cv, NULL);
    s->id_seed = (unsigned long long)time(NULL) * 1000003ull ^ (unsigned long long)getpid();
    s->metrics = srv_metrics_new(opt->n_routes);
    struct sockaddr_storage ss;
    rg_status st = s->metrics ? RG_OK : rg_fail(err, RG_ENOMEM, "out of memory");
    if (!st) st = resolve(s->opt.host, opt->port, &ss, err);
    if (st) {
        server_free(s);
        return st;
    }

    /* Workers first: each opens its context; any failure stops the start. */
    for (int i = 0; i < s->opt.workers; i++) {
        worker *w = &s->workers[i];
        w->srv = s;
        w->index = i;
        if (pthread_create(&w->thread, NULL, worker_main, w)) {
            st = rg_fail(err, RG_ENOMEM, "cannot start a worker thread");
            break;
        }
        s->n_workers++;
    }
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->n_workers; i++)
        while (!s->workers[i].opened)
            pthread_cond_wait(&s->idle_cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; !st && i < s->n_workers; i++)
        if (s->workers[i].opened < 0) {
            st = s->workers[i].open_status;
            if (err) *err = s->workers[i].open_err;
        }
    if (!st && pthread_create(&s->watchdog, NULL, watchdog_main, s) == 0)
        s->watchdog_started = 1;
    else if (!st)
        st = rg_fail(err, RG_ENOMEM, "cannot start the watchdog thread");
    if (st) {
        stop_workers(s);
        server_free(s);
        return st;
    }

    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME;
    if (ss.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    struct MHD_OptionItem ops[8];
    size_t n_ops = 0;
    if (s->opt.io_threads > 1)
        ops[n_ops++] =
            (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)s->opt.io_threads, NULL};
    ops[n_ops++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT,
                                           (intptr_t)s->opt.idle_timeout_s, NULL};
    ops[n_ops++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT,
                                           (intptr_t)s->opt.max_connections, NULL};
    ops[n_ops++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &ss};
    ops[n_ops++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, s};
    ops[n_ops++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    s->daemon = MHD_start_daemon(flags, opt->port, NULL, NULL, on_request, s, MHD_OPTION_ARRAY, ops,
                                 MHD_OPTION_END);
    if (!s->daemon) {
        st = rg_fail(err, RG_EIO,
                     "cannot listen on %s port %u (in use, or not an address of "
                     "this machine)",
                     s->opt.host, (unsigned)opt->port);
        stop_workers(s);
        server_free(s);
        return st;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : opt->port;
    *out = s;
    return RG_OK;
}

uint16_t rg_server_port(const rg_server *s)
{
    return s->port;
}

void rg_server_stop(rg_server *s)
{
    if (!s) return;
    atomic_store(&s->draining, 1);
    MHD_socket ls = MHD_quiesce_daemon(s->daemon);
    if (ls != MHD_INVALID_SOCKET) close(ls);
    /* Let requests in flight finish; past the drain timeout, cancel them. */
    double until = now_s() + (double)s->opt.drain_timeout_ms / 1e3;
    pthread_mutex_lock(&s->mu);
    int cancelled = 0;
    for (;;) {
        /* Connections idle between keep-alive requests hold no request. */
        if (!s->q_len && !s->active) break;
        if (!cancelled && now_s() > until) {
            for (rg_request *r = s->active; r; r = r->act_next)
                r->cancel = 1;
            cancelled = 1;
            until = now_s() + 5;
        } else if (cancelled && now_s() > until) {
            break;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&s->idle_cv, &s->mu, &ts);
    }
    pthread_mutex_unlock(&s->mu);
    /* Workers finish what is queued (answering 503 once cancelled), then exit. */
    stop_workers(s);
    /* Give streamed responses a moment to reach their clients. */
    for (int i = 0; i < 250; i++) {
        pthread_mutex_lock(&s->mu);
        size_t left = s->inflight;
        pthread_mutex_unlock(&s->mu);
        if (!left) break;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    MHD_stop_daemon(s->daemon);
    server_free(s);
}
