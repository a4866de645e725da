/*
 * store_history.c — the history of measurements in store.h: round-robin
 * archives per (package, target, metric).
 *
 * Invariants the functions below keep, and rely on:
 *
 * - A point is one bucket (series, resolution, slot) and is only ever
 *   updated by merging a sample into it, so n, sum, min and max describe
 *   exactly the samples that fell in the bucket and avg = sum / n is exact.
 * - A resolution of a series holds at most its limit of buckets once the
 *   transaction that recorded into it commits: buckets are only created by
 *   the upsert, and the upsert that creates one (it returns n = 1) is
 *   followed by the trim of that series and resolution. The trim walks at
 *   most limit + 1 index entries, so a sample costs a bounded number of
 *   row operations whatever the age of the series.
 * - Slots are integers computed here, never in SQL: day = UTC days since
 *   1970-01-01, week = weeks since Monday 1969-12-29, month = year * 12 +
 *   month - 1 (UTC). A later slot is a later bucket at every resolution, so
 *   "newest" is "largest slot".
 *
 * Statements live in slots STORE__HISTORY_SLOT.. of the store's cache
 * (store__stmt_ext); every use ends with store__done().
 */
#include "store.h"
#include "store-internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "banned.h"

#define MS_PER_DAY INT64_C(86400000)
/* 9999-12-31T23:59:59.999Z: month slots and civil dates stay four-digit years. */
#define STORE__HISTORY_MAX_MS INT64_C(253402300799999)

enum store__hres { H_DAY, H_WEEK, H_MONTH, H__NRES };

static const char *const store__hres_names[H__NRES] = {"day", "week", "month"};

enum store__hid {
	H_SERIES_FIND,
	H_SERIES_INSERT,
	H_SERIES_UNIT,
	H_POINT_ADD,
	H_POINT_TRIM,
	H_GET,
	H_COUNT,
	H__COUNT
};

_Static_assert(STORE__HISTORY_SLOT + H__COUNT <= STORE__BISECT_SLOT,
	       "store_history.c needs more statement slots");

/* clang-format off */
static const char *const store__hsql[H__COUNT] = {
	/* The unique index (package, target, metric). */
	[H_SERIES_FIND] = "SELECT id, unit FROM history_series WHERE package = ?1 AND target = ?2 AND metric = ?3",
	[H_SERIES_INSERT] = "INSERT INTO history_series (package, target, metric, unit) VALUES (?1, ?2, ?3, ?4)",
	[H_SERIES_UNIT] = "UPDATE history_series SET unit = ?2 WHERE id = ?1",
	/* RETURNING n: 1 when the bucket is new, which is when the resolution may need a trim. */
	[H_POINT_ADD] = "INSERT INTO history_points (series_id, resolution, slot, n, sum, min, max, last_ms)"
			" VALUES (?1, ?2, ?3, 1, ?4, ?4, ?4, ?5)"
			" ON CONFLICT (series_id, resolution, slot) DO UPDATE SET n = n + 1,"
			" sum = sum + excluded.sum, min = min(min, excluded.min), max = max(max, excluded.max),"
			" last_ms = max(last_ms, excluded.last_ms)"
			" RETURNING n",
	/*
	 * The primary key, backwards from the newest bucket: the subquery finds
	 * the newest bucket past the limit (NULL, deleting nothing, while there
	 * is none), and the delete takes it and everything older.
	 */
	[H_POINT_TRIM] = "DELETE FROM history_points WHERE series_id = ?1 AND resolution = ?2 AND slot <="
			 " (SELECT slot FROM history_points WHERE series_id = ?1 AND resolution = ?2"
			 " ORDER BY slot DESC LIMIT 1 OFFSET ?3)",
	/* The unique index gives the series in (target, metric) order, the primary key their points. */
	[H_GET] = "SELECT s.id, s.package, s.target, s.metric, s.unit, p.slot, p.n, p.sum, p.min, p.max, p.last_ms"
		  " FROM history_series s JOIN history_points p ON p.series_id = s.id AND p.resolution = ?4"
		  " WHERE s.package = ?1 AND (?2 IS NULL OR s.target = ?2) AND (?3 IS NULL OR s.metric = ?3)"
		  " ORDER BY s.target, s.metric, p.slot",
	[H_COUNT] = "SELECT (SELECT count(*) FROM history_series), (SELECT count(*) FROM history_points)",
};
/* clang-format on */

/* ---- helpers ------------------------------------------------------------------ */

