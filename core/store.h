/*
 * store.h — ripple's persistent state in one SQLite database: universes and
 * their packages, runs with their pinned commits, the job DAG, results, live
 * log chunks, the artifact index keyed by build key, workers, and the
 * history of measurements in round-robin archives.
 *
 * Contract:
 * - The database is in WAL mode, so readers never block the writer nor each
 *   other; every connection waits up to STORE_BUSY_TIMEOUT_MS for a lock
 *   instead of failing at once, and has foreign keys enforced.
 * - The schema is versioned by `PRAGMA user_version`. store_open() migrates to
 *   STORE_SCHEMA_LATEST unless told not to, and refuses a database written by a
 *   newer ripple (RP_ESCHEMA) or a file that is not an SQLite database (RP_EINVAL).
 * - Every function returns 0 (or a count, where it says so) or a negative RP_E*
 *   code and then fills `err` (when non-NULL) with one line naming the database
 *   file and, for database failures, SQLite's own message. Nothing here prints
 *   or exits.
 * - Every multi-row write is one transaction: it happens entirely or not at all.
 * - A `struct store` is one connection: use it from one thread at a time.
 *   Several threads or processes each open their own.
 * - Functions that write require the schema to be at STORE_SCHEMA_LATEST.
 * - Strings returned inside a struct belong to that struct and stay valid until
 *   its _release() / _free() function is called; the caller owns the struct.
 *   Strings passed in are copied; the caller keeps ownership.
 * - Times are Unix times in milliseconds; a time given as 0 means "now".
 *
 * Calling sequence:
 *
 *	struct store *st;
 *	struct rp_error err;
 *	if (store_open("ripple.db", 0, &st, &err) < 0)
 *		... report err.msg ...
 *	store_sync_universe(st, "mirage-mini", pkgs, npkgs, &universe_id, &err);
 *	store_run_create(st, &spec, &run_id, job_ids, &err);
 *	store_jobs_list(st, run_id, &jobs, &njobs, &err);
 *	...
 *	store_jobs_free(jobs, njobs);
 *	store_close(st);
 *
 * Design notes: docs/internals/store.md.
 */
#ifndef RIPPLE_CORE_STORE_H
#define RIPPLE_CORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* The newest schema this build knows; one per entry of the migration table. */
#define STORE_SCHEMA_LATEST 10

#define STORE_BUSY_TIMEOUT_MS 5000

/* The largest log chunk store_log_append() accepts in one call. */
#define STORE_LOG_CHUNK_MAX (1024 * 1024)

/* Build keys and SHA-256 digests are stored as 64 lowercase hex digits. */
#define STORE_HEX_LEN 64

/* Flags for store_open(). */
enum {
	STORE_READONLY = 1u << 0,   /* open for reading only; implies STORE_NO_MIGRATE */
	STORE_NO_MIGRATE = 1u << 1, /* leave an older schema as it is */
};

struct store;

/*
 * Opens (creating it unless STORE_READONLY) the database at `path` and, unless
 * STORE_NO_MIGRATE or STORE_READONLY, migrates it to STORE_SCHEMA_LATEST.
 * On success *out is a connection the caller owns and closes with
 * store_close(); on failure *out is NULL. Errors: RP_ESCHEMA for a newer
 * schema, RP_EINVAL for a file that is not a database, RP_EIO when the file
 * cannot be opened or created or is read-only, RP_EDB otherwise.
 */
int store_open(const char *path, unsigned flags, struct store **out, struct rp_error *err);

/* Closes the connection and frees `st`; NULL is a no-op. */
void store_close(struct store *st);

/*
 * A busy writer (the scheduler) moves WAL checkpoints out of its commits:
 * store_defer_checkpoints() stops them on this connection, and another
 * connection calls store_checkpoint() (a passive one: it never waits for
 * readers or the writer) from a timer.
 */
int store_defer_checkpoints(struct store *st, struct rp_error *err);
int store_checkpoint(struct store *st, struct rp_error *err);

/*
 * A batch makes every store call between begin and end one transaction: a
 * busy writer (the scheduler answering a request) commits once per request
 * instead of once per call. Inside it each function's own transaction is a
 * savepoint, so a function that fails still undoes only its own writes.
 * Batches nest (only the outermost commits); store_batch_end() commits when
 * `ok`, else rolls the whole batch back.
 */
int store_batch_begin(struct store *st, struct rp_error *err);
int store_batch_end(struct store *st, int ok, struct rp_error *err);

/*
 * A part of the open batch (or, outside one, a transaction of its own) that
 * several store calls make together and that is undone alone: end it with
 * `ok` 0 and their writes are rolled back, the batch's others kept.
 */
int store_part_begin(struct store *st, struct rp_error *err);
int store_part_end(struct store *st, int ok, struct rp_error *err);

/* The path `st` was opened with, owned by `st`. */
const char *store_path(const struct store *st);

/* Returns the database's schema version (>= 0), or a negative RP_E* code. */
int store_schema_version(struct store *st, struct rp_error *err);

/*
 * Applies the migrations that bring the schema from its current version up to
 * `target` (1..STORE_SCHEMA_LATEST), each in its own transaction, so an
 * interruption leaves the database at the last completed version. A target at
 * or below the current version is a no-op; there are no downgrades.
 * Returns 0, RP_ERANGE for a target out of range, RP_ESCHEMA when the database
 * is newer than this build, RP_EINVAL on a read-only connection.
 */
int store_migrate(struct store *st, int target, struct rp_error *err);

/*
 * The schema as SQLite holds it, one "type name: sql" line per object in a
 * fixed order, for comparing two databases. *out is malloc'd; the caller frees it.
 */
int store_schema_sql(struct store *st, char **out, struct rp_error *err);

struct store_table_count {
	const char *table; /* static */
	int64_t rows;	   /* -1 when the table does not exist at this schema version */
};

/*
 * Counts the rows of every table, all from one snapshot, so the counts are
 * consistent with each other. *counts is malloc'd (*n entries, the tables in
 * a fixed order); the caller frees it with free().
 */
int store_count_rows(struct store *st, struct store_table_count **counts, size_t *n, struct rp_error *err);

struct store_check_report {
	int version;	       /* schema version found */
	int latest;	       /* STORE_SCHEMA_LATEST */
	int ok;		       /* 1 when everything below passed */
	int version_ok;	       /* version == latest */
	int integrity_ok;      /* PRAGMA integrity_check said "ok" */
	int foreign_keys_ok;   /* PRAGMA foreign_key_check found nothing */
	const char **problems; /* human lines, one per problem found, at most STORE_CHECK_MAX_PROBLEMS */
	size_t nproblems;
	struct store_table_count *counts; /* NULL when a damaged table could not be counted */
	size_t ncounts;
	void *mem_; /* private: owns the strings above */
};

