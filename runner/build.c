/*
 * build.c — the local build engine (see build.h).
 *
 * Threads: everything that decides (scheduling, backends, steps) runs on the
 * loop's thread; what blocks (checkout, unpacking and packing artifacts, the
 * store, classification) runs on libuv's thread pool, one work item per job
 * phase. The store is one connection guarded by a mutex.
 */
#define _GNU_SOURCE /* asprintf */
#include "build.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "backend.h"
#include "core/buildkey.h"
#include "core/store.h"
#include "artifact.h"
#include "git.h"
#include "abi.h"
#include "build-internal.h"
#include "coverage/coverage.h"
#include "core/banned.h"

#define BUILD_CACHE_PATH_MAX 2048
/* How long a job that found a stable prefix busy waits before it is scheduled again. */
#define BUILD_BUSY_RETRY_MS 100

struct build_session {
	const struct rp_universe *u;
	struct build_options opts;
	const char *expect_key; /* build_session_select() */
	const char *variant;	/* build_session_select(): the variant of the only_package job; NULL: "build" */
	unsigned fuzz_seconds;	/* build_session_select(): a fuzz job's time per target; 0: the manifest's */
	const char *fuzz_reproduce; /* build_session_select(): a fuzz job runs this input once instead */
	char cache[BUILD_CACHE_PATH_MAX]; /* short enough that every path under it fits PATH_MAX */
	/*
	 * Work directories and logs are named "<pid>-<serial>": sessions of one
	 * process (a worker's slots) share the cache directory but never a name.
	 */
	unsigned long serial;
	/* build_cancel() from other threads: the active run's wake-up, or a cancel kept for the next run. */
	pthread_mutex_t cancel_lock;
	struct run *active;
	int cancel_pending;
	struct store *store;
	pthread_mutex_t store_lock;
	struct backend **backends; /* per target, opened on first use */
	int *backend_rc;
	char (*backend_err)[RP_ERROR_MAX];
	struct build__classifier *classifier;
};

enum job_state { JOB_WAITING, JOB_RUNNING, JOB_DONE };

struct job_paths {
	char workdir[PATH_MAX], src[PATH_MAX + 8], prefix[PATH_MAX + 8], tmp[PATH_MAX + 8];
	char build_log[PATH_MAX], test_log[PATH_MAX], coverage_log[PATH_MAX];
	char gcov_out[PATH_MAX + 16]; /* a coverage job: gcov's JSON documents, on the host */
	char job_src[PATH_MAX];	      /* a coverage job: where its steps saw the sources (the gcov data's root) */
	char fuzz_report_name[128];   /* a fuzz job: its report's file name in the cache's fuzz/reports */
	char fuzz_guest_src[PATH_MAX]; /* a fuzz job that fuzzed in a guest: the workspace's path there; else "" */
	int prefix_lock; /* process backend: the stable prefix's lock, held from prepare to pack; else -1 */
	long slot;	 /* the run's work directory it uses, or -1: one of its own (--keep) */
	int reused;	 /* that work directory exists and was emptied by the job before */
	int clean;	 /* set by the job's last phase: the work directory is empty again and can be reused */
};

struct job {
	struct run *run;
	size_t index;
	size_t package, target;
	const char *rev; /* the change's revision, or NULL: the branch head */
	size_t *deps;    /* direct dependencies: job indices, same target */
	size_t n_deps;
	size_t waiting;
	enum job_state state;
	char tree[41];
	struct job_paths *p; /* only while the job runs: a large universe keeps few alive */
	struct artifact_layer *layer;
	struct backend_job *bjob;
	struct step *step;
	int in_test; /* the running step is the test step */
	int in_coverage; /* the running step reads the coverage data (a coverage job's last step) */
	int coverage; /* the job is a coverage build: --coverage added, gcov read, no output archived */
	int fuzz;     /* the job is a fuzz build: clang and sanitizers, and its test step fuzzes (build_fuzz.c) */
	char **fuzz_env; /* the fuzz step's own variables */
	size_t n_fuzz_env;
	struct step_result build_res, test_res, coverage_res;
	uv_work_t work;
	int work_rc;
	int waits; /* a stable prefix it needs was busy: it goes back to wait, not to fail */
	struct rp_error work_err;
	struct build_job_report *r;
};

struct run {
	struct build_session *s;
	uv_loop_t loop;
	uv_signal_t sigint, sigterm;
	uv_async_t cancel; /* build_cancel() from another thread */
	uv_timer_t tick; /* a live progress line: elapsed time moves even while nothing finishes */
	uv_timer_t again; /* schedules again jobs that found a stable prefix busy */
	struct job *jobs;
	size_t n_jobs;
	size_t running, done;
	/*
	 * Job slots bound the steps that run at once; checkouts, unpacking and
	 * packing of other jobs overlap with them, so in-flight jobs may exceed
	 * the slots. Prepared jobs wait here, first come first served.
	 */
	size_t stepping;
	size_t *step_queue, queue_head, queue_len; /* a ring of n_jobs entries: a job waits at most once at a time */
	/*
	 * Work directories are reused by the jobs of a run: creating and removing
	 * a directory tree per job dominated a cold build of small packages (ext4
	 * scans recently deleted inodes on every creation). A job leaves its work
	 * directory empty, and the next job takes it from here. A slot is made only
	 * when none is free, so there are never more than jobs in flight.
	 */
	size_t *free_slots, n_free, next_slot;
	int cancelling;
	uint64_t start_ns;
	struct build_report *report;
};

/* ---- helpers ---------------------------------------------------------------- */

/* mkdir -p: the common case (the parent exists) costs one system call. */
int build__mkdirs(const char *path, struct rp_error *err)
{
	if (mkdir(path, 0755) == 0 || errno == EEXIST)
		return 0;
	if (errno != ENOENT)
		return rp_error_set(err, RP_EIO, "cannot create %s: %s", path, strerror(errno));
	char parent[PATH_MAX];
	const char *slash = strrchr(path, '/');
	if (!slash || slash == path || (size_t)(slash - path) >= sizeof(parent))
		return rp_error_set(err, RP_EIO, "cannot create %s: %s", path, strerror(ENOENT));
	memcpy(parent, path, (size_t)(slash - path));
	parent[slash - path] = '\0';
	int rc = build__mkdirs(parent, err);
	if (rc < 0)
		return rc;
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return rp_error_set(err, RP_EIO, "cannot create %s: %s", path, strerror(errno));
	return 0;
}

/*
 * Empties directory `path` and keeps it, with its owner's permissions
 * restored if a build took them: the entries named in `keep` (a
 * NULL-terminated list, or NULL) are kept too when they are directories, and
 * emptied the same way; every other entry is removed. 0, or -1 when `path` is
 * not a directory or something could not be removed.
 */
static int empty_dir(const char *path, const char *const *keep)
{
	struct stat st;
	if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		return -1;
	if ((st.st_mode & S_IRWXU) != S_IRWXU && chmod(path, st.st_mode | S_IRWXU) < 0)
		return -1;
	DIR *d = opendir(path);
	if (!d)
		return -1;
	struct dirent *e;
	char child[PATH_MAX];
	int rc = 0;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if ((size_t)snprintf(child, sizeof(child), "%s/%s", path, e->d_name) >= sizeof(child)) {
			rc = -1;
			continue;
		}
		int kept = 0;
		for (size_t k = 0; keep && keep[k] && !kept; k++)
			kept = strcmp(e->d_name, keep[k]) == 0;
		if ((!kept || empty_dir(child, NULL) < 0) && workspace_remove(child) < 0)
			rc = -1;
	}
	closedir(d);
	return rc;
}

static uint64_t elapsed_ms(const struct run *run)
{
	return (uv_hrtime() - run->start_ns) / 1000000;
}

/* Copies at most size - 1 bytes of `src`, as one line. */
static void set_line(char *dst, size_t size, const char *src)
{
	size_t i = 0;
	for (; src[i] && i + 1 < size; i++)
		dst[i] = src[i] == '\n' || src[i] == '\r' ? ' ' : src[i];
	dst[i] = '\0';
}

/* ---- session --------------------------------------------------------------- */

int build_session_open(const struct rp_universe *u, const struct build_options *opts, struct build_session **out,
		       struct rp_error *err)
{
	struct build_session *s = calloc(1, sizeof(*s));
	char path[PATH_MAX + 32];
	int rc;
	*out = NULL;
	if (!s)
		return rp_error_set(err, RP_ENOMEM, "out of memory");
	static atomic_ulong next_serial;
	s->u = u;
	s->opts = *opts;
	if (!s->opts.jobs)
		s->opts.jobs = 1;
	s->serial = atomic_fetch_add(&next_serial, 1) + 1;
	pthread_mutex_init(&s->store_lock, NULL);
	pthread_mutex_init(&s->cancel_lock, NULL);
	if ((rc = build__mkdirs(opts->cache_dir, err)) < 0)
		goto fail;
	/* Absolute: job directories are handed to libgit2 and bound into sandboxes. */
	char *absolute = realpath(opts->cache_dir, NULL);
	if (!absolute || strlen(absolute) >= sizeof(s->cache)) {
		rc = rp_error_set(err, RP_EINVAL, "cache directory %s: %s", opts->cache_dir,
				  absolute ? "path too long" : strerror(errno));
		free(absolute);
		goto fail;
	}
	memcpy(s->cache, absolute, strlen(absolute) + 1);
	free(absolute);
	s->opts.cache_dir = s->cache;
	static const char *const subdirs[] = { "", "/mirrors", "/artifacts", "/logs", "/work", "/prefix" };
	for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", s->cache, subdirs[i]);
		if ((rc = build__mkdirs(path, err)) < 0)
			goto fail;
	}
	snprintf(path, sizeof(path), "%s/ripple.db", s->cache);
	if ((rc = store_open(path, 0, &s->store, err)) < 0)
		goto fail;
	s->backends = calloc(u->n_targets, sizeof(*s->backends));
	s->backend_rc = calloc(u->n_targets, sizeof(*s->backend_rc));
	s->backend_err = calloc(u->n_targets, sizeof(*s->backend_err));
	if (!s->backends || !s->backend_rc || !s->backend_err) {
		rc = rp_error_set(err, RP_ENOMEM, "out of memory");
		goto fail;
	}
	if ((rc = build__classifier_open(&s->classifier, err)) < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	build_session_close(s);
	return rc;
}

