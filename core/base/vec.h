/* vec.h — the one growable array and the one binary search of thinfs.
 *
 * A growable array is three plain variables the caller owns (a pointer, a
 * count, a capacity); TF_VEC_PUSH appends one slot and TF_VEC_RESERVE makes
 * room for a number of elements, doubling the capacity so n appends cost
 * O(n).  On overflow or out of memory both fail and leave the array as it
 * was, so the caller still frees it.
 *
 *	struct tf_thin_run *runs = NULL;
 *	size_t n = 0, cap = 0;
 *	struct tf_thin_run *r = TF_VEC_PUSH(runs, n, cap);
 *	if (!r)
 *		return tf_fail(ENOMEM, "%s: out of memory", what);
 *	*r = run;
 *
 * tf_partition_point is the binary search: every sorted lookup (the first
 * run that ends after an offset, the volume named x) is "the first element
 * for which a monotone predicate holds".
 */
#ifndef THINFS_BASE_VEC_H
#define THINFS_BASE_VEC_H

#include <stdbool.h>
#include <stddef.h>

/* Grows *arrp (a pointer to the array pointer, passed as void * so any
 * element type fits) to hold at least `need` elements of `size` bytes;
 * *cap is updated.  Returns 0 or -ENOMEM (also on size overflow). */
int tf_vec_reserve(void *arrp, size_t *cap, size_t need, size_t size);

#define TF_VEC_RESERVE(arr, cap, need) tf_vec_reserve(&(arr), &(cap), (need), sizeof(*(arr)))

/* Appends one uninitialised element: a pointer to it, or NULL (out of
 * memory; nothing changed). */
#define TF_VEC_PUSH(arr, n, cap) (TF_VEC_RESERVE(arr, cap, (n) + 1) < 0 ? NULL : &(arr)[(n)++])

/* The first index i in [0, n] for which pred(&base[i], key) is true, where
 * pred is false for a prefix of the array and true for the rest; n when it
 * is never true.  O(log n) calls of pred. */
size_t tf_partition_point(const void *base, size_t n, size_t size, const void *key,
			  bool (*pred)(const void *elem, const void *key));

#endif
