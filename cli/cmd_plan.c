#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "common.h"
#include "core/store.h"
#include "scheduler/plan.h"
#include "core/banned.h"

/*
 * CPU time the plan is likely to take, from the latest recorded build of each
 * job's package and target in the build cache beside the manifest (as
 * `ripple build` keeps it). Returns how many jobs had a history; none without
 * a cache. The cache is opened read-only and never created or migrated.
 */
static size_t plan_estimate(const struct rp_universe *u, const struct plan *p, const char *manifest, double *seconds)
{
	char db[4200];
	const char *slash = strrchr(manifest, '/');
	struct store *st;
	size_t known = 0;
	*seconds = 0;
	if (slash)
		snprintf(db, sizeof(db), "%.*s/.ripple/ripple.db", (int)(slash - manifest), manifest);
	else
		snprintf(db, sizeof(db), ".ripple/ripple.db");
	if (access(db, R_OK) < 0 || store_open(db, STORE_READONLY, &st, NULL) < 0)
		return 0;
	for (size_t j = 0; j < p->n_jobs; j++) {
		int64_t ms;
		if (store_build_last_duration(st, u->packages[p->jobs[j].package].name,
					      u->targets[p->jobs[j].target].name, &ms, NULL) == 0) {
			*seconds += (double)ms / 1000;
			known++;
		}
	}
	store_close(st);
	return known;
}

/* The plan as JSON; NULL when any part could not be built (cli_print_json says so). */
static json_t *plan_json(const struct rp_universe *u, const struct plan *p, const struct plan_change *changes,
			 size_t n_changes, const char *manifest)
{
	double seconds;
	size_t known = plan_estimate(u, p, manifest, &seconds);
	json_t *jchanges = json_array(), *jobs = json_array();
	int ok = jchanges && jobs;
	for (size_t i = 0; ok && i < n_changes; i++)
		ok = json_array_append_new(jchanges, json_pack("{s:s, s:s}", "package",
							       u->packages[changes[i].package].name, "revision",
							       changes[i].rev)) == 0;
	for (size_t j = 0; ok && j < p->n_jobs; j++) {
		const struct plan_job *job = &p->jobs[j];
		const struct rp_package *pkg = &u->packages[job->package];
		json_t *after = json_array();
		for (size_t k = 0; after && k < job->n_after; k++)
			if (json_array_append_new(after, json_integer((json_int_t)job->after[k] + 1)) < 0)
				json_decref(after), after = NULL;
		ok = after && json_array_append_new(jobs, json_pack("{s:I, s:s, s:s, s:s, s:b, s:o}", "id",
								    (json_int_t)j + 1, "package", pkg->name, "target",
								    u->targets[job->target].name, "revision",
								    job->rev ? job->rev : pkg->branch, "changed",
								    job->rev != NULL, "after", after)) == 0;
	}
	if (!ok) {
		json_decref(jchanges);
		json_decref(jobs);
		return NULL;
	}
	return json_pack("{s:s, s:o, s:I, s:I, s:I, s:o, s:I, s:o}", "universe", u->name, "changes", jchanges,
			 "packages", (json_int_t)p->n_packages, "jobs_count", (json_int_t)p->n_jobs, "edges",
			 (json_int_t)p->n_edges, "estimated_cpu_seconds", known ? json_real(seconds) : json_null(),
			 "jobs_with_history", (json_int_t)known, "jobs", jobs);
}

