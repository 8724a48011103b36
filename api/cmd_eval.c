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
#include "api/eval.h"
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

static rg_status corpus_line(void *vctx, char *line, size_t n, size_t lineno, rg_error *err)
{
    corpus_ctx *c = vctx;
    cJSON *o = cJSON_ParseWithLength(line, n);
    char id[512];
    rg_status st = RG_OK;
    if (!o || !eval_json_id(o, id, sizeof id)) {
        st = rg_fail(err, RG_EPARSE, "%s:%zu: not a JSON object with an id", c->path, lineno);
        goto out;
    }
    if (c->holdout && eval_held_out_doc(id)) {
        c->held_out++;
        goto out;
    }
    const char *title = eval_json_str(o, "title"), *text = eval_json_str(o, "text");
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
    const qrel *qr = eval_qrels_of(d, qid, nj);
    while (*cap < *nj)
        if (!eval_grow((void **)buf, cap, *cap, sizeof **buf))
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
        eval_qrels_of(d, d->queries[i].id, &nj);
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
         "counts fewer documents). Passages and queries are embedded with int8\n"
         "weights where the CPU has VNNI (the global --fp32: fp32 weights, exact);\n"
         "--fp32-query embeds queries in fp32; --int8 embeds both with int8 weights\n"
         "but the FFN-down layer in fp32 (where the CPU has VNNI, else fp32). Use a\n"
         "fresh data directory to compare:\n"
         "vectors are not re-made.\n\n"
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
            a->chunk.lexical_target_tokens = a->chunk.target_tokens; /* one size for all text */
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
    int lexical = a.mode && !need_dense;
    /* In lexical mode too: the model's tokenizer cuts the chunks, as in a
     * store bound to it (ingest_doc.c), so every mode sees the same chunks;
     * nothing is embedded. */
    int precision = (a.int8 ? CLI_ENC_INT8 : 0) | (a.fp32_query ? CLI_ENC_FP32_QUERY : 0);
    rg_status opened = cli_open_encoder(cli, a.model, precision, 0, &enc, model_name, &err);
    if (opened && (opened != RG_ENOTFOUND || need_dense || a.model)) return cli_fail_err(&err);
    /* Queries run one at a time, as a user's do (rg_encoder_embed_query puts
     * a short one on one thread, a long one on all). */
    if (enc && !lexical && cli_open_encoder(cli, a.model, precision, 0, &qenc, model_name, &err)) {
        rg_encoder_close(enc);
        return cli_fail_err(&err);
    }
    if (enc && a.int8 && !rg_encoder_int8(enc))
        fprintf(stderr, "eval: int8 weights do not run natively on this CPU (no VNNI); fp32\n");
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
    corpus_ctx cc = {.collection = coll_name,
                     .path = corpus,
                     .chunk = rg_ingest_chunk_options(a.chunk, enc),
                     .b = rg_doc_builder_new(),
                     .holdout = a.holdout};
    if (!cc.b) {
        status = cli_fail("out of memory");
        goto out;
    }
    if (eval_each_line(queries, eval_query_line, &d, &err) ||
        eval_each_line(qrels, eval_qrel_line, &d, &err)) {
        status = cli_fail_err(&err);
        goto out;
    }
    eval_sort_qrels(&d);
    if (a.answers && stat(answers, &sb) == 0 &&
        eval_each_line(answers, eval_answer_line, &d, &err)) {
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
    if (eval_each_line(corpus, corpus_line, &cc, &err) || (dense && rg_dense_save(dense, &err))) {
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
        status = eval_answers(cli, &a, lexical ? NULL : enc, dense, q, s, &d, tmpl.mode, &cc, &err);
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
    eval_dataset_free(&d);
    if (throwaway) remove_data_dir(tmpdir);
    return status;
}
