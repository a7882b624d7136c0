/* lvm_text.c — LVM2 text metadata: a tokenizer, a parser into a generic
 * tree of sections and values, and the extraction of the VG, its thin
 * pools and thin LVs.
 *
 * Grammar (what vgcfgbackup writes):
 *   file    := item*
 *   item    := NAME '{' item* '}' | NAME '=' value
 *   value   := STRING | NUMBER | '[' (value (',' value)*)? ']'
 *   comments run from '#' to the end of the line.
 */
#include "lvm_text.h"

#include "err.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 32
#define MAX_TEXT (64u << 20)

enum node_type { N_SECTION, N_STRING, N_INT, N_LIST };

struct node {
	char *key;
	enum node_type type;
	char *s;
	int64_t i;
	struct node *kids; /* section members or list items */
	size_t nkids;
};

struct parser {
	const char *p, *end;
	const char *what;
	int line;
};

static void node_free(struct node *n)
{
	for (size_t k = 0; k < n->nkids; k++)
		node_free(&n->kids[k]);
	free(n->kids);
	free(n->key);
	free(n->s);
}

/* An error naming the file and line, and the text where parsing stopped. */
static int perr(struct parser *ps, const char *msg, const char *near)
{
	int n;

	if (!near)
		return tf_fail(EINVAL, "%s:%d: %s", ps->what, ps->line, msg);
	n = (int)strcspn(near, "\n");
	if (n > 20)
		n = 20;
	if (near + n > ps->end)
		n = (int)(ps->end - near);
	return tf_fail(EINVAL, "%s:%d: %s near '%.*s'", ps->what, ps->line, msg, n, near);
}

static void skip_space(struct parser *ps)
{
	while (ps->p < ps->end) {
		if (*ps->p == '\n') {
			ps->line++;
			ps->p++;
		} else if (isspace((unsigned char)*ps->p)) {
			ps->p++;
		} else if (*ps->p == '#') {
			while (ps->p < ps->end && *ps->p != '\n')
				ps->p++;
		} else {
			break;
		}
	}
}

static bool name_char(char c)
{
	return isalnum((unsigned char)c) || strchr("_.+-", c);
}

static int parse_name(struct parser *ps, char **out)
{
	const char *s = ps->p;

	while (ps->p < ps->end && name_char(*ps->p))
		ps->p++;
	if (ps->p == s)
		return perr(ps, "expected a name", ps->p < ps->end ? ps->p : NULL);
	*out = strndup(s, (size_t)(ps->p - s));
	return *out ? 0 : tf_fail(ENOMEM, "%s: out of memory", ps->what);
}

static int parse_string(struct parser *ps, char **out)
{
	size_t cap = 64, len = 0;
	char *buf = malloc(cap);
	int start_line = ps->line;

	if (!buf)
		return tf_fail(ENOMEM, "%s: out of memory", ps->what);
	ps->p++; /* opening quote */
	while (ps->p < ps->end && *ps->p != '"') {
		char c = *ps->p++;
		if (c == '\\' && ps->p < ps->end)
			c = *ps->p++;
		else if (c == '\n')
			ps->line++;
		if (len + 2 > cap) {
			char *nb = realloc(buf, cap *= 2);
			if (!nb) {
				free(buf);
				return tf_fail(ENOMEM, "%s: out of memory", ps->what);
			}
			buf = nb;
		}
		buf[len++] = c;
	}
	if (ps->p >= ps->end) {
		free(buf);
		ps->line = start_line;
		return perr(ps, "unterminated string", NULL);
	}
	ps->p++;
	buf[len] = '\0';
	*out = buf;
	return 0;
}

static int parse_value(struct parser *ps, struct node *n, int depth);

static int add_kid(struct parser *ps, struct node *parent, struct node *kid)
{
	struct node *k = realloc(parent->kids, (parent->nkids + 1) * sizeof(*k));

	if (!k) {
		node_free(kid);
		return tf_fail(ENOMEM, "%s: out of memory", ps->what);
	}
	parent->kids = k;
	parent->kids[parent->nkids++] = *kid;
	return 0;
}

