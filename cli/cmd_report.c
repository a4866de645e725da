/*
 * cmd_report.c — `ripple report RUN`: a run against the nightly before it.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "client.h"
#include "common.h"
#include "core/banned.h"

int cmd_report(int argc, char **argv)
{
	struct cli_client client;
	int json = 0, status;
	char path[64];
	int first = cli_client_options(&client, "report", argc, argv, &json, NULL, NULL, &status);
	if (first < 0)
		return status;
	if (argc - first != 1)
		return cli_usage_error("report", "expected one run id");
	long long id = cli_parse_id("report", "run", argv[first]);
	if (!id)
		return RP_EXIT_USAGE;
	snprintf(path, sizeof(path), "/api/v1/runs/%lld/report", id);
	if ((status = cli_client_open(&client, "report")) != RP_EXIT_OK)
		return status;
	json_t *doc = cli_client_call(&client, "report", "GET", path, NULL, NULL, &status);
	cli_client_close(&client);
	if (!doc)
		return status;
	/* Exit status 1 when something newly broke, as `ripple test-change` does for a regression. */
	int broke = 0;
	size_t i;
	json_t *p;
	json_array_foreach(json_object_get(doc, "pairs"), i, p)
		broke |= json_is_true(json_object_get(p, "to_bisect"));
	if (json) {
		status = cli_print_json(doc);
	} else {
		fputs(json_string_value(json_object_get(doc, "markdown")), stdout);
		json_decref(doc);
		status = ferror(stdout) ? RP_EXIT_FAILED : RP_EXIT_OK;
	}
	return status == RP_EXIT_OK && broke ? RP_EXIT_FAILED : status;
}
