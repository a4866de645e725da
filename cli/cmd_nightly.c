/*
 * cmd_nightly.c — `ripple nightly now [--fuzz]`: plan the nightly of this moment.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "client.h"
#include "common.h"
#include "core/banned.h"

int cmd_nightly(int argc, char **argv)
{
	struct cli_client client;
	int json = 0, fuzz = 0, status;
	int first = cli_client_options(&client, "nightly", argc, argv, &json, "fuzz", &fuzz, &status);
	if (first < 0)
		return status;
	if (argc - first != 1 || strcmp(argv[first], "now") != 0)
		return cli_usage_error("nightly", "expected `ripple nightly now`");
	if ((status = cli_client_open(&client, "nightly")) != RP_EXIT_OK)
		return status;
	/* Without --fuzz the config's nightly.fuzz decides, as for a timed nightly. */
	json_t *doc = cli_client_call(&client, "nightly", "POST", "/api/v1/nightly", fuzz ? "fuzz=true" : NULL, NULL,
				      &status);
	cli_client_close(&client);
	if (!doc)
		return status;
	if (json)
		return cli_print_json(doc);
	printf("nightly run %lld: %lld jobs%s\n", (long long)json_integer_value(json_object_get(doc, "run")),
	       (long long)json_integer_value(json_object_get(doc, "jobs")),
	       json_is_true(json_object_get(doc, "created")) ? "" : " (already planned for this minute)");
	json_decref(doc);
	return RP_EXIT_OK;
}
