/* diff_files.c — `thinfs diff --files`: the paths added, removed and
 * modified between two volumes' ext2/3/4 filesystems (whole-LV or in
 * matching partitions), from the chunks that changed (core/ext/ext_changes.h). */
#include "diff_files.h"
#include "cli.h"

#include "core/base/err.h"
#include "core/base/strbuf.h"
#include "core/ext/ext_changes.h"
#include "core/part/parttable.h"
#include "core/vol/volume.h"
#include "index/index.h"
#include "index/volume.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Compares the filesystems in window [off, off+len) of both volumes and
 * appends the changes, each path prefixed. */
static int diff_window(struct tf_volume *a, struct tf_volume *b, uint64_t off, uint64_t len,
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
	rc = tf_ext_view_open(tf_volume_bio(a), off, len, tf_volume_name(a), NULL, &va);
	if (rc == 0)
		rc = tf_ext_view_open(tf_volume_bio(b), off, len, tf_volume_name(b), NULL, &vb);
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
	struct tf_volume *a = NULL, *b = NULL;
	struct tf_ix_change *ch = NULL;
	struct tf_parttable pt = {0};
	struct tf_strbuf out = {0};
	size_t nch = 0, count = 0;
	char *text;
	int rc;

	if ((rc = tf_index_diff(ix, p, base->thin_id, lv->thin_id, &ch, &nch, NULL)) < 0 ||
	    (rc = tf_index_volume(ix, p, base, chunk, &a)) < 0 ||
	    (rc = tf_index_volume(ix, p, lv, chunk, &b)) < 0)
		goto out;
	if (json)
		tf_sb_printf(&out, "[");
	if (tf_ext_probe(tf_volume_bio(b), 0, lv->size_bytes) == 1 &&
	    tf_ext_probe(tf_volume_bio(a), 0, base->size_bytes) == 1) {
		uint64_t len =
		    lv->size_bytes < base->size_bytes ? lv->size_bytes : base->size_bytes;
		rc = diff_window(a, b, 0, len, ch, nch, chunk, "", &out, json, &count);
	} else if ((rc = tf_parttable_read(tf_volume_bio(b), &pt)) == 0) {
		if (pt.scheme == TF_PT_NONE)
			rc = tf_fail(EMEDIUMTYPE,
				     "%s: no ext2/3/4 filesystem and no partition table (%s)",
				     lv->name, pt.reason);
		for (unsigned i = 0; rc == 0 && i < pt.count; i++) {
			const struct tf_part *q = &pt.parts[i];
			char prefix[16];

			if (q->start + q->length > base->size_bytes ||
			    tf_ext_probe(tf_volume_bio(b), q->start, q->length) != 1 ||
			    tf_ext_probe(tf_volume_bio(a), q->start, q->length) != 1)
				continue;
			snprintf(prefix, sizeof(prefix), "p%u", q->index);
			rc = diff_window(a, b, q->start, q->length, ch, nch, chunk, prefix, &out,
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
	tf_volume_put(a);
	tf_volume_put(b);
	return rc;
}
