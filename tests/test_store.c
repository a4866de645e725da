/*
 * test_store.c — the SQLite store: migrations, refusals, round trips of every
 * data function, idempotent log uploads, readers running while a writer in
 * another process commits, and failures of the file system.
 *
 * Each test gets a fresh directory from mkdtemp (removed afterwards). Raw
 * SQLite is used here only to inject states the store never writes itself
 * (a newer user_version, a broken foreign key) and to look at rows the API
 * does not return.
 */
#define _GNU_SOURCE
#include "core/store.h"
#include "core/store-internal.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "check_main.h"
#include "core/banned.h"

static char tmpdir[256];
static char dbpath[300];

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	return type == FTW_DP ? rmdir(path) : unlink(path);
}

static void setup(void)
{
	const char *base = getenv("TMPDIR");
	int len =
	    snprintf(tmpdir, sizeof(tmpdir), "%s/ripple-test-store-XXXXXX", base && *base ? base : "/tmp");
	ck_assert_msg(len > 0 && (size_t)len < sizeof(tmpdir), "TMPDIR is too long");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(dbpath, sizeof(dbpath), "%s/ripple.db", tmpdir);
}

static void teardown(void)
{
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- helpers ------------------------------------------------------------ */

static struct store *open_ok(const char *path, unsigned flags)
{
	struct store *st = NULL;
	struct rp_error err = { .msg = "" };
	int ret = store_open(path, flags, &st, &err);
	ck_assert_msg(ret == 0, "store_open(%s) = %d: %s", path, ret, err.msg);
	ck_assert_ptr_nonnull(st);
	return st;
}

static void raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	char *msg = NULL;
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK, "%s: %s", sql, msg ? msg : "");
	sqlite3_close(db);
}

static long long raw_int(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	long long v;
	ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK, "%s: %s", sql,
		      sqlite3_errmsg(db));
	ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
	v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

static int64_t count_of(struct store *st, const char *table)
{
	struct store_table_count *c = NULL;
	struct rp_error err = { .msg = "" };
	size_t n = 0;
	int64_t rows = -2;
	ck_assert_msg(store_count_rows(st, &c, &n, &err) == 0, "%s", err.msg);
	for (size_t i = 0; i < n; i++)
		if (strcmp(c[i].table, table) == 0)
			rows = c[i].rows;
	free(c);
	ck_assert_msg(rows != -2, "no table %s in the counts", table);
	return rows;
}

static char *schema_of(const char *path)
{
	struct store *st = open_ok(path, STORE_NO_MIGRATE);
	struct rp_error err = { .msg = "" };
	char *sql = NULL;
	ck_assert_msg(store_schema_sql(st, &sql, &err) == 0, "%s", err.msg);
	store_close(st);
	return sql;
}

static const struct store_package_row three_pkgs[] = {
    {"cstruct", "https://example.org/cstruct.git", "main", 0},
    {"tcpip", "https://example.org/tcpip.git", "master", 1},
    {"mirage", "https://example.org/mirage.git", "main", 2},
};

static int64_t sync_three(struct store *st)
{
	struct rp_error err = { .msg = "" };
	int64_t uid = 0;
	ck_assert_msg(store_sync_universe(st, "mini", three_pkgs, 3, &uid, &err) == 0, "%s", err.msg);
	ck_assert_int_gt(uid, 0);
	return uid;
}

#define KEY_A "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define KEY_B "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

/* A run of four jobs: 1 and 2 after 0, 3 after 1 and 2. */
static const struct store_pin spec_baseline[] = {
    {"tcpip", "b2b2b2"},
    {"cstruct", "a1a1a1"},
    {"mirage", "c3c3c3"},
};
static const struct store_pin spec_change[] = {{"cstruct", "d4d4d4"}};
static const struct store_job_spec spec_jobs[] = {
    {"cstruct", "unix", "d4d4d4", KEY_A, NULL, NULL, 0},
    {"tcpip", "unix", "b2b2b2", NULL, NULL, NULL, 0},
    {"tcpip", "vm", "b2b2b2", NULL, NULL, NULL, 0},
    {"mirage", "unix", "c3c3c3", NULL, NULL, NULL, 0},
};
static const struct store_edge spec_edges[] = {{3, 2}, {1, 0}, {2, 0}, {3, 1}};

static struct store_run_spec diamond_spec(void)
{
	struct store_run_spec spec = {
	    .universe = "mini",
	    .kind = STORE_RUN_PR,
	    .priority = 30,
	    .title = "cstruct: faster copy",
	    .change_ref = "github:mirage/cstruct#12",
	    .baseline = spec_baseline,
	    .nbaseline = 3,
	    .change = spec_change,
	    .nchange = 1,
	    .jobs = spec_jobs,
	    .njobs = 4,
	    .edges = spec_edges,
	    .nedges = 4,
	    .created_ms = 1700000000123,
	};
	return spec;
}

/* ---- migrations and refusals ------------------------------------------------ */

START_TEST(test_migrate_empty_to_latest)
{
	struct store *st = open_ok(dbpath, 0);
	struct store_check_report rep;
	struct rp_error err = { .msg = "" };

	ck_assert_int_eq(store_schema_version(st, &err), STORE_SCHEMA_LATEST);
	ck_assert_int_eq(raw_int(dbpath, "PRAGMA user_version"), STORE_SCHEMA_LATEST);
	ck_assert_int_eq(store_check(st, &rep, &err), 0);
	ck_assert_int_eq(rep.ok, 1);
	ck_assert_int_eq(rep.version, STORE_SCHEMA_LATEST);
	ck_assert_int_eq(rep.nproblems, 0);
	ck_assert_uint_eq(rep.ncounts, 22);
	for (size_t i = 0; i < rep.ncounts; i++)
		ck_assert_msg(rep.counts[i].rows == 0, "%s has %lld rows", rep.counts[i].table,
			      (long long)rep.counts[i].rows);
	store_check_report_release(&rep);
	store_close(st);
	/* WAL is a property of the file, so a plain connection sees it. */
	raw_exec(dbpath, "SELECT 1");
	{
		sqlite3 *db;
		sqlite3_stmt *s;
		ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
		ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
		ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
		ck_assert_str_eq((const char *)sqlite3_column_text(s, 0), "wal");
		sqlite3_finalize(s);
		sqlite3_close(db);
	}
}
END_TEST

