/*
 * store_queue.c — the queue, leases and workers of store.h.
 *
 * The job life cycle is beanstalkd's: explicit states in the jobs row
 * (queued → leased → done | cancelled, and back to queued when an attempt
 * ends in an infrastructure error or its lease expires), every change one
 * BEGIN IMMEDIATE transaction, and one sweep (store_leases_expire) for the
 * leases nobody renewed. Invariants the functions below keep, and rely on:
 *
 * - A job is ended (state done or cancelled) exactly once, and only then
 *   are its dependents' deps_left decremented, so deps_left always counts
 *   the unfinished dependencies.
 * - A job's priority is its run's: store_run_create copies it and nothing
 *   changes it. The lease therefore walks the active runs by priority and
 *   probes each for a ready job (index jobs_ready), instead of ordering every
 *   ready job of the farm.
 * - A queued job never belongs to a cancelled run and never has
 *   cancel_requested: store_run_cancel ends every queued job of the run, and
 *   an attempt of a cancelled run is never queued again.
 * - Every lease call checks worker and fence in the same statement or
 *   transaction that writes, so a stale lease writes nothing.
 *
 * Statements are prepared once per connection (SQLITE_PREPARE_PERSISTENT) in
 * slots of the store's cache (store__stmt_ext); every use ends with
 * store__done() so no statement keeps a snapshot open.
 */
#include "store.h"
#include "store-internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "banned.h"

enum store__qid {
	Q_FIND_REQUEST,
	Q_JOB_GET,
	Q_JOB_DEPS,
	Q_JOB_STATE,
	Q_UNKEYED,
	Q_SET_KEY,
	Q_FINISH_READ,
	Q_RESULT_FIND,
	Q_RESULT_INSERT,
	Q_JOB_REQUEUE,
	Q_JOB_END,
	Q_RELEASE_DEPENDENTS,
	Q_QUEUED_DEPENDENTS,
	Q_RUN_UNFINISHED,
	Q_RUN_FINISH,
	Q_ACTIVE_RUNS,
	Q_READY_PROBE,
	Q_AFFINITY,
	Q_SAME_KEY_QUEUED,
	Q_JOB_CLOSURE,
	Q_BUILD_EXISTS,
	Q_LATEST_RUN,
	Q_ARTIFACT_REPLACE,
	Q_LEASED_BY_UNIVERSE,
	Q_LEASE_TAKE,
	Q_RUN_START,
	Q_HEARTBEAT,
	Q_EXPIRED,
	Q_RUN_STATE,
	Q_CANCEL_RESULTS,
	Q_CANCEL_QUEUED,
	Q_CANCEL_DEPS_LEFT,
	Q_CANCEL_LEASED,
	Q_RUN_CANCEL,
	Q_RUNS_BY_REF,
	Q_RUNS_LIST,
	Q_RUN_COUNTS,
	Q_WORKER_UPSERT,
	Q_WORKER_SEEN,
	Q_WORKERS_LIST,
	Q_STATS_STATES,
	Q_STATS_PRIORITIES,
	Q_STATS_EXPIRIES,
	Q_RERUN_INSERT,
	Q_RERUN_EDGES,
	Q_RUN_REOPEN,
	Q_JOB_FIND,
	Q_JOB_FIND_REPLAY,
	Q_FLAKINESS,
	Q_JOB_BUILT,
	Q__COUNT
};

_Static_assert(Q__COUNT <= STORE__REPORT_SLOT, "store_queue.c needs more statement slots");

/* The states that hold a lease; the CHECK of jobs ties lease_owner and lease_expires_ms to them. */
#define Q_LEASED_STATES "('leased', 'running')"
/*
 * A key is built once: a job whose build key another job is building waits
 * (and is answered from the cache when that one ends; see
 * store_jobs_waiting_for_key). Flake checks run the key again on purpose,
 * and so do fuzz jobs: each fuzzes, or replays its crash, for itself.
 * One seek in jobs_by_key per candidate.
 */
#define Q_KEY_NOT_IN_FLIGHT                                                                                   \
	"(rerun_of IS NOT NULL OR variant = 'fuzz' OR NOT EXISTS (SELECT 1 FROM jobs f WHERE f.build_key = jobs.build_key"         \
	" AND f.state IN ('leased', 'running') AND f.rerun_of IS NULL))"
#define Q_UNFINISHED_STATES "('queued', 'leased', 'running')"

