/*
 * vectors.c — what every vector backend shares: argument checks, the
 * default factory rule, the id map, and the file container (ragd header,
 * CRC-32, atomic replace). The backends are vectors_faiss.c and
 * vectors_brute.c.
 */
#include "index/vectors.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "engine/base/mem.h"

struct rg_vectors {
    const rg_vectors_methods *m;
    void *ctx;
    int dim;
    rg_vec_metric metric;
    uint64_t change_seq;
    char model[RG_VEC_MODEL_MAX + 1];
    char factory[RG_VEC_FACTORY_MAX + 1];
};

/* ---- options and the default factory ---- */

rg_vectors_options rg_vectors_default_options(void)
{
    rg_vectors_options o;
    memset(&o, 0, sizeof o);
    o.backend = &rg_vectors_faiss;
    o.metric = RG_VEC_IP;
    o.compact_share = 0.2;
    return o;
}

/* PQ sub-quantisers of 8 dimensions keep codes at 1 byte per 8 floats, the
 * usual quality/size trade; FAISS needs m to divide dim. */
static int pq_subquantizers(int dim)
{
    int m = dim / 8 > 0 ? dim / 8 : 1;
    while (m > 1 && dim % m != 0)
        m--;
    return m;
}

void rg_vectors_default_factory(size_t n, int dim, char *out)
{
    if (n <= RG_VEC_FLAT_MAX) {
        snprintf(out, RG_VEC_FACTORY_MAX + 1, "IDMap2,Flat");
        return;
    }
    if (n <= RG_VEC_HNSW_MAX) {
        snprintf(out, RG_VEC_FACTORY_MAX + 1, "IDMap2,HNSW32");
        return;
    }
    /* FAISS's guidance: nlist between 4·√n and 16·√n; a power of two. */
    size_t want = (size_t)(4.0 * sqrt((double)n)), nlist = 1;
    while (nlist < want)
        nlist <<= 1;
    snprintf(out, RG_VEC_FACTORY_MAX + 1, "IVF%zu,PQ%d", nlist, pq_subquantizers(dim));
}

/* Gives every factory string an id mapping FAISS can delete from; see the
 * rule next to rg_vectors_options.factory. */
static rg_status resolve_factory(const rg_vectors_options *o, char *out, rg_error *err)
{
    if (o->backend == &rg_vectors_brute) {
        out[0] = '\0';
        return RG_OK;
    }
    if (!o->factory || !o->factory[0]) {
        rg_vectors_default_factory(o->expected_count, o->dim, out);
        return RG_OK;
    }
    const char *f = o->factory;
    int n;
    if (strncmp(f, "IDMap", 5) == 0) {
        if (strstr(f, "IVF"))
            return rg_fail(err, RG_EINVAL,
                           "factory '%s': IDMap over IVF cannot delete; use '%s' (IVF keeps ids)",
                           f, strchr(f, ',') ? strchr(f, ',') + 1 : f);
        /* IDMap2 also finds vectors by id, which rebuilds and filtered
         * scans need; the plain IDMap saves nothing worth that. */
        const char *rest = strncmp(f, "IDMap2,", 7) == 0  ? f + 7
                           : strncmp(f, "IDMap,", 6) == 0 ? f + 6
                                                          : NULL;
        if (!rest) return rg_fail(err, RG_EINVAL, "factory '%s': expected IDMap2,<index>", f);
        n = snprintf(out, RG_VEC_FACTORY_MAX + 1, "IDMap2,%s", rest);
    } else if (strstr(f, "IVF")) {
        n = snprintf(out, RG_VEC_FACTORY_MAX + 1, "%s", f);
    } else {
        n = snprintf(out, RG_VEC_FACTORY_MAX + 1, "IDMap2,%s", f);
    }
    if (n < 0 || n > RG_VEC_FACTORY_MAX)
        return rg_fail(err, RG_ELIMIT, "factory string longer than %d bytes", RG_VEC_FACTORY_MAX);
    return RG_OK;
}

/* ---- open, close, dispatch ---- */

