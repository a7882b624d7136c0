/* mount.c — the life of a mount: open the pool and its index, mount, detach,
 * serve with a multithreaded loop, keep the index fresh on a live pool, and
 * release everything at unmount.
 *
 * Every error that prevents the mount is reported before the process
 * detaches, so `thinfs mount` exits 1 with the cause on stderr.
 */
#include "files.h"
#include "fs.h"

#include "core/base/err.h"
#include "core/base/path.h"
#include "core/pool/pool.h"
#include "index/index.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int tf_fs_ix_take(struct tf_fs *fs, struct tf_index **out)
{
	*out = NULL;
	pthread_mutex_lock(&fs->spare_lock);
	if (fs->nspare)
		*out = fs->spare[--fs->nspare];
	pthread_mutex_unlock(&fs->spare_lock);
	return *out ? 0 : tf_index_open(fs->index_path, out);
}

void tf_fs_ix_give(struct tf_fs *fs, struct tf_index *ix)
{
	pthread_mutex_lock(&fs->spare_lock);
	if (fs->nspare < sizeof(fs->spare) / sizeof(fs->spare[0])) {
		fs->spare[fs->nspare++] = ix;
		ix = NULL;
	}
	pthread_mutex_unlock(&fs->spare_lock);
	tf_index_close(ix);
}

/* One tick.  The transaction id (pool status: no metadata snapshot) moves
 * with every thin device created or deleted; only then is the metadata
 * snapshot reserved and the index refreshed, reading each device root and
 * the nodes that changed.  Names do not move it (lvrename, lvextend), so
 * every tenth tick refreshes what LVM knows, again without the snapshot.
 * A refresh runs on a connection of its own, so volume opens and status
 * reads go on, and the new volume table is swapped in when it is done. */
static int refresh_once(struct tf_fs *fs, bool names)
{
	struct tf_index_stats st;
	struct tf_voltab *t = tf_voltab_get(fs);
	struct tf_index *ix;
	uint64_t have = t ? t->tid : 0, tid;
	bool changed = false;
	int rc;

	tf_voltab_put(t);
	if ((rc = tf_pool_transaction_id(fs->pool, &tid)) < 0)
		return rc;
	if (tid == have && !names)
		return 0;
	if ((rc = tf_fs_ix_take(fs, &ix)) < 0)
		return rc;
	if (tid != have)
		rc = tf_index_refresh(ix, fs->pool, false, &st);
	else
		rc = tf_index_refresh_names(ix, fs->pool, &changed);
	tf_fs_ix_give(fs, ix);
	if (rc == 0 && (tid != have || changed))
		rc = tf_fs_reload(fs);
	if (rc == 0)
		atomic_fetch_add(&fs->refreshes, 1);
	return rc;
}

/* Live pools change: volumes are created and removed, renamed and
 * resized; see refresh_once. */
static void *refresher_main(void *arg)
{
	struct tf_fs *fs = arg;
	unsigned tick = 0;

	while (!atomic_load(&fs->stopping)) {
		for (unsigned s = 0; s < fs->opts.refresh_seconds * 10; s++) {
			struct timespec ts = {0, 100 * 1000 * 1000};
			if (atomic_load(&fs->stopping))
				return NULL;
			nanosleep(&ts, NULL);
		}
		tf_err_clear();
		if (refresh_once(fs, ++tick % 10 == 0) < 0) {
			atomic_fetch_add(&fs->refresh_errors, 1);
			snprintf(fs->last_refresh_error, sizeof(fs->last_refresh_error), "%s",
				 tf_errmsg());
		}
	}
	return NULL;
}

/* The kernel gives a FUSE mount 128 KiB of read-ahead whatever max_read
 * says; sequential copies of volumes go a third faster with 1 MiB.  Only
 * root may change it, and a failure costs speed, not correctness.  The
 * device number comes from mountinfo: a stat() of the mountpoint would
 * wait for this very process to answer FUSE requests. */
