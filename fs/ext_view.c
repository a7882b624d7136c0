/* ext_view.c — the read-only ext2/3/4 view behind files/<lv>/ (ext_view.h).
 *
 * Threads.  libext2fs handles (ext2_filsys) are not thread-safe: each keeps
 * an inode cache, scratch buffers and an io channel.  A view therefore owns a
 * small pool of handles (default 4) opened on the same source: a thread takes
 * one for the duration of one libext2fs call sequence and gives it back; a
 * thread that finds the pool empty opens another handle (up to the limit) or
 * waits.  The view's mutex only guards the pool and the caches — it is never
 * held across I/O, so N readers make progress in parallel.  All handles share
 * the one journal overlay, which is immutable after open.  Per-thread handles
 * were the alternative; FUSE's thread count is unbounded and each handle holds
 * the group descriptors, so a bounded pool is kinder to memory.
 *
 * Hot paths avoid the handles entirely: file data is read with a cached run
 * list of the inode's block map (ext_map.c) straight from the source, one read
 * per contiguous run; directories are listed once into a cached, hashed
 * listing that serves readdir from any cookie and lookups in O(1), so a 20k
 * entry htree directory is scanned once, not once per FUSE call.  Both caches
 * are small LRU tables of refcounted immutable entries (the volume under a
 * view never changes: snapshots are read-only, live volumes are validated by
 * the caller's read path).
 */
#include "ext_view.h"

#include "core/err.h"
#include "ext_internal.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#define DEF_HANDLES 4
#define DEF_DIRS 64
#define DEF_MAPS 256
#define NAME_MAX_EXT 255

struct dent {
	uint32_t ino;
	uint32_t name_off;
	uint32_t hnext; /* next entry index + 1 in the hash chain, 0 = end */
	uint8_t type;   /* DT_* */
};

struct dirlist {
	uint32_t ino;
	unsigned refs;
	size_t n, cap;
	struct dent *ents;
	char *names;
	size_t names_len, names_cap;
	uint32_t *buckets; /* entry index + 1 */
	size_t nbuckets;
};

struct efile {
	uint32_t ino;
	unsigned refs;
	uint64_t size;
	unsigned char *inline_data; /* inline-data files and fast symlinks */
	size_t inline_len;
	struct ext_map *map;
};

struct cslot {
	void *ent; /* struct dirlist * or struct efile * */
	uint64_t tick;
};

struct tf_ext_view {
	struct ext_src src;
	char label[128];
	char name[64]; /* io_manager channel name */
	char note[320];
	struct ext_overlay *ov;
	blk64_t sb_blk; /* 0: primary superblock; else the backup used */
	unsigned sb_bs;
	unsigned bs;
	struct ext2_super_block super; /* copy, for statfs */

	pthread_mutex_t mu;
	pthread_cond_t cv;
	ext2_filsys *all, *idle;
	unsigned nall;   /* handles open or being opened (<= max_handles) */
	unsigned nslots; /* handles in all[] */
	unsigned nidle, max_handles;
	struct cslot *dirs, *files;
	unsigned ndirs, nfiles;
	uint64_t tick;
};

struct tf_ext_dir {
	struct tf_ext_view *v;
	struct dirlist *dl;
};

/* ---- handles ---- */

static errcode_t view_fs_open(struct tf_ext_view *v, ext2_filsys *fs)
{
	return ext2fs_open2(v->name, NULL, EXT2_FLAG_64BITS, (int)v->sb_blk, v->sb_bs,
			    tf_ext_io_manager, fs);
}

static int view_get(struct tf_ext_view *v, ext2_filsys *out)
{
	errcode_t e;

	pthread_mutex_lock(&v->mu);
	while (!v->nidle && v->nall >= v->max_handles)
		pthread_cond_wait(&v->cv, &v->mu);
	if (v->nidle) {
		*out = v->idle[--v->nidle];
		pthread_mutex_unlock(&v->mu);
		return 0;
	}
	v->nall++; /* reserve the slot, open outside the lock */
	pthread_mutex_unlock(&v->mu);
	e = view_fs_open(v, out);
	pthread_mutex_lock(&v->mu);
	if (e) {
		v->nall--;
		pthread_cond_signal(&v->cv);
		pthread_mutex_unlock(&v->mu);
		return tf_fail(ext_errno(e), "%s: opening another filesystem handle: %s", v->label,
			       ext_strerror(e));
	}
	v->all[v->nslots++] = *out;
	pthread_mutex_unlock(&v->mu);
	return 0;
}

