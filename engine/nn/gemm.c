/*
 * gemm.c — packing of linear-layer weights, the plain C products over the
 * packed layout (the oracle for the AVX-512 ones and the fallback), and the
 * split of a product into tasks for the threads.
 */
#include "engine/nn/gemm.h"

#include <math.h>
#include <string.h>

#include "engine/base/mem.h"
#include "engine/nn/kernels.h"
#include "engine/nn/kernels_x86.h"

#define NB RG_PACK_NB
/* Rows of A per task: enough to amortise a block's trip through L2, few
 * enough that a query's rows and a block's columns still make several tasks. */
#define TASK_ROWS 96

int rg_packed_fast_f32(void)
{
#ifdef RG_HAVE_X86_KERNELS
    return !rg_kernels_portable() && rg_x86_avx512();
#else
    return 0;
#endif
}

int rg_packed_fast_s8(void)
{
#ifdef RG_HAVE_X86_KERNELS
    return !rg_kernels_portable() && rg_x86_vnni();
#else
    return 0;
#endif
}

void rg_packed_free(rg_packed *p)
{
    rg_free(p->f);
    rg_free(p->q);
    rg_free(p->bias);
    rg_free(p->scale);
    rg_free(p->sum);
    memset(p, 0, sizeof *p);
}

void rg_packed_chain(rg_packed *p, const rg_packed *next)
{
    p->next = next;
}

const void *rg_packed_first_block(const rg_packed *p, size_t *bytes)
{
    *bytes = 0;
    if (p->f) {
        *bytes = (size_t)NB * (size_t)p->k * sizeof(float);
        return p->f;
    }
    if (p->q) {
        *bytes = (size_t)NB * (size_t)p->kp;
        return p->q;
    }
    return NULL;
}

static int pack_common(rg_packed *p, const float *bias, int n, int k, int kp)
{
    memset(p, 0, sizeof *p);
    p->n = n;
    p->k = k;
    p->kp = kp;
    p->blocks = (n + NB - 1) / NB;
    p->bias = rg_calloc((size_t)p->blocks * NB, sizeof *p->bias);
    if (!p->bias) return -1;
    if (bias) memcpy(p->bias, bias, (size_t)n * sizeof *bias);
    return 0;
}

int rg_pack_f32(rg_packed *p, const float *w, const float *bias, int n, int k)
{
    if (pack_common(p, bias, n, k, k)) return -1;
    p->f = rg_calloc((size_t)p->blocks * NB * (size_t)k, sizeof *p->f);
    if (!p->f) {
        rg_packed_free(p);
        return -1;
    }
    for (int j = 0; j < n; j++) {
        float *dst = p->f + (size_t)(j / NB) * NB * k + j % NB;
        for (int kk = 0; kk < k; kk++)
            dst[(size_t)kk * NB] = w[(size_t)j * k + kk];
    }
    return 0;
}

int rg_pack_s8(rg_packed *p, const float *w, const float *bias, int n, int k)
{
    if (pack_common(p, bias, n, k, (k + 3) & ~3)) return -1;
    size_t padded = (size_t)p->blocks * NB;
    int8_t *rows = rg_malloc((size_t)n * k);
    p->q = rg_calloc(padded * (size_t)p->kp, 1);
    p->scale = rg_calloc(padded, sizeof *p->scale);
    p->sum = rg_calloc(padded, sizeof *p->sum);
    if (!rows || !p->q || !p->scale || !p->sum) {
        rg_free(rows);
        rg_packed_free(p);
        return -1;
    }
    rg_quantize_rows_s8(w, n, k, rows, p->scale, p->sum);
    for (int j = 0; j < n; j++) {
        int8_t *dst = p->q + (size_t)(j / NB) * NB * p->kp + 4 * (j % NB);
        for (int kk = 0; kk < k; kk++)
            dst[(size_t)(kk / 4) * 4 * NB + kk % 4] = rows[(size_t)j * k + kk];
    }
    rg_free(rows);
    return 0;
}

static float act1(float x, rg_act act)
{
    return act == RG_ACT_GELU ? 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)) : x;
}