static int parse_list(struct parser *ps, struct node *n, int depth)
{
	int rc;

	n->type = N_LIST;
	ps->p++; /* [ */
	skip_space(ps);
	if (ps->p < ps->end && *ps->p == ']') {
		ps->p++;
		return 0;
	}
	for (;;) {
		struct node item = {0};

		if ((rc = parse_value(ps, &item, depth + 1)) < 0) {
			node_free(&item);
			return rc;
		}
		if ((rc = add_kid(ps, n, &item)) < 0)
			return rc;
		skip_space(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			skip_space(ps);
			continue;
		}
		if (ps->p < ps->end && *ps->p == ']') {
			ps->p++;
			return 0;
		}
		return perr(ps, "expected ',' or ']' in a list", ps->p < ps->end ? ps->p : NULL);
	}
}

static int parse_value(struct parser *ps, struct node *n, int depth)
{
	skip_space(ps);
	if (depth > MAX_DEPTH)
		return perr(ps, "nesting too deep", NULL);
	if (ps->p >= ps->end)
		return perr(ps, "expected a value at end of text", NULL);
	if (*ps->p == '"') {
		n->type = N_STRING;
		return parse_string(ps, &n->s);
	}
	if (*ps->p == '[')
		return parse_list(ps, n, depth);
	if (*ps->p == '-' || isdigit((unsigned char)*ps->p)) {
		char *end;
		errno = 0;
		n->type = N_INT;
		n->i = strtoll(ps->p, &end, 10);
		if (errno || end == ps->p)
			return perr(ps, "bad number", ps->p);
		ps->p = end;
		/* Floats appear in a few informational keys: keep the integer part. */
		if (ps->p < ps->end && *ps->p == '.')
			while (ps->p < ps->end && (isdigit((unsigned char)*ps->p) || *ps->p == '.'))
				ps->p++;
		return 0;
	}
	return perr(ps, "expected a value", ps->p);
}

/* Parses items until '}' (in a section) or the end of text. */
static int parse_items(struct parser *ps, struct node *sec, int depth)
{
	int rc;

	for (;;) {
		struct node n = {0};

		skip_space(ps);
		if (ps->p >= ps->end)
			return depth == 0 ? 0 : perr(ps, "missing '}' at end of text", NULL);
		if (*ps->p == '}') {
			if (depth == 0)
				return perr(ps, "unexpected '}'", NULL);
			ps->p++;
			return 0;
		}
		if (depth >= MAX_DEPTH)
			return perr(ps, "sections nested too deep", NULL);
		if ((rc = parse_name(ps, &n.key)) < 0)
			return rc;
		skip_space(ps);
		if (ps->p < ps->end && *ps->p == '{') {
			ps->p++;
			n.type = N_SECTION;
			rc = parse_items(ps, &n, depth + 1);
		} else if (ps->p < ps->end && *ps->p == '=') {
			ps->p++;
			rc = parse_value(ps, &n, depth);
		} else {
			char msg[160];
			snprintf(msg, sizeof(msg), "expected '=' or '{' after '%.100s'", n.key);
			rc = perr(ps, msg, NULL);
		}
		if (rc < 0) {
			node_free(&n);
			return rc;
		}
		if ((rc = add_kid(ps, sec, &n)) < 0)
			return rc;
	}
}

/* ---- extraction ---- */

static const struct node *find(const struct node *sec, const char *key, enum node_type t)
{
	for (size_t k = 0; sec && k < sec->nkids; k++)
		if (sec->kids[k].type == t && strcmp(sec->kids[k].key, key) == 0)
			return &sec->kids[k];
	return NULL;
}

static char *dup_str(const struct node *sec, const char *key)
{
	const struct node *n = find(sec, key, N_STRING);

	return n ? strdup(n->s) : NULL;
}

