/*
 * lexical.h — lexical search: ragd's FTS5 tokenizer and a BM25 index built
 * for top-k.
 *
 * The tokenizer "ragd" is registered on a connection through fts5_api. It
 * emits words of alphabetic scripts lower-cased and case-folded (utf8proc),
 * numbers as words (digits with inner '.' or ',' kept: 3.14, 1,000), and CJK
 * text (Han, Hiragana, Katakana, Hangul) as unigrams plus overlapping
 * bigrams, the bigram colocated (FTS5_TOKEN_COLOCATED) with its first
 * character, so that one- and two-character Chinese queries match inside
 * longer text. English stemming is FTS5's own "porter" wrapped around it:
 * tokenize = 'porter ragd'.
 *
 * FTS5 ranks every match of every query term, which is too slow for top-k
 * at scale, so rg_lexical keeps its own in-memory postings (term -> chunk
 * ids with term frequencies) read from the FTS5 index through an fts5vocab
 * "instance" table, and scores BM25 over them with a score accumulator. The
 * FTS5 table stays the source of the terms; rg_lexical is rebuilt from it.
 */
#ifndef RG_LEXICAL_H
#define RG_LEXICAL_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "engine/base/buf.h"
#include "engine/base/status.h"

/* Name under which the tokenizer is registered. */
#define RG_FTS5_TOKENIZER "ragd"
/* A word longer than this many bytes is cut (on a UTF-8 boundary). */
#define RG_TOKEN_MAX_BYTES 128
/* Query text longer than this is refused with RG_ELIMIT. */
#define RG_QUERY_MAX_BYTES 8192
/* At most this many distinct terms of a query are scored. */
#define RG_QUERY_MAX_TERMS 256

/* Registers the "ragd" FTS5 tokenizer on db. */
rg_status rg_fts5_register(sqlite3 *db, rg_error *err);

/*
 * A tokenizer pipeline as FTS5 would run it, for use outside SQL (queries,
 * snippets, tests). spec is an FTS5 tokenize= value such as "ragd" or
 * "porter ragd". db must have had rg_fts5_register called on it and must
 * outlive the tokenizer. A handle is used by one thread at a time.
 * (Named rg_fts5_tokenizer, not rg_tokenizer: that is engine/nn's encoder
 * tokenizer.)
 *
 * What "ragd" emits, token by token (offsets are byte offsets into the
 * input; a token cut at RG_TOKEN_MAX_BYTES keeps the span of the whole word):
 * - a word: letters, marks and digits of non-CJK scripts, NFKC-normalised
 *   and case-folded; ' (or U+2019) between letters stays in the word
 *   (don't), except a French/Italian elision (l'amour -> amour) and an
 *   English possessive (dog's -> dog); '.' or ',' between digits stays in
 *   the number (3.14, 1,000).
 * - CJK, documents: each character as a unigram, then the bigram of it and
 *   the next character of the same run, colocated with it. A run ends at
 *   any non-CJK character.
 * - CJK, queries (query != 0, FTS5_TOKENIZE_QUERY): the bigrams alone, one
 *   per position (a one-character run gives its unigram), so a MATCH or a
 *   BM25 query for 中文 looks for the bigram and not for 中 or 文 alone.
 * Bytes that are not valid UTF-8 separate tokens and are never emitted.
 */
typedef struct rg_fts5_tokenizer rg_fts5_tokenizer;

/* Receives each token: its (folded, maybe stemmed) text and its byte span in
 * the input. colocated is 1 for a token at the same position as the previous
 * one (CJK bigrams). Return non-zero to stop. */
typedef int (*rg_fts5_token_fn)(void *ctx, const char *tok, size_t n, size_t start, size_t end,
                                int colocated);

/* Errors: RG_ENOTFOUND (first word of spec is no registered tokenizer),
 * RG_EINVAL (bad spec or arguments), RG_ELIMIT (spec too long). */
rg_status rg_fts5_tokenizer_open(sqlite3 *db, const char *spec, rg_fts5_tokenizer **out,
                                 rg_error *err);
/* query: 1 to tokenize as a query (FTS5_TOKENIZE_QUERY), 0 as a document.
 * Stopping early from fn is not an error. */
rg_status rg_fts5_tokenizer_run(rg_fts5_tokenizer *t, const char *text, size_t n, int query,
                                rg_fts5_token_fn fn, void *ctx, rg_error *err);
void rg_fts5_tokenizer_close(rg_fts5_tokenizer *t);

typedef struct rg_lexical_options {
    const char *fts_table; /* FTS5 table whose rowids are chunk ids; default "chunks_fts" */
    const char *tokenize;  /* its tokenize= spec; default "porter ragd" */
    float k1;              /* BM25 k1, default 0.9 */
    float b;               /* BM25 b, default 0.4 */
    int exhaustive;        /* 1: score every posting of every query term, without
                              the top-k pruning (for tests; same results) */
} rg_lexical_options;

rg_lexical_options rg_lexical_default_options(void);

typedef struct rg_lexical rg_lexical;

/*
 * Builds the index from the FTS5 table on db (all columns summed into one
 * field; a chunk's length is its number of token instances, CJK bigrams
 * included). Chunks without any token are not indexed and not counted in N.
 * The index is a snapshot: rebuild it after the table changes. db must stay
 * open while the index is used. *out is owned by the caller
 * (rg_lexical_close). Search and snippet calls on one handle may come from
 * several threads; they are serialised by a mutex inside the handle.
 */
rg_status rg_lexical_open(sqlite3 *db, const rg_lexical_options *opt, rg_lexical **out,
                          rg_error *err);
