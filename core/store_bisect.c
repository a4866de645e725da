/*
 * store_bisect.c — the bisections the scheduler runs on its own
 * (scheduler/autobisect.h): which ended runs were looked at for regressions
 * (runs.bisect_planned), one row per (run, package, target) being searched
 * (table bisects), its progress while its probes run and its conclusion.
 *
 * Why in the store: a search takes hours of probe runs; a restarted
 * scheduler must go on with it, never start it again nor plan a run twice.
 * Planning writes a run's bisections and marks the run in one transaction,
 * so a crash leaves either both or neither. A bisection is deleted with its
 * run; its probes are ordinary runs of kind bisect.
 *
 * Statements live in slots STORE__BISECT_SLOT.. of the store's cache
 * (store__stmt_ext); every use ends with store__done(). Each list has its
 * own statement rather than SQL assembled at run time.
 */
#include "store.h"
#include "store-internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "banned.h"

#define STORE__BISECT_LIST_DEFAULT 100

enum store__bid {
	B_UNPLANNED,
	B_RUN_MARK,
	B_INSERT,
	B_GET,
	B_DONE_OF,
	B_LIST_RUN,
	B_LIST_RUN_ACTIVE,
	B_LIST,
	B_LIST_ACTIVE,
	B_PROGRESS,
	B_FINISH,
	B__COUNT
};

_Static_assert(STORE__BISECT_SLOT + B__COUNT <= STORE__COVERAGE_SLOT,
	       "store_bisect.c needs more statement slots");

/* The columns store__read_bisect() reads, in its order. */
#define B_COLUMNS                                                                                            \
	"id, run_id, good_run_id, package, target, done, verdict, repository, culprit, parent, author,"      \
	" author_time, subject, summary, detail, excerpt, culprit_job, probes, rounds, created_ms,"          \
	" finished_ms, crash_id"

/* clang-format off */
static const char *const store__bsql[B__COUNT] = {
	/*
	 * The partial index runs_unplanned, whose terms (bisect_planned = 0 and
	 * the kinds) must stay word for word. Named: left to itself the planner
	 * takes runs_by_state for the states, which holds every ended run.
	 */
	[B_UNPLANNED] = "SELECT id FROM runs INDEXED BY runs_unplanned WHERE bisect_planned = 0"
			" AND kind IN ('nightly', 'pr') AND state IN ('done', 'cancelled') ORDER BY id LIMIT ?1",
	[B_RUN_MARK] = "UPDATE runs SET bisect_planned = 1 WHERE id = ?1",
	/* Not INSERT OR IGNORE: that would also swallow a CHECK violation. */
	[B_INSERT] = "INSERT INTO bisects (run_id, good_run_id, package, target, created_ms, crash_id)"
		     " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (run_id, package, target, crash_id) DO NOTHING",
	[B_GET] = "SELECT " B_COLUMNS " FROM bisects WHERE id = ?1",
	[B_DONE_OF] = "SELECT done FROM bisects WHERE id = ?1",
	/* The unique index (run_id, package, target) gives the order. */
	[B_LIST_RUN] = "SELECT " B_COLUMNS " FROM bisects WHERE run_id = ?1"
		       " ORDER BY package, target LIMIT ?2",
	[B_LIST_RUN_ACTIVE] = "SELECT " B_COLUMNS " FROM bisects WHERE run_id = ?1 AND done = 0"
			      " ORDER BY package, target LIMIT ?2",
	[B_LIST] = "SELECT " B_COLUMNS " FROM bisects WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
	/* The partial index bisects_active: only the few unfinished rows. */
	[B_LIST_ACTIVE] = "SELECT " B_COLUMNS " FROM bisects WHERE done = 0 AND id < ?1"
			  " ORDER BY id DESC LIMIT ?2",
	[B_PROGRESS] = "UPDATE bisects SET probes = ?2, rounds = ?3, detail = ?4 WHERE id = ?1 AND done = 0",
	[B_FINISH] = "UPDATE bisects SET done = 1, verdict = ?2, repository = ?3, culprit = ?4, parent = ?5,"
		     " author = ?6, author_time = ?7, subject = ?8, summary = ?9, detail = ?10, excerpt = ?11,"
		     " culprit_job = ?12, probes = ?13, rounds = ?14, finished_ms = ?15"
		     " WHERE id = ?1 AND done = 0",
};
/* clang-format on */

