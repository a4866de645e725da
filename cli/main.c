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
	{ "bisect", cmd_bisect, "find the commit that broke a test: K probes at once, flake-aware", cmd_bisect_usage },
	{ "coverage", cmd_coverage, "line, branch and function coverage of a gcc build tree; lcov and Cobertura",
	  cmd_coverage_usage },
	{ "fuzz", cmd_fuzz, "run a package's fuzz targets: crashes minimized, named by signature, remembered",
	  cmd_fuzz_usage },
	{ "api-diff", cmd_api_diff, "a library's API and ABI changes between two revisions, classified; semver verdict",
	  cmd_api_diff_usage },
	{ "api-report", cmd_api_report, "a library's API changes between two revisions as a changelog for its users",
	  cmd_api_report_usage },
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
	{ "cancel", cmd_cancel, "cancel a run on the scheduler",
	  "usage: ripple cancel [--server URL] [--token-file F] RUN\n"
	  "\n"
	  "Cancels RUN: its queued jobs end cancelled; running jobs are told to stop on their\n"
	  "next heartbeat and end cancelled within seconds.\n"
	  "\n"
	  "  --server URL        the scheduler (default $RIPPLE_SERVER, else http://127.0.0.1:8080)\n"
	  "  --token-file F      the API token (default $RIPPLE_TOKEN_FILE, else ripple.db.api-token\n"
	  "                      when it exists)\n"
	  "\n"
	  "Exit status: 0 cancelled, 1 the server failed, 2 bad usage or an unknown run.\n" },
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
	{ "logs", cmd_logs, "print a job's log from the scheduler",
	  "usage: ripple logs [--server URL] [--token-file F] [-f] JOB\n"
	  "\n"
	  "Prints the log of JOB's latest attempt; with -f keeps printing what the job writes\n"
	  "until it ends.\n"
	  "\n"
	  "  --server URL        the scheduler (default $RIPPLE_SERVER, else http://127.0.0.1:8080)\n"
	  "  --token-file F      the API token (default $RIPPLE_TOKEN_FILE, else ripple.db.api-token\n"
	  "                      when it exists)\n"
	  "  -f, --follow        follow the log while the job runs\n"
	  "\n"
	  "Exit status: 0 printed, 1 the server failed, 2 bad usage or an unknown job.\n" },
	{ "nightly", cmd_nightly, "plan the nightly now on the scheduler",
	  "usage: ripple nightly [--server URL] [--token-file F] [--json] [--fuzz] now\n"
	  "\n"
	  "Plans a nightly at once: every package at its branch head, on every target; what the\n"
	  "build cache knows is not built again. The scheduler also plans one by itself at the\n"
	  "times its config file gives (nightly.at, nightly.every_hours).\n"
	  "\n"
	  "  --fuzz              also run every fuzz target for its budget (else the config's\n"
	  "                      nightly.fuzz decides)\n"
	  "  --server URL        the scheduler (default $RIPPLE_SERVER, else http://127.0.0.1:8080)\n"
	  "  --token-file F      the API token (default $RIPPLE_TOKEN_FILE, else ripple.db.api-token\n"
	  "                      when it exists)\n"
	  "  --json              print the API's JSON\n"
	  "\n"
	  "Exit status: 0 planned, 1 the server failed, 2 bad usage.\n" },
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
	{ "report", cmd_report, "a run's report against the nightly before it",
	  "usage: ripple report [--server URL] [--token-file F] [--json] RUN\n"
	  "\n"
	  "Prints the Markdown report of RUN against the latest finished nightly before it: for a\n"
	  "nightly what is newly broken, newly fixed and still broken; for other runs what\n"
	  "regressed, got fixed or still fails; and what the farm's bisections of the newly\n"
	  "broken or regressed pairs found (the culprit commit, or why none can be named).\n"
	  "\n"
	  "  --server URL        the scheduler (default $RIPPLE_SERVER, else http://127.0.0.1:8080)\n"
	  "  --token-file F      the API token (default $RIPPLE_TOKEN_FILE, else ripple.db.api-token\n"
	  "                      when it exists)\n"
	  "  --json              print the API's JSON\n"
	  "\n"
	  "Exit status: 0 nothing newly broken, 1 something newly broke or the server failed,\n"
	  "2 bad usage or an unknown run.\n" },
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
	{ "serve", cmd_serve, "run the scheduler: HTTP API, queue, leases and dashboard",
	  "usage: ripple serve [--db PATH] [--listen ADDR:PORT] [--universe FILE] [--workers N]\n"
	  "                    [--slots N] [--cache DIR] [--worker-token-file F] [--api-token-file F]\n"
	  "                    [--public-read] [--lease-seconds S] [--url-file F] [--config FILE]\n"
	  "\n"
	  "Serves the JSON API (docs/api.md) and the dashboard, plans submitted runs of the\n"
	  "universe into the store, hands their jobs to workers under leases, and keeps their\n"
	  "logs, artifacts and results. With --workers N it also starts N local `ripple worker`\n"
	  "processes and stops them with itself: one command runs the whole farm. Local workers\n"
	  "serve every target whose backend works on this machine (--all-targets).\n"
	  "\n"
	  "  --db PATH               the SQLite store (default ripple.db)\n"
	  "  --listen ADDR:PORT      where to listen (default 127.0.0.1:8080; port 0 picks one)\n"
	  "  --universe FILE         the universe manifest (default ripple.json)\n"
	  "  --workers N             local workers to start (default 0)\n"
	  "  --slots N               job slots of each local worker (default 1)\n"
	  "  --cache DIR             mirrors, artifacts and local workers' caches (default PATH.cache)\n"
	  "  --worker-token-file F   the workers' token (default PATH.worker-token, made when missing)\n"
	  "  --api-token-file F      the token for submit and cancel (default PATH.api-token, made\n"
	  "                          when missing)\n"
	  "  --public-read           reading runs, jobs, logs and metrics needs no token\n"
	  "  --lease-seconds S       a lease lasts S seconds unless renewed (default 30)\n"
	  "  --url-file F            write the server's URL to F once it accepts requests\n"
	  "  --config FILE           forges, webhook secrets, nightly, auth (docs/config.md); the\n"
	  "                          options above win over the file\n"
	  "\n"
	  "SIGINT or SIGTERM stops it. Exit status: 0 stopped, 1 failed, 2 bad usage or input.\n" },
	{ "status", cmd_status, "show runs, or one run's jobs, from the scheduler",
	  "usage: ripple status [--server URL] [--token-file F] [--json] [RUN]\n"
	  "\n"
	  "Without RUN: the newest runs with their states and result counts. With RUN: its\n"
	  "jobs, each with its result, whether it came from the cache, and its first error.\n"
	  "\n"
	  "  --server URL        the scheduler (default $RIPPLE_SERVER, else http://127.0.0.1:8080)\n"
	  "  --token-file F      the API token (default $RIPPLE_TOKEN_FILE, else ripple.db.api-token\n"
	  "                      when it exists)\n"
	  "  --json              print the API's JSON\n"
	  "\n"
	  "Exit status: 0 shown, 1 the server failed, 2 bad usage or an unknown run.\n" },
	{ "submit", cmd_submit, "submit a run to the scheduler",
	  "usage: ripple submit [--server URL] [--token-file F] [--kind K] [--title T]\n"
	  "                     [--change-ref REF] [--change PKG=REV]... [--pin PKG=REV]...\n"
	  "                     [--target T]... [--request-id ID] [--wait] [--json]\n"
	  "\n"
	  "Plans a run on the scheduler: the changed packages and everything downstream (the\n"
	  "whole universe without --change), every other package at its pin or branch head.\n"
	  "\n"
	  "  --server URL        the scheduler (default $RIPPLE_SERVER, else http://127.0.0.1:8080)\n"
	  "  --token-file F      the API token (default $RIPPLE_TOKEN_FILE, else ripple.db.api-token\n"
	  "                      when it exists)\n"
	  "  --kind K            manual (default), nightly, bisect or pr (pr needs --change-ref)\n"
	  "  --title T           one line shown with the run\n"
	  "  --change-ref REF    what the run tests (\"github:owner/repo#12\"); a pr run\n"
	  "                      supersedes earlier unfinished runs of the same REF\n"
	  "  --change PKG=REV    test PKG at REV (repeatable)\n"
	  "  --pin PKG=REV       the baseline's revision of PKG (repeatable)\n"
	  "  --target T          only jobs on target T (repeatable)\n"
	  "  --request-id ID     submitting again with the same ID returns the first run\n"
	  "  --wait              wait for the run to end and print its jobs\n"
	  "  --json              print the API's JSON\n"
	  "\n"
	  "Exit status: 0 submitted (with --wait: every job passed), 1 a job did not pass or\n"
	  "the server failed, 2 bad usage or input the server refused.\n" },
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
	{ "worker", cmd_worker, "lease jobs from a ripple server and run them",
	  "usage: ripple worker --server URL --token-file FILE [--slots N]\n"
	  "                     [--targets T,... | --all-targets] [--name NAME] [--cache DIR]\n"
	  "\n"
	  "Registers with the scheduler at URL, leases jobs by long-poll, runs each against its\n"
	  "dependencies' builds (downloaded by build key), streams its log, uploads its output\n"
	  "and posts its result; heartbeats keep the leases. While the scheduler is unreachable\n"
	  "the worker retries with backoff and its running jobs go on. SIGINT or SIGTERM: stop\n"
	  "leasing, cancel what runs, and exit.\n"
	  "\n"
	  "  --server URL        the scheduler, e.g. http://127.0.0.1:8080\n"
	  "  --token-file FILE   the worker token (first line of FILE)\n"
	  "  --slots N           jobs at once (default 1)\n"
	  "  --targets T,...     targets to serve (default unix); each one's backend must work here\n"
	  "  --all-targets       every target of the universe whose backend works here\n"
	  "  --name NAME         the worker's name (default HOSTNAME-PID)\n"
	  "  --cache DIR         mirrors, artifacts, logs and the build cache (default\n"
	  "                      ripple-worker-NAME in the current directory)\n"
	  "\n"
	  "Exit status: 0 stopped by a signal, 2 bad usage or a refused token.\n" },
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
