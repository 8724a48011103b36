/*
 * encoder.h — text to embedding vectors with a sentence-transformers model
 * folder, in process: the tokenizer, the BERT / XLM-R forward pass and the
 * pooling and normalisation the folder's modules.json asks for.
 *
 * A model folder holds config.json, tokenizer.json, model.safetensors and,
 * for sentence-transformers models, modules.json, 1_Pooling/config.json
 * and sentence_bert_config.json (max_seq_length). Texts longer than the
 * maximum are truncated, as sentence-transformers does.
 *
 * An rg_encoder owns its activations: use one per thread (the weights are
 * mapped once per process by the page cache, so several are cheap), and
 * give each the threads it may use in its options.
 */
#ifndef RG_NN_ENCODER_H
#define RG_NN_ENCODER_H

#include <stddef.h>

#include "engine/base/status.h"
#include "engine/nn/kernels.h"
#include "engine/nn/tokenizer.h"

/* Default token budget of one forward batch (sum of sequence lengths). */
#define RG_ENCODER_BATCH_TOKENS 4096
/* Longest language list kept from a model card, and lines of it read. */
#define ENC_LANGUAGES_MAX  1024
#define ENC_CARD_LINES_MAX 400
/* Longest query or passage prompt kept. */
#define ENC_PROMPT_MAX 64
/* Most texts one rg_encoder_embed call accepts. */
#define RG_ENCODER_MAX_TEXTS 1000000
/* A query of at least this many tokens is embedded on all the encoder's
 * threads; a shorter one on one (the split costs more than it saves). */
#define RG_ENCODER_QUERY_SPLIT_TOKENS 64
/* Token ids of a query kept on the stack; models with longer inputs take
 * rg_encoder_embed's path for queries. */
#define RG_ENCODER_QUERY_TOKENS_MAX 512

typedef enum rg_pooling {
    RG_POOL_MEAN,
    RG_POOL_CLS,
    RG_POOL_MAX,
    RG_POOL_LAST,
} rg_pooling;

typedef struct rg_encoder_options {
    int threads;             /* <= 0: all cores the process may use (kernels.h) */
    rg_gemm_backend backend; /* RG_GEMM_AUTO: the fastest built in */
    int int8;                /* 1: per-channel int8 weights for the linear layers, and
                                attention's products in bf16 where the CPU has AVX-512 BF16;
                                fp32 where int8 products are not full-range (oneDNN without
                                VNNI: 7-bit activations, less exact and no faster) */
    size_t max_length;       /* 0: from the model folder */
    size_t batch_tokens;     /* 0: RG_ENCODER_BATCH_TOKENS */
    int int8_down;           /* int8: quantise the FFN-down layer too (faster, less exact) */
    int query_int8;          /* 1: rg_encoder_embed_query uses int8 weights where the CPU
                                runs them natively (VNNI), packed on the first query */
    int query_int8_down;     /* 1: ... the FFN-down layer in int8 too (default 1: scifact
                                nDCG@10 dense 0.6752 against 0.6693 without and 0.6718 fp32,
                                embedding 2.75 ms a query against 3.49, `ragd eval`) */
    int passage_int8;        /* 1: rg_encoder_embed_passages uses the int8 weights queries use
                                (FFN-down per query_int8_down) where the CPU has VNNI, and
                                bf16 attention where it has AVX-512 BF16: ~2.8x the fp32
                                texts/s, nDCG@10 from 0.0047 below to 0.0013 above fp32 on
                                four datasets (README, Performance). Default 0 */
} rg_encoder_options;

typedef struct rg_encoder rg_encoder;

rg_encoder_options rg_encoder_default_options(void);

/* ---- Open and close ---- */

/*
 * Loads the model folder dir. opts may be NULL (defaults). Errors carry the
 * file at fault: RG_ENOTFOUND (missing file), RG_ECORRUPT (damaged or
 * mismatched weights), RG_EUNSUPPORTED (architecture, tokenizer or pooling
 * ragd lacks), RG_EPARSE, RG_ENOMEM. On failure *out is NULL.
 */
rg_status rg_encoder_open(const char *dir, const rg_encoder_options *opts, rg_encoder **out,
                          rg_error *err);
void rg_encoder_close(rg_encoder *enc);

/* ---- Properties ---- */

int rg_encoder_dim(const rg_encoder *enc);
/* Tokens per text after truncation, special tokens included. */
size_t rg_encoder_max_length(const rg_encoder *enc);
rg_pooling rg_encoder_pooling(const rg_encoder *enc);
int rg_encoder_normalizes(const rg_encoder *enc);
/*
 * Languages the model card (README.md front matter) declares, comma-joined
 * ("en", "multilingual,af,am,..."); "" when unknown. Lives as long as enc.
 */
