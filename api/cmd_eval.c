/*
 * cmd_eval.c — `ragd eval`: retrieval quality and latency on a dataset in
 * the BEIR layout (corpus.jsonl, queries.jsonl, qrels.tsv).
 *
 * The corpus is ingested into a collection of its own (in a throw-away data
 * directory unless --data is given; unchanged documents are not ingested
 * twice), every judged query is run, chunk hits are turned into a document
 * ranking (a document scores as its best chunk), and the measures are
 * averaged over the judged queries, as BEIR does.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "api/cli_util.h"
#include "engine/base/mem.h"
#include "engine/base/sha256.h"
#include "index/metrics.h"
#include "index/search.h"
#include "ingest/pipeline.h"

/* Longest line read from a dataset file. */
#define EVAL_LINE_MAX (16u << 20)
/* Documents ranked per query (Recall@100 needs 100). */
#define EVAL_DOCS 100
/* Chunks fetched per query to fill EVAL_DOCS documents. */
#define EVAL_CHUNKS 400

typedef struct query {
    char *id;
    char *text;
} query;

typedef struct qrel {
    char *qid;
    char *doc;
    int grade;
} qrel;

typedef struct dataset {
    query *queries;
    size_t n_queries;
    qrel *qrels;
    size_t n_qrels;
} dataset;

static void dataset_free(dataset *d)
{
    for (size_t i = 0; i < d->n_queries; i++) rg_free(d->queries[i].id), rg_free(d->queries[i].text);
    for (size_t i = 0; i < d->n_qrels; i++) rg_free(d->qrels[i].qid), rg_free(d->qrels[i].doc);
    rg_free(d->queries);
    rg_free(d->qrels);
}

static int grow(void **arr, size_t *cap, size_t n, size_t size)
{
    if (n < *cap) return 1;
    size_t c = *cap ? *cap * 2 : 256;
    void *p = rg_realloc(*arr, c * size);
    if (!p) return 0;
    *arr = p;
    *cap = c;
    return 1;
}

/* Calls fn for each line of path (without the newline). */
static rg_status each_line(const char *path, rg_status (*fn)(void *, char *, size_t, size_t,
                                                                rg_error *),
                           void *ctx, rg_error *err)
{
    FILE *f = fopen(path, "r");
    if (!f) return rg_fail(err, errno == ENOENT ? RG_ENOTFOUND : RG_EIO, "%s: %s", path,
                           strerror(errno));
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t n;
    rg_status st = RG_OK;
    while (!st && (n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if ((size_t)n > EVAL_LINE_MAX) {
            st = rg_fail(err, RG_ELIMIT, "%s:%zu: line longer than %u bytes", path, lineno,
                         EVAL_LINE_MAX);
            break;
        }
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
        if (n) st = fn(ctx, line, (size_t)n, lineno, err);
    }
    free(line); /* getline allocates with malloc */
    fclose(f);
    return st;
}

static const char *json_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsString(v)) return v->valuestring;
    return NULL;
}

/* The BEIR "id" field is a string, but some conversions write numbers. */
static int json_id(const cJSON *o, char *out, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "_id");
    if (!v) v = cJSON_GetObjectItemCaseSensitive(o, "id");
    if (cJSON_IsString(v)) return snprintf(out, cap, "%s", v->valuestring) < (int)cap;
    if (cJSON_IsNumber(v)) return snprintf(out, cap, "%.0f", v->valuedouble) < (int)cap;
    return 0;
}

typedef struct corpus_ctx {
    rg_store *store;
    int64_t coll;
    const char *path;
    rg_chunk_options chunk;
    size_t docs, chunks, added;
    rg_doc_builder *b;
} corpus_ctx;

