/* sha256: SHA-256 message digest (FIPS 180-4, clause 6.2).
 *
 * Used for the archive's audit hash chain and page image digests. Streaming
 * interface: init, update any number of times, final. The context is plain
 * storage the caller embeds; nothing is allocated.
 * Threads: a context belongs to one thread at a time; no shared state. */
#ifndef FAX_SHA256_H
#define FAX_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_LEN 32
#define SHA256_BLOCK_LEN  64

/* All fields private. */
typedef struct fx_sha256 {
    uint32_t h[8];                      /* intermediate hash value H(i) */
    uint64_t total;                     /* message length so far, in bytes */
    uint8_t block[SHA256_BLOCK_LEN];    /* partial block not yet compressed */
    size_t fill;                        /* bytes used in block[] */
} fx_sha256_t;

/* Sets H(0) (FIPS 180-4 clause 5.3.3). */
void fx_sha256_init(fx_sha256_t *c);
/* Hashes len more bytes of the message (data may be NULL when len is 0). */
void fx_sha256_update(fx_sha256_t *c, const void *data, size_t len);
/* Pads (clause 5.1.1), finishes and writes the 32-byte digest; c is then spent
 * (init it again to reuse). */
void fx_sha256_final(fx_sha256_t *c, uint8_t out[SHA256_DIGEST_LEN]);
/* One-shot digest of a buffer. */
void fx_sha256(const void *data, size_t len, uint8_t out[SHA256_DIGEST_LEN]);
/* Lower-case hex of a digest; hex must hold 65 bytes. */
void fx_sha256_hex(const uint8_t d[SHA256_DIGEST_LEN], char hex[2 * SHA256_DIGEST_LEN + 1]);

#endif
