/* err.h — the one error idiom of thinfs.
 *
 * Every function in core/ and index/ that can fail returns 0 (or a count) on
 * success and a negative errno on failure, and records one message on the
 * calling thread that names the object and the cause ("metadata block 17:
 * checksum mismatch").  Callers that add context wrap the message with
 * tf_fail_ctx() on the way out.  fs/ turns the code into one FUSE reply and
 * logs the message; tools/ prints the message on one stderr line.
 */
#ifndef THINFS_ERR_H
#define THINFS_ERR_H

#include <stdarg.h>

/* Records the message and returns -err (err is a positive errno). */
int tf_fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefixes the current message with context ("volume web: ") and returns rc
 * unchanged, so "return tf_fail_ctx(rc, ...)" passes an error up. */
int tf_fail_ctx(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The last message recorded on this thread, or strerror of nothing. */
const char *tf_errmsg(void);

void tf_err_clear(void);

#endif
