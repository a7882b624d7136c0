/* mount.h — the one entry point of fs/ for the command line: what to mount
 * and how.  tools/ include only this header of fs/; everything else in fs/
 * is the FUSE server's own business. */
#ifndef THINFS_FS_MOUNT_H
#define THINFS_FS_MOUNT_H

#include <stdbool.h>
#include <sys/types.h>

struct tf_fs_opts {
	const char *source;
	const char *mountpoint;
	const char *index_path;	 /* NULL: the default for the pool */
	const char *receive_dir; /* image pools: where receive/ applies streams */
	bool foreground;
	bool allow_other;
	bool debug;
	uid_t uid;
	gid_t gid;
	mode_t file_mode;	  /* permission bits of files (dirs add x where r) */
	unsigned refresh_seconds; /* live pools: how often to poll the transaction id */
};

/* Mounts opts->source at opts->mountpoint and serves it until unmounted.
 * Returns 0 after a clean unmount, or -errno with the message set (core/base/err.h). */
int tf_fs_mount(const struct tf_fs_opts *opts);

#endif