#define STORE_CHECK_MAX_PROBLEMS 100

/*
 * Checks the database: its schema version against STORE_SCHEMA_LATEST,
 * `PRAGMA integrity_check`, `PRAGMA foreign_key_check`, and counts the rows.
 * Returns 0 when the check ran, whatever it found (see rep->ok), or a negative
 * code when it could not run. The caller owns *rep and releases it with
 * store_check_report_release(), also after a failure.
 */
int store_check(struct store *st, struct store_check_report *rep, struct rp_error *err);
void store_check_report_release(struct store_check_report *rep);

/* ---- universes ---------------------------------------------------------- */

struct store_package_row {
	const char *name;
	const char *repo;
	const char *branch;
	int position; /* the package's index in the manifest, for stable display */
};

/*
 * Creates the universe `name` or updates it, and makes its package rows
 * exactly `pkgs`: rows are matched by package name (so their ids are stable),
 * updated, added, and those no longer listed are deleted; all in one
 * transaction. *universe_id (when non-NULL) receives the universe's id.
 * Returns 0, or RP_EINVAL for an empty or duplicate name.
 */
int store_sync_universe(struct store *st, const char *name, const struct store_package_row *pkgs,
			size_t npkgs, int64_t *universe_id, struct rp_error *err);

/* ---- runs and jobs ------------------------------------------------------- */

enum store_run_kind {
	STORE_RUN_PR,
	STORE_RUN_NIGHTLY,
	STORE_RUN_BISECT,
	STORE_RUN_MANUAL,
	STORE_RUN_FUZZ,
};

enum store_run_state {
	STORE_RUN_QUEUED,
	STORE_RUN_RUNNING,
	STORE_RUN_DONE,
	STORE_RUN_CANCELLED,
};

enum store_job_state {
	STORE_JOB_QUEUED,
	STORE_JOB_LEASED,
	STORE_JOB_RUNNING,
	STORE_JOB_DONE,
	STORE_JOB_CANCELLED,
};

enum store_result_status {
	STORE_RESULT_PASS,
	STORE_RESULT_FAIL,
	STORE_RESULT_SKIPPED,
	STORE_RESULT_ERROR,
	STORE_RESULT_TIMEOUT,
	STORE_RESULT_CANCELLED,
};

/* The names used in the database and in JSON ("pr", "queued", ...); static. */
const char *store_run_kind_name(enum store_run_kind kind);
const char *store_run_state_name(enum store_run_state state);
const char *store_job_state_name(enum store_job_state state);
const char *store_result_status_name(enum store_result_status status);

/* A package pinned at a commit. */
struct store_pin {
	const char *package;
	const char *commit;
};

struct store_job_spec {
	const char *package;
	const char *target;
	const char *commit;
	const char *build_key; /* 64 hex digits, or NULL until the dependencies' outputs are known */
	const char *tree_id;   /* the commit's git tree (40 hex digits), or NULL when unknown */
	const char *variant;   /* "build" (NULL means it too), "coverage" or "fuzz" */
	int64_t fuzz_crash;    /* a fuzz job that replays this crash's reproducer (fuzz_crashes.id); 0: it fuzzes */
};

/* Job `job` starts after job `dep`; both are indexes into the spec's jobs[]. */
struct store_edge {
	size_t job;
	size_t dep;
};

struct store_run_spec {
	const char *universe; /* name of a universe already synced */
	enum store_run_kind kind;
	int priority;			  /* higher is served first; the jobs inherit it */
	const char *title;		  /* one human line, or NULL */
	const char *change_ref;		  /* what caused the run ("github:owner/repo#12"), or NULL */
	const struct store_pin *baseline; /* the commit of every package */
	size_t nbaseline;
	const struct store_pin *change; /* the commits under test, overriding the baseline */
	size_t nchange;
	/*
	 * In topological order: every edge has dep < job. That makes the DAG
	 * acyclic by construction, and the planner emits this order anyway.
	 */
	const struct store_job_spec *jobs;
	size_t njobs;
	const struct store_edge *edges;
	size_t nedges;
	int64_t created_ms;
	const char *request_id; /* the submitter's idempotency id, unique among runs; or NULL */
};

/*
 * Creates a queued run with its pins, jobs and edges, in one transaction.
 * *run_id receives the run's id and job_ids (when non-NULL, room for njobs)
 * the id of each job, in the order of spec->jobs. Each job starts queued, at
 * attempt 0, with its count of unfinished dependencies set from the edges.
 * Returns 0, RP_ENOTFOUND for an unknown universe, RP_EINVAL for a bad spec
 * (missing field, edge out of order, duplicate edge or pin, bad build key),
 * RP_EEXISTS when a run with the same request_id exists (nothing is written).
 */
int store_run_create(struct store *st, const struct store_run_spec *spec, int64_t *run_id, int64_t *job_ids,
		     struct rp_error *err);

struct store_run {
	int64_t id;
	const char *universe;
	enum store_run_kind kind;
	int priority;
	enum store_run_state state;
	const char *title;	    /* NULL when none */
	const char *change_ref;	    /* NULL when none */
	struct store_pin *baseline; /* sorted by package */
	size_t nbaseline;
	struct store_pin *change; /* sorted by package */
	size_t nchange;
	int64_t created_ms;
	int64_t finished_ms; /* 0 while unfinished */
	void *mem_;	     /* private: owns the strings and arrays above */
};

/*
 * Reads run `id` into *run, which the caller owns and releases with
 * store_run_release() (also safe after a failure). Returns 0 or RP_ENOTFOUND.
 */
int store_run_get(struct store *st, int64_t id, struct store_run *run, struct rp_error *err);
void store_run_release(struct store_run *run);

