/* extmap.c — the chunk-map cursor behind volume reads and seeks. */
#include "extmap.h"

#include "core/base/err.h"
#include "core/pool/pool.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* Index of the first run that ends after chunk c (nruns if none). */
static size_t run_after(const struct tf_extmap *m, uint64_t c)
{
	size_t lo = 0, hi = m->nruns;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->runs[mid].vbegin + m->runs[mid].len <= c)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

ssize_t tf_extmap_read(const struct tf_extmap *m, struct tf_pool *p, void *buf, size_t len,
		       uint64_t off)
{
	const uint64_t cb = m->chunk_bytes;
	char *o = buf;
	uint64_t end;
	size_t i;

	if (off >= m->size_bytes)
		return 0;
	if (len > m->size_bytes - off)
		len = (size_t)(m->size_bytes - off);
	end = off + len;
	i = run_after(m, off / cb);
	while (off < end) {
		const struct tf_thin_run *r = i < m->nruns ? &m->runs[i] : NULL;
		uint64_t rb = r ? r->vbegin * cb : end, re = r ? (r->vbegin + r->len) * cb : end;
		uint64_t n;
		int rc;

		if (off < rb) { /* a hole up to the next run */
			n = (rb < end ? rb : end) - off;
			memset(o, 0, (size_t)n);
		} else {
			n = (re < end ? re : end) - off;
			rc = tf_pool_read(p, m->thin_id, o, (size_t)n, off,
					  r->dbegin * cb + (off - rb));
			if (rc < 0)
				return tf_fail_ctx(rc, "volume %s: ", m->name);
			i++;
		}
		o += n;
		off += n;
	}
	return (ssize_t)len;
}

int tf_extmap_seek(const struct tf_extmap *m, uint64_t off, int whence, uint64_t *res)
{
	const uint64_t cb = m->chunk_bytes;
	size_t i;

	if (off >= m->size_bytes)
		return -ENXIO;
	i = run_after(m, off / cb);
	if (whence == SEEK_DATA) {
		if (i == m->nruns || m->runs[i].vbegin * cb >= m->size_bytes)
			return -ENXIO;
		*res = m->runs[i].vbegin * cb > off ? m->runs[i].vbegin * cb : off;
		return 0;
	}
	if (i == m->nruns || m->runs[i].vbegin * cb > off) {
		*res = off;
		return 0;
	}
	/* The end of the stretch of adjacent runs holding off. */
	while (i + 1 < m->nruns && m->runs[i + 1].vbegin == m->runs[i].vbegin + m->runs[i].len)
		i++;
	*res = (m->runs[i].vbegin + m->runs[i].len) * cb;
	if (*res > m->size_bytes)
		*res = m->size_bytes;
	return 0;
}