/* clang-format off */
static const char *const store__qsql[Q__COUNT] = {
	[Q_FIND_REQUEST] = "SELECT id FROM runs WHERE request_id = ?1",
	[Q_JOB_GET] = "SELECT " STORE__JOB_COLUMNS " FROM jobs WHERE id = ?1",
	[Q_JOB_DEPS] = "SELECT dep_id FROM job_edges WHERE job_id = ?1 ORDER BY dep_id",
	[Q_JOB_STATE] = "SELECT state, fence, lease_owner FROM jobs WHERE id = ?1",
	/* Index jobs_unkeyed: (state, deps_left, id) over the jobs without a key. */
	[Q_UNKEYED] = "SELECT id FROM jobs WHERE state = 'queued' AND deps_left = 0 AND build_key IS NULL"
		      " ORDER BY id LIMIT ?1",
	[Q_SET_KEY] = "UPDATE jobs SET build_key = ?2 WHERE id = ?1 AND state = 'queued' AND build_key IS NULL",
	[Q_FINISH_READ] = "SELECT j.state, j.attempt, j.lease_owner, j.fence, j.run_id, j.build_key, j.package,"
			  " j.target, j.commit_id, j.cancel_requested, r.state, j.variant"
			  " FROM jobs j JOIN runs r ON r.id = j.run_id WHERE j.id = ?1",
	/* A fence is given once per job, so (job, fence) names one attempt. */
	[Q_RESULT_FIND] = "SELECT attempt, status, category, first_error, duration_ms, failed_step, output_hash"
			  " FROM results WHERE job_id = ?1 AND fence = ?2 AND worker = ?3 AND lease_expired = 0",
	[Q_RESULT_INSERT] = "INSERT INTO results (job_id, attempt, status, category, first_error, duration_ms,"
			    " worker, fence, created_ms, failed_step, output_hash, lease_expired)"
			    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
	[Q_JOB_REQUEUE] = "UPDATE jobs SET state = 'queued', attempt = attempt + 1, lease_owner = NULL,"
			  " lease_expires_ms = NULL, started_ms = NULL WHERE id = ?1",
	[Q_JOB_END] = "UPDATE jobs SET state = ?2, status = ?3, cached = ?4, output_hash = ?5, failed_step = ?6,"
		      " category = ?7, first_error = ?8, worker = ?9, duration_ms = ?10, cause_id = ?11,"
		      " finished_ms = ?12, lease_owner = NULL, lease_expires_ms = NULL, build_ms = ?13, test_ms = ?14,"
		      " failed_test = ?15 WHERE id = ?1",
	/* Index job_edges_by_dep, then the jobs' primary key. */
	[Q_RELEASE_DEPENDENTS] = "UPDATE jobs SET deps_left = deps_left - 1"
				 " WHERE id IN (SELECT job_id FROM job_edges WHERE dep_id = ?1)",
	[Q_QUEUED_DEPENDENTS] = "SELECT j.id, j.attempt FROM job_edges e JOIN jobs j ON j.id = e.job_id"
				" WHERE e.dep_id = ?1 AND j.state = 'queued' ORDER BY j.id",
	/* Index jobs_by_run_state: one seek per state. */
	[Q_RUN_UNFINISHED] = "SELECT 1 FROM jobs WHERE run_id = ?1 AND state IN " Q_UNFINISHED_STATES " LIMIT 1",
	[Q_RUN_FINISH] = "UPDATE runs SET state = CASE state WHEN 'cancelled' THEN 'cancelled' ELSE 'done' END,"
			 " finished_ms = ?2 WHERE id = ?1 AND finished_ms IS NULL",
	/* Index runs_by_state; only the unfinished runs, a few dozen. */
	[Q_ACTIVE_RUNS] = "SELECT id, universe_id, priority FROM runs WHERE state IN ('queued', 'running')"
			  " ORDER BY priority DESC, id",
	/* The partial index jobs_ready: these WHERE terms must match its own word for word. */
	[Q_READY_PROBE] = "SELECT id FROM jobs WHERE run_id = ?1 AND target = ?2 AND state = 'queued'"
			  " AND deps_left = 0 AND build_key IS NOT NULL AND cancel_requested = 0"
			  " AND " Q_KEY_NOT_IN_FLIGHT " ORDER BY id LIMIT 1",
	/*
	 * Cache affinity among the first ready jobs of a run on a target: a job
	 * scores one per dependency whose build this worker made (it holds the
	 * artifact) and one when it built the same package before (it holds the
	 * mirror). The inner query is the jobs_ready probe's; the EXISTS is one
	 * seek in jobs_by_worker.
	 */
	[Q_AFFINITY] = "SELECT c.id, (SELECT count(*) FROM job_edges e JOIN jobs d ON d.id = e.dep_id"
		       " WHERE e.job_id = c.id AND d.worker = ?3)"
		       " + EXISTS (SELECT 1 FROM jobs p WHERE p.worker = ?3 AND p.package = c.package"
		       " AND p.target = ?2) AS score"
		       " FROM (SELECT id, package FROM jobs WHERE run_id = ?1 AND target = ?2 AND state = 'queued'"
		       " AND deps_left = 0 AND build_key IS NOT NULL AND cancel_requested = 0"
		       " AND " Q_KEY_NOT_IN_FLIGHT " ORDER BY id LIMIT 4) c ORDER BY score DESC, c.id LIMIT 1",
	[Q_SAME_KEY_QUEUED] = "SELECT id FROM jobs WHERE build_key = ?1 AND state = 'queued' AND rerun_of IS NULL"
			      " ORDER BY id LIMIT ?2",
	/*
	 * Index jobs_by_lease: only leased and running jobs have an expiry (the
	 * CHECK of jobs), so this walks those only (at most the farm's slots).
	 */
	[Q_LEASED_BY_UNIVERSE] = "SELECT r.universe_id, count(*) FROM jobs j JOIN runs r ON r.id = j.run_id"
				 " WHERE j.lease_expires_ms IS NOT NULL GROUP BY r.universe_id",
	[Q_LEASE_TAKE] = "UPDATE jobs SET state = 'leased', lease_owner = ?2, lease_expires_ms = ?3,"
			 " fence = fence + 1, started_ms = ?4 WHERE id = ?1 AND state = 'queued'",
	[Q_RUN_START] = "UPDATE runs SET state = 'running' WHERE id = ?1 AND state = 'queued'",
	[Q_HEARTBEAT] = "UPDATE jobs SET lease_expires_ms = ?4 WHERE id = ?1 AND state IN " Q_LEASED_STATES
			" AND lease_owner = ?2 AND fence = ?3 RETURNING cancel_requested",
	/* Index jobs_by_lease (partial: only leased jobs have an expiry). */
	[Q_EXPIRED] = "SELECT id, lease_owner, fence FROM jobs WHERE lease_expires_ms < ?1"
		      " ORDER BY lease_expires_ms, id",
	[Q_RUN_STATE] = "SELECT state FROM runs WHERE id = ?1",
	[Q_CANCEL_RESULTS] = "INSERT INTO results (job_id, attempt, status, created_ms)"
			     " SELECT id, attempt, 'cancelled', ?2 FROM jobs WHERE run_id = ?1 AND state = 'queued'",
	[Q_CANCEL_QUEUED] = "UPDATE jobs SET state = 'cancelled', status = 'cancelled', finished_ms = ?2"
			    " WHERE run_id = ?1 AND state = 'queued'",
	/* The jobs just cancelled count their unfinished dependencies again (edges stay within a run). */
	[Q_CANCEL_DEPS_LEFT] = "UPDATE jobs SET deps_left = (SELECT count(*) FROM job_edges e"
			       " JOIN jobs d ON d.id = e.dep_id"
			       " WHERE e.job_id = jobs.id AND d.state IN " Q_UNFINISHED_STATES ")"
			       " WHERE run_id = ?1 AND state = 'cancelled' AND deps_left > 0",
	[Q_CANCEL_LEASED] = "UPDATE jobs SET cancel_requested = 1 WHERE run_id = ?1 AND state IN " Q_LEASED_STATES,
	[Q_RUN_CANCEL] = "UPDATE runs SET state = 'cancelled', finished_ms = ?2 WHERE id = ?1",
	/* Index runs_by_ref. */
	/* UNION (not UNION ALL) visits each job once however many paths lead to it. */
	[Q_RERUN_INSERT] = "INSERT INTO jobs (run_id, package, target, commit_id, tree_id, build_key, priority,"
			   " deps_left, created_ms, rerun_of, variant, fuzz_crash) SELECT r.id, j.package, j.target,"
			   " j.commit_id, j.tree_id, j.build_key, r.priority, 0, ?3, j.id, j.variant, j.fuzz_crash"
			   " FROM jobs j, runs r"
			   " WHERE j.id = ?2 AND r.id = ?1"
			   " AND j.build_key IS NOT NULL",
	[Q_RERUN_EDGES] = "INSERT INTO job_edges (job_id, dep_id) SELECT ?1, dep_id FROM job_edges WHERE job_id = ?2",
	[Q_RUN_REOPEN] = "UPDATE runs SET state = 'running', finished_ms = NULL WHERE id = ?1 AND state = 'done'",
	/* Index jobs_by_package, newest first. */
	/* Index jobs_by_key: the newest job that ran the key (a cached answer has no log of its own). */
	[Q_JOB_BUILT] = "SELECT " STORE__JOB_COLUMNS " FROM jobs WHERE build_key = ?1 AND cached = 0"
			" AND status IN ('pass', 'fail') ORDER BY id DESC LIMIT 1",
	[Q_JOB_FIND] = "SELECT " STORE__JOB_COLUMNS " FROM jobs WHERE package = ?2 AND target = ?3 AND run_id = ?1"
		       " AND rerun_of IS NULL AND variant = 'build' ORDER BY id DESC LIMIT 1",
	[Q_JOB_FIND_REPLAY] = "SELECT " STORE__JOB_COLUMNS " FROM jobs WHERE package = ?2 AND target = ?3"
			      " AND run_id = ?1 AND rerun_of IS NULL AND variant = 'fuzz' AND fuzz_crash = ?4"
			      " ORDER BY id DESC LIMIT 1",
	/*
	 * The keys that ran more than once (k), then each failure of one of them
	 * by the test it named. A scan of jobs_by_package: for GET /flakiness,
	 * not for a hot path.
	 */
	[Q_FLAKINESS] = "WITH k AS (SELECT package, target, build_key, count(*) AS n, sum(status = 'pass') AS passes"
			" FROM jobs WHERE cached = 0 AND build_key IS NOT NULL AND status IN ('pass', 'fail')"
			" GROUP BY package, target, build_key HAVING count(*) > 1)"
			" SELECT f.package, f.target, f.test, count(*), sum(k.passes > 0), sum(k.n), sum(f.fails) FROM"
			" (SELECT package, target, build_key, coalesce(failed_test, '') AS test, count(*) AS fails"
			" FROM jobs WHERE cached = 0 AND status = 'fail' AND build_key IS NOT NULL"
			" GROUP BY package, target, build_key, test) f"
			" JOIN k ON k.package = f.package AND k.target = f.target AND k.build_key = f.build_key"
			" GROUP BY f.package, f.target, f.test ORDER BY f.package, f.target, f.test",
	[Q_JOB_CLOSURE] = "WITH RECURSIVE c(id) AS (SELECT dep_id FROM job_edges WHERE job_id = ?1"
			  " UNION SELECT e.dep_id FROM job_edges e JOIN c ON e.job_id = c.id)"
			  " SELECT " STORE__JOB_COLUMNS " FROM jobs WHERE id IN c ORDER BY id",
	/* Index runs_by_state: the finished runs of one kind, newest first. */
	[Q_LATEST_RUN] = "SELECT id FROM runs WHERE state = 'done' AND kind = ?1 AND id < ?2 ORDER BY id DESC LIMIT 1",
	[Q_BUILD_EXISTS] = "SELECT 1 FROM builds WHERE build_key = ?1",
	[Q_ARTIFACT_REPLACE] = "INSERT OR REPLACE INTO artifacts (build_key, name, size, sha256, location, created_ms)"
			       " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[Q_RUNS_BY_REF] = "SELECT id FROM runs WHERE change_ref = ?1 AND state IN ('queued', 'running')"
			  " ORDER BY id",
	[Q_RUNS_LIST] = "SELECT r.id, u.name, r.kind, r.state, r.title, r.change_ref, r.created_ms, r.finished_ms"
			" FROM runs r JOIN universes u ON u.id = r.universe_id WHERE r.id < ?1"
			" ORDER BY r.id DESC LIMIT ?2",
	/* Covering index jobs_by_run_state. */
	[Q_RUN_COUNTS] = "SELECT state, status, cached, count(*) FROM jobs WHERE run_id = ?1"
			 " GROUP BY state, status, cached",
	[Q_WORKER_UPSERT] = "INSERT INTO workers (name, token_hash, targets, slots, created_ms, last_seen_ms)"
			    " VALUES (?1, ?2, ?3, ?4, ?5, ?5)"
			    " ON CONFLICT (name) DO UPDATE SET token_hash = excluded.token_hash,"
			    " targets = excluded.targets, slots = excluded.slots,"
			    " last_seen_ms = excluded.last_seen_ms",
	[Q_WORKER_SEEN] = "UPDATE workers SET last_seen_ms = ?2, free_disk_bytes = ?3, free_mem_bytes = ?4,"
			  " load_avg = ?5 WHERE name = ?1",
	[Q_WORKERS_LIST] = "SELECT w.name, w.targets, w.slots, w.last_seen_ms, w.free_disk_bytes,"
			   " w.free_mem_bytes, w.load_avg, coalesce(l.n, 0) FROM workers w"
			   " LEFT JOIN (SELECT lease_owner, count(*) AS n FROM jobs"
			   " WHERE state IN " Q_LEASED_STATES " GROUP BY lease_owner) l"
			   " ON l.lease_owner = w.name ORDER BY w.name",
	/* A walk of the covering index jobs_by_run_state: linear in all jobs ever, see store.md. */
	[Q_STATS_STATES] = "SELECT state, count(*) FROM jobs GROUP BY state",
	/* A job's priority is its run's: the unfinished runs (runs_by_state), then their queued jobs. */
	[Q_STATS_PRIORITIES] = "SELECT r.priority, sum(j.deps_left = 0) FROM runs r"
			       " JOIN jobs j ON j.run_id = r.id AND j.state = 'queued'"
			       " WHERE r.state IN ('queued', 'running') GROUP BY r.priority ORDER BY r.priority DESC LIMIT 8",
	/* Index results_lease_expired (partial). */
	[Q_STATS_EXPIRIES] = "SELECT count(*) FROM results WHERE lease_expired = 1",
};
/* clang-format on */

/* ---- helpers ------------------------------------------------------------------ */

/* Statement `id` into *s; 0, or the error code with `err` filled. */
static int store__q(struct store *st, enum store__qid id, sqlite3_stmt **s, struct rp_error *err)
{
	*s = store__stmt_ext(st, (unsigned)id, store__qsql[id], err);
	return *s ? 0 : store__code(sqlite3_errcode(store__handle(st)));
}

