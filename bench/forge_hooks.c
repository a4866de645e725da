/*
 * bench/forge_hooks — how fast a forge event becomes work, and what an
 * unchanged nightly costs. Everything runs for real on loopback: the real
 * `ripple serve`, real git repositories (libgit2), GitHub deliveries signed
 * as GitHub signs them (HMAC-SHA256 of the raw body, OpenSSL), the worker
 * protocol over HTTP (libcurl), `ripple nightly now` and real builds.
 *
 * In one run:
 *   1. webhook to first lease: `ripple serve --config --workers 0` with a
 *      GitHub webhook secret, on a universe of one package (steps `true`)
 *      whose repository is the delivery's clone_url. One worker, speaking
 *      the worker protocol as bench-dispatch's do, is parked in a long-poll
 *      POST /api/v1/lease. Each try commits a new head to the pull request's
 *      branch (so its job is never a cache hit; the server's mirror fetches
 *      it from the branch), then POSTs a signed `pull_request` delivery
 *      (opened, then synchronize) to /hooks/github and takes the time from
 *      sending it to the worker having its lease answer; the worker answers
 *      `pass` and the farm is idle again before the next try. TRIES tries
 *      after one untimed warm-up (it clones the mirror). Target p50 < 50 ms.
 *      The webhook's own answer time is printed too.
 *   2. an unchanged nightly: the example universe (examples/generate, its
 *      `vm` target dropped as tests/farm/test_nightly.sh drops it, no
 *      worker for it exists yet) on `ripple serve --workers 2`; a first
 *      `ripple nightly now` builds everything and is waited for; then
 *      NIGHTLIES more with nothing changed, each timed from starting
 *      `ripple nightly now` to its run being finished (GET /api/v1/runs/ID),
 *      with the builds it made (its jobs not answered from the cache).
 *      Target: 0 builds, < 1 s.
 *
 * usage: bench-hooks [RIPPLE [TRIES [NIGHTLIES [GENERATE]]]]
 *        (defaults: the ripple built beside this program, 30, 5, the
 *        source tree's examples/generate)
 * BENCH_HOOKS_KEEP=1 keeps the temporary directory (stores, serve logs).
 */
#define _GNU_SOURCE /* memmem */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <git2.h>
#include <jansson.h>
#include <math.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "farm_client.h"
#include "core/http_client.h"
#include "core/banned.h"

#ifndef BENCH_SOURCE_DIR
#define BENCH_SOURCE_DIR "."
#endif

#define SECRET "bench-hooks-webhook-secret"
#define PR_NUMBER 7
#define PR_BRANCH "pr-7"
#define MAX_TRIES 1000
#define MAX_NIGHTLIES 50
#define PARK_MS 50		/* after the worker says it leases again: its request is parked */
#define LEASE_WAIT_MS 30000	/* the worker's long-poll */
#define LEASE_LIMIT_MS 10000	/* a delivery whose job is not leased by then is a failure */
#define WORKER_LIMIT_S 1800.0	/* the worker process, whatever happens */
#define FIRST_NIGHTLY_LIMIT_S 900.0
#define NIGHTLY_LIMIT_S 120.0
#define POLL_MS 5		/* polling a nightly's run until it is finished */

/* ---- processes and the temporary directory, cleaned up on every path ---------------- */

static char tmp_dir[] = "/tmp/ripple-bench-hooks-XXXXXX";
static int have_tmp;
static pid_t serve_pid = -1;
static pid_t worker_pid = -1;

/* The hook worker stops on SIGTERM, aborting its long-poll; killed when it does not exit in time. */
static void stop_worker(void)
{
	if (worker_pid <= 0)
		return;
	kill(worker_pid, SIGTERM);
	bench_reap(worker_pid, 10000);
	worker_pid = -1;
}

/*
 * Processes still running whose command line names the temporary directory:
 * the local workers of a `ripple serve --workers N` that did not stop with it
 * (their cache is in the directory, so they are this run's and no one
 * else's). Killed by their pid; how many there were.
 */
static int kill_leftovers(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int found = 0;
	while (d && (e = readdir(d))) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (*end || pid <= 1 || pid == (long)getpid())
			continue;
		char path[64], cmd[8192];
		snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t n = read(fd, cmd, sizeof(cmd) - 1);
		close(fd);
		if (n <= 0)
			continue;
		if (memmem(cmd, (size_t)n, tmp_dir, strlen(tmp_dir))) {
			kill((pid_t)pid, SIGKILL);
			found++;
		}
	}
	if (d)
		closedir(d);
	return found;
}

