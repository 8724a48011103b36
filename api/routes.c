/*
 * routes.c — the endpoints of `ragd serve` (serve.h): JSON in, JSON or
 * Server-Sent Events out, every error in the server's envelope.
 */
#include <math.h>
#include <strings.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "api/cli_util.h"
#include "api/serve.h"
#include "engine/base/log.h"
#include "engine/base/mem.h"
#include "engine/base/utf8.h"
#include "engine/nn/tokenizer.h"
#include "engine/rag/answer.h"
#include "engine/rag/extractive.h"
#include "engine/rag/rewrite.h"
#include "engine/base/sha256.h"
#include "index/keys.h"
#include "index/lexical.h"
#include "ingest/loader.h"
#include "ingest/pipeline.h"

/* ---- request parsing ---- */

/* Parses the body as a JSON object; replies 400 and returns NULL when it is not one. */
static cJSON *parse_body(rg_request *req)
{
    size_t n;
    const char *body = rg_req_body(req, &n);
    size_t bad;
    if (!rg_utf8_valid(body, n, &bad)) {
        rg_reply_error(req, 400, "invalid_request", "the body is not valid UTF-8 (byte %zu)", bad);
        return NULL;
    }
    const char *end = NULL;
    cJSON *v = cJSON_ParseWithLengthOpts(body, n, &end, 0);
    if (!v) {
        size_t at = end && end >= body ? (size_t)(end - body) : 0;
        rg_reply_error(req, 400, "invalid_json", "the body is not valid JSON (near byte %zu)", at);
        return NULL;
    }
    if (!cJSON_IsObject(v)) {
        cJSON_Delete(v);
        rg_reply_error(req, 400, "invalid_request", "the body must be a JSON object");
        return NULL;
    }
    return v;
}

/*
 * Reads an optional string member: 1 with *out set (NULL when absent, if
 * not required), 0 after replying 400.
 */
static int get_string(rg_request *req, const cJSON *o, const char *name, int required,
                      size_t max_bytes, const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    *out = NULL;
    if (!v || cJSON_IsNull(v)) {
        if (!required) return 1;
        rg_reply_error(req, 400, "invalid_request", "'%s' is required", name);
        return 0;
    }
    if (!cJSON_IsString(v)) {
        rg_reply_error(req, 400, "invalid_request", "'%s' must be a string", name);
        return 0;
    }
    size_t n = strlen(v->valuestring);
    if (required && n == 0) {
        rg_reply_error(req, 400, "invalid_request", "'%s' must not be empty", name);
        return 0;
    }
    if (n > max_bytes) {
        rg_reply_error(req, 413, "too_large", "'%s' is longer than %zu bytes", name, max_bytes);
        return 0;
    }
    *out = v->valuestring;
    return 1;
}

/* Reads an optional integer member in [min, max] (default def). */
static int get_size(rg_request *req, const cJSON *o, const char *name, size_t min, size_t max,
                    size_t def, size_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    *out = def;
    if (!v || cJSON_IsNull(v)) return 1;
    double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    if (!(d >= (double)min && d <= (double)max) || d != floor(d)) {
        rg_reply_error(req, 400, "invalid_request", "'%s' must be an integer from %zu to %zu", name,
                       min, max);
        return 0;
    }
    *out = (size_t)d;
    return 1;
}

static int get_bool(rg_request *req, const cJSON *o, const char *name, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    *out = 0;
    if (!v || cJSON_IsNull(v)) return 1;
    if (!cJSON_IsBool(v)) {
        rg_reply_error(req, 400, "invalid_request", "'%s' must be true or false", name);
        return 0;
    }
    *out = cJSON_IsTrue(v);
    return 1;
}

/* Reads "mode"; the default is hybrid when the worker has a model, else lexical. */
static int get_mode(rg_request *req, serve_worker *w, const cJSON *o, rg_search_mode *mode)
{
    const char *name;
    if (!get_string(req, o, "mode", 0, 32, &name)) return 0;
    if (!name) {
        *mode = w->dense ? RG_SEARCH_HYBRID : RG_SEARCH_LEXICAL;
        return 1;
    }
    if (!rg_search_mode_parse(name, mode)) {
        rg_reply_error(req, 400, "invalid_request", "'mode' is hybrid, lexical or dense, not '%s'",
                       name);
        return 0;
    }
    if (*mode != RG_SEARCH_LEXICAL && !w->dense) {
        rg_reply_error(req, 400, "invalid_request",
                       "mode '%s' needs an embedding model, and none is registered", name);
        return 0;
    }
    return 1;
}

typedef struct filter_buf {
    rg_search_filter f;
    int64_t doc_ids[RG_FILTER_MAX_DOCS];
    const char *keys[RG_FILTER_MAX_META];
    const char *values[RG_FILTER_MAX_META];
} filter_buf;

static int get_date(rg_request *req, const cJSON *o, const char *name, int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    *out = 0;
    if (!v || cJSON_IsNull(v)) return 1;
    if (cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble < 1e12) {
        *out = (int64_t)v->valuedouble;
        return 1;
    }
    if (cJSON_IsString(v) && cli_parse_date(v->valuestring, out)) return 1;
    rg_reply_error(req, 400, "invalid_request",
                   "'filters.%s' takes a date \"YYYY-MM-DD\" or Unix seconds", name);
    return 0;
}

/* Reads "filters": {document_ids: [int], metadata: {key: "value"}, since, until}. */
static int get_filters(rg_request *req, const cJSON *o, filter_buf *fb, int *any)
{
    memset(&fb->f, 0, sizeof fb->f);
    fb->f.meta_keys = fb->keys;
    fb->f.meta_values = fb->values;
    *any = 0;
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, "filters");
    if (!f || cJSON_IsNull(f)) return 1;
    if (!cJSON_IsObject(f)) {
        rg_reply_error(req, 400, "invalid_request", "'filters' must be an object");
        return 0;
    }
    for (const cJSON *m = f->child; m; m = m->next)
        if (strcmp(m->string, "document_ids") && strcmp(m->string, "metadata") &&
            strcmp(m->string, "since") && strcmp(m->string, "until")) {
            rg_reply_error(req, 400, "invalid_request",
                           "unknown filter '%s' (document_ids, metadata, since, until)", m->string);
            return 0;
        }
    *any = 1;
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(f, "document_ids");
    if (ids && !cJSON_IsNull(ids)) {
        if (!cJSON_IsArray(ids)) {
            rg_reply_error(req, 400, "invalid_request", "'filters.document_ids' must be an array");
            return 0;
        }
        for (const cJSON *e = ids->child; e; e = e->next) {
            if (fb->f.n_doc_ids == RG_FILTER_MAX_DOCS) {
                rg_reply_error(req, 413, "too_large", "at most %d document ids in a filter",
                               RG_FILTER_MAX_DOCS);
                return 0;
            }
            if (!cJSON_IsNumber(e) || e->valuedouble < 1 || e->valuedouble > 9e15 ||
                e->valuedouble != floor(e->valuedouble)) {
                rg_reply_error(req, 400, "invalid_request",
                               "'filters.document_ids' holds positive integers");
                return 0;
            }
            fb->doc_ids[fb->f.n_doc_ids++] = (int64_t)e->valuedouble;
        }
        fb->f.doc_ids = fb->doc_ids;
    }
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(f, "metadata");
    if (meta && !cJSON_IsNull(meta)) {
        if (!cJSON_IsObject(meta)) {
            rg_reply_error(req, 400, "invalid_request", "'filters.metadata' must be an object");
            return 0;
        }
        for (const cJSON *e = meta->child; e; e = e->next) {
            if (fb->f.n_meta == RG_FILTER_MAX_META) {
                rg_reply_error(req, 413, "too_large", "at most %d metadata filters",
                               RG_FILTER_MAX_META);
                return 0;
            }
            if (!cJSON_IsString(e) || strlen(e->string) > RG_FILTER_KEY_MAX || !e->string[0]) {
                rg_reply_error(req, 400, "invalid_request",
                               "'filters.metadata' maps keys (1..%d bytes) to string values",
                               RG_FILTER_KEY_MAX);
                return 0;
            }
            fb->keys[fb->f.n_meta] = e->string;
            fb->values[fb->f.n_meta++] = e->valuestring;
        }
    }
    return get_date(req, f, "since", &fb->f.modified_from) &&
           get_date(req, f, "until", &fb->f.modified_to);
}

/* ---- who is calling ---- */

typedef struct caller {
    int authed; /* a key was checked (auth on) */
    rg_key_info key;
    rg_reader reader;
    char *groups_json; /* the reader's groups for store views */
    rg_store_reader store_reader;
} caller;

static void caller_free(caller *c)
{
    rg_key_info_free(&c->key);
    cJSON_free(c->groups_json);
    memset(c, 0, sizeof *c);
}

/* The reader to hand to searches: NULL when auth is off. */
static const rg_reader *caller_reader(const caller *c)
{
    return c->authed ? &c->reader : NULL;
}

static const rg_store_reader *caller_store_reader(const caller *c)
{
    return c->authed ? &c->store_reader : NULL;
}