void build_session_close(struct build_session *s)
{
	if (!s)
		return;
	for (size_t t = 0; s->backends && t < s->u->n_targets; t++)
		backend_close(s->backends[t]);
	free(s->backends);
	free(s->backend_rc);
	free(s->backend_err);
	build__classifier_close(s->classifier);
	store_close(s->store);
	pthread_mutex_destroy(&s->store_lock);
	pthread_mutex_destroy(&s->cancel_lock);
	free(s);
}

void build_session_select(struct build_session *s, const struct build_select *sel)
{
	s->opts.only_package = sel->only_package;
	s->opts.only_target = sel->only_target;
	s->opts.fresh_package = sel->fresh_package;
	s->expect_key = sel->expect_key;
	s->variant = sel->variant && strcmp(sel->variant, "build") != 0 ? sel->variant : NULL;
	s->fuzz_seconds = sel->fuzz_seconds;
	s->fuzz_reproduce = sel->fuzz_reproduce;
}

/* The backend of target `t`, opened once; NULL with the reason in job's report when it cannot be. */
static struct backend *session_backend(struct build_session *s, size_t t, const char **why)
{
	if (!s->backends[t] && !s->backend_rc[t]) {
		struct rp_error err;
		s->backend_rc[t] = backend_open(&s->u->targets[t], NULL, &s->backends[t], &err);
		if (s->backend_rc[t] < 0)
			snprintf(s->backend_err[t], sizeof(s->backend_err[t]), "%.900s", err.msg);
		else
			s->backend_rc[t] = 1;
	}
	*why = s->backend_err[t];
	return s->backends[t];
}

/* ---- planning the job set ------------------------------------------------- */

/* Job index of (package, target), or -1; `index` maps package * n_targets + target. */
static long job_of(const struct run *run, const long *index, size_t package, size_t target)
{
	return index[package * run->s->u->n_targets + target];
}

/*
 * The plan's jobs plus, for each, its dependencies on the same target that the
 * plan does not build (they are needed at their branch heads), in an order
 * where every job comes after its dependencies.
 */
static int make_jobs(struct run *run, const struct graph *g, const struct plan *plan, const struct plan_change *pins,
		     size_t n_pins, struct rp_error *err)
{
	const struct rp_universe *u = run->s->u;
	size_t n_slots = u->n_packages * u->n_targets;
	long *index = malloc(n_slots * sizeof(*index));
	unsigned char *needed = calloc(n_slots, 1);
	size_t *order = malloc(u->n_packages * sizeof(*order));
	const char **rev = calloc(u->n_packages, sizeof(*rev));
	unsigned char *changed = calloc(u->n_packages, 1);
	size_t *stack = malloc((n_slots + 1) * sizeof(*stack));
	int rc = 0;
	if (!index || !needed || !order || !rev || !changed || !stack) {
		rc = rp_error_set(err, RP_ENOMEM, "out of memory planning jobs");
		goto out;
	}
	for (size_t i = 0; i < n_slots; i++)
		index[i] = -1;
	for (size_t i = 0; i < n_pins; i++)
		rev[pins[i].package] = pins[i].rev;
	/* Revisions first, from the whole plan: a filter below must not lose a change. */
	for (size_t j = 0; j < plan->n_jobs; j++) {
		if (plan->jobs[j].rev) {
			rev[plan->jobs[j].package] = plan->jobs[j].rev;
			changed[plan->jobs[j].package] = 1;
		}
	}
	for (size_t j = 0; j < plan->n_jobs; j++) {
		const struct plan_job *pj = &plan->jobs[j];
		const char *only = run->s->opts.only_target, *only_pkg = run->s->opts.only_package;
		if (only && strcmp(u->targets[pj->target].name, only) != 0)
			continue;
		if (only_pkg && strcmp(u->packages[pj->package].name, only_pkg) != 0)
			continue;
		/*
		 * Mark the job and, depth first, every dependency it needs on its
		 * target; marked when pushed, so the stack holds each slot once.
		 */
		size_t top = 0, first = pj->package * u->n_targets + pj->target;
		if (needed[first])
			continue;
		needed[first] = 1;
		stack[top++] = first;
		while (top) {
			size_t slot = stack[--top];
			const struct rp_package *p = &u->packages[slot / u->n_targets];
			for (size_t d = 0; d < p->n_depends; d++) {
				size_t dep = p->depends[d] * u->n_targets + slot % u->n_targets;
				if (!needed[dep]) {
					needed[dep] = 1;
					stack[top++] = dep;
				}
			}
		}
	}
	long n_order = graph_topo_order(g, NULL, order);
	if (n_order < 0) {
		rc = rp_error_set(err, (int)n_order, "cannot order the jobs");
		goto out;
	}
	size_t n_jobs = 0;
	for (size_t i = 0; i < n_slots; i++)
		n_jobs += needed[i];
	run->jobs = calloc(n_jobs ? n_jobs : 1, sizeof(*run->jobs));
	run->report->jobs = calloc(n_jobs ? n_jobs : 1, sizeof(*run->report->jobs));
	if (!run->jobs || !run->report->jobs) {
		rc = rp_error_set(err, RP_ENOMEM, "out of memory planning %zu jobs", n_jobs);
		goto out;
	}
	for (long k = 0; k < n_order; k++) {
		size_t p = order[k];
		const struct rp_package *pkg = &u->packages[p];
		for (size_t ti = 0; ti < pkg->n_targets; ti++) {
			size_t t = pkg->targets[ti];
			if (!needed[p * u->n_targets + t])
				continue;
			struct job *j = &run->jobs[run->n_jobs];
			j->run = run;
			j->index = run->n_jobs;
			j->package = p;
			j->target = t;
			j->rev = rev[p];
			j->r = &run->report->jobs[run->n_jobs];
			j->r->package = p;
			j->r->target = t;
			j->r->changed = changed[p];
			j->r->cause = -1;
			index[p * u->n_targets + t] = (long)run->n_jobs;
			j->deps = calloc(pkg->n_depends ? pkg->n_depends : 1, sizeof(*j->deps));
			if (!j->deps) {
				rc = rp_error_set(err, RP_ENOMEM, "out of memory planning jobs");
				goto out;
			}
			for (size_t d = 0; d < pkg->n_depends; d++)
				j->deps[j->n_deps++] = (size_t)job_of(run, index, pkg->depends[d], t);
			j->waiting = j->n_deps;
			run->n_jobs++;
		}
	}
	run->report->n_jobs = run->n_jobs;
out:
	free(index);
	free(needed);
	free(order);
	free(rev);
	free(changed);
	free(stack);
	return rc;
}

/*
 * Resolves every job's revision in its package's mirror: each repository is
 * fetched once per run, and each (repository, revision) resolved once, so a
 * universe of many packages in few repositories stays cheap.
 */
static void resolve_revisions(struct run *run)
{
	struct build_session *s = run->s;
	char mirrors[PATH_MAX + 16];
	snprintf(mirrors, sizeof(mirrors), "%s/mirrors", s->cache);
	for (size_t i = 0; i < run->n_jobs; i++) {
		struct job *j = &run->jobs[i];
		const struct rp_package *p = &s->u->packages[j->package];
		const char *rev = j->rev ? j->rev : p->branch;
		int fetched = 0;
		size_t k;
		for (k = 0; k < i; k++) {
			const struct job *o = &run->jobs[k];
			const struct rp_package *op = &s->u->packages[o->package];
			if (strcmp(op->repo, p->repo) != 0)
				continue;
			fetched = 1;
			if (strcmp(o->rev ? o->rev : op->branch, rev) == 0)
				break;
		}
		if (k < i) {
			const struct job *o = &run->jobs[k];
			memcpy(j->r->commit, o->r->commit, sizeof(j->r->commit));
			memcpy(j->tree, o->tree, sizeof(j->tree));
			if (!o->r->commit[0]) {
				j->r->outcome = BUILD_ERROR;
				memcpy(j->r->first_error, o->r->first_error, sizeof(j->r->first_error));
				memcpy(j->r->category, o->r->category, sizeof(j->r->category));
			}
			continue;
		}
		struct mirror *m = NULL;
		struct rp_error err;
		git_oid commit, tree;
		int rc = mirror_open(mirrors, p->repo, s->u->dir, &m, &err);
		if (rc == 0 && !s->opts.offline && !fetched)
			rc = mirror_fetch(m, &err);
		if (rc == 0)
			rc = mirror_resolve(m, rev, &commit, &err);
		if (rc == 0)
			rc = mirror_tree_of(m, &commit, &tree, &err);
		mirror_close(m);
		if (rc < 0) {
			j->r->outcome = BUILD_ERROR;
			snprintf(j->r->category, sizeof(j->r->category), "%s",
				 rc == RP_EUNREACHABLE ? "infrastructure" : "revision");
			set_line(j->r->first_error, sizeof(j->r->first_error), err.msg);
			continue;
		}
		git_oid_tostr(j->r->commit, sizeof(j->r->commit), &commit);
		git_oid_tostr(j->tree, sizeof(j->tree), &tree);
	}
}

/* ---- scheduling ------------------------------------------------------------ */

static void schedule(struct run *run);
static void job_finished(struct job *j);
static void close_handles(struct run *run);

static void progress(struct run *run, const struct build_job_report *finished)
{
	if (!run->s->opts.on_progress)
		return;
	struct build_progress p = { .done = run->done, .running = run->running, .cached = run->report->cached,
				    .total = run->n_jobs, .elapsed_ms = elapsed_ms(run), .finished = finished };
	p.queued = run->n_jobs - run->done - run->running;
	run->s->opts.on_progress(&p, run->s->opts.data);
}

/* A dependency's outcome leaves an output to build against: a pass, or a build whose tests failed. */
static int has_output(const struct build_job_report *r)
{
	return r->output_hash[0] != '\0';
}

static void finish_without_running(struct job *j, enum build_outcome outcome)
{
	j->r->outcome = outcome;
	j->state = JOB_DONE;
	j->run->done++;
	job_finished(j);
}

