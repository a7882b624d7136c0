/* attr.c — the attributes every node of the tree shares: owner, mode, times,
 * and the small helper that lists directory entries from a cookie. */
#include "fs.h"
#include "ino.h"

#include <string.h>

static mode_t dir_mode(mode_t file_mode)
{
	/* A directory is searchable by whoever may read its files. */
	return file_mode | ((file_mode & 0444) >> 2);
}

void tf_fs_dir_attr(const struct tf_fs *fs, fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = S_IFDIR | dir_mode(fs->opts.file_mode);
	if (ino == TF_INO_RECEIVE) /* streams are written into it */
		st->st_mode |= 0200;
	st->st_nlink = 2;
	st->st_uid = fs->opts.uid;
	st->st_gid = fs->opts.gid;
	st->st_blksize = 4096;
	st->st_atime = st->st_mtime = st->st_ctime = fs->mounted_at;
}

void tf_fs_file_attr(const struct tf_fs *fs, fuse_ino_t ino, uint64_t size, uint64_t blocks512,
		     int64_t time, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = S_IFREG | fs->opts.file_mode;
	st->st_nlink = 1;
	st->st_uid = fs->opts.uid;
	st->st_gid = fs->opts.gid;
	st->st_size = (off_t)size;
	st->st_blocks = (blkcnt_t)blocks512;
	/* cp and tar size their buffers by st_blksize: make copies use large I/O. */
	st->st_blksize = 1 << 20;
	st->st_atime = st->st_mtime = st->st_ctime = time ? time : fs->mounted_at;
}

bool tf_dirbuf_add(struct tf_dirbuf *db, const char *name, fuse_ino_t ino, mode_t mode)
{
	struct stat st = {.st_ino = ino, .st_mode = mode};
	off_t cookie = ++db->next;
	size_t need;

	if (db->full)
		return false;
	if (cookie <= db->from)
		return true;
	need = fuse_add_direntry(db->req, NULL, 0, name, NULL, 0);
	if (db->used + need > db->size) {
		db->full = true;
		return false;
	}
	fuse_add_direntry(db->req, db->buf + db->used, db->size - db->used, name, &st, cookie);
	db->used += need;
	return true;
}

bool tf_dirbuf_dots(struct tf_dirbuf *db, fuse_ino_t self, fuse_ino_t parent)
{
	return tf_dirbuf_add(db, ".", self, S_IFDIR) && tf_dirbuf_add(db, "..", parent, S_IFDIR);
}
