/* rep_target.c — local replicate targets: a directory of sparse files, or
 * thin LVs of a live pool (see rep_target.h for the naming and the keys).
 * Streams are applied in-process by the receive engine (core/stream). */
#include "rep_target.h"

#include "replicate.h"
#include "ssh_target.h"

#include "core/base/err.h"
#include "core/base/run.h"
#include "core/base/vec.h"
#include "core/stream/receive.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int rep_target_ssh_open(const char *spec, struct rep_target **out); /* rep_target_ssh.c */

struct local_target {
	struct rep_target t;
	bool lvm;
	char dir[4096];		 /* dir kind */
	char vg[128], pool[128]; /* lvm kind */
	char incoming[200];	 /* name being received */
	char name[160];		 /* its final name */
	struct tf_recv *r;
	uint64_t off;
};

static struct local_target *lt(struct rep_target *t)
{
	return (struct local_target *)t;
}

/* ---- names ---- */

#define TS_LEN 16 /* 20261129T151146Z */

static bool is_ts(const char *s)
{
	if (strlen(s) != TS_LEN || s[8] != 'T' || s[15] != 'Z')
		return false;
	for (int i = 0; i < 15; i++)
		if (i != 8 && !isdigit((unsigned char)s[i]))
			return false;
	return true;
}

bool rep_snap_name_matches(const char *name, const char *lv, const char *prefix)
{
	size_t l = strlen(lv), p = strlen(prefix);

	return strncmp(name, lv, l) == 0 && strncmp(name + l, prefix, p) == 0 &&
	       is_ts(name + l + p);
}

/* A leftover of a killed cycle: LV<prefix><ts> followed by `tail...`. */
static bool is_leftover(const char *name, const char *lv, const char *prefix, const char *tail)
{
	size_t l = strlen(lv), p = strlen(prefix);
	char ts[TS_LEN + 1];

	if (name[0] == '.') /* the receive engine's .NAME.thinfs-* files */
		name++;
	if (strncmp(name, lv, l) != 0 || strncmp(name + l, prefix, p) != 0 ||
	    strlen(name + l + p) < TS_LEN)
		return false;
	snprintf(ts, sizeof(ts), "%s", name + l + p);
	return is_ts(ts) && strncmp(name + l + p + TS_LEN, tail, strlen(tail)) == 0;
}

