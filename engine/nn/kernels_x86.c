/*
 * kernels_x86.c — AVX-512 row kernels, activation quantisation and
 * attention (exp and erf from simd_x86.h). Tails (dim % 16) use masks.
 */
#include "engine/nn/kernels_x86.h"

#ifdef RG_HAVE_X86_KERNELS

#include "engine/nn/simd_x86.h"

#define AVX512 RG_AVX512

int rg_x86_avx512(void)
{
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx512f") != 0;
    }
    return cached;
}

int rg_x86_vnni(void)
{
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512vnni");
    }
    return cached;
}

AVX512 void rg_x86_add_bias(float *x, int rows, int dim, const float *b)
{
    for (int r = 0; r < rows; r++) {
        float *p = x + (size_t)r * dim;
        for (int i = 0; i < dim; i += 16) {
            __mmask16 m = rg_tail16(dim - i);
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
            __mmask16 m = rg_tail16(dim - i);
            __m512 v = _mm512_maskz_loadu_ps(m, p + i);
            if (res)
                v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, res + (size_t)r * dim + i));
            _mm512_mask_storeu_ps(p + i, m, v);
            s = _mm512_add_ps(s, v);
        }
        __m512 mean = _mm512_set1_ps(_mm512_reduce_add_ps(s) / (float)dim);
        __m512 q = _mm512_setzero_ps();
        for (int i = 0; i < dim; i += 16) {
            __mmask16 m = rg_tail16(dim - i);
            __m512 d = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, p + i), mean);
            q = _mm512_fmadd_ps(d, d, q);
        }
        float var = _mm512_reduce_add_ps(q) / (float)dim;
        __m512 inv = _mm512_set1_ps(1.0f / __builtin_sqrtf(var + eps));
        for (int i = 0; i < dim; i += 16) {
            __mmask16 m = rg_tail16(dim - i);
            __m512 d = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, p + i), mean), inv);
            d = _mm512_fmadd_ps(d, _mm512_maskz_loadu_ps(m, g + i), _mm512_maskz_loadu_ps(m, b + i));
            _mm512_mask_storeu_ps(p + i, m, d);
        }
    }
}

AVX512 void rg_x86_gelu(float *x, size_t n)
{
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = rg_tail16(n - i > 16 ? 16 : (int)(n - i));
        _mm512_mask_storeu_ps(x + i, m, rg_gelu16(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

AVX512 void rg_x86_softmax_rows(float *x, int rows, int cols, int ld)
{
    for (int r = 0; r < rows; r++) {
        float *p = x + (size_t)r * ld;
        __m512 mx = _mm512_set1_ps(-3.0e38f);
        for (int i = 0; i < cols; i += 16) {
            __mmask16 m = rg_tail16(cols - i);
            mx = _mm512_mask_max_ps(mx, m, mx, _mm512_maskz_loadu_ps(m, p + i));
        }
        __m512 vmax = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
        __m512 s = _mm512_setzero_ps();
        for (int i = 0; i < cols; i += 16) {
            __mmask16 m = rg_tail16(cols - i);
            __m512 e = rg_exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, p + i), vmax));
            e = _mm512_maskz_mov_ps(m, e);
            s = _mm512_add_ps(s, e);
            _mm512_mask_storeu_ps(p + i, m, e);
        }
        __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(s));
        for (int i = 0; i < cols; i += 16) {
            __mmask16 m = rg_tail16(cols - i);
            _mm512_mask_storeu_ps(p + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, p + i), inv));
        }
    }
}

/* Same codes as the C loop in kernels.c: cvtps rounds to nearest even like lrintf. */
AVX512 void rg_x86_quantize_rows_u8(const float *x, int M, int K, int qmax, uint8_t *q,
                                    float *scale, int32_t *zero)
{
    for (int i = 0; i < M; i++) {
        const float *r = x + (size_t)i * K;
        __m512 lo = _mm512_setzero_ps(), hi = _mm512_setzero_ps();
        for (int k = 0; k < K; k += 16) {
            __m512 v = _mm512_maskz_loadu_ps(rg_tail16(K - k), r + k);
            lo = _mm512_min_ps(lo, v);
            hi = _mm512_max_ps(hi, v);
        }
        float l = _mm512_reduce_min_ps(lo), h = _mm512_reduce_max_ps(hi);
        float s = h > l ? (h - l) / (float)qmax : 1.0f;
        float inv = 1.0f / s;
        int32_t z = (int32_t)__builtin_lrintf(-l * inv);
        __m512 vinv = _mm512_set1_ps(inv);
        __m512i vz = _mm512_set1_epi32(z), top = _mm512_set1_epi32(qmax), zero0 = _mm512_setzero_si512();
        for (int k = 0; k < K; k += 16) {
            __mmask16 m = rg_tail16(K - k);
            __m512i c = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, r + k), vinv));
            c = _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(c, vz), zero0), top);
            _mm512_mask_cvtepi32_storeu_epi8(q + (size_t)i * K + k, m, c);
        }
        scale[i] = s;
        zero[i] = z;
    }
}

