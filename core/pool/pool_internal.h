/* pool_internal.h — what the pool sources (pool_image.c, pool_live.c) share
 * with the dispatch in pool.c. */
#ifndef THINFS_POOL_INTERNAL_H
#define THINFS_POOL_INTERNAL_H

#include "core/pool/pool.h"

#include <stdatomic.h>

struct tf_lvm_vg;

struct tf_pool_backend {
	int (*meta_begin)(struct tf_pool *p, struct tf_thin_meta **view);
	void (*meta_end)(struct tf_pool *p, struct tf_thin_meta *view);
	int (*transaction_id)(struct tf_pool *p, uint64_t *tid);
	int (*read)(struct tf_pool *p, uint32_t thin_id, void *buf, size_t len, uint64_t voff,
		    uint64_t poff);
	/* NULL: no zero-copy reads (tf_pool_data_fd answers -ENOTSUP). */
	int (*data_fd)(struct tf_pool *p, uint32_t thin_id, size_t len, uint64_t voff,
		       uint64_t poff, int *fd, uint64_t *fd_off);
	int (*refresh_lvs)(struct tf_pool *p); /* re-reads names into p->lvs */
	void (*close)(struct tf_pool *p);
};

struct tf_pool {
	enum tf_pool_kind kind;
	const struct tf_pool_backend *be;
	void *priv;
	char *source;
	char identity[256];
	char source_key[4400];
	uint64_t data_bytes;
	uint32_t chunk_sectors;
	struct tf_lv *lvs;
	size_t nlvs;
	atomic_uint_fast64_t data_bytes_read;
	atomic_uint_fast64_t data_reads;
};

int tf_pool_open_image(struct tf_pool *p, const char *dir, const struct tf_pool_opts *opts);
int tf_pool_open_live(struct tf_pool *p, const char *vg_pool, const struct tf_pool_opts *opts);

/* Replaces p->lvs with the thin LVs of pool `pool_name` in vg, or, if vg is
 * NULL, with one "thin<id>" entry per device of the view, sized by its last
 * mapped chunk. */
int tf_pool_set_lvs(struct tf_pool *p, const struct tf_lvm_vg *vg, const char *pool_name,
		    struct tf_thin_meta *view);
void tf_pool_free_lvs(struct tf_pool *p);

#endif
