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
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "api/cli_util.h"
#include "engine/base/mem.h"
#include "engine/base/sha256.h"
#include "engine/nn/encoder.h"
#include "engine/rag/answer.h"
#include "engine/rag/extractive.h"
#include "index/dense.h"
#include "index/fusion.h"
#include "index/metrics.h"
#include "index/search.h"
#include "ingest/normalize.h"
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
    char **answers; /* gold answer strings (answers.jsonl), or NULL */
    size_t n_answers;
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
    for (size_t i = 0; i < d->n_queries; i++) {
        query *q = &d->queries[i];
        for (size_t j = 0; j < q->n_answers; j++) rg_free(q->answers[j]);
        rg_free(q->answers), rg_free(q->id), rg_free(q->text);
    }
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
    rg_dense *dense; /* NULL: lexical only */
    size_t docs, chunks, added, held_out;
    int holdout; /* leave out the documents held_out_doc() names */
    rg_doc_builder *b;
} corpus_ctx;

/* --holdout: the documents left out of the collection, about half, chosen
 * by a hash of the id (FNV-1a) so every run leaves out the same ones. */
static int held_out_doc(const char *id)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++) h = (h ^ *p) * 16777619u;
    return (h >> 7) & 1;
}

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
    if (c->holdout && held_out_doc(id)) {
        c->held_out++;
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
    st = rg_ingest_document(c->store, c->dense, c->coll, id, &doc, hash,
                            (int64_t)(strlen(title) + strlen(text)), NULL, &c->chunk, &nc, err);
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
        memset(q, 0, sizeof *q);
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
    unsigned *seen;     /* per-ranking stamp by db document id */
    unsigned stamp;     /* the current ranking's stamp */
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
    snprintf(p, sizeof p, "%s/vectors", dir);
    DIR *v = opendir(p);
    struct dirent *e;
    while (v && (e = readdir(v))) {
        char f[PATH_MAX];
        if (e->d_name[0] == '.') continue;
        if (snprintf(f, sizeof f, "%s/%s", p, e->d_name) < (int)sizeof f) unlink(f);
    }
    if (v) closedir(v);
    rmdir(p);
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
    rg_search_mode mode;
    rg_search_stats stages; /* mean per query */
} eval_result;

/* Turns chunk hits into a document ranking: a document ranks at its best chunk. */
static size_t rank_docs(doc_map *m, const rg_ranked *hits, size_t n, const char **ranked,
                        float *scores)
{
    size_t nr = 0;
    unsigned stamp = ++m->stamp;
    for (size_t h = 0; h < n && nr < EVAL_DOCS; h++) {
        int64_t c = hits[h].id;
        if (c < 0 || c > m->max_chunk) continue;
        int64_t doc = m->chunk_doc[c];
        if (!doc || m->seen[doc] == stamp) continue;
        m->seen[doc] = stamp;
        if (scores) scores[nr] = hits[h].score;
        ranked[nr++] = m->doc_src[doc];
    }
    return nr;
}

/* The judgments of one query, in a buffer that grows as needed. */
static rg_status judgments(const dataset *d, const char *qid, rg_judgment **buf, size_t *cap,
                           size_t *nj, rg_error *err)
{
    const qrel *qr = qrels_of(d, qid, nj);
    while (*cap < *nj)
        if (!grow((void **)buf, cap, *cap, sizeof **buf))
            return rg_fail(err, RG_ENOMEM, "out of memory");
    for (size_t j = 0; j < *nj; j++) (*buf)[j] = (rg_judgment){qr[j].doc, qr[j].grade};
    return RG_OK;
}

static void write_run(FILE *run, const char *qid, const char **ranked, const float *scores,
                      size_t nr)
{
    /* trec_eval orders by score alone; equal scores are nudged apart so that
     * the run file keeps ragd's order exactly. */
    double prev = 0;
    for (size_t h = 0; h < nr; h++) {
        double sc = scores[h];
        if (h && sc >= prev) sc = prev - 1e-6;
        prev = sc;
        fprintf(run, "%s Q0 %s %zu %.6f ragd\n", qid, ranked[h], h + 1, sc);
    }
}

static rg_status run_queries(rg_search *q, doc_map *m, const dataset *d,
                             const rg_search_request *tmpl, FILE *run, eval_result *r,
                             rg_error *err)
{
    rg_search_hit *hits = rg_calloc(EVAL_CHUNKS, sizeof *hits);
    rg_ranked *list = rg_calloc(EVAL_CHUNKS, sizeof *list);
    double *lat = rg_calloc(d->n_queries ? d->n_queries : 1, sizeof *lat);
    rg_judgment *judged = NULL;
    size_t judged_cap = 0;
    const char *ranked[EVAL_DOCS];
    float scores[EVAL_DOCS];
    rg_status st = RG_OK;
    if (!hits || !lat || !list) st = rg_fail(err, RG_ENOMEM, "out of memory");
    for (size_t i = 0; !st && i < d->n_queries; i++) {
        size_t nj, n = 0;
        if ((st = judgments(d, d->queries[i].id, &judged, &judged_cap, &nj, err))) break;
        if (!nj) continue;
        rg_search_request req = *tmpl;
        req.query = d->queries[i].text;
        req.k = EVAL_CHUNKS;
        if (req.depth && req.depth < req.k) req.k = req.depth; /* --depth cuts the ranking */
        rg_search_stats tm;
        double t0 = cli_now();
        st = rg_search_run(q, &req, hits, &n, &tm, err);
        if (st == RG_EINVAL && !req.query[0]) st = RG_OK, n = 0; /* nothing to search */
        for (size_t h = 0; h < n; h++) list[h] = (rg_ranked){hits[h].chunk_id, hits[h].score};
        size_t nr = rank_docs(m, list, n, ranked, scores);
        lat[r->judged] = (cli_now() - t0) * 1e3;
        if (st) break;
        r->stages.embed_ms += tm.embed_ms, r->stages.dense_ms += tm.dense_ms;
        r->stages.lexical_ms += tm.lexical_ms, r->stages.fuse_ms += tm.fuse_ms;
        r->ndcg10 += rg_ndcg_at(ranked, nr, judged, nj, 10);
        r->recall10 += rg_recall_at(ranked, nr, judged, nj, 10);
        r->recall100 += rg_recall_at(ranked, nr, judged, nj, 100);
        r->mrr10 += rg_rr_at(ranked, nr, judged, nj, 10);
        r->judged++;
        if (run) write_run(run, d->queries[i].id, ranked, scores, nr);
    }
    if (!st && r->judged) {
        double n = (double)r->judged;
        r->ndcg10 /= n, r->recall10 /= n, r->recall100 /= n, r->mrr10 /= n;
        r->stages.embed_ms /= n, r->stages.dense_ms /= n;
        r->stages.lexical_ms /= n, r->stages.fuse_ms /= n;
        r->p50 = rg_quantile(lat, r->judged, 0.50);
        r->p99 = rg_quantile(lat, r->judged, 0.99);
    }
    rg_free(judged);
    rg_free(lat);
    rg_free(hits);
    rg_free(list);
    return st;
}