static int64_t get_int(const struct node *sec, const char *key, int64_t dflt)
{
	const struct node *n = find(sec, key, N_INT);

	return n ? n->i : dflt;
}

static void lv_free(struct tf_lvm_lv *lv)
{
	free(lv->name);
	free(lv->id);
	free(lv->pool);
	free(lv->origin);
	for (size_t t = 0; t < lv->ntags; t++)
		free(lv->tags[t]);
	free(lv->tags);
}

void tf_lvm_free(struct tf_lvm_vg *vg)
{
	if (!vg)
		return;
	for (size_t i = 0; i < vg->nlvs; i++)
		lv_free(&vg->lvs[i]);
	for (size_t i = 0; i < vg->npools; i++) {
		free(vg->pools[i].name);
		free(vg->pools[i].id);
		free(vg->pools[i].metadata_lv);
		free(vg->pools[i].data_lv);
	}
	free(vg->lvs);
	free(vg->pools);
	free(vg->name);
	free(vg->id);
	free(vg);
}

static int extract_tags(const struct node *lvsec, struct tf_lvm_lv *lv)
{
	const struct node *t = find(lvsec, "tags", N_LIST);

	lv->tags = calloc((t ? t->nkids : 0) + 1, sizeof(char *));
	if (!lv->tags)
		return -ENOMEM;
	for (size_t k = 0; t && k < t->nkids; k++) {
		if (t->kids[k].type != N_STRING)
			continue;
		if (!(lv->tags[lv->ntags] = strdup(t->kids[k].s)))
			return -ENOMEM;
		lv->ntags++;
	}
	return 0;
}

/* One LV section: a thin LV, a thin pool, or something thinfs ignores. */
static int extract_lv(struct tf_lvm_vg *vg, const struct node *lvsec, const char *what)
{
	const struct node *seg1 = find(lvsec, "segment1", N_SECTION);
	const struct node *type = seg1 ? find(seg1, "type", N_STRING) : NULL;
	int64_t extents = 0;

	if (!type)
		return 0;
	for (size_t k = 0; k < lvsec->nkids; k++) {
		const struct node *s = &lvsec->kids[k];
		if (s->type == N_SECTION && strncmp(s->key, "segment", 7) == 0) {
			int64_t e = get_int(s, "extent_count", -1);
			if (e < 0 || e > (INT64_MAX / 2) / (int64_t)(vg->extent_sectors * 512))
				return tf_fail(EINVAL, "%s: LV %s: bad extent_count in %s", what,
					       lvsec->key, s->key);
			extents += e;
		}
	}
	if (strcmp(type->s, "thin-pool") == 0) {
		struct tf_lvm_pool *p = realloc(vg->pools, (vg->npools + 1) * sizeof(*p));
		if (!p)
			return -ENOMEM;
		vg->pools = p;
		p = &vg->pools[vg->npools++];
		memset(p, 0, sizeof(*p));
		p->name = strdup(lvsec->key);
		p->id = dup_str(lvsec, "id");
		p->metadata_lv = dup_str(seg1, "metadata");
		p->data_lv = dup_str(seg1, "pool");
		p->transaction_id = (uint64_t)get_int(seg1, "transaction_id", 0);
		p->chunk_sectors = (uint32_t)get_int(seg1, "chunk_size", 0);
		if (!p->name)
			return -ENOMEM;
		return 0;
	}
	if (strcmp(type->s, "thin") == 0) {
		struct tf_lvm_lv *lv = realloc(vg->lvs, (vg->nlvs + 1) * sizeof(*lv));
		int64_t dev = get_int(seg1, "device_id", -1);
		if (!lv)
			return -ENOMEM;
		vg->lvs = lv;
		lv = &vg->lvs[vg->nlvs++];
		memset(lv, 0, sizeof(*lv));
		if (dev < 0 || dev > 0xffffff)
			return tf_fail(EINVAL, "%s: thin LV %s: missing or invalid device_id", what,
				       lvsec->key);
		lv->name = strdup(lvsec->key);
		lv->id = dup_str(lvsec, "id");
		lv->pool = dup_str(seg1, "thin_pool");
		lv->origin = dup_str(seg1, "origin");
		lv->device_id = (uint32_t)dev;
		lv->size_bytes = (uint64_t)extents * vg->extent_sectors * 512;
		lv->creation_time = get_int(lvsec, "creation_time", 0);
		if (!lv->name || !lv->id || !lv->pool || extract_tags(lvsec, lv) < 0)
			return tf_fail(lv->name && lv->pool ? ENOMEM : EINVAL,
				       "%s: thin LV %s: missing id or thin_pool", what, lvsec->key);
	}
	return 0;
}

