/* ext_file.c — file contents of a view: reads, SEEK_DATA/SEEK_HOLE and
 * symlink targets from a cached run list of the inode's block map, one source
 * read per contiguous run; inline data and fast symlinks from the inode. */
#include "core/ext/ext_view_priv.h"

#include "core/base/err.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- files: cached block maps ---- */

static int ef_get(struct tf_ext_view *v, uint32_t ino, struct efile **out)
{
	struct ext2_inode_large in;
	struct efile *f = NULL;
	ext2_filsys fs;
	errcode_t e;
	int rc;

	if ((rc = ext_cache_get(v, v->files, v->nfiles, ino, 0, (void **)out, &fs, &in)) <= 0)
		return rc;
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
			e = ext2fs_inline_data_get(fs, ino, (struct ext2_inode *)&in,
						   f->inline_data, &sz);
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
	} else if ((rc = ext_map_build(fs, ino, (struct ext2_inode *)&in, v->label, &f->map)) < 0) {
		goto out;
	}
	ext_view_put(v, fs);
	*out = ext_cache_insert(v, v->files, v->nfiles, f, 0);
	return 0;
out:
	ext_view_put(v, fs);
	ext_efile_free(f);
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
	ext_cache_unref(v, f, 0);
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
	ext_cache_unref(v, f, 0);
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

	if ((rc = ext_view_get(v, &fs)) < 0)
		return rc;
	rc = ext_view_inode(v, fs, ino, &in);
	ext_view_put(v, fs);
	if (rc < 0)
		return rc;
	if (!LINUX_S_ISLNK(in.i_mode))
		return tf_fail(EINVAL, "%s inode %u: not a symlink", v->label, ino);
	if (EXT2_I_SIZE(&in) >= v->bs || EXT2_I_SIZE(&in) == 0)
		return tf_fail(EUCLEAN, "%s symlink inode %u: bad target length %" PRIu64, v->label,
			       ino, (uint64_t)EXT2_I_SIZE(&in));
	if (size <= EXT2_I_SIZE(&in))
		return tf_fail(ERANGE, "%s symlink inode %u: target longer than %zu bytes",
			       v->label, ino, size);
	if ((rc = ef_get(v, ino, &f)) < 0)
		return rc;
	n = ef_read(v, f, (uint8_t *)buf, (size_t)f->size, 0);
	ext_cache_unref(v, f, 0);
	if (n < 0)
		return (int)n;
	buf[n] = '\0';
	return (int)n;
}
