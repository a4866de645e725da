/*
 * farm_coverage.c — coverage in the farm (farm.h, "coverage"): each coverage
 * job's figures merged into its commit's, and the documents the API serves.
 *
 * Merging runs on the server's main loop (farm_coverage_merge), a few
 * reports at a time: reading and writing the documents happens outside the
 * farm's lock, and only the final record takes it. Only that loop merges,
 * so no two merges of one commit ever race. A merged document is written
 * under a new name per report count and the record points at it only once
 * committed: a merge cut short by a crash is done again from the previous
 * document, never counted twice.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "core/buildkey.h"
#include "coverage/coverage.h"
#include "runner/git.h"
#include "scheduler/history.h"
#include "scheduler/farm-internal.h"
#include "core/banned.h"

/* Without news from a result, pending reports are looked for this often (a restart leaves some). */
#define COVERAGE_POLL_MS 10000
/* The largest source file the file view shows. */
#define COVERAGE_SOURCE_MAX (4u << 20)

/* Reads the coverage document at `path` (ripple's JSON) into *r. */
static int load_document(const char *path, struct cov_report *r, struct rp_error *err)
{
	json_error_t jerr;
	json_t *doc = json_load_file(path, 0, &jerr);
	memset(r, 0, sizeof(*r));
	if (!doc)
		return rp_error_set(err, errno == ENOENT ? RP_ENOTFOUND : RP_EINVAL, "%s:%d:%d: %s", path, jerr.line,
				    jerr.column, jerr.text);
	int rc = coverage_from_json(doc, r, err);
	json_decref(doc);
	return rc;
}

static int load_artifact(struct farm *f, const char *key, struct cov_report *r, struct rp_error *err)
{
	json_t *doc;
	memset(r, 0, sizeof(*r));
	int rc = farm__artifact_json(f, key, "coverage", "the coverage", &doc, err);
	if (rc == 0)
		rc = coverage_from_json(doc, r, err);
	json_decref(doc);
	return rc;
}

static void figures_of(const struct cov_totals *t, int64_t figures[6])
{
	figures[STORE_COV_LINES_COVERED] = (int64_t)t->lines.covered;
	figures[STORE_COV_LINES_TOTAL] = (int64_t)t->lines.total;
	figures[STORE_COV_BRANCHES_COVERED] = (int64_t)t->branches.covered;
	figures[STORE_COV_BRANCHES_TOTAL] = (int64_t)t->branches.total;
	figures[STORE_COV_FUNCTIONS_COVERED] = (int64_t)t->functions.covered;
	figures[STORE_COV_FUNCTIONS_TOTAL] = (int64_t)t->functions.total;
}

static struct cov_totals totals_of(const int64_t figures[6])
{
	struct cov_totals t = {
		{ (uint64_t)figures[STORE_COV_LINES_COVERED], (uint64_t)figures[STORE_COV_LINES_TOTAL] },
		{ (uint64_t)figures[STORE_COV_BRANCHES_COVERED], (uint64_t)figures[STORE_COV_BRANCHES_TOTAL] },
		{ (uint64_t)figures[STORE_COV_FUNCTIONS_COVERED], (uint64_t)figures[STORE_COV_FUNCTIONS_TOTAL] },
	};
	return t;
}

/* Writes `doc` to blobs/`rel` through a temporary file, synced: the record will point at it. */
static int write_document(struct farm *f, const char *rel, json_t *doc, struct rp_error *err)
{
	char path[PATH_MAX + 512], tmp[PATH_MAX + 528], dir[PATH_MAX + 512];
	snprintf(path, sizeof(path), "%s/%s", f->blobs_dir, rel);
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	*slash = '\0';
	for (char *p = dir + strlen(f->blobs_dir) + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return rp_error_set(err, RP_EIO, "cannot create %s: %s", dir, strerror(errno));
		*p = '/';
	}
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return rp_error_set(err, RP_EIO, "cannot create %s: %s", dir, strerror(errno));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *fp = fopen(tmp, "w");
	if (!fp)
		return rp_error_set(err, RP_EIO, "cannot write %s: %s", tmp, strerror(errno));
	int bad = json_dumpf(doc, fp, JSON_COMPACT) != 0;
	bad |= fflush(fp) != 0 || fsync(fileno(fp)) != 0;
	bad |= fclose(fp) != 0;
	if (bad || rename(tmp, path) != 0) {
		int e = errno;
		unlink(tmp);
		return rp_error_set(err, RP_EIO, "cannot write %s: %s", path, strerror(e));
	}
	return 0;
}