static int store__job_state_of(const unsigned char *s)
{
	const char *name;
	for (int i = 0; s && (name = store_job_state_name((enum store_job_state)i)); i++)
		if (strcmp(name, (const char *)s) == 0)
			return i;
	return -1;
}

static int store__status_of(const unsigned char *s)
{
	const char *name;
	for (int i = 0; s && (name = store_result_status_name((enum store_result_status)i)); i++)
		if (strcmp(name, (const char *)s) == 0)
			return i;
	return -1;
}

static int store__streq(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static const char *store__coltext(sqlite3_stmt *s, int col)
{
	return (const char *)sqlite3_column_text(s, col);
}

/* Appends `v` to a malloc'd array grown by doubling. */
static int store__push(int64_t **a, size_t *n, size_t *cap, int64_t v)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		int64_t *na = realloc(*a, ncap * sizeof(*na));
		if (!na)
			return -1;
		*a = na;
		*cap = ncap;
	}
	(*a)[(*n)++] = v;
	return 0;
}

/*
 * Copies the strings in[0..n) (any may be NULL) into one malloc'd block and
 * points out[i] at the copies; the block starts at out[0], which must be
 * non-NULL, so freeing out[0] frees them all.
 */
static char *store__pack(const char *const *in, const char **out, size_t n)
{
	size_t len = 0, off = 0;
	char *block;

	for (size_t i = 0; i < n; i++)
		if (in[i])
			len += strlen(in[i]) + 1;
	if (!(block = malloc(len ? len : 1)))
		return NULL;
	for (size_t i = 0; i < n; i++) {
		out[i] = NULL;
		if (in[i]) {
			size_t l = strlen(in[i]) + 1;
			memcpy(block + off, in[i], l);
			out[i] = block + off;
			off += l;
		}
	}
	return block;
}

/* ---- reading jobs ------------------------------------------------------------ */

/* Reads job `id` and its dependencies into *job; inside the caller's transaction. */
static int store__job_load(struct store *st, int64_t id, struct store_job *job, struct rp_error *err)
{
	int64_t *deps = NULL;
	size_t ndeps = 0, cap = 0;
	sqlite3_stmt *s;
	int rc, ret;

	if ((ret = store__q(st, Q_JOB_GET, &s, err)) < 0)
		return ret;
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		ret = store__read_job(st, s, job, err);
	else if (rc == SQLITE_DONE)
		ret = rp_error_set(err, RP_ENOTFOUND, "%s: no job %" PRId64, store_path(st), id);
	else
		ret = store__dberr(st, err, rc, "cannot read job %" PRId64, id);
	store__done(s);
	if (ret < 0)
		return ret;

	if ((ret = store__q(st, Q_JOB_DEPS, &s, err)) < 0)
		return ret;
	sqlite3_bind_int64(s, 1, id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if (store__push(&deps, &ndeps, &cap, sqlite3_column_int64(s, 0)) < 0) {
			ret = store__nomem(st, err);
			goto out;
		}
	if (rc != SQLITE_DONE) {
		ret = store__dberr(st, err, rc, "cannot read the dependencies of job %" PRId64, id);
		goto out;
	}
	if (ndeps) {
		job->deps = store__alloc(&job->mem_, ndeps * sizeof(*job->deps));
		if (!job->deps) {
			ret = store__nomem(st, err);
			goto out;
		}
		memcpy(job->deps, deps, ndeps * sizeof(*deps));
		job->ndeps = ndeps;
	}
out:
	store__done(s);
	free(deps);
	return ret;
}

int store_job_get(struct store *st, int64_t id, struct store_job *job, struct rp_error *err)
{
	int ret;

	memset(job, 0, sizeof(*job));
	ret = store__begin_read(st, err);
	if (ret < 0)
		return ret;
	ret = store__end(st, store__job_load(st, id, job, err), err);
	if (ret < 0)
		store_job_release(job);
	return ret;
}

void store_job_release(struct store_job *job)
{
	store__mem_free(&job->mem_);
	memset(job, 0, sizeof(*job));
}

int store_run_find_request(struct store *st, const char *request_id, int64_t *run_id, struct rp_error *err)
{
	sqlite3_stmt *s;
	int rc, ret;

	if (!request_id || !*request_id)
		return rp_error_set(err, RP_EINVAL, "%s: request id is empty", store_path(st));
	if ((ret = store__q(st, Q_FIND_REQUEST, &s, err)) < 0)
		return ret;
	sqlite3_bind_text(s, 1, request_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*run_id = sqlite3_column_int64(s, 0);
	else if (rc == SQLITE_DONE)
		ret = rp_error_set(err, RP_ENOTFOUND, "%s: no run with request id '%s'", store_path(st),
				   request_id);
	else
		ret = store__dberr(st, err, rc, "cannot look up request id '%s'", request_id);
	store__done(s);
	return ret;
}

/*
 * Explains why job `id` is not in the state a call needs: RP_ENOTFOUND for an
 * unknown job, else RP_ECONFLICT saying what it is. `want` says what was needed.
 */
static int store__job_conflict(struct store *st, int64_t id, const char *want, struct rp_error *err)
{
	sqlite3_stmt *s;
	int rc, ret;

	if ((ret = store__q(st, Q_JOB_STATE, &s, err)) < 0)
		return ret;
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		const char *owner = store__coltext(s, 2);
		ret = rp_error_set(err, RP_ECONFLICT,
				   "%s: job %" PRId64 " is %s (fence %" PRId64 "%s%s), not %s",
				   store_path(st), id, store__coltext(s, 0) ? store__coltext(s, 0) : "?",
				   (int64_t)sqlite3_column_int64(s, 1), owner ? ", leased by " : "",
				   owner ? owner : "", want);
	} else if (rc == SQLITE_DONE) {
		ret = rp_error_set(err, RP_ENOTFOUND, "%s: no job %" PRId64, store_path(st), id);
	} else {
		ret = store__dberr(st, err, rc, "cannot read job %" PRId64, id);
	}
	store__done(s);
	return ret;
}

/* ---- keys ------------------------------------------------------------------ */

int store_jobs_unkeyed(struct store *st, int64_t *ids, size_t cap, size_t *n, struct rp_error *err)
{
	sqlite3_stmt *s;
	int rc = SQLITE_DONE, ret;

	*n = 0;
	if (cap == 0)
		return 0;
	if ((ret = store__q(st, Q_UNKEYED, &s, err)) < 0)
		return ret;
	sqlite3_bind_int64(s, 1, cap > (size_t)INT64_MAX ? INT64_MAX : (int64_t)cap);
	while (*n < cap && (rc = sqlite3_step(s)) == SQLITE_ROW)
		ids[(*n)++] = sqlite3_column_int64(s, 0);
	if (*n < cap && rc != SQLITE_DONE) {
		ret = store__dberr(st, err, rc, "cannot list jobs without a build key");
		*n = 0;
	}
	store__done(s);
	return ret;
}

int store_job_set_key(struct store *st, int64_t id, const char *build_key, struct rp_error *err)
{
	sqlite3_stmt *s;
	int ret;

	if (!store__is_hex64(build_key))
		return rp_error_set(err, RP_EINVAL,
				    "%s: job %" PRId64 ": build key is not %d lowercase hex digits",
				    store_path(st), id, STORE_HEX_LEN);
	/* One statement is its own transaction. */
	if ((ret = store__q(st, Q_SET_KEY, &s, err)) < 0)
		return ret;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, build_key, -1, SQLITE_STATIC);
	ret = store__step_done(st, s, err, "cannot set a build key");
	if (ret == 0 && sqlite3_changes(store__handle(st)) == 0)
		ret = store__job_conflict(st, id, "queued without a build key", err);
	return ret;
}

/* ---- ending attempts ------------------------------------------------------------ */

/* Writes the results row of one attempt. `res` may be NULL for a bare status. */
static int store__result_insert(struct store *st, int64_t job_id, int attempt,
				enum store_result_status status, const struct store_job_result *res,
				int lease_expired, int64_t now, struct rp_error *err)
{
	sqlite3_stmt *s;
	int ret;

	if ((ret = store__q(st, Q_RESULT_INSERT, &s, err)) < 0)
		return ret;
	sqlite3_bind_int64(s, 1, job_id);
	sqlite3_bind_int(s, 2, attempt);
	sqlite3_bind_text(s, 3, store_result_status_name(status), -1, SQLITE_STATIC);
	if (res) {
		store__bind_opt(s, 4, res->category);
		store__bind_opt(s, 5, res->first_error);
		sqlite3_bind_int64(s, 6, res->duration_ms);
		store__bind_opt(s, 7, res->worker);
		if (res->worker)
			sqlite3_bind_int64(s, 8, res->fence);
		store__bind_opt(s, 10, res->failed_step);
		store__bind_opt(s, 11, res->output_hash);
	}
	sqlite3_bind_int64(s, 9, now);
	sqlite3_bind_int(s, 12, lease_expired);
	ret = store__step_done(st, s, err, "cannot write a result");
	if (ret == RP_EEXISTS)
		ret = rp_error_set(err, RP_EDB, "%s: job %" PRId64 " already has a result for attempt %d",
				   store_path(st), job_id, attempt);
	return ret;
}

/* Every dependent of `id` has one unfinished dependency less. */
static int store__release_dependents(struct store *st, int64_t id, struct rp_error *err)
{
	sqlite3_stmt *s;
	int ret;

	if ((ret = store__q(st, Q_RELEASE_DEPENDENTS, &s, err)) < 0)
		return ret;
	sqlite3_bind_int64(s, 1, id);
	return store__step_done(st, s, err, "cannot release the dependents of a job");
}

/* Ends job `id` with `res` as its final result (status `status`, cause `cause`). */
static int store__job_end(struct store *st, int64_t id, enum store_result_status status,
			  const struct store_job_result *res, int64_t cause, int64_t now,
			  struct rp_error *err)
{
	sqlite3_stmt *s;
	int ret;

