/*
 * fuzz_serve.c — the handler side of api/server.h over in-memory requests,
 * and one seeded worker (fuzz_serve.h).
 */
#include "tests/fuzz/fuzz_serve.h"

#include <stdarg.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "engine/base/mem.h"
#include "index/keys.h"
#include "tests/fuzz/fuzz.h"

struct rg_request {
    const fuzz_request *in;
    char *body; /* NUL-terminated copy */
    int replied;
    int streaming;
    volatile int cancel;
    fuzz_response *out;
};

/* ---- what a handler sees ---- */

const char *rg_req_method(const rg_request *r)
{
    (void)r;
    return "POST";
}

const char *rg_req_path(const rg_request *r)
{
    (void)r;
    return "/fuzz";
}

const char *rg_req_id(const rg_request *r)
{
    (void)r;
    return "fuzz-request";
}

const char *rg_req_body(const rg_request *r, size_t *len)
{
    if (len) *len = r->in->len;
    return r->body;
}

const char *rg_req_header(const rg_request *r, const char *name)
{
    if (!strcasecmp(name, "Content-Type"))
        return r->in->content_type ? r->in->content_type : "application/json";
    if (!strcasecmp(name, "Authorization")) return r->in->authorization;
    return NULL;
}

const char *rg_req_query(const rg_request *r, const char *name)
{
    (void)r, (void)name;
    return NULL;
}

const char *rg_req_param(const rg_request *r, const char *name)
{
    if (!strcmp(name, "c")) return r->in->param_c;
    if (!strcmp(name, "id")) return r->in->param_id;
    return NULL;
}

int rg_req_loopback(const rg_request *r)
{
    (void)r;
    return 1;
}

const volatile int *rg_req_cancel(const rg_request *r)
{
    return &r->cancel;
}

const char *rg_req_route(const rg_request *r)
{
    (void)r;
    return "POST /fuzz";
}

/* ---- replies: exactly one per request ---- */

rg_status rg_reply_header(rg_request *r, const char *name, const char *value)
{
    FUZZ_CHECK(name && value);
    return r->replied ? RG_ELIMIT : RG_OK;
}

rg_status rg_reply(rg_request *r, unsigned status, const char *content_type, const void *data,
                   size_t n)
{
    if (r->replied) {
        fprintf(stderr, "fuzz_serve: a second reply (%u %.*s) after the first (%u)\n", status,
                (int)(n < 200 ? n : 200), (const char *)data, r->out->status);
        abort();
    }
    FUZZ_CHECK(status >= 200 && status <= 599 && content_type);
    r->replied = 1;
    r->out->status = status;
    FUZZ_CHECK(rg_buf_append(&r->out->body, data, n) == RG_OK);
    return RG_OK;
}

rg_status rg_reply_json(rg_request *r, unsigned status, const cJSON *v)
{
    char *text = cJSON_PrintUnformatted(v);
    FUZZ_CHECK(text);
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
    FUZZ_CHECK(status >= 400 && code && code[0]);
    cJSON *o = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddStringToObject(e, "code", code);
    cJSON_AddStringToObject(e, "message", msg);
    rg_status st = rg_reply_json(r, status, o);
    cJSON_Delete(o);
    return st;
}


rg_status rg_reply_stream_begin(rg_request *r, unsigned status, const char *content_type)
{
    if (r->replied) {
        fprintf(stderr, "fuzz_serve: a stream begun after a reply (%u)\n", r->out->status);
        abort();
    }
    FUZZ_CHECK(status >= 200 && status <= 599 && content_type);
    r->replied = r->streaming = 1;
    r->out->status = status;
    r->out->streamed = 1;
    return RG_OK;
}

rg_status rg_reply_stream_write(rg_request *r, const void *data, size_t n)
{
    FUZZ_CHECK(r->streaming);
    return rg_buf_append(&r->out->body, data, n);
}

rg_server *rg_req_server(const rg_request *r)
{
    (void)r;
    return NULL;
}

/* route_metrics is in the route table; it is not fuzzed. */
rg_status rg_server_metrics(rg_server *s, rg_buf *out)
{
    (void)s, (void)out;
    return RG_OK;
}

/* ---- the app and its worker ---- */

static rg_cli cli;
static serve_app app;
static serve_worker *worker;
static char data_dir[4200];
static char api_key[RG_KEY_TEXT_LEN + 1];

const char *fuzz_serve_key(void)
{
    return api_key;
}

