/*
 * store_report.c — what the scheduler owes the outside world, kept in the
 * store until it is delivered: commit statuses and the PR comment of a pull
 * request's run (table reports_out), and the JSON webhooks a nightly fires
 * for the packages it newly broke (table notifications).
 *
 * Why in the store: a forge or a receiver may be down for hours; what was
 * promised must survive a restart of the scheduler and be sent once it is
 * back. A reports_out row is written in the transaction that creates its
 * run, so no run can exist whose report was forgotten. The delivering side
 * (scheduler/notify.c) asks for what is due, sends it outside any lock, and
 * records the outcome.
 *
 * Statements live in slots STORE__REPORT_SLOT.. of the store's cache.
 */
#include "store.h"
#include "store-internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "banned.h"

enum store__rid {
	R_ADD,
	R_DUE,
	R_SENT,
	R_RETRY,
	R_REOPEN,
	R_COMMENT_GET,
	R_COMMENT_PUT,
	R_NOTIFY_ADD,
	R_NOTIFY_DUE,
	R_NOTIFY_DONE,
	R_NOTIFY_RETRY,
	R_PENDING_COUNT,
	R_DROP_ADD,
	R_DROPS,
	R_OLD_LOGS,
	R_LOGS_DELETE,
	R_LOGS_MARK,
	R_OLD_RUNS,
	R_RUN_DELETE,
	R__COUNT
};

_Static_assert(STORE__REPORT_SLOT + R__COUNT <= STORE__HISTORY_SLOT, "store_report.c needs more statement slots");

/* clang-format off */
static const char *const store__rsql[R__COUNT] = {
	[R_ADD] = "INSERT OR IGNORE INTO reports_out (run_id, forge, repo, number, head, created_ms)"
		  " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	/* Index reports_out_due: only rows still owed. A row whose pending status
	 * was sent waits, without being read, until its run ends. */
	[R_DUE] = "SELECT o.run_id, o.forge, o.repo, o.number, o.head, o.sent, o.attempts, r.state, r.kind,"
		  " r.change_ref FROM reports_out o JOIN runs r ON r.id = o.run_id"
		  " WHERE o.done = 0 AND o.next_ms <= ?1 AND (o.sent IS NULL OR r.state IN ('done', 'cancelled'))"
		  " ORDER BY o.next_ms, o.run_id LIMIT ?2",
	[R_SENT] = "UPDATE reports_out SET sent = ?2, done = ?3, attempts = 0, next_ms = 0, last_error = NULL"
		   " WHERE run_id = ?1",
	[R_RETRY] = "UPDATE reports_out SET attempts = attempts + 1, next_ms = ?2, last_error = ?3, done = ?4"
		    " WHERE run_id = ?1",
	/*
	 * `sent` stays what went out last: for a forge row the delivery decides
	 * from the run's state alone, so an ended run's row sends its final
	 * status and edits its comment again.
	 */
	/* A later run of the same pull request has the newer report: this one's must not overwrite it. */
	[R_REOPEN] = "UPDATE reports_out SET done = 0, attempts = 0, next_ms = 0, last_error = NULL"
		     " WHERE run_id = ?1 AND forge IS NOT NULL AND NOT EXISTS (SELECT 1 FROM runs a JOIN runs b"
		     " ON b.change_ref = a.change_ref AND b.id > a.id WHERE a.id = ?1)",
	[R_COMMENT_GET] = "SELECT comment_id FROM pr_comments WHERE change_ref = ?1",
	[R_COMMENT_PUT] = "INSERT INTO pr_comments (change_ref, comment_id) VALUES (?1, ?2)"
			  " ON CONFLICT (change_ref) DO UPDATE SET comment_id = excluded.comment_id",
	[R_NOTIFY_ADD] = "INSERT OR IGNORE INTO notifications (run_id, package, url, payload, delivery, created_ms)"
			 " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[R_NOTIFY_DUE] = "SELECT id, url, payload, delivery, attempts, created_ms, package FROM notifications"
			 " WHERE done = 0 AND next_ms <= ?1 ORDER BY next_ms, id LIMIT ?2",
	[R_NOTIFY_DONE] = "UPDATE notifications SET done = ?2, last_error = ?3, sent_ms = ?4 WHERE id = ?1",
	[R_NOTIFY_RETRY] = "UPDATE notifications SET attempts = attempts + 1, next_ms = ?2, last_error = ?3 WHERE id = ?1",
	[R_PENDING_COUNT] = "SELECT (SELECT count(*) FROM reports_out WHERE done = 0),"
			    " (SELECT count(*) FROM notifications WHERE done = 0)",
	[R_DROP_ADD] = "INSERT OR REPLACE INTO metric_drops (run_id, job_id, package, target, metric, unit, value,"
		       " baseline, change) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	[R_DROPS] = "SELECT job_id, package, target, metric, unit, value, baseline, change FROM metric_drops"
		    " WHERE run_id = ?1 ORDER BY package, target, metric",
	/* Index runs_finished: the oldest finished runs first. */
	[R_OLD_LOGS] = "SELECT id FROM runs WHERE finished_ms IS NOT NULL AND finished_ms < ?1 AND logs_deleted_ms IS NULL"
		       " ORDER BY finished_ms LIMIT ?2",
	[R_LOGS_DELETE] = "DELETE FROM log_chunks WHERE job_id IN (SELECT id FROM jobs WHERE run_id = ?1)",
	[R_LOGS_MARK] = "UPDATE runs SET logs_deleted_ms = ?2 WHERE id = ?1",
	/* The latest done nightly is every pull request's baseline: it stays whatever its age. */
	[R_OLD_RUNS] = "SELECT id FROM runs WHERE finished_ms IS NOT NULL AND finished_ms < ?1 AND id IS NOT"
		       " (SELECT max(id) FROM runs WHERE kind = 'nightly' AND state = 'done')"
		       " ORDER BY finished_ms LIMIT ?2",
	[R_RUN_DELETE] = "DELETE FROM runs WHERE id = ?1",
};
/* clang-format on */

