/*
 * client.c — the commands' side of the HTTP API (client.h).
 */
#include "client.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "core/banned.h"

void cli_client_init(struct cli_client *c)
{
	const char *env_server = getenv("RIPPLE_SERVER"), *env_token = getenv("RIPPLE_TOKEN_FILE");
	memset(c, 0, sizeof(*c));
	c->server = env_server && *env_server ? env_server : "http://127.0.0.1:8080";
	c->token_file = env_token && *env_token ? env_token : NULL;
	if (!c->token_file && access("ripple.db.api-token", R_OK) == 0)
		c->token_file = "ripple.db.api-token";
}

int cli_client_open(struct cli_client *c, const char *command)
{
	char token[600] = "";
	struct rp_error err;
	if (c->token_file) {
		FILE *fp = fopen(c->token_file, "r");
		if (!fp) {
			cli_error("%s: token file %s: %s", command, c->token_file, strerror(errno));
			return RP_EXIT_USAGE;
		}
		if (!fgets(token, sizeof(token), fp))
			token[0] = '\0';
		fclose(fp);
		token[strcspn(token, "\r\n")] = '\0';
		if (!token[0]) {
			cli_error("%s: token file %s: expected the token on its first line", command, c->token_file);
			return RP_EXIT_USAGE;
		}
	}
	struct http_client_options o = { .base_url = c->server, .token = token[0] ? token : NULL };
	int rc = http_client_new(&o, &c->http, &err);
	explicit_bzero(token, sizeof(token));
	if (rc < 0) {
		cli_error("%s: --server %s: %s", command, c->server, err.msg);
		return RP_EXIT_USAGE;
	}
	return RP_EXIT_OK;
}

void cli_client_close(struct cli_client *c)
{
	http_client_free(c->http);
	c->http = NULL;
}

json_t *cli_client_call(struct cli_client *c, const char *command, const char *method, const char *path,
			const char *query, const json_t *body, int *exit_status)
{
	/* A submit waits while the scheduler fetches every repository of the plan. */
	struct http_request req = { .method = method, .path = path, .query = query,
				    .timeout_ms = strcmp(method, "POST") == 0 ? 600000 : 0 };
	struct http_retry retry = { .base_ms = 100, .cap_ms = 1000, .deadline_ms = 5000 };
	struct rp_error err = { .msg = "" };
	json_t *out = NULL;
	int status = http_request_json(c->http, &req, body, &retry, &out, &err);
	if (status >= 200 && status < 300) {
		*exit_status = RP_EXIT_OK;
		return out ? out : json_object();
	}
	json_decref(out);
	if (!err.msg[0])
		snprintf(err.msg, sizeof(err.msg), "%s %s: unexpected HTTP %d from the scheduler", method, path, status);
	cli_error("%s: %s", command, err.msg);
	*exit_status = status >= 400 && status < 500 ? RP_EXIT_USAGE : RP_EXIT_FAILED;
	return NULL;
}

int cli_client_options(struct cli_client *c, const char *command, int argc, char **argv, int *json,
		       const char *flag, int *flag_set, int *status)
{
	struct option opts[] = {
		{ "server", required_argument, NULL, 'S' }, { "token-file", required_argument, NULL, 'T' },
		{ "json", no_argument, NULL, 'j' },	    { "help", no_argument, NULL, 'h' },
		{ flag, no_argument, NULL, 'f' },	    { NULL, 0, NULL, 0 }, /* a NULL flag ends the table there */
	};
	/* --follow alone has a short form. */
	const char *shorts = flag && strcmp(flag, "follow") == 0 ? "hf" : "h";
	int ch;
	cli_client_init(c);
	optind = 1;
	opterr = 0;
	/* No "+": options may come after the operands too ("ripple nightly now --json"). */
	while ((ch = getopt_long(argc, argv, shorts, opts, NULL)) != -1) {
		switch (ch) {
		case 'S':
			c->server = optarg;
			break;
		case 'T':
			c->token_file = optarg;
			break;
		case 'j':
			if (!json) {
				optopt = 0;
				goto bad;
			}
			*json = 1;
			break;
		case 'f':
			*flag_set = 1;
			break;
		case 'h':
			fputs(cli_find_command(command)->usage, stdout);
			*status = RP_EXIT_OK;
			return -1;
		default:
			goto bad;
		}
	}
	return optind;
bad:
	/* getopt says 0 for a long option it does not know, the option's letter otherwise. */
	if (optopt == 0)
		*status = cli_usage_error(command, "unknown option '%s'", argv[optind - 1]);
	else if ((optopt == 'S' || optopt == 'T') && strncmp(argv[optind - 1], "--", 2) == 0)
		*status = cli_usage_error(command, "option '%s' needs a value", argv[optind - 1]);
	else
		*status = cli_usage_error(command, "unknown option '-%c'", optopt);
	return -1;
}

long long cli_parse_id(const char *command, const char *what, const char *arg)
{
	char *end;
	errno = 0;
	long long id = strtoll(arg, &end, 10);
	if (errno || end == arg || *end || id <= 0) {
		cli_usage_error(command, "%s: expected a %s id", arg, what);
		return 0;
	}
	return id;
}