static int extract(const struct node *root, const char *what, struct tf_lvm_vg *vg)
{
	const struct node *vgsec = NULL, *lvs;
	int rc;

	for (size_t k = 0; k < root->nkids && !vgsec; k++)
		if (root->kids[k].type == N_SECTION && find(&root->kids[k], "id", N_STRING) &&
		    find(&root->kids[k], "extent_size", N_INT))
			vgsec = &root->kids[k];
	if (!vgsec)
		return tf_fail(EINVAL, "%s: no volume group section (with id and extent_size)", what);
	vg->name = strdup(vgsec->key);
	vg->id = dup_str(vgsec, "id");
	vg->extent_sectors = (uint64_t)get_int(vgsec, "extent_size", 0);
	if (!vg->name || !vg->id)
		return tf_fail(ENOMEM, "%s: out of memory", what);
	if (vg->extent_sectors == 0)
		return tf_fail(EINVAL, "%s: VG %s: extent_size is 0", what, vg->name);
	lvs = find(vgsec, "logical_volumes", N_SECTION);
	for (size_t k = 0; lvs && k < lvs->nkids; k++) {
		if (lvs->kids[k].type != N_SECTION)
			continue;
		if ((rc = extract_lv(vg, &lvs->kids[k], what)) < 0)
			return rc == -ENOMEM ? tf_fail(ENOMEM, "%s: out of memory", what) : rc;
	}
	return 0;
}

int tf_lvm_parse(const char *text, size_t len, const char *what, struct tf_lvm_vg **out)
{
	struct parser ps = {.p = text, .end = text + len, .what = what, .line = 1};
	struct node root = {.type = N_SECTION};
	struct tf_lvm_vg *vg;
	int rc;

	if (memchr(text, '\0', len))
		return tf_fail(EINVAL, "%s: not LVM text metadata (contains NUL bytes)", what);
	rc = parse_items(&ps, &root, 0);
	if (rc == 0) {
		vg = calloc(1, sizeof(*vg));
		if (!vg)
			rc = tf_fail(ENOMEM, "%s: out of memory", what);
		else if ((rc = extract(&root, what, vg)) < 0)
			tf_lvm_free(vg);
		else
			*out = vg;
	}
	node_free(&root);
	return rc;
}

int tf_lvm_parse_file(const char *path, struct tf_lvm_vg **out)
{
	FILE *f = fopen(path, "re");
	char *buf;
	long len;
	int rc;

	if (!f)
		return tf_fail(errno, "%s: cannot open: %s", path, strerror(errno));
	if (fseek(f, 0, SEEK_END) < 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0) {
		fclose(f);
		return tf_fail(EIO, "%s: cannot read", path);
	}
	if ((unsigned long)len > MAX_TEXT) {
		fclose(f);
		return tf_fail(EFBIG, "%s: %ld bytes is too large for LVM metadata", path, len);
	}
	buf = malloc((size_t)len + 1);
	if (!buf) {
		fclose(f);
		return tf_fail(ENOMEM, "%s: out of memory", path);
	}
	if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
		free(buf);
		fclose(f);
		return tf_fail(EIO, "%s: short read", path);
	}
	fclose(f);
	rc = tf_lvm_parse(buf, (size_t)len, path, out);
	free(buf);
	return rc;
}
