/* feed_stdin.c — reads stdin to its end into a sink (feed_stdin.h). */
#include "feed_stdin.h"

#include "core/base/err.h"
#include "core/base/progress.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int feed_stdin(const struct feed_sink *sk, uint64_t off, bool progress)
{
	const size_t bufsize = 1 << 20;
	char *buf = malloc(bufsize);
	struct tf_progress *pr = tf_progress_new("receive", 0, progress);
	int rc = 0;

	if (!buf) {
		tf_progress_end(pr);
		return tf_fail(ENOMEM, "receive: out of memory");
	}
	for (;;) {
		ssize_t n = read(0, buf, bufsize);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = tf_fail(errno, "stdin: %s", strerror(errno));
			break;
		}
		if (n == 0) {
			rc = sk->finish ? sk->finish(sk->ctx) : 0;
			break;
		}
		if ((rc = sk->write(sk->ctx, buf, (size_t)n, off, pr)) < 0)
			break;
		off += (uint64_t)n;
		tf_progress_add(pr, (uint64_t)n);
	}
	tf_progress_end(pr);
	free(buf);
	return rc;
}
