/* lvm_text.c — tokenizer and parser of LVM2 text metadata (vgcfgbackup).
 *
 * Format map (what we read; everything else is skipped):
 *   file     := item*
 *   item     := NAME '{' item* '}'          a section
 *             | NAME '=' value               a key
 *   value    := STRING | NUMBER | '[' (value (',' value)*)? ']'
 *   STRING   := '"' (char | '\' char)* '"'   backslash escapes the next char
 *   comment  := '#' to end of line
 *   VG section:  <vg> { id extent_size logical_volumes { <lv> { id
 *                creation_time tags=[..] segmentN { extent_count type
 *                [thin-pool: metadata pool transaction_id chunk_size]
 *                [thin: thin_pool device_id origin] } } } }
 * The text is first parsed into a generic tree (bounded in depth, string
 * length and node count) and then the VG is extracted from it.
 */
#include "core/lvm/lvm_text.h"

#include "core/base/err.h"
#include "core/base/vec.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LVM_MAX_DEPTH 32
#define LVM_MAX_STR 4096
#define LVM_MAX_NODES (1u << 20)
#define LVM_MAX_FILE (64u << 20)

enum node_type { N_SECTION, N_STR, N_INT, N_OTHER, N_ARRAY };

struct node {
	enum node_type type;
	char *key;   /* NULL for array elements */
	char *str;   /* N_STR */
	int64_t num; /* N_INT */
	int line;
	struct node *child, *last, *next;
};

struct lexer {
	const char *p, *end;
	const char *what;
	int line;
	unsigned nodes;
};

enum tok { T_EOF, T_NAME, T_STR, T_NUM, T_LBRACE, T_RBRACE, T_EQ, T_LBRACK, T_RBRACK, T_COMMA };

struct token {
	enum tok t;
	char *text; /* owned, for T_NAME/T_STR/T_NUM */
	int line;
};

static void node_free(struct node *n)
{
	while (n) {
		struct node *next = n->next;
		node_free(n->child);
		free(n->key);
		free(n->str);
		free(n);
		n = next;
	}
}

static bool name_char(int c)
{
	return isalnum(c) || c == '_' || c == '.' || c == '-' || c == '+';
}

static const char *tok_desc(const struct token *t)
{
	switch (t->t) {
	case T_EOF:
		return "end of file";
	case T_LBRACE:
		return "'{'";
	case T_RBRACE:
		return "'}'";
	case T_EQ:
		return "'='";
	case T_LBRACK:
		return "'['";
	case T_RBRACK:
		return "']'";
	case T_COMMA:
		return "','";
	case T_STR:
		return "a string";
	case T_NUM:
		return "a number";
	default:
		return "a name";
	}
}

