/* recvdir.c — the receive/ subtree: a delta stream written into
 * receive/<lv> is applied to target <lv> as it arrives, all or nothing.
 *
 * The target is an LV of the mounted live pool, or, with -o receive_dir=DIR,
 * the sparse file DIR/<lv>.  The result reaches the writer at close(2):
 * flush runs the final checks and commits, and its error fails close, so cp
 * or rsync exit non-zero.  rsync's temporary names (.<lv>.XXXXXX) apply to
 * <lv>, and the rename that follows is accepted, so plain rsync works too.
 */
#include "fs.h"
#include "ino.h"

#include "core/base/err.h"
#include "core/pool/pool.h"
#include "core/stream/receive.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SLOTS 64
#define DONE_KEEP_SECONDS 60

struct slot {
	bool used;
	char name[256]; /* as written in receive/ */
	struct tf_recv *r;
	bool finished; /* flush ran finish */
	int result;
	char errmsg[512];
	uint64_t bytes;
	time_t done_at; /* succeeded and closed: kept for a rename */
};

struct tf_recv_table {
	pthread_mutex_t lock; /* slot bookkeeping; a slot's own I/O runs under its writer */
	struct slot s[SLOTS];
};

int tf_recvdir_new(struct tf_recv_table **out)
{
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return tf_fail(ENOMEM, "receive/: out of memory");
	pthread_mutex_init(&(*out)->lock, NULL);
	return 0;
}

