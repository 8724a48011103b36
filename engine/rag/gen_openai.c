/*
 * gen_openai.c — OpenAI-compatible chat completions, and the retrying
 * transport both LLM generators use. See gen_openai.h.
 */
#include "engine/rag/gen_openai.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/base/mem.h"
#include "engine/rag/sse.h"

/* Back-offs sleep in slices this long so a cancellation is seen soon. */
#define SLEEP_SLICE_MS 50

rg_llm_options rg_llm_default_options(void)
{
    return (rg_llm_options){.api_key_env = RG_LLM_DEFAULT_KEY_ENV,
                            .temperature = 0.2,
                            .max_tokens = 512,
                            .connect_timeout_ms = RG_LLM_CONNECT_TIMEOUT_MS,
                            .timeout_ms = RG_LLM_TIMEOUT_MS,
                            .max_retries = RG_LLM_MAX_RETRIES,
                            .backoff_ms = RG_LLM_BACKOFF_MS,
                            .max_backoff_ms = RG_LLM_MAX_BACKOFF_MS,
                            .stream = 1};
}

/* ---- Transport ---- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* xorshift32: jitter needs spread between clients, not cryptographic quality. */
static uint32_t next_rand(uint32_t *s)
{
    uint32_t x = *s ? *s : 0x9e3779b9u;
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    return *s = x;
}

