/* target_lock.c — one receive per target at a time, across processes and
 * mounts.
 *
 * The lock is flock(2) on a lock file: the kernel drops it when its holder
 * exits or is killed, so a crashed receive never blocks the next one.  The
 * file is opened relative to a directory fd with O_NOFOLLOW (a symlink
 * planted in its place is refused, never followed) and O_NONBLOCK (a FIFO
 * cannot hang the open).  The holder removes the file when it is done; a
 * newcomer that locked a file unlinked in between sees that the name no
 * longer leads to its inode and tries again, so two holders never coexist.
 * The holder's pid is written into the file for the refusal message.
 */
#include "core/stream/receive_internal.h"

#include "core/base/err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int tf_target_lock(int dirfd, const char *name, const char *target, int *out)
{
	struct stat a, b;
	char pid[32];
	ssize_t n;

	for (int tries = 0; tries < 16; tries++) {
		int fd = openat(dirfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
				0600);
		if (fd < 0)
			return tf_fail(errno == ELOOP ? EPERM : errno, "%s: lock file %s: %s%s",
				       target, name, strerror(errno),
				       errno == ELOOP ? " (a symlink; refusing to follow it)" : "");
		if (fstat(fd, &a) < 0 || !S_ISREG(a.st_mode)) {
			close(fd);
			return tf_fail(EPERM, "%s: lock file %s is not a regular file; refusing",
				       target, name);
		}
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			int e = errno;
			n = pread(fd, pid, sizeof(pid) - 1, 0);
			close(fd);
			if (e != EWOULDBLOCK)
				return tf_fail(e, "%s: lock file %s: %s", target, name,
					       strerror(e));
			pid[n > 0 ? n : 0] = '\0';
			pid[strcspn(pid, "\n")] = '\0';
			return tf_fail(EBUSY,
				       "%s: another receive into it is running%s%s%s; one "
				       "receive per target at a time",
				       target, *pid ? " (pid " : "", pid, *pid ? ")" : "");
		}
		if (fstatat(dirfd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 && b.st_dev == a.st_dev &&
		    b.st_ino == a.st_ino) {
			n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
			if (ftruncate(fd, 0) == 0 && pwrite(fd, pid, (size_t)n, 0) < 0) {
				/* only the message would lack the pid */
			}
			*out = fd;
			return 0;
		}
		close(fd); /* the previous holder removed it meanwhile: again */
	}
	return tf_fail(EBUSY, "%s: lock file %s keeps changing; another receive is running", target,
		       name);
}

void tf_target_unlock(int dirfd, const char *name, int fd)
{
	if (fd < 0)
		return;
	unlinkat(dirfd, name, 0); /* still held: nobody else can own this name's inode */
	close(fd);
}

int tf_lv_lock(struct tf_lv_lock *k, const char *vg, const char *lv, const char *target)
{
	const char *dir = getenv("THINFS_LOCK_DIR");

	if (!dir || !*dir)
		dir = "/run/lock/thinfs";
	mkdir(dir, 0700);
	k->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (k->dirfd < 0)
		return tf_fail(errno, "%s: lock directory %s: %s", target, dir, strerror(errno));
	snprintf(k->name, sizeof(k->name), "%.127s-%.127s.lock", vg, lv);
	return tf_target_lock(k->dirfd, k->name, target, &k->fd);
}

void tf_lv_unlock(struct tf_lv_lock *k)
{
	tf_target_unlock(k->dirfd, k->name, k->fd);
	if (k->dirfd >= 0)
		close(k->dirfd);
	k->dirfd = k->fd = -1;
}
