/*
 * kernels.c — GEMM dispatch and the row-wise kernels.
 *
 * The reference GEMM is plain loops, written for clarity and used as the
 * oracle in tests; it is also the fallback when neither oneDNN nor CBLAS
 * was found at build time.
 */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "engine/nn/kernels.h"
#include "engine/nn/kernels_x86.h"

#include <math.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef RG_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#endif
#ifdef RG_HAVE_CBLAS
#include <cblas.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

/* Per thread: each thread (an HTTP worker, say) sets its own before a call. */
static _Thread_local int n_threads = 1;
static int force_portable;

int rg_kernels_force_portable(int on)
{
    int was = force_portable;
    force_portable = on != 0;
    return was;
}

int rg_kernels_portable(void) { return force_portable; }

#ifdef RG_HAVE_X86_KERNELS
/* The AVX-512 kernels run: the CPU has them and no test asked for plain C. */
static int simd(void) { return !force_portable && rg_x86_avx512(); }
#endif

int rg_gemm_available(rg_gemm_backend be)
{
    switch (be) {
    case RG_GEMM_REF:
        return 1;
#ifdef RG_HAVE_X86_KERNELS
    case RG_GEMM_NATIVE:
        return rg_x86_avx512();
#endif
#ifdef RG_HAVE_CBLAS
    case RG_GEMM_CBLAS:
        return 1;
#endif
#ifdef RG_HAVE_DNNL
    case RG_GEMM_DNNL:
        return 1;
#endif
    default:
        return 0;
    }
}

rg_gemm_backend rg_gemm_best(void)
{
    /* RAGD_GEMM names a backend to use instead (for comparisons, and for
       memcheck, which cannot follow oneDNN's JIT code); one that is not
       available here is ignored. */
    const char *want = getenv("RAGD_GEMM");
    for (int be = RG_GEMM_REF; want && be <= RG_GEMM_NATIVE; be++)
        if (strcmp(want, rg_gemm_name((rg_gemm_backend)be)) == 0 &&
            rg_gemm_available((rg_gemm_backend)be))
            return (rg_gemm_backend)be;
    if (rg_gemm_available(RG_GEMM_NATIVE))
        return RG_GEMM_NATIVE;
    if (rg_gemm_available(RG_GEMM_DNNL))
        return RG_GEMM_DNNL;
    if (rg_gemm_available(RG_GEMM_CBLAS))
        return RG_GEMM_CBLAS;
    return RG_GEMM_REF;
}

const char *rg_gemm_name(rg_gemm_backend be)
{
    static const char *names[] = {"auto", "reference", "cblas", "onednn", "native"};
    return be <= RG_GEMM_NATIVE ? names[be] : "?";
}

void rg_kernels_set_threads(int n)
{
    if (n <= 0) { /* the cores this process may run on (taskset, cpusets), else all online */
        cpu_set_t set;
        long c = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set)
                                                             : sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (int)c : 1;
    }
    n_threads = n;
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
#ifdef RG_HAVE_CBLAS
    openblas_set_num_threads(n);
#endif
}

int rg_kernels_threads(void) { return n_threads; }

void rg_kernels_set_threads_here(int n)
{
    n_threads = n > 0 ? n : 1;
}

static void sgemm_ref(int trans_b, int M, int N, int K, const float *A, int lda, const float *B,
                      int ldb, float beta, float *C, int ldc)
{
    for (int i = 0; i < M; i++) {
        const float *a = A + (size_t)i * lda;
        float *c = C + (size_t)i * ldc;
        if (trans_b) {
            for (int j = 0; j < N; j++) {
                const float *b = B + (size_t)j * ldb;
                float s = 0;
                for (int k = 0; k < K; k++)
                    s += a[k] * b[k];
                c[j] = s + (beta != 0 ? beta * c[j] : 0);
            }
        } else {
            for (int j = 0; j < N; j++)
                c[j] = beta != 0 ? beta * c[j] : 0;
            for (int k = 0; k < K; k++) {
                const float *b = B + (size_t)k * ldb;
                float ak = a[k];
                for (int j = 0; j < N; j++)
                    c[j] += ak * b[j];
            }
        }
    }
}

