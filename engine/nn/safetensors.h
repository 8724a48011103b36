/*
 * safetensors.h — read-only access to a .safetensors weight file.
 *
 * The file is memory-mapped; its JSON header is parsed once and every
 * tensor's dtype, shape and byte range is checked against the file size
 * before anything is handed out, so a truncated or corrupt file fails at
 * open with RG_ECORRUPT and nothing ever reads outside the mapping.
 * Float tensors are served as f32: F32 data is returned in place (no copy,
 * pages stay shared with the page cache); F16 and BF16 are converted into
 * buffers that the handle owns.
 */
#ifndef RG_NN_SAFETENSORS_H
#define RG_NN_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "engine/base/status.h"

/* Largest JSON header accepted (the format's own limit is 100 MB). */
#define RG_ST_HEADER_MAX (100u * 1024u * 1024u)
/* Most dimensions a tensor may have. */
#define RG_ST_MAX_DIMS 8
/* Most tensors in one file. */
#define RG_ST_MAX_TENSORS 100000

typedef enum rg_dtype {
    RG_DT_F32,
    RG_DT_F16,
    RG_DT_BF16,
    RG_DT_F64,
    RG_DT_I64,
    RG_DT_I32,
    RG_DT_I16,
    RG_DT_I8,
    RG_DT_U8,
    RG_DT_BOOL,
} rg_dtype;

typedef struct rg_tensor_info {
    const char *name;            /* owned by the file handle */
    rg_dtype dtype;
    int ndim;                    /* 0 for a scalar */
    int64_t shape[RG_ST_MAX_DIMS];
    int64_t count;               /* product of shape */
    const void *data;            /* inside the mapping; nbytes long */
    size_t nbytes;
} rg_tensor_info;

typedef struct rg_safetensors rg_safetensors;

/* ---- Open and close ---- */

/*
 * Maps path and validates its header. On success *out owns the mapping
 * until rg_safetensors_close. Errors: RG_ENOTFOUND, RG_EIO, RG_ECORRUPT
 * (bad header, offsets or sizes), RG_EUNSUPPORTED (unknown dtype),
 * RG_ELIMIT, RG_ENOMEM. On failure *out is NULL.
 */
rg_status rg_safetensors_open(const char *path, rg_safetensors **out, rg_error *err);
/* Unmaps the file and frees converted buffers; every pointer handed out dies. */
void rg_safetensors_close(rg_safetensors *st);

/* ---- Lookup ---- */

size_t rg_safetensors_count(const rg_safetensors *st);
/* Tensor i (0 <= i < count), in file order of the header. */
const rg_tensor_info *rg_safetensors_at(const rg_safetensors *st, size_t i);
/* NULL when there is no tensor of that name. */
const rg_tensor_info *rg_safetensors_find(const rg_safetensors *st, const char *name);
const char *rg_dtype_name(rg_dtype dt);

/*
 * Tensor name as f32, checked against the expected shape (ndim dims).
 * *out points into the mapping (F32, aligned) or into a buffer owned by st
 * (F16, BF16, unaligned F32); valid until rg_safetensors_close.
 * Errors: RG_ENOTFOUND (no such tensor), RG_ECORRUPT (shape differs),
 * RG_EUNSUPPORTED (not a float dtype), RG_ENOMEM.
 */
rg_status rg_safetensors_f32(rg_safetensors *st, const char *name, int ndim,
                             const int64_t *shape, const float **out, rg_error *err);

/* ---- Conversions (exposed for tests) ---- */

float rg_f16_to_f32(uint16_t h);
float rg_bf16_to_f32(uint16_t h);

#endif
