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
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SLOTS 64
#define DONE_KEEP_SECONDS 60

/* An entry's inode number is its slot and the slot's generation, so a
 * kernel that still remembers an entry that failed and went away never
 * reaches whatever receive took the slot next. */
#define SLOT_BITS 6
_Static_assert(SLOTS == 1 << SLOT_BITS, "slot bits");

struct slot {
	bool used;
	bool busy; /* a session owns it, from reservation to release */
	uint32_t gen;
	char name[256]; /* as written in receive/ */
	struct tf_recv *r;
	bool finished; /* flush ran finish */
	int result;
	char errmsg[512];
	uint64_t bytes;
	/* O_APPEND (>> in a shell): the kernel writes at the entry's old
	 * size; the first write's offset is where this stream starts. */
	bool append;
	uint64_t append_base;
	time_t done_at; /* succeeded and closed: kept for a rename */
};

struct tf_recv_table {
	pthread_mutex_t lock; /* slot bookkeeping; a slot's own I/O runs under its writer */
	struct slot s[SLOTS];
	/* A slot's stream I/O: writes and flushes of one entry may come from
	 * several threads (dup'd descriptors); they take turns. */
	pthread_mutex_t io[SLOTS];
	uint32_t next_gen;
};

static fuse_ino_t slot_ino(const struct tf_recv_table *t, int i)
{
	return tf_ino_make(TF_IC_RECEIVE, (t->s[i].gen << SLOT_BITS) | (uint32_t)i);
}

/* The slot an inode number names, or -1 if that entry is gone. */
static int ino_slot(const struct tf_recv_table *t, fuse_ino_t ino)
{
	uint32_t v = tf_ino_thin(ino), i = v & (SLOTS - 1);

	return t->s[i].used && t->s[i].gen == v >> SLOT_BITS ? (int)i : -1;
}

/* Frees a slot, keeping its generation counter moving. */
static void slot_clear(struct slot *s)
{
	memset(s, 0, sizeof(*s));
}

int tf_recvdir_new(struct tf_recv_table **out)
{
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return tf_fail(ENOMEM, "receive/: out of memory");
	pthread_mutex_init(&(*out)->lock, NULL);
	for (int i = 0; i < SLOTS; i++)
		pthread_mutex_init(&(*out)->io[i], NULL);
	return 0;
}

void tf_recvdir_free(struct tf_recv_table *t)
{
	if (!t)
		return;
	for (int i = 0; i < SLOTS; i++)
		if (t->s[i].r)
			tf_recv_close(t->s[i].r);
	for (int i = 0; i < SLOTS; i++)
		pthread_mutex_destroy(&t->io[i]);
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
	tf_fs_file_attr(fs, slot_ino(fs->recv, i), s->bytes, 0, 0, st);
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
		if (t->s[i].used && !t->s[i].busy && now - t->s[i].done_at > DONE_KEEP_SECONDS)
			slot_clear(&t->s[i]);
}

/* A free slot, or else the longest-finished one: a finished receive is
 * kept only for rsync's rename, never at the cost of a new receive. */
static int free_slot(struct tf_recv_table *t)
{
	int oldest = -1;

	for (int i = 0; i < SLOTS; i++) {
		if (!t->s[i].used)
			return i;
		if (!t->s[i].busy && (oldest < 0 || t->s[i].done_at < t->s[oldest].done_at))
			oldest = i;
	}
	return oldest;
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
		e->ino = slot_ino(t, i);
		slot_attr(fs, i, &t->s[i], &e->attr);
	}
	pthread_mutex_unlock(&t->lock);
	/* Entries come and go with receives: the kernel asks again each time,
	 * so an open(O_CREAT) after a failed receive creates, never ENOENT. */
	e->entry_timeout = e->attr_timeout = 0;
	return i >= 0 ? 0 : -ENOENT;
}