static void work_prepare(uv_work_t *w);
static void after_prepare(uv_work_t *w, int status);

/* Gives the job a work directory: a free one of the run's, else a new one (none with --keep). Loop thread. */
static void take_slot(struct run *run, struct job *j)
{
	j->p->reused = 0;
	j->p->clean = 0;
	if (run->s->opts.keep_workdirs) {
		j->p->slot = -1;
	} else if (run->n_free) {
		j->p->slot = (long)run->free_slots[--run->n_free];
		j->p->reused = 1;
	} else {
		j->p->slot = (long)run->next_slot++;
	}
}

/* Returns the job's work directory to the run when the job left it empty. Loop thread. */
static void give_slot(struct run *run, struct job *j)
{
	if (j->p->slot >= 0 && j->p->clean)
		run->free_slots[run->n_free++] = (size_t)j->p->slot;
	j->p->slot = -1;
}

/* Whether the archive of a build's output is recorded and on disk with its recorded size. */
static int artifact_present_named(struct build_session *s, const char *key, const char *name)
{
	struct store_artifact a;
	struct rp_error err;
	char path[PATH_MAX + 64];
	struct stat st;
	pthread_mutex_lock(&s->store_lock);
	int rc = store_artifact_get(s->store, key, name, &a, &err);
	pthread_mutex_unlock(&s->store_lock);
	if (rc < 0)
		return 0;
	snprintf(path, sizeof(path), "%s/%.200s", s->cache, a.location);
	int present = stat(path, &st) == 0 && st.st_size == a.size;
	store_artifact_release(&a);
	return present;
}

static int artifact_present(struct build_session *s, const char *key)
{
	return artifact_present_named(s, key, "prefix");
}

/*
 * Records artifact `name` of `key`, written at `rel` in the cache: a key
 * built again writes the same content (the first record stands); other
 * content replaces it while no build is recorded under the key.
 */
static int record_artifact(struct build_session *s, const char *key, const char *name, const char *rel,
			   struct rp_error *err)
{
	char path[PATH_MAX + 200], sha[ARTIFACT_HEX_LEN + 1];
	int64_t size = 0;
	snprintf(path, sizeof(path), "%s/%s", s->cache, rel);
	int rc = artifact_sha256_file(path, sha, &size, err);
	if (rc < 0)
		return rc;
	struct store_artifact a = { .build_key = key, .name = name, .size = size, .sha256 = sha, .location = rel };
	pthread_mutex_lock(&s->store_lock);
	rc = store_artifact_put(s->store, &a, err);
	if (rc == RP_EEXISTS)
		rc = store_artifact_replace(s->store, &a, err);
	pthread_mutex_unlock(&s->store_lock);
	return rc;
}

/* The job's dependencies are done: answer it from the cache, skip it, or start it. */
static void start_job(struct job *j)
{
	struct run *run = j->run;
	struct build_session *s = run->s;
	const struct rp_package *p = &s->u->packages[j->package];
	if (j->r->outcome == BUILD_ERROR) { /* its revision could not be resolved */
		finish_without_running(j, BUILD_ERROR);
		return;
	}
	if (run->cancelling) {
		set_line(j->r->first_error, sizeof(j->r->first_error), "the run was cancelled before this job started");
		finish_without_running(j, BUILD_CANCELLED);
		return;
	}
	for (size_t d = 0; d < j->n_deps; d++) {
		const struct job *dj = &run->jobs[j->deps[d]];
		if (has_output(dj->r))
			continue;
		j->r->cause = dj->r->cause >= 0 ? dj->r->cause : (long)dj->index;
		const struct job *root = &run->jobs[j->r->cause];
		snprintf(j->r->first_error, sizeof(j->r->first_error), "dependency %s on %s: %s",
			 s->u->packages[root->package].name, s->u->targets[root->target].name,
			 build_outcome_name(root->r->outcome));
		finish_without_running(j, BUILD_SKIPPED);
		return;
	}
	struct buildkey_dep *deps = calloc(j->n_deps ? j->n_deps : 1, sizeof(*deps));
	struct rp_error err;
	if (!deps) {
		set_line(j->r->first_error, sizeof(j->r->first_error), "out of memory");
		finish_without_running(j, BUILD_ERROR);
		return;
	}
	for (size_t d = 0; d < j->n_deps; d++) {
		deps[d].name = s->u->packages[run->jobs[j->deps[d]].package].name;
		deps[d].output_hash = run->jobs[j->deps[d]].r->output_hash;
	}
	/* The one job a worker was asked for may be another variant of the package's build. */
	int selected = s->opts.only_package && strcmp(s->opts.only_package, p->name) == 0 &&
		       (!s->opts.only_target || strcmp(s->opts.only_target, s->u->targets[j->target].name) == 0);
	j->coverage = selected && s->variant && strcmp(s->variant, "coverage") == 0;
	j->fuzz = selected && s->variant && strcmp(s->variant, "fuzz") == 0;
	struct buildkey_input in = { p, &s->u->targets[j->target], j->tree,
				     j->coverage ? "coverage" : j->fuzz ? "fuzz" : "build", deps, j->n_deps };
	int rc = buildkey_compute(&in, j->r->key, &err);
	free(deps);
	if (rc < 0) {
		set_line(j->r->first_error, sizeof(j->r->first_error), err.msg);
		finish_without_running(j, BUILD_ERROR);
		return;
	}
	/* The one job a worker was asked for: its key must be the scheduler's. */
	if (selected && s->expect_key && strcmp(s->expect_key, j->r->key) != 0) {
		snprintf(j->r->category, sizeof(j->r->category), "infrastructure");
		snprintf(j->r->first_error, sizeof(j->r->first_error),
			 "build key mismatch: computed %s, expected %.64s", j->r->key, s->expect_key);
		finish_without_running(j, BUILD_ERROR);
		return;
	}
	/* A fuzz job is about the time it fuzzes, not about its build: never an answer from the cache. */
	if (!s->opts.no_cache && !j->fuzz && !(s->opts.fresh_package && strcmp(s->opts.fresh_package, p->name) == 0)) {
		struct store_build b;
		pthread_mutex_lock(&s->store_lock);
		rc = store_build_get(s->store, j->r->key, &b, &err);
		pthread_mutex_unlock(&s->store_lock);
		/* A cached output whose archive went missing is built again, which restores it. */
		if (rc == 0 && b.output_hash && strcmp(b.output_hash, ARTIFACT_EMPTY_HASH) != 0 &&
		    !artifact_present(s, j->r->key)) {
			store_build_release(&b);
			rc = RP_ENOTFOUND;
		}
		if (rc == 0) {
			j->r->cached = 1;
			run->report->cached++;
			if (b.output_hash)
				snprintf(j->r->output_hash, sizeof(j->r->output_hash), "%s", b.output_hash);
			j->r->failed_step = !b.failed_step ? NULL : strcmp(b.failed_step, "build") == 0 ? "build" : "test";
			snprintf(j->r->category, sizeof(j->r->category), "%s", b.category ? b.category : "");
			set_line(j->r->first_error, sizeof(j->r->first_error), b.first_error ? b.first_error : "");
			snprintf(j->r->log_path, sizeof(j->r->log_path), "%s", b.log_location ? b.log_location : "");
			j->r->duration_ms = (uint64_t)b.duration_ms;
			enum build_outcome outcome = strcmp(b.status, "pass") == 0 ? BUILD_PASS : BUILD_FAIL;
			store_build_release(&b);
			finish_without_running(j, outcome);
			return;
		}
	}
	if (s->opts.cached_deps_only && s->opts.only_package && !selected) {
		snprintf(j->r->category, sizeof(j->r->category), "infrastructure");
		snprintf(j->r->first_error, sizeof(j->r->first_error),
			 "not in the build cache (build key %s), and only %.64s is built here", j->r->key,
			 s->opts.only_package);
		finish_without_running(j, BUILD_ERROR);
		return;
	}
	const char *why;
	if (!session_backend(s, j->target, &why)) {
		snprintf(j->r->category, sizeof(j->r->category), "infrastructure");
		set_line(j->r->first_error, sizeof(j->r->first_error), why);
		finish_without_running(j, BUILD_ERROR);
		return;
	}
	if (!(j->p = calloc(1, sizeof(*j->p)))) {
		set_line(j->r->first_error, sizeof(j->r->first_error), "out of memory");
		finish_without_running(j, BUILD_ERROR);
		return;
	}
	j->p->prefix_lock = -1;
	take_slot(run, j);
	j->state = JOB_RUNNING;
	j->r->attempts = 1;
	run->running++;
	j->work.data = j;
	uv_queue_work(&run->loop, &j->work, work_prepare, after_prepare);
	progress(run, NULL);
}

static void schedule(struct run *run)
{
	/* Starting a job may finish it at once (cache, skip), which frees a slot: loop until stable. */
	int progressed = 1;
	while (progressed) {
		progressed = 0;
		for (size_t i = 0; i < run->n_jobs && run->running < 2 * run->s->opts.jobs + 2; i++) {
			struct job *j = &run->jobs[i];
			if (j->state != JOB_WAITING || j->waiting)
				continue;
			start_job(j);
			progressed = 1;
		}
	}
}

static void job_finished(struct job *j)
{
	struct run *run = j->run;
	run->report->counts[j->r->outcome]++;
	for (size_t i = j->index + 1; i < run->n_jobs; i++) {
		struct job *o = &run->jobs[i];
		for (size_t d = 0; d < o->n_deps; d++)
			if (o->deps[d] == j->index)
				o->waiting--;
	}
	progress(run, j->r);
}

/* ---- one job's phases ------------------------------------------------------ */

/*
 * The process backend's stable prefix of `package` on `target`: its files are
 * at the paths the package's pkg-config files name, for every dependent.
 * Guarded by "<prefix>.lock" (flock) against other jobs and other ripple
 * processes; the lock file also holds the output hash of the build the
 * prefix holds, empty while it is being changed (one file per package, not
 * two: creating files dominated a cold build of small packages).
 */
static void stable_prefix(const struct build_session *s, size_t target, size_t package, char *out, size_t size)
{
	snprintf(out, size, "%s/prefix/%.64s/%.64s", s->cache, s->u->targets[target].name,
		 s->u->packages[package].name);
}

