/*
 * safetensors.c — mmap + cJSON header parse + bounds checks.
 *
 * Layout: u64 little-endian header length N, N bytes of JSON, then the data
 * area. Each tensor's data_offsets are relative to the data area; we check
 * begin <= end <= data size and end - begin == count * dtype size, with
 * overflow-safe arithmetic, before keeping any pointer.
 */
#include "engine/nn/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/base/mem.h"

struct rg_safetensors {
    void *map;
    size_t map_size;
    rg_tensor_info *tensors;
    size_t count;
    char **names;   /* owned copies, tensors[i].name points here */
    float **conv;   /* converted f32 buffers, one slot per tensor */
};

static const struct {
    const char *name;
    rg_dtype dt;
    size_t size;
} dtypes[] = {
    {"F32", RG_DT_F32, 4},  {"F16", RG_DT_F16, 2}, {"BF16", RG_DT_BF16, 2},
    {"F64", RG_DT_F64, 8},  {"I64", RG_DT_I64, 8}, {"I32", RG_DT_I32, 4},
    {"I16", RG_DT_I16, 2},  {"I8", RG_DT_I8, 1},   {"U8", RG_DT_U8, 1},
    {"BOOL", RG_DT_BOOL, 1},
};

const char *rg_dtype_name(rg_dtype dt)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (dtypes[i].dt == dt)
            return dtypes[i].name;
    return "?";
}

float rg_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: renormalise */
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) {
                man <<= 1;
                exp--;
            }
            bits = sign | (exp << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float rg_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

void rg_safetensors_close(rg_safetensors *st)
{
    if (!st)
        return;
    if (st->map && st->map != MAP_FAILED)
        munmap(st->map, st->map_size);
    for (size_t i = 0; i < st->count; i++) {
        if (st->names)
            rg_free(st->names[i]);
        if (st->conv)
            rg_free(st->conv[i]);
    }
    rg_free(st->names);
    rg_free(st->conv);
    rg_free(st->tensors);
    rg_free(st);
}

/* Reads one header entry into t; data_size is the size of the data area. */
static rg_status parse_entry(const cJSON *e, const unsigned char *data, size_t data_size,
                             rg_tensor_info *t, rg_error *err)
{
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs) ||
        cJSON_GetArraySize(offs) != 2)
        return rg_fail(err, RG_ECORRUPT, "safetensors: tensor '%s' has a malformed entry", e->string);
    size_t esize = 0;
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (strcmp(dt->valuestring, dtypes[i].name) == 0) {
            t->dtype = dtypes[i].dt;
            esize = dtypes[i].size;
        }
    if (!esize)
        return rg_fail(err, RG_EUNSUPPORTED, "safetensors: tensor '%s' has unsupported dtype %s",
                       e->string, dt->valuestring);
    int nd = cJSON_GetArraySize(shape);
    if (nd > RG_ST_MAX_DIMS)
        return rg_fail(err, RG_ELIMIT, "safetensors: tensor '%s' has %d dims (max %d)", e->string,
                       nd, RG_ST_MAX_DIMS);
    t->ndim = nd;
    uint64_t count = 1;
    const cJSON *d;
    int k = 0;
    cJSON_ArrayForEach(d, shape)
    {
        /* 2^40 elements is far past any real tensor and keeps products exact. */
        if (!cJSON_IsNumber(d) || d->valuedouble < 0 || d->valuedouble > 1099511627776.0 ||
            d->valuedouble != (double)(int64_t)d->valuedouble)
            return rg_fail(err, RG_ECORRUPT, "safetensors: tensor '%s' has a bad dimension",
                           e->string);
        t->shape[k++] = (int64_t)d->valuedouble;
        if (d->valuedouble != 0 && count > UINT64_MAX / (uint64_t)d->valuedouble / esize)
            return rg_fail(err, RG_ECORRUPT, "safetensors: tensor '%s' is impossibly large",
                           e->string);
        count *= (uint64_t)d->valuedouble;
    }
    double b = cJSON_GetArrayItem(offs, 0)->valuedouble;
    double en = cJSON_GetArrayItem(offs, 1)->valuedouble;
    if (!cJSON_IsNumber(cJSON_GetArrayItem(offs, 0)) || !cJSON_IsNumber(cJSON_GetArrayItem(offs, 1)) ||
        b < 0 || en < b || en > (double)data_size)
        return rg_fail(err, RG_ECORRUPT,
                       "safetensors: tensor '%s' data lies outside the file (truncated?)", e->string);
    size_t begin = (size_t)b, end = (size_t)en;
    if ((uint64_t)(end - begin) != count * esize)
        return rg_fail(err, RG_ECORRUPT,
                       "safetensors: tensor '%s' has %zu bytes but its shape needs %llu", e->string,
                       end - begin, (unsigned long long)(count * esize));
    t->count = (int64_t)count;
    t->data = data + begin;
    t->nbytes = end - begin;
    return RG_OK;
}