/*
 * Checks the request's API key for scope. 1 when it may go on (c filled),
 * 0 after replying 401 (no or unknown key) or 403 (scope).
 */
static int authorize(rg_request *req, serve_worker *w, unsigned scope, caller *c)
{
    memset(c, 0, sizeof *c);
    if (!w->app->auth) return 1;
    const char *h = rg_req_header(req, "Authorization");
    const char *key = NULL;
    if (h && strncasecmp(h, "Bearer ", 7) == 0) {
        key = h + 7;
        while (*key == ' ')
            key++;
    } else {
        key = rg_req_header(req, "X-API-Key");
    }
    if (!key || !key[0]) {
        rg_reply_header(req, "WWW-Authenticate", "Bearer realm=\"ragd\"");
        rg_reply_error(req, 401, "unauthorized",
                       "an API key is required (Authorization: Bearer KEY)");
        return 0;
    }
    rg_error err;
    rg_error_clear(&err);
    if (w->app->jwt.enabled && serve_jwt_looks_like(key)) {
        if (serve_jwt_verify(&w->app->jwt, key, &c->key, &err)) {
            rg_reply_header(req, "WWW-Authenticate",
                            "Bearer realm=\"ragd\", error=\"invalid_token\"");
            rg_reply_error(req, 401, "unauthorized", "%s", rg_error_message(&err));
            return 0;
        }
        goto authed;
    }
    rg_status st = rg_key_lookup(w->store, key, &c->key, &err);
    if (st == RG_ENOTFOUND) {
        rg_reply_header(req, "WWW-Authenticate", "Bearer realm=\"ragd\", error=\"invalid_token\"");
        rg_reply_error(req, 401, "unauthorized", "the API key is not valid");
        return 0;
    }
    if (st) {
        rg_reply_status(req, &err);
        return 0;
    }
authed:
    c->authed = 1;
    if (!(c->key.scopes & scope) && !(c->key.scopes & RG_SCOPE_ADMIN)) {
        char need[32];
        rg_scopes_format(scope, need, sizeof need);
        rg_reply_error(req, 403, "forbidden", "the API key lacks the '%s' scope", need);
        caller_free(c);
        return 0;
    }
    c->reader = rg_key_reader(&c->key);
    cJSON *g = cJSON_CreateArray();
    for (size_t i = 0; g && i < c->key.n_groups; i++)
        cJSON_AddItemToArray(g, cJSON_CreateString(c->key.groups[i]));
    c->groups_json = g ? cJSON_PrintUnformatted(g) : NULL;
    cJSON_Delete(g);
    if (!c->groups_json) {
        rg_reply_error(req, 500, "internal", "out of memory");
        caller_free(c);
        return 0;
    }
    c->store_reader = (rg_store_reader){c->key.user, c->groups_json};
    return 1;
}

/*
 * The collection a request may use: what it asked for (NULL: every
 * collection), checked against the key. A key limited to one collection
 * gets that one when the request names none. 0 after replying 403.
 */
static int pick_collection(rg_request *req, const caller *c, const char *asked, const char **out)
{
    *out = asked;
    if (!c->authed || rg_key_allows(&c->key, asked)) return 1;
    if (!asked && c->key.n_collections == 1) {
        *out = c->key.collections[0];
        return 1;
    }
    if (!asked)
        rg_reply_error(req, 403, "forbidden",
                       "this API key may use only some collections: name one");
    else
        rg_reply_error(req, 403, "forbidden", "this API key may not use collection '%s'", asked);
    return 0;
}

/* ---- the worker's view of the store ---- */

/* The extractive generator reads the worker's encoder and dense index. */
static rg_status open_extractive(serve_worker *w, rg_error *err)
{
    rg_extractive_options xo = rg_extractive_default_options();
    xo.encoder = w->enc;
    xo.dense = w->dense;
    xo.model = w->dense ? rg_dense_model(w->dense) : "";
    return rg_extractive_open(&xo, &w->extractive, err);
}

/*
 * Reopens the searcher and the dense index, and the generator that borrows
 * them, when documents changed since they were opened.
 */
static rg_status refresh(serve_worker *w, rg_error *err)
{
    if (w->search && !rg_search_stale(w->search)) return RG_OK;
    rg_generator_close(&w->extractive);
    rg_search_close(w->search);
    w->search = NULL;
    if (w->dense) {
        rg_dense_close(w->dense);
        w->dense = NULL;
        rg_dense_options o = {.model_name = w->model_name,
                              .encoder = w->enc,
                              .query_prefix = rg_encoder_query_prompt(w->enc),
                              .passage_prefix = rg_encoder_passage_prompt(w->enc)};
        rg_status st = rg_dense_open(w->store, w->app->cli->data_dir, &o, &w->dense, err);
        if (st) return st;
    }
    rg_status st = rg_search_open(w->store, w->dense, &w->search, err);
    return st ? st : open_extractive(w, err);
}

rg_status serve_worker_open(void *app_, int index, void **ctx, rg_error *err)
{
    serve_app *app = app_;
    serve_worker *w = rg_calloc(1, sizeof *w);
    if (!w) return rg_fail(err, RG_ENOMEM, "out of memory");
    w->app = app;
    w->index = index;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = cores > app->workers ? (int)(cores / app->workers) : 1;
    rg_status st = cli_open_store(app->cli, 1, &w->store, err);
    if (!st) {
        char name[CLI_MODEL_NAME_MAX + 1];
        st = cli_open_encoder(app->cli, app->model, 0, threads, &w->enc, name, err);
        if (st == RG_ENOTFOUND && !app->model) {
            st = RG_OK; /* lexical only */
            rg_error_clear(err);
        } else if (!st) {
            snprintf(w->model_name, sizeof w->model_name, "%s", name);
            rg_dense_options o = {.model_name = w->model_name,
                                  .encoder = w->enc,
                                  .query_prefix = rg_encoder_query_prompt(w->enc),
                                  .passage_prefix = rg_encoder_passage_prompt(w->enc)};
            st = rg_dense_open(w->store, app->cli->data_dir, &o, &w->dense, err);
        }
    }
    if (!st) st = rg_search_open(w->store, w->dense, &w->search, err);
    if (!st) st = open_extractive(w, err);
    if (!st && app->llm.url) st = cli_llm_open(&app->llm, &w->llm, err);
    if (!st && app->llm.url) st = cli_llm_open_rewriter(&app->llm, &w->rewriter, err);
    if (st) {
        serve_worker_close(app, w);
        return st;
    }
    *ctx = w;
    return RG_OK;
}

void serve_worker_close(void *app, void *ctx)
{
    (void)app;
    serve_worker *w = ctx;
    if (!w) return;
    rg_generator_close(&w->extractive);
    cli_llm_close(&w->llm);
    rg_generator_close(&w->rewriter);
    rg_search_close(w->search);
    rg_dense_close(w->dense);
    rg_encoder_close(w->enc);
    rg_store_close(w->store);
    rg_free(w);
}

/* ---- inline routes ---- */

static void h_healthz(void *app, void *ctx, rg_request *req)
{
    (void)app, (void)ctx;
    static const char ok[] = "{\"status\":\"ok\"}";
    rg_reply(req, 200, "application/json", ok, sizeof ok - 1);
}

static void h_readyz(void *app_, void *ctx, rg_request *req)
{
    (void)ctx;
    serve_app *app = app_;
    char body[96];
    int n = snprintf(body, sizeof body, "{\"status\":\"ready\",\"workers\":%d}", app->workers);
    rg_reply(req, 200, "application/json", body, (size_t)n);
}

/* The web page: no external assets, nothing inline from elsewhere. */
static void h_index(void *app, void *ctx, rg_request *req)
{
    (void)app, (void)ctx;
    rg_reply_header(req, "Content-Security-Policy",
                    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; "
                    "form-action 'self'; frame-ancestors 'none'");
    rg_reply_header(req, "X-Content-Type-Options", "nosniff");
    rg_reply(req, 200, "text/html; charset=utf-8", serve_index_html, serve_index_html_len);
}

static void h_openapi(void *app, void *ctx, rg_request *req)
{
    (void)app, (void)ctx;
    rg_reply(req, 200, "application/json", serve_openapi_json, serve_openapi_json_len);
}

/* ---- worker routes ---- */

