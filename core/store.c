#include "store.h"
#include "store-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "banned.h"

/*
 * The migrations, oldest first: entry N-1 takes the schema from version N-1
 * to N. Each runs in its own transaction together with the bump of
 * `user_version`. A released entry is never edited: a change to the schema is
 * a new entry at the end (and STORE_SCHEMA_LATEST + 1), so every database,
 * whatever its version, ends up with the same schema. Data values never
 * appear here; only DDL (and 8's one UPDATE of a new column, said there).
 *
 * Conventions of the schema: times are INTEGER Unix milliseconds named *_ms;
 * enumerations are TEXT with a CHECK listing the values, so a bad state
 * cannot be written by any code path; runs and jobs name packages by name,
 * not by packages.id, so history survives a package leaving the manifest.
 */
/* clang-format off */
static const char *const store__migrations[] = {
	/* 1: the universe model. */
	"CREATE TABLE universes (\n"
	"	id INTEGER PRIMARY KEY,\n"
	"	name TEXT NOT NULL UNIQUE CHECK (name <> ''),\n"
	"	created_ms INTEGER NOT NULL,\n"
	"	updated_ms INTEGER NOT NULL\n"
	");\n"
	"CREATE TABLE packages (\n"
	"	id INTEGER PRIMARY KEY,\n"
	"	universe_id INTEGER NOT NULL REFERENCES universes (id) ON DELETE CASCADE,\n"
	"	name TEXT NOT NULL CHECK (name <> ''),\n"
	"	repo TEXT NOT NULL,\n"
	"	branch TEXT NOT NULL,\n"
	"	position INTEGER NOT NULL,\n"
	"	UNIQUE (universe_id, name)\n"
	");\n",

	/* 2: runs, the job DAG and results: what the planner and the queue need. */
	"CREATE TABLE runs (\n"
	"	id INTEGER PRIMARY KEY,\n"
	"	universe_id INTEGER NOT NULL REFERENCES universes (id),\n"
	"	kind TEXT NOT NULL CHECK (kind IN ('pr', 'nightly', 'bisect', 'manual', 'fuzz')),\n"
	"	priority INTEGER NOT NULL,\n"
	"	state TEXT NOT NULL DEFAULT 'queued'\n"
	"		CHECK (state IN ('queued', 'running', 'done', 'cancelled')),\n"
	"	title TEXT,\n"
	"	change_ref TEXT,\n"
	"	created_ms INTEGER NOT NULL,\n"
	"	finished_ms INTEGER\n"
	");\n"
	"CREATE INDEX runs_by_universe ON runs (universe_id, created_ms);\n"
	"CREATE INDEX runs_by_state ON runs (state, priority DESC, id);\n"
	"CREATE TABLE run_pins (\n"
	"	run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,\n"
	"	role TEXT NOT NULL CHECK (role IN ('baseline', 'change')),\n"
	"	package TEXT NOT NULL CHECK (package <> ''),\n"
	"	commit_id TEXT NOT NULL CHECK (commit_id <> ''),\n"
	"	PRIMARY KEY (run_id, role, package)\n"
	") WITHOUT ROWID;\n"
	"CREATE TABLE jobs (\n"
	"	id INTEGER PRIMARY KEY,\n"
	"	run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,\n"
	"	package TEXT NOT NULL CHECK (package <> ''),\n"
	"	target TEXT NOT NULL CHECK (target <> ''),\n"
	"	commit_id TEXT NOT NULL CHECK (commit_id <> ''),\n"
	"	build_key TEXT CHECK (build_key IS NULL\n"
	"		OR (length(build_key) = 64 AND build_key NOT GLOB '*[^0-9a-f]*')),\n"
	"	priority INTEGER NOT NULL,\n"
	"	state TEXT NOT NULL DEFAULT 'queued'\n"
	"		CHECK (state IN ('queued', 'leased', 'running', 'done', 'cancelled')),\n"
	"	deps_left INTEGER NOT NULL DEFAULT 0 CHECK (deps_left >= 0),\n"
	"	attempt INTEGER NOT NULL DEFAULT 0 CHECK (attempt >= 0),\n"
	"	lease_owner TEXT,\n"
	"	lease_expires_ms INTEGER,\n"
	"	fence INTEGER NOT NULL DEFAULT 0,\n"
	"	created_ms INTEGER NOT NULL,\n"
	"	started_ms INTEGER,\n"
	"	finished_ms INTEGER,\n"
	"	CHECK ((state IN ('leased', 'running'))\n"
	"		= (lease_owner IS NOT NULL AND lease_expires_ms IS NOT NULL))\n"
	");\n"
	"CREATE INDEX jobs_queue ON jobs (state, deps_left, priority DESC, id);\n"
	"CREATE INDEX jobs_by_run ON jobs (run_id);\n"
	"CREATE INDEX jobs_by_lease ON jobs (lease_expires_ms) WHERE lease_expires_ms IS NOT NULL;\n"
	"CREATE INDEX jobs_by_key ON jobs (build_key) WHERE build_key IS NOT NULL;\n"
	"CREATE INDEX jobs_by_package ON jobs (package, target, id);\n"
	"CREATE TABLE job_edges (\n"
	"	job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,\n"
	"	dep_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,\n"
	"	PRIMARY KEY (job_id, dep_id),\n"
	"	CHECK (job_id <> dep_id)\n"
	") WITHOUT ROWID;\n"
	"CREATE INDEX job_edges_by_dep ON job_edges (dep_id);\n"
	"CREATE TABLE results (\n"
	"	id INTEGER PRIMARY KEY,\n"
	"	job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,\n"
	"	attempt INTEGER NOT NULL CHECK (attempt >= 0),\n"
	"	status TEXT NOT NULL\n"
	"		CHECK (status IN ('pass', 'fail', 'skipped', 'error', 'timeout', 'cancelled')),\n"
	"	category TEXT,\n"
	"	first_error TEXT,\n"
	"	duration_ms INTEGER CHECK (duration_ms IS NULL OR duration_ms >= 0),\n"
	"	worker TEXT,\n"
	"	fence INTEGER,\n"
	"	created_ms INTEGER NOT NULL,\n"
	"	UNIQUE (job_id, attempt)\n"
	");\n",

	/* 3: the worker protocol: log chunks, artifacts by build key, workers. */
	"CREATE TABLE log_chunks (\n"
	"	id INTEGER PRIMARY KEY,\n"
	"	job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,\n"
	"	attempt INTEGER NOT NULL CHECK (attempt >= 0),\n"
	"	byte_offset INTEGER NOT NULL CHECK (byte_offset >= 0),\n"
	"	data BLOB NOT NULL CHECK (length(data) > 0),\n"
	"	UNIQUE (job_id, attempt, byte_offset)\n"
	");\n"
	"CREATE TABLE artifacts (\n"
	"	build_key TEXT NOT NULL\n"
	"		CHECK (length(build_key) = 64 AND build_key NOT GLOB '*[^0-9a-f]*'),\n"
	"	name TEXT NOT NULL CHECK (name <> ''),\n"
	"	size INTEGER NOT NULL CHECK (size >= 0),\n"
	"	sha256 TEXT NOT NULL CHECK (length(sha256) = 64 AND sha256 NOT GLOB '*[^0-9a-f]*'),\n"
	"	location TEXT NOT NULL CHECK (location <> ''),\n"
	"	created_ms INTEGER NOT NULL,\n"
	"	PRIMARY KEY (build_key, name)\n"
	");\n"
	"CREATE TABLE workers (\n"
	"	id INTEGER PRIMARY KEY,\n"
	"	name TEXT NOT NULL UNIQUE CHECK (name <> ''),\n"
	"	token_hash TEXT NOT NULL,\n"
	"	targets TEXT NOT NULL DEFAULT '',\n"
	"	created_ms INTEGER NOT NULL,\n"
	"	last_seen_ms INTEGER,\n"
	"	free_disk_bytes INTEGER,\n"
	"	free_mem_bytes INTEGER,\n"
	"	load_avg REAL\n"
	");\n",

	/*
	 * 4: the build cache. One row per build key ever built: the same key always
	 * gives the same result, so a key found here is answered without building.
	 * Only outcomes the code decides (pass, fail) are kept, never an
	 * infrastructure error, a timeout or a cancellation.
	 */
	"CREATE TABLE builds (\n"
	"	build_key TEXT PRIMARY KEY\n"
	"		CHECK (length(build_key) = 64 AND build_key NOT GLOB '*[^0-9a-f]*'),\n"
	"	package TEXT NOT NULL CHECK (package <> ''),\n"
	"	target TEXT NOT NULL CHECK (target <> ''),\n"
	"	commit_id TEXT NOT NULL CHECK (commit_id <> ''),\n"
	"	status TEXT NOT NULL CHECK (status IN ('pass', 'fail')),\n"
	"	failed_step TEXT CHECK (failed_step IN ('build', 'test')),\n"
	"	category TEXT,\n"
	"	first_error TEXT,\n"
	"	output_hash TEXT CHECK (output_hash IS NULL\n"
	"		OR (length(output_hash) = 64 AND output_hash NOT GLOB '*[^0-9a-f]*')),\n"
	"	duration_ms INTEGER CHECK (duration_ms IS NULL OR duration_ms >= 0),\n"
	"	log_location TEXT,\n"
	"	created_ms INTEGER NOT NULL,\n"
	"	CHECK ((status = 'pass') = (failed_step IS NULL)),\n"
	"	CHECK (failed_step = 'build' OR output_hash IS NOT NULL)\n"
	") WITHOUT ROWID;\n"
	"CREATE INDEX builds_by_package ON builds (package, target, created_ms);\n",

	/*
	 * 5: the queue (core/store_queue.c). A job row carries its final result
	 * (status, output, failure, who ran it, the failure a skip cascades
	 * from) and its cancellation flag, so the scheduler decides what is
	 * ready and what ended from jobs alone; results keeps one row per
	 * attempt, now with what an idempotent re-post is compared against and
	 * whether the lease expired (for the expiry count). runs.request_id makes
	 * a retried submit find its run. ADD COLUMN allows no non-constant
	 * default and needs a NULL default on a REFERENCES column, hence none on
	 * cause_id. The partial indexes make a lease, the unkeyed list and "is
	 * this run finished" index lookups instead of scans over every job ever
	 * queued (jobs_queue alone would still walk every ready job to find the
	 * target, key and run the lease needs).
	 */
	"ALTER TABLE jobs ADD COLUMN tree_id TEXT CHECK (tree_id IS NULL\n"
	"	OR (length(tree_id) = 40 AND tree_id NOT GLOB '*[^0-9a-f]*'));\n"
	"ALTER TABLE jobs ADD COLUMN status TEXT CHECK (status IS NULL\n"
	"	OR status IN ('pass', 'fail', 'skipped', 'error', 'timeout', 'cancelled'));\n"
	"ALTER TABLE jobs ADD COLUMN cached INTEGER NOT NULL DEFAULT 0 CHECK (cached IN (0, 1));\n"
	"ALTER TABLE jobs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0\n"
	"	CHECK (cancel_requested IN (0, 1));\n"
	"ALTER TABLE jobs ADD COLUMN output_hash TEXT CHECK (output_hash IS NULL\n"
	"	OR (length(output_hash) = 64 AND output_hash NOT GLOB '*[^0-9a-f]*'));\n"
	"ALTER TABLE jobs ADD COLUMN failed_step TEXT\n"
	"	CHECK (failed_step IS NULL OR failed_step IN ('build', 'test'));\n"
	"ALTER TABLE jobs ADD COLUMN category TEXT;\n"
	"ALTER TABLE jobs ADD COLUMN first_error TEXT;\n"
	"ALTER TABLE jobs ADD COLUMN worker TEXT;\n"
	"ALTER TABLE jobs ADD COLUMN duration_ms INTEGER CHECK (duration_ms IS NULL OR duration_ms >= 0);\n"
	"ALTER TABLE jobs ADD COLUMN cause_id INTEGER REFERENCES jobs (id) ON DELETE SET NULL;\n"
	"CREATE INDEX jobs_ready ON jobs (run_id, target, id)\n"
	"	WHERE state = 'queued' AND deps_left = 0 AND build_key IS NOT NULL AND cancel_requested = 0;\n"
	"CREATE INDEX jobs_unkeyed ON jobs (state, deps_left, id) WHERE build_key IS NULL;\n"
	"CREATE INDEX jobs_by_run_state ON jobs (run_id, state, status, cached);\n"
	/* Cache affinity: what a worker built, by package (store_job_lease). */
	"CREATE INDEX jobs_by_worker ON jobs (worker, package, target) WHERE worker IS NOT NULL;\n"
	"ALTER TABLE runs ADD COLUMN request_id TEXT CHECK (request_id IS NULL OR request_id <> '');\n"
	"CREATE UNIQUE INDEX runs_by_request ON runs (request_id) WHERE request_id IS NOT NULL;\n"
	"CREATE INDEX runs_by_ref ON runs (change_ref, id) WHERE change_ref IS NOT NULL;\n"
	"ALTER TABLE results ADD COLUMN failed_step TEXT\n"
	"	CHECK (failed_step IS NULL OR failed_step IN ('build', 'test'));\n"
	"ALTER TABLE results ADD COLUMN output_hash TEXT CHECK (output_hash IS NULL\n"
	"	OR (length(output_hash) = 64 AND output_hash NOT GLOB '*[^0-9a-f]*'));\n"
	"ALTER TABLE results ADD COLUMN lease_expired INTEGER NOT NULL DEFAULT 0\n"
	"	CHECK (lease_expired IN (0, 1));\n"
	"CREATE INDEX results_lease_expired ON results (job_id) WHERE lease_expired = 1;\n"
	"ALTER TABLE workers ADD COLUMN slots INTEGER NOT NULL DEFAULT 1 CHECK (slots >= 1);\n",

	/*
	 * 6: history in constant space (core/store_history.c). Every runs row
	 * kept forever would make trends cost as much as the project is old, so
	 * measurements go into round-robin archives instead: one row per bucket
	 * (a UTC day, a week from Monday, a calendar month) of a series, keeping
	 * n, sum, min and max so that a sample merges into its bucket with one
	 * upsert and the average stays exact; the oldest buckets past the
	 * configured count are deleted as new ones open. The size then depends
	 * on the number of series, never on age. The slot is the bucket's index
	 * rather than its start time so that a bucket is found without date
	 * arithmetic in SQL. WITHOUT ROWID: the primary key is the only way in
	 * (upsert of one bucket, range of a series' buckets), and a rowid table
	 * would store and update every point twice. Series name packages by
	 * name, like runs, so a package's history outlives its manifest entry.
	 */
	"CREATE TABLE history_series (\n"
	"	id INTEGER PRIMARY KEY,\n"
	"	package TEXT NOT NULL CHECK (package <> ''),\n"
	"	target TEXT NOT NULL CHECK (target <> ''),\n"
	"	metric TEXT NOT NULL CHECK (length(metric) BETWEEN 1 AND 64\n"
	"		AND metric NOT GLOB '*[^A-Za-z0-9_.-]*'),\n"
	"	unit TEXT NOT NULL DEFAULT '' CHECK (length(unit) <= 16),\n"
	"	UNIQUE (package, target, metric)\n"
	");\n"
	"CREATE TABLE history_points (\n"
	"	series_id INTEGER NOT NULL REFERENCES history_series (id) ON DELETE CASCADE,\n"
	"	resolution TEXT NOT NULL CHECK (resolution IN ('day', 'week', 'month')),\n"
	"	slot INTEGER NOT NULL,\n"
	"	n INTEGER NOT NULL CHECK (n >= 1),\n"
	"	sum REAL NOT NULL,\n"
	"	min REAL NOT NULL,\n"
	"	max REAL NOT NULL,\n"
	"	last_ms INTEGER NOT NULL,\n"
	"	PRIMARY KEY (series_id, resolution, slot),\n"
	"	CHECK (min <= max)\n"
	") WITHOUT ROWID;\n",

	/*
	 * 7: what the scheduler owes the outside world (core/store_report.c).
	 * A forge or a receiver may be down for hours; a status, a PR comment or
	 * a package's webhook must survive a restart and go out once it is back,
	 * so it is a row written in the transaction that made it owed, deleted
	 * with its run. reports_out holds one row per reported run: what was sent
	 * last (a pending status, the final status and comment) and when to try
	 * again; done rows are history. The partial indexes keep "what is due"
	 * a lookup among the few rows still owed. pr_comments remembers ripple's
	 * one comment per pull request across its runs, so it is edited, never
	 * posted twice (the forge client also finds it by its marker should this
	 * row be lost). notifications are the payloads themselves: a receiver
	 * gets what the nightly found when it ended, however late it is sent.
	 */
	"CREATE TABLE reports_out (\n"
	"	run_id INTEGER PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,\n"
	"	forge TEXT CHECK (forge IS NULL OR forge IN ('github', 'gitlab', 'gitea')),\n"
	"	repo TEXT,\n"
	"	number INTEGER,\n"
	"	head TEXT,\n"
	"	sent TEXT CHECK (sent IS NULL OR sent IN ('pending', 'recorded', 'final', 'cancelled')),\n"
	"	done INTEGER NOT NULL DEFAULT 0 CHECK (done IN (0, 1)),\n"
	"	attempts INTEGER NOT NULL DEFAULT 0,\n"
	"	next_ms INTEGER NOT NULL DEFAULT 0,\n"
	"	last_error TEXT,\n"
	"	created_ms INTEGER NOT NULL,\n"
	"	CHECK (forge IS NULL OR (repo IS NOT NULL AND number > 0 AND head IS NOT NULL))\n"
	");\n"
	"CREATE INDEX reports_out_due ON reports_out (next_ms) WHERE done = 0;\n"
	"CREATE TABLE pr_comments (\n"
	"	change_ref TEXT PRIMARY KEY,\n"
	"	comment_id INTEGER NOT NULL CHECK (comment_id > 0)\n"
	");\n"
	"CREATE TABLE notifications (\n"
	"	id INTEGER PRIMARY KEY,\n"
	"	run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,\n"
	"	package TEXT NOT NULL,\n"
	"	url TEXT NOT NULL,\n"
	"	payload TEXT NOT NULL,\n"
	"	delivery TEXT NOT NULL UNIQUE,\n"
	"	done INTEGER NOT NULL DEFAULT 0 CHECK (done IN (0, 1, 2)),\n"
	"	attempts INTEGER NOT NULL DEFAULT 0,\n"
	"	next_ms INTEGER NOT NULL DEFAULT 0,\n"
	"	last_error TEXT,\n"
	"	created_ms INTEGER NOT NULL,\n"
	"	sent_ms INTEGER,\n"
	"	UNIQUE (run_id, package)\n"
	");\n"
	"CREATE INDEX notifications_due ON notifications (next_ms) WHERE done = 0;\n"
	/* Each step's own time, for the history's build and test times. */
	"ALTER TABLE jobs ADD COLUMN build_ms INTEGER CHECK (build_ms IS NULL OR build_ms >= 0);\n"
	"ALTER TABLE jobs ADD COLUMN test_ms INTEGER CHECK (test_ms IS NULL OR test_ms >= 0);\n"
	/* A flake check: the job it runs again, in its own run or (the base) a nightly's. */
	"ALTER TABLE jobs ADD COLUMN rerun_of INTEGER REFERENCES jobs (id) ON DELETE SET NULL;\n"
	"CREATE INDEX jobs_reruns ON jobs (rerun_of) WHERE rerun_of IS NOT NULL;\n"
	/* The test a failure's first error line names: flakiness is kept per test. */
	"ALTER TABLE jobs ADD COLUMN failed_test TEXT CHECK (failed_test IS NULL OR length(failed_test) <= 127);\n"
	/* Retention (store_retention): when a finished run's logs were deleted; NULL while kept. */
	"ALTER TABLE runs ADD COLUMN logs_deleted_ms INTEGER;\n"
	"CREATE INDEX runs_finished ON runs (finished_ms) WHERE finished_ms IS NOT NULL;\n"
	/*
	 * jobs_queue served only /metrics and the fairness count once leases
	 * went to jobs_ready and jobs_by_lease, yet every lease, result and
	 * released dependency rewrote it: one index less per write.
	 */
	"DROP INDEX jobs_queue;\n"
	/* Metrics that fell past the threshold in a nightly: reported like a broken build. */
	"CREATE TABLE metric_drops (\n"
	"	run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,\n"
	"	job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,\n"
	"	package TEXT NOT NULL,\n"
	"	target TEXT NOT NULL,\n"
	"	metric TEXT NOT NULL,\n"
	"	unit TEXT NOT NULL DEFAULT '',\n"
	"	value REAL NOT NULL,\n"
	"	baseline REAL NOT NULL,\n"
	"	change REAL NOT NULL,\n"
	"	PRIMARY KEY (run_id, job_id, metric)\n"
	") WITHOUT ROWID;\n",

	/*
	 * 8: automatic bisection (core/store_bisect.c). A regression a nightly or
	 * a pull request's run found is searched for its culprit by the
	 * scheduler on its own; the search outlives a restart, so its state and
	 * its conclusion are a row, deleted with its run (the probe runs it makes
	 * are ordinary runs of kind bisect). good_run_id is the run whose pins
	 * were still good: retention may delete it first, which leaves the
	 * bisection its conclusion and NULL here. The (run, package, target)
	 * key makes planning a run twice (after a crash between planning and
	 * marking) write nothing new; it also serves the cascade from runs, and
	 * bisects_by_good_run the SET NULL, so deleting a run never scans every
	 * bisection. bisects_active keeps "what is still searching" a lookup
	 * among the few unfinished rows.
	 *
	 * runs.bisect_planned says that a run's bisections were recorded, so a
	 * restarted scheduler plans every ended run exactly once. Runs that
	 * predate this schema were never looked at for regressions and must not
	 * all start searching at once after an upgrade: this is the one entry
	 * that changes rows, marking them planned (ADD COLUMN gives old and new
	 * rows the same default, and new runs must start unplanned). The partial
	 * index holds only runs of the kinds that are planned, so probe, manual
	 * and fuzz runs, which stay unplanned forever, never make the lookup
	 * walk past them; its terms must match store_bisect.c's query's.
	 */
	"CREATE TABLE bisects (\n"
	"	id INTEGER PRIMARY KEY,\n"
	"	run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,\n"
	"	good_run_id INTEGER REFERENCES runs (id) ON DELETE SET NULL,\n"
	"	package TEXT NOT NULL CHECK (package <> ''),\n"
	"	target TEXT NOT NULL CHECK (target <> ''),\n"
	"	done INTEGER NOT NULL DEFAULT 0 CHECK (done IN (0, 1)),\n"
	"	verdict TEXT CHECK (verdict IS NULL OR verdict IN ('culprit', 'only-skipped', 'flaky',\n"
	"		'interaction', 'unchanged', 'not-reproduced', 'error')),\n"
	"	repository TEXT,\n"
	"	culprit TEXT,\n"
	"	parent TEXT,\n"
	"	author TEXT,\n"
	"	author_time INTEGER NOT NULL DEFAULT 0,\n"
	"	subject TEXT,\n"
	"	summary TEXT,\n"
	"	detail TEXT,\n"
	"	excerpt TEXT,\n"
	"	culprit_job INTEGER,\n"
	"	probes INTEGER NOT NULL DEFAULT 0,\n"
	"	rounds INTEGER NOT NULL DEFAULT 0,\n"
	"	created_ms INTEGER NOT NULL,\n"
	"	finished_ms INTEGER,\n"
	"	UNIQUE (run_id, package, target),\n"
	"	CHECK (done = 0 OR verdict IS NOT NULL)\n"
	");\n"
	"CREATE INDEX bisects_active ON bisects (id) WHERE done = 0;\n"
	"CREATE INDEX bisects_by_good_run ON bisects (good_run_id);\n"
	"ALTER TABLE runs ADD COLUMN bisect_planned INTEGER NOT NULL DEFAULT 0\n"
	"	CHECK (bisect_planned IN (0, 1));\n"
	"UPDATE runs SET bisect_planned = 1;\n"
	"CREATE INDEX runs_unplanned ON runs (id)\n"
	"	WHERE bisect_planned = 0 AND kind IN ('nightly', 'pr');\n",
	/*
	 * 9: coverage. jobs.variant says what a job builds: the package's
	 * output ('build'), or its coverage build ('coverage': built with
	 * --coverage, tests run, gcov read; nothing depends on it). Every
	 * existing job was a plain build. A coverage job's figures are its
	 * artifact 'coverage' (ripple's JSON); coverage_reports lists each such
	 * artifact once per build key, waiting to be merged (merged = 0) into
	 * its commit's figures in coverage_commits: every report of one
	 * (package, commit) summed, as Codecov merges a commit's uploads. The
	 * merged document is a file under the farm's blobs at `location`.
	 * `mainline` says a nightly or manual run covered the commit (not only
	 * a pull request's): the trend is drawn from those.
	 * Neither table goes with its run: figures outlive run retention.
	 */
	"ALTER TABLE jobs ADD COLUMN variant TEXT NOT NULL DEFAULT 'build'\n"
	"	CHECK (variant IN ('build', 'coverage'));\n"
	"CREATE TABLE coverage_reports (\n"
	"	build_key TEXT PRIMARY KEY CHECK (length(build_key) = 64),\n"
	"	package TEXT NOT NULL CHECK (package <> ''),\n"
	"	target TEXT NOT NULL CHECK (target <> ''),\n"
	"	commit_id TEXT NOT NULL CHECK (length(commit_id) = 40),\n"
	"	run_id INTEGER NOT NULL,\n"
	"	job_id INTEGER NOT NULL,\n"
	"	created_ms INTEGER NOT NULL,\n"
	"	merged INTEGER NOT NULL DEFAULT 0 CHECK (merged IN (0, 1)),\n"
	"	problem TEXT\n"
	");\n"
	"CREATE INDEX coverage_reports_pending ON coverage_reports (created_ms) WHERE merged = 0;\n"
	"CREATE TABLE coverage_commits (\n"
	"	package TEXT NOT NULL CHECK (package <> ''),\n"
	"	commit_id TEXT NOT NULL CHECK (length(commit_id) = 40),\n"
	"	first_ms INTEGER NOT NULL,\n"
	"	updated_ms INTEGER NOT NULL,\n"
	"	reports INTEGER NOT NULL CHECK (reports > 0),\n"
	"	lines_covered INTEGER NOT NULL, lines_total INTEGER NOT NULL,\n"
	"	branches_covered INTEGER NOT NULL, branches_total INTEGER NOT NULL,\n"
	"	functions_covered INTEGER NOT NULL, functions_total INTEGER NOT NULL,\n"
	"	location TEXT NOT NULL CHECK (location <> ''),\n"
	"	mainline INTEGER NOT NULL DEFAULT 0 CHECK (mainline IN (0, 1)),\n"
	"	PRIMARY KEY (package, commit_id)\n"
	");\n"
	"CREATE INDEX coverage_commits_by_time ON coverage_commits (package, mainline, first_ms);\n",
	/*
	 * 10: fuzzing in the farm. A job of variant 'fuzz' builds the package
	 * as OSS-Fuzz does and runs its fuzz targets; with fuzz_crash set it
	 * replays that crash's reproducer once instead (a nightly's check that
	 * an open crash still crashes, a crash bisection's probe). SQLite cannot
	 * change a CHECK in place, so jobs is rebuilt (the documented
	 * create-copy-drop-rename; foreign keys are off while migrating and
	 * other tables name jobs, not its rowid order). bisects gains crash_id
	 * (0: a regression's bisection), which joins its unique key: one run can
	 * hold a regression and several crashes of the same package to search.
	 * fuzz_crashes is one row per (package, target, fuzz target, signature),
	 * open or fixed, with its reproducer (a blob by SHA-256 under the farm's
	 * blobs); fuzz_stats the latest figures of each fuzz target. Neither
	 * goes with a run: crashes outlive run retention. Corpora are
	 * artifacts (docs/fuzz.md), not rows of their own.
	 */
	"CREATE TABLE jobs_v10 (\n"
	"	id INTEGER PRIMARY KEY,\n"
	"	run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,\n"
	"	package TEXT NOT NULL CHECK (package <> ''),\n"
	"	target TEXT NOT NULL CHECK (target <> ''),\n"
	"	commit_id TEXT NOT NULL CHECK (commit_id <> ''),\n"
	"	build_key TEXT CHECK (build_key IS NULL\n"
	"		OR (length(build_key) = 64 AND build_key NOT GLOB '*[^0-9a-f]*')),\n"
	"	priority INTEGER NOT NULL,\n"
	"	state TEXT NOT NULL DEFAULT 'queued'\n"
	"		CHECK (state IN ('queued', 'leased', 'running', 'done', 'cancelled')),\n"
	"	deps_left INTEGER NOT NULL DEFAULT 0 CHECK (deps_left >= 0),\n"
	"	attempt INTEGER NOT NULL DEFAULT 0 CHECK (attempt >= 0),\n"
	"	lease_owner TEXT,\n"
	"	lease_expires_ms INTEGER,\n"
	"	fence INTEGER NOT NULL DEFAULT 0,\n"
	"	created_ms INTEGER NOT NULL,\n"
	"	started_ms INTEGER,\n"
	"	finished_ms INTEGER,\n"
	"	tree_id TEXT CHECK (tree_id IS NULL\n"
	"		OR (length(tree_id) = 40 AND tree_id NOT GLOB '*[^0-9a-f]*')),\n"
	"	status TEXT CHECK (status IS NULL\n"
	"		OR status IN ('pass', 'fail', 'skipped', 'error', 'timeout', 'cancelled')),\n"
	"	cached INTEGER NOT NULL DEFAULT 0 CHECK (cached IN (0, 1)),\n"
	"	cancel_requested INTEGER NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1)),\n"
	"	output_hash TEXT CHECK (output_hash IS NULL\n"
	"		OR (length(output_hash) = 64 AND output_hash NOT GLOB '*[^0-9a-f]*')),\n"
	"	failed_step TEXT CHECK (failed_step IS NULL OR failed_step IN ('build', 'test')),\n"
	"	category TEXT,\n"
	"	first_error TEXT,\n"
	"	worker TEXT,\n"
	"	duration_ms INTEGER CHECK (duration_ms IS NULL OR duration_ms >= 0),\n"
	"	cause_id INTEGER REFERENCES jobs (id) ON DELETE SET NULL,\n"
	"	build_ms INTEGER CHECK (build_ms IS NULL OR build_ms >= 0),\n"
	"	test_ms INTEGER CHECK (test_ms IS NULL OR test_ms >= 0),\n"
	"	rerun_of INTEGER REFERENCES jobs (id) ON DELETE SET NULL,\n"
	"	failed_test TEXT CHECK (failed_test IS NULL OR length(failed_test) <= 127),\n"
	"	variant TEXT NOT NULL DEFAULT 'build' CHECK (variant IN ('build', 'coverage', 'fuzz')),\n"
	"	fuzz_crash INTEGER CHECK (fuzz_crash IS NULL OR variant = 'fuzz'),\n"
	"	CHECK ((state IN ('leased', 'running'))\n"
	"		= (lease_owner IS NOT NULL AND lease_expires_ms IS NOT NULL))\n"
	");\n"
	"INSERT INTO jobs_v10 SELECT id, run_id, package, target, commit_id, build_key, priority, state,\n"
	"	deps_left, attempt, lease_owner, lease_expires_ms, fence, created_ms, started_ms, finished_ms,\n"
	"	tree_id, status, cached, cancel_requested, output_hash, failed_step, category, first_error,\n"
	"	worker, duration_ms, cause_id, build_ms, test_ms, rerun_of, failed_test, variant, NULL FROM jobs;\n"
	"DROP TABLE jobs;\n"
	"ALTER TABLE jobs_v10 RENAME TO jobs;\n"
	"CREATE INDEX jobs_by_run ON jobs (run_id);\n"
	"CREATE INDEX jobs_by_lease ON jobs (lease_expires_ms) WHERE lease_expires_ms IS NOT NULL;\n"
	"CREATE INDEX jobs_by_key ON jobs (build_key) WHERE build_key IS NOT NULL;\n"
	"CREATE INDEX jobs_by_package ON jobs (package, target, id);\n"
	"CREATE INDEX jobs_ready ON jobs (run_id, target, id)\n"
	"	WHERE state = 'queued' AND deps_left = 0 AND build_key IS NOT NULL AND cancel_requested = 0;\n"
	"CREATE INDEX jobs_unkeyed ON jobs (state, deps_left, id) WHERE build_key IS NULL;\n"
	"CREATE INDEX jobs_by_run_state ON jobs (run_id, state, status, cached);\n"
	"CREATE INDEX jobs_by_worker ON jobs (worker, package, target) WHERE worker IS NOT NULL;\n"
	"CREATE INDEX jobs_reruns ON jobs (rerun_of) WHERE rerun_of IS NOT NULL;\n"
	"CREATE TABLE bisects_v10 (\n"
	"	id INTEGER PRIMARY KEY,\n"
	"	run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,\n"
	"	good_run_id INTEGER REFERENCES runs (id) ON DELETE SET NULL,\n"
	"	package TEXT NOT NULL CHECK (package <> ''),\n"
	"	target TEXT NOT NULL CHECK (target <> ''),\n"
	"	done INTEGER NOT NULL DEFAULT 0 CHECK (done IN (0, 1)),\n"
	"	verdict TEXT CHECK (verdict IS NULL OR verdict IN ('culprit', 'only-skipped', 'flaky',\n"
	"		'interaction', 'unchanged', 'not-reproduced', 'error')),\n"
	"	repository TEXT,\n"
	"	culprit TEXT,\n"
	"	parent TEXT,\n"
	"	author TEXT,\n"
	"	author_time INTEGER NOT NULL DEFAULT 0,\n"
	"	subject TEXT,\n"
	"	summary TEXT,\n"
	"	detail TEXT,\n"
	"	excerpt TEXT,\n"
	"	culprit_job INTEGER,\n"
	"	probes INTEGER NOT NULL DEFAULT 0,\n"
	"	rounds INTEGER NOT NULL DEFAULT 0,\n"
	"	created_ms INTEGER NOT NULL,\n"
	"	finished_ms INTEGER,\n"
	"	crash_id INTEGER NOT NULL DEFAULT 0 CHECK (crash_id >= 0),\n"
	"	UNIQUE (run_id, package, target, crash_id),\n"
	"	CHECK (done = 0 OR verdict IS NOT NULL)\n"
	");\n"
	"INSERT INTO bisects_v10 SELECT id, run_id, good_run_id, package, target, done, verdict, repository,\n"
	"	culprit, parent, author, author_time, subject, summary, detail, excerpt, culprit_job, probes,\n"
	"	rounds, created_ms, finished_ms, 0 FROM bisects;\n"
	"DROP TABLE bisects;\n"
	"ALTER TABLE bisects_v10 RENAME TO bisects;\n"
	"CREATE INDEX bisects_active ON bisects (id) WHERE done = 0;\n"
	"CREATE INDEX bisects_by_good_run ON bisects (good_run_id);\n"
	"CREATE TABLE fuzz_crashes (\n"
	"	id INTEGER PRIMARY KEY,\n"
	"	package TEXT NOT NULL CHECK (package <> ''),\n"
	"	target TEXT NOT NULL CHECK (target <> ''),\n"
	"	fuzzer TEXT NOT NULL CHECK (fuzzer <> ''),\n"
	"	signature TEXT NOT NULL CHECK (signature <> ''),\n"
	"	kind TEXT,\n"
	"	frames TEXT,\n"
	"	reproducer TEXT NOT NULL\n"
	"		CHECK (length(reproducer) = 64 AND reproducer NOT GLOB '*[^0-9a-f]*'),\n"
	"	reproducer_size INTEGER NOT NULL CHECK (reproducer_size >= 0),\n"
	"	status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'fixed')),\n"
	"	found_run INTEGER NOT NULL,\n"
	"	found_job INTEGER NOT NULL,\n"
	"	found_commit TEXT NOT NULL CHECK (length(found_commit) = 40),\n"
	"	found_ms INTEGER NOT NULL,\n"
	"	seen_run INTEGER NOT NULL,\n"
	"	seen_commit TEXT NOT NULL CHECK (length(seen_commit) = 40),\n"
	"	seen_ms INTEGER NOT NULL,\n"
	"	fixed_run INTEGER,\n"
	"	fixed_commit TEXT CHECK (fixed_commit IS NULL OR length(fixed_commit) = 40),\n"
	"	fixed_ms INTEGER,\n"
	"	bisect_id INTEGER NOT NULL DEFAULT 0,\n"
	"	UNIQUE (package, target, fuzzer, signature),\n"
	"	CHECK ((status = 'fixed') = (fixed_commit IS NOT NULL))\n"
	");\n"
	"CREATE INDEX fuzz_crashes_open ON fuzz_crashes (package, target) WHERE status = 'open';\n"
	"CREATE TABLE fuzz_stats (\n"
	"	package TEXT NOT NULL CHECK (package <> ''),\n"
	"	target TEXT NOT NULL CHECK (target <> ''),\n"
	"	fuzzer TEXT NOT NULL CHECK (fuzzer <> ''),\n"
	"	run_id INTEGER NOT NULL,\n"
	"	job_id INTEGER NOT NULL,\n"
	"	commit_id TEXT NOT NULL CHECK (length(commit_id) = 40),\n"
	"	seconds INTEGER NOT NULL CHECK (seconds >= 0),\n"
	"	executions INTEGER, exec_per_sec INTEGER, new_units INTEGER,\n"
	"	corpus_files INTEGER NOT NULL CHECK (corpus_files >= 0),\n"
	"	corpus_bytes INTEGER NOT NULL CHECK (corpus_bytes >= 0),\n"
	"	updated_ms INTEGER NOT NULL,\n"
	"	PRIMARY KEY (package, target, fuzzer)\n"
	") WITHOUT ROWID;\n",
};
/* clang-format on */