static rg_status check_options(const rg_vectors_options *o, rg_error *err)
{
    if (!o || !o->backend) return rg_fail(err, RG_EINVAL, "vector index options missing");
    if (o->backend->version != RG_VECTORS_METHODS_VERSION)
        return rg_fail(err, RG_EUNSUPPORTED, "vector backend '%s' has version %d, want %d",
                       o->backend->name, o->backend->version, RG_VECTORS_METHODS_VERSION);
    if (o->dim < 1 || o->dim > RG_VEC_MAX_DIM)
        return rg_fail(err, RG_EINVAL, "vector dimension %d outside 1..%d", o->dim, RG_VEC_MAX_DIM);
    if (o->metric != RG_VEC_IP && o->metric != RG_VEC_L2)
        return rg_fail(err, RG_EINVAL, "unknown vector metric %d", (int)o->metric);
    if (o->model && strlen(o->model) > RG_VEC_MODEL_MAX)
        return rg_fail(err, RG_ELIMIT, "model name longer than %d bytes", RG_VEC_MODEL_MAX);
    if (o->ef_search < 0 || o->nprobe < 0 || !(o->compact_share >= 0.0 && o->compact_share <= 1.0))
        return rg_fail(err, RG_EINVAL, "ef_search or nprobe < 0, or compact_share outside 0..1");
    return RG_OK;
}

rg_status rg_vectors_open(const rg_vectors_options *opts, rg_vectors **out, rg_error *err)
{
    *out = NULL;
    rg_status rc = check_options(opts, err);
    if (rc != RG_OK) return rc;
    rg_vectors *v = rg_calloc(1, sizeof *v);
    if (!v) return rg_fail(err, RG_ENOMEM, "out of memory opening vector index");
    rc = resolve_factory(opts, v->factory, err);
    if (rc != RG_OK) goto out;
    rg_vectors_options o = *opts;
    o.factory = v->factory;
    v->m = opts->backend;
    v->dim = opts->dim;
    v->metric = opts->metric;
    snprintf(v->model, sizeof v->model, "%s", opts->model ? opts->model : "");
    rc = v->m->create(&o, &v->ctx, err);
out:
    if (rc != RG_OK)
        rg_free(v);
    else
        *out = v;
    return rc;
}

void rg_vectors_close(rg_vectors *v)
{
    if (!v) return;
    v->m->destroy(v->ctx);
    rg_free(v);
}

rg_status rg_vectors_add(rg_vectors *v, size_t n, const float *x, const int64_t *ids, rg_error *err)
{
    if (n == 0) return RG_OK;
    if (!x || !ids) return rg_fail(err, RG_EINVAL, "vectors or ids missing");
    /* One NaN would make every later score meaningless; refuse it here. */
    for (size_t i = 0; i < n * (size_t)v->dim; i++)
        if (!isfinite(x[i]))
            return rg_fail(err, RG_EINVAL, "vector for id %lld has a non-finite value",
                           (long long)ids[i / (size_t)v->dim]);
    return v->m->add(v->ctx, n, x, ids, err);
}

rg_status rg_vectors_remove(rg_vectors *v, size_t n, const int64_t *ids, size_t *n_removed,
                            rg_error *err)
{
    if (n_removed) *n_removed = 0;
    if (n == 0) return RG_OK;
    if (!ids) return rg_fail(err, RG_EINVAL, "ids missing");
    return v->m->remove(v->ctx, n, ids, n_removed, err);
}

rg_status rg_vectors_compact(rg_vectors *v, rg_error *err)
{
    return v->m->compact(v->ctx, err);
}

rg_status rg_vectors_search(const rg_vectors *v, const float *q, size_t k, rg_vec_filter filter,
                            void *filter_ctx, rg_vec_hit *hits, size_t *n_hits, rg_error *err)
{
    *n_hits = 0;
    if (!q || !hits) return rg_fail(err, RG_EINVAL, "query or result buffer missing");
    if (k < 1 || k > RG_VEC_MAX_K)
        return rg_fail(err, RG_ELIMIT, "k = %zu outside 1..%d", k, RG_VEC_MAX_K);
    return v->m->search(v->ctx, q, k, filter, filter_ctx, hits, n_hits, err);
}

size_t rg_vectors_count(const rg_vectors *v)
{
    return v->m->stats(v->ctx).live;
}

