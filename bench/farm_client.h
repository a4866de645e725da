/*
 * farm_client.h — what the farm benchmarks (bench-dispatch, bench-hooks)
 * share: a monotonic clock, percentiles, reaping child processes, a fresh git
 * repository, and the worker side of the scheduler's protocol over libcurl
 * (register, long-poll lease, a pass result), as `ripple worker` speaks it.
 *
 * Contract: messages go to stderr prefixed with `bench_self`, which each
 * program sets to its name before anything else. Nothing here exits.
 */
#ifndef RIPPLE_BENCH_FARM_CLIENT_H
#define RIPPLE_BENCH_FARM_CLIENT_H

#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

#include <git2.h>
#include <jansson.h>

#include "core/http_client.h"

extern const char *bench_self;

/* SHA-256 of no bytes: the output hash of a build that installs nothing. */
#define EMPTY_HASH "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/*
 * Set by bench_on_parent_signal (SIGINT, SIGTERM of the benchmark itself: clean
 * up and stop) and bench_on_child_term (SIGTERM of a load process: leave its
 * long-poll and exit).
 */
extern volatile sig_atomic_t bench_interrupted, bench_child_stop;
void bench_on_parent_signal(int sig);
void bench_on_child_term(int sig);

double bench_now_s(void);
void bench_sleep_ms(long ms);
/* Waits for `pid` up to `ms`; SIGKILL after that. Returns the wait status, or -1. */
int bench_reap(pid_t pid, long ms);
/* A new repository at `dir` whose HEAD is refs/heads/main; *out is the caller's. */
int bench_repo_init(const char *dir, git_repository **out);
/* The first line of `path` without its newline; -1 when it is missing or empty. */
int bench_read_line(const char *path, char *buf, size_t cap);
/* Percentiles of `v`, sorted ascending with bench_cmp_double (qsort). */
int bench_cmp_double(const void *a, const void *b);
double bench_pct(const double *v, size_t n, double p);
const char *bench_verdict(int ok);
/* The user + system CPU seconds of a live process (/proc), or -1. */
double bench_proc_cpu_s(pid_t pid);

/* A client of the scheduler at `url` with a bearer `token`; NULL (said on stderr) on failure. */
struct http_client *bench_client(const char *url, const char *token);
/* POSTs `body` (consumed) to `path`; the status, or a negative code; *answer (may be NULL) the JSON answer. */
int bench_post(struct http_client *c, const char *path, json_t *body, json_t **answer,
	       const volatile sig_atomic_t *abort_flag, struct rp_error *err);
int bench_register_worker(struct http_client *c, const char *name);
/* Leases one job (long-poll of wait_ms): 200 with *id, *run, *fence, *key (owned by *doc), 204, or an error. */
int bench_lease(struct http_client *c, const char *name, int wait_ms, const volatile sig_atomic_t *abort_flag,
		json_t **doc, json_int_t *id, json_int_t *run, json_int_t *fence, const char **key);
/* Posts a pass of job `id` under `fence` with the empty output; the status. */
int bench_answer_pass(struct http_client *c, const char *name, json_int_t id, json_int_t fence, const char *key);

#endif
