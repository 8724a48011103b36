/*
 * serve.h — the ragd HTTP application on top of server.h: what each
 * compute worker holds, and the route table.
 *
 * Each worker opens its own store connection, encoder, dense index and
 * searcher (serve_worker_open), so queries on different workers share no
 * mutable state. A worker notices documents changed by anyone (another
 * worker, `ragd ingest` in another process) through rg_search_stale and
 * brings its searcher (rg_search_refresh) and dense index up to date before
 * the next query.
 *
 * Routes (docs/openapi in api/openapi.json, served at /openapi.json):
 *   GET  / (the web page) /healthz /readyz /openapi.json /metrics
 *   POST /v1/search /v1/answer /v1/chat/completions /v1/embeddings
 *   GET  /v1/collections
 *   POST /v1/collections/{c}/documents (JSON or a raw file)
 *   GET  /v1/collections/{c}/documents, /v1/collections/{c}/documents/{id}
 *   DELETE /v1/collections/{c}/documents/{id}
 *   GET  /v1/documents/{id}
 *   POST /v1/collections/{c}/sync (a folder under a --sync-root)
 *
 * Auth: with app.auth, every /v1 route and /metrics needs an API key
 * (index/keys.h) as "Authorization: Bearer KEY" (what OpenAI clients send)
 * or "X-API-Key: KEY", or a JWT (auth_jwt.h) as a bearer token: read scope for searching, answering
 * and reading, write for changing documents, admin for /metrics. A key limited to some collections
 * may use only those, and reads documents as its reader (user, groups): documents whose access list
 * leaves it out are never in its results, answers, citations, listings or counts.
 */
#ifndef RG_SERVE_H
#define RG_SERVE_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>

#include "api/cli.h"
#include "api/auth_jwt.h"
#include "api/cli_util.h"
#include "api/server.h"
#include "engine/nn/encoder.h"
#include "engine/rag/generator.h"
#include "index/dense.h"
#include "index/search.h"
#include "index/store.h"

/* Texts one /v1/embeddings request may carry. */
#define SERVE_EMBED_INPUTS_MAX 256
/* Bytes of one text to embed. */
#define SERVE_EMBED_TEXT_MAX (64u * 1024)
/* Messages one chat request may carry. */
#define SERVE_CHAT_MESSAGES_MAX 64
/* Tokens of context in a search result's snippet. */
#define SERVE_SNIPPET_TOKENS 40
/* A worker catching up with others' changes embeds up to this many new
 * chunks of a collection itself; more, and it loads the writer's file. */
#define SERVE_DENSE_REFRESH_EMBED 256
/* Longest snippet (bytes). */
#define SERVE_SNIPPET_MAX_BYTES 4096

/* Documents one GET /v1/collections/{c}/documents page holds by default. */
#define SERVE_PAGE_DEFAULT 100
/* Largest document upload (bytes). */
#define SERVE_UPLOAD_MAX (32u << 20)
/* Longest source name and title an upload may give (bytes). */
#define SERVE_DOC_NAME_MAX 1024

/* Default --save-interval: a worker saves the vectors its uploads and
 * deletes changed this many seconds after the first unsaved change (and
 * when it stops), not after each write: a save rewrites the collection's
 * whole vector file (about 1.8 kB a vector). A crash loses no document:
 * the next start embeds the chunks the file lacks. */
#define SERVE_SAVE_SECONDS 30
/* ... and at most once per this many times its last save's duration. */
#define SERVE_SAVE_FACTOR 10

/* Folders `--sync-root` may name. */
#define SERVE_SYNC_ROOTS_MAX 8

typedef struct serve_app {
    const rg_cli *cli;
    int auth;                 /* API keys required (off only with --no-auth on loopback) */
    unsigned pii_types;       /* --pii-mask: personal data masked in uploads and syncs */
    pthread_mutex_t write_mu; /* one document write at a time (store and vector files) */
    const char *model;        /* --model NAME or folder; NULL: the default model */
    int workers;
    cli_llm llm;   /* --llm ...: answers by an LLM (else extractive) */
    serve_jwt jwt; /* --jwt-...: signed tokens accepted beside API keys */
    char sync_roots[SERVE_SYNC_ROOTS_MAX][PATH_MAX]; /* real paths */
    size_t n_sync_roots;
    double save_interval; /* --save-interval seconds; 0: save after every write */
    atomic_ullong answers, refusals, fallbacks, embeddings, searches;
    atomic_ullong llm_answers, llm_generate_us; /* answers the LLM wrote, and its time */
    /* Ingestion through uploads, sync and deletes: documents by outcome,
     * chunks written, bytes read and time spent, for /metrics. */
    atomic_ullong ingest_added, ingest_updated, ingest_unchanged, ingest_skipped, ingest_failed;
    atomic_ullong ingest_deleted, ingest_chunks, ingest_bytes, ingest_us;
    atomic_ullong vector_saves, vector_save_failures, vector_save_us; /* deferred saves */
} serve_app;

typedef struct serve_worker {
    serve_app *app;
    int index;
    rg_store *store;
    rg_encoder *enc; /* NULL when no model is registered (lexical only) */
    rg_dense *dense;
    rg_search *search;
    rg_generator extractive;
    cli_llm_gen llm;       /* opened when app->llm.url is set */
    rg_generator rewriter; /* the LLM that rewrites follow-ups; closed: the plain rewrite */
    char model_name[CLI_MODEL_NAME_MAX + 1];
    double unsaved_since; /* cli_now() when serve_worker_idle first saw unsaved vectors; 0: none */
    double save_took;     /* seconds the last save took */
} serve_worker;

rg_status serve_worker_open(void *app, int index, void **ctx, rg_error *err);
/* Saves unsaved vectors first (serve_worker_idle). */
void serve_worker_close(void *app, void *ctx);
/*
 * rg_server_options.worker_idle: saves the worker's unsaved vectors (its
 * writes, or an attach that repaired a stale file) once they are due
 * (app.save_interval after the first unsaved change, and at
 * least SERVE_SAVE_FACTOR times the last save's duration after it),
 * catching up with the store first so that the file is stamped current.
 * Returns the seconds until they are due; 0 when nothing waits. A failed
 * save is logged, counted in /metrics and retried an interval later.
 */
double serve_worker_idle(void *app, void *ctx);
/*
 * After a write changed the worker's dense index (the store change is
 * committed): saves it now when app.save_interval is 0, else leaves it to
 * serve_worker_idle (the handle knows what it changed: rg_dense_unsaved).
 * Errors are the save's.
 */
rg_status serve_dense_changed(serve_worker *w, rg_error *err);

/* The route table and its size. */
extern const rg_route serve_routes[];
extern const size_t serve_n_routes;

/* The OpenAPI document (api/openapi.json, embedded at build time). */
extern const char serve_openapi_json[];
extern const unsigned long serve_openapi_json_len;
/* The web page served at / (api/web/index.html, embedded at build time). */
extern const char serve_index_html[];
extern const unsigned long serve_index_html_len;

#endif