static void view_put(struct tf_ext_view *v, ext2_filsys fs)
{
	pthread_mutex_lock(&v->mu);
	v->idle[v->nidle++] = fs;
	pthread_cond_signal(&v->cv);
	pthread_mutex_unlock(&v->mu);
}

/* ---- inodes ---- */

static int view_inode(struct tf_ext_view *v, ext2_filsys fs, uint32_t ino,
		      struct ext2_inode_large *in)
{
	errcode_t e;

	if (ino < 1 || ino > fs->super->s_inodes_count)
		return tf_fail(ESTALE, "%s inode %u: out of range (1..%u)", v->label, ino,
			       fs->super->s_inodes_count);
	memset(in, 0, sizeof(*in));
	e = ext2fs_read_inode_full(fs, ino, (struct ext2_inode *)in, sizeof(*in));
	if (e)
		return tf_fail(ext_errno(e), "%s inode %u: %s", v->label, ino, ext_strerror(e));
	if (in->i_mode == 0)
		return tf_fail(ESTALE, "%s inode %u: not in use", v->label, ino);
	return 0;
}

static unsigned dtype_of(unsigned ft)
{
	switch (ft) {
	case EXT2_FT_REG_FILE: return DT_REG;
	case EXT2_FT_DIR: return DT_DIR;
	case EXT2_FT_CHRDEV: return DT_CHR;
	case EXT2_FT_BLKDEV: return DT_BLK;
	case EXT2_FT_FIFO: return DT_FIFO;
	case EXT2_FT_SOCK: return DT_SOCK;
	case EXT2_FT_SYMLINK: return DT_LNK;
	default: return DT_UNKNOWN;
	}
}

/* ---- caches (LRU tables of refcounted immutable entries) ---- */

static void dirlist_free(struct dirlist *dl)
{
	if (!dl)
		return;
	free(dl->ents);
	free(dl->names);
	free(dl->buckets);
	free(dl);
}

static void efile_free(struct efile *f)
{
	if (!f)
		return;
	free(f->inline_data);
	ext_map_free(f->map);
	free(f);
}

static unsigned *ent_refs(void *ent, int is_dir)
{
	return is_dir ? &((struct dirlist *)ent)->refs : &((struct efile *)ent)->refs;
}

static uint32_t ent_ino(void *ent, int is_dir)
{
	return is_dir ? ((struct dirlist *)ent)->ino : ((struct efile *)ent)->ino;
}

static void ent_free(void *ent, int is_dir)
{
	if (is_dir)
		dirlist_free(ent);
	else
		efile_free(ent);
}

static void cache_unref(struct tf_ext_view *v, void *ent, int is_dir)
{
	int last;

	pthread_mutex_lock(&v->mu);
	last = --*ent_refs(ent, is_dir) == 0;
	pthread_mutex_unlock(&v->mu);
	if (last)
		ent_free(ent, is_dir);
}

/* Under v->mu: a cached entry for ino with a reference taken, or NULL. */
static void *cache_find(struct tf_ext_view *v, struct cslot *t, unsigned n, uint32_t ino,
			int is_dir)
{
	for (unsigned i = 0; i < n; i++)
		if (t[i].ent && ent_ino(t[i].ent, is_dir) == ino) {
			t[i].tick = ++v->tick;
			++*ent_refs(t[i].ent, is_dir);
			return t[i].ent;
		}
	return NULL;
}

/* Inserts fresh (refs 1, owned by the caller); returns the entry to use,
 * which is an existing one if another thread won the race. */
