/*
 * autobisect.c — the farm's bisect driver (autobisect.h).
 *
 * Each pass re-derives every unfinished bisection from the store: its pins
 * from its two runs, the suspects from the pins, each probe's answer from the
 * run that carries the probe's request id, and the search's state by feeding
 * the search (bisect/search.c) the same answers in the same order. A probe
 * missing from the store is submitted and the pass moves on; the next pass
 * finds it again. Writes are few (a submit, flake checks, a progress line, the
 * end), so replaying costs a handful of indexed reads per probe.
 */
#include "autobisect.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bisect/bisect.h"
#include "core/store.h"
#include "runner/git.h"
#include "scheduler/farm-internal.h"
#include "core/banned.h"

#define PASS_MS 1000
/* Ranges kept in memory: one per repository being bisected. */
#define RANGE_CACHE 16
/* Lines of the culprit's log kept in its excerpt. */
#define EXCERPT_LINES 25

struct cached_range {
	int64_t bisect_id;
	char repo_key[128]; /* the repository's first package and the two commits */
	struct bisect_range r;
	uint64_t used;
};

struct autobisect {
	struct autobisect_options o;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int stop;
	struct cached_range ranges[RANGE_CACHE];
	uint64_t clock;
	char last_said[RP_ERROR_MAX]; /* the last passing trouble said, so it is said once */
};

static void say(struct autobisect *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct autobisect *a, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	if (!a->o.on_line)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	a->o.on_line(line, a->o.data);
}

/* ---- one bisection's view of the store ----------------------------------------- */

/* A repository that changed between the good and the bad pins, among the package's dependencies. */
struct unit {
	const char *repo;
	size_t pkgs[64]; /* its packages in the closure, the first one names it */
	size_t npkgs;
	char good[41], bad[41];
	enum bisect_answer alone;
	int alone_known;
	json_t *doc;
};

struct step {
	struct autobisect *a;
	struct farm *f;
	struct store_bisect b;
	struct store_run run, good;
	const char **good_pin, **bad_pin; /* by package index; NULL outside the closure */
	unsigned char *in_closure;
	size_t pkg, target;
	struct unit *units;
	size_t nunits;
	int pending;	/* some probe has no answer yet */
	int64_t probes; /* answers fed so far */
	int64_t rounds;
	json_t *detail;
	struct rp_error err; /* the first error that ends the bisection */
	int failed;	     /* its RP_E* code, 0 while none */
};

static const char *answer_name(enum bisect_answer a)
{
	return a == BISECT_GOOD ? "good" : a == BISECT_BAD ? "bad" : "skip";
}

/*
 * A crash's replay (a bisection with a crash_id) is bad when it crashed with
 * the signature (the worker's verdict: a fail of category "fuzz") and good
 * when it did not; a commit whose fuzz build or target fails, or that hangs,
 * cannot answer.
 */
static enum bisect_answer answer_of_job(const struct store_bisect *b, const struct store_job *j);

static enum bisect_answer answer_of(enum store_result_status s)
{
	if (s == STORE_RESULT_PASS)
		return BISECT_GOOD;
	if (s == STORE_RESULT_FAIL || s == STORE_RESULT_TIMEOUT)
		return BISECT_BAD;
	return BISECT_SKIP; /* skipped (a dependency did not build), an infrastructure error, cancelled */
}

static enum bisect_answer answer_of_job(const struct store_bisect *b, const struct store_job *j)
{
	if (!b->crash_id)
		return answer_of(j->status);
	/* The build engine's crash verdict is category "fuzz"; any other failure or a timeout tells nothing. */
	if (j->status == STORE_RESULT_PASS)
		return BISECT_GOOD;
	if (j->status == STORE_RESULT_FAIL && j->failed_step && strcmp(j->failed_step, "test") == 0 && j->category &&
	    strcmp(j->category, "fuzz") == 0)
		return BISECT_BAD;
	return BISECT_SKIP;
}

static int fail(struct step *s, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct step *s, int code, const char *fmt, ...)
{
	va_list ap;
	if (!s->failed) {
		va_start(ap, fmt);
		vsnprintf(s->err.msg, sizeof(s->err.msg), fmt, ap);
		va_end(ap);
		s->failed = code;
	}
	return code;
}