static int store__r(struct store *st, enum store__rid id, sqlite3_stmt **s, struct rp_error *err)
{
	*s = store__stmt_ext(st, STORE__REPORT_SLOT + (unsigned)id, store__rsql[id], err);
	return *s ? 0 : store__code(sqlite3_errcode(store__handle(st)));
}

int store_report_add(struct store *st, const struct store_report_spec *spec, struct rp_error *err)
{
	sqlite3_stmt *s;
	int ret;
	if (!spec || spec->run_id <= 0 || (spec->forge && (!spec->repo || !*spec->repo || spec->number <= 0 ||
							   !spec->head || !*spec->head)))
		return rp_error_set(err, RP_EINVAL, "%s: a forge report names its repository, PR number and head",
				    store_path(st));
	if ((ret = store__begin_write(st, err)) < 0)
		return ret;
	if ((ret = store__r(st, R_ADD, &s, err)) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, spec->run_id);
	store__bind_opt(s, 2, spec->forge);
	store__bind_opt(s, 3, spec->repo);
	if (spec->forge)
		sqlite3_bind_int64(s, 4, spec->number);
	else
		sqlite3_bind_null(s, 4);
	store__bind_opt(s, 5, spec->head);
	sqlite3_bind_int64(s, 6, spec->created_ms ? spec->created_ms : store__now_ms());
	ret = store__step_done(st, s, err, "cannot record the report a run owes");
out:
	return store__end(st, ret, err);
}

static int store__state_of(const unsigned char *s)
{
	const char *name;
	for (int i = 0; s && (name = store_run_state_name((enum store_run_state)i)); i++)
		if (strcmp(name, (const char *)s) == 0)
			return i;
	return -1;
}

