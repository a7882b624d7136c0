/* run.c — runs a program without a shell: its stdout through a pipe, its
 * stderr into an unlinked temp file, its exit status turned into one
 * message (run.h). */
#include "core/base/run.h"

#include "core/base/err.h"
#include "core/base/vec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int err_file(void)
{
	char tmpl[] = "/tmp/thinfs-run-err.XXXXXX";
	int fd = mkostemp(tmpl, O_CLOEXEC);

	if (fd >= 0)
		unlink(tmpl);
	return fd;
}

static void close_pair(int p[2])
{
	for (int i = 0; i < 2; i++)
		if (p[i] >= 0)
			close(p[i]);
	p[0] = p[1] = -1;
}

extern char **environ;

/* The child's environment, made before the fork: between fork and exec a
 * child of a threaded process (the FUSE server refreshes through LVM
 * commands) may only make async-signal-safe calls, and setenv allocates.
 * The caller's environment without the names set here, plus them. */
static char **child_env(bool c_locale)
{
	static char suppress[] = "LVM_SUPPRESS_FD_WARNINGS=1", c_all[] = "LC_ALL=C";
	size_t n = 0, k = 0;
	char **env;

	while (environ && environ[n])
		n++;
	if (!(env = calloc(n + 3, sizeof(*env))))
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (strncmp(environ[i], "LVM_SUPPRESS_FD_WARNINGS=", 25) == 0 ||
		    (c_locale && strncmp(environ[i], "LC_ALL=", 7) == 0))
			continue;
		env[k++] = environ[i];
	}
	env[k++] = suppress;
	if (c_locale)
		env[k++] = c_all;
	env[k] = NULL;
	return env;
}

/* In the child: wires stdin/stdout/stderr and execs; on failure its errno
 * goes up the report pipe (close-on-exec, so an exec closes it empty).
 * Only async-signal-safe calls (see child_env). */
static void child(const char *const argv[], char **env, int in, int out, int err, int report)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	signal(SIGPIPE, SIG_DFL);
	dup2(in >= 0 ? in : null, 0);
	dup2(out >= 0 ? out : null, 1);
	dup2(err, 2);
	execvpe(argv[0], (char *const *)argv, env);
	int e = errno;
	if (write(report, &e, sizeof(e)) < 0)
		_exit(127);
	_exit(127);
}

int tf_child_start(const char *const argv[], bool want_in, bool want_out, bool c_locale,
		   struct tf_child *c)
{
	int in[2] = {-1, -1}, out[2] = {-1, -1}, rep[2] = {-1, -1}, e = 0, status;
	char **env = child_env(c_locale);
	ssize_t n;

