/*
 * cmd_submit.c — `ripple submit`: plan a run on the scheduler, optionally
 * wait for it and print its results.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "cli.h"
#include "client.h"
#include "common.h"
#include "core/banned.h"

/* "PKG=REV" → {"package": PKG, "rev": REV} appended to `arr`; -1 when malformed. */
static int add_rev(json_t *arr, const char *spec)
{
	const char *eq = strchr(spec, '=');
	if (!eq || eq == spec || !eq[1])
		return -1;
	json_t *pkg = json_stringn(spec, (size_t)(eq - spec)), *rev = json_string(eq + 1);
	if (!pkg || !rev) {
		json_decref(pkg);
		json_decref(rev);
		return -1;
	}
	json_array_append_new(arr, json_pack("{s:o, s:o}", "package", pkg, "rev", rev));
	return 0;
}

int cli_print_run(const json_t *doc); /* cmd_status.c */

int cmd_submit(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 'S' },	{ "token-file", required_argument, NULL, 'T' },
		{ "kind", required_argument, NULL, 'k' },	{ "title", required_argument, NULL, 't' },
		{ "change-ref", required_argument, NULL, 'r' }, { "change", required_argument, NULL, 'c' },
		{ "pin", required_argument, NULL, 'p' },	{ "target", required_argument, NULL, 'g' },
		{ "request-id", required_argument, NULL, 'i' }, { "wait", no_argument, NULL, 'w' },
		{ "json", no_argument, NULL, 'j' },		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_client client;
	json_t *req = json_pack("{s:s, s:[], s:[]}", "kind", "manual", "changes", "pins"), *targets = json_array();
	int wait = 0, json = 0, c, status = RP_EXIT_USAGE;
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
		case 'k':
			json_object_set_new(req, "kind", json_string(optarg));
			break;
		case 't':
			json_object_set_new(req, "title", json_string(optarg));
			break;
		case 'r':
			json_object_set_new(req, "change_ref", json_string(optarg));
			break;
		case 'c':
		case 'p':
			if (add_rev(json_object_get(req, c == 'c' ? "changes" : "pins"), optarg) < 0) {
				status = cli_usage_error("submit", "--%s %s: expected PACKAGE=REVISION",
							 c == 'c' ? "change" : "pin", optarg);
				goto out;
			}
			break;
		case 'g':
			json_array_append_new(targets, json_string(optarg));
			break;
		case 'i':
			json_object_set_new(req, "request_id", json_string(optarg));
			break;
		case 'w':
			wait = 1;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			fputs(cli_find_command("submit")->usage, stdout);
			status = RP_EXIT_OK;
			goto out;
		default:
			status = cli_usage_error("submit", "see `ripple help submit`");
			goto out;
		}
	}
	if (optind < argc) {
		status = cli_usage_error("submit", "unexpected argument %s", argv[optind]);
		goto out;
	}
	if (json_array_size(targets))
		json_object_set(req, "targets", targets);
	/*
	 * Without an id of the user's, one of our own: the call is retried when
	 * an answer is lost, and the retry must find the run, not plan another.
	 */
	if (!json_object_get(req, "request_id")) {
		unsigned char raw[16];
		char id[40] = "cli-";
		if (getrandom(raw, sizeof(raw), 0) == (ssize_t)sizeof(raw)) {
			for (size_t i = 0; i < sizeof(raw); i++)
				snprintf(id + 4 + 2 * i, 3, "%02x", raw[i]);
			json_object_set_new(req, "request_id", json_string(id));
		}
	}
	if ((status = cli_client_open(&client, "submit")) != RP_EXIT_OK)
		goto out;
	json_t *ans = cli_client_call(&client, "submit", "POST", "/api/v1/runs", NULL, req, &status);
	if (!ans)
		goto out;
	json_int_t run = json_integer_value(json_object_get(ans, "run"));
	if (!wait) {
		if (json)
			status = cli_print_json(ans);
		else {
			printf("run %lld: %lld jobs%s\n", (long long)run, (long long)json_integer_value(json_object_get(ans, "jobs")),
			       json_is_true(json_object_get(ans, "created")) ? "" : " (submitted before with this request id)");
			json_decref(ans);
		}
		goto out;
	}
	json_decref(ans);
	char path[64];
	snprintf(path, sizeof(path), "/api/v1/runs/%lld", (long long)run);
	for (;;) {
		json_t *doc = cli_client_call(&client, "submit", "GET", path, NULL, NULL, &status);
		if (!doc)
			goto out;
		const char *state = json_string_value(json_object_get(json_object_get(doc, "run"), "state"));
		if (state && (strcmp(state, "done") == 0 || strcmp(state, "cancelled") == 0)) {
			status = json ? cli_print_json(json_incref(doc)) : cli_print_run(doc);
			size_t i;
			json_t *j;
			json_array_foreach(json_object_get(doc, "jobs"), i, j)
			{
				const char *s = json_string_value(json_object_get(j, "status"));
				if (status == RP_EXIT_OK && s && strcmp(s, "pass") != 0)
					status = RP_EXIT_FAILED;
			}
			json_decref(doc);
			goto out;
		}
		json_decref(doc);
		struct timespec ts = { 0, 500 * 1000000 };
		nanosleep(&ts, NULL);
	}
out:
	cli_client_close(&client);
	json_decref(req);
	json_decref(targets);
	return status;
}
