/*
 * test_store_history.c — history in constant space: the store's round-robin
 * archives (exact min/avg/max, day, week and month buckets at their UTC
 * boundaries, units and filters, refusals, trimming to the limits, and five
 * years of nightlies that leave the tables the size they had after three),
 * the RIPPLE-METRIC log parser and the drop rule of scheduler/history.h.
 *
 * Each test gets a fresh SQLite file in a mkdtemp directory. Expected bucket
 * starts are computed with timegm() and gmtime_r(), independently of the
 * store's own calendar arithmetic.
 */
#define _GNU_SOURCE
#include "core/store.h"
#include "core/store-internal.h"
#include "scheduler/history.h"

#include <check.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "check_main.h"
#include "core/banned.h"

static char tmpdir[PATH_MAX];
static char dbpath[PATH_MAX + 64];

#define DAY INT64_C(86400000)
#define HOUR INT64_C(3600000)

static void setup(void)
{
	check_tmpdir_make(tmpdir, "store-history");
	snprintf(dbpath, sizeof(dbpath), "%s/ripple.db", tmpdir);
}

static void teardown(void)
{
	check_tmpdir_remove(tmpdir);
}

/* ---- helpers ------------------------------------------------------------ */

static struct store *open_ok(void)
{
	struct store *st = NULL;
	struct rp_error err = {.msg = ""};
	int ret = store_open(dbpath, 0, &st, &err);
	ck_assert_msg(ret == 0, "store_open(%s) = %d: %s", dbpath, ret, err.msg);
	return st;
}

/* Unix milliseconds of a UTC date and time. */
static int64_t utc(int y, int mon, int d, int h, int min, int s, int ms)
{
	struct tm tm = {
	    .tm_year = y - 1900, .tm_mon = mon - 1, .tm_mday = d, .tm_hour = h, .tm_min = min, .tm_sec = s};
	return (int64_t)timegm(&tm) * 1000 + ms;
}

static void record_ok(struct store *st, const struct store_history_sample *s, size_t n,
		      const struct store_history_limits *lim)
{
	struct rp_error err = {.msg = ""};
	int ret = store_history_record(st, s, n, lim, &err);
	ck_assert_msg(ret == 0, "store_history_record = %d: %s", ret, err.msg);
}

static struct store_history_series *get_ok(struct store *st, const char *package, const char *target,
					   const char *metric, const char *res, size_t *n)
{
	struct store_history_series *series = NULL;
	struct rp_error err = {.msg = ""};
	int ret = store_history_get(st, package, target, metric, res, &series, n, &err);
	ck_assert_msg(ret == 0, "store_history_get = %d: %s", ret, err.msg);
	return series;
}

/* The only series of one (package, target, metric) at `res`; free it with store_history_series_free(s, 1). */
static struct store_history_series *one_series(struct store *st, const char *package, const char *target,
					       const char *metric, const char *res)
{
	size_t n = 0;
	struct store_history_series *s = get_ok(st, package, target, metric, res, &n);
	ck_assert_uint_eq(n, 1);
	return s;
}

static int64_t points_of(struct store *st)
{
	struct rp_error err = {.msg = ""};
	int64_t points = -1;
	ck_assert_msg(store_history_count(st, NULL, &points, &err) == 0, "%s", err.msg);
	return points;
}

