/*
 * farm.h — the scheduler's core: plans runs into the store, computes build
 * keys as dependencies finish, answers known keys from the build cache, hands
 * jobs to workers under leases, and takes their logs, artifacts and results.
 * The HTTP server (server.c) is a thin layer over it.
 *
 * Contract:
 * - One `struct farm` per scheduler process, shared by every request thread:
 *   every function takes the farm's lock for the store calls it makes (one
 *   SQLite connection). Slow work — resolving revisions in git mirrors,
 *   hashing an uploaded artifact — happens outside the lock.
 * - The store is the truth: after a crash, a new farm on the same database
 *   carries on (leases expire, unkeyed jobs are keyed again); nothing kept
 *   only in memory matters for correctness.
 * - A job is given a build key once every dependency ended with an output;
 *   a key the build cache knows ends the job at once (`cached`), without a
 *   worker. Only keyed jobs are leased.
 * - Functions return 0 or a negative RP_E* code with `err` filled:
 *   RP_EINVAL bad input (→ 400), RP_ENOTFOUND (→ 404), RP_ECONFLICT a stale
 *   lease or fence (→ 409), RP_EEXISTS different content under a known key
 *   (→ 409), RP_EUNREACHABLE a repository that cannot be fetched (→ 503),
 *   RP_EDB / RP_EIO (→ 503).
 * - JSON documents returned are new references the caller decrefs.
 */
#ifndef RIPPLE_SCHEDULER_FARM_H
#define RIPPLE_SCHEDULER_FARM_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "core/error.h"
#include "core/manifest.h"
#include "core/store.h"

/* Infrastructure attempts of a job before it ends as `error`. */
#define FARM_MAX_ATTEMPTS 3
/* The longest a lease request may wait for a job. */
#define FARM_MAX_WAIT_MS 30000

struct farm_options {
	const char *db_path;
	const char *universe_path;
	const char *cache_dir;	 /* mirrors and artifact blobs; created when missing */
	int64_t lease_ms;	 /* 0: 30 s */
	int64_t min_free_disk;	 /* a worker reporting less gets no job; 0: 256 MiB */
	int64_t min_free_mem;	 /* likewise; 0: 64 MiB */
	/* Indexed by enum forge_kind: pull-request runs of that forge owe statuses and a comment. */
	unsigned char report_to[4];
	struct store_history_limits history; /* points kept per resolution; zeros: the store's defaults */
	double drop_threshold;		     /* a metric this much worse is a drop (0.2 = 20%); 0: 0.2 */
	int flaky_runs; /* a PR's failing test and its passing base each run this often in all; 0: 3 */
	int logs_days, runs_days; /* retention: 0 keeps logs, runs */
	int nightly_fuzz; /* a nightly fuzzes (config nightly.fuzz) unless its request says otherwise */
};

struct farm;

int farm_open(const struct farm_options *o, struct farm **out, struct rp_error *err);
/* Wakes every waiting lease request (they answer 204) and frees the farm; no call may be running. */
void farm_close(struct farm *f);

/* Where the dashboard is reached (config public_url, else the server's URL): the links of reports. */
void farm_set_base_url(struct farm *f, const char *url);

/* The SHA-256 (hex) of the worker token, recorded with each registered worker. */
void farm_set_worker_token_hash(struct farm *f, const char *hash);

/* Makes every waiting lease request return; later ones return at once. */
void farm_shutdown(struct farm *f);

/* {"name", "dir", "manifest"} for workers. */
json_t *farm_universe_json(struct farm *f);

/*
 * Plans a run from a submit document (docs/api.md, POST /runs). *created is
 * 0 when its request_id named an earlier run, which *run_id then is.
 */
int farm_submit(struct farm *f, const json_t *req, int64_t *run_id, size_t *njobs, int *created,
		struct rp_error *err);

int farm_cancel(struct farm *f, int64_t run_id, size_t *n_queued, size_t *n_running, struct rp_error *err);

/* GET documents. */
int farm_runs_json(struct farm *f, int64_t before, size_t limit, json_t **out, struct rp_error *err);
int farm_run_json(struct farm *f, int64_t run_id, json_t **out, struct rp_error *err);
/*
 * GET /runs/{id} as text (malloc'd, the caller frees it): farm_run_json()'s
 * document, kept serialized for the few runs last asked for once they are
 * done, since a done run never changes again.
 */
int farm_run_page(struct farm *f, int64_t run_id, char **text, size_t *len, struct rp_error *err);
int farm_job_json(struct farm *f, int64_t job_id, json_t **out, struct rp_error *err);
int farm_workers_json(struct farm *f, json_t **out, struct rp_error *err);
/* Prometheus text; *out malloc'd. `http_counts` is indexed by HTTP status code. */
int farm_metrics(struct farm *f, const uint64_t http_counts[600], char **out, struct rp_error *err);

/* Worker calls. */
int farm_register(struct farm *f, const json_t *req, json_t **out, struct rp_error *err);
/*
 * *out NULL after the wait: no job (204). `alive` (may be NULL) is asked
 * before a job is leased after waiting: a long-poll whose client went away
 * must not take a job it can never deliver.
 */
