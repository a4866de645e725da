/*
 * cmd_bisect.c — `ripple bisect`: find the first bad commit of any git
 * repository, K probes at once, flake-aware (bisect/bisect.h).
 */
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bisect/bisect.h"
#include "cli.h"
#include "common.h"
#include "core/banned.h"

const char cmd_bisect_usage[] =
    "usage: ripple bisect [--repo PATH] --good REV [--good REV]... --bad REV [-j K]\n"
    "                     [--first-parent] [--retries R] [--noise P] [--work-dir DIR]\n"
    "                     [--log-dir DIR] [--keep] [--verify-revert] [--timeout SECONDS]\n"
    "                     [--json] -- COMMAND [ARGS...]\n"
    "\n"
    "Finds the first bad commit between good and bad, as 'git bisect run' does, but runs up to\n"
    "K probes at once (each round tests commits that split what is left evenly) and, with\n"
    "--retries, does not trust a flaky test. Each probe runs COMMAND in a fresh checkout of\n"
    "its commit, with the caller's environment plus RIPPLE_BISECT_COMMIT. One argument is a\n"
    "shell command line (sh -c); more are run as given. COMMAND's exit status: 0 good; 1-124,\n"
    "126, 127 bad; 125 skip (cannot be tested); 128 and above abort the bisection.\n"
    "\n"
    "  --repo PATH        the repository (default: the current directory)\n"
    "  --good REV         a good revision, an ancestor of bad (repeatable)\n"
    "  --bad REV          the bad revision\n"
    "  -j, --jobs K       probes at once (default: the number of CPUs, at most 8)\n"
    "  --first-parent     follow only first parents: a merge is blamed, not its side branch\n"
    "  --retries R        flake-aware: answers may be wrong; re-run the culprit and its parent\n"
    "                     R times each, and more when they disagree; say 'flaky' rather than\n"
    "                     name a culprit the answers do not support\n"
    "  --noise P          with --retries: the assumed probability of a wrong answer (default 0.1)\n"
    "  --work-dir DIR     where the probes' worktrees go (default $TMPDIR or /tmp)\n"
    "  --log-dir DIR      where every probe's log is kept (default a new directory, printed)\n"
    "  --keep             keep the worktrees\n"
    "  --timeout SECONDS  stop a probe running longer (its whole process group) and count it\n"
    "                     as a skip\n"
    "  --verify-revert    confirm the culprit: revert it on top of bad (where it reverts\n"
    "                     cleanly) and expect COMMAND to pass (max(1, R) runs)\n"
    "  --json             print the result as JSON (see docs/bisect.md)\n"
    "\n"
    "Exit status: 0 a first bad commit was found, 1 none could be named (flaky, only skipped\n"
    "commits left, or its revert did not fix the test), 2 bad usage, bad revisions, or a\n"
    "probe aborted (status >= 128).\n";

static void format_date(int64_t t, int offset, char *out, size_t size, int iso)
{
	time_t local = (time_t)(t + (int64_t)offset * 60);
	struct tm tm;
	gmtime_r(&local, &tm);
	char d[32];
	strftime(d, sizeof(d), iso ? "%Y-%m-%dT%H:%M:%S" : "%a %b %e %H:%M:%S %Y", &tm);
	int a = offset < 0 ? -offset : offset;
	if (iso)
		snprintf(out, size, "%s%c%02d:%02d", d, offset < 0 ? '-' : '+', a / 60, a % 60);
	else
		snprintf(out, size, "%s %c%02d%02d", d, offset < 0 ? '-' : '+', a / 60, a % 60);
}

static const char *answer_name(enum bisect_exit_meaning m)
{
	switch (m) {
	case BISECT_EXIT_GOOD:
		return "good";
	case BISECT_EXIT_BAD:
		return "bad";
	case BISECT_EXIT_SKIP:
		return "skip";
	case BISECT_EXIT_ABORT:
		return "abort";
	}
	return "?";
}

