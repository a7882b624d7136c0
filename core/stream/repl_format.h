/* repl_format.h — the replication stream's bytes on the wire, version 1.
 *
 * A replication stream carries many volumes of one pool — a lineage (a
 * volume, its origin chain and every snapshot descended from it) or the
 * whole pool — each as an unchanged single-volume delta stream
 * (stream_format.h), after a manifest that names every volume.  Map (all
 * integers little-endian; docs/replication-stream.md explains the fields):
 *
 *   struct tf_repl_wire_header   256 bytes
 *       0  magic "THINFSRS"        8  version (1)          12  flags (bit 0: --all)
 *      16  volume count           20  sent count           24  stream bytes (all of it)
 *      32  send time (unix µs)    40  pool identity [128] 168  lineage [64]
 *     232  zero [20]             252  crc32c of 0..251
 *   volume_count × struct tf_repl_wire_entry   1024 bytes each, oldest first
 *       0  name [128]            128  LV uuid [64]        192  origin name [128]
 *     320  thin id               324  flags (bit 0 SENT: its stream follows;
 *                                            bit 1 HELD: the target must hold it,
 *                                            a base of a volume sent)
 *     328  base: index of the entry it is an increment over (~0: a full stream)
 *     332  zero                  336  size bytes          344  creation time (unix s)
 *     352  stream bytes (0 unless SENT)                   360  fingerprint [32]
 *     392  LVM tags, comma-separated [628]                1020 crc32c of 0..1019
 *   for each SENT entry, in manifest order:
 *     struct tf_repl_wire_frame  64 bytes
 *       0  magic "THINFSRV"        8  entry index          12  sequence (0, 1, ...)
 *      16  stream bytes           24  fingerprint [32]     56  zero   60  crc32c of 0..59
 *     then that volume's delta stream, stream bytes long
 *   struct tf_repl_wire_end      64 bytes
 *       0  magic "THINFSRE"        8  volume count         12  sent count
 *      16  stream bytes           24  SHA-256 of the header, every entry and every frame
 *      56  zero                   60  crc32c of 0..59
 *
 * Strings are NUL-padded and always hold a NUL.  Each embedded delta stream
 * checks its own records and payloads; its header must name the entry's
 * thin id, fingerprint and base, so a stream cannot be swapped in for
 * another.  The end's digest binds the manifest and frames together.
 */
#ifndef THINFS_REPL_FORMAT_H
#define THINFS_REPL_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#define TF_REPL_VERSION 1u
#define TF_REPL_FLAG_ALL 1u
#define TF_REPL_ENTRY_SENT 1u
#define TF_REPL_ENTRY_HELD 2u
#define TF_REPL_NO_BASE 0xffffffffu
/* A hostile header cannot make the receiver allocate more than this many
 * entries (1 MiB of manifest). */
#define TF_REPL_MAX_VOLUMES 1024u

struct tf_repl_wire_header {
	char magic[8];
	uint32_t version;
	uint32_t flags;
	uint32_t volume_count;
	uint32_t sent_count;
	uint64_t stream_bytes;
	uint64_t send_time;
	char identity[128];
	char lineage[64];
	uint8_t reserved[20];
	uint32_t crc;
} __attribute__((packed));

struct tf_repl_wire_entry {
	char name[128];
	char uuid[64];
	char origin[128];
	uint32_t thin_id;
	uint32_t flags;
	uint32_t base;
	uint32_t reserved;
	uint64_t size_bytes;
	int64_t creation_time;
	uint64_t stream_bytes;
	uint8_t fingerprint[32];
	char tags[628];
	uint32_t crc;
} __attribute__((packed));

struct tf_repl_wire_frame {
	char magic[8];
	uint32_t entry;
	uint32_t seq;
	uint64_t stream_bytes;
	uint8_t fingerprint[32];
	uint32_t reserved;
	uint32_t crc;
} __attribute__((packed));

struct tf_repl_wire_end {
	char magic[8];
	uint32_t volume_count;
	uint32_t sent_count;
	uint64_t stream_bytes;
	uint8_t digest[32];
	uint32_t reserved;
	uint32_t crc;
} __attribute__((packed));

