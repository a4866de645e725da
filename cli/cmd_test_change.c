#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build_common.h"
#include "cli.h"
#include "common.h"
#include "reports/report.h"
#include "core/banned.h"

/*
 * Runs one package's job `runs` more times on one side and counts its
 * failures; returns -1 on an error that stops the command, 1 when a re-run
 * ended without a verdict (infrastructure, cancelled), else 0.
 */
static int rerun_failures(const struct rp_universe *u, const struct graph *g, const struct cli_build_args *args,
			  const struct build_job_report *job, const struct plan_change *changes,
			  const struct plan_change *pins, unsigned runs, unsigned *failures)
{
	struct build_options o = args->opts;
	struct build_session *s;
	struct rp_error err;
	int inconclusive = 0;
	o.only_package = o.fresh_package = u->packages[job->package].name;
	o.only_target = u->targets[job->target].name;
	o.on_progress = NULL;
	*failures = 0;
	if (build_session_open(u, &o, &s, &err) < 0) {
		cli_error("%s", err.msg);
		return -1;
	}
	for (unsigned r = 0; r < runs && !inconclusive; r++) {
		struct build_report rep;
		if (build_run(s, g, changes, args->n_changes, pins, args->n_pins, &rep, &err) < 0) {
			cli_error("%s", err.msg);
			build_session_close(s);
			return -1;
		}
		int interrupted = rep.interrupted;
		for (size_t i = 0; i < rep.n_jobs; i++) {
			const struct build_job_report *j = &rep.jobs[i];
			if (j->package != job->package || j->target != job->target)
				continue;
			if (j->outcome == BUILD_FAIL || j->outcome == BUILD_TIMEOUT)
				(*failures)++;
			else if (j->outcome != BUILD_PASS)
				inconclusive = 1;
		}
		build_report_release(&rep);
		if (interrupted) {
			build_session_close(s);
			cli_error("interrupted");
			return -1;
		}
	}
	build_session_close(s);
	return inconclusive;
}

/*
 * Runs the base (every package at its branch head) and then the head of the
 * change over the change's reverse-dependency closure. The base side is
 * answered from the cache whenever it was built before, so a change costs
 * only its own side.
 */
int cmd_test_change(int argc, char **argv)
{
	struct cli_build_args args;
	struct rp_universe *u = NULL;
	struct graph g = { 0 };
	struct build_session *s = NULL;
	struct build_report base = { 0 }, head = { 0 };
	struct report_comparison cmp = { 0 };
	struct plan_change *changes = NULL, *baseline = NULL, *pins = NULL;
	struct rp_error err;
	char *reproduce = NULL, *title = NULL;
	int status = cli_build_parse("test-change", argc, argv, &args);
	if (status != RP_EXIT_OK)
		goto out;
	if (!args.n_changes || args.all) {
		status = cli_usage_error("test-change", "expected at least one --change PACKAGE=REVISION, and no --all");
		goto out;
	}
	if ((status = cli_load_universe(args.manifest, &u, &g)) != RP_EXIT_OK)
		goto out;
	args.u = u;
	if ((status = cli_build_resolve(u, &args, &changes, &pins)) != RP_EXIT_OK)
		goto out;
	baseline = calloc(args.n_changes, sizeof(*baseline));
	size_t title_len = 32;
	for (size_t i = 0; i < args.n_changes; i++)
		title_len += strlen(args.changes[i]) + 2;
	title = calloc(1, title_len);
	if (!baseline || !title) {
		cli_error("out of memory");
		status = RP_EXIT_FAILED;
		goto out;
	}
	for (size_t i = 0; i < args.n_changes; i++) {
		/* The base runs the same plan with each changed package at its baseline revision. */
		baseline[i].package = changes[i].package;
		baseline[i].rev = u->packages[changes[i].package].branch;
		for (size_t k = 0; k < args.n_pins; k++)
			if (pins[k].package == changes[i].package)
				baseline[i].rev = pins[k].rev;
		snprintf(title + strlen(title), title_len - strlen(title), "%s%s", i ? ", " : "", args.changes[i]);
	}
	if (build_session_open(u, &args.opts, &s, &err) < 0) {
		cli_error("%s", err.msg);
		status = RP_EXIT_FAILED;
		goto out;
	}
	fprintf(stderr, "== base\n");
	if (build_run(s, &g, baseline, args.n_changes, pins, args.n_pins, &base, &err) < 0 || base.interrupted) {
		cli_error("%s", base.interrupted ? "interrupted while building the base" : err.msg);
		status = RP_EXIT_FAILED;
		goto out;
	}
	fprintf(stderr, "== change: %s\n", title);
	if (build_run(s, &g, changes, args.n_changes, pins, args.n_pins, &head, &err) < 0 || head.interrupted ||
	    report_compare(&base, &head, &cmp, &err) < 0) {
		cli_error("%s", head.interrupted ? "interrupted while building the change" : err.msg);
		status = RP_EXIT_FAILED;
		goto out;
	}
	/*
	 * A test failure is called a regression only when it fails on every run
	 * with the change and on none without; otherwise it is flaky. Build
	 * failures are deterministic (same key, same compiler): no re-runs.
	 */
	for (size_t i = 0; args.retries > 1 && i < cmp.n_pairs; i++) {
		const struct report_pair *p = &cmp.pairs[i];
		if (p->verdict != VERDICT_REGRESSED || !p->head->failed_step || strcmp(p->head->failed_step, "test") != 0)
			continue;
		unsigned head_failures, base_failures;
		fprintf(stderr, "== re-running %s on %s %u more times on each side\n", u->packages[p->head->package].name,
			u->targets[p->head->target].name, args.retries - 1);
		int h = rerun_failures(u, &g, &args, p->head, changes, pins, args.retries - 1, &head_failures);
		int b = h < 0 ? h : rerun_failures(u, &g, &args, p->head, baseline, pins, args.retries - 1, &base_failures);
		if (h < 0 || b < 0) {
			status = RP_EXIT_FAILED;
			goto out;
		}
		/* A re-run without a verdict leaves the pair without one too. */
		report_settle(&cmp, i, args.retries, head_failures + 1, base_failures, h || b);
	}
	reproduce = cli_build_reproduce(&args);
	int rc = args.json ? report_comparison_json(stdout, u, &cmp, title)
			   : report_comparison_markdown(stdout, u, &cmp, title, reproduce);
	if (rc < 0)
		cli_error("cannot write the report");
	/* No verdict (an infrastructure error on either side) is no success either. */
	status = cmp.counts[VERDICT_REGRESSED] || cmp.counts[VERDICT_ERROR] || rc < 0 ? RP_EXIT_FAILED : RP_EXIT_OK;
out:
	free(reproduce);
	free(title);
	report_comparison_release(&cmp);
	build_report_release(&base);
	build_report_release(&head);
	build_session_close(s);
	free(changes);
	free(baseline);
	free(pins);
	free(args.changes);
	free(args.pins);
	graph_release(&g);
	manifest_free(u);
	return status;
}
