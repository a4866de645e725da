/*
 * cmd_cancel.c — `ripple cancel RUN`.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "client.h"
#include "core/banned.h"

int cmd_cancel(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 'S' },
		{ "token-file", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_client client;
	int c, status;
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
		case 'h':
			fputs(cli_find_command("cancel")->usage, stdout);
			return RP_EXIT_OK;
		default:
			return cli_usage_error("cancel", "see `ripple help cancel`");
		}
	}
	if (argc - optind != 1)
		return cli_usage_error("cancel", "expected one run id");
	char *end, path[64];
	long long id = strtoll(argv[optind], &end, 10);
	if (end == argv[optind] || *end || id <= 0)
		return cli_usage_error("cancel", "%s: expected a run id", argv[optind]);
	snprintf(path, sizeof(path), "/api/v1/runs/%lld/cancel", id);
	if ((status = cli_client_open(&client, "cancel")) != RP_EXIT_OK)
		return status;
	json_t *doc = cli_client_call(&client, "cancel", "POST", path, NULL, NULL, &status);
	cli_client_close(&client);
	if (!doc)
		return status;
	printf("run %lld: %lld queued jobs cancelled, %lld running jobs told to stop\n", id,
	       (long long)json_integer_value(json_object_get(doc, "cancelled_queued")),
	       (long long)json_integer_value(json_object_get(doc, "signalled_running")));
	json_decref(doc);
	return RP_EXIT_OK;
}
