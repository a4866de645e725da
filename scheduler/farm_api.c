/*
 * farm_api.c — the API section of a run's report (farm-internal.h): for each
 * library with an api block whose build changed against the nightly the run
 * is compared with, its API and ABI changes (abidiff over the two builds'
 * dumps, classified by reports/api.h) and the semver verdict; then, for
 * each reverse dependency that regressed, the breaking change its failure
 * log names ("changing cs_get_be16() broke dns (dns.c:42: too few
 * arguments ...)"), and a regression no change explains labelled a
 * behaviour change, so its author looks at tests, not headers.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "reports/api.h"
#include "runner/abi.h"
#include "scheduler/farm-internal.h"
#include "core/banned.h"

/* At most this many lines linked per failing job and change list. */
#define API_LINKS_MAX 64

static int load_dump(struct farm *f, const char *key, struct abi_dump *out, struct rp_error *err)
{
	json_t *doc;
	char origin[96];
	memset(out, 0, sizeof(*out));
	int rc = farm__artifact_json(f, key, "abi", "the ABI dump", &doc, err);
	snprintf(origin, sizeof(origin), "the ABI dump of build %.12s", key);
	if (rc == 0)
		rc = abi_dump_from_json(doc, origin, out, err);
	json_decref(doc);
	return rc;
}

/* How a person says a change was made: "removing cs_get_be16()", "changing struct point". */
static void act(const struct api_change *c, char *out, size_t size)
{
	switch (c->kind) {
	case API_FUNCTION_REMOVED:
		snprintf(out, size, "removing %s()", c->name);
		break;
	case API_FUNCTION_CHANGED:
		snprintf(out, size, "changing %s()", c->name);
		break;
	case API_VARIABLE_REMOVED:
		snprintf(out, size, "removing %s", c->name);
		break;
	case API_SONAME_CHANGED:
		snprintf(out, size, "changing the SONAME to %s", c->name);
		break;
	case API_SYMBOL_VERSION_CHANGED:
		snprintf(out, size, "changing the symbol version of %s", c->name);
		break;
	default:
		snprintf(out, size, "changing %s", c->name);
		break;
	}
}

/* A copy of the memo of (old, new), or NULL. */
static json_t *memo_get(struct farm *f, const char *old_key, const char *new_key)
{
	json_t *found = NULL;
	pthread_mutex_lock(&f->api_lock);
	for (size_t i = 0; i < sizeof(f->api_memo) / sizeof(f->api_memo[0]) && !found; i++) {
		struct api_memo *m = &f->api_memo[i];
		if (m->entry && strcmp(m->old_key, old_key) == 0 && strcmp(m->new_key, new_key) == 0) {
			m->used = ++f->api_clock;
			found = json_deep_copy(m->entry);
		}
	}
	pthread_mutex_unlock(&f->api_lock);
	return found;
}

/* Keeps a copy of `entry` for (old, new) in place of the least recently used one. */
static void memo_put(struct farm *f, const char *old_key, const char *new_key, const json_t *entry)
{
	json_t *copy = json_deep_copy(entry);
	if (!copy)
		return;
	pthread_mutex_lock(&f->api_lock);
	struct api_memo *victim = &f->api_memo[0];
	for (size_t i = 1; i < sizeof(f->api_memo) / sizeof(f->api_memo[0]); i++)
		if (f->api_memo[i].used < victim->used)
			victim = &f->api_memo[i];
	json_decref(victim->entry);
	snprintf(victim->old_key, sizeof(victim->old_key), "%s", old_key);
	snprintf(victim->new_key, sizeof(victim->new_key), "%s", new_key);
	victim->entry = copy;
	victim->used = ++f->api_clock;
	pthread_mutex_unlock(&f->api_lock);
}

