/*
 * error.h — ripple's error codes and the error buffer every fallible call fills.
 *
 * Contract: a fallible function returns 0 on success or a negative RP_E* code,
 * and, when given a non-NULL `struct rp_error *`, writes one human line into it
 * saying where and what was expected ("ripple.json:12:7: ..."). Callees never
 * print and never exit; only cli/ decides what to do with an error.
 * The codes and their names come from one X-macro list, so they cannot drift.
 */
#ifndef RIPPLE_CORE_ERROR_H
#define RIPPLE_CORE_ERROR_H

#include <stddef.h>

#define RP_ERRNO_MAP(X)                                                   \
	X(NOMEM, "out of memory")                                         \
	X(IO, "input/output error")                                       \
	X(INVAL, "invalid input")                                         \
	X(NOTFOUND, "not found")                                          \
	X(CYCLE, "dependency cycle")                                      \
	X(SCHEMA, "database schema mismatch")                             \
	X(DB, "database error")                                           \
	X(EXISTS, "already exists")                                       \
	X(RANGE, "value out of range")                                    \
	X(UNREACHABLE, "repository or service unreachable")               \
	X(INTEGRITY, "stored data failed verification")                   \
	X(BUSY, "in use by another job")                                  \
	X(CONFLICT, "conflicts with the current state")                   \
	X(AUTH, "not authenticated")

enum rp_errno {
	RP_OK = 0,
#define RP__ERR_ENUM(name, text) RP_E##name,
	RP__ERR_FIRST_ = -100,
	RP_ERRNO_MAP(RP__ERR_ENUM)
#undef RP__ERR_ENUM
	RP__ERR_LAST_
};

/* A short, static description of `code` ("unknown error" for codes not in the map). */
const char *rp_strerror(int code);

#define RP_ERROR_MAX 1024

/*
 * The human detail of the last error; one line, always NUL-terminated. When the
 * error is about a place in a text (a manifest), line and column say where
 * (1-based); otherwise they are 0.
 */
struct rp_error {
	char msg[RP_ERROR_MAX];
	int line, column;
};

/*
 * Fills `err` (when non-NULL) and returns `code`, so callers can write
 * `return rp_error_set(err, RP_EINVAL, "%s:%d:%d: ...", ...)`.
 */
int rp_error_set(struct rp_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/*
 * Control characters and Unicode line or paragraph separators that reach the
 * message (from a file name, a key, a remote's answer) are replaced by '?', so a
 * message is always one printable line and cannot steer a terminal.
 */

#endif
