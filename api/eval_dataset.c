/*
 * eval_dataset.c — reading a dataset in the BEIR layout for `ragd eval`:
 * queries.jsonl, qrels.tsv (judgments, sorted by query for lookup) and the
 * optional answers.jsonl (gold answer strings, NFKC-normalised as stored
 * text is). corpus.jsonl is ingested by cmd_eval.c itself.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "api/eval.h"
#include "engine/base/buf.h"
#include "engine/base/mem.h"
#include "ingest/normalize.h"

void eval_dataset_free(dataset *d)
{
    for (size_t i = 0; i < d->n_queries; i++) {
        query *q = &d->queries[i];
        for (size_t j = 0; j < q->n_answers; j++)
            rg_free(q->answers[j]);
        rg_free(q->answers), rg_free(q->id), rg_free(q->text);
    }
    for (size_t i = 0; i < d->n_qrels; i++)
        rg_free(d->qrels[i].qid), rg_free(d->qrels[i].doc);
    rg_free(d->queries);
    rg_free(d->qrels);
}

int eval_grow(void **arr, size_t *cap, size_t n, size_t size)
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
rg_status eval_each_line(const char *path,
                         rg_status (*fn)(void *, char *, size_t, size_t, rg_error *), void *ctx,
                         rg_error *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return rg_fail(err, errno == ENOENT ? RG_ENOTFOUND : RG_EIO, "%s: %s", path,
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
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n) st = fn(ctx, line, (size_t)n, lineno, err);
    }
    free(line); /* getline allocates with malloc */
    fclose(f);
    return st;
}

const char *eval_json_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsString(v)) return v->valuestring;
    return NULL;
}

/* The BEIR "id" field is a string, but some conversions write numbers. */
int eval_json_id(const cJSON *o, char *out, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "_id");
    if (!v) v = cJSON_GetObjectItemCaseSensitive(o, "id");
    if (cJSON_IsString(v)) return snprintf(out, cap, "%s", v->valuestring) < (int)cap;
    if (cJSON_IsNumber(v)) return snprintf(out, cap, "%.0f", v->valuedouble) < (int)cap;
    return 0;
}

/* --holdout: the documents left out of the collection, about half, chosen
 * by a hash of the id (FNV-1a) so every run leaves out the same ones. */
int eval_held_out_doc(const char *id)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 16777619u;
    return (h >> 7) & 1;
}

rg_status eval_query_line(void *vctx, char *line, size_t n, size_t lineno, rg_error *err)
{
    dataset *d = vctx;
    static size_t cap;
    if (d->n_queries == 0) cap = 0;
    cJSON *o = cJSON_ParseWithLength(line, n);
    char id[512];
    const char *text = o ? eval_json_str(o, "text") : NULL;
    rg_status st = RG_OK;
    if (!o || !eval_json_id(o, id, sizeof id) || !text) {
        st = rg_fail(err, RG_EPARSE, "queries.jsonl:%zu: not a JSON object with id and text",
                     lineno);
    } else if (!eval_grow((void **)&d->queries, &cap, d->n_queries, sizeof *d->queries)) {
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

rg_status eval_qrel_line(void *vctx, char *line, size_t n, size_t lineno, rg_error *err)
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
    if (!eval_grow((void **)&d->qrels, &cap, d->n_qrels, sizeof *d->qrels))
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
const qrel *eval_qrels_of(const dataset *d, const char *qid, size_t *n)
{
    size_t lo = 0, hi = d->n_qrels;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (strcmp(d->qrels[mid].qid, qid) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t e = lo;
    while (e < d->n_qrels && strcmp(d->qrels[e].qid, qid) == 0)
        e++;
    *n = e - lo;
    return d->qrels + lo;
}

/* Chunk id -> document source (the BEIR doc id), loaded once. */
/* answers.jsonl: {"id": query id, "answers": [strings]}; ids not among the queries are ignored. */
rg_status eval_answer_line(void *vctx, char *line, size_t n, size_t lineno, rg_error *err)
{
    dataset *d = vctx;
    cJSON *o = cJSON_ParseWithLength(line, n);
    char id[512];
    const cJSON *arr = o ? cJSON_GetObjectItemCaseSensitive(o, "answers") : NULL;
    rg_status st = RG_OK;
    if (!o || !eval_json_id(o, id, sizeof id) || !cJSON_IsArray(arr)) {
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

void eval_sort_qrels(dataset *d)
{
    qsort(d->qrels, d->n_qrels, sizeof *d->qrels, qrel_cmp);
}
