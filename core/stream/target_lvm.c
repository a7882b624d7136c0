/* target_lvm.c — a receive target that is a thin LV of a live pool.
 *
 * Records go to a staging LV, <lv>_thinfs_recv: a new thin snapshot of the
 * target for an incremental (so only changed chunks are written and the
 * kernel allocates them), or a new thin LV for a full stream.  Writes go
 * through the staging LV's own device.  ZERO records unmap whole chunks of
 * the target pool with BLKDISCARD when the pool passes discards to its thin
 * devices (checked by reading the first chunk back as zeros), and write
 * zeros (BLKZEROOUT, else plain writes) for partial chunks and wherever a
 * discard is not honoured, so no stale byte survives.  On commit the staging LV is tagged with the
 * new state (thinfs_<hex>: a digest of identity, thin id and fingerprint)
 * and swapped in with two renames; the old LV is removed.  thinfs never
 * touches the pool's data or metadata devices.
 *
 * One receive per target: $THINFS_LOCK_DIR (default /run/lock/thinfs)
 * holds VG-LV.lock, flock'd from open to free (target_lock.c), so two
 * receives never share the staging LV.  Opening checks that VG/POOL is a
 * thin pool before anything is created.
 */
#include "core/stream/receive_internal.h"
#include "core/stream/repl_recv.h"

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

struct lvm_target {
	struct tf_target t;
	char vg[128], pool[128], lv[128], stage[160];
	char stage_dev[400], resume[4200];
	int fd;
	struct tf_lv_lock lock;
	uint64_t pool_chunk; /* bytes; 0 = discards do not unmap (write zeros) */
	bool discard_failed; /* once a discard was not honoured, write zeros */
};

static struct lvm_target *lt(struct tf_target *t)
{
	return (struct lvm_target *)t;
}

/* thinfs_<digest>: the digest the replication receive also keys states by. */
static void state_tag(const char *identity, uint32_t thin_id, const uint8_t fp[32], char *tag,
		      size_t len)
{
	char digest[41];

	tf_repl_state_digest(identity, thin_id, fp, digest);
	snprintf(tag, len, "thinfs_%s", digest);
}

static int lv_exists(struct lvm_target *l, const char *name, char *tags, size_t tlen,
		     uint64_t *size)
{
	char full[300], *out;
	const char *argv[] = {"lvs", "--noheadings",	"--nosuffix", "--units", "b",
			      "-o",  "lv_size,lv_tags", full,	      NULL};

	snprintf(full, sizeof(full), "%s/%s", l->vg, name);
	if (tf_run_ok(argv, NULL, &out) < 0)
		return 0;
	if (size)
		*size = strtoull(out, NULL, 10);
	if (tags)
		snprintf(tags, tlen, "%s", out);
	free(out);
	return 1;
}

/* The pool's chunk size if its thin devices unmap whole chunks on discard
 * (discards=passdown or nopassdown), else 0. */
static uint64_t pool_discard_chunk(struct lvm_target *l)
{
	char full[300], *out, mode[64] = "";
	unsigned long long chunk = 0;
	const char *argv[] = {"lvs", "--noheadings",	    "--nosuffix", "--units", "b",
			      "-o",  "discards,chunk_size", full,	  NULL};

	snprintf(full, sizeof(full), "%s/%s", l->vg, l->pool);
	if (tf_run_ok(argv, NULL, &out) < 0)
		return 0;
	int fields = sscanf(out, " %63s %llu", mode, &chunk);
	free(out);
	if (fields != 2)
		return 0;
	if (strcmp(mode, "passdown") != 0 && strcmp(mode, "nopassdown") != 0)
		return 0;
	if (chunk < 65536 || (chunk & (chunk - 1)) != 0)
		return 0; /* odd chunk sizes: not worth the arithmetic, write zeros */
	return chunk;
}

