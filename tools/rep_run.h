/* rep_run.h — running other programs for replicate and verify: LVM
 * commands and ssh without a shell (argv), --pre/--post hooks with one.
 *
 * Every call returns 0 or -errno with a message naming the program and,
 * when it failed, the first line it printed on stderr. */
#ifndef THINFS_REP_RUN_H
#define THINFS_REP_RUN_H

#include <stddef.h>
#include <sys/types.h>

/* Runs argv (PATH lookup), stdin from /dev/null; its stdout goes to *out
 * (malloc'd, NUL-terminated, may be NULL to discard). */
int rep_run(const char *const argv[], char **out);
/* Runs `sh -c cmd` (the user's hook); what: "--pre" for messages. */
int rep_run_shell(const char *cmd, const char *what);

/* A child whose stdin is a pipe we write (ssh ... thinfs receive). */
struct rep_child {
	pid_t pid;
	int in;	 /* write end of the child's stdin, or -1 */
	int out; /* read end of its stdout, or -1 */
	int err; /* a temp file holding its stderr */
};
/* Starts argv with pipes on stdin (if want_in) and stdout (if want_out). */
int rep_child_start(const char *const argv[], int want_in, int want_out, struct rep_child *c);
/* Closes stdin, waits; 0 iff it exited 0, else -EIO with its stderr's last
 * line (or the signal) in the message, prefixed by what. */
int rep_child_wait(struct rep_child *c, const char *what);

/* Writes all of buf to fd (EINTR retried). */
int rep_write_all(int fd, const void *buf, size_t len, const char *what);

/* Removes the private read-only thin targets ("thinfs-<pid>-<thin id>")
 * that killed thinfs processes left (the kernel opens a thin device only
 * once, so they block reading and removing those snapshots); never one of
 * a live process.  Best effort: says on stderr what it removed. */
void rep_remove_stale_private_targets(void);

#endif