static int store__kind_of(const unsigned char *s)
{
	const char *name;
	for (int i = 0; s && (name = store_run_kind_name((enum store_run_kind)i)); i++)
		if (strcmp(name, (const char *)s) == 0)
			return i;
	return -1;
}

int store_reports_due(struct store *st, int64_t now_ms, size_t max, struct store_report **out, size_t *n,
		      struct rp_error *err)
{
	sqlite3_stmt *s;
	int rc, ret;
	*out = NULL;
	*n = 0;
	if (max == 0)
		return 0;
	struct store_report *list = calloc(max, sizeof(*list));
	if (!list)
		return store__nomem(st, err);
	if ((ret = store__r(st, R_DUE, &s, err)) < 0) {
		free(list);
		return ret;
	}
	sqlite3_bind_int64(s, 1, now_ms);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)max);
	while (*n < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_report *r = &list[*n];
		r->run_id = sqlite3_column_int64(s, 0);
		r->number = sqlite3_column_int64(s, 3);
		r->attempts = sqlite3_column_int(s, 6);
		r->run_state = store__state_of(sqlite3_column_text(s, 7));
		r->run_kind = store__kind_of(sqlite3_column_text(s, 8));
		(*n)++;
		if ((ret = store__col_str(st, &r->mem_, s, 1, &r->forge, err)) < 0 ||
		    (ret = store__col_str(st, &r->mem_, s, 2, &r->repo, err)) < 0 ||
		    (ret = store__col_str(st, &r->mem_, s, 4, &r->head, err)) < 0 ||
		    (ret = store__col_str(st, &r->mem_, s, 5, &r->sent, err)) < 0 ||
		    (ret = store__col_str(st, &r->mem_, s, 9, &r->change_ref, err)) < 0)
			break;
	}
	if (ret == 0 && *n < max && rc != SQLITE_DONE)
		ret = store__dberr(st, err, rc, "cannot list the reports due");
	store__done(s);
	if (ret < 0) {
		store_reports_free(list, *n);
		*n = 0;
		return ret;
	}
	*out = list;
	return 0;
}

void store_reports_free(struct store_report *r, size_t n)
{
	for (size_t i = 0; r && i < n; i++)
		store__mem_free(&r[i].mem_);
	free(r);
}

int store_report_sent(struct store *st, int64_t run_id, const char *sent, int done, struct rp_error *err)
{
	sqlite3_stmt *s;
	int ret;
	if ((ret = store__begin_write(st, err)) < 0)
		return ret;
	if ((ret = store__r(st, R_SENT, &s, err)) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, run_id);
	sqlite3_bind_text(s, 2, sent, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 3, done ? 1 : 0);
	ret = store__step_done(st, s, err, "cannot record a delivered report");
out:
	return store__end(st, ret, err);
}

int store_report_retry(struct store *st, int64_t run_id, int64_t next_ms, const char *why, int give_up,
		       struct rp_error *err)
{
	sqlite3_stmt *s;
	int ret;
	if ((ret = store__begin_write(st, err)) < 0)
		return ret;
	if ((ret = store__r(st, R_RETRY, &s, err)) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, run_id);
	sqlite3_bind_int64(s, 2, next_ms);
	store__bind_opt(s, 3, why);
	sqlite3_bind_int(s, 4, give_up ? 1 : 0);
	ret = store__step_done(st, s, err, "cannot record a report's failed delivery");
out:
	return store__end(st, ret, err);
}

int store_report_reopen(struct store *st, int64_t run_id, struct rp_error *err)
{
	sqlite3_stmt *s;
	int ret;
	if ((ret = store__begin_write(st, err)) < 0)
		return ret;
	if ((ret = store__r(st, R_REOPEN, &s, err)) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, run_id);
	ret = store__step_done(st, s, err, "cannot reopen the report of a run");
out:
	return store__end(st, ret, err);
}

