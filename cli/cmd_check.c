#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "common.h"
#include "core/banned.h"

int cmd_check(int argc, char **argv)
{
	static const struct option options[] = { { "json", no_argument, NULL, 'j' }, { NULL, 0, NULL, 0 } };
	int json = 0, opt;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		if (opt == 'j')
			json = 1;
		else
			return cli_usage_error("check", "unknown option '%s'", argv[optind - 1]);
	}
	if (argc - optind > 1)
		return cli_usage_error("check", "expected at most one manifest file");
	const char *path = optind < argc ? argv[optind] : CLI_DEFAULT_MANIFEST;
	struct rp_universe *u;
	struct rp_error err;
	if (manifest_load_file(path, &u, &err) < 0) {
		cli_error("%s", err.msg);
		/* A script gets the same verdict on stdout, with the position as numbers. */
		if (json)
			cli_print_json(json_pack("{s:s, s:b, s:s, s:i, s:i}", "file", path, "valid", 0, "error",
						 err.msg, "line", err.line, "column", err.column));
		return RP_EXIT_USAGE;
	}
	size_t n_edges = 0;
	for (size_t i = 0; i < u->n_packages; i++)
		n_edges += u->packages[i].n_depends;
	int status = RP_EXIT_OK;
	if (json) {
		json_t *targets = json_array();
		for (size_t i = 0; targets && i < u->n_targets; i++)
			if (json_array_append_new(targets, json_string(u->targets[i].name)) < 0)
				json_decref(targets), targets = NULL;
		status = cli_print_json(targets ? json_pack("{s:s, s:b, s:s, s:I, s:I, s:o}", "file", path, "valid", 1,
							    "universe", u->name, "packages", (json_int_t)u->n_packages,
							    "dependencies", (json_int_t)n_edges, "targets", targets)
						: NULL);
	} else {
		printf("%s: universe \"%s\" is valid: %zu packages, %zu dependencies, %zu targets\n", path, u->name,
		       u->n_packages, n_edges, u->n_targets);
	}
	manifest_free(u);
	return status;
}
