/*
 * cmd_worker.c — `ripple worker`: options, the token file, signals and the
 * lines the worker reports; the work is runner/worker.c's.
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
#include "runner/worker.h"
#include "core/banned.h"

/* The longest token file line read; tokens are 64 hex digits. */
#define TOKEN_MAX 4096

static volatile sig_atomic_t worker_stop;

static void on_signal(int sig)
{
	(void)sig;
	worker_stop = 1;
}

static void on_line(enum worker_line_kind kind, const char *line, void *data)
{
	(void)data;
	if (kind == WORKER_LINE_JOB) {
		printf("%s\n", line);
		fflush(stdout);
	} else {
		fprintf(stderr, "ripple worker: %s%s\n", kind == WORKER_LINE_ERROR ? "error: " : "", line);
	}
}

/* The token: the first line of `path`, without its line end. RP_EXIT_OK or RP_EXIT_USAGE (printed). */
static int read_token(const char *path, char *token, size_t size)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		cli_error("worker: cannot read the token file %s: %s", path, strerror(errno));
		return RP_EXIT_USAGE;
	}
	if (!fgets(token, (int)size, f))
		token[0] = '\0';
	fclose(f);
	size_t len = strlen(token);
	while (len > 0 && (token[len - 1] == '\n' || token[len - 1] == '\r'))
		token[--len] = '\0';
	if (!len) {
		cli_error("worker: the token file %s is empty; expected the worker token on its first line",
			  path);
		return RP_EXIT_USAGE;
	}
	return RP_EXIT_OK;
}

/* "HOSTNAME-PID" with every character a worker name may not hold replaced by '-'. */
static void default_name(char *name, size_t size)
{
	char host[256] = "worker";
	if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
		snprintf(host, sizeof(host), "worker");
	host[sizeof(host) - 1] = '\0';
	for (char *c = host; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
		      *c == '_' || *c == '-' || *c == '.'))
			*c = '-';
	/* The pid keeps its digits: the host name gives way when both do not fit. */
	char pid[24];
	int n = snprintf(pid, sizeof(pid), "-%ld", (long)getpid());
	snprintf(name, size, "%.*s%s", (int)(size - 1 - (size_t)n), host, pid);
}

int cmd_worker(int argc, char **argv)
{
	static const struct option options[] = {
		{ "server", required_argument, NULL, 's' },
		{ "token-file", required_argument, NULL, 't' },
		{ "slots", required_argument, NULL, 'n' },
		{ "targets", required_argument, NULL, 'T' },
		{ "all-targets", no_argument, NULL, 'A' },
		{ "name", required_argument, NULL, 'N' },
		{ "cache", required_argument, NULL, 'C' },
		{ NULL, 0, NULL, 0 },
	};
	const char *server = NULL, *token_file = NULL, *targets_arg = "unix", *name = NULL, *cache = NULL;
	unsigned long slots = 1;
	int opt, all_targets = 0, targets_given = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		char *end;
		switch (opt) {
		case 's':
			server = optarg;
			break;
		case 't':
			token_file = optarg;
			break;
		case 'n':
			errno = 0;
			slots = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || optarg[0] == '-' || slots < 1 ||
			    slots > WORKER_SLOTS_MAX)
				return cli_usage_error("worker",
						       "--slots expects a number from 1 to %d, got '%s'",
						       WORKER_SLOTS_MAX, optarg);
			break;
		case 'T':
			targets_arg = optarg;
			targets_given = 1;
			break;
		case 'A':
			all_targets = 1;
			break;
		case 'N':
			name = optarg;
			break;
		case 'C':
			cache = optarg;
			break;
		default:
			if (optopt)
				return cli_usage_error("worker", "option '%s' needs a value",
						       argv[optind - 1]);
			return cli_usage_error("worker", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error("worker", "unexpected argument '%s'", argv[optind]);
	if (all_targets && targets_given)
		return cli_usage_error("worker", "--all-targets and --targets exclude each other");
	if (!server)
		return cli_usage_error("worker", "no scheduler given: --server URL");
	if (!token_file)
		return cli_usage_error("worker", "no token given: --token-file FILE");
	char name_buf[WORKER_NAME_MAX + 1];
	if (!name) {
		default_name(name_buf, sizeof(name_buf));
		name = name_buf;
	}
	if (!worker_valid_name(name))
		return cli_usage_error("worker", "--name '%s': expected 1 to %d of A-Z a-z 0-9 . _ -", name,
				       WORKER_NAME_MAX);

	/* --targets unix,vm: split in a copy, every name checked. */
	char targets_copy[1024];
	const char *targets[WORKER_SLOTS_MAX];
	size_t n_targets = 0;
	if (strlen(targets_arg) >= sizeof(targets_copy))
		return cli_usage_error("worker", "--targets is too long");
	snprintf(targets_copy, sizeof(targets_copy), "%s", targets_arg);
	for (char *p = targets_copy;;) {
		char *comma = strchr(p, ',');
		if (comma)
			*comma = '\0';
		if (!manifest_valid_name(p))
			return cli_usage_error("worker", "--targets: '%s' is not a target name", p);
		for (size_t i = 0; i < n_targets; i++)
			if (strcmp(targets[i], p) == 0)
				return cli_usage_error("worker", "--targets names %s twice", p);
		if (n_targets == WORKER_SLOTS_MAX)
			return cli_usage_error("worker", "--targets names more than %d targets",
					       WORKER_SLOTS_MAX);
		targets[n_targets++] = p;
		if (!comma)
			break;
		p = comma + 1;
	}

	char cache_buf[PATH_MAX];
	if (!cache) {
		snprintf(cache_buf, sizeof(cache_buf), "ripple-worker-%s", name);
		cache = cache_buf;
	}
	char token[TOKEN_MAX];
	int status = read_token(token_file, token, sizeof(token));
	if (status != RP_EXIT_OK)
		return status;

	/*
	 * Every slot's build engine queues checkouts and archive work on libuv's
	 * one thread pool (4 threads unless told): give each slot its own share.
	 * Read by libuv when the pool starts, so before any build runs.
	 */
	if (!getenv("UV_THREADPOOL_SIZE")) {
		char pool[16];
		snprintf(pool, sizeof(pool), "%lu", slots * 2 + 2 > 1024 ? 1024 : slots * 2 + 2);
		setenv("UV_THREADPOOL_SIZE", pool, 0);
	}
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	struct worker_options o = { .server = server,
				    .token = token,
				    .name = name,
				    .slots = (unsigned)slots,
				    .targets = targets,
				    .n_targets = n_targets,
				    .all_targets = all_targets,
				    .cache_dir = cache,
				    .on_line = on_line };
	struct rp_error err;
	int rc = worker_run(&o, &worker_stop, &err);
	memset(token, 0, sizeof(token));
	if (rc < 0) {
		cli_error("worker: %s", err.msg);
		return rc == RP_EINVAL ? RP_EXIT_USAGE : RP_EXIT_FAILED;
	}
	fprintf(stderr, "ripple worker: %s stopped\n", name);
	return RP_EXIT_OK;
}
