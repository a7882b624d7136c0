/* test_volume.c — a volume (core/vol/volume.h) over a real pool image made
 * by thin_restore: reads and seeks follow the chunk map, the block-I/O view
 * is what the partition reader, the stream planner and the receive engine
 * take, and faults injected under it (EIO, a data image cut short, ENOSPC
 * in a receive's writes) come back as named errors, never as wrong bytes,
 * and leave a receive's target as it was. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "testutil.h"

#include "core/base/err.h"
#include "core/io/bio.h"
#include "core/part/parttable.h"
#include "core/pool/pool.h"
#include "core/stream/receive.h"
#include "core/stream/stream.h"
#include "core/vol/volume.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define CHUNK 65536u
#define DATA_CHUNKS 16u
#define VOL_BYTES (10u * CHUNK) /* no lvm.cfg: the end of the last mapping */

/* Device 1 maps chunks 0-3 to data 10-13 and chunks 8-9 to data 2-3. */
static const char pool_xml[] =
    "<superblock uuid=\"\" time=\"0\" transaction=\"1\" flags=\"0\" version=\"2\" "
    "data_block_size=\"128\" nr_data_blocks=\"16\">\n"
    "  <device dev_id=\"1\" mapped_blocks=\"6\" transaction=\"0\" creation_time=\"0\" "
    "snap_time=\"0\">\n"
    "    <range_mapping origin_begin=\"0\" data_begin=\"10\" length=\"4\" time=\"0\"/>\n"
    "    <range_mapping origin_begin=\"8\" data_begin=\"2\" length=\"2\" time=\"0\"/>\n"
    "  </device>\n"
    "</superblock>\n";

static char workdir[] = "/tmp/thinfs-volume-XXXXXX";
static char pooldir[600], datapath[700];
static uint8_t data[DATA_CHUNKS * CHUNK];
static uint8_t expect[VOL_BYTES];

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 7 + (i >> 12) + 1); /* never all zeros in a chunk */
}

static void write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

static int setup(void **state)
{
	char xml[700];

	(void)state;
	if (!mkdtemp(workdir))
		return -1;
	snprintf(pooldir, sizeof(pooldir), "%s/pool", workdir);
	snprintf(datapath, sizeof(datapath), "%s/data", pooldir);
	snprintf(xml, sizeof(xml), "%s/pool.xml", workdir);
	sh("mkdir -p %s", pooldir);
	write_file(xml, pool_xml, sizeof(pool_xml) - 1);
	sh("truncate -s 8M %s/metadata && thin_restore -q -i %s -o %s/metadata", pooldir, xml,
	   pooldir);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = pattern(i);
	write_file(datapath, data, sizeof(data));
	memset(expect, 0, sizeof(expect));
	memcpy(expect, data + 10 * CHUNK, 4 * CHUNK);
	memcpy(expect + 8 * CHUNK, data + 2 * CHUNK, 2 * CHUNK);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	sh("rm -rf %s", workdir);
	return 0;
}

struct fixture {
	struct tf_pool *pool;
	struct tf_volume *vol;
};

static void open_fixture(struct fixture *f)
{
	struct tf_thin_run *runs = calloc(2, sizeof(*runs));
	struct tf_volume_info in = {
	    .thin_id = 1, .name = "thin1", .size_bytes = VOL_BYTES, .chunk_bytes = CHUNK};

	assert_non_null(runs);
	runs[0] = (struct tf_thin_run){.vbegin = 0, .dbegin = 10, .len = 4};
	runs[1] = (struct tf_thin_run){.vbegin = 8, .dbegin = 2, .len = 2};
	assert_int_equal(tf_pool_open(pooldir, NULL, &f->pool), 0);
	assert_int_equal(tf_volume_open(f->pool, &in, runs, 2, &f->vol), 0);
}

static void close_fixture(struct fixture *f)
{
	tf_volume_put(f->vol);
	tf_pool_close(f->pool);
}

