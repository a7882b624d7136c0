/* cmd_replicate.c — `thinfs replicate`: one replication cycle of a thin LV
 * (snapshot, send the increment from the newest snapshot both ends hold,
 * prune both ends, record state), or every due job of a config file; with
 * a status line, --json, a Prometheus textfile and pool usage alerts.
 * The target kinds are in rep_target.c / rep_target_ssh.c. */
#include "cli.h"
#include "rep_stale.h"
#include "rep_target.h"
#include "replicate.h"
#include "replicate_config.h"
#include "replicate_state.h"

#include "core/base/err.h"
#include "core/base/run.h"
#include "core/base/strbuf.h"
#include "core/stream/stream.h"
#include "index/delta.h"
#include "index/index.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

struct rep_opts {
	const char *config, *metrics;
	double warn, crit;
	bool force, json, bad;
	struct rep_job cli; /* the job given on the command line */
	bool keep_set;
};

/* The outcome of one job in this run. */
struct rep_result {
	const struct rep_job *job;
	bool ran, ok, skipped;
	char snapshot[160], base[160], mode[16], error[1024];
	uint64_t bytes_sent, changed;
	double duration;
	size_t kept_src, kept_tgt;
	char src_pool[300];
	bool have_src_usage, have_tgt_usage;
	double src_data, src_meta, tgt_data, tgt_meta;
	bool verified;
};

static double now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t snap_time(const char *name)
{
	size_t n = strlen(name);
	struct tm tm = {0};

	if (n < 16 || !strptime(name + n - 16, "%Y%m%dT%H%M%SZ", &tm))
		return -1;
	return (int64_t)timegm(&tm);
}

static void snap_name(const char *lv, const char *prefix, int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char ts[32];

	gmtime_r(&tt, &tm);
	strftime(ts, sizeof(ts), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(buf, len, "%s%s%s", lv, prefix, ts);
}

static const struct rep_snap *find_snap(const struct rep_snaps *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i].name, name) == 0)
			return &s->v[i];
	return NULL;
}

static int lvm2(const char *a0, const char *a1, const char *a2, const char *a3, const char *a4,
		const char *a5, const char *a6)
{
	const char *argv[] = {a0, a1, a2, a3, a4, a5, a6, NULL};
	return tf_run_ok(argv, NULL, NULL);
}

/* Sends snapshot `name` (from `base`, or full) into the target. */
static int send_one(struct tf_index *ix, struct tf_pool *pool, const struct tf_ix_dev *devs,
		    size_t n, const char *src_pool, const char *name, const char *base,
		    struct rep_target *t, struct rep_result *res)
{
	const struct tf_ix_dev *d, *b = NULL;
	const size_t bufsize = 1 << 20;
	struct tf_delta *delta = NULL;
	uint64_t off = 0, size;
	char *buf = NULL;
	int rc;

	if ((rc = tf_cli_find_dev(devs, n, name, src_pool, &d)) < 0 ||
	    (base && (rc = tf_cli_find_dev(devs, n, base, src_pool, &b)) < 0))
		return rc;
	rc = tf_delta_open(ix, pool, d->thin_id, b ? b->thin_id : TF_STREAM_NO_BASE, &delta);
	if (rc < 0)
		return rc;
	size = tf_delta_size(delta);
	res->changed = tf_delta_changed_bytes(delta);
	buf = malloc(bufsize);
	if (!buf) {
		tf_delta_close(delta);
		return tf_fail(ENOMEM, "out of memory");
	}
	if ((rc = t->ops->recv_begin(t, base, name)) < 0)
		goto out;
	while (off < size) {
		ssize_t got = tf_delta_read(delta, buf, bufsize, off);
		if (got <= 0) {
			rc = got < 0 ? (int)got : tf_fail(EIO, "%s: the stream ended early", name);
			break;
		}
		if ((rc = t->ops->recv_write(t, buf, (size_t)got)) < 0)
			break;
		off += (uint64_t)got;
		res->bytes_sent = off;
	}
	if (rc < 0) {
		char msg[1024];
		snprintf(msg, sizeof(msg), "%s", tf_errmsg());
		t->ops->recv_end(t, false);
		rc = tf_fail(-rc, "%s", msg);
	} else {
		rc = t->ops->recv_end(t, true);
	}
out:
	free(buf);
	tf_delta_close(delta);
	return rc;
}