static rg_status parse_header(rg_safetensors *st, const char *json, size_t n, size_t data_off,
                              rg_error *err)
{
    rg_status rc = RG_OK;
    cJSON *root = cJSON_ParseWithLength(json, n);
    if (!cJSON_IsObject(root)) {
        rc = rg_fail(err, RG_ECORRUPT, "safetensors: header is not a JSON object");
        goto out;
    }
    size_t cap = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, root) cap++;
    if (cap > RG_ST_MAX_TENSORS) {
        rc = rg_fail(err, RG_ELIMIT, "safetensors: %zu tensors (max %d)", cap, RG_ST_MAX_TENSORS);
        goto out;
    }
    st->tensors = rg_calloc(cap ? cap : 1, sizeof *st->tensors);
    st->names = rg_calloc(cap ? cap : 1, sizeof *st->names);
    st->conv = rg_calloc(cap ? cap : 1, sizeof *st->conv);
    if (!st->tensors || !st->names || !st->conv) {
        rc = rg_fail(err, RG_ENOMEM, "safetensors: out of memory");
        goto out;
    }
    const unsigned char *data = (const unsigned char *)st->map + data_off;
    cJSON_ArrayForEach(e, root)
    {
        if (strcmp(e->string, "__metadata__") == 0)
            continue;
        if (!cJSON_IsObject(e)) {
            rc = rg_fail(err, RG_ECORRUPT, "safetensors: entry '%s' is not an object", e->string);
            goto out;
        }
        rg_tensor_info *t = &st->tensors[st->count];
        rc = parse_entry(e, data, st->map_size - data_off, t, err);
        if (rc)
            goto out;
        st->names[st->count] = rg_strdup(e->string);
        if (!st->names[st->count]) {
            rc = rg_fail(err, RG_ENOMEM, "safetensors: out of memory");
            goto out;
        }
        t->name = st->names[st->count];
        st->count++;
    }
out:
    cJSON_Delete(root);
    return rc;
}

