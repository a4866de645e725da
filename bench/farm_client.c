/* farm_client.c — see farm_client.h. */
#include "farm_client.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/banned.h"

const char *bench_self = "bench";
volatile sig_atomic_t bench_interrupted, bench_child_stop;

void bench_on_parent_signal(int sig)
{
	(void)sig;
	bench_interrupted = 1;
}

void bench_on_child_term(int sig)
{
	(void)sig;
	bench_child_stop = 1;
}

double bench_now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void bench_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Waits for `pid` up to `ms`; SIGKILL after that. Returns the wait status, or -1. */
int bench_reap(pid_t pid, long ms)
{
	int status;
	for (long waited = 0; waited < ms; waited += 20) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return status;
		if (r < 0)
			return -1;
		bench_sleep_ms(20);
	}
	kill(pid, SIGKILL);
	return waitpid(pid, &status, 0) == pid ? status : -1;
}

int bench_repo_init(const char *dir, git_repository **out)
{
	*out = NULL;
	if (mkdir(dir, 0755) < 0 || git_repository_init(out, dir, 0) < 0)
		return -1;
	return git_repository_set_head(*out, "refs/heads/main");
}

int bench_read_line(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	int ok = fgets(buf, (int)cap, f) != NULL;
	fclose(f);
	if (!ok)
		return -1;
	buf[strcspn(buf, "\r\n")] = '\0';
	return buf[0] ? 0 : -1;
}

struct http_client *bench_client(const char *url, const char *token)
{
	struct http_client *c = NULL;
	struct rp_error err;
	struct http_client_options o = { .base_url = url, .token = token, .timeout_ms = 120000,
					 .idle_timeout_ms = 120000, .user_agent = bench_self };
	if (http_client_new(&o, &c, &err) < 0) {
		fprintf(stderr, "%s: %s\n", bench_self, err.msg);
		return NULL;
	}
	return c;
}

/* POSTs `body` (consumed) to `path`; the status, or a negative code; *answer (may be NULL) the JSON answer. */
int bench_post(struct http_client *c, const char *path, json_t *body, json_t **answer,
		const volatile sig_atomic_t *abort_flag, struct rp_error *err)
{
	struct http_request req = { .method = "POST", .path = path, .abort = abort_flag };
	json_t *doc = NULL;
	int rc = http_request_json(c, &req, body, NULL, &doc, err);
	json_decref(body);
	if (answer)
		*answer = doc;
	else
		json_decref(doc);
	return rc;
}

int bench_register_worker(struct http_client *c, const char *name)
{
	struct rp_error err;
	int rc = bench_post(c, "/api/v1/workers/register",
		      json_pack("{s:s, s:[s], s:i}", "worker", name, "targets", "unix", "slots", 1), NULL, NULL, &err);
	if (rc != 200)
		fprintf(stderr, "%s: %s cannot register: %s\n", bench_self, name, err.msg);
	return rc == 200 ? 0 : -1;
}

/* Leases one job (long-poll of wait_ms): 200 with *id, *run, *fence, *key (owned by *doc), 204, or an error. */
int bench_lease(struct http_client *c, const char *name, int wait_ms, const volatile sig_atomic_t *abort_flag,
		 json_t **doc, json_int_t *id, json_int_t *run, json_int_t *fence, const char **key)
{
	struct rp_error err;
	json_t *body = json_pack("{s:s, s:[s], s:i, s:I, s:I, s:f}", "worker", name, "targets", "unix", "wait_ms",
				 wait_ms, "free_disk_bytes", (json_int_t)(64LL << 30), "free_mem_bytes",
				 (json_int_t)(8LL << 30), "load", 0.0);
	int rc = bench_post(c, "/api/v1/lease", body, doc, abort_flag, &err);
	if (rc == 200 && json_unpack(*doc, "{s:{s:I, s:I, s:I, s:s}}", "job", "id", id, "run", run, "fence", fence,
				     "build_key", key) < 0)
		rc = -1;
	return rc;
}

int bench_answer_pass(struct http_client *c, const char *name, json_int_t id, json_int_t fence, const char *key)
{
	char path[80];
	struct rp_error err;
	snprintf(path, sizeof(path), "/api/v1/jobs/%lld/result", (long long)id);
	json_t *body = json_pack("{s:s, s:I, s:s, s:s, s:s, s:n, s:I, s:I}", "worker", name, "fence", fence, "status",
				 "pass", "build_key", key, "output_hash", EMPTY_HASH, "failed_step", "duration_ms",
				 (json_int_t)0, "log_size", (json_int_t)0);
	return bench_post(c, path, body, NULL, NULL, &err);
}

int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v[0..n). */
double bench_pct(const double *v, size_t n, double p)
{
	if (n == 0)
		return NAN;
	size_t r = (size_t)ceil(p * (double)n);
	return v[r ? r - 1 : 0];
}

const char *bench_verdict(int ok)
{
	return ok ? "PASS" : "MISS";
}

/* User + system CPU seconds of `pid` so far, from /proc/PID/stat; -1 when unknown. */
double bench_proc_cpu_s(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')'); /* the command name may hold spaces */
	unsigned long long ut = 0, st = 0;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}
