#include "common.h"

#include <stdio.h>

#include "cli.h"
#include "core/banned.h"

int cli_load_universe(const char *path, struct rp_universe **u, struct graph *g)
{
	struct rp_error err;
	if (manifest_load_file(path, u, &err) < 0) {
		cli_error("%s", err.msg);
		return RP_EXIT_USAGE;
	}
	if (graph_init_universe(g, *u, &err) < 0) {
		cli_error("%s", err.msg);
		manifest_free(*u);
		*u = NULL;
		return RP_EXIT_FAILED;
	}
	return RP_EXIT_OK;
}

int cli_print_json(json_t *doc)
{
	if (!doc) {
		cli_error("cannot build the JSON output: out of memory, or a name that is not UTF-8");
		return RP_EXIT_FAILED;
	}
	int rc = json_dumpf(doc, stdout, JSON_INDENT(2));
	json_decref(doc);
	if (rc < 0 || putchar('\n') == EOF) {
		cli_error("cannot write JSON to standard output");
		return RP_EXIT_FAILED;
	}
	return RP_EXIT_OK;
}
