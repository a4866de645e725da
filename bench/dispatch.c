/*
 * bench/dispatch — the scheduler's figures: how fast `ripple serve` hands out
 * jobs, how soon a submitted job starts, its memory with a large store, and
 * how fast it serves a run page. Everything goes through the real server over
 * loopback HTTP (libcurl); the "workers" here speak the worker protocol but
 * build nothing: a job is leased and answered `pass` with the empty output at
 * once, so what is measured is dispatch, not builds.
 *
 * In one run, on one `ripple serve --workers 0` with its SQLite store in a
 * temporary directory:
 *   1. dispatch: RUNS runs of PACKAGES no-op packages (JOBS jobs in all), each
 *      run changing every package to its own commit of one git repository (so
 *      no job is a cache hit), submitted one after the other while WORKERS
 *      load processes lease and answer jobs. Jobs/s from the first submit to
 *      the last result (target >= 1,000), lease latency p50/p99 (target p99
 *      < 50 ms; leases sent before the first submit, which wait for work that
 *      does not exist yet, are left out).
 *   2. submit-to-start: one worker parked in a long-poll on an idle farm; a
 *      one-job run (package `solo`, its own repository, a new commit each
 *      time so it is never a cache hit) is submitted; the time from sending
 *      the submit to the worker having its lease answer, 50 times (target
 *      p50 < 20 ms).
 *   3. memory: the store filled to 100,000 finished jobs by submitting the
 *      dispatch's runs again (every job answered from the build cache at
 *      submit: real API, real planning and keying, no worker); the peak
 *      resident memory of the serve process (VmHWM, target < 200 MiB)
 *      after serving, and 200 GET /api/v1/runs/ID of a run with 1,000 jobs
 *      (target p99 < 50 ms).
 *
 * usage: bench-dispatch [RIPPLE [JOBS [WORKERS]]]
 *        (defaults: the ripple built beside this program, 10000, 8)
 */
#include <errno.h>
#include <git2.h>
#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "farm_client.h"
#include "core/http_client.h"
#include "core/banned.h"

#define PACKAGES_PER_RUN 1000
#define MAX_WORKERS 64
#define MEMORY_JOBS 100000
#define LATENCY_REPS 50
#define PAGE_REQUESTS 200
#define DISPATCH_WAIT_MS 2000	    /* a dispatch worker's long-poll; also how long it takes to stop */
#define DISPATCH_LIMIT_S 600.0	    /* the whole dispatch phase */
#define WORKER_LIMIT_S 1800.0	    /* a load process, whatever happens */
#define PARK_MS 50		    /* after the latency worker says it leases again */

/* ---- what the load processes share with the parent --------------------------------- */

struct worker_stats {
	_Atomic uint64_t jobs;	      /* results accepted */
	_Atomic uint64_t nlat;	      /* lease latencies recorded in this worker's slice */
	_Atomic uint64_t empty;	      /* leases answered 204 after the first submit */
	_Atomic uint64_t errors;      /* answers that were neither 200 nor 204 */
	_Atomic int64_t last_result_ns; /* CLOCK_MONOTONIC of the last accepted result */
};

struct shared {
	_Atomic int stop;
	_Atomic int registered;
	_Atomic uint64_t done;
	_Atomic int64_t t0_ns; /* the first submit is sent at this time; 0 before */
	struct worker_stats w[MAX_WORKERS];
	/* then: double lease_lat[workers][cap], double result_lat[workers][cap] */
};

static struct shared *sh;
static double *lease_lat, *result_lat;
static size_t lat_cap;

static int64_t to_ns(double s)
{
	return (int64_t)(s * 1e9);
}

/* ---- processes and the temporary directory, cleaned up on every path ---------------- */

static char tmp_dir[] = "/tmp/ripple-bench-dispatch-XXXXXX";
static int have_tmp;
static pid_t serve_pid = -1;
static pid_t worker_pids[MAX_WORKERS + 1];
static unsigned n_worker_pids;
static pid_t latency_pid = -1;

/*
 * The dispatch load processes stop at their next request (a long-poll ends
 * within DISPATCH_WAIT_MS); the latency worker on SIGTERM, aborting its
 * long-poll. Either is killed when it does not exit in time.
 */
static void stop_workers(void)
{
	if (sh)
		atomic_store(&sh->stop, 1);
	for (unsigned i = 0; i < n_worker_pids; i++)
		if (worker_pids[i] > 0 && worker_pids[i] == latency_pid)
			kill(worker_pids[i], SIGTERM);
	for (unsigned i = 0; i < n_worker_pids; i++)
		if (worker_pids[i] > 0)
			bench_reap(worker_pids[i], DISPATCH_WAIT_MS + 5000);
	n_worker_pids = 0;
}

