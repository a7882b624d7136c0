/* test_ssh_target.c — the ssh:[USER@]HOST:PATH parser and the ssh command
 * line that runs thinfs on the other end: hostile specs are refused, and
 * every remote word arrives unchanged through the remote shell. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/base/err.h"
#include "tools/ssh_target.h"

static void parses_user_host_and_path(void **state)
{
	struct ssh_target t;

	(void)state;
	assert_int_equal(ssh_target_parse("ssh:backup@nas.example:/srv/vm images", &t), 0);
	assert_string_equal(t.user, "backup");
	assert_string_equal(t.host, "nas.example");
	assert_string_equal(t.path, "/srv/vm images");
	assert_int_equal(ssh_target_parse("ssh:nas:vg1/pool", &t), 0);
	assert_string_equal(t.user, "");
	assert_string_equal(t.host, "nas");
	assert_string_equal(t.path, "vg1/pool");
	/* a colon in the path is part of the path */
	assert_int_equal(ssh_target_parse("ssh:nas:/srv/a:b", &t), 0);
	assert_string_equal(t.path, "/srv/a:b");
}

static void parses_ipv6_addresses_in_brackets(void **state)
{
	struct ssh_target t;

	(void)state;
	assert_int_equal(ssh_target_parse("ssh:root@[::1]:/srv", &t), 0);
	assert_string_equal(t.user, "root");
	assert_string_equal(t.host, "::1");
	assert_string_equal(t.path, "/srv");
	assert_int_equal(ssh_target_parse("ssh:[fe80::1:/srv", &t), -EINVAL);
}

static void refuses_options_disguised_as_hosts_or_users(void **state)
{
	struct ssh_target t;

	(void)state;
	assert_int_equal(ssh_target_parse("ssh:-oProxyCommand=touch /tmp/x:/srv", &t), -EINVAL);
	assert_int_equal(ssh_target_parse("ssh:-l@host:/srv", &t), -EINVAL);
	assert_non_null(strstr(tf_errmsg(), "start with '-'"));
	assert_int_equal(ssh_target_parse("ssh:[-oX]:/srv", &t), -EINVAL);
}

static void refuses_empty_parts_and_control_characters(void **state)
{
	struct ssh_target t;
	static const char *const bad[] = {
	    "ssh:",	   "ssh:host",	     "ssh:host:",      "ssh::/srv",	 "ssh:@host:/srv",
	    "ssh:u@:/srv", "ssh:host:/a\nb", "ssh:ho st:/srv", "ssh:a@b@c:/srv", "scp:host:/srv",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = ssh_target_parse(bad[i], &t);
		if (rc != -EINVAL)
			fail_msg("'%s' was accepted", bad[i]);
	}
}

static void argv_runs_ssh_in_batch_mode_with_the_destination_after_double_dash(void **state)
{
	const char *remote[] = {"replicate", "--target-side", "list", "/srv", NULL};
	struct ssh_target t;
	char **argv;

	(void)state;
	unsetenv("THINFS_SSH");
	unsetenv("THINFS_REMOTE");
	assert_int_equal(ssh_target_parse("ssh:backup@nas:/srv", &t), 0);
	assert_int_equal(ssh_target_argv(&t, remote, &argv), 0);
	assert_string_equal(argv[0], "ssh");
	assert_string_equal(argv[1], "-o");
	assert_string_equal(argv[2], "BatchMode=yes");
	assert_string_equal(argv[3], "--");
	assert_string_equal(argv[4], "backup@nas");
	assert_string_equal(argv[5], "'thinfs' 'replicate' '--target-side' 'list' '/srv'");
	assert_null(argv[6]);
	ssh_argv_free(argv);
}

static void thinfs_ssh_and_thinfs_remote_replace_the_programs(void **state)
{
	const char *remote[] = {"verify", NULL};
	struct ssh_target t;
	char **argv;

	(void)state;
	setenv("THINFS_SSH", "  ssh -p 2222\t-i /k/id ", 1);
	setenv("THINFS_REMOTE", "/opt/thinfs/bin/thinfs", 1);
	assert_int_equal(ssh_target_parse("ssh:h:/d", &t), 0);
	assert_int_equal(ssh_target_argv(&t, remote, &argv), 0);
	const char *want[] = {"ssh",
			      "-p",
			      "2222",
			      "-i",
			      "/k/id",
			      "-o",
			      "BatchMode=yes",
			      "--",
			      "h",
			      "'/opt/thinfs/bin/thinfs' 'verify'",
			      NULL};
	for (size_t i = 0; want[i]; i++)
		assert_string_equal(argv[i], want[i]);
	assert_null(argv[10]);
	ssh_argv_free(argv);
	unsetenv("THINFS_SSH");
	unsetenv("THINFS_REMOTE");
}

/* Runs the remote command string through sh as sshd would, with printf
 * standing in for thinfs, and returns what it printed. */
static char *through_a_shell(const char *cmd)
{
	static char out[8192];
	int p[2];
	pid_t pid;
	size_t n = 0;
	ssize_t k;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	while ((k = read(p[0], out + n, sizeof(out) - 1 - n)) > 0)
		n += (size_t)k;
	close(p[0]);
	out[n] = '\0';
	waitpid(pid, NULL, 0);
	return out;
}

static void remote_words_arrive_unchanged_through_the_remote_shell(void **state)
{
	const char *remote[] = {
	    "%s|",    "a b", "it's", "$(echo pwned)", "`id`",	 "\\n\\", "; rm -rf /",
	    "\"dq\"", "*",   "",     "~root",	      "a'b'c''", NULL};
	char want[4096] = "";
	struct ssh_target t;
	char **argv;
	size_t n;

	(void)state;
	setenv("THINFS_REMOTE", "printf", 1);
	assert_int_equal(ssh_target_parse("ssh:h:/d", &t), 0);
	assert_int_equal(ssh_target_argv(&t, remote, &argv), 0);
	for (n = 0; argv[n]; n++)
		;
	for (size_t i = 1; remote[i]; i++) {
		strcat(want, remote[i]);
		strcat(want, "|");
	}
	assert_string_equal(through_a_shell(argv[n - 1]), want);
	ssh_argv_free(argv);
	unsetenv("THINFS_REMOTE");
}

static void quoting_reports_a_full_buffer(void **state)
{
	char buf[8] = "";

	(void)state;
	assert_int_equal(ssh_shell_quote("abcd", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "'abcd'");
	buf[0] = '\0';
	assert_int_equal(ssh_shell_quote("abcdefgh", buf, sizeof(buf)), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(parses_user_host_and_path),
	    cmocka_unit_test(parses_ipv6_addresses_in_brackets),
	    cmocka_unit_test(refuses_options_disguised_as_hosts_or_users),
	    cmocka_unit_test(refuses_empty_parts_and_control_characters),
	    cmocka_unit_test(argv_runs_ssh_in_batch_mode_with_the_destination_after_double_dash),
	    cmocka_unit_test(thinfs_ssh_and_thinfs_remote_replace_the_programs),
	    cmocka_unit_test(remote_words_arrive_unchanged_through_the_remote_shell),
	    cmocka_unit_test(quoting_reports_a_full_buffer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