static int64_t pragma_int(struct store *st, const char *sql)
{
	sqlite3_stmt *s = NULL;
	int64_t v;
	ck_assert_int_eq(sqlite3_prepare_v2(store__handle(st), sql, -1, &s, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
	v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

static void assert_point(const struct store_history_point *p, int64_t start, int64_t n, double min,
			 double avg, double max)
{
	ck_assert_int_eq(p->start_ms, start);
	ck_assert_int_eq(p->n, n);
	ck_assert_double_eq(p->min, min);
	ck_assert_double_eq(p->avg, avg);
	ck_assert_double_eq(p->max, max);
}

/* ---- the store -------------------------------------------------------------- */

START_TEST(test_round_trip_exact)
{
	struct store *st = open_ok();
	/* Tuesday 2024-03-12, 09:00 to 21:00 UTC. */
	int64_t t = utc(2024, 3, 12, 9, 0, 0, 0);
	const struct store_history_sample s[] = {
	    {"tcpip", "unix", "iperf", "Gbit/s", 9.5, t},
	    {"tcpip", "unix", "iperf", "Gbit/s", 8.25, t + 4 * HOUR},
	    {"tcpip", "unix", "iperf", "Gbit/s", 10.75, t + 12 * HOUR},
	    {"tcpip", "unix", "build_time", "ms", 81234, t},
	    {"tcpip", "vm", "build_time", NULL, 90000, t},
	};
	struct store_history_series *series;
	size_t n = 0;
	int64_t nseries = 0, npoints = 0;
	struct rp_error err = {.msg = ""};

	record_ok(st, s, 5, NULL);

	/* All targets, all metrics: ordered by target, then metric. */
	series = get_ok(st, "tcpip", NULL, NULL, "day", &n);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(series[0].package, "tcpip");
	ck_assert_str_eq(series[0].target, "unix");
	ck_assert_str_eq(series[0].metric, "build_time");
	ck_assert_str_eq(series[0].unit, "ms");
	ck_assert_uint_eq(series[0].npoints, 1);
	assert_point(&series[0].points[0], utc(2024, 3, 12, 0, 0, 0, 0), 1, 81234, 81234, 81234);
	ck_assert_str_eq(series[1].metric, "iperf");
	ck_assert_str_eq(series[1].unit, "Gbit/s");
	ck_assert_uint_eq(series[1].npoints, 1);
	assert_point(&series[1].points[0], utc(2024, 3, 12, 0, 0, 0, 0), 3, 8.25, 28.5 / 3, 10.75);
	ck_assert_double_eq(series[1].points[0].sum, 28.5);
	ck_assert_int_eq(series[1].points[0].last_ms, t + 12 * HOUR);
	ck_assert_str_eq(series[2].target, "vm");
	ck_assert_str_eq(series[2].unit, "");
	store_history_series_free(series, n);

	/* The same samples at the coarser resolutions: Monday the 11th, March 1st. */
	series = one_series(st, "tcpip", "unix", "iperf", "week");
	ck_assert_uint_eq(series->npoints, 1);
	assert_point(&series->points[0], utc(2024, 3, 11, 0, 0, 0, 0), 3, 8.25, 28.5 / 3, 10.75);
	store_history_series_free(series, 1);
	series = one_series(st, "tcpip", "unix", "iperf", "month");
	assert_point(&series->points[0], utc(2024, 3, 1, 0, 0, 0, 0), 3, 8.25, 28.5 / 3, 10.75);
	store_history_series_free(series, 1);

	ck_assert_int_eq(store_history_count(st, &nseries, &npoints, &err), 0);
	ck_assert_int_eq(nseries, 3);
	ck_assert_int_eq(npoints, 9);
	store_close(st);
}
END_TEST

START_TEST(test_bucket_boundaries)
{
	struct store *st = open_ok();
	/* Sunday 2023-12-31 23:59:59.999, then the first millisecond of Monday 2024-01-01. */
	int64_t sun = utc(2023, 12, 31, 23, 59, 59, 999);
	int64_t mon = utc(2024, 1, 1, 0, 0, 0, 0);
	/* Tuesday and Wednesday of that week; the last millisecond of January, then February; a leap day. */
	const struct store_history_sample s[] = {
	    {"p", "t", "m", NULL, 1, sun},
	    {"p", "t", "m", NULL, 2, mon},
	    {"p", "t", "m", NULL, 3, utc(2024, 1, 2, 12, 0, 0, 0)},
	    {"p", "t", "m", NULL, 4, utc(2024, 1, 3, 0, 0, 0, 0)},
	    {"p", "t", "m", NULL, 5, utc(2024, 1, 31, 23, 59, 59, 999)},
	    {"p", "t", "m", NULL, 6, utc(2024, 2, 1, 0, 0, 0, 0)},
	    {"p", "t", "m", NULL, 7, utc(2024, 2, 29, 18, 0, 0, 0)},
	    {"p", "t", "m", NULL, 8, utc(2024, 2, 29, 6, 0, 0, 0)}, /* out of order, same day */
	};
	struct store_history_series *d, *w, *m;

	record_ok(st, s, 8, NULL);
	d = one_series(st, "p", "t", "m", "day");
	ck_assert_uint_eq(d->npoints, 7);
	assert_point(&d->points[0], utc(2023, 12, 31, 0, 0, 0, 0), 1, 1, 1, 1);
	assert_point(&d->points[1], mon, 1, 2, 2, 2);
	assert_point(&d->points[2], utc(2024, 1, 2, 0, 0, 0, 0), 1, 3, 3, 3);
	assert_point(&d->points[3], utc(2024, 1, 3, 0, 0, 0, 0), 1, 4, 4, 4);
	assert_point(&d->points[4], utc(2024, 1, 31, 0, 0, 0, 0), 1, 5, 5, 5);
	assert_point(&d->points[5], utc(2024, 2, 1, 0, 0, 0, 0), 1, 6, 6, 6);
	assert_point(&d->points[6], utc(2024, 2, 29, 0, 0, 0, 0), 2, 7, 7.5, 8);
	/* last_ms is the newest sample's time, whatever the order of recording. */
	ck_assert_int_eq(d->points[6].last_ms, utc(2024, 2, 29, 18, 0, 0, 0));

	/* Weeks start on Monday: Sunday's sample is alone in the week of Monday 2023-12-25. */
	w = one_series(st, "p", "t", "m", "week");
	ck_assert_uint_eq(w->npoints, 4);
	assert_point(&w->points[0], utc(2023, 12, 25, 0, 0, 0, 0), 1, 1, 1, 1);
	assert_point(&w->points[1], mon, 3, 2, 3, 4);
	assert_point(&w->points[2], utc(2024, 1, 29, 0, 0, 0, 0), 2, 5, 5.5, 6); /* Jan 31 and Feb 1 */
	assert_point(&w->points[3], utc(2024, 2, 26, 0, 0, 0, 0), 2, 7, 7.5, 8);
	store_history_series_free(w, 1);

	m = one_series(st, "p", "t", "m", "month");
	ck_assert_uint_eq(m->npoints, 3);
	assert_point(&m->points[0], utc(2023, 12, 1, 0, 0, 0, 0), 1, 1, 1, 1);
	assert_point(&m->points[1], utc(2024, 1, 1, 0, 0, 0, 0), 4, 2, 3.5, 5);
	assert_point(&m->points[2], utc(2024, 2, 1, 0, 0, 0, 0), 3, 6, 7, 8);
	store_history_series_free(m, 1);
	store_history_series_free(d, 1);
	store_close(st);
}
END_TEST

START_TEST(test_units_filters_and_now)
{
	struct store *st = open_ok();
	int64_t t = utc(2024, 5, 6, 3, 0, 0, 0);
	const struct store_history_sample first[] = {
	    {"a", "unix", "rps", "req/s", 100, t},
	    {"a", "vm", "rps", NULL, 80, t},
	    {"a", "unix", "lat.p99", "us", 12, t},
	    {"b", "unix", "rps", "req/s", 50, t},
	};
	/* A sample without unit keeps the series' unit; a new unit replaces it. */
	const struct store_history_sample second[] = {
	    {"a", "unix", "rps", "", 110, t + HOUR},
	    {"a", "unix", "lat.p99", "ms", 0.013, t + HOUR},
	};
	struct store_history_series *series;
	struct rp_error err = {.msg = ""};
	int64_t before, after;
	size_t n = 0;

	record_ok(st, first, 4, NULL);
	record_ok(st, second, 2, NULL);
	series = get_ok(st, "a", "unix", NULL, "day", &n);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(series[0].metric, "lat.p99");
	ck_assert_str_eq(series[0].unit, "ms");
	ck_assert_str_eq(series[1].metric, "rps");
	ck_assert_str_eq(series[1].unit, "req/s");
	ck_assert_int_eq(series[1].points[0].n, 2);
	store_history_series_free(series, n);

	series = get_ok(st, "a", NULL, "rps", "month", &n);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(series[0].target, "unix");
	ck_assert_str_eq(series[1].target, "vm");
	store_history_series_free(series, n);

	/* Nothing recorded: no series, no error. */
	series = get_ok(st, "c", NULL, NULL, "week", &n);
	ck_assert_ptr_null(series);
	ck_assert_uint_eq(n, 0);
	series = get_ok(st, "a", "xen", NULL, "week", &n);
	ck_assert_uint_eq(n, 0);

	ck_assert_int_eq(store_history_get(st, "a", NULL, NULL, "hour", &series, &n, &err), RP_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "resolution 'hour' is not day, week or month"));
	ck_assert_int_eq(store_history_get(st, "a", NULL, NULL, NULL, &series, &n, &err), RP_EINVAL);
	ck_assert_int_eq(store_history_get(st, NULL, NULL, NULL, "day", &series, &n, &err), RP_EINVAL);
	ck_assert_ptr_null(series);

	/*
	 * Time 0 is now: the point is today's (UTC). Bracketed by the store's own
	 * clock: time() may lag CLOCK_REALTIME by a tick across a second boundary.
	 */
	before = store__now_ms();
	record_ok(st, &(struct store_history_sample){"now", "unix", "m", NULL, 1, 0}, 1, NULL);
	after = store__now_ms();
	series = one_series(st, "now", "unix", "m", "day");
	ck_assert_int_ge(series->points[0].last_ms, before);
	ck_assert_int_le(series->points[0].last_ms, after);
	ck_assert_int_eq(series->points[0].start_ms, series->points[0].last_ms / DAY * DAY);
	store_history_series_free(series, 1);
	store_close(st);
}
END_TEST

START_TEST(test_invalid_inputs)
{
	struct store *st = open_ok();
	const int64_t t = utc(2024, 1, 1, 0, 0, 0, 0);
	char long_name[STORE_HISTORY_METRIC_MAX + 2];
	char max_name[STORE_HISTORY_METRIC_MAX + 1];
	static const struct {
		const char *package, *target, *metric, *unit;
		double value;
		int64_t time_ms;
		const char *msg;
	} bad[] = {
	    {NULL, "unix", "m", NULL, 1, 0, "lacks a package or target"},
	    {"p", "", "m", NULL, 1, 0, "lacks a package or target"},
	    {"p", "unix", NULL, NULL, 1, 0, "metric name '' is not 1 to 64 characters"},
	    {"p", "unix", "", NULL, 1, 0, "metric name '' is not"},
	    {"p", "unix", "a b", NULL, 1, 0, "metric name 'a b' is not"},
	    {"p", "unix", "a/b", NULL, 1, 0, "metric name 'a/b' is not"},
	    {"p", "unix", "caf\xc3\xa9", NULL, 1, 0, "is not 1 to 64 characters of [A-Za-z0-9_.-]"},
	    {"p", "unix", "m", "Gbit per s", 1, 0, "unit 'Gbit per s' is not at most 16"},
	    {"p", "unix", "m", "abcdefghijklmnopq", 1, 0, "unit 'abcdefghijklmnopq' is not"},
	    {"p", "unix", "m", "a\tb", 1, 0, "unit 'a?b' is not"},
	    {"p", "unix", "m", NULL, NAN, 0, "(m): value is not a finite number"},
	    {"p", "unix", "m", NULL, INFINITY, 0, "value is not a finite number"},
	    {"p", "unix", "m", NULL, -INFINITY, 0, "value is not a finite number"},
	    {"p", "unix", "m", NULL, 1, -1, "time -1 is out of range"},
	    {"p", "unix", "m", NULL, 1, INT64_C(253402300800000), "is out of range"},
	};
	struct store_history_limits zero = {60, 0, 36};
	struct rp_error err = {.msg = ""};

	memset(long_name, 'x', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	memset(max_name, 'y', sizeof(max_name) - 1);
	max_name[sizeof(max_name) - 1] = '\0';

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* A good sample first: nothing of a refused call is written. */
		const struct store_history_sample s[2] = {
		    {"p", "unix", "good", NULL, 1, t},
		    {bad[i].package, bad[i].target, bad[i].metric, bad[i].unit, bad[i].value, bad[i].time_ms},
		};
		err.msg[0] = '\0';
		ck_assert_int_eq(store_history_record(st, s, 2, NULL, &err), RP_EINVAL);
		ck_assert_msg(strstr(err.msg, bad[i].msg) && strstr(err.msg, "history sample 1"),
			      "case %zu: '%s' lacks '%s'", i, err.msg, bad[i].msg);
		ck_assert_ptr_null(strchr(err.msg, '\n'));
	}
	{
		const struct store_history_sample s[] = {{"p", "unix", long_name, NULL, 1, t}};
		ck_assert_int_eq(store_history_record(st, s, 1, NULL, &err), RP_EINVAL);
		ck_assert_ptr_nonnull(strstr(err.msg, "is not 1 to 64 characters"));
	}
	ck_assert_int_eq(store_history_record(st,
					      &(struct store_history_sample){"p", "unix", "m", NULL, 1, t}, 1,
					      &zero, &err),
			 RP_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "history limits 60/0/36: each must be at least 1"));
	ck_assert_int_eq(points_of(st), 0);

	/* The edges that are allowed: 64 characters, 16 of unit, time 9999-12-31, negative values. */
	{
		const struct store_history_sample s[] = {
		    {"p", "unix", max_name, "abcdefghijklmnop", -1e300, INT64_C(253402300799999)},
		    {"p", "unix", "A-z_0.9", "%", -0.0, 1},
		};
		record_ok(st, s, 2, NULL);
		ck_assert_int_eq(points_of(st), 6);
	}
	/* An empty call is no work, and no error. */
	ck_assert_int_eq(store_history_record(st, NULL, 0, NULL, &err), 0);
	store_close(st);
}
END_TEST

START_TEST(test_trim_to_limits)
{
	struct store *st = open_ok();
	const struct store_history_limits lim = {3, 2, 1};
	int64_t day0 = utc(2024, 1, 1, 0, 0, 0, 0); /* a Monday */
	struct store_history_series *d, *w, *m;

	for (int i = 0; i < 40; i++) {
		const struct store_history_sample s = {"p", "t", "m", NULL, i, day0 + i * DAY + 22 * HOUR};
		record_ok(st, &s, 1, &lim);
		ck_assert_int_le(points_of(st), 3 + 2 + 1);
	}
	ck_assert_int_eq(points_of(st), 6);
	d = one_series(st, "p", "t", "m", "day");
	ck_assert_uint_eq(d->npoints, 3);
	assert_point(&d->points[0], day0 + 37 * DAY, 1, 37, 37, 37);
	assert_point(&d->points[2], day0 + 39 * DAY, 1, 39, 39, 39);
	store_history_series_free(d, 1);
	/* Days 35..39 are the week of Monday Feb 5 (day 35). */
	w = one_series(st, "p", "t", "m", "week");
	ck_assert_uint_eq(w->npoints, 2);
	assert_point(&w->points[0], day0 + 28 * DAY, 7, 28, 31, 34);
	assert_point(&w->points[1], day0 + 35 * DAY, 5, 35, 37, 39);
	store_history_series_free(w, 1);
	m = one_series(st, "p", "t", "m", "month");
	assert_point(&m->points[0], utc(2024, 2, 1, 0, 0, 0, 0), 9, 31, 35, 39);
	store_history_series_free(m, 1);

	/* A late sample for a bucket older than every kept one is not kept. */
	record_ok(st, &(struct store_history_sample){"p", "t", "m", NULL, 1000, day0 + 2 * HOUR}, 1, &lim);
	ck_assert_int_eq(points_of(st), 6);
	d = one_series(st, "p", "t", "m", "day");
	ck_assert_int_eq(d->points[0].start_ms, day0 + 37 * DAY);
	ck_assert_double_eq(d->points[2].max, 39);
	store_history_series_free(d, 1);
	/* A late sample inside the kept range merges into its bucket. */
	record_ok(st, &(struct store_history_sample){"p", "t", "m", NULL, 1000, day0 + 37 * DAY + HOUR}, 1,
		  &lim);
	d = one_series(st, "p", "t", "m", "day");
	assert_point(&d->points[0], day0 + 37 * DAY, 2, 37, 518.5, 1000);
	store_history_series_free(d, 1);
	ck_assert_int_eq(points_of(st), 6);
	store_close(st);
}
END_TEST

/*
 * Five years of nightlies: every night at 02:30 UTC, 3 packages × 2 targets
 * × 4 metrics, one store_history_record call (one transaction) per night.
 */
#define NPKG 3
#define NTGT 2
#define NMET 4
#define NSERIES (NPKG * NTGT * NMET)
#define NIGHTS 1826

START_TEST(test_five_years_constant_space)
{
	static const char *const pkgs[NPKG] = {"cstruct", "tcpip", "mirage"};
	static const char *const tgts[NTGT] = {"unix", "vm"};
	static const char *const mets[NMET] = {HISTORY_BUILD_TIME, HISTORY_TEST_TIME, "coverage", "iperf"};
	static const char *const units[NMET] = {"ms", "ms", "%", "Gbit/s"};
	const struct store_history_limits lim = {60, 52, 36};
	const int64_t start = utc(2020, 1, 1, 2, 30, 0, 0);
	struct store *st = open_ok();
	struct store_history_sample s[NSERIES];
	int64_t weeks = 0, months = 0, last_week = -1, last_month = -1;
	int64_t pages[6] = {0};
	struct store_history_series *series;
	struct store_check_report rep;
	struct rp_error err = {.msg = ""};
	size_t n = 0;

	for (int night = 0; night < NIGHTS; night++) {
		int64_t t = start + night * DAY;
		time_t secs = (time_t)(t / 1000);
		struct tm tm;
		int64_t day = t / DAY, monday, month;
		size_t k = 0;

		/* Distinct weeks and months so far, by the C library's calendar. */
		ck_assert_ptr_nonnull(gmtime_r(&secs, &tm));
		monday = day - (tm.tm_wday + 6) % 7;
		month = (int64_t)tm.tm_year * 12 + tm.tm_mon;
		weeks += monday != last_week;
		months += month != last_month;
		last_week = monday;
		last_month = month;

		for (int p = 0; p < NPKG; p++)
			for (int g = 0; g < NTGT; g++)
				for (int m = 0; m < NMET; m++, k++) {
					s[k].package = pkgs[p];
					s[k].target = tgts[g];
					s[k].metric = mets[m];
					s[k].unit = units[m];
					s[k].value = night % 17 + p + g + m;
					s[k].time_ms = t;
				}
		record_ok(st, s, NSERIES, &lim);

		if ((night + 1) % 365 == 0 || night + 1 == NIGHTS) {
			int year = (night + 1) / 365;
			int64_t days = night + 1;
			int64_t want = NSERIES * ((days < 60 ? days : 60) + (weeks < 52 ? weeks : 52) +
						  (months < 36 ? months : 36));
			ck_assert_msg(points_of(st) == want, "year %d: %lld points, expected %lld", year,
				      (long long)points_of(st), (long long)want);
			if (year >= 3)
				ck_assert_int_eq(want, NSERIES * (60 + 52 + 36));
			/* Pages in use, WAL included: what the file needs once checkpointed. */
			pages[year] =
			    pragma_int(st, "PRAGMA page_count") - pragma_int(st, "PRAGMA freelist_count");
		}
	}
	ck_assert_int_eq(points_of(st), NSERIES * 148);
	ck_assert_int_eq(points_of(st), 3552);
	/* From year 3 on every archive is full: the file does not grow. */
	ck_assert_msg(pages[5] <= pages[3] + 2, "pages: year 3 %lld, year 5 %lld", (long long)pages[3],
		      (long long)pages[5]);
	/* Year 2 still misses a third of the monthly points (288 rows): a few pages at most. */
	ck_assert_msg(pages[5] <= pages[2] + 8, "pages: year 2 %lld, year 5 %lld", (long long)pages[2],
		      (long long)pages[5]);
	ck_assert_msg(pragma_int(st, "PRAGMA page_count") <= pages[3] + 16, "file: %lld pages, in use %lld",
		      (long long)pragma_int(st, "PRAGMA page_count"), (long long)pages[3]);

	/* The newest points of one series, at each resolution. */
	series = one_series(st, "tcpip", "vm", "iperf", "day");
	ck_assert_uint_eq(series->npoints, 60);
	ck_assert_int_eq(series->points[59].start_ms, (start + (NIGHTS - 1) * DAY) / DAY * DAY);
	for (size_t i = 1; i < 60; i++)
		ck_assert_int_eq(series->points[i].start_ms - series->points[i - 1].start_ms, DAY);
	store_history_series_free(series, 1);
	series = one_series(st, "tcpip", "vm", "iperf", "week");
	ck_assert_uint_eq(series->npoints, 52);
	for (size_t i = 0; i < 51; i++) {
		ck_assert_int_eq(series->points[i].n, 7);
		ck_assert_int_eq(series->points[i + 1].start_ms - series->points[i].start_ms, 7 * DAY);
	}
	store_history_series_free(series, 1);
	series = one_series(st, "tcpip", "vm", "iperf", "month");
	ck_assert_uint_eq(series->npoints, 36);
	/* Night 1825 is 2024-12-30: the months kept are 2022-01 to 2024-12. */
	ck_assert_int_eq(series->points[0].start_ms, utc(2022, 1, 1, 0, 0, 0, 0));
	ck_assert_int_eq(series->points[35].start_ms, utc(2024, 12, 1, 0, 0, 0, 0));
	ck_assert_int_eq(series->points[35].n, 30);
	ck_assert_int_eq(series->points[25].n, 29); /* 2024-02 */
	ck_assert_int_eq(series->points[13].n, 28); /* 2023-02 */
	store_history_series_free(series, 1);
	series = get_ok(st, "mirage", NULL, NULL, "month", &n);
	ck_assert_uint_eq(n, NTGT * NMET);
	store_history_series_free(series, n);

	ck_assert_int_eq(store_check(st, &rep, &err), 0);
	ck_assert_msg(rep.ok, "%s", rep.nproblems ? rep.problems[0] : "?");
	store_check_report_release(&rep);
	store_close(st);
}
END_TEST

/* ---- the log parser --------------------------------------------------------- */

static const struct history_metric *find_metric(const struct history_metrics *m, const char *name)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->items[i].name, name) == 0)
			return &m->items[i];
	return NULL;
}