_Static_assert(sizeof(store__migrations) / sizeof(store__migrations[0]) == STORE_SCHEMA_LATEST,
	       "STORE_SCHEMA_LATEST must equal the number of migrations");

/*
 * Every table, for store_count_rows(). The count statements are spelled out
 * rather than assembled, so no SQL text is ever built at run time.
 */
/* clang-format off */
#define STORE__TABLE(name) { #name, "SELECT count(*) FROM " #name }
static const struct {
	const char *name;
	const char *count_sql;
} store__tables[] = {
	STORE__TABLE(universes),
	STORE__TABLE(packages),
	STORE__TABLE(runs),
	STORE__TABLE(run_pins),
	STORE__TABLE(jobs),
	STORE__TABLE(job_edges),
	STORE__TABLE(results),
	STORE__TABLE(log_chunks),
	STORE__TABLE(artifacts),
	STORE__TABLE(workers),
	STORE__TABLE(builds),
	STORE__TABLE(history_series),
	STORE__TABLE(history_points),
	STORE__TABLE(reports_out),
	STORE__TABLE(pr_comments),
	STORE__TABLE(notifications),
	STORE__TABLE(metric_drops),
	STORE__TABLE(bisects),
	STORE__TABLE(coverage_reports),
	STORE__TABLE(coverage_commits),
	STORE__TABLE(fuzz_crashes),
	STORE__TABLE(fuzz_stats),
};
#undef STORE__TABLE
/* clang-format on */