static void on_probe(const struct bisect_probe_record *r, void *data)
{
	(void)data;
	if (r->exit_status < 0)
		fprintf(stderr, "round %u: %.12s %s (killed by a signal, %.2f s)\n", r->round, r->id,
			answer_name(r->answer), r->duration_ms / 1000.0);
	else
		fprintf(stderr, "round %u: %.12s %s (exit %d, %.2f s)\n", r->round, r->id,
			answer_name(r->answer), r->exit_status, r->duration_ms / 1000.0);
}

static json_t *commit_json(const struct bisect_commit *c)
{
	char date[64];
	format_date(c->author_time, c->author_offset, date, sizeof(date), 1);
	return json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", c->id, "author", c->author_name, "email",
			 c->author_email, "date", date, "subject", c->subject);
}

static int print_json(const struct bisect_report *rep)
{
	json_t *doc = json_object();
	json_t *probes = json_array();
	if (!doc || !probes) {
		json_decref(doc);
		json_decref(probes);
		return cli_print_json(NULL);
	}
	json_object_set_new(doc, "verdict", json_string(bisect_verdict_name(rep->verdict)));
	int named = rep->verdict == BISECT_CULPRIT;
	json_object_set_new(doc, "first_bad", named ? commit_json(&rep->first_bad) : json_null());
	json_object_set_new(doc, "suspect",
			    !named && rep->first_bad.id[0] ? commit_json(&rep->first_bad) : json_null());
	if (rep->verdict == BISECT_UNCONFIRMED) /* named, but its revert did not fix the test */
		json_object_set(doc, "first_bad", json_object_get(doc, "suspect"));
	if (rep->first_bad.id[0])
		json_object_set_new(
		    doc, "confirmation",
		    json_pack("{s:{s:s, s:i, s:i}, s:{s:s?, s:i, s:i}}", "commit", "id", rep->first_bad.id,
			      "runs", (json_int_t)rep->culprit_runs, "bad", (json_int_t)rep->culprit_bad,
			      "parent", "id", rep->parent_id[0] ? rep->parent_id : NULL, "runs",
			      (json_int_t)rep->parent_runs, "bad", (json_int_t)rep->parent_bad));
	json_t *sk = json_array();
	for (size_t i = 0; sk && i < rep->n_suspects; i++)
		json_array_append_new(sk, json_string(rep->suspects[i]));
	json_object_set_new(doc, "only_skipped", sk ? sk : json_null());
	for (size_t i = 0; i < rep->n_probes; i++) {
		const struct bisect_probe_record *r = &rep->probes[i];
		json_array_append_new(
		    probes, json_pack("{s:s, s:i, s:s, s:i, s:I, s:s?, s:b, s:b}", "commit", r->id, "round",
				      (int)r->round, "answer", answer_name(r->answer), "exit_status",
				      r->exit_status, "duration_ms", (json_int_t)r->duration_ms, "log",
				      r->log_path, "revert", r->revert, "timed_out", r->timed_out));
	}
	static const char *const revert_names[] = {"not tried", "conflict", "fixes", "does not fix"};
	json_object_set_new(doc, "revert",
			    rep->revert == BISECT_REVERT_NOT_TRIED
				? json_null()
				: json_pack("{s:s, s:i, s:i}", "result", revert_names[rep->revert], "runs",
					    (int)rep->revert_runs, "passed", (int)rep->revert_passed));
	json_object_set_new(doc, "probes", probes);
	json_object_set_new(doc, "probe_count", json_integer((json_int_t)rep->n_probes));
	json_object_set_new(doc, "rounds", json_integer(rep->rounds));
	json_object_set_new(doc, "range", json_integer((json_int_t)rep->range_size));
	json_object_set_new(doc, "confidence", json_real(rep->confidence));
	json_object_set_new(doc, "wall_ms", json_integer((json_int_t)rep->wall_ms));
	json_object_set_new(doc, "logs", rep->log_dir ? json_string(rep->log_dir) : json_null());
	json_object_set_new(doc, "abort", rep->abort_msg ? json_string(rep->abort_msg) : json_null());
	return cli_print_json(doc);
}

static void print_commit(const struct bisect_commit *c)
{
	char date[64];
	format_date(c->author_time, c->author_offset, date, sizeof(date), 0);
	printf("Author: %s <%s>\nDate:   %s\n\n    %s\n", c->author_name, c->author_email, date, c->subject);
}

