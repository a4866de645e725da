/*
 * build-internal.h — what build.c needs from failure classification, behind
 * one seam so the engine does not depend on how patterns are kept.
 */
#ifndef RIPPLE_RUNNER_BUILD_INTERNAL_H
#define RIPPLE_RUNNER_BUILD_INTERNAL_H

#include <stddef.h>

#include <limits.h>
#include <stdint.h>

#include "core/error.h"
#include "core/manifest.h"
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

/* mkdir -p (build.c); RP_EIO naming the directory. */
int build__mkdirs(const char *path, struct rp_error *err);

/* ---- fuzz jobs (build_fuzz.c) ---- */

#define BUILD_FUZZ_DIR ".ripple-fuzz" /* in the workspace */
/* A fuzz build's flags, appended as OSS-Fuzz sets them (CC=clang, CXX=clang++ too). */
#define BUILD_FUZZ_CFLAGS "-g -O1 -fno-omit-frame-pointer -fsanitize=address,fuzzer-no-link"
#define BUILD_FUZZ_LDFLAGS "-fsanitize=address"
#define BUILD_FUZZ_ENGINE "-fsanitize=fuzzer"
/*
 * With AFL++ (fuzz_engine "afl"): its compiler instruments, and its driver
 * gives the libFuzzer entry point a main() that afl-fuzz runs and that runs
 * an input file given as its argument; the sanitizer stays ASan.
 */
#define BUILD_FUZZ_AFL_CC "afl-clang-fast"
#define BUILD_FUZZ_AFL_CXX "afl-clang-fast++"
#define BUILD_FUZZ_AFL_CFLAGS "-g -O1 -fno-omit-frame-pointer -fsanitize=address"
#define BUILD_FUZZ_AFL_DRIVER "/usr/lib/afl/libAFLDriver.a"

/* The fuzz step's script (its names and paths come from build__fuzz_env()'s variables). */
extern const char build__fuzz_script[];

struct build__fuzz_job {
	const struct rp_package *package;
	const char *target, *commit;
	const char *src;	 /* the workspace, on the host */
	const char *cache;	 /* the session's cache: fuzz/corpus, fuzz/reproducers, fuzz/reports */
	const char *reproduce;	 /* a host file: run every target once on it instead of fuzzing; or NULL */
	unsigned seconds;	 /* each target's time; 0: the manifest's */
	const char *report_name; /* the report's file name, unique per job run */
	/*
	 * The workspace's path where the fuzzers ran when that was a guest
	 * (no symbolizer there): their stacks are symbolized on the host,
	 * files under it read from `src`. NULL: they ran beside a symbolizer.
	 */
	const char *guest_src;
};

struct build__fuzz_verdict {
	int crashed;
	char first_error[512]; /* "fuzz target NAME: SIGNATURE" */
	char report[PATH_MAX]; /* the report written: fuzz/reports/NAME.json in the cache */
};

/* Thread pool, after the checkout: the kept corpus (or the input to reproduce) into the workspace. */
int build__fuzz_stage(const struct build__fuzz_job *fj, struct rp_error *err);
/* The fuzz step's own variables ("NAME=VALUE", malloc'd); RP_ENOMEM. */
int build__fuzz_env(const struct build__fuzz_job *fj, char ***env, size_t *n);
/* The fuzz step's wall-clock budget: the targets' times and room to minimize. */
uint64_t build__fuzz_budget_ms(const struct build__fuzz_job *fj);
/*
 * Thread pool, after the fuzz step: each target's figures, its corpus kept
 * back in the cache, its first crash (signature from the minimized input's
 * run, the reproducer kept by content), all written as the report. RP_EIO,
 * RP_ENOMEM; a crash is not an error: v->crashed says it.
 */
int build__fuzz_collect(const struct build__fuzz_job *fj, struct build__fuzz_verdict *v, struct rp_error *err);

#endif