int rg_vectors_has(const rg_vectors *v, int64_t id)
{
    return v->m->has(v->ctx, id);
}

rg_vectors_stats rg_vectors_get_stats(const rg_vectors *v)
{
    return v->m->stats(v->ctx);
}

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

rg_status rg_vectors_ids(const rg_vectors *v, int64_t **ids, size_t *n, rg_error *err)
{
    size_t live = rg_vectors_count(v);
    *n = 0;
    *ids = rg_malloc((live + 1) * sizeof **ids);
    if (!*ids) return rg_fail(err, RG_ENOMEM, "out of memory listing vector ids");
    v->m->list_ids(v->ctx, *ids);
    qsort(*ids, live, sizeof **ids, cmp_id);
    *n = live;
    return RG_OK;
}

/* Vectors copied per batch by rg_vectors_convert. */
#define CONVERT_BATCH 1024

rg_status rg_vectors_convert(rg_vectors **vp, const char *factory, rg_error *err)
{
    rg_vectors *v = *vp, *nv = NULL;
    if (!v->m->reconstruct)
        return rg_fail(err, RG_EUNSUPPORTED, "the %s backend cannot give vectors back",
                       v->m->name);
    rg_vectors_options o = rg_vectors_default_options();
    o.backend = v->m;
    o.dim = v->dim;
    o.metric = v->metric;
    o.model = v->model;
    o.factory = factory;
    o.expected_count = rg_vectors_count(v);
    int64_t *ids = NULL;
    size_t n = 0;
    float *x = rg_malloc((size_t)CONVERT_BATCH * (size_t)v->dim * sizeof *x);
    rg_status rc = x ? rg_vectors_open(&o, &nv, err)
                     : rg_fail(err, RG_ENOMEM, "out of memory converting vector index");
    if (rc == RG_OK) rc = rg_vectors_ids(v, &ids, &n, err);
    for (size_t i = 0; rc == RG_OK && i < n; i += CONVERT_BATCH) {
        size_t m = n - i < CONVERT_BATCH ? n - i : CONVERT_BATCH;
        for (size_t j = 0; rc == RG_OK && j < m; j++)
            rc = v->m->reconstruct(v->ctx, ids[i + j], x + j * (size_t)v->dim, err);
        if (rc == RG_OK) rc = rg_vectors_add(nv, m, x, ids + i, err);
    }
    rg_free(ids);
    rg_free(x);
    if (rc != RG_OK) {
        rg_vectors_close(nv);
        return rc;
    }
    nv->change_seq = v->change_seq;
    rg_vectors_close(v);
    *vp = nv;
    return RG_OK;
}

int rg_vectors_dim(const rg_vectors *v)
{
    return v->dim;
}

rg_vec_metric rg_vectors_metric(const rg_vectors *v)
{
    return v->metric;
}

const char *rg_vectors_model(const rg_vectors *v)
{
    return v->model;
}

const char *rg_vectors_factory(const rg_vectors *v)
{
    return v->factory;
}

uint64_t rg_vectors_change_seq(const rg_vectors *v)
{
    return v->change_seq;
}

rg_status rg_vectors_set_ef_search(rg_vectors *v, int ef_search, rg_error *err)
{
    if (ef_search < 1) return rg_fail(err, RG_EINVAL, "ef_search must be positive");
    return v->m->set_ef_search(v->ctx, ef_search, err);
}

/* ---- helpers for backends ---- */

float rg_vec_score(rg_vec_metric metric, const float *q, const float *x, int dim)
{
    float s = 0.0f;
    if (metric == RG_VEC_IP) {
        for (int i = 0; i < dim; i++)
            s += q[i] * x[i];
    } else {
        for (int i = 0; i < dim; i++) {
            float d = q[i] - x[i];
            s += d * d;
        }
    }
    return s;
}

rg_status rg_vec_write(FILE *f, const void *p, size_t n, rg_error *err)
{
    if (n && fwrite(p, 1, n, f) != n)
        return rg_fail(err, RG_EIO, "writing vector file: %s", strerror(errno));
    return RG_OK;
}

rg_status rg_vec_read(FILE *f, void *p, size_t n, rg_error *err)
{
    if (n && fread(p, 1, n, f) != n) return rg_fail(err, RG_ECORRUPT, "vector file is truncated");
    return RG_OK;
}

