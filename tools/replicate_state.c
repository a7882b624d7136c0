/* replicate_state.c — the per-job state file and lock (format in the header). */
#include "replicate_state.h"

#include "core/base/err.h"
#include "core/base/path.h"
#include "core/io/sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int rep_state_path(const struct rep_job *j, const char *ext, char *buf, size_t len)
{
	const char *dir = getenv("THINFS_STATE_DIR"), *lv = strrchr(j->source, '/');
	struct tf_sha256 c;
	uint8_t d[32];
	char name[64];
	size_t n = 0;

	if (!dir || !*dir)
		dir = "/var/lib/thinfs";
	lv = lv ? lv + 1 : j->source;
	for (; *lv && n < 40; lv++)
		name[n++] = (strchr("/ \t\n", *lv) || (unsigned char)*lv < 0x20) ? '_' : *lv;
	name[n] = '\0';
	tf_sha256_init(&c);
	tf_sha256_update(&c, j->source, strlen(j->source) + 1);
	tf_sha256_update(&c, j->target, strlen(j->target) + 1);
	tf_sha256_update(&c, j->prefix, strlen(j->prefix) + 1);
	tf_sha256_final(&c, d);
	if (snprintf(buf, len, "%s/replicate/%s-%02x%02x%02x%02x%02x%02x%02x%02x%s", dir, name,
		     d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], ext) >= (int)len)
		return tf_fail(ENAMETOOLONG, "%s: state path too long", dir);
	return 0;
}

static void set(char *dst, size_t len, const char *v)
{
	snprintf(dst, len, "%s", v);
}

int rep_state_load(const struct rep_job *j, struct rep_state *st)
{
	char path[4400], line[4400];
	FILE *f;
	int rc;

	memset(st, 0, sizeof(*st));
	set(st->source, sizeof(st->source), j->source);
	set(st->target, sizeof(st->target), j->target);
	set(st->prefix, sizeof(st->prefix), j->prefix);
	if ((rc = rep_state_path(j, ".state", path, sizeof(path))) < 0)
		return rc;
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0 : tf_fail(errno, "%s: %s", path, strerror(errno));
	if (!fgets(line, sizeof(line), f) || strcmp(line, "thinfs-replicate-state 1\n") != 0) {
		fclose(f);
		return tf_fail(EBADMSG, "%s: not a replicate state file (remove it to start over)",
			       path);
	}
	while (fgets(line, sizeof(line), f)) {
		char *v, name[160], key[128];
		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "tkey %159s %127s", name, key) == 2) {
			if ((rc = rep_snaps_add(&st->tkeys, name, key)) < 0)
				break;
			continue;
		}
		if (!(v = strchr(line, '=')))
			continue;
		*v++ = '\0';
		if (!strcmp(line, "last_attempt"))
			st->last_attempt = strtoll(v, NULL, 10);
		else if (!strcmp(line, "last_success"))
			st->last_success = strtoll(v, NULL, 10);
		else if (!strcmp(line, "ok"))
			st->ok = strcmp(v, "1") == 0;
		else if (!strcmp(line, "snapshot"))
			set(st->snapshot, sizeof(st->snapshot), v);
		else if (!strcmp(line, "base"))
			set(st->base, sizeof(st->base), v);
		else if (!strcmp(line, "mode"))
			set(st->mode, sizeof(st->mode), v);
		else if (!strcmp(line, "common"))
			set(st->common, sizeof(st->common), v);
		else if (!strcmp(line, "bytes_sent"))
			st->bytes_sent = strtoull(v, NULL, 10);
		else if (!strcmp(line, "changed_bytes"))
			st->changed_bytes = strtoull(v, NULL, 10);
		else if (!strcmp(line, "duration"))
			st->duration = strtod(v, NULL);
		else if (!strcmp(line, "lag"))
			st->lag = strtod(v, NULL);
		else if (!strcmp(line, "error"))
			set(st->error, sizeof(st->error), v);
	}
	fclose(f);
	return rc < 0 ? rc : 0;
}

int rep_state_save(const struct rep_state *st)
{
	char path[4400], tmp[4500];
	struct rep_job j = {0};
	FILE *f;
	int rc;

	set(j.source, sizeof(j.source), st->source);
	set(j.target, sizeof(j.target), st->target);
	set(j.prefix, sizeof(j.prefix), st->prefix);
	if ((rc = rep_state_path(&j, ".state", path, sizeof(path))) < 0 ||
	    (rc = tf_mkdir_parents(path)) < 0)
		return rc;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (!f)
		return tf_fail(errno, "%s: %s", tmp, strerror(errno));
	fprintf(f, "thinfs-replicate-state 1\nsource=%s\ntarget=%s\nprefix=%s\n", st->source,
		st->target, st->prefix);
	fprintf(f, "last_attempt=%" PRId64 "\nlast_success=%" PRId64 "\nok=%d\n", st->last_attempt,
		st->last_success, st->ok);
	fprintf(f, "snapshot=%s\nbase=%s\nmode=%s\ncommon=%s\n", st->snapshot, st->base, st->mode,
		st->common);
	fprintf(f, "bytes_sent=%" PRIu64 "\nchanged_bytes=%" PRIu64 "\nduration=%.3f\nlag=%.0f\n",
		st->bytes_sent, st->changed_bytes, st->duration, st->lag);
	fprintf(f, "error=");
	for (const char *p = st->error; *p; p++)
		fputc(*p == '\n' ? ' ' : *p, f);
	fputc('\n', f);
	for (size_t i = 0; i < st->tkeys.n; i++)
		fprintf(f, "tkey %s %s\n", st->tkeys.v[i].name, st->tkeys.v[i].key);
	if (fflush(f) != 0 || fsync(fileno(f)) < 0 || ferror(f)) {
		rc = tf_fail(errno ? errno : EIO, "%s: %s", tmp, strerror(errno));
		fclose(f);
		unlink(tmp);
		return rc;
	}
	fclose(f);
	if (rename(tmp, path) < 0) {
		rc = tf_fail(errno, "%s: %s", path, strerror(errno));
		unlink(tmp);
	}
	return rc;
}

void rep_state_free(struct rep_state *st)
{
	rep_snaps_free(&st->tkeys);
}

const char *rep_state_tkey(const struct rep_state *st, const char *name)
{
	for (size_t i = 0; i < st->tkeys.n; i++)
		if (strcmp(st->tkeys.v[i].name, name) == 0)
			return st->tkeys.v[i].key;
	return NULL;
}

int rep_state_lock(const struct rep_job *j, int *fd)
{
	char path[4400];
	int rc;

	*fd = -1;
	if ((rc = rep_state_path(j, ".lock", path, sizeof(path))) < 0 ||
	    (rc = tf_mkdir_parents(path)) < 0)
		return rc;
	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (*fd < 0)
		return tf_fail(errno, "%s: %s", path, strerror(errno));
	if (flock(*fd, LOCK_EX | LOCK_NB) < 0) {
		rc = errno == EWOULDBLOCK ? tf_fail(EWOULDBLOCK,
						    "%s -> %s: the previous cycle is still "
						    "running (%s is locked); skipped",
						    j->source, j->target, path)
					  : tf_fail(errno, "%s: %s", path, strerror(errno));
		close(*fd);
		*fd = -1;
	}
	return rc;
}
