/* test_stream.c — the delta stream format: the plan's size and random
 * access, parsing in pieces of any size, and refusal of every kind of
 * damage before anything is applied. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/err.h"
#include "core/io/bio.h"
#include "core/io/crc32c.h"
#include "core/io/sha256.h"
#include "core/stream/stream.h"
#include "core/stream/stream_parse.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define VOL (8u << 20)

static uint8_t src[VOL];

struct mem_target {
	uint8_t *img;
	size_t size;
	int headers, records;
};

static int t_header(void *ctx, const struct tf_stream_header *h)
{
	struct mem_target *t = ctx;

	t->headers++;
	return h->volume_bytes == t->size ? 0 : -EINVAL;
}

static int t_data(void *ctx, uint64_t off, const void *buf, size_t len)
{
	struct mem_target *t = ctx;

	assert_true(off + len <= t->size);
	memcpy(t->img + off, buf, len);
	t->records++;
	return 0;
}

static int t_zero(void *ctx, uint64_t off, uint64_t len)
{
	struct mem_target *t = ctx;

	assert_true(off + len <= t->size);
	memset(t->img + off, 0, len);
	t->records++;
	return 0;
}

static const struct tf_stream_sink sink = {.header = t_header, .data = t_data, .zero = t_zero};

/* A stream with DATA over two ranges (one longer than a record) and a ZERO. */
static struct tf_stream_plan *make_plan(void)
{
	struct tf_stream_header h = {.incremental = true,
				     .chunk_bytes = 65536,
				     .volume_bytes = VOL,
				     .result_thin_id = 3,
				     .base_thin_id = 2};
	struct tf_stream_recs recs = {0};
	struct tf_stream_plan *p;

	for (size_t i = 0; i < VOL; i++)
		src[i] = (uint8_t)(i * 31 + (i >> 13));
	strcpy(h.identity, "img:test");
	strcpy(h.result_uuid, "uuid-r");
	memset(h.base_fp, 0xab, 32);
	assert_int_equal(tf_stream_recs_add(&recs, TF_REC_DATA, 0, 3 << 20, VOL), 0);
	assert_int_equal(tf_stream_recs_add(&recs, TF_REC_ZERO, 4 << 20, 1 << 20, VOL), 0);
	assert_int_equal(tf_stream_recs_add(&recs, TF_REC_DATA, 6 << 20, 65536, VOL), 0);
	assert_int_equal(recs.n, 5); /* 3 MiB split in three */
	static struct tf_bio *vol;

	if (!vol) /* the source volume, kept for the test's life */
		assert_int_equal(tf_bio_open_mem(src, sizeof(src), "source volume", &vol), 0);
	assert_int_equal(tf_stream_plan_new(&h, &recs, vol, &p), 0);
	return p;
}

static uint8_t *produce(struct tf_stream_plan *p, size_t *len)
{
	size_t n = tf_stream_plan_size(p);
	uint8_t *s = malloc(n);

	assert_int_equal(tf_stream_plan_read(p, s, n, 0), (ssize_t)n);
	*len = n;
	return s;
}

static int parse_all(const uint8_t *s, size_t len, size_t piece, struct mem_target *t)
{
	struct tf_stream_parser ps;
	int rc = 0;

	assert_int_equal(tf_parser_init(&ps, &sink, t), 0);
	for (size_t o = 0; o < len && rc == 0; o += piece)
		rc = tf_parser_feed(&ps, s + o, len - o < piece ? len - o : piece);
	if (rc == 0 && !tf_parser_done(&ps))
		rc = -EPIPE;
	tf_parser_free(&ps);
	return rc;
}

static void size_is_known_before_reading_and_exact(void **state)
{
	struct tf_stream_plan *p = make_plan();
	size_t len;
	uint8_t *s;

	(void)state;
	assert_int_equal(tf_stream_plan_size(p), 512 + 5 * 32 + (3u << 20) + 65536 + 64);
	s = produce(p, &len);
	assert_int_equal(len, tf_stream_plan_size(p));
	free(s);
	tf_stream_plan_free(p);
}

