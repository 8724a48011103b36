/*
 * nn_bench — encoder speed: RSS after load, single-query latency
 * (16 tokens with specials) and throughput on 256-token chunks.
 * Not a test (it only prints). Usage: nn_bench MODEL_DIR [threads] [int8] [backend]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/nn/encoder.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return kb;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: nn_bench MODEL_DIR [threads] [int8] [ref|cblas|onednn]\n");
        return 2;
    }
    rg_encoder_options o = rg_encoder_default_options();
    o.threads = argc > 2 ? atoi(argv[2]) : 1;
    o.int8 = argc > 3 ? atoi(argv[3]) : 0;
    if (argc > 4)
        o.backend = !strcmp(argv[4], "ref") ? RG_GEMM_REF : !strcmp(argv[4], "cblas") ? RG_GEMM_CBLAS : RG_GEMM_DNNL;
    rg_encoder *enc;
    rg_error err;
    double t0 = now();
    if (rg_encoder_open(argv[1], &o, &enc, &err) != RG_OK) {
        fprintf(stderr, "%s\n", rg_error_message(&err));
        return 1;
    }
    printf("load %.1f ms, RSS after load %.1f MB (threads %d, %s, %s)\n", (now() - t0) * 1e3,
           rss_kb() / 1024.0, o.threads, o.int8 ? "int8" : "fp32",
           rg_gemm_name(o.backend ? o.backend : rg_gemm_best()));
    int D = rg_encoder_dim(enc);
    /* 14 words -> 16 tokens with [CLS] and [SEP] */
    const char *q = "how do transformers use attention to model long range dependencies in text";
    size_t n;
    int32_t ids[64];
    rg_tokenizer_encode(rg_encoder_tokenizer(enc), q, strlen(q), 0, ids, 64, &n, &err);
    float *v = malloc(sizeof(float) * D * 64);
    double lat[200];
    for (int i = 0; i < 20; i++)
        rg_encoder_embed(enc, &q, NULL, 1, v, &err);
    for (int i = 0; i < 200; i++) {
        double a = now();
        rg_encoder_embed(enc, &q, NULL, 1, v, &err);
        lat[i] = (now() - a) * 1e3;
    }
    qsort(lat, 200, sizeof lat[0], cmp_double);
    printf("query (%zu tokens): p50 %.3f ms, p90 %.3f ms\n", n, lat[100], lat[180]);
    if (getenv("NN_BENCH_QUERY_ONLY"))
        return 0;
    /* 256-token chunks: random words until the tokenizer says 256 */
    static const char *words[] = {"retrieval", "index", "vector", "search", "the", "of", "model",
                                  "encoder", "document", "answer", "latency", "throughput", "a", "is"};
    char *texts[64];
    unsigned s = 7;
    for (int i = 0; i < 64; i++) {
        texts[i] = calloc(1, 4096);
        size_t len = 0;
        for (int w = 0; w < 300; w++) {
            s = s * 1103515245u + 12345u;
            len += (size_t)snprintf(texts[i] + len, 4096 - len, "%s ", words[(s >> 8) % 14]);
        }
    }
    rg_encoder_embed(enc, (const char *const *)texts, NULL, 8, v, &err);
    double a = now();
    int rounds = 2;
    for (int r = 0; r < rounds; r++)
        rg_encoder_embed(enc, (const char *const *)texts, NULL, 64, v, &err);
    double dt = now() - a;
    printf("256-token chunks: %.1f texts/s (%.0f tokens/s)\n", 64 * rounds / dt, 64 * rounds * 256 / dt);
    printf("RSS at end %.1f MB\n", rss_kb() / 1024.0);
    for (int i = 0; i < 64; i++)
        free(texts[i]);
    free(v);
    rg_encoder_close(enc);
    return 0;
}
