/* wire_text.h — the text fields of thinfs's wire formats (delta and
 * replication stream headers, the replication manifest): NUL-padded,
 * fixed-size, printable ASCII.  One reader for all of them, so every field
 * that is later recorded (xattrs, LVM tags, file names) is checked the same
 * way: no control byte or newline can forge a line of recorded state. */
#ifndef THINFS_STREAM_WIRE_TEXT_H
#define THINFS_STREAM_WIRE_TEXT_H

#include <stddef.h>

/* Stores s NUL-padded in the n-byte field (zeroed by the caller); at most
 * n - 1 bytes are kept, so the field is always terminated. */
void tf_wire_text_put(char *field, size_t n, const char *s);

/* Copies the n-byte field into out (n bytes) if it is printable ASCII,
 * NUL-terminated and zero after its end; else -EBADMSG with a message
 * naming `what` and the field. */
int tf_wire_text_get(const char *field, size_t n, char *out, const char *what, const char *name);

#endif
