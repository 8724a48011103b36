/*
 * gemm.h — products with weights packed once at load, for the linear
 * layers of the encoder. Internal to engine/nn.
 *
 * General-purpose GEMM libraries repack B on every call; with encoder
 * weights (megabytes per layer) and the few rows of a query, that repacking
 * costs more than the product itself. Here an nn.Linear weight W[N,K] is
 * packed once into column blocks of RG_PACK_NB outputs laid out k-major, so
 * the AVX-512 kernels stream each block from L2 while a strip of rows of
 * the activations stays in L1:
 *   fp32: block b holds W[b*NB + j, k] at f[(b*K + k)*NB + j]
 *   int8: block b holds W[b*NB + j, k] at q[((b*Kp + k - k%4)*NB) + 4*j + k%4]
 *         (4 consecutive k per output, the operand order of VNNI vpdpbusd)
 * Outputs past N and k past K are zero-padded. Every product has a plain C
 * version over the same layout, used on CPUs without AVX-512 (F for fp32,
 * VNNI for int8) and as what the fast ones are tested against.
 */
#ifndef RG_NN_GEMM_H
#define RG_NN_GEMM_H

#include <stddef.h>
#include <stdint.h>

/* Outputs per packed column block (four 16-float AVX-512 registers). */
#define RG_PACK_NB 64

typedef struct rg_packed {
    int n, k;     /* logical shape of W: [n, k] */
    int kp;       /* k rounded up to 4 (int8) or k (fp32) */
    int blocks;   /* ceil(n / RG_PACK_NB) */
    float *f;     /* fp32 blocks, or NULL */
    int8_t *q;    /* int8 blocks, or NULL */
    float *bias;  /* [blocks * NB], zero-padded */
    float *scale; /* int8: [blocks * NB] per-output scale */
    int32_t *sum; /* int8: [blocks * NB] sum of each quantised row */
    /* Optional, borrowed: the product that usually runs after this one
     * (the next linear layer). The last block's strips prefetch its first
     * block, so a query's chain of products does not wait on memory at
     * each start. Set with rg_packed_chain; cleared by rg_packed_free. */
    const struct rg_packed *next;
} rg_packed;

/* Epilogue applied to each output after the bias. */
typedef enum rg_act { RG_ACT_NONE, RG_ACT_GELU } rg_act;

/* ---- What this CPU runs fast ---- */

/*
 * 1 when the fp32 (AVX-512F) or int8 (AVX-512 VNNI) kernels run natively
 * (and rg_kernels_force_portable is off).
 */
int rg_packed_fast_f32(void);
int rg_packed_fast_s8(void);

/* ---- Packing ---- */

/*
 * Packs W[n,k] (row-major, nn.Linear layout) and bias[n] (may be NULL). The
 * int8 form quantises each row symmetrically to [-127, 127] first, as
 * rg_quantize_rows_s8 does. Returns 0, or -1 when out of memory (p is then
 * empty and safe to free). p owns its buffers until rg_packed_free.
 */
int rg_pack_f32(rg_packed *p, const float *w, const float *bias, int n, int k);
int rg_pack_s8(rg_packed *p, const float *w, const float *bias, int n, int k);
void rg_packed_free(rg_packed *p);

/* Declares that `next` (NULL: none) usually runs after p; a hint only. */
void rg_packed_chain(rg_packed *p, const rg_packed *next);

/* The first column block of p (fp32 or int8 form) and its size in bytes;
 * NULL when p is empty. */
const void *rg_packed_first_block(const rg_packed *p, size_t *bytes);

/* ---- Products ---- */

/*
 * C[m, 0..n) = act(A[m, 0..k) · W^T + bias) for m < M. Rows of A are lda
 * floats apart, rows of C ldc floats. Parallel over rg_kernels_threads().
 */
void rg_packed_sgemm(const rg_packed *w, int M, const float *A, int lda, float *C, int ldc,
                     rg_act act);

/*
 * Int8 product with activations quantised per row (rg_quantize_rows_u8 with
 * qmax 255): C[m,j] = act(a_scale[m] * scale[j] * (sum_k A[m,k] Wq[j,k]
 * - a_zero[m] * sum[j]) + bias[j]). A is u8 with rows lda >= kp bytes apart;
 * bytes k..kp of a row are read but multiply zero weights.
 */
void rg_packed_qgemm(const rg_packed *w, int M, const uint8_t *A, int lda, const float *a_scale,
                     const int32_t *a_zero, float *C, int ldc, rg_act act);

#endif
