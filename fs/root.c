/* root.c — the directories that always exist and hold nothing but fixed
 * names: the mount's root and .thinfs/.  Their children belong to other
 * subtrees (volumes/, files/, ..., .thinfs/status); this file only names
 * them. */
#include "fs.h"
#include "ino.h"

#include <errno.h>
#include <string.h>

struct fixed_node {
	fuse_ino_t ino;
	fuse_ino_t parent;
	const char *name;
	mode_t type;
};

static const struct fixed_node fixed_nodes[] = {
    {TF_INO_VOLUMES, TF_INO_ROOT, "volumes", S_IFDIR},
    {TF_INO_FILES, TF_INO_ROOT, "files", S_IFDIR},
    {TF_INO_DELTAS, TF_INO_ROOT, "deltas", S_IFDIR},
    {TF_INO_RECEIVE, TF_INO_ROOT, "receive", S_IFDIR},
    {TF_INO_META, TF_INO_ROOT, ".thinfs", S_IFDIR},
    {TF_INO_STATUS, TF_INO_META, "status", S_IFREG},
};

#define N_FIXED (sizeof(fixed_nodes) / sizeof(fixed_nodes[0]))

static int root_getattr(struct tf_fs *fs, fuse_ino_t ino, struct stat *st)
{
	if (ino != TF_INO_ROOT && ino != TF_INO_META)
		return -ENOENT;
	tf_fs_dir_attr(fs, ino, st);
	return 0;
}

static int root_lookup(struct tf_fs *fs, fuse_ino_t parent, const char *name,
		       struct fuse_entry_param *e)
{
	for (size_t i = 0; i < N_FIXED; i++) {
		if (fixed_nodes[i].parent == parent && strcmp(fixed_nodes[i].name, name) == 0) {
			e->ino = fixed_nodes[i].ino;
			return tf_fs_getattr(fs, e->ino, &e->attr);
		}
	}
	return -ENOENT;
}

static int root_opendir(struct tf_fs *fs, fuse_ino_t ino, struct tf_dirh *h)
{
	(void)fs;
	(void)h;
	return ino == TF_INO_ROOT || ino == TF_INO_META ? 0 : -ENOENT;
}

static int root_readdir(struct tf_fs *fs, fuse_ino_t ino, struct tf_dirh *h, struct tf_dirbuf *db)
{
	(void)fs;
	(void)h;
	if (!tf_dirbuf_dots(db, ino, TF_INO_ROOT))
		return 0;
	for (size_t i = 0; i < N_FIXED; i++)
		if (fixed_nodes[i].parent == ino &&
		    !tf_dirbuf_add(db, fixed_nodes[i].name, fixed_nodes[i].ino,
				   fixed_nodes[i].type))
			break;
	return 0;
}

static int root_open(struct tf_fs *fs, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)fs;
	(void)fi;
	return ino == TF_INO_ROOT || ino == TF_INO_META ? -EISDIR : -ENOENT;
}

const struct tf_subtree tf_root_subtree = {
    .name = "root",
    .getattr = root_getattr,
    .lookup = root_lookup,
    .opendir = root_opendir,
    .readdir = root_readdir,
    .open = root_open,
};
