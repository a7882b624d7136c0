/* ext_internal.h — pieces shared by the ext2/3/4 browsing engine (not an API).
 *
 *   ext_io.c       the byte source (a volume's tf_bio + a window) with its
 *                  journal overlay, and a libext2fs io_manager reading from it
 *   ext_journal.c  jbd2 replay into the overlay
 *   ext_map.c      logical→physical run lists of inodes, errcode_t translator
 *   ext_view.c     the public API (ext_view.h)
 */
#ifndef THINFS_EXT_INTERNAL_H
#define THINFS_EXT_INTERNAL_H

#include <ext2fs/ext2fs.h>
#include <stddef.h>
#include <stdint.h>

#include "core/io/bio.h"

/* Block number → block bytes, filled by journal replay and then frozen:
 * after ext_src has it, nothing writes to it, so readers share it unlocked. */
struct ext_overlay;

struct ext_overlay *ext_overlay_new(unsigned blocksize);
/* Stores a copy of one block (replacing an older copy); 0 or -ENOMEM. */
int ext_overlay_put(struct ext_overlay *ov, uint64_t blk, const void *data);
const void *ext_overlay_get(const struct ext_overlay *ov, uint64_t blk);
size_t ext_overlay_count(const struct ext_overlay *ov);
void ext_overlay_free(struct ext_overlay *ov);

/* Where the filesystem's bytes come from. */
struct ext_src {
	struct tf_bio *vol;	      /* the volume (borrowed) */
	uint64_t off;		      /* window start in the volume */
	uint64_t len;		      /* window length */
	const struct ext_overlay *ov; /* may be NULL */
	const char *label;	      /* for messages */
};

/* Reads len bytes at off (relative to the window) with the overlay applied;
 * 0 or -errno (tf_fail names the label and the range). */
int ext_src_read(const struct ext_src *src, void *buf, size_t len, uint64_t off);

/* The io_manager: open it with the name ext_io_name() produced for a source
 * that outlives every channel.  Read-only: writes fail with EXT2_ET_RO_FILSYS. */
extern io_manager tf_ext_io_manager;
void ext_io_name(const struct ext_src *src, char *buf, size_t len);

/* errcode_t (or a plain errno) → positive errno. */
int ext_errno(errcode_t e);
/* Its message, read from libext2fs's table directly: com_err's
 * error_message() needs a process-wide registration and is not safe to call
 * from many threads at once. */
const char *ext_strerror(errcode_t e);

/* A file's block map as sorted runs; holes are the gaps.  Immutable once built. */
struct ext_run {
	uint64_t lblk; /* first logical block */
	uint64_t pblk; /* first physical block */
	uint64_t len;  /* blocks */
};

struct ext_map {
	uint32_t ino;
	size_t n;
	struct ext_run *runs;
};

/* Builds the map of inode ino (extent or block-mapped; unwritten extents are
 * left out, so they read as zeros).  0 or -errno with a message. */
int ext_map_build(ext2_filsys fs, uint32_t ino, struct ext2_inode *inode, const char *label,
		  struct ext_map **out);
void ext_map_free(struct ext_map *m);
/* Index of the first run ending after lblk (n if none). */
size_t ext_map_find(const struct ext_map *m, uint64_t lblk);

/* Journal replay: when fs (opened without an overlay on src) needs recovery,
 * builds the overlay of committed blocks, with the superblock's needs_recovery
 * flag cleared in its copy.  *out stays NULL when nothing needs replaying.
 * note gets a line describing what was done.  0 or -errno. */
int ext_journal_replay(ext2_filsys fs, const struct ext_src *src, struct ext_overlay **out,
		       char *note, size_t notelen);

#endif
