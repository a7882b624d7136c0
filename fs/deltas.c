/* deltas.c — the deltas/ subtree: deltas/<lv>/<base> is the delta stream
 * from thin device <base> to <lv>, deltas/<lv>/@full the full stream of
 * <lv> ('@' cannot start an LV name).  A stream is planned from the index
 * on first lookup — a metadata walk that skips shared subtrees, no data
 * read — so its st_size is true, and it is kept while the pool's
 * transaction id stays the same.  Planning holds no lock: it runs on an
 * index connection of its own (tf_fs_ix_take). */
#include "fs.h"
#include "ino.h"

#include "core/base/err.h"
#include "core/pool/pool.h"
#include "index/delta.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FULL_NAME "@full"
#define CACHE_MAX 64

/* A planned stream, or one being planned: the first lookup plans it with
 * no lock held (the walk may take seconds on a live pool); lookups of the
 * same stream meanwhile wait for it on the cache's condition variable, and
 * every other request goes on. */
struct delta_ent {
	atomic_int refs;
	uint32_t lv, base; /* base TF_STREAM_NO_BASE: full */
	uint64_t tid;
	/* Under the cache lock until ready is set; read-only after. */
	bool ready;
	int rc;
	char err[512];
	struct tf_delta *d;
};

struct tf_delta_cache {
	pthread_mutex_t lock; /* the table and the entries' ready state; never held across a walk */
	pthread_cond_t planned; /* broadcast when an entry becomes ready */
	struct delta_ent *v[CACHE_MAX];
	size_t n;
};

static void ent_put(struct delta_ent *e)
{
	if (e && atomic_fetch_sub(&e->refs, 1) == 1) {
		tf_delta_close(e->d);
		free(e);
	}
}

int tf_deltas_cache_new(struct tf_delta_cache **out)
{
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return tf_fail(ENOMEM, "deltas/: out of memory");
	pthread_mutex_init(&(*out)->lock, NULL);
	pthread_cond_init(&(*out)->planned, NULL);
	return 0;
}

void tf_deltas_cache_free(struct tf_delta_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		ent_put(c->v[i]);
	pthread_cond_destroy(&c->planned);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

#ifndef NDEBUG
/* Tests only (debug builds): with THINFS_TEST_WALK_GATE=PATH every plan
 * creates PATH.waiting and then waits here, where the walk runs, until
 * PATH exists (at most a minute), so a test can show that nothing but the
 * same stream waits for a walk. */
static void test_gate(void)
{
	const char *gate = getenv("THINFS_TEST_WALK_GATE");
	char waiting[4200];
	FILE *f;

	if (!gate || !*gate)
		return;
	snprintf(waiting, sizeof(waiting), "%s.waiting", gate);
	if ((f = fopen(waiting, "we")))
		fclose(f);
	for (int i = 0; i < 6000 && access(gate, F_OK) != 0; i++)
		nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
}
#else
static void test_gate(void)
{
}
#endif

/* Plans lv <- base with a connection of its own: no lock is held. */
static int plan(struct tf_fs *fs, uint32_t lv, uint32_t base, struct tf_delta **out)
{
	struct tf_index *ix;
	int rc = tf_fs_ix_take(fs, &ix);

	if (rc < 0)
		return rc;
	test_gate();
	rc = tf_delta_open(ix, fs->pool, lv, base, out);
	tf_fs_ix_give(fs, ix);
	return rc;
}

/* Drops the cache's reference to e, if e is still in the table. */
static void ent_forget(struct tf_delta_cache *c, struct delta_ent *e)
{
	for (size_t i = 0; i < c->n; i++) {
		if (c->v[i] == e) {
			memmove(&c->v[i], &c->v[i + 1], (c->n - i - 1) * sizeof(c->v[0]));
			c->n--;
			ent_put(e);
			return;
		}
	}
}

/* The planned stream lv <- base, with a reference. */
static int ent_get(struct tf_fs *fs, uint32_t lv, uint32_t base, struct delta_ent **out)
{
	struct tf_delta_cache *c = fs->deltas;
	struct tf_voltab *t = tf_voltab_get(fs);
	uint64_t tid = t ? t->tid : 0;
	struct tf_delta *d = NULL;
	struct delta_ent *e = NULL;
	int rc;

	tf_voltab_put(t);
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->n && !e; i++)
		if (c->v[i]->lv == lv && c->v[i]->base == base && c->v[i]->tid == tid)
			e = c->v[i];
	if (e) { /* planned, or being planned by another request */
		atomic_fetch_add(&e->refs, 1);
		while (!e->ready)
			pthread_cond_wait(&c->planned, &c->lock);
		pthread_mutex_unlock(&c->lock);
		if (e->rc < 0) {
			rc = tf_fail(-e->rc, "%s", e->err);
			ent_put(e);
			return rc;
		}
		*out = e;
		return 0;
	}
	if (!(e = calloc(1, sizeof(*e)))) {
		pthread_mutex_unlock(&c->lock);
		return tf_fail(ENOMEM, "deltas/: out of memory");
	}
	atomic_init(&e->refs, 2); /* the table's and ours */
	e->lv = lv;
	e->base = base;
	e->tid = tid;
	if (c->n == CACHE_MAX) /* the oldest goes; open files and waiters keep theirs */
		ent_forget(c, c->v[0]);
	c->v[c->n++] = e;
	pthread_mutex_unlock(&c->lock);

	rc = plan(fs, lv, base, &d);

	pthread_mutex_lock(&c->lock);
	e->d = d;
	e->rc = rc;
	if (rc < 0) {
		snprintf(e->err, sizeof(e->err), "%s", tf_errmsg());
		ent_forget(c, e); /* the next lookup tries again */
	}
	e->ready = true;
	pthread_cond_broadcast(&c->planned);
	pthread_mutex_unlock(&c->lock);
	if (rc < 0) {
		ent_put(e);
		return rc;
	}
	*out = e;
	return 0;
}