static void plan_print(const struct rp_universe *u, const struct plan *p, const struct plan_change *changes,
		       size_t n_changes, const char *manifest)
{
	printf("universe \"%s\": %zu packages, %zu targets\n", u->name, u->n_packages, u->n_targets);
	for (size_t i = 0; i < n_changes; i++)
		printf("change: %s=%s\n", u->packages[changes[i].package].name, changes[i].rev);
	if (!n_changes)
		printf("change: none (the whole universe at its branch heads)\n");
	if (n_changes)
		printf("plan: %zu jobs for %zu packages (%zu changed, %zu downstream), %zu edges\n", p->n_jobs,
		       p->n_packages, p->n_changed, p->n_packages - p->n_changed, p->n_edges);
	else
		printf("plan: %zu jobs for %zu packages, %zu edges\n", p->n_jobs, p->n_packages, p->n_edges);
	double seconds;
	size_t known = plan_estimate(u, p, manifest, &seconds);
	if (known)
		printf("estimated CPU time: %.1f s (from the last builds of %zu of the %zu jobs)\n\n", seconds, known,
		       p->n_jobs);
	else
		printf("estimated CPU time: unknown (no build history yet)\n\n");
	int name_width = 7, target_width = 6;
	for (size_t j = 0; j < p->n_jobs; j++) {
		int n = (int)strlen(u->packages[p->jobs[j].package].name);
		int t = (int)strlen(u->targets[p->jobs[j].target].name);
		name_width = n > name_width ? n : name_width;
		target_width = t > target_width ? t : target_width;
	}
	printf("%5s  %-*s  %-*s  %-20s  %s\n", "job", name_width, "package", target_width, "target", "revision",
	       "after");
	for (size_t j = 0; j < p->n_jobs; j++) {
		const struct plan_job *job = &p->jobs[j];
		const struct rp_package *pkg = &u->packages[job->package];
		char rev[PLAN_REV_MAX + 16];
		if (job->rev)
			snprintf(rev, sizeof(rev), "%s (change)", job->rev);
		else
			snprintf(rev, sizeof(rev), "%s", pkg->branch);
		printf("%5zu  %-*s  %-*s  %-20s ", j + 1, name_width, pkg->name, target_width,
		       u->targets[job->target].name, rev);
		for (size_t k = 0; k < job->n_after; k++)
			printf(" %zu", job->after[k] + 1);
		putchar('\n');
	}
}

int cmd_plan(int argc, char **argv)
{
	static const struct option options[] = { { "json", no_argument, NULL, 'j' },
						 { "manifest", required_argument, NULL, 'm' },
						 { "change", required_argument, NULL, 'c' },
						 { NULL, 0, NULL, 0 } };
	const char *manifest = CLI_DEFAULT_MANIFEST;
	int json = 0, opt;
	char **specs = calloc((size_t)argc, sizeof(*specs));
	size_t n_specs = 0;
	if (!specs) {
		cli_error("out of memory");
		return RP_EXIT_FAILED;
	}
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "m:", options, NULL)) != -1) {
		if (opt == 'j') {
			json = 1;
		} else if (opt == 'm') {
			manifest = optarg;
		} else if (opt == 'c') {
			specs[n_specs++] = optarg;
		} else {
			free(specs);
			if (optopt == 'm' || optopt == 'c')
				return cli_usage_error("plan", "option '%s' needs a value", argv[optind - 1]);
			return cli_usage_error("plan", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc) {
		free(specs);
		return cli_usage_error("plan", "unexpected argument '%s'", argv[optind]);
	}
	struct rp_universe *u;
	struct graph g;
	struct plan plan = { 0 };
	struct plan_change *changes = NULL;
	struct rp_error err;
	int status = cli_load_universe(manifest, &u, &g);
	if (status != RP_EXIT_OK) {
		free(specs);
		return status;
	}
	changes = calloc(n_specs ? n_specs : 1, sizeof(*changes));
	if (!changes) {
		cli_error("out of memory");
		status = RP_EXIT_FAILED;
		goto out;
	}
	size_t n_changes = 0;
	for (size_t i = 0; i < n_specs; i++) {
		struct plan_change change;
		if (plan_parse_change(u, specs[i], &change, &err) < 0) {
			cli_error("%s", err.msg);
			status = RP_EXIT_USAGE;
			goto out;
		}
		/* The same change given twice is one change. */
		size_t k;
		for (k = 0; k < n_changes; k++)
			if (changes[k].package == change.package && strcmp(changes[k].rev, change.rev) == 0)
				break;
		if (k == n_changes)
			changes[n_changes++] = change;
	}
	int rc = plan_build(u, &g, changes, n_changes, &plan, &err);
	if (rc < 0) {
		cli_error("%s", err.msg);
		status = rc == RP_EINVAL ? RP_EXIT_USAGE : RP_EXIT_FAILED;
		goto out;
	}
	if (json)
		status = cli_print_json(plan_json(u, &plan, changes, n_changes, manifest));
	else
		plan_print(u, &plan, changes, n_changes, manifest);
out:
	plan_release(&plan);
	free(changes);
	free(specs);
	graph_release(&g);
	manifest_free(u);
	return status;
}
