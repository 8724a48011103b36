/*
 * simd_x86.h — AVX-512 helpers shared by the x86 kernel files: masks for
 * row tails, exp and the exact (erf) GELU on 16 floats. exp is a degree-6
 * polynomial after reduction by ln 2 (relative error ~2e-7); erf is
 * Abramowitz & Stegun 7.1.26 (absolute error <= 1.5e-7). Internal to
 * engine/nn; include only from files built with per-function targets.
 */
#ifndef RG_NN_SIMD_X86_H
#define RG_NN_SIMD_X86_H

#if defined(__x86_64__) && defined(__GNUC__)

#include <immintrin.h>

#define RG_AVX512      __attribute__((target("avx512f")))
#define RG_AVX512_VNNI __attribute__((target("avx512f,avx512bw,avx512vnni")))

/* lanes 0..n-1 of 16 (none when n <= 0) */
static inline __mmask16 rg_tail16(int n)
{
    return n >= 16 ? 0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1);
}

RG_AVX512 static inline __m512 rg_exp16(__m512 x)
{
    x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(88.0f)), _mm512_set1_ps(-88.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

RG_AVX512 static inline __m512 rg_gelu16(__m512 v)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    __m512 z = _mm512_mul_ps(v, _mm512_set1_ps(0.70710678118654752f));
    __m512 a = _mm512_abs_ps(z);
    __m512 t = _mm512_div_ps(one, _mm512_fmadd_ps(a, _mm512_set1_ps(0.3275911f), one));
    __m512 p = _mm512_set1_ps(1.061405429f);
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.453152027f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.421413741f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.284496736f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.254829592f));
    p = _mm512_mul_ps(p, t);
    __m512 e = rg_exp16(_mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), a), a));
    __m512 erf = _mm512_fnmadd_ps(p, e, one);
    /* erf is odd: give it the sign of z */
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
    erf = _mm512_castsi512_ps(
        _mm512_or_si512(_mm512_castps_si512(erf), _mm512_and_si512(_mm512_castps_si512(z), sign)));
    return _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), v), _mm512_add_ps(one, erf));
}

#endif
#endif