/* ---- Answers (--answers) ---- */

/* Gold answers kept per question, and the longest one (bytes). */
#define EVAL_ANSWERS_MAX    16
#define EVAL_ANSWER_BYTES   1024
/* Thresholds the refusal trade-off table prints, per signal. */
static const double similarity_grid[] = {0.10, 0.15, 0.20, 0.25, 0.30, 0.35, 0.40, 0.45, 0.50};
static const double coverage_grid[] = {0.02, 0.04, 0.06, 0.08, 0.10, 0.12, 0.15, 0.20, 0.25, 0.30};

/* answers.jsonl: {"id": query id, "answers": [strings]}; ids not among the queries are ignored. */
static rg_status answer_line(void *vctx, char *line, size_t n, size_t lineno, rg_error *err)
{
    dataset *d = vctx;
    cJSON *o = cJSON_ParseWithLength(line, n);
    char id[512];
    const cJSON *arr = o ? cJSON_GetObjectItemCaseSensitive(o, "answers") : NULL;
    rg_status st = RG_OK;
    if (!o || !json_id(o, id, sizeof id) || !cJSON_IsArray(arr)) {
        st = rg_fail(err, RG_EPARSE, "answers.jsonl:%zu: not a JSON object with id and answers",
                     lineno);
        goto out;
    }
    query *q = NULL;
    for (size_t i = 0; i < d->n_queries && !q; i++)
        if (strcmp(d->queries[i].id, id) == 0) q = &d->queries[i];
    if (!q || q->answers) goto out;
    size_t na = (size_t)cJSON_GetArraySize(arr);
    if (na > EVAL_ANSWERS_MAX) na = EVAL_ANSWERS_MAX;
    if (!na) goto out;
    if (!(q->answers = rg_calloc(na, sizeof *q->answers))) {
        st = rg_fail(err, RG_ENOMEM, "out of memory reading answers");
        goto out;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        if (q->n_answers == na) break;
        if (!cJSON_IsString(it) || !it->valuestring[0] ||
            strlen(it->valuestring) > EVAL_ANSWER_BYTES)
            continue;
        /* in the stored text's form: NFKC folds the full-width commas,
         * brackets and digits of Chinese answers, so raw strings never match */
        rg_buf nb;
        rg_buf_init(&nb, 4 * EVAL_ANSWER_BYTES);
        rg_error nerr = {0};
        rg_status ns =
            rg_normalize(it->valuestring, strlen(it->valuestring), RG_WS_COLLAPSE, &nb, &nerr);
        if (ns == RG_ENOMEM || (!ns && !nb.len)) {
            rg_buf_free(&nb);
            if (!ns) continue;
            st = rg_fail(err, RG_ENOMEM, "out of memory reading answers");
            goto out;
        }
        if (ns) {
            rg_buf_free(&nb);
            st = rg_fail(err, RG_EPARSE, "answers.jsonl:%zu: %s", lineno, nerr.msg);
            goto out;
        }
        q->answers[q->n_answers++] = rg_buf_steal(&nb);
    }
out:
    cJSON_Delete(o);
    return st;
}

static int has_gold(const query *q, const char *text)
{
    for (size_t i = 0; text && i < q->n_answers; i++)
        if (strstr(text, q->answers[i])) return 1;
    return 0;
}

typedef struct answer_record {
    int answerable; /* a judged document is in the collection */
    int refused;
    int signal;     /* 0 none, 1 similarity, 2 coverage */
    double relevance;
} answer_record;

typedef struct answer_result {
    size_t asked, answerable, unanswerable, with_gold;
    size_t fallbacks;                 /* answers the extractive generator gave for a failed LLM */
    size_t gold_hits;                 /* answerable answers holding a gold string */
    size_t citations, citations_gold; /* citations; those whose chunk holds a gold string */
    size_t refused_answerable, refused_unanswerable;
    size_t cap;                       /* records rec has room for */
    double p50_retrieve, p50_generate, p50_overhead, p99_overhead;
    answer_record *rec;
} answer_result;

/* Does the cited chunk hold a gold answer? */
static rg_status citation_gold(rg_store *s, const query *qu, const rg_citation *c, int *gold,
                               rg_error *err)
{
    rg_chunk_view v;
    rg_status st = rg_store_chunk_get(s, c->chunk_id, &v, err);
    if (st) return st;
    *gold = has_gold(qu, v.text);
    rg_chunk_view_free(&v);
    return RG_OK;
}

