/* usage.c — exclusive and shared chunk counts per device.
 *
 * A data chunk is exclusive to a device when no other mapping in the pool
 * points at it (what thin_ls calls EXCLUSIVE); shared = mapped - exclusive.
 * One sweep over the data-chunk ranges of every run, sorted by start:
 * between two consecutive range boundaries the set of covering runs is
 * constant, and when exactly one run covers the span it is exclusive to
 * that run's device.
 */
#include "index_internal.h"

#include "core/base/err.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct edge {
	uint64_t pos;
	uint32_t dev;
	int32_t delta; /* +1 where a run starts, -1 where it ends */
};

/* LSD radix sort of the edges by pos, one byte per pass, skipping bytes
 * that are the same in every edge: a scrambled pool has millions of runs
 * and qsort's comparisons were a quarter of a full build.  The order among
 * edges at one position does not matter: the sweep only counts spans
 * between distinct positions. */
static int sort_edges(struct edge *e, size_t n)
{
	size_t count[8][256] = {{0}};
	struct edge *tmp, *src = e, *dst;

	if (n < 2)
		return 0;
	if (!(tmp = malloc(n * sizeof(*tmp))))
		return tf_fail(ENOMEM, "index: out of memory computing usage");
	dst = tmp;
	for (size_t i = 0; i < n; i++)
		for (int b = 0; b < 8; b++)
			count[b][(e[i].pos >> (8 * b)) & 0xff]++;
	for (int b = 0; b < 8; b++) {
		size_t sum = 0;

		if (count[b][(e[0].pos >> (8 * b)) & 0xff] == n)
			continue; /* every edge has this byte */
		for (int v = 0; v < 256; v++) {
			size_t c = count[b][v];

			count[b][v] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			dst[count[b][(src[i].pos >> (8 * b)) & 0xff]++] = src[i];
		struct edge *t = src;
		src = dst;
		dst = t;
	}
	if (src != e)
		memcpy(e, src, n * sizeof(*e));
	free(tmp);
	return 0;
}

struct dev_count {
	uint32_t dev;
	uint64_t exclusive;
};

static int cmp_dev(const void *a, const void *b)
{
	uint32_t x = ((const struct dev_count *)a)->dev, y = ((const struct dev_count *)b)->dev;

	return (x > y) - (x < y);
}

static struct dev_count *dev_slot(struct dev_count *c, size_t n, uint32_t dev)
{
	struct dev_count key = {.dev = dev};

	return bsearch(&key, c, n, sizeof(*c), cmp_dev);
}

static int load_edges(struct tf_index *ix, struct edge **out, size_t *n)
{
	sqlite3_stmt *st;
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = tf_sql_prepare(ix, "SELECT dev, dbegin, len FROM extents", &st)) < 0)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint32_t dev = (uint32_t)sqlite3_column_int64(st, 0);
		uint64_t b = (uint64_t)sqlite3_column_int64(st, 1);
		uint64_t l = (uint64_t)sqlite3_column_int64(st, 2);

		if (*n + 2 > cap) {
			struct edge *p = realloc(*out, (cap = cap ? 2 * cap : 1024) * sizeof(*p));
			if (!p) {
				sqlite3_finalize(st);
				free(*out);
				return tf_fail(ENOMEM, "index: out of memory computing usage");
			}
			*out = p;
		}
		(*out)[(*n)++] = (struct edge){b, dev, +1};
		(*out)[(*n)++] = (struct edge){b + l, dev, -1};
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		free(*out);
		return tf_sql_fail(ix, rc, "reading extents");
	}
	return 0;
}

static int load_devs(struct tf_index *ix, struct dev_count **out, size_t *n)
{
	sqlite3_stmt *st;
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = tf_sql_prepare(ix, "SELECT thin_id FROM devices ORDER BY thin_id", &st)) < 0)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			struct dev_count *p =
			    realloc(*out, (cap = cap ? 2 * cap : 64) * sizeof(*p));
			if (!p) {
				sqlite3_finalize(st);
				free(*out);
				return tf_fail(ENOMEM, "index: out of memory computing usage");
			}
			*out = p;
		}
		(*out)[(*n)++] = (struct dev_count){(uint32_t)sqlite3_column_int64(st, 0), 0};
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		free(*out);
		return tf_sql_fail(ix, rc, "reading devices");
	}
	return 0;
}

int tf_usage_update(struct tf_index *ix)
{
	struct dev_count *devs = NULL;
	struct edge *e = NULL;
	sqlite3_stmt *up = NULL;
	size_t ne, nd;
	int64_t depth = 0;
	uint64_t devsum = 0; /* sum of the devices of the covering runs */
	int rc;

	if ((rc = load_edges(ix, &e, &ne)) < 0 || (rc = load_devs(ix, &devs, &nd)) < 0)
		goto out;
	if ((rc = sort_edges(e, ne)) < 0)
		goto out;
	for (size_t i = 0; i < ne; i++) {
		if (depth == 1 && i > 0 && e[i].pos > e[i - 1].pos) {
			struct dev_count *d = dev_slot(devs, nd, (uint32_t)devsum);
			if (d)
				d->exclusive += e[i].pos - e[i - 1].pos;
		}
		depth += e[i].delta;
		devsum += e[i].delta > 0 ? e[i].dev : -(uint64_t)e[i].dev;
	}
	if ((rc = tf_sql_prepare(ix,
				 "UPDATE devices SET exclusive_chunks = ?2, "
				 "shared_chunks = mapped_chunks - ?2 WHERE thin_id = ?1",
				 &up)) < 0)
		goto out;
	for (size_t i = 0; i < nd; i++) {
		sqlite3_bind_int64(up, 1, devs[i].dev);
		sqlite3_bind_int64(up, 2, (sqlite3_int64)devs[i].exclusive);
		rc = sqlite3_step(up);
		sqlite3_reset(up);
		if (rc != SQLITE_DONE) {
			rc = tf_sql_fail(ix, rc, "writing usage");
			goto out;
		}
	}
	rc = 0;
out:
	sqlite3_finalize(up);
	free(e);
	free(devs);
	return rc;
}
