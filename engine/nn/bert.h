/*
 * bert.h — the BERT / XLM-R encoder stack: weights from a Hugging Face
 * folder (config.json + model.safetensors) and the forward pass.
 *
 * The forward pass takes several sequences packed back to back with no
 * padding: the linear layers see one [tokens, hidden] matrix, attention
 * runs per sequence, so no compute is spent on padding and no mask is
 * needed. Weights stay in the memory-mapped file (f32) until packed for
 * ragd's own kernels (rg_bert_pack), which then hold the only copy read.
 */
#ifndef RG_NN_BERT_H
#define RG_NN_BERT_H

#include <stddef.h>
#include <stdint.h>

#include "engine/base/status.h"
#include "engine/nn/kernels.h"

/* Longest config.json accepted. */
#define RG_BERT_CONFIG_MAX (1u << 20)
/* Largest layer count and hidden size accepted (sanity bounds on config.json). */
#define RG_BERT_MAX_LAYERS 64
#define RG_BERT_MAX_HIDDEN 8192

typedef struct rg_bert_config {
    int vocab_size, hidden, layers, heads, intermediate, max_positions, type_vocab;
    float eps;
    int position_offset; /* 0 for BERT; padding_idx + 1 for XLM-R / RoBERTa */
} rg_bert_config;

typedef struct rg_bert rg_bert;
typedef struct rg_bert_ctx rg_bert_ctx;

/* ---- Model ---- */

/*
 * Loads dir/config.json and dir/model.safetensors. Errors: RG_ENOTFOUND
 * (missing file), RG_EUNSUPPORTED (architecture or activation), RG_ECORRUPT
 * (tensor missing or of the wrong shape, damaged file), RG_ENOMEM.
 * *out owns the mapping until rg_bert_close.
 */
rg_status rg_bert_open(const char *dir, rg_bert **out, rg_error *err);
void rg_bert_close(rg_bert *b);
const rg_bert_config *rg_bert_get_config(const rg_bert *b);
/*
 * Builds per-channel symmetric int8 copies of the attention and FFN-up
 * weights (idempotent), row-major for rg_qgemm; the FFN-down product stays
 * f32 (see bert.c). rg_bert_pack supersedes this where the CPU has VNNI.
 */
rg_status rg_bert_quantize(rg_bert *b, rg_error *err);
/*
 * Prepares the weights for the RG_GEMM_NATIVE backend (idempotent per
 * mode): fp32 packs every linear layer (gemm.h) when the CPU has AVX-512F;
 * int8 packs quantised copies when it has VNNI, else falls back to
 * rg_bert_quantize. Pages of the mapped file that are then held packed are
 * released. Errors: RG_ENOMEM (the model stays usable unpacked).
 */
rg_status rg_bert_pack(rg_bert *b, int int8, rg_error *err);
/* Quantise FFN-down too in later int8 packing (default 0: kept fp32). */
void rg_bert_set_int8_down(rg_bert *b, int on);

/* ---- Forward ---- */

/*
 * Scratch for batches of at most max_tokens tokens in total and sequences of
 * at most max_seq tokens (<= max_positions). Allocated once, reused by every
 * forward; one context per concurrent caller.
 */
rg_status rg_bert_ctx_new(const rg_bert *b, int max_tokens, int max_seq, rg_bert_ctx **out,
                          rg_error *err);
void rg_bert_ctx_free(rg_bert_ctx *ctx);

/*
 * Runs n sequences (token ids back to back, lens[i] tokens each, all
 * sequences non-empty) through the encoder. *hidden receives the last
 * hidden states [sum(lens), hidden], owned by ctx and valid until its next
 * forward. be RG_GEMM_NATIVE uses what rg_bert_pack prepared (layers it
 * could not pack go through the libraries). flags: RG_BERT_* below;
 * RG_BERT_INT8 needs rg_bert_quantize or rg_bert_pack(b, 1) first.
 * Errors: RG_ELIMIT (batch larger than ctx), RG_EINVAL (id out of range).
 */
rg_status rg_bert_forward(const rg_bert *b, rg_bert_ctx *ctx, rg_gemm_backend be, int flags,
                          const int32_t *ids, const int *lens, int n, const float **hidden,
                          rg_error *err);
/* Precision of a forward: exact fp32 when 0. */
#define RG_BERT_INT8 1 /* the linear layers with int8 weights */
#define RG_BERT_ATT_BF16                                                                           \
    2 /* attention's products in bf16 (rg_attention_head_bf16; RG_GEMM_NATIVE) */

#endif