/* Removes the oldest snapshots beyond `keep`, never `common`. */
static size_t prune(struct rep_snaps *s, unsigned keep, const char *common,
		    int (*rm)(void *ctx, const char *name), void *ctx, const char *where)
{
	size_t kept = 0;

	for (size_t i = s->n; i-- > 0;) {
		bool keep_it = kept < keep || (common && strcmp(s->v[i].name, common) == 0);
		if (keep_it) {
			kept++;
			continue;
		}
		if (rm(ctx, s->v[i].name) < 0) {
			fprintf(stderr, "thinfs replicate: warning: cannot prune %s at %s: %s\n",
				s->v[i].name, where, tf_errmsg());
			kept++;
		} else {
			s->v[i].name[0] = '\0'; /* gone */
		}
	}
	return kept;
}

struct src_ctx {
	char vg[128];
};

static int rm_source(void *ctx, const char *name)
{
	char full[300];

	snprintf(full, sizeof(full), "%s/%s", ((struct src_ctx *)ctx)->vg, name);
	return lvm2("lvremove", "-qy", full, NULL, NULL, NULL, NULL);
}

static int rm_target(void *ctx, const char *name)
{
	struct rep_target *t = ctx;
	return t->ops->prune(t, name);
}

static void alert(const char *pool, const char *what, double pct, const struct rep_opts *o)
{
	int level;

	if (isnan(pct) || pct < o->warn)
		return;
	level = pct >= o->crit ? LOG_CRIT : LOG_WARNING;
	fprintf(stderr, "thinfs replicate: %s: pool %s %s usage %.1f%% >= %.0f%%\n",
		level == LOG_CRIT ? "CRITICAL" : "warning", pool, what, pct,
		level == LOG_CRIT ? o->crit : o->warn);
	openlog("thinfs-replicate", LOG_PID, LOG_DAEMON);
	syslog(level, "pool %s %s usage %.1f%% >= %.0f%%", pool, what, pct,
	       level == LOG_CRIT ? o->crit : o->warn);
	closelog();
}

/* The cycle proper, with the lock held and state loaded. */
static int cycle(const struct rep_job *j, const struct rep_opts *o, struct rep_state *st,
		 struct rep_result *res)
{
	struct tf_cli_common c = {0};
	struct rep_snaps src = {0}, tgt = {0};
	struct rep_target *t = NULL;
	struct src_ctx sc;
	struct tf_ix_dev *devs = NULL;
	struct tf_pool *pool = NULL;
	struct tf_index *ix = NULL;
	const char *slash = strchr(j->source, '/'), *lv, *common = NULL;
	char name[160], full[300], pool_name[256];
	size_t n = 0;
	int64_t when = time(NULL);
	bool have_tgt = false;
	int rc, hook_rc;

	if (!slash || slash == j->source || !slash[1] || strchr(slash + 1, '/'))
		return tf_fail(EINVAL, "%s: the source must be VG/LV", j->source);
	lv = slash + 1;
	/* LV<prefix><16-char time>_incoming_thinfs_recv must fit LVM's 127. */
	if (strlen(lv) + strlen(j->prefix) > 80)
		return tf_fail(ENAMETOOLONG,
			       "%s: the LV name and prefix '%s' are too long for snapshot names "
			       "(at most 80 characters together)",
			       j->source, j->prefix);
	snprintf(sc.vg, sizeof(sc.vg), "%.*s", (int)(slash - j->source), j->source);
	if ((rc = rep_lv_pool(j->source, res->src_pool, sizeof(res->src_pool))) < 0)
		return rc;
	rep_remove_stale_private_targets();
	snprintf(pool_name, sizeof(pool_name), "%s", strchr(res->src_pool, '/') + 1);
	if (strcmp(res->src_pool, j->target) == 0)
		return tf_fail(EINVAL, "%s: the target is the source's own pool", j->target);
	if ((rc = rep_target_open(j->target, &t)) < 0)
		return rc;
	if ((rc = rep_lvm_snaps(sc.vg, pool_name, lv, j->prefix, &src)) < 0)
		goto out;

