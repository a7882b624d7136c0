/* rep_hash.h — the per-range hashes `thinfs verify` compares.
 *
 * A volume is cut into REP_HASH_RANGE (4 MiB) ranges, the last one shorter;
 * each is hashed with SHA-256 over its bytes as a reader sees them.  Only
 * allocated data is read: unmapped chunks of a pool volume and holes of a
 * file (SEEK_DATA/SEEK_HOLE) are fed to the hash as zeros without I/O, and
 * a range with no data at all takes a precomputed zero-range hash.  So two
 * ends compare by their bytes whatever their allocation: a mapped chunk of
 * zeros equals a hole.
 *
 * Wire form (thinfs verify --hashes OBJECT, read back over ssh):
 *   thinfs-hashes 1 <volume bytes> <range bytes> <count> <bytes read>
 *   <64 hex digits>            one line per range, in order
 */
#ifndef THINFS_REP_HASH_H
#define THINFS_REP_HASH_H

#include <stdint.h>
#include <stdio.h>

#define REP_HASH_RANGE (4u << 20)

struct rep_hashes {
	uint64_t size;	     /* volume bytes */
	uint64_t read_bytes; /* data bytes actually read */
	size_t n;
	uint8_t (*h)[32];
};

/* OBJECT: a regular file; IMAGE_DIR/LV (a pool-image directory); VG/LV of a
 * live pool (its pool found with lvs).  Errors name the object. */
int rep_hash_object(const char *object, struct rep_hashes *out);
void rep_hashes_free(struct rep_hashes *h);

int rep_hashes_write(const struct rep_hashes *h, FILE *f);
/* Parses the wire form; -EBADMSG naming what if malformed. */
int rep_hashes_read(FILE *f, const char *what, struct rep_hashes *out);

/* The first range where a and b differ (or -1 if equal; sizes must match). */
long rep_hashes_first_diff(const struct rep_hashes *a, const struct rep_hashes *b);

/* The pool ("VG/POOL") that thin LV "VG/LV" lives in, via lvs. */
int rep_lv_pool(const char *vg_lv, char *pool, size_t len);

#endif