static int lock_prefix(const char *prefix, struct rp_error *err)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s.lock", prefix);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return rp_error_set(err, RP_EIO, "cannot open %s: %s", path, strerror(errno));
	/*
	 * Never wait here: this runs on the thread pool, and a pool thread blocked
	 * on a lock another ripple holds could be the one that process's own job
	 * needs to release it. A busy prefix sends the job back to wait (RP_EBUSY).
	 */
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EINTR)
			continue;
		int busy = errno == EWOULDBLOCK;
		close(fd);
		return busy ? rp_error_set(err, RP_EBUSY, "%s is in use by another job", path)
			    : rp_error_set(err, RP_EIO, "cannot lock %s: %s", path, strerror(errno));
	}
	return fd;
}

static void unlock_prefix(int fd)
{
	if (fd >= 0)
		close(fd); /* closing drops the flock */
}

/* Whether the prefix whose lock is `lock_fd` (held) holds the build of `output_hash`. */
static int prefix_holds(int lock_fd, const char *output_hash)
{
	char held[ARTIFACT_HEX_LEN + 2];
	ssize_t n = pread(lock_fd, held, ARTIFACT_HEX_LEN + 1, 0);
	if (n <= 0)
		return 0;
	held[n] = '\0';
	return strcmp(held, output_hash) == 0;
}

/* Records the build the prefix holds (NULL: none, it is about to change) in its lock file `lock_fd` (held). */
static int mark_prefix(int lock_fd, const char *output_hash)
{
	if (!output_hash)
		return ftruncate(lock_fd, 0);
	size_t len = strlen(output_hash);
	if (pwrite(lock_fd, output_hash, len, 0) != (ssize_t)len)
		return -1;
	return ftruncate(lock_fd, (off_t)len);
}

/* Makes a dependency's stable prefix hold exactly its build, unless it already does. */
static int materialize(struct build_session *s, const struct job *dep, const char *archive, const char *sha256,
		       int64_t size, struct rp_error *err)
{
	char prefix[PATH_MAX + 8];
	stable_prefix(s, dep->target, dep->package, prefix, sizeof(prefix));
	int fd = lock_prefix(prefix, err), rc = 0;
	if (fd < 0)
		return fd;
	if (!prefix_holds(fd, dep->r->output_hash)) {
		mark_prefix(fd, NULL);
		workspace_remove(prefix);
		rc = artifact_unpack(archive, sha256, size, prefix, 0, err);
		if (rc == 0 && mark_prefix(fd, dep->r->output_hash) < 0)
			rc = rp_error_set(err, RP_EIO, "cannot mark %s: %s", prefix, strerror(errno));
	}
	unlock_prefix(fd);
	return rc;
}

/* Thread pool: workspace, checkout, the dependencies' artifacts layered into the prefix. */
/* What build_fuzz.c needs of fuzz job `j`. */
static void fuzz_job_of(const struct job *j, struct build__fuzz_job *fj)
{
	const struct build_session *s = j->run->s;
	*fj = (struct build__fuzz_job){ .package = &s->u->packages[j->package],
					.target = s->u->targets[j->target].name,
					.commit = j->r->commit,
					.src = j->p->src,
					.cache = s->cache,
					.reproduce = s->fuzz_reproduce,
					.seconds = s->fuzz_seconds,
					.report_name = j->p->fuzz_report_name,
					.guest_src = j->p->fuzz_guest_src[0] ? j->p->fuzz_guest_src : NULL };
}

