/*
 * worker.c — the worker loop of worker.h.
 *
 * Threads (DESIGN): the caller's thread fetches the universe, registers,
 * starts the others and then only watches the stop flag. Each slot has two
 * threads: the slot thread leases, prepares the dependencies, runs
 * build_run() (whose libuv loop runs on that same thread and calls on_step),
 * and reports; its streamer thread tails the job's step logs and PUTs them,
 * so a slow or absent scheduler never holds up a build. One heartbeat thread
 * renews the leases of every slot's job. Each thread that talks HTTP owns its
 * own client (and so its own connection).
 *
 * What a slot's job is lives in the slot under its lock: the heartbeat
 * thread and the stopping main thread read it and call build_cancel() under
 * that lock, only while the job is registered. A slot calls
 * build_cancel_reset() before it registers the next job, so a cancel that
 * arrives as a job ends can never reach the next one.
 */
#define _GNU_SOURCE /* asprintf */
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "artifact.h"
#include "backend.h"
#include "build.h"
#include "core/buildkey.h"
#include "core/graph.h"
#include "core/http_client.h"
#include "core/manifest.h"
#include "core/store.h"
#include "git.h"
#include "scheduler/plan.h"
#include "core/banned.h"

#define API "/api/v1"
#define WORKER_LEASE_WAIT_MS 25000
/* The long-poll's own HTTP limit: the wait plus the server's slack. */
#define WORKER_LEASE_TIMEOUT_MS (WORKER_LEASE_WAIT_MS + 20000)
#define WORKER_LOG_CHUNK (256u << 10)
#define WORKER_LOG_PERIOD_MS 200
/* Files and separator lines of one job log: two steps, three attempts, and the lines between. */
#define WORKER_LOG_SEGMENTS 16
#define WORKER_RETRY_BASE_MS 500
#define WORKER_RETRY_CAP_MS 30000
/* One line about an unreachable scheduler per this long, however many threads retry. */
#define WORKER_UNREACHABLE_LINE_MS 10000
/* A refused lease request (a 4xx other than 401/403) waits this long before the next. */
#define WORKER_REFUSED_PAUSE_MS 5000
#define WORKER_UNIVERSE_CAP (MANIFEST_MAX_BYTES + (1u << 20))

struct worker;

/* A part of the job log: a step's log file, or a line the worker adds between two. */
struct log_segment {
	char *path; /* a file, or NULL */
	char *text; /* or this text */
	uint64_t start, len;
	int sealed; /* len is final: a later segment exists, or the run ended */
};

struct slot {
	struct worker *w;
	unsigned index;
	pthread_t thread, streamer;
	int thread_started, streamer_started;
	struct http_client *http, *log_http;
	struct build_session *session;
	struct store *store; /* the slot's own connection to the cache's build cache */

	pthread_mutex_t lock; /* everything below */
	pthread_cond_t cond;  /* new log data, a flushed log, quitting */
	int has_job;
	int64_t job_id, fence;
	int cancel;			 /* the scheduler said cancel */
	int lost;			 /* the lease is not ours any more (409): report nothing */
	int stopped;			 /* the worker is stopping: the job is cancelled */
	volatile sig_atomic_t job_abort; /* any of the three: downloads give up */
	struct log_segment seg[WORKER_LOG_SEGMENTS];
	size_t n_seg;
	int streaming, finished, flushed, broken, stream_quit;
	uint64_t acked;			   /* bytes of the job log the scheduler has */
	volatile sig_atomic_t stream_stop; /* the streamer's retries give up */
};

struct worker {
	const struct worker_options *o;
	volatile sig_atomic_t *stop;
	volatile sig_atomic_t stopping; /* no new lease: *stop, or a fatal refusal */
	volatile sig_atomic_t quit;	/* the grace after stopping passed: every retry gives up */
	char cache[PATH_MAX];
	struct rp_universe *u;
	struct graph g;
	const char **targets; /* served: names borrowed from the universe */
	size_t n_targets;
	_Atomic int64_t lease_ms, heartbeat_ms; /* set by any slot's (re-)registration, read by the heartbeats */

	pthread_mutex_t line_lock; /* on_line calls, the fatal error, the unreachable-line clock */
	int fatal_rc;
	char fatal_msg[RP_ERROR_MAX];
	uint64_t unreachable_line_ms;

	struct slot *slots;
	unsigned n_slots;
	pthread_mutex_t state_lock; /* slots_running and the heartbeat's quit */
	pthread_cond_t state_cond;
	unsigned slots_running;
	int hb_quit, hb_started;
	pthread_t heartbeat;
	struct http_client *hb_http;
};

