/*
 * report.h — reports a person can act on: what a build run did, and what a
 * change broke compared with its base.
 *
 * Contract: renderers write to a FILE and return 0 or RP_EIO (a write error).
 * Failures are listed with their category, first error line, log and a
 * command that reproduces exactly that job; jobs skipped because a dependency
 * failed are collapsed under the root failure instead of listed one by one.
 * `reproduce` is the command line prefix that reproduces the run
 * ("ripple build -m ripple.json --change cstruct=abc"); the renderer adds
 * what selects one job.
 */
#ifndef RIPPLE_REPORTS_REPORT_H
#define RIPPLE_REPORTS_REPORT_H

#include <stdio.h>

#include "core/manifest.h"
#include "runner/build.h"

int report_build_markdown(FILE *out, const struct rp_universe *u, const struct build_report *r,
			  const char *reproduce);
int report_build_json(FILE *out, const struct rp_universe *u, const struct build_report *r, const char *reproduce);

/* How a (package, target) fared with the change compared with its base. */
enum report_verdict {
	VERDICT_REGRESSED,      /* passed on the base, fails with the change */
	VERDICT_FIXED,          /* failed on the base, passes with the change */
	VERDICT_STILL_FAILING,  /* fails on both */
	VERDICT_PASSING,        /* passes on both */
	VERDICT_SKIPPED,        /* a dependency failed with the change */
	VERDICT_ERROR,          /* no verdict: infrastructure on either side, or no base result */
	VERDICT_FLAKY,          /* the test failed on some runs and passed on others */
};

const char *report_verdict_name(enum report_verdict v);

/*
 * The verdict of one (package, target) from its outcome on the base (has_base
 * 0: it has none) and with the change: the rule report_compare() applies and
 * the scheduler's run reports share. An infrastructure error or a
 * cancellation on either side is VERDICT_ERROR, never a regression.
 */
enum report_verdict report_verdict_of(int has_base, enum build_outcome base, enum build_outcome head);

struct report_pair {
	const struct build_job_report *base, *head; /* base may be NULL: not built on the base */
	enum report_verdict verdict;
	unsigned runs;                  /* runs of each side behind the verdict (1 unless re-run) */
	unsigned head_failures, base_failures;
};


struct report_comparison {
	struct report_pair *pairs; /* the head's jobs, in its order */
	size_t n_pairs;
	size_t counts[VERDICT_FLAKY + 1];
};

/* Pairs each job of `head` with the base's job of the same package and target. */
int report_compare(const struct build_report *base, const struct build_report *head, struct report_comparison *out,
		   struct rp_error *err);
void report_comparison_release(struct report_comparison *c);

/*
 * Re-runs on both sides decide a test failure that looks like a regression:
 * failing on every run with the change and on none without is a regression;
 * anything else is flaky; `inconclusive` (a re-run had no verdict) leaves no
 * verdict. Updates the pair's verdict and the counts.
 */
void report_settle(struct report_comparison *c, size_t pair, unsigned runs, unsigned head_failures,
		   unsigned base_failures, int inconclusive);

int report_comparison_markdown(FILE *out, const struct rp_universe *u, const struct report_comparison *c,
			       const char *change, const char *reproduce);
int report_comparison_json(FILE *out, const struct rp_universe *u, const struct report_comparison *c,
			   const char *change);

#endif
