/*
 * test_store_fuzz.c — fuzzing in the store (schema 10): a crash recorded
 * once per (package, target, fuzz target, signature), seen again, fixed by a
 * replay that no longer crashes and opened again when it comes back; its
 * bisection linked to it; each fuzz target's latest figures; jobs of variant
 * fuzz and the crash they replay, found again by a bisection's probe. Last,
 * the migration from schema 9: jobs and bisections keep their rows, and the
 * CHECKs refuse what a schema 10 row may not hold.
 *
 * Each test gets a fresh SQLite file in a mkdtemp directory. Raw SQLite is
 * used only to fill a schema 9 database and to try rows the API refuses.
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
#define COMMIT_A "0123456789abcdef0123456789abcdef01234567"
#define COMMIT_B "fedcba9876543210fedcba9876543210fedcba98"
#define COMMIT_C "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_1 "1111111111111111111111111111111111111111111111111111111111111111"
#define SIG "stack-overflow in decode_labels < decode_labels < decode_labels"

static void setup(void)
{
	check_tmpdir_make(tmpdir, "store-fuzz");
	snprintf(dbpath, sizeof(dbpath), "%s/ripple.db", tmpdir);
}

static void teardown(void)
{
	check_tmpdir_remove(tmpdir);
}

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
	int rc = sqlite3_exec(store__handle(st), sql, NULL, NULL, &msg);
	ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, msg ? msg : "");
	sqlite3_free(msg);
}

static int raw_try(struct store *st, const char *sql)
{
	return sqlite3_exec(store__handle(st), sql, NULL, NULL, NULL) & 0xff;
}

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

static void sync_universe(struct store *st)
{
	static const struct store_package_row pkgs[] = {
	    {"dns", "https://example.org/dns.git", "main", 0},
	};
	struct rp_error err = {.msg = ""};
	ck_assert_msg(store_sync_universe(st, "mini", pkgs, 1, NULL, &err) == 0, "%s", err.msg);
}

/* A run of `kind` with the given jobs; their ids into ids[] (room for n). */
static int64_t make_run(struct store *st, enum store_run_kind kind, const struct store_job_spec *jobs, size_t n,
			int64_t *ids)
{
	struct store_run_spec spec = {.universe = "mini", .kind = kind, .priority = 20, .title = "t",
				      .jobs = jobs, .njobs = n, .created_ms = T0};
	struct rp_error err = {.msg = ""};
	int64_t run = 0;
	ck_assert_msg(store_run_create(st, &spec, &run, ids, &err) == 0, "%s", err.msg);
	return run;
}

static struct store_fuzz_crash crash_at(int64_t run, int64_t job, const char *commit, const char *signature)
{
	return (struct store_fuzz_crash){.package = "dns", .target = "unix", .fuzzer = "decode_name",
					 .signature = signature, .kind = "stack-overflow",
					 .frames = "[\"decode_labels\"]", .reproducer = SHA_1, .reproducer_size = 2,
					 .found_run = run, .found_job = job, .found_commit = commit};
}

static int64_t seen_ok(struct store *st, const struct store_fuzz_crash *c, int64_t now, int expect_new)
{
	struct rp_error err = {.msg = ""};
	int64_t id = 0;
	int is_new = -1;
	int ret = store_fuzz_crash_seen(st, c, now, &id, &is_new, &err);
	ck_assert_msg(ret == 0, "store_fuzz_crash_seen = %d: %s", ret, err.msg);
	ck_assert_int_eq(is_new, expect_new);
	ck_assert_int_gt(id, 0);
	return id;
}

