/*
 * tok_vocab.c — the piece <-> id table: an array by id and an
 * open-addressing FNV-1a hash by bytes, sized to stay at most half full.
 */
#include <string.h>

#include "engine/base/mem.h"
#include "engine/nn/tok_internal.h"
#include "engine/nn/tokenizer.h"

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

rg_status tok_vocab_init(tok_vocab *v, size_t n, rg_error *err)
{
    memset(v, 0, sizeof *v);
    v->pieces = rg_calloc(n ? n : 1, sizeof *v->pieces);
    v->lens = rg_calloc(n ? n : 1, sizeof *v->lens);
    if (!v->pieces || !v->lens)
        return rg_fail(err, RG_ENOMEM, "tokenizer: out of memory for %zu vocabulary entries", n);
    v->n = n;
    return RG_OK;
}

rg_status tok_vocab_set(tok_vocab *v, int32_t id, const char *s, size_t len, rg_error *err)
{
    if (id < 0 || (size_t)id >= v->n)
        return rg_fail(err, RG_ECORRUPT, "tokenizer: vocabulary id %d out of range", (int)id);
    if (v->pieces[id])
        return rg_fail(err, RG_ECORRUPT, "tokenizer: vocabulary id %d appears twice", (int)id);
    if (len > RG_TOK_PIECE_MAX)
        return rg_fail(err, RG_ELIMIT, "tokenizer: vocabulary piece of %zu bytes", len);
    v->pieces[id] = rg_strndup(s, len);
    if (!v->pieces[id])
        return rg_fail(err, RG_ENOMEM, "tokenizer: out of memory");
    v->lens[id] = (uint32_t)len;
    return RG_OK;
}

rg_status tok_vocab_index(tok_vocab *v, rg_error *err)
{
    size_t cap = 16;
    while (cap < 2 * v->n)
        cap <<= 1;
    v->slots = rg_malloc(cap * sizeof *v->slots);
    if (!v->slots)
        return rg_fail(err, RG_ENOMEM, "tokenizer: out of memory");
    memset(v->slots, 0xff, cap * sizeof *v->slots);
    v->mask = cap - 1;
    for (size_t id = 0; id < v->n; id++) {
        if (!v->pieces[id])
            return rg_fail(err, RG_ECORRUPT, "tokenizer: vocabulary has no entry for id %zu", id);
        size_t i = hash_bytes(v->pieces[id], v->lens[id]) & v->mask;
        while (v->slots[i] >= 0) {
            int32_t o = v->slots[i];
            if (v->lens[o] == v->lens[id] && memcmp(v->pieces[o], v->pieces[id], v->lens[id]) == 0)
                return rg_fail(err, RG_ECORRUPT, "tokenizer: vocabulary piece '%s' appears twice",
                               v->pieces[id]);
            i = (i + 1) & v->mask;
        }
        v->slots[i] = (int32_t)id;
    }
    return RG_OK;
}

int32_t tok_vocab_find(const tok_vocab *v, const char *s, size_t len)
{
    size_t i = hash_bytes(s, len) & v->mask;
    for (;;) {
        int32_t id = v->slots[i];
        if (id < 0)
            return -1;
        if (v->lens[id] == len && memcmp(v->pieces[id], s, len) == 0)
            return id;
        i = (i + 1) & v->mask;
    }
}

void tok_vocab_free(tok_vocab *v)
{
    if (v->pieces)
        for (size_t i = 0; i < v->n; i++)
            rg_free(v->pieces[i]);
    rg_free(v->pieces);
    rg_free(v->lens);
    rg_free(v->slots);
    memset(v, 0, sizeof *v);
}

rg_status tok_ids_push(tok_ids *a, int32_t id, rg_error *err)
{
    if (a->n >= a->stop)
        return RG_OK;
    if (!a->v) {
        a->n++;
        return RG_OK;
    }
    if (a->n == a->cap)
        return rg_fail(err, RG_ELIMIT, "tokenizer: more than %zu tokens", a->cap);
    a->v[a->n++] = id;
    return RG_OK;
}

rg_status tok_cps_reserve(tok_cps *a, size_t n, rg_error *err)
{
    if (n <= a->cap)
        return RG_OK;
    uint32_t *p = rg_realloc(a->v, n * sizeof *p);
    if (!p)
        return rg_fail(err, RG_ENOMEM, "tokenizer: out of memory");
    a->v = p;
    a->cap = n;
    return RG_OK;
}