/* SIGTERM, then the exit status of `ripple serve` (-1 when it had to be killed). */
static int stop_serve(void)
{
	if (serve_pid <= 0)
		return -1;
	kill(serve_pid, SIGTERM);
	int status = bench_reap(serve_pid, 15000);
	serve_pid = -1;
	return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void remove_tmp(void)
{
	if (!have_tmp)
		return;
	if (getenv("BENCH_DISPATCH_KEEP")) { /* for a look at serve.log and the store afterwards */
		fprintf(stderr, "bench-dispatch: kept %s\n", tmp_dir);
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		execlp("rm", "rm", "-rf", tmp_dir, (char *)NULL);
		_exit(127);
	}
	if (pid > 0)
		bench_reap(pid, 60000);
	have_tmp = 0;
}

static void cleanup(void)
{
	stop_workers();
	stop_serve();
	remove_tmp();
}

/* ---- git: the repositories the packages live in ------------------------------------ */

/* Commits `content` as README on refs/heads/main of `repo` (after its head, if any); hex id into `hex`. */
static int commit_file(git_repository *repo, const char *workdir, const char *content, char hex[41])
{
	git_index *index = NULL;
	git_tree *tree = NULL;
	git_signature *sig = NULL;
	git_commit *parent = NULL;
	git_oid tree_id, commit_id, parent_id;
	char path[4400];
	int rc = -1;
	snprintf(path, sizeof(path), "%s/README", workdir);
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(content, f);
	if (fclose(f) != 0)
		return -1;
	int has_parent = git_reference_name_to_id(&parent_id, repo, "refs/heads/main") == 0;
	if (has_parent && git_commit_lookup(&parent, repo, &parent_id) < 0)
		goto out;
	if (git_repository_index(&index, repo) < 0 || git_index_add_bypath(index, "README") < 0 ||
	    git_index_write(index) < 0 || git_index_write_tree(&tree_id, index) < 0 ||
	    git_tree_lookup(&tree, repo, &tree_id) < 0 ||
	    git_signature_new(&sig, "bench", "bench@example.org", 1700000000, 0) < 0)
		goto out;
	const git_commit *parents[1] = { parent };
	if (git_commit_create(&commit_id, repo, "refs/heads/main", sig, sig, NULL, content, tree, has_parent ? 1 : 0,
			      parents) < 0)
		goto out;
	git_oid_tostr(hex, 41, &commit_id);
	rc = 0;
out:
	git_commit_free(parent);
	git_signature_free(sig);
	git_tree_free(tree);
	git_index_free(index);
	return rc;
}

/* ---- the universe ------------------------------------------------------------------ */

/*
 * PACKAGES packages p0000.. in one repository, in three layers (10%, 30%,
 * 60%), each depending on one to three packages of the layer below: shallow,
 * so a tenth of a run is ready at its submit and most of it soon after. Plus
 * `solo`, alone in its own repository, for the submit-to-start latency.
 */
static int write_universe(const char *path, int n)
{
	FILE *m = fopen(path, "w");
	if (!m)
		return -1;
	int l0 = n >= 10 ? n / 10 : n, l1 = n >= 10 ? 3 * n / 10 : 0;
	unsigned seed = 7;
	fprintf(m, "{\"universe\": \"bench-dispatch\", \"targets\": {\"unix\": {\"runner\": \"process\"}},\n"
		   " \"packages\": [\n");
	for (int i = 0; i < n; i++) {
		int lo = 0, width = 0;
		if (i >= l0 + l1) {
			lo = l0;
			width = l1;
		} else if (i >= l0) {
			lo = 0;
			width = l0;
		}
		fprintf(m, "  {\"name\": \"p%04d\", \"repo\": \"repo\", \"branch\": \"main\", \"targets\": [\"unix\"],"
			   " \"build\": \"true\", \"depends\": [",
			i);
		int picked[3], k = width ? 1 + (int)(rand_r(&seed) % 3) : 0, np = 0;
		for (int d = 0; d < k; d++) {
			int dep = lo + (int)(rand_r(&seed) % (unsigned)width), dup = 0;
			for (int e = 0; e < np; e++)
				dup |= picked[e] == dep;
			if (dup)
				continue;
			fprintf(m, "%s\"p%04d\"", np ? ", " : "", dep);
			picked[np++] = dep;
		}
		fputs("]},\n", m);
	}
	fputs("  {\"name\": \"solo\", \"repo\": \"solo\", \"branch\": \"main\", \"targets\": [\"unix\"],"
	      " \"build\": \"true\", \"depends\": []}\n]}\n",
	      m);
	return fclose(m);
}

/* ---- HTTP ----------------------------------------------------------------------------- */

/* ---- the load processes ------------------------------------------------------------------ */

/*
 * A dispatch load process: lease, answer pass, until told to stop. Never
 * returns. It stops between requests, never aborting a long-poll, so no
 * job is ever leased to a load process that is gone.
 */
static void dispatch_worker(int k, const char *url, const char *token)
{
	struct worker_stats *ws = &sh->w[k];
	double *ll = lease_lat + (size_t)k * lat_cap, *rl = result_lat + (size_t)k * lat_cap;
	char name[32];
	snprintf(name, sizeof(name), "bench-%d", k + 1);
	struct http_client *c = bench_client(url, token);
	if (!c || bench_register_worker(c, name) < 0)
		_exit(1);
	atomic_fetch_add(&sh->registered, 1);
	double start = bench_now_s();
	while (!bench_child_stop && !atomic_load(&sh->stop) && bench_now_s() - start < WORKER_LIMIT_S) {
		json_t *doc = NULL;
		json_int_t id = 0, run = 0, fence = 0;
		const char *key = NULL;
		double t_send = bench_now_s();
		int rc = bench_lease(c, name, DISPATCH_WAIT_MS, NULL, &doc, &id, &run, &fence, &key);
		double t_job = bench_now_s();
		int64_t t0 = atomic_load(&sh->t0_ns);
		if (rc == 200) {
			/* A lease sent before the first submit waited for work that did not exist yet. */
			uint64_t n = atomic_load(&ws->nlat);
			if (t0 && to_ns(t_send) >= t0 && n < lat_cap) {
				ll[n] = t_job - t_send;
				atomic_store(&ws->nlat, n + 1);
			}
			int r = bench_answer_pass(c, name, id, fence, key);
			double t_done = bench_now_s();
			if (r == 200) {
				uint64_t j = atomic_load(&ws->jobs);
				if (j < lat_cap)
					rl[j] = t_done - t_job;
				atomic_store(&ws->last_result_ns, to_ns(t_done));
				atomic_store(&ws->jobs, j + 1);
				atomic_fetch_add(&sh->done, 1);
			} else {
				atomic_fetch_add(&ws->errors, 1);
			}
		} else if (rc == 204) {
			if (t0)
				atomic_fetch_add(&ws->empty, 1);
		} else if (!bench_child_stop) {
			if (atomic_fetch_add(&ws->errors, 1) > 100)
				break;
			bench_sleep_ms(50);
		}
		json_decref(doc);
	}
	http_client_free(c);
	_exit(0);
}

/* What the latency worker tells the parent. */
struct lat_msg {
	int kind; /* 0: about to send a lease request; 1: a lease answered with a job */
	double sent, answered;
	int64_t job;
};

/* The submit-to-start worker: parks in long-polls, reports each lease answer on `fd`. Never returns. */
static void latency_worker(int fd, const char *url, const char *token)
{
	const char *name = "bench-latency";
	struct http_client *c = bench_client(url, token);
	if (!c || bench_register_worker(c, name) < 0)
		_exit(1);
	double start = bench_now_s();
	int errors = 0;
	while (!bench_child_stop && bench_now_s() - start < WORKER_LIMIT_S && errors < 20) {
		json_t *doc = NULL;
		json_int_t id = 0, run = 0, fence = 0;
		const char *key = NULL;
		struct lat_msg m = { 0, bench_now_s(), 0, 0 };
		if (write(fd, &m, sizeof(m)) != (ssize_t)sizeof(m))
			break;
		int rc = bench_lease(c, name, 30000, &bench_child_stop, &doc, &id, &run, &fence, &key);
		m.answered = bench_now_s();
		if (rc == 200) {
			m.kind = 1;
			m.job = id;
			if (write(fd, &m, sizeof(m)) != (ssize_t)sizeof(m))
				break;
			if (bench_answer_pass(c, name, id, fence, key) != 200)
				errors++;
		} else if (rc != 204 && !bench_child_stop) {
			errors++;
			bench_sleep_ms(100);
		}
		json_decref(doc);
	}
	http_client_free(c);
	_exit(0);
}

/* ---- figures -------------------------------------------------------------------------- */

/* Peak and current resident memory of `pid` in MiB, from /proc/PID/status. */
static int proc_mem(pid_t pid, double *hwm_mib, double *rss_mib)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	*hwm_mib = *rss_mib = -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "VmHWM:", 6) == 0)
			*hwm_mib = strtod(line + 6, NULL) / 1024.0;
		else if (strncmp(line, "VmRSS:", 6) == 0)
			*rss_mib = strtod(line + 6, NULL) / 1024.0;
	}
	fclose(f);
	return *hwm_mib < 0 ? -1 : 0;
}