static void raise_readahead(const char *mountpoint)
{
	char line[4096], mnt[4096], dev[64], path[128];
	FILE *f = fopen("/proc/self/mountinfo", "re");
	bool found = false;

	if (!f)
		return;
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "%*s %*s %63s %*s %4095s", dev, mnt) == 2 &&
			strcmp(mnt, mountpoint) == 0;
	fclose(f);
	if (!found)
		return;
	snprintf(path, sizeof(path), "/sys/class/bdi/%s/read_ahead_kb", dev);
	f = fopen(path, "we");
	if (f) {
		fputs("1024", f);
		fclose(f);
	}
}

static int fs_open(struct tf_fs *fs, const struct tf_fs_opts *opts)
{
	struct tf_index_stats st;
	int rc;

	fs->opts = *opts;
	fs->mounted_at = (int64_t)time(NULL);
	/* The server runs in / once detached: a relative path would point
	 * somewhere else then.  Checked here, before anything detaches. */
	if (opts->receive_dir) {
		struct stat st;
		if (opts->receive_dir[0] != '/')
			return tf_fail(EINVAL, "receive_dir=%s: must be an absolute path",
				       opts->receive_dir);
		if (stat(opts->receive_dir, &st) < 0)
			return tf_fail(errno, "receive_dir=%s: %s", opts->receive_dir,
				       strerror(errno));
		if (!S_ISDIR(st.st_mode))
			return tf_fail(ENOTDIR, "receive_dir=%s: not a directory",
				       opts->receive_dir);
	}
	pthread_mutex_init(&fs->ix_lock, NULL);
	pthread_mutex_init(&fs->spare_lock, NULL);
	pthread_mutex_init(&fs->tab_lock, NULL);
	if ((rc = tf_files_cache_new(&fs->files)) < 0 ||
	    (rc = tf_deltas_cache_new(&fs->deltas)) < 0 || (rc = tf_recvdir_new(&fs->recv)) < 0 ||
	    (rc = tf_openfiles_new(&fs->open_files)) < 0 ||
	    (rc = tf_openfiles_new(&fs->open_dirs)) < 0)
		return rc;
	rc = tf_pool_open(opts->source, &(struct tf_pool_opts){0}, &fs->pool);
	if (rc < 0)
		return rc;
	if (opts->index_path)
		snprintf(fs->index_path, sizeof(fs->index_path), "%s", opts->index_path);
	else if ((rc = tf_index_pool_path(fs->pool, fs->index_path, sizeof(fs->index_path))) < 0)
		return rc;
	if ((rc = tf_mkdir_parents(fs->index_path)) < 0)
		return rc;
	if ((rc = tf_index_open(fs->index_path, &fs->ix)) < 0)
		return rc;
	if ((rc = tf_index_refresh(fs->ix, fs->pool, false, &st)) < 0)
		return rc;
	/* One spare connection opened now, while nothing else writes. */
	if ((rc = tf_index_open(fs->index_path, &fs->spare[0])) < 0)
		return rc;
	fs->nspare = 1;
	return tf_fs_reload(fs);
}

static void fs_close(struct tf_fs *fs)
{
	struct tf_voltab *t;

	atomic_store(&fs->stopping, true);
	if (fs->refresher_started)
		pthread_join(fs->refresher, NULL);
	tf_fs_release_open(fs);
	pthread_mutex_lock(&fs->tab_lock);
	t = fs->tab;
	fs->tab = NULL;
	pthread_mutex_unlock(&fs->tab_lock);
	tf_voltab_put(t);
	tf_files_cache_free(fs->files);
	tf_deltas_cache_free(fs->deltas);
	tf_recvdir_free(fs->recv);
	if (fs->ix)
		tf_index_close(fs->ix);
	while (fs->nspare)
		tf_index_close(fs->spare[--fs->nspare]);
	if (fs->pool)
		tf_pool_close(fs->pool);
	pthread_mutex_destroy(&fs->ix_lock);
	pthread_mutex_destroy(&fs->spare_lock);
	pthread_mutex_destroy(&fs->tab_lock);
}

