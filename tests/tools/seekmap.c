/* seekmap.c — prints a file's data ranges as "OFFSET LENGTH" lines using
 * SEEK_DATA/SEEK_HOLE, so tests can compare the hole map a filesystem
 * reports with an oracle. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	off_t data, hole = 0;
	int fd;

	if (argc != 2) {
		fprintf(stderr, "usage: seekmap FILE\n");
		return 2;
	}
	fd = open(argv[1], O_RDONLY);
	if (fd < 0) {
		fprintf(stderr, "seekmap: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	for (;;) {
		data = lseek(fd, hole, SEEK_DATA);
		if (data < 0) {
			if (errno == ENXIO)
				break;
			fprintf(stderr, "seekmap: %s: SEEK_DATA at %lld: %s\n", argv[1],
				(long long)hole, strerror(errno));
			return 1;
		}
		hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0) {
			fprintf(stderr, "seekmap: %s: SEEK_HOLE at %lld: %s\n", argv[1],
				(long long)data, strerror(errno));
			return 1;
		}
		printf("%lld %lld\n", (long long)data, (long long)(hole - data));
	}
	close(fd);
	return 0;
}