static rg_status corpus_line(void *vctx, char *line, size_t n, size_t lineno, rg_error *err)
{
    corpus_ctx *c = vctx;
    cJSON *o = cJSON_ParseWithLength(line, n);
    char id[512];
    rg_status st = RG_OK;
    if (!o || !json_id(o, id, sizeof id)) {
        st = rg_fail(err, RG_EPARSE, "%s:%zu: not a JSON object with an id", c->path, lineno);
        goto out;
    }
    const char *title = json_str(o, "title"), *text = json_str(o, "text");
    if (!title) title = "";
    if (!text) text = "";
    char hash[RG_SHA256_HEX_LEN + 1], old[65];
    rg_sha256 h;
    unsigned char d[32];
    rg_sha256_init(&h);
    rg_sha256_update(&h, title, strlen(title) + 1);
    rg_sha256_update(&h, text, strlen(text));
    rg_sha256_final(&h, d);
    for (int i = 0; i < 32; i++) snprintf(hash + 2 * i, 3, "%02x", d[i]);
    int found;
    c->docs++;
    if ((st = rg_store_find_document(c->store, c->coll, id, &found, NULL, old, err))) goto out;
    if (found && strcmp(old, hash) == 0) goto out;
    rg_document doc;
    if ((st = rg_doc_set_title(c->b, title, strlen(title), err)) ||
        (st = rg_doc_add(c->b, RG_BLOCK_PARAGRAPH, 0, text, strlen(text), err)) ||
        (st = rg_doc_builder_finish(c->b, &doc, err))) {
        rg_fail(err, st, "%s:%zu: document %s: %s", c->path, lineno, id, rg_error_message(err));
        goto out;
    }
    size_t nc = 0;
    st = rg_ingest_document(c->store, c->coll, id, &doc, hash, (int64_t)(strlen(title) + strlen(text)),
                            NULL, &c->chunk, &nc, err);
    rg_document_free(&doc);
    c->chunks += nc;
    c->added++;
out:
    cJSON_Delete(o);
    return st;
}

static rg_status query_line(void *vctx, char *line, size_t n, size_t lineno, rg_error *err)
{
    dataset *d = vctx;
    static size_t cap;
    if (d->n_queries == 0) cap = 0;
    cJSON *o = cJSON_ParseWithLength(line, n);
    char id[512];
    const char *text = o ? json_str(o, "text") : NULL;
    rg_status st = RG_OK;
    if (!o || !json_id(o, id, sizeof id) || !text) {
        st = rg_fail(err, RG_EPARSE, "queries.jsonl:%zu: not a JSON object with id and text",
                     lineno);
    } else if (!grow((void **)&d->queries, &cap, d->n_queries, sizeof *d->queries)) {
        st = rg_fail(err, RG_ENOMEM, "out of memory reading queries");
    } else {
        query *q = &d->queries[d->n_queries];
        q->id = rg_strdup(id);
        q->text = rg_strdup(text);
        if (!q->id || !q->text) {
            rg_free(q->id), rg_free(q->text);
            st = rg_fail(err, RG_ENOMEM, "out of memory reading queries");
        } else {
            d->n_queries++;
        }
    }
    cJSON_Delete(o);
    return st;
}

static rg_status qrel_line(void *vctx, char *line, size_t n, size_t lineno, rg_error *err)
{
    dataset *d = vctx;
    static size_t cap;
    (void)n;
    if (d->n_qrels == 0) cap = 0;
    char *f[4] = {line, NULL, NULL, NULL};
    int k = 1;
    for (char *p = line; *p && k < 4; p++)
        if (*p == '\t') *p = '\0', f[k++] = p + 1;
    if (k == 4) { /* TREC form: qid 0 doc grade */
        f[1] = f[2];
        f[2] = f[3];
    } else if (k != 3) {
        return rg_fail(err, RG_EPARSE, "qrels.tsv:%zu: expected query-id, doc-id, score", lineno);
    }
    char *end;
    long grade = strtol(f[2], &end, 10);
    if (end == f[2]) {
        if (lineno == 1) return RG_OK; /* the header */
        return rg_fail(err, RG_EPARSE, "qrels.tsv:%zu: score '%s' is not a number", lineno, f[2]);
    }
    if (!grow((void **)&d->qrels, &cap, d->n_qrels, sizeof *d->qrels))
        return rg_fail(err, RG_ENOMEM, "out of memory reading qrels");
    qrel *q = &d->qrels[d->n_qrels];
    q->qid = rg_strdup(f[0]);
    q->doc = rg_strdup(f[1]);
    q->grade = (int)grade;
    if (!q->qid || !q->doc) {
        rg_free(q->qid), rg_free(q->doc);
        return rg_fail(err, RG_ENOMEM, "out of memory reading qrels");
    }
    d->n_qrels++;
    return RG_OK;
}

