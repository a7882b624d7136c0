/* ssh_target.h — "ssh:[USER@]HOST:PATH" targets and the ssh command line
 * that runs thinfs on the other end (no daemon there, the user's own ssh).
 *
 *   struct ssh_target t;
 *   ssh_target_parse("ssh:backup@host:/srv/vm", &t);
 *   const char *remote[] = {"replicate", "--target-side", "list", t.path, NULL};
 *   char **argv;
 *   ssh_target_argv(&t, remote, &argv);   // ssh -o BatchMode=yes -- backup@host 'thinfs' ...
 *   ...
 *   ssh_argv_free(argv);
 *
 * The remote command is one string for the remote shell: every word is
 * single-quoted, so paths with spaces, quotes or $ arrive as they were.
 * $THINFS_SSH replaces "ssh" (split at spaces, e.g. "ssh -p 2222 -i KEY",
 * or a stand-in script), $THINFS_REMOTE replaces the remote "thinfs".
 * Refused: an empty host or path, a host or user starting with '-' (it
 * would be read as an ssh option), control characters.
 */
#ifndef THINFS_SSH_TARGET_H
#define THINFS_SSH_TARGET_H

#include <stdbool.h>
#include <stddef.h>

struct ssh_target {
	char user[64]; /* "" if not given */
	char host[256];
	char path[4096]; /* VG/POOL or a directory, on the remote end */
};

bool ssh_target_is(const char *spec);
/* -EINVAL naming what is wrong. */
int ssh_target_parse(const char *spec, struct ssh_target *out);
/* NULL-terminated argv (malloc'd); remote: the thinfs arguments. */
int ssh_target_argv(const struct ssh_target *t, const char *const remote[], char ***argv);
void ssh_argv_free(char **argv);
/* Appends s single-quoted for a POSIX shell to buf; -ENOSPC if it does not fit. */
int ssh_shell_quote(const char *s, char *buf, size_t len);

#endif