static uint32_t ino_base(fuse_ino_t ino)
{
	return tf_ino_class(ino) == TF_IC_FULL_STREAM ? TF_STREAM_NO_BASE : tf_ino_thin(ino);
}

static uint32_t ino_lv(fuse_ino_t ino)
{
	return tf_ino_class(ino) == TF_IC_FULL_STREAM ? tf_ino_thin(ino) : tf_ino_delta_lv(ino);
}

static int deltas_getattr(struct tf_fs *fs, fuse_ino_t ino, struct stat *st)
{
	struct tf_voltab *t;
	struct delta_ent *e;
	struct tf_vol *v;
	int rc;

	if (ino == TF_INO_DELTAS) {
		tf_fs_dir_attr(fs, ino, st);
		return 0;
	}
	if (tf_ino_class(ino) == TF_IC_DELTA_DIR) {
		t = tf_voltab_get(fs);
		v = t ? tf_voltab_by_id(t, tf_ino_thin(ino)) : NULL;
		if (v)
			tf_fs_dir_attr(fs, ino, st);
		tf_voltab_put(t);
		return v ? 0 : -ENOENT;
	}
	if ((rc = ent_get(fs, ino_lv(ino), ino_base(ino), &e)) < 0)
		return rc;
	tf_fs_file_attr(fs, ino, tf_delta_size(e->d), (tf_delta_size(e->d) + 511) / 512, 0, st);
	ent_put(e);
	return 0;
}

static int deltas_lookup(struct tf_fs *fs, fuse_ino_t parent, const char *name,
			 struct fuse_entry_param *e)
{
	struct tf_voltab *t = tf_voltab_get(fs);
	struct tf_vol *v = t ? tf_voltab_by_name(t, name) : NULL;
	uint32_t lv = tf_ino_thin(parent);

