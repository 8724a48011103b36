/*
 * retrieval_bench — query-time speed of a ragd data directory, the ragd
 * side of tests/bench/retrieval/run.sh. Not a test (it only measures).
 *
 * Opens the store and the dense index the way `ragd search` does, then:
 *   1. latency: every query once, one at a time, as `ragd search` runs
 *      them (rg_encoder_embed_query: a long query on all cores): per-stage
 *      times (embed query, ANN, BM25, fuse — from rg_search_run — and
 *      fetch text of the k hits from SQLite) and the end-to-end time,
 *      as p50 / p99 / mean;
 *   2. throughput: queries/s with T threads for each T in --threads, each
 *      thread with its own store connection, encoder (one kernel thread)
 *      and searcher (handles are one-thread-at-a-time), all sharing nothing
 *      but the files;
 *   3. resident memory after opening (one searcher) and at the end (peak).
 * Prints one JSON object on stdout.
 *
 * Queries come one per line (plain text). There are more distinct queries
 * than the query-embedding cache holds (RG_DENSE_QUERY_CACHE) and they are
 * taken in a cycle, so the LRU cache never answers: every query is
 * embedded. --min-queries checks that.
 *
 * Usage: retrieval_bench --data DIR --model DIR --queries FILE [options]
 *   --mode hybrid|dense|lexical (default hybrid)   -k N (default 10)
 *   --threads LIST   throughput thread counts, comma-separated (default 1,2)
 *   --qps-seconds S  seconds per throughput run (default 10)
 *   --warmup N       queries run first and not timed (default 20)
 *   --serial         one query at a time runs its legs one after the other
 *                    (by default a hybrid query's lexical leg runs on a
 *                    second thread, as in `ragd search`: rg_search_set_parallel)
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/nn/encoder.h"
#include "index/dense.h"
#include "index/search.h"
#include "index/store.h"
#include "tests/bench/retrieval/proc_status.h"

#define BENCH_MAX_QUERIES 100000
#define BENCH_MAX_QUERY   4096
#define BENCH_MAX_THREADS 64
#define BENCH_MODEL_NAME  128

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void die(const char *what, const rg_error *err)
{
    fprintf(stderr, "retrieval_bench: %s: %s\n", what,
            err ? rg_error_message(err) : strerror(errno));
    exit(1);
}

typedef struct args {
    const char *data, *model, *queries, *mode_name;
    rg_search_mode mode;
    size_t k;
    int threads[BENCH_MAX_THREADS], n_threads;
    int serial;
    double qps_seconds;
    size_t warmup;
} args;

/* One searcher: what a thread of a server would hold. */
typedef struct searcher {
    rg_store *s;
    rg_encoder *enc;
    rg_dense *dense;
    rg_search *q;
} searcher;

static void searcher_open(const args *a, const char *model_name, int threads, searcher *out)
{
    rg_error err;
    rg_error_clear(&err);
    memset(out, 0, sizeof *out);
    rg_store_options so = rg_store_default_options();
    if (rg_store_open(a->data, &so, &out->s, &err)) die("opening the store", &err);
    if (a->mode != RG_SEARCH_LEXICAL) {
        rg_encoder_options eo = rg_encoder_default_options();
        eo.threads = threads; /* 0: all cores for a long query, as `ragd search` */
        if (rg_encoder_open(a->model, &eo, &out->enc, &err)) die("opening the model", &err);
        rg_dense_options d = {.model_name = model_name,
                              .encoder = out->enc,
                              .query_prefix = rg_encoder_query_prompt(out->enc),
                              .passage_prefix = rg_encoder_passage_prompt(out->enc)};
        if (rg_dense_open(out->s, a->data, &d, &out->dense, &err)) die("opening vectors", &err);
    }
    if (rg_search_open(out->s, out->dense, &out->q, &err)) die("opening the searcher", &err);
}

static void searcher_close(searcher *x)
{
    rg_search_close(x->q);
    rg_dense_close(x->dense);
    rg_encoder_close(x->enc);
    rg_store_close(x->s);
}

/* One query and the fetch of its hits' text; stage times added to t[]. */
enum { ST_EMBED, ST_ANN, ST_BM25, ST_FUSE, ST_FETCH, ST_TOTAL, ST_COUNT };
static const char *stage_names[ST_COUNT] = {"embed", "ann", "bm25", "fuse", "fetch", "total"};

static size_t run_one(const args *a, searcher *x, const char *query, rg_search_hit *hits,
                      double t[ST_COUNT])
{
    rg_error err;
    rg_error_clear(&err);
    rg_search_request req = rg_search_default_request(query);
    req.k = a->k;
    req.mode = a->mode;
    rg_search_stats tm;
    size_t n = 0;
    double t0 = now();
    if (rg_search_run(x->q, &req, hits, &n, &tm, &err)) die(query, &err);
    double t1 = now();
    for (size_t i = 0; i < n; i++) {
        rg_chunk_view v;
        if (rg_store_chunk_get(x->s, hits[i].chunk_id, &v, &err)) die("fetching a chunk", &err);
        rg_chunk_view_free(&v);
    }
    double t2 = now();
    if (t) {
        t[ST_EMBED] = tm.embed_ms;
        t[ST_ANN] = tm.dense_ms;
        t[ST_BM25] = tm.lexical_ms;
        t[ST_FUSE] = tm.fuse_ms;
        t[ST_FETCH] = (t2 - t1) * 1e3;
        t[ST_TOTAL] = (t2 - t0) * 1e3;
    }
    return n;
}