/* ---- small helpers ----------------------------------------------------------- */

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A CLOCK_REALTIME deadline `ms` from now, for pthread_cond_timedwait. */
static struct timespec deadline_in(uint64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

static void sleep_ms(uint64_t ms, const volatile sig_atomic_t *stop)
{
	uint64_t end = now_ms() + ms;
	while (!*stop && now_ms() < end) {
		struct timespec ts = { 0, 50 * 1000000L };
		nanosleep(&ts, NULL);
	}
}

static void line(struct worker *w, enum worker_line_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void line(struct worker *w, enum worker_line_kind kind, const char *fmt, ...)
{
	struct rp_error buf; /* rp_error_set makes it one printable line */
	char raw[RP_ERROR_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	rp_error_set(&buf, 0, "%s", raw);
	if (!w->o->on_line)
		return;
	pthread_mutex_lock(&w->line_lock);
	w->o->on_line(kind, buf.msg, w->o->data);
	pthread_mutex_unlock(&w->line_lock);
}

/* Stops the worker for good: a refused token, a refused registration. The first reason wins. */
static void fatal(struct worker *w, int rc, const char *msg)
{
	pthread_mutex_lock(&w->line_lock);
	if (!w->fatal_rc) {
		w->fatal_rc = rc;
		snprintf(w->fatal_msg, sizeof(w->fatal_msg), "%s", msg);
	}
	pthread_mutex_unlock(&w->line_lock);
	w->stopping = 1;
}

/* http_retry's on_retry: one line about an unreachable scheduler per WORKER_UNREACHABLE_LINE_MS. */
static void on_retry(unsigned attempt, int rc, uint64_t delay_ms, const struct rp_error *err, void *data)
{
	struct worker *w = data;
	uint64_t now = now_ms();
	(void)attempt;
	(void)rc;
	pthread_mutex_lock(&w->line_lock);
	int say = !w->unreachable_line_ms || now - w->unreachable_line_ms >= WORKER_UNREACHABLE_LINE_MS;
	if (say)
		w->unreachable_line_ms = now;
	pthread_mutex_unlock(&w->line_lock);
	if (say)
		line(w, WORKER_LINE_ERROR, "%s; retrying (next in %.1f s)",
		     err ? err->msg : "scheduler unreachable", (double)delay_ms / 1000);
}

static struct http_retry retry_until(struct worker *w, const volatile sig_atomic_t *stop)
{
	struct http_retry r = { .base_ms = WORKER_RETRY_BASE_MS,
				.cap_ms = WORKER_RETRY_CAP_MS,
				.stop = stop,
				.on_retry = on_retry,
				.data = w };
	return r;
}

int worker_valid_name(const char *name)
{
	size_t n = 0;
	for (; name[n]; n++) {
		char c = name[n];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return n >= 1 && n <= WORKER_NAME_MAX;
}

static int is_hex(const char *s, size_t len)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return 0;
	return n == len;
}

/* ---- what the worker tells the scheduler about itself -------------------------- */

struct resources {
	int64_t free_disk, free_mem;
	double load;
};

static struct resources resources(const struct worker *w)
{
	struct resources r = { -1, -1, -1 };
	struct statvfs vfs;
	if (statvfs(w->cache, &vfs) == 0)
		r.free_disk = (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize;
	FILE *f = fopen("/proc/meminfo", "re");
	if (f) {
		char *l = NULL;
		size_t cap = 0;
		long long kb;
		while (getline(&l, &cap, f) > 0)
			if (sscanf(l, "MemAvailable: %lld kB", &kb) == 1) {
				r.free_mem = (int64_t)kb * 1024;
				break;
			}
		free(l);
		fclose(f);
	}
	double load[1];
	if (getloadavg(load, 1) == 1)
		r.load = load[0];
	return r;
}

/* Adds free_disk_bytes, free_mem_bytes and load (what is known of them) to `doc`. */
static void add_resources(json_t *doc, const struct worker *w)
{
	struct resources r = resources(w);
	if (r.free_disk >= 0)
		json_object_set_new(doc, "free_disk_bytes", json_integer(r.free_disk));
	if (r.free_mem >= 0)
		json_object_set_new(doc, "free_mem_bytes", json_integer(r.free_mem));
	if (r.load >= 0)
		json_object_set_new(doc, "load", json_real(r.load));
}

static json_t *targets_json(const struct worker *w)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < w->n_targets; i++)
		json_array_append_new(a, json_string(w->targets[i]));
	return a;
}

/* ---- the lease ------------------------------------------------------------------- */

struct lease_dep {
	const char *package, *target, *commit, *build_key, *output_hash, *status, *failed_step;
};

struct lease {
	int64_t id, fence;
	int have_id; /* id and fence were read: a result can be posted */
	const char *package, *target, *commit, *build_key;
	size_t pkg, tgt;
	struct plan_change *pins;
	size_t n_pins;
	struct lease_dep *deps;
	size_t n_deps;
	int rerun; /* a flake check: the key's output is on the server already */
	const char *variant; /* "build", "coverage" or "fuzz" (build.h's build_select) */
	/* A fuzz job: it fuzzes (and carries the corpus both ways), or replays a crash. */
	int fuzz_replay;
	const char *fuzz_signature, *fuzz_reproducer; /* a replay's crash */
};

static void lease_release(struct lease *l)
{
	free(l->pins);
	free(l->deps);
	memset(l, 0, sizeof(*l));
}

/* Reads the "job" of a lease answer; strings stay owned by `job`. RP_EINVAL with the reason. */
static int lease_parse(const struct worker *w, json_t *job, struct lease *l, struct rp_error *err)
{
	json_t *pins, *deps;
	json_error_t jerr;
	json_int_t id = 0, fence = 0;
	memset(l, 0, sizeof(*l));
	if (!json_is_object(job) ||
	    json_unpack_ex(job, &jerr, 0, "{s:I, s:I}", "id", &id, "fence", &fence) < 0)
		return rp_error_set(err, RP_EINVAL, "a lease without a job id and fence");
	l->id = id;
	l->fence = fence;
	l->have_id = id > 0;
	if (!l->have_id)
		return rp_error_set(err, RP_EINVAL, "a lease with job id %" PRId64, l->id);
	if (json_unpack_ex(job, &jerr, 0, "{s:s, s:s, s:s, s:s, s:o, s:o}", "package", &l->package, "target",
			   &l->target, "commit", &l->commit, "build_key", &l->build_key, "pins", &pins,
			   "deps", &deps) < 0)
		return rp_error_set(err, RP_EINVAL, "malformed lease of job %" PRId64 ": %s", l->id,
				    jerr.text);
	l->rerun = json_is_true(json_object_get(job, "rerun"));
	/* A scheduler from before variants sends none: a plain build. */
	l->variant = json_string_value(json_object_get(job, "variant"));
	if (!l->variant)
		l->variant = "build";
	if (strcmp(l->variant, "build") != 0 && strcmp(l->variant, "coverage") != 0 && strcmp(l->variant, "fuzz") != 0)
		return rp_error_set(err, RP_EINVAL, "lease of job %" PRId64 ": unknown variant \"%.32s\"", l->id,
				    l->variant);
	if (strcmp(l->variant, "fuzz") == 0) {
		json_t *fz = json_object_get(job, "fuzz");
		const char *mode = json_string_value(json_object_get(fz, "mode"));
		l->fuzz_replay = mode && strcmp(mode, "reproduce") == 0;
		l->fuzz_signature = json_string_value(json_object_get(fz, "signature"));
		l->fuzz_reproducer = json_string_value(json_object_get(fz, "reproducer"));
		if (!mode || (!l->fuzz_replay && strcmp(mode, "fuzz") != 0) ||
		    (l->fuzz_replay && (!l->fuzz_signature || !l->fuzz_reproducer || !is_hex(l->fuzz_reproducer, 64))))
			return rp_error_set(err, RP_EINVAL,
					    "lease of job %" PRId64 ": a fuzz job needs \"fuzz\": {\"mode\": \"fuzz\"} or"
					    " a replay's signature and reproducer", l->id);
	}
	if (!is_hex(l->commit, 40) || !is_hex(l->build_key, 64))
		return rp_error_set(err, RP_EINVAL,
				    "lease of job %" PRId64 ": a malformed commit or build key", l->id);
	long p = manifest_find_package(w->u, l->package), t = manifest_find_target(w->u, l->target);
	if (p < 0 || t < 0)
		return rp_error_set(err, RP_EINVAL,
				    "%s on %s is not in the worker's universe (restart the worker?)",
				    l->package, l->target);
	l->pkg = (size_t)p;
	l->tgt = (size_t)t;
	if (!json_is_array(pins) || !json_is_array(deps))
		return rp_error_set(err, RP_EINVAL, "lease of job %" PRId64 ": pins and deps must be arrays",
				    l->id);
	l->pins = calloc(json_array_size(pins) + 1, sizeof(*l->pins));
	l->deps = calloc(json_array_size(deps) + 1, sizeof(*l->deps));
	if (!l->pins || !l->deps)
		return rp_error_set(err, RP_ENOMEM, "out of memory");
	size_t i;
	json_t *v;
	json_array_foreach(pins, i, v)
	{
		const char *name, *commit;
		if (json_unpack_ex(v, &jerr, 0, "{s:s, s:s}", "package", &name, "commit", &commit) < 0 ||
		    !is_hex(commit, 40))
			return rp_error_set(err, RP_EINVAL, "lease of job %" PRId64 ": malformed pin %zu",
					    l->id, i);
		long pi = manifest_find_package(w->u, name);
		if (pi < 0)
			return rp_error_set(err, RP_EINVAL,
					    "pinned package %s is not in the worker's universe", name);
		l->pins[l->n_pins].package = (size_t)pi;
		l->pins[l->n_pins++].rev = commit;
	}
	json_array_foreach(deps, i, v)
	{
		struct lease_dep *d = &l->deps[l->n_deps];
		json_t *failed = NULL;
		if (json_unpack_ex(v, &jerr, 0, "{s:s, s:s, s:s, s:s, s:s, s:s, s?o}", "package", &d->package,
				   "target", &d->target, "commit", &d->commit, "build_key", &d->build_key,
				   "output_hash", &d->output_hash, "status", &d->status, "failed_step",
				   &failed) < 0)
			return rp_error_set(err, RP_EINVAL,
					    "lease of job %" PRId64 ": malformed dependency %zu: %s", l->id,
					    i, jerr.text);
		d->failed_step = json_is_string(failed) ? json_string_value(failed) : NULL;
		if (!is_hex(d->commit, 40) || !is_hex(d->build_key, 64) || !is_hex(d->output_hash, 64))
			return rp_error_set(err, RP_EINVAL,
					    "lease of job %" PRId64 ": malformed dependency %s", l->id,
					    d->package);
		if (strcmp(d->status, "pass") != 0 && strcmp(d->status, "fail") != 0)
			return rp_error_set(err, RP_EINVAL,
					    "lease of job %" PRId64
					    ": dependency %s ended %.16s; expected pass or fail",
					    l->id, d->package, d->status);
		l->n_deps++;
	}
	return 0;
}

/* ---- the job's outcome ------------------------------------------------------------ */

struct outcome {
	const char *status; /* "pass", "fail", "error", "timeout", "cancelled"; NULL: report nothing */
	json_t *fuzz;	    /* a fuzz job's report, posted with the result; owned */
	char failed_step[8];
	char category[32];
	char first_error[512];
	char output_hash[65];
	uint64_t duration_ms;
	uint64_t build_ms, test_ms; /* the steps' own times, for the scheduler's history */
	char failed_test[128];	    /* the failing test the classifier named, for flakiness per test */
	const char *step; /* a cancelled job: the step it was in ("build", "test"), or NULL */
};

static void outcome_set(struct outcome *r, const char *status, const char *category, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* A result decided by the worker, not by a build: no output, no failed step. */
static void outcome_set(struct outcome *r, const char *status, const char *category, const char *fmt, ...)
{
	va_list ap;
	json_decref(r->fuzz);
	memset(r, 0, sizeof(*r));
	r->status = status;
	snprintf(r->category, sizeof(r->category), "%s", category ? category : "");
	va_start(ap, fmt);
	vsnprintf(r->first_error, sizeof(r->first_error), fmt, ap);
	va_end(ap);
}

/* ---- dependencies into the local build cache ----------------------------------------- */

/* Whether the cache records the archive of `key` and has it on disk at its recorded size. */
static int artifact_here(struct slot *sl, const char *key)
{
	struct store_artifact a;
	char path[PATH_MAX + 256];
	struct stat st;
	if (store_artifact_get(sl->store, key, "prefix", &a, NULL) < 0)
		return 0;
	snprintf(path, sizeof(path), "%s/%.200s", sl->w->cache, a.location);
	int here = stat(path, &st) == 0 && st.st_size == a.size;
	store_artifact_release(&a);
	return here;
}

/*
 * Makes dependency `d` answerable from the local cache: its build recorded,
 * its archive downloaded (to a temporary name, checked, renamed) and recorded.
 */
static int dep_fetch(struct slot *sl, const struct lease_dep *d, struct rp_error *err)
{
	struct worker *w = sl->w;
	struct store_build b = { .build_key = d->build_key,
				 .package = d->package,
				 .target = d->target,
				 .commit_id = d->commit,
				 .status = d->status,
				 .failed_step = strcmp(d->status, "pass") == 0 ? NULL : d->failed_step,
				 .output_hash = d->output_hash };
	int rc = store_build_put(sl->store, &b, err);
	if (rc < 0)
		return rc;
	/* A key recorded before keeps its first result: it must say the same output. */
	struct store_build have;
	if ((rc = store_build_get(sl->store, d->build_key, &have, err)) < 0)
		return rc;
	int same = have.output_hash && strcmp(have.output_hash, d->output_hash) == 0;
	if (!same)
		rc = rp_error_set(
		    err, RP_EINTEGRITY,
		    "the worker's cache records output %.12s for build key %.12s, the scheduler %.12s",
		    have.output_hash ? have.output_hash : "(none)", d->build_key, d->output_hash);
	store_build_release(&have);
	if (rc < 0 || strcmp(d->output_hash, ARTIFACT_EMPTY_HASH) == 0 || artifact_here(sl, d->build_key))
		return rc;

	char rel[128], dir[PATH_MAX + 32], tmp[PATH_MAX + 256], final[PATH_MAX + 256], path[160];
	snprintf(rel, sizeof(rel), "artifacts/%.2s/%s.tar.zst", d->build_key, d->build_key);
	snprintf(dir, sizeof(dir), "%s/artifacts/%.2s", w->cache, d->build_key);
	snprintf(final, sizeof(final), "%s/%s", w->cache, rel);
	snprintf(tmp, sizeof(tmp), "%s/.%s.tar.zst.tmp-%ld-%u", dir, d->build_key, (long)getpid(), sl->index);
	snprintf(path, sizeof(path), API "/artifacts/%s/prefix", d->build_key);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return rp_error_set(err, RP_EIO, "cannot create %s: %s", dir, strerror(errno));
	static const char *const want[] = { "X-Ripple-Sha256", NULL };
	struct http_request req = { .method = "GET",
				    .path = path,
				    .response_file = tmp,
				    .want_headers = want,
				    .timeout_ms = HTTP_TIMEOUT_NONE };
	struct http_retry retry = retry_until(w, &sl->job_abort);
	struct http_response resp;
	rc = http_request_retry(sl->http, &req, &retry, &resp, err);
	char sha[65];
	int64_t size = 0;
	if (rc >= 0 && rc != 200) {
		rc = rc == 401 || rc == 403 ? RP_EINVAL : RP_EIO; /* err says what the scheduler said */
	} else if (rc == 200) {
		const char *announced = resp.headers[0];
		if (!announced || !is_hex(announced, 64))
			rc =
			    rp_error_set(err, RP_EINTEGRITY, "GET %s: no valid X-Ripple-Sha256 header", path);
		else if ((rc = artifact_sha256_file(tmp, sha, &size, err)) == 0 && strcmp(sha, announced) != 0)
			rc = rp_error_set(err, RP_EINTEGRITY,
					  "GET %s: received bytes hash to %.12s, announced %.12s", path, sha,
					  announced);
		if (rc == 0 && rename(tmp, final) < 0)
			rc = rp_error_set(err, RP_EIO, "cannot rename %s: %s", tmp, strerror(errno));
	}
	http_response_release(&resp);
	if (rc < 0) {
		unlink(tmp);
		return rc;
	}
	struct store_artifact a = {
		.build_key = d->build_key, .name = "prefix", .size = size, .sha256 = sha, .location = rel
	};
	return store_artifact_put(sl->store, &a, err);
}

/* ---- the job log ------------------------------------------------------------------- */

static void stream_reset(struct slot *sl)
{
	for (size_t i = 0; i < sl->n_seg; i++) {
		free(sl->seg[i].path);
		free(sl->seg[i].text);
	}
	memset(sl->seg, 0, sizeof(sl->seg));
	sl->n_seg = 0;
	sl->streaming = sl->finished = sl->flushed = sl->broken = 0;
	sl->acked = 0;
	sl->stream_stop = sl->w->quit;
}

static uint64_t file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* Seals the last segment: its length is final. Under the slot's lock. */
static void seal_last(struct slot *sl)
{
	if (!sl->n_seg)
		return;
	struct log_segment *last = &sl->seg[sl->n_seg - 1];
	if (!last->sealed && last->path)
		last->len = file_size(last->path);
	last->sealed = 1;
}

/* Appends a segment (file `path`, or `text`); both are copied. Under the slot's lock. */
static void add_segment(struct slot *sl, const char *path, const char *text)
{
	if (sl->n_seg == WORKER_LOG_SEGMENTS)
		return; /* past every attempt the engine makes: not streamed */
	seal_last(sl);
	struct log_segment *s = &sl->seg[sl->n_seg];
	const struct log_segment *prev = sl->n_seg ? &sl->seg[sl->n_seg - 1] : NULL;
	s->start = prev ? prev->start + prev->len : 0;
	if (path) {
		s->path = strdup(path);
	} else {
		s->text = strdup(text);
		s->len = s->text ? strlen(s->text) : 0;
		s->sealed = 1;
	}
	if ((path && !s->path) || (text && !s->text)) {
		free(s->path);
		free(s->text);
		memset(s, 0, sizeof(*s));
		return;
	}
	sl->n_seg++;
}

/* Whether file `path` (of `len` bytes) ends with a newline; an empty one counts as ending with one. */
static int ends_with_newline(const char *path, uint64_t len)
{
	char c = '\n';
	int fd = len ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	if (fd >= 0) {
		if (pread(fd, &c, 1, (off_t)len - 1) != 1)
			c = '\n';
		close(fd);
	}
	return c == '\n';
}

/* build.h's on_step, on the slot thread (inside build_run's loop). */
static void on_step(size_t package, size_t target, const char *step, const char *log_path, void *data)
{
	struct slot *sl = data;
	(void)package;
	(void)target;
	pthread_mutex_lock(&sl->lock);
	if (sl->n_seg) {
		int again =
		    strcmp(step, "build") == 0; /* the engine retries a job the infrastructure failed */
		seal_last(sl);
		const struct log_segment *prev = &sl->seg[sl->n_seg - 1];
		int nl = !prev->path || ends_with_newline(prev->path, prev->len);
		char text[160];
		snprintf(text, sizeof(text), "%sripple: %s\n", nl ? "" : "\n",
			 again				    ? "the infrastructure failed that attempt; the build step again"
			 : strcmp(step, "coverage") == 0 ? "the coverage step follows: gcov over the build tree"
							   : "the test step follows");
		add_segment(sl, NULL, text);
	}
	add_segment(sl, log_path, NULL);
	pthread_cond_broadcast(&sl->cond);
	pthread_mutex_unlock(&sl->lock);
}

/* Reads up to `cap` bytes of the job log from `offset`; 0 at its current end, -1 on a read error. Under the
 * lock. */
static ssize_t log_read(struct slot *sl, uint64_t offset, char *buf, size_t cap)
{
	for (size_t i = 0; i < sl->n_seg; i++) {
		const struct log_segment *s = &sl->seg[i];
		if (s->sealed && offset >= s->start + s->len)
			continue;
		if (offset < s->start)
			return 0; /* cannot happen: segments are contiguous */
		uint64_t at = offset - s->start;
		size_t n = cap;
		if (s->sealed && s->len - at < n)
			n = (size_t)(s->len - at);
		if (s->text) {
			memcpy(buf, s->text + at, n);
			return (ssize_t)n;
		}
		int fd = open(s->path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -1;
		ssize_t got = pread(fd, buf, n, (off_t)at);
		close(fd);
		if (got == 0 && s->sealed && n)
			return -1; /* the file shrank */
		return got;
	}
	return 0;
}

/*
 * The streamer: PUTs the job log in chunks as it grows. Its offset is what
 * the scheduler acknowledged, so a lost answer or a 409 gap resends from
 * there; bytes sent twice are compared by the scheduler, not stored twice.
 */
static void *streamer_main(void *arg)
{
	struct slot *sl = arg;
	struct worker *w = sl->w;
	char *buf = malloc(WORKER_LOG_CHUNK);
	uint64_t last_put = 0;
	pthread_mutex_lock(&sl->lock);
	while (!sl->stream_quit) {
		if (!sl->streaming || sl->flushed) {
			pthread_cond_wait(&sl->cond, &sl->lock);
			continue;
		}
		int finished = sl->finished;
		uint64_t offset = sl->acked;
		int64_t id = sl->job_id, fence = sl->fence;
		ssize_t n = buf ? log_read(sl, offset, buf, WORKER_LOG_CHUNK) : -1;
		if (n < 0) {
			sl->broken = sl->flushed = 1;
			pthread_cond_broadcast(&sl->cond);
			pthread_mutex_unlock(&sl->lock);
			line(w, WORKER_LINE_ERROR,
			     "job %" PRId64 ": cannot read its log at byte %" PRIu64 "; not streamed", id,
			     offset);
			pthread_mutex_lock(&sl->lock);
			continue;
		}
		if (n == 0 && finished) {
			sl->flushed = 1;
			pthread_cond_broadcast(&sl->cond);
			continue;
		}
		/* Small pieces wait for more, up to the period: a chatty build makes a few PUTs a second. */
		uint64_t now = now_ms();
		if (n == 0 ||
		    ((size_t)n < WORKER_LOG_CHUNK && !finished && now - last_put < WORKER_LOG_PERIOD_MS)) {
			uint64_t wait =
			    n == 0 ? WORKER_LOG_PERIOD_MS : WORKER_LOG_PERIOD_MS - (now - last_put);
			struct timespec until = deadline_in(wait);
			pthread_cond_timedwait(&sl->cond, &sl->lock, &until);
			continue;
		}
		pthread_mutex_unlock(&sl->lock);

		char path[64], query[WORKER_NAME_MAX + 96];
		snprintf(path, sizeof(path), API "/jobs/%" PRId64 "/log", id);
		snprintf(query, sizeof(query), "worker=%s&fence=%" PRId64 "&offset=%" PRIu64, w->o->name,
			 fence, offset);
		struct http_request req = { .method = "PUT",
					    .path = path,
					    .query = query,
					    .body = buf,
					    .body_len = (size_t)n,
					    .content_type = "application/octet-stream" };
		struct http_retry retry = retry_until(w, &sl->stream_stop);
		struct rp_error err;
		json_t *answer = NULL;
		int rc = http_request_json(sl->log_http, &req, NULL, &retry, &answer, &err);
		json_t *size = json_object_get(answer, "size");
		int64_t server_size = json_is_integer(size) ? json_integer_value(size) : -1;
		json_decref(answer);
		last_put = now_ms();

		pthread_mutex_lock(&sl->lock);
		if (!sl->streaming || sl->job_id != id || sl->fence != fence)
			continue; /* the job ended meanwhile (cannot happen before its flush; kept safe) */
		if (rc == 200 && server_size >= 0) {
			sl->acked = (uint64_t)server_size;
		} else if (rc == 409 && server_size >= 0 && (uint64_t)server_size < offset) {
			sl->acked = (uint64_t)server_size; /* a gap: resend from what it has */
		} else {
			/* A stale lease, bytes that differ, a refusal, or giving up: the log stays as it is.
			 */
			sl->broken = sl->flushed = 1;
			pthread_cond_broadcast(&sl->cond);
			if (!sl->stream_stop && rc != 409) {
				pthread_mutex_unlock(&sl->lock);
				line(w, WORKER_LINE_ERROR, "job %" PRId64 ": log not streamed further: %s",
				     id, err.msg);
				pthread_mutex_lock(&sl->lock);
			}
		}
	}
	pthread_mutex_unlock(&sl->lock);
	free(buf);
	return NULL;
}

/* ---- one job ------------------------------------------------------------------------ */

static const char *status_of(enum build_outcome o)
{
	switch (o) {
	case BUILD_PASS:
		return "pass";
	case BUILD_FAIL:
		return "fail";
	case BUILD_TIMEOUT:
		return "timeout";
	case BUILD_CANCELLED:
		return "cancelled";
	default:
		return "error";
	}
}

/* The scheduler's key for dependency `package`, or "?". */
static const char *lease_dep_key(const struct lease *l, const char *package)
{
	for (size_t i = 0; i < l->n_deps; i++)
		if (strcmp(l->deps[i].package, package) == 0)
			return l->deps[i].build_key;
	return "?";
}

/* What the build report says about the leased job, checked against the lease. */
static void judge(struct slot *sl, const struct lease *l, const struct build_report *rep, struct outcome *res)
{
	const struct rp_universe *u = sl->w->u;
	const struct build_job_report *me = NULL;
	for (size_t i = 0; i < rep->n_jobs; i++)
		if (rep->jobs[i].package == l->pkg && rep->jobs[i].target == l->tgt)
			me = &rep->jobs[i];
	if (!me) {
		outcome_set(res, "error", "infrastructure", "the build engine planned no job for %s on %s",
			    l->package, l->target);
		return;
	}
	if (me->outcome == BUILD_CANCELLED) {
		outcome_set(res, "cancelled", NULL, "%s", me->first_error);
		res->step = me->failed_step;
		return;
	}
	/* Every dependency must have come from the cache the lease filled: the scheduler's builds, not ours.
	 */
	for (size_t i = 0; i < rep->n_jobs; i++) {
		const struct build_job_report *d = &rep->jobs[i];
		if (d == me || d->cached)
			continue;
		const char *name = u->packages[d->package].name;
		const char *theirs = lease_dep_key(l, name);
		if (d->key[0] && strcmp(d->key, theirs) != 0)
			outcome_set(
			    res, "error", "infrastructure",
			    "dependency %s on %s was not in the worker's cache: worker computed key %.12s, "
			    "scheduler %.12s",
			    name, u->targets[d->target].name, d->key, theirs);
		else
			outcome_set(res, "error", "infrastructure",
				    "dependency %s on %s was not in the worker's cache: %s", name,
				    u->targets[d->target].name, d->first_error);
		return;
	}
	if (!me->key[0] || strcmp(me->key, l->build_key) != 0) {
		if (me->key[0])
			outcome_set(res, "error", "infrastructure",
				    "build key mismatch: worker computed %s, scheduler %s", me->key,
				    l->build_key);
		else
			outcome_set(res, "error", me->category[0] ? me->category : "infrastructure", "%s",
				    me->first_error);
		return;
	}
	json_decref(res->fuzz);
	memset(res, 0, sizeof(*res));
	res->status = status_of(me->outcome);
	snprintf(res->failed_step, sizeof(res->failed_step), "%s", me->failed_step ? me->failed_step : "");
	snprintf(res->category, sizeof(res->category), "%s", me->category);
	snprintf(res->first_error, sizeof(res->first_error), "%s", me->first_error);
	res->duration_ms = me->duration_ms;
	res->build_ms = me->build_ms;
	res->test_ms = me->test_ms;
	snprintf(res->failed_test, sizeof(res->failed_test), "%s", me->failed_test);
	/* An output goes with the builds that have one: a pass, failed tests, tests that timed out. */
	if (me->outcome == BUILD_PASS || me->outcome == BUILD_FAIL || me->outcome == BUILD_TIMEOUT)
		snprintf(res->output_hash, sizeof(res->output_hash), "%s", me->output_hash);
	if (me->outcome == BUILD_SKIPPED)
		outcome_set(res, "error", "infrastructure", "%s", me->first_error);
}

/* ---- fuzz jobs: the corpus and reproducers to and from the scheduler ------------------ */

/* GETs `path` into the file `file`, checking the body against its X-Ripple-Sha256; 404 is RP_ENOTFOUND. */
static int fetch_checked(struct slot *sl, const char *path, const char *file, char sha[65], int64_t *size,
			 struct rp_error *err)
{
	static const char *const want[] = { "X-Ripple-Sha256", NULL };
	struct http_request req = { .method = "GET", .path = path, .response_file = file, .want_headers = want,
				    .timeout_ms = HTTP_TIMEOUT_NONE };
	struct http_retry retry = retry_until(sl->w, &sl->job_abort);
	struct http_response resp;
	int rc = http_request_retry(sl->http, &req, &retry, &resp, err);
	if (rc == 404)
		rc = RP_ENOTFOUND;
	else if (rc >= 0 && rc != 200)
		rc = rc == 401 || rc == 403 ? RP_EINVAL : RP_EIO;
	else if (rc == 200) {
		const char *announced = resp.headers[0];
		rc = 0;
		if (!announced || !is_hex(announced, 64))
			rc = rp_error_set(err, RP_EINTEGRITY, "GET %s: no valid X-Ripple-Sha256 header", path);
		else if ((rc = artifact_sha256_file(file, sha, size, err)) == 0 && strcmp(sha, announced) != 0)
			rc = rp_error_set(err, RP_EINTEGRITY, "GET %s: received bytes hash to %.12s, announced %.12s",
					  path, sha, announced);
	}
	http_response_release(&resp);
	if (rc < 0)
		unlink(file);
	return rc;
}

/* PUTs the file `file` (SHA-256 `sha`) to `path`. */
static int put_file(struct slot *sl, const char *path, const char *file, const char *sha, struct rp_error *err)
{
	char query[96];
	snprintf(query, sizeof(query), "sha256=%.64s", sha);
	struct http_request req = { .method = "PUT", .path = path, .query = query, .body_file = file,
				    .timeout_ms = HTTP_TIMEOUT_NONE };
	struct http_retry retry = retry_until(sl->w, &sl->w->quit);
	int rc = 0;
	for (int tries = 0; tries < 2; tries++) { /* a 400 says the bytes arrived damaged: once more */
		rc = http_request_retry(sl->http, &req, &retry, NULL, err);
		if (rc != 400)
			break;
	}
	return rc == 200 ? 0 : rc < 0 ? rc : RP_EIO;
}

/*
 * Before a fuzz job: a replay's reproducer into `reproducer` (a file of this
 * slot), or the corpus the scheduler keeps for (package, target) merged into
 * the one the build engine keeps in the cache (none yet is no error).
 */
static int fuzz_fetch(struct slot *sl, const struct lease *l, char *reproducer, size_t size, struct rp_error *err)
{
	struct worker *w = sl->w;
	char dir[PATH_MAX + 32], path[512], file[PATH_MAX + 64], sha[65];
	int64_t bytes = 0;
	snprintf(dir, sizeof(dir), "%s/fuzz", w->cache);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return rp_error_set(err, RP_EIO, "cannot create %s: %s", dir, strerror(errno));
	snprintf(dir, sizeof(dir), "%s/fuzz/incoming", w->cache);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return rp_error_set(err, RP_EIO, "cannot create %s: %s", dir, strerror(errno));
	if (l->fuzz_replay) {
		snprintf(reproducer, size, "%s/repro-%ld-%u", dir, (long)getpid(), sl->index);
		snprintf(path, sizeof(path), API "/fuzz/reproducers/%s", l->fuzz_reproducer);
		int rc = fetch_checked(sl, path, reproducer, sha, &bytes, err);
		if (rc == 0 && strcmp(sha, l->fuzz_reproducer) != 0)
			rc = rp_error_set(err, RP_EINTEGRITY, "reproducer %.12s hashes to %.12s", l->fuzz_reproducer, sha);
		if (rc < 0)
			reproducer[0] = '\0';
		return rc == RP_ENOTFOUND ? rp_error_set(err, RP_EIO, "the scheduler has no reproducer %s", l->fuzz_reproducer) : rc;
	}
	snprintf(path, sizeof(path), API "/fuzz/corpus/%s/%s", l->package, l->target);
	snprintf(file, sizeof(file), "%s/corpus-%ld-%u.tar.zst", dir, (long)getpid(), sl->index);
	int rc = fetch_checked(sl, path, file, sha, &bytes, err);
	if (rc == RP_ENOTFOUND)
		return 0;
	if (rc < 0)
		return rc;
	char unpacked[PATH_MAX + 64];
	snprintf(unpacked, sizeof(unpacked), "%s/corpus-%ld-%u", dir, (long)getpid(), sl->index);
	workspace_remove(unpacked);
	rc = artifact_unpack(file, sha, bytes, unpacked, 0, err);
	if (rc == 0)
		rc = build_fuzz_corpus_merge(w->cache, l->package, unpacked, err);
	workspace_remove(unpacked);
	unlink(file);
	return rc;
}

/*
 * After a fuzz job that ran: its report (the build engine's file) becomes
 * res->fuzz, without this worker's paths; each crash's reproducer goes up
 * under its SHA-256, and a fuzzing job's corpus as (package, target)'s. A
 * replay that crashed with another signature did not reproduce its crash:
 * that is a pass of the replay, said in its first error line.
 */
static int fuzz_deliver(struct slot *sl, const struct lease *l, const char *report, struct outcome *res,
			struct rp_error *err)
{
	struct worker *w = sl->w;
	json_error_t jerr;
	json_t *doc = json_load_file(report, 0, &jerr);
	if (!doc)
		return rp_error_set(err, RP_EIO, "%s:%d: %s", report, jerr.line, jerr.text);
	int rc = 0, other = 0;
	char other_sig[400] = "";
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(doc, "fuzzers"), i, e)
	{
		json_t *crash = json_object_get(e, "crash");
		if (!json_is_object(crash))
			continue;
		const char *local = json_string_value(json_object_get(crash, "reproducer"));
		const char *sha = json_string_value(json_object_get(crash, "reproducer_sha256"));
		const char *sig = json_string_value(json_object_get(crash, "signature"));
		char path[160];
		snprintf(path, sizeof(path), API "/fuzz/reproducers/%.64s", sha ? sha : "");
		if (!local || !sha || (rc = put_file(sl, path, local, sha, err)) < 0) {
			if (rc == 0)
				rc = rp_error_set(err, RP_EIO, "%s: a crash without its reproducer", report);
			break;
		}
		json_object_del(crash, "reproducer"); /* this worker's path: nobody else's business */
		if (l->fuzz_replay && sig && strcmp(sig, l->fuzz_signature) != 0 && !other) {
			other = 1;
			snprintf(other_sig, sizeof(other_sig), "%.390s", sig);
		}
	}
	if (rc == 0 && l->fuzz_replay && other && strcmp(res->status, "fail") == 0 &&
	    strcmp(res->category, "fuzz") == 0) {
		res->status = "pass";
		res->failed_step[0] = res->category[0] = '\0';
		snprintf(res->first_error, sizeof(res->first_error), "did not reproduce %.200s (it crashed otherwise: %.200s)",
			 l->fuzz_signature, other_sig);
	}
	if (rc == 0 && !l->fuzz_replay) {
		char corpus[PATH_MAX], file[PATH_MAX + 64], path[512];
		struct artifact_info info;
		struct stat st;
		snprintf(file, sizeof(file), "%s/fuzz/incoming/corpus-out-%ld-%u.tar.zst", w->cache, (long)getpid(),
			 sl->index);
		snprintf(path, sizeof(path), API "/fuzz/corpus/%s/%s", l->package, l->target);
		if ((rc = build_fuzz_corpus_dir(w->cache, l->package, corpus, sizeof(corpus), err)) == 0 &&
		    stat(corpus, &st) == 0 && (rc = artifact_pack(corpus, NULL, file, &info, err)) == 0) {
			rc = put_file(sl, path, file, info.sha256, err);
			unlink(file);
		}
	}
	if (rc == 0) {
		json_decref(res->fuzz);
		res->fuzz = doc;
	} else {
		json_decref(doc);
	}
	return rc;
}

/* Runs the job on this slot's session: dependencies from the cache, the one job built. */
static void build_job(struct slot *sl, const struct lease *l, struct outcome *res)
{
	struct worker *w = sl->w;
	struct rp_error err;
	for (size_t i = 0; i < l->n_deps; i++) {
		if (sl->job_abort)
			return; /* the caller says why */
		if (dep_fetch(sl, &l->deps[i], &err) < 0) {
			if (!sl->job_abort)
				outcome_set(res, "error", "infrastructure", "dependency %s on %s: %s",
					    l->deps[i].package, l->deps[i].target, err.msg);
			return;
		}
	}
	if (sl->job_abort)
		return;
	char reproducer[PATH_MAX + 64] = "";
	if (strcmp(l->variant, "fuzz") == 0 && fuzz_fetch(sl, l, reproducer, sizeof(reproducer), &err) < 0) {
		if (!sl->job_abort)
			outcome_set(res, "error", "infrastructure", "%s", err.msg);
		unlink(reproducer);
		return;
	}
	struct build_select sel = { .only_package = l->package,
				    .only_target = l->target,
				    .fresh_package = l->package,
				    .expect_key = l->build_key,
				    .variant = l->variant,
				    .fuzz_reproduce = reproducer[0] ? reproducer : NULL };
	build_session_select(sl->session, &sel);
	struct plan_change change = { .package = l->pkg, .rev = l->commit };
	struct build_report rep;
	int rc = build_run(sl->session, &w->g, &change, 1, l->pins, l->n_pins, &rep, &err);
	if (reproducer[0])
		unlink(reproducer);
	if (rc < 0) {
		outcome_set(res, "error", "infrastructure", "%s", err.msg);
		return;
	}
	judge(sl, l, &rep, res);
	for (size_t i = 0; strcmp(l->variant, "fuzz") == 0 && i < rep.n_jobs; i++)
		if (rep.jobs[i].package == l->pkg && rep.jobs[i].target == l->tgt && rep.jobs[i].fuzz_report[0] &&
		    res->status && (strcmp(res->status, "pass") == 0 || strcmp(res->status, "fail") == 0) &&
		    fuzz_deliver(sl, l, rep.jobs[i].fuzz_report, res, &err) < 0)
			outcome_set(res, "error", "infrastructure", "the fuzz job's findings: %s", err.msg);
	build_report_release(&rep);
}

/* PUTs the job's artifact `name` ("prefix": its output; "coverage": its figures) from the local cache. */
static int upload_artifact(struct slot *sl, const struct lease *l, const char *name, struct rp_error *err)
{
	struct worker *w = sl->w;
	struct store_artifact a;
	int rc = store_artifact_get(sl->store, l->build_key, name, &a, err);
	if (rc < 0)
		return rc;
	char file[PATH_MAX + 256], path[200], query[96];
	snprintf(file, sizeof(file), "%s/%.200s", w->cache, a.location);
	snprintf(path, sizeof(path), API "/artifacts/%s/%s", l->build_key, name);
	snprintf(query, sizeof(query), "sha256=%.64s", a.sha256);
	store_artifact_release(&a);
	struct http_request req = { .method = "PUT",
				    .path = path,
				    .query = query,
				    .body_file = file,
				    .timeout_ms = HTTP_TIMEOUT_NONE };
	struct http_retry retry = retry_until(w, &w->quit);
	/* A 400 says the bytes arrived damaged: once more, then give up. */
	for (int tries = 0; tries < 2; tries++) {
		rc = http_request_retry(sl->http, &req, &retry, NULL, err);
		if (rc != 400)
			break;
	}
	return rc == 200 ? 0 : rc < 0 ? rc : RP_EIO; /* err holds the scheduler's line */
}

static int post_result(struct slot *sl, const struct lease *l, const struct outcome *res, uint64_t log_size,
		       struct rp_error *err)
{
	struct worker *w = sl->w;
	char path[64];
	snprintf(path, sizeof(path), API "/jobs/%" PRId64 "/result", l->id);
	json_t *body =
	    json_pack("{s:s, s:I, s:s, s:s, s:I, s:I}", "worker", w->o->name, "fence", (json_int_t)l->fence,
		      "status", res->status, "build_key", l->build_key ? l->build_key : "", "duration_ms",
		      (json_int_t)res->duration_ms, "log_size", (json_int_t)log_size);
	if (!body)
		return rp_error_set(err, RP_ENOMEM, "out of memory");
	json_object_set_new(body, "output_hash",
			    res->output_hash[0] ? json_string(res->output_hash) : json_null());
	json_object_set_new(body, "failed_step",
			    res->failed_step[0] ? json_string(res->failed_step) : json_null());
	json_object_set_new(body, "category", res->category[0] ? json_string(res->category) : json_null());
	if (res->failed_test[0]) {
		json_t *t = json_string(res->failed_test); /* NULL when a log's bytes are not UTF-8: then none */
		if (t)
			json_object_set_new(body, "failed_test", t);
	}
	if (res->build_ms || res->test_ms)
		json_object_set_new(body, "steps_ms",
				    json_pack("{s:I, s:I}", "build", (json_int_t)res->build_ms, "test", (json_int_t)res->test_ms));
	/* A line from a log may not be UTF-8, which jansson refuses: then its other bytes become '?'. */
	json_t *first = res->first_error[0] ? json_string(res->first_error) : json_null();
	if (!first) {
		char ascii[sizeof(res->first_error)];
		size_t i = 0;
		for (; res->first_error[i]; i++)
			ascii[i] = (unsigned char)res->first_error[i] < 0x80 ? res->first_error[i] : '?';
		ascii[i] = '\0';
		first = json_string(ascii);
	}
	json_object_set_new(body, "first_error", first);
	if (!l->build_key)
		json_object_del(body, "build_key");
	if (res->fuzz)
		json_object_set(body, "fuzz", res->fuzz);
	struct http_request req = { .method = "POST", .path = path };
	struct http_retry retry = retry_until(w, &w->quit);
	int rc = http_request_json(sl->http, &req, body, &retry, NULL, err);
	json_decref(body);
	return rc;
}

static void run_job(struct slot *sl, json_t *job)
{
	struct worker *w = sl->w;
	struct lease l;
	struct outcome res;
	struct rp_error err;
	uint64_t started = now_ms();
	int rc = lease_parse(w, job, &l, &err);
	if (rc < 0 && !l.have_id) {
		line(w, WORKER_LINE_ERROR, "a lease the worker cannot use and cannot answer: %s", err.msg);
		lease_release(&l);
		return;
	}
	memset(&res, 0, sizeof(res));

	pthread_mutex_lock(&sl->lock);
	build_cancel_reset(sl->session);
	sl->has_job = 1;
	sl->job_id = l.id;
	sl->fence = l.fence;
	sl->cancel = sl->lost = 0;
	sl->stopped = w->stopping;
	sl->job_abort = w->stopping;
	stream_reset(sl);
	sl->streaming = 1;
	pthread_mutex_unlock(&sl->lock);

	if (rc < 0)
		outcome_set(&res, "error", "infrastructure", "%s", err.msg);
	else if (w->stopping)
		/* Never started: an infrastructure error puts it back in the queue for another worker. */
		outcome_set(&res, "error", "infrastructure", "worker %s stopped before the job started",
			    w->o->name);
	else
		build_job(sl, &l, &res);

	pthread_mutex_lock(&sl->lock);
	int lost = sl->lost, cancelled = sl->cancel, stopped = sl->stopped;
	pthread_mutex_unlock(&sl->lock);
	if (!res.status && !lost) {
		/* build_job() gave up because of job_abort before building. */
		if (cancelled)
			outcome_set(&res, "cancelled", NULL,
				    "cancelled by the scheduler before the job started");
		else if (stopped) /* nothing ran: back to the queue, like a lease that arrives while stopping
				   */
			outcome_set(&res, "error", "infrastructure",
				    "worker %s stopped before the job started", w->o->name);
		else
			outcome_set(&res, "error", "infrastructure", "the job was abandoned");
	} else if (res.status && strcmp(res.status, "cancelled") == 0 && stopped && !cancelled) {
		/*
		 * Nobody cancelled the run: the worker is going away. That is the
		 * infrastructure's doing, so the job goes back to the queue for
		 * another worker instead of ending (and skipping its dependents).
		 */
		if (res.step)
			outcome_set(&res, "error", "infrastructure", "worker %s stopped during the %s step",
				    w->o->name, res.step);
		else /* the run started cancelled: nothing ran */
			outcome_set(&res, "error", "infrastructure",
				    "worker %s stopped before the job started", w->o->name);
	}

	/* The log: what the steps wrote, or else why the job did not run; flushed before the result. */
	pthread_mutex_lock(&sl->lock);
	if (!sl->n_seg && res.status && strcmp(res.status, "pass") != 0 && res.first_error[0]) {
		char text[600];
		snprintf(text, sizeof(text), "ripple: %s: %s\n", res.status, res.first_error);
		add_segment(sl, NULL, text);
	}
	seal_last(sl);
	sl->finished = 1;
	if (lost)
		sl->stream_stop = 1;
	pthread_cond_broadcast(&sl->cond);
	while (!sl->flushed)
		pthread_cond_wait(&sl->cond, &sl->lock);
	uint64_t log_size = sl->acked;
	lost = sl->lost;
	pthread_mutex_unlock(&sl->lock);

	const char *pkg = l.package ? l.package : "?", *tgt = l.target ? l.target : "?";
	double secs = (double)(now_ms() - started) / 1000;
	if (lost) {
		line(w, WORKER_LINE_JOB, "job %" PRId64 " %s/%s: lease lost, result not posted (%.1f s)",
		     l.id, pkg, tgt, secs);
		goto out;
	}
	/* The output first: once the result is stored, dependents may lease jobs that download it. */
	if (res.output_hash[0] && strcmp(res.output_hash, ARTIFACT_EMPTY_HASH) != 0 && !l.rerun &&
	    strcmp(l.variant ? l.variant : "build", "fuzz") != 0 && upload_artifact(sl, &l, "prefix", &err) < 0)
		outcome_set(&res, "error", "infrastructure", "cannot upload the output: %s", err.msg);
	/*
	 * What else the build engine kept under the key (an ABI dump of a library
	 * with an api block; a coverage job's figures), up before the result too.
	 */
	static const struct {
		const char *name, *what;
	} extras[] = { { "abi", "the ABI dump" }, { "coverage", "the coverage figures" } };
	for (size_t i = 0; i < sizeof(extras) / sizeof(extras[0]) && res.output_hash[0] && !l.rerun &&
			   (strcmp(res.status, "pass") == 0 || strcmp(res.status, "fail") == 0);
	     i++) {
		struct store_artifact kept;
		if (store_artifact_get(sl->store, l.build_key, extras[i].name, &kept, NULL) < 0)
			continue; /* none for this job */
		store_artifact_release(&kept);
		if (upload_artifact(sl, &l, extras[i].name, &err) < 0)
			outcome_set(&res, "error", "infrastructure", "cannot upload %s: %s", extras[i].what, err.msg);
	}
	rc = post_result(sl, &l, &res, log_size, &err);
	if (rc == 200) {
		if (strcmp(res.status, "pass") == 0 || !res.first_error[0])
			line(w, WORKER_LINE_JOB, "job %" PRId64 " %s/%s: %s (%.1f s)", l.id, pkg, tgt,
			     res.status, secs);
		else
			line(w, WORKER_LINE_JOB, "job %" PRId64 " %s/%s: %s (%.1f s): %s", l.id, pkg, tgt,
			     res.status, secs, res.first_error);
	} else if (rc == 409) {
		line(w, WORKER_LINE_JOB,
		     "job %" PRId64 " %s/%s: %s (%.1f s), but the lease was lost: result not stored", l.id,
		     pkg, tgt, res.status, secs);
	} else {
		line(w, WORKER_LINE_ERROR,
		     "job %" PRId64 " %s/%s: %s, and its result could not be posted: %s", l.id, pkg, tgt,
		     res.status, err.msg);
		if (rc == 401 || rc == 403)
			fatal(w, RP_EINVAL, err.msg);
	}
out:
	pthread_mutex_lock(&sl->lock);
	sl->has_job = 0;
	sl->streaming = 0;
	pthread_mutex_unlock(&sl->lock);
	json_decref(res.fuzz);
	lease_release(&l);
}

/* ---- registration and leasing ------------------------------------------------------ */

static int do_register(struct worker *w, struct http_client *c, const volatile sig_atomic_t *stop,
		       struct rp_error *err)
{
	json_t *body = json_pack("{s:s, s:o, s:i}", "worker", w->o->name, "targets", targets_json(w), "slots",
				 (int)w->o->slots);
	json_t *answer = NULL;
	if (!body)
		return rp_error_set(err, RP_ENOMEM, "out of memory");
	struct http_request req = { .method = "POST", .path = API "/workers/register" };
	struct http_retry retry = retry_until(w, stop);
	int rc = http_request_json(c, &req, body, &retry, &answer, err);
	json_decref(body);
	if (rc == 200) {
		json_int_t lease = 0, hb = 0;
		json_unpack(answer, "{s?I, s?I}", "lease_ms", &lease, "heartbeat_ms", &hb);
		w->lease_ms = lease > 0 ? lease : 30000;
		w->heartbeat_ms = hb > 0 ? hb : w->lease_ms / 3;
		if (w->heartbeat_ms < 100)
			w->heartbeat_ms = 100;
		rc = 0;
	} else if (rc >= 400 && rc < 500) {
		rc = RP_EINVAL; /* err holds the scheduler's line */
	} else if (rc > 0) {
		rc = rp_error_set(err, RP_EIO, "POST %s/workers/register: unexpected HTTP %d", API, rc);
	}
	json_decref(answer);
	return rc;
}

static void *slot_main(void *arg)
{
	struct slot *sl = arg;
	struct worker *w = sl->w;
	while (!w->stopping) {
		json_t *body = json_pack("{s:s, s:o, s:i}", "worker", w->o->name, "targets", targets_json(w),
					 "wait_ms", WORKER_LEASE_WAIT_MS);
		json_t *answer = NULL;
		struct rp_error err = { .msg = "" };
		if (!body) {
			line(w, WORKER_LINE_ERROR, "out of memory");
			sleep_ms(WORKER_REFUSED_PAUSE_MS, &w->stopping);
			continue;
		}
		add_resources(body, w);
		struct http_request req = { .method = "POST",
					    .path = API "/lease",
					    .timeout_ms = WORKER_LEASE_TIMEOUT_MS };
		struct http_retry retry = retry_until(w, &w->stopping);
		uint64_t asked = now_ms();
		int rc = http_request_json(sl->http, &req, body, &retry, &answer, &err);
		json_decref(body);
		json_t *job = rc == 200 ? json_object_get(answer, "job") : NULL;
		if (rc == 200 && job) {
			/* Even when stopping: a job leased to us is answered, never dropped. */
			run_job(sl, job);
		} else if (rc == 200 || rc == 204 || w->stopping) {
			/*
			 * An empty answer long before the wait was up: the scheduler holds
			 * back (this machine is short of disk or memory). Asking again at
			 * once would flood it, so pause before the next request.
			 */
			if (!w->stopping && now_ms() - asked < WORKER_LEASE_WAIT_MS / 2)
				sleep_ms(WORKER_REFUSED_PAUSE_MS, &w->stopping);
		} else if (rc == 401 || rc == 403) {
			fatal(w, RP_EINVAL, err.msg);
		} else {
			line(w, WORKER_LINE_ERROR, "%s", err.msg);
			/* The scheduler may have forgotten us (a new database): register again, then pause.
			 */
			if (rc == 400 || rc == 404 || rc == 409) {
				struct rp_error rerr;
				if (do_register(w, sl->http, &w->stopping, &rerr) < 0 && !w->stopping)
					line(w, WORKER_LINE_ERROR, "registering again: %s", rerr.msg);
			}
			sleep_ms(WORKER_REFUSED_PAUSE_MS, &w->stopping);
		}
		json_decref(answer);
	}
	pthread_mutex_lock(&w->state_lock);
	w->slots_running--;
	pthread_cond_broadcast(&w->state_cond);
	pthread_mutex_unlock(&w->state_lock);
	return NULL;
}

/* ---- heartbeats ----------------------------------------------------------------------- */

static void heartbeat_slot(struct worker *w, struct slot *sl)
{
	pthread_mutex_lock(&sl->lock);
	int active = sl->has_job && !sl->lost;
	int64_t id = sl->job_id, fence = sl->fence;
	pthread_mutex_unlock(&sl->lock);
	if (!active)
		return;
	char path[64];
	snprintf(path, sizeof(path), API "/jobs/%" PRId64 "/heartbeat", id);
	json_t *body = json_pack("{s:s, s:I}", "worker", w->o->name, "fence", (json_int_t)fence);
	if (!body)
		return;
	add_resources(body, w);
	/* One try: the next beat comes soon, and other slots' jobs must not wait behind this one. */
	uint64_t timeout = (uint64_t)w->heartbeat_ms < 10000 ? (uint64_t)w->heartbeat_ms : 10000;
	struct http_request req = {
		.method = "POST", .path = path, .timeout_ms = timeout, .abort = &w->quit
	};
	struct rp_error err;
	json_t *answer = NULL;
	int rc = http_request_json(w->hb_http, &req, body, NULL, &answer, &err);
	json_decref(body);
	int cancel = rc == 200 && json_is_true(json_object_get(answer, "cancel"));
	json_decref(answer);
	if (rc == 200 && !cancel)
		return;
	if (rc == 200 || rc == 409) {
		pthread_mutex_lock(&sl->lock);
		int same = sl->has_job && sl->job_id == id && sl->fence == fence;
		int first = same && (cancel ? !sl->cancel : !sl->lost);
		if (same) {
			if (cancel)
				sl->cancel = 1;
			else
				sl->lost = 1;
			sl->job_abort = 1;
			build_cancel(sl->session);
		}
		pthread_mutex_unlock(&sl->lock);
		if (first)
			line(w, WORKER_LINE_INFO, "job %" PRId64 ": %s", id,
			     cancel ? "cancelled by the scheduler"
				    : "the lease is not ours any more; stopping it");
	} else if (rc == 401 || rc == 403) {
		fatal(w, RP_EINVAL, err.msg);
	} else {
		on_retry(1, rc, (uint64_t)w->heartbeat_ms, &err, w); /* the rate-limited line */
	}
}

static void *heartbeat_main(void *arg)
{
	struct worker *w = arg;
	uint64_t next = now_ms() + (uint64_t)w->heartbeat_ms;
	pthread_mutex_lock(&w->state_lock);
	while (!w->hb_quit) {
		uint64_t now = now_ms();
		if (now < next) {
			struct timespec until = deadline_in(next - now);
			pthread_cond_timedwait(&w->state_cond, &w->state_lock, &until);
			continue;
		}
		next = now + (uint64_t)w->heartbeat_ms;
		pthread_mutex_unlock(&w->state_lock);
		for (unsigned i = 0; i < w->n_slots; i++)
			heartbeat_slot(w, &w->slots[i]);
		pthread_mutex_lock(&w->state_lock);
	}
	pthread_mutex_unlock(&w->state_lock);
	return NULL;
}

/* ---- start and stop ------------------------------------------------------------------- */

/*
 * The targets this worker serves, each one's backend opened once now: the
 * sandbox runs bubblewrap, the vm backend checks that a boot has all it needs
 * and decides between KVM and TCG (a probe VM, or its answer kept for this
 * host boot), so a worker never leases a job it cannot run.
 */
static int choose_targets(struct worker *w, const char *universe, struct rp_error *err)
{
	size_t n = w->o->all_targets ? w->u->n_targets : w->o->n_targets;
	if (!(w->targets = calloc(n ? n : 1, sizeof(*w->targets))))
		return rp_error_set(err, RP_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		long t = w->o->all_targets ? (long)i : manifest_find_target(w->u, w->o->targets[i]);
		const struct rp_target *target = &w->u->targets[t];
		struct backend *b = NULL;
		struct rp_error berr;
		if (backend_open(target, NULL, &b, &berr) < 0) {
			if (!w->o->all_targets)
				return rp_error_set(err, RP_EIO, "cannot serve target %s: %s", target->name, berr.msg);
			line(w, WORKER_LINE_INFO, "worker %s: not serving target %s: %s", w->o->name, target->name,
			     berr.msg);
			continue;
		}
		backend_close(b);
		w->targets[w->n_targets++] = target->name;
	}
	if (!w->n_targets)
		return rp_error_set(err, RP_EIO, "no target of universe %s can run on this worker", universe);
	return 0;
}

static int load_universe(struct worker *w, struct http_client *c, struct rp_error *err)
{
	struct http_request req = { .method = "GET",
				    .path = API "/universe",
				    .response_cap = WORKER_UNIVERSE_CAP };
	struct http_retry retry = retry_until(w, w->stop);
	json_t *doc = NULL, *manifest;
	const char *name, *dir;
	json_error_t jerr;
	char *text = NULL, *path = NULL;
	int rc = http_request_json(c, &req, NULL, &retry, &doc, err);
	if (rc < 0)
		goto out;
	if (rc >= 400 && rc < 500) {
		rc = RP_EINVAL; /* a refused token (401, 403), or a scheduler that has no universe for us */
		goto out;
	}
	if (rc != 200) {
		rc = rc >= 400 ? RP_EIO
			       : rp_error_set(err, RP_EIO, "GET %s/universe: unexpected HTTP %d", API, rc);
		goto out;
	}
	if (json_unpack_ex(doc, &jerr, 0, "{s:s, s:s, s:o}", "name", &name, "dir", &dir, "manifest",
			   &manifest) < 0) {
		rc = rp_error_set(err, RP_EIO, "GET %s/universe: malformed answer: %s", API, jerr.text);
		goto out;
	}
	/* Named as if it were the server's file: relative repository paths resolve to its directory. */
	if (!(text = json_dumps(manifest, JSON_COMPACT)) || asprintf(&path, "%s/ripple.json", dir) < 0) {
		path = NULL;
		rc = rp_error_set(err, RP_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = manifest_load_buffer(text, strlen(text), path, &w->u, err)) < 0) {
		rc = rc == RP_ENOMEM ? rc : RP_EIO;
		goto out;
	}
	if ((rc = graph_init_universe(&w->g, w->u, err)) < 0)
		goto out;
	for (size_t i = 0; !w->o->all_targets && i < w->o->n_targets; i++)
		if (manifest_find_target(w->u, w->o->targets[i]) < 0) {
			rc = rp_error_set(err, RP_EINVAL, "target %s is not in the scheduler's universe %s",
					  w->o->targets[i], name);
			goto out;
		}
	rc = choose_targets(w, name, err);
out:
	json_decref(doc);
	free(text);
	free(path);
	return rc;
}

static int slot_open(struct worker *w, struct slot *sl, unsigned index, struct rp_error *err)
{
	struct http_client_options ho = { .base_url = w->o->server, .token = w->o->token };
	struct build_options bo = { .cache_dir = w->cache,
				    .jobs = 1,
				    .cached_deps_only = 1,
				    .no_signal_handlers = 1,
				    .on_step = on_step,
				    .data = sl };
	char db[PATH_MAX + 16];
	int rc;
	sl->w = w;
	sl->index = index;
	pthread_mutex_init(&sl->lock, NULL);
	pthread_cond_init(&sl->cond, NULL);
	if ((rc = http_client_new(&ho, &sl->http, err)) < 0 ||
	    (rc = http_client_new(&ho, &sl->log_http, err)) < 0)
		return rc;
	if ((rc = build_session_open(w->u, &bo, &sl->session, err)) < 0)
		return rc;
	snprintf(db, sizeof(db), "%s/ripple.db", w->cache);
	return store_open(db, 0, &sl->store, err);
}

static void slot_close(struct slot *sl)
{
	stream_reset(sl);
	store_close(sl->store);
	build_session_close(sl->session);
	http_client_free(sl->http);
	http_client_free(sl->log_http);
	pthread_mutex_destroy(&sl->lock);
	pthread_cond_destroy(&sl->cond);
}

static int check_options(const struct worker_options *o, struct rp_error *err)
{
	if (!o->server || !o->token || !*o->token || !o->cache_dir || !*o->cache_dir)
		return rp_error_set(err, RP_EINVAL, "a worker needs a server, a token and a cache directory");
	if (!o->name || !worker_valid_name(o->name))
		return rp_error_set(err, RP_EINVAL,
				    "worker name '%.80s' must be 1 to %d of A-Z a-z 0-9 . _ -",
				    o->name ? o->name : "", WORKER_NAME_MAX);
	if (o->slots < 1 || o->slots > WORKER_SLOTS_MAX)
		return rp_error_set(err, RP_EINVAL, "slots must be 1 to %d, not %u", WORKER_SLOTS_MAX,
				    o->slots);
	if (!o->n_targets && !o->all_targets)
		return rp_error_set(err, RP_EINVAL, "a worker serves at least one target");
	for (size_t i = 0; i < o->n_targets; i++)
		if (!manifest_valid_name(o->targets[i]))
			return rp_error_set(err, RP_EINVAL, "'%.80s' is not a target name", o->targets[i]);
	return 0;
}

int worker_run(const struct worker_options *o, volatile sig_atomic_t *stop, struct rp_error *err)
{
	struct worker w = { .o = o, .stop = stop };
	struct http_client *main_http = NULL;
	int rc;
	if ((rc = check_options(o, err)) < 0)
		return rc;
	pthread_mutex_init(&w.line_lock, NULL);
	pthread_mutex_init(&w.state_lock, NULL);
	pthread_cond_init(&w.state_cond, NULL);
	if (mkdir(o->cache_dir, 0755) < 0 && errno != EEXIST) {
		rc = rp_error_set(err, RP_EIO, "cannot create %s: %s", o->cache_dir, strerror(errno));
		goto out;
	}
	char *abs = realpath(o->cache_dir, NULL);
	if (!abs || strlen(abs) >= sizeof(w.cache) - 512) {
		rc = rp_error_set(err, RP_EIO, "cache directory %s: %s", o->cache_dir,
				  abs ? "path too long" : strerror(errno));
		free(abs);
		goto out;
	}
	memcpy(w.cache, abs, strlen(abs) + 1);
	free(abs);

	struct http_client_options ho = { .base_url = o->server, .token = o->token };
	if ((rc = http_client_new(&ho, &main_http, err)) < 0 ||
	    (rc = http_client_new(&ho, &w.hb_http, err)) < 0)
		goto out;
	/* Both retry for as long as the scheduler is unreachable: a worker may start before it. */
	rc = load_universe(&w, main_http, err);
	if (rc == 0)
		rc = do_register(&w, main_http, stop, err);
	if (*stop) {
		rc = 0;
		goto out;
	}
	if (rc < 0)
		goto out;

	if (!(w.slots = calloc(o->slots, sizeof(*w.slots)))) {
		rc = rp_error_set(err, RP_ENOMEM, "out of memory");
		goto out;
	}
	/* One after another: the first one's store_open() migrates the database alone. */
	for (; w.n_slots < o->slots; w.n_slots++)
		if ((rc = slot_open(&w, &w.slots[w.n_slots], w.n_slots, err)) < 0) {
			w.n_slots++;
			goto out;
		}
	line(&w, WORKER_LINE_INFO,
	     "worker %s: serving %zu target%s with %u slot%s for %s (lease %" PRId64 " ms)", o->name,
	     w.n_targets, w.n_targets == 1 ? "" : "s", o->slots, o->slots == 1 ? "" : "s", o->server,
	     w.lease_ms);

	if (pthread_create(&w.heartbeat, NULL, heartbeat_main, &w) == 0)
		w.hb_started = 1;
	for (unsigned i = 0; i < w.n_slots; i++) {
		struct slot *sl = &w.slots[i];
		if (pthread_create(&sl->streamer, NULL, streamer_main, sl) == 0)
			sl->streamer_started = 1;
		pthread_mutex_lock(&w.state_lock);
		if (sl->streamer_started && pthread_create(&sl->thread, NULL, slot_main, sl) == 0) {
			sl->thread_started = 1;
			w.slots_running++;
		}
		pthread_mutex_unlock(&w.state_lock);
		if (!sl->thread_started) {
			rc = rp_error_set(err, RP_ENOMEM, "cannot start the threads of slot %u", i);
			w.stopping = 1;
			break;
		}
	}

	/* The caller's thread watches the flag a signal handler sets; the slots do the work. */
	while (!*stop && !w.stopping)
		sleep_ms(100, stop);
	w.stopping = 1;
	for (unsigned i = 0; i < w.n_slots; i++) {
		struct slot *sl = &w.slots[i];
		pthread_mutex_lock(&sl->lock);
		if (sl->has_job) {
			sl->stopped = 1;
			sl->job_abort = 1;
			build_cancel(sl->session);
		}
		pthread_mutex_unlock(&sl->lock);
	}
	/* Cancelled jobs post their results while the scheduler answers, up to the grace. */
	struct timespec until = deadline_in(WORKER_STOP_GRACE_MS);
	pthread_mutex_lock(&w.state_lock);
	while (w.slots_running && pthread_cond_timedwait(&w.state_cond, &w.state_lock, &until) == 0)
		;
	pthread_mutex_unlock(&w.state_lock);
	w.quit = 1;
out:
	w.stopping = w.quit = 1;
	for (unsigned i = 0; i < w.n_slots; i++) {
		pthread_mutex_lock(&w.slots[i].lock);
		w.slots[i].stream_stop = 1;
		pthread_mutex_unlock(&w.slots[i].lock);
	}
	for (unsigned i = 0; i < w.n_slots; i++) {
		struct slot *sl = &w.slots[i];
		if (sl->thread_started)
			pthread_join(sl->thread, NULL);
		pthread_mutex_lock(&sl->lock);
		sl->stream_quit = 1;
		pthread_cond_broadcast(&sl->cond);
		pthread_mutex_unlock(&sl->lock);
		if (sl->streamer_started)
			pthread_join(sl->streamer, NULL);
	}
	if (w.hb_started) {
		pthread_mutex_lock(&w.state_lock);
		w.hb_quit = 1;
		pthread_cond_broadcast(&w.state_cond);
		pthread_mutex_unlock(&w.state_lock);
		pthread_join(w.heartbeat, NULL);
	}
	for (unsigned i = 0; i < w.n_slots; i++)
		slot_close(&w.slots[i]);
	free(w.slots);
	http_client_free(main_http);
	http_client_free(w.hb_http);
	free(w.targets);
	graph_release(&w.g);
	manifest_free(w.u);
	if (rc == 0 && w.fatal_rc)
		rc = rp_error_set(err, w.fatal_rc, "%s", w.fatal_msg);
	pthread_mutex_destroy(&w.line_lock);
	pthread_mutex_destroy(&w.state_lock);
	pthread_cond_destroy(&w.state_cond);
	return rc;
}