#define STORE__NTABLES (sizeof(store__tables) / sizeof(store__tables[0]))

/* The statements of the data functions, prepared once per connection on first use. */
enum store__stmt_id {
	S_SAVEPOINT,
	S_RELEASE,
	S_ROLLBACK_TO,
	S_BEGIN_IMMEDIATE,
	S_COMMIT,
	S_USER_VERSION,
	S_TABLE_EXISTS,
	S_UNIVERSE_UPSERT,
	S_UNIVERSE_ID,
	S_PACKAGE_UPSERT,
	S_PACKAGE_NAMES,
	S_PACKAGE_DELETE,
	S_RUN_INSERT,
	S_PIN_INSERT,
	S_JOB_INSERT,
	S_EDGE_INSERT,
	S_RUN_GET,
	S_PIN_COUNT,
	S_PINS_GET,
	S_JOB_COUNT,
	S_JOBS_GET,
	S_EDGES_GET,
	S_JOB_EXISTS,
	S_LOG_SIZE,
	S_LOG_START,
	S_LOG_RANGE,
	S_LOG_INSERT,
	S_ARTIFACT_GET,
	S_ARTIFACT_INSERT,
	S_BUILD_GET,
	S_BUILD_INSERT,
	S_BUILD_LAST_DURATION,
	S__COUNT
};

/* clang-format off */
static const char *const store__sql[S__COUNT] = {
	/* Every store call inside a batch is a savepoint: prepared once, not parsed each time. */
	[S_SAVEPOINT] = "SAVEPOINT store",
	[S_RELEASE] = "RELEASE store",
	[S_ROLLBACK_TO] = "ROLLBACK TO store",
	[S_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_USER_VERSION] = "PRAGMA user_version",
	[S_TABLE_EXISTS] = "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1",
	[S_UNIVERSE_UPSERT] = "INSERT INTO universes (name, created_ms, updated_ms) VALUES (?1, ?2, ?2)"
			      " ON CONFLICT (name) DO UPDATE SET updated_ms = excluded.updated_ms",
	[S_UNIVERSE_ID] = "SELECT id FROM universes WHERE name = ?1",
	[S_PACKAGE_UPSERT] = "INSERT INTO packages (universe_id, name, repo, branch, position)"
			     " VALUES (?1, ?2, ?3, ?4, ?5)"
			     " ON CONFLICT (universe_id, name) DO UPDATE SET repo = excluded.repo,"
			     " branch = excluded.branch, position = excluded.position",
	[S_PACKAGE_NAMES] = "SELECT id, name FROM packages WHERE universe_id = ?1",
	[S_PACKAGE_DELETE] = "DELETE FROM packages WHERE id = ?1",
	[S_RUN_INSERT] = "INSERT INTO runs (universe_id, kind, priority, state, title, change_ref, created_ms,"
			 " request_id) VALUES (?1, ?2, ?3, 'queued', ?4, ?5, ?6, ?7)",
	[S_PIN_INSERT] = "INSERT INTO run_pins (run_id, role, package, commit_id) VALUES (?1, ?2, ?3, ?4)",
	[S_JOB_INSERT] = "INSERT INTO jobs (run_id, package, target, commit_id, build_key, priority,"
			 " deps_left, created_ms, tree_id, variant, fuzz_crash)"
			 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
	[S_EDGE_INSERT] = "INSERT INTO job_edges (job_id, dep_id) VALUES (?1, ?2)",
	[S_RUN_GET] = "SELECT r.id, u.name, r.kind, r.priority, r.state, r.title, r.change_ref,"
		      " r.created_ms, r.finished_ms"
		      " FROM runs r JOIN universes u ON u.id = r.universe_id WHERE r.id = ?1",
	[S_PIN_COUNT] = "SELECT count(*) FROM run_pins WHERE run_id = ?1 AND role = ?2",
	[S_PINS_GET] = "SELECT package, commit_id FROM run_pins WHERE run_id = ?1 AND role = ?2"
		       " ORDER BY package",
	[S_JOB_COUNT] = "SELECT count(*) FROM jobs WHERE run_id = ?1",
	[S_JOBS_GET] = "SELECT " STORE__JOB_COLUMNS " FROM jobs WHERE run_id = ?1 ORDER BY id",
	[S_EDGES_GET] = "SELECT e.job_id, e.dep_id FROM job_edges e JOIN jobs j ON j.id = e.job_id"
			" WHERE j.run_id = ?1 ORDER BY e.job_id, e.dep_id",
	[S_JOB_EXISTS] = "SELECT 1 FROM jobs WHERE id = ?1",
	[S_LOG_SIZE] = "SELECT byte_offset + length(data) FROM log_chunks"
		       " WHERE job_id = ?1 AND attempt = ?2 ORDER BY byte_offset DESC LIMIT 1",
	[S_LOG_START] = "SELECT byte_offset FROM log_chunks"
			" WHERE job_id = ?1 AND attempt = ?2 AND byte_offset <= ?3"
			" ORDER BY byte_offset DESC LIMIT 1",
	[S_LOG_RANGE] = "SELECT byte_offset, data FROM log_chunks"
			" WHERE job_id = ?1 AND attempt = ?2 AND byte_offset >= ?3 AND byte_offset < ?4"
			" ORDER BY byte_offset",
	[S_LOG_INSERT] = "INSERT INTO log_chunks (job_id, attempt, byte_offset, data) VALUES (?1, ?2, ?3, ?4)",
	[S_ARTIFACT_GET] = "SELECT size, sha256, location, created_ms FROM artifacts"
			   " WHERE build_key = ?1 AND name = ?2",
	[S_BUILD_GET] = "SELECT package, target, commit_id, status, failed_step, category, first_error,"
			" output_hash, duration_ms, log_location, created_ms FROM builds WHERE build_key = ?1",
	/* The first result of a key stands: the same key always means the same result. */
	/* Not INSERT OR IGNORE: that would also swallow a CHECK violation. */
	[S_BUILD_INSERT] = "INSERT INTO builds (build_key, package, target, commit_id, status,"
			   " failed_step, category, first_error, output_hash, duration_ms, log_location, created_ms)"
			   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
			   " ON CONFLICT (build_key) DO NOTHING",
	[S_BUILD_LAST_DURATION] = "SELECT duration_ms FROM builds WHERE package = ?1 AND target = ?2"
				  " AND duration_ms IS NOT NULL ORDER BY created_ms DESC LIMIT 1",
	[S_ARTIFACT_INSERT] = "INSERT INTO artifacts (build_key, name, size, sha256, location, created_ms)"
			      " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
};
/* clang-format on */

