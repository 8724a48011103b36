/*
 * auth_jwt.c — JWT checks for `ragd serve` (auth_jwt.h) over libjwt.
 */
#include "api/auth_jwt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <jwt.h>

#include "engine/base/mem.h"

static rg_status read_key(const char *path, unsigned char **out, size_t *len, rg_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return rg_fail(err, RG_EIO, "%s: %s", path, strerror(errno));
    unsigned char *buf = rg_malloc(SERVE_JWT_KEY_MAX + 1);
    size_t n = buf ? fread(buf, 1, SERVE_JWT_KEY_MAX + 1, f) : 0;
    int bad = ferror(f);
    fclose(f);
    if (!buf) return rg_fail(err, RG_ENOMEM, "out of memory");
    if (bad || n > SERVE_JWT_KEY_MAX) {
        rg_free(buf);
        return bad ? rg_fail(err, RG_EIO, "%s: read error", path)
                   : rg_fail(err, RG_ELIMIT, "%s is larger than %u bytes", path, SERVE_JWT_KEY_MAX);
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return RG_OK;
}

rg_status serve_jwt_load(serve_jwt *j, const char *secret_file, const char *public_key_file,
                         rg_error *err)
{
    memset(j, 0, sizeof *j);
    if (!secret_file == !public_key_file)
        return rg_fail(err, RG_EINVAL, "give one of --jwt-secret-file and --jwt-public-key");
    rg_status st = read_key(secret_file ? secret_file : public_key_file, &j->key, &j->key_len, err);
    if (st) return st;
    if (secret_file) {
        while (j->key_len && (j->key[j->key_len - 1] == '\n' || j->key[j->key_len - 1] == '\r'))
            j->key[--j->key_len] = '\0';
        if (j->key_len < SERVE_JWT_SECRET_MIN) {
            serve_jwt_free(j);
            return rg_fail(err, RG_EINVAL, "the JWT secret must be at least %d bytes",
                           SERVE_JWT_SECRET_MIN);
        }
    } else {
        j->rs256 = 1;
        if (!strstr((const char *)j->key, "-----BEGIN PUBLIC KEY-----")) {
            serve_jwt_free(j);
            return rg_fail(err, RG_EINVAL, "%s is not a PEM public key", public_key_file);
        }
    }
    j->enabled = 1;
    return RG_OK;
}

void serve_jwt_free(serve_jwt *j)
{
    if (!j) return;
    if (j->key) memset(j->key, 0, j->key_len);
    rg_free(j->key);
    memset(j, 0, sizeof *j);
}

int serve_jwt_looks_like(const char *t)
{
    int dots = 0;
    for (; *t; t++) {
        if (*t == '.')
            dots++;
        else if (!((*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z') ||
                   (*t >= '0' && *t <= '9') || *t == '-' || *t == '_' || *t == '='))
            return 0;
    }
    return dots == 2;
}

/* A claim that is an array of strings, copied into a new vector. */
static rg_status string_claims(jwt_t *jwt, const char *claim, size_t max, char ***out, size_t *n,
                               rg_error *err)
{
    *out = NULL;
    *n = 0;
    char *json = jwt_get_grants_json(jwt, claim);
    if (!json) return RG_OK;
    cJSON *a = cJSON_Parse(json);
    free(json); /* libjwt's allocation */
    if (!cJSON_IsArray(a)) {
        cJSON_Delete(a);
        return rg_fail(err, RG_EINVAL, "the token's \"%s\" is not an array of names", claim);
    }
    size_t m = (size_t)cJSON_GetArraySize(a);
    if (m > max) {
        cJSON_Delete(a);
        return rg_fail(err, RG_EINVAL, "the token names more than %zu %s", max, claim);
    }
    char **v = m ? rg_calloc(m, sizeof *v) : NULL;
    rg_status st = m && !v ? rg_fail(err, RG_ENOMEM, "out of memory") : RG_OK;
    size_t i = 0;
    for (const cJSON *e = a->child; !st && e; e = e->next) {
        if (!cJSON_IsString(e) || !e->valuestring[0] || strlen(e->valuestring) > RG_KEY_USER_MAX)
            st = rg_fail(err, RG_EINVAL, "the token's \"%s\" holds names", claim);
        else if (!(v[i] = rg_strdup(e->valuestring)))
            st = rg_fail(err, RG_ENOMEM, "out of memory");
        else
            i++;
    }
    cJSON_Delete(a);
    if (st) {
        for (size_t k = 0; k < i; k++)
            rg_free(v[k]);
        rg_free(v);
        return st;
    }
    *out = v;
    *n = i;
    return RG_OK;
}

/* Whether the "aud" claim (a string or an array of strings) names want. */
static int audience_ok(jwt_t *jwt, const char *want)
{
    const char *one = jwt_get_grant(jwt, "aud");
    if (one) return strcmp(one, want) == 0;
    char *json = jwt_get_grants_json(jwt, "aud");
    cJSON *a = json ? cJSON_Parse(json) : NULL;
    free(json);
    int ok = 0;
    for (const cJSON *e = cJSON_IsArray(a) ? a->child : NULL; e && !ok; e = e->next)
        ok = cJSON_IsString(e) && strcmp(e->valuestring, want) == 0;
    cJSON_Delete(a);
    return ok;
}

rg_status serve_jwt_verify(const serve_jwt *j, const char *token, rg_key_info *out, rg_error *err)
{
    memset(out, 0, sizeof *out);
    if (!j->enabled) return rg_fail(err, RG_EINVAL, "this server takes no tokens");
    if (strlen(token) > SERVE_JWT_TOKEN_MAX)
        return rg_fail(err, RG_EINVAL, "the token is longer than %d bytes", SERVE_JWT_TOKEN_MAX);
    jwt_t *jwt = NULL;
    if (jwt_decode(&jwt, token, j->key, (int)j->key_len) != 0 || !jwt)
        return rg_fail(err, RG_EINVAL, "the token's signature does not verify");
    rg_status st = RG_OK;
    jwt_alg_t alg = jwt_get_alg(jwt);
    if (alg != (j->rs256 ? JWT_ALG_RS256 : JWT_ALG_HS256)) {
        st = rg_fail(err, RG_EINVAL, "the token is signed with %s, not %s", jwt_alg_str(alg),
                     j->rs256 ? "RS256" : "HS256");
        goto done;
    }
    time_t now = time(NULL);
    errno = 0;
    long exp = jwt_get_grant_int(jwt, "exp");
    if (errno == ENOENT || exp <= 0) {
        st = rg_fail(err, RG_EINVAL, "the token has no \"exp\"");
        goto done;
    }
    if ((time_t)exp <= now) {
        st = rg_fail(err, RG_EINVAL, "the token has expired");
        goto done;
    }
    errno = 0;
    long nbf = jwt_get_grant_int(jwt, "nbf");
    if (errno != ENOENT && (time_t)nbf > now) {
        st = rg_fail(err, RG_EINVAL, "the token is not valid yet");
        goto done;
    }
    const char *iss = jwt_get_grant(jwt, "iss");
    if (j->issuer[0] && (!iss || strcmp(iss, j->issuer) != 0)) {
        st = rg_fail(err, RG_EINVAL, "the token's issuer is not %s", j->issuer);
        goto done;
    }
    if (j->audience[0] && !audience_ok(jwt, j->audience)) {
        st = rg_fail(err, RG_EINVAL, "the token is not meant for %s", j->audience);
        goto done;
    }
    const char *sub = jwt_get_grant(jwt, "sub");
    if (!sub || !sub[0] || strlen(sub) > RG_KEY_USER_MAX) {
        st = rg_fail(err, RG_EINVAL, "the token names no user (\"sub\")");
        goto done;
    }
    const char *scope = jwt_get_grant(jwt, "scope");
    unsigned scopes = 0;
    if (!scope) {
        scopes = RG_SCOPE_READ;
    } else {
        char buf[64];
        size_t n = strlen(scope);
        if (n >= sizeof buf) n = sizeof buf - 1;
        for (size_t i = 0; i < n; i++) /* "read write" -> "read,write" */
            buf[i] = scope[i] == ' ' ? ',' : scope[i];
        buf[n] = '\0';
        scopes = rg_scopes_parse(buf);
    }
    if (!scopes) {
        st = rg_fail(err, RG_EINVAL,
                     "the token's \"scope\" is read, write and admin, "
                     "space-separated");
        goto done;
    }
    snprintf(out->name, sizeof out->name, "jwt:%.*s", (int)(sizeof out->name - 5), sub);
    snprintf(out->user, sizeof out->user, "%s", sub);
    out->scopes = scopes;
    out->created_at = (int64_t)now;
    st = string_claims(jwt, "groups", RG_READER_GROUPS_MAX, &out->groups, &out->n_groups, err);
    if (!st)
        st = string_claims(jwt, "collections", RG_KEY_COLLECTIONS_MAX, &out->collections,
                           &out->n_collections, err);
    if (st) rg_key_info_free(out);
done:
    jwt_free(jwt);
    return st;
}