/* The verdicts the schema's CHECK allows, refused here with a readable error instead. */
static const char *const store__verdicts[] = {
    "culprit", "only-skipped", "flaky", "interaction", "unchanged", "not-reproduced", "error",
};

static int store__b(struct store *st, enum store__bid id, sqlite3_stmt **s, struct rp_error *err)
{
	*s = store__stmt_ext(st, STORE__BISECT_SLOT + (unsigned)id, store__bsql[id], err);
	return *s ? 0 : store__code(sqlite3_errcode(store__handle(st)));
}

static int store__verdict_ok(const char *v)
{
	for (size_t i = 0; v && i < sizeof(store__verdicts) / sizeof(store__verdicts[0]); i++)
		if (strcmp(v, store__verdicts[i]) == 0)
			return 1;
	return 0;
}

/* Fills *b (zeroed by the caller) from the current row of `s`, which selects B_COLUMNS. */
static int store__read_bisect(struct store *st, sqlite3_stmt *s, struct store_bisect *b, struct rp_error *err)
{
	int ret;
	b->id = sqlite3_column_int64(s, 0);
	b->run_id = sqlite3_column_int64(s, 1);
	b->good_run_id = sqlite3_column_int64(s, 2); /* NULL reads as 0 */
	b->done = sqlite3_column_int(s, 5);
	b->author_time = sqlite3_column_int64(s, 11);
	b->culprit_job = sqlite3_column_int64(s, 16);
	b->probes = sqlite3_column_int64(s, 17);
	b->rounds = sqlite3_column_int64(s, 18);
	b->created_ms = sqlite3_column_int64(s, 19);
	b->finished_ms = sqlite3_column_int64(s, 20);
	b->crash_id = sqlite3_column_int64(s, 21);
	if ((ret = store__col_str(st, &b->mem_, s, 3, &b->package, err)) < 0 ||
	    (ret = store__col_str(st, &b->mem_, s, 4, &b->target, err)) < 0 ||
	    (ret = store__col_str(st, &b->mem_, s, 6, &b->verdict, err)) < 0 ||
	    (ret = store__col_str(st, &b->mem_, s, 7, &b->repository, err)) < 0 ||
	    (ret = store__col_str(st, &b->mem_, s, 8, &b->culprit, err)) < 0 ||
	    (ret = store__col_str(st, &b->mem_, s, 9, &b->parent, err)) < 0 ||
	    (ret = store__col_str(st, &b->mem_, s, 10, &b->author, err)) < 0 ||
	    (ret = store__col_str(st, &b->mem_, s, 12, &b->subject, err)) < 0 ||
	    (ret = store__col_str(st, &b->mem_, s, 13, &b->summary, err)) < 0 ||
	    (ret = store__col_str(st, &b->mem_, s, 14, &b->detail, err)) < 0 ||
	    (ret = store__col_str(st, &b->mem_, s, 15, &b->excerpt, err)) < 0)
		return ret;
	return 0;
}

int store_bisect_unplanned_runs(struct store *st, int64_t *ids, size_t cap, size_t *n, struct rp_error *err)
{
	sqlite3_stmt *s;
	int rc = SQLITE_DONE, ret;
	*n = 0;
	if (cap == 0)
		return 0;
	if ((ret = store__b(st, B_UNPLANNED, &s, err)) < 0)
		return ret;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)cap);
	while (*n < cap && (rc = sqlite3_step(s)) == SQLITE_ROW)
		ids[(*n)++] = sqlite3_column_int64(s, 0);
	if (*n < cap && rc != SQLITE_DONE) {
		ret = store__dberr(st, err, rc, "cannot list the runs whose bisections are not planned");
		*n = 0;
	}
	store__done(s);
	return ret;
}

