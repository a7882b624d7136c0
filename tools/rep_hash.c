/* rep_hash.c — hashing a volume (pool LV or file) per 4 MiB range, reading
 * only its allocated data (see rep_hash.h). */
#include "rep_hash.h"

#include "cli.h"
#include "rep_stale.h"

#include "core/base/err.h"
#include "core/base/run.h"
#include "core/io/sha256.h"
#include "core/pool/pool.h"
#include "index/index.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define IO_BYTES (1u << 20)

static const uint8_t zeros[IO_BYTES];

/* The data source behind one volume: mapped extents and how to read them. */
struct src {
	int (*next_data)(struct src *s, uint64_t from, uint64_t *a, uint64_t *b); /* 1: none */
	int (*read)(struct src *s, void *buf, size_t len, uint64_t off);
	const char *what;
	/* pool */
	struct tf_pool *pool;
	uint32_t thin_id;
	struct tf_thin_run *runs;
	size_t nruns, cur;
	uint64_t chunk;
	/* file */
	int fd;
};

static int pool_next(struct src *s, uint64_t from, uint64_t *a, uint64_t *b)
{
	while (s->cur < s->nruns &&
	       (s->runs[s->cur].vbegin + s->runs[s->cur].len) * s->chunk <= from)
		s->cur++;
	if (s->cur == s->nruns)
		return 1;
	*a = s->runs[s->cur].vbegin * s->chunk;
	*b = (s->runs[s->cur].vbegin + s->runs[s->cur].len) * s->chunk;
	if (*a < from)
		*a = from;
	return 0;
}

static int pool_read(struct src *s, void *buf, size_t len, uint64_t off)
{
	const struct tf_thin_run *r = &s->runs[s->cur]; /* pool_next found it */
	uint64_t poff = r->dbegin * s->chunk + (off - r->vbegin * s->chunk);

	return tf_pool_read(s->pool, s->thin_id, buf, len, off, poff);
}

static int file_next(struct src *s, uint64_t from, uint64_t *a, uint64_t *b)
{
	off_t d = lseek(s->fd, (off_t)from, SEEK_DATA), h;

	if (d < 0)
		return errno == ENXIO ? 1 : tf_fail(errno, "%s: %s", s->what, strerror(errno));
	h = lseek(s->fd, d, SEEK_HOLE);
	if (h < 0)
		return tf_fail(errno, "%s: %s", s->what, strerror(errno));
	*a = (uint64_t)d;
	*b = (uint64_t)h;
	return 0;
}

static int file_read(struct src *s, void *buf, size_t len, uint64_t off)
{
	ssize_t n = pread(s->fd, buf, len, (off_t)off);

	if (n != (ssize_t)len)
		return tf_fail(n < 0 ? errno : EIO, "%s: reading %zu bytes at %" PRIu64 ": %s",
			       s->what, len, off, n < 0 ? strerror(errno) : "short read");
	return 0;
}

static void feed_zeros(struct tf_sha256 *c, uint64_t n)
{
	while (n > 0) {
		size_t k = n < IO_BYTES ? (size_t)n : IO_BYTES;
		tf_sha256_update(c, zeros, k);
		n -= k;
	}
}