static int qrel_cmp(const void *a, const void *b)
{
    return strcmp(((const qrel *)a)->qid, ((const qrel *)b)->qid);
}

/* The qrels of qid: a run in the sorted array. */
static const qrel *qrels_of(const dataset *d, const char *qid, size_t *n)
{
    size_t lo = 0, hi = d->n_qrels;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (strcmp(d->qrels[mid].qid, qid) < 0) lo = mid + 1;
        else hi = mid;
    }
    size_t e = lo;
    while (e < d->n_qrels && strcmp(d->qrels[e].qid, qid) == 0) e++;
    *n = e - lo;
    return d->qrels + lo;
}

/* Chunk id -> document source (the BEIR doc id), loaded once. */
typedef struct doc_map {
    int64_t *chunk_doc; /* db document id by chunk id */
    int64_t max_chunk;
    char **doc_src;     /* source_uri by db document id */
    int64_t max_doc;
    unsigned *seen;     /* per-query stamp by db document id */
} doc_map;

static void doc_map_free(doc_map *m)
{
    for (int64_t i = 0; m->doc_src && i <= m->max_doc; i++) rg_free(m->doc_src[i]);
    rg_free(m->doc_src);
    rg_free(m->chunk_doc);
    rg_free(m->seen);
}

static rg_status doc_map_load(rg_store *s, int64_t coll, doc_map *m, rg_error *err)
{
    sqlite3 *db = rg_store_db(s);
    sqlite3_stmt *st;
    memset(m, 0, sizeof *m);
    if (sqlite3_prepare_v2(db, "SELECT coalesce(max(id),0), (SELECT coalesce(max(id),0) FROM "
                               "documents) FROM chunks", -1, &st, NULL) != SQLITE_OK)
        return rg_fail(err, RG_EDB, "%s", sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW) {
        m->max_chunk = sqlite3_column_int64(st, 0);
        m->max_doc = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    m->chunk_doc = rg_calloc((size_t)m->max_chunk + 1, sizeof *m->chunk_doc);
    m->doc_src = rg_calloc((size_t)m->max_doc + 1, sizeof *m->doc_src);
    m->seen = rg_calloc((size_t)m->max_doc + 1, sizeof *m->seen);
    if (!m->chunk_doc || !m->doc_src || !m->seen) return rg_fail(err, RG_ENOMEM, "out of memory");
    if (sqlite3_prepare_v2(db, "SELECT c.id, d.id, d.source_uri FROM chunks c JOIN documents d "
                               "ON d.id = c.document_id WHERE d.collection_id = ?1", -1, &st,
                           NULL) != SQLITE_OK)
        return rg_fail(err, RG_EDB, "%s", sqlite3_errmsg(db));
    sqlite3_bind_int64(st, 1, coll);
    rg_status r = RG_OK;
    while (!r && sqlite3_step(st) == SQLITE_ROW) {
        int64_t c = sqlite3_column_int64(st, 0), d = sqlite3_column_int64(st, 1);
        if (c > m->max_chunk || d > m->max_doc) continue;
        m->chunk_doc[c] = d;
        if (!m->doc_src[d] && !(m->doc_src[d] = rg_strdup((const char *)sqlite3_column_text(st, 2))))
            r = rg_fail(err, RG_ENOMEM, "out of memory");
    }
    sqlite3_finalize(st);
    return r;
}

/* Removes the throw-away data directory (only the files ragd makes). */
static void remove_data_dir(const char *dir)
{
    static const char *const files[] = {"ragd.db", "ragd.db-wal", "ragd.db-shm"};
    char p[PATH_MAX];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
}

static void collection_name(const char *dataset_dir, char *out, size_t cap)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", dataset_dir);
    size_t n = strlen(tmp);
    while (n > 1 && tmp[n - 1] == '/') tmp[--n] = '\0';
    const char *base = strrchr(tmp, '/');
    base = base ? base + 1 : tmp;
    size_t k = (size_t)snprintf(out, cap, "eval-");
    for (const char *p = base; *p && k + 1 < cap && k < RG_COLLECTION_NAME_MAX; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '.' || c == '-';
        out[k++] = ok ? c : '_';
    }
    out[k] = '\0';
}

