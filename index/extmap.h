/* extmap.h — reading and seeking a volume through its chunk map: holes are
 * zeros with no I/O, mapped ranges are read through the pool.  Shared by the
 * FUSE volume files and the delta sender. */
#ifndef THINFS_EXTMAP_H
#define THINFS_EXTMAP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/thin/thin_meta.h"

struct tf_pool;

struct tf_extmap {
	uint32_t thin_id;
	const char *name;		/* for messages */
	const struct tf_thin_run *runs; /* ascending */
	size_t nruns;
	uint64_t chunk_bytes;
	uint64_t size_bytes;
};

/* Reads [off, off+len): returns the bytes read (short only at the end of
 * the volume) or -errno. */
ssize_t tf_extmap_read(const struct tf_extmap *m, struct tf_pool *p, void *buf, size_t len,
		       uint64_t off);
/* SEEK_DATA / SEEK_HOLE; -ENXIO past the last data (or the end). */
int tf_extmap_seek(const struct tf_extmap *m, uint64_t off, int whence, uint64_t *res);

#endif