static void h_metrics(void *app_, void *ctx, rg_request *req)
{
    serve_app *app = app_;
    serve_worker *w = ctx;
    caller c;
    if (!authorize(req, w, RG_SCOPE_ADMIN, &c)) return;
    caller_free(&c);
    rg_buf out;
    rg_buf_init(&out, RG_SERVER_RESPONSE_MAX);
    rg_error err;
    rg_error_clear(&err);
    rg_status st = rg_server_metrics(app->server, &out);
    if (!st)
        st =
            rg_buf_printf(&out,
                          "# HELP ragd_answers_total Answers written.\n"
                          "# TYPE ragd_answers_total counter\nragd_answers_total %llu\n"
                          "# HELP ragd_answer_refusals_total Answers refused (nothing relevant).\n"
                          "# TYPE ragd_answer_refusals_total counter\n"
                          "ragd_answer_refusals_total %llu\n"
                          "# HELP ragd_answer_fallbacks_total Answers extracted after the LLM "
                          "failed.\n# TYPE ragd_answer_fallbacks_total counter\n"
                          "ragd_answer_fallbacks_total %llu\n"
                          "# HELP ragd_searches_total Searches run.\n"
                          "# TYPE ragd_searches_total counter\nragd_searches_total %llu\n"
                          "# HELP ragd_embedded_texts_total Texts embedded for /v1/embeddings.\n"
                          "# TYPE ragd_embedded_texts_total counter\n"
                          "ragd_embedded_texts_total %llu\n"
                          "# HELP ragd_llm_answers_total Answers the LLM wrote (failures are "
                          "ragd_answer_fallbacks_total).\n# TYPE ragd_llm_answers_total counter\n"
                          "ragd_llm_answers_total %llu\n"
                          "# HELP ragd_llm_generate_seconds_total Time the LLM spent writing "
                          "them.\n# TYPE ragd_llm_generate_seconds_total counter\n"
                          "ragd_llm_generate_seconds_total %.6f\n",
                          (unsigned long long)app->answers, (unsigned long long)app->refusals,
                          (unsigned long long)app->fallbacks, (unsigned long long)app->searches,
                          (unsigned long long)app->embeddings, (unsigned long long)app->llm_answers,
                          (double)app->llm_generate_us / 1e6);
    rg_collection_info *cols = NULL;
    size_t n_cols = 0;
    if (!st && !(st = rg_store_collections(w->store, &cols, &n_cols, &err)))
        st = rg_buf_puts(&out, "# HELP ragd_index_documents Documents per collection.\n"
                               "# TYPE ragd_index_documents gauge\n"
                               "# HELP ragd_index_chunks Chunks per collection.\n"
                               "# TYPE ragd_index_chunks gauge\n"
                               "# HELP ragd_index_vectors Vectors loaded per collection.\n"
                               "# TYPE ragd_index_vectors gauge\n");
    for (size_t i = 0; !st && i < n_cols; i++) {
        rg_store_counts c;
        if ((st = rg_store_counts_get(w->store, cols[i].id, &c, &err))) break;
        st = rg_buf_printf(&out,
                           "ragd_index_documents{collection=\"%s\"} %lld\n"
                           "ragd_index_chunks{collection=\"%s\"} %lld\n"
                           "ragd_index_vectors{collection=\"%s\"} %zu\n",
                           cols[i].name, (long long)c.documents, cols[i].name, (long long)c.chunks,
                           cols[i].name,
                           w->dense ? rg_dense_count(w->dense, cols[i].id) : (size_t)0);
    }
    rg_free(cols);
    if (st)
        rg_reply_error(req, 500, "internal", "metrics: %s",
                       err.code ? rg_error_message(&err) : "out of memory");
    else
        rg_reply(req, 200, "text/plain; version=0.0.4", out.data, out.len);
    rg_buf_free(&out);
}

static void h_collections(void *app, void *ctx, rg_request *req)
{
    (void)app;
    serve_worker *w = ctx;
    caller c;
    if (!authorize(req, w, RG_SCOPE_READ, &c)) return;
    rg_error err;
    rg_error_clear(&err);
    rg_collection_info *cols = NULL;
    size_t n = 0;
    if (rg_store_collections(w->store, &cols, &n, &err)) {
        rg_reply_status(req, &err);
        caller_free(&c);
        return;
    }
    cJSON *o = cJSON_CreateObject(), *arr = o ? cJSON_AddArrayToObject(o, "collections") : NULL;
    for (size_t i = 0; arr && i < n; i++) {
        if (c.authed && !rg_key_allows(&c.key, cols[i].name)) continue;
        rg_store_counts cnt;
        if (rg_store_counts_readable(w->store, cols[i].id, caller_store_reader(&c), &cnt, &err)) {
            rg_free(cols);
            cJSON_Delete(o);
            rg_reply_status(req, &err);
            caller_free(&c);
            return;
        }
        cJSON *e = cJSON_CreateObject();
        if (!e) break;
        cJSON_AddItemToArray(arr, e);
        cJSON_AddStringToObject(e, "name", cols[i].name);
        cJSON_AddNumberToObject(e, "documents", (double)cnt.documents);
        cJSON_AddNumberToObject(e, "chunks", (double)cnt.chunks);
        char model[RG_DENSE_MODEL_MAX + 1] = "";
        if (!rg_store_collection_model(w->store, cols[i].id, model, sizeof model, &err))
            cJSON_AddStringToObject(e, "model", model);
    }
    rg_free(cols);
    if (arr)
        rg_reply_json(req, 200, o);
    else
        rg_reply_error(req, 500, "internal", "out of memory");
    cJSON_Delete(o);
    caller_free(&c);
}

/* Checks that a named collection exists: 0 after replying 404. */
static int collection_exists(rg_request *req, serve_worker *w, const char *name)
{
    if (!name) return 1;
    int64_t id;
    rg_error err;
    rg_error_clear(&err);
    rg_status st = rg_store_collection(w->store, name, 0, &id, &err);
    if (st == RG_ENOTFOUND) {
        rg_reply_error(req, 404, "collection_not_found", "no collection '%s'", name);
        return 0;
    }
    if (st) {
        rg_reply_status(req, &err);
        return 0;
    }
    return 1;
}

static void h_search(void *app_, void *ctx, rg_request *req)
{
    serve_app *app = app_;
    serve_worker *w = ctx;
    caller c;
    if (!authorize(req, w, RG_SCOPE_READ, &c)) return;
    cJSON *body = parse_body(req);
    const char *query, *collection;
    size_t k;
    rg_search_mode mode;
    filter_buf *fb = rg_malloc(sizeof *fb);
    int any_filter = 0;
    rg_error err;
    rg_error_clear(&err);
    rg_search_hit *hits = NULL;
    cJSON *out = NULL;
    rg_buf snip;
    rg_buf_init(&snip, SERVE_SNIPPET_MAX_BYTES);
    if (!body) goto done;
    if (!fb) {
        rg_reply_error(req, 500, "internal", "out of memory");
        goto done;
    }
    if (!get_string(req, body, "query", 1, RG_QUERY_MAX_BYTES, &query) ||
        !get_string(req, body, "collection", 0, RG_COLLECTION_NAME_MAX, &collection) ||
        !get_size(req, body, "k", 1, RG_SEARCH_MAX_K, 10, &k) || !get_mode(req, w, body, &mode) ||
        !get_filters(req, body, fb, &any_filter) ||
        !pick_collection(req, &c, collection, &collection))
        goto done;
    if (refresh(w, &err)) {
        rg_reply_status(req, &err);
        goto done;
    }
    if (!collection_exists(req, w, collection)) goto done;
    rg_search_request sr = rg_search_default_request(query);
    sr.k = k;
    sr.collection = collection;
    sr.mode = mode;
    sr.filter = any_filter ? &fb->f : NULL;
    sr.reader = caller_reader(&c);
    hits = rg_calloc(k, sizeof *hits);
    if (!hits) {
        rg_reply_error(req, 500, "internal", "out of memory");
        goto done;
    }
    size_t n = 0;
    rg_search_stats tm;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (rg_search_run(w->search, &sr, hits, &n, &tm, &err)) {
        rg_reply_status(req, &err);
        goto done;
    }
    out = cJSON_CreateObject();
    cJSON *results = out ? cJSON_AddArrayToObject(out, "results") : NULL;
    if (!results) {
        rg_reply_error(req, 500, "internal", "out of memory");
        goto done;
    }
    double fetch0 = 0;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fetch0 = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    for (size_t i = 0; i < n; i++) {
        rg_chunk_view v;
        if (rg_store_chunk_get(w->store, hits[i].chunk_id, &v, &err)) {
            rg_reply_status(req, &err);
            goto done;
        }
        rg_buf_reset(&snip);
        rg_status st = rg_search_snippet(w->search, query, v.text, v.text_len, SERVE_SNIPPET_TOKENS,
                                         "<b>", "</b>", &snip, &err);
        cJSON *h = st ? NULL : cli_hit_json(&v, (int)i + 1, hits[i].score, rg_buf_str(&snip));
        rg_chunk_view_free(&v);
        if (st) {
            rg_reply_status(req, &err);
            goto done;
        }
        if (!h) {
            rg_reply_error(req, 500, "internal", "out of memory");
            goto done;
        }
        cJSON_AddItemToArray(results, h);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double took = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    cJSON_AddStringToObject(out, "query", query);
    cJSON_AddStringToObject(out, "mode", rg_search_mode_name(sr.mode));
    cJSON_AddBoolToObject(out, "dense_skipped", tm.dense_skipped);
    cJSON_AddNumberToObject(out, "took_ms", took);
    cJSON *t = cJSON_AddObjectToObject(out, "timings_ms");
    cJSON_AddNumberToObject(t, "embed", tm.embed_ms);
    cJSON_AddNumberToObject(t, "dense", tm.dense_ms);
    cJSON_AddNumberToObject(t, "lexical", tm.lexical_ms);
    cJSON_AddNumberToObject(t, "fuse", tm.fuse_ms);
    cJSON_AddNumberToObject(t, "fetch", took - fetch0);
    app->searches++;
    rg_reply_json(req, 200, out);
done:
    rg_buf_free(&snip);
    rg_free(hits);
    rg_free(fb);
    cJSON_Delete(out);
    cJSON_Delete(body);
    caller_free(&c);
}

/* ---- answers ---- */

/* A streamed answer: each piece goes out as an SSE event in the route's shape. */
typedef struct sse_ctx {
    rg_request *req;
    int chat;          /* OpenAI chat.completion.chunk events, else ragd's {"token"} events */
    const char *id;    /* chat: completion id */
    const char *model; /* chat: model name echoed */
    long created;
    size_t pieces;
    int gone; /* the client left */
} sse_ctx;

static int sse_send(sse_ctx *c, const char *event, const cJSON *data)
{
    char *text = cJSON_PrintUnformatted(data);
    if (!text) return -1;
    rg_buf b;
    rg_buf_init(&b, RG_SERVER_STREAM_BACKLOG_MAX);
    rg_status st = RG_OK;
    if (event) st = rg_buf_printf(&b, "event: %s\n", event);
    if (!st) st = rg_buf_printf(&b, "data: %s\n\n", text);
    cJSON_free(text);
    if (!st) st = rg_reply_stream_write(c->req, b.data, b.len);
    rg_buf_free(&b);
    if (st == RG_EIO) c->gone = 1;
    return st ? -1 : 0;
}

static cJSON *chat_chunk(const sse_ctx *c, cJSON *delta, const char *finish)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        cJSON_Delete(delta);
        return NULL;
    }
    cJSON_AddStringToObject(o, "id", c->id);
    cJSON_AddStringToObject(o, "object", "chat.completion.chunk");
    cJSON_AddNumberToObject(o, "created", (double)c->created);
    cJSON_AddStringToObject(o, "model", c->model);
    cJSON *choices = cJSON_AddArrayToObject(o, "choices");
    cJSON *ch = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, ch);
    cJSON_AddNumberToObject(ch, "index", 0);
    cJSON_AddItemToObject(ch, "delta", delta);
    if (finish)
        cJSON_AddStringToObject(ch, "finish_reason", finish);
    else
        cJSON_AddNullToObject(ch, "finish_reason");
    return o;
}

