/*
 * farm.c — the scheduler's core (farm.h). The store holds every state; this
 * file decides transitions: planning, keying, cache answers, leases.
 *
 * Concurrency: libmicrohttpd runs each connection on its own thread; they
 * meet here under `lock`. A long-poll lease waits on `work`, which is
 * broadcast whenever a job may have become leasable (a submit, a result, an
 * expiry, a cancel), so an idle farm hands out a submitted job within one
 * wake-up instead of a polling interval; live-log readers wait on `logs`, so
 * a log chunk does not wake every idle lease request.
 */
#include "farm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/buildkey.h"
#include "core/graph.h"
#include "core/store.h"
#include "core/strmap.h"
#include "runner/artifact.h"
#include "runner/git.h"
#include "reports/report.h"
#include "scheduler/autobisect.h"
#include "scheduler/farm-internal.h"
#include "scheduler/forge.h"
#include "scheduler/history.h"
#include "scheduler/plan.h"
#include "core/banned.h"

#define ARTIFACT_MAX_BYTES (2LL << 30)

struct farm_upload {
	struct farm *f;
	char key[65], name[65], sha256[65];
	char tmp_path[PATH_MAX];
	FILE *fp;
	EVP_MD_CTX *md;
	int64_t size;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int mkdir_p(const char *path, struct rp_error *err)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);
	if (len >= sizeof(buf))
		return rp_error_set(err, RP_EINVAL, "%s: path too long", path);
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return rp_error_set(err, RP_EIO, "cannot create %s: %s", buf, strerror(errno));
		*p = '/';
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		return rp_error_set(err, RP_EIO, "cannot create %s: %s", buf, strerror(errno));
	return 0;
}

static char *join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *s = malloc(n);
	if (s)
		snprintf(s, n, "%s/%s", a, b);
	return s;
}

/* Uploads a crash left half written: nobody will finish them. */
static void sweep_uploads(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[PATH_MAX + 256];
	if (!d)
		return;
	while ((e = readdir(d)))
		if (strncmp(e->d_name, "upload-", 7) == 0) {
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			unlink(path);
		}
	closedir(d);
}

/* ---- group commit ------------------------------------------------------------------ */

/*
 * Every request that writes runs between write_lock() and write_unlock(). Its
 * writes go into one open transaction; the request that leaves no other
 * writer behind it commits the whole group and only then do the requests of
 * the group answer. A commit (the WAL append) is the dearest part of a lease
 * or a result, so under load one commit serves several of them, and nothing
 * is acknowledged before it is durable. A request never waits more than
 * GROUP_WAIT_MS for others: then it commits itself. It waits on its own small
 * lock, not the farm's, so the requests it waits for are not slowed by its
 * wake-up. Readers under the plain lock see the open group's writes, which is
 * harmless: they acknowledge nothing.
 */
#define GROUP_WAIT_MS 3
#define GROUP_MAX 64

static void deadline_after(struct timespec *ts, int64_t ms);
static int passed(const struct timespec *deadline);

/* Joins the open group, opening one when none is (lock held, counted in writers). */
static void write_join(struct farm *f)
{
	if (!f->txn_open && store_batch_begin(f->st, NULL) == 0)
		f->txn_open = 1;
}

static void write_lock(struct farm *f)
{
	atomic_fetch_add(&f->writers, 1);
	pthread_mutex_lock(&f->lock);
	write_join(f);
}

/* Commits the open group (lock held) and tells each of its requests how it went. */
static void group_commit(struct farm *f)
{
	struct rp_error e;
	int rc = store_batch_end(f->st, 1, &e);
	f->txn_open = 0;
	f->commits++;
	f->grouped += f->group;
	f->group = 0;
	pthread_mutex_lock(&f->commit_lock);
	for (struct commit_wait *w = f->waiting; w; w = w->next) {
		w->done = 1;
		w->rc = rc < 0 ? RP_EDB : 0;
	}
	f->waiting = NULL;
	pthread_cond_broadcast(&f->committed);
	pthread_mutex_unlock(&f->commit_lock);
}

/* Stops counting as a writer without waiting: nothing of this request is to be acknowledged (lock held). */
static void write_leave(struct farm *f)
{
	if (atomic_fetch_sub(&f->writers, 1) == 1 && f->txn_open && f->waiting)
		group_commit(f); /* the group was waiting for this request only */
}

/*
 * Ends a request's writes (lock held), releases the lock, and returns once
 * they are committed: 0, or RP_EDB when the commit failed and the request
 * must not be acknowledged.
 */
static int write_unlock(struct farm *f, struct rp_error *err)
{
	struct commit_wait me = { NULL, 0, 0 };
	int last = atomic_fetch_sub(&f->writers, 1) == 1;
	if (!f->txn_open) { /* no batch could begin: each store call committed on its own */
		pthread_mutex_unlock(&f->lock);
		return 0;
	}
	me.next = f->waiting;
	f->waiting = &me;
	f->group++;
	if (last || f->group >= GROUP_MAX) {
		group_commit(f);
		pthread_mutex_unlock(&f->lock);
	} else {
		struct timespec deadline;
		deadline_after(&deadline, GROUP_WAIT_MS);
		pthread_mutex_unlock(&f->lock);
		pthread_mutex_lock(&f->commit_lock);
		while (!me.done && !passed(&deadline))
			pthread_cond_timedwait(&f->committed, &f->commit_lock, &deadline);
		int done = me.done;
		pthread_mutex_unlock(&f->commit_lock);
		if (!done) { /* the others took too long: commit them with this one */
			pthread_mutex_lock(&f->lock);
			if (!me.done)
				group_commit(f);
			pthread_mutex_unlock(&f->lock);
		}
	}
	if (me.rc < 0)
		rp_error_set(err, me.rc, "the change could not be committed; send it again");
	return me.rc;
}

int farm_open(const struct farm_options *o, struct farm **out, struct rp_error *err)
{
	struct farm *f = calloc(1, sizeof(*f));
	int rc;
	*out = NULL;
	if (!f)
		return rp_error_set(err, RP_ENOMEM, "out of memory");
	f->o = *o;
	if (!f->o.lease_ms)
		f->o.lease_ms = 30000;
	if (!f->o.min_free_disk)
		f->o.min_free_disk = 256LL << 20;
	if (!f->o.min_free_mem)
		f->o.min_free_mem = 64LL << 20;
	pthread_mutex_init(&f->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&f->work, &ca);
	pthread_cond_init(&f->logs, &ca);
	pthread_cond_init(&f->committed, &ca);
	pthread_mutex_init(&f->commit_lock, NULL);
	pthread_mutex_init(&f->api_lock, NULL);
	pthread_condattr_destroy(&ca);
	if ((rc = mirror_global_init(err)) < 0)
		goto fail;
	if ((rc = manifest_load_file(o->universe_path, &f->u, err)) < 0)
		goto fail;
	json_error_t jerr;
	f->manifest = json_load_file(o->universe_path, 0, &jerr);
	if (!f->manifest) {
		rc = rp_error_set(err, RP_EIO, "%s: %s", o->universe_path, jerr.text);
		goto fail;
	}
	if ((rc = graph_init_universe(&f->g, f->u, err)) < 0)
		goto fail;
	if ((rc = mkdir_p(o->cache_dir, err)) < 0)
		goto fail;
	f->cache_dir = realpath(o->cache_dir, NULL);
	if (!f->cache_dir) {
		rc = rp_error_set(err, RP_EIO, "%s: %s", o->cache_dir, strerror(errno));
		goto fail;
	}
	f->mirrors_dir = join(f->cache_dir, "mirrors");
	f->blobs_dir = join(f->cache_dir, "artifacts");
	if (!f->mirrors_dir || !f->blobs_dir) {
		rc = rp_error_set(err, RP_ENOMEM, "out of memory");
		goto fail;
	}
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s/tmp", f->blobs_dir);
	if ((rc = mkdir_p(f->mirrors_dir, err)) < 0 || (rc = mkdir_p(tmp, err)) < 0)
		goto fail;
	sweep_uploads(tmp);
	if ((rc = store_open(o->db_path, 0, &f->st, err)) < 0 || (rc = store_defer_checkpoints(f->st, err)) < 0 ||
	    (rc = store_open(o->db_path, STORE_NO_MIGRATE, &f->checkpointer, err)) < 0)
		goto fail;
	struct store_package_row *rows = calloc(f->u->n_packages ? f->u->n_packages : 1, sizeof(*rows));
	if (!rows) {
		rc = rp_error_set(err, RP_ENOMEM, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < f->u->n_packages; i++)
		rows[i] = (struct store_package_row){ f->u->packages[i].name, f->u->packages[i].repo,
						      f->u->packages[i].branch, (int)i };
	rc = store_sync_universe(f->st, f->u->name, rows, f->u->n_packages, NULL, err);
	free(rows);
	if (rc < 0)
		goto fail;
	*out = f;
	return 0;
fail:
	farm_close(f);
	return rc;
}

void farm_shutdown(struct farm *f)
{
	pthread_mutex_lock(&f->lock);
	f->shutting_down = 1;
	pthread_cond_broadcast(&f->work);
	pthread_cond_broadcast(&f->logs);
	pthread_mutex_unlock(&f->lock);
}

void farm_close(struct farm *f)
{
	if (!f)
		return;
	if (f->txn_open)
		group_commit(f);
	store_close(f->st);
	store_close(f->checkpointer);
	if (f->u) {
		graph_release(&f->g);
		manifest_free(f->u);
	}
	json_decref(f->manifest);
	free(f->cache_dir);
	free(f->mirrors_dir);
	free(f->blobs_dir);
	pthread_cond_destroy(&f->work);
	pthread_cond_destroy(&f->logs);
	pthread_cond_destroy(&f->committed);
	pthread_mutex_destroy(&f->commit_lock);
	for (size_t i = 0; i < PAGE_CACHE; i++)
		free(f->pages[i].text);
	for (size_t i = 0; i < sizeof(f->api_memo) / sizeof(f->api_memo[0]); i++)
		json_decref(f->api_memo[i].entry);
	pthread_mutex_destroy(&f->api_lock);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

void farm_set_base_url(struct farm *f, const char *url)
{
	size_t n = (size_t)snprintf(f->base_url, sizeof(f->base_url), "%s", url ? url : "");
	while (n && n < sizeof(f->base_url) && f->base_url[n - 1] == '/')
		f->base_url[--n] = 0;
}

void farm_set_worker_token_hash(struct farm *f, const char *hash)
{
	snprintf(f->worker_token_hash, sizeof(f->worker_token_hash), "%s", hash);
}

json_t *farm_universe_json(struct farm *f)
{
	return json_pack("{s:s, s:s, s:O}", "name", f->u->name, "dir", f->u->dir, "manifest", f->manifest);
}

/* ---- reading request documents ---------------------------------------------- */

/* The string member `key`, NULL when absent or null; RP_EINVAL for another type. */
static int opt_string(const json_t *obj, const char *key, const char **out, struct rp_error *err)
{
	json_t *v = json_object_get(obj, key);
	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return rp_error_set(err, RP_EINVAL, "member \"%s\": expected a string", key);
	*out = json_string_value(v);
	return 0;
}

static int need_string(const json_t *obj, const char *key, const char **out, struct rp_error *err)
{
	int rc = opt_string(obj, key, out, err);
	if (rc == 0 && (!*out || !**out))
		rc = rp_error_set(err, RP_EINVAL, "member \"%s\": expected a non-empty string", key);
	return rc;
}

static int opt_int(const json_t *obj, const char *key, int64_t min, int64_t max, int64_t *out,
		   struct rp_error *err)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return rp_error_set(err, RP_EINVAL, "member \"%s\": expected an integer from %lld to %lld", key,
				    (long long)min, (long long)max);
	*out = json_integer_value(v);
	return 0;
}

static int need_int(const json_t *obj, const char *key, int64_t min, int64_t max, int64_t *out,
		    struct rp_error *err)
{
	if (!json_object_get(obj, key))
		return rp_error_set(err, RP_EINVAL, "member \"%s\": missing; expected an integer", key);
	return opt_int(obj, key, min, max, out, err);
}

static int opt_number(const json_t *obj, const char *key, double *out, struct rp_error *err)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_number(v) || json_number_value(v) < 0)
		return rp_error_set(err, RP_EINVAL, "member \"%s\": expected a number >= 0", key);
	*out = json_number_value(v);
	return 0;
}

static int valid_worker_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '.' ||
		      *s == '_' || *s == '-'))
			return 0;
	return 1;
}

static int need_object(const json_t *req, struct rp_error *err)
{
	if (!json_is_object(req))
		return rp_error_set(err, RP_EINVAL, "expected a JSON object");
	return 0;
}

/* ---- planning ----------------------------------------------------------------- */

struct resolved {
	const char *rev;
	char commit[41], tree[41];
	int done;
};

static const char *const submit_members[] = { "kind",	  "title",	"change_ref", "changes",
					      "pins",	  "targets",	"packages",   "request_id",
					      "fuzz",	  "fuzz_crash", NULL };

/* A submit with a member it does not know is refused: a typo must not plan the wrong run. */
static int known_members(const json_t *req, const char *const *known, struct rp_error *err)
{
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)req, key, v)
	{
		size_t i = 0;
		while (known[i] && strcmp(known[i], key) != 0)
			i++;
		if (!known[i])
			return rp_error_set(err, RP_EINVAL, "member \"%.64s\" is not known here; expected kind, title, "
					    "change_ref, changes, pins, targets or request_id", key);
	}
	return 0;
}

static int kind_of(const char *name, enum store_run_kind *kind, int *priority)
{
	static const struct {
		const char *name;
		enum store_run_kind kind;
		int priority;
	} kinds[] = { { "pr", STORE_RUN_PR, 40 },
		      { "bisect", STORE_RUN_BISECT, 30 },
		      { "nightly", STORE_RUN_NIGHTLY, 20 },
		      { "manual", STORE_RUN_MANUAL, 10 } };
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (strcmp(kinds[i].name, name) == 0) {
			*kind = kinds[i].kind;
			*priority = kinds[i].priority;
			return 0;
		}
	}
	return -1;
}

static int valid_rev(const char *rev)
{
	size_t n = strlen(rev);
	if (n == 0 || n > PLAN_REV_MAX)
		return 0;
	for (; *rev; rev++)
		if (*rev <= ' ' || *rev > '~')
			return 0;
	return 1;
}