/*
 * Answers d's judged questions (or, with foreign set, all of d's questions,
 * asked of a collection made from another dataset: all unanswerable),
 * appending to r->rec (room for r->cap records). Times are kept from the
 * dataset's own questions.
 */
static rg_status run_answers(rg_search *q, rg_store *s, rg_generator *gen, const dataset *d,
                             const rg_answer_options *ao, int holdout, int foreign, size_t limit,
                             answer_result *r, rg_error *err)
{
    size_t cap = d->n_queries ? d->n_queries : 1, asked = 0, first = r->asked;
    double *ret = rg_calloc(cap, sizeof *ret), *gen_ms = rg_calloc(cap, sizeof *gen_ms),
           *over = rg_calloc(cap, sizeof *over);
    rg_status st = RG_OK;
    if (!ret || !gen_ms || !over || !r->rec) st = rg_fail(err, RG_ENOMEM, "out of memory");
    for (size_t i = 0; !st && i < d->n_queries && (!limit || asked < limit) && r->asked < r->cap;
         i++) {
        const query *qu = &d->queries[i];
        size_t nj = 0;
        const qrel *qr = foreign ? NULL : qrels_of(d, qu->id, &nj);
        if (!nj && !foreign) continue;
        int answerable = !holdout && !foreign;
        for (size_t j = 0; j < nj && !answerable; j++)
            if (qr[j].grade > 0 && !held_out_doc(qr[j].doc)) answerable = 1;
        rg_answer ans = {0};
        if ((st = rg_answer_question(q, s, gen, qu->text, ao, &ans, err))) break;
        answer_record *rec = &r->rec[r->asked];
        *rec = (answer_record){answerable, ans.refused,
                               !strcmp(ans.relevance_signal, "similarity")  ? 1
                               : !strcmp(ans.relevance_signal, "coverage") ? 2
                                                                            : 0,
                               ans.relevance};
        ret[asked] = ans.timings.retrieve_ms;
        gen_ms[asked] = ans.timings.generate_ms;
        over[asked] = ans.timings.total_ms - ans.timings.retrieve_ms - ans.timings.generate_ms;
        r->asked++;
        r->fallbacks += (size_t)ans.fallback;
        asked++;
        if (answerable) {
            r->answerable++;
            r->refused_answerable += (size_t)ans.refused;
            if (qu->n_answers) {
                r->with_gold++;
                r->gold_hits += (size_t)(!ans.refused && has_gold(qu, ans.text));
                for (size_t c = 0; !st && c < ans.n_citations; c++) {
                    int g = 0;
                    st = citation_gold(s, qu, &ans.citations[c], &g, err);
                    r->citations++;
                    r->citations_gold += (size_t)g;
                }
            }
        } else {
            r->unanswerable++;
            r->refused_unanswerable += (size_t)ans.refused;
        }
        rg_answer_free(&ans);
    }
    if (!st && asked && !foreign) {
        r->p50_retrieve = rg_quantile(ret, asked, 0.5);
        r->p50_generate = rg_quantile(gen_ms, asked, 0.5);
        r->p50_overhead = rg_quantile(over, asked, 0.5);
        r->p99_overhead = rg_quantile(over, asked, 0.99);
    }
    (void)first;
    rg_free(ret);
    rg_free(gen_ms);
    rg_free(over);
    return st;
}

static double share(size_t a, size_t b)
{
    return b ? (double)a / (double)b : NAN;
}

/* Refusal rates had the threshold of signal `sig` been t (refusals for
 * other reasons, such as no match, counted as they happened). */
static void tradeoff_at(const answer_result *r, int sig, double t, double *ref_u, double *ref_a)
{
    size_t u = 0, ru = 0, a = 0, ra = 0;
    for (size_t i = 0; i < r->asked; i++) {
        const answer_record *x = &r->rec[i];
        if (x->signal != sig) continue;
        int refused = isnan(x->relevance) ? x->refused : x->relevance < t;
        if (x->answerable) a++, ra += (size_t)refused;
        else u++, ru += (size_t)refused;
    }
    *ref_u = share(ru, u);
    *ref_a = share(ra, a);
}

