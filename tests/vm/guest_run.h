/*
 * guest_run.h — one job of a guest backend (vm, xen) driven on a loop of its
 * own, for the backend tests: prepare it, run one guest step, finish it, and
 * read the step's log back.
 */
#ifndef RIPPLE_TESTS_GUEST_RUN_H
#define RIPPLE_TESTS_GUEST_RUN_H

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <uv.h>

#include "runner/backend.h"

struct guest_run {
	uv_loop_t loop;
	struct backend *b;
	struct backend_job *job;
	struct step_result res;
	int prepared, stepped, finished;
	char log[PATH_MAX + 32];
};

static inline void guest_run_on_prepared(struct backend_job *job, int status, const struct rp_error *err, void *data)
{
	struct guest_run *r = data;
	ck_assert_msg(status == 0, "prepare: %s", err ? err->msg : "");
	r->job = job;
	r->prepared = 1;
}

static inline void guest_run_on_step(struct step *s, const struct step_result *res, void *data)
{
	struct guest_run *r = data;
	(void)s;
	r->res = *res;
	r->stepped = 1;
}

static inline void guest_run_on_finished(struct backend_job *job, int status, const struct rp_error *err, void *data)
{
	struct guest_run *r = data;
	ck_assert_ptr_null(job);
	ck_assert_msg(status == 0, "finish: %s", err ? err->msg : "");
	r->finished = 1;
}

/* Prepares a job of `b` on a new loop; r->job is it. */
static inline void guest_run_prepare(struct guest_run *r, struct backend *b, const struct backend_job_spec *spec)
{
	memset(r, 0, sizeof(*r));
	ck_assert_int_eq(uv_loop_init(&r->loop), 0);
	r->b = b;
	struct rp_error err = {.msg = ""};
	ck_assert_msg(backend_prepare_job(b, &r->loop, spec, guest_run_on_prepared, r, &err) == 0, "%s", err.msg);
	while (!r->prepared)
		uv_run(&r->loop, UV_RUN_ONCE);
}

/* Ends the prepared job and closes its loop. */
static inline void guest_run_finish(struct guest_run *r)
{
	struct rp_error err = {.msg = ""};
	ck_assert_int_eq(backend_finish_job(r->job, guest_run_on_finished, r, &err), 0);
	while (!r->finished)
		uv_run(&r->loop, UV_RUN_ONCE);
	ck_assert_int_eq(uv_loop_close(&r->loop), 0);
}

/* Runs one guest step of the prepared job (r->res its result), then finishes the job. */
static inline void guest_run_step(struct guest_run *r, const struct step_spec *spec, const struct backend_guest *guest)
{
	struct step *s;
	struct rp_error err = {.msg = ""};
	int rc = backend_start_guest_step(r->job, spec, guest, guest_run_on_step, r, &s, &err);
	ck_assert_msg(rc == 0, "start_guest_step: %s", err.msg);
	while (!r->stepped)
		uv_run(&r->loop, UV_RUN_ONCE);
	guest_run_finish(r);
}

/* A file's text (up to 1 MiB), in a buffer the next call reuses. */
static inline char *guest_run_slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	static char buf[1 << 20];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

#endif
