/*
 * build-internal.h — what build.c needs from failure classification, behind
 * one seam so the engine does not depend on how patterns are kept.
 */
#ifndef RIPPLE_RUNNER_BUILD_INTERNAL_H
#define RIPPLE_RUNNER_BUILD_INTERNAL_H

#include <stddef.h>

#include "core/error.h"
#include "step.h"

struct build__classifier;

int build__classifier_open(struct build__classifier **out, struct rp_error *err);
void build__classifier_close(struct build__classifier *c);

/*
 * Reads the log of a failed step (`step`: "build" or "test") and writes its
 * category and first error line; returns 1 when the failure is the
 * infrastructure's (to be retried, never blamed on the code), else 0. Never
 * fails: an unreadable log still gives a category from how the step ended.
 */
int build__classify(const struct build__classifier *c, const char *log_path, const char *step,
		    const struct step_result *res, char *category, size_t category_size, char *first_error,
		    size_t first_error_size, char *test, size_t test_size);

#endif