typedef struct worker {
    const args *a;
    const char *model_name;
    char **queries;
    size_t n_queries, first, done;
    double until;
    pthread_barrier_t *ready;
    double *start;
} worker;

static void *worker_main(void *p)
{
    worker *w = p;
    searcher x;
    searcher_open(w->a, w->model_name, 1, &x); /* several searchers: one thread each */
    rg_search_hit *hits = calloc(w->a->k, sizeof *hits);
    if (!hits) die("out of memory", NULL);
    for (size_t i = 0; i < w->a->warmup; i++)
        run_one(w->a, &x, w->queries[(w->first + i) % w->n_queries], hits, NULL);
    pthread_barrier_wait(w->ready); /* all searchers open */
    pthread_barrier_wait(w->ready); /* start time set */
    double end = *w->start + w->until;
    size_t i = w->first;
    while (now() < end) {
        run_one(w->a, &x, w->queries[i % w->n_queries], hits, NULL);
        i++;
        w->done++;
    }
    free(hits);
    searcher_close(&x);
    return NULL;
}

/* Queries/s with nt threads, each starting at a different query. */
static double throughput(const args *a, const char *model_name, char **queries, size_t nq, int nt)
{
    worker w[BENCH_MAX_THREADS];
    pthread_t th[BENCH_MAX_THREADS];
    pthread_barrier_t ready;
    double start = 0;
    pthread_barrier_init(&ready, NULL, (unsigned)nt + 1);
    for (int i = 0; i < nt; i++) {
        w[i] = (worker){.a = a,
                        .model_name = model_name,
                        .queries = queries,
                        .n_queries = nq,
                        .first = (size_t)i * nq / (size_t)nt,
                        .until = a->qps_seconds,
                        .ready = &ready,
                        .start = &start};
        if (pthread_create(&th[i], NULL, worker_main, &w[i])) die("starting a thread", NULL);
    }
    pthread_barrier_wait(&ready); /* every worker has opened its searcher */
    start = now();
    pthread_barrier_wait(&ready);
    size_t done = 0;
    for (int i = 0; i < nt; i++) {
        pthread_join(th[i], NULL);
        done += w[i].done;
    }
    double took = now() - start;
    pthread_barrier_destroy(&ready);
    return (double)done / took;
}

static char **read_queries(const char *path, size_t *n)
{
    FILE *f = fopen(path, "r");
    if (!f) die(path, NULL);
    char **q = calloc(BENCH_MAX_QUERIES, sizeof *q);
    char line[BENCH_MAX_QUERY];
    *n = 0;
    while (q && *n < BENCH_MAX_QUERIES && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] && !(q[(*n)++] = strdup(line))) die("out of memory", NULL);
    }
    fclose(f);
    if (!q) die("out of memory", NULL);
    return q;
}

static int parse_args(int argc, char **argv, args *a)
{
    *a = (args){.mode = RG_SEARCH_HYBRID,
                .mode_name = "hybrid",
                .k = 10,
                .qps_seconds = 10,
                .warmup = 20,
                .threads = {1, 2},
                .n_threads = 2};
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(o, "--serial") == 0) { /* the one option without a value */
            a->serial = 1;
            continue;
        }
        if (!v) return fprintf(stderr, "retrieval_bench: %s needs a value\n", o), 0;
        i++;
        if (strcmp(o, "--data") == 0)
            a->data = v;
        else if (strcmp(o, "--model") == 0)
            a->model = v;
        else if (strcmp(o, "--queries") == 0)
            a->queries = v;
        else if (strcmp(o, "--mode") == 0) {
            a->mode_name = v;
            if (!rg_search_mode_parse(v, &a->mode)) return fprintf(stderr, "bad --mode %s\n", v), 0;
        } else if (strcmp(o, "-k") == 0)
            a->k = strtoul(v, NULL, 10);
        else if (strcmp(o, "--qps-seconds") == 0)
            a->qps_seconds = atof(v);
        else if (strcmp(o, "--warmup") == 0)
            a->warmup = strtoul(v, NULL, 10);
        else if (strcmp(o, "--threads") == 0) {
            a->n_threads = 0;
            for (const char *p = v; *p && a->n_threads < BENCH_MAX_THREADS;) {
                char *end;
                long t = strtol(p, &end, 10);
                if (end == p || t < 1 || t > BENCH_MAX_THREADS)
                    return fprintf(stderr, "bad --threads %s\n", v), 0;
                a->threads[a->n_threads++] = (int)t;
                p = *end == ',' ? end + 1 : end;
            }
        } else
            return fprintf(stderr, "retrieval_bench: unknown option %s\n", o), 0;
    }
    if (!a->data || !a->queries || (a->mode != RG_SEARCH_LEXICAL && !a->model) || a->k < 1 ||
        a->k > RG_SEARCH_MAX_K)
        return fprintf(stderr, "usage: retrieval_bench --data DIR --model DIR --queries FILE "
                               "[--mode M] [-k N] [--threads 1,2] [--qps-seconds S]\n"),
               0;
    return 1;
}

