/* repl_internal.h — the replica interface behind repl_recv.c: where a
 * replication stream's volumes land (repl_dir.c: files in a directory,
 * repl_lvm.c: thin LVs of a pool). */
#ifndef THINFS_REPL_INTERNAL_H
#define THINFS_REPL_INTERNAL_H

#include "core/stream/receive.h"
#include "core/stream/receive_internal.h"
#include "core/stream/repl.h"
#include "core/stream/repl_recv.h"

struct tf_replica;

struct tf_replica_state;
typedef int (*tf_replica_list_fn)(void *ctx, const char *name, const struct tf_replica_state *st);

/* A short stable key of a string (16 hex digits of its SHA-256), for tags. */
void tf_repl_key(const char *s, char out[17]);

struct tf_replica_state {
	bool has_state;
	char digest[41];       /* tf_repl_state_digest of its state */
	bool has_source;       /* received from a replication stream: */
	char pool_key[17];     /* tf_repl_key of the source pool identity */
	uint32_t thin_id;      /* its thin id there */
	char lineage_key[17];  /* tf_repl_key of its lineage ("" if unknown) */
	char source_name[128]; /* its name at the source ("" if unknown) */
};

/* What a replica records beside each volume it received from a stream. */
struct tf_replica_meta {
	char lineage[64];   /* the lineage root's uuid (or name) at the source */
	char pool_key[17];  /* tf_repl_key of the source pool's identity */
	uint64_t base_size; /* of the relative it is staged from */
	bool replacing;	    /* an older state of it is at the target */
	const struct tf_repl_entry *e;
	/* Its source origin's name at the target when that volume comes later
	 * in this stream and is not at the target yet (a first replication of
	 * the lineage), else "".  A pool builds that origin in place and takes
	 * this volume as a snapshot of it, so its LVM origin is the source's. */
	char origin_later[200];
	char digest[41];      /* its state digest (tf_repl_state_digest) */
	char base_digest[41]; /* its relative's, "-" when it is sent in full */
};

struct tf_replica_ops {
	/* What the replica knows of volume `name`: -ENOENT if it does not
	 * exist; 0 otherwise, with st->has_state false if it has no thinfs
	 * state. */
	int (*state)(struct tf_replica *r, const char *name, struct tf_replica_state *st);
	/* Opens a receive session for `name`, staged as a copy of `base`
	 * (NULL: a new empty volume), resuming a cut-off one if its stream is
	 * the same. */
	int (*open)(struct tf_replica *r, const char *name, const char *base,
		    const struct tf_replica_meta *m, struct tf_recv **out);
	/* After tf_recv_finish: puts the volume in place under its name
	 * (replacing an older state of it) with the source's metadata. */
	int (*place)(struct tf_replica *r, const char *name, const struct tf_replica_meta *m);
	/* Calls fn for every volume the replica received from a replication
	 * stream: its state digest, and the keys (tf_repl_key) of the source
	 * pool identity and of the lineage, with its thin id at the source. */
	int (*list)(struct tf_replica *r, tf_replica_list_fn fn, void *ctx);
	int (*remove)(struct tf_replica *r, const char *name);
	/* The last replication stream completed for key (a stream's identity
	 * and lineage): its send time and header checksum; -ENOENT if none. */
	int (*get_done)(struct tf_replica *r, const char *key, uint64_t *send_time, uint32_t *crc);
	int (*set_done)(struct tf_replica *r, const char *key, uint64_t send_time, uint32_t crc);
	void (*free)(struct tf_replica *r);
};

struct tf_replica {
	const struct tf_replica_ops *ops;
	char name[4200]; /* for messages */
};

int tf_replica_dir_open(const char *dir, struct tf_replica **out);
int tf_replica_lvm_open(const char *vg_pool, struct tf_replica **out);

/* repl_done.c: the last completed stream's send time and CRC at path;
 * read: 0, or -ENOENT when there is none (or it is unreadable). */
int tf_repl_done_read(const char *path, uint64_t *send_time, uint32_t *crc);
int tf_repl_done_write(const char *path, uint64_t send_time, uint32_t crc);

#endif