	/* The snapshot: named by UTC time, always after the newest one. */
	if (src.n && snap_time(src.v[src.n - 1].name) >= when)
		when = snap_time(src.v[src.n - 1].name) + 1;
	snap_name(lv, j->prefix, when, name, sizeof(name));
	if (j->pre[0] && (rc = tf_run_shell(j->pre, "--pre")) < 0) {
		if (j->post[0])
			tf_run_shell(j->post, "--post");
		goto out;
	}
	rc = lvm2("lvcreate", "-qy", "-s", "-n", name, j->source, NULL);
	hook_rc = j->post[0] ? tf_run_shell(j->post, "--post") : 0;
	if (rc < 0)
		goto out;
	if ((rc = rep_snaps_add(&src, name, "-")) < 0)
		goto out;
	snprintf(res->snapshot, sizeof(res->snapshot), "%s", name);
	if (hook_rc < 0) {
		rc = hook_rc;
		goto prune_out;
	}

	/* The newest snapshot both ends hold, unchanged at the target. */
	if ((rc = t->ops->list(t, lv, j->prefix, &tgt)) < 0)
		goto prune_out;
	have_tgt = true;
	for (size_t i = src.n - 1; i-- > 0 && !common;) {
		const struct rep_snap *ts = find_snap(&tgt, src.v[i].name);
		const char *rec = ts ? rep_state_tkey(st, ts->name) : NULL;
		if (!ts)
			continue;
		if (rec && strcmp(rec, ts->key) != 0) {
			if (!o->force) {
				rc = tf_fail(EUCLEAN,
					     "%s at %s was changed behind replicate's back (%s, "
					     "recorded %s); refusing (--force replicates from an "
					     "older common snapshot or in full)",
					     ts->name, j->target, ts->key, rec);
				goto prune_out;
			}
			fprintf(stderr,
				"thinfs replicate: %s at %s was changed; not using it as "
				"a base (--force)\n",
				ts->name, j->target);
			continue;
		}
		common = src.v[i].name;
	}
	snprintf(res->base, sizeof(res->base), "%s", common ? common : "");
	snprintf(res->mode, sizeof(res->mode), "%s", common ? "incremental" : "full");
	if (!common)
		fprintf(stderr,
			"thinfs replicate: no snapshot of %s is common to both ends: sending %s "
			"in full to %s\n",
			j->source, name, j->target);

	if ((rc = tf_cli_open(res->src_pool, &c, &pool, &ix, NULL)) < 0 ||
	    (rc = tf_index_devices(ix, &devs, &n)) < 0)
		goto prune_out;
	rc = send_one(ix, pool, devs, n, res->src_pool, name, common, t, res);
	if (rc == 0) {
		struct rep_snaps after = {0};
		common = name;
		/* One listing for the new snapshot's key and for pruning. */
		have_tgt = t->ops->list(t, lv, j->prefix, &after) == 0;
		rep_snaps_free(&tgt);
		tgt = after;
		if (have_tgt && find_snap(&tgt, name))
			rep_snaps_add(&st->tkeys, name, find_snap(&tgt, name)->key);
	}
	/* Done with the source pool: its private read-only targets must be
	 * gone before verify opens the pool again (one thin device, one target). */
	tf_index_devices_free(devs, n);
	tf_cli_close(pool, ix);
	devs = NULL;
	n = 0;
	pool = NULL;
	ix = NULL;
	if (rc == 0 && j->verify) {
		struct rep_verify_result vr;
		char line[1024];
		snprintf(full, sizeof(full), "%s/%s", sc.vg, name);
		rc = rep_verify(full, t, name, &vr);
		if (rc == 0 && !vr.equal) {
			rep_verify_describe(&vr, full, j->target, line, sizeof(line));
			rc = tf_fail(EIO, "verify: %s", line);
		}
		res->verified = rc == 0;
	}

prune_out:
	if (rc < 0) { /* keep the message through the pruning */
		snprintf(res->error, sizeof(res->error), "%s", tf_errmsg());
	}
	if (!common && st->common[0] && find_snap(&src, st->common))
		common = st->common; /* failed before finding it: keep the recorded one */
	res->kept_src = prune(&src, j->keep, common, rm_source, &sc, j->source);
	if (have_tgt)
		res->kept_tgt = prune(&tgt, j->keep, common, rm_target, t, j->target);
	if (have_tgt) { /* forget keys of target snapshots that are gone */
		struct rep_snaps keep = {0};
		for (size_t i = 0; i < st->tkeys.n; i++)
			if (find_snap(&tgt, st->tkeys.v[i].name))
				rep_snaps_add(&keep, st->tkeys.v[i].name, st->tkeys.v[i].key);
		rep_snaps_free(&st->tkeys);
		st->tkeys = keep;
	}
	if (common)
		snprintf(st->common, sizeof(st->common), "%s", common);
	if (rc < 0)
		rc = tf_fail(-rc, "%s", res->error);
out:
	tf_index_devices_free(devs, n);
	tf_cli_close(pool, ix);
	if (t) {
		double d, m;
		if (t->ops->usage(t, &d, &m) == 0) {
			res->have_tgt_usage = true;
			res->tgt_data = d;
			res->tgt_meta = m;
		}
		t->ops->free(t);
	}
	rep_snaps_free(&src);
	rep_snaps_free(&tgt);
	return rc;
}

