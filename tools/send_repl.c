/* send_repl.c — a replication stream of a lineage or of the whole pool.
 *
 * Planning: the volumes in scope are ordered oldest content first —
 * snapshots by creation time (then thin id), volumes without an origin
 * (the ones still written) last — and each volume sent is an increment
 * over whichever volume already at the target or earlier in the stream
 * differs from it least (tf_delta_open's changed bytes: a metadata walk
 * that skips shared subtrees, so each candidate costs what differs) within
 * its lineage, or a full stream unless an increment is smaller.  A chain of snapshots thus travels
 * as its first snapshot and one increment per step, and the target shares blocks as the source
 * does.
 */
#include "send_repl.h"

#include "core/base/err.h"
#include "core/base/progress.h"
#include "core/base/vec.h"
#include "core/io/fdio.h"
#include "core/io/sha256.h"
#include "core/pool/pool.h"
#include "core/stream/repl.h"
#include "core/stream/repl_recv.h"
#include "index/delta.h"
#include "index/index.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Candidates tried as the base of one volume: the nearest in order. */
#define MAX_CANDIDATES 16

struct vol {
	const struct tf_ix_dev *dev;
	const struct tf_lv *lv; /* for tags; NULL if LVM does not list it */
	size_t root;		/* index in devs of its lineage root */
	int64_t key;		/* order: snapshots by creation time, roots last */
	uint8_t fp[32];
	bool held, sent, in_scope;
	struct tf_delta *d;
	size_t base; /* index in the ordered scope, or SIZE_MAX */
};

struct plan {
	struct tf_ix_dev *devs;
	size_t ndev;
	const struct tf_lv *lvs;
	size_t nlvs;
	char identity[128];
	struct vol *v; /* scope, ordered */
	size_t n;
};

static size_t dev_by_name(const struct plan *p, const char *name)
{
	for (size_t i = 0; name && i < p->ndev; i++)
		if (strcmp(p->devs[i].name, name) == 0)
			return i;
	return SIZE_MAX;
}

static size_t root_of(const struct plan *p, size_t i)
{
	for (size_t hops = 0; hops < p->ndev; hops++) {
		size_t o = dev_by_name(p, p->devs[i].origin);
		if (o == SIZE_MAX)
			break;
		i = o;
	}
	return i;
}

static int cmp_vol(const void *a, const void *b)
{
	const struct vol *x = a, *y = b;

	if (x->root != y->root)
		return x->root < y->root ? -1 : 1;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->dev->thin_id < y->dev->thin_id ? -1 : x->dev->thin_id > y->dev->thin_id;
}

static int fingerprint(struct tf_index *ix, const struct plan *p, const struct tf_ix_dev *dev,
		       uint8_t out[32])
{
	struct tf_thin_run *runs;
	size_t n;
	int rc = tf_index_extents(ix, dev->thin_id, &runs, &n);

	if (rc < 0)
		return rc;
	tf_stream_fingerprint(p->identity, dev->thin_id, dev->lv_id, runs, n, out);
	free(runs);
	return 0;
}

/* Digests listed in a `thinfs receive TARGET --state` file. */
static int read_state_file(const char *path, char (**dig)[41], size_t *n)
{
	FILE *f = fopen(path, "r");
	char line[512];
	size_t cap = 0;

	*dig = NULL;
	*n = 0;
	if (!f)
		return tf_fail(errno, "%s: %s", path, strerror(errno));
	if (!fgets(line, sizeof(line), f) || strncmp(line, "thinfs-replica-state 1", 22) != 0) {
		fclose(f);
		return tf_fail(
		    EINVAL, "%s: not a thinfs replica state (thinfs receive TARGET --state)", path);
	}
	while (fgets(line, sizeof(line), f)) {
		if (strspn(line, "0123456789abcdef") != 40)
			continue;
		char(*d)[41] = TF_VEC_PUSH(*dig, *n, cap);
		if (!d) {
			fclose(f);
			return tf_fail(ENOMEM, "send: out of memory");
		}
		memcpy(*d, line, 40);
		(*d)[40] = '\0';
	}
	fclose(f);
	return 0;
}

