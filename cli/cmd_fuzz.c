/*
 * cmd_fuzz.c — `ripple fuzz PKG`: a package's fuzz targets, locally, in its
 * sandbox: built as OSS-Fuzz builds, run for their time on the corpus kept in
 * the cache, a crash minimized and named by its signature, and remembered so
 * the next run says whether it is new (docs/fuzz.md). With --reproduce, each
 * target runs once on a given input: the exit status says whether it crashes
 * (with --signature: with that signature), as `ripple bisect` and
 * `git bisect run` read it.
 */
#define _GNU_SOURCE /* asprintf */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "build_common.h"
#include "cli.h"
#include "common.h"
#include "core/graph.h"
#include "core/manifest.h"
#include "core/banned.h"

/* ripple bisect / git bisect run: this commit cannot be tested. */
#define EXIT_SKIP 125
#define SECONDS_MAX 86400

const char cmd_fuzz_usage[] =
    "usage: ripple fuzz PACKAGE [-m FILE] [--seconds N] [--target T] [--rev REV] [--cache DIR]\n"
    "                   [--offline] [--json]\n"
    "       ripple fuzz PACKAGE --reproduce FILE [--signature SIG] [--rev REV] [...]\n"
    "\n"
    "Builds PACKAGE as OSS-Fuzz builds (clang, -fsanitize=address,fuzzer-no-link, and\n"
    "LIB_FUZZING_ENGINE=-fsanitize=fuzzer; with \"fuzz_engine\": \"afl\", afl-clang-fast and\n"
    "AFL++'s driver) in its sandbox, runs each of its fuzz targets (the manifest's \"fuzz\"\n"
    "list: libFuzzer entry points) under libFuzzer or afl-fuzz for its time on the corpus\n"
    "kept in the cache and its seeds, minimizes a crash, and names it by its signature (the\n"
    "sanitizer's kind and the top frames of its stack). Crashes are remembered per package:\n"
    "a later run says whether a crash is new or known. Prints each target's executions,\n"
    "speed and corpus, and for a crash its signature, where, the reproducer kept in the\n"
    "cache and a command that reproduces it.\n"
    "\n"
    "  -m, --manifest FILE   the universe manifest (default ripple.json)\n"
    "  --seconds N           each target's time (default: the manifest's \"seconds\")\n"
    "  --target T            the target to build and fuzz on (default: the package's first\n"
    "                        process or sandbox target, else its first vm target); on a vm\n"
    "                        target the fuzzers run in a\n"
    "                        throwaway VM and bring the corpus and crashes back\n"
    "  --rev REV             the revision to fuzz (default: the branch head)\n"
    "  --reproduce FILE      run each target once on FILE instead of fuzzing\n"
    "  --signature SIG       with --reproduce: only a crash with this signature counts\n"
    "  --cache DIR           the build cache (default .ripple beside the manifest)\n"
    "  --offline             do not fetch repositories already mirrored\n"
    "  --json                print the fuzz report as JSON (crashes marked new or known)\n"
    "\n"
    "Exit status: 0 no crash, 1 a crash (with --reproduce: the input crashes, with the\n"
    "signature when one is given), 125 the package does not build at REV (ripple bisect and\n"
    "git bisect run skip that commit), 2 bad usage.\n";

struct fuzz_args {
	const char *manifest, *package, *target, *rev, *reproduce, *signature, *cache;
	unsigned seconds;
	int offline, json;
};

