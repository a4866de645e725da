/*
 * cmd_nightly.c — `ripple nightly now`: plan the nightly of this moment.
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
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 'S' }, { "token-file", required_argument, NULL, 'T' },
		{ "json", no_argument, NULL, 'j' },	    { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_client client;
	int json = 0, c, status;
	cli_client_init(&client);
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) { /* options may follow "now" */
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
			fputs(cli_find_command("nightly")->usage, stdout);
			return RP_EXIT_OK;
		default:
			return cli_usage_error("nightly", "see `ripple help nightly`");
		}
	}
	if (argc - optind != 1 || strcmp(argv[optind], "now") != 0)
		return cli_usage_error("nightly", "expected `ripple nightly now`");
	if ((status = cli_client_open(&client, "nightly")) != RP_EXIT_OK)
		return status;
	json_t *doc = cli_client_call(&client, "nightly", "POST", "/api/v1/nightly", NULL, NULL, &status);
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
