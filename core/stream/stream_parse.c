/* stream_parse.c — the delta stream's push parser (see stream_parse.h). */
#include "core/stream/stream_parse.h"

#include "core/base/err.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

int tf_parser_init(struct tf_stream_parser *p, const struct tf_stream_sink *sink, void *ctx)
{
	memset(p, 0, sizeof(*p));
	p->sink = sink;
	p->ctx = ctx;
	p->payload = malloc(TF_STREAM_MAX_DATA);
	if (!p->payload)
		return tf_fail(ENOMEM, "stream: out of memory");
	tf_sha256_init(&p->digest);
	return 0;
}

void tf_parser_free(struct tf_stream_parser *p)
{
	free(p->payload);
	p->payload = NULL;
}

bool tf_parser_done(const struct tf_stream_parser *p)
{
	return p->state == TF_PS_DONE;
}

static void checkpoint(struct tf_stream_parser *p)
{
	p->last.pos = p->pos;
	p->last.seq = p->seq;
	p->last.prev_end = p->prev_end;
	p->last.data_bytes = p->data_bytes;
	p->last.digest = p->digest;
}

static int where(struct tf_stream_parser *p, int rc)
{
	return tf_fail_ctx(rc, "stream offset %" PRIu64 ", record %" PRIu64 ": ", p->pos, p->seq);
}

/* The next state after a record (or the header) ends. */
static void next_part(struct tf_stream_parser *p)
{
	checkpoint(p);
	p->have = 0;
	p->state = p->seq < p->h.record_count ? TF_PS_RECORD : TF_PS_TRAILER;
}

static int on_header(struct tf_stream_parser *p)
{
	int rc = tf_stream_header_decode(p->buf, &p->h);

	if (rc < 0)
		return rc;
	memcpy(p->last.header, p->buf, TF_STREAM_HEADER_BYTES);
	tf_sha256_update(&p->digest, p->buf, TF_STREAM_HEADER_BYTES);
	if (p->sink->header && (rc = p->sink->header(p->ctx, &p->h)) < 0)
		return rc;
	next_part(p);
	return 0;
}

static int on_record(struct tf_stream_parser *p)
{
	struct tf_stream_rec *r = &p->rec;
	int rc = tf_stream_rec_decode(p->buf, r);

	if (rc < 0)
		return rc;
	if (r->seq != (uint32_t)p->seq)
		return tf_fail(EBADMSG, "record says it is number %u (records out of order?)",
			       r->seq);
	if (r->offset < p->prev_end)
		return tf_fail(EBADMSG,
			       "record at %" PRIu64 " overlaps or precedes the one before "
			       "(ending at %" PRIu64 ")",
			       r->offset, p->prev_end);
	if (r->offset > p->h.volume_bytes || r->length > p->h.volume_bytes - r->offset)
		return tf_fail(EBADMSG,
			       "record [%" PRIu64 ", +%" PRIu64 ") passes the volume end "
			       "(%" PRIu64 " bytes)",
			       r->offset, r->length, p->h.volume_bytes);
	if (r->type == TF_REC_DATA && r->length > p->h.data_bytes - p->data_bytes)
		return tf_fail(EBADMSG, "more data than the header announced");
	tf_sha256_update(&p->digest, p->buf, TF_STREAM_RECORD_BYTES);
	p->prev_end = r->offset + r->length;
	p->seq++;
	if (r->type == TF_REC_ZERO) {
		if ((rc = p->sink->zero(p->ctx, r->offset, r->length)) < 0)
			return rc;
		next_part(p);
		return 0;
	}
	p->payload_have = 0;
	p->state = TF_PS_PAYLOAD;
	return 0;
}

