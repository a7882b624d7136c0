/* sha256.h — SHA-256 (FIPS 180-4), for stream digests and fingerprints.
 * The context is plain data, so a receive can save it to resume. */
#ifndef THINFS_SHA256_H
#define THINFS_SHA256_H

#include <stddef.h>
#include <stdint.h>

struct tf_sha256 {
	uint32_t h[8];
	uint64_t len; /* bytes hashed */
	uint8_t buf[64];
};

void tf_sha256_init(struct tf_sha256 *c);
void tf_sha256_update(struct tf_sha256 *c, const void *p, size_t n);
void tf_sha256_final(struct tf_sha256 *c, uint8_t out[32]);

#endif
