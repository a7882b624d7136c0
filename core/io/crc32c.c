/* crc32c.c — CRC-32C (reflected polynomial 0x82F63B78): the SSE4.2 crc32
 * instruction where the CPU has it (checked once at run time), else
 * table-driven slicing by 8 with tables filled on first use. */
#include "core/io/crc32c.h"
#include "core/base/endian.h" /* little-endian hosts only */

#include <pthread.h>
#include <string.h>

static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void table_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
		table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const unsigned char *p,
							 size_t n)
{
	uint64_t c = crc;

	for (; n >= 8; p += 8, n -= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
	}
	crc = (uint32_t)c;
	while (n--)
		crc = __builtin_ia32_crc32qi(crc, *p++);
	return crc;
}

static int have_hw = -1;

static void hw_init(void)
{
	__builtin_cpu_init();
	have_hw = __builtin_cpu_supports("sse4.2");
}

static pthread_once_t hw_once = PTHREAD_ONCE_INIT;
#endif

uint32_t tf_crc32c(uint32_t crc, const void *data, size_t n)
{
#if defined(__x86_64__)
	pthread_once(&hw_once, hw_init);
	if (have_hw)
		return crc_hw(crc, data, n);
#endif
	return tf_crc32c_sw(crc, data, n);
}

uint32_t tf_crc32c_sw(uint32_t crc, const void *data, size_t n)
{
	const unsigned char *p = data;

	pthread_once(&table_once, table_init);
	while (n >= 8) {
		uint32_t lo, hi;
		memcpy(&lo, p, 4);
		memcpy(&hi, p + 4, 4);
		lo ^= crc;
		crc = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^
		      table[5][(lo >> 16) & 0xff] ^ table[4][lo >> 24] ^ table[3][hi & 0xff] ^
		      table[2][(hi >> 8) & 0xff] ^ table[1][(hi >> 16) & 0xff] ^ table[0][hi >> 24];
		p += 8;
		n -= 8;
	}
	while (n--)
		crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
	return crc;
}