_Static_assert(sizeof(struct tf_repl_wire_header) == 256, "replication header is 256 bytes");
_Static_assert(offsetof(struct tf_repl_wire_header, version) == 8, "header: version");
_Static_assert(offsetof(struct tf_repl_wire_header, flags) == 12, "header: flags");
_Static_assert(offsetof(struct tf_repl_wire_header, volume_count) == 16, "header: volumes");
_Static_assert(offsetof(struct tf_repl_wire_header, sent_count) == 20, "header: sent");
_Static_assert(offsetof(struct tf_repl_wire_header, stream_bytes) == 24, "header: size");
_Static_assert(offsetof(struct tf_repl_wire_header, send_time) == 32, "header: time");
_Static_assert(offsetof(struct tf_repl_wire_header, identity) == 40, "header: identity");
_Static_assert(offsetof(struct tf_repl_wire_header, lineage) == 168, "header: lineage");
_Static_assert(offsetof(struct tf_repl_wire_header, reserved) == 232, "header: reserved");
_Static_assert(offsetof(struct tf_repl_wire_header, crc) == 252, "header: crc");

_Static_assert(sizeof(struct tf_repl_wire_entry) == 1024, "manifest entry is 1024 bytes");
_Static_assert(offsetof(struct tf_repl_wire_entry, uuid) == 128, "entry: uuid");
_Static_assert(offsetof(struct tf_repl_wire_entry, origin) == 192, "entry: origin");
_Static_assert(offsetof(struct tf_repl_wire_entry, thin_id) == 320, "entry: thin id");
_Static_assert(offsetof(struct tf_repl_wire_entry, flags) == 324, "entry: flags");
_Static_assert(offsetof(struct tf_repl_wire_entry, base) == 328, "entry: base");
_Static_assert(offsetof(struct tf_repl_wire_entry, reserved) == 332, "entry: reserved");
_Static_assert(offsetof(struct tf_repl_wire_entry, size_bytes) == 336, "entry: size");
_Static_assert(offsetof(struct tf_repl_wire_entry, creation_time) == 344, "entry: ctime");
_Static_assert(offsetof(struct tf_repl_wire_entry, stream_bytes) == 352, "entry: stream");
_Static_assert(offsetof(struct tf_repl_wire_entry, fingerprint) == 360, "entry: fingerprint");
_Static_assert(offsetof(struct tf_repl_wire_entry, tags) == 392, "entry: tags");
_Static_assert(offsetof(struct tf_repl_wire_entry, crc) == 1020, "entry: crc");

_Static_assert(sizeof(struct tf_repl_wire_frame) == 64, "volume frame is 64 bytes");
_Static_assert(offsetof(struct tf_repl_wire_frame, entry) == 8, "frame: entry");
_Static_assert(offsetof(struct tf_repl_wire_frame, seq) == 12, "frame: sequence");
_Static_assert(offsetof(struct tf_repl_wire_frame, stream_bytes) == 16, "frame: size");
_Static_assert(offsetof(struct tf_repl_wire_frame, fingerprint) == 24, "frame: fingerprint");
_Static_assert(offsetof(struct tf_repl_wire_frame, reserved) == 56, "frame: reserved");
_Static_assert(offsetof(struct tf_repl_wire_frame, crc) == 60, "frame: crc");

_Static_assert(sizeof(struct tf_repl_wire_end) == 64, "end is 64 bytes");
_Static_assert(offsetof(struct tf_repl_wire_end, volume_count) == 8, "end: volumes");
_Static_assert(offsetof(struct tf_repl_wire_end, sent_count) == 12, "end: sent");
_Static_assert(offsetof(struct tf_repl_wire_end, stream_bytes) == 16, "end: size");
_Static_assert(offsetof(struct tf_repl_wire_end, digest) == 24, "end: digest");
_Static_assert(offsetof(struct tf_repl_wire_end, reserved) == 56, "end: reserved");
_Static_assert(offsetof(struct tf_repl_wire_end, crc) == 60, "end: crc");

#endif