static void print_answers(const rg_cli *cli, const char *dir, int holdout, rg_generator *gen,
                          const answer_result *r)
{
    static const char *names[] = {"", "similarity", "coverage"};
    const double *grids[] = {NULL, similarity_grid, coverage_grid};
    const size_t sizes[] = {0, sizeof similarity_grid / sizeof similarity_grid[0],
                            sizeof coverage_grid / sizeof coverage_grid[0]};
    size_t per_sig[3] = {0, 0, 0};
    for (size_t i = 0; i < r->asked; i++) per_sig[r->rec[i].signal]++;
    if (cli->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "dataset", dir);
        cJSON_AddBoolToObject(o, "holdout", holdout);
        cJSON_AddStringToObject(o, "generator", rg_generator_name(gen));
        cJSON_AddStringToObject(o, "model", rg_generator_model(gen));
        cJSON_AddNumberToObject(o, "fallbacks", (double)r->fallbacks);
        cJSON_AddNumberToObject(o, "questions", (double)r->asked);
        cJSON_AddNumberToObject(o, "answerable", (double)r->answerable);
        cJSON_AddNumberToObject(o, "unanswerable", (double)r->unanswerable);
        cJSON_AddNumberToObject(o, "with_gold", (double)r->with_gold);
        cJSON_AddNumberToObject(o, "gold_share", share(r->gold_hits, r->with_gold));
        cJSON_AddNumberToObject(o, "citation_precision", share(r->citations_gold, r->citations));
        cJSON_AddNumberToObject(o, "refused_unanswerable", share(r->refused_unanswerable, r->unanswerable));
        cJSON_AddNumberToObject(o, "refused_answerable", share(r->refused_answerable, r->answerable));
        cJSON_AddNumberToObject(o, "retrieve_p50_ms", r->p50_retrieve);
        cJSON_AddNumberToObject(o, "generate_p50_ms", r->p50_generate);
        cJSON_AddNumberToObject(o, "overhead_p50_ms", r->p50_overhead);
        cJSON_AddNumberToObject(o, "overhead_p99_ms", r->p99_overhead);
        cJSON *tr = cJSON_AddArrayToObject(o, "tradeoff");
        for (int sig = 1; sig <= 2; sig++)
            for (size_t g = 0; per_sig[sig] && g < sizes[sig]; g++) {
                double u, a;
                tradeoff_at(r, sig, grids[sig][g], &u, &a);
                cJSON *p = cJSON_CreateObject();
                cJSON_AddStringToObject(p, "signal", names[sig]);
                cJSON_AddNumberToObject(p, "threshold", grids[sig][g]);
                cJSON_AddNumberToObject(p, "refused_unanswerable", u);
                cJSON_AddNumberToObject(p, "refused_answerable", a);
                cJSON_AddItemToArray(tr, p);
            }
        char *txt = cJSON_PrintUnformatted(o);
        if (txt) puts(txt);
        cJSON_free(txt);
        cJSON_Delete(o);
        return;
    }
    printf("generator   %s%s%s", rg_generator_name(gen), *rg_generator_model(gen) ? " " : "",
           rg_generator_model(gen));
    if (r->fallbacks) printf(" (%zu answers extracted instead: the LLM failed)", r->fallbacks);
    printf("\nquestions   %zu (%zu answerable, %zu unanswerable%s)\n", r->asked, r->answerable,
           r->unanswerable, holdout ? ": their documents were held out" : "");
    if (r->with_gold) {
        printf("gold        %.4f of %zu answerable questions have a gold answer in the answer\n",
               share(r->gold_hits, r->with_gold), r->with_gold);
        printf("citations   precision %.4f (%zu of %zu cite a chunk holding a gold answer)\n",
               share(r->citations_gold, r->citations), r->citations_gold, r->citations);
    }
    if (r->unanswerable)
        printf("refused     %.4f of unanswerable, %.4f of answerable\n",
               share(r->refused_unanswerable, r->unanswerable),
               share(r->refused_answerable, r->answerable));
    else
        printf("refused     %.4f of answerable\n", share(r->refused_answerable, r->answerable));
    printf("time        retrieve p50 %.2f ms, generate p50 %.2f ms, overhead p50 %.2f ms "
           "p99 %.2f ms\n", r->p50_retrieve, r->p50_generate, r->p50_overhead, r->p99_overhead);
    for (int sig = 1; sig <= 2; sig++) {
        if (!per_sig[sig] || !r->unanswerable) continue;
        printf("trade-off   %s (%zu questions): threshold, refused unanswerable, refused "
               "answerable\n", names[sig], per_sig[sig]);
        for (size_t g = 0; g < sizes[sig]; g++) {
            double u, a;
            tradeoff_at(r, sig, grids[sig][g], &u, &a);
            printf("            %.2f  %.4f  %.4f\n", grids[sig][g], u, a);
        }
    }
}

/* One fusion setting of the sweep. */
typedef struct sweep_point {
    rg_fusion_method method;
    double rrf_k, alpha;
    double ndcg10;
} sweep_point;

/* Both legs of every judged query, computed once and fused many ways. */
typedef struct leg_lists {
    rg_ranked *lex, *dense;  /* EVAL_CHUNKS per query */
    size_t *n_lex, *n_dense;
    size_t *query;           /* dataset index of each judged query */
    size_t n;
} leg_lists;

static rg_status collect_legs(rg_search *q, rg_dense *dense, const dataset *d,
                              const rg_search_request *tmpl, leg_lists *L, rg_error *err)
{
    size_t nq = d->n_queries ? d->n_queries : 1;
    L->lex = rg_calloc(nq * EVAL_CHUNKS, sizeof *L->lex);
    L->dense = rg_calloc(nq * EVAL_CHUNKS, sizeof *L->dense);
    L->n_lex = rg_calloc(nq, sizeof *L->n_lex);
    L->n_dense = rg_calloc(nq, sizeof *L->n_dense);
    L->query = rg_calloc(nq, sizeof *L->query);
    rg_search_hit *hits = rg_calloc(EVAL_CHUNKS, sizeof *hits);
    rg_status st = RG_OK;
    if (!L->lex || !L->dense || !L->n_lex || !L->n_dense || !L->query || !hits)
        st = rg_fail(err, RG_ENOMEM, "out of memory for the sweep");
    for (size_t i = 0; !st && i < d->n_queries; i++) {
        size_t nj;
        qrels_of(d, d->queries[i].id, &nj);
        if (!nj) continue;
        for (int leg = 0; leg < 2 && !st; leg++) {
            rg_search_request req = *tmpl;
            req.query = d->queries[i].text;
            req.k = EVAL_CHUNKS;
            req.mode = leg ? RG_SEARCH_DENSE : RG_SEARCH_LEXICAL;
            size_t n = 0;
            /* As hybrid search does: no dense leg for a script the model lacks. */
            if (!leg || rg_dense_covers(dense, req.query))
                st = rg_search_run(q, &req, hits, &n, NULL, err);
            if (st == RG_EINVAL && !req.query[0]) st = RG_OK, n = 0;
            rg_ranked *out = (leg ? L->dense : L->lex) + L->n * EVAL_CHUNKS;
            for (size_t h = 0; h < n; h++) out[h] = (rg_ranked){hits[h].chunk_id, hits[h].score};
            (leg ? L->n_dense : L->n_lex)[L->n] = n;
        }
        L->query[L->n++] = i;
    }
    rg_free(hits);
    return st;
}

