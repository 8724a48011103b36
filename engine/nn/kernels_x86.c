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
 * per dimension; a last 16 keys alone), softmax, then the weighted sum of V rows, normalised at
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
        int j = 0;
        for (; j + 32 <= Lp; j += 32) {
            const float *k0 = kt + j;
            __m512 a[ATT_ROWS][2];
            for (int r = 0; r < ATT_ROWS; r++)
                a[r][0] = a[r][1] = _mm512_setzero_ps();
            for (int d = 0; d < dh; d++) {
                __m512 x0 = _mm512_loadu_ps(k0 + (size_t)d * Lp),
                       x1 = _mm512_loadu_ps(k0 + (size_t)d * Lp + 16);
                for (int r = 0; r < ATT_ROWS; r++) {
                    __m512 qv = _mm512_set1_ps(qr[r][d]);
                    a[r][0] = _mm512_fmadd_ps(qv, x0, a[r][0]);
                    a[r][1] = _mm512_fmadd_ps(qv, x1, a[r][1]);
                }
            }
            for (int r = 0; r < ATT_ROWS; r++) {
                _mm512_storeu_ps(s + (size_t)r * Lp + j, _mm512_mul_ps(a[r][0], vscale));
                _mm512_storeu_ps(s + (size_t)r * Lp + j + 16, _mm512_mul_ps(a[r][1], vscale));
            }
        }
        if (j < Lp) { /* a last block of 16 keys */
            __m512 a[ATT_ROWS];
            for (int r = 0; r < ATT_ROWS; r++)
                a[r] = _mm512_setzero_ps();
            for (int d = 0; d < dh; d++) {
                __m512 x0 = _mm512_loadu_ps(kt + j + (size_t)d * Lp);
                for (int r = 0; r < ATT_ROWS; r++)
                    a[r] = _mm512_fmadd_ps(_mm512_set1_ps(qr[r][d]), x0, a[r]);
            }
            for (int r = 0; r < ATT_ROWS; r++)
                _mm512_storeu_ps(s + (size_t)r * Lp + j, _mm512_mul_ps(a[r], vscale));
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

/*
 * r[i] holds row i of a 16 x 16 block of 32-bit lanes; afterwards r[i] holds
 * column i: pairs of lanes, then pairs of pairs within each 128-bit lane,
 * then the 128-bit lanes themselves.
 */
AVX512 static inline __attribute__((always_inline)) void transpose16(__m512i r[16])
{
    __m512i t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) { /* r[4g + c]: rows 4g..4g+3 at column 4 * lane + c */
        r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
        r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
        r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
        r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    for (int c = 0; c < 4; c++) {
        __m512i x0 = _mm512_shuffle_i32x4(r[c], r[4 + c], 0x44);
        __m512i x1 = _mm512_shuffle_i32x4(r[c], r[4 + c], 0xee);
        __m512i y0 = _mm512_shuffle_i32x4(r[8 + c], r[12 + c], 0x44);
        __m512i y1 = _mm512_shuffle_i32x4(r[8 + c], r[12 + c], 0xee);
        t[c] = _mm512_shuffle_i32x4(x0, y0, 0x88);
        t[4 + c] = _mm512_shuffle_i32x4(x0, y0, 0xdd);
        t[8 + c] = _mm512_shuffle_i32x4(x1, y1, 0x88);
        t[12 + c] = _mm512_shuffle_i32x4(x1, y1, 0xdd);
    }
    for (int i = 0; i < 16; i++)
        r[i] = t[i];
}

AVX512 void rg_x86_attention_head(const float *q, const float *k, const float *v, int ld, int L,
                                  int dh, float scale, float *out, int ldo, float *scratch)
{
    int Lp = (L + 15) & ~15;
    float *kt = scratch, *s = scratch + (size_t)dh * Lp;
    for (int j = 0; j < Lp; j += 16) /* K transposed, 16 keys x 16 dimensions at a time */
        for (int d = 0; d < dh; d += 16) {
            __m512i r[16];
            for (int i = 0; i < 16; i++)
                r[i] = j + i < L ? _mm512_loadu_si512(k + (size_t)(j + i) * ld + d)
                                 : _mm512_setzero_si512();
            transpose16(r);
            for (int i = 0; i < 16; i++)
                _mm512_storeu_si512(kt + (size_t)(d + i) * Lp + j, r[i]);
        }
    switch (dh / 16) {
    case 1: attention_nv(1, q, v, ld, L, scale, out, ldo, kt, s); break;
    case 2: attention_nv(2, q, v, ld, L, scale, out, ldo, kt, s); break;
    case 3: attention_nv(3, q, v, ld, L, scale, out, ldo, kt, s); break;
    default: attention_nv(4, q, v, ld, L, scale, out, ldo, kt, s); break;
    }
}

/* ---- bfloat16 attention ---- */

#define BF16 __attribute__((target("avx512f,avx512bw,avx512bf16")))

int rg_x86_bf16(void)
{
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512bf16");
    }
    return cached;
}

