/* cmd_doctor.c — `thinfs doctor`: checks the host and thin pools for the
 * pitfalls that bite thin-pool users and prints each finding with its fix.
 * Exit codes follow monitoring plugins (the one exception to cli.h's). */
#include "cli.h"
#include "doctor.h"

#include "core/base/err.h"
#include "core/base/strbuf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { DOC_EXIT_OK = 0, DOC_EXIT_WARNING = 1, DOC_EXIT_CRITICAL = 2, DOC_EXIT_UNKNOWN = 3 };

static const char *const sev_name[] = {"ok", "unknown", "warning", "critical"};
static const char *const sev_upper[] = {"OK", "UNKNOWN", "WARNING", "CRITICAL"};
static const int sev_exit[] = {DOC_EXIT_OK, DOC_EXIT_UNKNOWN, DOC_EXIT_WARNING, DOC_EXIT_CRITICAL};

struct doctor_opts {
	long warn, crit;
	char bad[16]; /* the option with a bad value */
};

static long percent(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || (*end && strcmp(end, "%") != 0) || v < 1 || v > 100)
		return -1;
	return v;
}

static int doctor_extra(void *ctx, const char *name, const char *value)
{
	struct doctor_opts *o = ctx;
	long v = percent(value);

	if (v < 0)
		snprintf(o->bad, sizeof(o->bad), "%s", name);
	else if (strcmp(name, "warn") == 0)
		o->warn = v;
	else
		o->crit = v;
	return -1;
}

static void check_pools(struct tf_doc *d, const char **args, size_t nargs)
{
	struct tf_doc_pool *pools = NULL;
	size_t n = 0;
	int rc = tf_doc_list_pools(&pools, &n);

	if (rc < 0) {
		char why[600];
		snprintf(why, sizeof(why), "%s", tf_errmsg());
		for (size_t i = 0; i < (nargs ? nargs : 1); i++)
			tf_doc_fix(tf_doc_add(d, nargs ? args[i] : "host", "pools", TF_DOC_UNKNOWN,
					      "cannot list thin pools: %s", why),
				   "%s", rc == -ENOENT ? "apt install lvm2" : "run as root");
		return;
	}
	if (nargs == 0 && n == 0)
		tf_doc_fix(tf_doc_add(d, "host", "pools", TF_DOC_UNKNOWN,
				      "LVM reports no thin pools: nothing to check"),
			   "run doctor where the pools are, or create one: lvcreate -L SIZE -T "
			   "VG/POOL");
	for (size_t i = 0; nargs == 0 && i < n; i++)
		tf_doc_check_pool(d, &pools[i]);
	for (size_t k = 0; k < nargs; k++) {
		const char *slash = strchr(args[k], '/');
		const struct tf_doc_pool *p = NULL;

		for (size_t i = 0; slash && i < n && !p; i++)
			if (strlen(pools[i].vg) == (size_t)(slash - args[k]) &&
			    strncmp(pools[i].vg, args[k], (size_t)(slash - args[k])) == 0 &&
			    strcmp(pools[i].name, slash + 1) == 0)
				p = &pools[i];
		if (p)
			tf_doc_check_pool(d, p);
		else
			tf_doc_fix(tf_doc_add(d, args[k], "pools", TF_DOC_CRITICAL,
					      "LVM reports no thin pool %s", args[k]),
				   "check the name: lvs -o vg_name,lv_name,segtype");
	}
	free(pools);
}

static enum tf_doc_sev worst(const struct tf_doc *d, size_t counts[4])
{
	enum tf_doc_sev w = TF_DOC_OK;

	for (size_t i = 0; i < d->n; i++) {
		counts[d->f[i].sev]++;
		if (d->f[i].sev > w)
			w = d->f[i].sev;
	}
	return w;
}

static void print_text(const struct tf_doc *d, enum tf_doc_sev w, const size_t counts[4])
{
	printf("thinfs doctor: %s (%zu critical, %zu warning, %zu unknown, %zu ok)\n", sev_upper[w],
	       counts[TF_DOC_CRITICAL], counts[TF_DOC_WARNING], counts[TF_DOC_UNKNOWN],
	       counts[TF_DOC_OK]);
	for (size_t i = 0; i < d->n; i++) {
		const struct tf_doc_finding *f = &d->f[i];
		printf("%-8s %s %s: %s\n", sev_upper[f->sev], f->scope, f->check, f->finding);
		if (f->fix)
			printf("         fix: %s\n", f->fix);
	}
}

static int print_json(const struct tf_doc *d, enum tf_doc_sev w, const size_t counts[4])
{
	struct tf_strbuf sb = {0};
	char *s;

	tf_sb_printf(&sb,
		     "{\"status\": \"%s\", \"exit_code\": %d, \"warn_percent\": %u, "
		     "\"crit_percent\": %u,\n \"counts\": {\"ok\": %zu, \"warning\": %zu, "
		     "\"critical\": %zu, \"unknown\": %zu},\n \"checks\": [",
		     sev_name[w], sev_exit[w], d->warn, d->crit, counts[TF_DOC_OK],
		     counts[TF_DOC_WARNING], counts[TF_DOC_CRITICAL], counts[TF_DOC_UNKNOWN]);
	for (size_t i = 0; i < d->n; i++) {
		const struct tf_doc_finding *f = &d->f[i];
		tf_sb_printf(&sb, "%s\n  {\"scope\": ", i ? "," : "");
		tf_sb_json_str(&sb, f->scope);
		tf_sb_printf(&sb, ", \"check\": ");
		tf_sb_json_str(&sb, f->check);
		tf_sb_printf(&sb, ", \"status\": \"%s\", \"finding\": ", sev_name[f->sev]);
		tf_sb_json_str(&sb, f->finding);
		tf_sb_printf(&sb, ", \"fix\": ");
		tf_sb_json_str(&sb, f->fix);
		if (f->has_value)
			tf_sb_printf(&sb, ", \"percent\": %.2f", f->value);
		tf_sb_printf(&sb, "}");
	}
	tf_sb_printf(&sb, "\n ]}\n");
	if (!(s = tf_sb_take(&sb, NULL)))
		return -ENOMEM;
	fputs(s, stdout);
	free(s);
	return 0;
}

