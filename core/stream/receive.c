/* receive.c — a receive session: the stream parser feeding a target, with
 * sticky errors, periodic checkpoints and all-or-nothing commit. */
#include "core/stream/receive_internal.h"

#include "core/base/err.h"
#include "core/io/bio.h"
#include "core/io/crc32c.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Durable checkpoints this often, so a crash loses at most this much. */
#define CHECKPOINT_BYTES (64ull << 20)

struct tf_recv {
	struct tf_target *t;
	/* The staging area as block I/O: data records are written through it,
	 * so a fault-injecting wrapper (opts.fault) can stand in between. */
	struct tf_bio *stage, *stage_io;
	struct tf_recv_opts opts;
	struct tf_stream_parser parser;
	bool begun, finished;
	int error; /* sticky */
	char errmsg[1024];
	uint64_t data_since_checkpoint;
	uint64_t checkpoint_pos; /* of the last durable checkpoint */
	/* A resumed session also accepts the whole stream written again from 0
	 * (cp into receive/ after an interruption): the header is gathered and
	 * compared with the checkpoint's, then bytes before the resume point
	 * are skipped.  rewrite_pos is the next offset of such a re-write. */
	bool resumed;
	uint64_t rewrite_pos;
	uint8_t rewrite_hdr[TF_STREAM_HEADER_BYTES];
	bool wrong_stream;
};

static int recv_header(void *ctx, const struct tf_stream_header *h)
{
	struct tf_recv *r = ctx;
	int rc = r->t->ops->begin(r->t, h, r->opts.force, false);

	if (rc == 0)
		r->begun = true;
	return rc;
}

static int stage_pwrite(struct tf_bio *b, const void *buf, size_t len, uint64_t off)
{
	struct tf_target *t = b->priv;

	return t->ops->data(t, off, buf, len);
}

static int stage_pread(struct tf_bio *b, void *buf, size_t len, uint64_t off)
{
	(void)buf;
	(void)len;
	(void)off;
	return tf_fail(EOPNOTSUPP, "%s: the staging area is written, not read", b->name);
}

static void stage_close(struct tf_bio *b)
{
	free(b);
}

static const struct tf_bio_ops stage_ops = {
    .pread = stage_pread,
    .pwrite = stage_pwrite,
    .close = stage_close,
};

static void stage_drop(struct tf_recv *r)
{
	if (r->stage_io != r->stage)
		tf_bio_close(r->stage_io);
	tf_bio_close(r->stage);
	r->stage = r->stage_io = NULL;
}

/* The block I/O that data records go through, made on the first one. */
static int stage_open(struct tf_recv *r)
{
	struct tf_bio *b = calloc(1, sizeof(*b));
	int rc;

	if (!b)
		return tf_fail(ENOMEM, "%s: out of memory", r->t->name);
	*b = (struct tf_bio){.ops = &stage_ops, .size = r->parser.h.volume_bytes, .priv = r->t};
	snprintf(b->name, sizeof(b->name), "%.200s", r->t->name);
	r->stage = r->stage_io = b;
	if (r->opts.fault && (rc = tf_bio_open_fault(b, r->opts.fault, &r->stage_io)) < 0) {
		r->stage_io = b;
		stage_drop(r);
		return rc;
	}
	return 0;
}

static int recv_data(void *ctx, uint64_t off, const void *buf, size_t len)
{
	struct tf_recv *r = ctx;
	int rc;

	r->data_since_checkpoint += len;
	if (!r->stage_io && (rc = stage_open(r)) < 0)
		return rc;
	return tf_bio_pwrite(r->stage_io, buf, len, off);
}

static int recv_zero(void *ctx, uint64_t off, uint64_t len)
{
	struct tf_recv *r = ctx;

	return r->t->ops->zero(r->t, off, len);
}

static const struct tf_stream_sink recv_sink = {
    .header = recv_header,
    .data = recv_data,
    .zero = recv_zero,
};

