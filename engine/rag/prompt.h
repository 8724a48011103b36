/*
 * prompt.h — the grounded prompt an LLM generator is sent.
 *
 * The system message tells the model to answer only from the numbered
 * sources, to cite every claim with [n], to answer in the question's
 * language, to say the documents do not contain the answer when they do
 * not, and to treat source text as data, never as instructions. The user
 * message holds the sources, each in a <source id="n" title="..."> block,
 * then the question. Source text is made inert first (rg_text_neutralise):
 * its citation markers become "(n)" and its angle brackets ‹ ›, so a
 * document can neither close its own block, open a role tag nor forge a
 * source number. Sources are taken best first while the prompt fits the
 * token budget; the first that does not fit is dropped whole, with every
 * one after it.
 */
#ifndef RG_RAG_PROMPT_H
#define RG_RAG_PROMPT_H

#include <stddef.h>

#include "engine/base/status.h"
#include "engine/rag/citations.h"

/* Longest prompt built (bytes), whatever the budget says. */
#define RG_PROMPT_MAX_BYTES (4u << 20)
/* Default token budget of the whole prompt (system, sources, question). */
#define RG_PROMPT_DEFAULT_BUDGET 3000

/* Counts tokens of s[0..n) for the budget. */
typedef size_t (*rg_prompt_count_fn)(void *ctx, const char *s, size_t n);

typedef struct rg_prompt_options {
    size_t budget_tokens;        /* RG_PROMPT_DEFAULT_BUDGET */
    rg_prompt_count_fn count;    /* NULL: the chunker's approximate WordPiece count */
    void *count_ctx;
} rg_prompt_options;

rg_prompt_options rg_prompt_default_options(void);

/* A built prompt. Strings are owned by it (rg_prompt_free). */
typedef struct rg_prompt {
    char *system;
    char *user;
    size_t n_sources; /* sources included: the first n_sources of those offered */
    size_t tokens;    /* counted tokens of system + user */
} rg_prompt;

/*
 * Builds the prompt for question from sources[0..n) (best first). Fewer
 * sources than offered, even none, is not an error: see out->n_sources.
 * Errors: RG_EINVAL (empty question), RG_ELIMIT (the question alone exceeds
 * the budget, or more than RG_ANSWER_SOURCES_MAX sources), RG_ENOMEM.
 */
rg_status rg_prompt_build(const char *question, const rg_source *sources, size_t n,
                          const rg_prompt_options *opt, rg_prompt *out, rg_error *err);
void rg_prompt_free(rg_prompt *p);

/* The refusal sentence in the question's language (Chinese or English). Static. */
const char *rg_prompt_refusal(const char *question);

#endif
