/*
 * nn_bench — encoder speed, the ragd side of tests/bench/encoder/run.sh.
 * Not a test (it only measures). Prints one JSON object:
 *   load time, RSS after load, single-query latency (p50 and min, one text
 *   per call through rg_encoder_embed, and through rg_encoder_embed_query,
 *   the path search takes), throughput on a file of texts (one per line), RSS at the end;
 *   beside each wall time the process CPU time (*_cpu), steadier on a
 *   shared machine.
 *
 * Usage: nn_bench MODEL_DIR [options]
 *   --threads N   threads (default 1)        --int8          int8 weights
 *   --int8-down   FFN-down in int8 too       --backend NAME  native|onednn|cblas|ref
 *   --passage-int8  FILE's texts through the int8 weights where the CPU has
 *                 VNNI, as ingestion embeds them by default (the throughput
 *                 pass always takes rg_encoder_embed_passages, the path
 *                 ingestion takes; without this option it is fp32)
 *   --query TEXT  latency text (default: 16 tokens with specials)
 *   --query-reps N (default 200)             --texts FILE    throughput input
 *   --reps N      passes over FILE; texts/s is the median pass (default 3)
 *   --batch-tokens N  tokens per forward batch (encoder option)
 *   --out FILE    write the embeddings of FILE's texts there, float32,
 *                 one row of dim floats per text (for the retrieval
 *                 bench's Python peers, which then index the same vectors)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/nn/encoder.h"

#define BENCH_MAX_TEXTS 2000000
#define BENCH_MAX_LINE  (1u << 20)
#define BENCH_MAX_REPS  10000

static double clock_s(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double now(void)
{
    return clock_s(CLOCK_MONOTONIC);
}
/* CPU time of the whole process: on a shared machine, what the work cost
 * when other jobs took the cores (wall time is what a user sees). */
static double cpu(void)
{
    return clock_s(CLOCK_PROCESS_CPUTIME_ID);
}

static double rss_mb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) kb = strtol(line + 6, NULL, 10);
    if (f) fclose(f);
    return kb / 1024.0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Lines of path (newline stripped) into texts; returns the count, -1 on error. */