static void *cache_insert(struct tf_ext_view *v, struct cslot *t, unsigned n, void *fresh,
			  int is_dir)
{
	void *have, *evict = NULL;
	unsigned victim = 0;

	pthread_mutex_lock(&v->mu);
	have = cache_find(v, t, n, ent_ino(fresh, is_dir), is_dir);
	if (have) {
		pthread_mutex_unlock(&v->mu);
		ent_free(fresh, is_dir);
		return have;
	}
	for (unsigned i = 0; i < n; i++) {
		if (!t[i].ent) {
			victim = i;
			break;
		}
		if (t[i].tick < t[victim].tick)
			victim = i;
	}
	if (t[victim].ent && --*ent_refs(t[victim].ent, is_dir) == 0)
		evict = t[victim].ent;
	t[victim].ent = fresh;
	t[victim].tick = ++v->tick;
	++*ent_refs(fresh, is_dir); /* the table's reference */
	pthread_mutex_unlock(&v->mu);
	ent_free(evict, is_dir);
	return fresh;
}

/* ---- directory listings ---- */

static uint32_t name_hash(const char *s, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)s[i]) * 16777619u;
	return h;
}

struct dl_build {
	struct dirlist *dl;
	int err;
};

static int dl_add(ext2_ino_t dir, int entry, struct ext2_dir_entry *d, int offset, int blocksize,
		  char *buf, void *priv)
{
	struct dl_build *b = priv;
	struct dirlist *dl = b->dl;
	size_t len = (size_t)ext2fs_dirent_name_len(d);

	(void)dir, (void)entry, (void)offset, (void)blocksize, (void)buf;
	if (d->inode == 0 || len == 0 || memchr(d->name, '/', len) || memchr(d->name, '\0', len))
		return 0; /* unusable name: a corrupt entry, not shown */
	if (dl->n == dl->cap) {
		size_t ncap = dl->cap ? dl->cap * 2 : 64;
		struct dent *ne = realloc(dl->ents, ncap * sizeof(*ne));

		if (!ne || ncap > UINT32_MAX / 2)
			goto nomem;
		dl->ents = ne;
		dl->cap = ncap;
	}
	if (dl->names_len + len + 1 > dl->names_cap) {
		size_t ncap = dl->names_cap ? dl->names_cap * 2 : 1024;
		char *nn;

		while (ncap < dl->names_len + len + 1)
			ncap *= 2;
		if (ncap > UINT32_MAX || !(nn = realloc(dl->names, ncap)))
			goto nomem;
		dl->names = nn;
		dl->names_cap = ncap;
	}
	memcpy(dl->names + dl->names_len, d->name, len);
	dl->names[dl->names_len + len] = '\0';
	dl->ents[dl->n] = (struct dent){.ino = d->inode,
					.name_off = (uint32_t)dl->names_len,
					.type = (uint8_t)dtype_of((unsigned)ext2fs_dirent_file_type(d))};
	dl->names_len += len + 1;
	dl->n++;
	return 0;
nomem:
	b->err = -ENOMEM;
	return DIRENT_ABORT;
}

static int dl_index(struct dirlist *dl)
{
	dl->nbuckets = 16;
	while (dl->nbuckets < dl->n)
		dl->nbuckets *= 2;
	dl->buckets = calloc(dl->nbuckets, sizeof(*dl->buckets));
	if (!dl->buckets)
		return -ENOMEM;
	for (size_t i = 0; i < dl->n; i++) {
		const char *nm = dl->names + dl->ents[i].name_off;
		size_t h = name_hash(nm, strlen(nm)) & (dl->nbuckets - 1);

		dl->ents[i].hnext = dl->buckets[h];
		dl->buckets[h] = (uint32_t)(i + 1);
	}
	return 0;
}