static void print_text(const struct bisect_report *rep, unsigned jobs)
{
	switch (rep->verdict) {
	case BISECT_CULPRIT:
		printf("%s is the first bad commit\n", rep->first_bad.id);
		print_commit(&rep->first_bad);
		if (rep->revert == BISECT_REVERT_FIXES)
			printf("\nverified: the test passes with it reverted on top of bad (%u of %u runs)\n",
			       rep->revert_passed, rep->revert_runs);
		else if (rep->revert == BISECT_REVERT_CONFLICT)
			printf("\nnot verified: it does not revert cleanly on top of bad\n");
		if (rep->culprit_runs > 1)
			printf("\nconfirmed: it failed %u of %u runs; its parent %.12s failed %u of %u\n",
			       rep->culprit_bad, rep->culprit_runs, rep->parent_id, rep->parent_bad,
			       rep->parent_runs);
		break;
	case BISECT_UNCONFIRMED:
		printf("%s is the first bad commit, but reverting it does not fix the test\n",
		       rep->first_bad.id);
		print_commit(&rep->first_bad);
		printf("\nthe revert on top of bad passed %u of %u runs\n", rep->revert_passed,
		       rep->revert_runs);
		break;
	case BISECT_ONLY_SKIPPED:
		printf("There are only 'skip'ped commits left to test.\nThe first bad commit could be any "
		       "of:\n");
		for (size_t i = 0; i < rep->n_suspects; i++)
			printf("%s\n", rep->suspects[i]);
		printf("We cannot bisect more!\n");
		break;
	case BISECT_FLAKY:
		printf("flaky: the answers do not support naming a first bad commit\n");
		if (rep->first_bad.id[0]) {
			printf("most likely suspect: %s (failed %u of %u runs)\n", rep->first_bad.id,
			       rep->culprit_bad, rep->culprit_runs);
			if (rep->parent_id[0])
				printf("its parent:          %s (failed %u of %u runs)\n", rep->parent_id,
				       rep->parent_bad, rep->parent_runs);
			print_commit(&rep->first_bad);
		}
		break;
	default:
		printf("aborted: %s\n", rep->abort_msg ? rep->abort_msg : "a probe asked to abort");
		break;
	}
	printf("\n%zu probes in %u rounds (up to %u at once), %.1f s; %zu commits in the range\nlogs: %s\n",
	       rep->n_probes, rep->rounds, jobs, rep->wall_ms / 1000.0, rep->range_size,
	       rep->log_dir ? rep->log_dir : "-");
}