static void legs_free(leg_lists *L)
{
    rg_free(L->lex), rg_free(L->dense), rg_free(L->n_lex), rg_free(L->n_dense), rg_free(L->query);
}

static rg_status sweep(rg_search *q, rg_dense *dense, doc_map *m, const dataset *d,
                       const rg_search_request *tmpl, int json, rg_error *err)
{
    static const double ks[] = {10, 20, 40, 60, 100};
    static const double alphas[] = {0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8};
    sweep_point pts[64];
    size_t np = 0;
    for (size_t a = 0; a < sizeof alphas / sizeof *alphas; a++) {
        for (size_t k = 0; k < sizeof ks / sizeof *ks; k++)
            pts[np++] = (sweep_point){RG_FUSE_RRF, ks[k], alphas[a], 0};
        pts[np++] = (sweep_point){RG_FUSE_WEIGHTED, 60, alphas[a], 0};
    }
    leg_lists L;
    memset(&L, 0, sizeof L);
    rg_judgment *judged = NULL;
    size_t judged_cap = 0;
    rg_ranked *fused = rg_calloc(EVAL_CHUNKS, sizeof *fused);
    const char *ranked[EVAL_DOCS];
    rg_status st = fused ? collect_legs(q, dense, d, tmpl, &L, err)
                         : rg_fail(err, RG_ENOMEM, "out of memory for the sweep");
    for (size_t p = 0; !st && p < np; p++) {
        rg_fusion_options fo = {pts[p].method, pts[p].rrf_k, pts[p].alpha};
        for (size_t i = 0; !st && i < L.n; i++) {
            size_t nj, nf;
            if ((st = judgments(d, d->queries[L.query[i]].id, &judged, &judged_cap, &nj, err)))
                break;
            if ((st = rg_fuse(&fo, L.lex + i * EVAL_CHUNKS, L.n_lex[i], L.dense + i * EVAL_CHUNKS,
                              L.n_dense[i], EVAL_CHUNKS, fused, &nf, err)))
                break;
            size_t nr = rank_docs(m, fused, nf, ranked, NULL);
            pts[p].ndcg10 += rg_ndcg_at(ranked, nr, judged, nj, 10);
        }
        if (L.n) pts[p].ndcg10 /= (double)L.n;
    }
    if (!st) {
        size_t best = 0;
        for (size_t p = 1; p < np; p++)
            if (pts[p].ndcg10 > pts[best].ndcg10) best = p;
        if (json) printf("{\"sweep\":[");
        else printf("fusion    k     alpha  nDCG@10\n");
        for (size_t p = 0; p < np; p++) {
            const char *name = pts[p].method == RG_FUSE_RRF ? "rrf" : "weighted";
            if (json)
                printf("%s{\"fusion\":\"%s\",\"k\":%g,\"alpha\":%g,\"ndcg@10\":%.4f}",
                       p ? "," : "", name, pts[p].rrf_k, pts[p].alpha, pts[p].ndcg10);
            else
                printf("%-9s %-5g %-6g %.4f%s\n", name, pts[p].rrf_k, pts[p].alpha,
                       pts[p].ndcg10, p == best ? "  <- best" : "");
        }
        if (json) printf("],\"queries\":%zu}\n", L.n);
    }
    rg_free(fused);
    rg_free(judged);
    legs_free(&L);
    return st;
}

static int eval_usage(void)
{
    puts("usage: ragd [--data DIR] eval --dataset DIR [--mode hybrid|lexical|dense]\n"
         "                 [--model NAME|DIR] [--fusion rrf|weighted] [--rrf-k K] [--alpha A]\n"
         "                 [--depth N]\n"
         "                 [--sweep] [--int8] [--fp32-query] [--run FILE] [--json]\n"
         "                 [--chunk-tokens N] [--overlap N]\n"
         "       ragd eval --dataset DIR --answers [--holdout] [--unanswerable DIR2]\n"
         "                 [--limit N] [--llm URL --llm-model NAME [--llm-kind K]\n"
         "                 [--llm-timeout S] [--llm-max-tokens N] [--llm-context N]\n"
         "                 [--allow-private]] [...]\n\n"
         "Ingests DIR/corpus.jsonl (into a throw-away data directory unless --data is\n"
         "given), runs the judged queries of DIR/queries.jsonl and prints nDCG@10,\n"
         "Recall@10, Recall@100, MRR@10 and query latency. --run writes a TREC run file.\n"
         "The mode defaults to hybrid when an embedding model is imported, else lexical.\n"
         "--sweep reports nDCG@10 for a grid of fusion settings instead. Each query\n"
         "asks for 400 chunks (ranked into up to 100 documents), so each hybrid leg\n"
         "hands 400 candidates to fusion; --depth N asks for N chunks from N per leg\n"
         "(as a search for k <= N with that depth ranks its top k; Recall@100 then\n"
         "counts fewer documents). --int8 embeds\n"
         "with the int8 encoder (use a fresh data directory: vectors are not re-made).\n"
         "Queries are embedded with int8 weights where the CPU has VNNI (faster, same\n"
         "nDCG); --fp32-query embeds them in fp32 like the passages.\n\n"
         "--answers answers the judged queries instead, with the extractive generator\n"
         "or the LLM that --llm names (the options as in `ragd ask`; answers the\n"
         "LLM failed to give are extracted and counted as fallbacks), and prints the\n"
         "share of answers holding a gold answer string (answers.jsonl),\n"
         "citation precision (cited chunks holding one), refusal rates and ragd's own\n"
         "time per answer. --holdout leaves about half the documents out (by a hash\n"
         "of their ids): questions whose judged documents are all out are unanswerable,\n"
         "and a table shows the refusal trade-off at several thresholds.\n"
         "--unanswerable DIR2 also asks DIR2's questions (another dataset: its\n"
         "answers cannot be in DIR's collection).");
    return 0;
}

