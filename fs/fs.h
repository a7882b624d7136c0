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
	uint64_t tid; /* pool transaction id this entry was built from */
	/* The chunk map, loaded from the index on first open. */
	pthread_mutex_t runs_lock;
	bool runs_loaded;
	struct tf_thin_run *runs;
	size_t nruns;
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
	pthread_mutex_t ix_lock; /* the index connection is used by one thread at a time */
	char index_path[4096];

	pthread_mutex_t tab_lock; /* guards the pointer swap only */
	struct tf_voltab *tab;

	int64_t mounted_at;
	atomic_uint_fast64_t requests;
	atomic_uint_fast64_t bytes_served;
	atomic_uint_fast64_t refreshes;
	atomic_uint_fast64_t refresh_errors;
	char last_refresh_error[512];

	struct tf_files_cache *files;  /* files/: per-volume filesystem views */
	struct tf_delta_cache *deltas; /* deltas/: planned streams */
	struct tf_recv_table *recv;    /* receive/: running receives */

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
/* Loads v's chunk map from the index if it is not loaded yet. */
int tf_vol_load_runs(struct tf_fs *fs, struct tf_vol *v);
/* Reads [off, off+len) of the volume: holes as zeros, mapped chunks through
 * the pool.  Returns bytes read (short only at end of volume) or -errno. */
ssize_t tf_vol_read(struct tf_fs *fs, struct tf_vol *v, void *buf, size_t len, uint64_t off);
/* SEEK_DATA / SEEK_HOLE over the chunk map; -ENXIO past the last data. */
int tf_vol_seek(struct tf_vol *v, uint64_t off, int whence, uint64_t *res);

/* ---- attributes (attr.c) ---- */
void tf_fs_dir_attr(const struct tf_fs *fs, fuse_ino_t ino, struct stat *st);
void tf_fs_file_attr(const struct tf_fs *fs, fuse_ino_t ino, uint64_t size, uint64_t blocks512,
		     int64_t time, struct stat *st);

/* ---- directory listings (dirbuf.c) ---- */
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

/* ---- subtrees ---- */
/* Each returns 0 or -errno; ops.c replies. */
int tf_volumes_lookup(struct tf_fs *fs, const char *name, struct fuse_entry_param *e);
int tf_volumes_getattr(struct tf_fs *fs, fuse_ino_t ino, struct stat *st);
int tf_volumes_readdir(struct tf_fs *fs, struct tf_voltab *tab, struct tf_dirbuf *db);
int tf_volumes_open(struct tf_fs *fs, fuse_ino_t ino, struct fuse_file_info *fi);
ssize_t tf_volumes_read(struct tf_fs *fs, struct fuse_file_info *fi, char *buf, size_t size,
			off_t off);
int tf_volumes_lseek(struct tf_fs *fs, struct fuse_file_info *fi, off_t off, int whence,
		     off_t *res);
void tf_volumes_release(struct tf_fs *fs, struct fuse_file_info *fi);

/* deltas.c */
struct tf_delta_cache;
int tf_deltas_cache_new(struct tf_delta_cache **out);
void tf_deltas_cache_free(struct tf_delta_cache *c);
int tf_deltas_lookup(struct tf_fs *fs, fuse_ino_t parent, const char *name,
		     struct fuse_entry_param *e);
int tf_deltas_getattr(struct tf_fs *fs, fuse_ino_t ino, struct stat *st);
int tf_deltas_readdir(struct tf_fs *fs, fuse_ino_t ino, struct tf_voltab *tab,
		      struct tf_dirbuf *db);
int tf_deltas_open(struct tf_fs *fs, fuse_ino_t ino, struct fuse_file_info *fi);
ssize_t tf_deltas_read(struct fuse_file_info *fi, char *buf, size_t size, off_t off);
void tf_deltas_release(struct fuse_file_info *fi);

/* recvdir.c */
struct tf_recv_table;
int tf_recvdir_new(struct tf_recv_table **out);
void tf_recvdir_free(struct tf_recv_table *t);
int tf_recvdir_lookup(struct tf_fs *fs, const char *name, struct fuse_entry_param *e);
int tf_recvdir_getattr(struct tf_fs *fs, fuse_ino_t ino, struct stat *st);
int tf_recvdir_readdir(struct tf_fs *fs, struct tf_dirbuf *db);
int tf_recvdir_create(struct tf_fs *fs, const char *name, struct fuse_entry_param *e,
		      struct fuse_file_info *fi);
int tf_recvdir_open(struct tf_fs *fs, fuse_ino_t ino, struct fuse_file_info *fi);
ssize_t tf_recvdir_write(struct tf_fs *fs, struct fuse_file_info *fi, const char *buf, size_t size,
			 off_t off);
int tf_recvdir_flush(struct tf_fs *fs, struct fuse_file_info *fi);
void tf_recvdir_release(struct tf_fs *fs, struct fuse_file_info *fi);
int tf_recvdir_setattr(struct tf_fs *fs, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct stat *out);
int tf_recvdir_rename(struct tf_fs *fs, const char *from, const char *to);
int tf_recvdir_unlink(struct tf_fs *fs, const char *name);

/* statfs.c: the pool's data size and usage, for df (replies itself). */
void tf_fs_statfs(fuse_req_t req, fuse_ino_t ino);

/* status.c: renders .thinfs/status into a malloc'd buffer. */
int tf_status_render(struct tf_fs *fs, char **out, size_t *len);

/* ---- lifecycle (mount.c) ---- */
const struct fuse_lowlevel_ops *tf_fs_ops(void);

#endif