static int build_args(const struct tf_fs_opts *opts, struct fuse_args *args)
{
	char o[4096];
	int n;

	n = snprintf(o, sizeof(o),
		     "fsname=thinfs:%s,subtype=thinfs,default_permissions,max_read=%u%s",
		     opts->source, TF_FS_MAX_READ, opts->allow_other ? ",allow_other" : "");
	if (n < 0 || n >= (int)sizeof(o) || strchr(opts->source, ','))
		return tf_fail(EINVAL, "%s: a source name with ',' cannot be a mount fsname",
			       opts->source);
	if (fuse_opt_add_arg(args, "thinfs") || fuse_opt_add_arg(args, "-o") ||
	    fuse_opt_add_arg(args, o) || (opts->debug && fuse_opt_add_arg(args, "-d")))
		return tf_fail(ENOMEM, "mount options: out of memory");
	return 0;
}

int tf_fs_mount(const struct tf_fs_opts *opts)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_loop_config *lc = NULL;
	struct tf_fs *fs = calloc(1, sizeof(*fs));
	int rc;

	if (!fs)
		return tf_fail(ENOMEM, "mount: out of memory");
	{
		/* A FUSE mount over a regular file succeeds, and then every
		 * access gives EIO: refuse it. */
		struct stat st;
		if (stat(opts->mountpoint, &st) == 0 && !S_ISDIR(st.st_mode)) {
			free(fs);
			return tf_fail(ENOTDIR, "%s: the mountpoint is not a directory",
				       opts->mountpoint);
		}
	}
	rc = fs_open(fs, opts);
	if (rc < 0)
		goto out;
	if ((rc = build_args(opts, &args)) < 0)
		goto out;
	fs->se = fuse_session_new(&args, tf_fs_ops(), sizeof(*tf_fs_ops()), fs);
	if (!fs->se) {
		rc = tf_fail(EINVAL, "%s: cannot create the FUSE session", opts->mountpoint);
		goto out;
	}
	if (fuse_set_signal_handlers(fs->se) != 0) {
		rc = tf_fail(EIO, "%s: cannot install signal handlers", opts->mountpoint);
		goto out_session;
	}
	if (fuse_session_mount(fs->se, opts->mountpoint) != 0) {
		rc = tf_fail(EIO,
			     "%s: cannot mount (is it an existing, empty directory, "
			     "and is /dev/fuse available?)",
			     opts->mountpoint);
		goto out_signals;
	}
	raise_readahead(opts->mountpoint);
	if (fuse_daemonize(opts->foreground) != 0) {
		rc = tf_fail(EIO, "%s: cannot detach", opts->mountpoint);
		goto out_unmount;
	}
	/* Threads start after the fork of fuse_daemonize. */
	if (tf_pool_kind(fs->pool) == TF_POOL_LIVE && opts->refresh_seconds > 0) {
		if (pthread_create(&fs->refresher, NULL, refresher_main, fs) == 0)
			fs->refresher_started = true;
	}
	lc = fuse_loop_cfg_create();
	if (!lc) {
		rc = tf_fail(ENOMEM, "mount: out of memory");
		goto out_unmount;
	}
	fuse_loop_cfg_set_max_threads(lc, 16);
	fuse_loop_cfg_set_idle_threads(lc, 4);
	rc = fuse_session_loop_mt(fs->se, lc) == 0
		 ? 0
		 : tf_fail(EIO, "%s: FUSE loop failed", opts->mountpoint);
	fuse_loop_cfg_destroy(lc);
out_unmount:
	fuse_session_unmount(fs->se);
out_signals:
	fuse_remove_signal_handlers(fs->se);
out_session:
	fuse_session_destroy(fs->se);
out:
	fuse_opt_free_args(&args);
	fs_close(fs);
	free(fs);
	return rc;
}