/* Submits the probe run `label` (changes on the good pins); it is found again by its request id. */
static int submit_probe(struct step *s, const char *request_id, const char *label, const struct unit *u,
			const char *commit)
{
	const struct rp_universe *un = s->f->u;
	json_t *pins = json_array(), *changes = json_array();
	for (size_t p = 0; p < un->n_packages; p++)
		if (s->in_closure[p] && s->good_pin[p])
			json_array_append_new(pins, json_pack("{s:s, s:s}", "package", un->packages[p].name,
							      "rev", s->good_pin[p]));
	for (size_t k = 0; u && k < u->npkgs; k++)
		json_array_append_new(changes,
				      json_pack("{s:s, s:s}", "package", un->packages[u->pkgs[k]].name, "rev",
						commit ? commit : s->bad_pin[u->pkgs[k]]));
	char title[300], ref[64];
	snprintf(title, sizeof(title), "bisect %" PRId64 ": %s on %s, %s", s->b.id, s->b.package, s->b.target,
		 label);
	snprintf(ref, sizeof(ref), "bisect:%" PRId64, s->b.id);
	json_t *req = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:[s], s:[s]}", "kind", "bisect", "title",
				title, "change_ref", ref, "request_id", request_id, "pins", pins, "changes",
				changes, "targets", s->b.target, "packages", s->b.package);
	if (!req)
		return fail(s, RP_ENOMEM, "out of memory");
	/* A crash's probe replays its reproducer instead of building and testing the package. */
	if (s->b.crash_id)
		json_object_set_new(req, "fuzz_crash", json_integer(s->b.crash_id));
	int64_t run;
	size_t njobs;
	int created;
	struct rp_error e;
	int rc = farm_submit(s->f, req, &run, &njobs, &created, &e);
	json_decref(req);
	if (rc < 0)
		return fail(s, rc, "probe %s: %s", label, e.msg);
	if (created)
		say(s->a, "bisect %" PRId64 ": probe %s is run %" PRId64, s->b.id, label, run);
	return 0;
}

/*
 * The `nth` answer (from 0) of the probe `label`: 1 with *ans (and the job
 * that gave it) when known, 0 while it runs (the probe or its flake check is
 * submitted when missing), < 0 on an error that ends the bisection. The first
 * answer is the probe run's job of the package; later ones are flake checks
 * of that job, which never come from the cache.
 */
static int probe_answer(struct step *s, const char *label, const struct unit *u, const char *commit,
			unsigned nth, enum bisect_answer *ans, int64_t *job_id, int64_t *run_id)
{
	char request_id[200];
	struct rp_error e;
	struct farm *f = s->f;
	snprintf(request_id, sizeof(request_id), "bisect:%" PRId64 ":%s", s->b.id, label);
	pthread_mutex_lock(&f->lock);
	int rc = store_run_find_request(f->st, request_id, run_id, &e);
	pthread_mutex_unlock(&f->lock);
	if (rc == RP_ENOTFOUND) {
		if (submit_probe(s, request_id, label, u, commit) < 0)
			return -1;
		s->pending = 1;
		return 0;
	}
	if (rc < 0)
		return fail(s, rc, "%s", e.msg);
	struct store_job job, *jobs = NULL;
	size_t njobs = 0;
	pthread_mutex_lock(&f->lock);
	rc = store_job_find_replay(f->st, *run_id, s->b.package, s->b.target, s->b.crash_id, &job, &e);
	if (rc == 0 && nth > 0 && job.has_status)
		rc = store_jobs_list(f->st, *run_id, &jobs, &njobs, &e);
	pthread_mutex_unlock(&f->lock);
	if (rc < 0) {
		store_job_release(&job);
		return fail(s, rc, "probe %s: %s", label, e.msg);
	}
	int got = 0;
	if (!job.has_status) {
		s->pending = 1;
	} else if (nth == 0) {
		*ans = answer_of_job(&s->b, &job);
		*job_id = job.id;
		got = 1;
	} else if (!job.build_key) { /* never built (a dependency failed): no check can run it again */
		*ans = BISECT_SKIP;
		*job_id = job.id;
		got = 1;
	} else {
		unsigned seen = 0;
		const struct store_job *check = NULL;
		for (size_t i = 0; i < njobs && !check; i++)
			if (jobs[i].rerun_of == job.id && ++seen == nth)
				check = &jobs[i];
		if (check && check->has_status) {
			*ans = answer_of_job(&s->b, check);
			*job_id = check->id;
			got = 1;
		} else if (!check) {
			farm__write_lock(f);
			rc = store_job_reruns_add(f->st, *run_id, job.id, (int)(nth - seen), farm__now_ms(),
						  NULL, &e);
			if (rc == 0)
				farm__jobs_added(f);
			if (farm__write_unlock(f, rc == 0 ? &e : NULL) < 0 && rc == 0)
				rc = RP_EDB;
			if (rc < 0)
				fail(s, rc, "flake check of probe %s: %s", label, e.msg);
			s->pending = 1;
		} else {
			s->pending = 1;
		}
	}
	store_jobs_free(jobs, njobs);
	store_job_release(&job);
	return s->failed ? -1 : got;
}

/* ---- the ranges, from the mirrors ------------------------------------------------- */

