/* fs.h — the mounted filesystem's context and the contract between the
 * FUSE dispatcher (ops.c) and the subtrees (volumes.c, status.c, ...).
 *
 * The work and the reply are split as in libfuse's passthrough examples:
 * subtree functions return 0 or -errno and fill plain structs; ops.c calls
 * exactly one fuse_reply_* per request.  No lock is held across data I/O.
 */
#ifndef THINFS_FS_H
#define THINFS_FS_H

#define FUSE_USE_VERSION 314

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "core/thin/thin_meta.h"
#include "fs/mount.h"

struct tf_pool;
struct tf_index;
struct tf_files_vol;
struct tf_ext_dir;
struct tf_volume;

/* The largest read the kernel sends.  A zero-copy reply goes through a
 * pipe that must hold it plus a 16-byte header, and without
 * CAP_SYS_RESOURCE a pipe holds at most /proc/sys/fs/pipe-max-size (1 MiB
 * by default); a reply that does not fit is copied instead. */
#ifndef TF_FS_MAX_READ
#define TF_FS_MAX_READ (512u << 10)
#endif

/* One thin LV as the tree serves it.  Immutable once published, shared by
 * reference count between the volume table and open files, so a refresh
 * never pulls the extent map from under a reader. */
struct tf_vol {
	atomic_int refs;
	uint32_t thin_id;
	char *name;
	char *origin;
	char *lv_id;
	uint64_t size_bytes;
	int64_t ctime;
	uint64_t mapped_chunks;
	uint64_t chunk_bytes;
	uint64_t tid;	       /* pool transaction id this entry was built from */
	uint64_t mapping_root; /* with thin_id, lv_id and ctime: which device this is */
	/* The volume (its chunk map), loaded from the index on first open and
	 * then never changed; see tf_vol_volume. */
	_Atomic(struct tf_volume *) volume;
};

/* All volumes of one index generation, sorted by name and by thin id. */
struct tf_voltab {
	atomic_int refs;
	uint64_t tid;
	size_t n;
	struct tf_vol **by_name;
	struct tf_vol **by_id;
};

struct tf_fs {
	struct tf_fs_opts opts;
	struct tf_pool *pool;
	struct tf_index *ix;
	/* ix serves short queries, one thread at a time under ix_lock; slow
	 * work (a refresh, a delta's metadata walk) takes a connection of its
	 * own (tf_fs_ix_take), so no request waits for a walk. */
	pthread_mutex_t ix_lock;
	pthread_mutex_t spare_lock; /* the spare connections' list only */
	struct tf_index *spare[4];
	size_t nspare;
	char index_path[4096];

	pthread_mutex_t tab_lock; /* guards the pointer swap only */
	struct tf_voltab *tab;

	int64_t mounted_at;
	atomic_uint_fast64_t requests;
	atomic_uint_fast64_t bytes_served;
	atomic_uint_fast64_t refreshes;
	atomic_uint_fast64_t refresh_errors;
	char last_refresh_error[512];

	struct tf_files_cache *files;		     /* files/: per-volume filesystem views */
	struct tf_delta_cache *deltas;		     /* deltas/: planned streams */
	struct tf_recv_table *recv;		     /* receive/: running receives */
	struct tf_openfiles *open_files, *open_dirs; /* released at unmount if left open */

	pthread_t refresher;
	bool refresher_started;
	atomic_bool stopping;
	struct fuse_session *se;
};

/* ---- volume table (voltab.c) ---- */
int tf_fs_reload(struct tf_fs *fs); /* rebuild the table from the index */
struct tf_voltab *tf_voltab_get(struct tf_fs *fs);
void tf_voltab_put(struct tf_voltab *t);
struct tf_vol *tf_voltab_by_name(struct tf_voltab *t, const char *name);
struct tf_vol *tf_voltab_by_id(struct tf_voltab *t, uint32_t thin_id);
void tf_vol_get(struct tf_vol *v);
void tf_vol_put(struct tf_vol *v);
/* The volume of v (core/vol/volume.h), loaded from the index on first use;
 * borrowed: valid while the caller holds its reference on v. */
