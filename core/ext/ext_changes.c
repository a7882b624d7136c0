/* ext_changes.c — file-level differences from changed inode slots (see
 * ext_changes.h). */
#include "core/ext/ext_changes.h"

#include "core/ext/ext_view_priv.h"

#include "core/base/err.h"
#include "core/base/vec.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct layout {
	uint64_t bs, ipg, isize, groups, tbl_blocks;
	uint64_t *tables; /* inode table block of each group */
};

static int layout_of(struct tf_ext_view *v, struct layout *l)
{
	ext2_filsys fs;
	int rc = ext_view_get(v, &fs);

	if (rc < 0)
		return rc;
	l->bs = fs->blocksize;
	l->ipg = EXT2_INODES_PER_GROUP(fs->super);
	l->isize = EXT2_INODE_SIZE(fs->super);
	l->groups = fs->group_desc_count;
	l->tbl_blocks = fs->inode_blocks_per_group;
	l->tables = calloc(l->groups ? l->groups : 1, sizeof(*l->tables));
	for (uint64_t g = 0; l->tables && g < l->groups; g++)
		l->tables[g] = ext2fs_inode_table_loc(fs, (dgrp_t)g);
	ext_view_put(v, fs);
	return l->tables ? 0 : tf_fail(ENOMEM, "diff --files: out of memory");
}

static bool same_layout(const struct layout *a, const struct layout *b)
{
	if (a->bs != b->bs || a->ipg != b->ipg || a->isize != b->isize || a->groups != b->groups)
		return false;
	return memcmp(a->tables, b->tables, a->groups * sizeof(*a->tables)) == 0;
}

/* Marks the inodes whose slots overlap [off, off+len). */
static void mark_range(const struct layout *l, uint64_t off, uint64_t len, uint8_t *cand)
{
	for (uint64_t g = 0; g < l->groups; g++) {
		uint64_t tb = l->tables[g] * l->bs, te = tb + l->ipg * l->isize;
		uint64_t b = off > tb ? off : tb, e = off + len < te ? off + len : te;

		if (b >= e)
			continue;
		for (uint64_t i = (b - tb) / l->isize; i < l->ipg && tb + i * l->isize < e; i++) {
			uint64_t ino = g * l->ipg + i + 1;
			cand[ino / 8] |= (uint8_t)(1u << (ino % 8));
		}
	}
}

/* ---- naming: inode -> paths, for the candidates only ---- */

struct names {
	const uint8_t *cand;
	uint64_t max_ino;
	struct tf_file_change *v; /* kind unused here; path owned */
	uint32_t *ino;
	size_t n, v_cap, ino_cap;
};

static bool is_cand(const struct names *nm, uint32_t ino)
{
	return ino <= nm->max_ino && (nm->cand[ino / 8] & (1u << (ino % 8)));
}

static int name_add(struct names *nm, const char *path, uint32_t ino)
{
	if (TF_VEC_RESERVE(nm->v, nm->v_cap, nm->n + 1) < 0 ||
	    TF_VEC_RESERVE(nm->ino, nm->ino_cap, nm->n + 1) < 0)
		return tf_fail(ENOMEM, "diff --files: out of memory");
	nm->v[nm->n].path = strdup(path);
	nm->ino[nm->n] = ino;
	return nm->v[nm->n++].path ? 0 : tf_fail(ENOMEM, "diff --files: out of memory");
}

struct walk_fill {
	bool oom;
	char (*names)[NAME_MAX_EXT + 1];
	uint32_t *inos;
	unsigned char *types;
	size_t n, names_cap, inos_cap, types_cap;
};

static int collect(void *arg, const char *name, uint32_t ino, unsigned dtype, uint64_t next)
{
	struct walk_fill *w = arg;

	(void)next;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return 0;
	if (TF_VEC_RESERVE(w->names, w->names_cap, w->n + 1) < 0 ||
	    TF_VEC_RESERVE(w->inos, w->inos_cap, w->n + 1) < 0 ||
	    TF_VEC_RESERVE(w->types, w->types_cap, w->n + 1) < 0) {
		w->oom = true;
		return 1;
	}
	snprintf(w->names[w->n], NAME_MAX_EXT + 1, "%s", name);
	w->inos[w->n] = ino;
	w->types[w->n] = (unsigned char)dtype;
	w->n++;
	return 0;
}

static int walk(struct tf_ext_view *v, uint32_t dir, char *path, size_t plen, int depth,
		struct names *nm)
{
	struct walk_fill w = {0};
	struct tf_ext_dir *d;
	int rc;

	if (depth > 256)
		return tf_fail(ELOOP, "%s: directories nested too deep", path);
	if ((rc = tf_ext_opendir(v, dir, &d)) < 0)
		return rc;
	rc = tf_ext_readdir(d, 0, collect, &w);
	tf_ext_closedir(d);
	if (rc >= 0 && w.oom)
		rc = tf_fail(ENOMEM, "diff --files: out of memory");
	for (size_t i = 0; rc >= 0 && i < w.n; i++) {
		int n = snprintf(path + plen, 4096 - plen, "/%s", w.names[i]);
		if (n < 0 || plen + (size_t)n >= 4096)
			continue;
		if (is_cand(nm, w.inos[i]) && (rc = name_add(nm, path, w.inos[i])) < 0)
			break;
		if (w.types[i] == DT_DIR)
			rc = walk(v, w.inos[i], path, plen + (size_t)n, depth + 1, nm);
		path[plen] = '\0';
	}
	free(w.names);
	free(w.inos);
	free(w.types);
	return rc < 0 ? rc : 0;
}

