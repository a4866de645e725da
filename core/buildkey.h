/*
 * buildkey.h — the build key: one SHA-256 over everything that determines a build.
 *
 * Contract: buildkey_compute() hashes, in a canonical, length-prefixed
 * encoding (so no two different inputs serialize alike): the package's name,
 * the git tree id of its source (not the commit: two commits with the same
 * tree build the same thing), its recipe (build and test steps, the sorted
 * environment, the timeout), the variant of the job (a plain build, a coverage
 * build, ...), the target's name and its whole configuration as canonical JSON
 * (keys sorted), and the *output hashes* of its dependencies' builds, sorted by
 * dependency name. Keying on dependency outputs instead of their keys gives
 * early cutoff: a change that leaves a library's installed files identical
 * changes no key downstream. The encoding starts with a version tag; changing
 * what is hashed means bumping it, which invalidates every cached build once.
 */
#ifndef RIPPLE_CORE_BUILDKEY_H
#define RIPPLE_CORE_BUILDKEY_H

#include <stddef.h>

#include "error.h"
#include "manifest.h"

#define BUILDKEY_HEX_LEN 64

struct buildkey_dep {
	const char *name;        /* the dependency package's name */
	const char *output_hash; /* 64 hex digits: the content hash of its install prefix */
};

struct buildkey_input {
	const struct rp_package *package;
	const struct rp_target *target;
	const char *tree_id; /* hex git tree id of the package's source */
	const char *variant; /* "build" for a plain build; other job kinds name theirs */
	const struct buildkey_dep *deps;
	size_t n_deps;
};

/*
 * Writes the key as 64 lowercase hex digits and a NUL into `key`.
 * Returns 0, RP_EINVAL (a missing field, a malformed output hash, a dependency
 * named twice) or RP_ENOMEM.
 */
int buildkey_compute(const struct buildkey_input *in, char key[BUILDKEY_HEX_LEN + 1], struct rp_error *err);

/* Whether `s` is exactly 64 lowercase hex digits. */
int buildkey_is_hex(const char *s);

#endif