/* The changes of a report entry back as a diff, for the links (what linking reads of them). */
static int diff_from_entry(const json_t *entry, struct api_diff *d)
{
	const json_t *changes = json_object_get(entry, "changes");
	memset(d, 0, sizeof(*d));
	d->weaker = json_is_true(json_object_get(entry, "weaker"));
	if (!(d->changes = calloc(json_array_size(changes) + 1, sizeof(*d->changes))))
		return -1;
	size_t i;
	const json_t *c;
	json_array_foreach(changes, i, c)
	{
		struct api_change *out = &d->changes[d->n];
		const char *kind = json_string_value(json_object_get(c, "kind"));
		const char *name = json_string_value(json_object_get(c, "name"));
		const char *detail = json_string_value(json_object_get(c, "detail"));
		int k = 0;
		while (kind && strcmp(api_change_kind_name((enum api_change_kind)k), "unknown") != 0 &&
		       strcmp(api_change_kind_name((enum api_change_kind)k), kind) != 0)
			k++;
		out->kind = (enum api_change_kind)k;
		out->name = strdup(name ? name : "");
		out->detail = detail ? strdup(detail) : NULL;
		out->api_breaking = json_is_true(json_object_get(c, "api_breaking"));
		out->abi_breaking = json_is_true(json_object_get(c, "abi_breaking"));
		d->n++;
		if (!out->name || (detail && !out->detail))
			return -1;
	}
	return 0;
}

struct diffed {
	const struct store_job *job; /* the run's build of the library */
	struct api_diff d;
	json_t *entry;	 /* its report entry */
	json_t *broke;	 /* per change: an array of what it broke */
};