struct store {
	sqlite3 *db;
	char *path;
	unsigned flags;
	sqlite3_stmt *stmts[S__COUNT];
	sqlite3_stmt *ext_stmts[STORE__EXT_STMTS]; /* the other store files' statements */
	int batch;  /* store_batch_begin() depth: every function's transaction is a savepoint inside it */
};

/* ---- small helpers -------------------------------------------------------- */

/* clang-format off */
static const char *const store__run_kinds[] = {
	[STORE_RUN_PR] = "pr",
	[STORE_RUN_NIGHTLY] = "nightly",
	[STORE_RUN_BISECT] = "bisect",
	[STORE_RUN_MANUAL] = "manual",
	[STORE_RUN_FUZZ] = "fuzz",
};
static const char *const store__run_states[] = {
	[STORE_RUN_QUEUED] = "queued",
	[STORE_RUN_RUNNING] = "running",
	[STORE_RUN_DONE] = "done",
	[STORE_RUN_CANCELLED] = "cancelled",
};
static const char *const store__job_states[] = {
	[STORE_JOB_QUEUED] = "queued",
	[STORE_JOB_LEASED] = "leased",
	[STORE_JOB_RUNNING] = "running",
	[STORE_JOB_DONE] = "done",
	[STORE_JOB_CANCELLED] = "cancelled",
};
static const char *const store__result_statuses[] = {
	[STORE_RESULT_PASS] = "pass",
	[STORE_RESULT_FAIL] = "fail",
	[STORE_RESULT_SKIPPED] = "skipped",
	[STORE_RESULT_ERROR] = "error",
	[STORE_RESULT_TIMEOUT] = "timeout",
	[STORE_RESULT_CANCELLED] = "cancelled",
};
/* clang-format on */

#define STORE__NAME(table, v)                                                                                \
	((unsigned)(v) < sizeof(table) / sizeof((table)[0]) ? (table)[(unsigned)(v)] : NULL)

const char *store_run_kind_name(enum store_run_kind kind)
{
	return STORE__NAME(store__run_kinds, kind);
}

const char *store_run_state_name(enum store_run_state state)
{
	return STORE__NAME(store__run_states, state);
}

const char *store_job_state_name(enum store_job_state state)
{
	return STORE__NAME(store__job_states, state);
}

const char *store_result_status_name(enum store_result_status status)
{
	return STORE__NAME(store__result_statuses, status);
}

/* The index of `s` in `names`, or -1. */
static int store__parse_name(const char *const *names, size_t n, const unsigned char *s)
{
	if (!s)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], (const char *)s) == 0)
			return (int)i;
	return -1;
}

int64_t store__now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int store__is_hex(const char *s, size_t len)
{
	size_t i;
	if (!s)
		return 0;
	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return i == len;
}

int store__is_hex64(const char *s)
{
	return store__is_hex(s, STORE_HEX_LEN);
}

int store__is_hex40(const char *s)
{
	return store__is_hex(s, 40);
}

/*
 * Memory owned by a returned struct: a list of blocks freed together, so a
 * struct full of strings needs one release call and no per-field bookkeeping.
 */
struct store__mem {
	struct store__mem *next;
	max_align_t data[];
};

void *store__alloc(void **mem, size_t size)
{
	struct store__mem *m = calloc(1, sizeof(*m) + size);
	if (!m)
		return NULL;
	m->next = *mem;
	*mem = m;
	return m->data;
}

void store__mem_free(void **mem)
{
	struct store__mem *m = *mem;
	while (m) {
		struct store__mem *next = m->next;
		free(m);
		m = next;
	}
	*mem = NULL;
}

const char *store__strdup(void **mem, const char *s)
{
	size_t len = strlen(s);
	char *copy = store__alloc(mem, len + 1);
	if (copy)
		memcpy(copy, s, len + 1);
	return copy;
}

/* ---- errors ----------------------------------------------------------------- */

int store__code(int rc)
{
	switch (rc) {
	case SQLITE_CONSTRAINT_UNIQUE:
	case SQLITE_CONSTRAINT_PRIMARYKEY:
		return RP_EEXISTS;
	case SQLITE_CONSTRAINT_FOREIGNKEY:
		return RP_ENOTFOUND;
	}
	switch (rc & 0xff) {
	case SQLITE_NOMEM:
		return RP_ENOMEM;
	case SQLITE_NOTADB:
	case SQLITE_CONSTRAINT:
	case SQLITE_RANGE:
	case SQLITE_TOOBIG:
		return RP_EINVAL;
	case SQLITE_CANTOPEN:
	case SQLITE_IOERR:
	case SQLITE_FULL:
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return RP_EIO;
	default:
		return RP_EDB;
	}
}

/*
 * Fills `err` with "<path>: <what>: <SQLite's message>" for the failure `rc`
 * of the last call on st->db, and returns the matching RP_E* code. For
 * failures of the file itself the operating system's reason is added,
 * because SQLite's "unable to open database file" alone does not say why.
 */
int store__dberr(struct store *st, struct rp_error *err, int rc, const char *fmt, ...)
{
	char what[256];
	char sys[128] = "";
	va_list ap;
	int code = store__code(rc);
	int eno = st->db ? sqlite3_system_errno(st->db) : 0;

	if ((rc & 0xff) == SQLITE_NOTADB)
		return rp_error_set(err, code, "%s: not an SQLite database", st->path);
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (code == RP_EIO && eno)
		snprintf(sys, sizeof(sys), " (%s)", strerror(eno));
	return rp_error_set(err, code, "%s: %s: %s%s", st->path, what,
			    st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc), sys);
}

int store__nomem(struct store *st, struct rp_error *err)
{
	return rp_error_set(err, RP_ENOMEM, "%s: out of memory", st->path);
}

/* ---- statements and transactions ------------------------------------------- */

/* The cached statement `id`, reset and unbound; NULL with `err` filled on failure. */
static sqlite3_stmt *store__stmt(struct store *st, enum store__stmt_id id, struct rp_error *err)
{
	int rc;
	if (st->stmts[id])
		return st->stmts[id];
	rc = sqlite3_prepare_v3(st->db, store__sql[id], -1, SQLITE_PREPARE_PERSISTENT, &st->stmts[id], NULL);
	if (rc != SQLITE_OK) {
		store__dberr(st, err, rc, "cannot prepare statement");
		return NULL;
	}
	return st->stmts[id];
}

sqlite3_stmt *store__stmt_ext(struct store *st, unsigned slot, const char *sql, struct rp_error *err)
{
	int rc;
	if (slot >= STORE__EXT_STMTS) {
		rp_error_set(err, RP_EDB, "%s: statement slot %u out of range", st->path, slot);
		return NULL;
	}
	if (st->ext_stmts[slot])
		return st->ext_stmts[slot];
	rc = sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st->ext_stmts[slot], NULL);
	if (rc != SQLITE_OK) {
		store__dberr(st, err, rc, "cannot prepare statement");
		return NULL;
	}
	return st->ext_stmts[slot];
}

/*
 * Ends a use of a cached statement. A statement left mid-iteration would keep
 * its read snapshot open, so every use ends here, on every path.
 */
void store__done(sqlite3_stmt *s)
{
	if (s) {
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
	}
}

/* Runs a statement that returns no rows. */
int store__step_done(struct store *st, sqlite3_stmt *s, struct rp_error *err, const char *what)
{
	int rc = sqlite3_step(s);
	int ret = 0;
	if (rc != SQLITE_DONE)
		ret = store__dberr(st, err, rc, "%s", what);
	store__done(s);
	return ret;
}

static int store__exec(struct store *st, const char *sql, struct rp_error *err, const char *what)
{
	int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return store__dberr(st, err, rc, "%s", what);
	return 0;
}

/* Runs one of the prepared statements that returns no row (a transaction's start or end). */
static int store__exec_stmt(struct store *st, enum store__stmt_id id, struct rp_error *err, const char *what)
{
	sqlite3_stmt *s = store__stmt(st, id, err);
	if (!s)
		return store__code(sqlite3_errcode(st->db));
	int rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return store__dberr(st, err, rc, "%s", what);
	return 0;
}

/*
 * Write transactions take the write lock up front (IMMEDIATE): a deferred
 * transaction that reads and then writes gets SQLITE_BUSY_SNAPSHOT without
 * any wait when another connection committed in between, which the busy
 * timeout cannot cure.
 */
int store__begin_write(struct store *st, struct rp_error *err)
{
	if (st->batch)
		return store__exec_stmt(st, S_SAVEPOINT, err, "cannot begin a savepoint");
	return store__exec_stmt(st, S_BEGIN_IMMEDIATE, err, "cannot begin a write transaction");
}

/* A read transaction makes several SELECTs see one snapshot. */
int store__begin_read(struct store *st, struct rp_error *err)
{
	if (st->batch)
		return store__exec_stmt(st, S_SAVEPOINT, err, "cannot begin a savepoint");
	return store__exec(st, "BEGIN", err, "cannot begin a read transaction");
}

static int store__commit(struct store *st, struct rp_error *err)
{
	return store__exec_stmt(st, S_COMMIT, err, "cannot commit");
}

