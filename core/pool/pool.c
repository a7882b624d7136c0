/* pool.c — a pool source behind one interface: dispatch to the image or
 * live backend, the LV list both build, and the data-read counters. */
#include "core/pool/pool.h"

#include "core/base/err.h"
#include "core/lvm/lvm_text.h"
#include "core/pool/pool_internal.h"
#include "core/thin/thin_meta.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int tf_pool_open(const char *source, const struct tf_pool_opts *opts, struct tf_pool **out)
{
	assert(source && out);
	struct tf_pool_opts none = {0};
	struct tf_pool *p;
	struct stat st;
	int rc;

	p = calloc(1, sizeof(*p));
	if (!p || !(p->source = strdup(source))) {
		free(p);
		return tf_fail(ENOMEM, "%s: out of memory", source);
	}
	if (!opts)
		opts = &none;
	if (stat(source, &st) == 0 && S_ISDIR(st.st_mode)) {
		rc = tf_pool_open_image(p, source, opts);
	} else if (source[0] == '/' || source[0] == '.' || strchr(source, '/') == NULL ||
		   strchr(strchr(source, '/') + 1, '/')) {
		/* Not a directory, and not of the form VG/POOL either. */
		rc = tf_fail(ENOENT, "%s: no such pool-image directory, and not a VG/POOL name",
			     source);
	} else {
		rc = tf_pool_open_live(p, source, opts);
	}
	if (rc < 0) {
		free(p->source);
		free(p);
		return rc;
	}
	*out = p;
	return 0;
}

void tf_pool_close(struct tf_pool *p)
{
	if (!p)
		return;
	if (p->be)
		p->be->close(p);
	tf_pool_free_lvs(p);
	free(p->source);
	free(p);
}

enum tf_pool_kind tf_pool_kind(const struct tf_pool *p)
{
	return p->kind;
}

const char *tf_pool_source(const struct tf_pool *p)
{
	return p->source;
}

const char *tf_pool_identity(const struct tf_pool *p)
{
	return p->identity;
}

const char *tf_pool_source_key(const struct tf_pool *p)
{
	return p->source_key;
}

uint64_t tf_pool_data_bytes(const struct tf_pool *p)
{
	return p->data_bytes;
}

uint32_t tf_pool_chunk_sectors(const struct tf_pool *p)
{
	return p->chunk_sectors;
}

int tf_pool_lvs(struct tf_pool *p, const struct tf_lv **lvs, size_t *n)
{
	assert(p && lvs && n);
	int rc = p->be->refresh_lvs ? p->be->refresh_lvs(p) : 0;

	if (rc < 0)
		return rc;
	*lvs = p->lvs;
	*n = p->nlvs;
	return 0;
}

int tf_pool_meta_begin(struct tf_pool *p, struct tf_thin_meta **view)
{
	assert(p && view);
	return p->be->meta_begin(p, view);
}

void tf_pool_meta_end(struct tf_pool *p, struct tf_thin_meta *view)
{
	assert(p && view);
	p->be->meta_end(p, view);
}

int tf_pool_transaction_id(struct tf_pool *p, uint64_t *tid)
{
	assert(p && tid);
	return p->be->transaction_id(p, tid);
}

int tf_pool_read(struct tf_pool *p, uint32_t thin_id, void *buf, size_t len, uint64_t voff,
		 uint64_t poff)
{
	assert(p && (buf || len == 0));
	int rc = p->be->read(p, thin_id, buf, len, voff, poff);

	if (rc == 0) {
		atomic_fetch_add(&p->data_bytes_read, len);
		atomic_fetch_add(&p->data_reads, 1);
	}
	return rc;
}

int tf_pool_data_fd(struct tf_pool *p, uint32_t thin_id, size_t len, uint64_t voff, uint64_t poff,
		    int *fd, uint64_t *fd_off)
{
	int rc =
	    p->be->data_fd ? p->be->data_fd(p, thin_id, len, voff, poff, fd, fd_off) : -ENOTSUP;

	if (rc == 0) {
		atomic_fetch_add(&p->data_bytes_read, len);
		atomic_fetch_add(&p->data_reads, 1);
	}
	return rc;
}

