/*
 * keys.c — API keys in the store's api_keys table (keys.h).
 */
#include "index/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "engine/base/mem.h"
#include "engine/base/sha256.h"

static const char *const scope_names[] = {"read", "write", "admin"};

unsigned rg_scopes_parse(const char *csv)
{
    unsigned bits = 0;
    const char *p = csv;
    while (p && *p) {
        size_t n = strcspn(p, ",");
        unsigned b = 0;
        for (unsigned i = 0; i < 3; i++)
            if (strlen(scope_names[i]) == n && strncmp(p, scope_names[i], n) == 0) b = 1u << i;
        if (!b) return 0;
        bits |= b;
        p += n;
        if (*p == ',') p++;
    }
    return bits;
}

void rg_scopes_format(unsigned scopes, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    for (unsigned i = 0; i < 3; i++)
        if (scopes & (1u << i)) {
            int n = snprintf(out + len, cap - len, "%s%s", len ? "," : "", scope_names[i]);
            if (n < 0 || (size_t)n >= cap - len) return;
            len += (size_t)n;
        }
}

static int name_valid(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > max) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '.' || s[i] == '-' ||
              s[i] == '@'))
            return 0;
    return 1;
}

static rg_status random_bytes(unsigned char *p, size_t n, rg_error *err)
{
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return rg_fail(err, RG_EIO, "cannot open /dev/urandom: %s", strerror(errno));
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r <= 0) {
            if (r < 0 && errno == EINTR) continue;
            close(fd);
            return rg_fail(err, RG_EIO, "cannot read /dev/urandom");
        }
        got += (size_t)r;
    }
    close(fd);
    return RG_OK;
}

/* A JSON array of strings; NULL when out of memory. */
static char *json_strings(const char *const *v, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
    char *s = a ? cJSON_PrintUnformatted(a) : NULL;
    cJSON_Delete(a);
    return s;
}

static rg_status db_fail(rg_store *s, rg_error *err, const char *what)
{
    return rg_fail(err, RG_EDB, "%s: %s", what, sqlite3_errmsg(rg_store_db(s)));
}

