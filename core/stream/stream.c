/* stream.c — encoding and decoding the delta stream's parts, fingerprints,
 * and the sender's plan with random access (see stream.h). */
#include "core/stream/stream.h"
#include "core/stream/wire_text.h"

#include "core/base/endian.h" /* the host is little-endian: fields are stored as is */
#include "core/base/err.h"
#include "core/base/vec.h"
#include "core/io/bio.h"
#include "core/io/crc32c.h"
#include "core/io/sha256.h"
#include "core/stream/stream_format.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

_Static_assert(sizeof(struct tf_wire_header) == TF_STREAM_HEADER_BYTES, "header size");
_Static_assert(sizeof(struct tf_wire_record) == TF_STREAM_RECORD_BYTES, "record size");
_Static_assert(sizeof(struct tf_wire_trailer) == TF_STREAM_TRAILER_BYTES, "trailer size");

static const char header_magic[8] = {'T', 'H', 'I', 'N', 'F', 'S', 'D', 'S'};
static const char trailer_magic[8] = {'T', 'H', 'I', 'N', 'F', 'E', 'N', 'D'};

uint32_t tf_stream_crc(const void *p, size_t n)
{
	return ~tf_crc32c(0xffffffffu, p, n);
}

void tf_stream_header_encode(const struct tf_stream_header *h, uint8_t out[TF_STREAM_HEADER_BYTES])
{
	struct tf_wire_header w;

	memset(&w, 0, sizeof(w));
	memcpy(w.magic, header_magic, 8);
	w.version = TF_STREAM_VERSION;
	w.flags = h->incremental ? TF_WIRE_FLAG_INCREMENTAL : 0;
	w.chunk_bytes = h->chunk_bytes;
	w.volume_bytes = h->volume_bytes;
	w.record_count = h->record_count;
	w.stream_bytes = h->stream_bytes;
	w.data_bytes = h->data_bytes;
	w.result_thin_id = h->result_thin_id;
	w.base_thin_id = h->base_thin_id;
	memcpy(w.base_fp, h->base_fp, 32);
	memcpy(w.result_fp, h->result_fp, 32);
	tf_wire_text_put(w.identity, sizeof(w.identity), h->identity);
	tf_wire_text_put(w.result_uuid, sizeof(w.result_uuid), h->result_uuid);
	tf_wire_text_put(w.base_uuid, sizeof(w.base_uuid), h->base_uuid);
	tf_wire_text_put(w.result_name, sizeof(w.result_name), h->result_name);
	w.crc = tf_stream_crc(&w, offsetof(struct tf_wire_header, crc));
	memcpy(out, &w, sizeof(w));
}

