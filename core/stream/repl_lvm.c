/* repl_lvm.c — a replica that is a live thin pool VG/POOL. */
#include "core/stream/repl_internal.h"

#include "core/base/err.h"

#include <errno.h>

int tf_replica_lvm_open(const char *vg_pool, struct tf_replica **out)
{
	(void)out;
	return tf_fail(ENOTSUP, "%s: replication into a pool is not built yet", vg_pool);
}