/* SIGTERM, then the exit status of `ripple serve` (-1 when it had to be killed). */
static int stop_serve(long grace_ms)
{
	if (serve_pid <= 0)
		return -1;
	kill(serve_pid, SIGTERM);
	int status = bench_reap(serve_pid, grace_ms);
	serve_pid = -1;
	int left = kill_leftovers();
	if (left)
		fprintf(stderr, "bench-hooks: %d process(es) of ripple serve outlived it; killed\n", left);
	return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void remove_tmp(void)
{
	if (!have_tmp)
		return;
	if (getenv("BENCH_HOOKS_KEEP")) { /* for a look at the serve logs and the stores afterwards */
		fprintf(stderr, "bench-hooks: kept %s\n", tmp_dir);
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

/* ---- git -------------------------------------------------------------------------- */

/*
 * Commits `content` as README on `ref`, after its head, or after
 * refs/heads/main when `ref` does not exist yet, or as a root commit; the
 * hex id into `hex`.
 */
static int commit_file(git_repository *repo, const char *workdir, const char *ref, const char *content,
		       char hex[41])
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
	int has_parent = git_reference_name_to_id(&parent_id, repo, ref) == 0 ||
			 git_reference_name_to_id(&parent_id, repo, "refs/heads/main") == 0;
	git_error_clear();
	if (has_parent && git_commit_lookup(&parent, repo, &parent_id) < 0)
		goto out;
	if (git_repository_index(&index, repo) < 0 || git_index_add_bypath(index, "README") < 0 ||
	    git_index_write(index) < 0 || git_index_write_tree(&tree_id, index) < 0 ||
	    git_tree_lookup(&tree, repo, &tree_id) < 0 ||
	    git_signature_new(&sig, "bench", "bench@example.org", 1700000000, 0) < 0)
		goto out;
	const git_commit *parents[1] = { parent };
	if (git_commit_create(&commit_id, repo, ref, sig, sig, NULL, content, tree, has_parent ? 1 : 0, parents) < 0)
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

/* ---- files, children ---------------------------------------------------------------- */

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

static void print_tail(const char *path, int lines)
{
	char line[512];
	long count = 0, skip;
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		count++;
	skip = count > lines ? count - lines : 0;
	rewind(f);
	for (long i = 0; fgets(line, sizeof(line), f); i++)
		if (i >= skip)
			fprintf(stderr, "  %s", line);
	fclose(f);
}

/*
 * Starts `argv` (argv[0] a path) in `dir` with stdin from /dev/null and
 * stdout and stderr into `log`; the pid, or -1. It dies with the bench.
 */
static pid_t start(const char *dir, const char *log, char *const argv[])
{
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (chdir(dir) < 0 || !freopen("/dev/null", "r", stdin) || !freopen(log, "w", stdout) ||
		    dup2(fileno(stdout), 2) < 0)
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/*
 * Starts `ripple serve ARGS...` in `dir` (which holds its url file `url`
 * and log `serve.log`) and waits for its URL: 0 with `url` filled, or -1
 * (the end of its log on stderr).
 */
static int start_serve(const char *dir, char *const argv[], char *url, size_t url_cap)
{
	char path[4400], log[4400];
	snprintf(path, sizeof(path), "%s/url", dir);
	snprintf(log, sizeof(log), "%s/serve.log", dir);
	serve_pid = start(dir, log, argv);
	if (serve_pid < 0)
		return -1;
	for (int i = 0; i < 1500 && bench_read_line(path, url, url_cap) < 0; i++) {
		if (bench_interrupted || waitpid(serve_pid, NULL, WNOHANG) == serve_pid) {
			serve_pid = -1;
			break;
		}
		bench_sleep_ms(20);
	}
	if (serve_pid > 0 && bench_read_line(path, url, url_cap) == 0)
		return 0;
	fprintf(stderr, "bench-hooks: ripple serve did not start; the end of its log:\n");
	print_tail(log, 10);
	return -1;
}

/* ---- HTTP: the worker protocol, as bench-dispatch speaks it --------------------------- */

/* GETs `path` as JSON (up to 16 MiB); the status; *doc the caller's. */
static int get_json(struct http_client *c, const char *path, const char *query, json_t **doc)
{
	struct rp_error err;
	struct http_request req = { .method = "GET", .path = path, .query = query, .response_cap = 16u << 20 };
	*doc = NULL;
	int rc = http_request_json(c, &req, NULL, NULL, doc, &err);
	if (rc != 200)
		fprintf(stderr, "bench-hooks: GET %s: %d %s\n", path, rc, err.msg);
	return rc;
}

/* What the hook worker tells the parent. */
enum { MSG_LEASING, MSG_LEASED, MSG_RESULT };
struct msg {
	int kind;
	int rc; /* MSG_RESULT: the status of the result post */
	double sent, answered;
	int64_t job, run;
};

/*
 * The worker: parks in long-polls; tells `fd` before each lease request,
 * when a lease is answered with a job, and how its `pass` result was taken.
 * Never returns.
 */
static void hook_worker(int fd, const char *url, const char *token)
{
	const char *name = "bench-hooks";
	struct http_client *c = bench_client(url, token);
	if (!c || bench_register_worker(c, name) < 0)
		_exit(1);
	double begin = bench_now_s();
	int errors = 0;
	while (!bench_child_stop && bench_now_s() - begin < WORKER_LIMIT_S && errors < 20) {
		json_t *doc = NULL;
		json_int_t id = 0, run = 0, fence = 0;
		const char *key = NULL;
		struct msg m = { MSG_LEASING, 0, bench_now_s(), 0, 0, 0 };
		if (write(fd, &m, sizeof(m)) != (ssize_t)sizeof(m))
			break;
		int rc = bench_lease(c, name, LEASE_WAIT_MS, &bench_child_stop, &doc, &id, &run, &fence, &key);
		m.answered = bench_now_s();
		if (rc == 200) {
			m.kind = MSG_LEASED;
			m.job = id;
			m.run = run;
			if (write(fd, &m, sizeof(m)) != (ssize_t)sizeof(m))
				break;
			m.kind = MSG_RESULT;
			m.rc = bench_answer_pass(c, name, id, fence, key);
			if (write(fd, &m, sizeof(m)) != (ssize_t)sizeof(m))
				break;
		} else if (rc != 204 && !bench_child_stop) {
			errors++;
			bench_sleep_ms(100);
		}
		json_decref(doc);
	}
	http_client_free(c);
	_exit(0);
}

/* The next message within `ms`: 0, or -1. */
static int read_msg(int fd, long ms, struct msg *m)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	int r;
	while ((r = poll(&pfd, 1, (int)ms)) < 0 && errno == EINTR && !bench_interrupted)
		;
	return r == 1 && read(fd, m, sizeof(*m)) == (ssize_t)sizeof(*m) ? 0 : -1;
}

/*
 * Waits until the worker is about to lease again, having had every result
 * it posted accepted and no job it was not expected to get. 0, or -1 with
 * the reason in `why`.
 */
static int wait_leasing(int fd, char *why, size_t cap)
{
	struct msg m;
	for (;;) {
		if (bench_interrupted || read_msg(fd, 40000, &m) < 0) {
			snprintf(why, cap, "the worker stopped answering");
			return -1;
		}
		if (m.kind == MSG_LEASING)
			return 0;
		if (m.kind == MSG_RESULT && m.rc != 200) {
			snprintf(why, cap, "the worker's pass result for job %lld was answered %d", (long long)m.job, m.rc);
			return -1;
		}
		if (m.kind == MSG_LEASED) {
			snprintf(why, cap, "the idle farm leased job %lld of run %lld that no delivery asked for",
				 (long long)m.job, (long long)m.run);
			return -1;
		}
	}
}

/* ---- figures -------------------------------------------------------------------------- */

/* ---- 1. webhook to first lease ----------------------------------------------------------- */

struct hook_figures {
	int tries, not_parked;
	double cold_lat, cold_answer; /* the warm-up delivery, which clones the mirror */
	double lat[MAX_TRIES], answer[MAX_TRIES];
	double early, late; /* p50 of the first and of the last tenth of the tries, in order */
	double serve_cpu;   /* over the timed tries */
	int packs;	    /* pack files in the server's mirrors afterwards; -1 unknown */
	long long runs_done, runs_cached, runs_other;
	char why[512]; /* when not measured */
};

/* The delivery of try `k` (0: opened, then synchronize) with head `sha`; malloc'd compact JSON. */
static char *pr_payload(int k, const char *clone_url, const char *sha, const char *base)
{
	json_t *repo = json_pack("{s:s, s:s}", "full_name", "bench/hook", "clone_url", clone_url);
	json_t *doc = json_pack(
		"{s:s, s:i, s:{s:s, s:i, s:s, s:s, s:{s:s}, s:{s:s, s:s, s:s, s:O}, s:{s:s, s:s, s:s, s:O}},"
		" s:{s:i, s:s, s:s, s:s, s:s}, s:{s:s}}",
		"action", k == 0 ? "opened" : "synchronize", "number", PR_NUMBER, "pull_request", "url",
		"https://api.github.com/repos/bench/hook/pulls/7", "number", PR_NUMBER, "state", "open", "title",
		"Bench the webhook path", "user", "login", "contributor", "head", "label", "bench:" PR_BRANCH, "ref",
		PR_BRANCH, "sha", sha, "repo", repo, "base", "label", "bench:main", "ref", "main", "sha", base, "repo",
		repo, "repository", "id", 1296269, "name", "hook", "full_name", "bench/hook", "clone_url", clone_url,
		"html_url", "https://github.com/bench/hook", "sender", "login", "contributor");
	json_decref(repo);
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	return text;
}

/* Pack files in DIR/<mirror>/objects/pack, for every mirror in `dir`; -1 when unreadable. */
static int count_packs(const char *dir)
{
	DIR *d = opendir(dir), *p;
	struct dirent *e, *f;
	int n = 0;
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		char path[4400];
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%.1000s/%.255s/objects/pack", dir, e->d_name);
		if (!(p = opendir(path)))
			continue;
		while ((f = readdir(p))) {
			size_t len = strlen(f->d_name);
			n += len > 5 && strcmp(f->d_name + len - 5, ".pack") == 0;
		}
		closedir(p);
	}
	closedir(d);
	return n;
}

/* "sha256=" and the hex HMAC-SHA256 of body with SECRET, into `out`. */
static int sign(const char *body, size_t len, char *out, size_t cap)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	if (!HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (const unsigned char *)body, len, mac, &mac_len) ||
	    cap < 8 + 2 * (size_t)mac_len)
		return -1;
	snprintf(out, cap, "sha256=");
	for (unsigned int i = 0; i < mac_len; i++)
		snprintf(out + 7 + 2 * i, 3, "%02x", mac[i]);
	return 0;
}

