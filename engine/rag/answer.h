/*
 * answer.h — the answer pipeline: retrieve, refuse or prompt, generate,
 * check citations, and hand back one rg_answer.
 *
 * Refusal comes first and costs no generation: when retrieval finds
 * nothing, or finds nothing relevant enough, the answer is "the documents
 * do not contain the answer" in the question's language. Fused scores only
 * rank, so relevance is judged on an absolute signal from the legs
 * (rg_search_stats):
 *   similarity  the dense leg's best cosine, when the dense leg ran;
 *   coverage    otherwise (lexical mode, or a query in a script the model
 *               does not know): the idf-weighted share of the question's
 *               terms the best lexical chunk holds, in [0, 1).
 * The default thresholds were calibrated with `ragd eval --answers
 * --holdout` on the development datasets (README, Answers): questions whose
 * documents were held out of the collection against questions whose
 * documents were in it.
 *
 * The JSON form (rg_answer_to_json, citations.h): answer, ai_generated,
 * generator, model, fallback, refused, refusal_reason, supported_share,
 * removed_sentences, mode, best_score, relevance {signal, value},
 * prompt {sources, tokens} (what the generator was given; 0 when refused
 * before a prompt was built), citations[] (number, document_id,
 * title, source, chunk_id, byte_start, byte_end, page for paged documents
 * such as PDF (1-based, the page the passage starts on), passage,
 * passage_start, passage_end (the passage's span in the document), score),
 * sentences[] (start, end, support, reason), timings_ms (retrieve, prompt,
 * generate, check, total). With a conversation (options.history set) also
 * rewritten_query, rewrite {method, ms, fallback_reason when the LLM's
 * rewrite was not used} and timings_ms.rewrite; without one the JSON is
 * as it was before conversations existed.
 *
 * Conversations: the question is a follow-up to options.history. It is
 * rewritten into a standalone query first (rewrite.h: by options.rewriter,
 * else the plain heuristic), and that query is what retrieval searches
 * and what the extractive generator matches sentences against. An LLM
 * generator is shown the question as the user wrote it and the standalone
 * query after it (prompt.h). Refusals stay in the language of the
 * question as written.
 */
#ifndef RG_RAG_ANSWER_H
#define RG_RAG_ANSWER_H

#include <stddef.h>

#include "engine/base/status.h"
#include "engine/rag/citations.h"
#include "engine/rag/generator.h"
#include "engine/rag/prompt.h"
#include "engine/rag/rewrite.h"
#include "index/search.h"
#include "index/store.h"

/* Chunks retrieved for an answer unless the options say otherwise. */
#define RG_ANSWER_DEFAULT_K 5
/* Default refusal thresholds (see above). */
#define RG_ANSWER_MIN_SIMILARITY 0.35
#define RG_ANSWER_MIN_COVERAGE   0.08
/* Coverage threshold for a question in CJK script (rg_text_is_cjk): its
 * terms are character bigrams, which a near-miss passage shares far more of
 * than it shares words. Calibrated on cmrc2018 (Chinese); Japanese and
 * Korean, indexed as bigrams too, take it uncalibrated. A follow-up whose
 * plain rewrite joined earlier questions to it (rewrite.h) keeps
 * RG_ANSWER_MIN_COVERAGE: no one passage covers several questions. So does
 * a store of fewer than RG_ANSWER_CJK_MIN_CHUNKS chunks, where too few
 * characters are common for the seams between a question's words to be
 * told from missing words (rg_lexical_ideal), and coverage runs low. */
#define RG_ANSWER_MIN_COVERAGE_CJK 0.25
#define RG_ANSWER_CJK_MIN_CHUNKS   100

typedef struct rg_answer_options {
    size_t k;                   /* chunks retrieved, 1..RG_ANSWER_SOURCES_MAX (5) */
    const char *collection;     /* NULL: all */
    rg_search_mode mode;        /* hybrid */
    double min_similarity;      /* refuse below this dense cosine; NAN: RG_ANSWER_MIN_SIMILARITY */
    double min_coverage;        /* refuse below this lexical coverage; NAN: RG_ANSWER_MIN_COVERAGE,
                                 * or RG_ANSWER_MIN_COVERAGE_CJK for a CJK question */
    rg_prompt_options prompt;
    rg_cite_options cite;
    rg_generator *fallback;     /* borrowed, may be NULL: used when the generator fails */
    rg_token_fn on_token;       /* streaming, may be NULL (not called for refusals) */
    void *token_ctx;
    const volatile int *cancel; /* may be NULL */
    const rg_reader *reader;    /* borrowed, may be NULL: whose access lists apply (search.h) */
    /* The conversation before the question, oldest first (rewrite.h), borrowed.
       NULL: none, and the answer has no rewrite fields; non-NULL with
       n_history 0: a conversation just begun (rewrite method "none"). */
    const rg_turn *history;
    size_t n_history;
    rg_generator *rewriter; /* borrowed, may be NULL: the plain rewrite */
} rg_answer_options;

rg_answer_options rg_answer_default_options(void);

/*
 * Answers question from the store s through the searcher q and generator
 * gen (both borrowed). *out (zeroed by the call) is owned by the caller:
 * rg_answer_free. A refusal is a successful answer with refused = 1.
 * Errors: those of rg_search_run and the store, the generator's when
 * there is no fallback, those of rg_rewrite_query (a history over its
 * limits), RG_ENOMEM; *out is then empty.
 */
rg_status rg_answer_question(rg_search *q, rg_store *s, rg_generator *gen, const char *question,
                             const rg_answer_options *opt, rg_answer *out, rg_error *err);

#endif
