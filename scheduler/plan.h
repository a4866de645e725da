/*
 * plan.h — the planner: which jobs a change causes, in which order.
 *
 * Contract: plan_build() takes a validated universe, its graph and a set of
 * changes (package → revision). The plan holds the changed packages and their
 * transitive reverse dependencies (or the whole universe when there is no
 * change), each on each of its targets, as jobs in a deterministic topological
 * order: by package (dependencies first, ties by name), then by target in the
 * package's declared order. A job's `after` lists the jobs of its dependencies
 * on the same target that are in the plan; a dependency outside the plan is
 * taken from the baseline's builds. The plan owns its arrays; revision strings
 * are borrowed from the changes, which must outlive it.
 */
#ifndef RIPPLE_SCHEDULER_PLAN_H
#define RIPPLE_SCHEDULER_PLAN_H

#include <stddef.h>

#include "core/error.h"
#include "core/graph.h"
#include "core/manifest.h"

#define PLAN_REV_MAX 255

struct plan_change {
	size_t package;
	const char *rev;
};

struct plan_job {
	size_t package;
	size_t target;
	const char *rev; /* the change's revision, or NULL: the baseline (branch head) */
	size_t *after;   /* indices into plan->jobs */
	size_t n_after;
};

struct plan {
	struct plan_job *jobs;
	size_t n_jobs;
	size_t n_packages; /* distinct packages in the plan */
	size_t n_changed;
	size_t *edges; /* storage behind every job's `after` */
	size_t n_edges;
};

/*
 * Parses "PKG=REV" against the universe into `change` (rev borrowed from `spec`).
 * Errors (RP_EINVAL) name what was wrong, with a did-you-mean for a package name;
 * a revision must be 1 to PLAN_REV_MAX printable ASCII characters, no spaces.
 */
int plan_parse_change(const struct rp_universe *u, const char *spec, struct plan_change *change,
		      struct rp_error *err);

int plan_build(const struct rp_universe *u, const struct graph *g, const struct plan_change *changes,
	       size_t n_changes, struct plan *out, struct rp_error *err);

void plan_release(struct plan *p);

#endif
