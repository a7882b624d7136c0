/* strbuf.h — a growable string with printf-style appends and JSON string
 * escaping, shared by the status file and the --json outputs. */
#ifndef THINFS_STRBUF_H
#define THINFS_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

struct tf_strbuf {
	char *s;
	size_t len, cap;
	bool oom; /* an append failed: the content is truncated */
};

void tf_sb_printf(struct tf_strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a quoted JSON string (NULL as null). */
void tf_sb_json_str(struct tf_strbuf *sb, const char *s);
/* Returns the string (caller frees) or NULL on out-of-memory. */
char *tf_sb_take(struct tf_strbuf *sb, size_t *len);
void tf_sb_free(struct tf_strbuf *sb);

#endif
