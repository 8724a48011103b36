/*
 * server_metrics.c — the request log lines and the per-route counters and
 * latency histograms of api/server (rg_server_metrics prints them with the
 * queue gauges).
 */
#include "api/server_impl.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <time.h>

#include "engine/base/mem.h"

/* Latency histogram bucket bounds (seconds), Prometheus style. */
static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                 0.25,  0.5,    1,     2.5,  5,     10};
#define N_BUCKETS (sizeof buckets / sizeof buckets[0])

typedef struct route_metrics {
    unsigned long long count[6]; /* by status class: 1xx..5xx, [0] other */
    unsigned long long bucket[N_BUCKETS];
    double sum_s;
    unsigned long long n;
} route_metrics;

struct srv_metrics {
    pthread_mutex_t mu;
    route_metrics route[]; /* n_routes + 1: the last for requests no route matched */
};

srv_metrics *srv_metrics_new(size_t n_routes)
{
    srv_metrics *m = rg_calloc(1, sizeof *m + (n_routes + 1) * sizeof m->route[0]);
    if (!m) return NULL;
    pthread_mutex_init(&m->mu, NULL);
    return m;
}

void srv_metrics_free(srv_metrics *m)
{
    if (!m) return;
    pthread_mutex_destroy(&m->mu);
    rg_free(m);
}

void srv_metrics_record(srv_metrics *m, int route_index, unsigned status, double secs)
{
    pthread_mutex_lock(&m->mu);
    route_metrics *rm = &m->route[route_index];
    unsigned cls_i = status / 100;
    rm->count[cls_i >= 1 && cls_i <= 5 ? cls_i : 0]++;
    for (size_t i = 0; i < N_BUCKETS; i++)
        if (secs <= buckets[i]) rm->bucket[i]++;
    rm->sum_s += secs;
    rm->n++;
    pthread_mutex_unlock(&m->mu);
}

rg_status srv_metrics_print(srv_metrics *m, const rg_route *routes, size_t n_routes, rg_buf *out)
{
    rg_status st = RG_OK;
    static const char *classes[] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};
    pthread_mutex_lock(&m->mu);
    st = rg_buf_puts(out, "# HELP ragd_http_requests_total Requests answered, by route and "
                          "status class.\n# TYPE ragd_http_requests_total counter\n");
    for (size_t i = 0; !st && i <= n_routes; i++) {
        const char *route = i < n_routes ? routes[i].path : "unmatched";
        const char *method = i < n_routes ? routes[i].method : "";
        for (size_t c = 0; !st && c < 6; c++)
            if (m->route[i].count[c])
                st = rg_buf_printf(out,
                                   "ragd_http_requests_total{method=\"%s\",route=\"%s\","
                                   "status=\"%s\"} %llu\n",
                                   method, route, classes[c], m->route[i].count[c]);
    }
    if (!st)
        st = rg_buf_puts(out, "# HELP ragd_http_request_duration_seconds Time from the request "
                              "line to the last byte, by route.\n"
                              "# TYPE ragd_http_request_duration_seconds histogram\n");
    for (size_t i = 0; !st && i <= n_routes; i++) {
        const route_metrics *rm = &m->route[i];
        if (!rm->n) continue;
        const char *route = i < n_routes ? routes[i].path : "unmatched";
        const char *method = i < n_routes ? routes[i].method : "";
        for (size_t b = 0; !st && b < N_BUCKETS; b++)
            st = rg_buf_printf(out,
                               "ragd_http_request_duration_seconds_bucket{method=\"%s\","
                               "route=\"%s\",le=\"%g\"} %llu\n",
                               method, route, buckets[b], rm->bucket[b]);
        if (!st)
            st =
                rg_buf_printf(out,
                              "ragd_http_request_duration_seconds_bucket{method=\"%s\","
                              "route=\"%s\",le=\"+Inf\"} %llu\n"
                              "ragd_http_request_duration_seconds_sum{method=\"%s\",route=\"%s\"}"
                              " %.6f\n"
                              "ragd_http_request_duration_seconds_count{method=\"%s\","
                              "route=\"%s\"} %llu\n",
                              method, route, rm->n, method, route, rm->sum_s, method, route, rm->n);
    }
    pthread_mutex_unlock(&m->mu);
    return st;
}

void srv_log_request(const rg_request *r, double ms, int completed)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return;
    char ts[32];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    cJSON_AddStringToObject(o, "ts", ts);
    cJSON_AddStringToObject(o, "level", r->status >= 500 ? "error" : "info");
    cJSON_AddStringToObject(o, "event", "request");
    cJSON_AddStringToObject(o, "request_id", r->id);
    cJSON_AddStringToObject(o, "method", r->method);
    cJSON_AddStringToObject(o, "path", r->path);
    cJSON_AddStringToObject(o, "route", rg_req_route(r));
    cJSON_AddNumberToObject(o, "status", r->status);
    cJSON_AddNumberToObject(o, "ms", ms);
    if (r->t_run > 0) { /* a worker ran it: its wait in the queue and its run */
        cJSON_AddNumberToObject(o, "queue_ms", (r->t_run - r->t_queued) * 1e3);
        if (r->t_done > 0) cJSON_AddNumberToObject(o, "run_ms", (r->t_done - r->t_run) * 1e3);
    }
    cJSON_AddNumberToObject(o, "bytes_in", (double)r->body.len);
    cJSON_AddNumberToObject(o, "bytes_out", (double)r->bytes_out);
    if (!completed) cJSON_AddBoolToObject(o, "client_gone", 1);
    char *line = cJSON_PrintUnformatted(o);
    if (line) fprintf(stderr, "%s\n", line);
    cJSON_free(line);
    cJSON_Delete(o);
}
