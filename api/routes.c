/*
 * routes.c — `ragd serve`'s request parsing, auth, workers, health, metrics
 * and collections, and the route table (routes.h, serve.h).
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
#include "api/routes.h"
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
cJSON *serve_parse_body(rg_request *req)
{
    size_t n;
    const char *body = rg_req_body(req, &n);
    size_t bad;
    if (!rg_utf8_valid(body, n, &bad)) {
        rg_reply_error(req, 400, "invalid_request", "the body is not valid UTF-8 (byte %zu)", bad);
        return NULL;
    }
    switch (cli_json_scan(body, n, &bad)) {
    case CLI_JSON_TOO_DEEP:
        rg_reply_error(req, 400, "invalid_json", "the JSON nests deeper than %d levels (byte %zu)",
                       CLI_JSON_DEPTH_MAX, bad);
        return NULL;
    case CLI_JSON_NUL:
        rg_reply_error(req, 400, "invalid_request", "a string holds \\u0000 (byte %zu)", bad);
        return NULL;
    case CLI_JSON_OK:
        break;
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
int serve_get_string(rg_request *req, const cJSON *o, const char *name, int required,
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
int serve_get_size(rg_request *req, const cJSON *o, const char *name, size_t min, size_t max,
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

int serve_get_bool(rg_request *req, const cJSON *o, const char *name, int *out)
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
int serve_get_mode(rg_request *req, serve_worker *w, const cJSON *o, rg_search_mode *mode)
{
    const char *name;
    if (!serve_get_string(req, o, "mode", 0, 32, &name)) return 0;
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
int serve_get_filters(rg_request *req, const cJSON *o, serve_filters *fb, int *any)
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
            if (strlen(e->valuestring) > CLI_FILTER_VALUE_MAX) {
                rg_reply_error(req, 413, "too_large",
                               "'filters.metadata.%s' is longer than %d bytes", e->string,
                               CLI_FILTER_VALUE_MAX);
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

void serve_caller_free(serve_caller *c)
{
    rg_key_info_free(&c->key);
    cJSON_free(c->groups_json);
    memset(c, 0, sizeof *c);
}

/* The reader to hand to searches: NULL when auth is off. */
const rg_reader *serve_caller_reader(const serve_caller *c)
{
    return c->authed ? &c->reader : NULL;
}

const rg_store_reader *serve_caller_store_reader(const serve_caller *c)
{
    return c->authed ? &c->store_reader : NULL;
}

/*
 * Checks the request's API key for scope. 1 when it may go on (c filled),
 * 0 after replying 401 (no or unknown key) or 403 (scope).
 */
