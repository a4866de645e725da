/*
 * store_fuzz.c — fuzzing in the store: each fuzz target's latest figures,
 * each crash by (package, target, fuzzer, signature) from the run that found
 * it to the run whose replay no longer crashed, the bisection looking for its
 * first bad commit. See store.h, "fuzzing".
 *
 * Statements live in slots STORE__FUZZ_SLOT.. of the store's cache.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "store-internal.h"

#include "banned.h"

#define STORE__FUZZ_LIST_MAX 1000

enum store__fid {
	F_STAT_PUT,
	F_STATS,
	F_CRASH_FIND,
	F_CRASH_INSERT,
	F_CRASH_SEEN,
	F_CRASH_REOPEN,
	F_CRASH_GET,
	F_CRASH_FIXED,
	F_CRASHES,
	F_CRASHES_OPEN,
	F_BISECT_INSERT,
	F_BISECT_FIND,
	F_CRASH_LINK,
	F__COUNT
};

_Static_assert(STORE__FUZZ_SLOT + F__COUNT <= STORE__EXT_STMTS, "store_fuzz.c needs more statement slots");

#define F_STAT_COLUMNS                                                                                       \
	"package, target, fuzzer, run_id, job_id, commit_id, seconds, executions, exec_per_sec, new_units,"   \
	" corpus_files, corpus_bytes, updated_ms"
#define F_CRASH_COLUMNS                                                                                      \
	"id, package, target, fuzzer, signature, kind, frames, reproducer, reproducer_size, status,"         \
	" found_run, found_job, found_commit, found_ms, seen_run, seen_commit, seen_ms, fixed_run,"          \
	" fixed_commit, fixed_ms, bisect_id"
/* Open crashes first (status 'open' sorts after 'fixed'), then by id. */
#define F_CRASH_FILTER                                                                                       \
	" WHERE (?1 IS NULL OR package = ?1) AND (?2 IS NULL OR target = ?2)"

/* clang-format off */
static const char *const store__fsql[F__COUNT] = {
	[F_STAT_PUT] = "INSERT OR REPLACE INTO fuzz_stats (" F_STAT_COLUMNS ")"
		       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
	[F_STATS] = "SELECT " F_STAT_COLUMNS " FROM fuzz_stats ORDER BY package, target, fuzzer LIMIT 1000",
	[F_CRASH_FIND] = "SELECT id, status = 'fixed' FROM fuzz_crashes WHERE package = ?1 AND target = ?2"
			 " AND fuzzer = ?3 AND signature = ?4",
	[F_CRASH_INSERT] = "INSERT INTO fuzz_crashes (package, target, fuzzer, signature, kind, frames, reproducer,"
			   " reproducer_size, found_run, found_job, found_commit, found_ms, seen_run, seen_commit,"
			   " seen_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?9, ?11, ?12)",
	/* Seen again: a fixed one is open again, and its fixed range no longer holds. */
	[F_CRASH_SEEN] = "UPDATE fuzz_crashes SET seen_run = ?2, seen_commit = ?3, seen_ms = ?4, status = 'open',"
			 " fixed_run = NULL, fixed_commit = NULL, fixed_ms = NULL WHERE id = ?1",
	/* A fixed crash found again is a regression of its own: found anew, its fix and bisection forgotten. */
	[F_CRASH_REOPEN] = "UPDATE fuzz_crashes SET status = 'open', fixed_run = NULL, fixed_commit = NULL,"
			   " fixed_ms = NULL, bisect_id = 0, found_run = ?2, found_job = ?3, found_commit = ?4,"
			   " found_ms = ?5, seen_run = ?2, seen_commit = ?4, seen_ms = ?5, reproducer = ?6,"
			   " reproducer_size = ?7 WHERE id = ?1",
	[F_CRASH_GET] = "SELECT " F_CRASH_COLUMNS " FROM fuzz_crashes WHERE id = ?1",
	[F_CRASH_FIXED] = "UPDATE fuzz_crashes SET status = 'fixed', fixed_run = ?2, fixed_commit = ?3, fixed_ms = ?4"
			  " WHERE id = ?1 AND status = 'open'",
	[F_CRASHES] = "SELECT " F_CRASH_COLUMNS " FROM fuzz_crashes" F_CRASH_FILTER
		      " ORDER BY status DESC, id LIMIT 1000",
	/* The partial index fuzz_crashes_open. */
	[F_CRASHES_OPEN] = "SELECT " F_CRASH_COLUMNS " FROM fuzz_crashes" F_CRASH_FILTER " AND status = 'open'"
			   " ORDER BY id LIMIT 1000",
	[F_BISECT_INSERT] = "INSERT INTO bisects (run_id, good_run_id, package, target, created_ms, crash_id)"
			    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
			    " ON CONFLICT (run_id, package, target, crash_id) DO NOTHING",
	[F_BISECT_FIND] = "SELECT id FROM bisects WHERE run_id = ?1 AND package = ?2 AND target = ?3"
			  " AND crash_id = ?4",
	[F_CRASH_LINK] = "UPDATE fuzz_crashes SET bisect_id = ?2 WHERE id = ?1",
};
/* clang-format on */