void rg_sgemm(rg_gemm_backend be, int trans_b, int M, int N, int K, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc)
{
    if (be == RG_GEMM_AUTO || be == RG_GEMM_NATIVE) /* plain matrices: the best library */
        be = rg_gemm_available(RG_GEMM_DNNL)    ? RG_GEMM_DNNL
             : rg_gemm_available(RG_GEMM_CBLAS) ? RG_GEMM_CBLAS
                                                : RG_GEMM_REF;
    switch (be) {
#ifdef RG_HAVE_DNNL
    case RG_GEMM_DNNL:
        if (dnnl_sgemm('N', trans_b ? 'T' : 'N', M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc) ==
            dnnl_success)
            return;
        break; /* only on bad arguments; the reference reports nothing either */
#endif
#ifdef RG_HAVE_CBLAS
    case RG_GEMM_CBLAS:
        cblas_sgemm(CblasRowMajor, CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, M, N, K, 1.0f,
                    A, lda, B, ldb, beta, C, ldc);
        return;
#endif
    default:
        break;
    }
    sgemm_ref(trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

static void qgemm_ref(int M, int N, int K, const uint8_t *A, const int8_t *W, int32_t *acc)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            const uint8_t *a = A + (size_t)i * K;
            const int8_t *w = W + (size_t)j * K;
            int32_t s = 0;
            for (int k = 0; k < K; k++)
                s += (int32_t)a[k] * w[k];
            acc[(size_t)i * N + j] = s;
        }
}

int rg_qgemm_act_max(rg_gemm_backend be)
{
#ifdef RG_HAVE_DNNL
    if (be == RG_GEMM_DNNL || be == RG_GEMM_AUTO || be == RG_GEMM_NATIVE) {
        unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
        int vnni = (isa & dnnl_cpu_isa_avx512_core_vnni) == dnnl_cpu_isa_avx512_core_vnni ||
                   (isa & dnnl_cpu_isa_avx2_vnni) == dnnl_cpu_isa_avx2_vnni;
        return vnni ? 255 : 127;
    }
#else
    (void)be;
#endif
    return 255;
}

void rg_qgemm(rg_gemm_backend be, int M, int N, int K, const uint8_t *A, const float *a_scale,
              const int32_t *a_zero, const int8_t *W, const float *w_scale, const int32_t *w_sum,
              const float *bias, int32_t *acc, float *C)
{
    int done = 0;
#ifdef RG_HAVE_DNNL
    if (be == RG_GEMM_DNNL || be == RG_GEMM_AUTO || be == RG_GEMM_NATIVE) {
        const int32_t co = 0;
        done = dnnl_gemm_u8s8s32('N', 'T', 'F', M, N, K, 1.0f, A, K, 0, W, K, 0, 0.0f, acc, N,
                                 &co) == dnnl_success;
    }
#else
    (void)be;
#endif
    if (!done)
        qgemm_ref(M, N, K, A, W, acc);
    for (int i = 0; i < M; i++) {
        float *c = C + (size_t)i * N;
        const int32_t *s = acc + (size_t)i * N;
        float as = a_scale[i];
        int32_t z = a_zero[i];
        for (int j = 0; j < N; j++)
            c[j] = (float)(s[j] - z * w_sum[j]) * as * w_scale[j] + bias[j];
    }
}

void rg_quantize_rows_u8(const float *x, int M, int K, int qmax, uint8_t *q, float *scale,
                         int32_t *zero)
{
#ifdef RG_HAVE_X86_KERNELS
    if (simd()) {
        rg_x86_quantize_rows_u8(x, M, K, qmax, q, scale, zero);
        return;
    }
#endif
    for (int i = 0; i < M; i++) {
        const float *r = x + (size_t)i * K;
        float lo = 0, hi = 0; /* the range always holds 0, so 0 is exact */
        for (int k = 0; k < K; k++) {
            lo = fminf(lo, r[k]);
            hi = fmaxf(hi, r[k]);
        }
        float s = hi > lo ? (hi - lo) / (float)qmax : 1.0f;
        float inv = 1.0f / s;
        int32_t z = (int32_t)lrintf(-lo * inv);
        for (int k = 0; k < K; k++) {
            long v = lrintf(r[k] * inv) + z;
            q[(size_t)i * K + k] = (uint8_t)(v < 0 ? 0 : v > qmax ? qmax : v);
        }
        scale[i] = s;
        zero[i] = z;
    }
}

void rg_quantize_rows_s8(const float *w, int N, int K, int8_t *q, float *scale, int32_t *sum)
{
    for (int i = 0; i < N; i++) {
        const float *r = w + (size_t)i * K;
        float m = 0;
        for (int k = 0; k < K; k++)
            m = fmaxf(m, fabsf(r[k]));
        float s = m > 0 ? m / 127.0f : 1.0f;
        float inv = 1.0f / s;
        int32_t t = 0;
        for (int k = 0; k < K; k++) {
            q[(size_t)i * K + k] = (int8_t)lrintf(r[k] * inv);
            t += q[(size_t)i * K + k];
        }
        scale[i] = s;
        sum[i] = t;
    }
}

