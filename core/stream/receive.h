/* receive.h — applying a delta stream to a target, all or nothing.
 *
 *   tf_recv_open_dir("/backup", "vm1", &opts, &r);   // or tf_recv_open_lvm
 *   while (...) tf_recv_write(r, buf, n, off);        // off: bytes so far
 *   rc = tf_recv_finish(r);                           // 0 iff applied
 *   tf_recv_close(r);                                 // aborts if unfinished
 *
 * Nothing is visible in the target until finish succeeds: records go to a
 * staging copy (a file) or a new thin snapshot (LVM) that replaces the
 * target only after the trailer's digest and every check passed.  The first
 * error is sticky: later writes and finish fail with it.  An unfinished
 * receive keeps its staging and a checkpoint at the last complete record,
 * so `opts.resume` can continue from tf_recv_offset() instead of from 0.
 *
 * Resume, the two ways:
 *   thinfs receive --resume-offset    opens with .resume, prints
 *                                     tf_recv_offset() (the resume token: a
 *                                     stream offset at a record boundary)
 *   thinfs send --offset N | thinfs receive --resume
 *                                     writes from that offset on
 *   cp stream MNT/receive/lv again    opens with .resume_if_any and writes
 *                                     from 0: the header is compared with
 *                                     the interrupted one and the bytes
 *                                     before the resume point are skipped
 *                                     (a different stream starts afresh)
 * The checkpoint lives beside the target (file: DIR/.LV.thinfs-resume next
 * to DIR/.LV.thinfs-partial; LVM: $THINFS_STATE_DIR/recv-VG-LV.resume and
 * the LV LV_thinfs_recv).  A damaged or cut-off stream never commits.
 *
 * One receive per target at a time, across processes: opening takes the
 * target's lock (an flock on DIR/.LV.thinfs-lock, or for LVM on
 * $THINFS_LOCK_DIR/VG-LV.lock, default /run/lock/thinfs) and returns -EBUSY
 * naming the holder if another receive has it; close drops it, and so does
 * the kernel when a receiver dies.  A file target's directory is used
 * through a directory fd: no name in it is followed if it is a symlink.
 *
 * Refusals: an incremental whose base is not the target's recorded state
 * (-ESTALE, naming both), a stream whose result the target already holds
 * (-EALREADY: a replay), a full stream over an existing target (-EEXIST);
 * .force overrides these three.  Writes out of order: -ESPIPE.
 */
#ifndef THINFS_RECEIVE_H
#define THINFS_RECEIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tf_recv;
struct tf_bio_fault;

struct tf_recv_opts {
	bool force;  /* apply an incremental even if the target's state differs */
	bool resume; /* continue an interrupted receive of the same stream */
	/* Resume if an interrupted receive is there and the stream written
	 * is the same one, else start afresh (what receive/ in FUSE wants). */
	bool resume_if_any;
	/* Keep the replaced volume: LVM renames it LV_thinfs_prev (replacing
	 * an older one), a file target keeps it as DIR/.LV.thinfs-prev. */
	bool keep_prev;
	/* Tests: faults injected into the writes of data records to the
	 * staging area (core/io/bio.h); NULL in real use. */
	const struct tf_bio_fault *fault;
};

/* Target: the plain sparse file DIR/LV (a full stream creates it). */
int tf_recv_open_dir(const char *dir, const char *lv, const struct tf_recv_opts *o,
		     struct tf_recv **out);
/* Target: thin LV `lv` of the live pool "VG/POOL". */
int tf_recv_open_lvm(const char *vg_pool, const char *lv, const struct tf_recv_opts *o,
		     struct tf_recv **out);

/* The stream offset the next write must start at (the resume point after
 * a resumed open; 0 is also accepted then, see above). */
uint64_t tf_recv_offset(const struct tf_recv *r);
/* Bytes of the stream the writer has delivered so far, counting a re-write
 * from 0 (what a FUSE write position should be compared with). */
uint64_t tf_recv_written(const struct tf_recv *r);
int tf_recv_write(struct tf_recv *r, const void *buf, size_t len, uint64_t off);
/* Whether finish has something to decide: the whole stream arrived, or an
 * error is pending.  A FUSE flush of a stream still being written (a
 * shell's dup, a child's close) must not end the receive. */
bool tf_recv_complete(const struct tf_recv *r);
int tf_recv_finish(struct tf_recv *r);
void tf_recv_close(struct tf_recv *r);

/* A target's recorded state, for messages and `thinfs receive --status`. */
const char *tf_recv_target_name(const struct tf_recv *r);

/* Whether a name may be a target LV / file: [A-Za-z0-9+_.-], not starting
 * with '.' or '-', at most 127 bytes (volume_name.c). */
bool tf_recv_valid_name(const char *lv);

#endif