struct store_job {
	int64_t id;
	int64_t run_id;
	const char *package;
	const char *target;
	const char *commit;
	const char *build_key; /* NULL until known */
	int priority;
	enum store_job_state state;
	int deps_left; /* dependencies not yet finished */
	int attempt;
	const char *lease_owner;  /* worker name while leased or running, else NULL */
	int64_t lease_expires_ms; /* 0 when not leased */
	int64_t fence;		  /* fencing token of the latest lease */
	int64_t created_ms;
	int64_t started_ms;  /* 0 until started */
	int64_t finished_ms; /* 0 until finished */
	int64_t *deps;	     /* ids of the jobs this one waits for, ascending */
	size_t ndeps;
	/* Since schema 5: */
	const char *tree_id;	  /* NULL when unknown */
	int has_status;		  /* 1 once the job ended (state done or cancelled) */
	enum store_result_status status; /* the final result; valid when has_status */
	int cached;		  /* answered from the build cache, not run */
	int cancel_requested;	  /* its run was cancelled while it was leased */
	const char *output_hash;  /* the output of a finished build, NULL when none */
	const char *failed_step;  /* "build", "test" or NULL */
	const char *category;	  /* of a failure; NULL when none */
	const char *first_error;  /* NULL when none */
	const char *worker;	  /* who ran the final attempt; NULL when nobody did */
	int64_t duration_ms;
	int64_t cause_id;	  /* skipped: the job whose failure it cascades from; else 0 */
	int64_t build_ms, test_ms; /* the steps' own times as the worker measured them; 0 when unknown */
	int64_t rerun_of;	   /* a flake check: the job it runs again (same key, never cached); else 0 */
	const char *failed_test;   /* a test failure: the test its first error line names; NULL when none */
	/* Since schema 9: "build", or "coverage" for a package's coverage build (a static string). */
	const char *variant;
	/* Since schema 10: variant "fuzz" (a static string); a crash's replay: the crash's id, else 0. */
	int64_t fuzz_crash;
	void *mem_; /* private */
};

/*
 * Lists the jobs of run `run_id`, ordered by id, each with its dependencies,
 * from one snapshot. *jobs is an array of *njobs the caller owns and frees
 * with store_jobs_free(). An unknown run gives RP_ENOTFOUND; a run without
 * jobs gives 0 with *jobs NULL and *njobs 0.
 */
int store_jobs_list(struct store *st, int64_t run_id, struct store_job **jobs, size_t *njobs,
		    struct rp_error *err);
void store_jobs_free(struct store_job *jobs, size_t njobs);

/* ---- the queue ------------------------------------------------------------ */
/*
 * The job life cycle the scheduler drives (docs/api.md says what workers see):
 * a job is `queued` with deps_left > 0 until each of its dependencies ended;
 * then the scheduler computes its build key (store_jobs_unkeyed,
 * store_job_set_key) and either answers it from the build cache or skips it
 * (store_job_finish without a worker), or lets a worker lease it
 * (store_job_lease: `leased`, fence + 1), renew it (store_job_heartbeat) and
 * end it (store_job_finish with the lease's worker and fence). A lease that
 * is not renewed expires (store_leases_expire): the job is queued again with
 * attempt + 1, or ends as `error` after max_attempts. Every call about a lease
 * checks the worker and the fence, so nothing from a stale lease is stored.
 */

/* The run created with `request_id` (RP_ENOTFOUND when none). */
int store_run_find_request(struct store *st, const char *request_id, int64_t *run_id, struct rp_error *err);

/* Reads job `id` with its dependencies into *job (release with store_job_release). RP_ENOTFOUND. */
int store_job_get(struct store *st, int64_t id, struct store_job *job, struct rp_error *err);
void store_job_release(struct store_job *job);

/*
 * Ids of up to `cap` jobs that are queued, have every dependency ended
 * (deps_left 0) and no build key yet, ascending; *n receives the count.
 */
int store_jobs_unkeyed(struct store *st, int64_t *ids, size_t cap, size_t *n, struct rp_error *err);

/* Sets the key of a queued job that has none; RP_ECONFLICT otherwise, RP_EINVAL for a malformed key. */
int store_job_set_key(struct store *st, int64_t id, const char *build_key, struct rp_error *err);

struct store_job_result {
	enum store_result_status status;
	int cached;		 /* answered from the build cache */
	const char *worker;	 /* the lease's worker; NULL for what the scheduler decides itself */
	int64_t fence;		 /* the lease's fencing token (ignored without a worker) */
	const char *failed_step; /* "build", "test" or NULL */
	const char *category, *first_error;
	const char *output_hash; /* 64 hex digits, NULL when the build produced no output */
	int64_t duration_ms;
	int64_t cause_id; /* skipped: the root failure's job; else 0 */
	int64_t now_ms;
	int64_t build_ms, test_ms; /* each step's own time; 0 when unknown */
	const char *failed_test;   /* a test failure: the test it names (at most 127 bytes); NULL: none */
};

/*
 * Ends the current attempt of job `id` with `res`, in one transaction:
 * - With res->worker: the job must be leased (or running) by that worker
 *   under that fence, else RP_ECONFLICT and nothing is written; except that
 *   posting again exactly the result already stored for that worker and fence
 *   returns 0 (a retried upload).
 * - Without a worker (cached, skipped, cancelled, error decided by the
 *   scheduler): the job must be queued, else RP_ECONFLICT.
 * A results row is written for the attempt. Status `error` while
 * attempt + 1 < max_attempts queues the job again with attempt + 1 (lease
 * cleared) and sets *requeued (when non-NULL) to 1. Otherwise the job ends:
 * state `done` (`cancelled` for a cancelled result), its status and result
 * columns set, lease cleared; a pass or fail that was built (not cached) and
 * has a build key is recorded in the build cache (store_build_put semantics);
 * every dependent's deps_left drops by one, and when the job has no output
 * (output_hash NULL) every queued dependent ends `skipped` with cause_id the
 * root failure (this job, or its own cause when it was skipped), transitively.
 * When no job of the run is left unfinished the run becomes `done` (or stays
 * `cancelled`) with finished_ms set.
 */
int store_job_finish(struct store *st, int64_t id, const struct store_job_result *res, int max_attempts,
		     int *requeued, struct rp_error *err);

struct store_lease_request {
	const char *worker;
	const char *const *targets; /* the targets the worker serves */
	size_t ntargets;
	int64_t now_ms;
	int64_t lease_ms; /* the lease's length */
};

/*
 * Leases the next job a worker may run: queued, deps_left 0, a build key
 * set that no other job is building (flake checks excepted), its target
 * among req->targets, its run not cancelled; highest priority
 * first, then the universe with the fewest leased jobs (fairness), then the
 * oldest run; within that run, among its four oldest ready jobs, the one with
 * the most dependencies this worker built plus one when it built the same
 * package before (cache affinity: it holds those artifacts and that mirror),
 * then the oldest. The job becomes `leased` by req->worker until now + lease_ms, its
 * fence is increased, started_ms set, and its run becomes `running`. *job
 * receives it (release with store_job_release). RP_ENOTFOUND when no job is
 * ready.
 */
int store_job_lease(struct store *st, const struct store_lease_request *req, struct store_job *job,
		    struct rp_error *err);

/*
 * Renews the lease of job `id` to now + lease_ms. *expires_ms receives the
 * new expiry and *cancel 1 when the job's run was cancelled (the worker must
 * stop it and post a cancelled result). RP_ECONFLICT when the job is not
 * leased by `worker` under `fence` (expired and requeued, or ended).
 */
