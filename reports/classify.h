/*
 * classify.h — failure classification: from a failed step's log to a category
 * and the one line a person should read first.
 *
 * Contract:
 * - The rules are data: reports/patterns.txt, embedded into the library when it
 *   is built (no file is read at run time). Each rule maps log lines to a
 *   category with a priority; its PCRE2 regex may name the groups `file`,
 *   `line`, `col`, `msg` and `subject` (the symbol, package, header or test
 *   the line is about). The table's format is described at its top.
 * - classify_init() compiles the table once (JIT when PCRE2 has it). The
 *   classifier is immutable afterwards: any number of threads may call
 *   classify_log() on it at once.
 * - classify_log() reads the log line by line, never copying it whole: each
 *   line loses the step's timestamp prefix ("[   1.234] "), terminal escape
 *   sequences, a trailing CR and what a CR overwrote, and is cut at
 *   CLASSIFY_LINE_MAX bytes. Rules match one such line at a time.
 *   The FIRST ERROR LINE is the first line matched by a rule of the highest
 *   priority that matched anywhere in the log (so the compiler's error, not
 *   make's "Error 1" after it). Rules flagged `cont` also take the indented
 *   lines that follow (CMake's message body).
 * - Category: the matched rule's, unless it is `unknown` or no rule matched;
 *   then the hints decide: a SIGKILL the step did not get from ripple →
 *   out_of_memory, SIGXCPU → timeout, a failed test step → test_failure, a
 *   failed build step → compile_error (the step's exit status is the verdict
 *   that the code does not build), otherwise unknown. A step that timed out is
 *   `timeout` whatever its log says, except for an infrastructure line, which
 *   explains the hang.
 * - `infrastructure` is set for the category infrastructure and for rules
 *   flagged `infra` (the compiler killed by the OOM killer, fork failing for
 *   lack of memory): such a failure is retried and never blamed on the code.
 * - With no matching rule the excerpt is the log's last non-empty line.
 * - Every string of `struct classification` is bounded, NUL-terminated, valid
 *   UTF-8, one line without control characters, trimmed; a cut excerpt ends
 *   with "...".
 * - Nothing here prints or exits. Design notes: docs/internals/classify.md.
 *
 * Calling sequence:
 *	struct classifier *c;
 *	if (classify_init(&c, &err) < 0) ...err.msg...        (once, at start-up)
 *	struct classify_hints h = { .step = CLASSIFY_STEP_TEST, .term_signal = res->term_signal };
 *	struct classification cl;
 *	classify_log(c, log, log_len, &h, &cl);               (any thread)
 *	... classify_category_name(cl.category), cl.excerpt, cl.file, cl.line ...
 *	classify_free(c);
 */
#ifndef RIPPLE_REPORTS_CLASSIFY_H
#define RIPPLE_REPORTS_CLASSIFY_H

#include <stddef.h>

#include "core/error.h"

#define CLASSIFY_CATEGORY_MAP(X)                                                                             \
	X(UNKNOWN, "unknown")                                                                                \
	X(COMPILE_ERROR, "compile_error")                                                                    \
	X(LINK_ERROR, "link_error")                                                                          \
	X(MISSING_DEPENDENCY, "missing_dependency")                                                          \
	X(TEST_FAILURE, "test_failure")                                                                      \
	X(SANITIZER, "sanitizer")                                                                            \
	X(TIMEOUT, "timeout")                                                                                \
	X(OUT_OF_MEMORY, "out_of_memory")                                                                    \
	X(INFRASTRUCTURE, "infrastructure")

/* clang-format off */
enum classify_category {
#define CLASSIFY__CAT_ENUM(name, text) CLASSIFY_##name,
	CLASSIFY_CATEGORY_MAP(CLASSIFY__CAT_ENUM)
#undef CLASSIFY__CAT_ENUM
	CLASSIFY__N_CATEGORIES
};
/* clang-format on */