static void run_job(const struct rep_job *j, const struct rep_opts *o, struct rep_result *res)
{
	struct rep_state st;
	double t0 = now_mono();
	int lock = -1, rc;

	res->job = j;
	res->ran = true;
	if ((rc = rep_state_lock(j, &lock)) < 0) {
		res->skipped = rc == -EWOULDBLOCK;
		snprintf(res->error, sizeof(res->error), "%s", tf_errmsg());
		return;
	}
	if ((rc = rep_state_load(j, &st)) == 0) {
		st.last_attempt = time(NULL);
		rc = cycle(j, o, &st, res);
		res->duration = now_mono() - t0;
		res->ok = rc == 0;
		if (rc < 0)
			snprintf(res->error, sizeof(res->error), "%s", tf_errmsg());
		st.ok = res->ok;
		if (res->ok)
			st.last_success = time(NULL);
		snprintf(st.snapshot, sizeof(st.snapshot), "%s", res->snapshot);
		snprintf(st.base, sizeof(st.base), "%s", res->base);
		snprintf(st.mode, sizeof(st.mode), "%s", res->mode);
		snprintf(st.error, sizeof(st.error), "%s", res->ok ? "" : res->error);
		st.bytes_sent = res->bytes_sent;
		st.changed_bytes = res->changed;
		st.duration = res->duration;
		st.lag = st.common[0] && snap_time(st.common) >= 0
			     ? (double)(time(NULL) - snap_time(st.common))
			     : -1;
		if (rep_state_save(&st) < 0 && res->ok) {
			res->ok = false;
			snprintf(res->error, sizeof(res->error), "%s", tf_errmsg());
		}
		rep_state_free(&st);
	} else {
		snprintf(res->error, sizeof(res->error), "%s", tf_errmsg());
	}
	close(lock);
}

/* Source pool usage (and alerts) for a job, run or not. */
static void usage_of(const struct rep_job *j, const struct rep_opts *o, struct rep_result *res)
{
	double d, m;

	if (!res->src_pool[0] && rep_lv_pool(j->source, res->src_pool, sizeof(res->src_pool)) < 0)
		res->src_pool[0] = '\0';
	if (res->src_pool[0] && rep_pool_usage(res->src_pool, &d, &m) == 0) {
		res->have_src_usage = true;
		res->src_data = d;
		res->src_meta = m;
		alert(res->src_pool, "data", d, o);
		alert(res->src_pool, "metadata", m, o);
	}
	if (res->have_tgt_usage) {
		alert(j->target, "data", res->tgt_data, o);
		alert(j->target, "metadata", res->tgt_meta, o);
	}
}

/* ---- output ---- */

