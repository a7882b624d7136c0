/* ext_map.c — block maps of inodes as run lists, and the errcode_t translator.
 *
 * Reads and SEEK_DATA/SEEK_HOLE go through a run list built once per inode
 * (and cached by ext_view.c): one binary search per request and one large
 * read per contiguous run, instead of ext2fs_file_read's block-at-a-time
 * I/O.  Unwritten (uninit) extents are treated as holes — they read as zeros,
 * as on a mounted ext4.
 */
#include "core/ext/ext_internal.h"

#include "core/base/err.h"
#include "core/base/vec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A corrupt tree must not make us allocate without bound. */
#define MAP_MAX_RUNS (1u << 24)

int ext_errno(errcode_t e)
{
	if (e > 0 && e < 256)
		return (int)e; /* plain errno passed through the library */
	switch (e) {
	case EXT2_ET_NO_MEMORY:
		return ENOMEM;
	case EXT2_ET_RO_FILSYS:
		return EROFS;
	case EXT2_ET_FILE_NOT_FOUND:
		return ENOENT;
	case EXT2_ET_NO_DIRECTORY:
		return ENOTDIR;
	case EXT2_ET_EA_KEY_NOT_FOUND:
	case EXT2_ET_NO_INLINE_DATA:
		return ENODATA;
	case EXT2_ET_BAD_INODE_NUM:
		return EUCLEAN; /* a corrupt reference, not a stale handle */
	case EXT2_ET_UNSUPP_FEATURE:
	case EXT2_ET_RO_UNSUPP_FEATURE:
	case EXT2_ET_EXTENT_NOT_SUPPORTED:
		return EOPNOTSUPP;
	case EXT2_ET_FILE_TOO_BIG:
		return EFBIG;
	case EXT2_ET_SHORT_READ:
	case EXT2_ET_LLSEEK_FAILED:
		return EIO;
	case EXT2_ET_INODE_CSUM_INVALID:
	case EXT2_ET_EXTENT_CSUM_INVALID:
	case EXT2_ET_DIR_CSUM_INVALID:
	case EXT2_ET_EXT_ATTR_CSUM_INVALID:
	case EXT2_ET_SB_CSUM_INVALID:
	case EXT2_ET_INODE_BITMAP_CSUM_INVALID:
	case EXT2_ET_BLOCK_BITMAP_CSUM_INVALID:
	case EXT2_ET_BAD_EA_HASH:
		return EBADMSG; /* what the kernel reports as EFSBADCRC */
	default:
		return EUCLEAN; /* corruption: the kernel's EFSCORRUPTED */
	}
}

const char *ext_strerror(errcode_t e)
{
	const struct error_table *t = &et_ext2_error_table;

	if (e > 0 && e < 256)
		return strerror((int)e);
	if (e >= t->base && e < t->base + t->n_msgs)
		return t->msgs[e - t->base];
	return "unknown libext2fs error";
}

struct map_build {
	struct ext_map *m;
	size_t cap;
	int err;
};

static int map_add(struct map_build *b, uint64_t lblk, uint64_t pblk, uint64_t len)
{
	struct ext_map *m = b->m;

	if (m->n) {
		struct ext_run *last = &m->runs[m->n - 1];

		if (lblk < last->lblk + last->len)
			return -EUCLEAN; /* out of order or overlapping: corrupt */
		if (last->lblk + last->len == lblk && last->pblk + last->len == pblk) {
			last->len += len;
			return 0;
		}
	}
	if (m->n >= MAP_MAX_RUNS)
		return -EUCLEAN;
	if (TF_VEC_RESERVE(m->runs, b->cap, m->n + 1) < 0)
		return -ENOMEM;
	m->runs[m->n++] = (struct ext_run){lblk, pblk, len};
	return 0;
}

static int map_extents(ext2_filsys fs, uint32_t ino, struct ext2_inode *inode, struct map_build *b,
		       errcode_t *ee)
{
	ext2_extent_handle_t h;
	struct ext2fs_extent ex;
	errcode_t e;
	int rc = 0;

	e = ext2fs_extent_open2(fs, ino, inode, &h);
	if (e) {
		*ee = e;
		return -1;
	}
	e = ext2fs_extent_get(h, EXT2_EXTENT_ROOT, &ex);
	for (unsigned long steps = 0; !e; steps++) {
		if (steps > 4ul * MAP_MAX_RUNS) {
			rc = -EUCLEAN;
			break;
		}
		if ((ex.e_flags & EXT2_EXTENT_FLAGS_LEAF) && ex.e_len &&
		    !(ex.e_flags & EXT2_EXTENT_FLAGS_UNINIT)) {
			rc = map_add(b, ex.e_lblk, ex.e_pblk, ex.e_len);
			if (rc < 0)
				break;
		}
		e = ext2fs_extent_get(h, EXT2_EXTENT_NEXT_LEAF, &ex);
	}
	ext2fs_extent_free(h);
	if (rc < 0)
		return rc;
	if (e && e != EXT2_ET_EXTENT_NO_NEXT) {
		*ee = e;
		return -1;
	}
	return 0;
}

static int map_block_cb(ext2_filsys fs, blk64_t *blocknr, e2_blkcnt_t blockcnt, blk64_t ref_blk,
			int ref_offset, void *priv)
{
	struct map_build *b = priv;

	(void)fs, (void)ref_blk, (void)ref_offset;
	if (blockcnt < 0 || *blocknr == 0)
		return 0;
	b->err = map_add(b, (uint64_t)blockcnt, *blocknr, 1);
	return b->err < 0 ? BLOCK_ABORT : 0;
}

int ext_map_build(ext2_filsys fs, uint32_t ino, struct ext2_inode *inode, const char *label,
		  struct ext_map **out)
{
	struct map_build b = {0};
	errcode_t e = 0;
	int rc = 0;

	b.m = calloc(1, sizeof(*b.m));
	if (!b.m)
		return tf_fail(ENOMEM, "%s inode %u: out of memory", label, ino);
	b.m->ino = ino;
	if (inode->i_flags & EXT4_INLINE_DATA_FL) {
		/* no blocks: the data lives in the inode */
	} else if (inode->i_flags & EXT4_EXTENTS_FL) {
		rc = map_extents(fs, ino, inode, &b, &e);
	} else if (ext2fs_inode_has_valid_blocks2(fs, inode)) {
		e = ext2fs_block_iterate3(fs, ino, BLOCK_FLAG_READ_ONLY | BLOCK_FLAG_DATA_ONLY,
					  NULL, map_block_cb, &b);
		rc = b.err;
		if (e && !rc)
			rc = -1;
	}
	if (rc == -1) {
		ext_map_free(b.m);
		return tf_fail(ext_errno(e), "%s inode %u: block map: %s", label, ino,
			       ext_strerror(e));
	}
	if (rc < 0) {
		ext_map_free(b.m);
		return tf_fail(-rc,
			       "%s inode %u: block map is corrupt (runs out of order or too many)",
			       label, ino);
	}
	*out = b.m;
	return 0;
}

void ext_map_free(struct ext_map *m)
{
	if (!m)
		return;
	free(m->runs);
	free(m);
}

static bool run_ends_after(const void *elem, const void *key)
{
	const struct ext_run *r = elem;

	return r->lblk + r->len > *(const uint64_t *)key;
}

size_t ext_map_find(const struct ext_map *m, uint64_t lblk)
{
	return tf_partition_point(m->runs, m->n, sizeof(*m->runs), &lblk, run_ends_after);
}