static int lex_next(struct lexer *lx, struct token *tk)
{
	tk->text = NULL;
	for (;;) {
		while (lx->p < lx->end &&
		       (*lx->p == ' ' || *lx->p == '\t' || *lx->p == '\r' || *lx->p == '\n')) {
			if (*lx->p == '\n')
				lx->line++;
			lx->p++;
		}
		if (lx->p < lx->end && *lx->p == '#') {
			while (lx->p < lx->end && *lx->p != '\n')
				lx->p++;
			continue;
		}
		break;
	}
	tk->line = lx->line;
	if (lx->p >= lx->end) {
		tk->t = T_EOF;
		return 0;
	}
	char c = *lx->p;
	const char *single = "{}=[],";
	const char *s = strchr(single, c);
	if (c && s) {
		static const enum tok map[] = {T_LBRACE, T_RBRACE, T_EQ,
					       T_LBRACK, T_RBRACK, T_COMMA};
		tk->t = map[s - single];
		lx->p++;
		return 0;
	}
	if (c == '"') {
		char *buf = malloc(LVM_MAX_STR + 1);
		size_t n = 0;
		if (!buf)
			return tf_fail(ENOMEM, "%s: out of memory", lx->what);
		lx->p++;
		for (;;) {
			if (lx->p >= lx->end) {
				free(buf);
				return tf_fail(EINVAL, "%s:%d: unterminated string", lx->what,
					       tk->line);
			}
			char ch = *lx->p++;
			if (ch == '"')
				break;
			if (ch == '\\') {
				if (lx->p >= lx->end) {
					free(buf);
					return tf_fail(EINVAL, "%s:%d: unterminated string",
						       lx->what, tk->line);
				}
				ch = *lx->p++;
			}
			if (ch == '\n')
				lx->line++;
			if (ch == '\0') {
				free(buf);
				return tf_fail(EINVAL, "%s:%d: NUL byte in string", lx->what,
					       lx->line);
			}
			if (n >= LVM_MAX_STR) {
				free(buf);
				return tf_fail(EINVAL, "%s:%d: string longer than %d bytes",
					       lx->what, tk->line, LVM_MAX_STR);
			}
			buf[n++] = ch;
		}
		buf[n] = '\0';
		tk->t = T_STR;
		tk->text = buf;
		return 0;
	}
	if (name_char((unsigned char)c)) {
		const char *b = lx->p;
		while (lx->p < lx->end && name_char((unsigned char)*lx->p))
			lx->p++;
		size_t n = (size_t)(lx->p - b);
		if (n > LVM_MAX_STR)
			return tf_fail(EINVAL, "%s:%d: name longer than %d bytes", lx->what,
				       tk->line, LVM_MAX_STR);
		tk->text = strndup(b, n);
		if (!tk->text)
			return tf_fail(ENOMEM, "%s: out of memory", lx->what);
		bool num = true;
		size_t i = (b[0] == '-') ? 1 : 0;
		if (i == n)
			num = false;
		for (; i < n; i++)
			if (!isdigit((unsigned char)b[i]) && b[i] != '.')
				num = false;
		tk->t = num ? T_NUM : T_NAME;
		return 0;
	}
	if (isprint((unsigned char)c))
		return tf_fail(EINVAL, "%s:%d: unexpected character '%c'", lx->what, tk->line, c);
	return tf_fail(EINVAL, "%s:%d: unexpected byte 0x%02x", lx->what, tk->line,
		       (unsigned char)c);
}

static struct node *node_new(struct lexer *lx, enum node_type type, int line)
{
	if (lx->nodes >= LVM_MAX_NODES)
		return NULL;
	struct node *n = calloc(1, sizeof(*n));
	if (n) {
		n->type = type;
		n->line = line;
		lx->nodes++;
	}
	return n;
}

static void node_add(struct node *parent, struct node *n)
{
	if (parent->last)
		parent->last->next = n;
	else
		parent->child = n;
	parent->last = n;
}

static int parse_scalar(struct lexer *lx, struct token *tk, struct node **out)
{
	struct node *n;
	if (tk->t == T_STR) {
		n = node_new(lx, N_STR, tk->line);
		if (!n)
			goto nomem;
		n->str = tk->text;
		tk->text = NULL;
	} else if (tk->t == T_NUM) {
		n = node_new(lx, N_INT, tk->line);
		if (!n)
			goto nomem;
		if (strchr(tk->text, '.')) {
			n->type = N_OTHER;
		} else {
			char *e;
			errno = 0;
			n->num = strtoll(tk->text, &e, 10);
			if (errno || *e) {
				free(n);
				return tf_fail(EINVAL, "%s:%d: number '%s' out of range", lx->what,
					       tk->line, tk->text);
			}
		}
	} else {
		return tf_fail(EINVAL, "%s:%d: expected a value, found %s", lx->what, tk->line,
			       tok_desc(tk));
	}
	*out = n;
	return 0;
nomem:
	return tf_fail(ENOMEM, "%s: out of memory or too many items", lx->what);
}

