/* repl_dir.c — a replica that is a directory: volume V is the sparse file
 * DIR/V, as a single-volume receive makes it (target_file.c).
 *
 * A volume received as an increment over its relative R is staged in
 * DIR/.thinfs-repl/: DIR/.thinfs-repl/V starts as a hard link to DIR/R
 * (so it carries R's recorded state, which the receive checks as its
 * base), and the single-volume receive copies it into its partial — a
 * reflink (FICLONE) where the filesystem can, so V shares R's blocks as on
 * the source, else a sparse copy — applies the delta, and renames the
 * partial over the link.  Only then is it renamed to DIR/V.  A cut-off
 * volume leaves its partial and checkpoint in DIR/.thinfs-repl/ for the
 * rerun.  (Where hard links are not supported the staged file is a copy:
 * a reflink, else a sparse copy.)  Beside the state, the xattr user.thinfs.replica records where
 * the volume came from (lineage, origin, LVM tags, creation time).
 */
#include "core/stream/repl_internal.h"

#include "core/base/err.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#define STATE_XATTR "user.thinfs.state"
#define REPLICA_XATTR "user.thinfs.replica"
#define STAGE_DIR ".thinfs-repl"

struct dir_replica {
	struct tf_replica r;
	char dir[4096];
	char stage[4200];
};

static struct dir_replica *dr(struct tf_replica *r)
{
	return (struct dir_replica *)r;
}

/* Reads a small file or xattr text; -ENOENT if neither is there. */
static ssize_t read_text(const char *path, const char *xattr, const char *sidecar, char *buf,
			 size_t len)
{
	ssize_t n = getxattr(path, xattr, buf, len - 1);
	int fd;

	if (n < 0 && sidecar) {
		fd = open(sidecar, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -ENOENT;
		n = read(fd, buf, len - 1);
		close(fd);
	}
	if (n < 0)
		return -ENOENT;
	buf[n] = '\0';
	return n;
}

static int dir_state(struct tf_replica *rep, const char *name, struct tf_replica_state *st)
{
	struct dir_replica *d = dr(rep);
	char path[4400], side[4400], text[2048], lineage[64] = "";
	struct tf_target_state ts;
	struct stat sb;
	ssize_t n;

	memset(st, 0, sizeof(*st));
	snprintf(path, sizeof(path), "%s/%s", d->dir, name);
	snprintf(side, sizeof(side), "%s/.%s.thinfs-state", d->dir, name);
	if (lstat(path, &sb) < 0)
		return -ENOENT;
	if (!S_ISREG(sb.st_mode))
		return 0; /* exists, not a volume thinfs made */
	n = read_text(path, STATE_XATTR, side, text, sizeof(text));
	if (n < 0 || tf_target_state_parse(text, (size_t)n, &ts) < 0) {
		tf_err_clear();
		return 0;
	}
	st->has_state = true;
	tf_repl_state_digest(ts.identity, ts.thin_id, ts.fingerprint, st->digest);
	st->has_source = true;
	tf_repl_key(ts.identity, st->pool_key);
	st->thin_id = ts.thin_id;
	n = getxattr(path, REPLICA_XATTR, text, sizeof(text) - 1);
	if (n > 0) {
		text[n] = '\0';
		sscanf(text, "thinfs-replica 1\nlineage=%63[^\n]", lineage);
		char *sn = strstr(text, "\nsource_name=");
		if (sn)
			sscanf(sn + 13, "%127[^\n]", st->source_name);
	}
	tf_repl_key(lineage, st->lineage_key);
	if (!lineage[0])
		st->lineage_key[0] = '\0';
	return 0;
}

static int copy_file(const char *from, const char *to)
{
	char buf[4096];
	int in = open(from, O_RDONLY | O_CLOEXEC), out;
	ssize_t n;

	if (in < 0)
		return errno == ENOENT ? 0 : tf_fail(errno, "%s: %s", from, strerror(errno));
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0) {
		close(in);
		return tf_fail(errno, "%s: %s", to, strerror(errno));
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			n = -1;
			break;
		}
	close(in);
	if (close(out) < 0 || n < 0)
		return tf_fail(EIO, "%s: cannot copy the recorded state", to);
	return 0;
}

/* Where hard links are not supported: a copy of from at to with its
 * recorded state (reflink where the filesystem can, else its data ranges). */
