/* test_repl.c — the replication stream format: a stream of three volumes
 * (full, increment, increment) built from real delta streams parses in
 * pieces of any size, and every damaged, reordered or implausible part is
 * refused with EBADMSG before the sink acts on it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/err.h"
#include "core/io/bio.h"
#include "core/io/sha256.h"
#include "core/stream/repl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define VOL (1u << 20)
#define NV 3

static uint8_t vols[NV][VOL];
static uint8_t *streams[NV];
static uint64_t stream_len[NV];
static uint8_t *whole;
static uint64_t whole_len;
static struct tf_repl_entry ents[NV];

static void fp_of(int v, uint8_t out[32])
{
	struct tf_thin_run run = {.vbegin = 0, .dbegin = (uint64_t)v, .len = 16};

	tf_stream_fingerprint("lvm:test/pool", (uint32_t)(10 + v), "", &run, 1, out);
}

/* Volume v's delta stream: full for 0, else an increment over v - 1 with
 * one changed 64 KiB chunk. */
static void make_volume_stream(int v)
{
	struct tf_stream_header h = {.incremental = v > 0,
				     .chunk_bytes = 65536,
				     .volume_bytes = VOL,
				     .result_thin_id = (uint32_t)(10 + v),
				     .base_thin_id = v > 0 ? (uint32_t)(9 + v) : TF_STREAM_NO_BASE};
	struct tf_stream_recs recs = {0};
	struct tf_stream_plan *plan;
	struct tf_bio *vol;

	strcpy(h.identity, "lvm:test/pool");
	snprintf(h.result_name, sizeof(h.result_name), "v%d", v);
	fp_of(v, h.result_fp);
	if (v > 0)
		fp_of(v - 1, h.base_fp);
	if (v == 0)
		assert_int_equal(tf_stream_recs_add(&recs, TF_REC_DATA, 0, VOL, VOL), 0);
	else
		assert_int_equal(
		    tf_stream_recs_add(&recs, TF_REC_DATA, (uint64_t)v * 65536, 65536, VOL), 0);
	assert_int_equal(tf_bio_open_mem(vols[v], VOL, "volume", &vol), 0);
	assert_int_equal(tf_stream_plan_new(&h, &recs, vol, &plan), 0);
	stream_len[v] = tf_stream_plan_size(plan);
	streams[v] = malloc(stream_len[v]);
	assert_int_equal(tf_stream_plan_read(plan, streams[v], stream_len[v], 0),
			 (ssize_t)stream_len[v]);
	tf_stream_plan_free(plan);
	tf_bio_close(vol);
}

static void build(void)
{
	struct tf_repl_header h = {.volume_count = NV, .sent_count = NV, .send_time = 1234};
	struct tf_sha256 c;
	uint8_t digest[32];
	uint64_t pos = 0;

	strcpy(h.identity, "lvm:test/pool");
	strcpy(h.lineage, "root-uuid");
	for (int v = 0; v < NV; v++) {
		for (size_t i = 0; i < VOL; i++)
			vols[v][i] = (uint8_t)(i * 7 + (size_t)v * ((i >> 16) == (size_t)v));
		make_volume_stream(v);
		memset(&ents[v], 0, sizeof(ents[v]));
		snprintf(ents[v].name, sizeof(ents[v].name), "v%d", v);
		snprintf(ents[v].origin, sizeof(ents[v].origin), "%s", v ? "v0" : "");
		ents[v].thin_id = (uint32_t)(10 + v);
		ents[v].flags = TF_REPL_ENTRY_SENT;
		ents[v].base = v ? (uint32_t)(v - 1) : TF_REPL_NO_BASE;
		ents[v].size_bytes = VOL;
		ents[v].stream_bytes = stream_len[v];
		fp_of(v, ents[v].fp);
	}
	h.stream_bytes = tf_repl_size(ents, NV);
	whole_len = h.stream_bytes;
	whole = malloc(whole_len);
	tf_sha256_init(&c);
	tf_repl_header_encode(&h, whole);
	tf_sha256_update(&c, whole, TF_REPL_HEADER_BYTES);
	pos = TF_REPL_HEADER_BYTES;
	for (int v = 0; v < NV; v++, pos += TF_REPL_ENTRY_BYTES) {
		tf_repl_entry_encode(&ents[v], whole + pos);
		tf_sha256_update(&c, whole + pos, TF_REPL_ENTRY_BYTES);
	}
	for (int v = 0; v < NV; v++) {
		tf_repl_frame_encode((uint32_t)v, (uint32_t)v, &ents[v], whole + pos);
		tf_sha256_update(&c, whole + pos, TF_REPL_FRAME_BYTES);
		pos += TF_REPL_FRAME_BYTES;
		memcpy(whole + pos, streams[v], stream_len[v]);
		pos += stream_len[v];
	}
	tf_sha256_final(&c, digest);
	tf_repl_end_encode(&h, digest, whole + pos);
	assert_int_equal(pos + TF_REPL_END_BYTES, whole_len);
}