typedef struct eval_result {
    double ndcg10, recall10, recall100, mrr10, p50, p99, ingest_s;
    size_t judged, docs, chunks;
} eval_result;

static rg_status run_queries(rg_store *s, int64_t coll, const char *coll_name, const dataset *d,
                             FILE *run, eval_result *r, rg_error *err)
{
    rg_search *q = NULL;
    doc_map m;
    rg_search_hit *hits = rg_calloc(EVAL_CHUNKS, sizeof *hits);
    double *lat = rg_calloc(d->n_queries ? d->n_queries : 1, sizeof *lat);
    rg_judgment *judged = NULL;
    size_t judged_cap = 0;
    const char *ranked[EVAL_DOCS];
    float scores[EVAL_DOCS];
    rg_status st = doc_map_load(s, coll, &m, err);
    if (!st && (!hits || !lat)) st = rg_fail(err, RG_ENOMEM, "out of memory");
    if (!st) st = rg_search_open(s, &q, err);
    for (size_t i = 0; !st && i < d->n_queries; i++) {
        size_t nj;
        const qrel *qr = qrels_of(d, d->queries[i].id, &nj);
        if (!nj) continue;
        size_t n = 0, nr = 0;
        rg_search_request req = {d->queries[i].text, EVAL_CHUNKS, coll_name};
        double t0 = cli_now();
        st = rg_search_run(q, &req, hits, &n, err);
        if (st == RG_EINVAL) st = RG_OK, n = 0; /* a query with no searchable text */
        unsigned stamp = (unsigned)r->judged + 1;
        for (size_t h = 0; h < n && nr < EVAL_DOCS; h++) {
            int64_t c = hits[h].chunk_id;
            if (c < 0 || c > m.max_chunk) continue;
            int64_t doc = m.chunk_doc[c];
            if (!doc || m.seen[doc] == stamp) continue;
            m.seen[doc] = stamp;
            scores[nr] = hits[h].score;
            ranked[nr++] = m.doc_src[doc];
        }
        lat[r->judged] = (cli_now() - t0) * 1e3;
        if (st) break;
        if (!grow((void **)&judged, &judged_cap, nj, sizeof *judged) ||
            (nj > judged_cap && !grow((void **)&judged, &judged_cap, nj, sizeof *judged))) {
            st = rg_fail(err, RG_ENOMEM, "out of memory");
            break;
        }
        while (judged_cap < nj) {
            if (!grow((void **)&judged, &judged_cap, judged_cap, sizeof *judged)) {
                st = rg_fail(err, RG_ENOMEM, "out of memory");
                break;
            }
        }
        for (size_t j = 0; j < nj; j++) judged[j] = (rg_judgment){qr[j].doc, qr[j].grade};
        r->ndcg10 += rg_ndcg_at(ranked, nr, judged, nj, 10);
        r->recall10 += rg_recall_at(ranked, nr, judged, nj, 10);
        r->recall100 += rg_recall_at(ranked, nr, judged, nj, 100);
        r->mrr10 += rg_rr_at(ranked, nr, judged, nj, 10);
        r->judged++;
        /* trec_eval orders by score alone; equal scores are nudged apart so
         * that the run file keeps ragd's order exactly. */
        double prev = 0;
        for (size_t h = 0; run && h < nr; h++) {
            double sc = scores[h];
            if (h && sc >= prev) sc = prev - 1e-6;
            prev = sc;
            fprintf(run, "%s Q0 %s %zu %.6f ragd\n", d->queries[i].id, ranked[h], h + 1, sc);
        }
    }
    if (!st && r->judged) {
        double n = (double)r->judged;
        r->ndcg10 /= n, r->recall10 /= n, r->recall100 /= n, r->mrr10 /= n;
        r->p50 = rg_quantile(lat, r->judged, 0.50);
        r->p99 = rg_quantile(lat, r->judged, 0.99);
    }
    rg_free(judged);
    rg_free(lat);
    rg_free(hits);
    rg_search_close(q);
    doc_map_free(&m);
    return st;
}