static int copy_volume(const char *from, const char *to)
{
	int in = open(from, O_RDONLY | O_CLOEXEC), out = -1, rc = 0;
	off_t end, data = 0, hole;
	char state[2048];
	ssize_t n;

	if (in < 0)
		return tf_fail(errno, "%s: %s", from, strerror(errno));
	out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0) {
		rc = tf_fail(errno, "%s: %s", to, strerror(errno));
		goto done;
	}
	if (ioctl(out, FICLONE, in) < 0) {
		end = lseek(in, 0, SEEK_END);
		if (end < 0 || ftruncate(out, end) < 0) {
			rc = tf_fail(errno, "%s: %s", to, strerror(errno));
			goto done;
		}
		while (rc == 0 && (data = lseek(in, data, SEEK_DATA)) >= 0 &&
		       (hole = lseek(in, data, SEEK_HOLE)) > data) {
			for (loff_t i = data, o = data; rc == 0 && i < hole;)
				if (copy_file_range(in, &i, out, &o, (size_t)(hole - i), 0) <= 0)
					rc = tf_fail(EIO, "%s: cannot copy %s", to, from);
			data = hole;
		}
	}
	n = fgetxattr(in, STATE_XATTR, state, sizeof(state));
	if (rc == 0 && n > 0 && fsetxattr(out, STATE_XATTR, state, (size_t)n, 0) < 0)
		rc = tf_fail(errno, "%s: cannot copy the recorded state: %s", to, strerror(errno));
done:
	close(in);
	if (out >= 0)
		close(out);
	return rc;
}

static int dir_open(struct tf_replica *rep, const char *name, const char *base,
		    const struct tf_replica_meta *m, struct tf_recv **out)
{
	struct dir_replica *d = dr(rep);
	struct tf_recv_opts o = {.resume_if_any = true};
	char link_path[4400], from[4400], side_from[4400], side_to[4400];
	int rc;

	(void)m;
	if (mkdir(d->stage, 0700) < 0 && errno != EEXIST)
		return tf_fail(errno, "%s: %s", d->stage, strerror(errno));
	snprintf(link_path, sizeof(link_path), "%s/%s", d->stage, name);
	snprintf(side_to, sizeof(side_to), "%s/.%s.thinfs-state", d->stage, name);
	if ((unlink(link_path) < 0 && errno != ENOENT) || (unlink(side_to) < 0 && errno != ENOENT))
		return tf_fail(errno, "%s: cannot clear the staging: %s", link_path,
			       strerror(errno));
	if (base) {
		snprintf(from, sizeof(from), "%s/%s", d->dir, base);
		snprintf(side_from, sizeof(side_from), "%s/.%s.thinfs-state", d->dir, base);
		if (link(from, link_path) < 0 &&
		    (errno != EPERM && errno != EMLINK && errno != ENOTSUP && errno != ENOSYS
			 ? (rc = tf_fail(errno, "%s: cannot stage a copy of %s: %s", link_path,
					 from, strerror(errno)))
			 : (rc = copy_volume(from, link_path))) < 0)
			return rc;
		if ((rc = copy_file(side_from, side_to)) < 0)
			return rc;
	}
	return tf_recv_open_dir(d->stage, name, &o, out);
}

static void fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

static int dir_place(struct tf_replica *rep, const char *name, const struct tf_replica_meta *m)
{
	struct dir_replica *d = dr(rep);
	char staged[4400], path[4400], side_staged[4400], side[4400], meta[2048];
	bool has_side;
	int n;

	snprintf(staged, sizeof(staged), "%s/%s", d->stage, name);
	snprintf(path, sizeof(path), "%s/%s", d->dir, name);
	snprintf(side_staged, sizeof(side_staged), "%s/.%s.thinfs-state", d->stage, name);
	snprintf(side, sizeof(side), "%s/.%s.thinfs-state", d->dir, name);
	n = snprintf(meta, sizeof(meta),
		     "thinfs-replica 1\nlineage=%s\norigin=%s\ntags=%s\ncreation_time=%" PRId64
		     "\nsource_name=%s\n",
		     m->lineage, m->e->origin, m->e->tags, m->e->creation_time, m->e->name);
	/* Best effort: without xattrs the volume is complete, only --prune of
	 * one lineage cannot tell it is of that lineage. */
	if (setxattr(staged, REPLICA_XATTR, meta, (size_t)n, 0) < 0)
		tf_err_clear();
	has_side = access(side_staged, F_OK) == 0;
	/* As target_file.c: a sidecar never describes data it is not beside. */
	if (unlink(side) < 0 && errno != ENOENT)
		return tf_fail(errno, "%s: %s", side, strerror(errno));
	if (rename(staged, path) < 0)
		return tf_fail(errno, "%s: cannot put the received volume in place: %s", path,
			       strerror(errno));
	if (has_side && rename(side_staged, side) < 0)
		return tf_fail(errno, "%s: %s", side, strerror(errno));
	fsync_dir(d->dir);
	return 0;
}