int store_pr_comment_get(struct store *st, const char *change_ref, int64_t *comment_id, struct rp_error *err)
{
	sqlite3_stmt *s;
	int ret;
	*comment_id = 0;
	if ((ret = store__r(st, R_COMMENT_GET, &s, err)) < 0)
		return ret;
	sqlite3_bind_text(s, 1, change_ref, -1, SQLITE_STATIC);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*comment_id = sqlite3_column_int64(s, 0);
	else if (rc != SQLITE_DONE)
		ret = store__dberr(st, err, rc, "cannot read the comment of %s", change_ref);
	store__done(s);
	return ret;
}

int store_pr_comment_put(struct store *st, const char *change_ref, int64_t comment_id, struct rp_error *err)
{
	sqlite3_stmt *s;
	int ret;
	if (!change_ref || comment_id <= 0)
		return rp_error_set(err, RP_EINVAL, "%s: a PR comment needs its change_ref and a positive id",
				    store_path(st));
	if ((ret = store__begin_write(st, err)) < 0)
		return ret;
	if ((ret = store__r(st, R_COMMENT_PUT, &s, err)) < 0)
		goto out;
	sqlite3_bind_text(s, 1, change_ref, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, comment_id);
	ret = store__step_done(st, s, err, "cannot record the comment of a PR");
out:
	return store__end(st, ret, err);
}

int store_notification_add(struct store *st, const struct store_notification *nt, struct rp_error *err)
{
	sqlite3_stmt *s;
	int ret;
	if (!nt || nt->run_id <= 0 || !nt->package || !nt->url || !nt->payload || !nt->delivery)
		return rp_error_set(err, RP_EINVAL, "%s: a notification needs its run, package, url, payload and id",
				    store_path(st));
	if ((ret = store__begin_write(st, err)) < 0)
		return ret;
	if ((ret = store__r(st, R_NOTIFY_ADD, &s, err)) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, nt->run_id);
	sqlite3_bind_text(s, 2, nt->package, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, nt->url, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, nt->payload, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, nt->delivery, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 6, nt->created_ms ? nt->created_ms : store__now_ms());
	ret = store__step_done(st, s, err, "cannot record a notification");
out:
	return store__end(st, ret, err);
}

int store_notifications_due(struct store *st, int64_t now_ms, size_t max, struct store_notification **out,
			    size_t *n, struct rp_error *err)
{
	sqlite3_stmt *s;
	int rc, ret;
	*out = NULL;
	*n = 0;
	if (max == 0)
		return 0;
	struct store_notification *list = calloc(max, sizeof(*list));
	if (!list)
		return store__nomem(st, err);
	if ((ret = store__r(st, R_NOTIFY_DUE, &s, err)) < 0) {
		free(list);
		return ret;
	}
	sqlite3_bind_int64(s, 1, now_ms);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)max);
	while (*n < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_notification *nt = &list[*n];
		nt->id = sqlite3_column_int64(s, 0);
		nt->attempts = sqlite3_column_int(s, 4);
		nt->created_ms = sqlite3_column_int64(s, 5);
		(*n)++;
		if ((ret = store__col_str(st, &nt->mem_, s, 1, &nt->url, err)) < 0 ||
		    (ret = store__col_str(st, &nt->mem_, s, 2, &nt->payload, err)) < 0 ||
		    (ret = store__col_str(st, &nt->mem_, s, 3, &nt->delivery, err)) < 0 ||
		    (ret = store__col_str(st, &nt->mem_, s, 6, &nt->package, err)) < 0)
			break;
	}
	if (ret == 0 && *n < max && rc != SQLITE_DONE)
		ret = store__dberr(st, err, rc, "cannot list the notifications due");
	store__done(s);
	if (ret < 0) {
		store_notifications_free(list, *n);
		*n = 0;
		return ret;
	}
	*out = list;
	return 0;
}

