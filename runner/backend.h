/*
 * backend.h — where a job's steps run: the runner backends behind one interface.
 *
 * Contract:
 * - A backend is opened once per target (and worker) with backend_open(),
 *   which picks the implementation from the target's runner and checks that it
 *   works (the sandbox runs bubblewrap once). It runs any number of jobs, one
 *   after another or at once, on the caller's libuv loop.
 * - A job is the unit a backend isolates: its workspace (the checked-out
 *   sources, writable), its install prefix (writable: the job's output) and its
 *   sysroot (the dependencies' prefixes, read-only), all host directories that
 *   exist before the job starts. The backend decides where the job sees them
 *   (backend_job_paths()): the process backend runs on the host paths, the
 *   sandbox at fixed paths (/ripple/src, /ripple/prefix, /ripple/sysroot) so
 *   that outputs do not depend on where the worker keeps its files, and a VM
 *   backend copies the workspace and sysroot in at prepare and the prefix out
 *   at finish. Nothing outside the backend ever assumes a step is a local
 *   process or that a host path is visible to it.
 * - prepare and finish are asynchronous (a VM boots and shuts down on the
 *   loop); their callbacks are never called from inside the call that started
 *   them, and an error return means the callback never fires.
 * - start_step() runs one step of a prepared job with step.h's semantics and
 *   callbacks (timeouts, cap, timestamped log, SIGTERM/SIGKILL of everything the
 *   step started). In the step_spec the caller gives: script, cwd (RELATIVE to
 *   the workspace; NULL for its top), env (the step's whole environment, with
 *   paths as backend_job_paths() gives them), timeouts, cap, grace, log_path
 *   and on_output. The backend owns argv, limits (from the job) and terminate,
 *   and sets RIPPLE_WORKSPACE, RIPPLE_PREFIX, RIPPLE_SYSROOT (when the job has a
 *   sysroot) and TMPDIR over whatever `env` says.
 * - Steps of one job may run at once. finish_job() is called once, after every
 *   step's done callback; it delivers the prefix to the host directory and
 *   frees the job, whatever its status.
 *
 * Calling sequence (on the loop's thread):
 *	struct backend *b;
 *	if (backend_open(target, &opts, &b, &err) < 0) ...err.msg...
 *	backend_prepare_job(b, loop, &job_spec, prepared, ctx, &err);
 *	prepared(job, 0, NULL, ctx):
 *		paths = backend_job_paths(job);	(build PKG_CONFIG_PATH etc. from them)
 *		backend_start_step(job, &step_spec, step_done, ctx, &step, &err);
 *	step_done(...): next step, or backend_finish_job(job, finished, ctx, &err);
 *	finished(NULL, status, err, ctx): the prefix is in place
 *	... backend_close(b) once no job is left.
 *
 * Adding a backend (xen): a file backend_NAME.c with a struct backend_ops
 * and an open function, and one case in backend_open(); callers do not change.
 * A backend with a guest (vm) runs the host-side steps (build) through
 * start_step and the job's test through start_guest_step.
 *
 * Design notes: docs/internals/steps.md.
 */
#ifndef RIPPLE_RUNNER_BACKEND_H
#define RIPPLE_RUNNER_BACKEND_H

#include <stdint.h>

#include <uv.h>

#include "core/error.h"
#include "core/manifest.h"
#include "step.h"

/* The fixed places a sandboxed job sees its directories at. */
#define BACKEND_SANDBOX_WORKSPACE "/ripple/src"
#define BACKEND_SANDBOX_PREFIX "/ripple/prefix"
#define BACKEND_SANDBOX_SYSROOT "/ripple/sysroot"

/* Worker-level settings of a backend (not from the manifest). */
struct backend_options {
	const char *bwrap;	   /* sandbox: the bubblewrap program; NULL: "bwrap" found in PATH */
	uint64_t probe_timeout_ms; /* how long backend_open() may take to check it works; 0: 10 s */
};

struct backend_job_spec {
	const char *workspace;	   /* host directory: the job's sources; writable; must exist */
	const char *prefix;	   /* host directory: the install prefix; writable; must exist. For the
				      process backend it is also the in-job path, so the caller keeps it
				      stable per package */
	const char *sysroot;	   /* host directory: the dependencies' prefixes, read-only; NULL: none */
	const char *tmp;	   /* host directory for TMPDIR of the process backend; NULL: inherited
				      from the step's env. Sandboxes have a private /tmp instead */
	struct step_limits limits; /* rlimits of every step of the job; 0 fields: no limit set */
};

/* Where a job sees its directories; NULL members when the job has none. */
struct backend_paths {
	const char *workspace;
	const char *prefix;
	const char *sysroot;
	const char *tmp;
};

struct backend;

/* A prepared job; backends embed it as the first member of their own struct. */
struct backend_job {
	struct backend *backend;
	struct backend_paths paths;
};

/*
 * `job` is the prepared job (prepare) or NULL (finish: it is freed); `status`
 * is 0 or a negative RP_E* code, then `err` says why (valid during the call).
 */