START_TEST(test_parse_good_lines)
{
	static const char log[] = "make check\n"
				  "RIPPLE-METRIC iperf=9.41 Gbit/s\n"
				  "  \tRIPPLE-METRIC latency.p99=-12.5e-3 s\r\n"
				  "RIPPLE-METRIC\tframes_dropped=0\n"
				  "ok 3 - throughput\n"
				  "RIPPLE-METRIC rps=+1200   req/s   \n"
				  "[   0.038] RIPPLE-METRIC x-y_z.1=.5\n" /* as the step runner stamps lines */
				  "RIPPLE-METRIC last=42 B"; /* no newline at the end */
	struct history_metrics m;
	const struct history_metric *mt;

	ck_assert_uint_eq(history_parse_metrics(log, sizeof(log) - 1, &m), 6);
	ck_assert_uint_eq(m.malformed, 0);
	ck_assert_uint_eq(m.first_malformed_line, 0);
	ck_assert_uint_eq(m.dropped, 0);
	ck_assert_str_eq(m.items[0].name, "iperf");
	ck_assert_double_eq(m.items[0].value, 9.41);
	ck_assert_str_eq(m.items[0].unit, "Gbit/s");
	ck_assert_uint_eq(m.items[0].line, 2);
	mt = &m.items[1];
	ck_assert_str_eq(mt->name, "latency.p99");
	ck_assert_double_eq(mt->value, -12.5e-3);
	ck_assert_str_eq(mt->unit, "s");
	mt = find_metric(&m, "frames_dropped");
	ck_assert_ptr_nonnull(mt);
	ck_assert_double_eq(mt->value, 0);
	ck_assert_str_eq(mt->unit, "");
	mt = find_metric(&m, "rps");
	ck_assert_double_eq(mt->value, 1200);
	ck_assert_str_eq(mt->unit, "req/s");
	ck_assert_double_eq(find_metric(&m, "x-y_z.1")->value, 0.5);
	mt = find_metric(&m, "last");
	ck_assert_double_eq(mt->value, 42);
	ck_assert_str_eq(mt->unit, "B");
	ck_assert_uint_eq(mt->line, 8);
	/* Only the stamp itself may precede the marker, and "[]" is none. */
	ck_assert_uint_eq(history_parse_metrics("[ 1.5] x RIPPLE-METRIC a=1\n[] RIPPLE-METRIC b=2\n", 48, &m), 0);

	/* Only the given length counts: a line cut short there is read as cut. */
	ck_assert_uint_eq(history_parse_metrics(log, sizeof(log) - 3, &m), 6);
	ck_assert_double_eq(find_metric(&m, "last")->value, 42);
	ck_assert_str_eq(find_metric(&m, "last")->unit, "");
	ck_assert_uint_eq(history_parse_metrics(NULL, 0, &m), 0);
	ck_assert_uint_eq(history_parse_metrics("", 0, &m), 0);
	ck_assert_uint_eq(history_parse_metrics("RIPPLE-METRIC a=1", 17, &m), 1);
}
END_TEST

