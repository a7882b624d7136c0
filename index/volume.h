/* volume.h — a volume (core/vol/volume.h) built from the index: its
 * device row for the name and size, the pool row for the chunk size, and
 * its extents for the chunk map. */
#ifndef THINFS_INDEX_VOLUME_H
#define THINFS_INDEX_VOLUME_H

#include <stdint.h>

struct tf_index;
struct tf_pool;
struct tf_ix_dev;
struct tf_volume;

/* The volume of device d (a row of tf_index_devices), with one reference;
 * -ENOENT if the index has no extents for it.  The pool must outlive it. */
int tf_index_volume(struct tf_index *ix, struct tf_pool *p, const struct tf_ix_dev *d,
		    uint64_t chunk_bytes, struct tf_volume **out);

#endif
