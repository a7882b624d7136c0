/* volume.c — a thin volume: reads, seeks and zero-copy maps over its chunk
 * map (see volume.h).  A read binary-searches its first run and walks
 * forward; holes become zeros with no I/O. */
#include "core/vol/volume.h"
#include "core/base/vec.h"

#include "core/base/err.h"
#include "core/io/bio.h"
#include "core/pool/pool.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct tf_volume {
	atomic_int refs;
	struct tf_pool *pool;
	uint32_t thin_id;
	char *name;
	uint64_t size_bytes;
	uint64_t chunk_bytes;
	struct tf_thin_run *runs; /* ascending vbegin */
	size_t nruns;
	struct tf_bio bio; /* the block-I/O view; priv is this volume */
};

static int volume_bio_pread(struct tf_bio *b, void *buf, size_t len, uint64_t off)
{
	struct tf_volume *v = b->priv;
	ssize_t n = tf_volume_read(v, buf, len, off);

	if (n < 0)
		return (int)n;
	/* tf_bio_pread bounds-checks first, so a short read is a bug. */
	return (size_t)n == len
		   ? 0
		   : tf_fail(EIO, "volume %s: read of %zu bytes at %" PRIu64 " came back short",
			     v->name, len, off);
}

static void volume_bio_close(struct tf_bio *b)
{
	(void)b; /* borrowed: the volume's references decide */
}

static const struct tf_bio_ops volume_bio_ops = {
    .pread = volume_bio_pread,
    .close = volume_bio_close,
};

int tf_volume_open(struct tf_pool *p, const struct tf_volume_info *in, struct tf_thin_run *runs,
		   size_t nruns, struct tf_volume **out)
{
	struct tf_volume *v;

	assert(p && in && in->name && out && (runs || nruns == 0));
	if (in->chunk_bytes == 0) {
		free(runs);
		return tf_fail(EINVAL, "volume %s: chunk size 0", in->name);
	}
	for (size_t i = 1; i < nruns; i++) {
		if (runs[i].vbegin < runs[i - 1].vbegin + runs[i - 1].len) {
			free(runs);
			return tf_fail(EINVAL, "volume %s: chunk map out of order at run %zu",
				       in->name, i);
		}
	}
	if (!(v = calloc(1, sizeof(*v))) || !(v->name = strdup(in->name))) {
		free(v);
		free(runs);
		return tf_fail(ENOMEM, "volume %s: out of memory", in->name);
	}
	atomic_init(&v->refs, 1);
	v->pool = p;
	v->thin_id = in->thin_id;
	v->size_bytes = in->size_bytes;
	v->chunk_bytes = in->chunk_bytes;
	v->runs = runs;
	v->nruns = nruns;
	v->bio.ops = &volume_bio_ops;
	snprintf(v->bio.name, sizeof(v->bio.name), "volume %s", in->name);
	v->bio.size = in->size_bytes;
	v->bio.priv = v;
	*out = v;
	return 0;
}

void tf_volume_get(struct tf_volume *v)
{
	atomic_fetch_add(&v->refs, 1);
}

void tf_volume_put(struct tf_volume *v)
{
	if (!v || atomic_fetch_sub(&v->refs, 1) != 1)
		return;
	free(v->runs);
	free(v->name);
	free(v);
}

const char *tf_volume_name(const struct tf_volume *v)
{
	return v->name;
}

uint32_t tf_volume_thin_id(const struct tf_volume *v)
{
	return v->thin_id;
}

uint64_t tf_volume_size(const struct tf_volume *v)
{
	return v->size_bytes;
}

uint64_t tf_volume_chunk_bytes(const struct tf_volume *v)
{
	return v->chunk_bytes;
}

const struct tf_thin_run *tf_volume_runs(const struct tf_volume *v, size_t *n)
{
	*n = v->nruns;
	return v->runs;
}

struct tf_bio *tf_volume_bio(struct tf_volume *v)
{
	return &v->bio;
}

static bool run_ends_after(const void *elem, const void *key)
{
	const struct tf_thin_run *r = elem;

	return r->vbegin + r->len > *(const uint64_t *)key;
}

/* Index of the first run that ends after chunk c (nruns if none). */
static size_t run_after(const struct tf_volume *v, uint64_t c)
{
	return tf_partition_point(v->runs, v->nruns, sizeof(*v->runs), &c, run_ends_after);
}