	if (!env)
		return tf_fail(ENOMEM, "%s: out of memory", argv[0]);
	c->pid = -1;
	c->in = c->out = -1;
	c->err = err_file();
	if (c->err < 0) {
		e = errno;
		free(env);
		return tf_fail(e, "%s: cannot make a temp file: %s", argv[0], strerror(e));
	}
	if ((want_in && pipe2(in, O_CLOEXEC) < 0) || (want_out && pipe2(out, O_CLOEXEC) < 0) ||
	    pipe2(rep, O_CLOEXEC) < 0) {
		e = errno;
		goto fail;
	}
	c->pid = fork();
	if (c->pid < 0) {
		e = errno;
		goto fail;
	}
	if (c->pid == 0)
		child(argv, env, in[0], out[1], c->err, rep[1]);
	free(env);
	env = NULL;
	close(rep[1]);
	rep[1] = -1;
	while ((n = read(rep[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	if (n != (ssize_t)sizeof(e))
		e = 0;
	close(rep[0]);
	if (e) {
		while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
			;
		close_pair(in);
		close_pair(out);
		close(c->err);
		c->err = -1;
		return tf_fail(e, "cannot run %s: %s", argv[0], strerror(e));
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
fail:
	free(env);
	close_pair(in);
	close_pair(out);
	close_pair(rep);
	close(c->err);
	c->err = -1;
	return tf_fail(e, "%s: cannot start it: %s", argv[0], strerror(e));
}

/* The last non-empty line of s[0..n), for messages. */
static void last_line(const char *s, size_t n, char *buf, size_t len)
{
	const char *end = s + n, *start;

	while (end > s && (end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\0'))
		end--;
	for (start = end; start > s && start[-1] != '\n'; start--)
		;
	snprintf(buf, len, "%.*s", (int)(end - start), start);
}

/* One message for a wait status other than a clean exit (0 for that),
 * with the last line the program said on stderr (err[0..n)). */
static int status_fail(int status, const char *err, size_t n, const char *what)
{
	char msg[1024];

	last_line(err, n, msg, sizeof(msg));
	if (status == -1)
		return tf_fail(ECHILD, "%s: lost the child process", what);
	if (WIFSIGNALED(status))
		return tf_fail(EIO, "%s: killed by signal %d%s%s", what, WTERMSIG(status),
			       msg[0] ? ": " : "", msg);
	if (WEXITSTATUS(status) != 0)
		return tf_fail(EIO, "%s: exit %d%s%s", what, WEXITSTATUS(status),
			       msg[0] ? ": " : "", msg);
	return 0;
}

static int reap(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return status;
}

int tf_child_wait(struct tf_child *c, const char *what)
{
	char tail[8192]; /* the end of its stderr */
	off_t size, from;
	ssize_t n;
	int rc, status;

	if (c->in >= 0)
		close(c->in);
	if (c->out >= 0)
		close(c->out);
	c->in = c->out = -1;
	status = reap(c->pid);
	size = lseek(c->err, 0, SEEK_END);
	from = size > (off_t)sizeof(tail) ? size - (off_t)sizeof(tail) : 0;
	n = size > 0 ? pread(c->err, tail, sizeof(tail), from) : 0;
	rc = status_fail(status, tail, n > 0 ? (size_t)n : 0, what);
	close(c->err);
	c->err = -1;
	return rc;
}

static off_t file_size(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 ? st.st_size : 0;
}

/* Reads the child's stdout into *buf until it closes, within the deadline
 * (0: none) and the bound on each stream. */
static int drain(struct tf_child *c, long long deadline, size_t max, char **buf, size_t *len)
{
	size_t cap = 0;

	for (;;) {
		struct pollfd p = {.fd = c->out, .events = POLLIN};
		long long left = deadline ? deadline - now_ms() : 1000;
		ssize_t n;

		if (left <= 0)
			return -ETIMEDOUT;
		if ((size_t)file_size(c->err) > max)
			return -EFBIG;
		if (poll(&p, 1, (int)(left > 1000 ? 1000 : left)) < 0 && errno != EINTR)
			return -errno;
		if (!p.revents)
			continue;
		if (TF_VEC_RESERVE(*buf, cap, *len + 4096 + 1) < 0)
			return -ENOMEM;
		(*buf)[*len] = '\0'; /* terminated even when nothing more comes */
		n = read(c->out, *buf + *len, cap - *len - 1);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		*len += (size_t)n;
		(*buf)[*len] = '\0';
		if (*len > max)
			return -EFBIG;
	}
}

/* Waits for the child that closed its stdout, killing it at the deadline. */
static int wait_until(pid_t pid, long long deadline, int *status)
{
	for (;;) {
		pid_t w = waitpid(pid, status, deadline ? WNOHANG : 0);
		if (w == pid)
			return 0;
		if (w < 0 && errno != EINTR)
			return -errno;
		if (w == 0 && now_ms() >= deadline) {
			kill(pid, SIGKILL);
			*status = reap(pid);
			return -ETIMEDOUT;
		}
		if (w == 0)
			poll(NULL, 0, 10);
	}
}

/* The whole stderr file, NUL-terminated (it is at most max bytes). */
static int read_err(int fd, char **out, size_t *len)
{
	off_t size = file_size(fd);
	ssize_t n;

	*out = malloc((size_t)size + 1);
	if (!*out)
		return -ENOMEM;
	n = size > 0 ? pread(fd, *out, (size_t)size, 0) : 0;
	if (n < 0)
		return -errno;
	(*out)[n] = '\0';
	*len = (size_t)n;
	return 0;
}

/* tf_run_with, and the raw wait status for tf_run_ok's message. */
static int run(const char *const argv[], const struct tf_run_opts *o, struct tf_run_result *r,
	       int *wait_status)
{
	size_t max = o->max_out ? o->max_out : TF_RUN_OUT_MAX;
	long long deadline = o->timeout_ms > 0 ? now_ms() + o->timeout_ms : 0;
	struct tf_child c;
	int rc, status = 0;

	memset(r, 0, sizeof(*r));
	if ((rc = tf_child_start(argv, false, true, !o->keep_locale, &c)) < 0)
		return rc;
	rc = drain(&c, deadline, max, &r->out, &r->out_len);
	close(c.out);
	if (rc < 0) {
		kill(c.pid, SIGKILL);
		status = reap(c.pid);
	} else {
		rc = wait_until(c.pid, deadline, &status);
	}
	if (rc == 0 && (size_t)file_size(c.err) > max)
		rc = -EFBIG;
	if (rc == 0)
		rc = read_err(c.err, &r->err, &r->err_len);
	close(c.err);
	if (rc == 0 && !r->out && !(r->out = strdup("")))
		rc = -ENOMEM;
	if (rc == 0) {
		r->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		*wait_status = status;
		return 0;
	}
	tf_run_free(r);
	if (rc == -ETIMEDOUT)
		return tf_fail(ETIMEDOUT, "%s: no answer within %d s; killed", argv[0],
			       o->timeout_ms / 1000);
	if (rc == -EFBIG)
		return tf_fail(EFBIG, "%s: printed more than %zu KiB; killed", argv[0], max / 1024);
	if (rc == -ENOMEM)
		return tf_fail(ENOMEM, "%s: out of memory", argv[0]);
	return tf_fail(-rc, "%s: reading its output: %s", argv[0], strerror(-rc));
}

int tf_run_with(const char *const argv[], const struct tf_run_opts *o, struct tf_run_result *r)
{
	int status;

	return run(argv, o, r, &status);
}

int tf_run(const char *const argv[], int timeout_ms, struct tf_run_result *r)
{
	const struct tf_run_opts o = {.timeout_ms = timeout_ms};

	return tf_run_with(argv, &o, r);
}

void tf_run_free(struct tf_run_result *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

int tf_run_ok(const char *const argv[], const struct tf_run_opts *o, char **out)
{
	static const struct tf_run_opts none;
	struct tf_run_result r;
	char what[256];
	int rc, status;

	if (out)
		*out = NULL;
	if ((rc = run(argv, o ? o : &none, &r, &status)) < 0)
		return rc;
	snprintf(what, sizeof(what), "%s%s%s", argv[0], argv[1] ? " " : "", argv[1] ? argv[1] : "");
	rc = status_fail(status, r.err, r.err_len, what);
	if (rc == 0 && out) {
		*out = r.out;
		r.out = NULL;
	}
	tf_run_free(&r);
	return rc;
}

int tf_run_shell(const char *cmd, const char *what)
{
	const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
	struct tf_child c;
	int rc;

	if ((rc = tf_child_start(argv, false, false, false, &c)) < 0)
		return rc;
	return tf_child_wait(&c, what);
}

void tf_run_first_line(const char *s, char *buf, size_t n)
{
	size_t l;

	while (s && (*s == ' ' || *s == '\n'))
		s++;
	l = s ? strcspn(s, "\n") : 0;
	snprintf(buf, n, "%.*s", (int)l, s ? s : "");
}
