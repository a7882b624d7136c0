/* doctor_pool.c — the checks of one thin pool: its kernel status (mode,
 * usage, a held metadata snapshot, discards), its spare metadata LV, and
 * thinfs's index of it.  Reads only: the status comes from device-mapper,
 * never from a metadata snapshot of doctor's own. */
#include "doctor.h"

#include "cli.h"
#include "core/base/err.h"
#include "core/lvm/dm.h"
#include "core/pool/pool.h"
#include "index/index.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MiB ((uint64_t)1024 * 1024)

struct pool_ctx {
	struct tf_doc *d;
	const struct tf_doc_pool *p;
	char scope[300];
	char dm[300]; /* the thin-pool target */
	bool have_status;
	struct tf_dm_pool_status st;
};

static const char *human(uint64_t bytes, char *buf, size_t n)
{
	tf_cli_human(bytes, buf, n);
	return buf;
}

/* "+52M" or "+3G": what lvextend needs to add so `used` of a total
 * `total` becomes `target_pct` percent; at least a tenth of total. */
static void grow_by(uint64_t used, uint64_t total, unsigned target_pct, char *buf, size_t n)
{
	uint64_t want = target_pct ? used / target_pct * 100 : total * 2;
	uint64_t add = want > total ? want - total : 0;

	if (add < total / 10)
		add = total / 10;
	if (add < MiB)
		add = MiB;
	if (add >= 10 * 1024 * MiB)
		snprintf(buf, n, "+%" PRIu64 "G", (add + 1024 * MiB - 1) / (1024 * MiB));
	else
		snprintf(buf, n, "+%" PRIu64 "M", (add + MiB - 1) / MiB);
}

static int read_status(struct pool_ctx *c)
{
	static const char *const suffixes[] = {"-tpool", ""};
	int rc = -ENOENT;

	for (size_t i = 0; i < 2; i++) {
		if ((rc = tf_dm_lvm_name(c->p->vg, c->p->name, suffixes[i], c->dm, sizeof(c->dm))) <
		    0)
			return rc;
		tf_err_clear();
		if ((rc = tf_dm_pool_status(c->dm, &c->st)) == 0)
			return 0;
		if (strstr(tf_errmsg(), "has failed"))
			return rc;
	}
	return rc;
}

static void check_mode(struct pool_ctx *c)
{
	const struct tf_doc_pool *p = c->p;
	char sz[32], msg[512];
	int rc = read_status(c);

	if (rc < 0) {
		snprintf(msg, sizeof(msg), "%s", tf_errmsg());
		if (strstr(msg, "has failed"))
			tf_doc_fix(tf_doc_add(c->d, c->scope, "pool-mode", TF_DOC_CRITICAL,
					      "the kernel reports the pool as failed (%s status "
					      "'Fail'): no I/O to its volumes succeeds",
					      c->dm),
				   "vgchange -an %s; lvconvert --repair %s; vgchange -ay %s", p->vg,
				   c->scope, p->vg);
		else if (p->attr[4] != 'a')
			tf_doc_fix(tf_doc_add(c->d, c->scope, "pool-mode", TF_DOC_UNKNOWN,
					      "the pool is not active, so its status, usage and "
					      "metadata snapshot cannot be checked"),
				   "lvchange -ay %s", c->scope);
		else
			tf_doc_fix(
			    tf_doc_add(c->d, c->scope, "pool-mode", TF_DOC_UNKNOWN,
				       "cannot read the pool's status: %s", msg),
			    "run thinfs doctor as root on the host that has the pool active");
		return;
	}
	c->have_status = true;
	grow_by(c->st.data_used, c->st.data_total, 70, sz, sizeof(sz));
	human(p->vg_free, msg, sizeof(msg));
	if (c->st.out_of_data_space)
		tf_doc_fix(tf_doc_add(c->d, c->scope, "pool-mode", TF_DOC_CRITICAL,
				      "the pool is out of data space: writes to unmapped chunks of "
				      "its volumes %s",
				      c->st.error_if_no_space ? "fail (error_if_no_space)"
							      : "queue, then fail"),
			   "lvextend -L %s %s (the VG has %s free; else vgextend %s /dev/NEWDISK "
			   "first)",
			   sz, c->scope, msg, p->vg);
	else if (c->st.needs_check)
		tf_doc_fix(tf_doc_add(c->d, c->scope, "pool-mode", TF_DOC_CRITICAL,
				      "the kernel flagged the pool's metadata as needing a check "
				      "(needs_check)%s",
				      c->st.read_only ? " and switched the pool to read-only" : ""),
			   "vgchange -an %s; lvconvert --repair %s; vgchange -ay %s", p->vg,
			   c->scope, p->vg);
	else if (c->st.read_only)
		tf_doc_fix(
		    tf_doc_add(c->d, c->scope, "pool-mode", TF_DOC_CRITICAL,
			       "the kernel switched the pool to read-only (a metadata error, "
			       "or its metadata space ran out): writes to its volumes fail"),
		    "if metadata usage is at 100%%: lvextend --poolmetadatasize +%" PRIu64
		    "M %s; otherwise vgchange -an %s; lvconvert --repair %s; vgchange -ay %s",
		    p->metadata_size / MiB ? p->metadata_size / MiB : 4, c->scope, p->vg, c->scope,
		    p->vg);
	else
		tf_doc_add(
		    c->d, c->scope, "pool-mode", TF_DOC_OK,
		    "active and read-write (transaction %" PRIu64 "); when full, writes %s",
		    c->st.transaction_id,
		    c->st.error_if_no_space
			? "fail at once (error_if_no_space; lvchange --errorwhenfull n "
			  "to queue)"
			: "queue for up to dm-thin-pool's no_space_timeout (60 s by "
			  "default), then fail (lvchange --errorwhenfull y to fail at once)");
}

