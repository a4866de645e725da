/*
 * runner-internal.h — what the files of runner/ share and nothing else uses:
 * the /proc scan that step.c and the sandbox use to find a step's processes,
 * and the constructors of the backends that backend_open() dispatches to.
 */
#ifndef RIPPLE_RUNNER_INTERNAL_H
#define RIPPLE_RUNNER_INTERNAL_H

#include <sys/types.h>

#include <uv.h>

#include "backend.h"
#include "core/error.h"

/* One line of /proc/PID/stat, the fields the runner needs. */
struct step__proc {
	pid_t pid;
	char state; /* 'R', 'S', 'D', 'Z' (zombie), ... */
	pid_t ppid;
	pid_t pgrp;
	pid_t session;
};

/*
 * Calls `fn` for every process in /proc (those that vanish meanwhile are
 * skipped) until it returns non-zero; returns that value, 0 when the scan ran
 * to its end, or -errno when /proc cannot be read.
 */
int step__proc_scan(int (*fn)(const struct step__proc *p, void *data), void *data);

/* Whether a process of group `pgid` runs (zombies do not count). */
int step__group_alive(pid_t pgid);

/*
 * A job of a backend that runs its steps as local processes (process,
 * sandbox): backend_process.c implements it, the sandbox adds its binds.
 */
struct backend__local_job {
	struct backend_job base; /* base.paths point into in_* below */
	uv_loop_t *loop;
	uv_timer_t defer; /* calls the prepare and finish callbacks on a later loop turn */
	backend_job_cb cb;
	void *cb_data;
	int finishing;
	struct step_limits limits;
	char *workspace, *prefix, *sysroot;		      /* host paths */
	char *in_workspace, *in_prefix, *in_sysroot, *in_tmp; /* what the steps see */
	char *env_set[5]; /* "NAME=VALUE" the backend puts over every step's env; NULL-terminated */
	char **wrap_argv; /* sandbox: bwrap and its arguments, up to the command; NULL: run directly */
	int (*terminate)(pid_t leader); /* the step_spec hook of the job's steps */
};

/*
 * Checks `spec`'s directories, allocates a job with the given in-job paths
 * (NULL: the host paths) and arms its deferred `cb`. The caller may still
 * change the job before returning to the loop.
 */
int backend__local_prepare(struct backend *b, uv_loop_t *loop, const struct backend_job_spec *spec,
			   const struct backend_paths *in_job, backend_job_cb cb, void *data,
			   struct backend__local_job **out, struct rp_error *err);

/* Frees a job whose prepare callback has not run yet; the callback never fires. */
void backend__local_abort(struct backend__local_job *job);

/*
 * The environment of one step: `env` without the names the backend sets, then
 * job->env_set. The array is the caller's to free(); its strings are borrowed.
 */
int backend__local_env(const struct backend__local_job *job, const char *const *env, char ***out,
		       struct rp_error *err);

/* `rel` (NULL, or relative without "..") under `base`; the caller frees *out. RP_EINVAL, RP_ENOMEM. */
int backend__local_cwd(const char *base, const char *rel, char **out, struct rp_error *err);

/*
 * Runs a step of a local job: the script under the job's limits, through
 * wrap_argv (then "--chdir CWD" is added) or directly in CWD on the host.
 */
int backend__local_start_step(struct backend_job *job, const struct step_spec *spec, step_done_cb done,
			      void *data, struct step **out, struct rp_error *err);

int backend__local_finish(struct backend_job *job, backend_job_cb cb, void *data, struct rp_error *err);

int backend__process_open(const struct rp_target *target, const struct backend_options *opts,
			  struct backend **out, struct rp_error *err);
int backend__sandbox_open(const struct rp_target *target, const struct backend_options *opts,
			  struct backend **out, struct rp_error *err);

#endif
