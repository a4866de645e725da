/*
 * farm-internal.h — what the scheduler's own files share with farm.c beyond
 * farm.h: the farm's state and its locking, for the parts of the scheduler
 * that drive the store themselves under the farm's lock (autobisect.c).
 * Nothing outside scheduler/ includes this.
 *
 * Locking: reads take `lock`; a write is bracketed by farm__write_lock() and
 * farm__write_unlock(), which joins the open group commit and answers only
 * once it is committed (farm.c, "group commit").
 */
#ifndef RIPPLE_SCHEDULER_FARM_INTERNAL_H
#define RIPPLE_SCHEDULER_FARM_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "core/graph.h"
#include "core/manifest.h"
#include "core/store.h"
#include "scheduler/farm.h"

/* Finished runs' documents kept serialized, and the largest one kept. */
#define PAGE_CACHE 8
#define PAGE_CACHE_MAX_BYTES (8u << 20)

/* Upper bounds of the job duration histogram, in seconds. */
static const double duration_buckets[] = {1, 5, 15, 60, 300, 1800};
#define N_BUCKETS (sizeof(duration_buckets) / sizeof(duration_buckets[0]))

struct farm {
	pthread_mutex_t lock;
	pthread_cond_t work; /* a job may have become leasable; on CLOCK_MONOTONIC */
	pthread_cond_t logs; /* a log grew or a job ended: live-log readers; on CLOCK_MONOTONIC */
	struct store *st;
	struct rp_universe *u;
	struct graph g;
	json_t *manifest;
	struct farm_options o;
	char *cache_dir, *mirrors_dir, *blobs_dir;
	char worker_token_hash[65];
	char base_url[512]; /* links in reports: the dashboard's address; "" until the server knows it */
	int shutting_down;
	struct seen {
		char name[65];
		int64_t written_ms;
	} seen[64]; /* the last heartbeat written per worker: at most one write a second each */
	struct store *checkpointer; /* a second connection: WAL checkpoints outside the farm's lock */
	uint64_t duration_counts[N_BUCKETS + 1];
	double duration_sum;
	uint64_t durations;
	/* Group commit (write_lock / write_unlock): one open transaction collects the
	 * writes of every request that arrives while another is being served. */
	pthread_mutex_t commit_lock; /* guards the waiters' done/rc, so they wait without the farm's lock */
	pthread_cond_t committed;    /* a group was committed (or failed); with commit_lock */
	int txn_open;		     /* f->st holds writes not yet committed */
	atomic_int writers;	     /* requests between write_lock and write_unlock */
	struct commit_wait *waiting; /* requests whose answer waits for the open group */
	size_t group;		     /* requests in the open group */
	uint64_t commits, grouped;   /* for /metrics: groups committed, requests in them */
	/* The documents of finished runs, which no longer change: a dashboard asks for them again and again.
	 */
	struct page {
		int64_t run_id, finished_ms;
		char *text;
		size_t len;
		uint64_t used;
	} pages[PAGE_CACHE];
	uint64_t page_clock;
	int64_t next_retention_ms; /* retention runs hourly, sooner while it has a backlog */
	/*
	 * The API diffs of the last pairs of builds compared (farm_api.c): a
	 * report is asked for again and again (the dashboard, the forge) and
	 * the same two dumps always give the same changes. Guarded by api_lock.
	 */
	pthread_mutex_t api_lock;
	struct api_memo {
		char old_key[65], new_key[65];
		json_t *entry; /* the library's entry, before any link */
		uint64_t used;
	} api_memo[8];
	uint64_t api_clock;
	atomic_int coverage_due;   /* a coverage report was recorded: merge soon (farm_coverage_merge) */
	int64_t next_coverage_ms;  /* and otherwise look this late, for those a restart left */
};

/* One request waiting for its writes to be committed (on its own stack). */
struct commit_wait {
	struct commit_wait *next;
	int done, rc;
};