/* Merges one waiting report into its commit's figures. */
static int merge_one(struct farm *f, const struct store_coverage_report *rep, struct rp_error *err)
{
	struct cov_report add, merged;
	struct store_coverage_commit have = { 0 }, now = { 0 };
	char rel[400], old[PATH_MAX + 400] = "";
	struct rp_error why;
	int rc = load_artifact(f, rep->build_key, &add, &why);
	if (rc < 0) {
		/* Unreadable figures are left out, with the reason, instead of blocking every later report. */
		farm__write_lock(f);
		rc = store_coverage_merged(f->st, rep->build_key, NULL, why.msg, err);
		if (farm__write_unlock(f, rc == 0 ? err : NULL) < 0 && rc == 0)
			rc = RP_EDB;
		return rc;
	}
	struct store_run run;
	pthread_mutex_lock(&f->lock);
	rc = store_coverage_commit_get(f->st, rep->package, rep->commit, &have, err);
	/* A pull request's commit is no point of the trend; a nightly's or a manual run's is. */
	if (store_run_get(f->st, rep->run_id, &run, &why) == 0) {
		now.mainline = run.kind == STORE_RUN_NIGHTLY || run.kind == STORE_RUN_MANUAL;
		store_run_release(&run);
	}
	pthread_mutex_unlock(&f->lock);
	if (rc == 0) {
		char path[PATH_MAX + 400];
		snprintf(path, sizeof(path), "%s/%.390s", f->blobs_dir, have.location);
		snprintf(old, sizeof(old), "%s", path);
		if ((rc = load_document(path, &merged, err)) == 0)
			rc = coverage_merge(&merged, &add, err);
		coverage_report_release(&add);
	} else if (rc == RP_ENOTFOUND) {
		merged = add; /* the commit's first report; release() zeroes, so `add` is released once */
		memset(&add, 0, sizeof(add));
		rc = 0;
	}
	if (rc < 0) {
		coverage_report_release(&add);
		coverage_report_release(&merged);
		store_coverage_commit_release(&have);
		return rc;
	}
	snprintf(rel, sizeof(rel), "coverage/%.2s/%s/%s.%lld.json", rep->commit, rep->commit, rep->package,
		 (long long)have.reports + 1);
	json_t *doc = coverage_to_json(&merged, 1);
	rc = doc ? write_document(f, rel, doc, err) : rp_error_set(err, RP_ENOMEM, "out of memory");
	json_decref(doc);
	if (rc == 0) {
		now.package = rep->package;
		now.commit = rep->commit;
		now.updated_ms = farm__now_ms();
		now.location = rel;
		figures_of(&merged.totals, now.figures);
		farm__write_lock(f);
		rc = store_coverage_merged(f->st, rep->build_key, &now, NULL, err);
		if (farm__write_unlock(f, rc == 0 ? err : NULL) < 0 && rc == 0)
			rc = RP_EDB;
		if (rc == 0 && old[0])
			unlink(old);
	}
	coverage_report_release(&merged);
	store_coverage_commit_release(&have);
	return rc;
}

