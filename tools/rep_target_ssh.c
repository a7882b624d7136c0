/* rep_target_ssh.c — a replicate target on another host, reached with the
 * user's own ssh: every operation is one `thinfs replicate --target-side OP
 * PATH ...` run there (no daemon), the stream goes over ssh's stdin, and
 * only names, keys and hashes come back.  Also the serving end of it. */
#include "rep_target.h"

#include "feed_stdin.h"
#include "ssh_target.h"

#include "core/base/err.h"
#include "core/base/run.h"
#include "core/io/fdio.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct ssh_rtarget {
	struct rep_target t;
	struct ssh_target s;
	struct tf_child c;
	bool receiving;
};

static struct ssh_rtarget *st(struct rep_target *t)
{
	return (struct ssh_rtarget *)t;
}

/* ssh may pass LC_* on to the far end: keep the user's, not C. */
static const struct tf_run_opts ssh_opts = {.keep_locale = true};

/* Runs thinfs with `args` on the remote end; its stdout to *out. */
static int remote(struct ssh_rtarget *s, const char *const args[], char **out)
{
	char **argv;
	int rc = ssh_target_argv(&s->s, args, &argv);

	if (rc < 0)
		return rc;
	rc = tf_run_ok((const char *const *)argv, &ssh_opts, out);
	ssh_argv_free(argv);
	return rc < 0 ? tf_fail_ctx(rc, "%s: ", s->t.spec) : 0;
}

static int ssh_list(struct rep_target *t, const char *lv, const char *prefix, struct rep_snaps *out)
{
	struct ssh_rtarget *s = st(t);
	const char *args[] = {"replicate", "--target-side", "list", s->s.path, lv, prefix, NULL};
	char *text = NULL, *save = NULL, *line;
	int rc = remote(s, args, &text);

	memset(out, 0, sizeof(*out));
	for (line = rc == 0 ? strtok_r(text, "\n", &save) : NULL; line && rc == 0;
	     line = strtok_r(NULL, "\n", &save)) {
		char name[160], key[128];
		if (sscanf(line, "%159s %127s", name, key) != 2 ||
		    !rep_snap_name_matches(name, lv, prefix))
			rc = tf_fail(EBADMSG, "%s: unexpected answer to list: '%.80s'", t->spec,
				     line);
		else
			rc = rep_snaps_add(out, name, key);
	}
	free(text);
	if (rc < 0)
		rep_snaps_free(out);
	rep_snaps_sort(out);
	return rc;
}

static int ssh_recv_begin(struct rep_target *t, const char *base, const char *name)
{
	struct ssh_rtarget *s = st(t);
	const char *args[] = {"replicate", "--target-side", "receive", s->s.path, name, base, NULL};
	char **argv;
	int rc = ssh_target_argv(&s->s, args, &argv);

	if (rc < 0)
		return rc;
	signal(SIGPIPE, SIG_IGN); /* a dropped link is an EPIPE, reported */
	rc = tf_child_start((const char *const *)argv, true, false, false, &s->c);
	ssh_argv_free(argv);
	s->receiving = rc == 0;
	return rc;
}

static int ssh_recv_write(struct rep_target *t, const void *buf, size_t len)
{
	struct ssh_rtarget *s = st(t);
	int rc = tf_write_all(s->c.in, buf, len, t->spec);

	/* The far end stopped reading: its own message says why. */
	if (rc == -EPIPE && s->receiving) {
		s->receiving = false;
		rc = tf_child_wait(&s->c, t->spec);
		if (rc == 0)
			rc = tf_fail(EPIPE, "%s: the receiving end quit early", t->spec);
	}
	return rc;
}

static int ssh_recv_end(struct rep_target *t, bool ok)
{
	struct ssh_rtarget *s = st(t);
	int rc;

	if (!s->receiving) /* already reaped by a failed write */
		return ok ? tf_fail(EPIPE, "%s: the receiving end quit early", t->spec)
			  : -ECANCELED;
	s->receiving = false;
	if (!ok) /* the other end sees a cut stream and keeps its target */
		kill(s->c.pid, SIGTERM);
	rc = tf_child_wait(&s->c, t->spec);
	return ok ? rc : -ECANCELED;
}

static int ssh_prune(struct rep_target *t, const char *name)
{
	const char *args[] = {"replicate", "--target-side", "prune", st(t)->s.path, name, NULL};
	return remote(st(t), args, NULL);
}

