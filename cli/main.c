/*
 * main.c — `ripple`: finds the subcommand in the table and runs it.
 * Options before the subcommand: --version, --help.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "core/banned.h"

const struct cli_command cli_commands[] = {
	{ "build", cmd_build, "build and test a change and everything downstream, locally",
	  "usage: ripple build [-m FILE] (--change PACKAGE=REVISION... | --all) [-j N] [--target T]\n"
	  "                    [--only PACKAGE] [--rebuild PACKAGE] [--pin PACKAGE=REVISION]...\n"
	  "                    [--cache DIR] [--no-cache] [--keep] [--offline] [--json]\n"
	  "\n"
	  "Builds and tests the plan of a change (or of the whole universe with --all) on this\n"
	  "machine, without a server: every job in its target's backend, against the exact builds\n"
	  "of its dependencies, N jobs at once. A build whose key is in the cache is not built\n"
	  "again. Prints a report: every job's result, and for each failure its category, first\n"
	  "error line, log, a command that reproduces it and what it caused to be skipped.\n"
	  "\n"
	  "  -m, --manifest FILE   the universe manifest (default ripple.json)\n"
	  "  --change PKG=REV      build PKG at REV and everything that depends on it (repeatable)\n"
	  "  --all                 build the whole universe at its branch heads\n"
	  "  -j, --jobs N          job slots (default 2)\n"
	  "  --target T            only jobs on target T\n"
	  "  --only PACKAGE        only PACKAGE's jobs (and the builds they need)\n"
	  "  --cache DIR           mirrors, artifacts, logs and the build cache (default .ripple beside\n"
	  "                        the manifest)\n"
	  "  --no-cache            build even what the cache knows\n"
	  "  --rebuild PACKAGE     build PACKAGE even when the cache knows it\n"
	  "  --keep                keep each job's workspace and prefix\n"
	  "  --offline             do not fetch repositories already mirrored\n"
	  "  --pin PKG=REV         build PKG at REV instead of its branch head, as the baseline\n"
	  "  --json                print the report as JSON\n"
	  "\n"
	  "Exit status: 0 every job passed, 1 something failed, 2 bad usage or an invalid manifest.\n" },
	{ "check", cmd_check, "validate a universe manifest",
	  "usage: ripple check [--json] [FILE]\n"
	  "\n"
	  "Validates the universe manifest FILE (default ripple.json): its syntax, every\n"
	  "field's type and value, package names, dependencies, targets and cycles.\n"
	  "An error is printed as one line, FILE:LINE:COLUMN: what is wrong; what was expected.\n"
	  "\n"
	  "  --json   print a summary of the valid universe as JSON\n"
	  "\n"
	  "Exit status: 0 valid, 2 invalid or unreadable.\n" },
	{ "db", cmd_db, "create, migrate and check the SQLite store",
	  "usage: ripple db migrate [--db PATH]\n"
	  "       ripple db check [--db PATH] [--json]\n"
	  "\n"
	  "migrate  creates the store or brings its schema to the newest version\n"
	  "check    verifies the schema version, integrity and foreign keys, and counts rows\n"
	  "\n"
	  "  --db PATH   the store (default ripple.db)\n"
	  "  --json      machine-readable output (check)\n"
	  "\n"
	  "Exit status: 0 ok, 1 the check found a problem, 2 bad usage or an unusable database.\n" },
	{ "help", cmd_help, "show help for ripple or one of its commands",
	  "usage: ripple help [COMMAND]\n"
	  "\n"
	  "Lists the commands, or shows the full help of COMMAND.\n" },
	{ "plan", cmd_plan, "print the jobs a change causes",
	  "usage: ripple plan [-m FILE] [--change PACKAGE=REVISION]... [--json]\n"
	  "\n"
	  "Prints the job DAG: every changed package and everything that depends on it,\n"
	  "transitively, on each of its targets, in the order they can run (dependencies\n"
	  "first, ties broken by name). Without --change, the whole universe is planned,\n"
	  "as a nightly build does. Dependencies outside the plan come from the baseline.\n"
	  "\n"
	  "  -m, --manifest FILE   the universe manifest (default ripple.json)\n"
	  "  --change PKG=REV      PKG is tested at revision REV (repeatable)\n"
	  "  --json                print the plan as JSON\n"
	  "\n"
	  "Exit status: 0 planned, 2 bad usage or an invalid manifest.\n" },
	{ "revdeps", cmd_revdeps, "print the reverse dependencies of packages",
	  "usage: ripple revdeps [-m FILE] [--json] PACKAGE...\n"
	  "\n"
	  "Prints every package that depends on one of PACKAGE, directly or transitively,\n"
	  "in build order (dependencies first, ties broken by name).\n"
	  "\n"
	  "  -m, --manifest FILE   the universe manifest (default ripple.json)\n"
	  "  --json                print {\"packages\": [...], \"revdeps\": [...]}\n"
	  "\n"
	  "Exit status: 0 ok, 2 bad usage, unknown package or an invalid manifest.\n" },
	{ "test-change", cmd_test_change, "report what a change breaks downstream, against its base",
	  "usage: ripple test-change [-m FILE] [--change] PACKAGE=REVISION... [--pin PACKAGE=REVISION...]\n"
	  "                          [--retries K] [-j N] [--target T] [--cache DIR] [--no-cache]\n"
	  "                          [--offline] [--json]\n"
	  "\n"
	  "Builds the change's reverse-dependency closure twice: on the base (every package at its\n"
	  "branch head; answered from the cache when it was built before) and with the change.\n"
	  "Reports each package and target as regressed, fixed, still failing, passing, skipped\n"
	  "(a dependency failed), flaky or error, with the first error line. Markdown, or --json.\n"
	  "A test failure that looks like a regression is re-run on both sides until each has run\n"
	  "K times (--retries, default 3): it is a regression only when it fails every time with\n"
	  "the change and never without, and flaky otherwise. --pin fixes a package's revision on\n"
	  "both sides. Other options as for 'ripple build'.\n"
	  "\n"
	  "Exit status: 0 nothing regressed, 1 something regressed, 2 bad usage.\n" },
	{ "version", cmd_version, "print ripple's version",
	  "usage: ripple version [--json]\n"
	  "\n"
	  "Prints the version of ripple and of the libraries it was built with.\n" },
	{ NULL, NULL, NULL, NULL },
};

const struct cli_command *cli_find_command(const char *name)
{
	for (const struct cli_command *c = cli_commands; c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

void cli_error(const char *fmt, ...)
{
	va_list ap;
	fputs("ripple: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_usage_error(const char *command, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "ripple %s: ", command);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "; see 'ripple help %s'\n", command);
	return RP_EXIT_USAGE;
}

/* A write error on stdout (a full disk, a closed pipe) must not pass for success. */
static int finish_stdout(int status)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		cli_error("cannot write to standard output: %s", strerror(errno));
		return status ? status : RP_EXIT_FAILED;
	}
	return status;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		cli_error("expected a command; see 'ripple help' for the list");
		return RP_EXIT_USAGE;
	}
	const char *name = argv[1];
	if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0)
		name = "version";
	else if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
		name = "help";
	const struct cli_command *cmd = cli_find_command(name);
	if (!cmd) {
		cli_error("'%s' is not a ripple command; see 'ripple help'", argv[1]);
		return RP_EXIT_USAGE;
	}
	/* Every command answers --help the same way, from the table. */
	for (int i = 2; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(cmd->usage, stdout);
			return finish_stdout(RP_EXIT_OK);
		}
	}
	argv[1] = (char *)cmd->name;
	return finish_stdout(cmd->run(argc - 1, argv + 1));
}