/* Reads "changes" or "pins" into `out` (room for every package); duplicates refused. */
static int read_revs(struct farm *f, const json_t *req, const char *member, struct plan_change *out, size_t *n,
		     struct rp_error *err)
{
	json_t *arr = json_object_get(req, member);
	*n = 0;
	if (!arr || json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return rp_error_set(err, RP_EINVAL, "member \"%s\": expected an array of {\"package\", \"rev\"}",
				    member);
	if (json_array_size(arr) > f->u->n_packages)
		return rp_error_set(err, RP_EINVAL, "member \"%s\": more entries than the universe has packages",
				    member);
	size_t i;
	json_t *e;
	json_array_foreach(arr, i, e)
	{
		const char *pkg, *rev;
		json_t *p = json_object_get(e, "package"), *r = json_object_get(e, "rev");
		if (!json_is_object(e) || !json_is_string(p) || !json_is_string(r))
			return rp_error_set(err, RP_EINVAL,
					    "%s[%zu]: expected {\"package\": string, \"rev\": string}", member, i);
		pkg = json_string_value(p);
		rev = json_string_value(r);
		long idx = manifest_find_package(f->u, pkg);
		if (idx < 0) {
			const char *hint = manifest_suggest_package(f->u, pkg);
			return rp_error_set(err, RP_EINVAL, "%s[%zu]: no package \"%.100s\" in universe %s%s%s%s",
					    member, i, pkg, f->u->name, hint ? " (did you mean " : "",
					    hint ? hint : "", hint ? "?)" : "");
		}
		if (!valid_rev(rev))
			return rp_error_set(err, RP_EINVAL,
					    "%s[%zu].rev: expected 1 to %d printable characters without spaces",
					    member, i, PLAN_REV_MAX);
		for (size_t k = 0; k < *n; k++)
			if (out[k].package == (size_t)idx)
				return rp_error_set(err, RP_EINVAL, "%s[%zu]: package %s given twice", member,
						    i, pkg);
		out[(*n)++] = (struct plan_change){ (size_t)idx, rev };
	}
	return 0;
}

/* Marks the targets a run is limited to ("targets": [...]); every target when absent. */
static int read_target_filter(struct farm *f, const json_t *req, unsigned char *only, struct rp_error *err)
{
	json_t *arr = json_object_get(req, "targets"), *e;
	size_t i;
	if (!arr || json_is_null(arr)) {
		memset(only, 1, f->u->n_targets);
		return 0;
	}
	if (!json_is_array(arr) || json_array_size(arr) == 0)
		return rp_error_set(err, RP_EINVAL, "member \"targets\": expected a non-empty array of target names");
	json_array_foreach(arr, i, e)
	{
		long t = json_is_string(e) ? manifest_find_target(f->u, json_string_value(e)) : -1;
		if (t < 0)
			return rp_error_set(err, RP_EINVAL, "targets[%zu]: expected a target of universe %s", i,
					    f->u->name);
		only[t] = 1;
	}
	return 0;
}

/*
 * Resolves the revision of every package in `needed` to a commit and tree:
 * each repository is opened and fetched once, each (repository, revision)
 * resolved once, so a universe of many packages in few repositories plans fast.
 */
static int resolve(struct farm *f, const unsigned char *needed, struct resolved *res, struct rp_error *err)
{
	const struct rp_universe *u = f->u;
	struct mirror *m = NULL;
	const char *open_repo = NULL;
	int rc = 0;
	for (size_t p = 0; p < u->n_packages && rc == 0; p++) {
		if (!needed[p] || res[p].done)
			continue;
		const struct rp_package *pkg = &u->packages[p];
		size_t q;
		for (q = 0; q < p; q++)
			if (needed[q] && res[q].done && strcmp(u->packages[q].repo, pkg->repo) == 0 &&
			    strcmp(res[q].rev, res[p].rev) == 0)
				break;
		if (q < p) { /* the same revision of the same repository: resolved already */
			memcpy(res[p].commit, res[q].commit, sizeof(res[p].commit));
			memcpy(res[p].tree, res[q].tree, sizeof(res[p].tree));
			res[p].done = 1;
			continue;
		}
		if (!open_repo || strcmp(open_repo, pkg->repo) != 0) {
			mirror_close(m);
			m = NULL;
			open_repo = NULL;
			int fetched = 0;
			for (q = 0; q < p; q++)
				fetched |= needed[q] && strcmp(u->packages[q].repo, pkg->repo) == 0;
			rc = mirror_open(f->mirrors_dir, pkg->repo, u->dir, &m, err);
			if (rc == 0 && !fetched)
				rc = mirror_fetch(m, err);
			if (rc == 0)
				open_repo = pkg->repo;
		}
		git_oid commit, tree;
		if (rc == 0)
			rc = mirror_resolve(m, res[p].rev, &commit, err);
		if (rc == 0)
			rc = mirror_tree_of(m, &commit, &tree, err);
		if (rc < 0) {
			struct rp_error inner = *err;
			if (rc == RP_EUNREACHABLE || rc == RP_EIO || rc == RP_ENOMEM || rc == RP_EDB)
				rc = rp_error_set(err, rc, "package %s: %s", pkg->name, inner.msg);
			else
				rc = rp_error_set(err, RP_EINVAL, "package %s at \"%s\": %s", pkg->name, res[p].rev,
						  inner.msg);
			break;
		}
		git_oid_tostr(res[p].commit, sizeof(res[p].commit), &commit);
		git_oid_tostr(res[p].tree, sizeof(res[p].tree), &tree);
		res[p].done = 1;
	}
	mirror_close(m);
	return rc;
}

static int advance(struct farm *f, struct rp_error *err);

/*
 * Records that `worker` called (lock held), at most once a second per worker:
 * a lease or a heartbeat is then one write transaction, not two. RP_ENOTFOUND
 * for a worker that never registered.
 */
static int worker_seen(struct farm *f, const char *worker, int64_t disk, int64_t mem, double load,
		       struct rp_error *err)
{
	int64_t now = now_ms();
	size_t i, oldest = 0;
	for (i = 0; i < sizeof(f->seen) / sizeof(f->seen[0]); i++) {
		if (strcmp(f->seen[i].name, worker) == 0)
			break;
		if (f->seen[i].written_ms < f->seen[oldest].written_ms)
			oldest = i;
	}
	if (i < sizeof(f->seen) / sizeof(f->seen[0]) && now - f->seen[i].written_ms < 1000)
		return 0;
	int rc = store_worker_seen(f->st, worker, now, disk, mem, load, err);
	if (rc == 0) {
		if (i == sizeof(f->seen) / sizeof(f->seen[0]))
			i = oldest;
		snprintf(f->seen[i].name, sizeof(f->seen[i].name), "%s", worker);
		f->seen[i].written_ms = now;
	}
	return rc;
}

/* The queue changed: waiting lease requests look again, and live logs of jobs that ended close. */
static void wake(struct farm *f)
{
	pthread_cond_broadcast(&f->work);
	pthread_cond_broadcast(&f->logs);
}

/* Cancels the unfinished runs of the same pull request that `run_id` supersedes. */
static void supersede(struct farm *f, const char *change_ref, int64_t run_id)
{
	int64_t *ids = NULL;
	size_t n = 0, q, r;
	struct rp_error err;
	if (store_runs_active_by_ref(f->st, change_ref, &ids, &n, &err) < 0)
		return;
	for (size_t i = 0; i < n; i++)
		if (ids[i] < run_id)
			store_run_cancel(f->st, ids[i], now_ms(), &q, &r, &err);
	free(ids);
}

/*
 * Records what run `run_id` will owe the outside world (lock held): a pull
 * request's run "FORGE:OWNER/REPO#N" its statuses and comment, when the
 * scheduler reports to that forge; a nightly its package notifications.
 */
static int owe_report(struct farm *f, enum store_run_kind kind, const char *change_ref, int64_t run_id,
		      const char *head, struct rp_error *err)
{
	struct store_report_spec spec = { .run_id = run_id };
	char forge[16], repo[500];
	if (kind == STORE_RUN_NIGHTLY)
		return store_report_add(f->st, &spec, err);
	if (kind != STORE_RUN_PR || !change_ref || !head)
		return 0;
	const char *colon = strchr(change_ref, ':'), *hash = strrchr(change_ref, '#');
	if (!colon || !hash || hash < colon || (size_t)(colon - change_ref) >= sizeof(forge) ||
	    (size_t)(hash - colon - 1) >= sizeof(repo) || hash == colon + 1)
		return 0; /* not a forge's pull request: nobody to tell */
	snprintf(forge, sizeof(forge), "%.*s", (int)(colon - change_ref), change_ref);
	snprintf(repo, sizeof(repo), "%.*s", (int)(hash - colon - 1), colon + 1);
	char *end;
	long long number = strtoll(hash + 1, &end, 10);
	enum forge_kind fk = forge_kind_parse(forge);
	if (*end || number <= 0 || !fk || !f->o.report_to[fk])
		return 0;
	spec.forge = forge;
	spec.repo = repo;
	spec.number = number;
	spec.head = head;
	return store_report_add(f->st, &spec, err);
}

/* The number of jobs of run `run_id` (lock held). */
static int count_jobs(struct farm *f, int64_t run_id, size_t *njobs, struct rp_error *err)
{
	struct store_job *jobs = NULL;
	int rc = store_jobs_list(f->st, run_id, &jobs, njobs, err);
	store_jobs_free(jobs, rc == 0 ? *njobs : 0);
	return rc;
}

/*
 * Edges from job `job` to the jobs of `pkg`'s dependencies on target `t`
 * (job_of: the job index of each package and target slot, -1 for none: a
 * dependency without this target is nothing to wait for).
 */
static int add_dep_edges(const struct rp_universe *u, const struct rp_package *pkg, size_t t, const long *job_of,
			 size_t job, struct store_edge **edges, size_t *n, size_t *cap, struct rp_error *err)
{
	for (size_t d = 0; d < pkg->n_depends; d++) {
		long dj = job_of[pkg->depends[d] * u->n_targets + t];
		if (dj < 0)
			continue;
		if (*n == *cap) {
			size_t grown = *cap ? 2 * *cap : 64;
			struct store_edge *e = realloc(*edges, grown * sizeof(*e));
			if (!e)
				return rp_error_set(err, RP_ENOMEM, "out of memory");
			*edges = e;
			*cap = grown;
		}
		(*edges)[(*n)++] = (struct store_edge){ job, (size_t)dj };
	}
	return 0;
}

/*
 * Fuzz jobs (docs/fuzz.md, "In the farm"), after the builds: with `fuzz`,
 * one per asked package that has fuzz targets, on its fuzz target
 * (manifest_fuzz_target: the first local one, else a vm one); one replay of
 * each of its crashes still open, on the crash's target, at this run's
 * commit; with `crash_id`, that crash's replay alone (a bisection's probe). Each waits for its package's dependencies'
 * builds on that target; nothing waits for it. Grows *jobs as needed.
 */
static int plan_fuzz_jobs(struct farm *f, int fuzz, int64_t crash_id, const unsigned char *asked,
			  const struct resolved *res, const size_t *order, size_t n_order, const long *job_of,
			  struct store_job_spec **jobs, size_t *n_jobs, struct store_edge **edges, size_t *n_edges,
			  size_t *cap_edges, struct rp_error *err)
{
	const struct rp_universe *u = f->u;
	struct store_fuzz_crash *open = NULL;
	size_t n_open = 0;
	int rc = 0;
	if (crash_id) {
		struct store_fuzz_crash c;
		pthread_mutex_lock(&f->lock);
		rc = store_fuzz_crash_get(f->st, crash_id, &c, err);
		pthread_mutex_unlock(&f->lock);
		if (rc < 0)
			return rc;
		open = calloc(1, sizeof(*open));
		if (!open) {
			store_fuzz_crash_release(&c);
			return rp_error_set(err, RP_ENOMEM, "out of memory");
		}
		open[0] = c;
		n_open = 1;
	} else {
		pthread_mutex_lock(&f->lock);
		rc = store_fuzz_crashes(f->st, NULL, NULL, 1, &open, &n_open, err);
		pthread_mutex_unlock(&f->lock);
		if (rc < 0)
			return rc;
	}
	struct store_job_spec *grown = realloc(*jobs, (*n_jobs + u->n_packages + n_open + 1) * sizeof(**jobs));
	if (!grown) {
		rc = rp_error_set(err, RP_ENOMEM, "out of memory");
		goto out;
	}
	*jobs = grown;
	for (size_t k = 0; k < n_order && rc == 0; k++) {
		size_t p = order[k];
		const struct rp_package *pkg = &u->packages[p];
		if (!pkg->n_fuzz || !res[p].commit[0] || (!crash_id && !asked[p]))
			continue;
		/* Fuzzing on the package's fuzz target; each open crash replayed on its own target, if still there. */
		for (size_t c = 0; c <= n_open && rc == 0; c++) {
			int64_t replay = 0;
			long t;
			if (c < n_open) {
				if (strcmp(open[c].package, pkg->name) != 0)
					continue;
				t = manifest_find_target(u, open[c].target);
				if (t < 0 || !manifest_package_has_target(pkg, (size_t)t))
					continue;
				/* A crash found in a guest before the package moved to AFL++, which never runs there. */
				if (pkg->fuzz_engine == RP_FUZZ_AFL && u->targets[t].runner == RP_RUNNER_VM)
					continue;
				replay = open[c].id;
			} else if (!fuzz || (t = manifest_fuzz_target(u, pkg)) < 0) {
				continue;
			}
			/* Every dependency's build on the target must be in the run. */
			int deps_planned = 1;
			for (size_t d = 0; d < pkg->n_depends; d++)
				deps_planned &= job_of[pkg->depends[d] * u->n_targets + (size_t)t] >= 0;
			if (!deps_planned)
				continue;
			(*jobs)[*n_jobs] = (struct store_job_spec){ .package = pkg->name,
								    .target = u->targets[t].name,
								    .commit = res[p].commit,
								    .tree_id = res[p].tree,
								    .variant = "fuzz",
								    .fuzz_crash = replay };
			if ((rc = add_dep_edges(u, pkg, (size_t)t, job_of, *n_jobs, edges, n_edges, cap_edges, err)) == 0)
				(*n_jobs)++;
		}
	}
out:
	store_fuzz_crashes_free(open, n_open);
	return rc;
}

int farm_submit(struct farm *f, const json_t *req, int64_t *run_id, size_t *njobs, int *created,
		struct rp_error *err)
{
	const struct rp_universe *u = f->u;
	const char *kind_name = "manual", *title, *change_ref, *request_id;
	enum store_run_kind kind;
	int priority, rc;
	size_t n_changes = 0, n_pins = 0, n_slots = u->n_packages * u->n_targets;
	struct plan_change *changes = calloc(u->n_packages + 1, sizeof(*changes));
	struct plan_change *pins = calloc(u->n_packages + 1, sizeof(*pins));
	struct resolved *res = calloc(u->n_packages + 1, sizeof(*res));
	unsigned char *needed = calloc(n_slots + 1, 1), *pkg_needed = calloc(u->n_packages + 1, 1);
	unsigned char *changed = calloc(u->n_packages + 1, 1);
	size_t *order = malloc((u->n_packages + 1) * sizeof(*order));
	long *job_of = malloc((n_slots + 1) * sizeof(*job_of));
	/* Build jobs, and a coverage job per package at most. */
	struct store_job_spec *jobs = calloc(n_slots + u->n_packages + 1, sizeof(*jobs));
	unsigned char *asked = calloc(u->n_packages + 1, 1);
	struct store_edge *edges = NULL;
	struct store_pin *baseline = calloc(u->n_packages + 1, sizeof(*baseline));
	struct store_pin *change_pins = calloc(u->n_packages + 1, sizeof(*change_pins));
	unsigned char *only_target = calloc(u->n_targets + 1, 1);
	struct plan plan = { 0 };
	size_t n_jobs = 0, n_edges = 0, n_base = 0, n_change = 0, cap_edges = 0;
	*created = 0;
	*njobs = 0;
	if (!changes || !pins || !res || !needed || !pkg_needed || !changed || !order || !job_of || !jobs ||
	    !baseline || !change_pins || !only_target || !asked) {
		rc = rp_error_set(err, RP_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = need_object(req, err)) < 0 || (rc = known_members(req, submit_members, err)) < 0 ||
	    (rc = opt_string(req, "kind", &title, err)) < 0)
		goto out;
	if (title)
		kind_name = title;
	if (kind_of(kind_name, &kind, &priority) < 0) {
		rc = rp_error_set(err, RP_EINVAL, "member \"kind\": expected \"pr\", \"bisect\", \"nightly\" or \"manual\"");
		goto out;
	}
	if ((rc = opt_string(req, "title", &title, err)) < 0 || (rc = opt_string(req, "change_ref", &change_ref, err)) < 0 ||
	    (rc = opt_string(req, "request_id", &request_id, err)) < 0)
		goto out;
	if ((title && strlen(title) > 500) || (change_ref && strlen(change_ref) > 500) ||
	    (request_id && (strlen(request_id) > 200 || !*request_id))) {
		rc = rp_error_set(err, RP_EINVAL, "title, change_ref and request_id: expected at most 500, 500 and 1-200 bytes");
		goto out;
	}
	if (kind == STORE_RUN_PR && !change_ref) {
		rc = rp_error_set(err, RP_EINVAL, "member \"change_ref\": a pr run needs one (\"forge:owner/repo#N\")");
		goto out;
	}
	if ((rc = read_revs(f, req, "changes", changes, &n_changes, err)) < 0 ||
	    (rc = read_revs(f, req, "pins", pins, &n_pins, err)) < 0)
		goto out;
	if ((rc = read_target_filter(f, req, only_target, err)) < 0)
		goto out;
	/* "packages": only these (and what they need) instead of the changes' reverse closure. */
	json_t *only_pkgs = json_object_get(req, "packages");
	if (only_pkgs && !json_is_null(only_pkgs) && (!json_is_array(only_pkgs) || json_array_size(only_pkgs) == 0 ||
						      json_array_size(only_pkgs) > u->n_packages)) {
		rc = rp_error_set(err, RP_EINVAL, "member \"packages\": expected a non-empty array of package names");
		goto out;
	}
	if (only_pkgs && json_is_null(only_pkgs))
		only_pkgs = NULL;
	/*
	 * "fuzz": plan fuzz jobs (farm_nightly() says so when nightly.fuzz is set);
	 * "fuzz_crash": ID, a probe replaying that crash at the run's commit of
	 * its package, instead of the package's own build (autobisect.c).
	 */
	json_t *fuzz_member = json_object_get(req, "fuzz");
	if (fuzz_member && !json_is_boolean(fuzz_member) && !json_is_null(fuzz_member)) {
		rc = rp_error_set(err, RP_EINVAL, "member \"fuzz\": expected true or false");
		goto out;
	}
	int want_fuzz = fuzz_member && json_is_boolean(fuzz_member) && json_is_true(fuzz_member);
	int64_t crash_id = 0;
	if ((rc = opt_int(req, "fuzz_crash", 1, INT64_MAX, &crash_id, err)) < 0)
		goto out;
	long crash_pkg = -1, crash_tgt = -1;
	if (crash_id) {
		struct store_fuzz_crash c;
		pthread_mutex_lock(&f->lock);
		rc = store_fuzz_crash_get(f->st, crash_id, &c, err);
		pthread_mutex_unlock(&f->lock);
		if (rc == RP_ENOTFOUND)
			rc = rp_error_set(err, RP_EINVAL, "member \"fuzz_crash\": no crash %" PRId64, crash_id);
		if (rc == 0) {
			crash_pkg = manifest_find_package(u, c.package);
			crash_tgt = manifest_find_target(u, c.target);
			if (crash_pkg < 0 || crash_tgt < 0)
				rc = rp_error_set(err, RP_EINVAL, "member \"fuzz_crash\": crash %" PRId64 " is of %s on %s,"
						  " which the universe no longer has", crash_id, c.package, c.target);
			else if (!only_pkgs || json_array_size(only_pkgs) != 1 ||
				 strcmp(json_string_value(json_array_get(only_pkgs, 0)) ? json_string_value(json_array_get(only_pkgs, 0)) : "", c.package) != 0)
				rc = rp_error_set(err, RP_EINVAL, "member \"fuzz_crash\": expected \"packages\": [\"%s\"]"
						  " beside it", c.package);
		}
		store_fuzz_crash_release(&c);
		if (rc < 0)
			goto out;
		for (size_t t = 0; t < u->n_targets; t++)
			only_target[t] = only_target[t] && (long)t == crash_tgt;
	}
	if (request_id) {
		pthread_mutex_lock(&f->lock);
		rc = store_run_find_request(f->st, request_id, run_id, err);
		if (rc == 0)
			rc = count_jobs(f, *run_id, njobs, err);
		pthread_mutex_unlock(&f->lock);
		if (rc != RP_ENOTFOUND)
			goto out;
	}
	if (only_pkgs) {
		size_t i;
		json_t *e;
		json_array_foreach(only_pkgs, i, e)
		{
			long idx = json_is_string(e) ? manifest_find_package(u, json_string_value(e)) : -1;
			if (idx < 0) {
				rc = rp_error_set(err, RP_EINVAL, "packages[%zu]: expected a package of universe %s", i,
						  u->name);
				goto out;
			}
		}
		for (size_t c = 0; c < n_changes; c++)
			changed[changes[c].package] = 1;
	} else if ((rc = plan_build(u, &f->g, changes, n_changes, &plan, err)) < 0)
		goto out;
	/* The packages asked for, as plan jobs on each of their targets. */
	size_t n_asked = only_pkgs ? json_array_size(only_pkgs) : plan.n_jobs;
	/* The plan's jobs and, on each job's target, every dependency they need. */
	for (size_t j = 0, ti = 0; j < n_asked;) {
		size_t stack_top = 0, first;
		if (only_pkgs) { /* each asked package on each of its targets */
			const struct rp_package *ap =
				&u->packages[manifest_find_package(u, json_string_value(json_array_get(only_pkgs, j)))];
			if (ti == ap->n_targets) {
				j++;
				ti = 0;
				continue;
			}
			first = (size_t)(ap - u->packages) * u->n_targets + ap->targets[ti++];
		} else {
			first = plan.jobs[j].package * u->n_targets + plan.jobs[j].target;
			if (plan.jobs[j].rev)
				changed[plan.jobs[j].package] = 1;
			j++;
		}
		if (!only_target[first % u->n_targets])
			continue;
		asked[first / u->n_targets] = 1;
		if (needed[first])
			continue;
		needed[first] = 1;
		job_of[stack_top++] = (long)first; /* job_of doubles as the stack here */
		while (stack_top) {
			size_t slot = (size_t)job_of[--stack_top];
			const struct rp_package *p = &u->packages[slot / u->n_targets];
			for (size_t d = 0; d < p->n_depends; d++) {
				size_t dep = p->depends[d] * u->n_targets + slot % u->n_targets;
				if (!needed[dep]) {
					needed[dep] = 1;
					job_of[stack_top++] = (long)dep;
				}
			}
		}
	}
	/* A crash's replay stands for its package's build: only what it needs is built. */
	if (crash_id)
		needed[(size_t)crash_pkg * u->n_targets + (size_t)crash_tgt] = 0;
	for (size_t p = 0; p < u->n_packages; p++) {
		res[p].rev = u->packages[p].branch;
		for (size_t t = 0; t < u->n_targets; t++)
			pkg_needed[p] |= needed[p * u->n_targets + t];
	}
	if (crash_id)
		pkg_needed[crash_pkg] = 1;
	for (size_t i = 0; i < n_pins; i++)
		res[pins[i].package].rev = pins[i].rev;
	for (size_t i = 0; i < n_changes; i++)
		res[changes[i].package].rev = changes[i].rev;
	if ((rc = resolve(f, pkg_needed, res, err)) < 0)
		goto out;
	long n_order = graph_topo_order(&f->g, NULL, order);
	if (n_order < 0) {
		rc = rp_error_set(err, (int)n_order, "cannot order the universe");
		goto out;
	}
	for (size_t i = 0; i < n_slots; i++)
		job_of[i] = -1;
	for (long k = 0; k < n_order; k++) {
		size_t p = order[k];
		const struct rp_package *pkg = &u->packages[p];
		for (size_t ti = 0; ti < pkg->n_targets; ti++) {
			size_t t = pkg->targets[ti];
			if (!needed[p * u->n_targets + t])
				continue;
			job_of[p * u->n_targets + t] = (long)n_jobs;
			jobs[n_jobs] = (struct store_job_spec){ .package = pkg->name,
								.target = u->targets[t].name,
								.commit = res[p].commit,
								.tree_id = res[p].tree };
			if ((rc = add_dep_edges(u, pkg, t, job_of, n_jobs, &edges, &n_edges, &cap_edges, err)) < 0)
				goto out;
			n_jobs++;
		}
	}
	/*
	 * Coverage jobs: one per asked package that wants coverage, on its
	 * coverage target, after the builds of its dependencies there (not its
	 * own build: the two run side by side). Nothing depends on them. A
	 * bisection's probes ask whether something breaks, not what it covers.
	 */
	for (long k = 0; k < n_order && kind != STORE_RUN_BISECT; k++) {
		size_t p = order[k];
		const struct rp_package *pkg = &u->packages[p];
		long t = manifest_coverage_target(u, pkg);
		if (!asked[p] || !pkg->coverage || t < 0 || job_of[p * u->n_targets + (size_t)t] < 0)
			continue;
		jobs[n_jobs] = (struct store_job_spec){ .package = pkg->name,
							.target = u->targets[t].name,
							.commit = res[p].commit,
							.tree_id = res[p].tree,
							.variant = "coverage" };
		if ((rc = add_dep_edges(u, pkg, (size_t)t, job_of, n_jobs, &edges, &n_edges, &cap_edges, err)) < 0)
			goto out;
		n_jobs++;
	}
	/* Open crashes are replayed by every nightly, and by any run that fuzzes. */
	if (crash_id || (kind != STORE_RUN_BISECT && (want_fuzz || kind == STORE_RUN_NIGHTLY))) {
		if ((rc = plan_fuzz_jobs(f, want_fuzz && kind != STORE_RUN_BISECT, crash_id, asked, res, order,
					 (size_t)n_order, job_of, &jobs, &n_jobs, &edges, &n_edges, &cap_edges, err)) < 0)
			goto out;
	}
	if (n_jobs == 0) { /* a run without jobs would never end */
		rc = rp_error_set(err, RP_EINVAL, "the plan has no job: no package of it has the targets asked for");
		goto out;
	}
	for (size_t p = 0; p < u->n_packages; p++) {
		if (!pkg_needed[p])
			continue;
		baseline[n_base++] = (struct store_pin){ u->packages[p].name, res[p].commit };
		if (changed[p])
			change_pins[n_change++] = (struct store_pin){ u->packages[p].name, res[p].commit };
	}
	struct store_run_spec spec = { .universe = u->name,
				       .kind = kind,
				       .priority = priority,
				       .title = title,
				       .change_ref = change_ref,
				       .baseline = baseline,
				       .nbaseline = n_base,
				       .change = change_pins,
				       .nchange = n_change,
				       .jobs = jobs,
				       .njobs = n_jobs,
				       .edges = edges,
				       .nedges = n_edges,
				       .created_ms = now_ms(),
				       .request_id = request_id };
	write_lock(f); /* the run and the cache answers of its first jobs: one commit */
	rc = store_run_create(f->st, &spec, run_id, NULL, err);
	*njobs = n_jobs;
	if (rc == RP_EEXISTS && request_id) { /* a concurrent submit with the same id won */
		rc = store_run_find_request(f->st, request_id, run_id, err);
		if (rc == 0)
			rc = count_jobs(f, *run_id, njobs, err);
	} else if (rc == 0) {
		*created = 1;
		if (kind == STORE_RUN_PR)
			supersede(f, change_ref, *run_id);
		/* Owed from the moment the run exists: in its transaction. */
		rc = owe_report(f, kind, change_ref, *run_id, n_change ? change_pins[0].commit : NULL, err);
		struct rp_error adv;
		advance(f, &adv);
		wake(f);
	}
	if (write_unlock(f, rc == 0 ? err : NULL) < 0 && rc == 0)
		rc = RP_EDB;
out:
	plan_release(&plan);
	free(changes);
	free(pins);
	free(res);
	free(needed);
	free(pkg_needed);
	free(changed);
	free(order);
	free(job_of);
	free(jobs);
	free(edges);
	free(baseline);
	free(change_pins);
	free(only_target);
	free(asked);
	return rc;
}

int farm_cancel(struct farm *f, int64_t run_id, size_t *n_queued, size_t *n_running, struct rp_error *err)
{
	write_lock(f);
	int rc = store_run_cancel(f->st, run_id, now_ms(), n_queued, n_running, err);
	if (rc == 0) {
		struct rp_error adv;
		advance(f, &adv);
		wake(f);
	}
	if (write_unlock(f, rc == 0 ? err : NULL) < 0 && rc == 0)
		rc = RP_EDB;
	return rc;
}

/* ---- keying and cache answers (lock held) -------------------------------------- */

/* Whether the server holds the prefix archive of `key` (or needs none). */
static int output_present(struct farm *f, const char *key, const char *output_hash)
{
	if (!output_hash || strcmp(output_hash, ARTIFACT_EMPTY_HASH) == 0)
		return 1;
	struct store_artifact a;
	struct rp_error err;
	struct stat st;
	char path[PATH_MAX];
	if (store_artifact_get(f->st, key, "prefix", &a, &err) < 0)
		return 0;
	snprintf(path, sizeof(path), "%s/%s", f->blobs_dir, a.location);
	int ok = stat(path, &st) == 0 && st.st_size == a.size;
	store_artifact_release(&a);
	return ok;
}

static int end_by_scheduler(struct farm *f, int64_t id, enum store_result_status status, const char *category,
			    const char *why, struct rp_error *err)
{
	struct store_job_result r = { .status = status, .category = category, .first_error = why, .now_ms = now_ms() };
	return store_job_finish(f->st, id, &r, 1, NULL, err);
}

/* Ends job `id` as `cached` with the result the build cache holds for its key (lock held). */
static int finish_from_cache(struct farm *f, int64_t id, const struct store_build *b, struct rp_error *err)
{
	struct store_job_result r = {
		.status = strcmp(b->status, "pass") == 0 ? STORE_RESULT_PASS : STORE_RESULT_FAIL,
		.cached = 1,
		.failed_step = b->failed_step,
		.category = b->category,
		.first_error = b->first_error,
		.output_hash = b->output_hash,
		.duration_ms = b->duration_ms,
		.now_ms = now_ms(),
	};
	return store_job_finish(f->st, id, &r, 1, NULL, err);
}

/*
 * Coverage job `job` was answered from the cache: in a nightly or manual run
 * its commit becomes a point of the trend (lock held). Only coverage jobs
 * come here, so cache answers of builds cost nothing more.
 */
static int coverage_answered(struct farm *f, const struct store_job *job, struct rp_error *err)
{
	struct store_run run;
	int rc = store_run_get(f->st, job->run_id, &run, err);
	if (rc < 0)
		return rc;
	if (run.kind == STORE_RUN_NIGHTLY || run.kind == STORE_RUN_MANUAL)
		rc = store_coverage_mark_mainline(f->st, job->package, job->commit, err);
	store_run_release(&run);
	return rc;
}

static int key_job(struct farm *f, int64_t id, struct rp_error *err)
{
	struct store_job job, dep;
	struct buildkey_dep *deps = NULL;
	struct store_job *dep_jobs = NULL;
	size_t n_dep_jobs = 0;
	char key[BUILDKEY_HEX_LEN + 1], why[600];
	int rc = store_job_get(f->st, id, &job, err);
	if (rc < 0)
		return rc;
	long p = manifest_find_package(f->u, job.package), t = manifest_find_target(f->u, job.target);
	if (p < 0 || t < 0 || !job.tree_id) {
		snprintf(why, sizeof(why), "%s on %s is not in the universe the scheduler has now", job.package,
			 job.target);
		rc = end_by_scheduler(f, id, STORE_RESULT_ERROR, "infrastructure", why, err);
		goto out;
	}
	deps = calloc(job.ndeps + 1, sizeof(*deps));
	dep_jobs = calloc(job.ndeps + 1, sizeof(*dep_jobs));
	if (!deps || !dep_jobs) {
		rc = rp_error_set(err, RP_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t d = 0; d < job.ndeps; d++) {
		if ((rc = store_job_get(f->st, job.deps[d], &dep_jobs[d], err)) < 0)
			goto out;
		n_dep_jobs++;
		if (!dep_jobs[d].output_hash) { /* the store skips these; be safe if it did not */
			struct store_job_result r = { .status = STORE_RESULT_SKIPPED,
						      .cause_id = dep_jobs[d].cause_id ? dep_jobs[d].cause_id
										       : dep_jobs[d].id,
						      .now_ms = now_ms() };
			snprintf(why, sizeof(why), "dependency %s has no output", dep_jobs[d].package);
			r.first_error = why;
			rc = store_job_finish(f->st, id, &r, 1, NULL, err);
			goto out;
		}
		deps[d] = (struct buildkey_dep){ dep_jobs[d].package, dep_jobs[d].output_hash };
	}
	struct buildkey_input in = { &f->u->packages[p], &f->u->targets[t], job.tree_id, job.variant, deps,
				     job.ndeps };
	if ((rc = buildkey_compute(&in, key, err)) < 0) {
		rc = end_by_scheduler(f, id, STORE_RESULT_ERROR, "infrastructure", err->msg, err);
		goto out;
	}
	if ((rc = store_job_set_key(f->st, id, key, err)) < 0)
		goto out;
	struct store_build b;
	/* A fuzz job runs for what it finds: never an answer from the cache (none is recorded either). */
	if (strcmp(job.variant, "fuzz") != 0 && store_build_get(f->st, key, &b, err) == 0) {
		if (output_present(f, key, b.output_hash) && (rc = finish_from_cache(f, id, &b, err)) == 0 &&
		    strcmp(job.variant, "coverage") == 0)
			rc = coverage_answered(f, &job, err);
		store_build_release(&b);
	}
out:
	(void)dep;
	for (size_t d = 0; d < n_dep_jobs; d++)
		store_job_release(&dep_jobs[d]);
	free(dep_jobs);
	free(deps);
	store_job_release(&job);
	return rc;
}

/*
 * Jobs that waited for another to build their key (a key is built once; the
 * lease passes over them meanwhile): answered from the build cache now that
 * it holds the key (lock held). Nothing when it does not (an infrastructure
 * error): they are leased and built then. `coverage`: the key is a coverage build's.
 */
static int answer_waiting(struct farm *f, const char *key, int coverage, struct rp_error *err)
{
	int64_t ids[64];
	size_t n = 0;
	struct store_build b;
	int rc = store_build_get(f->st, key, &b, err);
	if (rc == RP_ENOTFOUND)
		return 0;
	if (rc == 0 && output_present(f, key, b.output_hash) &&
	    (rc = store_jobs_waiting_for_key(f->st, key, ids, sizeof(ids) / sizeof(ids[0]), &n, err)) == 0) {
		for (size_t i = 0; i < n && rc == 0; i++) {
			struct store_job job;
			/* A key is one variant's: they are coverage jobs exactly when the one that ran it was. */
			if ((rc = finish_from_cache(f, ids[i], &b, err)) == 0 && coverage &&
			    (rc = store_job_get(f->st, ids[i], &job, err)) == 0) {
				rc = coverage_answered(f, &job, err);
				store_job_release(&job);
			}
		}
	}
	store_build_release(&b);
	return rc;
}

/*
 * Keys every job whose dependencies all ended; answers the cached ones, which
 * may release more. Returns how many jobs it keyed, or a negative code.
 */
static int advance(struct farm *f, struct rp_error *err)
{
	int keyed = 0;
	for (;;) {
		int64_t ids[64];
		size_t n;
		int rc = store_jobs_unkeyed(f->st, ids, sizeof(ids) / sizeof(ids[0]), &n, err);
		if (rc < 0)
			return rc;
		if (n == 0)
			return keyed;
		for (size_t i = 0; i < n; i++, keyed++)
			if ((rc = key_job(f, ids[i], err)) < 0)
				return rc; /* never spin on a job that cannot be keyed */
	}
}

/* A bounded step of retention (store_retention), at most hourly unless a backlog remains. */
static void retention_step(struct farm *f)
{
	enum { BATCH = 8 };
	int64_t now = now_ms(), day = 24LL * 3600 * 1000;
	size_t logs = 0, runs = 0;
	struct rp_error e;
	if ((!f->o.logs_days && !f->o.runs_days) || now < f->next_retention_ms)
		return;
	write_lock(f);
	int rc = store_retention(f->st, now, f->o.logs_days ? now - f->o.logs_days * day : 0,
				 f->o.runs_days ? now - f->o.runs_days * day : 0, BATCH, &logs, &runs, &e);
	write_unlock(f, NULL);
	f->next_retention_ms = now + (rc == 0 && (logs == BATCH || runs == BATCH) ? 1000 : 3600 * 1000);
}

int farm_tick(struct farm *f, struct rp_error *err)
{
	retention_step(f);
	/* Outside the lock, on its own connection: a checkpoint's fsync never stalls a lease. */
	store_checkpoint(f->checkpointer, NULL);
	size_t n = 0;
	write_lock(f); /* also commits what a lease request that found nothing left open */
	int rc = store_leases_expire(f->st, now_ms(), FARM_MAX_ATTEMPTS, &n, err), keyed = 0;
	if (rc == 0)
		rc = keyed = advance(f, err);
	if (n || keyed > 0) /* after a restart the tick is what keys the jobs left unkeyed */
		wake(f);
	if (write_unlock(f, rc < 0 ? NULL : err) < 0 && rc >= 0)
		rc = RP_EDB;
	return rc < 0 ? rc : 0;
}

/* ---- documents ------------------------------------------------------------------- */

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *job_json(const struct store_job *j)
{
	json_t *deps = json_array();
	for (size_t d = 0; d < j->ndeps; d++)
		json_array_append_new(deps, json_integer(j->deps[d]));
	json_t *o = json_pack("{s:I, s:I, s:s, s:s, s:s, s:o, s:s, s:o, s:b, s:i, s:o, s:o, s:o, s:o, s:o, s:o, "
			      "s:o, s:I, s:I, s:I, s:I, s:b}",
			      "id", (json_int_t)j->id, "run", (json_int_t)j->run_id, "package", j->package, "target",
			      j->target, "commit", j->commit, "build_key", str_or_null(j->build_key), "state",
			      store_job_state_name(j->state), "status",
			      j->has_status ? json_string(store_result_status_name(j->status)) : json_null(),
			      "cached", j->cached, "attempt", j->attempt, "worker",
			      str_or_null(j->worker ? j->worker : j->lease_owner), "failed_step",
			      str_or_null(j->failed_step), "category", str_or_null(j->category), "first_error",
			      str_or_null(j->first_error), "output_hash", str_or_null(j->output_hash), "cause",
			      j->cause_id ? json_integer(j->cause_id) : json_null(), "deps", deps, "created_ms",
			      (json_int_t)j->created_ms, "started_ms", (json_int_t)j->started_ms, "finished_ms",
			      (json_int_t)j->finished_ms, "duration_ms", (json_int_t)j->duration_ms, "cancel_requested",
			      j->cancel_requested);
	if (o && j->rerun_of)
		json_object_set_new(o, "rerun_of", json_integer(j->rerun_of));
	if (o && j->failed_test)
		json_object_set_new(o, "failed_test", json_string(j->failed_test));
	if (o)
		json_object_set_new(o, "variant", json_string(j->variant ? j->variant : "build"));
	if (o && j->fuzz_crash)
		json_object_set_new(o, "fuzz_crash", json_integer(j->fuzz_crash));
	return o;
}

int farm_runs_json(struct farm *f, int64_t before, size_t limit, json_t **out, struct rp_error *err)
{
	struct store_run_summary *runs = NULL;
	size_t n = 0;
	pthread_mutex_lock(&f->lock);
	int rc = store_runs_list(f->st, before, limit, &runs, &n, err);
	pthread_mutex_unlock(&f->lock);
	if (rc < 0)
		return rc;
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		const struct store_run_summary *r = &runs[i];
		json_t *counts = json_object();
		for (int s = STORE_RESULT_PASS; s <= STORE_RESULT_CANCELLED; s++)
			json_object_set_new(counts, store_result_status_name((enum store_result_status)s),
					    json_integer((json_int_t)r->by_status[s]));
		json_array_append_new(
			arr, json_pack("{s:I, s:s, s:s, s:s, s:o, s:o, s:I, s:I, s:I, s:o, s:I, s:I, s:I}", "id",
				       (json_int_t)r->id, "universe", r->universe, "kind", store_run_kind_name(r->kind),
				       "state", store_run_state_name(r->state), "title", str_or_null(r->title),
				       "change_ref", str_or_null(r->change_ref), "created_ms", (json_int_t)r->created_ms,
				       "finished_ms", (json_int_t)r->finished_ms, "jobs", (json_int_t)r->njobs,
				       "counts", counts, "cached", (json_int_t)r->cached, "queued",
				       (json_int_t)r->queued, "running", (json_int_t)r->leased));
	}
	store_runs_free(runs, n);
	*out = json_pack("{s:o}", "runs", arr);
	return 0;
}

static json_t *pins_json(const struct store_pin *pins, size_t n)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:s, s:s}", "package", pins[i].package, "commit", pins[i].commit));
	return arr;
}

