/*
 * server_reply.c — what a handler reads from a request (method, path and
 * route parameters, headers, query, body, id, cancellation) and the replies
 * it writes: whole (JSON, errors, any bytes) or streamed. The I/O side of a
 * reply is server.c's.
 */
#include "api/server_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "engine/base/mem.h"

const char *rg_req_param(const rg_request *r, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < r->n_params; i++)
        if (strncmp(r->param_names[i], name, n) == 0 && r->param_names[i][n] == '}')
            return r->param_values[i];
    return NULL;
}

/* ---- accessors ---- */

rg_server *rg_req_server(const rg_request *r)
{
    return r->srv;
}
const char *rg_req_method(const rg_request *r)
{
    return r->method;
}
const char *rg_req_path(const rg_request *r)
{
    return r->path;
}
const char *rg_req_id(const rg_request *r)
{
    return r->id;
}
int rg_req_loopback(const rg_request *r)
{
    return r->loopback;
}
const volatile int *rg_req_cancel(const rg_request *r)
{
    return &r->cancel;
}

const char *rg_req_body(const rg_request *r, size_t *len)
{
    if (len) *len = r->body.len;
    return rg_buf_str(&r->body);
}

const char *rg_req_header(const rg_request *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *rg_req_query(const rg_request *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *rg_req_route(const rg_request *r)
{
    return r->route ? r->route->path : "unmatched";
}

/* ---- replies ---- */

rg_status rg_reply_header(rg_request *r, const char *name, const char *value)
{
    if (r->n_hdr == HEADERS_MAX || r->replied) return RG_ELIMIT;
    char *n = rg_strdup(name), *v = rg_strdup(value);
    if (!n || !v) {
        rg_free(n);
        rg_free(v);
        return RG_ENOMEM;
    }
    r->hdr_names[r->n_hdr] = n;
    r->hdr_values[r->n_hdr++] = v;
    return RG_OK;
}

rg_status rg_reply(rg_request *r, unsigned status, const char *content_type, const void *data,
                   size_t n)
{
    pthread_mutex_lock(&r->mu);
    rg_status st = RG_OK;
    if (r->replied) {
        st = RG_EINVAL;
    } else {
        r->replied = 1;
        r->status = status;
        snprintf(r->ctype, sizeof r->ctype, "%s", content_type);
        rg_buf_reset(&r->out);
        st = rg_buf_append(&r->out, data, n);
        if (st) { /* out of memory: a bare 500 still goes out */
            r->status = 500;
            rg_buf_reset(&r->out);
        }
    }
    pthread_mutex_unlock(&r->mu);
    return st;
}

rg_status rg_reply_json(rg_request *r, unsigned status, const cJSON *v)
{
    char *text = cJSON_PrintUnformatted(v);
    if (!text) return rg_reply_error(r, 500, "internal", "out of memory");
    rg_status st = rg_reply(r, status, "application/json", text, strlen(text));
    cJSON_free(text);
    return st;
}

rg_status rg_reply_error(rg_request *r, unsigned status, const char *code, const char *fmt, ...)
{
    char msg[RG_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON *o = cJSON_CreateObject(), *e = o ? cJSON_AddObjectToObject(o, "error") : NULL;
    char *text = NULL;
    if (e && cJSON_AddStringToObject(e, "code", code) && cJSON_AddStringToObject(e, "message", msg))
        text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    static const char oom[] = "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
    rg_status st = text ? rg_reply(r, status, "application/json", text, strlen(text))
                        : rg_reply(r, 500, "application/json", oom, sizeof oom - 1);
    cJSON_free(text);
    return st;
}

/* Resumes the connection if it waits for us. Called with r->mu held. */
void rg_srv_wake_locked(rg_request *r)
{
    if (r->suspended && r->conn_alive) {
        r->suspended = 0;
        MHD_resume_connection(r->conn);
    }
}

rg_status rg_reply_stream_begin(rg_request *r, unsigned status, const char *content_type)
{
    pthread_mutex_lock(&r->mu);
    rg_status st = RG_OK;
    if (r->replied || r->state != RS_RUNNING) {
        st = RG_EINVAL;
    } else {
        r->replied = 1;
        r->stream = 1;
        r->status = status;
        snprintf(r->ctype, sizeof r->ctype, "%s", content_type);
        rg_buf_reset(&r->out);
        r->out_read = 0;
        rg_srv_wake_locked(r);
    }
    pthread_mutex_unlock(&r->mu);
    return st;
}

rg_status rg_reply_stream_write(rg_request *r, const void *data, size_t n)
{
    pthread_mutex_lock(&r->mu);
    rg_status st = RG_OK;
    if (!r->stream) {
        st = RG_EINVAL;
    } else if (!r->conn_alive || r->cancel) {
        st = RG_EIO;
    } else if (r->out.len - r->out_read + n > RG_SERVER_STREAM_BACKLOG_MAX) {
        st = RG_ELIMIT;
    } else {
        if (r->out_read && r->out_read == r->out.len) {
            rg_buf_reset(&r->out);
            r->out_read = 0;
        }
        st = rg_buf_append(&r->out, data, n);
        rg_srv_wake_locked(r);
    }
    pthread_mutex_unlock(&r->mu);
    return st;
}