int tf_vol_volume(struct tf_fs *fs, struct tf_vol *v, struct tf_volume **out);

/* ---- index connections for slow work (mount.c) ---- */
/* A connection no other thread uses until it is given back. */
int tf_fs_ix_take(struct tf_fs *fs, struct tf_index **out);
void tf_fs_ix_give(struct tf_fs *fs, struct tf_index *ix);

/* ---- attributes (attr.c) ---- */
void tf_fs_dir_attr(const struct tf_fs *fs, fuse_ino_t ino, struct stat *st);
void tf_fs_file_attr(const struct tf_fs *fs, fuse_ino_t ino, uint64_t size, uint64_t blocks512,
		     int64_t time, struct stat *st);

/* ---- directory listings (attr.c) ---- */
struct tf_dirbuf {
	fuse_req_t req;
	char *buf;
	size_t size, used;
	off_t next; /* cookie of the next entry to add */
	off_t from; /* first cookie the kernel asked for */
	bool full;
};
/* Adds entry number `cookie - 1` if the kernel wants it; returns false when
 * the buffer is full (stop listing). */
bool tf_dirbuf_add(struct tf_dirbuf *db, const char *name, fuse_ino_t ino, mode_t mode);
/* Adds "." and "..". */
bool tf_dirbuf_dots(struct tf_dirbuf *db, fuse_ino_t self, fuse_ino_t parent);

/* A directory handle of any subtree (ops.c keeps it in fi->fh). */
struct tf_dirh {
	struct tf_voltab *tab;	 /* the volume table generation listed */
	struct tf_files_vol *fv; /* files/: the volume's state */
	struct tf_ext_dir *ed;	 /* files/: an ext directory */
	bool cache;		 /* the listing never changes: let the kernel keep it */
};

/* ---- subtrees ----
 *
 * Every node belongs to one subtree, chosen from its inode number alone
 * (ops.c: by class, and for the fixed directories by number).  A subtree is
 * one file that fills one of these tables; ops.c dispatches each FUSE
 * operation once through it and makes the one reply.  Every function
 * returns 0 (or a count) or -errno with the message set (core/base/err.h).
 * A NULL entry answers: lookup -ENOENT, opendir -ENOTDIR, open -EISDIR,
 * lseek -EINVAL, readlink -EINVAL, getxattr -ENODATA, listxattr an empty
 * list, and every write operation -EROFS.  Lookup, create, rename and
 * unlink go to the subtree of the parent directory.
 *
 * Adding a subtree: one file with its table, one row in ops.c. */
