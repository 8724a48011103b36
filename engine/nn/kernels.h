/*
 * kernels.h — the numeric kernels of the encoder: matrix products through
 * a chosen backend, and the small row-wise operations of a transformer.
 *
 * GEMM backends: ragd's own AVX-512 / VNNI kernels over weights packed
 * once at load (gemm.h; the encoder's linear layers, on CPUs with
 * AVX-512F), oneDNN (AVX-512 sgemm and u8s8s32 int8 with VNNI, chosen by
 * oneDNN at run time for the CPU it finds), CBLAS (OpenBLAS), and a plain
 * C reference that every fast path is tested against. Which are present is
 * fixed at build time and, for NATIVE, by the CPU; rg_gemm_best picks the
 * fastest present.
 * All matrices are row-major with explicit leading dimensions.
 */
#ifndef RG_NN_KERNELS_H
#define RG_NN_KERNELS_H

#include <stddef.h>
#include <stdint.h>

typedef enum rg_gemm_backend {
    RG_GEMM_AUTO, /* rg_gemm_best() */
    RG_GEMM_REF,
    RG_GEMM_CBLAS,
    RG_GEMM_DNNL,
    RG_GEMM_NATIVE, /* packed weights (gemm.h); rg_sgemm on plain matrices falls back */
} rg_gemm_backend;

/* ---- Backends and threads ---- */

/* The fastest backend here, or the one the environment's RAGD_GEMM names
   (reference, cblas, onednn, native) when it is available. */
rg_gemm_backend rg_gemm_best(void);
/* 1 when the backend was built in (REF always is). */
int rg_gemm_available(rg_gemm_backend be);
const char *rg_gemm_name(rg_gemm_backend be);
/* Threads for the GEMM backends and the parallel loops; n <= 0: all the cores the
   process may run on (its CPU affinity: taskset, cpusets). */
void rg_kernels_set_threads(int n);
int rg_kernels_threads(void);
/* The calling thread's count alone (it is per thread), without touching the
   libraries' pools: for the threads of a parallel region, whose kernels then
   run on their own thread. n >= 1. */
void rg_kernels_set_threads_here(int n);
/*
 * Forces the plain C kernels (row-wise, attention, packed products) even
 * where the CPU has AVX-512, for tests that check the SIMD ones against
 * them; not thread-safe, set it between forwards. Returns the old setting.
 */
int rg_kernels_force_portable(int on);
int rg_kernels_portable(void);

/* ---- Products ---- */

/*
 * C[M,N] = A[M,K] * op(B) + beta * C, where op(B) is B[N,K] transposed
 * (trans_b = 1, the layout of nn.Linear weights) or B[K,N] (trans_b = 0).
 */
void rg_sgemm(rg_gemm_backend be, int trans_b, int M, int N, int K, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);

/*
 * Int8 product of asymmetrically quantised activations and symmetrically
 * quantised weights (per output channel):
 *   C[m,n] = a_scale[m] * w_scale[n] * (sum_k A[m,k] W[n,k] - a_zero[m] * w_sum[n]) + bias[n]
 * A is u8 [M,K] with per-row zero points, W is s8 [N,K], w_sum[n] = sum_k W[n,k].
 * acc is scratch of M*N int32. Backends: DNNL (u8s8s32, VNNI where the CPU
 * has it) or REF; the result is the same integer product either way.
 */
void rg_qgemm(rg_gemm_backend be, int M, int N, int K, const uint8_t *A, const float *a_scale,
              const int32_t *a_zero, const int8_t *W, const float *w_scale, const int32_t *w_sum,
              const float *bias, int32_t *acc, float *C);

/*
 * Largest activation code rg_qgemm may be given on backend be: 255, or 127
 * where oneDNN would use 16-bit saturating products (CPUs without VNNI).
 */
int rg_qgemm_act_max(rg_gemm_backend be);

/* Quantises each row of x[M,K] to u8 in [0, qmax] with a scale and zero point per row. */
void rg_quantize_rows_u8(const float *x, int M, int K, int qmax, uint8_t *q, float *scale,
                         int32_t *zero);
/* Per-row symmetric s8 of W[N,K] in [-127, 127], with the scale and the sum of each row. */
void rg_quantize_rows_s8(const float *w, int N, int K, int8_t *q, float *scale, int32_t *sum);

/* ---- Row-wise operations ---- */

/* x[r,:] += b for each of rows rows of width dim. */
void rg_add_bias(float *x, int rows, int dim, const float *b);
/* x = LayerNorm(x + res) * g + b, row by row (res may be NULL). */
void rg_add_layernorm(float *x, const float *res, int rows, int dim, const float *g,
                      const float *b, float eps);
/* x = x * Phi(x), the exact (erf) GELU, to within 2e-7 absolute. */
void rg_gelu(float *x, size_t n);
/* Softmax of each row x[r, 0..cols) (row stride ld), in place. */
void rg_softmax_rows(float *x, int rows, int cols, int ld);

/* ---- Attention ---- */

/* Floats of scratch rg_attention_head needs for L tokens of head size dh. */
size_t rg_attention_scratch(int L, int dh);
/*
 * One head of one sequence: out[i, 0..dh) = sum_j softmax_j(scale * q_i . k_j) v_j
 * for i, j < L. Rows of q, k and v are ld floats apart, rows of out ldo.
 * AVX-512 when the CPU has it and dh is 16, 32, 48 or 64; else plain loops.
 */
void rg_attention_head(const float *q, const float *k, const float *v, int ld, int L, int dh,
                       float scale, float *out, int ldo, float *scratch);
/*
 * 1 when rg_attention_head_bf16 runs in bfloat16 here: AVX-512 BF16, head
 * sizes 16, 32, 48 or 64, portable kernels not forced.
 */
int rg_attention_bf16_native(int dh);
/*
 * rg_attention_head with both products in bfloat16 where native: q, k, v
 * and the softmax weights rounded to bf16 (8-bit significand, to nearest
 * even), each pair of products summed in fp32 (vdpbf16ps); scores, softmax
 * and the final scaling stay fp32. Twice the products per instruction of
 * the fp32 path, at an error of a few 1e-3 relative. Elsewhere it is
 * rg_attention_head. Same scratch.
 */
void rg_attention_head_bf16(const float *q, const float *k, const float *v, int ld, int L, int dh,
                            float scale, float *out, int ldo, float *scratch);

#endif