static int build_scope(struct tf_index *ix, struct plan *p, const struct send_repl_opts *o)
{
	size_t want_root = SIZE_MAX, k = 0;
	int rc;

	if (o->lv) {
		size_t i = dev_by_name(p, o->lv);
		if (i == SIZE_MAX)
			return tf_fail(ENOENT, "%s: no thin volume '%s' in the pool", o->source,
				       o->lv);
		want_root = root_of(p, i);
	}
	if (!(p->v = calloc(p->ndev ? p->ndev : 1, sizeof(*p->v))))
		return tf_fail(ENOMEM, "send: out of memory");
	for (size_t i = 0; i < p->ndev; i++) {
		size_t r = root_of(p, i);
		struct vol *v = &p->v[k];

		if (want_root != SIZE_MAX && r != want_root)
			continue;
		v->dev = &p->devs[i];
		v->root = r;
		v->base = SIZE_MAX;
		v->key = r == i ? INT64_MAX : p->devs[i].creation_time;
		for (size_t j = 0; j < p->nlvs; j++)
			if (p->lvs[j].thin_id == p->devs[i].thin_id)
				v->lv = &p->lvs[j];
		if ((rc = fingerprint(ix, p, v->dev, v->fp)) < 0)
			return rc;
		k++;
	}
	p->n = k;
	qsort(p->v, p->n, sizeof(*p->v), cmp_vol);
	if (p->n > TF_REPL_MAX_VOLUMES)
		return tf_fail(E2BIG, "%s: %zu volumes; a replication stream holds at most %u",
			       o->source, p->n, TF_REPL_MAX_VOLUMES);
	return 0;
}

/* Marks what the target holds and what is to be sent. */
static int mark(struct plan *p, const struct send_repl_opts *o)
{
	char(*dig)[41] = NULL;
	size_t nd = 0, from = SIZE_MAX;
	int rc;

	if (o->from) {
		for (size_t i = 0; i < p->n; i++)
			if (strcmp(p->v[i].dev->name, o->from) == 0)
				from = i;
		if (from == SIZE_MAX)
			return tf_fail(ENOENT, "%s: --from %s is not in the lineage of %s",
				       o->source, o->from, o->lv ? o->lv : "the pool");
		p->v[from].held = true;
	}
	if (o->from_state && (rc = read_state_file(o->from_state, &dig, &nd)) < 0)
		return rc;
	for (size_t i = 0; i < p->n; i++) {
		char d[41];
		tf_repl_state_digest(p->identity, p->v[i].dev->thin_id, p->v[i].fp, d);
		for (size_t j = 0; j < nd; j++)
			if (strcmp(dig[j], d) == 0)
				p->v[i].held = true;
		p->v[i].sent = !p->v[i].held && (from == SIZE_MAX || i > from);
	}
	free(dig);
	return 0;
}

/* Picks each sent volume's base: the candidate whose delta is smallest. */
static int choose_bases(struct tf_index *ix, struct tf_pool *pool, struct plan *p)
{
	int rc;

	for (size_t i = 0; i < p->n; i++) {
		struct vol *v = &p->v[i];
		size_t tried = 0;

		if (!v->sent)
			continue;
		if ((rc = tf_delta_open(ix, pool, v->dev->thin_id, TF_STREAM_NO_BASE, &v->d)) < 0)
			return rc;
		/* Candidates nearest in order first: earlier volumes sent or
		 * held, then held ones after it. */
		size_t cand[MAX_CANDIDATES];
		for (size_t c = i; c-- > 0 && tried < MAX_CANDIDATES;)
			if ((p->v[c].sent || p->v[c].held) && p->v[c].root == v->root)
				cand[tried++] = c;
		for (size_t c = i + 1; c < p->n && tried < MAX_CANDIDATES; c++)
			if (p->v[c].held && p->v[c].root == v->root)
				cand[tried++] = c;
		for (size_t k = 0; k < tried; k++) {
			struct tf_delta *d;

			if ((rc = tf_delta_open(ix, pool, v->dev->thin_id,
						p->v[cand[k]].dev->thin_id, &d)) < 0)
				return rc;
			if (tf_delta_changed_bytes(d) < tf_delta_changed_bytes(v->d)) {
				tf_delta_close(v->d);
				v->d = d;
				v->base = cand[k];
			} else {
				tf_delta_close(d);
			}
		}
	}
	return 0;
}

