// faiss_simd.cpp — see faiss_simd.h.
#include "index/faiss_simd.h"

#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <typeinfo>

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/impl/AuxIndexStructures.h>
#include <faiss/impl/DistanceComputer.h>
#include <faiss/impl/HNSW.h>
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

/* Most level-0 links a node may have for the walk below (HNSW32 has 64);
 * graphs with more are searched by FAISS's own walk. */
constexpr int WALK_LINKS_MAX = 512;
/* Cache lines of each neighbour's vector requested ahead of scoring it (a
 * 384-float vector is 24 lines; the hardware prefetcher streams the rest
 * once the first are in flight: 2, 4, 8 and 24 lines measured the same). */
constexpr size_t WALK_PREFETCH_LINES = 4;

/* This thread's visited table, one byte per vector of the largest index it
 * has walked, kept between searches (FAISS's walk allocates and clears
 * ntotal bytes per search); each search leaves it clear (advance). */
faiss::VisitedTable &visited_table(size_t n)
{
    thread_local std::unique_ptr<faiss::VisitedTable> vt;
    if (!vt || vt->visited.size() < n) vt.reset(new faiss::VisitedTable((int)n));
    return *vt;
}

/*
 * An IndexHNSWFlat over FastFlatIP storage whose one-query search walks the
 * graph as FAISS 1.7.3's does (IndexHNSW::search, HNSW::search with one
 * upper beam and a bounded queue, search_from_candidates): greedy descent
 * through the upper levels, then the best-first search of level 0 with
 * its relative-distance stop. Nodes are scored in the same order with the
 * same distance, so the hits are FAISS's to the bit. What differs: each
 * expanded node's unvisited neighbours are gathered first and their
 * vectors prefetched before any is scored, so the cache misses of one
 * expansion (a vector from memory per neighbour, at 100k x 384 floats far
 * beyond the caches) overlap instead of queueing one after another. Other
 * searches (several queries, search parameters, another metric or
 * storage) are FAISS's own.
 */
struct FastHNSW : faiss::IndexHNSWFlat {
    dot_fn dot;
    explicit FastHNSW(dot_fn f) : dot(f) {}

    void search(idx_t n, const float *x, idx_t k, float *distances, idx_t *labels,
                const faiss::SearchParameters *params = nullptr) const override
    {
        if (n != 1 || params || k <= 0 || !walkable()) {
            IndexHNSW::search(n, x, k, distances, labels, params);
            return;
        }
        walk(x, k, distances, labels);
    }

    bool walkable() const
    {
        return metric_type == faiss::METRIC_INNER_PRODUCT && !reconstruct_from_neighbors &&
               hnsw.upper_beam == 1 && hnsw.search_bounded_queue &&
               hnsw.nb_neighbors(0) <= WALK_LINKS_MAX && dynamic_cast<FastFlatIP *>(storage);
    }

    /* HNSW distances are "smaller is nearer": the negated inner product. */
    float dis(const float *q, const float *base, storage_idx_t v) const
    {
        return -dot(q, base + (size_t)v * (size_t)d, (size_t)d);
    }

    void walk(const float *q, idx_t k, float *D, idx_t *I) const
    {
        const faiss::HNSW &g = hnsw;
        const float *base = static_cast<const faiss::IndexFlat *>(storage)->get_xb();
        faiss::maxheap_heapify(k, D, I);
        if (g.entry_point >= 0) {
            storage_idx_t nearest = g.entry_point;
            float d_nearest = dis(q, base, nearest);
            for (int level = g.max_level; level >= 1; level--)
                greedy(q, base, level, nearest, d_nearest);
            faiss::HNSW::MinimaxHeap cand(std::max(g.efSearch, (int)k));
            cand.push(nearest, d_nearest);
            faiss::VisitedTable &vt = visited_table((size_t)ntotal);
            level0(q, base, k, D, I, cand, vt);
            vt.advance();
        }
        faiss::maxheap_reorder(k, D, I);
        for (idx_t i = 0; i < k; i++)
            D[i] = -D[i];
    }