/* The category's name as in patterns.txt and reports ("compile_error"); "unknown" when out of range. */
const char *classify_category_name(enum classify_category category);
/* The category named `name`; -1 when there is none. */
int classify_category_from_name(const char *name);

/* Bounds of the strings of a classification, NUL included. */
#define CLASSIFY_EXCERPT_MAX 512
#define CLASSIFY_FILE_MAX 256
#define CLASSIFY_SUBJECT_MAX 128
#define CLASSIFY_RULE_MAX 32
/* Bytes of one log line that rules see; the rest of a longer line is ignored. */
#define CLASSIFY_LINE_MAX 4096

enum classify_step {
	CLASSIFY_STEP_UNKNOWN,
	CLASSIFY_STEP_BUILD, /* the build step (configure, compile, link, install) failed */
	CLASSIFY_STEP_TEST,  /* the test step failed */
};

/* What the runner knows about the failure besides the log. All zero: nothing. */
struct classify_hints {
	enum classify_step step;
	int timed_out;	 /* ripple ended the step: wall-clock or no-output timeout */
	int term_signal; /* the signal that killed the step's own process; 0 when it exited */
};

struct classification {
	enum classify_category category;
	int infrastructure;		    /* retry; never blame the code */
	int matched;			    /* a rule matched; else the excerpt is the last non-empty line */
	char rule[CLASSIFY_RULE_MAX];	    /* the id of the rule that matched, "" when none */
	char excerpt[CLASSIFY_EXCERPT_MAX]; /* the first error line; "" for an empty log */
	char file[CLASSIFY_FILE_MAX];	    /* as the tool wrote it; "" when unknown or too long */
	unsigned line, column;		    /* 1-based; 0 when unknown */
	char msg[CLASSIFY_EXCERPT_MAX];	    /* the message without its location; the excerpt when the rule
					       names no `msg` */
	char subject[CLASSIFY_SUBJECT_MAX]; /* symbol, package, header, test ...; "" when none */
	size_t log_line;		    /* 1-based line number of the excerpt in the log; 0 when none */
	size_t log_offset;		    /* byte offset of that line in the log */
};

struct classifier;

/*
 * Compiles the embedded table into `*out` (owned by the caller: classify_free()).
 * Errors: RP_ENOMEM; RP_EINVAL when the table is broken (a build defect: the
 * message names patterns.txt and the line).
 */
int classify_init(struct classifier **out, struct rp_error *err);
void classify_free(struct classifier *c);

/*
 * Classifies the `len` bytes of `log` (any bytes; NUL is an ordinary byte)
 * into `*out`. `hints` may be NULL. Returns 0, or RP_ENOMEM when scratch
 * memory (about 160 KiB) cannot be had; `*out` then holds what the hints alone
 * say, with an empty excerpt.
 */
int classify_log(const struct classifier *c, const char *log, size_t len, const struct classify_hints *hints,
		 struct classification *out);

/* ---- internal, for tests ---- */

/*
 * Compiles a table given as text, as classify_init() compiles the embedded
 * one. `name` prefixes error messages ("NAME:LINE: ..."); err->line is the
 * table line and, for a regex error, err->column the column in that line.
 */
int classify__compile_table(const char *text, size_t len, const char *name, struct classifier **out,
			    struct rp_error *err);
/* The number of rules of `c`. */
size_t classify__n_rules(const struct classifier *c);
/*
 * The literal prefilter derived from the regex `re`: an alternation of
 * literals (non-alphanumeric bytes as \xhh) one of which every match contains,
 * written to out; returns its length, 0 (and "") when the rule has none.
 */
size_t classify__prefilter(const char *re, size_t n, char *out, size_t size);
/*
 * Checks the examples of a table (text NULL: the embedded one): each rule must
 * have at least one "#> LINE" comment above it, and each such line alone must
 * be classified by that very rule (not shadowed by another). 0 or RP_EINVAL
 * with "NAME:LINE: ..." in err.
 */
int classify__self_test(const struct classifier *c, const char *text, size_t len, const char *name,
			struct rp_error *err);

#endif
