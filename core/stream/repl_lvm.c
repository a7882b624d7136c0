/* repl_lvm.c — a replica that is a live thin pool VG/POOL.
 *
 * Volume V received as an increment over its relative R is staged as
 * V_thinfs_recv, a new thin snapshot of R (`lvcreate -s`, so the kernel
 * shares every chunk the delta does not touch and the target pool's data
 * usage follows the source's unique data), resized if V's size differs;
 * a full volume is staged as a new thin LV.  The delta is written through
 * the staging LV's own device (ZERO ranges: BLKDISCARD, checked to read
 * back as zeros, else BLKZEROOUT or written zeros).  On commit the staging
 * LV gets V's tags — the state tag thinfs_<digest> that a single-volume
 * receive also uses, thinfs_src_<pool key>_<thin id>, thinfs_lin_<lineage
 * key>, thinfs_name_<source name>, and the source's own LVM tags — and is
 * renamed to V (an older V is renamed aside and removed).  Each volume holds
 * the per-LV receive lock a single-volume receive takes (tf_lv_lock).  LVM
 * commands go through tf_run_ok (core/base/run.h); thinfs never touches the
 * pool's devices.  A cut-off volume keeps its staging LV and a checkpoint,
 * $THINFS_STATE_DIR/repl-VG-V.resume, for the rerun.
 *
 * A thin LV's LVM origin is fixed when it is created.  In a first
 * replication of a lineage, the snapshots of O arrive before O (oldest
 * content first), so O is built in place: its staging LV O_thinfs_recv
 * takes the first snapshot's content, each snapshot of O is applied into
 * it and then taken as a thin snapshot of it, and O's own delta lands last,
 * when the stage is renamed to O.  The snapshots' origin is then O, as at
 * the source.  A marker file, $THINFS_STATE_DIR/repl-VG-O.stage, says what
 * the stage holds ("clean D": exactly state D; "dirty B T": state B on its
 * way to T), so a rerun after a cut re-applies T's delta (a delta rewrites
 * every range it touches, so applying it again over a part of itself gives
 * T) and never applies a delta over anything else.  Where the stage does
 * not hold a volume's relative (a branch, a resize down, an incremental
 * run), the volume is staged the plain way, as a snapshot of its relative,
 * and its origin at the target is that relative (see
 * docs/replication-stream.md).
 */
#include "core/stream/repl_internal.h"

#include "core/base/err.h"
#include "core/base/run.h"
#include "core/io/fdio.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

struct lvm_replica {
	struct tf_replica r;
	char vg[128], pool[128];
	char state_dir[4096];
};

struct clone_target {
	struct tf_target t;
	struct lvm_replica *rep;
	char lv[128], base[128], stage[160], stage_dev[400], resume[4608];
	/* The stage is a lineage stage (see the top): kept on abort, its
	 * marker updated; `snap_of_stage`: this volume is not the stage's
	 * owner but is taken as a snapshot of it on commit. */
	bool lineage, snap_of_stage;
	char marker[4608], digest[41], base_digest[41];
	uint64_t stage_bytes; /* the stage's size now (0: not made yet) */
	char tags[2048];      /* --addtag list, space-separated */
	uint64_t base_size;
	bool replacing; /* an older state of the volume is there */
	int fd;
	/* One receive per LV, as a single-volume receive takes it; a volume
	 * going through its origin's stage holds the origin's too. */
	struct tf_lv_lock lock, owner_lock;
};

static struct lvm_replica *lr(struct tf_replica *r)
{
	return (struct lvm_replica *)r;
}

static struct clone_target *ct(struct tf_target *t)
{
	return (struct clone_target *)t;
}

/* One lvs line of VG/name's fields into out (sizes in bytes); -ENOENT if
 * the LV does not exist. */
static int lv_fields(struct lvm_replica *l, const char *name, const char *fields, char *out,
		     size_t len)
{
	char full[300], *text;
	const char *argv[] = {"lvs", "--noheadings", "--units", "b", "--nosuffix",
			      "-o",  fields,	     full,	NULL};

	snprintf(full, sizeof(full), "%s/%s", l->vg, name);
	if (tf_run_ok(argv, NULL, &text) < 0) {
		tf_err_clear();
		return -ENOENT;
	}
	snprintf(out, len, "%.*s", (int)strcspn(text, "\n"), text);
	free(text);
	return 0;
}

