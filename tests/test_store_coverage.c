/*
 * test_store_coverage.c — the store's coverage figures: recording a coverage
 * job's report once per build key (and refusing bad input), the reports
 * waiting to be merged (oldest first, capped), merging a report into its
 * (package, commit) — counted once, conflicts changing nothing, a problem
 * only marking the report — and reading the merged figures back by commit,
 * as a package's trend and as each package's newest commit. Last, the
 * migration to schema 9: old jobs read as builds, a coverage job keeps its
 * variant, and the CHECK refuses any other.
 *
 * Each test gets a fresh SQLite file in a mkdtemp directory. Raw SQLite is
 * used only to look at rows the API does not return and to fill a schema 8
 * database.
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
#define COMMIT_D "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define COMMIT_E "cccccccccccccccccccccccccccccccccccccccc"

static void setup(void)
{
	check_tmpdir_make(tmpdir, "store-coverage");
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
	int rc = sqlite3_exec(store__handle(st), sql, NULL, NULL, &msg);
	ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, msg ? msg : "");
	sqlite3_free(msg);
}

/* The primary result code of `sql`, which may fail. */
static int raw_try(struct store *st, const char *sql)
{
	int rc = sqlite3_exec(store__handle(st), sql, NULL, NULL, NULL);
	return rc & 0xff;
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

/* A build key of 64 hex digits made of digit `d` (one of 0-9a-f). */
static const char *key_of(char d)
{
	static char keys[16][65];
	int slot = (d >= '0' && d <= '9') ? d - '0' : d - 'a' + 10;
	memset(keys[slot], d, 64);
	keys[slot][64] = '\0';
	return keys[slot];
}

static int report_add(struct store *st, const char *key, const char *package, const char *commit,
		      int64_t created_ms, struct rp_error *err)
{
	struct store_coverage_report r = {
	    .build_key = key,
	    .package = package,
	    .target = "unix",
	    .commit = commit,
	    .run_id = 7,
	    .job_id = 11,
	    .created_ms = created_ms,
	};
	return store_coverage_report_add(st, &r, err);
}

static void report_add_ok(struct store *st, const char *key, const char *package, const char *commit,
			  int64_t created_ms)
{
	struct rp_error err = {.msg = ""};
	int ret = report_add(st, key, package, commit, created_ms, &err);
	ck_assert_msg(ret == 0, "store_coverage_report_add = %d: %s", ret, err.msg);
}

/* The pending reports' build keys' first digits into digits[] (room for cap + 1), their count returned. */
static size_t pending(struct store *st, size_t cap, char *digits)
{
	struct store_coverage_report *r = NULL;
	struct rp_error err = {.msg = ""};
	size_t n = 99;
	int ret = store_coverage_pending(st, cap, &r, &n, &err);
	ck_assert_msg(ret == 0, "store_coverage_pending = %d: %s", ret, err.msg);
	ck_assert_uint_le(n, cap);
	for (size_t i = 0; i < n; i++)
		digits[i] = r[i].build_key[0];
	digits[n] = '\0';
	store_coverage_reports_free(r, n);
	return n;
}

/* Figures base, base+1, ... base+5 for one merge. */
static struct store_coverage_commit figures(const char *package, const char *commit, int64_t base,
					    const char *location, int64_t now)
{
	struct store_coverage_commit c = {
	    .package = package, .commit = commit, .location = location, .updated_ms = now, .mainline = 1};
	for (int i = 0; i < 6; i++)
		c.figures[i] = base + i;
	return c;
}

static void merge_ok(struct store *st, const char *key, const char *package, const char *commit, int64_t base,
		     const char *location, int64_t now)
{
	struct store_coverage_commit c = figures(package, commit, base, location, now);
	struct rp_error err = {.msg = ""};
	int ret = store_coverage_merged(st, key, &c, NULL, &err);
	ck_assert_msg(ret == 0, "store_coverage_merged = %d: %s", ret, err.msg);
}

/* A report recorded and merged at once, its first report at `now`. */
static void covered(struct store *st, const char *key, const char *package, const char *commit, int64_t base,
		    int64_t now)
{
	report_add_ok(st, key, package, commit, now);
	merge_ok(st, key, package, commit, base, "cov/x.json", now);
}

static void check_figures(const struct store_coverage_commit *c, int64_t base)
{
	for (int i = 0; i < 6; i++)
		ck_assert_int_eq(c->figures[i], base + i);
}

static void sync_universe(struct store *st)
{
	static const struct store_package_row pkgs[] = {
	    {"cstruct", "https://example.org/cstruct.git", "main", 0},
	};
	struct rp_error err = {.msg = ""};
	ck_assert_msg(store_sync_universe(st, "mini", pkgs, 1, NULL, &err) == 0, "%s", err.msg);
}

/* ---- reports ------------------------------------------------------------------ */

START_TEST(test_report_add_once)
{
	struct store *st = open_ok(0);
	struct rp_error err = {.msg = ""};
	struct store_coverage_report r;
	char d[8];
	report_add_ok(st, key_of('1'), "cstruct", COMMIT_A, T0);
	ck_assert_uint_eq(pending(st, 4, d), 1);
	ck_assert_str_eq(d, "1");

	/* The same key again, even with other fields, adds nothing and changes nothing. */
	struct store_coverage_report again = {
	    .build_key = key_of('1'),
	    .package = "tcpip",
	    .target = "vm",
	    .commit = COMMIT_B,
	    .run_id = 99,
	    .job_id = 98,
	    .created_ms = T0 + 50,
	};
	ck_assert_msg(store_coverage_report_add(st, &again, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(pending(st, 4, d), 1);
	ck_assert_int_eq(raw_int(st, "SELECT count(*) FROM coverage_reports"), 1);

	ck_assert_msg(store_coverage_report_get(st, key_of('1'), &r, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(r.build_key, key_of('1'));
	ck_assert_str_eq(r.package, "cstruct");
	ck_assert_str_eq(r.target, "unix");
	ck_assert_str_eq(r.commit, COMMIT_A);
	ck_assert_int_eq(r.run_id, 7);
	ck_assert_int_eq(r.job_id, 11);
	ck_assert_int_eq(r.created_ms, T0);
	ck_assert_int_eq(r.merged, 0);
	ck_assert_ptr_null(r.problem);
	store_coverage_report_release(&r);

	/* created_ms 0 means now. */
	int64_t before = store__now_ms();
	report_add_ok(st, key_of('2'), "cstruct", COMMIT_A, 0);
	ck_assert_msg(store_coverage_report_get(st, key_of('2'), &r, &err) == 0, "%s", err.msg);
	ck_assert_int_ge(r.created_ms, before);
	ck_assert_int_le(r.created_ms, store__now_ms());
	store_coverage_report_release(&r);

	/* An unknown key. */
	ck_assert_int_eq(store_coverage_report_get(st, key_of('9'), &r, &err), RP_ENOTFOUND);
	store_close(st);
}
END_TEST

START_TEST(test_report_add_refusals)
{
	struct store *st = open_ok(0);
	struct rp_error err = {.msg = ""};
	char key63[64], keyupper[65], key65[66], commit39[40], commit41[42];
	memset(key63, 'a', 63);
	key63[63] = '\0';
	memset(key65, 'a', 65);
	key65[65] = '\0';
	memcpy(keyupper, key_of('a'), 65);
	keyupper[10] = 'A';
	memcpy(commit39, COMMIT_A, 39);
	commit39[39] = '\0';
	memcpy(commit41, COMMIT_A, 40);
	commit41[40] = '0';
	commit41[41] = '\0';

	ck_assert_int_eq(report_add(st, NULL, "cstruct", COMMIT_A, T0, &err), RP_EINVAL);
	ck_assert_int_eq(report_add(st, "", "cstruct", COMMIT_A, T0, &err), RP_EINVAL);
	ck_assert_int_eq(report_add(st, key63, "cstruct", COMMIT_A, T0, &err), RP_EINVAL);
	ck_assert_int_eq(report_add(st, key65, "cstruct", COMMIT_A, T0, &err), RP_EINVAL);
	ck_assert_int_eq(report_add(st, keyupper, "cstruct", COMMIT_A, T0, &err), RP_EINVAL);
	ck_assert_int_eq(report_add(st, key_of('1'), "cstruct", commit39, T0, &err), RP_EINVAL);
	ck_assert_int_eq(report_add(st, key_of('1'), "cstruct", commit41, T0, &err), RP_EINVAL);
	ck_assert_int_eq(report_add(st, key_of('1'), "cstruct", NULL, T0, &err), RP_EINVAL);
	ck_assert_int_eq(report_add(st, key_of('1'), NULL, COMMIT_A, T0, &err), RP_EINVAL);
	ck_assert_int_eq(report_add(st, key_of('1'), "", COMMIT_A, T0, &err), RP_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "coverage report"));
	struct store_coverage_report notarget = {
	    .build_key = key_of('1'), .package = "cstruct", .commit = COMMIT_A, .created_ms = T0};
	ck_assert_int_eq(store_coverage_report_add(st, &notarget, &err), RP_EINVAL);

	/* None of them was recorded. */
	ck_assert_int_eq(raw_int(st, "SELECT count(*) FROM coverage_reports"), 0);
	store_close(st);
}
END_TEST

START_TEST(test_pending_oldest_first_capped)
{
	struct store *st = open_ok(0);
	struct store_coverage_report *r = NULL;
	struct rp_error err = {.msg = ""};
	size_t n = 99;
	char d[16];
	/* Recorded out of order: the order is created_ms, not insertion. */
	report_add_ok(st, key_of('3'), "cstruct", COMMIT_A, T0 + 30);
	report_add_ok(st, key_of('1'), "cstruct", COMMIT_A, T0 + 10);
	report_add_ok(st, key_of('4'), "tcpip", COMMIT_B, T0 + 40);
	report_add_ok(st, key_of('2'), "tcpip", COMMIT_B, T0 + 20);

	ck_assert_uint_eq(pending(st, 10, d), 4);
	ck_assert_str_eq(d, "1234");
	ck_assert_uint_eq(pending(st, 2, d), 2);
	ck_assert_str_eq(d, "12");
	ck_assert_uint_eq(pending(st, 1, d), 1);
	ck_assert_str_eq(d, "1");

	/* cap 0: nothing, and no list. */
	ck_assert_int_eq(store_coverage_pending(st, 0, &r, &n, &err), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_null(r);

	/* Merged ones (with or without a problem) are no longer waiting. */
	merge_ok(st, key_of('1'), "cstruct", COMMIT_A, 100, "cov/a.json", T0 + 100);
	ck_assert_int_eq(store_coverage_merged(st, key_of('3'), NULL, "unreadable artifact", &err), 0);
	ck_assert_uint_eq(pending(st, 10, d), 2);
	ck_assert_str_eq(d, "24");
	store_close(st);
}
END_TEST

/* ---- merging ------------------------------------------------------------------ */

START_TEST(test_merged_counts_reports)
{
	struct store *st = open_ok(0);
	struct rp_error err = {.msg = ""};
	struct store_coverage_commit c;
	struct store_coverage_report r;
	report_add_ok(st, key_of('1'), "cstruct", COMMIT_A, T0);
	report_add_ok(st, key_of('2'), "cstruct", COMMIT_A, T0 + 1);

	ck_assert_int_eq(store_coverage_commit_get(st, "cstruct", COMMIT_A, &c, &err), RP_ENOTFOUND);
	store_coverage_commit_release(&c);

	/* The first report makes the row. */
	merge_ok(st, key_of('1'), "cstruct", COMMIT_A, 100, "cov/one.json", T0 + 1000);
	ck_assert_msg(store_coverage_commit_get(st, "cstruct", COMMIT_A, &c, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(c.package, "cstruct");
	ck_assert_str_eq(c.commit, COMMIT_A);
	ck_assert_int_eq(c.reports, 1);
	ck_assert_int_eq(c.first_ms, T0 + 1000);
	ck_assert_int_eq(c.updated_ms, T0 + 1000);
	check_figures(&c, 100);
	ck_assert_str_eq(c.location, "cov/one.json");
	store_coverage_commit_release(&c);

	ck_assert_msg(store_coverage_report_get(st, key_of('1'), &r, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(r.merged, 1);
	ck_assert_ptr_null(r.problem);
	store_coverage_report_release(&r);

	/* A second report of the commit: counted, its figures and location replace, first_ms stays. */
	merge_ok(st, key_of('2'), "cstruct", COMMIT_A, 200, "cov/two.json", T0 + 2000);
	ck_assert_msg(store_coverage_commit_get(st, "cstruct", COMMIT_A, &c, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(c.reports, 2);
	ck_assert_int_eq(c.first_ms, T0 + 1000);
	ck_assert_int_eq(c.updated_ms, T0 + 2000);
	check_figures(&c, 200);
	ck_assert_str_eq(c.location, "cov/two.json");
	store_coverage_commit_release(&c);

	/* The same key again: a conflict, and nothing changes. */
	struct store_coverage_commit again = figures("cstruct", COMMIT_A, 300, "cov/three.json", T0 + 3000);
	ck_assert_int_eq(store_coverage_merged(st, key_of('2'), &again, NULL, &err), RP_ECONFLICT);
	ck_assert_int_eq(store_coverage_merged(st, key_of('1'), &again, NULL, &err), RP_ECONFLICT);
	ck_assert_int_eq(store_coverage_merged(st, key_of('2'), NULL, "late problem", &err), RP_ECONFLICT);
	/* A key never recorded is not waiting either. */
	ck_assert_int_eq(store_coverage_merged(st, key_of('7'), &again, NULL, &err), RP_ECONFLICT);
	ck_assert_msg(store_coverage_commit_get(st, "cstruct", COMMIT_A, &c, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(c.reports, 2);
	ck_assert_int_eq(c.first_ms, T0 + 1000);
	ck_assert_int_eq(c.updated_ms, T0 + 2000);
	check_figures(&c, 200);
	ck_assert_str_eq(c.location, "cov/two.json");
	store_coverage_commit_release(&c);
	ck_assert_msg(store_coverage_report_get(st, key_of('2'), &r, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(r.merged, 1);
	ck_assert_ptr_null(r.problem);
	store_coverage_report_release(&r);
	ck_assert_int_eq(raw_int(st, "SELECT count(*) FROM coverage_commits"), 1);
	ck_assert_int_eq(raw_int(st, "SELECT count(*) FROM coverage_reports"), 2);

	/* Another commit of the package is a row of its own. */
	report_add_ok(st, key_of('3'), "cstruct", COMMIT_B, T0 + 2);
	merge_ok(st, key_of('3'), "cstruct", COMMIT_B, 400, "cov/b.json", T0 + 4000);
	ck_assert_msg(store_coverage_commit_get(st, "cstruct", COMMIT_B, &c, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(c.reports, 1);
	check_figures(&c, 400);
	store_coverage_commit_release(&c);
	ck_assert_int_eq(raw_int(st, "SELECT reports FROM coverage_commits WHERE commit_id = '" COMMIT_A "'"),
			 2);
	store_close(st);
}
END_TEST

START_TEST(test_merged_problem)
{
	struct store *st = open_ok(0);
	struct rp_error err = {.msg = ""};
	struct store_coverage_commit c;
	struct store_coverage_report r;
	char d[8];
	report_add_ok(st, key_of('1'), "cstruct", COMMIT_A, T0);
	report_add_ok(st, key_of('2'), "cstruct", COMMIT_A, T0 + 1);

	/* Figures given along with a problem are ignored: the report is only marked. */
	struct store_coverage_commit ignored = figures("cstruct", COMMIT_A, 100, "cov/x.json", T0 + 10);
	ck_assert_int_eq(
	    store_coverage_merged(st, key_of('1'), &ignored, "artifact coverage is not JSON", &err), 0);
	ck_assert_msg(store_coverage_report_get(st, key_of('1'), &r, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(r.merged, 1);
	ck_assert_ptr_nonnull(r.problem);
	ck_assert_str_eq(r.problem, "artifact coverage is not JSON");
	ck_assert_str_eq(r.commit, COMMIT_A);
	store_coverage_report_release(&r);
	ck_assert_int_eq(store_coverage_commit_get(st, "cstruct", COMMIT_A, &c, &err), RP_ENOTFOUND);
	store_coverage_commit_release(&c);
	ck_assert_int_eq(raw_int(st, "SELECT count(*) FROM coverage_commits"), 0);
	ck_assert_uint_eq(pending(st, 4, d), 1);
	ck_assert_str_eq(d, "2");

	/* Marked once: neither a merge nor another problem gets in after it. */
	ck_assert_int_eq(store_coverage_merged(st, key_of('1'), &ignored, NULL, &err), RP_ECONFLICT);
	ck_assert_int_eq(store_coverage_merged(st, key_of('1'), NULL, "again", &err), RP_ECONFLICT);
	ck_assert_int_eq(raw_int(st, "SELECT count(*) FROM coverage_commits"), 0);
	ck_assert_msg(store_coverage_report_get(st, key_of('1'), &r, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(r.problem, "artifact coverage is not JSON");
	store_coverage_report_release(&r);

	/* Without a problem, the figures need a package, commit and location; the report keeps waiting. */
	struct store_coverage_commit noloc = figures("cstruct", COMMIT_A, 100, NULL, T0 + 10);
	ck_assert_int_eq(store_coverage_merged(st, key_of('2'), &noloc, NULL, &err), RP_EINVAL);
	noloc.location = "";
	ck_assert_int_eq(store_coverage_merged(st, key_of('2'), &noloc, NULL, &err), RP_EINVAL);
	ck_assert_int_eq(store_coverage_merged(st, key_of('2'), NULL, NULL, &err), RP_EINVAL);
	ck_assert_uint_eq(pending(st, 4, d), 1);
	ck_assert_str_eq(d, "2");

	/* A failed insert of the figures (a commit the table refuses) rolls the mark back. */
	struct store_coverage_commit shortcommit = figures("cstruct", "abc", 100, "cov/x.json", T0 + 10);
	ck_assert_int_lt(store_coverage_merged(st, key_of('2'), &shortcommit, NULL, &err), 0);
	ck_assert_uint_eq(pending(st, 4, d), 1);
	ck_assert_str_eq(d, "2");
	ck_assert_int_eq(raw_int(st, "SELECT merged FROM coverage_reports WHERE build_key = '"
				     "2222222222222222222222222222222222222222222222222222222222222222'"),
			 0);
	store_close(st);
}
END_TEST

/* ---- reading ------------------------------------------------------------------ */

START_TEST(test_commits_trend)
{
	struct store *st = open_ok(0);
	struct store_coverage_commit *l = NULL;
	struct rp_error err = {.msg = ""};
	size_t n = 99;
	/* Merged out of order; another package's commit never shows. */
	covered(st, key_of('3'), "cstruct", COMMIT_C, 300, T0 + 300);
	covered(st, key_of('1'), "cstruct", COMMIT_A, 100, T0 + 100);
	covered(st, key_of('4'), "cstruct", COMMIT_D, 400, T0 + 400);
	covered(st, key_of('2'), "cstruct", COMMIT_B, 200, T0 + 200);
	covered(st, key_of('9'), "tcpip", COMMIT_E, 900, T0 + 250);
	/* A later report of the oldest commit leaves its place (by first report). */
	covered(st, key_of('5'), "cstruct", COMMIT_A, 500, T0 + 500);

	ck_assert_msg(store_coverage_commits(st, "cstruct", 0, 0, 0, &l, &n, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(n, 4);
	ck_assert_str_eq(l[0].commit, COMMIT_A);
	ck_assert_str_eq(l[1].commit, COMMIT_B);
	ck_assert_str_eq(l[2].commit, COMMIT_C);
	ck_assert_str_eq(l[3].commit, COMMIT_D);
	ck_assert_int_eq(l[0].first_ms, T0 + 100);
	ck_assert_int_eq(l[0].updated_ms, T0 + 500);
	ck_assert_int_eq(l[0].reports, 2);
	check_figures(&l[0], 500);
	check_figures(&l[1], 200);
	check_figures(&l[3], 400);
	ck_assert_str_eq(l[2].package, "cstruct");
	store_coverage_commits_free(l, n);

	/* limit keeps the newest, still oldest first. */
	ck_assert_msg(store_coverage_commits(st, "cstruct", 0, 0, 2, &l, &n, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(l[0].commit, COMMIT_C);
	ck_assert_str_eq(l[1].commit, COMMIT_D);
	store_coverage_commits_free(l, n);
	ck_assert_msg(store_coverage_commits(st, "cstruct", 0, 0, 3, &l, &n, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(l[0].commit, COMMIT_B);
	ck_assert_str_eq(l[1].commit, COMMIT_C);
	ck_assert_str_eq(l[2].commit, COMMIT_D);
	store_coverage_commits_free(l, n);

	/* before_ms: first report strictly before it. */
	ck_assert_msg(store_coverage_commits(st, "cstruct", 0, T0 + 300, 0, &l, &n, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(l[0].commit, COMMIT_A);
	ck_assert_str_eq(l[1].commit, COMMIT_B);
	store_coverage_commits_free(l, n);
	ck_assert_msg(store_coverage_commits(st, "cstruct", 0, T0 + 301, 1, &l, &n, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(l[0].commit, COMMIT_C);
	store_coverage_commits_free(l, n);
	ck_assert_msg(store_coverage_commits(st, "cstruct", 0, T0 + 100, 0, &l, &n, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(n, 0);
	store_coverage_commits_free(l, n);

	/* The other package, and one without coverage. */
	ck_assert_msg(store_coverage_commits(st, "tcpip", 0, 0, 0, &l, &n, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(l[0].commit, COMMIT_E);
	store_coverage_commits_free(l, n);
	ck_assert_msg(store_coverage_commits(st, "nobody", 0, 0, 0, &l, &n, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(n, 0);
	store_coverage_commits_free(l, n);
	store_close(st);
}
END_TEST

START_TEST(test_packages_newest)
{
	struct store *st = open_ok(0);
	struct store_coverage_commit *l = NULL;
	struct rp_error err = {.msg = ""};
	size_t n = 99;
	ck_assert_msg(store_coverage_packages(st, &l, &n, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(n, 0);
	store_coverage_commits_free(l, n);

	/* tcpip's newest commit is merged first; cstruct's oldest is updated last. */
	covered(st, key_of('1'), "tcpip", COMMIT_E, 900, T0 + 900);
	covered(st, key_of('2'), "cstruct", COMMIT_A, 100, T0 + 100);
	covered(st, key_of('3'), "cstruct", COMMIT_C, 300, T0 + 300);
	covered(st, key_of('4'), "cstruct", COMMIT_B, 200, T0 + 200);
	covered(st, key_of('5'), "tcpip", COMMIT_D, 800, T0 + 800);
	covered(st, key_of('6'), "cstruct", COMMIT_A, 600, T0 + 600);

	ck_assert_msg(store_coverage_packages(st, &l, &n, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(l[0].package, "cstruct");
	ck_assert_str_eq(l[0].commit, COMMIT_C);
	ck_assert_int_eq(l[0].first_ms, T0 + 300);
	ck_assert_int_eq(l[0].updated_ms, T0 + 300);
	ck_assert_int_eq(l[0].reports, 1);
	check_figures(&l[0], 300);
	ck_assert_str_eq(l[0].location, "cov/x.json");
	ck_assert_str_eq(l[1].package, "tcpip");
	ck_assert_str_eq(l[1].commit, COMMIT_E);
	ck_assert_int_eq(l[1].first_ms, T0 + 900);
	check_figures(&l[1], 900);
	store_coverage_commits_free(l, n);
	store_close(st);
}
END_TEST

/* A pull request's coverage is no point of the trend until a mainline run covers that commit. */
START_TEST(test_mainline_only)
{
	struct store *st = open_ok(0);
	struct store_coverage_commit *l = NULL, c;
	struct rp_error err = {.msg = ""};
	size_t n = 99;
	covered(st, key_of('1'), "cstruct", COMMIT_A, 100, T0 + 100);
	struct store_coverage_report r = {.build_key = key_of('2'), .package = "cstruct", .target = "unix",
					  .commit = COMMIT_B, .run_id = 2, .job_id = 2, .created_ms = T0 + 200};
	ck_assert_msg(store_coverage_report_add(st, &r, &err) == 0, "%s", err.msg);
	c = figures("cstruct", COMMIT_B, 200, "cov/pr.json", T0 + 200);
	c.mainline = 0;
	ck_assert_msg(store_coverage_merged(st, key_of('2'), &c, NULL, &err) == 0, "%s", err.msg);

	ck_assert_msg(store_coverage_commits(st, "cstruct", 1, 0, 0, &l, &n, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(l[0].commit, COMMIT_A);
	store_coverage_commits_free(l, n);
	ck_assert_msg(store_coverage_commits(st, "cstruct", 0, 0, 0, &l, &n, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(l[1].mainline, 0);
	store_coverage_commits_free(l, n);
	ck_assert_msg(store_coverage_packages(st, &l, &n, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(l[0].commit, COMMIT_A);
	store_coverage_commits_free(l, n);

	/* A nightly answered from the cache covers it too; a later pull request's merge never unmarks it. */
	ck_assert_msg(store_coverage_mark_mainline(st, "cstruct", COMMIT_B, &err) == 0, "%s", err.msg);
	ck_assert_msg(store_coverage_mark_mainline(st, "cstruct", COMMIT_C, &err) == 0, "%s", err.msg);
	r.build_key = key_of('3');
	ck_assert_msg(store_coverage_report_add(st, &r, &err) == 0, "%s", err.msg);
	ck_assert_msg(store_coverage_merged(st, key_of('3'), &c, NULL, &err) == 0, "%s", err.msg);
	ck_assert_msg(store_coverage_commits(st, "cstruct", 1, 0, 0, &l, &n, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(l[1].commit, COMMIT_B);
	ck_assert_int_eq(l[1].mainline, 1);
	ck_assert_int_eq(l[1].reports, 2);
	store_coverage_commits_free(l, n);
	ck_assert_int_eq(raw_int(st, "SELECT count(*) FROM coverage_commits"), 2);
	store_close(st);
}
END_TEST

/* ---- migration ---------------------------------------------------------------- */

START_TEST(test_migrate_8_jobs_are_builds)
{
	struct rp_error err = {.msg = ""};
	struct store *st = open_ok(STORE_NO_MIGRATE);
	struct store_job job;
	struct store_job *jobs = NULL;
	size_t njobs = 0;
	ck_assert_msg(store_migrate(st, 8, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(store_schema_version(st, &err), 8);
	raw_exec(st, "INSERT INTO universes (id, name, created_ms, updated_ms) VALUES (1, 'mini', 1, 1);"
		     "INSERT INTO runs (id, universe_id, kind, priority, state, created_ms) VALUES"
		     " (1, 1, 'nightly', 20, 'queued', 5);"
		     "INSERT INTO jobs (id, run_id, package, target, commit_id, priority, created_ms) VALUES"
		     " (1, 1, 'cstruct', 'unix', 'a1a1a1', 20, 5);");
	ck_assert_int_eq(raw_int(st, "SELECT count(*) FROM pragma_table_info('jobs') WHERE name = 'variant'"),
			 0);
	ck_assert_int_eq(raw_int(st, "SELECT count(*) FROM sqlite_schema WHERE name = 'coverage_reports'"),
			 0);

	ck_assert_msg(store_migrate(st, 9, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(store_schema_version(st, &err), 9);
	ck_assert_int_eq(raw_int(st, "SELECT count(*) FROM sqlite_schema WHERE name IN"
				     " ('coverage_reports', 'coverage_commits', 'coverage_reports_pending',"
				     " 'coverage_commits_by_time')"),
			 4);
	/* Read by today's code, which knows the later columns too. */
	ck_assert_msg(store_migrate(st, STORE_SCHEMA_LATEST, &err) == 0, "%s", err.msg);

	/* The old job was a plain build. */
	ck_assert_msg(store_job_get(st, 1, &job, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(job.package, "cstruct");
	ck_assert_ptr_nonnull(job.variant);
	ck_assert_str_eq(job.variant, "build");
	store_job_release(&job);
	ck_assert_msg(store_jobs_list(st, 1, &jobs, &njobs, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(njobs, 1);
	ck_assert_str_eq(jobs[0].variant, "build");
	store_jobs_free(jobs, njobs);

	/* A new run with a coverage job and a build job (NULL variant). */
	sync_universe(st);
	static const struct store_job_spec specs[] = {
	    {"cstruct", "unix", "b2b2b2", NULL, NULL, "coverage", 0},
	    {"cstruct", "unix", "b2b2b2", NULL, NULL, NULL, 0},
	};
	struct store_run_spec spec = {
	    .universe = "mini",
	    .kind = STORE_RUN_NIGHTLY,
	    .priority = 20,
	    .title = "coverage",
	    .jobs = specs,
	    .njobs = 2,
	    .created_ms = T0,
	};
	int64_t run_id = 0, ids[2] = {0, 0};
	ck_assert_msg(store_run_create(st, &spec, &run_id, ids, &err) == 0, "%s", err.msg);
	ck_assert_msg(store_job_get(st, ids[0], &job, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(job.variant, "coverage");
	store_job_release(&job);
	ck_assert_msg(store_job_get(st, ids[1], &job, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(job.variant, "build");
	store_job_release(&job);
	ck_assert_msg(store_jobs_list(st, run_id, &jobs, &njobs, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(njobs, 2);
	ck_assert_str_eq(jobs[0].variant, "coverage");
	ck_assert_str_eq(jobs[1].variant, "build");
	store_jobs_free(jobs, njobs);
	char q[128];
	snprintf(q, sizeof(q), "SELECT variant = 'coverage' FROM jobs WHERE id = %lld", (long long)ids[0]);
	ck_assert_int_eq(raw_int(st, q), 1);

	/* The CHECK refuses any other variant, on insert and on update. */
	ck_assert_int_eq(raw_try(st,
				 "INSERT INTO jobs (run_id, package, target, commit_id, priority, created_ms,"
				 " variant) VALUES (1, 'cstruct', 'unix', 'c3c3c3', 20, 5, 'other')"),
			 SQLITE_CONSTRAINT);
	ck_assert_int_eq(raw_try(st, "UPDATE jobs SET variant = 'other' WHERE id = 1"), SQLITE_CONSTRAINT);
	ck_assert_int_eq(raw_int(st, "SELECT count(*) FROM jobs WHERE variant NOT IN ('build', 'coverage')"),
			 0);
	ck_assert_int_eq(raw_int(st, "SELECT count(*) FROM jobs"), 3);
	store_close(st);
}
END_TEST

static Suite *store_coverage_suite(void)
{
	Suite *s = suite_create("store_coverage");
	TCase *tc = tcase_create("reports");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_report_add_once);
	tcase_add_test(tc, test_report_add_refusals);
	tcase_add_test(tc, test_pending_oldest_first_capped);
	suite_add_tcase(s, tc);

	tc = tcase_create("merge");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_merged_counts_reports);
	tcase_add_test(tc, test_merged_problem);
	suite_add_tcase(s, tc);

	tc = tcase_create("read");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_commits_trend);
	tcase_add_test(tc, test_packages_newest);
	tcase_add_test(tc, test_mainline_only);
	suite_add_tcase(s, tc);

	tc = tcase_create("migration");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_migrate_8_jobs_are_builds);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run_suite(store_coverage_suite());
}