/* POSTs a signed delivery; 0 with the run it planned, or -1 with the reason. */
static int deliver(struct http_client *hook, const char *body, const char *delivery, int64_t *run, char *why,
		   size_t cap)
{
	char sig[160], h_sig[200], h_delivery[200];
	if (sign(body, strlen(body), sig, sizeof(sig)) < 0) {
		snprintf(why, cap, "cannot compute the HMAC");
		return -1;
	}
	snprintf(h_sig, sizeof(h_sig), "X-Hub-Signature-256: %s", sig);
	snprintf(h_delivery, sizeof(h_delivery), "X-GitHub-Delivery: %s", delivery);
	const char *headers[] = { "X-GitHub-Event: pull_request", h_delivery, h_sig, NULL };
	struct http_request req = { .method = "POST", .path = "/hooks/github", .headers = headers, .body = body,
				    .body_len = strlen(body), .content_type = "application/json" };
	struct http_response resp = { 0 };
	struct rp_error err;
	int rc = http_request(hook, &req, &resp, &err), ok = -1;
	json_t *doc = rc == 200 ? json_loads(resp.body, 0, NULL) : NULL;
	json_int_t r = 0, jobs = 0;
	int created = 0;
	if (rc != 200)
		snprintf(why, cap, "the delivery was answered %d: %.400s", rc, err.msg);
	else if (json_unpack(doc, "{s:I, s:I, s:b}", "run", &r, "jobs", &jobs, "created", &created) < 0)
		snprintf(why, cap, "the delivery planned nothing: %.300s", resp.body);
	else if (jobs != 1 || !created)
		snprintf(why, cap, "the delivery's run %lld has %lld jobs (created %d), expected 1 new", (long long)r,
			 (long long)jobs, created);
	else
		ok = 0;
	*run = r;
	json_decref(doc);
	http_response_release(&resp);
	return ok;
}

