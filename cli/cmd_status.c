/*
 * cmd_status.c — `ripple status [RUN]`: the runs, or one run's jobs.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "client.h"
#include "common.h"
#include "core/banned.h"

int cli_print_run(const json_t *doc);

static const char *str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

/* One run as text: a header line, then a line per job. */
int cli_print_run(const json_t *doc)
{
	const json_t *run = json_object_get(doc, "run"), *j;
	size_t i;
	printf("run %lld  %s  %s%s%s\n", (long long)json_integer_value(json_object_get(run, "id")), str(run, "kind"),
	       str(run, "state"), *str(run, "title") ? "  " : "", str(run, "title"));
	const json_t *jobs = json_object_get(doc, "jobs");
	json_array_foreach(jobs, i, j)
	{
		const char *status = json_is_string(json_object_get(j, "status")) ? str(j, "status") : str(j, "state");
		char why[600];
		snprintf(why, sizeof(why), "%s", str(j, "first_error"));
		/* A skipped job names the failure it cascades from, as the local reports do. */
		json_int_t cause = json_integer_value(json_object_get(j, "cause"));
		size_t k;
		const json_t *c;
		json_array_foreach(jobs, k, c)
			if (!why[0] && cause && json_integer_value(json_object_get(c, "id")) == cause)
				snprintf(why, sizeof(why), "dependency %s on %s: %s", str(c, "package"), str(c, "target"),
					 str(c, "status"));
		printf("  %-6lld %-16s %-8s %-9s%s%s%s\n", (long long)json_integer_value(json_object_get(j, "id")),
		       str(j, "package"), str(j, "target"), status, json_is_true(json_object_get(j, "cached")) ? " cached" : "",
		       why[0] ? "  " : "", why);
	}
	return ferror(stdout) ? RP_EXIT_FAILED : RP_EXIT_OK;
}

int cmd_status(int argc, char **argv)
{
	struct cli_client client;
	int json = 0, status;
	int first = cli_client_options(&client, "status", argc, argv, &json, NULL, NULL, &status);
	if (first < 0)
		return status;
	if (argc - first > 1)
		return cli_usage_error("status", "expected at most one run id");
	char path[64] = "/api/v1/runs";
	if (first < argc) {
		long long id = cli_parse_id("status", "run", argv[first]);
		if (!id)
			return RP_EXIT_USAGE;
		snprintf(path, sizeof(path), "/api/v1/runs/%lld", id);
	}
	if ((status = cli_client_open(&client, "status")) != RP_EXIT_OK)
		return status;
	json_t *doc = cli_client_call(&client, "status", "GET", path, NULL, NULL, &status);
	cli_client_close(&client);
	if (!doc)
		return status;
	if (json)
		return cli_print_json(doc);
	if (first < argc) {
		status = cli_print_run(doc);
	} else {
		size_t i;
		json_t *r;
		json_array_foreach(json_object_get(doc, "runs"), i, r)
		{
			printf("run %-6lld %-8s %-10s %4lld jobs", (long long)json_integer_value(json_object_get(r, "id")),
			       str(r, "kind"), str(r, "state"), (long long)json_integer_value(json_object_get(r, "jobs")));
			const char *k;
			json_t *v;
			json_object_foreach(json_object_get(r, "counts"), k, v)
				if (json_integer_value(v) > 0)
					printf("  %s %lld", k, (long long)json_integer_value(v));
			printf("%s%s\n", *str(r, "title") ? "  " : "", str(r, "title"));
		}
		status = ferror(stdout) ? RP_EXIT_FAILED : RP_EXIT_OK;
	}
	json_decref(doc);
	return status;
}