static int ssh_hashes(struct rep_target *t, const char *name, struct rep_hashes *out)
{
	struct ssh_rtarget *s = st(t);
	const char *args[] = {"replicate", "--target-side", "hashes", s->s.path, name, NULL};
	char *text = NULL;
	int rc = remote(s, args, &text);
	FILE *f;

	if (rc < 0)
		return rc;
	f = fmemopen(text, strlen(text), "r");
	rc = f ? rep_hashes_read(f, t->spec, out) : tf_fail(ENOMEM, "out of memory");
	if (f)
		fclose(f);
	free(text);
	return rc;
}

static int ssh_usage(struct rep_target *t, double *data, double *meta)
{
	const char *args[] = {"replicate", "--target-side", "usage", st(t)->s.path, NULL};
	char *text = NULL;
	int rc = remote(st(t), args, &text);

	if (rc == 0 && sscanf(text, "%lf %lf", data, meta) != 2)
		rc = -ENOTSUP;
	free(text);
	return rc;
}

static void ssh_free(struct rep_target *t)
{
	if (st(t)->receiving)
		ssh_recv_end(t, false);
	free(t);
}

static const struct rep_target_ops ssh_ops = {
    .list = ssh_list,
    .recv_begin = ssh_recv_begin,
    .recv_write = ssh_recv_write,
    .recv_end = ssh_recv_end,
    .prune = ssh_prune,
    .hashes = ssh_hashes,
    .usage = ssh_usage,
    .free = ssh_free,
};

int rep_target_ssh_open(const char *spec, struct rep_target **out)
{
	struct ssh_rtarget *s = calloc(1, sizeof(*s));
	int rc;

	if (!s)
		return tf_fail(ENOMEM, "out of memory");
	if ((rc = ssh_target_parse(spec, &s->s)) < 0) {
		free(s);
		return rc;
	}
	s->t.ops = &ssh_ops;
	snprintf(s->t.spec, sizeof(s->t.spec), "%s", spec);
	*out = &s->t;
	return 0;
}

/* ---- the remote end ---- */

static int serve_write(void *ctx, const char *buf, size_t n, uint64_t off, struct tf_progress *pr)
{
	struct rep_target *t = ctx;

	(void)off;
	(void)pr;
	return t->ops->recv_write(t, buf, n);
}

static int serve_receive(struct rep_target *t, const char *name, const char *base)
{
	const struct feed_sink sk = {.write = serve_write, .ctx = t};
	int rc;

	if ((rc = t->ops->recv_begin(t, base, name)) < 0)
		return rc;
	rc = feed_stdin(&sk, 0, false);
	if (rc < 0) {
		char msg[1024];
		snprintf(msg, sizeof(msg), "%s", tf_errmsg());
		t->ops->recv_end(t, false);
		return tf_fail(-rc, "%s", msg);
	}
	return t->ops->recv_end(t, true);
}

int rep_target_side(int argc, char **argv)
{
	struct rep_target *t = NULL;
	const char *op = argc > 0 ? argv[0] : "";
	int rc;

	if (argc < 2 || ssh_target_is(argv[1])) {
		fprintf(stderr, "thinfs replicate --target-side: OP TARGET ARGS (list, receive, "
				"prune, hashes, usage)\n");
		return 2;
	}
	if ((rc = rep_target_open(argv[1], &t)) < 0)
		goto out;
	if (strcmp(op, "list") == 0 && argc == 4) {
		struct rep_snaps s;
		if ((rc = t->ops->list(t, argv[2], argv[3], &s)) == 0) {
			for (size_t i = 0; i < s.n; i++)
				printf("%s %s\n", s.v[i].name, s.v[i].key);
			rep_snaps_free(&s);
		}
	} else if (strcmp(op, "receive") == 0 && (argc == 3 || argc == 4)) {
		rc = serve_receive(t, argv[2], argc == 4 ? argv[3] : NULL);
	} else if (strcmp(op, "prune") == 0 && argc == 3) {
		rc = t->ops->prune(t, argv[2]);
	} else if (strcmp(op, "hashes") == 0 && argc == 3) {
		struct rep_hashes h;
		if ((rc = t->ops->hashes(t, argv[2], &h)) == 0) {
			rc = rep_hashes_write(&h, stdout);
			rep_hashes_free(&h);
		}
	} else if (strcmp(op, "usage") == 0 && argc == 2) {
		double d, m;
		if (t->ops->usage(t, &d, &m) == 0)
			printf("%.2f %.2f\n", d, m);
		else
			printf("- -\n");
		rc = 0;
	} else {
		t->ops->free(t);
		fprintf(stderr, "thinfs replicate --target-side: bad operation '%s' or arguments\n",
			op);
		return 2;
	}
out:
	if (t)
		t->ops->free(t);
	if (rc < 0) {
		fprintf(stderr, "thinfs replicate: %s\n", tf_errmsg());
		return 1;
	}
	return fflush(stdout) == 0 ? 0 : 1;
}