/*
 * exp(x) for x <= 0 to within 5e-5 relative, for weights rounded to bf16
 * next (a step of 4e-3): one-constant reduction by ln 2, Taylor to degree 4
 * on |r| <= ln 2 / 2. 9 operations where rg_exp16 takes 15.
 */
RG_AVX512 static inline __m512 exp16_bf16(__m512 x)
{
    x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693147180559945309f), x);
    __m512 p = _mm512_fmadd_ps(r, _mm512_set1_ps(1.0f / 24), _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

/* 32 floats (n < 32: the first n, the rest zero) as 32 bf16, in order: 16 pairs. */
BF16 static inline __m512i bf16x32(const float *x, int n)
{
    __m512 lo = _mm512_maskz_loadu_ps(rg_tail16(n), x);
    __m512 hi = _mm512_maskz_loadu_ps(rg_tail16(n - 16), x + 16);
    return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
}

/* bf16x32 of x * scale. */
BF16 static inline __m512i bf16x32_scaled(const float *x, int n, __m512 scale)
{
    __m512 lo = _mm512_mul_ps(_mm512_maskz_loadu_ps(rg_tail16(n), x), scale);
    __m512 hi = _mm512_mul_ps(_mm512_maskz_loadu_ps(rg_tail16(n - 16), x + 16), scale);
    return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
}

/*
 * As attention_nv with the two products in bf16 (vdpbf16ps: pairs of bf16
 * products summed into fp32): K packed as [dh/2][Lp] pairs of dimensions,
 * V as [Lp/2][dh] pairs of keys, the rows of Q (scaled first) and of the
 * softmax weights as pairs broadcast. Scores, softmax and sums stay fp32;
 * exp to within 5e-5 (exp16_bf16), below the bf16 step of the weights.
 */
BF16 static inline __attribute__((always_inline)) void
attention_bf16_nv(const int nv, const float *q, int ld, int L, float scale, float *out, int ldo,
                  const uint32_t *kb, const uint32_t *vb, float *s, uint32_t *pb, uint32_t *qb)
{
    int dh = 16 * nv, np = dh / 2, Lp = (L + 15) & ~15, ps = Lp / 2;
    const __m512 vscale = _mm512_set1_ps(scale);
    for (int i = 0; i < L; i += ATT_ROWS) {
        for (int r = 0; r < ATT_ROWS; r++) { /* rows past L repeat the last one; not stored */
            const float *qr = q + (size_t)(i + r < L ? i + r : L - 1) * ld;
            for (int d = 0; d < dh; d += 32) /* q * scale, so the scores need no scaling */
                _mm512_mask_storeu_epi32(qb + r * np + d / 2, rg_tail16((dh - d) / 2),
                                         bf16x32_scaled(qr + d, dh - d, vscale));
        }
        int j = 0;
        for (; j + 32 <= Lp; j += 32) {
            const uint32_t *k0 = kb + j;
            __m512 a[ATT_ROWS][2];
            for (int r = 0; r < ATT_ROWS; r++)
                a[r][0] = a[r][1] = _mm512_setzero_ps();
            for (int p = 0; p < np; p++) {
                __m512bh x0 = (__m512bh)_mm512_loadu_si512(k0 + (size_t)p * Lp);
                __m512bh x1 = (__m512bh)_mm512_loadu_si512(k0 + (size_t)p * Lp + 16);
                for (int r = 0; r < ATT_ROWS; r++) {
                    __m512bh qv = (__m512bh)_mm512_set1_epi32((int)qb[r * np + p]);
                    a[r][0] = _mm512_dpbf16_ps(a[r][0], qv, x0);
                    a[r][1] = _mm512_dpbf16_ps(a[r][1], qv, x1);
                }
            }
            for (int r = 0; r < ATT_ROWS; r++) {
                _mm512_storeu_ps(s + (size_t)r * Lp + j, a[r][0]);
                _mm512_storeu_ps(s + (size_t)r * Lp + j + 16, a[r][1]);
            }
        }
        if (j < Lp) { /* a last block of 16 keys */
            __m512 a[ATT_ROWS];
            for (int r = 0; r < ATT_ROWS; r++)
                a[r] = _mm512_setzero_ps();
            for (int p = 0; p < np; p++) {
                __m512bh x0 = (__m512bh)_mm512_loadu_si512(kb + j + (size_t)p * Lp);
                for (int r = 0; r < ATT_ROWS; r++)
                    a[r] = _mm512_dpbf16_ps(a[r], (__m512bh)_mm512_set1_epi32((int)qb[r * np + p]),
                                            x0);
            }
            for (int r = 0; r < ATT_ROWS; r++)
                _mm512_storeu_ps(s + (size_t)r * Lp + j, a[r]);
        }
        float inv[ATT_ROWS];
        for (int r = 0; r < ATT_ROWS; r++) { /* softmax straight into bf16 weights */
            const float *sr = s + (size_t)r * Lp;
            __m512 mx = _mm512_set1_ps(-3.0e38f), sum = _mm512_setzero_ps();
            for (int j = 0; j < Lp; j += 16)
                mx = _mm512_mask_max_ps(mx, rg_tail16(L - j), mx, _mm512_loadu_ps(sr + j));
            __m512 vmax = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
            for (int j = 0; j < Lp; j += 32) { /* zeros past L, so odd L pairs with 0 */
                __m512 e0 = _mm512_maskz_mov_ps(
                    rg_tail16(L - j), exp16_bf16(_mm512_sub_ps(_mm512_loadu_ps(sr + j), vmax)));
                __m512 e1 = _mm512_setzero_ps();
                if (j + 16 < L)
                    e1 = _mm512_maskz_mov_ps(
                        rg_tail16(L - j - 16),
                        exp16_bf16(_mm512_sub_ps(_mm512_loadu_ps(sr + j + 16), vmax)));
                sum = _mm512_add_ps(sum, _mm512_add_ps(e0, e1));
                _mm512_mask_storeu_epi32(pb + (size_t)r * ps + j / 2, rg_tail16((Lp - j) / 2),
                                         (__m512i)_mm512_cvtne2ps_pbh(e1, e0));
            }
            inv[r] = 1.0f / _mm512_reduce_add_ps(sum);
        }
        __m512 o[ATT_ROWS][4];
        for (int r = 0; r < ATT_ROWS; r++)
            for (int t = 0; t < nv; t++)
                o[r][t] = _mm512_setzero_ps();
        for (int jp = 0; jp < (L + 1) / 2; jp++) {
            __m512bh vv[4];
            for (int t = 0; t < nv; t++)
                vv[t] = (__m512bh)_mm512_loadu_si512(vb + (size_t)jp * dh + 16 * t);
            for (int r = 0; r < ATT_ROWS; r++) {
                __m512bh p = (__m512bh)_mm512_set1_epi32((int)pb[(size_t)r * ps + jp]);
                for (int t = 0; t < nv; t++)
                    o[r][t] = _mm512_dpbf16_ps(o[r][t], p, vv[t]);
            }
        }
        for (int r = 0; r < ATT_ROWS && i + r < L; r++)
            for (int t = 0; t < nv; t++)
                _mm512_storeu_ps(out + (size_t)(i + r) * ldo + 16 * t,
                                 _mm512_mul_ps(o[r][t], _mm512_set1_ps(inv[r])));
    }
}

BF16 void rg_x86_attention_head_bf16(const float *q, const float *k, const float *v, int ld, int L,
                                     int dh, float scale, float *out, int ldo, float *scratch)
{
    int Lp = (L + 15) & ~15, np = dh / 2;
    uint32_t *kb = (uint32_t *)scratch;                     /* [np][Lp] */
    uint32_t *vb = kb + (size_t)np * Lp;                    /* [Lp / 2][dh] */
    float *s = (float *)(vb + (size_t)Lp / 2 * dh);         /* [ATT_ROWS][Lp] */
    uint32_t *pb = (uint32_t *)(s + (size_t)ATT_ROWS * Lp); /* [ATT_ROWS][Lp / 2] */
    uint32_t *qb = pb + (size_t)ATT_ROWS * Lp / 2;          /* [ATT_ROWS][np] */
    for (int j = 0; j < Lp; j += 16) /* 16 keys' pairs of dimensions, transposed */
        for (int p = 0; p < np; p += 16) {
            __m512i r[16];
            for (int i = 0; i < 16; i++)
                r[i] = j + i < L ? bf16x32(k + (size_t)(j + i) * ld + 2 * p, dh - 2 * p)
                                 : _mm512_setzero_si512();
            transpose16(r);
            for (int i = 0; i < 16 && p + i < np; i++)
                _mm512_storeu_si512(kb + (size_t)(p + i) * Lp + j, r[i]);
        }
    /* lanes 0..15 of a conversion hold key j, 16..31 key j + 1: interleave them */
    const __m512i mix = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24,
                                         8, 23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    for (int jp = 0; jp < (L + 1) / 2; jp++) {
        const float *v0 = v + (size_t)(2 * jp) * ld, *v1 = v0 + ld;
        __mmask16 m1 = 2 * jp + 1 < L ? 0xffff : 0;
        for (int t = 0; t < dh; t += 16) {
            __m512bh x =
                _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(m1, v1 + t), _mm512_loadu_ps(v0 + t));
            _mm512_storeu_si512(vb + (size_t)jp * dh + t,
                                _mm512_permutexvar_epi16(mix, (__m512i)x));
        }
    }
    switch (dh / 16) {
    case 1:
        attention_bf16_nv(1, q, ld, L, scale, out, ldo, kb, vb, s, pb, qb);
        break;
    case 2:
        attention_bf16_nv(2, q, ld, L, scale, out, ldo, kb, vb, s, pb, qb);
        break;
    case 3:
        attention_bf16_nv(3, q, ld, L, scale, out, ldo, kb, vb, s, pb, qb);
        break;
    default:
        attention_bf16_nv(4, q, ld, L, scale, out, ldo, kb, vb, s, pb, qb);
        break;
    }
}

#endif
