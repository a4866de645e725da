/*
 * worker.h — `ripple worker`: leases jobs from a scheduler over HTTP
 * (docs/api.md), runs each against its dependencies' builds, and reports.
 *
 * Contract:
 * - worker_run() fetches the scheduler's universe, registers, and runs
 *   `slots` slot threads until *stop becomes non-zero (set it from a signal
 *   handler; the worker polls it). Each slot has its own build session on the
 *   shared cache directory and its own HTTP client; it long-polls for a job,
 *   makes the job's dependencies known to the local build cache (downloading
 *   their archived prefixes by build key), builds that one job with
 *   build_run(), streams the job's log as it grows, uploads the output and
 *   posts the result. One heartbeat thread renews every running job's lease.
 * - Every call to the scheduler is retried with backoff and jitter while it
 *   is unreachable or answers 5xx; running jobs go on meanwhile. A 409 (stale
 *   lease) ends the job's reporting silently; other 4xx are reported as lines.
 * - On *stop: no new lease; running jobs are cancelled and their `cancelled`
 *   results posted (for up to WORKER_STOP_GRACE_MS), then worker_run()
 *   returns 0.
 * - Nothing here prints: `on_line` gets one line per finished job
 *   (WORKER_LINE_JOB, for stdout: "job 17 dns/unix: pass (3.2 s)") and
 *   lines for the operator (INFO and ERROR, for stderr). It is called from
 *   the worker's threads, never two calls at once.
 * - The token is never logged nor put in a message.
 *
 * Returns 0 once stopped, or a negative RP_E* code with `err` filled:
 * RP_EINVAL for invalid options or a token or registration the scheduler
 * refuses (401, 403, 4xx at register), RP_EIO for a scheduler whose universe
 * cannot be loaded or a cache that cannot be opened, RP_ENOMEM.
 *
 * Design notes: docs/internals/worker.md.
 */
#ifndef RIPPLE_RUNNER_WORKER_H
#define RIPPLE_RUNNER_WORKER_H

#include <signal.h>
#include <stddef.h>

#include "core/error.h"

#define WORKER_SLOTS_MAX 64
#define WORKER_NAME_MAX 64
/* How long a stopping worker may take to post the results of the jobs it cancels. */
#define WORKER_STOP_GRACE_MS 30000

enum worker_line_kind {
	WORKER_LINE_JOB,   /* a job ended: one line, for stdout */
	WORKER_LINE_INFO,  /* started, registered, a job cancelled by the scheduler: for stderr */
	WORKER_LINE_ERROR, /* something went wrong and the worker carries on: for stderr */
};

struct worker_options {
	const char *server;	    /* the scheduler's base URL: "http://127.0.0.1:8080" */
	const char *token;	    /* the worker token */
	const char *name;	    /* 1..WORKER_NAME_MAX of [A-Za-z0-9._-] */
	unsigned slots;		    /* jobs at once: 1..WORKER_SLOTS_MAX */
	/*
	 * The targets served; they must be in the scheduler's universe and their
	 * backends must open on this machine (a worker that cannot run what it
	 * was asked to fails at start, not job after job). With all_targets set,
	 * every target of the universe whose backend opens here is served (the
	 * others are named in one INFO line each) and `targets` is ignored.
	 */
	const char *const *targets;
	size_t n_targets;
	int all_targets;
	const char *cache_dir; /* mirrors, artifacts, logs, the build cache; created when missing */
	void (*on_line)(enum worker_line_kind kind, const char *line, void *data);
	void *data;
};

/* Whether `name` is a valid worker name. */
int worker_valid_name(const char *name);

int worker_run(const struct worker_options *o, volatile sig_atomic_t *stop, struct rp_error *err);

#endif