static void tags_of(const struct vol *v, char *out, size_t len)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t t = 0; v->lv && v->lv->tags && v->lv->tags[t]; t++) {
		int n = snprintf(out + used, len - used, "%s%s", used ? "," : "", v->lv->tags[t]);
		if (n < 0 || (size_t)n >= len - used) {
			out[used] = '\0';
			break;
		}
		used += (size_t)n;
	}
}

/* The manifest in stream order: held volumes first (so every base comes
 * before the volume sent over it), then the rest in plan order. */
static int manifest(const struct plan *p, struct tf_repl_entry **out, size_t **order_out)
{
	struct tf_repl_entry *e = calloc(p->n ? p->n : 1, sizeof(*e));
	size_t *order = calloc(p->n ? p->n : 1, sizeof(*order)), *where, k = 0;

	where = calloc(p->n ? p->n : 1, sizeof(*where));
	if (!e || !order || !where) {
		free(e);
		free(order);
		free(where);
		return tf_fail(ENOMEM, "send: out of memory");
	}
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < p->n; i++)
			if ((pass == 0) == p->v[i].held) {
				where[i] = k;
				order[k++] = i;
			}
	for (size_t k2 = 0; k2 < p->n; k2++) {
		const struct vol *v = &p->v[order[k2]];
		struct tf_repl_entry *x = &e[k2];
		bool is_base = false;

		for (size_t j = 0; j < p->n; j++)
			is_base |= p->v[j].sent && p->v[j].base == order[k2];
		snprintf(x->name, sizeof(x->name), "%s", v->dev->name);
		snprintf(x->uuid, sizeof(x->uuid), "%s", v->dev->lv_id ? v->dev->lv_id : "");
		snprintf(x->origin, sizeof(x->origin), "%s", v->dev->origin ? v->dev->origin : "");
		tags_of(v, x->tags, sizeof(x->tags));
		x->thin_id = v->dev->thin_id;
		x->size_bytes = v->dev->size_bytes;
		x->creation_time = v->dev->creation_time;
		memcpy(x->fp, v->fp, 32);
		x->base = TF_REPL_NO_BASE;
		if (v->sent) {
			x->flags = TF_REPL_ENTRY_SENT;
			x->stream_bytes = tf_delta_size(v->d);
			if (v->base != SIZE_MAX)
				x->base = (uint32_t)where[v->base];
		} else if (v->held && is_base) {
			x->flags = TF_REPL_ENTRY_HELD;
		}
	}
	free(where);
	*out = e;
	*order_out = order;
	return 0;
}

struct out {
	uint64_t pos;
	struct tf_progress *progress; /* NULL without -P */
	struct tf_sha256 digest;
};

static int emit(struct out *o, const void *buf, size_t len, bool digest)
{
	int rc = tf_write_all(1, buf, len, "stdout");

	if (rc < 0)
		return rc;
	if (digest)
		tf_sha256_update(&o->digest, buf, len);
	o->pos += len;
	tf_progress_add(o->progress, len);
	return 0;
}

static int emit_volume(struct out *o, struct tf_delta *d, char *buf, size_t bufsize)
{
	uint64_t size = tf_delta_size(d);
	int rc;

	for (uint64_t off = 0; off < size;) {
		ssize_t n = tf_delta_read(d, buf, bufsize, off);
		if (n <= 0)
			return n < 0 ? (int)n : tf_fail(EIO, "send: stream ended early");
		if ((rc = emit(o, buf, (size_t)n, false)) < 0)
			return rc;
		off += (uint64_t)n;
	}
	return 0;
}

