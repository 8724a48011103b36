#include "index/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/base/mem.h"

static int grade_of(const char *doc, const rg_judgment *j, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(j[i].doc_id, doc) == 0) return j[i].grade;
    return 0;
}

static int grade_desc(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (y > x) - (y < x);
}

double rg_ndcg_at(const char *const *ranked, size_t n, const rg_judgment *judged, size_t n_judged,
                  size_t k)
{
    double dcg = 0, idcg = 0;
    for (size_t i = 0; i < n && i < k; i++) {
        int g = grade_of(ranked[i], judged, n_judged);
        if (g > 0) dcg += g / log2((double)i + 2);
    }
    int *grades = rg_malloc((n_judged ? n_judged : 1) * sizeof *grades);
    if (!grades) return NAN;
    for (size_t i = 0; i < n_judged; i++)
        grades[i] = judged[i].grade;
    qsort(grades, n_judged, sizeof *grades, grade_desc);
    for (size_t i = 0; i < n_judged && i < k && grades[i] > 0; i++)
        idcg += grades[i] / log2((double)i + 2);
    rg_free(grades);
    return idcg > 0 ? dcg / idcg : 0;
}

double rg_recall_at(const char *const *ranked, size_t n, const rg_judgment *judged, size_t n_judged,
                    size_t k)
{
    size_t relevant = 0, found = 0;
    for (size_t i = 0; i < n_judged; i++)
        relevant += judged[i].grade > 0;
    if (!relevant) return 0;
    for (size_t i = 0; i < n && i < k; i++)
        found += grade_of(ranked[i], judged, n_judged) > 0;
    return (double)found / (double)relevant;
}

double rg_rr_at(const char *const *ranked, size_t n, const rg_judgment *judged, size_t n_judged,
                size_t k)
{
    for (size_t i = 0; i < n && i < k; i++)
        if (grade_of(ranked[i], judged, n_judged) > 0) return 1.0 / (double)(i + 1);
    return 0;
}

static int double_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double rg_quantile(double *values, size_t n, double q)
{
    if (n == 0) return 0;
    qsort(values, n, sizeof *values, double_cmp);
    size_t rank = (size_t)ceil(q * (double)n);
    if (rank < 1) rank = 1;
    if (rank > n) rank = n;
    return values[rank - 1];
}