/* Tags of VG/name (one line). */
static int lv_tags(struct lvm_replica *l, const char *name, char *out, size_t len)
{
	return lv_fields(l, name, "lv_tags", out, len);
}

/* Its pool and tags: "POOL TAGS". */
static int lv_pool_tags(struct lvm_replica *l, const char *name, char *out, size_t len)
{
	return lv_fields(l, name, "pool_lv,lv_tags", out, len);
}

/* Size of VG/name in bytes; -ENOENT if it does not exist. */
static int lv_bytes(struct lvm_replica *l, const char *name, uint64_t *bytes)
{
	char line[64];
	int rc = lv_fields(l, name, "lv_size", line, sizeof(line));

	if (rc == 0 && sscanf(line, " %" SCNu64, bytes) != 1)
		rc = tf_fail(EIO, "lvs %s/%s: no size in \"%s\"", l->vg, name, line);
	return rc;
}

/* Finds "prefix<value>" among comma-separated tags; copies value. */
static bool tag_value(const char *tags, const char *prefix, char *out, size_t len)
{
	size_t pl = strlen(prefix);

	for (const char *p = tags; (p = strstr(p, prefix)); p += pl) {
		if (p != tags && p[-1] != ',' && p[-1] != ' ')
			continue;
		snprintf(out, len, "%.*s", (int)strcspn(p + pl, ", \n"), p + pl);
		return true;
	}
	return false;
}

static int lvm_state(struct tf_replica *rep, const char *name, struct tf_replica_state *st)
{
	struct lvm_replica *l = lr(rep);
	char line[2048], pool[128] = "", tags[2048] = "", v[200];
	int rc = lv_pool_tags(l, name, line, sizeof(line));

	memset(st, 0, sizeof(*st));
	if (rc < 0)
		return rc;
	/* Names are unique in the VG: one in another pool is not ours to
	 * replace, even with --force. */
	if (sscanf(line, " %127s %2047s", pool, tags) < 1 || strcmp(pool, l->pool) != 0)
		return tf_fail(EEXIST,
			       "%s/%s exists outside the pool %s (LV names are unique in a VG); "
			       "use --prefix",
			       l->vg, name, l->pool);
	/* The state tag: "thinfs_" and exactly 40 hex digits. */
	for (const char *p = tags; (p = strstr(p, "thinfs_")); p += 7) {
		if (strspn(p + 7, "0123456789abcdef") == 40 && strchr(", \n", p[47])) {
			memcpy(st->digest, p + 7, 40);
			st->digest[40] = '\0';
			st->has_state = true;
			break;
		}
	}
	if (tag_value(tags, "thinfs_src_", v, sizeof(v)) && strlen(v) > 17 && v[16] == '_') {
		snprintf(st->pool_key, sizeof(st->pool_key), "%.16s", v);
		st->thin_id = (uint32_t)strtoul(v + 17, NULL, 10);
		st->has_source = true;
	}
	if (tag_value(tags, "thinfs_lin_", v, sizeof(v)))
		snprintf(st->lineage_key, sizeof(st->lineage_key), "%.16s", v);
	if (tag_value(tags, "thinfs_name_", v, sizeof(v)))
		snprintf(st->source_name, sizeof(st->source_name), "%s", v);
	return 0;
}

/* ---- the clone target (tf_target_ops) ---- */

static int run_lv(const char *cmd, const char *opt, const char *vg, const char *lv)
{
	char full[400];
	const char *argv[] = {cmd, "-qy", opt, full, NULL};

	snprintf(full, sizeof(full), "%s/%s", vg, lv);
	if (!opt) {
		argv[2] = full;
		argv[3] = NULL;
	}
	return tf_run_ok(argv, NULL, NULL);
}

/* ---- the lineage stage's marker ---- */

/* Reads the marker: 'c' (clean a), 'd' (dirty a -> b), or 0 if none. */
static char marker_read(const char *path, char a[41], char b[41])
{
	char kind[8] = "";
	FILE *f = fopen(path, "re");

	a[0] = b[0] = '\0';
	if (!f)
		return 0;
	int n = fscanf(f, "%7s %40s %40s", kind, a, b);
	fclose(f);
	if (n == 2 && strcmp(kind, "clean") == 0)
		return 'c';
	if (n == 3 && strcmp(kind, "dirty") == 0)
		return 'd';
	return 0;
}

