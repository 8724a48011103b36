/*
 * answer.h — the answer pipeline: retrieve, refuse or prompt, generate,
 * check citations, and hand back one rg_answer.
 *
 * Refusal comes first and costs no generation: when retrieval finds
 * nothing, or its best score is below min_score, the answer is "the
 * documents do not contain the answer" in the question's language. What a
 * score means depends on the retrieval mode, so the threshold does too:
 *   dense    cosine similarity of query and chunk embeddings, in [-1, 1];
 *            unrelated text scores about 0-0.2 with MiniLM-class models.
 *   lexical  BM25 of the chunk: unbounded, grows with the number and
 *            rarity of matched terms; comparable only within one corpus.
 *   hybrid   reciprocal rank fusion, sum of w / (60 + rank) over the legs:
 *            at most about 2/61 = 0.033 (first in both legs), 1/61 = 0.016
 *            when one leg alone ranks it first. Rank-based, so it says
 *            nothing about absolute relevance; its default only refuses
 *            when nothing matched.
 * rg_answer_default_min_score gives the per-mode defaults; calibrating them
 * on development data is the job of `ragd eval --answers`.
 *
 * The JSON form (rg_answer_to_json, citations.h): answer, ai_generated,
 * generator, model, fallback, refused, refusal_reason, supported_share,
 * removed_sentences, mode, best_score, citations[] (number, document_id,
 * title, source, chunk_id, byte_start, byte_end, passage, score),
 * sentences[] (start, end, support, reason), timings_ms (retrieve, prompt,
 * generate, check, total).
 */
#ifndef RG_RAG_ANSWER_H
#define RG_RAG_ANSWER_H

#include <stddef.h>

#include "engine/base/status.h"
#include "engine/rag/citations.h"
#include "engine/rag/generator.h"
#include "engine/rag/prompt.h"
#include "index/search.h"
#include "index/store.h"

/* Chunks retrieved for an answer unless the options say otherwise. */
#define RG_ANSWER_DEFAULT_K 5

typedef struct rg_answer_options {
    size_t k;                   /* chunks retrieved, 1..RG_ANSWER_SOURCES_MAX (5) */
    const char *collection;     /* NULL: all */
    rg_search_mode mode;        /* hybrid */
    double min_score;           /* refusal threshold; NAN: rg_answer_default_min_score(mode) */
    rg_prompt_options prompt;
    rg_cite_options cite;
    rg_generator *fallback;     /* borrowed, may be NULL: used when the generator fails */
    rg_token_fn on_token;       /* streaming, may be NULL (not called for refusals) */
    void *token_ctx;
    const volatile int *cancel; /* may be NULL */
} rg_answer_options;

rg_answer_options rg_answer_default_options(void);

/* Default refusal threshold of a retrieval mode (see the table above). */
double rg_answer_default_min_score(rg_search_mode mode);

/*
 * Answers question from the store s through the searcher q and generator
 * gen (both borrowed). *out (zeroed by the call) is owned by the caller:
 * rg_answer_free. A refusal is a successful answer with refused = 1.
 * Errors: those of rg_search_run and the store, the generator's when
 * there is no fallback, RG_ENOMEM; *out is then empty.
 */
rg_status rg_answer_question(rg_search *q, rg_store *s, rg_generator *gen, const char *question,
                             const rg_answer_options *opt, rg_answer *out, rg_error *err);

#endif