int store_bisect_plan(struct store *st, int64_t run_id, const struct store_bisect_spec *specs, size_t n,
		      int64_t now_ms, struct rp_error *err)
{
	sqlite3_stmt *s;
	int ret;
	if (n && !specs)
		return rp_error_set(err, RP_EINVAL, "%s: no bisections given for run %" PRId64,
				    store_path(st), run_id);
	for (size_t i = 0; i < n; i++)
		if (!specs[i].package || !*specs[i].package || !specs[i].target || !*specs[i].target)
			return rp_error_set(err, RP_EINVAL,
					    "%s: a bisection of run %" PRId64 " names its package and target",
					    store_path(st), run_id);
	if ((ret = store__begin_write(st, err)) < 0)
		return ret;
	/* The mark first: an unknown run is found before anything is written. */
	if ((ret = store__b(st, B_RUN_MARK, &s, err)) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, run_id);
	if ((ret = store__step_done(st, s, err, "cannot mark a run's bisections planned")) < 0)
		goto out;
	if (sqlite3_changes(store__handle(st)) == 0) {
		ret = rp_error_set(err, RP_ENOTFOUND, "%s: no run %" PRId64, store_path(st), run_id);
		goto out;
	}
	for (size_t i = 0; i < n && ret == 0; i++) {
		if ((ret = store__b(st, B_INSERT, &s, err)) < 0)
			break;
		sqlite3_bind_int64(s, 1, run_id);
		if (specs[i].good_run_id > 0)
			sqlite3_bind_int64(s, 2, specs[i].good_run_id);
		else
			sqlite3_bind_null(s, 2);
		sqlite3_bind_text(s, 3, specs[i].package, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 4, specs[i].target, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 5, now_ms ? now_ms : store__now_ms());
		sqlite3_bind_int64(s, 6, specs[i].crash_id);
		ret = store__step_done(st, s, err, "cannot record a bisection");
	}
out:
	return store__end(st, ret, err);
}

int store_bisect_get(struct store *st, int64_t id, struct store_bisect *b, struct rp_error *err)
{
	sqlite3_stmt *s;
	int ret;
	memset(b, 0, sizeof(*b));
	if ((ret = store__b(st, B_GET, &s, err)) < 0)
		return ret;
	sqlite3_bind_int64(s, 1, id);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		ret = store__read_bisect(st, s, b, err);
	else if (rc == SQLITE_DONE)
		ret = rp_error_set(err, RP_ENOTFOUND, "%s: no bisection %" PRId64, store_path(st), id);
	else
		ret = store__dberr(st, err, rc, "cannot read bisection %" PRId64, id);
	store__done(s);
	return ret;
}

void store_bisect_release(struct store_bisect *b)
{
	if (b)
		store__mem_free(&b->mem_);
}

int store_bisects_list(struct store *st, int64_t run_id, int active_only, int64_t before_id, size_t limit,
		       struct store_bisect **out, size_t *n, struct rp_error *err)
{
	enum store__bid id;
	sqlite3_stmt *s;
	int rc = SQLITE_DONE, ret;
	*out = NULL;
	*n = 0;
	if (limit == 0)
		limit = STORE__BISECT_LIST_DEFAULT;
	if (run_id > 0)
		id = active_only ? B_LIST_RUN_ACTIVE : B_LIST_RUN;
	else
		id = active_only ? B_LIST_ACTIVE : B_LIST;
	if ((ret = store__b(st, id, &s, err)) < 0)
		return ret;
	sqlite3_bind_int64(s, 1, run_id > 0 ? run_id : before_id > 0 ? before_id : INT64_MAX);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)limit);
	size_t cap = 0;
	struct store_bisect *list = NULL;
	while (*n < limit && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (*n == cap) {
			size_t ncap = cap ? 2 * cap : 8;
			struct store_bisect *grown = realloc(list, ncap * sizeof(*list));
			if (!grown) {
				ret = store__nomem(st, err);
				break;
			}
			list = grown;
			cap = ncap;
		}
		struct store_bisect *b = &list[*n];
		memset(b, 0, sizeof(*b));
		(*n)++;
		if ((ret = store__read_bisect(st, s, b, err)) < 0)
			break;
	}
	if (ret == 0 && *n < limit && rc != SQLITE_DONE)
		ret = store__dberr(st, err, rc, "cannot list bisections");
	store__done(s);
	if (ret < 0) {
		store_bisects_free(list, *n);
		*n = 0;
		return ret;
	}
	*out = list;
	return 0;
}

