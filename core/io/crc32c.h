/* crc32c.h — CRC-32C (Castagnoli), as dm-persistent-data checksums blocks. */
#ifndef THINFS_CRC32C_H
#define THINFS_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* The raw CRC register after feeding p (no final inversion), like the
 * kernel's crc32c(seed, p, n). */
uint32_t tf_crc32c(uint32_t seed, const void *p, size_t n);
/* The table-driven path alone (what CPUs without SSE4.2 run), for tests. */
uint32_t tf_crc32c_sw(uint32_t seed, const void *p, size_t n);

#endif
