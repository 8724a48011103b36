/*
 * cmd_eval_answers.c — `ragd eval --answers`: the dataset's judged
 * questions answered through rg_answer_question (the extractive generator,
 * or an LLM with the extractive one as fallback), scored against the gold
 * answers of answers.jsonl (in the stored text's NFKC form): the share of
 * answers holding a gold string, citation precision, refusal rates (with
 * --holdout or --unanswerable, the trade-off over refusal thresholds) and
 * ragd's own time per answer.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "api/cli_util.h"
#include "api/eval.h"
#include "engine/base/buf.h"
#include "engine/base/mem.h"
#include "engine/rag/answer.h"
#include "engine/rag/extractive.h"
#include "index/metrics.h"
#include "ingest/normalize.h"

/* Thresholds the refusal trade-off table prints, per signal. */
static const double similarity_grid[] = {0.10, 0.15, 0.20, 0.25, 0.30, 0.35, 0.40, 0.45, 0.50};
static const double coverage_grid[] = {0.02, 0.04, 0.06, 0.08, 0.10, 0.12, 0.15, 0.20, 0.25, 0.30};

static int has_gold(const query *q, const char *text)
{
    for (size_t i = 0; text && i < q->n_answers; i++)
        if (strstr(text, q->answers[i])) return 1;
    return 0;
}

typedef struct answer_record {
    int answerable; /* a judged document is in the collection */
    int refused;
    int signal; /* 0 none, 1 similarity, 2 coverage */
    double relevance;
} answer_record;

typedef struct answer_result {
    size_t asked, answerable, unanswerable, with_gold;
    size_t fallbacks;                 /* answers the extractive generator gave for a failed LLM */
    size_t gold_hits;                 /* answerable answers holding a gold string */
    size_t citations, citations_gold; /* citations; those whose chunk holds a gold string */
    size_t refused_answerable, refused_unanswerable;
    size_t cap; /* records rec has room for */
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
        const qrel *qr = foreign ? NULL : eval_qrels_of(d, qu->id, &nj);
        if (!nj && !foreign) continue;
        int answerable = !holdout && !foreign;
        for (size_t j = 0; j < nj && !answerable; j++)
            if (qr[j].grade > 0 && !eval_held_out_doc(qr[j].doc)) answerable = 1;
        rg_answer ans = {0};
        if ((st = rg_answer_question(q, s, gen, qu->text, ao, &ans, err))) break;
        answer_record *rec = &r->rec[r->asked];
        *rec = (answer_record){answerable, ans.refused,
                               !strcmp(ans.relevance_signal, "similarity") ? 1
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
        if (x->answerable)
            a++, ra += (size_t)refused;
        else
            u++, ru += (size_t)refused;
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
    for (size_t i = 0; i < r->asked; i++)
        per_sig[r->rec[i].signal]++;
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
        cJSON_AddNumberToObject(o, "refused_unanswerable",
                                share(r->refused_unanswerable, r->unanswerable));
        cJSON_AddNumberToObject(o, "refused_answerable",
                                share(r->refused_answerable, r->answerable));
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
           "p99 %.2f ms\n",
           r->p50_retrieve, r->p50_generate, r->p50_overhead, r->p99_overhead);
    for (int sig = 1; sig <= 2; sig++) {
        if (!per_sig[sig] || !r->unanswerable) continue;
        printf("trade-off   %s (%zu questions): threshold, refused unanswerable, refused "
               "answerable\n",
               names[sig], per_sig[sig]);
        for (size_t g = 0; g < sizes[sig]; g++) {
            double u, a;
            tradeoff_at(r, sig, grids[sig][g], &u, &a);
            printf("            %.2f  %.4f  %.4f\n", grids[sig][g], u, a);
        }
    }
}

int eval_answers(const rg_cli *cli, const eval_args *a, rg_encoder *enc, rg_dense *dense,
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
    /* the dataset's collection only: others in the data directory (the whole
     * corpus next to its --holdout half) must not answer for it */
    ao.collection = cc->collection;
    if (a->llm.url) ao.fallback = &gen;
    cli_llm_prompt(&a->llm, &ao.prompt);
    answer_result r = {0};
    if (!cli->quiet && !cli->json)
        fprintf(stderr, "answering (%zu documents in the collection, %zu held out) ...\n", cc->docs,
                cc->held_out);
    int status = 0;
    dataset other = {0};
    r.cap = d->n_queries;
    if (a->unanswerable) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/queries.jsonl", a->unanswerable);
        if (eval_each_line(path, eval_query_line, &other, err)) status = cli_fail_err(err);
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
    eval_dataset_free(&other);
    rg_free(r.rec);
    cli_llm_close(&llm);
    rg_generator_close(&gen);
    return status;
}
