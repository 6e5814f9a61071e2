// SHA-256 (FIPS 180-4), streaming. fairgen names every store object by this digest; a small C
// implementation replaces a whole TLS library (swift-crypto/BoringSSL) that took minutes to build.
#ifndef CSHA256_H
#define CSHA256_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t state[8];
    uint64_t length;      // bytes hashed so far
    uint8_t block[64];    // pending partial block
    size_t filled;        // bytes in `block`
} fg_sha256_ctx;

void fg_sha256_init(fg_sha256_ctx *ctx);
void fg_sha256_update(fg_sha256_ctx *ctx, const void *data, size_t count);
/// Writes the 32-byte digest; the context must be re-initialised before reuse.
void fg_sha256_final(fg_sha256_ctx *ctx, uint8_t digest[32]);

#endif
