/*
 * coverage.h — line, branch and function coverage from gcc's own gcov:
 * ingestion of a build tree's .gcda files, the figures, merging, and the
 * formats others read (lcov tracefile, Cobertura XML, ripple's JSON).
 *
 * Contract:
 * - Ingestion runs gcc's `gcov --json-format --stdout --branch-probabilities`
 *   over every .gcda file under a directory (and every .gcno without one:
 *   compiled, never run), `jobs` gcov processes at once (runner steps on a
 *   libuv loop), reads the documents it writes (jansson) and adds up what the
 *   translation units say about each source file. Files are named relative to `root` ('/'-separated); a file outside
 *   `root` (system headers, the installed headers of dependencies) is left
 *   out, as are files matching an `exclude` glob.
 * - The figures are gcovr's (5.x) on the same data, so they can be checked
 *   against it: a line counts when some translation unit has code on it,
 *   unless its hits are 0 and its text is no code ("{", "}", "else", a
 *   comment, blank), or it lies in an exclusion region (GCOVR_EXCL_LINE,
 *   _START/_STOP, and the LCOV_ spellings); it is covered when its hits
 *   summed over the units are > 0. A branch is one of gcov's arcs out of a
 *   line (throw arcs included), summed by its position on the line across
 *   units, covered when taken; branches on excluded lines, or in
 *   ..._EXCL_BR_ regions, are left out. A function is counted once per name
 *   and file, covered when called; gcc's internal functions ("__*",
 *   "_GLOBAL__sub_I_*") are left out.
 * - Bad input is an error naming the file and what was expected: a .gcda
 *   that gcov cannot read or that was written by another gcc version (gcov
 *   says so: RP_EINVAL), a truncated or foreign JSON document (RP_EINVAL), a
 *   directory without .gcda files (RP_ENOTFOUND). Nothing here prints or
 *   exits.
 * - A struct cov_report and everything in it belongs to its caller, released
 *   with coverage_report_release(). Functions return 0 or a negative RP_E*
 *   code with `err` filled.
 *
 * Calling sequence:
 *	struct cov_ingest_options o = { .dir = build_dir, .root = src_dir, .jobs = 4 };
 *	struct cov_report r;
 *	if (coverage_ingest(&o, &r, &err) < 0) ...
 *	coverage_write_lcov(&r, stdout, &err);
 *	coverage_report_release(&r);
 *
 * The rules and the measured speed: docs/coverage.md.
 */
#ifndef RIPPLE_COVERAGE_COVERAGE_H
#define RIPPLE_COVERAGE_COVERAGE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "core/error.h"

/* covered of total; the percent is 100 * covered / total, or 100 when total is 0 (nothing to cover). */
struct cov_count {
	uint64_t covered, total;
};

struct cov_totals {
	struct cov_count lines, branches, functions;
};

/* One counted line: its hits and, from `first_branch`, the hits of each of its branches. */
struct cov_line {
	uint32_t line; /* 1-based */
	uint64_t hits;
	uint32_t first_branch, n_branches; /* into cov_file.branches */
};

struct cov_function {
	char *name;
	uint32_t line; /* where it starts */
	uint64_t calls;
};

struct cov_file {
	char *path; /* relative to the report's root */
	struct cov_line *lines; /* counted lines only, ascending */
	size_t n_lines;
	uint64_t *branches; /* hits of each branch, line by line */
	size_t n_branches;
	struct cov_function *functions; /* by name */
	size_t n_functions;
	struct cov_totals totals;
};

struct cov_report {
	char *root;	   /* absolute */
	char *gcc_version; /* as gcov reports it; NULL when unknown (a report read from JSON without it) */
	struct cov_file *files; /* by path */
	size_t n_files;
	struct cov_totals totals;
	size_t units; /* translation units (.gcda files, gcov documents) read */
	void *acc_;   /* private: what coverage_add_gcov_json() gathered, until coverage_finish() */
};

struct cov_ingest_options {
	const char *dir;	     /* searched recursively for .gcda files */
	const char *root;	     /* the sources' root; NULL: `dir` */
	unsigned jobs;		     /* gcov processes at once; 0: the number of CPUs */
	const char *gcov;	     /* the program; NULL: "gcov" from PATH */
	const char *const *exclude;  /* NULL-terminated globs on the relative path (fnmatch); may be NULL */
	const char *work_dir;	     /* where gcov writes; NULL: $TMPDIR or /tmp (removed afterwards) */
};

int coverage_ingest(const struct cov_ingest_options *o, struct cov_report *out, struct rp_error *err);

/*
 * Starts an empty report over `root` (absolute) for coverage_add_gcov_json().
 */
int coverage_report_init(struct cov_report *r, const char *root, struct rp_error *err);

