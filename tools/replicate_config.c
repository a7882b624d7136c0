/* replicate_config.c — parsing the replicate job file (format in the header). */
#include "replicate_config.h"

#include "core/base/err.h"
#include "core/base/vec.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool rep_valid_prefix(const char *p)
{
	size_t n = strlen(p);

	if (n == 0 || n > 32)
		return false;
	for (; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("+_.-", *p))
			return false;
	return true;
}

int rep_parse_duration(const char *s, long *out)
{
	char *end;
	long mult = 1;
	unsigned long v;

	if (!isdigit((unsigned char)*s))
		return tf_fail(EINVAL, "'%s' is not a duration (e.g. 90, 15m, 2h, 1d)", s);
	errno = 0;
	v = strtoul(s, &end, 10);
	if (*end == 's')
		end++;
	else if (*end == 'm')
		mult = 60, end++;
	else if (*end == 'h')
		mult = 3600, end++;
	else if (*end == 'd')
		mult = 86400, end++;
	if (errno || *end || v > (unsigned long)(LONG_MAX / mult) / 2)
		return tf_fail(EINVAL, "'%s' is not a duration (e.g. 90, 15m, 2h, 1d)", s);
	*out = (long)v * mult;
	return 0;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static bool valid_job_name(const char *s)
{
	if (!*s || strlen(s) >= 64)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("_.-", *s))
			return false;
	return true;
}

static int set_str(char *dst, size_t len, const char *v, const char *file, int line,
		   const char *key)
{
	if (strlen(v) >= len)
		return tf_fail(EINVAL, "%s:%d: %s is too long", file, line, key);
	snprintf(dst, len, "%s", v);
	return 0;
}

static int set_key(struct rep_job *j, const char *k, const char *v, const char *file, int line)
{
	unsigned long n;
	char *end;

	if (strcmp(k, "source") == 0)
		return set_str(j->source, sizeof(j->source), v, file, line, k);
	if (strcmp(k, "target") == 0)
		return set_str(j->target, sizeof(j->target), v, file, line, k);
	if (strcmp(k, "pre") == 0)
		return set_str(j->pre, sizeof(j->pre), v, file, line, k);
	if (strcmp(k, "post") == 0)
		return set_str(j->post, sizeof(j->post), v, file, line, k);
	if (strcmp(k, "prefix") == 0) {
		if (!rep_valid_prefix(v))
			return tf_fail(EINVAL,
				       "%s:%d: prefix '%s' must be 1-32 of A-Z a-z 0-9 + _ . -",
				       file, line, v);
		return set_str(j->prefix, sizeof(j->prefix), v, file, line, k);
	}
	if (strcmp(k, "keep") == 0) {
		errno = 0;
		n = strtoul(v, &end, 10);
		if (!isdigit((unsigned char)*v) || *end || errno || n < 1 || n > 100000)
			return tf_fail(EINVAL, "%s:%d: keep must be a number from 1 to 100000",
				       file, line);
		j->keep = (unsigned)n;
		return 0;
	}
	if (strcmp(k, "every") == 0)
		return tf_fail_ctx(rep_parse_duration(v, &j->every), "%s:%d: every: ", file, line);
	if (strcmp(k, "verify") == 0) {
		if (strcmp(v, "yes") == 0 || strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
			j->verify = true;
		else if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
			j->verify = false;
		else
			return tf_fail(EINVAL, "%s:%d: verify must be yes or no", file, line);
		return 0;
	}
	return tf_fail(EINVAL, "%s:%d: unknown key '%s'", file, line, k);
}

static int check_job(const struct rep_job *j, const char *file)
{
	if (!j->source[0])
		return tf_fail(EINVAL, "%s: job [%s] has no source", file, j->name);
	if (!j->target[0])
		return tf_fail(EINVAL, "%s: job [%s] has no target", file, j->name);
	return 0;
}

int rep_config_parse(const char *text, const char *file, struct rep_config *out)
{
	char *copy = strdup(text), *ln, *p;
	struct rep_job *cur = NULL;
	int line = 0, rc = 0;
	size_t cap = 0;

	memset(out, 0, sizeof(*out));
	if (!copy)
		return tf_fail(ENOMEM, "%s: out of memory", file);
	/* strtok_r would skip empty lines and lose the line count: split by hand. */
	for (ln = copy; ln && rc == 0; ln = p) {
		p = strchr(ln, '\n');
		if (p)
			*p++ = '\0';
		line++;
		char *s = trim(ln);
		if (*s == '\0' || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			char *e = strchr(s, ']');
			if (!e || e[1] != '\0') {
				rc = tf_fail(EINVAL, "%s:%d: a section is [NAME]", file, line);
				break;
			}
			*e = '\0';
			s = trim(s + 1);
			if (!valid_job_name(s)) {
				rc = tf_fail(EINVAL,
					     "%s:%d: job name '%s' must be A-Z a-z 0-9 _ . -", file,
					     line, s);
				break;
			}
			for (size_t i = 0; i < out->n; i++)
				if (strcmp(out->jobs[i].name, s) == 0)
					rc = tf_fail(EINVAL, "%s:%d: job [%s] is defined twice",
						     file, line, s);
			if (rc < 0 || (cur && (rc = check_job(cur, file)) < 0))
				break;
			if (!(cur = TF_VEC_PUSH(out->jobs, out->n, cap))) {
				rc = tf_fail(ENOMEM, "%s: out of memory", file);
				break;
			}
			memset(cur, 0, sizeof(*cur));
			snprintf(cur->name, sizeof(cur->name), "%s", s);
			snprintf(cur->prefix, sizeof(cur->prefix), "%s", REP_DEFAULT_PREFIX);
			cur->keep = REP_DEFAULT_KEEP;
			continue;
		}
		char *eq = strchr(s, '=');
		if (!eq) {
			rc = tf_fail(EINVAL, "%s:%d: expected KEY = VALUE or [JOB]", file, line);
			break;
		}
		*eq = '\0';
		if (!cur) {
			rc = tf_fail(EINVAL, "%s:%d: '%s' outside a [JOB] section", file, line,
				     trim(s));
			break;
		}
		rc = set_key(cur, trim(s), trim(eq + 1), file, line);
	}
	if (rc == 0 && cur)
		rc = check_job(cur, file);
	if (rc == 0 && out->n == 0)
		rc = tf_fail(EINVAL, "%s: no [JOB] sections", file);
	free(copy);
	if (rc < 0)
		rep_config_free(out);
	return rc;
}

int rep_config_load(const char *path, struct rep_config *out)
{
	FILE *f = fopen(path, "re");
	char *text = NULL;
	size_t len = 0;
	int rc;

	if (!f)
		return tf_fail(errno, "%s: %s", path, strerror(errno));
	text = malloc(1 << 20);
	if (!text) {
		fclose(f);
		return tf_fail(ENOMEM, "%s: out of memory", path);
	}
	len = fread(text, 1, (1 << 20) - 1, f);
	if (ferror(f) || !feof(f)) {
		fclose(f);
		free(text);
		return tf_fail(EFBIG, "%s: unreadable or larger than 1 MiB", path);
	}
	fclose(f);
	text[len] = '\0';
	if (strlen(text) != len) {
		free(text);
		return tf_fail(EINVAL, "%s: a NUL byte in a text file", path);
	}
	rc = rep_config_parse(text, path, out);
	free(text);
	return rc;
}

void rep_config_free(struct rep_config *c)
{
	free(c->jobs);
	c->jobs = NULL;
	c->n = 0;
}