int serve_authorize(rg_request *req, serve_worker *w, unsigned scope, serve_caller *c)
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
        serve_caller_free(c);
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
        serve_caller_free(c);
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
int serve_pick_collection(rg_request *req, const serve_caller *c, const char *asked,
                          const char **out)
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
 * When documents changed since they were loaded: brings the searcher
 * (rg_search_refresh) and the dense index (rg_dense_refresh: a few new
 * chunks embedded here, many loaded from the writer's file) up to date in
 * place, reopening either if that fails, and reopens the generator that
 * borrows them.
 *
 * The searcher goes first: it records the store's sequence before it reads,
 * and the dense index then catches up with at least that state. In the
 * other order a change committed between the two left the dense index
 * behind a searcher that no longer looked stale, until the next change.
 */
rg_status serve_refresh(serve_worker *w, rg_error *err)
{
    if (w->search && !rg_search_stale(w->search)) return RG_OK;
    rg_generator_close(&w->extractive);
    /* in place (the postings' changes only), else from scratch */
    if (w->search && rg_search_refresh(w->search, w->dense, err)) {
        rg_search_close(w->search);
        w->search = NULL;
        rg_error_clear(err);
    }
    rg_status st;
    if (!w->search && (st = rg_search_open(w->store, w->dense, &w->search, err))) return st;
    /* the dense index catches up in place (reopened only if that fails) */
    if (w->dense && rg_dense_refresh(w->dense, SERVE_DENSE_REFRESH_EMBED, err)) {
        rg_error_clear(err);
        rg_search_close(w->search); /* it holds the dense index closed here */
        w->search = NULL;
        rg_dense_close(w->dense);
        w->dense = NULL;
        rg_dense_options o = {.model_name = w->model_name,
                              .encoder = w->enc,
                              .query_prefix = rg_encoder_query_prompt(w->enc),
                              .passage_prefix = rg_encoder_passage_prompt(w->enc)};
        if ((st = rg_dense_open(w->store, w->app->cli->data_dir, &o, &w->dense, err))) return st;
        /* the new index attaches its collections when a query needs them */
        if ((st = rg_search_open(w->store, w->dense, &w->search, err))) return st;
    }
    return open_extractive(w, err);
}

rg_status serve_write_begin(serve_worker *w, rg_error *err)
{
    /* lexical only, or an index to reopen: the full refresh */
    if (!w->search || !w->dense) return serve_refresh(w, err);
    if (!rg_search_stale(w->search)) return RG_OK; /* its refresh caught the dense index up */
    if (rg_dense_refresh(w->dense, SERVE_DENSE_REFRESH_EMBED, err)) {
        rg_error_clear(err);
        return serve_refresh(w, err); /* reopens what failed */
    }
    return RG_OK;
}

/* Loads the vectors of every collection already bound to the worker's
 * model, so that the first queries do not wait for them (others are
 * attached, and bound, when a query or an upload first needs them). A
 * collection that fails here is logged and left to the first query, which
 * reports the error to its caller. */
static void attach_bound(serve_worker *w)
{
    rg_collection_info *colls = NULL;
    size_t n = 0;
    rg_error err;
    rg_error_clear(&err);
    if (rg_store_collections(w->store, &colls, &n, &err)) n = 0;
    for (size_t i = 0; i < n; i++) {
        char bound[CLI_MODEL_NAME_MAX + 64];
        if (rg_store_collection_model(w->store, colls[i].id, bound, sizeof bound, &err) ||
            strcmp(bound, w->model_name) != 0)
            continue;
        if (rg_dense_attach(w->dense, colls[i].id, &err))
            rg_log(RG_LOG_WARN, "collection '%s': %s (retried at its first query)", colls[i].name,
                   rg_error_message(&err));
    }
    rg_free(colls);
}

/* One query through the encoder at start, so that the first real one does
 * not pay for the int8 weight packing and first-touch page faults. */
static void warm_encoder(serve_worker *w)
{
    int dim = rg_encoder_dim(w->enc);
    float *v = dim > 0 ? rg_malloc((size_t)dim * sizeof *v) : NULL;
    rg_error err;
    static const char q[] = "warm up";
    if (v && rg_encoder_embed_query(w->enc, q, sizeof q - 1, v, &err))
        rg_log(RG_LOG_WARN, "encoder warm-up: %s", rg_error_message(&err));
    rg_free(v);
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
            st = RG_OK; /* lexical only, and said so once */
            if (index == 0)
                rg_log(RG_LOG_WARN, "no embedding model is registered: search is lexical only "
                                    "(ragd model import DIR, or --model)");
            rg_error_clear(err);
        } else if (!st) {
            snprintf(w->model_name, sizeof w->model_name, "%s", name);
            rg_dense_options o = {.model_name = w->model_name,
                                  .encoder = w->enc,
                                  .query_prefix = rg_encoder_query_prompt(w->enc),
                                  .passage_prefix = rg_encoder_passage_prompt(w->enc)};
            st = rg_dense_open(w->store, app->cli->data_dir, &o, &w->dense, err);
            if (!st) attach_bound(w);
            if (!st) warm_encoder(w);
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

rg_status serve_dense_changed(serve_worker *w, rg_error *err)
{
    /* else serve_worker_idle saves it once due */
    return w->dense && w->app->save_interval <= 0 ? rg_dense_save(w->dense, err) : RG_OK;
}

/* Saves the worker's unsaved vectors, between writes and with the vector
 * index caught up with the store (so that the stamp is the store's
 * sequence; the searcher is left to the next query, as a write leaves it). */
static void save_unsaved(serve_worker *w)
{
    serve_app *app = w->app;
    rg_error err;
    rg_error_clear(&err);
    pthread_mutex_lock(&app->write_mu);
    double t = cli_now();
    rg_status st = serve_write_begin(w, &err);
    if (!st && w->dense) st = rg_dense_save(w->dense, &err);
    w->save_took = cli_now() - t;
    pthread_mutex_unlock(&app->write_mu);
    app->vector_save_us += (unsigned long long)(w->save_took * 1e6);
    if (st) {
        app->vector_save_failures++;
        rg_log(RG_LOG_ERROR,
               "worker %d: saving the vector index failed: %s (retried in %.0f s; "
               "a restart embeds what the file lacks)",
               w->index, rg_error_message(&err), app->save_interval);
        w->unsaved_since = cli_now();
        return;
    }
    app->vector_saves++;
    w->unsaved_since = 0;
}

double serve_worker_idle(void *app_, void *ctx)
{
    serve_app *app = app_;
    serve_worker *w = ctx;
    if (!w) return 0;
    /* the handle's changes: its writes, or an attach that repaired the file */
    if (!w->dense || !rg_dense_unsaved(w->dense)) {
        w->unsaved_since = 0;
        return 0;
    }
    if (!w->unsaved_since) w->unsaved_since = cli_now();
    double wait = app->save_interval;
    if (wait < SERVE_SAVE_FACTOR * w->save_took) wait = SERVE_SAVE_FACTOR * w->save_took;
    double left = w->unsaved_since + wait - cli_now();
    if (left > 0) return left;
    save_unsaved(w);
    return w->unsaved_since ? app->save_interval : 0;
}

void serve_worker_close(void *app, void *ctx)
{
    (void)app;
    serve_worker *w = ctx;
    if (!w) return;
    /* (not after a failed open: only a worker that served saves) */
    if (w->search && w->dense && rg_dense_unsaved(w->dense)) save_unsaved(w);
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

void route_healthz(void *app, void *ctx, rg_request *req)
{
    (void)app, (void)ctx;
    static const char ok[] = "{\"status\":\"ok\"}";
    rg_reply(req, 200, "application/json", ok, sizeof ok - 1);
}

void route_readyz(void *app_, void *ctx, rg_request *req)
{
    (void)ctx;
    serve_app *app = app_;
    char body[96];
    int n = snprintf(body, sizeof body, "{\"status\":\"ready\",\"workers\":%d}", app->workers);
    rg_reply(req, 200, "application/json", body, (size_t)n);
}

/* The web page: no external assets, nothing inline from elsewhere. */
void route_index(void *app, void *ctx, rg_request *req)
{
    (void)app, (void)ctx;
    rg_reply_header(req, "Content-Security-Policy",
                    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; "
                    "form-action 'self'; frame-ancestors 'none'");
    rg_reply_header(req, "X-Content-Type-Options", "nosniff");
    rg_reply(req, 200, "text/html; charset=utf-8", serve_index_html, serve_index_html_len);
}

void route_openapi(void *app, void *ctx, rg_request *req)
{
    (void)app, (void)ctx;
    rg_reply(req, 200, "application/json", serve_openapi_json, serve_openapi_json_len);
}

/* ---- worker routes ---- */

void route_metrics(void *app_, void *ctx, rg_request *req)
{
    serve_app *app = app_;
    serve_worker *w = ctx;
    serve_caller c;
    if (!serve_authorize(req, w, RG_SCOPE_ADMIN, &c)) return;
    serve_caller_free(&c);
    rg_buf out;
    rg_buf_init(&out, RG_SERVER_RESPONSE_MAX);
    rg_error err;
    rg_error_clear(&err);
    rg_status st = rg_server_metrics(rg_req_server(req), &out);
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
    if (!st) {
        static const char *const results[] = {"added",   "updated", "unchanged",
                                              "skipped", "failed",  "deleted"};
        unsigned long long counts[] = {app->ingest_added,     app->ingest_updated,
                                       app->ingest_unchanged, app->ingest_skipped,
                                       app->ingest_failed,    app->ingest_deleted};
        st = rg_buf_puts(&out, "# HELP ragd_ingest_documents_total Documents uploaded or synced, "
                               "by outcome.\n# TYPE ragd_ingest_documents_total counter\n");
        for (size_t i = 0; !st && i < sizeof counts / sizeof counts[0]; i++)
            st = rg_buf_printf(&out, "ragd_ingest_documents_total{result=\"%s\"} %llu\n",
                               results[i], counts[i]);
        if (!st)
            st = rg_buf_printf(
                &out,
                "# HELP ragd_ingest_chunks_total Chunks written by uploads and syncs.\n"
                "# TYPE ragd_ingest_chunks_total counter\nragd_ingest_chunks_total %llu\n"
                "# HELP ragd_ingest_bytes_total Bytes of documents read.\n"
                "# TYPE ragd_ingest_bytes_total counter\nragd_ingest_bytes_total %llu\n"
                "# HELP ragd_ingest_seconds_total Time spent ingesting.\n"
                "# TYPE ragd_ingest_seconds_total counter\nragd_ingest_seconds_total %.6f\n",
                (unsigned long long)app->ingest_chunks, (unsigned long long)app->ingest_bytes,
                (double)app->ingest_us / 1e6);
        if (!st)
            st = rg_buf_printf(
                &out,
                "# HELP ragd_vector_saves_total Deferred saves of the vector index, by result.\n"
                "# TYPE ragd_vector_saves_total counter\n"
                "ragd_vector_saves_total{result=\"ok\"} %llu\n"
                "ragd_vector_saves_total{result=\"failed\"} %llu\n"
                "# HELP ragd_vector_save_seconds_total Time spent in them.\n"
                "# TYPE ragd_vector_save_seconds_total counter\n"
                "ragd_vector_save_seconds_total %.6f\n",
                (unsigned long long)app->vector_saves,
                (unsigned long long)app->vector_save_failures, (double)app->vector_save_us / 1e6);
    }
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

void route_collections(void *app, void *ctx, rg_request *req)
{
    (void)app;
    serve_worker *w = ctx;
    serve_caller c;
    if (!serve_authorize(req, w, RG_SCOPE_READ, &c)) return;
    rg_error err;
    rg_error_clear(&err);
    rg_collection_info *cols = NULL;
    size_t n = 0;
    if (rg_store_collections(w->store, &cols, &n, &err)) {
        rg_reply_status(req, &err);
        serve_caller_free(&c);
        return;
    }
    cJSON *o = cJSON_CreateObject(), *arr = o ? cJSON_AddArrayToObject(o, "collections") : NULL;
    for (size_t i = 0; arr && i < n; i++) {
        if (c.authed && !rg_key_allows(&c.key, cols[i].name)) continue;
        rg_store_counts cnt;
        if (rg_store_counts_readable(w->store, cols[i].id, serve_caller_store_reader(&c), &cnt,
                                     &err)) {
            rg_free(cols);
            cJSON_Delete(o);
            rg_reply_status(req, &err);
            serve_caller_free(&c);
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
    serve_caller_free(&c);
}

/* Checks that a named collection exists: 0 after replying 404. */
int serve_collection_exists(rg_request *req, serve_worker *w, const char *name)
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

const rg_route serve_routes[] = {
    {"GET", "/", route_index, RG_ROUTE_INLINE, 0},
    {"GET", "/healthz", route_healthz, RG_ROUTE_INLINE, 0},
    {"GET", "/readyz", route_readyz, RG_ROUTE_INLINE, 0},
    {"GET", "/openapi.json", route_openapi, RG_ROUTE_INLINE, 0},
    {"GET", "/metrics", route_metrics, 0, 0},
    {"GET", "/v1/collections", route_collections, 0, 0},
    {"POST", "/v1/search", route_search, 0, 0},
    {"POST", "/v1/answer", route_answer, 0, 0},
    {"POST", "/v1/chat/completions", route_chat, 0, 0},
    {"POST", "/v1/embeddings", route_embeddings, 0, 0},
    {"POST", "/v1/collections/{c}/documents", route_doc_put, 0, SERVE_UPLOAD_MAX},
    {"GET", "/v1/collections/{c}/documents", route_doc_list, 0, 0},
    {"GET", "/v1/collections/{c}/documents/{id}", route_doc_get, 0, 0},
    {"DELETE", "/v1/collections/{c}/documents/{id}", route_doc_delete, 0, 0},
    {"GET", "/v1/documents/{id}", route_document, 0, 0},
    {"POST", "/v1/collections/{c}/sync", route_sync, 0, 0},
};
const size_t serve_n_routes = sizeof serve_routes / sizeof serve_routes[0];
