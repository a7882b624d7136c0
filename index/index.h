/* index.h — the SQLite index of a pool's chunk mappings.
 *
 * The index is a cache built from core's walk of the pool metadata: deleting
 * it loses nothing.  fs/ and tools/ answer every question about what is
 * mapped where from here (and read data through core's pool).  See schema.c
 * for the tables.  Units: chunks unless a name says bytes.
 */
#ifndef THINFS_INDEX_H
#define THINFS_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/thin/thin_meta.h"

struct tf_pool;
struct tf_index;

struct tf_ix_pool {
	char identity[256];
	char source[1024];
	uint32_t chunk_sectors;
	uint64_t transaction_id;
	uint64_t data_nr_blocks, data_nr_allocated;
	uint64_t metadata_nr_blocks, metadata_nr_allocated;
	int64_t built_at;   /* unix time of the last refresh that changed anything */
	int64_t checked_at; /* unix time of the last refresh */
};

struct tf_ix_dev {
	uint32_t thin_id;
	char *name;
	char *lv_id;
	char *origin; /* NULL if none */
	uint64_t size_bytes;
	int64_t creation_time;
	uint64_t mapped_chunks;
	uint64_t exclusive_chunks; /* data chunks no other device maps */
	uint64_t shared_chunks;	   /* mapped_chunks - exclusive_chunks */
	uint64_t mapping_root;
};

struct tf_index_stats {
	bool rebuilt;
	uint64_t transaction_id;
	size_t devices_total;
	size_t devices_walked; /* devices whose root node is new in this view */
	uint64_t nodes_read;   /* mapping-tree nodes read from the metadata */
	uint64_t nodes_new;    /* distinct nodes stored by this refresh */
	uint64_t nodes_freed;  /* stored nodes no device holds any more */
	uint64_t extents;      /* distinct runs stored (rows of the runs table) */
	double seconds;
};

/* The default index path for a pool identity: $THINFS_INDEX_DIR, else
 * /var/cache/thinfs as root, else $XDG_CACHE_HOME/thinfs or ~/.cache/thinfs;
 * the file name is the identity made filename-safe, plus ".db". */
int tf_index_default_path(const char *identity, char *buf, size_t len);
/* The default index path of this pool: its identity and a digest of its
 * source key, so look-alike pools never share an index (identity.c). */
int tf_index_pool_path(struct tf_pool *p, char *buf, size_t len);
/* The same from the two keys, for a caller that has not opened the pool
 * (doctor): source_key as tf_pool_source_key() or tf_pool_live_source_key(). */
int tf_index_path_for(const char *identity, const char *source_key, char *buf, size_t len);

int tf_index_open(const char *path, struct tf_index **out);
void tf_index_close(struct tf_index *ix);

/* Brings the index up to date with the pool from one metadata view.  Each
 * distinct mapping-tree node is stored once; a node proven unchanged (same
 * block, checksum and entries) is kept with its subtree unread, so the cost
 * is one read per device root plus the nodes that are new (a new snapshot
 * costs about nothing, a written origin its rewritten nodes); nodes no
 * device holds are deleted.  Without rebuild a different pool identity or
 * schema version still forces one.  One transaction: a reader never sees a
 * half-built index. */
int tf_index_refresh(struct tf_index *ix, struct tf_pool *p, bool rebuild,
		     struct tf_index_stats *st);

/* Refreshes only what LVM knows (names, uuids, origins, sizes, creation
 * times) from the pool's LV list: no metadata view, so a live pool's
 * metadata snapshot is not reserved.  For a tick whose transaction id did
 * not move (lvrename, lvextend move none).  *changed says whether any row
 * changed.
 *
 * A written volume's map goes stale without the transaction id moving;
 * tf_index_refresh brings it up to date at the cost of one read per device
 * root plus the nodes written since. */
int tf_index_refresh_names(struct tf_index *ix, struct tf_pool *p, bool *changed);

int tf_index_pool(struct tf_index *ix, struct tf_ix_pool *out);

/* Reports the next refreshes' walks to p (core/base/progress.h) as mapped
 * chunks indexed of those to walk; NULL stops.  p stays the caller's. */
struct tf_progress;
void tf_index_set_progress(struct tf_index *ix, struct tf_progress *p);

/* Devices sorted by name. */
int tf_index_devices(struct tf_index *ix, struct tf_ix_dev **devs, size_t *n);
void tf_index_devices_free(struct tf_ix_dev *devs, size_t n);

/* For a live volume that is opened or sought after writes (its map moves
 * without the transaction id): brings the index up to the pool
 * (tf_index_refresh: one read per device root plus the nodes written
 * since) and returns the volume's runs as tf_index_extents does. */
int tf_index_volume_now(struct tf_index *ix, struct tf_pool *p, uint32_t thin_id,
			struct tf_thin_run **runs, size_t *n);

/* All runs of one device in ascending vbegin (malloc'd); -ENOENT if unknown. */
int tf_index_extents(struct tf_index *ix, uint32_t thin_id, struct tf_thin_run **runs, size_t *n);

struct tf_ix_change {
	enum tf_diff_kind kind;
	struct tf_thin_run run; /* see tf_thin_diff() */
};

/* What differs between base and lv, ascending, from a walk of the pool's
 * metadata that skips shared subtrees (cost ∝ changes).  Fails with -ESTALE
 * if the pool's transaction id moved past the index's. */
int tf_index_diff(struct tf_index *ix, struct tf_pool *p, uint32_t base_id, uint32_t lv_id,
		  struct tf_ix_change **changes, size_t *n, struct tf_walk_stats *st);

/* The same question answered from the pool's metadata with no index at
 * all: no build in front of a diff, on a pool with no index or a stale one
 * (cost: the nodes where the two trees differ). */
int tf_pool_diff(struct tf_pool *p, uint32_t base_id, uint32_t lv_id, struct tf_ix_change **changes,
		 size_t *n, struct tf_walk_stats *st);
/* ... and within a view the caller holds. */
int tf_diff_from_metadata(struct tf_thin_meta *view, uint32_t base_id, uint32_t lv_id,
			  struct tf_ix_change **changes, size_t *n, struct tf_walk_stats *st);

#endif