static void a_volume_reads_its_mapped_chunks_and_zeros_for_holes_at_any_offset(void **state)
{
	static uint8_t buf[VOL_BYTES + 4096];
	struct fixture f;

	(void)state;
	open_fixture(&f);
	assert_int_equal(tf_volume_read(f.vol, buf, sizeof(buf), 0), VOL_BYTES);
	assert_memory_equal(buf, expect, VOL_BYTES);
	/* Unaligned, across a run's end and a hole's end. */
	assert_int_equal(tf_volume_read(f.vol, buf, 5 * CHUNK, 3 * CHUNK + 17), 5 * CHUNK);
	assert_memory_equal(buf, expect + 3 * CHUNK + 17, 5 * CHUNK);
	assert_int_equal(tf_volume_read(f.vol, buf, 100, VOL_BYTES - 10), 10);
	assert_int_equal(tf_volume_read(f.vol, buf, 100, VOL_BYTES), 0);
	close_fixture(&f);
}

static void seek_data_and_seek_hole_follow_the_chunk_map(void **state)
{
	struct fixture f;
	uint64_t r;

	(void)state;
	open_fixture(&f);
	assert_int_equal(tf_volume_seek(f.vol, 0, SEEK_DATA, &r), 0);
	assert_int_equal(r, 0);
	assert_int_equal(tf_volume_seek(f.vol, 100, SEEK_HOLE, &r), 0);
	assert_int_equal(r, 4 * CHUNK);
	assert_int_equal(tf_volume_seek(f.vol, 4 * CHUNK, SEEK_DATA, &r), 0);
	assert_int_equal(r, 8 * CHUNK);
	assert_int_equal(tf_volume_seek(f.vol, 8 * CHUNK + 1, SEEK_HOLE, &r), 0);
	assert_int_equal(r, VOL_BYTES);
	assert_int_equal(tf_volume_seek(f.vol, VOL_BYTES, SEEK_DATA, &r), -ENXIO);
	assert_int_equal(tf_volume_mapped_bytes(f.vol, 0, VOL_BYTES), 6 * CHUNK);
	assert_int_equal(tf_volume_mapped_bytes(f.vol, 3 * CHUNK, 6 * CHUNK), 2 * CHUNK);
	close_fixture(&f);
}

static void the_zero_copy_map_names_the_data_image_for_runs_and_nothing_for_holes(void **state)
{
	struct tf_volume_seg seg[8];
	struct fixture f;
	size_t n;

	(void)state;
	open_fixture(&f);
	assert_int_equal(tf_volume_map(f.vol, CHUNK, 8 * CHUNK, seg, 8, &n), 8 * CHUNK);
	assert_int_equal(n, 3);
	assert_true(seg[0].fd >= 0);
	assert_int_equal(seg[0].fd_off, 11 * CHUNK);
	assert_int_equal(seg[0].len, 3 * CHUNK);
	assert_int_equal(seg[1].fd, -1);
	assert_int_equal(seg[1].len, 4 * CHUNK);
	assert_int_equal(seg[2].fd_off, 2 * CHUNK);
	/* The descriptor holds the bytes a read gives. */
	uint8_t a[64], b[64];
	assert_int_equal(pread(seg[2].fd, a, sizeof(a), (off_t)seg[2].fd_off), (ssize_t)sizeof(a));
	assert_int_equal(tf_volume_read(f.vol, b, sizeof(b), 8 * CHUNK), (ssize_t)sizeof(b));
	assert_memory_equal(a, b, sizeof(a));
	/* Too few segments: covered bytes come back short, never wrong. */
	assert_int_equal(tf_volume_map(f.vol, 0, VOL_BYTES, seg, 1, &n), 4 * CHUNK);
	close_fixture(&f);
}

