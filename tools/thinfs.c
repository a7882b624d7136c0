/* thinfs.c — the thinfs command: dispatch to one subcommand. */
#include "cli.h"

#include "config.h"

#include <stdio.h>
#include <string.h>

static const struct tf_cmd *const commands[] = {
    &tf_cmd_mount, &tf_cmd_umount,  &tf_cmd_ls,	       &tf_cmd_diff,   &tf_cmd_index,
    &tf_cmd_send,  &tf_cmd_receive, &tf_cmd_replicate, &tf_cmd_verify, &tf_cmd_doctor,
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	fprintf(f, "Usage: thinfs COMMAND [ARGS]   (thinfs COMMAND --help for details)\n\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(f, "  %-8s %s\n", commands[i]->name, commands[i]->summary);
	fprintf(f, "\nSOURCE is a pool-image directory (metadata, data, optional lvm.cfg)\n"
		   "or a live pool VG/POOL.  Exit codes: 0 ok, 1 error, 2 usage (doctor:\n"
		   "0 ok, 1 warning, 2 critical, 3 unknown).  See thinfs(8).\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("thinfs %s\n", THINFS_VERSION);
		return 0;
	}
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (strcmp(argv[1], commands[i]->name) == 0)
			return commands[i]->run(commands[i], argc - 1, argv + 1);
	fprintf(stderr, "thinfs: unknown command '%s'\nTry 'thinfs --help'.\n", argv[1]);
	return 2;
}