static int setup(void **state)
{
	(void)state;
	build();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (int v = 0; v < NV; v++)
		free(streams[v]);
	free(whole);
	return 0;
}

/* ---- a sink that reassembles each volume's stream ---- */

struct sink {
	int manifests, begins, ends, done;
	int cur;
	uint8_t *got[NV];
	uint64_t got_len[NV];
};

static int s_manifest(void *ctx, const struct tf_repl_header *h, const struct tf_repl_entry *e,
		      size_t n)
{
	struct sink *s = ctx;

	(void)e;
	assert_int_equal(n, h->volume_count);
	s->manifests++;
	return 0;
}

static int s_begin(void *ctx, size_t entry)
{
	struct sink *s = ctx;

	s->cur = (int)entry;
	s->begins++;
	s->got[entry] = malloc(stream_len[entry]);
	return 0;
}

static int s_data(void *ctx, const void *buf, size_t len, uint64_t off)
{
	struct sink *s = ctx;

	assert_int_equal(off, s->got_len[s->cur]);
	assert_true(off + len <= stream_len[s->cur]);
	memcpy(s->got[s->cur] + off, buf, len);
	s->got_len[s->cur] += len;
	return 0;
}

static int s_end_volume(void *ctx, size_t entry)
{
	struct sink *s = ctx;

	assert_int_equal(entry, (size_t)s->cur);
	s->ends++;
	return 0;
}

static int s_end(void *ctx)
{
	((struct sink *)ctx)->done++;
	return 0;
}

static const struct tf_repl_sink sink_ops = {.manifest = s_manifest,
					     .volume_begin = s_begin,
					     .volume_data = s_data,
					     .volume_end = s_end_volume,
					     .end = s_end};

static void sink_free(struct sink *s)
{
	for (int v = 0; v < NV; v++)
		free(s->got[v]);
}

/* Feeds buf in pieces of `piece` bytes; the first error or 0. */
static int feed(const uint8_t *buf, uint64_t len, size_t piece, struct sink *s, bool *done)
{
	struct tf_repl_parser p;
	int rc = 0;

	memset(s, 0, sizeof(*s));
	tf_repl_parser_init(&p, &sink_ops, s);
	for (uint64_t off = 0; rc == 0 && off < len; off += piece)
		rc = tf_repl_parser_feed(&p, buf + off,
					 len - off < piece ? (size_t)(len - off) : piece);
	*done = tf_repl_parser_done(&p);
	tf_repl_parser_free(&p);
	return rc;
}

static void parses_in_pieces_of_any_size_and_hands_over_each_volume_stream_intact(void **state)
{
	static const size_t pieces[] = {1, 7, 63, 64, 512, 1000, 65536, 1 << 22};

	(void)state;
	for (size_t k = 0; k < sizeof(pieces) / sizeof(pieces[0]); k++) {
		struct sink s;
		bool done;

		if (pieces[k] == 1 && whole_len > (4u << 20))
			continue;
		assert_int_equal(feed(whole, whole_len, pieces[k], &s, &done), 0);
		assert_true(done);
		assert_int_equal(s.manifests, 1);
		assert_int_equal(s.begins, NV);
		assert_int_equal(s.ends, NV);
		assert_int_equal(s.done, 1);
		for (int v = 0; v < NV; v++) {
			assert_int_equal(s.got_len[v], stream_len[v]);
			assert_memory_equal(s.got[v], streams[v], stream_len[v]);
		}
		sink_free(&s);
	}
}

static void the_wire_layout_is_the_documented_one(void **state)
{
	uint32_t v;

	(void)state;
	assert_memory_equal(whole, "THINFSRS", 8);
	memcpy(&v, whole + 8, 4);
	assert_int_equal(v, TF_REPL_VERSION);
	memcpy(&v, whole + 16, 4);
	assert_int_equal(v, NV);
	assert_string_equal((const char *)whole + 40, "lvm:test/pool");
	assert_string_equal((const char *)whole + 168, "root-uuid");
	assert_string_equal((const char *)whole + TF_REPL_HEADER_BYTES + TF_REPL_ENTRY_BYTES, "v1");
	memcpy(&v, whole + TF_REPL_HEADER_BYTES + TF_REPL_ENTRY_BYTES + 328, 4);
	assert_int_equal(v, 0); /* v1's base is entry 0 */
	assert_memory_equal(whole + TF_REPL_HEADER_BYTES + NV * TF_REPL_ENTRY_BYTES, "THINFSRV", 8);
	assert_memory_equal(whole + whole_len - TF_REPL_END_BYTES, "THINFSRE", 8);
	assert_true(tf_repl_is_repl(whole, 8));
	assert_false(tf_repl_is_repl(streams[0], 8));
}

