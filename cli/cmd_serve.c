/*
 * cmd_serve.c — `ripple serve`: the scheduler, and with --workers the whole
 * farm on one machine.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "core/manifest.h"
#include "scheduler/config.h"
#include "scheduler/serve.h"
#include "core/banned.h"

static volatile sig_atomic_t serve_stop;

static void on_signal(int sig)
{
	(void)sig;
	serve_stop = 1;
}

struct serve_print {
	const char *url_file;
	int public_read;
	int failed;
};

static void on_line(const char *line, void *data)
{
	(void)data;
	printf("ripple serve: %s\n", line);
	fflush(stdout);
}

static void on_ready(const char *url, void *data)
{
	struct serve_print *p = data;
	printf("ripple serve: listening on %s (dashboard %s/)\n", url, url);
	fflush(stdout);
	if (p->url_file) {
		/* Written whole under a temporary name, so a reader never sees half a URL. */
		char tmp[PATH_MAX];
		snprintf(tmp, sizeof(tmp), "%s.tmp", p->url_file);
		FILE *fp = fopen(tmp, "w");
		if (!fp || fprintf(fp, "%s\n", url) < 0 || fclose(fp) != 0 || rename(tmp, p->url_file) != 0) {
			cli_error("serve: cannot write %s: %s", p->url_file, strerror(errno));
			p->failed = 1;
			serve_stop = 1;
		}
	}
}

static int parse_uint(const char *cmd, const char *opt, const char *v, unsigned long min, unsigned long max,
		      unsigned long *out)
{
	char *end;
	errno = 0;
	unsigned long x = strtoul(v, &end, 10);
	if (errno || end == v || *end || v[0] == '-' || x < min || x > max)
		return cli_usage_error(cmd, "%s %s: expected a number from %lu to %lu", opt, v, min, max);
	*out = x;
	return 0;
}

int cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "universe", required_argument, NULL, 'u' },
		{ "workers", required_argument, NULL, 'w' },
		{ "slots", required_argument, NULL, 's' },
		{ "cache", required_argument, NULL, 'c' },
		{ "worker-token-file", required_argument, NULL, 'W' },
		{ "api-token-file", required_argument, NULL, 'A' },
		{ "public-read", no_argument, NULL, 'p' },
		{ "lease-seconds", required_argument, NULL, 'L' },
		{ "url-file", required_argument, NULL, 'U' },
		{ "config", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct serve_print print = { 0 };
	struct serve_options o = { .db_path = "ripple.db", .listen = "127.0.0.1:8080",
				   .universe_path = CLI_DEFAULT_MANIFEST, .on_ready = on_ready, .on_line = on_line,
				   .data = &print };
	unsigned long v = 0;
	int c, lease_given = 0;
	const char *config_path = NULL;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			o.db_path = optarg;
			break;
		case 'l':
			o.listen = optarg;
			break;
		case 'u':
			o.universe_path = optarg;
			break;
		case 'w':
			if (parse_uint("serve", "--workers", optarg, 0, 64, &v))
				return RP_EXIT_USAGE;
			o.local_workers = (unsigned)v;
			break;
		case 's':
			if (parse_uint("serve", "--slots", optarg, 1, 64, &v))
				return RP_EXIT_USAGE;
			o.worker_slots = (unsigned)v;
			break;
		case 'c':
			o.cache_dir = optarg;
			break;
		case 'W':
			o.worker_token_file = optarg;
			break;
		case 'A':
			o.api_token_file = optarg;
			break;
		case 'p':
			o.public_read = 1;
			break;
		case 'L':
			if (parse_uint("serve", "--lease-seconds", optarg, 1, 3600, &v))
				return RP_EXIT_USAGE;
			o.lease_ms = (int64_t)v * 1000;
			lease_given = 1;
			break;
		case 'U':
			print.url_file = optarg;
			break;
		case 'C':
			config_path = optarg;
			break;
		case 'h':
			fputs(cli_find_command("serve")->usage, stdout);
			return RP_EXIT_OK;
		default:
			return cli_usage_error("serve", "see `ripple help serve`");
		}
	}
	if (optind < argc)
		return cli_usage_error("serve", "unexpected argument %s", argv[optind]);
	struct rp_universe *u;
	struct rp_error err;
	/* Checked here first so a bad manifest is the usual one-line FILE:LINE:COLUMN error. */
	if (manifest_load_file(o.universe_path, &u, &err) < 0) {
		cli_error("%s", err.msg);
		return RP_EXIT_USAGE;
	}
	manifest_free(u);
	/* The file first, then what the command line says over it. */
	struct serve_config *config = NULL;
	if (config_path) {
		if (config_load_file(config_path, &config, &err) < 0) {
			cli_error("%s", err.msg);
			return RP_EXIT_USAGE;
		}
		if (!o.worker_token_file)
			o.worker_token_file = config->worker_token_file;
		if (!o.api_token_file)
			o.api_token_file = config->api_token_file;
		o.public_read |= config->public_read;
		if (!lease_given)
			o.lease_ms = (int64_t)config->lease_seconds * 1000;
		o.config = config;
	}
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0) {
		cli_error("serve: cannot find the ripple binary for the local workers: %s", strerror(errno));
		config_free(config);
		return RP_EXIT_FAILED;
	}
	self[n] = '\0';
	o.self_exe = self;
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	int rc = serve_run(&o, &serve_stop, &err);
	config_free(config);
	if (rc < 0) {
		cli_error("serve: %s", err.msg);
		return rc == RP_EINVAL ? RP_EXIT_USAGE : RP_EXIT_FAILED;
	}
	printf("ripple serve: stopped\n");
	return print.failed ? RP_EXIT_FAILED : RP_EXIT_OK;
}
