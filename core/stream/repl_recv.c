/* repl_recv.c — the replication receive: the replication parser feeding one
 * single-volume receive session per volume (see repl_recv.h). */
#include "core/stream/repl_internal.h"

#include "core/base/err.h"
#include "core/base/vec.h"
#include "core/io/sha256.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum vol_status { V_NOT_SENT, V_PENDING, V_HERE, V_RECEIVED, V_FAILED };

struct tf_repl_recv {
	struct tf_replica *rep;
	struct tf_repl_recv_opts o;
	char prefix[64];
	struct tf_repl_parser p;
	const struct tf_repl_header *h;
	const struct tf_repl_entry *e;
	size_t n;
	char pool_key[17];
	enum vol_status *status;
	bool *exists; /* a volume of that name is at the target */
	char (*tname)[200];
	char (*lineage)[64];
	struct tf_recv *cur; /* the volume being received */
	size_t cur_i;
	bool cur_skip;
	int error; /* sticky */
	char errmsg[1024];
	bool finished;
	char done_key[17];
	uint32_t id_crc;
};

void tf_repl_key(const char *s, char out[17])
{
	struct tf_sha256 c;
	uint8_t d[32];

	tf_sha256_init(&c);
	tf_sha256_update(&c, s, strlen(s));
	tf_sha256_final(&c, d);
	for (int i = 0; i < 8; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* The same digest target_lvm.c puts in a state tag (thinfs_<digest>). */
void tf_repl_state_digest(const char *identity, uint32_t thin_id, const uint8_t fp[32],
			  char out[41])
{
	struct tf_sha256 c;
	uint8_t d[32];

	tf_sha256_init(&c);
	tf_sha256_update(&c, identity, strlen(identity) + 1);
	tf_sha256_update(&c, &thin_id, sizeof(thin_id));
	tf_sha256_update(&c, fp, 32);
	tf_sha256_final(&c, d);
	for (int i = 0; i < 20; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void report(struct tf_repl_recv *r, size_t i, const char *fmt, const char *arg)
{
	if (!r->o.report)
		return;
	fprintf(r->o.report, "%s: ", r->tname[i]);
	fprintf(r->o.report, fmt, arg);
	fputc('\n', r->o.report);
	fflush(r->o.report);
}

/* The lineage of entry i: its origin chain's root within the manifest. */
static void lineage_of(struct tf_repl_recv *r, size_t i, char out[64])
{
	size_t cur = i;

	for (size_t hops = 0; hops < r->n && r->e[cur].origin[0]; hops++) {
		size_t j = 0;
		while (j < r->n && strcmp(r->e[j].name, r->e[cur].origin) != 0)
			j++;
		if (j == r->n)
			break;
		cur = j;
	}
	snprintf(out, 64, "%.63s", r->e[cur].uuid[0] ? r->e[cur].uuid : r->e[cur].name);
}

/* A stream is known by its send time and header checksum; the last one
 * completed per pool, lineage and prefix is recorded at the target.  The
 * same one again is a replay; an older one would roll back (and, with
 * --prune, remove newer snapshots). */
static int check_replay(struct tf_repl_recv *r)
{
	uint8_t hdr[TF_REPL_HEADER_BYTES];
	char key_src[400];
	uint64_t t;
	uint32_t c;

	tf_repl_header_encode(r->h, hdr);
	r->id_crc = tf_stream_crc(hdr, TF_REPL_HEADER_BYTES - 4);
	snprintf(key_src, sizeof(key_src), "%s|%s|%s", r->h->identity, r->h->lineage, r->prefix);
	tf_repl_key(key_src, r->done_key);
	if (r->o.force || r->rep->ops->get_done(r->rep, r->done_key, &t, &c) < 0)
		return 0;
	if (r->h->send_time == t && r->id_crc == c)
		return tf_fail(EALREADY,
			       "%s already received this replication stream (a replay); nothing "
			       "applied (--force applies it anyway)",
			       r->rep->name);
	if (r->h->send_time < t)
		return tf_fail(ESTALE,
			       "%s already received a newer replication stream of this %s (sent "
			       "at %" PRIu64 ", this one at %" PRIu64 "); refusing to roll back "
			       "(--force applies it anyway)",
			       r->rep->name, r->h->all ? "pool" : "lineage", t, r->h->send_time);
	return 0;
}

static int on_manifest(void *ctx, const struct tf_repl_header *h, const struct tf_repl_entry *e,
		       size_t n)
{
	struct tf_repl_recv *r = ctx;
	size_t sent = 0, here = 0;
	int rc;

	r->h = h;
	r->e = e;
	r->n = n;
	tf_repl_key(h->identity, r->pool_key);
	r->status = calloc(n, sizeof(*r->status));
	r->exists = calloc(n, sizeof(*r->exists));
	r->tname = calloc(n, sizeof(*r->tname));
	r->lineage = calloc(n, sizeof(*r->lineage));
	if (!r->status || !r->exists || !r->tname || !r->lineage)
		return tf_fail(ENOMEM, "receive: out of memory");
	for (size_t i = 0; i < n; i++) {
		snprintf(r->tname[i], sizeof(r->tname[i]), "%s%s", r->prefix, e[i].name);
		if (!tf_recv_valid_name(r->tname[i]))
			return tf_fail(EINVAL, "%s: '%s' is not a valid volume name", r->rep->name,
				       r->tname[i]);
		lineage_of(r, i, r->lineage[i]);
	}
	/* Everything is checked before anything is applied. */
	for (size_t i = 0; i < n; i++) {
		struct tf_replica_state st;
		char want[41];

		if (!(e[i].flags & (TF_REPL_ENTRY_SENT | TF_REPL_ENTRY_HELD)))
			continue;
		tf_repl_state_digest(h->identity, e[i].thin_id, e[i].fp, want);
		rc = r->rep->ops->state(r->rep, r->tname[i], &st);
		if (rc < 0 && rc != -ENOENT)
			return rc;
		tf_err_clear();
		bool exists = rc == 0, at = exists && st.has_state && strcmp(st.digest, want) == 0;
		r->exists[i] = exists;
		if (e[i].flags & TF_REPL_ENTRY_HELD) {
			if (!at)
				return tf_fail(
				    ESTALE,
				    "%s/%s: %s; this stream is an increment over it (its "
				    "state %.16s); refusing before applying anything",
				    r->rep->name, r->tname[i],
				    !exists	    ? "does not exist"
				    : !st.has_state ? "has no thinfs state"
						    : "holds another state",
				    want);
			continue;
		}
		sent++;
		r->status[i] = V_PENDING;
		if (at) {
			r->status[i] = V_HERE;
			here++;
		} else if (exists && !r->o.force &&
			   (!st.has_source || strcmp(st.pool_key, r->pool_key) != 0 ||
			    st.thin_id != e[i].thin_id)) {
			return tf_fail(EEXIST,
				       "%s/%s exists and is not an earlier state of %s of this "
				       "pool; refusing (--force replaces it)",
				       r->rep->name, r->tname[i], e[i].name);
		}
	}
	(void)here;
	return check_replay(r);
}

/* Entry i's origin, if it comes later in this stream and is not at the
 * target yet: the volume the replica may build in place (see
 * tf_replica_meta.origin_later). */
static void origin_later(struct tf_repl_recv *r, size_t i, char out[200])
{
	out[0] = '\0';
	for (size_t j = i + 1; r->e[i].origin[0] && j < r->n; j++) {
		if (strcmp(r->e[j].name, r->e[i].origin) != 0)
			continue;
		if ((r->e[j].flags & TF_REPL_ENTRY_SENT) && r->status[j] == V_PENDING &&
		    !r->exists[j])
			snprintf(out, 200, "%s", r->tname[j]);
		return;
	}
}

static int on_begin(void *ctx, size_t i)
{
	struct tf_repl_recv *r = ctx;
	const struct tf_repl_entry *e = &r->e[i];
	struct tf_replica_meta m = {.e = e};
	int rc;

	r->cur_i = i;
	r->cur_skip = r->status[i] == V_HERE;
	if (r->cur_skip) {
		report(r, i, "already here (%s), skipped", "not applied again");
		return 0;
	}
	snprintf(m.lineage, sizeof(m.lineage), "%s", r->lineage[i]);
	snprintf(m.pool_key, sizeof(m.pool_key), "%s", r->pool_key);
	m.base_size = e->base == TF_REPL_NO_BASE ? 0 : r->e[e->base].size_bytes;
	m.replacing = r->exists[i];
	origin_later(r, i, m.origin_later);
	tf_repl_state_digest(r->h->identity, e->thin_id, e->fp, m.digest);
	if (e->base == TF_REPL_NO_BASE)
		snprintf(m.base_digest, sizeof(m.base_digest), "-");
	else
		tf_repl_state_digest(r->h->identity, r->e[e->base].thin_id, r->e[e->base].fp,
				     m.base_digest);
	rc = r->rep->ops->open(r->rep, r->tname[i],
			       e->base == TF_REPL_NO_BASE ? NULL : r->tname[e->base], &m, &r->cur);
	if (rc < 0)
		r->status[i] = V_FAILED;
	return rc;
}

static int on_data(void *ctx, const void *buf, size_t len, uint64_t off)
{
	struct tf_repl_recv *r = ctx;
	int rc;

	if (r->cur_skip)
		return 0;
	if ((rc = tf_recv_write(r->cur, buf, len, off)) < 0)
		r->status[r->cur_i] = V_FAILED;
	return rc;
}

static int on_end_volume(void *ctx, size_t i)
{
	struct tf_repl_recv *r = ctx;
	const struct tf_repl_entry *e = &r->e[i];
	struct tf_replica_meta m = {.e = e};
	char what[400];
	int rc;

	if (r->cur_skip)
		return 0;
	snprintf(m.lineage, sizeof(m.lineage), "%s", r->lineage[i]);
	rc = tf_recv_finish(r->cur);
	tf_recv_close(r->cur);
	r->cur = NULL;
	if (rc == 0)
		rc = r->rep->ops->place(r->rep, r->tname[i], &m);
	if (rc < 0) {
		r->status[i] = V_FAILED;
		return rc;
	}
	r->status[i] = V_RECEIVED;
	snprintf(what, sizeof(what), "%s%s, %" PRIu64 " stream bytes",
		 e->base == TF_REPL_NO_BASE ? "full" : "increment over ",
		 e->base == TF_REPL_NO_BASE ? "" : r->tname[e->base], e->stream_bytes);
	report(r, i, "received (%s)", what);
	return 0;
}

struct prune_ctx {
	struct tf_repl_recv *r;
	char lineage_key[17];
	char (*victims)[200];
	size_t n, cap;
};

/* A volume is pruned only if it was received from this pool (and lineage,
 * for -R) under this prefix, and the source no longer has it. */
static int prune_pick(void *ctx, const char *name, const struct tf_replica_state *st)
{
	struct prune_ctx *pc = ctx;
	struct tf_repl_recv *r = pc->r;
	size_t plen = strlen(r->prefix);

	if (!st->has_source || strcmp(st->pool_key, r->pool_key) != 0 || !st->source_name[0] ||
	    strncmp(name, r->prefix, plen) != 0 || strcmp(name + plen, st->source_name) != 0)
		return 0;
	if (!r->h->all && strcmp(st->lineage_key, pc->lineage_key) != 0)
		return 0;
	for (size_t i = 0; i < r->n; i++)
		if (r->e[i].thin_id == st->thin_id || strcmp(r->tname[i], name) == 0)
			return 0;
	char(*v)[200] = TF_VEC_PUSH(pc->victims, pc->n, pc->cap);
	if (!v)
		return tf_fail(ENOMEM, "receive: out of memory");
	snprintf(*v, sizeof(*v), "%s", name);
	return 0;
}

static int on_end(void *ctx)
{
	struct tf_repl_recv *r = ctx;
	struct prune_ctx pc = {.r = r};
	int rc = 0;

	if (!r->o.prune)
		return r->rep->ops->set_done(r->rep, r->done_key, r->h->send_time, r->id_crc);
	tf_repl_key(r->h->lineage, pc.lineage_key);
	rc = r->rep->ops->list(r->rep, prune_pick, &pc);
	for (size_t i = 0; rc == 0 && i < pc.n; i++) {
		rc = r->rep->ops->remove(r->rep, pc.victims[i]);
		if (rc == 0 && r->o.report)
			fprintf(r->o.report, "%s: pruned (deleted at the source)\n", pc.victims[i]);
	}
	free(pc.victims);
	return rc < 0 ? rc : r->rep->ops->set_done(r->rep, r->done_key, r->h->send_time, r->id_crc);
}

static const struct tf_repl_sink repl_sink = {
    .manifest = on_manifest,
    .volume_begin = on_begin,
    .volume_data = on_data,
    .volume_end = on_end_volume,
    .end = on_end,
};

static int open_replica(const char *target, struct tf_replica **out)
{
	struct stat st;

	if (stat(target, &st) == 0 && S_ISDIR(st.st_mode))
		return tf_replica_dir_open(target, out);
	return tf_replica_lvm_open(target, out);
}

int tf_repl_recv_open(const char *target, const struct tf_repl_recv_opts *o,
		      struct tf_repl_recv **out)
{
	struct tf_repl_recv *r = calloc(1, sizeof(*r));
	int rc;

	if (!r)
		return tf_fail(ENOMEM, "receive: out of memory");
	if (o)
		r->o = *o;
	if (r->o.prefix && strlen(r->o.prefix) >= sizeof(r->prefix)) {
		free(r);
		return tf_fail(ENAMETOOLONG, "--prefix %s: too long", o->prefix);
	}
	snprintf(r->prefix, sizeof(r->prefix), "%s", r->o.prefix ? r->o.prefix : "");
	if ((rc = open_replica(target, &r->rep)) < 0) {
		free(r);
		return rc;
	}
	tf_repl_parser_init(&r->p, &repl_sink, r);
	*out = r;
	return 0;
}

static int sticky(struct tf_repl_recv *r, int rc)
{
	if (rc < 0 && !r->error) {
		r->error = rc;
		snprintf(r->errmsg, sizeof(r->errmsg), "%s", tf_errmsg());
	}
	return rc;
}

int tf_repl_recv_write(struct tf_repl_recv *r, const void *buf, size_t len)
{
	if (r->error)
		return tf_fail(-r->error, "%s", r->errmsg);
	return sticky(r, tf_repl_parser_feed(&r->p, buf, len));
}

int tf_repl_recv_finish(struct tf_repl_recv *r)
{
	size_t in = 0, sent = 0;

	if (r->error)
		return tf_fail(-r->error, "%s", r->errmsg);
	if (tf_repl_parser_done(&r->p)) {
		r->finished = true;
		return 0;
	}
	for (size_t i = 0; r->status && i < r->n; i++) {
		sent += r->status[i] != V_NOT_SENT;
		in += r->status[i] == V_HERE || r->status[i] == V_RECEIVED;
	}
	return sticky(r, tf_fail(EPIPE,
				 "%s: the replication stream ended after %" PRIu64
				 " bytes (cut off); %zu of %zu volumes are in, run it again "
				 "to complete the rest",
				 r->rep->name, r->p.pos, in, sent));
}

void tf_repl_recv_close(struct tf_repl_recv *r)
{
	if (!r)
		return;
	if (r->cur) {
		/* Cut off inside a volume: its session keeps the staging and a
		 * checkpoint for the rerun (a damaged one drops it). */
		tf_recv_close(r->cur);
		if (r->status[r->cur_i] == V_PENDING)
			r->status[r->cur_i] = V_FAILED;
	}
	for (size_t i = 0; r->status && i < r->n; i++) {
		if (r->status[i] == V_PENDING)
			report(r, i, "not received (%s)", "the stream stopped before it");
		else if (r->status[i] == V_FAILED)
			report(r, i, "not received (%s); left as it was", r->errmsg);
	}
	tf_repl_parser_free(&r->p);
	free(r->status);
	free(r->exists);
	free(r->tname);
	free(r->lineage);
	r->rep->ops->free(r->rep);
	free(r);
}

static int print_state(void *ctx, const char *name, const struct tf_replica_state *st)
{
	fprintf(ctx, "%s %s\n", st->digest, name);
	return 0;
}

int tf_repl_target_state(const char *target, FILE *f)
{
	struct tf_replica *rep;
	int rc = open_replica(target, &rep);

	if (rc < 0)
		return rc;
	fprintf(f, "thinfs-replica-state 1\n");
	rc = rep->ops->list(rep, print_state, f);
	rep->ops->free(rep);
	return rc;
}