static int store__f(struct store *st, enum store__fid id, sqlite3_stmt **s, struct rp_error *err)
{
	*s = store__stmt_ext(st, STORE__FUZZ_SLOT + (unsigned)id, store__fsql[id], err);
	return *s ? 0 : store__code(sqlite3_errcode(store__handle(st)));
}

static int store__nonempty(const char *s)
{
	return s && *s;
}

/* Binds v, or NULL when it is negative (a figure nobody gave). */
static void store__bind_known(sqlite3_stmt *s, int col, int64_t v)
{
	if (v >= 0)
		sqlite3_bind_int64(s, col, v);
	else
		sqlite3_bind_null(s, col);
}

static int64_t store__col_known(sqlite3_stmt *s, int col)
{
	return sqlite3_column_type(s, col) == SQLITE_NULL ? -1 : sqlite3_column_int64(s, col);
}

/* ---- figures ------------------------------------------------------------------ */

int store_fuzz_stat_put(struct store *st, const struct store_fuzz_stat *f, struct rp_error *err)
{
	sqlite3_stmt *s;
	int ret;
	if (!store__nonempty(f->package) || !store__nonempty(f->target) || !store__nonempty(f->fuzzer) ||
	    !f->commit || !store__is_hex40(f->commit) || f->seconds < 0 || f->corpus_files < 0 || f->corpus_bytes < 0)
		return rp_error_set(err, RP_EINVAL, "%s: fuzz figures: a package, target, fuzzer, commit and"
				    " non-negative counts are needed", store_path(st));
	if ((ret = store__f(st, F_STAT_PUT, &s, err)) < 0)
		return ret;
	sqlite3_bind_text(s, 1, f->package, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, f->target, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, f->fuzzer, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, f->run_id);
	sqlite3_bind_int64(s, 5, f->job_id);
	sqlite3_bind_text(s, 6, f->commit, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 7, f->seconds);
	store__bind_known(s, 8, f->executions);
	store__bind_known(s, 9, f->exec_per_sec);
	store__bind_known(s, 10, f->new_units);
	sqlite3_bind_int64(s, 11, f->corpus_files);
	sqlite3_bind_int64(s, 12, f->corpus_bytes);
	sqlite3_bind_int64(s, 13, f->updated_ms ? f->updated_ms : store__now_ms());
	return store__step_done(st, s, err, "cannot record fuzz figures");
}

