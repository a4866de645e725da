/*
 * store_coverage.c — coverage figures in the store: each coverage job's
 * report (an artifact by build key) until it is merged, and the merged
 * figures of each (package, commit). See store.h, "coverage".
 *
 * Statements live in slots STORE__COVERAGE_SLOT.. of the store's cache.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "store-internal.h"

#include "banned.h"

#define STORE__COVERAGE_LIST_MAX 1000

enum store__cid {
	C_REPORT_ADD,
	C_PENDING,
	C_COMMIT_GET,
	C_COMMIT_PUT,
	C_REPORT_DONE,
	C_COMMITS,
	C_PACKAGES,
	C_REPORT_GET,
	C_MAINLINE,
	C_COMMITS_ALL,
	C__COUNT
};

_Static_assert(STORE__COVERAGE_SLOT + C__COUNT <= STORE__FUZZ_SLOT,
	       "store_coverage.c needs more statement slots");

#define C_COMMIT_COLUMNS                                                                                    \
	"package, commit_id, first_ms, updated_ms, reports, lines_covered, lines_total, branches_covered,"   \
	" branches_total, functions_covered, functions_total, location, mainline"

/* clang-format off */
static const char *const store__csql[C__COUNT] = {
	/* A key's report is recorded once: a flake check or a replay of its result adds nothing. */
	[C_REPORT_ADD] = "INSERT INTO coverage_reports (build_key, package, target, commit_id, run_id, job_id,"
			 " created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (build_key) DO NOTHING",
	/* The partial index coverage_reports_pending. */
	[C_PENDING] = "SELECT build_key, package, target, commit_id, run_id, job_id, created_ms"
		      " FROM coverage_reports WHERE merged = 0 ORDER BY created_ms LIMIT ?1",
	[C_COMMIT_GET] = "SELECT " C_COMMIT_COLUMNS " FROM coverage_commits WHERE package = ?1 AND commit_id = ?2",
	[C_COMMIT_PUT] = "INSERT INTO coverage_commits (" C_COMMIT_COLUMNS ")"
			 " VALUES (?1, ?2, ?3, ?3, 1, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
			 " ON CONFLICT (package, commit_id) DO UPDATE SET updated_ms = ?3, reports = reports + 1,"
			 " lines_covered = ?4, lines_total = ?5, branches_covered = ?6, branches_total = ?7,"
			 " functions_covered = ?8, functions_total = ?9, location = ?10, mainline = max(mainline, ?11)",
	[C_REPORT_DONE] = "UPDATE coverage_reports SET merged = 1, problem = ?2 WHERE build_key = ?1 AND merged = 0",
	/* coverage_commits_by_time: the newest `limit` before `before`, read back oldest first by the caller. */
	[C_COMMITS] = "SELECT " C_COMMIT_COLUMNS " FROM coverage_commits WHERE package = ?1 AND mainline = 1"
		      " AND first_ms < ?2 ORDER BY first_ms DESC, commit_id DESC LIMIT ?3",
	[C_COMMITS_ALL] = "SELECT " C_COMMIT_COLUMNS " FROM coverage_commits WHERE package = ?1 AND first_ms < ?2"
			  " ORDER BY first_ms DESC, commit_id DESC LIMIT ?3",
	/* Each package's newest commit (SQLite's bare-column rule takes that row's columns with max()). */
	[C_PACKAGES] = "SELECT package, commit_id, max(first_ms), updated_ms, reports, lines_covered, lines_total,"
		       " branches_covered, branches_total, functions_covered, functions_total, location, mainline"
		       " FROM coverage_commits WHERE mainline = 1 GROUP BY package ORDER BY package",
	[C_REPORT_GET] = "SELECT build_key, package, target, commit_id, run_id, job_id, created_ms, merged, problem"
			 " FROM coverage_reports WHERE build_key = ?1",
	[C_MAINLINE] = "UPDATE coverage_commits SET mainline = 1 WHERE package = ?1 AND commit_id = ?2",
};
/* clang-format on */

static int store__c(struct store *st, enum store__cid id, sqlite3_stmt **s, struct rp_error *err)
{
	*s = store__stmt_ext(st, STORE__COVERAGE_SLOT + (unsigned)id, store__csql[id], err);
	return *s ? 0 : store__code(sqlite3_errcode(store__handle(st)));
}

int store_coverage_report_add(struct store *st, const struct store_coverage_report *r, struct rp_error *err)
{
	sqlite3_stmt *s;
	int ret;
	if (!r->build_key || !store__is_hex64(r->build_key) || !r->package || !*r->package || !r->target ||
	    !*r->target || !r->commit || strlen(r->commit) != 40)
		return rp_error_set(err, RP_EINVAL, "%s: a coverage report needs a build key, package, target and commit",
				    store_path(st));
	if ((ret = store__c(st, C_REPORT_ADD, &s, err)) < 0)
		return ret;
	sqlite3_bind_text(s, 1, r->build_key, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, r->package, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, r->target, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, r->commit, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, r->run_id);
	sqlite3_bind_int64(s, 6, r->job_id);
	sqlite3_bind_int64(s, 7, r->created_ms ? r->created_ms : store__now_ms());
	return store__step_done(st, s, err, "cannot record a coverage report");
}

