/* files.c — the files/ subtree (see files.h): probing volumes for ext2/3/4
 * and partition tables, a per-volume cache of views, and the FUSE work of
 * every node below files/. */
#include "files.h"
#include "ino.h"

#include "core/base/err.h"
#include "core/base/strbuf.h"
#include "core/base/vec.h"
#include "core/ext/ext_view.h"
#include "core/part/parttable.h"
#include "core/pool/pool.h"
#include "core/vol/volume.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PART 127 /* partition numbers the inode scheme can name */

enum fv_kind { FV_NONE, FV_EXT, FV_PARTS };

struct tf_files_vol {
	atomic_int refs;
	struct tf_fs *fs;
	struct tf_vol *vol;
	struct tf_volume *volume; /* vol's, once probed */
	pthread_mutex_t lock;	  /* probing and opening views; never held by readers */
	bool probed;
	int probe_rc;
	enum fv_kind kind;
	struct tf_parttable pt;
	bool part_ext[MAX_PART + 1];
	struct tf_ext_view *views[MAX_PART + 1]; /* by partition number, 0 = whole LV */
	int view_rc[MAX_PART + 1];
	char reason[768];
};

struct cache_entry {
	uint32_t thin_id;
	struct tf_files_vol *fv;
};

struct tf_files_cache {
	pthread_mutex_t lock;
	struct cache_entry *v; /* sorted by thin id */
	size_t n, cap;
};

/* An open file below files/. */
struct files_fh {
	struct tf_files_vol *fv;
	struct tf_ext_view *view; /* NULL for p<N>.img */
	uint64_t start, length;	  /* p<N>.img: the partition's window */
};

static void fv_put(struct tf_files_vol *fv)
{
	if (!fv || atomic_fetch_sub(&fv->refs, 1) != 1)
		return;
	for (int i = 0; i <= MAX_PART; i++)
		if (fv->views[i])
			tf_ext_view_close(fv->views[i]);
	tf_parttable_free(&fv->pt);
	tf_vol_put(fv->vol);
	pthread_mutex_destroy(&fv->lock);
	free(fv);
}

int tf_files_cache_new(struct tf_files_cache **out)
{
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return tf_fail(ENOMEM, "files/: out of memory");
	pthread_mutex_init(&(*out)->lock, NULL);
	return 0;
}

