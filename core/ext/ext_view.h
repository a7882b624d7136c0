/* ext_view.h — read-only view of an ext2/3/4 filesystem inside a volume.
 *
 * Backs files/<lv>/ (and files/<lv>/p<N>/): browse a filesystem on a thin
 * volume or snapshot without activating or mounting anything.  A view reads
 * through the caller's read callback within a byte window (the whole volume or
 * one partition, see core/parttable.h); if the filesystem needs recovery its
 * journal is replayed in memory first.  Nothing is ever written.
 *
 * Inode numbers are the filesystem's own (stable; hard links share one);
 * the root directory is TF_EXT_ROOT_INO.  Every function returns 0 (or a
 * count) or -errno and records a message naming the view's label and the
 * inode (tf_fail); the FUSE layer adds the path with tf_fail_ctx.  Error
 * codes: -ENOENT no such name, -ENOTDIR/-EISDIR/-EINVAL wrong inode type,
 * -ENODATA no such xattr, -ERANGE buffer too small, -EIO read failure,
 * -EBADMSG checksum mismatch, -EUCLEAN corrupt structure (also an inode
 * number out of range or an inode not in use), -EOPNOTSUPP unsupported feature
 * (or recovery from an external journal), -EMEDIUMTYPE (open only) the
 * window holds no ext2/3/4 filesystem or holds a journal device.
 *
 * All functions are safe to call from many threads at once on one view
 * (tf_ext_dir handles too); only open/close must not race with other calls.
 */
#ifndef THINFS_EXT_VIEW_H
#define THINFS_EXT_VIEW_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

struct tf_bio;

#define TF_EXT_ROOT_INO 2u

struct tf_ext_view;
struct tf_ext_dir;

struct tf_ext_opts {
	unsigned max_handles; /* libext2fs handles in the pool; 0 = default (4) */
	unsigned cache_dirs;  /* directory listings kept; 0 = default (64) */
	unsigned cache_maps;  /* file block maps kept; 0 = default (256) */
};

/* 1 if the window holds an ext2/3/4 superblock magic, 0 if not, -errno if
 * the read fails.  Cheap: one 1 KiB read.  Use it to decide p<N>/ vs p<N>.img. */
int tf_ext_probe(struct tf_bio *vol, uint64_t off, uint64_t len);

/* Opens a view of the window [off, off+len) of vol (the volume as block
 * I/O, core/vol/volume.h); vol's reads must be thread-safe and it must stay
 * valid until tf_ext_view_close; it is read at absolute volume offsets and
 * never beyond off + len.  label names the view in messages ("volume
 * web p1").  opts may be NULL.  If the superblock is unusable the first
 * backup is tried; if the filesystem needs recovery its journal is replayed
 * into memory (never onto the volume). */
int tf_ext_view_open(struct tf_bio *vol, uint64_t off, uint64_t len, const char *label,
		     const struct tf_ext_opts *opts, struct tf_ext_view **out);
void tf_ext_view_close(struct tf_ext_view *v);

/* What opening did: "" or e.g. "journal replayed in memory: ..." or "primary
 * superblock unusable (...), backup at block 32768 used". */
const char *tf_ext_view_note(const struct tf_ext_view *v);

int tf_ext_lookup(struct tf_ext_view *v, uint32_t dir, const char *name, uint32_t *ino);

/* st_ino = ino, st_mode, st_nlink, st_uid/st_gid (with the high 16 bits),
 * st_size, st_atim/st_mtim/st_ctim (with extra nanoseconds and epoch bits),
 * st_rdev for device nodes, st_blocks in 512-byte units, st_blksize. */
int tf_ext_getattr(struct tf_ext_view *v, uint32_t ino, struct stat *st);

/* Directory iteration: the directory is read once at open (or taken from
 * the view's listing cache) and readdir serves entries from any cookie.
 * Cookies: 0 = start; each entry carries the cookie of the one after it.
 * "." and ".." are included as the directory holds them. */
int tf_ext_opendir(struct tf_ext_view *v, uint32_t ino, struct tf_ext_dir **out);
/* Return nonzero from fill to stop (e.g. the FUSE buffer is full): the
 * entry it was given is then not counted as consumed. */
typedef int (*tf_ext_fill_fn)(void *arg, const char *name, uint32_t ino, unsigned dtype,
			      uint64_t next_cookie);
/* Calls fill for entries from cookie on; returns the number of entries
 * consumed (0 at the end) or -errno. */
int tf_ext_readdir(struct tf_ext_dir *d, uint64_t cookie, tf_ext_fill_fn fill, void *arg);
size_t tf_ext_dir_count(const struct tf_ext_dir *d);
void tf_ext_closedir(struct tf_ext_dir *d);

/* Reads up to len bytes at off of a regular file (or a symlink's target
 * bytes); holes and unwritten extents read as zeros.  Returns the bytes
 * read (short only at end of file), 0 at or past the end. */
ssize_t tf_ext_read(struct tf_ext_view *v, uint32_t ino, void *buf, size_t len, uint64_t off);

/* lseek(SEEK_DATA)/lseek(SEEK_HOLE) from the block map: the resulting
 * offset, or -ENXIO when off >= size (SEEK_DATA also when no data follows). */
int64_t tf_ext_seek_data(struct tf_ext_view *v, uint32_t ino, uint64_t off);
int64_t tf_ext_seek_hole(struct tf_ext_view *v, uint32_t ino, uint64_t off);

/* Copies the target (NUL-terminated) into buf; returns its length, or
 * -ERANGE if size <= length.  Fast, slow and inline-data symlinks. */
int tf_ext_readlink(struct tf_ext_view *v, uint32_t ino, char *buf, size_t size);

/* listxattr/getxattr contracts: size 0 returns the size needed; otherwise
 * -ERANGE if too small.  Names are full ("user.x", "security.selinux",
 * "system.posix_acl_access"; ACL values in the Linux xattr format). */
ssize_t tf_ext_listxattr(struct tf_ext_view *v, uint32_t ino, char *buf, size_t size);
ssize_t tf_ext_getxattr(struct tf_ext_view *v, uint32_t ino, const char *name, void *buf,
			size_t size);

int tf_ext_statfs(struct tf_ext_view *v, struct statvfs *st);

#endif