static int recv_new(struct tf_target *t, const struct tf_recv_opts *o, struct tf_recv **out)
{
	struct tf_recv *r = calloc(1, sizeof(*r));
	struct tf_parser_checkpoint cp;
	int rc;

	if (!r) {
		t->ops->free(t);
		return tf_fail(ENOMEM, "receive: out of memory");
	}
	r->t = t;
	if (o)
		r->opts = *o;
	t->keep_prev = r->opts.keep_prev;
	if ((rc = tf_parser_init(&r->parser, &recv_sink, r)) < 0)
		goto fail;
	if (r->opts.resume || r->opts.resume_if_any) {
		if ((rc = t->ops->load_checkpoint(t, &cp)) < 0) {
			if (!r->opts.resume) {
				/* nothing (usable) to resume: a fresh receive,
				 * whose begin drops the leftovers */
				tf_err_clear();
				*out = r;
				return 0;
			}
			if (rc == -ENOENT)
				rc = tf_fail(ENOENT, "%s: no interrupted receive to resume",
					     t->name);
			goto fail;
		}
		if ((rc = tf_parser_resume(&r->parser, &cp)) < 0 ||
		    (rc = t->ops->begin(t, &r->parser.h, r->opts.force, true)) < 0)
			goto fail;
		r->begun = true;
		r->resumed = true;
		r->checkpoint_pos = cp.pos;
	}
	*out = r;
	return 0;
fail:
	tf_parser_free(&r->parser);
	t->ops->free(t);
	free(r);
	return rc;
}

int tf_recv_open_dir(const char *dir, const char *lv, const struct tf_recv_opts *o,
		     struct tf_recv **out)
{
	struct tf_target *t;
	int rc = tf_target_file_open(dir, lv, &t);

	return rc < 0 ? rc : recv_new(t, o, out);
}

int tf_recv_open_lvm(const char *vg_pool, const char *lv, const struct tf_recv_opts *o,
		     struct tf_recv **out)
{
	struct tf_target *t;
	int rc = tf_target_lvm_open(vg_pool, lv, &t);

	return rc < 0 ? rc : recv_new(t, o, out);
}

int tf_recv_open_target(struct tf_target *t, const struct tf_recv_opts *o, struct tf_recv **out)
{
	return recv_new(t, o, out);
}

uint64_t tf_recv_offset(const struct tf_recv *r)
{
	return r->parser.pos;
}

uint64_t tf_recv_written(const struct tf_recv *r)
{
	return r->resumed && r->rewrite_pos < r->parser.pos ? r->rewrite_pos : r->parser.pos;
}

const char *tf_recv_target_name(const struct tf_recv *r)
{
	return r->t->name;
}

static int sticky(struct tf_recv *r, int rc)
{
	if (rc < 0 && !r->error) {
		r->error = rc;
		snprintf(r->errmsg, sizeof(r->errmsg), "%s", tf_errmsg());
	}
	return rc;
}

static int repeat_error(struct tf_recv *r)
{
	return tf_fail(-r->error, "%s", r->errmsg);
}

/* Drops the interrupted receive and starts this one from byte 0 (only with
 * resume_if_any, when the stream written is not the interrupted one). */
static int restart_fresh(struct tf_recv *r)
{
	int rc;

	r->t->ops->abort(r->t, false);
	stage_drop(r);
	tf_parser_free(&r->parser);
	r->begun = r->resumed = false;
	r->checkpoint_pos = r->data_since_checkpoint = 0;
	if ((rc = tf_parser_init(&r->parser, &recv_sink, r)) < 0)
		return rc;
	return tf_parser_feed(&r->parser, r->rewrite_hdr, TF_STREAM_HEADER_BYTES);
}

/* Consumes the part of a re-write from 0 that lies before the resume point;
 * advances buf, len and off past it. */
static int rewrite_skip(struct tf_recv *r, const uint8_t **buf, size_t *len, uint64_t *off)
{
	uint64_t n = r->parser.pos - *off < *len ? r->parser.pos - *off : *len;
	int rc;

	if (*off < TF_STREAM_HEADER_BYTES) {
		size_t h = TF_STREAM_HEADER_BYTES - *off < n ? TF_STREAM_HEADER_BYTES - *off : n;
		memcpy(r->rewrite_hdr + *off, *buf, h);
		if (*off + h == TF_STREAM_HEADER_BYTES &&
		    memcmp(r->rewrite_hdr, r->parser.last.header, TF_STREAM_HEADER_BYTES) != 0) {
			if (!r->opts.resume_if_any) {
				r->wrong_stream = true; /* the interrupted one stays resumable */
				return tf_fail(
				    EINVAL,
				    "%s: this is not the stream whose receive was "
				    "interrupted (the headers differ); write that stream, "
				    "or start over without resume",
				    r->t->name);
			}
			if ((rc = restart_fresh(r)) < 0)
				return rc;
			*buf += h;
			*len -= h;
			*off += h;
			r->rewrite_pos = *off;
			return 0;
		}
	}
	*buf += n;
	*len -= n;
	*off += n;
	r->rewrite_pos = *off;
	return 0;
}

