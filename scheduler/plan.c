#include "plan.h"

#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

/* Revisions are names git accepts, shown in tables and JSON: printable ASCII only. */
static int plan__rev_is_printable(const char *rev)
{
	for (const unsigned char *p = (const unsigned char *)rev; *p; p++)
		if (*p <= ' ' || *p >= 0x7f)
			return 0;
	return 1;
}

int plan_parse_change(const struct rp_universe *u, const char *spec, struct plan_change *change,
		      struct rp_error *err)
{
	const char *eq = strchr(spec, '=');
	if (!eq || eq == spec || eq[1] == '\0')
		return rp_error_set(err, RP_EINVAL, "--change \"%s\": expected PACKAGE=REVISION", spec);
	char name[MANIFEST_NAME_MAX + 1];
	size_t len = (size_t)(eq - spec);
	if (len > MANIFEST_NAME_MAX)
		return rp_error_set(err, RP_EINVAL, "--change \"%s\": package name longer than %d characters", spec,
				    MANIFEST_NAME_MAX);
	memcpy(name, spec, len);
	name[len] = '\0';
	long index = manifest_find_package(u, name);
	if (index < 0) {
		const char *hint = manifest_suggest_package(u, name);
		return rp_error_set(err, RP_EINVAL, "--change \"%s\": no package \"%s\" in universe \"%s\"%s%s%s",
				    spec, name, u->name, hint ? "; did you mean \"" : "", hint ? hint : "",
				    hint ? "\"?" : "");
	}
	const char *rev = eq + 1;
	if (strlen(rev) > PLAN_REV_MAX || !plan__rev_is_printable(rev))
		return rp_error_set(err, RP_EINVAL,
				    "--change %s=...: the revision must be at most %d printable ASCII characters "
				    "without spaces, such as a branch, a tag or a commit id",
				    name, PLAN_REV_MAX);
	change->package = (size_t)index;
	change->rev = rev;
	return 0;
}

void plan_release(struct plan *p)
{
	free(p->jobs);
	free(p->edges);
	memset(p, 0, sizeof(*p));
}

int plan_build(const struct rp_universe *u, const struct graph *g, const struct plan_change *changes,
	       size_t n_changes, struct plan *out, struct rp_error *err)
{
	size_t n = u->n_packages;
	unsigned char *in_plan = malloc(n ? n : 1);
	size_t *order = malloc((n ? n : 1) * sizeof(*order));
	size_t *seeds = malloc((n_changes ? n_changes : 1) * sizeof(*seeds));
	const char **rev = calloc(n ? n : 1, sizeof(*rev));
	/* first_job[p] + t': the job of package p on its t'-th declared target. */
	size_t *first_job = malloc((n ? n : 1) * sizeof(*first_job));
	int rc = 0;
	memset(out, 0, sizeof(*out));
	if (!in_plan || !order || !seeds || !rev || !first_job) {
		rc = rp_error_set(err, RP_ENOMEM, "out of memory while planning");
		goto out;
	}
	for (size_t i = 0; i < n_changes; i++) {
		size_t pkg = changes[i].package;
		if (pkg >= n || !changes[i].rev) {
			rc = rp_error_set(err, RP_EINVAL, "change %zu names no package of the universe", i + 1);
			goto out;
		}
		if (rev[pkg] && strcmp(rev[pkg], changes[i].rev) != 0) {
			rc = rp_error_set(err, RP_EINVAL, "package \"%s\" is changed twice, to \"%s\" and to \"%s\"",
					  u->packages[pkg].name, rev[pkg], changes[i].rev);
			goto out;
		}
		if (!rev[pkg])
			out->n_changed++;
		rev[pkg] = changes[i].rev;
		seeds[i] = pkg;
	}
	if (n_changes) {
		if (graph_reverse_closure(g, seeds, n_changes, in_plan) < 0) {
			rc = rp_error_set(err, RP_ENOMEM, "out of memory while planning");
			goto out;
		}
	} else {
		memset(in_plan, 1, n);
	}
	long n_order = graph_topo_order(g, in_plan, order);
	if (n_order < 0) {
		rc = rp_error_set(err, (int)n_order, "cannot order the plan: %s", rp_strerror((int)n_order));
		goto out;
	}
	size_t n_jobs = 0, n_edges = 0;
	for (long k = 0; k < n_order; k++) {
		const struct rp_package *p = &u->packages[order[k]];
		first_job[order[k]] = n_jobs;
		n_jobs += p->n_targets;
		for (size_t d = 0; d < p->n_depends; d++)
			if (in_plan[p->depends[d]])
				n_edges += p->n_targets;
	}
	out->jobs = calloc(n_jobs ? n_jobs : 1, sizeof(*out->jobs));
	out->edges = malloc((n_edges ? n_edges : 1) * sizeof(*out->edges));
	if (!out->jobs || !out->edges) {
		rc = rp_error_set(err, RP_ENOMEM, "out of memory while planning %zu jobs", n_jobs);
		goto out;
	}
	out->n_packages = (size_t)n_order;
	for (long k = 0; k < n_order; k++) {
		size_t pkg = order[k];
		const struct rp_package *p = &u->packages[pkg];
		for (size_t t = 0; t < p->n_targets; t++) {
			struct plan_job *job = &out->jobs[out->n_jobs++];
			job->package = pkg;
			job->target = p->targets[t];
			job->rev = rev[pkg];
			job->after = out->edges + out->n_edges;
			for (size_t d = 0; d < p->n_depends; d++) {
				size_t dep = p->depends[d];
				if (!in_plan[dep])
					continue;
				/* The manifest guarantees the dependency supports this target. */
				const struct rp_package *dp = &u->packages[dep];
				size_t dt = 0;
				while (dp->targets[dt] != job->target)
					dt++;
				size_t pos = job->n_after++;
				/* Kept ascending, so the plan reads the same whatever the manifest's order. */
				while (pos > 0 && job->after[pos - 1] > first_job[dep] + dt) {
					job->after[pos] = job->after[pos - 1];
					pos--;
				}
				job->after[pos] = first_job[dep] + dt;
				out->n_edges++;
			}
		}
	}
out:
	free(in_plan);
	free(order);
	free(seeds);
	free(rev);
	free(first_job);
	if (rc < 0)
		plan_release(out);
	return rc;
}
