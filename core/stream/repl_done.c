/* repl_done.c — the record of the last replication stream that completed
 * at a target (one per pool + lineage + prefix), which is how a replayed or
 * older stream is refused.  A one-line text file, "<send time µs> <crc>",
 * replaced atomically (write, fsync, rename); where it lives is the
 * replica's business (repl_dir.c, repl_lvm.c). */
#include "core/stream/repl_internal.h"

#include "core/base/err.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int tf_repl_done_read(const char *path, uint64_t *send_time, uint32_t *crc)
{
	char text[128];
	unsigned long long t;
	unsigned c;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return -ENOENT;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	text[n > 0 ? n : 0] = '\0';
	if (sscanf(text, "%llu %x", &t, &c) != 2)
		return -ENOENT;
	*send_time = t;
	*crc = c;
	return 0;
}

int tf_repl_done_write(const char *path, uint64_t send_time, uint32_t crc)
{
	char tmp[4500], text[64];
	int fd, n, rc = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return tf_fail(ENAMETOOLONG, "%s: name too long", path);
	n = snprintf(text, sizeof(text), "%" PRIu64 " %08x\n", send_time, crc);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || write(fd, text, (size_t)n) != n || fsync(fd) < 0 || rename(tmp, path) < 0)
		rc = tf_fail(errno ? errno : EIO, "%s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	return rc;
}