rg_status rg_safetensors_open(const char *path, rg_safetensors **out, rg_error *err)
{
    *out = NULL;
    rg_status rc = RG_OK;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return rg_fail(err, errno == ENOENT ? RG_ENOTFOUND : RG_EIO, "safetensors: %s: %s", path,
                       strerror(errno));
    rg_safetensors *st = rg_calloc(1, sizeof *st);
    if (!st) {
        close(fd);
        return rg_fail(err, RG_ENOMEM, "safetensors: out of memory");
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        rc = rg_fail(err, RG_EIO, "safetensors: %s: %s", path, strerror(errno));
        goto out;
    }
    if (sb.st_size < 8) {
        rc = rg_fail(err, RG_ECORRUPT, "safetensors: %s: file too short (%lld bytes)", path,
                     (long long)sb.st_size);
        goto out;
    }
    st->map_size = (size_t)sb.st_size;
    st->map = mmap(NULL, st->map_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (st->map == MAP_FAILED) {
        st->map = NULL;
        rc = rg_fail(err, RG_EIO, "safetensors: %s: mmap: %s", path, strerror(errno));
        goto out;
    }
    const unsigned char *p = st->map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | p[i];
    if (hlen > RG_ST_HEADER_MAX || hlen > st->map_size - 8) {
        rc = rg_fail(err, RG_ECORRUPT, "safetensors: %s: header length %llu exceeds the file",
                     path, (unsigned long long)hlen);
        goto out;
    }
    rc = parse_header(st, (const char *)p + 8, (size_t)hlen, 8 + (size_t)hlen, err);
    if (rc) {
        /* prefix the path so the one-line message says which file */
        if (err) {
            char msg[RG_ERROR_MSG_MAX];
            snprintf(msg, sizeof msg, "%s", err->msg);
            rg_fail(err, rc, "%s (%s)", msg, path);
        }
        goto out;
    }
out:
    close(fd);
    if (rc) {
        rg_safetensors_close(st);
        return rc;
    }
    *out = st;
    return RG_OK;
}

size_t rg_safetensors_count(const rg_safetensors *st) { return st->count; }

const rg_tensor_info *rg_safetensors_at(const rg_safetensors *st, size_t i)
{
    return i < st->count ? &st->tensors[i] : NULL;
}

const rg_tensor_info *rg_safetensors_find(const rg_safetensors *st, const char *name)
{
    for (size_t i = 0; i < st->count; i++)
        if (strcmp(st->tensors[i].name, name) == 0)
            return &st->tensors[i];
    return NULL;
}

rg_status rg_safetensors_f32(rg_safetensors *st, const char *name, int ndim,
                             const int64_t *shape, const float **out, rg_error *err)
{
    *out = NULL;
    const rg_tensor_info *t = rg_safetensors_find(st, name);
    if (!t)
        return rg_fail(err, RG_ENOTFOUND, "safetensors: no tensor '%s'", name);
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++)
        same = t->shape[i] == shape[i];
    if (!same) {
        char want[128], got[128];
        size_t w = 0, g = 0;
        for (int i = 0; i < ndim && w < sizeof want; i++)
            w += (size_t)snprintf(want + w, sizeof want - w, i ? ",%lld" : "%lld", (long long)shape[i]);
        for (int i = 0; i < t->ndim && g < sizeof got; i++)
            g += (size_t)snprintf(got + g, sizeof got - g, i ? ",%lld" : "%lld", (long long)t->shape[i]);
        want[sizeof want - 1] = got[sizeof got - 1] = 0;
        return rg_fail(err, RG_ECORRUPT, "safetensors: tensor '%s' has shape [%s], expected [%s]",
                       name, ndim ? got : "", want);
    }
    size_t idx = (size_t)(t - st->tensors);
    if (st->conv[idx]) {
        *out = st->conv[idx];
        return RG_OK;
    }
    if (t->dtype == RG_DT_F32 && ((uintptr_t)t->data & 3) == 0) {
        *out = t->data;
        return RG_OK;
    }
    if (t->dtype != RG_DT_F32 && t->dtype != RG_DT_F16 && t->dtype != RG_DT_BF16)
        return rg_fail(err, RG_EUNSUPPORTED, "safetensors: tensor '%s' is %s, not a float type",
                       name, rg_dtype_name(t->dtype));
    float *f = rg_malloc((size_t)t->count * sizeof *f + 1);
    if (!f)
        return rg_fail(err, RG_ENOMEM, "safetensors: out of memory converting '%s'", name);
    const unsigned char *p = t->data;
    for (int64_t i = 0; i < t->count; i++) {
        if (t->dtype == RG_DT_F32) {
            memcpy(&f[i], p + 4 * i, 4);
        } else {
            uint16_t h = (uint16_t)(p[2 * i] | (p[2 * i + 1] << 8));
            f[i] = t->dtype == RG_DT_F16 ? rg_f16_to_f32(h) : rg_bf16_to_f32(h);
        }
    }
    st->conv[idx] = f;
    *out = f;
    return RG_OK;
}