int farm_run_json(struct farm *f, int64_t run_id, json_t **out, struct rp_error *err)
{
	struct store_run run;
	struct store_job *jobs = NULL;
	size_t n = 0;
	pthread_mutex_lock(&f->lock);
	int rc = store_run_get(f->st, run_id, &run, err);
	if (rc == 0)
		rc = store_jobs_list(f->st, run_id, &jobs, &n, err);
	pthread_mutex_unlock(&f->lock);
	if (rc < 0) {
		store_run_release(&run);
		return rc;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, job_json(&jobs[i]));
	json_t *targets = json_array();
	for (size_t t = 0; t < f->u->n_targets; t++)
		json_array_append_new(targets, json_string(f->u->targets[t].name));
	*out = json_pack("{s:{s:I, s:s, s:s, s:i, s:s, s:o, s:o, s:o, s:o, s:I, s:I}, s:o, s:o}", "run", "id",
			 (json_int_t)run.id, "universe", run.universe, "kind", store_run_kind_name(run.kind),
			 "priority", run.priority, "state", store_run_state_name(run.state), "title",
			 str_or_null(run.title), "change_ref", str_or_null(run.change_ref), "baseline",
			 pins_json(run.baseline, run.nbaseline), "change", pins_json(run.change, run.nchange),
			 "created_ms", (json_int_t)run.created_ms, "finished_ms", (json_int_t)run.finished_ms, "jobs",
			 arr, "targets", targets);
	store_jobs_free(jobs, n);
	store_run_release(&run);
	return 0;
}

