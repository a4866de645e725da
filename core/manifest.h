/*
 * manifest.h — the universe manifest (`ripple.json`): its model and its validation.
 *
 * Contract: manifest_load_file() (or _buffer) parses with jansson and validates
 * the whole document; on success it returns a universe that owns every string
 * and array in it, released by manifest_free(). On failure it returns RP_EINVAL
 * (RP_EIO when the file cannot be read, RP_ENOMEM) and writes exactly one line
 * into `err`: "FILE:LINE:COLUMN: what is wrong; what was expected". Only the
 * first error found is reported (fields before cross-references, then cycles). A loaded universe is valid: names are
 * unique, dependencies resolved to indices, the graph is acyclic, every
 * dependency supports every target of its dependents, and every package on a
 * target that boots a guest (vm, xen) has a guest block.
 *
 * Calling sequence:
 *	struct rp_universe *u;
 *	if (manifest_load_file("ripple.json", &u, &err) < 0) ...print err.msg...
 *	... u->packages[i] ...
 *	manifest_free(u);
 */
#ifndef RIPPLE_CORE_MANIFEST_H
#define RIPPLE_CORE_MANIFEST_H

#include <stddef.h>

#include "arena.h"
#include "error.h"
#include "strmap.h"

typedef struct json_t json_t;

enum rp_runner { RP_RUNNER_PROCESS, RP_RUNNER_SANDBOX, RP_RUNNER_VM, RP_RUNNER_XEN };

const char *manifest_runner_name(enum rp_runner runner);

/* Whether targets of `runner` boot a guest (vm, xen): their packages need a "guest" block. */
int manifest_runner_boots_guest(enum rp_runner runner);

/* Limits that bound what a manifest may ask for. */
#define MANIFEST_MAX_BYTES (64u << 20)
#define MANIFEST_NAME_MAX 64
#define MANIFEST_TIMEOUT_DEFAULT 1800
#define MANIFEST_TIMEOUT_MAX 86400
#define MANIFEST_OUTPUT_TIMEOUT_DEFAULT 600
#define MANIFEST_FUZZ_SECONDS_MAX 86400
#define MANIFEST_WEBHOOK_MAX 2000 /* bytes of a notify webhook URL */
#define MANIFEST_GUEST_PAYLOAD_MAX 64 /* patterns in a guest payload */
#define MANIFEST_GUEST_PATTERN_MAX 256 /* bytes of one payload pattern */

struct rp_target {
	char *name;
	enum rp_runner runner;
	json_t *options; /* the target's whole object; runner backends read their options here */
};

struct rp_env {
	char *name;
	char *value;
};

/*
 * The engine a package's fuzz build links its targets with (LIB_FUZZING_ENGINE):
 * libFuzzer (clang -fsanitize=fuzzer), or AFL++ (afl-clang-fast and its
 * libFuzzer-compatible driver, run by afl-fuzz; on the host side only).
 */
enum rp_fuzz_engine { RP_FUZZ_LIBFUZZER, RP_FUZZ_AFL };

struct rp_fuzz {
	char *name;
	char *binary;
	int seconds;
	char *corpus; /* seed inputs: a directory of the tree, read-only to the fuzzer; NULL: none */
};

struct rp_package {
	char *name;
	char *repo;    /* URL, or a local path as written (relative to universe->dir) */
	char *branch;  /* default "main" */
	char *version; /* NULL when not given */
	char *build;
	char *test; /* NULL when the package has no test step */
	int timeout; /* seconds, per step */
	int output_timeout; /* seconds a step may run without writing anything */
	size_t *depends; /* indices into universe->packages, in manifest order */
	size_t n_depends;
	size_t *targets; /* indices into universe->targets; default: every target */
	size_t n_targets;
	struct rp_env *env; /* sorted by name, so recipes hash the same whatever the key order */
	size_t n_env;
	int coverage;
	int has_api;
	char *api_library;
	char *api_headers;
	struct rp_fuzz *fuzz;
	size_t n_fuzz;
	enum rp_fuzz_engine fuzz_engine; /* "fuzz_engine"; default libFuzzer */
	/*
	 * "guest": what a throwaway VM (targets of runner vm or xen) runs. Such a
	 * guest has no compiler and no make, so the host side builds, then runs
	 * guest_prepare (NULL when absent) to make the programs the guest runs;
	 * the guest boots holding only the files guest_payload matches and runs
	 * guest_test there. Payload patterns are globs relative to the source
	 * tree, never absolute, never through "." or "..". Required of a package
	 * on such a target, so has_guest is set for every one of them.
	 */
	int has_guest;
	char *guest_prepare;
	char *guest_test;
	char **guest_payload;
	size_t n_guest_payload;
	/*
	 * "notify": {"webhook": URL}: where a nightly POSTs the (package, target)
	 * pairs it found newly broken (payload: docs/manifest.md). An http(s) URL
	 * of at most MANIFEST_WEBHOOK_MAX bytes without whitespace or control
	 * characters; NULL when absent. Not part of the build key.
	 */
	char *notify_webhook;
};

struct rp_universe {
	char *path; /* the manifest's path, as given */
	char *dir;  /* the directory holding it: relative repo paths are relative to it */
	char *name;
	struct rp_target *targets; /* manifest order */
	size_t n_targets;
	struct rp_package *packages; /* manifest order */
	size_t n_packages;
	struct strmap package_index; /* name -> index into packages */
	struct arena arena;          /* owns every string and array above but path and dir */
};

int manifest_load_file(const char *path, struct rp_universe **out, struct rp_error *err);

/* `name` is used in error messages and to resolve relative repository paths. */
int manifest_load_buffer(const char *text, size_t len, const char *name, struct rp_universe **out,
			 struct rp_error *err);

void manifest_free(struct rp_universe *u);

/* The index of package `name`, or -1. */
long manifest_find_package(const struct rp_universe *u, const char *name);
long manifest_find_target(const struct rp_universe *u, const char *name);

/*
 * The target a package's coverage job runs on: of its targets that run
 * steps on this host's kernel (process or sandbox), the one named "unix",
 * else the first; -1 when it has none.
 */
long manifest_coverage_target(const struct rp_universe *u, const struct rp_package *p);

/*
 * The target a package's fuzz targets run on: its coverage target (the host
 * side fuzzes fastest), else its first vm target (fuzzed in a guest, which
 * brings the corpus back); -1 when it has neither (a xen domain brings
 * nothing back).
 */
long manifest_fuzz_target(const struct rp_universe *u, const struct rp_package *p);

/* Whether package `pkg` declares target index `target`. */
int manifest_package_has_target(const struct rp_package *pkg, size_t target);

/*
 * The closest of `candidates` to `word` by edit distance, when it is close enough
 * to be a likely typo; NULL otherwise. Used for did-you-mean hints everywhere.
 */
const char *manifest_suggest(const char *word, const char *const *candidates, size_t n);

/* The package name closest to `name`, as manifest_suggest() judges; or NULL. */
const char *manifest_suggest_package(const struct rp_universe *u, const char *name);

/* Whether `name` is a valid package, target or universe name. */
int manifest_valid_name(const char *name);

#endif
