/*
 * keys.h — API keys of the HTTP service, kept in the store.
 *
 * A key is "rgk_" and 64 hex digits of /dev/urandom (256 bits). It is
 * shown once, when created; the store keeps only its SHA-256 (a key has
 * too much entropy for the hash to be worth inverting) and its first
 * RG_KEY_PREFIX_LEN characters to tell keys apart in listings. Each key
 * carries scopes (read: search, answers, chat, embeddings, listings;
 * write: add and delete documents; admin: metrics and everything), an
 * optional list of the collections it may use (empty: all), and the
 * reader it acts as for document access lists (search.h: a user name,
 * default the key's name, and groups). Keys are revoked, never deleted,
 * so a revoked key's name stays taken.
 */
#ifndef RG_KEYS_H
#define RG_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "engine/base/status.h"
#include "index/search.h"
#include "index/store.h"

#define RG_KEY_NAME_MAX        64
#define RG_KEY_TEXT_LEN        68 /* "rgk_" + 64 hex digits */
#define RG_KEY_PREFIX_LEN      12
#define RG_KEY_COLLECTIONS_MAX 32
#define RG_KEY_USER_MAX        128

enum {
    RG_SCOPE_READ = 1,
    RG_SCOPE_WRITE = 2,
    RG_SCOPE_ADMIN = 4,
};

/* "read,write" -> bits; 0 when a name is unknown or the list is empty. */
unsigned rg_scopes_parse(const char *csv);
/* Bits -> "read,write,admin" into out (at least 20 bytes). */
void rg_scopes_format(unsigned scopes, char *out, size_t cap);

typedef struct rg_key_spec {
    const char *name;               /* 1..RG_KEY_NAME_MAX of [A-Za-z0-9._-] */
    unsigned scopes;                /* RG_SCOPE_* bits, not 0 */
    const char *const *collections; /* may use only these; n_collections 0: all */
    size_t n_collections;           /* at most RG_KEY_COLLECTIONS_MAX */
    const char *user;               /* reader identity; NULL or "": the key's name */
    const char *const *groups;
    size_t n_groups; /* at most RG_READER_GROUPS_MAX */
} rg_key_spec;

/*
 * Creates a key; key receives its text (NUL-terminated), the only time it
 * is seen. Errors: RG_EINVAL (bad name, scopes, collection or group),
 * RG_EEXISTS (the name is taken), RG_ELIMIT, RG_EIO (no randomness), RG_EDB.
 */
rg_status rg_key_create(rg_store *s, const rg_key_spec *spec, char key[RG_KEY_TEXT_LEN + 1],
                        rg_error *err);

/* A key as stored. Strings are owned by it: rg_key_info_free. */
typedef struct rg_key_info {
    int64_t id;
    char name[RG_KEY_NAME_MAX + 1];
    char prefix[RG_KEY_PREFIX_LEN + 1];
    unsigned scopes;
    char **collections;
    size_t n_collections;
    char user[RG_KEY_USER_MAX + 1];
    char **groups;
    size_t n_groups;
    int64_t created_at;
    int64_t revoked_at; /* 0: active */
} rg_key_info;

void rg_key_info_free(rg_key_info *k);

/*
 * Finds the active key whose text is key. RG_ENOTFOUND for an unknown,
 * malformed or revoked key (the caller answers 401 either way).
 */
rg_status rg_key_lookup(rg_store *s, const char *key, rg_key_info *out, rg_error *err);

/* Every key, revoked ones included, by id. *out: rg_key_list_free. */
rg_status rg_key_list(rg_store *s, rg_key_info **out, size_t *n, rg_error *err);
void rg_key_list_free(rg_key_info *keys, size_t n);

/* Revokes the key named name. RG_ENOTFOUND when there is none (or it is already revoked). */
rg_status rg_key_revoke(rg_store *s, const char *name, rg_error *err);

/* 1 if the key may use the collection (NULL: a request over every collection). */
int rg_key_allows(const rg_key_info *k, const char *collection);

/* The reader a key acts as; points into k. */
rg_reader rg_key_reader(const rg_key_info *k);

#endif