static int doctor_run(const struct tf_cmd *cmd, int argc, char **argv)
{
	static const char *const extra[] = {"warn=", "crit=", NULL};
	struct doctor_opts o = {.warn = 80, .crit = 95};
	struct tf_cli_common c = {0};
	struct tf_doc d = {0};
	size_t counts[4] = {0}, npos;
	const char *pos[64];
	enum tf_doc_sev w;
	int rc;

	rc = tf_cli_parse(cmd, argc, argv, &c, extra, doctor_extra, &o, pos, 0, 64, &npos);
	if (rc == TF_EXIT_OK)
		return rc;
	if (rc >= 0)
		return DOC_EXIT_UNKNOWN; /* a usage error is "unknown" to a monitor */
	if (o.bad[0]) {
		tf_cli_usage(cmd, "--%s takes a percentage from 1 to 100", o.bad);
		return DOC_EXIT_UNKNOWN;
	}
	if (o.warn > o.crit) {
		tf_cli_usage(cmd, "--warn %ld is above --crit %ld", o.warn, o.crit);
		return DOC_EXIT_UNKNOWN;
	}
	if (c.rebuild) {
		tf_cli_usage(cmd, "doctor does not take --rebuild");
		return DOC_EXIT_UNKNOWN;
	}
	for (size_t i = 0; i < npos; i++) {
		const char *slash = strchr(pos[i], '/');
		if (!slash || slash == pos[i] || !slash[1] || strchr(slash + 1, '/')) {
			tf_cli_usage(cmd, "'%s' is not VG/POOL", pos[i]);
			return DOC_EXIT_UNKNOWN;
		}
	}
	if (c.index_path && npos != 1) {
		tf_cli_usage(cmd, "--index names the index of one pool: give exactly one VG/POOL");
		return DOC_EXIT_UNKNOWN;
	}
	d.warn = (unsigned)o.warn;
	d.crit = (unsigned)o.crit;
	d.index_path = c.index_path;
	tf_doc_check_host(&d);
	check_pools(&d, pos, npos);
	w = worst(&d, counts);
	rc = 0;
	if (d.oom) {
		fprintf(stderr, "thinfs doctor: out of memory\n");
		tf_doc_free(&d);
		return DOC_EXIT_UNKNOWN;
	}
	if (c.json)
		rc = print_json(&d, w, counts);
	else
		print_text(&d, w, counts);
	tf_doc_free(&d);
	if (rc < 0 || fflush(stdout) != 0) {
		fprintf(stderr, "thinfs doctor: cannot write the report\n");
		return DOC_EXIT_UNKNOWN;
	}
	return sev_exit[w];
}

const struct tf_cmd tf_cmd_doctor = {
    .name = "doctor",
    .summary = "check the host and thin pools; say what to fix",
    .usage = "Usage: thinfs doctor [VG/POOL ...] [--json] [--warn PCT] [--crit PCT] "
	     "[--index PATH]\n"
	     "\n"
	     "Checks the host and each thin pool (every pool LVM reports, without\n"
	     "arguments) and prints each check as OK, WARNING, CRITICAL or UNKNOWN with\n"
	     "its finding and the exact fix (a command or an lvm.conf line):\n"
	     "  host: device-mapper and dm-thin-pool in the kernel; the thin_check,\n"
	     "        thin_repair and thin_dump executables lvm.conf names (package\n"
	     "        thin-provisioning-tools); thin_pool_autoextend_threshold and\n"
	     "        _percent; FUSE (/dev/fuse, fusermount3)\n"
	     "  pool: read-only, needs_check, out of data space, and the mode when full\n"
	     "        (error or queue); data and metadata usage; a held metadata snapshot;\n"
	     "        the spare metadata LV; discards and whether the data device\n"
	     "        supports them; the thinfs index (readable, current)\n"
	     "Nothing is changed.  Run it as root.\n"
	     "\n"
	     "  --json        one JSON object: status, exit_code, counts and checks[]\n"
	     "                (scope, check, status, finding, fix, percent)\n"
	     "  --warn PCT    usage that is a warning (default 80)\n"
	     "  --crit PCT    usage that is critical (default 95)\n"
	     "  --index PATH  the index of the one pool given (default: per pool)\n"
	     "\n"
	     "Exit codes follow monitoring plugins (Nagios, Icinga), unlike the other\n"
	     "thinfs commands: 0 all ok, 1 a warning, 2 a critical finding, 3 unknown\n"
	     "(some check could not tell, or a usage error).  Critical wins over\n"
	     "warning, warning over unknown.\n",
    .run = doctor_run,
};
