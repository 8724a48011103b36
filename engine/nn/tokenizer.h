/*
 * tokenizer.h — text to token ids, reproducing a Hugging Face tokenizer.json.
 *
 * A tokenizer is loaded from the tokenizer.json of a model folder and
 * produces exactly the ids the Hugging Face `tokenizers` library produces:
 * added (special) tokens are matched in the raw text, the rest goes through
 * the normalizer, the pre-tokenizer and the model, then the post-processor
 * template ([CLS] A [SEP]) is applied and the result is truncated.
 * Supported: BertNormalizer, BertPreTokenizer, WhitespaceSplit, WordPiece
 * (the BERT family); Precompiled, Replace, NFC/NFD/NFKC/NFKD, Lowercase,
 * Strip, Prepend and Sequence normalizers, Metaspace, Unigram with byte
 * fallback (the SentencePiece family: XLM-R, multilingual-e5, bge-m3);
 * TemplateProcessing / BertProcessing / RobertaProcessing. Other pipeline
 * parts are rejected at open with RG_EUNSUPPORTED.
 *
 * A tokenizer is immutable after open: any number of threads may encode
 * with it at once.
 */
#ifndef RG_NN_TOKENIZER_H
#define RG_NN_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "engine/base/status.h"

/* Largest tokenizer.json accepted. */
#define RG_TOK_JSON_MAX (64u * 1024u * 1024u)
/* Largest text one encode call accepts, in bytes. */
#define RG_TOK_INPUT_MAX (16u * 1024u * 1024u)
/* Longest vocabulary entry, in bytes. */
#define RG_TOK_PIECE_MAX 256

typedef struct rg_tokenizer rg_tokenizer;

/* ---- Open and close ---- */

/*
 * Loads path (a tokenizer.json). On success *out is owned by the caller and
 * released with rg_tokenizer_close. Errors: RG_ENOTFOUND, RG_EIO,
 * RG_EPARSE (not JSON), RG_EUNSUPPORTED (a pipeline part ragd lacks),
 * RG_ECORRUPT (inconsistent vocabulary), RG_ELIMIT, RG_ENOMEM.
 */
rg_status rg_tokenizer_open(const char *path, rg_tokenizer **out, rg_error *err);
/* Same from a JSON text of n bytes (copied; the caller keeps json). */
rg_status rg_tokenizer_from_json(const char *json, size_t n, rg_tokenizer **out, rg_error *err);
void rg_tokenizer_close(rg_tokenizer *tok);

/* ---- Encoding ---- */

/*
 * Encodes text[0..len) (UTF-8) as one sequence with the template's special
 * tokens, truncated to max_len ids in total (0: no truncation). Writes at
 * most cap ids to ids and their count to *n. Errors: RG_EUTF8 (invalid
 * UTF-8), RG_ELIMIT (len > RG_TOK_INPUT_MAX, or more than cap ids would be
 * needed), RG_ENOMEM. On error *n is 0.
 */
rg_status rg_tokenizer_encode(const rg_tokenizer *tok, const char *text, size_t len,
                              size_t max_len, int32_t *ids, size_t cap, size_t *n,
                              rg_error *err);

/* Number of tokens text yields without special tokens and without truncation. */
rg_status rg_tokenizer_count(const rg_tokenizer *tok, const char *text, size_t len, size_t *n,
                             rg_error *err);

/* ---- Vocabulary ---- */

size_t rg_tokenizer_vocab_size(const rg_tokenizer *tok);
/* Id of the padding token ([PAD] or <pad>), 0 when the file names none. */
int32_t rg_tokenizer_pad_id(const rg_tokenizer *tok);
/* Special tokens the template adds to a single sequence (2 for BERT). */
size_t rg_tokenizer_num_special(const rg_tokenizer *tok);
/* Truncation max_length from tokenizer.json, 0 when absent. */
size_t rg_tokenizer_max_length(const rg_tokenizer *tok);
/* Token text for id, NULL when out of range; owned by tok. */
const char *rg_tokenizer_id_to_token(const rg_tokenizer *tok, int32_t id);
/* Id for an exact token text, -1 when absent. */
int32_t rg_tokenizer_token_to_id(const rg_tokenizer *tok, const char *token);

#endif
