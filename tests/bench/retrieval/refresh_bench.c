/*
 * refresh_bench — what a search right after a write costs as the BM25
 * index's delta grows (issue 6: rg_search_refresh follows the store's
 * deletion log; rg_lexical_update tokenizes new rows into a delta that
 * merges into the main index once it passes max(RG_LEX_DELTA_MIN, 1/16 of
 * the main index)). Not a test (it only measures).
 *
 * WRITES INTO THE DATA DIRECTORY: run it on a copy (`cp -r`). It adds
 * documents to a collection of its own ("refresh-bench"), lexical side
 * only (no vectors), and deletes them again at the end.
 *
 * Opens the store and a lexical-only searcher (the open builds the BM25
 * index from the whole table), then:
 *   1. baseline: --queries-per-write queries spread evenly over FILE,
 *      lexical (k = 10), the median;
 *   2. --writes times: one document of --chunks-per-write chunks whose texts
 *      are copies of existing chunks (picked evenly over the store, so terms
 *      follow the corpus), then rg_search_refresh timed, then the same
 *      queries again (their median: the delta is searched beside the main
 *      postings);
 *   3. the bench documents deleted one write at a time, each followed by a
 *      timed refresh (deleted chunks are masked; enough of them merge).
 * Which refreshes merge is not visible through the searcher; the bench
 * replays the rule (the delta or the masks past max(4096, main / 16)) to
 * label them, and the times show it.
 * Prints one JSON object on stdout: the per-write series and a summary
 * (with resident memory after the open, after the writes and at peak).
 *
 * Usage: refresh_bench --data DIR --queries FILE [--writes N]
 *                      [--chunks-per-write N] [--queries-per-write N]
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/base/buf.h"
#include "engine/base/mem.h"
#include "index/search.h"
#include "index/store.h"
#include "tests/bench/retrieval/proc_status.h"

#define BENCH_MAX_QUERIES   1000
#define BENCH_MAX_QUERY     4096
#define BENCH_MAX_WRITES    100000
#define BENCH_MAX_PER_WRITE 10000
#define BENCH_COLLECTION    "refresh-bench"
#define BENCH_K             10
#define BENCH_TEXT_MAX      ((size_t)256 << 20) /* one bench document */
/* The merge rule of index/lexical_refresh.c (RG_LEX_DELTA_MIN, RG_LEX_DELTA_DIV), replayed. */
#define BENCH_DELTA_MIN 4096
#define BENCH_DELTA_DIV 16

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + 1e-6 * (double)t.tv_nsec;
}

