/*
 * cmd_logs.c — `ripple logs JOB [-f]`: a job's log, and with -f what it
 * writes next until the job ends (read by offset, so nothing is shown twice).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "client.h"
#include "core/banned.h"

int cmd_logs(int argc, char **argv)
{
	struct cli_client client;
	int follow = 0, status;
	char path[64], query[64];
	int first = cli_client_options(&client, "logs", argc, argv, NULL, "follow", &follow, &status);
	if (first < 0)
		return status;
	if (argc - first != 1)
		return cli_usage_error("logs", "expected one job id");
	long long id = cli_parse_id("logs", "job", argv[first]);
	if (!id)
		return RP_EXIT_USAGE;
	snprintf(path, sizeof(path), "/api/v1/jobs/%lld/log", id);
	if ((status = cli_client_open(&client, "logs")) != RP_EXIT_OK)
		return status;
	static const char *const want[] = { "X-Ripple-Log-Done", "X-Ripple-Log-Attempt", NULL };
	long long offset = 0;
	char attempt[16] = "";
	for (;;) {
		/* Pinned to the attempt first read, so a retried job's offsets never mix two logs. */
		if (attempt[0])
			snprintf(query, sizeof(query), "offset=%lld&attempt=%s", offset, attempt);
		else
			snprintf(query, sizeof(query), "offset=%lld", offset);
		struct http_request req = { .method = "GET", .path = path, .query = query, .want_headers = want,
					    .response_cap = 17u << 20 };
		struct http_retry retry = { .base_ms = 100, .cap_ms = 1000, .deadline_ms = 5000 };
		struct http_response resp;
		struct rp_error err = { .msg = "" };
		int rc = http_request_retry(client.http, &req, &retry, &resp, &err);
		if (rc != 200) {
			cli_error("logs: %s", err.msg[0] ? err.msg : "unexpected answer from the scheduler");
			http_response_release(&resp);
			status = rc >= 400 && rc < 500 ? RP_EXIT_USAGE : RP_EXIT_FAILED;
			break;
		}
		size_t got = resp.body_len;
		if (got && fwrite(resp.body, 1, got, stdout) != got) {
			http_response_release(&resp);
			status = RP_EXIT_FAILED;
			break;
		}
		fflush(stdout);
		offset += (long long)got;
		int done = resp.headers[0] && strcmp(resp.headers[0], "1") == 0;
		if (!attempt[0] && resp.headers[1])
			snprintf(attempt, sizeof(attempt), "%s", resp.headers[1]);
		http_response_release(&resp);
		if (got)
			continue; /* more may follow at once: a long log comes in 16 MiB pieces */
		if (!follow || done) {
			if (follow && done) {
				/* The attempt ended; a retry may have started another: follow it from its start. */
				char next[16] = "";
				struct http_request jreq = { .method = "GET", .path = path, .query = "length=0",
							     .want_headers = want };
				struct http_response jr;
				if (http_request(client.http, &jreq, &jr, &err) == 200 && jr.headers[1] &&
				    strcmp(jr.headers[1], attempt) != 0 && jr.headers[0] && strcmp(jr.headers[0], "1") != 0)
					snprintf(next, sizeof(next), "%s", jr.headers[1]);
				http_response_release(&jr);
				if (next[0]) {
					fprintf(stderr, "ripple logs: attempt %s ended; attempt %s follows\n", attempt, next);
					snprintf(attempt, sizeof(attempt), "%s", next);
					offset = 0;
					continue;
				}
			}
			break;
		}
		struct timespec ts = { 0, 300 * 1000000 };
		nanosleep(&ts, NULL);
	}
	cli_client_close(&client);
	return status;
}