int farm_coverage_merge(struct farm *f, size_t max, size_t *merged, struct rp_error *err)
{
	struct store_coverage_report *list = NULL;
	size_t n = 0;
	int64_t now = farm__now_ms();
	*merged = 0;
	if (!atomic_exchange(&f->coverage_due, 0) && now < f->next_coverage_ms)
		return 0;
	f->next_coverage_ms = now + COVERAGE_POLL_MS;
	pthread_mutex_lock(&f->lock);
	int rc = store_coverage_pending(f->st, max, &list, &n, err);
	pthread_mutex_unlock(&f->lock);
	for (size_t i = 0; i < n && rc == 0; i++)
		if ((rc = merge_one(f, &list[i], err)) == 0)
			(*merged)++;
	if (n == max) /* more may wait: the next call looks at once */
		atomic_store(&f->coverage_due, 1);
	store_coverage_reports_free(list, n);
	return rc;
}

/* ---- documents --------------------------------------------------------------------------- */

static json_t *commit_json(const struct store_coverage_commit *c)
{
	struct cov_totals t = totals_of(c->figures);
	return json_pack("{s:s, s:s, s:I, s:I, s:I, s:o}", "package", c->package, "commit", c->commit, "time",
			 (json_int_t)c->first_ms, "updated", (json_int_t)c->updated_ms, "reports",
			 (json_int_t)c->reports, "totals", coverage_totals_json(&t));
}

int farm_coverage_packages_json(struct farm *f, json_t **out, struct rp_error *err)
{
	struct store_coverage_commit *list = NULL;
	size_t n = 0;
	pthread_mutex_lock(&f->lock);
	int rc = store_coverage_packages(f->st, &list, &n, err);
	pthread_mutex_unlock(&f->lock);
	if (rc < 0)
		return rc;
	json_t *pkgs = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(pkgs, commit_json(&list[i]));
	store_coverage_commits_free(list, n);
	*out = json_pack("{s:o}", "packages", pkgs);
	return *out ? 0 : rp_error_set(err, RP_ENOMEM, "out of memory");
}

static int known_package(struct farm *f, const char *package, struct rp_error *err)
{
	if (manifest_find_package(f->u, package) < 0)
		return rp_error_set(err, RP_ENOTFOUND, "no package %s in universe %s", package, f->u->name);
	return 0;
}

int farm_coverage_package_json(struct farm *f, const char *package, size_t limit, json_t **out, struct rp_error *err)
{
	struct store_coverage_commit *list = NULL;
	size_t n = 0;
	int rc = known_package(f, package, err);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&f->lock);
	rc = store_coverage_commits(f->st, package, 1, 0, limit, &list, &n, err);
	pthread_mutex_unlock(&f->lock);
	if (rc < 0)
		return rc;
	json_t *commits = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *c = commit_json(&list[i]);
		json_object_del(c, "package");
		json_array_append_new(commits, c);
	}
	*out = json_pack("{s:s, s:o, s:o}", "package", package, "commits", commits, "latest",
			 n ? json_string(list[n - 1].commit) : json_null());
	store_coverage_commits_free(list, n);
	return *out ? 0 : rp_error_set(err, RP_ENOMEM, "out of memory");
}

/* The merged coverage of (package, commit) — `commit` "latest" for the newest — as a report. */
static int commit_report(struct farm *f, const char *package, const char *commit, struct store_coverage_commit *c,
			 struct cov_report *r, struct rp_error *err)
{
	int rc = known_package(f, package, err);
	memset(c, 0, sizeof(*c));
	memset(r, 0, sizeof(*r));
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&f->lock);
	if (strcmp(commit, "latest") == 0) {
		struct store_coverage_commit *list = NULL;
		size_t n = 0;
		rc = store_coverage_commits(f->st, package, 1, 0, 1, &list, &n, err);
		if (rc == 0 && n == 0)
			rc = rp_error_set(err, RP_ENOTFOUND, "no coverage of %s from a nightly or manual run yet", package);
		if (rc == 0) { /* the newest is the one: it moves out of the list */
			*c = list[0];
			list[0].mem_ = NULL;
		}
		store_coverage_commits_free(list, n);
	} else if (strlen(commit) != 40 || strspn(commit, "0123456789abcdef") != 40) {
		rc = rp_error_set(err, RP_EINVAL, "commit: expected 40 lowercase hex digits or \"latest\"");
	} else {
		rc = store_coverage_commit_get(f->st, package, commit, c, err);
	}
	pthread_mutex_unlock(&f->lock);
	if (rc == 0) {
		char path[PATH_MAX + 400];
		snprintf(path, sizeof(path), "%s/%.390s", f->blobs_dir, c->location);
		if ((rc = load_document(path, r, err)) == RP_ENOTFOUND)
			rc = rp_error_set(err, RP_EIO, "the coverage of %s at %.12s is recorded but its file is missing",
					  package, c->commit);
	}
	if (rc < 0)
		store_coverage_commit_release(c);
	return rc;
}

