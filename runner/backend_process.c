/*
 * backend_process.c — the `process` backend: a job's steps as plain child
 * processes on the host, in the job's workspace, for trusted code.
 *
 * It also holds what every backend that runs local processes shares (the
 * sandbox builds on it: a sandboxed step is a local bwrap process), and
 * backend_open(), which picks the backend of a target.
 */
#include "backend.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runner-internal.h"
#include "core/banned.h"

int backend_open(const struct rp_target *target, const struct backend_options *opts, struct backend **out,
		 struct rp_error *err)
{
	*out = NULL;
	switch (target->runner) {
	case RP_RUNNER_PROCESS:
		return backend__process_open(target, opts, out, err);
	case RP_RUNNER_SANDBOX:
		return backend__sandbox_open(target, opts, out, err);
	case RP_RUNNER_VM:
		return backend__vm_open(target, opts, out, err);
	case RP_RUNNER_XEN:
		return backend__xen_open(target, opts, out, err);
	}
	return rp_error_set(err, RP_EINVAL, "target \"%s\": the %s runner is not available on this worker",
			    target->name, manifest_runner_name(target->runner));
}

/* ---- local jobs ---- */

/* What a local backend sets over every step's environment, in the order of struct backend_paths. */
#define BACKEND__N_SET 4
static const char *const backend__set_names[BACKEND__N_SET] = {
    "RIPPLE_WORKSPACE=", "RIPPLE_PREFIX=", "RIPPLE_SYSROOT=", "TMPDIR="};

static char *backend__concat(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s = malloc(la + lb + 1);
	if (s) {
		memcpy(s, a, la);
		memcpy(s + la, b, lb + 1);
	}
	return s;
}

