/*
 * api.h — API and ABI changes of a library between two builds: abidiff's
 * report turned into structured changes, each classified for source (API)
 * and binary (ABI) compatibility, the semver verdict, and the links from
 * each breaking change to the downstream builds it broke.
 *
 * Contract:
 * - api_parse_abidiff() reads abidiff's text report (libabigail 2.x) and its
 *   exit status. abidiff's status bits are not the verdict — with libabigail
 *   2.2 only a removed symbol sets "incompatible", while a parameter that
 *   changes from int to long or a struct that grows is a mere "change" — so
 *   every change is classified here, by what it does to a caller's source
 *   and to an already-built caller: a removed function or variable breaks
 *   both; an added one breaks neither; a parameter added or removed breaks
 *   both; a parameter or return type whose size or kind changed breaks the
 *   ABI, and the API when no C conversion bridges it (a pointer type);
 *   a struct whose size or member offsets change breaks the ABI, a member
 *   removed or renamed the API too; an enumerator whose value changes breaks
 *   the ABI, one removed the API too; a changed SONAME breaks the ABI.
 *   abidiff (libabigail 2.2) reports a symbol moved to another version as
 *   a removal only: abi_diff() (runner/abi.h), which has the new library's
 *   symbols, turns such a removal into API_SYMBOL_VERSION_CHANGED.
 * - With `weaker` set (the dumps have no debug info: ELF symbols only),
 *   the changes come from the symbol tables and the public headers'
 *   prototypes instead (api_diff_symbols()), and the diff says so.
 * - api_semver_verdict() judges a version bump against the changes.
 * - api_link_failure() finds, in a failing build's log, the lines that name
 *   an identifier of a breaking change in the shapes gcc and clang report
 *   (undefined reference, implicit declaration, too few/many arguments,
 *   incompatible pointer type, no member named, unknown type name, ...).
 * - Everything returned belongs to the caller (api_diff_release()); errors
 *   are RP_E* codes with `err` filled: RP_EINVAL for a report abidiff did not
 *   write (or an abidiff error: its message), RP_ENOMEM.
 */
#ifndef RIPPLE_REPORTS_API_H
#define RIPPLE_REPORTS_API_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "core/error.h"

enum api_change_kind {
	API_FUNCTION_REMOVED,
	API_FUNCTION_ADDED,
	API_FUNCTION_CHANGED, /* its signature: parameters, return type */
	API_VARIABLE_REMOVED,
	API_VARIABLE_ADDED,
	API_VARIABLE_CHANGED,
	API_TYPE_CHANGED,	/* a struct or union's size or layout */
	API_ENUM_CHANGED,	/* enumerators inserted, removed or renumbered */
	API_SYMBOL_VERSION_CHANGED,
	API_SONAME_CHANGED,
};

/* "function removed", ... as reports spell them. */
const char *api_change_kind_name(enum api_change_kind kind);

struct api_change {
	enum api_change_kind kind;
	char *name;	 /* the function, variable or type ("struct point", "enum color"), or the SONAME */
	char *before;	 /* the old declaration as abidiff shows it, or NULL */
	char *after;	 /* the new one, or NULL */
	char *detail;	 /* one line: what changed ("parameter 3 of type 'uint16_t*' was added") */
	int api_breaking; /* a caller's source no longer compiles (or means something else) */
	int abi_breaking; /* a caller built against the old one no longer works without a rebuild */
	char *where;	 /* "cstruct.h:12:1" when abidiff says, else NULL */
};

struct api_diff {
	struct api_change *changes; /* in abidiff's order; type changes once each */
	size_t n;
	int weaker;	     /* from symbols and header prototypes: no debug info */
	int exit_status;     /* abidiff's, when it ran */
};

/* Whether a change breaks source or binary compatibility. */
static inline int api_change_breaking(const struct api_change *c)
{
	return c->api_breaking || c->abi_breaking;
}

/*
 * Reads abidiff's report (`text`, `len` bytes) and its exit status into *out.
 * Status bit 0 (error) or 1 (usage) is RP_EINVAL with abidiff's first line.
 */
int api_parse_abidiff(const char *text, size_t len, int exit_status, struct api_diff *out, struct rp_error *err);

/*
 * The weaker method, for dumps without debug info: exported function and
 * variable symbols (`old_syms`, `new_syms`: NULL-terminated names) and the
 * public headers' prototypes (`old_headers`, `new_headers`: the headers'
 * text, concatenated; may be NULL), compared by name. A symbol removed or
 * added, and a prototype whose text changed, are changes; sizes and layouts
 * cannot be seen.
 */
int api_diff_symbols(const char *const *old_syms, const char *const *new_syms, const char *old_headers,
		     const char *new_headers, struct api_diff *out, struct rp_error *err);

/* The same with the exported variables apart (`*_syms` then name functions only); NULL lists: none. */
int api_diff_symbols_vars(const char *const *old_syms, const char *const *new_syms, const char *const *old_vars,
			  const char *const *new_vars, const char *old_headers, const char *new_headers,
			  struct api_diff *out, struct rp_error *err);

void api_diff_release(struct api_diff *d);

/* ---- semver ---------------------------------------------------------------------------- */

enum api_bump { API_BUMP_NONE, API_BUMP_PATCH, API_BUMP_MINOR, API_BUMP_MAJOR };

struct api_semver {
	enum api_bump needed; /* what the changes need: major (minor below 1.0) for a break, minor for an addition */
	enum api_bump made;   /* what the versions say was done */
	int enough;	      /* made is at least needed */
	int parsed;	      /* both versions were MAJOR.MINOR[.PATCH]; else nothing is judged */
	char why[256];	      /* one line a person reads */
};

/* The verdict on going from version `old` to `new` (either may be NULL: unknown) with the changes of `d`. */
void api_semver_verdict(const struct api_diff *d, const char *old_version, const char *new_version,
			struct api_semver *out);

const char *api_bump_name(enum api_bump b);

/* ---- linking to downstream failures ------------------------------------------------------ */

struct api_link {
	size_t change;	 /* index into the diff's changes */
	char line[512];	 /* the failure's line that names it, as the log has it (trimmed) */
	char shape[48];	 /* "undefined reference", "too few arguments", ... */
};

/*
 * The lines of a failing build's log (`log`, `len` bytes) that name an
 * identifier of one of `d`'s breaking changes in one of gcc's or clang's
 * error shapes; at most `cap` into `out`, one per change (its first line).
 * Returns how many, or a negative RP_E* code.
 */
long api_link_failure(const struct api_diff *d, const char *log, size_t len, struct api_link *out, size_t cap,
		      struct rp_error *err);

/* ---- renderers ----------------------------------------------------------------------------- */

/* {"weaker", "changes": [{"kind", "name", "before", "after", "detail", "api_breaking", "abi_breaking", "where"}]} */
json_t *api_diff_json(const struct api_diff *d);

/*
 * A changelog for end users: breaking changes first, then compatible ones,
 * each one line; the semver verdict when `sv` is non-NULL. RP_EIO on a write error.
 */
int api_diff_markdown(FILE *out, const char *title, const struct api_diff *d, const struct api_semver *sv,
		      struct rp_error *err);

#endif
