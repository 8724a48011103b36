/*
 * metrics.h — retrieval quality measures, as trec_eval and ir-measures
 * define them, for `ragd eval`.
 *
 * A query's judgments are (doc id, grade) pairs; grade > 0 is relevant.
 * nDCG uses the grade as the gain (trec_eval's ndcg_cut), discount
 * 1/log2(rank + 1), and the ideal ranking of all judged documents.
 */
#ifndef RG_METRICS_H
#define RG_METRICS_H

#include <stddef.h>

typedef struct rg_judgment {
    const char *doc_id;
    int grade;
} rg_judgment;

/* ranked[0..n) is the system's ranking, best first, without duplicates. */
double rg_ndcg_at(const char *const *ranked, size_t n, const rg_judgment *judged, size_t n_judged,
                  size_t k);
double rg_recall_at(const char *const *ranked, size_t n, const rg_judgment *judged,
                    size_t n_judged, size_t k);
/* Reciprocal rank of the first relevant document within the first k, else 0. */
double rg_rr_at(const char *const *ranked, size_t n, const rg_judgment *judged, size_t n_judged,
                size_t k);

/* The q-quantile (0..1) of values[0..n) by the nearest-rank method; sorts values. */
double rg_quantile(double *values, size_t n, double q);

#endif
