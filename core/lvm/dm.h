/* dm.h — the few device-mapper operations thinfs needs, through
 * libdevmapper, with one translator of its failures into tf_fail messages.
 * Pure parsing helpers are separate so they can be unit-tested without a
 * kernel. */
#ifndef THINFS_DM_H
#define THINFS_DM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tf_dm_pool_status {
	uint64_t transaction_id;
	uint64_t meta_used, meta_total;
	uint64_t data_used, data_total;
	bool held;	    /* a metadata snapshot is held */
	uint64_t held_root; /* its block, if held */
	bool read_only;
	bool needs_check;
	bool out_of_data_space; /* mode "out_of_data_space" (also read_only) */
	bool error_if_no_space; /* else I/O queues when the pool is full */
	/* How the kernel handles discards: "passdown", "nopassdown", "ignore",
	 * or "" on kernels that do not say. */
	char discards[16];
};

/* Parses a thin-pool status line (the target's params). */
int tf_dm_parse_pool_status(const char *params, struct tf_dm_pool_status *st);

/* "vg-name" + "lv" -> "vg--name-lv" as LVM names dm devices; suffix is
 * appended unmangled ("-tpool", "_tmeta"). */
int tf_dm_lvm_name(const char *vg, const char *lv, const char *suffix, char *buf, size_t len);

/* Live operations (need root and device-mapper). */
int tf_dm_pool_status(const char *dm_name, struct tf_dm_pool_status *st);
int tf_dm_message(const char *dm_name, const char *msg);
/* Whether a dm device exists; its major:minor if so. */
int tf_dm_info(const char *dm_name, bool *exists, uint32_t *major, uint32_t *minor);
/* Creates a read-only device with one target line. */
int tf_dm_create_ro(const char *dm_name, uint64_t sectors, const char *target, const char *params);
int tf_dm_remove(const char *dm_name);

#endif