void fuzz_serve_call(rg_handler handler, const fuzz_request *in, fuzz_response *out)
{
    rg_request r = {.in = in, .out = out};
    out->status = 0;
    out->streamed = 0;
    rg_buf_init(&out->body, 64u << 20);
    r.body = malloc(in->len + 1);
    FUZZ_CHECK(r.body);
    if (in->len) memcpy(r.body, in->body, in->len);
    r.body[in->len] = '\0';
    app.auth = in->auth;
    app.pii_types = in->pii_types;
    handler(&app, worker, &r);
    if (!r.replied) {
        fprintf(stderr, "fuzz_serve: the handler returned without replying\n");
        abort();
    }
    free(r.body);
}

static void seed(const char *coll, const char *json)
{
    fuzz_request rq = {.body = json, .len = strlen(json), .param_c = coll};
    fuzz_response rs;
    fuzz_serve_call(route_doc_put, &rq, &rs);
    if (rs.status != 201 && rs.status != 200) {
        fprintf(stderr, "fuzz_serve: seeding: %u %s\n", rs.status, rg_buf_str(&rs.body));
        abort();
    }
    rg_buf_free(&rs.body);
}

serve_worker *fuzz_serve_open(void)
{
    if (worker) return worker;
    const char *dir = fuzz_scratch();
    snprintf(data_dir, sizeof data_dir, "%s/data", dir);
    cli.data_dir = data_dir;
    cli.data_explicit = 1;
    cli.quiet = 1;
    app.cli = &cli;
    app.llm = cli_llm_defaults();
    app.workers = 1;
    pthread_mutex_init(&app.write_mu, NULL);

    /* a sync root with two small files */
    char path[4300];
    snprintf(app.sync_roots[0], sizeof app.sync_roots[0], "%s/sync", dir);
    snprintf(path, sizeof path, "%s/notes", app.sync_roots[0]);
    if (mkdir(app.sync_roots[0], 0700) || mkdir(path, 0700)) abort();
    snprintf(path, sizeof path, "%s/notes/a.txt", app.sync_roots[0]);
    fuzz_write_file(path, "Sync notes\n\nThe sync root holds this file.\n", 43);
    snprintf(path, sizeof path, "%s/b.md", app.sync_roots[0]);
    fuzz_write_file(path, "# B\n\nMarkdown in the sync root.\n", 31);
    char *real = realpath(app.sync_roots[0], NULL);
    if (!real) abort();
    snprintf(app.sync_roots[0], sizeof app.sync_roots[0], "%s", real);
    free(real);
    app.n_sync_roots = 1;

    rg_error err;
    rg_error_clear(&err);
    void *ctx = NULL;
    if (serve_worker_open(&app, 0, &ctx, &err) != RG_OK) {
        fprintf(stderr, "fuzz_serve: worker: %s\n", rg_error_message(&err));
        abort();
    }
    worker = ctx;
    /* a key limited to "docs" and "fuzz", reading as alice of group staff; JWTs checked with a
     * secret */
    static const char *const colls[] = {"docs", "fuzz"}, *const groups[] = {"staff"};
    rg_key_spec ks = {.name = "fuzz",
                      .scopes = RG_SCOPE_READ | RG_SCOPE_WRITE,
                      .collections = colls,
                      .n_collections = 2,
                      .user = "alice",
                      .groups = groups,
                      .n_groups = 1};
    if (rg_key_create(worker->store, &ks, api_key, &err) != RG_OK) {
        fprintf(stderr, "fuzz_serve: key: %s\n", rg_error_message(&err));
        abort();
    }
    snprintf(path, sizeof path, "%s/jwt-secret", dir);
    fuzz_write_file(path, "fuzz-secret-0123456789abcdef0123456789\n", 39);
    if (serve_jwt_load(&app.jwt, path, NULL, &err) != RG_OK) {
        fprintf(stderr, "fuzz_serve: jwt: %s\n", rg_error_message(&err));
        abort();
    }
    seed("docs", "{\"text\":\"WireGuard listens on UDP port 51820 by default. Keys are "
                 "rotated every 90 days.\",\"title\":\"VPN\",\"source\":\"vpn.txt\","
                 "\"metadata\":{\"team\":\"net\",\"lang\":\"en\"}}");
    seed("docs", "{\"text\":\"# Pricing\\n\\nThe Pro plan costs 1,000 dollars a year. "
                 "Refunds take 14 days.\",\"format\":\"markdown\",\"source\":\"pricing.md\","
                 "\"metadata\":{\"team\":\"sales\"},\"acl\":{\"users\":[\"alice\"],"
                 "\"groups\":[\"staff\"]}}");
    seed("docs", "{\"text\":\"<h1>東京</h1><p>東京は日本の首都です。人口は約1400万人。</p>\","
                 "\"format\":\"html\",\"source\":\"tokyo.html\"}");
    seed("other", "{\"text\":\"Another collection: nothing about VPNs here.\"}");
    return worker;
}