static int write_stream(const struct plan *p, const struct tf_repl_header *h,
			const struct tf_repl_entry *e, const size_t *order, bool progress)
{
	uint8_t part[TF_REPL_ENTRY_BYTES], digest[32];
	struct out o = {.progress = tf_progress_new("send", h->stream_bytes, progress)};
	const size_t bufsize = 1 << 20;
	char *buf = malloc(bufsize);
	uint32_t seq = 0;
	int rc;

	if (!buf) {
		tf_progress_end(o.progress);
		return tf_fail(ENOMEM, "send: out of memory");
	}
	tf_sha256_init(&o.digest);
	tf_repl_header_encode(h, part);
	rc = emit(&o, part, TF_REPL_HEADER_BYTES, true);
	for (size_t k = 0; rc == 0 && k < p->n; k++) {
		tf_repl_entry_encode(&e[k], part);
		rc = emit(&o, part, TF_REPL_ENTRY_BYTES, true);
	}
	for (size_t k = 0; rc == 0 && k < p->n; k++) {
		if (!(e[k].flags & TF_REPL_ENTRY_SENT))
			continue;
		tf_repl_frame_encode((uint32_t)k, seq++, &e[k], part);
		if ((rc = emit(&o, part, TF_REPL_FRAME_BYTES, true)) == 0)
			rc = emit_volume(&o, p->v[order[k]].d, buf, bufsize);
	}
	if (rc == 0) {
		tf_sha256_final(&o.digest, digest);
		tf_repl_end_encode(h, digest, part);
		rc = emit(&o, part, TF_REPL_END_BYTES, false);
	}
	tf_progress_end(o.progress);
	free(buf);
	return rc;
}

static void print_plan(const struct plan *p, const struct tf_repl_header *h,
		       const struct tf_repl_entry *e)
{
	printf("%" PRIu64 " bytes: replication stream of %u volumes, %u sent\n", h->stream_bytes,
	       h->volume_count, h->sent_count);
	for (size_t k = 0; k < p->n; k++) {
		if (e[k].flags & TF_REPL_ENTRY_SENT)
			printf("  %-24s %12" PRIu64 " bytes  %s%s\n", e[k].name, e[k].stream_bytes,
			       e[k].base == TF_REPL_NO_BASE ? "full" : "increment over ",
			       e[k].base == TF_REPL_NO_BASE ? "" : e[e[k].base].name);
		else
			printf("  %-24s %12s        %s\n", e[k].name, "-",
			       e[k].flags & TF_REPL_ENTRY_HELD ? "held by the target (a base)"
							       : "not sent");
	}
}

int send_repl(struct tf_pool *pool, struct tf_index *ix, const struct send_repl_opts *o)
{
	struct plan p = {0};
	struct tf_repl_header h = {0};
	struct tf_repl_entry *e = NULL;
	size_t *order = NULL;
	struct tf_ix_pool ip;
	int rc;

	if ((rc = tf_index_pool(ix, &ip)) < 0 ||
	    (rc = tf_index_devices(ix, &p.devs, &p.ndev)) < 0 ||
	    (rc = tf_pool_lvs(pool, &p.lvs, &p.nlvs)) < 0)
		goto out;
	snprintf(p.identity, sizeof(p.identity), "%.127s", ip.identity);
	if ((rc = build_scope(ix, &p, o)) < 0 || (rc = mark(&p, o)) < 0 ||
	    (rc = choose_bases(ix, pool, &p)) < 0 || (rc = manifest(&p, &e, &order)) < 0)
		goto out;
	h.all = o->lv == NULL;
	h.volume_count = (uint32_t)p.n;
	for (size_t k = 0; k < p.n; k++)
		h.sent_count += (e[k].flags & TF_REPL_ENTRY_SENT) != 0;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	h.send_time = (uint64_t)now.tv_sec * 1000000u + (uint64_t)now.tv_nsec / 1000u;
	snprintf(h.identity, sizeof(h.identity), "%s", p.identity);
	if (o->lv) {
		const struct tf_ix_dev *root = &p.devs[p.v[0].root];
		snprintf(h.lineage, sizeof(h.lineage), "%s",
			 root->lv_id && root->lv_id[0] ? root->lv_id : root->name);
	}
	h.stream_bytes = tf_repl_size(e, p.n);
	if ((rc = tf_repl_check_manifest(&h, e, p.n)) < 0)
		goto out;
	if (o->dry_run)
		print_plan(&p, &h, e);
	else
		rc = write_stream(&p, &h, e, order, o->progress);
out:
	for (size_t i = 0; i < p.n; i++)
		tf_delta_close(p.v[i].d);
	free(p.v);
	free(e);
	free(order);
	tf_index_devices_free(p.devs, p.ndev);
	return rc;
}
