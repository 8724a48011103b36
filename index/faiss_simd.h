/*
 * faiss_simd.h — faster inner products inside FAISS flat and graph indexes.
 *
 * Debian's libfaiss is built for the x86-64 baseline, so the distance an
 * HNSW walk computes thousands of times per query, and the one a flat
 * index's exhaustive search computes for every vector, is its scalar
 * reference loop (fvec_inner_product_ref). rg_faiss_accelerate swaps the
 * flat storage under an HNSW index, or the flat index behind an IDMap
 * (inner-product metric), for a subclass of faiss::IndexFlat whose distance
 * computer and exhaustive search use AVX-512 or AVX2 + FMA when the CPU has
 * them (checked at run time; other CPUs keep FAISS's own code; a search
 * with an id selector keeps FAISS's own). The graph, the stored vectors and
 * the file format do not change: FAISS writes the subclass as a plain
 * IndexFlat, and a loaded index is swapped again.
 *
 * An HNSW index under an IDMap (ragd's "IDMap2,HNSW32") also gets its own
 * one-query graph walk: FAISS's, node for node, with each expanded node's
 * neighbour vectors prefetched before they are scored (the walk's cost is
 * waiting for vectors from memory). FAISS writes it as a plain
 * IndexHNSWFlat.
 */
#ifndef RG_FAISS_SIMD_H
#define RG_FAISS_SIMD_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * index is a FaissIndex* (faiss::Index*): HNSW or IDMap(2) over HNSW or
 * over Flat. Returns 1 when its storage now uses the fast distance, 0 when
 * it already did or nothing applies (another index kind, another metric, a
 * CPU without AVX2, storage it does not own).
 */
int rg_faiss_accelerate(void *index);

/* The instruction set the fast distance uses: "avx512", "avx2" or "none". */
const char *rg_faiss_simd_name(void);

/*
 * For tests: searches an index rg_faiss_accelerate gave the HNSW walk with
 * FAISS's own walk (the same distance), labels mapped through the IDMap as
 * a search maps them. 0, or -1 when the index has no such walk.
 */
int rg_faiss_search_faiss_walk(void *index, long n, const float *x, long k, float *distances,
                               int64_t *labels);

/* The inner product the fast distance computes, for tests (n floats). */
float rg_faiss_simd_dot(const float *a, const float *b, unsigned long n);

#ifdef __cplusplus
}
#endif

#endif
