/* receive_internal.h — the target interface behind receive.c, implemented
 * by target_file.c and target_lvm.c. */
#ifndef THINFS_RECEIVE_INTERNAL_H
#define THINFS_RECEIVE_INTERNAL_H

#include "core/stream/receive.h"
#include "core/stream/stream_parse.h"

struct tf_target;

/* What a target records after a successful receive. */
struct tf_target_state {
	char identity[128];
	uint32_t thin_id;
	char uuid[64];
	uint8_t fingerprint[32];
};

struct tf_target_ops {
	/* Checks the base (unless force) and prepares the staging area. */
	int (*begin)(struct tf_target *t, const struct tf_stream_header *h, bool force,
		     bool resuming);
	int (*data)(struct tf_target *t, uint64_t off, const void *buf, size_t len);
	int (*zero)(struct tf_target *t, uint64_t off, uint64_t len);
	/* Makes staged data durable and records the checkpoint. */
	int (*save_checkpoint)(struct tf_target *t, const struct tf_parser_checkpoint *cp);
	/* -ENOENT if there is nothing to resume. */
	int (*load_checkpoint)(struct tf_target *t, struct tf_parser_checkpoint *cp);
	/* Replaces the target by the staging area and records the new state. */
	int (*commit)(struct tf_target *t, const struct tf_target_state *st, uint64_t volume_bytes);
	/* Drops the staging area, or keeps it for a resume. */
	void (*abort)(struct tf_target *t, bool keep);
	void (*free)(struct tf_target *t);
};

struct tf_target {
	const struct tf_target_ops *ops;
	char name[4300]; /* for messages: "DIR/LV" or "VG/LV" */
	bool keep_prev;	 /* set by the session before begin */
};

/* Takes the target's receive lock: the lock file `name` in dirfd, flock'd
 * (target_lock.c).  -EBUSY naming the holder if another receive has it.
 * tf_target_unlock removes the file and drops the lock. */
int tf_target_lock(int dirfd, const char *name, const char *target, int *out);
void tf_target_unlock(int dirfd, const char *name, int fd);

/* The receive lock of the LV VG/LV: VG-LV.lock in $THINFS_LOCK_DIR
 * (default /run/lock/thinfs), the same whichever command receives into it
 * (a single-volume receive, a replication stream's volume, or the stage
 * of a lineage's origin).  Initialise with TF_LV_LOCK_INIT. */
struct tf_lv_lock {
	int dirfd, fd;
	char name[300];
};
#define TF_LV_LOCK_INIT                                                                            \
	{                                                                                          \
		.dirfd = -1, .fd = -1                                                              \
	}
int tf_lv_lock(struct tf_lv_lock *k, const char *vg, const char *lv, const char *target);
void tf_lv_unlock(struct tf_lv_lock *k);

int tf_target_file_open(const char *dir, const char *lv, struct tf_target **out);
int tf_target_lvm_open(const char *vg_pool, const char *lv, struct tf_target **out);
/* A session over a target made elsewhere (the replication receive's);
 * takes t, freeing it on failure. */
int tf_recv_open_target(struct tf_target *t, const struct tf_recv_opts *o, struct tf_recv **out);

/* The checkpoint file: "THINFSCP", u32 LE payload size, u32 LE crc32c of
 * the payload, then the payload (struct tf_parser_checkpoint as this build
 * lays it out: a checkpoint is resumed on the machine that wrote it). */
#define TF_CHECKPOINT_FILE_BYTES (16 + sizeof(struct tf_parser_checkpoint))
void tf_checkpoint_encode(const struct tf_parser_checkpoint *cp,
			  uint8_t out[TF_CHECKPOINT_FILE_BYTES]);
/* -EBADMSG naming what if the envelope does not check out. */
int tf_checkpoint_decode(const uint8_t *in, size_t n, struct tf_parser_checkpoint *cp,
			 const char *what);

/* State text ("thinfs-state 1" and key=value lines), shared by targets. */
int tf_target_state_format(const struct tf_target_state *st, char *buf, size_t len);
int tf_target_state_parse(const char *text, size_t len, struct tf_target_state *st);
/* For an existing target (have: its recorded state, NULL if none), refuses
 * a replay (-EALREADY: the target already holds the stream's result), a
 * full stream over it (-EEXIST) and an incremental for another base
 * (-ESTALE).  Callers skip it under force. */
int tf_target_check_replay(const char *target, const struct tf_target_state *have,
			   const struct tf_stream_header *h);
/* Refuses an incremental whose base is not the target's recorded state. */
int tf_target_check_base(const char *target, const struct tf_target_state *have,
			 const struct tf_stream_header *h);

#endif
