/* ext_attr.c — inode attributes of a view: stat fields (with the ext4 high
 * uid/gid bits, nanosecond/epoch time extensions, device numbers), extended
 * attributes through libext2fs's xattr API, and statfs from the superblock. */
#include "core/ext/ext_view_priv.h"

#include "core/base/err.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

/* ---- attributes ---- */

static void ts_from(struct timespec *ts, uint32_t sec, const struct ext2_inode_large *in,
		    size_t extra_off, uint32_t extra)
{
	int64_t s = (int32_t)sec;

	ts->tv_nsec = 0;
	if (in->i_extra_isize >= extra_off - EXT2_GOOD_OLD_INODE_SIZE + 4) {
		s += (int64_t)(extra & EXT4_EPOCH_MASK) << 32;
		ts->tv_nsec = (long)(extra >> EXT4_EPOCH_BITS);
		if (ts->tv_nsec > 999999999)
			ts->tv_nsec = 0;
	}
	ts->tv_sec = (time_t)s;
}

int tf_ext_getattr(struct tf_ext_view *v, uint32_t ino, struct stat *st)
{
	struct ext2_inode_large in;
	ext2_filsys fs;
	int rc;

	if ((rc = ext_view_get(v, &fs)) < 0)
		return rc;
	if ((rc = ext_view_inode(v, fs, ino, &in)) < 0) {
		ext_view_put(v, fs);
		return rc;
	}
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = in.i_mode;
	st->st_nlink = in.i_links_count;
	st->st_uid = inode_uid(in);
	st->st_gid = inode_gid(in);
	st->st_size = (off_t)EXT2_I_SIZE(&in);
	st->st_blksize = (blksize_t)v->bs;
	st->st_blocks = (blkcnt_t)ext2fs_get_stat_i_blocks(fs, (struct ext2_inode *)&in);
	ext_view_put(v, fs);
	if (EXT2_INODE_SIZE(&v->super) <= EXT2_GOOD_OLD_INODE_SIZE)
		in.i_extra_isize = 0;
	ts_from(&st->st_ctim, in.i_ctime, &in, offsetof(struct ext2_inode_large, i_ctime_extra),
		in.i_ctime_extra);
	ts_from(&st->st_mtim, in.i_mtime, &in, offsetof(struct ext2_inode_large, i_mtime_extra),
		in.i_mtime_extra);
	ts_from(&st->st_atim, in.i_atime, &in, offsetof(struct ext2_inode_large, i_atime_extra),
		in.i_atime_extra);
	if (LINUX_S_ISCHR(in.i_mode) || LINUX_S_ISBLK(in.i_mode)) {
		uint32_t old = in.i_block[0], nw = in.i_block[1];

		if (old)
			st->st_rdev = makedev((old >> 8) & 0xff, old & 0xff);
		else
			st->st_rdev =
			    makedev((nw & 0xfff00) >> 8, (nw & 0xff) | ((nw >> 12) & 0xfff00));
	}
	return 0;
}

/* ---- extended attributes ---- */

static int xa_open(struct tf_ext_view *v, ext2_filsys fs, uint32_t ino,
		   struct ext2_xattr_handle **h)
{
	errcode_t e;

	if (ino < 1 || ino > fs->super->s_inodes_count)
		return tf_fail(EUCLEAN, "%s inode %u: out of range", v->label, ino);
	e = ext2fs_xattrs_open(fs, ino, h);
	if (!e) {
		e = ext2fs_xattrs_read(*h);
		if (e)
			ext2fs_xattrs_close(h);
	}
	if (e == EXT2_ET_MISSING_EA_FEATURE)
		return 1; /* no xattrs on this filesystem */
	if (e)
		return tf_fail(ext_errno(e), "%s inode %u: xattrs: %s", v->label, ino,
			       ext_strerror(e));
	return 0;
}

struct xa_list {
	char *buf;
	size_t size, used;
};