static const struct bisect_range *range_of(struct step *s, const struct unit *u)
{
	struct autobisect *a = s->a;
	char key[128];
	snprintf(key, sizeof(key), "%zu:%.12s:%.12s", u->pkgs[0], u->good, u->bad);
	size_t victim = 0;
	for (size_t i = 0; i < RANGE_CACHE; i++) {
		if (a->ranges[i].bisect_id == s->b.id && strcmp(a->ranges[i].repo_key, key) == 0) {
			a->ranges[i].used = ++a->clock;
			return &a->ranges[i].r;
		}
		if (a->ranges[i].used < a->ranges[victim].used)
			victim = i;
	}
	struct mirror *m = NULL;
	struct rp_error e;
	git_oid good, bad;
	struct bisect_range r;
	int rc = mirror_open(s->f->mirrors_dir, u->repo, s->f->u->dir, &m, &e);
	if (rc == 0 && (git_oid_fromstr(&good, u->good) < 0 || git_oid_fromstr(&bad, u->bad) < 0))
		rc = rp_error_set(&e, RP_ENOTFOUND, "bad commit ids %s, %s", u->good, u->bad);
	if (rc == 0)
		rc = bisect_range_build(mirror_repository(m), &bad, &good, 1, 0, &r, &e);
	mirror_close(m);
	if (rc == RP_EINVAL) { /* nothing after good leads to bad: bad is good or one of its ancestors */
		fail(s, rc, "%s went back from %.12s to %.12s: its change only takes commits away, none to blame",
		     s->f->u->packages[u->pkgs[0]].name, u->good, u->bad);
		return NULL;
	}
	if (rc < 0) {
		fail(s, rc, "the history of %s from %.12s to %.12s: %s", s->f->u->packages[u->pkgs[0]].name,
		     u->good, u->bad, e.msg);
		return NULL;
	}
	bisect_range_release(&a->ranges[victim].r);
	a->ranges[victim].r = r;
	a->ranges[victim].bisect_id = s->b.id;
	snprintf(a->ranges[victim].repo_key, sizeof(a->ranges[victim].repo_key), "%s", key);
	a->ranges[victim].used = ++a->clock;
	return &a->ranges[victim].r;
}

static void ranges_drop(struct autobisect *a, int64_t bisect_id)
{
	for (size_t i = 0; i < RANGE_CACHE; i++)
		if (a->ranges[i].bisect_id == bisect_id) {
			bisect_range_release(&a->ranges[i].r);
			memset(&a->ranges[i], 0, sizeof(a->ranges[i]));
		}
}

/* ---- the search inside one repository --------------------------------------------- */

struct unit_result {
	enum bisect_verdict verdict;
	int done;
	char culprit[41], parent[41];
	unsigned culprit_runs, culprit_bad, parent_runs, parent_bad;
	int64_t culprit_job; /* a job that showed the culprit failing, preferably one that ran */
	json_t *suspects;
	size_t range_size;
};

/* Replays the search of unit `u` from the answers in the store; *res->done once it concluded. */
static int search_unit(struct step *s, struct unit *u, struct unit_result *res)
{
	memset(res, 0, sizeof(*res));
	const struct bisect_range *r = range_of(s, u);
	if (!r)
		return -1;
	res->range_size = r->range_size;
	unsigned flaky = s->a->o.flaky_runs ? s->a->o.flaky_runs : 3;
	struct bisect_search_config cfg = {.k = s->a->o.probes_per_round ? s->a->o.probes_per_round : 4,
					   .noise = 0,
					   .retries = flaky > 1 ? flaky - 1 : 0};
	struct bisect_search *search = NULL;
	struct rp_error e;
	int rc = bisect_search_new(r->n, r->parent_start, r->parents, r->known_good, &cfg, &search, &e);
	if (rc < 0)
		return fail(s, rc, "bisect %" PRId64 ": %s", s->b.id, e.msg);
	unsigned *used = calloc(r->n, sizeof(*used));
	int64_t *bad_job = calloc(r->n, sizeof(*bad_job));
	uint32_t probes[64];
	json_t *list = json_array();
	json_object_set_new(u->doc, "probes", list);
	json_object_set_new(u->doc, "range", json_integer((json_int_t)r->range_size));
	if (!used || !bad_job) {
		free(used);
		free(bad_job);
		bisect_search_free(search);
		return fail(s, RP_ENOMEM, "out of memory");
	}
	enum bisect_verdict v;
	size_t count;
	unsigned round = 0;
	while ((v = bisect_search_next(search, probes, sizeof(probes) / sizeof(probes[0]), &count)) ==
	       BISECT_RUNNING) {
		int waiting = 0;
		round++;
		for (size_t i = 0; i < count; i++) {
			uint32_t c = probes[i];
			char hex[41], label[160];
			git_oid_tostr(hex, sizeof(hex), &r->ids[c]);
			snprintf(label, sizeof(label), "%s@%s", s->f->u->packages[u->pkgs[0]].name, hex);
			enum bisect_answer ans;
			int64_t job = 0, run = 0;
			int got = probe_answer(s, label, u, hex, used[c]++, &ans, &job, &run);
			if (got < 0)
				goto out;
			json_t *p =
			    json_pack("{s:s, s:i, s:I, s:o, s:o}", "commit", hex, "round", round, "run",
				      (json_int_t)run, "job", job ? json_integer(job) : json_null(), "answer",
				      got ? json_string(answer_name(ans)) : json_null());
			json_array_append_new(list, p);
			if (!got) {
				waiting = 1;
				continue;
			}
			s->probes++;
			bisect_search_answer(search, c, ans);
			if (ans == BISECT_BAD) /* the last one: a flake check ran for real, with a log */
				bad_job[c] = job;
		}
		if (waiting)
			goto out; /* the round is not complete: the search may not go on */
		s->rounds++;
	}
	struct bisect_search_result sr;
	bisect_search_result(search, &sr);
	res->done = 1;
	res->verdict = sr.verdict;
	if (sr.culprit >= 0 || sr.suspect >= 0) {
		int64_t c = sr.culprit >= 0 ? sr.culprit : sr.suspect;
		git_oid_tostr(res->culprit, sizeof(res->culprit), &r->ids[c]);
		bisect_search_counts(search, (uint32_t)c, &res->culprit_runs, &res->culprit_bad);
		res->culprit_job = bad_job[c];
		if (sr.parent >= 0) {
			git_oid_tostr(res->parent, sizeof(res->parent), &r->ids[sr.parent]);
			bisect_search_counts(search, (uint32_t)sr.parent, &res->parent_runs,
					     &res->parent_bad);
		}
	}
	res->suspects = json_array();
	for (size_t k = 0; k < sr.n_suspects; k++) {
		char hex[41];
		git_oid_tostr(hex, sizeof(hex), &r->ids[sr.suspects[k]]);
		json_array_append_new(res->suspects, json_string(hex));
	}
out:
	free(used);
	free(bad_job);
	bisect_search_free(search);
	return s->failed ? -1 : 0;
}