static int tf_recvdir_getattr(struct tf_fs *fs, fuse_ino_t ino, struct stat *st)
{
	struct tf_recv_table *t = fs->recv;
	int i, rc = -ENOENT;

	if (ino == TF_INO_RECEIVE) {
		tf_fs_dir_attr(fs, ino, st);
		return 0;
	}
	pthread_mutex_lock(&t->lock);
	if ((i = ino_slot(t, ino)) >= 0) {
		slot_attr(fs, i, &t->s[i], st);
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
		if (t->s[i].used && !tf_dirbuf_add(db, t->s[i].name, slot_ino(t, i), S_IFREG))
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
		slot_clear(&t->s[i]);
	} else {
		t->s[i].r = r;
		t->s[i].bytes = 0;
		t->s[i].finished = false;
		t->s[i].append = (fi->flags & O_APPEND) != 0;
		t->s[i].append_base = UINT64_MAX;
	}
	pthread_mutex_unlock(&t->lock);
	if (rc < 0)
		return rc;
	fi->fh = (uint64_t)i;
	fi->direct_io = 1; /* every write reaches the parser in order, unbuffered */
	return 0;
}

/* A refusal's errno as the writer's tools print it.  The daemon logs the
 * full message; the errno should not say something false: an incremental
 * for another base (-ESTALE inside) would read "Stale file handle", one for
 * a missing target (-ENOENT) "No such file or directory" on a write, a
 * replay (-EALREADY) "Operation already in progress".  A stream that does
 * not apply to the target is EINVAL ("Invalid argument"); one whose result
 * the target already holds is EEXIST ("File exists"), like a full stream
 * over an existing target. */
static int writer_errno(int rc)
{
	switch (rc) {
	case -ESTALE:
	case -ENOENT:
		return -EINVAL;
	case -EALREADY:
		return -EEXIST;
	default:
		return rc;
	}
}

/* Reserves a slot for name: its own if a finished receive left it, else a
 * free one.  A running receive of the same name is refused. */
static int reserve_slot(struct tf_recv_table *t, const char *name)
{
	uint32_t gen;
	int i;

	pthread_mutex_lock(&t->lock);
	sweep(t);
	i = find_slot(t, name);
	if (i >= 0 && t->s[i].busy) {
		pthread_mutex_unlock(&t->lock);
		return tf_fail(EBUSY, "receive/%s: a receive into it is already running", name);
	}
	if (i >= 0) {
		/* The same entry written again (cp onto an existing name):
		 * same inode number, as the kernel already knows it. */
		gen = t->s[i].gen;
	} else {
		i = free_slot(t);
		gen = ++t->next_gen & ((1u << (32 - SLOT_BITS)) - 1);
	}
	if (i < 0) {
		pthread_mutex_unlock(&t->lock);
		return tf_fail(EMFILE, "receive/: too many receives at once (%d)", SLOTS);
	}
	slot_clear(&t->s[i]);
	t->s[i].used = t->s[i].busy = true;
	t->s[i].gen = gen;
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
		return rc == -ESTALE ? -EINVAL : rc;
	pthread_mutex_lock(&fs->recv->lock);
	e->ino = slot_ino(fs->recv, i);
	slot_attr(fs, i, &fs->recv->s[i], &e->attr);
	pthread_mutex_unlock(&fs->recv->lock);
	e->entry_timeout = e->attr_timeout = 0;
	return 0;
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
	char name[256], lv[256];
	int i, rc;

	if (ino == TF_INO_RECEIVE)
		return -EISDIR;
	if ((fi->flags & O_ACCMODE) == O_RDONLY)
		return tf_fail(EACCES, "receive/: entries are written, not read");
	pthread_mutex_lock(&t->lock);
	i = ino_slot(t, ino);
	if (i >= 0)
		snprintf(name, sizeof(name), "%s", t->s[i].name);
	pthread_mutex_unlock(&t->lock);
	if (i < 0)
		return -ENOENT;
	target_of(name, lv, sizeof(lv));
	if ((rc = reserve_slot(t, name)) < 0)
		return rc;
	rc = start_session(fs, rc, lv, fi);
	return rc == -ESTALE ? -EINVAL : rc;
}

