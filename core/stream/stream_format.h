/* stream_format.h — the delta stream's bytes on the wire, version 1.
 *
 * Map (all integers little-endian; docs/delta-stream.md explains each field):
 *
 *   struct tf_wire_header   512 bytes
 *       0  magic "THINFSDS"          8  version (1)       12  flags (bit 0: incremental)
 *      16  chunk bytes              24  volume bytes      32  record count
 *      40  stream bytes             48  data bytes        56  result thin id
 *      60  base thin id (~0: none)  64  base fingerprint  96  result fingerprint
 *     128  pool identity [128]     256  result LV uuid   320  base LV uuid
 *     384  result LV name [64]     448  zero [60]       508  crc32c of 0..507
 *   then record_count records, each
 *   struct tf_wire_record    32 bytes
 *       0  type (1 DATA, 2 ZERO)     4  payload crc32c     8  volume offset
 *      16  length                   24  sequence          28  crc32c of 0..27
 *       (DATA: followed by `length` payload bytes)
 *   struct tf_wire_trailer   64 bytes
 *       0  magic "THINFEND"          8  record count      16  data bytes
 *      24  SHA-256 of the header and every record header  56  zero
 *      60  crc32c of 0..59
 *
 * Strings are NUL-padded and always hold a NUL.  These structs are the
 * layout, not the API: stream.c encodes struct tf_stream_header and friends
 * into them and decodes (validating) out of them.
 */
#ifndef THINFS_STREAM_FORMAT_H
#define THINFS_STREAM_FORMAT_H

#include <stddef.h>
#include <stdint.h>

struct tf_wire_header {
	char magic[8];
	uint32_t version;
	uint32_t flags;
	uint64_t chunk_bytes;
	uint64_t volume_bytes;
	uint64_t record_count;
	uint64_t stream_bytes;
	uint64_t data_bytes;
	uint32_t result_thin_id;
	uint32_t base_thin_id;
	uint8_t base_fp[32];
	uint8_t result_fp[32];
	char identity[128];
	char result_uuid[64];
	char base_uuid[64];
	char result_name[64];
	uint8_t reserved[60];
	uint32_t crc;
} __attribute__((packed));

struct tf_wire_record {
	uint32_t type;
	uint32_t payload_crc;
	uint64_t offset;
	uint64_t length;
	uint32_t seq;
	uint32_t crc;
} __attribute__((packed));

struct tf_wire_trailer {
	char magic[8];
	uint64_t record_count;
	uint64_t data_bytes;
	uint8_t digest[32];
	uint32_t reserved;
	uint32_t crc;
} __attribute__((packed));

#define TF_WIRE_FLAG_INCREMENTAL 1u

_Static_assert(sizeof(struct tf_wire_header) == 512, "stream header is 512 bytes");
_Static_assert(offsetof(struct tf_wire_header, version) == 8, "header: version");
_Static_assert(offsetof(struct tf_wire_header, flags) == 12, "header: flags");
_Static_assert(offsetof(struct tf_wire_header, chunk_bytes) == 16, "header: chunk size");
_Static_assert(offsetof(struct tf_wire_header, volume_bytes) == 24, "header: volume size");
_Static_assert(offsetof(struct tf_wire_header, record_count) == 32, "header: record count");
_Static_assert(offsetof(struct tf_wire_header, stream_bytes) == 40, "header: stream size");
_Static_assert(offsetof(struct tf_wire_header, data_bytes) == 48, "header: data bytes");
_Static_assert(offsetof(struct tf_wire_header, result_thin_id) == 56, "header: result id");
_Static_assert(offsetof(struct tf_wire_header, base_thin_id) == 60, "header: base id");
_Static_assert(offsetof(struct tf_wire_header, base_fp) == 64, "header: base fingerprint");
_Static_assert(offsetof(struct tf_wire_header, result_fp) == 96, "header: result fingerprint");
_Static_assert(offsetof(struct tf_wire_header, identity) == 128, "header: identity");
_Static_assert(offsetof(struct tf_wire_header, result_uuid) == 256, "header: result uuid");
_Static_assert(offsetof(struct tf_wire_header, base_uuid) == 320, "header: base uuid");
_Static_assert(offsetof(struct tf_wire_header, result_name) == 384, "header: result name");
_Static_assert(offsetof(struct tf_wire_header, reserved) == 448, "header: reserved");
_Static_assert(offsetof(struct tf_wire_header, crc) == 508, "header: crc");

_Static_assert(sizeof(struct tf_wire_record) == 32, "record header is 32 bytes");
_Static_assert(offsetof(struct tf_wire_record, payload_crc) == 4, "record: payload crc");
_Static_assert(offsetof(struct tf_wire_record, offset) == 8, "record: offset");
_Static_assert(offsetof(struct tf_wire_record, length) == 16, "record: length");
_Static_assert(offsetof(struct tf_wire_record, seq) == 24, "record: sequence");
_Static_assert(offsetof(struct tf_wire_record, crc) == 28, "record: crc");

_Static_assert(sizeof(struct tf_wire_trailer) == 64, "trailer is 64 bytes");
_Static_assert(offsetof(struct tf_wire_trailer, record_count) == 8, "trailer: record count");
_Static_assert(offsetof(struct tf_wire_trailer, data_bytes) == 16, "trailer: data bytes");
_Static_assert(offsetof(struct tf_wire_trailer, digest) == 24, "trailer: digest");
_Static_assert(offsetof(struct tf_wire_trailer, reserved) == 56, "trailer: reserved");
_Static_assert(offsetof(struct tf_wire_trailer, crc) == 60, "trailer: crc");

#endif