START_TEST(test_parse_malformed_lines)
{
	static const char log[] = "RIPPLE-METRIC ok=1\n"
				  "RIPPLE-METRIC\n"			     /* 2: nothing */
				  "RIPPLE-METRIC novalue\n"		     /* 3 */
				  "RIPPLE-METRIC a=\n"			     /* 4 */
				  "RIPPLE-METRIC =5\n"			     /* 5 */
				  "RIPPLE-METRIC a b=1\n"		     /* 6: space in name */
				  "RIPPLE-METRIC a/b=1\n"		     /* 7 */
				  "RIPPLE-METRIC a=1x\n"		     /* 8 */
				  "RIPPLE-METRIC a=0x10\n"		     /* 9: hex */
				  "RIPPLE-METRIC a=inf\n"		     /* 10 */
				  "RIPPLE-METRIC a=nan\n"		     /* 11 */
				  "RIPPLE-METRIC a=1e999\n"		     /* 12: not finite */
				  "RIPPLE-METRIC a=1 MB extra\n"	     /* 13: three tokens */
				  "RIPPLE-METRIC a=1 abcdefghijklmnopq\n"    /* 14: unit of 17 */
				  "RIPPLE-METRIC a=1.2.3\n"		     /* 15 */
				  "RIPPLE-METRIC a=1 \x1b[0m\n"		     /* 16: control character */
				  "RIPPLE-METRIC " HISTORY_BUILD_TIME "=3\n" /* 17: built-in */
				  "RIPPLE-METRIC coverage=99 %\n"	     /* 18: built-in */
				  /* Not marker lines at all: not counted. */
				  "+ echo RIPPLE-METRIC a=1\n"
				  "[12:00] RIPPLE-METRIC a=1\n"
				  "RIPPLE-METRICS a=1\n"
				  "ripple-metric a=1\n"
				  "RIPPLE-METRIC-X a=1\n";
	char long_name[200];
	char value[200];
	struct history_metrics m;

	ck_assert_uint_eq(history_parse_metrics(log, sizeof(log) - 1, &m), 1);
	ck_assert_str_eq(m.items[0].name, "ok");
	ck_assert_uint_eq(m.malformed, 17);
	ck_assert_uint_eq(m.first_malformed_line, 2);
	ck_assert_uint_eq(m.dropped, 0);

	/* Names of 64 characters are fine, 65 are not; value tokens are bounded too. */
	snprintf(long_name, sizeof(long_name), "RIPPLE-METRIC %064d=1\nRIPPLE-METRIC %065d=1\n", 7, 7);
	ck_assert_uint_eq(history_parse_metrics(long_name, strlen(long_name), &m), 1);
	ck_assert_uint_eq(strlen(m.items[0].name), 64);
	ck_assert_uint_eq(m.malformed, 1);
	ck_assert_uint_eq(m.first_malformed_line, 2);
	snprintf(value, sizeof(value), "RIPPLE-METRIC v=%063d\nRIPPLE-METRIC w=%064d\n", 1, 1);
	ck_assert_uint_eq(history_parse_metrics(value, strlen(value), &m), 1);
	ck_assert_str_eq(m.items[0].name, "v");
	ck_assert_double_eq(m.items[0].value, 1);
	ck_assert_uint_eq(m.malformed, 1);
}
END_TEST

