#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "common.h"
#include "core/banned.h"

int cmd_revdeps(int argc, char **argv)
{
	static const struct option options[] = { { "json", no_argument, NULL, 'j' },
						 { "manifest", required_argument, NULL, 'm' },
						 { NULL, 0, NULL, 0 } };
	const char *manifest = CLI_DEFAULT_MANIFEST;
	int json = 0, opt;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "m:", options, NULL)) != -1) {
		if (opt == 'j')
			json = 1;
		else if (opt == 'm')
			manifest = optarg;
		else if (optopt == 'm')
			return cli_usage_error("revdeps", "option '-m' needs a manifest file");
		else
			return cli_usage_error("revdeps", "unknown option '%s'", argv[optind - 1]);
	}
	if (optind == argc)
		return cli_usage_error("revdeps", "expected at least one package name");
	struct rp_universe *u;
	struct graph g;
	int status = cli_load_universe(manifest, &u, &g);
	if (status != RP_EXIT_OK)
		return status;
	size_t n_seeds = (size_t)(argc - optind);
	size_t *seeds = malloc(n_seeds * sizeof(*seeds));
	unsigned char *in_closure = malloc(u->n_packages);
	size_t *order = malloc(u->n_packages * sizeof(*order));
	if (!seeds || !in_closure || !order) {
		cli_error("out of memory");
		status = RP_EXIT_FAILED;
		goto out;
	}
	for (size_t i = 0; i < n_seeds; i++) {
		long index = manifest_find_package(u, argv[optind + (int)i]);
		if (index < 0) {
			const char *hint = manifest_suggest_package(u, argv[optind + (int)i]);
			cli_error("%s: no package \"%s\" in universe \"%s\"%s%s%s", manifest, argv[optind + (int)i],
				  u->name, hint ? "; did you mean \"" : "", hint ? hint : "", hint ? "\"?" : "");
			status = RP_EXIT_USAGE;
			goto out;
		}
		seeds[i] = (size_t)index;
	}
	long n_order;
	if (graph_reverse_closure(&g, seeds, n_seeds, in_closure) < 0 ||
	    (n_order = graph_topo_order(&g, in_closure, order)) < 0) {
		cli_error("out of memory");
		status = RP_EXIT_FAILED;
		goto out;
	}
	/* The named packages are the question, not part of the answer. */
	for (size_t i = 0; i < n_seeds; i++)
		in_closure[seeds[i]] = 2;
	if (json) {
		json_t *named = json_array(), *revdeps = json_array();
		for (size_t i = 0; i < n_seeds; i++)
			json_array_append_new(named, json_string(u->packages[seeds[i]].name));
		for (long k = 0; k < n_order; k++)
			if (in_closure[order[k]] == 1)
				json_array_append_new(revdeps, json_string(u->packages[order[k]].name));
		status = cli_print_json(json_pack("{s:o, s:o}", "packages", named, "revdeps", revdeps));
	} else {
		for (long k = 0; k < n_order; k++)
			if (in_closure[order[k]] == 1)
				printf("%s\n", u->packages[order[k]].name);
	}
out:
	free(seeds);
	free(in_closure);
	free(order);
	graph_release(&g);
	manifest_free(u);
	return status;
}