int store_job_heartbeat(struct store *st, int64_t id, const char *worker, int64_t fence, int64_t now_ms,
			int64_t lease_ms, int64_t *expires_ms, int *cancel, struct rp_error *err);

/*
 * Ends every lease that expired before now_ms: a results row `error`
 * ("lease expired on WORKER") for the attempt, then as store_job_finish does
 * for an error (queued again, or ended after max_attempts with its
 * dependents skipped). *n_expired receives the count.
 */
int store_leases_expire(struct store *st, int64_t now_ms, int max_attempts, size_t *n_expired,
			struct rp_error *err);

/*
 * Cancels run `run_id`: its queued jobs end `cancelled`, its leased jobs get
 * cancel_requested (the worker learns it on its next heartbeat), and the run's
 * state becomes `cancelled` (finished_ms set once no job is leased). A
 * finished run is left as it is (0, zero counts). RP_ENOTFOUND.
 */
int store_run_cancel(struct store *st, int64_t run_id, int64_t now_ms, size_t *n_queued, size_t *n_running,
		     struct rp_error *err);

/*
 * The newest run of `kind` that is done, with an id below `before_id` (0: any):
 * the baseline of pull requests, the nightly a nightly is compared with.
 * RP_ENOTFOUND when there is none.
 */
int store_run_latest_done(struct store *st, enum store_run_kind kind, int64_t before_id, int64_t *run_id,
			  struct rp_error *err);

/*
 * Adds `count` flake checks of job `of` to run `run_id`: new jobs with the
 * same package, target, commit, tree and build key, the same dependencies
 * (edges to the jobs `of` waits for, which may be another run's), ready at
 * once and never answered from the cache; their rerun_of is `of`. A run
 * that had ended is running again. Their ids go to ids[0..count-1] when ids
 * is not NULL. RP_ENOTFOUND for an unknown job or run, RP_EINVAL for a job
 * without a build key or a count outside 1..20.
 */
int store_job_reruns_add(struct store *st, int64_t run_id, int64_t of, int count, int64_t now_ms, int64_t *ids,
			 struct rp_error *err);

/*
 * A build key is built once: store_job_lease() passes over a job whose key
 * another job (not a flake check) is building. The queued jobs, flake checks
 * aside, that have `build_key` — those waiting for it — up to `cap`, oldest
 * first, for the caller to answer from the build cache once it ended.
 */
int store_jobs_waiting_for_key(struct store *st, const char *build_key, int64_t *ids, size_t cap, size_t *n,
			       struct rp_error *err);

/*
 * The newest job that ran `build_key` itself (not answered from the cache)
 * and ended pass or fail: where the log of a key's result is. RP_ENOTFOUND.
 */
int store_job_that_built(struct store *st, const char *build_key, struct store_job *job, struct rp_error *err);

/* The newest plain build job (variant "build") of (package, target) in run `run_id`, not a flake check; RP_ENOTFOUND when none. */
int store_job_find(struct store *st, int64_t run_id, const char *package, const char *target,
		   struct store_job *job, struct rp_error *err);
/* As store_job_find(), but the job of variant fuzz that replays crash `crash_id` (0: the plain build). */
int store_job_find_replay(struct store *st, int64_t run_id, const char *package, const char *target,
			  int64_t crash_id, struct store_job *job, struct rp_error *err);

/*
 * The flakiness of each (package, target, test) from every run: among the
 * build keys that ran more than once (flake checks) and failed at least once
 * naming that test (the failure's failed_test, "" when it named none), how
 * many also passed. Sorted by package, target and test.
 */
struct store_flakiness {
	const char *package, *target, *test;
	int64_t keys;	    /* build keys run more than once that failed on this test */
	int64_t flaky_keys; /* of them, those that also passed */
	int64_t runs;	    /* runs of those keys */
	int64_t failures;   /* of them, failures on this test */
	void *mem_;
};
int store_flakiness(struct store *st, struct store_flakiness **out, size_t *n, struct rp_error *err);
void store_flakiness_free(struct store_flakiness *f, size_t n);

/*
 * Every job `id` waits for, directly or transitively, by ascending id; the
 * caller frees *deps with store_jobs_free(*deps, *n).
 */
int store_job_deps(struct store *st, int64_t id, struct store_job **deps, size_t *n, struct rp_error *err);

/* Ids of the unfinished runs (queued or running) with `change_ref`, ascending; *ids malloc'd. */
int store_runs_active_by_ref(struct store *st, const char *change_ref, int64_t **ids, size_t *n,
			     struct rp_error *err);

struct store_run_summary {
	int64_t id;
	const char *universe;
	enum store_run_kind kind;
	enum store_run_state state;
	const char *title, *change_ref; /* NULL when none */
	int64_t created_ms, finished_ms;
	size_t njobs;
	size_t by_status[STORE_RESULT_CANCELLED + 1]; /* ended jobs by result */
	size_t cached;				      /* of them, answered from the cache */
	size_t queued, leased;			      /* unfinished jobs */
};

/*
 * Up to `limit` runs, newest first, with an id below `before_id` (0: from
 * the newest). *runs is an array of *n the caller frees with store_runs_free().
 */
int store_runs_list(struct store *st, int64_t before_id, size_t limit, struct store_run_summary **runs, size_t *n,
		    struct rp_error *err);
void store_runs_free(struct store_run_summary *runs, size_t n);

/* ---- workers ------------------------------------------------------------- */

/*
 * Records worker `name` (creating or updating its row): the SHA-256 of its
 * token as 64 hex digits, its targets joined by commas, its slots.
 */
int store_worker_register(struct store *st, const char *name, const char *token_hash, const char *targets,
			  int slots, int64_t now_ms, struct rp_error *err);

/* A heartbeat or lease call from `name`: last seen, free disk and memory, load. RP_ENOTFOUND. */
int store_worker_seen(struct store *st, const char *name, int64_t now_ms, int64_t free_disk_bytes,
		      int64_t free_mem_bytes, double load, struct rp_error *err);

struct store_worker {
	const char *name, *targets;
	int slots;
	int64_t last_seen_ms, free_disk_bytes, free_mem_bytes;
	double load;
	size_t running; /* jobs leased to it now */
};

/* Every worker by name; *workers freed with store_workers_free(). */
int store_workers_list(struct store *st, struct store_worker **workers, size_t *n, struct rp_error *err);
void store_workers_free(struct store_worker *workers, size_t n);

