/*
 * abi.h — a library's ABI dump (libabigail's abidw) after its build, and the
 * diff of two dumps (abidiff, read by reports/api.h).
 *
 * Contract:
 * - abi_dump() runs `abidw` over the shared library inside an install
 *   prefix, given the package's own public headers (those the build added,
 *   not its dependencies'), so only the public API counts. The dump is one
 *   JSON document: {"library", "version" (the package's pkg-config Version,
 *   or null), "debug_info" (whether abidw saw types: without DWARF it sees
 *   only ELF symbols), "symbols": [exported functions], "variables": [exported
 *   variables],
 *   "headers": {path: text}, "abixml": abidw's XML}.
 * - abi_dump_load() reads such a document back; a missing, truncated or
 *   foreign file is RP_ENOTFOUND or RP_EINVAL naming the file and what was
 *   expected.
 * - abi_diff() compares two dumps: with debug info on both sides abidiff over
 *   their XML (its report parsed and classified by api_parse_abidiff()), else
 *   the weaker method (api_diff_symbols()) on symbols and header prototypes.
 * - Processes run through step.h, synchronously: call from a thread that may
 *   block. Nothing here prints. Strings in a struct abi_dump are owned by it.
 */
#ifndef RIPPLE_RUNNER_ABI_H
#define RIPPLE_RUNNER_ABI_H

#include <stdint.h>

#include <jansson.h>

#include "artifact.h"
#include "core/error.h"
#include "reports/api.h"

/* What one build exposes: read from a dump document. */
struct abi_dump {
	json_t *doc; /* owns everything below */
	const char *library, *version, *abixml;
	int debug_info;
	const char **symbols;	/* exported functions, NULL-terminated */
	const char **variables; /* exported variables, NULL-terminated (empty in dumps from before they were apart) */
	char *headers;	      /* every public header's text, one after the other */
};

struct abi_dump_spec {
	const char *prefix;		   /* the install prefix (host path) */
	const char *library;		   /* relative to the prefix: the manifest's api.library */
	const char *headers;		   /* relative to the prefix: the manifest's api.headers */
	const struct artifact_layer *deps; /* the dependencies' files in the prefix (not ours); may be NULL */
	const char *work_dir;		   /* where abidw writes (a directory that exists) */
	uint64_t timeout_ms;		   /* 0: 300 s */
};

/*
 * Dumps the library of `spec` into *doc (the caller's); *abidw_us (may be
 * NULL) gets the microseconds abidw itself took. RP_ENOTFOUND when
 * the library is not in the prefix, RP_EINVAL when abidw cannot read it (its
 * message), RP_EIO when abidw is missing.
 */
int abi_dump(const struct abi_dump_spec *spec, json_t **doc, uint64_t *abidw_us, struct rp_error *err);

/* Reads a dump document from `path` into *out (released with abi_dump_release()). */
int abi_dump_load(const char *path, struct abi_dump *out, struct rp_error *err);
/* The same from a document already parsed (a reference is taken). */
int abi_dump_from_json(json_t *doc, const char *origin, struct abi_dump *out, struct rp_error *err);
void abi_dump_release(struct abi_dump *d);

/*
 * The changes from `old` to `new` into *out (api_diff_release()); `work_dir`
 * holds abidiff's inputs while it runs. *abidiff_us (may be NULL) gets the
 * microseconds abidiff itself took.
 */
int abi_diff(const struct abi_dump *old, const struct abi_dump *new, const char *work_dir, struct api_diff *out,
	     uint64_t *abidiff_us, struct rp_error *err);

#endif
