/* fuzz_repl.c — libFuzzer harness: arbitrary bytes into the replication
 * stream parser (core/stream/repl.c) as `thinfs receive TARGET` feeds it
 * from stdin — pieces of any size, then the end of input — with each
 * volume's bytes going through the delta stream parser as the receive
 * engine's do.  The sink applies nothing; it checks, independently of the
 * parser's own code, every promise repl.h makes to a sink:
 *
 *  - manifest once, before anything else, with header.volume_count entries
 *    that are self-consistent (valid unique names and thin ids, sizes in
 *    range, bases sent earlier or held, counts and total size that add up);
 *  - per SENT entry, in manifest order: begin, its delta stream's bytes
 *    contiguous from 0 to the entry's stream size (the first call holds the
 *    whole stream header, already matched to the entry), end;
 *  - end only after every sent volume, and nothing after it;
 *  - every write and zero of an embedded stream inside its volume;
 *  - a failure is a negative errno with a message of its own, and a
 *    stream that ends early is cut off, never complete.
 * A broken promise aborts; ASan/UBSan catch over-reads, leaks and
 * undefined behaviour.
 */
#include "core/base/err.h"
#include "core/stream/receive.h"
#include "core/stream/repl.h"
#include "core/stream/stream_format.h"
#include "core/stream/stream_parse.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct check {
	const struct tf_repl_header *h;
	const struct tf_repl_entry *e;
	size_t n;
	bool manifest, ended;
	size_t next;  /* entries before this one were received or are not sent */
	long open;    /* the entry being received, or -1 */
	uint64_t off; /* its stream bytes seen */
	unsigned sum; /* every byte handed over is read, so ASan sees an over-read */
	struct tf_stream_parser vol;
	bool vol_live;
};

#define PROMISE(cond)                                                                              \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "broken promise: %s (%s:%d)\n", #cond, __FILE__,           \
				__LINE__);                                                         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static bool text_ok(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);

	if (n == cap)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

/* ---- the embedded delta stream, as the receive engine parses it ---- */

static int d_header(void *ctx, const struct tf_stream_header *sh)
{
	struct check *c = ctx;
	const struct tf_repl_entry *x = &c->e[c->open];

	PROMISE(sh->volume_bytes == x->size_bytes);
	PROMISE(sh->result_thin_id == x->thin_id);
	PROMISE(sh->stream_bytes == x->stream_bytes);
	PROMISE(memcmp(sh->result_fp, x->fp, 32) == 0);
	PROMISE(sh->incremental == (x->base != TF_REPL_NO_BASE));
	PROMISE(strcmp(sh->identity, c->h->identity) == 0);
	return 0;
}

static int d_data(void *ctx, uint64_t off, const void *buf, size_t len)
{
	struct check *c = ctx;
	const uint8_t *b = buf;

	PROMISE(len <= TF_STREAM_MAX_DATA);
	PROMISE(off <= c->e[c->open].size_bytes && len <= c->e[c->open].size_bytes - off);
	for (size_t i = 0; i < len; i++)
		c->sum += b[i];
	return 0;
}

static int d_zero(void *ctx, uint64_t off, uint64_t len)
{
	struct check *c = ctx;

	PROMISE(off <= c->e[c->open].size_bytes && len <= c->e[c->open].size_bytes - off);
	return 0;
}

static const struct tf_stream_sink vol_sink = {.header = d_header, .data = d_data, .zero = d_zero};

/* ---- the replication sink ---- */

