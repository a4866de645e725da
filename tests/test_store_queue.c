/*
 * test_store_queue.c — the queue of the store: the life cycle of a job DAG
 * (unkeyed, keyed, leased, renewed, ended, dependents released, the run
 * done), fencing of stale leases, idempotent result uploads, lease expiry and
 * retries, the skip cascade, cancellation, lease order and fairness, request
 * ids, run summaries, workers, queue statistics and the migration from
 * schema 4.
 *
 * Each test gets a fresh SQLite file in a mkdtemp directory. Raw SQLite is
 * used only to look at rows the API does not return and to build a schema 4
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
#include <time.h>

#include <sqlite3.h>

#include "check_main.h"
#include "core/banned.h"

static char tmpdir[PATH_MAX];
static char dbpath[PATH_MAX + 64];

#define T0 INT64_C(1700000000000)
#define LEASE_MS 30000

static void setup(void)
{
	check_tmpdir_make(tmpdir, "store-queue");
	snprintf(dbpath, sizeof(dbpath), "%s/ripple.db", tmpdir);
}

static void teardown(void)
{
	check_tmpdir_remove(tmpdir);
}

/* ---- helpers ------------------------------------------------------------ */

static struct store *open_ok(const char *path, unsigned flags)
{
	struct store *st = NULL;
	struct rp_error err = {.msg = ""};
	int ret = store_open(path, flags, &st, &err);
	ck_assert_msg(ret == 0, "store_open(%s) = %d: %s", path, ret, err.msg);
	return st;
}

static void raw_exec(const char *sql)
{
	sqlite3 *db = NULL;
	char *msg = NULL;
	ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK, "%s: %s", sql, msg ? msg : "");
	sqlite3_close(db);
}