static int store__read_report(struct store *st, sqlite3_stmt *s, struct store_coverage_report *r,
			      struct rp_error *err)
{
	int ret;
	r->run_id = sqlite3_column_int64(s, 4);
	r->job_id = sqlite3_column_int64(s, 5);
	r->created_ms = sqlite3_column_int64(s, 6);
	if ((ret = store__col_str(st, &r->mem_, s, 0, &r->build_key, err)) < 0 ||
	    (ret = store__col_str(st, &r->mem_, s, 1, &r->package, err)) < 0 ||
	    (ret = store__col_str(st, &r->mem_, s, 2, &r->target, err)) < 0 ||
	    (ret = store__col_str(st, &r->mem_, s, 3, &r->commit, err)) < 0)
		return ret;
	return 0;
}

int store_coverage_pending(struct store *st, size_t cap, struct store_coverage_report **out, size_t *n,
			   struct rp_error *err)
{
	sqlite3_stmt *s;
	int rc = SQLITE_DONE, ret;
	*out = NULL;
	*n = 0;
	if (cap == 0)
		return 0;
	struct store_coverage_report *list = calloc(cap, sizeof(*list));
	if (!list)
		return store__nomem(st, err);
	if ((ret = store__c(st, C_PENDING, &s, err)) < 0) {
		free(list);
		return ret;
	}
	sqlite3_bind_int64(s, 1, (sqlite3_int64)cap);
	while (*n < cap && ret == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW)
		if ((ret = store__read_report(st, s, &list[*n], err)) == 0)
			(*n)++;
	if (ret == 0 && *n < cap && rc != SQLITE_DONE)
		ret = store__dberr(st, err, rc, "cannot list the coverage reports to merge");
	store__done(s);
	if (ret < 0) {
		store_coverage_reports_free(list, *n + (*n < cap));
		*n = 0;
		return ret;
	}
	*out = list;
	return 0;
}

void store_coverage_reports_free(struct store_coverage_report *r, size_t n)
{
	for (size_t i = 0; r && i < n; i++)
		store__mem_free(&r[i].mem_);
	free(r);
}

static int store__read_commit(struct store *st, sqlite3_stmt *s, struct store_coverage_commit *c,
			      struct rp_error *err)
{
	int ret;
	c->first_ms = sqlite3_column_int64(s, 2);
	c->updated_ms = sqlite3_column_int64(s, 3);
	c->reports = sqlite3_column_int64(s, 4);
	c->mainline = sqlite3_column_int(s, 12);
	for (int i = 0; i < 6; i++)
		c->figures[i] = sqlite3_column_int64(s, 5 + i);
	if ((ret = store__col_str(st, &c->mem_, s, 0, &c->package, err)) < 0 ||
	    (ret = store__col_str(st, &c->mem_, s, 1, &c->commit, err)) < 0 ||
	    (ret = store__col_str(st, &c->mem_, s, 11, &c->location, err)) < 0)
		return ret;
	return 0;
}

