/*
 * chunker.h — splitting a document into overlapping, sentence-aligned chunks.
 *
 * Sentences end at . ! ? (followed by space or end) in alphabetic scripts and
 * at 。！？；… (full-width and half-width forms) in CJK text; block ends
 * (paragraphs, headings, list items) are sentence ends too. Sentences are
 * packed greedily up to target_tokens; the next chunk starts with whole
 * sentences from the end of the previous one worth up to overlap_tokens. A
 * sentence longer than target_tokens is cut at a word boundary (a space, or
 * next to a CJK character), never inside a UTF-8 sequence; a run with no such
 * boundary (a long URL, base64) is cut between two characters. A heading
 * starts a new chunk (headings that follow one another directly share it),
 * and no overlap crosses a heading. Code blocks are cut into
 * lines instead of sentences. A table row is one unit, never cut at its
 * sentence ends, so a row that fits the target stays in one chunk (a longer
 * one is cut like a long sentence). Chunk spans are byte offsets into
 * rg_document.text.
 *
 * Packing adds up the token counts of sentences; a chunk's token_count is
 * counted again over its whole span, so with a tokenizer that is not
 * additive it may differ slightly from the sum.
 */
#ifndef RG_CHUNKER_H
#define RG_CHUNKER_H

#include <stddef.h>

#include "engine/base/status.h"
#include "ingest/document.h"

/* No document is cut into more chunks than this (RG_ELIMIT beyond). */
#define RG_CHUNKS_MAX_PER_DOC 200000u

/*
 * Counts the tokens of s[0..n). The default (ctx ignored) approximates a
 * WordPiece tokenizer: one token per CJK character, about one per short word
 * plus one per 4 further bytes of long words, one per punctuation mark. The
 * encoder's tokenizer replaces it once a model is bound to the collection.
 */
typedef size_t (*rg_token_count_fn)(void *ctx, const char *s, size_t n);
size_t rg_approx_token_count(void *ctx, const char *s, size_t n);

/*
 * 1 if the embedding model reads text[0..n) (rg_encoder_covers). A document
 * it cannot read is found only by the lexical index; it is cut at
 * lexical_target_tokens instead of target_tokens, which exists to fit the
 * model's window. Longer passages serve words-only retrieval and extractive
 * answers better: on cmrc2018 (Chinese) with an English-only model, the
 * chunk an extractive answer cites holds the gold answer 0.96 of the time
 * at 512 tokens, 0.88 at 200 (README, Answers).
 */
typedef int (*rg_covers_fn)(void *ctx, const char *text, size_t n);

/* A document the model cannot read is cut at this many tokens by default. */
#define RG_CHUNK_LEXICAL_TARGET 512

typedef struct rg_chunk_options {
    size_t target_tokens;           /* default 200 */
    size_t overlap_tokens;          /* default 40; must be < target_tokens */
    rg_token_count_fn count_tokens; /* default rg_approx_token_count */
    void *count_ctx;
    rg_covers_fn covers; /* NULL (the default): every document is cut at target_tokens */
    void *covers_ctx;
    size_t lexical_target_tokens; /* default RG_CHUNK_LEXICAL_TARGET; 0: target_tokens; must be
                                   * > overlap_tokens */
} rg_chunk_options;

rg_chunk_options rg_chunk_default_options(void);

typedef struct rg_chunk {
    size_t start; /* byte span in the document text */
    size_t end;
    size_t token_count; /* as counted by options.count_tokens */
    long section;       /* block index of the heading the chunk starts under, -1 if none */
} rg_chunk;

/*
 * Chunks doc. Errors: RG_EINVAL (bad options, or block spans that are out
 * of order or outside the text), RG_ELIMIT, RG_ENOMEM. On success *chunks (owned by the caller,
 * rg_free) holds *n chunks in document order; an empty document gives zero chunks and RG_OK. Every
 * chunk is non-empty, starts and ends on UTF-8 boundaries and has no leading or trailing white
 * space.
 */
rg_status rg_chunk_document(const rg_document *doc, const rg_chunk_options *opt, rg_chunk **chunks,
                            size_t *n, rg_error *err);

#endif