/* ---- the end of a bisection -------------------------------------------------------- */

/* The failure of the culprit's job: its first error line and the end of its log. */
static char *excerpt_of(struct farm *f, int64_t job_id)
{
	struct store_job job;
	struct rp_error e;
	size_t len = 0;
	char *tail = NULL, *out = NULL;
	pthread_mutex_lock(&f->lock);
	int rc = store_job_get(f->st, job_id, &job, &e);
	if (rc == 0)
		tail = farm__log_tail(f, &job, &len);
	pthread_mutex_unlock(&f->lock);
	if (rc < 0)
		return NULL;
	const char *from = tail;
	if (tail) { /* the last EXCERPT_LINES lines */
		int lines = 0;
		for (size_t i = len; i-- > 0;)
			if (tail[i] == '\n' && i + 1 < len && ++lines == EXCERPT_LINES) {
				from = tail + i + 1;
				break;
			}
	}
	size_t cap = (job.first_error ? strlen(job.first_error) : 0) + (from ? strlen(from) : 0) + 64;
	if ((out = malloc(cap)))
		snprintf(out, cap, "%s%s%s", job.first_error ? job.first_error : "",
			 job.first_error && from ? "\n\n" : "", from ? from : "");
	free(tail);
	store_job_release(&job);
	return out;
}

static int finish(struct step *s, struct store_bisect *r)
{
	struct farm *f = s->f;
	struct rp_error e;
	char *detail = json_dumps(s->detail, JSON_COMPACT);
	r->detail = detail;
	r->probes = s->probes;
	r->rounds = s->rounds;
	farm__write_lock(f);
	int rc = store_bisect_finish(f->st, s->b.id, r, farm__now_ms(), &e);
	if (rc == 0 && s->run.kind == STORE_RUN_PR)
		rc = store_report_reopen(f->st, s->run.id, &e);
	if (farm__write_unlock(f, rc == 0 ? &e : NULL) < 0 && rc == 0)
		rc = RP_EDB;
	free(detail);
	if (rc < 0) {
		say(s->a, "bisect %" PRId64 ": cannot record its end: %s", s->b.id, e.msg);
		return rc;
	}
	say(s->a, "bisect %" PRId64 " (%s on %s): %s", s->b.id, s->b.package, s->b.target,
	    r->summary ? r->summary : r->verdict);
	ranges_drop(s->a, s->b.id);
	return 0;
}

static int finish_plain(struct step *s, const char *verdict, const char *summary)
{
	struct store_bisect r = {.verdict = verdict, .summary = summary};
	return finish(s, &r);
}