static int bench_hooks(const char *ripple, int tries, struct hook_figures *fig)
{
	char dir[1024], path[4400], url[256], worker_token[600], api_token[600], clone_url[4400];
	char base[41], head[41], *real = NULL;
	git_repository *repo = NULL;
	struct http_client *hook = NULL, *api = NULL;
	int fds[2] = { -1, -1 }, rc = -1;
	char *why = fig->why;
	size_t cap = sizeof(fig->why);
	snprintf(why, cap, "setting up failed");

	snprintf(dir, sizeof(dir), "%s/hooks", tmp_dir);
	snprintf(path, sizeof(path), "%s/hook", dir);
	if (mkdir(dir, 0755) < 0 || bench_repo_init(path, &repo) < 0 ||
	    commit_file(repo, path, "refs/heads/main", "the package, first\n", base) < 0)
		goto out;
	/* The delivery names the repository as the package does, normalized as mirrors are. */
	if (!(real = realpath(path, NULL)))
		goto out;
	snprintf(clone_url, sizeof(clone_url), "file://%s", real);
	snprintf(path, sizeof(path), "%s/ripple.json", dir);
	if (write_file(path, "{\"universe\": \"bench-hooks\", \"targets\": {\"unix\": {\"runner\": \"process\"}},\n"
			     " \"packages\": [{\"name\": \"hook\", \"repo\": \"hook\", \"branch\": \"main\","
			     " \"targets\": [\"unix\"], \"build\": \"true\", \"test\": \"true\", \"depends\": []}]}\n") <
		    0)
		goto out;
	snprintf(path, sizeof(path), "%s/github.secret", dir);
	if (write_file(path, SECRET "\n") < 0)
		goto out;
	/* No token_file: nothing reported back to a forge, so only the way in is measured. */
	snprintf(path, sizeof(path), "%s/config.json", dir);
	if (write_file(path, "{\"forges\": {\"github\": {\"api_url\": \"http://127.0.0.1:9/api\","
			     " \"webhook_secret_file\": \"github.secret\"}}}\n") < 0)
		goto out;

	char *argv[] = { (char *)ripple, "serve", "--config", "config.json", "--db", "hooks.db", "--listen",
			 "127.0.0.1:0", "--universe", "ripple.json", "--workers", "0", "--cache", "cache",
			 "--url-file", "url", NULL };
	if (start_serve(dir, argv, url, sizeof(url)) < 0) {
		snprintf(why, cap, "ripple serve --config did not start");
		goto out;
	}
	snprintf(path, sizeof(path), "%s/hooks.db.worker-token", dir);
	if (bench_read_line(path, worker_token, sizeof(worker_token)) < 0)
		goto out;
	snprintf(path, sizeof(path), "%s/hooks.db.api-token", dir);
	if (bench_read_line(path, api_token, sizeof(api_token)) < 0)
		goto out;
	if (!(hook = bench_client(url, NULL)) || !(api = bench_client(url, api_token)))
		goto out;

	if (pipe(fds) < 0)
		goto out;
	fflush(stdout);
	fflush(stderr);
	worker_pid = fork();
	if (worker_pid < 0)
		goto out;
	if (worker_pid == 0) {
		struct sigaction ca = { .sa_handler = bench_on_child_term };
		sigemptyset(&ca.sa_mask);
		sigaction(SIGTERM, &ca, NULL);
		signal(SIGINT, SIG_IGN);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(fds[0]);
		hook_worker(fds[1], url, worker_token);
	}
	close(fds[1]);
	fds[1] = -1;

	double cpu0 = -1;
	snprintf(path, sizeof(path), "%s/hook", dir);
	for (int k = 0; k <= tries && !bench_interrupted; k++) {
		char content[64], delivery[96];
		snprintf(content, sizeof(content), "the pull request, push %d\n", k + 1);
		if (commit_file(repo, path, "refs/heads/" PR_BRANCH, content, head) < 0) {
			snprintf(why, cap, "cannot commit to the package's repository");
			goto out;
		}
		if (wait_leasing(fds[0], why, cap) < 0)
			goto out;
		bench_sleep_ms(PARK_MS);
		char *body = pr_payload(k, clone_url, head, base);
		if (!body) {
			snprintf(why, cap, "cannot make the delivery's JSON");
			goto out;
		}
		snprintf(delivery, sizeof(delivery), "bench-%ld-%d-%lld", (long)getpid(), k,
			 (long long)(bench_now_s() * 1e6));
		if (k == 1)
			cpu0 = bench_proc_cpu_s(serve_pid);
		int64_t run = 0;
		double ts = bench_now_s();
		int d = deliver(hook, body, delivery, &run, why, cap);
		double tr = bench_now_s();
		free(body);
		if (d < 0)
			goto out;
		struct msg m;
		int got = 0;
		while (!got && read_msg(fds[0], LEASE_LIMIT_MS, &m) == 0)
			got = m.kind == MSG_LEASED;
		if (!got) {
			snprintf(why, cap, "the job of run %lld was not leased within %d s", (long long)run,
				 LEASE_LIMIT_MS / 1000);
			goto out;
		}
		if (m.run != run) {
			snprintf(why, cap, "the worker leased a job of run %lld, the delivery planned run %lld",
				 (long long)m.run, (long long)run);
			goto out;
		}
		if (k == 0) {
			fig->cold_lat = m.answered - ts;
			fig->cold_answer = tr - ts;
			continue;
		}
		fig->not_parked += m.sent > ts;
		fig->lat[fig->tries] = m.answered - ts;
		fig->answer[fig->tries++] = tr - ts;
	}
	if (bench_interrupted) {
		snprintf(why, cap, "bench_interrupted");
		goto out;
	}
	if (wait_leasing(fds[0], why, cap) < 0) /* the last result taken: the farm is idle */
		goto out;
	fig->serve_cpu = cpu0 >= 0 ? bench_proc_cpu_s(serve_pid) - cpu0 : NAN;

	/* Every delivery's run: one job, built (not from the cache), passed, done. */
	json_t *doc = NULL, *r;
	size_t i;
	if (get_json(api, "/api/v1/runs", "limit=1000", &doc) != 200)
		goto out;
	json_array_foreach(json_object_get(doc, "runs"), i, r)
	{
		const char *state = json_string_value(json_object_get(r, "state"));
		json_int_t pass = json_integer_value(json_object_get(json_object_get(r, "counts"), "pass"));
		if (json_integer_value(json_object_get(r, "cached")) > 0)
			fig->runs_cached++;
		else if (state && strcmp(state, "done") == 0 && pass == 1)
			fig->runs_done++;
		else
			fig->runs_other++;
	}
	json_decref(doc);
	snprintf(path, sizeof(path), "%s/cache/mirrors", dir);
	fig->packs = count_packs(path);
	size_t tenth = (size_t)(fig->tries >= 10 ? fig->tries / 10 : 1);
	double part[MAX_TRIES];
	memcpy(part, fig->lat, tenth * sizeof(double));
	qsort(part, tenth, sizeof(double), bench_cmp_double);
	fig->early = bench_pct(part, tenth, 0.5);
	memcpy(part, fig->lat + fig->tries - (int)tenth, tenth * sizeof(double));
	qsort(part, tenth, sizeof(double), bench_cmp_double);
	fig->late = bench_pct(part, tenth, 0.5);
	qsort(fig->lat, (size_t)fig->tries, sizeof(double), bench_cmp_double);
	qsort(fig->answer, (size_t)fig->tries, sizeof(double), bench_cmp_double);
	rc = 0;
out:
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	stop_worker();
	int serve_exit = stop_serve(15000);
	if (rc == 0 && serve_exit != 0) {
		snprintf(why, cap, "ripple serve exited with %d", serve_exit);
		rc = -1;
	}
	http_client_free(hook);
	http_client_free(api);
	git_repository_free(repo);
	free(real);
	return rc;
}