static int dir_list(struct tf_replica *rep, tf_replica_list_fn fn, void *ctx)
{
	struct dir_replica *d = dr(rep);
	DIR *dir = opendir(d->dir);
	struct dirent *de;
	int rc = 0;

	if (!dir)
		return tf_fail(errno, "%s: %s", d->dir, strerror(errno));
	while (rc == 0 && (de = readdir(dir))) {
		struct tf_replica_state st;

		if (de->d_name[0] == '.' || !tf_recv_valid_name(de->d_name))
			continue;
		if (dir_state(rep, de->d_name, &st) < 0 || !st.has_state)
			continue;
		rc = fn(ctx, de->d_name, &st);
	}
	closedir(dir);
	return rc;
}

static int dir_remove(struct tf_replica *rep, const char *name)
{
	struct dir_replica *d = dr(rep);
	char path[4400], side[4400];

	snprintf(path, sizeof(path), "%s/%s", d->dir, name);
	snprintf(side, sizeof(side), "%s/.%s.thinfs-state", d->dir, name);
	if (unlink(path) < 0)
		return tf_fail(errno, "%s: cannot prune: %s", path, strerror(errno));
	unlink(side);
	return 0;
}

static void done_path(struct dir_replica *d, const char *key, char *out, size_t len)
{
	snprintf(out, len, "%s/%s.done", d->stage, key);
}

static int dir_get_done(struct tf_replica *rep, const char *key, uint64_t *send_time, uint32_t *crc)
{
	char path[4400], text[128];
	unsigned long long t;
	unsigned c;
	ssize_t n;
	int fd;

	done_path(dr(rep), key, path, sizeof(path));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -ENOENT;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	text[n > 0 ? n : 0] = '\0';
	if (sscanf(text, "%llu %x", &t, &c) != 2)
		return -ENOENT;
	*send_time = t;
	*crc = c;
	return 0;
}

static int dir_set_done(struct tf_replica *rep, const char *key, uint64_t send_time, uint32_t crc)
{
	struct dir_replica *d = dr(rep);
	char path[4400], tmp[4500], text[64];
	int fd, n, rc = 0;

	if (mkdir(d->stage, 0700) < 0 && errno != EEXIST)
		return tf_fail(errno, "%s: %s", d->stage, strerror(errno));
	done_path(d, key, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	n = snprintf(text, sizeof(text), "%" PRIu64 " %08x\n", send_time, crc);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, text, (size_t)n) != n || fsync(fd) < 0 || rename(tmp, path) < 0)
		rc = tf_fail(errno ? errno : EIO, "%s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	return rc;
}

static void dir_free(struct tf_replica *rep)
{
	free(dr(rep));
}

static const struct tf_replica_ops dir_ops = {
    .state = dir_state,
    .open = dir_open,
    .place = dir_place,
    .list = dir_list,
    .remove = dir_remove,
    .get_done = dir_get_done,
    .set_done = dir_set_done,
    .free = dir_free,
};

int tf_replica_dir_open(const char *dir, struct tf_replica **out)
{
	struct dir_replica *d;
	struct stat st;

	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return tf_fail(ENOTDIR, "%s: not a directory", dir);
	if (!(d = calloc(1, sizeof(*d))))
		return tf_fail(ENOMEM, "receive: out of memory");
	d->r.ops = &dir_ops;
	snprintf(d->dir, sizeof(d->dir), "%s", dir);
	snprintf(d->stage, sizeof(d->stage), "%s/%s", dir, STAGE_DIR);
	snprintf(d->r.name, sizeof(d->r.name), "%s", dir);
	*out = &d->r;
	return 0;
}