int tf_recv_write(struct tf_recv *r, const void *data, size_t len, uint64_t off)
{
	const uint8_t *buf = data;
	int rc;

	if (r->error)
		return repeat_error(r);
	if (r->finished)
		return sticky(r,
			      tf_fail(EINVAL, "%s: data after the receive finished", r->t->name));
	if (r->resumed && off == r->rewrite_pos && off < r->parser.pos) {
		if ((rc = rewrite_skip(r, &buf, &len, &off)) < 0)
			return sticky(r, rc);
		if (len == 0)
			return 0;
	}
	if (off != r->parser.pos)
		return sticky(r, tf_fail(ESPIPE,
					 "%s: the stream must be written in order: expected "
					 "offset %" PRIu64 ", got %" PRIu64,
					 r->t->name, r->parser.pos, off));
	rc = tf_parser_feed(&r->parser, buf, len);
	if (rc < 0)
		return sticky(r, tf_fail_ctx(rc, "%s: ", r->t->name));
	if (r->data_since_checkpoint >= CHECKPOINT_BYTES && r->parser.last.seq > 0) {
		if ((rc = r->t->ops->save_checkpoint(r->t, &r->parser.last)) < 0)
			return sticky(r, rc);
		r->data_since_checkpoint = 0;
		r->checkpoint_pos = r->parser.last.pos;
	}
	return 0;
}

bool tf_recv_complete(const struct tf_recv *r)
{
	return r->error || r->finished || tf_parser_done(&r->parser);
}

int tf_recv_finish(struct tf_recv *r)
{
	const struct tf_stream_header *h = &r->parser.h;
	struct tf_target_state st = {0};
	int rc;

	if (r->error)
		return repeat_error(r);
	if (r->finished)
		return 0;
	if (!tf_parser_done(&r->parser))
		return sticky(r, tf_fail(EPIPE,
					 "%s: the stream ended after %" PRIu64 " bytes, before "
					 "its trailer (truncated or cut off); nothing was applied",
					 r->t->name, r->parser.pos));
	snprintf(st.identity, sizeof(st.identity), "%s", h->identity);
	snprintf(st.uuid, sizeof(st.uuid), "%s", h->result_uuid);
	st.thin_id = h->result_thin_id;
	memcpy(st.fingerprint, h->result_fp, 32);
	rc = r->t->ops->commit(r->t, &st, h->volume_bytes);
	if (rc < 0)
		return sticky(r, rc);
	r->finished = true;
	return 0;
}

void tf_recv_close(struct tf_recv *r)
{
	if (!r)
		return;
	if (!r->finished && r->begun) {
		/* A stream cut off (not a damaged one) keeps what was applied for
		 * a resume, if a record got through. */
		bool cut_off = r->error == 0 || r->error == -EPIPE || r->wrong_stream;
		bool keep = cut_off && r->parser.last.seq > 0 &&
			    r->t->ops->save_checkpoint(r->t, &r->parser.last) == 0;
		r->t->ops->abort(r->t, keep);
	}
	stage_drop(r);
	tf_parser_free(&r->parser);
	r->t->ops->free(r->t);
	free(r);
}

/* ---- target state, shared by the targets ---- */