struct tf_subtree {
	const char *name; /* for messages */
	int (*getattr)(struct tf_fs *fs, fuse_ino_t ino, struct stat *st);
	int (*lookup)(struct tf_fs *fs, fuse_ino_t parent, const char *name,
		      struct fuse_entry_param *e);
	/* Directories: h->tab is already held; readdir adds "." and ".." too. */
	int (*opendir)(struct tf_fs *fs, fuse_ino_t ino, struct tf_dirh *h);
	int (*readdir)(struct tf_fs *fs, fuse_ino_t ino, struct tf_dirh *h, struct tf_dirbuf *db);
	void (*releasedir)(struct tf_fs *fs, fuse_ino_t ino, struct tf_dirh *h);
	/* Files: open sets fi->fh, release undoes it. */
	int (*open)(struct tf_fs *fs, fuse_ino_t ino, struct fuse_file_info *fi);
	ssize_t (*read)(struct tf_fs *fs, fuse_ino_t ino, struct fuse_file_info *fi, char *buf,
			size_t size, off_t off);
	/* Zero-copy reads, tried before read: describe [off, off+size) as up
	 * to max libfuse buffers (descriptor ranges, or tf_fs_zeros for
	 * holes) and return the bytes they cover, short only at the end of
	 * the file; -ENOTSUP sends the request to read instead. */
	ssize_t (*read_bufs)(struct tf_fs *fs, fuse_ino_t ino, struct fuse_file_info *fi,
			     size_t size, off_t off, struct fuse_buf *bufs, size_t max, size_t *n);
	int (*lseek)(struct tf_fs *fs, fuse_ino_t ino, struct fuse_file_info *fi, off_t off,
		     int whence, off_t *res);
	void (*release)(struct tf_fs *fs, fuse_ino_t ino, struct fuse_file_info *fi);
	int (*readlink)(struct tf_fs *fs, fuse_ino_t ino, char *buf, size_t size);
	ssize_t (*getxattr)(struct tf_fs *fs, fuse_ino_t ino, const char *name, void *buf,
			    size_t size);
	ssize_t (*listxattr)(struct tf_fs *fs, fuse_ino_t ino, char *buf, size_t size);
	/* Writable subtrees. */
	int (*create)(struct tf_fs *fs, fuse_ino_t parent, const char *name,
		      struct fuse_entry_param *e, struct fuse_file_info *fi);
	ssize_t (*write)(struct tf_fs *fs, struct fuse_file_info *fi, const char *buf, size_t size,
			 off_t off);
	int (*flush)(struct tf_fs *fs, struct fuse_file_info *fi);
	int (*setattr)(struct tf_fs *fs, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct stat *out);
	/* flags: RENAME_NOREPLACE may be honoured; others refused. */
	int (*rename)(struct tf_fs *fs, const char *from, const char *to, unsigned int flags);
	int (*unlink)(struct tf_fs *fs, const char *name);
};

extern const struct tf_subtree tf_root_subtree;	   /* root.c: "/" and .thinfs/ */
extern const struct tf_subtree tf_status_subtree;  /* status.c: .thinfs/status */
extern const struct tf_subtree tf_volumes_subtree; /* volumes.c */
extern const struct tf_subtree tf_files_subtree;   /* files.c */
extern const struct tf_subtree tf_deltas_subtree;  /* deltas.c */
extern const struct tf_subtree tf_receive_subtree; /* recvdir.c */

/* Zeros for holes in zero-copy replies, never written (ops.c). */
extern const char *const tf_fs_zeros;
#define TF_FS_ZEROS_BYTES TF_FS_MAX_READ

/* The attributes of any node, through its subtree (ops.c). */
int tf_fs_getattr(struct tf_fs *fs, fuse_ino_t ino, struct stat *st);

/* The state each subtree keeps for the mount (mount.c makes and frees it). */
struct tf_delta_cache;
int tf_deltas_cache_new(struct tf_delta_cache **out);
void tf_deltas_cache_free(struct tf_delta_cache *c);
struct tf_recv_table;
int tf_recvdir_new(struct tf_recv_table **out);
void tf_recvdir_free(struct tf_recv_table *t);

/* openfiles.c: the open files, by (inode, handle), for unmount. */
struct tf_openfiles;
int tf_openfiles_new(struct tf_openfiles **out);
int tf_openfiles_add(struct tf_openfiles *o, fuse_ino_t ino, const struct fuse_file_info *fi);
void tf_openfiles_forget(struct tf_openfiles *o, fuse_ino_t ino, const struct fuse_file_info *fi);
/* Calls release for every file left, then frees o. */
void tf_openfiles_free(struct tf_openfiles *o, struct tf_fs *fs,
		       void (*release)(struct tf_fs *fs, fuse_ino_t ino,
				       struct fuse_file_info *fi));
/* ops.c: releases what is still open (after the FUSE loop ended). */
void tf_fs_release_open(struct tf_fs *fs);

/* statfs.c: the pool's data size and usage, for df (replies itself). */
void tf_fs_statfs(fuse_req_t req, fuse_ino_t ino);

/* ---- lifecycle (mount.c) ---- */
const struct fuse_lowlevel_ops *tf_fs_ops(void);

#endif
