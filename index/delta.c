/* delta.c — planning a delta stream from the index (see delta.h). */
#include "delta.h"

#include "index.h"
#include "volume.h"

#include "core/base/err.h"
#include "core/pool/pool.h"
#include "core/vol/volume.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tf_delta {
	struct tf_volume *vol; /* the result, read for payloads */
	struct tf_stream_plan *plan;
	uint64_t changed;
};

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
	const uint64_t cb = tf_volume_chunk_bytes(d->vol);
	size_t n;
	const struct tf_thin_run *runs = tf_volume_runs(d->vol, &n);
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = tf_stream_recs_add(recs, TF_REC_DATA, runs[i].vbegin * cb, runs[i].len * cb,
					tf_volume_size(d->vol));
	return rc;
}

static int incremental_records(struct tf_delta *d, struct tf_index *ix, struct tf_pool *p,
			       uint32_t base, struct tf_stream_recs *recs)
{
	const uint64_t cb = tf_volume_chunk_bytes(d->vol);
	struct tf_ix_change *ch = NULL;
	size_t n = 0;
	int rc = tf_index_diff(ix, p, base, tf_volume_thin_id(d->vol), &ch, &n, NULL);

	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = tf_stream_recs_add(
		    recs, ch[i].kind == TF_DIFF_LEFT_ONLY ? TF_REC_ZERO : TF_REC_DATA,
		    ch[i].run.vbegin * cb, ch[i].run.len * cb, tf_volume_size(d->vol));
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
	const struct tf_thin_run *runs;
	size_t ndev = 0, nbase = 0, nruns;
	int rc;

	if (!(d = calloc(1, sizeof(*d))))
		return tf_fail(ENOMEM, "delta: out of memory");
	if ((rc = tf_index_pool(ix, &ip)) < 0 || (rc = tf_index_devices(ix, &devs, &ndev)) < 0)
		goto out;
	lv = find(devs, ndev, lv_id);
	base = base_id == TF_STREAM_NO_BASE ? NULL : find(devs, ndev, base_id);
	if (!lv || (base_id != TF_STREAM_NO_BASE && !base)) {
		rc = tf_fail(ENOENT, "delta: no thin device %u in the index", lv ? base_id : lv_id);
		goto out;
	}
	if ((rc = tf_index_volume(ix, p, lv, (uint64_t)ip.chunk_sectors * 512, &d->vol)) < 0)
		goto out;
	runs = tf_volume_runs(d->vol, &nruns);
	h.incremental = base != NULL;
	h.chunk_bytes = tf_volume_chunk_bytes(d->vol);
	h.volume_bytes = lv->size_bytes;
	h.result_thin_id = lv_id;
	snprintf(h.identity, sizeof(h.identity), "%.127s", ip.identity);
	snprintf(h.result_uuid, sizeof(h.result_uuid), "%s", lv->lv_id);
	snprintf(h.result_name, sizeof(h.result_name), "%s", lv->name);
	tf_stream_fingerprint(ip.identity, lv_id, lv->lv_id, runs, nruns, h.result_fp);
	if (base) {
		if ((rc = tf_index_extents(ix, base_id, &base_runs, &nbase)) < 0)
			goto out;
		h.base_thin_id = base_id;
		snprintf(h.base_uuid, sizeof(h.base_uuid), "%s", base->lv_id);
		tf_stream_fingerprint(ip.identity, base_id, base->lv_id, base_runs, nbase,
				      h.base_fp);
		rc = incremental_records(d, ix, p, base_id, &recs);
	} else {
		rc = full_records(d, &recs);
	}
	for (size_t i = 0; rc == 0 && i < recs.n; i++)
		d->changed += recs.v[i].length;
	if (rc == 0)
		rc = tf_stream_plan_new(&h, &recs, tf_volume_bio(d->vol), &d->plan);
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
	tf_volume_put(d->vol);
	free(d);
}