/* A copy of the cached document of run `run_id` finished at `finished_ms`, or NULL (lock held). */
static char *page_find(struct farm *f, int64_t run_id, int64_t finished_ms, size_t *len)
{
	for (size_t i = 0; i < PAGE_CACHE; i++) {
		struct page *p = &f->pages[i];
		if (!p->text || p->run_id != run_id || p->finished_ms != finished_ms)
			continue;
		char *copy = malloc(p->len + 1);
		if (copy) {
			memcpy(copy, p->text, p->len + 1);
			*len = p->len;
			p->used = ++f->page_clock;
		}
		return copy;
	}
	return NULL;
}

/* Keeps a copy of a finished run's document in place of the least recently used (lock held). */
static void page_keep(struct farm *f, int64_t run_id, int64_t finished_ms, const char *text, size_t len)
{
	size_t victim = 0;
	if (len > PAGE_CACHE_MAX_BYTES)
		return;
	for (size_t i = 0; i < PAGE_CACHE; i++) {
		if (f->pages[i].text && f->pages[i].run_id == run_id && f->pages[i].finished_ms == finished_ms)
			return;
		if (!f->pages[i].text || f->pages[i].used < f->pages[victim].used)
			victim = i;
		if (!f->pages[i].text)
			break;
	}
	char *copy = malloc(len + 1);
	if (!copy)
		return;
	memcpy(copy, text, len + 1);
	free(f->pages[victim].text);
	f->pages[victim] = (struct page){ run_id, finished_ms, copy, len, ++f->page_clock };
}

int farm_run_page(struct farm *f, int64_t run_id, char **text, size_t *len, struct rp_error *err)
{
	json_t *doc = NULL;
	int64_t finished_ms = 0;
	struct store_run run;
	*text = NULL;
	*len = 0;
	pthread_mutex_lock(&f->lock);
	int rc = store_run_get(f->st, run_id, &run, err);
	/* Only a run that is done never changes again (a cancelled one's jobs still end). */
	if (rc == 0 && run.state == STORE_RUN_DONE)
		*text = page_find(f, run_id, run.finished_ms, len);
	pthread_mutex_unlock(&f->lock);
	store_run_release(&run);
	if (rc < 0 || *text)
		return rc;
	if ((rc = farm_run_json(f, run_id, &doc, err)) < 0)
		return rc;
	const json_t *r = json_object_get(doc, "run");
	const char *state = json_string_value(json_object_get(r, "state"));
	int done = state && strcmp(state, "done") == 0;
	finished_ms = json_integer_value(json_object_get(r, "finished_ms"));
	*text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (!*text)
		return rp_error_set(err, RP_ENOMEM, "out of memory");
	*len = strlen(*text);
	if (done) {
		pthread_mutex_lock(&f->lock);
		page_keep(f, run_id, finished_ms, *text, *len);
		pthread_mutex_unlock(&f->lock);
	}
	return 0;
}

int farm_job_json(struct farm *f, int64_t job_id, json_t **out, struct rp_error *err)
{
	struct store_job job;
	int64_t size = 0;
	pthread_mutex_lock(&f->lock);
	int rc = store_job_get(f->st, job_id, &job, err);
	if (rc == 0)
		rc = store_log_size(f->st, job_id, job.attempt, &size, err);
	pthread_mutex_unlock(&f->lock);
	if (rc == 0) {
		*out = job_json(&job);
		json_object_set_new(*out, "log_size", json_integer(size));
	}
	store_job_release(&job);
	return rc;
}

int farm_workers_json(struct farm *f, json_t **out, struct rp_error *err)
{
	struct store_worker *w = NULL;
	size_t n = 0;
	pthread_mutex_lock(&f->lock);
	int rc = store_workers_list(f->st, &w, &n, err);
	pthread_mutex_unlock(&f->lock);
	if (rc < 0)
		return rc;
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:s, s:s, s:i, s:I, s:I, s:I, s:f, s:I}", "name", w[i].name,
						     "targets", w[i].targets, "slots", w[i].slots, "last_seen_ms",
						     (json_int_t)w[i].last_seen_ms, "free_disk_bytes",
						     (json_int_t)w[i].free_disk_bytes, "free_mem_bytes",
						     (json_int_t)w[i].free_mem_bytes, "load", w[i].load, "running",
						     (json_int_t)w[i].running));
	store_workers_free(w, n);
	*out = json_pack("{s:o}", "workers", arr);
	return 0;
}

/* A growable text buffer for the metrics page. */
struct text {
	char *s;
	size_t len, cap;
	int failed;
};

static void text_add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		if (t->failed)
			return;
		va_start(ap, fmt);
		int n = vsnprintf(t->s ? t->s + t->len : NULL, t->s ? t->cap - t->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->failed = 1;
			return;
		}
		if (t->s && t->len + (size_t)n < t->cap) {
			t->len += (size_t)n;
			return;
		}
		size_t cap = (t->cap ? t->cap * 2 : 4096) + (size_t)n;
		char *s = realloc(t->s, cap);
		if (!s) {
			t->failed = 1;
			return;
		}
		t->s = s;
		t->cap = cap;
	}
}

int farm_metrics(struct farm *f, const uint64_t http_counts[600], char **out, struct rp_error *err)
{
	struct store_queue_stats qs;
	struct text t = { 0 };
	pthread_mutex_lock(&f->lock);
	int rc = store_queue_stats(f->st, &qs, err);
	uint64_t counts[N_BUCKETS + 1], n = f->durations;
	double sum = f->duration_sum;
	memcpy(counts, f->duration_counts, sizeof(counts));
	uint64_t commits = f->commits, grouped = f->grouped;
	pthread_mutex_unlock(&f->lock);
	if (rc < 0)
		return rc;
	text_add(&t, "# HELP ripple_queue_depth Jobs ready to be leased, by priority.\n"
		     "# TYPE ripple_queue_depth gauge\n");
	for (size_t i = 0; i < qs.npriorities; i++)
		text_add(&t, "ripple_queue_depth{priority=\"%d\"} %zu\n", qs.queued[i].priority, qs.queued[i].ready);
	text_add(&t, "# HELP ripple_jobs Jobs in the store, by state.\n# TYPE ripple_jobs gauge\n");
	for (int s = STORE_JOB_QUEUED; s <= STORE_JOB_CANCELLED; s++)
		text_add(&t, "ripple_jobs{state=\"%s\"} %zu\n", store_job_state_name((enum store_job_state)s),
			 qs.by_state[s]);
	text_add(&t,
		 "# HELP ripple_lease_expiries_total Leases that expired before their job ended.\n"
		 "# TYPE ripple_lease_expiries_total counter\nripple_lease_expiries_total %zu\n",
		 qs.lease_expiries);
	text_add(&t, "# HELP ripple_job_duration_seconds Duration of jobs run by workers since the server started.\n"
		     "# TYPE ripple_job_duration_seconds histogram\n");
	uint64_t cumulative = 0;
	for (size_t b = 0; b < N_BUCKETS; b++) {
		cumulative += counts[b];
		text_add(&t, "ripple_job_duration_seconds_bucket{le=\"%g\"} %llu\n", duration_buckets[b],
			 (unsigned long long)cumulative);
	}
	text_add(&t, "ripple_job_duration_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)n);
	text_add(&t, "ripple_job_duration_seconds_sum %.3f\nripple_job_duration_seconds_count %llu\n", sum,
		 (unsigned long long)n);
	text_add(&t,
		 "# HELP ripple_store_commits_total Store transactions committed for API requests (group commit).\n"
		 "# TYPE ripple_store_commits_total counter\nripple_store_commits_total %llu\n"
		 "# HELP ripple_store_committed_requests_total Requests acknowledged after those commits.\n"
		 "# TYPE ripple_store_committed_requests_total counter\nripple_store_committed_requests_total %llu\n",
		 (unsigned long long)commits, (unsigned long long)grouped);
	text_add(&t, "# HELP ripple_http_requests_total HTTP requests answered, by status code.\n"
		     "# TYPE ripple_http_requests_total counter\n");
	for (int c = 100; c < 600; c++)
		if (http_counts[c])
			text_add(&t, "ripple_http_requests_total{code=\"%d\"} %llu\n", c,
				 (unsigned long long)http_counts[c]);
	if (t.failed) {
		free(t.s);
		return rp_error_set(err, RP_ENOMEM, "out of memory");
	}
	*out = t.s;
	return 0;
}

/* ---- worker calls ------------------------------------------------------------------ */

static int read_targets(const json_t *req, const char **targets, size_t cap, size_t *n, struct rp_error *err)
{
	json_t *arr = json_object_get(req, "targets"), *e;
	size_t i;
	*n = 0;
	if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > cap)
		return rp_error_set(err, RP_EINVAL, "member \"targets\": expected an array of 1 to %zu target names",
				    cap);
	json_array_foreach(arr, i, e)
	{
		if (!json_is_string(e) || !manifest_valid_name(json_string_value(e)))
			return rp_error_set(err, RP_EINVAL, "targets[%zu]: expected a target name", i);
		targets[(*n)++] = json_string_value(e);
	}
	return 0;
}

static int read_worker(const json_t *req, const char **worker, struct rp_error *err)
{
	int rc = need_object(req, err);
	if (rc == 0)
		rc = need_string(req, "worker", worker, err);
	if (rc == 0 && !valid_worker_name(*worker))
		rc = rp_error_set(err, RP_EINVAL, "member \"worker\": expected 1 to 64 of A-Z a-z 0-9 . _ -");
	return rc;
}

int farm_register(struct farm *f, const json_t *req, json_t **out, struct rp_error *err)
{
	const char *worker, *targets[16];
	size_t n;
	int64_t slots = 1;
	int rc;
	if ((rc = read_worker(req, &worker, err)) < 0 || (rc = read_targets(req, targets, 16, &n, err)) < 0 ||
	    (rc = opt_int(req, "slots", 1, 1024, &slots, err)) < 0)
		return rc;
	char joined[16 * 70] = "";
	size_t len = 0;
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(joined + len, sizeof(joined) - len, "%s%s", i ? "," : "", targets[i]);
	write_lock(f);
	rc = store_worker_register(f->st, worker, f->worker_token_hash[0] ? f->worker_token_hash : "none", joined,
				   (int)slots, now_ms(), err);
	if (write_unlock(f, rc == 0 ? err : NULL) < 0 && rc == 0)
		rc = RP_EDB;
	if (rc < 0)
		return rc;
	*out = json_pack("{s:s, s:I, s:I}", "worker", worker, "lease_ms", (json_int_t)f->o.lease_ms, "heartbeat_ms",
			 (json_int_t)(f->o.lease_ms / 3));
	return 0;
}

struct resources {
	int64_t disk, mem;
	double load;
};

static int read_resources(const json_t *req, struct resources *r, struct rp_error *err)
{
	int rc;
	r->disk = r->mem = -1;
	r->load = 0;
	if ((rc = opt_int(req, "free_disk_bytes", 0, INT64_MAX, &r->disk, err)) < 0 ||
	    (rc = opt_int(req, "free_mem_bytes", 0, INT64_MAX, &r->mem, err)) < 0 ||
	    (rc = opt_number(req, "load", &r->load, err)) < 0)
		return rc;
	return 0;
}