static int marker_write(const char *path, const char *kind, const char *a, const char *b)
{
	char tmp[4700];
	FILE *f;
	int rc = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (!(f = fopen(tmp, "we")))
		return tf_fail(errno, "%s: %s", tmp, strerror(errno));
	fprintf(f, "%s %s%s%s\n", kind, a, b ? " " : "", b ? b : "");
	if (fflush(f) != 0 || fsync(fileno(f)) < 0)
		rc = tf_fail(errno, "%s: %s", tmp, strerror(errno));
	if (fclose(f) != 0 && rc == 0)
		rc = tf_fail(errno, "%s: %s", tmp, strerror(errno));
	if (rc == 0 && rename(tmp, path) < 0)
		rc = tf_fail(errno, "%s: %s", path, strerror(errno));
	return rc;
}

/* Whether OWNER's stage can take this volume's delta: it holds exactly the
 * volume's relative (clean at its state, or dirty from the relative to
 * this very volume: a cut run of the same step), and is not larger than
 * the volume (a stage is grown, never shrunk, so no chunk beyond an old
 * end can come back).  A stage that does not exist yet can take a volume
 * sent in full. */
static bool stage_takes(struct clone_target *c, const char *owner, const struct tf_replica_meta *m)
{
	struct lvm_replica *l = c->rep;
	char stage[160], a[41], b[41];
	char kind = marker_read(c->marker, a, b);

	snprintf(stage, sizeof(stage), "%.127s_thinfs_recv", owner);
	if (lv_bytes(l, stage, &c->stage_bytes) < 0) {
		c->stage_bytes = 0;
		return strcmp(m->base_digest, "-") == 0;
	}
	if (c->stage_bytes > m->e->size_bytes)
		return false;
	if (kind == 'c')
		return strcmp(a, m->base_digest) == 0;
	if (kind != 'd')
		return false;
	if (strcmp(a, m->base_digest) == 0 && strcmp(b, m->digest) == 0)
		return true;
	/* Cut after the volume it was on its way to was taken and put in
	 * place, before the marker said so: the stage holds that volume. */
	if (strcmp(b, m->base_digest) == 0 && c->base[0]) {
		struct tf_replica_state st;
		if (lvm_state(&l->r, c->base, &st) == 0 && st.has_state &&
		    strcmp(st.digest, b) == 0)
			return true;
		tf_err_clear();
	}
	return false;
}

static int clone_begin(struct tf_target *t, const struct tf_stream_header *h, bool force,
		       bool resuming)
{
	struct clone_target *c = ct(t);
	struct lvm_replica *l = c->rep;
	char tags[2048], full[300], size[32];
	int rc;

	(void)force; /* the base was checked against the manifest before */
	snprintf(full, sizeof(full), "%s/%s", l->vg, c->stage);
	snprintf(size, sizeof(size), "%" PRIu64 "b", h->volume_bytes);
	if (c->lineage) {
		const char *act[] = {"lvchange", "-qy", "-ay", "-K", full, NULL};
		const char *rs[] = {"lvresize", "-qy", "-L", size, full, NULL};
		char pool[300];
		const char *mk[] = {"lvcreate", "-qy", "-V",	 size, "-T",
				    pool,	"-n",  c->stage, NULL};

		snprintf(pool, sizeof(pool), "%s/%s", l->vg, l->pool);
		if ((rc = marker_write(c->marker, "dirty", c->base_digest, c->digest)) < 0)
			return rc;
		if (c->stage_bytes == 0)
			rc = tf_run_ok(mk, NULL, NULL);
		else if ((rc = tf_run_ok(act, NULL, NULL)) == 0 && h->volume_bytes > c->stage_bytes)
			rc = tf_run_ok(rs, NULL, NULL);
		if (rc < 0)
			return rc;
		c->stage_bytes = h->volume_bytes;
	} else if (resuming) {
		const char *act[] = {"lvchange", "-qy", "-ay", "-K", full, NULL};
		if ((rc = tf_run_ok(act, NULL, NULL)) < 0)
			return rc;
	} else {
		if (lv_tags(l, c->stage, tags, sizeof(tags)) == 0 &&
		    (rc = run_lv("lvremove", NULL, l->vg, c->stage)) < 0)
			return rc;
		if (c->base[0]) {
			char base[300];
			const char *snap[] = {"lvcreate", "-qy", "-s",	"-n", c->stage,
					      "-ay",	  "-K",	 "-kn", base, NULL};
			snprintf(base, sizeof(base), "%s/%s", l->vg, c->base);
			if ((rc = tf_run_ok(snap, NULL, NULL)) < 0)
				return rc;
			const char *rs[] = {"lvresize", "-qy", "-f", "-L", size, full, NULL};
			if (c->base_size != h->volume_bytes && (rc = tf_run_ok(rs, NULL, NULL)) < 0)
				return rc;
		} else {
			char pool[300];
			const char *mk[] = {"lvcreate", "-qy", "-V",	 size, "-T",
					    pool,	"-n",  c->stage, NULL};
			snprintf(pool, sizeof(pool), "%s/%s", l->vg, l->pool);
			if ((rc = tf_run_ok(mk, NULL, NULL)) < 0)
				return rc;
		}
	}
	c->fd = open(c->stage_dev, O_RDWR | O_CLOEXEC);
	if (c->fd < 0)
		return tf_fail(errno, "%s: %s", c->stage_dev, strerror(errno));
	return 0;
}