static int hash_src(struct src *s, uint64_t size, struct rep_hashes *out)
{
	uint8_t zero_full[32], zero_last[32];
	struct tf_sha256 c;
	uint8_t *buf = malloc(IO_BYTES);
	uint64_t last_len;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	out->size = size;
	out->n = (size_t)((size + REP_HASH_RANGE - 1) / REP_HASH_RANGE);
	out->h = calloc(out->n ? out->n : 1, 32);
	if (!buf || !out->h) {
		free(buf);
		free(out->h);
		out->h = NULL;
		return tf_fail(ENOMEM, "%s: out of memory", s->what);
	}
	last_len = size - (out->n ? (uint64_t)(out->n - 1) * REP_HASH_RANGE : 0);
	tf_sha256_init(&c);
	feed_zeros(&c, REP_HASH_RANGE);
	tf_sha256_final(&c, zero_full);
	tf_sha256_init(&c);
	feed_zeros(&c, last_len);
	tf_sha256_final(&c, zero_last);

	for (size_t i = 0; i < out->n && rc == 0; i++) {
		uint64_t ra = (uint64_t)i * REP_HASH_RANGE;
		uint64_t rb = i + 1 == out->n ? size : ra + REP_HASH_RANGE;
		uint64_t pos = ra, a, b;
		bool any = false;

		tf_sha256_init(&c);
		while (pos < rb && rc == 0) {
			int more = s->next_data(s, pos, &a, &b);
			if (more < 0) {
				rc = more;
				break;
			}
			if (more == 1 || a >= rb)
				break;
			if (b > rb)
				b = rb;
			feed_zeros(&c, a - pos);
			for (uint64_t o = a; o < b && rc == 0;) {
				size_t k = b - o < IO_BYTES ? (size_t)(b - o) : IO_BYTES;
				if ((rc = s->read(s, buf, k, o)) < 0)
					break;
				tf_sha256_update(&c, buf, k);
				out->read_bytes += k;
				o += k;
			}
			any = true;
			pos = b;
		}
		if (rc < 0)
			break;
		if (!any) {
			memcpy(out->h[i], i + 1 == out->n ? zero_last : zero_full, 32);
			continue;
		}
		feed_zeros(&c, rb - pos);
		tf_sha256_final(&c, out->h[i]);
	}
	free(buf);
	if (rc < 0)
		rep_hashes_free(out);
	return rc;
}

static int hash_file(const char *path, struct rep_hashes *out)
{
	struct src s = {.next_data = file_next, .read = file_read, .what = path};
	struct stat st;
	int rc;

	s.fd = open(path, O_RDONLY | O_CLOEXEC);
	if (s.fd < 0)
		return tf_fail(errno, "%s: %s", path, strerror(errno));
	if (fstat(s.fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(s.fd);
		return tf_fail(EINVAL, "%s: not a regular file", path);
	}
	rc = hash_src(&s, (uint64_t)st.st_size, out);
	close(s.fd);
	return rc;
}

int rep_lv_pool(const char *vg_lv, char *pool, size_t len)
{
	const char *argv[] = {"lvs", "--noheadings", "-o", "pool_lv", vg_lv, NULL};
	char *out = NULL, name[256] = "";
	int rc = tf_run_ok(argv, NULL, &out);

	if (rc < 0)
		return tf_fail_ctx(rc, "%s: ", vg_lv);
	if (sscanf(out, " %255s", name) != 1 || name[0] == '\0') {
		free(out);
		return tf_fail(EINVAL, "%s: not a thin LV (it has no pool)", vg_lv);
	}
	free(out);
	snprintf(pool, len, "%.*s/%s", (int)strcspn(vg_lv, "/"), vg_lv, name);
	return 0;
}

static int hash_pool_lv(const char *source, const char *lv, struct rep_hashes *out)
{
	struct tf_cli_common c = {0};
	struct src s = {.next_data = pool_next, .read = pool_read, .what = lv, .fd = -1};
	struct tf_ix_dev *devs = NULL;
	const struct tf_ix_dev *d;
	struct tf_index *ix;
	size_t n = 0;
	int rc;

	if ((rc = tf_cli_open(source, &c, &s.pool, &ix, NULL)) < 0)
		return rc;
	rc = tf_index_devices(ix, &devs, &n);
	if (rc == 0)
		rc = tf_cli_find_dev(devs, n, lv, source, &d);
	if (rc == 0) {
		s.thin_id = d->thin_id;
		s.chunk = (uint64_t)tf_pool_chunk_sectors(s.pool) * 512;
		rc = tf_index_extents(ix, d->thin_id, &s.runs, &s.nruns);
	}
	if (rc == 0)
		rc = hash_src(&s, d->size_bytes, out);
	free(s.runs);
	tf_index_devices_free(devs, n);
	tf_cli_close(s.pool, ix);
	return rc;
}

int rep_hash_object(const char *object, struct rep_hashes *out)
{
	char dir[4096], meta[4200], pool[512];
	const char *slash = strrchr(object, '/');
	struct stat st;

	memset(out, 0, sizeof(*out));
	if (stat(object, &st) == 0 && S_ISREG(st.st_mode))
		return hash_file(object, out);
	if (!slash || !slash[1] || slash == object)
		return tf_fail(EINVAL,
			       "%s: not a file, IMAGE_DIR/LV or VG/LV (nothing to verify there)",
			       object);
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - object), object);
	snprintf(meta, sizeof(meta), "%s/metadata", dir);
	if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) {
		if (access(meta, F_OK) == 0)
			return hash_pool_lv(dir, slash + 1, out);
		return tf_fail(ENOENT, "%s: no such file", object);
	}
	if (strchr(dir, '/'))
		return tf_fail(ENOENT, "%s: no such file, pool image or VG/LV", object);
	int rc = rep_lv_pool(object, pool, sizeof(pool));
	if (rc < 0)
		return rc;
	rep_remove_stale_private_targets(); /* a killed reader's would block ours */
	return hash_pool_lv(pool, slash + 1, out);
}

