/* repl.c — encoding, decoding and the push parser of the replication
 * stream (see repl.h and repl_format.h). */
#include "core/stream/repl.h"
#include "core/stream/wire_text.h"

#include "core/base/endian.h" /* the host is little-endian: fields are stored as is */
#include "core/base/err.h"
#include "core/stream/receive.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(struct tf_repl_wire_header) == TF_REPL_HEADER_BYTES, "header size");
_Static_assert(sizeof(struct tf_repl_wire_entry) == TF_REPL_ENTRY_BYTES, "entry size");
_Static_assert(sizeof(struct tf_repl_wire_frame) == TF_REPL_FRAME_BYTES, "frame size");
_Static_assert(sizeof(struct tf_repl_wire_end) == TF_REPL_END_BYTES, "end size");

static const char header_magic[8] = {'T', 'H', 'I', 'N', 'F', 'S', 'R', 'S'};
static const char frame_magic[8] = {'T', 'H', 'I', 'N', 'F', 'S', 'R', 'V'};
static const char end_magic[8] = {'T', 'H', 'I', 'N', 'F', 'S', 'R', 'E'};

#define CRC_OF(w) tf_stream_crc(&(w), offsetof(__typeof__(w), crc))

bool tf_repl_is_repl(const void *buf, size_t len)
{
	return len >= 8 && memcmp(buf, header_magic, 8) == 0;
}

void tf_repl_header_encode(const struct tf_repl_header *h, uint8_t out[TF_REPL_HEADER_BYTES])
{
	struct tf_repl_wire_header w;

	memset(&w, 0, sizeof(w));
	memcpy(w.magic, header_magic, 8);
	w.version = TF_REPL_VERSION;
	w.flags = h->all ? TF_REPL_FLAG_ALL : 0;
	w.volume_count = h->volume_count;
	w.sent_count = h->sent_count;
	w.stream_bytes = h->stream_bytes;
	w.send_time = h->send_time;
	tf_wire_text_put(w.identity, sizeof(w.identity), h->identity);
	tf_wire_text_put(w.lineage, sizeof(w.lineage), h->lineage);
	w.crc = CRC_OF(w);
	memcpy(out, &w, sizeof(w));
}

int tf_repl_header_decode(const uint8_t in[TF_REPL_HEADER_BYTES], struct tf_repl_header *h)
{
	struct tf_repl_wire_header w;
	int rc;

	memcpy(&w, in, sizeof(w));
	memset(h, 0, sizeof(*h));
	if (memcmp(w.magic, header_magic, 8) != 0)
		return tf_fail(EBADMSG, "not a thinfs replication stream (bad magic)");
	if (w.crc != CRC_OF(w))
		return tf_fail(EBADMSG, "replication stream header: checksum mismatch");
	if (w.version != TF_REPL_VERSION)
		return tf_fail(EPROTONOSUPPORT,
			       "replication stream version %u; this thinfs reads version %u",
			       w.version, TF_REPL_VERSION);
	if (w.flags & ~TF_REPL_FLAG_ALL)
		return tf_fail(EBADMSG, "replication stream header: unknown flags %#x", w.flags);
	if (w.volume_count == 0 || w.volume_count > TF_REPL_MAX_VOLUMES ||
	    w.sent_count > w.volume_count)
		return tf_fail(EBADMSG,
			       "replication stream header: implausible volume counts (%u, %u sent)",
			       w.volume_count, w.sent_count);
	h->all = w.flags & TF_REPL_FLAG_ALL;
	h->volume_count = w.volume_count;
	h->sent_count = w.sent_count;
	h->stream_bytes = w.stream_bytes;
	h->send_time = w.send_time;
	if ((rc = tf_wire_text_get(w.identity, sizeof(w.identity), h->identity,
				   "replication stream: header", "identity")) < 0 ||
	    (rc = tf_wire_text_get(w.lineage, sizeof(w.lineage), h->lineage,
				   "replication stream: header", "lineage")) < 0)
		return rc;
	return 0;
}