int tf_stream_header_decode(const uint8_t in[TF_STREAM_HEADER_BYTES], struct tf_stream_header *h)
{
	struct tf_wire_header w;
	uint64_t min;
	int rc;

	memcpy(&w, in, sizeof(w));
	memset(h, 0, sizeof(*h));
	if (memcmp(w.magic, header_magic, 8) != 0)
		return tf_fail(EBADMSG, "stream header: not a thinfs delta stream (bad magic)");
	if (w.crc != tf_stream_crc(&w, offsetof(struct tf_wire_header, crc)))
		return tf_fail(EBADMSG, "stream header: checksum mismatch");
	if (w.version != TF_STREAM_VERSION)
		return tf_fail(EPROTONOSUPPORT,
			       "stream header: version %u; this thinfs reads "
			       "version %u",
			       w.version, TF_STREAM_VERSION);
	if (w.flags & ~TF_WIRE_FLAG_INCREMENTAL)
		return tf_fail(EBADMSG, "stream header: unknown flags %#x", w.flags);
	h->incremental = w.flags & TF_WIRE_FLAG_INCREMENTAL;
	h->chunk_bytes = w.chunk_bytes;
	h->volume_bytes = w.volume_bytes;
	h->record_count = w.record_count;
	h->stream_bytes = w.stream_bytes;
	h->data_bytes = w.data_bytes;
	h->result_thin_id = w.result_thin_id;
	h->base_thin_id = w.base_thin_id;
	memcpy(h->base_fp, w.base_fp, 32);
	memcpy(h->result_fp, w.result_fp, 32);
	if ((rc = tf_wire_text_get(w.identity, sizeof(w.identity), h->identity, "stream header",
				   "identity")) < 0 ||
	    (rc = tf_wire_text_get(w.result_uuid, sizeof(w.result_uuid), h->result_uuid,
				   "stream header", "result uuid")) < 0 ||
	    (rc = tf_wire_text_get(w.base_uuid, sizeof(w.base_uuid), h->base_uuid, "stream header",
				   "base uuid")) < 0 ||
	    (rc = tf_wire_text_get(w.result_name, sizeof(w.result_name), h->result_name,
				   "stream header", "result name")) < 0)
		return rc;
	/* 64 KiB..1 GiB chunks as dm-thin allows; volumes below 2^62 bytes. */
	if (h->chunk_bytes < 65536 || h->chunk_bytes > (1u << 30) ||
	    (h->chunk_bytes & (h->chunk_bytes - 1)))
		return tf_fail(EBADMSG, "stream header: invalid chunk size %" PRIu64,
			       h->chunk_bytes);
	if (h->volume_bytes == 0 || h->volume_bytes > (1ull << 62))
		return tf_fail(EBADMSG, "stream header: invalid volume size %" PRIu64,
			       h->volume_bytes);
	if (h->record_count > (1ull << 40) || h->data_bytes > h->volume_bytes)
		return tf_fail(EBADMSG, "stream header: implausible record count or data size");
	min = TF_STREAM_HEADER_BYTES + TF_STREAM_TRAILER_BYTES +
	      h->record_count * TF_STREAM_RECORD_BYTES + h->data_bytes;
	if (h->stream_bytes != min)
		return tf_fail(EBADMSG,
			       "stream header: stream size %" PRIu64 " does not add up "
			       "(%" PRIu64 ")",
			       h->stream_bytes, min);
	if (!h->incremental && h->base_thin_id != TF_STREAM_NO_BASE)
		return tf_fail(EBADMSG, "stream header: a full stream names a base");
	return 0;
}

void tf_stream_rec_encode(const struct tf_stream_rec *r, uint8_t out[TF_STREAM_RECORD_BYTES])
{
	struct tf_wire_record w = {.type = r->type,
				   .payload_crc = r->crc,
				   .offset = r->offset,
				   .length = r->length,
				   .seq = r->seq};

	w.crc = tf_stream_crc(&w, offsetof(struct tf_wire_record, crc));
	memcpy(out, &w, sizeof(w));
}

int tf_stream_rec_decode(const uint8_t in[TF_STREAM_RECORD_BYTES], struct tf_stream_rec *r)
{
	struct tf_wire_record w;

	memcpy(&w, in, sizeof(w));
	if (w.crc != tf_stream_crc(&w, offsetof(struct tf_wire_record, crc)))
		return tf_fail(EBADMSG, "record header checksum mismatch");
	r->type = w.type;
	r->crc = w.payload_crc;
	r->offset = w.offset;
	r->length = w.length;
	r->seq = w.seq;
	if (r->type != TF_REC_DATA && r->type != TF_REC_ZERO)
		return tf_fail(EBADMSG, "unknown record type %u", r->type);
	if (r->length == 0 || (r->type == TF_REC_DATA && r->length > TF_STREAM_MAX_DATA))
		return tf_fail(EBADMSG, "invalid record length %" PRIu64, r->length);
	if (r->type == TF_REC_ZERO && r->crc != 0)
		return tf_fail(EBADMSG, "ZERO record with a payload checksum");
	return 0;
}

void tf_stream_trailer_encode(const struct tf_stream_trailer *t,
			      uint8_t out[TF_STREAM_TRAILER_BYTES])
{
	struct tf_wire_trailer w;

	memset(&w, 0, sizeof(w));
	memcpy(w.magic, trailer_magic, 8);
	w.record_count = t->record_count;
	w.data_bytes = t->data_bytes;
	memcpy(w.digest, t->digest, 32);
	w.crc = tf_stream_crc(&w, offsetof(struct tf_wire_trailer, crc));
	memcpy(out, &w, sizeof(w));
}

