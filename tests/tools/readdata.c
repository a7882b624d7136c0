/* readdata.c — reads every data range of a file (SEEK_DATA/SEEK_HOLE) in
 * 1 MiB requests and discards it; prints the bytes read.  The benchmark's
 * "read what is allocated" workload, without a copy's writes. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	static char buf[1 << 20];
	off_t data, hole = 0;
	long long total = 0;
	int fd;

	if (argc != 2) {
		fprintf(stderr, "usage: readdata FILE\n");
		return 2;
	}
	fd = open(argv[1], O_RDONLY);
	if (fd < 0) {
		fprintf(stderr, "readdata: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	while ((data = lseek(fd, hole, SEEK_DATA)) >= 0) {
		hole = lseek(fd, data, SEEK_HOLE);
		for (off_t o = data; o < hole;) {
			size_t n = hole - o < (off_t)sizeof(buf) ? (size_t)(hole - o) : sizeof(buf);
			ssize_t got = pread(fd, buf, n, o);
			if (got <= 0) {
				fprintf(stderr, "readdata: %s: read at %lld failed\n", argv[1],
					(long long)o);
				return 1;
			}
			o += got;
			total += got;
		}
	}
	printf("%lld\n", total);
	return 0;
}