/* Sleeps ms, in slices; returns non-zero when cancel became set. */
static int sleep_ms(int64_t ms, const volatile int *cancel)
{
    while (ms > 0) {
        if (cancel && *cancel) return 1;
        int64_t step = ms < SLEEP_SLICE_MS ? ms : SLEEP_SLICE_MS;
        struct timespec ts = {(time_t)(step / 1000), (long)(step % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
        ms -= step;
    }
    return cancel && *cancel;
}

/*
 * Retry-After in milliseconds: -1 when it asks for longer than ragd waits,
 * 0 when it is not a number of seconds (an HTTP date: the back-off decides).
 */
static int64_t retry_after_ms(const char *v)
{
    char *end;
    errno = 0;
    long s = strtol(v, &end, 10);
    if (!v[0] || *end || errno || s < 0) return 0;
    return s > RG_LLM_MAX_RETRY_AFTER_MS / 1000 ? -1 : (int64_t)s * 1000;
}

void rg_llm_error_message(const char *body, size_t n, char *out, size_t cap)
{
    cJSON *j = n ? cJSON_ParseWithLength(body, n) : NULL;
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    const cJSON *m = cJSON_IsObject(e) ? cJSON_GetObjectItemCaseSensitive(e, "message") : e;
    if (cJSON_IsString(m)) {
        snprintf(out, cap, "%s", m->valuestring);
    } else {
        size_t k = n < cap - 1 ? n : cap - 1;
        memcpy(out, body, k);
        out[k] = 0;
        for (char *p = out; *p; p++) /* one line: the message ends up in an rg_error */
            if (*p == '\n' || *p == '\r') *p = ' ';
    }
    cJSON_Delete(j);
}

/* One attempt's verdict: 0 when it is final (st, or e, says how), 1 when worth retrying. */
static int judge(rg_status st, const rg_http_response *resp, const rg_buf *ebody,
                 const rg_llm_call *call, rg_error *e)
{
    if (st == RG_OK && resp->status >= 200 && resp->status <= 299) return 0;
    if (st != RG_OK) return st == RG_ENET; /* a connection failure, not a timeout */
    char msg[RG_LLM_ERROR_BODY_MAX / 8];
    rg_llm_error_message(rg_buf_str(ebody), ebody->len, msg, sizeof msg);
    int again = resp->status == 429 || resp->status >= 500;
    rg_fail(e, again ? RG_ENET : RG_EINVAL, "%s: HTTP %ld: %s", call->url, resp->status,
            msg[0] ? msg : "(no message)");
    return again;
}

rg_status rg_llm_post(rg_http *h, const rg_llm_options *o, const rg_llm_call *call, int *cancelled,
                      rg_error *err)
{
    *cancelled = 0;
    int64_t start = now_ms(), deadline = start + o->timeout_ms;
    uint32_t seed = (uint32_t)start ^ (uint32_t)(uintptr_t)call;
    rg_buf ebody;
    rg_buf_init(&ebody, RG_LLM_ERROR_BODY_MAX);
    rg_error e;
    rg_status st = RG_OK;
    for (int attempt = 0;; attempt++) {
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            st = rg_fail(&e, RG_ETIMEOUT, "%s: no complete answer within %ld ms", call->url,
                         o->timeout_ms);
            break;
        }
        if (call->reset) call->reset(call->ctx);
        rg_buf_reset(&ebody);
        rg_error_clear(&e);
        rg_http_request req = {.url = call->url,
                               .headers = call->headers,
                               .max_body = RG_LLM_MAX_RESPONSE,
                               .timeout_ms = (long)left,
                               .on_data = call->on_data,
                               .ctx = call->ctx,
                               .body = call->body,
                               .body_len = call->body_len,
                               .stall_s = -1, /* a model may think long: the deadline bounds it */
                               .error_body = &ebody};
        rg_http_response resp;
        st = rg_http_get(h, &req, &resp, &e);
        if (!judge(st, &resp, &ebody, call, &e)) {
            if (!st) st = e.code; /* a final HTTP error status */
            break;
        }
        st = e.code;
        if (attempt >= o->max_retries || (call->delivered && call->delivered(call->ctx))) break;
        int64_t backoff = o->backoff_ms << (attempt < 16 ? attempt : 16);
        if (backoff > o->max_backoff_ms) backoff = o->max_backoff_ms;
        int64_t wait = backoff / 2 + (int64_t)(next_rand(&seed) % (uint32_t)(backoff / 2 + 1));
        int64_t ra = resp.retry_after[0] ? retry_after_ms(resp.retry_after) : 0;
        char why[RG_ERROR_MSG_MAX];
        snprintf(why, sizeof why, "%s", rg_error_message(&e));
        if (ra < 0) {
            st = rg_fail(&e, st, "%s (Retry-After %s is longer than ragd waits)", why,
                         resp.retry_after);
            break;
        }
        if (ra > wait) wait = ra;
        if (now_ms() + wait >= deadline) {
            st = rg_fail(&e, st, "%s (no time left for retry %d)", why, attempt + 1);
            break;
        }
        if (sleep_ms(wait, call->cancel)) {
            *cancelled = 1;
            st = RG_OK;
            break;
        }
    }
    rg_buf_free(&ebody);
    if (st && err) *err = e;
    return st;
}

/* ---- The generator ---- */

typedef struct openai {
    rg_llm_options o; /* strings point at the copies below */
    char *base_url, *model, *api_key;
    char url[RG_HTTP_URL_MAX];
    rg_http *http;
    rg_sse *sse;
    rg_buf body; /* a non-streamed response */
    /* the generation in progress */
    const rg_gen_request *req;
    rg_buf *out;
    rg_gen_result *res;
    size_t delivered; /* bytes passed on */
    int done;         /* [DONE] or a finish_reason arrived */
    int cancelled;
} openai;

rg_status rg_llm_deliver(const rg_gen_request *req, rg_buf *out, size_t *delivered, int *cancelled,
                         const char *s, size_t n, rg_error *err)
{
    if (!n) return RG_OK;
    if (req->cancel && *req->cancel) return *cancelled = 1, RG_LLM_CANCELLED;
    rg_status st = rg_buf_append(out, s, n);
    if (st == RG_ELIMIT)
        return rg_fail(err, st, "the generated answer is longer than %zu bytes", out->max);
    if (st) return rg_fail(err, st, "out of memory");
    *delivered += n;
    if (req->on_token && req->on_token(req->token_ctx, s, n))
        return *cancelled = 1, RG_LLM_CANCELLED;
    return RG_OK;
}

static rg_status deliver(openai *g, const char *s, size_t n, rg_error *err)
{
    return rg_llm_deliver(g->req, g->out, &g->delivered, &g->cancelled, s, n, err);
}

static void read_usage(openai *g, const cJSON *j)
{
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "usage");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(u, "prompt_tokens");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(u, "completion_tokens");
    /* a count no size_t holds is the server's nonsense: converting it is undefined (tests/fuzz) */
    if (cJSON_IsNumber(p) && p->valuedouble >= 0 && p->valuedouble < 0x1p53)
        g->res->prompt_tokens = (size_t)p->valuedouble;
    if (cJSON_IsNumber(c) && c->valuedouble >= 0 && c->valuedouble < 0x1p53)
        g->res->completion_tokens = (size_t)c->valuedouble;
}

