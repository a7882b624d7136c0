/* endian.h — little-endian loads and stores for on-disk formats, safe on
 * unaligned buffers (the dm-thin metadata and the delta stream are LE). */
#ifndef THINFS_ENDIAN_H
#define THINFS_ENDIAN_H

#include <stdint.h>
#include <string.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "thinfs reads little-endian formats by copying: a big-endian host needs swaps here");

static inline uint32_t tf_le32(const void *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint64_t tf_le64(const void *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline void tf_put_le32(void *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

static inline void tf_put_le64(void *p, uint64_t v)
{
	memcpy(p, &v, sizeof(v));
}

#endif
