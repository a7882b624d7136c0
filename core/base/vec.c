/* vec.c — growable arrays and the partition-point binary search (vec.h). */
#include "core/base/vec.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int tf_vec_reserve(void *arrp, size_t *cap, size_t need, size_t size)
{
	assert(arrp && cap && size > 0);
	void *arr, *grown;
	size_t ncap;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap : 16;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2)
			return -ENOMEM;
		ncap *= 2;
	}
	if (size && ncap > SIZE_MAX / size)
		return -ENOMEM;
	/* The array pointer is read and written through memcpy: arrp points at
	 * a T *, whatever T is, and all object pointers share one
	 * representation on the platforms thinfs runs on. */
	memcpy(&arr, arrp, sizeof(arr));
	grown = realloc(arr, ncap * size);
	if (!grown)
		return -ENOMEM;
	memcpy(arrp, &grown, sizeof(grown));
	*cap = ncap;
	return 0;
}

size_t tf_partition_point(const void *base, size_t n, size_t size, const void *key,
			  bool (*pred)(const void *elem, const void *key))
{
	assert(pred && (base || n == 0));
	const char *b = base;
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (pred(b + mid * size, key))
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}
