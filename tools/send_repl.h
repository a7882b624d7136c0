/* send_repl.h — `thinfs send -R / --all`: planning and writing a
 * replication stream (core/stream/repl.h) from the index. */
#ifndef THINFS_SEND_REPL_H
#define THINFS_SEND_REPL_H

#include <stdbool.h>

struct tf_pool;
struct tf_index;

struct send_repl_opts {
	const char *lv;		/* -R: this volume's lineage; NULL with --all */
	const char *from;	/* the target holds this snapshot: send only newer */
	const char *from_state; /* file from `thinfs receive TARGET --state` */
	const char *source;	/* for messages */
	bool dry_run, progress;
};

/* Writes the stream to stdout (or with dry_run prints its plan and exact
 * size); 0 or -errno with a message. */
int send_repl(struct tf_pool *pool, struct tf_index *ix, const struct send_repl_opts *o);

#endif