static int clone_data(struct tf_target *t, uint64_t off, const void *buf, size_t len)
{
	struct clone_target *c = ct(t);

	return tf_pwrite_all(c->fd, buf, len, off, c->stage_dev);
}

static bool reads_zero(int fd, uint64_t off, uint64_t len)
{
	static const uint8_t zeros[65536];
	uint8_t buf[65536];

	for (uint64_t o = 0; o < len;) {
		size_t n = len - o < sizeof(buf) ? (size_t)(len - o) : sizeof(buf);
		if (pread(fd, buf, n, (off_t)(off + o)) != (ssize_t)n || memcmp(buf, zeros, n))
			return false;
		o += n;
	}
	return true;
}

/* Unmaps where the pool can (whole chunks), and proves it by reading the
 * range back; whatever does not read as zeros is zeroed by writing. */
static int clone_zero(struct tf_target *t, uint64_t off, uint64_t len)
{
	struct clone_target *c = ct(t);
	uint64_t range[2] = {off, len};

	if (ioctl(c->fd, BLKDISCARD, range) == 0 && reads_zero(c->fd, off, len))
		return 0;
	if (ioctl(c->fd, BLKZEROOUT, range) == 0)
		return 0;
	return tf_write_zeros(c->fd, off, len, c->stage_dev);
}

static int clone_save_checkpoint(struct tf_target *t, const struct tf_parser_checkpoint *cp)
{
	struct clone_target *c = ct(t);
	uint8_t file[TF_CHECKPOINT_FILE_BYTES];
	char tmp[4700];
	int fd, rc = 0;

	if (c->fd < 0 || fsync(c->fd) < 0)
		return tf_fail(errno ? errno : EBADF, "%s: cannot flush", c->stage_dev);
	tf_checkpoint_encode(cp, file);
	snprintf(tmp, sizeof(tmp), "%s.tmp", c->resume);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return tf_fail(errno, "%s: %s", tmp, strerror(errno));
	if (write(fd, file, sizeof(file)) != (ssize_t)sizeof(file) || fsync(fd) < 0 ||
	    rename(tmp, c->resume) < 0)
		rc = tf_fail(EIO, "%s: cannot write the checkpoint", c->resume);
	close(fd);
	return rc;
}