void tf_repl_entry_encode(const struct tf_repl_entry *e, uint8_t out[TF_REPL_ENTRY_BYTES])
{
	struct tf_repl_wire_entry w;

	memset(&w, 0, sizeof(w));
	tf_wire_text_put(w.name, sizeof(w.name), e->name);
	tf_wire_text_put(w.uuid, sizeof(w.uuid), e->uuid);
	tf_wire_text_put(w.origin, sizeof(w.origin), e->origin);
	tf_wire_text_put(w.tags, sizeof(w.tags), e->tags);
	w.thin_id = e->thin_id;
	w.flags = e->flags;
	w.base = e->base;
	w.size_bytes = e->size_bytes;
	w.creation_time = e->creation_time;
	w.stream_bytes = e->stream_bytes;
	memcpy(w.fingerprint, e->fp, 32);
	w.crc = CRC_OF(w);
	memcpy(out, &w, sizeof(w));
}

int tf_repl_entry_decode(const uint8_t in[TF_REPL_ENTRY_BYTES], struct tf_repl_entry *e)
{
	struct tf_repl_wire_entry w;
	int rc;

	memcpy(&w, in, sizeof(w));
	memset(e, 0, sizeof(*e));
	if (w.crc != CRC_OF(w))
		return tf_fail(EBADMSG, "replication manifest entry: checksum mismatch");
	if ((rc = tf_wire_text_get(w.name, sizeof(w.name), e->name,
				   "replication stream: manifest entry", "name")) < 0 ||
	    (rc = tf_wire_text_get(w.uuid, sizeof(w.uuid), e->uuid,
				   "replication stream: manifest entry", "uuid")) < 0 ||
	    (rc = tf_wire_text_get(w.origin, sizeof(w.origin), e->origin,
				   "replication stream: manifest entry", "origin")) < 0 ||
	    (rc = tf_wire_text_get(w.tags, sizeof(w.tags), e->tags,
				   "replication stream: manifest entry", "tags")) < 0)
		return rc;
	if (w.flags & ~(uint32_t)(TF_REPL_ENTRY_SENT | TF_REPL_ENTRY_HELD))
		return tf_fail(EBADMSG, "replication manifest: %s: unknown flags %#x", e->name,
			       w.flags);
	e->thin_id = w.thin_id;
	e->flags = w.flags;
	e->base = w.base;
	e->size_bytes = w.size_bytes;
	e->creation_time = w.creation_time;
	e->stream_bytes = w.stream_bytes;
	memcpy(e->fp, w.fingerprint, 32);
	return 0;
}

void tf_repl_frame_encode(uint32_t entry, uint32_t seq, const struct tf_repl_entry *e,
			  uint8_t out[TF_REPL_FRAME_BYTES])
{
	struct tf_repl_wire_frame w;

	memset(&w, 0, sizeof(w));
	memcpy(w.magic, frame_magic, 8);
	w.entry = entry;
	w.seq = seq;
	w.stream_bytes = e->stream_bytes;
	memcpy(w.fingerprint, e->fp, 32);
	w.crc = CRC_OF(w);
	memcpy(out, &w, sizeof(w));
}

void tf_repl_end_encode(const struct tf_repl_header *h, const uint8_t digest[32],
			uint8_t out[TF_REPL_END_BYTES])
{
	struct tf_repl_wire_end w;

	memset(&w, 0, sizeof(w));
	memcpy(w.magic, end_magic, 8);
	w.volume_count = h->volume_count;
	w.sent_count = h->sent_count;
	w.stream_bytes = h->stream_bytes;
	memcpy(w.digest, digest, 32);
	w.crc = CRC_OF(w);
	memcpy(out, &w, sizeof(w));
}