static int send_piece(sse_ctx *c, const char *piece, size_t n)
{
    char *text = rg_strndup(piece, n);
    if (!text) return -1;
    cJSON *o;
    if (c->chat) {
        cJSON *delta = cJSON_CreateObject();
        if (delta) cJSON_AddStringToObject(delta, "content", text);
        o = delta ? chat_chunk(c, delta, NULL) : NULL;
    } else {
        o = cJSON_CreateObject();
        if (o) cJSON_AddStringToObject(o, "token", text);
    }
    rg_free(text);
    int rc = o ? sse_send(c, c->chat ? NULL : "token", o) : -1;
    cJSON_Delete(o);
    c->pieces++;
    return rc;
}

static int on_piece(void *ctx, const char *piece, size_t n)
{
    return send_piece(ctx, piece, n);
}

typedef struct ask_params {
    const char *question;
    const char *collection;
    size_t k;
    rg_search_mode mode;
    int stream;
    const rg_reader *reader;
    const rg_history *history; /* NULL: a single question */
} ask_params;

/* Runs the answer pipeline; replies itself (error) and returns non-zero on failure. */
static int run_answer(rg_request *req, serve_app *app, serve_worker *w, const ask_params *p,
                      sse_ctx *sse, rg_answer *ans)
{
    rg_error err;
    rg_error_clear(&err);
    if (refresh(w, &err)) {
        rg_reply_status(req, &err);
        return 1;
    }
    if (!collection_exists(req, w, p->collection)) return 1;
    rg_answer_options ao = rg_answer_default_options();
    ao.k = p->k;
    ao.collection = p->collection;
    ao.mode = p->mode;
    ao.cancel = rg_req_cancel(req);
    ao.reader = p->reader;
    if (p->history) {
        ao.history = p->history->turns;
        ao.n_history = p->history->n;
        ao.rewriter = app->llm.url ? &w->rewriter : NULL;
    }
    rg_generator *gen = &w->extractive;
    if (app->llm.url) {
        cli_llm_prompt(&app->llm, &ao.prompt);
        ao.fallback = &w->extractive;
        gen = &w->llm.gen;
    }
    if (sse) {
        ao.on_token = on_piece;
        ao.token_ctx = sse;
    }
    if (rg_answer_question(w->search, w->store, gen, p->question, &ao, ans, &err)) {
        if (sse) {
            const char *code;
            rg_http_status_of(err.code, &code);
            cJSON *o = cJSON_CreateObject(), *e = o ? cJSON_AddObjectToObject(o, "error") : NULL;
            if (e) {
                cJSON_AddStringToObject(e, "code", code);
                cJSON_AddStringToObject(e, "message", rg_error_message(&err));
                sse_send(sse, "error", o);
            }
            cJSON_Delete(o);
        } else {
            rg_reply_status(req, &err);
        }
        return 1;
    }
    app->answers++;
    if (ans->refused) app->refusals++;
    if (ans->fallback) {
        app->fallbacks++;
        rg_log(RG_LOG_WARN, "request %s: the LLM failed (%s); the answer is extracted",
               rg_req_id(req), rg_error_message(&w->llm.last));
    } else if (app->llm.url && !ans->refused) {
        app->llm_answers++;
        app->llm_generate_us += (unsigned long long)(ans->timings.generate_ms * 1e3);
    }
    return 0;
}

static void h_answer(void *app_, void *ctx, rg_request *req)
{
    serve_app *app = app_;
    serve_worker *w = ctx;
    caller c;
    if (!authorize(req, w, RG_SCOPE_READ, &c)) return;
    cJSON *body = parse_body(req);
    ask_params p = {.reader = caller_reader(&c)};
    rg_answer ans = {0};
    rg_history history = {0};
    cJSON *out = NULL;
    if (!body) goto done;
    if (!get_string(req, body, "question", 1, RG_QUERY_MAX_BYTES, &p.question) ||
        !get_string(req, body, "collection", 0, RG_COLLECTION_NAME_MAX, &p.collection) ||
        !get_size(req, body, "k", 1, RG_ANSWER_SOURCES_MAX, RG_ANSWER_DEFAULT_K, &p.k) ||
        !get_mode(req, w, body, &p.mode) || !get_bool(req, body, "stream", &p.stream) ||
        !pick_collection(req, &c, p.collection, &p.collection))
        goto done;
    rg_error err;
    rg_error_clear(&err);
    const cJSON *hist = cJSON_GetObjectItemCaseSensitive(body, "history");
    if (hist && !cJSON_IsNull(hist)) {
        if (rg_history_from_json(hist, &history, &err)) {
            rg_reply_error(req, err.code == RG_ELIMIT ? 413 : 400,
                           err.code == RG_ELIMIT ? "too_large" : "invalid_request", "history: %s",
                           rg_error_message(&err));
            goto done;
        }
        p.history = &history;
    }
    if (!p.stream) {
        if (run_answer(req, app, w, &p, NULL, &ans)) goto done;
        if (rg_answer_to_json(&ans, &out, &err)) {
            rg_reply_status(req, &err);
            goto done;
        }
        cJSON_AddStringToObject(out, "question", p.question);
        rg_reply_json(req, 200, out);
        goto done;
    }
    sse_ctx sse = {.req = req};
    if (rg_reply_stream_begin(req, 200, "text/event-stream")) goto done;
    if (run_answer(req, app, w, &p, &sse, &ans) || sse.gone) goto done;
    if (!rg_answer_to_json(&ans, &out, &err)) {
        cJSON_AddStringToObject(out, "question", p.question);
        sse_send(&sse, "answer", out);
    }
done:
    cJSON_Delete(out);
    rg_answer_free(&ans);
    rg_history_free(&history);
    cJSON_Delete(body);
    caller_free(&c);
}

/* ---- OpenAI-compatible chat completions ---- */

/* The text of a message's content: a string, or an array of {type:"text", text} parts. */
static char *message_text(const cJSON *content)
{
    if (cJSON_IsString(content)) return rg_strdup(content->valuestring);
    if (!cJSON_IsArray(content)) return NULL;
    rg_buf b;
    rg_buf_init(&b, RG_QUERY_MAX_BYTES + 1);
    for (const cJSON *part = content->child; part; part = part->next) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (!cJSON_IsString(type) || strcmp(type->valuestring, "text") != 0 ||
            !cJSON_IsString(text))
            continue;
        if ((b.len && rg_buf_putc(&b, ' ')) || rg_buf_puts(&b, text->valuestring)) {
            rg_buf_free(&b);
            return NULL;
        }
    }
    char *s = rg_buf_steal(&b);
    return s ? s : rg_strdup("");
}

