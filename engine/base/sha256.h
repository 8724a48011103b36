/*
 * sha256.h — SHA-256 (FIPS 180-4), used for content hashes of ingested
 * documents and for checksums of downloaded model files.
 */
#ifndef RG_SHA256_H
#define RG_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define RG_SHA256_HEX_LEN 64

typedef struct rg_sha256 {
    uint32_t h[8];
    uint64_t total;
    unsigned char block[64];
    size_t used;
} rg_sha256;

void rg_sha256_init(rg_sha256 *ctx);
void rg_sha256_update(rg_sha256 *ctx, const void *data, size_t n);
void rg_sha256_final(rg_sha256 *ctx, unsigned char out[32]);
/* One-shot: writes 64 lowercase hex digits and a NUL into hex (65 bytes). */
void rg_sha256_hex(const void *data, size_t n, char hex[RG_SHA256_HEX_LEN + 1]);

#endif
