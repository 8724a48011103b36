/*
 * gen_openai.h — the generator that asks an OpenAI-compatible server
 * (OpenAI, llama.cpp's server, vLLM, Ollama's /v1) through
 * POST {base_url}/chat/completions, streaming or not.
 *
 * The request carries the grounded prompt (prompt.h) as a system and a
 * user message. Streamed answers arrive as Server-Sent Events (sse.h),
 * parsed as bytes come: each choices[0].delta.content goes to the request's
 * token callback at once; an "error" event, or an event whose JSON holds
 * "error", fails the call with the server's message; the stream is
 * complete at "[DONE]" or a finish_reason, and a stream that ends before
 * either was cut (RG_ENET), so the caller falls back.
 *
 * Transport (shared with gen_ollama.c): each request is bounded by a
 * connect timeout and one total deadline for all its attempts. A
 * connection error, HTTP 429 or 5xx is retried, up to max_retries times,
 * after a jittered exponential back-off (or the server's Retry-After when
 * longer), but only while no token has been passed on: a retry then would
 * repeat text the caller already has. The SSRF guard of http.h applies:
 * loopback or private servers must be allowed explicitly (allow).
 */
#ifndef RG_RAG_GEN_OPENAI_H
#define RG_RAG_GEN_OPENAI_H

#include <stddef.h>

#include "engine/base/buf.h"
#include "engine/base/http.h"
#include "engine/base/status.h"
#include "engine/rag/generator.h"

#define RG_LLM_DEFAULT_KEY_ENV    "OPENAI_API_KEY"
#define RG_LLM_CONNECT_TIMEOUT_MS 10000
/* Deadline of one generation, all attempts and back-offs together. */
#define RG_LLM_TIMEOUT_MS     120000
#define RG_LLM_MAX_RETRIES    3
#define RG_LLM_BACKOFF_MS     500
#define RG_LLM_MAX_BACKOFF_MS 8000
/* A Retry-After longer than this is not waited for: the call fails. */
#define RG_LLM_MAX_RETRY_AFTER_MS 30000
/* Longest non-streamed response body, and longest error body kept. */
#define RG_LLM_MAX_RESPONSE   (8u << 20)
#define RG_LLM_ERROR_BODY_MAX 4096
/* Longest model name, base URL and API key accepted. */
#define RG_LLM_NAME_MAX 256
#define RG_LLM_KEY_MAX  1024

/* Options of both LLM generators (OpenAI-compatible and Ollama). */
typedef struct rg_llm_options {
    const char *base_url;    /* e.g. "https://api.openai.com/v1" or "http://127.0.0.1:11434" */
    const char *model;       /* required */
    const char *api_key;     /* NULL: read from the environment variable api_key_env */
    const char *api_key_env; /* RG_LLM_DEFAULT_KEY_ENV; a missing key sends no Authorization */
    double temperature;      /* 0.2; < 0: the server's default */
    long max_tokens;         /* 512; <= 0: the server's default */
    long connect_timeout_ms; /* <= 0: RG_LLM_CONNECT_TIMEOUT_MS */
    long timeout_ms;         /* <= 0: RG_LLM_TIMEOUT_MS */
    int max_retries;         /* < 0: RG_LLM_MAX_RETRIES */
    long backoff_ms;         /* first back-off; <= 0: RG_LLM_BACKOFF_MS */
    long max_backoff_ms;     /* <= 0: RG_LLM_MAX_BACKOFF_MS */
    int stream;              /* 1: streamed answer (default) */
    unsigned allow;          /* RG_HTTP_ALLOW_* bits: 0 reaches public addresses only */
} rg_llm_options;

rg_llm_options rg_llm_default_options(void);

/*
 * Makes an OpenAI-compatible generator in *out (close it with
 * rg_generator_close). Strings of opt are copied. Errors: RG_EINVAL (no
 * base URL or model, a URL that does not parse, a loopback or private
 * server that opt->allow does not allow), RG_ENOMEM.
 */
rg_status rg_openai_open(const rg_llm_options *opt, rg_generator *out, rg_error *err);

/* ---- Transport shared by the LLM generators ---- */

/* One POST and what its body goes to; the callbacks get ctx. */
typedef struct rg_llm_call {
    const char *url;
    const char *const *headers; /* NULL-terminated */
    const char *body;
    size_t body_len;
    rg_http_data_fn on_data; /* body bytes of a 2xx response */
    void *ctx;
    /* Before each attempt: forget the partial response of the one before. */
    void (*reset)(void *ctx);
    /* Non-zero once a token was passed on: no retry after that. */
    int (*delivered)(void *ctx);
    const volatile int *cancel; /* may be NULL; polled during back-offs */
} rg_llm_call;

/*
 * POSTs with retries (see the top of this file). RG_OK means a 2xx
 * response arrived whole; a 4xx other than 429 fails with RG_EINVAL and
 * the server's message; other errors are those of rg_http_get, the last
 * attempt's. RG_OK with *cancelled set when cancel became non-zero.
 */
rg_status rg_llm_post(rg_http *h, const rg_llm_options *o, const rg_llm_call *call, int *cancelled,
                      rg_error *err);

/*
 * Fills o's defaults in place, checks base_url's host against o->allow
 * (so a refused endpoint fails at once, not after retries) and opens a
 * client with o's timeouts. Errors: RG_EINVAL, RG_ENOMEM.
 */
rg_status rg_llm_http_open(rg_llm_options *o, const char *base_url, rg_http **out, rg_error *err);

/*
 * Checks o's base URL, model and key (o->api_key, else the environment)
 * and copies them; *api_key is NULL without a key. The copies are the
 * caller's (rg_free), also on failure. Trailing '/' of the URL are cut.
 * Errors: RG_EINVAL, RG_ENOMEM.
 */
rg_status rg_llm_copy_strings(const rg_llm_options *o, char **base_url, char **model,
                              char **api_key, rg_error *err);

/*
 * A status no transfer produces: a stream callback's way to say "the caller
 * cancelled" (rg_status has no code of its own for it).
 */
#define RG_LLM_CANCELLED RG_EINTERNAL

/*
 * Passes a piece of generated text on: appended to out (within its limit),
 * *delivered advanced, then given to req->on_token. Returns RG_LLM_CANCELLED
 * with *cancelled set when req->cancel is raised or on_token asks to stop;
 * RG_ELIMIT / RG_ENOMEM with a message when out cannot take it.
 */
rg_status rg_llm_deliver(const rg_gen_request *req, rg_buf *out, size_t *delivered, int *cancelled,
                         const char *s, size_t n, rg_error *err);

/* The server's message of an error body: JSON error.message, error, or the text itself. */
void rg_llm_error_message(const char *body, size_t n, char *out, size_t cap);

#endif
