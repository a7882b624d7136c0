/* delta.c — planning a delta stream from the index (see delta.h). */
#include "delta.h"

#include "extmap.h"
#include "index.h"

#include "core/base/err.h"
#include "core/pool/pool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tf_delta {
	struct tf_pool *pool;
	struct tf_thin_run *runs; /* the result's chunk map */
	struct tf_extmap map;
	char name[128];
	struct tf_stream_plan *plan;
	uint64_t changed;
};

static int delta_read_volume(void *ctx, void *buf, size_t len, uint64_t voff)
{
	struct tf_delta *d = ctx;
	ssize_t n = tf_extmap_read(&d->map, d->pool, buf, len, voff);

	if (n < 0)
		return (int)n;
	return (size_t)n == len ? 0
				: tf_fail(EIO, "volume %s: short read at %llu", d->name,
					  (unsigned long long)voff);
}

static const struct tf_ix_dev *find(const struct tf_ix_dev *devs, size_t n, uint32_t id)
{
	for (size_t i = 0; i < n; i++)
		if (devs[i].thin_id == id)
			return &devs[i];
	return NULL;
}

/* Records of a full stream: every mapped run. */
static int full_records(struct tf_delta *d, struct tf_stream_recs *recs)
{
	const uint64_t cb = d->map.chunk_bytes;
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < d->map.nruns; i++)
		rc = tf_stream_recs_add(recs, TF_REC_DATA, d->runs[i].vbegin * cb,
					d->runs[i].len * cb, d->map.size_bytes);
	return rc;
}

static int incremental_records(struct tf_delta *d, struct tf_index *ix, uint32_t base, uint32_t lv,
			       struct tf_stream_recs *recs)
{
	const uint64_t cb = d->map.chunk_bytes;
	struct tf_ix_change *ch = NULL;
	size_t n = 0;
	int rc = tf_index_diff(ix, d->pool, base, lv, &ch, &n, NULL);

	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = tf_stream_recs_add(
		    recs, ch[i].kind == TF_DIFF_LEFT_ONLY ? TF_REC_ZERO : TF_REC_DATA,
		    ch[i].run.vbegin * cb, ch[i].run.len * cb, d->map.size_bytes);
	free(ch); /* also when adding a record failed midway */
	return rc;
}

int tf_delta_open(struct tf_index *ix, struct tf_pool *p, uint32_t lv_id, uint32_t base_id,
		  struct tf_delta **out)
{
	struct tf_stream_header h = {.base_thin_id = TF_STREAM_NO_BASE};
	struct tf_stream_recs recs = {0};
	struct tf_thin_run *base_runs = NULL;
	const struct tf_ix_dev *lv, *base = NULL;
	struct tf_ix_dev *devs = NULL;
	struct tf_delta *d;
	struct tf_ix_pool ip;
	size_t ndev = 0, nbase = 0;
	int rc;

	if (!(d = calloc(1, sizeof(*d))))
		return tf_fail(ENOMEM, "delta: out of memory");
	d->pool = p;
	if ((rc = tf_index_pool(ix, &ip)) < 0 || (rc = tf_index_devices(ix, &devs, &ndev)) < 0)
		goto out;
	lv = find(devs, ndev, lv_id);
	base = base_id == TF_STREAM_NO_BASE ? NULL : find(devs, ndev, base_id);
	if (!lv || (base_id != TF_STREAM_NO_BASE && !base)) {
		rc = tf_fail(ENOENT, "delta: no thin device %u in the index", lv ? base_id : lv_id);
		goto out;
	}
	snprintf(d->name, sizeof(d->name), "%s", lv->name);
	if ((rc = tf_index_extents(ix, lv_id, &d->runs, &d->map.nruns)) < 0)
		goto out;
	d->map = (struct tf_extmap){.thin_id = lv_id,
				    .name = d->name,
				    .runs = d->runs,
				    .nruns = d->map.nruns,
				    .chunk_bytes = (uint64_t)ip.chunk_sectors * 512,
				    .size_bytes = lv->size_bytes};
	h.incremental = base != NULL;
	h.chunk_bytes = d->map.chunk_bytes;
	h.volume_bytes = lv->size_bytes;
	h.result_thin_id = lv_id;
	snprintf(h.identity, sizeof(h.identity), "%.127s", ip.identity);
	snprintf(h.result_uuid, sizeof(h.result_uuid), "%s", lv->lv_id);
	snprintf(h.result_name, sizeof(h.result_name), "%s", lv->name);
	tf_stream_fingerprint(ip.identity, lv_id, lv->lv_id, d->runs, d->map.nruns, h.result_fp);
	if (base) {
		if ((rc = tf_index_extents(ix, base_id, &base_runs, &nbase)) < 0)
			goto out;
		h.base_thin_id = base_id;
		snprintf(h.base_uuid, sizeof(h.base_uuid), "%s", base->lv_id);
		tf_stream_fingerprint(ip.identity, base_id, base->lv_id, base_runs, nbase,
				      h.base_fp);
		rc = incremental_records(d, ix, base_id, lv_id, &recs);
	} else {
		rc = full_records(d, &recs);
	}
	for (size_t i = 0; rc == 0 && i < recs.n; i++)
		d->changed += recs.v[i].length;
	if (rc == 0)
		rc = tf_stream_plan_new(&h, &recs, delta_read_volume, d, &d->plan);
out:
	tf_stream_recs_free(&recs);
	free(base_runs);
	tf_index_devices_free(devs, ndev);
	if (rc < 0) {
		tf_delta_close(d);
		return rc;
	}
	*out = d;
	return 0;
}

uint64_t tf_delta_size(const struct tf_delta *d)
{
	return tf_stream_plan_size(d->plan);
}

const struct tf_stream_header *tf_delta_header(const struct tf_delta *d)
{
	return tf_stream_plan_header(d->plan);
}

uint64_t tf_delta_changed_bytes(const struct tf_delta *d)
{
	return d->changed;
}

ssize_t tf_delta_read(struct tf_delta *d, void *buf, size_t len, uint64_t off)
{
	return tf_stream_plan_read(d->plan, buf, len, off);
}

void tf_delta_close(struct tf_delta *d)
{
	if (!d)
		return;
	tf_stream_plan_free(d->plan);
	free(d->runs);
	free(d);
}