/* Parses items into parent until '}' (depth > 0) or end of file (depth 0). */
static int parse_items(struct lexer *lx, struct node *parent, int depth)
{
	struct token tk = {0};
	int rc;

	for (;;) {
		if ((rc = lex_next(lx, &tk)) < 0)
			return rc;
		if (tk.t == T_EOF) {
			if (depth > 0)
				return tf_fail(EINVAL, "%s:%d: missing '}' at end of file",
					       lx->what, tk.line);
			return 0;
		}
		if (tk.t == T_RBRACE) {
			if (depth == 0)
				return tf_fail(EINVAL, "%s:%d: unexpected '}'", lx->what, tk.line);
			return 0;
		}
		if (tk.t != T_NAME && tk.t != T_NUM) {
			rc = tf_fail(EINVAL, "%s:%d: expected a name, found %s", lx->what, tk.line,
				     tok_desc(&tk));
			free(tk.text);
			return rc;
		}
		char *key = tk.text;
		int line = tk.line;
		if ((rc = lex_next(lx, &tk)) < 0) {
			free(key);
			return rc;
		}
		if (tk.t == T_LBRACE) {
			if (depth + 1 >= LVM_MAX_DEPTH) {
				rc = tf_fail(EINVAL, "%s:%d: sections nested deeper than %d",
					     lx->what, line, LVM_MAX_DEPTH);
				free(key);
				return rc;
			}
			struct node *s = node_new(lx, N_SECTION, line);
			if (!s) {
				free(key);
				return tf_fail(ENOMEM, "%s: out of memory or too many items",
					       lx->what);
			}
			s->key = key;
			node_add(parent, s);
			if ((rc = parse_items(lx, s, depth + 1)) < 0)
				return rc;
			continue;
		}
		if (tk.t != T_EQ) {
			rc = tf_fail(EINVAL, "%s:%d: expected '=' after '%s'", lx->what, tk.line,
				     key);
			free(key);
			free(tk.text);
			return rc;
		}
		if ((rc = lex_next(lx, &tk)) < 0) {
			free(key);
			return rc;
		}
		struct node *v;
		if (tk.t == T_LBRACK) {
			v = node_new(lx, N_ARRAY, line);
			if (!v) {
				free(key);
				return tf_fail(ENOMEM, "%s: out of memory or too many items",
					       lx->what);
			}
			v->key = key;
			node_add(parent, v);
			bool first = true;
			for (;;) {
				if ((rc = lex_next(lx, &tk)) < 0)
					return rc;
				if (tk.t == T_RBRACK)
					break;
				if (!first) {
					if (tk.t != T_COMMA) {
						rc = tf_fail(EINVAL,
							     "%s:%d: expected ',' or ']' in array "
							     "'%s', found %s",
							     lx->what, tk.line, key, tok_desc(&tk));
						free(tk.text);
						return rc;
					}
					if ((rc = lex_next(lx, &tk)) < 0)
						return rc;
				}
				first = false;
				struct node *e;
				rc = parse_scalar(lx, &tk, &e);
				free(tk.text);
				tk.text = NULL;
				if (rc < 0)
					return rc;
				node_add(v, e);
			}
			continue;
		}
		rc = parse_scalar(lx, &tk, &v);
		free(tk.text);
		tk.text = NULL;
		if (rc < 0) {
			free(key);
			return rc;
		}
		v->key = key;
		node_add(parent, v);
	}
}

static struct node *find(const struct node *sec, const char *key, enum node_type type)
{
	for (struct node *n = sec ? sec->child : NULL; n; n = n->next)
		if (n->key && n->type == type && !strcmp(n->key, key))
			return n;
	return NULL;
}

static const char *get_str(const struct node *sec, const char *key)
{
	struct node *n = find(sec, key, N_STR);
	return n ? n->str : NULL;
}

