/*
 * test_vectors.c — index/vectors: FAISS (Flat, HNSW, IVF) held against the
 * brute-force reference on random unit vectors; removal, filters, files
 * (round trip, atomic replace, damage), compaction, fault injection.
 * RG_VEC_BENCH=1 also times 100k×384 searches (see bench_latency).
 */
#include "test.h"

#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <faiss/c_api/AutoTune_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/impl/AuxIndexStructures_c.h>
#include <faiss/c_api/index_io_c.h>

#include "engine/base/mem.h"
#include "index/faiss_simd.h"
#include "index/vectors.h"

static char tmpdir[] = "/tmp/rg_vec_test_XXXXXX";

/* ---- data ---- */

static uint64_t rng_state = 0x243F6A8885A308D3ull;

static double uniform(void)
{
    rng_state ^= rng_state << 13; /* xorshift64: reproducible across runs */
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* n unit vectors: Gaussian entries (Box-Muller), normalised. */
static float *random_unit(size_t n, int dim)
{
    float *x = malloc(n * (size_t)dim * sizeof *x);
    for (size_t i = 0; i < n; i++) {
        double norm = 0;
        float *r = x + i * (size_t)dim;
        for (int j = 0; j < dim; j++) {
            double u = uniform() + 1e-12, v = uniform();
            r[j] = (float)(sqrt(-2 * log(u)) * cos(6.283185307179586 * v));
            norm += (double)r[j] * r[j];
        }
        for (int j = 0; j < dim; j++)
            r[j] = (float)(r[j] / sqrt(norm));
    }
    return x;
}

/* Ids are spread out and large, as chunk ids after many deletes would be. */
static int64_t id_of(size_t i)
{
    return (int64_t)i * 7919 + 1000000007ll;
}

static int64_t *make_ids(size_t n)
{
    int64_t *ids = malloc(n * sizeof *ids);
    for (size_t i = 0; i < n; i++)
        ids[i] = id_of(i);
    return ids;
}

static rg_vectors *open_index(const rg_vectors_methods *backend, const char *factory, int dim,
                              int ef)
{
    rg_vectors_options o = rg_vectors_default_options();
    o.backend = backend;
    o.dim = dim;
    o.factory = factory;
    o.ef_search = ef;
    o.model = "test-model";
    rg_vectors *v = NULL;
    rg_error err = {0};
    if (rg_vectors_open(&o, &v, &err) != RG_OK)
        fprintf(stderr, "open %s: %s\n", factory ? factory : "(default)", err.msg);
    return v;
}

static rg_vectors *filled(const rg_vectors_methods *backend, const char *factory, const float *x,
                          const int64_t *ids, size_t n, int dim, int ef)
{
    rg_vectors *v = open_index(backend, factory, dim, ef);
    rg_error err = {0};
    if (v && rg_vectors_add(v, n, x, ids, &err) != RG_OK) {
        fprintf(stderr, "add: %s\n", err.msg);
        rg_vectors_close(v);
        return NULL;
    }
    return v;
}

static size_t search(const rg_vectors *v, const float *q, size_t k, rg_vec_filter f, void *fctx,
                     rg_vec_hit *hits)
{
    size_t n = 0;
    rg_error err = {0};
    if (rg_vectors_search(v, q, k, f, fctx, hits, &n, &err) != RG_OK)
        fprintf(stderr, "search: %s\n", err.msg);
    return n;
}

/* ---- FAISS against the reference ---- */

/* Same ids in the same order, except where two neighbours' scores are
 * within float rounding (FAISS sums in another order). */
static int same_ranking(const rg_vec_hit *a, size_t na, const rg_vec_hit *b, size_t nb)
{
    if (na != nb) return 0;
    for (size_t i = 0; i < na; i++) {
        if (fabsf(a[i].score - b[i].score) > 1e-4f) return 0;
        if (a[i].id != b[i].id && fabsf(a[i].score - b[i].score) > 1e-5f) return 0;
    }
    return 1;
}

static void test_flat_matches_brute(void)
{
    enum { N = 3000, DIM = 64, Q = 40, K = 10 };
    float *x = random_unit(N, DIM), *q = random_unit(Q, DIM);
    int64_t *ids = make_ids(N);
    rg_vectors *f = filled(&rg_vectors_faiss, "Flat", x, ids, N, DIM, 0);
    rg_vectors *b = filled(&rg_vectors_brute, NULL, x, ids, N, DIM, 0);
    REQUIRE(f && b);
    CHECK_STR(rg_vectors_factory(f), "IDMap2,Flat");
    CHECK_INT(rg_vectors_count(f), N);
    int same = 0;
    for (int i = 0; i < Q; i++) {
        rg_vec_hit hf[K], hb[K];
        size_t nf = search(f, q + i * DIM, K, NULL, NULL, hf);
        size_t nb = search(b, q + i * DIM, K, NULL, NULL, hb);
        same += same_ranking(hf, nf, hb, nb);
        CHECK(hb[0].score >= hb[K - 1].score); /* best first */
    }
    CHECK_INT(same, Q);
    rg_vectors_close(f);
    rg_vectors_close(b);
    free(x);
    free(q);
    free(ids);
}

static double recall_at(const rg_vectors *v, const rg_vectors *ref, const float *q, int nq, int dim,
                        size_t k)
{
    size_t found = 0;
    rg_vec_hit *a = malloc(k * sizeof *a), *b = malloc(k * sizeof *b);
    for (int i = 0; i < nq; i++) {
        size_t na = search(v, q + (size_t)i * dim, k, NULL, NULL, a);
        size_t nb = search(ref, q + (size_t)i * dim, k, NULL, NULL, b);
        for (size_t r = 0; r < nb; r++)
            for (size_t s = 0; s < na; s++)
                found += a[s].id == b[r].id;
    }
    free(a);
    free(b);
    return (double)found / ((double)nq * (double)k);
}

static void test_hnsw_recall(void)
{
    enum { N = 8000, DIM = 64, Q = 100, K = 10 };
    float *x = random_unit(N, DIM), *q = random_unit(Q, DIM);
    int64_t *ids = make_ids(N);
    rg_vectors *h = filled(&rg_vectors_faiss, "HNSW32", x, ids, N, DIM, 128);
    rg_vectors *b = filled(&rg_vectors_brute, NULL, x, ids, N, DIM, 0);
    REQUIRE(h && b);
    CHECK_STR(rg_vectors_factory(h), "IDMap2,HNSW32");
    double r = recall_at(h, b, q, Q, DIM, K);
    fprintf(stderr, "  HNSW32 efSearch=128 recall@10 = %.3f\n", r);
    CHECK(r >= 0.95);
    rg_error err = {0};
    CHECK_INT(rg_vectors_set_ef_search(h, 16, &err), RG_OK);
    fprintf(stderr, "  HNSW32 efSearch=16  recall@10 = %.3f\n", recall_at(h, b, q, Q, DIM, K));
    rg_vectors_close(h);
    rg_vectors_close(b);
    free(x);
    free(q);
    free(ids);
}

static int contains(const rg_vec_hit *h, size_t n, int64_t id);

/* Converting a flat index to HNSW keeps every live vector and its id. */
static void test_convert(void)
{
    enum { N = 3000, DIM = 32, Q = 50, K = 10 };
    float *x = random_unit(N, DIM), *q = random_unit(Q, DIM);
    int64_t *ids = make_ids(N);
    rg_vectors *v = filled(&rg_vectors_faiss, "Flat", x, ids, N, DIM, 0);
    rg_vectors *b = filled(&rg_vectors_brute, NULL, x, ids, N, DIM, 0);
    REQUIRE(v && b);
    rg_error err = {0};
    size_t gone = 0;
    CHECK_INT(rg_vectors_remove(v, 10, ids, &gone, &err), RG_OK);
    CHECK_INT(rg_vectors_remove(b, 10, ids, &gone, &err), RG_OK);
    rg_vectors *before = v;
    CHECK_INT(rg_vectors_convert(&v, "HNSW32", &err), RG_OK);
    CHECK(v != before);
    CHECK_STR(rg_vectors_factory(v), "IDMap2,HNSW32");
    CHECK_INT(rg_vectors_count(v), N - 10);
    CHECK_INT(rg_vectors_set_ef_search(v, 128, &err), RG_OK);
    double r = recall_at(v, b, q, Q, DIM, K);
    fprintf(stderr, "  converted HNSW32 recall@10 = %.3f\n", r);
    CHECK(r >= 0.95);
    /* removed ids stay removed */
    rg_vec_hit hits[K];
    size_t n = search(v, x, K, NULL, NULL, hits);
    CHECK(n == K && !contains(hits, n, ids[0]));
    /* the brute-force backend converts too (to itself) */
    CHECK_INT(rg_vectors_convert(&b, NULL, &err), RG_OK);
    CHECK_INT(rg_vectors_count(b), N - 10);
    rg_vectors_close(v);
    rg_vectors_close(b);
    free(x);
    free(q);
    free(ids);
}

/* ---- removal ---- */

static int contains(const rg_vec_hit *h, size_t n, int64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (h[i].id == id) return 1;
    return 0;
}

/* Removes every third id, then checks no query returns one, that
 * duplicates are refused and that a removed id can come back. */
static void check_remove(const rg_vectors_methods *backend, const char *factory)
{
    enum { N = 1500, DIM = 32, K = 60 };
    float *x = random_unit(N, DIM);
    int64_t *ids = make_ids(N);
    rg_vectors *v = filled(backend, factory, x, ids, N, DIM, 64);
    REQUIRE(v);
    rg_error err = {0};
    int64_t gone[N / 3 + 1];
    size_t ng = 0, removed = 0;
    for (size_t i = 0; i < N; i += 3)
        gone[ng++] = ids[i];
    CHECK_INT(rg_vectors_remove(v, ng, gone, &removed, &err), RG_OK);
    CHECK_INT(removed, ng);
    CHECK_INT(rg_vectors_count(v), N - ng);
    int64_t *live = NULL;
    size_t nl = 0;
    CHECK_INT(rg_vectors_ids(v, &live, &nl, &err), RG_OK);
    int listed_ok = nl == N - ng;
    for (size_t i = 0; listed_ok && i < nl; i++) /* ascending; none removed */
        listed_ok = (i == 0 || live[i - 1] < live[i]) && ((live[i] - id_of(0)) / 7919) % 3 != 0;
    CHECK(listed_ok);
    rg_free(live);
    int64_t unknown[2] = {-5, gone[0]}; /* never added / already removed */
    CHECK_INT(rg_vectors_remove(v, 2, unknown, &removed, &err), RG_OK);
    CHECK_INT(removed, 0);
    int leaked = 0;
    rg_vec_hit h[K];
    for (size_t i = 0; i < N; i += 7) {
        size_t n = search(v, x + i * DIM, K, NULL, NULL, h);
        CHECK_INT(n, K);
        for (size_t j = 0; j < ng; j++)
            leaked += contains(h, n, gone[j]);
    }
    CHECK_INT(leaked, 0);
    CHECK_INT(rg_vectors_add(v, 1, x + DIM, &ids[1], &err), RG_EEXISTS);
    int64_t twice[2] = {-7, -7};
    float two[2 * DIM];
    memcpy(two, x, sizeof two);
    CHECK_INT(rg_vectors_add(v, 2, two, twice, &err), RG_EEXISTS);
    CHECK_INT(rg_vectors_count(v), N - ng);
    /* Re-adding id 0 with the vector of row 1: the old vector must be gone. */
    CHECK_INT(rg_vectors_add(v, 1, x + DIM, &ids[0], &err), RG_OK);
    size_t n = search(v, x, K, NULL, NULL, h);
    int best_is_0 = n > 0 && h[0].id == ids[0] && h[0].score > 0.999f;
    CHECK(!best_is_0);
    n = search(v, x + DIM, 2, NULL, NULL, h);
    CHECK(n == 2 && contains(h, n, ids[0]) && contains(h, n, ids[1]));
    rg_vectors_close(v);
    free(x);
    free(ids);
}

static void test_remove_brute(void)
{
    check_remove(&rg_vectors_brute, NULL);
}

static void test_remove_flat(void)
{
    check_remove(&rg_vectors_faiss, "Flat");
}

static void test_remove_hnsw(void)
{
    check_remove(&rg_vectors_faiss, "HNSW16");
}

/* ---- filters ---- */

static int keep_every(void *ctx, int64_t id)
{
    int64_t every = *(int64_t *)ctx;
    return ((id - 1000000007ll) / 7919) % every == 0;
}

static void check_filter(const char *factory, int exact)
{
    enum { N = 4000, DIM = 32, K = 10 };
    float *x = random_unit(N, DIM), *q = random_unit(20, DIM);
    int64_t *ids = make_ids(N);
    rg_vectors *v = filled(&rg_vectors_faiss, factory, x, ids, N, DIM, 64);
    rg_vectors *b = filled(&rg_vectors_brute, NULL, x, ids, N, DIM, 0);
    REQUIRE(v && b);
    int64_t every = 200; /* 20 of 4000 ids pass: FAISS must over-fetch a lot */
    rg_vec_hit h[K], hb[K];
    int all_k = 1, all_pass = 1, same = 0;
    for (int i = 0; i < 20; i++) {
        size_t n = search(v, q + i * DIM, K, keep_every, &every, h);
        size_t nb = search(b, q + i * DIM, K, keep_every, &every, hb);
        all_k &= n == K && nb == K;
        for (size_t j = 0; j < n; j++)
            all_pass &= keep_every(&every, h[j].id);
        same += same_ranking(h, n, hb, nb);
    }
    CHECK(all_k);
    CHECK(all_pass);
    if (exact) CHECK_INT(same, 20);
    every = 1000; /* only 4 pass: all 4 come back */
    CHECK_INT(search(v, q, K, keep_every, &every, h), 4);
    rg_vectors_close(v);
    rg_vectors_close(b);
    free(x);
    free(q);
    free(ids);
}

static void test_filter_flat(void)
{
    check_filter("Flat", 1);
}

static void test_filter_hnsw(void)
{
    check_filter("HNSW32", 0);
}

/* ---- files ---- */

static void path_in_tmp(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", tmpdir, name);
}

static rg_vectors *load(const char *path, const char *model, int dim, rg_error *err)
{
    rg_vectors_options o = rg_vectors_default_options();
    o.model = model;
    o.dim = dim;
    rg_vectors *v = NULL;
    rg_error_clear(err);
    rg_vectors_load(path, &o, &v, err);
    return v;
}

static void check_same_results(const rg_vectors *a, const rg_vectors *b, const float *q, int dim)
{
    rg_vec_hit ha[20], hb[20];
    int same = 1;
    for (int i = 0; i < 10; i++) {
        size_t na = search(a, q + i * dim, 20, NULL, NULL, ha);
        size_t nb = search(b, q + i * dim, 20, NULL, NULL, hb);
        same &= na == nb;
        for (size_t j = 0; j < na && j < nb; j++) /* fields: the struct has padding */
            same &= ha[j].id == hb[j].id && ha[j].score == hb[j].score;
    }
    CHECK(same);
}

static void check_round_trip(const rg_vectors_methods *backend, const char *factory, size_t n,
                             size_t remove)
{
    enum { DIM = 48 };
    float *x = random_unit(n, DIM), *q = random_unit(10, DIM);
    int64_t *ids = make_ids(n);
    rg_vectors *v = filled(backend, factory, x, ids, n, DIM, 40);
    REQUIRE(v);
    rg_error err = {0};
    CHECK_INT(rg_vectors_remove(v, remove, ids, NULL, &err), RG_OK);
    char path[256];
    path_in_tmp(path, sizeof path, "round.vec");
    CHECK_INT(rg_vectors_save(v, path, 4242, &err), RG_OK);
    rg_vectors *w = load(path, "test-model", DIM, &err);
    REQUIRE(w);
    CHECK_INT(rg_vectors_count(w), n - remove);
    CHECK_INT(rg_vectors_get_stats(w).tombstones, rg_vectors_get_stats(v).tombstones);
    CHECK_INT(rg_vectors_get_stats(w).buffered, rg_vectors_get_stats(v).buffered);
    CHECK_INT(rg_vectors_change_seq(w), 4242);
    CHECK_STR(rg_vectors_model(w), "test-model");
    CHECK_STR(rg_vectors_factory(w), rg_vectors_factory(v));
    check_same_results(v, w, q, DIM);
    /* The loaded index keeps working: removed ids stay removed, adds work. */
    CHECK_INT(rg_vectors_add(w, 1, x, ids, &err), remove ? RG_OK : RG_EEXISTS);
    rg_vectors_close(v);
    rg_vectors_close(w);
    free(x);
    free(q);
    free(ids);
}

static void test_round_trip(void)
{
    check_round_trip(&rg_vectors_brute, NULL, 700, 30);
    check_round_trip(&rg_vectors_faiss, "Flat", 700, 30);
    check_round_trip(&rg_vectors_faiss, "HNSW32", 700, 30);       /* with tombstones */
    check_round_trip(&rg_vectors_faiss, "IVF16,Flat", 700, 30);   /* still buffered */
    check_round_trip(&rg_vectors_faiss, "IVF16,Flat", 10500, 30); /* trained */
}

static int tmp_leftovers(void)
{
    int n = 0;
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += strstr(e->d_name, ".tmp-") != NULL;
    if (d) closedir(d);
    return n;
}

/* A save that fails part-way (file size limit, then each allocation in
 * turn) leaves the previous file loadable and no temporary file behind. */
static void test_atomic_save(void)
{
    enum { DIM = 32 };
    float *x = random_unit(3000, DIM);
    int64_t *ids = make_ids(3000);
    rg_vectors *small = filled(&rg_vectors_faiss, "Flat", x, ids, 10, DIM, 0);
    rg_vectors *big = filled(&rg_vectors_faiss, "Flat", x, ids, 3000, DIM, 0);
    REQUIRE(small && big);
    char path[256];
    path_in_tmp(path, sizeof path, "atomic.vec");
    rg_error err = {0};
    REQUIRE(rg_vectors_save(small, path, 1, &err) == RG_OK);

    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 64 * 1024; /* the big index needs ~400 KiB */
    signal(SIGXFSZ, SIG_IGN);
    setrlimit(RLIMIT_FSIZE, &lim);
    rg_status rc = rg_vectors_save(big, path, 2, &err);
    setrlimit(RLIMIT_FSIZE, &old);
    CHECK_INT(rc, RG_EIO);
    rg_vectors *back = load(path, NULL, 0, &err);
    REQUIRE(back);
    CHECK_INT(rg_vectors_count(back), 10);
    CHECK_INT(rg_vectors_change_seq(back), 1);
    rg_vectors_close(back);
    CHECK_INT(tmp_leftovers(), 0);

    /* Unwritable directory: a path under a regular file cannot be created. */
    char bad[300];
    snprintf(bad, sizeof bad, "%s/sub.vec", path);
    CHECK_INT(rg_vectors_save(big, bad, 3, &err), RG_EIO);

    int failed = 0;
    for (unsigned long i = 1; i < 50; i++) {
        rg_mem_fail_at(i, 1);
        rc = rg_vectors_save(big, path, 5, &err);
        rg_mem_fail_at(0, 0);
        if (rc == RG_OK) break;
        failed++;
        back = load(path, NULL, 0, &err);
        CHECK(back && rg_vectors_count(back) == 10);
        rg_vectors_close(back);
    }
    CHECK(failed >= 1);
    back = load(path, NULL, 0, &err);
    CHECK(back && rg_vectors_count(back) == 3000 && rg_vectors_change_seq(back) == 5);
    rg_vectors_close(back);
    CHECK_INT(tmp_leftovers(), 0);
    rg_vectors_close(small);
    rg_vectors_close(big);
    free(x);
    free(ids);
}

static long file_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

static void copy_prefix(const char *from, const char *to, long n, long flip_at)
{
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    for (long i = 0; i < n; i++) {
        int c = fgetc(a);
        fputc(i == flip_at ? c ^ 0x5A : c, b);
    }
    fclose(a);
    fclose(b);
}

static void check_damage(const rg_vectors_methods *backend, const char *factory)
{
    enum { N = 400, DIM = 16 };
    float *x = random_unit(N, DIM);
    int64_t *ids = make_ids(N);
    rg_vectors *v = filled(backend, factory, x, ids, N, DIM, 0);
    REQUIRE(v);
    char good[256], bad[256];
    path_in_tmp(good, sizeof good, "good.vec");
    path_in_tmp(bad, sizeof bad, "bad.vec");
    rg_error err = {0};
    REQUIRE(rg_vectors_save(v, good, 9, &err) == RG_OK);
    long size = file_size(good);
    const long cuts[] = {0, 7, 100, 511, 512, 530, size / 2, size - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        copy_prefix(good, bad, cuts[i], -1);
        rg_vectors *w = load(bad, NULL, 0, &err);
        CHECK(!w && err.code == RG_ECORRUPT);
    }
    const long flips[] = {0, 9, 20, 60, 508, 512, 520, 600, size / 2, size - 3};
    for (size_t i = 0; i < sizeof flips / sizeof flips[0]; i++) {
        copy_prefix(good, bad, size, flips[i]);
        rg_vectors *w = load(bad, NULL, 0, &err);
        CHECK(!w && err.code == RG_ECORRUPT);
        if (w) fprintf(stderr, "  flip at %ld not detected\n", flips[i]);
    }
    rg_vectors_close(v);
    free(x);
    free(ids);
}

static void test_damaged_files(void)
{
    check_damage(&rg_vectors_faiss, "Flat");
    check_damage(&rg_vectors_faiss, "HNSW8");
    check_damage(&rg_vectors_brute, NULL);
    char path[256];
    path_in_tmp(path, sizeof path, "text.vec");
    FILE *f = fopen(path, "w");
    fputs("not a vector file at all\n", f);
    fclose(f);
    rg_error err = {0};
    CHECK(!load(path, NULL, 0, &err) && err.code == RG_ECORRUPT);
    path_in_tmp(path, sizeof path, "missing.vec");
    CHECK(!load(path, NULL, 0, &err) && err.code == RG_ENOTFOUND);
}

static void test_header_mismatch(void)
{
    enum { DIM = 24 };
    float *x = random_unit(50, DIM);
    int64_t *ids = make_ids(50);
    rg_vectors *v = filled(&rg_vectors_faiss, NULL, x, ids, 50, DIM, 0);
    REQUIRE(v);
    char path[256];
    path_in_tmp(path, sizeof path, "model.vec");
    rg_error err = {0};
    REQUIRE(rg_vectors_save(v, path, 3, &err) == RG_OK);
    CHECK(!load(path, "bge-small-en-v1.5", DIM, &err) && err.code == RG_EINVAL);
    CHECK(strstr(err.msg, "test-model") && strstr(err.msg, "bge-small-en-v1.5"));
    CHECK(!load(path, "test-model", 384, &err) && err.code == RG_EINVAL);
    CHECK(strstr(err.msg, "dim 24") && strstr(err.msg, "dim 384"));
    rg_vectors *w = load(path, "test-model", DIM, &err);
    CHECK(w != NULL);
    rg_vectors_close(w);
    rg_vectors_close(v);
    free(x);
    free(ids);
}

/* ---- compaction and training ---- */

static void test_compaction(void)
{
    enum { N = 1000, DIM = 32 };
    float *x = random_unit(N, DIM);
    int64_t *ids = make_ids(N);
    rg_vectors *v = filled(&rg_vectors_faiss, "HNSW16", x, ids, N, DIM, 64); /* share 0.2 */
    REQUIRE(v);
    rg_error err = {0};
    CHECK_INT(rg_vectors_remove(v, 150, ids, NULL, &err), RG_OK);
    CHECK_INT(rg_vectors_get_stats(v).tombstones, 150);
    CHECK_INT(rg_vectors_count(v), 850);
    CHECK_INT(rg_vectors_remove(v, 60, ids + 150, NULL, &err), RG_OK); /* 210 > 20 % */
    CHECK_INT(rg_vectors_get_stats(v).tombstones, 0);
    CHECK_INT(rg_vectors_count(v), 790);
    rg_vec_hit h[10];
    size_t n = search(v, x + 500 * DIM, 10, NULL, NULL, h); /* survivors intact */
    CHECK(n == 10 && h[0].id == ids[500] && h[0].score > 0.999f);
    n = search(v, x, 10, NULL, NULL, h);
    int leaked = 0;
    for (size_t i = 0; i < n; i++)
        leaked += h[i].id < ids[210];
    CHECK_INT(leaked, 0);
    CHECK_INT(rg_vectors_remove(v, 5, ids + 300, NULL, &err), RG_OK);
    CHECK_INT(rg_vectors_get_stats(v).tombstones, 5);
    /* Re-adding a tombstoned id rebuilds first: one vector per id. */
    CHECK_INT(rg_vectors_add(v, 1, x, ids + 300, &err), RG_OK);
    CHECK_INT(rg_vectors_get_stats(v).tombstones, 0);
    CHECK_INT(rg_vectors_count(v), 786);
    n = search(v, x, 10, NULL, NULL, h);
    CHECK(n == 10 && h[0].id == ids[300] && h[0].score > 0.999f);
    n = search(v, x + 300 * DIM, 10, NULL, NULL, h);
    CHECK(n == 10 && h[0].id != ids[300]);
    CHECK_INT(rg_vectors_remove(v, 4, ids + 400, NULL, &err), RG_OK);
    CHECK_INT(rg_vectors_get_stats(v).tombstones, 4);
    CHECK_INT(rg_vectors_compact(v, &err), RG_OK);
    CHECK_INT(rg_vectors_get_stats(v).tombstones, 0);
    CHECK_INT(rg_vectors_count(v), 782);
    rg_vectors_close(v);
    free(x);
    free(ids);
}

/* IVF waits for 39·256 = 9984 vectors, searching them exactly meanwhile. */
static void test_ivf_training(void)
{
    enum { N = 10200, DIM = 16 };
    float *x = random_unit(N, DIM);
    int64_t *ids = make_ids(N);
    rg_vectors_options o = rg_vectors_default_options();
    o.dim = DIM;
    o.factory = "IVF16,Flat";
    o.nprobe = 16; /* all lists: exact, so results compare with brute force */
    rg_vectors *v = NULL, *b = filled(&rg_vectors_brute, NULL, x, ids, N, DIM, 0);
    rg_error err = {0};
    REQUIRE(rg_vectors_open(&o, &v, &err) == RG_OK && b);
    CHECK_INT(rg_vectors_add(v, 5000, x, ids, &err), RG_OK);
    CHECK_INT(rg_vectors_get_stats(v).buffered, 5000);
    rg_vec_hit h[5], hb[5];
    size_t n = search(v, x + 10 * DIM, 5, NULL, NULL, h);
    CHECK(n == 5 && h[0].id == ids[10]);
    CHECK_INT(rg_vectors_remove(v, 1, &ids[10], NULL, &err), RG_OK);
    CHECK_INT(rg_vectors_count(v), 4999);
    CHECK_INT(rg_vectors_add(v, N - 5000, x + 5000 * DIM, ids + 5000, &err), RG_OK);
    CHECK_INT(rg_vectors_get_stats(v).buffered, 0);
    CHECK_INT(rg_vectors_count(v), N - 1);
    rg_vectors_remove(b, 1, &ids[10], NULL, &err);
    CHECK_INT(rg_vectors_remove(v, 1, &ids[11], NULL, &err), RG_OK); /* native */
    rg_vectors_remove(b, 1, &ids[11], NULL, &err);
    CHECK_INT(rg_vectors_get_stats(v).tombstones, 0);
    int same = 0;
    for (int i = 0; i < 20; i++) {
        size_t nv = search(v, x + (size_t)(i + 5) * DIM, 5, NULL, NULL, h);
        size_t nb = search(b, x + (size_t)(i + 5) * DIM, 5, NULL, NULL, hb);
        same += same_ranking(h, nv, hb, nb);
    }
    CHECK_INT(same, 20);
    rg_vectors_close(v);
    rg_vectors_close(b);
    free(x);
    free(ids);
}

/* ---- arguments and allocation failures ---- */

static void test_bad_arguments(void)
{
    rg_vectors_options o = rg_vectors_default_options();
    rg_vectors *v = NULL;
    rg_error err = {0};
    o.dim = 0;
    CHECK_INT(rg_vectors_open(&o, &v, &err), RG_EINVAL);
    o.dim = RG_VEC_MAX_DIM + 1;
    CHECK_INT(rg_vectors_open(&o, &v, &err), RG_EINVAL);
    o.dim = 8;
    o.factory = "NoSuchIndex99";
    CHECK_INT(rg_vectors_open(&o, &v, &err), RG_EINVAL);
    o.factory = "IDMap2,IVF4,Flat";
    CHECK_INT(rg_vectors_open(&o, &v, &err), RG_EINVAL);
    o.factory = NULL;
    REQUIRE(rg_vectors_open(&o, &v, &err) == RG_OK);
    CHECK_INT(rg_vectors_set_ef_search(v, 32, &err), RG_EUNSUPPORTED); /* Flat */
    float nan_vec[8] = {NAN, 0, 0, 0, 0, 0, 0, 0}, q[8] = {1};
    int64_t id = 1;
    CHECK_INT(rg_vectors_add(v, 1, nan_vec, &id, &err), RG_EINVAL);
    rg_vec_hit h[1];
    size_t n = 99;
    CHECK_INT(rg_vectors_search(v, q, 0, NULL, NULL, h, &n, &err), RG_ELIMIT);
    CHECK_INT(rg_vectors_search(v, q, RG_VEC_MAX_K + 1, NULL, NULL, h, &n, &err), RG_ELIMIT);
    CHECK_INT(rg_vectors_search(v, q, 1, NULL, NULL, h, &n, &err), RG_OK);
    CHECK_INT(n, 0); /* empty index */
    rg_vectors_close(v);
    char f[RG_VEC_FACTORY_MAX + 1];
    rg_vectors_default_factory(1000, 384, f);
    CHECK_STR(f, "IDMap2,Flat");
    rg_vectors_default_factory(100000, 384, f);
    CHECK_STR(f, "IDMap2,HNSW32");
    rg_vectors_default_factory(10000000, 384, f);
    CHECK_STR(f, "IVF16384,PQ48");
    rg_vectors_default_factory(10000000, 100, f);
    CHECK_STR(f, "IVF16384,PQ10");
}

/* Every allocation of open/add/remove/search failing in turn: each failure
 * is reported as RG_ENOMEM (or the op succeeds) and the index stays whole. */
static void check_alloc_failures(const rg_vectors_methods *backend, const char *factory)
{
    enum { N = 300, DIM = 8 };
    float *x = random_unit(N, DIM);
    int64_t *ids = make_ids(N);
    int bad = 0;
    for (unsigned long i = 1; i < 200; i++) {
        rg_vectors *v = filled(backend, factory, x, ids, N / 2, DIM, 0);
        if (!v) break;
        rg_error err = {0};
        rg_vec_hit h[5];
        size_t n = 0;
        rg_mem_fail_at(i, 1);
        rg_status a = rg_vectors_add(v, N / 2, x + (N / 2) * DIM, ids + N / 2, &err);
        rg_status r = rg_vectors_remove(v, 10, ids, NULL, &err);
        rg_status s = rg_vectors_search(v, x + 20 * DIM, 5, NULL, NULL, h, &n, &err);
        rg_mem_fail_at(0, 0);
        bad += (a != RG_OK && a != RG_ENOMEM) || (r != RG_OK && r != RG_ENOMEM) ||
               (s != RG_OK && s != RG_ENOMEM);
        size_t expect = (a == RG_OK ? N : N / 2) - (r == RG_OK ? 10 : 0);
        bad += rg_vectors_count(v) != expect;
        n = search(v, x + 20 * DIM, 5, NULL, NULL, h);
        bad += n != 5 || h[0].id != ids[20];
        rg_vectors_close(v);
        if (a == RG_OK && r == RG_OK && s == RG_OK) break;
    }
    CHECK_INT(bad, 0);
    free(x);
    free(ids);
}

static void test_alloc_failures(void)
{
    check_alloc_failures(&rg_vectors_brute, NULL);
    check_alloc_failures(&rg_vectors_faiss, "Flat");
    check_alloc_failures(&rg_vectors_faiss, "HNSW8");
}

/* ---- latency (opt-in: RG_VEC_BENCH=1; run with OMP_NUM_THREADS=1) ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void bench_one(const char *factory, const float *x, const int64_t *ids, size_t n, int dim,
                      const float *q, int nq)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rg_vectors *v = filled(&rg_vectors_faiss, factory, x, ids, n, dim, 64);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (!v) return;
    double build = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    double *ms = malloc((size_t)nq * sizeof *ms);
    rg_vec_hit h[10];
    for (int i = 0; i < nq; i++) {
        clock_gettime(CLOCK_MONOTONIC, &t0);
        search(v, q + (size_t)i * dim, 10, NULL, NULL, h);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        ms[i] = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-6;
    }
    qsort(ms, (size_t)nq, sizeof *ms, cmp_double);
    fprintf(stderr, "  bench %s n=%zu dim=%d: build %.1f s, search k=10 p50 %.3f ms p99 %.3f ms\n",
            factory, n, dim, build, ms[nq / 2], ms[nq * 99 / 100]);
    free(ms);
    rg_vectors_close(v);
}

static void bench_latency(void)
{
    const char *on = getenv("RG_VEC_BENCH");
    if (!on || strcmp(on, "1") != 0) return;
    enum { N = 100000, DIM = 384, Q = 500 };
    float *x = random_unit(N, DIM), *q = random_unit(Q, DIM);
    int64_t *ids = make_ids(N);
    bench_one("Flat", x, ids, N, DIM, q, Q);
    bench_one("HNSW32", x, ids, N, DIM, q, Q);
    free(x);
    free(q);
    free(ids);
}

/*
 * faiss_simd.h on a flat collection (IDMap2,Flat): the swapped index's
 * exhaustive search against FAISS's own on the same vectors (a copy read
 * back from a file is a plain index): the same ids in the same order and
 * the same scores to rounding, for k below and above the vector count and
 * after removals; its saved file reads back as FAISS's own.
 */
static void test_simd_flat(const float *x, const int64_t *ids, int n, int dim, const float *q,
                           int nq)
{
    enum { KMAX = 64 };
    int fast = strcmp(rg_faiss_simd_name(), "none") != 0;
    FaissIndex *ix = NULL, *plain = NULL;
    REQUIRE(faiss_index_factory(&ix, dim, "IDMap2,Flat", METRIC_INNER_PRODUCT) == 0);
    CHECK_INT(rg_faiss_accelerate(ix), fast);
    CHECK_INT(rg_faiss_accelerate(ix), 0); /* once only */
    REQUIRE(faiss_Index_add_with_ids(ix, n, x, ids) == 0);
    char path[600];
    snprintf(path, sizeof path, "%s/simd-flat.faiss", tmpdir);
    /* a small index too, so that k passes the count: -1 labels after the hits */
    FaissIndex *small = NULL, *small_plain = NULL;
    REQUIRE(faiss_index_factory(&small, dim, "IDMap2,Flat", METRIC_INNER_PRODUCT) == 0);
    CHECK_INT(rg_faiss_accelerate(small), fast);
    REQUIRE(faiss_Index_add_with_ids(small, 20, x, ids) == 0);
    REQUIRE(faiss_write_index_fname(small, path) == 0);
    REQUIRE(faiss_read_index_fname(path, 0, &small_plain) == 0);
    for (int round = 0; round < 2; round++) {
        REQUIRE(faiss_write_index_fname(ix, path) == 0);
        REQUIRE(faiss_read_index_fname(path, 0, &plain) == 0);
        static const int ks[] = {1, 10, KMAX};
        FaissIndex *pairs[2][2] = {{ix, plain}, {small, small_plain}};
        for (int p = 0; p < 2; p++)
            for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++) {
                int k = ks[ki];
                float d1[KMAX * 8], d2[KMAX * 8];
                idx_t l1[KMAX * 8], l2[KMAX * 8];
                int m = nq < 8 ? nq : 8;
                REQUIRE(faiss_Index_search(pairs[p][0], m, q, k, d1, l1) == 0);
                REQUIRE(faiss_Index_search(pairs[p][1], m, q, k, d2, l2) == 0);
                size_t same = 0, valid = 0;
                double worst = 0;
                for (int i = 0; i < m * k; i++) {
                    same += l1[i] == l2[i];
                    valid += l1[i] >= 0;
                    if (l1[i] >= 0 && fabs(d1[i] - d2[i]) > worst) worst = fabs(d1[i] - d2[i]);
                }
                CHECK_INT(same, (size_t)(m * k));
                CHECK(worst < 1e-5);
                CHECK_INT(valid, (size_t)m * (size_t)(p == 1 && k > 20 ? 20 : k));
            }
        faiss_Index_free(plain);
        /* second round: a tenth of the vectors removed from the swapped index */
        FaissIDSelectorBatch *sel = NULL;
        int64_t gone[400];
        for (int i = 0; i < 400; i++)
            gone[i] = ids[i * 10];
        REQUIRE(faiss_IDSelectorBatch_new(&sel, 400, gone) == 0);
        size_t removed = 0;
        REQUIRE(faiss_Index_remove_ids(ix, (const FaissIDSelector *)sel, &removed) == 0);
        CHECK_INT(removed, (size_t)(round == 0 ? 400 : 0));
        faiss_IDSelector_free((FaissIDSelector *)sel);
    }
    faiss_Index_free(small_plain);
    faiss_Index_free(small);
    faiss_Index_free(ix);
    unlink(path);
}

