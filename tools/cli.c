/* cli.c — the shared parts of the subcommands: option parsing, error
 * reporting, opening a pool with its index. */
#include "cli.h"

#include "core/base/err.h"
#include "core/base/path.h"
#include "core/pool/pool.h"
#include "index/index.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tf_cli_fail(const struct tf_cmd *cmd)
{
	fprintf(stderr, "thinfs %s: %s\n", cmd->name, tf_errmsg());
	return TF_EXIT_ERROR;
}

int tf_cli_usage(const struct tf_cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "thinfs %s: ", cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'thinfs %s --help'.\n", cmd->name);
	return TF_EXIT_USAGE;
}

static const char *match_extra(const char *const *extra, const char *opt, bool *takes_value)
{
	for (size_t i = 0; extra && extra[i]; i++) {
		size_t l = strlen(extra[i]);
		bool val = l && extra[i][l - 1] == '=';
		if (val)
			l--;
		if (strncmp(extra[i], opt, l) == 0 && (opt[l] == '\0' || (val && opt[l] == '='))) {
			*takes_value = val;
			return extra[i];
		}
	}
	return NULL;
}

int tf_cli_parse(const struct tf_cmd *cmd, int argc, char **argv, struct tf_cli_common *c,
		 const char *const *extra, tf_cli_extra_fn fn, void *ctx, const char **pos,
		 size_t npos_min, size_t npos_max, size_t *npos)
{
	bool only_pos = false;

	*npos = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool takes_value = false;
		const char *name;

		if (only_pos || a[0] != '-' || a[1] == '\0') {
			if (*npos == npos_max)
				return tf_cli_usage(cmd, "unexpected argument '%s'", a);
			pos[(*npos)++] = a;
			continue;
		}
		if (strcmp(a, "--") == 0) {
			only_pos = true;
		} else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			fputs(cmd->usage, stdout);
			return TF_EXIT_OK;
		} else if (strcmp(a, "--json") == 0) {
			c->json = true;
		} else if (strcmp(a, "--rebuild") == 0) {
			c->rebuild = true;
		} else if (strcmp(a, "--index") == 0 || strncmp(a, "--index=", 8) == 0) {
			if (a[7] == '=')
				c->index_path = a + 8;
			else if (i + 1 < argc)
				c->index_path = argv[++i];
			else
				return tf_cli_usage(cmd, "--index needs a path");
		} else if ((name = match_extra(extra, a + (a[1] == '-' ? 2 : 1), &takes_value))) {
			const char *eq = strchr(a, '=');
			const char *value = NULL;
			size_t nl = strcspn(name, "=");
			char key[64];
			int rc;

			if (takes_value) {
				if (eq)
					value = eq + 1;
				else if (i + 1 < argc)
					value = argv[++i];
				else
					return tf_cli_usage(cmd, "%s needs a value", a);
			}
			snprintf(key, sizeof(key), "%.*s", (int)nl, name);
			if ((rc = fn(ctx, key, value)) >= 0)
				return rc;
		} else {
			return tf_cli_usage(cmd, "unknown option '%s'", a);
		}
	}
	if (*npos < npos_min)
		return tf_cli_usage(cmd, "missing arguments");
	return -1;
}

int tf_cli_open(const char *source, const struct tf_cli_common *c, struct tf_pool **pool,
		struct tf_index **ix, struct tf_index_stats *st)
{
	struct tf_index_stats local;
	char path[4096];
	int rc;

	*pool = NULL;
	*ix = NULL;
	rc = tf_pool_open(source, &(struct tf_pool_opts){0}, pool);
	if (rc < 0)
		return rc;
	if (c->index_path)
		snprintf(path, sizeof(path), "%s", c->index_path);
	else if ((rc = tf_index_pool_path(*pool, path, sizeof(path))) < 0)
		goto fail;
	if ((rc = tf_mkdir_parents(path)) < 0 || (rc = tf_index_open(path, ix)) < 0)
		goto fail;
	tf_index_set_progress(*ix, c->progress);
	rc = tf_index_refresh(*ix, *pool, c->rebuild, st ? st : &local);
	if (rc < 0)
		goto fail;
	return 0;
fail:
	tf_cli_close(*pool, *ix);
	*pool = NULL;
	*ix = NULL;
	return rc;
}

int tf_cli_open_pool(const char *source, struct tf_pool **pool)
{
	*pool = NULL;
	return tf_pool_open(source, &(struct tf_pool_opts){0}, pool);
}

int tf_cli_find_lv(struct tf_pool *p, const char *name, const char *source,
		   const struct tf_lv **out)
{
	const struct tf_lv *lvs;
	size_t n;
	char *end;
	int rc = tf_pool_lvs(p, &lvs, &n);

	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(lvs[i].name, name) == 0) {
			*out = &lvs[i];
			return 0;
		}
	}
	if (name[0] == '#' && name[1]) {
		unsigned long id = strtoul(name + 1, &end, 10);
		for (size_t i = 0; *end == '\0' && i < n; i++) {
			if (lvs[i].thin_id == id) {
				*out = &lvs[i];
				return 0;
			}
		}
	}
	return tf_fail(ENOENT, "%s: no thin volume '%s' in the pool", source, name);
}

void tf_cli_close(struct tf_pool *pool, struct tf_index *ix)
{
	if (ix)
		tf_index_close(ix);
	if (pool)
		tf_pool_close(pool);
}

int tf_cli_find_dev(const struct tf_ix_dev *devs, size_t n, const char *name, const char *source,
		    const struct tf_ix_dev **out)
{
	char *end;

	for (size_t i = 0; i < n; i++) {
		if (strcmp(devs[i].name, name) == 0) {
			*out = &devs[i];
			return 0;
		}
	}
	if (name[0] == '#' && name[1]) {
		unsigned long id = strtoul(name + 1, &end, 10);
		for (size_t i = 0; *end == '\0' && i < n; i++) {
			if (devs[i].thin_id == id) {
				*out = &devs[i];
				return 0;
			}
		}
	}
	return tf_fail(ENOENT, "%s: no thin volume '%s' in the pool", source, name);
}

void tf_cli_human(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = (double)bytes;
	size_t u = 0;

	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%" PRIu64 " B", bytes);
	else
		snprintf(buf, len, "%.2f %s", v, units[u]);
}