void store_bisects_free(struct store_bisect *b, size_t n)
{
	for (size_t i = 0; b && i < n; i++)
		store__mem_free(&b[i].mem_);
	free(b);
}

/*
 * After an update of bisection `id` that changed no row, inside the caller's
 * transaction: RP_ENOTFOUND when there is no such bisection, else its `done`
 * into *done.
 */
static int store__bisect_done_of(struct store *st, int64_t id, int *done, struct rp_error *err)
{
	sqlite3_stmt *s;
	int ret;
	*done = 0;
	if ((ret = store__b(st, B_DONE_OF, &s, err)) < 0)
		return ret;
	sqlite3_bind_int64(s, 1, id);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*done = sqlite3_column_int(s, 0);
	else if (rc == SQLITE_DONE)
		ret = rp_error_set(err, RP_ENOTFOUND, "%s: no bisection %" PRId64, store_path(st), id);
	else
		ret = store__dberr(st, err, rc, "cannot read bisection %" PRId64, id);
	store__done(s);
	return ret;
}

int store_bisect_progress(struct store *st, int64_t id, int64_t probes, int64_t rounds, const char *detail,
			  struct rp_error *err)
{
	sqlite3_stmt *s;
	int done, ret;
	if ((ret = store__begin_write(st, err)) < 0)
		return ret;
	if ((ret = store__b(st, B_PROGRESS, &s, err)) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, probes);
	sqlite3_bind_int64(s, 3, rounds);
	store__bind_opt(s, 4, detail);
	if ((ret = store__step_done(st, s, err, "cannot record a bisection's progress")) < 0)
		goto out;
	/* A finished one keeps its conclusion's counts: a late report of progress is no error. */
	if (sqlite3_changes(store__handle(st)) == 0)
		ret = store__bisect_done_of(st, id, &done, err);
out:
	return store__end(st, ret, err);
}

int store_bisect_finish(struct store *st, int64_t id, const struct store_bisect *r, int64_t now_ms,
			struct rp_error *err)
{
	sqlite3_stmt *s;
	int done, ret;
	if (!r || !store__verdict_ok(r->verdict))
		return rp_error_set(err, RP_EINVAL,
				    "%s: bisection %" PRId64 " ends with an unknown verdict '%s'",
				    store_path(st), id, r && r->verdict ? r->verdict : "(none)");
	if ((ret = store__begin_write(st, err)) < 0)
		return ret;
	if ((ret = store__b(st, B_FINISH, &s, err)) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, r->verdict, -1, SQLITE_STATIC);
	store__bind_opt(s, 3, r->repository);
	store__bind_opt(s, 4, r->culprit);
	store__bind_opt(s, 5, r->parent);
	store__bind_opt(s, 6, r->author);
	sqlite3_bind_int64(s, 7, r->author_time);
	store__bind_opt(s, 8, r->subject);
	store__bind_opt(s, 9, r->summary);
	store__bind_opt(s, 10, r->detail);
	store__bind_opt(s, 11, r->excerpt);
	if (r->culprit_job > 0)
		sqlite3_bind_int64(s, 12, r->culprit_job);
	else
		sqlite3_bind_null(s, 12);
	sqlite3_bind_int64(s, 13, r->probes);
	sqlite3_bind_int64(s, 14, r->rounds);
	sqlite3_bind_int64(s, 15, now_ms ? now_ms : store__now_ms());
	if ((ret = store__step_done(st, s, err, "cannot record a bisection's conclusion")) < 0)
		goto out;
	if (sqlite3_changes(store__handle(st)) == 0 && (ret = store__bisect_done_of(st, id, &done, err)) == 0)
		ret = rp_error_set(err, RP_ECONFLICT, "%s: bisection %" PRId64 " has already ended",
				   store_path(st), id);
out:
	return store__end(st, ret, err);
}
