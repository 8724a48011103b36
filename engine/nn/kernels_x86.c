/*
 * kernels_x86.c — AVX-512 row kernels. exp is a degree-6 polynomial after
 * reduction by ln 2 (relative error ~2e-7); erf for GELU is Abramowitz &
 * Stegun 7.1.26 (absolute error <= 1.5e-7). Tails (dim % 16) use masks.
 */
#include "engine/nn/kernels_x86.h"

#ifdef RG_HAVE_X86_KERNELS

#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f")))

int rg_x86_avx512(void)
{
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx512f") != 0;
    }
    return cached;
}

static inline __mmask16 tail(int n) { return n >= 16 ? 0xffff : (__mmask16)((1u << n) - 1); }

AVX512 static inline __m512 exp16(__m512 x)
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

AVX512 void rg_x86_add_bias(float *x, int rows, int dim, const float *b)
{
    for (int r = 0; r < rows; r++) {
        float *p = x + (size_t)r * dim;
        for (int i = 0; i < dim; i += 16) {
            __mmask16 m = tail(dim - i);
            __m512 v = _mm512_maskz_loadu_ps(m, p + i);
            _mm512_mask_storeu_ps(p + i, m, _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, b + i)));
        }
    }
}

AVX512 void rg_x86_add_layernorm(float *x, const float *res, int rows, int dim, const float *g,
                                 const float *b, float eps)
{
    for (int r = 0; r < rows; r++) {
        float *p = x + (size_t)r * dim;
        __m512 s = _mm512_setzero_ps();
        for (int i = 0; i < dim; i += 16) {
            __mmask16 m = tail(dim - i);
            __m512 v = _mm512_maskz_loadu_ps(m, p + i);
            if (res)
                v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, res + (size_t)r * dim + i));
            _mm512_mask_storeu_ps(p + i, m, v);
            s = _mm512_add_ps(s, v);
        }
        __m512 mean = _mm512_set1_ps(_mm512_reduce_add_ps(s) / (float)dim);
        __m512 q = _mm512_setzero_ps();
        for (int i = 0; i < dim; i += 16) {
            __mmask16 m = tail(dim - i);
            __m512 d = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, p + i), mean);
            q = _mm512_fmadd_ps(d, d, q);
        }
        float var = _mm512_reduce_add_ps(q) / (float)dim;
        __m512 inv = _mm512_set1_ps(1.0f / __builtin_sqrtf(var + eps));
        for (int i = 0; i < dim; i += 16) {
            __mmask16 m = tail(dim - i);
            __m512 d = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, p + i), mean), inv);
            d = _mm512_fmadd_ps(d, _mm512_maskz_loadu_ps(m, g + i), _mm512_maskz_loadu_ps(m, b + i));
            _mm512_mask_storeu_ps(p + i, m, d);
        }
    }
}

AVX512 void rg_x86_gelu(float *x, size_t n)
{
    const __m512 half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f);
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = tail(n - i > 16 ? 16 : (int)(n - i));
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        __m512 z = _mm512_mul_ps(v, _mm512_set1_ps(0.70710678118654752f));
        __m512 a = _mm512_abs_ps(z);
        __m512 t = _mm512_div_ps(one, _mm512_fmadd_ps(a, _mm512_set1_ps(0.3275911f), one));
        __m512 p = _mm512_set1_ps(1.061405429f);
        p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.453152027f));
        p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.421413741f));
        p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.284496736f));
        p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.254829592f));
        p = _mm512_mul_ps(p, t);
        __m512 e = exp16(_mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), a), a));
        __m512 erf = _mm512_fnmadd_ps(p, e, one);
        erf = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(erf), /* erf is odd */
                                                  _mm512_and_si512(_mm512_castps_si512(z), sign)));
        _mm512_mask_storeu_ps(x + i, m, _mm512_mul_ps(_mm512_mul_ps(half, v), _mm512_add_ps(one, erf)));
    }
}

AVX512 void rg_x86_softmax_rows(float *x, int rows, int cols, int ld)
{
    for (int r = 0; r < rows; r++) {
        float *p = x + (size_t)r * ld;
        __m512 mx = _mm512_set1_ps(-3.0e38f);
        for (int i = 0; i < cols; i += 16) {
            __mmask16 m = tail(cols - i);
            mx = _mm512_mask_max_ps(mx, m, mx, _mm512_maskz_loadu_ps(m, p + i));
        }
        __m512 vmax = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
        __m512 s = _mm512_setzero_ps();
        for (int i = 0; i < cols; i += 16) {
            __mmask16 m = tail(cols - i);
            __m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, p + i), vmax));
            e = _mm512_maskz_mov_ps(m, e);
            s = _mm512_add_ps(s, e);
            _mm512_mask_storeu_ps(p + i, m, e);
        }
        __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(s));
        for (int i = 0; i < cols; i += 16) {
            __mmask16 m = tail(cols - i);
            _mm512_mask_storeu_ps(p + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, p + i), inv));
        }
    }
}

#endif
