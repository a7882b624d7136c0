/* pool.h — a thin pool as a source: where its metadata, names and data are.
 *
 * Two kinds of source stand behind one interface:
 *  - an image directory holding `metadata`, `data` and optional `lvm.cfg`;
 *  - a live pool "VG/POOL": names and sizes from LVM, metadata read through
 *    a held metadata snapshot with O_DIRECT, data read through the kernel's
 *    own thin devices (DESIGN.md rule 2).
 * The pool never writes the metadata or data devices.
 *
 * Which calls may run concurrently, from any threads:
 *  - tf_pool_read, tf_pool_data_fd, tf_pool_counters and the accessors
 *    (kind, source, identity, chunk size): always, with each other and with
 *    everything below.  Live: the lookup of a thin id's device takes a
 *    short lock, held only to create a private read-only target the first
 *    time an inactive volume is read.
 *  - tf_pool_meta_begin / tf_pool_meta_end and walks of the views: always;
 *    views open at once share one held metadata snapshot (live: the first
 *    reserves it, the last releases it; a dm message under a short lock,
 *    never a walk).  A view is read-only and may be walked by many threads.
 *  - tf_pool_transaction_id: always (one dm status call).
 *  - tf_pool_lvs: one caller at a time (it replaces the array the last call
 *    returned); run it from the one thread that refreshes the index.
 *  - tf_pool_open / tf_pool_close: alone.
 */
#ifndef THINFS_POOL_H
#define THINFS_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tf_thin_meta;
struct tf_pool;

struct tf_lv {
	char *name;   /* LV name, or "thin<dev_id>" without LVM metadata */
	char *lv_id;  /* LVM uuid, or "" */
	char *origin; /* origin LV name, or NULL */
	uint32_t thin_id;
	uint64_t size_bytes; /* LV size; without LVM: end of the last mapped chunk */
	int64_t creation_time;
	char **tags; /* NULL-terminated, may be empty */
};

enum tf_pool_kind { TF_POOL_IMAGE, TF_POOL_LIVE };

struct tf_pool_opts {
	bool reuse_held_snapshot; /* live: if another holder reserved the metadata
				     snapshot, read through it instead of failing */
};

/* Opens SOURCE: an existing directory is an image; otherwise "VG/POOL". */
int tf_pool_open(const char *source, const struct tf_pool_opts *opts, struct tf_pool **out);
void tf_pool_close(struct tf_pool *p);

enum tf_pool_kind tf_pool_kind(const struct tf_pool *p);
const char *tf_pool_source(const struct tf_pool *p); /* as given */
/* Stable identity: "lvm:<vg uuid>/<pool lv uuid>" or, for an image directory
 * without lvm.cfg, "img:<hex digest of the superblock's fixed fields>". */
const char *tf_pool_identity(const struct tf_pool *p);
/* Which bytes this is, as opposed to which lineage: two look-alike pools
 * (copies of one, or thin_restore'd twice from one shape) share an identity
 * — streams between them are meant to apply — but never a source key.
 * Image: the directory's canonical path and st_dev:st_ino and those of its
 * metadata and data files; live: the VG and pool LV uuids and the metadata
 * device's number.  The index is kept and checked per source key. */
const char *tf_pool_source_key(const struct tf_pool *p);
/* Size of the data device in bytes (image: the data file), 0 if unknown. */
uint64_t tf_pool_data_bytes(const struct tf_pool *p);
uint32_t tf_pool_chunk_sectors(const struct tf_pool *p);

/* Re-reads LVM names (live) and returns the thin LVs, sorted by name.  The
 * array stays valid until the next tf_pool_lvs() or close.  Image sources
 * without lvm.cfg synthesize names and sizes from the metadata. */
int tf_pool_lvs(struct tf_pool *p, const struct tf_lv **lvs, size_t *n);

/* Opens a consistent metadata view.  Live: reserves the metadata snapshot
 * (or reuses a held one if the options allow) and reads through it; the
 * snapshot is released by tf_pool_meta_end(), never one thinfs did not
 * reserve. */
int tf_pool_meta_begin(struct tf_pool *p, struct tf_thin_meta **view);
void tf_pool_meta_end(struct tf_pool *p, struct tf_thin_meta *view);

/* The pool's current transaction id, cheaply (live: pool status). */
int tf_pool_transaction_id(struct tf_pool *p, uint64_t *tid);

/* Reads len bytes of mapped data of thin device thin_id: voff is the byte
 * offset in the volume, poff the byte offset in the data device that the
 * index says it maps to.  Image sources read the data image at poff; live
 * sources read the kernel thin device at voff (activating a private
 * read-only thin target if the LV is inactive), so bytes are never stale. */
int tf_pool_read(struct tf_pool *p, uint32_t thin_id, void *buf, size_t len, uint64_t voff,
		 uint64_t poff);

/* Where len bytes of mapped data (the arguments of tf_pool_read) can be
 * read straight from a descriptor, for zero-copy replies: image sources
 * give the data image at poff, live sources the kernel thin device at voff.
 * -ENOTSUP if the source cannot (its data sits behind a wrapper: read with
 * tf_pool_read instead); -EIO if the range lies past the end of the data
 * image as it is now.  The descriptor stays open until tf_pool_close.
 * Counted as a data read. */
int tf_pool_data_fd(struct tf_pool *p, uint32_t thin_id, size_t len, uint64_t voff, uint64_t poff,
		    int *fd, uint64_t *fd_off);

/* Counters for .thinfs/status. */
struct tf_pool_counters {
	uint64_t data_bytes_read;
	uint64_t data_reads;
};
void tf_pool_counters(const struct tf_pool *p, struct tf_pool_counters *c);

/* A live pool's source key (tf_pool_source_key) from its VG and pool uuids
 * and its metadata device's numbers, for callers that have not opened it. */
void tf_pool_live_source_key(char *buf, size_t len, const char *vg_id, const char *pool_id,
			     unsigned meta_major, unsigned meta_minor);

#endif