static int on_payload(struct tf_stream_parser *p)
{
	struct tf_stream_rec *r = &p->rec;
	int rc;

	if (tf_stream_crc(p->payload, r->length) != r->crc)
		return tf_fail(EBADMSG, "data checksum mismatch at volume offset %" PRIu64,
			       r->offset);
	if ((rc = p->sink->data(p->ctx, r->offset, p->payload, r->length)) < 0)
		return rc;
	p->data_bytes += r->length;
	next_part(p);
	return 0;
}

static int on_trailer(struct tf_stream_parser *p)
{
	struct tf_stream_trailer t;
	uint8_t digest[32];
	struct tf_sha256 c = p->digest;
	int rc = tf_stream_trailer_decode(p->buf, &t);

	if (rc < 0)
		return rc;
	tf_sha256_final(&c, digest);
	if (t.record_count != p->h.record_count || t.data_bytes != p->h.data_bytes ||
	    p->data_bytes != p->h.data_bytes)
		return tf_fail(EBADMSG, "stream trailer: counts disagree with the header");
	if (memcmp(digest, t.digest, 32) != 0)
		return tf_fail(EBADMSG, "stream trailer: digest mismatch");
	p->state = TF_PS_DONE;
	return 0;
}

static size_t part_size(const struct tf_stream_parser *p)
{
	switch (p->state) {
	case TF_PS_HEADER:
		return TF_STREAM_HEADER_BYTES;
	case TF_PS_RECORD:
		return TF_STREAM_RECORD_BYTES;
	case TF_PS_TRAILER:
		return TF_STREAM_TRAILER_BYTES;
	default:
		return 0;
	}
}

int tf_parser_feed(struct tf_stream_parser *p, const void *data, size_t len)
{
	const uint8_t *in = data;
	int rc;

	while (len > 0) {
		size_t take;

		if (p->state == TF_PS_DONE)
			return where(
			    p, tf_fail(EBADMSG, "%zu bytes after the end of the stream", len));
		if (p->state == TF_PS_PAYLOAD) {
			take = p->rec.length - p->payload_have < len
				   ? p->rec.length - p->payload_have
				   : len;
			memcpy(p->payload + p->payload_have, in, take);
			p->payload_have += take;
			p->pos += take;
			in += take;
			len -= take;
			if (p->payload_have == p->rec.length && (rc = on_payload(p)) < 0)
				return where(p, rc);
			continue;
		}
		take = part_size(p) - p->have < len ? part_size(p) - p->have : len;
		memcpy(p->buf + p->have, in, take);
		p->have += take;
		p->pos += take;
		in += take;
		len -= take;
		if (p->have < part_size(p))
			continue;
		switch (p->state) {
		case TF_PS_HEADER:
			rc = on_header(p);
			break;
		case TF_PS_RECORD:
			rc = on_record(p);
			break;
		default:
			rc = on_trailer(p);
		}
		if (rc < 0)
			return where(p, rc);
	}
	return 0;
}

int tf_parser_resume(struct tf_stream_parser *p, const struct tf_parser_checkpoint *cp)
{
	int rc = tf_stream_header_decode(cp->header, &p->h);

	if (rc < 0)
		return rc;
	/* The checkpoint comes from a file: it must describe a record
	 * boundary of this header's stream before the parser trusts it. */
	if (cp->seq > p->h.record_count || cp->data_bytes > p->h.data_bytes ||
	    cp->prev_end > p->h.volume_bytes ||
	    cp->pos != TF_STREAM_HEADER_BYTES + cp->seq * TF_STREAM_RECORD_BYTES + cp->data_bytes)
		return tf_fail(EBADMSG,
			       "resume point (offset %" PRIu64 ", record %" PRIu64
			       ") is not a record boundary of this stream",
			       cp->pos, cp->seq);
	p->pos = cp->pos;
	p->seq = cp->seq;
	p->prev_end = cp->prev_end;
	p->data_bytes = cp->data_bytes;
	p->digest = cp->digest;
	p->last = *cp;
	p->have = 0;
	p->state = p->seq < p->h.record_count ? TF_PS_RECORD : TF_PS_TRAILER;
	return 0;
}