/* One integer from one row; -1 when there is no row. */
static long long raw_int(const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	long long v = -1;
	ck_assert_int_eq(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK, "%s: %s", sql,
		      sqlite3_errmsg(db));
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

/* 64 lowercase hex digits made from `i`, in a static table (distinct i, distinct strings). */
static const char *hex64(unsigned i)
{
	static char table[512][65];
	ck_assert_uint_lt(i, 512);
	snprintf(table[i], sizeof(table[i]), "%064x", i + 1);
	return table[i];
}

#define OUT(i) hex64(300 + (i))

static void sync_universe(struct store *st, const char *name)
{
	static const struct store_package_row pkgs[] = {
	    {"cstruct", "https://example.org/cstruct.git", "main", 0},
	    {"tcpip", "https://example.org/tcpip.git", "main", 1},
	    {"mirage", "https://example.org/mirage.git", "main", 2},
	};
	struct rp_error err = {.msg = ""};
	ck_assert_msg(store_sync_universe(st, name, pkgs, 3, NULL, &err) == 0, "%s", err.msg);
}

struct run_opts {
	const char *universe;
	int priority;
	const char *const *targets; /* one per job */
	size_t njobs;
	const struct store_edge *edges;
	size_t nedges;
	int keyed;	   /* every job gets a build key up front */
	unsigned key_base; /* hex64(key_base + i) is job i's key */
	const char *request_id;
	const char *change_ref;
	int nightly; /* a nightly run instead of a pr run */
};

static int64_t make_run(struct store *st, const struct run_opts *o, int64_t *job_ids)
{
	struct store_job_spec jobs[64];
	static const char *const packages[] = {"cstruct", "tcpip", "mirage"};
	struct rp_error err = {.msg = ""};
	int64_t run_id = 0;

	ck_assert_uint_le(o->njobs, 64);
	for (size_t i = 0; i < o->njobs; i++) {
		jobs[i] = (struct store_job_spec){
		    .package = packages[i % 3],
		    .target = o->targets[i],
		    .commit = "a1a1a1",
		    .build_key = o->keyed ? hex64(o->key_base + (unsigned)i) : NULL,
		    .tree_id = NULL,
		};
	}
	struct store_run_spec spec = {
	    .universe = o->universe ? o->universe : "mini",
	    .kind = o->nightly ? STORE_RUN_NIGHTLY : STORE_RUN_PR,
	    .priority = o->priority,
	    .title = "a run",
	    .change_ref = o->change_ref,
	    .jobs = jobs,
	    .njobs = o->njobs,
	    .edges = o->edges,
	    .nedges = o->nedges,
	    .created_ms = T0,
	    .request_id = o->request_id,
	};
	ck_assert_msg(store_run_create(st, &spec, &run_id, job_ids, &err) == 0, "%s", err.msg);
	return run_id;
}

/* The diamond: 1 (unix) and 2 (vm) after 0 (unix), 3 (unix) after 1 and 2. */
static const char *const diamond_targets[] = {"unix", "unix", "vm", "unix"};
static const struct store_edge diamond_edges[] = {{1, 0}, {2, 0}, {3, 1}, {3, 2}};

static int64_t make_diamond(struct store *st, int keyed, unsigned key_base, int64_t ids[4])
{
	struct run_opts o = {
	    .priority = 30,
	    .targets = diamond_targets,
	    .njobs = 4,
	    .edges = diamond_edges,
	    .nedges = 4,
	    .keyed = keyed,
	    .key_base = key_base,
	};
	return make_run(st, &o, ids);
}

static const char *const unix_only[] = {"unix"};
static const char *const vm_only[] = {"vm"};
static const char *const unix_only2[] = {"unix", "unix"};
static const char *const unix_vm[] = {"unix", "vm"};

/* Leases the next job for `worker` at `now`; returns its id and fills *fence (when non-NULL). */
static int64_t lease_ok(struct store *st, const char *worker, const char *const *targets, size_t ntargets,
			int64_t now, int64_t *fence)
{
	struct store_lease_request req = {
	    .worker = worker, .targets = targets, .ntargets = ntargets, .now_ms = now, .lease_ms = LEASE_MS};
	struct store_job job;
	struct rp_error err = {.msg = ""};
	int64_t id;
	ck_assert_msg(store_job_lease(st, &req, &job, &err) == 0, "lease for %s: %s", worker, err.msg);
	ck_assert_int_eq(job.state, STORE_JOB_LEASED);
	ck_assert_str_eq(job.lease_owner, worker);
	ck_assert_int_eq(job.lease_expires_ms, now + LEASE_MS);
	ck_assert_int_eq(job.started_ms, now);
	id = job.id;
	if (fence)
		*fence = job.fence;
	store_job_release(&job);
	return id;
}

static int lease_try(struct store *st, const char *worker, const char *const *targets, size_t ntargets,
		     int64_t now)
{
	struct store_lease_request req = {
	    .worker = worker, .targets = targets, .ntargets = ntargets, .now_ms = now, .lease_ms = LEASE_MS};
	struct store_job job;
	struct rp_error err = {.msg = ""};
	int ret = store_job_lease(st, &req, &job, &err);
	store_job_release(&job);
	return ret;
}

static void set_key_ok(struct store *st, int64_t id, const char *key)
{
	struct rp_error err = {.msg = ""};
	ck_assert_msg(store_job_set_key(st, id, key, &err) == 0, "%s", err.msg);
}

static struct store_job_result pass_by(const char *worker, int64_t fence, const char *output, int64_t now)
{
	struct store_job_result r = {
	    .status = STORE_RESULT_PASS,
	    .worker = worker,
	    .fence = fence,
	    .output_hash = output,
	    .duration_ms = 1200,
	    .now_ms = now,
	};
	return r;
}

static void finish_ok(struct store *st, int64_t id, const struct store_job_result *r, int *requeued)
{
	struct rp_error err = {.msg = ""};
	ck_assert_msg(store_job_finish(st, id, r, 3, requeued, &err) == 0, "finish %lld: %s", (long long)id,
		      err.msg);
}

static struct store_job get_job(struct store *st, int64_t id)
{
	struct store_job job;
	struct rp_error err = {.msg = ""};
	ck_assert_msg(store_job_get(st, id, &job, &err) == 0, "%s", err.msg);
	return job;
}

static void expect_unkeyed(struct store *st, const int64_t *want, size_t nwant)
{
	int64_t ids[16];
	size_t n = 99;
	struct rp_error err = {.msg = ""};
	ck_assert_msg(store_jobs_unkeyed(st, ids, 16, &n, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(n, nwant);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(ids[i], want[i]);
}

static struct store_run get_run(struct store *st, int64_t id)
{
	struct store_run run;
	struct rp_error err = {.msg = ""};
	ck_assert_msg(store_run_get(st, id, &run, &err) == 0, "%s", err.msg);
	return run;
}

static long long count_results(void)
{
	return raw_int("SELECT count(*) FROM results");
}

/* ---- the life cycle ------------------------------------------------------- */

START_TEST(test_diamond_lifecycle)
{
	struct store *st = open_ok(dbpath, 0);
	struct rp_error err = {.msg = ""};
	struct store_build b;
	struct store_run run;
	struct store_job job, *jobs;
	int64_t ids[4], run_id, fence, expires = 0;
	size_t n;
	int cancel = 7, requeued = 7;

	sync_universe(st, "mini");
	run_id = make_diamond(st, 0, 0, ids);

	/* Only the root is ready; it has no key, so nothing can be leased yet. */
	expect_unkeyed(st, ids, 1);
	ck_assert_int_eq(lease_try(st, "w1", unix_vm, 2, T0), RP_ENOTFOUND);
	ck_assert_int_eq(store_job_set_key(st, ids[0], "NOT-HEX", &err), RP_EINVAL);
	set_key_ok(st, ids[0], hex64(0));
	ck_assert_int_eq(store_job_set_key(st, ids[0], hex64(1), &err), RP_ECONFLICT);
	ck_assert_int_eq(store_job_set_key(st, 9999, hex64(1), &err), RP_ENOTFOUND);
	expect_unkeyed(st, NULL, 0);

	/* Lease, renew, end. */
	ck_assert_int_eq(lease_ok(st, "w1", unix_only, 1, T0 + 10, &fence), ids[0]);
	ck_assert_int_eq(fence, 1);
	run = get_run(st, run_id);
	ck_assert_int_eq(run.state, STORE_RUN_RUNNING);
	store_run_release(&run);
	ck_assert_int_eq(lease_try(st, "w2", unix_vm, 2, T0 + 11), RP_ENOTFOUND);
	ck_assert_msg(
	    store_job_heartbeat(st, ids[0], "w1", fence, T0 + 1000, LEASE_MS, &expires, &cancel, &err) == 0,
	    "%s", err.msg);
	ck_assert_int_eq(expires, T0 + 1000 + LEASE_MS);
	ck_assert_int_eq(cancel, 0);
	job = get_job(st, ids[0]);
	ck_assert_int_eq(job.lease_expires_ms, T0 + 1000 + LEASE_MS);
	store_job_release(&job);

	struct store_job_result r = pass_by("w1", fence, OUT(0), T0 + 2000);
	r.category = NULL;
	finish_ok(st, ids[0], &r, &requeued);
	ck_assert_int_eq(requeued, 0);
	job = get_job(st, ids[0]);
	ck_assert_int_eq(job.state, STORE_JOB_DONE);
	ck_assert_int_eq(job.has_status, 1);
	ck_assert_int_eq(job.status, STORE_RESULT_PASS);
	ck_assert_str_eq(job.worker, "w1");
	ck_assert_str_eq(job.output_hash, OUT(0));
	ck_assert_int_eq(job.duration_ms, 1200);
	ck_assert_int_eq(job.finished_ms, T0 + 2000);
	ck_assert_ptr_null(job.lease_owner);
	ck_assert_int_eq(job.lease_expires_ms, 0);
	ck_assert_int_eq(job.cached, 0);
	store_job_release(&job);
	/* Built, not cached: recorded in the build cache. */
	ck_assert_msg(store_build_get(st, hex64(0), &b, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(b.status, "pass");
	ck_assert_str_eq(b.output_hash, OUT(0));
	ck_assert_str_eq(b.package, "cstruct");
	ck_assert_int_eq(b.duration_ms, 1200);
	store_build_release(&b);

	/* Both middle jobs are released; each is leased by a worker of its target. */
	expect_unkeyed(st, (int64_t[]){ids[1], ids[2]}, 2);
	set_key_ok(st, ids[1], hex64(1));
	set_key_ok(st, ids[2], hex64(2));
	ck_assert_int_eq(lease_ok(st, "w1", unix_only, 1, T0 + 3000, &fence), ids[1]);
	ck_assert_int_eq(lease_try(st, "w1", unix_only, 1, T0 + 3001), RP_ENOTFOUND);
	int64_t fence2;
	ck_assert_int_eq(lease_ok(st, "w2", vm_only, 1, T0 + 3002, &fence2), ids[2]);
	r = pass_by("w1", fence, OUT(1), T0 + 4000);
	finish_ok(st, ids[1], &r, NULL);
	job = get_job(st, ids[3]);
	ck_assert_int_eq(job.deps_left, 1);
	ck_assert_uint_eq(job.ndeps, 2);
	ck_assert_int_eq(job.deps[0], ids[1]);
	ck_assert_int_eq(job.deps[1], ids[2]);
	store_job_release(&job);
	expect_unkeyed(st, NULL, 0);
	r = pass_by("w2", fence2, OUT(2), T0 + 4001);
	finish_ok(st, ids[2], &r, NULL);
	expect_unkeyed(st, &ids[3], 1);
	set_key_ok(st, ids[3], hex64(3));

	/* The last one fails its tests: it has an output, and the run is done. */
	ck_assert_int_eq(lease_ok(st, "w2", unix_vm, 2, T0 + 5000, &fence), ids[3]);
	r = (struct store_job_result){.status = STORE_RESULT_FAIL,
				      .worker = "w2",
				      .fence = fence,
				      .failed_step = "test",
				      .category = "test failure",
				      .first_error = "test_copy: expected 4, got 5",
				      .output_hash = OUT(3),
				      .duration_ms = 700,
				      .now_ms = T0 + 6000};
	finish_ok(st, ids[3], &r, NULL);
	run = get_run(st, run_id);
	ck_assert_int_eq(run.state, STORE_RUN_DONE);
	ck_assert_int_eq(run.finished_ms, T0 + 6000);
	store_run_release(&run);
	ck_assert_msg(store_build_get(st, hex64(3), &b, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(b.status, "fail");
	ck_assert_str_eq(b.failed_step, "test");
	ck_assert_str_eq(b.first_error, "test_copy: expected 4, got 5");
	store_build_release(&b);

	/* store_jobs_list fills the schema 5 members too. */
	ck_assert_msg(store_jobs_list(st, run_id, &jobs, &n, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(n, 4);
	for (size_t i = 0; i < 3; i++) {
		ck_assert_int_eq(jobs[i].has_status, 1);
		ck_assert_int_eq(jobs[i].status, STORE_RESULT_PASS);
		ck_assert_str_eq(jobs[i].output_hash, OUT(i));
		ck_assert_int_eq(jobs[i].run_id, run_id);
	}
	ck_assert_int_eq(jobs[3].status, STORE_RESULT_FAIL);
	ck_assert_str_eq(jobs[3].failed_step, "test");
	ck_assert_str_eq(jobs[3].category, "test failure");
	ck_assert_str_eq(jobs[3].first_error, "test_copy: expected 4, got 5");
	ck_assert_str_eq(jobs[3].worker, "w2");
	ck_assert_int_eq(jobs[3].duration_ms, 700);
	ck_assert_int_eq(jobs[3].deps_left, 0);
	ck_assert_int_eq(jobs[3].cause_id, 0);
	store_jobs_free(jobs, n);
	ck_assert_int_eq(count_results(), 4);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM builds"), 4);
	store_close(st);
}
END_TEST

START_TEST(test_tree_id_and_request_id)
{
	struct store *st = open_ok(dbpath, 0);
	struct rp_error err = {.msg = ""};
	struct store_job_spec js[] = {
	    {"cstruct", "unix", "a1", NULL, "0123456789abcdef0123456789abcdef01234567", NULL, 0}};
	struct store_run_spec spec = {.universe = "mini",
				      .kind = STORE_RUN_MANUAL,
				      .priority = 10,
				      .jobs = js,
				      .njobs = 1,
				      .created_ms = T0,
				      .request_id = "req-1"};
	struct store_job job;
	int64_t run_id = 0, again = 0, found = 0, job_id = 0;

	sync_universe(st, "mini");
	ck_assert_msg(store_run_create(st, &spec, &run_id, &job_id, &err) == 0, "%s", err.msg);
	job = get_job(st, job_id);
	ck_assert_str_eq(job.tree_id, "0123456789abcdef0123456789abcdef01234567");
	store_job_release(&job);

	/* The same request again: refused, nothing written. */
	ck_assert_int_eq(store_run_create(st, &spec, &again, NULL, &err), RP_EEXISTS);
	ck_assert_ptr_nonnull(strstr(err.msg, "req-1"));
	ck_assert_int_eq(raw_int("SELECT count(*) FROM runs"), 1);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM jobs"), 1);
	ck_assert_msg(store_run_find_request(st, "req-1", &found, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(found, run_id);
	ck_assert_int_eq(store_run_find_request(st, "req-2", &found, &err), RP_ENOTFOUND);

	/* Without a request id, any number of runs. */
	spec.request_id = NULL;
	ck_assert_msg(store_run_create(st, &spec, &again, NULL, &err) == 0, "%s", err.msg);
	ck_assert_msg(store_run_create(st, &spec, &again, NULL, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM runs"), 3);

	/* A malformed tree id is refused before any write. */
	js[0].tree_id = "0123456789ABCDEF0123456789abcdef01234567";
	ck_assert_int_eq(store_run_create(st, &spec, &again, NULL, &err), RP_EINVAL);
	js[0].tree_id = "0123";
	ck_assert_int_eq(store_run_create(st, &spec, &again, NULL, &err), RP_EINVAL);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM runs"), 3);
	store_close(st);
}
END_TEST

/* ---- fencing and idempotence ------------------------------------------------- */

START_TEST(test_stale_fence_refused)
{
	struct store *st = open_ok(dbpath, 0);
	struct rp_error err = {.msg = ""};
	struct store_job job;
	int64_t ids[4], fence, expires = 42;
	int cancel = 42, requeued = 42;

	sync_universe(st, "mini");
	make_diamond(st, 1, 0, ids);
	ck_assert_int_eq(lease_ok(st, "w1", unix_only, 1, T0, &fence), ids[0]);

	/* Wrong fence, wrong worker: refused, nothing renewed. */
	ck_assert_int_eq(
	    store_job_heartbeat(st, ids[0], "w1", fence + 1, T0 + 10, LEASE_MS, &expires, &cancel, &err),
	    RP_ECONFLICT);
	ck_assert_int_eq(
	    store_job_heartbeat(st, ids[0], "w2", fence, T0 + 10, LEASE_MS, &expires, &cancel, &err),
	    RP_ECONFLICT);
	ck_assert_int_eq(expires, 42);
	ck_assert_int_eq(cancel, 42);
	ck_assert_int_eq(
	    store_job_heartbeat(st, 9999, "w1", fence, T0 + 10, LEASE_MS, &expires, &cancel, &err),
	    RP_ENOTFOUND);

	struct store_job_result r = pass_by("w1", fence - 1, OUT(0), T0 + 20);
	ck_assert_int_eq(store_job_finish(st, ids[0], &r, 3, &requeued, &err), RP_ECONFLICT);
	ck_assert_ptr_nonnull(strstr(err.msg, "not leased by w1 under fence 0"));
	ck_assert_int_eq(requeued, 0);
	r = pass_by("w2", fence, OUT(0), T0 + 20);
	ck_assert_int_eq(store_job_finish(st, ids[0], &r, 3, NULL, &err), RP_ECONFLICT);
	ck_assert_int_eq(count_results(), 0);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM builds"), 0);
	job = get_job(st, ids[0]);
	ck_assert_int_eq(job.state, STORE_JOB_LEASED);
	ck_assert_int_eq(job.lease_expires_ms, T0 + LEASE_MS);
	ck_assert_int_eq(job.has_status, 0);
	store_job_release(&job);
	job = get_job(st, ids[1]);
	ck_assert_int_eq(job.deps_left, 1);
	store_job_release(&job);

	/* The lease expires and another worker gets the job: the first one is fenced off. */
	size_t nexp = 0;
	ck_assert_msg(store_leases_expire(st, T0 + LEASE_MS + 1, 3, &nexp, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(nexp, 1);
	int64_t fence2;
	ck_assert_int_eq(lease_ok(st, "w2", unix_only, 1, T0 + LEASE_MS + 2, &fence2), ids[0]);
	ck_assert_int_eq(fence2, fence + 1);
	ck_assert_int_eq(
	    store_job_heartbeat(st, ids[0], "w1", fence, T0 + LEASE_MS + 3, LEASE_MS, NULL, NULL, &err),
	    RP_ECONFLICT);
	r = pass_by("w1", fence, OUT(0), T0 + LEASE_MS + 4);
	ck_assert_int_eq(store_job_finish(st, ids[0], &r, 3, NULL, &err), RP_ECONFLICT);
	ck_assert_int_eq(count_results(), 1); /* only the expiry's */
	r = pass_by("w2", fence2, OUT(0), T0 + LEASE_MS + 5);
	finish_ok(st, ids[0], &r, NULL);
	job = get_job(st, ids[0]);
	ck_assert_int_eq(job.attempt, 1);
	ck_assert_str_eq(job.worker, "w2");
	store_job_release(&job);
	store_close(st);
}
END_TEST

START_TEST(test_idempotent_repost)
{
	struct store *st = open_ok(dbpath, 0);
	struct rp_error err = {.msg = ""};
	struct store_job job;
	int64_t ids[4], fence;
	int requeued = 7;

	sync_universe(st, "mini");
	make_diamond(st, 1, 0, ids);

	/* An error is retried; its re-post says so again and writes nothing. */
	ck_assert_int_eq(lease_ok(st, "w1", unix_only, 1, T0, &fence), ids[0]);
	struct store_job_result e = {.status = STORE_RESULT_ERROR,
				     .worker = "w1",
				     .fence = fence,
				     .category = "infrastructure",
				     .first_error = "disk full",
				     .duration_ms = 5,
				     .now_ms = T0 + 1};
	finish_ok(st, ids[0], &e, &requeued);
	ck_assert_int_eq(requeued, 1);
	requeued = 7;
	finish_ok(st, ids[0], &e, &requeued);
	ck_assert_int_eq(requeued, 1);
	ck_assert_int_eq(count_results(), 1);
	job = get_job(st, ids[0]);
	ck_assert_int_eq(job.state, STORE_JOB_QUEUED);
	ck_assert_int_eq(job.attempt, 1);
	store_job_release(&job);

	/* The final result: the same again is 0, anything else a conflict. */
	ck_assert_int_eq(lease_ok(st, "w1", unix_only, 1, T0 + 10, &fence), ids[0]);
	struct store_job_result r = pass_by("w1", fence, OUT(0), T0 + 20);
	r.first_error = NULL;
	finish_ok(st, ids[0], &r, &requeued);
	ck_assert_int_eq(requeued, 0);
	requeued = 7;
	r.now_ms = T0 + 99; /* the time of the retry does not matter */
	finish_ok(st, ids[0], &r, &requeued);
	ck_assert_int_eq(requeued, 0);
	ck_assert_int_eq(count_results(), 2);
	r.output_hash = OUT(1);
	ck_assert_int_eq(store_job_finish(st, ids[0], &r, 3, NULL, &err), RP_ECONFLICT);
	r.output_hash = OUT(0);
	r.duration_ms++;
	ck_assert_int_eq(store_job_finish(st, ids[0], &r, 3, NULL, &err), RP_ECONFLICT);
	r.duration_ms--;
	r.fence = fence - 1; /* the errored attempt's fence, with a different result */
	ck_assert_int_eq(store_job_finish(st, ids[0], &r, 3, NULL, &err), RP_ECONFLICT);
	ck_assert_int_eq(count_results(), 2);
	/* The dependents were released once, not once per post. */
	job = get_job(st, ids[1]);
	ck_assert_int_eq(job.deps_left, 0);
	store_job_release(&job);
	job = get_job(st, ids[3]);
	ck_assert_int_eq(job.deps_left, 2);
	store_job_release(&job);
	job = get_job(st, ids[0]);
	ck_assert_int_eq(job.finished_ms, T0 + 20);
	store_job_release(&job);
	store_close(st);
}
END_TEST

START_TEST(test_finish_refusals)
{
	struct store *st = open_ok(dbpath, 0);
	struct rp_error err = {.msg = ""};
	struct store_job job;
	int64_t ids[4], fence;

	sync_universe(st, "mini");
	make_diamond(st, 1, 0, ids);
	ck_assert_int_eq(lease_ok(st, "w1", unix_only, 1, T0, &fence), ids[0]);

	/* The scheduler cannot end a leased job behind its worker's back. */
	struct store_job_result r = {.status = STORE_RESULT_SKIPPED, .now_ms = T0 + 1};
	ck_assert_int_eq(store_job_finish(st, ids[0], &r, 3, NULL, &err), RP_ECONFLICT);
	ck_assert_ptr_nonnull(strstr(err.msg, "only a queued job"));
	r = (struct store_job_result){.status = STORE_RESULT_PASS, .cached = 1, .output_hash = OUT(0)};
	ck_assert_int_eq(store_job_finish(st, ids[0], &r, 3, NULL, &err), RP_ECONFLICT);
	ck_assert_int_eq(count_results(), 0);
	job = get_job(st, ids[0]);
	ck_assert_int_eq(job.state, STORE_JOB_LEASED);
	store_job_release(&job);

	/* Malformed results are refused before any write. */
	r = pass_by("w1", fence, "abc", T0 + 2);
	ck_assert_int_eq(store_job_finish(st, ids[0], &r, 3, NULL, &err), RP_EINVAL);
	r = pass_by("w1", fence, OUT(0), T0 + 2);
	r.failed_step = "test";
	ck_assert_int_eq(store_job_finish(st, ids[0], &r, 3, NULL, &err), RP_EINVAL);
	r = (struct store_job_result){.status = STORE_RESULT_FAIL, .worker = "w1", .fence = fence};
	ck_assert_int_eq(store_job_finish(st, ids[0], &r, 3, NULL, &err), RP_EINVAL);
	r.failed_step = "link";
	ck_assert_int_eq(store_job_finish(st, ids[0], &r, 3, NULL, &err), RP_EINVAL);
	r.failed_step = "test"; /* a test failure always has the output of its build */
	ck_assert_int_eq(store_job_finish(st, ids[0], &r, 3, NULL, &err), RP_EINVAL);
	r = pass_by("w1", fence, OUT(0), T0 + 2);
	r.status = (enum store_result_status)42;
	ck_assert_int_eq(store_job_finish(st, ids[0], &r, 3, NULL, &err), RP_EINVAL);
	r = pass_by("w1", fence, OUT(0), T0 + 2);
	ck_assert_int_eq(store_job_finish(st, ids[0], &r, 0, NULL, &err), RP_EINVAL);
	ck_assert_int_eq(store_job_finish(st, 9999, &r, 3, NULL, &err), RP_ENOTFOUND);
	ck_assert_int_eq(count_results(), 0);
	/* Still leased and intact: the proper result goes through. */
	finish_ok(st, ids[0], &r, NULL);
	store_close(st);
}
END_TEST

/* ---- scheduler decisions: cache answers and skips -------------------------------- */

START_TEST(test_finish_without_worker)
{
	struct store *st = open_ok(dbpath, 0);
	struct rp_error err = {.msg = ""};
	struct store_job *jobs;
	struct store_run run;
	int64_t ids[4], run_id;
	size_t n;

	sync_universe(st, "mini");
	run_id = make_diamond(st, 0, 0, ids);

	/* The root's key is found in the cache: answered, and no build row is written for it. */
	set_key_ok(st, ids[0], hex64(0));
	struct store_job_result c = {
	    .status = STORE_RESULT_PASS, .cached = 1, .output_hash = OUT(0), .duration_ms = 0, .now_ms = T0};
	finish_ok(st, ids[0], &c, NULL);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM builds"), 0);
	/* The scheduler skips job 1 because of a failure elsewhere: job 3 follows, job 2 does not. */
	struct store_job_result s = {.status = STORE_RESULT_SKIPPED, .cause_id = ids[0], .now_ms = T0 + 5};
	finish_ok(st, ids[1], &s, NULL);

	ck_assert_msg(store_jobs_list(st, run_id, &jobs, &n, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(jobs[0].state, STORE_JOB_DONE);
	ck_assert_int_eq(jobs[0].cached, 1);
	ck_assert_ptr_null(jobs[0].worker);
	ck_assert_int_eq(jobs[1].status, STORE_RESULT_SKIPPED);
	ck_assert_int_eq(jobs[1].cause_id, ids[0]);
	ck_assert_int_eq(jobs[2].state, STORE_JOB_QUEUED);
	ck_assert_int_eq(jobs[2].deps_left, 0);
	ck_assert_int_eq(jobs[3].state, STORE_JOB_DONE);
	ck_assert_int_eq(jobs[3].status, STORE_RESULT_SKIPPED);
	ck_assert_int_eq(jobs[3].cause_id, ids[0]); /* the root, not job 1 */
	ck_assert_int_eq(jobs[3].finished_ms, T0 + 5);
	ck_assert_int_eq(jobs[3].deps_left, 1); /* job 2 has not ended */
	store_jobs_free(jobs, n);
	run = get_run(st, run_id);
	ck_assert_int_eq(run.state, STORE_RUN_QUEUED);
	store_run_release(&run);

	/* A job that ended cannot be ended again without a worker. */
	ck_assert_int_eq(store_job_finish(st, ids[3], &s, 3, NULL, &err), RP_ECONFLICT);
	/* Job 2 fails to build: no output, no dependent left to skip; the run is done. */
	set_key_ok(st, ids[2], hex64(2));
	int64_t fence;
	ck_assert_int_eq(lease_ok(st, "w1", vm_only, 1, T0 + 10, &fence), ids[2]);
	struct store_job_result f = {.status = STORE_RESULT_FAIL,
				     .worker = "w1",
				     .fence = fence,
				     .failed_step = "build",
				     .first_error = "foo.c:1: error",
				     .now_ms = T0 + 20};
	finish_ok(st, ids[2], &f, NULL);
	struct store_job j3 = get_job(st, ids[3]);
	ck_assert_int_eq(j3.deps_left, 0);
	ck_assert_int_eq(j3.cause_id, ids[0]);
	store_job_release(&j3);
	run = get_run(st, run_id);
	ck_assert_int_eq(run.state, STORE_RUN_DONE);
	ck_assert_int_eq(run.finished_ms, T0 + 20);
	store_run_release(&run);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM builds WHERE status = 'fail' AND output_hash IS NULL"),
			 1);
	/* Every ended job has a results row for its attempt. */
	ck_assert_int_eq(count_results(), 4);
	store_close(st);
}
END_TEST

/* ---- expiry, retries and the skip cascade ------------------------------------------ */

START_TEST(test_lease_expiry_retries_then_error)
{
	struct store *st = open_ok(dbpath, 0);
	struct rp_error err = {.msg = ""};
	struct store_queue_stats qs;
	struct store_job job, *jobs;
	struct store_run run;
	int64_t ids[4], run_id, fence = 0, t = T0;
	size_t n, nexp = 99;

	sync_universe(st, "mini");
	run_id = make_diamond(st, 1, 0, ids);

	for (int attempt = 0; attempt < 3; attempt++) {
		ck_assert_int_eq(lease_ok(st, "w1", unix_only, 1, t, &fence), ids[0]);
		ck_assert_int_eq(fence, attempt + 1);
		/* Not expired at its expiry time, only after it. */
		ck_assert_msg(store_leases_expire(st, t + LEASE_MS, 3, &nexp, &err) == 0, "%s", err.msg);
		ck_assert_uint_eq(nexp, 0);
		ck_assert_msg(store_leases_expire(st, t + LEASE_MS + 1, 3, &nexp, &err) == 0, "%s", err.msg);
		ck_assert_uint_eq(nexp, 1);
		job = get_job(st, ids[0]);
		ck_assert_int_eq(job.fence, attempt + 1);
		if (attempt < 2) {
			ck_assert_int_eq(job.state, STORE_JOB_QUEUED);
			ck_assert_int_eq(job.attempt, attempt + 1);
			ck_assert_ptr_null(job.lease_owner);
			ck_assert_int_eq(job.has_status, 0);
		}
		store_job_release(&job);
		t += LEASE_MS + 10;
	}
	ck_assert_int_eq(raw_int("SELECT count(*) FROM results WHERE job_id = 1 AND status = 'error'"
				 " AND lease_expired = 1 AND first_error = 'lease expired on w1'"),
			 3);
	ck_assert_int_eq(raw_int("SELECT max(attempt) FROM results WHERE job_id = 1"), 2);

	/* After the third attempt it ends as an error, and everything below is skipped. */
	ck_assert_msg(store_jobs_list(st, run_id, &jobs, &n, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(jobs[0].state, STORE_JOB_DONE);
	ck_assert_int_eq(jobs[0].status, STORE_RESULT_ERROR);
	ck_assert_int_eq(jobs[0].attempt, 2);
	ck_assert_str_eq(jobs[0].worker, "w1");
	ck_assert_str_eq(jobs[0].first_error, "lease expired on w1");
	ck_assert_ptr_null(jobs[0].output_hash);
	for (size_t i = 1; i < 4; i++) {
		ck_assert_int_eq(jobs[i].state, STORE_JOB_DONE);
		ck_assert_int_eq(jobs[i].has_status, 1);
		ck_assert_int_eq(jobs[i].status, STORE_RESULT_SKIPPED);
		ck_assert_int_eq(jobs[i].cause_id, ids[0]);
		ck_assert_int_eq(jobs[i].deps_left, 0);
		ck_assert_ptr_null(jobs[i].worker);
	}
	store_jobs_free(jobs, n);
	run = get_run(st, run_id);
	ck_assert_int_eq(run.state, STORE_RUN_DONE);
	store_run_release(&run);
	ck_assert_int_eq(lease_try(st, "w1", unix_vm, 2, t), RP_ENOTFOUND);

	/* A late result from the last lease is refused. */
	struct store_job_result r = pass_by("w1", fence, OUT(0), t);
	ck_assert_int_eq(store_job_finish(st, ids[0], &r, 3, NULL, &err), RP_ECONFLICT);

	ck_assert_msg(store_queue_stats(st, &qs, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(qs.lease_expiries, 3);
	ck_assert_uint_eq(qs.by_state[STORE_JOB_DONE], 4);
	ck_assert_uint_eq(qs.by_state[STORE_JOB_QUEUED], 0);
	store_close(st);
}
END_TEST

START_TEST(test_error_result_requeues)
{
	struct store *st = open_ok(dbpath, 0);
	struct rp_error err = {.msg = ""};
	struct store_job job;
	int64_t ids[4], fence;
	int requeued = 0;

	sync_universe(st, "mini");
	make_diamond(st, 1, 0, ids);
	for (int attempt = 0; attempt < 2; attempt++) {
		ck_assert_int_eq(lease_ok(st, "w1", unix_only, 1, T0 + attempt, &fence), ids[0]);
		struct store_job_result e = {
		    .status = STORE_RESULT_ERROR, .worker = "w1", .fence = fence, .now_ms = T0 + attempt};
		ck_assert_msg(store_job_finish(st, ids[0], &e, 2, &requeued, &err) == 0, "%s", err.msg);
		ck_assert_int_eq(requeued, attempt == 0);
	}
	job = get_job(st, ids[0]);
	ck_assert_int_eq(job.state, STORE_JOB_DONE);
	ck_assert_int_eq(job.status, STORE_RESULT_ERROR);
	ck_assert_int_eq(job.attempt, 1);
	store_job_release(&job);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM results WHERE job_id = 1 AND lease_expired = 0"), 2);
	job = get_job(st, ids[3]);
	ck_assert_int_eq(job.status, STORE_RESULT_SKIPPED);
	ck_assert_int_eq(job.cause_id, ids[0]);
	store_job_release(&job);

	/* A timeout is the code's verdict, not an infrastructure error: never retried. */
	struct run_opts o = {.priority = 10, .targets = unix_only, .njobs = 1, .keyed = 1, .key_base = 40};
	int64_t t_id;
	make_run(st, &o, &t_id);
	ck_assert_int_eq(lease_ok(st, "w1", unix_only, 1, T0 + 10, &fence), t_id);
	struct store_job_result to = {.status = STORE_RESULT_TIMEOUT,
				      .worker = "w1",
				      .fence = fence,
				      .first_error = "timed out after 1800 s",
				      .duration_ms = 1800000,
				      .now_ms = T0 + 11};
	requeued = 7;
	ck_assert_msg(store_job_finish(st, t_id, &to, 3, &requeued, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(requeued, 0);
	job = get_job(st, t_id);
	ck_assert_int_eq(job.state, STORE_JOB_DONE);
	ck_assert_int_eq(job.status, STORE_RESULT_TIMEOUT);
	ck_assert_int_eq(job.attempt, 0);
	store_job_release(&job);
	/* Neither error nor timeout goes into the build cache. */
	ck_assert_int_eq(raw_int("SELECT count(*) FROM builds"), 0);
	store_close(st);
}
END_TEST

/* ---- cancellation ---------------------------------------------------------------- */

START_TEST(test_cancel)
{
	struct store *st = open_ok(dbpath, 0);
	struct rp_error err = {.msg = ""};
	struct store_job *jobs;
	struct store_run run;
	int64_t ids[4], ids2[4], run_id, run2, fence, fence2, expires;
	size_t n, nq = 99, nr = 99, nexp;
	int cancel = 7;

	sync_universe(st, "mini");
	run_id = make_diamond(st, 1, 0, ids);
	run2 = make_diamond(st, 1, 10, ids2);
	ck_assert_int_eq(lease_ok(st, "w1", unix_only, 1, T0, &fence), ids[0]);
	ck_assert_int_eq(lease_ok(st, "w2", unix_only, 1, T0, &fence2), ids2[0]);

	ck_assert_msg(store_run_cancel(st, run_id, T0 + 100, &nq, &nr, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(nq, 3);
	ck_assert_uint_eq(nr, 1);
	run = get_run(st, run_id);
	ck_assert_int_eq(run.state, STORE_RUN_CANCELLED);
	ck_assert_int_eq(run.finished_ms, 0); /* a job is still running */
	store_run_release(&run);
	ck_assert_msg(store_jobs_list(st, run_id, &jobs, &n, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(jobs[0].state, STORE_JOB_LEASED);
	ck_assert_int_eq(jobs[0].cancel_requested, 1);
	for (size_t i = 1; i < 4; i++) {
		ck_assert_int_eq(jobs[i].state, STORE_JOB_CANCELLED);
		ck_assert_int_eq(jobs[i].has_status, 1);
		ck_assert_int_eq(jobs[i].status, STORE_RESULT_CANCELLED);
		ck_assert_int_eq(jobs[i].finished_ms, T0 + 100);
	}
	ck_assert_int_eq(jobs[3].deps_left, 0); /* its dependencies ended */
	ck_assert_int_eq(jobs[1].deps_left, 1); /* job 0 is still running */
	store_jobs_free(jobs, n);

	/* The worker learns it on its next heartbeat; the other run is untouched. */
	ck_assert_msg(
	    store_job_heartbeat(st, ids[0], "w1", fence, T0 + 200, LEASE_MS, &expires, &cancel, &err) == 0,
	    "%s", err.msg);
	ck_assert_int_eq(cancel, 1);
	ck_assert_msg(
	    store_job_heartbeat(st, ids2[0], "w2", fence2, T0 + 200, LEASE_MS, &expires, &cancel, &err) == 0,
	    "%s", err.msg);
	ck_assert_int_eq(cancel, 0);

	/* Nothing of a cancelled run is leased; the other run's jobs still are. */
	struct store_job_result p = pass_by("w2", fence2, OUT(10), T0 + 300);
	finish_ok(st, ids2[0], &p, NULL);
	ck_assert_int_eq(lease_ok(st, "w2", unix_only, 1, T0 + 301, NULL), ids2[1]);
	ck_assert_int_eq(lease_try(st, "w3", unix_only, 1, T0 + 302), RP_ENOTFOUND);

	/* The cancelled job posts its result: the run is finished now, still cancelled. */
	struct store_job_result c = {
	    .status = STORE_RESULT_CANCELLED, .worker = "w1", .fence = fence, .now_ms = T0 + 400};
	finish_ok(st, ids[0], &c, NULL);
	run = get_run(st, run_id);
	ck_assert_int_eq(run.state, STORE_RUN_CANCELLED);
	ck_assert_int_eq(run.finished_ms, T0 + 400);
	store_run_release(&run);
	struct store_job j0 = get_job(st, ids[0]);
	ck_assert_int_eq(j0.state, STORE_JOB_CANCELLED);
	ck_assert_int_eq(j0.status, STORE_RESULT_CANCELLED);
	store_job_release(&j0);

	/* Cancelling again, or a finished run, changes nothing. */
	ck_assert_msg(store_run_cancel(st, run_id, T0 + 500, &nq, &nr, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(nq, 0);
	ck_assert_uint_eq(nr, 0);
	ck_assert_int_eq(store_run_cancel(st, 9999, T0, &nq, &nr, &err), RP_ENOTFOUND);

	/* A leased job of a cancelled run whose lease expires ends cancelled, not queued again. */
	ck_assert_msg(store_run_cancel(st, run2, T0 + 600, &nq, &nr, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(nq, 2);
	ck_assert_uint_eq(nr, 1);
	ck_assert_msg(store_leases_expire(st, T0 + 301 + LEASE_MS + 1, 3, &nexp, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(nexp, 1);
	struct store_job j1 = get_job(st, ids2[1]);
	ck_assert_int_eq(j1.state, STORE_JOB_CANCELLED);
	ck_assert_int_eq(j1.attempt, 0);
	store_job_release(&j1);
	run = get_run(st, run2);
	ck_assert_int_eq(run.state, STORE_RUN_CANCELLED);
	ck_assert_int_eq(run.finished_ms, T0 + 301 + LEASE_MS + 1);
	store_run_release(&run);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM jobs WHERE state IN ('queued', 'leased', 'running')"),
			 0);
	store_close(st);
}
END_TEST

/* ---- lease order ------------------------------------------------------------------- */

START_TEST(test_lease_order_and_fairness)
{
	struct store *st = open_ok(dbpath, 0);
	static const char *const two_unix[] = {"unix", "unix"};
	static const char *const three_unix[] = {"unix", "unix", "unix"};
	int64_t a[3], b[2], c[2], d[1];

	sync_universe(st, "mini");
	sync_universe(st, "other");
	/* Oldest first: mini's nightly (10), then other's (10), then a vm PR (30). */
	struct run_opts o = {
	    .universe = "mini", .priority = 10, .targets = three_unix, .njobs = 3, .keyed = 1, .key_base = 0};
	make_run(st, &o, a);
	o = (struct run_opts){
	    .universe = "other", .priority = 10, .targets = two_unix, .njobs = 2, .keyed = 1, .key_base = 10};
	make_run(st, &o, b);
	o = (struct run_opts){
	    .universe = "mini", .priority = 30, .targets = vm_only, .njobs = 1, .keyed = 1, .key_base = 20};
	make_run(st, &o, d);

	/* A target nobody has queued. */
	ck_assert_int_eq(lease_try(st, "x", (const char *const[]){"xen"}, 1, T0), RP_ENOTFOUND);
	/* The PR first, for whoever serves vm. */
	ck_assert_int_eq(lease_ok(st, "w1", unix_vm, 2, T0, NULL), d[0]);
	/* mini has one leased job now, other none: other goes first although it is younger. */
	ck_assert_int_eq(lease_ok(st, "w1", unix_only, 1, T0, NULL), b[0]);
	/* One each: the oldest job. */
	ck_assert_int_eq(lease_ok(st, "w1", unix_only, 1, T0, NULL), a[0]);
	/* mini 2, other 1. */
	ck_assert_int_eq(lease_ok(st, "w1", unix_only, 1, T0, NULL), b[1]);
	/* other has nothing ready any more. */
	ck_assert_int_eq(lease_ok(st, "w1", unix_only, 1, T0, NULL), a[1]);

	/* A higher priority run arriving later goes before the rest. */
	o = (struct run_opts){
	    .universe = "other", .priority = 40, .targets = two_unix, .njobs = 2, .keyed = 1, .key_base = 30};
	make_run(st, &o, c);
	ck_assert_int_eq(lease_ok(st, "w2", unix_vm, 2, T0, NULL), c[0]);
	ck_assert_int_eq(lease_ok(st, "w2", unix_vm, 2, T0, NULL), c[1]);
	ck_assert_int_eq(lease_ok(st, "w2", unix_vm, 2, T0, NULL), a[2]);
	ck_assert_int_eq(lease_try(st, "w2", unix_vm, 2, T0), RP_ENOTFOUND);
	/* Refusals. */
	struct rp_error err = {.msg = ""};
	struct store_job job;
	struct store_lease_request req = {.worker = "", .targets = unix_only, .ntargets = 1, .lease_ms = 10};
	ck_assert_int_eq(store_job_lease(st, &req, &job, &err), RP_EINVAL);
	req.worker = "w";
	req.lease_ms = 0;
	ck_assert_int_eq(store_job_lease(st, &req, &job, &err), RP_EINVAL);
	store_close(st);
}
END_TEST

/* ---- runs, workers, statistics ------------------------------------------------------- */

/* A ready job goes preferably to the worker that built its dependency: it holds the artifact. */
START_TEST(test_lease_affinity)
{
	static const char *const targets[] = {"unix", "unix", "unix", "unix"};
	static const struct store_edge edges[] = {{2, 0}, {3, 1}};
	struct run_opts o = {.priority = 10, .targets = targets, .njobs = 4, .edges = edges, .nedges = 2,
			     .keyed = 1, .key_base = 40};
	struct store *st = open_ok(dbpath, 0);
	int64_t ids[4], f0, f1, f;
	sync_universe(st, "mini");
	make_run(st, &o, ids);
	ck_assert_int_eq(lease_ok(st, "w1", unix_only, 1, T0, &f0), ids[0]);
	ck_assert_int_eq(lease_ok(st, "w2", unix_only, 1, T0, &f1), ids[1]);
	struct store_job_result r0 = pass_by("w1", f0, OUT(40), T0 + 10);
	struct store_job_result r1 = pass_by("w2", f1, OUT(41), T0 + 20);
	finish_ok(st, ids[0], &r0, NULL);
	finish_ok(st, ids[1], &r1, NULL);
	/* Both dependents are ready; the older one would come first without affinity. */
	ck_assert_int_eq(lease_ok(st, "w2", unix_only, 1, T0 + 30, &f), ids[3]);
	ck_assert_int_eq(lease_ok(st, "w1", unix_only, 1, T0 + 30, &f), ids[2]);
	store_close(st);
}
END_TEST

/* An artifact whose build was never recorded may be replaced; once it is, never. */
START_TEST(test_artifact_replace_until_built)
{
	struct store *st = open_ok(dbpath, 0);
	struct rp_error err = {.msg = ""};
	struct store_artifact a = {.build_key = hex64(90), .name = "prefix", .size = 10, .sha256 = hex64(91),
				   .location = "aa/x.prefix"};
	struct store_artifact b = a, got;
	b.size = 11;
	b.sha256 = hex64(92);
	ck_assert_int_eq(store_artifact_put(st, &a, &err), 0);
	ck_assert_int_eq(store_artifact_put(st, &b, &err), RP_EEXISTS);
	ck_assert_msg(store_artifact_replace(st, &b, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(store_artifact_get(st, hex64(90), "prefix", &got, &err), 0);
	ck_assert_str_eq(got.sha256, hex64(92));
	ck_assert_int_eq(got.size, 11);
	store_artifact_release(&got);
	struct store_build bl = {.build_key = hex64(90), .package = "cstruct", .target = "unix", .commit_id = "c1",
				 .status = "pass", .output_hash = hex64(93), .duration_ms = 5};
	ck_assert_msg(store_build_put(st, &bl, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(store_artifact_replace(st, &a, &err), RP_EEXISTS);
	ck_assert_int_eq(store_artifact_get(st, hex64(90), "prefix", &got, &err), 0);
	ck_assert_str_eq(got.sha256, hex64(92));
	store_artifact_release(&got);
	store_close(st);
}
END_TEST

START_TEST(test_runs_list_and_refs)
{
	struct store *st = open_ok(dbpath, 0);
	struct rp_error err = {.msg = ""};
	struct store_run_summary *runs;
	int64_t ids[4], r1, r2, r3, *active, fence;
	size_t n, nq, nr;

	sync_universe(st, "mini");
	struct run_opts o = {.priority = 30,
			     .targets = diamond_targets,
			     .njobs = 4,
			     .edges = diamond_edges,
			     .nedges = 4,
			     .keyed = 1,
			     .change_ref = "github:o/r#1"};
	r1 = make_run(st, &o, ids);
	o.key_base = 10;
	r2 = make_run(st, &o, NULL);
	o.change_ref = "github:o/r#2";
	o.key_base = 20;
	r3 = make_run(st, &o, NULL);

	ck_assert_msg(store_runs_active_by_ref(st, "github:o/r#1", &active, &n, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(active[0], r1);
	ck_assert_int_eq(active[1], r2);
	free(active);

	/* r1: root passed from the cache, job 1 leased; r2 cancelled. */
	struct store_job_result c = {
	    .status = STORE_RESULT_PASS, .cached = 1, .output_hash = OUT(0), .now_ms = T0};
	finish_ok(st, ids[0], &c, NULL);
	ck_assert_int_eq(lease_ok(st, "w1", unix_only, 1, T0, &fence), ids[1]);
	ck_assert_msg(store_run_cancel(st, r2, T0, &nq, &nr, &err) == 0, "%s", err.msg);
	ck_assert_msg(store_runs_active_by_ref(st, "github:o/r#1", &active, &n, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(active[0], r1);
	free(active);
	ck_assert_msg(store_runs_active_by_ref(st, "github:o/r#9", &active, &n, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(n, 0);
	free(active);

	ck_assert_msg(store_runs_list(st, 0, 10, &runs, &n, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(runs[0].id, r3);
	ck_assert_int_eq(runs[1].id, r2);
	ck_assert_int_eq(runs[2].id, r1);
	ck_assert_str_eq(runs[0].universe, "mini");
	ck_assert_str_eq(runs[0].change_ref, "github:o/r#2");
	ck_assert_str_eq(runs[0].title, "a run");
	ck_assert_int_eq(runs[0].kind, STORE_RUN_PR);
	ck_assert_int_eq(runs[0].state, STORE_RUN_QUEUED);
	ck_assert_uint_eq(runs[0].njobs, 4);
	ck_assert_uint_eq(runs[0].queued, 4);
	ck_assert_int_eq(runs[1].state, STORE_RUN_CANCELLED);
	ck_assert_uint_eq(runs[1].by_status[STORE_RESULT_CANCELLED], 4);
	ck_assert_uint_eq(runs[1].queued, 0);
	ck_assert_int_eq(runs[1].finished_ms, T0);
	ck_assert_int_eq(runs[2].state, STORE_RUN_RUNNING);
	ck_assert_uint_eq(runs[2].njobs, 4);
	ck_assert_uint_eq(runs[2].by_status[STORE_RESULT_PASS], 1);
	ck_assert_uint_eq(runs[2].cached, 1);
	ck_assert_uint_eq(runs[2].leased, 1);
	ck_assert_uint_eq(runs[2].queued, 2);
	ck_assert_int_eq(runs[2].created_ms, T0);
	store_runs_free(runs, n);

	/* Paging: below r3, one at a time. */
	ck_assert_msg(store_runs_list(st, r3, 1, &runs, &n, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(runs[0].id, r2);
	store_runs_free(runs, n);
	ck_assert_msg(store_runs_list(st, r1, 10, &runs, &n, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(n, 0);
	store_runs_free(runs, n);
	store_close(st);
}
END_TEST

START_TEST(test_workers)
{
	struct store *st = open_ok(dbpath, 0);
	struct rp_error err = {.msg = ""};
	struct store_worker *ws;
	int64_t ids[4];
	size_t n;

	ck_assert_msg(store_worker_register(st, "w2", hex64(1), "unix", 1, T0, &err) == 0, "%s", err.msg);
	ck_assert_msg(store_worker_register(st, "w1", hex64(2), "unix", 2, T0, &err) == 0, "%s", err.msg);
	/* Registering again updates the row. */
	ck_assert_msg(store_worker_register(st, "w1", hex64(3), "unix,vm", 4, T0 + 5, &err) == 0, "%s",
		      err.msg);
	ck_assert_int_eq(store_worker_register(st, "w3", "not-a-hash", "unix", 1, T0, &err), RP_EINVAL);
	ck_assert_int_eq(store_worker_register(st, "w3", hex64(3), "unix", 0, T0, &err), RP_EINVAL);
	ck_assert_int_eq(store_worker_register(st, "", hex64(3), "unix", 1, T0, &err), RP_EINVAL);
	ck_assert_msg(store_worker_seen(st, "w1", T0 + 10, 1000000, 2000000, 0.5, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(store_worker_seen(st, "nobody", T0 + 10, 1, 1, 0, &err), RP_ENOTFOUND);

	sync_universe(st, "mini");
	make_diamond(st, 1, 0, ids);
	struct store_job_result c = {
	    .status = STORE_RESULT_PASS, .cached = 1, .output_hash = OUT(0), .now_ms = T0};
	finish_ok(st, ids[0], &c, NULL);
	ck_assert_int_eq(lease_ok(st, "w1", unix_only, 1, T0, NULL), ids[1]);
	ck_assert_int_eq(lease_ok(st, "w1", vm_only, 1, T0, NULL), ids[2]);

	ck_assert_msg(store_workers_list(st, &ws, &n, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(ws[0].name, "w1");
	ck_assert_str_eq(ws[0].targets, "unix,vm");
	ck_assert_int_eq(ws[0].slots, 4);
	ck_assert_int_eq(ws[0].last_seen_ms, T0 + 10);
	ck_assert_int_eq(ws[0].free_disk_bytes, 1000000);
	ck_assert_int_eq(ws[0].free_mem_bytes, 2000000);
	ck_assert(ws[0].load == 0.5);
	ck_assert_uint_eq(ws[0].running, 2);
	ck_assert_str_eq(ws[1].name, "w2");
	ck_assert_int_eq(ws[1].slots, 1);
	ck_assert_uint_eq(ws[1].running, 0);
	store_workers_free(ws, n);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM workers WHERE name = 'w1' AND token_hash = '"
				 "0000000000000000000000000000000000000000000000000000000000000004'"),
			 1);
	store_close(st);
}
END_TEST

START_TEST(test_queue_stats)
{
	struct store *st = open_ok(dbpath, 0);
	struct rp_error err = {.msg = ""};
	struct store_queue_stats qs;
	int64_t ids[4];
	size_t nexp;

	ck_assert_msg(store_queue_stats(st, &qs, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(qs.npriorities, 0);
	ck_assert_uint_eq(qs.by_state[STORE_JOB_QUEUED], 0);

	sync_universe(st, "mini");
	make_diamond(st, 1, 0, ids); /* priority 30 */
	struct run_opts o = {.priority = 10, .targets = unix_only, .njobs = 1, .keyed = 1, .key_base = 50};
	make_run(st, &o, NULL);
	o.key_base = 51;
	make_run(st, &o, NULL);
	ck_assert_int_eq(lease_ok(st, "w1", unix_only, 1, T0, NULL), ids[0]);
	ck_assert_msg(store_leases_expire(st, T0 + LEASE_MS + 1, 3, &nexp, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(lease_ok(st, "w1", unix_only, 1, T0 + LEASE_MS + 2, NULL), ids[0]);

	ck_assert_msg(store_queue_stats(st, &qs, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(qs.by_state[STORE_JOB_QUEUED], 5);
	ck_assert_uint_eq(qs.by_state[STORE_JOB_LEASED], 1);
	ck_assert_uint_eq(qs.by_state[STORE_JOB_DONE], 0);
	ck_assert_uint_eq(qs.npriorities, 2);
	ck_assert_int_eq(qs.queued[0].priority, 30);
	ck_assert_uint_eq(qs.queued[0].ready, 0); /* three jobs, all waiting for the leased root */
	ck_assert_int_eq(qs.queued[1].priority, 10);
	ck_assert_uint_eq(qs.queued[1].ready, 2);
	ck_assert_uint_eq(qs.lease_expiries, 1);
	store_close(st);
}
END_TEST

/* ---- migration and speed ------------------------------------------------------------------ */

START_TEST(test_migrate_4_to_5_keeps_rows)
{
	struct rp_error err = {.msg = ""};
	struct store *st = open_ok(dbpath, STORE_NO_MIGRATE);
	struct store_worker *ws;
	struct store_job *jobs;
	struct store_run run;
	size_t n;

	ck_assert_msg(store_migrate(st, 4, &err) == 0, "%s", err.msg);
	store_close(st);
	raw_exec("INSERT INTO universes (id, name, created_ms, updated_ms) VALUES (1, 'mini', 1, 1);"
		 "INSERT INTO runs (id, universe_id, kind, priority, state, created_ms)"
		 " VALUES (1, 1, 'nightly', 20, 'queued', 5);"
		 "INSERT INTO jobs (id, run_id, package, target, commit_id, build_key, priority, deps_left, "
		 "created_ms)"
		 " VALUES (1, 1, 'cstruct', 'unix', 'a1', '"
		 "0000000000000000000000000000000000000000000000000000000000000001"
		 "', 20, 0, 5),"
		 " (2, 1, 'tcpip', 'unix', 'b2', NULL, 20, 1, 5);"
		 "INSERT INTO job_edges (job_id, dep_id) VALUES (2, 1);"
		 "INSERT INTO results (job_id, attempt, status, created_ms) VALUES (1, 0, 'error', 6);"
		 "INSERT INTO workers (name, token_hash, created_ms) VALUES ('w1', 'abc', 1);");
	ck_assert_int_eq(raw_int("PRAGMA user_version"), 4);

	st = open_ok(dbpath, 0);
	ck_assert_int_eq(store_schema_version(st, &err), STORE_SCHEMA_LATEST);
	run = get_run(st, 1);
	ck_assert_int_eq(run.kind, STORE_RUN_NIGHTLY);
	store_run_release(&run);
	ck_assert_msg(store_jobs_list(st, 1, &jobs, &n, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(jobs[0].build_key, hex64(0));
	ck_assert_int_eq(jobs[0].has_status, 0);
	ck_assert_int_eq(jobs[0].cached, 0);
	ck_assert_int_eq(jobs[0].cancel_requested, 0);
	ck_assert_ptr_null(jobs[0].tree_id);
	ck_assert_ptr_null(jobs[0].output_hash);
	ck_assert_int_eq(jobs[0].cause_id, 0);
	ck_assert_int_eq(jobs[1].deps_left, 1);
	ck_assert_uint_eq(jobs[1].ndeps, 1);
	store_jobs_free(jobs, n);
	ck_assert_msg(store_workers_list(st, &ws, &n, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(ws[0].slots, 1);
	store_workers_free(ws, n);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM results WHERE lease_expired = 0"), 1);

	/* The old rows take part in the queue. */
	ck_assert_int_eq(lease_ok(st, "w1", unix_only, 1, T0, NULL), 1);
	store_close(st);
}
END_TEST

/* Flake checks: a run again of a job with its key and dependencies, never cached; flakiness from them. */
/* A build key is built once: a second job with the key waits while the first is leased. */
START_TEST(test_key_built_once)
{
	struct store *st = open_ok(dbpath, 0);
	struct rp_error err = {.msg = ""};
	int64_t a[1], b[1], c[1], waiting[4], fence = 0;
	size_t n = 9;
	sync_universe(st, "mini");
	struct run_opts o = {.targets = unix_only, .njobs = 1, .keyed = 1, .key_base = 60};
	make_run(st, &o, a);
	make_run(st, &o, b); /* the same key */
	o.key_base = 61;
	make_run(st, &o, c); /* another key */
	ck_assert_int_eq(lease_ok(st, "w1", unix_only, 1, T0 + 1, &fence), a[0]);
	/* b waits for a's build; c, another key, is leased meanwhile. */
	ck_assert_int_eq(lease_ok(st, "w2", unix_only, 1, T0 + 2, NULL), c[0]);
	ck_assert_int_eq(lease_try(st, "w3", unix_only, 1, T0 + 3), RP_ENOTFOUND);
	ck_assert_msg(store_jobs_waiting_for_key(st, hex64(60), waiting, 4, &n, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(waiting[0], b[0]);
	ck_assert_int_eq(store_jobs_waiting_for_key(st, "nothex", waiting, 4, &n, &err), RP_EINVAL);
	/* a's build ended: b may be leased (the farm answers it from the cache first). */
	struct store_job_result r = pass_by("w1", fence, OUT(1), T0 + 4);
	finish_ok(st, a[0], &r, NULL);
	ck_assert_int_eq(lease_ok(st, "w3", unix_only, 1, T0 + 5, NULL), b[0]);
	ck_assert_msg(store_jobs_waiting_for_key(st, hex64(60), waiting, 4, &n, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(n, 0);
	store_close(st);
}
END_TEST

START_TEST(test_reruns_and_flakiness)
{
	static const struct store_edge chain[] = {{1, 0}};
	struct store *st = open_ok(dbpath, 0);
	struct rp_error err = {.msg = ""};
	int64_t ids[2], reruns[2], fence = 0;
	sync_universe(st, "mini");
	struct run_opts o = {.targets = unix_only2, .njobs = 2, .edges = chain, .nedges = 1, .keyed = 1, .key_base = 40};
	int64_t run = make_run(st, &o, ids);
	for (int i = 0; i < 2; i++) {
		int64_t id = lease_ok(st, "w1", unix_only, 1, T0 + 10 + i, &fence);
		ck_assert_int_eq(id, ids[i]);
		struct store_job_result r = pass_by("w1", fence, hex64(90 + (unsigned)i), T0 + 20 + i);
		if (i == 1) {
			r.status = STORE_RESULT_FAIL;
			r.failed_step = "test";
			r.failed_test = "test_sum";
		}
		finish_ok(st, id, &r, NULL);
	}
	struct store_run r0 = get_run(st, run);
	ck_assert_int_eq(r0.state, STORE_RUN_DONE);
	store_run_release(&r0);

	ck_assert_int_eq(store_job_reruns_add(st, run, ids[1], 21, T0 + 30, NULL, &err), RP_EINVAL);
	ck_assert_int_eq(store_job_reruns_add(st, run, 9999, 1, T0 + 30, NULL, &err), RP_ENOTFOUND);
	ck_assert_msg(store_job_reruns_add(st, run, ids[1], 2, T0 + 30, reruns, &err) == 0, "%s", err.msg);
	struct store_run r1 = get_run(st, run);
	ck_assert_int_eq(r1.state, STORE_RUN_RUNNING);
	ck_assert_int_eq(r1.finished_ms, 0);
	store_run_release(&r1);
	for (int i = 0; i < 2; i++) {
		struct store_job j = get_job(st, reruns[i]);
		ck_assert_int_eq(j.rerun_of, ids[1]);
		ck_assert_ptr_null(j.failed_test);
		ck_assert_str_eq(j.build_key, hex64(41));
		ck_assert_int_eq(j.state, STORE_JOB_QUEUED);
		ck_assert_int_eq(j.deps_left, 0);
		store_job_release(&j);
		struct store_job *deps = NULL;
		size_t n = 0;
		ck_assert_msg(store_job_deps(st, reruns[i], &deps, &n, &err) == 0, "%s", err.msg);
		ck_assert_uint_eq(n, 1);
		ck_assert_int_eq(deps[0].id, ids[0]);
		store_jobs_free(deps, n);
	}
	struct store_job found;
	ck_assert_msg(store_job_find(st, run, "tcpip", "unix", &found, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(found.id, ids[1]); /* the job itself, not a check of it */
	store_job_release(&found);
	ck_assert_int_eq(store_job_find(st, run, "mirage", "unix", &found, &err), RP_ENOTFOUND);

	/* One check passes, one fails: the key is flaky; the run ends again. */
	for (int i = 0; i < 2; i++) {
		int64_t id = lease_ok(st, "w2", unix_only, 1, T0 + 40 + i, &fence);
		ck_assert_int_eq(id, reruns[i]);
		struct store_job_result r = pass_by("w2", fence, hex64(91), T0 + 50 + i);
		if (i == 1) {
			r.status = STORE_RESULT_FAIL;
			r.failed_step = "test";
			r.failed_test = "test_sum";
		}
		finish_ok(st, id, &r, NULL);
	}
	struct store_run r2 = get_run(st, run);
	ck_assert_int_eq(r2.state, STORE_RUN_DONE);
	store_run_release(&r2);
	struct store_flakiness *fl = NULL;
	size_t nfl = 0;
	ck_assert_msg(store_flakiness(st, &fl, &nfl, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(nfl, 1);
	ck_assert_str_eq(fl[0].package, "tcpip");
	ck_assert_str_eq(fl[0].test, "test_sum");
	ck_assert_int_eq(fl[0].keys, 1);
	ck_assert_int_eq(fl[0].flaky_keys, 1);
	ck_assert_int_eq(fl[0].runs, 3);
	ck_assert_int_eq(fl[0].failures, 2);
	store_flakiness_free(fl, nfl);
	/* The build cache keeps the key's first result. */
	struct store_build b;
	ck_assert_msg(store_build_get(st, hex64(41), &b, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(b.status, "fail");
	store_build_release(&b);
	store_close(st);
}
END_TEST

/* Retention: old runs' logs, then old runs whole, never the latest nightly nor an unfinished run. */
START_TEST(test_retention)
{
	struct store *st = open_ok(dbpath, 0);
	struct rp_error err = {.msg = ""};
	int64_t a[1], b[1], c[1], fence = 0;
	size_t logs = 9, runs = 9;
	int64_t size = 0;
	sync_universe(st, "mini");
	struct run_opts o = {.targets = unix_only, .njobs = 1, .keyed = 1, .key_base = 60, .nightly = 1};
	int64_t run_a = make_run(st, &o, a);
	o.nightly = 0;
	o.key_base = 61;
	int64_t run_b = make_run(st, &o, b);
	o.key_base = 62;
	int64_t run_c = make_run(st, &o, c);
	for (int i = 0; i < 2; i++) {
		int64_t id = lease_ok(st, "w1", unix_only, 1, T0 + 10 + i, &fence);
		ck_assert_int_eq(id, i == 0 ? a[0] : b[0]);
		ck_assert_msg(store_log_append(st, id, 0, 0, "hello\n", 6, &size, &err) == 0, "%s", err.msg);
		struct store_job_result r = pass_by("w1", fence, hex64(90), T0 + 20 + i);
		finish_ok(st, id, &r, NULL);
	}
	/* run_c stays queued: unfinished. Logs first: runs a and b are past the age. */
	ck_assert_msg(store_retention(st, T0 + 100, T0 + 50, 0, 8, &logs, &runs, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(logs, 2);
	ck_assert_uint_eq(runs, 0);
	ck_assert_msg(store_log_size(st, b[0], 0, &size, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(size, 0);
	struct store_job j = get_job(st, b[0]);
	ck_assert_int_eq(j.status, STORE_RESULT_PASS); /* the job and its result stay */
	store_job_release(&j);
	ck_assert_msg(store_retention(st, T0 + 100, T0 + 50, 0, 8, &logs, &runs, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(logs, 0); /* done already */
	/* Then whole runs: b goes, a is the latest done nightly, c is unfinished. */
	ck_assert_msg(store_retention(st, T0 + 100, 0, T0 + 50, 8, &logs, &runs, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(runs, 1);
	struct store_run r;
	ck_assert_int_eq(store_run_get(st, run_b, &r, &err), RP_ENOTFOUND);
	store_run_release(&r);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM jobs"), 2);
	struct store_run ra = get_run(st, run_a), rc_ = get_run(st, run_c);
	ck_assert_int_eq(ra.state, STORE_RUN_DONE);
	ck_assert_int_eq(rc_.state, STORE_RUN_QUEUED);
	store_run_release(&ra);
	store_run_release(&rc_);
	store_close(st);
}
END_TEST

START_TEST(test_dispatch_rate)
{
	enum { NJOBS = 2000 };
	struct store *st = open_ok(dbpath, 0);
	struct store_job_spec *js = calloc(NJOBS, sizeof(*js));
	static char keys[NJOBS][65];
	struct rp_error err = {.msg = ""};
	struct timespec a, b;
	int64_t run_id;
	double secs;

	ck_assert_ptr_nonnull(js);
	sync_universe(st, "mini");
	sync_universe(st, "other");
	for (int i = 0; i < NJOBS; i++) {
		snprintf(keys[i], sizeof(keys[i]), "%064x", i + 1);
		js[i] = (struct store_job_spec){"cstruct", i % 2 ? "unix" : "vm", "a1", keys[i], NULL, NULL, 0};
	}
	/* Two universes, so fairness is computed on every lease. */
	for (int u = 0; u < 2; u++) {
		struct store_run_spec spec = {.universe = u ? "other" : "mini",
					      .kind = STORE_RUN_NIGHTLY,
					      .priority = 20,
					      .jobs = js + u * (NJOBS / 2),
					      .njobs = NJOBS / 2,
					      .created_ms = T0};
		ck_assert_msg(store_run_create(st, &spec, &run_id, NULL, &err) == 0, "%s", err.msg);
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < NJOBS; i++) {
		int64_t fence, id = lease_ok(st, "w1", unix_vm, 2, T0 + i, &fence);
		ck_assert_msg(store_job_heartbeat(st, id, "w1", fence, T0 + i, LEASE_MS, NULL, NULL, &err) ==
				  0,
			      "%s", err.msg);
		struct store_job_result r = pass_by("w1", fence, OUT(0), T0 + i);
		finish_ok(st, id, &r, NULL);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	fprintf(stderr, "test_dispatch_rate: %d lease+heartbeat+finish in %.3f s: %.0f jobs/s\n", NJOBS, secs,
		NJOBS / secs);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM runs WHERE state = 'done'"), 2);
	/* Far below the 1,000 jobs/s a release build does, so that sanitizer builds pass too. */
	ck_assert_msg(NJOBS / secs > 250, "%.0f jobs/s", NJOBS / secs);
	free(js);
	store_close(st);
}
END_TEST

static Suite *store_queue_suite(void)
{
	Suite *s = suite_create("store_queue");
	TCase *tc;

	tc = tcase_create("lifecycle");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_diamond_lifecycle);
	tcase_add_test(tc, test_tree_id_and_request_id);
	tcase_add_test(tc, test_finish_without_worker);
	suite_add_tcase(s, tc);

	tc = tcase_create("leases");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_stale_fence_refused);
	tcase_add_test(tc, test_idempotent_repost);
	tcase_add_test(tc, test_finish_refusals);
	tcase_add_test(tc, test_lease_expiry_retries_then_error);
	tcase_add_test(tc, test_error_result_requeues);
	tcase_add_test(tc, test_cancel);
	tcase_add_test(tc, test_lease_order_and_fairness);
	tcase_add_test(tc, test_lease_affinity);
	tcase_add_test(tc, test_artifact_replace_until_built);
	suite_add_tcase(s, tc);

	tc = tcase_create("views");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_runs_list_and_refs);
	tcase_add_test(tc, test_workers);
	tcase_add_test(tc, test_queue_stats);
	suite_add_tcase(s, tc);

	tc = tcase_create("schema");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_migrate_4_to_5_keeps_rows);
	tcase_add_test(tc, test_key_built_once);
	tcase_add_test(tc, test_reruns_and_flakiness);
	tcase_add_test(tc, test_retention);
	tcase_add_test(tc, test_dispatch_rate);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run_suite(store_queue_suite());
}