/* Ends the bisection with what the searches of the suspects found. */
static int finish_units(struct step *s, struct unit **bad, struct unit_result *res, size_t nbad)
{
	struct farm *f = s->f;
	char summary[1200] = "", author[300] = "", subject[500] = "";
	struct store_bisect r = {0};
	size_t best = nbad;
	for (size_t i = 0; i < nbad && best == nbad; i++)
		if (res[i].verdict == BISECT_CULPRIT)
			best = i;
	if (best == nbad) { /* no culprit anywhere: say the first suspect's verdict */
		const struct unit_result *x = &res[0];
		const char *name = f->u->packages[bad[0]->pkgs[0]].name;
		if (x->verdict == BISECT_ONLY_SKIPPED) {
			size_t i;
			json_t *h;
			int len = snprintf(
			    summary, sizeof(summary),
			    "only commits that could not be tested separate good from bad in %s:", name);
			json_array_foreach(x->suspects, i, h) if (len > 0 && (size_t)len < sizeof(summary))
			    len += snprintf(summary + len, sizeof(summary) - (size_t)len, " %.12s",
					    json_string_value(h));
			r.verdict = "only-skipped";
		} else {
			snprintf(summary, sizeof(summary),
				 "flaky: in %s the suspect %.12s failed %u of %u runs and its parent %u of "
				 "%u; no culprit can be named",
				 name, x->culprit, x->culprit_bad, x->culprit_runs, x->parent_bad,
				 x->parent_runs);
			r.verdict = "flaky";
		}
		r.repository = name;
		r.culprit = NULL;
		r.summary = summary;
		return finish(s, &r);
	}
	const struct unit *u = bad[best];
	const struct unit_result *x = &res[best];
	const char *name = f->u->packages[u->pkgs[0]].name;
	struct mirror *m = NULL;
	struct mirror_commit_info info = {0};
	struct rp_error e;
	git_oid id;
	int have_info = mirror_open(f->mirrors_dir, u->repo, f->u->dir, &m, &e) == 0 &&
			git_oid_fromstr(&id, x->culprit) == 0 && mirror_commit_info(m, &id, &info, &e) == 0;
	mirror_close(m);
	if (have_info) {
		snprintf(author, sizeof(author), "%s <%s>", info.author_name ? info.author_name : "",
			 info.author_email ? info.author_email : "");
		snprintf(subject, sizeof(subject), "%s", info.subject ? info.subject : "");
		r.author = author;
		r.subject = subject;
		r.author_time = info.author_time;
	}
	int len =
	    snprintf(summary, sizeof(summary),
		     "first bad commit: %s %.12s \"%s\"%s%s (failed %u of %u runs, its parent %u of %u)",
		     name, x->culprit, subject, have_info ? " by " : "", have_info ? info.author_name : "",
		     x->culprit_bad, x->culprit_runs, x->parent_bad, x->parent_runs);
	for (size_t i = 0; i < nbad; i++)
		if (i != best && res[i].verdict == BISECT_CULPRIT && len > 0 && (size_t)len < sizeof(summary))
			len += snprintf(summary + len, sizeof(summary) - (size_t)len, "; also %s %.12s",
					f->u->packages[bad[i]->pkgs[0]].name, res[i].culprit);
	mirror_commit_info_release(&info);
	r.verdict = "culprit";
	r.repository = name;
	r.culprit = x->culprit;
	r.parent = x->parent[0] ? x->parent : NULL;
	r.summary = summary;
	r.culprit_job = x->culprit_job;
	char *excerpt = x->culprit_job ? excerpt_of(f, x->culprit_job) : NULL;
	r.excerpt = excerpt;
	int rc = finish(s, &r);
	free(excerpt);
	return rc;
}

/* ---- one step of one bisection ----------------------------------------------------- */

static const char *pin_of(const struct store_run *run, const char *package)
{
	for (size_t i = 0; i < run->nbaseline; i++)
		if (strcmp(run->baseline[i].package, package) == 0)
			return run->baseline[i].commit;
	return NULL;
}

/* Loads the runs, the pins and the suspects; 1 when the bisection can go on, 0 when it ended here. */
static int load(struct step *s)
{
	struct farm *f = s->f;
	const struct rp_universe *u = f->u;
	struct rp_error e;
	long p = manifest_find_package(u, s->b.package), t = manifest_find_target(u, s->b.target);
	if (p < 0 || t < 0)
		return finish_plain(s, "error", "the package or target is no longer in the universe"), 0;
	s->pkg = (size_t)p;
	s->target = (size_t)t;
	pthread_mutex_lock(&f->lock);
	int rc = store_run_get(f->st, s->b.run_id, &s->run, &e);
	int rc2 = s->b.good_run_id ? store_run_get(f->st, s->b.good_run_id, &s->good, &e) : RP_ENOTFOUND;
	pthread_mutex_unlock(&f->lock);
	if (rc < 0)
		return fail(s, rc, "%s", e.msg), -1;
	if (rc2 < 0)
		return finish_plain(s, "error", "the nightly it is compared with is gone"), 0;
	s->good_pin = calloc(u->n_packages, sizeof(*s->good_pin));
	s->bad_pin = calloc(u->n_packages, sizeof(*s->bad_pin));
	s->in_closure = calloc(u->n_packages, 1);
	s->units = calloc(u->n_packages, sizeof(*s->units));
	size_t *stack = calloc(u->n_packages + 1, sizeof(*stack)), top = 0;
	if (!s->good_pin || !s->bad_pin || !s->in_closure || !s->units || !stack) {
		free(stack);
		return fail(s, RP_ENOMEM, "out of memory"), -1;
	}
	/* The package and everything it needs. */
	s->in_closure[p] = 1;
	stack[top++] = (size_t)p;
	while (top) {
		const struct rp_package *pk = &u->packages[stack[--top]];
		for (size_t d = 0; d < pk->n_depends; d++)
			if (!s->in_closure[pk->depends[d]]) {
				s->in_closure[pk->depends[d]] = 1;
				stack[top++] = pk->depends[d];
			}
	}
	free(stack);
	for (size_t q = 0; q < u->n_packages; q++) {
		if (!s->in_closure[q])
			continue;
		const char *name = u->packages[q].name;
		s->bad_pin[q] = pin_of(&s->run, name);
		s->good_pin[q] = pin_of(&s->good, name);
		if (s->run.kind ==
		    STORE_RUN_PR) { /* the pull request's own pins, its changes at the nightly's */
			int changed = 0;
			for (size_t c = 0; c < s->run.nchange; c++)
				changed |= strcmp(s->run.change[c].package, name) == 0;
			if (!changed)
				s->good_pin[q] = s->bad_pin[q];
		}
		if (!s->bad_pin[q])
			return finish_plain(s, "error", "the broken run has no commit of a package it needs"),
			       0;
		if (!s->good_pin[q])
			s->good_pin[q] = s->bad_pin[q]; /* new since the nightly: nothing to compare */
	}
	/* The suspects: repositories with a package whose commit moved, deepest dependency first. */
	size_t *order = malloc(u->n_packages * sizeof(*order));
	long n_order = order ? graph_topo_order(&f->g, NULL, order) : -1;
	for (long k = 0; k < n_order; k++) {
		size_t q = order[k];
		if (!s->in_closure[q] || strcmp(s->good_pin[q], s->bad_pin[q]) == 0)
			continue;
		size_t i;
		for (i = 0; i < s->nunits; i++)
			if (strcmp(s->units[i].repo, u->packages[q].repo) == 0)
				break;
		struct unit *un = &s->units[i];
		if (i == s->nunits) {
			s->nunits++;
			un->repo = u->packages[q].repo;
			snprintf(un->good, sizeof(un->good), "%s", s->good_pin[q]);
			snprintf(un->bad, sizeof(un->bad), "%s", s->bad_pin[q]);
		}
		if (un->npkgs < sizeof(un->pkgs) / sizeof(un->pkgs[0]))
			un->pkgs[un->npkgs++] = q;
	}
	free(order);
	if (n_order < 0)
		return fail(s, RP_ENOMEM, "cannot order the universe"), -1;
	return 1;
}

