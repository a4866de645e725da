/*
 * autobisect.h — the farm's own bisections: every (package, target) that a
 * nightly newly broke, or that a pull request's run regressed, is bisected
 * without a human, on the workers, through the build cache.
 *
 * Contract:
 * - One thread of `ripple serve` (autobisect_start / autobisect_stop). About
 *   once a second it plans the bisections of the runs that ended since
 *   (core/store.h, "automatic bisection") and moves every unfinished one on.
 * - The store is the truth. A bisection's probes are runs of kind bisect
 *   (change_ref "bisect:ID"), found again by their request ids; each step
 *   replays the search (bisect/bisect.h) from the answers those runs gave.
 *   A scheduler that restarts carries on where it stopped, and a probe is
 *   never submitted twice. Only the commit ranges read from the mirrors
 *   are kept in memory.
 * - Method (docs/bisect.md, "In the farm"): between the good pins (the
 *   nightly before) and the bad pins (the broken run), the repositories that
 *   changed among the broken package's dependencies (itself included) are
 *   the suspects. The good pins are probed as they are, and each suspect's
 *   new commit alone on top of them, all at once. A repository whose change
 *   alone breaks the package is bisected inside: each probe is its package
 *   at one commit on the good pins. When no change breaks it alone, the
 *   verdict is an interaction between them. A probe is one run limited to
 *   the broken package and what it needs on its target, so unchanged
 *   dependencies come from the cache and a commit probed before costs
 *   nothing. The search trusts each answer (as git bisect does) and then
 *   runs the culprit and its parent again (flaky_runs in all each, never
 *   from the cache), naming a culprit only when those agree.
 * - A pull request's run: the good pins are its own, with the changed
 *   packages at the nightly's commits, so the search names the commit of
 *   the pull request that did it; when it ends, the run's report (status
 *   and comment) is owed again with the answer in it.
 * - Functions return 0 or a negative RP_E* code with `err` filled.
 */
#ifndef RIPPLE_SCHEDULER_AUTOBISECT_H
#define RIPPLE_SCHEDULER_AUTOBISECT_H

#include <jansson.h>

#include "core/error.h"
#include "scheduler/farm.h"

struct autobisect_options {
	struct farm *farm;
	unsigned probes_per_round; /* commits probed at once in one repository; 0: 4 */
	unsigned max_per_run;	   /* bisections planned per run at most; 0: 20 */
	unsigned flaky_runs; /* runs of the culprit and of its parent in all; 0: 3; 1: no confirmation */
	void (*on_line)(const char *line, void *data); /* progress for the operator; may be NULL */
	void *data;
};

struct autobisect;

int autobisect_start(const struct autobisect_options *o, struct autobisect **out, struct rp_error *err);

/* Stops the thread and frees `a`; unfinished bisections carry on at the next start. NULL is a no-op. */
void autobisect_stop(struct autobisect *a);

/*
 * GET /api/v1/bisects[?run=N]: {"bisects": [bisect, ...]}, a run's (by
 * package, target) or the newest 100; GET /api/v1/bisects/ID: the bisection
 * with its probes ("detail"). Documents in docs/api.md.
 */
int autobisect_list_json(struct farm *f, int64_t run_id, json_t **out, struct rp_error *err);
int autobisect_json(struct farm *f, int64_t id, json_t **out, struct rp_error *err);

/* One bisection as JSON, its detail included when `with_detail` (lock held by the caller). */
json_t *autobisect_bisect_json(const struct store_bisect *b, int with_detail);

#endif