static int backend__check_dir(const char *what, const char *path, struct rp_error *err)
{
	struct stat st;
	if (!path || path[0] != '/')
		return rp_error_set(err, RP_EINVAL, "job %s \"%s\": an absolute directory is needed", what,
				    path ? path : "(none)");
	if (stat(path, &st) < 0)
		return rp_error_set(err, RP_EINVAL, "job %s \"%s\": %s", what, path, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return rp_error_set(err, RP_EINVAL, "job %s \"%s\": not a directory", what, path);
	return 0;
}

static void backend__local_free(struct backend__local_job *job)
{
	free(job->workspace);
	free(job->prefix);
	free(job->sysroot);
	free(job->in_workspace);
	free(job->in_prefix);
	free(job->in_sysroot);
	free(job->in_tmp);
	for (int i = 0; job->env_set[i]; i++)
		free(job->env_set[i]);
	step_argv_free(job->wrap_argv);
	free(job);
}

static void backend__local_closed(uv_handle_t *h)
{
	struct backend__local_job *job = h->data;
	backend_job_cb cb = job->cb;
	void *data = job->cb_data;
	backend__local_free(job);
	if (cb)
		cb(NULL, 0, NULL, data);
}

void backend__local_abort(struct backend__local_job *job)
{
	job->finishing = 1;
	job->cb = NULL;
	uv_timer_stop(&job->defer);
	uv_close((uv_handle_t *)&job->defer, backend__local_closed);
}

static void backend__local_deferred(uv_timer_t *t)
{
	struct backend__local_job *job = t->data;
	if (job->finishing)
		uv_close((uv_handle_t *)&job->defer, backend__local_closed);
	else
		job->cb(&job->base, 0, NULL, job->cb_data);
}

static int backend__dup(char **dst, const char *src)
{
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : -1;
}

int backend__local_prepare(struct backend *b, uv_loop_t *loop, const struct backend_job_spec *spec,
			   const struct backend_paths *in_job, backend_job_cb cb, void *data,
			   struct backend__local_job **out, struct rp_error *err)
{
	struct backend__local_job *job = NULL;
	const char *values[BACKEND__N_SET];
	int n = 0, ret;

	*out = NULL;
	if (!loop || !cb)
		return rp_error_set(err, RP_EINVAL, "job: a loop and a callback are needed");
	if ((ret = backend__check_dir("workspace", spec->workspace, err)) < 0 ||
	    (ret = backend__check_dir("prefix", spec->prefix, err)) < 0 ||
	    (spec->sysroot && (ret = backend__check_dir("sysroot", spec->sysroot, err)) < 0) ||
	    (spec->tmp && (ret = backend__check_dir("tmp", spec->tmp, err)) < 0))
		return ret;
	job = calloc(1, sizeof(*job));
	if (!job)
		return rp_error_set(err, RP_ENOMEM, "job: out of memory");
	job->base.backend = b;
	job->loop = loop;
	job->cb = cb;
	job->cb_data = data;
	job->limits = spec->limits;
	if (backend__dup(&job->workspace, spec->workspace) < 0 ||
	    backend__dup(&job->prefix, spec->prefix) < 0 || backend__dup(&job->sysroot, spec->sysroot) < 0 ||
	    backend__dup(&job->in_workspace, in_job ? in_job->workspace : spec->workspace) < 0 ||
	    backend__dup(&job->in_prefix, in_job ? in_job->prefix : spec->prefix) < 0 ||
	    (spec->sysroot && backend__dup(&job->in_sysroot, in_job ? in_job->sysroot : spec->sysroot) < 0) ||
	    backend__dup(&job->in_tmp, in_job ? in_job->tmp : spec->tmp) < 0)
		goto nomem;
	job->base.paths.workspace = job->in_workspace;
	job->base.paths.prefix = job->in_prefix;
	job->base.paths.sysroot = job->in_sysroot;
	job->base.paths.tmp = job->in_tmp;
	values[0] = job->in_workspace;
	values[1] = job->in_prefix;
	values[2] = job->in_sysroot;
	values[3] = job->in_tmp;
	for (int i = 0; i < BACKEND__N_SET; i++) {
		if (!values[i])
			continue;
		job->env_set[n] = backend__concat(backend__set_names[i], values[i]);
		if (!job->env_set[n++])
			goto nomem;
	}
	uv_timer_init(loop, &job->defer);
	job->defer.data = job;
	uv_timer_start(&job->defer, backend__local_deferred, 0, 0);
	*out = job;
	return 0;
nomem:
	backend__local_free(job);
	return rp_error_set(err, RP_ENOMEM, "job: out of memory");
}

/* Whether "NAME=..." `entry` sets a name the backend owns. */
static int backend__owned_name(const char *entry)
{
	for (int i = 0; i < BACKEND__N_SET; i++)
		if (!strncmp(entry, backend__set_names[i], strlen(backend__set_names[i])))
			return 1;
	return 0;
}

int backend__local_env(const struct backend__local_job *job, const char *const *env, char ***out,
		       struct rp_error *err)
{
	size_t n = 0, k = 0;
	char **merged;
	*out = NULL;
	while (env && env[n])
		n++;
	merged = calloc(n + sizeof(job->env_set) / sizeof(job->env_set[0]) + 1, sizeof(*merged));
	if (!merged)
		return rp_error_set(err, RP_ENOMEM, "step: out of memory");
	for (size_t i = 0; i < n; i++) {
		/* The backend owns these; TMPDIR stays the caller's when the job sets none. */
		if (backend__owned_name(env[i]) && (strncmp(env[i], "TMPDIR=", 7) || job->in_tmp))
			continue;
		merged[k++] = (char *)env[i];
	}
	for (size_t i = 0; job->env_set[i]; i++)
		merged[k++] = job->env_set[i];
	*out = merged;
	return 0;
}

int backend__local_cwd(const char *base, const char *rel, char **out, struct rp_error *err)
{
	const char *p;
	size_t lb, lr;
	*out = NULL;
	if (rel && rel[0] == '/')
		return rp_error_set(err, RP_EINVAL, "step cwd \"%s\": must be relative to the workspace",
				    rel);
	for (p = rel; p && *p;) {
		size_t len = strcspn(p, "/");
		if (len == 2 && p[0] == '.' && p[1] == '.')
			return rp_error_set(err, RP_EINVAL, "step cwd \"%s\": must stay inside the workspace",
					    rel);
		p += len;
		p += *p == '/';
	}
	lb = strlen(base);
	lr = rel ? strlen(rel) : 0;
	*out = malloc(lb + lr + 2);
	if (!*out)
		return rp_error_set(err, RP_ENOMEM, "step: out of memory");
	memcpy(*out, base, lb);
	if (lr) {
		(*out)[lb] = '/';
		memcpy(*out + lb + 1, rel, lr);
	}
	(*out)[lb + (lr ? lr + 1 : 0)] = '\0';
	return 0;
}

int backend__local_start_step(struct backend_job *base, const struct step_spec *spec, step_done_cb done,
			      void *data, struct step **out, struct rp_error *err)
{
	struct backend__local_job *job = (struct backend__local_job *)base;
	struct step_spec s = *spec;
	char **env = NULL, **shell = NULL, *cwd = NULL;
	const char **argv = NULL;
	int ret;

	*out = NULL;
	if (job->finishing || !spec->script) {
		ret = rp_error_set(err, RP_EINVAL, "step: %s",
				   job->finishing ? "the job is finishing" : "no script");
		goto out;
	}
	ret = backend__local_cwd(job->in_workspace, spec->cwd, &cwd, err);
	if (ret < 0)
		goto out;
	ret = backend__local_env(job, spec->env, &env, err);
	if (ret < 0)
		goto out;
	s.env = (const char *const *)env;
	s.terminate = job->terminate;
	if (job->wrap_argv) {
		size_t nw = 0, ns = 0, k = 0;
		ret = step_shell_argv(spec->script, &job->limits, &shell, err);
		if (ret < 0)
			goto out;
		while (job->wrap_argv[nw])
			nw++;
		while (shell[ns])
			ns++;
		argv = calloc(nw + ns + 3, sizeof(*argv));
		if (!argv) {
			ret = rp_error_set(err, RP_ENOMEM, "step: out of memory");
			goto out;
		}
		for (size_t i = 0; i < nw; i++)
			argv[k++] = job->wrap_argv[i];
		argv[k++] = "--chdir";
		argv[k++] = cwd;
		for (size_t i = 0; i < ns; i++)
			argv[k++] = shell[i];
		s.argv = argv;
		s.cwd = NULL;
	} else {
		s.argv = NULL;
		s.limits = job->limits;
		s.cwd = cwd;
	}
	ret = step_start(job->loop, &s, done, data, out, err);
out:
	free(argv);
	step_argv_free(shell);
	free(env);
	free(cwd);
	return ret;
}

int backend__local_finish(struct backend_job *base, backend_job_cb cb, void *data, struct rp_error *err)
{
	struct backend__local_job *job = (struct backend__local_job *)base;
	if (job->finishing || !cb)
		return rp_error_set(err, RP_EINVAL, "job: %s",
				    job->finishing ? "finished twice" : "no callback");
	/* The prefix was written in place: nothing to deliver. */
	job->finishing = 1;
	job->cb = cb;
	job->cb_data = data;
	uv_timer_start(&job->defer, backend__local_deferred, 0, 0);
	return 0;
}

/* ---- the process backend ---- */

static int process_prepare_job(struct backend *b, uv_loop_t *loop, const struct backend_job_spec *spec,
			       backend_job_cb cb, void *data, struct rp_error *err)
{
	struct backend__local_job *job;
	return backend__local_prepare(b, loop, spec, NULL, cb, data, &job, err);
}

static void process_close(struct backend *b)
{
	free(b);
}

static const struct backend_ops process_ops = {
    .name = "process",
    .prepare_job = process_prepare_job,
    .start_step = backend__local_start_step,
    .finish_job = backend__local_finish,
    .close = process_close,
};

int backend__process_open(const struct rp_target *target, const struct backend_options *opts,
			  struct backend **out, struct rp_error *err)
{
	struct backend *b = calloc(1, sizeof(*b));
	if (!b)
		return rp_error_set(err, RP_ENOMEM, "backend: out of memory");
	b->ops = &process_ops;
	b->runner = RP_RUNNER_PROCESS;
	*out = b;
	return 0;
}