typedef void (*backend_job_cb)(struct backend_job *job, int status, const struct rp_error *err, void *data);

/*
 * What a step in a job's guest runs with (backends that boot one: vm, xen):
 * the files of the source tree it gets (glob patterns relative to the
 * workspace; the shared libraries ELF files need come along), and the
 * directories of the workspace it brings back: whatever the guest left in
 * them is copied into the host's workspace once the step ran (regular files
 * and directories only), before its done callback. Each is relative, of
 * [A-Za-z0-9._/-] and without a "." or ".." component; none: nothing comes
 * back.
 */
struct backend_guest {
	const char *const *payload;
	size_t n_payload;
	const char *const *outputs;
	size_t n_outputs;
};

struct backend_ops {
	const char *name; /* "process", "sandbox", ... as manifest_runner_name() */
	int (*prepare_job)(struct backend *b, uv_loop_t *loop, const struct backend_job_spec *spec,
			   backend_job_cb cb, void *data, struct rp_error *err);
	int (*start_step)(struct backend_job *job, const struct step_spec *spec, step_done_cb done,
			  void *data, struct step **out, struct rp_error *err);
	int (*finish_job)(struct backend_job *job, backend_job_cb cb, void *data, struct rp_error *err);
	void (*close)(struct backend *b);
	/* NULL for backends without a guest. */
	int (*start_guest_step)(struct backend_job *job, const struct step_spec *spec,
				const struct backend_guest *guest, step_done_cb done, void *data, struct step **out,
				struct rp_error *err);
};

/* An open backend; implementations embed it as the first member of their own struct. */
struct backend {
	const struct backend_ops *ops;
	enum rp_runner runner;
};

/*
 * Opens the backend of `target` (its runner; its `options` object is the
 * backend's to read). `opts` may be NULL. On success the caller owns *out and
 * releases it with backend_close(). Errors: RP_EINVAL (a runner with no backend
 * on this host yet: vm, xen), RP_ENOTFOUND (bubblewrap missing), RP_EIO
 * (bubblewrap present but not working: the message quotes its complaint),
 * RP_ENOMEM.
 */
int backend_open(const struct rp_target *target, const struct backend_options *opts, struct backend **out,
		 struct rp_error *err);

/*
 * Prepares a job on `loop`: checks its directories and makes what the backend
 * needs; `cb` receives the job. Errors returned directly: RP_EINVAL (a missing
 * or relative directory), RP_ENOMEM.
 */
static inline int backend_prepare_job(struct backend *b, uv_loop_t *loop, const struct backend_job_spec *spec,
				      backend_job_cb cb, void *data, struct rp_error *err)
{
	return b->ops->prepare_job(b, loop, spec, cb, data, err);
}

static inline const struct backend_paths *backend_job_paths(const struct backend_job *job)
{
	return &job->paths;
}

/* Starts one step of `job` (see the contract); as step_start(), plus RP_EINVAL for a cwd outside the
 * workspace. */
static inline int backend_start_step(struct backend_job *job, const struct step_spec *spec, step_done_cb done,
				     void *data, struct step **out, struct rp_error *err)
{
	return job->backend->ops->start_step(job, spec, done, data, out, err);
}

/* Whether `b` boots a guest for some steps (vm, xen): then the job's test runs there. */
static inline int backend_has_guest(const struct backend *b)
{
	return b->ops->start_guest_step != NULL;
}

/*
 * Starts one step of `job` in a fresh guest that holds `guest`'s payload at
 * the job's paths (backend_job_paths()) and runs spec->script there in the
 * workspace (spec->cwd relative to it), with spec->env and the backend's
 * RIPPLE_* variables. The step's log is the guest's console; its exit status
 * is the script's as the guest reported it. A guest that ends without
 * reporting (a kernel panic, QEMU failing) ends the step with
 * step_result.error set: the machine's failure, not the code's. A payload that
 * cannot be made (a pattern matching nothing, a library found nowhere) is the
 * package's: the step fails with that one line as its log. Outputs that
 * cannot be read back end the step with step_result.error. Errors as
 * backend_start_step(), and RP_EINVAL for a backend without a guest or an
 * output it cannot bring back (xen brings none).
 */
static inline int backend_start_guest_step(struct backend_job *job, const struct step_spec *spec,
					   const struct backend_guest *guest, step_done_cb done, void *data,
					   struct step **out, struct rp_error *err)
{
	if (!job->backend->ops->start_guest_step)
		return rp_error_set(err, RP_EINVAL, "the %s backend runs no guest", job->backend->ops->name);
	return job->backend->ops->start_guest_step(job, spec, guest, done, data, out, err);
}

/* Ends `job` once its steps are done; `cb` gets NULL and the status of delivering the prefix. */
static inline int backend_finish_job(struct backend_job *job, backend_job_cb cb, void *data,
				     struct rp_error *err)
{
	return job->backend->ops->finish_job(job, cb, data, err);
}

/* Closes `b` (NULL allowed); every job must have finished. */
static inline void backend_close(struct backend *b)
{
	if (b)
		b->ops->close(b);
}

#endif