START_TEST(test_parse_overwrite_and_cap)
{
	char *log = malloc(16384);
	size_t len = 0;
	struct history_metrics m;

	ck_assert_ptr_nonnull(log);
	/* 70 names, then a new value for the 3rd and for the 70th (dropped, so still dropped). */
	for (int i = 0; i < 70; i++)
		len += (size_t)snprintf(log + len, 16384 - len, "RIPPLE-METRIC m%d=%d u%d\n", i, i, i);
	len += (size_t)snprintf(log + len, 16384 - len, "RIPPLE-METRIC m2=200\nRIPPLE-METRIC m69=690\n");
	len += (size_t)snprintf(log + len, 16384 - len, "RIPPLE-METRIC m63=630 kB");
	ck_assert_uint_eq(history_parse_metrics(log, len, &m), HISTORY_METRICS_MAX);
	ck_assert_uint_eq(m.dropped, 70 - HISTORY_METRICS_MAX + 1);
	ck_assert_uint_eq(m.malformed, 0);
	for (int i = 0; i < HISTORY_METRICS_MAX; i++) {
		char name[16];
		snprintf(name, sizeof(name), "m%d", i);
		ck_assert_str_eq(m.items[i].name, name);
	}
	/* The later line wins, unit included (none given: none kept). */
	ck_assert_double_eq(m.items[2].value, 200);
	ck_assert_str_eq(m.items[2].unit, "");
	ck_assert_uint_eq(m.items[2].line, 71);
	ck_assert_double_eq(m.items[1].value, 1);
	ck_assert_str_eq(m.items[1].unit, "u1");
	ck_assert_double_eq(m.items[63].value, 630);
	ck_assert_str_eq(m.items[63].unit, "kB");
	ck_assert_ptr_null(find_metric(&m, "m64"));
	ck_assert_ptr_null(find_metric(&m, "m69"));
	free(log);
}
END_TEST

