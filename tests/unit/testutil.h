/* testutil.h — shared by the cmocka tests (it includes <cmocka.h> itself): run a
 * shell command that builds a fixture, failing the test with the command if
 * it fails. */
#ifndef THINFS_TESTUTIL_H
#define THINFS_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

static inline void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static inline void sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	if (rc != 0)
		fail_msg("fixture command failed (status %d): %s", rc, cmd);
}

#endif
