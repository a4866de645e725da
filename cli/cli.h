/*
 * cli.h — the `ripple` command: one table of subcommands, one file per subcommand.
 *
 * Contract: main() looks the subcommand up in the table in main.c, and calls
 * its `run` with argv[0] being the subcommand's name. A subcommand parses its
 * own options (getopt_long), calls the modules, prints, and returns an exit
 * status: RP_EXIT_OK, RP_EXIT_FAILED (the thing checked failed) or
 * RP_EXIT_USAGE (bad usage or bad input). Only cli/ prints errors and exits;
 * errors are printed with cli_error() as one line on stderr.
 */
#ifndef RIPPLE_CLI_H
#define RIPPLE_CLI_H

#include <stdio.h>

enum { RP_EXIT_OK = 0, RP_EXIT_FAILED = 1, RP_EXIT_USAGE = 2 };

struct cli_command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary; /* one line for `ripple help` */
	const char *usage;   /* full help for `ripple help NAME`, ending in '\n' */
};

/* Prints "ripple: <message>" on stderr as one line. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "ripple NAME: unknown option ..." style usage errors and returns RP_EXIT_USAGE. */
int cli_usage_error(const char *command, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The table, terminated by an entry whose name is NULL. */
extern const struct cli_command cli_commands[];
const struct cli_command *cli_find_command(const char *name);

/* Subcommands, each in cmd_<name>.c. */
int cmd_help(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_revdeps(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_db(int argc, char **argv);
int cmd_build(int argc, char **argv);
int cmd_test_change(int argc, char **argv);
int cmd_worker(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_submit(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_logs(int argc, char **argv);
int cmd_cancel(int argc, char **argv);
int cmd_nightly(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_bisect(int argc, char **argv);
extern const char cmd_bisect_usage[];
int cmd_coverage(int argc, char **argv);
extern const char cmd_coverage_usage[];
int cmd_fuzz(int argc, char **argv);
extern const char cmd_fuzz_usage[];
int cmd_api_diff(int argc, char **argv);
int cmd_api_report(int argc, char **argv);
extern const char cmd_api_diff_usage[];
extern const char cmd_api_report_usage[];

/* The manifest path used when a command is given none. */
#define CLI_DEFAULT_MANIFEST "ripple.json"

#endif
