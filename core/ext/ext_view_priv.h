/* ext_view_priv.h — the view's state, shared by ext_view.c (open, handle
 * pool, caches), ext_dir.c (listings, lookup, readdir), ext_file.c (read,
 * seek, readlink) and ext_attr.c (getattr, xattrs, statfs).  Not an API. */
#ifndef THINFS_EXT_VIEW_PRIV_H
#define THINFS_EXT_VIEW_PRIV_H

#include <pthread.h>

#include "core/ext/ext_internal.h"
#include "core/ext/ext_view.h"

#define NAME_MAX_EXT 255

struct dent {
	uint32_t ino;
	uint32_t name_off;
	uint32_t hnext; /* next entry index + 1 in the hash chain, 0 = end */
	uint8_t type;	/* DT_* */
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
	unsigned nall;	 /* handles open or being opened (<= max_handles) */
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

/* Takes a libext2fs handle from the pool (opening one if the pool may grow,
 * else waiting); give it back with ext_view_put.  0 or -errno. */
int ext_view_get(struct tf_ext_view *v, ext2_filsys *out);
void ext_view_put(struct tf_ext_view *v, ext2_filsys fs);
/* Reads inode ino (range-checked, in use) into *in; 0 or -errno. */
int ext_view_inode(struct tf_ext_view *v, ext2_filsys fs, uint32_t ino,
		   struct ext2_inode_large *in);

/* The caches: under v->mu, find takes a reference; insert publishes a fresh
 * entry (refs 1, the caller's) and returns the one to use; unref drops one. */
void *ext_cache_find(struct tf_ext_view *v, struct cslot *t, unsigned n, uint32_t ino, int is_dir);
void *ext_cache_insert(struct tf_ext_view *v, struct cslot *t, unsigned n, void *fresh, int is_dir);
void ext_cache_unref(struct tf_ext_view *v, void *ent, int is_dir);
/* The start of every cached lookup: 0 with *hit the cached entry for ino
 * (a reference taken), or 1 on a miss with *fs taken (ext_view_put it)
 * and *in read, to build the entry from; -errno with nothing held. */
int ext_cache_get(struct tf_ext_view *v, struct cslot *t, unsigned n, uint32_t ino, int is_dir,
		  void **hit, ext2_filsys *fs, struct ext2_inode_large *in);
void ext_dirlist_free(struct dirlist *dl);
void ext_efile_free(struct efile *f);

#endif
