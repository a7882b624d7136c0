/* files.h — the files/ subtree: the ext2/3/4 filesystems inside volumes.
 *
 *   files/<lv>/          the filesystem's root, when the LV holds one directly
 *   files/<lv>/p<N>/     the root of partition N, when it holds ext2/3/4
 *   files/<lv>/p<N>.img  any other partition, as a sparse raw image
 *
 * Volumes are probed on first access; what was found (or why nothing was)
 * is kept per volume and shown in .thinfs/status.  Views are opened once per
 * volume and partition and shared by every reader.
 */
#ifndef THINFS_FS_FILES_H
#define THINFS_FS_FILES_H

#include "fs.h"

struct tf_strbuf;
struct tf_files_cache;

/* A directory handle of any subtree (ops.c keeps it in fi->fh). */
struct tf_dirh {
	struct tf_voltab *tab;	 /* the volume table generation listed */
	struct tf_files_vol *fv; /* files/: the volume's state */
	struct tf_ext_dir *ed;	 /* an ext directory */
};

int tf_files_cache_new(struct tf_files_cache **out);
void tf_files_cache_free(struct tf_files_cache *c);

int tf_files_lookup(struct tf_fs *fs, fuse_ino_t parent, const char *name,
		    struct fuse_entry_param *e);
int tf_files_getattr(struct tf_fs *fs, fuse_ino_t ino, struct stat *st);
int tf_files_opendir(struct tf_fs *fs, fuse_ino_t ino, struct tf_dirh *h);
int tf_files_readdir(struct tf_fs *fs, fuse_ino_t ino, struct tf_dirh *h, struct tf_dirbuf *db);
void tf_files_releasedir(struct tf_dirh *h);
int tf_files_open(struct tf_fs *fs, fuse_ino_t ino, struct fuse_file_info *fi);
ssize_t tf_files_read(struct tf_fs *fs, fuse_ino_t ino, struct fuse_file_info *fi, char *buf,
		      size_t size, off_t off);
int tf_files_lseek(struct tf_fs *fs, fuse_ino_t ino, struct fuse_file_info *fi, off_t off,
		   int whence, off_t *res);
void tf_files_release(struct tf_fs *fs, fuse_ino_t ino, struct fuse_file_info *fi);
int tf_files_readlink(struct tf_fs *fs, fuse_ino_t ino, char *buf, size_t size);
ssize_t tf_files_getxattr(struct tf_fs *fs, fuse_ino_t ino, const char *name, void *buf,
			  size_t size);
ssize_t tf_files_listxattr(struct tf_fs *fs, fuse_ino_t ino, char *buf, size_t size);
/* Appends "name": "what was found" for every probed volume. */
void tf_files_status(struct tf_fs *fs, struct tf_strbuf *sb);

#endif
