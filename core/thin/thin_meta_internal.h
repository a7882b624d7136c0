/* thin_meta_internal.h — what thin_meta.c shares with thin_diff.c. */
#ifndef THINFS_THIN_META_INTERNAL_H
#define THINFS_THIN_META_INTERNAL_H

#include "core/thin/btree.h"
#include "core/thin/thin_meta.h"

#define TF_THIN_ID_MAX 0xffffffu

struct tf_thin_meta {
	struct tf_bio *bio;
	struct tf_btree_io io;
	struct tf_thin_info info;
};

/* The bottom-level root of a device; -ENOENT iff there is no such device. */
int tf_thin_dev_root(struct tf_thin_meta *m, uint32_t dev_id, uint64_t *root);
/* Decodes one mapping leaf value into a one-chunk run, checking the data
 * block against the data device size. */
int tf_thin_decode_mapping(const struct tf_thin_meta *m, uint64_t vblock, const uint8_t *value,
			   const char *what, struct tf_thin_run *run);

#endif