/* ---- 2. the unchanged nightly ----------------------------------------------------------- */

struct nightly {
	int64_t run;
	double wall, command; /* from starting `ripple nightly now` to the run finished; to the command's exit */
	double server_ms;     /* the run's finished_ms - created_ms */
	long long jobs, cached, built, pass, fail, other;
	char state[16];
};

struct nightly_figures {
	int packages, repeats;
	struct nightly first, n[MAX_NIGHTLIES];
	char why[512];
};

extern char **environ;

/*
 * `ripple nightly now --json` against `url`: its run id and whether it made
 * a new run. 0, or -1 with the reason.
 */
static int nightly_now(const char *ripple, const char *url, const char *token_file, const char *dir, int64_t *run,
		       int *created, char *why, size_t cap)
{
	char env_server[400], env_token[4500], out[8192], err_log[4400];
	size_t n_env = 0, len = 0;
	while (environ[n_env])
		n_env++;
	char **envp = calloc(n_env + 3, sizeof(*envp));
	if (!envp)
		return -1;
	size_t k = 0;
	for (size_t i = 0; i < n_env; i++)
		if (strncmp(environ[i], "RIPPLE_SERVER=", 14) != 0 && strncmp(environ[i], "RIPPLE_TOKEN_FILE=", 18) != 0)
			envp[k++] = environ[i];
	snprintf(env_server, sizeof(env_server), "RIPPLE_SERVER=%s", url);
	snprintf(env_token, sizeof(env_token), "RIPPLE_TOKEN_FILE=%s", token_file);
	envp[k++] = env_server;
	envp[k++] = env_token;
	snprintf(err_log, sizeof(err_log), "%s/nightly-now.err", dir);
	int p[2];
	if (pipe(p) < 0) {
		free(envp);
		return -1;
	}
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		close(p[0]);
		if (dup2(p[1], 1) < 0 || !freopen("/dev/null", "r", stdin) || !freopen(err_log, "w", stderr))
			_exit(127);
		char *argv[] = { (char *)ripple, "nightly", "now", "--json", NULL };
		execve(ripple, argv, envp);
		_exit(127);
	}
	free(envp);
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		return -1;
	}
	struct pollfd pfd = { p[0], POLLIN, 0 };
	while (len < sizeof(out) - 1 && poll(&pfd, 1, 60000) == 1) {
		ssize_t r = read(p[0], out + len, sizeof(out) - 1 - len);
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(p[0]);
	out[len] = '\0';
	int status = bench_reap(pid, 60000);
	json_t *doc = json_loads(out, 0, NULL);
	json_int_t r = 0;
	int rc = -1;
	*created = 0;
	if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char line[300] = "";
		bench_read_line(err_log, line, sizeof(line));
		snprintf(why, cap, "`ripple nightly now` failed (status %d): %s", status, line);
	} else if (json_unpack(doc, "{s:I, s:b}", "run", &r, "created", created) < 0) {
		snprintf(why, cap, "`ripple nightly now --json` printed no run: %.200s", out);
	} else {
		*run = r;
		rc = 0;
	}
	json_decref(doc);
	return rc;
}

