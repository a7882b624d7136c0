/* replicate_config.h — the job file of `thinfs replicate --config FILE`.
 *
 *   # one section per job; '#' starts a comment line
 *   [vm1]
 *   source = vg0/vm1                  VG/LV (required)
 *   target = ssh:backup@nas:/srv/vm   VG/POOL, a directory or ssh:... (required)
 *   every  = 1h                       due when the last attempt is this old
 *                                     (s, m, h, d; default 0: every run)
 *   keep   = 24                       snapshots kept at each end (default 3)
 *   prefix = _rep_                    snapshot names: LV<prefix><UTC time>
 *   pre    = fsfreeze -f /srv/vm1     shell commands around the snapshot
 *   post   = fsfreeze -u /srv/vm1
 *   verify = yes                      thinfs verify after each cycle
 *
 * Errors (-EINVAL) name FILE:LINE and the cause: unknown keys, keys outside
 * a section, duplicate job names, bad numbers, a job without source or
 * target, a job name that is not [A-Za-z0-9_.-]+. */
#ifndef THINFS_REPLICATE_CONFIG_H
#define THINFS_REPLICATE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#define REP_DEFAULT_KEEP 3
#define REP_DEFAULT_PREFIX "_rep_"

struct rep_job {
	char name[64];
	char source[256];
	char target[4200];
	char prefix[64];
	char pre[1024], post[1024];
	unsigned keep;
	long every; /* seconds */
	bool verify;
};

struct rep_config {
	struct rep_job *jobs;
	size_t n;
};

int rep_config_parse(const char *text, const char *file, struct rep_config *out);
int rep_config_load(const char *path, struct rep_config *out);
void rep_config_free(struct rep_config *c);
/* "90", "15m", "2h", "1d" -> seconds; -EINVAL if not that. */
int rep_parse_duration(const char *s, long *out);
/* Whether a prefix is usable in LV and file names ([A-Za-z0-9+_.-], 1..32). */
bool rep_valid_prefix(const char *p);

#endif