void rep_snaps_free(struct rep_snaps *s)
{
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

int rep_snaps_add(struct rep_snaps *s, const char *name, const char *key)
{
	struct rep_snap *e = TF_VEC_PUSH(s->v, s->n, s->cap);

	if (!e)
		return tf_fail(ENOMEM, "out of memory");
	snprintf(e->name, sizeof(e->name), "%s", name);
	snprintf(e->key, sizeof(e->key), "%s", key);
	return 0;
}

static int cmp_snap(const void *a, const void *b)
{
	return strcmp(((const struct rep_snap *)a)->name, ((const struct rep_snap *)b)->name);
}

void rep_snaps_sort(struct rep_snaps *s)
{
	if (s->n)
		qsort(s->v, s->n, sizeof(*s->v), cmp_snap);
}

/* ---- dir ---- */

static int dir_key(const char *path, char *key, size_t len)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return tf_fail(errno, "%s: %s", path, strerror(errno));
	snprintf(key, len, "%" PRIu64 ":%" PRIu64 ":%" PRId64 ".%09ld", (uint64_t)st.st_ino,
		 (uint64_t)st.st_size, (int64_t)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	return 0;
}

static int dir_list(struct rep_target *t, const char *lv, const char *prefix, struct rep_snaps *out)
{
	struct local_target *l = lt(t);
	DIR *d = opendir(l->dir);
	struct dirent *e;
	char path[4400], key[128];
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (!d)
		return tf_fail(errno, "%s: %s", l->dir, strerror(errno));
	while (rc == 0 && (e = readdir(d))) {
		snprintf(path, sizeof(path), "%s/%s", l->dir, e->d_name);
		if (is_leftover(e->d_name, lv, prefix, ".incoming")) {
			unlink(path); /* a killed cycle's staging, never a finished snapshot */
			continue;
		}
		if (!rep_snap_name_matches(e->d_name, lv, prefix))
			continue;
		if ((rc = dir_key(path, key, sizeof(key))) == 0)
			rc = rep_snaps_add(out, e->d_name, key);
	}
	closedir(d);
	if (rc < 0)
		rep_snaps_free(out);
	rep_snaps_sort(out);
	return rc;
}

/* Copies the receive engine's state sidecar (kept where xattrs are not
 * supported) from one name to another; absent is fine. */
static int copy_sidecar(const char *dir, const char *from, const char *to, bool move)
{
	char a[4400], b[4400], buf[1024];
	ssize_t n;
	int fd;

	snprintf(a, sizeof(a), "%s/.%s.thinfs-state", dir, from);
	snprintf(b, sizeof(b), "%s/.%s.thinfs-state", dir, to);
	if (move)
		return rename(a, b) == 0 || errno == ENOENT
			   ? 0
			   : tf_fail(errno, "%s: %s", b, strerror(errno));
	fd = open(a, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	fd = open(b, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (n < 0 || fd < 0 || write(fd, buf, (size_t)n) != n || fsync(fd) < 0) {
		if (fd >= 0)
			close(fd);
		return tf_fail(EIO, "%s: cannot copy the target state", b);
	}
	close(fd);
	return 0;
}

static int dir_recv_begin(struct rep_target *t, const char *base, const char *name)
{
	struct local_target *l = lt(t);
	struct tf_recv_opts o = {0};
	char path[4400], bpath[4400];
	int rc;

	snprintf(l->name, sizeof(l->name), "%s", name);
	snprintf(l->incoming, sizeof(l->incoming), "%s.incoming", name);
	snprintf(path, sizeof(path), "%s/%s", l->dir, l->incoming);
	unlink(path);
	snprintf(bpath, sizeof(bpath), "%s/.%s.thinfs-state", l->dir, l->incoming);
	unlink(bpath);
	if (base) {
		/* A hard link costs nothing; the engine copies it to its staging
		 * file and renames that over the link, so the base stays as it was. */
		snprintf(bpath, sizeof(bpath), "%s/%s", l->dir, base);
		if (link(bpath, path) < 0)
			return tf_fail(errno, "%s: cannot link the base %s: %s", t->spec, base,
				       strerror(errno));
		if ((rc = copy_sidecar(l->dir, base, l->incoming, false)) < 0)
			return rc;
	}
	l->off = 0;
	rc = tf_recv_open_dir(l->dir, l->incoming, &o, &l->r);
	if (rc < 0)
		unlink(path);
	return rc;
}

static int local_recv_write(struct rep_target *t, const void *buf, size_t len)
{
	struct local_target *l = lt(t);
	int rc = tf_recv_write(l->r, buf, len, l->off);

	l->off += len;
	return rc;
}

static void fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

static int dir_recv_end(struct rep_target *t, bool ok)
{
	struct local_target *l = lt(t);
	char from[4400], to[4400];
	int rc = ok ? tf_recv_finish(l->r) : -ECANCELED;

	tf_recv_close(l->r);
	l->r = NULL;
	snprintf(from, sizeof(from), "%s/%s", l->dir, l->incoming);
	snprintf(to, sizeof(to), "%s/%s", l->dir, l->name);
	if (rc == 0) {
		/* Read-only: a replica is not for writing (a changed one is refused). */
		chmod(from, 0400);
		if (rename(from, to) < 0)
			rc = tf_fail(errno, "%s: %s", to, strerror(errno));
		else
			rc = copy_sidecar(l->dir, l->incoming, l->name, true);
		fsync_dir(l->dir);
	}
	if (rc < 0) {
		unlink(from);
		snprintf(from, sizeof(from), "%s/.%s.thinfs-state", l->dir, l->incoming);
		unlink(from);
	}
	return rc;
}

static int dir_prune(struct rep_target *t, const char *name)
{
	struct local_target *l = lt(t);
	char path[4400];

	snprintf(path, sizeof(path), "%s/%s", l->dir, name);
	if (unlink(path) < 0 && errno != ENOENT)
		return tf_fail(errno, "%s: %s", path, strerror(errno));
	snprintf(path, sizeof(path), "%s/.%s.thinfs-state", l->dir, name);
	unlink(path);
	return 0;
}

static int dir_hashes(struct rep_target *t, const char *name, struct rep_hashes *out)
{
	char path[4400];

	snprintf(path, sizeof(path), "%s/%s", lt(t)->dir, name);
	return rep_hash_object(path, out);
}

/* ---- lvm ---- */

static int lvm_cmd(const char *a0, const char *a1, const char *a2, const char *a3, const char *a4)
{
	const char *argv[] = {a0, a1, a2, a3, a4, NULL};
	return tf_run_ok(argv, NULL, NULL);
}

static int lvm_list_in(const char *vg, const char *pool, const char *spec, bool cleanup,
		       const char *lv, const char *prefix, struct rep_snaps *out)
{
	const char *argv[] = {
	    "lvs", "--noheadings", "--separator", "|", "-o", "lv_name,pool_lv,lv_uuid,lv_attr", vg,
	    NULL};
	char *text = NULL, *save = NULL, *line, full[300], key[128];
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = tf_run_ok(argv, NULL, &text)) < 0)
		return tf_fail_ctx(rc, "%s: ", spec);
	for (line = strtok_r(text, "\n", &save); line && rc == 0;
	     line = strtok_r(NULL, "\n", &save)) {
		char *f[4] = {0}, *p = line;
		for (int i = 0; i < 4; i++) {
			f[i] = strsep(&p, "|");
			if (!f[i])
				break;
			while (isspace((unsigned char)*f[i]))
				f[i]++;
			f[i][strcspn(f[i], " \t")] = '\0';
		}
		if (!f[3] || strcmp(f[1], pool) != 0)
			continue;
		snprintf(full, sizeof(full), "%s/%s", vg, f[0]);
		if (cleanup && is_leftover(f[0], lv, prefix, "_incoming")) {
			lvm_cmd("lvremove", "-qy", full, NULL, NULL);
			continue;
		}
		if (!rep_snap_name_matches(f[0], lv, prefix))
			continue;
		snprintf(key, sizeof(key), "%s:%c", f[2], f[3][1]);
		rc = rep_snaps_add(out, f[0], key);
	}
	free(text);
	if (rc < 0)
		rep_snaps_free(out);
	rep_snaps_sort(out);
	return rc;
}

static int lvm_list(struct rep_target *t, const char *lv, const char *prefix, struct rep_snaps *out)
{
	struct local_target *l = lt(t);

	return lvm_list_in(l->vg, l->pool, t->spec, true, lv, prefix, out);
}

int rep_lvm_snaps(const char *vg, const char *pool, const char *lv, const char *prefix,
		  struct rep_snaps *out)
{
	char spec[300];

	snprintf(spec, sizeof(spec), "%s/%s", vg, pool);
	return lvm_list_in(vg, pool, spec, false, lv, prefix, out);
}

static int lvm_recv_begin(struct rep_target *t, const char *base, const char *name)
{
	struct local_target *l = lt(t);
	struct tf_recv_opts o = {0};
	char full[400], bfull[400], vgpool[300];
	int rc;

	snprintf(l->name, sizeof(l->name), "%s", name);
	snprintf(l->incoming, sizeof(l->incoming), "%s_incoming", name);
	snprintf(full, sizeof(full), "%s/%s", l->vg, l->incoming);
	snprintf(vgpool, sizeof(vgpool), "%s/%s", l->vg, l->pool);
	if (base) {
		/* A thin snapshot of the base, given the base's thinfs state tags
		 * (explicitly: whether lvcreate copies tags is not to be relied
		 * on); the engine stages the stream in a snapshot of it and swaps
		 * it in at the end. */
		const char *tags[] = {"lvs", "--noheadings", "-o", "lv_tags", bfull, NULL};
		const char *snap[16] = {"lvcreate", "-qy", "-s", "-n", l->incoming, "-prw", "-kn"};
		char *text = NULL, *save = NULL, *tag;
		size_t n = 7;

		snprintf(bfull, sizeof(bfull), "%s/%s", l->vg, base);
		if ((rc = tf_run_ok(tags, NULL, &text)) < 0)
			return rc;
		for (tag = strtok_r(text, ", \n", &save); tag && n + 3 < 16;
		     tag = strtok_r(NULL, ", \n", &save)) {
			if (strncmp(tag, "thinfs_", 7) != 0)
				continue;
			snap[n++] = "--addtag";
			snap[n++] = tag;
		}
		snap[n++] = bfull;
		snap[n] = NULL;
		rc = tf_run_ok(snap, NULL, NULL);
		free(text);
		if (rc < 0)
			return rc;
	}
	l->off = 0;
	rc = tf_recv_open_lvm(vgpool, l->incoming, &o, &l->r);
	if (rc < 0 && base)
		lvm_cmd("lvremove", "-qy", full, NULL, NULL);
	return rc;
}

static int lvm_recv_end(struct rep_target *t, bool ok)
{
	struct local_target *l = lt(t);
	char full[400];
	int rc = ok ? tf_recv_finish(l->r) : -ECANCELED;

	tf_recv_close(l->r);
	l->r = NULL;
	snprintf(full, sizeof(full), "%s/%s", l->vg, l->incoming);
	if (rc == 0)
		rc = lvm_cmd("lvchange", "-qy", "-an", full, NULL);
	if (rc == 0)
		rc = lvm_cmd("lvchange", "-qy", "-pr", full, NULL);
	if (rc == 0) {
		const char *mv[] = {"lvrename", "-qy", l->vg, l->incoming, l->name, NULL};
		rc = tf_run_ok(mv, NULL, NULL);
	}
	if (rc < 0) {
		int e = rc;
		char msg[1024];
		snprintf(msg, sizeof(msg), "%s", tf_errmsg());
		lvm_cmd("lvremove", "-qy", full, NULL, NULL);
		rc = tf_fail(-e, "%s", msg);
	}
	return rc;
}

static int lvm_prune(struct rep_target *t, const char *name)
{
	char full[300];

	snprintf(full, sizeof(full), "%s/%s", lt(t)->vg, name);
	return lvm_cmd("lvremove", "-qy", full, NULL, NULL);
}

static int lvm_hashes(struct rep_target *t, const char *name, struct rep_hashes *out)
{
	char obj[300];

	snprintf(obj, sizeof(obj), "%s/%s", lt(t)->vg, name);
	return rep_hash_object(obj, out);
}

int rep_pool_usage(const char *vg_pool, double *data, double *meta)
{
	const char *argv[] = {"lvs",	     "--noheadings",
			      "--separator", "|",
			      "-o",	     "data_percent,metadata_percent",
			      vg_pool,	     NULL};
	char *out = NULL;
	int rc = tf_run_ok(argv, NULL, &out);

	if (rc < 0)
		return tf_fail_ctx(rc, "%s: ", vg_pool);
	if (sscanf(out, " %lf | %lf", data, meta) != 2)
		rc = tf_fail(EINVAL, "%s: no data/metadata usage (is it a thin pool?)", vg_pool);
	free(out);
	return rc;
}

static int lvm_usage(struct rep_target *t, double *data, double *meta)
{
	char vp[300];

	snprintf(vp, sizeof(vp), "%s/%s", lt(t)->vg, lt(t)->pool);
	return rep_pool_usage(vp, data, meta);
}

static int dir_usage(struct rep_target *t, double *data, double *meta)
{
	(void)t, (void)data, (void)meta;
	return -ENOTSUP;
}

static void local_free(struct rep_target *t)
{
	struct local_target *l = lt(t);

	if (l->r)
		tf_recv_close(l->r);
	free(l);
}

static const struct rep_target_ops dir_ops = {
    .list = dir_list,
    .recv_begin = dir_recv_begin,
    .recv_write = local_recv_write,
    .recv_end = dir_recv_end,
    .prune = dir_prune,
    .hashes = dir_hashes,
    .usage = dir_usage,
    .free = local_free,
};

static const struct rep_target_ops lvm_ops = {
    .list = lvm_list,
    .recv_begin = lvm_recv_begin,
    .recv_write = local_recv_write,
    .recv_end = lvm_recv_end,
    .prune = lvm_prune,
    .hashes = lvm_hashes,
    .usage = lvm_usage,
    .free = local_free,
};

int rep_target_open(const char *spec, struct rep_target **out)
{
	struct local_target *l;
	const char *slash;
	struct stat st;

	*out = NULL;
	if (ssh_target_is(spec))
		return rep_target_ssh_open(spec, out);
	l = calloc(1, sizeof(*l));
	if (!l)
		return tf_fail(ENOMEM, "out of memory");
	snprintf(l->t.spec, sizeof(l->t.spec), "%s", spec);
	if (stat(spec, &st) == 0 && S_ISDIR(st.st_mode)) {
		l->t.ops = &dir_ops;
		snprintf(l->dir, sizeof(l->dir), "%s", spec);
		*out = &l->t;
		return 0;
	}
	slash = strchr(spec, '/');
	if (!slash || slash == spec || !slash[1] || strchr(slash + 1, '/') ||
	    (size_t)(slash - spec) >= sizeof(l->vg) || strlen(slash + 1) >= sizeof(l->pool)) {
		free(l);
		return tf_fail(
		    EINVAL, "%s: not a directory, a VG/POOL or ssh:[USER@]HOST:PATH target", spec);
	}
	l->lvm = true;
	l->t.ops = &lvm_ops;
	snprintf(l->vg, sizeof(l->vg), "%.*s", (int)(slash - spec), spec);
	snprintf(l->pool, sizeof(l->pool), "%s", slash + 1);
	*out = &l->t;
	return 0;
}