static void check_usage(struct pool_ctx *c, bool meta)
{
	const struct tf_doc_pool *p = c->p;
	uint64_t used = meta ? c->st.meta_used : c->st.data_used;
	uint64_t total = meta ? c->st.meta_total : c->st.data_total;
	uint64_t unit = meta ? 4096 : (total ? p->size / total : 0);
	double pct = total ? 100.0 * (double)used / (double)total : 0;
	const char *what = meta ? "metadata" : "data";
	enum tf_doc_sev sev = pct >= c->d->crit	  ? TF_DOC_CRITICAL
			      : pct >= c->d->warn ? TF_DOC_WARNING
						  : TF_DOC_OK;
	char a[32], b[32], grow[32], vgf[32];
	struct tf_doc_finding *f;

	f = tf_doc_add(c->d, c->scope, meta ? "metadata-usage" : "data-usage", sev,
		       "%s %.1f%% used (%s of %s; warning at %u%%, critical at %u%%)", what, pct,
		       human(used * unit, a, sizeof(a)), human(total * unit, b, sizeof(b)),
		       c->d->warn, c->d->crit);
	if (!f)
		return;
	f->has_value = true;
	f->value = pct;
	if (sev == TF_DOC_OK)
		return;
	grow_by(used * unit, total * unit, c->d->warn > 10 ? c->d->warn - 10 : 1, grow,
		sizeof(grow));
	human(p->vg_free, vgf, sizeof(vgf));
	if (meta)
		tf_doc_fix(f, "lvextend --poolmetadatasize %s %s (the VG has %s free)", grow,
			   c->scope, vgf);
	else
		tf_doc_fix(f,
			   "lvextend -L %s %s (the VG has %s free; else vgextend %s /dev/NEWDISK "
			   "first), or free chunks: fstrim the volumes' filesystems, lvremove "
			   "snapshots no longer needed",
			   grow, c->scope, vgf, p->vg);
}

static void check_spare(struct pool_ctx *c)
{
	const struct tf_doc_pool *p = c->p;
	char a[32], b[32], vgf[32];
	uint64_t need = p->metadata_size + 2 * 4 * MiB;
	struct tf_doc_finding *f;

	human(p->vg_free, vgf, sizeof(vgf));
	if (p->has_spare && p->spare_size >= p->metadata_size) {
		tf_doc_add(c->d, c->scope, "spare-metadata", TF_DOC_OK,
			   "the VG's spare metadata LV (%s) can replace the pool's metadata (%s) "
			   "in a repair",
			   human(p->spare_size, a, sizeof(a)),
			   human(p->metadata_size, b, sizeof(b)));
		return;
	}
	if (p->has_spare)
		f = tf_doc_add(c->d, c->scope, "spare-metadata", TF_DOC_WARNING,
			       "the VG's spare metadata LV (%s) is smaller than the pool's "
			       "metadata (%s): lvconvert --repair cannot use it",
			       human(p->spare_size, a, sizeof(a)),
			       human(p->metadata_size, b, sizeof(b)));
	else
		f = tf_doc_add(c->d, c->scope, "spare-metadata", TF_DOC_WARNING,
			       "volume group %s has no spare metadata LV (pmspare): lvconvert "
			       "--repair %s has nowhere to write repaired metadata",
			       p->vg, c->scope);
	tf_doc_fix(f,
		   "lvextend --poolmetadatasize +4M %s (growing the metadata makes LVM create or "
		   "grow the spare to match; needs about %s free in the VG, which has %s)",
		   c->scope, human(need, a, sizeof(a)), vgf);
}

