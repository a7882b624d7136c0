/* wire_text.c — reading and writing the wire formats' text fields. */
#include "core/stream/wire_text.h"

#include "core/base/err.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

void tf_wire_text_put(char *field, size_t n, const char *s)
{
	memcpy(field, s, strnlen(s, n - 1));
}

int tf_wire_text_get(const char *field, size_t n, char *out, const char *what, const char *name)
{
	const uint8_t *p = (const uint8_t *)field;
	const uint8_t *end = memchr(p, '\0', n);

	if (!end)
		return tf_fail(EBADMSG, "%s: field %s is not terminated", what, name);
	for (const uint8_t *c = p; c < end; c++)
		if (*c < 0x20 || *c > 0x7e)
			return tf_fail(EBADMSG,
				       "%s: field %s has a non-printable byte 0x%02x at %zu", what,
				       name, *c, (size_t)(c - p));
	for (const uint8_t *c = end; c < p + n; c++)
		if (*c)
			return tf_fail(EBADMSG, "%s: field %s has bytes after its end", what, name);
	memcpy(out, p, n);
	return 0;
}