uint64_t tf_repl_size(const struct tf_repl_entry *e, size_t n)
{
	uint64_t size =
	    TF_REPL_HEADER_BYTES + TF_REPL_END_BYTES + (uint64_t)n * TF_REPL_ENTRY_BYTES;

	for (size_t i = 0; i < n; i++)
		if (e[i].flags & TF_REPL_ENTRY_SENT)
			size += TF_REPL_FRAME_BYTES + e[i].stream_bytes;
	return size;
}

int tf_repl_check_manifest(const struct tf_repl_header *h, const struct tf_repl_entry *e, size_t n)
{
	const uint64_t min_stream = TF_STREAM_HEADER_BYTES + TF_STREAM_TRAILER_BYTES;
	const uint64_t max_streams = 1ull << 62;
	uint64_t streams = 0; /* so far, at most max_streams: the total cannot wrap */
	uint32_t sent = 0;

	if (n != h->volume_count)
		return tf_fail(EBADMSG, "replication manifest: %zu entries, header says %u", n,
			       h->volume_count);
	for (size_t i = 0; i < n; i++) {
		const struct tf_repl_entry *x = &e[i];

		if (!tf_recv_valid_name(x->name))
			return tf_fail(EBADMSG, "replication manifest: entry %zu: bad name '%s'", i,
				       x->name);
		for (size_t j = 0; j < i; j++)
			if (strcmp(e[j].name, x->name) == 0 || e[j].thin_id == x->thin_id)
				return tf_fail(EBADMSG,
					       "replication manifest: %s appears twice (name or "
					       "thin id %u)",
					       x->name, x->thin_id);
		if (x->size_bytes == 0 || x->size_bytes > (1ull << 62))
			return tf_fail(EBADMSG, "replication manifest: %s: invalid size %" PRIu64,
				       x->name, x->size_bytes);
		if (!(x->flags & TF_REPL_ENTRY_SENT)) {
			if (x->stream_bytes != 0 || x->base != TF_REPL_NO_BASE)
				return tf_fail(EBADMSG,
					       "replication manifest: %s is not sent but has a "
					       "stream or a base",
					       x->name);
			continue;
		}
		sent++;
		if (x->flags & TF_REPL_ENTRY_HELD)
			return tf_fail(EBADMSG, "replication manifest: %s is both sent and held",
				       x->name);
		if (x->stream_bytes < min_stream || x->stream_bytes > max_streams - streams)
			return tf_fail(EBADMSG,
				       "replication manifest: %s: invalid stream size %" PRIu64
				       " (after %" PRIu64 " bytes of streams before it)",
				       x->name, x->stream_bytes, streams);
		streams += x->stream_bytes;
		if (x->base != TF_REPL_NO_BASE &&
		    (x->base >= i ||
		     !(e[x->base].flags & (TF_REPL_ENTRY_SENT | TF_REPL_ENTRY_HELD))))
			return tf_fail(EBADMSG,
				       "replication manifest: %s: its base (entry %u) is neither "
				       "sent before it nor held by the target",
				       x->name, x->base);
	}
	if (sent != h->sent_count)
		return tf_fail(EBADMSG, "replication manifest: %u volumes sent, header says %u",
			       sent, h->sent_count);
	if (tf_repl_size(e, n) != h->stream_bytes)
		return tf_fail(EBADMSG,
			       "replication stream: size %" PRIu64 " does not add up (%" PRIu64 ")",
			       h->stream_bytes, tf_repl_size(e, n));
	return 0;
}

/* ---- the parser ---- */

int tf_repl_parser_init(struct tf_repl_parser *p, const struct tf_repl_sink *sink, void *ctx)
{
	memset(p, 0, sizeof(*p));
	p->sink = sink;
	p->ctx = ctx;
	tf_sha256_init(&p->digest);
	return 0;
}

void tf_repl_parser_free(struct tf_repl_parser *p)
{
	free(p->e);
	p->e = NULL;
}

bool tf_repl_parser_done(const struct tf_repl_parser *p)
{
	return p->state == TF_RS_DONE;
}

