/*
 * farm_fuzz.c — fuzzing in the farm (docs/fuzz.md, "In the farm"): what a
 * fuzz job's lease carries, what its result's fuzz report records (each fuzz
 * target's figures; each crash, new or seen again, a new one handed to the
 * bisections; an open crash's replay that no longer crashes marks it fixed),
 * where a corpus is kept, and GET /api/v1/fuzz.
 *
 * Reproducers and corpora are artifacts, so they travel and are checked as
 * every upload is: a reproducer under its own SHA-256 (content-addressed: it
 * never changes), a corpus under a key derived from (package, target), which
 * no build can have, so each upload replaces the last one.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "core/buildkey.h"
#include "scheduler/farm-internal.h"
#include "core/banned.h"

/* At most this many fuzz targets in one report: the manifest allows no more per package. */
#define FUZZ_REPORT_MAX 64

int farm_fuzz_corpus_key(struct farm *f, const char *package, const char *target, char key[65],
			 struct rp_error *err)
{
	long p = package ? manifest_find_package(f->u, package) : -1;
	long t = target ? manifest_find_target(f->u, target) : -1;
	if (p < 0 || t < 0 || !manifest_package_has_target(&f->u->packages[p], (size_t)t))
		return rp_error_set(err, RP_ENOTFOUND, "no package %.64s on target %.64s in universe %s",
				    package ? package : "?", target ? target : "?", f->u->name);
	/* A key no build has: builds hash their inputs with another preamble (core/buildkey.c). */
	unsigned char digest[32];
	unsigned int len = 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(md);
		return rp_error_set(err, RP_ENOMEM, "cannot start SHA-256");
	}
	static const char preamble[] = "ripple fuzz corpus\n";
	EVP_DigestUpdate(md, preamble, sizeof(preamble) - 1);
	EVP_DigestUpdate(md, f->u->name, strlen(f->u->name) + 1);
	EVP_DigestUpdate(md, package, strlen(package) + 1);
	EVP_DigestUpdate(md, target, strlen(target) + 1);
	EVP_DigestFinal_ex(md, digest, &len);
	EVP_MD_CTX_free(md);
	for (unsigned i = 0; i < 32; i++)
		snprintf(key + 2 * i, 3, "%02x", digest[i]);
	return 0;
}

int farm__fuzz_lease(struct farm *f, const struct store_job *job, json_t *doc, struct rp_error *err)
{
	if (strcmp(job->variant, "fuzz") != 0)
		return 0;
	json_t *fuzz = json_object();
	if (!fuzz || json_object_set_new(doc, "fuzz", fuzz) < 0)
		return rp_error_set(err, RP_ENOMEM, "out of memory");
	if (!job->fuzz_crash)
		return json_object_set_new(fuzz, "mode", json_string("fuzz")) < 0 ? RP_ENOMEM : 0;
	struct store_fuzz_crash c;
	int rc = store_fuzz_crash_get(f->st, job->fuzz_crash, &c, err);
	if (rc == 0) {
		json_t *o = json_pack("{s:s, s:I, s:s, s:s, s:s}", "mode", "reproduce", "crash", (json_int_t)c.id,
				      "fuzzer", c.fuzzer, "signature", c.signature, "reproducer", c.reproducer);
		if (!o || json_object_update(fuzz, o) < 0)
			rc = rp_error_set(err, RP_ENOMEM, "out of memory");
		json_decref(o);
	}
	store_fuzz_crash_release(&c);
	return rc;
}

/* An integer member >= 0, or -1 when absent or null; RP_EINVAL for anything else. */
static int count_of(const json_t *o, const char *key, int64_t *out, const char *where, struct rp_error *err)
{
	json_t *v = json_object_get(o, key);
	*out = -1;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return rp_error_set(err, RP_EINVAL, "member \"fuzz\": %s.%s: expected an integer >= 0 or null", where,
				    key);
	*out = json_integer_value(v);
	return 0;
}

/*
 * Checks the "fuzz" member of fuzz job `job`'s result, before anything is
 * written: its fuzzers are the package's, their figures numbers, and every
 * crash's reproducer is uploaded already (a result never names one the farm
 * could not serve). `report` may be NULL only when the job did not get as
 * far as fuzzing (no pass, or its build failed). Lock held.
 */
/* Whether a fuzz job's result says its fuzzers found a crash: the build engine's verdict, category "fuzz". */
static int crashed_of(enum store_result_status st, const char *failed_step, const char *category)
{
	return st == STORE_RESULT_FAIL && failed_step && strcmp(failed_step, "test") == 0 && category &&
	       strcmp(category, "fuzz") == 0;
}