/* discard_max_bytes of a dm device's queue, or -1 if unknown. */
static long long discard_max(const char *dm_name)
{
	uint32_t major, minor;
	bool exists;
	char path[128];
	long long v = -1;
	FILE *f;

	if (tf_dm_info(dm_name, &exists, &major, &minor) < 0 || !exists)
		return -1;
	snprintf(path, sizeof(path),
		 "/sys/dev/block/%" PRIu32 ":%" PRIu32 "/queue/discard_max_bytes", major, minor);
	if ((f = fopen(path, "r"))) {
		if (fscanf(f, "%lld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static void check_discards(struct pool_ctx *c)
{
	const struct tf_doc_pool *p = c->p;
	const char *mode = p->discards[0] ? p->discards : c->st.discards;
	const char *kernel = c->have_status ? c->st.discards : "";
	char data_dm[300], dev[400];
	long long max = -1;

	if (tf_dm_lvm_name(p->vg, p->data_lv, "", data_dm, sizeof(data_dm)) == 0)
		max = discard_max(data_dm);
	snprintf(dev, sizeof(dev), "%s",
		 max < 0    ? "whether the data device supports discard is unknown (not active)"
		 : max == 0 ? "the data device does not support discard (discard_max_bytes 0)"
			    : "the data device supports discard");
	if (strcmp(mode, "ignore") == 0)
		tf_doc_fix(tf_doc_add(c->d, c->scope, "discards", TF_DOC_WARNING,
				      "discards=ignore: TRIM from the volumes' filesystems is "
				      "dropped, so space freed inside them never returns to the "
				      "pool; %s",
				      dev),
			   "vgchange -an %s; lvchange --discards passdown %s; vgchange -ay %s "
			   "(ignore can only be changed while the pool is inactive)",
			   p->vg, c->scope, p->vg);
	else if (strcmp(mode, "passdown") == 0 && strcmp(kernel, "nopassdown") == 0)
		tf_doc_add(c->d, c->scope, "discards", TF_DOC_OK,
			   "discards=passdown, but the kernel does not pass them down (%s): freed "
			   "chunks return to the pool, the disk is not trimmed",
			   dev);
	else if (strcmp(mode, "nopassdown") == 0)
		tf_doc_add(c->d, c->scope, "discards", TF_DOC_OK,
			   "discards=nopassdown: freed chunks return to the pool but the disk is "
			   "not trimmed; %s%s",
			   dev, max > 0 ? " (lvchange --discards passdown to trim it)" : "");
	else
		tf_doc_add(c->d, c->scope, "discards", TF_DOC_OK,
			   "discards=%s: freed chunks return to the pool; %s", mode[0] ? mode : "?",
			   dev);
}

/* A thinfs mount or command holds the snapshot only while it walks the
 * metadata: give such a holder up to 2 s to release it before reporting. */
static void wait_for_release(struct pool_ctx *c)
{
	struct tf_dm_pool_status st;

	for (int i = 0; i < 8 && c->st.held; i++) {
		nanosleep(&(struct timespec){.tv_nsec = 250 * 1000 * 1000}, NULL);
		if (tf_dm_pool_status(c->dm, &st) < 0)
			return;
		c->st.held = st.held;
		c->st.held_root = st.held_root;
	}
}

static void check_held(struct pool_ctx *c)
{
	wait_for_release(c);
	if (!c->st.held) {
		tf_doc_add(c->d, c->scope, "metadata-snapshot", TF_DOC_OK,
			   "no metadata snapshot is held");
		return;
	}
	tf_doc_fix(tf_doc_add(c->d, c->scope, "metadata-snapshot", TF_DOC_WARNING,
			      "a metadata snapshot is held (root block %" PRIu64
			      ", still after 2 s) by another program (thin_dump/thin_delta, a "
			      "backup tool, or one "
			      "that died): thinfs will not read this pool while it is held, and "
			      "never releases what it did not reserve",
			      c->st.held_root),
		   "when no program uses it any more: dmsetup message %s 0 release_metadata_snap",
		   c->dm);
}

static void check_index(struct pool_ctx *c)
{
	char identity[200], path[4096], head[16], ago[64];
	struct tf_index *ix = NULL;
	struct tf_ix_pool ip;
	struct tf_doc_finding *f;
	FILE *fh;
	int rc;

	snprintf(identity, sizeof(identity), "lvm:%s/%s", c->p->vg_uuid, c->p->uuid);
	/* The file the pool's own commands use: named after the identity and
	 * the source key, whose metadata device numbers come from dm. */
	char tmeta[300], meta_dm[300], key[512];
	uint32_t maj = 0, min = 0;
	bool exists = false;
	snprintf(tmeta, sizeof(tmeta), "%s_tmeta", c->p->name);
	if (tf_dm_lvm_name(c->p->vg, tmeta, "", meta_dm, sizeof(meta_dm)) == 0)
		tf_dm_info(meta_dm, &exists, &maj, &min);
	tf_pool_live_source_key(key, sizeof(key), c->p->vg_uuid, c->p->uuid, maj, min);
	if (c->d->index_path)
		snprintf(path, sizeof(path), "%s", c->d->index_path);
	else if (tf_index_path_for(identity, key, path, sizeof(path)) < 0) {
		tf_doc_fix(tf_doc_add(c->d, c->scope, "index", TF_DOC_UNKNOWN,
				      "no default place for the index: %s", tf_errmsg()),
			   "pass --index PATH");
		return;
	}
	if (access(path, F_OK) < 0) {
		tf_doc_add(c->d, c->scope, "index", TF_DOC_OK,
			   "no index yet at %s: the first thinfs command on the pool builds it "
			   "(thinfs index %s builds it now)",
			   path, c->scope);
		return;
	}
	fh = fopen(path, "rb");
	if (!fh || fread(head, 1, 16, fh) != 16 || memcmp(head, "SQLite format 3", 16) != 0) {
		f = tf_doc_add(c->d, c->scope, "index", TF_DOC_WARNING, "index %s: %s", path,
			       !fh ? strerror(errno) : "not an SQLite database (damaged)");
		tf_doc_fix(f,
			   "thinfs index --rebuild %s (the index is a cache: deleting it loses "
			   "nothing)",
			   c->scope);
		if (fh)
			fclose(fh);
		return;
	}
	fclose(fh);
	if ((rc = tf_index_open(path, &ix)) == 0)
		rc = tf_index_pool(ix, &ip);
	if (rc < 0) {
		tf_doc_fix(tf_doc_add(c->d, c->scope, "index", TF_DOC_WARNING, "index %s: %s", path,
				      tf_errmsg()),
			   "thinfs index --rebuild %s", c->scope);
	} else if (strcmp(ip.identity, identity) != 0) {
		tf_doc_fix(tf_doc_add(c->d, c->scope, "index", TF_DOC_WARNING,
				      "index %s belongs to another pool (%s)", path, ip.identity),
			   "thinfs index --rebuild %s%s%s", c->scope,
			   c->d->index_path ? " --index " : "",
			   c->d->index_path ? c->d->index_path : "");
	} else {
		snprintf(ago, sizeof(ago), "refreshed %lld s ago",
			 (long long)(time(NULL) - ip.checked_at));
		if (!c->have_status || ip.transaction_id == c->st.transaction_id)
			tf_doc_add(c->d, c->scope, "index", TF_DOC_OK,
				   "index %s is readable and %s (transaction %" PRIu64 ", %s)",
				   path, c->have_status ? "current" : "of unknown age",
				   ip.transaction_id, ago);
		else
			tf_doc_add(c->d, c->scope, "index", TF_DOC_OK,
				   "index %s is readable; it is at transaction %" PRIu64
				   ", the pool at %" PRIu64 " (%s): the next thinfs command on the "
				   "pool, or a mount within its refresh= interval, brings it up to "
				   "date (thinfs index %s does it now)",
				   path, ip.transaction_id, c->st.transaction_id, ago, c->scope);
	}
	tf_index_close(ix);
}

void tf_doc_check_pool(struct tf_doc *d, const struct tf_doc_pool *p)
{
	struct pool_ctx c = {.d = d, .p = p};

	snprintf(c.scope, sizeof(c.scope), "%s/%s", p->vg, p->name);
	check_mode(&c);
	if (c.have_status) {
		check_usage(&c, false);
		check_usage(&c, true);
		check_held(&c);
	}
	check_spare(&c);
	check_discards(&c);
	check_index(&c);
}
