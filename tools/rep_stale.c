/* rep_stale.c — removes the private thin targets killed thinfs processes
 * left behind (rep_stale.h). */
#include "rep_stale.h"

#include "core/base/run.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A thinfs process killed while it read an inactive snapshot leaves its
 * private read-only thin target "thinfs-<pid>-<thin id>" behind, and the
 * kernel opens a thin device only once: the next cycle could neither read
 * nor prune that snapshot.  Removes such targets of processes that are
 * gone (never one of a live process, e.g. a mount). */
void rep_remove_stale_private_targets(void)
{
	const char *ls[] = {"dmsetup", "ls", NULL};
	char *text = NULL, *save = NULL, *line;

	if (tf_run_ok(ls, NULL, &text) < 0)
		return;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[128], tail;
		long pid;
		unsigned id;
		if (sscanf(line, "%127s", name) != 1 ||
		    sscanf(name, "thinfs-%ld-%u%c", &pid, &id, &tail) != 2 || pid <= 0 ||
		    kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		const char *rm[] = {"dmsetup", "remove", name, NULL};
		if (tf_run_ok(rm, NULL, NULL) == 0)
			fprintf(stderr, "thinfs: removed %s, left by a killed thinfs process\n",
				name);
	}
	free(text);
}
