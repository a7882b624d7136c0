/* ino.h — the inode numbering of the thinfs tree.
 *
 * Inode numbers are computed from stable ids (thin device ids, partition
 * numbers, ext inode numbers), never from pointers or allocation order, so
 * they are the same across remounts and a lookup needs no table: the number
 * itself says which subtree and object it names.
 *
 *   bit 63 clear: bits 62..56 are the class (enum tf_ino_class)
 *     VOLUME, DELTA_DIR, FULL_STREAM, FILES_LV:  bits 23..0 thin id
 *     DELTA:    bits 47..24 lv thin id, bits 23..0 base thin id
 *     PART:     bits 31..8 thin id, bits 7..0 partition number
 *     RECEIVE:  bits 23..0 the target's slot in the receive table
 *     FIXED:    the small numbers below name the directories
 *   bit 63 set (EXT): bits 62..39 thin id, 38..32 partition (0 = the whole
 *     LV), 31..0 the ext2/3/4 inode number.
 */
#ifndef THINFS_FS_INO_H
#define THINFS_FS_INO_H

#include <stdint.h>

enum {
	TF_INO_ROOT = 1,
	TF_INO_VOLUMES = 2,
	TF_INO_FILES = 3,
	TF_INO_DELTAS = 4,
	TF_INO_RECEIVE = 5,
	TF_INO_META = 6,   /* .thinfs */
	TF_INO_STATUS = 7, /* .thinfs/status */
};

enum tf_ino_class {
	TF_IC_FIXED = 0,
	TF_IC_VOLUME = 1,
	TF_IC_DELTA_DIR = 2,
	TF_IC_DELTA = 3,
	TF_IC_FULL_STREAM = 4,
	TF_IC_RECEIVE = 5,
	TF_IC_FILES_LV = 6,
	TF_IC_PART = 7,
	TF_IC_EXT = 0x80,
};

#define TF_THIN_ID_MASK 0xffffffu

static inline enum tf_ino_class tf_ino_class(uint64_t ino)
{
	if (ino >> 63)
		return TF_IC_EXT;
	return (enum tf_ino_class)(ino >> 56);
}

static inline uint64_t tf_ino_make(enum tf_ino_class c, uint32_t thin_id)
{
	return ((uint64_t)c << 56) | (thin_id & TF_THIN_ID_MASK);
}

static inline uint32_t tf_ino_thin(uint64_t ino)
{
	return (uint32_t)(ino & TF_THIN_ID_MASK);
}

static inline uint64_t tf_ino_delta(uint32_t lv, uint32_t base)
{
	return ((uint64_t)TF_IC_DELTA << 56) | ((uint64_t)(lv & TF_THIN_ID_MASK) << 24) |
	       (base & TF_THIN_ID_MASK);
}

static inline uint32_t tf_ino_delta_lv(uint64_t ino)
{
	return (uint32_t)((ino >> 24) & TF_THIN_ID_MASK);
}

static inline uint64_t tf_ino_part(uint32_t thin_id, unsigned part)
{
	return ((uint64_t)TF_IC_PART << 56) | ((uint64_t)(thin_id & TF_THIN_ID_MASK) << 8) |
	       (part & 0xff);
}

static inline uint32_t tf_ino_part_thin(uint64_t ino)
{
	return (uint32_t)((ino >> 8) & TF_THIN_ID_MASK);
}

static inline unsigned tf_ino_part_num(uint64_t ino)
{
	return (unsigned)(ino & 0xff);
}

static inline uint64_t tf_ino_ext(uint32_t thin_id, unsigned part, uint32_t ext_ino)
{
	return (1ull << 63) | ((uint64_t)(thin_id & TF_THIN_ID_MASK) << 39) |
	       ((uint64_t)(part & 0x7f) << 32) | ext_ino;
}

static inline uint32_t tf_ino_ext_thin(uint64_t ino)
{
	return (uint32_t)((ino >> 39) & TF_THIN_ID_MASK);
}

static inline unsigned tf_ino_ext_part(uint64_t ino)
{
	return (unsigned)((ino >> 32) & 0x7f);
}

static inline uint32_t tf_ino_ext_num(uint64_t ino)
{
	return (uint32_t)ino;
}

#endif