static int lvm_begin(struct tf_target *t, const struct tf_stream_header *h, bool force,
		     bool resuming)
{
	struct lvm_target *l = lt(t);
	char tags[2048], tag[64], full[300], stage_full[300], size[32];
	uint64_t have_size = 0;
	int fd, rc;

	snprintf(full, sizeof(full), "%s/%s", l->vg, l->lv);
	snprintf(stage_full, sizeof(stage_full), "%s/%s", l->vg, l->stage);
	if (!resuming && lv_exists(l, l->lv, tags, sizeof(tags), &have_size)) {
		/* Mounted or held open exclusively elsewhere: refuse. */
		char dev[400];
		snprintf(dev, sizeof(dev), "/dev/%s/%s", l->vg, l->lv);
		fd = open(dev, O_RDONLY | O_EXCL | O_CLOEXEC);
		if (fd < 0 && errno == EBUSY)
			return tf_fail(EBUSY,
				       "%s is in use (mounted or open); refusing to receive "
				       "into it",
				       t->name);
		if (fd >= 0)
			close(fd);
		state_tag(h->identity, h->result_thin_id, h->result_fp, tag, sizeof(tag));
		if (!force && strstr(tags, tag))
			return tf_fail(EALREADY,
				       "%s is already at this stream's result (tag %s): a "
				       "replayed stream; refusing (--force applies it anyway)",
				       t->name, tag);
		if (!force && !h->incremental)
			return tf_fail(EEXIST,
				       "%s exists; a full stream would replace it: refusing "
				       "(--force replaces it)",
				       t->name);
		if (h->incremental && !force) {
			state_tag(h->identity, h->base_thin_id, h->base_fp, tag, sizeof(tag));
			if (!strstr(tags, tag))
				return tf_fail(
				    ESTALE,
				    "%s does not carry the stream's base state (tag %s); "
				    "refusing (--force applies it anyway)",
				    t->name, tag);
		}
		if (h->incremental && have_size != h->volume_bytes)
			return tf_fail(
			    EINVAL, "%s has %" PRIu64 " bytes but the stream's volume has %" PRIu64,
			    t->name, have_size, h->volume_bytes);
	} else if (!resuming && h->incremental) {
		return tf_fail(ENOENT,
			       "%s does not exist: an incremental stream needs the target at "
			       "its base (send a full stream first)",
			       t->name);
	}
	if (!resuming) {
		if (lv_exists(l, l->stage, NULL, 0, NULL)) {
			const char *rm[] = {"lvremove", "-qy", stage_full, NULL};
			if ((rc = tf_run_ok(rm, NULL, NULL)) < 0)
				return rc;
		}
		if (h->incremental) {
			const char *snap[] = {"lvcreate", "-qy", "-s",	"-n", l->stage,
					      "-ay",	  "-K",	 "-kn", full, NULL};
			rc = tf_run_ok(snap, NULL, NULL);
		} else {
			char pool[300];
			const char *mk[] = {"lvcreate", "-qy", "-V",	 size, "-T",
					    pool,	"-n",  l->stage, NULL};
			snprintf(pool, sizeof(pool), "%s/%s", l->vg, l->pool);
			snprintf(size, sizeof(size), "%" PRIu64 "b", h->volume_bytes);
			rc = tf_run_ok(mk, NULL, NULL);
		}
		if (rc < 0)
			return rc;
	} else {
		const char *act[] = {"lvchange", "-qy", "-ay", "-K", stage_full, NULL};
		if ((rc = tf_run_ok(act, NULL, NULL)) < 0)
			return rc;
	}
	l->fd = open(l->stage_dev, O_RDWR | O_CLOEXEC);
	if (l->fd < 0)
		return tf_fail(errno, "%s: %s", l->stage_dev, strerror(errno));
	l->pool_chunk = pool_discard_chunk(l);
	return 0;
}

static int lvm_data(struct tf_target *t, uint64_t off, const void *buf, size_t len)
{
	struct lvm_target *l = lt(t);

	return tf_pwrite_all(l->fd, buf, len, off, l->stage_dev);
}

/* Zeros [off, off+len) by writing: BLKZEROOUT, else plain zeros. */
static int zero_write(struct tf_target *t, uint64_t off, uint64_t len)
{
	struct lvm_target *l = lt(t);
	uint64_t range[2] = {off, len};

	if (len == 0 || ioctl(l->fd, BLKZEROOUT, range) == 0)
		return 0;
	return tf_write_zeros(l->fd, off, len, l->stage_dev);
}

/* Whether [off, off+len) reads back as zeros. */
static int reads_zero(struct lvm_target *l, uint64_t off, size_t len)
{
	static const uint8_t zeros[65536];
	uint8_t buf[65536];

	for (size_t o = 0; o < len;) {
		size_t n = len - o < sizeof(buf) ? len - o : sizeof(buf);
		if (pread(l->fd, buf, n, (off_t)(off + o)) != (ssize_t)n)
			return 0;
		if (memcmp(buf, zeros, n) != 0)
			return 0;
		o += n;
	}
	return 1;
}