static void store__rollback(struct store *st)
{
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

/* Ends a transaction: commits when `ret` is 0, rolls back otherwise. */
int store__end(struct store *st, int ret, struct rp_error *err)
{
	if (st->batch) { /* inside a batch: only this function's savepoint ends */
		if (ret < 0)
			store__exec_stmt(st, S_ROLLBACK_TO, NULL, "cannot roll back a savepoint");
		int rc = store__exec_stmt(st, S_RELEASE, ret == 0 ? err : NULL, "cannot release a savepoint");
		return ret < 0 ? ret : rc;
	}
	if (ret == 0)
		ret = store__commit(st, err);
	if (ret < 0)
		store__rollback(st);
	return ret;
}

int store_part_begin(struct store *st, struct rp_error *err)
{
	return store__begin_write(st, err);
}

int store_part_end(struct store *st, int ok, struct rp_error *err)
{
	if (ok)
		return store__end(st, 0, err);
	store__end(st, RP_ECONFLICT, NULL); /* rolled back: what it returns is the code given */
	return 0;
}

int store_batch_begin(struct store *st, struct rp_error *err)
{
	if (st->batch++)
		return 0;
	int rc = store__exec_stmt(st, S_BEGIN_IMMEDIATE, err, "cannot begin a write transaction");
	if (rc < 0)
		st->batch = 0;
	return rc;
}

int store_batch_end(struct store *st, int ok, struct rp_error *err)
{
	if (st->batch <= 0)
		return rp_error_set(err, RP_EINVAL, "%s: no batch to end", st->path);
	if (--st->batch)
		return 0;
	if (ok)
		return store__end(st, 0, err);
	store__rollback(st);
	return 0;
}

/* Steps `s`, a statement returning one row of one integer, into *out. */
int store__query_int64(struct store *st, sqlite3_stmt *s, int64_t *out, struct rp_error *err,
		       const char *what)
{
	int rc = sqlite3_step(s);
	int ret = 0;
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(s, 0);
	else if (rc == SQLITE_DONE)
		ret = rp_error_set(err, RP_EDB, "%s: %s: no result", st->path, what);
	else
		ret = store__dberr(st, err, rc, "%s", what);
	store__done(s);
	return ret;
}

/* ---- opening, versions, migrations ------------------------------------------ */

int store_schema_version(struct store *st, struct rp_error *err)
{
	sqlite3_stmt *s = store__stmt(st, S_USER_VERSION, err);
	int64_t v = 0;
	int ret;
	if (!s)
		return store__code(sqlite3_errcode(st->db));
	ret = store__query_int64(st, s, &v, err, "cannot read the schema version");
	if (ret < 0)
		return ret;
	if (v < 0 || v > 1000000)
		return rp_error_set(err, RP_ESCHEMA,
				    "%s: database schema version %lld is not one of ripple's", st->path,
				    (long long)v);
	return (int)v;
}

static int store__newer(struct store *st, int version, struct rp_error *err)
{
	return rp_error_set(err, RP_ESCHEMA,
			    "%s: database schema version %d is newer than this ripple supports (%d); "
			    "upgrade ripple",
			    st->path, version, STORE_SCHEMA_LATEST);
}

/* Applies migration `to` (taking the schema from to - 1) inside the caller's transaction. */
static int store__apply(struct store *st, int to, struct rp_error *err)
{
	char pragma[64];
	sqlite3_stmt *s = NULL;
	int rc, ret;

	rc = sqlite3_exec(st->db, store__migrations[to - 1], NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return store__dberr(st, err, rc, "migration to schema version %d failed", to);
	/*
	 * Foreign keys are off while migrating (a table rebuild must be able to
	 * drop a referenced table), so the migration proves it kept them valid.
	 */
	rc = sqlite3_prepare_v2(st->db, "PRAGMA foreign_key_check", -1, &s, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		ret = rp_error_set(err, RP_ESCHEMA,
				   "%s: migration to schema version %d broke a foreign key in table %s",
				   st->path, to, (const char *)sqlite3_column_text(s, 0));
		goto out;
	}
	if (rc != SQLITE_DONE) {
		ret =
		    store__dberr(st, err, rc, "cannot check foreign keys after migration to version %d", to);
		goto out;
	}
	/* PRAGMA takes no bound parameters; `to` is our own small integer, not data. */
	snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", to);
	ret = store__exec(st, pragma, err, "cannot set the schema version");
out:
	sqlite3_finalize(s);
	return ret;
}

int store_migrate(struct store *st, int target, struct rp_error *err)
{
	int ret, fk_ret;

	if (target < 1 || target > STORE_SCHEMA_LATEST)
		return rp_error_set(err, RP_ERANGE, "%s: schema version %d is out of range 1..%d", st->path,
				    target, STORE_SCHEMA_LATEST);
	if (st->flags & STORE_READONLY)
		return rp_error_set(err, RP_EINVAL, "%s: cannot migrate a database opened read-only",
				    st->path);

	/* Cannot change inside a transaction, so it brackets the whole loop. */
	ret = store__exec(st, "PRAGMA foreign_keys = OFF", err, "cannot disable foreign keys");
	if (ret < 0)
		return ret;
	for (;;) {
		int version;

		ret = store__begin_write(st, err);
		if (ret < 0)
			break;
		/* Read under the write lock: another process may have migrated meanwhile. */
		version = store_schema_version(st, err);
		if (version < 0) {
			ret = version;
		} else if (version > STORE_SCHEMA_LATEST) {
			ret = store__newer(st, version, err);
		} else if (version >= target) {
			ret = store__end(st, 0, err);
			break;
		} else {
			ret = store__apply(st, version + 1, err);
		}
		ret = store__end(st, ret, err);
		if (ret < 0)
			break;
	}
	fk_ret =
	    store__exec(st, "PRAGMA foreign_keys = ON", ret < 0 ? NULL : err, "cannot enable foreign keys");
	return ret < 0 ? ret : fk_ret;
}

/*
 * Runs a PRAGMA returning one text value into `buf`. *busy (when non-NULL)
 * tells a failure for SQLITE_BUSY apart, for callers that retry.
 */
static int store__pragma_text(struct store *st, const char *sql, char *buf, size_t cap, int *busy,
			      struct rp_error *err)
{
	sqlite3_stmt *s = NULL;
	int rc, ret = 0;

	rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	if (busy)
		*busy = (rc & 0xff) == SQLITE_BUSY;
	if (rc == SQLITE_DONE) {
		ret = rp_error_set(err, RP_EDB, "%s: %s: no result", st->path, sql);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		ret = store__dberr(st, err, rc, "%s failed", sql);
		goto out;
	}
	snprintf(buf, cap, "%s", sqlite3_column_text(s, 0) ? (const char *)sqlite3_column_text(s, 0) : "");
out:
	sqlite3_finalize(s);
	return ret;
}

static int64_t store__monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Puts the file in WAL mode; the mode is stored in the file, so only the
 * first open of a new database changes it. The switch needs an exclusive
 * lock, and SQLite answers SQLITE_BUSY at once, without calling the busy
 * handler, when waiting could deadlock with another connection taking locks
 * too (several processes creating the database together). So wait here,
 * as long as the busy timeout would.
 */
static int store__set_wal(struct store *st, struct rp_error *err)
{
	const struct timespec pause = {0, 10000000L}; /* 10 ms */
	int64_t deadline = store__monotonic_ms() + STORE_BUSY_TIMEOUT_MS;
	char mode[32];
	int busy, ret;

	for (;;) {
		ret = store__pragma_text(st, "PRAGMA journal_mode", mode, sizeof(mode), NULL, err);
		if (ret < 0 || strcmp(mode, "wal") == 0)
			return ret;
		ret = store__pragma_text(st, "PRAGMA journal_mode = WAL", mode, sizeof(mode), &busy, err);
		if (ret == 0 && strcmp(mode, "wal") == 0)
			return 0;
		if (ret < 0 && (!busy || store__monotonic_ms() >= deadline))
			return ret;
		/* Busy, or another connection kept its lock: SQLite then reports the old mode. */
		if (ret == 0 && store__monotonic_ms() >= deadline)
			return rp_error_set(err, RP_EDB,
					    "%s: cannot switch the database to WAL mode (still %s)", st->path,
					    mode);
		nanosleep(&pause, NULL);
	}
}

/*
 * Explains a failure to open. When the file is missing SQLite's last attempt
 * was a read-only open of it, so it reports ENOENT and hides the real cause:
 * the directory that does not exist, is not one, or is not writable.
 */
static int store__open_error(struct store *st, int rc, struct rp_error *err)
{
	const char *slash = strrchr(st->path, '/');
	struct stat sb;
	char *dir;
	int eno, ret;

	if (stat(st->path, &sb) == 0 || (errno != ENOENT && errno != ENOTDIR))
		return store__dberr(st, err, rc, "cannot open database");
	if (st->flags & STORE_READONLY)
		return rp_error_set(err, RP_EIO, "%s: cannot open database: %s", st->path, strerror(errno));
	dir = slash ? strndup(st->path, slash == st->path ? 1 : (size_t)(slash - st->path)) : strdup(".");
	if (!dir)
		return store__nomem(st, err);
	if (stat(dir, &sb) < 0)
		eno = errno;
	else if (!S_ISDIR(sb.st_mode))
		eno = ENOTDIR;
	else if (faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) < 0)
		eno = errno;
	else
		eno = 0;
	if (eno)
		ret = rp_error_set(err, RP_EIO, "%s: cannot create database: %s: %s", st->path, dir,
				   strerror(eno));
	else
		ret = store__dberr(st, err, rc, "cannot open database");
	free(dir);
	return ret;
}

int store_open(const char *path, unsigned flags, struct store **out, struct rp_error *err)
{
	struct store *st = NULL;
	int oflags, rc, ret, version;

	*out = NULL;
	if (!path || !*path)
		return rp_error_set(err, RP_EINVAL, "database path is empty");
	if (flags & STORE_READONLY)
		flags |= STORE_NO_MIGRATE;
	st = calloc(1, sizeof(*st));
	if (!st || !(st->path = strdup(path))) {
		free(st);
		return rp_error_set(err, RP_ENOMEM, "%s: out of memory", path);
	}
	st->flags = flags;

	/*
	 * NOMUTEX: a connection is used by one thread at a time (see store.h),
	 * so SQLite's per-connection mutex is pure cost. No URI parsing: a path
	 * is a path.
	 */
	oflags = SQLITE_OPEN_NOMUTEX;
	oflags |=
	    (flags & STORE_READONLY) ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	rc = sqlite3_open_v2(path, &st->db, oflags, NULL);
	if (rc != SQLITE_OK) {
		ret = store__open_error(st, rc, err);
		goto out;
	}
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);
	/* SQLite silently falls back to read-only for a write-protected file. */
	if (!(flags & STORE_READONLY) && sqlite3_db_readonly(st->db, "main") == 1) {
		ret = rp_error_set(err, RP_EIO, "%s: cannot open database for writing: the file is read-only",
				   path);
		goto out;
	}
	ret = store__exec(st, "PRAGMA foreign_keys = ON", err, "cannot enable foreign keys");
	if (ret < 0)
		goto out;
	/* The first read of the file: this is where a non-database is found. */
	version = store_schema_version(st, err);
	if (version < 0) {
		ret = version;
		goto out;
	}
	if (version > STORE_SCHEMA_LATEST) {
		ret = store__newer(st, version, err);
		goto out;
	}
	if (!(flags & STORE_READONLY)) {
		ret = store__set_wal(st, err);
		if (ret < 0)
			goto out;
		/*
		 * NORMAL is safe from corruption in WAL mode; a power cut may
		 * lose the last commits, which the scheduler redoes (an
		 * unrecorded lease expires, an unrecorded result is re-run).
		 */
		ret = store__exec(st, "PRAGMA synchronous = NORMAL", err, "cannot set synchronous mode");
		if (ret < 0)
			goto out;
	}
	/*
	 * Sorts, statement journals of savepoints and other temporary tables in
	 * memory: on disk each one is a file created and deleted, which on a busy
	 * scheduler cost a file system create per request.
	 */
	ret = store__exec(st, "PRAGMA temp_store = MEMORY", err, "cannot set temp_store");
	if (ret < 0)
		goto out;
	if (!(flags & STORE_NO_MIGRATE) && version < STORE_SCHEMA_LATEST) {
		ret = store_migrate(st, STORE_SCHEMA_LATEST, err);
		if (ret < 0)
			goto out;
	}
	*out = st;
	st = NULL;
	ret = 0;
out:
	store_close(st);
	return ret;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < S__COUNT; i++)
		sqlite3_finalize(st->stmts[i]);
	for (size_t i = 0; i < STORE__EXT_STMTS; i++)
		sqlite3_finalize(st->ext_stmts[i]);
	sqlite3_close_v2(st->db);
	free(st->path);
	free(st);
}

int store_defer_checkpoints(struct store *st, struct rp_error *err)
{
	return store__exec(st, "PRAGMA wal_autocheckpoint = 0", err, "cannot turn automatic checkpoints off");
}

int store_checkpoint(struct store *st, struct rp_error *err)
{
	int rc = sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	if (rc != SQLITE_OK && rc != SQLITE_BUSY && rc != SQLITE_LOCKED)
		return store__dberr(st, err, rc, "cannot checkpoint the write-ahead log");
	return 0;
}

const char *store_path(const struct store *st)
{
	return st->path;
}

sqlite3 *store__handle(struct store *st)
{
	return st->db;
}

/* ---- schema and checks -------------------------------------------------------- */

int store_schema_sql(struct store *st, char **out, struct rp_error *err)
{
	sqlite3_stmt *s = NULL;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int rc, ret = 0;

	*out = NULL;
	rc = sqlite3_prepare_v2(st->db,
				"SELECT type, name, coalesce(sql, '') FROM sqlite_schema"
				" WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
				-1, &s, NULL);
	while (rc == SQLITE_OK || rc == SQLITE_ROW) {
		rc = sqlite3_step(s);
		if (rc != SQLITE_ROW)
			break;
		const char *cols[3];
		size_t need = 6; /* ' ', ':', ' ', '\n' and the NUL, with one to spare */
		for (int i = 0; i < 3; i++) {
			cols[i] = (const char *)sqlite3_column_text(s, i);
			if (!cols[i]) {
				ret = store__nomem(st, err);
				goto out;
			}
			need += strlen(cols[i]);
		}
		if (len + need > cap) {
			size_t ncap = (cap ? cap * 2 : 4096) + need;
			char *nbuf = realloc(buf, ncap);
			if (!nbuf) {
				ret = store__nomem(st, err);
				goto out;
			}
			buf = nbuf;
			cap = ncap;
		}
		len += (size_t)snprintf(buf + len, cap - len, "%s %s: %s\n", cols[0], cols[1], cols[2]);
	}
	if (rc != SQLITE_DONE) {
		ret = store__dberr(st, err, rc, "cannot read the schema");
		goto out;
	}
	if (!buf && !(buf = calloc(1, 1))) {
		ret = store__nomem(st, err);
		goto out;
	}
	*out = buf;
	buf = NULL;
out:
	sqlite3_finalize(s);
	free(buf);
	return ret;
}

/* Counts the rows of every table; the caller holds a read transaction. */
static int store__count_rows(struct store *st, struct store_table_count *counts, struct rp_error *err)
{
	sqlite3_stmt *exists = store__stmt(st, S_TABLE_EXISTS, err);
	sqlite3_stmt *count = NULL;
	int rc, ret = 0;

	if (!exists)
		return store__code(sqlite3_errcode(st->db));
	for (size_t i = 0; i < STORE__NTABLES; i++) {
		counts[i].table = store__tables[i].name;
		counts[i].rows = -1;
		if (sqlite3_bind_text(exists, 1, store__tables[i].name, -1, SQLITE_STATIC) != SQLITE_OK) {
			ret = store__dberr(st, err, sqlite3_errcode(st->db), "cannot bind");
			goto out;
		}
		rc = sqlite3_step(exists);
		store__done(exists);
		if (rc == SQLITE_DONE)
			continue;
		if (rc != SQLITE_ROW) {
			ret = store__dberr(st, err, rc, "cannot list tables");
			goto out;
		}
		rc = sqlite3_prepare_v2(st->db, store__tables[i].count_sql, -1, &count, NULL);
		if (rc != SQLITE_OK) {
			ret = store__dberr(st, err, rc, "cannot count rows of %s", store__tables[i].name);
			goto out;
		}
		ret = store__query_int64(st, count, &counts[i].rows, err, "cannot count rows");
		sqlite3_finalize(count);
		count = NULL;
		if (ret < 0)
			goto out;
	}
out:
	sqlite3_finalize(count);
	return ret;
}

int store_count_rows(struct store *st, struct store_table_count **counts, size_t *n, struct rp_error *err)
{
	struct store_table_count *c = NULL;
	int ret;

	*counts = NULL;
	*n = 0;
	c = calloc(STORE__NTABLES, sizeof(*c));
	if (!c)
		return store__nomem(st, err);
	ret = store__begin_read(st, err);
	if (ret < 0)
		goto out;
	ret = store__end(st, store__count_rows(st, c, err), err);
	if (ret < 0)
		goto out;
	*counts = c;
	*n = STORE__NTABLES;
	c = NULL;
out:
	free(c);
	return ret;
}

__attribute__((format(printf, 3, 4))) static int
store__problem(struct store *st, struct store_check_report *rep, const char *fmt, ...)
{
	char line[512];
	const char *copy;
	va_list ap;

	if (rep->nproblems >= STORE_CHECK_MAX_PROBLEMS)
		return 0;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	copy = store__strdup(&rep->mem_, line);
	if (!copy)
		return store__nomem(st, NULL);
	rep->problems[rep->nproblems++] = copy;
	return 0;
}

/* One problem per line of an integrity_check row, which can hold several. */
static int store__integrity_lines(struct store *st, struct store_check_report *rep, const char *msg)
{
	while (*msg) {
		size_t len = strcspn(msg, "\n");
		/* A header naming the schema; with one database attached it says nothing. */
		if (len && strncmp(msg, "*** in database ", 16) != 0 &&
		    store__problem(st, rep, "integrity: %.*s", (int)len, msg) < 0)
			return RP_ENOMEM;
		msg += len;
		if (*msg)
			msg++;
	}
	return 0;
}