static void step_release(struct step *s)
{
	for (size_t i = 0; i < s->nunits; i++)
		json_decref(s->units[i].doc);
	free(s->units);
	free(s->good_pin);
	free(s->bad_pin);
	free(s->in_closure);
	store_run_release(&s->run);
	store_run_release(&s->good);
	store_bisect_release(&s->b);
	json_decref(s->detail);
}

static void step_one(struct autobisect *a, int64_t id)
{
	struct step s = {.a = a, .f = a->o.farm};
	struct farm *f = s.f;
	struct rp_error e;
	pthread_mutex_lock(&f->lock);
	int rc = store_bisect_get(f->st, id, &s.b, &e);
	pthread_mutex_unlock(&f->lock);
	if (rc < 0 || s.b.done) {
		store_bisect_release(&s.b);
		return;
	}
	s.detail =
	    json_pack("{s:I, s:I}", "run", (json_int_t)s.b.run_id, "good_run", (json_int_t)s.b.good_run_id);
	if ((rc = load(&s)) <= 0)
		goto out;
	if (s.nunits == 0) {
		char summary[300];
		snprintf(summary, sizeof(summary),
			 "nothing %s needs changed between run %" PRId64 " and run %" PRId64
			 ": the failure comes from elsewhere (the machines, a toolchain) or is flaky",
			 s.b.package, s.b.good_run_id, s.b.run_id);
		finish_plain(&s, "unchanged", summary);
		goto out;
	}
	/* The good pins as they are, and each suspect's new commit alone on them: all at once. */
	enum bisect_answer base = BISECT_SKIP;
	int64_t job = 0, run = 0;
	int got = probe_answer(&s, "base", NULL, NULL, 0, &base, &job, &run);
	if (got < 0)
		goto out;
	json_object_set_new(s.detail, "base",
			    json_pack("{s:I, s:o}", "run", (json_int_t)run, "answer",
				      got ? json_string(answer_name(base)) : json_null()));
	if (got)
		s.probes++;
	json_t *units = json_array();
	json_object_set_new(s.detail, "repositories", units);
	for (size_t i = 0; i < s.nunits; i++) {
		struct unit *u = &s.units[i];
		char label[160];
		const char *name = f->u->packages[u->pkgs[0]].name;
		snprintf(label, sizeof(label), "alone:%s", name);
		int g = probe_answer(&s, label, u, NULL, 0, &u->alone, &job, &run);
		if (g < 0)
			goto out;
		u->alone_known = g;
		s.probes += g;
		json_t *pk = json_array();
		for (size_t k = 0; k < u->npkgs; k++)
			json_array_append_new(pk, json_string(f->u->packages[u->pkgs[k]].name));
		u->doc = json_pack("{s:s, s:o, s:s, s:s, s:I, s:o}", "package", name, "packages", pk, "good",
				   u->good, "bad", u->bad, "alone_run", (json_int_t)run, "alone",
				   g ? json_string(answer_name(u->alone)) : json_null());
		json_array_append(units, u->doc);
	}
	if (s.pending)
		goto progress;
	if (base != BISECT_GOOD) {
		finish_plain(&s, base == BISECT_BAD ? "not-reproduced" : "error",
			     base == BISECT_BAD ? (s.b.crash_id ? "the reproducer crashes at the good pins too: the crash "
								 "is older than the nightly it is compared with"
								: "it fails at the good pins too: the failure is not from "
								  "these changes (flaky, or the machines changed)")
						: "the good pins could not be built or tested again");
		goto out;
	}
	struct unit *bad[64];
	size_t nbad = 0;
	for (size_t i = 0; i < s.nunits && nbad < 64; i++)
		if (s.units[i].alone == BISECT_BAD)
			bad[nbad++] = &s.units[i];
	if (nbad == 0) {
		char summary[1000];
		int len;
		if (s.nunits == 1) {
			snprintf(
			    summary, sizeof(summary),
			    "the change of %s alone does not make it fail again: not reproduced (flaky?)",
			    f->u->packages[s.units[0].pkgs[0]].name);
			finish_plain(&s, "not-reproduced", summary);
			goto out;
		}
		len = snprintf(summary, sizeof(summary), "interaction between");
		for (size_t i = 0; i < s.nunits && len > 0 && (size_t)len < sizeof(summary); i++)
			len += snprintf(summary + len, sizeof(summary) - (size_t)len, "%s %s",
					i == 0		    ? ""
					: i + 1 == s.nunits ? " and"
							    : ",",
					f->u->packages[s.units[i].pkgs[0]].name);
		if (len > 0 && (size_t)len < sizeof(summary))
			snprintf(summary + len, sizeof(summary) - (size_t)len,
				 ": each change alone passes, together they fail");
		finish_plain(&s, "interaction", summary);
		goto out;
	}
	/* Inside each repository whose change alone breaks it. */
	struct unit_result res[64];
	size_t searched = 0;
	int all_done = 1;
	for (size_t i = 0; i < nbad; i++, searched++) {
		if (search_unit(&s, bad[i], &res[i]) < 0) {
			searched++;
			goto release_results;
		}
		all_done &= res[i].done;
		if (res[i].done) {
			json_object_set_new(bad[i]->doc, "verdict",
					    json_string(bisect_verdict_name(res[i].verdict)));
			json_object_set_new(bad[i]->doc, "culprit",
					    res[i].culprit[0] ? json_string(res[i].culprit) : json_null());
			json_object_set_new(bad[i]->doc, "suspects", json_incref(res[i].suspects));
		}
	}
	if (all_done)
		finish_units(&s, bad, res, nbad);
release_results:
	for (size_t i = 0; i < searched; i++)
		json_decref(res[i].suspects);
	if (all_done || s.failed)
		goto out;
progress:;
	/* Written when it moved: a pass whose probes all still run writes nothing. */
	char *detail = json_dumps(s.detail, JSON_COMPACT);
	if (detail && (s.probes != s.b.probes || s.rounds != s.b.rounds || !s.b.detail || strcmp(detail, s.b.detail) != 0)) {
		farm__write_lock(f);
		rc = store_bisect_progress(f->st, s.b.id, s.probes, s.rounds, detail, &e);
		farm__write_unlock(f, NULL);
	}
	free(detail);
out:
	if (s.failed == RP_EDB || s.failed == RP_EIO || s.failed == RP_ENOMEM ||
	    s.failed == RP_EUNREACHABLE) {
		/* May pass: the next pass tries again; said once while it lasts. */
		if (strcmp(a->last_said, s.err.msg) != 0) {
			say(a, "bisect %" PRId64 ": %s; will try again", id, s.err.msg);
			snprintf(a->last_said, sizeof(a->last_said), "%s", s.err.msg);
		}
	} else if (s.failed) {
		char summary[RP_ERROR_MAX + 32];
		snprintf(summary, sizeof(summary), "stopped: %s", s.err.msg);
		s.failed = 0;
		finish_plain(&s, "error", summary);
	}
	step_release(&s);
}

