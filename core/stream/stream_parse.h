/* stream_parse.h — an incremental parser of the delta stream.
 *
 * Bytes arrive in pieces of any size (FUSE writes, a pipe); the parser
 * validates each part before it is acted on — header checksum and bounds,
 * record checksums, order (ascending, non-overlapping, within the volume),
 * payload checksums, the trailer's counts and digest — and hands records to
 * a sink.  Nothing hostile can make it allocate more than one payload
 * (1 MiB) or act on a byte past the volume.  Errors name the record index
 * and stream offset.
 */
#ifndef THINFS_STREAM_PARSE_H
#define THINFS_STREAM_PARSE_H

#include "core/io/sha256.h"
#include "core/stream/stream.h"

struct tf_stream_sink {
	int (*header)(void *ctx, const struct tf_stream_header *h);
	int (*data)(void *ctx, uint64_t off, const void *buf, size_t len);
	int (*zero)(void *ctx, uint64_t off, uint64_t len);
};

/* Where the parser stands at a record boundary: enough to resume. */
struct tf_parser_checkpoint {
	uint64_t pos;	   /* stream bytes consumed */
	uint64_t seq;	   /* next record index */
	uint64_t prev_end; /* end of the last record */
	uint64_t data_bytes;
	struct tf_sha256 digest;
	uint8_t header[TF_STREAM_HEADER_BYTES];
};

enum tf_parse_state { TF_PS_HEADER, TF_PS_RECORD, TF_PS_PAYLOAD, TF_PS_TRAILER, TF_PS_DONE };

struct tf_stream_parser {
	const struct tf_stream_sink *sink;
	void *ctx;
	enum tf_parse_state state;
	uint64_t pos;
	uint8_t buf[TF_STREAM_HEADER_BYTES]; /* header, record header or trailer being gathered */
	size_t have;
	struct tf_stream_header h;
	struct tf_stream_rec rec;
	uint64_t seq, prev_end, data_bytes;
	uint8_t *payload; /* TF_STREAM_MAX_DATA bytes */
	size_t payload_have;
	struct tf_sha256 digest;
	struct tf_parser_checkpoint last; /* at the last record boundary */
};

int tf_parser_init(struct tf_stream_parser *p, const struct tf_stream_sink *sink, void *ctx);
void tf_parser_free(struct tf_stream_parser *p);
/* Consumes all of buf or fails; once failed, the parser must not be fed. */
int tf_parser_feed(struct tf_stream_parser *p, const void *buf, size_t len);
bool tf_parser_done(const struct tf_stream_parser *p);
/* Restarts at a checkpoint (the header is re-decoded, not re-sent to the
 * sink's header callback). */
int tf_parser_resume(struct tf_stream_parser *p, const struct tf_parser_checkpoint *cp);

#endif