int farm_coverage_commit_json(struct farm *f, const char *package, const char *commit, json_t **out,
			      struct rp_error *err)
{
	struct store_coverage_commit c;
	struct cov_report r;
	int rc = commit_report(f, package, commit, &c, &r, err);
	if (rc < 0)
		return rc;
	json_t *doc = coverage_to_json(&r, 0), *head = commit_json(&c);
	if (doc && head) {
		json_object_del(doc, "root");
		json_object_update(head, doc);
	}
	json_decref(doc);
	*out = head;
	coverage_report_release(&r);
	store_coverage_commit_release(&c);
	return *out ? 0 : rp_error_set(err, RP_ENOMEM, "out of memory");
}

int farm_coverage_export(struct farm *f, const char *package, const char *commit, const char *format, char **text,
			 size_t *len, struct rp_error *err)
{
	struct store_coverage_commit c;
	struct cov_report r;
	*text = NULL;
	*len = 0;
	if (strcmp(format, "lcov") != 0 && strcmp(format, "cobertura") != 0)
		return rp_error_set(err, RP_EINVAL, "format: expected \"json\", \"lcov\" or \"cobertura\"");
	int rc = commit_report(f, package, commit, &c, &r, err);
	if (rc < 0)
		return rc;
	/* Where the job saw its sources means nothing to a reader: paths are the repository's own. */
	char *job_root = r.root;
	r.root = ".";
	FILE *fp = open_memstream(text, len);
	if (!fp)
		rc = rp_error_set(err, RP_ENOMEM, "out of memory");
	else {
		rc = strcmp(format, "lcov") == 0 ? coverage_write_lcov(&r, fp, err) : coverage_write_cobertura(&r, fp, err);
		if (fclose(fp) != 0 && rc == 0)
			rc = rp_error_set(err, RP_ENOMEM, "out of memory");
		if (rc < 0) {
			free(*text);
			*text = NULL;
		}
	}
	r.root = job_root;
	coverage_report_release(&r);
	store_coverage_commit_release(&c);
	return rc;
}

/* The text of `path` at `commit` of `package`, from the farm's mirror; NULL when it cannot be read. */
static json_t *source_of(struct farm *f, const char *package, const char *commit, const char *path)
{
	long p = manifest_find_package(f->u, package);
	struct mirror *m = NULL;
	struct rp_error err;
	git_oid oid;
	char *data = NULL;
	size_t len = 0;
	json_t *text = NULL;
	if (p < 0 || git_oid_fromstr(&oid, commit) < 0)
		return json_null();
	if (mirror_open(f->mirrors_dir, f->u->packages[p].repo, f->u->dir, &m, &err) == 0 &&
	    mirror_file_at(m, &oid, path, COVERAGE_SOURCE_MAX, &data, &len, &err) == 0)
		text = json_stringn(data, len); /* NULL when it is not UTF-8 */
	mirror_close(m);
	free(data);
	return text ? text : json_null();
}

