/* stream.h — the thinfs delta stream: format and the sender's plan.
 *
 * Map (little-endian; the byte layout is core/stream/stream_format.h, the
 * full description docs/delta-stream.md):
 *
 *   header   512 bytes  magic "THINFSDS", version, flags, chunk and volume
 *                       size, record count, stream size, data bytes, thin
 *                       ids, base and result fingerprints, pool identity,
 *                       LV uuids and name; crc32c of bytes 0..507 at 508
 *   records  32-byte header (type, payload crc32c, offset, length, sequence,
 *                       crc32c of bytes 0..27) + payload for DATA
 *            DATA  bytes to write at offset (length <= 1 MiB)
 *            ZERO  offset/length to read back as zeros (unmapped in the result)
 *   trailer  64 bytes   magic "THINFEND", record count, data bytes, SHA-256
 *                       over the header and every record header (whose payload
 *                       crc32c covers the data), crc32c of bytes 0..59
 *
 * The sender's plan knows every record's place before reading a byte, so the
 * stream has a true size and any byte range can be produced on demand (a
 * FUSE file read at random offsets).  Payload checksums are computed when a
 * record header or the trailer is first produced and then kept.
 *
 * Sending (what deltas/<lv>/<base> and `thinfs send` do):
 *
 *   struct tf_stream_header h = {.incremental = true, .chunk_bytes = ...,
 *       .volume_bytes = ..., .result_thin_id = ..., .base_thin_id = ...};
 *   // identity, uuids, tf_stream_fingerprint() of base and result runs
 *   struct tf_stream_recs recs = {0};
 *   tf_stream_recs_add(&recs, TF_REC_DATA, off, len, h.volume_bytes);  // ascending
 *   tf_stream_recs_add(&recs, TF_REC_ZERO, off, len, h.volume_bytes);
 *   tf_stream_size(&recs);                       // st_size, before any byte
 *   tf_stream_plan_new(&h, &recs, vol_bio, &plan);   // takes recs
 *   tf_stream_plan_read(plan, buf, len, any_offset);          // any range
 *   tf_stream_plan_free(plan);
 *
 * Reading the trailer needs every payload checksum, so the first read of
 * the last 64 bytes reads all the data once; the digest covers the header
 * and the record headers (which carry the payload CRCs), which is what
 * makes the other ranges cheap to produce out of order.
 */
#ifndef THINFS_STREAM_H
#define THINFS_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/thin/thin_meta.h"

#define TF_STREAM_VERSION 1u
#define TF_STREAM_HEADER_BYTES 512u
#define TF_STREAM_RECORD_BYTES 32u
#define TF_STREAM_TRAILER_BYTES 64u
#define TF_STREAM_MAX_DATA (1u << 20)
#define TF_STREAM_NO_BASE 0xffffffffu

enum tf_rec_type { TF_REC_DATA = 1, TF_REC_ZERO = 2 };

struct tf_stream_header {
	bool incremental;
	uint64_t chunk_bytes;
	uint64_t volume_bytes;
	uint64_t record_count;
	uint64_t stream_bytes;
	uint64_t data_bytes;
	uint32_t result_thin_id;
	uint32_t base_thin_id; /* TF_STREAM_NO_BASE for a full stream */
	uint8_t base_fp[32];   /* zero for a full stream */
	uint8_t result_fp[32];
	char identity[128];
	char result_uuid[64];
	char base_uuid[64];
	char result_name[64];
};

struct tf_stream_rec {
	uint32_t type;
	uint32_t crc; /* crc32c of the payload (DATA) */
	uint64_t offset, length;
	uint32_t seq;
};

struct tf_stream_trailer {
	uint64_t record_count;
	uint64_t data_bytes;
	uint8_t digest[32];
};

void tf_stream_header_encode(const struct tf_stream_header *h, uint8_t out[TF_STREAM_HEADER_BYTES]);
/* Validates and decodes; errors name the field. */
int tf_stream_header_decode(const uint8_t in[TF_STREAM_HEADER_BYTES], struct tf_stream_header *h);
void tf_stream_rec_encode(const struct tf_stream_rec *r, uint8_t out[TF_STREAM_RECORD_BYTES]);
int tf_stream_rec_decode(const uint8_t in[TF_STREAM_RECORD_BYTES], struct tf_stream_rec *r);
void tf_stream_trailer_encode(const struct tf_stream_trailer *t,
			      uint8_t out[TF_STREAM_TRAILER_BYTES]);
int tf_stream_trailer_decode(const uint8_t in[TF_STREAM_TRAILER_BYTES],
			     struct tf_stream_trailer *t);
/* The standard CRC-32C of a payload. */
uint32_t tf_stream_crc(const void *p, size_t n);

/* The fingerprint of a device's state: SHA-256 over the pool identity, thin
 * id, LV uuid and its runs.  A snapshot's fingerprint never changes, so the
 * result fingerprint a target records is the base fingerprint the next
 * incremental must carry. */
void tf_stream_fingerprint(const char *identity, uint32_t thin_id, const char *uuid,
			   const struct tf_thin_run *runs, size_t n, uint8_t out[32]);

/* A growing list of records (type, offset, length); DATA ranges are split
 * at TF_STREAM_MAX_DATA and everything is clipped to the volume size. */
struct tf_stream_recs {
	struct tf_stream_rec *v;
	size_t n, cap;
};
int tf_stream_recs_add(struct tf_stream_recs *l, enum tf_rec_type type, uint64_t off, uint64_t len,
		       uint64_t volume_bytes);
void tf_stream_recs_free(struct tf_stream_recs *l);

struct tf_bio;
struct tf_stream_plan;
/* Takes the records (ascending, non-overlapping); fills the header's counts
 * and sizes.  vol is the result volume as block I/O (core/vol/volume.h:
 * tf_volume_bio), read when payloads are asked for; it must stay valid for
 * the plan's life. */
int tf_stream_plan_new(const struct tf_stream_header *h, struct tf_stream_recs *recs,
		       struct tf_bio *vol, struct tf_stream_plan **out);
uint64_t tf_stream_plan_size(const struct tf_stream_plan *p);
const struct tf_stream_header *tf_stream_plan_header(const struct tf_stream_plan *p);
/* The size of the stream these records make, before a byte is produced
 * (what tf_stream_plan_new puts in the header's stream_bytes). */
uint64_t tf_stream_size(const struct tf_stream_recs *recs);

/* Where a stream offset falls: which part, which record, how far in. */
enum tf_stream_part { TF_PART_HEADER, TF_PART_RECORD, TF_PART_PAYLOAD, TF_PART_TRAILER };
struct tf_stream_pos {
	enum tf_stream_part part;
	size_t rec;  /* record index (RECORD, PAYLOAD) */
	uint64_t in; /* byte offset within that part */
};
/* -EINVAL past the end; O(log records). */
int tf_stream_locate(const struct tf_stream_plan *p, uint64_t off, struct tf_stream_pos *out);

/* Produces stream bytes [off, off+len) (short only at the end); thread-safe. */
ssize_t tf_stream_plan_read(struct tf_stream_plan *p, void *buf, size_t len, uint64_t off);
void tf_stream_plan_free(struct tf_stream_plan *p);

#endif
