/* rep_stale.h — clearing what killed thinfs processes left in the
 * device-mapper table, before replicate and verify read snapshots. */
#ifndef THINFS_REP_STALE_H
#define THINFS_REP_STALE_H

/* Removes the private read-only thin targets ("thinfs-<pid>-<thin id>")
 * that killed thinfs processes left (the kernel opens a thin device only
 * once, so they block reading and removing those snapshots); never one of
 * a live process.  Best effort: says on stderr what it removed. */
void rep_remove_stale_private_targets(void);

#endif