/* ---- the ragd header ---- */

#define HDR_SIZE    512
#define HDR_VERSION 1
static const char hdr_magic[8] = {'R', 'G', 'V', 'E', 'C', 'I', 'X', '1'};

/* Byte offsets of the header fields, little-endian. */
enum {
    H_MAGIC = 0,
    H_VERSION = 8,
    H_BACKEND = 12,
    H_METRIC = 16,
    H_DIM = 20,
    H_SEQ = 24,
    H_COUNT = 32,
    H_BODY_LEN = 40,
    H_BODY_CRC = 48,
    H_MODEL_LEN = 52,
    H_MODEL = 56, /* RG_VEC_MODEL_MAX + 1 bytes */
    H_FACTORY_LEN = 312,
    H_FACTORY = 316, /* RG_VEC_FACTORY_MAX + 1 bytes; zeros up to H_CRC */
    H_CRC = 508,     /* CRC-32 of bytes 0..507 */
};

static void put32(unsigned char *p, uint32_t x)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(x >> (8 * i));
}

static void put64(unsigned char *p, uint64_t x)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(x >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
    uint32_t x = 0;
    for (int i = 0; i < 4; i++)
        x |= (uint32_t)p[i] << (8 * i);
    return x;
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t x = 0;
    for (int i = 0; i < 8; i++)
        x |= (uint64_t)p[i] << (8 * i);
    return x;
}

typedef struct vec_header {
    uint32_t backend, metric, dim, body_crc;
    uint64_t seq, count, body_len;
    char model[RG_VEC_MODEL_MAX + 1];
    char factory[RG_VEC_FACTORY_MAX + 1];
} vec_header;

static void header_encode(const vec_header *h, unsigned char *b)
{
    memset(b, 0, HDR_SIZE);
    memcpy(b + H_MAGIC, hdr_magic, sizeof hdr_magic);
    put32(b + H_VERSION, HDR_VERSION);
    put32(b + H_BACKEND, h->backend);
    put32(b + H_METRIC, h->metric);
    put32(b + H_DIM, h->dim);
    put64(b + H_SEQ, h->seq);
    put64(b + H_COUNT, h->count);
    put64(b + H_BODY_LEN, h->body_len);
    put32(b + H_BODY_CRC, h->body_crc);
    size_t ml = strlen(h->model), fl = strlen(h->factory);
    put32(b + H_MODEL_LEN, (uint32_t)ml);
    memcpy(b + H_MODEL, h->model, ml);
    put32(b + H_FACTORY_LEN, (uint32_t)fl);
    memcpy(b + H_FACTORY, h->factory, fl);
    put32(b + H_CRC, (uint32_t)crc32(0L, b, H_CRC));
}

static rg_status header_decode(const unsigned char *b, vec_header *h, rg_error *err)
{
    if (memcmp(b + H_MAGIC, hdr_magic, sizeof hdr_magic) != 0)
        return rg_fail(err, RG_ECORRUPT, "not a ragd vector file (bad magic)");
    if (get32(b + H_CRC) != (uint32_t)crc32(0L, b, H_CRC))
        return rg_fail(err, RG_ECORRUPT, "vector file header checksum mismatch");
    if (get32(b + H_VERSION) != HDR_VERSION)
        return rg_fail(err, RG_EUNSUPPORTED, "vector file version %u, this ragd reads %d",
                       get32(b + H_VERSION), HDR_VERSION);
    h->backend = get32(b + H_BACKEND);
    h->metric = get32(b + H_METRIC);
    h->dim = get32(b + H_DIM);
    h->seq = get64(b + H_SEQ);
    h->count = get64(b + H_COUNT);
    h->body_len = get64(b + H_BODY_LEN);
    h->body_crc = get32(b + H_BODY_CRC);
    uint32_t ml = get32(b + H_MODEL_LEN), fl = get32(b + H_FACTORY_LEN);
    if (ml > RG_VEC_MODEL_MAX || fl > RG_VEC_FACTORY_MAX || h->dim < 1 || h->dim > RG_VEC_MAX_DIM ||
        h->metric > RG_VEC_L2 || h->count > RG_VEC_MAX_COUNT)
        return rg_fail(err, RG_ECORRUPT, "vector file header has impossible values");
    memcpy(h->model, b + H_MODEL, ml);
    h->model[ml] = '\0';
    memcpy(h->factory, b + H_FACTORY, fl);
    h->factory[fl] = '\0';
    return RG_OK;
}