static void hex(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

int tf_target_state_format(const struct tf_target_state *st, char *buf, size_t len)
{
	char fp[65];
	int n;

	hex(st->fingerprint, 32, fp);
	n = snprintf(buf, len,
		     "thinfs-state 1\nidentity=%s\nthin_id=%" PRIu32 "\nuuid=%s\n"
		     "fingerprint=%s\n",
		     st->identity, st->thin_id, st->uuid, fp);
	return n < 0 || (size_t)n >= len ? tf_fail(ENAMETOOLONG, "target state too long") : n;
}

int tf_target_state_parse(const char *text, size_t len, struct tf_target_state *st)
{
	char buf[1024], fp[65] = "";
	unsigned long id;

	memset(st, 0, sizeof(*st));
	if (len >= sizeof(buf))
		return tf_fail(EBADMSG, "target state: too long");
	memcpy(buf, text, len);
	buf[len] = '\0';
	if (sscanf(buf,
		   "thinfs-state 1\nidentity=%127[^\n]\nthin_id=%lu\nuuid=%63[^\n]\n"
		   "fingerprint=%64[0-9a-f]",
		   st->identity, &id, st->uuid, fp) != 4 ||
	    strlen(fp) != 64)
		return tf_fail(EBADMSG, "target state: unreadable");
	st->thin_id = (uint32_t)id;
	for (int i = 0; i < 32; i++) {
		unsigned v;
		sscanf(fp + 2 * i, "%2x", &v);
		st->fingerprint[i] = (uint8_t)v;
	}
	return 0;
}

int tf_target_check_base(const char *target, const struct tf_target_state *have,
			 const struct tf_stream_header *h)
{
	char a[17], b[17];

	hex(have->fingerprint, 8, a);
	hex(h->base_fp, 8, b);
	if (strcmp(have->identity, h->identity) == 0 && have->thin_id == h->base_thin_id &&
	    memcmp(have->fingerprint, h->base_fp, 32) == 0)
		return 0;
	return tf_fail(ESTALE,
		       "%s is at state %s (thin %" PRIu32 " of %s), but this stream applies "
		       "to state %s (thin %" PRIu32 " of %s); refusing (--force applies it anyway)",
		       target, a, have->thin_id, have->identity, b, h->base_thin_id, h->identity);
}

int tf_target_check_replay(const char *target, const struct tf_target_state *have,
			   const struct tf_stream_header *h)
{
	char a[17];

	if (have && strcmp(have->identity, h->identity) == 0 &&
	    have->thin_id == h->result_thin_id &&
	    memcmp(have->fingerprint, h->result_fp, 32) == 0) {
		hex(have->fingerprint, 8, a);
		return tf_fail(EALREADY,
			       "%s is already at this stream's result (state %s, thin %" PRIu32
			       " of %s): a replayed stream; refusing (--force applies it "
			       "anyway)",
			       target, a, have->thin_id, have->identity);
	}
	if (!h->incremental)
		return tf_fail(EEXIST,
			       "%s exists%s; a full stream would replace it: refusing "
			       "(--force replaces it)",
			       target, have ? "" : " and was not made by thinfs receive");
	if (!have)
		return tf_fail(ENOENT,
			       "%s has no thinfs state: it was not made by thinfs receive "
			       "(--force applies the stream anyway)",
			       target);
	return tf_target_check_base(target, have, h);
}

void tf_checkpoint_encode(const struct tf_parser_checkpoint *cp,
			  uint8_t out[TF_CHECKPOINT_FILE_BYTES])
{
	uint32_t size = (uint32_t)sizeof(*cp), crc = tf_crc32c(~0u, cp, sizeof(*cp));

	memcpy(out, "THINFSCP", 8);
	for (int i = 0; i < 4; i++) {
		out[8 + i] = (uint8_t)(size >> (8 * i));
		out[12 + i] = (uint8_t)(crc >> (8 * i));
	}
	memcpy(out + 16, cp, sizeof(*cp));
}

int tf_checkpoint_decode(const uint8_t *in, size_t n, struct tf_parser_checkpoint *cp,
			 const char *what)
{
	uint32_t size = 0, crc = 0;

	for (int i = 0; i < 4 && n >= 16; i++) {
		size |= (uint32_t)in[8 + i] << (8 * i);
		crc |= (uint32_t)in[12 + i] << (8 * i);
	}
	if (n != TF_CHECKPOINT_FILE_BYTES || memcmp(in, "THINFSCP", 8) != 0 || size != sizeof(*cp))
		return tf_fail(EBADMSG,
			       "%s: not a resume checkpoint of this thinfs build; start "
			       "the receive again",
			       what);
	memcpy(cp, in + 16, sizeof(*cp));
	if (tf_crc32c(~0u, cp, sizeof(*cp)) != crc)
		return tf_fail(EBADMSG,
			       "%s: the resume checkpoint is damaged (checksum); start "
			       "the receive again",
			       what);
	return 0;
}
