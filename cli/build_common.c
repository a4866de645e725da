#include "build_common.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "core/banned.h"

int cli_build_parse(const char *command, int argc, char **argv, struct cli_build_args *args)
{
	static const struct option options[] = {
		{ "manifest", required_argument, NULL, 'm' }, { "change", required_argument, NULL, 'c' },
		{ "all", no_argument, NULL, 'a' },	      { "jobs", required_argument, NULL, 'j' },
		{ "cache", required_argument, NULL, 'C' },    { "target", required_argument, NULL, 't' },
		{ "only", required_argument, NULL, 'o' },     { "no-cache", no_argument, NULL, 'n' },
		{ "keep", no_argument, NULL, 'k' },	      { "offline", no_argument, NULL, 'O' },
		{ "json", no_argument, NULL, 'J' },	      { "pin", required_argument, NULL, 'p' },
		{ "retries", required_argument, NULL, 'r' },
		{ "rebuild", required_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 },
	};
	memset(args, 0, sizeof(*args));
	args->manifest = CLI_DEFAULT_MANIFEST;
	args->opts.jobs = 2;
	args->retries = 3;
	args->changes = calloc((size_t)argc, sizeof(*args->changes));
	args->pins = calloc((size_t)argc, sizeof(*args->pins));
	if (!args->changes || !args->pins) {
		cli_error("out of memory");
		return RP_EXIT_FAILED;
	}
	const char *cache = NULL;
	int opt;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "m:j:", options, NULL)) != -1) {
		char *end;
		long n;
		switch (opt) {
		case 'm':
			args->manifest = optarg;
			break;
		case 'c':
			args->changes[args->n_changes++] = optarg;
			break;
		case 'p':
			args->pins[args->n_pins++] = optarg;
			break;
		case 'R':
			args->opts.fresh_package = optarg;
			break;
		case 'r':
			if (strcmp(command, "test-change") != 0)
				return cli_usage_error(command, "--retries is an option of test-change");
			n = strtol(optarg, &end, 10);
			if (*end || n < 1 || n > 20)
				return cli_usage_error(command, "--retries expects a number of runs from 1 to 20, got '%s'",
						       optarg);
			args->retries = (unsigned)n;
			break;
		case 'a':
			args->all = 1;
			break;
		case 'j':
			n = strtol(optarg, &end, 10);
			if (*end || n < 1 || n > 256)
				return cli_usage_error(command, "-j expects a number of job slots from 1 to 256, got '%s'",
						       optarg);
			args->opts.jobs = (unsigned)n;
			break;
		case 'C':
			cache = optarg;
			break;
		case 't':
			args->opts.only_target = optarg;
			break;
		case 'o':
			args->opts.only_package = optarg;
			break;
		case 'n':
			args->opts.no_cache = 1;
			break;
		case 'k':
			args->opts.keep_workdirs = 1;
			break;
		case 'O':
			args->opts.offline = 1;
			break;
		case 'J':
			args->json = 1;
			break;
		default:
			if (strchr("mjCctoprR", optopt) && optopt)
				return cli_usage_error(command, "option '%s' needs a value", argv[optind - 1]);
			return cli_usage_error(command, "unknown option '%s'", argv[optind - 1]);
		}
	}
	/* test-change takes its changes as operands too: ripple test-change cstruct=abc */
	for (; optind < argc && strcmp(command, "test-change") == 0; optind++)
		args->changes[args->n_changes++] = argv[optind];
	if (optind < argc)
		return cli_usage_error(command, "unexpected argument '%s'", argv[optind]);
	if (!cache)
		cache = cli_default_cache(args->manifest, args->cache_buf, sizeof(args->cache_buf));
	args->opts.cache_dir = cache;
	args->opts.on_progress = cli_build_progress;
	args->opts.data = args;
	return RP_EXIT_OK;
}