static size_t count_tokens(serve_worker *w, const char *text)
{
    size_t n = 0;
    rg_error err;
    if (w->enc && !rg_tokenizer_count(rg_encoder_tokenizer(w->enc), text, strlen(text), &n, &err))
        return n;
    return strlen(text) / 4; /* no tokenizer: about four bytes a token */
}

static cJSON *citations_json(const rg_answer *a)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < a->n_citations; i++) {
        const rg_citation *c = &a->citations[i];
        cJSON *o = cJSON_CreateObject();
        if (!o) break;
        cJSON_AddItemToArray(arr, o);
        cJSON_AddNumberToObject(o, "number", c->number);
        cJSON_AddNumberToObject(o, "source_number", c->source + 1);
        cJSON_AddNumberToObject(o, "document_id", (double)c->doc_id);
        cJSON_AddStringToObject(o, "title", c->title);
        cJSON_AddStringToObject(o, "source", c->source_uri);
        cJSON_AddNumberToObject(o, "chunk_id", (double)c->chunk_id);
        cJSON_AddNumberToObject(o, "byte_start", (double)c->byte_start);
        cJSON_AddNumberToObject(o, "byte_end", (double)c->byte_end);
        cJSON_AddStringToObject(o, "passage", c->passage);
    }
    return arr;
}

/* ragd's own fields beside the OpenAI ones. */
static cJSON *ragd_json(const rg_answer *a)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "answer", a->text);
    cJSON_AddBoolToObject(o, "ai_generated", 1);
    cJSON_AddBoolToObject(o, "refused", a->refused);
    if (a->refused) cJSON_AddStringToObject(o, "refusal_reason", a->reason);
    cJSON_AddBoolToObject(o, "fallback", a->fallback);
    cJSON_AddStringToObject(o, "generator", a->generator);
    cJSON_AddNumberToObject(o, "supported_share", a->supported_share);
    if (a->rewritten_query) {
        cJSON_AddStringToObject(o, "rewritten_query", a->rewritten_query);
        cJSON_AddStringToObject(o, "rewrite", a->rewrite);
    }
    return o;
}

static void h_chat(void *app_, void *ctx, rg_request *req)
{
    serve_app *app = app_;
    serve_worker *w = ctx;
    caller c;
    if (!authorize(req, w, RG_SCOPE_READ, &c)) return;
    cJSON *body = parse_body(req);
    ask_params p = {.reader = caller_reader(&c)};
    rg_answer ans = {0};
    cJSON *out = NULL;
    char *question = NULL;
    cJSON *earlier = NULL;
    rg_history history = {0};
    const char *model;
    if (!body) goto done;
    if (!get_string(req, body, "model", 1, RG_COLLECTION_NAME_MAX, &model) ||
        !get_bool(req, body, "stream", &p.stream))
        goto done;
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(body, "messages");
    if (!cJSON_IsArray(msgs) || !msgs->child) {
        rg_reply_error(req, 400, "invalid_request", "'messages' must be a non-empty array");
        goto done;
    }
    int n_msgs = cJSON_GetArraySize(msgs);
    if (n_msgs > SERVE_CHAT_MESSAGES_MAX) {
        rg_reply_error(req, 413, "too_large", "at most %d messages", SERVE_CHAT_MESSAGES_MAX);
        goto done;
    }
    for (const cJSON *m = msgs->child; m; m = m->next) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        if (!cJSON_IsObject(m) || !cJSON_IsString(role) ||
            (strcmp(role->valuestring, "system") && strcmp(role->valuestring, "user") &&
             strcmp(role->valuestring, "assistant") && strcmp(role->valuestring, "developer") &&
             strcmp(role->valuestring, "tool"))) {
            rg_reply_error(req, 400, "invalid_request",
                           "each message needs a role (system, developer, user, assistant, tool)");
            goto done;
        }
    }
    const cJSON *last = cJSON_GetArrayItem(msgs, n_msgs - 1);
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(last, "role");
    if (strcmp(role->valuestring, "user") != 0) {
        rg_reply_error(req, 400, "invalid_request", "the last message must be the user's");
        goto done;
    }
    question = message_text(cJSON_GetObjectItemCaseSensitive(last, "content"));
    if (!question || !question[0]) {
        rg_reply_error(req, 400, "invalid_request",
                       "the last message needs text content (a string or text parts)");
        goto done;
    }
    if (strlen(question) > RG_QUERY_MAX_BYTES) {
        rg_reply_error(req, 413, "too_large", "the question is longer than %d bytes",
                       RG_QUERY_MAX_BYTES);
        goto done;
    }
    p.question = question;
    /* the messages before the question are the conversation (tool turns left out) */
    earlier = cJSON_CreateArray();
    for (const cJSON *m = msgs->child; earlier && m && m != last; m = m->next) {
        const char *r = cJSON_GetObjectItemCaseSensitive(m, "role")->valuestring;
        if (strcmp(r, "tool") != 0) cJSON_AddItemToArray(earlier, cJSON_Duplicate(m, 1));
    }
    if (!earlier) {
        rg_reply_error(req, 500, "internal", "out of memory");
        goto done;
    }
    if (n_msgs > 1) {
        rg_error herr;
        rg_error_clear(&herr);
        if (rg_history_from_json(earlier, &history, &herr)) {
            rg_reply_error(req, herr.code == RG_ELIMIT ? 413 : 400,
                           herr.code == RG_ELIMIT ? "too_large" : "invalid_request", "messages: %s",
                           rg_error_message(&herr));
            goto done;
        }
        p.history = &history;
    }
    p.k = RG_ANSWER_DEFAULT_K;
    p.mode = w->dense ? RG_SEARCH_HYBRID : RG_SEARCH_LEXICAL;
    /* "ragd" (or "ragd:<anything>") searches every collection; another name is a collection */
    p.collection = strcmp(model, "ragd") == 0 ? NULL : model;
    if (!pick_collection(req, &c, p.collection, &p.collection)) goto done;

    char id[96];
    snprintf(id, sizeof id, "chatcmpl-%s", rg_req_id(req));
    long created = (long)time(NULL);
    sse_ctx sse = {.req = req, .chat = 1, .id = id, .model = model, .created = created};
    rg_error err;
    rg_error_clear(&err);
    if (p.collection) {
        int64_t cid;
        rg_status st = refresh(w, &err);
        if (!st) st = rg_store_collection(w->store, p.collection, 0, &cid, &err);
        if (st == RG_ENOTFOUND) {
            rg_reply_error(req, 404, "model_not_found",
                           "the model '%s' does not exist: use \"ragd\" for every collection, "
                           "or a collection's name",
                           model);
            goto done;
        }
        if (st) {
            rg_reply_status(req, &err);
            goto done;
        }
    }
    if (p.stream) {
        if (rg_reply_stream_begin(req, 200, "text/event-stream")) goto done;
        cJSON *delta = cJSON_CreateObject();
        if (delta) {
            cJSON_AddStringToObject(delta, "role", "assistant");
            cJSON_AddStringToObject(delta, "content", "");
        }
        cJSON *first = delta ? chat_chunk(&sse, delta, NULL) : NULL;
        if (first) sse_send(&sse, NULL, first);
        cJSON_Delete(first);
        if (run_answer(req, app, w, &p, &sse, &ans) || sse.gone) goto done;
        /* a refusal is not streamed by the pipeline: send its text as one piece */
        if (!sse.pieces && ans.text_len) send_piece(&sse, ans.text, ans.text_len);
        cJSON *last_chunk = chat_chunk(&sse, cJSON_CreateObject(), "stop");
        if (last_chunk) {
            cJSON_AddItemToObject(last_chunk, "citations", citations_json(&ans));
            cJSON_AddItemToObject(last_chunk, "ragd", ragd_json(&ans));
            sse_send(&sse, NULL, last_chunk);
        }
        cJSON_Delete(last_chunk);
        static const char done_line[] = "data: [DONE]\n\n";
        rg_reply_stream_write(req, done_line, sizeof done_line - 1);
        goto done;
    }
    if (run_answer(req, app, w, &p, NULL, &ans)) goto done;
    out = cJSON_CreateObject();
    if (!out) {
        rg_reply_error(req, 500, "internal", "out of memory");
        goto done;
    }
    cJSON_AddStringToObject(out, "id", id);
    cJSON_AddStringToObject(out, "object", "chat.completion");
    cJSON_AddNumberToObject(out, "created", (double)created);
    cJSON_AddStringToObject(out, "model", model);
    cJSON *choices = cJSON_AddArrayToObject(out, "choices");
    cJSON *ch = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, ch);
    cJSON_AddNumberToObject(ch, "index", 0);
    cJSON *msg = cJSON_AddObjectToObject(ch, "message");
    cJSON_AddStringToObject(msg, "role", "assistant");
    cJSON_AddStringToObject(msg, "content", ans.text);
    cJSON_AddStringToObject(ch, "finish_reason", "stop");
    size_t pt = count_tokens(w, question), ct = count_tokens(w, ans.text);
    cJSON *usage = cJSON_AddObjectToObject(out, "usage");
    cJSON_AddNumberToObject(usage, "prompt_tokens", (double)pt);
    cJSON_AddNumberToObject(usage, "completion_tokens", (double)ct);
    cJSON_AddNumberToObject(usage, "total_tokens", (double)(pt + ct));
    cJSON_AddItemToObject(out, "citations", citations_json(&ans));
    cJSON_AddItemToObject(out, "ragd", ragd_json(&ans));
    rg_reply_json(req, 200, out);