static void locate_names_the_part_of_every_offset(void **state)
{
	struct tf_stream_plan *p;
	struct tf_stream_recs recs = {0};
	struct tf_stream_pos at;

	(void)state;
	assert_int_equal(tf_stream_recs_add(&recs, TF_REC_DATA, 0, 3 << 20, VOL), 0);
	assert_int_equal(tf_stream_recs_add(&recs, TF_REC_ZERO, 4 << 20, 1 << 20, VOL), 0);
	assert_int_equal(tf_stream_recs_add(&recs, TF_REC_DATA, 6 << 20, 65536, VOL), 0);
	uint64_t want = tf_stream_size(&recs);
	p = make_plan();
	assert_int_equal(tf_stream_plan_size(p), want);
	tf_stream_recs_free(&recs);
	assert_int_equal(tf_stream_locate(p, 0, &at), 0);
	assert_int_equal(at.part, TF_PART_HEADER);
	assert_int_equal(tf_stream_locate(p, 512 + 31, &at), 0);
	assert_int_equal(at.part, TF_PART_RECORD);
	assert_int_equal(at.rec, 0);
	assert_int_equal(at.in, 31);
	assert_int_equal(tf_stream_locate(p, 512 + 32 + (1 << 20) - 1, &at), 0);
	assert_int_equal(at.part, TF_PART_PAYLOAD);
	assert_int_equal(at.rec, 0);
	assert_int_equal(at.in, (1 << 20) - 1);
	assert_int_equal(tf_stream_locate(p, 512 + 3 * 32 + (3 << 20), &at), 0);
	assert_int_equal(at.part, TF_PART_RECORD); /* the ZERO record */
	assert_int_equal(at.rec, 3);
	assert_int_equal(tf_stream_locate(p, 512 + 4 * 32 + (3 << 20), &at), 0);
	assert_int_equal(at.rec, 4);
	assert_int_equal(tf_stream_locate(p, want - 64, &at), 0);
	assert_int_equal(at.part, TF_PART_TRAILER);
	assert_int_equal(at.in, 0);
	assert_int_equal(tf_stream_locate(p, want, &at), -EINVAL);
	tf_stream_plan_free(p);
}

static void random_offsets_equal_the_sequential_stream(void **state)
{
	struct tf_stream_plan *p = make_plan(), *q = make_plan();
	size_t len;
	uint8_t *s = produce(p, &len), buf[70000];

	(void)state;
	srand(7);
	for (int i = 0; i < 200; i++) {
		size_t off = (size_t)rand() % len, n = 1 + (size_t)rand() % sizeof(buf);
		ssize_t got = tf_stream_plan_read(q, buf, n, off);
		assert_int_equal(got, (ssize_t)(n < len - off ? n : len - off));
		assert_memory_equal(buf, s + off, (size_t)got);
	}
	free(s);
	tf_stream_plan_free(p);
	tf_stream_plan_free(q);
}

static void parses_in_pieces_of_any_size(void **state)
{
	struct tf_stream_plan *p = make_plan();
	static uint8_t img[VOL];
	struct mem_target t = {.img = img, .size = VOL};
	size_t len, pieces[] = {1, 7, 32, 4096, 1 << 20, 1 << 24};
	uint8_t *s = produce(p, &len);

	(void)state;
	for (size_t k = 0; k < sizeof(pieces) / sizeof(pieces[0]); k++) {
		memset(img, 0x5a, VOL);
		assert_int_equal(parse_all(s, len, pieces[k], &t), 0);
		assert_memory_equal(img, src, 3 << 20);
		for (size_t i = 4 << 20; i < 5 << 20; i++)
			assert_int_equal(img[i], 0);
		assert_memory_equal(img + (6 << 20), src + (6 << 20), 65536);
	}
	free(s);
	tf_stream_plan_free(p);
}

/* Every single-bit flip in the header, a record header, a payload and the
 * trailer is caught before the stream completes. */
static void detects_any_flipped_bit(void **state)
{
	struct tf_stream_plan *p = make_plan();
	static uint8_t img[VOL];
	struct mem_target t = {.img = img, .size = VOL};
	size_t len,
	    spots[] = {0, 8, 20, 33, 100, 300, 509, 512, 520, 530, 543, 544, 2000, (1 << 20) + 544,
		       0, 0, 0};
	uint8_t *s = produce(p, &len);

	(void)state;
	spots[14] = len - 64;
	spots[15] = len - 40;
	spots[16] = len - 1;
	for (size_t k = 0; k < sizeof(spots) / sizeof(spots[0]); k++) {
		for (int bit = 0; bit < 8; bit += 3) {
			s[spots[k]] ^= (uint8_t)(1 << bit);
			assert_true(parse_all(s, len, 65536, &t) < 0);
			s[spots[k]] ^= (uint8_t)(1 << bit);
		}
	}
	assert_int_equal(parse_all(s, len, 65536, &t), 0);
	free(s);
	tf_stream_plan_free(p);
}