static int dl_get(struct tf_ext_view *v, uint32_t ino, struct dirlist **out)
{
	struct dl_build b = {0};
	ext2_filsys fs;
	struct ext2_inode_large in;
	errcode_t e;
	int rc;

	pthread_mutex_lock(&v->mu);
	*out = cache_find(v, v->dirs, v->ndirs, ino, 1);
	pthread_mutex_unlock(&v->mu);
	if (*out)
		return 0;
	if ((rc = view_get(v, &fs)) < 0)
		return rc;
	if ((rc = view_inode(v, fs, ino, &in)) < 0)
		goto out;
	if (!LINUX_S_ISDIR(in.i_mode)) {
		rc = tf_fail(ENOTDIR, "%s inode %u: not a directory", v->label, ino);
		goto out;
	}
	b.dl = calloc(1, sizeof(*b.dl));
	if (!b.dl) {
		rc = tf_fail(ENOMEM, "%s inode %u: out of memory", v->label, ino);
		goto out;
	}
	b.dl->ino = ino;
	b.dl->refs = 1;
	e = ext2fs_dir_iterate2(fs, ino, 0, NULL, dl_add, &b);
	if (b.err < 0 || (!e && dl_index(b.dl) < 0)) {
		rc = tf_fail(ENOMEM, "%s directory inode %u: out of memory", v->label, ino);
		goto out;
	}
	if (e) {
		rc = tf_fail(ext_errno(e), "%s directory inode %u: %s", v->label, ino,
			     ext_strerror(e));
		goto out;
	}
	view_put(v, fs);
	*out = cache_insert(v, v->dirs, v->ndirs, b.dl, 1);
	return 0;
out:
	view_put(v, fs);
	dirlist_free(b.dl);
	return rc;
}

int tf_ext_lookup(struct tf_ext_view *v, uint32_t dir, const char *name, uint32_t *ino)
{
	size_t len = strlen(name);
	struct dirlist *dl;
	int rc;

	if (len == 0 || len > NAME_MAX_EXT)
		return tf_fail(len ? ENAMETOOLONG : ENOENT, "%s directory inode %u: bad name length %zu",
			       v->label, dir, len);
	if ((rc = dl_get(v, dir, &dl)) < 0)
		return rc;
	rc = tf_fail(ENOENT, "%s directory inode %u: no entry '%s'", v->label, dir, name);
	for (uint32_t i = dl->buckets[name_hash(name, len) & (dl->nbuckets - 1)]; i;
	     i = dl->ents[i - 1].hnext) {
		if (strcmp(dl->names + dl->ents[i - 1].name_off, name) == 0) {
			*ino = dl->ents[i - 1].ino;
			rc = 0;
			break;
		}
	}
	cache_unref(v, dl, 1);
	return rc;
}

int tf_ext_opendir(struct tf_ext_view *v, uint32_t ino, struct tf_ext_dir **out)
{
	struct tf_ext_dir *d = calloc(1, sizeof(*d));
	int rc;

	if (!d)
		return tf_fail(ENOMEM, "%s directory inode %u: out of memory", v->label, ino);
	if ((rc = dl_get(v, ino, &d->dl)) < 0) {
		free(d);
		return rc;
	}
	d->v = v;
	*out = d;
	return 0;
}

int tf_ext_readdir(struct tf_ext_dir *d, uint64_t cookie, tf_ext_fill_fn fill, void *arg)
{
	int n = 0;

	for (uint64_t i = cookie; i < d->dl->n; i++) {
		const struct dent *e = &d->dl->ents[i];

		if (fill(arg, d->dl->names + e->name_off, e->ino, e->type, i + 1))
			break;
		n++;
	}
	return n;
}

size_t tf_ext_dir_count(const struct tf_ext_dir *d)
{
	return d->dl->n;
}

void tf_ext_closedir(struct tf_ext_dir *d)
{
	if (!d)
		return;
	cache_unref(d->v, d->dl, 1);
	free(d);
}

/* ---- files: cached block maps ---- */