rg_status rg_key_create(rg_store *s, const rg_key_spec *spec, char key[RG_KEY_TEXT_LEN + 1],
                        rg_error *err)
{
    key[0] = '\0';
    if (!name_valid(spec->name, RG_KEY_NAME_MAX))
        return rg_fail(err, RG_EINVAL,
                       "a key name is 1 to %d characters of letters, digits, . _ - @",
                       RG_KEY_NAME_MAX);
    if (!spec->scopes || spec->scopes > 7)
        return rg_fail(err, RG_EINVAL, "a key needs scopes: read, write, admin");
    if (spec->n_collections > RG_KEY_COLLECTIONS_MAX || spec->n_groups > RG_READER_GROUPS_MAX)
        return rg_fail(err, RG_ELIMIT, "a key has at most %d collections and %d groups",
                       RG_KEY_COLLECTIONS_MAX, RG_READER_GROUPS_MAX);
    for (size_t i = 0; i < spec->n_collections; i++)
        if (!rg_collection_name_valid(spec->collections[i]))
            return rg_fail(err, RG_EINVAL, "'%s' is not a collection name", spec->collections[i]);
    const char *user = spec->user && spec->user[0] ? spec->user : spec->name;
    if (!name_valid(user, RG_KEY_USER_MAX))
        return rg_fail(err, RG_EINVAL, "'%s' is not a user name", user);
    for (size_t i = 0; i < spec->n_groups; i++)
        if (!name_valid(spec->groups[i], RG_KEY_USER_MAX))
            return rg_fail(err, RG_EINVAL, "'%s' is not a group name", spec->groups[i]);
    unsigned char raw[32];
    rg_status st = random_bytes(raw, sizeof raw, err);
    if (st) return st;
    char text[RG_KEY_TEXT_LEN + 1];
    memcpy(text, "rgk_", 4);
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(text + 4 + 2 * i, 3, "%02x", raw[i]);
    char hash[RG_SHA256_HEX_LEN + 1];
    rg_sha256_hex(text, RG_KEY_TEXT_LEN, hash);
    char *colls = json_strings(spec->collections, spec->n_collections);
    char *groups = json_strings(spec->groups, spec->n_groups);
    sqlite3_stmt *q = NULL;
    if (!colls || !groups) {
        st = rg_fail(err, RG_ENOMEM, "out of memory");
        goto done;
    }
    if (sqlite3_prepare_v2(rg_store_db(s),
                           "INSERT INTO api_keys(name, prefix, hash, scopes, collections, user, "
                           "groups, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                           -1, &q, NULL) != SQLITE_OK) {
        st = db_fail(s, err, "creating a key");
        goto done;
    }
    sqlite3_bind_text(q, 1, spec->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, text, RG_KEY_PREFIX_LEN, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, hash, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 4, (int)spec->scopes);
    sqlite3_bind_text(q, 5, colls, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 6, user, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 7, groups, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 8, (int64_t)time(NULL));
    int rc = sqlite3_step(q);
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        st = rg_fail(err, RG_EEXISTS, "a key named '%s' exists already", spec->name);
    else if (rc != SQLITE_DONE)
        st = db_fail(s, err, "creating a key");
    else
        memcpy(key, text, sizeof text);
done:
    sqlite3_finalize(q);
    cJSON_free(colls);
    cJSON_free(groups);
    return st;
}

void rg_key_info_free(rg_key_info *k)
{
    if (!k) return;
    for (size_t i = 0; i < k->n_collections; i++)
        rg_free(k->collections[i]);
    for (size_t i = 0; i < k->n_groups; i++)
        rg_free(k->groups[i]);
    rg_free(k->collections);
    rg_free(k->groups);
    memset(k, 0, sizeof *k);
}

/* Parses a stored JSON array of strings into a new string vector. */
static rg_status string_vector(const char *json, char ***out, size_t *n, rg_error *err)
{
    *out = NULL;
    *n = 0;
    cJSON *a = cJSON_Parse(json ? json : "[]");
    if (!cJSON_IsArray(a)) {
        cJSON_Delete(a);
        return rg_fail(err, RG_ECORRUPT, "a stored key has a malformed list");
    }
    size_t m = (size_t)cJSON_GetArraySize(a);
    char **v = m ? rg_calloc(m, sizeof *v) : NULL;
    if (m && !v) {
        cJSON_Delete(a);
        return rg_fail(err, RG_ENOMEM, "out of memory");
    }
    size_t i = 0;
    for (const cJSON *e = a->child; e; e = e->next) {
        if (!cJSON_IsString(e)) continue;
        if (!(v[i] = rg_strdup(e->valuestring))) break;
        i++;
    }
    cJSON_Delete(a);
    *out = v;
    *n = i;
    return RG_OK;
}

static rg_status read_row(sqlite3_stmt *q, rg_key_info *k, rg_error *err)
{
    memset(k, 0, sizeof *k);
    k->id = sqlite3_column_int64(q, 0);
    snprintf(k->name, sizeof k->name, "%s", (const char *)sqlite3_column_text(q, 1));
    snprintf(k->prefix, sizeof k->prefix, "%s", (const char *)sqlite3_column_text(q, 2));
    k->scopes = (unsigned)sqlite3_column_int(q, 3);
    snprintf(k->user, sizeof k->user, "%s", (const char *)sqlite3_column_text(q, 5));
    k->created_at = sqlite3_column_int64(q, 7);
    k->revoked_at = sqlite3_column_int64(q, 8);
    rg_status st = string_vector((const char *)sqlite3_column_text(q, 4), &k->collections,
                                 &k->n_collections, err);
    if (!st)
        st = string_vector((const char *)sqlite3_column_text(q, 6), &k->groups, &k->n_groups, err);
    if (st) rg_key_info_free(k);
    return st;
}

#define KEY_COLUMNS                                                                                \
    "id, name, prefix, scopes, collections, user, groups, created_at, "                            \
    "coalesce(revoked_at, 0)"

rg_status rg_key_lookup(rg_store *s, const char *key, rg_key_info *out, rg_error *err)
{
    memset(out, 0, sizeof *out);
    if (!key || strlen(key) != RG_KEY_TEXT_LEN || strncmp(key, "rgk_", 4) != 0)
        return rg_fail(err, RG_ENOTFOUND, "not a valid API key");
    char hash[RG_SHA256_HEX_LEN + 1];
    rg_sha256_hex(key, RG_KEY_TEXT_LEN, hash);
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(rg_store_db(s),
                           "SELECT " KEY_COLUMNS " FROM api_keys WHERE hash = ?1 AND "
                           "revoked_at IS NULL",
                           -1, &q, NULL) != SQLITE_OK)
        return db_fail(s, err, "looking up a key");
    sqlite3_bind_text(q, 1, hash, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    rg_status st = rc == SQLITE_ROW    ? read_row(q, out, err)
                   : rc == SQLITE_DONE ? rg_fail(err, RG_ENOTFOUND, "not a valid API key")
                                       : db_fail(s, err, "looking up a key");
    sqlite3_finalize(q);
    return st;
}

void rg_key_list_free(rg_key_info *keys, size_t n)
{
    for (size_t i = 0; keys && i < n; i++)
        rg_key_info_free(&keys[i]);
    rg_free(keys);
}

rg_status rg_key_list(rg_store *s, rg_key_info **out, size_t *n, rg_error *err)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(rg_store_db(s), "SELECT " KEY_COLUMNS " FROM api_keys ORDER BY id", -1,
                           &q, NULL) != SQLITE_OK)
        return db_fail(s, err, "listing keys");
    rg_key_info *v = NULL;
    size_t len = 0, cap = 0;
    rg_status st = RG_OK;
    int rc;
    while (!st && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (len == cap) {
            size_t nc = cap ? cap * 2 : 8;
            rg_key_info *nv = rg_realloc(v, nc * sizeof *nv);
            if (!nv) {
                st = rg_fail(err, RG_ENOMEM, "out of memory");
                break;
            }
            v = nv, cap = nc;
        }
        if (!(st = read_row(q, &v[len], err))) len++;
    }
    if (!st && rc != SQLITE_DONE) st = db_fail(s, err, "listing keys");
    sqlite3_finalize(q);
    if (st) {
        rg_key_list_free(v, len);
        return st;
    }
    *out = v;
    *n = len;
    return RG_OK;
}

rg_status rg_key_revoke(rg_store *s, const char *name, rg_error *err)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(rg_store_db(s),
                           "UPDATE api_keys SET revoked_at = ?2 WHERE name = ?1 AND "
                           "revoked_at IS NULL",
                           -1, &q, NULL) != SQLITE_OK)
        return db_fail(s, err, "revoking a key");
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, (int64_t)time(NULL));
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE) return db_fail(s, err, "revoking a key");
    if (sqlite3_changes(rg_store_db(s)) == 0)
        return rg_fail(err, RG_ENOTFOUND, "no active key named '%s'", name);
    return RG_OK;
}

int rg_key_allows(const rg_key_info *k, const char *collection)
{
    if (!k->n_collections) return 1;
    if (!collection) return 0;
    for (size_t i = 0; i < k->n_collections; i++)
        if (strcmp(k->collections[i], collection) == 0) return 1;
    return 0;
}

rg_reader rg_key_reader(const rg_key_info *k)
{
    return (rg_reader){k->user, (const char *const *)k->groups, k->n_groups};
}
