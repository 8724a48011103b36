/*
 * gemm_x86.c — AVX-512 products over packed weights (layout in gemm.h).
 *
 * The micro-kernel keeps a 6-row x 64-column tile of C in 24 registers:
 * each k step loads one 64-wide row of the packed block (4 registers) and
 * broadcasts one value from each of the 6 rows of A, so 24 FMAs (or VNNI
 * dot-products of 4 k each) cost 10 loads. A column block (64 x K) stays
 * in L2 while the strips of rows pass over it.
 */
#include "engine/nn/kernels_x86.h"

#ifdef RG_HAVE_X86_KERNELS

#include <string.h>

#include "engine/nn/simd_x86.h"

#define NB     RG_PACK_NB
#define MR     6
#define INLINE static inline __attribute__((always_inline))

/* bias, activation and masked store of one row of the tile */
RG_AVX512 INLINE void store_row(float *c, const __m512 v[4], const float *bias, int cols,
                                rg_act act)
{
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        __m512 x = _mm512_add_ps(v[j], _mm512_loadu_ps(bias + 16 * j));
        if (act == RG_ACT_GELU) x = rg_gelu16(x);
        _mm512_mask_storeu_ps(c + 16 * j, rg_tail16(cols - 16 * j), x);
    }
}

RG_AVX512 INLINE void sgemm_strip(const int mr, int K, const float *A, int lda, const float *B,
                                  const float *bias, float *C, int ldc, int cols, rg_act act)
{
    __m512 c[MR][4];
    const float *a[MR];
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++) {
        a[r] = A + (size_t)(r < mr ? r : 0) * lda;
        c[r][0] = c[r][1] = c[r][2] = c[r][3] = _mm512_setzero_ps();
    }
    for (int k = 0; k < K; k++) {
        const float *b = B + (size_t)k * NB;
        __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
        __m512 b2 = _mm512_loadu_ps(b + 32), b3 = _mm512_loadu_ps(b + 48);
#pragma GCC unroll 6
        for (int r = 0; r < mr; r++) {
            __m512 x = _mm512_set1_ps(a[r][k]);
            c[r][0] = _mm512_fmadd_ps(x, b0, c[r][0]);
            c[r][1] = _mm512_fmadd_ps(x, b1, c[r][1]);
            c[r][2] = _mm512_fmadd_ps(x, b2, c[r][2]);
            c[r][3] = _mm512_fmadd_ps(x, b3, c[r][3]);
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < mr; r++)
        store_row(C + (size_t)r * ldc, c[r], bias, cols, act);
}

RG_AVX512 void rg_x86_sgemm_block(const rg_packed *w, int b, int m0, int m1, const float *A,
                                  int lda, float *C, int ldc, rg_act act)
{
    int cols = w->n - b * NB < NB ? w->n - b * NB : NB, K = w->k;
    const float *B = w->f + (size_t)b * NB * K, *bias = w->bias + b * NB;
    A += (size_t)m0 * lda;
    C += (size_t)m0 * ldc + b * NB;
    int m = m0;
    for (; m + MR <= m1; m += MR, A += (size_t)MR * lda, C += (size_t)MR * ldc)
        sgemm_strip(MR, K, A, lda, B, bias, C, ldc, cols, act);
    switch (m1 - m) {
    case 5:
        sgemm_strip(5, K, A, lda, B, bias, C, ldc, cols, act);
        break;
    case 4:
        sgemm_strip(4, K, A, lda, B, bias, C, ldc, cols, act);
        break;
    case 3:
        sgemm_strip(3, K, A, lda, B, bias, C, ldc, cols, act);
        break;
    case 2:
        sgemm_strip(2, K, A, lda, B, bias, C, ldc, cols, act);
        break;
    case 1:
        sgemm_strip(1, K, A, lda, B, bias, C, ldc, cols, act);
        break;
    default:
        break;
    }
}

RG_AVX512_VNNI INLINE __m512i bcast4(const uint8_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return _mm512_set1_epi32(v);
}

RG_AVX512_VNNI INLINE void qgemm_strip(const int mr, int Kp, const uint8_t *A, int lda,
                                       const int8_t *B, const rg_packed *w, int b, const float *as,
                                       const int32_t *az, float *C, int ldc, int cols, rg_act act)
{
    __m512i c[MR][4];
    const uint8_t *a[MR];
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++) {
        a[r] = A + (size_t)(r < mr ? r : 0) * lda;
        c[r][0] = c[r][1] = c[r][2] = c[r][3] = _mm512_setzero_si512();
    }
    for (int k = 0; k < Kp; k += 4) {
        const int8_t *p = B + (size_t)k * NB;
        __m512i b0 = _mm512_loadu_si512(p), b1 = _mm512_loadu_si512(p + 64);
        __m512i b2 = _mm512_loadu_si512(p + 128), b3 = _mm512_loadu_si512(p + 192);
#pragma GCC unroll 6
        for (int r = 0; r < mr; r++) {
            __m512i x = bcast4(a[r] + k);
            c[r][0] = _mm512_dpbusd_epi32(c[r][0], x, b0);
            c[r][1] = _mm512_dpbusd_epi32(c[r][1], x, b1);
            c[r][2] = _mm512_dpbusd_epi32(c[r][2], x, b2);
            c[r][3] = _mm512_dpbusd_epi32(c[r][3], x, b3);
        }
    }
    const float *ws = w->scale + b * NB, *bias = w->bias + b * NB;
    const int32_t *wsum = w->sum + b * NB;
#pragma GCC unroll 6
    for (int r = 0; r < mr; r++) {
        __m512i z = _mm512_set1_epi32(az[r]);
        __m512 s = _mm512_set1_ps(as[r]), v[4];
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            __m512i t =
                _mm512_sub_epi32(c[r][j], _mm512_mullo_epi32(z, _mm512_loadu_si512(wsum + 16 * j)));
            v[j] = _mm512_mul_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(t), s),
                                 _mm512_loadu_ps(ws + 16 * j));
        }
        store_row(C + (size_t)r * ldc, v, bias, cols, act);
    }
}

RG_AVX512_VNNI void rg_x86_qgemm_block(const rg_packed *w, int b, int m0, int m1, const uint8_t *A,
                                       int lda, const float *as, const int32_t *az, float *C,
                                       int ldc, rg_act act)
{
    int cols = w->n - b * NB < NB ? w->n - b * NB : NB, Kp = w->kp;
    const int8_t *B = w->q + (size_t)b * NB * Kp;
    A += (size_t)m0 * lda;
    C += (size_t)m0 * ldc + b * NB;
    int m = m0;
    for (; m + MR <= m1; m += MR, A += (size_t)MR * lda, C += (size_t)MR * ldc)
        qgemm_strip(MR, Kp, A, lda, B, w, b, as + m, az + m, C, ldc, cols, act);
    switch (m1 - m) {
    case 5:
        qgemm_strip(5, Kp, A, lda, B, w, b, as + m, az + m, C, ldc, cols, act);
        break;
    case 4:
        qgemm_strip(4, Kp, A, lda, B, w, b, as + m, az + m, C, ldc, cols, act);
        break;
    case 3:
        qgemm_strip(3, Kp, A, lda, B, w, b, as + m, az + m, C, ldc, cols, act);
        break;
    case 2:
        qgemm_strip(2, Kp, A, lda, B, w, b, as + m, az + m, C, ldc, cols, act);
        break;
    case 1:
        qgemm_strip(1, Kp, A, lda, B, w, b, as + m, az + m, C, ldc, cols, act);
        break;
    default:
        break;
    }
}

#endif
