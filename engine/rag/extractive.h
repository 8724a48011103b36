/*
 * extractive.h — the generator that needs no LLM: it answers with the one
 * to three sentences of the top sources that best answer the question,
 * each cited with [n].
 *
 * Candidate sentences come from the best-ranked sources. Each is scored by
 * term overlap with the question (words; character bigrams for CJK; the
 * source's title counts half) plus, when an encoder is given and the model
 * covers the question's script, the cosine between the question's and the
 * sentence's embeddings. The best sentence is kept, and up to two more that
 * score nearly as well. Sentences are copied verbatim except for white
 * space runs (one space) and citation-like markers of the document
 * ("[3]" -> "(3)"), so the answer can never cite a source by accident.
 * Deterministic: the same sources give the same answer. When no sentence
 * scores above the floor it refuses in the question's language.
 * The text it writes is what an LLM's would be: rg_citations_check
 * validates it the same way.
 */
#ifndef RG_RAG_EXTRACTIVE_H
#define RG_RAG_EXTRACTIVE_H

#include <stddef.h>

#include "engine/base/status.h"
#include "engine/nn/encoder.h"
#include "engine/rag/generator.h"
#include "index/dense.h"

/* Most candidate sentences embedded per question (the rest are scored by terms only). */
#define RG_EXTRACT_MAX_EMBED 64
/* Most candidate sentences considered per question. */
#define RG_EXTRACT_MAX_CANDIDATES 2000
#define RG_EXTRACT_MAX_SENTENCES 3

typedef struct rg_extractive_options {
    rg_encoder *encoder;   /* borrowed, may be NULL (terms only); must outlive the generator */
    rg_dense *dense;       /* borrowed, may be NULL: when set, the encoder is used only for
                              questions whose script the model covers (rg_dense_covers) */
    const char *model;     /* reported as the answer's model, e.g. the encoder's name */
    size_t max_sources;    /* sources read, best first (default 4) */
    size_t max_sentences;  /* 1..RG_EXTRACT_MAX_SENTENCES (default 3) */
    double keep_ratio;     /* a further sentence must score >= keep_ratio * best (0.75) */
    double min_score;      /* refuse when the best sentence scores below this (0.12) */
} rg_extractive_options;

rg_extractive_options rg_extractive_default_options(void);

/*
 * Makes an extractive generator in *out (close it with rg_generator_close).
 * opt may be NULL. Errors: RG_EINVAL (bad options), RG_ENOMEM.
 */
rg_status rg_extractive_open(const rg_extractive_options *opt, rg_generator *out, rg_error *err);

#endif