static int eval_usage(void)
{
    puts("usage: ragd [--data DIR] eval --dataset DIR [--run FILE] [--json]\n"
         "                 [--chunk-tokens N] [--overlap N]\n\n"
         "Ingests DIR/corpus.jsonl (into a throw-away data directory unless --data is\n"
         "given), runs the judged queries of DIR/queries.jsonl and prints nDCG@10,\n"
         "Recall@10, Recall@100, MRR@10 and query latency. --run writes a TREC run file.");
    return 0;
}

static void print_result(const rg_cli *cli, const char *dataset_dir, const eval_result *r)
{
    if (cli->json) {
        printf("{\"dataset\":\"%s\",\"mode\":\"lexical\",\"documents\":%zu,\"chunks\":%zu,"
               "\"queries\":%zu,\"ndcg@10\":%.4f,\"recall@10\":%.4f,\"recall@100\":%.4f,"
               "\"mrr@10\":%.4f,\"latency_ms\":{\"p50\":%.3f,\"p99\":%.3f},"
               "\"ingest_seconds\":%.2f}\n",
               dataset_dir, r->docs, r->chunks, r->judged, r->ndcg10, r->recall10, r->recall100,
               r->mrr10, r->p50, r->p99, r->ingest_s);
        return;
    }
    printf("dataset     %s\n", dataset_dir);
    printf("mode        lexical (BM25)\n");
    printf("documents   %zu (%zu chunks, ingested in %.1fs)\n", r->docs, r->chunks, r->ingest_s);
    printf("queries     %zu judged\n", r->judged);
    printf("nDCG@10     %.4f\n", r->ndcg10);
    printf("Recall@10   %.4f\n", r->recall10);
    printf("Recall@100  %.4f\n", r->recall100);
    printf("MRR@10      %.4f\n", r->mrr10);
    printf("latency     p50 %.2f ms, p99 %.2f ms\n", r->p50, r->p99);
}

