/*
 * text.h — the text analysis the answer stages share: sentence spans,
 * citation markers, content terms (Latin words and CJK bigrams), numbers
 * and quoted strings.
 *
 * Everything here works on byte spans of a caller's UTF-8 string and owns
 * only what it says it allocates. It knows nothing of sources or answers;
 * citations.c, extractive.c and prompt.c build on it.
 */
#ifndef RG_RAG_TEXT_H
#define RG_RAG_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "engine/base/buf.h"
#include "engine/base/status.h"

/* Most sentences one text is split into (RG_ELIMIT beyond). */
#define RG_TEXT_MAX_SENTENCES 20000
/* Most numbers one marker may name ("[1-12]" names twelve). */
#define RG_MARKER_NUMS_MAX 16
/* Largest source number a marker may carry; bigger ones are not markers. */
#define RG_MARKER_NUM_MAX 999
/* Longest marker, opening to closing bracket, in bytes. */
#define RG_MARKER_MAX_BYTES 96
/* Most content terms one rg_terms set holds (RG_ELIMIT beyond). */
#define RG_TERMS_MAX 200000
/* Quoted strings shorter or longer than these (bytes) are not checked. */
#define RG_QUOTE_MIN_BYTES 2
#define RG_QUOTE_MAX_BYTES 400

typedef struct rg_span {
    size_t start;
    size_t end;
} rg_span;

/* ---- Sentences ---- */

/*
 * Splits s[0..n) into sentences, trimmed of surrounding white space, in
 * order. Ends: . ! ? followed by space or end (not after an abbreviation or
 * initial, nor before a lower-case word), CJK 。！？； (no space needed),
 * line breaks that end a list item or paragraph. Citation markers that
 * follow an end ("... 51820. [1]") belong to the sentence they follow.
 * *out is owned by the caller (rg_free); NULL when *count is 0.
 */
rg_status rg_text_sentences(const char *s, size_t n, rg_span **out, size_t *count,
                            rg_error *err);

/* ---- Citation markers ---- */

/*
 * A citation marker: [n], [n, m], [n-m], 【n】, ［n］ (full-width digits,
 * commas, 、 and dashes accepted). nums holds the numbers in the order
 * written, ranges expanded; span is the marker's bytes.
 */
typedef struct rg_marker {
    rg_span span;
    int nums[RG_MARKER_NUMS_MAX];
    int n_nums;
} rg_marker;

/*
 * If a marker starts at s[i], fills *m and returns its length in bytes;
 * else returns 0. A bracket holding anything else ("[a]", "[1.5]", "[]",
 * a descending or too long range, a number above RG_MARKER_NUM_MAX) is not
 * a marker.
 */
size_t rg_text_marker_at(const char *s, size_t n, size_t i, rg_marker *m);

/*
 * Appends s[0..n) to out with every citation marker and every '<' '>'
 * made inert: marker brackets become parentheses ("[3]" -> "(3)",
 * "【2】" -> "(2)") and angle brackets (and ＜ ﹤ ＞ ﹥, which NFKC folds
 * into them) become ‹ › so that text from a document can neither forge a
 * source number nor open or close a tag. The output holds no citation
 * marker (rg_text_marker_at finds none in it) and no '<' or '>'.
 */
rg_status rg_text_neutralise(const char *s, size_t n, rg_buf *out);

/*
 * rg_text_neutralise for text that comes from a document and goes into a
 * prompt (prompt.h), which also breaks what reads like a chat template's
 * turn structure: a bracketed control word ("[INST]", "[/INST]",
 * "[SYSTEM_PROMPT]": 2..32 capitals or '_') becomes "(INST)", and a role
 * label at a line's start (system, assistant, user, human, developer,
 * tool, instruction or response, after optional blanks, '#', '>' or '*',
 * before ':' or '：') gets its word parenthesised: "### System:" ->
 * "### (System):". Angle-bracket tags such as "<|im_start|>" are already
 * made inert as ‹|im_start|›, so no special token can be spelled.
 */
rg_status rg_text_neutralise_source(const char *s, size_t n, rg_buf *out);

/* ---- Content terms ---- */

/*
 * A set of content terms, as 64-bit hashes: Latin-script words case-folded,
 * lightly stemmed (plural -s, -ing, -ed) and without stop words or single
 * letters; numbers; and for CJK runs the overlapping character bigrams (a
 * lone character stands for itself). Two texts are compared by the share of
 * one's terms found in the other.
 */
typedef struct rg_terms {
    uint64_t *h;
    size_t n;
    size_t cap;
    int sorted;
} rg_terms;

void rg_terms_init(rg_terms *t);
void rg_terms_free(rg_terms *t);
void rg_terms_reset(rg_terms *t);
/* Adds the content terms of s[0..n). The set is unsorted until rg_terms_seal. */
rg_status rg_terms_add(rg_terms *t, const char *s, size_t n);
/* Adds one term by its hash (rg_text_hash of its text). */
rg_status rg_terms_add_hash(rg_terms *t, uint64_t h);
/* Sorts and removes duplicates; needed before rg_terms_has / rg_terms_overlap. */
void rg_terms_seal(rg_terms *t);
int rg_terms_has(const rg_terms *t, uint64_t h);
/* How many of q's terms (sealed) occur in d (sealed). */
size_t rg_terms_overlap(const rg_terms *q, const rg_terms *d);

/* ---- Facts: numbers and quotes ---- */

/*
 * Calls fn for each number in s[0..n): a run of digits (ASCII or
 * full-width) with single inner . , : / - joining digit runs ("1,500",
 * "09:00", "2024-01-03"). canon is the number with full-width digits
 * folded and thousands commas removed (at most 63 bytes; longer numbers
 * are cut). Return non-zero from fn to stop.
 */
typedef int (*rg_number_fn)(void *ctx, const char *canon, size_t len, rg_span span);
void rg_text_numbers(const char *s, size_t n, rg_number_fn fn, void *ctx);

/* Hash of a canonical number, as used by number sets. */
uint64_t rg_text_hash(const char *s, size_t n);

/*
 * Calls fn for each quoted string in s[0..n) ("…", “…”, 「…」, 『…』)
 * with the span of its content, trimmed, when its length is within
 * RG_QUOTE_MIN_BYTES..RG_QUOTE_MAX_BYTES.
 */
typedef int (*rg_quote_fn)(void *ctx, rg_span content);
void rg_text_quotes(const char *s, size_t n, rg_quote_fn fn, void *ctx);

/* Offset of the first needle[0..nn) in hay[0..hn), or -1 (nn == 0: 0). */
long rg_text_find(const char *hay, size_t hn, const char *needle, size_t nn);

/* 1 if the mostly-CJK check says s is written in Chinese, Japanese or Korean. */
int rg_text_is_cjk(const char *s, size_t n);

#endif