/* Polls GET /api/v1/runs/ID until the run is done or cancelled; its figures into *n. 0, or -1. */
static int wait_run(struct http_client *api, int64_t run, double limit_s, long poll_ms, struct nightly *n,
		    char *why, size_t cap)
{
	char path[64];
	snprintf(path, sizeof(path), "/api/v1/runs/%lld", (long long)run);
	double begin = bench_now_s();
	while (!bench_interrupted && bench_now_s() - begin < limit_s) {
		json_t *doc = NULL;
		if (get_json(api, path, NULL, &doc) != 200) {
			snprintf(why, cap, "cannot read run %lld", (long long)run);
			return -1;
		}
		const char *state = json_string_value(json_object_get(json_object_get(doc, "run"), "state"));
		if (state && (strcmp(state, "done") == 0 || strcmp(state, "cancelled") == 0)) {
			json_t *r = json_object_get(doc, "run"), *j;
			size_t i;
			snprintf(n->state, sizeof(n->state), "%s", state);
			n->server_ms = (double)(json_integer_value(json_object_get(r, "finished_ms")) -
						json_integer_value(json_object_get(r, "created_ms")));
			n->jobs = n->cached = n->built = n->pass = n->fail = n->other = 0;
			json_array_foreach(json_object_get(doc, "jobs"), i, j)
			{
				const char *st = json_string_value(json_object_get(j, "status"));
				n->jobs++;
				/* A build made: a job a worker ran, not answered from the cache. */
				if (json_is_true(json_object_get(j, "cached")))
					n->cached++;
				else
					n->built++;
				if (st && strcmp(st, "pass") == 0)
					n->pass++;
				else if (st && strcmp(st, "fail") == 0)
					n->fail++;
				else
					n->other++;
			}
			json_decref(doc);
			return 0;
		}
		json_decref(doc);
		bench_sleep_ms(poll_ms);
	}
	snprintf(why, cap, "run %lld did not finish within %.0f s", (long long)run, limit_s);
	return -1;
}

/* Sleeps until the wall clock is past the second `after` (nightlies are one per second). */
static void next_wall_second(time_t after)
{
	struct timespec ts;
	for (;;) {
		clock_gettime(CLOCK_REALTIME, &ts);
		if (ts.tv_sec > after || bench_interrupted)
			return;
		bench_sleep_ms(1000 - ts.tv_nsec / 1000000 + 20);
	}
}

/* The example universe without its `vm` target, and checkseum's test made `true` as the farm tests make it. */
static int stable_manifest(const char *in, const char *out)
{
	json_error_t jerr;
	json_t *doc = json_load_file(in, 0, &jerr), *p, *t;
	size_t i, k;
	if (!doc)
		return -1;
	json_object_del(json_object_get(doc, "targets"), "vm");
	json_array_foreach(json_object_get(doc, "packages"), i, p)
	{
		json_t *targets = json_object_get(p, "targets");
		for (k = json_array_size(targets); k-- > 0;) {
			t = json_array_get(targets, k);
			if (json_is_string(t) && strcmp(json_string_value(t), "vm") == 0)
				json_array_remove(targets, k);
		}
		if (strcmp(json_string_value(json_object_get(p, "name")), "checkseum") == 0)
			json_object_set_new(p, "test", json_string("true"));
	}
	int rc = json_dump_file(doc, out, JSON_INDENT(2));
	json_decref(doc);
	return rc;
}

