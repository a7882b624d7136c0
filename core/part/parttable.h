/* parttable.h — GPT and MBR partition tables of a volume.
 *
 * thinfs shows files/<lv>/p<N>/ for each partition of a volume that holds a
 * partition table.  This module only finds the partitions: where they are
 * (bytes, bounds-checked against the volume size) and what their type code
 * suggests.  Whether a partition really holds ext2/3/4 is decided by trying to
 * open it (core/ext/ext_view.h).
 *
 * Contract: tf_parttable_read() returns -errno only when reading the volume
 * fails.  A volume without a table, or with a corrupt or nonsensical one, is
 * not an error: the result has scheme TF_PT_NONE, no partitions and a reason.
 * Individual GPT/MBR entries that lie outside the volume are dropped and the
 * reason says so.
 */
#ifndef THINFS_PARTTABLE_H
#define THINFS_PARTTABLE_H

#include <stddef.h>
#include <stdint.h>

struct tf_bio;

enum tf_pt_scheme {
	TF_PT_NONE = 0,
	TF_PT_MBR,
	TF_PT_GPT,
};

enum tf_part_kind {
	TF_PKIND_OTHER = 0, /* unknown type code */
	TF_PKIND_LINUX,	    /* Linux filesystem data (GPT 0FC63DAF-..., MBR 0x83) */
	TF_PKIND_ESP,	    /* EFI system partition */
	TF_PKIND_SWAP,
	TF_PKIND_LVM,
	TF_PKIND_RAID,
	TF_PKIND_BIOS_BOOT,
	TF_PKIND_MS_DATA, /* Microsoft basic data / FAT / NTFS codes */
};

struct tf_part {
	unsigned index;	 /* 1-based name: p<index>; GPT entry slot + 1, MBR 1-4, logical 5+ */
	uint64_t start;	 /* bytes from the start of the volume */
	uint64_t length; /* bytes; start + length <= volume size */
	enum tf_part_kind kind;
	char type[40]; /* GPT type GUID "0FC63DAF-8483-4772-8E79-3D69D8477DE4" or MBR "0x83" */
	char name[80]; /* GPT partition name (UTF-8), "" for MBR */
};

struct tf_parttable {
	enum tf_pt_scheme scheme;
	unsigned sector_size; /* 512 or 4096 (GPT found at LBA 1 of that size) */
	unsigned count;
	struct tf_part *parts; /* count entries, sorted by index */
	size_t parts_cap;
	char reason[200]; /* why there are no partitions, or what was dropped; "" if all fine */
};

/* Reads the partition table of a volume of size bytes through read(ctx, ...).
 * On success *out is filled (free it with tf_parttable_free). */
/* vol: the volume as block I/O (core/vol/volume.h: tf_volume_bio), read
 * through tf_bio_pread within vol->size. */
int tf_parttable_read(struct tf_bio *vol, struct tf_parttable *out);

void tf_parttable_free(struct tf_parttable *pt);

#endif
