/*
 * history.h — what the scheduler feeds the store's history (core/store.h,
 * "history in constant space"): the metrics a job's log reports, and whether
 * a new value dropped past a threshold compared with the days before.
 *
 * Contract:
 * - A test reports a metric by printing a line of its own
 *
 *	RIPPLE-METRIC name=value [unit]
 *
 *   The marker is upper case and may be preceded by the step runner's
 *   time stamp ("[  12.345] ") and by spaces and tabs only (so a shell's
 *   `+ echo RIPPLE-METRIC ...` trace is not a second report);
 *   tokens are separated by spaces or tabs; a trailing "\r" is ignored.
 *   `name` is 1 to STORE_HISTORY_METRIC_MAX characters of [A-Za-z0-9_.-] and
 *   not one of the built-in names below; `value` a finite decimal number
 *   (digits, sign, point, exponent: no hex, inf or nan); `unit` one optional
 *   token of at most STORE_HISTORY_UNIT_MAX printable characters. Nothing
 *   else may follow. docs/manifest.md documents this for package authors.
 * - history_parse_metrics() is bounded and never allocates: at most
 *   HISTORY_METRICS_MAX distinct names per log (a later line with a known
 *   name replaces its value and unit; a new name past the cap is counted in
 *   `dropped`), and a line that starts with the marker but does not parse is
 *   ignored and counted in `malformed`, so the caller can warn about it.
 *   Values are read in the C locale's format, which the scheduler runs in.
 * - history_drop_check() is a pure function of its arguments (the rule is
 *   at its declaration).
 */
#ifndef RIPPLE_SCHEDULER_HISTORY_H
#define RIPPLE_SCHEDULER_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/store.h"

/* The metrics the scheduler measures itself; a log cannot report these names. */
#define HISTORY_BUILD_TIME "build_time"	      /* ms, the build step's wall time */
#define HISTORY_TEST_TIME "test_time"	      /* ms, the test step's wall time */
#define HISTORY_ARTIFACT_SIZE "artifact_size" /* bytes, the archived install prefix */
/* A coverage job's figures, percent covered, when the package has coverage on (higher is better). */
#define HISTORY_COVERAGE "coverage"		      /* %, of lines */
#define HISTORY_BRANCH_COVERAGE "branch_coverage"     /* %, of branches */
#define HISTORY_FUNCTION_COVERAGE "function_coverage" /* %, of functions */
#define HISTORY_METRICS_MAX 64

struct history_metric {
	char name[STORE_HISTORY_METRIC_MAX + 1];
	char unit[STORE_HISTORY_UNIT_MAX + 1]; /* "" when the line gave none */
	double value;			       /* finite */
	size_t line;			       /* 1-based line of the occurrence kept */
};

struct history_metrics {
	struct history_metric items[HISTORY_METRICS_MAX]; /* in order of first appearance */
	size_t n;
	size_t malformed;	     /* marker lines that did not parse */
	size_t first_malformed_line; /* 1-based; 0 when none */
	size_t dropped;		     /* well-formed lines of new names past HISTORY_METRICS_MAX */
};

/*
 * Finds the RIPPLE-METRIC lines among the `len` bytes of `log` (not
 * NUL-terminated; the last line needs no newline) and fills *out, which the
 * caller owns; returns out->n.
 */
size_t history_parse_metrics(const char *log, size_t len, struct history_metrics *out);

enum history_direction {
	HISTORY_HIGHER_IS_BETTER, /* throughput, coverage: a fall is a drop */
	HISTORY_LOWER_IS_BETTER,  /* times, sizes: a rise is a drop */
};

/*
 * The direction of metric `name`: lower is better for build_time, test_time
 * and artifact_size, higher for everything else (coverage, and the metrics
 * tests print, which are mostly throughputs).
 */
enum history_direction history_direction_of(const char *name);

/* The number of previous days a new value is compared with. */
#define HISTORY_DROP_DAYS 7

struct history_drop {
	int dropped;	 /* 1 when the value fell past the threshold */
	size_t days;	 /* daily points the baseline averages, 0..HISTORY_DROP_DAYS */
	double baseline; /* their mean; 0 when days is 0 */
	double change;	 /* (value - baseline) / |baseline|; 0 without a baseline */
};

/*
 * Compares `value`, measured at `value_ms`, with the series' recent past:
 * `days` are its daily points, oldest first, as store_history_get(..., "day")
 * returns them. The baseline is the mean of the daily averages of the newest
 * HISTORY_DROP_DAYS points (or fewer, when there are fewer) whose samples
 * all came before the value: the days before value_ms's UTC day, and that
 * day too when its newest sample is older than value_ms (a scheduler that
 * runs several nightlies a day). So a value that was recorded already does
 * not count against itself. The value dropped when its relative change against
 * the baseline goes past `threshold` (a fraction: 0.2 is 20%) the wrong way:
 * change < -threshold for HISTORY_HIGHER_IS_BETTER, change > threshold for
 * HISTORY_LOWER_IS_BETTER; exactly at the threshold is not a drop. Without a
 * previous day, or with a baseline of 0 (no relative change), there is no
 * verdict: dropped 0, days as found. Fills *out and returns 0, or RP_EINVAL
 * for a value that is not finite, a threshold that is not a finite number
 * above 0, or an unknown direction.
 */
int history_drop_check(const struct store_history_point *days, size_t ndays, double value, int64_t value_ms,
		       double threshold, enum history_direction dir, struct history_drop *out,
		       struct rp_error *err);

#endif
