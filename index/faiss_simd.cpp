// faiss_simd.cpp — see faiss_simd.h.
#include "index/faiss_simd.h"

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/impl/DistanceComputer.h>
#include <faiss/utils/Heap.h>
#include <faiss/utils/distances.h>

namespace
{

typedef float (*dot_fn)(const float *, const float *, size_t);

__attribute__((target("avx512f"))) float dot_avx512(const float *a, const float *b, size_t n)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    }
    for (; i + 16 <= n; i += 16)
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s1);
    }
    /* Summed by hand: GCC 12's _mm512_reduce_add_ps trips -Wuninitialized. */
    alignas(64) float lane[16];
    _mm512_store_ps(lane, _mm512_add_ps(s0, s1));
    float r = 0;
    for (int k = 0; k < 16; k++)
        r += lane[k];
    return r;
}

__attribute__((target("avx2,fma"))) float dot_avx2(const float *a, const float *b, size_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    __m256 s = _mm256_add_ps(s0, s1);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
    float r = _mm_cvtss_f32(h);
    for (; i < n; i++)
        r += a[i] * b[i];
    return r;
}

/* The best kernel this CPU runs, chosen once; NULL: keep FAISS's own. */
dot_fn pick()
{
    static const dot_fn chosen = [] {
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f")) return dot_avx512;
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return dot_avx2;
        return (dot_fn) nullptr;
    }();
    return chosen;
}

struct FastIPDis : faiss::FlatCodesDistanceComputer {
    size_t d;
    const float *base;
    const float *q = nullptr;
    dot_fn dot;

    FastIPDis(const faiss::IndexFlat &s, dot_fn f)
        : FlatCodesDistanceComputer(s.codes.data(), s.code_size), d((size_t)s.d),
          base(reinterpret_cast<const float *>(s.codes.data())), dot(f)
    {
    }
    void set_query(const float *x) override
    {
        q = x;
    }
    float distance_to_code(const uint8_t *code) override
    {
        return dot(q, reinterpret_cast<const float *>(code), d);
    }
    float symmetric_dis(idx_t i, idx_t j) override
    {
        return dot(base + i * d, base + j * d, d);
    }
};

/* An IndexFlatIP whose distance computer (what HNSW walks use) is
 * FastIPDis, and whose exhaustive search (a flat collection's) runs the
 * same dot product into a heap of the k best; with an id selector, FAISS's
 * own search. */
struct FastFlatIP : faiss::IndexFlat {
    dot_fn dot;
    FastFlatIP(idx_t d, dot_fn f) : IndexFlat(d, faiss::METRIC_INNER_PRODUCT), dot(f) {}
    faiss::FlatCodesDistanceComputer *get_FlatCodesDistanceComputer() const override
    {
        return new FastIPDis(*this, dot);
    }
    void search(idx_t n, const float *x, idx_t k, float *distances, idx_t *labels,
                const faiss::SearchParameters *params = nullptr) const override
    {
        if ((params && params->sel) || k <= 0) {
            IndexFlat::search(n, x, k, distances, labels, params);
            return;
        }
        const float *base = get_xb();
        size_t dim = (size_t)d;
        for (idx_t q = 0; q < n; q++) {
            float *hv = distances + q * k;
            idx_t *hi = labels + q * k;
            const float *xq = x + q * dim;
            faiss::minheap_heapify(k, hv, hi); /* -inf / -1: what FAISS leaves past ntotal */
            for (idx_t i = 0; i < ntotal; i++) {
                float v = dot(xq, base + i * dim, dim);
                if (v > hv[0]) faiss::minheap_replace_top(k, hv, hi, v, i);
            }
            faiss::minheap_reorder(k, hv, hi);
        }
    }
};

/* A FastFlatIP holding flat's vectors in place of flat (deleted). */
faiss::IndexFlat *swap_flat(faiss::IndexFlat *flat, dot_fn f)
{
    FastFlatIP *fast = new FastFlatIP(flat->d, f);
    fast->codes.swap(flat->codes);
    fast->ntotal = flat->ntotal;
    fast->is_trained = flat->is_trained;
    fast->verbose = flat->verbose;
    delete flat;
    return fast;
}

/* flat, when it is a plain inner-product IndexFlat that can be swapped. */
faiss::IndexFlat *swappable(faiss::Index *ix)
{
    auto *flat = dynamic_cast<faiss::IndexFlat *>(ix);
    if (!flat || dynamic_cast<FastFlatIP *>(flat) ||
        flat->metric_type != faiss::METRIC_INNER_PRODUCT)
        return nullptr;
    return flat;
}

} // namespace

extern "C" int rg_faiss_accelerate(void *index)
{
    dot_fn f = pick();
    faiss::Index *ix = static_cast<faiss::Index *>(index);
    if (!f || !ix) return 0;
    /* IndexIDMap2 derives from IndexIDMap */
    if (auto *m = dynamic_cast<faiss::IndexIDMap *>(ix)) {
        faiss::IndexFlat *flat = m->own_fields ? swappable(m->index) : nullptr;
        if (flat) {
            m->index = swap_flat(flat, f);
            return 1;
        }
        ix = m->index;
    }
    auto *h = dynamic_cast<faiss::IndexHNSW *>(ix);
    faiss::IndexFlat *flat = h && h->own_fields ? swappable(h->storage) : nullptr;
    if (!flat) return 0;
    h->storage = swap_flat(flat, f);
    return 1;
}

extern "C" const char *rg_faiss_simd_name(void)
{
    dot_fn f = pick();
    return f == dot_avx512 ? "avx512" : f == dot_avx2 ? "avx2" : "none";
}

extern "C" float rg_faiss_simd_dot(const float *a, const float *b, unsigned long n)
{
    dot_fn f = pick();
    return f ? f(a, b, n) : faiss::fvec_inner_product(a, b, n);
}