void tf_pool_counters(const struct tf_pool *p, struct tf_pool_counters *c)
{
	c->data_bytes_read = atomic_load(&p->data_bytes_read);
	c->data_reads = atomic_load(&p->data_reads);
}

/* ---- the LV list ---- */

static void lv_free(struct tf_lv *lv)
{
	free(lv->name);
	free(lv->lv_id);
	free(lv->origin);
	for (size_t t = 0; lv->tags && lv->tags[t]; t++)
		free(lv->tags[t]);
	free(lv->tags);
}

void tf_pool_free_lvs(struct tf_pool *p)
{
	for (size_t i = 0; i < p->nlvs; i++)
		lv_free(&p->lvs[i]);
	free(p->lvs);
	p->lvs = NULL;
	p->nlvs = 0;
}

static int cmp_lv_name(const void *a, const void *b)
{
	return strcmp(((const struct tf_lv *)a)->name, ((const struct tf_lv *)b)->name);
}

static int lvs_from_vg(struct tf_lv *out, size_t *n, const struct tf_lvm_vg *vg,
		       const char *pool_name)
{
	*n = 0;
	for (size_t i = 0; i < vg->nlvs; i++) {
		const struct tf_lvm_lv *l = &vg->lvs[i];
		struct tf_lv *o = &out[*n];

		if (strcmp(l->pool, pool_name) != 0)
			continue;
		(*n)++;
		o->name = strdup(l->name);
		o->lv_id = strdup(l->id);
		o->origin = l->origin ? strdup(l->origin) : NULL;
		o->thin_id = l->device_id;
		o->size_bytes = l->size_bytes;
		o->creation_time = l->creation_time;
		o->tags = calloc(l->ntags + 1, sizeof(char *));
		if (!o->name || !o->lv_id || (l->origin && !o->origin) || !o->tags)
			return -ENOMEM;
		for (size_t t = 0; t < l->ntags; t++)
			if (!(o->tags[t] = strdup(l->tags[t])))
				return -ENOMEM;
	}
	return 0;
}

static int lvs_from_meta(struct tf_pool *p, struct tf_lv **out, size_t *n,
			 struct tf_thin_meta *view)
{
	struct tf_thin_dev *devs;
	size_t nd;
	int rc;

	if ((rc = tf_thin_devices(view, &devs, &nd)) < 0)
		return rc;
	*out = calloc(nd ? nd : 1, sizeof(**out));
	if (!*out) {
		free(devs);
		return -ENOMEM;
	}
	for (size_t i = 0; i < nd; i++) {
		struct tf_lv *o = &(*out)[i];
		uint64_t end;
		char name[32];

		*n = i + 1;
		/* Without LVM metadata the size is where the last mapping ends. */
		if ((rc = tf_thin_mapped_end(view, devs[i].dev_id, &end)) < 0)
			break;
		snprintf(name, sizeof(name), "thin%" PRIu32, devs[i].dev_id);
		o->name = strdup(name);
		o->lv_id = strdup("");
		o->thin_id = devs[i].dev_id;
		o->size_bytes = end * p->chunk_sectors * 512ull;
		o->tags = calloc(1, sizeof(char *));
		if (!o->name || !o->lv_id || !o->tags) {
			rc = -ENOMEM;
			break;
		}
	}
	free(devs);
	return rc;
}

int tf_pool_set_lvs(struct tf_pool *p, const struct tf_lvm_vg *vg, const char *pool_name,
		    struct tf_thin_meta *view)
{
	struct tf_lv *lvs = NULL;
	size_t n = 0;
	int rc;

	if (vg) {
		lvs = calloc(vg->nlvs ? vg->nlvs : 1, sizeof(*lvs));
		rc = lvs ? lvs_from_vg(lvs, &n, vg, pool_name) : -ENOMEM;
	} else {
		rc = lvs_from_meta(p, &lvs, &n, view);
	}
	if (rc < 0) {
		for (size_t i = 0; i < n; i++)
			lv_free(&lvs[i]);
		free(lvs);
		return rc == -ENOMEM ? tf_fail(ENOMEM, "%s: out of memory", p->source) : rc;
	}
	qsort(lvs, n, sizeof(*lvs), cmp_lv_name);
	tf_pool_free_lvs(p);
	p->lvs = lvs;
	p->nlvs = n;
	return 0;
}