/* The lease document: the job, the commits of everything it builds against, and their builds. */
static int lease_json(struct farm *f, const struct store_job *job, json_t **out, struct rp_error *err)
{
	json_t *pins = json_array(), *deps = json_array();
	struct store_job *dep = NULL;
	size_t n = 0;
	int rc = store_job_deps(f->st, job->id, &dep, &n, err);
	if (rc < 0)
		goto out;
	json_array_append_new(pins, json_pack("{s:s, s:s}", "package", job->package, "commit", job->commit));
	for (size_t i = 0; i < n; i++) {
		const struct store_job dj = dep[i];
		json_array_append_new(pins, json_pack("{s:s, s:s}", "package", dj.package, "commit", dj.commit));
		json_array_append_new(
			deps, json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o}", "package", dj.package, "target", dj.target,
					"commit", dj.commit, "build_key", str_or_null(dj.build_key), "output_hash",
					str_or_null(dj.output_hash), "status",
					dj.has_status ? json_string(store_result_status_name(dj.status)) : json_null(),
					"failed_step", str_or_null(dj.failed_step)));
	}
	*out = json_pack("{s:{s:I, s:I, s:i, s:I, s:I, s:s, s:s, s:s, s:s, s:o, s:o, s:b}}", "job", "id",
			 (json_int_t)job->id, "run", (json_int_t)job->run_id, "attempt", job->attempt, "fence",
			 (json_int_t)job->fence, "lease_expires_ms", (json_int_t)job->lease_expires_ms, "package",
			 job->package, "target", job->target, "commit", job->commit, "build_key", job->build_key,
			 "pins", pins, "deps", deps, "rerun", job->rerun_of != 0);
	pins = deps = NULL;
	if (*out)
		json_object_set_new(json_object_get(*out, "job"), "variant",
				    json_string(job->variant ? job->variant : "build"));
	if (*out && (rc = farm__fuzz_lease(f, job, json_object_get(*out, "job"), err)) < 0) {
		json_decref(*out);
		*out = NULL;
		goto out;
	}
	if (!*out)
		rc = rp_error_set(err, RP_ENOMEM, "cannot build the lease of job %lld", (long long)job->id);
out:
	json_decref(pins);
	json_decref(deps);
	store_jobs_free(dep, n);
	return rc;
}

static void deadline_after(struct timespec *ts, int64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

static int passed(const struct timespec *deadline)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > deadline->tv_sec || (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

int farm_lease(struct farm *f, const json_t *req, int (*alive)(void *ctx), void *ctx, json_t **out,
	       struct rp_error *err)
{
	const char *worker, *targets[16];
	size_t n;
	int64_t wait_ms = 0;
	struct resources res;
	struct timespec deadline;
	int rc;
	*out = NULL;
	if ((rc = read_worker(req, &worker, err)) < 0 || (rc = read_targets(req, targets, 16, &n, err)) < 0 ||
	    (rc = opt_int(req, "wait_ms", 0, FARM_MAX_WAIT_MS, &wait_ms, err)) < 0 ||
	    (rc = read_resources(req, &res, err)) < 0)
		return rc;
	deadline_after(&deadline, wait_ms);
	write_lock(f);
	rc = worker_seen(f, worker, res.disk, res.mem, res.load, err);
	if (rc == RP_ENOTFOUND)
		rc = rp_error_set(err, RP_ENOTFOUND, "worker %s is not registered: POST /api/v1/workers/register first",
				  worker);
	if (rc < 0)
		goto out;
	/* Under pressure: no job now, and no waiting either, so the worker reports again soon. */
	if ((res.disk >= 0 && res.disk < f->o.min_free_disk) || (res.mem >= 0 && res.mem < f->o.min_free_mem))
		goto out;
	for (int waited = 0;; waited = 1) {
		struct store_job job;
		struct store_lease_request lr = { worker, targets, n, now_ms(), f->o.lease_ms };
		if (waited && alive && !alive(ctx))
			goto out; /* nobody to answer: leave the job to a worker that is still asking */
		rc = store_job_lease(f->st, &lr, &job, err);
		if (rc == 0) {
			rc = lease_json(f, &job, out, err);
			store_job_release(&job);
		}
		if (rc != RP_ENOTFOUND)
			goto out;
		rc = 0;
		if (f->shutting_down || passed(&deadline))
			goto out;
		write_leave(f); /* not a writer while it waits: a group does not wait for it */
		pthread_cond_timedwait(&f->work, &f->lock, &deadline);
		atomic_fetch_add(&f->writers, 1);
		write_join(f);
	}
out:;
	/* The lease is given only once it is committed. */
	int brc = write_unlock(f, rc == 0 ? err : NULL);
	if (rc == 0 && brc < 0) {
		json_decref(*out);
		*out = NULL;
		rc = brc;
	}
	return rc;
}

int farm_heartbeat(struct farm *f, int64_t job_id, const json_t *req, json_t **out, struct rp_error *err)
{
	const char *worker;
	int64_t fence = 0, expires = 0;
	struct resources res;
	int cancel = 0, rc;
	if ((rc = read_worker(req, &worker, err)) < 0 || (rc = need_int(req, "fence", 1, INT64_MAX, &fence, err)) < 0 ||
	    (rc = read_resources(req, &res, err)) < 0)
		return rc;
	write_lock(f);
	worker_seen(f, worker, res.disk, res.mem, res.load, NULL);
	rc = store_job_heartbeat(f->st, job_id, worker, fence, now_ms(), f->o.lease_ms, &expires, &cancel, err);
	if (write_unlock(f, rc == 0 ? err : NULL) < 0 && rc == 0)
		rc = RP_EDB;
	if (rc < 0)
		return rc;
	*out = json_pack("{s:I, s:b}", "lease_expires_ms", (json_int_t)expires, "cancel", cancel);
	return 0;
}

/* The job leased by `worker` under `fence`: its attempt. RP_ECONFLICT otherwise (lock held). */
static int leased_attempt(struct farm *f, int64_t job_id, const char *worker, int64_t fence, int *attempt,
			  struct rp_error *err)
{
	struct store_job job;
	int rc = store_job_get(f->st, job_id, &job, err);
	if (rc < 0)
		return rc;
	if ((job.state != STORE_JOB_LEASED && job.state != STORE_JOB_RUNNING) || !job.lease_owner ||
	    strcmp(job.lease_owner, worker) != 0 || job.fence != fence)
		rc = rp_error_set(err, RP_ECONFLICT, "job %lld is not leased to %s under fence %lld",
				  (long long)job_id, worker, (long long)fence);
	*attempt = job.attempt;
	store_job_release(&job);
	return rc;
}

int farm_log_put(struct farm *f, int64_t job_id, const char *worker, int64_t fence, int64_t offset,
		 const void *data, size_t len, int64_t *size, struct rp_error *err)
{
	int attempt;
	*size = 0;
	if (!valid_worker_name(worker))
		return rp_error_set(err, RP_EINVAL, "query \"worker\": expected a worker name");
	write_lock(f);
	int rc = leased_attempt(f, job_id, worker, fence, &attempt, err);
	if (rc < 0)
		*size = -1; /* not this worker's log: its size is none of its business */
	if (rc == 0) {
		rc = len ? store_log_append(f->st, job_id, attempt, offset, data, len, size, err)
			 : store_log_size(f->st, job_id, attempt, size, err);
		if (rc == RP_ERANGE || rc == RP_EEXISTS) {
			struct rp_error inner = *err;
			store_log_size(f->st, job_id, attempt, size, NULL);
			rc = rp_error_set(err, RP_ECONFLICT, "%s", inner.msg);
		}
		if (rc == 0 && len)
			pthread_cond_broadcast(&f->logs);
	}
	if (write_unlock(f, rc == 0 ? err : NULL) < 0 && rc == 0)
		rc = RP_EDB;
	return rc;
}

static enum store_result_status status_named(const char *s, int *ok)
{
	static const char *const names[] = { "pass", "fail", "skipped", "error", "timeout", "cancelled" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(names[i], s) == 0 && i != STORE_RESULT_SKIPPED) {
			*ok = 1;
			return (enum store_result_status)i;
		}
	*ok = 0;
	return STORE_RESULT_ERROR;
}

/*
 * A pull request's job whose tests failed where the latest nightly's passed
 * is a regression only if it holds up: the head and the base each run
 * flaky_runs times in all before the report says so (lock held). Flake
 * checks are not checked again; failures to add them leave the plain verdict.
 */
static void check_flake(struct farm *f, int64_t job_id)
{
	struct store_job job, base;
	struct store_run run;
	struct rp_error e;
	int64_t nightly = 0;
	int k = f->o.flaky_runs ? f->o.flaky_runs : 3;
	if (k < 2 || store_job_get(f->st, job_id, &job, &e) < 0)
		return;
	if (job.rerun_of || strcmp(job.variant, "build") != 0 || store_run_get(f->st, job.run_id, &run, &e) < 0) {
		store_job_release(&job);
		return;
	}
	if (run.kind == STORE_RUN_PR && store_run_latest_done(f->st, STORE_RUN_NIGHTLY, job.run_id, &nightly, &e) == 0 &&
	    store_job_find(f->st, nightly, job.package, job.target, &base, &e) == 0) {
		if (base.has_status && base.status == STORE_RESULT_PASS && base.build_key &&
		    store_job_reruns_add(f->st, job.run_id, job.id, k - 1, now_ms(), NULL, &e) == 0)
			store_job_reruns_add(f->st, job.run_id, base.id, k - 1, now_ms(), NULL, &e);
		store_job_release(&base);
	}
	store_run_release(&run);
	store_job_release(&job);
}

/* Lists `job`'s coverage artifact, when there is one, to be merged (lock held). */
static int record_coverage(struct farm *f, const struct store_job *job, struct rp_error *err)
{
	struct store_artifact a;
	int rc = 0;
	if (job->build_key && !job->rerun_of && store_artifact_get(f->st, job->build_key, "coverage", &a, err) == 0) {
		store_artifact_release(&a);
		struct store_coverage_report r = { .build_key = job->build_key, .package = job->package,
						   .target = job->target, .commit = job->commit, .run_id = job->run_id,
						   .job_id = job->id, .created_ms = now_ms() };
		rc = store_coverage_report_add(f->st, &r, err);
		if (rc == 0)
			atomic_store(&f->coverage_due, 1);
	}
	return rc;
}

int farm_result(struct farm *f, int64_t job_id, const json_t *req, json_t **out, struct rp_error *err)
{
	const char *worker, *status, *key, *output_hash, *failed_step, *category, *first_error;
	int64_t fence = 0, duration = 0;
	int ok, rc, requeued = 0;
	if ((rc = read_worker(req, &worker, err)) < 0 || (rc = need_int(req, "fence", 1, INT64_MAX, &fence, err)) < 0 ||
	    (rc = need_string(req, "status", &status, err)) < 0 || (rc = opt_string(req, "build_key", &key, err)) < 0 ||
	    (rc = opt_string(req, "output_hash", &output_hash, err)) < 0 ||
	    (rc = opt_string(req, "failed_step", &failed_step, err)) < 0 ||
	    (rc = opt_string(req, "category", &category, err)) < 0 ||
	    (rc = opt_string(req, "first_error", &first_error, err)) < 0 ||
	    (rc = opt_int(req, "duration_ms", 0, INT64_MAX / 2, &duration, err)) < 0)
		return rc;
	int64_t build_ms = 0, test_ms = 0;
	const char *failed_test = NULL;
	if ((rc = opt_string(req, "failed_test", &failed_test, err)) < 0)
		return rc;
	if (failed_test && strlen(failed_test) > 127)
		return rp_error_set(err, RP_EINVAL, "member \"failed_test\": expected at most 127 bytes");
	const json_t *steps = json_object_get(req, "steps_ms");
	if (steps && !json_is_null(steps) &&
	    (!json_is_object(steps) || (rc = opt_int(steps, "build", 0, INT64_MAX / 2, &build_ms, err)) < 0 ||
	     (rc = opt_int(steps, "test", 0, INT64_MAX / 2, &test_ms, err)) < 0))
		return rc < 0 ? rc : rp_error_set(err, RP_EINVAL, "member \"steps_ms\": expected {\"build\": MS, \"test\": MS}");
	enum store_result_status st = status_named(status, &ok);
	if (!ok)
		return rp_error_set(err, RP_EINVAL,
				    "member \"status\": expected \"pass\", \"fail\", \"error\", \"timeout\" or \"cancelled\"");
	if (output_hash && !buildkey_is_hex(output_hash))
		return rp_error_set(err, RP_EINVAL, "member \"output_hash\": expected 64 lowercase hex digits or null");
	if (failed_step && strcmp(failed_step, "build") != 0 && strcmp(failed_step, "test") != 0)
		return rp_error_set(err, RP_EINVAL, "member \"failed_step\": expected \"build\", \"test\" or null");
	if (st == STORE_RESULT_PASS && (failed_step || !output_hash))
		return rp_error_set(err, RP_EINVAL, "a pass has an output_hash and no failed_step");
	if (st == STORE_RESULT_FAIL && !failed_step)
		return rp_error_set(err, RP_EINVAL, "a fail names its failed_step");
	if ((category && strlen(category) > 64) || (first_error && strlen(first_error) > 2000))
		return rp_error_set(err, RP_EINVAL, "category or first_error: expected at most 64 and 2000 bytes");
	write_lock(f); /* the result, its dependents' keys and the answer: one commit */
	struct store_job job;
	if ((rc = store_job_get(f->st, job_id, &job, err)) < 0)
		goto unlock;
	int coverage = strcmp(job.variant, "coverage") == 0, fuzz = strcmp(job.variant, "fuzz") == 0;
	const json_t *fuzz_report = json_object_get(req, "fuzz");
	if (key && job.build_key && strcmp(key, job.build_key) != 0)
		rc = rp_error_set(err, RP_EINVAL, "member \"build_key\": the job's key is %s", job.build_key);
	else if ((rc = farm__fuzz_check(f, &job, st, failed_step, category, fuzz_report, err)) < 0)
		;
	/* Nothing uses a fuzz build's output: it stays on its worker. */
	else if (!fuzz && output_hash && (st == STORE_RESULT_PASS || st == STORE_RESULT_FAIL) && job.build_key &&
		 !output_present(f, job.build_key, output_hash))
		rc = rp_error_set(err, RP_EINVAL, "the prefix artifact of %s is not uploaded: PUT it first",
				  job.build_key);
	if (rc < 0) {
		store_job_release(&job);
		goto unlock;
	}
	struct store_job_result r = { .status = st,
				      .worker = worker,
				      .fence = fence,
				      .failed_step = failed_step,
				      .category = category,
				      .first_error = first_error,
				      .output_hash = (st == STORE_RESULT_PASS || st == STORE_RESULT_FAIL) ? output_hash : NULL,
				      .duration_ms = duration,
				      .build_ms = build_ms,
				      .test_ms = test_ms,
				      .failed_test = failed_test,
				      .now_ms = now_ms() };
	/* What a fuzz job found is acknowledged with its result, or neither is: one part of the commit. */
	if (fuzz && (rc = store_part_begin(f->st, err)) < 0) {
		store_job_release(&job);
		goto unlock;
	}
	rc = store_job_finish(f->st, job_id, &r, FARM_MAX_ATTEMPTS, &requeued, err);
	if (rc == 0 && fuzz && !requeued)
		rc = farm__fuzz_record(f, &job, st, failed_step, category, fuzz_report, err);
	if (fuzz) {
		int prc = store_part_end(f->st, rc == 0, rc == 0 ? err : NULL);
		if (rc == 0)
			rc = prc;
	}
	store_job_release(&job);
	if (rc < 0)
		goto unlock;
	if (!requeued) {
		double s = (double)duration / 1000.0;
		size_t b = 0;
		while (b < N_BUCKETS && s > duration_buckets[b])
			b++;
		f->duration_counts[b]++;
		f->duration_sum += s;
		f->durations++;
	}
	if (!requeued && st == STORE_RESULT_FAIL && failed_step && strcmp(failed_step, "test") == 0)
		check_flake(f, job_id);
	/*
	 * A coverage job whose tests passed left its figures (uploaded first,
	 * like an output): merged into its commit's from the server's loop.
	 */
	struct rp_error adv;
	int got = store_job_get(f->st, job_id, &job, err), have_job = got == 0;
	/* A coverage job whose figures cannot be listed is not acknowledged: the worker posts again. */
	if (!requeued && coverage && st == STORE_RESULT_PASS && (got < 0 || (rc = record_coverage(f, &job, err)) < 0)) {
		if (got < 0)
			rc = got;
		else
			store_job_release(&job);
		goto unlock;
	}
	if (have_job && !requeued && job.build_key && !job.rerun_of &&
	    (st == STORE_RESULT_PASS || st == STORE_RESULT_FAIL))
		/* a failure leaves them queued: they are built instead */
		answer_waiting(f, job.build_key, strcmp(job.variant, "coverage") == 0, &adv);
	advance(f, &adv);
	wake(f);
	if (have_job) {
		*out = json_pack("{s:o}", "job", job_json(&job));
		store_job_release(&job);
	}
unlock:;
	int brc = write_unlock(f, NULL);
	if (rc == 0 && brc < 0) { /* not committed: not acknowledged either */
		json_decref(*out);
		*out = NULL;
		rc = rp_error_set(err, RP_EDB, "the result could not be committed; post it again");
	}
	return rc;
}

int farm_log_read(struct farm *f, int64_t job_id, int *attempt, int64_t offset, void *buf, size_t cap,
		  size_t *n, int64_t *size, int *ended, int wait_ms, struct rp_error *err)
{
	struct timespec deadline;
	int rc;
	*n = 0;
	deadline_after(&deadline, wait_ms);
	pthread_mutex_lock(&f->lock);
	for (;;) {
		struct store_job job;
		if ((rc = store_job_get(f->st, job_id, &job, err)) < 0)
			break;
		int a = *attempt < 0 ? job.attempt : *attempt;
		*ended = a < job.attempt || job.state == STORE_JOB_DONE || job.state == STORE_JOB_CANCELLED;
		if (a > job.attempt)
			rc = rp_error_set(err, RP_ENOTFOUND, "job %lld has no attempt %d", (long long)job_id, a);
		store_job_release(&job);
		if (rc < 0)
			break;
		if ((rc = store_log_size(f->st, job_id, a, size, err)) < 0)
			break;
		*attempt = a;
		if (offset < *size || *ended || f->shutting_down || wait_ms <= 0 || passed(&deadline)) {
			if (offset < *size && cap)
				rc = store_log_read(f->st, job_id, a, offset, buf, cap, n, err);
			break;
		}
		pthread_cond_timedwait(&f->logs, &f->lock, &deadline);
	}
	pthread_mutex_unlock(&f->lock);
	return rc;
}

/* ---- artifacts ------------------------------------------------------------------------ */

static int valid_artifact_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
			return 0;
	return 1;
}

int farm_artifact_begin(struct farm *f, const char *build_key, const char *name, const char *sha256,
			struct farm_upload **out, struct rp_error *err)
{
	*out = NULL;
	if (!buildkey_is_hex(build_key))
		return rp_error_set(err, RP_EINVAL, "build key: expected 64 lowercase hex digits");
	if (!valid_artifact_name(name))
		return rp_error_set(err, RP_EINVAL, "artifact name: expected 1 to 64 of a-z 0-9 -");
	if (!sha256 || !buildkey_is_hex(sha256))
		return rp_error_set(err, RP_EINVAL, "query \"sha256\": expected 64 lowercase hex digits");
	struct farm_upload *up = calloc(1, sizeof(*up));
	if (!up)
		return rp_error_set(err, RP_ENOMEM, "out of memory");
	up->f = f;
	snprintf(up->key, sizeof(up->key), "%s", build_key);
	snprintf(up->name, sizeof(up->name), "%s", name);
	snprintf(up->sha256, sizeof(up->sha256), "%s", sha256);
	snprintf(up->tmp_path, sizeof(up->tmp_path), "%s/tmp/upload-XXXXXX", f->blobs_dir);
	int fd = mkstemp(up->tmp_path);
	if (fd < 0 || !(up->fp = fdopen(fd, "wb"))) {
		int e = errno;
		if (fd >= 0) {
			close(fd);
			unlink(up->tmp_path);
		}
		free(up);
		return rp_error_set(err, RP_EIO, "cannot create an upload file: %s", strerror(e));
	}
	up->md = EVP_MD_CTX_new();
	if (!up->md || EVP_DigestInit_ex(up->md, EVP_sha256(), NULL) != 1) {
		farm_artifact_abort(up);
		return rp_error_set(err, RP_ENOMEM, "cannot start SHA-256");
	}
	*out = up;
	return 0;
}

int farm_artifact_write(struct farm_upload *up, const void *data, size_t len, struct rp_error *err)
{
	if (up->size + (int64_t)len > ARTIFACT_MAX_BYTES)
		return rp_error_set(err, RP_ERANGE, "artifact larger than %lld bytes", (long long)ARTIFACT_MAX_BYTES);
	if (fwrite(data, 1, len, up->fp) != len)
		return rp_error_set(err, RP_EIO, "cannot write the upload: %s", strerror(errno));
	EVP_DigestUpdate(up->md, data, len);
	up->size += (int64_t)len;
	return 0;
}

void farm_artifact_abort(struct farm_upload *up)
{
	if (!up)
		return;
	if (up->fp) {
		fclose(up->fp);
		unlink(up->tmp_path);
	}
	EVP_MD_CTX_free(up->md);
	free(up);
}

int farm_artifact_commit(struct farm_upload *up, struct rp_error *err)
{
	struct farm *f = up->f;
	unsigned char digest[32];
	unsigned int dlen = 0;
	char hex[65], rel[200], dir[PATH_MAX + 8], path[PATH_MAX + 208];
	int rc = 0;
	if (fflush(up->fp) != 0 || fsync(fileno(up->fp)) != 0) {
		rc = rp_error_set(err, RP_EIO, "cannot write the upload: %s", strerror(errno));
		goto out;
	}
	EVP_DigestFinal_ex(up->md, digest, &dlen);
	for (unsigned i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	if (strcmp(hex, up->sha256) != 0) {
		rc = rp_error_set(err, RP_EINVAL, "the body's SHA-256 is %s, not the announced %s", hex, up->sha256);
		goto out;
	}
	snprintf(rel, sizeof(rel), "%.2s/%s.%s", up->key, up->key, up->name);
	snprintf(dir, sizeof(dir), "%s/%.2s", f->blobs_dir, up->key);
	snprintf(path, sizeof(path), "%s/%s", f->blobs_dir, rel);
	if ((rc = mkdir_p(dir, err)) < 0)
		goto out;
	write_lock(f);
	struct store_artifact a;
	rc = store_artifact_get(f->st, up->key, up->name, &a, err);
	if (rc == 0) {
		struct stat st;
		int same = strcmp(a.sha256, hex) == 0 && a.size == up->size;
		char old[PATH_MAX];
		snprintf(old, sizeof(old), "%s/%s", f->blobs_dir, a.location);
		if (!same) {
			/* Left by an attempt whose result never came: replaceable until a build is recorded. */
			struct store_artifact na = { .build_key = up->key, .name = up->name, .size = up->size,
						     .sha256 = hex, .location = a.location, .created_ms = now_ms() };
			rc = store_artifact_replace(f->st, &na, err);
			if (rc == 0 && rename(up->tmp_path, old) != 0)
				rc = rp_error_set(err, RP_EIO, "%s: %s", old, strerror(errno));
		} else if (stat(old, &st) != 0 || st.st_size != a.size) { /* recorded but lost: heal it */
			rc = rename(up->tmp_path, old) == 0 ? 0 : rp_error_set(err, RP_EIO, "%s: %s", old, strerror(errno));
		}
		store_artifact_release(&a);
	} else if (rc == RP_ENOTFOUND) {
		if (rename(up->tmp_path, path) != 0)
			rc = rp_error_set(err, RP_EIO, "%s: %s", path, strerror(errno));
		else {
			struct store_artifact na = { .build_key = up->key, .name = up->name, .size = up->size,
						     .sha256 = hex, .location = rel, .created_ms = now_ms() };
			rc = store_artifact_put(f->st, &na, err);
			if (rc == 0)
				wake(f);
		}
	}
	if (write_unlock(f, rc == 0 ? err : NULL) < 0 && rc == 0)
		rc = RP_EDB;
out:
	farm_artifact_abort(up); /* unlinks the temporary file when it was not renamed */
	return rc;
}

int farm_artifact_open(struct farm *f, const char *build_key, const char *name, FILE **fp, int64_t *size,
		       char sha256[65], struct rp_error *err)
{
	struct store_artifact a;
	char path[PATH_MAX];
	struct stat st;
	*fp = NULL;
	if (!buildkey_is_hex(build_key) || !valid_artifact_name(name))
		return rp_error_set(err, RP_ENOTFOUND, "no such artifact");
	pthread_mutex_lock(&f->lock);
	int rc = store_artifact_get(f->st, build_key, name, &a, err);
	pthread_mutex_unlock(&f->lock);
	if (rc < 0)
		return rc;
	snprintf(path, sizeof(path), "%s/%s", f->blobs_dir, a.location);
	*fp = fopen(path, "rb");
	if (!*fp || fstat(fileno(*fp), &st) != 0 || st.st_size != a.size) {
		if (*fp)
			fclose(*fp);
		*fp = NULL;
		rc = rp_error_set(err, RP_ENOTFOUND, "artifact %s of %s is recorded but its file is missing or damaged",
				  name, build_key);
	} else {
		*size = a.size;
		memcpy(sha256, a.sha256, 65);
	}
	store_artifact_release(&a);
	return rc;
}

int farm__artifact_json(struct farm *f, const char *build_key, const char *name, const char *what, json_t **doc,
			struct rp_error *err)
{
	FILE *fp;
	int64_t size;
	char sha[65];
	struct rp_error why;
	*doc = NULL;
	int rc = farm_artifact_open(f, build_key, name, &fp, &size, sha, &why);
	if (rc < 0)
		return rp_error_set(err, rc, "%s of build %.12s: %s", what, build_key, why.msg);
	json_error_t jerr;
	*doc = json_loadf(fp, 0, &jerr);
	fclose(fp);
	if (!*doc)
		return rp_error_set(err, RP_EINVAL, "%s of build %.12s:%d:%d: %s", what, build_key, jerr.line, jerr.column,
				    jerr.text);
	return 0;
}

/* ---- for webhooks ------------------------------------------------------------------------ */

int farm_repo_packages(struct farm *f, const char *url, const char **names, const char **branches, size_t cap,
		       size_t *n, struct rp_error *err)
{
	char *want = NULL;
	*n = 0;
	int rc = mirror_normalize_url(url, NULL, &want, err);
	if (rc < 0)
		return rc;
	for (size_t p = 0; p < f->u->n_packages && *n < cap; p++) {
		char *have = NULL;
		struct rp_error ignored;
		if (mirror_normalize_url(f->u->packages[p].repo, f->u->dir, &have, &ignored) == 0 &&
		    strcmp(have, want) == 0) {
			names[*n] = f->u->packages[p].name;
			branches[(*n)++] = f->u->packages[p].branch;
		}
		free(have);
	}
	free(want);
	return 0;
}

int farm_nightly_pins(struct farm *f, json_t **pins, struct rp_error *err)
{
	int64_t run_id;
	struct store_run run;
	*pins = json_array();
	pthread_mutex_lock(&f->lock);
	int rc = store_run_latest_done(f->st, STORE_RUN_NIGHTLY, 0, &run_id, err);
	if (rc == 0) {
		rc = store_run_get(f->st, run_id, &run, err);
		for (size_t i = 0; rc == 0 && i < run.nbaseline; i++)
			json_array_append_new(*pins, json_pack("{s:s, s:s}", "package", run.baseline[i].package, "rev",
							       run.baseline[i].commit));
		store_run_release(&run);
	}
	pthread_mutex_unlock(&f->lock);
	return rc == RP_ENOTFOUND ? 0 : rc; /* no nightly yet: branch heads */
}

json_t *farm_untrusted_targets(struct farm *f)
{
	json_t *arr = json_array();
	for (size_t t = 0; t < f->u->n_targets; t++)
		if (f->u->targets[t].runner != RP_RUNNER_PROCESS)
			json_array_append_new(arr, json_string(f->u->targets[t].name));
	return arr;
}

int farm_cancel_ref(struct farm *f, const char *change_ref, size_t *n, struct rp_error *err)
{
	int64_t *ids = NULL;
	size_t count = 0, q, r;
	*n = 0;
	write_lock(f);
	int rc = store_runs_active_by_ref(f->st, change_ref, &ids, &count, err);
	for (size_t i = 0; rc == 0 && i < count; i++)
		if ((rc = store_run_cancel(f->st, ids[i], now_ms(), &q, &r, err)) == 0)
			(*n)++;
	if (*n)
		wake(f);
	if (write_unlock(f, rc == 0 ? err : NULL) < 0 && rc == 0)
		rc = RP_EDB;
	free(ids);
	return rc;
}

/* ---- nightly and reports ------------------------------------------------------------------ */

int farm_nightly(struct farm *f, int64_t slot_ms, int fuzz, int64_t *run_id, size_t *njobs, int *created,
		 struct rp_error *err)
{
	char title[64], request_id[64];
	time_t t = (time_t)(slot_ms / 1000);
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(title, sizeof(title), "nightly %Y-%m-%d %H:%M", &tm);
	snprintf(request_id, sizeof(request_id), "nightly:%lld", (long long)(slot_ms / 1000));
	json_t *req = json_pack("{s:s, s:s, s:s, s:b}", "kind", "nightly", "title", title, "request_id", request_id,
				"fuzz", fuzz < 0 ? f->o.nightly_fuzz : fuzz);
	if (!req)
		return rp_error_set(err, RP_ENOMEM, "out of memory");
	int rc = farm_submit(f, req, run_id, njobs, created, err);
	json_decref(req);
	return rc;
}

/*
 * A pair's verdict in a run report: the rule of local comparisons
 * (report_verdict_of), in a nightly's words. The store's result statuses and
 * the build engine's outcomes are the same list in the same order.
 */
_Static_assert((int)STORE_RESULT_PASS == (int)BUILD_PASS && (int)STORE_RESULT_FAIL == (int)BUILD_FAIL &&
		       (int)STORE_RESULT_SKIPPED == (int)BUILD_SKIPPED && (int)STORE_RESULT_ERROR == (int)BUILD_ERROR &&
		       (int)STORE_RESULT_TIMEOUT == (int)BUILD_TIMEOUT &&
		       (int)STORE_RESULT_CANCELLED == (int)BUILD_CANCELLED,
	       "store result statuses and build outcomes must be the same list");

static const char *verdict_of(int nightly, const struct store_job *before, const struct store_job *now)
{
	if (!now->has_status || now->status == STORE_RESULT_CANCELLED)
		return "unfinished";
	if (now->status != STORE_RESULT_SKIPPED && (!before || !before->has_status))
		return "new";
	enum report_verdict v = report_verdict_of(before && before->has_status,
						  before ? (enum build_outcome)before->status : BUILD_ERROR,
						  (enum build_outcome)now->status);
	if (nightly && v == VERDICT_REGRESSED)
		return "newly broken";
	if (nightly && v == VERDICT_FIXED)
		return "newly fixed";
	if (nightly && v == VERDICT_STILL_FAILING)
		return "still broken";
	return report_verdict_name(v);
}

/* A Markdown table cell: no pipes, no line breaks, no HTML. */
static void md_cell(struct text *t, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '|')
			text_add(t, "\\|");
		else if (*s == '<')
			text_add(t, "&lt;");
		else if (*s == '>')
			text_add(t, "&gt;");
		else if (*s == '\n' || *s == '\r')
			text_add(t, " ");
		else
			text_add(t, "%c", *s);
	}
}