/*
 * One attention head, ATT_ROWS query rows at a time: scores against K
 * transposed (32 keys x 8 rows take 2 loads and 8 broadcasts for 16 FMAs
 * per dimension), softmax, then the weighted sum of V rows, normalised at
 * the end. nv = dh / 16 is a constant in each copy so the accumulators
 * stay in registers.
 */
#define ATT_ROWS 8
AVX512 static inline __attribute__((always_inline)) void
attention_nv(const int nv, const float *q, const float *v, int ld, int L, float scale, float *out,
             int ldo, const float *kt, float *s)
{
    int dh = 16 * nv, Lp = (L + 15) & ~15;
    const __m512 vscale = _mm512_set1_ps(scale);
    for (int i = 0; i < L; i += ATT_ROWS) {
        const float *qr[ATT_ROWS];
        for (int r = 0; r < ATT_ROWS; r++) /* rows past L repeat the last one; not stored */
            qr[r] = q + (size_t)(i + r < L ? i + r : L - 1) * ld;
        for (int j = 0; j < Lp; j += 32) {
            int two = j + 16 < Lp; /* a second block of 16 keys */
            const float *k0 = kt + j, *k1 = kt + (two ? j + 16 : j);
            __m512 a[ATT_ROWS][2];
            for (int r = 0; r < ATT_ROWS; r++)
                a[r][0] = a[r][1] = _mm512_setzero_ps();
            for (int d = 0; d < dh; d++) {
                __m512 x0 = _mm512_loadu_ps(k0 + (size_t)d * Lp), x1 = _mm512_loadu_ps(k1 + (size_t)d * Lp);
                for (int r = 0; r < ATT_ROWS; r++) {
                    __m512 qv = _mm512_set1_ps(qr[r][d]);
                    a[r][0] = _mm512_fmadd_ps(qv, x0, a[r][0]);
                    a[r][1] = _mm512_fmadd_ps(qv, x1, a[r][1]);
                }
            }
            for (int r = 0; r < ATT_ROWS; r++) {
                _mm512_storeu_ps(s + (size_t)r * Lp + j, _mm512_mul_ps(a[r][0], vscale));
                if (two)
                    _mm512_storeu_ps(s + (size_t)r * Lp + j + 16, _mm512_mul_ps(a[r][1], vscale));
            }
        }
        float inv[ATT_ROWS];
        for (int r = 0; r < ATT_ROWS; r++) {
            float *sr = s + (size_t)r * Lp;
            __m512 mx = _mm512_set1_ps(-3.0e38f), sum = _mm512_setzero_ps();
            for (int j = 0; j < Lp; j += 16)
                mx = _mm512_mask_max_ps(mx, rg_tail16(L - j), mx, _mm512_loadu_ps(sr + j));
            __m512 vmax = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
            for (int j = 0; j < Lp; j += 16) {
                __m512 e = _mm512_maskz_mov_ps(rg_tail16(L - j),
                                               rg_exp16(_mm512_sub_ps(_mm512_loadu_ps(sr + j), vmax)));
                sum = _mm512_add_ps(sum, e);
                _mm512_storeu_ps(sr + j, e);
            }
            inv[r] = 1.0f / _mm512_reduce_add_ps(sum);
        }
        __m512 o[ATT_ROWS][4];
        for (int r = 0; r < ATT_ROWS; r++)
            for (int t = 0; t < nv; t++)
                o[r][t] = _mm512_setzero_ps();
        for (int j = 0; j < L; j++) {
            const float *vr = v + (size_t)j * ld;
            __m512 vv[4];
            for (int t = 0; t < nv; t++)
                vv[t] = _mm512_loadu_ps(vr + 16 * t);
            for (int r = 0; r < ATT_ROWS; r++) {
                __m512 p = _mm512_set1_ps(s[(size_t)r * Lp + j]);
                for (int t = 0; t < nv; t++)
                    o[r][t] = _mm512_fmadd_ps(p, vv[t], o[r][t]);
            }
        }
        for (int r = 0; r < ATT_ROWS && i + r < L; r++)
            for (int t = 0; t < nv; t++)
                _mm512_storeu_ps(out + (size_t)(i + r) * ldo + 16 * t,
                                 _mm512_mul_ps(o[r][t], _mm512_set1_ps(inv[r])));
    }
}

AVX512 void rg_x86_attention_head(const float *q, const float *k, const float *v, int ld, int L,
                                  int dh, float scale, float *out, int ldo, float *scratch)
{
    int Lp = (L + 15) & ~15;
    float *kt = scratch, *s = scratch + (size_t)dh * Lp;
    for (int j = 0; j < Lp; j++)
        for (int d = 0; d < dh; d++)
            kt[(size_t)d * Lp + j] = j < L ? k[(size_t)j * ld + d] : 0.0f;
    switch (dh / 16) {
    case 1: attention_nv(1, q, v, ld, L, scale, out, ldo, kt, s); break;
    case 2: attention_nv(2, q, v, ld, L, scale, out, ldo, kt, s); break;
    case 3: attention_nv(3, q, v, ld, L, scale, out, ldo, kt, s); break;
    default: attention_nv(4, q, v, ld, L, scale, out, ldo, kt, s); break;
    }
}

#endif