/* One completion object, streamed chunk (delta) or whole response (message). */
static rg_status read_choice(openai *g, const cJSON *j, const char *part, rg_error *err)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    if (e) {
        char *text = cJSON_PrintUnformatted(j);
        char msg[RG_ERROR_MSG_MAX / 2];
        rg_llm_error_message(text ? text : "", text ? strlen(text) : 0, msg, sizeof msg);
        cJSON_free(text);
        return rg_fail(err, RG_ENET, "%s: the server reported an error: %s", g->url, msg);
    }
    read_usage(g, j);
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(j, "choices");
    const cJSON *c0 = cJSON_GetArrayItem(choices, 0);
    if (!c0) return RG_OK; /* a usage-only chunk */
    const cJSON *content =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(c0, "delta"), "content");
    if (!content)
        content =
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(c0, part), "content");
    rg_status st = RG_OK;
    if (cJSON_IsString(content))
        st = deliver(g, content->valuestring, strlen(content->valuestring), err);
    const cJSON *fin = cJSON_GetObjectItemCaseSensitive(c0, "finish_reason");
    if (!st && cJSON_IsString(fin)) {
        g->done = 1;
        if (!strcmp(fin->valuestring, "length")) g->res->finish = RG_FINISH_LENGTH;
    }
    return st;
}

static rg_status on_event(void *ctx, const rg_sse_event *ev, rg_error *err)
{
    openai *g = ctx;
    if (ev->done) {
        g->done = 1;
        return RG_OK;
    }
    if (!strcmp(ev->event, "error")) {
        char msg[RG_ERROR_MSG_MAX / 2];
        rg_llm_error_message(ev->data, ev->data_len, msg, sizeof msg);
        return rg_fail(err, RG_ENET, "%s: the server reported an error: %s", g->url, msg);
    }
    cJSON *j = cJSON_ParseWithLength(ev->data, ev->data_len);
    if (!j)
        return rg_fail(err, RG_EPARSE, "%s: an event of the stream is not JSON: %.80s", g->url,
                       ev->data);
    rg_status st = read_choice(g, j, "delta", err);
    cJSON_Delete(j);
    return st;
}

static rg_status on_stream_data(void *ctx, const void *data, size_t n, rg_error *err)
{
    openai *g = ctx;
    return rg_sse_feed(g->sse, data, n, err);
}

static rg_status on_body_data(void *ctx, const void *data, size_t n, rg_error *err)
{
    openai *g = ctx;
    rg_status st = rg_buf_append(&g->body, data, n);
    if (st == RG_ELIMIT)
        return rg_fail(err, st, "%s: response longer than %zu bytes", g->url, g->body.max);
    return st ? rg_fail(err, st, "out of memory") : RG_OK;
}

static void on_reset(void *ctx)
{
    openai *g = ctx;
    rg_sse_reset(g->sse);
    rg_buf_reset(&g->body);
    g->done = 0;
}

static int on_delivered(void *ctx)
{
    return ((openai *)ctx)->delivered > 0;
}