int farm__fuzz_check(struct farm *f, const struct store_job *job, enum store_result_status st,
		     const char *failed_step, const char *category, const json_t *report, struct rp_error *err)
{
	if (strcmp(job->variant, "fuzz") != 0) {
		if (report && !json_is_null(report))
			return rp_error_set(err, RP_EINVAL, "member \"fuzz\": job %" PRId64 " is no fuzz job", job->id);
		return 0;
	}
	/* A fuzz step that failed otherwise (a target not built) wrote no report: its log says why. */
	int ran = st == STORE_RESULT_PASS || crashed_of(st, failed_step, category);
	if (!report || json_is_null(report)) {
		if (ran)
			return rp_error_set(err, RP_EINVAL, "member \"fuzz\": a fuzz job that ran its fuzzers reports"
					    " them ({\"fuzzers\": [...]})");
		return 0;
	}
	long p = manifest_find_package(f->u, job->package);
	json_t *list = json_object_get(report, "fuzzers");
	if (p < 0 || !json_is_object(report) || !json_is_array(list) || json_array_size(list) > FUZZ_REPORT_MAX)
		return rp_error_set(err, RP_EINVAL, "member \"fuzz\": expected {\"fuzzers\": [...]} with at most %d"
				    " entries", FUZZ_REPORT_MAX);
	const struct rp_package *pkg = &f->u->packages[p];
	size_t i;
	json_t *e;
	json_array_foreach(list, i, e)
	{
		char where[32];
		snprintf(where, sizeof(where), "fuzzers[%zu]", i);
		const char *name = json_string_value(json_object_get(e, "name"));
		size_t k = 0;
		while (name && k < pkg->n_fuzz && strcmp(pkg->fuzz[k].name, name) != 0)
			k++;
		if (!name || k == pkg->n_fuzz)
			return rp_error_set(err, RP_EINVAL, "member \"fuzz\": %s.name: expected a fuzz target of %s",
					    where, pkg->name);
		int64_t v;
		int rc;
		static const char *const counts[] = { "seconds",  "executions",	  "exec_per_sec",
						      "new_units", "corpus_files", "corpus_bytes" };
		for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++)
			if ((rc = count_of(e, counts[c], &v, where, err)) < 0)
				return rc;
		json_t *crash = json_object_get(e, "crash");
		if (!crash || json_is_null(crash))
			continue;
		const char *sig = json_string_value(json_object_get(crash, "signature"));
		const char *sha = json_string_value(json_object_get(crash, "reproducer_sha256"));
		json_t *frames = json_object_get(crash, "frames");
		if (!json_is_object(crash) || !sig || !*sig || strlen(sig) > 1000 || !sha || !buildkey_is_hex(sha) ||
		    (frames && !json_is_array(frames)))
			return rp_error_set(err, RP_EINVAL, "member \"fuzz\": %s.crash: expected a signature (1-1000"
					    " bytes), frames and reproducer_sha256 (64 lowercase hex digits)", where);
		struct store_artifact a;
		if ((rc = store_artifact_get(f->st, sha, "reproducer", &a, err)) == RP_ENOTFOUND)
			return rp_error_set(err, RP_EINVAL, "the reproducer %s is not uploaded: PUT"
					    " /api/v1/fuzz/reproducers/%s first", sha, sha);
		if (rc < 0)
			return rc;
		store_artifact_release(&a);
	}
	return 0;
}

/*
 * Records what fuzz job `job` (finished as `st`) found, in the result's
 * transaction (write lock held). Only a nightly's or a manual run's count:
 * a fuzzing job's figures replace its targets' last ones and each crash is
 * recorded, a new one bisected between the nightly before and this run; a
 * replay moves its crash on: seen again, or fixed. A bisection's probe
 * answers its bisection only.
 */