/* {"kind": "nightly", "changes": every dispatch package at `commit`}: the whole of p* at one commit. */
static json_t *run_body(int n, const char *commit, const char *title)
{
	json_t *changes = json_array();
	for (int i = 0; i < n; i++) {
		char name[16];
		snprintf(name, sizeof(name), "p%04d", i);
		json_array_append_new(changes, json_pack("{s:s, s:s}", "package", name, "rev", commit));
	}
	return json_pack("{s:s, s:s, s:o, s:[s]}", "kind", "nightly", "title", title, "changes", changes, "targets",
			 "unix");
}

/* Submits; the run id and its job count; -1 on any other answer than 201. */
static int64_t submit(struct http_client *api, json_t *body, json_int_t *njobs)
{
	struct rp_error err;
	json_t *doc = NULL;
	json_int_t run = -1;
	int rc = bench_post(api, "/api/v1/runs", body, &doc, NULL, &err);
	if (rc != 201 || json_unpack(doc, "{s:I, s:I}", "run", &run, "jobs", njobs) < 0) {
		fprintf(stderr, "bench-dispatch: submit answered %d: %s\n", rc, rc < 0 || rc >= 300 ? err.msg : "?");
		run = -1;
	}
	json_decref(doc);
	return run;
}

/* The jobs in the store that ended (done or cancelled), from /metrics; -1 when unknown. */
static long long ended_jobs(struct http_client *api)
{
	struct http_request req = { .method = "GET", .path = "/metrics" };
	struct http_response resp = { 0 };
	struct rp_error err;
	long long n = -1;
	if (http_request(api, &req, &resp, &err) == 200) {
		static const char *const keys[] = { "ripple_jobs{state=\"done\"} ", "ripple_jobs{state=\"cancelled\"} " };
		n = 0;
		for (size_t i = 0; i < 2; i++) {
			const char *at = strstr(resp.body, keys[i]);
			if (at)
				n += strtoll(at + strlen(keys[i]), NULL, 10);
		}
	}
	http_response_release(&resp);
	return n;
}