uint64_t tf_volume_mapped_bytes(const struct tf_volume *v, uint64_t off, uint64_t len)
{
	const uint64_t cb = v->chunk_bytes;
	uint64_t end = off + len, sum = 0;

	for (size_t i = run_after(v, off / cb); i < v->nruns && v->runs[i].vbegin * cb < end; i++) {
		uint64_t s = v->runs[i].vbegin * cb, e = (v->runs[i].vbegin + v->runs[i].len) * cb;
		s = s > off ? s : off;
		e = e < end ? e : end;
		if (e > s)
			sum += e - s;
	}
	return sum;
}

/* One step of a walk over [off, end): the stretch starting at off, either a
 * hole up to the next run or the part of run *i holding off. */
struct step {
	uint64_t len;
	const struct tf_thin_run *run; /* NULL: a hole */
	uint64_t poff;		       /* data-device byte of off, if mapped */
};

static struct step next_step(const struct tf_volume *v, size_t *i, uint64_t off, uint64_t end)
{
	const uint64_t cb = v->chunk_bytes;
	const struct tf_thin_run *r = *i < v->nruns ? &v->runs[*i] : NULL;
	uint64_t rb = r ? r->vbegin * cb : end, re = r ? (r->vbegin + r->len) * cb : end;
	struct step s = {0};

	if (off < rb) {
		s.len = (rb < end ? rb : end) - off;
		return s;
	}
	s.len = (re < end ? re : end) - off;
	s.run = r;
	s.poff = r->dbegin * cb + (off - rb);
	if (off + s.len >= re)
		(*i)++;
	return s;
}

ssize_t tf_volume_read(struct tf_volume *v, void *buf, size_t len, uint64_t off)
{
	char *o = buf;
	uint64_t end;
	size_t i;

	assert(v && (buf || len == 0));
	if (off >= v->size_bytes)
		return 0;
	if (len > v->size_bytes - off)
		len = (size_t)(v->size_bytes - off);
	end = off + len;
	i = run_after(v, off / v->chunk_bytes);
	while (off < end) {
		struct step s = next_step(v, &i, off, end);

		if (!s.run) {
			memset(o, 0, (size_t)s.len);
		} else {
			int rc = tf_pool_read(v->pool, v->thin_id, o, (size_t)s.len, off, s.poff);
			if (rc < 0)
				return tf_fail_ctx(rc, "volume %s: ", v->name);
		}
		o += s.len;
		off += s.len;
	}
	return (ssize_t)len;
}

ssize_t tf_volume_map(struct tf_volume *v, uint64_t off, size_t len, struct tf_volume_seg *segs,
		      size_t max, size_t *n)
{
	uint64_t start = off, end;
	size_t i;

	assert(v && segs && n);
	*n = 0;
	if (off >= v->size_bytes)
		return 0;
	if (len > v->size_bytes - off)
		len = (size_t)(v->size_bytes - off);
	end = off + len;
	i = run_after(v, off / v->chunk_bytes);
	while (off < end && *n < max) {
		struct step s = next_step(v, &i, off, end);
		struct tf_volume_seg *g = &segs[*n];

		g->len = s.len;
		g->fd = -1;
		g->fd_off = 0;
		if (s.run) {
			int rc = tf_pool_data_fd(v->pool, v->thin_id, (size_t)s.len, off, s.poff,
						 &g->fd, &g->fd_off);
			if (rc < 0)
				return rc == -ENOTSUP ? rc
						      : tf_fail_ctx(rc, "volume %s: ", v->name);
		}
		(*n)++;
		off += s.len;
	}
	return (ssize_t)(off - start);
}

int tf_volume_seek(const struct tf_volume *v, uint64_t off, int whence, uint64_t *res)
{
	const uint64_t cb = v->chunk_bytes;
	size_t i;

	if (off >= v->size_bytes)
		return -ENXIO;
	i = run_after(v, off / cb);
	if (whence == SEEK_DATA) {
		if (i == v->nruns || v->runs[i].vbegin * cb >= v->size_bytes)
			return -ENXIO;
		*res = v->runs[i].vbegin * cb > off ? v->runs[i].vbegin * cb : off;
		return 0;
	}
	if (whence != SEEK_HOLE)
		return tf_fail(EINVAL,
			       "volume %s: seek whence %d is neither SEEK_DATA nor SEEK_HOLE",
			       v->name, whence);
	if (i == v->nruns || v->runs[i].vbegin * cb > off) {
		*res = off;
		return 0;
	}
	/* The end of the stretch of adjacent runs holding off. */
	while (i + 1 < v->nruns && v->runs[i + 1].vbegin == v->runs[i].vbegin + v->runs[i].len)
		i++;
	*res = (v->runs[i].vbegin + v->runs[i].len) * cb;
	if (*res > v->size_bytes)
		*res = v->size_bytes;
	return 0;
}
