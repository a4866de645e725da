/*
 * cmd_db.c — `ripple db migrate` and `ripple db check`: the store's schema
 * and health, without starting the scheduler.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "common.h"
#include "core/store.h"
#include "core/banned.h"

#define DB_DEFAULT_PATH "ripple.db"

static const char db_usage[] = "usage: ripple db migrate [--db PATH]\n"
			       "       ripple db check [--db PATH] [--json]\n";

static int db_migrate(const char *path)
{
	struct store *st = NULL;
	struct rp_error err;
	int version;

	/* Opening migrates; a newer or foreign file is refused right there. */
	if (store_open(path, 0, &st, &err) < 0) {
		cli_error("%s", err.msg);
		return RP_EXIT_USAGE;
	}
	version = store_schema_version(st, &err);
	store_close(st);
	if (version < 0) {
		cli_error("%s", err.msg);
		return RP_EXIT_USAGE;
	}
	printf("%s: schema version %d\n", path, version);
	return RP_EXIT_OK;
}

static int db_check_json(const char *path, const struct store_check_report *rep)
{
	json_t *problems = json_array(), *rows = json_object();

	for (size_t i = 0; problems && i < rep->nproblems; i++)
		json_array_append_new(problems, json_string(rep->problems[i]));
	for (size_t i = 0; rows && i < rep->ncounts; i++)
		json_object_set_new(rows, rep->counts[i].table,
				    rep->counts[i].rows < 0 ? json_null()
							    : json_integer(rep->counts[i].rows));
	if (!problems || !rows) {
		json_decref(problems);
		json_decref(rows);
		return cli_print_json(NULL);
	}
	return cli_print_json(json_pack(
	    "{s:s, s:i, s:i, s:b, s:s, s:s, s:o, s:o}", "path", path, "schema_version", rep->version,
	    "latest", rep->latest, "ok", rep->ok, "integrity", rep->integrity_ok ? "ok" : "failed",
	    "foreign_keys", rep->foreign_keys_ok ? "ok" : "failed", "problems", problems, "rows", rows));
}

static void db_check_text(const char *path, const struct store_check_report *rep)
{
	int width = 0;

	printf("%s: schema version %d (this ripple: %d)\n", path, rep->version, rep->latest);
	printf("integrity: %s\n", rep->integrity_ok ? "ok" : "FAILED");
	printf("foreign keys: %s\n", rep->foreign_keys_ok ? "ok" : "FAILED");
	for (size_t i = 0; i < rep->ncounts; i++)
		if ((int)strlen(rep->counts[i].table) > width)
			width = (int)strlen(rep->counts[i].table);
	printf("rows:%s\n", rep->counts ? "" : " (could not be counted)");
	for (size_t i = 0; i < rep->ncounts; i++) {
		if (rep->counts[i].rows < 0)
			printf("  %-*s  (missing)\n", width, rep->counts[i].table);
		else
			printf("  %-*s  %lld\n", width, rep->counts[i].table, (long long)rep->counts[i].rows);
	}
	for (size_t i = 0; i < rep->nproblems; i++)
		printf("problem: %s\n", rep->problems[i]);
	if (rep->ok)
		printf("%s: ok\n", path);
	else
		printf("%s: check failed (%zu problem%s)\n", path, rep->nproblems,
		       rep->nproblems == 1 ? "" : "s");
}

static int db_check(const char *path, int json)
{
	struct store_check_report rep;
	struct store *st = NULL;
	struct rp_error err;
	int status;

	/* Read-only: a check must not create, migrate or otherwise change the file. */
	if (store_open(path, STORE_READONLY, &st, &err) < 0) {
		cli_error("%s", err.msg);
		return RP_EXIT_USAGE;
	}
	if (store_check(st, &rep, &err) < 0) {
		cli_error("%s", err.msg);
		status = RP_EXIT_USAGE;
		goto out;
	}
	if (json) {
		status = db_check_json(path, &rep);
	} else {
		db_check_text(path, &rep);
		status = RP_EXIT_OK;
	}
	if (status == RP_EXIT_OK && !rep.ok)
		status = RP_EXIT_FAILED;
out:
	store_check_report_release(&rep);
	store_close(st);
	return status;
}

int cmd_db(int argc, char **argv)
{
	static const struct option options[] = {{"db", required_argument, NULL, 'd'},
						{"json", no_argument, NULL, 'j'},
						{"help", no_argument, NULL, 'h'},
						{NULL, 0, NULL, 0}};
	const char *path = DB_DEFAULT_PATH, *action;
	int json = 0, opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		if (opt == 'd')
			path = optarg;
		else if (opt == 'j')
			json = 1;
		else if (opt == 'h') {
			fputs(db_usage, stdout);
			return RP_EXIT_OK;
		} else if (optopt == 'd')
			return cli_usage_error("db", "option '--db' needs a path");
		else
			return cli_usage_error("db", "unknown option '%s'", argv[optind - 1]);
	}
	if (optind >= argc)
		return cli_usage_error("db", "expected 'migrate' or 'check'");
	if (argc - optind > 1)
		return cli_usage_error("db", "unexpected argument '%s'", argv[optind + 1]);
	if (!*path)
		return cli_usage_error("db", "option '--db' needs a path");
	action = argv[optind];
	if (strcmp(action, "migrate") == 0) {
		if (json)
			return cli_usage_error("db", "'--json' applies to 'check' only");
		return db_migrate(path);
	}
	if (strcmp(action, "check") == 0)
		return db_check(path, json);
	return cli_usage_error("db", "unknown action '%s'; expected 'migrate' or 'check'", action);
}
