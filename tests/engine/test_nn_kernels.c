/*
 * test_nn_kernels.c — every fast kernel of engine/nn against the plain one:
 * the packed fp32 / int8 products (gemm.h) against the reference GEMM, over
 * odd shapes, strides and both epilogues; attention, activation
 * quantisation and the row-wise kernels with AVX-512 on and off. On a CPU
 * without AVX-512 the two sides are the same code and the checks still hold.
 */
#include "test.h"

#include <math.h>
#include <stdlib.h>

#include "engine/nn/gemm.h"
#include "engine/nn/kernels.h"

static float frand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static float *rand_buf(size_t n, unsigned seed)
{
    float *x = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++)
        x[i] = frand(&seed);
    return x;
}

static float max_diff(const float *a, const float *b, int rows, int cols, int ld)
{
    float d = 0;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            d = fmaxf(d, fabsf(a[(size_t)r * ld + c] - b[(size_t)r * ld + c]));
    return d;
}

static void gelu_ref(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

static const int Ms[] = {1, 5, 6, 7, 16, 100, 203};
static const int Ns[] = {1, 17, 64, 100, 130};
static const int Ks[] = {1, 3, 17, 64, 150};
#define COUNT(a) (sizeof a / sizeof a[0])

/* fp32: packed (fast and portable) == reference sgemm + bias (+ GELU), strided rows. */
static void test_packed_sgemm(void)
{
    for (size_t mi = 0; mi < COUNT(Ms); mi++)
        for (size_t ni = 0; ni < COUNT(Ns); ni++)
            for (size_t ki = 0; ki < COUNT(Ks); ki++) {
                int M = Ms[mi], N = Ns[ni], K = Ks[ki], lda = K + 3, ldc = N + 5;
                float *A = rand_buf((size_t)M * lda, 1), *W = rand_buf((size_t)N * K, 2);
                float *bias = rand_buf((size_t)N, 3);
                float *ref = calloc((size_t)M * ldc, sizeof(float)),
                      *got = calloc((size_t)M * ldc, sizeof(float));
                rg_packed p;
                REQUIRE(rg_pack_f32(&p, W, bias, N, K) == 0);
                for (int act = 0; act < 2; act++) {
                    rg_sgemm(RG_GEMM_REF, 1, M, N, K, A, lda, W, K, 0.0f, ref, ldc);
                    for (int m = 0; m < M; m++) {
                        rg_add_bias(ref + (size_t)m * ldc, 1, N, bias);
                        if (act) gelu_ref(ref + (size_t)m * ldc, (size_t)N);
                    }
                    for (int portable = 0; portable < 2; portable++) {
                        rg_kernels_force_portable(portable);
                        rg_packed_sgemm(&p, M, A, lda, got, ldc, act ? RG_ACT_GELU : RG_ACT_NONE);
                        rg_kernels_force_portable(0);
                        float d = max_diff(ref, got, M, N, ldc);
                        if (d > 1e-4f * (1 + K / 16))
                            fprintf(stderr, "sgemm M=%d N=%d K=%d act=%d portable=%d: %g\n", M, N,
                                    K, act, portable, d);
                        CHECK(d <= 1e-4f * (1 + K / 16));
                    }
                }
                rg_packed_free(&p);
                free(A), free(W), free(bias), free(ref), free(got);
            }
}

/* int8: packed == rg_qgemm's reference (same integer product), odd k included. */
static void test_packed_qgemm(void)
{
    for (size_t mi = 0; mi < COUNT(Ms); mi++)
        for (size_t ni = 0; ni < COUNT(Ns); ni++)
            for (size_t ki = 0; ki < COUNT(Ks); ki++) {
                int M = Ms[mi], N = Ns[ni], K = Ks[ki], lda = ((K + 3) & ~3) + 4, ldc = N + 2;
                float *A = rand_buf((size_t)M * K, 4), *W = rand_buf((size_t)N * K, 5);
                float *bias = rand_buf((size_t)N, 6), *as = malloc(sizeof(float) * M);
                float *ref = malloc(sizeof(float) * M * N),
                      *got = calloc((size_t)M * ldc, sizeof(float));
                uint8_t *qa = malloc((size_t)M * K), *qal = calloc((size_t)M * lda, 1);
                int8_t *qw = malloc((size_t)N * K);
                float *ws = malloc(sizeof(float) * N);
                int32_t *az = malloc(sizeof(int32_t) * M), *wsum = malloc(sizeof(int32_t) * N);
                int32_t *acc = malloc(sizeof(int32_t) * M * N);
                rg_quantize_rows_u8(A, M, K, 255, qa, as, az);
                for (int m = 0; m < M; m++) /* rows lda apart, junk past K */
                    for (int k = 0; k < lda; k++)
                        qal[(size_t)m * lda + k] = k < K ? qa[(size_t)m * K + k] : 0xAB;
                rg_quantize_rows_s8(W, N, K, qw, ws, wsum);
                rg_qgemm(RG_GEMM_REF, M, N, K, qa, as, az, qw, ws, wsum, bias, acc, ref);
                rg_packed p;
                REQUIRE(rg_pack_s8(&p, W, bias, N, K) == 0);
                for (int act = 0; act < 2; act++) {
                    if (act) gelu_ref(ref, (size_t)M * N);
                    for (int portable = 0; portable < 2; portable++) {
                        rg_kernels_force_portable(portable);
                        rg_packed_qgemm(&p, M, qal, lda, as, az, got, ldc,
                                        act ? RG_ACT_GELU : RG_ACT_NONE);
                        rg_kernels_force_portable(0);
                        float d = 0;
                        for (int m = 0; m < M; m++)
                            for (int n = 0; n < N; n++)
                                d = fmaxf(d,
                                          fabsf(ref[(size_t)m * N + n] - got[(size_t)m * ldc + n]));
                        if (d > 2e-5f)
                            fprintf(stderr, "qgemm M=%d N=%d K=%d act=%d portable=%d: %g\n", M, N,
                                    K, act, portable, d);
                        CHECK(d <= 2e-5f);
                    }
                }
                rg_packed_free(&p);
                free(A), free(W), free(bias), free(as), free(ref), free(got), free(qa), free(qal);
                free(qw), free(ws), free(az), free(wsum), free(acc);
            }
}

/* One head against sgemm + softmax + sgemm with the reference GEMM. */
static void test_attention(void)
{
    static const int Ls[] = {1, 3, 16, 17, 40, 130};
    static const int dhs[] = {16, 24, 32, 64};
    for (size_t li = 0; li < COUNT(Ls); li++)
        for (size_t di = 0; di < COUNT(dhs); di++) {
            int L = Ls[li], dh = dhs[di], ld = 3 * dh + 8, ldo = dh + 16;
            float *qkv = rand_buf((size_t)L * ld, 7);
            float *S = malloc(sizeof(float) * L * L), *ref = calloc((size_t)L * ldo, sizeof(float));
            float *got = calloc((size_t)L * ldo, sizeof(float));
            float *scratch = malloc(sizeof(float) * rg_attention_scratch(L, dh));
            float scale = 1.0f / sqrtf((float)dh);
            rg_sgemm(RG_GEMM_REF, 1, L, L, dh, qkv, ld, qkv + dh, ld, 0.0f, S, L);
            for (int i = 0; i < L * L; i++)
                S[i] *= scale;
            rg_kernels_force_portable(1);
            rg_softmax_rows(S, L, L, L);
            rg_kernels_force_portable(0);
            rg_sgemm(RG_GEMM_REF, 0, L, dh, L, S, L, qkv + 2 * dh, ld, 0.0f, ref, ldo);
            for (int portable = 0; portable < 2; portable++) {
                rg_kernels_force_portable(portable);
                rg_attention_head(qkv, qkv + dh, qkv + 2 * dh, ld, L, dh, scale, got, ldo, scratch);
                rg_kernels_force_portable(0);
                float d = max_diff(ref, got, L, dh, ldo);
                if (d > 1e-5f)
                    fprintf(stderr, "attention L=%d dh=%d portable=%d: %g\n", L, dh, portable, d);
                CHECK(d <= 1e-5f);
            }
            free(qkv), free(S), free(ref), free(got), free(scratch);
        }
}

/* x rounded to bfloat16, to nearest even (finite x), back in a float. */
static float bf16_round(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    memcpy(&x, &u, 4);
    return x;
}

/*
 * One head in bf16 against a model of it in double: q (times the scale), k,
 * v and the softmax weights rounded to bf16, the normaliser from the
 * unrounded weights. Where the CPU has no AVX-512 BF16 the call is the fp32 head and
 * must match the exact head instead. Either way the result must stay within
 * a few bf16 steps of the largest value of v from exact fp32 attention.
 */
static void test_attention_bf16(void)
{
    static const int Ls[] = {1, 2, 3, 16, 17, 31, 33, 40, 130, 256};
    static const int dhs[] = {16, 32, 48, 64};
    float worst_model = 0, worst_exact = 0;
    for (size_t li = 0; li < COUNT(Ls); li++)
        for (size_t di = 0; di < COUNT(dhs); di++) {
            int L = Ls[li], dh = dhs[di], ld = 3 * dh + 8, ldo = dh + 16;
            int native = rg_attention_bf16_native(dh);
            float *qkv = rand_buf((size_t)L * ld, 17);
            for (size_t i = 0; i < (size_t)L * ld; i += 5)
                qkv[i] *= 4.0f; /* sharper softmax rows */
            float *got = calloc((size_t)L * ldo, sizeof(float));
            float *exact = calloc((size_t)L * ldo, sizeof(float));
            float *model = calloc((size_t)L * ldo, sizeof(float));
            float *scratch = malloc(sizeof(float) * rg_attention_scratch(L, dh));
            double *e = malloc(sizeof(double) * L);
            float scale = 1.0f / sqrtf((float)dh);
            const float *q = qkv, *k = qkv + dh, *v = qkv + 2 * dh;
            for (int i = 0; i < L; i++) {
                double mx = -1e300, sum = 0;
                for (int j = 0; j < L; j++) {
                    double a = 0;
                    for (int d = 0; d < dh; d++)
                        a += (double)bf16_round(q[(size_t)i * ld + d] * scale) *
                             bf16_round(k[(size_t)j * ld + d]);
                    e[j] = a;
                    mx = e[j] > mx ? e[j] : mx;
                }
                for (int j = 0; j < L; j++)
                    sum += (e[j] = exp(e[j] - mx));
                for (int d = 0; d < dh; d++) {
                    double o = 0;
                    for (int j = 0; j < L; j++)
                        o += (double)bf16_round((float)e[j]) * bf16_round(v[(size_t)j * ld + d]);
                    model[(size_t)i * ldo + d] = (float)(o / sum);
                }
            }
            rg_attention_head(q, k, v, ld, L, dh, scale, exact, ldo, scratch);
            rg_attention_head_bf16(q, k, v, ld, L, dh, scale, got, ldo, scratch);
            float dm = max_diff(model, got, L, dh, ldo), de = max_diff(exact, got, L, dh, ldo);
            if (native) {
                worst_model = fmaxf(worst_model, dm);
                worst_exact = fmaxf(worst_exact, de);
                CHECK(dm <= 2e-3f);
            } else {
                CHECK(de <= 1e-5f);
            }
            CHECK(de <= 2e-2f * 4.0f); /* |v| <= 4: a few bf16 steps of the largest value */
            free(qkv), free(got), free(exact), free(model), free(scratch), free(e);
        }
    fprintf(stderr,
            "attention bf16 (native %d): worst against the bf16 model %g, against fp32 %g\n",
            rg_attention_bf16_native(32), worst_model, worst_exact);
    /* the bf16 model is a far better description than fp32 of what ran */
    if (rg_attention_bf16_native(32)) CHECK(worst_model * 4 < worst_exact);
}

/* AVX-512 activation quantisation gives the very codes of the C loop. */
static void test_quantize_rows(void)
{
    static const int Ks2[] = {1, 15, 16, 17, 384, 1537};
    for (size_t ki = 0; ki < COUNT(Ks2); ki++) {
        int M = 9, K = Ks2[ki];
        float *x = rand_buf((size_t)M * K, 8);
        for (int i = 0; i < K; i += 7)
            x[i] *= 40.0f; /* outliers, as after GELU */
        uint8_t *q0 = malloc((size_t)M * K), *q1 = malloc((size_t)M * K);
        float s0[9], s1[9];
        int32_t z0[9], z1[9];
        rg_kernels_force_portable(1);
        rg_quantize_rows_u8(x, M, K, 255, q0, s0, z0);
        rg_kernels_force_portable(0);
        rg_quantize_rows_u8(x, M, K, 255, q1, s1, z1);
        CHECK(memcmp(q0, q1, (size_t)M * K) == 0);
        CHECK(memcmp(s0, s1, sizeof s0) == 0);
        CHECK(memcmp(z0, z1, sizeof z0) == 0);
        free(x), free(q0), free(q1);
    }
}

/* Row-wise kernels: AVX-512 against C, tails included. */
static void test_row_kernels(void)
{
    static const int dims[] = {1, 15, 16, 33, 384};
    for (size_t di = 0; di < COUNT(dims); di++) {
        int R = 3, D = dims[di];
        size_t n = (size_t)R * D;
        float *x = rand_buf(n, 9), *res = rand_buf(n, 10), *g = rand_buf((size_t)D, 11);
        float *b = rand_buf((size_t)D, 12), *a = malloc(sizeof(float) * n),
              *c = malloc(sizeof(float) * n);
        for (int portable = 1; portable >= 0; portable--) {
            float *o = portable ? a : c;
            rg_kernels_force_portable(portable);
            memcpy(o, x, sizeof(float) * n);
            rg_add_layernorm(o, res, R, D, g, b, 1e-12f);
            rg_add_bias(o, R, D, b);
            rg_gelu(o, n);
            rg_softmax_rows(o, R, D, D);
            rg_kernels_force_portable(0);
        }
        CHECK(max_diff(a, c, R, D, D) <= 1e-5f);
        free(x), free(res), free(g), free(b), free(a), free(c);
    }
}

int main(void)
{
    rg_kernels_set_threads(2); /* the task split runs even on one core */
    static const test_case cases[] = {TEST(test_packed_sgemm),  TEST(test_packed_qgemm),
                                      TEST(test_attention),     TEST(test_attention_bf16),
                                      TEST(test_quantize_rows), TEST(test_row_kernels)};
    return test_run(cases, sizeof cases / sizeof cases[0]);
}
