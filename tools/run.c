/* run.c — runs a program without a shell and captures its output (run.h). */
#include "run.h"

#include "core/base/err.h"
#include "core/base/vec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct capture {
	char *buf;
	size_t len, cap;
};

static int capture_read(int fd, struct capture *c)
{
	char tmp[4096];
	ssize_t n = read(fd, tmp, sizeof(tmp));

	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 1 : -errno;
	if (n == 0)
		return 0;
	if (TF_VEC_RESERVE(c->buf, c->cap, c->len + (size_t)n + 1) < 0)
		return -ENOMEM;
	memcpy(c->buf + c->len, tmp, (size_t)n);
	c->len += (size_t)n;
	c->buf[c->len] = '\0';
	return 1;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void child(const char *const argv[], int out, int err, int report)
{
	int devnull = open("/dev/null", O_RDONLY);

	if (devnull >= 0)
		dup2(devnull, 0);
	dup2(out, 1);
	dup2(err, 2);
	setenv("LVM_SUPPRESS_FD_WARNINGS", "1", 1);
	setenv("LC_ALL", "C", 1); /* numbers and messages in one known form */
	execvp(argv[0], (char *const *)argv);
	int e = errno;
	if (write(report, &e, sizeof(e)) < 0)
		_exit(127);
	_exit(127);
}

/* Reads both pipes until they close or the deadline passes. */
static int drain(int fds[2], struct capture cap[2], long long deadline)
{
	int open_fds = 2;

	while (open_fds > 0) {
		struct pollfd p[2] = {{.fd = fds[0], .events = POLLIN},
				      {.fd = fds[1], .events = POLLIN}};
		long long left = deadline - now_ms();
		int n;

		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(p, 2, (int)(left > 1000 ? 1000 : left));
		if (n < 0 && errno != EINTR)
			return -errno;
		for (int i = 0; n > 0 && i < 2; i++) {
			if (fds[i] < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			int rc = capture_read(fds[i], &cap[i]);
			if (rc < 0)
				return rc;
			if (rc == 0) {
				close(fds[i]);
				fds[i] = -1;
				open_fds--;
			}
		}
	}
	return 0;
}

int tf_run(const char *const argv[], int timeout_ms, struct tf_run_result *r)
{
	int po[2] = {-1, -1}, pe[2] = {-1, -1}, pr[2] = {-1, -1};
	struct capture cap[2] = {{0}, {0}};
	int fds[2], status = 0, exec_errno = 0, rc;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0 || pipe2(pr, O_CLOEXEC) < 0) {
		rc = tf_fail(errno, "%s: cannot create a pipe: %s", argv[0], strerror(errno));
		goto out_pipes;
	}
	pid = fork();
	if (pid < 0) {
		rc = tf_fail(errno, "%s: cannot fork: %s", argv[0], strerror(errno));
		goto out_pipes;
	}
	if (pid == 0)
		child(argv, po[1], pe[1], pr[1]);
	close(po[1]);
	close(pe[1]);
	close(pr[1]);
	po[1] = pe[1] = pr[1] = -1;
	fds[0] = po[0];
	fds[1] = pe[0];
	po[0] = pe[0] = -1;
	rc = drain(fds, cap, now_ms() + timeout_ms);
	if (rc < 0)
		kill(pid, SIGKILL);
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (read(pr[0], &exec_errno, sizeof(exec_errno)) != (ssize_t)sizeof(exec_errno))
		exec_errno = 0;
	close(pr[0]);
	pr[0] = -1;
	if (exec_errno)
		rc = tf_fail(exec_errno, "%s: cannot run it: %s", argv[0], strerror(exec_errno));
	else if (rc == -ETIMEDOUT)
		rc = tf_fail(ETIMEDOUT, "%s: no answer within %d s; killed", argv[0],
			     timeout_ms / 1000);
	else if (rc < 0)
		rc = tf_fail(-rc, "%s: reading its output: %s", argv[0], strerror(-rc));
	if (rc == 0) {
		r->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		r->out = cap[0].buf ? cap[0].buf : strdup("");
		r->err = cap[1].buf ? cap[1].buf : strdup("");
		r->out_len = cap[0].len;
		r->err_len = cap[1].len;
		if (!r->out || !r->err) {
			tf_run_free(r);
			return tf_fail(ENOMEM, "%s: out of memory", argv[0]);
		}
		return 0;
	}
	free(cap[0].buf);
	free(cap[1].buf);
out_pipes:
	for (int i = 0; i < 2; i++) {
		if (po[i] >= 0)
			close(po[i]);
		if (pe[i] >= 0)
			close(pe[i]);
		if (pr[i] >= 0)
			close(pr[i]);
	}
	return rc;
}

void tf_run_free(struct tf_run_result *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

void tf_run_first_line(const char *s, char *buf, size_t n)
{
	size_t l;

	while (s && (*s == ' ' || *s == '\n'))
		s++;
	l = s ? strcspn(s, "\n") : 0;
	snprintf(buf, n, "%.*s", (int)l, s ? s : "");
}