START_TEST(test_migrate_stepwise_same_schema)
{
	char path[400];
	char *scratch, *got;

	snprintf(path, sizeof(path), "%s/scratch.db", tmpdir);
	store_close(open_ok(path, 0));
	scratch = schema_of(path);
	/* Schema 10 rebuilt jobs, and SQLite quotes a renamed table's name. */
	ck_assert_ptr_nonnull(strstr(scratch, "table jobs: CREATE TABLE \"jobs\""));

	for (int from = 0; from < STORE_SCHEMA_LATEST; from++) {
		struct rp_error err = { .msg = "" };
		struct store *st;

		/* One step at a time, each in a new connection, from version `from`. */
		snprintf(path, sizeof(path), "%s/step-%d.db", tmpdir, from);
		st = open_ok(path, STORE_NO_MIGRATE);
		ck_assert_int_eq(store_schema_version(st, &err), 0);
		if (from > 0)
			ck_assert_msg(store_migrate(st, from, &err) == 0, "%s", err.msg);
		store_close(st);
		for (int to = from + 1; to <= STORE_SCHEMA_LATEST; to++) {
			st = open_ok(path, STORE_NO_MIGRATE);
			ck_assert_int_eq(store_schema_version(st, &err), to - 1);
			ck_assert_msg(store_migrate(st, to, &err) == 0, "%d -> %d: %s", to - 1, to, err.msg);
			ck_assert_int_eq(store_schema_version(st, &err), to);
			store_close(st);
		}
		got = schema_of(path);
		ck_assert_str_eq(got, scratch);
		free(got);

		/* All remaining steps at once, by a default open, from version `from`. */
		snprintf(path, sizeof(path), "%s/jump-%d.db", tmpdir, from);
		st = open_ok(path, STORE_NO_MIGRATE);
		if (from > 0)
			ck_assert_msg(store_migrate(st, from, &err) == 0, "%s", err.msg);
		ck_assert_int_eq(store_schema_version(st, &err), from);
		store_close(st);
		store_close(open_ok(path, 0));
		ck_assert_int_eq(raw_int(path, "PRAGMA user_version"), STORE_SCHEMA_LATEST);
		got = schema_of(path);
		ck_assert_str_eq(got, scratch);
		free(got);
	}
	free(scratch);
}
END_TEST

START_TEST(test_migrate_target_range)
{
	struct store *st = open_ok(dbpath, STORE_NO_MIGRATE);
	struct rp_error err = { .msg = "" };

	ck_assert_int_eq(store_migrate(st, 0, &err), RP_ERANGE);
	ck_assert_int_eq(store_migrate(st, STORE_SCHEMA_LATEST + 1, &err), RP_ERANGE);
	ck_assert_int_eq(store_migrate(st, 2, &err), 0);
	ck_assert_int_eq(store_schema_version(st, &err), 2);
	/* No downgrades: an older target leaves the schema alone. */
	ck_assert_int_eq(store_migrate(st, 1, &err), 0);
	ck_assert_int_eq(store_schema_version(st, &err), 2);
	store_close(st);
}
END_TEST