static int parse(int argc, char **argv, struct fuzz_args *a)
{
	static const struct option options[] = {
	    {"manifest", required_argument, NULL, 'm'}, {"seconds", required_argument, NULL, 's'},
	    {"target", required_argument, NULL, 't'},   {"rev", required_argument, NULL, 'r'},
	    {"reproduce", required_argument, NULL, 'R'}, {"signature", required_argument, NULL, 'S'},
	    {"cache", required_argument, NULL, 'C'},    {"offline", no_argument, NULL, 'O'},
	    {"json", no_argument, NULL, 'J'},	       {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int opt;
	memset(a, 0, sizeof(*a));
	a->manifest = CLI_DEFAULT_MANIFEST;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "m:", options, NULL)) != -1) {
		char *end;
		switch (opt) {
		case 'm':
			a->manifest = optarg;
			break;
		case 's': {
			unsigned long v = strtoul(optarg, &end, 10);
			if (*end || end == optarg || optarg[0] == '-' || v < 1 || v > SECONDS_MAX)
				return cli_usage_error("fuzz", "--seconds expects a number from 1 to %d, got '%s'", SECONDS_MAX,
						       optarg);
			a->seconds = (unsigned)v;
			break;
		}
		case 't':
			a->target = optarg;
			break;
		case 'r':
			a->rev = optarg;
			break;
		case 'R':
			a->reproduce = optarg;
			break;
		case 'S':
			a->signature = optarg;
			break;
		case 'C':
			a->cache = optarg;
			break;
		case 'O':
			a->offline = 1;
			break;
		case 'J':
			a->json = 1;
			break;
		case 'h':
			fputs(cmd_fuzz_usage, stdout);
			return -1;
		default:
			if (optopt && strchr("mstrRSC", optopt))
				return cli_usage_error("fuzz", "option '%s' needs a value", argv[optind - 1]);
			return cli_usage_error("fuzz", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (argc - optind != 1)
		return cli_usage_error("fuzz", "expected one PACKAGE");
	a->package = argv[optind];
	if (a->signature && !a->reproduce)
		return cli_usage_error("fuzz", "--signature needs --reproduce FILE");
	if (a->reproduce && a->seconds)
		return cli_usage_error("fuzz", "--seconds and --reproduce exclude each other: a reproducer runs once");
	if (a->reproduce && access(a->reproduce, R_OK) != 0)
		return cli_usage_error("fuzz", "--reproduce %s: no such readable file", a->reproduce);
	return RP_EXIT_OK;
}

/* The package's default target to fuzz on: its first process or sandbox target, else its first vm target. */
static long fuzz_target(const struct rp_universe *u, const struct rp_package *p, const char *name)
{
	if (name) {
		long t = manifest_find_target(u, name);
		return t >= 0 && manifest_package_has_target(p, (size_t)t) ? t : -1;
	}
	return manifest_fuzz_target(u, p);
}

/*
 * Marks each crash of the report "new" or "known" against the package's
 * crashes remembered in the cache (fuzz/crashes/PKG.json: signature → target,
 * first commit, first and last time, runs, reproducer), and remembers the new.
 */
static int remember(const char *cache, const char *package, json_t *report, struct rp_error *err)
{
	char path[PATH_MAX], tmp[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/fuzz/crashes-%s.json", cache, package);
	json_t *known = json_load_file(path, 0, NULL);
	if (!json_is_object(known)) {
		json_decref(known);
		known = json_object();
	}
	time_t now = time(NULL);
	size_t i;
	json_t *f;
	json_array_foreach(json_object_get(report, "fuzzers"), i, f) {
		json_t *crash = json_object_get(f, "crash");
		const char *sig = json_string_value(json_object_get(crash, "signature"));
		if (!sig)
			continue;
		json_t *entry = json_object_get(known, sig);
		json_object_set_new(crash, "new", json_boolean(!entry));
		if (entry) {
			json_object_set_new(entry, "last_seen", json_integer((json_int_t)now));
			json_object_set_new(entry, "runs",
					    json_integer(json_integer_value(json_object_get(entry, "runs")) + 1));
			json_object_set_new(crash, "first_commit", json_copy(json_object_get(entry, "first_commit")));
		} else {
			json_object_set_new(known, sig,
					    json_pack("{s:O, s:O, s:I, s:I, s:i, s:O}", "target", json_object_get(f, "name"),
						      "first_commit", json_object_get(report, "commit"), "first_seen",
						      (json_int_t)now, "last_seen", (json_int_t)now, "runs", 1, "reproducer",
						      json_object_get(crash, "reproducer")));
		}
	}
	snprintf(tmp, sizeof(tmp), "%s.%ld", path, (long)getpid());
	int rc = 0;
	if (json_dump_file(known, tmp, JSON_INDENT(2)) != 0 || rename(tmp, path) != 0) {
		unlink(tmp);
		rc = rp_error_set(err, RP_EIO, "cannot write %s", path);
	}
	json_decref(known);
	return rc;
}

static void print_text(const struct fuzz_args *a, const struct build_job_report *me, json_t *report)
{
	printf("fuzz %s at %.12s%s\n", a->package, me->commit, a->reproduce ? " (reproducing)" : "");
	size_t i;
	json_t *f;
	json_array_foreach(json_object_get(report, "fuzzers"), i, f) {
		const char *name = json_string_value(json_object_get(f, "name"));
		if (!a->reproduce)
			printf("  %s: %lld s, %lld executions (%lld/s), corpus %lld inputs (%lld bytes), %lld new\n", name,
			       json_integer_value(json_object_get(f, "seconds")),
			       json_integer_value(json_object_get(f, "executions")),
			       json_integer_value(json_object_get(f, "exec_per_sec")),
			       json_integer_value(json_object_get(f, "corpus_files")),
			       json_integer_value(json_object_get(f, "corpus_bytes")),
			       json_integer_value(json_object_get(f, "new_units")));
		json_t *crash = json_object_get(f, "crash");
		if (!json_is_object(crash)) {
			printf("  %s: no crash\n", name);
			continue;
		}
		const char *first = json_string_value(json_object_get(crash, "first_commit"));
		printf("  %s: crash (%s%s%.12s): %s\n", name, json_is_true(json_object_get(crash, "new")) ? "new" : "known",
		       first ? ", first seen at " : "", first ? first : "",
		       json_string_value(json_object_get(crash, "signature")));
		const char *where = json_string_value(json_object_get(crash, "location"));
		if (where && *where)
			printf("    at %s\n", where);
		const char *repro = json_string_value(json_object_get(crash, "reproducer"));
		printf("    reproducer: %s (%lld bytes%s)\n", repro,
		       json_integer_value(json_object_get(crash, "reproducer_size")),
		       json_is_true(json_object_get(crash, "minimized")) ? ", minimized" : "");
		printf("    reproduce: ripple fuzz -m %s %s%s%s --rev %s --reproduce %s\n", a->manifest, a->package,
		       a->target ? " --target " : "", a->target ? a->target : "", me->commit, repro);
	}
	printf("report: %s\n", me->fuzz_report);
}

int cmd_fuzz(int argc, char **argv)
{
	struct fuzz_args a;
	int status = parse(argc, argv, &a);
	if (status != RP_EXIT_OK)
		return status < 0 ? RP_EXIT_OK : status;
	struct rp_universe *u = NULL;
	struct graph g = {0};
	struct build_session *s = NULL;
	struct build_report rep = {0};
	json_t *report = NULL;
	struct rp_error err;
	char cache_buf[4096], repro_abs[PATH_MAX];
	if ((status = cli_load_universe(a.manifest, &u, &g)) != RP_EXIT_OK)
		goto out;
	long package = manifest_find_package(u, a.package);
	if (package < 0) {
		status = cli_usage_error("fuzz", "no package %s in %s", a.package, a.manifest);
		goto out;
	}
	const struct rp_package *p = &u->packages[package];
	if (!p->n_fuzz) {
		status = cli_usage_error("fuzz", "package %s has no \"fuzz\" targets in %s", a.package, a.manifest);
		goto out;
	}
	long target = fuzz_target(u, p, a.target);
	if (target < 0 || u->targets[target].runner == RP_RUNNER_XEN) {
		/* A Xen domain has only its console: the corpus and the crashes could not come back. */
		status = a.target ? cli_usage_error("fuzz", "package %s has no process, sandbox or vm target %s", a.package,
						    a.target)
				  : cli_usage_error("fuzz", "package %s has no process, sandbox or vm target to fuzz on", a.package);
		goto out;
	}
	if (p->fuzz_engine == RP_FUZZ_AFL && u->targets[target].runner == RP_RUNNER_VM) {
		status = cli_usage_error("fuzz", "package %s fuzzes with AFL++, which does not run in a guest: "
						 "choose a process or sandbox target", a.package);
		goto out;
	}
	if (a.reproduce && !realpath(a.reproduce, repro_abs)) {
		status = cli_usage_error("fuzz", "--reproduce %s: cannot resolve its path", a.reproduce);
		goto out;
	}
	const char *cache = a.cache ? a.cache : cli_default_cache(a.manifest, cache_buf, sizeof(cache_buf));
	struct build_options opts = {.cache_dir = cache, .jobs = 2, .offline = a.offline};
	struct build_select sel = {.only_package = p->name,
				   .only_target = u->targets[target].name,
				   .variant = "fuzz",
				   .fuzz_seconds = a.seconds,
				   .fuzz_reproduce = a.reproduce ? repro_abs : NULL};
	struct plan_change change = {.package = (size_t)package, .rev = a.rev ? a.rev : p->branch};
	if (build_session_open(u, &opts, &s, &err) < 0) {
		cli_error("%s", err.msg);
		status = RP_EXIT_FAILED;
		goto out;
	}
	build_session_select(s, &sel);
	if (build_run(s, &g, &change, 1, NULL, 0, &rep, &err) < 0) {
		cli_error("%s", err.msg);
		status = RP_EXIT_FAILED;
		goto out;
	}
	const struct build_job_report *me = NULL;
	for (size_t i = 0; i < rep.n_jobs; i++)
		if (rep.jobs[i].package == (size_t)package && rep.jobs[i].target == (size_t)target)
			me = &rep.jobs[i];
	if (!me || !me->fuzz_report[0]) {
		/* It did not build, or its fuzzers could not run: nothing was fuzzed at this revision. */
		cli_error("%s at %s: %s: %s", a.package, me && me->commit[0] ? me->commit : change.rev,
			  me ? build_outcome_name(me->outcome) : "not planned",
			  me && me->first_error[0] ? me->first_error : "no fuzz report");
		if (me && me->log_path[0])
			cli_error("log: %s", me->log_path);
		status = EXIT_SKIP;
		goto out;
	}
	if (!(report = json_load_file(me->fuzz_report, 0, NULL))) {
		cli_error("cannot read the fuzz report %s", me->fuzz_report);
		status = RP_EXIT_FAILED;
		goto out;
	}
	if (!a.reproduce && remember(cache, p->name, report, &err) < 0)
		cli_error("%s", err.msg); /* the findings stand; only the memory of them is lost */
	int crashed = 0;
	size_t i;
	json_t *f;
	json_array_foreach(json_object_get(report, "fuzzers"), i, f) {
		const char *sig = json_string_value(json_object_get(json_object_get(f, "crash"), "signature"));
		crashed |= sig && (!a.signature || strcmp(sig, a.signature) == 0);
	}
	if (a.json) {
		if (json_dumpf(report, stdout, JSON_INDENT(2)) != 0 || putchar('\n') == EOF)
			cli_error("cannot write the report");
	} else {
		print_text(&a, me, report);
	}
	status = crashed ? RP_EXIT_FAILED : RP_EXIT_OK;
out:
	json_decref(report);
	build_report_release(&rep);
	build_session_close(s);
	graph_release(&g);
	manifest_free(u);
	return status;
}