static void eio_injected_under_the_volume_reaches_every_reader_as_a_named_error(void **state)
{
	struct tf_bio_fault fault = {.off = 100, .len = 1, .read_err = EIO};
	struct tf_stream_header h = {.chunk_bytes = CHUNK,
				     .volume_bytes = VOL_BYTES,
				     .result_thin_id = 1,
				     .base_thin_id = TF_STREAM_NO_BASE};
	struct tf_stream_recs recs = {0};
	struct tf_stream_plan *plan;
	struct tf_parttable pt;
	struct tf_bio *bad;
	struct fixture f;
	uint8_t *out;

	(void)state;
	open_fixture(&f);
	assert_int_equal(tf_bio_open_fault(tf_volume_bio(f.vol), &fault, &bad), 0);
	/* The partition reader: the fault sits in the MBR. */
	assert_int_equal(tf_parttable_read(bad, &pt), -EIO);
	assert_non_null(strstr(tf_errmsg(), "injected read error"));
	assert_non_null(strstr(tf_errmsg(), "volume thin1"));

	/* The stream planner: the payload holding the fault fails the read;
	 * a read that does not touch it is served and right. */
	strcpy(h.identity, "img:test");
	assert_int_equal(tf_stream_recs_add(&recs, TF_REC_DATA, 0, 4 * CHUNK, VOL_BYTES), 0);
	assert_int_equal(tf_stream_recs_add(&recs, TF_REC_DATA, 8 * CHUNK, 2 * CHUNK, VOL_BYTES),
			 0);
	assert_int_equal(tf_stream_plan_new(&h, &recs, bad, &plan), 0);
	out = malloc(tf_stream_plan_size(plan));
	assert_non_null(out);
	assert_int_equal(tf_stream_plan_read(plan, out, tf_stream_plan_size(plan), 0), -EIO);
	assert_non_null(strstr(tf_errmsg(), "injected read error"));
	{
		/* The second record's payload, read alone. */
		uint64_t at = TF_STREAM_HEADER_BYTES + 2 * TF_STREAM_RECORD_BYTES + 4 * CHUNK;
		struct tf_stream_pos pos;

		assert_int_equal(tf_stream_locate(plan, at, &pos), 0);
		assert_int_equal(pos.part, TF_PART_PAYLOAD);
		assert_int_equal(pos.rec, 1);
		assert_int_equal(pos.in, 0);
		assert_int_equal(tf_stream_plan_read(plan, out, 4096, at), 4096);
		assert_memory_equal(out, expect + 8 * CHUNK, 4096);
	}
	free(out);
	tf_stream_plan_free(plan);
	tf_bio_close(bad);
	close_fixture(&f);
}

static void a_data_image_cut_short_is_an_error_not_zeros_or_an_end_of_file(void **state)
{
	struct tf_volume_seg seg[4];
	static uint8_t buf[VOL_BYTES];
	struct fixture f;
	size_t n;

	(void)state;
	open_fixture(&f);
	/* Chunks 12-15 of the data image go: volume chunks 2-3 lose their data. */
	assert_int_equal(truncate(datapath, 12 * CHUNK), 0);
	memset(buf, 0xee, sizeof(buf));
	assert_true(tf_volume_read(f.vol, buf, 4 * CHUNK, 0) < 0);
	assert_non_null(strstr(tf_errmsg(), "thin1"));
	assert_int_equal(tf_volume_map(f.vol, 0, 4 * CHUNK, seg, 4, &n), -EIO);
	assert_non_null(strstr(tf_errmsg(), "past the end"));
	/* What is still there is served right. */
	assert_int_equal(tf_volume_read(f.vol, buf, 2 * CHUNK, 0), 2 * CHUNK);
	assert_memory_equal(buf, expect, 2 * CHUNK);
	assert_int_equal(tf_volume_read(f.vol, buf, 6 * CHUNK, 4 * CHUNK), 6 * CHUNK);
	assert_memory_equal(buf, expect + 4 * CHUNK, 6 * CHUNK);
	close_fixture(&f);
	write_file(datapath, data, sizeof(data));
}