void rep_hashes_free(struct rep_hashes *h)
{
	free(h->h);
	h->h = NULL;
	h->n = 0;
}

int rep_hashes_write(const struct rep_hashes *h, FILE *f)
{
	fprintf(f, "thinfs-hashes 1 %" PRIu64 " %u %zu %" PRIu64 "\n", h->size, REP_HASH_RANGE,
		h->n, h->read_bytes);
	for (size_t i = 0; i < h->n; i++) {
		for (int k = 0; k < 32; k++)
			fprintf(f, "%02x", h->h[i][k]);
		fputc('\n', f);
	}
	return fflush(f) == 0 && !ferror(f) ? 0
					    : tf_fail(EIO, "writing hashes: %s", strerror(errno));
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int rep_hashes_read(FILE *f, const char *what, struct rep_hashes *out)
{
	char line[256];
	unsigned range;
	size_t n;

	memset(out, 0, sizeof(*out));
	if (!fgets(line, sizeof(line), f) ||
	    sscanf(line, "thinfs-hashes 1 %" SCNu64 " %u %zu %" SCNu64, &out->size, &range, &n,
		   &out->read_bytes) != 4)
		return tf_fail(EBADMSG, "%s: no hash list (is thinfs on that end this version?)",
			       what);
	if (range != REP_HASH_RANGE || n != (out->size + REP_HASH_RANGE - 1) / REP_HASH_RANGE)
		return tf_fail(EBADMSG,
			       "%s: a hash list of %zu ranges of %u bytes for %" PRIu64
			       " bytes does not add up",
			       what, n, range, out->size);
	out->h = calloc(n ? n : 1, 32);
	if (!out->h)
		return tf_fail(ENOMEM, "%s: out of memory", what);
	out->n = n;
	for (size_t i = 0; i < n; i++) {
		if (!fgets(line, sizeof(line), f) || strlen(line) < 64 ||
		    (line[64] != '\n' && line[64] != '\0')) {
			rep_hashes_free(out);
			return tf_fail(EBADMSG, "%s: hash list cut short at range %zu of %zu", what,
				       i, n);
		}
		for (int k = 0; k < 32; k++) {
			int hi = hexval(line[2 * k]), lo = hexval(line[2 * k + 1]);
			if (hi < 0 || lo < 0) {
				rep_hashes_free(out);
				return tf_fail(EBADMSG, "%s: bad hash at range %zu", what, i);
			}
			out->h[i][k] = (uint8_t)(hi << 4 | lo);
		}
	}
	return 0;
}

long rep_hashes_first_diff(const struct rep_hashes *a, const struct rep_hashes *b)
{
	for (size_t i = 0; i < a->n && i < b->n; i++)
		if (memcmp(a->h[i], b->h[i], 32) != 0)
			return (long)i;
	return a->n == b->n ? -1 : (long)(a->n < b->n ? a->n : b->n);
}