int farm__fuzz_record(struct farm *f, const struct store_job *job, enum store_result_status st,
		      const char *failed_step, const char *category, const json_t *report, struct rp_error *err)
{
	if (strcmp(job->variant, "fuzz") != 0 || job->rerun_of)
		return 0;
	struct store_run run;
	int rc = store_run_get(f->st, job->run_id, &run, err);
	if (rc < 0)
		return rc;
	int mainline = run.kind == STORE_RUN_NIGHTLY || run.kind == STORE_RUN_MANUAL;
	store_run_release(&run);
	int crashed = crashed_of(st, failed_step, category);
	if (job->fuzz_crash) {
		if (!mainline || (st != STORE_RESULT_PASS && !crashed))
			return 0; /* a probe's answer is the bisection's; an error tells nothing */
		rc = store_fuzz_crash_replayed(f->st, job->fuzz_crash, crashed, job->run_id, job->commit, farm__now_ms(), err);
		return rc == RP_ECONFLICT || rc == RP_ENOTFOUND ? 0 : rc;
	}
	/* A pull request's fuzz job speaks for its own commits: its failure says what it found. */
	if (!mainline)
		return 0;
	json_t *list = report ? json_object_get(report, "fuzzers") : NULL;
	size_t i;
	json_t *e;
	json_array_foreach(list, i, e)
	{
		struct store_fuzz_stat s = { .package = job->package, .target = job->target,
					     .fuzzer = json_string_value(json_object_get(e, "name")),
					     .commit = job->commit, .run_id = job->run_id, .job_id = job->id,
					     .updated_ms = farm__now_ms() };
		count_of(e, "seconds", &s.seconds, "", err);
		count_of(e, "executions", &s.executions, "", err);
		count_of(e, "exec_per_sec", &s.exec_per_sec, "", err);
		count_of(e, "new_units", &s.new_units, "", err);
		count_of(e, "corpus_files", &s.corpus_files, "", err);
		count_of(e, "corpus_bytes", &s.corpus_bytes, "", err);
		if (s.seconds < 0)
			s.seconds = 0;
		if (s.corpus_files < 0)
			s.corpus_files = 0;
		if (s.corpus_bytes < 0)
			s.corpus_bytes = 0;
		if ((rc = store_fuzz_stat_put(f->st, &s, err)) < 0)
			return rc;
		json_t *crash = json_object_get(e, "crash");
		if (!crash || json_is_null(crash))
			continue;
		char *frames = json_dumps(json_object_get(crash, "frames"), JSON_COMPACT);
		struct store_artifact a;
		int64_t size = 0;
		const char *sha = json_string_value(json_object_get(crash, "reproducer_sha256"));
		if (store_artifact_get(f->st, sha, "reproducer", &a, NULL) == 0) {
			size = a.size;
			store_artifact_release(&a);
		}
		struct store_fuzz_crash c = { .package = job->package, .target = job->target, .fuzzer = s.fuzzer,
					      .signature = json_string_value(json_object_get(crash, "signature")),
					      .kind = json_string_value(json_object_get(crash, "kind")),
					      .frames = frames, .reproducer = sha, .reproducer_size = size,
					      .found_run = job->run_id, .found_job = job->id, .found_commit = job->commit };
		int64_t id = 0, good = 0, bisect = 0;
		int is_new = 0;
		rc = store_fuzz_crash_seen(f->st, &c, farm__now_ms(), &id, &is_new, err);
		free(frames);
		if (rc < 0)
			return rc;
		/* A new crash's first bad commit lies between the nightly before and this run. */
		if (is_new && store_run_latest_done(f->st, STORE_RUN_NIGHTLY, job->run_id, &good, NULL) == 0 &&
		    (rc = store_fuzz_crash_bisect(f->st, id, job->run_id, good, farm__now_ms(), &bisect, err)) < 0)
			return rc;
	}
	return 0;
}

static json_t *int_or_null(int64_t v)
{
	return v > 0 ? json_integer(v) : json_null();
}

static json_t *count_or_null(int64_t v)
{
	return v >= 0 ? json_integer(v) : json_null();
}

static json_t *text_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

json_t *farm__run_fuzz(struct farm *f, int64_t run_id)
{
	struct store_fuzz_crash *crashes = NULL;
	size_t n = 0;
	json_t *found = json_array(), *fixed = json_array();
	pthread_mutex_lock(&f->lock);
	int rc = store_fuzz_crashes(f->st, NULL, NULL, 0, &crashes, &n, NULL);
	pthread_mutex_unlock(&f->lock);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		const struct store_fuzz_crash *c = &crashes[i];
		if (c->found_run != run_id && (c->open || c->fixed_run != run_id))
			continue;
		json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:o}", "id", (json_int_t)c->id, "package",
				      c->package, "target", c->target, "fuzzer", c->fuzzer, "signature", c->signature,
				      "commit", c->found_run == run_id ? c->found_commit : c->seen_commit, "fixed_commit",
				      text_or_null(c->fixed_commit));
		json_array_append_new(c->found_run == run_id ? found : fixed, o);
	}
	store_fuzz_crashes_free(crashes, n);
	return json_pack("{s:o, s:o}", "new", found, "fixed", fixed);
}