/* ---- planning ---------------------------------------------------------------------- */

/* The pairs of run `run_id` to bisect, from its report: newly broken (nightly) or regressed (pull request).
 */
static void plan_run(struct autobisect *a, int64_t run_id)
{
	struct farm *f = a->o.farm;
	struct rp_error e;
	json_t *rep = NULL;
	struct store_bisect_spec specs[64];
	size_t n = 0, max = a->o.max_per_run ? a->o.max_per_run : 20;
	if (max > sizeof(specs) / sizeof(specs[0]))
		max = sizeof(specs) / sizeof(specs[0]);
	if (farm_run_report(f, run_id, &rep, &e) < 0) {
		say(a, "run %" PRId64 ": no bisection planned: %s", run_id, e.msg);
		return;
	}
	int64_t against = json_integer_value(json_object_get(rep, "against"));
	const char *state = json_string_value(json_object_get(rep, "state"));
	size_t i;
	json_t *p;
	if (against > 0 && state && strcmp(state, "done") == 0)
		json_array_foreach(json_object_get(rep, "pairs"), i, p)
		{
			if (!json_is_true(json_object_get(p, "to_bisect")))
				continue;
			if (n == max) {
				say(a, "run %" PRId64 ": more than %zu pairs to bisect; the others are not",
				    run_id, max);
				break;
			}
			specs[n++] = (struct store_bisect_spec){
			    json_string_value(json_object_get(p, "package")),
			    json_string_value(json_object_get(p, "target")), against, 0};
		}
	farm__write_lock(f);
	int rc = store_bisect_plan(f->st, run_id, specs, n, farm__now_ms(), &e);
	if (farm__write_unlock(f, rc == 0 ? &e : NULL) < 0 && rc == 0)
		rc = RP_EDB;
	if (rc < 0)
		say(a, "run %" PRId64 ": bisections not planned: %s", run_id, e.msg);
	else if (n)
		say(a, "run %" PRId64 ": %zu pair%s to bisect", run_id, n, n == 1 ? "" : "s");
	json_decref(rep);
}