START_TEST(test_reopen_keeps_data)
{
	struct store *st = open_ok(dbpath, 0);
	struct store_run_spec spec = diamond_spec();
	struct store_run run;
	struct rp_error err = { .msg = "" };
	int64_t run_id = 0;

	sync_three(st);
	ck_assert_msg(store_run_create(st, &spec, &run_id, NULL, &err) == 0, "%s", err.msg);
	store_close(st);

	st = open_ok(dbpath, 0);
	ck_assert_int_eq(store_schema_version(st, &err), STORE_SCHEMA_LATEST);
	ck_assert_int_eq(count_of(st, "packages"), 3);
	ck_assert_int_eq(count_of(st, "jobs"), 4);
	ck_assert_int_eq(count_of(st, "job_edges"), 4);
	ck_assert_msg(store_run_get(st, run_id, &run, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(run.title, "cstruct: faster copy");
	store_run_release(&run);
	store_close(st);
}
END_TEST

START_TEST(test_newer_schema_refused)
{
	char sql[64], want[RP_ERROR_MAX];
	struct store *st = NULL;
	struct rp_error err = { .msg = "" };

	store_close(open_ok(dbpath, 0));
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", STORE_SCHEMA_LATEST + 4);
	raw_exec(dbpath, sql);
	snprintf(want, sizeof(want),
		 "%s: database schema version %d is newer than this ripple supports (%d); upgrade ripple",
		 dbpath, STORE_SCHEMA_LATEST + 4, STORE_SCHEMA_LATEST);

	ck_assert_int_eq(store_open(dbpath, 0, &st, &err), RP_ESCHEMA);
	ck_assert_ptr_null(st);
	ck_assert_str_eq(err.msg, want);
	memset(&err, 0, sizeof(err));
	ck_assert_int_eq(store_open(dbpath, STORE_READONLY, &st, &err), RP_ESCHEMA);
	ck_assert_str_eq(err.msg, want);
	memset(&err, 0, sizeof(err));
	ck_assert_int_eq(store_open(dbpath, STORE_NO_MIGRATE, &st, &err), RP_ESCHEMA);
	ck_assert_str_eq(err.msg, want);
	/* Refused without touching it. */
	ck_assert_int_eq(raw_int(dbpath, "PRAGMA user_version"), STORE_SCHEMA_LATEST + 4);
}
END_TEST

START_TEST(test_not_a_database_refused)
{
	char want[RP_ERROR_MAX];
	struct store *st = NULL;
	struct rp_error err = { .msg = "" };
	FILE *f = fopen(dbpath, "w");

	ck_assert_ptr_nonnull(f);
	for (int i = 0; i < 200; i++)
		fputs("{ \"universe\": \"this is a manifest, not a database\" }\n", f);
	ck_assert_int_eq(fclose(f), 0);
	snprintf(want, sizeof(want), "%s: not an SQLite database", dbpath);

	ck_assert_int_eq(store_open(dbpath, 0, &st, &err), RP_EINVAL);
	ck_assert_ptr_null(st);
	ck_assert_str_eq(err.msg, want);
	memset(&err, 0, sizeof(err));
	ck_assert_int_eq(store_open(dbpath, STORE_READONLY, &st, &err), RP_EINVAL);
	ck_assert_str_eq(err.msg, want);
}
END_TEST

START_TEST(test_readonly_does_not_migrate)
{
	char missing[400], want[RP_ERROR_MAX];
	struct store *st = open_ok(dbpath, STORE_NO_MIGRATE);
	struct rp_error err = { .msg = "" };

	ck_assert_int_eq(store_migrate(st, 1, &err), 0);
	store_close(st);

	st = open_ok(dbpath, STORE_READONLY);
	ck_assert_int_eq(store_schema_version(st, &err), 1);
	ck_assert_int_eq(store_migrate(st, STORE_SCHEMA_LATEST, &err), RP_EINVAL);
	ck_assert_int_eq(count_of(st, "universes"), 0);
	ck_assert_int_eq(count_of(st, "jobs"), -1);
	store_close(st);
	ck_assert_int_eq(raw_int(dbpath, "PRAGMA user_version"), 1);

	st = open_ok(dbpath, STORE_NO_MIGRATE);
	ck_assert_int_eq(store_schema_version(st, &err), 1);
	store_close(st);
	ck_assert_int_eq(raw_int(dbpath, "PRAGMA user_version"), 1);

	/* Reading a database that is not there must not create it. */
	snprintf(missing, sizeof(missing), "%s/missing.db", tmpdir);
	ck_assert_int_eq(store_open(missing, STORE_READONLY, &st, &err), RP_EIO);
	ck_assert_ptr_null(st);
	snprintf(want, sizeof(want), "%s: cannot open database: No such file or directory", missing);
	ck_assert_str_eq(err.msg, want);
	ck_assert_int_eq(access(missing, F_OK), -1);
}
END_TEST

START_TEST(test_check_finds_problems)
{
	struct store *st = open_ok(dbpath, 0);
	struct store_check_report rep;
	struct rp_error err = { .msg = "" };
	int found = 0;

	sync_three(st);
	store_close(st);
	/* A job of a run that does not exist, written behind the store's back. */
	raw_exec(dbpath, "PRAGMA foreign_keys = OFF;"
			 "INSERT INTO jobs (run_id, package, target, commit_id, priority, created_ms)"
			 " VALUES (999, 'cstruct', 'unix', 'abc', 1, 1);"
			 "PRAGMA user_version = 2;");
	st = open_ok(dbpath, STORE_READONLY);
	ck_assert_int_eq(store_check(st, &rep, &err), 0);
	ck_assert_int_eq(rep.ok, 0);
	ck_assert_int_eq(rep.version, 2);
	ck_assert_int_eq(rep.version_ok, 0);
	ck_assert_int_eq(rep.integrity_ok, 1);
	ck_assert_int_eq(rep.foreign_keys_ok, 0);
	ck_assert_uint_eq(rep.nproblems, 2);
	char older[80];
	snprintf(older, sizeof(older), "schema version 2 is older than %d; run `ripple db migrate`", STORE_SCHEMA_LATEST);
	ck_assert_str_eq(rep.problems[0], older);
	ck_assert_str_eq(rep.problems[1], "foreign key: row 1 of jobs refers to a missing row of runs");
	for (size_t i = 0; i < rep.ncounts; i++)
		if (strcmp(rep.counts[i].table, "packages") == 0) {
			ck_assert_int_eq(rep.counts[i].rows, 3);
			found = 1;
		}
	ck_assert_int_eq(found, 1);
	store_check_report_release(&rep);
	store_close(st);
}
END_TEST

START_TEST(test_check_finds_corruption)
{
	struct store_package_row pkgs[500];
	char names[500][16];
	struct store_check_report rep;
	struct rp_error err = { .msg = "" };
	struct store *st = open_ok(dbpath, 0);
	long long page_size, root;
	int fd;

	for (int i = 0; i < 500; i++) {
		snprintf(names[i], sizeof(names[i]), "pkg%03d", i);
		pkgs[i] = (struct store_package_row){names[i], "https://example.org/a/long/enough/url.git",
						     "main", i};
	}
	ck_assert_int_eq(store_sync_universe(st, "big", pkgs, 500, NULL, &err), 0);
	store_close(st);
	/* Closing the last connection checkpoints the WAL into the file. */
	page_size = raw_int(dbpath, "PRAGMA page_size");
	root = raw_int(dbpath, "SELECT rootpage FROM sqlite_schema WHERE name = 'packages'");
	ck_assert_int_gt(root, 1);
	fd = open(dbpath, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, "\xff\xff\xff\xff\xff\xff\xff\xff", 8, (off_t)((root - 1) * page_size)),
			 8);
	ck_assert_int_eq(close(fd), 0);

	st = open_ok(dbpath, STORE_READONLY);
	ck_assert_int_eq(store_check(st, &rep, &err), 0);
	ck_assert_int_eq(rep.ok, 0);
	ck_assert_int_eq(rep.version_ok, 1);
	ck_assert_int_eq(rep.integrity_ok, 0);
	ck_assert_uint_ge(rep.nproblems, 1);
	ck_assert_msg(strncmp(rep.problems[0], "integrity: ", 11) == 0, "%s", rep.problems[0]);
	store_check_report_release(&rep);
	store_close(st);
}
END_TEST

/* ---- data ---------------------------------------------------------------------- */

START_TEST(test_sync_universe)
{
	struct store *st = open_ok(dbpath, 0);
	struct rp_error err = { .msg = "" };
	const struct store_package_row next[] = {
	    {"mirage", "https://example.org/mirage.git", "next", 0},
	    {"cstruct", "https://example.org/cstruct.git", "main", 1},
	    {"arp", "https://example.org/arp.git", "main", 2},
	};
	const struct store_package_row dup[] = {
	    {"arp", "r", "main", 0},
	    {"arp", "r", "main", 1},
	};
	int64_t uid = sync_three(st), uid2 = 0;
	long long cstruct_id = raw_int(dbpath, "SELECT id FROM packages WHERE name = 'cstruct'");

	ck_assert_msg(store_sync_universe(st, "mini", next, 3, &uid2, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(uid2, uid);
	ck_assert_int_eq(count_of(st, "universes"), 1);
	ck_assert_int_eq(count_of(st, "packages"), 3);
	ck_assert_int_eq(raw_int(dbpath, "SELECT count(*) FROM packages WHERE name = 'tcpip'"), 0);
	ck_assert_int_eq(raw_int(dbpath, "SELECT position FROM packages WHERE name = 'arp'"), 2);
	ck_assert_int_eq(raw_int(dbpath, "SELECT count(*) FROM packages WHERE name = 'mirage'"
					 " AND branch = 'next' AND position = 0"),
			 1);
	/* Matched by name: a package that stays keeps its id. */
	ck_assert_int_eq(raw_int(dbpath, "SELECT id FROM packages WHERE name = 'cstruct'"), cstruct_id);

	ck_assert_int_eq(store_sync_universe(st, "mini", dup, 2, NULL, &err), RP_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "package 'arp' is listed twice"));
	ck_assert_int_eq(store_sync_universe(st, "", next, 3, NULL, &err), RP_EINVAL);
	ck_assert_int_eq(count_of(st, "packages"), 3);

	/* A second universe is separate; an empty package list empties it. */
	ck_assert_int_eq(store_sync_universe(st, "other", three_pkgs, 3, &uid2, &err), 0);
	ck_assert_int_ne(uid2, uid);
	ck_assert_int_eq(count_of(st, "packages"), 6);
	ck_assert_int_eq(store_sync_universe(st, "other", NULL, 0, NULL, &err), 0);
	ck_assert_int_eq(count_of(st, "packages"), 3);
	store_close(st);
}
END_TEST

START_TEST(test_run_roundtrip)
{
	struct store *st = open_ok(dbpath, 0);
	struct store_run_spec spec = diamond_spec();
	struct store_job *jobs = NULL;
	struct store_run run;
	struct rp_error err = { .msg = "" };
	int64_t run_id = 0, ids[4] = {0};
	size_t n = 0;

	sync_three(st);
	ck_assert_msg(store_run_create(st, &spec, &run_id, ids, &err) == 0, "%s", err.msg);
	ck_assert_int_gt(run_id, 0);
	for (int i = 1; i < 4; i++)
		ck_assert_int_gt(ids[i], ids[i - 1]);

	ck_assert_msg(store_run_get(st, run_id, &run, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(run.id, run_id);
	ck_assert_str_eq(run.universe, "mini");
	ck_assert_int_eq(run.kind, STORE_RUN_PR);
	ck_assert_int_eq(run.priority, 30);
	ck_assert_int_eq(run.state, STORE_RUN_QUEUED);
	ck_assert_str_eq(run.title, "cstruct: faster copy");
	ck_assert_str_eq(run.change_ref, "github:mirage/cstruct#12");
	ck_assert_int_eq(run.created_ms, 1700000000123);
	ck_assert_int_eq(run.finished_ms, 0);
	ck_assert_uint_eq(run.nbaseline, 3);
	ck_assert_str_eq(run.baseline[0].package, "cstruct");
	ck_assert_str_eq(run.baseline[0].commit, "a1a1a1");
	ck_assert_str_eq(run.baseline[1].package, "mirage");
	ck_assert_str_eq(run.baseline[1].commit, "c3c3c3");
	ck_assert_str_eq(run.baseline[2].package, "tcpip");
	ck_assert_str_eq(run.baseline[2].commit, "b2b2b2");
	ck_assert_uint_eq(run.nchange, 1);
	ck_assert_str_eq(run.change[0].package, "cstruct");
	ck_assert_str_eq(run.change[0].commit, "d4d4d4");
	store_run_release(&run);
	ck_assert_ptr_null(run.mem_);

	ck_assert_msg(store_jobs_list(st, run_id, &jobs, &n, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(n, 4);
	for (size_t i = 0; i < n; i++) {
		ck_assert_int_eq(jobs[i].id, ids[i]);
		ck_assert_int_eq(jobs[i].run_id, run_id);
		ck_assert_str_eq(jobs[i].package, spec_jobs[i].package);
		ck_assert_str_eq(jobs[i].target, spec_jobs[i].target);
		ck_assert_str_eq(jobs[i].commit, spec_jobs[i].commit);
		ck_assert_int_eq(jobs[i].priority, 30);
		ck_assert_int_eq(jobs[i].state, STORE_JOB_QUEUED);
		ck_assert_int_eq(jobs[i].attempt, 0);
		ck_assert_ptr_null(jobs[i].lease_owner);
		ck_assert_int_eq(jobs[i].lease_expires_ms, 0);
		ck_assert_int_eq(jobs[i].fence, 0);
		ck_assert_int_eq(jobs[i].created_ms, 1700000000123);
		ck_assert_int_eq(jobs[i].started_ms, 0);
		ck_assert_int_eq(jobs[i].finished_ms, 0);
	}
	ck_assert_str_eq(jobs[0].build_key, KEY_A);
	ck_assert_ptr_null(jobs[1].build_key);
	ck_assert_int_eq(jobs[0].deps_left, 0);
	ck_assert_uint_eq(jobs[0].ndeps, 0);
	ck_assert_ptr_null(jobs[0].deps);
	ck_assert_int_eq(jobs[1].deps_left, 1);
	ck_assert_uint_eq(jobs[1].ndeps, 1);
	ck_assert_int_eq(jobs[1].deps[0], ids[0]);
	ck_assert_int_eq(jobs[2].deps_left, 1);
	ck_assert_uint_eq(jobs[2].ndeps, 1);
	ck_assert_int_eq(jobs[2].deps[0], ids[0]);
	ck_assert_int_eq(jobs[3].deps_left, 2);
	ck_assert_uint_eq(jobs[3].ndeps, 2);
	ck_assert_int_eq(jobs[3].deps[0], ids[1]);
	ck_assert_int_eq(jobs[3].deps[1], ids[2]);
	store_jobs_free(jobs, n);

	/* A second run gets its own jobs; the first run's list is unchanged. */
	spec.kind = STORE_RUN_NIGHTLY;
	spec.priority = 1;
	spec.title = NULL;
	spec.change_ref = NULL;
	spec.nchange = 0;
	spec.njobs = 1;
	spec.nedges = 0;
	spec.created_ms = 0;
	ck_assert_int_eq(store_run_create(st, &spec, &run_id, NULL, &err), 0);
	ck_assert_int_eq(store_run_get(st, run_id, &run, &err), 0);
	ck_assert_int_eq(run.kind, STORE_RUN_NIGHTLY);
	ck_assert_ptr_null(run.title);
	ck_assert_ptr_null(run.change_ref);
	ck_assert_uint_eq(run.nchange, 0);
	ck_assert_int_gt(run.created_ms, 1700000000123);
	store_run_release(&run);
	ck_assert_int_eq(store_jobs_list(st, run_id, &jobs, &n, &err), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_gt(jobs[0].id, ids[3]);
	store_jobs_free(jobs, n);
	ck_assert_int_eq(count_of(st, "jobs"), 5);
	store_close(st);
}
END_TEST

START_TEST(test_run_create_refusals)
{
	struct store *st = open_ok(dbpath, 0);
	struct store_run_spec spec = diamond_spec();
	const struct store_edge backwards[] = {{0, 1}};
	const struct store_edge twice[] = {{1, 0}, {1, 0}};
	const struct store_pin dup_pins[] = {{"cstruct", "a"}, {"cstruct", "b"}};
	const struct store_job_spec bad_key[] = {{"cstruct", "unix", "d4", "ABCDEF", NULL, NULL, 0}};
	struct store_job *jobs = (struct store_job *)1;
	struct store_run run;
	struct rp_error err = { .msg = "" };
	int64_t run_id = 0;
	size_t n = 5;

	sync_three(st);
	spec.edges = backwards;
	spec.nedges = 1;
	ck_assert_int_eq(store_run_create(st, &spec, &run_id, NULL, &err), RP_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "not in topological order"));
	spec.edges = twice;
	spec.nedges = 2;
	ck_assert_int_eq(store_run_create(st, &spec, &run_id, NULL, &err), RP_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "listed twice"));
	spec = diamond_spec();
	spec.universe = "nosuch";
	ck_assert_int_eq(store_run_create(st, &spec, &run_id, NULL, &err), RP_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(err.msg, "no universe named 'nosuch'"));
	spec = diamond_spec();
	spec.jobs = bad_key;
	spec.njobs = 1;
	spec.nedges = 0;
	ck_assert_int_eq(store_run_create(st, &spec, &run_id, NULL, &err), RP_EINVAL);
	/* Found only by the database, after the run row is written: all of it rolls back. */
	spec = diamond_spec();
	spec.baseline = dup_pins;
	spec.nbaseline = 2;
	ck_assert_int_eq(store_run_create(st, &spec, &run_id, NULL, &err), RP_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "pinned twice"));
	ck_assert_int_eq(count_of(st, "runs"), 0);
	ck_assert_int_eq(count_of(st, "run_pins"), 0);
	ck_assert_int_eq(count_of(st, "jobs"), 0);

	ck_assert_int_eq(store_run_get(st, 42, &run, &err), RP_ENOTFOUND);
	ck_assert_ptr_null(run.universe);
	ck_assert_int_eq(store_jobs_list(st, 42, &jobs, &n, &err), RP_ENOTFOUND);
	ck_assert_ptr_null(jobs);
	ck_assert_uint_eq(n, 0);

	/* A run with nothing left to build (everything cached) has no jobs. */
	spec = diamond_spec();
	spec.njobs = 0;
	spec.nedges = 0;
	ck_assert_int_eq(store_run_create(st, &spec, &run_id, NULL, &err), 0);
	ck_assert_int_eq(store_jobs_list(st, run_id, &jobs, &n, &err), 0);
	ck_assert_ptr_null(jobs);
	ck_assert_uint_eq(n, 0);
	store_close(st);
}
END_TEST

static int64_t one_job(struct store *st)
{
	struct store_run_spec spec = diamond_spec();
	struct rp_error err = { .msg = "" };
	int64_t ids[4];

	sync_three(st);
	ck_assert_msg(store_run_create(st, &spec, NULL, ids, &err) == 0, "%s", err.msg);
	return ids[0];
}

START_TEST(test_log_append)
{
	struct store *st = open_ok(dbpath, 0);
	struct rp_error err = { .msg = "" };
	const char *all = "hello world, again";
	int64_t job = one_job(st), size = -1;
	char buf[64];
	size_t n = 0;

	ck_assert_int_eq(store_log_size(st, job, 0, &size, &err), 0);
	ck_assert_int_eq(size, 0);
	ck_assert_int_eq(store_log_append(st, job, 0, 0, "hello ", 6, &size, &err), 0);
	ck_assert_int_eq(size, 6);
	ck_assert_int_eq(store_log_append(st, job, 0, 6, "world", 5, &size, &err), 0);
	ck_assert_int_eq(size, 11);
	/* The worker did not hear back and sends the same chunk again. */
	ck_assert_int_eq(store_log_append(st, job, 0, 6, "world", 5, &size, &err), 0);
	ck_assert_int_eq(size, 11);
	ck_assert_int_eq(store_log_append(st, job, 0, 0, "hello ", 6, &size, &err), 0);
	ck_assert_int_eq(size, 11);
	ck_assert_int_eq(count_of(st, "log_chunks"), 2);
	/* A resend that grew meanwhile: only the new tail is stored. */
	ck_assert_int_eq(store_log_append(st, job, 0, 0, all, strlen(all), &size, &err), 0);
	ck_assert_int_eq(size, 18);
	ck_assert_int_eq(count_of(st, "log_chunks"), 3);

	ck_assert_int_eq(store_log_append(st, job, 0, 19, "!", 1, &size, &err), RP_ERANGE);
	ck_assert_ptr_nonnull(strstr(err.msg, "chunk at byte 19 leaves a gap after byte 18"));
	ck_assert_int_eq(store_log_append(st, job, 0, 3, "XX", 2, &size, &err), RP_EEXISTS);
	ck_assert_int_eq(store_log_append(st, job, 0, 10, "d, XX", 5, &size, &err), RP_EEXISTS);
	ck_assert_int_eq(store_log_append(st, job, -1, 0, "x", 1, &size, &err), RP_EINVAL);
	ck_assert_int_eq(store_log_append(st, job + 1000, 0, 0, "x", 1, &size, &err), RP_ENOTFOUND);
	ck_assert_int_eq(store_log_append(st, job, 0, -1, "x", 1, &size, &err), RP_EINVAL);
	ck_assert_int_eq(store_log_append(st, job, 0, 18, all, STORE_LOG_CHUNK_MAX + 1, &size, &err),
			 RP_ERANGE);
	ck_assert_int_eq(store_log_size(st, job, 0, &size, &err), 0);
	ck_assert_int_eq(size, 18);
	ck_assert_int_eq(count_of(st, "log_chunks"), 3);

	memset(buf, 0, sizeof(buf));
	ck_assert_int_eq(store_log_read(st, job, 0, 0, buf, sizeof(buf), &n, &err), 0);
	ck_assert_uint_eq(n, 18);
	ck_assert_mem_eq(buf, all, 18);
	/* Across the chunk boundaries at 6 and 11. */
	ck_assert_int_eq(store_log_read(st, job, 0, 4, buf, 9, &n, &err), 0);
	ck_assert_uint_eq(n, 9);
	ck_assert_mem_eq(buf, "o world, ", 9);
	ck_assert_int_eq(store_log_read(st, job, 0, 17, buf, 10, &n, &err), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(buf[0], 'n');
	ck_assert_int_eq(store_log_read(st, job, 0, 18, buf, 10, &n, &err), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(store_log_read(st, job, 0, 100, buf, 10, &n, &err), 0);
	ck_assert_uint_eq(n, 0);

	/* A retry's log is a log of its own. */
	ck_assert_int_eq(store_log_size(st, job, 1, &size, &err), 0);
	ck_assert_int_eq(size, 0);
	ck_assert_int_eq(store_log_append(st, job, 1, 0, "\0binary\xff", 8, &size, &err), 0);
	ck_assert_int_eq(store_log_read(st, job, 1, 0, buf, sizeof(buf), &n, &err), 0);
	ck_assert_uint_eq(n, 8);
	ck_assert_mem_eq(buf, "\0binary\xff", 8);
	store_close(st);
}
END_TEST

START_TEST(test_log_large)
{
	struct store *st = open_ok(dbpath, 0);
	struct rp_error err = { .msg = "" };
	int64_t job = one_job(st), size = 0, off = 0;
	size_t total = 3 * STORE_LOG_CHUNK_MAX + 12345, n = 0;
	unsigned char *src = malloc(total), *dst = malloc(total);

	ck_assert_ptr_nonnull(src);
	ck_assert_ptr_nonnull(dst);
	for (size_t i = 0; i < total; i++)
		src[i] = (unsigned char)(i * 2654435761u >> 13);
	/* Uneven chunks, each sent twice, the second time overlapping the next. */
	while ((size_t)off < total) {
		size_t len = (size_t)off % 7 == 0 ? 70001 : STORE_LOG_CHUNK_MAX;
		if (len > total - (size_t)off)
			len = total - (size_t)off;
		ck_assert_msg(store_log_append(st, job, 0, off, src + off, len, &size, &err) == 0, "%s",
			      err.msg);
		ck_assert_int_eq(store_log_append(st, job, 0, off, src + off, len, &size, &err), 0);
		ck_assert_int_eq(size, off + (int64_t)len);
		off += (int64_t)len;
	}
	ck_assert_int_eq(store_log_read(st, job, 0, 0, dst, total, &n, &err), 0);
	ck_assert_uint_eq(n, total);
	ck_assert_int_eq(memcmp(src, dst, total), 0);
	free(src);
	free(dst);
	store_close(st);
}
END_TEST

START_TEST(test_build_cache)
{
	struct store *st = open_ok(dbpath, 0);
	struct store_build got, pass = { .build_key = KEY_A, .package = "cstruct", .target = "unix",
					 .commit_id = "abc", .status = "pass", .output_hash = KEY_B,
					 .duration_ms = 1234, .log_location = "logs/a.log", .created_ms = 42 };
	struct store_build fail = { .build_key = KEY_B, .package = "tcpip", .target = "unix", .commit_id = "def",
				    .status = "fail", .failed_step = "build", .category = "compile_error",
				    .first_error = "src/tcpip.c:12:5: error: too few arguments" };
	struct rp_error err = { .msg = "" };

	ck_assert_int_eq(store_build_get(st, KEY_A, &got, &err), RP_ENOTFOUND);
	ck_assert_int_eq(store_build_put(st, &pass, &err), 0);
	ck_assert_int_eq(store_build_put(st, &fail, &err), 0);
	ck_assert_int_eq(store_build_get(st, KEY_A, &got, &err), 0);
	ck_assert_str_eq(got.status, "pass");
	ck_assert_ptr_null(got.failed_step);
	ck_assert_str_eq(got.output_hash, KEY_B);
	ck_assert_int_eq(got.duration_ms, 1234);
	ck_assert_str_eq(got.log_location, "logs/a.log");
	ck_assert_int_eq(got.created_ms, 42);
	store_build_release(&got);
	/* The first result of a key stands. */
	pass.status = "fail";
	pass.failed_step = "test";
	ck_assert_int_eq(store_build_put(st, &pass, &err), 0);
	ck_assert_int_eq(store_build_get(st, KEY_A, &got, &err), 0);
	ck_assert_str_eq(got.status, "pass");
	store_build_release(&got);
	ck_assert_int_eq(store_build_get(st, KEY_B, &got, &err), 0);
	ck_assert_str_eq(got.failed_step, "build");
	ck_assert_ptr_null(got.output_hash);
	ck_assert_str_eq(got.first_error, "src/tcpip.c:12:5: error: too few arguments");
	store_build_release(&got);
	/* The latest build of a package on a target gives the estimate of its next one. */
	int64_t ms = 0;
	ck_assert_int_eq(store_build_last_duration(st, "cstruct", "unix", &ms, &err), 0);
	ck_assert_int_eq(ms, 1234);
	ck_assert_int_eq(store_build_last_duration(st, "cstruct", "vm", &ms, &err), RP_ENOTFOUND);
	/* The schema refuses what cannot be: a pass with a failed step, a test failure without output. */
	struct store_build bad = fail;
	bad.build_key = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";
	bad.failed_step = "test";
	ck_assert_int_lt(store_build_put(st, &bad, &err), 0);
	store_close(st);
}
END_TEST

START_TEST(test_artifacts)
{
	struct store *st = open_ok(dbpath, 0);
	struct store_artifact a = {
	    .build_key = KEY_A,
	    .name = "prefix",
	    .size = 123456,
	    .sha256 = KEY_B,
	    .location = "blobs/fe/dcba98.tar",
	    .created_ms = 1700000000999,
	};
	struct store_artifact got;
	struct rp_error err = { .msg = "" };

	ck_assert_msg(store_artifact_put(st, &a, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(store_artifact_get(st, KEY_A, "prefix", &got, &err), 0);
	ck_assert_str_eq(got.build_key, KEY_A);
	ck_assert_str_eq(got.name, "prefix");
	ck_assert_int_eq(got.size, 123456);
	ck_assert_str_eq(got.sha256, KEY_B);
	ck_assert_str_eq(got.location, "blobs/fe/dcba98.tar");
	ck_assert_int_eq(got.created_ms, 1700000000999);
	store_artifact_release(&got);
	ck_assert_ptr_null(got.mem_);

	/* Same output again (another worker built it too): fine, first location kept. */
	a.location = "elsewhere.tar";
	ck_assert_int_eq(store_artifact_put(st, &a, &err), 0);
	ck_assert_int_eq(store_artifact_get(st, KEY_A, "prefix", &got, &err), 0);
	ck_assert_str_eq(got.location, "blobs/fe/dcba98.tar");
	store_artifact_release(&got);
	/* Different output under the same key: refused. */
	a.sha256 = KEY_A;
	ck_assert_int_eq(store_artifact_put(st, &a, &err), RP_EEXISTS);
	ck_assert_ptr_nonnull(strstr(err.msg, "already recorded with sha256 fedcba987654"));
	ck_assert_int_eq(count_of(st, "artifacts"), 1);

	/* Another artifact of the same build, and lookups that miss. */
	a.name = "coverage";
	ck_assert_int_eq(store_artifact_put(st, &a, &err), 0);
	ck_assert_int_eq(count_of(st, "artifacts"), 2);
	ck_assert_int_eq(store_artifact_get(st, KEY_B, "prefix", &got, &err), RP_ENOTFOUND);
	ck_assert_ptr_null(got.sha256);
	ck_assert_int_eq(store_artifact_get(st, KEY_A, "abi", &got, &err), RP_ENOTFOUND);

	a.sha256 = "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef";
	ck_assert_int_eq(store_artifact_put(st, &a, &err), RP_EINVAL);
	a.sha256 = KEY_B;
	a.size = -1;
	ck_assert_int_eq(store_artifact_put(st, &a, &err), RP_EINVAL);
	store_close(st);
}
END_TEST

START_TEST(test_enum_names)
{
	ck_assert_str_eq(store_run_kind_name(STORE_RUN_BISECT), "bisect");
	ck_assert_str_eq(store_run_state_name(STORE_RUN_CANCELLED), "cancelled");
	ck_assert_str_eq(store_job_state_name(STORE_JOB_LEASED), "leased");
	ck_assert_str_eq(store_result_status_name(STORE_RESULT_TIMEOUT), "timeout");
	ck_assert_ptr_null(store_run_kind_name((enum store_run_kind)99));
}
END_TEST

/* ---- readers while a writer commits ------------------------------------------------ */

#define CONC_BATCH 50
#define CONC_ROWS 2000

struct reader {
	pthread_t thread;
	unsigned flags;
	atomic_int *ready;
	atomic_int *stop;
	long reads;
	long states; /* distinct job counts seen: how much the readers overlapped the writer */
	int64_t last;
	char failure[RP_ERROR_MAX + 128];
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	struct store *st = NULL;
	struct rp_error err = { .msg = "" };
	int signalled = 0;

	if (store_open(dbpath, r->flags, &st, &err) < 0) {
		snprintf(r->failure, sizeof(r->failure), "open: %s", err.msg);
		atomic_fetch_add(r->ready, 1);
		return NULL;
	}
	r->last = -1;
	while (!atomic_load(r->stop)) {
		struct store_table_count *c = NULL;
		int64_t runs = -1, jobs = -1;
		size_t n = 0;
		int ret = store_count_rows(st, &c, &n, &err);
		if (ret < 0) {
			snprintf(r->failure, sizeof(r->failure), "read %ld: %d: %s", r->reads, ret, err.msg);
			break;
		}
		for (size_t i = 0; i < n; i++) {
			if (strcmp(c[i].table, "runs") == 0)
				runs = c[i].rows;
			if (strcmp(c[i].table, "jobs") == 0)
				jobs = c[i].rows;
		}
		free(c);
		r->reads++;
		/* A snapshot shows whole transactions: never a part of a batch, never going back. */
		if (jobs % CONC_BATCH != 0 || jobs != runs * CONC_BATCH || jobs < r->last) {
			snprintf(r->failure, sizeof(r->failure),
				 "read %ld saw %lld runs, %lld jobs after %lld jobs", r->reads,
				 (long long)runs, (long long)jobs, (long long)r->last);
			break;
		}
		if (jobs != r->last)
			r->states++;
		r->last = jobs;
		if (!signalled) {
			atomic_fetch_add(r->ready, 1);
			signalled = 1;
		}
		if (jobs == CONC_ROWS)
			break;
	}
	if (!signalled)
		atomic_fetch_add(r->ready, 1);
	store_close(st);
	return NULL;
}

/* The writer, in a child process: CONC_ROWS jobs, CONC_BATCH per transaction. */
static int writer_main(int go_fd)
{
	struct store_job_spec jobs[CONC_BATCH];
	struct store_edge edges[CONC_BATCH - 1];
	struct store_run_spec spec = {.universe = "mini", .kind = STORE_RUN_NIGHTLY, .priority = 1};
	struct store *st = NULL;
	struct rp_error err = { .msg = "" };
	char go;

	if (read(go_fd, &go, 1) != 1)
		return 3;
	for (size_t i = 0; i < CONC_BATCH; i++) {
		jobs[i] = (struct store_job_spec){"cstruct", "unix", "a1a1a1", NULL, NULL, NULL, 0};
		if (i > 0)
			edges[i - 1] = (struct store_edge){i, i - 1};
	}
	spec.jobs = jobs;
	spec.njobs = CONC_BATCH;
	spec.edges = edges;
	spec.nedges = CONC_BATCH - 1;
	if (store_open(dbpath, 0, &st, &err) < 0) {
		fprintf(stderr, "writer: %s\n", err.msg);
		return 1;
	}
	for (int b = 0; b < CONC_ROWS / CONC_BATCH; b++)
		if (store_run_create(st, &spec, NULL, NULL, &err) < 0) {
			fprintf(stderr, "writer: batch %d: %s\n", b, err.msg);
			store_close(st);
			return 2;
		}
	store_close(st);
	return 0;
}

START_TEST(test_concurrent_readers)
{
	struct reader readers[2];
	atomic_int ready = 0, stop = 0;
	struct store *st = open_ok(dbpath, 0);
	int go[2], status = 0;
	pid_t pid;

	sync_three(st);
	/* No connection may cross a fork: close before it. */
	store_close(st);
	ck_assert_int_eq(pipe(go), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(go[1]);
		_exit(writer_main(go[0]));
	}
	close(go[0]);

	memset(readers, 0, sizeof(readers));
	for (int i = 0; i < 2; i++) {
		readers[i].flags = i == 0 ? STORE_READONLY : 0;
		readers[i].ready = &ready;
		readers[i].stop = &stop;
		ck_assert_int_eq(pthread_create(&readers[i].thread, NULL, reader_main, &readers[i]), 0);
	}
	/* Start the writer only once both readers are reading. */
	while (atomic_load(&ready) < 2)
		sched_yield();
	ck_assert_int_eq(write(go[1], "g", 1), 1);
	close(go[1]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	/* Readers stop by themselves on seeing the last batch; unless it never came. */
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		atomic_store(&stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(readers[i].thread, NULL);

	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer failed: status %d", status);
	for (int i = 0; i < 2; i++) {
		ck_assert_msg(!readers[i].failure[0], "reader %d: %s", i, readers[i].failure);
		ck_assert_int_ge(readers[i].reads, 2);
		ck_assert_int_eq(readers[i].last, CONC_ROWS);
		if (getenv("RIPPLE_TEST_VERBOSE"))
			fprintf(stderr, "reader %d: %ld reads, %ld distinct states\n", i, readers[i].reads,
				readers[i].states);
	}
	st = open_ok(dbpath, STORE_READONLY);
	ck_assert_int_eq(count_of(st, "jobs"), CONC_ROWS);
	ck_assert_int_eq(count_of(st, "job_edges"), CONC_ROWS - CONC_ROWS / CONC_BATCH);
	store_close(st);
}
END_TEST

/* Several processes opening a new database at once: one creates and migrates, all succeed. */
START_TEST(test_concurrent_first_open)
{
	enum { N = 6 };
	pid_t pids[N];
	int go[2];
	struct store *st;
	struct rp_error err = { .msg = "" };

	ck_assert_int_eq(pipe(go), 0);
	for (int i = 0; i < N; i++) {
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (pids[i] == 0) {
			char c;
			int ret;
			close(go[1]);
			/* All wait on the same pipe, so they start together when it closes. */
			if (read(go[0], &c, 1) != 0)
				_exit(3);
			ret = store_open(dbpath, 0, &st, &err);
			if (ret < 0)
				fprintf(stderr, "child %d: %s\n", i, err.msg);
			else if (store_schema_version(st, &err) != STORE_SCHEMA_LATEST)
				ret = -1;
			store_close(st);
			_exit(ret < 0 ? 1 : 0);
		}
	}
	close(go[0]);
	close(go[1]);
	for (int i = 0; i < N; i++) {
		int status = 0;
		ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d: status %d", i,
			      status);
	}
	st = open_ok(dbpath, STORE_READONLY);
	ck_assert_int_eq(store_schema_version(st, &err), STORE_SCHEMA_LATEST);
	store_close(st);
}
END_TEST

/* ---- failures of the file system ---------------------------------------------------- */

START_TEST(test_parent_not_a_directory)
{
	char file[400], path[500], want[RP_ERROR_MAX];
	struct store *st = NULL;
	struct rp_error err = { .msg = "" };
	FILE *f;

	snprintf(file, sizeof(file), "%s/plain", tmpdir);
	snprintf(path, sizeof(path), "%s/ripple.db", file);
	f = fopen(file, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	ck_assert_int_eq(store_open(path, 0, &st, &err), RP_EIO);
	ck_assert_ptr_null(st);
	snprintf(want, sizeof(want), "%s: cannot create database: %s: Not a directory", path, file);
	ck_assert_str_eq(err.msg, want);
}
END_TEST

/*
 * The directory is not writable. root writes anywhere, so the attempt runs
 * in a child that gives up root first; the message comes back on a pipe.
 */
START_TEST(test_unwritable_directory)
{
	char dir[400], path[500], msg[RP_ERROR_MAX] = "", want[RP_ERROR_MAX];
	int fds[2], status = 0;
	ssize_t got;
	pid_t pid;

	snprintf(dir, sizeof(dir), "%s/ro", tmpdir);
	snprintf(path, sizeof(path), "%s/ripple.db", dir);
	ck_assert_int_eq(mkdir(dir, 0555), 0);
	ck_assert_int_eq(chmod(tmpdir, 0755), 0);
	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct store *st = NULL;
		struct rp_error err = { .msg = "" };
		int ret;

		close(fds[0]);
		if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
			_exit(3);
		ret = store_open(path, 0, &st, &err);
		if (write(fds[1], err.msg, strlen(err.msg)) < 0)
			_exit(4);
		store_close(st);
		_exit(ret == RP_EIO ? 0 : 1);
	}
	close(fds[1]);
	got = read(fds[0], msg, sizeof(msg) - 1);
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_int_ge(got, 0);
	msg[got] = '\0';
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d: %s", status, msg);
	snprintf(want, sizeof(want), "%s: cannot create database: %s: Permission denied", path, dir);
	ck_assert_str_eq(msg, want);
	ck_assert_int_eq(access(path, F_OK), -1);
}
END_TEST

/* A full disk in the middle of a large transaction: nothing of it remains. */
START_TEST(test_disk_full_rolls_back)
{
	static struct store_job_spec jobs[3000];
	static char commits[3000][48];
	struct store *st = open_ok(dbpath, 0);
	struct store_run_spec spec = diamond_spec();
	struct rp_error err = { .msg = "" };
	char pragma[64];
	int ret;

	sync_three(st);
	for (int i = 0; i < 3000; i++) {
		snprintf(commits[i], sizeof(commits[i]), "%040d", i);
		jobs[i] = (struct store_job_spec){"cstruct", "unix", commits[i], NULL, NULL, NULL, 0};
	}
	spec.jobs = jobs;
	spec.njobs = 3000;
	spec.nedges = 0;
	snprintf(pragma, sizeof(pragma), "PRAGMA max_page_count = %lld",
		 (long long)raw_int(dbpath, "PRAGMA page_count") + 4);
	ck_assert_int_eq(sqlite3_exec(store__handle(st), pragma, NULL, NULL, NULL), SQLITE_OK);

	ret = store_run_create(st, &spec, NULL, NULL, &err);
	ck_assert_int_eq(ret, RP_EIO);
	ck_assert_msg(strncmp(err.msg, dbpath, strlen(dbpath)) == 0, "%s", err.msg);
	ck_assert_msg(strstr(err.msg, ": cannot write job: database or disk is full") != NULL, "%s", err.msg);
	ck_assert_int_eq(count_of(st, "runs"), 0);
	ck_assert_int_eq(count_of(st, "jobs"), 0);

	/* The connection stays usable once there is room again. */
	ck_assert_int_eq(sqlite3_exec(store__handle(st), "PRAGMA max_page_count = 1000000", NULL, NULL, NULL),
			 SQLITE_OK);
	ck_assert_msg(store_run_create(st, &spec, NULL, NULL, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(count_of(st, "jobs"), 3000);
	store_close(st);
}
END_TEST

START_TEST(test_empty_path)
{
	struct store *st = NULL;
	struct rp_error err = { .msg = "" };
	ck_assert_int_eq(store_open("", 0, &st, &err), RP_EINVAL);
	ck_assert_str_eq(err.msg, "database path is empty");
}
END_TEST

static Suite *store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc;

	tc = tcase_create("migrations");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_migrate_empty_to_latest);
	tcase_add_test(tc, test_migrate_stepwise_same_schema);
	tcase_add_test(tc, test_migrate_target_range);
	tcase_add_test(tc, test_reopen_keeps_data);
	tcase_add_test(tc, test_newer_schema_refused);
	tcase_add_test(tc, test_not_a_database_refused);
	tcase_add_test(tc, test_readonly_does_not_migrate);
	tcase_add_test(tc, test_check_finds_problems);
	tcase_add_test(tc, test_check_finds_corruption);
	suite_add_tcase(s, tc);

	tc = tcase_create("data");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_sync_universe);
	tcase_add_test(tc, test_run_roundtrip);
	tcase_add_test(tc, test_run_create_refusals);
	tcase_add_test(tc, test_log_append);
	tcase_add_test(tc, test_log_large);
	tcase_add_test(tc, test_artifacts);
	tcase_add_test(tc, test_build_cache);
	tcase_add_test(tc, test_enum_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("concurrency");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_concurrent_readers);
	tcase_add_test(tc, test_concurrent_first_open);
	suite_add_tcase(s, tc);

	tc = tcase_create("failures");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_parent_not_a_directory);
	tcase_add_test(tc, test_unwritable_directory);
	tcase_add_test(tc, test_disk_full_rolls_back);
	tcase_add_test(tc, test_empty_path);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run_suite(store_suite());
}