static int ef_get(struct tf_ext_view *v, uint32_t ino, struct efile **out)
{
	struct ext2_inode_large in;
	struct efile *f = NULL;
	ext2_filsys fs;
	errcode_t e;
	int rc;

	pthread_mutex_lock(&v->mu);
	*out = cache_find(v, v->files, v->nfiles, ino, 0);
	pthread_mutex_unlock(&v->mu);
	if (*out)
		return 0;
	if ((rc = view_get(v, &fs)) < 0)
		return rc;
	if ((rc = view_inode(v, fs, ino, &in)) < 0)
		goto out;
	if (LINUX_S_ISDIR(in.i_mode)) {
		rc = tf_fail(EISDIR, "%s inode %u: is a directory", v->label, ino);
		goto out;
	}
	if (!LINUX_S_ISREG(in.i_mode) && !LINUX_S_ISLNK(in.i_mode)) {
		rc = tf_fail(EINVAL, "%s inode %u: not a regular file or symlink", v->label, ino);
		goto out;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		rc = tf_fail(ENOMEM, "%s inode %u: out of memory", v->label, ino);
		goto out;
	}
	f->ino = ino;
	f->refs = 1;
	f->size = EXT2_I_SIZE(&in);
	if (in.i_flags & EXT4_INLINE_DATA_FL) {
		size_t sz = 0;

		e = ext2fs_inline_data_size(fs, ino, &sz);
		if (!e && !(f->inline_data = calloc(1, sz + 1)))
			e = EXT2_ET_NO_MEMORY;
		if (!e)
			e = ext2fs_inline_data_get(fs, ino, (struct ext2_inode *)&in, f->inline_data,
						   &sz);
		if (e) {
			rc = tf_fail(ext_errno(e), "%s inode %u: inline data: %s", v->label, ino,
				     ext_strerror(e));
			goto out;
		}
		f->inline_len = sz;
	} else if (LINUX_S_ISLNK(in.i_mode) && ext2fs_is_fast_symlink((struct ext2_inode *)&in)) {
		f->inline_len = f->size < sizeof(in.i_block) ? f->size : sizeof(in.i_block);
		if (!(f->inline_data = malloc(f->inline_len + 1))) {
			rc = tf_fail(ENOMEM, "%s inode %u: out of memory", v->label, ino);
			goto out;
		}
		memcpy(f->inline_data, in.i_block, f->inline_len);
	} else if ((rc = ext_map_build(fs, ino, (struct ext2_inode *)&in, v->label, &f->map)) <
		   0) {
		goto out;
	}
	view_put(v, fs);
	*out = cache_insert(v, v->files, v->nfiles, f, 0);
	return 0;
out:
	view_put(v, fs);
	efile_free(f);
	return rc;
}

static ssize_t ef_read(struct tf_ext_view *v, const struct efile *f, uint8_t *buf, size_t len,
		       uint64_t off)
{
	uint64_t end, pos, bs = v->bs;
	int rc;

	if (off >= f->size)
		return 0;
	if (len > f->size - off)
		len = (size_t)(f->size - off);
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	end = off + len;
	if (!f->map) {
		/* inline data: the bytes past what is stored read as zeros */
		memset(buf, 0, len);
		if (off < f->inline_len)
			memcpy(buf, f->inline_data + off,
			       (size_t)((f->inline_len < end ? f->inline_len : end) - off));
		return (ssize_t)len;
	}
	for (pos = off; pos < end;) {
		uint64_t lblk = pos / bs, stop;
		size_t i = ext_map_find(f->map, lblk);
		const struct ext_run *r = i < f->map->n ? &f->map->runs[i] : NULL;

		if (r && r->lblk <= lblk) {
			stop = (r->lblk + r->len) * bs;
			if (stop > end)
				stop = end;
			rc = ext_src_read(&v->src, buf + (pos - off), (size_t)(stop - pos),
					  r->pblk * bs + (pos - r->lblk * bs));
			if (rc < 0)
				return tf_fail_ctx(rc, "inode %u at %" PRIu64 ": ", f->ino, pos);
		} else {
			stop = r ? r->lblk * bs : end;
			if (stop > end)
				stop = end;
			memset(buf + (pos - off), 0, (size_t)(stop - pos));
		}
		pos = stop;
	}
	return (ssize_t)len;
}

ssize_t tf_ext_read(struct tf_ext_view *v, uint32_t ino, void *buf, size_t len, uint64_t off)
{
	struct efile *f;
	ssize_t n;
	int rc;

	if ((rc = ef_get(v, ino, &f)) < 0)
		return rc;
	n = ef_read(v, f, buf, len, off);
	cache_unref(v, f, 0);
	return n;
}

