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
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 'S' }, { "token-file", required_argument, NULL, 'T' },
		{ "json", no_argument, NULL, 'j' },	    { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_client client;
	int json = 0, c, status;
	cli_client_init(&client);
	optind = 1;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'S':
			client.server = optarg;
			break;
		case 'T':
			client.token_file = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			fputs(cli_find_command("report")->usage, stdout);
			return RP_EXIT_OK;
		default:
			return cli_usage_error("report", "see `ripple help report`");
		}
	}
	if (argc - optind != 1)
		return cli_usage_error("report", "expected one run id");
	char *end, path[64];
	long long id = strtoll(argv[optind], &end, 10);
	if (end == argv[optind] || *end || id <= 0)
		return cli_usage_error("report", "%s: expected a run id", argv[optind]);
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