struct store_queue_stats {
	size_t by_state[STORE_JOB_CANCELLED + 1]; /* every job, by state */
	struct {
		int priority;
		size_t ready; /* queued with deps_left 0 */
	} queued[8];	      /* by priority, highest first */
	size_t npriorities;
	size_t lease_expiries; /* results rows written by store_leases_expire, ever */
};

int store_queue_stats(struct store *st, struct store_queue_stats *stats, struct rp_error *err);

/* ---- logs ---------------------------------------------------------------- */

/*
 * Appends `len` bytes (at most STORE_LOG_CHUNK_MAX) at byte `offset` of the
 * log of attempt `attempt` of job `job_id`. Uploads are retried by workers,
 * so this is idempotent: bytes already stored are compared, not stored again,
 * and only the part past the current end is appended; a chunk overlapping the
 * end is fine. *size (when non-NULL) receives the log's size afterwards.
 * Returns 0, RP_ERANGE when `offset` is past the end (a gap: the worker must
 * resend from *size), RP_EEXISTS when the bytes differ from those stored,
 * RP_ENOTFOUND for an unknown job.
 */
int store_log_append(struct store *st, int64_t job_id, int attempt, int64_t offset, const void *data,
		     size_t len, int64_t *size, struct rp_error *err);

/* The size in bytes of a log; 0 for a log with nothing yet. */
int store_log_size(struct store *st, int64_t job_id, int attempt, int64_t *size, struct rp_error *err);

/*
 * Copies up to `cap` bytes of a log from byte `offset` into `buf` (owned by
 * the caller); *n receives the count, 0 at or past the end.
 */
int store_log_read(struct store *st, int64_t job_id, int attempt, int64_t offset, void *buf, size_t cap,
		   size_t *n, struct rp_error *err);

/* ---- artifacts ----------------------------------------------------------- */

/* One stored output of a build: "prefix", "coverage", "abi", "crash-…". */
struct store_artifact {
	const char *build_key; /* 64 lowercase hex digits */
	const char *name;
	int64_t size;
	const char *sha256;   /* 64 lowercase hex digits of the content */
	const char *location; /* where the bytes are: a path under the blob root or a URL */
	int64_t created_ms;
	void *mem_; /* private; NULL in what callers pass in */
};

/*
 * Records an artifact. The same build key always means the same output, so
 * putting an artifact already recorded with the same sha256 and size is a
 * no-op returning 0 (the first location is kept), and with different content
 * it is refused with RP_EEXISTS. RP_EINVAL for malformed fields.
 */
int store_artifact_put(struct store *st, const struct store_artifact *a, struct rp_error *err);

/*
 * Records an artifact in place of the one recorded under the same key and
 * name, as long as no build is recorded under that key: an upload whose
 * result never came (the worker died, its lease expired) must not block the
 * next attempt of a build that is not bit-for-bit reproducible. RP_EEXISTS
 * once the build is recorded; RP_EINVAL for malformed fields.
 */
int store_artifact_replace(struct store *st, const struct store_artifact *a, struct rp_error *err);

/*
 * Reads the artifact `name` of `build_key` into *a, which the caller owns and
 * releases with store_artifact_release() (also safe after a failure).
 * Returns 0 or RP_ENOTFOUND.
 */
int store_artifact_get(struct store *st, const char *build_key, const char *name, struct store_artifact *a,
		       struct rp_error *err);
void store_artifact_release(struct store_artifact *a);

/* ---- the build cache ------------------------------------------------------- */

/*
 * A finished build, by build key. status is "pass" or "fail"; failed_step is
 * NULL for a pass, else "build" or "test"; output_hash (the content hash of the
 * install prefix) is NULL only when the build step failed. Strings are owned as
 * for artifacts.
 */
struct store_build {
	const char *build_key, *package, *target, *commit_id, *status, *failed_step;
	const char *category, *first_error, *output_hash, *log_location;
	int64_t duration_ms, created_ms;
	void *mem_;
};

/*
 * Records a build. A key already recorded keeps its first result (the same
 * key means the same inputs), and recording it again is not an error.
 */
int store_build_put(struct store *st, const struct store_build *b, struct rp_error *err);

/* Reads the build of `build_key` into *b (RP_ENOTFOUND when never built). */
int store_build_get(struct store *st, const char *build_key, struct store_build *b, struct rp_error *err);
void store_build_release(struct store_build *b);

/*
 * The duration of the latest recorded build of `package` on `target`, for
 * estimates; RP_ENOTFOUND when it was never built.
 */
int store_build_last_duration(struct store *st, const char *package, const char *target, int64_t *duration_ms,
			      struct rp_error *err);

/* ---- history in constant space ------------------------------------------- */
/*
 * Trends per (package, target, metric): build and test times, artifact
 * sizes, coverage, and what tests print as RIPPLE-METRIC lines. Each series
 * keeps round-robin archives at three resolutions: UTC days, weeks starting
 * on Monday, calendar months (UTC). A point is one bucket of one resolution
 * and holds the count, sum, minimum and maximum of the samples that fell in
 * it; recording a sample updates the bucket holding its time at every
 * resolution and, when that opened a new bucket, deletes the oldest buckets
 * past the limit. So a series never holds more than daily + weekly + monthly
 * points, however old the project. Design notes: docs/internals/history.md.
 *
 * Calling sequence (the scheduler, once per finished job):
 *
 *	struct store_history_sample s[] = {
 *		{"tcpip", "unix", "build_time", "ms", 81234, 0},
 *		{"tcpip", "unix", "iperf", "Gbit/s", 9.4, 0},
 *	};
 *	struct store_history_limits lim = {cfg->history_daily, cfg->history_weekly,
 *					   cfg->history_monthly};
 *	store_history_record(st, s, 2, &lim, &err);
 *	...
 *	store_history_get(st, "tcpip", "unix", NULL, "day", &series, &n, &err);
 *	store_history_series_free(series, n);
 */

/* Points kept per series and resolution when the caller gives no limits (scheduler/config.h). */
#define STORE_HISTORY_DAILY 60
#define STORE_HISTORY_WEEKLY 52
#define STORE_HISTORY_MONTHLY 36

/* A metric name is 1 to STORE_HISTORY_METRIC_MAX characters of [A-Za-z0-9_.-]. */
#define STORE_HISTORY_METRIC_MAX 64
/* A unit is at most STORE_HISTORY_UNIT_MAX printable ASCII characters, no spaces. */
#define STORE_HISTORY_UNIT_MAX 16

struct store_history_sample {
	const char *package, *target; /* non-empty */
	const char *metric;
	const char *unit; /* NULL or "" for none */
	double value;	  /* finite */
	int64_t time_ms;  /* 0: now; else from 0 (1970) to the end of year 9999 */
};

/* How many of the newest buckets each series keeps per resolution; each >= 1. */
struct store_history_limits {
	int daily, weekly, monthly;
};

