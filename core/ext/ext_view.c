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
#include "core/ext/ext_view_priv.h"

#include "core/base/err.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEF_HANDLES 4
#define DEF_DIRS 64
#define DEF_MAPS 256

/* ---- handles ---- */

static errcode_t view_fs_open(struct tf_ext_view *v, ext2_filsys *fs)
{
	return ext2fs_open2(v->name, NULL, EXT2_FLAG_64BITS, (int)v->sb_blk, v->sb_bs,
			    tf_ext_io_manager, fs);
}

int ext_view_get(struct tf_ext_view *v, ext2_filsys *out)
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

void ext_view_put(struct tf_ext_view *v, ext2_filsys fs)
{
	pthread_mutex_lock(&v->mu);
	v->idle[v->nidle++] = fs;
	pthread_cond_signal(&v->cv);
	pthread_mutex_unlock(&v->mu);
}

/* ---- inodes ---- */

int ext_view_inode(struct tf_ext_view *v, ext2_filsys fs, uint32_t ino, struct ext2_inode_large *in)
{
	errcode_t e;

	if (ino < 1 || ino > fs->super->s_inodes_count)
		return tf_fail(EUCLEAN, "%s inode %u: out of range (1..%u)", v->label, ino,
			       fs->super->s_inodes_count);
	memset(in, 0, sizeof(*in));
	e = ext2fs_read_inode_full(fs, ino, (struct ext2_inode *)in, sizeof(*in));
	if (e)
		return tf_fail(ext_errno(e), "%s inode %u: %s", v->label, ino, ext_strerror(e));
	if (in->i_mode == 0)
		return tf_fail(EUCLEAN, "%s inode %u: not in use", v->label, ino);
	return 0;
}

/* ---- caches (LRU tables of refcounted immutable entries) ---- */

void ext_dirlist_free(struct dirlist *dl)
{
	if (!dl)
		return;
	free(dl->ents);
	free(dl->names);
	free(dl->buckets);
	free(dl);
}

void ext_efile_free(struct efile *f)
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
		ext_dirlist_free(ent);
	else
		ext_efile_free(ent);
}

void ext_cache_unref(struct tf_ext_view *v, void *ent, int is_dir)
{
	int last;

	pthread_mutex_lock(&v->mu);
	last = --*ent_refs(ent, is_dir) == 0;
	pthread_mutex_unlock(&v->mu);
	if (last)
		ent_free(ent, is_dir);
}

/* Under v->mu: a cached entry for ino with a reference taken, or NULL. */
void *ext_cache_find(struct tf_ext_view *v, struct cslot *t, unsigned n, uint32_t ino, int is_dir)
{
	for (unsigned i = 0; i < n; i++)
		if (t[i].ent && ent_ino(t[i].ent, is_dir) == ino) {
			t[i].tick = ++v->tick;
			++*ent_refs(t[i].ent, is_dir);
			return t[i].ent;
		}
	return NULL;
}

int ext_cache_get(struct tf_ext_view *v, struct cslot *t, unsigned n, uint32_t ino, int is_dir,
		  void **hit, ext2_filsys *fs, struct ext2_inode_large *in)
{
	int rc;

	pthread_mutex_lock(&v->mu);
	*hit = ext_cache_find(v, t, n, ino, is_dir);
	pthread_mutex_unlock(&v->mu);
	if (*hit)
		return 0;
	if ((rc = ext_view_get(v, fs)) < 0)
		return rc;
	if ((rc = ext_view_inode(v, *fs, ino, in)) < 0) {
		ext_view_put(v, *fs);
		return rc;
	}
	return 1;
}

/* Inserts fresh (refs 1, owned by the caller); returns the entry to use,
 * which is an existing one if another thread won the race. */
void *ext_cache_insert(struct tf_ext_view *v, struct cslot *t, unsigned n, void *fresh, int is_dir)
{
	void *have, *evict = NULL;
	unsigned victim = 0;

	pthread_mutex_lock(&v->mu);
	have = ext_cache_find(v, t, n, ent_ino(fresh, is_dir), is_dir);
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
/* ---- open / close ---- */

int tf_ext_probe(struct tf_bio *vol, uint64_t off, uint64_t len)
{
	uint8_t sb[1024];
	int rc;

	if (len < 2048)
		return 0;
	if ((rc = tf_bio_pread(vol, sb, sizeof(sb), off + 1024)) < 0)
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
	if (ext2fs_le32_to_cpu(sb.s_log_block_size) >
	    EXT2_MAX_BLOCK_LOG_SIZE - EXT2_MIN_BLOCK_LOG_SIZE)
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
			return tf_fail(EMEDIUMTYPE,
				       "%s: an external journal device, not a filesystem",
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
		return tf_fail(EUCLEAN,
			       "%s: superblock geometry is corrupt or larger than the "
			       "volume (%" PRIu64 " bytes)",
			       v->label, v->src.len);
	return tf_fail(ext_errno(e0), "%s: cannot open the filesystem: %s", v->label,
		       ext_strerror(e0));
}

int tf_ext_view_open(struct tf_bio *vol, uint64_t off, uint64_t len, const char *label,
		     const struct tf_ext_opts *opts, struct tf_ext_view **out)
{
	assert(vol && label && out);
	struct tf_ext_view *v = calloc(1, sizeof(*v));
	ext2_filsys fs = NULL;
	char jnote[256];
	int rc;

	if (!v)
		return tf_fail(ENOMEM, "%s: out of memory", label);
	snprintf(v->label, sizeof(v->label), "%s", label ? label : "filesystem");
	v->src = (struct ext_src){.vol = vol, .off = off, .len = len, .label = v->label};
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
			ext_cache_unref(v, v->dirs[i].ent, 1);
	for (unsigned i = 0; v->files && i < v->nfiles; i++)
		if (v->files[i].ent)
			ext_cache_unref(v, v->files[i].ent, 0);
	free(v->all);
	free(v->idle);
	free(v->dirs);
	free(v->files);
	ext_overlay_free(v->ov);
	pthread_mutex_destroy(&v->mu);
	pthread_cond_destroy(&v->cv);
	free(v);
}