/* ---- the drop rule ---------------------------------------------------------- */

/* Daily points of averages avgs[0..n) on the n days before `today` (a UTC midnight). */
static void days_before(struct store_history_point *p, const double *avgs, size_t n, int64_t today)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (struct store_history_point){.start_ms = today - (int64_t)(n - i) * DAY,
						    .last_ms = today - (int64_t)(n - i) * DAY + HOUR,
						    .n = 1,
						    .sum = avgs[i],
						    .min = avgs[i],
						    .avg = avgs[i],
						    .max = avgs[i]};
}

START_TEST(test_drop_check)
{
	const int64_t today = utc(2024, 6, 10, 0, 0, 0, 0);
	/* Nine days: the two oldest are outside the window of seven. */
	const double avgs[9] = {1000, 1000, 10, 10, 10, 10, 10, 10, 10};
	struct store_history_point p[10];
	struct history_drop d;
	struct rp_error err = {.msg = ""};

	days_before(p, avgs, 9, today);
	ck_assert_int_eq(history_drop_check(p, 9, 7.5, today + HOUR, 0.2, HISTORY_HIGHER_IS_BETTER, &d, &err),
			 0);
	ck_assert_int_eq(d.dropped, 1);
	ck_assert_uint_eq(d.days, 7);
	ck_assert_double_eq(d.baseline, 10);
	ck_assert_double_eq(d.change, -0.25);
	/* Exactly at the threshold is not past it; above the baseline is no drop. */
	ck_assert_int_eq(history_drop_check(p, 9, 8, today + HOUR, 0.2, HISTORY_HIGHER_IS_BETTER, &d, &err),
			 0);
	ck_assert_int_eq(d.dropped, 0);
	ck_assert_double_eq(d.change, -0.2);
	ck_assert_int_eq(history_drop_check(p, 9, 50, today, 0.2, HISTORY_HIGHER_IS_BETTER, &d, &err), 0);
	ck_assert_int_eq(d.dropped, 0);
	/* Lower is better: a rise past the threshold is the drop. */
	ck_assert_int_eq(history_drop_check(p, 9, 12.5, today, 0.2, HISTORY_LOWER_IS_BETTER, &d, &err), 0);
	ck_assert_int_eq(d.dropped, 1);
	ck_assert_double_eq(d.change, 0.25);
	ck_assert_int_eq(history_drop_check(p, 9, 7.5, today, 0.2, HISTORY_LOWER_IS_BETTER, &d, &err), 0);
	ck_assert_int_eq(d.dropped, 0);

	/* The value's own day, already recorded, is not part of its baseline. */
	p[9] = (struct store_history_point){
	    .start_ms = today, .last_ms = today + 23 * HOUR, .n = 1, .sum = 1, .min = 1, .avg = 1, .max = 1};
	ck_assert_int_eq(
	    history_drop_check(p, 10, 1, today + 23 * HOUR, 0.2, HISTORY_HIGHER_IS_BETTER, &d, &err), 0);
	ck_assert_uint_eq(d.days, 7);
	ck_assert_double_eq(d.baseline, 10);
	ck_assert_int_eq(d.dropped, 1);
	/* Earlier samples of the value's own day count (several nightlies a day): 6 days of 10 and a 1. */
	p[9].last_ms = today + HOUR;
	ck_assert_int_eq(
	    history_drop_check(p, 10, 1, today + 23 * HOUR, 0.2, HISTORY_HIGHER_IS_BETTER, &d, &err), 0);
	ck_assert_uint_eq(d.days, 7);
	ck_assert_double_eq_tol(d.baseline, 61.0 / 7, 1e-9);
	p[9].last_ms = today + 23 * HOUR;

	/* Fewer days: the mean of those there are. */
	ck_assert_int_eq(history_drop_check(p + 7, 3, 5, today, 0.2, HISTORY_HIGHER_IS_BETTER, &d, &err), 0);
	ck_assert_uint_eq(d.days, 2);
	ck_assert_int_eq(d.dropped, 1);
	/* No previous day, or a baseline of 0: no verdict. */
	ck_assert_int_eq(history_drop_check(p + 9, 1, 0, today, 0.2, HISTORY_HIGHER_IS_BETTER, &d, &err), 0);
	ck_assert_uint_eq(d.days, 0);
	ck_assert_int_eq(d.dropped, 0);
	ck_assert_int_eq(history_drop_check(NULL, 0, 0, today, 0.2, HISTORY_HIGHER_IS_BETTER, &d, &err), 0);
	ck_assert_int_eq(d.dropped, 0);
	{
		const double zeros[2] = {0, 0};
		days_before(p, zeros, 2, today);
		ck_assert_int_eq(history_drop_check(p, 2, 5, today, 0.2, HISTORY_LOWER_IS_BETTER, &d, &err),
				 0);
		ck_assert_uint_eq(d.days, 2);
		ck_assert_int_eq(d.dropped, 0);
		ck_assert_double_eq(d.change, 0);
	}
	/* A negative baseline: the change is relative to its magnitude. */
	{
		const double neg[1] = {-10};
		days_before(p, neg, 1, today);
		ck_assert_int_eq(
		    history_drop_check(p, 1, -13, today, 0.2, HISTORY_HIGHER_IS_BETTER, &d, &err), 0);
		ck_assert_double_eq(d.change, -0.3);
		ck_assert_int_eq(d.dropped, 1);
	}

	ck_assert_int_eq(history_drop_check(p, 1, NAN, today, 0.2, HISTORY_HIGHER_IS_BETTER, &d, &err),
			 RP_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "not a finite number"));
	ck_assert_int_eq(history_drop_check(p, 1, 1, today, 0, HISTORY_HIGHER_IS_BETTER, &d, &err),
			 RP_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "threshold 0 is not a fraction above 0"));
	ck_assert_int_eq(history_drop_check(p, 1, 1, today, NAN, HISTORY_HIGHER_IS_BETTER, &d, &err),
			 RP_EINVAL);
	ck_assert_int_eq(history_drop_check(p, 1, 1, today, 0.2, (enum history_direction)7, &d, &err),
			 RP_EINVAL);

	ck_assert_int_eq(history_direction_of(HISTORY_BUILD_TIME), HISTORY_LOWER_IS_BETTER);
	ck_assert_int_eq(history_direction_of(HISTORY_TEST_TIME), HISTORY_LOWER_IS_BETTER);
	ck_assert_int_eq(history_direction_of(HISTORY_ARTIFACT_SIZE), HISTORY_LOWER_IS_BETTER);
	ck_assert_int_eq(history_direction_of(HISTORY_COVERAGE), HISTORY_HIGHER_IS_BETTER);
	ck_assert_int_eq(history_direction_of("iperf"), HISTORY_HIGHER_IS_BETTER);
}
END_TEST