/* x86: the AVX-512 kernels when the CPU has them; else the loops below. */
#ifdef RG_HAVE_X86_KERNELS
#define DISPATCH(fn, ...)                  \
    do {                                   \
        if (simd()) {                      \
            rg_x86_##fn(__VA_ARGS__);      \
            return;                        \
        }                                  \
    } while (0)
#else
#define DISPATCH(fn, ...) ((void)0)
#endif

void rg_add_bias(float *x, int rows, int dim, const float *b)
{
    DISPATCH(add_bias, x, rows, dim, b);
    for (int r = 0; r < rows; r++) {
        float *p = x + (size_t)r * dim;
        for (int i = 0; i < dim; i++)
            p[i] += b[i];
    }
}

void rg_add_layernorm(float *x, const float *res, int rows, int dim, const float *g,
                      const float *b, float eps)
{
    DISPATCH(add_layernorm, x, res, rows, dim, g, b, eps);
    for (int r = 0; r < rows; r++) {
        float *p = x + (size_t)r * dim;
        if (res) {
            const float *q = res + (size_t)r * dim;
            for (int i = 0; i < dim; i++)
                p[i] += q[i];
        }
        float mean = 0;
        for (int i = 0; i < dim; i++)
            mean += p[i];
        mean /= (float)dim;
        float var = 0;
        for (int i = 0; i < dim; i++)
            var += (p[i] - mean) * (p[i] - mean);
        var /= (float)dim;
        float inv = 1.0f / sqrtf(var + eps);
        for (int i = 0; i < dim; i++)
            p[i] = (p[i] - mean) * inv * g[i] + b[i];
    }
}

void rg_gelu(float *x, size_t n)
{
    DISPATCH(gelu, x, n);
    for (size_t i = 0; i < n; i++)
        x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

void rg_softmax_rows(float *x, int rows, int cols, int ld)
{
    DISPATCH(softmax_rows, x, rows, cols, ld);
    for (int r = 0; r < rows; r++) {
        float *p = x + (size_t)r * ld;
        float m = p[0];
        for (int i = 1; i < cols; i++)
            m = fmaxf(m, p[i]);
        float s = 0;
        for (int i = 0; i < cols; i++) {
            p[i] = expf(p[i] - m);
            s += p[i];
        }
        float inv = 1.0f / s;
        for (int i = 0; i < cols; i++)
            p[i] *= inv;
    }
}

size_t rg_attention_scratch(int L, int dh)
{
    size_t Lp = ((size_t)L + 15) & ~(size_t)15;
    /* fp32: K transposed, the scores of 8 query rows; bf16: K and V packed
       (dh * Lp), those scores, their bf16 copies (4 * Lp) and 8 rows of Q */
    return ((size_t)dh + 12) * Lp + 4 * (size_t)dh;
}

int rg_attention_bf16_native(int dh)
{
#ifdef RG_HAVE_X86_KERNELS
    return simd() && rg_x86_bf16() && dh % 16 == 0 && dh > 0 && dh <= 64;
#else
    (void)dh;
    return 0;
#endif
}

void rg_attention_head_bf16(const float *q, const float *k, const float *v, int ld, int L, int dh,
                            float scale, float *out, int ldo, float *scratch)
{
#ifdef RG_HAVE_X86_KERNELS
    if (rg_attention_bf16_native(dh)) {
        rg_x86_attention_head_bf16(q, k, v, ld, L, dh, scale, out, ldo, scratch);
        return;
    }
#endif
    rg_attention_head(q, k, v, ld, L, dh, scale, out, ldo, scratch);
}

void rg_attention_head(const float *q, const float *k, const float *v, int ld, int L, int dh,
                       float scale, float *out, int ldo, float *scratch)
{
#ifdef RG_HAVE_X86_KERNELS
    if (simd() && dh % 16 == 0 && dh <= 64) {
        rg_x86_attention_head(q, k, v, ld, L, dh, scale, out, ldo, scratch);
        return;
    }
#endif
    for (int i = 0; i < L; i++) {
        const float *qi = q + (size_t)i * ld;
        for (int j = 0; j < L; j++) {
            float s = 0;
            for (int d = 0; d < dh; d++)
                s += qi[d] * k[(size_t)j * ld + d];
            scratch[j] = s * scale;
        }
        rg_softmax_rows(scratch, 1, L, L);
        float *o = out + (size_t)i * ldo;
        for (int d = 0; d < dh; d++)
            o[d] = 0;
        for (int j = 0; j < L; j++)
            for (int d = 0; d < dh; d++)
                o[d] += scratch[j] * v[(size_t)j * ld + d];
    }
}