int farm_fuzz_json(struct farm *f, const char *package, json_t **out, struct rp_error *err)
{
	struct store_fuzz_stat *stats = NULL;
	struct store_fuzz_crash *crashes = NULL;
	size_t ns = 0, nc = 0;
	*out = NULL;
	if (package && manifest_find_package(f->u, package) < 0)
		return rp_error_set(err, RP_ENOTFOUND, "no package %.64s in universe %s", package, f->u->name);
	pthread_mutex_lock(&f->lock);
	int rc = store_fuzz_stats(f->st, &stats, &ns, err);
	if (rc == 0)
		rc = store_fuzz_crashes(f->st, package, NULL, 0, &crashes, &nc, err);
	json_t *fuzzers = json_array(), *list = json_array();
	for (size_t i = 0; rc == 0 && i < ns; i++) {
		const struct store_fuzz_stat *s = &stats[i];
		if (package && strcmp(s->package, package) != 0)
			continue;
		json_array_append_new(
			fuzzers, json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:I, s:o, s:o, s:o, s:I, s:I, s:I}", "package",
					   s->package, "target", s->target, "fuzzer", s->fuzzer, "run", (json_int_t)s->run_id,
					   "job", (json_int_t)s->job_id, "commit", s->commit, "seconds",
					   (json_int_t)s->seconds, "executions", count_or_null(s->executions),
					   "exec_per_sec", count_or_null(s->exec_per_sec), "new_units",
					   count_or_null(s->new_units), "corpus_files", (json_int_t)s->corpus_files,
					   "corpus_bytes", (json_int_t)s->corpus_bytes, "updated_ms", (json_int_t)s->updated_ms));
	}
	for (size_t i = 0; rc == 0 && i < nc; i++) {
		const struct store_fuzz_crash *c = &crashes[i];
		json_t *bisect = json_null();
		struct store_bisect b;
		if (c->bisect_id && store_bisect_get(f->st, c->bisect_id, &b, NULL) == 0) {
			bisect = json_pack("{s:I, s:b, s:o, s:o, s:o, s:o}", "id", (json_int_t)b.id, "done", b.done,
					   "verdict", text_or_null(b.verdict), "repository", text_or_null(b.repository),
					   "culprit", text_or_null(b.culprit), "summary", text_or_null(b.summary));
			store_bisect_release(&b);
		}
		json_t *frames = c->frames ? json_loads(c->frames, 0, NULL) : NULL;
		char url[128];
		snprintf(url, sizeof(url), "/api/v1/fuzz/reproducers/%s", c->reproducer);
		json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:o, s:o, s:s, s:I, s:I, s:s, s:I, s:I, s:s, s:I,"
				      " s:o, s:o, s:o, s:{s:s, s:I, s:s}, s:o}",
				      "id", (json_int_t)c->id, "package", c->package, "target", c->target, "fuzzer",
				      c->fuzzer, "signature", c->signature, "kind", text_or_null(c->kind), "frames",
				      json_is_array(frames) ? json_incref(frames) : json_array(), "status",
				      c->open ? "open" : "fixed", "found_run", (json_int_t)c->found_run, "found_job",
				      (json_int_t)c->found_job, "found_commit", c->found_commit, "found_ms",
				      (json_int_t)c->found_ms, "last_seen_run", (json_int_t)c->seen_run,
				      "last_seen_commit", c->seen_commit, "last_seen_ms", (json_int_t)c->seen_ms,
				      "fixed_run", int_or_null(c->fixed_run), "fixed_commit", text_or_null(c->fixed_commit),
				      "fixed_ms", int_or_null(c->fixed_ms), "reproducer", "sha256", c->reproducer, "size",
				      (json_int_t)c->reproducer_size, "url", url, "bisect", bisect);
		json_decref(frames);
		json_array_append_new(list, o);
	}
	pthread_mutex_unlock(&f->lock);
	store_fuzz_stats_free(stats, ns);
	store_fuzz_crashes_free(crashes, nc);
	if (rc < 0) {
		json_decref(fuzzers);
		json_decref(list);
	} else if (!(*out = json_pack("{s:o, s:o}", "fuzzers", fuzzers, "crashes", list))) {
		rc = rp_error_set(err, RP_ENOMEM, "out of memory");
	}
	return rc;
}
