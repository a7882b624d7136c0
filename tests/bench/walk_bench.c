/* walk_bench.c — times the native metadata reader on a metadata image:
 * tf_thin_walk of every device (chunks, runs, nodes read) and tf_thin_diff of
 * each given pair (nodes read and shared subtrees skipped), for comparison
 * with thin_dump and thin_delta on the same image.
 *
 *   walk_bench METADATA [LEFT:RIGHT ...]
 */
#include "core/base/err.h"
#include "core/io/bio.h"
#include "core/thin/thin_meta.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct tally {
	uint64_t runs, chunks;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int count_run(void *ctx, const struct tf_thin_run *r)
{
	struct tally *t = ctx;

	t->runs++;
	t->chunks += r->len;
	return 0;
}

static int count_change(void *ctx, enum tf_diff_kind kind, const struct tf_thin_run *r)
{
	(void)kind;
	return count_run(ctx, r);
}

int main(int argc, char **argv)
{
	struct tf_thin_meta *m;
	struct tf_thin_dev *devs;
	struct tf_bio *b;
	size_t n;
	int rc;

	if (argc < 2) {
		fprintf(stderr, "usage: walk_bench METADATA [LEFT:RIGHT ...]\n");
		return 2;
	}
	if (tf_bio_open_file(argv[1], 0, &b) < 0 || tf_thin_open(b, 0, &m) < 0 ||
	    tf_thin_devices(m, &devs, &n) < 0) {
		fprintf(stderr, "walk_bench: %s\n", tf_errmsg());
		return 1;
	}
	double t0 = now();
	struct tf_walk_stats all = {0};
	struct tally total = {0};
	for (size_t i = 0; i < n; i++) {
		struct tf_walk_stats st = {0};
		struct tally t = {0};

		rc = tf_thin_walk(m, devs[i].dev_id, count_run, &t, &st);
		if (rc < 0) {
			fprintf(stderr, "walk_bench: %s\n", tf_errmsg());
			return 1;
		}
		printf("walk dev %" PRIu32 ": %" PRIu64 " chunks in %" PRIu64 " runs, %" PRIu64
		       " nodes read\n",
		       devs[i].dev_id, t.chunks, t.runs, st.nodes_read);
		all.nodes_read += st.nodes_read;
		total.chunks += t.chunks;
	}
	printf("walk all: %" PRIu64 " chunks, %" PRIu64 " nodes read, %.3f s\n", total.chunks,
	       all.nodes_read, now() - t0);
	for (int a = 2; a < argc; a++) {
		unsigned l, r;
		struct tf_walk_stats st = {0};
		struct tally t = {0};

		if (sscanf(argv[a], "%u:%u", &l, &r) != 2) {
			fprintf(stderr, "walk_bench: %s: expected LEFT:RIGHT\n", argv[a]);
			return 2;
		}
		t0 = now();
		rc = tf_thin_diff(m, l, r, count_change, &t, &st);
		if (rc < 0) {
			fprintf(stderr, "walk_bench: %s\n", tf_errmsg());
			return 1;
		}
		printf("diff %u %u: %" PRIu64 " chunks in %" PRIu64 " runs, %" PRIu64
		       " nodes read, %" PRIu64 " shared subtrees skipped, %.4f s\n",
		       l, r, t.chunks, t.runs, st.nodes_read, st.nodes_skipped_shared, now() - t0);
	}
	free(devs);
	tf_thin_close(m);
	tf_bio_close(b);
	return 0;
}
