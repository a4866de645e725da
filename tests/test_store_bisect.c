/*
 * test_store_bisect.c — the store's part of automatic bisection: planning a
 * run's bisections once (idempotent, refusals, which runs are unplanned),
 * reading and listing them, progress and the conclusion (written once), a
 * bisection going with its run under retention, the migration from schema 7
 * that marks the runs it finds planned, and reopening a pull request's sent
 * report so its final status and comment go out again.
 *
 * Each test gets a fresh SQLite file in a mkdtemp directory. Raw SQLite is
 * used only to look at rows the API does not return, to ask for query plans
 * and to fill a schema 7 database.
 */
#define _GNU_SOURCE
#include "core/store.h"
#include "core/store-internal.h"

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "check_main.h"
#include "core/banned.h"

static char tmpdir[PATH_MAX];
static char dbpath[PATH_MAX + 64];

#define T0 INT64_C(1700000000000)
#define CULPRIT "0123456789abcdef0123456789abcdef01234567"
#define PARENT "fedcba9876543210fedcba9876543210fedcba98"

static void setup(void)
{
	check_tmpdir_make(tmpdir, "store-bisect");
	snprintf(dbpath, sizeof(dbpath), "%s/ripple.db", tmpdir);
}

static void teardown(void)
{
	check_tmpdir_remove(tmpdir);
}

/* ---- helpers ------------------------------------------------------------ */

static struct store *open_ok(unsigned flags)
{
	struct store *st = NULL;
	struct rp_error err = {.msg = ""};
	int ret = store_open(dbpath, flags, &st, &err);
	ck_assert_msg(ret == 0, "store_open(%s) = %d: %s", dbpath, ret, err.msg);
	return st;
}

static void raw_exec(struct store *st, const char *sql)
{
	char *msg = NULL;
	ck_assert_msg(sqlite3_exec(store__handle(st), sql, NULL, NULL, &msg) == SQLITE_OK, "%s: %s", sql,
		      msg ? msg : "");
}