void store_notifications_free(struct store_notification *nt, size_t n)
{
	for (size_t i = 0; nt && i < n; i++)
		store__mem_free(&nt[i].mem_);
	free(nt);
}

int store_notification_done(struct store *st, int64_t id, int delivered, const char *why, struct rp_error *err)
{
	sqlite3_stmt *s;
	int ret;
	if ((ret = store__begin_write(st, err)) < 0)
		return ret;
	if ((ret = store__r(st, R_NOTIFY_DONE, &s, err)) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int(s, 2, delivered ? 1 : 2);
	store__bind_opt(s, 3, why);
	sqlite3_bind_int64(s, 4, store__now_ms());
	ret = store__step_done(st, s, err, "cannot record a delivered notification");
out:
	return store__end(st, ret, err);
}

int store_notification_retry(struct store *st, int64_t id, int64_t next_ms, const char *why, struct rp_error *err)
{
	sqlite3_stmt *s;
	int ret;
	if ((ret = store__begin_write(st, err)) < 0)
		return ret;
	if ((ret = store__r(st, R_NOTIFY_RETRY, &s, err)) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, next_ms);
	store__bind_opt(s, 3, why);
	ret = store__step_done(st, s, err, "cannot record a notification's failed delivery");
out:
	return store__end(st, ret, err);
}

int store_outbox_pending(struct store *st, int64_t *reports, int64_t *notifications, struct rp_error *err)
{
	sqlite3_stmt *s;
	int ret;
	*reports = *notifications = 0;
	if ((ret = store__r(st, R_PENDING_COUNT, &s, err)) < 0)
		return ret;
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*reports = sqlite3_column_int64(s, 0);
		*notifications = sqlite3_column_int64(s, 1);
	} else
		ret = store__dberr(st, err, rc, "cannot count what is still owed");
	store__done(s);
	return ret;
}

int store_metric_drop_add(struct store *st, const struct store_metric_drop *d, struct rp_error *err)
{
	sqlite3_stmt *s;
	int ret;
	if (!d || d->run_id <= 0 || d->job_id <= 0 || !d->package || !d->target || !d->metric)
		return rp_error_set(err, RP_EINVAL, "%s: a metric drop names its run, job, package, target and metric",
				    store_path(st));
	if ((ret = store__begin_write(st, err)) < 0)
		return ret;
	if ((ret = store__r(st, R_DROP_ADD, &s, err)) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, d->run_id);
	sqlite3_bind_int64(s, 2, d->job_id);
	sqlite3_bind_text(s, 3, d->package, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, d->target, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, d->metric, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 6, d->unit ? d->unit : "", -1, SQLITE_STATIC);
	sqlite3_bind_double(s, 7, d->value);
	sqlite3_bind_double(s, 8, d->baseline);
	sqlite3_bind_double(s, 9, d->change);
	ret = store__step_done(st, s, err, "cannot record a metric drop");
out:
	return store__end(st, ret, err);
}

