/*
 * routes.h — what the route files of `ragd serve` share (internal to api/):
 * reading request bodies, who is calling (API key or JWT, scopes,
 * collections, reader), the worker's view of the store, and the handlers
 * the route table in routes.c points at. The public side is serve.h.
 *
 *   routes.c         parsing, auth, workers, health, metrics, collections, the table
 *   routes_query.c   search, answers, chat completions, embeddings
 *   routes_docs.c    documents and sync
 */
#ifndef RG_ROUTES_H
#define RG_ROUTES_H

#include <cjson/cJSON.h>

#include "api/serve.h"
#include "index/keys.h"
#include "index/search.h"

/* ---- request bodies: each reader replies 400/413 itself and returns 0 on bad input ---- */

/* The body as a JSON object, or NULL after replying. The caller frees it. */
cJSON *serve_parse_body(rg_request *req);
int serve_get_string(rg_request *req, const cJSON *o, const char *name, int required,
                     size_t max_bytes, const char **out);
int serve_get_size(rg_request *req, const cJSON *o, const char *name, size_t min, size_t max,
                   size_t def, size_t *out);
int serve_get_bool(rg_request *req, const cJSON *o, const char *name, int *out);
int serve_get_mode(rg_request *req, serve_worker *w, const cJSON *o, rg_search_mode *mode);

typedef struct serve_filters {
    rg_search_filter f;
    int64_t doc_ids[RG_FILTER_MAX_DOCS];
    const char *keys[RG_FILTER_MAX_META];
    const char *values[RG_FILTER_MAX_META];
} serve_filters;

/* Reads "filters": {document_ids, metadata, since, until}; *any says whether there were any. */
int serve_get_filters(rg_request *req, const cJSON *o, serve_filters *fb, int *any);

/* ---- who is calling ---- */

typedef struct serve_caller {
    int authed; /* a key was checked (auth on) */
    rg_key_info key;
    rg_reader reader;
    char *groups_json; /* the reader's groups for store views */
    rg_store_reader store_reader;
} serve_caller;

void serve_caller_free(serve_caller *c);
/* The reader searches check access lists against; NULL when auth is off. */
const rg_reader *serve_caller_reader(const serve_caller *c);
const rg_store_reader *serve_caller_store_reader(const serve_caller *c);
/* Checks the credential for scope: 1 to go on, 0 after replying 401/403. */
int serve_authorize(rg_request *req, serve_worker *w, unsigned scope, serve_caller *c);
/* The collection the request may use (see routes.c); 0 after replying 403. */
int serve_pick_collection(rg_request *req, const serve_caller *c, const char *asked,
                          const char **out);

/* ---- the worker's view of the store ---- */

/* Reopens the worker's searcher, dense index and extractive generator when the store changed. */
rg_status serve_refresh(serve_worker *w, rg_error *err);
/*
 * Before a document write, under app.write_mu: brings the dense index up to
 * date with changes others committed (it reads only what changed: the
 * store's deletion log and the chunks added since), so that its vectors and
 * model bindings are the store's when it updates and saves; but leaves the
 * searcher to the next query: its BM25 refresh reads the whole index, and a
 * run of uploads then pays it once, not once each.
 */
rg_status serve_write_begin(serve_worker *w, rg_error *err);
/* 1 if the named collection (NULL: all) exists; 0 after replying 404. */
int serve_collection_exists(rg_request *req, serve_worker *w, const char *name);

/* ---- handlers (rg_handler) ---- */

void route_healthz(void *app, void *ctx, rg_request *req);
void route_readyz(void *app, void *ctx, rg_request *req);
void route_index(void *app, void *ctx, rg_request *req);
void route_openapi(void *app, void *ctx, rg_request *req);
void route_metrics(void *app, void *ctx, rg_request *req);
void route_collections(void *app, void *ctx, rg_request *req);
void route_search(void *app, void *ctx, rg_request *req);
void route_answer(void *app, void *ctx, rg_request *req);
void route_chat(void *app, void *ctx, rg_request *req);
void route_embeddings(void *app, void *ctx, rg_request *req);
void route_doc_put(void *app, void *ctx, rg_request *req);
void route_doc_list(void *app, void *ctx, rg_request *req);
void route_doc_get(void *app, void *ctx, rg_request *req);
void route_sync(void *app, void *ctx, rg_request *req);
void route_document(void *app, void *ctx, rg_request *req);
void route_doc_delete(void *app, void *ctx, rg_request *req);

#endif