void rg_lexical_close(rg_lexical *lx);

/*
 * Brings lx up to date with its FTS5 table after rows were added or deleted
 * (db: the connection it was opened on), exactly: every rowid is compared
 * with the index to find the deleted ones, rows above the last one read
 * are new (rowids are chunk ids and only grow, AUTOINCREMENT) and are
 * tokenized here, and everything is merged into one index with every
 * impact recomputed for the new average length: the index a fresh build
 * would give (same scores). Costs a pass over the rowids and the postings
 * plus the new rows' text, against reading every token instance back for
 * rg_lexical_open. Falls back to that rebuild (*rebuilt = 1) when it cannot
 * tell: rows below the last one read that it never indexed, or a term
 * frequency it cannot recover. On error lx is unchanged. A changed row
 * keeps its id only if rewritten in place, which ragd's store never does
 * (it deletes and inserts).
 */
rg_status rg_lexical_refresh(rg_lexical *lx, sqlite3 *db, int *rebuilt, rg_error *err);

/*
 * The cheap way, for a service taking writes: the caller names the chunk
 * ids deleted since lx last looked (gone[0..n_gone), e.g. from the store's
 * deletion log; ids lx never indexed are ignored). New rows are tokenized
 * into a delta index searched beside the main one (their postings
 * appended to its lists), and the deleted chunks are masked: the cost is
 * the new rows and the deletions, not the delta nor the collection (while
 * the store has no main index yet, up to RG_LEX_DELTA_MIN chunks, the
 * delta is laid out again each time).
 * Once the delta, or the masked chunks, pass RG_LEX_DELTA_MIN chunks and
 * 1/RG_LEX_DELTA_DIV of the main index (lexical_impl.h: 4096, 1/16), or
 * when merge is non-zero, this call merges as rg_lexical_refresh does and
 * sets *merged (may be NULL).
 * Until then scores lag a fresh build's a little, as Lucene's do between
 * merges: N and document frequencies still count masked chunks, and new
 * chunks' impacts use the average length of the last merge. Which chunks
 * can match does not lag: a masked chunk is never returned, a new one is
 * found at once. On error lx is unchanged.
 */
rg_status rg_lexical_update(rg_lexical *lx, sqlite3 *db, const int64_t *gone, size_t n_gone,
                            int merge, int *merged, rg_error *err);

/* Chunks indexed (those with at least one token), masked ones not counted. */
size_t rg_lexical_size(const rg_lexical *lx);

/* Searches so far that pruned (see rg_lexical_search), for tests and metrics. */
size_t rg_lexical_pruned(rg_lexical *lx);

/* Returns non-zero if chunk_id may be returned (collection, ACL, metadata filters). */
typedef int (*rg_chunk_filter)(void *ctx, int64_t chunk_id);

typedef struct rg_lex_hit {
    int64_t chunk_id;
    float score;
} rg_lex_hit;

/*
 * The top k chunks for query by BM25, best first, ties broken by lower chunk
 * id. filter (may be NULL) is applied before ranking, so a filtered query
 * still returns k hits when k matching chunks exist. hits has room for k;
 * *n_hits receives the count. Terms absent from the index are ignored; a
 * query with no indexed terms gives zero hits and RG_OK. Query text longer
 * than RG_QUERY_MAX_BYTES gives RG_ELIMIT. filter is called with the
 * handle's mutex held (it must not call back into this handle) and only for
 * chunks whose score could still enter the top k, possibly twice for one
 * chunk.
 *
 * Pruning (exact): terms are scored in decreasing order of their largest
 * possible contribution (idf times the term's largest impact). Before a
 * long posting list, if the k-th best partial score among chunks the filter
 * allows already exceeds what all the remaining terms together could add,
 * no chunk untouched so far can reach the top k: from there on only the
 * chunks that still can are scored, by looking them up in the remaining
 * lists instead of walking those lists. Common words ("the", "of") cost
 * lookups instead of a pass over most of the collection.
 */
rg_status rg_lexical_search(rg_lexical *lx, const char *query, size_t k, rg_chunk_filter filter,
                            void *filter_ctx, rg_lex_hit *hits, size_t *n_hits, rg_error *err);

/*
 * The BM25 score a chunk holding every distinct term of query many times
 * would approach: the sum over those terms of idf * (k1 + 1), terms the
 * index lacks counted at the highest idf. A hit's score divided by it is
 * the idf-weighted share of the query the hit covers, in [0, 1): unlike a
 * raw BM25 score, comparable across queries and corpora. A Chinese bigram
 * the index lacks although both its characters are common is the seam
 * between two words of the question, not a missing word, and is left out
 * (unless the query is nothing else). NAN for a query longer than
 * RG_QUERY_MAX_BYTES or one the tokenizer rejects.
 */
double rg_lexical_ideal(rg_lexical *lx, const char *query);

/*
 * Appends to out a snippet of text[0..len): the window of about max_tokens
 * tokens holding the most query terms, with each matching token wrapped in
 * open and close (e.g. "\x1b[1m" and "\x1b[0m", or "<b>" and "</b>"), and
 * "…" where the window cuts the text. Never cuts inside a UTF-8 sequence.
 * max_tokens counts token positions (a CJK character is one); 0 keeps the
 * whole text. A full out gives RG_ELIMIT.
 */
rg_status rg_lexical_snippet(rg_lexical *lx, const char *query, const char *text, size_t len,
                             size_t max_tokens, const char *open, const char *close, rg_buf *out,
                             rg_error *err);

#endif