/* The full stream of the volume, from the planner over its block I/O. */
static uint8_t *full_stream(struct tf_volume *v, size_t *len)
{
	struct tf_stream_header h = {.chunk_bytes = CHUNK,
				     .volume_bytes = VOL_BYTES,
				     .result_thin_id = 1,
				     .base_thin_id = TF_STREAM_NO_BASE};
	struct tf_stream_recs recs = {0};
	struct tf_stream_plan *plan;
	uint8_t *s;

	strcpy(h.identity, "img:test");
	strcpy(h.result_uuid, "uuid-1");
	assert_int_equal(tf_stream_recs_add(&recs, TF_REC_DATA, 0, 4 * CHUNK, VOL_BYTES), 0);
	assert_int_equal(tf_stream_recs_add(&recs, TF_REC_DATA, 8 * CHUNK, 2 * CHUNK, VOL_BYTES),
			 0);
	assert_int_equal(tf_stream_plan_new(&h, &recs, tf_volume_bio(v), &plan), 0);
	*len = tf_stream_plan_size(plan);
	s = malloc(*len);
	assert_non_null(s);
	assert_int_equal(tf_stream_plan_read(plan, s, *len, 0), (ssize_t)*len);
	tf_stream_plan_free(plan);
	return s;
}

static int recv_all(const char *dir, const struct tf_recv_opts *o, const uint8_t *s, size_t len)
{
	struct tf_recv *r = NULL;
	int rc = tf_recv_open_dir(dir, "vm", o, &r);

	for (size_t off = 0; rc == 0 && off < len; off += 65536)
		rc = tf_recv_write(r, s + off, len - off < 65536 ? len - off : 65536, off);
	if (rc == 0)
		rc = tf_recv_finish(r);
	tf_recv_close(r); /* keeps the first error's message */
	return rc;
}

static void
enospc_in_a_receives_writes_fails_it_by_name_and_leaves_the_target_unchanged(void **state)
{
	struct tf_bio_fault fault = {.off = 8 * CHUNK, .len = CHUNK, .write_err = ENOSPC};
	struct tf_recv_opts o = {.force = true};
	static uint8_t before[VOL_BYTES], after[VOL_BYTES + 1];
	char dir[700], target[800];
	struct fixture f;
	uint8_t *s;
	size_t len;
	int fd;

	(void)state;
	open_fixture(&f);
	s = full_stream(f.vol, &len);
	snprintf(dir, sizeof(dir), "%s/recv", workdir);
	snprintf(target, sizeof(target), "%s/vm", dir);
	sh("mkdir -p %s", dir);
	/* An existing target with other bytes. */
	for (size_t i = 0; i < sizeof(before); i++)
		before[i] = (uint8_t)(i >> 9);
	write_file(target, before, sizeof(before));

	o.fault = &fault;
	assert_int_equal(recv_all(dir, &o, s, len), -ENOSPC);
	assert_non_null(strstr(tf_errmsg(), "injected write error"));
	fd = open(target, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, after, sizeof(after)), (ssize_t)sizeof(before));
	close(fd);
	assert_memory_equal(after, before, sizeof(before));

	/* Without the fault the same stream applies, and the target is the volume. */
	o.fault = NULL;
	assert_int_equal(recv_all(dir, &o, s, len), 0);
	fd = open(target, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, after, sizeof(after)), (ssize_t)VOL_BYTES);
	close(fd);
	assert_memory_equal(after, expect, VOL_BYTES);
	free(s);
	close_fixture(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(a_volume_reads_its_mapped_chunks_and_zeros_for_holes_at_any_offset),
	    cmocka_unit_test(seek_data_and_seek_hole_follow_the_chunk_map),
	    cmocka_unit_test(the_zero_copy_map_names_the_data_image_for_runs_and_nothing_for_holes),
	    cmocka_unit_test(eio_injected_under_the_volume_reaches_every_reader_as_a_named_error),
	    cmocka_unit_test(a_data_image_cut_short_is_an_error_not_zeros_or_an_end_of_file),
	    cmocka_unit_test(
		enospc_in_a_receives_writes_fails_it_by_name_and_leaves_the_target_unchanged),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
