/* replicate.h — what cmd_replicate.c and cmd_verify.c share. */
#ifndef THINFS_REPLICATE_H
#define THINFS_REPLICATE_H

#include <stdbool.h>
#include <stdint.h>

#include "rep_target.h"

struct rep_verify_result {
	bool equal;
	uint64_t size, other_size;
	uint64_t read_here, read_there;
	size_t ranges;
	long first_diff;	       /* range index, -1 if none */
	uint64_t diff_begin, diff_end; /* bytes [begin, end) of the first difference */
};

/* Hashes source object (IMAGE_DIR/LV, VG/LV or a file) here and snapshot
 * `name` at the target where it is; only the hashes cross. */
int rep_verify(const char *source_obj, struct rep_target *t, const char *name,
	       struct rep_verify_result *out);
/* One line describing the outcome (equal, or the first differing range). */
void rep_verify_describe(const struct rep_verify_result *r, const char *a, const char *b, char *buf,
			 size_t len);

/* Data and metadata usage of a live pool VG/POOL, in percent (lvs). */
int rep_pool_usage(const char *vg_pool, double *data, double *meta);
/* The snapshots LV<prefix><time> of pool VG/POOL, oldest first (no cleanup). */
int rep_lvm_snaps(const char *vg, const char *pool, const char *lv, const char *prefix,
		  struct rep_snaps *out);

#endif