int cmd_eval(const rg_cli *cli, int argc, char **argv)
{
    const char *dir = NULL, *run_path = NULL;
    rg_chunk_options chunk = rg_chunk_default_options();
    int rc;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0) return eval_usage();
        if ((rc = cli_opt(argc, argv, &i, "--dataset", &v))) {
            if (rc < 0) return 2;
            dir = v;
        } else if ((rc = cli_opt(argc, argv, &i, "--run", &v))) {
            if (rc < 0) return 2;
            run_path = v;
        } else if ((rc = cli_opt(argc, argv, &i, "--chunk-tokens", &v))) {
            if (rc < 0 || !cli_size("--chunk-tokens", v, 16, 8192, &chunk.target_tokens)) return 2;
        } else if ((rc = cli_opt(argc, argv, &i, "--overlap", &v))) {
            if (rc < 0 || !cli_size("--overlap", v, 0, 4096, &chunk.overlap_tokens)) return 2;
        } else {
            cli_fail("unknown argument '%s' for eval", argv[i]);
            return 2;
        }
    }
    if (!dir) {
        cli_fail("eval needs --dataset DIR");
        return 2;
    }
    if (chunk.overlap_tokens >= chunk.target_tokens) {
        cli_fail("--overlap must be smaller than --chunk-tokens");
        return 2;
    }
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return cli_fail("dataset folder %s not found", dir);
    char corpus[PATH_MAX], queries[PATH_MAX], qrels[PATH_MAX], tmpdir[] = "/tmp/ragd-eval-XXXXXX";
    snprintf(corpus, sizeof corpus, "%s/corpus.jsonl", dir);
    snprintf(queries, sizeof queries, "%s/queries.jsonl", dir);
    snprintf(qrels, sizeof qrels, "%s/qrels.tsv", dir);

    rg_cli c = *cli;
    int throwaway = !cli->data_explicit;
    if (throwaway) {
        if (!mkdtemp(tmpdir)) return cli_fail("cannot create a temporary directory: %s", strerror(errno));
        c.data_dir = tmpdir;
    }
    rg_error err;
    rg_error_clear(&err);
    dataset d;
    memset(&d, 0, sizeof d);
    eval_result r;
    memset(&r, 0, sizeof r);
    rg_store *s = NULL;
    FILE *run = NULL;
    int status = 0;
    char coll_name[RG_COLLECTION_NAME_MAX + 8];
    collection_name(dir, coll_name, sizeof coll_name);
    corpus_ctx cc = {.path = corpus, .chunk = chunk, .b = rg_doc_builder_new()};
    if (!cc.b) {
        status = cli_fail("out of memory");
        goto out;
    }
    if (each_line(queries, query_line, &d, &err) || each_line(qrels, qrel_line, &d, &err)) {
        status = cli_fail_err(&err);
        goto out;
    }
    qsort(d.qrels, d.n_qrels, sizeof *d.qrels, qrel_cmp);
    if (cli_open_store(&c, 1, &s, &err) || rg_store_collection(s, coll_name, 1, &cc.coll, &err)) {
        status = cli_fail_err(&err);
        goto out;
    }
    cc.store = s;
    double t0 = cli_now();
    if (!cli->quiet && !cli->json) fprintf(stderr, "ingesting %s ...\n", corpus);
    if (each_line(corpus, corpus_line, &cc, &err)) {
        status = cli_fail_err(&err);
        goto out;
    }
    r.ingest_s = cli_now() - t0;
    r.docs = cc.docs;
    rg_store_counts counts;
    if (rg_store_counts_get(s, cc.coll, &counts, &err)) {
        status = cli_fail_err(&err);
        goto out;
    }
    r.chunks = (size_t)counts.chunks;
    if (run_path && !(run = fopen(run_path, "w"))) {
        status = cli_fail("%s: %s", run_path, strerror(errno));
        goto out;
    }
    if (run_queries(s, cc.coll, coll_name, &d, run, &r, &err)) {
        status = cli_fail_err(&err);
        goto out;
    }
    if (run && fclose(run) != 0) {
        run = NULL;
        status = cli_fail("%s: %s", run_path, strerror(errno));
        goto out;
    }
    run = NULL;
    if (!r.judged) {
        status = cli_fail("%s: no query has judgments in qrels.tsv", dir);
        goto out;
    }
    print_result(cli, dir, &r);
out:
    if (run) fclose(run);
    rg_doc_builder_free(cc.b);
    rg_store_close(s);
    dataset_free(&d);
    if (throwaway) remove_data_dir(tmpdir);
    return status;
}
