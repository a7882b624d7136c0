/* volume.h — a thin volume as one object: a pool plus the volume's chunk
 * map, readable at any offset and seekable by SEEK_DATA/SEEK_HOLE.
 *
 * The chunk map comes from the caller (the index: tf_index_extents), so
 * core never knows where it was kept.  Holes read as zeros with no I/O;
 * mapped ranges go through tf_pool_read (the data image, or the kernel's
 * thin device of a live pool).  Every reader of volume bytes takes this
 * object, or its block-I/O view (tf_volume_bio), which is what the
 * partition-table reader, the ext engine and the stream planner read and
 * what the fault-injecting wrapper (core/io/bio.h) stacks on.
 *
 *   struct tf_volume_info in = {.thin_id = 3, .name = "vm1", ...};
 *   tf_volume_open(pool, &in, runs, nruns, &v);   // takes runs
 *   tf_volume_read(v, buf, len, off);             // short only at the end
 *   tf_parttable_read(tf_volume_bio(v), &pt);
 *   tf_volume_put(v);
 *
 * Thread safety: immutable after open; every call may run concurrently,
 * and references may be taken and dropped from any thread.  The pool must
 * outlive the volume.
 */
#ifndef THINFS_VOLUME_H
#define THINFS_VOLUME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/thin/thin_meta.h"

struct tf_pool;
struct tf_bio;
struct tf_volume;

struct tf_volume_info {
	uint32_t thin_id;
	const char *name; /* for messages; copied */
	uint64_t size_bytes;
	uint64_t chunk_bytes;
};

/* Takes ownership of runs (malloc'd, ascending vbegin, not overlapping: as
 * tf_index_extents returns them), also on failure.  -EINVAL names the
 * volume if the runs are out of order or the chunk size is 0. */
int tf_volume_open(struct tf_pool *p, const struct tf_volume_info *in, struct tf_thin_run *runs,
		   size_t nruns, struct tf_volume **out);
void tf_volume_get(struct tf_volume *v);
void tf_volume_put(struct tf_volume *v); /* NULL is fine */

const char *tf_volume_name(const struct tf_volume *v);
uint32_t tf_volume_thin_id(const struct tf_volume *v);
uint64_t tf_volume_size(const struct tf_volume *v);
uint64_t tf_volume_chunk_bytes(const struct tf_volume *v);
const struct tf_thin_run *tf_volume_runs(const struct tf_volume *v, size_t *n);
/* Bytes of [off, off+len) that are mapped. */
uint64_t tf_volume_mapped_bytes(const struct tf_volume *v, uint64_t off, uint64_t len);

/* Reads [off, off+len): the bytes read (short only at the end of the
 * volume, 0 past it) or -errno naming the volume and the offset. */
ssize_t tf_volume_read(struct tf_volume *v, void *buf, size_t len, uint64_t off);
/* SEEK_DATA / SEEK_HOLE; -ENXIO at or past the end, and for SEEK_DATA past
 * the last data. */
int tf_volume_seek(const struct tf_volume *v, uint64_t off, int whence, uint64_t *res);

/* The volume as block I/O (name, size, exact reads; no writes), borrowed:
 * valid while the caller holds a reference on v.  Wrap it (e.g.
 * tf_bio_open_faulty) to change what readers see. */
struct tf_bio *tf_volume_bio(struct tf_volume *v);

/* Where the bytes of [off, off+len) are, for zero-copy replies: up to max
 * segments in order, each a hole (fd -1: zeros) or fd_off in fd.  Returns
 * the bytes the segments cover (short at the end of the volume, or when max
 * segments were not enough) or -errno; -ENOTSUP if the pool cannot hand out
 * a descriptor (read with tf_volume_read then).  The descriptors belong to
 * the pool and stay open until it closes. */
struct tf_volume_seg {
	uint64_t len;
	int fd;
	uint64_t fd_off;
};
ssize_t tf_volume_map(struct tf_volume *v, uint64_t off, size_t len, struct tf_volume_seg *segs,
		      size_t max, size_t *n);

#endif
