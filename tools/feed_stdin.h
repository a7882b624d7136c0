/* feed_stdin.h — the one loop that reads a stream from stdin: thinfs
 * receive (a volume or a replication stream) and the target side of a
 * replicate over ssh. */
#ifndef THINFS_FEED_STDIN_H
#define THINFS_FEED_STDIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tf_progress;

/* Where stdin goes: each piece at its stream offset, then the end. */
struct feed_sink {
	int (*write)(void *ctx, const char *buf, size_t n, uint64_t off, struct tf_progress *pr);
	int (*finish)(void *ctx); /* at the end of stdin; may be NULL */
	void *ctx;
};

/* Reads stdin to its end in 1 MiB pieces into the sink, from stream offset
 * off, counting progress if asked; 0 or -errno (message set). */
int feed_stdin(const struct feed_sink *sk, uint64_t off, bool progress);

#endif