int store_check(struct store *st, struct store_check_report *rep, struct rp_error *err)
{
	struct rp_error count_err = { .msg = "" };
	sqlite3_stmt *s = NULL;
	size_t n;
	int rc, ret;

	memset(rep, 0, sizeof(*rep));
	rep->latest = STORE_SCHEMA_LATEST;
	rep->problems = store__alloc(&rep->mem_, STORE_CHECK_MAX_PROBLEMS * sizeof(*rep->problems));
	if (!rep->problems)
		return store__nomem(st, err);

	ret = store_schema_version(st, err);
	if (ret < 0)
		return ret;
	rep->version = ret;
	rep->version_ok = rep->version == STORE_SCHEMA_LATEST;
	ret = 0;
	if (rep->version < STORE_SCHEMA_LATEST)
		ret = store__problem(st, rep, "schema version %d is older than %d; run `ripple db migrate`",
				     rep->version, STORE_SCHEMA_LATEST);
	else if (rep->version > STORE_SCHEMA_LATEST)
		ret = store__problem(st, rep, "schema version %d is newer than this ripple supports (%d)",
				     rep->version, STORE_SCHEMA_LATEST);
	if (ret < 0)
		goto nomem;

	/* At most as many rows as the report keeps: a wrecked file can yield millions. */
	rc = sqlite3_prepare_v2(st->db, "PRAGMA integrity_check(100)", -1, &s, NULL);
	rep->integrity_ok = 1;
	while (rc == SQLITE_OK || rc == SQLITE_ROW) {
		const char *msg;
		if ((rc = sqlite3_step(s)) != SQLITE_ROW)
			break;
		msg = (const char *)sqlite3_column_text(s, 0);
		if (msg && strcmp(msg, "ok") == 0)
			continue;
		rep->integrity_ok = 0;
		if (store__integrity_lines(st, rep, msg ? msg : "?") < 0)
			goto nomem;
	}
	if (rc != SQLITE_DONE) {
		/* A corrupt file can fail the check itself; that is a finding too. */
		rep->integrity_ok = 0;
		if (store__problem(st, rep, "integrity: %s", sqlite3_errmsg(st->db)) < 0)
			goto nomem;
	}
	sqlite3_finalize(s);

	rc = sqlite3_prepare_v2(st->db, "PRAGMA foreign_key_check", -1, &s, NULL);
	rep->foreign_keys_ok = 1;
	while (rc == SQLITE_OK || rc == SQLITE_ROW) {
		const char *table, *parent;
		if ((rc = sqlite3_step(s)) != SQLITE_ROW)
			break;
		table = (const char *)sqlite3_column_text(s, 0);
		parent = (const char *)sqlite3_column_text(s, 2);
		rep->foreign_keys_ok = 0;
		if (store__problem(st, rep, "foreign key: row %lld of %s refers to a missing row of %s",
				   (long long)sqlite3_column_int64(s, 1), table ? table : "?",
				   parent ? parent : "?") < 0)
			goto nomem;
	}
	if (rc != SQLITE_DONE) {
		rep->foreign_keys_ok = 0;
		if (store__problem(st, rep, "foreign key: %s", sqlite3_errmsg(st->db)) < 0)
			goto nomem;
	}
	sqlite3_finalize(s);
	s = NULL;

	/* A damaged table can fail its count: report it with the rest, not instead of it. */
	ret = store_count_rows(st, &rep->counts, &n, &count_err);
	if (ret == RP_ENOMEM)
		goto nomem;
	if (ret < 0 && store__problem(st, rep, "rows: %s", count_err.msg) < 0)
		goto nomem;
	rep->ncounts = n;
	rep->ok = rep->version_ok && rep->integrity_ok && rep->foreign_keys_ok && ret == 0;
	ret = 0;
	goto out;
nomem:
	ret = store__nomem(st, err);
out:
	sqlite3_finalize(s);
	return ret;
}

void store_check_report_release(struct store_check_report *rep)
{
	free(rep->counts);
	store__mem_free(&rep->mem_);
	memset(rep, 0, sizeof(*rep));
}

/* ---- universes ---------------------------------------------------------------- */

static int store__cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The universe's id, or RP_ENOTFOUND; inside the caller's transaction. */
static int store__universe_id(struct store *st, const char *name, int64_t *id, struct rp_error *err)
{
	sqlite3_stmt *s = store__stmt(st, S_UNIVERSE_ID, err);
	int rc, ret = 0;

	if (!s)
		return store__code(sqlite3_errcode(st->db));
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(s, 0);
	else if (rc == SQLITE_DONE)
		ret = rp_error_set(err, RP_ENOTFOUND, "%s: no universe named '%s'", st->path, name);
	else
		ret = store__dberr(st, err, rc, "cannot look up universe '%s'", name);
	store__done(s);
	return ret;
}

int store_sync_universe(struct store *st, const char *name, const struct store_package_row *pkgs,
			size_t npkgs, int64_t *universe_id, struct rp_error *err)
{
	const char **names = NULL;
	int64_t *stale = NULL;
	size_t nstale = 0;
	sqlite3_stmt *s = NULL;
	int64_t uid = 0;
	int rc, ret = 0;

	if (!name || !*name)
		return rp_error_set(err, RP_EINVAL, "%s: universe name is empty", st->path);
	for (size_t i = 0; i < npkgs; i++)
		if (!pkgs[i].name || !*pkgs[i].name || !pkgs[i].repo || !pkgs[i].branch)
			return rp_error_set(err, RP_EINVAL,
					    "%s: universe '%s': package %zu lacks a name, repo or branch",
					    st->path, name, i);
	/* Sorted names: find duplicates now, and stale rows by bsearch later. */
	names = malloc((npkgs ? npkgs : 1) * sizeof(*names));
	if (!names)
		return store__nomem(st, err);
	for (size_t i = 0; i < npkgs; i++)
		names[i] = pkgs[i].name;
	qsort(names, npkgs, sizeof(*names), store__cmp_str);
	for (size_t i = 1; i < npkgs; i++)
		if (strcmp(names[i - 1], names[i]) == 0) {
			ret = rp_error_set(err, RP_EINVAL, "%s: universe '%s': package '%s' is listed twice",
					   st->path, name, names[i]);
			goto out_free;
		}

	ret = store__begin_write(st, err);
	if (ret < 0)
		goto out_free;

	if (!(s = store__stmt(st, S_UNIVERSE_UPSERT, err)))
		goto dberr;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, store__now_ms());
	ret = store__step_done(st, s, err, "cannot write universe");
	if (ret < 0)
		goto out;
	ret = store__universe_id(st, name, &uid, err);
	if (ret < 0)
		goto out;

	if (!(s = store__stmt(st, S_PACKAGE_UPSERT, err)))
		goto dberr;
	for (size_t i = 0; i < npkgs; i++) {
		sqlite3_bind_int64(s, 1, uid);
		sqlite3_bind_text(s, 2, pkgs[i].name, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, pkgs[i].repo, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 4, pkgs[i].branch, -1, SQLITE_STATIC);
		sqlite3_bind_int(s, 5, pkgs[i].position);
		ret = store__step_done(st, s, err, "cannot write package");
		if (ret < 0)
			goto out;
	}

	/* Collect first, delete after: no deleting from the table being scanned. */
	if (!(s = store__stmt(st, S_PACKAGE_NAMES, err)))
		goto dberr;
	sqlite3_bind_int64(s, 1, uid);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *pname = (const char *)sqlite3_column_text(s, 1);
		if (pname && bsearch(&pname, names, npkgs, sizeof(*names), store__cmp_str))
			continue;
		int64_t *grown = realloc(stale, (nstale + 1) * sizeof(*stale));
		if (!grown) {
			store__done(s);
			ret = store__nomem(st, err);
			goto out;
		}
		stale = grown;
		stale[nstale++] = sqlite3_column_int64(s, 0);
	}
	if (rc != SQLITE_DONE) {
		ret = store__dberr(st, err, rc, "cannot list packages");
		store__done(s);
		goto out;
	}
	store__done(s);
	if (nstale) {
		if (!(s = store__stmt(st, S_PACKAGE_DELETE, err)))
			goto dberr;
		for (size_t i = 0; i < nstale; i++) {
			sqlite3_bind_int64(s, 1, stale[i]);
			ret = store__step_done(st, s, err, "cannot delete package");
			if (ret < 0)
				goto out;
		}
	}
	if (universe_id)
		*universe_id = uid;
	goto out;
dberr:
	ret = store__code(sqlite3_errcode(st->db));
out:
	ret = store__end(st, ret, err);
out_free:
	free(names);
	free(stale);
	return ret;
}

/* ---- runs and jobs -------------------------------------------------------------- */

static int store__cmp_edge(const void *a, const void *b)
{
	const struct store_edge *x = a, *y = b;
	if (x->job != y->job)
		return x->job < y->job ? -1 : 1;
	if (x->dep != y->dep)
		return x->dep < y->dep ? -1 : 1;
	return 0;
}

/* Checks a run spec before any write, so a bad spec is a clear message, not a constraint name. */
static int store__check_spec(struct store *st, const struct store_run_spec *spec, struct rp_error *err)
{
	if (!spec->universe || !store_run_kind_name(spec->kind))
		return rp_error_set(err, RP_EINVAL, "%s: run spec lacks a universe or has an unknown kind",
				    st->path);
	if (spec->request_id && !*spec->request_id)
		return rp_error_set(err, RP_EINVAL, "%s: run spec: request id is empty", st->path);
	for (size_t i = 0; i < spec->nbaseline + spec->nchange; i++) {
		const struct store_pin *p =
		    i < spec->nbaseline ? &spec->baseline[i] : &spec->change[i - spec->nbaseline];
		if (!p->package || !*p->package || !p->commit || !*p->commit)
			return rp_error_set(err, RP_EINVAL,
					    "%s: run spec: %s pin %zu lacks a package or commit", st->path,
					    i < spec->nbaseline ? "baseline" : "change",
					    i < spec->nbaseline ? i : i - spec->nbaseline);
	}
	for (size_t i = 0; i < spec->njobs; i++) {
		const struct store_job_spec *j = &spec->jobs[i];
		if (!j->package || !*j->package || !j->target || !*j->target || !j->commit || !*j->commit)
			return rp_error_set(err, RP_EINVAL,
					    "%s: run spec: job %zu lacks a package, target or commit",
					    st->path, i);
		if (j->build_key && !store__is_hex64(j->build_key))
			return rp_error_set(err, RP_EINVAL,
					    "%s: run spec: job %zu: build key is not %d lowercase hex digits",
					    st->path, i, STORE_HEX_LEN);
		if (j->tree_id && !store__is_hex40(j->tree_id))
			return rp_error_set(err, RP_EINVAL,
					    "%s: run spec: job %zu: tree id is not 40 lowercase hex digits",
					    st->path, i);
	}
	for (size_t i = 0; i < spec->nedges; i++)
		if (spec->edges[i].job >= spec->njobs || spec->edges[i].dep >= spec->edges[i].job)
			return rp_error_set(
			    err, RP_EINVAL,
			    "%s: run spec: edge %zu (%zu after %zu) is out of range or not in "
			    "topological order",
			    st->path, i, spec->edges[i].job, spec->edges[i].dep);
	return 0;
}