json_t *farm__run_api(struct farm *f, const struct store_job *jobs, size_t n, const struct store_job *before,
		      size_t nb, json_t *pairs)
{
	json_t *libraries = json_array(), *behaviour = json_array();
	struct diffed *diffs = calloc(n + 1, sizeof(*diffs));
	size_t nd = 0;
	char work[PATH_MAX] = "";
	if (!libraries || !behaviour || !diffs)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct store_job *j = &jobs[i];
		long p = manifest_find_package(f->u, j->package);
		if (p < 0 || !f->u->packages[p].has_api || strcmp(j->variant, "build") != 0 || j->rerun_of ||
		    !j->build_key || !j->output_hash)
			continue;
		const struct store_job *b = NULL;
		for (size_t k = 0; k < nb && !b; k++)
			if (strcmp(before[k].package, j->package) == 0 && strcmp(before[k].target, j->target) == 0 &&
			    strcmp(before[k].variant, "build") == 0 && !before[k].rerun_of && before[k].build_key)
				b = &before[k];
		if (!b || strcmp(b->build_key, j->build_key) == 0)
			continue; /* nothing to compare with, or the same build */
		struct abi_dump old, now;
		struct rp_error err;
		struct diffed *dd = &diffs[nd];
		json_t *entry = memo_get(f, b->build_key, j->build_key);
		if (entry) { /* compared before: the same changes, linked below anew */
			json_array_append_new(libraries, entry);
			if ((!json_array_size(json_object_get(entry, "changes")) && strcmp(b->commit, j->commit) == 0) ||
			    diff_from_entry(entry, &dd->d) < 0) {
				api_diff_release(&dd->d);
				json_array_remove(libraries, json_array_size(libraries) - 1);
				continue;
			}
			dd->job = j;
			dd->entry = entry;
			dd->broke = json_object_get(entry, "changes");
			nd++;
			continue;
		}
		entry = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s}}", "package", j->package, "target", j->target,
				  "old", "commit", b->commit, "build_key", b->build_key, "new", "commit", j->commit,
				  "build_key", j->build_key);
		if (!entry)
			continue;
		json_array_append_new(libraries, entry);
		if (!work[0]) {
			snprintf(work, sizeof(work), "%s/tmp/api-XXXXXX", f->blobs_dir);
			if (!mkdtemp(work)) {
				work[0] = '\0';
				json_object_set_new(entry, "problem", json_string("cannot make a work directory"));
				continue;
			}
		}
		int rc = load_dump(f, b->build_key, &old, &err);
		if (rc == 0 && (rc = load_dump(f, j->build_key, &now, &err)) < 0)
			abi_dump_release(&old);
		if (rc == 0) {
			rc = abi_diff(&old, &now, work, &dd->d, NULL, &err);
			if (rc == 0) {
				struct api_semver sv;
				const char *vo = old.version ? old.version : f->u->packages[p].version;
				const char *vn = now.version ? now.version : f->u->packages[p].version;
				api_semver_verdict(&dd->d, vo, vn, &sv);
				json_t *doc = api_diff_json(&dd->d);
				json_object_update(entry, doc);
				json_decref(doc);
				json_object_set_new(entry, "versions", json_pack("{s:s?, s:s?}", "old", vo, "new", vn));
				json_object_set_new(entry, "semver", json_pack("{s:s, s:s, s:b, s:b, s:s}", "needed",
									       api_bump_name(sv.needed), "made",
									       api_bump_name(sv.made), "enough", sv.enough,
									       "parsed", sv.parsed, "why", sv.why));
			}
			abi_dump_release(&old);
			abi_dump_release(&now);
		}
		if (rc < 0) {
			json_object_set_new(entry, "problem", json_string(err.msg));
			continue;
		}
		memo_put(f, b->build_key, j->build_key, entry);
		if (dd->d.n == 0 && strcmp(b->commit, j->commit) == 0) {
			/* Rebuilt only because a dependency changed, and the same API: nothing to tell. */
			json_array_remove(libraries, json_array_size(libraries) - 1);
			api_diff_release(&dd->d);
			continue;
		}
		dd->job = j;
		dd->entry = entry;
		dd->broke = json_object_get(entry, "changes");
		nd++;
	}
	if (nd == 0)
		goto out;
	/* Each regressed reverse dependency: which breaking change its failure names, if any. */
	size_t i;
	json_t *pair;
	json_array_foreach(pairs, i, pair)
	{
		const char *verdict = json_string_value(json_object_get(pair, "verdict"));
		if (!verdict || (strcmp(verdict, "regressed") != 0 && strcmp(verdict, "newly broken") != 0))
			continue;
		/* A changed library's own failure is its own: only its reverse dependencies are explained. */
		const char *pkg = json_string_value(json_object_get(pair, "package"));
		int own = 0;
		for (size_t k = 0; k < nd && !own; k++)
			own = pkg && strcmp(diffs[k].job->package, pkg) == 0;
		if (own)
			continue;
		json_int_t id = json_integer_value(json_object_get(pair, "job"));
		const struct store_job *fj = NULL;
		for (size_t k = 0; k < n && !fj; k++)
			if (jobs[k].id == id)
				fj = &jobs[k];
		if (!fj)
			continue;
		size_t len = 0;
		struct store_job ran;
		struct rp_error none;
		pthread_mutex_lock(&f->lock);
		/* A result from the cache has no log of its own: the job that ran the key has it. */
		int other = fj->cached && fj->build_key && store_job_that_built(f->st, fj->build_key, &ran, &none) == 0;
		char *log = farm__log_tail(f, other ? &ran : fj, &len);
		if (other)
			store_job_release(&ran);
		pthread_mutex_unlock(&f->lock);
		int linked = 0;
		for (size_t k = 0; k < nd && log; k++) {
			struct api_link links[API_LINKS_MAX];
			struct rp_error err;
			long got = api_link_failure(&diffs[k].d, log, len, links, API_LINKS_MAX, &err);
			for (long l = 0; l < got; l++) {
				const struct api_change *c = &diffs[k].d.changes[links[l].change];
				json_t *change = json_array_get(diffs[k].broke, links[l].change);
				json_t *list = json_object_get(change, "broke");
				if (!list) {
					list = json_array();
					json_object_set_new(change, "broke", list);
				}
				char how[300];
				act(c, how, sizeof(how));
				json_array_append_new(list, json_pack("{s:s, s:s, s:I, s:s, s:s, s:s}", "package", fj->package,
								      "target", fj->target, "job", (json_int_t)fj->id, "line",
								      links[l].line, "shape", links[l].shape, "summary", how));
				linked = 1;
			}
		}
		free(log);
		json_object_set_new(pair, "cause", json_string(linked ? "api change" : "behaviour change"));
		if (!linked)
			json_array_append_new(behaviour, json_pack("{s:s, s:s, s:I, s:o}", "package", fj->package, "target",
								   fj->target, "job", (json_int_t)fj->id, "first_error",
								   fj->first_error ? json_string(fj->first_error) : json_null()));
	}
out:
	for (size_t k = 0; k < nd; k++)
		api_diff_release(&diffs[k].d);
	free(diffs);
	if (work[0])
		rmdir(work);
	json_t *doc = json_pack("{s:o, s:o}", "libraries", libraries ? libraries : json_array(), "behaviour_changes",
				behaviour ? behaviour : json_array());
	return doc;
}
