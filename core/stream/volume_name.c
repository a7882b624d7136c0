/* volume_name.c — which names a received volume may have.  On its own so
 * the replication stream's parser (repl.c), which checks manifest names,
 * links without the receive engine and its targets (the fuzz harness). */
#include "core/stream/receive.h"

#include <string.h>

bool tf_recv_valid_name(const char *lv)
{
	size_t n = strlen(lv);

	if (n == 0 || n > 127 || lv[0] == '.' || lv[0] == '-')
		return false;
	return strspn(lv, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+_.-") ==
	       n;
}