static int parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
	char *end;
	if (!s || !*s || *s == '-' || *s == '+')
		return -1;
	unsigned long v = strtoul(s, &end, 10);
	if (*end || v < min || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

int cmd_bisect(int argc, char **argv)
{
	enum {
		OPT_REPO = 256,
		OPT_GOOD,
		OPT_BAD,
		OPT_FP,
		OPT_RETRIES,
		OPT_NOISE,
		OPT_WORK,
		OPT_LOG,
		OPT_KEEP,
		OPT_REVERT,
		OPT_TIMEOUT,
		OPT_JSON
	};
	static const struct option longopts[] = {
	    {"repo", required_argument, NULL, OPT_REPO},
	    {"good", required_argument, NULL, OPT_GOOD},
	    {"bad", required_argument, NULL, OPT_BAD},
	    {"jobs", required_argument, NULL, 'j'},
	    {"first-parent", no_argument, NULL, OPT_FP},
	    {"retries", required_argument, NULL, OPT_RETRIES},
	    {"noise", required_argument, NULL, OPT_NOISE},
	    {"work-dir", required_argument, NULL, OPT_WORK},
	    {"log-dir", required_argument, NULL, OPT_LOG},
	    {"keep", no_argument, NULL, OPT_KEEP},
	    {"verify-revert", no_argument, NULL, OPT_REVERT},
	    {"timeout", required_argument, NULL, OPT_TIMEOUT},
	    {"json", no_argument, NULL, OPT_JSON},
	    {NULL, 0, NULL, 0},
	};
	struct bisect_options opt;
	memset(&opt, 0, sizeof(opt));
	const char **goods = calloc((size_t)argc + 1, sizeof(*goods));
	size_t n_goods = 0;
	int json = 0, c, status = RP_EXIT_USAGE;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	opt.jobs = cpus < 1 ? 1 : cpus > 8 ? 8 : (unsigned)cpus;
	opt.repo = ".";
	if (!goods) {
		cli_error("out of memory");
		return RP_EXIT_FAILED;
	}
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+j:", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_REPO:
			opt.repo = optarg;
			break;
		case OPT_GOOD:
			goods[n_goods++] = optarg;
			break;
		case OPT_BAD:
			if (opt.bad) {
				status = cli_usage_error("bisect", "--bad given twice");
				goto out;
			}
			opt.bad = optarg;
			break;
		case 'j':
			if (parse_uint(optarg, 1, 256, &opt.jobs) < 0) {
				status = cli_usage_error(
				    "bisect", "-j wants a number of probes from 1 to 256, not '%s'", optarg);
				goto out;
			}
			break;
		case OPT_FP:
			opt.first_parent = 1;
			break;
		case OPT_RETRIES:
			if (parse_uint(optarg, 0, 100, &opt.retries) < 0) {
				status = cli_usage_error(
				    "bisect", "--retries wants a number from 0 to 100, not '%s'", optarg);
				goto out;
			}
			break;
		case OPT_NOISE: {
			char *end;
			opt.noise = strtod(optarg, &end);
			if (!*optarg || *end || !(opt.noise > 0 && opt.noise < 0.5)) {
				status = cli_usage_error(
				    "bisect", "--noise wants a probability above 0 and below 0.5, not '%s'",
				    optarg);
				goto out;
			}
			break;
		}
		case OPT_WORK:
			opt.work_dir = optarg;
			break;
		case OPT_LOG:
			opt.log_dir = optarg;
			break;
		case OPT_KEEP:
			opt.keep = 1;
			break;
		case OPT_TIMEOUT: {
			unsigned secs;
			if (parse_uint(optarg, 1, 604800, &secs) < 0) {
				status = cli_usage_error(
				    "bisect", "--timeout wants seconds from 1 to 604800, not '%s'", optarg);
				goto out;
			}
			opt.timeout_ms = (uint64_t)secs * 1000;
			break;
		}
		case OPT_REVERT:
			opt.verify_revert = 1;
			break;
		case OPT_JSON:
			json = 1;
			break;
		default:
			if (optopt == 'j' || (optopt >= OPT_REPO && optopt <= OPT_JSON))
				status =
				    cli_usage_error("bisect", "option '%s' needs a value", argv[optind - 1]);
			else
				status = cli_usage_error("bisect", "unknown option '%s'", argv[optind - 1]);
			goto out;
		}
	}
	if (!n_goods) {
		status = cli_usage_error("bisect", "no --good revision");
		goto out;
	}
	if (!opt.bad) {
		status = cli_usage_error("bisect", "no --bad revision");
		goto out;
	}
	if (optind >= argc) {
		status = cli_usage_error("bisect", "no command to run after '--'");
		goto out;
	}
	if (opt.noise > 0 && !opt.retries) {
		status = cli_usage_error("bisect", "--noise needs --retries");
		goto out;
	}
	opt.good = goods;
	opt.argv = (const char *const *)argv + optind;
	if (!json)
		opt.on_probe = on_probe;
	struct bisect_report rep;
	struct rp_error err;
	if (bisect_run(&opt, &rep, &err) < 0) {
		cli_error("bisect: %s", err.msg);
		status = RP_EXIT_USAGE;
		goto out;
	}
	if (rep.verdict == BISECT_ABORTED)
		cli_error("bisect aborted: %s", rep.abort_msg ? rep.abort_msg : "a probe asked to abort");
	if (json)
		status = print_json(&rep);
	else {
		print_text(&rep, opt.jobs);
		status = RP_EXIT_OK;
	}
	if (status == RP_EXIT_OK)
		status = rep.verdict == BISECT_CULPRIT	 ? RP_EXIT_OK
			 : rep.verdict == BISECT_ABORTED ? RP_EXIT_USAGE
							 : RP_EXIT_FAILED;
	bisect_report_release(&rep);
out:
	free(goods);
	return status;
}