static void print_result(const rg_cli *cli, const char *dataset_dir, const eval_result *r)
{
    const char *mode = rg_search_mode_name(r->mode);
    if (cli->json) {
        printf("{\"dataset\":\"%s\",\"mode\":\"%s\",\"documents\":%zu,\"chunks\":%zu,"
               "\"queries\":%zu,\"ndcg@10\":%.4f,\"recall@10\":%.4f,\"recall@100\":%.4f,"
               "\"mrr@10\":%.4f,\"latency_ms\":{\"p50\":%.3f,\"p99\":%.3f},"
               "\"stages_ms\":{\"embed\":%.3f,\"dense\":%.3f,\"lexical\":%.3f,\"fuse\":%.3f},"
               "\"ingest_seconds\":%.2f}\n",
               dataset_dir, mode, r->docs, r->chunks, r->judged, r->ndcg10, r->recall10,
               r->recall100, r->mrr10, r->p50, r->p99, r->stages.embed_ms, r->stages.dense_ms,
               r->stages.lexical_ms, r->stages.fuse_ms, r->ingest_s);
        return;
    }
    printf("dataset     %s\n", dataset_dir);
    printf("mode        %s\n", mode);
    printf("documents   %zu (%zu chunks, ingested in %.1fs)\n", r->docs, r->chunks, r->ingest_s);
    printf("queries     %zu judged\n", r->judged);
    printf("nDCG@10     %.4f\n", r->ndcg10);
    printf("Recall@10   %.4f\n", r->recall10);
    printf("Recall@100  %.4f\n", r->recall100);
    printf("MRR@10      %.4f\n", r->mrr10);
    printf("latency     p50 %.2f ms, p99 %.2f ms\n", r->p50, r->p99);
    printf("stages      embed %.2f ms, dense %.2f ms, lexical %.2f ms, fuse %.2f ms (mean)\n",
           r->stages.embed_ms, r->stages.dense_ms, r->stages.lexical_ms, r->stages.fuse_ms);
}

typedef struct eval_args {
    const char *dir, *run_path, *model, *mode;
    int sweep;
    size_t depth; /* --depth: chunks a query asks for, and candidates per leg */
    int int8;
    int fp32_query;
    int answers, holdout; /* --answers, --holdout */
    const char *unanswerable; /* --unanswerable DIR: ask its questions too */
    size_t limit;         /* --limit: questions answered (0: all) */
    cli_llm llm;          /* --llm ...: the answers' generator (url NULL: extractive) */
    rg_chunk_options chunk;
    rg_fusion_options fusion;
} eval_args;

static int parse_double(const char *opt, const char *v, double lo, double hi, double *out)
{
    char *end;
    double x = strtod(v, &end);
    if (end == v || *end || x < lo || x > hi) {
        cli_fail("%s takes a number from %g to %g, not '%s'", opt, lo, hi, v);
        return 0;
    }
    *out = x;
    return 1;
}

/* Returns -1 when the arguments are good, else the exit status. */
static int eval_parse(int argc, char **argv, eval_args *a)
{
    int rc;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0) return eval_usage();
        if (strcmp(argv[i], "--sweep") == 0) {
            a->sweep = 1;
        } else if (strcmp(argv[i], "--int8") == 0) {
            a->int8 = 1;
        } else if (strcmp(argv[i], "--fp32-query") == 0) {
            a->fp32_query = 1;
        } else if (strcmp(argv[i], "--answers") == 0) {
            a->answers = 1;
        } else if (strcmp(argv[i], "--holdout") == 0) {
            a->holdout = 1;
        } else if ((rc = cli_llm_opt(argc, argv, &i, &a->llm))) {
            if (rc < 0) return 2;
        } else if ((rc = cli_opt(argc, argv, &i, "--unanswerable", &v))) {
            if (rc < 0) return 2;
            a->unanswerable = v;
        } else if ((rc = cli_opt(argc, argv, &i, "--limit", &v))) {
            if (rc < 0 || !cli_size("--limit", v, 1, 10000000, &a->limit)) return 2;
        } else if ((rc = cli_opt(argc, argv, &i, "--dataset", &v))) {
            if (rc < 0) return 2;
            a->dir = v;
        } else if ((rc = cli_opt(argc, argv, &i, "--run", &v))) {
            if (rc < 0) return 2;
            a->run_path = v;
        } else if ((rc = cli_opt(argc, argv, &i, "--model", &v))) {
            if (rc < 0) return 2;
            a->model = v;
        } else if ((rc = cli_opt(argc, argv, &i, "--mode", &v))) {
            rg_search_mode m;
            if (rc < 0) return 2;
            if (!rg_search_mode_parse(v, &m)) {
                cli_fail("--mode is hybrid, lexical or dense, not '%s'", v);
                return 2;
            }
            a->mode = v;
        } else if ((rc = cli_opt(argc, argv, &i, "--fusion", &v))) {
            if (rc < 0) return 2;
            if (strcmp(v, "rrf") == 0) a->fusion.method = RG_FUSE_RRF;
            else if (strcmp(v, "weighted") == 0) a->fusion.method = RG_FUSE_WEIGHTED;
            else return cli_fail("--fusion is rrf or weighted, not '%s'", v), 2;
        } else if ((rc = cli_opt(argc, argv, &i, "--rrf-k", &v))) {
            if (rc < 0 || !parse_double("--rrf-k", v, 0, 10000, &a->fusion.rrf_k)) return 2;
        } else if ((rc = cli_opt(argc, argv, &i, "--alpha", &v))) {
            if (rc < 0 || !parse_double("--alpha", v, 0, 1, &a->fusion.alpha)) return 2;
        } else if ((rc = cli_opt(argc, argv, &i, "--depth", &v))) {
            if (rc < 0 || !cli_size("--depth", v, 1, RG_FUSION_MAX_LIST, &a->depth)) return 2;
        } else if ((rc = cli_opt(argc, argv, &i, "--chunk-tokens", &v))) {
            if (rc < 0 || !cli_size("--chunk-tokens", v, 16, 8192, &a->chunk.target_tokens))
                return 2;
        } else if ((rc = cli_opt(argc, argv, &i, "--overlap", &v))) {
            if (rc < 0 || !cli_size("--overlap", v, 0, 4096, &a->chunk.overlap_tokens)) return 2;
        } else {
            cli_fail("unknown argument '%s' for eval", argv[i]);
            return 2;
        }
    }
    if (!a->dir) return cli_fail("eval needs --dataset DIR"), 2;
    if (a->chunk.overlap_tokens >= a->chunk.target_tokens)
        return cli_fail("--overlap must be smaller than --chunk-tokens"), 2;
    if ((a->holdout || a->limit || a->unanswerable || a->llm.url) && !a->answers)
        return cli_fail("--holdout, --unanswerable, --limit and --llm go with --answers"), 2;
    if (!cli_llm_check(&a->llm)) return 2;
    if (a->answers && (a->sweep || a->run_path))
        return cli_fail("--answers evaluates answers: no --sweep or --run with it"), 2;
    if (a->sweep && a->mode && strcmp(a->mode, "hybrid") != 0)
        return cli_fail("--sweep tunes fusion: it needs hybrid mode"), 2;
    return -1;
}

