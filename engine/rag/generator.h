/*
 * generator.h — the pluggable answer writer: given the grounded prompt and
 * the numbered sources, produce text that cites them with [n].
 *
 * A generator is a const table of methods plus a per-instance context, as
 * sqlite3_vfs is: the extractive generator (extractive.h) is the first
 * implementation; OpenAI-compatible chat and Ollama clients plug in the
 * same way. Callers go through the rg_generate / rg_generator_close
 * wrappers below, never the table.
 *
 * Contract of generate():
 * - Text is appended to out as it is produced. When req->on_token is set,
 *   each piece is also passed to it, in order, before generate returns;
 *   the pieces concatenated equal what was appended to out.
 * - If on_token returns non-zero, or *req->cancel becomes non-zero, the
 *   generator stops as soon as it can and returns RG_OK with
 *   res->finish = RG_FINISH_CANCELLED; out keeps what was produced.
 * - On an error (RG_ENET, RG_ETIMEOUT, RG_EPARSE for a malformed stream,
 *   RG_ELIMIT ...) the pieces already delivered stay delivered and out
 *   holds them; the caller decides whether to fall back (the answer then
 *   says fallback: true).
 * - A generator may decline to answer (the sources do not contain it):
 *   res->refused = 1 and out holds the refusal in the question's language.
 * An instance is used by one thread at a time.
 */
#ifndef RG_RAG_GENERATOR_H
#define RG_RAG_GENERATOR_H

#include <stddef.h>

#include "engine/base/buf.h"
#include "engine/base/status.h"
#include "engine/rag/citations.h"
#include "engine/rag/prompt.h"

#define RG_GENERATOR_VERSION 1

/* Receives each piece of generated text. Return non-zero to cancel. */
typedef int (*rg_token_fn)(void *ctx, const char *piece, size_t n);

typedef struct rg_gen_request {
    const char *question;
    const rg_prompt *prompt;    /* what an LLM is sent */
    const rg_source *sources;   /* the prompt's sources, [1] first; what extractive reads */
    size_t n_sources;
    rg_token_fn on_token;       /* may be NULL */
    void *token_ctx;
    const volatile int *cancel; /* may be NULL; polled between pieces */
} rg_gen_request;

typedef enum rg_gen_finish {
    RG_FINISH_STOP,      /* the answer is complete */
    RG_FINISH_LENGTH,    /* cut at the generator's token limit */
    RG_FINISH_CANCELLED, /* the caller stopped it */
} rg_gen_finish;

typedef struct rg_gen_result {
    rg_gen_finish finish;
    int refused;                    /* the generator found no answer in the sources */
    size_t prompt_tokens;           /* as reported by the server; 0 if unknown */
    size_t completion_tokens;
} rg_gen_result;

typedef struct rg_generator_methods {
    int version;      /* RG_GENERATOR_VERSION */
    const char *name; /* "extractive", "openai", "ollama" */
    rg_status (*generate)(void *self, const rg_gen_request *req, rg_buf *out,
                          rg_gen_result *res, rg_error *err);
    /* The model in use ("" for none); lives as long as the instance. */
    const char *(*model)(void *self);
    void (*close)(void *self);
} rg_generator_methods;

typedef struct rg_generator {
    const rg_generator_methods *methods;
    void *self; /* owned by the generator; released by close */
} rg_generator;

static inline rg_status rg_generate(rg_generator *g, const rg_gen_request *req, rg_buf *out,
                                    rg_gen_result *res, rg_error *err)
{
    *res = (rg_gen_result){RG_FINISH_STOP, 0, 0, 0};
    return g->methods->generate(g->self, req, out, res, err);
}

static inline const char *rg_generator_name(const rg_generator *g)
{
    return g->methods->name;
}

static inline const char *rg_generator_model(const rg_generator *g)
{
    return g->methods->model ? g->methods->model(g->self) : "";
}

/* Closes the instance; g may be NULL or already closed. */
static inline void rg_generator_close(rg_generator *g)
{
    if (g && g->methods && g->methods->close) g->methods->close(g->self);
    if (g) g->methods = NULL, g->self = NULL;
}

#endif
