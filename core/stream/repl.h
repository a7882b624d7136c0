/* repl.h — the replication stream: many volumes of a pool in one stream.
 *
 * The layout is in repl_format.h and docs/replication-stream.md: a header,
 * a manifest (one entry per volume, oldest first), then for each volume
 * sent a frame and its unchanged single-volume delta stream (stream.h), and
 * an end whose digest binds header, manifest and frames.
 *
 * Sending (tools/send_repl.c):
 *   fill struct tf_repl_header and the entries (SENT ones with stream_bytes)
 *   h.stream_bytes = tf_repl_size(entries, n);     // -n, before any byte
 *   tf_repl_header_encode, tf_repl_entry_encode each, then per SENT entry
 *   tf_repl_frame_encode and its delta stream, then tf_repl_end_encode with
 *   the SHA-256 of every header, entry and frame byte.
 *
 * Receiving: tf_repl_parser_feed() takes bytes in pieces of any size,
 * validates each part before acting on it and calls the sink: manifest
 * once (every entry checked: names, bases earlier in the stream, sizes that
 * add up), then per volume begin / data (the embedded delta stream, its
 * header already checked against the entry: thin ids, fingerprints, base,
 * size, pool identity) / end, then end after the digest checked out.
 * Errors are -EBADMSG (damage), -EPROTONOSUPPORT (version) and the sink's.
 */
#ifndef THINFS_REPL_H
#define THINFS_REPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/io/sha256.h"
#include "core/stream/repl_format.h"
#include "core/stream/stream.h"

#define TF_REPL_HEADER_BYTES 256u
#define TF_REPL_ENTRY_BYTES 1024u
#define TF_REPL_FRAME_BYTES 64u
#define TF_REPL_END_BYTES 64u

struct tf_repl_header {
	bool all; /* the whole pool (--all), not one lineage */
	uint32_t volume_count, sent_count;
	uint64_t stream_bytes;
	uint64_t send_time; /* microseconds since 1970 */
	char identity[128];
	char lineage[64]; /* the lineage root's LV uuid (or name); "" with --all */
};

struct tf_repl_entry {
	char name[128];
	char uuid[64];
	char origin[128]; /* "" if none */
	char tags[628];	  /* comma-separated */
	uint32_t thin_id;
	uint32_t flags; /* TF_REPL_ENTRY_SENT, TF_REPL_ENTRY_HELD */
	uint32_t base;	/* entry index, or TF_REPL_NO_BASE */
	uint64_t size_bytes;
	int64_t creation_time;
	uint64_t stream_bytes;
	uint8_t fp[32];
};

void tf_repl_header_encode(const struct tf_repl_header *h, uint8_t out[TF_REPL_HEADER_BYTES]);
int tf_repl_header_decode(const uint8_t in[TF_REPL_HEADER_BYTES], struct tf_repl_header *h);
void tf_repl_entry_encode(const struct tf_repl_entry *e, uint8_t out[TF_REPL_ENTRY_BYTES]);
int tf_repl_entry_decode(const uint8_t in[TF_REPL_ENTRY_BYTES], struct tf_repl_entry *e);
void tf_repl_frame_encode(uint32_t entry, uint32_t seq, const struct tf_repl_entry *e,
			  uint8_t out[TF_REPL_FRAME_BYTES]);
void tf_repl_end_encode(const struct tf_repl_header *h, const uint8_t digest[32],
			uint8_t out[TF_REPL_END_BYTES]);

/* The whole stream's size for these entries (SENT ones with stream_bytes). */
uint64_t tf_repl_size(const struct tf_repl_entry *e, size_t n);
/* Checks the manifest is self-consistent for header h: -EBADMSG naming
 * the entry otherwise. */
int tf_repl_check_manifest(const struct tf_repl_header *h, const struct tf_repl_entry *e, size_t n);
/* Whether the first bytes (at least 8) are a replication stream's. */
bool tf_repl_is_repl(const void *buf, size_t len);

struct tf_repl_sink {
	int (*manifest)(void *ctx, const struct tf_repl_header *h, const struct tf_repl_entry *e,
			size_t n);
	int (*volume_begin)(void *ctx, size_t entry);
	/* Bytes [off, off + len) of the entry's delta stream, in order. */
	int (*volume_data)(void *ctx, const void *buf, size_t len, uint64_t off);
	int (*volume_end)(void *ctx, size_t entry);
	int (*end)(void *ctx);
};

enum tf_repl_state { TF_RS_HEADER, TF_RS_ENTRY, TF_RS_FRAME, TF_RS_VOLUME, TF_RS_END, TF_RS_DONE };

struct tf_repl_parser {
	const struct tf_repl_sink *sink;
	void *ctx;
	enum tf_repl_state state;
	uint64_t pos;
	uint8_t buf[TF_REPL_ENTRY_BYTES]; /* the part being gathered */
	size_t have;
	struct tf_repl_header h;
	struct tf_repl_entry *e; /* h.volume_count entries */
	size_t nentries;
	size_t cur;	 /* entry being received (TF_RS_VOLUME) */
	uint32_t seq;	 /* frames seen */
	uint64_t in_vol; /* bytes of the current volume's stream consumed */
	uint8_t vol_hdr[TF_STREAM_HEADER_BYTES];
	struct tf_sha256 digest;
};

int tf_repl_parser_init(struct tf_repl_parser *p, const struct tf_repl_sink *sink, void *ctx);
void tf_repl_parser_free(struct tf_repl_parser *p);
/* Consumes all of buf or fails; once failed, the parser must not be fed. */
int tf_repl_parser_feed(struct tf_repl_parser *p, const void *buf, size_t len);
bool tf_repl_parser_done(const struct tf_repl_parser *p);

#endif