done:
    cJSON_Delete(out);
    rg_answer_free(&ans);
    rg_free(question);
    rg_history_free(&history);
    cJSON_Delete(earlier);
    cJSON_Delete(body);
    caller_free(&c);
}

/* ---- OpenAI-compatible embeddings ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Base64 of n bytes into out (4 * ceil(n / 3) + 1 bytes), NUL-terminated. */
static void base64(const unsigned char *p, size_t n, char *out)
{
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        out[o++] = b64[v >> 18], out[o++] = b64[(v >> 12) & 63];
        out[o++] = b64[(v >> 6) & 63], out[o++] = b64[v & 63];
    }
    if (i < n) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0);
        out[o++] = b64[v >> 18], out[o++] = b64[(v >> 12) & 63];
        out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
}

static void h_embeddings(void *app_, void *ctx, rg_request *req)
{
    serve_app *app = app_;
    serve_worker *w = ctx;
    caller c;
    if (!authorize(req, w, RG_SCOPE_READ, &c)) return;
    caller_free(&c);
    cJSON *body = parse_body(req);
    if (!body) return;
    const char *texts[SERVE_EMBED_INPUTS_MAX];
    size_t lens[SERVE_EMBED_INPUTS_MAX], n = 0;
    float *vecs = NULL;
    char *enc64 = NULL;
    cJSON *out = NULL;
    const char *format, *model;
    if (!get_string(req, body, "encoding_format", 0, 16, &format) ||
        !get_string(req, body, "model", 0, RG_COLLECTION_NAME_MAX, &model))
        goto done;
    int as_base64 = format && strcmp(format, "base64") == 0;
    if (format && !as_base64 && strcmp(format, "float") != 0) {
        rg_reply_error(req, 400, "invalid_request", "'encoding_format' is float or base64");
        goto done;
    }
    if (!w->enc) {
        rg_reply_error(req, 503, "no_model", "no embedding model is registered");
        goto done;
    }
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(body, "input");
    if (cJSON_IsString(input)) {
        texts[n] = input->valuestring;
        lens[n++] = strlen(input->valuestring);
    } else if (cJSON_IsArray(input) && input->child) {
        for (const cJSON *e = input->child; e; e = e->next) {
            if (!cJSON_IsString(e)) {
                rg_reply_error(req, 400, "invalid_request",
                               "'input' holds strings (token arrays are not accepted)");
                goto done;
            }
            if (n == SERVE_EMBED_INPUTS_MAX) {
                rg_reply_error(req, 413, "too_large", "at most %d inputs per request",
                               SERVE_EMBED_INPUTS_MAX);
                goto done;
            }
            texts[n] = e->valuestring;
            lens[n++] = strlen(e->valuestring);
        }
    } else {
        rg_reply_error(req, 400, "invalid_request",
                       "'input' must be a string or a non-empty array of strings");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        if (!lens[i]) {
            rg_reply_error(req, 400, "invalid_request", "input %zu is empty", i);
            goto done;
        }
        if (lens[i] > SERVE_EMBED_TEXT_MAX) {
            rg_reply_error(req, 413, "too_large", "input %zu is longer than %u bytes", i,
                           SERVE_EMBED_TEXT_MAX);
            goto done;
        }
    }
    int dim = rg_encoder_dim(w->enc);
    vecs = rg_malloc(n * (size_t)dim * sizeof *vecs);
    enc64 = as_base64 ? rg_malloc(((size_t)dim * 4 + 2) / 3 * 4 + 1) : NULL;
    if (!vecs || (as_base64 && !enc64)) {
        rg_reply_error(req, 500, "internal", "out of memory");
        goto done;
    }
    rg_error err;
    rg_error_clear(&err);
    if (rg_encoder_embed(w->enc, texts, lens, n, vecs, &err)) {
        rg_reply_status(req, &err);
        goto done;
    }
    out = cJSON_CreateObject();
    cJSON *data = out ? cJSON_AddArrayToObject(out, "data") : NULL;
    size_t tokens = 0;
    for (size_t i = 0; data && i < n; i++) {
        cJSON *e = cJSON_CreateObject();
        if (!e) break;
        cJSON_AddItemToArray(data, e);
        cJSON_AddStringToObject(e, "object", "embedding");
        cJSON_AddNumberToObject(e, "index", (double)i);
        const float *v = vecs + i * (size_t)dim;
        if (as_base64) {
            base64((const unsigned char *)v, (size_t)dim * sizeof *v, enc64);
            cJSON_AddStringToObject(e, "embedding", enc64);
        } else {
            cJSON *arr = cJSON_AddArrayToObject(e, "embedding");
            for (int j = 0; arr && j < dim; j++)
                cJSON_AddItemToArray(arr, cJSON_CreateNumber(v[j]));
        }
        tokens += count_tokens(w, texts[i]);
    }
    if (!data) {
        rg_reply_error(req, 500, "internal", "out of memory");
        goto done;
    }
    cJSON_AddStringToObject(out, "object", "list");
    cJSON_AddStringToObject(out, "model", w->model_name);
    cJSON *usage = cJSON_AddObjectToObject(out, "usage");
    cJSON_AddNumberToObject(usage, "prompt_tokens", (double)tokens);
    cJSON_AddNumberToObject(usage, "total_tokens", (double)tokens);
    app->embeddings += n;
    rg_reply_json(req, 200, out);
done:
    cJSON_Delete(out);
    rg_free(vecs);
    rg_free(enc64);
    cJSON_Delete(body);
}

/* ---- documents ---- */

/* The collection named in the path, if the caller may use it: 0 after replying. */
static int path_collection(rg_request *req, serve_worker *w, const caller *c, int create,
                           int64_t *id, const char **name)
{
    *name = rg_req_param(req, "c");
    if (!*name || !rg_collection_name_valid(*name)) {
        rg_reply_error(req, 400, "invalid_request", "'%s' is not a collection name",
                       *name ? *name : "");
        return 0;
    }
    const char *picked;
    if (!pick_collection(req, c, *name, &picked)) return 0;
    rg_error err;
    rg_error_clear(&err);
    rg_status st = rg_store_collection(w->store, *name, create, id, &err);
    if (st == RG_ENOTFOUND) {
        rg_reply_error(req, 404, "collection_not_found", "no collection '%s'", *name);
        return 0;
    }
    if (st) {
        rg_reply_status(req, &err);
        return 0;
    }
    return 1;
}

static int path_doc_id(rg_request *req, int64_t *id)
{
    const char *v = rg_req_param(req, "id");
    char *end;
    long long n = v ? strtoll(v, &end, 10) : 0;
    if (!v || *end || n <= 0) {
        rg_reply_error(req, 400, "invalid_request", "a document id is a positive integer");
        return 0;
    }
    *id = n;
    return 1;
}

static cJSON *doc_row_json(const rg_doc_row *r)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddNumberToObject(o, "id", (double)r->id);
    cJSON_AddStringToObject(o, "collection", r->collection);
    cJSON_AddStringToObject(o, "source", r->source_uri);
    cJSON_AddStringToObject(o, "title", r->title);
    cJSON_AddStringToObject(o, "media_type", r->media_type);
    cJSON_AddNumberToObject(o, "size", (double)r->size);
    cJSON_AddNumberToObject(o, "updated_at", (double)r->updated_at);
    cJSON_AddNumberToObject(o, "chunks", (double)r->chunks);
    cJSON *meta = cJSON_Parse(r->metadata);
    cJSON_AddItemToObject(o, "metadata", meta ? meta : cJSON_CreateObject());
    if (r->text) cJSON_AddStringToObject(o, "text", r->text);
    return o;
}

/* Checks an "acl" member: {"users": [names], "groups": [names]}. 0 after replying. */
static int check_acl(rg_request *req, const cJSON *acl)
{
    if (!acl || cJSON_IsNull(acl)) return 1;
    if (!cJSON_IsObject(acl)) goto bad;
    for (const cJSON *m = acl->child; m; m = m->next) {
        if ((strcmp(m->string, "users") && strcmp(m->string, "groups")) || !cJSON_IsArray(m))
            goto bad;
        if (cJSON_GetArraySize(m) > RG_READER_GROUPS_MAX * 4) {
            rg_reply_error(req, 413, "too_large", "an access list names at most %d of each",
                           RG_READER_GROUPS_MAX * 4);
            return 0;
        }
        for (const cJSON *e = m->child; e; e = e->next)
            if (!cJSON_IsString(e) || !e->valuestring[0] ||
                strlen(e->valuestring) > RG_KEY_USER_MAX)
                goto bad;
    }
    return 1;
bad:
    rg_reply_error(req, 400, "invalid_request",
                   "'acl' is {\"users\": [names], \"groups\": [names]}");
    return 0;
}

