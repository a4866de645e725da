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
	struct cli_client client;
	int status;
	char path[64];
	int first = cli_client_options(&client, "cancel", argc, argv, NULL, NULL, NULL, &status);
	if (first < 0)
		return status;
	if (argc - first != 1)
		return cli_usage_error("cancel", "expected one run id");
	long long id = cli_parse_id("cancel", "run", argv[first]);
	if (!id)
		return RP_EXIT_USAGE;
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