static int store__insert_pins(struct store *st, int64_t run_id, const char *role,
			      const struct store_pin *pins, size_t n, struct rp_error *err)
{
	sqlite3_stmt *s = store__stmt(st, S_PIN_INSERT, err);
	int ret;

	if (!s)
		return store__code(sqlite3_errcode(st->db));
	for (size_t i = 0; i < n; i++) {
		sqlite3_bind_int64(s, 1, run_id);
		sqlite3_bind_text(s, 2, role, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, pins[i].package, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 4, pins[i].commit, -1, SQLITE_STATIC);
		ret = store__step_done(st, s, err, "cannot write pin");
		if (ret == RP_EEXISTS)
			return rp_error_set(err, RP_EINVAL,
					    "%s: run spec: package '%s' is pinned twice as %s", st->path,
					    pins[i].package, role);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int store_run_create(struct store *st, const struct store_run_spec *spec, int64_t *run_id, int64_t *job_ids,
		     struct rp_error *err)
{
	struct store_edge *edges = NULL;
	int64_t *ids = NULL;
	int *deps_left = NULL;
	sqlite3_stmt *s;
	int64_t uid = 0, rid = 0, now;
	int ret;

	ret = store__check_spec(st, spec, err);
	if (ret < 0)
		return ret;
	edges = malloc((spec->nedges ? spec->nedges : 1) * sizeof(*edges));
	ids = malloc((spec->njobs ? spec->njobs : 1) * sizeof(*ids));
	deps_left = calloc(spec->njobs ? spec->njobs : 1, sizeof(*deps_left));
	if (!edges || !ids || !deps_left) {
		ret = store__nomem(st, err);
		goto out_free;
	}
	if (spec->nedges)
		memcpy(edges, spec->edges, spec->nedges * sizeof(*edges));
	qsort(edges, spec->nedges, sizeof(*edges), store__cmp_edge);
	for (size_t i = 0; i < spec->nedges; i++) {
		if (i > 0 && store__cmp_edge(&edges[i - 1], &edges[i]) == 0) {
			ret = rp_error_set(err, RP_EINVAL, "%s: run spec: edge %zu after %zu is listed twice",
					   st->path, edges[i].job, edges[i].dep);
			goto out_free;
		}
		deps_left[edges[i].job]++;
	}
	now = spec->created_ms ? spec->created_ms : store__now_ms();

	ret = store__begin_write(st, err);
	if (ret < 0)
		goto out_free;
	ret = store__universe_id(st, spec->universe, &uid, err);
	if (ret < 0)
		goto out;

	if (!(s = store__stmt(st, S_RUN_INSERT, err)))
		goto dberr;
	sqlite3_bind_int64(s, 1, uid);
	sqlite3_bind_text(s, 2, store_run_kind_name(spec->kind), -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 3, spec->priority);
	sqlite3_bind_text(s, 4, spec->title, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, spec->change_ref, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 6, now);
	sqlite3_bind_text(s, 7, spec->request_id, -1, SQLITE_STATIC);
	ret = store__step_done(st, s, err, "cannot write run");
	if (ret == RP_EEXISTS && spec->request_id)
		ret = rp_error_set(err, RP_EEXISTS, "%s: a run with request id '%s' already exists", st->path,
				   spec->request_id);
	if (ret < 0)
		goto out;
	rid = sqlite3_last_insert_rowid(st->db);

	ret = store__insert_pins(st, rid, "baseline", spec->baseline, spec->nbaseline, err);
	if (ret < 0)
		goto out;
	ret = store__insert_pins(st, rid, "change", spec->change, spec->nchange, err);
	if (ret < 0)
		goto out;

	if (!(s = store__stmt(st, S_JOB_INSERT, err)))
		goto dberr;
	for (size_t i = 0; i < spec->njobs; i++) {
		const struct store_job_spec *j = &spec->jobs[i];
		sqlite3_bind_int64(s, 1, rid);
		sqlite3_bind_text(s, 2, j->package, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, j->target, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 4, j->commit, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 5, j->build_key, -1, SQLITE_STATIC);
		sqlite3_bind_int(s, 6, spec->priority);
		sqlite3_bind_int(s, 7, deps_left[i]);
		sqlite3_bind_int64(s, 8, now);
		sqlite3_bind_text(s, 9, j->tree_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 10, j->variant ? j->variant : "build", -1, SQLITE_STATIC);
		if (j->fuzz_crash > 0)
			sqlite3_bind_int64(s, 11, j->fuzz_crash);
		else
			sqlite3_bind_null(s, 11);
		ret = store__step_done(st, s, err, "cannot write job");
		if (ret < 0)
			goto out;
		ids[i] = sqlite3_last_insert_rowid(st->db);
	}

	if (spec->nedges && !(s = store__stmt(st, S_EDGE_INSERT, err)))
		goto dberr;
	for (size_t i = 0; i < spec->nedges; i++) {
		sqlite3_bind_int64(s, 1, ids[edges[i].job]);
		sqlite3_bind_int64(s, 2, ids[edges[i].dep]);
		ret = store__step_done(st, s, err, "cannot write job edge");
		if (ret < 0)
			goto out;
	}
	goto out;
dberr:
	ret = store__code(sqlite3_errcode(st->db));
out:
	ret = store__end(st, ret, err);
	if (ret == 0) {
		if (run_id)
			*run_id = rid;
		if (job_ids && spec->njobs)
			memcpy(job_ids, ids, spec->njobs * sizeof(*ids));
	}
out_free:
	free(edges);
	free(ids);
	free(deps_left);
	return ret;
}

/* Copies column `col` (NULL stays NULL) into memory owned by `mem`. */
int store__col_str(struct store *st, void **mem, sqlite3_stmt *s, int col, const char **out,
		   struct rp_error *err)
{
	const unsigned char *v;

	*out = NULL;
	if (sqlite3_column_type(s, col) == SQLITE_NULL)
		return 0;
	v = sqlite3_column_text(s, col);
	if (!v || !(*out = store__strdup(mem, (const char *)v)))
		return store__nomem(st, err);
	return 0;
}

static int store__read_pins(struct store *st, struct store_run *run, const char *role,
			    struct store_pin **pins, size_t *npins, struct rp_error *err)
{
	sqlite3_stmt *s;
	int64_t count = 0;
	size_t n = 0;
	int rc, ret;

	if (!(s = store__stmt(st, S_PIN_COUNT, err)))
		return store__code(sqlite3_errcode(st->db));
	sqlite3_bind_int64(s, 1, run->id);
	sqlite3_bind_text(s, 2, role, -1, SQLITE_STATIC);
	ret = store__query_int64(st, s, &count, err, "cannot count pins");
	if (ret < 0)
		return ret;
	*pins = store__alloc(&run->mem_, (size_t)(count ? count : 1) * sizeof(**pins));
	if (!*pins)
		return store__nomem(st, err);

	if (!(s = store__stmt(st, S_PINS_GET, err)))
		return store__code(sqlite3_errcode(st->db));
	sqlite3_bind_int64(s, 1, run->id);
	sqlite3_bind_text(s, 2, role, -1, SQLITE_STATIC);
	/* The count came from the same snapshot, so rows cannot outnumber it. */
	while ((rc = sqlite3_step(s)) == SQLITE_ROW && n < (size_t)count) {
		ret = store__col_str(st, &run->mem_, s, 0, &(*pins)[n].package, err);
		if (ret == 0)
			ret = store__col_str(st, &run->mem_, s, 1, &(*pins)[n].commit, err);
		if (ret < 0)
			goto out;
		n++;
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		ret = store__dberr(st, err, rc, "cannot read pins");
	*npins = n;
out:
	store__done(s);
	return ret;
}

int store_run_get(struct store *st, int64_t id, struct store_run *run, struct rp_error *err)
{
	sqlite3_stmt *s = NULL;
	int rc, ret, v;

	memset(run, 0, sizeof(*run));
	ret = store__begin_read(st, err);
	if (ret < 0)
		return ret;
	if (!(s = store__stmt(st, S_RUN_GET, err))) {
		ret = store__code(sqlite3_errcode(st->db));
		goto out;
	}
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		ret = rp_error_set(err, RP_ENOTFOUND, "%s: no run %lld", st->path, (long long)id);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		ret = store__dberr(st, err, rc, "cannot read run %lld", (long long)id);
		goto out;
	}
	run->id = sqlite3_column_int64(s, 0);
	ret = store__col_str(st, &run->mem_, s, 1, &run->universe, err);
	if (ret < 0)
		goto out;
	v = store__parse_name(store__run_kinds, sizeof(store__run_kinds) / sizeof(store__run_kinds[0]),
			      sqlite3_column_text(s, 2));
	run->kind = (enum store_run_kind)v;
	run->priority = sqlite3_column_int(s, 3);
	if (v >= 0) {
		v = store__parse_name(store__run_states,
				      sizeof(store__run_states) / sizeof(store__run_states[0]),
				      sqlite3_column_text(s, 4));
		run->state = (enum store_run_state)v;
	}
	if (v < 0) {
		ret = rp_error_set(err, RP_EDB, "%s: run %lld has an unknown kind or state", st->path,
				   (long long)id);
		goto out;
	}
	ret = store__col_str(st, &run->mem_, s, 5, &run->title, err);
	if (ret == 0)
		ret = store__col_str(st, &run->mem_, s, 6, &run->change_ref, err);
	if (ret < 0)
		goto out;
	run->created_ms = sqlite3_column_int64(s, 7);
	run->finished_ms = sqlite3_column_int64(s, 8);
	store__done(s);
	s = NULL;

	ret = store__read_pins(st, run, "baseline", &run->baseline, &run->nbaseline, err);
	if (ret == 0)
		ret = store__read_pins(st, run, "change", &run->change, &run->nchange, err);
out:
	store__done(s);
	ret = store__end(st, ret, err);
	if (ret < 0)
		store_run_release(run);
	return ret;
}

void store_run_release(struct store_run *run)
{
	store__mem_free(&run->mem_);
	memset(run, 0, sizeof(*run));
}

static int store__cmp_job_id(const void *key, const void *elem)
{
	int64_t k = *(const int64_t *)key, id = ((const struct store_job *)elem)->id;
	return k < id ? -1 : k > id;
}

int store__read_job(struct store *st, sqlite3_stmt *s, struct store_job *j, struct rp_error *err)
{
	int ret, v;

	j->id = sqlite3_column_int64(s, 0);
	j->run_id = sqlite3_column_int64(s, 15);
	ret = store__col_str(st, &j->mem_, s, 1, &j->package, err);
	if (ret == 0)
		ret = store__col_str(st, &j->mem_, s, 2, &j->target, err);
	if (ret == 0)
		ret = store__col_str(st, &j->mem_, s, 3, &j->commit, err);
	if (ret == 0)
		ret = store__col_str(st, &j->mem_, s, 4, &j->build_key, err);
	if (ret == 0)
		ret = store__col_str(st, &j->mem_, s, 9, &j->lease_owner, err);
	if (ret == 0)
		ret = store__col_str(st, &j->mem_, s, 16, &j->tree_id, err);
	if (ret == 0)
		ret = store__col_str(st, &j->mem_, s, 20, &j->output_hash, err);
	if (ret == 0)
		ret = store__col_str(st, &j->mem_, s, 21, &j->failed_step, err);
	if (ret == 0)
		ret = store__col_str(st, &j->mem_, s, 22, &j->category, err);
	if (ret == 0)
		ret = store__col_str(st, &j->mem_, s, 23, &j->first_error, err);
	if (ret == 0)
		ret = store__col_str(st, &j->mem_, s, 24, &j->worker, err);
	if (ret < 0)
		return ret;
	j->priority = sqlite3_column_int(s, 5);
	v = store__parse_name(store__job_states, sizeof(store__job_states) / sizeof(store__job_states[0]),
			      sqlite3_column_text(s, 6));
	if (v < 0)
		return rp_error_set(err, RP_EDB, "%s: job %lld has an unknown state", st->path,
				    (long long)j->id);
	j->state = (enum store_job_state)v;
	j->deps_left = sqlite3_column_int(s, 7);
	j->attempt = sqlite3_column_int(s, 8);
	j->lease_expires_ms = sqlite3_column_int64(s, 10);
	j->fence = sqlite3_column_int64(s, 11);
	j->created_ms = sqlite3_column_int64(s, 12);
	j->started_ms = sqlite3_column_int64(s, 13);
	j->finished_ms = sqlite3_column_int64(s, 14);
	if (sqlite3_column_type(s, 17) != SQLITE_NULL) {
		v = store__parse_name(store__result_statuses,
				      sizeof(store__result_statuses) / sizeof(store__result_statuses[0]),
				      sqlite3_column_text(s, 17));
		if (v < 0)
			return rp_error_set(err, RP_EDB, "%s: job %lld has an unknown status", st->path,
					    (long long)j->id);
		j->has_status = 1;
		j->status = (enum store_result_status)v;
	}
	j->cached = sqlite3_column_int(s, 18);
	j->cancel_requested = sqlite3_column_int(s, 19);
	j->duration_ms = sqlite3_column_int64(s, 25);
	j->cause_id = sqlite3_column_int64(s, 26);
	j->build_ms = sqlite3_column_int64(s, 27);
	j->test_ms = sqlite3_column_int64(s, 28);
	j->rerun_of = sqlite3_column_int64(s, 29);
	if (sqlite3_column_type(s, 30) != SQLITE_NULL &&
	    !(j->failed_test = store__strdup(&j->mem_, (const char *)sqlite3_column_text(s, 30))))
		return store__nomem(st, err);
	const char *variant = (const char *)sqlite3_column_text(s, 31);
	j->variant = !variant ? "build" : strcmp(variant, "coverage") == 0 ? "coverage" : strcmp(variant, "fuzz") == 0 ? "fuzz" : "build";
	j->fuzz_crash = sqlite3_column_int64(s, 32);
	return 0;
}

/* Attaches the run's edges to its jobs; `jobs` is sorted by id. */
static int store__read_edges(struct store *st, int64_t run_id, struct store_job *jobs, size_t n,
			     struct rp_error *err)
{
	sqlite3_stmt *s = store__stmt(st, S_EDGES_GET, err);
	int64_t(*pairs)[2] = NULL;
	size_t npairs = 0, cap = 0;
	int rc, ret = 0;

	if (!s)
		return store__code(sqlite3_errcode(st->db));
	sqlite3_bind_int64(s, 1, run_id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (npairs == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			void *np = realloc(pairs, ncap * sizeof(*pairs));
			if (!np) {
				ret = store__nomem(st, err);
				goto out;
			}
			pairs = np;
			cap = ncap;
		}
		pairs[npairs][0] = sqlite3_column_int64(s, 0);
		pairs[npairs][1] = sqlite3_column_int64(s, 1);
		npairs++;
	}
	if (rc != SQLITE_DONE) {
		ret = store__dberr(st, err, rc, "cannot read job edges");
		goto out;
	}
	/* Rows come grouped by job and ascending by dependency: one slice per job. */
	for (size_t i = 0; i < npairs;) {
		size_t k = i;
		struct store_job *j = bsearch(&pairs[i][0], jobs, n, sizeof(*jobs), store__cmp_job_id);
		while (k < npairs && pairs[k][0] == pairs[i][0])
			k++;
		if (!j) {
			ret = rp_error_set(err, RP_EDB, "%s: job edge names job %lld outside run %lld",
					   st->path, (long long)pairs[i][0], (long long)run_id);
			goto out;
		}
		j->deps = store__alloc(&j->mem_, (k - i) * sizeof(*j->deps));
		if (!j->deps) {
			ret = store__nomem(st, err);
			goto out;
		}
		for (j->ndeps = 0; i < k; i++)
			j->deps[j->ndeps++] = pairs[i][1];
	}
out:
	store__done(s);
	free(pairs);
	return ret;
}

int store_jobs_list(struct store *st, int64_t run_id, struct store_job **jobs, size_t *njobs,
		    struct rp_error *err)
{
	struct store_job *list = NULL;
	sqlite3_stmt *s = NULL;
	int64_t count = 0;
	size_t n = 0;
	int rc, ret;

	*jobs = NULL;
	*njobs = 0;
	ret = store__begin_read(st, err);
	if (ret < 0)
		return ret;
	/* Distinguish "no such run" from "a run without jobs". */
	if (!(s = store__stmt(st, S_RUN_GET, err)))
		goto dberr;
	sqlite3_bind_int64(s, 1, run_id);
	rc = sqlite3_step(s);
	store__done(s);
	if (rc == SQLITE_DONE) {
		ret = rp_error_set(err, RP_ENOTFOUND, "%s: no run %lld", st->path, (long long)run_id);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		ret = store__dberr(st, err, rc, "cannot read run %lld", (long long)run_id);
		goto out;
	}

	if (!(s = store__stmt(st, S_JOB_COUNT, err)))
		goto dberr;
	sqlite3_bind_int64(s, 1, run_id);
	ret = store__query_int64(st, s, &count, err, "cannot count jobs");
	if (ret < 0 || count == 0)
		goto out;
	list = calloc((size_t)count, sizeof(*list));
	if (!list) {
		ret = store__nomem(st, err);
		goto out;
	}

	if (!(s = store__stmt(st, S_JOBS_GET, err)))
		goto dberr;
	sqlite3_bind_int64(s, 1, run_id);
	while (n < (size_t)count && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		ret = store__read_job(st, s, &list[n], err);
		n++;
		if (ret < 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
		ret = store__dberr(st, err, rc, "cannot read jobs");
	store__done(s);
	if (ret == 0)
		ret = store__read_edges(st, run_id, list, n, err);
	goto out;
dberr:
	ret = store__code(sqlite3_errcode(st->db));
out:
	ret = store__end(st, ret, err);
	if (ret < 0) {
		store_jobs_free(list, n);
		return ret;
	}
	*jobs = list;
	*njobs = n;
	return 0;
}

void store_jobs_free(struct store_job *jobs, size_t njobs)
{
	for (size_t i = 0; jobs && i < njobs; i++)
		store__mem_free(&jobs[i].mem_);
	free(jobs);
}

/* ---- logs ------------------------------------------------------------------------- */

static int store__check_log_args(struct store *st, int64_t job_id, int attempt, int64_t offset,
				 struct rp_error *err)
{
	if (job_id <= 0 || attempt < 0 || offset < 0)
		return rp_error_set(err, RP_EINVAL,
				    "%s: log of job %lld attempt %d: bad job, attempt or offset %lld",
				    st->path, (long long)job_id, attempt, (long long)offset);
	return 0;
}

/* The log's size; inside the caller's transaction. */
static int store__log_size(struct store *st, int64_t job_id, int attempt, int64_t *size, struct rp_error *err)
{
	sqlite3_stmt *s = store__stmt(st, S_LOG_SIZE, err);
	int rc, ret = 0;

	if (!s)
		return store__code(sqlite3_errcode(st->db));
	sqlite3_bind_int64(s, 1, job_id);
	sqlite3_bind_int(s, 2, attempt);
	rc = sqlite3_step(s);
	*size = 0;
	if (rc == SQLITE_ROW)
		*size = sqlite3_column_int64(s, 0);
	else if (rc != SQLITE_DONE)
		ret = store__dberr(st, err, rc, "cannot read the log size of job %lld", (long long)job_id);
	store__done(s);
	return ret;
}

/* Copies log bytes from `offset`; inside the caller's transaction. */
static int store__log_read(struct store *st, int64_t job_id, int attempt, int64_t offset, unsigned char *buf,
			   size_t cap, size_t *n, struct rp_error *err)
{
	sqlite3_stmt *s;
	int64_t start = offset, end;
	int rc, ret = 0;

	*n = 0;
	if (cap == 0)
		return 0;
	if (cap > (size_t)(INT64_MAX - offset))
		cap = (size_t)(INT64_MAX - offset);
	end = offset + (int64_t)cap;

	/* Chunks are keyed by their first byte: find the one holding `offset`. */
	if (!(s = store__stmt(st, S_LOG_START, err)))
		return store__code(sqlite3_errcode(st->db));
	sqlite3_bind_int64(s, 1, job_id);
	sqlite3_bind_int(s, 2, attempt);
	sqlite3_bind_int64(s, 3, offset);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		start = sqlite3_column_int64(s, 0);
	store__done(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store__dberr(st, err, rc, "cannot read the log of job %lld", (long long)job_id);

	if (!(s = store__stmt(st, S_LOG_RANGE, err)))
		return store__code(sqlite3_errcode(st->db));
	sqlite3_bind_int64(s, 1, job_id);
	sqlite3_bind_int(s, 2, attempt);
	sqlite3_bind_int64(s, 3, start);
	sqlite3_bind_int64(s, 4, end);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int64_t o = sqlite3_column_int64(s, 0);
		const unsigned char *data = sqlite3_column_blob(s, 1);
		int64_t len = sqlite3_column_bytes(s, 1);
		int64_t lo = o > offset ? o : offset;
		int64_t hi = o + len < end ? o + len : end;
		if (!data && len) {
			ret = store__nomem(st, err);
			goto out;
		}
		if (hi > lo) {
			memcpy(buf + (lo - offset), data + (lo - o), (size_t)(hi - lo));
			if ((size_t)(hi - offset) > *n)
				*n = (size_t)(hi - offset);
		}
	}
	if (rc != SQLITE_DONE)
		ret = store__dberr(st, err, rc, "cannot read the log of job %lld", (long long)job_id);
out:
	store__done(s);
	return ret;
}

int store_log_append(struct store *st, int64_t job_id, int attempt, int64_t offset, const void *data,
		     size_t len, int64_t *size, struct rp_error *err)
{
	unsigned char *old = NULL;
	sqlite3_stmt *s;
	int64_t cur = 0, end;
	int rc, ret;

	ret = store__check_log_args(st, job_id, attempt, offset, err);
	if (ret < 0)
		return ret;
	if (len && !data)
		return rp_error_set(err, RP_EINVAL, "%s: log chunk of job %lld has no data", st->path,
				    (long long)job_id);
	if (len > STORE_LOG_CHUNK_MAX)
		return rp_error_set(err, RP_ERANGE,
				    "%s: log chunk of job %lld is %zu bytes; at most %d are accepted",
				    st->path, (long long)job_id, len, STORE_LOG_CHUNK_MAX);
	if (offset > INT64_MAX - (int64_t)len)
		return rp_error_set(err, RP_ERANGE, "%s: log chunk of job %lld ends past the largest offset",
				    st->path, (long long)job_id);
	end = offset + (int64_t)len;

	ret = store__begin_write(st, err);
	if (ret < 0)
		return ret;
	if (!(s = store__stmt(st, S_JOB_EXISTS, err)))
		goto dberr;
	sqlite3_bind_int64(s, 1, job_id);
	rc = sqlite3_step(s);
	store__done(s);
	if (rc == SQLITE_DONE) {
		ret = rp_error_set(err, RP_ENOTFOUND, "%s: no job %lld", st->path, (long long)job_id);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		ret = store__dberr(st, err, rc, "cannot look up job %lld", (long long)job_id);
		goto out;
	}
	ret = store__log_size(st, job_id, attempt, &cur, err);
	if (ret < 0)
		goto out;
	if (offset > cur) {
		ret = rp_error_set(
		    err, RP_ERANGE,
		    "%s: log of job %lld attempt %d: chunk at byte %lld leaves a gap after byte %lld",
		    st->path, (long long)job_id, attempt, (long long)offset, (long long)cur);
		goto out;
	}
	/* A retried upload resends bytes we have: they must be the same bytes. */
	if (offset < cur) {
		size_t overlap = (size_t)((end < cur ? end : cur) - offset), got = 0;
		if (overlap && !(old = malloc(overlap))) {
			ret = store__nomem(st, err);
			goto out;
		}
		ret = store__log_read(st, job_id, attempt, offset, old, overlap, &got, err);
		if (ret < 0)
			goto out;
		if (got != overlap || memcmp(old, data, overlap) != 0) {
			ret = rp_error_set(err, RP_EEXISTS,
					   "%s: log of job %lld attempt %d: chunk at byte %lld differs from "
					   "the bytes stored",
					   st->path, (long long)job_id, attempt, (long long)offset);
			goto out;
		}
	}
	if (end > cur) {
		if (!(s = store__stmt(st, S_LOG_INSERT, err)))
			goto dberr;
		sqlite3_bind_int64(s, 1, job_id);
		sqlite3_bind_int(s, 2, attempt);
		sqlite3_bind_int64(s, 3, cur);
		sqlite3_bind_blob(s, 4, (const unsigned char *)data + (cur - offset), (int)(end - cur),
				  SQLITE_STATIC);
		ret = store__step_done(st, s, err, "cannot write log chunk");
		if (ret < 0)
			goto out;
		cur = end;
	}
	goto out;
dberr:
	ret = store__code(sqlite3_errcode(st->db));
out:
	ret = store__end(st, ret, err);
	if (ret == 0 && size)
		*size = cur;
	free(old);
	return ret;
}

int store_log_size(struct store *st, int64_t job_id, int attempt, int64_t *size, struct rp_error *err)
{
	int ret = store__check_log_args(st, job_id, attempt, 0, err);
	if (ret < 0)
		return ret;
	/* One statement is its own snapshot; no transaction needed. */
	return store__log_size(st, job_id, attempt, size, err);
}

int store_log_read(struct store *st, int64_t job_id, int attempt, int64_t offset, void *buf, size_t cap,
		   size_t *n, struct rp_error *err)
{
	int ret;

	*n = 0;
	ret = store__check_log_args(st, job_id, attempt, offset, err);
	if (ret < 0)
		return ret;
	ret = store__begin_read(st, err);
	if (ret < 0)
		return ret;
	ret = store__log_read(st, job_id, attempt, offset, buf, cap, n, err);
	ret = store__end(st, ret, err);
	if (ret < 0)
		*n = 0;
	return ret;
}

/* ---- artifacts ----------------------------------------------------------------------- */

int store_artifact_put(struct store *st, const struct store_artifact *a, struct rp_error *err)
{
	sqlite3_stmt *s;
	int rc, ret;

	if (!store__is_hex64(a->build_key) || !store__is_hex64(a->sha256))
		return rp_error_set(err, RP_EINVAL,
				    "%s: artifact: build key and sha256 must be %d lowercase hex digits",
				    st->path, STORE_HEX_LEN);
	if (!a->name || !*a->name || !a->location || !*a->location || a->size < 0)
		return rp_error_set(err, RP_EINVAL,
				    "%s: artifact of build %.12s: missing name or location, or bad size",
				    st->path, a->build_key);

	ret = store__begin_write(st, err);
	if (ret < 0)
		return ret;
	if (!(s = store__stmt(st, S_ARTIFACT_GET, err)))
		goto dberr;
	sqlite3_bind_text(s, 1, a->build_key, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, a->name, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		const char *sha = (const char *)sqlite3_column_text(s, 1);
		if (sqlite3_column_int64(s, 0) != a->size || !sha || strcmp(sha, a->sha256) != 0)
			ret = rp_error_set(
			    err, RP_EEXISTS,
			    "%s: artifact %s of build %.12s is already recorded with sha256 %.12s, "
			    "not %.12s",
			    st->path, a->name, a->build_key, sha ? sha : "?", a->sha256);
		store__done(s);
		goto out;
	}
	store__done(s);
	if (rc != SQLITE_DONE) {
		ret = store__dberr(st, err, rc, "cannot look up artifact %s", a->name);
		goto out;
	}
	if (!(s = store__stmt(st, S_ARTIFACT_INSERT, err)))
		goto dberr;
	sqlite3_bind_text(s, 1, a->build_key, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, a->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, a->size);
	sqlite3_bind_text(s, 4, a->sha256, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, a->location, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 6, a->created_ms ? a->created_ms : store__now_ms());
	ret = store__step_done(st, s, err, "cannot write artifact");
	goto out;
dberr:
	ret = store__code(sqlite3_errcode(st->db));
out:
	return store__end(st, ret, err);
}

int store_artifact_get(struct store *st, const char *build_key, const char *name, struct store_artifact *a,
		       struct rp_error *err)
{
	sqlite3_stmt *s;
	int rc, ret = 0;

	memset(a, 0, sizeof(*a));
	if (!build_key || !name)
		return rp_error_set(err, RP_EINVAL, "%s: artifact lookup needs a build key and a name",
				    st->path);
	if (!(s = store__stmt(st, S_ARTIFACT_GET, err)))
		return store__code(sqlite3_errcode(st->db));
	sqlite3_bind_text(s, 1, build_key, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		ret = rp_error_set(err, RP_ENOTFOUND, "%s: no artifact %s of build %.12s", st->path, name,
				   build_key);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		ret = store__dberr(st, err, rc, "cannot read artifact %s", name);
		goto out;
	}
	a->size = sqlite3_column_int64(s, 0);
	a->created_ms = sqlite3_column_int64(s, 3);
	if (!(a->build_key = store__strdup(&a->mem_, build_key)) ||
	    !(a->name = store__strdup(&a->mem_, name))) {
		ret = store__nomem(st, err);
		goto out;
	}
	ret = store__col_str(st, &a->mem_, s, 1, &a->sha256, err);
	if (ret == 0)
		ret = store__col_str(st, &a->mem_, s, 2, &a->location, err);
out:
	store__done(s);
	if (ret < 0)
		store_artifact_release(a);
	return ret;
}

void store_artifact_release(struct store_artifact *a)
{
	store__mem_free(&a->mem_);
	memset(a, 0, sizeof(*a));
}

/* ---- the build cache ------------------------------------------------------ */

void store__bind_opt(sqlite3_stmt *s, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, i);
}

int store_build_put(struct store *st, const struct store_build *b, struct rp_error *err)
{
	sqlite3_stmt *s;
	int ret;

	if (!b->build_key || !store__is_hex64(b->build_key) || !b->package || !b->target || !b->commit_id ||
	    !b->status)
		return rp_error_set(err, RP_EINVAL, "%s: build: key, package, target, commit and status are required",
				    st->path);
	if (b->output_hash && !store__is_hex64(b->output_hash))
		return rp_error_set(err, RP_EINVAL, "%s: build %.12s: output hash must be %d lowercase hex digits",
				    st->path, b->build_key, STORE_HEX_LEN);
	if (!(s = store__stmt(st, S_BUILD_INSERT, err)))
		return store__code(sqlite3_errcode(st->db));
	sqlite3_bind_text(s, 1, b->build_key, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, b->package, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, b->target, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, b->commit_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, b->status, -1, SQLITE_STATIC);
	store__bind_opt(s, 6, b->failed_step);
	store__bind_opt(s, 7, b->category);
	store__bind_opt(s, 8, b->first_error);
	store__bind_opt(s, 9, b->output_hash);
	sqlite3_bind_int64(s, 10, b->duration_ms);
	store__bind_opt(s, 11, b->log_location);
	sqlite3_bind_int64(s, 12, b->created_ms ? b->created_ms : store__now_ms());
	ret = store__step_done(st, s, err, "cannot record build");
	return ret;
}

int store_build_get(struct store *st, const char *build_key, struct store_build *b, struct rp_error *err)
{
	sqlite3_stmt *s;
	int rc, ret = 0;
	const char **cols[] = { &b->package, &b->target, &b->commit_id, &b->status, &b->failed_step,
				&b->category, &b->first_error, &b->output_hash };

	memset(b, 0, sizeof(*b));
	if (!build_key)
		return rp_error_set(err, RP_EINVAL, "%s: build lookup needs a key", st->path);
	if (!(s = store__stmt(st, S_BUILD_GET, err)))
		return store__code(sqlite3_errcode(st->db));
	sqlite3_bind_text(s, 1, build_key, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		ret = rp_error_set(err, RP_ENOTFOUND, "%s: no build %.12s", st->path, build_key);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		ret = store__dberr(st, err, rc, "cannot read build %.12s", build_key);
		goto out;
	}
	if (!(b->build_key = store__strdup(&b->mem_, build_key))) {
		ret = store__nomem(st, err);
		goto out;
	}
	for (int i = 0; i < 8 && ret == 0; i++) {
		if (sqlite3_column_type(s, i) == SQLITE_NULL)
			*cols[i] = NULL;
		else
			ret = store__col_str(st, &b->mem_, s, i, cols[i], err);
	}
	b->duration_ms = sqlite3_column_int64(s, 8);
	if (ret == 0 && sqlite3_column_type(s, 9) != SQLITE_NULL)
		ret = store__col_str(st, &b->mem_, s, 9, &b->log_location, err);
	b->created_ms = sqlite3_column_int64(s, 10);
out:
	store__done(s);
	if (ret < 0)
		store_build_release(b);
	return ret;
}

void store_build_release(struct store_build *b)
{
	store__mem_free(&b->mem_);
	memset(b, 0, sizeof(*b));
}

int store_build_last_duration(struct store *st, const char *package, const char *target, int64_t *duration_ms,
			      struct rp_error *err)
{
	sqlite3_stmt *s;
	int rc, ret = 0;
	if (!(s = store__stmt(st, S_BUILD_LAST_DURATION, err)))
		return store__code(sqlite3_errcode(st->db));
	sqlite3_bind_text(s, 1, package, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, target, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*duration_ms = sqlite3_column_int64(s, 0);
	else if (rc == SQLITE_DONE)
		ret = RP_ENOTFOUND;
	else
		ret = store__dberr(st, err, rc, "cannot read the build history of %s", package);
	store__done(s);
	return ret;
}