static ssize_t write_locked(struct tf_fs *fs, struct slot *s, const char *buf, size_t size,
			    off_t off)
{
	int rc;

	if (!s->r)
		return -EBADF;
	if (s->append) {
		if (s->append_base == UINT64_MAX)
			s->append_base = (uint64_t)off;
		off -= (off_t)s->append_base;
	}
	rc = tf_recv_write(s->r, buf, size, (uint64_t)off);
	if (rc < 0)
		return writer_errno(rc);
	pthread_mutex_lock(&fs->recv->lock);
	s->bytes = tf_recv_written(s->r);
	pthread_mutex_unlock(&fs->recv->lock);
	return (ssize_t)size;
}

static ssize_t tf_recvdir_write(struct tf_fs *fs, struct fuse_file_info *fi, const char *buf,
				size_t size, off_t off)
{
	struct slot *s = slot_of(fs, fi);
	ssize_t n;

	if (!s)
		return -EBADF;
	pthread_mutex_lock(&fs->recv->io[fi->fh]);
	n = write_locked(fs, s, buf, size, off);
	pthread_mutex_unlock(&fs->recv->io[fi->fh]);
	return n;
}

static int flush_locked(struct slot *s)
{
	if (!s->r)
		return 0;
	if (!s->finished && !tf_recv_complete(s->r)) {
		/* The writer's fd is closed but maybe not its last copy (a
		 * shell's dup2, a forked child): nothing written yet is no
		 * error, a stream still arriving fails this close only. */
		if (tf_recv_written(s->r) == 0)
			return 0;
		return tf_fail(EPIPE,
			       "receive/%s: closed after %" PRIu64 " bytes, before the "
			       "stream's end (truncated or cut off); nothing was applied",
			       s->name, tf_recv_written(s->r));
	}
	if (!s->finished) {
		s->finished = true;
		s->result = tf_recv_finish(s->r);
		if (s->result < 0)
			snprintf(s->errmsg, sizeof(s->errmsg), "%s", tf_errmsg());
	}
	if (s->result < 0)
		tf_fail(-s->result, "%s", s->errmsg);
	return writer_errno(s->result);
}

static int tf_recvdir_flush(struct tf_fs *fs, struct fuse_file_info *fi)
{
	struct slot *s = slot_of(fs, fi);
	int rc;

	if (!s)
		return 0;
	pthread_mutex_lock(&fs->recv->io[fi->fh]);
	rc = flush_locked(s);
	pthread_mutex_unlock(&fs->recv->io[fi->fh]);
	return rc;
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
	s->busy = false;
	if (s->finished && s->result == 0)
		s->done_at = time(NULL); /* kept a while for rsync's rename */
	else
		slot_clear(s);
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

/* rsync's rename of its temporary name onto the target's: the stream was
 * applied at close already, so the entry just goes away.  mv asks with
 * RENAME_NOREPLACE, which is honoured; RENAME_EXCHANGE makes no sense. */
static int tf_recvdir_rename(struct tf_fs *fs, const char *from, const char *to, unsigned int flags)
{
	struct tf_recv_table *t = fs->recv;
	char a[256], b[256];
	int i, rc = 0;

	target_of(from, a, sizeof(a));
	target_of(to, b, sizeof(b));
	if (flags & ~(unsigned)RENAME_NOREPLACE)
		return tf_fail(EINVAL, "receive/%s: only plain renames are supported", from);
	pthread_mutex_lock(&t->lock);
	i = find_slot(t, from);
	if (i < 0)
		rc = tf_fail(ENOENT, "receive/%s: no such entry", from);
	else if ((flags & RENAME_NOREPLACE) && find_slot(t, to) >= 0)
		rc = tf_fail(EEXIST, "receive/%s: exists", to);
	else if (t->s[i].busy)
		rc = tf_fail(EBUSY, "receive/%s: still being written", from);
	else if (strcmp(a, b) != 0)
		rc =
		    tf_fail(EXDEV, "receive/%s was applied to %s; it cannot become %s", from, a, b);
	else
		slot_clear(&t->s[i]); /* applied already: nothing left to do */
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
	else if (t->s[i].busy)
		rc = tf_fail(EBUSY, "receive/%s: still being written", name);
	else
		slot_clear(&t->s[i]);
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