	if ((ret = store__q(st, Q_JOB_END, &s, err)) < 0)
		return ret;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, status == STORE_RESULT_CANCELLED ? "cancelled" : "done", -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, store_result_status_name(status), -1, SQLITE_STATIC);
	if (res) {
		sqlite3_bind_int(s, 4, res->cached ? 1 : 0);
		store__bind_opt(s, 5, res->output_hash);
		store__bind_opt(s, 6, res->failed_step);
		store__bind_opt(s, 7, res->category);
		store__bind_opt(s, 8, res->first_error);
		store__bind_opt(s, 9, res->worker);
		sqlite3_bind_int64(s, 10, res->duration_ms);
		if (res->build_ms > 0 || res->test_ms > 0) {
			sqlite3_bind_int64(s, 13, res->build_ms);
			sqlite3_bind_int64(s, 14, res->test_ms);
		}
		if (res->failed_test && *res->failed_test && status == STORE_RESULT_FAIL)
			sqlite3_bind_text(s, 15, res->failed_test, -1, SQLITE_STATIC);
	} else {
		sqlite3_bind_int(s, 4, 0);
	}
	if (cause)
		sqlite3_bind_int64(s, 11, cause);
	sqlite3_bind_int64(s, 12, now);
	return store__step_done(st, s, err, "cannot end a job");
}

/*
 * Ends every queued dependent of `id` as skipped with cause `root`, and
 * theirs, transitively. A dependent that is not queued (it ended already) is
 * left alone, and so are its dependents: they were dealt with when it ended.
 */
static int store__skip_dependents(struct store *st, int64_t id, int64_t root, int64_t now,
				  struct rp_error *err)
{
	int64_t *todo = NULL, *found = NULL;
	size_t ntodo = 0, captodo = 0, nfound = 0, capfound = 0;
	sqlite3_stmt *s = NULL;
	int rc, ret = 0;

	if (store__push(&todo, &ntodo, &captodo, id) < 0)
		return store__nomem(st, err);
	while (ntodo) {
		int64_t cur = todo[--ntodo];

		/* Collect first: the rows are changed below. Pairs of (id, attempt). */
		if ((ret = store__q(st, Q_QUEUED_DEPENDENTS, &s, err)) < 0)
			goto out;
		sqlite3_bind_int64(s, 1, cur);
		nfound = 0;
		while ((rc = sqlite3_step(s)) == SQLITE_ROW)
			if (store__push(&found, &nfound, &capfound, sqlite3_column_int64(s, 0)) < 0 ||
			    store__push(&found, &nfound, &capfound, sqlite3_column_int64(s, 1)) < 0) {
				ret = store__nomem(st, err);
				goto out;
			}
		if (rc != SQLITE_DONE) {
			ret = store__dberr(st, err, rc, "cannot list the dependents of job %" PRId64, cur);
			goto out;
		}
		store__done(s);
		s = NULL;
		for (size_t i = 0; i < nfound; i += 2) {
			int64_t dep = found[i];
			ret = store__result_insert(st, dep, (int)found[i + 1], STORE_RESULT_SKIPPED, NULL, 0,
						   now, err);
			if (ret == 0)
				ret = store__job_end(st, dep, STORE_RESULT_SKIPPED, NULL, root, now, err);
			if (ret == 0)
				ret = store__release_dependents(st, dep, err);
			if (ret < 0)
				goto out;
			if (store__push(&todo, &ntodo, &captodo, dep) < 0) {
				ret = store__nomem(st, err);
				goto out;
			}
		}
	}
out:
	store__done(s);
	free(todo);
	free(found);
	return ret;
}

/* Marks run `run_id` finished when none of its jobs is left unfinished. */
static int store__run_maybe_finish(struct store *st, int64_t run_id, int64_t now, struct rp_error *err)
{
	sqlite3_stmt *s;
	int rc, ret;

	if ((ret = store__q(st, Q_RUN_UNFINISHED, &s, err)) < 0)
		return ret;
	sqlite3_bind_int64(s, 1, run_id);
	rc = sqlite3_step(s);
	store__done(s);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc != SQLITE_DONE)
		return store__dberr(st, err, rc, "cannot read the jobs of run %" PRId64, run_id);
	if ((ret = store__q(st, Q_RUN_FINISH, &s, err)) < 0)
		return ret;
	sqlite3_bind_int64(s, 1, run_id);
	sqlite3_bind_int64(s, 2, now);
	return store__step_done(st, s, err, "cannot finish a run");
}

/* What store__finish_locked reads about the job first. */
struct store__jobhead {
	int state, attempt, cancelled; /* cancelled: cancel_requested, or its run is cancelled */
	int fuzz;		       /* a fuzz job: its key is never an answer (it runs for its findings) */
	int64_t fence, run_id;
	const char *owner, *build_key, *package, *target, *commit;
	void *mem;
};

static int store__jobhead_read(struct store *st, int64_t id, struct store__jobhead *h, struct rp_error *err)
{
	sqlite3_stmt *s;
	int rc, ret;

	if ((ret = store__q(st, Q_FINISH_READ, &s, err)) < 0)
		return ret;
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		ret = rp_error_set(err, RP_ENOTFOUND, "%s: no job %" PRId64, store_path(st), id);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		ret = store__dberr(st, err, rc, "cannot read job %" PRId64, id);
		goto out;
	}
	h->state = store__job_state_of(sqlite3_column_text(s, 0));
	if (h->state < 0) {
		ret =
		    rp_error_set(err, RP_EDB, "%s: job %" PRId64 " has an unknown state", store_path(st), id);
		goto out;
	}
	h->attempt = sqlite3_column_int(s, 1);
	h->fence = sqlite3_column_int64(s, 3);
	h->run_id = sqlite3_column_int64(s, 4);
	h->cancelled = sqlite3_column_int(s, 9) != 0 || store__streq(store__coltext(s, 10), "cancelled");
	h->fuzz = store__streq(store__coltext(s, 11), "fuzz");
	ret = store__col_str(st, &h->mem, s, 2, &h->owner, err);
	if (ret == 0)
		ret = store__col_str(st, &h->mem, s, 5, &h->build_key, err);
	if (ret == 0)
		ret = store__col_str(st, &h->mem, s, 6, &h->package, err);
	if (ret == 0)
		ret = store__col_str(st, &h->mem, s, 7, &h->target, err);
	if (ret == 0)
		ret = store__col_str(st, &h->mem, s, 8, &h->commit, err);
out:
	store__done(s);
	return ret;
}

/*
 * A worker posts again the result it posted before under the same fence (its
 * first answer was lost): 1 when `res` equals that stored result, with
 * *requeued saying whether that result queued the job again; 0 when there is
 * no such result or it differs.
 */
static int store__is_repost(struct store *st, int64_t id, const struct store__jobhead *h,
			    const struct store_job_result *res, int *requeued, struct rp_error *err)
{
	sqlite3_stmt *s;
	int rc, ret, same = 0;

	if ((ret = store__q(st, Q_RESULT_FIND, &s, err)) < 0)
		return ret;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, res->fence);
	sqlite3_bind_text(s, 3, res->worker, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		same = store__status_of(sqlite3_column_text(s, 1)) == (int)res->status &&
		       store__streq(store__coltext(s, 2), res->category) &&
		       store__streq(store__coltext(s, 3), res->first_error) &&
		       sqlite3_column_int64(s, 4) == res->duration_ms &&
		       store__streq(store__coltext(s, 5), res->failed_step) &&
		       store__streq(store__coltext(s, 6), res->output_hash);
		if (same && requeued)
			*requeued =
			    res->status == STORE_RESULT_ERROR && sqlite3_column_int(s, 0) < h->attempt;
	} else if (rc != SQLITE_DONE) {
		same = store__dberr(st, err, rc, "cannot read the results of job %" PRId64, id);
	}
	store__done(s);
	return same;
}

/*
 * store_job_finish inside the caller's write transaction. `lease_expired`
 * marks the error the expiry sweep posts for the lease's own worker and fence.
 */
