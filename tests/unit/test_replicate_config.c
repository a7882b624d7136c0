/* test_replicate_config.c — the job file of `thinfs replicate --config`:
 * jobs with their defaults, and every mistake named by FILE:LINE. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/base/err.h"
#include "tools/replicate_config.h"

static void jobs_parse_with_their_defaults(void **state)
{
	struct rep_config c;
	const char *text = "# replication jobs\n"
			   "\n"
			   "[vm1]\n"
			   "source = vg0/vm1\n"
			   "target=ssh:backup@nas:/srv/vm\n"
			   "  every = 15m  \r\n"
			   "keep = 24\n"
			   "pre = fsfreeze -f /srv/vm1 && sync\n"
			   "post = fsfreeze -u /srv/vm1\n"
			   "verify = yes\n"
			   "; another comment\n"
			   "[ ct-web.2 ]\n"
			   "source = vg0/ct_web\n"
			   "target = vg1/pool\n"
			   "prefix = -hourly-\n";

	(void)state;
	assert_int_equal(rep_config_parse(text, "jobs.conf", &c), 0);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.jobs[0].name, "vm1");
	assert_string_equal(c.jobs[0].source, "vg0/vm1");
	assert_string_equal(c.jobs[0].target, "ssh:backup@nas:/srv/vm");
	assert_int_equal(c.jobs[0].every, 900);
	assert_int_equal(c.jobs[0].keep, 24);
	assert_string_equal(c.jobs[0].pre, "fsfreeze -f /srv/vm1 && sync");
	assert_string_equal(c.jobs[0].post, "fsfreeze -u /srv/vm1");
	assert_true(c.jobs[0].verify);
	assert_string_equal(c.jobs[0].prefix, REP_DEFAULT_PREFIX);
	assert_string_equal(c.jobs[1].name, "ct-web.2");
	assert_int_equal(c.jobs[1].keep, REP_DEFAULT_KEEP);
	assert_int_equal(c.jobs[1].every, 0);
	assert_false(c.jobs[1].verify);
	assert_string_equal(c.jobs[1].prefix, "-hourly-");
	rep_config_free(&c);
}

/* Each bad file fails with EINVAL and a message holding `want`. */
static void mistakes_are_named_by_file_and_line(void **state)
{
	static const struct {
		const char *text, *want;
	} bad[] = {
	    {"[a]\nsource=v/l\ntarget=/t\ncolour = blue\n", "f.conf:4: unknown key 'colour'"},
	    {"source = v/l\n", "f.conf:1: 'source' outside a [JOB] section"},
	    {"[a]\nsource=v/l\ntarget=/t\n[a]\nsource=v/l\ntarget=/t\n",
	     "f.conf:4: job [a] is defined twice"},
	    {"[a]\nsource=v/l\ntarget=/t\nkeep = 0\n", "f.conf:4: keep"},
	    {"[a]\nsource=v/l\ntarget=/t\nkeep = 3x\n", "f.conf:4: keep"},
	    {"[a]\nsource=v/l\ntarget=/t\nkeep = -1\n", "f.conf:4: keep"},
	    {"[a]\nsource=v/l\n", "job [a] has no target"},
	    {"[a]\ntarget=/t\n[b]\nsource=v/l\ntarget=/t\n", "job [a] has no source"},
	    {"[a b]\n", "f.conf:1: job name 'a b'"},
	    {"[../x]\n", "f.conf:1: job name"},
	    {"[a\n", "f.conf:1: a section is [NAME]"},
	    {"[a]\nsource=v/l\ntarget=/t\nprefix = a/b\n", "f.conf:4: prefix"},
	    {"[a]\nsource=v/l\ntarget=/t\nevery = soon\n", "f.conf:4: every"},
	    {"[a]\nsource=v/l\ntarget=/t\nevery = 5w\n", "f.conf:4: every"},
	    {"[a]\nsource=v/l\ntarget=/t\nverify = maybe\n", "f.conf:4: verify"},
	    {"[a]\nsource=v/l\ntarget=/t\njust words\n", "f.conf:4: expected KEY = VALUE"},
	    {"# nothing\n\n", "no [JOB] sections"},
	};
	struct rep_config c;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = rep_config_parse(bad[i].text, "f.conf", &c);
		if (rc != -EINVAL || !strstr(tf_errmsg(), bad[i].want))
			fail_msg("case %zu: rc %d, message '%s', wanted '%s'", i, rc, tf_errmsg(),
				 bad[i].want);
		assert_null(c.jobs);
	}
}

static void a_long_value_is_refused_not_cut(void **state)
{
	char text[4096];
	struct rep_config c;

	(void)state;
	snprintf(text, sizeof(text), "[a]\nsource=v/l\ntarget=/t\npre = %02000d\n", 1);
	assert_int_equal(rep_config_parse(text, "f.conf", &c), -EINVAL);
	assert_non_null(strstr(tf_errmsg(), "f.conf:4: pre is too long"));
}

static void durations_take_seconds_minutes_hours_and_days(void **state)
{
	long v;

	(void)state;
	assert_int_equal(rep_parse_duration("90", &v), 0);
	assert_int_equal(v, 90);
	assert_int_equal(rep_parse_duration("90s", &v), 0);
	assert_int_equal(v, 90);
	assert_int_equal(rep_parse_duration("15m", &v), 0);
	assert_int_equal(v, 900);
	assert_int_equal(rep_parse_duration("2h", &v), 0);
	assert_int_equal(v, 7200);
	assert_int_equal(rep_parse_duration("1d", &v), 0);
	assert_int_equal(v, 86400);
	assert_int_equal(rep_parse_duration("", &v), -EINVAL);
	assert_int_equal(rep_parse_duration("-5", &v), -EINVAL);
	assert_int_equal(rep_parse_duration("5 m", &v), -EINVAL);
	assert_int_equal(rep_parse_duration("99999999999999999999", &v), -EINVAL);
}

static void a_file_with_a_nul_byte_is_refused(void **state)
{
	char path[] = "/tmp/thinfs-cfg.XXXXXX";
	int fd = mkstemp(path);
	struct rep_config c;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "[a]\nsource=v/l\0\ntarget=/t\n", 25), 25);
	close(fd);
	assert_int_equal(rep_config_load(path, &c), -EINVAL);
	assert_non_null(strstr(tf_errmsg(), "NUL"));
	unlink(path);
	assert_int_equal(rep_config_load(path, &c), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(jobs_parse_with_their_defaults),
	    cmocka_unit_test(mistakes_are_named_by_file_and_line),
	    cmocka_unit_test(a_long_value_is_refused_not_cut),
	    cmocka_unit_test(durations_take_seconds_minutes_hours_and_days),
	    cmocka_unit_test(a_file_with_a_nul_byte_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