int tf_stream_trailer_decode(const uint8_t in[TF_STREAM_TRAILER_BYTES], struct tf_stream_trailer *t)
{
	struct tf_wire_trailer w;

	memcpy(&w, in, sizeof(w));
	if (memcmp(w.magic, trailer_magic, 8) != 0)
		return tf_fail(EBADMSG, "stream trailer: bad magic (truncated or misplaced?)");
	if (w.crc != tf_stream_crc(&w, offsetof(struct tf_wire_trailer, crc)))
		return tf_fail(EBADMSG, "stream trailer: checksum mismatch");
	t->record_count = w.record_count;
	t->data_bytes = w.data_bytes;
	memcpy(t->digest, w.digest, 32);
	return 0;
}

void tf_stream_fingerprint(const char *identity, uint32_t thin_id, const char *uuid,
			   const struct tf_thin_run *runs, size_t n, uint8_t out[32])
{
	struct tf_sha256 c;

	tf_sha256_init(&c);
	tf_sha256_update(&c, identity, strlen(identity) + 1);
	tf_sha256_update(&c, &thin_id, sizeof(thin_id));
	tf_sha256_update(&c, uuid, strlen(uuid) + 1);
	for (size_t i = 0; i < n; i++) {
		uint64_t v[3] = {runs[i].vbegin, runs[i].dbegin, runs[i].len};
		tf_sha256_update(&c, v, sizeof(v));
	}
	tf_sha256_final(&c, out);
}

int tf_stream_recs_add(struct tf_stream_recs *l, enum tf_rec_type type, uint64_t off, uint64_t len,
		       uint64_t volume_bytes)
{
	if (off >= volume_bytes)
		return 0;
	if (len > volume_bytes - off)
		len = volume_bytes - off;
	while (len > 0) {
		uint64_t n =
		    type == TF_REC_DATA && len > TF_STREAM_MAX_DATA ? TF_STREAM_MAX_DATA : len;

		struct tf_stream_rec *r = TF_VEC_PUSH(l->v, l->n, l->cap);

		if (!r)
			return tf_fail(ENOMEM, "stream: out of memory for records");
		*r = (struct tf_stream_rec){
		    .type = type, .offset = off, .length = n, .seq = (uint32_t)(l->n - 1)};
		off += n;
		len -= n;
	}
	return 0;
}

