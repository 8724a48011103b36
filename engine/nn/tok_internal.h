/*
 * tok_internal.h — pieces of the tokenizer shared between its files; not a
 * public interface (include tokenizer.h instead).
 *
 * The pipeline works on code points: the normalizer turns UTF-8 into a
 * code point array, the pre-tokenizer cuts it into words, and the model
 * (WordPiece or Unigram) turns each word into ids through the
 * tok_model_ops vtable.
 */
#ifndef RG_NN_TOK_INTERNAL_H
#define RG_NN_TOK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "engine/base/status.h"

/* ---- Vocabulary: piece <-> id ---- */

typedef struct tok_vocab {
    char **pieces;    /* pieces[id], NUL-terminated, owned */
    uint32_t *lens;   /* byte length of pieces[id] */
    size_t n;
    int32_t *slots;   /* open addressing, -1 empty */
    size_t mask;
} tok_vocab;

rg_status tok_vocab_init(tok_vocab *v, size_t n, rg_error *err);
/* Stores a copy of s as the piece of id; ids must be < n and unique. */
rg_status tok_vocab_set(tok_vocab *v, int32_t id, const char *s, size_t len, rg_error *err);
/* Builds the hash index once every id is set; RG_ECORRUPT on a hole or duplicate. */
rg_status tok_vocab_index(tok_vocab *v, rg_error *err);
int32_t tok_vocab_find(const tok_vocab *v, const char *s, size_t len);
void tok_vocab_free(tok_vocab *v);

/* ---- Growable arrays with a hard limit ---- */

/* Ids past stop are dropped (truncation); v == NULL only counts. */
typedef struct tok_ids {
    int32_t *v;
    size_t n, cap;
    size_t stop;
} tok_ids;

rg_status tok_ids_push(tok_ids *a, int32_t id, rg_error *err);

typedef struct tok_cps {
    uint32_t *v;
    size_t n, cap;
} tok_cps;

rg_status tok_cps_reserve(tok_cps *a, size_t n, rg_error *err);

/* ---- Normalizer and pre-tokenizer (BERT) ---- */

typedef struct tok_bert_norm {
    int enabled;
    int clean_text, handle_chinese_chars, strip_accents, lowercase;
} tok_bert_norm;

/* Normalizes s[0..n) (valid UTF-8) into out (replaced, not appended). */
rg_status tok_bert_normalize(const tok_bert_norm *cfg, const char *s, size_t n, tok_cps *out,
                             rg_error *err);

/* Calls word(ctx, start, end) for each word of cps per BertPreTokenizer;
 * stops and returns the first non-OK status. */
typedef rg_status (*tok_word_fn)(void *ctx, const uint32_t *cps, size_t start, size_t end);
rg_status tok_bert_pretokenize(const uint32_t *cps, size_t n, tok_word_fn word, void *ctx);

/* Same cut on plain whitespace only (WhitespaceSplit). */
rg_status tok_whitespace_split(const uint32_t *cps, size_t n, tok_word_fn word, void *ctx);

int tok_is_rust_whitespace(uint32_t c);

/* ---- Models ---- */

typedef struct tok_model_ops {
    const char *name;
    /* Appends the ids of one pre-tokenized word (UTF-8, n bytes, nchars code points). */
    rg_status (*tokenize)(const void *model, const char *word, size_t n, size_t nchars,
                          tok_ids *out, rg_error *err);
    void (*free)(void *model);
} tok_model_ops;

struct cJSON;
/* Builds a WordPiece model from the "model" object; *vocab is borrowed by tokenizer.c. */
rg_status tok_wordpiece_new(const struct cJSON *model, void **out, const tok_vocab **vocab,
                            rg_error *err);
extern const tok_model_ops tok_wordpiece_ops;

/* ---- SentencePiece family (tok_unigram.c, tok_spnorm.c) ---- */

/* A Unigram model (vocab of [piece, score], unk_id, byte_fallback); as tok_wordpiece_new. */
rg_status tok_unigram_new(const struct cJSON *model, void **out, const tok_vocab **vocab,
                          rg_error *err);
extern const tok_model_ops tok_unigram_ops;

/* Normalizers other than BertNormalizer: Precompiled, Replace, NF(K)C/D,
 * Lowercase, Strip, Prepend, and Sequences of them. Immutable once built. */
typedef struct tok_sp_norm tok_sp_norm;
rg_status tok_sp_norm_new(const struct cJSON *normalizer, tok_sp_norm **out, rg_error *err);
/* Normalizes s[0..n) (valid UTF-8) into out (replaced, not appended).
 * *at_start: on entry, s begins the input; on return, the normalized text
 * still begins at the input's first character (for Metaspace's "first"). */
rg_status tok_sp_normalize(const tok_sp_norm *nm, const char *s, size_t n, tok_cps *out,
                           int *at_start, rg_error *err);
void tok_sp_norm_free(tok_sp_norm *nm);

enum { TOK_PREPEND_ALWAYS, TOK_PREPEND_FIRST, TOK_PREPEND_NEVER };

typedef struct tok_metaspace {
    uint32_t replacement; /* U+2581 in every known model */
    int prepend;          /* TOK_PREPEND_* */
    int split;            /* cut before each replacement character */
} tok_metaspace;

rg_status tok_metaspace_load(const struct cJSON *pre_tokenizer, tok_metaspace *m, rg_error *err);
/* Rewrites a in place (spaces to the replacement, the prefix where the
 * scheme wants one; at_start: a begins the input text) and calls word for
 * each piece. Stops at the first non-OK status. */
rg_status tok_metaspace_pretokenize(const tok_metaspace *m, tok_cps *a, int at_start,
                                    tok_word_fn word, void *ctx, rg_error *err);

#endif
