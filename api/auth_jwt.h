/*
 * auth_jwt.h — JSON Web Tokens as an alternative to API keys for
 * `ragd serve`: an identity provider signs a token naming the user, its
 * groups and scopes; ragd checks it with a shared secret (HS256) or the
 * provider's public key (RS256), through Debian's libjwt.
 *
 * A token is accepted only when its header's alg is the configured one
 * (never "none", never HS256 against an RSA key), its signature verifies,
 * it carries "exp" in the future (a token without one is refused), "nbf"
 * (if present) is past, and "iss" / "aud" match when the server names
 * them. Claims: "sub" is the user (required); "groups", an array of
 * strings; "scope", space-separated scopes (default "read"); "collections",
 * an array limiting the collections (default: all). The identity lands in
 * an rg_key_info (index/keys.h) named "jwt:<sub>", so routes treat both
 * kinds of credential alike.
 */
#ifndef RG_AUTH_JWT_H
#define RG_AUTH_JWT_H

#include <stddef.h>

#include "engine/base/status.h"
#include "index/keys.h"

/* Longest token accepted (bytes). */
#define SERVE_JWT_TOKEN_MAX 8192
/* Largest key file read (bytes). */
#define SERVE_JWT_KEY_MAX (64u << 10)
/* Shortest HS256 secret accepted (bytes): RFC 7518 asks for the hash's size. */
#define SERVE_JWT_SECRET_MIN 32
/* Longest issuer or audience configured. */
#define SERVE_JWT_NAME_MAX 256

typedef struct serve_jwt {
    int enabled;
    int rs256;          /* 0: HS256 */
    unsigned char *key; /* owned: the secret or the PEM public key */
    size_t key_len;
    char issuer[SERVE_JWT_NAME_MAX + 1];   /* "" : not checked */
    char audience[SERVE_JWT_NAME_MAX + 1]; /* "" : not checked */
} serve_jwt;

/*
 * Reads the key: secret_file (HS256; its bytes, a trailing newline
 * dropped) or public_key_file (RS256, PEM); exactly one. Errors: RG_EINVAL
 * (both or neither, a short secret, not a PEM public key), RG_EIO, RG_ELIMIT.
 */
rg_status serve_jwt_load(serve_jwt *j, const char *secret_file, const char *public_key_file,
                         rg_error *err);
void serve_jwt_free(serve_jwt *j);

/* 1 when a bearer credential looks like a JWT (three base64url parts), not an API key. */
int serve_jwt_looks_like(const char *token);

/*
 * Checks token and fills *out (rg_key_info_free). RG_EINVAL with the
 * reason for any token that is not accepted (the caller answers 401).
 */
rg_status serve_jwt_verify(const serve_jwt *j, const char *token, rg_key_info *out, rg_error *err);

#endif