static int store__finish_locked(struct store *st, int64_t id, const struct store_job_result *res,
				int lease_expired, int max_attempts, int *requeued, struct rp_error *err)
{
	struct store__jobhead h = {0};
	enum store_result_status final = res->status;
	int64_t now = res->now_ms ? res->now_ms : store__now_ms();
	int64_t root;
	sqlite3_stmt *s;
	int ret;

	ret = store__jobhead_read(st, id, &h, err);
	if (ret < 0)
		goto out;
	if (res->worker) {
		int leased = h.state == STORE_JOB_LEASED || h.state == STORE_JOB_RUNNING;
		if (!leased || h.fence != res->fence || !store__streq(h.owner, res->worker)) {
			ret = lease_expired ? 0 : store__is_repost(st, id, &h, res, requeued, err);
			if (ret == 0)
				ret = rp_error_set(
				    err, RP_ECONFLICT,
				    "%s: job %" PRId64 " is not leased by %s under fence %" PRId64
				    " (it is %s, fence %" PRId64 "%s%s)",
				    store_path(st), id, res->worker, res->fence,
				    store_job_state_name((enum store_job_state)h.state), h.fence,
				    h.owner ? ", leased by " : "", h.owner ? h.owner : "");
			else if (ret == 1)
				ret = 0; /* a retried upload: already stored */
			goto out;
		}
	} else if (h.state != STORE_JOB_QUEUED) {
		ret =
		    rp_error_set(err, RP_ECONFLICT,
				 "%s: job %" PRId64 " is %s; only a queued job can be ended without a worker",
				 store_path(st), id, store_job_state_name((enum store_job_state)h.state));
		goto out;
	}

	ret = store__result_insert(st, id, h.attempt, res->status, res, lease_expired, now, err);
	if (ret < 0)
		goto out;

	if (res->status == STORE_RESULT_ERROR && h.attempt + 1 < max_attempts) {
		if (!h.cancelled) {
			if ((ret = store__q(st, Q_JOB_REQUEUE, &s, err)) < 0)
				goto out;
			sqlite3_bind_int64(s, 1, id);
			ret = store__step_done(st, s, err, "cannot queue a job again");
			if (ret == 0 && requeued)
				*requeued = 1;
			goto out;
		}
		/* Its run was cancelled: the retry it would get ends it instead. */
		final = STORE_RESULT_CANCELLED;
	}

	root = final == STORE_RESULT_SKIPPED && res->cause_id ? res->cause_id : id;
	ret = store__job_end(st, id, final, res, final == STORE_RESULT_SKIPPED ? res->cause_id : 0, now, err);
	if (ret < 0)
		goto out;
	if ((final == STORE_RESULT_PASS || final == STORE_RESULT_FAIL) && !res->cached && h.build_key && !h.fuzz) {
		struct store_build b = {
		    .build_key = h.build_key,
		    .package = h.package,
		    .target = h.target,
		    .commit_id = h.commit,
		    .status = store_result_status_name(final),
		    .failed_step = res->failed_step,
		    .category = res->category,
		    .first_error = res->first_error,
		    .output_hash = res->output_hash,
		    .duration_ms = res->duration_ms,
		    .created_ms = now,
		};
		ret = store_build_put(st, &b, err);
		if (ret < 0)
			goto out;
	}
	ret = store__release_dependents(st, id, err);
	if (ret == 0 && !res->output_hash)
		ret = store__skip_dependents(st, id, root, now, err);
	if (ret == 0)
		ret = store__run_maybe_finish(st, h.run_id, now, err);
out:
	store__mem_free(&h.mem);
	return ret;
}

/* Checks a result before any write, so a bad one is a clear message, not a constraint name. */
static int store__check_result(struct store *st, int64_t id, const struct store_job_result *res,
			       int max_attempts, struct rp_error *err)
{
	const char *why = NULL;

	if (!res || !store_result_status_name(res->status))
		why = "unknown status";
	else if (max_attempts < 1)
		why = "max_attempts must be at least 1";
	else if (res->worker && !*res->worker)
		why = "empty worker name";
	else if (res->output_hash && !store__is_hex64(res->output_hash))
		why = "output hash is not 64 lowercase hex digits";
	else if (res->failed_step && strcmp(res->failed_step, "build") != 0 &&
		 strcmp(res->failed_step, "test") != 0)
		why = "failed step is neither build nor test";
	else if (res->duration_ms < 0 || res->cause_id < 0 || res->build_ms < 0 || res->test_ms < 0)
		why = "negative duration or cause";
	else if (res->status == STORE_RESULT_PASS && res->failed_step)
		why = "a pass has no failed step";
	else if (res->status == STORE_RESULT_FAIL && !res->failed_step)
		why = "a failure needs its failed step";
	else if (res->failed_step && strcmp(res->failed_step, "test") == 0 && !res->output_hash)
		why = "a test failure has the output of its build";
	if (why)
		return rp_error_set(err, RP_EINVAL, "%s: result of job %" PRId64 ": %s", store_path(st), id,
				    why);
	return 0;
}

int store_job_finish(struct store *st, int64_t id, const struct store_job_result *res, int max_attempts,
		     int *requeued, struct rp_error *err)
{
	int ret;

	if (requeued)
		*requeued = 0;
	ret = store__check_result(st, id, res, max_attempts, err);
	if (ret < 0)
		return ret;
	ret = store__begin_write(st, err);
	if (ret < 0)
		return ret;
	ret = store__finish_locked(st, id, res, 0, max_attempts, requeued, err);
	ret = store__end(st, ret, err);
	if (ret < 0 && requeued)
		*requeued = 0;
	return ret;
}

/* ---- leases ------------------------------------------------------------------ */

struct store__active_run {
	int64_t id, universe_id;
	int priority;
};

struct store__universe_load {
	int64_t universe_id, leased;
};

static int store__active_runs(struct store *st, struct store__active_run **runs, size_t *n,
			      struct rp_error *err)
{
	size_t cap = 0;
	sqlite3_stmt *s;
	int rc, ret;

	*runs = NULL;
	*n = 0;
	if ((ret = store__q(st, Q_ACTIVE_RUNS, &s, err)) < 0)
		return ret;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct store__active_run *nr = realloc(*runs, ncap * sizeof(*nr));
			if (!nr) {
				ret = store__nomem(st, err);
				goto out;
			}
			*runs = nr;
			cap = ncap;
		}
		(*runs)[*n].id = sqlite3_column_int64(s, 0);
		(*runs)[*n].universe_id = sqlite3_column_int64(s, 1);
		(*runs)[*n].priority = sqlite3_column_int(s, 2);
		(*n)++;
	}
	if (rc != SQLITE_DONE)
		ret = store__dberr(st, err, rc, "cannot list the active runs");
out:
	store__done(s);
	return ret;
}

/* The oldest ready job of run `run_id` on one of `targets`, or 0. */
static int store__probe_run(struct store *st, int64_t run_id, const char *const *targets, size_t ntargets,
			    int64_t *job, struct rp_error *err)
{
	sqlite3_stmt *s;
	int rc, ret;

	*job = 0;
	if ((ret = store__q(st, Q_READY_PROBE, &s, err)) < 0)
		return ret;
	for (size_t t = 0; t < ntargets; t++) {
		sqlite3_bind_int64(s, 1, run_id);
		sqlite3_bind_text(s, 2, targets[t], -1, SQLITE_STATIC);
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			int64_t id = sqlite3_column_int64(s, 0);
			if (!*job || id < *job)
				*job = id;
		} else if (rc != SQLITE_DONE) {
			ret = store__dberr(st, err, rc, "cannot look for a ready job");
		}
		store__done(s);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int store__leased_by_universe(struct store *st, struct store__universe_load **loads, size_t *n,
				     struct rp_error *err)
{
	size_t cap = 0;
	sqlite3_stmt *s;
	int rc, ret;

	if ((ret = store__q(st, Q_LEASED_BY_UNIVERSE, &s, err)) < 0)
		return ret;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			struct store__universe_load *nl = realloc(*loads, ncap * sizeof(*nl));
			if (!nl) {
				ret = store__nomem(st, err);
				goto out;
			}
			*loads = nl;
			cap = ncap;
		}
		(*loads)[*n].universe_id = sqlite3_column_int64(s, 0);
		(*loads)[*n].leased = sqlite3_column_int64(s, 1);
		(*n)++;
	}
	if (rc != SQLITE_DONE)
		ret = store__dberr(st, err, rc, "cannot count the leased jobs");
out:
	store__done(s);
	return ret;
}

static int64_t store__load_of(const struct store__universe_load *loads, size_t n, int64_t universe_id)
{
	for (size_t i = 0; i < n; i++)
		if (loads[i].universe_id == universe_id)
			return loads[i].leased;
	return 0;
}

/*
 * Picks the job to lease: the active runs by priority, highest first; within
 * the first priority that has a ready job, the universe with the fewest
 * leased jobs, then the oldest job. *job is 0 when nothing is ready.
 */
/* Among the ready jobs of `run_id` on the worker's targets, the one it has most of in its caches. */
static int store__affinity(struct store *st, int64_t run_id, const struct store_lease_request *req, int64_t *job,
			   struct rp_error *err)
{
	sqlite3_stmt *s;
	int64_t best_score = -1;
	int rc, ret;

	if ((ret = store__q(st, Q_AFFINITY, &s, err)) < 0)
		return ret;
	for (size_t t = 0; t < req->ntargets; t++) {
		sqlite3_bind_int64(s, 1, run_id);
		sqlite3_bind_text(s, 2, req->targets[t], -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, req->worker, -1, SQLITE_STATIC);
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			int64_t id = sqlite3_column_int64(s, 0), score = sqlite3_column_int64(s, 1);
			if (score > best_score || (score == best_score && id < *job)) {
				best_score = score;
				*job = id;
			}
		} else if (rc != SQLITE_DONE) {
			ret = store__dberr(st, err, rc, "cannot weigh cache affinity");
		}
		store__done(s);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int store__pick(struct store *st, const struct store_lease_request *req, int64_t *job, int64_t *run_id,
		       struct rp_error *err)
{
	struct store__active_run *runs = NULL;
	struct store__universe_load *loads = NULL;
	struct {
		int64_t job, run_id, universe_id;
	} *cands = NULL;
	size_t nruns = 0, nloads = 0;
	int ret;

	*job = 0;
	ret = store__active_runs(st, &runs, &nruns, err);
	if (ret < 0 || nruns == 0)
		goto out;
	cands = malloc(nruns * sizeof(*cands));
	if (!cands) {
		ret = store__nomem(st, err);
		goto out;
	}
	for (size_t lo = 0, hi = 0; lo < nruns && !*job; lo = hi) {
		size_t ncands = 0, best = 0;
		int several = 0;

		for (hi = lo; hi < nruns && runs[hi].priority == runs[lo].priority; hi++) {
			int64_t id;
			ret = store__probe_run(st, runs[hi].id, req->targets, req->ntargets, &id, err);
			if (ret < 0)
				goto out;
			if (!id)
				continue;
			cands[ncands].job = id;
			cands[ncands].run_id = runs[hi].id;
			cands[ncands].universe_id = runs[hi].universe_id;
			several |= cands[ncands].universe_id != cands[0].universe_id;
			ncands++;
		}
		if (ncands == 0)
			continue;
		/* Counting the leased jobs is only worth it when universes compete. */
		if (several && !loads && (ret = store__leased_by_universe(st, &loads, &nloads, err)) < 0)
			goto out;
		for (size_t i = 1; i < ncands; i++) {
			int64_t li = several ? store__load_of(loads, nloads, cands[i].universe_id) : 0;
			int64_t lb = several ? store__load_of(loads, nloads, cands[best].universe_id) : 0;
			if (li < lb || (li == lb && cands[i].job < cands[best].job))
				best = i;
		}
		*job = cands[best].job;
		*run_id = cands[best].run_id;
		if ((ret = store__affinity(st, *run_id, req, job, err)) < 0)
			goto out;
	}
out:
	free(runs);
	free(loads);
	free(cands);
	return ret;
}

int store_job_lease(struct store *st, const struct store_lease_request *req, struct store_job *job,
		    struct rp_error *err)
{
	int64_t now, id = 0, run_id = 0;
	sqlite3_stmt *s;
	int ret;

