/*
 * build.h — the build engine: build and test jobs against their dependencies'
 * builds, on one libuv loop, answering every known build key from the cache.
 *
 * Contract:
 * - A session (build_session_open) holds what outlives one run: the cache
 *   directory (git mirrors, artifacts, logs, the SQLite store with the build
 *   cache), one backend per target, the failure classifier.
 * - build_run() runs a set of jobs: every job of a plan, plus a job for each
 *   dependency they need whose build is not in the plan (at its branch head),
 *   in dependency order, at most `jobs` at once. For each job: the revision is
 *   resolved in the package's mirror to a commit and tree; the build key is
 *   computed from the tree, the recipe, the target and the dependencies'
 *   output hashes; a key found in the cache is answered from it. Otherwise
 *   the commit is checked out, the dependencies' artifacts (transitively) are
 *   layered into the job's prefix, the build step and then the test step run
 *   in the target's backend, what the build added to the prefix is archived,
 *   and the result is recorded under the key (pass and fail only: an
 *   infrastructure error, a timeout or a cancellation is never cached). A job
 *   that failed for the infrastructure's sake (the backend, the disk, a log
 *   the classifier calls infrastructure) is run again, up to
 *   BUILD_INFRA_ATTEMPTS times, and is never blamed on the code.
 * - A job whose dependency's build failed is `skipped`, naming the root
 *   failure it cascades from. A dependency whose tests failed still has an
 *   output, so its dependents are built.
 * - Results live in the report until build_report_release(); strings are
 *   owned by it. Nothing here prints; progress goes to the `on_progress`
 *   callback and step starts to `on_step`, both called on the loop's thread.
 * - Several sessions may run at once in one process (a worker runs one per
 *   slot thread), on one cache directory or several: work directories and
 *   logs are named by process and session, never shared. A session runs one
 *   build_run() at a time; build_cancel() is its only function that another
 *   thread may call meanwhile.
 *
 * Calling sequence:
 *	build_session_open(universe, &opts, &s, &err);
 *	build_run(s, graph, changes, n_changes, pins, n_pins, &report, &err);
 *	... report.jobs[i] ...
 *	build_report_release(&report);
 *	build_session_close(s);
 * A worker, per leased job:
 *	build_cancel_reset(s);			(forget a cancel meant for the last job)
 *	build_session_select(s, &(struct build_select){ pkg, target, pkg, key });
 *	build_run(...);				(another thread may build_cancel(s))
 */
#ifndef RIPPLE_RUNNER_BUILD_H
#define RIPPLE_RUNNER_BUILD_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/graph.h"
#include "core/manifest.h"
#include "scheduler/plan.h"

enum build_outcome {
	BUILD_PASS,
	BUILD_FAIL,      /* the code: a build or test step failed */
	BUILD_SKIPPED,   /* a dependency's build failed */
	BUILD_ERROR,     /* infrastructure: unreachable repository, no backend, disk ... */
	BUILD_TIMEOUT,   /* a step ran past the package's timeout */
	BUILD_CANCELLED, /* the run was interrupted */
};

/* "pass", "fail", ... as reports and the store spell them. Inline, so reports need no runner code. */
static inline const char *build_outcome_name(enum build_outcome outcome)
{
	static const char *const names[] = { "pass", "fail", "skipped", "error", "timeout", "cancelled" };
	return (unsigned)outcome < sizeof(names) / sizeof(names[0]) ? names[outcome] : "unknown";
}

struct build_job_report {
	size_t package, target;   /* indices into the universe */
	int changed;              /* the plan changed this package */
	char commit[41];          /* "" when the revision could not be resolved */
	char key[65];             /* "" when no key could be computed */
	enum build_outcome outcome;
	int cached;               /* answered from the build cache */
	const char *failed_step;  /* "build", "test" or NULL */
	char category[32];        /* failure category, "" for a pass */
	char first_error[512];    /* the line to show; for skipped: why */
	char failed_test[128];    /* a test failure: the test its first error line names; "" when none */
	char output_hash[65];     /* "" when the build produced no output */
	long cause;               /* skipped: index of the root failure; else -1 */
	uint64_t duration_ms;
	uint64_t build_ms, test_ms; /* each step's own time; 0 for a step that did not run (or a cache answer) */
	char log_path[4096];      /* the failed step's log (or the test log of a pass); "" when none */
	char fuzz_report[4096];   /* a fuzz job: its report (docs/fuzz.md) in the cache; "" when none was written */
	unsigned attempts;        /* runs of the job: more than one when infrastructure failed */
};

/* A job the infrastructure failed is run again, up to this many times in all. */
#define BUILD_INFRA_ATTEMPTS 3

struct build_report {
	struct build_job_report *jobs; /* in the order they could run */
	size_t n_jobs;
	size_t counts[BUILD_CANCELLED + 1];
	size_t cached, built;
	uint64_t elapsed_ms;
	int interrupted; /* SIGINT or SIGTERM stopped the run: its results are incomplete */
};

struct build_progress {
	size_t done, running, queued, cached, total;
	uint64_t elapsed_ms;
	const struct build_job_report *finished; /* the job that just finished, or NULL */
};