/* Takes the farm's lock for a write; the writes join the open group. */
void farm__write_lock(struct farm *f);
/* Leaves it: 0 once the group holding the writes is committed, RP_EDB (err filled when non-NULL) if not. */
int farm__write_unlock(struct farm *f, struct rp_error *err);
/* Keys what became ready and wakes lease requests (write lock held): after jobs were added. */
void farm__jobs_added(struct farm *f);
/* Wall-clock milliseconds. */
int64_t farm__now_ms(void);
/* The last bytes of job `job`'s latest log (lock held); malloc'd, NULL when none. */
char *farm__log_tail(struct farm *f, const struct store_job *job, size_t *len);

/*
 * The coverage section of a run's report (farm_coverage.c), from the run's
 * coverage jobs and those of the nightly it is compared with (`before`, may
 * be empty): per package its totals, the base's and the change in points,
 * and the patch coverage of the lines changed since the base's commit
 * ({"package", "commit", "job", "totals", "base", "change", "patch",
 * "patch_base", "patch_files": [{"path", "covered", "total", "uncovered",
 * "lines"}]}). Call without the farm's lock.
 */
json_t *farm__run_coverage(struct farm *f, const struct store_job *jobs, size_t n, const struct store_job *before,
			   size_t nb);

/*
 * The figures of coverage artifact `build_key` as history metrics (percent
 * of lines, branches and functions covered: HISTORY_COVERAGE and its two
 * siblings) into *m;
 * none when it cannot be read. Call without the farm's lock.
 */
struct history_metrics;
void farm__coverage_metrics(struct farm *f, const char *build_key, struct history_metrics *m);

/*
 * The API section of a run's report (farm_api.c): {"libraries": [{"package",
 * "target", "old", "new", "versions", "semver", "weaker", "changes": [{...,
 * "broke": [{"package", "target", "job", "line", "shape", "summary"}]}]} or
 * {..., "problem"}], "behaviour_changes": [{"package", "target", "job",
 * "first_error"}]} for the libraries with an api block whose build differs
 * from the compared nightly's; each regressed pair of `pairs` gets "cause":
 * "api change" or "behaviour change". Call without the farm's lock.
 */
json_t *farm__run_api(struct farm *f, const struct store_job *jobs, size_t n, const struct store_job *before,
		      size_t nb, json_t *pairs);

/*
 * The artifact `name` of `build_key`, parsed as JSON, into *doc (the caller's):
 * errors name it as "WHAT of build KEY" (RP_ENOTFOUND when missing or damaged
 * on disk, RP_EINVAL when it is not JSON). Takes the farm's lock itself.
 */
int farm__artifact_json(struct farm *f, const char *build_key, const char *name, const char *what, json_t **doc,
			struct rp_error *err);

/*
 * Fuzz jobs (farm_fuzz.c). farm__fuzz_lease adds "fuzz" to a fuzz job's
 * lease document `doc` ({"mode": "fuzz"} or, for a crash's replay,
 * {"mode": "reproduce", "crash", "fuzzer", "signature", "reproducer"}).
 * farm__fuzz_check refuses a result's "fuzz" report that is malformed or
 * names a reproducer not uploaded, before anything is written;
 * farm__fuzz_record records it in the result's transaction. Lock held.
 */
/*
 * The crashes run `run_id` found, and those its replays fixed, for its report:
 * {"new": [{"id", "package", "target", "fuzzer", "signature", "commit",
 * "fixed_commit"}], "fixed": [...]}. Takes the farm's lock itself.
 */
json_t *farm__run_fuzz(struct farm *f, int64_t run_id);
int farm__fuzz_lease(struct farm *f, const struct store_job *job, json_t *doc, struct rp_error *err);
int farm__fuzz_check(struct farm *f, const struct store_job *job, enum store_result_status st,
		     const char *failed_step, const char *category, const json_t *report, struct rp_error *err);
int farm__fuzz_record(struct farm *f, const struct store_job *job, enum store_result_status st,
		      const char *failed_step, const char *category, const json_t *report, struct rp_error *err);

#endif
