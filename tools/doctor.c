/* doctor.c — the findings list of `thinfs doctor`, and the thin pools as
 * `lvs` reports them (doctor.h). */
#include "doctor.h"

#include "core/base/err.h"
#include "core/base/run.h"
#include "core/base/vec.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *vfmt(const char *fmt, va_list ap)
{
	char *s = NULL;

	return vasprintf(&s, fmt, ap) < 0 ? NULL : s;
}

struct tf_doc_finding *tf_doc_add(struct tf_doc *d, const char *scope, const char *check,
				  enum tf_doc_sev sev, const char *fmt, ...)
{
	struct tf_doc_finding *f = TF_VEC_PUSH(d->f, d->n, d->cap);
	va_list ap;

	if (!f) {
		d->oom = true;
		return NULL;
	}
	memset(f, 0, sizeof(*f));
	f->check = check;
	f->sev = sev;
	f->scope = strdup(scope);
	va_start(ap, fmt);
	f->finding = vfmt(fmt, ap);
	va_end(ap);
	if (!f->scope || !f->finding) {
		free(f->scope);
		free(f->finding);
		d->n--;
		d->oom = true;
		return NULL;
	}
	return f;
}

void tf_doc_fix(struct tf_doc_finding *f, const char *fmt, ...)
{
	va_list ap;

	if (!f)
		return;
	free(f->fix);
	va_start(ap, fmt);
	f->fix = vfmt(fmt, ap);
	va_end(ap);
}

void tf_doc_free(struct tf_doc *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->f[i].scope);
		free(d->f[i].finding);
		free(d->f[i].fix);
	}
	free(d->f);
	d->f = NULL;
	d->n = d->cap = 0;
}

/* ---- lvs ---- */

#define LVS_FIELDS                                                                                 \
	"vg_name,lv_name,lv_attr,segtype,lv_size,lv_metadata_size,data_lv,metadata_lv,discards,"   \
	"lv_when_full,lv_role,vg_free,lv_uuid,vg_uuid"
enum {
	F_VG,
	F_LV,
	F_ATTR,
	F_SEGTYPE,
	F_SIZE,
	F_MSIZE,
	F_DATA,
	F_META,
	F_DISCARDS,
	F_WHEN_FULL,
	F_ROLE,
	F_VG_FREE,
	F_UUID,
	F_VG_UUID,
	F_COUNT
};

/* "[pool_tdata]" -> "pool_tdata" */
static void copy_name(char *dst, size_t n, const char *src)
{
	size_t l = strlen(src);

	if (l >= 2 && src[0] == '[' && src[l - 1] == ']')
		snprintf(dst, n, "%.*s", (int)(l - 2), src + 1);
	else
		snprintf(dst, n, "%s", src);
}

static uint64_t num(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	return errno || end == s ? 0 : (uint64_t)v;
}

/* Splits one report line into its fields, in place. */
static int split(char *line, char *f[F_COUNT])
{
	size_t k = 0;
	char *s = line;

	while (*s == ' ')
		s++;
	for (;;) {
		char *bar = strchr(s, '|');
		if (k == F_COUNT)
			return -1;
		f[k++] = s;
		if (!bar)
			break;
		*bar = '\0';
		s = bar + 1;
	}
	return k == F_COUNT ? 0 : -1;
}

/* Parses the report: pools first, then each VG's spare metadata LV. */
static int parse_lvs(char *text, struct tf_doc_pool **out, size_t *n)
{
	struct spare {
		const char *vg; /* points into text */
		uint64_t size;
	} *spares = NULL;
	struct tf_doc_pool *pools = NULL;
	size_t np = 0, cap = 0, nspares = 0, spare_cap = 0, lineno = 0;
	char *save = NULL;

	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[F_COUNT];

		lineno++;
		if (split(line, f) < 0) {
			free(pools);
			free(spares);
			return tf_fail(EPROTO,
				       "lvs: line %zu has not the %d fields asked for: '%.80s'",
				       lineno, F_COUNT, line);
		}
		if (strstr(f[F_ROLE], "spare")) {
			struct spare *sp = TF_VEC_PUSH(spares, nspares, spare_cap);
			if (!sp)
				goto oom;
			sp->vg = f[F_VG];
			sp->size = num(f[F_SIZE]);
			continue;
		}
		if (strcmp(f[F_SEGTYPE], "thin-pool") != 0)
			continue;
		struct tf_doc_pool *p = TF_VEC_PUSH(pools, np, cap);
		if (!p)
			goto oom;
		memset(p, 0, sizeof(*p));
		snprintf(p->vg, sizeof(p->vg), "%s", f[F_VG]);
		copy_name(p->name, sizeof(p->name), f[F_LV]);
		snprintf(p->attr, sizeof(p->attr), "%s", f[F_ATTR]);
		snprintf(p->vg_uuid, sizeof(p->vg_uuid), "%s", f[F_VG_UUID]);
		snprintf(p->uuid, sizeof(p->uuid), "%s", f[F_UUID]);
		copy_name(p->data_lv, sizeof(p->data_lv), f[F_DATA]);
		copy_name(p->metadata_lv, sizeof(p->metadata_lv), f[F_META]);
		snprintf(p->discards, sizeof(p->discards), "%s", f[F_DISCARDS]);
		snprintf(p->when_full, sizeof(p->when_full), "%s", f[F_WHEN_FULL]);
		p->size = num(f[F_SIZE]);
		p->metadata_size = num(f[F_MSIZE]);
		p->vg_free = num(f[F_VG_FREE]);
	}
	for (size_t i = 0; i < nspares; i++) {
		for (size_t k = 0; k < np; k++) {
			struct tf_doc_pool *p = &pools[k];
			if (strcmp(p->vg, spares[i].vg) != 0)
				continue;
			p->has_spare = true;
			if (spares[i].size > p->spare_size)
				p->spare_size = spares[i].size;
		}
	}
	free(spares);
	*out = pools;
	*n = np;
	return 0;
oom:
	free(pools);
	free(spares);
	return tf_fail(ENOMEM, "lvs: out of memory");
}

int tf_doc_list_pools(struct tf_doc_pool **out, size_t *n)
{
	static const char *const argv[] = {
	    "lvs",	   "-a", "--noheadings", "--units",  "b", "--nosuffix",
	    "--separator", "|",	 "-o",		 LVS_FIELDS, NULL};
	struct tf_run_result r;
	char line[200];
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = tf_run(argv, 60000, &r)) < 0)
		return rc;
	if (r.status != 0) {
		tf_run_first_line(r.err, line, sizeof(line));
		rc = tf_fail(EIO, "lvs failed (exit %d): %s", r.status, line);
	} else {
		rc = parse_lvs(r.out, out, n);
	}
	tf_run_free(&r);
	return rc;
}