static int r_manifest(void *ctx, const struct tf_repl_header *h, const struct tf_repl_entry *e,
		      size_t n)
{
	struct check *c = ctx;
	uint32_t sent = 0;

	PROMISE(!c->manifest && !c->ended);
	PROMISE(n == h->volume_count && n >= 1 && n <= TF_REPL_MAX_VOLUMES);
	PROMISE(h->sent_count <= n);
	PROMISE(text_ok(h->identity, sizeof(h->identity)) &&
		text_ok(h->lineage, sizeof(h->lineage)));
	for (size_t i = 0; i < n; i++) {
		const struct tf_repl_entry *x = &e[i];

		PROMISE(text_ok(x->name, sizeof(x->name)) && text_ok(x->uuid, sizeof(x->uuid)) &&
			text_ok(x->origin, sizeof(x->origin)) && text_ok(x->tags, sizeof(x->tags)));
		PROMISE(tf_recv_valid_name(x->name));
		for (size_t j = 0; j < i; j++)
			PROMISE(strcmp(e[j].name, x->name) != 0 && e[j].thin_id != x->thin_id);
		PROMISE((x->flags & ~(uint32_t)(TF_REPL_ENTRY_SENT | TF_REPL_ENTRY_HELD)) == 0);
		PROMISE(x->size_bytes > 0 && x->size_bytes <= (1ull << 62));
		if (!(x->flags & TF_REPL_ENTRY_SENT)) {
			PROMISE(x->stream_bytes == 0 && x->base == TF_REPL_NO_BASE);
			continue;
		}
		sent++;
		PROMISE(!(x->flags & TF_REPL_ENTRY_HELD));
		PROMISE(x->stream_bytes >= TF_STREAM_HEADER_BYTES + TF_STREAM_TRAILER_BYTES &&
			x->stream_bytes <= (1ull << 62));
		PROMISE(x->base == TF_REPL_NO_BASE ||
			(x->base < i &&
			 (e[x->base].flags & (TF_REPL_ENTRY_SENT | TF_REPL_ENTRY_HELD))));
	}
	PROMISE(sent == h->sent_count);
	/* the sizes add up without wrapping around */
	unsigned __int128 total = TF_REPL_HEADER_BYTES + TF_REPL_END_BYTES;
	for (size_t i = 0; i < n; i++)
		total += TF_REPL_ENTRY_BYTES +
			 ((e[i].flags & TF_REPL_ENTRY_SENT)
			      ? TF_REPL_FRAME_BYTES + (unsigned __int128)e[i].stream_bytes
			      : 0);
	PROMISE(total == h->stream_bytes);
	c->h = h;
	c->e = e;
	c->n = n;
	c->manifest = true;
	return 0;
}

static int r_begin(void *ctx, size_t i)
{
	struct check *c = ctx;

	PROMISE(c->manifest && !c->ended && c->open < 0);
	PROMISE(i >= c->next && i < c->n && (c->e[i].flags & TF_REPL_ENTRY_SENT));
	for (size_t j = c->next; j < i; j++) /* no sent volume skipped */
		PROMISE(!(c->e[j].flags & TF_REPL_ENTRY_SENT));
	c->open = (long)i;
	c->off = 0;
	if (tf_parser_init(&c->vol, &vol_sink, c) < 0)
		return tf_fail(ENOMEM, "volume %s: out of memory", c->e[i].name);
	c->vol_live = true;
	return 0;
}

static int r_data(void *ctx, const void *buf, size_t len, uint64_t off)
{
	struct check *c = ctx;
	const uint8_t *b = buf;

	PROMISE(c->open >= 0 && !c->ended);
	PROMISE(len > 0 && off == c->off);
	PROMISE(off > 0 || len >= TF_STREAM_HEADER_BYTES); /* the header first, checked */
	PROMISE(len <= c->e[c->open].stream_bytes - off);
	for (size_t i = 0; i < len; i++)
		c->sum += b[i];
	c->off += len;
	return tf_parser_feed(&c->vol, buf, len);
}

static int r_vol_end(void *ctx, size_t i)
{
	struct check *c = ctx;
	bool done = tf_parser_done(&c->vol);

	PROMISE(c->open >= 0 && (size_t)c->open == i && !c->ended);
	PROMISE(c->off == c->e[i].stream_bytes);
	tf_parser_free(&c->vol);
	c->vol_live = false;
	c->open = -1;
	c->next = i + 1;
	/* as tf_recv_finish: a stream that stops before its trailer is cut */
	return done ? 0
		    : tf_fail(EPIPE, "volume %s: its stream ends before its trailer", c->e[i].name);
}

static int r_end(void *ctx)
{
	struct check *c = ctx;

	PROMISE(c->manifest && !c->ended && c->open < 0);
	for (size_t j = c->next; j < c->n; j++)
		PROMISE(!(c->e[j].flags & TF_REPL_ENTRY_SENT));
	c->ended = true;
	return 0;
}

static const struct tf_repl_sink repl_sink = {
    .manifest = r_manifest,
    .volume_begin = r_begin,
    .volume_data = r_data,
    .volume_end = r_vol_end,
    .end = r_end,
};

static volatile unsigned bytes_seen; /* keeps the reads */

/* A failure names its cause, not only an errno. */
static void check_failure(int rc)
{
	const char *msg = tf_errmsg(), *p = msg;

	PROMISE(rc == -EBADMSG || rc == -EPROTONOSUPPORT || rc == -ENOMEM || rc == -EPIPE);
	if (strncmp(p, "replication stream offset ", 26) == 0 && (p = strstr(p, ": ")))
		p += 2;
	else
		p = msg;
	PROMISE(strcmp(msg, "unknown error") != 0 && *p && strcmp(p, strerror(-rc)) != 0);
}

/* Piece sizes a function of the input alone (reproducible), and varied:
 * whole reads, pipe-sized reads, and tiny ones that split every part. */