/* CRC-32 of len bytes from f's position, read in bounded pieces. */
static rg_status crc_stream(FILE *f, uint64_t len, uint32_t *crc, rg_error *err)
{
    enum { PIECE = 1 << 20 };
    unsigned char *buf = rg_malloc(PIECE);
    if (!buf) return rg_fail(err, RG_ENOMEM, "out of memory checking vector file");
    uLong c = crc32(0L, Z_NULL, 0);
    rg_status rc = RG_OK;
    while (len > 0) {
        size_t want = len < PIECE ? (size_t)len : PIECE;
        if (fread(buf, 1, want, f) != want) {
            rc = rg_fail(err, RG_ECORRUPT, "vector file is truncated");
            break;
        }
        c = crc32(c, buf, (uInt)want);
        len -= want;
    }
    rg_free(buf);
    *crc = (uint32_t)c;
    return rc;
}

/* ---- save ---- */

/* fsync of the directory makes the rename itself durable. */
static rg_status sync_dir_of(const char *path, rg_error *err)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return rg_fail(err, RG_EIO, "opening %s: %s", dir, strerror(errno));
    int r = fsync(fd);
    int e = errno;
    close(fd);
    if (r != 0) return rg_fail(err, RG_EIO, "fsync %s: %s", dir, strerror(e));
    return RG_OK;
}

static rg_status write_body_and_header(rg_vectors *v, FILE *f, uint64_t seq, rg_error *err)
{
    unsigned char hdr[HDR_SIZE] = {0};
    rg_status rc = rg_vec_write(f, hdr, HDR_SIZE, err);
    if (rc == RG_OK) rc = v->m->save(v->ctx, f, err);
    if (rc != RG_OK) return rc;
    if (fflush(f) != 0) return rg_fail(err, RG_EIO, "writing vector file: %s", strerror(errno));
    off_t end = ftello(f);
    if (end < HDR_SIZE || fseeko(f, HDR_SIZE, SEEK_SET) != 0)
        return rg_fail(err, RG_EIO, "seeking in vector file: %s", strerror(errno));
    vec_header h = {.backend = v->m->file_tag,
                    .metric = (uint32_t)v->metric,
                    .dim = (uint32_t)v->dim,
                    .seq = seq,
                    .count = rg_vectors_count(v),
                    .body_len = (uint64_t)end - HDR_SIZE};
    /* The CRC is read back from the page cache rather than computed while
     * writing, because FAISS writes its part through the FILE itself. */
    rc = crc_stream(f, h.body_len, &h.body_crc, err);
    if (rc != RG_OK)
        return rg_fail(err, RG_EIO, "reading back vector file: %s", rg_error_message(err));
    snprintf(h.model, sizeof h.model, "%s", v->model);
    snprintf(h.factory, sizeof h.factory, "%s", v->factory);
    header_encode(&h, hdr);
    if (fseeko(f, 0, SEEK_SET) != 0)
        return rg_fail(err, RG_EIO, "seeking in vector file: %s", strerror(errno));
    rc = rg_vec_write(f, hdr, HDR_SIZE, err);
    if (rc == RG_OK && fflush(f) != 0)
        rc = rg_fail(err, RG_EIO, "writing vector file: %s", strerror(errno));
    if (rc == RG_OK && fsync(fileno(f)) != 0)
        rc = rg_fail(err, RG_EIO, "fsync vector file: %s", strerror(errno));
    return rc;
}