/* Every flipped byte outside the embedded streams' records is refused
 * (those are the single-volume parser's to check). */
static void every_flipped_byte_of_header_manifest_frames_and_end_is_refused(void **state)
{
	uint8_t *bad = malloc(whole_len);
	uint64_t manifest_end = TF_REPL_HEADER_BYTES + NV * TF_REPL_ENTRY_BYTES;

	(void)state;
	for (uint64_t off = 0; off < whole_len; off++) {
		uint64_t f1 = manifest_end,
			 f1_end = f1 + TF_REPL_FRAME_BYTES + TF_STREAM_HEADER_BYTES;
		bool checked = off < f1_end || off >= whole_len - TF_REPL_END_BYTES;
		struct sink s;
		bool done;
		int rc;

		if (!checked)
			continue;
		memcpy(bad, whole, whole_len);
		bad[off] ^= 0x10;
		rc = feed(bad, whole_len, 4096, &s, &done);
		if (rc != -EBADMSG)
			fail_msg("a flip at %llu gave %d (%s)", (unsigned long long)off, rc,
				 tf_errmsg());
		if (off < manifest_end)
			assert_int_equal(s.manifests, 0); /* refused before acting */
		assert_int_equal(s.done, 0);
		sink_free(&s);
	}
	free(bad);
}

static void a_cut_stream_is_not_done_and_names_no_error(void **state)
{
	static const uint64_t cuts[] = {0, 100, 256, 2000, 4000};

	(void)state;
	for (size_t k = 0; k < sizeof(cuts) / sizeof(cuts[0]); k++) {
		struct sink s;
		bool done;

		assert_int_equal(feed(whole, cuts[k], 512, &s, &done), 0);
		assert_false(done);
		assert_int_equal(s.done, 0);
		sink_free(&s);
	}
	{
		struct sink s;
		bool done;

		assert_int_equal(feed(whole, whole_len - 1, 512, &s, &done), 0);
		assert_false(done);
		assert_int_equal(s.ends, NV); /* every volume complete, the end missing */
		sink_free(&s);
	}
}

static void bytes_after_the_end_are_refused(void **state)
{
	uint8_t *more = calloc(1, whole_len + 1);
	struct sink s;
	bool done;

	(void)state;
	memcpy(more, whole, whole_len);
	assert_int_equal(feed(more, whole_len + 1, 4096, &s, &done), -EBADMSG);
	sink_free(&s);
	free(more);
}

/* A manifest that contradicts itself, resealed so only its logic is wrong. */
static int check_with(void (*mangle)(struct tf_repl_header *h, struct tf_repl_entry *e))
{
	struct tf_repl_header h = {.volume_count = NV, .sent_count = NV};
	struct tf_repl_entry e[NV];

	memcpy(e, ents, sizeof(e));
	strcpy(h.identity, "lvm:test/pool");
	h.stream_bytes = tf_repl_size(e, NV);
	mangle(&h, e);
	return tf_repl_check_manifest(&h, e, NV);
}

static void m_none(struct tf_repl_header *h, struct tf_repl_entry *e)
{
	(void)h;
	(void)e;
}
static void m_base_after(struct tf_repl_header *h, struct tf_repl_entry *e)
{
	(void)h;
	e[1].base = 2;
}
static void m_base_self(struct tf_repl_header *h, struct tf_repl_entry *e)
{
	(void)h;
	e[1].base = 1;
}
static void m_base_not_there(struct tf_repl_header *h, struct tf_repl_entry *e)
{
	e[0].flags = 0;
	e[0].stream_bytes = 0;
	h->sent_count = NV - 1;
	h->stream_bytes = tf_repl_size(e, NV);
}
static void m_dup_name(struct tf_repl_header *h, struct tf_repl_entry *e)
{
	(void)h;
	strcpy(e[2].name, "v0");
}
static void m_bad_name(struct tf_repl_header *h, struct tf_repl_entry *e)
{
	(void)h;
	strcpy(e[2].name, "../etc");
}
static void m_size(struct tf_repl_header *h, struct tf_repl_entry *e)
{
	(void)e;
	h->stream_bytes += 1;
}
static void m_tiny_stream(struct tf_repl_header *h, struct tf_repl_entry *e)
{
	e[2].stream_bytes = 10;
	h->stream_bytes = tf_repl_size(e, NV);
}
static void m_sent_count(struct tf_repl_header *h, struct tf_repl_entry *e)
{
	(void)e;
	h->sent_count = 1;
}