/*
 * faiss_simd.h's HNSW walk against FAISS's own on the same graph and
 * distance: the same ids and the same scores to the bit, one query at a
 * time, for k under, at and over efSearch, at two efSearch settings.
 */
static void test_simd_walk(FaissIndex *ix, const float *q, int nq, int dim)
{
    enum { KMAX = 100 };
    int fast = strcmp(rg_faiss_simd_name(), "none") != 0;
    float d1[KMAX], d2[KMAX];
    idx_t l1[KMAX];
    int64_t l2[KMAX];
    if (!fast) {
        CHECK_INT(rg_faiss_search_faiss_walk(ix, 1, q, 10, d2, l2), -1);
        return;
    }
    static const int efs[] = {16, 64}, ks[] = {1, 10, 16, KMAX};
    size_t compared = 0, differ = 0;
    for (size_t e = 0; e < sizeof efs / sizeof efs[0]; e++) {
        FaissParameterSpace *ps = NULL;
        REQUIRE(faiss_ParameterSpace_new(&ps) == 0);
        REQUIRE(faiss_ParameterSpace_set_index_parameter(ps, ix, "efSearch", efs[e]) == 0);
        faiss_ParameterSpace_free(ps);
        for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++)
            for (int i = 0; i < nq; i++) {
                int k = ks[ki];
                const float *x = q + (size_t)i * (size_t)dim;
                REQUIRE(faiss_Index_search(ix, 1, x, k, d1, l1) == 0);
                REQUIRE(rg_faiss_search_faiss_walk(ix, 1, x, k, d2, l2) == 0);
                for (int j = 0; j < k; j++) {
                    compared++;
                    differ += l1[j] != l2[j] || memcmp(&d1[j], &d2[j], sizeof d1[j]) != 0;
                }
            }
    }
    CHECK_INT(differ, 0);
    CHECK(compared > 0);
}

