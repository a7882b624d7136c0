/* repl_recv.h — receiving a replication stream into a directory or a pool.
 *
 *   tf_repl_recv_open("/backup", &opts, &r);   // or "VG/POOL"
 *   while (...) tf_repl_recv_write(r, buf, n);  // in order
 *   rc = tf_repl_recv_finish(r);                // 0 iff every volume is in
 *   tf_repl_recv_close(r);                      // one line per volume
 *
 * Each volume is received on its own through the single-volume receive
 * (receive.h), all or nothing: a snapshot is first a copy of its relative
 * that is already at the target (a reflink or hard link + staging copy for
 * files, a thin snapshot `lvcreate -s` for LVM), then its delta is applied
 * to that copy, which is put in place under its name only after its own
 * trailer checked out.  Before any byte is applied, every base the stream
 * expects the target to hold (HELD entries) must be there with the right
 * identity and fingerprint (-ESTALE otherwise), and no volume may be
 * replaced by one of another origin (-EEXIST, unless force).
 *
 * A volume the target already holds at the stream's state is skipped (not
 * applied again), so rerunning a cut replication completes the rest; a
 * stream whose every volume is already there is a replay (-EALREADY).  A
 * volume cut midway keeps its staging, and the rerun resumes it at its
 * last checkpoint.  With prune, once the whole stream checked out, target
 * volumes received from the same pool (and, for one lineage, the same
 * lineage) that the manifest no longer lists are removed.
 *
 * Target state for `thinfs send --from-state`: tf_repl_target_state()
 * prints one line per volume the target holds, "<state digest> <name>",
 * the digest being the one tf_repl_state_digest() computes at the sender.
 */
#ifndef THINFS_REPL_RECV_H
#define THINFS_REPL_RECV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct tf_repl_recv;

struct tf_repl_recv_opts {
	const char *prefix; /* prepended to every volume name ("" or NULL: none) */
	bool prune;
	bool force;   /* replace target volumes of other origins too */
	FILE *report; /* one line per volume; NULL: none */
};

int tf_repl_recv_open(const char *target, const struct tf_repl_recv_opts *o,
		      struct tf_repl_recv **out);
int tf_repl_recv_write(struct tf_repl_recv *r, const void *buf, size_t len);
int tf_repl_recv_finish(struct tf_repl_recv *r);
/* Reports the volumes not received, and drops what was not finished
 * (keeping a cut-off volume's staging for the rerun). */
void tf_repl_recv_close(struct tf_repl_recv *r);

/* "<40 hex digits>": what identifies a volume's state at a target. */
void tf_repl_state_digest(const char *identity, uint32_t thin_id, const uint8_t fp[32],
			  char out[41]);
/* Writes the target's replica state (see above) to f. */
int tf_repl_target_state(const char *target, FILE *f);

#endif