int store_metric_drops(struct store *st, int64_t run_id, struct store_metric_drop **out, size_t *n,
		       struct rp_error *err)
{
	sqlite3_stmt *s;
	size_t cap = 0;
	int rc, ret;
	*out = NULL;
	*n = 0;
	if ((ret = store__r(st, R_DROPS, &s, err)) < 0)
		return ret;
	sqlite3_bind_int64(s, 1, run_id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (*n == cap) {
			size_t ncap = cap ? 2 * cap : 8;
			struct store_metric_drop *grown = realloc(*out, ncap * sizeof(**out));
			if (!grown) {
				ret = store__nomem(st, err);
				break;
			}
			*out = grown;
			cap = ncap;
		}
		struct store_metric_drop *d = &(*out)[*n];
		memset(d, 0, sizeof(*d));
		(*n)++;
		d->run_id = run_id;
		d->job_id = sqlite3_column_int64(s, 0);
		d->value = sqlite3_column_double(s, 5);
		d->baseline = sqlite3_column_double(s, 6);
		d->change = sqlite3_column_double(s, 7);
		if ((ret = store__col_str(st, &d->mem_, s, 1, &d->package, err)) < 0 ||
		    (ret = store__col_str(st, &d->mem_, s, 2, &d->target, err)) < 0 ||
		    (ret = store__col_str(st, &d->mem_, s, 3, &d->metric, err)) < 0 ||
		    (ret = store__col_str(st, &d->mem_, s, 4, &d->unit, err)) < 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = store__dberr(st, err, rc, "cannot list the metric drops of run %" PRId64, run_id);
	store__done(s);
	if (ret < 0) {
		store_metric_drops_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return ret;
}

void store_metric_drops_free(struct store_metric_drop *d, size_t n)
{
	for (size_t i = 0; d && i < n; i++)
		store__mem_free(&d[i].mem_);
	free(d);
}

/* ---- retention ---------------------------------------------------------------- */

/* Up to `max` ids of statement `id` (bound to `before` and `max`) into ids[]. */
static int store__old_runs(struct store *st, enum store__rid id, int64_t before, size_t max, int64_t *ids,
			   size_t *n, struct rp_error *err)
{
	sqlite3_stmt *s;
	int rc, ret;
	*n = 0;
	if ((ret = store__r(st, id, &s, err)) < 0)
		return ret;
	sqlite3_bind_int64(s, 1, before);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)max);
	while (*n < max && (rc = sqlite3_step(s)) == SQLITE_ROW)
		ids[(*n)++] = sqlite3_column_int64(s, 0);
	if (*n < max && rc != SQLITE_DONE)
		ret = store__dberr(st, err, rc, "cannot find old runs");
	store__done(s);
	return ret;
}

int store_retention(struct store *st, int64_t now_ms, int64_t logs_before_ms, int64_t runs_before_ms, size_t max_runs,
		    size_t *logs_deleted, size_t *runs_deleted, struct rp_error *err)
{
	int64_t ids[64];
	size_t n = 0;
	int ret;
	*logs_deleted = *runs_deleted = 0;
	if (max_runs > sizeof(ids) / sizeof(ids[0]))
		max_runs = sizeof(ids) / sizeof(ids[0]);
	if ((ret = store__begin_write(st, err)) < 0)
		return ret;
	if (runs_before_ms > 0 && (ret = store__old_runs(st, R_OLD_RUNS, runs_before_ms, max_runs, ids, &n, err)) == 0)
		for (size_t i = 0; i < n && ret == 0; i++) {
			sqlite3_stmt *s;
			if ((ret = store__r(st, R_RUN_DELETE, &s, err)) < 0)
				break;
			sqlite3_bind_int64(s, 1, ids[i]);
			if ((ret = store__step_done(st, s, err, "cannot delete an old run")) == 0)
				(*runs_deleted)++;
		}
	if (ret == 0 && logs_before_ms > 0 &&
	    (ret = store__old_runs(st, R_OLD_LOGS, logs_before_ms, max_runs, ids, &n, err)) == 0)
		for (size_t i = 0; i < n && ret == 0; i++) {
			sqlite3_stmt *s;
			if ((ret = store__r(st, R_LOGS_DELETE, &s, err)) < 0)
				break;
			sqlite3_bind_int64(s, 1, ids[i]);
			if ((ret = store__step_done(st, s, err, "cannot delete old logs")) < 0 ||
			    (ret = store__r(st, R_LOGS_MARK, &s, err)) < 0)
				break;
			sqlite3_bind_int64(s, 1, ids[i]);
			sqlite3_bind_int64(s, 2, now_ms ? now_ms : store__now_ms());
			if ((ret = store__step_done(st, s, err, "cannot mark old logs deleted")) == 0)
				(*logs_deleted)++;
		}
	return store__end(st, ret, err);
}