const char *rg_encoder_languages(const rg_encoder *enc);
/*
 * 1 if the model reads text[0..n) meaningfully, judged by the script the
 * text is mostly in and the languages the card declares: Chinese means
 * nothing to an English-only model. Text mostly in Han needs zh or ja,
 * kana ja, Hangul ko; other non-Latin scripts need any language but English
 * alone; Latin text, a multilingual model, or an unknown card always pass.
 */
int rg_encoder_covers(const rg_encoder *enc, const char *text, size_t n);
/*
 * The text the model wants before queries and before passages (e5:
 * "query: " / "passage: "), from config_sentence_transformers.json's
 * "prompts"; "" when none. rg_encoder_embed does not add them: callers do.
 */
const char *rg_encoder_query_prompt(const rg_encoder *enc);
const char *rg_encoder_passage_prompt(const rg_encoder *enc);
/* Borrowed; lives as long as enc (for token counting by the chunker). */
const rg_tokenizer *rg_encoder_tokenizer(const rg_encoder *enc);

/* ---- Embedding ---- */

/*
 * Embeds n texts (UTF-8; lens[i] bytes, or NUL-terminated when lens is
 * NULL) into out[n * dim], row i for texts[i]. Texts are sorted by length
 * and packed into batches internally. Errors: RG_EUTF8 (which text is in
 * the message), RG_ELIMIT, RG_ENOMEM; out is then unspecified.
 */
rg_status rg_encoder_embed(rg_encoder *enc, const char *const *texts, const size_t *lens, size_t n,
                           float *out, rg_error *err);

/*
 * rg_encoder_embed for passages to be indexed: with int8 weights where
 * opts.passage_int8 asks for them and the CPU has VNNI (packed on first
 * use, as for queries) and then attention's products in bf16 where it has
 * AVX-512 BF16 (as opts.int8 does; queries keep fp32 attention), else
 * exactly as rg_encoder_embed. Errors as rg_encoder_embed.
 */
rg_status rg_encoder_embed_passages(rg_encoder *enc, const char *const *texts, const size_t *lens,
                                    size_t n, float *out, rg_error *err);
/*
 * 1 if a text's vector is the same bit for bit whatever batch it is
 * embedded in: every product runs ragd's own kernels (or the reference),
 * whose sums go in one order per row. 0 with a library GEMM (oneDNN,
 * OpenBLAS: CPUs without AVX-512), whose blocking follows the batch's
 * size, so a text embedded again among other texts may differ in the last
 * bits (cosine scores by about 1e-7).
 */
int rg_encoder_batch_invariant(const rg_encoder *enc);
/* 1 if opts.int8 holds on this CPU (rg_encoder_embed runs int8 weights), else 0. */
int rg_encoder_int8(const rg_encoder *enc);
/* 1 if rg_encoder_embed_passages runs int8 weights on this CPU, else 0 (fp32). */
int rg_encoder_passages_int8(const rg_encoder *enc);

/*
 * Embeds one search query (len bytes of UTF-8) into out[dim], tuned for
 * latency rather than throughput: one thread below
 * RG_ENCODER_QUERY_SPLIT_TOKENS tokens, all of opts.threads above; int8
 * weights when opts.query_int8 is set and the CPU has VNNI (the first such
 * query packs them, about 0.1 s and a quarter of the fp32 weights' memory).
 * Passages stay fp32 unless opts.int8 or opts.passage_int8: on scifact,
 * int8 queries against fp32 passages score the nDCG@10 of fp32 queries
 * (README, Performance).
 * Errors as rg_encoder_embed.
 */
rg_status rg_encoder_embed_query(rg_encoder *enc, const char *text, size_t len, float *out,
                                 rg_error *err);

/* Queries one rg_encoder_embed_queries call may carry. */
#define RG_ENCODER_QUERY_BATCH_MAX 32

/*
 * rg_encoder_embed_query for n queries (texts[i], lens[i] bytes) at once,
 * into out[n * dim]: their tokens go through the layers together, so the
 * weights are read once for all of them rather than once each, which is
 * what a short query's cost mostly is. Each vector equals what
 * rg_encoder_embed_query gives for its text alone, up to the rounding of
 * int8 activations. n <= RG_ENCODER_QUERY_BATCH_MAX.
 */
rg_status rg_encoder_embed_queries(rg_encoder *enc, const char *const *texts, const size_t *lens,
                                   size_t n, float *out, rg_error *err);

#endif
