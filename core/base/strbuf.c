/* strbuf.c — growable strings and JSON string escaping. */
#include "core/base/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool sb_reserve(struct tf_strbuf *sb, size_t more)
{
	size_t cap;
	char *s;

	if (sb->oom)
		return false;
	if (sb->len + more + 1 <= sb->cap)
		return true;
	cap = sb->cap ? sb->cap : 256;
	while (cap < sb->len + more + 1)
		cap *= 2;
	s = realloc(sb->s, cap);
	if (!s) {
		sb->oom = true;
		return false;
	}
	sb->s = s;
	sb->cap = cap;
	return true;
}

void tf_sb_printf(struct tf_strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !sb_reserve(sb, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(sb->s + sb->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
}

void tf_sb_json_str(struct tf_strbuf *sb, const char *s)
{
	if (!s) {
		tf_sb_printf(sb, "null");
		return;
	}
	tf_sb_printf(sb, "\"");
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			tf_sb_printf(sb, "\\%c", *p);
		else if (*p < 0x20)
			tf_sb_printf(sb, "\\u%04x", *p);
		else
			tf_sb_printf(sb, "%c", *p);
	}
	tf_sb_printf(sb, "\"");
}

char *tf_sb_take(struct tf_strbuf *sb, size_t *len)
{
	char *s;

	if (sb->oom || !sb_reserve(sb, 0)) {
		tf_sb_free(sb);
		return NULL;
	}
	sb->s[sb->len] = '\0';
	s = sb->s;
	if (len)
		*len = sb->len;
	memset(sb, 0, sizeof(*sb));
	return s;
}

void tf_sb_free(struct tf_strbuf *sb)
{
	free(sb->s);
	memset(sb, 0, sizeof(*sb));
}
