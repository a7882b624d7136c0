/* ext_dir.c — directories of a view: each is read once into a hashed listing
 * (cached by the view) that serves readdir from any cookie and O(1) lookups,
 * so a 20k-entry htree directory costs one scan, not one per FUSE call. */
#include "core/ext/ext_view_priv.h"

#include "core/base/err.h"
#include "core/base/vec.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned dtype_of(unsigned ft)
{
	switch (ft) {
	case EXT2_FT_REG_FILE:
		return DT_REG;
	case EXT2_FT_DIR:
		return DT_DIR;
	case EXT2_FT_CHRDEV:
		return DT_CHR;
	case EXT2_FT_BLKDEV:
		return DT_BLK;
	case EXT2_FT_FIFO:
		return DT_FIFO;
	case EXT2_FT_SOCK:
		return DT_SOCK;
	case EXT2_FT_SYMLINK:
		return DT_LNK;
	default:
		return DT_UNKNOWN;
	}
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
	/* name_off is 32 bits: a directory's names are bounded by that. */
	if (dl->n >= UINT32_MAX / 2 || dl->names_len + len + 1 > UINT32_MAX ||
	    TF_VEC_RESERVE(dl->ents, dl->cap, dl->n + 1) < 0 ||
	    TF_VEC_RESERVE(dl->names, dl->names_cap, dl->names_len + len + 1) < 0)
		goto nomem;
	memcpy(dl->names + dl->names_len, d->name, len);
	dl->names[dl->names_len + len] = '\0';
	dl->ents[dl->n] =
	    (struct dent){.ino = d->inode,
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

	if ((rc = ext_cache_get(v, v->dirs, v->ndirs, ino, 1, (void **)out, &fs, &in)) <= 0)
		return rc;
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
	ext_view_put(v, fs);
	*out = ext_cache_insert(v, v->dirs, v->ndirs, b.dl, 1);
	return 0;
out:
	ext_view_put(v, fs);
	ext_dirlist_free(b.dl);
	return rc;
}

int tf_ext_lookup(struct tf_ext_view *v, uint32_t dir, const char *name, uint32_t *ino)
{
	size_t len = strlen(name);
	struct dirlist *dl;
	int rc;

	if (len == 0 || len > NAME_MAX_EXT)
		return tf_fail(len ? ENAMETOOLONG : ENOENT,
			       "%s directory inode %u: bad name length %zu", v->label, dir, len);
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
	ext_cache_unref(v, dl, 1);
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
	ext_cache_unref(d->v, d->dl, 1);
	free(d);
}