static int name_all(struct tf_ext_view *v, struct names *nm)
{
	char path[4096] = "";

	return walk(v, TF_EXT_ROOT_INO, path, 0, 0, nm);
}

/* ---- comparing ---- */

static bool attr_differs(const struct stat *a, const struct stat *b)
{
	return a->st_mode != b->st_mode || a->st_size != b->st_size || a->st_uid != b->st_uid ||
	       a->st_gid != b->st_gid || a->st_nlink != b->st_nlink ||
	       a->st_mtim.tv_sec != b->st_mtim.tv_sec || a->st_mtim.tv_nsec != b->st_mtim.tv_nsec ||
	       a->st_ctim.tv_sec != b->st_ctim.tv_sec || a->st_ctim.tv_nsec != b->st_ctim.tv_nsec;
}

static int out_add(struct tf_file_change **out, size_t *n, size_t *cap, char kind, const char *p)
{
	if (TF_VEC_RESERVE(*out, *cap, *n + 1) < 0)
		return tf_fail(ENOMEM, "diff --files: out of memory");
	(*out)[*n].kind = kind;
	(*out)[*n].path = strdup(p);
	return (*out)[(*n)++].path ? 0 : tf_fail(ENOMEM, "diff --files: out of memory");
}

static int cmp_pair(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_change(const void *a, const void *b)
{
	const struct tf_file_change *x = a, *y = b;
	int c = strcmp(x->path, y->path);

	return c ? c : x->kind - y->kind;
}

/* Sorts a name list by path, keeping each inode with its path. */
static int names_sort(struct names *nm)
{
	struct pair {
		char *path;
		uint32_t ino;
	} *p = malloc(nm->n * sizeof(*p) + 1);

	if (!p)
		return tf_fail(ENOMEM, "diff --files: out of memory");
	for (size_t i = 0; i < nm->n; i++)
		p[i] = (struct pair){nm->v[i].path, nm->ino[i]};
	qsort(p, nm->n, sizeof(*p), cmp_pair);
	for (size_t i = 0; i < nm->n; i++) {
		nm->v[i].path = p[i].path;
		nm->ino[i] = p[i].ino;
	}
	free(p);
	return 0;
}

static void names_free(struct names *nm)
{
	for (size_t i = 0; i < nm->n; i++)
		free(nm->v[i].path);
	free(nm->v);
	free(nm->ino);
}

int tf_ext_changes(struct tf_ext_view *base, struct tf_ext_view *lv,
		   const struct tf_byte_range *changed, size_t nchanged,
		   struct tf_file_change **out, size_t *n)
{
	struct layout la = {0}, lb = {0};
	struct names nb = {0}, nl = {0};
	uint8_t *cand = NULL;
	size_t cap = 0;
	uint64_t max;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = layout_of(base, &lb)) < 0 || (rc = layout_of(lv, &la)) < 0)
		goto done;
	max = (la.groups > lb.groups ? la.groups : lb.groups) * (la.ipg > lb.ipg ? la.ipg : lb.ipg);
	if (!(cand = calloc(max / 8 + 1, 1))) {
		rc = tf_fail(ENOMEM, "diff --files: out of memory");
		goto done;
	}
	if (!same_layout(&la, &lb) || strstr(tf_ext_view_note(base), "journal") ||
	    strstr(tf_ext_view_note(lv), "journal")) {
		memset(cand, 0xff, max / 8 + 1); /* every inode */
	} else {
		for (size_t i = 0; i < nchanged; i++)
			mark_range(&la, changed[i].off, changed[i].len, cand);
	}
	nb = (struct names){.cand = cand, .max_ino = max};
	nl = nb;
	if ((rc = name_all(base, &nb)) < 0 || (rc = name_all(lv, &nl)) < 0)
		goto done;
	if ((rc = names_sort(&nb)) < 0 || (rc = names_sort(&nl)) < 0)
		goto done;
	/* Merge the two sorted name lists: a path in both with the same inode
	 * may be modified; otherwise it was removed, added, or replaced. */
	for (size_t i = 0, j = 0; rc == 0 && (i < nb.n || j < nl.n);) {
		int c = i == nb.n ? 1 : j == nl.n ? -1 : strcmp(nb.v[i].path, nl.v[j].path);
		struct stat sa, sb;

		if (c < 0) {
			rc = out_add(out, n, &cap, '-', nb.v[i++].path);
		} else if (c > 0) {
			rc = out_add(out, n, &cap, '+', nl.v[j++].path);
		} else if (nb.ino[i] != nl.ino[j]) {
			if ((rc = out_add(out, n, &cap, '-', nb.v[i].path)) == 0)
				rc = out_add(out, n, &cap, '+', nl.v[j].path);
			i++, j++;
		} else {
			if (tf_ext_getattr(base, nb.ino[i], &sb) == 0 &&
			    tf_ext_getattr(lv, nl.ino[j], &sa) == 0 && attr_differs(&sa, &sb) &&
			    !S_ISDIR(sa.st_mode))
				rc = out_add(out, n, &cap, 'M', nl.v[j].path);
			i++, j++;
		}
	}
	if (rc < 0)
		goto done;
	qsort(*out, *n, sizeof(**out), cmp_change);
done:
	names_free(&nb);
	names_free(&nl);
	free(cand);
	free(la.tables);
	free(lb.tables);
	if (rc < 0) {
		tf_file_changes_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

void tf_file_changes_free(struct tf_file_change *c, size_t n)
{
	for (size_t i = 0; c && i < n; i++)
		free(c[i].path);
	free(c);
}