/* Picks the loader's file name for a JSON upload's "format". */
static const char *format_path(const char *format)
{
    if (!format || strcmp(format, "text") == 0) return "upload.txt";
    if (strcmp(format, "markdown") == 0) return "upload.md";
    if (strcmp(format, "html") == 0) return "upload.html";
    return NULL;
}

static void h_doc_put(void *app_, void *ctx, rg_request *req)
{
    serve_app *app = app_;
    serve_worker *w = ctx;
    caller c;
    if (!authorize(req, w, RG_SCOPE_WRITE, &c)) return;
    cJSON *body = NULL, *meta = NULL;
    char *meta_text = NULL, *source_buf = NULL;
    rg_document doc = {0};
    rg_buf masked, pii_json;
    rg_buf_init(&masked, (size_t)SERVE_UPLOAD_MAX * 2);
    rg_buf_init(&pii_json, 4096);
    int have_doc = 0, locked = 0;
    int64_t coll;
    const char *coll_name;
    const char *data, *source = NULL, *title = NULL, *path;
    size_t n;
    rg_error err;
    rg_error_clear(&err);
    const char *ctype = rg_req_header(req, "Content-Type");
    int is_json = !ctype || strncmp(ctype, "application/json", 16) == 0;
    if (is_json) {
        if (!(body = parse_body(req))) goto done;
        const char *format;
        if (!get_string(req, body, "text", 1, SERVE_UPLOAD_MAX, &data) ||
            !get_string(req, body, "title", 0, 1024, &title) ||
            !get_string(req, body, "source", 0, 1024, &source) ||
            !get_string(req, body, "format", 0, 16, &format))
            goto done;
        if (!(path = format_path(format))) {
            rg_reply_error(req, 400, "invalid_request", "'format' is text, markdown or html");
            goto done;
        }
        n = strlen(data);
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(body, "metadata");
        if (m && !cJSON_IsNull(m) && !cJSON_IsObject(m)) {
            rg_reply_error(req, 400, "invalid_request", "'metadata' must be an object");
            goto done;
        }
        meta = m && cJSON_IsObject(m) ? cJSON_Duplicate(m, 1) : cJSON_CreateObject();
        const cJSON *acl = cJSON_GetObjectItemCaseSensitive(body, "acl");
        if (!meta || !check_acl(req, acl)) {
            if (!meta) rg_reply_error(req, 500, "internal", "out of memory");
            goto done;
        }
        cJSON_DeleteItemFromObjectCaseSensitive(meta, "acl");
        if (acl && cJSON_IsObject(acl)) cJSON_AddItemToObject(meta, "acl", cJSON_Duplicate(acl, 1));
    } else {
        data = rg_req_body(req, &n);
        source = rg_req_query(req, "source");
        title = rg_req_query(req, "title");
        if (!source || !source[0]) {
            rg_reply_error(req, 400, "invalid_request",
                           "a file upload names itself: ?source=NAME.ext (the extension picks "
                           "the loader)");
            goto done;
        }
        path = source;
        meta = cJSON_CreateObject();
    }
    if (!n) {
        rg_reply_error(req, 400, "invalid_request", "the document is empty");
        goto done;
    }
    if (app->pii_types) { /* masked before anything is parsed, hashed or stored */
        rg_pii_counts pc = {0};
        if (rg_pii_mask(data, n, app->pii_types, &masked, &pc, &err) ||
            rg_pii_counts_json(&pc, &pii_json)) {
            rg_reply_status(req, &err);
            goto done;
        }
        data = masked.data ? masked.data : "";
        n = masked.len;
        cJSON *pj = cJSON_Parse(rg_buf_str(&pii_json));
        if (meta && pj) {
            cJSON_DeleteItemFromObjectCaseSensitive(meta, "pii");
            cJSON_AddItemToObject(meta, "pii", pj);
        } else {
            cJSON_Delete(pj);
        }
    }
    char hash[RG_SHA256_HEX_LEN + 1];
    rg_sha256_hex(data, n, hash);
    if (!source || !source[0]) { /* content-addressed when the caller gives no name */
        size_t cap = 16 + RG_SHA256_HEX_LEN;
        if (!(source_buf = rg_malloc(cap))) {
            rg_reply_error(req, 500, "internal", "out of memory");
            goto done;
        }
        snprintf(source_buf, cap, "api:%.16s", hash);
        source = source_buf;
    }
    meta_text = meta ? cJSON_PrintUnformatted(meta) : NULL;
    if (!meta_text) {
        rg_reply_error(req, 500, "internal", "out of memory");
        goto done;
    }
    if (rg_load_buffer(path, data, n, &doc, &err)) {
        rg_reply_status(req, &err);
        goto done;
    }
    have_doc = 1;
    if (title && title[0]) {
        char *t = rg_strdup(title);
        if (!t) {
            rg_reply_error(req, 500, "internal", "out of memory");
            goto done;
        }
        rg_free(doc.title);
        doc.title = t;
    }
    pthread_mutex_lock(&app->write_mu);
    locked = 1;
    if (refresh(w, &err)) {
        rg_reply_status(req, &err);
        goto done;
    }
    if (!path_collection(req, w, &c, 1, &coll, &coll_name)) goto done;
    int found = 0;
    int64_t old_id = 0, doc_id = 0;
    size_t n_chunks = 0;
    rg_chunk_options co = rg_ingest_chunk_options(rg_chunk_default_options(), w->enc);
    rg_status st = rg_store_find_document(w->store, coll, source, &found, &old_id, NULL, &err);
    if (!st && w->dense) st = rg_dense_attach(w->dense, coll, &err);
    if (!st)
        st = rg_ingest_document(w->store, w->dense, coll, source, &doc, hash, (int64_t)n, meta_text,
                                &co, &n_chunks, &err);
    if (!st && w->dense) st = rg_dense_save(w->dense, &err);
    if (!st) {
        int f2;
        st = rg_store_find_document(w->store, coll, source, &f2, &doc_id, NULL, &err);
    }
    if (st) {
        rg_reply_status(req, &err);
        goto done;
    }
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddNumberToObject(o, "id", (double)doc_id);
        cJSON_AddStringToObject(o, "collection", coll_name);
        cJSON_AddStringToObject(o, "source", source);
        cJSON_AddStringToObject(o, "title", doc.title);
        cJSON_AddNumberToObject(o, "chunks", (double)n_chunks);
        cJSON_AddBoolToObject(o, "replaced", found);
        rg_reply_json(req, found ? 200 : 201, o);
        cJSON_Delete(o);
    } else {
        rg_reply_error(req, 500, "internal", "out of memory");
    }
done:
    if (locked) pthread_mutex_unlock(&app->write_mu);
    if (have_doc) rg_document_free(&doc);
    rg_buf_free(&masked);
    rg_buf_free(&pii_json);
    rg_free(source_buf);
    cJSON_free(meta_text);
    cJSON_Delete(meta);
    cJSON_Delete(body);
    caller_free(&c);
}

static void h_doc_list(void *app, void *ctx, rg_request *req)
{
    (void)app;
    serve_worker *w = ctx;
    caller c;
    if (!authorize(req, w, RG_SCOPE_READ, &c)) return;
    int64_t coll;
    const char *name;
    rg_doc_row *rows = NULL;
    size_t n = 0;
    cJSON *o = NULL;
    if (!path_collection(req, w, &c, 0, &coll, &name)) goto done;
    const char *lim = rg_req_query(req, "limit"), *after = rg_req_query(req, "after");
    char *end;
    long long limit = lim ? strtoll(lim, &end, 10) : SERVE_PAGE_DEFAULT;
    if ((lim && (*end || !lim[0])) || limit < 1 || limit > RG_STORE_PAGE_MAX) {
        rg_reply_error(req, 400, "invalid_request", "'limit' is 1 to %d", RG_STORE_PAGE_MAX);
        goto done;
    }
    long long after_id = after ? strtoll(after, &end, 10) : 0;
    if (after && (*end || !after[0] || after_id < 0)) {
        rg_reply_error(req, 400, "invalid_request", "'after' is a document id");
        goto done;
    }
    rg_error err;
    rg_error_clear(&err);
    if (rg_store_documents(w->store, coll, caller_store_reader(&c), after_id, (size_t)limit, &rows,
                           &n, &err)) {
        rg_reply_status(req, &err);
        goto done;
    }
    o = cJSON_CreateObject();
    cJSON *arr = o ? cJSON_AddArrayToObject(o, "documents") : NULL;
    for (size_t i = 0; arr && i < n; i++)
        cJSON_AddItemToArray(arr, doc_row_json(&rows[i]));
    if (!arr) {
        rg_reply_error(req, 500, "internal", "out of memory");
        goto done;
    }
    if (n == (size_t)limit)
        cJSON_AddNumberToObject(o, "next_after", (double)rows[n - 1].id);
    else
        cJSON_AddNullToObject(o, "next_after");
    rg_reply_json(req, 200, o);
done:
    cJSON_Delete(o);
    rg_doc_rows_free(rows, n);
    caller_free(&c);
}