static int64_t ef_seek(struct tf_ext_view *v, uint32_t ino, uint64_t off, int want_data)
{
	uint64_t bs = v->bs, res;
	struct efile *f;
	int rc;

	if ((rc = ef_get(v, ino, &f)) < 0)
		return rc;
	if (off >= f->size) {
		res = UINT64_MAX;
	} else if (!f->map) {
		res = want_data ? off : f->size;
	} else {
		uint64_t lblk = off / bs;
		size_t i = ext_map_find(f->map, lblk);
		const struct ext_run *r = i < f->map->n ? &f->map->runs[i] : NULL;

		if (want_data) {
			res = !r ? UINT64_MAX : r->lblk <= lblk ? off : r->lblk * bs;
			if (res != UINT64_MAX && res >= f->size)
				res = UINT64_MAX;
		} else if (!r || r->lblk > lblk) {
			res = off;
		} else {
			uint64_t e = r->lblk + r->len;

			while (++i < f->map->n && f->map->runs[i].lblk == e)
				e += f->map->runs[i].len;
			res = e * bs < f->size ? e * bs : f->size;
		}
	}
	cache_unref(v, f, 0);
	if (res == UINT64_MAX)
		return tf_fail(ENXIO, "%s inode %u: no %s at or after offset %" PRIu64, v->label,
			       ino, want_data ? "data" : "hole", off);
	return (int64_t)res;
}

int64_t tf_ext_seek_data(struct tf_ext_view *v, uint32_t ino, uint64_t off)
{
	return ef_seek(v, ino, off, 1);
}

int64_t tf_ext_seek_hole(struct tf_ext_view *v, uint32_t ino, uint64_t off)
{
	return ef_seek(v, ino, off, 0);
}

int tf_ext_readlink(struct tf_ext_view *v, uint32_t ino, char *buf, size_t size)
{
	struct ext2_inode_large in;
	struct efile *f;
	ext2_filsys fs;
	ssize_t n;
	int rc;

	if ((rc = view_get(v, &fs)) < 0)
		return rc;
	rc = view_inode(v, fs, ino, &in);
	view_put(v, fs);
	if (rc < 0)
		return rc;
	if (!LINUX_S_ISLNK(in.i_mode))
		return tf_fail(EINVAL, "%s inode %u: not a symlink", v->label, ino);
	if (EXT2_I_SIZE(&in) >= v->bs || EXT2_I_SIZE(&in) == 0)
		return tf_fail(EUCLEAN, "%s symlink inode %u: bad target length %" PRIu64, v->label,
			       ino, (uint64_t)EXT2_I_SIZE(&in));
	if (size <= EXT2_I_SIZE(&in))
		return tf_fail(ERANGE, "%s symlink inode %u: target longer than %zu bytes", v->label,
			       ino, size);
	if ((rc = ef_get(v, ino, &f)) < 0)
		return rc;
	n = ef_read(v, f, (uint8_t *)buf, (size_t)f->size, 0);
	cache_unref(v, f, 0);
	if (n < 0)
		return (int)n;
	buf[n] = '\0';
	return (int)n;
}

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

	if ((rc = view_get(v, &fs)) < 0)
		return rc;
	if ((rc = view_inode(v, fs, ino, &in)) < 0) {
		view_put(v, fs);
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
	view_put(v, fs);
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
			st->st_rdev = makedev((nw & 0xfff00) >> 8, (nw & 0xff) | ((nw >> 12) & 0xfff00));
	}
	return 0;
}

/* ---- extended attributes ---- */

static int xa_open(struct tf_ext_view *v, ext2_filsys fs, uint32_t ino,
		   struct ext2_xattr_handle **h)
{
	errcode_t e;

	if (ino < 1 || ino > fs->super->s_inodes_count)
		return tf_fail(ESTALE, "%s inode %u: out of range", v->label, ino);
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

	if ((rc = view_get(v, &fs)) < 0)
		return rc;
	rc = xa_open(v, fs, ino, &h);
	if (rc == 0) {
		e = ext2fs_xattrs_iterate(h, xa_name, &l);
		ext2fs_xattrs_close(&h);
	}
	view_put(v, fs);
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

