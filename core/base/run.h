/* run.h — the one way thinfs runs other programs: LVM's commands, dmsetup,
 * ssh, the user's --pre/--post hooks.  Without a shell (argv, PATH lookup),
 * stdin from /dev/null unless we stream into it, LVM's complaints about
 * inherited descriptors silenced.  stderr goes to an unlinked temp file, so
 * a chatty child never blocks on a pipe and a daemon it leaves behind never
 * holds our read open; stdout is a pipe.
 *
 * Contracts:
 * - tf_run() returns 0 when the program ran to completion (whatever its exit
 *   status, which is in r->status: the exit code, or 128+signal), or -errno
 *   with the message set when it could not be run at all: -ENOENT when it
 *   is not installed ("cannot run NAME"), -ETIMEDOUT when it was killed
 *   after the timeout, -EFBIG when it was killed for printing more than the
 *   bound.  r->out and r->err are NUL-terminated (possibly empty) and freed
 *   by tf_run_free().
 * - tf_run_ok() also fails, with -EIO, on an exit status other than 0: the
 *   message is "ARGV0 ARGV1: exit N: <last line of its stderr>".
 * - tf_child_start()/tf_child_wait(): a program whose stdin we write or
 *   whose stdout we read as a stream (ssh ... thinfs receive); the wait
 *   turns its exit status into the same message as tf_run_ok().
 */
#ifndef THINFS_BASE_RUN_H
#define THINFS_BASE_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The most of one stream tf_run keeps when the caller names no bound:
 * far beyond any listing LVM prints (an lvs line is ~100 bytes). */
#define TF_RUN_OUT_MAX ((size_t)64 << 20)

struct tf_run_opts {
	int timeout_ms;	  /* kill it after this long; 0 waits while it runs */
	size_t max_out;	  /* bytes kept of stdout and of stderr; 0: TF_RUN_OUT_MAX */
	bool keep_locale; /* else LC_ALL=C: numbers and messages in one known form */
};

struct tf_run_result {
	int status;
	char *out, *err;
	size_t out_len, err_len;
};

/* tf_run_with() with a timeout and the C locale (the doctor's checks). */
int tf_run(const char *const argv[], int timeout_ms, struct tf_run_result *r);
int tf_run_with(const char *const argv[], const struct tf_run_opts *o, struct tf_run_result *r);
void tf_run_free(struct tf_run_result *r);

/* Runs argv; 0 iff it exited 0.  *out (if out is not NULL) receives its
 * stdout, malloc'd and NUL-terminated, only on success.  o may be NULL. */
int tf_run_ok(const char *const argv[], const struct tf_run_opts *o, char **out);

/* Runs `sh -c cmd` (the user's hook) in the user's locale, stdout
 * discarded; what ("--pre") names it in the message. */
int tf_run_shell(const char *cmd, const char *what);

/* A child we stream to or from. */
struct tf_child {
	pid_t pid;
	int in;	 /* write end of its stdin, or -1 */
	int out; /* read end of its stdout, or -1 */
	int err; /* the temp file holding its stderr */
};
/* Starts argv with a pipe on stdin (want_in) and on stdout (want_out), the
 * other one /dev/null; in the user's locale unless c_locale. */
int tf_child_start(const char *const argv[], bool want_in, bool want_out, bool c_locale,
		   struct tf_child *c);
/* Closes our pipe ends and waits; 0 iff it exited 0, else -EIO with the
 * exit code or signal and its stderr's last line, prefixed by what. */
int tf_child_wait(struct tf_child *c, const char *what);

/* The first line of s (up to n bytes) into buf, for messages. */
void tf_run_first_line(const char *s, char *buf, size_t n);

#endif
