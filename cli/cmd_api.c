/*
 * cmd_api.c — `ripple api-diff PKG OLD NEW` and `ripple api-report PKG --from
 * REV --to REV`: the API and ABI changes of a library between two revisions
 * (or build keys), locally, without a server. Each side is built by the
 * build engine (a key it built before comes from its cache), which dumps the
 * library's ABI with abidw (runner/abi.h); the dumps are compared with
 * abidiff and the report classified (reports/api.h).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "build_common.h"
#include "cli.h"
#include "common.h"
#include "core/buildkey.h"
#include "runner/abi.h"
#include "core/banned.h"

const char cmd_api_diff_usage[] =
    "usage: ripple api-diff [-m MANIFEST] [--cache DIR] [--offline] [--json] PACKAGE OLD NEW\n"
    "\n"
    "The API and ABI changes of PACKAGE (it needs an \"api\" block: its library and public\n"
    "headers) from OLD to NEW — commits, tags, branches, or build keys of builds made\n"
    "before. Each side is built locally like `ripple build --only PACKAGE` (from the cache\n"
    "when known) with -g added, and its library dumped with libabigail's abidw; abidiff\n"
    "compares the dumps, and ripple classifies every change for source (API) and binary\n"
    "(ABI) compatibility itself: function and variable removed, added or changed\n"
    "(parameters, return type), type size or layout, enumerators, SONAME and symbol\n"
    "versions. Without debug info it falls back to exported symbols and header\n"
    "prototypes, and says so. Then the semver verdict: whether the version bump (its\n"
    "pkg-config Version on each side, else the manifest's) is enough: a break needs a\n"
    "major bump (a minor one below 1.0), an addition a minor one.\n"
    "\n"
    "`ripple api-report` prints the same as a changelog for end users.\n"
    "\n"
    "  -m, --manifest FILE   the universe (default ripple.json)\n"
    "  --cache DIR           the build cache (default .ripple beside the manifest)\n"
    "  --offline             do not fetch mirrors that exist already\n"
    "  --json                {\"package\", \"old\", \"new\", \"versions\", \"semver\", \"weaker\",\n"
    "                        \"changes\", \"timing\"} (docs/api-changes.md)\n"
    "\n"
    "Exit status: 0 the bump is enough (or nothing changed), 1 a change needs a bigger\n"
    "bump than the versions show, 2 bad usage or bad input (no api block, a revision that\n"
    "does not exist or does not build, a missing or damaged ABI dump).\n";

const char cmd_api_report_usage[] =
    "usage: ripple api-report [-m MANIFEST] [--cache DIR] [--offline] [--json] PACKAGE --from REV --to REV\n"
    "\n"
    "Every API and ABI change of PACKAGE from REV to REV as a changelog for its users:\n"
    "breaking changes first, then compatible ones, each one line, with the semver verdict.\n"
    "It is `ripple api-diff PACKAGE REV REV` (see `ripple help api-diff`: how each side is\n"
    "built and dumped, how changes are classified, the weaker method without debug info).\n"
    "\n"
    "  -m, --manifest FILE   the universe (default ripple.json)\n"
    "  --cache DIR           the build cache (default .ripple beside the manifest)\n"
    "  --offline             do not fetch mirrors that exist already\n"
    "  --json                the changes, versions, verdict and timing as JSON\n"
    "\n"
    "Exit status: 0 the bump is enough (or nothing changed), 1 a change needs a bigger\n"
    "bump than the versions show, 2 bad usage or bad input.\n";

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct side {
	const char *rev;
	char key[65], commit[41];
	char dump_path[4096];
	uint64_t build_ms; /* building (abidw included) when it was not in the cache */
	int cached;
};