    /* Moves to a nearer neighbour on this level until none is nearer. */
    void greedy(const float *q, const float *base, int level, storage_idx_t &nearest,
                float &d_nearest) const
    {
        for (;;) {
            storage_idx_t prev = nearest;
            size_t begin, end;
            hnsw.neighbor_range(nearest, level, &begin, &end);
            for (size_t i = begin; i < end && hnsw.neighbors[i] >= 0; i++)
                prefetch(base, hnsw.neighbors[i]);
            for (size_t i = begin; i < end; i++) {
                storage_idx_t v = hnsw.neighbors[i];
                if (v < 0) break;
                float dv = dis(q, base, v);
                if (dv < d_nearest) nearest = v, d_nearest = dv;
            }
            if (nearest == prev) return;
        }
    }

    void prefetch(const float *base, storage_idx_t v) const
    {
        const char *p = reinterpret_cast<const char *>(base + (size_t)v * (size_t)d);
        size_t lines = std::min(WALK_PREFETCH_LINES, ((size_t)d * sizeof(float) + 63) / 64);
        for (size_t l = 0; l < lines; l++)
            _mm_prefetch(p + 64 * l, _MM_HINT_T0);
    }

    static void keep(idx_t k, float *D, idx_t *I, int &nres, float dv, idx_t v)
    {
        if (nres < k)
            faiss::maxheap_push(++nres, D, I, dv, v);
        else if (dv < D[0])
            faiss::maxheap_replace_top(nres, D, I, dv, v);
    }

    void level0(const float *q, const float *base, idx_t k, float *D, idx_t *I,
                faiss::HNSW::MinimaxHeap &cand, faiss::VisitedTable &vt) const
    {
        int nres = 0;
        for (int i = 0; i < cand.size(); i++) {
            keep(k, D, I, nres, cand.dis[i], cand.ids[i]);
            vt.set(cand.ids[i]);
        }
        storage_idx_t fresh[WALK_LINKS_MAX];
        int nstep = 0;
        while (cand.size() > 0) {
            float d0 = 0;
            storage_idx_t v0 = cand.pop_min(&d0);
            if (hnsw.check_relative_distance && cand.count_below(d0) >= hnsw.efSearch) break;
            size_t begin, end, m = 0;
            hnsw.neighbor_range(v0, 0, &begin, &end);
            for (size_t j = begin; j < end; j++) {
                storage_idx_t v1 = hnsw.neighbors[j];
                if (v1 < 0) break;
                if (vt.get(v1)) continue;
                vt.set(v1);
                fresh[m++] = v1;
                prefetch(base, v1);
            }
            for (size_t i = 0; i < m; i++) {
                float dv = dis(q, base, fresh[i]);
                keep(k, D, I, nres, dv, fresh[i]);
                cand.push(fresh[i], dv);
            }
            nstep++;
            if (!hnsw.check_relative_distance && nstep > hnsw.efSearch) break;
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

/* A FastHNSW holding h's graph and storage in place of h (deleted). */
faiss::IndexHNSW *swap_hnsw(faiss::IndexHNSW *h, dot_fn f)
{
    FastHNSW *fast = new FastHNSW(f);
    fast->d = h->d;
    fast->ntotal = h->ntotal;
    fast->verbose = h->verbose;
    fast->is_trained = h->is_trained;
    fast->metric_type = h->metric_type;
    fast->metric_arg = h->metric_arg;
    fast->hnsw = std::move(h->hnsw);
    fast->storage = h->storage;
    fast->own_fields = h->own_fields;
    fast->reconstruct_from_neighbors = h->reconstruct_from_neighbors;
    h->storage = nullptr;
    h->own_fields = false;
    h->reconstruct_from_neighbors = nullptr;
    delete h;
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
    auto *m = dynamic_cast<faiss::IndexIDMap *>(ix);
    if (m) {
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
    /* under an IDMap that owns it (so may replace it): the walk too */
    if (m && m->own_fields && typeid(*h) == typeid(faiss::IndexHNSWFlat))
        m->index = swap_hnsw(h, f);
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

extern "C" int rg_faiss_search_faiss_walk(void *index, long n, const float *x, long k,
                                          float *distances, int64_t *labels)
{
    auto *m = dynamic_cast<faiss::IndexIDMap *>(static_cast<faiss::Index *>(index));
    auto *fast = m ? dynamic_cast<FastHNSW *>(m->index) : nullptr;
    if (!fast || n <= 0 || k <= 0) return -1;
    try {
        fast->IndexHNSW::search(n, x, k, distances, labels);
    } catch (...) {
        return -1;
    }
    for (long i = 0; i < n * k; i++)
        if (labels[i] >= 0) labels[i] = m->id_map[(size_t)labels[i]];
    return 0;
}