/* --answers: every judged query answered by the extractive generator, or the LLM with the
 * extractive generator as its fallback. */
static int eval_answers(const rg_cli *cli, const eval_args *a, rg_encoder *enc, rg_dense *dense,
                        rg_search *q, rg_store *s, const dataset *d, rg_search_mode mode,
                        const corpus_ctx *cc, rg_error *err)
{
    rg_extractive_options xo = rg_extractive_default_options();
    xo.encoder = enc;
    xo.dense = dense;
    xo.model = dense ? rg_dense_model(dense) : "";
    rg_generator gen = {0};
    cli_llm_gen llm = {0};
    if (rg_extractive_open(&xo, &gen, err)) return cli_fail_err(err);
    if (a->llm.url && cli_llm_open(&a->llm, &llm, err)) {
        rg_generator_close(&gen);
        return cli_fail_err(err);
    }
    rg_generator *answerer = a->llm.url ? &llm.gen : &gen;
    rg_answer_options ao = rg_answer_default_options();
    ao.mode = mode;
    if (a->llm.url) ao.fallback = &gen;
    cli_llm_prompt(&a->llm, &ao.prompt);
    answer_result r = {0};
    if (!cli->quiet && !cli->json)
        fprintf(stderr, "answering (%zu documents in the collection, %zu held out) ...\n",
                cc->docs, cc->held_out);
    int status = 0;
    dataset other = {0};
    r.cap = d->n_queries;
    if (a->unanswerable) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/queries.jsonl", a->unanswerable);
        if (each_line(path, query_line, &other, err)) status = cli_fail_err(err);
        r.cap += a->limit && a->limit < other.n_queries ? a->limit : other.n_queries;
    }
    if (!status && !(r.rec = rg_calloc(r.cap ? r.cap : 1, sizeof *r.rec)))
        status = cli_fail("out of memory");
    if (!status &&
        (run_answers(q, s, answerer, d, &ao, a->holdout, 0, a->limit, &r, err) ||
         (a->unanswerable && run_answers(q, s, answerer, &other, &ao, 0, 1, a->limit, &r, err))))
        status = cli_fail_err(err);
    else if (!status && !r.asked)
        status = cli_fail("%s: no query has judgments in qrels.tsv", a->dir);
    else if (!status)
        print_answers(cli, a->dir, a->holdout, answerer, &r);
    if (!status && r.fallbacks && !cli->quiet)
        fprintf(stderr,
                "ragd: warning: the LLM failed on %zu of %zu questions; their answers were "
                "extracted (last failure: %s)\n",
                r.fallbacks, r.asked, rg_error_message(&llm.last));
    dataset_free(&other);
    rg_free(r.rec);
    cli_llm_close(&llm);
    rg_generator_close(&gen);
    return status;
}