int farm_coverage_file_json(struct farm *f, const char *package, const char *commit, const char *path,
			    json_t **out, struct rp_error *err)
{
	struct store_coverage_commit c;
	struct cov_report r;
	int rc = commit_report(f, package, commit, &c, &r, err);
	if (rc < 0)
		return rc;
	const struct cov_file *file = NULL;
	for (size_t i = 0; i < r.n_files && !file; i++)
		if (strcmp(r.files[i].path, path) == 0)
			file = &r.files[i];
	if (!file) {
		rc = rp_error_set(err, RP_ENOTFOUND, "no file %s in the coverage of %s at %.12s", path, package, c.commit);
	} else {
		/* The one file, through the same JSON as the whole report. */
		struct cov_report one = r;
		one.files = (struct cov_file *)file;
		one.n_files = 1;
		json_t *doc = coverage_to_json(&one, 1);
		json_t *fdoc = doc ? json_incref(json_array_get(json_object_get(doc, "files"), 0)) : NULL;
		json_decref(doc);
		if (fdoc) {
			json_object_set_new(fdoc, "package", json_string(package));
			json_object_set_new(fdoc, "commit", json_string(c.commit));
			json_object_set_new(fdoc, "source", source_of(f, package, c.commit, path));
		}
		*out = fdoc;
		if (!fdoc)
			rc = rp_error_set(err, RP_ENOMEM, "out of memory");
	}
	coverage_report_release(&r);
	store_coverage_commit_release(&c);
	return rc;
}

/* ---- a run's report ---------------------------------------------------------------------- */

/* At most this many uncovered patch lines named per file. */
#define COVERAGE_PATCH_LINES_SHOWN 20

static json_t *change_json(const struct cov_totals *head, const struct cov_totals *base)
{
	return json_pack("{s:f, s:f, s:f}", "lines", coverage_percent(head->lines) - coverage_percent(base->lines),
			 "branches", coverage_percent(head->branches) - coverage_percent(base->branches), "functions",
			 coverage_percent(head->functions) - coverage_percent(base->functions));
}

/* The patch between the base's and the head's commit of `package`, covered by `head` (JSON members into `entry`). */
static void add_patch(struct farm *f, const char *package, const char *base, const char *head,
		      const struct cov_report *r, json_t *entry)
{
	long p = manifest_find_package(f->u, package);
	struct mirror *m = NULL;
	struct cov_patch patch;
	struct rp_error err;
	if (p < 0 || mirror_open(f->mirrors_dir, f->u->packages[p].repo, f->u->dir, &m, &err) < 0) {
		json_object_set_new(entry, "patch_problem", json_string(p < 0 ? "not in the universe" : err.msg));
		return;
	}
	int rc = coverage_patch_lines(mirror_path(m), base, head, &patch, &err);
	mirror_close(m);
	if (rc < 0) {
		json_object_set_new(entry, "patch_problem", json_string(err.msg));
		return;
	}
	struct cov_count total, *per_file = calloc(patch.n_files + 1, sizeof(*per_file));
	json_t *files = json_array();
	if (!per_file || !files) {
		free(per_file);
		json_decref(files);
		coverage_patch_release(&patch);
		return;
	}
	coverage_patch_figures(r, &patch, &total, per_file);
	for (size_t i = 0; i < patch.n_files; i++) {
		if (!per_file[i].total)
			continue; /* nothing in it that runs: a header's comment, a README */
		uint32_t shown[COVERAGE_PATCH_LINES_SHOWN];
		size_t n = coverage_patch_uncovered(r, &patch.files[i], shown, COVERAGE_PATCH_LINES_SHOWN);
		json_t *lines = json_array();
		for (size_t k = 0; k < n && k < COVERAGE_PATCH_LINES_SHOWN; k++)
			json_array_append_new(lines, json_integer(shown[k]));
		json_array_append_new(files, json_pack("{s:s, s:I, s:I, s:I, s:o}", "path", patch.files[i].path, "covered",
						       (json_int_t)per_file[i].covered, "total",
						       (json_int_t)per_file[i].total, "uncovered", (json_int_t)n,
						       "lines", lines));
	}
	json_object_set_new(entry, "patch",
			    total.total ? json_pack("{s:I, s:I, s:f}", "covered", (json_int_t)total.covered, "total",
						    (json_int_t)total.total, "percent", coverage_percent(total))
					: json_null());
	json_object_set_new(entry, "patch_base", json_string(patch.base));
	json_object_set_new(entry, "patch_files", files);
	free(per_file);
	coverage_patch_release(&patch);
}

