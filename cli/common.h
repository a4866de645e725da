/*
 * common.h — what several subcommands share: loading the manifest and
 * printing JSON. Internal to cli/.
 */
#ifndef RIPPLE_CLI_COMMON_H
#define RIPPLE_CLI_COMMON_H

#include <jansson.h>

#include "core/graph.h"
#include "core/manifest.h"

/*
 * Loads and validates `path` and builds its graph. On failure prints the
 * one-line error and returns RP_EXIT_USAGE; *u is then NULL.
 */
int cli_load_universe(const char *path, struct rp_universe **u, struct graph *g);

/* Prints `doc` (consumed) to stdout, indented, with a final newline. */
int cli_print_json(json_t *doc);

#endif