static void work_prepare(uv_work_t *w)
{
	struct job *j = w->data;
	struct run *run = j->run;
	struct build_session *s = run->s;
	const struct rp_package *p = &s->u->packages[j->package];
	struct rp_error *err = &j->work_err;
	struct mirror *m = NULL;
	char mirrors[PATH_MAX + 16];
	int rc;

	if (j->p->slot < 0)
		snprintf(j->p->workdir, sizeof(j->p->workdir), "%s/work/%ld-%lu-%zu", s->cache,
			 (long)getpid(), s->serial, j->index);
	else
		snprintf(j->p->workdir, sizeof(j->p->workdir), "%s/work/%ld-%lu-w%ld", s->cache,
			 (long)getpid(), s->serial, j->p->slot);
	snprintf(j->p->src, sizeof(j->p->src), "%s/src", j->p->workdir);
	snprintf(j->p->tmp, sizeof(j->p->tmp), "%s/tmp", j->p->workdir);
	j->p->fuzz_guest_src[0] = '\0';
	snprintf(j->p->fuzz_report_name, sizeof(j->p->fuzz_report_name), "%.64s.%ld-%lu-%zu", j->r->key, (long)getpid(),
		 s->serial, j->index);
	/*
	 * The process backend runs on host paths, so a package's prefix must stay
	 * at one path for its outputs (pkg-config files name it) to be reproducible.
	 */
	int process = s->backends[j->target]->runner == RP_RUNNER_PROCESS;
	/* A coverage build is no dependency's: the package's stable prefix keeps its plain build. */
	int stable = process && !j->coverage && !j->fuzz;
	if (stable)
		stable_prefix(s, j->target, j->package, j->p->prefix, sizeof(j->p->prefix));
	else
		snprintf(j->p->prefix, sizeof(j->p->prefix), "%s/prefix", j->p->workdir);
	/* A reused work directory was emptied by the job before; its src, tmp and prefix stay. */
	if (!j->p->reused)
		workspace_remove(j->p->workdir);
	if (stable) {
		char parent[PATH_MAX + 8];
		snprintf(parent, sizeof(parent), "%s/prefix/%.64s", s->cache, s->u->targets[j->target].name);
		if ((rc = build__mkdirs(parent, err)) < 0 || (rc = j->p->prefix_lock = lock_prefix(j->p->prefix, err)) < 0)
			goto out;
		mark_prefix(j->p->prefix_lock, NULL);
	}
	/* Emptied rather than removed: a directory made again costs more than one kept. */
	if (empty_dir(j->p->prefix, NULL) < 0)
		workspace_remove(j->p->prefix);
	/* Only the process backend runs on the host's paths; a sandbox has a private /tmp. */
	if ((process && (rc = build__mkdirs(j->p->tmp, err)) < 0) || (rc = build__mkdirs(j->p->prefix, err)) < 0)
		goto out;
	snprintf(mirrors, sizeof(mirrors), "%s/mirrors", s->cache);
	git_oid commit;
	if ((rc = mirror_open(mirrors, p->repo, s->u->dir, &m, err)) < 0)
		goto out;
	if (git_oid_fromstr(&commit, j->r->commit) < 0) {
		rc = rp_error_set(err, RP_EINVAL, "bad commit id %s", j->r->commit);
		goto out;
	}
	if ((rc = workspace_checkout(m, &commit, j->p->src, err)) < 0)
		goto out;
	if (j->fuzz) {
		struct build__fuzz_job fj;
		fuzz_job_of(j, &fj);
		if ((rc = build__fuzz_stage(&fj, err)) < 0)
			goto out;
		if ((rc = build__fuzz_env(&fj, &j->fuzz_env, &j->n_fuzz_env)) < 0) {
			rp_error_set(err, rc, "out of memory");
			goto out;
		}
	}
	/*
	 * The layers: every dependency, transitively (computed here rather than
	 * kept per job, so a large universe does not hold them all at once).
	 */
	size_t *stack = malloc((run->n_jobs + 1) * sizeof(*stack)), top = 0;
	unsigned char *seen = calloc(run->n_jobs ? run->n_jobs : 1, 1);
	if (!stack || !seen) {
		free(stack);
		free(seen);
		rc = rp_error_set(err, RP_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t d = 0; d < j->n_deps; d++)
		if (!seen[j->deps[d]]++)
			stack[top++] = j->deps[d];
	while (top) {
		const struct job *dj = &run->jobs[stack[--top]];
		for (size_t d = 0; d < dj->n_deps; d++)
			if (!seen[dj->deps[d]]++)
				stack[top++] = dj->deps[d];
	}
	free(stack);
	for (size_t l = 0; l < run->n_jobs; l++) {
		if (!seen[l])
			continue;
		const struct job *dj = &run->jobs[l];
		struct store_artifact a;
		if (strcmp(dj->r->output_hash, ARTIFACT_EMPTY_HASH) == 0)
			continue;
		pthread_mutex_lock(&s->store_lock);
		rc = store_artifact_get(s->store, dj->r->key, "prefix", &a, err);
		pthread_mutex_unlock(&s->store_lock);
		if (rc < 0) {
			free(seen);
			goto out;
		}
		char archive[PATH_MAX + 32];
		snprintf(archive, sizeof(archive), "%s/%s", s->cache, a.location);
		/* On host paths, a dependency's pkg-config file names its own prefix: it must hold it. */
		if (process)
			rc = materialize(s, dj, archive, a.sha256, a.size, err);
		if (rc == 0)
			rc = artifact_unpack(archive, a.sha256, a.size, j->p->prefix, ARTIFACT_UNPACK_MERGE, err);
		store_artifact_release(&a);
		if (rc < 0) {
			free(seen);
			goto out;
		}
	}
	free(seen);
	rc = artifact_layer_scan(j->p->prefix, &j->layer, err);
out:
	mirror_close(m);
	j->work_rc = rc;
	j->waits = rc == RP_EBUSY;
}

static void job_done(struct job *j);
enum step_kind { STEP_KIND_BUILD, STEP_KIND_TEST, STEP_KIND_COVERAGE };
static void start_step(struct job *j, enum step_kind kind);
static void after_pack(uv_work_t *w, int status);
static void work_pack(uv_work_t *w);

static void fail_infrastructure(struct job *j, const char *why)
{
	j->r->outcome = BUILD_ERROR;
	snprintf(j->r->category, sizeof(j->r->category), "infrastructure");
	set_line(j->r->first_error, sizeof(j->r->first_error), why);
}

static void on_prepared(struct backend_job *bjob, int status, const struct rp_error *err, void *data)
{
	struct job *j = data;
	if (status < 0) {
		fail_infrastructure(j, err ? err->msg : "the backend could not prepare the job");
		j->work.data = j;
		uv_queue_work(&j->run->loop, &j->work, work_pack, after_pack);
		return;
	}
	j->bjob = bjob;
	struct run *run = j->run;
	if (run->stepping < run->s->opts.jobs) {
		run->stepping++;
		start_step(j, STEP_KIND_BUILD);
	} else {
		run->step_queue[(run->queue_head + run->queue_len++) % run->n_jobs] = j->index;
	}
}

/* The resource limits a target's options ask for (docs/manifest.md); 0 leaves one unset. */
static struct step_limits target_limits(const struct rp_target *t)
{
	struct step_limits l = { 0 };
	json_t *v;
	if (t->runner != RP_RUNNER_PROCESS && t->runner != RP_RUNNER_SANDBOX)
		return l; /* a guest's "memory" is the guest's, not a limit of the host side's steps */
	if ((v = json_object_get(t->options, "cpu_seconds")) && json_is_integer(v) && json_integer_value(v) > 0)
		l.cpu_seconds = (uint64_t)json_integer_value(v);
	if ((v = json_object_get(t->options, "memory")) && json_is_integer(v) && json_integer_value(v) > 0)
		l.address_space = (uint64_t)json_integer_value(v) << 20;
	if ((v = json_object_get(t->options, "open_files")) && json_is_integer(v) && json_integer_value(v) > 0)
		l.open_files = (uint64_t)json_integer_value(v);
	if ((v = json_object_get(t->options, "file_size")) && json_is_integer(v) && json_integer_value(v) > 0)
		l.file_size = (uint64_t)json_integer_value(v) << 20;
	return l;
}

static void after_prepare(uv_work_t *w, int status)
{
	struct job *j = w->data;
	struct rp_error err;
	if (status < 0 || j->work_rc < 0) {
		fail_infrastructure(j, j->work_rc < 0 ? j->work_err.msg : "cancelled");
		uv_queue_work(&j->run->loop, &j->work, work_pack, after_pack);
		return;
	}
	int process = j->run->s->backends[j->target]->runner == RP_RUNNER_PROCESS;
	struct backend_job_spec spec = { .workspace = j->p->src, .prefix = j->p->prefix, .sysroot = NULL,
					 .tmp = process ? j->p->tmp : NULL,
					 .limits = target_limits(&j->run->s->u->targets[j->target]) };
	if (backend_prepare_job(j->run->s->backends[j->target], &j->run->loop, &spec, on_prepared, j, &err) < 0) {
		fail_infrastructure(j, err.msg);
		uv_queue_work(&j->run->loop, &j->work, work_pack, after_pack);
	}
}

static void on_finished(struct backend_job *bjob, int status, const struct rp_error *err, void *data)
{
	struct job *j = data;
	(void)bjob;
	j->bjob = NULL;
	if (status < 0 && j->r->outcome != BUILD_ERROR)
		fail_infrastructure(j, err ? err->msg : "the backend could not finish the job");
	j->work.data = j;
	uv_queue_work(&j->run->loop, &j->work, work_pack, after_pack);
}

static void end_steps(struct job *j)
{
	struct run *run = j->run;
	struct rp_error err;
	/* The slot passes to the next prepared job. */
	if (run->queue_len) {
		size_t next = run->step_queue[run->queue_head];
		run->queue_head = (run->queue_head + 1) % run->n_jobs;
		run->queue_len--;
		start_step(&run->jobs[next], STEP_KIND_BUILD);
	} else {
		run->stepping--;
	}
	if (backend_finish_job(j->bjob, on_finished, j, &err) < 0) {
		fail_infrastructure(j, err.msg);
		j->bjob = NULL;
		uv_queue_work(&j->run->loop, &j->work, work_pack, after_pack);
	}
}

static void free_env(char **env)
{
	for (size_t i = 0; env && env[i]; i++)
		free(env[i]);
	free(env);
}

/* Whether job `j`'s test runs in a guest its backend boots (vm, xen) rather than beside its build. */
static int job_in_guest(const struct job *j)
{
	return backend_has_guest(j->run->s->backends[j->target]);
}

/* What job `j`'s test step runs; NULL: it has none. */
static const char *job_test_script(const struct job *j)
{
	const struct rp_package *p = &j->run->s->u->packages[j->package];
	if (j->fuzz)
		return p->n_fuzz ? build__fuzz_script : NULL;
	if (job_in_guest(j))
		return p->has_guest ? p->guest_test : NULL;
	return p->test;
}

static void on_step_done(struct step *step, const struct step_result *res, void *data)
{
	struct job *j = data;
	(void)step;
	j->step = NULL;
	if (j->in_coverage)
		j->coverage_res = *res;
	else if (j->in_test)
		j->test_res = *res;
	else
		j->build_res = *res;
	if (!j->in_test && !j->in_coverage && res->status == STEP_PASSED && job_test_script(j)) {
		start_step(j, STEP_KIND_TEST); /* which records a cancelled test when the run is being cancelled */
		return;
	}
	/*
	 * Only passing tests are measured: a failed run's figures measure the
	 * failure (tests that stopped early), not what the tests cover.
	 */
	if (j->coverage && !j->in_coverage && res->status == STEP_PASSED) {
		start_step(j, STEP_KIND_COVERAGE);
		return;
	}
	end_steps(j);
}

/* Whether compiler flags `name` (now `value`) of job `j` need -g added: its ABI is dumped, and it has none. */
static int wants_g(const struct job *j, const struct rp_package *p, const char *name, const char *value)
{
	/* A coverage build is measured, not dumped: its flags are the package's and --coverage only. */
	if (!p->has_api || j->coverage || j->fuzz || strcmp(name, "LDFLAGS") == 0)
		return 0;
	for (const char *v = value; (v = strstr(v, "-g")); v += 2) {
		int starts = v == value || v[-1] == ' ' || v[-1] == '\t';
		/* -g, -g3, -ggdb, -gdwarf-4: any debug info; not -gno-... nor -gsplit-dwarf alone */
		if (starts && strncmp(v, "-gno", 4) != 0 && strncmp(v, "-gsplit", 7) != 0)
			return 0;
	}
	return 1;
}

/* The environment every step of a job sees (see docs/manifest.md). Returns a NULL-terminated list or NULL. */
static char **job_env(struct job *j)
{
	const struct build_session *s = j->run->s;
	const struct rp_package *p = &s->u->packages[j->package];
	const struct backend_paths *paths = backend_job_paths(j->bjob);
	const char *pre = paths->prefix;
	size_t n = 0, cap = p->n_env + 24 + j->n_fuzz_env;
	char **env = calloc(cap, sizeof(*env));
	if (!env)
		return NULL;
#define ADD(...)                                                              \
	do {                                                                  \
		if (asprintf(&env[n], __VA_ARGS__) < 0) {                     \
			env[n] = NULL;                                        \
			goto fail;                                            \
		}                                                             \
		n++;                                                          \
	} while (0)
	ADD("PATH=%s/bin:/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin", pre);
	ADD("PKG_CONFIG_PATH=%s/lib/pkgconfig:%s/share/pkgconfig", pre, pre);
	ADD("CPATH=%s/include", pre);
	ADD("LIBRARY_PATH=%s/lib", pre);
	ADD("LD_LIBRARY_PATH=%s/lib", pre);
	ADD("HOME=%s", paths->tmp ? paths->tmp : "/tmp");
	ADD("LANG=C.UTF-8");
	ADD("SOURCE_DATE_EPOCH=0");
	ADD("RIPPLE_PACKAGE=%s", p->name);
	ADD("RIPPLE_TARGET=%s", s->u->targets[j->target].name);
	ADD("RIPPLE_COMMIT=%s", j->r->commit);
	/*
	 * Flags appended to the compiler's, after whatever the package sets, so
	 * its own build files stay untouched: --coverage for a coverage build,
	 * and -g for a package whose ABI is dumped (abidw reads the types from
	 * the debug info) when it does not ask for it itself.
	 */
	static const char *const flags[] = { "CFLAGS", "CXXFLAGS", "LDFLAGS" };
	/* A fuzz build is built as OSS-Fuzz builds (docs/fuzz.md): clang, sanitizers, LIB_FUZZING_ENGINE. */
	const char *append[3] = { "", "", "" };
	if (j->coverage)
		append[0] = append[1] = append[2] = " --coverage";
	if (j->fuzz && p->fuzz_engine == RP_FUZZ_AFL) {
		append[0] = append[1] = " " BUILD_FUZZ_AFL_CFLAGS;
		append[2] = " " BUILD_FUZZ_LDFLAGS;
		ADD("CC=" BUILD_FUZZ_AFL_CC);
		ADD("CXX=" BUILD_FUZZ_AFL_CXX);
		ADD("LIB_FUZZING_ENGINE=" BUILD_FUZZ_AFL_DRIVER);
		ADD("AFL_QUIET=1");
	} else if (j->fuzz) {
		append[0] = append[1] = " " BUILD_FUZZ_CFLAGS;
		append[2] = " " BUILD_FUZZ_LDFLAGS;
		ADD("CC=clang");
		ADD("CXX=clang++");
		ADD("LIB_FUZZING_ENGINE=" BUILD_FUZZ_ENGINE);
	}
	int flag_set[3] = { 0, 0, 0 };
	for (size_t i = 0; i < p->n_env; i++) {
		int f = -1;
		for (int k = 0; k < 3; k++)
			if (strcmp(p->env[i].name, flags[k]) == 0)
				f = k;
		if (f >= 0) {
			flag_set[f] = 1;
			ADD("%s=%s%s%s", p->env[i].name, p->env[i].value, wants_g(j, p, flags[f], p->env[i].value) ? " -g" : "",
			    append[f]);
		} else if (!(j->fuzz && (strcmp(p->env[i].name, "CC") == 0 || strcmp(p->env[i].name, "CXX") == 0))) {
			ADD("%s=%s", p->env[i].name, p->env[i].value);
		}
	}
	for (int k = 0; k < 3; k++) {
		int g = !flag_set[k] && wants_g(j, p, flags[k], "");
		if (!flag_set[k] && (g || *append[k]))
			ADD("%s=%s%s", flags[k], g ? "-g" : "", g ? append[k] : append[k] + (*append[k] == ' '));
	}
	for (size_t i = 0; j->in_test && j->fuzz && i < j->n_fuzz_env; i++)
		ADD("%s", j->fuzz_env[i]);
#undef ADD
	return env;
fail:
	for (size_t i = 0; i < n; i++)
		free(env[i]);
	free(env);
	return NULL;
}

/*
 * A coverage job's last step: gcc's gcov over every object's notes (.gcno;
 * gcov reads the .gcda beside each when the tests wrote one), inside the
 * job's backend, where the paths the compiler recorded are valid, with the
 * JSON documents on stdout. Read on the host afterwards (work_pack).
 */
#define BUILD_COVERAGE_SCRIPT "find . -name '*.gcno' -exec gcov --json-format --stdout --branch-probabilities {} +"

static const char *const step_names[] = { "build", "test", "coverage" };

static void start_step(struct job *j, enum step_kind kind)
{
	struct build_session *s = j->run->s;
	const struct rp_package *p = &s->u->packages[j->package];
	struct rp_error err;
	struct step_result *res = kind == STEP_KIND_COVERAGE ? &j->coverage_res
				  : kind == STEP_KIND_TEST   ? &j->test_res
							     : &j->build_res;
	if (j->run->cancelling) {
		/* The run is being cancelled: the step never starts, and the job is not a pass. */
		res->status = STEP_CANCELLED;
		res->started_ns = 1;
		end_steps(j);
		return;
	}
	j->in_test = kind == STEP_KIND_TEST;
	j->in_coverage = kind == STEP_KIND_COVERAGE;
	char **env = job_env(j);
	char *log = kind == STEP_KIND_COVERAGE ? j->p->coverage_log : kind == STEP_KIND_TEST ? j->p->test_log
											      : j->p->build_log;
	/* Per process, session and attempt: a re-run, another slot or another ripple never truncates it. */
	snprintf(log, PATH_MAX, "%s/logs/%.64s.%ld-%lu.%u.%s.log", s->cache, j->r->key, (long)getpid(),
		 s->serial, j->r->attempts, step_names[kind]);
	/* A guest's programs are made on the host side, by the build step, after the build itself. */
	char *build_then_prepare = NULL;
	int in_guest = job_in_guest(j);
	if (kind == STEP_KIND_BUILD && in_guest && p->has_guest && p->guest_prepare) {
		size_t len = strlen(p->build) + strlen(p->guest_prepare) + 16;
		if ((build_then_prepare = malloc(len)))
			snprintf(build_then_prepare, len, "{\n%s\n} && {\n%s\n}", p->build, p->guest_prepare);
		else {
			free_env(env);
			env = NULL;
		}
	}
	struct build__fuzz_job fj;
	if (j->fuzz)
		fuzz_job_of(j, &fj);
	struct step_spec spec = {
		.script = kind == STEP_KIND_COVERAGE ? BUILD_COVERAGE_SCRIPT
			  : kind == STEP_KIND_TEST   ? job_test_script(j)
			  : build_then_prepare	     ? build_then_prepare
						     : p->build,
		.env = (const char *const *)env,
		/* A fuzz step lasts what its targets are given, whatever the package's timeout says. */
		.timeout_ms = kind == STEP_KIND_TEST && j->fuzz ? build__fuzz_budget_ms(&fj) : (uint64_t)p->timeout * 1000,
		/* gcov's documents go to a file, not the log: silence is no sign of a hang there; nor is it
		 * while libFuzzer minimizes a crash. */
		.idle_timeout_ms = kind == STEP_KIND_COVERAGE || (kind == STEP_KIND_TEST && j->fuzz)
					   ? 0
					   : (uint64_t)p->output_timeout * 1000,
		.log_path = log,
	};
	if (kind == STEP_KIND_COVERAGE) {
		snprintf(j->p->gcov_out, sizeof(j->p->gcov_out), "%s/gcov.json", j->p->workdir);
		snprintf(j->p->job_src, sizeof(j->p->job_src), "%s", backend_job_paths(j->bjob)->workspace);
		spec.stdout_path = j->p->gcov_out;
	}
	struct backend_guest guest = { .payload = (const char *const *)p->guest_payload, .n_payload = p->n_guest_payload };
	/*
	 * A fuzz job on a guest target fuzzes in the guest: it gets its fuzz
	 * targets, their seeds and the staged corpus, and brings BUILD_FUZZ_DIR
	 * (the corpus grown, the crashes, the logs) back for build_fuzz.c.
	 */
	static const char *const fuzz_outputs[] = { BUILD_FUZZ_DIR };
	const char **fuzz_payload = NULL;
	if (kind == STEP_KIND_TEST && in_guest && j->fuzz && env) {
		size_t n = 0;
		if (!(fuzz_payload = calloc(1 + 2 * p->n_fuzz, sizeof(*fuzz_payload)))) {
			free_env(env);
			env = NULL;
		} else {
			fuzz_payload[n++] = BUILD_FUZZ_DIR;
			for (size_t i = 0; i < p->n_fuzz; i++) {
				fuzz_payload[n++] = p->fuzz[i].binary;
				if (p->fuzz[i].corpus)
					fuzz_payload[n++] = p->fuzz[i].corpus;
			}
			guest = (struct backend_guest){ .payload = fuzz_payload, .n_payload = n, .outputs = fuzz_outputs,
							.n_outputs = 1 };
			snprintf(j->p->fuzz_guest_src, sizeof(j->p->fuzz_guest_src), "%s",
				 backend_job_paths(j->bjob)->workspace);
		}
	}
	int rc = !env				 ? rp_error_set(&err, RP_ENOMEM, "out of memory")
		 : kind == STEP_KIND_TEST && in_guest ? backend_start_guest_step(j->bjob, &spec, &guest, on_step_done, j,
										&j->step, &err)
							: backend_start_step(j->bjob, &spec, on_step_done, j, &j->step, &err);
	free(fuzz_payload);
	free_env(env);
	free(build_then_prepare);
	if (rc < 0) {
		fail_infrastructure(j, err.msg);
		end_steps(j);
		return;
	}
	if (s->opts.on_step)
		s->opts.on_step(j->package, j->target, step_names[kind], log, s->opts.data);
}

/*
 * Thread pool: a coverage job's figures from what gcov wrote, as the
 * artifact "coverage" of its key (ripple's JSON with per-line data, files
 * relative to the repository's root). RP_EINVAL with what is wrong.
 */
static int read_coverage(struct build_session *s, struct job *j, struct rp_error *err)
{
	char complaint[400], rel[160], path[PATH_MAX + 200], tmp[PATH_MAX + 220], dir[PATH_MAX + 64];
	/* A key covered again: its first figures stand, as its archive does. */
	if (artifact_present_named(s, j->r->key, "coverage"))
		return 0;
	if (coverage_gcov_log_complaint(j->p->coverage_log, complaint, sizeof(complaint)))
		return rp_error_set(err, RP_EINVAL, "gcov cannot use the coverage data: %s", complaint);
	FILE *fp = fopen(j->p->gcov_out, "rb");
	if (!fp)
		return rp_error_set(err, RP_EIO, "cannot read gcov's output %s: %s", j->p->gcov_out, strerror(errno));
	char *data = NULL;
	size_t len = 0, cap = 0, got;
	int rc = 0;
	do {
		if (len == cap) {
			char *more = realloc(data, cap = cap ? 2 * cap : 1u << 16);
			if (!more) {
				rc = rp_error_set(err, RP_ENOMEM, "out of memory reading gcov's output");
				break;
			}
			data = more;
		}
		got = fread(data + len, 1, cap - len, fp);
		len += got;
	} while (got > 0);
	fclose(fp);
	if (rc == 0 && len == 0)
		rc = rp_error_set(err, RP_EINVAL,
				  "no coverage data: the build compiled nothing with --coverage (does it take CFLAGS?)");
	struct cov_report rep = { 0 };
	json_t *doc = NULL;
	if (rc == 0)
		rc = coverage_report_init(&rep, j->p->job_src, err);
	if (rc == 0)
		rc = coverage_add_gcov_json(&rep, data, len, "gcov's output", err);
	free(data);
	if (rc == 0)
		rc = coverage_finish_at(&rep, j->p->src, NULL, err);
	if (rc == 0 && !(doc = coverage_to_json(&rep, 1)))
		rc = rp_error_set(err, RP_ENOMEM, "out of memory");
	coverage_report_release(&rep);
	if (rc < 0) {
		json_decref(doc);
		return rc;
	}
	snprintf(rel, sizeof(rel), "artifacts/%.2s/%s.coverage.json", j->r->key, j->r->key);
	snprintf(dir, sizeof(dir), "%s/artifacts/%.2s", s->cache, j->r->key);
	snprintf(path, sizeof(path), "%s/%s", s->cache, rel);
	snprintf(tmp, sizeof(tmp), "%s.%ld-%lu", path, (long)getpid(), s->serial);
	if ((rc = build__mkdirs(dir, err)) == 0 && json_dump_file(doc, tmp, JSON_COMPACT) != 0)
		rc = rp_error_set(err, RP_EIO, "cannot write %s", tmp);
	json_decref(doc);
	if (rc == 0 && rename(tmp, path) != 0)
		rc = rp_error_set(err, RP_EIO, "cannot rename %s: %s", tmp, strerror(errno));
	unlink(tmp);
	if (rc == 0)
		rc = record_artifact(s, j->r->key, "coverage", rel, err);
	return rc;
}

/*
 * Thread pool: the ABI dump of a package with an api block, as the artifact
 * "abi" of its key. A library that is not where the manifest says, or that
 * abidw cannot read, fails the job (the manifest promised it); abidw missing
 * on this machine is the infrastructure's.
 */
static void dump_abi(struct build_session *s, struct job *j, struct build_job_report *r)
{
	const struct rp_package *p = &s->u->packages[j->package];
	struct abi_dump_spec spec = { .prefix = j->p->prefix,
				      .library = p->api_library,
				      .headers = p->api_headers,
				      .deps = j->layer,
				      .work_dir = j->p->workdir };
	json_t *doc = NULL;
	struct rp_error err;
	char rel[160], path[PATH_MAX + 200], tmp[PATH_MAX + 220], dir[PATH_MAX + 64];
	/* A key built again (a flake check, a re-run): its first dump stands, as its archive does. */
	if (artifact_present_named(s, r->key, "abi"))
		return;
	int rc = abi_dump(&spec, &doc, NULL, &err);
	if (rc == 0) {
		snprintf(rel, sizeof(rel), "artifacts/%.2s/%s.abi.json", r->key, r->key);
		snprintf(dir, sizeof(dir), "%s/artifacts/%.2s", s->cache, r->key);
		snprintf(path, sizeof(path), "%s/%s", s->cache, rel);
		snprintf(tmp, sizeof(tmp), "%s.%ld-%lu", path, (long)getpid(), s->serial);
		if ((rc = build__mkdirs(dir, &err)) == 0 && json_dump_file(doc, tmp, JSON_COMPACT) != 0)
			rc = rp_error_set(&err, RP_EIO, "cannot write %s", tmp);
		if (rc == 0 && rename(tmp, path) != 0)
			rc = rp_error_set(&err, RP_EIO, "cannot rename %s: %s", tmp, strerror(errno));
		unlink(tmp);
		if (rc == 0)
			rc = record_artifact(s, r->key, "abi", rel, &err);
	}
	json_decref(doc);
	if (rc < 0) {
		int ours = rc == RP_ENOTFOUND || rc == RP_EINVAL; /* the library, not the machine */
		r->outcome = ours ? BUILD_FAIL : BUILD_ERROR;
		r->failed_step = "build";
		snprintf(r->log_path, sizeof(r->log_path), "%s", j->p->build_log);
		snprintf(r->category, sizeof(r->category), "%s", ours ? "api" : "infrastructure");
		set_line(r->first_error, sizeof(r->first_error), err.msg);
	}
}

/* Thread pool: archive the output, classify a failure, record the result, clean up. */
static void work_pack(uv_work_t *w)
{
	struct job *j = w->data;
	struct build_session *s = j->run->s;
	struct build_job_report *r = j->r;
	struct rp_error err;
	r->duration_ms = j->build_res.duration_ms + j->test_res.duration_ms;
	r->build_ms = j->build_res.duration_ms;
	r->test_ms = j->test_res.duration_ms;
	if (r->outcome != BUILD_ERROR) {
		const struct step_result *failed = NULL;
		if (j->build_res.status != STEP_PASSED) {
			failed = &j->build_res;
			r->failed_step = "build";
		} else if (j->test_res.started_ns && j->test_res.status != STEP_PASSED) {
			failed = &j->test_res;
			r->failed_step = "test";
		} else if (j->coverage_res.started_ns && j->coverage_res.status != STEP_PASSED) {
			failed = &j->coverage_res; /* the tail of testing: measuring what the tests ran */
			r->failed_step = "test";
		}
		if (failed && failed->error[0]) {
			r->outcome = BUILD_ERROR; /* the machine failed the step (a guest that never reported) */
			snprintf(r->category, sizeof(r->category), "infrastructure");
			set_line(r->first_error, sizeof(r->first_error), failed->error);
		} else if (failed && failed->lost) {
			r->outcome = BUILD_ERROR; /* the machine lost the step's exit status: retried, never cached */
			snprintf(r->category, sizeof(r->category), "infrastructure");
			snprintf(r->first_error, sizeof(r->first_error),
				 "the %s step's exit status was lost (another process reaped it)", r->failed_step);
		} else if (!failed)
			r->outcome = BUILD_PASS;
		else if (failed->status == STEP_TIMED_OUT)
			r->outcome = BUILD_TIMEOUT;
		else if (failed->status == STEP_CANCELLED)
			r->outcome = BUILD_CANCELLED;
		else
			r->outcome = BUILD_FAIL;
		const char *log = failed == &j->coverage_res				? j->p->coverage_log
				  : r->failed_step && strcmp(r->failed_step, "test") == 0 ? j->p->test_log
											  : j->p->build_log;
		if (!failed && s->u->packages[j->package].test)
			log = j->p->test_log;
		snprintf(r->log_path, sizeof(r->log_path), "%s", log);
		if (r->outcome == BUILD_ERROR)
			; /* said above */
		else if (failed == &j->coverage_res && r->outcome == BUILD_FAIL) {
			/* gcov itself failed: what it said, not a build failure's category. */
			char complaint[400];
			snprintf(r->category, sizeof(r->category), "coverage");
			if (coverage_gcov_log_complaint(j->p->coverage_log, complaint, sizeof(complaint)))
				snprintf(r->first_error, sizeof(r->first_error), "gcov cannot use the coverage data: %s",
					 complaint);
			else
				snprintf(r->first_error, sizeof(r->first_error), "gcov failed (exit status %d)",
					 failed->exit_status);
		}
		else if (r->outcome == BUILD_CANCELLED)
			snprintf(r->first_error, sizeof(r->first_error), "the run was cancelled during the %s step",
				 r->failed_step);
		else if (failed && build__classify(s->classifier, log, r->failed_step, failed, r->category,
						   sizeof(r->category), r->first_error, sizeof(r->first_error),
						   r->failed_test, sizeof(r->failed_test)) &&
			 r->outcome == BUILD_FAIL)
			r->outcome = BUILD_ERROR; /* the machine's fault: never cached, never blamed */
		/* A coverage job's figures, when its tests passed and gcov read their data. */
		int crc;
		if (j->coverage && j->coverage_res.started_ns && j->coverage_res.status == STEP_PASSED &&
		    (r->outcome == BUILD_PASS || r->outcome == BUILD_FAIL) && (crc = read_coverage(s, j, &err)) < 0) {
			/* Bad data is the code's (its build, its compiler); the disk failing is ours. A test failure
			 * already said stays said. */
			if (r->outcome == BUILD_PASS || crc != RP_EINVAL) {
				r->outcome = crc == RP_EINVAL ? BUILD_FAIL : BUILD_ERROR;
				r->failed_step = "test";
				snprintf(r->log_path, sizeof(r->log_path), "%s", j->p->coverage_log);
				snprintf(r->category, sizeof(r->category), "%s",
					 crc == RP_EINVAL ? "coverage" : "infrastructure");
				set_line(r->first_error, sizeof(r->first_error), err.msg);
			}
		}
		/* A fuzz job's findings: a crash fails it; a fuzzer that could not run already failed its step. */
		if (j->fuzz && j->test_res.started_ns && j->test_res.status == STEP_PASSED &&
		    (r->outcome == BUILD_PASS || r->outcome == BUILD_FAIL)) {
			struct build__fuzz_job fj;
			struct build__fuzz_verdict v;
			fuzz_job_of(j, &fj);
			int frc = build__fuzz_collect(&fj, &v, &err);
			snprintf(r->fuzz_report, sizeof(r->fuzz_report), "%s", v.report);
			if (frc < 0) {
				r->outcome = BUILD_ERROR;
				r->failed_step = "test";
				snprintf(r->category, sizeof(r->category), "infrastructure");
				set_line(r->first_error, sizeof(r->first_error), err.msg);
			} else if (v.crashed) {
				r->outcome = BUILD_FAIL;
				r->failed_step = "test";
				snprintf(r->category, sizeof(r->category), "fuzz");
				set_line(r->first_error, sizeof(r->first_error), v.first_error);
			}
		}
		/*
		 * An output exists whenever the build step passed, whatever the tests
		 * said (a coverage build's too: nobody builds on it, but a result
		 * names its output like any build's).
		 */
		if (j->build_res.status == STEP_PASSED && r->outcome != BUILD_CANCELLED) {
			char rel[128], archive[PATH_MAX + 160], dir[PATH_MAX + 64];
			struct artifact_info info;
			snprintf(rel, sizeof(rel), "artifacts/%.2s/%s.tar.zst", r->key, r->key);
			snprintf(dir, sizeof(dir), "%s/artifacts/%.2s", s->cache, r->key);
			snprintf(archive, sizeof(archive), "%s/%s", s->cache, rel);
			/*
			 * A build that installs nothing has the empty output: no archive to
			 * write or read (the dependencies' files are still checked unchanged).
			 */
			int adds = artifact_adds_entries(j->p->prefix, j->layer, &err);
			int rc = adds < 0 ? adds : 0, empty = adds == 0;
			/*
			 * A key built again (a flake check) whose archive is here already: the
			 * first output of a key stands, as its build record does. Only the
			 * content is hashed; the archive is neither packed anew nor replaced,
			 * since a build whose install embeds its own paths need not be byte-identical.
			 */
			int kept = !empty && rc == 0 && artifact_present(s, r->key);
			if (empty || kept)
				rc = artifact_hash_dir_except(j->p->prefix, j->layer, info.content_hash, &err);
			if (kept)
				empty = 1; /* nothing to pack or record below */
			if (rc == 0 && !empty)
				rc = build__mkdirs(dir, &err);
			if (rc == 0 && !empty)
				rc = artifact_pack(j->p->prefix, j->layer, archive, &info, &err);
			if (rc == 0 && !empty) {
				struct store_artifact a = { .build_key = r->key, .name = "prefix", .size = info.size,
							    .sha256 = info.sha256, .location = rel };
				pthread_mutex_lock(&s->store_lock);
				rc = store_artifact_put(s->store, &a, &err);
				pthread_mutex_unlock(&s->store_lock);
			}
			if (rc < 0) {
				/* A prefix that cannot be archived (an escaping symlink, a replaced file) is the package's fault. */
				r->outcome = rc == RP_EINVAL ? BUILD_FAIL : BUILD_ERROR;
				r->failed_step = "build";
				snprintf(r->log_path, sizeof(r->log_path), "%s", j->p->build_log);
				snprintf(r->category, sizeof(r->category), "%s", rc == RP_EINVAL ? "install" : "infrastructure");
				set_line(r->first_error, sizeof(r->first_error), err.msg);
			} else {
				memcpy(r->output_hash, info.content_hash, sizeof(r->output_hash));
			}
		}
		/* The library's ABI, from what the build installed (its tests do not change it). */
		/* A build that installed nothing has no library to dump (a step that only checks something). */
		if (s->u->packages[j->package].has_api && !j->coverage && !j->fuzz && r->output_hash[0] &&
		    strcmp(r->output_hash, ARTIFACT_EMPTY_HASH) != 0 &&
		    (r->outcome == BUILD_PASS || r->outcome == BUILD_FAIL))
			dump_abi(s, j, r);
		if (r->outcome == BUILD_PASS || r->outcome == BUILD_FAIL) {
			struct store_build b = { .build_key = r->key, .package = s->u->packages[j->package].name,
						 .target = s->u->targets[j->target].name, .commit_id = r->commit,
						 .status = r->outcome == BUILD_PASS ? "pass" : "fail",
						 .failed_step = r->outcome == BUILD_PASS ? NULL : r->failed_step,
						 .category = r->category[0] ? r->category : NULL,
						 .first_error = r->first_error[0] ? r->first_error : NULL,
						 .output_hash = r->output_hash[0] ? r->output_hash : NULL,
						 .duration_ms = (int64_t)r->duration_ms,
						 .log_location = r->log_path[0] ? r->log_path : NULL };
			pthread_mutex_lock(&s->store_lock);
			int put = store_build_put(s->store, &b, &err);
			pthread_mutex_unlock(&s->store_lock);
			if (put < 0) {
				/* The result stands for this run; only the cache missed it. */
				r->outcome = BUILD_ERROR;
				snprintf(r->category, sizeof(r->category), "infrastructure");
				set_line(r->first_error, sizeof(r->first_error), err.msg);
			}
		}
	}
	artifact_layer_free(j->layer);
	j->layer = NULL;
	/*
	 * A stable prefix stays: it holds this build (and its layers) for the
	 * dependents whose pkg-config files point at it, when the build has an output.
	 */
	if (j->p->prefix_lock >= 0) {
		mark_prefix(j->p->prefix_lock, r->output_hash[0] ? r->output_hash : NULL);
		unlock_prefix(j->p->prefix_lock);
		j->p->prefix_lock = -1;
	}
	if (!s->opts.keep_workdirs) {
		static const char *const keep[] = { "src", "tmp", "prefix", NULL };
		j->p->clean = j->p->slot >= 0 && empty_dir(j->p->workdir, keep) == 0;
		if (!j->p->clean)
			workspace_remove(j->p->workdir);
	}
}

static void on_again(uv_timer_t *t)
{
	schedule(t->data);
}

static void after_pack(uv_work_t *w, int status)
{
	struct job *j = w->data;
	struct run *run = j->run;
	(void)status;
	give_slot(run, j);
	if (j->waits) {
		/* Not started after all: back to the queue, tried again after a short pause. */
		j->waits = 0;
		memset(j->r->category, 0, sizeof(j->r->category));
		j->r->outcome = BUILD_PASS;
		j->r->first_error[0] = j->r->log_path[0] = '\0';
		memset(&j->build_res, 0, sizeof(j->build_res));
		memset(&j->test_res, 0, sizeof(j->test_res));
		memset(&j->coverage_res, 0, sizeof(j->coverage_res));
		free(j->p);
		j->p = NULL;
		j->state = JOB_WAITING;
		run->running--;
		if (!uv_is_active((uv_handle_t *)&run->again))
			uv_timer_start(&run->again, on_again, BUILD_BUSY_RETRY_MS, 0);
		return;
	}
	/*
	 * The machine failed, not the code: run the job again from a fresh
	 * workspace, up to BUILD_INFRA_ATTEMPTS times in all.
	 */
	if (j->r->outcome == BUILD_ERROR && j->r->attempts < BUILD_INFRA_ATTEMPTS && !run->cancelling) {
		j->r->attempts++;
		j->r->outcome = BUILD_PASS;
		j->r->failed_step = NULL;
		j->r->category[0] = j->r->first_error[0] = j->r->output_hash[0] = j->r->log_path[0] = '\0';
		memset(&j->build_res, 0, sizeof(j->build_res));
		memset(&j->test_res, 0, sizeof(j->test_res));
		memset(&j->coverage_res, 0, sizeof(j->coverage_res));
		j->in_test = j->in_coverage = 0;
		take_slot(run, j);
		uv_queue_work(&run->loop, &j->work, work_prepare, after_prepare);
		return;
	}
	job_done(j);
}

static void job_done(struct job *j)
{
	struct run *run = j->run;
	free(j->p);
	j->p = NULL;
	for (size_t i = 0; i < j->n_fuzz_env; i++)
		free(j->fuzz_env[i]);
	free(j->fuzz_env);
	j->fuzz_env = NULL;
	j->n_fuzz_env = 0;
	j->state = JOB_DONE;
	run->running--;
	run->done++;
	run->report->built++;
	job_finished(j);
	schedule(run);
	if (run->done == run->n_jobs)
		close_handles(run);
}

static void on_tick(uv_timer_t *t)
{
	progress(t->data, NULL);
}

static void cancel_run(struct run *run)
{
	run->cancelling = 1;
	for (size_t i = 0; i < run->n_jobs; i++)
		if (run->jobs[i].step)
			step_cancel(run->jobs[i].step);
}

static void on_signal(uv_signal_t *h, int signum)
{
	(void)signum;
	cancel_run(h->data);
}

static void on_cancel(uv_async_t *h)
{
	cancel_run(h->data);
}

/* Once every job is done: the loop ends when these are closed. */
static void close_handles(struct run *run)
{
	/* No build_cancel() may touch the async handle once it closes: a later one waits for the next run. */
	pthread_mutex_lock(&run->s->cancel_lock);
	run->s->active = NULL;
	pthread_mutex_unlock(&run->s->cancel_lock);
	uv_close((uv_handle_t *)&run->cancel, NULL);
	if (!run->s->opts.no_signal_handlers) {
		uv_close((uv_handle_t *)&run->sigint, NULL);
		uv_close((uv_handle_t *)&run->sigterm, NULL);
	}
	uv_close((uv_handle_t *)&run->tick, NULL);
	uv_close((uv_handle_t *)&run->again, NULL);
}

void build_cancel(struct build_session *s)
{
	pthread_mutex_lock(&s->cancel_lock);
	if (s->active)
		uv_async_send(&s->active->cancel);
	else
		s->cancel_pending = 1;
	pthread_mutex_unlock(&s->cancel_lock);
}

void build_cancel_reset(struct build_session *s)
{
	pthread_mutex_lock(&s->cancel_lock);
	s->cancel_pending = 0;
	pthread_mutex_unlock(&s->cancel_lock);
}

int build_run(struct build_session *s, const struct graph *g, const struct plan_change *changes, size_t n_changes,
	      const struct plan_change *pins, size_t n_pins, struct build_report *report, struct rp_error *err)
{
	struct run run = { .s = s, .report = report };
	struct plan plan;
	int rc;
	memset(report, 0, sizeof(*report));
	run.start_ns = uv_hrtime();
	if ((rc = plan_build(s->u, g, changes, n_changes, &plan, err)) < 0)
		return rc;
	rc = make_jobs(&run, g, &plan, pins, n_pins, err);
	plan_release(&plan);
	if (rc < 0)
		goto out;
	run.step_queue = malloc((run.n_jobs ? run.n_jobs : 1) * sizeof(*run.step_queue));
	/* A slot is made only when none is free, so at most one per job in flight. */
	run.free_slots = malloc((run.n_jobs ? run.n_jobs : 1) * sizeof(*run.free_slots));
	if (!run.step_queue || !run.free_slots) {
		rc = rp_error_set(err, RP_ENOMEM, "out of memory");
		goto out;
	}
	resolve_revisions(&run);
	if ((rc = uv_loop_init(&run.loop)) < 0) {
		rc = rp_error_set(err, RP_EIO, "cannot start the event loop: %s", uv_strerror(rc));
		goto out;
	}
	if (!s->opts.no_signal_handlers) {
		uv_signal_init(&run.loop, &run.sigint);
		uv_signal_init(&run.loop, &run.sigterm);
		run.sigint.data = run.sigterm.data = &run;
		uv_signal_start(&run.sigint, on_signal, SIGINT);
		uv_signal_start(&run.sigterm, on_signal, SIGTERM);
	}
	uv_async_init(&run.loop, &run.cancel, on_cancel);
	run.cancel.data = &run;
	pthread_mutex_lock(&s->cancel_lock);
	s->active = &run;
	if (s->cancel_pending) {
		s->cancel_pending = 0;
		run.cancelling = 1; /* before any job starts: every one ends cancelled */
	}
	pthread_mutex_unlock(&s->cancel_lock);
	uv_timer_init(&run.loop, &run.tick);
	uv_timer_init(&run.loop, &run.again);
	run.again.data = &run;
	run.tick.data = &run;
	if (s->opts.on_progress)
		uv_timer_start(&run.tick, on_tick, 1000, 1000);
	schedule(&run);
	if (run.done == run.n_jobs)
		close_handles(&run);
	uv_run(&run.loop, UV_RUN_DEFAULT);
	uv_loop_close(&run.loop);
	for (size_t k = 0; k < run.next_slot; k++) {
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "%s/work/%ld-%lu-w%zu", s->cache, (long)getpid(), s->serial, k);
		workspace_remove(dir);
	}
	report->elapsed_ms = elapsed_ms(&run);
	report->interrupted = run.cancelling;
out:
	for (size_t i = 0; i < run.n_jobs; i++)
		free(run.jobs[i].deps);
	free(run.jobs);
	free(run.step_queue);
	free(run.free_slots);
	if (rc < 0)
		build_report_release(report);
	return rc;
}

void build_report_release(struct build_report *report)
{
	free(report->jobs);
	memset(report, 0, sizeof(*report));
}

int build_session_artifact(struct build_session *s, const char *key, const char *name, char *path, size_t size,
			   struct rp_error *err)
{
	struct store_artifact a;
	struct stat st;
	pthread_mutex_lock(&s->store_lock);
	int rc = store_artifact_get(s->store, key, name, &a, err);
	pthread_mutex_unlock(&s->store_lock);
	if (rc < 0)
		return rc == RP_ENOTFOUND ? rp_error_set(err, RP_ENOTFOUND, "no artifact %s of build %.12s in %s", name, key,
							 s->cache)
					  : rc;
	snprintf(path, size, "%s/%s", s->cache, a.location);
	store_artifact_release(&a);
	if (stat(path, &st) != 0)
		return rp_error_set(err, RP_ENOTFOUND, "the artifact %s of build %.12s is recorded but %s is gone", name, key,
				    path);
	return 0;
}