json_t *farm__run_coverage(struct farm *f, const struct store_job *jobs, size_t n, const struct store_job *before,
			   size_t nb)
{
	json_t *list = json_array();
	for (size_t i = 0; list && i < n; i++) {
		const struct store_job *j = &jobs[i];
		if (strcmp(j->variant, "coverage") != 0 || j->rerun_of || !j->build_key || !j->has_status)
			continue;
		if (j->status != STORE_RESULT_PASS) { /* its tests failed or never ran: nothing measured */
			json_array_append_new(list, json_pack("{s:s, s:s, s:I, s:n, s:s}", "package", j->package, "commit",
							      j->commit, "job", (json_int_t)j->id, "totals", "problem",
							      "its tests did not pass: no figures"));
			continue;
		}
		struct cov_report head, base;
		struct rp_error err;
		json_t *entry = json_pack("{s:s, s:s, s:I}", "package", j->package, "commit", j->commit, "job",
					  (json_int_t)j->id);
		if (!entry)
			continue;
		if (load_artifact(f, j->build_key, &head, &err) < 0) {
			json_object_set_new(entry, "totals", json_null());
			json_object_set_new(entry, "problem", json_string(err.msg));
			json_array_append_new(list, entry);
			continue;
		}
		json_object_set_new(entry, "totals", coverage_totals_json(&head.totals));
		/* The base: the coverage job of the same package in the nightly compared with. */
		const struct store_job *b = NULL;
		for (size_t k = 0; k < nb && !b; k++)
			if (strcmp(before[k].variant, "coverage") == 0 && !before[k].rerun_of &&
			    strcmp(before[k].package, j->package) == 0 && before[k].build_key)
				b = &before[k];
		if (b && load_artifact(f, b->build_key, &base, &err) == 0) {
			json_object_set_new(entry, "base", json_pack("{s:s, s:o}", "commit", b->commit, "totals",
								     coverage_totals_json(&base.totals)));
			json_object_set_new(entry, "change", change_json(&head.totals, &base.totals));
			coverage_report_release(&base);
		} else {
			json_object_set_new(entry, "base", json_null());
			json_object_set_new(entry, "change", json_null());
		}
		if (b && strcmp(b->commit, j->commit) != 0)
			add_patch(f, j->package, b->commit, j->commit, &head, entry);
		else
			json_object_set_new(entry, "patch", json_null());
		coverage_report_release(&head);
		json_array_append_new(list, entry);
	}
	return list ? list : json_array();
}

void farm__coverage_metrics(struct farm *f, const char *build_key, struct history_metrics *m)
{
	struct cov_report r;
	struct rp_error err;
	if (!build_key || load_artifact(f, build_key, &r, &err) < 0)
		return;
	const struct {
		const char *name;
		struct cov_count c;
	} figures[] = { { HISTORY_COVERAGE, r.totals.lines },
			{ HISTORY_BRANCH_COVERAGE, r.totals.branches },
			{ HISTORY_FUNCTION_COVERAGE, r.totals.functions } };
	for (size_t i = 0; i < 3 && m->n < HISTORY_METRICS_MAX; i++) {
		if (!figures[i].c.total)
			continue; /* nothing to cover is no figure */
		struct history_metric *hm = &m->items[m->n++];
		snprintf(hm->name, sizeof(hm->name), "%s", figures[i].name);
		snprintf(hm->unit, sizeof(hm->unit), "%%");
		hm->value = coverage_percent(figures[i].c);
		hm->line = 0;
	}
	coverage_report_release(&r);
}