	memset(job, 0, sizeof(*job));
	if (!req->worker || !*req->worker || req->lease_ms <= 0 || req->ntargets == 0 || !req->targets)
		return rp_error_set(err, RP_EINVAL,
				    "%s: a lease needs a worker, its targets and a positive length",
				    store_path(st));
	for (size_t i = 0; i < req->ntargets; i++)
		if (!req->targets[i])
			return rp_error_set(err, RP_EINVAL, "%s: lease request of %s: target %zu is missing",
					    store_path(st), req->worker, i);
	now = req->now_ms ? req->now_ms : store__now_ms();

	ret = store__begin_write(st, err);
	if (ret < 0)
		return ret;
	ret = store__pick(st, req, &id, &run_id, err);
	if (ret < 0)
		goto out;
	if (!id) {
		ret = rp_error_set(err, RP_ENOTFOUND, "%s: no job is ready for worker %s", store_path(st),
				   req->worker);
		goto out;
	}
	if ((ret = store__q(st, Q_LEASE_TAKE, &s, err)) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, req->worker, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, now + req->lease_ms);
	sqlite3_bind_int64(s, 4, now);
	ret = store__step_done(st, s, err, "cannot lease a job");
	if (ret == 0 && sqlite3_changes(store__handle(st)) != 1)
		ret = rp_error_set(err, RP_EDB, "%s: job %" PRId64 " was not queued any more", store_path(st),
				   id);
	if (ret < 0)
		goto out;
	if ((ret = store__q(st, Q_RUN_START, &s, err)) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, run_id);
	ret = store__step_done(st, s, err, "cannot start a run");
	if (ret == 0)
		ret = store__job_load(st, id, job, err);
out:
	ret = store__end(st, ret, err);
	if (ret < 0)
		store_job_release(job);
	return ret;
}

int store_job_heartbeat(struct store *st, int64_t id, const char *worker, int64_t fence, int64_t now_ms,
			int64_t lease_ms, int64_t *expires_ms, int *cancel, struct rp_error *err)
{
	int64_t expires;
	sqlite3_stmt *s;
	int rc, ret, flag = 0, renewed = 0;

	if (!worker || !*worker || lease_ms <= 0)
		return rp_error_set(err, RP_EINVAL,
				    "%s: heartbeat of job %" PRId64 " needs a worker and a positive length",
				    store_path(st), id);
	expires = (now_ms ? now_ms : store__now_ms()) + lease_ms;
	/* One statement, its own transaction: the check and the renewal cannot be split. */
	if ((ret = store__q(st, Q_HEARTBEAT, &s, err)) < 0)
		return ret;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, worker, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, fence);
	sqlite3_bind_int64(s, 4, expires);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		renewed = 1;
		flag = sqlite3_column_int(s, 0) != 0;
		rc = sqlite3_step(s); /* the statement commits when it completes */
	}
	if (rc != SQLITE_DONE)
		ret = store__dberr(st, err, rc, "cannot renew the lease of job %" PRId64, id);
	store__done(s);
	if (ret == 0 && renewed) {
		if (expires_ms)
			*expires_ms = expires;
		if (cancel)
			*cancel = flag;
	} else if (ret == 0) {
		char want[192];
		snprintf(want, sizeof(want), "leased by %s under fence %" PRId64, worker, fence);
		ret = store__job_conflict(st, id, want, err);
	}
	return ret;
}

int store_leases_expire(struct store *st, int64_t now_ms, int max_attempts, size_t *n_expired,
			struct rp_error *err)
{
	struct expired {
		int64_t id, fence;
		const char *owner;
	} *list = NULL;
	void *mem = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *s = NULL;
	int64_t now = now_ms ? now_ms : store__now_ms();
	int rc, ret;

	if (n_expired)
		*n_expired = 0;
	if (max_attempts < 1)
		return rp_error_set(err, RP_EINVAL, "%s: max_attempts must be at least 1", store_path(st));
	ret = store__begin_write(st, err);
	if (ret < 0)
		return ret;
	if ((ret = store__q(st, Q_EXPIRED, &s, err)) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, now);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct expired *nl = realloc(list, ncap * sizeof(*nl));
			if (!nl) {
				ret = store__nomem(st, err);
				goto out;
			}
			list = nl;
			cap = ncap;
		}
		list[n].id = sqlite3_column_int64(s, 0);
		list[n].fence = sqlite3_column_int64(s, 2);
		if ((ret = store__col_str(st, &mem, s, 1, &list[n].owner, err)) < 0)
			goto out;
		n++;
	}
	if (rc != SQLITE_DONE) {
		ret = store__dberr(st, err, rc, "cannot list expired leases");
		goto out;
	}
	store__done(s);
	s = NULL;
	for (size_t i = 0; i < n; i++) {
		char why[160];
		struct store_job_result res = {
		    .status = STORE_RESULT_ERROR,
		    .worker = list[i].owner,
		    .fence = list[i].fence,
		    .first_error = why,
		    .now_ms = now,
		};
		snprintf(why, sizeof(why), "lease expired on %s", list[i].owner);
		ret = store__finish_locked(st, list[i].id, &res, 1, max_attempts, NULL, err);
		if (ret < 0)
			goto out;
	}
out:
	store__done(s);
	ret = store__end(st, ret, err);
	if (ret == 0 && n_expired)
		*n_expired = n;
	store__mem_free(&mem);
	free(list);
	return ret;
}

/* ---- runs ---------------------------------------------------------------------- */

int store_run_cancel(struct store *st, int64_t run_id, int64_t now_ms, size_t *n_queued, size_t *n_running,
		     struct rp_error *err)
{
	static const enum store__qid steps[] = {Q_CANCEL_RESULTS, Q_CANCEL_QUEUED, Q_CANCEL_DEPS_LEFT,
						Q_CANCEL_LEASED};
	int64_t now = now_ms ? now_ms : store__now_ms();
	int64_t changed[4] = {0};
	sqlite3_stmt *s;
	int rc, ret, finished;

	if (n_queued)
		*n_queued = 0;
	if (n_running)
		*n_running = 0;
	ret = store__begin_write(st, err);
	if (ret < 0)
		return ret;
	if ((ret = store__q(st, Q_RUN_STATE, &s, err)) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, run_id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE)
		ret = rp_error_set(err, RP_ENOTFOUND, "%s: no run %" PRId64, store_path(st), run_id);
	else if (rc != SQLITE_ROW)
		ret = store__dberr(st, err, rc, "cannot read run %" PRId64, run_id);
	finished = rc == SQLITE_ROW && (store__streq(store__coltext(s, 0), "done") ||
					store__streq(store__coltext(s, 0), "cancelled"));
	store__done(s);
	if (ret < 0 || finished)
		goto out;

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		if ((ret = store__q(st, steps[i], &s, err)) < 0)
			goto out;
		sqlite3_bind_int64(s, 1, run_id);
		if (steps[i] == Q_CANCEL_RESULTS || steps[i] == Q_CANCEL_QUEUED)
			sqlite3_bind_int64(s, 2, now);
		ret = store__step_done(st, s, err, "cannot cancel a run");
		if (ret < 0)
			goto out;
		changed[i] = sqlite3_changes(store__handle(st));
	}
	if ((ret = store__q(st, Q_RUN_CANCEL, &s, err)) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, run_id);
	if (changed[3] == 0)
		sqlite3_bind_int64(s, 2, now); /* nothing is left running: finished now */
	ret = store__step_done(st, s, err, "cannot cancel a run");
	if (ret == 0) {
		if (n_queued)
			*n_queued = (size_t)changed[1];
		if (n_running)
			*n_running = (size_t)changed[3];
	}
out:
	ret = store__end(st, ret, err);
	if (ret < 0) {
		if (n_queued)
			*n_queued = 0;
		if (n_running)
			*n_running = 0;
	}
	return ret;
}

int store_run_latest_done(struct store *st, enum store_run_kind kind, int64_t before_id, int64_t *run_id,
			  struct rp_error *err)
{
	sqlite3_stmt *s;
	int rc, ret;

	*run_id = 0;
	if ((ret = store__q(st, Q_LATEST_RUN, &s, err)) < 0)
		return ret;
	sqlite3_bind_text(s, 1, store_run_kind_name(kind), -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, before_id > 0 ? before_id : INT64_MAX);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*run_id = sqlite3_column_int64(s, 0);
	else if (rc == SQLITE_DONE)
		ret = rp_error_set(err, RP_ENOTFOUND, "%s: no finished %s run", store_path(st), store_run_kind_name(kind));
	else
		ret = store__dberr(st, err, rc, "cannot find the latest %s run", store_run_kind_name(kind));
	store__done(s);
	return ret;
}