/* One integer from one row; -1 when there is no row. */
static long long raw_int(struct store *st, const char *sql)
{
	sqlite3_stmt *s = NULL;
	long long v = -1;
	ck_assert_msg(sqlite3_prepare_v2(store__handle(st), sql, -1, &s, NULL) == SQLITE_OK, "%s: %s", sql,
		      sqlite3_errmsg(store__handle(st)));
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

/* 1 when the query plan of `sql` names index `index`. */
static int plan_uses(struct store *st, const char *sql, const char *index)
{
	char q[2048];
	sqlite3_stmt *s = NULL;
	int found = 0;
	snprintf(q, sizeof(q), "EXPLAIN QUERY PLAN %s", sql);
	ck_assert_msg(sqlite3_prepare_v2(store__handle(st), q, -1, &s, NULL) == SQLITE_OK, "%s: %s", q,
		      sqlite3_errmsg(store__handle(st)));
	while (sqlite3_step(s) == SQLITE_ROW) {
		const char *detail = (const char *)sqlite3_column_text(s, 3);
		if (detail && strstr(detail, index))
			found = 1;
	}
	sqlite3_finalize(s);
	return found;
}

static void sync_universe(struct store *st)
{
	static const struct store_package_row pkgs[] = {
	    {"cstruct", "https://example.org/cstruct.git", "main", 0},
	    {"tcpip", "https://example.org/tcpip.git", "main", 1},
	};
	struct rp_error err = {.msg = ""};
	ck_assert_msg(store_sync_universe(st, "mini", pkgs, 2, NULL, &err) == 0, "%s", err.msg);
}

/* A queued run of `kind` with one job, whose id goes to *job (when non-NULL). */
static int64_t make_run(struct store *st, enum store_run_kind kind, const char *change_ref, int64_t *job)
{
	static const struct store_job_spec jobs[] = {{"cstruct", "unix", "a1a1a1", NULL, NULL, NULL, 0}};
	struct store_run_spec spec = {
	    .universe = "mini",
	    .kind = kind,
	    .priority = 20,
	    .title = "a run",
	    .change_ref = change_ref,
	    .jobs = jobs,
	    .njobs = 1,
	    .created_ms = T0,
	};
	struct rp_error err = {.msg = ""};
	int64_t run_id = 0, job_id = 0;
	ck_assert_msg(store_run_create(st, &spec, &run_id, &job_id, &err) == 0, "%s", err.msg);
	if (job)
		*job = job_id;
	return run_id;
}

/* Ends the run's one job with an infrastructure error the scheduler decides: the run is done at `now`. */
static void end_run(struct store *st, int64_t run_id, int64_t job_id, int64_t now)
{
	struct store_job_result r = {.status = STORE_RESULT_ERROR, .first_error = "no worker", .now_ms = now};
	struct store_run run;
	struct rp_error err = {.msg = ""};
	ck_assert_msg(store_job_finish(st, job_id, &r, 1, NULL, &err) == 0, "%s", err.msg);
	ck_assert_msg(store_run_get(st, run_id, &run, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(run.state, STORE_RUN_DONE);
	ck_assert_int_eq(run.finished_ms, now);
	store_run_release(&run);
}

/* A run of `kind` that is done at `now`. */
static int64_t done_run(struct store *st, enum store_run_kind kind, const char *change_ref, int64_t now)
{
	int64_t job = 0;
	int64_t id = make_run(st, kind, change_ref, &job);
	end_run(st, id, job, now);
	return id;
}

static size_t unplanned(struct store *st, int64_t *ids, size_t cap)
{
	struct rp_error err = {.msg = ""};
	size_t n = 99;
	ck_assert_msg(store_bisect_unplanned_runs(st, ids, cap, &n, &err) == 0, "%s", err.msg);
	return n;
}

static void plan_ok(struct store *st, int64_t run_id, const struct store_bisect_spec *specs, size_t n,
		    int64_t now)
{
	struct rp_error err = {.msg = ""};
	int ret = store_bisect_plan(st, run_id, specs, n, now, &err);
	ck_assert_msg(ret == 0, "store_bisect_plan(%lld) = %d: %s", (long long)run_id, ret, err.msg);
}

static struct store_bisect *list_ok(struct store *st, int64_t run_id, int active_only, int64_t before_id,
				    size_t limit, size_t *n)
{
	struct store_bisect *b = NULL;
	struct rp_error err = {.msg = ""};
	int ret = store_bisects_list(st, run_id, active_only, before_id, limit, &b, n, &err);
	ck_assert_msg(ret == 0, "store_bisects_list = %d: %s", ret, err.msg);
	return b;
}

/* ---- planning --------------------------------------------------------------- */

START_TEST(test_round_trip)
{
	struct store *st = open_ok(0);
	struct rp_error err = {.msg = ""};
	struct store_bisect b;
	size_t n = 0;
	sync_universe(st);
	int64_t good = done_run(st, STORE_RUN_NIGHTLY, NULL, T0 + 1000);
	int64_t bad = done_run(st, STORE_RUN_NIGHTLY, NULL, T0 + 2000);
	const struct store_bisect_spec specs[] = {
	    {"tcpip", "vm", good, 0},
	    {"cstruct", "unix", good, 0},
	    {"tcpip", "unix", 0, 0},
	};
	plan_ok(st, bad, specs, 3, T0 + 3000);

	/* A run's bisections by package, target; ids in the order of the specs. */
	struct store_bisect *l = list_ok(st, bad, 0, 0, 0, &n);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(l[0].package, "cstruct");
	ck_assert_str_eq(l[0].target, "unix");
	ck_assert_str_eq(l[1].package, "tcpip");
	ck_assert_str_eq(l[1].target, "unix");
	ck_assert_int_eq(l[1].good_run_id, 0);
	ck_assert_str_eq(l[2].package, "tcpip");
	ck_assert_str_eq(l[2].target, "vm");
	int64_t first = l[2].id, second = l[0].id, third = l[1].id;
	ck_assert_int_eq(second, first + 1);
	ck_assert_int_eq(third, first + 2);
	store_bisects_free(l, n);

	ck_assert_msg(store_bisect_get(st, second, &b, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(b.id, second);
	ck_assert_int_eq(b.run_id, bad);
	ck_assert_int_eq(b.good_run_id, good);
	ck_assert_str_eq(b.package, "cstruct");
	ck_assert_str_eq(b.target, "unix");
	ck_assert_int_eq(b.done, 0);
	ck_assert_ptr_null(b.verdict);
	ck_assert_ptr_null(b.repository);
	ck_assert_ptr_null(b.culprit);
	ck_assert_ptr_null(b.parent);
	ck_assert_ptr_null(b.author);
	ck_assert_int_eq(b.author_time, 0);
	ck_assert_ptr_null(b.subject);
	ck_assert_ptr_null(b.summary);
	ck_assert_ptr_null(b.detail);
	ck_assert_ptr_null(b.excerpt);
	ck_assert_int_eq(b.culprit_job, 0);
	ck_assert_int_eq(b.probes, 0);
	ck_assert_int_eq(b.rounds, 0);
	ck_assert_int_eq(b.created_ms, T0 + 3000);
	ck_assert_int_eq(b.finished_ms, 0);
	store_bisect_release(&b);

	/* Progress, twice: the last one stands. */
	ck_assert_msg(store_bisect_progress(st, second, 2, 1, "{\"round\":1}", &err) == 0, "%s", err.msg);
	ck_assert_msg(store_bisect_progress(st, second, 5, 2, "{\"round\":2}", &err) == 0, "%s", err.msg);
	ck_assert_msg(store_bisect_get(st, second, &b, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(b.probes, 5);
	ck_assert_int_eq(b.rounds, 2);
	ck_assert_str_eq(b.detail, "{\"round\":2}");
	ck_assert_int_eq(b.done, 0);
	store_bisect_release(&b);
	ck_assert_msg(store_bisect_progress(st, third, 1, 1, NULL, &err) == 0, "%s", err.msg);

	/* The conclusion: every field of *r but the ignored ones. */
	struct store_bisect r = {
	    .id = 999,
	    .run_id = 999,
	    .package = "ignored",
	    .target = "ignored",
	    .created_ms = 1,
	    .verdict = "culprit",
	    .repository = "cstruct",
	    .culprit = CULPRIT,
	    .parent = PARENT,
	    .author = "A. Hacker <a@example.org>",
	    .author_time = 1699999999,
	    .subject = "copy faster",
	    .summary = "cstruct 0123456789ab broke cstruct on unix",
	    .detail = "{\"round\":3}",
	    .excerpt = "Error: oops\n  at line 3",
	    .culprit_job = 42,
	    .probes = 7,
	    .rounds = 3,
	};
	ck_assert_msg(store_bisect_finish(st, second, &r, T0 + 9000, &err) == 0, "%s", err.msg);
	ck_assert_msg(store_bisect_get(st, second, &b, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(b.id, second);
	ck_assert_int_eq(b.run_id, bad);
	ck_assert_int_eq(b.good_run_id, good);
	ck_assert_str_eq(b.package, "cstruct");
	ck_assert_str_eq(b.target, "unix");
	ck_assert_int_eq(b.done, 1);
	ck_assert_str_eq(b.verdict, "culprit");
	ck_assert_str_eq(b.repository, "cstruct");
	ck_assert_str_eq(b.culprit, CULPRIT);
	ck_assert_str_eq(b.parent, PARENT);
	ck_assert_str_eq(b.author, "A. Hacker <a@example.org>");
	ck_assert_int_eq(b.author_time, 1699999999);
	ck_assert_str_eq(b.subject, "copy faster");
	ck_assert_str_eq(b.summary, "cstruct 0123456789ab broke cstruct on unix");
	ck_assert_str_eq(b.detail, "{\"round\":3}");
	ck_assert_str_eq(b.excerpt, "Error: oops\n  at line 3");
	ck_assert_int_eq(b.culprit_job, 42);
	ck_assert_int_eq(b.probes, 7);
	ck_assert_int_eq(b.rounds, 3);
	ck_assert_int_eq(b.created_ms, T0 + 3000);
	ck_assert_int_eq(b.finished_ms, T0 + 9000);
	store_bisect_release(&b);

	/* Progress after the end changes nothing and is no error. */
	ck_assert_msg(store_bisect_progress(st, second, 100, 100, "late", &err) == 0, "%s", err.msg);
	ck_assert_msg(store_bisect_get(st, second, &b, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(b.probes, 7);
	ck_assert_int_eq(b.rounds, 3);
	ck_assert_str_eq(b.detail, "{\"round\":3}");
	store_bisect_release(&b);

	/* A conclusion without a culprit: NULLs and no job. */
	struct store_bisect u = {
	    .verdict = "unchanged", .summary = "still broken at the good pins", .probes = 1};
	ck_assert_msg(store_bisect_finish(st, third, &u, T0 + 9500, &err) == 0, "%s", err.msg);
	ck_assert_msg(store_bisect_get(st, third, &b, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(b.verdict, "unchanged");
	ck_assert_ptr_null(b.culprit);
	ck_assert_ptr_null(b.detail);
	ck_assert_int_eq(b.culprit_job, 0);
	ck_assert_int_eq(b.probes, 1);
	ck_assert_int_eq(b.rounds, 0);
	store_bisect_release(&b);
	ck_assert_int_eq(raw_int(st, "SELECT count(*) FROM bisects WHERE culprit_job IS NULL"), 2);

	/* Active only: the one still searching. */
	l = list_ok(st, bad, 1, 0, 0, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(l[0].id, first);
	store_bisects_free(l, n);
	l = list_ok(st, 0, 1, 0, 0, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(l[0].id, first);
	store_bisects_free(l, n);
	store_close(st);
}
END_TEST

START_TEST(test_list_newest_first_and_pages)
{
	struct store *st = open_ok(0);
	struct store_bisect *l;
	size_t n = 0;
	int64_t ids[6];
	sync_universe(st);
	int64_t a = done_run(st, STORE_RUN_NIGHTLY, NULL, T0 + 1);
	int64_t b = done_run(st, STORE_RUN_PR, "github:mirage/cstruct#1", T0 + 2);
	const struct store_bisect_spec sa[] = {
	    {"cstruct", "unix", 0, 0}, {"cstruct", "vm", 0, 0}, {"tcpip", "unix", 0, 0}};
	const struct store_bisect_spec sb[] = {
	    {"tcpip", "unix", a, 0}, {"tcpip", "vm", a, 0}, {"cstruct", "unix", a, 0}};
	plan_ok(st, a, sa, 3, T0 + 10);
	plan_ok(st, b, sb, 3, T0 + 20);

	/* Every one, newest first. */
	l = list_ok(st, 0, 0, 0, 0, &n);
	ck_assert_uint_eq(n, 6);
	for (size_t i = 0; i < n; i++) {
		ids[i] = l[i].id;
		if (i)
			ck_assert_int_lt(ids[i], ids[i - 1]);
	}
	ck_assert_int_eq(l[0].run_id, b);
	ck_assert_int_eq(l[5].run_id, a);
	store_bisects_free(l, n);

	/* Pages of two, each below the last id of the one before. */
	l = list_ok(st, 0, 0, 0, 2, &n);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(l[0].id, ids[0]);
	ck_assert_int_eq(l[1].id, ids[1]);
	store_bisects_free(l, n);
	l = list_ok(st, 0, 0, ids[1], 2, &n);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(l[0].id, ids[2]);
	ck_assert_int_eq(l[1].id, ids[3]);
	store_bisects_free(l, n);
	l = list_ok(st, 0, 0, ids[5], 2, &n);
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_null(l);

	/* Active only skips the finished one; a run's list ignores before_id. */
	struct rp_error err = {.msg = ""};
	struct store_bisect r = {.verdict = "flaky"};
	ck_assert_msg(store_bisect_finish(st, ids[1], &r, T0 + 30, &err) == 0, "%s", err.msg);
	l = list_ok(st, 0, 1, ids[0], 2, &n);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(l[0].id, ids[2]);
	ck_assert_int_eq(l[1].id, ids[3]);
	store_bisects_free(l, n);
	l = list_ok(st, b, 0, ids[5], 0, &n);
	ck_assert_uint_eq(n, 3);
	store_bisects_free(l, n);
	l = list_ok(st, b, 1, 0, 0, &n);
	ck_assert_uint_eq(n, 2);
	store_bisects_free(l, n);
	/* A run without bisections, or none at all. */
	l = list_ok(st, 12345, 0, 0, 0, &n);
	ck_assert_uint_eq(n, 0);
	store_close(st);
}
END_TEST

START_TEST(test_plan_idempotent)
{
	struct store *st = open_ok(0);
	struct store_bisect *l;
	struct rp_error err = {.msg = ""};
	size_t n = 0;
	sync_universe(st);
	int64_t good = done_run(st, STORE_RUN_NIGHTLY, NULL, T0 + 1);
	int64_t bad = done_run(st, STORE_RUN_NIGHTLY, NULL, T0 + 2);
	const struct store_bisect_spec specs[] = {{"cstruct", "unix", good, 0}, {"tcpip", "unix", good, 0}};
	plan_ok(st, bad, specs, 2, T0 + 10);
	l = list_ok(st, bad, 0, 0, 0, &n);
	ck_assert_uint_eq(n, 2);
	int64_t id0 = l[0].id;
	store_bisects_free(l, n);
	ck_assert_msg(store_bisect_progress(st, id0, 3, 1, "{}", &err) == 0, "%s", err.msg);

	/* Again, with one more and one repeated (other good run, other time): the old row stands. */
	const struct store_bisect_spec again[] = {
	    {"cstruct", "unix", 0, 0}, {"cstruct", "vm", good, 0}, {"cstruct", "vm", good, 0}};
	plan_ok(st, bad, again, 3, T0 + 20);
	l = list_ok(st, bad, 0, 0, 0, &n);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(l[0].id, id0);
	ck_assert_str_eq(l[0].package, "cstruct");
	ck_assert_str_eq(l[0].target, "unix");
	ck_assert_int_eq(l[0].good_run_id, good);
	ck_assert_int_eq(l[0].created_ms, T0 + 10);
	ck_assert_int_eq(l[0].probes, 3);
	ck_assert_str_eq(l[1].target, "vm");
	ck_assert_int_eq(l[1].created_ms, T0 + 20);
	store_bisects_free(l, n);

	/* Nothing to bisect still marks the run. */
	int64_t quiet = done_run(st, STORE_RUN_PR, "github:mirage/cstruct#2", T0 + 3);
	int64_t ids[4];
	ck_assert_uint_eq(unplanned(st, ids, 4), 2);
	ck_assert_int_eq(ids[0], good);
	ck_assert_int_eq(ids[1], quiet);
	plan_ok(st, quiet, NULL, 0, T0 + 30);
	ck_assert_uint_eq(unplanned(st, ids, 4), 1);
	ck_assert_int_eq(ids[0], good);
	store_close(st);
}
END_TEST

START_TEST(test_unplanned_runs)
{
	struct store *st = open_ok(0);
	struct rp_error err = {.msg = ""};
	int64_t ids[8], job;
	size_t nq = 0, nr = 0;
	sync_universe(st);

	int64_t queued = make_run(st, STORE_RUN_NIGHTLY, NULL, NULL);
	int64_t n1 = done_run(st, STORE_RUN_NIGHTLY, NULL, T0 + 1);
	int64_t probe = done_run(st, STORE_RUN_BISECT, "bisect:1", T0 + 2);
	int64_t manual = done_run(st, STORE_RUN_MANUAL, NULL, T0 + 3);
	int64_t pr = make_run(st, STORE_RUN_PR, "github:mirage/cstruct#3", &job);
	int64_t fuzz = done_run(st, STORE_RUN_FUZZ, NULL, T0 + 4);
	int64_t p2 = make_run(st, STORE_RUN_PR, "github:mirage/cstruct#4", NULL);
	(void)probe;
	(void)manual;
	(void)fuzz;

	/* Only ended nightlies and pull requests, oldest first. */
	ck_assert_uint_eq(unplanned(st, ids, 8), 1);
	ck_assert_int_eq(ids[0], n1);
	ck_assert_msg(store_run_cancel(st, p2, T0 + 5, &nq, &nr, &err) == 0, "%s", err.msg);
	end_run(st, pr, job, T0 + 6);
	ck_assert_uint_eq(unplanned(st, ids, 8), 3);
	ck_assert_int_eq(ids[0], n1);
	ck_assert_int_eq(ids[1], pr);
	ck_assert_int_eq(ids[2], p2);
	ck_assert_uint_eq(unplanned(st, ids, 2), 2);
	ck_assert_int_eq(ids[1], pr);
	ck_assert_uint_eq(unplanned(st, ids, 0), 0);

	/* Planned: gone from the list, whatever its bisections. */
	const struct store_bisect_spec one[] = {{"cstruct", "unix", 0, 0}};
	plan_ok(st, pr, one, 1, T0 + 7);
	plan_ok(st, n1, NULL, 0, T0 + 7);
	ck_assert_uint_eq(unplanned(st, ids, 8), 1);
	ck_assert_int_eq(ids[0], p2);
	plan_ok(st, p2, NULL, 0, T0 + 8);
	ck_assert_uint_eq(unplanned(st, ids, 8), 0);
	/* A queued run can be planned too (the scheduler does not), and is never listed. */
	plan_ok(st, queued, NULL, 0, T0 + 8);
	ck_assert_int_eq(raw_int(st, "SELECT count(*) FROM runs WHERE bisect_planned = 0"), 3);

	/*
	 * The active list is a search of the few unfinished rows, not a scan of
	 * every bisection ever made (the unplanned runs' statement names its
	 * index, so it would not even prepare without it).
	 */
	ck_assert(plan_uses(st, "SELECT id FROM bisects WHERE done = 0 AND id < 100 ORDER BY id DESC LIMIT 5",
			    "bisects_active"));
	store_close(st);
}
END_TEST

START_TEST(test_refusals)
{
	struct store *st = open_ok(0);
	struct rp_error err = {.msg = ""};
	struct store_bisect b;
	struct store_bisect *l;
	size_t n = 0;
	int64_t ids[4];
	sync_universe(st);
	int64_t run = done_run(st, STORE_RUN_NIGHTLY, NULL, T0 + 1);

	/* Unknown run: nothing written, the run stays unplanned. */
	const struct store_bisect_spec one[] = {{"cstruct", "unix", 0, 0}};
	ck_assert_int_eq(store_bisect_plan(st, run + 100, one, 1, T0, &err), RP_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(err.msg, dbpath));
	ck_assert_int_eq(raw_int(st, "SELECT count(*) FROM bisects"), 0);
	/* Unknown good run: the foreign key refuses it, and nothing is written. */
	const struct store_bisect_spec bad_good[] = {{"cstruct", "unix", 0, 0}, {"tcpip", "unix", run + 100, 0}};
	ck_assert_int_eq(store_bisect_plan(st, run, bad_good, 2, T0, &err), RP_ENOTFOUND);
	ck_assert_int_eq(raw_int(st, "SELECT count(*) FROM bisects"), 0);
	ck_assert_uint_eq(unplanned(st, ids, 4), 1);
	/* Specs without package or target. */
	const struct store_bisect_spec no_pkg[] = {{"cstruct", "unix", 0, 0}, {"", "unix", 0, 0}};
	const struct store_bisect_spec no_target[] = {{"cstruct", NULL, 0, 0}};
	ck_assert_int_eq(store_bisect_plan(st, run, no_pkg, 2, T0, &err), RP_EINVAL);
	ck_assert_int_eq(store_bisect_plan(st, run, no_target, 1, T0, &err), RP_EINVAL);
	ck_assert_int_eq(store_bisect_plan(st, run, NULL, 1, T0, &err), RP_EINVAL);
	ck_assert_int_eq(raw_int(st, "SELECT count(*) FROM bisects"), 0);
	ck_assert_uint_eq(unplanned(st, ids, 4), 1);

	/* Unknown bisection. */
	ck_assert_int_eq(store_bisect_get(st, 77, &b, &err), RP_ENOTFOUND);
	store_bisect_release(&b);
	ck_assert_int_eq(store_bisect_progress(st, 77, 1, 1, NULL, &err), RP_ENOTFOUND);
	struct store_bisect r = {.verdict = "culprit", .culprit = CULPRIT};
	ck_assert_int_eq(store_bisect_finish(st, 77, &r, T0, &err), RP_ENOTFOUND);

	/* Ending twice: the first conclusion stands. */
	plan_ok(st, run, one, 1, T0 + 2);
	l = list_ok(st, run, 0, 0, 0, &n);
	ck_assert_uint_eq(n, 1);
	int64_t id = l[0].id;
	store_bisects_free(l, n);
	struct store_bisect no_verdict = {.culprit = CULPRIT};
	struct store_bisect odd_verdict = {.verdict = "guilty"};
	ck_assert_int_eq(store_bisect_finish(st, id, &no_verdict, T0 + 3, &err), RP_EINVAL);
	ck_assert_int_eq(store_bisect_finish(st, id, &odd_verdict, T0 + 3, &err), RP_EINVAL);
	ck_assert_int_eq(store_bisect_finish(st, id, NULL, T0 + 3, &err), RP_EINVAL);
	ck_assert_msg(store_bisect_finish(st, id, &r, T0 + 4, &err) == 0, "%s", err.msg);
	struct store_bisect other = {.verdict = "error", .summary = "again"};
	ck_assert_int_eq(store_bisect_finish(st, id, &other, T0 + 5, &err), RP_ECONFLICT);
	ck_assert_ptr_nonnull(strstr(err.msg, dbpath));
	ck_assert_msg(store_bisect_get(st, id, &b, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(b.verdict, "culprit");
	ck_assert_str_eq(b.culprit, CULPRIT);
	ck_assert_ptr_null(b.summary);
	ck_assert_int_eq(b.finished_ms, T0 + 4);
	store_bisect_release(&b);
	store_close(st);
}
END_TEST

/* ---- retention and migration -------------------------------------------------------- */

START_TEST(test_bisect_goes_with_its_run)
{
	struct store *st = open_ok(0);
	struct rp_error err = {.msg = ""};
	struct store_check_report rep;
	struct store_bisect b;
	size_t n = 0, logs = 0, runs = 0;
	sync_universe(st);
	int64_t good = done_run(st, STORE_RUN_NIGHTLY, NULL, T0 + 1);
	int64_t pr = done_run(st, STORE_RUN_PR, "github:mirage/cstruct#5", T0 + 2);
	int64_t bad = done_run(st, STORE_RUN_NIGHTLY, NULL, T0 + 3); /* the latest done nightly: kept */
	const struct store_bisect_spec spec[] = {{"cstruct", "unix", good, 0}};
	plan_ok(st, pr, spec, 1, T0 + 4);
	plan_ok(st, bad, spec, 1, T0 + 4);
	struct store_bisect *l = list_ok(st, bad, 0, 0, 0, &n);
	ck_assert_uint_eq(n, 1);
	int64_t kept = l[0].id;
	store_bisects_free(l, n);
	/* A probe is an ordinary run: it goes too, and takes nothing with it. */
	char ref[32];
	snprintf(ref, sizeof(ref), "bisect:%lld", (long long)kept);
	int64_t probe = done_run(st, STORE_RUN_BISECT, ref, T0 + 5);

	ck_assert_msg(store_retention(st, T0 + 100, 0, T0 + 50, 64, &logs, &runs, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(runs, 3);
	ck_assert_int_eq(raw_int(st, "SELECT count(*) FROM runs"), 1);
	ck_assert_int_eq(raw_int(st, "SELECT id FROM runs"), bad);
	(void)probe;

	/* The pull request's bisection went with it; the nightly's lost its good run only. */
	ck_assert_int_eq(raw_int(st, "SELECT count(*) FROM bisects"), 1);
	ck_assert_msg(store_bisect_get(st, kept, &b, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(b.run_id, bad);
	ck_assert_int_eq(b.good_run_id, 0);
	ck_assert_str_eq(b.package, "cstruct");
	store_bisect_release(&b);
	ck_assert_int_eq(store_check(st, &rep, &err), 0);
	ck_assert_int_eq(rep.ok, 1);
	ck_assert_int_eq(rep.foreign_keys_ok, 1);
	int found = 0;
	for (size_t i = 0; i < rep.ncounts; i++)
		if (strcmp(rep.counts[i].table, "bisects") == 0) {
			ck_assert_int_eq(rep.counts[i].rows, 1);
			found = 1;
		}
	ck_assert(found);
	store_check_report_release(&rep);
	store_close(st);
}
END_TEST

START_TEST(test_migrate_7_marks_runs_planned)
{
	struct rp_error err = {.msg = ""};
	struct store *st = open_ok(STORE_NO_MIGRATE);
	int64_t ids[8];
	ck_assert_msg(store_migrate(st, 7, &err) == 0, "%s", err.msg);
	raw_exec(st,
		 "INSERT INTO universes (id, name, created_ms, updated_ms) VALUES (1, 'mini', 1, 1);"
		 "INSERT INTO runs (id, universe_id, kind, priority, state, created_ms, finished_ms) VALUES"
		 " (1, 1, 'nightly', 20, 'done', 5, 6),"
		 " (2, 1, 'pr', 30, 'cancelled', 5, 7),"
		 " (3, 1, 'pr', 30, 'running', 5, NULL);");
	ck_assert_int_eq(raw_int(st, "SELECT count(*) FROM sqlite_schema WHERE name = 'bisects'"), 0);
	ck_assert_msg(store_migrate(st, 8, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(store_schema_version(st, &err), 8);
	ck_assert_int_eq(raw_int(st, "SELECT count(*) FROM runs WHERE bisect_planned = 1"), 3);

	/* Old runs never become unplanned, even the one still running; a new one does once it ends. */
	ck_assert_uint_eq(unplanned(st, ids, 8), 0);
	raw_exec(st, "UPDATE runs SET state = 'done', finished_ms = 9 WHERE id = 3");
	ck_assert_uint_eq(unplanned(st, ids, 8), 0);
	ck_assert_msg(store_migrate(st, STORE_SCHEMA_LATEST, &err) == 0, "%s", err.msg); /* this store's runs */
	ck_assert_uint_eq(unplanned(st, ids, 8), 0);
	sync_universe(st);
	int64_t fresh = done_run(st, STORE_RUN_NIGHTLY, NULL, T0);
	ck_assert_uint_eq(unplanned(st, ids, 8), 1);
	ck_assert_int_eq(ids[0], fresh);
	const struct store_bisect_spec spec[] = {{"cstruct", "unix", 1, 0}};
	plan_ok(st, fresh, spec, 1, T0 + 1);
	ck_assert_uint_eq(unplanned(st, ids, 8), 0);
	store_close(st);
}
END_TEST

/* ---- reports -------------------------------------------------------------------- */

static void report_add_ok(struct store *st, int64_t run_id, const char *forge)
{
	struct store_report_spec spec = {.run_id = run_id, .created_ms = T0};
	struct rp_error err = {.msg = ""};
	if (forge) {
		spec.forge = forge;
		spec.repo = "mirage/cstruct";
		spec.number = 7;
		spec.head = CULPRIT;
	}
	ck_assert_msg(store_report_add(st, &spec, &err) == 0, "%s", err.msg);
}

/* The reports due at `now`, their run ids into ids[] (room for 4); the first's `sent` and attempts. */
static size_t due(struct store *st, int64_t now, int64_t *ids, char *sent, size_t sentcap, int *attempts)
{
	struct store_report *r = NULL;
	struct rp_error err = {.msg = ""};
	size_t n = 0;
	ck_assert_msg(store_reports_due(st, now, 4, &r, &n, &err) == 0, "%s", err.msg);
	for (size_t i = 0; i < n; i++)
		ids[i] = r[i].run_id;
	if (n && sent)
		snprintf(sent, sentcap, "%s", r[0].sent ? r[0].sent : "(null)");
	if (n && attempts)
		*attempts = r[0].attempts;
	store_reports_free(r, n);
	return n;
}

START_TEST(test_report_reopen)
{
	struct store *st = open_ok(0);
	struct rp_error err = {.msg = ""};
	int64_t ids[4];
	char sent[32];
	int attempts = -1;
	sync_universe(st);
	int64_t job = 0;
	int64_t pr = make_run(st, STORE_RUN_PR, "github:mirage/cstruct#7", &job);
	report_add_ok(st, pr, "github");
	int64_t nightly = done_run(st, STORE_RUN_NIGHTLY, NULL, T0 + 1);
	report_add_ok(st, nightly, NULL);

	/* Reopening a report not sent yet leaves it owed as it was. */
	ck_assert_msg(store_report_reopen(st, pr, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(due(st, T0, ids, sent, sizeof(sent), NULL), 2);
	ck_assert_msg(store_report_sent(st, pr, "pending", 0, &err) == 0, "%s", err.msg);
	end_run(st, pr, job, T0 + 2);
	ck_assert_msg(store_report_sent(st, pr, "final", 1, &err) == 0, "%s", err.msg);
	ck_assert_msg(store_report_sent(st, nightly, "final", 1, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(due(st, T0 + 10, ids, NULL, 0, NULL), 0);

	/* A bisection ended: the pull request's final report is due again at once. */
	ck_assert_msg(store_report_reopen(st, pr, &err) == 0, "%s", err.msg);
	ck_assert_msg(store_report_reopen(st, nightly, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(due(st, 0, ids, sent, sizeof(sent), &attempts), 1);
	ck_assert_int_eq(ids[0], pr);
	ck_assert_str_eq(sent, "final");
	ck_assert_int_eq(attempts, 0);
	ck_assert_int_eq(pr, 1);
	ck_assert_int_eq(nightly, 2);
	ck_assert_int_eq(raw_int(st, "SELECT done FROM reports_out WHERE run_id = 1"), 0);
	ck_assert_int_eq(raw_int(st, "SELECT done FROM reports_out WHERE run_id = 2"), 1);
	/* The outbox counts it as owed. */
	int64_t reports = -1, notifications = -1;
	ck_assert_msg(store_outbox_pending(st, &reports, &notifications, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(reports, 1);

	/* One given up after failing: reopened, its failures are forgotten and it is due now. */
	ck_assert_msg(store_report_retry(st, pr, T0 + 1000000, "forge said no", 1, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(due(st, T0 + 10, ids, NULL, 0, NULL), 0);
	ck_assert_msg(store_report_reopen(st, pr, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(due(st, T0 + 10, ids, sent, sizeof(sent), &attempts), 1);
	ck_assert_int_eq(attempts, 0);
	ck_assert_int_eq(raw_int(st, "SELECT count(*) FROM reports_out WHERE last_error IS NULL"), 2);

	/* Once the pull request has a later run, the earlier run's report stays sent: the later one says more. */
	ck_assert_msg(store_report_sent(st, pr, "final", 1, &err) == 0, "%s", err.msg);
	int64_t later = done_run(st, STORE_RUN_PR, "github:mirage/cstruct#7", T0 + 4);
	ck_assert_msg(store_report_reopen(st, pr, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(raw_int(st, "SELECT done FROM reports_out WHERE run_id = 1"), 1);
	ck_assert_int_gt(later, pr);

	/* A run without a report, or no run at all, owes nothing: no error. */
	int64_t bare = done_run(st, STORE_RUN_PR, "github:mirage/cstruct#8", T0 + 3);
	ck_assert_msg(store_report_reopen(st, bare, &err) == 0, "%s", err.msg);
	ck_assert_msg(store_report_reopen(st, 9999, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(raw_int(st, "SELECT count(*) FROM reports_out"), 2);
	store_close(st);
}
END_TEST

static Suite *store_bisect_suite(void)
{
	Suite *s = suite_create("store_bisect");
	TCase *tc = tcase_create("plan");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_list_newest_first_and_pages);
	tcase_add_test(tc, test_plan_idempotent);
	tcase_add_test(tc, test_unplanned_runs);
	tcase_add_test(tc, test_refusals);
	suite_add_tcase(s, tc);

	tc = tcase_create("lifetime");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_bisect_goes_with_its_run);
	tcase_add_test(tc, test_migrate_7_marks_runs_planned);
	tcase_add_test(tc, test_report_reopen);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run_suite(store_bisect_suite());
}