static int xa_name(char *name, char *value, size_t value_len, void *data)
{
	struct xa_list *l = data;
	size_t n = strlen(name) + 1;

	(void)value, (void)value_len;
	if (l->size && l->used + n <= l->size)
		memcpy(l->buf + l->used, name, n);
	l->used += n;
	return 0;
}

ssize_t tf_ext_listxattr(struct tf_ext_view *v, uint32_t ino, char *buf, size_t size)
{
	struct ext2_xattr_handle *h = NULL;
	struct xa_list l = {buf, size, 0};
	ext2_filsys fs;
	errcode_t e = 0;
	int rc;

	if ((rc = ext_view_get(v, &fs)) < 0)
		return rc;
	rc = xa_open(v, fs, ino, &h);
	if (rc == 0) {
		e = ext2fs_xattrs_iterate(h, xa_name, &l);
		ext2fs_xattrs_close(&h);
	}
	ext_view_put(v, fs);
	if (rc < 0)
		return rc;
	if (e)
		return tf_fail(ext_errno(e), "%s inode %u: xattrs: %s", v->label, ino,
			       ext_strerror(e));
	if (size && l.used > size)
		return tf_fail(ERANGE, "%s inode %u: xattr names need %zu bytes", v->label, ino,
			       l.used);
	return (ssize_t)l.used;
}

ssize_t tf_ext_getxattr(struct tf_ext_view *v, uint32_t ino, const char *name, void *buf,
			size_t size)
{
	struct ext2_xattr_handle *h = NULL;
	void *val = NULL;
	size_t len = 0;
	ext2_filsys fs;
	errcode_t e = EXT2_ET_EA_KEY_NOT_FOUND;
	int rc;

	if ((rc = ext_view_get(v, &fs)) < 0)
		return rc;
	rc = xa_open(v, fs, ino, &h);
	if (rc == 0) {
		e = ext2fs_xattr_get(h, name, &val, &len);
		ext2fs_xattrs_close(&h);
	}
	ext_view_put(v, fs);
	if (rc < 0)
		return rc;
	if (e) {
		return tf_fail(ext_errno(e), "%s inode %u: xattr %s: %s", v->label, ino, name,
			       e == EXT2_ET_EA_KEY_NOT_FOUND ? "not present" : ext_strerror(e));
	}
	if (size && len > size) {
		ext2fs_free_mem(&val);
		return tf_fail(ERANGE, "%s inode %u: xattr %s needs %zu bytes", v->label, ino, name,
			       len);
	}
	if (size)
		memcpy(buf, val, len);
	ext2fs_free_mem(&val);
	return (ssize_t)len;
}

int tf_ext_statfs(struct tf_ext_view *v, struct statvfs *st)
{
	const struct ext2_super_block *sb = &v->super;
	uint64_t blocks = ext2fs_blocks_count((struct ext2_super_block *)sb);
	uint64_t bfree = ext2fs_free_blocks_count((struct ext2_super_block *)sb);
	uint64_t resv = ext2fs_r_blocks_count((struct ext2_super_block *)sb);

	memset(st, 0, sizeof(*st));
	st->f_bsize = v->bs;
	st->f_frsize = v->bs;
	st->f_blocks = blocks;
	st->f_bfree = bfree > blocks ? blocks : bfree;
	st->f_bavail = st->f_bfree > resv ? st->f_bfree - resv : 0;
	st->f_files = sb->s_inodes_count;
	st->f_ffree = sb->s_free_inodes_count > sb->s_inodes_count ? sb->s_inodes_count
								   : sb->s_free_inodes_count;
	st->f_favail = st->f_ffree;
	memcpy(&st->f_fsid, sb->s_uuid, sizeof(st->f_fsid) < 16 ? sizeof(st->f_fsid) : 16);
	st->f_flag = ST_RDONLY | ST_NOSUID | ST_NODEV;
	st->f_namemax = NAME_MAX_EXT;
	return 0;
}