/* Statement `id` into *s; 0, or the error code with `err` filled. */
static int store__h(struct store *st, enum store__hid id, sqlite3_stmt **s, struct rp_error *err)
{
	*s = store__stmt_ext(st, STORE__HISTORY_SLOT + (unsigned)id, store__hsql[id], err);
	return *s ? 0 : store__code(sqlite3_errcode(store__handle(st)));
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t store__days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* The month slot (year * 12 + month - 1) of day `z` since 1970-01-01 (Hinnant's civil_from_days). */
static int64_t store__month_of_day(int64_t z)
{
	int64_t era, y;
	unsigned doe, yoe, doy, mp, m;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = (int64_t)yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	m = mp < 10 ? mp + 3 : mp - 9;
	return (y + (m <= 2)) * 12 + (m - 1);
}

/* The slot of time `ms` (>= 0) at resolution `r`. */
static int64_t store__slot(enum store__hres r, int64_t ms)
{
	int64_t day = ms / MS_PER_DAY;

	switch (r) {
	case H_DAY:
		return day;
	case H_WEEK:
		return (day + 3) / 7; /* 1970-01-01 was a Thursday, three days after a Monday */
	default:
		return store__month_of_day(day);
	}
}

/* The first millisecond of slot `slot` (>= 0) at resolution `r`. */
static int64_t store__slot_start(enum store__hres r, int64_t slot)
{
	switch (r) {
	case H_DAY:
		return slot * MS_PER_DAY;
	case H_WEEK:
		return (slot * 7 - 3) * MS_PER_DAY;
	default:
		return store__days_from_civil(slot / 12, (unsigned)(slot % 12) + 1, 1) * MS_PER_DAY;
	}
}

static int store__metric_ok(const char *m)
{
	size_t i;

	if (!m)
		return 0;
	for (i = 0; m[i]; i++) {
		char c = m[i];
		if (i >= STORE_HISTORY_METRIC_MAX ||
		    !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return 0;
	}
	return i > 0;
}

static int store__unit_ok(const char *u)
{
	size_t i;

	for (i = 0; u && u[i]; i++)
		if (i >= STORE_HISTORY_UNIT_MAX || (unsigned char)u[i] <= ' ' || (unsigned char)u[i] > '~')
			return 0;
	return 1;
}

/* Checks sample `i` before anything is written, so a bad one is a clear message, not a constraint name. */
static int store__check_sample(struct store *st, const struct store_history_sample *s, size_t i,
			       struct rp_error *err)
{
	if (!s->package || !*s->package || !s->target || !*s->target)
		return rp_error_set(err, RP_EINVAL, "%s: history sample %zu lacks a package or target",
				    store_path(st), i);
	if (!store__metric_ok(s->metric))
		return rp_error_set(err, RP_EINVAL,
				    "%s: history sample %zu: metric name '%.*s' is not 1 to %d characters of "
				    "[A-Za-z0-9_.-]",
				    store_path(st), i, STORE_HISTORY_METRIC_MAX + 1,
				    s->metric ? s->metric : "", STORE_HISTORY_METRIC_MAX);
	if (!store__unit_ok(s->unit))
		return rp_error_set(err, RP_EINVAL,
				    "%s: history sample %zu (%s): unit '%.*s' is not at most %d printable "
				    "characters without spaces",
				    store_path(st), i, s->metric, STORE_HISTORY_UNIT_MAX + 1, s->unit,
				    STORE_HISTORY_UNIT_MAX);
	if (!isfinite(s->value))
		return rp_error_set(err, RP_EINVAL,
				    "%s: history sample %zu (%s): value is not a finite number",
				    store_path(st), i, s->metric);
	if (s->time_ms < 0 || s->time_ms > STORE__HISTORY_MAX_MS)
		return rp_error_set(err, RP_EINVAL,
				    "%s: history sample %zu (%s): time %" PRId64
				    " is out of range 0..%" PRId64,
				    store_path(st), i, s->metric, s->time_ms, STORE__HISTORY_MAX_MS);
	return 0;
}

/* The id of the sample's series, created when new, its unit updated; inside the caller's transaction. */
static int store__series_id(struct store *st, const struct store_history_sample *smp, int64_t *id,
			    struct rp_error *err)
{
	const char *unit = smp->unit ? smp->unit : "";
	sqlite3_stmt *s;
	int rc, ret, same_unit = 1;

	if ((ret = store__h(st, H_SERIES_FIND, &s, err)) < 0)
		return ret;
	sqlite3_bind_text(s, 1, smp->package, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, smp->target, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, smp->metric, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		const char *old = (const char *)sqlite3_column_text(s, 1);
		*id = sqlite3_column_int64(s, 0);
		same_unit = !*unit || (old && strcmp(old, unit) == 0);
	}
	store__done(s);
	if (rc == SQLITE_DONE) {
		if ((ret = store__h(st, H_SERIES_INSERT, &s, err)) < 0)
			return ret;
		sqlite3_bind_text(s, 1, smp->package, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, smp->target, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, smp->metric, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 4, unit, -1, SQLITE_STATIC);
		ret = store__step_done(st, s, err, "cannot create a history series");
		*id = sqlite3_last_insert_rowid(store__handle(st));
		return ret;
	}
	if (rc != SQLITE_ROW)
		return store__dberr(st, err, rc, "cannot look up the history of %s on %s", smp->package,
				    smp->target);
	if (same_unit)
		return 0;
	if ((ret = store__h(st, H_SERIES_UNIT, &s, err)) < 0)
		return ret;
	sqlite3_bind_int64(s, 1, *id);
	sqlite3_bind_text(s, 2, unit, -1, SQLITE_STATIC);
	return store__step_done(st, s, err, "cannot update a history series");
}

/* Merges `value` into bucket `slot` of resolution `r` of series `sid`, then trims when it opened one. */
static int store__point_add(struct store *st, int64_t sid, enum store__hres r, int64_t slot, double value,
			    int64_t time_ms, int keep, struct rp_error *err)
{
	sqlite3_stmt *s;
	int64_t n = 0;
	int ret;

	if ((ret = store__h(st, H_POINT_ADD, &s, err)) < 0)
		return ret;
	sqlite3_bind_int64(s, 1, sid);
	sqlite3_bind_text(s, 2, store__hres_names[r], -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, slot);
	sqlite3_bind_double(s, 4, value);
	sqlite3_bind_int64(s, 5, time_ms);
	ret = store__query_int64(st, s, &n, err, "cannot record a history point");
	if (ret < 0 || n != 1)
		return ret;
	if ((ret = store__h(st, H_POINT_TRIM, &s, err)) < 0)
		return ret;
	sqlite3_bind_int64(s, 1, sid);
	sqlite3_bind_text(s, 2, store__hres_names[r], -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 3, keep);
	return store__step_done(st, s, err, "cannot trim history points");
}

/* ---- the API ------------------------------------------------------------------- */

int store_history_record(struct store *st, const struct store_history_sample *samples, size_t n,
			 const struct store_history_limits *limits, struct rp_error *err)
{
	static const struct store_history_limits defaults = {STORE_HISTORY_DAILY, STORE_HISTORY_WEEKLY,
							     STORE_HISTORY_MONTHLY};
	const struct store_history_limits *lim = limits ? limits : &defaults;
	int keep[H__NRES] = {lim->daily, lim->weekly, lim->monthly};
	int64_t now;
	int ret = 0;

	if (lim->daily < 1 || lim->weekly < 1 || lim->monthly < 1)
		return rp_error_set(err, RP_EINVAL, "%s: history limits %d/%d/%d: each must be at least 1",
				    store_path(st), lim->daily, lim->weekly, lim->monthly);
	for (size_t i = 0; i < n; i++)
		if ((ret = store__check_sample(st, &samples[i], i, err)) < 0)
			return ret;
	if (n == 0)
		return 0;

	now = store__now_ms();
	ret = store__begin_write(st, err);
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < n && ret == 0; i++) {
		const struct store_history_sample *smp = &samples[i];
		int64_t t = smp->time_ms ? smp->time_ms : now;
		int64_t sid = 0;

		ret = store__series_id(st, smp, &sid, err);
		for (int r = 0; r < H__NRES && ret == 0; r++)
			ret = store__point_add(st, sid, (enum store__hres)r,
					       store__slot((enum store__hres)r, t), smp->value, t, keep[r],
					       err);
	}
	return store__end(st, ret, err);
}

/* Moves the points gathered for series `se` into its own memory. */
static int store__series_close(struct store *st, struct store_history_series *se,
			       const struct store_history_point *pts, size_t n, struct rp_error *err)
{
	se->points = store__alloc(&se->mem_, n * sizeof(*pts));
	if (!se->points)
		return store__nomem(st, err);
	memcpy(se->points, pts, n * sizeof(*pts));
	se->npoints = n;
	return 0;
}

/* Starts series `se` from the current row of H_GET: its strings go to se->mem_. */
static int store__series_open(struct store *st, sqlite3_stmt *s, struct store_history_series *se,
			      struct rp_error *err)
{
	const char **fields[4] = {&se->package, &se->target, &se->metric, &se->unit};

	/* The columns are NOT NULL, so every field is set. */
	for (int i = 0; i < 4; i++) {
		int ret = store__col_str(st, &se->mem_, s, i + 1, fields[i], err);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int store_history_get(struct store *st, const char *package, const char *target, const char *metric,
		      const char *resolution, struct store_history_series **out, size_t *nout,
		      struct rp_error *err)
{
	struct store_history_series *list = NULL;
	struct store_history_point *pts = NULL;
	size_t n = 0, cap = 0, npts = 0, ptcap = 0;
	int64_t cur = 0;
	sqlite3_stmt *s = NULL;
	int r, rc, ret;

	*out = NULL;
	*nout = 0;
	if (!package || !*package)
		return rp_error_set(err, RP_EINVAL, "%s: history: no package named", store_path(st));
	for (r = 0; r < H__NRES; r++)
		if (resolution && strcmp(resolution, store__hres_names[r]) == 0)
			break;
	if (r == H__NRES)
		return rp_error_set(err, RP_EINVAL,
				    "%s: history resolution '%.16s' is not day, week or month",
				    store_path(st), resolution ? resolution : "");

	ret = store__begin_read(st, err);
	if (ret < 0)
		return ret;
	if ((ret = store__h(st, H_GET, &s, err)) < 0)
		goto out;
	sqlite3_bind_text(s, 1, package, -1, SQLITE_STATIC);
	store__bind_opt(s, 2, target);
	store__bind_opt(s, 3, metric);
	sqlite3_bind_text(s, 4, store__hres_names[r], -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_history_point *p;
		int64_t sid = sqlite3_column_int64(s, 0);

		if (n == 0 || sid != cur) {
			if (n && (ret = store__series_close(st, &list[n - 1], pts, npts, err)) < 0)
				goto out;
			if (n == cap) {
				size_t ncap = cap ? cap * 2 : 8;
				struct store_history_series *grown = realloc(list, ncap * sizeof(*grown));
				if (!grown) {
					ret = store__nomem(st, err);
					goto out;
				}
				list = grown;
				cap = ncap;
			}
			memset(&list[n], 0, sizeof(list[n]));
			n++;
			npts = 0;
			cur = sid;
			if ((ret = store__series_open(st, s, &list[n - 1], err)) < 0)
				goto out;
		}
		if (npts == ptcap) {
			size_t ncap = ptcap ? ptcap * 2 : 64;
			struct store_history_point *grown = realloc(pts, ncap * sizeof(*grown));
			if (!grown) {
				ret = store__nomem(st, err);
				goto out;
			}
			pts = grown;
			ptcap = ncap;
		}
		p = &pts[npts++];
		p->start_ms = store__slot_start((enum store__hres)r, sqlite3_column_int64(s, 5));
		p->n = sqlite3_column_int64(s, 6);
		p->sum = sqlite3_column_double(s, 7);
		p->min = sqlite3_column_double(s, 8);
		p->max = sqlite3_column_double(s, 9);
		p->last_ms = sqlite3_column_int64(s, 10);
		p->avg = p->n > 0 ? p->sum / (double)p->n : 0;
	}
	if (rc != SQLITE_DONE) {
		ret = store__dberr(st, err, rc, "cannot read the history of %s", package);
		goto out;
	}
	if (n)
		ret = store__series_close(st, &list[n - 1], pts, npts, err);
out:
	store__done(s);
	ret = store__end(st, ret, err);
	free(pts);
	if (ret < 0) {
		store_history_series_free(list, n);
		return ret;
	}
	if (n == 0) {
		free(list);
		list = NULL;
	}
	*out = list;
	*nout = n;
	return 0;
}

void store_history_series_free(struct store_history_series *series, size_t n)
{
	for (size_t i = 0; series && i < n; i++)
		store__mem_free(&series[i].mem_);
	free(series);
}

int store_history_count(struct store *st, int64_t *series, int64_t *points, struct rp_error *err)
{
	sqlite3_stmt *s;
	int rc, ret;

	if ((ret = store__h(st, H_COUNT, &s, err)) < 0)
		return ret;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		if (series)
			*series = sqlite3_column_int64(s, 0);
		if (points)
			*points = sqlite3_column_int64(s, 1);
	} else {
		ret = store__dberr(st, err, rc, "cannot count history points");
	}
	store__done(s);
	return ret;
}