int store_fuzz_stats(struct store *st, struct store_fuzz_stat **out, size_t *n, struct rp_error *err)
{
	sqlite3_stmt *s;
	int ret, rc;
	size_t cap = 0;
	*out = NULL;
	*n = 0;
	if ((ret = store__f(st, F_STATS, &s, err)) < 0)
		return ret;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (*n == cap) {
			size_t ncap = cap ? 2 * cap : 16;
			struct store_fuzz_stat *grown = realloc(*out, ncap * sizeof(**out));
			if (!grown) {
				ret = store__nomem(st, err);
				break;
			}
			*out = grown;
			cap = ncap;
		}
		struct store_fuzz_stat *f = &(*out)[*n];
		memset(f, 0, sizeof(*f));
		(*n)++;
		f->run_id = sqlite3_column_int64(s, 3);
		f->job_id = sqlite3_column_int64(s, 4);
		f->seconds = sqlite3_column_int64(s, 6);
		f->executions = store__col_known(s, 7);
		f->exec_per_sec = store__col_known(s, 8);
		f->new_units = store__col_known(s, 9);
		f->corpus_files = sqlite3_column_int64(s, 10);
		f->corpus_bytes = sqlite3_column_int64(s, 11);
		f->updated_ms = sqlite3_column_int64(s, 12);
		if ((ret = store__col_str(st, &f->mem_, s, 0, &f->package, err)) < 0 ||
		    (ret = store__col_str(st, &f->mem_, s, 1, &f->target, err)) < 0 ||
		    (ret = store__col_str(st, &f->mem_, s, 2, &f->fuzzer, err)) < 0 ||
		    (ret = store__col_str(st, &f->mem_, s, 5, &f->commit, err)) < 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = store__dberr(st, err, rc, "cannot list fuzz figures");
	store__done(s);
	if (ret < 0) {
		store_fuzz_stats_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return ret;
}

void store_fuzz_stats_free(struct store_fuzz_stat *f, size_t n)
{
	for (size_t i = 0; f && i < n; i++)
		store__mem_free(&f[i].mem_);
	free(f);
}

/* ---- crashes ------------------------------------------------------------------ */

static int store__read_crash(struct store *st, sqlite3_stmt *s, struct store_fuzz_crash *c, struct rp_error *err)
{
	int ret;
	const char *status = NULL;
	c->id = sqlite3_column_int64(s, 0);
	c->reproducer_size = sqlite3_column_int64(s, 8);
	c->found_run = sqlite3_column_int64(s, 10);
	c->found_job = sqlite3_column_int64(s, 11);
	c->found_ms = sqlite3_column_int64(s, 13);
	c->seen_run = sqlite3_column_int64(s, 14);
	c->seen_ms = sqlite3_column_int64(s, 16);
	c->fixed_run = sqlite3_column_int64(s, 17);
	c->fixed_ms = sqlite3_column_int64(s, 19);
	c->bisect_id = sqlite3_column_int64(s, 20);
	if ((ret = store__col_str(st, &c->mem_, s, 1, &c->package, err)) < 0 ||
	    (ret = store__col_str(st, &c->mem_, s, 2, &c->target, err)) < 0 ||
	    (ret = store__col_str(st, &c->mem_, s, 3, &c->fuzzer, err)) < 0 ||
	    (ret = store__col_str(st, &c->mem_, s, 4, &c->signature, err)) < 0 ||
	    (ret = store__col_str(st, &c->mem_, s, 5, &c->kind, err)) < 0 ||
	    (ret = store__col_str(st, &c->mem_, s, 6, &c->frames, err)) < 0 ||
	    (ret = store__col_str(st, &c->mem_, s, 7, &c->reproducer, err)) < 0 ||
	    (ret = store__col_str(st, &c->mem_, s, 9, &status, err)) < 0 ||
	    (ret = store__col_str(st, &c->mem_, s, 12, &c->found_commit, err)) < 0 ||
	    (ret = store__col_str(st, &c->mem_, s, 15, &c->seen_commit, err)) < 0 ||
	    (ret = store__col_str(st, &c->mem_, s, 18, &c->fixed_commit, err)) < 0)
		return ret;
	c->open = status && strcmp(status, "open") == 0;
	return 0;
}

int store_fuzz_crash_seen(struct store *st, const struct store_fuzz_crash *c, int64_t now_ms, int64_t *id,
			  int *is_new, struct rp_error *err)
{
	sqlite3_stmt *s;
	int ret;
	*id = 0;
	*is_new = 0;
	if (!store__nonempty(c->package) || !store__nonempty(c->target) || !store__nonempty(c->fuzzer) ||
	    !store__nonempty(c->signature) || !c->reproducer || !store__is_hex64(c->reproducer) ||
	    c->reproducer_size < 0 || !c->found_commit || !store__is_hex40(c->found_commit))
		return rp_error_set(err, RP_EINVAL, "%s: crash: a package, target, fuzzer, signature, reproducer"
				    " (SHA-256) and commit are needed", store_path(st));
	if (!now_ms)
		now_ms = store__now_ms();
	if ((ret = store__begin_write(st, err)) < 0)
		return ret;
	if ((ret = store__f(st, F_CRASH_FIND, &s, err)) < 0)
		goto out;
	sqlite3_bind_text(s, 1, c->package, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, c->target, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, c->fuzzer, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, c->signature, -1, SQLITE_STATIC);
	int rc = sqlite3_step(s), was_fixed = 0;
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(s, 0);
		was_fixed = sqlite3_column_int(s, 1);
	}
	store__done(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		ret = store__dberr(st, err, rc, "cannot look up a crash");
		goto out;
	}
	if (rc == SQLITE_ROW && was_fixed) {
		if ((ret = store__f(st, F_CRASH_REOPEN, &s, err)) < 0)
			goto out;
		sqlite3_bind_int64(s, 1, *id);
		sqlite3_bind_int64(s, 2, c->found_run);
		sqlite3_bind_int64(s, 3, c->found_job);
		sqlite3_bind_text(s, 4, c->found_commit, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 5, now_ms);
		sqlite3_bind_text(s, 6, c->reproducer, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 7, c->reproducer_size);
		if ((ret = store__step_done(st, s, err, "cannot record a crash found again")) == 0)
			*is_new = 1;
		goto out;
	}
	if (rc == SQLITE_ROW) {
		if ((ret = store__f(st, F_CRASH_SEEN, &s, err)) < 0)
			goto out;
		sqlite3_bind_int64(s, 1, *id);
		sqlite3_bind_int64(s, 2, c->found_run);
		sqlite3_bind_text(s, 3, c->found_commit, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 4, now_ms);
		ret = store__step_done(st, s, err, "cannot record a crash seen again");
		goto out;
	}
	if ((ret = store__f(st, F_CRASH_INSERT, &s, err)) < 0)
		goto out;
	sqlite3_bind_text(s, 1, c->package, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, c->target, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, c->fuzzer, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, c->signature, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, c->kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 6, c->frames, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 7, c->reproducer, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 8, c->reproducer_size);
	sqlite3_bind_int64(s, 9, c->found_run);
	sqlite3_bind_int64(s, 10, c->found_job);
	sqlite3_bind_text(s, 11, c->found_commit, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 12, now_ms);
	if ((ret = store__step_done(st, s, err, "cannot record a crash")) == 0) {
		*id = sqlite3_last_insert_rowid(store__handle(st));
		*is_new = 1;
	}
out:
	return store__end(st, ret, err);
}

int store_fuzz_crash_get(struct store *st, int64_t id, struct store_fuzz_crash *c, struct rp_error *err)
{
	sqlite3_stmt *s;
	int ret, rc;
	memset(c, 0, sizeof(*c));
	if ((ret = store__f(st, F_CRASH_GET, &s, err)) < 0)
		return ret;
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		ret = store__read_crash(st, s, c, err);
	else if (rc == SQLITE_DONE)
		ret = rp_error_set(err, RP_ENOTFOUND, "%s: no crash %" PRId64, store_path(st), id);
	else
		ret = store__dberr(st, err, rc, "cannot read crash %" PRId64, id);
	store__done(s);
	return ret;
}

void store_fuzz_crash_release(struct store_fuzz_crash *c)
{
	store__mem_free(&c->mem_);
	memset(c, 0, sizeof(*c));
}

int store_fuzz_crash_replayed(struct store *st, int64_t id, int crashed, int64_t run_id, const char *commit,
			      int64_t now_ms, struct rp_error *err)
{
	struct store_fuzz_crash c;
	sqlite3_stmt *s;
	int ret;
	if (!commit || !store__is_hex40(commit))
		return rp_error_set(err, RP_EINVAL, "%s: a replay of crash %" PRId64 " needs its commit",
				    store_path(st), id);
	if (!now_ms)
		now_ms = store__now_ms();
	if ((ret = store__begin_write(st, err)) < 0)
		return ret;
	if ((ret = store_fuzz_crash_get(st, id, &c, err)) < 0)
		goto out;
	if (!c.open) {
		ret = rp_error_set(err, RP_ECONFLICT, "%s: crash %" PRId64 " is fixed already", store_path(st), id);
		goto out;
	}
	if ((ret = store__f(st, crashed ? F_CRASH_SEEN : F_CRASH_FIXED, &s, err)) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, run_id);
	sqlite3_bind_text(s, 3, commit, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, now_ms);
	ret = store__step_done(st, s, err, "cannot record a crash's replay");
out:
	store_fuzz_crash_release(&c);
	return store__end(st, ret, err);
}

int store_fuzz_crashes(struct store *st, const char *package, const char *target, int open_only,
		       struct store_fuzz_crash **out, size_t *n, struct rp_error *err)
{
	sqlite3_stmt *s;
	int ret, rc;
	size_t cap = 0;
	*out = NULL;
	*n = 0;
	if ((ret = store__f(st, open_only ? F_CRASHES_OPEN : F_CRASHES, &s, err)) < 0)
		return ret;
	if (package)
		sqlite3_bind_text(s, 1, package, -1, SQLITE_STATIC);
	if (target)
		sqlite3_bind_text(s, 2, target, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW && *n < STORE__FUZZ_LIST_MAX) {
		if (*n == cap) {
			size_t ncap = cap ? 2 * cap : 16;
			struct store_fuzz_crash *grown = realloc(*out, ncap * sizeof(**out));
			if (!grown) {
				ret = store__nomem(st, err);
				break;
			}
			*out = grown;
			cap = ncap;
		}
		struct store_fuzz_crash *c = &(*out)[*n];
		memset(c, 0, sizeof(*c));
		(*n)++;
		if ((ret = store__read_crash(st, s, c, err)) < 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
		ret = store__dberr(st, err, rc, "cannot list crashes");
	store__done(s);
	if (ret < 0) {
		store_fuzz_crashes_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return ret;
}

void store_fuzz_crashes_free(struct store_fuzz_crash *c, size_t n)
{
	for (size_t i = 0; c && i < n; i++)
		store__mem_free(&c[i].mem_);
	free(c);
}

int store_fuzz_crash_bisect(struct store *st, int64_t id, int64_t run_id, int64_t good_run_id, int64_t now_ms,
			    int64_t *bisect_id, struct rp_error *err)
{
	struct store_fuzz_crash c;
	sqlite3_stmt *s;
	int ret;
	*bisect_id = 0;
	if ((ret = store__begin_write(st, err)) < 0)
		return ret;
	if ((ret = store_fuzz_crash_get(st, id, &c, err)) < 0)
		goto out;
	if ((ret = store__f(st, F_BISECT_INSERT, &s, err)) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, run_id);
	if (good_run_id > 0)
		sqlite3_bind_int64(s, 2, good_run_id);
	else
		sqlite3_bind_null(s, 2);
	sqlite3_bind_text(s, 3, c.package, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, c.target, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, now_ms ? now_ms : store__now_ms());
	sqlite3_bind_int64(s, 6, id);
	if ((ret = store__step_done(st, s, err, "cannot record a crash's bisection")) < 0)
		goto out;
	if ((ret = store__f(st, F_BISECT_FIND, &s, err)) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, run_id);
	sqlite3_bind_text(s, 2, c.package, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, c.target, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, id);
	if ((ret = store__query_int64(st, s, bisect_id, err, "cannot find a crash's bisection")) < 0)
		goto out;
	if ((ret = store__f(st, F_CRASH_LINK, &s, err)) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, *bisect_id);
	ret = store__step_done(st, s, err, "cannot link a crash to its bisection");
out:
	store_fuzz_crash_release(&c);
	return store__end(st, ret, err);
}
