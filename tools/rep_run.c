/* rep_run.c — spawning LVM commands, hooks and ssh for replicate/verify.
 * Modeled on how core/stream/target_lvm.c runs LVM: fork/exec without a
 * shell, LVM_SUPPRESS_FD_WARNINGS set; stderr goes to an unlinked temp file
 * so a chatty child can never block on a pipe nobody reads. */
#include "rep_run.h"

#include "core/base/err.h"
#include "core/base/vec.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int rep_write_all(int fd, const void *buf, size_t len, const char *what)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return tf_fail(errno, "%s: %s", what, strerror(errno));
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int err_file(void)
{
	char tmpl[] = "/tmp/thinfs-rep-err.XXXXXX";
	int fd = mkostemp(tmpl, O_CLOEXEC);

	if (fd >= 0)
		unlink(tmpl);
	return fd;
}

int rep_child_start(const char *const argv[], int want_in, int want_out, struct rep_child *c)
{
	int in[2] = {-1, -1}, out[2] = {-1, -1};

	c->pid = -1;
	c->in = c->out = -1;
	c->err = err_file();
	if (c->err < 0)
		return tf_fail(errno, "%s: cannot make a temp file: %s", argv[0], strerror(errno));
	if ((want_in && pipe2(in, O_CLOEXEC) < 0) || (want_out && pipe2(out, O_CLOEXEC) < 0)) {
		int e = errno;
		close(c->err);
		return tf_fail(e, "%s: %s", argv[0], strerror(e));
	}
	c->pid = fork();
	if (c->pid < 0) {
		int e = errno;
		close(c->err);
		return tf_fail(e, "%s: cannot fork: %s", argv[0], strerror(e));
	}
	if (c->pid == 0) {
		int null = open("/dev/null", O_RDWR);
		signal(SIGPIPE, SIG_DFL);
		dup2(want_in ? in[0] : null, 0);
		dup2(want_out ? out[1] : null, 1);
		dup2(c->err, 2);
		setenv("LVM_SUPPRESS_FD_WARNINGS", "1", 1);
		execvp(argv[0], (char *const *)argv);
		fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (want_in) {
		close(in[0]);
		c->in = in[1];
	}
	if (want_out) {
		close(out[1]);
		c->out = out[0];
	}
	return 0;
}

/* The last non-empty line of the child's stderr. */
static void last_line(int fd, char *buf, size_t len)
{
	char all[8192];
	ssize_t n = pread(fd, all, sizeof(all) - 1, 0);
	char *end, *start;

	buf[0] = '\0';
	if (n <= 0)
		return;
	off_t size = lseek(fd, 0, SEEK_END);
	if (size > (off_t)sizeof(all) - 1)
		n = pread(fd, all, sizeof(all) - 1, size - (off_t)sizeof(all) + 1);
	if (n <= 0)
		return;
	all[n] = '\0';
	end = all + n;
	while (end > all && (end[-1] == '\n' || end[-1] == ' '))
		*--end = '\0';
	start = strrchr(all, '\n');
	snprintf(buf, len, "%.*s", (int)(len - 1), start ? start + 1 : all);
}

int rep_child_wait(struct rep_child *c, const char *what)
{
	char msg[1024];
	int status, rc = 0;

	if (c->in >= 0)
		close(c->in);
	if (c->out >= 0)
		close(c->out);
	c->in = c->out = -1;
	while (waitpid(c->pid, &status, 0) < 0) {
		if (errno != EINTR) {
			status = -1;
			break;
		}
	}
	last_line(c->err, msg, sizeof(msg));
	close(c->err);
	c->err = -1;
	if (status == -1)
		rc = tf_fail(ECHILD, "%s: lost the child process", what);
	else if (WIFSIGNALED(status))
		rc = tf_fail(EIO, "%s: killed by signal %d%s%s", what, WTERMSIG(status),
			     msg[0] ? ": " : "", msg);
	else if (WEXITSTATUS(status) != 0)
		rc = tf_fail(EIO, "%s: exit %d%s%s", what, WEXITSTATUS(status), msg[0] ? ": " : "",
			     msg[0] ? msg : "");
	return rc;
}

int rep_run(const char *const argv[], char **out)
{
	struct rep_child c;
	size_t have = 0, cap = 4096;
	char *buf = NULL, what[256];
	int rc;

	if (out)
		*out = NULL;
	if ((rc = rep_child_start(argv, 0, 1, &c)) < 0)
		return rc;
	buf = malloc(cap);
	for (;;) {
		if (buf && have + 1 == cap && TF_VEC_RESERVE(buf, cap, cap * 2) < 0) {
			free(buf);
			buf = NULL; /* read on into a sink; the caller gets no output */
		}
		char sink[4096];
		ssize_t n = buf ? read(c.out, buf + have, cap - 1 - have) : read(c.out, sink, 4096);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (buf)
			have += (size_t)n;
	}
	snprintf(what, sizeof(what), "%s %s", argv[0], argv[1] ? argv[1] : "");
	rc = rep_child_wait(&c, what);
	if (rc == 0 && !buf)
		rc = tf_fail(ENOMEM, "%s: out of memory", what);
	if (buf)
		buf[have] = '\0';
	if (rc == 0 && out)
		*out = buf;
	else
		free(buf);
	return rc;
}

int rep_run_shell(const char *cmd, const char *what)
{
	const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
	struct rep_child c;
	int rc;

	if ((rc = rep_child_start(argv, 0, 0, &c)) < 0)
		return rc;
	return rep_child_wait(&c, what);
}

/* A thinfs process killed while it read an inactive snapshot leaves its
 * private read-only thin target "thinfs-<pid>-<thin id>" behind, and the
 * kernel opens a thin device only once: the next cycle could neither read
 * nor prune that snapshot.  Removes such targets of processes that are
 * gone (never one of a live process, e.g. a mount). */
void rep_remove_stale_private_targets(void)
{
	const char *ls[] = {"dmsetup", "ls", NULL};
	char *text = NULL, *save = NULL, *line;

	if (rep_run(ls, &text) < 0)
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
		if (rep_run(rm, NULL) == 0)
			fprintf(stderr, "thinfs: removed %s, left by a killed thinfs process\n",
				name);
	}
	free(text);
}