/*
 * Records `n` samples in one transaction: a sample adds itself (n + 1,
 * sum + value, min, max, last_ms) to the day, week and month bucket holding
 * its time, creating the series and the buckets on first use; then, for
 * each bucket it created, keeps only the newest limits->daily (weekly,
 * monthly) buckets of that series and resolution. A sample older than every
 * kept bucket of a full resolution is therefore dropped there. The unit a
 * series shows is the last non-empty one recorded. Each sample costs a
 * fixed number of row operations. `limits` NULL means the STORE_HISTORY_*
 * defaults. Returns 0, or RP_EINVAL (nothing written) for a missing package
 * or target, a malformed metric name or unit, a value that is not finite, a
 * time out of range or a limit below 1, the message naming the sample.
 */
int store_history_record(struct store *st, const struct store_history_sample *samples, size_t n,
			 const struct store_history_limits *limits, struct rp_error *err);

struct store_history_point {
	int64_t start_ms; /* the bucket's first millisecond (00:00 UTC of its day, Monday, 1st) */
	int64_t last_ms;  /* the time of its newest sample */
	int64_t n;	  /* samples merged, >= 1 */
	double sum, min, avg, max;
};

struct store_history_series {
	const char *package, *target, *metric;
	const char *unit;		    /* "" when none */
	struct store_history_point *points; /* oldest first */
	size_t npoints;
	void *mem_; /* private: owns the strings and the points */
};

/*
 * The series of `package` on `target` (NULL: every target) named `metric`
 * (NULL: every metric), with their points at `resolution` ("day", "week" or
 * "month"), ordered by target then metric, from one snapshot. *out is an
 * array of *nout the caller frees with store_history_series_free(); a
 * package without history gives 0 with *out NULL and *nout 0. RP_EINVAL for
 * an unknown resolution or a missing package.
 */
int store_history_get(struct store *st, const char *package, const char *target, const char *metric,
		      const char *resolution, struct store_history_series **out, size_t *nout,
		      struct rp_error *err);
void store_history_series_free(struct store_history_series *series, size_t n);

/* How many series and points the store holds (either pointer may be NULL), from one snapshot. */
int store_history_count(struct store *st, int64_t *series, int64_t *points, struct rp_error *err);

/* ---- what is owed to the outside world (core/store_report.c) ---------------- */

/*
 * A run that owes a report. With `forge` ("github", "gitlab", "gitea") it is
 * a pull request's run: commit statuses on `head` of `repo`'s PR `number`
 * and the PR's comment. Without, it is a run whose end fires notifications
 * (a nightly). Recorded once per run: adding it again changes nothing.
 */
struct store_report_spec {
	int64_t run_id;
	const char *forge, *repo, *head; /* NULL forge: no forge report */
	int64_t number;
	int64_t created_ms;
};

int store_report_add(struct store *st, const struct store_report_spec *spec, struct rp_error *err);

/* A report that is due, with its run's state; strings owned by mem_. */
struct store_report {
	int64_t run_id;
	const char *forge, *repo, *head, *change_ref; /* forge, repo, head NULL for a notification run */
	int64_t number;
	const char *sent;    /* what was done last: NULL, "pending", "recorded" (a nightly's history), "final", "cancelled" */
	int attempts;	     /* failed deliveries since the last good one */
	int run_state;	     /* enum store_run_state */
	int run_kind;	     /* enum store_run_kind */
	void *mem_;
};

/*
 * Up to `max` reports that have something to send at `now_ms`: never sent
 * anything, or their run ended since; retries only once their next try is
 * due. Oldest due first. Free with store_reports_free().
 */
int store_reports_due(struct store *st, int64_t now_ms, size_t max, struct store_report **out, size_t *n,
		      struct rp_error *err);
void store_reports_free(struct store_report *r, size_t n);

/* Records that `sent` was delivered; `done` when nothing more is owed. */
int store_report_sent(struct store *st, int64_t run_id, const char *sent, int done, struct rp_error *err);

/* Records a failed delivery: try again at `next_ms`, or never (`give_up`), remembering `why`. */
int store_report_retry(struct store *st, int64_t run_id, int64_t next_ms, const char *why, int give_up,
		       struct rp_error *err);

/* ripple's comment on a PR ("FORGE:OWNER/REPO#N"): its id, 0 when none is known yet. */
int store_pr_comment_get(struct store *st, const char *change_ref, int64_t *comment_id, struct rp_error *err);
int store_pr_comment_put(struct store *st, const char *change_ref, int64_t comment_id, struct rp_error *err);

/* An outgoing JSON webhook of a package (manifest "notify"), owed until delivered. */
struct store_notification {
	int64_t id;	    /* set by the store */
	int64_t run_id;
	const char *package, *url, *payload, *delivery; /* delivery: unique, sent as X-Ripple-Delivery */
	int attempts;
	int64_t created_ms;
	void *mem_;
};

/* Records a notification; one per (run, package): a second is ignored. */
int store_notification_add(struct store *st, const struct store_notification *nt, struct rp_error *err);

/* Up to `max` notifications due at `now_ms`, oldest first; free with store_notifications_free(). */
int store_notifications_due(struct store *st, int64_t now_ms, size_t max, struct store_notification **out,
			    size_t *n, struct rp_error *err);
void store_notifications_free(struct store_notification *nt, size_t n);

/* Ends a notification: delivered, or given up on with `why`. */
int store_notification_done(struct store *st, int64_t id, int delivered, const char *why, struct rp_error *err);
int store_notification_retry(struct store *st, int64_t id, int64_t next_ms, const char *why,
			     struct rp_error *err);

/*
 * A metric of a nightly's job that fell past the threshold against its
 * history (scheduler/history.h): reported like a broken build. One per
 * (run, job, metric); recording it again replaces it.
 */
struct store_metric_drop {
	int64_t run_id, job_id;
	const char *package, *target, *metric, *unit;
	double value, baseline, change; /* change: (value - baseline) / |baseline| */
	void *mem_;
};

int store_metric_drop_add(struct store *st, const struct store_metric_drop *d, struct rp_error *err);
/* The drops of run `run_id` by package, target and metric; free with store_metric_drops_free(). */
int store_metric_drops(struct store *st, int64_t run_id, struct store_metric_drop **out, size_t *n,
		       struct rp_error *err);
void store_metric_drops_free(struct store_metric_drop *d, size_t n);

