/* replicate_state.h — what one replication job (a source VG/LV and a
 * target) remembers between cycles, and its lock.
 *
 * File: $THINFS_STATE_DIR (default /var/lib/thinfs)/replicate/<LV>-<hex>.state,
 * <hex> a digest of source, target and prefix, so the same job shares its
 * state whether run from the command line or from a config file.  Text, written
 * to a temp file and renamed:
 *
 *   thinfs-replicate-state 1
 *   source=vg0/vm1
 *   target=/srv/vm
 *   last_attempt=<unix time>   last_success=<unix time>   ok=1
 *   snapshot=<last snapshot sent>  base=<its base or empty>  mode=full|incremental
 *   common=<newest snapshot both ends hold>  bytes_sent=N  changed_bytes=N
 *   duration=<seconds>  lag=<seconds>  error=<one line>
 *   tkey <snapshot> <key>      one per target snapshot replicate made: its
 *                              key then (see rep_target.h)
 *
 * The lock (<same>.lock, flock) is held for a whole cycle: a second cycle
 * of the same job finds it held and is skipped, not doubled.
 */
#ifndef THINFS_REPLICATE_STATE_H
#define THINFS_REPLICATE_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "rep_target.h"
#include "replicate_config.h"

struct rep_state {
	char source[256], target[4200], prefix[64];
	int64_t last_attempt, last_success;
	bool ok;
	char snapshot[160], base[160], mode[16], common[160];
	uint64_t bytes_sent, changed_bytes;
	double duration, lag;
	char error[1024];
	struct rep_snaps tkeys;
};

/* The state file path for a job (without creating anything). */
int rep_state_path(const struct rep_job *j, const char *ext, char *buf, size_t len);
/* Loads the state; a missing file gives an empty state and 0. */
int rep_state_load(const struct rep_job *j, struct rep_state *st);
int rep_state_save(const struct rep_state *st);
void rep_state_free(struct rep_state *st);
/* The recorded key of target snapshot name, or NULL. */
const char *rep_state_tkey(const struct rep_state *st, const char *name);

/* Takes the job's lock without waiting: 0 and *fd, or -EWOULDBLOCK if a
 * cycle of the same job is running. */
int rep_state_lock(const struct rep_job *j, int *fd);

#endif
