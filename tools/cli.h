/* cli.h — the one contract every thinfs subcommand follows.
 *
 * Exit codes: 0 success, 1 error (one stderr line naming the object and the
 * cause), 2 usage (the line, then a pointer to --help).  Every subcommand
 * answers --help on stdout with exit 0.
 */
#ifndef THINFS_CLI_H
#define THINFS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tf_pool;
struct tf_index;
struct tf_index_stats;
struct tf_ix_dev;

enum { TF_EXIT_OK = 0, TF_EXIT_ERROR = 1, TF_EXIT_USAGE = 2 };

struct tf_cmd {
	const char *name;
	const char *summary;
	const char *usage; /* full --help text */
	int (*run)(const struct tf_cmd *cmd, int argc, char **argv);
};

/* Prints "thinfs CMD: <current error message>" and returns TF_EXIT_ERROR. */
int tf_cli_fail(const struct tf_cmd *cmd);
/* Prints "thinfs CMD: <msg>" and the --help hint; returns TF_EXIT_USAGE. */
int tf_cli_usage(const struct tf_cmd *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Parses the options shared by the commands: --help, --json, --index PATH,
 * --rebuild.  Positional arguments are left in pos[] (at most npos_max).
 * Returns -1 to continue, or an exit code to return at once.  `extra` lists
 * further long options the command accepts as "name" or "name=" (takes a
 * value), reported through the extra callback. */
struct tf_progress;
struct tf_cli_common {
	bool json;
	bool rebuild;
	const char *index_path;
	struct tf_progress *progress; /* set by the command: tf_cli_open's refresh reports to it */
};
typedef int (*tf_cli_extra_fn)(void *ctx, const char *name, const char *value);
int tf_cli_parse(const struct tf_cmd *cmd, int argc, char **argv, struct tf_cli_common *c,
		 const char *const *extra, tf_cli_extra_fn fn, void *ctx, const char **pos,
		 size_t npos_min, size_t npos_max, size_t *npos);

/* Opens the pool and its index and brings the index up to date. */
int tf_cli_open(const char *source, const struct tf_cli_common *c, struct tf_pool **pool,
		struct tf_index **ix, struct tf_index_stats *st);
void tf_cli_close(struct tf_pool *pool, struct tf_index *ix);

/* Opens the pool alone, for questions answered from its metadata with no
 * index (diff, send --from): nothing is built in front of them. */
int tf_cli_open_pool(const char *source, struct tf_pool **pool);
/* Finds a thin LV in the pool's own LV list by name or "#<thin id>". */
struct tf_lv;
int tf_cli_find_lv(struct tf_pool *p, const char *name, const char *source,
		   const struct tf_lv **out);

/* Finds a device by LV name, or by "#<thin id>"; -ENOENT names what is missing. */
int tf_cli_find_dev(const struct tf_ix_dev *devs, size_t n, const char *name, const char *source,
		    const struct tf_ix_dev **out);

/* "128.00 MiB" */
void tf_cli_human(uint64_t bytes, char *buf, size_t len);

extern const struct tf_cmd tf_cmd_ls, tf_cmd_diff, tf_cmd_index, tf_cmd_mount, tf_cmd_umount,
    tf_cmd_send, tf_cmd_receive, tf_cmd_replicate, tf_cmd_verify, tf_cmd_doctor;

#endif
