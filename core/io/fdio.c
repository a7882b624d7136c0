/* fdio.c — whole writes to a file descriptor (see fdio.h). */
#include "core/io/fdio.h"

#include "core/base/err.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

int tf_write_all(int fd, const void *buf, size_t len, const char *name)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return tf_fail(errno, "%s: %s", name, strerror(errno));
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int tf_pwrite_all(int fd, const void *buf, size_t len, uint64_t off, const char *name)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, (const char *)buf + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return tf_fail(n < 0 ? errno : EIO, "%s: write at %" PRIu64 ": %s", name,
				       off + done, n < 0 ? strerror(errno) : "no progress");
		done += (size_t)n;
	}
	return 0;
}

int tf_write_zeros(int fd, uint64_t off, uint64_t len, const char *name)
{
	static const char zeros[65536];

	for (uint64_t o = 0; o < len;) {
		size_t n = len - o < sizeof(zeros) ? (size_t)(len - o) : sizeof(zeros);
		int rc = tf_pwrite_all(fd, zeros, n, off + o, name);
		if (rc < 0)
			return rc;
		o += n;
	}
	return 0;
}
