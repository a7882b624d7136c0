/* volume.c — a core volume from the index's rows (see volume.h). */
#include "index/volume.h"

#include "index/index.h"

#include "core/base/err.h"
#include "core/vol/volume.h"

int tf_index_volume(struct tf_index *ix, struct tf_pool *p, const struct tf_ix_dev *d,
		    uint64_t chunk_bytes, struct tf_volume **out)
{
	struct tf_volume_info in = {.thin_id = d->thin_id,
				    .name = d->name,
				    .size_bytes = d->size_bytes,
				    .chunk_bytes = chunk_bytes};
	struct tf_thin_run *runs = NULL;
	size_t n = 0;
	int rc = tf_index_extents(ix, d->thin_id, &runs, &n);

	if (rc < 0)
		return tf_fail_ctx(rc, "volume %s: ", d->name);
	return tf_volume_open(p, &in, runs, n, out);
}