/* Rows m0..m1 of column block b, plain C. */
static void sgemm_block_c(const rg_packed *w, int b, int m0, int m1, const float *A, int lda,
                          float *C, int ldc, rg_act act)
{
    int cols = w->n - b * NB < NB ? w->n - b * NB : NB;
    const float *B = w->f + (size_t)b * NB * w->k;
    for (int m = m0; m < m1; m++) {
        float acc[NB] = {0};
        const float *a = A + (size_t)m * lda;
        for (int kk = 0; kk < w->k; kk++)
            for (int j = 0; j < cols; j++)
                acc[j] += a[kk] * B[(size_t)kk * NB + j];
        float *c = C + (size_t)m * ldc + b * NB;
        for (int j = 0; j < cols; j++)
            c[j] = act1(acc[j] + w->bias[b * NB + j], act);
    }
}

static void qgemm_block_c(const rg_packed *w, int b, int m0, int m1, const uint8_t *A, int lda,
                          const float *as, const int32_t *az, float *C, int ldc, rg_act act)
{
    int cols = w->n - b * NB < NB ? w->n - b * NB : NB;
    const int8_t *B = w->q + (size_t)b * NB * w->kp;
    for (int m = m0; m < m1; m++) {
        int32_t acc[NB] = {0};
        const uint8_t *a = A + (size_t)m * lda;
        for (int kk = 0; kk < w->k; kk++)
            for (int j = 0; j < cols; j++)
                acc[j] += (int32_t)a[kk] * B[(size_t)(kk / 4) * 4 * NB + 4 * j + kk % 4];
        float *c = C + (size_t)m * ldc + b * NB;
        for (int j = 0; j < cols; j++) {
            int o = b * NB + j;
            float v = (float)(acc[j] - az[m] * w->sum[o]) * as[m] * w->scale[o] + w->bias[o];
            c[j] = act1(v, act);
        }
    }
}

/*
 * Row chunks x column blocks, numbered chunk-major: a thread's consecutive
 * tasks (static schedule) keep one chunk of A in L2 while the weight
 * blocks stream past it once per chunk. Block-major order would instead
 * re-read all of A (megabytes for a full batch) from memory for every block.
 */
static int task_count(const rg_packed *w, int M, int *chunks)
{
    *chunks = (M + TASK_ROWS - 1) / TASK_ROWS;
    return w->blocks * *chunks;
}

void rg_packed_sgemm(const rg_packed *w, int M, const float *A, int lda, float *C, int ldc,
                     rg_act act)
{
    int chunks, tasks = task_count(w, M, &chunks);
    int fast = rg_packed_fast_f32(), nt = rg_kernels_threads();
    (void)fast;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1 && tasks > 1)
#endif
    for (int t = 0; t < tasks; t++) {
        int b = t % w->blocks, m0 = (t / w->blocks) * TASK_ROWS;
        int m1 = m0 + TASK_ROWS < M ? m0 + TASK_ROWS : M;
#ifdef RG_HAVE_X86_KERNELS
        if (fast) {
            rg_x86_sgemm_block(w, b, m0, m1, A, lda, C, ldc, act);
            continue;
        }
#endif
        sgemm_block_c(w, b, m0, m1, A, lda, C, ldc, act);
    }
    (void)nt;
}

void rg_packed_qgemm(const rg_packed *w, int M, const uint8_t *A, int lda, const float *a_scale,
                     const int32_t *a_zero, float *C, int ldc, rg_act act)
{
    int chunks, tasks = task_count(w, M, &chunks);
    int fast = rg_packed_fast_s8(), nt = rg_kernels_threads();
    (void)fast;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1 && tasks > 1)
#endif
    for (int t = 0; t < tasks; t++) {
        int b = t % w->blocks, m0 = (t / w->blocks) * TASK_ROWS;
        int m1 = m0 + TASK_ROWS < M ? m0 + TASK_ROWS : M;
#ifdef RG_HAVE_X86_KERNELS
        if (fast) {
            rg_x86_qgemm_block(w, b, m0, m1, A, lda, a_scale, a_zero, C, ldc, act);
            continue;
        }
#endif
        qgemm_block_c(w, b, m0, m1, A, lda, a_scale, a_zero, C, ldc, act);
    }
    (void)nt;
}