/* "package\x1ftarget", malloc'd: a (package, target) as one map key. NULL when out of memory. */
static char *pair_key(const char *package, const char *target)
{
	size_t len = strlen(package) + strlen(target) + 2;
	char *key = malloc(len);
	if (key)
		snprintf(key, len, "%s\x1f%s", package, target);
	return key;
}

/*
 * The report's API section: each changed library's breaking and compatible
 * changes with the semver verdict, what each breaking change broke
 * downstream, and the regressions no API change explains.
 */
static void api_markdown(struct text *md, const json_t *api)
{
	const json_t *libs = json_object_get(api, "libraries"), *behaviour = json_object_get(api, "behaviour_changes");
	if (!json_array_size(libs))
		return;
	text_add(md, "\n### API changes\n\n");
	size_t i, k;
	const json_t *lib, *c;
	json_array_foreach(libs, i, lib)
	{
		text_add(md, "**");
		md_cell(md, json_string_value(json_object_get(lib, "package")));
		text_add(md, "** (%.12s → %.12s)", json_string_value(json_object_get(json_object_get(lib, "old"), "commit")),
			 json_string_value(json_object_get(json_object_get(lib, "new"), "commit")));
		const char *problem = json_string_value(json_object_get(lib, "problem"));
		if (problem) {
			text_add(md, ": not compared: ");
			md_cell(md, problem);
			text_add(md, "\n\n");
			continue;
		}
		const json_t *sv = json_object_get(lib, "semver");
		text_add(md, ": %s", json_is_true(json_object_get(sv, "enough")) ? "" : "**");
		md_cell(md, json_string_value(json_object_get(sv, "why")));
		text_add(md, "%s", json_is_true(json_object_get(sv, "enough")) ? "" : "**");
		if (json_is_true(json_object_get(lib, "weaker")))
			text_add(md, " _(compared by exported symbols and header prototypes: no debug info)_");
		text_add(md, "\n\n");
		const json_t *changes = json_object_get(lib, "changes");
		if (!json_array_size(changes))
			text_add(md, "No API or ABI change.\n");
		for (int breaking = 1; breaking >= 0; breaking--) {
			json_array_foreach(changes, k, c)
			{
				int b = json_is_true(json_object_get(c, "api_breaking")) || json_is_true(json_object_get(c, "abi_breaking"));
				if (b != breaking)
					continue;
				const char *after = json_string_value(json_object_get(c, "after"));
				const char *decl = after ? after : json_string_value(json_object_get(c, "before"));
				text_add(md, "- %s **", breaking ? "breaking:" : "compatible:");
				md_cell(md, json_string_value(json_object_get(c, "kind")));
				text_add(md, "** `");
				md_cell(md, decl ? decl : json_string_value(json_object_get(c, "name")));
				text_add(md, "`");
				const char *detail = json_string_value(json_object_get(c, "detail"));
				if (detail) {
					text_add(md, ": ");
					md_cell(md, detail);
				}
				text_add(md, "\n");
				size_t l;
				const json_t *broke;
				json_array_foreach(json_object_get(c, "broke"), l, broke)
				{
					text_add(md, "  - ");
					md_cell(md, json_string_value(json_object_get(broke, "summary")));
					text_add(md, " broke **");
					md_cell(md, json_string_value(json_object_get(broke, "package")));
					text_add(md, "** (`");
					char line[400];
					snprintf(line, sizeof(line), "%s", json_string_value(json_object_get(broke, "line")));
					for (char *ch = line; *ch; ch++)
						if (*ch == '`')
							*ch = '\'';
					md_cell(md, line);
					text_add(md, "`)\n");
				}
			}
		}
		text_add(md, "\n");
	}
	json_array_foreach(behaviour, i, c)
	{
		if (!i)
			text_add(md, "Regressions no API change explains — **behaviour changes**: look at the tests, not the headers:\n\n");
		text_add(md, "- **");
		md_cell(md, json_string_value(json_object_get(c, "package")));
		text_add(md, "** on ");
		md_cell(md, json_string_value(json_object_get(c, "target")));
		const char *first = json_string_value(json_object_get(c, "first_error"));
		if (first) {
			text_add(md, ": ");
			md_cell(md, first);
		}
		text_add(md, "\n");
	}
}