static void h_doc_get(void *app, void *ctx, rg_request *req)
{
    (void)app;
    serve_worker *w = ctx;
    caller c;
    if (!authorize(req, w, RG_SCOPE_READ, &c)) return;
    int64_t coll, id;
    const char *name;
    rg_doc_row row = {0};
    rg_error err;
    rg_error_clear(&err);
    if (!path_collection(req, w, &c, 0, &coll, &name) || !path_doc_id(req, &id)) goto done;
    if (rg_store_document_get(w->store, coll, id, caller_store_reader(&c), &row, &err)) {
        rg_reply_status(req, &err);
        goto done;
    }
    cJSON *o = doc_row_json(&row);
    if (o)
        rg_reply_json(req, 200, o);
    else
        rg_reply_error(req, 500, "internal", "out of memory");
    cJSON_Delete(o);
done:
    rg_doc_row_free(&row);
    caller_free(&c);
}

/* POST /v1/collections/{c}/sync {"path"}: ingests a folder under a sync root. */
static void h_sync(void *app_, void *ctx, rg_request *req)
{
    serve_app *app = app_;
    serve_worker *w = ctx;
    caller c;
    if (!authorize(req, w, RG_SCOPE_WRITE, &c)) return;
    cJSON *body = parse_body(req);
    const char *path;
    int locked = 0;
    rg_error err;
    rg_error_clear(&err);
    if (!body || !get_string(req, body, "path", 1, PATH_MAX - 1, &path)) goto done;
    if (!app->n_sync_roots) {
        rg_reply_error(req, 403, "forbidden",
                       "this server syncs no folders (ragd serve --sync-root DIR)");
        goto done;
    }
    /* a relative path names a folder under the first root that has it */
    char real[PATH_MAX], joined[PATH_MAX];
    const char *root = NULL;
    for (size_t i = 0; !root && i < app->n_sync_roots; i++) {
        const char *try = path;
        if (path[0] != '/') {
            int n = snprintf(joined, sizeof joined, "%s/%s", app->sync_roots[i], path);
            if (n < 0 || (size_t)n >= sizeof joined) continue;
            try = joined;
        }
        size_t rl = strlen(app->sync_roots[i]);
        if (realpath(try, real) && strncmp(real, app->sync_roots[i], rl) == 0 &&
            (real[rl] == '\0' || real[rl] == '/'))
            root = app->sync_roots[i];
    }
    if (!root) {
        rg_reply_error(req, 403, "forbidden", "'%s' is not a folder inside a sync root", path);
        goto done;
    }
    pthread_mutex_lock(&app->write_mu);
    locked = 1;
    int64_t coll;
    const char *name;
    if (refresh(w, &err)) {
        rg_reply_status(req, &err);
        goto done;
    }
    if (!path_collection(req, w, &c, 1, &coll, &name)) goto done;
    rg_ingest_options o = rg_ingest_default_options();
    o.collection = name;
    o.dense = w->dense;
    o.root = root;
    o.pii_types = app->pii_types;
    o.chunk = rg_ingest_chunk_options(o.chunk, w->enc);
    rg_ingest_stats st;
    const char *paths[1] = {real};
    if (rg_ingest_paths(w->store, paths, 1, &o, &st, &err)) {
        rg_reply_status(req, &err);
        goto done;
    }
    cJSON *out = cJSON_CreateObject();
    if (!out) {
        rg_reply_error(req, 500, "internal", "out of memory");
        goto done;
    }
    cJSON_AddStringToObject(out, "collection", name);
    cJSON_AddStringToObject(out, "path", real);
    cJSON_AddNumberToObject(out, "files", (double)st.files);
    cJSON_AddNumberToObject(out, "added", (double)st.added);
    cJSON_AddNumberToObject(out, "updated", (double)st.updated);
    cJSON_AddNumberToObject(out, "unchanged", (double)st.unchanged);
    cJSON_AddNumberToObject(out, "skipped", (double)st.skipped);
    cJSON_AddNumberToObject(out, "failed", (double)st.failed);
    cJSON_AddNumberToObject(out, "chunks", (double)st.chunks);
    cJSON_AddNumberToObject(out, "seconds", st.seconds);
    rg_reply_json(req, 200, out);
    cJSON_Delete(out);
done:
    if (locked) pthread_mutex_unlock(&app->write_mu);
    cJSON_Delete(body);
    caller_free(&c);
}

/* GET /v1/documents/{id}: a document by id alone (the web page's citations). */
static void h_document(void *app, void *ctx, rg_request *req)
{
    (void)app;
    serve_worker *w = ctx;
    caller c;
    if (!authorize(req, w, RG_SCOPE_READ, &c)) return;
    int64_t id;
    rg_doc_row row = {0};
    rg_error err;
    rg_error_clear(&err);
    if (!path_doc_id(req, &id)) goto done;
    if (rg_store_document_get(w->store, 0, id, caller_store_reader(&c), &row, &err)) {
        rg_reply_status(req, &err);
        goto done;
    }
    if (c.authed && !rg_key_allows(&c.key, row.collection)) { /* as if it did not exist */
        rg_reply_error(req, 404, "not_found", "no document %lld", (long long)id);
        goto done;
    }
    cJSON *o = doc_row_json(&row);
    if (o)
        rg_reply_json(req, 200, o);
    else
        rg_reply_error(req, 500, "internal", "out of memory");
    cJSON_Delete(o);
done:
    rg_doc_row_free(&row);
    caller_free(&c);
}

static void h_doc_delete(void *app_, void *ctx, rg_request *req)
{
    serve_app *app = app_;
    serve_worker *w = ctx;
    caller c;
    if (!authorize(req, w, RG_SCOPE_WRITE, &c)) return;
    int64_t coll, id;
    const char *name;
    rg_doc_row row = {0};
    int64_t *ids = NULL;
    size_t n_ids = 0;
    rg_error err;
    rg_error_clear(&err);
    pthread_mutex_lock(&app->write_mu);
    if (!path_collection(req, w, &c, 0, &coll, &name) || !path_doc_id(req, &id)) goto done;
    /* a document the caller may not read is one it cannot see, nor delete */
    rg_status st = rg_store_document_get(w->store, coll, id, caller_store_reader(&c), &row, &err);
    if (!st) st = refresh(w, &err);
    if (!st && w->dense) st = rg_dense_attach(w->dense, coll, &err);
    if (!st) st = rg_store_chunk_ids(w->store, coll, id, &ids, &n_ids, &err);
    if (!st) st = rg_store_delete_document(w->store, id, &err);
    if (!st && w->dense) st = rg_dense_update(w->dense, coll, ids, n_ids, NULL, 0, &err);
    if (!st && w->dense) st = rg_dense_save(w->dense, &err);
    if (st) {
        rg_reply_status(req, &err);
        goto done;
    }
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddNumberToObject(o, "id", (double)id);
        cJSON_AddBoolToObject(o, "deleted", 1);
        cJSON_AddNumberToObject(o, "chunks", (double)n_ids);
        rg_reply_json(req, 200, o);
    } else {
        rg_reply_error(req, 500, "internal", "out of memory");
    }
    cJSON_Delete(o);
done:
    pthread_mutex_unlock(&app->write_mu);
    rg_free(ids);
    rg_doc_row_free(&row);
    caller_free(&c);
}

const rg_route serve_routes[] = {
    {"GET", "/", h_index, RG_ROUTE_INLINE, 0},
    {"GET", "/healthz", h_healthz, RG_ROUTE_INLINE, 0},
    {"GET", "/readyz", h_readyz, RG_ROUTE_INLINE, 0},
    {"GET", "/openapi.json", h_openapi, RG_ROUTE_INLINE, 0},
    {"GET", "/metrics", h_metrics, 0, 0},
    {"GET", "/v1/collections", h_collections, 0, 0},
    {"POST", "/v1/search", h_search, 0, 0},
    {"POST", "/v1/answer", h_answer, 0, 0},
    {"POST", "/v1/chat/completions", h_chat, 0, 0},
    {"POST", "/v1/embeddings", h_embeddings, 0, 0},
    {"POST", "/v1/collections/{c}/documents", h_doc_put, 0, SERVE_UPLOAD_MAX},
    {"GET", "/v1/collections/{c}/documents", h_doc_list, 0, 0},
    {"GET", "/v1/collections/{c}/documents/{id}", h_doc_get, 0, 0},
    {"DELETE", "/v1/collections/{c}/documents/{id}", h_doc_delete, 0, 0},
    {"GET", "/v1/documents/{id}", h_document, 0, 0},
    {"POST", "/v1/collections/{c}/sync", h_sync, 0, 0},
};
const size_t serve_n_routes = sizeof serve_routes / sizeof serve_routes[0];
