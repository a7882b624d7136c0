/* path.c — filesystem-path helpers. */
#include "core/base/path.h"
#include "core/base/err.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int tf_mkdir_parents(const char *path)
{
	char buf[4096];

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return tf_fail(ENAMETOOLONG, "%s: path too long", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST)
			return tf_fail(errno, "%s: cannot create directory: %s", buf,
				       strerror(errno));
		*p = '/';
	}
	return 0;
}
