/* thinfs.c — the thinfs command: subcommand dispatch. */
#include <stdio.h>
#include "config.h"

int main(void)
{
	printf("thinfs %s\n", THINFS_VERSION);
	return 0;
}
