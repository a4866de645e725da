/*
 * client.h — what the commands that talk to `ripple serve` share: the
 * --server and --token-file options and one call helper. Internal to cli/.
 */
#ifndef RIPPLE_CLI_CLIENT_H
#define RIPPLE_CLI_CLIENT_H

#include <jansson.h>

#include "core/http_client.h"

struct cli_client {
	const char *server;	/* --server, $RIPPLE_SERVER, or http://127.0.0.1:8080 */
	const char *token_file; /* --token-file, $RIPPLE_TOKEN_FILE, or ripple.db.api-token when it exists */
	struct http_client *http;
};

/* Fills the defaults; call before parsing options. */
void cli_client_init(struct cli_client *c);

/* Connects (reads the token). Prints the error and returns RP_EXIT_USAGE on failure. */
int cli_client_open(struct cli_client *c, const char *command);
void cli_client_close(struct cli_client *c);

/*
 * Parses what every client command takes: --server, --token-file, --json
 * (when `json` is non-NULL), --help, and the command's own flag --FLAG (when
 * `flag` is non-NULL; it sets *flag_set; "follow" also answers to -f).
 * Returns the index of the first operand, or -1 when the command is over:
 * *status is then RP_EXIT_OK (help was printed) or RP_EXIT_USAGE.
 */
int cli_client_options(struct cli_client *c, const char *command, int argc, char **argv, int *json,
		       const char *flag, int *flag_set, int *status);

/* A run or job id operand (> 0); 0 after printing the usage error. */
long long cli_parse_id(const char *command, const char *what, const char *arg);

/*
 * METHOD PATH with `body` (may be NULL), retried for a few seconds while the
 * server is unreachable. Returns the answer (a new reference) on 2xx; else
 * prints "ripple COMMAND: ..." and returns NULL with *exit_status set: 2 for
 * a 4xx answer (bad input), 1 otherwise.
 */
json_t *cli_client_call(struct cli_client *c, const char *command, const char *method, const char *path,
			const char *query, const json_t *body, int *exit_status);

#endif