static bool get_int(const struct node *sec, const char *key, int64_t *v)
{
	struct node *n = find(sec, key, N_INT);
	if (n)
		*v = n->num;
	return n != NULL;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void lv_free_fields(struct tf_lvm_lv *lv)
{
	free(lv->name);
	free(lv->id);
	free(lv->pool);
	free(lv->origin);
	for (size_t i = 0; lv->tags && i < lv->ntags; i++)
		free(lv->tags[i]);
	free(lv->tags);
}

void tf_lvm_free(struct tf_lvm_vg *vg)
{
	if (!vg)
		return;
	free(vg->name);
	free(vg->id);
	for (size_t i = 0; i < vg->npools; i++) {
		free(vg->pools[i].name);
		free(vg->pools[i].id);
		free(vg->pools[i].metadata_lv);
		free(vg->pools[i].data_lv);
	}
	free(vg->pools);
	for (size_t i = 0; i < vg->nlvs; i++)
		lv_free_fields(&vg->lvs[i]);
	free(vg->lvs);
	free(vg);
}

static int extract_lv(const char *what, struct tf_lvm_vg *vg, const struct node *lvn)
{
	int64_t v;
	bool is_thin = false, is_pool = false;
	uint64_t extents = 0;
	const struct node *first_seg = NULL;

	for (struct node *s = lvn->child; s; s = s->next) {
		if (s->type != N_SECTION || strncmp(s->key, "segment", 7))
			continue;
		const char *type = get_str(s, "type");
		if (!type)
			continue;
		if (!strcmp(type, "thin"))
			is_thin = true;
		else if (!strcmp(type, "thin-pool"))
			is_pool = true;
		else
			continue;
		if (!first_seg)
			first_seg = s;
		if (!get_int(s, "extent_count", &v) || v < 0 || (uint64_t)v > (UINT64_MAX >> 20))
			return tf_fail(EINVAL, "%s:%d: LV %s: missing or bad extent_count", what,
				       s->line, lvn->key);
		extents += (uint64_t)v;
	}
	if (!first_seg)
		return 0;
	if (is_thin && is_pool)
		return tf_fail(EINVAL, "%s:%d: LV %s mixes thin and thin-pool segments", what,
			       lvn->line, lvn->key);
	const char *id = get_str(lvn, "id");
	if (is_pool) {
		struct tf_lvm_pool *p = TF_VEC_PUSH(vg->pools, vg->npools, vg->pools_cap);
		if (!p)
			return tf_fail(ENOMEM, "%s: out of memory", what);
		memset(p, 0, sizeof(*p));
		p->name = strdup(lvn->key);
		p->id = strdup(id ? id : "");
		p->metadata_lv = dup_or_null(get_str(first_seg, "metadata"));
		p->data_lv = dup_or_null(get_str(first_seg, "pool"));
		if (!p->name || !p->id)
			return tf_fail(ENOMEM, "%s: out of memory", what);
		if (get_int(first_seg, "transaction_id", &v) && v >= 0)
			p->transaction_id = (uint64_t)v;
		if (!get_int(first_seg, "chunk_size", &v) || v <= 0 || v > UINT32_MAX)
			return tf_fail(EINVAL, "%s:%d: thin pool %s: missing or bad chunk_size",
				       what, first_seg->line, lvn->key);
		p->chunk_sectors = (uint32_t)v;
		return 0;
	}
	struct tf_lvm_lv *lv = TF_VEC_PUSH(vg->lvs, vg->nlvs, vg->lvs_cap);
	if (!lv)
		return tf_fail(ENOMEM, "%s: out of memory", what);
	memset(lv, 0, sizeof(*lv));
	lv->name = strdup(lvn->key);
	lv->id = strdup(id ? id : "");
	lv->pool = dup_or_null(get_str(first_seg, "thin_pool"));
	lv->origin = dup_or_null(get_str(first_seg, "origin"));
	if (!lv->name || !lv->id)
		return tf_fail(ENOMEM, "%s: out of memory", what);
	if (!lv->pool)
		return tf_fail(EINVAL, "%s:%d: thin LV %s: missing thin_pool", what,
			       first_seg->line, lvn->key);
	if (!get_int(first_seg, "device_id", &v) || v < 0 || v > 0xffffff)
		return tf_fail(EINVAL, "%s:%d: thin LV %s: missing or bad device_id", what,
			       first_seg->line, lvn->key);
	lv->device_id = (uint32_t)v;
	if (extents > UINT64_MAX / 512 / (vg->extent_sectors ? vg->extent_sectors : 1))
		return tf_fail(EINVAL, "%s:%d: thin LV %s: size overflows", what, lvn->line,
			       lvn->key);
	lv->size_bytes = extents * vg->extent_sectors * 512;
	if (get_int(lvn, "creation_time", &v))
		lv->creation_time = v;
	struct node *tags = find(lvn, "tags", N_ARRAY);
	size_t nt = 0;
	for (struct node *t = tags ? tags->child : NULL; t; t = t->next)
		nt++;
	lv->tags = calloc(nt + 1, sizeof(char *));
	if (!lv->tags)
		return tf_fail(ENOMEM, "%s: out of memory", what);
	for (struct node *t = tags ? tags->child : NULL; t; t = t->next) {
		if (t->type != N_STR)
			return tf_fail(EINVAL, "%s:%d: LV %s: tags must be strings", what, t->line,
				       lvn->key);
		if (!(lv->tags[lv->ntags] = strdup(t->str)))
			return tf_fail(ENOMEM, "%s: out of memory", what);
		lv->ntags++;
	}
	return 0;
}

static int extract_vg(const char *what, const struct node *root, struct tf_lvm_vg *vg)
{
	const struct node *vgn = NULL;
	int64_t v;

	/* The VG is the top-level section; the file has exactly one. */
	for (struct node *n = root->child; n; n = n->next) {
		if (n->type != N_SECTION)
			continue;
		if (vgn)
			return tf_fail(EINVAL,
				       "%s:%d: more than one volume group section ('%s', '%s')",
				       what, n->line, vgn->key, n->key);
		vgn = n;
	}
	if (!vgn)
		return tf_fail(EINVAL, "%s: no volume group section", what);
	vg->name = strdup(vgn->key);
	const char *id = get_str(vgn, "id");
	vg->id = strdup(id ? id : "");
	if (!vg->name || !vg->id)
		return tf_fail(ENOMEM, "%s: out of memory", what);
	if (!get_int(vgn, "extent_size", &v) || v <= 0 || v > (1LL << 40))
		return tf_fail(EINVAL, "%s:%d: volume group %s: missing or bad extent_size", what,
			       vgn->line, vgn->key);
	vg->extent_sectors = (uint64_t)v;
	const struct node *lvs = find(vgn, "logical_volumes", N_SECTION);
	for (struct node *l = lvs ? lvs->child : NULL; l; l = l->next) {
		if (l->type != N_SECTION)
			continue;
		int rc = extract_lv(what, vg, l);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int tf_lvm_parse(const char *text, size_t len, const char *what, struct tf_lvm_vg **out)
{
	struct lexer lx = {
	    .p = text, .end = text + len, .what = what ? what : "lvm metadata", .line = 1};
	struct node root = {.type = N_SECTION};
	struct tf_lvm_vg *vg;
	int rc;

	*out = NULL;
	rc = parse_items(&lx, &root, 0);
	if (rc == 0) {
		vg = calloc(1, sizeof(*vg));
		if (!vg) {
			rc = tf_fail(ENOMEM, "%s: out of memory", lx.what);
		} else {
			rc = extract_vg(lx.what, &root, vg);
			if (rc < 0)
				tf_lvm_free(vg);
			else
				*out = vg;
		}
	}
	node_free(root.child);
	return rc;
}

int tf_lvm_parse_file(const char *path, struct tf_lvm_vg **out)
{
	struct stat st;
	char *buf;
	size_t got = 0;
	int rc;

	*out = NULL;
	/* O_NONBLOCK: a FIFO must not hang the open (it is refused below). */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return tf_fail(errno, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > LVM_MAX_FILE) {
		rc = tf_fail(EINVAL, "%s: not a regular file of at most %u bytes", path,
			     LVM_MAX_FILE);
		close(fd);
		return rc;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return tf_fail(ENOMEM, "%s: out of memory", path);
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = tf_fail(errno, "%s: read: %s", path, strerror(errno));
			free(buf);
			close(fd);
			return rc;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	rc = tf_lvm_parse(buf, got, path, out);
	free(buf);
	return rc;
}