void tf_recvdir_free(struct tf_recv_table *t)
{
	if (!t)
		return;
	for (int i = 0; i < SLOTS; i++)
		if (t->s[i].r)
			tf_recv_close(t->s[i].r);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

/* ".web.Ab12Cd" (rsync's temporary name) -> "web"; anything else as is. */
static void target_of(const char *name, char *lv, size_t len)
{
	const char *dot = strrchr(name, '.');

	if (name[0] == '.' && dot && dot > name + 1)
		snprintf(lv, len, "%.*s", (int)(dot - name - 1), name + 1);
	else
		snprintf(lv, len, "%s", name);
}

static void slot_attr(struct tf_fs *fs, int i, const struct slot *s, struct stat *st)
{
	tf_fs_file_attr(fs, tf_ino_make(TF_IC_RECEIVE, (uint32_t)i), s->bytes, 0, 0, st);
	st->st_mode = S_IFREG | (fs->opts.file_mode | 0200);
}

static int find_slot(struct tf_recv_table *t, const char *name)
{
	for (int i = 0; i < SLOTS; i++)
		if (t->s[i].used && strcmp(t->s[i].name, name) == 0)
			return i;
	return -1;
}

static void sweep(struct tf_recv_table *t)
{
	time_t now = time(NULL);

	for (int i = 0; i < SLOTS; i++)
		if (t->s[i].used && !t->s[i].r && now - t->s[i].done_at > DONE_KEEP_SECONDS)
			memset(&t->s[i], 0, sizeof(t->s[i]));
}

static int tf_recvdir_lookup(struct tf_fs *fs, fuse_ino_t parent, const char *name,
			     struct fuse_entry_param *e)
{
	struct tf_recv_table *t = fs->recv;
	int i;

	(void)parent;
	pthread_mutex_lock(&t->lock);
	i = find_slot(t, name);
	if (i >= 0) {
		e->ino = tf_ino_make(TF_IC_RECEIVE, (uint32_t)i);
		slot_attr(fs, i, &t->s[i], &e->attr);
	}
	pthread_mutex_unlock(&t->lock);
	return i >= 0 ? 0 : -ENOENT;
}

static int tf_recvdir_getattr(struct tf_fs *fs, fuse_ino_t ino, struct stat *st)
{
	struct tf_recv_table *t = fs->recv;
	uint32_t i = tf_ino_thin(ino);
	int rc = -ENOENT;

	if (ino == TF_INO_RECEIVE) {
		tf_fs_dir_attr(fs, ino, st);
		return 0;
	}
	pthread_mutex_lock(&t->lock);
	if (i < SLOTS && t->s[i].used) {
		slot_attr(fs, (int)i, &t->s[i], st);
		rc = 0;
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

static int tf_recvdir_opendir(struct tf_fs *fs, fuse_ino_t ino, struct tf_dirh *h)
{
	(void)fs;
	(void)h;
	return ino == TF_INO_RECEIVE ? 0 : -ENOTDIR;
}

static int tf_recvdir_readdir(struct tf_fs *fs, fuse_ino_t ino, struct tf_dirh *h,
			      struct tf_dirbuf *db)
{
	struct tf_recv_table *t = fs->recv;

	(void)h;
	tf_dirbuf_dots(db, ino, TF_INO_ROOT);
	pthread_mutex_lock(&t->lock);
	for (int i = 0; i < SLOTS; i++)
		if (t->s[i].used &&
		    !tf_dirbuf_add(db, t->s[i].name, tf_ino_make(TF_IC_RECEIVE, (uint32_t)i),
				   S_IFREG))
			break;
	pthread_mutex_unlock(&t->lock);
	return 0;
}

static int open_session(struct tf_fs *fs, const char *lv, struct tf_recv **r)
{
	/* A cp of the same stream after an interruption continues where the
	 * last one stopped; any other stream starts afresh. */
	static const struct tf_recv_opts o = {.resume_if_any = true};

	if (tf_pool_kind(fs->pool) == TF_POOL_LIVE)
		return tf_recv_open_lvm(tf_pool_source(fs->pool), lv, &o, r);
	if (fs->opts.receive_dir)
		return tf_recv_open_dir(fs->opts.receive_dir, lv, &o, r);
	return tf_fail(EROFS,
		       "receive/%s: this mount has no receive target (mount a live pool, "
		       "or pass -o receive_dir=DIR)",
		       lv);
}

/* Starts a receive in slot i (reserved by the caller under the lock). */
static int start_session(struct tf_fs *fs, int i, const char *lv, struct fuse_file_info *fi)
{
	struct tf_recv_table *t = fs->recv;
	struct tf_recv *r;
	int rc = open_session(fs, lv, &r);

	pthread_mutex_lock(&t->lock);
	if (rc < 0) {
		memset(&t->s[i], 0, sizeof(t->s[i]));
	} else {
		t->s[i].r = r;
		t->s[i].bytes = 0;
		t->s[i].finished = false;
	}
	pthread_mutex_unlock(&t->lock);
	if (rc < 0)
		return rc;
	fi->fh = (uint64_t)i;
	fi->direct_io = 1; /* every write reaches the parser in order, unbuffered */
	return 0;
}

/* Reserves a slot for name: its own if a finished receive left it, else a
 * free one.  A running receive of the same name is refused. */
static int reserve_slot(struct tf_recv_table *t, const char *name)
{
	int i;

	pthread_mutex_lock(&t->lock);
	sweep(t);
	i = find_slot(t, name);
	if (i >= 0 && t->s[i].r) {
		pthread_mutex_unlock(&t->lock);
		return tf_fail(EBUSY, "receive/%s: a receive into it is already running", name);
	}
	if (i < 0)
		for (i = 0; i < SLOTS && t->s[i].used; i++)
			;
	if (i == SLOTS) {
		pthread_mutex_unlock(&t->lock);
		return tf_fail(EMFILE, "receive/: too many receives at once");
	}
	memset(&t->s[i], 0, sizeof(t->s[i]));
	t->s[i].used = true;
	snprintf(t->s[i].name, sizeof(t->s[i].name), "%s", name);
	pthread_mutex_unlock(&t->lock);
	return i;
}

static int tf_recvdir_create(struct tf_fs *fs, fuse_ino_t parent, const char *name,
			     struct fuse_entry_param *e, struct fuse_file_info *fi)
{
	char lv[256];
	int i, rc;

	(void)parent;
	target_of(name, lv, sizeof(lv));
	if (!tf_recv_valid_name(lv))
		return tf_fail(EINVAL, "receive/%s: '%s' is not a valid target name", name, lv);
	if ((i = reserve_slot(fs->recv, name)) < 0)
		return i;
	if ((rc = start_session(fs, i, lv, fi)) < 0)
		return rc;
	e->ino = tf_ino_make(TF_IC_RECEIVE, (uint32_t)i);
	return tf_recvdir_getattr(fs, e->ino, &e->attr);
}

static struct slot *slot_of(struct tf_fs *fs, struct fuse_file_info *fi)
{
	return fi->fh < SLOTS ? &fs->recv->s[fi->fh] : NULL;
}

/* Opening a finished entry again (cp onto an existing name) starts a new
 * receive in its place. */
static int tf_recvdir_open(struct tf_fs *fs, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct tf_recv_table *t = fs->recv;
	uint32_t i = tf_ino_thin(ino);
	char name[256], lv[256];
	int rc;

	if (ino == TF_INO_RECEIVE)
		return -EISDIR;
	if ((fi->flags & O_ACCMODE) == O_RDONLY)
		return tf_fail(EACCES, "receive/: entries are written, not read");
	pthread_mutex_lock(&t->lock);
	rc = i < SLOTS && t->s[i].used ? 0 : -ENOENT;
	if (rc == 0)
		snprintf(name, sizeof(name), "%s", t->s[i].name);
	pthread_mutex_unlock(&t->lock);
	if (rc < 0)
		return rc;
	target_of(name, lv, sizeof(lv));
	if ((rc = reserve_slot(t, name)) < 0)
		return rc;
	return start_session(fs, rc, lv, fi);
}

static ssize_t tf_recvdir_write(struct tf_fs *fs, struct fuse_file_info *fi, const char *buf,
				size_t size, off_t off)
{
	struct slot *s = slot_of(fs, fi);
	int rc;

	if (!s || !s->r)
		return -EBADF;
	rc = tf_recv_write(s->r, buf, size, (uint64_t)off);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&fs->recv->lock);
	s->bytes = tf_recv_written(s->r);
	pthread_mutex_unlock(&fs->recv->lock);
	return (ssize_t)size;
}

static int tf_recvdir_flush(struct tf_fs *fs, struct fuse_file_info *fi)
{
	struct slot *s = slot_of(fs, fi);

	if (!s || !s->r)
		return 0;
	if (!s->finished) {
		s->finished = true;
		s->result = tf_recv_finish(s->r);
		if (s->result < 0)
			snprintf(s->errmsg, sizeof(s->errmsg), "%s", tf_errmsg());
	}
	if (s->result < 0)
		tf_fail(-s->result, "%s", s->errmsg);
	return s->result;
}

static void tf_recvdir_release(struct tf_fs *fs, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct slot *s = slot_of(fs, fi);
	struct tf_recv *r;

	(void)ino;
	if (!s)
		return;
	pthread_mutex_lock(&fs->recv->lock);
	r = s->r;
	s->r = NULL;
	if (s->finished && s->result == 0)
		s->done_at = time(NULL); /* kept a while for rsync's rename */
	else
		memset(s, 0, sizeof(*s));
	pthread_mutex_unlock(&fs->recv->lock);
	tf_recv_close(r); /* an unfinished receive keeps its checkpoint */
}

static int tf_recvdir_setattr(struct tf_fs *fs, fuse_ino_t ino, struct stat *attr, int to_set,
			      struct stat *out)
{
	int rc = tf_recvdir_getattr(fs, ino, out);

	if (rc < 0)
		return rc;
	/* cp and rsync truncate the new file and set its mode and times:
	 * harmless; any other size makes no sense for a stream. */
	if ((to_set & FUSE_SET_ATTR_SIZE) && (uint64_t)attr->st_size != (uint64_t)out->st_size)
		return tf_fail(EINVAL, "receive/: a stream cannot be truncated or extended");
	return 0;
}

static int tf_recvdir_rename(struct tf_fs *fs, const char *from, const char *to)
{
	struct tf_recv_table *t = fs->recv;
	char a[256], b[256];
	int i, rc = 0;

	target_of(from, a, sizeof(a));
	target_of(to, b, sizeof(b));
	pthread_mutex_lock(&t->lock);
	i = find_slot(t, from);
	if (i < 0)
		rc = -ENOENT;
	else if (t->s[i].r)
		rc = tf_fail(EBUSY, "receive/%s: still being written", from);
	else if (strcmp(a, b) != 0)
		rc =
		    tf_fail(EXDEV, "receive/%s was applied to %s; it cannot become %s", from, a, b);
	else
		memset(&t->s[i], 0, sizeof(t->s[i])); /* applied already: nothing left to do */
	pthread_mutex_unlock(&t->lock);
	return rc;
}

static int tf_recvdir_unlink(struct tf_fs *fs, const char *name)
{
	struct tf_recv_table *t = fs->recv;
	int i, rc = 0;

	pthread_mutex_lock(&t->lock);
	i = find_slot(t, name);
	if (i < 0)
		rc = -ENOENT;
	else if (t->s[i].r)
		rc = tf_fail(EBUSY, "receive/%s: still being written", name);
	else
		memset(&t->s[i], 0, sizeof(t->s[i]));
	pthread_mutex_unlock(&t->lock);
	return rc;
}

const struct tf_subtree tf_receive_subtree = {
    .name = "receive",
    .getattr = tf_recvdir_getattr,
    .lookup = tf_recvdir_lookup,
    .opendir = tf_recvdir_opendir,
    .readdir = tf_recvdir_readdir,
    .open = tf_recvdir_open,
    .release = tf_recvdir_release,
    .create = tf_recvdir_create,
    .write = tf_recvdir_write,
    .flush = tf_recvdir_flush,
    .setattr = tf_recvdir_setattr,
    .rename = tf_recvdir_rename,
    .unlink = tf_recvdir_unlink,
};
