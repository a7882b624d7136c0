/* ssh_target.c — parsing ssh:[USER@]HOST:PATH and building the ssh line. */
#include "ssh_target.h"

#include "core/base/err.h"
#include "core/base/vec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool ssh_target_is(const char *spec)
{
	return strncmp(spec, "ssh:", 4) == 0;
}

static bool has_ctl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

int ssh_target_parse(const char *spec, struct ssh_target *out)
{
	const char *p = spec + 4, *at, *colon, *host;
	size_t hl;

	memset(out, 0, sizeof(*out));
	if (!ssh_target_is(spec))
		return tf_fail(EINVAL, "%s: not an ssh:[USER@]HOST:PATH target", spec);
	if (has_ctl(spec))
		return tf_fail(EINVAL, "%s: control characters in an ssh target", spec);
	host = p;
	at = strchr(p, '@');
	colon = strchr(p, ':');
	if (at && (!colon || at < colon)) {
		if (at == p)
			return tf_fail(EINVAL, "%s: empty user name before '@'", spec);
		if ((size_t)(at - p) >= sizeof(out->user))
			return tf_fail(EINVAL, "%s: user name too long", spec);
		snprintf(out->user, sizeof(out->user), "%.*s", (int)(at - p), p);
		host = at + 1;
	}
	if (*host == '[') { /* [IPv6]:PATH */
		const char *close = strchr(host, ']');
		if (!close || close[1] != ':')
			return tf_fail(EINVAL, "%s: '[' without a matching ']:'", spec);
		host++;
		hl = (size_t)(close - host);
		colon = close + 1;
	} else {
		colon = strchr(host, ':');
		if (!colon)
			return tf_fail(EINVAL, "%s: missing ':PATH' after the host", spec);
		hl = (size_t)(colon - host);
	}
	if (hl == 0)
		return tf_fail(EINVAL, "%s: empty host", spec);
	if (hl >= sizeof(out->host))
		return tf_fail(EINVAL, "%s: host name too long", spec);
	snprintf(out->host, sizeof(out->host), "%.*s", (int)hl, host);
	if (out->host[0] == '-' || out->user[0] == '-')
		return tf_fail(EINVAL, "%s: a host or user may not start with '-'", spec);
	if (strpbrk(out->host, " @/") || strpbrk(out->user, " :/"))
		return tf_fail(EINVAL, "%s: spaces or separators in the host or user", spec);
	if (!colon[1])
		return tf_fail(EINVAL, "%s: empty path (VG/POOL or a directory) after the host",
			       spec);
	if (strlen(colon + 1) >= sizeof(out->path))
		return tf_fail(EINVAL, "%s: path too long", spec);
	snprintf(out->path, sizeof(out->path), "%s", colon + 1);
	return 0;
}

int ssh_shell_quote(const char *s, char *buf, size_t len)
{
	size_t n = strlen(buf);

#define PUT(c)                                                                                     \
	do {                                                                                       \
		if (n + 1 >= len)                                                                  \
			return -ENOSPC;                                                            \
		buf[n++] = (c);                                                                    \
	} while (0)
	PUT('\'');
	for (; *s; s++) {
		if (*s == '\'') { /* close, escaped quote, reopen */
			PUT('\'');
			PUT('\\');
			PUT('\'');
			PUT('\'');
		} else {
			PUT(*s);
		}
	}
	PUT('\'');
#undef PUT
	buf[n] = '\0';
	return 0;
}

void ssh_argv_free(char **argv)
{
	for (size_t i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

int ssh_target_argv(const struct ssh_target *t, const char *const remote[], char ***out)
{
	const char *ssh = getenv("THINFS_SSH"), *thinfs = getenv("THINFS_REMOTE");
	char *words = NULL, *save = NULL, *w, dest[400], cmd[16384] = "";
	size_t n = 0, cap = 16;
	char **argv = calloc(cap, sizeof(*argv));
	int rc = 0;

	*out = NULL;
	if (!argv)
		return tf_fail(ENOMEM, "ssh: out of memory");
	if (!ssh || !*ssh)
		ssh = "ssh";
	if (!thinfs || !*thinfs)
		thinfs = "thinfs";
	words = strdup(ssh);
	if (!words) {
		free(argv);
		return tf_fail(ENOMEM, "ssh: out of memory");
	}
#define ADD(s)                                                                                     \
	do {                                                                                       \
		if (TF_VEC_RESERVE(argv, cap, n + 2) < 0)                                          \
			goto oom;                                                                  \
		if (!(argv[n] = strdup(s)))                                                        \
			goto oom;                                                                  \
		argv[++n] = NULL;                                                                  \
	} while (0)
	for (w = strtok_r(words, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
		ADD(w);
	/* No password prompt from a timer; the user's keys and config apply. */
	ADD("-o");
	ADD("BatchMode=yes");
	if (t->user[0])
		snprintf(dest, sizeof(dest), "%s@%s", t->user, t->host);
	else
		snprintf(dest, sizeof(dest), "%s", t->host);
	ADD("--");
	ADD(dest);
	if (ssh_shell_quote(thinfs, cmd, sizeof(cmd)) < 0)
		goto nospc;
	for (size_t i = 0; remote[i]; i++) {
		size_t l = strlen(cmd);
		if (l + 2 >= sizeof(cmd))
			goto nospc;
		cmd[l] = ' ';
		cmd[l + 1] = '\0';
		if (ssh_shell_quote(remote[i], cmd, sizeof(cmd)) < 0)
			goto nospc;
	}
	ADD(cmd);
#undef ADD
	free(words);
	*out = argv;
	return 0;
nospc:
	rc = tf_fail(E2BIG, "ssh: the remote command line is too long");
	goto fail;
oom:
	rc = tf_fail(ENOMEM, "ssh: out of memory");
fail:
	free(words);
	ssh_argv_free(argv);
	return rc;
}
