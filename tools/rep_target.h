/* rep_target.h — the receiving end of `thinfs replicate`, behind one table.
 *
 * Three kinds (nbdkit shape: a table of operations per kind):
 *   dir   DIR: each replicated snapshot is the sparse file DIR/<snapshot>
 *         (the receive engine's file target, its state in an xattr).
 *   lvm   VG/POOL: each one is a thin LV VG/<snapshot>, read-only, inactive.
 *   ssh   ssh:[USER@]HOST:DIR|VG/POOL: the same two, on the other end, by
 *         `thinfs replicate --target-side OP ...` over the user's ssh.
 *
 * A snapshot appears under its name only when complete: it is received as
 * <snapshot>.incoming (dir) / <snapshot>_incoming (lvm) — for an
 * incremental, a hard link / thin snapshot of the base, which the receive
 * engine then stages and replaces all or nothing — and renamed at the end.
 * list() removes leftovers of killed cycles before it answers.
 *
 * Each snapshot has a key that changes when somebody changes it behind
 * replicate's back: dir "inode:size:mtime_ns", lvm "uuid:permission"
 * (replicate makes them read-only).  replicate records the keys it made.
 */
#ifndef THINFS_REP_TARGET_H
#define THINFS_REP_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rep_hash.h"

struct rep_snap {
	char name[160];
	char key[128];
};

struct rep_snaps {
	struct rep_snap *v;
	size_t n, cap;
};

struct rep_target;

struct rep_target_ops {
	/* Snapshots LV<prefix><UTC time> that are complete, oldest first. */
	int (*list)(struct rep_target *t, const char *lv, const char *prefix,
		    struct rep_snaps *out);
	/* Starts receiving snapshot `name`, incremental from `base` (NULL: full). */
	int (*recv_begin)(struct rep_target *t, const char *base, const char *name);
	int (*recv_write)(struct rep_target *t, const void *buf, size_t len);
	/* ok: finish and put it in place (0 iff applied); !ok: abort. */
	int (*recv_end)(struct rep_target *t, bool ok);
	int (*prune)(struct rep_target *t, const char *name);
	int (*hashes)(struct rep_target *t, const char *name, struct rep_hashes *out);
	/* Pool usage in percent; -ENOTSUP for a directory. */
	int (*usage)(struct rep_target *t, double *data, double *meta);
	void (*free)(struct rep_target *t);
};

struct rep_target {
	const struct rep_target_ops *ops;
	char spec[4200]; /* as given, for messages */
};

/* Chooses the kind from the spec: ssh:..., an existing directory, else VG/POOL. */
int rep_target_open(const char *spec, struct rep_target **out);

void rep_snaps_free(struct rep_snaps *s);
int rep_snaps_add(struct rep_snaps *s, const char *name, const char *key);
/* Whether name is LV<prefix><YYYYmmddTHHMMSSZ>. */
bool rep_snap_name_matches(const char *name, const char *lv, const char *prefix);
void rep_snaps_sort(struct rep_snaps *s);

/* The target side of the ssh protocol: `thinfs replicate --target-side OP
 * SPEC ARGS`, run on the remote end (stdin: the stream for receive).
 * Returns an exit code. */
int rep_target_side(int argc, char **argv);

#endif