int main(int argc, char **argv)
{
    args a;
    if (!parse_args(argc, argv, &a)) return 2;
    size_t nq;
    char **queries = read_queries(a.queries, &nq);
    if (nq <= RG_DENSE_QUERY_CACHE) {
        fprintf(stderr,
                "retrieval_bench: need more than %d distinct queries (the query cache "
                "would answer), got %zu\n",
                RG_DENSE_QUERY_CACHE, nq);
        return 2;
    }
    /* The collection is bound to the model name the ingest used: the
     * folder's name, or its parent's for a Python package's "model". */
    char model_name[BENCH_MODEL_NAME] = "";
    if (a.model) {
        char abs[4096];
        if (!realpath(a.model, abs)) die(a.model, NULL);
        char *base = strrchr(abs, '/');
        if (base && strcmp(base + 1, "model") == 0 && base != abs) {
            *base = '\0';
            base = strrchr(abs, '/');
        }
        snprintf(model_name, sizeof model_name, "%.*s", (int)sizeof model_name - 1,
                 base ? base + 1 : abs);
    }

    double t_open = now();
    searcher x;
    searcher_open(&a, model_name, 0, &x);
    rg_error perr;
    if (!a.serial && rg_search_set_parallel(x.q, 1, &perr)) die("starting the leg thread", &perr);
    t_open = now() - t_open;
    double rss_open = bench_status_mb("VmRSS:");
    rg_search_hit *hits = calloc(a.k, sizeof *hits);
    double *t = calloc(nq * ST_COUNT, sizeof *t), *col = calloc(nq, sizeof *col);
    if (!hits || !t || !col) die("out of memory", NULL);
    for (size_t i = 0; i < a.warmup && i < nq; i++)
        run_one(&a, &x, queries[nq - 1 - i], hits, NULL);
    size_t short_results = 0;
    for (size_t i = 0; i < nq; i++)
        if (run_one(&a, &x, queries[i], hits, t + i * ST_COUNT) < a.k) short_results++;
    rg_error err;
    rg_error_clear(&err);
    int64_t coll = 0;
    rg_store_counts counts = {0};
    if (rg_store_collection(x.s, RG_DEFAULT_COLLECTION, 0, &coll, &err) == RG_OK)
        rg_store_counts_get(x.s, coll, &counts, &err);
    searcher_close(&x);

    cJSON *out = cJSON_CreateObject(), *st = cJSON_AddObjectToObject(out, "stages_ms");
    cJSON_AddStringToObject(out, "mode", a.mode_name);
    cJSON_AddNumberToObject(out, "k", (double)a.k);
    cJSON_AddNumberToObject(out, "chunks", (double)counts.chunks);
    cJSON_AddNumberToObject(out, "queries", (double)nq);
    cJSON_AddNumberToObject(out, "queries_under_k", (double)short_results);
    cJSON_AddNumberToObject(out, "open_s", t_open);
    for (int s = 0; s < ST_COUNT; s++) {
        double sum = 0;
        for (size_t i = 0; i < nq; i++)
            sum += col[i] = t[i * ST_COUNT + s];
        qsort(col, nq, sizeof *col, cmp_double);
        cJSON *o = cJSON_AddObjectToObject(st, stage_names[s]);
        cJSON_AddNumberToObject(o, "p50", col[nq / 2]);
        cJSON_AddNumberToObject(o, "p99", col[(size_t)((double)(nq - 1) * 0.99)]);
        cJSON_AddNumberToObject(o, "mean", sum / (double)nq);
    }
    cJSON *qps = cJSON_AddObjectToObject(out, "qps");
    for (int i = 0; i < a.n_threads; i++) {
        char key[16];
        snprintf(key, sizeof key, "%d", a.threads[i]);
        cJSON_AddNumberToObject(qps, key, throughput(&a, model_name, queries, nq, a.threads[i]));
    }
    cJSON_AddNumberToObject(out, "rss_open_mb", rss_open);
    cJSON_AddNumberToObject(out, "rss_peak_mb", bench_status_mb("VmHWM:"));
    char *s = cJSON_PrintUnformatted(out);
    puts(s);
    free(s);
    cJSON_Delete(out);
    for (size_t i = 0; i < nq; i++)
        free(queries[i]);
    free(queries);
    free(hits);
    free(t);
    free(col);
    return 0;
}