static void status_line(const struct rep_result *r, struct tf_strbuf *sb)
{
	const struct rep_job *j = r->job;
	char h[32];

	tf_sb_printf(sb, "thinfs replicate: %s -> %s: ", j->source, j->target);
	if (r->skipped) {
		tf_sb_printf(sb, "skipped: the previous cycle is still running\n");
	} else if (!r->ok) {
		tf_sb_printf(sb, "FAILED: %s\n", r->error);
	} else {
		tf_cli_human(r->bytes_sent, h, sizeof(h));
		tf_sb_printf(
		    sb, "ok: %s (%s%s%s), %s sent in %.1f s%s; keeping %zu here, %zu there\n",
		    r->snapshot, r->mode, r->base[0] ? " from " : "", r->base, h, r->duration,
		    r->verified ? ", verified" : "", r->kept_src, r->kept_tgt);
	}
}

static void json_job(const struct rep_result *r, struct tf_strbuf *sb)
{
	tf_sb_printf(sb, "{\"job\":");
	tf_sb_json_str(sb, r->job->name);
	tf_sb_printf(sb, ",\"source\":");
	tf_sb_json_str(sb, r->job->source);
	tf_sb_printf(sb, ",\"target\":");
	tf_sb_json_str(sb, r->job->target);
	tf_sb_printf(sb, ",\"status\":\"%s\"",
		     !r->ran	  ? "not_due"
		     : r->skipped ? "skipped"
		     : r->ok	  ? "ok"
				  : "failed");
	if (r->ran && !r->skipped) {
		tf_sb_printf(sb, ",\"snapshot\":");
		tf_sb_json_str(sb, r->snapshot[0] ? r->snapshot : NULL);
		tf_sb_printf(sb, ",\"base\":");
		tf_sb_json_str(sb, r->base[0] ? r->base : NULL);
		tf_sb_printf(sb, ",\"mode\":");
		tf_sb_json_str(sb, r->mode[0] ? r->mode : NULL);
		tf_sb_printf(sb,
			     ",\"bytes_sent\":%" PRIu64 ",\"changed_bytes\":%" PRIu64
			     ",\"duration_seconds\":%.3f,\"kept_source\":%zu,\"kept_target\":%zu,"
			     "\"verified\":%s",
			     r->bytes_sent, r->changed, r->duration, r->kept_src, r->kept_tgt,
			     r->verified ? "true" : "false");
	}
	tf_sb_printf(sb, ",\"error\":");
	tf_sb_json_str(sb, r->ok || !r->ran ? NULL : r->error);
	if (r->have_src_usage)
		tf_sb_printf(sb,
			     ",\"source_pool\":{\"name\":\"%s\",\"data_percent\":%.2f,"
			     "\"metadata_percent\":%.2f}",
			     r->src_pool, r->src_data, r->src_meta);
	if (r->have_tgt_usage)
		tf_sb_printf(sb,
			     ",\"target_pool\":{\"data_percent\":%.2f,\"metadata_percent\":%.2f}",
			     r->tgt_data, r->tgt_meta);
	tf_sb_printf(sb, "}");
}

/* A Prometheus label value: backslash, quote and newline escaped. */
static void label(struct tf_strbuf *sb, const char *k, const char *v, bool first)
{
	tf_sb_printf(sb, "%s%s=\"", first ? "" : ",", k);
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			tf_sb_printf(sb, "\\%c", *v);
		else if (*v == '\n')
			tf_sb_printf(sb, "\\n");
		else
			tf_sb_printf(sb, "%c", *v);
	}
	tf_sb_printf(sb, "\"");
}

