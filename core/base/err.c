/* err.c — thread-local error message store behind err.h. */
#include "core/base/err.h"

#include <stdio.h>
#include <string.h>

#define TF_ERRMSG_MAX 1024

static _Thread_local char errmsg[TF_ERRMSG_MAX];

int tf_fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errmsg, sizeof(errmsg), fmt, ap);
	va_end(ap);
	return err > 0 ? -err : err;
}

int tf_fail_ctx(int rc, const char *fmt, ...)
{
	char prefix[TF_ERRMSG_MAX];
	char old[TF_ERRMSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, errmsg, sizeof(old));
	if (old[0] == '\0' && rc < 0)
		snprintf(old, sizeof(old), "%s", strerror(-rc));
	snprintf(errmsg, sizeof(errmsg), "%s%s", prefix, old);
	return rc;
}

const char *tf_errmsg(void)
{
	return errmsg[0] ? errmsg : "unknown error";
}

void tf_err_clear(void)
{
	errmsg[0] = '\0';
}