struct build_options {
	const char *cache_dir;   /* created when missing */
	unsigned jobs;           /* job slots; 0: 1 */
	int keep_workdirs;       /* leave each job's workspace and prefix behind */
	int no_cache;            /* build even what the cache knows (results are still recorded) */
	const char *fresh_package; /* NULL, or a package built even when the cache knows it (re-runs) */
	int offline;             /* do not fetch mirrors that exist already */
	const char *only_target; /* NULL: every target; else only jobs on this target */
	const char *only_package; /* NULL: the whole plan; else only this package's jobs (and what they need) */
	/*
	 * With only_package: a dependency job the cache cannot answer ends as
	 * BUILD_ERROR ("not in the build cache") instead of being built, so the
	 * run builds that one package or nothing (a worker has its dependencies'
	 * builds from the scheduler).
	 */
	int cached_deps_only;
	/*
	 * Leave SIGINT and SIGTERM alone: the caller handles them and calls
	 * build_cancel(). Otherwise a run cancels itself on either signal, and
	 * libuv restores their default action once it ends (a process that
	 * handles them itself must set this).
	 */
	int no_signal_handlers;
	void (*on_progress)(const struct build_progress *p, void *data);
	/*
	 * Called when a step of a job that is really run (not answered from the
	 * cache) starts: `step` is "build", "test" or "coverage", `log_path` the file its log
	 * is being written to (it grows until the step ends; the next call, or
	 * the end of build_run(), says it ended). An infrastructure retry of a
	 * job starts its steps again, with new logs. NULL: none.
	 */
	void (*on_step)(size_t package, size_t target, const char *step, const char *log_path, void *data);
	void *data; /* for on_progress and on_step */
};

struct build_session;

int build_session_open(const struct rp_universe *u, const struct build_options *opts, struct build_session **out,
		       struct rp_error *err);
void build_session_close(struct build_session *s);

/*
 * Runs the plan of `changes` (the whole universe when n_changes is 0), every
 * other package at its pinned revision in `pins` (the run's baseline) or else
 * at its branch head. Returns
 * 0 when every job got a result (whatever it is), or an error that stopped the
 * run as a whole (the cache cannot be opened, out of memory). Cancelled by
 * SIGINT or SIGTERM (unless no_signal_handlers) or build_cancel(): running
 * steps are stopped, and jobs not started are cancelled.
 */
int build_run(struct build_session *s, const struct graph *g, const struct plan_change *changes, size_t n_changes,
	      const struct plan_change *pins, size_t n_pins, struct build_report *report, struct rp_error *err);

/*
 * Cancels the session's run as SIGINT does; callable from any thread, at any
 * time while the session is open. When no run is active the cancel is
 * remembered and the next build_run() starts cancelled (every job ends
 * BUILD_CANCELLED without running), which closes the race with a run about
 * to start; build_cancel_reset() forgets it. A run that ends clears nothing:
 * a cancel that arrives as it returns is remembered for the next one, so a
 * caller that reuses the session for other work calls build_cancel_reset()
 * first.
 */
void build_cancel(struct build_session *s);
void build_cancel_reset(struct build_session *s);

/*
 * What the session's next runs build, replacing the options' only_package,
 * only_target and fresh_package (NULL members clear them). `expect_key`
 * (NULL: none) is the build key the only_package job on only_target must
 * get: when the computed key differs the job ends as BUILD_ERROR, category
 * "infrastructure", first_error "build key mismatch: computed X, expected Y",
 * without running. Strings are borrowed: they must outlive the runs. Not
 * while a run is active.
 */
struct build_select {
	const char *only_package, *only_target, *fresh_package, *expect_key;
	/*
	 * What the only_package job on only_target builds: NULL or "build", its
	 * output; "coverage", its coverage build: --coverage appended to CFLAGS,
	 * CXXFLAGS and LDFLAGS, the tests run, then (when they passed) gcc's
	 * gcov over the build tree (step "coverage") and its figures kept as the artifact
	 * "coverage" of the job's key (coverage.h's JSON, with lines). Its
	 * output is archived like any build's, from a prefix of its own (the
	 * package's stable prefix keeps its plain build). Data gcov cannot use,
	 * or none at all, fails the job at its test step, category "coverage".
	 * "fuzz", its fuzz build (docs/fuzz.md): built as OSS-Fuzz builds (clang,
	 * -fsanitize=address,fuzzer-no-link, LIB_FUZZING_ENGINE), never answered
	 * from the cache; its test step runs each of the package's fuzz targets
	 * for its time on the corpus kept in the cache, minimizes a crash and
	 * writes the job's fuzz report (build_job_report.fuzz_report). A crash
	 * fails the job at its test step, category "fuzz", first error "fuzz
	 * target NAME: SIGNATURE".
	 */
	const char *variant;
	unsigned fuzz_seconds;	    /* "fuzz": each target's time; 0: the manifest's */
	const char *fuzz_reproduce; /* "fuzz": run each target once on this file instead of fuzzing */
};
void build_session_select(struct build_session *s, const struct build_select *sel);

/*
 * The corpus a cache keeps for `package`'s fuzz targets (build_fuzz.c): the
 * directory CACHE/fuzz/corpus/PACKAGE, one subdirectory per fuzz target,
 * into `out` (the directory may not exist yet). RP_EINVAL when it does not fit.
 */
int build_fuzz_corpus_dir(const char *cache, const char *package, char *out, size_t size, struct rp_error *err);

/*
 * Merges `from` (a directory of the same layout: TARGET/INPUT) into the
 * corpus `cache` keeps for `package`: every input it lacks is copied
 * (libFuzzer names an input by its content's hash, so a name present is
 * that input). Entries that are not a directory of regular files are
 * skipped.
 */
int build_fuzz_corpus_merge(const char *cache, const char *package, const char *from, struct rp_error *err);

void build_report_release(struct build_report *report);

/*
 * The path of artifact `name` ("prefix", "coverage", "abi") of build key
 * `key` in the session's cache, into `path`. RP_ENOTFOUND when the cache
 * has none (or its file is gone). Not while a run is active.
 */
int build_session_artifact(struct build_session *s, const char *key, const char *name, char *path, size_t size,
			   struct rp_error *err);

#endif