static long read_lines(const char *path, char ***texts)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char *buf = malloc(BENCH_MAX_LINE);
    char **t = calloc(BENCH_MAX_TEXTS, sizeof *t);
    long n = 0;
    while (buf && t && n < BENCH_MAX_TEXTS && fgets(buf, BENCH_MAX_LINE, f)) {
        size_t len = strcspn(buf, "\n");
        buf[len] = 0;
        t[n] = malloc(len + 1);
        if (!t[n]) break;
        memcpy(t[n++], buf, len + 1);
    }
    free(buf);
    fclose(f);
    *texts = t;
    return t ? n : -1;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-') {
        fprintf(stderr,
                "usage: nn_bench MODEL_DIR [--threads N] [--int8] [--int8-down] [--passage-int8] "
                "[--backend native|onednn|cblas|ref] [--query TEXT] [--query-reps N] "
                "[--texts FILE] [--reps N]\n");
        return 2;
    }
    rg_encoder_options o = rg_encoder_default_options();
    o.threads = 1;
    const char *q =
        "how do transformers use attention to model long range dependencies in text data";
    const char *texts_path = NULL, *out_path = NULL;
    int qreps = 200, reps = 3;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(a, "--int8"))
            o.int8 = 1;
        else if (!strcmp(a, "--int8-down"))
            o.int8 = o.int8_down = 1;
        else if (!strcmp(a, "--passage-int8"))
            o.passage_int8 = 1;
        else if (!strcmp(a, "--threads") && ++i)
            o.threads = atoi(v);
        else if (!strcmp(a, "--backend") && ++i)
            o.backend = !strcmp(v, "ref")      ? RG_GEMM_REF
                        : !strcmp(v, "cblas")  ? RG_GEMM_CBLAS
                        : !strcmp(v, "onednn") ? RG_GEMM_DNNL
                                               : RG_GEMM_NATIVE;
        else if (!strcmp(a, "--query") && ++i)
            q = v;
        else if (!strcmp(a, "--query-reps") && ++i)
            qreps = atoi(v);
        else if (!strcmp(a, "--texts") && ++i)
            texts_path = v;
        else if (!strcmp(a, "--reps") && ++i)
            reps = atoi(v);
        else if (!strcmp(a, "--out") && ++i)
            out_path = v;
        else if (!strcmp(a, "--batch-tokens") && ++i)
            o.batch_tokens = (size_t)atol(v);
        else {
            fprintf(stderr, "nn_bench: unknown option %s\n", a);
            return 2;
        }
    }
    if (qreps < 1 || qreps > BENCH_MAX_REPS || reps < 1 || reps > BENCH_MAX_REPS) {
        fprintf(stderr, "nn_bench: repetitions out of range\n");
        return 2;
    }
    if (o.backend != RG_GEMM_AUTO && !rg_gemm_available(o.backend)) {
        fprintf(stderr, "nn_bench: backend %s not available here\n", rg_gemm_name(o.backend));
        return 2;
    }
    rg_encoder *enc;
    rg_error err;
    double t0 = now();
    if (rg_encoder_open(argv[1], &o, &enc, &err) != RG_OK) {
        fprintf(stderr, "nn_bench: %s\n", rg_error_message(&err));
        return 1;
    }
    double load_ms = (now() - t0) * 1e3, rss_load = rss_mb();
    int D = rg_encoder_dim(enc);
    size_t qtok;
    int32_t ids[512];
    rg_tokenizer_encode(rg_encoder_tokenizer(enc), q, strlen(q), 512, ids, 512, &qtok, &err);
    float *v = malloc(sizeof(float) * D);
    double *lat = malloc(sizeof(double) * (size_t)qreps),
           *lat_cpu = malloc(sizeof(double) * (size_t)qreps);
    for (int i = 0; i < 20; i++)
        rg_encoder_embed(enc, &q, NULL, 1, v, &err);
    for (int i = 0; i < qreps; i++) {
        double a = now(), c = cpu();
        rg_encoder_embed(enc, &q, NULL, 1, v, &err);
        lat[i] = (now() - a) * 1e3;
        lat_cpu[i] = (cpu() - c) * 1e3;
    }
    qsort(lat, (size_t)qreps, sizeof lat[0], cmp_double);
    qsort(lat_cpu, (size_t)qreps, sizeof lat_cpu[0], cmp_double);
    /* The query path search uses (rg_encoder_embed_query: int8 weights where
     * the CPU has VNNI unless --int8 already made everything int8). */
    double *qlat = malloc(sizeof(double) * (size_t)qreps);
    size_t qlen = strlen(q);
    for (int i = 0; i < 20; i++)
        rg_encoder_embed_query(enc, q, qlen, v, &err);
    for (int i = 0; i < qreps; i++) {
        double a = now();
        rg_encoder_embed_query(enc, q, qlen, v, &err);
        qlat[i] = (now() - a) * 1e3;
    }
    qsort(qlat, (size_t)qreps, sizeof qlat[0], cmp_double);
    printf("{\"backend\": \"%s\", \"int8\": %d, \"int8_down\": %d, \"passage_int8\": %d, "
           "\"threads\": %d, "
           "\"load_ms\": %.1f, \"rss_load_mb\": %.1f, \"query_tokens\": %zu, "
           "\"query_p50_ms\": %.3f, \"query_min_ms\": %.3f, \"query_cpu_p50_ms\": %.3f",
           rg_gemm_name(o.backend ? o.backend : rg_gemm_best()), rg_encoder_int8(enc),
           o.int8_down && rg_encoder_int8(enc), o.passage_int8, o.threads, load_ms, rss_load, qtok,
           lat[qreps / 2], lat[0], lat_cpu[qreps / 2]);
    printf(", \"query_api_p50_ms\": %.3f, \"query_api_min_ms\": %.3f", qlat[qreps / 2], qlat[0]);
    free(qlat);
    free(lat);
    free(lat_cpu);
    int rc = 0;
    if (texts_path) {
        char **texts = NULL;
        long n = read_lines(texts_path, &texts);
        float *out = n > 0 ? malloc(sizeof(float) * (size_t)D * (size_t)n) : NULL;
        double *secs = malloc(sizeof(double) * (size_t)reps),
               *csecs = malloc(sizeof(double) * (size_t)reps);
        if (!out || !secs || !csecs) {
            fprintf(stderr, "nn_bench: cannot read %s\n", texts_path);
            rc = 1;
        } else {
            for (int r = 0; r < reps && !rc; r++) {
                double a = now(), c = cpu();
                rc = rg_encoder_embed_passages(enc, (const char *const *)texts, NULL, (size_t)n,
                                               out, &err) != RG_OK;
                secs[r] = now() - a;
                csecs[r] = cpu() - c;
            }
            if (rc) fprintf(stderr, "nn_bench: %s\n", rg_error_message(&err));
            if (!rc && out_path) {
                FILE *f = fopen(out_path, "wb");
                size_t want = (size_t)D * (size_t)n;
                int ok = f && fwrite(out, sizeof(float), want, f) == want;
                if (f && fclose(f) != 0) ok = 0;
                if (!ok) {
                    fprintf(stderr, "nn_bench: cannot write %s\n", out_path);
                    rc = 1;
                }
            }
            qsort(secs, (size_t)reps, sizeof secs[0], cmp_double);
            qsort(csecs, (size_t)reps, sizeof csecs[0], cmp_double);
            printf(", \"texts\": %ld, \"secs_median\": %.4f, \"secs_min\": %.4f, "
                   "\"cpu_secs_median\": %.4f, "
                   "\"texts_per_s\": %.2f",
                   n, secs[reps / 2], secs[0], csecs[reps / 2], (double)n / secs[reps / 2]);
        }
        for (long i = 0; i < n; i++)
            free(texts[i]);
        if (n >= 0) free(texts);
        free(out);
        free(secs);
        free(csecs);
    }
    printf(", \"rss_end_mb\": %.1f}\n", rss_mb());
    free(v);
    rg_encoder_close(enc);
    return rc;
}