static void a_manifest_that_contradicts_itself_is_refused(void **state)
{
	(void)state;
	assert_int_equal(check_with(m_none), 0);
	assert_int_equal(check_with(m_base_after), -EBADMSG);
	assert_int_equal(check_with(m_base_self), -EBADMSG);
	assert_int_equal(check_with(m_base_not_there), -EBADMSG);
	assert_int_equal(check_with(m_dup_name), -EBADMSG);
	assert_int_equal(check_with(m_bad_name), -EBADMSG);
	assert_int_equal(check_with(m_size), -EBADMSG);
	assert_int_equal(check_with(m_tiny_stream), -EBADMSG);
	assert_int_equal(check_with(m_sent_count), -EBADMSG);
}

static void a_header_announcing_too_many_volumes_is_refused_before_allocating(void **state)
{
	struct tf_repl_header h = {.volume_count = TF_REPL_MAX_VOLUMES + 1, .sent_count = 1};
	uint8_t buf[TF_REPL_HEADER_BYTES];
	struct sink s;
	bool done;

	(void)state;
	tf_repl_header_encode(&h, buf);
	assert_int_equal(feed(buf, sizeof(buf), 256, &s, &done), -EBADMSG);
	assert_int_equal(s.manifests, 0);
}

/* Two volumes' streams swapped (frames resealed): the embedded header
 * does not match its entry. */
static void an_embedded_stream_swapped_for_another_is_refused(void **state)
{
	uint8_t *bad = malloc(whole_len);
	uint64_t pos = TF_REPL_HEADER_BYTES + NV * TF_REPL_ENTRY_BYTES + TF_REPL_FRAME_BYTES;
	struct sink s;
	bool done;

	(void)state;
	memcpy(bad, whole, whole_len);
	/* v0's stream begins with its header; put v1's header there. */
	memcpy(bad + pos, streams[1], TF_STREAM_HEADER_BYTES);
	assert_int_equal(feed(bad, whole_len, 4096, &s, &done), -EBADMSG);
	assert_int_equal(s.got_len[0], 0); /* nothing of it reached the sink */
	sink_free(&s);
	free(bad);
}

/* Four entries of 2^62 stream bytes each: their sizes wrap around 2^64 to
 * the size of a stream with no volume data at all, which a header can
 * announce; a check of the total modulo 2^64 would let it through. */
static void stream_sizes_that_add_up_only_by_wrapping_around_are_refused(void **state)
{
	enum { N = 4 };
	struct tf_repl_header h = {.volume_count = N, .sent_count = N};
	struct tf_repl_entry e[N];
	uint8_t buf[TF_REPL_HEADER_BYTES + N * TF_REPL_ENTRY_BYTES];
	struct sink s;
	bool done;

	(void)state;
	memset(e, 0, sizeof(e));
	strcpy(h.identity, "lvm:test/pool");
	for (int i = 0; i < N; i++) {
		snprintf(e[i].name, sizeof(e[i].name), "w%d", i);
		e[i].thin_id = (uint32_t)(20 + i);
		e[i].flags = TF_REPL_ENTRY_SENT;
		e[i].base = TF_REPL_NO_BASE;
		e[i].size_bytes = VOL;
		e[i].stream_bytes = 1ull << 62;
	}
	h.stream_bytes = tf_repl_size(e, N);
	assert_true(h.stream_bytes < (1ull << 62)); /* wrapped */
	tf_err_clear();
	assert_int_equal(tf_repl_check_manifest(&h, e, N), -EBADMSG);
	assert_non_null(strstr(tf_errmsg(), "w1")); /* the first past 2^62 of streams */

	tf_repl_header_encode(&h, buf);
	for (int i = 0; i < N; i++)
		tf_repl_entry_encode(&e[i], buf + TF_REPL_HEADER_BYTES + i * TF_REPL_ENTRY_BYTES);
	assert_int_equal(feed(buf, sizeof(buf), 4096, &s, &done), -EBADMSG);
	assert_int_equal(s.manifests, 0);
	assert_false(done);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(parses_in_pieces_of_any_size_and_hands_over_each_volume_stream_intact),
	    cmocka_unit_test(the_wire_layout_is_the_documented_one),
	    cmocka_unit_test(every_flipped_byte_of_header_manifest_frames_and_end_is_refused),
	    cmocka_unit_test(a_cut_stream_is_not_done_and_names_no_error),
	    cmocka_unit_test(bytes_after_the_end_are_refused),
	    cmocka_unit_test(a_manifest_that_contradicts_itself_is_refused),
	    cmocka_unit_test(a_header_announcing_too_many_volumes_is_refused_before_allocating),
	    cmocka_unit_test(an_embedded_stream_swapped_for_another_is_refused),
	    cmocka_unit_test(stream_sizes_that_add_up_only_by_wrapping_around_are_refused),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
