/* diff_files.c — `thinfs diff --files`: the paths added, removed and
 * modified between two volumes' ext2/3/4 filesystems (whole-LV or in
 * matching partitions), from the chunks that changed (core/ext/ext_changes.h). */
#include "diff_files.h"
#include "cli.h"

#include "core/base/err.h"
#include "core/base/strbuf.h"
#include "core/ext/ext_changes.h"
#include "core/part/parttable.h"
#include "index/extmap.h"
#include "index/index.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct side {
	struct tf_pool *pool;
	struct tf_thin_run *runs;
	struct tf_extmap map;
};

static int side_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	struct side *s = ctx;
	ssize_t n = tf_extmap_read(&s->map, s->pool, buf, len, off);

	if (n < 0)
		return (int)n;
	return (size_t)n == len ? 0 : tf_fail(EIO, "volume %s: read past its end", s->map.name);
}

static int side_open(struct tf_index *ix, struct tf_pool *p, const struct tf_ix_dev *d,
		     uint64_t chunk, struct side *s)
{
	size_t n;
	int rc = tf_index_extents(ix, d->thin_id, &s->runs, &n);

	s->pool = p;
	s->map = (struct tf_extmap){.thin_id = d->thin_id,
				    .name = d->name,
				    .runs = s->runs,
				    .nruns = n,
				    .chunk_bytes = chunk,
				    .size_bytes = d->size_bytes};
	return rc;
}

/* Compares the filesystems in window [off, off+len) of both volumes and
 * appends the changes, each path prefixed. */
static int diff_window(struct side *a, struct side *b, uint64_t off, uint64_t len,
		       const struct tf_ix_change *ch, size_t nch, uint64_t chunk,
		       const char *prefix, struct tf_strbuf *out, bool json, size_t *count)
{
	struct tf_ext_view *va = NULL, *vb = NULL;
	struct tf_byte_range *r = calloc(nch + 1, sizeof(*r));
	struct tf_file_change *c = NULL;
	size_t nr = 0, nc = 0;
	int rc;

	if (!r)
		return tf_fail(ENOMEM, "diff --files: out of memory");
	for (size_t i = 0; i < nch; i++) { /* changed ranges inside the window */
		uint64_t s = ch[i].run.vbegin * chunk, e = s + ch[i].run.len * chunk;
		if (e <= off || s >= off + len)
			continue;
		s = s > off ? s - off : 0;
		e = e - off < len ? e - off : len;
		r[nr++] = (struct tf_byte_range){s, e - s};
	}
	rc = tf_ext_view_open(side_read, a, off, len, a->map.name, NULL, &va);
	if (rc == 0)
		rc = tf_ext_view_open(side_read, b, off, len, b->map.name, NULL, &vb);
	if (rc == 0)
		rc = tf_ext_changes(va, vb, r, nr, &c, &nc);
	for (size_t i = 0; rc == 0 && i < nc; i++, (*count)++) {
		if (json) {
			tf_sb_printf(out,
				     "%s\n  {\"change\": \"%s\", \"path\": ", *count ? "," : "",
				     c[i].kind == '+'	? "added"
				     : c[i].kind == '-' ? "removed"
							: "modified");
			char path[4200];
			snprintf(path, sizeof(path), "%s%s", prefix, c[i].path);
			tf_sb_json_str(out, path);
			tf_sb_printf(out, "}");
		} else {
			tf_sb_printf(out, "%c %s%s\n", c[i].kind, prefix, c[i].path);
		}
	}
	tf_file_changes_free(c, nc);
	if (va)
		tf_ext_view_close(va);
	if (vb)
		tf_ext_view_close(vb);
	free(r);
	return rc;
}

int tf_diff_files(struct tf_index *ix, struct tf_pool *p, const struct tf_ix_dev *base,
		  const struct tf_ix_dev *lv, uint64_t chunk, bool json)
{
	struct side a = {0}, b = {0};
	struct tf_ix_change *ch = NULL;
	struct tf_parttable pt = {0};
	struct tf_strbuf out = {0};
	size_t nch = 0, count = 0;
	char *text;
	int rc;

	if ((rc = tf_index_diff(ix, p, base->thin_id, lv->thin_id, &ch, &nch, NULL)) < 0 ||
	    (rc = side_open(ix, p, base, chunk, &a)) < 0 ||
	    (rc = side_open(ix, p, lv, chunk, &b)) < 0)
		goto out;
	if (json)
		tf_sb_printf(&out, "[");
	if (tf_ext_probe(side_read, &b, 0, lv->size_bytes) == 1 &&
	    tf_ext_probe(side_read, &a, 0, base->size_bytes) == 1) {
		uint64_t len =
		    lv->size_bytes < base->size_bytes ? lv->size_bytes : base->size_bytes;
		rc = diff_window(&a, &b, 0, len, ch, nch, chunk, "", &out, json, &count);
	} else if ((rc = tf_parttable_read(side_read, &b, lv->size_bytes, &pt)) == 0) {
		if (pt.scheme == TF_PT_NONE)
			rc = tf_fail(EMEDIUMTYPE,
				     "%s: no ext2/3/4 filesystem and no partition table (%s)",
				     lv->name, pt.reason);
		for (unsigned i = 0; rc == 0 && i < pt.count; i++) {
			const struct tf_part *q = &pt.parts[i];
			char prefix[16];

			if (q->start + q->length > base->size_bytes ||
			    tf_ext_probe(side_read, &b, q->start, q->length) != 1 ||
			    tf_ext_probe(side_read, &a, q->start, q->length) != 1)
				continue;
			snprintf(prefix, sizeof(prefix), "p%u", q->index);
			rc = diff_window(&a, &b, q->start, q->length, ch, nch, chunk, prefix, &out,
					 json, &count);
		}
		tf_parttable_free(&pt);
	}
	if (json)
		tf_sb_printf(&out, "%s]\n", count ? "\n" : "");
	text = tf_sb_take(&out, NULL);
	if (rc == 0 && text)
		fputs(text, stdout);
	free(text);
out:
	free(ch);
	free(a.runs);
	free(b.runs);
	return rc;
}