static int lvm_zero(struct tf_target *t, uint64_t off, uint64_t len)
{
	struct lvm_target *l = lt(t);
	uint64_t c = l->pool_chunk, end = off + len, a, b;
	uint64_t range[2];
	int rc;

	if (c == 0 || l->discard_failed)
		return zero_write(t, off, len);
	a = (off + c - 1) / c * c; /* whole chunks [a, b) are unmapped */
	b = end / c * c;
	if (a >= b)
		return zero_write(t, off, len);
	range[0] = a;
	range[1] = b - a;
	if (ioctl(l->fd, BLKDISCARD, range) < 0 || !reads_zero(l, a, (size_t)c)) {
		l->discard_failed = true;
		return zero_write(t, off, len);
	}
	if ((rc = zero_write(t, off, a - off)) < 0)
		return rc;
	return zero_write(t, b, end - b);
}

static int lvm_save_checkpoint(struct tf_target *t, const struct tf_parser_checkpoint *cp)
{
	struct lvm_target *l = lt(t);
	uint8_t file[TF_CHECKPOINT_FILE_BYTES];
	int fd;

	if (l->fd < 0 || fsync(l->fd) < 0)
		return tf_fail(errno ? errno : EBADF, "%s: cannot flush", l->stage_dev);
	fd = open(l->resume, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return tf_fail(errno, "%s: %s", l->resume, strerror(errno));
	tf_checkpoint_encode(cp, file);
	if (write(fd, file, sizeof(file)) != (ssize_t)sizeof(file) || fsync(fd) < 0) {
		close(fd);
		return tf_fail(EIO, "%s: cannot write the checkpoint", l->resume);
	}
	close(fd);
	return 0;
}

static int lvm_load_checkpoint(struct tf_target *t, struct tf_parser_checkpoint *cp)
{
	struct lvm_target *l = lt(t);
	int fd = open(l->resume, O_RDONLY | O_CLOEXEC);
	uint8_t file[TF_CHECKPOINT_FILE_BYTES + 1];
	ssize_t n;

	if (fd < 0)
		return -ENOENT;
	n = read(fd, file, sizeof(file));
	close(fd);
	if (!lv_exists(l, l->stage, NULL, 0, NULL))
		return tf_fail(EBADMSG, "%s: the staging LV %s is gone; start the receive again",
			       l->resume, l->stage);
	return tf_checkpoint_decode(file, n < 0 ? 0 : (size_t)n, cp, l->resume);
}

static int lvm_commit(struct tf_target *t, const struct tf_target_state *st, uint64_t volume_bytes)
{
	struct lvm_target *l = lt(t);
	char tag[64], stage_full[300], old[160], old_full[300], tags[2048];
	int rc;

	(void)volume_bytes;
	if (fsync(l->fd) < 0)
		return tf_fail(errno, "%s: %s", l->stage_dev, strerror(errno));
	close(l->fd);
	l->fd = -1;
	snprintf(stage_full, sizeof(stage_full), "%s/%s", l->vg, l->stage);
	snprintf(old, sizeof(old), "%s_thinfs_%s", l->lv, t->keep_prev ? "prev" : "old");
	snprintf(old_full, sizeof(old_full), "%s/%s", l->vg, old);
	state_tag(st->identity, st->thin_id, st->fingerprint, tag, sizeof(tag));
	/* The snapshot inherited the old state's tags: replace them. */
	if (lv_exists(l, l->stage, tags, sizeof(tags), NULL)) {
		for (char *p = strstr(tags, "thinfs_"); p; p = strstr(p + 1, "thinfs_")) {
			char old_tag[64];
			const char *del[] = {"lvchange", "-qy",	     "--deltag",
					     old_tag,	 stage_full, NULL};
			snprintf(old_tag, sizeof(old_tag), "%.47s", p);
			old_tag[strcspn(old_tag, ", \n")] = '\0';
			tf_run_ok(del, NULL, NULL);
		}
	}
	const char *add[] = {"lvchange", "-qy", "--addtag", tag, stage_full, NULL};
	if ((rc = tf_run_ok(add, NULL, NULL)) < 0)
		return rc;
	if (lv_exists(l, old, NULL, 0, NULL)) {
		const char *rm[] = {"lvremove", "-qy", old_full, NULL};
		if ((rc = tf_run_ok(rm, NULL, NULL)) < 0) /* an older kept volume, or a leftover */
			return rc;
	}
	if (lv_exists(l, l->lv, NULL, 0, NULL)) {
		const char *mv[] = {"lvrename", "-qy", l->vg, l->lv, old, NULL};
		if ((rc = tf_run_ok(mv, NULL, NULL)) < 0)
			return rc;
	}
	const char *mv2[] = {"lvrename", "-qy", l->vg, l->stage, l->lv, NULL};
	if ((rc = tf_run_ok(mv2, NULL, NULL)) < 0)
		return rc;
	if (!t->keep_prev && lv_exists(l, old, NULL, 0, NULL)) {
		const char *rm[] = {"lvremove", "-qy", old_full, NULL};
		tf_run_ok(rm, NULL,
			  NULL); /* the new LV is in place; a leftover old one is harmless */
	}
	unlink(l->resume);
	return 0;
}

static void lvm_abort(struct tf_target *t, bool keep)
{
	struct lvm_target *l = lt(t);
	char stage_full[300];
	const char *rm[] = {"lvremove", "-qy", stage_full, NULL};

	if (l->fd >= 0) {
		close(l->fd);
		l->fd = -1;
	}
	if (!keep) {
		snprintf(stage_full, sizeof(stage_full), "%s/%s", l->vg, l->stage);
		tf_run_ok(rm, NULL, NULL);
		unlink(l->resume);
	}
}

static void lvm_free(struct tf_target *t)
{
	struct lvm_target *l = lt(t);

	if (l->fd >= 0)
		close(l->fd);
	tf_lv_unlock(&l->lock);
	free(l);
}

static const struct tf_target_ops lvm_ops = {
    .begin = lvm_begin,
    .data = lvm_data,
    .zero = lvm_zero,
    .save_checkpoint = lvm_save_checkpoint,
    .load_checkpoint = lvm_load_checkpoint,
    .commit = lvm_commit,
    .abort = lvm_abort,
    .free = lvm_free,
};

/* Refuses a VG/POOL that is not a thin pool before anything is created. */
static int check_pool(struct lvm_target *l)
{
	char full[300], seg[64] = "", said[256];
	const char *argv[] = {"lvs", "--noheadings", "-o", "segtype", full, NULL};
	struct tf_run_result r;
	int rc;

	snprintf(full, sizeof(full), "%s/%s", l->vg, l->pool);
	if ((rc = tf_run_with(argv, &(struct tf_run_opts){0}, &r)) < 0)
		return rc;
	if (r.status != 0) {
		tf_run_first_line(r.err_len ? r.err : r.out, said, sizeof(said));
		tf_run_free(&r);
		return tf_fail(ENOENT, "%s: no such thin pool (lvs: %s)", full, said);
	}
	sscanf(r.out, " %63s", seg);
	tf_run_free(&r);
	if (strcmp(seg, "thin-pool") != 0)
		return tf_fail(EINVAL, "%s is not a thin pool (segment type %s)", full,
			       *seg ? seg : "unknown");
	return 0;
}

int tf_target_lvm_open(const char *vg_pool, const char *lv, struct tf_target **out)
{
	const char *slash = strchr(vg_pool, '/');
	const char *dir = getenv("THINFS_STATE_DIR");
	struct lvm_target *l;
	int rc;

	if (!slash || strchr(slash + 1, '/') || slash == vg_pool || !slash[1] ||
	    slash - vg_pool >= 128 || strlen(slash + 1) >= 128)
		return tf_fail(EINVAL, "%s: not a VG/POOL name", vg_pool);
	if (!tf_recv_valid_name(lv))
		return tf_fail(EINVAL, "'%s' is not a valid LV name", lv);
	l = calloc(1, sizeof(*l));
	if (!l)
		return tf_fail(ENOMEM, "receive: out of memory");
	l->t.ops = &lvm_ops;
	l->fd = -1;
	l->lock = (struct tf_lv_lock)TF_LV_LOCK_INIT;
	snprintf(l->vg, sizeof(l->vg), "%.*s", (int)(slash - vg_pool), vg_pool);
	snprintf(l->pool, sizeof(l->pool), "%s", slash + 1);
	snprintf(l->lv, sizeof(l->lv), "%s", lv);
	snprintf(l->stage, sizeof(l->stage), "%s_thinfs_recv", lv);
	snprintf(l->stage_dev, sizeof(l->stage_dev), "/dev/%s/%s", l->vg, l->stage);
	if (!dir || !*dir)
		dir = "/var/lib/thinfs";
	mkdir(dir, 0700);
	snprintf(l->resume, sizeof(l->resume), "%s/recv-%s-%s.resume", dir, l->vg, lv);
	snprintf(l->t.name, sizeof(l->t.name), "%s/%s", l->vg, lv);
	if (!tf_recv_valid_name(l->vg) || !tf_recv_valid_name(l->pool))
		rc = tf_fail(EINVAL, "%s: not a VG/POOL name", vg_pool);
	else if ((rc = check_pool(l)) == 0)
		rc = tf_lv_lock(&l->lock, l->vg, l->lv, l->t.name);
	if (rc < 0) {
		lvm_free(&l->t);
		return rc;
	}
	*out = &l->t;
	return 0;
}