/* Times `count` GETs of `path`; their seconds, sorted, into `v`. The first answer's size into *bytes. */
static int time_gets(struct http_client *api, const char *path, const char *query, int count, double *v,
		     size_t *bytes)
{
	for (int i = 0; i < count && !bench_interrupted; i++) {
		struct http_request req = { .method = "GET", .path = path, .query = query, .response_cap = 64u << 20 };
		struct http_response resp = { 0 };
		struct rp_error err;
		double t = bench_now_s();
		int rc = http_request(api, &req, &resp, &err);
		v[i] = bench_now_s() - t;
		if (i == 0 && bytes)
			*bytes = resp.body_len;
		http_response_release(&resp);
		if (rc != 200) {
			fprintf(stderr, "bench-dispatch: GET %s: %d %s\n", path, rc, err.msg);
			return -1;
		}
	}
	qsort(v, (size_t)count, sizeof(*v), bench_cmp_double);
	return bench_interrupted ? -1 : 0;
}

static int run_counts(struct http_client *api, int64_t first, int64_t last, int64_t *pass, int64_t *cached,
		      int64_t *unfinished)
{
	char query[64];
	struct rp_error err;
	json_t *doc = NULL;
	*pass = *cached = *unfinished = 0;
	snprintf(query, sizeof(query), "limit=1000&before=%lld", (long long)last + 1);
	struct http_request req = { .method = "GET", .path = "/api/v1/runs", .query = query,
				    .response_cap = 16u << 20 };
	if (http_request_json(api, &req, NULL, NULL, &doc, &err) != 200)
		return -1;
	size_t i;
	json_t *r;
	json_array_foreach(json_object_get(doc, "runs"), i, r)
	{
		json_int_t id = json_integer_value(json_object_get(r, "id"));
		if (id < first || id > last)
			continue;
		*pass += json_integer_value(json_object_get(json_object_get(r, "counts"), "pass"));
		*cached += json_integer_value(json_object_get(r, "cached"));
		*unfinished += strcmp(json_string_value(json_object_get(r, "state")), "done") != 0;
	}
	json_decref(doc);
	return 0;
}