	if (parent == TF_INO_DELTAS) {
		e->ino = v ? tf_ino_make(TF_IC_DELTA_DIR, v->thin_id) : 0;
	} else if (tf_ino_class(parent) != TF_IC_DELTA_DIR) {
		e->ino = 0;
	} else if (strcmp(name, FULL_NAME) == 0) {
		e->ino = tf_voltab_by_id(t, lv) ? tf_ino_make(TF_IC_FULL_STREAM, lv) : 0;
	} else {
		/* Any thin device of the pool works as a base, not only the
		 * listed ones. */
		e->ino = v && v->thin_id != lv ? tf_ino_delta(lv, v->thin_id) : 0;
	}
	tf_voltab_put(t);
	return e->ino ? deltas_getattr(fs, e->ino, &e->attr) : -ENOENT;
}

/* Natural bases of v: its origin, its origin's other snapshots, and its
 * own snapshots. */
static bool natural_base(const struct tf_vol *v, const struct tf_vol *b)
{
	if (b == v)
		return false;
	if (v->origin && strcmp(b->name, v->origin) == 0)
		return true;
	if (v->origin && b->origin && strcmp(b->origin, v->origin) == 0)
		return true;
	return b->origin && strcmp(b->origin, v->name) == 0;
}

static int deltas_opendir(struct tf_fs *fs, fuse_ino_t ino, struct tf_dirh *h)
{
	(void)fs;
	(void)h;
	return ino == TF_INO_DELTAS || tf_ino_class(ino) == TF_IC_DELTA_DIR ? 0 : -ENOTDIR;
}

static int deltas_readdir(struct tf_fs *fs, fuse_ino_t ino, struct tf_dirh *h, struct tf_dirbuf *db)
{
	struct tf_voltab *tab = h->tab;
	struct tf_vol *v;

	(void)fs;
	tf_dirbuf_dots(db, ino, ino == TF_INO_DELTAS ? TF_INO_ROOT : TF_INO_DELTAS);
	if (!tab)
		return 0;
	if (ino == TF_INO_DELTAS) {
		for (size_t i = 0; i < tab->n; i++)
			if (!tf_dirbuf_add(db, tab->by_name[i]->name,
					   tf_ino_make(TF_IC_DELTA_DIR, tab->by_name[i]->thin_id),
					   S_IFDIR))
				break;
		return 0;
	}
	v = tf_voltab_by_id(tab, tf_ino_thin(ino));
	if (!v)
		return -ENOENT;
	if (!tf_dirbuf_add(db, FULL_NAME, tf_ino_make(TF_IC_FULL_STREAM, v->thin_id), S_IFREG))
		return 0;
	for (size_t i = 0; i < tab->n; i++)
		if (natural_base(v, tab->by_name[i]) &&
		    !tf_dirbuf_add(db, tab->by_name[i]->name,
				   tf_ino_delta(v->thin_id, tab->by_name[i]->thin_id), S_IFREG))
			break;
	return 0;
}

static int deltas_open(struct tf_fs *fs, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct delta_ent *e;
	int rc;

	if (ino == TF_INO_DELTAS || tf_ino_class(ino) == TF_IC_DELTA_DIR)
		return -EISDIR;
	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return tf_fail(EROFS, "deltas/: streams are read-only");
	if ((rc = ent_get(fs, ino_lv(ino), ino_base(ino), &e)) < 0)
		return rc;
	fi->fh = (uint64_t)(uintptr_t)e;
	fi->keep_cache = tf_pool_kind(fs->pool) == TF_POOL_IMAGE;
	return 0;
}

static ssize_t deltas_read(struct tf_fs *fs, fuse_ino_t ino, struct fuse_file_info *fi, char *buf,
			   size_t size, off_t off)
{
	struct delta_ent *e = (struct delta_ent *)(uintptr_t)fi->fh;

	(void)fs;
	(void)ino;
	return tf_delta_read(e->d, buf, size, (uint64_t)off);
}

static void deltas_release(struct tf_fs *fs, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)fs;
	(void)ino;
	ent_put((struct delta_ent *)(uintptr_t)fi->fh);
}

const struct tf_subtree tf_deltas_subtree = {
    .name = "deltas",
    .getattr = deltas_getattr,
    .lookup = deltas_lookup,
    .opendir = deltas_opendir,
    .readdir = deltas_readdir,
    .open = deltas_open,
    .read = deltas_read,
    .release = deltas_release,
};