rg_status rg_vectors_save(rg_vectors *v, const char *path, uint64_t change_seq, rg_error *err)
{
    char tmp[PATH_MAX];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path);
    if (n < 0 || (size_t)n >= sizeof tmp)
        return rg_fail(err, RG_ELIMIT, "vector file path too long");
    int fd = mkstemp(tmp);
    if (fd < 0) return rg_fail(err, RG_EIO, "creating %s: %s", tmp, strerror(errno));
    rg_status rc = RG_OK;
    FILE *f = fdopen(fd, "w+b");
    if (!f) {
        close(fd);
        rc = rg_fail(err, RG_EIO, "opening %s: %s", tmp, strerror(errno));
        goto out;
    }
    rc = write_body_and_header(v, f, change_seq, err);
    if (rc == RG_EIO) { /* name the file: the body writers do not know it */
        char why[RG_ERROR_MSG_MAX];
        snprintf(why, sizeof why, "%s", err->msg);
        rc = rg_fail(err, rc, "saving the vector index %s: %s", path, why);
    }
    if (fclose(f) != 0 && rc == RG_OK)
        rc = rg_fail(err, RG_EIO, "closing %s: %s", tmp, strerror(errno));
    if (rc != RG_OK) goto out;
    if (rename(tmp, path) != 0) {
        rc = rg_fail(err, RG_EIO, "renaming %s to %s: %s", tmp, path, strerror(errno));
        goto out;
    }
    v->change_seq = change_seq;
    return sync_dir_of(path, err);
out:
    unlink(tmp);
    return rc;
}

/* ---- load ---- */

static const rg_vectors_methods *backend_by_tag(uint32_t tag)
{
    if (tag == rg_vectors_faiss.file_tag) return &rg_vectors_faiss;
    if (tag == rg_vectors_brute.file_tag) return &rg_vectors_brute;
    return NULL;
}

static rg_status check_expectations(const vec_header *h, const rg_vectors_options *ex,
                                    const char *path, rg_error *err)
{
    if (!ex) return RG_OK;
    int model_ok = !ex->model || !ex->model[0] || strcmp(ex->model, h->model) == 0;
    int dim_ok = ex->dim <= 0 || (uint32_t)ex->dim == h->dim;
    if (model_ok && dim_ok) return RG_OK;
    return rg_fail(err, RG_EINVAL,
                   "%s holds vectors of model '%s' (dim %u) but the collection uses '%s' "
                   "(dim %d); run ragd reindex",
                   path, h->model, h->dim, ex->model ? ex->model : h->model,
                   ex->dim > 0 ? ex->dim : (int)h->dim);
}

static rg_status load_from(FILE *f, const char *path, const rg_vectors_options *expect,
                           rg_vectors **out, rg_error *err)
{
    unsigned char b[HDR_SIZE];
    vec_header h;
    if (fread(b, 1, HDR_SIZE, f) != HDR_SIZE)
        return rg_fail(err, RG_ECORRUPT, "%s: vector file shorter than its header", path);
    rg_status rc = header_decode(b, &h, err);
    if (rc != RG_OK) return rc;
    const rg_vectors_methods *m = backend_by_tag(h.backend);
    if (!m) return rg_fail(err, RG_EUNSUPPORTED, "%s: unknown vector backend %u", path, h.backend);
    rc = check_expectations(&h, expect, path, err);
    if (rc != RG_OK) return rc;
    struct stat st;
    if (fstat(fileno(f), &st) != 0)
        return rg_fail(err, RG_EIO, "stat %s: %s", path, strerror(errno));
    if ((uint64_t)st.st_size != HDR_SIZE + h.body_len)
        return rg_fail(err, RG_ECORRUPT, "%s: %lld bytes, header says %llu", path,
                       (long long)st.st_size, (unsigned long long)(HDR_SIZE + h.body_len));
    uint32_t crc;
    rc = crc_stream(f, h.body_len, &crc, err);
    if (rc != RG_OK) return rc;
    if (crc != h.body_crc)
        return rg_fail(err, RG_ECORRUPT, "%s: vector file checksum mismatch", path);
    if (fseeko(f, HDR_SIZE, SEEK_SET) != 0)
        return rg_fail(err, RG_EIO, "seeking in %s: %s", path, strerror(errno));

    rg_vectors_options o = expect ? *expect : rg_vectors_default_options();
    o.backend = m;
    o.dim = (int)h.dim;
    o.metric = (rg_vec_metric)h.metric;
    o.model = h.model;
    o.factory = h.factory;
    rc = rg_vectors_open(&o, out, err);
    if (rc != RG_OK) return rc;
    rc = m->load((*out)->ctx, f, h.body_len, err);
    if (rc == RG_OK && rg_vectors_count(*out) != h.count)
        rc = rg_fail(err, RG_ECORRUPT, "%s: %zu vectors, header says %llu", path,
                     rg_vectors_count(*out), (unsigned long long)h.count);
    if (rc != RG_OK) {
        rg_vectors_close(*out);
        *out = NULL;
        return rc;
    }
    (*out)->change_seq = h.seq;
    return RG_OK;
}