/*
 * Retention, a bounded step of it (the scheduler calls it now and then): of
 * the runs that finished before runs_before_ms (0: none), up to max_runs are
 * deleted with all they hold (jobs, results, logs, reports), except the
 * latest done nightly, every pull request's baseline; then the log chunks of
 * up to max_runs runs that finished before logs_before_ms (0: none) are
 * deleted and the runs marked, their jobs and results kept. The build cache,
 * artifacts and history are not touched. *logs_deleted and *runs_deleted
 * count runs; fewer than max_runs means there is nothing older left.
 */
int store_retention(struct store *st, int64_t now_ms, int64_t logs_before_ms, int64_t runs_before_ms, size_t max_runs,
		    size_t *logs_deleted, size_t *runs_deleted, struct rp_error *err);

/* How many reports and notifications are still owed. */
int store_outbox_pending(struct store *st, int64_t *reports, int64_t *notifications, struct rp_error *err);

/* ---- automatic bisection (core/store_bisect.c) ----------------------------------- */

/*
 * A regression the scheduler bisects on its own (scheduler/autobisect.h): a
 * (package, target) that a nightly newly broke, or that a pull request's run
 * regressed, searched between the pins of `good_run_id` (the nightly before)
 * and those of `run_id`. Its probes are runs of kind bisect whose change_ref
 * is "bisect:ID"; the driver keeps its progress in `detail` (JSON text) and
 * its conclusion in the other columns. A bisection goes with its run.
 */
struct store_bisect_spec {
	const char *package, *target;
	int64_t good_run_id;
	int64_t crash_id; /* a fuzz crash to bisect (fuzz_crashes.id, since schema 10); 0: a regression */
};

struct store_bisect {
	int64_t id, run_id, good_run_id; /* good_run_id 0 once that run was deleted */
	const char *package, *target;
	int done;		 /* 0 while its probes run */
	const char *verdict;	 /* NULL while running; "culprit", "only-skipped", "flaky", "interaction",
				    "unchanged", "not-reproduced", "error" */
	const char *repository;	 /* the package whose repository holds the culprit, or NULL */
	const char *culprit;	 /* commit id (40 hex), or NULL */
	const char *parent;	 /* the culprit's first parent, or NULL */
	const char *author;	 /* "Name <email>", or NULL */
	int64_t author_time;	 /* Unix seconds, 0 when unknown */
	const char *subject;	 /* the culprit's subject line, or NULL */
	const char *summary;	 /* one line a person reads, or NULL */
	const char *detail;	 /* JSON text, or NULL */
	const char *excerpt;	 /* the culprit's failure: first error line and the log around it, or NULL */
	int64_t culprit_job;	 /* the job that showed the culprit failing, 0 when none */
	int64_t probes, rounds;
	int64_t created_ms, finished_ms; /* finished_ms 0 while running */
	int64_t crash_id; /* since schema 10: the fuzz crash searched for (its probes replay it); 0: a regression */
	void *mem_;
};

/*
 * Up to `cap` runs, oldest first, of kind nightly or pr that ended (done or
 * cancelled) and whose bisections were not planned yet. Runs that existed
 * before schema 8 count as planned.
 */
int store_bisect_unplanned_runs(struct store *st, int64_t *ids, size_t cap, size_t *n, struct rp_error *err);

/*
 * Records the bisections run `run_id` needs (n may be 0) and marks the run
 * planned, in one transaction. A (run, package, target) recorded before is
 * left as it is. RP_ENOTFOUND for an unknown run, RP_EINVAL for a spec
 * without package or target.
 */
int store_bisect_plan(struct store *st, int64_t run_id, const struct store_bisect_spec *specs, size_t n,
		      int64_t now_ms, struct rp_error *err);

/* Reads bisection `id` into *b, released with store_bisect_release() (also after a failure). RP_ENOTFOUND. */
int store_bisect_get(struct store *st, int64_t id, struct store_bisect *b, struct rp_error *err);
void store_bisect_release(struct store_bisect *b);

/*
 * Bisections: those of run `run_id` when it is > 0 (by package, target),
 * else the newest first with an id below `before_id` (0: from the newest),
 * at most `limit` (0: 100); only unfinished ones with `active_only`. Free
 * with store_bisects_free().
 */
int store_bisects_list(struct store *st, int64_t run_id, int active_only, int64_t before_id, size_t limit,
		       struct store_bisect **out, size_t *n, struct rp_error *err);
void store_bisects_free(struct store_bisect *b, size_t n);

/* Progress of an unfinished bisection: probes made, rounds, and the driver's `detail` (may be NULL). */
int store_bisect_progress(struct store *st, int64_t id, int64_t probes, int64_t rounds, const char *detail,
			  struct rp_error *err);

/*
 * Ends bisection `id` with the conclusion in *r (its verdict required; id,
 * run_id, package, target, created_ms ignored), finished at now_ms. Ending a
 * finished one again is RP_ECONFLICT and changes nothing.
 */
int store_bisect_finish(struct store *st, int64_t id, const struct store_bisect *r, int64_t now_ms,
			struct rp_error *err);

/*
 * A pull request's run whose report went out has more to say (a bisection
 * ended): its final status and comment are owed again, at once — unless a
 * later run of the same pull request exists, whose report is the newer one.
 * 0 also when the run owes nothing to a forge.
 */
int store_report_reopen(struct store *st, int64_t run_id, struct rp_error *err);

/* ---- coverage (store_coverage.c, schema 9) ---------------------------------- */

/* A coverage job's report: its artifact "coverage" under `build_key`. */
struct store_coverage_report {
	const char *build_key, *package, *target, *commit;
	int64_t run_id, job_id, created_ms;
	int merged;	     /* store_coverage_report_get() only */
	const char *problem; /* why it could not be merged, or NULL; store_coverage_report_get() only */
	void *mem_;
};

/* The merged coverage of one (package, commit). */
enum { STORE_COV_LINES_COVERED, STORE_COV_LINES_TOTAL, STORE_COV_BRANCHES_COVERED, STORE_COV_BRANCHES_TOTAL,
       STORE_COV_FUNCTIONS_COVERED, STORE_COV_FUNCTIONS_TOTAL };
struct store_coverage_commit {
	const char *package, *commit;
	int64_t first_ms, updated_ms; /* when its first and its latest report were merged */
	int64_t reports;	      /* how many reports were merged into it */
	int64_t figures[6];	      /* indexed by STORE_COV_* */
	const char *location;	      /* the merged document, relative to the farm's blobs */
	int mainline;		      /* a nightly or manual run covered it, not only a pull request's */
	void *mem_;
};

/*
 * Records a coverage job's report to be merged (run_id, job_id, created_ms
 * as given; created_ms 0: now). A build key recorded before is left as it
 * is: its figures are in already. RP_EINVAL for a missing field.
 */
int store_coverage_report_add(struct store *st, const struct store_coverage_report *r, struct rp_error *err);

