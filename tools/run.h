/* run.h — the one place the command line runs other programs (lvs,
 * lvmconfig): without a shell, stdout and stderr captured, bounded in time.
 *
 * Contract: tf_run() returns 0 when the program ran to completion (whatever
 * its exit status, which is in r->status: the exit code, or 128+signal), or
 * -errno with the message set when it could not be run at all: -ENOENT when
 * it is not installed, -ETIMEDOUT when it was killed after timeout_ms.
 * r->out and r->err are NUL-terminated (possibly empty) and freed by
 * tf_run_free().  LVM's complaints about inherited descriptors are silenced.
 */
#ifndef THINFS_RUN_H
#define THINFS_RUN_H

#include <stddef.h>

struct tf_run_result {
	int status;
	char *out, *err;
	size_t out_len, err_len;
};

int tf_run(const char *const argv[], int timeout_ms, struct tf_run_result *r);
void tf_run_free(struct tf_run_result *r);

/* The first line of s (up to n bytes) into buf, for messages. */
void tf_run_first_line(const char *s, char *buf, size_t n);

#endif