/* Makes (or finds) the build of `package` at `side->rev` and its ABI dump. */
static int build_side(struct build_session *s, const struct graph *g, const struct rp_universe *u, long package,
		      long target, struct side *side, struct rp_error *err)
{
	const char *name = u->packages[package].name;
	if (buildkey_is_hex(side->rev)) { /* a build key: its dump must be in the cache */
		snprintf(side->key, sizeof(side->key), "%s", side->rev);
		side->cached = 1;
		return build_session_artifact(s, side->key, "abi", side->dump_path, sizeof(side->dump_path), err);
	}
	struct build_select sel = { .only_package = name, .only_target = u->targets[target].name };
	build_session_select(s, &sel);
	struct plan_change change = { .package = (size_t)package, .rev = side->rev };
	struct build_report rep;
	uint64_t t0 = now_ms();
	int rc = build_run(s, g, &change, 1, NULL, 0, &rep, err);
	side->build_ms = now_ms() - t0;
	if (rc < 0)
		return rc;
	const struct build_job_report *me = NULL;
	for (size_t i = 0; i < rep.n_jobs; i++)
		if (rep.jobs[i].package == (size_t)package && rep.jobs[i].target == (size_t)target)
			me = &rep.jobs[i];
	if (!me) {
		rc = rp_error_set(err, RP_EINVAL, "%s at %s: the build engine planned no job", name, side->rev);
	} else if (!me->commit[0]) {
		rc = rp_error_set(err, RP_EINVAL, "%s at %s: %s", name, side->rev, me->first_error);
	} else if (me->outcome != BUILD_PASS && (me->outcome != BUILD_FAIL || !me->output_hash[0] ||
						 (me->failed_step && strcmp(me->failed_step, "build") == 0))) {
		rc = rp_error_set(err, RP_EINVAL, "%s at %s (%.12s) does not build: %s: %s", name, side->rev, me->commit,
				  build_outcome_name(me->outcome), me->first_error[0] ? me->first_error : "no message");
	} else {
		snprintf(side->key, sizeof(side->key), "%s", me->key);
		snprintf(side->commit, sizeof(side->commit), "%s", me->commit);
		side->cached = me->cached;
		rc = build_session_artifact(s, side->key, "abi", side->dump_path, sizeof(side->dump_path), err);
	}
	build_report_release(&rep);
	return rc;
}