static int write_metrics(const char *path, const struct rep_result *r, size_t n)
{
	static const struct {
		const char *name, *help;
	} fam[] = {
	    {"thinfs_replicate_last_success_timestamp_seconds",
	     "Unix time of the job's last successful cycle (0: never)."},
	    {"thinfs_replicate_last_attempt_timestamp_seconds",
	     "Unix time of the job's last cycle."},
	    {"thinfs_replicate_last_ok", "1 if the job's last cycle succeeded, else 0."},
	    {"thinfs_replicate_lag_seconds",
	     "Age of the newest snapshot both ends hold (-1: none yet)."},
	    {"thinfs_replicate_bytes_sent", "Stream bytes the last cycle sent."},
	    {"thinfs_replicate_changed_bytes", "Changed bytes the last cycle carried."},
	    {"thinfs_replicate_duration_seconds", "Wall time of the last cycle."},
	};
	struct tf_strbuf sb = {0};
	struct rep_state *st = calloc(n ? n : 1, sizeof(*st));
	char tmp[4200];
	FILE *f;
	int rc = 0;

	if (!st)
		return tf_fail(ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		if ((rc = rep_state_load(r[i].job, &st[i])) < 0)
			goto out;
	for (size_t k = 0; k < sizeof(fam) / sizeof(fam[0]); k++) {
		tf_sb_printf(&sb, "# HELP %s %s\n# TYPE %s gauge\n", fam[k].name, fam[k].help,
			     fam[k].name);
		for (size_t i = 0; i < n; i++) {
			/* The lag grows between cycles: computed now, not when saved. */
			int64_t common_t = st[i].common[0] ? snap_time(st[i].common) : -1;
			double lag = common_t >= 0 ? (double)(time(NULL) - common_t) : -1;
			double v[] = {(double)st[i].last_success,
				      (double)st[i].last_attempt,
				      st[i].ok ? 1 : 0,
				      lag,
				      (double)st[i].bytes_sent,
				      (double)st[i].changed_bytes,
				      st[i].duration};
			tf_sb_printf(&sb, "%s{", fam[k].name);
			label(&sb, "job", r[i].job->name, true);
			label(&sb, "source", r[i].job->source, false);
			label(&sb, "target", r[i].job->target, false);
			tf_sb_printf(&sb, "} %.17g\n", v[k]);
		}
	}
	for (int m = 0; m < 2; m++) {
		const char *nm =
		    m ? "thinfs_pool_metadata_usage_percent" : "thinfs_pool_data_usage_percent";
		tf_sb_printf(&sb, "# HELP %s Thin pool %s usage in percent.\n# TYPE %s gauge\n", nm,
			     m ? "metadata" : "data", nm);
		for (size_t i = 0; i < n; i++) {
			bool dup = false;
			for (size_t k = 0; k < i; k++) /* one sample per pool */
				dup |= r[k].have_src_usage &&
				       strcmp(r[k].src_pool, r[i].src_pool) == 0;
			if (r[i].have_src_usage && !dup) {
				tf_sb_printf(&sb, "%s{", nm);
				label(&sb, "pool", r[i].src_pool, true);
				tf_sb_printf(&sb, "} %.2f\n", m ? r[i].src_meta : r[i].src_data);
			}
			dup = false;
			for (size_t k = 0; k < i; k++)
				dup |= r[k].have_tgt_usage &&
				       strcmp(r[k].job->target, r[i].job->target) == 0;
			for (size_t k = 0; k < n && !dup; k++)
				dup |= r[k].have_src_usage &&
				       strcmp(r[k].src_pool, r[i].job->target) == 0;
			if (r[i].have_tgt_usage && !dup) {
				tf_sb_printf(&sb, "%s{", nm);
				label(&sb, "pool", r[i].job->target, true);
				tf_sb_printf(&sb, "} %.2f\n", m ? r[i].tgt_meta : r[i].tgt_data);
			}
		}
	}
	if (sb.oom) {
		rc = tf_fail(ENOMEM, "out of memory");
		goto out;
	}
	/* node_exporter must never read half a file: temp file, then rename. */
	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid());
	f = fopen(tmp, "we");
	if (!f) {
		rc = tf_fail(errno, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	fwrite(sb.s ? sb.s : "", 1, sb.len, f);
	if (fflush(f) != 0 || fsync(fileno(f)) < 0 || ferror(f))
		rc = tf_fail(errno ? errno : EIO, "%s: %s", tmp, strerror(errno));
	fclose(f);
	if (rc == 0 && rename(tmp, path) < 0)
		rc = tf_fail(errno, "%s: %s", path, strerror(errno));
	if (rc < 0)
		unlink(tmp);
out:
	for (size_t i = 0; i < n; i++)
		rep_state_free(&st[i]);
	free(st);
	tf_sb_free(&sb);
	return rc;
}

/* ---- the command ---- */

static int rep_extra(void *ctx, const char *name, const char *value)
{
	struct rep_opts *o = ctx;
	unsigned long v;
	char *end;

	if (strcmp(name, "keep") == 0) {
		errno = 0;
		v = strtoul(value, &end, 10);
		if (errno || *end || end == value || v < 1 || v > 100000)
			o->bad = true;
		o->cli.keep = (unsigned)v;
		o->keep_set = true;
	} else if (strcmp(name, "prefix") == 0) {
		if (!rep_valid_prefix(value))
			o->bad = true;
		snprintf(o->cli.prefix, sizeof(o->cli.prefix), "%s", value);
	} else if (strcmp(name, "pre") == 0) {
		snprintf(o->cli.pre, sizeof(o->cli.pre), "%s", value);
	} else if (strcmp(name, "post") == 0) {
		snprintf(o->cli.post, sizeof(o->cli.post), "%s", value);
	} else if (strcmp(name, "config") == 0) {
		o->config = value;
	} else if (strcmp(name, "metrics") == 0) {
		o->metrics = value;
	} else if (strcmp(name, "verify") == 0) {
		o->cli.verify = true;
	} else if (strcmp(name, "force") == 0) {
		o->force = true;
	} else if (strcmp(name, "warn") == 0 || strcmp(name, "crit") == 0) {
		double d = strtod(value, &end);
		if (*end || end == value || !(d >= 0 && d <= 100))
			o->bad = true;
		*(name[0] == 'w' ? &o->warn : &o->crit) = d;
	}
	return -1;
}

static int replicate_run(const struct tf_cmd *cmd, int argc, char **argv)
{
	static const char *const extra[] = {"keep=",   "prefix=",  "pre=",   "post=",
					    "config=", "metrics=", "verify", "force",
					    "warn=",   "crit=",	   NULL};
	struct tf_cli_common c = {0};
	struct rep_opts o = {.warn = 80, .crit = 95};
	struct rep_config cfg = {0};
	struct rep_result *res = NULL;
	struct tf_strbuf sb = {0};
	const char *pos[2];
	size_t npos, nfail = 0, nskip = 0, nrun = 0;
	int rc;

	if (argc >= 2 && strcmp(argv[1], "--target-side") == 0)
		return rep_target_side(argc - 2, argv + 2);
	o.cli.keep = REP_DEFAULT_KEEP;
	snprintf(o.cli.prefix, sizeof(o.cli.prefix), "%s", REP_DEFAULT_PREFIX);
	snprintf(o.cli.name, sizeof(o.cli.name), "cli");
	rc = tf_cli_parse(cmd, argc, argv, &c, extra, rep_extra, &o, pos, 0, 2, &npos);
	if (rc >= 0)
		return rc;
	o.json = c.json;
	if (o.bad)
		return tf_cli_usage(cmd, "--keep takes 1..100000, --prefix 1-32 of A-Z a-z 0-9 + _ "
					 ". -, --warn/--crit a percent");
	if (o.warn > o.crit)
		return tf_cli_usage(cmd, "--warn %.0f is above --crit %.0f", o.warn, o.crit);
	if (o.config && npos != 0)
		return tf_cli_usage(cmd, "--config runs the jobs of FILE; no VG/LV TARGET with it");
	if (!o.config && npos != 2)
		return tf_cli_usage(cmd, "needs VG/LV TARGET (or --config FILE)");
	if (o.config) {
		if (rep_config_load(o.config, &cfg) < 0)
			return tf_cli_fail(cmd);
	} else {
		snprintf(o.cli.source, sizeof(o.cli.source), "%s", pos[0]);
		snprintf(o.cli.target, sizeof(o.cli.target), "%s", pos[1]);
		cfg.jobs = malloc(sizeof(*cfg.jobs));
		if (!cfg.jobs)
			return tf_cli_fail(cmd);
		cfg.jobs[0] = o.cli;
		cfg.n = 1;
	}
	res = calloc(cfg.n, sizeof(*res));
	if (!res) {
		rep_config_free(&cfg);
		return tf_cli_fail(cmd);
	}
	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < cfg.n; i++) {
		struct rep_job *j = &cfg.jobs[i];
		struct rep_state st;
		res[i].job = j;
		if (o.config && j->every > 0 && rep_state_load(j, &st) == 0) {
			bool due = time(NULL) - st.last_attempt >= j->every;
			rep_state_free(&st);
			if (!due)
				goto usage;
		}
		if (o.cli.verify)
			j->verify = true;
		run_job(j, &o, &res[i]);
		nrun++;
		nfail += !res[i].ok && !res[i].skipped;
		nskip += res[i].skipped;
		if (!o.json) {
			status_line(&res[i], &sb);
			fputs(sb.s ? sb.s : "", stdout);
			fflush(stdout);
			tf_sb_free(&sb);
			memset(&sb, 0, sizeof(sb));
		}
	usage:
		usage_of(j, &o, &res[i]);
	}
	if (o.metrics && write_metrics(o.metrics, res, cfg.n) < 0) {
		fprintf(stderr, "thinfs replicate: metrics: %s\n", tf_errmsg());
		nfail++;
	}
	if (o.json) {
		tf_sb_printf(&sb, "{\"ok\":%s,\"jobs\":[", nfail ? "false" : "true");
		for (size_t i = 0; i < cfg.n; i++) {
			if (i)
				tf_sb_printf(&sb, ",");
			json_job(&res[i], &sb);
		}
		tf_sb_printf(&sb, "]}\n");
		fputs(sb.s ? sb.s : "", stdout);
		tf_sb_free(&sb);
	} else if (o.config) {
		printf(
		    "thinfs replicate: %zu jobs: %zu ran, %zu failed, %zu skipped, %zu not due\n",
		    cfg.n, nrun - nskip, nfail, nskip, cfg.n - nrun);
	}
	/* A single cycle that could not run (still running) did not happen. */
	rc = nfail || (!o.config && nskip) ? TF_EXIT_ERROR : TF_EXIT_OK;
	free(res);
	rep_config_free(&cfg);
	return rc;
}

const struct tf_cmd tf_cmd_replicate = {
    .name = "replicate",
    .summary = "one replication cycle: snapshot, send the increment, prune",
    .usage =
	"Usage: thinfs replicate VG/LV TARGET [--keep N] [--prefix P] [--pre CMD] [--post CMD]\n"
	"                        [--verify] [--force] [--json] [--metrics FILE]\n"
	"                        [--warn PCT] [--crit PCT]\n"
	"       thinfs replicate --config FILE [--json] [--metrics FILE] ...\n"
	"\n"
	"One cycle: takes the thin snapshot VG/LV<P><UTC time>, sends it to TARGET as\n"
	"an increment from the newest snapshot both ends hold (all or nothing; a full\n"
	"stream, said so on stderr, only when none is common), keeps the newest N\n"
	"snapshots of this prefix at each end (never the newest common one), and\n"
	"records the state for the next cycle.  TARGET is a live pool VG/POOL (thin\n"
	"LVs), a directory (sparse files DIR/<snapshot>), or ssh:[USER@]HOST:VG/POOL|DIR\n"
	"(runs thinfs there over your ssh; no daemon).  Ends with one status line;\n"
	"exit 0 ok, 1 failed, 2 usage.  See docs/replicate.md.\n"
	"\n"
	"  --keep N        snapshots kept at each end (default 3)\n"
	"  --prefix P      snapshot name prefix after the LV name (default _rep_)\n"
	"  --pre/--post    shell commands run just before and after the snapshot\n"
	"                  (e.g. fsfreeze -f / -u); --post runs even if it failed\n"
	"  --verify        thinfs verify the new snapshot at both ends after sending\n"
	"  --force         a target snapshot changed behind replicate's back is not\n"
	"                  refused: an older common one (or a full stream) is used\n"
	"  --config FILE   run every due job of FILE (one [JOB] section each)\n"
	"  --json          the status as JSON\n"
	"  --metrics FILE  write a Prometheus textfile (node_exporter textfile collector)\n"
	"  --warn/--crit   pool data or metadata usage that warns on stderr and syslog\n"
	"                  (defaults 80 and 95)\n",
    .run = replicate_run,
};