int farm_lease(struct farm *f, const json_t *req, int (*alive)(void *ctx), void *ctx, json_t **out,
	       struct rp_error *err);
int farm_heartbeat(struct farm *f, int64_t job_id, const json_t *req, json_t **out, struct rp_error *err);
/*
 * *size receives the log's size afterwards, also on RP_ECONFLICT for a gap or
 * a mismatch; -1 when the lease is not the caller's.
 */
int farm_log_put(struct farm *f, int64_t job_id, const char *worker, int64_t fence, int64_t offset,
		 const void *data, size_t len, int64_t *size, struct rp_error *err);
int farm_result(struct farm *f, int64_t job_id, const json_t *req, json_t **out, struct rp_error *err);

/*
 * Reads up to `cap` bytes of job `job_id`'s log from `offset`, waiting up to
 * wait_ms for bytes past `offset` while the attempt is unfinished. *attempt
 * is the attempt to read, -1 for the latest, and receives the one read.
 * *size is the log's size, *ended 1 when the attempt ended.
 */
int farm_log_read(struct farm *f, int64_t job_id, int *attempt, int64_t offset, void *buf, size_t cap,
		  size_t *n, int64_t *size, int *ended, int wait_ms, struct rp_error *err);

/*
 * Artifacts. An upload arrives in pieces: farm_artifact_begin opens a
 * temporary file, _write appends and hashes, _commit checks the size and
 * sha256 against what the worker announced and records it, _abort drops it.
 */
struct farm_upload;
int farm_artifact_begin(struct farm *f, const char *build_key, const char *name, const char *sha256,
			struct farm_upload **out, struct rp_error *err);
int farm_artifact_write(struct farm_upload *up, const void *data, size_t len, struct rp_error *err);
int farm_artifact_commit(struct farm_upload *up, struct rp_error *err);
void farm_artifact_abort(struct farm_upload *up);

/* Opens the artifact for reading: *fp, its size and sha256 (65 bytes). RP_ENOTFOUND. */
int farm_artifact_open(struct farm *f, const char *build_key, const char *name, FILE **fp, int64_t *size,
		       char sha256[65], struct rp_error *err);

/* ---- fuzzing (farm_fuzz.c) ---- */

/*
 * GET /api/v1/fuzz[?package=P]: {"fuzzers": [...], "crashes": [...]}, each
 * fuzz target's latest figures and every crash, open ones first (docs/api.md).
 * RP_ENOTFOUND for a package the universe does not have.
 */
int farm_fuzz_json(struct farm *f, const char *package, json_t **out, struct rp_error *err);

/*
 * The artifact key the corpus of (package, target) is kept under (name
 * "corpus"): derived from the universe, package and target, and unlike any
 * build key. RP_ENOTFOUND when the package does not have that target.
 */
int farm_fuzz_corpus_key(struct farm *f, const char *package, const char *target, char key[65],
			 struct rp_error *err);

/* ---- nightly and reports ---- */

/*
 * Plans the nightly of the slot that starts at `slot_ms` (every package at its
 * branch head, on every target): idempotent per slot, so a restart or a second
 * call in the same slot finds the run instead of planning another. With
 * `fuzz` 1 it also fuzzes (farm_submit's "fuzz"); -1: as nightly.fuzz says.
 */
int farm_nightly(struct farm *f, int64_t slot_ms, int fuzz, int64_t *run_id, size_t *njobs, int *created,
		 struct rp_error *err);

/*
 * The report of run `run_id` against the latest finished nightly before it:
 * each (package, target) with its verdict — for a nightly "newly broken",
 * "newly fixed", "still broken"; for other runs "regressed", "fixed", "still
 * failing" — plus "passing", "skipped", "new" (no result before) and
 * "unfinished"; newly broken pairs are marked to bisect. The document has
 * "markdown" too.
 */
int farm_run_report(struct farm *f, int64_t run_id, json_t **out, struct rp_error *err);

/* ---- for webhooks ---- */

/*
 * The packages whose repository is `url` (normalized as mirrors are: scheme
 * and host case, user info, ".git", trailing slashes), with their branches;
 * both borrowed from the farm's universe. At most `cap`.
 */
int farm_repo_packages(struct farm *f, const char *url, const char **names, const char **branches, size_t cap,
		       size_t *n, struct rp_error *err);

/* [{"package", "rev"}] of the latest finished nightly (an empty array when none). */
int farm_nightly_pins(struct farm *f, json_t **pins, struct rp_error *err);

/* The names of the targets whose runner isolates untrusted code (every one but `process`). */
json_t *farm_untrusted_targets(struct farm *f);

/* Cancels every unfinished run of `change_ref`; *n receives how many. */
int farm_cancel_ref(struct farm *f, const char *change_ref, size_t *n, struct rp_error *err);

/* ---- for the delivery of reports (notify.h) ---- */

