/*
 * store-internal.h — what the store's files share with each other and with
 * their tests: the SQLite handle behind a connection (to inject failures the
 * store never causes itself: a full disk through `PRAGMA max_page_count`, a
 * schema written behind its back), the per-connection statement cache, error
 * reporting, transactions and the memory blocks that returned structs own.
 * Nothing outside core/store*.c and tests/test_store*.c includes this.
 */
#ifndef RIPPLE_CORE_STORE_INTERNAL_H
#define RIPPLE_CORE_STORE_INTERNAL_H

#include <sqlite3.h>

#include "store.h"

/* The connection's handle, owned by `st`; never close it. */
sqlite3 *store__handle(struct store *st);

/* ---- statements and transactions ------------------------------------------ */

/*
 * Slots of the statement cache kept for the store files other than store.c:
 * store_queue.c from 0, store_report.c from STORE__REPORT_SLOT,
 * store_history.c from STORE__HISTORY_SLOT up to STORE__BISECT_SLOT,
 * store_bisect.c from STORE__BISECT_SLOT, store_coverage.c from
 * STORE__COVERAGE_SLOT and store_fuzz.c the top ones, from STORE__FUZZ_SLOT.
 */
#define STORE__EXT_STMTS 160
#define STORE__REPORT_SLOT 64
#define STORE__HISTORY_SLOT 88
#define STORE__BISECT_SLOT 112
#define STORE__COVERAGE_SLOT 128
#define STORE__FUZZ_SLOT 144

/*
 * The statement `sql` cached in slot `slot` (< STORE__EXT_STMTS) of `st`,
 * prepared persistently on first use and finalized by store_close(). Each
 * file owns a fixed range of slots and always passes the same SQL for a slot.
 * NULL with `err` filled on failure. End every use with store__done().
 */
sqlite3_stmt *store__stmt_ext(struct store *st, unsigned slot, const char *sql, struct rp_error *err);

/* Resets and unbinds a cached statement, so it holds no snapshot open; NULL is a no-op. */
void store__done(sqlite3_stmt *s);

/* Steps a statement that returns no rows, then store__done(); 0 or a filled error. */
int store__step_done(struct store *st, sqlite3_stmt *s, struct rp_error *err, const char *what);

/* Steps `s`, returning one row of one integer, into *out; then store__done(). */
int store__query_int64(struct store *st, sqlite3_stmt *s, int64_t *out, struct rp_error *err,
		       const char *what);

/* BEGIN IMMEDIATE (see docs/internals/store.md for why), and BEGIN for a snapshot. */
int store__begin_write(struct store *st, struct rp_error *err);
int store__begin_read(struct store *st, struct rp_error *err);

/* Commits when `ret` is 0, rolls back otherwise; returns the final code. */
int store__end(struct store *st, int ret, struct rp_error *err);

/* Binds `v`, or NULL when `v` is NULL; the string must outlive the statement's use. */
void store__bind_opt(sqlite3_stmt *s, int i, const char *v);

/* ---- errors ----------------------------------------------------------------- */

/* The RP_E* code for SQLite's (extended) result code `rc`. */
int store__code(int rc);

/*
 * Fills `err` with "<path>: <what>: <SQLite's message>" for the failure `rc`
 * of the last call on the connection and returns the matching RP_E* code.
 */
__attribute__((format(printf, 4, 5))) int store__dberr(struct store *st, struct rp_error *err, int rc,
						       const char *fmt, ...);

/* RP_ENOMEM with "<path>: out of memory". */
int store__nomem(struct store *st, struct rp_error *err);

/* ---- values and owned memory ------------------------------------------------ */

int64_t store__now_ms(void);

/* 1 when `s` is exactly 64 (or 40) lowercase hex digits. */
int store__is_hex64(const char *s);
int store__is_hex40(const char *s);

/*
 * Memory owned by a returned struct's `mem_`: blocks freed together by
 * store__mem_free(). store__alloc() zeroes; both return NULL when out of memory.
 */
void *store__alloc(void **mem, size_t size);
const char *store__strdup(void **mem, const char *s);
void store__mem_free(void **mem);

/* Copies column `col` (NULL stays NULL) into memory owned by `mem`. */
int store__col_str(struct store *st, void **mem, sqlite3_stmt *s, int col, const char **out,
		   struct rp_error *err);

/* ---- jobs ------------------------------------------------------------------- */

/* The columns store__read_job() reads, in its order: "SELECT " STORE__JOB_COLUMNS " FROM jobs ...". */
#define STORE__JOB_COLUMNS                                                                                   \
	"id, package, target, commit_id, build_key, priority, state, deps_left, attempt, lease_owner,"       \
	" lease_expires_ms, fence, created_ms, started_ms, finished_ms, run_id, tree_id, status, cached,"    \
	" cancel_requested, output_hash, failed_step, category, first_error, worker, duration_ms, cause_id,"   \
	" build_ms, test_ms, rerun_of, failed_test, variant, fuzz_crash"

/*
 * Fills *j (zeroed by the caller) from the current row of `s`, which selects
 * STORE__JOB_COLUMNS; the strings go to j->mem_. Dependencies are not read.
 */
int store__read_job(struct store *st, sqlite3_stmt *s, struct store_job *j, struct rp_error *err);

#endif