rg_status rg_vectors_load(const char *path, const rg_vectors_options *expect, rg_vectors **out,
                          rg_error *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return rg_fail(err, errno == ENOENT ? RG_ENOTFOUND : RG_EIO, "opening %s: %s", path,
                       strerror(errno));
    rg_status rc = load_from(f, path, expect, out, err);
    fclose(f);
    return rc;
}

/* ---- the id map: linear probing, deletion by backward shift ---- */

static size_t id_hash(int64_t key, size_t cap)
{
    uint64_t x = (uint64_t)key * 0x9E3779B97F4A7C15ull; /* Fibonacci hashing */
    return (size_t)(x ^ (x >> 29)) & (cap - 1);
}

int rg_vec_idmap_get(const rg_vec_idmap *m, int64_t key, int64_t *val)
{
    if (m->cap == 0) return 0;
    for (size_t i = id_hash(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (!m->used[i]) return 0;
        if (m->keys[i] == key) {
            if (val) *val = m->vals[i];
            return 1;
        }
    }
}

static void put_nogrow(rg_vec_idmap *m, int64_t key, int64_t val)
{
    size_t i = id_hash(key, m->cap);
    while (m->used[i] && m->keys[i] != key)
        i = (i + 1) & (m->cap - 1);
    if (!m->used[i]) m->len++;
    m->used[i] = 1;
    m->keys[i] = key;
    m->vals[i] = val;
}

rg_status rg_vec_idmap_reserve(rg_vec_idmap *m, size_t more)
{
    size_t need = m->len + more, cap = m->cap ? m->cap : 16;
    if (need > SIZE_MAX / 4) return RG_ENOMEM;
    while (cap / 4 * 3 < need) /* keep the load factor under 3/4 */
        cap *= 2;
    if (cap == m->cap) return RG_OK;
    rg_vec_idmap n = {rg_malloc(cap * sizeof(int64_t)), rg_malloc(cap * sizeof(int64_t)),
                      rg_calloc(cap, 1), cap, 0};
    if (!n.keys || !n.vals || !n.used) {
        rg_vec_idmap_free(&n);
        return RG_ENOMEM;
    }
    for (size_t i = 0; i < m->cap; i++)
        if (m->used[i]) put_nogrow(&n, m->keys[i], m->vals[i]);
    rg_vec_idmap_free(m);
    *m = n;
    return RG_OK;
}

rg_status rg_vec_idmap_put(rg_vec_idmap *m, int64_t key, int64_t val)
{
    rg_status rc = rg_vec_idmap_reserve(m, 1);
    if (rc == RG_OK) put_nogrow(m, key, val);
    return rc;
}

int rg_vec_idmap_del(rg_vec_idmap *m, int64_t key)
{
    if (m->cap == 0) return 0;
    size_t mask = m->cap - 1, i = id_hash(key, m->cap);
    while (m->used[i] && m->keys[i] != key)
        i = (i + 1) & mask;
    if (!m->used[i]) return 0;
    /* Pull later entries of the probe run back so no lookup hits a gap. */
    for (size_t j = (i + 1) & mask; m->used[j]; j = (j + 1) & mask) {
        size_t home = id_hash(m->keys[j], m->cap);
        int between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!between) {
            m->keys[i] = m->keys[j];
            m->vals[i] = m->vals[j];
            i = j;
        }
    }
    m->used[i] = 0;
    m->len--;
    return 1;
}

void rg_vec_idmap_free(rg_vec_idmap *m)
{
    rg_free(m->keys);
    rg_free(m->vals);
    rg_free(m->used);
    memset(m, 0, sizeof *m);
}