/* " (+1.2)" after a percentage: its change in points, when there is a base. */
static void md_points(struct text *md, const json_t *change, const char *kind)
{
	const json_t *v = json_object_get(change, kind);
	if (json_is_number(v))
		text_add(md, " (%+.1f)", json_number_value(v));
}

/* The report's coverage section, as Codecov shows it: each package's coverage, its change, the patch's. */
/* The report's fuzzing section: the crashes the run's fuzz jobs found, and those its replays fixed. */
static void fuzz_markdown(struct text *md, const json_t *fuzz)
{
	const json_t *found = json_object_get(fuzz, "new"), *fixed = json_object_get(fuzz, "fixed");
	if (!json_array_size(found) && !json_array_size(fixed))
		return;
	text_add(md, "\n### Fuzzing\n\n");
	for (int k = 0; k < 2; k++) {
		size_t i;
		const json_t *e;
		json_array_foreach(k ? fixed : found, i, e)
		{
			text_add(md, "- %s crash %lld of %s on %s (%s): ", k ? "fixed" : "new",
				 (long long)json_integer_value(json_object_get(e, "id")),
				 json_string_value(json_object_get(e, "package")),
				 json_string_value(json_object_get(e, "target")), json_string_value(json_object_get(e, "fuzzer")));
			md_cell(md, json_string_value(json_object_get(e, "signature")));
			if (k)
				text_add(md, ", fixed between %.12s and %.12s\n", json_string_value(json_object_get(e, "commit")),
					 json_string_value(json_object_get(e, "fixed_commit")));
			else
				text_add(md, " at %.12s\n", json_string_value(json_object_get(e, "commit")));
		}
	}
}

static void coverage_markdown(struct text *md, const json_t *coverage)
{
	if (!json_array_size(coverage))
		return;
	text_add(md, "\n### Coverage\n\n| package | lines | branches | functions | patch |\n| --- | --- | --- | --- | --- |\n");
	size_t i;
	const json_t *e;
	json_array_foreach(coverage, i, e)
	{
		const json_t *totals = json_object_get(e, "totals"), *change = json_object_get(e, "change");
		text_add(md, "| ");
		md_cell(md, json_string_value(json_object_get(e, "package")));
		if (!json_is_object(totals)) {
			text_add(md, " | - | - | - | ");
			md_cell(md, json_string_value(json_object_get(e, "problem")));
			text_add(md, " |\n");
			continue;
		}
		static const char *const kinds[] = { "lines", "branches", "functions" };
		for (int k = 0; k < 3; k++) {
			const json_t *c = json_object_get(totals, kinds[k]);
			text_add(md, " | %.1f%% (%lld/%lld)", json_number_value(json_object_get(c, "percent")),
				 (long long)json_integer_value(json_object_get(c, "covered")),
				 (long long)json_integer_value(json_object_get(c, "total")));
			md_points(md, change, kinds[k]);
		}
		const json_t *patch = json_object_get(e, "patch");
		if (!json_is_object(patch)) {
			text_add(md, " | - |\n");
			continue;
		}
		text_add(md, " | %.1f%% of %lld changed line%s", json_number_value(json_object_get(patch, "percent")),
			 (long long)json_integer_value(json_object_get(patch, "total")),
			 json_integer_value(json_object_get(patch, "total")) == 1 ? "" : "s");
		size_t fi;
		const json_t *pf;
		int first = 1;
		json_array_foreach(json_object_get(e, "patch_files"), fi, pf)
		{
			const json_t *lines = json_object_get(pf, "lines");
			if (!json_array_size(lines))
				continue;
			text_add(md, "%s", first ? "; not run: " : "; ");
			first = 0;
			md_cell(md, json_string_value(json_object_get(pf, "path")));
			size_t li;
			const json_t *l;
			json_array_foreach(lines, li, l)
			text_add(md, "%s%lld", li ? ", " : ":", (long long)json_integer_value(l));
			if ((json_int_t)json_array_size(lines) < json_integer_value(json_object_get(pf, "uncovered")))
				text_add(md, ", …");
		}
		text_add(md, " |\n");
	}
}

int farm_run_report(struct farm *f, int64_t run_id, json_t **out, struct rp_error *err)
{
	struct store_run run;
	struct store_job *jobs = NULL, *before = NULL;
	size_t n = 0, nb = 0;
	int64_t against = 0;
	struct text md = { 0 };
	struct store_metric_drop *drops = NULL;
	struct store_bisect *bisects = NULL;
	size_t ndrops = 0, nbisects = 0;
	pthread_mutex_lock(&f->lock);
	int rc = store_run_get(f->st, run_id, &run, err);
	if (rc == 0)
		rc = store_jobs_list(f->st, run_id, &jobs, &n, err);
	if (rc == 0) {
		struct rp_error none;
		if (store_run_latest_done(f->st, STORE_RUN_NIGHTLY, run_id, &against, &none) == 0)
			rc = store_jobs_list(f->st, against, &before, &nb, err);
	}
	if (rc == 0)
		rc = store_metric_drops(f->st, run_id, &drops, &ndrops, err);
	if (rc == 0)
		rc = store_bisects_list(f->st, run_id, 0, 0, 1000, &bisects, &nbisects, err);
	pthread_mutex_unlock(&f->lock);
	if (rc < 0) {
		store_metric_drops_free(drops, ndrops);
		store_run_release(&run);
		store_jobs_free(jobs, n);
		store_jobs_free(before, nb);
		return rc;
	}
	json_t *drop_list = json_array();
	for (size_t d = 0; d < ndrops; d++)
		json_array_append_new(drop_list, json_pack("{s:s, s:s, s:I, s:s, s:s, s:f, s:f, s:f}", "package",
							   drops[d].package, "target", drops[d].target, "job",
							   (json_int_t)drops[d].job_id, "metric", drops[d].metric, "unit",
							   drops[d].unit, "value", drops[d].value, "baseline",
							   drops[d].baseline, "change", drops[d].change));
	int nightly = run.kind == STORE_RUN_NIGHTLY;
	json_t *pairs = json_array(), *counts = json_object();
	/* The nightly's finished pairs by "package\x1ftarget" (its last job of each), and the flake checks. */
	struct strmap by_pair;
	char **pair_keys = calloc(nb + 1, sizeof(*pair_keys));
	size_t *checks_at = malloc((n + 1) * sizeof(*checks_at)), nchecks = 0;
	strmap_init(&by_pair);
	/*
	 * Pairs are plain builds: a coverage job repeats its package's tests, so
	 * a failure would be told twice; what it adds is figures (see "coverage").
	 */
	for (size_t k = nb; pair_keys && k-- > 0;)
		if (before[k].has_status && strcmp(before[k].variant, "build") == 0 &&
		    (pair_keys[k] = pair_key(before[k].package, before[k].target)))
			strmap_put(&by_pair, pair_keys[k], k, NULL);
	for (size_t k = 0; checks_at && k < n; k++)
		if (jobs[k].rerun_of)
			checks_at[nchecks++] = k;
	for (size_t i = 0; i < n; i++) {
		const struct store_job *j = &jobs[i];
		if (j->rerun_of || strcmp(j->variant, "build") != 0)
			continue; /* a flake check counts with the pair it checks */
		const char *now = j->has_status ? store_result_status_name(j->status) : NULL, *was = NULL;
		const struct store_job *b = NULL;
		char *key = pair_key(j->package, j->target);
		size_t at;
		if (key && strmap_get(&by_pair, key, &at))
			b = &before[at];
		free(key);
		if (b)
			was = store_result_status_name(b->status);
		const char *verdict = verdict_of(nightly, b, j);
		/* Flake checks: every run of the head and of the base, this pair's first ones included. */
		int head_fail = j->has_status && j->status == STORE_RESULT_FAIL, head_n = 1;
		int base_fail = b && b->status == STORE_RESULT_FAIL, base_n = 1, checks = 0;
		for (size_t x = 0; x < nchecks; x++) {
			const struct store_job *c = &jobs[checks_at[x]];
			if (c->rerun_of != j->id && (!b || c->rerun_of != b->id))
				continue;
			checks++;
			if (!c->has_status || (c->status != STORE_RESULT_PASS && c->status != STORE_RESULT_FAIL))
				continue; /* unfinished, or the machine failed: no evidence either way */
			int fail = c->status == STORE_RESULT_FAIL;
			if (c->rerun_of == j->id) {
				head_fail += fail;
				head_n++;
			} else {
				base_fail += fail;
				base_n++;
			}
		}
		char detail[80] = "";
		if (checks && strcmp(verdict, "regressed") == 0) {
			if (head_fail == head_n && base_fail == 0)
				snprintf(detail, sizeof(detail), "%d/%d new failures vs %d/%d before", head_fail, head_n,
					 base_fail, base_n);
			else {
				verdict = "flaky";
				snprintf(detail, sizeof(detail), "flaky (%d/%d)", head_fail, head_n);
			}
		}
		json_object_set_new(counts, verdict,
				    json_integer(json_integer_value(json_object_get(counts, verdict)) + 1));
		json_t *pair = json_pack("{s:s, s:s, s:I, s:o, s:o, s:s, s:b, s:o, s:o}", "package", j->package, "target",
					 j->target, "job", (json_int_t)j->id, "status", str_or_null(now), "before",
					 str_or_null(was), "verdict", verdict, "to_bisect",
					 strcmp(verdict, "newly broken") == 0 || strcmp(verdict, "regressed") == 0,
					 "category", str_or_null(j->category), "first_error", str_or_null(j->first_error));
		if (checks) {
			json_object_set_new(pair, "runs", json_pack("{s:[i, i], s:[i, i]}", "head", head_fail, head_n,
								    "base", base_fail, base_n));
			json_object_set_new(pair, "detail", json_string(detail));
		}
		if (f->base_url[0]) {
			char job_url[600];
			snprintf(job_url, sizeof(job_url), "%s/#/jobs/%lld", f->base_url, (long long)j->id);
			json_object_set_new(pair, "job_url", json_string(job_url));
		}
		for (size_t k = 0; k < nbisects; k++) /* its automatic bisection, once planned */
			/* A fuzz crash's bisection is the crash's (GET /fuzz), not the pair's. */
			if (!bisects[k].crash_id && strcmp(bisects[k].package, j->package) == 0 &&
			    strcmp(bisects[k].target, j->target) == 0) {
				json_t *bd = autobisect_bisect_json(&bisects[k], 0);
				if (bd && f->base_url[0]) {
					char url[600];
					snprintf(url, sizeof(url), "%s/#/bisects/%lld", f->base_url, (long long)bisects[k].id);
					json_object_set_new(bd, "url", json_string(url));
				}
				json_object_set_new(pair, "bisect", bd ? bd : json_null());
			}
		json_array_append_new(pairs, pair);
	}
	strmap_release(&by_pair);
	for (size_t k = 0; pair_keys && k < nb; k++)
		free(pair_keys[k]);
	free(pair_keys);
	free(checks_at);
	/* What the changed libraries' APIs did, and which regressions their changes explain. */
	json_t *api = farm__run_api(f, jobs, n, before, nb, pairs);
	/* The Markdown a person reads: the summary line, then every pair that is not simply passing. */
	text_add(&md, "## ripple: run %lld (%s)%s", (long long)run.id, store_run_kind_name(run.kind),
		 run.title ? " — " : "");
	md_cell(&md, run.title);
	text_add(&md, "\n\n");
	if (against && f->base_url[0])
		text_add(&md, "Compared with nightly run %lld (%s/#/runs/%lld).\n\n", (long long)against, f->base_url,
			 (long long)against);
	else if (against)
		text_add(&md, "Compared with nightly run %lld.\n\n", (long long)against);
	else
		text_add(&md, "No earlier nightly to compare with.\n\n");
	static const char *const order[] = { "newly broken", "regressed", "flaky", "newly fixed", "fixed", "still broken",
					     "still failing", "error", "new", "skipped", "unfinished", "passing" };
	int first = 1;
	for (size_t o = 0; o < sizeof(order) / sizeof(order[0]); o++) {
		json_int_t c = json_integer_value(json_object_get(counts, order[o]));
		if (c) {
			text_add(&md, "%s%lld %s", first ? "" : ", ", (long long)c, order[o]);
			first = 0;
		}
	}
	text_add(&md, "\n\n| package | target | verdict | before | now | first error | job |\n| --- | --- | --- | --- | --- | --- | --- |\n");
	size_t i;
	json_t *p;
	json_array_foreach(pairs, i, p)
	{
		const char *verdict = json_string_value(json_object_get(p, "verdict"));
		if (strcmp(verdict, "passing") == 0)
			continue;
		text_add(&md, "| ");
		md_cell(&md, json_string_value(json_object_get(p, "package")));
		text_add(&md, " | ");
		md_cell(&md, json_string_value(json_object_get(p, "target")));
		/* "regressed (3/3 new failures vs 0/3 before)", "flaky (1/3)" */
		const char *detail = json_string_value(json_object_get(p, "detail"));
		char vcell[160];
		if (detail && *detail && strcmp(verdict, "flaky") == 0)
			snprintf(vcell, sizeof(vcell), "%s", detail);
		else if (detail && *detail)
			snprintf(vcell, sizeof(vcell), "%s (%s)", verdict, detail);
		else
			snprintf(vcell, sizeof(vcell), "%s", verdict);
		const char *cause = json_string_value(json_object_get(p, "cause"));
		if (cause && strcmp(cause, "behaviour change") == 0)
			snprintf(vcell + strlen(vcell), sizeof(vcell) - strlen(vcell), ", behaviour change");
		else if (cause)
			snprintf(vcell + strlen(vcell), sizeof(vcell) - strlen(vcell), ", by an API change (below)");
		json_t *bd = json_object_get(p, "bisect");
		const char *bstate = json_string_value(json_object_get(bd, "state"));
		const char *bmark = !json_is_true(json_object_get(p, "to_bisect")) ? ""
				    : !bstate					   ? " (to bisect)"
				    : strcmp(bstate, "done") == 0		   ? " (bisected below)"
										   : " (bisecting)";
		text_add(&md, " | %s%s | %s | %s | ", vcell, bmark,
			 json_string_value(json_object_get(p, "before")) ? json_string_value(json_object_get(p, "before")) : "-",
			 json_string_value(json_object_get(p, "status")) ? json_string_value(json_object_get(p, "status")) : "-");
		md_cell(&md, json_string_value(json_object_get(p, "first_error")));
		const char *job_url = json_string_value(json_object_get(p, "job_url"));
		if (job_url)
			text_add(&md, " | [#%lld](%s) |\n", (long long)json_integer_value(json_object_get(p, "job")), job_url);
		else
			text_add(&md, " | #%lld |\n", (long long)json_integer_value(json_object_get(p, "job")));
	}
	/* What the bisections found: the culprit commit, or why none can be named. */
	int bheader = 0;
	json_array_foreach(pairs, i, p)
	{
		json_t *bd = json_object_get(p, "bisect");
		const char *bstate = json_string_value(json_object_get(bd, "state"));
		if (!bstate || strcmp(bstate, "done") != 0)
			continue;
		if (!bheader++)
			text_add(&md, "\n### Bisected\n\n");
		text_add(&md, "- **");
		md_cell(&md, json_string_value(json_object_get(p, "package")));
		text_add(&md, " on ");
		md_cell(&md, json_string_value(json_object_get(p, "target")));
		text_add(&md, "**: ");
		md_cell(&md, json_string_value(json_object_get(bd, "summary")));
		const char *burl = json_string_value(json_object_get(bd, "url"));
		if (burl)
			text_add(&md, " ([bisect #%lld](%s))", (long long)json_integer_value(json_object_get(bd, "id")), burl);
		text_add(&md, "\n");
		const char *excerpt = json_string_value(json_object_get(bd, "excerpt"));
		if (excerpt && *excerpt) { /* its first line: the error the culprit causes */
			size_t len = strcspn(excerpt, "\n");
			char line[400];
			snprintf(line, sizeof(line), "%.*s", (int)(len < sizeof(line) - 1 ? len : sizeof(line) - 1), excerpt);
			text_add(&md, "  `");
			for (char *c = line; *c; c++)
				if (*c == '`')
					*c = '\'';
			md_cell(&md, line);
			text_add(&md, "`\n");
		}
	}
	store_bisects_free(bisects, nbisects);
	if (ndrops) {
		text_add(&md, "\n%zu metric%s dropped against the last days:\n\n| package | target | metric | now | before (mean) | change |\n| --- | --- | --- | --- | --- | --- |\n",
			 ndrops, ndrops == 1 ? "" : "s");
		for (size_t d = 0; d < ndrops; d++) {
			text_add(&md, "| ");
			md_cell(&md, drops[d].package);
			text_add(&md, " | ");
			md_cell(&md, drops[d].target);
			text_add(&md, " | ");
			md_cell(&md, drops[d].metric);
			text_add(&md, " | %g %s | %g %s | %+.1f%% |\n", drops[d].value, drops[d].unit, drops[d].baseline,
				 drops[d].unit, drops[d].change * 100);
		}
	}
	store_metric_drops_free(drops, ndrops);
	api_markdown(&md, api);
	json_t *coverage = farm__run_coverage(f, jobs, n, before, nb);
	coverage_markdown(&md, coverage);
	json_t *fuzz = farm__run_fuzz(f, run.id);
	fuzz_markdown(&md, fuzz);
	if (md.failed) {
		rc = rp_error_set(err, RP_ENOMEM, "out of memory");
		json_decref(fuzz);
		json_decref(pairs);
		json_decref(counts);
		json_decref(drop_list);
		json_decref(coverage);
		json_decref(api);
	} else {
		json_t *changed = json_array();
		for (size_t c = 0; c < run.nchange; c++)
			json_array_append_new(changed, json_string(run.change[c].package));
		*out = json_pack("{s:I, s:s, s:s?, s:o, s:o, s:o, s:o, s:o, s:s}", "run", (json_int_t)run.id, "kind",
				 store_run_kind_name(run.kind), "state", store_run_state_name(run.state), "against",
				 against ? json_integer(against) : json_null(), "changed", changed, "counts", counts,
				 "pairs", pairs, "metric_drops", drop_list, "markdown", md.s);
		if (*out) {
			json_object_set_new(*out, "coverage", coverage);
			json_object_set_new(*out, "api", api);
			json_object_set_new(*out, "fuzz", fuzz ? fuzz : json_null());
		} else {
			json_decref(coverage);
			json_decref(api);
			json_decref(fuzz);
		}
	}
	free(md.s);
	store_run_release(&run);
	store_jobs_free(jobs, n);
	store_jobs_free(before, nb);
	return rc;
}

