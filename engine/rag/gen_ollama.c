/*
 * gen_ollama.c — Ollama's /api/chat with NDJSON streaming. See gen_ollama.h.
 */
#include "engine/rag/gen_ollama.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "engine/base/mem.h"
#include "engine/rag/sse.h"

typedef struct ollama {
    rg_llm_options o; /* strings point at the copies below */
    char *base_url, *model, *api_key;
    char url[RG_HTTP_URL_MAX];
    rg_http *http;
    rg_ndjson *lines;
    /* the generation in progress */
    const rg_gen_request *req;
    rg_buf *out;
    rg_gen_result *res;
    size_t delivered;
    int done;
    int cancelled;
} ollama;

static rg_status deliver(ollama *g, const char *s, size_t n, rg_error *err)
{
    return rg_llm_deliver(g->req, g->out, &g->delivered, &g->cancelled, s, n, err);
}

static size_t count_of(const cJSON *j, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
    /* 0 for what no size_t holds too: converting that is undefined (tests/fuzz) */
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble < 0x1p53)) return 0;
    return (size_t)v->valuedouble;
}

/* One NDJSON line, or the whole body of a non-streamed answer. */
static rg_status on_line(void *ctx, const char *line, size_t n, rg_error *err)
{
    ollama *g = ctx;
    if (g->done) return RG_OK; /* nothing after "done" belongs to the answer */
    cJSON *j = cJSON_ParseWithLength(line, n);
    if (!j)
        return rg_fail(err, RG_EPARSE, "%s: a line of the stream is not JSON: %.80s", g->url, line);
    rg_status st = RG_OK;
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    if (e) {
        st = rg_fail(err, RG_ENET, "%s: the server reported an error: %s", g->url,
                     cJSON_IsString(e) ? e->valuestring : "(no message)");
        goto out;
    }
    const cJSON *content =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "message"), "content");
    if (cJSON_IsString(content))
        st = deliver(g, content->valuestring, strlen(content->valuestring), err);
    if (!st && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "done"))) {
        g->done = 1;
        const cJSON *why = cJSON_GetObjectItemCaseSensitive(j, "done_reason");
        if (cJSON_IsString(why) && !strcmp(why->valuestring, "length"))
            g->res->finish = RG_FINISH_LENGTH;
        g->res->prompt_tokens = count_of(j, "prompt_eval_count");
        g->res->completion_tokens = count_of(j, "eval_count");
    }
out:
    cJSON_Delete(j);
    return st;
}

static rg_status on_data(void *ctx, const void *data, size_t n, rg_error *err)
{
    return rg_ndjson_feed(((ollama *)ctx)->lines, data, n, err);
}

static void on_reset(void *ctx)
{
    ollama *g = ctx;
    rg_ndjson_reset(g->lines);
    g->done = 0;
}

static int on_delivered(void *ctx)
{
    return ((ollama *)ctx)->delivered > 0;
}

static char *request_json(const ollama *g, const rg_prompt *p)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "model", g->model);
    cJSON *msgs = cJSON_AddArrayToObject(j, "messages");
    cJSON *sys = cJSON_CreateObject(), *user = cJSON_CreateObject();
    cJSON_AddItemToArray(msgs, sys);
    cJSON_AddItemToArray(msgs, user);
    cJSON_AddStringToObject(sys, "role", "system");
    cJSON_AddStringToObject(sys, "content", p->system);
    cJSON_AddStringToObject(user, "role", "user");
    cJSON_AddStringToObject(user, "content", p->user);
    cJSON_AddBoolToObject(j, "stream", g->o.stream);
    cJSON *opts = cJSON_AddObjectToObject(j, "options");
    if (g->o.temperature >= 0) cJSON_AddNumberToObject(opts, "temperature", g->o.temperature);
    if (g->o.max_tokens > 0) cJSON_AddNumberToObject(opts, "num_predict", (double)g->o.max_tokens);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

static rg_status ol_generate(void *self, const rg_gen_request *req, rg_buf *out, rg_gen_result *res,
                             rg_error *err)
{
    ollama *g = self;
    g->req = req, g->out = out, g->res = res;
    g->delivered = 0, g->done = 0, g->cancelled = 0;
    char auth[RG_LLM_KEY_MAX + 32] = "";
    if (g->api_key) snprintf(auth, sizeof auth, "Authorization: Bearer %s", g->api_key);
    const char *headers[] = {"Content-Type: application/json", "Expect:", auth[0] ? auth : NULL,
                             NULL};
    char *body = request_json(g, req->prompt);
    if (!body) return rg_fail(err, RG_ENOMEM, "out of memory");
    rg_llm_call call = {g->url, headers,  body,         strlen(body), on_data,
                        g,      on_reset, on_delivered, req->cancel};
    int cancelled;
    rg_status st = rg_llm_post(g->http, &g->o, &call, &cancelled, err);
    rg_free(body);
    /* a non-streamed body, or a last line without its LF */
    if (!st && !g->cancelled && !cancelled) st = rg_ndjson_finish(g->lines, err);
    if (g->cancelled || cancelled) {
        rg_error_clear(err);
        res->finish = RG_FINISH_CANCELLED;
        return RG_OK;
    }
    if (!st && !g->done)
        st = rg_fail(err, RG_ENET, "%s: the stream ended before the answer was complete", g->url);
    return st;
}

static const char *ol_model(void *self)
{
    return ((ollama *)self)->model;
}

static void ol_close(void *self)
{
    ollama *g = self;
    if (!g) return;
    rg_http_close(g->http);
    rg_ndjson_free(g->lines);
    rg_free(g->base_url);
    rg_free(g->model);
    rg_free(g->api_key);
    rg_free(g);
}

static const rg_generator_methods ollama_methods = {RG_GENERATOR_VERSION, "ollama", ol_generate,
                                                    ol_model, ol_close};

rg_status rg_ollama_open(const rg_llm_options *opt, rg_generator *out, rg_error *err)
{
    *out = (rg_generator){0};
    ollama *g = rg_calloc(1, sizeof *g);
    if (!g) return rg_fail(err, RG_ENOMEM, "out of memory");
    g->o = opt ? *opt : rg_llm_default_options();
    if (!g->o.base_url) g->o.base_url = RG_OLLAMA_DEFAULT_URL;
    rg_status st = rg_llm_copy_strings(&g->o, &g->base_url, &g->model, &g->api_key, err);
    if (!st) st = rg_llm_http_open(&g->o, g->base_url, &g->http, err);
    if (!st) snprintf(g->url, sizeof g->url, "%s/api/chat", g->base_url);
    if (!st) st = rg_ndjson_new(RG_LLM_MAX_RESPONSE, on_line, g, &g->lines, err);
    if (st) {
        ol_close(g);
        return st;
    }
    *out = (rg_generator){&ollama_methods, g};
    return RG_OK;
}
