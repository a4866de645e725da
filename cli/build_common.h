/*
 * build_common.h — what `ripple build` and `ripple test-change` share: their
 * options, the session, and the progress display. Internal to cli/.
 */
#ifndef RIPPLE_CLI_BUILD_COMMON_H
#define RIPPLE_CLI_BUILD_COMMON_H

#include "runner/build.h"

struct cli_build_args {
	const char *manifest;
	struct build_options opts;
	char **changes; /* "PKG=REV" as given */
	size_t n_changes;
	char **pins; /* "PKG=REV": the baseline's revision of PKG, in the base and the change alike */
	size_t n_pins;
	int all;
	unsigned retries; /* test-change: runs of each side before a test failure is called a regression */
	int json;
	int markdown;
	char cache_buf[4096];
	const struct rp_universe *u; /* set once loaded, for naming jobs in progress lines */
};

/*
 * Parses the options both commands take. Returns RP_EXIT_OK, or RP_EXIT_USAGE
 * after printing the error. `args->changes` and `args->pins` are the caller's to free().
 */
int cli_build_parse(const char *command, int argc, char **argv, struct cli_build_args *args);

/* The build cache of `manifest` when none is given: .ripple beside it, written into `buf`. */
const char *cli_default_cache(const char *manifest, char *buf, size_t size);

/* A live progress line on a terminal, a line per finished job otherwise (stderr). */
void cli_build_progress(const struct build_progress *p, void *data);

/* "ripple build -m M --pin B=y --change A=x ..." for reproduce lines; caller frees. */
char *cli_build_reproduce(const struct cli_build_args *args);

/*
 * Checks the target and package names the options give, and parses
 * args->changes and args->pins against `u` into arrays the caller frees;
 * prints the error and returns RP_EXIT_USAGE on a bad one.
 */
int cli_build_resolve(const struct rp_universe *u, const struct cli_build_args *args, struct plan_change **changes,
		      struct plan_change **pins);

#endif