int store_coverage_commit_get(struct store *st, const char *package, const char *commit,
			      struct store_coverage_commit *c, struct rp_error *err)
{
	sqlite3_stmt *s;
	int ret, rc;
	memset(c, 0, sizeof(*c));
	if ((ret = store__c(st, C_COMMIT_GET, &s, err)) < 0)
		return ret;
	sqlite3_bind_text(s, 1, package, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, commit, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		ret = store__read_commit(st, s, c, err);
	else if (rc == SQLITE_DONE)
		ret = rp_error_set(err, RP_ENOTFOUND, "no coverage of %s at %.40s", package, commit);
	else
		ret = store__dberr(st, err, rc, "cannot read the coverage of %s", package);
	store__done(s);
	return ret;
}

void store_coverage_commit_release(struct store_coverage_commit *c)
{
	store__mem_free(&c->mem_);
	memset(c, 0, sizeof(*c));
}

int store_coverage_merged(struct store *st, const char *build_key, const struct store_coverage_commit *c,
			  const char *problem, struct rp_error *err)
{
	sqlite3_stmt *s;
	int ret;
	if (!problem && (!c || !c->package || !c->commit || !c->location || !*c->location))
		return rp_error_set(err, RP_EINVAL, "%s: merged coverage needs its package, commit and location",
				    store_path(st));
	if ((ret = store__begin_write(st, err)) < 0)
		return ret;
	if ((ret = store__c(st, C_REPORT_DONE, &s, err)) < 0)
		goto out;
	sqlite3_bind_text(s, 1, build_key, -1, SQLITE_STATIC);
	store__bind_opt(s, 2, problem);
	if ((ret = store__step_done(st, s, err, "cannot mark a coverage report merged")) < 0)
		goto out;
	if (sqlite3_changes(store__handle(st)) == 0) {
		ret = rp_error_set(err, RP_ECONFLICT, "%s: coverage report %.64s is not waiting to be merged",
				   store_path(st), build_key);
		goto out;
	}
	if (problem)
		goto out;
	if ((ret = store__c(st, C_COMMIT_PUT, &s, err)) < 0)
		goto out;
	sqlite3_bind_text(s, 1, c->package, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, c->commit, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, c->updated_ms ? c->updated_ms : store__now_ms());
	for (int i = 0; i < 6; i++)
		sqlite3_bind_int64(s, 4 + i, c->figures[i]);
	sqlite3_bind_text(s, 10, c->location, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 11, c->mainline != 0);
	ret = store__step_done(st, s, err, "cannot record a commit's coverage");
out:
	return store__end(st, ret, err);
}

static int store__list_commits(struct store *st, sqlite3_stmt *s, size_t cap, struct store_coverage_commit **out,
			       size_t *n, struct rp_error *err)
{
	int rc = SQLITE_DONE, ret = 0;
	struct store_coverage_commit *list = calloc(cap ? cap : 1, sizeof(*list));
	*out = NULL;
	*n = 0;
	if (!list) {
		store__done(s);
		return store__nomem(st, err);
	}
	while (*n < cap && ret == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW)
		if ((ret = store__read_commit(st, s, &list[*n], err)) == 0)
			(*n)++;
	if (ret == 0 && *n < cap && rc != SQLITE_DONE)
		ret = store__dberr(st, err, rc, "cannot list coverage");
	store__done(s);
	if (ret < 0) {
		store_coverage_commits_free(list, *n + (*n < cap));
		*n = 0;
		return ret;
	}
	*out = list;
	return 0;
}

int store_coverage_commits(struct store *st, const char *package, int mainline_only, int64_t before_ms, size_t limit,
			   struct store_coverage_commit **out, size_t *n, struct rp_error *err)
{
	sqlite3_stmt *s;
	int ret;
	if (limit == 0 || limit > STORE__COVERAGE_LIST_MAX)
		limit = STORE__COVERAGE_LIST_MAX;
	if ((ret = store__c(st, mainline_only ? C_COMMITS : C_COMMITS_ALL, &s, err)) < 0)
		return ret;
	sqlite3_bind_text(s, 1, package, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, before_ms > 0 ? before_ms : INT64_MAX);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)limit);
	if ((ret = store__list_commits(st, s, limit, out, n, err)) < 0)
		return ret;
	/* Oldest first, as a trend reads. */
	for (size_t i = 0; i < *n / 2; i++) {
		struct store_coverage_commit t = (*out)[i];
		(*out)[i] = (*out)[*n - 1 - i];
		(*out)[*n - 1 - i] = t;
	}
	return 0;
}

int store_coverage_packages(struct store *st, struct store_coverage_commit **out, size_t *n, struct rp_error *err)
{
	sqlite3_stmt *s;
	int ret;
	if ((ret = store__c(st, C_PACKAGES, &s, err)) < 0)
		return ret;
	return store__list_commits(st, s, STORE__COVERAGE_LIST_MAX, out, n, err);
}

void store_coverage_commits_free(struct store_coverage_commit *c, size_t n)
{
	for (size_t i = 0; c && i < n; i++)
		store__mem_free(&c[i].mem_);
	free(c);
}

int store_coverage_report_get(struct store *st, const char *build_key, struct store_coverage_report *r,
			      struct rp_error *err)
{
	sqlite3_stmt *s;
	int ret, rc;
	memset(r, 0, sizeof(*r));
	if ((ret = store__c(st, C_REPORT_GET, &s, err)) < 0)
		return ret;
	sqlite3_bind_text(s, 1, build_key, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		ret = store__read_report(st, s, r, err);
		r->merged = sqlite3_column_int(s, 7);
		if (ret == 0)
			ret = store__col_str(st, &r->mem_, s, 8, &r->problem, err);
	} else if (rc == SQLITE_DONE)
		ret = rp_error_set(err, RP_ENOTFOUND, "no coverage report of build key %.64s", build_key);
	else
		ret = store__dberr(st, err, rc, "cannot read a coverage report");
	store__done(s);
	return ret;
}

void store_coverage_report_release(struct store_coverage_report *r)
{
	store__mem_free(&r->mem_);
	memset(r, 0, sizeof(*r));
}

int store_coverage_mark_mainline(struct store *st, const char *package, const char *commit, struct rp_error *err)
{
	sqlite3_stmt *s;
	int ret;
	if ((ret = store__c(st, C_MAINLINE, &s, err)) < 0)
		return ret;
	sqlite3_bind_text(s, 1, package, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, commit, -1, SQLITE_STATIC);
	return store__step_done(st, s, err, "cannot mark a commit's coverage as the mainline's");
}