static size_t next_sent(const struct tf_repl_parser *p, size_t from)
{
	while (from < p->nentries && !(p->e[from].flags & TF_REPL_ENTRY_SENT))
		from++;
	return from;
}

/* After the manifest or a volume: the next frame, or the end. */
static void after_volume(struct tf_repl_parser *p, size_t from)
{
	p->cur = next_sent(p, from);
	p->state = p->cur < p->nentries ? TF_RS_FRAME : TF_RS_END;
}

static int on_header(struct tf_repl_parser *p)
{
	int rc = tf_repl_header_decode(p->buf, &p->h);

	if (rc < 0)
		return rc;
	p->e = calloc(p->h.volume_count, sizeof(*p->e));
	if (!p->e)
		return tf_fail(ENOMEM, "replication stream: out of memory");
	tf_sha256_update(&p->digest, p->buf, TF_REPL_HEADER_BYTES);
	p->state = TF_RS_ENTRY;
	return 0;
}

static int on_entry(struct tf_repl_parser *p)
{
	int rc = tf_repl_entry_decode(p->buf, &p->e[p->nentries]);

	if (rc < 0)
		return rc;
	tf_sha256_update(&p->digest, p->buf, TF_REPL_ENTRY_BYTES);
	if (++p->nentries < p->h.volume_count)
		return 0;
	if ((rc = tf_repl_check_manifest(&p->h, p->e, p->nentries)) < 0)
		return rc;
	if (p->sink->manifest && (rc = p->sink->manifest(p->ctx, &p->h, p->e, p->nentries)) < 0)
		return rc;
	after_volume(p, 0);
	return 0;
}

static int on_frame(struct tf_repl_parser *p)
{
	struct tf_repl_wire_frame w;
	const struct tf_repl_entry *e = &p->e[p->cur];

	memcpy(&w, p->buf, sizeof(w));
	if (memcmp(w.magic, frame_magic, 8) != 0 || w.crc != CRC_OF(w))
		return tf_fail(EBADMSG, "replication stream: volume frame %u is damaged", p->seq);
	if (w.entry != p->cur || w.seq != p->seq || w.stream_bytes != e->stream_bytes ||
	    memcmp(w.fingerprint, e->fp, 32) != 0)
		return tf_fail(EBADMSG,
			       "replication stream: volume frame %u is not the manifest's "
			       "next volume (%s)",
			       w.seq, e->name);
	tf_sha256_update(&p->digest, p->buf, TF_REPL_FRAME_BYTES);
	p->seq++;
	p->in_vol = 0;
	p->state = TF_RS_VOLUME;
	return p->sink->volume_begin ? p->sink->volume_begin(p->ctx, p->cur) : 0;
}

/* The embedded stream's header must be the one the manifest announced. */
static int check_volume_header(struct tf_repl_parser *p)
{
	const struct tf_repl_entry *e = &p->e[p->cur];
	const struct tf_repl_entry *b = e->base == TF_REPL_NO_BASE ? NULL : &p->e[e->base];
	struct tf_stream_header h;
	int rc = tf_stream_header_decode(p->vol_hdr, &h);

	if (rc < 0)
		return tf_fail_ctx(rc, "%s: ", e->name);
	if (strcmp(h.identity, p->h.identity) != 0 || h.result_thin_id != e->thin_id ||
	    memcmp(h.result_fp, e->fp, 32) != 0 || h.volume_bytes != e->size_bytes ||
	    h.stream_bytes != e->stream_bytes || h.incremental != (b != NULL) ||
	    (b && (h.base_thin_id != b->thin_id || memcmp(h.base_fp, b->fp, 32) != 0)))
		return tf_fail(EBADMSG,
			       "replication stream: the delta stream of %s is not the one its "
			       "manifest entry describes",
			       e->name);
	return 0;
}

