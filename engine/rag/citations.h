/*
 * citations.h — from generated text to a checked, cited answer.
 *
 * A generator writes text that cites numbered sources ([1], [1, 3], [2-4],
 * 【2】). rg_citations_check parses those markers, drops the ones that point
 * at no source, renumbers the rest in order of first use, splits the text
 * into sentences and checks each cited sentence against the sources it
 * cites: every number, date and quoted string in it must occur in one of
 * them, and enough of its content words (CJK: character bigrams) must.
 * Unsupported sentences are flagged, or removed when the options say so.
 * The result is an rg_answer: the text, its citations (document, title,
 * source, chunk, byte span, quoted passage), the share of supported
 * sentences, and room for the pipeline's refusal, generator and timings.
 * rg_answer_to_json writes it for the CLI and the HTTP API.
 */
#ifndef RG_RAG_CITATIONS_H
#define RG_RAG_CITATIONS_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "engine/base/status.h"
#include "engine/rag/text.h"

/* Most sources one answer may cite (prompts number at most this many). */
#define RG_ANSWER_SOURCES_MAX 64
/* Most citation markers parsed from one text (RG_ELIMIT beyond). */
#define RG_CITE_MARKERS_MAX 4096
/* Longest generated text checked (bytes). */
#define RG_ANSWER_TEXT_MAX (1u << 20)
/* Longest quoted passage kept per citation (bytes, cut on a UTF-8 boundary). */
#define RG_PASSAGE_MAX_BYTES 600
#define RG_ANSWER_REASON_MAX 256
#define RG_ANSWER_NAME_MAX 128

/*
 * A numbered source as the generator saw it: source i is cited as [i + 1].
 * Strings are borrowed and must outlive the check (not the answer: the
 * answer copies what it keeps).
 */
typedef struct rg_source {
    int64_t doc_id;
    int64_t chunk_id;
    int64_t byte_start; /* the chunk's span in its document's text */
    int64_t byte_end;
    const char *title;
    const char *source_uri;
    const char *text; /* the chunk text */
    size_t text_len;
    float score;  /* retrieval score */
    int64_t page; /* 1-based page of a paged document (PDF) the chunk starts on, else 0 */
    const int64_t *page_breaks; /* borrowed: document offsets of later pages starting inside
                                   the chunk, ascending (rg_chunk_view), may be NULL */
    size_t n_page_breaks;
} rg_source;

/* Every marker of text[0..len), in order. *out is owned by the caller (rg_free). */
rg_status rg_citations_parse(const char *text, size_t len, rg_marker **out, size_t *n,
                             rg_error *err);

typedef struct rg_cite_options {
    /* share of a cited sentence's content terms that must occur in its sources (0.5) */
    double min_overlap;
    /* 1: drop unsupported and uncited sentences from the text; 0: flag them (default) */
    int remove_unsupported;
} rg_cite_options;

rg_cite_options rg_cite_default_options(void);

typedef enum rg_support {
    RG_SUPPORTED,
    RG_UNSUPPORTED, /* cites sources that do not carry it */
    RG_UNCITED,     /* cites nothing (or only sources that do not exist) */
} rg_support;

typedef struct rg_sentence_check {
    rg_span span;       /* in rg_answer.text */
    rg_support support;
    const char *reason; /* static: why it is not supported, "" when it is */
} rg_sentence_check;

typedef struct rg_citation {
    int number;         /* as it appears in rg_answer.text, 1.. */
    int source;         /* index into the sources the check was given */
    int64_t doc_id;
    int64_t chunk_id;
    int64_t byte_start;
    int64_t byte_end;
    char *title;      /* owned by the answer */
    char *source_uri; /* owned */
    char *passage;    /* owned: the chunk sentence that best backs the citing sentences,
                         a substring of the chunk text */
    int64_t passage_start; /* the passage's span in the document's text (bytes) */
    int64_t passage_end;
    float score;
    int64_t page; /* 1-based page of a paged document the passage starts on, else 0 */
} rg_citation;

typedef struct rg_answer_timings {
    double retrieve_ms;
    double prompt_ms;
    double generate_ms;
    double check_ms;
    double total_ms;
    double rewrite_ms; /* the follow-up's rewrite (rewrite.h), within total; 0 without one */
} rg_answer_timings;

/*
 * The answer object. rg_citations_check fills text, citations, sentences
 * and supported_share; the pipeline (answer.h) fills the rest. All
 * pointers are owned by the answer: rg_answer_free releases them.
 */
typedef struct rg_answer {
    char *text;
    size_t text_len;
    rg_citation *citations;
    size_t n_citations;
    rg_sentence_check *sentences;
    size_t n_sentences;
    double supported_share; /* supported sentences / sentences; 1 when there are none */
    size_t removed;         /* sentences removed as unsupported */
    int refused;
    char reason[RG_ANSWER_REASON_MAX];      /* why it was refused, "" otherwise */
    int fallback;                           /* the configured generator failed */
    char generator[RG_ANSWER_NAME_MAX];     /* "extractive", "openai", ... */
    char model[RG_ANSWER_NAME_MAX];
    char mode[RG_ANSWER_NAME_MAX];          /* retrieval mode */
    double best_score;                      /* retrieval score of the best chunk */
    char relevance_signal[RG_ANSWER_NAME_MAX]; /* "similarity", "coverage" or "" (answer.h) */
    double relevance;                       /* its value (what refusal compared), NAN if none */
    size_t prompt_sources;                  /* sources the generator was given */
    size_t prompt_tokens;                   /* the prompt's counted tokens (prompt.h) */
    rg_answer_timings timings;
    /* A follow-up in a conversation (rewrite.h); all empty without one. */
    char *rewritten_query;                 /* owned: the query retrieval was given */
    char rewrite[RG_ANSWER_NAME_MAX];      /* how: "none", "llm", "plain", "plain-fallback" */
    char rewrite_reason[RG_ERROR_MSG_MAX]; /* plain-fallback: why the LLM's was not used */
} rg_answer;

/*
 * Checks text[0..len) against sources[0..n_sources) and fills ans (which
 * must be zeroed or freed; on failure it is left empty). Errors: RG_ELIMIT
 * (text longer than RG_ANSWER_TEXT_MAX, too many markers, more than
 * RG_ANSWER_SOURCES_MAX sources), RG_ENOMEM.
 */
rg_status rg_citations_check(const char *text, size_t len, const rg_source *sources,
                             size_t n_sources, const rg_cite_options *opt, rg_answer *ans,
                             rg_error *err);

/* Releases what ans owns and zeroes it. */
void rg_answer_free(rg_answer *ans);

/*
 * The answer as a JSON object (see docs in answer.h for the fields).
 * *out is owned by the caller (cJSON_Delete). RG_ENOMEM on failure.
 */
rg_status rg_answer_to_json(const rg_answer *ans, cJSON **out, rg_error *err);

#endif