void tf_stream_recs_free(struct tf_stream_recs *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* ---- the plan ---- */

struct tf_stream_plan {
	struct tf_stream_header h;
	uint8_t header[TF_STREAM_HEADER_BYTES];
	struct tf_stream_recs recs;
	uint64_t *start;       /* stream offset of each record */
	_Atomic uint64_t *crc; /* 0 = not computed, else 1 << 32 | crc */
	struct tf_bio *vol;    /* the result volume (borrowed) */
	pthread_mutex_t trailer_lock;
	bool have_trailer;
	/* The payload read last to checksum it: a sequential reader asks for
	 * it right after its record header, so it is not read twice. */
	pthread_mutex_t cache_lock;
	size_t cache_rec;
	void *cache_buf;
	uint8_t trailer[TF_STREAM_TRAILER_BYTES];
};

int tf_stream_plan_new(const struct tf_stream_header *h, struct tf_stream_recs *recs,
		       struct tf_bio *vol, struct tf_stream_plan **out)
{
	struct tf_stream_plan *p = calloc(1, sizeof(*p));
	uint64_t pos = TF_STREAM_HEADER_BYTES, data = 0;

	if (!p)
		return tf_fail(ENOMEM, "stream: out of memory");
	p->h = *h;
	p->recs = *recs;
	memset(recs, 0, sizeof(*recs));
	p->start = calloc(p->recs.n + 1, sizeof(*p->start));
	p->crc = calloc(p->recs.n + 1, sizeof(*p->crc));
	if (!p->start || !p->crc) {
		tf_stream_plan_free(p);
		return tf_fail(ENOMEM, "stream: out of memory");
	}
	for (size_t i = 0; i < p->recs.n; i++) {
		struct tf_stream_rec *r = &p->recs.v[i];

		r->seq = (uint32_t)i;
		p->start[i] = pos;
		pos += TF_STREAM_RECORD_BYTES;
		if (r->type == TF_REC_DATA) {
			pos += r->length;
			data += r->length;
		} else {
			atomic_store(&p->crc[i], 1ull << 32);
		}
	}
	p->h.record_count = p->recs.n;
	p->h.data_bytes = data;
	p->h.stream_bytes = pos + TF_STREAM_TRAILER_BYTES;
	tf_stream_header_encode(&p->h, p->header);
	p->vol = vol;
	pthread_mutex_init(&p->trailer_lock, NULL);
	pthread_mutex_init(&p->cache_lock, NULL);
	p->cache_rec = SIZE_MAX;
	*out = p;
	return 0;
}

uint64_t tf_stream_plan_size(const struct tf_stream_plan *p)
{
	return p->h.stream_bytes;
}

const struct tf_stream_header *tf_stream_plan_header(const struct tf_stream_plan *p)
{
	return &p->h;
}

void tf_stream_plan_free(struct tf_stream_plan *p)
{
	if (!p)
		return;
	tf_stream_recs_free(&p->recs);
	free(p->start);
	free((void *)p->crc);
	pthread_mutex_destroy(&p->trailer_lock);
	pthread_mutex_destroy(&p->cache_lock);
	free(p->cache_buf);
	free(p);
}

/* The payload checksum of record i, reading its data once. */
static int rec_crc(struct tf_stream_plan *p, size_t i, uint32_t *crc)
{
	const struct tf_stream_rec *r = &p->recs.v[i];
	uint64_t c = atomic_load(&p->crc[i]);
	void *buf;
	int rc;

	if (c) {
		*crc = (uint32_t)c;
		return 0;
	}
	buf = malloc(r->length);
	if (!buf)
		return tf_fail(ENOMEM, "stream: out of memory");
	rc = tf_bio_pread(p->vol, buf, r->length, r->offset);
	if (rc == 0) {
		*crc = tf_stream_crc(buf, r->length);
		atomic_store(&p->crc[i], 1ull << 32 | *crc);
		pthread_mutex_lock(&p->cache_lock);
		free(p->cache_buf);
		p->cache_buf = buf;
		p->cache_rec = i;
		pthread_mutex_unlock(&p->cache_lock);
		return 0;
	}
	free(buf);
	return rc;
}

static int rec_header(struct tf_stream_plan *p, size_t i, uint8_t out[TF_STREAM_RECORD_BYTES])
{
	struct tf_stream_rec r = p->recs.v[i];
	int rc = r.type == TF_REC_DATA ? rec_crc(p, i, &r.crc) : 0;

	if (rc == 0)
		tf_stream_rec_encode(&r, out);
	return rc;
}

static int trailer(struct tf_stream_plan *p)
{
	struct tf_stream_trailer t = {.record_count = p->h.record_count,
				      .data_bytes = p->h.data_bytes};
	uint8_t rh[TF_STREAM_RECORD_BYTES];
	struct tf_sha256 c;
	int rc = 0;

	pthread_mutex_lock(&p->trailer_lock);
	if (!p->have_trailer) {
		tf_sha256_init(&c);
		tf_sha256_update(&c, p->header, sizeof(p->header));
		for (size_t i = 0; i < p->recs.n && rc == 0; i++) {
			if ((rc = rec_header(p, i, rh)) == 0)
				tf_sha256_update(&c, rh, sizeof(rh));
		}
		if (rc == 0) {
			tf_sha256_final(&c, t.digest);
			tf_stream_trailer_encode(&t, p->trailer);
			p->have_trailer = true;
		}
	}
	pthread_mutex_unlock(&p->trailer_lock);
	return rc;
}

static bool starts_after(const void *elem, const void *key)
{
	return *(const uint64_t *)elem > *(const uint64_t *)key;
}

/* The record that holds stream offset off (off past the header): the last
 * one that starts at or before it. */
static size_t rec_at(const struct tf_stream_plan *p, uint64_t off)
{
	size_t i = tf_partition_point(p->start, p->recs.n, sizeof(*p->start), &off, starts_after);

	return i ? i - 1 : 0;
}

uint64_t tf_stream_size(const struct tf_stream_recs *recs)
{
	uint64_t n = TF_STREAM_HEADER_BYTES + TF_STREAM_TRAILER_BYTES;

	for (size_t i = 0; i < recs->n; i++)
		n += TF_STREAM_RECORD_BYTES +
		     (recs->v[i].type == TF_REC_DATA ? recs->v[i].length : 0);
	return n;
}

int tf_stream_locate(const struct tf_stream_plan *p, uint64_t off, struct tf_stream_pos *out)
{
	uint64_t trailer_at = p->h.stream_bytes - TF_STREAM_TRAILER_BYTES;

	memset(out, 0, sizeof(*out));
	if (off >= p->h.stream_bytes)
		return tf_fail(EINVAL, "stream offset %" PRIu64 " is past the end (%" PRIu64 ")",
			       off, p->h.stream_bytes);
	if (off < TF_STREAM_HEADER_BYTES) {
		out->part = TF_PART_HEADER;
		out->in = off;
	} else if (off >= trailer_at) {
		out->part = TF_PART_TRAILER;
		out->in = off - trailer_at;
	} else {
		out->rec = rec_at(p, off);
		out->in = off - p->start[out->rec];
		out->part = TF_PART_RECORD;
		if (out->in >= TF_STREAM_RECORD_BYTES) {
			out->part = TF_PART_PAYLOAD;
			out->in -= TF_STREAM_RECORD_BYTES;
		}
	}
	return 0;
}

ssize_t tf_stream_plan_read(struct tf_stream_plan *p, void *buf, size_t len, uint64_t off)
{
	uint64_t size = p->h.stream_bytes, trailer_at = size - TF_STREAM_TRAILER_BYTES;
	uint8_t *o = buf;
	size_t done = 0;
	int rc;

	if (off >= size)
		return 0;
	if (len > size - off)
		len = (size_t)(size - off);
	while (done < len) {
		uint64_t pos = off + done;
		size_t n;

		if (pos < TF_STREAM_HEADER_BYTES) {
			n = TF_STREAM_HEADER_BYTES - pos < len - done ? TF_STREAM_HEADER_BYTES - pos
								      : len - done;
			memcpy(o + done, p->header + pos, n);
		} else if (pos >= trailer_at) {
			if ((rc = trailer(p)) < 0)
				return rc;
			n = len - done;
			memcpy(o + done, p->trailer + (pos - trailer_at), n);
		} else {
			size_t i = rec_at(p, pos);
			const struct tf_stream_rec *r = &p->recs.v[i];
			uint64_t in = pos - p->start[i];

			if (in < TF_STREAM_RECORD_BYTES) {
				uint8_t rh[TF_STREAM_RECORD_BYTES];
				if ((rc = rec_header(p, i, rh)) < 0)
					return rc;
				n = TF_STREAM_RECORD_BYTES - in < len - done
					? (size_t)(TF_STREAM_RECORD_BYTES - in)
					: len - done;
				memcpy(o + done, rh + in, n);
			} else {
				uint64_t pin = in - TF_STREAM_RECORD_BYTES;
				bool cached;

				n = r->length - pin < len - done ? (size_t)(r->length - pin)
								 : len - done;
				pthread_mutex_lock(&p->cache_lock);
				cached = p->cache_rec == i;
				if (cached)
					memcpy(o + done, (uint8_t *)p->cache_buf + pin, n);
				pthread_mutex_unlock(&p->cache_lock);
				if (!cached &&
				    (rc = tf_bio_pread(p->vol, o + done, n, r->offset + pin)) < 0)
					return rc;
			}
		}
		done += n;
	}
	return (ssize_t)done;
}
