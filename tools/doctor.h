/* doctor.h — `thinfs doctor`: checks of the host and of each thin pool,
 * each with a severity, a finding and the exact fix.
 *
 * The checks only read: they run LVM's reporting commands (through run.h),
 * ask device-mapper for the pool status (core/lvm/dm.h) and look at /sys,
 * /dev and the index.  None of them changes the pool or its metadata
 * snapshot.  A check that cannot find out says "unknown" and why.
 */
#ifndef THINFS_DOCTOR_H
#define THINFS_DOCTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Ordered by how much an operator must act: the worst one sets the exit
 * code (critical over warning over unknown over ok). */
enum tf_doc_sev { TF_DOC_OK, TF_DOC_UNKNOWN, TF_DOC_WARNING, TF_DOC_CRITICAL };

struct tf_doc_finding {
	char *scope; /* "host" or "VG/POOL" */
	const char *check;
	enum tf_doc_sev sev;
	char *finding;
	char *fix; /* NULL when there is nothing to do */
	bool has_value;
	double value; /* usage checks: percent used */
};

struct tf_doc {
	unsigned warn, crit; /* usage thresholds in percent */
	const char *index_path;
	struct tf_doc_finding *f;
	size_t n, cap;
	bool oom;
};

/* Adds a finding; returns it (NULL when out of memory: d->oom is set). */
struct tf_doc_finding *tf_doc_add(struct tf_doc *d, const char *scope, const char *check,
				  enum tf_doc_sev sev, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Sets the fix of a finding (f may be NULL). */
void tf_doc_fix(struct tf_doc_finding *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void tf_doc_free(struct tf_doc *d);

/* One thin pool as `lvs` reports it, with what the checks need of its VG. */
struct tf_doc_pool {
	char vg[128], name[128];
	char attr[16];
	char vg_uuid[64], uuid[64];
	char data_lv[160], metadata_lv[160];
	char discards[16];  /* passdown, nopassdown, ignore */
	char when_full[16]; /* error, queue */
	uint64_t size, metadata_size, vg_free;
	uint64_t spare_size; /* largest pool metadata spare LV in the VG, 0 if none */
	bool has_spare;
};

/* The thin pools LVM knows (all VGs); *out is malloc'd.  Fails with the
 * message set when lvs cannot be run or answers nonsense. */
int tf_doc_list_pools(struct tf_doc_pool **out, size_t *n);

/* doctor_host.c: the kernel, the tools LVM calls, LVM's autoextend
 * settings, FUSE. */
void tf_doc_check_host(struct tf_doc *d);
/* doctor_pool.c: one pool. */
void tf_doc_check_pool(struct tf_doc *d, const struct tf_doc_pool *p);

#endif