/* The whole path: a nightly's log, the store, the check against the days before. */
START_TEST(test_log_to_store_to_drop)
{
	struct store *st = open_ok();
	const int64_t day0 = utc(2024, 6, 1, 3, 0, 0, 0);
	struct store_history_series *series;
	struct history_metrics m;
	struct history_drop d;
	struct rp_error err = {.msg = ""};

	for (int night = 0; night < 9; night++) {
		char log[128];
		struct store_history_sample s[HISTORY_METRICS_MAX];
		/* Steady at 9.4 Gbit/s, then 7 on the last night. */
		int len = snprintf(log, sizeof(log), "PASS\nRIPPLE-METRIC iperf=%s Gbit/s\n",
				   night < 8 ? "9.4" : "7");
		size_t n = history_parse_metrics(log, (size_t)len, &m);

		ck_assert_uint_eq(n, 1);
		for (size_t i = 0; i < n; i++)
			s[i] = (struct store_history_sample){"tcpip",	       "unix",
							     m.items[i].name,  m.items[i].unit,
							     m.items[i].value, day0 + night * DAY};
		record_ok(st, s, n, NULL);
	}
	series = one_series(st, "tcpip", "unix", "iperf", "day");
	ck_assert_uint_eq(series->npoints, 9);
	ck_assert_int_eq(history_drop_check(series->points, series->npoints, 7, day0 + 8 * DAY, 0.2,
					    history_direction_of("iperf"), &d, &err),
			 0);
	ck_assert_uint_eq(d.days, 7);
	ck_assert_double_eq_tol(d.baseline, 9.4, 1e-12);
	ck_assert_int_eq(d.dropped, 1);
	/* 9.4 → 8 is a 15% fall: under a 20% threshold, past a 10% one. */
	ck_assert_int_eq(history_drop_check(series->points, series->npoints, 8, day0 + 8 * DAY, 0.2,
					    HISTORY_HIGHER_IS_BETTER, &d, &err),
			 0);
	ck_assert_int_eq(d.dropped, 0);
	ck_assert_int_eq(history_drop_check(series->points, series->npoints, 8, day0 + 8 * DAY, 0.1,
					    HISTORY_HIGHER_IS_BETTER, &d, &err),
			 0);
	ck_assert_int_eq(d.dropped, 1);
	store_history_series_free(series, 1);
	store_close(st);
}
END_TEST

static Suite *store_history_suite(void)
{
	Suite *s = suite_create("store_history");
	TCase *tc = tcase_create("store");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_round_trip_exact);
	tcase_add_test(tc, test_bucket_boundaries);
	tcase_add_test(tc, test_units_filters_and_now);
	tcase_add_test(tc, test_invalid_inputs);
	tcase_add_test(tc, test_trim_to_limits);
	suite_add_tcase(s, tc);

	tc = tcase_create("retention");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_five_years_constant_space);
	suite_add_tcase(s, tc);

	tc = tcase_create("metrics");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_parse_good_lines);
	tcase_add_test(tc, test_parse_malformed_lines);
	tcase_add_test(tc, test_parse_overwrite_and_cap);
	tcase_add_test(tc, test_drop_check);
	tcase_add_test(tc, test_log_to_store_to_drop);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run_suite(store_history_suite());
}
