/*
 * routes_query.c — search, cited answers (JSON or Server-Sent Events), OpenAI-compatible chat
 * completions and embeddings (routes.h).
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

void route_search(void *app_, void *ctx, rg_request *req)
{
    serve_app *app = app_;
    serve_worker *w = ctx;
    serve_caller c;
    if (!serve_authorize(req, w, RG_SCOPE_READ, &c)) return;
    cJSON *body = serve_parse_body(req);
    const char *query, *collection;
    size_t k;
    rg_search_mode mode;
    serve_filters *fb = rg_malloc(sizeof *fb);
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
    if (!serve_get_string(req, body, "query", 1, RG_QUERY_MAX_BYTES, &query) ||
        !serve_get_string(req, body, "collection", 0, RG_COLLECTION_NAME_MAX, &collection) ||
        !serve_get_size(req, body, "k", 1, RG_SEARCH_MAX_K, 10, &k) ||
        !serve_get_mode(req, w, body, &mode) || !serve_get_filters(req, body, fb, &any_filter) ||
        !serve_pick_collection(req, &c, collection, &collection))
        goto done;
    if (serve_refresh(w, &err)) {
        rg_reply_status(req, &err);
        goto done;
    }
    if (!serve_collection_exists(req, w, collection)) goto done;
    rg_search_request sr = rg_search_default_request(query);
    sr.k = k;
    sr.collection = collection;
    sr.mode = mode;
    sr.filter = any_filter ? &fb->f : NULL;
    sr.reader = serve_caller_reader(&c);
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
    cli_search_summary(out, query, rg_search_mode_name(sr.mode), &tm, took);
    cJSON_AddNumberToObject(cJSON_GetObjectItemCaseSensitive(out, "timings_ms"), "fetch",
                            took - fetch0);
    app->searches++;
    rg_reply_json(req, 200, out);
done:
    rg_buf_free(&snip);
    rg_free(hits);
    rg_free(fb);
    cJSON_Delete(out);
    cJSON_Delete(body);
    serve_caller_free(&c);
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

/*
 * Refreshes the worker and checks the collection: 1 to go on, 0 after
 * replying. Callers run it before a stream begins, while a failure can
 * still be a plain error reply (the server refuses a reply after
 * rg_reply_stream_begin, and the client would get an empty stream).
 */
static int answer_ready(rg_request *req, serve_worker *w, const char *collection)
{
    rg_error err;
    rg_error_clear(&err);
    if (serve_refresh(w, &err)) {
        rg_reply_status(req, &err);
        return 0;
    }
    return serve_collection_exists(req, w, collection);
}

/*
 * Runs the answer pipeline (after answer_ready); replies itself (error) and
 * returns non-zero on failure.
 */
static int run_answer(rg_request *req, serve_app *app, serve_worker *w, const ask_params *p,
                      sse_ctx *sse, rg_answer *ans)
{
    rg_error err;
    rg_error_clear(&err);
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

void route_answer(void *app_, void *ctx, rg_request *req)
{
    serve_app *app = app_;
    serve_worker *w = ctx;
    serve_caller c;
    if (!serve_authorize(req, w, RG_SCOPE_READ, &c)) return;
    cJSON *body = serve_parse_body(req);
    ask_params p = {.reader = serve_caller_reader(&c)};
    rg_answer ans = {0};
    rg_history history = {0};
    cJSON *out = NULL;
    if (!body) goto done;
    if (!serve_get_string(req, body, "question", 1, RG_QUERY_MAX_BYTES, &p.question) ||
        !serve_get_string(req, body, "collection", 0, RG_COLLECTION_NAME_MAX, &p.collection) ||
        !serve_get_size(req, body, "k", 1, RG_ANSWER_SOURCES_MAX, RG_ANSWER_DEFAULT_K, &p.k) ||
        !serve_get_mode(req, w, body, &p.mode) || !serve_get_bool(req, body, "stream", &p.stream) ||
        !serve_pick_collection(req, &c, p.collection, &p.collection))
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
    if (!answer_ready(req, w, p.collection)) goto done;
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
    serve_caller_free(&c);
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
        if (c->page > 0) cJSON_AddNumberToObject(o, "page", (double)c->page);
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

void route_chat(void *app_, void *ctx, rg_request *req)
{
    serve_app *app = app_;
    serve_worker *w = ctx;
    serve_caller c;
    if (!serve_authorize(req, w, RG_SCOPE_READ, &c)) return;
    cJSON *body = serve_parse_body(req);
    ask_params p = {.reader = serve_caller_reader(&c)};
    rg_answer ans = {0};
    cJSON *out = NULL;
    char *question = NULL;
    cJSON *earlier = NULL;
    rg_history history = {0};
    const char *model;
    if (!body) goto done;
    if (!serve_get_string(req, body, "model", 1, RG_COLLECTION_NAME_MAX, &model) ||
        !serve_get_bool(req, body, "stream", &p.stream))
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
    if (!serve_pick_collection(req, &c, p.collection, &p.collection)) goto done;

    char id[96];
    snprintf(id, sizeof id, "chatcmpl-%s", rg_req_id(req));
    long created = (long)time(NULL);
    sse_ctx sse = {.req = req, .chat = 1, .id = id, .model = model, .created = created};
    rg_error err;
    rg_error_clear(&err);
    /* as answer_ready, before a stream begins, with the model's name in the 404 */
    int64_t cid;
    rg_status st = serve_refresh(w, &err);
    if (!st && p.collection) st = rg_store_collection(w->store, p.collection, 0, &cid, &err);
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
    serve_caller_free(&c);
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

void route_embeddings(void *app_, void *ctx, rg_request *req)
{
    serve_app *app = app_;
    serve_worker *w = ctx;
    serve_caller c;
    if (!serve_authorize(req, w, RG_SCOPE_READ, &c)) return;
    serve_caller_free(&c);
    cJSON *body = serve_parse_body(req);
    if (!body) return;
    const char *texts[SERVE_EMBED_INPUTS_MAX];
    size_t lens[SERVE_EMBED_INPUTS_MAX], n = 0;
    float *vecs = NULL;
    char *enc64 = NULL;
    cJSON *out = NULL;
    const char *format, *model;
    if (!serve_get_string(req, body, "encoding_format", 0, 16, &format) ||
        !serve_get_string(req, body, "model", 0, RG_COLLECTION_NAME_MAX, &model))
        goto done;
    int as_base64 = format && strcmp(format, "base64") == 0;
    if (format && !as_base64 && strcmp(format, "float") != 0) {
        rg_reply_error(req, 400, "invalid_request", "'encoding_format' is float or base64");
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
    if (!w->enc) { /* after the input's checks: a bad request is 4xx whatever the server has */
        rg_reply_error(req, 503, "no_model", "no embedding model is registered");
        goto done;
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