/* The store's outbox under the farm's lock (core/store.h, "what is owed"); times are wall-clock ms. */
int farm_reports_due(struct farm *f, int64_t now_ms, size_t max, struct store_report **out, size_t *n,
		     struct rp_error *err);
int farm_report_sent(struct farm *f, int64_t run_id, const char *sent, int done, struct rp_error *err);
int farm_report_retry(struct farm *f, int64_t run_id, int64_t next_ms, const char *why, int give_up,
		      struct rp_error *err);
int farm_pr_comment_get(struct farm *f, const char *change_ref, int64_t *comment_id, struct rp_error *err);
int farm_pr_comment_put(struct farm *f, const char *change_ref, int64_t comment_id, struct rp_error *err);
int farm_notifications_due(struct farm *f, int64_t now_ms, size_t max, struct store_notification **out,
			   size_t *n, struct rp_error *err);
int farm_notification_done(struct farm *f, int64_t id, int delivered, const char *why, struct rp_error *err);
int farm_notification_retry(struct farm *f, int64_t id, int64_t next_ms, const char *why, struct rp_error *err);

/*
 * Records the notifications of nightly run `run_id` (ended): one per package
 * with a "notify" webhook that has newly broken pairs, its payload built now
 * (docs/manifest.md); *n receives how many. Idempotent per (run, package).
 */
int farm_owe_notifications(struct farm *f, int64_t run_id, const char *base_url, size_t *n,
			   struct rp_error *err);

/*
 * Records the history of nightly run `run_id` (ended): for each job that
 * ran (not a cache answer) and built, its build and test times, the size of
 * its install prefix, and the RIPPLE-METRIC lines of its log; a test metric
 * that fell past the threshold against its last days becomes a metric drop
 * of the run (in its report). *drops receives how many. Idempotent only per
 * call: the notification thread calls it once per nightly.
 */
int farm_record_history(struct farm *f, int64_t run_id, size_t *drops, struct rp_error *err);

/*
 * GET /api/v1/history/PACKAGE: {"package", "resolution", "series": [{"target",
 * "metric", "unit", "points": [{"t", "n", "min", "avg", "max"}]}]}.
 */
int farm_history_json(struct farm *f, const char *package, const char *target, const char *metric,
		      const char *resolution, json_t **out, struct rp_error *err);

/* GET /api/v1/flakiness: {"pairs": [{"package", "target", "keys", "flaky_keys", "runs", "failures", "score"}]}. */
int farm_flakiness_json(struct farm *f, json_t **out, struct rp_error *err);

/* ---- coverage (farm_coverage.c) ---------------------------------------------------------- */

/*
 * Merges up to `max` coverage reports recorded by coverage jobs' results
 * into their commits' figures (*merged says how many); called often by the
 * server's loop, it does nothing until a report was recorded, or every few
 * seconds. A report whose figures cannot be read is set aside with the
 * reason. Every report of one (package, commit) is summed into one, as
 * Codecov merges a commit's uploads: coverage of several test jobs of the
 * same commit (its coverage jobs against other dependency builds) adds up.
 */
int farm_coverage_merge(struct farm *f, size_t max, size_t *merged, struct rp_error *err);

/* GET /api/v1/coverage: {"packages": [{"package", "commit", "time", "updated", "reports", "totals"}]}, each package's newest. */
int farm_coverage_packages_json(struct farm *f, json_t **out, struct rp_error *err);

/*
 * GET /api/v1/coverage/PACKAGE: {"package", "latest", "commits": [{"commit",
 * "time", "updated", "reports", "totals"}]}, oldest first, the newest `limit`
 * (0: 1000). RP_ENOTFOUND for a package not in the universe.
 */
int farm_coverage_package_json(struct farm *f, const char *package, size_t limit, json_t **out, struct rp_error *err);

/*
 * GET /api/v1/coverage/PACKAGE/COMMIT (COMMIT: 40 hex digits or "latest"):
 * the commit's totals and {"files": [{"path", "totals"}]}. RP_ENOTFOUND when
 * it has no coverage, RP_EINVAL for a malformed commit.
 */
int farm_coverage_commit_json(struct farm *f, const char *package, const char *commit, json_t **out,
			      struct rp_error *err);

/* The same as an lcov tracefile or Cobertura XML (`format` "lcov" or "cobertura"); *text is the caller's. */
int farm_coverage_export(struct farm *f, const char *package, const char *commit, const char *format, char **text,
			 size_t *len, struct rp_error *err);

/*
 * GET /api/v1/coverage/PACKAGE/COMMIT/file?path=P: {"package", "commit",
 * "path", "totals", "lines": [[LINE, HITS, [BRANCH HITS...]]], "functions":
 * [[NAME, LINE, CALLS]], "source": the file's text at that commit, or null}.
 */
int farm_coverage_file_json(struct farm *f, const char *package, const char *commit, const char *path,
			    json_t **out, struct rp_error *err);

/* Ends expired leases and keys what became ready; called about once a second. */
int farm_tick(struct farm *f, struct rp_error *err);

#endif