void tf_files_cache_free(struct tf_files_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		fv_put(c->v[i].fv);
	free(c->v);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static void probe(struct tf_files_vol *fv)
{
	struct tf_vol *v = fv->vol;
	int rc;

	fv->probed = true;
	if ((rc = tf_vol_volume(fv->fs, v, &fv->volume)) < 0 ||
	    (rc = tf_ext_probe(tf_volume_bio(fv->volume), 0, v->size_bytes)) < 0) {
		fv->probe_rc = rc;
		snprintf(fv->reason, sizeof(fv->reason), "%s", tf_errmsg());
		return;
	}
	if (rc == 1) {
		fv->kind = FV_EXT;
		snprintf(fv->reason, sizeof(fv->reason), "ext2/3/4 filesystem");
		return;
	}
	if ((rc = tf_parttable_read(tf_volume_bio(fv->volume), &fv->pt)) < 0) {
		fv->probe_rc = rc;
		snprintf(fv->reason, sizeof(fv->reason), "%s", tf_errmsg());
		return;
	}
	if (fv->pt.scheme == TF_PT_NONE) {
		snprintf(fv->reason, sizeof(fv->reason),
			 "no ext2/3/4 filesystem and no partition table%s%s",
			 fv->pt.reason[0] ? ": " : "", fv->pt.reason);
		return;
	}
	fv->kind = FV_PARTS;
	for (unsigned i = 0; i < fv->pt.count; i++) {
		const struct tf_part *p = &fv->pt.parts[i];
		if (p->index <= MAX_PART)
			fv->part_ext[p->index] =
			    tf_ext_probe(tf_volume_bio(fv->volume), p->start, p->length) == 1;
	}
	snprintf(fv->reason, sizeof(fv->reason), "%s partition table, %u partitions%s%s",
		 fv->pt.scheme == TF_PT_GPT ? "GPT" : "MBR", fv->pt.count,
		 fv->pt.reason[0] ? "; " : "", fv->pt.reason);
}

static bool entry_at_or_after(const void *elem, const void *key)
{
	return ((const struct cache_entry *)elem)->thin_id >= *(const uint32_t *)key;
}

/* The files/ state of a volume, probed, with a reference; NULL if the
 * volume is unknown (-ENOENT in *rc). */
static struct tf_files_vol *fv_get(struct tf_fs *fs, uint32_t thin_id, int *rc)
{
	struct tf_files_cache *c = fs->files;
	struct tf_voltab *t = tf_voltab_get(fs);
	struct tf_vol *v = t ? tf_voltab_by_id(t, thin_id) : NULL;
	struct tf_files_vol *fv = NULL;
	size_t lo;

	if (!v) {
		tf_voltab_put(t);
		*rc = -ENOENT;
		return NULL;
	}
	pthread_mutex_lock(&c->lock);
	lo = tf_partition_point(c->v, c->n, sizeof(*c->v), &thin_id, entry_at_or_after);
	if (lo < c->n && c->v[lo].thin_id == thin_id && c->v[lo].fv->vol == v) {
		fv = c->v[lo].fv;
	} else {
		/* New, or the volume changed in a refresh: a fresh state. */
		fv = calloc(1, sizeof(*fv));
		if (!fv || TF_VEC_RESERVE(c->v, c->cap, c->n + 1) < 0) {
			free(fv);
			pthread_mutex_unlock(&c->lock);
			tf_voltab_put(t);
			*rc = tf_fail(ENOMEM, "files/: out of memory");
			return NULL;
		}
		atomic_init(&fv->refs, 1);
		fv->fs = fs;
		fv->vol = v;
		tf_vol_get(v);
		pthread_mutex_init(&fv->lock, NULL);
		if (lo < c->n && c->v[lo].thin_id == thin_id) {
			fv_put(c->v[lo].fv);
		} else {
			memmove(&c->v[lo + 1], &c->v[lo], (c->n - lo) * sizeof(*c->v));
			c->n++;
		}
		c->v[lo] = (struct cache_entry){thin_id, fv};
	}
	atomic_fetch_add(&fv->refs, 1);
	pthread_mutex_unlock(&c->lock);
	tf_voltab_put(t);

	pthread_mutex_lock(&fv->lock);
	if (!fv->probed)
		probe(fv);
	pthread_mutex_unlock(&fv->lock);
	*rc = fv->probe_rc;
	if (*rc < 0) {
		tf_fail(-*rc, "files/%s: %s", fv->vol->name, fv->reason);
		fv_put(fv);
		return NULL;
	}
	return fv;
}

static const struct tf_part *part_by_num(const struct tf_files_vol *fv, unsigned n)
{
	for (unsigned i = 0; i < fv->pt.count; i++)
		if (fv->pt.parts[i].index == n)
			return &fv->pt.parts[i];
	return NULL;
}

/* The view of partition `part` (0: the whole LV), opened on first use. */
static int fv_view(struct tf_files_vol *fv, unsigned part, struct tf_ext_view **out)
{
	int rc = 0;

	if (part > MAX_PART)
		return -ENOENT;
	pthread_mutex_lock(&fv->lock);
	if (!fv->views[part] && fv->view_rc[part] == 0) {
		const struct tf_part *p = part ? part_by_num(fv, part) : NULL;
		uint64_t off = p ? p->start : 0, len = p ? p->length : fv->vol->size_bytes;
		char label[300];

		if (part)
			snprintf(label, sizeof(label), "files/%s/p%u", fv->vol->name, part);
		else
			snprintf(label, sizeof(label), "files/%s", fv->vol->name);
		if ((part && (!p || !fv->part_ext[part])) || (!part && fv->kind != FV_EXT))
			rc = -ENOENT;
		else
			rc = tf_ext_view_open(tf_volume_bio(fv->volume), off, len, label, NULL,
					      &fv->views[part]);
		if (rc == 0 && tf_ext_view_note(fv->views[part])[0]) {
			/* Say what opening did (a journal replayed, a backup superblock). */
			size_t l = strlen(fv->reason);
			snprintf(fv->reason + l, sizeof(fv->reason) - l, "; %s: %s", label,
				 tf_ext_view_note(fv->views[part]));
		}
		if (rc < 0 && rc != -ENOENT) {
			/* Remember the failure: every access would fail the same way. */
			fv->view_rc[part] = rc;
			snprintf(fv->reason, sizeof(fv->reason), "%s", tf_errmsg());
		}
	}
	if (fv->view_rc[part] < 0) {
		rc = fv->view_rc[part];
		tf_fail(-rc, "%s", fv->reason);
	}
	*out = fv->views[part];
	pthread_mutex_unlock(&fv->lock);
	return *out ? 0 : (rc ? rc : -ENOENT);
}

static int ext_attr(struct tf_files_vol *fv, unsigned part, uint32_t eino, struct stat *st)
{
	struct tf_ext_view *view;
	int rc = fv_view(fv, part, &view);

	if (rc == 0)
		rc = tf_ext_getattr(view, eino, st);
	if (rc == 0)
		st->st_ino = tf_ino_ext(fv->vol->thin_id, part, eino);
	return rc;
}

static int node_attr(struct tf_fs *fs, struct tf_files_vol *fv, fuse_ino_t ino, struct stat *st)
{
	switch (tf_ino_class(ino)) {
	case TF_IC_FILES_LV:
		tf_fs_dir_attr(fs, ino, st);
		st->st_mtime = st->st_ctime = fv->vol->ctime ? fv->vol->ctime : fs->mounted_at;
		return 0;
	case TF_IC_PART: {
		const struct tf_part *p = part_by_num(fv, tf_ino_part_num(ino));
		if (!p || fv->part_ext[p->index])
			return -ENOENT;
		tf_fs_file_attr(fs, ino, p->length,
				tf_volume_mapped_bytes(fv->volume, p->start, p->length) / 512,
				fv->vol->ctime, st);
		return 0;
	}
	case TF_IC_EXT:
		return ext_attr(fv, tf_ino_ext_part(ino), tf_ino_ext_num(ino), st);
	default:
		return -ENOENT;
	}
}

static uint32_t ino_thin(fuse_ino_t ino)
{
	switch (tf_ino_class(ino)) {
	case TF_IC_PART:
		return tf_ino_part_thin(ino);
	case TF_IC_EXT:
		return tf_ino_ext_thin(ino);
	default:
		return tf_ino_thin(ino);
	}
}

static int files_getattr(struct tf_fs *fs, fuse_ino_t ino, struct stat *st)
{
	struct tf_files_vol *fv;
	int rc;

	if (ino == TF_INO_FILES) {
		tf_fs_dir_attr(fs, ino, st);
		return 0;
	}
	if (!(fv = fv_get(fs, ino_thin(ino), &rc)))
		return rc;
	rc = node_attr(fs, fv, ino, st);
	fv_put(fv);
	return rc;
}

/* "p3" -> 3, false; "p3.img" -> 3, true. */
static bool parse_part_name(const char *name, unsigned *n, bool *img)
{
	char *end;
	unsigned long v;

	if (name[0] != 'p' || name[1] < '1' || name[1] > '9')
		return false;
	v = strtoul(name + 1, &end, 10);
	if (v > MAX_PART)
		return false;
	*n = (unsigned)v;
	*img = strcmp(end, ".img") == 0;
	return *end == '\0' || *img;
}

static int files_lookup(struct tf_fs *fs, fuse_ino_t parent, const char *name,
			struct fuse_entry_param *e)
{
	struct tf_files_vol *fv;
	int rc;

	if (parent == TF_INO_FILES) {
		struct tf_voltab *t = tf_voltab_get(fs);
		struct tf_vol *v = t ? tf_voltab_by_name(t, name) : NULL;
		uint32_t id = v ? v->thin_id : 0;

		tf_voltab_put(t);
		if (!v || !(fv = fv_get(fs, id, &rc)))
			return v ? rc : -ENOENT;
		e->ino = fv->kind == FV_EXT ? tf_ino_ext(id, 0, TF_EXT_ROOT_INO)
					    : tf_ino_make(TF_IC_FILES_LV, id);
	} else {
		if (!(fv = fv_get(fs, ino_thin(parent), &rc)))
			return rc;
		if (tf_ino_class(parent) == TF_IC_FILES_LV) {
			unsigned n;
			bool img;
			const struct tf_part *p =
			    parse_part_name(name, &n, &img) ? part_by_num(fv, n) : NULL;
			if (!p || img == fv->part_ext[n]) {
				fv_put(fv);
				return -ENOENT;
			}
			e->ino = img ? tf_ino_part(fv->vol->thin_id, n)
				     : tf_ino_ext(fv->vol->thin_id, n, TF_EXT_ROOT_INO);
		} else {
			struct tf_ext_view *view;
			uint32_t child;
			unsigned part = tf_ino_ext_part(parent);

			rc = fv_view(fv, part, &view);
			if (rc == 0)
				rc = tf_ext_lookup(view, tf_ino_ext_num(parent), name, &child);
			if (rc < 0) {
				fv_put(fv);
				return rc;
			}
			e->ino = tf_ino_ext(fv->vol->thin_id, part, child);
		}
	}
	rc = node_attr(fs, fv, e->ino, &e->attr);
	fv_put(fv);
	return rc;
}

static int files_opendir(struct tf_fs *fs, fuse_ino_t ino, struct tf_dirh *h)
{
	struct tf_ext_view *view;
	int rc;

	if (ino == TF_INO_FILES)
		return 0;
	if (!(h->fv = fv_get(fs, ino_thin(ino), &rc)))
		return rc;
	if (tf_ino_class(ino) == TF_IC_EXT) {
		h->cache = tf_pool_kind(fs->pool) == TF_POOL_IMAGE;
		rc = fv_view(h->fv, tf_ino_ext_part(ino), &view);
		if (rc == 0)
			rc = tf_ext_opendir(view, tf_ino_ext_num(ino), &h->ed);
		if (rc < 0) {
			fv_put(h->fv);
			h->fv = NULL;
		}
	} else if (tf_ino_class(ino) != TF_IC_FILES_LV) {
		fv_put(h->fv);
		h->fv = NULL;
		return -ENOTDIR;
	}
	return rc;
}

struct ext_fill {
	struct tf_dirbuf *db;
	struct tf_files_vol *fv;
	unsigned part;
	uint32_t self;
};

static int ext_fill(void *arg, const char *name, uint32_t ino, unsigned dtype, uint64_t next)
{
	struct ext_fill *f = arg;
	struct tf_dirbuf *db = f->db;
	struct stat st = {.st_mode = (mode_t)(dtype << 12)};
	size_t need = fuse_add_direntry(db->req, NULL, 0, name, NULL, 0);

	if (db->used + need > db->size)
		return 1;
	st.st_ino = tf_ino_ext(f->fv->vol->thin_id, f->part, ino ? ino : f->self);
	fuse_add_direntry(db->req, db->buf + db->used, db->size - db->used, name, &st, (off_t)next);
	db->used += need;
	return 0;
}

static int files_readdir(struct tf_fs *fs, fuse_ino_t ino, struct tf_dirh *h, struct tf_dirbuf *db)
{
	(void)fs;
	if (h->ed) { /* ext directories carry their own ".", ".." and cookies */
		struct ext_fill f = {db, h->fv, tf_ino_ext_part(ino), tf_ino_ext_num(ino)};
		int rc = tf_ext_readdir(h->ed, (uint64_t)db->from, ext_fill, &f);
		return rc < 0 ? rc : 0;
	}
	tf_dirbuf_dots(db, ino, ino == TF_INO_FILES ? TF_INO_ROOT : TF_INO_FILES);
	if (ino == TF_INO_FILES) {
		for (size_t i = 0; h->tab && i < h->tab->n; i++)
			if (!tf_dirbuf_add(db, h->tab->by_name[i]->name,
					   tf_ino_make(TF_IC_FILES_LV, h->tab->by_name[i]->thin_id),
					   S_IFDIR))
				break;
		return 0;
	}
	for (unsigned i = 0; h->fv && i < h->fv->pt.count; i++) {
		const struct tf_part *p = &h->fv->pt.parts[i];
		char name[32];
		bool ext;

		if (p->index > MAX_PART)
			continue;
		ext = h->fv->part_ext[p->index];
		snprintf(name, sizeof(name), "p%u%s", p->index, ext ? "" : ".img");
		if (!tf_dirbuf_add(db, name,
				   ext ? tf_ino_ext(h->fv->vol->thin_id, p->index, TF_EXT_ROOT_INO)
				       : tf_ino_part(h->fv->vol->thin_id, p->index),
				   ext ? S_IFDIR : S_IFREG))
			break;
	}
	return 0;
}

static void files_releasedir(struct tf_fs *fs, fuse_ino_t ino, struct tf_dirh *h)
{
	(void)fs;
	(void)ino;
	if (h->ed)
		tf_ext_closedir(h->ed);
	fv_put(h->fv);
}

static int files_open(struct tf_fs *fs, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct files_fh *h;
	int rc;

	if (tf_ino_class(ino) != TF_IC_PART && tf_ino_class(ino) != TF_IC_EXT)
		return -EISDIR;
	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return tf_fail(EROFS, "files/: the filesystems inside volumes are read-only");
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	if (!(h->fv = fv_get(fs, ino_thin(ino), &rc))) {
		free(h);
		return rc;
	}
	if (tf_ino_class(ino) == TF_IC_PART) {
		const struct tf_part *p = part_by_num(h->fv, tf_ino_part_num(ino));
		if (!p)
			rc = -ENOENT;
		else {
			h->start = p->start;
			h->length = p->length;
		}
	} else {
		rc = fv_view(h->fv, tf_ino_ext_part(ino), &h->view);
	}
	if (rc < 0) {
		fv_put(h->fv);
		free(h);
		return rc;
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->keep_cache = tf_pool_kind(fs->pool) == TF_POOL_IMAGE;
	return 0;
}

static ssize_t files_read(struct tf_fs *fs, fuse_ino_t ino, struct fuse_file_info *fi, char *buf,
			  size_t size, off_t off)
{
	struct files_fh *h = (struct files_fh *)(uintptr_t)fi->fh;

	if (h->view)
		return tf_ext_read(h->view, tf_ino_ext_num(ino), buf, size, (uint64_t)off);
	if ((uint64_t)off >= h->length)
		return 0;
	if (size > h->length - (uint64_t)off)
		size = (size_t)(h->length - (uint64_t)off);
	(void)fs;
	return tf_volume_read(h->fv->volume, buf, size, h->start + (uint64_t)off);
}

static int files_lseek(struct tf_fs *fs, fuse_ino_t ino, struct fuse_file_info *fi, off_t off,
		       int whence, off_t *res)
{
	struct files_fh *h = (struct files_fh *)(uintptr_t)fi->fh;
	uint64_t r;
	int64_t er;
	int rc;

	(void)fs;
	if (off < 0)
		return -EINVAL;
	if (h->view) {
		er = whence == SEEK_DATA
			 ? tf_ext_seek_data(h->view, tf_ino_ext_num(ino), (uint64_t)off)
			 : tf_ext_seek_hole(h->view, tf_ino_ext_num(ino), (uint64_t)off);
		if (er < 0)
			return (int)er;
		*res = (off_t)er;
		return 0;
	}
	if ((uint64_t)off >= h->length)
		return -ENXIO;
	rc = tf_volume_seek(h->fv->volume, h->start + (uint64_t)off, whence, &r);
	if (rc == -ENXIO && whence == SEEK_HOLE)
		r = h->start + h->length;
	else if (rc < 0)
		return rc;
	if (r >= h->start + h->length) {
		if (whence == SEEK_DATA)
			return -ENXIO;
		r = h->start + h->length;
	}
	*res = (off_t)(r - h->start);
	return 0;
}

static void files_release(struct tf_fs *fs, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct files_fh *h = (struct files_fh *)(uintptr_t)fi->fh;

	(void)fs;
	(void)ino;
	fv_put(h->fv);
	free(h);
}

/* The volume state and view that hold an ext inode, with a reference on
 * the state; NULL with *rc set if there is none. */
static struct tf_files_vol *ext_target(struct tf_fs *fs, fuse_ino_t ino, struct tf_ext_view **view,
				       int *rc)
{
	struct tf_files_vol *fv;

	if (tf_ino_class(ino) != TF_IC_EXT) {
		*rc = -EINVAL;
		return NULL;
	}
	if (!(fv = fv_get(fs, tf_ino_ext_thin(ino), rc)))
		return NULL;
	if ((*rc = fv_view(fv, tf_ino_ext_part(ino), view)) < 0) {
		fv_put(fv);
		return NULL;
	}
	return fv;
}

static int files_readlink(struct tf_fs *fs, fuse_ino_t ino, char *buf, size_t size)
{
	struct tf_ext_view *view;
	int rc;
	struct tf_files_vol *fv = ext_target(fs, ino, &view, &rc);

	if (!fv)
		return rc;
	rc = tf_ext_readlink(view, tf_ino_ext_num(ino), buf, size);
	fv_put(fv);
	return rc;
}

static ssize_t files_getxattr(struct tf_fs *fs, fuse_ino_t ino, const char *name, void *buf,
			      size_t size)
{
	struct tf_ext_view *view;
	ssize_t n;
	int rc;
	struct tf_files_vol *fv = ext_target(fs, ino, &view, &rc);

	if (!fv)
		return rc == -EINVAL ? -ENODATA : rc;
	n = tf_ext_getxattr(view, tf_ino_ext_num(ino), name, buf, size);
	fv_put(fv);
	return n;
}

static ssize_t files_listxattr(struct tf_fs *fs, fuse_ino_t ino, char *buf, size_t size)
{
	struct tf_ext_view *view;
	ssize_t n;
	int rc;
	struct tf_files_vol *fv = ext_target(fs, ino, &view, &rc);

	if (!fv)
		return rc == -EINVAL ? 0 : rc;
	n = tf_ext_listxattr(view, tf_ino_ext_num(ino), buf, size);
	fv_put(fv);
	return n;
}

void tf_files_status(struct tf_fs *fs, struct tf_strbuf *sb)
{
	struct tf_files_cache *c = fs->files;

	tf_sb_printf(sb, "{");
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->n; i++) {
		struct tf_files_vol *fv = c->v[i].fv;

		tf_sb_printf(sb, "%s", i ? ", " : "");
		tf_sb_json_str(sb, fv->vol->name);
		tf_sb_printf(sb, ": ");
		/* fv->lock is held while a volume is probed or a view opened
		 * (data I/O, a journal replay): say so rather than wait. */
		if (pthread_mutex_trylock(&fv->lock) == 0) {
			tf_sb_json_str(sb, fv->reason);
			pthread_mutex_unlock(&fv->lock);
		} else {
			tf_sb_json_str(sb, "being probed or opened");
		}
	}
	pthread_mutex_unlock(&c->lock);
	tf_sb_printf(sb, "}");
}

const struct tf_subtree tf_files_subtree = {
    .name = "files",
    .getattr = files_getattr,
    .lookup = files_lookup,
    .opendir = files_opendir,
    .readdir = files_readdir,
    .releasedir = files_releasedir,
    .open = files_open,
    .read = files_read,
    .lseek = files_lseek,
    .release = files_release,
    .readlink = files_readlink,
    .getxattr = files_getxattr,
    .listxattr = files_listxattr,
};
