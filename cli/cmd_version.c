#include <git2.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "common.h"
#include "core/banned.h"

int cmd_version(int argc, char **argv)
{
	int json = argc == 2 && strcmp(argv[1], "--json") == 0;
	if (argc > 2 || (argc == 2 && !json))
		return cli_usage_error("version", "unexpected argument '%s'", argv[1]);
	int major, minor, rev;
	git_libgit2_version(&major, &minor, &rev);
	if (json) {
		char git[32];
		snprintf(git, sizeof(git), "%d.%d.%d", major, minor, rev);
		return cli_print_json(json_pack("{s:s, s:s, s:s, s:s}", "ripple", RIPPLE_VERSION, "sqlite",
						sqlite3_libversion(), "jansson", JANSSON_VERSION, "libgit2", git));
	}
	printf("ripple %s (sqlite %s, jansson %s, libgit2 %d.%d.%d)\n", RIPPLE_VERSION, sqlite3_libversion(),
	       JANSSON_VERSION, major, minor, rev);
	return RP_EXIT_OK;
}
