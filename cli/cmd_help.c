#include <stdio.h>

#include "cli.h"
#include "core/banned.h"

int cmd_help(int argc, char **argv)
{
	if (argc > 2)
		return cli_usage_error("help", "expected at most one command name");
	if (argc == 2) {
		const struct cli_command *cmd = cli_find_command(argv[1]);
		if (!cmd) {
			cli_error("'%s' is not a ripple command; see 'ripple help'", argv[1]);
			return RP_EXIT_USAGE;
		}
		fputs(cmd->usage, stdout);
		return RP_EXIT_OK;
	}
	printf("usage: ripple COMMAND [ARGS]\n"
	       "\n"
	       "ripple builds and tests every change to a library and everything downstream of it.\n"
	       "\n"
	       "Commands:\n");
	for (const struct cli_command *c = cli_commands; c->name; c++)
		printf("  %-10s %s\n", c->name, c->summary);
	printf("\n"
	       "'ripple help COMMAND' shows a command's options. Exit status: 0 ok, 1 the thing\n"
	       "checked failed, 2 bad usage or bad input.\n");
	return RP_EXIT_OK;
}