void cli_build_progress(const struct build_progress *p, void *data)
{
	const struct cli_build_args *args = data;
	static int tty = -1;
	if (tty < 0)
		tty = isatty(STDERR_FILENO);
	unsigned s = (unsigned)(p->elapsed_ms / 1000);
	if (tty) {
		fprintf(stderr, "\r\033[K[%zu/%zu] done %zu, running %zu, queued %zu, cached %zu  %u:%02u", p->done,
			p->total, p->done, p->running, p->queued, p->cached, s / 60, s % 60);
		if (p->done == p->total)
			fputc('\n', stderr);
	} else if (p->finished && args->u) {
		const struct build_job_report *j = p->finished;
		fprintf(stderr, "[%zu/%zu] %-9s %s@%s %.12s%s %.1fs\n", p->done, p->total, build_outcome_name(j->outcome),
			args->u->packages[j->package].name, args->u->targets[j->target].name,
			j->commit[0] ? j->commit : "-", j->cached ? " (cached)" : "", (double)j->duration_ms / 1000);
	}
	fflush(stderr);
}

char *cli_build_reproduce(const struct cli_build_args *args)
{
	size_t len = 64 + strlen(args->manifest);
	for (size_t i = 0; i < args->n_changes; i++)
		len += strlen(args->changes[i]) + 12;
	for (size_t i = 0; i < args->n_pins; i++)
		len += strlen(args->pins[i]) + 12;
	char *s = malloc(len);
	if (!s)
		return NULL;
	size_t used = (size_t)snprintf(s, len, "ripple build -m %s", args->manifest);
	for (size_t i = 0; i < args->n_pins; i++)
		used += (size_t)snprintf(s + used, len - used, " --pin %s", args->pins[i]);
	for (size_t i = 0; i < args->n_changes; i++)
		used += (size_t)snprintf(s + used, len - used, " --change %s", args->changes[i]);
	if (!args->n_changes)
		snprintf(s + used, len - used, " --all");
	return s;
}

int cli_build_resolve(const struct rp_universe *u, const struct cli_build_args *args, struct plan_change **changes,
		      struct plan_change **pins)
{
	struct rp_error err;
	const struct build_options *o = &args->opts;
	if (o->only_target && manifest_find_target(u, o->only_target) < 0) {
		cli_error("--target %s: no such target in %s", o->only_target, args->manifest);
		return RP_EXIT_USAGE;
	}
	const char *const named[] = { o->only_package, o->fresh_package };
	for (size_t i = 0; i < 2; i++) {
		if (named[i] && manifest_find_package(u, named[i]) < 0) {
			const char *hint = manifest_suggest_package(u, named[i]);
			cli_error("%s %s: no such package in %s%s%s%s", i ? "--rebuild" : "--only", named[i], args->manifest,
				  hint ? "; did you mean \"" : "", hint ? hint : "", hint ? "\"?" : "");
			return RP_EXIT_USAGE;
		}
	}
	*changes = calloc(args->n_changes ? args->n_changes : 1, sizeof(**changes));
	*pins = calloc(args->n_pins ? args->n_pins : 1, sizeof(**pins));
	if (!*changes || !*pins) {
		cli_error("out of memory");
		return RP_EXIT_FAILED;
	}
	for (size_t i = 0; i < args->n_changes; i++) {
		if (plan_parse_change(u, args->changes[i], &(*changes)[i], &err) < 0) {
			cli_error("%s", err.msg);
			return RP_EXIT_USAGE;
		}
	}
	for (size_t i = 0; i < args->n_pins; i++) {
		if (plan_parse_change(u, args->pins[i], &(*pins)[i], &err) < 0) {
			cli_error("--pin: %s", err.msg);
			return RP_EXIT_USAGE;
		}
	}
	return RP_EXIT_OK;
}

const char *cli_default_cache(const char *manifest, char *buf, size_t size)
{
	/* Beside the manifest, so every universe keeps its own cache. */
	const char *slash = strrchr(manifest, '/');
	if (slash)
		snprintf(buf, size, "%.*s/.ripple", (int)(slash - manifest), manifest);
	else
		snprintf(buf, size, ".ripple");
	return buf;
}
