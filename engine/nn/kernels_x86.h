/*
 * kernels_x86.h — AVX-512 versions of the row-wise kernels in kernels.h,
 * attention, and the packed products of gemm.h, compiled with per-function
 * target attributes and chosen at run time when the CPU has AVX-512F
 * (rg_x86_avx512()) or, for int8, AVX-512 VNNI (rg_x86_vnni()).
 * Internal to engine/nn.
 */
#ifndef RG_NN_KERNELS_X86_H
#define RG_NN_KERNELS_X86_H

#include <stddef.h>
#include <stdint.h>

#include "engine/nn/gemm.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define RG_HAVE_X86_KERNELS 1
int rg_x86_avx512(void);
void rg_x86_add_bias(float *x, int rows, int dim, const float *b);
void rg_x86_add_layernorm(float *x, const float *res, int rows, int dim, const float *g,
                          const float *b, float eps);
void rg_x86_gelu(float *x, size_t n);
void rg_x86_softmax_rows(float *x, int rows, int cols, int ld);
void rg_x86_quantize_rows_u8(const float *x, int M, int K, int qmax, uint8_t *q, float *scale,
                             int32_t *zero);
/* See rg_attention_head in kernels.h; needs dh % 16 == 0 and dh <= 64. */
void rg_x86_attention_head(const float *q, const float *k, const float *v, int ld, int L, int dh,
                           float scale, float *out, int ldo, float *scratch);
/* AVX-512 BF16 (vdpbf16ps) here; then rg_attention_head_bf16 of kernels.h, same limits on dh. */
int rg_x86_bf16(void);
void rg_x86_attention_head_bf16(const float *q, const float *k, const float *v, int ld, int L,
                                int dh, float scale, float *out, int ldo, float *scratch);

int rg_x86_vnni(void);
/* Rows m0..m1 of column block b of the products in gemm.h. */
void rg_x86_sgemm_block(const rg_packed *w, int b, int m0, int m1, const float *A, int lda,
                        float *C, int ldc, rg_act act);
void rg_x86_qgemm_block(const rg_packed *w, int b, int m0, int m1, const uint8_t *A, int lda,
                        const float *as, const int32_t *az, float *C, int ldc, rg_act act);
#endif

#endif
