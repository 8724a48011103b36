/*
 * eval.h — inside `ragd eval`: the dataset it reads (BEIR layout, with
 * answers.jsonl for --answers) and what cmd_eval.c (retrieval) and
 * cmd_eval_answers.c (--answers) share. Not a public header.
 */
#ifndef RG_API_EVAL_H
#define RG_API_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "api/cli_util.h"
#include "engine/base/status.h"
#include "index/dense.h"
#include "index/fusion.h"
#include "index/search.h"
#include "index/store.h"
#include "ingest/pipeline.h"

/* Longest line read from a dataset file. */
#define EVAL_LINE_MAX (16u << 20)
/* Documents ranked per query (Recall@100 needs 100). */
#define EVAL_DOCS 100
/* Chunks fetched per query to fill EVAL_DOCS documents. */
#define EVAL_CHUNKS 400

/* Gold answers kept per question, and the longest one (bytes). */
#define EVAL_ANSWERS_MAX  16
#define EVAL_ANSWER_BYTES 1024
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

typedef struct corpus_ctx {
    rg_store *store;
    int64_t coll;
    const char *collection; /* its name: what answers are retrieved from */
    const char *path;
    rg_chunk_options chunk;
    rg_dense *dense; /* NULL: lexical only */
    size_t docs, chunks, added, held_out;
    int holdout; /* leave out the documents held_out_doc() names */
    rg_doc_builder *b;
} corpus_ctx;

typedef struct eval_args {
    const char *dir, *run_path, *model, *mode;
    int sweep;
    size_t depth; /* --depth: chunks a query asks for, and candidates per leg */
    int int8;
    int fp32_query;
    int answers, holdout;     /* --answers, --holdout */
    const char *unanswerable; /* --unanswerable DIR: ask its questions too */
    size_t limit;             /* --limit: questions answered (0: all) */
    cli_llm llm;              /* --llm ...: the answers' generator (url NULL: extractive) */
    rg_chunk_options chunk;
    rg_fusion_options fusion;
} eval_args;

/* Frees what the dataset's readers filled. */
void eval_dataset_free(dataset *d);
/* Calls fn for each non-empty line of path (without the newline); lines
 * over EVAL_LINE_MAX bytes are an error. */
rg_status eval_each_line(const char *path,
                         rg_status (*fn)(void *, char *, size_t, size_t, rg_error *), void *ctx,
                         rg_error *err);
/* The BEIR "_id" (or "id") of o, string or number, into out; 0 if none fits. */
int eval_json_id(const cJSON *o, char *out, size_t cap);
/* queries.jsonl line -> a query of the dataset vctx. */
rg_status eval_query_line(void *vctx, char *line, size_t n, size_t lineno, rg_error *err);
/* answers.jsonl line -> the gold answers of a query of the dataset vctx. */
rg_status eval_answer_line(void *vctx, char *line, size_t n, size_t lineno, rg_error *err);
/* Grows *arr (room for *cap items of size bytes) to hold more than n,
 * doubling; 0 out of memory. */
int eval_grow(void **arr, size_t *cap, size_t n, size_t size);
/* The string member key of o, or NULL. */
const char *eval_json_str(const cJSON *o, const char *key);
/* qrels.tsv line: query-id, corpus-id, score (or the four TREC columns);
 * a first line without a number is the header and is skipped. */
rg_status eval_qrel_line(void *vctx, char *line, size_t n, size_t lineno, rg_error *err);
/* Sorts the judgments by query id, as eval_qrels_of needs. */
void eval_sort_qrels(dataset *d);
/* The judgments of query qid (*n of them), or NULL. */
const qrel *eval_qrels_of(const dataset *d, const char *qid, size_t *n);
/* --holdout: 1 for the documents left out of the collection. */
int eval_held_out_doc(const char *id);
/* --answers: answers d's judged questions (and --unanswerable's) and prints
 * the measures; returns the command's exit status. */
int eval_answers(const rg_cli *cli, const eval_args *a, rg_encoder *enc, rg_dense *dense,
                 rg_search *q, rg_store *s, const dataset *d, rg_search_mode mode,
                 const corpus_ctx *cc, rg_error *err);

#endif