START_TEST(test_crash_lifecycle)
{
	struct store *st = open_ok(0);
	struct rp_error err = {.msg = ""};
	struct store_fuzz_crash c = crash_at(3, 30, COMMIT_A, SIG), got;
	int64_t id = seen_ok(st, &c, T0, 1);

	ck_assert_int_eq(store_fuzz_crash_get(st, id, &got, &err), 0);
	ck_assert(got.open);
	ck_assert_str_eq(got.signature, SIG);
	ck_assert_str_eq(got.reproducer, SHA_1);
	ck_assert_int_eq(got.reproducer_size, 2);
	ck_assert_str_eq(got.found_commit, COMMIT_A);
	ck_assert_str_eq(got.seen_commit, COMMIT_A);
	ck_assert_int_eq(got.found_job, 30);
	ck_assert_ptr_null(got.fixed_commit);
	store_fuzz_crash_release(&got);

	/* The same signature later: seen again, not new; another signature is another crash. */
	struct store_fuzz_crash later = crash_at(4, 40, COMMIT_B, SIG);
	ck_assert_int_eq(seen_ok(st, &later, T0 + 1, 0), id);
	struct store_fuzz_crash other = crash_at(4, 41, COMMIT_B, "heap-buffer-overflow READ in decode_header");
	int64_t id2 = seen_ok(st, &other, T0 + 1, 1);
	ck_assert_int_ne(id2, id);
	ck_assert_int_eq(store_fuzz_crash_get(st, id, &got, &err), 0);
	ck_assert_str_eq(got.found_commit, COMMIT_A);
	ck_assert_str_eq(got.seen_commit, COMMIT_B);
	ck_assert_int_eq(got.seen_run, 4);
	store_fuzz_crash_release(&got);

	/* A replay that crashes again is seen; one that does not fixes it, with its range. */
	ck_assert_int_eq(store_fuzz_crash_replayed(st, id, 1, 5, COMMIT_B, T0 + 2, &err), 0);
	ck_assert_int_eq(store_fuzz_crash_replayed(st, id, 0, 6, COMMIT_C, T0 + 3, &err), 0);
	ck_assert_int_eq(store_fuzz_crash_get(st, id, &got, &err), 0);
	ck_assert(!got.open);
	ck_assert_str_eq(got.seen_commit, COMMIT_B);
	ck_assert_str_eq(got.fixed_commit, COMMIT_C);
	ck_assert_int_eq(got.fixed_run, 6);
	ck_assert_int_eq(got.fixed_ms, T0 + 3);
	store_fuzz_crash_release(&got);
	/* A fixed crash's replay changes nothing. */
	ck_assert_int_eq(store_fuzz_crash_replayed(st, id, 1, 7, COMMIT_A, T0 + 4, &err), RP_ECONFLICT);
	ck_assert_int_eq(store_fuzz_crash_replayed(st, 999, 0, 7, COMMIT_A, T0 + 4, &err), RP_ENOTFOUND);

	/* Open crashes first, then the fixed; a filter by package and target; open only. */
	struct store_fuzz_crash *list = NULL;
	size_t n = 0;
	ck_assert_int_eq(store_fuzz_crashes(st, NULL, NULL, 0, &list, &n, &err), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(list[0].id, id2);
	ck_assert_int_eq(list[1].id, id);
	store_fuzz_crashes_free(list, n);
	ck_assert_int_eq(store_fuzz_crashes(st, "dns", "unix", 1, &list, &n, &err), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(list[0].id, id2);
	store_fuzz_crashes_free(list, n);
	ck_assert_int_eq(store_fuzz_crashes(st, "dns", "vm", 0, &list, &n, &err), 0);
	ck_assert_uint_eq(n, 0);
	store_fuzz_crashes_free(list, n);

	/* It comes back: a new regression of the same crash, open again, found anew, its fixed range gone. */
	raw_exec(st, "UPDATE fuzz_crashes SET bisect_id = 7"); /* as if it had been bisected */
	struct store_fuzz_crash back = crash_at(8, 80, COMMIT_A, SIG);
	ck_assert_int_eq(seen_ok(st, &back, T0 + 5, 1), id);
	ck_assert_int_eq(store_fuzz_crash_get(st, id, &got, &err), 0);
	ck_assert(got.open);
	ck_assert_ptr_null(got.fixed_commit);
	ck_assert_int_eq(got.fixed_run, 0);
	ck_assert_int_eq(got.found_run, 8);
	ck_assert_int_eq(got.found_job, 80);
	ck_assert_int_eq(got.bisect_id, 0);
	store_fuzz_crash_release(&got);
	/* Seen again while open: not new. */
	ck_assert_int_eq(seen_ok(st, &back, T0 + 6, 0), id);
	store_close(st);
}
END_TEST

START_TEST(test_crash_refusals)
{
	struct store *st = open_ok(0);
	struct rp_error err = {.msg = ""};
	int64_t id = 0;
	int is_new = 0;
	struct store_fuzz_crash c = crash_at(1, 1, COMMIT_A, SIG);
	c.reproducer = "not a hash";
	ck_assert_int_eq(store_fuzz_crash_seen(st, &c, T0, &id, &is_new, &err), RP_EINVAL);
	c = crash_at(1, 1, "abc", SIG);
	ck_assert_int_eq(store_fuzz_crash_seen(st, &c, T0, &id, &is_new, &err), RP_EINVAL);
	c = crash_at(1, 1, COMMIT_A, "");
	ck_assert_int_eq(store_fuzz_crash_seen(st, &c, T0, &id, &is_new, &err), RP_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "signature"));
	ck_assert_int_eq(raw_int(st, "SELECT count(*) FROM fuzz_crashes"), 0);
	/* What the API refuses, the schema refuses too: fixed without a commit, a short reproducer. */
	c = crash_at(1, 1, COMMIT_A, SIG);
	id = seen_ok(st, &c, T0, 1);
	ck_assert_int_eq(raw_try(st, "UPDATE fuzz_crashes SET status = 'fixed'"), SQLITE_CONSTRAINT);
	ck_assert_int_eq(raw_try(st, "UPDATE fuzz_crashes SET reproducer = 'abc'"), SQLITE_CONSTRAINT);
	ck_assert_int_eq(store_fuzz_crash_replayed(st, id, 0, 2, "short", T0, &err), RP_EINVAL);
	store_close(st);
}
END_TEST

START_TEST(test_stats_latest)
{
	struct store *st = open_ok(0);
	struct rp_error err = {.msg = ""};
	struct store_fuzz_stat s = {.package = "dns", .target = "unix", .fuzzer = "decode_name", .commit = COMMIT_A,
				    .run_id = 1, .job_id = 2, .seconds = 60, .executions = 1000, .exec_per_sec = 16,
				    .new_units = -1, .corpus_files = 5, .corpus_bytes = 50, .updated_ms = T0};
	ck_assert_int_eq(store_fuzz_stat_put(st, &s, &err), 0);
	s.commit = COMMIT_B;
	s.run_id = 3;
	s.executions = 2000;
	s.updated_ms = T0 + 1;
	ck_assert_int_eq(store_fuzz_stat_put(st, &s, &err), 0);
	struct store_fuzz_stat other = s;
	other.fuzzer = "decode_header";
	other.executions = -1;
	ck_assert_int_eq(store_fuzz_stat_put(st, &other, &err), 0);
	struct store_fuzz_stat *list = NULL;
	size_t n = 0;
	ck_assert_int_eq(store_fuzz_stats(st, &list, &n, &err), 0);
	ck_assert_uint_eq(n, 2); /* one row per fuzz target: the latest */
	ck_assert_str_eq(list[0].fuzzer, "decode_header");
	ck_assert_int_eq(list[0].executions, -1);
	ck_assert_str_eq(list[1].fuzzer, "decode_name");
	ck_assert_str_eq(list[1].commit, COMMIT_B);
	ck_assert_int_eq(list[1].run_id, 3);
	ck_assert_int_eq(list[1].executions, 2000);
	ck_assert_int_eq(list[1].new_units, -1);
	ck_assert_int_eq(list[1].corpus_files, 5);
	store_fuzz_stats_free(list, n);
	s.commit = "short";
	ck_assert_int_eq(store_fuzz_stat_put(st, &s, &err), RP_EINVAL);
	store_close(st);
}
END_TEST

START_TEST(test_replay_jobs_and_bisect)
{
	struct store *st = open_ok(0);
	struct rp_error err = {.msg = ""};
	sync_universe(st);
	struct store_fuzz_crash c = crash_at(1, 1, COMMIT_A, SIG);
	int64_t crash = seen_ok(st, &c, T0, 1);
	struct store_job_spec jobs[] = {
	    {"dns", "unix", COMMIT_A, NULL, NULL, NULL, 0},
	    {"dns", "unix", COMMIT_A, NULL, NULL, "fuzz", 0},
	    {"dns", "unix", COMMIT_A, NULL, NULL, "fuzz", crash},
	};
	int64_t ids[3] = {0, 0, 0};
	int64_t run = make_run(st, STORE_RUN_NIGHTLY, jobs, 3, ids);
	struct store_job j;
	ck_assert_int_eq(store_job_get(st, ids[2], &j, &err), 0);
	ck_assert_str_eq(j.variant, "fuzz");
	ck_assert_int_eq(j.fuzz_crash, crash);
	store_job_release(&j);
	ck_assert_int_eq(store_job_get(st, ids[1], &j, &err), 0);
	ck_assert_str_eq(j.variant, "fuzz");
	ck_assert_int_eq(j.fuzz_crash, 0);
	store_job_release(&j);
	/* The plain build is still "the" job of (run, package, target); a replay is found by its crash. */
	ck_assert_int_eq(store_job_find(st, run, "dns", "unix", &j, &err), 0);
	ck_assert_int_eq(j.id, ids[0]);
	store_job_release(&j);
	ck_assert_int_eq(store_job_find_replay(st, run, "dns", "unix", crash, &j, &err), 0);
	ck_assert_int_eq(j.id, ids[2]);
	store_job_release(&j);
	ck_assert_int_eq(store_job_find_replay(st, run, "dns", "unix", crash + 1, &j, &err), RP_ENOTFOUND);
	/* A crash to replay belongs to fuzz jobs only. */
	ck_assert_int_eq(raw_try(st, "UPDATE jobs SET fuzz_crash = 1 WHERE variant = 'build'"), SQLITE_CONSTRAINT);

	/* The crash's bisection: linked both ways, recorded once, beside a regression's of the same run. */
	struct store_bisect_spec regression = {"dns", "unix", 0, 0};
	ck_assert_int_eq(store_bisect_plan(st, run, &regression, 1, T0, &err), 0);
	int64_t b1 = 0, b2 = 0;
	ck_assert_int_eq(store_fuzz_crash_bisect(st, crash, run, 0, T0, &b1, &err), 0);
	ck_assert_int_eq(store_fuzz_crash_bisect(st, crash, run, 0, T0, &b2, &err), 0);
	ck_assert_int_eq(b1, b2);
	ck_assert_int_eq(raw_int(st, "SELECT count(*) FROM bisects"), 2);
	struct store_bisect b;
	ck_assert_int_eq(store_bisect_get(st, b1, &b, &err), 0);
	ck_assert_int_eq(b.crash_id, crash);
	ck_assert_str_eq(b.package, "dns");
	store_bisect_release(&b);
	struct store_fuzz_crash got;
	ck_assert_int_eq(store_fuzz_crash_get(st, crash, &got, &err), 0);
	ck_assert_int_eq(got.bisect_id, b1);
	store_fuzz_crash_release(&got);
	ck_assert_int_eq(store_fuzz_crash_bisect(st, 999, run, 0, T0, &b1, &err), RP_ENOTFOUND);
	store_close(st);
}
END_TEST

/* A part of a batch is undone alone: the batch's other writes are committed with it. */
START_TEST(test_part_undone_alone)
{
	struct store *st = open_ok(0);
	struct rp_error err = {.msg = ""};
	struct store_fuzz_crash kept = crash_at(1, 1, COMMIT_A, SIG), undone = crash_at(1, 2, COMMIT_A, "leak in f");
	ck_assert_int_eq(store_batch_begin(st, &err), 0);
	seen_ok(st, &kept, T0, 1);
	ck_assert_int_eq(store_part_begin(st, &err), 0);
	seen_ok(st, &undone, T0, 1);
	ck_assert_int_eq(store_part_end(st, 0, NULL), 0);
	ck_assert_int_eq(store_part_begin(st, &err), 0);
	struct store_fuzz_stat s = {.package = "dns", .target = "unix", .fuzzer = "f", .commit = COMMIT_A, .seconds = 1};
	ck_assert_int_eq(store_fuzz_stat_put(st, &s, &err), 0);
	ck_assert_int_eq(store_part_end(st, 1, &err), 0);
	ck_assert_int_eq(store_batch_end(st, 1, &err), 0);
	ck_assert_int_eq(raw_int(st, "SELECT count(*) FROM fuzz_crashes"), 1);
	ck_assert_int_eq(raw_int(st, "SELECT count(*) FROM fuzz_crashes WHERE signature = 'leak in f'"), 0);
	ck_assert_int_eq(raw_int(st, "SELECT count(*) FROM fuzz_stats"), 1);
	store_close(st);
}
END_TEST

START_TEST(test_migrate_9_keeps_rows)
{
	struct store *st = open_ok(STORE_NO_MIGRATE);
	struct rp_error err = {.msg = ""};
	ck_assert_msg(store_migrate(st, 9, &err) == 0, "%s", err.msg);
	raw_exec(st, "INSERT INTO universes (id, name, created_ms, updated_ms) VALUES (1, 'mini', 1, 1);"
		     "INSERT INTO runs (id, universe_id, kind, priority, state, created_ms) VALUES"
		     " (1, 1, 'nightly', 20, 'done', 5), (2, 1, 'nightly', 20, 'done', 6);"
		     "INSERT INTO jobs (id, run_id, package, target, commit_id, priority, created_ms, variant,"
		     " status, state) VALUES (1, 1, 'dns', 'unix', 'a1a1a1', 20, 5, 'coverage', 'pass', 'done'),"
		     " (2, 2, 'dns', 'unix', 'b2b2b2', 20, 6, 'build', 'fail', 'done');"
		     "INSERT INTO job_edges (job_id, dep_id) VALUES (2, 1);"
		     "INSERT INTO jobs (id, run_id, package, target, commit_id, priority, created_ms, rerun_of)"
		     " VALUES (3, 2, 'dns', 'unix', 'b2b2b2', 20, 7, 2);"
		     "INSERT INTO bisects (id, run_id, good_run_id, package, target, created_ms, done, verdict)"
		     " VALUES (4, 2, 1, 'dns', 'unix', 8, 1, 'culprit');");
	ck_assert_msg(store_migrate(st, STORE_SCHEMA_LATEST, &err) == 0, "%s", err.msg);
	struct store_job j;
	ck_assert_int_eq(store_job_get(st, 1, &j, &err), 0);
	ck_assert_str_eq(j.variant, "coverage");
	ck_assert_int_eq(j.fuzz_crash, 0);
	store_job_release(&j);
	ck_assert_int_eq(store_job_get(st, 3, &j, &err), 0);
	ck_assert_int_eq(j.rerun_of, 2);
	store_job_release(&j);
	ck_assert_int_eq(raw_int(st, "SELECT count(*) FROM job_edges WHERE job_id = 2 AND dep_id = 1"), 1);
	struct store_bisect b;
	ck_assert_int_eq(store_bisect_get(st, 4, &b, &err), 0);
	ck_assert_str_eq(b.verdict, "culprit");
	ck_assert_int_eq(b.good_run_id, 1);
	ck_assert_int_eq(b.crash_id, 0);
	store_bisect_release(&b);
	/* The rebuilt tables keep their foreign keys: deleting a run takes its jobs and bisections. */
	raw_exec(st, "PRAGMA foreign_keys = ON; DELETE FROM runs WHERE id = 2");
	ck_assert_int_eq(raw_int(st, "SELECT count(*) FROM jobs"), 1);
	ck_assert_int_eq(raw_int(st, "SELECT count(*) FROM bisects"), 0);
	ck_assert_int_eq(raw_try(st, "UPDATE jobs SET variant = 'other'"), SQLITE_CONSTRAINT);
	struct store_check_report rep;
	ck_assert_int_eq(store_check(st, &rep, &err), 0);
	ck_assert_msg(rep.ok, "%s", rep.nproblems ? rep.problems[0] : "?");
	store_check_report_release(&rep);
	store_close(st);
}
END_TEST

static Suite *store_fuzz_suite(void)
{
	Suite *s = suite_create("store_fuzz");
	TCase *tc = tcase_create("crashes");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_crash_lifecycle);
	tcase_add_test(tc, test_crash_refusals);
	tcase_add_test(tc, test_stats_latest);
	tcase_add_test(tc, test_replay_jobs_and_bisect);
	tcase_add_test(tc, test_part_undone_alone);
	suite_add_tcase(s, tc);

	tc = tcase_create("migration");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_migrate_9_keeps_rows);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run_suite(store_fuzz_suite());
}