static void pass(struct autobisect *a)
{
	struct farm *f = a->o.farm;
	struct rp_error e;
	int64_t runs[16];
	size_t n = 0;
	pthread_mutex_lock(&f->lock);
	int rc = store_bisect_unplanned_runs(f->st, runs, sizeof(runs) / sizeof(runs[0]), &n, &e);
	pthread_mutex_unlock(&f->lock);
	for (size_t i = 0; rc == 0 && i < n && !a->stop; i++)
		plan_run(a, runs[i]);
	struct store_bisect *active = NULL;
	size_t na = 0;
	pthread_mutex_lock(&f->lock);
	rc = store_bisects_list(f->st, 0, 1, 0, 100, &active, &na, &e);
	pthread_mutex_unlock(&f->lock);
	for (size_t i = 0; rc == 0 && i < na && !a->stop; i++)
		step_one(a, active[i].id);
	store_bisects_free(active, rc == 0 ? na : 0);
}

static void *autobisect_main(void *arg)
{
	struct autobisect *a = arg;
	pthread_mutex_lock(&a->lock);
	while (!a->stop) {
		pthread_mutex_unlock(&a->lock);
		pass(a);
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += PASS_MS * 1000000L;
		while (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&a->lock);
		if (!a->stop)
			pthread_cond_timedwait(&a->wake, &a->lock, &ts);
	}
	pthread_mutex_unlock(&a->lock);
	return NULL;
}

int autobisect_start(const struct autobisect_options *o, struct autobisect **out, struct rp_error *err)
{
	struct autobisect *a = calloc(1, sizeof(*a));
	*out = NULL;
	if (!a)
		return rp_error_set(err, RP_ENOMEM, "out of memory");
	a->o = *o;
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->wake, NULL);
	int rc = pthread_create(&a->thread, NULL, autobisect_main, a);
	if (rc != 0) {
		pthread_cond_destroy(&a->wake);
		pthread_mutex_destroy(&a->lock);
		free(a);
		return rp_error_set(err, RP_EIO, "cannot start the bisect thread: %s", strerror(rc));
	}
	*out = a;
	return 0;
}

void autobisect_stop(struct autobisect *a)
{
	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	a->stop = 1;
	pthread_cond_signal(&a->wake);
	pthread_mutex_unlock(&a->lock);
	pthread_join(a->thread, NULL);
	for (size_t i = 0; i < RANGE_CACHE; i++)
		bisect_range_release(&a->ranges[i].r);
	pthread_cond_destroy(&a->wake);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

/* ---- documents ----------------------------------------------------------------------- */

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

json_t *autobisect_bisect_json(const struct store_bisect *b, int with_detail)
{
	json_t *doc = json_pack(
	    "{s:I, s:I, s:o, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:I, s:I, s:I, s:o}", "id", (json_int_t)b->id,
	    "run", (json_int_t)b->run_id, "good_run",
	    b->good_run_id ? json_integer(b->good_run_id) : json_null(), "package", b->package, "target",
	    b->target, "state", b->done ? "done" : "running", "verdict", str_or_null(b->verdict),
	    "repository", str_or_null(b->repository), "summary", str_or_null(b->summary), "culprit_job",
	    b->culprit_job ? json_integer(b->culprit_job) : json_null(), "probes", (json_int_t)b->probes,
	    "rounds", (json_int_t)b->rounds, "created_ms", (json_int_t)b->created_ms, "finished_ms",
	    b->finished_ms ? json_integer(b->finished_ms) : json_null());
	if (!doc)
		return NULL;
	json_object_set_new(doc, "crash", b->crash_id ? json_integer(b->crash_id) : json_null());
	if (b->culprit)
		json_object_set_new(doc, "culprit",
				    json_pack("{s:s, s:o, s:o, s:I, s:o}", "commit", b->culprit, "parent",
					      str_or_null(b->parent), "author", str_or_null(b->author),
					      "time", (json_int_t)b->author_time, "subject",
					      str_or_null(b->subject)));
	else
		json_object_set_new(doc, "culprit", json_null());
	json_object_set_new(doc, "excerpt", str_or_null(b->excerpt));
	if (with_detail) {
		json_t *d = b->detail ? json_loads(b->detail, 0, NULL) : NULL;
		json_object_set_new(doc, "detail", d ? d : json_null());
	}
	return doc;
}

int autobisect_list_json(struct farm *f, int64_t run_id, json_t **out, struct rp_error *err)
{
	struct store_bisect *list = NULL;
	size_t n = 0;
	pthread_mutex_lock(&f->lock);
	int rc = store_bisects_list(f->st, run_id, 0, 0, 100, &list, &n, err);
	pthread_mutex_unlock(&f->lock);
	if (rc < 0)
		return rc;
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, autobisect_bisect_json(&list[i], 0));
	store_bisects_free(list, n);
	*out = json_pack("{s:o}", "bisects", arr);
	return *out ? 0 : rp_error_set(err, RP_ENOMEM, "out of memory");
}

int autobisect_json(struct farm *f, int64_t id, json_t **out, struct rp_error *err)
{
	struct store_bisect b;
	pthread_mutex_lock(&f->lock);
	int rc = store_bisect_get(f->st, id, &b, err);
	pthread_mutex_unlock(&f->lock);
	if (rc == 0) {
		*out = autobisect_bisect_json(&b, 1);
		if (!*out)
			rc = rp_error_set(err, RP_ENOMEM, "out of memory");
	}
	store_bisect_release(&b);
	return rc;
}