static int clone_load_checkpoint(struct tf_target *t, struct tf_parser_checkpoint *cp)
{
	struct clone_target *c = ct(t);
	uint8_t file[TF_CHECKPOINT_FILE_BYTES + 1];
	char tags[2048];
	int fd = open(c->resume, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -ENOENT;
	n = read(fd, file, sizeof(file));
	close(fd);
	if (c->lineage) {
		/* Only bytes applied into the stage since it last went dirty
		 * toward this volume count. */
		char a[41], b[41];
		if (marker_read(c->marker, a, b) != 'd' || strcmp(b, c->digest) != 0) {
			unlink(c->resume);
			return -ENOENT;
		}
	}
	if (lv_tags(c->rep, c->stage, tags, sizeof(tags)) < 0)
		return tf_fail(EBADMSG, "%s: the staging LV %s is gone; starting afresh", c->resume,
			       c->stage);
	return tf_checkpoint_decode(file, n < 0 ? 0 : (size_t)n, cp, c->resume);
}

/* Gives VG/lv the volume's tags (and state tag), dropping every tag it
 * inherited from what it was made from. */
static int retag(struct clone_target *c, const char *lv, const char *tag)
{
	struct lvm_replica *l = c->rep;
	char have[2048], full[300], *save = NULL;
	const char *argv[64];
	char *copy, *tok;
	size_t n = 0;
	int rc;

	snprintf(full, sizeof(full), "%s/%s", l->vg, lv);
	if ((rc = lv_tags(l, lv, have, sizeof(have))) < 0)
		return tf_fail(ENOENT, "%s: the staging LV is gone", full);
	if (!(copy = malloc(strlen(have) + strlen(c->tags) + strlen(tag) + 4)))
		return tf_fail(ENOMEM, "receive: out of memory");
	argv[n++] = "lvchange";
	argv[n++] = "-qy";
	strcpy(copy, have);
	for (tok = strtok_r(copy, ", \t", &save); tok && n < 28;
	     tok = strtok_r(NULL, ", \t", &save)) {
		argv[n++] = "--deltag";
		argv[n++] = tok;
	}
	char *add = copy + strlen(have) + 1;
	sprintf(add, "%s %s", tag, c->tags);
	for (tok = strtok_r(add, " ", &save); tok && n < 60; tok = strtok_r(NULL, " ", &save)) {
		argv[n++] = "--addtag";
		argv[n++] = tok;
	}
	argv[n++] = full;
	argv[n] = NULL;
	rc = tf_run_ok(argv, NULL, NULL);
	free(copy);
	return rc;
}

/* A volume applied into its origin's stage: taken as a thin snapshot of the
 * stage (under a temporary name, tagged, then renamed, so the name appears
 * only with the whole volume behind it). */
static int commit_snapshot(struct clone_target *c, const char *tag)
{
	struct lvm_replica *l = c->rep;
	char tmp[160], from[300], tags[2048];
	const char *snap[] = {"lvcreate", "-qy", "-s", "-kn", "-n", tmp, from, NULL};
	const char *mv[] = {"lvrename", "-qy", l->vg, tmp, c->lv, NULL};
	int rc;

	snprintf(tmp, sizeof(tmp), "%s_thinfs_recv", c->lv);
	snprintf(from, sizeof(from), "%s/%s", l->vg, c->stage);
	if (lv_tags(l, tmp, tags, sizeof(tags)) == 0 &&
	    (rc = run_lv("lvremove", NULL, l->vg, tmp)) < 0)
		return rc; /* a leftover of a cut run */
	if ((rc = tf_run_ok(snap, NULL, NULL)) < 0 || (rc = retag(c, tmp, tag)) < 0 ||
	    (rc = tf_run_ok(mv, NULL, NULL)) < 0)
		return rc;
	unlink(c->resume);
	/* A cut before this line is recognised by stage_takes. */
	if ((rc = marker_write(c->marker, "clean", c->digest, NULL)) < 0)
		tf_err_clear();
	return 0;
}

static int clone_commit(struct tf_target *t, const struct tf_target_state *st,
			uint64_t volume_bytes)
{
	struct clone_target *c = ct(t);
	struct lvm_replica *l = c->rep;
	char tag[64], old[200];
	int rc;

	(void)volume_bytes;
	if (fsync(c->fd) < 0)
		return tf_fail(errno, "%s: %s", c->stage_dev, strerror(errno));
	close(c->fd);
	c->fd = -1;
	memcpy(tag, "thinfs_", 7);
	tf_repl_state_digest(st->identity, st->thin_id, st->fingerprint, tag + 7);
	if (c->snap_of_stage)
		return commit_snapshot(c, tag);
	if ((rc = retag(c, c->stage, tag)) < 0)
		return rc;
	snprintf(old, sizeof(old), "%s_thinfs_old", c->lv);
	if (c->replacing) {
		const char *mv[] = {"lvrename", "-qy", l->vg, c->lv, old, NULL};
		if (run_lv("lvremove", NULL, l->vg, old) < 0) /* a leftover, if any */
			tf_err_clear();
		if ((rc = tf_run_ok(mv, NULL, NULL)) < 0)
			return rc;
	}
	const char *mv2[] = {"lvrename", "-qy", l->vg, c->stage, c->lv, NULL};
	if ((rc = tf_run_ok(mv2, NULL, NULL)) < 0)
		return rc;
	if (c->replacing && run_lv("lvremove", NULL, l->vg, old) < 0)
		tf_err_clear(); /* the new volume is in place; a leftover is harmless */
	if (c->lineage)
		unlink(c->marker); /* the stage is its owner now */
	unlink(c->resume);
	return 0;
}

static void clone_abort(struct tf_target *t, bool keep)
{
	struct clone_target *c = ct(t);

	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	if (!keep) {
		/* A lineage stage holds the snapshots already taken of it: it
		 * stays, and its marker says it is dirty. */
		if (!c->lineage && run_lv("lvremove", NULL, c->rep->vg, c->stage) < 0)
			tf_err_clear();
		unlink(c->resume);
	}
}

static void clone_free(struct tf_target *t)
{
	struct clone_target *c = ct(t);

	if (c->fd >= 0)
		close(c->fd);
	tf_lv_unlock(&c->owner_lock);
	tf_lv_unlock(&c->lock);
	free(c);
}

static const struct tf_target_ops clone_ops = {
    .begin = clone_begin,
    .data = clone_data,
    .zero = clone_zero,
    .save_checkpoint = clone_save_checkpoint,
    .load_checkpoint = clone_load_checkpoint,
    .commit = clone_commit,
    .abort = clone_abort,
    .free = clone_free,
};

/* The source's tags that LVM accepts, and thinfs' own; thinfs_ tags of the
 * source (it may itself be a receive target) are not copied. */
static void build_tags(struct clone_target *c, const struct tf_replica_meta *m)
{
	char lin[17], src[700], *save = NULL;
	size_t used;

	tf_repl_key(m->lineage, lin);
	used = (size_t)snprintf(c->tags, sizeof(c->tags),
				"thinfs_src_%s_%u thinfs_lin_%s thinfs_name_%s", m->pool_key,
				m->e->thin_id, lin, m->e->name);
	snprintf(src, sizeof(src), "%s", m->e->tags);
	for (char *tok = strtok_r(src, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (strncmp(tok, "thinfs_", 7) == 0 ||
		    strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
				"_+.-/=!:&#") != strlen(tok) ||
		    used + strlen(tok) + 2 >= sizeof(c->tags))
			continue;
		used += (size_t)snprintf(c->tags + used, sizeof(c->tags) - used, " %s", tok);
	}
}

static int lvm_open(struct tf_replica *rep, const char *name, const char *base,
		    const struct tf_replica_meta *m, struct tf_recv **out)
{
	struct lvm_replica *l = lr(rep);
	struct tf_recv_opts o = {.resume_if_any = true};
	struct clone_target *c = calloc(1, sizeof(*c));

	if (!c)
		return tf_fail(ENOMEM, "receive: out of memory");
	c->t.ops = &clone_ops;
	c->rep = l;
	c->fd = -1;
	c->lock = c->owner_lock = (struct tf_lv_lock)TF_LV_LOCK_INIT;
	snprintf(c->t.name, sizeof(c->t.name), "%s/%s", l->vg, name);
	snprintf(c->lv, sizeof(c->lv), "%s", name);
	snprintf(c->base, sizeof(c->base), "%s", base ? base : "");
	snprintf(c->digest, sizeof(c->digest), "%s", m->digest);
	snprintf(c->base_digest, sizeof(c->base_digest), "%s", m->base_digest);
	/* Into its origin's stage, or its own stage that snapshots were taken
	 * of (a lineage stage), when that stage holds its relative. */
	bool into_origin = m->origin_later[0] && !m->replacing;
	const char *owner = into_origin ? m->origin_later : name;
	snprintf(c->marker, sizeof(c->marker), "%s/repl-%s-%.127s.stage", l->state_dir, l->vg,
		 owner);
	char owner_name[300];
	snprintf(owner_name, sizeof(owner_name), "%s/%.127s", l->vg, owner);
	int rc = tf_lv_lock(&c->lock, l->vg, name, c->t.name);
	if (rc == 0 && into_origin)
		rc = tf_lv_lock(&c->owner_lock, l->vg, owner, owner_name);
	if (rc < 0) {
		clone_free(&c->t);
		return rc;
	}
	if (into_origin || access(c->marker, F_OK) == 0) {
		char a[41], b[41];
		c->lineage = stage_takes(c, owner, m);
		/* Not its own (the plain staging below replaces it), or dirty
		 * toward a volume that is not coming to finish it: no volume
		 * may be applied over that stage again. */
		if (!c->lineage && (!into_origin || marker_read(c->marker, a, b) == 'd'))
			unlink(c->marker);
	}
	c->snap_of_stage = c->lineage && into_origin;
	snprintf(c->stage, sizeof(c->stage), "%.127s_thinfs_recv", c->lineage ? owner : name);
	snprintf(c->stage_dev, sizeof(c->stage_dev), "/dev/%s/%s", l->vg, c->stage);
	/* The checkpoint of a delta applied into another volume's stage has its
	 * own name: it must never resume a plain staging, nor the reverse. */
	snprintf(c->resume, sizeof(c->resume), "%s/repl-%s-%s%s%.127s.resume", l->state_dir, l->vg,
		 name, c->snap_of_stage ? ".in." : "", c->snap_of_stage ? owner : "");
	c->base_size = m->base_size;
	c->replacing = m->replacing;
	build_tags(c, m);
	return tf_recv_open_target(&c->t, &o, out);
}

static int lvm_place(struct tf_replica *rep, const char *name, const struct tf_replica_meta *m)
{
	(void)rep;
	(void)name;
	(void)m;
	return 0; /* the commit renamed it into place */
}

static int lvm_list(struct tf_replica *rep, tf_replica_list_fn fn, void *ctx)
{
	struct lvm_replica *l = lr(rep);
	char *out, sel[300], *save = NULL;
	const char *argv[] = {"lvs", "--noheadings", "-o", "lv_name", "-S", sel, l->vg, NULL};
	int rc;

	snprintf(sel, sizeof(sel), "pool_lv=%s", l->pool);
	if ((rc = tf_run_ok(argv, NULL, &out)) < 0) /* as many LVs as the pool holds */
		return rc;
	for (char *tok = strtok_r(out, " \t\n", &save); tok && rc >= 0;
	     tok = strtok_r(NULL, " \t\n", &save)) {
		struct tf_replica_state st;

		if (lvm_state(rep, tok, &st) < 0 || !st.has_state) {
			tf_err_clear();
			continue;
		}
		rc = fn(ctx, tok, &st);
	}
	free(out);
	return rc < 0 ? rc : 0;
}

static int lvm_remove(struct tf_replica *rep, const char *name)
{
	return run_lv("lvremove", NULL, lr(rep)->vg, name);
}

static void done_path(struct lvm_replica *l, const char *key, char *out, size_t len)
{
	snprintf(out, len, "%s/repl-%s-%s-%s.done", l->state_dir, l->vg, l->pool, key);
}

static int lvm_get_done(struct tf_replica *rep, const char *key, uint64_t *send_time, uint32_t *crc)
{
	char path[4400];

	done_path(lr(rep), key, path, sizeof(path));
	return tf_repl_done_read(path, send_time, crc);
}

static int lvm_set_done(struct tf_replica *rep, const char *key, uint64_t send_time, uint32_t crc)
{
	char path[4400];

	done_path(lr(rep), key, path, sizeof(path));
	return tf_repl_done_write(path, send_time, crc);
}

static void lvm_free(struct tf_replica *rep)
{
	free(lr(rep));
}

static const struct tf_replica_ops lvm_ops = {
    .state = lvm_state,
    .open = lvm_open,
    .place = lvm_place,
    .list = lvm_list,
    .remove = lvm_remove,
    .get_done = lvm_get_done,
    .set_done = lvm_set_done,
    .free = lvm_free,
};

int tf_replica_lvm_open(const char *vg_pool, struct tf_replica **out)
{
	const char *slash = strchr(vg_pool, '/');
	const char *dir = getenv("THINFS_STATE_DIR");
	struct lvm_replica *l;

	if (!slash || strchr(slash + 1, '/') || slash == vg_pool || !slash[1] ||
	    (size_t)(slash - vg_pool) >= sizeof(l->vg) || strlen(slash + 1) >= sizeof(l->pool))
		return tf_fail(EINVAL, "%s: not a directory or a VG/POOL name", vg_pool);
	if (!(l = calloc(1, sizeof(*l))))
		return tf_fail(ENOMEM, "receive: out of memory");
	l->r.ops = &lvm_ops;
	snprintf(l->vg, sizeof(l->vg), "%.*s", (int)(slash - vg_pool), vg_pool);
	snprintf(l->pool, sizeof(l->pool), "%s", slash + 1);
	snprintf(l->state_dir, sizeof(l->state_dir), "%s", dir && *dir ? dir : "/var/lib/thinfs");
	mkdir(l->state_dir, 0700);
	snprintf(l->r.name, sizeof(l->r.name), "%s", vg_pool);
	*out = &l->r;
	return 0;
}
