/* diff_files.h — `thinfs diff --files` (see diff_files.c). */
#ifndef THINFS_DIFF_FILES_H
#define THINFS_DIFF_FILES_H

#include <stdbool.h>
#include <stdint.h>

struct tf_index;
struct tf_pool;
struct tf_ix_dev;

/* Prints "+ path", "- path", "M path" lines (or a JSON array), sorted. */
int tf_diff_files(struct tf_index *ix, struct tf_pool *p, const struct tf_ix_dev *base,
		  const struct tf_ix_dev *lv, uint64_t chunk, bool json);

#endif