int store_artifact_replace(struct store *st, const struct store_artifact *a, struct rp_error *err)
{
	sqlite3_stmt *s;
	int rc, ret;

	if (!store__is_hex64(a->build_key) || !store__is_hex64(a->sha256) || !a->name || !*a->name ||
	    !a->location || !*a->location || a->size < 0)
		return rp_error_set(err, RP_EINVAL, "%s: artifact: malformed key, sha256, name, location or size",
				    store_path(st));
	if ((ret = store__begin_write(st, err)) < 0)
		return ret;
	if ((ret = store__q(st, Q_BUILD_EXISTS, &s, err)) < 0)
		goto out;
	sqlite3_bind_text(s, 1, a->build_key, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	store__done(s);
	if (rc == SQLITE_ROW) {
		ret = rp_error_set(err, RP_EEXISTS, "%s: build %.12s is recorded: its artifacts are final",
				   store_path(st), a->build_key);
		goto out;
	}
	if (rc != SQLITE_DONE) {
		ret = store__dberr(st, err, rc, "cannot look up build %.12s", a->build_key);
		goto out;
	}
	if ((ret = store__q(st, Q_ARTIFACT_REPLACE, &s, err)) < 0)
		goto out;
	sqlite3_bind_text(s, 1, a->build_key, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, a->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, a->size);
	sqlite3_bind_text(s, 4, a->sha256, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, a->location, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 6, a->created_ms ? a->created_ms : store__now_ms());
	ret = store__step_done(st, s, err, "cannot replace artifact");
out:
	return store__end(st, ret, err);
}

int store_job_deps(struct store *st, int64_t id, struct store_job **deps, size_t *n, struct rp_error *err)
{
	size_t cap = 0;
	sqlite3_stmt *s;
	int rc, ret;

	*deps = NULL;
	*n = 0;
	if ((ret = store__q(st, Q_JOB_CLOSURE, &s, err)) < 0)
		return ret;
	sqlite3_bind_int64(s, 1, id);
	/* One statement: a lease names every dependency, so a query per dependency would dominate it. */
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (*n == cap) {
			size_t ncap = cap ? 2 * cap : 8;
			struct store_job *grown = realloc(*deps, ncap * sizeof(**deps));
			if (!grown) {
				ret = store__nomem(st, err);
				break;
			}
			*deps = grown;
			cap = ncap;
		}
		memset(&(*deps)[*n], 0, sizeof(**deps));
		if ((ret = store__read_job(st, s, &(*deps)[*n], err)) < 0)
			break;
		(*n)++;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = store__dberr(st, err, rc, "cannot list the dependencies of job %" PRId64, id);
	store__done(s);
	if (ret < 0) {
		store_jobs_free(*deps, *n);
		*deps = NULL;
		*n = 0;
	}
	return ret;
}

int store_runs_active_by_ref(struct store *st, const char *change_ref, int64_t **ids, size_t *n,
			     struct rp_error *err)
{
	size_t cap = 0;
	sqlite3_stmt *s;
	int rc, ret;

	*ids = NULL;
	*n = 0;
	if (!change_ref)
		return rp_error_set(err, RP_EINVAL, "%s: no change reference given", store_path(st));
	if ((ret = store__q(st, Q_RUNS_BY_REF, &s, err)) < 0)
		return ret;
	sqlite3_bind_text(s, 1, change_ref, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if (store__push(ids, n, &cap, sqlite3_column_int64(s, 0)) < 0) {
			ret = store__nomem(st, err);
			break;
		}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = store__dberr(st, err, rc, "cannot list the runs of %s", change_ref);
	store__done(s);
	if (ret < 0) {
		free(*ids);
		*ids = NULL;
		*n = 0;
	}
	return ret;
}

/* Fills the job counts of `r`; inside the caller's read transaction. */
static int store__run_counts(struct store *st, struct store_run_summary *r, struct rp_error *err)
{
	sqlite3_stmt *s;
	int rc, ret;

	if ((ret = store__q(st, Q_RUN_COUNTS, &s, err)) < 0)
		return ret;
	sqlite3_bind_int64(s, 1, r->id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int state = store__job_state_of(sqlite3_column_text(s, 0));
		int status = store__status_of(sqlite3_column_text(s, 1));
		size_t count = (size_t)sqlite3_column_int64(s, 3);
		r->njobs += count;
		if (state == STORE_JOB_QUEUED)
			r->queued += count;
		else if (state == STORE_JOB_LEASED || state == STORE_JOB_RUNNING)
			r->leased += count;
		else if (status >= 0) {
			r->by_status[status] += count;
			if (sqlite3_column_int(s, 2))
				r->cached += count;
		}
	}
	if (rc != SQLITE_DONE)
		ret = store__dberr(st, err, rc, "cannot count the jobs of run %" PRId64, r->id);
	store__done(s);
	return ret;
}

int store_runs_list(struct store *st, int64_t before_id, size_t limit, struct store_run_summary **runs,
		    size_t *n, struct rp_error *err)
{
	struct store_run_summary *list = NULL;
	sqlite3_stmt *s = NULL;
	size_t count = 0;
	int rc, ret;

	*runs = NULL;
	*n = 0;
	if (limit == 0)
		return 0;
	list = calloc(limit < 1024 ? limit : 1024, sizeof(*list));
	if (!list)
		return store__nomem(st, err);
	ret = store__begin_read(st, err);
	if (ret < 0)
		goto out_free;
	if ((ret = store__q(st, Q_RUNS_LIST, &s, err)) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, before_id > 0 ? before_id : INT64_MAX);
	sqlite3_bind_int64(s, 2, limit > 1024 ? 1024 : (int64_t)limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_run_summary *r = &list[count];
		const char *in[3] = {store__coltext(s, 1), store__coltext(s, 4), store__coltext(s, 5)};
		const char *out[3];
		int kind, state;

		if (!in[0]) {
			ret = store__nomem(st, err);
			goto out;
		}
		kind = -1;
		for (int k = 0; store_run_kind_name((enum store_run_kind)k); k++)
			if (store__streq(store_run_kind_name((enum store_run_kind)k), store__coltext(s, 2)))
				kind = k;
		state = -1;
		for (int k = 0; store_run_state_name((enum store_run_state)k); k++)
			if (store__streq(store_run_state_name((enum store_run_state)k), store__coltext(s, 3)))
				state = k;
		if (kind < 0 || state < 0) {
			ret = rp_error_set(err, RP_EDB, "%s: run %lld has an unknown kind or state",
					   store_path(st), (long long)sqlite3_column_int64(s, 0));
			goto out;
		}
		if (!store__pack(in, out, 3)) {
			ret = store__nomem(st, err);
			goto out;
		}
		r->id = sqlite3_column_int64(s, 0);
		r->universe = out[0];
		r->title = out[1];
		r->change_ref = out[2];
		r->kind = (enum store_run_kind)kind;
		r->state = (enum store_run_state)state;
		r->created_ms = sqlite3_column_int64(s, 6);
		r->finished_ms = sqlite3_column_int64(s, 7);
		count++;
	}
	if (rc != SQLITE_DONE) {
		ret = store__dberr(st, err, rc, "cannot list runs");
		goto out;
	}
	store__done(s);
	s = NULL;
	for (size_t i = 0; i < count && ret == 0; i++)
		ret = store__run_counts(st, &list[i], err);
out:
	store__done(s);
	ret = store__end(st, ret, err);
out_free:
	if (ret < 0) {
		store_runs_free(list, count);
		return ret;
	}
	if (count == 0) {
		free(list);
		list = NULL;
	}
	*runs = list;
	*n = count;
	return 0;
}

void store_runs_free(struct store_run_summary *runs, size_t n)
{
	for (size_t i = 0; runs && i < n; i++)
		free((char *)runs[i].universe); /* the block of its strings, see store__pack */
	free(runs);
}

/* ---- workers ------------------------------------------------------------------- */

int store_worker_register(struct store *st, const char *name, const char *token_hash, const char *targets,
			  int slots, int64_t now_ms, struct rp_error *err)
{
	sqlite3_stmt *s;
	int ret;

	if (!name || !*name || !targets || slots < 1)
		return rp_error_set(err, RP_EINVAL,
				    "%s: a worker needs a name, its targets and at least one slot",
				    store_path(st));
	if (!store__is_hex64(token_hash))
		return rp_error_set(err, RP_EINVAL,
				    "%s: worker %s: token hash is not %d lowercase hex digits",
				    store_path(st), name, STORE_HEX_LEN);
	if ((ret = store__q(st, Q_WORKER_UPSERT, &s, err)) < 0)
		return ret;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, token_hash, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, targets, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 4, slots);
	sqlite3_bind_int64(s, 5, now_ms ? now_ms : store__now_ms());
	return store__step_done(st, s, err, "cannot record a worker");
}

int store_worker_seen(struct store *st, const char *name, int64_t now_ms, int64_t free_disk_bytes,
		      int64_t free_mem_bytes, double load, struct rp_error *err)
{
	sqlite3_stmt *s;
	int ret;

	if (!name)
		return rp_error_set(err, RP_EINVAL, "%s: no worker name given", store_path(st));
	if ((ret = store__q(st, Q_WORKER_SEEN, &s, err)) < 0)
		return ret;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, now_ms ? now_ms : store__now_ms());
	sqlite3_bind_int64(s, 3, free_disk_bytes);
	sqlite3_bind_int64(s, 4, free_mem_bytes);
	sqlite3_bind_double(s, 5, load);
	ret = store__step_done(st, s, err, "cannot record a worker's state");
	if (ret == 0 && sqlite3_changes(store__handle(st)) == 0)
		ret = rp_error_set(err, RP_ENOTFOUND, "%s: no worker named '%s'", store_path(st), name);
	return ret;
}

