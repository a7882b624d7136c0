/* fuzz_stream.c — libFuzzer harness: arbitrary bytes into the delta stream
 * parser, in arbitrary pieces, with a sink that checks every write lies
 * inside the volume the header announced. */
#include "core/stream/stream_parse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct bounds {
	uint64_t volume;
};

static int f_header(void *ctx, const struct tf_stream_header *h)
{
	((struct bounds *)ctx)->volume = h->volume_bytes;
	return 0;
}

static int f_data(void *ctx, uint64_t off, const void *buf, size_t len)
{
	(void)buf;
	if (off + len > ((struct bounds *)ctx)->volume || len > TF_STREAM_MAX_DATA)
		abort();
	return 0;
}

static int f_zero(void *ctx, uint64_t off, uint64_t len)
{
	if (off + len > ((struct bounds *)ctx)->volume)
		abort();
	return 0;
}

static const struct tf_stream_sink sink = {.header = f_header, .data = f_data, .zero = f_zero};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bounds b = {0};
	struct tf_stream_parser p;
	size_t piece = size ? 1 + data[0] % 97 : 1;

	if (tf_parser_init(&p, &sink, &b) < 0)
		return 0;
	for (size_t o = 0; o < size; o += piece)
		if (tf_parser_feed(&p, data + o, size - o < piece ? size - o : piece) < 0)
			break;
	tf_parser_free(&p);
	return 0;
}
