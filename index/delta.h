/* delta.h — the sender: a delta stream of one device, full or from a base,
 * planned from the index and read on demand (see core/stream/stream.h). */
#ifndef THINFS_DELTA_H
#define THINFS_DELTA_H

#include <stdint.h>
#include <sys/types.h>

#include "core/stream/stream.h"

struct tf_index;
struct tf_pool;
struct tf_delta;

/* base_id TF_STREAM_NO_BASE makes a full stream.  The pool must outlive
 * the delta.  Cost: one index query per device and, for an incremental, a
 * metadata walk that skips shared subtrees; no data is read. */
int tf_delta_open(struct tf_index *ix, struct tf_pool *p, uint32_t lv_id, uint32_t base_id,
		  struct tf_delta **out);
/* The same stream with no index: names from the pool's LV list, both maps
 * and the changes from one metadata view (cost: the two devices' trees and
 * what differs between them, not a build of every device's map). */
int tf_delta_open_pool(struct tf_pool *p, uint32_t lv_id, uint32_t base_id, struct tf_delta **out);
uint64_t tf_delta_size(const struct tf_delta *d);
const struct tf_stream_header *tf_delta_header(const struct tf_delta *d);
/* Bytes of changed chunks the stream carries (DATA payload + ZERO lengths). */
uint64_t tf_delta_changed_bytes(const struct tf_delta *d);
/* Stream bytes [off, off+len), short only at the end; thread-safe. */
ssize_t tf_delta_read(struct tf_delta *d, void *buf, size_t len, uint64_t off);
void tf_delta_close(struct tf_delta *d);

#endif
