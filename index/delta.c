/* delta.c — planning a delta stream from the index (see delta.h). */
#include "delta.h"

#include "index.h"
#include "volume.h"

#include "core/base/err.h"
#include "core/base/vec.h"
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

/* Records of an incremental stream: one per change. */
static int incremental_records(struct tf_delta *d, const struct tf_ix_change *ch, size_t n,
			       struct tf_stream_recs *recs)
{
	const uint64_t cb = tf_volume_chunk_bytes(d->vol);
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = tf_stream_recs_add(
		    recs, ch[i].kind == TF_DIFF_LEFT_ONLY ? TF_REC_ZERO : TF_REC_DATA,
		    ch[i].run.vbegin * cb, ch[i].run.len * cb, tf_volume_size(d->vol));
	return rc;
}

/* What a stream says of a device besides its map. */
struct delta_dev {
	uint32_t id;
	const char *uuid, *name;
	uint64_t size_bytes;
};

/* Plans the stream once d->vol is the result; base NULL makes a full
 * stream, else base_runs is the base's map and ch the changes from it. */
static int delta_plan(struct tf_delta *d, const char *identity, const struct delta_dev *lv,
		      const struct delta_dev *base, const struct tf_thin_run *base_runs,
		      size_t nbase, const struct tf_ix_change *ch, size_t nch)
{
	struct tf_stream_header h = {.base_thin_id = TF_STREAM_NO_BASE};
	struct tf_stream_recs recs = {0};
	size_t nruns;
	const struct tf_thin_run *runs = tf_volume_runs(d->vol, &nruns);
	int rc;

	h.incremental = base != NULL;
	h.chunk_bytes = tf_volume_chunk_bytes(d->vol);
	h.volume_bytes = lv->size_bytes;
	h.result_thin_id = lv->id;
	snprintf(h.identity, sizeof(h.identity), "%.127s", identity);
	snprintf(h.result_uuid, sizeof(h.result_uuid), "%s", lv->uuid);
	snprintf(h.result_name, sizeof(h.result_name), "%s", lv->name);
	tf_stream_fingerprint(identity, lv->id, lv->uuid, runs, nruns, h.result_fp);
	if (base) {
		h.base_thin_id = base->id;
		snprintf(h.base_uuid, sizeof(h.base_uuid), "%s", base->uuid);
		tf_stream_fingerprint(identity, base->id, base->uuid, base_runs, nbase, h.base_fp);
		rc = incremental_records(d, ch, nch, &recs);
	} else {
		rc = full_records(d, &recs);
	}
	for (size_t i = 0; rc == 0 && i < recs.n; i++)
		d->changed += recs.v[i].length;
	if (rc == 0)
		rc = tf_stream_plan_new(&h, &recs, tf_volume_bio(d->vol), &d->plan);
	tf_stream_recs_free(&recs);
	return rc;
}

int tf_delta_open(struct tf_index *ix, struct tf_pool *p, uint32_t lv_id, uint32_t base_id,
		  struct tf_delta **out)
{
	struct tf_thin_run *base_runs = NULL;
	struct tf_ix_change *ch = NULL;
	const struct tf_ix_dev *lv, *base = NULL;
	struct tf_ix_dev *devs = NULL;
	struct tf_delta *d;
	struct tf_ix_pool ip;
	size_t ndev = 0, nbase = 0, nch = 0;
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
	if ((rc = tf_index_volume(ix, p, lv, (uint64_t)ip.chunk_sectors * 512, &d->vol)) < 0 ||
	    (base && (rc = tf_index_extents(ix, base_id, &base_runs, &nbase)) < 0) ||
	    (base && (rc = tf_index_diff(ix, p, base_id, lv_id, &ch, &nch, NULL)) < 0))
		goto out;
	rc = delta_plan(
	    d, ip.identity, &(struct delta_dev){lv->thin_id, lv->lv_id, lv->name, lv->size_bytes},
	    base ? &(struct delta_dev){base->thin_id, base->lv_id, base->name, base->size_bytes}
		 : NULL,
	    base_runs, nbase, ch, nch);
out:
	free(ch);
	free(base_runs);
	tf_index_devices_free(devs, ndev);
	if (rc < 0) {
		tf_delta_close(d);
		return rc;
	}
	*out = d;
	return 0;
}

struct runs_vec {
	struct tf_thin_run *v;
	size_t n, cap;
};

static int collect_run(void *arg, const struct tf_thin_run *r)
{
	struct runs_vec *c = arg;
	struct tf_thin_run *slot = TF_VEC_PUSH(c->v, c->n, c->cap);

	if (!slot)
		return tf_fail(ENOMEM, "delta: out of memory");
	*slot = *r;
	return 0;
}

static const struct tf_lv *find_lv(const struct tf_lv *lvs, size_t n, uint32_t id)
{
	for (size_t i = 0; i < n; i++)
		if (lvs[i].thin_id == id)
			return &lvs[i];
	return NULL;
}

int tf_delta_open_pool(struct tf_pool *p, uint32_t lv_id, uint32_t base_id, struct tf_delta **out)
{
	struct runs_vec lvr = {0}, baser = {0};
	struct tf_ix_change *ch = NULL;
	const struct tf_lv *lvs, *lv, *base = NULL;
	struct tf_thin_meta *view = NULL;
	struct tf_delta *d;
	size_t nlv, nch = 0;
	int rc;

	if (!(d = calloc(1, sizeof(*d))))
		return tf_fail(ENOMEM, "delta: out of memory");
	if ((rc = tf_pool_lvs(p, &lvs, &nlv)) < 0)
		goto out;
	lv = find_lv(lvs, nlv, lv_id);
	base = base_id == TF_STREAM_NO_BASE ? NULL : find_lv(lvs, nlv, base_id);
	if (!lv || (base_id != TF_STREAM_NO_BASE && !base)) {
		rc = tf_fail(ENOENT, "delta: no thin device %u in the pool", lv ? base_id : lv_id);
		goto out;
	}
	/* One view for both maps and the diff, so they agree. */
	if ((rc = tf_pool_meta_begin(p, &view)) < 0)
		goto out;
	rc = tf_thin_walk(view, lv_id, collect_run, &lvr, NULL);
	if (rc == 0 && base)
		rc = tf_thin_walk(view, base_id, collect_run, &baser, NULL);
	if (rc == 0 && base)
		rc = tf_diff_from_metadata(view, base_id, lv_id, &ch, &nch, NULL);
	tf_pool_meta_end(p, view);
	if (rc < 0)
		goto out;
	rc = tf_volume_open(
	    p,
	    &(struct tf_volume_info){.thin_id = lv_id,
				     .name = lv->name,
				     .size_bytes = lv->size_bytes,
				     .chunk_bytes = (uint64_t)tf_pool_chunk_sectors(p) * 512},
	    lvr.v, lvr.n, &d->vol);
	lvr.v = NULL; /* the volume took the runs */
	if (rc < 0)
		goto out;
	rc = delta_plan(
	    d, tf_pool_identity(p),
	    &(struct delta_dev){lv->thin_id, lv->lv_id, lv->name, lv->size_bytes},
	    base ? &(struct delta_dev){base->thin_id, base->lv_id, base->name, base->size_bytes}
		 : NULL,
	    baser.v, baser.n, ch, nch);
out:
	free(lvr.v);
	free(baser.v);
	free(ch);
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