/* The request body: the prompt as system and user messages, and the sampling options. */
static char *request_json(const openai *g, const rg_prompt *p)
{
    cJSON *j = cJSON_CreateObject();
    cJSON *msgs = cJSON_AddArrayToObject(j, "messages");
    cJSON *sys = cJSON_CreateObject(), *user = cJSON_CreateObject();
    cJSON_AddItemToArray(msgs, sys);
    cJSON_AddItemToArray(msgs, user);
    cJSON_AddStringToObject(sys, "role", "system");
    cJSON_AddStringToObject(sys, "content", p->system);
    cJSON_AddStringToObject(user, "role", "user");
    cJSON_AddStringToObject(user, "content", p->user);
    cJSON_AddStringToObject(j, "model", g->model);
    if (g->o.temperature >= 0) cJSON_AddNumberToObject(j, "temperature", g->o.temperature);
    if (g->o.max_tokens > 0) cJSON_AddNumberToObject(j, "max_tokens", (double)g->o.max_tokens);
    cJSON_AddBoolToObject(j, "stream", g->o.stream);
    /* any failed Add above leaves a shorter object; printing it whole is what fails */
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

static rg_status finish_body(openai *g, rg_error *err)
{
    cJSON *j = cJSON_ParseWithLength(g->body.data ? g->body.data : "", g->body.len);
    if (!j) return rg_fail(err, RG_EPARSE, "%s: the response is not JSON", g->url);
    rg_status st = read_choice(g, j, "message", err);
    cJSON_Delete(j);
    if (!st && !g->done && !g->delivered)
        st = rg_fail(err, RG_EPARSE, "%s: the response holds no answer", g->url);
    return st;
}

static rg_status oa_generate(void *self, const rg_gen_request *req, rg_buf *out, rg_gen_result *res,
                             rg_error *err)
{
    openai *g = self;
    g->req = req, g->out = out, g->res = res;
    g->delivered = 0, g->done = 0, g->cancelled = 0;
    char auth[RG_LLM_KEY_MAX + 32] = "";
    if (g->api_key && g->api_key[0])
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", g->api_key);
    const char *headers[] = {"Content-Type: application/json",
                             g->o.stream ? "Accept: text/event-stream" : "Accept: application/json",
                             "Expect:", auth[0] ? auth : NULL, NULL};
    char *body = request_json(g, req->prompt);
    if (!body) return rg_fail(err, RG_ENOMEM, "out of memory");
    rg_llm_call call = {
        g->url, headers,  body,         strlen(body), g->o.stream ? on_stream_data : on_body_data,
        g,      on_reset, on_delivered, req->cancel};
    int cancelled;
    rg_status st = rg_llm_post(g->http, &g->o, &call, &cancelled, err);
    rg_free(body);
    /* a whole body is read, and its text delivered, here: before the cancel check,
     * so that a caller stopping at that piece gets RG_FINISH_CANCELLED too */
    if (!st && !g->o.stream && !g->cancelled && !cancelled) st = finish_body(g, err);
    if (g->cancelled || cancelled) {
        rg_error_clear(err);
        res->finish = RG_FINISH_CANCELLED;
        return RG_OK;
    }
    if (!st && g->o.stream && !g->done)
        st = rg_fail(err, RG_ENET, "%s: the stream ended before the answer was complete", g->url);
    return st;
}

static const char *oa_model(void *self)
{
    return ((openai *)self)->model;
}

static void oa_close(void *self)
{
    openai *g = self;
    if (!g) return;
    rg_http_close(g->http);
    rg_sse_free(g->sse);
    rg_buf_free(&g->body);
    rg_free(g->base_url);
    rg_free(g->model);
    rg_free(g->api_key);
    rg_free(g);
}

static const rg_generator_methods openai_methods = {RG_GENERATOR_VERSION, "openai", oa_generate,
                                                    oa_model, oa_close};

rg_status rg_llm_http_open(rg_llm_options *o, const char *base_url, rg_http **out, rg_error *err)
{
    *out = NULL;
    rg_addr_class c;
    rg_status st = rg_http_url_host_class(base_url, &c, err);
    if (st) return st;
    if (!rg_addr_allowed(c, o->allow))
        return rg_fail(err, RG_EINVAL,
                       "%s is a %s address; local LLM servers must be allowed explicitly", base_url,
                       rg_addr_class_name(c));
    if (o->connect_timeout_ms <= 0) o->connect_timeout_ms = RG_LLM_CONNECT_TIMEOUT_MS;
    if (o->timeout_ms <= 0) o->timeout_ms = RG_LLM_TIMEOUT_MS;
    if (o->max_retries < 0) o->max_retries = RG_LLM_MAX_RETRIES;
    if (o->backoff_ms <= 0) o->backoff_ms = RG_LLM_BACKOFF_MS;
    if (o->max_backoff_ms <= 0) o->max_backoff_ms = RG_LLM_MAX_BACKOFF_MS;
    rg_http_options ho = rg_http_default_options();
    ho.connect_timeout_ms = o->connect_timeout_ms;
    ho.timeout_ms = o->timeout_ms;
    ho.max_body = RG_LLM_MAX_RESPONSE;
    ho.allow = o->allow;
    return rg_http_open(&ho, out, err);
}

rg_status rg_llm_copy_strings(const rg_llm_options *o, char **base_url, char **model,
                              char **api_key, rg_error *err)
{
    *base_url = *model = *api_key = NULL;
    if (!o->base_url || !o->base_url[0] || !o->model || !o->model[0])
        return rg_fail(err, RG_EINVAL, "an LLM needs a base URL and a model name");
    if (strlen(o->model) > RG_LLM_NAME_MAX)
        return rg_fail(err, RG_EINVAL, "model name longer than %d bytes", RG_LLM_NAME_MAX);
    if (strlen(o->base_url) >= RG_HTTP_URL_MAX - RG_LLM_NAME_MAX)
        return rg_fail(err, RG_EINVAL, "base URL too long");
    const char *key = o->api_key;
    if (!key) key = getenv(o->api_key_env ? o->api_key_env : RG_LLM_DEFAULT_KEY_ENV);
    if (key && strlen(key) > RG_LLM_KEY_MAX)
        return rg_fail(err, RG_EINVAL, "API key longer than %d bytes", RG_LLM_KEY_MAX);
    *base_url = rg_strdup(o->base_url);
    *model = rg_strdup(o->model);
    *api_key = key && key[0] ? rg_strdup(key) : NULL;
    if (!*base_url || !*model || (key && key[0] && !*api_key))
        return rg_fail(err, RG_ENOMEM, "out of memory");
    size_t n = strlen(*base_url);
    while (n && (*base_url)[n - 1] == '/') /* ".../v1/" and ".../v1" name the same API */
        (*base_url)[--n] = 0;
    return RG_OK;
}

rg_status rg_openai_open(const rg_llm_options *opt, rg_generator *out, rg_error *err)
{
    *out = (rg_generator){0};
    openai *g = rg_calloc(1, sizeof *g);
    if (!g) return rg_fail(err, RG_ENOMEM, "out of memory");
    g->o = opt ? *opt : rg_llm_default_options();
    rg_buf_init(&g->body, RG_LLM_MAX_RESPONSE);
    rg_status st = rg_llm_copy_strings(&g->o, &g->base_url, &g->model, &g->api_key, err);
    if (!st) st = rg_llm_http_open(&g->o, g->base_url, &g->http, err);
    if (!st &&
        snprintf(g->url, sizeof g->url, "%s/chat/completions", g->base_url) >= (int)sizeof g->url)
        st = rg_fail(err, RG_EINVAL, "base URL longer than %d bytes", RG_HTTP_URL_MAX);
    if (!st) st = rg_sse_new(0, 0, on_event, g, &g->sse, err);
    if (st) {
        oa_close(g);
        return st;
    }
    *out = (rg_generator){&openai_methods, g};
    return RG_OK;
}