/*
 * Reads gcov's JSON documents (`data`, `len` bytes: what `gcov --json-format
 * --stdout` writes for one or more units, one document each, or what one
 * .gcov.json.gz holds once inflated) into `into`; `origin` names them in
 * errors. Call coverage_finish() once every unit is in.
 */
int coverage_add_gcov_json(struct cov_report *into, const char *data, size_t len, const char *origin,
			   struct rp_error *err);

/* The same for one document jansson already parsed (it stays the caller's). */
int coverage_add_gcov_doc(struct cov_report *into, const json_t *doc, const char *origin, struct rp_error *err);

/*
 * Applies the source-based rules (no-code lines, exclusion markers) reading
 * each file under the root, drops what they exclude, sorts, and computes the
 * totals. A file that cannot be read keeps every line.
 */
int coverage_finish(struct cov_report *r, const char *const *exclude, struct rp_error *err);

/*
 * The same, reading the sources under `sources` instead of the root: for
 * data gathered where the tree had another path (a sandbox's /ripple/src),
 * read where it is now. NULL: the root.
 */
int coverage_finish_at(struct cov_report *r, const char *sources, const char *const *exclude,
		       struct rp_error *err);

/*
 * What gcov said about a file it could not use, from the log of a gcov run
 * (a step log, "[time] text" lines, or plain text): its first such line
 * into `line` and 1, else 0. Another compiler's or gcc version's files
 * ("x.gcda:version '408*', prefer version 'B22*'"), damaged ones, missing
 * notes. gcov still writes an empty document for them, which must not pass
 * for "no code".
 */
int coverage_gcov_log_complaint(const char *log_path, char *line, size_t size);

/* Adds `from` (another test job of the same commit) into `into`: hits, branches and calls summed. */
int coverage_merge(struct cov_report *into, const struct cov_report *from, struct rp_error *err);

void coverage_report_release(struct cov_report *r);

/* 100 * covered / total, 100 when total is 0. */
double coverage_percent(struct cov_count c);

/*
 * ripple's JSON (docs/coverage.md): {"root", "gcc_version", "totals", "files":
 * [{"path", "totals", "lines": [[LINE, HITS, [BRANCH HITS...]], ...],
 * "functions": [[NAME, LINE, CALLS], ...]}]}; per-line data only with
 * `with_lines`. coverage_from_json() reads it back (with lines), RP_EINVAL
 * naming what is wrong.
 */
json_t *coverage_to_json(const struct cov_report *r, int with_lines);

/* {"lines": {"covered", "total", "percent"}, "branches": ..., "functions": ...}, as in that JSON. */
json_t *coverage_totals_json(const struct cov_totals *t);
int coverage_from_json(const json_t *doc, struct cov_report *out, struct rp_error *err);

/* ---- patch coverage: the lines a change adds or changes, and how many of them ran ---- */

struct cov_patch_file {
	char *path;	 /* relative to the repository's root */
	uint32_t *lines; /* added or changed lines, on the new side, ascending */
	size_t n_lines;
};

struct cov_patch {
	char base[41], head[41]; /* the commits compared: head's merge base with base, and head */
	struct cov_patch_file *files; /* by path */
	size_t n_files;
};

/*
 * The lines of `head` that the change from `base` adds or changes, as a pull
 * request shows it: against the merge base of the two (libgit2's diff of the
 * trees, no context, renames followed). `repo` is a path inside a git
 * repository (worktree or bare). RP_ENOTFOUND for an unknown revision or
 * repository, RP_EINVAL for commits without a merge base.
 */
int coverage_patch_lines(const char *repo, const char *base, const char *head, struct cov_patch *out,
			 struct rp_error *err);
void coverage_patch_release(struct cov_patch *p);

/*
 * Patch coverage as Codecov shows it: of the patch's lines that `r` (head's
 * coverage) counts, how many ran; a patch line the report does not count
 * (a comment, a blank, an excluded line, a file outside the report) is not
 * coverable. Per file in `per_file` (n_files entries of the patch, may be NULL).
 */
void coverage_patch_figures(const struct cov_report *r, const struct cov_patch *p, struct cov_count *total,
			    struct cov_count *per_file);

/*
 * The lines of patch file `pf` that `r` counts and that never ran: how many,
 * and the first `cap` of them (ascending) into `out`.
 */
size_t coverage_patch_uncovered(const struct cov_report *r, const struct cov_patch_file *pf, uint32_t *out, size_t cap);

/* The lcov tracefile (geninfo's format) and Cobertura XML (coverage-04.dtd) of `r`. RP_EIO on a write error. */
int coverage_write_lcov(const struct cov_report *r, FILE *out, struct rp_error *err);
int coverage_write_cobertura(const struct cov_report *r, FILE *out, struct rp_error *err);

#endif