/* ---- the outbox ----------------------------------------------------------------- */

int farm_reports_due(struct farm *f, int64_t now, size_t max, struct store_report **out, size_t *n,
		     struct rp_error *err)
{
	pthread_mutex_lock(&f->lock);
	int rc = store_reports_due(f->st, now, max, out, n, err);
	pthread_mutex_unlock(&f->lock);
	return rc;
}

int farm_report_sent(struct farm *f, int64_t run_id, const char *sent, int done, struct rp_error *err)
{
	write_lock(f);
	int rc = store_report_sent(f->st, run_id, sent, done, err);
	if (write_unlock(f, rc == 0 ? err : NULL) < 0 && rc == 0)
		rc = RP_EDB;
	return rc;
}

int farm_report_retry(struct farm *f, int64_t run_id, int64_t next_ms, const char *why, int give_up,
		      struct rp_error *err)
{
	write_lock(f);
	int rc = store_report_retry(f->st, run_id, next_ms, why, give_up, err);
	if (write_unlock(f, rc == 0 ? err : NULL) < 0 && rc == 0)
		rc = RP_EDB;
	return rc;
}

int farm_pr_comment_get(struct farm *f, const char *change_ref, int64_t *comment_id, struct rp_error *err)
{
	pthread_mutex_lock(&f->lock);
	int rc = store_pr_comment_get(f->st, change_ref, comment_id, err);
	pthread_mutex_unlock(&f->lock);
	return rc;
}

int farm_pr_comment_put(struct farm *f, const char *change_ref, int64_t comment_id, struct rp_error *err)
{
	write_lock(f);
	int rc = store_pr_comment_put(f->st, change_ref, comment_id, err);
	if (write_unlock(f, rc == 0 ? err : NULL) < 0 && rc == 0)
		rc = RP_EDB;
	return rc;
}

int farm_notifications_due(struct farm *f, int64_t now, size_t max, struct store_notification **out,
			   size_t *n, struct rp_error *err)
{
	pthread_mutex_lock(&f->lock);
	int rc = store_notifications_due(f->st, now, max, out, n, err);
	pthread_mutex_unlock(&f->lock);
	return rc;
}

int farm_notification_done(struct farm *f, int64_t id, int delivered, const char *why, struct rp_error *err)
{
	write_lock(f);
	int rc = store_notification_done(f->st, id, delivered, why, err);
	if (write_unlock(f, rc == 0 ? err : NULL) < 0 && rc == 0)
		rc = RP_EDB;
	return rc;
}

int farm_notification_retry(struct farm *f, int64_t id, int64_t next_ms, const char *why, struct rp_error *err)
{
	write_lock(f);
	int rc = store_notification_retry(f->st, id, next_ms, why, err);
	if (write_unlock(f, rc == 0 ? err : NULL) < 0 && rc == 0)
		rc = RP_EDB;
	return rc;
}

int farm_owe_notifications(struct farm *f, int64_t run_id, const char *base_url, size_t *n, struct rp_error *err)
{
	json_t *report = NULL;
	size_t k;
	*n = 0;
	for (k = 0; k < f->u->n_packages && !f->u->packages[k].notify_webhook; k++)
		;
	if (k == f->u->n_packages)
		return 0; /* nobody to tell: no report to make */
	int rc = farm_run_report(f, run_id, &report, err);
	if (rc < 0)
		return rc;
	json_t *pairs = json_object_get(report, "pairs");
	for (size_t p = 0; rc == 0 && p < f->u->n_packages; p++) {
		const struct rp_package *pkg = &f->u->packages[p];
		if (!pkg->notify_webhook)
			continue;
		json_t *mine = json_array(), *pair;
		size_t i;
		char url[600];
		json_array_foreach(pairs, i, pair)
		{
			if (strcmp(json_string_value(json_object_get(pair, "package")), pkg->name) != 0 ||
			    strcmp(json_string_value(json_object_get(pair, "verdict")), "newly broken") != 0)
				continue;
			json_int_t job = json_integer_value(json_object_get(pair, "job"));
			snprintf(url, sizeof(url), "%s/#/jobs/%lld", base_url, (long long)job);
			json_array_append_new(mine, json_pack("{s:O, s:O, s:O, s:I, s:s, s:O, s:O}", "target",
							      json_object_get(pair, "target"), "status",
							      json_object_get(pair, "status"), "before",
							      json_object_get(pair, "before"), "job", job, "job_url", url,
							      "category", json_object_get(pair, "category"), "first_error",
							      json_object_get(pair, "first_error")));
		}
		json_t *my_drops = json_array(), *drop;
		json_array_foreach(json_object_get(report, "metric_drops"), i, drop)
		if (strcmp(json_string_value(json_object_get(drop, "package")), pkg->name) == 0)
			json_array_append(my_drops, drop);
		if (json_array_size(mine) == 0 && json_array_size(my_drops) == 0) {
			json_decref(mine);
			json_decref(my_drops);
			continue;
		}
		snprintf(url, sizeof(url), "%s/#/runs/%lld", base_url, (long long)run_id);
		json_t *payload = json_pack("{s:s, s:s, s:I, s:s, s:s, s:o, s:o}", "event", "nightly.newly_broken",
					    "universe", f->u->name, "run", (json_int_t)run_id, "run_url", url, "package",
					    pkg->name, "pairs", mine, "metric_drops", my_drops);
		char *text = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
		char delivery[200];
		snprintf(delivery, sizeof(delivery), "nightly-%lld-%s", (long long)run_id, pkg->name);
		struct store_notification nt = { .run_id = run_id,
						 .package = pkg->name,
						 .url = pkg->notify_webhook,
						 .payload = text,
						 .delivery = delivery };
		if (!text)
			rc = rp_error_set(err, RP_ENOMEM, "out of memory");
		else {
			write_lock(f);
			rc = store_notification_add(f->st, &nt, err);
			if (write_unlock(f, rc == 0 ? err : NULL) < 0 && rc == 0)
				rc = RP_EDB;
			if (rc == 0)
				(*n)++;
		}
		free(text);
		json_decref(payload);
	}
	json_decref(report);
	return rc;
}

/* ---- history -------------------------------------------------------------------- */

/* The last bytes of a job's log are where tests print their figures; this many are read. */
#define HISTORY_LOG_TAIL (4u << 20)

/* Reads the tail of the log of `job`'s attempt into a malloc'd buffer (lock held). */
static char *log_tail(struct farm *f, const struct store_job *job, size_t *len)
{
	int64_t size = 0;
	*len = 0;
	if (store_log_size(f->st, job->id, job->attempt, &size, NULL) < 0 || size <= 0)
		return NULL;
	size_t want = (size_t)size < HISTORY_LOG_TAIL ? (size_t)size : HISTORY_LOG_TAIL;
	char *buf = malloc(want + 1);
	size_t got = 0;
	if (!buf)
		return NULL;
	while (got < want) {
		size_t n = 0;
		if (store_log_read(f->st, job->id, job->attempt, size - (int64_t)want + (int64_t)got, buf + got, want - got,
				   &n, NULL) < 0 || n == 0)
			break;
		got += n;
	}
	buf[got] = 0;
	*len = got;
	return buf;
}

int farm_record_history(struct farm *f, int64_t run_id, size_t *drops, struct rp_error *err)
{
	struct store_job *jobs = NULL;
	size_t n = 0;
	*drops = 0;
	pthread_mutex_lock(&f->lock);
	int rc = store_jobs_list(f->st, run_id, &jobs, &n, err);
	pthread_mutex_unlock(&f->lock);
	if (rc < 0)
		return rc;
	double threshold = f->o.drop_threshold > 0 ? f->o.drop_threshold : 0.2;
	const struct store_history_limits *limits = f->o.history.daily ? &f->o.history : NULL;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		const struct store_job *j = &jobs[i];
		int coverage = strcmp(j->variant, "coverage") == 0;
		/* A fuzz job's times are its budget's, not the package's. */
		if (strcmp(j->variant, "fuzz") == 0)
			continue;
		if (j->cached || !j->has_status || (j->status != STORE_RESULT_PASS && j->status != STORE_RESULT_FAIL) ||
		    (coverage && j->status != STORE_RESULT_PASS))
			continue;
		struct store_history_sample samples[3 + HISTORY_METRICS_MAX];
		struct history_metrics *m = calloc(1, sizeof(*m));
		size_t ns = 0, len = 0;
		int64_t t = j->finished_ms;
		if (!m) {
			rc = rp_error_set(err, RP_ENOMEM, "out of memory");
			break;
		}
		/*
		 * A coverage job's figures are its metrics (a coverage build is slower by
		 * design: its times would only blur the package's own); a build's are its
		 * times, its output's size and what its log printed.
		 */
		if (coverage) {
			farm__coverage_metrics(f, j->build_key, m);
		} else {
			if (j->build_ms > 0)
				samples[ns++] = (struct store_history_sample){ j->package, j->target, HISTORY_BUILD_TIME,
									       "ms", (double)j->build_ms, t };
			if (j->test_ms > 0)
				samples[ns++] = (struct store_history_sample){ j->package, j->target, HISTORY_TEST_TIME,
									       "ms", (double)j->test_ms, t };
			pthread_mutex_lock(&f->lock);
			struct store_artifact a;
			if (j->build_key && store_artifact_get(f->st, j->build_key, "prefix", &a, NULL) == 0) {
				samples[ns++] = (struct store_history_sample){ j->package, j->target, HISTORY_ARTIFACT_SIZE,
									       "bytes", (double)a.size, t };
				store_artifact_release(&a);
			}
			char *log = log_tail(f, j, &len);
			pthread_mutex_unlock(&f->lock);
			if (log)
				history_parse_metrics(log, len, m);
			free(log);
		}
		for (size_t k = 0; k < m->n; k++) {
			const struct history_metric *hm = &m->items[k];
			struct store_history_series *series = NULL;
			size_t nseries = 0;
			struct history_drop drop = { 0 };
			samples[ns++] = (struct store_history_sample){ j->package, j->target, hm->name, hm->unit, hm->value, t };
			/* Against the days before this one: the check is made before the value joins them. */
			pthread_mutex_lock(&f->lock);
			int grc = store_history_get(f->st, j->package, j->target, hm->name, "day", &series, &nseries, NULL);
			pthread_mutex_unlock(&f->lock);
			if (grc == 0 && nseries == 1 &&
			    history_drop_check(series[0].points, series[0].npoints, hm->value, t, threshold,
					       history_direction_of(hm->name), &drop, NULL) == 0 &&
			    drop.dropped) {
				struct store_metric_drop d = { .run_id = run_id,
							       .job_id = j->id,
							       .package = j->package,
							       .target = j->target,
							       .metric = hm->name,
							       .unit = hm->unit,
							       .value = hm->value,
							       .baseline = drop.baseline,
							       .change = drop.change };
				write_lock(f);
				rc = store_metric_drop_add(f->st, &d, err);
				if (write_unlock(f, rc == 0 ? err : NULL) < 0 && rc == 0)
					rc = RP_EDB;
				if (rc == 0)
					(*drops)++;
			}
			store_history_series_free(series, nseries);
		}
		if (rc == 0 && ns) {
			write_lock(f);
			rc = store_history_record(f->st, samples, ns, limits, err);
			if (write_unlock(f, rc == 0 ? err : NULL) < 0 && rc == 0)
				rc = RP_EDB;
		}
		free(m); /* after the record: the samples point into it */
	}
	store_jobs_free(jobs, n);
	return rc;
}

int farm_history_json(struct farm *f, const char *package, const char *target, const char *metric,
		      const char *resolution, json_t **out, struct rp_error *err)
{
	struct store_history_series *series = NULL;
	size_t n = 0;
	if (manifest_find_package(f->u, package) < 0)
		return rp_error_set(err, RP_ENOTFOUND, "no package %s in universe %s", package, f->u->name);
	if (strcmp(resolution, "day") != 0 && strcmp(resolution, "week") != 0 && strcmp(resolution, "month") != 0)
		return rp_error_set(err, RP_EINVAL, "query \"resolution\": expected day, week or month");
	pthread_mutex_lock(&f->lock);
	int rc = store_history_get(f->st, package, target, metric, resolution, &series, &n, err);
	pthread_mutex_unlock(&f->lock);
	if (rc < 0)
		return rc;
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *points = json_array();
		for (size_t k = 0; k < series[i].npoints; k++) {
			const struct store_history_point *p = &series[i].points[k];
			json_array_append_new(points, json_pack("{s:I, s:I, s:f, s:f, s:f}", "t", (json_int_t)p->start_ms, "n",
								(json_int_t)p->n, "min", p->min, "avg", p->avg, "max", p->max));
		}
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:o}", "target", series[i].target, "metric",
						     series[i].metric, "unit", series[i].unit, "points", points));
	}
	store_history_series_free(series, n);
	*out = json_pack("{s:s, s:s, s:o}", "package", package, "resolution", resolution, "series", arr);
	return *out ? 0 : rp_error_set(err, RP_ENOMEM, "out of memory");
}

int farm_flakiness_json(struct farm *f, json_t **out, struct rp_error *err)
{
	struct store_flakiness *fl = NULL;
	size_t n = 0;
	pthread_mutex_lock(&f->lock);
	int rc = store_flakiness(f->st, &fl, &n, err);
	pthread_mutex_unlock(&f->lock);
	if (rc < 0)
		return rc;
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:f}", "package", fl[i].package,
						     "target", fl[i].target, "test", fl[i].test, "keys", (json_int_t)fl[i].keys, "flaky_keys",
						     (json_int_t)fl[i].flaky_keys, "runs", (json_int_t)fl[i].runs, "failures",
						     (json_int_t)fl[i].failures,
						     "score", fl[i].keys ? (double)fl[i].flaky_keys / (double)fl[i].keys : 0.0));
	store_flakiness_free(fl, n);
	*out = json_pack("{s:o}", "pairs", arr);
	return *out ? 0 : rp_error_set(err, RP_ENOMEM, "out of memory");
}

/* ---- for the scheduler's other files (farm-internal.h) ------------------------------ */

void farm__write_lock(struct farm *f)
{
	write_lock(f);
}

int farm__write_unlock(struct farm *f, struct rp_error *err)
{
	return write_unlock(f, err);
}

void farm__jobs_added(struct farm *f)
{
	struct rp_error adv;
	advance(f, &adv);
	wake(f);
}

int64_t farm__now_ms(void)
{
	return now_ms();
}

char *farm__log_tail(struct farm *f, const struct store_job *job, size_t *len)
{
	return log_tail(f, job, len);
}