static int bench_nightly(const char *ripple, const char *generate, int repeats, struct nightly_figures *fig)
{
	char dir[1024], udir[1100], path[4400], log[4400], url[256], api_token[600], token_file[4400];
	struct http_client *api = NULL;
	int rc = -1, created = 0;
	char *why = fig->why;
	size_t cap = sizeof(fig->why);
	snprintf(why, cap, "setting up failed");

	snprintf(dir, sizeof(dir), "%s/nightly", tmp_dir);
	snprintf(udir, sizeof(udir), "%s/u", dir);
	snprintf(log, sizeof(log), "%s/generate.log", dir);
	if (mkdir(dir, 0755) < 0)
		goto out;
	if (access(generate, X_OK) < 0) {
		snprintf(why, cap, "no examples/generate at %.300s (give its path as the 4th argument)", generate);
		goto out;
	}
	char *gen_argv[] = { (char *)generate, udir, NULL };
	pid_t gen = start(dir, log, gen_argv);
	int gst = gen > 0 ? bench_reap(gen, 300000) : -1;
	if (gst < 0 || !WIFEXITED(gst) || WEXITSTATUS(gst) != 0) {
		snprintf(why, cap, "examples/generate failed (status %d)", gst);
		print_tail(log, 5);
		goto out;
	}
	char in[4400];
	snprintf(in, sizeof(in), "%s/ripple.json", udir);
	snprintf(path, sizeof(path), "%s/stable.json", udir);
	if (stable_manifest(in, path) < 0) {
		snprintf(why, cap, "cannot read or rewrite the example manifest");
		goto out;
	}
	char db[1100], cache[1100], url_file[1100];
	snprintf(db, sizeof(db), "%s/nightly.db", dir);
	snprintf(cache, sizeof(cache), "%s/cache", dir);
	snprintf(url_file, sizeof(url_file), "%s/url", dir);
	char *argv[] = { (char *)ripple, "serve", "--db", db, "--listen", "127.0.0.1:0", "--universe", path,
			 "--workers", "2", "--cache", cache, "--url-file", url_file, NULL };
	if (start_serve(dir, argv, url, sizeof(url)) < 0) {
		snprintf(why, cap, "ripple serve --workers 2 did not start");
		goto out;
	}
	snprintf(token_file, sizeof(token_file), "%s.api-token", db);
	if (bench_read_line(token_file, api_token, sizeof(api_token)) < 0 || !(api = bench_client(url, api_token)))
		goto out;

	/* The first nightly builds everything; not timed as a figure of its own target. */
	double t0 = bench_now_s();
	if (nightly_now(ripple, url, token_file, dir, &fig->first.run, &created, why, cap) < 0)
		goto out;
	fig->first.command = bench_now_s() - t0;
	if (wait_run(api, fig->first.run, FIRST_NIGHTLY_LIMIT_S, 200, &fig->first, why, cap) < 0)
		goto out;
	fig->first.wall = bench_now_s() - t0;
	fig->packages = (int)fig->first.jobs;
	struct timespec wall;
	clock_gettime(CLOCK_REALTIME, &wall);

	for (int k = 0; k < repeats && !bench_interrupted; k++) {
		struct nightly *n = &fig->n[k];
		next_wall_second(wall.tv_sec);
		double ts = bench_now_s();
		if (nightly_now(ripple, url, token_file, dir, &n->run, &created, why, cap) < 0)
			goto out;
		n->command = bench_now_s() - ts;
		if (!created) {
			snprintf(why, cap, "`ripple nightly now` found run %lld instead of planning a new one",
				 (long long)n->run);
			goto out;
		}
		if (wait_run(api, n->run, NIGHTLY_LIMIT_S, POLL_MS, n, why, cap) < 0)
			goto out;
		n->wall = bench_now_s() - ts;
		clock_gettime(CLOCK_REALTIME, &wall);
		fig->repeats++;
	}
	rc = bench_interrupted ? -1 : 0;
	if (bench_interrupted)
		snprintf(why, cap, "bench_interrupted");
out:
	http_client_free(api);
	/* Its workers give their jobs back first: a grace longer than serve's (35 s). */
	int serve_exit = stop_serve(45000);
	if (rc == 0 && serve_exit != 0) {
		snprintf(why, cap, "ripple serve exited with %d", serve_exit);
		rc = -1;
	}
	return rc;
}