static int feed_volume(struct tf_repl_parser *p, const uint8_t *in, size_t take)
{
	int rc;

	if (p->in_vol < TF_STREAM_HEADER_BYTES) {
		size_t h = TF_STREAM_HEADER_BYTES - p->in_vol < take
			       ? (size_t)(TF_STREAM_HEADER_BYTES - p->in_vol)
			       : take;
		memcpy(p->vol_hdr + p->in_vol, in, h);
		p->in_vol += h;
		in += h;
		take -= h;
		if (p->in_vol < TF_STREAM_HEADER_BYTES)
			return 0;
		if ((rc = check_volume_header(p)) < 0 ||
		    (rc = p->sink->volume_data(p->ctx, p->vol_hdr, TF_STREAM_HEADER_BYTES, 0)) < 0)
			return rc;
	}
	if (take > 0) {
		if ((rc = p->sink->volume_data(p->ctx, in, take, p->in_vol)) < 0)
			return rc;
		p->in_vol += take;
	}
	if (p->in_vol == p->e[p->cur].stream_bytes) {
		size_t done = p->cur;
		if (p->sink->volume_end && (rc = p->sink->volume_end(p->ctx, done)) < 0)
			return rc;
		after_volume(p, done + 1);
	}
	return 0;
}

static int on_end(struct tf_repl_parser *p)
{
	struct tf_repl_wire_end w;
	struct tf_sha256 c = p->digest;
	uint8_t digest[32];

	memcpy(&w, p->buf, sizeof(w));
	if (memcmp(w.magic, end_magic, 8) != 0 || w.crc != CRC_OF(w))
		return tf_fail(EBADMSG, "replication stream: the end record is damaged");
	tf_sha256_final(&c, digest);
	if (w.volume_count != p->h.volume_count || w.sent_count != p->h.sent_count ||
	    w.stream_bytes != p->h.stream_bytes || memcmp(w.digest, digest, 32) != 0)
		return tf_fail(EBADMSG, "replication stream: the end does not match the header and "
					"manifest (digest)");
	p->state = TF_RS_DONE;
	return p->sink->end ? p->sink->end(p->ctx) : 0;
}

static size_t part_size(const struct tf_repl_parser *p)
{
	switch (p->state) {
	case TF_RS_HEADER:
		return TF_REPL_HEADER_BYTES;
	case TF_RS_ENTRY:
		return TF_REPL_ENTRY_BYTES;
	case TF_RS_FRAME:
		return TF_REPL_FRAME_BYTES;
	case TF_RS_END:
		return TF_REPL_END_BYTES;
	default:
		return 0;
	}
}

int tf_repl_parser_feed(struct tf_repl_parser *p, const void *data, size_t len)
{
	const uint8_t *in = data;
	int rc;

	while (len > 0) {
		size_t take;

		if (p->state == TF_RS_DONE)
			return tf_fail(
			    EBADMSG,
			    "replication stream: %zu bytes after its end (offset %" PRIu64 ")", len,
			    p->pos);
		if (p->state == TF_RS_VOLUME) {
			uint64_t left = p->e[p->cur].stream_bytes - p->in_vol;
			take = left < len ? (size_t)left : len;
			rc = feed_volume(p, in, take);
		} else {
			take = part_size(p) - p->have < len ? part_size(p) - p->have : len;
			memcpy(p->buf + p->have, in, take);
			p->have += take;
			rc = 0;
			if (p->have == part_size(p)) {
				p->have = 0;
				switch (p->state) {
				case TF_RS_HEADER:
					rc = on_header(p);
					break;
				case TF_RS_ENTRY:
					rc = on_entry(p);
					break;
				case TF_RS_FRAME:
					rc = on_frame(p);
					break;
				default:
					rc = on_end(p);
				}
			}
		}
		if (rc < 0)
			return tf_fail_ctx(rc, "replication stream offset %" PRIu64 ": ", p->pos);
		p->pos += take;
		in += take;
		len -= take;
	}
	return 0;
}