	if ((rc = view_get(v, &fs)) < 0)
		return rc;
	rc = xa_open(v, fs, ino, &h);
	if (rc == 0) {
		e = ext2fs_xattr_get(h, name, &val, &len);
		ext2fs_xattrs_close(&h);
	}
	view_put(v, fs);
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

/* ---- open / close ---- */

int tf_ext_probe(tf_read_fn read, void *ctx, uint64_t off, uint64_t len)
{
	uint8_t sb[1024];
	int rc;

	if (len < 2048)
		return 0;
	if ((rc = read(ctx, sb, sizeof(sb), off + 1024)) < 0)
		return rc;
	return sb[56] == 0x53 && sb[57] == 0xEF && sb[24] <= 6 && sb[25] == 0 && sb[26] == 0 &&
	       sb[27] == 0;
}

const char *tf_ext_view_note(const struct tf_ext_view *v)
{
	return v->note;
}

/* Checks the geometry of the superblock at byte offset off before libext2fs
 * sizes its tables from it: a filesystem larger than its window is refused
 * (as the kernel refuses to mount it), which also bounds what a corrupt or
 * hostile superblock can make libext2fs allocate.  0 if plausible, else an
 * errcode_t. */
static errcode_t view_sb_precheck(struct tf_ext_view *v, uint64_t off)
{
	struct ext2_super_block sb;
	uint64_t blocks;
	unsigned bs;

	if (ext_src_read(&v->src, &sb, sizeof(sb), off) < 0)
		return EXT2_ET_SHORT_READ;
	if (ext2fs_le16_to_cpu(sb.s_magic) != EXT2_SUPER_MAGIC)
		return EXT2_ET_BAD_MAGIC;
	if (ext2fs_le32_to_cpu(sb.s_log_block_size) > EXT2_MAX_BLOCK_LOG_SIZE - EXT2_MIN_BLOCK_LOG_SIZE)
		return EXT2_ET_CORRUPT_SUPERBLOCK;
	bs = EXT2_MIN_BLOCK_SIZE << ext2fs_le32_to_cpu(sb.s_log_block_size);
	blocks = ext2fs_le32_to_cpu(sb.s_blocks_count);
	if (ext2fs_le32_to_cpu(sb.s_feature_incompat) & EXT4_FEATURE_INCOMPAT_64BIT)
		blocks |= (uint64_t)ext2fs_le32_to_cpu(sb.s_blocks_count_hi) << 32;
	if (blocks == 0 || blocks > v->src.len / bs)
		return EXT2_ET_CORRUPT_SUPERBLOCK;
	return 0;
}

/* Opens the first handle: the primary superblock, else the first backup. */
static int view_first_open(struct tf_ext_view *v, ext2_filsys *fs)
{
	static const unsigned bss[] = {1024, 2048, 4096, 65536};
	errcode_t e, e0;

	v->sb_blk = 0;
	v->sb_bs = 0;
	e0 = view_sb_precheck(v, 1024);
	if (e0 == EXT2_ET_SHORT_READ)
		return tf_fail(EIO, "%s: cannot read the superblock: %s", v->label, tf_errmsg());
	if (!e0)
		e0 = view_fs_open(v, fs);
	if (!e0)
		return 0;
	if (e0 == EXT2_ET_UNSUPP_FEATURE || e0 == EXT2_ET_RO_UNSUPP_FEATURE) {
		struct ext2_super_block sb;

		memset(&sb, 0, sizeof(sb));
		if (ext_src_read(&v->src, &sb, sizeof(sb), 1024) == 0 &&
		    (ext2fs_le32_to_cpu(sb.s_feature_incompat) & EXT3_FEATURE_INCOMPAT_JOURNAL_DEV))
			return tf_fail(EMEDIUMTYPE, "%s: an external journal device, not a filesystem",
				       v->label);
		return tf_fail(EOPNOTSUPP, "%s: %s (incompat 0x%x)", v->label, ext_strerror(e0),
			       ext2fs_le32_to_cpu(sb.s_feature_incompat));
	}
	for (unsigned i = 0; i < sizeof(bss) / sizeof(bss[0]); i++) {
		v->sb_bs = bss[i];
		v->sb_blk = bss[i] == 1024 ? 8193 : 8 * (blk64_t)bss[i];
		if ((uint64_t)v->sb_blk * bss[i] + 1024 > v->src.len)
			continue;
		e = view_sb_precheck(v, (uint64_t)v->sb_blk * bss[i]);
		if (!e)
			e = view_fs_open(v, fs);
		if (!e) {
			snprintf(v->note, sizeof(v->note),
				 "primary superblock unusable (%s), backup at block %llu used",
				 ext_strerror(e0), (unsigned long long)v->sb_blk);
			return 0;
		}
	}
	v->sb_blk = 0;
	v->sb_bs = 0;
	if (e0 == EXT2_ET_BAD_MAGIC)
		return tf_fail(EMEDIUMTYPE, "%s: no ext2/3/4 filesystem (bad superblock magic)",
			       v->label);
	if (e0 == EXT2_ET_CORRUPT_SUPERBLOCK)
		return tf_fail(EUCLEAN, "%s: superblock geometry is corrupt or larger than the "
				       "volume (%" PRIu64 " bytes)", v->label, v->src.len);
	return tf_fail(ext_errno(e0), "%s: cannot open the filesystem: %s", v->label,
		       ext_strerror(e0));
}

int tf_ext_view_open(tf_read_fn read, void *ctx, uint64_t off, uint64_t len, const char *label,
		     const struct tf_ext_opts *opts, struct tf_ext_view **out)
{
	struct tf_ext_view *v = calloc(1, sizeof(*v));
	ext2_filsys fs = NULL;
	char jnote[256];
	int rc;

	if (!v)
		return tf_fail(ENOMEM, "%s: out of memory", label);
	snprintf(v->label, sizeof(v->label), "%s", label ? label : "filesystem");
	v->src = (struct ext_src){.read = read, .ctx = ctx, .off = off, .len = len,
				  .label = v->label};
	ext_io_name(&v->src, v->name, sizeof(v->name));
	v->max_handles = opts && opts->max_handles ? opts->max_handles : DEF_HANDLES;
	v->ndirs = opts && opts->cache_dirs ? opts->cache_dirs : DEF_DIRS;
	v->nfiles = opts && opts->cache_maps ? opts->cache_maps : DEF_MAPS;
	pthread_mutex_init(&v->mu, NULL);
	pthread_cond_init(&v->cv, NULL);
	v->all = calloc(v->max_handles, sizeof(*v->all));
	v->idle = calloc(v->max_handles, sizeof(*v->idle));
	v->dirs = calloc(v->ndirs, sizeof(*v->dirs));
	v->files = calloc(v->nfiles, sizeof(*v->files));
	if (!v->all || !v->idle || !v->dirs || !v->files) {
		rc = tf_fail(ENOMEM, "%s: out of memory", v->label);
		goto fail;
	}
	if ((rc = view_first_open(v, &fs)) < 0)
		goto fail;
	if (ext2fs_has_feature_journal_dev(fs->super)) {
		rc = tf_fail(EMEDIUMTYPE, "%s: an external journal device, not a filesystem",
			     v->label);
		goto fail;
	}
	if ((rc = ext_journal_replay(fs, &v->src, &v->ov, jnote, sizeof(jnote))) < 0)
		goto fail;
	if (v->ov) {
		errcode_t e;

		ext2fs_close_free(&fs);
		v->src.ov = v->ov;
		e = view_fs_open(v, &fs);
		if (e) {
			rc = tf_fail(ext_errno(e), "%s: after journal replay: %s", v->label,
				     ext_strerror(e));
			goto fail;
		}
		snprintf(v->note + strlen(v->note), sizeof(v->note) - strlen(v->note), "%s%s",
			 v->note[0] ? "; " : "", jnote);
	}
	v->bs = fs->blocksize;
	v->super = *fs->super;
	v->all[0] = fs;
	v->idle[0] = fs;
	v->nall = v->nslots = v->nidle = 1;
	*out = v;
	return 0;
fail:
	if (fs)
		ext2fs_close_free(&fs);
	tf_ext_view_close(v);
	return rc;
}

void tf_ext_view_close(struct tf_ext_view *v)
{
	if (!v)
		return;
	for (unsigned i = 0; i < v->nslots; i++)
		if (v->all[i])
			ext2fs_close_free(&v->all[i]);
	for (unsigned i = 0; v->dirs && i < v->ndirs; i++)
		if (v->dirs[i].ent)
			cache_unref(v, v->dirs[i].ent, 1);
	for (unsigned i = 0; v->files && i < v->nfiles; i++)
		if (v->files[i].ent)
			cache_unref(v, v->files[i].ent, 0);
	free(v->all);
	free(v->idle);
	free(v->dirs);
	free(v->files);
	ext_overlay_free(v->ov);
	pthread_mutex_destroy(&v->mu);
	pthread_cond_destroy(&v->cv);
	free(v);
}