/* Up to `cap` reports waiting to be merged, oldest first; free with store_coverage_reports_free(). */
int store_coverage_pending(struct store *st, size_t cap, struct store_coverage_report **out, size_t *n,
			   struct rp_error *err);
void store_coverage_reports_free(struct store_coverage_report *r, size_t n);

/* One report by build key (with merged and problem); RP_ENOTFOUND. Release with store_coverage_report_release(). */
int store_coverage_report_get(struct store *st, const char *build_key, struct store_coverage_report *r,
			      struct rp_error *err);
void store_coverage_report_release(struct store_coverage_report *r);

/*
 * Ends the wait of report `build_key`, in one transaction: with `problem`
 * NULL, its (package, commit) takes the figures and location in *c (which
 * already include this report) and counts one more report, and is marked
 * mainline when c->mainline says so (never unmarked); with a problem
 * (an unreadable artifact), the report is only marked, with that reason.
 * RP_ECONFLICT when the report is not waiting (merged before: nothing changes).
 */
int store_coverage_merged(struct store *st, const char *build_key, const struct store_coverage_commit *c,
			  const char *problem, struct rp_error *err);

/* The merged coverage of (package, commit); RP_ENOTFOUND. Release with store_coverage_commit_release(). */
int store_coverage_commit_get(struct store *st, const char *package, const char *commit,
			      struct store_coverage_commit *c, struct rp_error *err);
void store_coverage_commit_release(struct store_coverage_commit *c);

/*
 * The commits of `package` with coverage (only the mainline's with
 * `mainline_only`), oldest first: the newest `limit` (0 or above 1000: 1000)
 * whose first report came before `before_ms` (0: any).
 */
int store_coverage_commits(struct store *st, const char *package, int mainline_only, int64_t before_ms, size_t limit,
			   struct store_coverage_commit **out, size_t *n, struct rp_error *err);

/*
 * Marks the coverage of (package, commit) as the mainline's (a nightly's
 * coverage job was answered from the cache); 0 also when none is recorded.
 */
int store_coverage_mark_mainline(struct store *st, const char *package, const char *commit, struct rp_error *err);

/* Each package's newest mainline commit with coverage, by package name. */
int store_coverage_packages(struct store *st, struct store_coverage_commit **out, size_t *n, struct rp_error *err);
void store_coverage_commits_free(struct store_coverage_commit *c, size_t n);

/* ---- fuzzing (store_fuzz.c, schema 10) ---------------------------------------- */

/*
 * What the farm knows of fuzzing (docs/fuzz.md, "In the farm"): the latest
 * figures of each fuzz target of each (package, target), each crash by its
 * signature with its reproducer, open until a replay of it at a later
 * branch head no longer crashes. Crash rows outlive run retention: run and
 * job ids in them may name runs that are gone.
 */
struct store_fuzz_stat {
	const char *package, *target, *fuzzer, *commit;
	int64_t run_id, job_id;
	int64_t seconds;
	int64_t executions, exec_per_sec, new_units; /* -1: libFuzzer did not say */
	int64_t corpus_files, corpus_bytes;
	int64_t updated_ms;
	void *mem_;
};

/* Records the figures of one fuzz target's latest run (replacing the ones before). RP_EINVAL. */
int store_fuzz_stat_put(struct store *st, const struct store_fuzz_stat *f, struct rp_error *err);
/* Every fuzz target's latest figures, by package, target, fuzzer; free with store_fuzz_stats_free(). */
int store_fuzz_stats(struct store *st, struct store_fuzz_stat **out, size_t *n, struct rp_error *err);
void store_fuzz_stats_free(struct store_fuzz_stat *f, size_t n);

struct store_fuzz_crash {
	int64_t id;
	const char *package, *target, *fuzzer;
	const char *signature, *kind;
	const char *frames;	/* JSON array text of the signature's frames, or NULL */
	const char *reproducer; /* SHA-256 (hex) of the minimized input */
	int64_t reproducer_size;
	int open;		/* 0: fixed */
	int64_t found_run, found_job, found_ms;
	const char *found_commit;
	int64_t seen_run, seen_ms; /* the latest run that crashed with it */
	const char *seen_commit;
	int64_t fixed_run, fixed_ms; /* 0 while open */
	const char *fixed_commit;    /* the first commit a replay did not crash at; NULL while open */
	int64_t bisect_id;	     /* the bisection that looks for its first bad commit; 0: none */
	void *mem_;
};

/*
 * A fuzz job (c->found_run, c->found_job at c->found_commit) crashed with
 * c's signature in (package, target, fuzzer). A signature never seen there
 * is recorded open (*is_new = 1); an open one is seen again (*is_new = 0);
 * a fixed one came back, a regression of its own: open again, found (and
 * its reproducer) anew, its fix and bisection forgotten (*is_new = 1).
 * *id is the crash's. RP_EINVAL for a malformed crash.
 */
int store_fuzz_crash_seen(struct store *st, const struct store_fuzz_crash *c, int64_t now_ms, int64_t *id,
			  int *is_new, struct rp_error *err);

/*
 * A replay of open crash `id` at commit (run `run_id`) ended: it crashed
 * again (`crashed`: seen there) or it did not (fixed there; the fixing range
 * is seen_commit..commit). A crash that is not open is left alone:
 * RP_ECONFLICT. RP_ENOTFOUND.
 */
int store_fuzz_crash_replayed(struct store *st, int64_t id, int crashed, int64_t run_id, const char *commit,
			      int64_t now_ms, struct rp_error *err);

int store_fuzz_crash_get(struct store *st, int64_t id, struct store_fuzz_crash *c, struct rp_error *err);
void store_fuzz_crash_release(struct store_fuzz_crash *c);

/*
 * The crashes of (package, target) — either NULL: all — open ones first,
 * then by id, at most 1000; only open ones with `open_only`. Free with
 * store_fuzz_crashes_free().
 */
int store_fuzz_crashes(struct store *st, const char *package, const char *target, int open_only,
		       struct store_fuzz_crash **out, size_t *n, struct rp_error *err);
void store_fuzz_crashes_free(struct store_fuzz_crash *c, size_t n);

/*
 * Records the bisection of crash `id` between the pins of `good_run_id` and
 * those of `run_id` (a bisects row with its crash_id) and links it to the
 * crash, in one transaction. *bisect_id is the row's (an existing one when it
 * was recorded before). RP_ENOTFOUND.
 */
int store_fuzz_crash_bisect(struct store *st, int64_t id, int64_t run_id, int64_t good_run_id, int64_t now_ms,
			    int64_t *bisect_id, struct rp_error *err);

#endif