static void die(const char *what, const rg_error *err)
{
    fprintf(stderr, "refresh_bench: %s: %s\n", what, err ? rg_error_message(err) : strerror(errno));
    exit(1);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
    if (!n) return 0;
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

typedef struct bench {
    rg_store *s;
    rg_search *q;
    char *queries[BENCH_MAX_QUERIES];
    size_t n_queries, per_query;
    double *lat; /* [per_query] */
} bench;

/* The median latency of per_query queries spread evenly over the file
 * (lexical, k = 10): the same ones after every write, so medians compare. */
static double query_median(bench *b)
{
    rg_search_hit hits[BENCH_K];
    rg_error err;
    rg_error_clear(&err);
    for (size_t i = 0; i < b->per_query; i++) {
        rg_search_request r =
            rg_search_default_request(b->queries[i * b->n_queries / b->per_query]);
        r.k = BENCH_K;
        r.mode = RG_SEARCH_LEXICAL;
        size_t n = 0;
        double t0 = now_ms();
        if (rg_search_run(b->q, &r, hits, &n, NULL, &err)) die("searching", &err);
        b->lat[i] = now_ms() - t0;
    }
    return median(b->lat, b->per_query);
}

/* Chunks the delta, or the masks, may hold before an update merges. */
static size_t merge_limit(size_t n_main)
{
    return n_main / BENCH_DELTA_DIV > BENCH_DELTA_MIN ? n_main / BENCH_DELTA_DIV : BENCH_DELTA_MIN;
}

static double timed_refresh(bench *b)
{
    rg_error err;
    rg_error_clear(&err);
    double t0 = now_ms();
    if (rg_search_refresh(b->q, NULL, &err)) die("refreshing", &err);
    return now_ms() - t0;
}

/* The texts of n existing chunks, spread over ids[0..n_ids), into one document. */
static void make_document(bench *b, const int64_t *ids, size_t n_ids, size_t write, size_t n,
                          rg_buf *text, rg_chunk_row *rows)
{
    rg_error err;
    rg_error_clear(&err);
    rg_buf_reset(text);
    for (size_t i = 0; i < n; i++) {
        size_t pick = (size_t)(((unsigned long long)(write * n + i) * 2654435761ull) %
                               (unsigned long long)n_ids);
        rg_chunk_view v;
        for (size_t tries = 0;; tries++, pick = (pick + 1) % n_ids) {
            if (rg_store_chunk_get(b->s, ids[pick], &v, &err)) die("reading a chunk", &err);
            if (v.text_len) break;
            rg_chunk_view_free(&v); /* an empty chunk cannot be copied: the next one */
            if (tries == n_ids) die("every chunk is empty", NULL);
        }
        rows[i] = (rg_chunk_row){text->len, text->len + v.text_len, 0, NULL};
        if (rg_buf_append(text, v.text, v.text_len) || rg_buf_puts(text, "\n"))
            die("out of memory", NULL);
        rows[i].token_count = v.text_len / 4 + 1;
        rg_chunk_view_free(&v);
    }
}

int main(int argc, char **argv)
{
    const char *data = NULL, *qfile = NULL;
    size_t writes = 300, per_write = 250, per_query = 50;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) goto usage;
        if (strcmp(a, "--data") == 0)
            data = v;
        else if (strcmp(a, "--queries") == 0)
            qfile = v;
        else if (strcmp(a, "--writes") == 0)
            writes = strtoul(v, NULL, 10);
        else if (strcmp(a, "--chunks-per-write") == 0)
            per_write = strtoul(v, NULL, 10);
        else if (strcmp(a, "--queries-per-write") == 0)
            per_query = strtoul(v, NULL, 10);
        else
            goto usage;
        i++;
    }
    if (!data || !qfile || !writes || writes > BENCH_MAX_WRITES || !per_write ||
        per_write > BENCH_MAX_PER_WRITE || !per_query || per_query > BENCH_MAX_QUERIES)
        goto usage;

    bench b = {.per_query = per_query};
    rg_error err;
    rg_error_clear(&err);
    FILE *f = fopen(qfile, "r");
    if (!f) die(qfile, NULL);
    char line[BENCH_MAX_QUERY];
    while (b.n_queries < BENCH_MAX_QUERIES && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] && !(b.queries[b.n_queries++] = rg_strndup(line, strlen(line))))
            die("out of memory", NULL);
    }
    fclose(f);
    if (!b.n_queries) die("no queries", NULL);
    b.lat = rg_calloc(per_query, sizeof *b.lat);
    rg_chunk_row *rows = rg_calloc(per_write, sizeof *rows);
    int64_t *doc_ids = rg_calloc(writes, sizeof *doc_ids);
    if (!b.lat || !rows || !doc_ids) die("out of memory", NULL);

    rg_store_options so = rg_store_default_options();
    so.create = 0;
    if (rg_store_open(data, &so, &b.s, &err)) die("opening the store", &err);
    int64_t coll = 0;
    if (rg_store_collection(b.s, BENCH_COLLECTION, 1, &coll, &err)) die("collection", &err);
    /* the chunks of the other collections: the texts new documents copy */
    int64_t *ids = NULL;
    size_t n_ids = 0, n_colls = 0;
    rg_collection_info *colls = NULL;
    if (rg_store_collections(b.s, &colls, &n_colls, &err)) die("listing collections", &err);
    for (size_t c = 0; c < n_colls; c++) {
        int64_t *more = NULL, *all;
        size_t n_more = 0;
        if (colls[c].id == coll) continue;
        if (rg_store_chunk_ids_after(b.s, colls[c].id, 0, &more, &n_more, &err))
            die("listing chunks", &err);
        if (n_more && !(all = rg_realloc(ids, (n_ids + n_more) * sizeof *ids)))
            die("out of memory", NULL);
        if (n_more) memcpy((ids = all) + n_ids, more, n_more * sizeof *more);
        n_ids += n_more;
        rg_free(more);
    }
    rg_free(colls);
    if (!n_ids) {
        fprintf(stderr, "refresh_bench: the store has no chunks to copy\n");
        return 1;
    }
    double t0 = now_ms();
    if (rg_search_open(b.s, NULL, &b.q, &err)) die("opening the searcher", &err);
    double open_ms = now_ms() - t0;
    rg_search_stats st;
    rg_search_request r0 = rg_search_default_request(b.queries[0]);
    r0.mode = RG_SEARCH_LEXICAL;
    rg_search_hit h0[BENCH_K];
    size_t n0;
    r0.k = BENCH_K;
    if (rg_search_run(b.q, &r0, h0, &n0, &st, &err)) die("searching", &err);
    size_t n_main = st.lexical_chunks, delta = 0, dead = 0;
    fprintf(stderr, "refresh_bench: %zu chunks in the lexical index, searcher opened in %.0f ms\n",
            n_main, open_ms);
    double base = query_median(&b);

    cJSON *out = cJSON_CreateObject(), *series = cJSON_AddArrayToObject(out, "writes");
    cJSON *dels = cJSON_AddArrayToObject(out, "deletes");
    cJSON_AddNumberToObject(out, "chunks_at_start", (double)n_main);
    cJSON_AddNumberToObject(out, "open_ms", open_ms);
    cJSON_AddNumberToObject(out, "query_p50_ms_no_delta", base);
    cJSON_AddNumberToObject(out, "chunks_per_write", (double)per_write);
    cJSON_AddNumberToObject(out, "rss_mb_after_open", bench_status_mb("VmRSS:"));
    rg_buf text;
    rg_buf_init(&text, BENCH_TEXT_MAX);
    double worst_refresh = 0, worst_query = 0, sum_merge = 0, worst_merge = 0;
    size_t merges = 0, worst_delta = 0;
    for (size_t w = 0; w < writes; w++) {
        make_document(&b, ids, n_ids, w, per_write, &text, rows);
        char uri[64];
        snprintf(uri, sizeof uri, "refresh-bench/%zu", w);
        rg_doc_meta m = {.collection_id = coll,
                         .source_uri = uri,
                         .title = uri,
                         .media_type = "text/plain",
                         .content_hash = "0",
                         .size = (int64_t)text.len,
                         .text = rg_buf_str(&text),
                         .text_len = text.len};
        if (rg_store_put_document(b.s, &m, rows, per_write, &doc_ids[w], &err))
            die("writing a document", &err);
        delta += per_write;
        int merge = delta > merge_limit(n_main);
        double ms = timed_refresh(&b);
        size_t delta_after = merge ? 0 : delta;
        double qm = query_median(&b);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "delta_chunks", (double)delta);
        cJSON_AddBoolToObject(e, "merge", merge);
        cJSON_AddNumberToObject(e, "refresh_ms", ms);
        cJSON_AddNumberToObject(e, "query_p50_ms", qm);
        cJSON_AddItemToArray(series, e);
        if (merge) {
            merges++;
            sum_merge += ms;
            if (ms > worst_merge) worst_merge = ms;
            n_main += delta;
            delta = 0;
        } else if (ms > worst_refresh) {
            worst_refresh = ms;
            worst_delta = delta;
        }
        if (qm > worst_query) worst_query = qm;
        if (w % 20 == 0 || merge)
            fprintf(stderr,
                    "refresh_bench: write %zu: delta %zu%s, refresh %.2f ms, query %.2f ms\n", w,
                    merge ? delta_after : delta, merge ? " (merged)" : "", ms, qm);
    }
    cJSON *sum = cJSON_AddObjectToObject(out, "summary");
    cJSON_AddNumberToObject(sum, "rss_mb_after_writes", bench_status_mb("VmRSS:"));
    cJSON_AddNumberToObject(sum, "rss_mb_peak", bench_status_mb("VmHWM:"));
    cJSON_AddNumberToObject(sum, "worst_refresh_ms_without_merge", worst_refresh);
    cJSON_AddNumberToObject(sum, "its_delta_chunks", (double)worst_delta);
    cJSON_AddNumberToObject(sum, "merges", (double)merges);
    cJSON_AddNumberToObject(sum, "merge_ms_mean", merges ? sum_merge / (double)merges : 0);
    cJSON_AddNumberToObject(sum, "merge_ms_max", worst_merge);
    cJSON_AddNumberToObject(sum, "worst_query_p50_ms", worst_query);

    /* clean up: every bench document deleted, each deletion followed by a refresh */
    for (size_t w = 0; w < writes; w++) {
        if (rg_store_delete_document(b.s, doc_ids[w], &err)) die("deleting", &err);
        dead += per_write;
        int merge = dead > merge_limit(n_main) || delta > merge_limit(n_main);
        double ms = timed_refresh(&b);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "masked_chunks", (double)dead);
        cJSON_AddBoolToObject(e, "merge", merge);
        cJSON_AddNumberToObject(e, "refresh_ms", ms);
        cJSON_AddItemToArray(dels, e);
        if (merge) {
            n_main = n_main + delta - dead;
            dead = delta = 0;
        }
    }
    char *s = cJSON_Print(out);
    if (!s) die("out of memory", NULL);
    puts(s);
    free(s);
    cJSON_Delete(out);
    rg_buf_free(&text);
    rg_free(ids);
    rg_free(rows);
    rg_free(doc_ids);
    rg_free(b.lat);
    for (size_t i = 0; i < b.n_queries; i++)
        rg_free(b.queries[i]);
    rg_search_close(b.q);
    rg_store_close(b.s);
    return 0;
usage:
    fprintf(stderr, "usage: refresh_bench --data DIR --queries FILE [--writes N] "
                    "[--chunks-per-write N] [--queries-per-write N]\n"
                    "(writes into DIR: run it on a copy)\n");
    return 2;
}