int store_workers_list(struct store *st, struct store_worker **workers, size_t *n, struct rp_error *err)
{
	struct store_worker *list = NULL;
	size_t count = 0, cap = 0;
	sqlite3_stmt *s;
	int rc, ret;

	*workers = NULL;
	*n = 0;
	/* One statement: one snapshot. */
	if ((ret = store__q(st, Q_WORKERS_LIST, &s, err)) < 0)
		return ret;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *in[2] = {store__coltext(s, 0), store__coltext(s, 1)};
		const char *out[2];
		struct store_worker *w;

		if (count == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			struct store_worker *nl = realloc(list, ncap * sizeof(*nl));
			if (!nl) {
				ret = store__nomem(st, err);
				goto out;
			}
			list = nl;
			cap = ncap;
		}
		if (!in[0] || !store__pack(in, out, 2)) {
			ret = store__nomem(st, err);
			goto out;
		}
		w = &list[count++];
		memset(w, 0, sizeof(*w));
		w->name = out[0];
		w->targets = out[1];
		w->slots = sqlite3_column_int(s, 2);
		w->last_seen_ms = sqlite3_column_int64(s, 3);
		w->free_disk_bytes = sqlite3_column_int64(s, 4);
		w->free_mem_bytes = sqlite3_column_int64(s, 5);
		w->load = sqlite3_column_double(s, 6);
		w->running = (size_t)sqlite3_column_int64(s, 7);
	}
	if (rc != SQLITE_DONE)
		ret = store__dberr(st, err, rc, "cannot list workers");
out:
	store__done(s);
	if (ret < 0) {
		store_workers_free(list, count);
		return ret;
	}
	*workers = list;
	*n = count;
	return 0;
}

void store_workers_free(struct store_worker *workers, size_t n)
{
	for (size_t i = 0; workers && i < n; i++)
		free((char *)workers[i].name); /* the block of its strings, see store__pack */
	free(workers);
}

/* ---- statistics ------------------------------------------------------------------ */

int store_queue_stats(struct store *st, struct store_queue_stats *stats, struct rp_error *err)
{
	sqlite3_stmt *s = NULL;
	int64_t expiries = 0;
	int rc, ret;

	memset(stats, 0, sizeof(*stats));
	ret = store__begin_read(st, err);
	if (ret < 0)
		return ret;
	if ((ret = store__q(st, Q_STATS_STATES, &s, err)) < 0)
		goto out;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int state = store__job_state_of(sqlite3_column_text(s, 0));
		if (state >= 0)
			stats->by_state[state] = (size_t)sqlite3_column_int64(s, 1);
	}
	store__done(s);
	if (rc != SQLITE_DONE) {
		ret = store__dberr(st, err, rc, "cannot count jobs by state");
		goto out;
	}
	if ((ret = store__q(st, Q_STATS_PRIORITIES, &s, err)) < 0)
		goto out;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW &&
	       stats->npriorities < sizeof(stats->queued) / sizeof(stats->queued[0])) {
		stats->queued[stats->npriorities].priority = sqlite3_column_int(s, 0);
		stats->queued[stats->npriorities].ready = (size_t)sqlite3_column_int64(s, 1);
		stats->npriorities++;
	}
	store__done(s);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		ret = store__dberr(st, err, rc, "cannot count queued jobs by priority");
		goto out;
	}
	if ((ret = store__q(st, Q_STATS_EXPIRIES, &s, err)) < 0)
		goto out;
	ret = store__query_int64(st, s, &expiries, err, "cannot count lease expiries");
	stats->lease_expiries = (size_t)expiries;
out:
	ret = store__end(st, ret, err);
	if (ret < 0)
		memset(stats, 0, sizeof(*stats));
	return ret;
}

/* ---- flake checks ------------------------------------------------------------ */

int store_job_reruns_add(struct store *st, int64_t run_id, int64_t of, int count, int64_t now_ms, int64_t *ids,
			 struct rp_error *err)
{
	sqlite3_stmt *s;
	int ret;
	if (count < 1 || count > 20)
		return rp_error_set(err, RP_EINVAL, "%s: %d flake checks: expected 1 to 20", store_path(st), count);
	if ((ret = store__begin_write(st, err)) < 0)
		return ret;
	for (int i = 0; i < count && ret == 0; i++) {
		if ((ret = store__q(st, Q_RERUN_INSERT, &s, err)) < 0)
			break;
		sqlite3_bind_int64(s, 1, run_id);
		sqlite3_bind_int64(s, 2, of);
		sqlite3_bind_int64(s, 3, now_ms ? now_ms : store__now_ms());
		if ((ret = store__step_done(st, s, err, "cannot add a flake check")) < 0)
			break;
		if (sqlite3_changes(store__handle(st)) != 1) {
			ret = rp_error_set(err, RP_ENOTFOUND, "%s: no run %" PRId64 " or no keyed job %" PRId64,
					   store_path(st), run_id, of);
			break;
		}
		int64_t id = sqlite3_last_insert_rowid(store__handle(st));
		if (ids)
			ids[i] = id;
		if ((ret = store__q(st, Q_RERUN_EDGES, &s, err)) < 0)
			break;
		sqlite3_bind_int64(s, 1, id);
		sqlite3_bind_int64(s, 2, of);
		ret = store__step_done(st, s, err, "cannot give a flake check its dependencies");
	}
	if (ret == 0 && (ret = store__q(st, Q_RUN_REOPEN, &s, err)) == 0) {
		sqlite3_bind_int64(s, 1, run_id);
		ret = store__step_done(st, s, err, "cannot reopen a run for its flake checks");
	}
	return store__end(st, ret, err);
}

int store_job_find(struct store *st, int64_t run_id, const char *package, const char *target,
		   struct store_job *job, struct rp_error *err)
{
	return store_job_find_replay(st, run_id, package, target, 0, job, err);
}

int store_job_find_replay(struct store *st, int64_t run_id, const char *package, const char *target,
			  int64_t crash_id, struct store_job *job, struct rp_error *err)
{
	sqlite3_stmt *s;
	int ret;
	memset(job, 0, sizeof(*job));
	if ((ret = store__q(st, crash_id ? Q_JOB_FIND_REPLAY : Q_JOB_FIND, &s, err)) < 0)
		return ret;
	sqlite3_bind_int64(s, 1, run_id);
	sqlite3_bind_text(s, 2, package, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, target, -1, SQLITE_STATIC);
	if (crash_id)
		sqlite3_bind_int64(s, 4, crash_id);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		ret = store__read_job(st, s, job, err);
	else if (rc == SQLITE_DONE)
		ret = rp_error_set(err, RP_ENOTFOUND, "%s: run %" PRId64 " has no job of %s on %s", store_path(st),
				   run_id, package, target);
	else
		ret = store__dberr(st, err, rc, "cannot find a job of run %" PRId64, run_id);
	store__done(s);
	if (ret < 0)
		store_job_release(job);
	return ret;
}

int store_flakiness(struct store *st, struct store_flakiness **out, size_t *n, struct rp_error *err)
{
	sqlite3_stmt *s;
	size_t cap = 0;
	int rc, ret;
	*out = NULL;
	*n = 0;
	if ((ret = store__q(st, Q_FLAKINESS, &s, err)) < 0)
		return ret;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (*n == cap) {
			size_t ncap = cap ? 2 * cap : 8;
			struct store_flakiness *grown = realloc(*out, ncap * sizeof(**out));
			if (!grown) {
				ret = store__nomem(st, err);
				break;
			}
			*out = grown;
			cap = ncap;
		}
		struct store_flakiness *fl = &(*out)[*n];
		memset(fl, 0, sizeof(*fl));
		(*n)++;
		fl->keys = sqlite3_column_int64(s, 3);
		fl->flaky_keys = sqlite3_column_int64(s, 4);
		fl->runs = sqlite3_column_int64(s, 5);
		fl->failures = sqlite3_column_int64(s, 6);
		if ((ret = store__col_str(st, &fl->mem_, s, 0, &fl->package, err)) < 0 ||
		    (ret = store__col_str(st, &fl->mem_, s, 1, &fl->target, err)) < 0 ||
		    (ret = store__col_str(st, &fl->mem_, s, 2, &fl->test, err)) < 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = store__dberr(st, err, rc, "cannot measure flakiness");
	store__done(s);
	if (ret < 0) {
		store_flakiness_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return ret;
}

void store_flakiness_free(struct store_flakiness *f, size_t n)
{
	for (size_t i = 0; f && i < n; i++)
		store__mem_free(&f[i].mem_);
	free(f);
}

int store_jobs_waiting_for_key(struct store *st, const char *build_key, int64_t *ids, size_t cap, size_t *n,
			       struct rp_error *err)
{
	sqlite3_stmt *s;
	int ret, rc;
	*n = 0;
	if (!store__is_hex64(build_key))
		return rp_error_set(err, RP_EINVAL, "%s: a build key is 64 lowercase hex digits", store_path(st));
	if ((ret = store__q(st, Q_SAME_KEY_QUEUED, &s, err)) < 0)
		return ret;
	sqlite3_bind_text(s, 1, build_key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)cap);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		ids[(*n)++] = sqlite3_column_int64(s, 0);
	ret = rc == SQLITE_DONE ? 0 : store__dberr(st, err, rc, "cannot list the jobs waiting for a key");
	store__done(s);
	return ret;
}

int store_job_that_built(struct store *st, const char *build_key, struct store_job *job, struct rp_error *err)
{
	sqlite3_stmt *s;
	int ret;
	memset(job, 0, sizeof(*job));
	if ((ret = store__q(st, Q_JOB_BUILT, &s, err)) < 0)
		return ret;
	sqlite3_bind_text(s, 1, build_key, -1, SQLITE_STATIC);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		ret = store__read_job(st, s, job, err);
	else if (rc == SQLITE_DONE)
		ret = rp_error_set(err, RP_ENOTFOUND, "%s: no job ran build key %.12s", store_path(st), build_key);
	else
		ret = store__dberr(st, err, rc, "cannot find the job that ran build key %.12s", build_key);
	store__done(s);
	if (ret < 0)
		store_job_release(job);
	return ret;
}
