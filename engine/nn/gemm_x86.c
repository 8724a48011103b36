/*
 * gemm_x86.c — AVX-512 products over packed weights (layout in gemm.h).
 *
 * The micro-kernel keeps a 6-row x 64-column tile of C in 24 registers:
 * each k step loads one 64-wide row of the packed block (4 registers) and
 * broadcasts one value from each of the 6 rows of A, so 24 FMAs (or VNNI
 * dot-products of 4 k each) cost 10 loads. A column block (64 x K) stays
 * in L2 while the strips of rows pass over it. Each strip also asks for
 * a share of the next column block (prefetch into L2), so that block's
 * trip from L3 or memory overlaps this block's arithmetic: with the few
 * rows of a query the product is otherwise bound by that trip.
 */
#include "engine/nn/kernels_x86.h"

#ifdef RG_HAVE_X86_KERNELS

#include <string.h>

#include "engine/nn/simd_x86.h"

#define NB     RG_PACK_NB
#define MR     6
#define INLINE static inline __attribute__((always_inline))
/* 64-byte lines of the next block prefetched per k step of a strip: with
 * two or more strips per block the whole next block arrives in time. */
#define PF_LINES 2

/* The next block's bytes each strip prefetches: strip s of a block asks for
 * [s * share, (s + 1) * share) of the following block. */
typedef struct prefetch {
    const char *p, *end;
} prefetch;

INLINE prefetch prefetch_share(const void *next, size_t block_bytes, int strip, size_t per_strip)
{
    prefetch pf = {NULL, NULL};
    if (!next) return pf;
    size_t lo = (size_t)strip * per_strip;
    if (lo >= block_bytes) return pf;
    size_t hi = lo + per_strip < block_bytes ? lo + per_strip : block_bytes;
    pf.p = (const char *)next + lo;
    pf.end = (const char *)next + hi;
    return pf;
}

/* The block after block b: b + 1 (at `following`, same size), or the first
 * block of the chained product after the last one. */
INLINE const void *next_block(const rg_packed *w, int b, const void *following, size_t *bytes)
{
    if (b + 1 < w->blocks) return following;
    return w->next ? rg_packed_first_block(w->next, bytes) : NULL;
}

INLINE void prefetch_step(prefetch *pf)
{
    if (pf->p < pf->end) {
#pragma GCC unroll 2
        for (int i = 0; i < PF_LINES; i++)
            _mm_prefetch(pf->p + 64 * i, _MM_HINT_T1);
        pf->p += 64 * PF_LINES;
    }
}

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
                                  const float *bias, float *C, int ldc, int cols, rg_act act,
                                  prefetch pf)
{
    __m512 c[MR][4];
    const float *a[MR];
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++) {
        a[r] = A + (size_t)(r < mr ? r : 0) * lda;
        c[r][0] = c[r][1] = c[r][2] = c[r][3] = _mm512_setzero_ps();
    }
    for (int k = 0; k < K; k++) {
        prefetch_step(&pf);
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
    size_t block_bytes = (size_t)NB * K * sizeof(float), per_strip = (size_t)K * 64 * PF_LINES;
    const float *B = w->f + (size_t)b * NB * K, *bias = w->bias + b * NB;
    const void *next = next_block(w, b, B + (size_t)NB * K, &block_bytes);
    A += (size_t)m0 * lda;
    C += (size_t)m0 * ldc + b * NB;
    int m = m0, s = 0;
    for (; m + MR <= m1; m += MR, s++, A += (size_t)MR * lda, C += (size_t)MR * ldc)
        sgemm_strip(MR, K, A, lda, B, bias, C, ldc, cols, act,
                    prefetch_share(next, block_bytes, s, per_strip));
    prefetch pf = prefetch_share(next, block_bytes, s, per_strip);
    switch (m1 - m) {
    case 5:
        sgemm_strip(5, K, A, lda, B, bias, C, ldc, cols, act, pf);
        break;
    case 4:
        sgemm_strip(4, K, A, lda, B, bias, C, ldc, cols, act, pf);
        break;
    case 3:
        sgemm_strip(3, K, A, lda, B, bias, C, ldc, cols, act, pf);
        break;
    case 2:
        sgemm_strip(2, K, A, lda, B, bias, C, ldc, cols, act, pf);
        break;
    case 1:
        sgemm_strip(1, K, A, lda, B, bias, C, ldc, cols, act, pf);
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
                                       const int32_t *az, float *C, int ldc, int cols, rg_act act,
                                       prefetch pf)
{
    __m512i c[MR][4];
    const uint8_t *a[MR];
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++) {
        a[r] = A + (size_t)(r < mr ? r : 0) * lda;
        c[r][0] = c[r][1] = c[r][2] = c[r][3] = _mm512_setzero_si512();
    }
    for (int k = 0; k < Kp; k += 4) {
        prefetch_step(&pf);
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
    size_t block_bytes = (size_t)NB * Kp, per_strip = (size_t)(Kp / 4) * 64 * PF_LINES;
    const int8_t *B = w->q + (size_t)b * NB * Kp;
    const void *next = next_block(w, b, B + (size_t)NB * Kp, &block_bytes);
    A += (size_t)m0 * lda;
    C += (size_t)m0 * ldc + b * NB;
    int m = m0, s = 0;
    for (; m + MR <= m1; m += MR, s++, A += (size_t)MR * lda, C += (size_t)MR * ldc)
        qgemm_strip(MR, Kp, A, lda, B, w, b, as + m, az + m, C, ldc, cols, act,
                    prefetch_share(next, block_bytes, s, per_strip));
    prefetch pf = prefetch_share(next, block_bytes, s, per_strip);
    switch (m1 - m) {
    case 5:
        qgemm_strip(5, Kp, A, lda, B, w, b, as + m, az + m, C, ldc, cols, act, pf);
        break;
    case 4:
        qgemm_strip(4, Kp, A, lda, B, w, b, as + m, az + m, C, ldc, cols, act, pf);
        break;
    case 3:
        qgemm_strip(3, Kp, A, lda, B, w, b, as + m, az + m, C, ldc, cols, act, pf);
        break;
    case 2:
        qgemm_strip(2, Kp, A, lda, B, w, b, as + m, az + m, C, ldc, cols, act, pf);
        break;
    case 1:
        qgemm_strip(1, Kp, A, lda, B, w, b, as + m, az + m, C, ldc, cols, act, pf);
        break;
    default:
        break;
    }
}

#endif