/* ---- main ------------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
	bench_self = "bench-dispatch";
	char ripple[4200];
	bench_find_ripple(argc > 1 ? argv[1] : NULL, ripple, sizeof(ripple));
	long jobs_arg = argc > 2 ? strtol(argv[2], NULL, 10) : 10000;
	long workers = argc > 3 ? strtol(argv[3], NULL, 10) : 8;
	if (jobs_arg < 1 || jobs_arg > 1000000 || workers < 1 || workers > MAX_WORKERS || access(ripple, X_OK) < 0) {
		fprintf(stderr, "usage: bench-dispatch [RIPPLE [JOBS 1..1000000 [WORKERS 1..%d]]]\n", MAX_WORKERS);
		return 2;
	}
	int packages = jobs_arg < PACKAGES_PER_RUN ? (int)jobs_arg : PACKAGES_PER_RUN;
	int runs = (int)((jobs_arg + packages - 1) / packages);
	size_t total = (size_t)packages * (size_t)runs;
	int fill_runs = (int)((MEMORY_JOBS + packages - 1) / packages) - runs;
	if (fill_runs < 0)
		fill_runs = 0;

	struct sigaction sa = { .sa_handler = bench_on_parent_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* Each worker may in principle take every job. */
	lat_cap = total + 16;
	size_t shared_bytes = sizeof(struct shared) + 2 * (size_t)workers * lat_cap * sizeof(double);
	void *mem = mmap(NULL, shared_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		perror("bench-dispatch: mmap");
		return 1;
	}
	sh = mem;
	lease_lat = (double *)((char *)mem + sizeof(struct shared));
	result_lat = lease_lat + (size_t)workers * lat_cap;

	int status = 1;
	struct http_client *api = NULL;
	git_repository *repo = NULL, *solo = NULL;
	char (*commits)[41] = calloc((size_t)runs, sizeof(*commits));
	double *lat = calloc(total + LATENCY_REPS + PAGE_REQUESTS + 16, sizeof(double));
	double *fill_s = calloc((size_t)fill_runs + 1, sizeof(double));
	double *submit_s = calloc((size_t)runs, sizeof(double));
	int lat_pipe[2] = { -1, -1 };
	char path[4400], url[256], worker_token[600], api_token[600];
	if (!commits || !lat || !fill_s || !submit_s)
		goto out;

	/* -- the universe and its repositories -- */
	if (!mkdtemp(tmp_dir))
		goto out;
	have_tmp = 1;
	git_libgit2_init();
	snprintf(path, sizeof(path), "%s/repo", tmp_dir);
	if (bench_repo_init(path, &repo) < 0)
		goto setup_failed;
	for (int r = 0; r < runs; r++) {
		char content[64];
		snprintf(content, sizeof(content), "revision %d of every package\n", r);
		if (commit_file(repo, path, content, commits[r]) < 0)
			goto setup_failed;
	}
	char solo_dir[4400], solo_commit[41];
	snprintf(solo_dir, sizeof(solo_dir), "%s/solo", tmp_dir);
	if (bench_repo_init(solo_dir, &solo) < 0 || commit_file(solo, solo_dir, "solo, first\n", solo_commit) < 0)
		goto setup_failed;
	snprintf(path, sizeof(path), "%s/ripple.json", tmp_dir);
	if (write_universe(path, packages) < 0)
		goto setup_failed;

	/* -- the server -- */
	fflush(stdout);
	serve_pid = fork();
	if (serve_pid < 0)
		goto setup_failed;
	if (serve_pid == 0) {
		char log[4400];
		prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive the bench */
		snprintf(log, sizeof(log), "%s/serve.log", tmp_dir);
		if (chdir(tmp_dir) < 0 || !freopen("/dev/null", "r", stdin) || !freopen(log, "w", stdout) ||
		    dup2(fileno(stdout), 2) < 0)
			_exit(127);
		execl(ripple, ripple, "serve", "--db", "ripple.db", "--listen", "127.0.0.1:0", "--universe", "ripple.json",
		      "--workers", "0", "--cache", "cache", "--url-file", "url", (char *)NULL);
		_exit(127);
	}
	snprintf(path, sizeof(path), "%s/url", tmp_dir);
	for (int i = 0; i < 1500 && bench_read_line(path, url, sizeof(url)) < 0; i++) {
		if (bench_interrupted || waitpid(serve_pid, NULL, WNOHANG) == serve_pid) {
			serve_pid = -1;
			break;
		}
		bench_sleep_ms(20);
	}
	snprintf(path, sizeof(path), "%s/ripple.db.worker-token", tmp_dir);
	char api_path[4400];
	snprintf(api_path, sizeof(api_path), "%s/ripple.db.api-token", tmp_dir);
	if (serve_pid < 0 || bench_read_line(path, worker_token, sizeof(worker_token)) < 0 ||
	    bench_read_line(api_path, api_token, sizeof(api_token)) < 0) {
		char log[4400], line[512];
		snprintf(log, sizeof(log), "%s/serve.log", tmp_dir);
		fprintf(stderr, "bench-dispatch: ripple serve did not start:\n");
		FILE *lf = fopen(log, "r");
		while (lf && fgets(line, sizeof(line), lf))
			fputs(line, stderr);
		if (lf)
			fclose(lf);
		goto out;
	}
	if (!(api = bench_client(url, api_token)))
		goto out;

	/*
	 * Warm-up, not measured: the first submit clones the repository into
	 * the server's mirror, once per server life. A run of every package at
	 * the branch head, cancelled before any worker exists.
	 */
	{
		json_int_t n = 0;
		char cancel[80];
		struct rp_error err;
		int64_t warm = submit(api, run_body(packages, "main", "bench warm-up"), &n);
		if (warm < 0)
			goto out;
		snprintf(cancel, sizeof(cancel), "/api/v1/runs/%lld/cancel", (long long)warm);
		if (bench_post(api, cancel, NULL, NULL, NULL, &err) != 200) {
			fprintf(stderr, "bench-dispatch: cannot cancel the warm-up run: %s\n", err.msg);
			goto out;
		}
	}

	/* -- 1. dispatch -- */
	for (long k = 0; k < workers; k++) {
		fflush(stdout);
		pid_t pid = fork();
		if (pid < 0)
			goto out;
		if (pid == 0) {
			struct sigaction ca = { .sa_handler = bench_on_child_term };
			sigemptyset(&ca.sa_mask);
			sigaction(SIGTERM, &ca, NULL);
			signal(SIGINT, SIG_IGN);
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			dispatch_worker((int)k, url, worker_token);
		}
		worker_pids[n_worker_pids++] = pid;
	}
	for (int i = 0; i < 1500 && atomic_load(&sh->registered) < workers && !bench_interrupted; i++)
		bench_sleep_ms(20);
	if (atomic_load(&sh->registered) < workers) {
		fprintf(stderr, "bench-dispatch: the load processes did not register\n");
		goto out;
	}
	bench_sleep_ms(200); /* every load process parked in its first long-poll */
	int64_t first_run = -1, last_run = -1;
	double cpu0 = bench_proc_cpu_s(serve_pid);
	double t0 = bench_now_s();
	atomic_store(&sh->t0_ns, to_ns(t0));
	for (int r = 0; r < runs && !bench_interrupted; r++) {
		char title[64];
		json_int_t n = 0;
		snprintf(title, sizeof(title), "bench dispatch %d", r + 1);
		double ts = bench_now_s();
		int64_t id = submit(api, run_body(packages, commits[r], title), &n);
		submit_s[r] = bench_now_s() - ts;
		if (id < 0)
			goto out;
		if (n != packages) {
			fprintf(stderr, "bench-dispatch: run %lld has %lld jobs, expected %d\n", (long long)id, (long long)n,
				packages);
			goto out;
		}
		if (first_run < 0)
			first_run = id;
		last_run = id;
	}
	double t_submitted = bench_now_s() - t0;
	while (atomic_load(&sh->done) < total && bench_now_s() - t0 < DISPATCH_LIMIT_S && !bench_interrupted)
		bench_sleep_ms(5);
	uint64_t done = atomic_load(&sh->done);
	double serve_cpu = bench_proc_cpu_s(serve_pid) - cpu0;
	stop_workers();
	struct rusage ru;
	getrusage(RUSAGE_CHILDREN, &ru); /* the load processes, reaped just now */
	double load_cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
			  (double)ru.ru_stime.tv_usec / 1e6;
	double t_last = 0;
	size_t nlat = 0, nres = 0;
	uint64_t empty = 0, errors = 0;
	double *rlat = lat; /* result latencies first, then lease latencies reuse the buffer */
	for (long k = 0; k < workers; k++) {
		struct worker_stats *ws = &sh->w[k];
		double last = (double)atomic_load(&ws->last_result_ns) / 1e9;
		if (last > t_last)
			t_last = last;
		uint64_t j = atomic_load(&ws->jobs);
		memcpy(rlat + nres, result_lat + (size_t)k * lat_cap, (j < lat_cap ? j : lat_cap) * sizeof(double));
		nres += j < lat_cap ? j : lat_cap;
		empty += atomic_load(&ws->empty);
		errors += atomic_load(&ws->errors);
	}
	qsort(rlat, nres, sizeof(double), bench_cmp_double);
	double res_p50 = bench_pct(rlat, nres, 0.5), res_p99 = bench_pct(rlat, nres, 0.99);
	for (long k = 0; k < workers; k++) {
		uint64_t n = atomic_load(&sh->w[k].nlat);
		memcpy(lat + nlat, lease_lat + (size_t)k * lat_cap, n * sizeof(double));
		nlat += n;
	}
	qsort(lat, nlat, sizeof(double), bench_cmp_double);
	double wall = t_last - t0, rate = wall > 0 ? (double)done / wall : 0;
	double lease_p50 = bench_pct(lat, nlat, 0.5), lease_p99 = bench_pct(lat, nlat, 0.99), lease_max = nlat ? lat[nlat - 1] : NAN;
	qsort(submit_s, (size_t)runs, sizeof(double), bench_cmp_double);
	int64_t pass = 0, cached = 0, unfinished = 0;
	if (run_counts(api, first_run, last_run, &pass, &cached, &unfinished) < 0)
		fprintf(stderr, "bench-dispatch: cannot read the runs back\n");
	if (done < total || unfinished || cached) {
		fprintf(stderr,
			"bench-dispatch: dispatch incomplete: %llu of %zu results, %lld runs unfinished, %lld cached jobs\n",
			(unsigned long long)done, total, (long long)unfinished, (long long)cached);
		goto out;
	}

	/* -- 2. submit-to-start on an idle farm -- */
	double s2s[LATENCY_REPS], s2s_submit[LATENCY_REPS];
	int reps = 0, not_parked = 0;
	if (pipe(lat_pipe) < 0)
		goto out;
	fflush(stdout);
	pid_t lpid = fork();
	if (lpid < 0)
		goto out;
	if (lpid == 0) {
		struct sigaction ca = { .sa_handler = bench_on_child_term };
		sigemptyset(&ca.sa_mask);
		sigaction(SIGTERM, &ca, NULL);
		signal(SIGINT, SIG_IGN);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(lat_pipe[0]);
		latency_worker(lat_pipe[1], url, worker_token);
	}
	close(lat_pipe[1]);
	lat_pipe[1] = -1;
	worker_pids[n_worker_pids++] = lpid;
	latency_pid = lpid;
	for (int i = 0; i < LATENCY_REPS && !bench_interrupted; i++) {
		char content[64], commit[41];
		struct lat_msg m = { 0 };
		snprintf(content, sizeof(content), "solo, revision %d\n", i + 1);
		if (commit_file(solo, solo_dir, content, commit) < 0)
			goto out;
		/* Wait for "about to lease", then give the request time to park in the server. */
		struct pollfd pfd = { lat_pipe[0], POLLIN, 0 };
		int got_ready = 0;
		while (!got_ready && poll(&pfd, 1, 40000) == 1 && read(lat_pipe[0], &m, sizeof(m)) == (ssize_t)sizeof(m))
			got_ready = m.kind == 0;
		if (!got_ready) {
			fprintf(stderr, "bench-dispatch: the latency worker stopped answering\n");
			goto out;
		}
		bench_sleep_ms(PARK_MS);
		json_int_t n = 0;
		json_t *body = json_pack("{s:s, s:s, s:[{s:s, s:s}]}", "kind", "manual", "title", "bench submit-to-start",
					 "changes", "package", "solo", "rev", commit);
		double ts = bench_now_s();
		int64_t id = submit(api, body, &n);
		double tr = bench_now_s();
		if (id < 0 || n != 1) {
			fprintf(stderr, "bench-dispatch: the one-job run has %lld jobs\n", (long long)n);
			goto out;
		}
		int got = 0;
		while (!got && poll(&pfd, 1, 10000) == 1 && read(lat_pipe[0], &m, sizeof(m)) == (ssize_t)sizeof(m))
			got = m.kind == 1;
		if (!got) {
			fprintf(stderr, "bench-dispatch: the one-job run was not leased within 10 s\n");
			goto out;
		}
		not_parked += m.sent > ts;
		s2s[reps] = m.answered - ts;
		s2s_submit[reps++] = tr - ts;
	}
	stop_workers();
	qsort(s2s, (size_t)reps, sizeof(double), bench_cmp_double);
	qsort(s2s_submit, (size_t)reps, sizeof(double), bench_cmp_double);

	/* -- 3. the store filled to 100,000 finished jobs, through the API; memory; the run page -- */
	double t_fill = bench_now_s();
	int filled = 0;
	int64_t first_fill = -1, last_fill = -1;
	for (int r = 0; r < fill_runs && !bench_interrupted && bench_now_s() - t_fill < 1200; r++) {
		char title[64];
		json_int_t n = 0;
		snprintf(title, sizeof(title), "bench fill %d", r + 1);
		double ts = bench_now_s();
		int64_t id = submit(api, run_body(packages, commits[r % runs], title), &n);
		if (id < 0)
			goto out;
		fill_s[filled++] = bench_now_s() - ts;
		if (first_fill < 0)
			first_fill = id;
		last_fill = id;
	}
	t_fill = bench_now_s() - t_fill;
	qsort(fill_s, (size_t)filled, sizeof(double), bench_cmp_double);
	int64_t fill_cached = 0, fill_pass = 0, fill_unfinished = 0;
	if (filled)
		run_counts(api, first_fill, last_fill, &fill_pass, &fill_cached, &fill_unfinished);
	long long in_store = ended_jobs(api);

	char run_path[64];
	size_t page_bytes = 0;
	double page[PAGE_REQUESTS], list[PAGE_REQUESTS], metrics[PAGE_REQUESTS / 4];
	snprintf(run_path, sizeof(run_path), "/api/v1/runs/%lld", (long long)first_run);
	/* Cold: the first request for each of 20 other done runs of the same size (the server keeps the last few). */
	double cold[20];
	size_t ncold = 0;
	for (int i = 0; i < 20 && first_fill + i <= last_fill; i++, ncold++) {
		char cold_path[64];
		snprintf(cold_path, sizeof(cold_path), "/api/v1/runs/%lld", (long long)(first_fill + i));
		if (time_gets(api, cold_path, NULL, 1, &cold[ncold], NULL) < 0)
			goto out;
	}
	qsort(cold, ncold, sizeof(*cold), bench_cmp_double);
	if (time_gets(api, run_path, NULL, PAGE_REQUESTS, page, &page_bytes) < 0 ||
	    time_gets(api, "/api/v1/runs", "limit=50", PAGE_REQUESTS, list, NULL) < 0 ||
	    time_gets(api, "/metrics", NULL, PAGE_REQUESTS / 4, metrics, NULL) < 0)
		goto out;
	double hwm = -1, rss = -1;
	proc_mem(serve_pid, &hwm, &rss);

	/* -- the figures -- */
	printf("universe: %d no-op packages per run (3 layers) + 1 alone; %d runs, %zu jobs; %ld load processes; "
	       "ripple serve on loopback\n",
	       packages, runs, total, workers);
	printf("dispatch: %zu jobs in %.3f s (submits took %.3f s, median submit %.0f ms)\n", (size_t)done, wall,
	       t_submitted, bench_pct(submit_s, (size_t)runs, 0.5) * 1000);
	printf("  throughput:                 %8.0f jobs/s   (target >= 1000)  %s\n", rate, bench_verdict(rate >= 1000));
	printf("  lease latency p50:          %8.2f ms\n", lease_p50 * 1000);
	printf("  lease latency p99:          %8.2f ms       (target < 50 ms)  %s\n", lease_p99 * 1000,
	       bench_verdict(lease_p99 < 0.050));
	printf("  lease latency max:          %8.2f ms       (%zu leases; %llu long-polls found nothing ready, %llu errors)\n",
	       lease_max * 1000, nlat, (unsigned long long)empty, (unsigned long long)errors);
	printf("  result post p50 / p99:      %8.2f / %.2f ms\n", res_p50 * 1000, res_p99 * 1000);
	printf("  CPU: ripple serve %.2f s (%.2f ms per job), the load processes %.2f s, over %.2f s wall on %ld cores\n",
	       serve_cpu, serve_cpu * 1000 / (double)(done ? done : 1), load_cpu, wall, sysconf(_SC_NPROCESSORS_ONLN));
	printf("submit-to-start, idle farm, %d one-job runs (%d not parked before the submit):\n", reps, not_parked);
	printf("  p50:                        %8.2f ms       (target < 20 ms)  %s\n", bench_pct(s2s, (size_t)reps, 0.5) * 1000,
	       bench_verdict(bench_pct(s2s, (size_t)reps, 0.5) < 0.020));
	printf("  p99:                        %8.2f ms\n", bench_pct(s2s, (size_t)reps, 0.99) * 1000);
	printf("  the submit's own answer p50:%8.2f ms\n", bench_pct(s2s_submit, (size_t)reps, 0.5) * 1000);
	printf("store: %lld finished jobs (%d runs added from the build cache in %.1f s, median %.0f ms per %d-job run, "
	       "%lld of %lld jobs cached)\n",
	       in_store, filled, t_fill, bench_pct(fill_s, (size_t)filled, 0.5) * 1000, packages, (long long)fill_cached,
	       (long long)((int64_t)filled * packages));
	printf("  serve peak memory (VmHWM):  %8.1f MiB      (target < 200 MiB) %s  (VmRSS now %.1f MiB)\n", hwm,
	       bench_verdict(hwm >= 0 && hwm < 200), rss);
	printf("  GET run page (%d jobs, %zu KiB) p50: %6.2f ms\n", packages, page_bytes / 1024,
	       bench_pct(page, PAGE_REQUESTS, 0.5) * 1000);
	printf("  GET run page p99:           %8.2f ms       (target < 50 ms)  %s\n", bench_pct(page, PAGE_REQUESTS, 0.99) * 1000,
	       bench_verdict(bench_pct(page, PAGE_REQUESTS, 0.99) < 0.050));
	if (ncold)
		printf("  GET run page, first request of %zu other runs (not yet kept serialized) p50 / max: %.2f / %.2f ms\n",
		       ncold, bench_pct(cold, ncold, 0.5) * 1000, bench_pct(cold, ncold, 1.0) * 1000);
	printf("  GET /api/v1/runs?limit=50 p50 / p99: %.2f / %.2f ms;  GET /metrics p50 / p99: %.2f / %.2f ms\n",
	       bench_pct(list, PAGE_REQUESTS, 0.5) * 1000, bench_pct(list, PAGE_REQUESTS, 0.99) * 1000,
	       bench_pct(metrics, PAGE_REQUESTS / 4, 0.5) * 1000, bench_pct(metrics, PAGE_REQUESTS / 4, 0.99) * 1000);
	fflush(stdout);
	int serve_exit = stop_serve();
	if (serve_exit != 0)
		fprintf(stderr, "bench-dispatch: ripple serve exited with %d\n", serve_exit);
	status = serve_exit == 0 ? 0 : 1;
	goto out;
setup_failed:
	fprintf(stderr, "bench-dispatch: cannot set up %s\n", tmp_dir);
out:
	if (bench_interrupted)
		fprintf(stderr, "bench-dispatch: bench_interrupted\n");
	if (lat_pipe[0] >= 0)
		close(lat_pipe[0]);
	if (lat_pipe[1] >= 0)
		close(lat_pipe[1]);
	http_client_free(api);
	git_repository_free(repo);
	git_repository_free(solo);
	cleanup();
	free(commits);
	free(lat);
	free(fill_s);
	free(submit_s);
	munmap(mem, shared_bytes);
	return status;
}