int cmd_eval(const rg_cli *cli, int argc, char **argv)
{
    eval_args a = {.chunk = rg_chunk_default_options(),
                   .fusion = rg_fusion_default_options(),
                   .llm = cli_llm_defaults()};
    int rc = eval_parse(argc, argv, &a);
    if (rc >= 0) return rc;
    struct stat sb;
    if (stat(a.dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return cli_fail("dataset folder %s not found", a.dir);
    char corpus[PATH_MAX], queries[PATH_MAX], qrels[PATH_MAX], tmpdir[] = "/tmp/ragd-eval-XXXXXX";
    snprintf(corpus, sizeof corpus, "%s/corpus.jsonl", a.dir);
    snprintf(queries, sizeof queries, "%s/queries.jsonl", a.dir);
    snprintf(qrels, sizeof qrels, "%s/qrels.tsv", a.dir);
    char answers[PATH_MAX];
    snprintf(answers, sizeof answers, "%s/answers.jsonl", a.dir);
    if (a.answers && !a.holdout && !a.unanswerable && stat(answers, &sb) != 0)
        return cli_fail("%s: no answers.jsonl (use --holdout or --unanswerable to measure "
                        "refusals alone)", a.dir);

    rg_error err;
    rg_error_clear(&err);
    /* The model comes from the user's data directory even when the corpus
     * goes into a throw-away one. */
    rg_encoder *enc = NULL, *qenc = NULL;
    char model_name[CLI_MODEL_NAME_MAX + 1] = "";
    int need_dense = a.sweep || (a.mode && strcmp(a.mode, "lexical") != 0);
    if (!(a.mode && !need_dense)) {
        int precision = (a.int8 ? CLI_ENC_INT8 : 0) | (a.fp32_query ? CLI_ENC_FP32_QUERY : 0);
        rg_status r = cli_open_encoder(cli, a.model, precision, 0, &enc, model_name, &err);
        if (r && (r != RG_ENOTFOUND || need_dense || a.model)) return cli_fail_err(&err);
        /* Queries run one at a time, as a user's do (rg_encoder_embed_query
         * puts a short one on one thread, a long one on all). */
        if (enc && cli_open_encoder(cli, a.model, precision, 0, &qenc, model_name, &err)) {
            rg_encoder_close(enc);
            return cli_fail_err(&err);
        }
    }
    rg_search_request tmpl = rg_search_default_request("");
    tmpl.fusion = a.fusion;
    tmpl.depth = a.depth;
    if (a.mode)
        rg_search_mode_parse(a.mode, &tmpl.mode);
    else
        tmpl.mode = enc ? RG_SEARCH_HYBRID : RG_SEARCH_LEXICAL;

    rg_cli c = *cli;
    int throwaway = !cli->data_explicit;
    if (throwaway) {
        if (!mkdtemp(tmpdir)) {
            rg_encoder_close(enc);
            rg_encoder_close(qenc);
            return cli_fail("cannot create a temporary directory: %s", strerror(errno));
        }
        c.data_dir = tmpdir;
    }
    dataset d;
    memset(&d, 0, sizeof d);
    eval_result r;
    memset(&r, 0, sizeof r);
    r.mode = tmpl.mode;
    rg_store *s = NULL;
    rg_dense *dense = NULL;
    rg_search *q = NULL;
    doc_map m;
    memset(&m, 0, sizeof m);
    FILE *run = NULL;
    int status = 0;
    char coll_name[RG_COLLECTION_NAME_MAX + 8];
    collection_name(a.dir, coll_name, sizeof coll_name);
    if (a.holdout) strncat(coll_name, "-holdout", sizeof coll_name - strlen(coll_name) - 1);
    tmpl.collection = coll_name;
    corpus_ctx cc = {.path = corpus, .chunk = rg_ingest_chunk_options(a.chunk, enc),
                     .b = rg_doc_builder_new(), .holdout = a.holdout};
    if (!cc.b) {
        status = cli_fail("out of memory");
        goto out;
    }
    if (each_line(queries, query_line, &d, &err) || each_line(qrels, qrel_line, &d, &err)) {
        status = cli_fail_err(&err);
        goto out;
    }
    qsort(d.qrels, d.n_qrels, sizeof *d.qrels, qrel_cmp);
    if (a.answers && stat(answers, &sb) == 0 && each_line(answers, answer_line, &d, &err)) {
        status = cli_fail_err(&err);
        goto out;
    }
    if (cli_open_store(&c, 1, &s, &err) || rg_store_collection(s, coll_name, 1, &cc.coll, &err)) {
        status = cli_fail_err(&err);
        goto out;
    }
    if (enc && tmpl.mode != RG_SEARCH_LEXICAL) {
        rg_dense_options dopt = {.model_name = model_name,
                                 .encoder = enc,
                                 .query_encoder = qenc,
                                 .query_prefix = rg_encoder_query_prompt(enc),
                                 .passage_prefix = rg_encoder_passage_prompt(enc)};
        if (rg_dense_open(s, c.data_dir, &dopt, &dense, &err) ||
            rg_dense_attach(dense, cc.coll, &err)) {
            status = cli_fail_err(&err);
            goto out;
        }
        cc.dense = dense;
    }
    cc.store = s;
    double t0 = cli_now();
    if (!cli->quiet && !cli->json) fprintf(stderr, "ingesting %s ...\n", corpus);
    if (each_line(corpus, corpus_line, &cc, &err) || (dense && rg_dense_save(dense, &err))) {
        status = cli_fail_err(&err);
        goto out;
    }
    r.ingest_s = cli_now() - t0;
    r.docs = cc.docs;
    rg_store_counts counts;
    if (rg_store_counts_get(s, cc.coll, &counts, &err) || doc_map_load(s, cc.coll, &m, &err) ||
        cli_search_open(s, dense, &q, &err)) {
        status = cli_fail_err(&err);
        goto out;
    }
    r.chunks = (size_t)counts.chunks;
    if (a.answers) {
        status = eval_answers(cli, &a, enc, dense, q, s, &d, tmpl.mode, &cc, &err);
        goto out;
    }
    if (a.sweep) {
        if (sweep(q, dense, &m, &d, &tmpl, cli->json, &err)) status = cli_fail_err(&err);
        goto out;
    }
    if (a.run_path && !(run = fopen(a.run_path, "w"))) {
        status = cli_fail("%s: %s", a.run_path, strerror(errno));
        goto out;
    }
    if (run_queries(q, &m, &d, &tmpl, run, &r, &err)) {
        status = cli_fail_err(&err);
        goto out;
    }
    if (run && fclose(run) != 0) {
        run = NULL;
        status = cli_fail("%s: %s", a.run_path, strerror(errno));
        goto out;
    }
    run = NULL;
    if (!r.judged) {
        status = cli_fail("%s: no query has judgments in qrels.tsv", a.dir);
        goto out;
    }
    print_result(cli, a.dir, &r);
out:
    if (run) fclose(run);
    rg_doc_builder_free(cc.b);
    rg_search_close(q);
    doc_map_free(&m);
    rg_dense_close(dense);
    rg_encoder_close(enc);
    rg_encoder_close(qenc);
    rg_store_close(s);
    dataset_free(&d);
    if (throwaway) remove_data_dir(tmpdir);
    return status;
}