static void truncation_anywhere_never_completes(void **state)
{
	struct tf_stream_plan *p = make_plan();
	static uint8_t img[VOL];
	struct mem_target t = {.img = img, .size = VOL};
	size_t len;
	uint8_t *s = produce(p, &len);

	(void)state;
	for (size_t cut = 0; cut < len; cut += cut < 2048 ? 1 : 65521)
		assert_int_equal(parse_all(s, cut, 65536, &t), -EPIPE);
	assert_int_equal(parse_all(s, len - 1, 65536, &t), -EPIPE);
	free(s);
	tf_stream_plan_free(p);
}

/* A hostile record whose checksums are right but which points past the
 * volume, or backwards, is refused before the sink sees it. */
static void refuses_records_outside_the_volume_or_out_of_order(void **state)
{
	struct tf_stream_header h = {.chunk_bytes = 65536,
				     .volume_bytes = 1 << 20,
				     .base_thin_id = TF_STREAM_NO_BASE,
				     .record_count = 1,
				     .data_bytes = 0};
	struct tf_stream_rec r = {.type = TF_REC_ZERO, .offset = 1 << 20, .length = 4096};
	struct mem_target t = {.img = src, .size = 1 << 20};
	uint8_t s[512 + 32 + 32];
	struct tf_stream_parser ps;

	(void)state;
	h.stream_bytes = 512 + 32 + 64;
	tf_stream_header_encode(&h, s);
	tf_stream_rec_encode(&r, s + 512);
	assert_int_equal(tf_parser_init(&ps, &sink, &t), 0);
	assert_int_equal(tf_parser_feed(&ps, s, 544), -EBADMSG);
	assert_non_null(strstr(tf_errmsg(), "passes the volume end"));
	tf_parser_free(&ps);

	h.record_count = 2;
	h.stream_bytes = 512 + 64 + 64;
	tf_stream_header_encode(&h, s);
	r = (struct tf_stream_rec){.type = TF_REC_ZERO, .offset = 8192, .length = 4096, .seq = 0};
	tf_stream_rec_encode(&r, s + 512);
	r = (struct tf_stream_rec){.type = TF_REC_ZERO, .offset = 4096, .length = 4096, .seq = 1};
	tf_stream_rec_encode(&r, s + 544);
	assert_int_equal(tf_parser_init(&ps, &sink, &t), 0);
	assert_int_equal(tf_parser_feed(&ps, s, 576), -EBADMSG);
	assert_non_null(strstr(tf_errmsg(), "overlaps or precedes"));
	tf_parser_free(&ps);
}

static void crc32c_matches_its_check_value_on_both_paths(void **state)
{
	static uint8_t buf[10007];

	(void)state;
	assert_int_equal(~tf_crc32c(0xffffffffu, "123456789", 9), 0xe3069283u);
	assert_int_equal(~tf_crc32c_sw(0xffffffffu, "123456789", 9), 0xe3069283u);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	for (size_t n = 0; n < sizeof(buf); n += 997)
		assert_int_equal(tf_crc32c(0xffffffffu, buf + 1, n),
				 tf_crc32c_sw(0xffffffffu, buf + 1, n));
}

static void sha256_matches_fips_vectors(void **state)
{
	static const uint8_t abc[32] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
					0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
					0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
					0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
	static const uint8_t two_blocks[32] = {0x24, 0x8d, 0x6a, 0x61, 0xd2, 0x06, 0x38, 0xb8,
					       0xe5, 0xc0, 0x26, 0x93, 0x0c, 0x3e, 0x60, 0x39,
					       0xa3, 0x3c, 0xe4, 0x59, 0x64, 0xff, 0x21, 0x67,
					       0xf6, 0xec, 0xed, 0xd4, 0x19, 0xdb, 0x06, 0xc1};
	const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	struct tf_sha256 c;
	uint8_t d[32];

	(void)state;
	tf_sha256_init(&c);
	tf_sha256_update(&c, "abc", 3);
	tf_sha256_final(&c, d);
	assert_memory_equal(d, abc, 32);
	tf_sha256_init(&c);
	for (const char *p = m; *p; p++) /* byte by byte: the buffering path */
		tf_sha256_update(&c, p, 1);
	tf_sha256_final(&c, d);
	assert_memory_equal(d, two_blocks, 32);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(size_is_known_before_reading_and_exact),
	    cmocka_unit_test(random_offsets_equal_the_sequential_stream),
	    cmocka_unit_test(locate_names_the_part_of_every_offset),
	    cmocka_unit_test(parses_in_pieces_of_any_size),
	    cmocka_unit_test(detects_any_flipped_bit),
	    cmocka_unit_test(truncation_anywhere_never_completes),
	    cmocka_unit_test(refuses_records_outside_the_volume_or_out_of_order),
	    cmocka_unit_test(sha256_matches_fips_vectors),
	    cmocka_unit_test(crc32c_matches_its_check_value_on_both_paths),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
