/* fdio.h — whole writes to a file descriptor, shared by the receive
 * targets: every byte written or an error naming the file and offset. */
#ifndef THINFS_FDIO_H
#define THINFS_FDIO_H

#include <stddef.h>
#include <stdint.h>

/* Writes all of buf to a pipe or stream fd (EINTR retried); the message
 * names it by `name` and the cause. */
int tf_write_all(int fd, const void *buf, size_t len, const char *name);
int tf_pwrite_all(int fd, const void *buf, size_t len, uint64_t off, const char *name);
/* Writes zeros over [off, off+len): the fallback where no hole punching or
 * zeroing command is available, so no old byte survives. */
int tf_write_zeros(int fd, uint64_t off, uint64_t len, const char *name);

#endif