static int run(const char *command, int report, int argc, char **argv)
{
	static const struct option options[] = {
		{ "manifest", required_argument, NULL, 'm' }, { "cache", required_argument, NULL, 'C' },
		{ "offline", no_argument, NULL, 'O' },	       { "json", no_argument, NULL, 'J' },
		{ "from", required_argument, NULL, 'f' },      { "to", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },	       { NULL, 0, NULL, 0 },
	};
	const char *manifest = CLI_DEFAULT_MANIFEST, *cache = NULL, *from = NULL, *to = NULL;
	int json = 0, offline = 0, opt;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "m:", options, NULL)) != -1) {
		switch (opt) {
		case 'm':
			manifest = optarg;
			break;
		case 'C':
			cache = optarg;
			break;
		case 'O':
			offline = 1;
			break;
		case 'J':
			json = 1;
			break;
		case 'f':
			from = optarg;
			break;
		case 't':
			to = optarg;
			break;
		case 'h':
			fputs(report ? cmd_api_report_usage : cmd_api_diff_usage, stdout);
			return RP_EXIT_OK;
		default:
			if (optopt && strchr("mCft", optopt))
				return cli_usage_error(command, "option '%s' needs a value", argv[optind - 1]);
			return cli_usage_error(command, "unknown option '%s'", argv[optind - 1]);
		}
	}
	int operands = argc - optind;
	if (report ? (operands != 1 || !from || !to) : (operands != 3 || from || to))
		return cli_usage_error(command, report ? "expected PACKAGE --from REV --to REV" : "expected PACKAGE OLD NEW");
	const char *package_name = argv[optind];
	struct side old = { .rev = report ? from : argv[optind + 1] }, new = { .rev = report ? to : argv[optind + 2] };

	struct rp_universe *u = NULL;
	struct graph g = { 0 };
	struct build_session *s = NULL;
	struct abi_dump a = { 0 }, b = { 0 };
	struct api_diff d = { 0 };
	struct rp_error err;
	char cache_buf[4096], work[4096] = "";
	int status = cli_load_universe(manifest, &u, &g);
	if (status != RP_EXIT_OK)
		goto out;
	long package = manifest_find_package(u, package_name);
	if (package < 0) {
		status = cli_usage_error(command, "no package %s in %s", package_name, manifest);
		goto out;
	}
	const struct rp_package *p = &u->packages[package];
	if (!p->has_api) {
		status = cli_usage_error(command, "package %s has no \"api\" block in %s: nothing says what its library is",
					 package_name, manifest);
		goto out;
	}
	long target = manifest_coverage_target(u, p);
	if (target < 0) {
		status = cli_usage_error(command, "package %s has no target that builds here (process or sandbox)", package_name);
		goto out;
	}
	if (!cache)
		cache = cli_default_cache(manifest, cache_buf, sizeof(cache_buf));
	struct build_options opts = { .cache_dir = cache, .jobs = 2, .offline = offline };
	uint64_t t0 = now_ms(), abidiff_us = 0;
	if (build_session_open(u, &opts, &s, &err) < 0 || build_side(s, &g, u, package, target, &old, &err) < 0 ||
	    build_side(s, &g, u, package, target, &new, &err) < 0) {
		cli_error("%s", err.msg);
		status = RP_EXIT_USAGE;
		goto out;
	}
	uint64_t built = now_ms();
	if (abi_dump_load(old.dump_path, &a, &err) < 0 || abi_dump_load(new.dump_path, &b, &err) < 0) {
		cli_error("%s", err.msg);
		status = RP_EXIT_USAGE;
		goto out;
	}
	const char *tmp = getenv("TMPDIR");
	snprintf(work, sizeof(work), "%s/ripple-api-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(work)) {
		work[0] = '\0';
		cli_error("cannot make a work directory under %s", tmp && *tmp ? tmp : "/tmp");
		status = RP_EXIT_FAILED;
		goto out;
	}
	uint64_t t1 = now_ms();
	if (abi_diff(&a, &b, work, &d, &abidiff_us, &err) < 0) {
		cli_error("%s", err.msg);
		status = RP_EXIT_USAGE;
		goto out;
	}
	struct api_semver sv;
	const char *vo = a.version ? a.version : p->version, *vn = b.version ? b.version : p->version;
	api_semver_verdict(&d, vo, vn, &sv);
	uint64_t abidiff_ms = abidiff_us / 1000, spent = now_ms() - t1, own_ms = spent > abidiff_ms ? spent - abidiff_ms : 0;
	if (json) {
		json_t *doc = api_diff_json(&d);
		json_object_set_new(doc, "package", json_string(package_name));
		json_object_set_new(doc, "old", json_pack("{s:s, s:s, s:s}", "rev", old.rev, "commit", old.commit, "build_key", old.key));
		json_object_set_new(doc, "new", json_pack("{s:s, s:s, s:s}", "rev", new.rev, "commit", new.commit, "build_key", new.key));
		json_object_set_new(doc, "versions", json_pack("{s:s?, s:s?}", "old", vo, "new", vn));
		json_object_set_new(doc, "semver", json_pack("{s:s, s:s, s:b, s:b, s:s}", "needed", api_bump_name(sv.needed),
							     "made", api_bump_name(sv.made), "enough", sv.enough, "parsed",
							     sv.parsed, "why", sv.why));
		json_object_set_new(doc, "timing", json_pack("{s:I, s:I, s:I, s:b}", "build_and_abidw_ms", (json_int_t)(built - t0),
							     "abidiff_ms", (json_int_t)abidiff_ms, "ripple_ms",
							     (json_int_t)own_ms, "cached", old.cached && new.cached));
		if (cli_print_json(doc) < 0)
			status = RP_EXIT_FAILED;
	} else {
		char title[600];
		snprintf(title, sizeof(title), "%s: API changes from %s to %s", package_name, old.rev, new.rev);
		if (api_diff_markdown(stdout, title, &d, &sv, &err) < 0) {
			cli_error("%s", err.msg);
			status = RP_EXIT_FAILED;
			goto out;
		}
	}
	if (status == RP_EXIT_OK && sv.needed != API_BUMP_NONE && sv.parsed && !sv.enough)
		status = RP_EXIT_FAILED;
out:
	if (work[0])
		rmdir(work);
	api_diff_release(&d);
	abi_dump_release(&a);
	abi_dump_release(&b);
	build_session_close(s);
	graph_release(&g);
	manifest_free(u);
	return status;
}

int cmd_api_diff(int argc, char **argv)
{
	return run("api-diff", 0, argc, argv);
}

int cmd_api_report(int argc, char **argv)
{
	return run("api-report", 1, argc, argv);
}