/*
 * faiss_simd.h: the SIMD dot product against a double-precision sum, and an
 * HNSW index answering the same with its storage swapped, before and after
 * a save and load (FAISS writes the swapped storage as a plain IndexFlat).
 */
static void test_simd_distance(void)
{
    int fast = strcmp(rg_faiss_simd_name(), "none") != 0;
    printf("     SIMD distance: %s\n", rg_faiss_simd_name());
    for (unsigned long n = 1; n <= 400; n += n < 40 ? 1 : 57) {
        float *a = random_unit(1, (int)n), *b = random_unit(1, (int)n);
        double ref = 0, mag = 0;
        for (unsigned long i = 0; i < n; i++) {
            ref += (double)a[i] * b[i];
            mag += fabs((double)a[i] * b[i]);
        }
        CHECK(fabs(rg_faiss_simd_dot(a, b, n) - ref) <= 1e-6 * (mag + 1));
        free(a);
        free(b);
    }

    enum { N = 4000, DIM = 384, Q = 40, K = 10 };
    float *x = random_unit(N, DIM), *q = random_unit(Q, DIM);
    int64_t *ids = make_ids(N);
    FaissIndex *ix = NULL;
    REQUIRE(faiss_index_factory(&ix, DIM, "IDMap2,HNSW32", METRIC_INNER_PRODUCT) == 0);
    CHECK_INT(rg_faiss_accelerate(ix), fast); /* empty: swapped before anything is added */
    CHECK_INT(rg_faiss_accelerate(ix), 0);    /* once only */
    REQUIRE(faiss_Index_add_with_ids(ix, N, x, ids) == 0);
    float d1[Q * K], d2[Q * K], d3[Q * K];
    idx_t l1[Q * K], l2[Q * K], l3[Q * K];
    REQUIRE(faiss_Index_search(ix, Q, q, K, d1, l1) == 0);

    /* The same graph searched with FAISS's own distance: a plain index read back. */
    char path[600];
    snprintf(path, sizeof path, "%s/simd.faiss", tmpdir);
    REQUIRE(faiss_write_index_fname(ix, path) == 0);
    FaissIndex *plain = NULL;
    REQUIRE(faiss_read_index_fname(path, 0, &plain) == 0);
    REQUIRE(faiss_Index_search(plain, Q, q, K, d2, l2) == 0);
    CHECK_INT(rg_faiss_accelerate(plain), fast);
    REQUIRE(faiss_Index_search(plain, Q, q, K, d3, l3) == 0);
    size_t same = 0;
    double worst = 0;
    for (size_t i = 0; i < Q * K; i++) {
        same += l1[i] == l2[i] && l1[i] == l3[i];
        if (l1[i] == l2[i] && fabs(d1[i] - d2[i]) > worst) worst = fabs(d1[i] - d2[i]);
    }
    /* Rounding can reorder near-ties in a graph walk, nothing more. */
    CHECK(same >= (size_t)(Q * K) * 99 / 100);
    CHECK(worst < 1e-5);
    test_simd_walk(ix, q, Q, DIM);
    test_simd_walk(plain, q, Q, DIM); /* read back, then swapped: the walk too */
    faiss_Index_free(plain);
    faiss_Index_free(ix);
    unlink(path);
    test_simd_flat(x, ids, N, DIM, q, Q);
    /* Other kinds are left alone. */
    REQUIRE(faiss_index_factory(&ix, DIM, "IDMap2,Flat", METRIC_L2) == 0);
    CHECK_INT(rg_faiss_accelerate(ix), 0);
    faiss_Index_free(ix);
    REQUIRE(faiss_index_factory(&ix, DIM, "HNSW32", METRIC_L2) == 0);
    CHECK_INT(rg_faiss_accelerate(ix), 0);
    faiss_Index_free(ix);
    free(x);
    free(q);
    free(ids);
}

static void test_setup(void)
{
    REQUIRE(mkdtemp(tmpdir) != NULL);
}

static void test_cleanup(void)
{
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    char p[512];
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
        unlink(p);
    }
    if (d) closedir(d);
    rmdir(tmpdir);
}

TEST_MAIN(TEST(test_setup), TEST(test_bad_arguments), TEST(test_flat_matches_brute),
          TEST(test_hnsw_recall), TEST(test_convert), TEST(test_remove_brute),
          TEST(test_remove_flat), TEST(test_remove_hnsw), TEST(test_filter_flat),
          TEST(test_filter_hnsw), TEST(test_round_trip), TEST(test_atomic_save),
          TEST(test_damaged_files), TEST(test_header_mismatch), TEST(test_compaction),
          TEST(test_ivf_training), TEST(test_alloc_failures), TEST(test_simd_distance),
          TEST(bench_latency), TEST(test_cleanup))