/* ---- main ------------------------------------------------------------------------------ */

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	bench_self = "bench-hooks";
	char ripple[4200], generate[4400];
	bench_find_ripple(argc > 1 ? argv[1] : NULL, ripple, sizeof(ripple));
	long tries = argc > 2 ? strtol(argv[2], NULL, 10) : 30;
	long repeats = argc > 3 ? strtol(argv[3], NULL, 10) : 5;
	snprintf(generate, sizeof(generate), "%s", argc > 4 ? argv[4] : BENCH_SOURCE_DIR "/examples/generate");
	if (tries < 1 || tries > MAX_TRIES || repeats < 1 || repeats > MAX_NIGHTLIES || access(ripple, X_OK) < 0) {
		fprintf(stderr, "usage: bench-hooks [RIPPLE [TRIES 1..%d [NIGHTLIES 1..%d [GENERATE]]]]\n", MAX_TRIES,
			MAX_NIGHTLIES);
		return 2;
	}
	struct sigaction sa = { .sa_handler = bench_on_parent_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct hook_figures *hf = calloc(1, sizeof(*hf));
	struct nightly_figures *nf = calloc(1, sizeof(*nf));
	if (!hf || !nf || !mkdtemp(tmp_dir)) {
		fprintf(stderr, "bench-hooks: cannot set up\n");
		free(hf);
		free(nf);
		return 1;
	}
	have_tmp = 1;
	git_libgit2_init();

	int hooks_ok = bench_hooks(ripple, (int)tries, hf) == 0;
	int nightly_ok = !bench_interrupted && bench_nightly(ripple, generate, (int)repeats, nf) == 0;
	if (bench_interrupted && !nightly_ok)
		snprintf(nf->why, sizeof(nf->why), "bench_interrupted");

	/* -- the figures -- */
	printf("1. webhook -> first job leased, idle farm: `ripple serve --config --workers 0`, one package (steps "
	       "`true`), one worker parked in a long-poll\n");
	if (!hooks_ok) {
		printf("  not measured: %s\n", hf->why);
	} else {
		size_t n = (size_t)hf->tries;
		double p50 = bench_pct(hf->lat, n, 0.5);
		printf("  %d signed GitHub pull_request deliveries, a new head commit each (%d not parked before the "
		       "delivery)\n",
		       hf->tries, hf->not_parked);
		printf("  first delivery (clones the mirror), not counted: %.2f ms (its answer %.2f ms)\n",
		       hf->cold_lat * 1000, hf->cold_answer * 1000);
		printf("  p50:                        %8.2f ms       (target < 50 ms)  %s\n", p50 * 1000,
		       bench_verdict(p50 < 0.050));
		printf("  p90:                        %8.2f ms\n", bench_pct(hf->lat, n, 0.9) * 1000);
		printf("  p99:                        %8.2f ms%s\n", bench_pct(hf->lat, n, 0.99) * 1000,
		       n < 100 ? "       (fewer than 100 tries: the max)" : "");
		printf("  p50 of the first / last %d tries: %.2f / %.2f ms (the server's mirror holds %d pack files "
		       "after %d deliveries)\n",
		       hf->tries >= 10 ? hf->tries / 10 : 1, hf->early * 1000, hf->late * 1000, hf->packs, hf->tries + 1);
		printf("  the webhook's own answer p50 / p90 / p99: %.2f / %.2f / %.2f ms\n", bench_pct(hf->answer, n, 0.5) * 1000,
		       bench_pct(hf->answer, n, 0.9) * 1000, bench_pct(hf->answer, n, 0.99) * 1000);
		printf("  ripple serve CPU per delivery (plan, lease, result): %.2f ms\n",
		       hf->serve_cpu * 1000 / (double)(n ? n : 1));
		printf("  runs: %lld done with their one job passed, %lld with a cached job, %lld otherwise\n",
		       hf->runs_done, hf->runs_cached, hf->runs_other);
	}
	printf("2. unchanged nightly of the example universe (vm target dropped), `ripple serve --workers 2`\n");
	if (nf->first.state[0])
		printf("  first nightly (run %lld): %lld jobs, %lld built (%lld pass, %lld fail, %lld other), %.1f s\n",
		       (long long)nf->first.run, nf->first.jobs, nf->first.built, nf->first.pass, nf->first.fail,
		       nf->first.other, nf->first.wall);
	for (int k = 0; k < nf->repeats; k++) {
		const struct nightly *n = &nf->n[k];
		printf("  unchanged #%d (run %lld): %lld jobs, %lld cached, %lld built, %s; %.1f ms "
		       "(`ripple nightly now` %.1f ms, server created->finished %.0f ms)\n",
		       k + 1, (long long)n->run, n->jobs, n->cached, n->built, n->state, n->wall * 1000,
		       n->command * 1000, n->server_ms);
	}
	if (!nightly_ok) {
		printf("  not measured: %s\n", nf->why);
	} else {
		double wall[MAX_NIGHTLIES], cmd[MAX_NIGHTLIES];
		long long built[MAX_NIGHTLIES];
		size_t n = (size_t)nf->repeats;
		for (size_t k = 0; k < n; k++) {
			wall[k] = nf->n[k].wall;
			cmd[k] = nf->n[k].command;
			built[k] = nf->n[k].built;
		}
		qsort(wall, n, sizeof(double), bench_cmp_double);
		qsort(cmd, n, sizeof(double), bench_cmp_double);
		qsort(built, n, sizeof(long long), cmp_ll);
		printf("  wall median / max:          %8.1f / %.1f ms  (target < 1 s)  %s\n", bench_pct(wall, n, 0.5) * 1000,
		       wall[n - 1] * 1000, bench_verdict(wall[n - 1] < 1.0));
		printf("  builds median / max:        %8lld / %lld       (target 0)     %s\n", built[(n - 1) / 2],
		       built[n - 1], bench_verdict(built[n - 1] == 0));
		printf("  of which `ripple nightly now` (plan, answer) median: %.1f ms\n", bench_pct(cmd, n, 0.5) * 1000);
	}
	fflush(stdout);
	remove_tmp();
	free(hf);
	free(nf);
	return hooks_ok && nightly_ok ? 0 : 1;
}