static size_t next_piece(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	switch ((*s >> 60) & 3) {
	case 0:
		return 1 + (*s >> 33) % 7;
	case 1:
		return 1 + (*s >> 33) % 1100;
	case 2:
		return 1 + (*s >> 33) % 65536;
	default:
		return 1 << 20;
	}
}

/* Checksums stop nearly every mutation at the first part it touches, so
 * each input is also fed with its checksums made right (as a hostile
 * sender would): the header's, every entry's, every frame's and embedded
 * stream header's (laid out as the input's own fields say), and the end's
 * checksum and digest.  What lies beyond the checks — counts, bases,
 * sizes, names, a stream that is not its entry's — is then reached. */
static void fix_checksums(uint8_t *d, size_t size)
{
	struct tf_repl_wire_header h;
	struct tf_sha256 dig;
	uint64_t pos = TF_REPL_HEADER_BYTES;
	uint64_t bytes[TF_REPL_MAX_VOLUMES];
	uint32_t flags[TF_REPL_MAX_VOLUMES], n;

	if (size < TF_REPL_HEADER_BYTES)
		return;
	memcpy(&h, d, sizeof(h));
	h.crc = tf_stream_crc(&h, offsetof(struct tf_repl_wire_header, crc));
	memcpy(d, &h, sizeof(h));
	tf_sha256_init(&dig);
	tf_sha256_update(&dig, d, TF_REPL_HEADER_BYTES);
	n = h.volume_count < TF_REPL_MAX_VOLUMES ? h.volume_count : TF_REPL_MAX_VOLUMES;
	for (uint32_t i = 0; i < n; i++, pos += TF_REPL_ENTRY_BYTES) {
		struct tf_repl_wire_entry w;
		if (size - pos < TF_REPL_ENTRY_BYTES)
			return;
		memcpy(&w, d + pos, sizeof(w));
		w.crc = tf_stream_crc(&w, offsetof(struct tf_repl_wire_entry, crc));
		memcpy(d + pos, &w, sizeof(w));
		tf_sha256_update(&dig, d + pos, TF_REPL_ENTRY_BYTES);
		bytes[i] = w.stream_bytes;
		flags[i] = w.flags;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct tf_repl_wire_frame f;
		struct tf_wire_header sh;
		if (!(flags[i] & TF_REPL_ENTRY_SENT))
			continue;
		if (size - pos < TF_REPL_FRAME_BYTES)
			return;
		memcpy(&f, d + pos, sizeof(f));
		f.crc = tf_stream_crc(&f, offsetof(struct tf_repl_wire_frame, crc));
		memcpy(d + pos, &f, sizeof(f));
		tf_sha256_update(&dig, d + pos, TF_REPL_FRAME_BYTES);
		pos += TF_REPL_FRAME_BYTES;
		if (size - pos >= sizeof(sh)) {
			memcpy(&sh, d + pos, sizeof(sh));
			sh.crc = tf_stream_crc(&sh, offsetof(struct tf_wire_header, crc));
			memcpy(d + pos, &sh, sizeof(sh));
		}
		if (bytes[i] > size - pos)
			return;
		pos += bytes[i];
	}
	if (size - pos >= TF_REPL_END_BYTES) {
		struct tf_repl_wire_end e;
		memcpy(&e, d + pos, sizeof(e));
		tf_sha256_final(&dig, e.digest);
		e.crc = tf_stream_crc(&e, offsetof(struct tf_repl_wire_end, crc));
		memcpy(d + pos, &e, sizeof(e));
	}
}

/* Feeds one input as receive does, then checks how it ended. */
static void receive_one(const uint8_t *data, size_t size)
{
	struct check c = {.open = -1};
	struct tf_repl_parser p;
	uint64_t seed = size;
	int rc = 0;

	tf_err_clear();
	tf_repl_parser_init(&p, &repl_sink, &c);
	for (size_t o = 0; o < size;) {
		size_t piece = next_piece(&seed);
		if (piece > size - o)
			piece = size - o;
		if ((rc = tf_repl_parser_feed(&p, data + o, piece)) < 0)
			break;
		o += piece;
	}
	if (rc < 0) {
		check_failure(rc);
	} else {
		/* the end of input: done iff the sink saw the end */
		PROMISE(tf_repl_parser_done(&p) == c.ended);
		PROMISE(!c.ended || c.open < 0);
	}
	if (c.vol_live)
		tf_parser_free(&c.vol);
	tf_repl_parser_free(&p);
	bytes_seen += c.sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *fixed;

	receive_one(data, size);
	if (size < TF_REPL_HEADER_BYTES || !(fixed = malloc(size)))
		return 0;
	memcpy(fixed, data, size);
	fix_checksums(fixed, size);
	if (memcmp(fixed, data, size) != 0)
		receive_one(fixed, size);
	free(fixed);
	return 0;
}
