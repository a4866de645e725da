/*
 * bisect.h — find the commit that broke a test: a k-ary, flake-aware search,
 * and the standalone driver behind `ripple bisect`.
 *
 * Contract:
 * - Two layers. The SEARCH (bisect_search_*) is a pure state machine over an
 *   abstract list of candidates: it knows indices and parent links, never a
 *   repository, a process or a clock. It is asked for the next round of
 *   probes, is fed their answers, and says when it is done and what it
 *   concluded. The farm's bisect driver reuses it unchanged with its own
 *   probes (jobs on workers). The DRIVER (bisect_run) resolves revisions and
 *   walks the range with libgit2, checks every probe out into a fresh
 *   directory, runs the command there as a runner step (runner/step.h), K at
 *   once on one libuv loop, and feeds the answers to the search.
 * - Candidates are numbered 0..n-1 in topological order: every parent has a
 *   smaller index than its child. Candidate n-1 is the known-bad tip. A
 *   candidate may be marked known good (the boundary: the parents of range
 *   commits that are outside the range); those are never the culprit but may
 *   be probed (the culprit's parent is re-run at the end).
 *   A commit c is "after" candidate h when h is c or an ancestor of c through
 *   the parent links given: only those links count, so with first-parent
 *   links only first parents count.
 * - Hypothesis space: "h is the first bad commit", for every candidate h that
 *   is not known good. Commits after h answer bad, the others good. Without
 *   noise (noise == 0) every answer is trusted, as `git bisect` does, and the
 *   hypotheses it contradicts are dropped (answers that leave none give
 *   BISECT_FLAKY); with noise > 0 every answer is
 *   wrong with that probability, each hypothesis carries a posterior weight,
 *   and the search stops when the culprit (or a set of commits only skipped
 *   commits separate) holds `confidence` of the weight; the confirmation
 *   begins at 0.9 of it (or `confidence`, when lower) and must lift it there.
 * - Rounds: each round proposes up to k probes that split the remaining
 *   weight evenly (the commits whose ancestors hold 1/(k+1), 2/(k+1), ... of
 *   it). Skipped commits are never proposed again; their neighbours are.
 * - Confirmation (retries > 0): the culprit and its first parent are each run
 *   `retries` times; when their answers disagree, each commit with an
 *   unexpected answer runs 2 x retries times more, and the verdict is made from the
 *   failure rates (see docs/bisect.md): BISECT_CULPRIT when the culprit fails
 *   at least half the time, its parent less than half, and a one-sided exact
 *   test puts the difference beyond chance (p < 0.01); while it points that way
 *   but is short of it (p < 0.3), both run 2 x retries times more, at most
 *   twice; BISECT_FLAKY otherwise.
 *   If the confirmation answers move the posterior off the culprit (or leave it
 *   short of `confidence`), the search resumes; after three confirmations such
 *   a culprit is not named (BISECT_FLAKY).
 * - Cost per round: O(n) on a chain (a linear history, or first parents);
 *   O(n^2) walks on a merged history. A search never prints or exits; it is
 *   used by one thread.
 * - The driver: probes run in fresh worktrees under a new directory of
 *   `work_dir`, removed once answered unless `keep`; each probe's log is kept
 *   in `log_dir`. A probe inherits the caller's environment plus
 *   RIPPLE_BISECT_COMMIT. Exit statuses mean what they mean to `git bisect
 *   run` (bisect_exit_meaning()); an abort status, or SIGINT/SIGTERM while
 *   probes run, stops every probe of the round (BISECT_ABORTED). With
 *   `verify_revert` a culprit is reverted on top of the bad commit and must
 *   then pass (else BISECT_UNCONFIRMED). The user-facing behaviour is
 *   docs/bisect.md.
 *
 * Calling sequence (search):
 *	struct bisect_search *s;
 *	bisect_search_new(n, parent_start, parents, known_good, &cfg, &s, &err);
 *	while (bisect_search_next(s, probes, k, &count) == BISECT_RUNNING)
 *		for each probes[i]: run it, then bisect_search_answer(s, probes[i], ans);
 *	bisect_search_result(s, &res); ... bisect_search_free(s);
 *
 * Design notes and the statistics: docs/bisect.md.
 */
#ifndef RIPPLE_BISECT_H
#define RIPPLE_BISECT_H

#include <stddef.h>
#include <stdint.h>

#include <git2.h>

#include "core/error.h"

enum bisect_answer { BISECT_GOOD, BISECT_BAD, BISECT_SKIP };

enum bisect_verdict {
	BISECT_RUNNING,	     /* not done: run the probes */
	BISECT_CULPRIT,	     /* one first bad commit, supported by the answers */
	BISECT_ONLY_SKIPPED, /* only skipped commits separate good from bad: see `suspects` */
	BISECT_FLAKY,	     /* the answers disagree and do not support a culprit */
	BISECT_ABORTED,	     /* a probe asked to abort (driver only) */
	BISECT_UNCONFIRMED,  /* a culprit whose clean revert did not make the test pass (driver only) */
};

/* --verify-revert: what reverting the culprit on top of the bad commit showed. */
enum bisect_revert {
	BISECT_REVERT_NOT_TRIED,
	BISECT_REVERT_CONFLICT,	    /* it does not revert cleanly: nothing verified */
	BISECT_REVERT_FIXES,	    /* the test passed every time with the revert */
	BISECT_REVERT_DOES_NOT_FIX, /* it failed at least once: verdict BISECT_UNCONFIRMED */
};

struct bisect_search_config {
	unsigned k;	     /* probes per round, >= 1 */
	double noise;	     /* probability that one answer is wrong; 0: trust every answer */
	double confidence;   /* posterior weight to stop at when noise > 0, e.g. 0.995 */
	unsigned retries;    /* confirmation runs of culprit and parent; 0: none */
	unsigned max_probes; /* give up (BISECT_FLAKY) past this many; 0: 64 + 16 x log2(n) */
};

struct bisect_search;

/*
 * Creates a search over `n` candidates (n >= 1; candidate n-1 is the bad
 * tip). The parents of candidate i are parents[parent_start[i] ..
 * parent_start[i+1]-1], each < i (the first one is the first parent);
 * `known_good` (n flags, or NULL) marks boundary candidates. Copies what it
 * needs. On success the caller owns *out and frees it with
 * bisect_search_free(). RP_EINVAL (no hypothesis, a parent >= its child, a bad
 * config), RP_ENOMEM.
 */
int bisect_search_new(size_t n, const uint32_t *parent_start, const uint32_t *parents,
		      const uint8_t *known_good, const struct bisect_search_config *cfg,
		      struct bisect_search **out, struct rp_error *err);

/*
 * The next round: writes up to `max` candidate indices into `probes` (the same
 * index may appear twice when noise > 0) and returns BISECT_RUNNING, or
 * returns the verdict when the search is done (then *count is 0). Call it
 * again only after every probe of the round was answered.
 */
enum bisect_verdict bisect_search_next(struct bisect_search *s, uint32_t *probes, size_t max, size_t *count);

/* Feeds one answer about candidate `index`. */
void bisect_search_answer(struct bisect_search *s, uint32_t index, enum bisect_answer answer);

struct bisect_search_result {
	enum bisect_verdict verdict;
	int64_t culprit;	  /* candidate index, or -1 (FLAKY, ONLY_SKIPPED) */
	int64_t suspect;	  /* the best hypothesis, also when FLAKY; -1 when none */
	int64_t parent;		  /* the culprit's (or suspect's) first parent, or -1 */
	const uint32_t *suspects; /* ONLY_SKIPPED: the commits that could be first bad */
	size_t n_suspects;
	double confidence;	 /* posterior weight of the verdict (1 without noise) */
	unsigned rounds, probes; /* rounds proposed, answers fed */
	int disagreed;		 /* some commit got both answers */
};

/* The result so far; pointers inside are owned by `s`, valid until the next call on it. */
void bisect_search_result(const struct bisect_search *s, struct bisect_search_result *res);

/* Answers fed about candidate `index`: runs (skips excluded) and how many said bad. */
void bisect_search_counts(const struct bisect_search *s, uint32_t index, unsigned *runs, unsigned *bad);

void bisect_search_free(struct bisect_search *s);

/* "culprit", "only-skipped", "flaky", "aborted", "unconfirmed". */
const char *bisect_verdict_name(enum bisect_verdict v);

/* ---- the candidates of a range (both drivers) ---- */

/*
 * The commits after every `goods` up to `bad`, as the search's candidates:
 * the boundary first (the range's parents outside it, known good), then the
 * range in topological order, `bad` last; parent links as the search wants
 * them (first parents only with `first_parent`).
 */
struct bisect_range {
	git_oid *ids; /* candidate index -> commit */
	size_t n;
	uint32_t *parent_start, *parents;
	uint8_t *known_good;
	size_t range_size; /* commits between good and bad, bad included */
};

/* RP_EINVAL for an empty range, RP_EIO for a history that cannot be read, RP_ENOMEM. */
int bisect_range_build(git_repository *repo, const git_oid *bad, const git_oid *goods, size_t n_goods,
		       int first_parent, struct bisect_range *out, struct rp_error *err);
void bisect_range_release(struct bisect_range *r);

/* ---- the standalone driver ---- */

/* What a probe's exit status means, as for `git bisect run`. */
enum bisect_exit_meaning { BISECT_EXIT_GOOD, BISECT_EXIT_BAD, BISECT_EXIT_SKIP, BISECT_EXIT_ABORT };

/* 0 good; 1-124, 126, 127 bad; 125 skip; 128 and above (or a signal: pass -1) abort. */
enum bisect_exit_meaning bisect_exit_meaning(int exit_status);

struct bisect_probe_record;

struct bisect_options {
	const char *repo;	 /* a path inside a git repository (worktree or bare) */
	const char *const *good; /* good revisions, NULL-terminated, at least one */
	const char *bad;	 /* the bad revision */
	const char *const *argv; /* the command: one argument runs as `sh -c ARG`, more run exactly */
	unsigned jobs;		 /* probes at once, >= 1 */
	int first_parent;
	unsigned retries;     /* > 0: noise-aware search and confirmation */
	double noise;	      /* assumed error rate with retries (0: the default, 0.1) */
	const char *work_dir; /* where worktrees go; NULL: $TMPDIR or /tmp */
	const char *log_dir;  /* where logs go; NULL: a new directory under work_dir */
	int keep;	      /* keep the worktrees */
	int verify_revert;    /* revert a culprit on top of bad and expect the test to pass */
	uint64_t timeout_ms;  /* a probe running longer is stopped and counts as a skip; 0: none */
	/* Called after each probe ends, from the driver's thread; may be NULL. */
	void (*on_probe)(const struct bisect_probe_record *rec, void *data);
	void *data;
};

struct bisect_commit {
	char id[41];
	char *author_name, *author_email;
	int64_t author_time;
	int author_offset; /* minutes east of UTC */
	char *subject;
};

struct bisect_probe_record {
	char id[41];
	unsigned round;
	enum bisect_exit_meaning answer;
	int exit_status; /* -1: killed by a signal */
	uint64_t duration_ms;
	char *log_path;
	int revert;    /* this probe ran the culprit's revert on top of the bad commit */
	int timed_out; /* stopped at the timeout: answer BISECT_EXIT_SKIP */
};

struct bisect_report {
	enum bisect_verdict verdict;
	struct bisect_commit first_bad; /* CULPRIT; else the suspect (id "" when none) */
	char parent_id[41];		/* the first bad commit's (or suspect's) first parent */
	unsigned culprit_runs, culprit_bad, parent_runs, parent_bad;
	char (*suspects)[41]; /* ONLY_SKIPPED */
	size_t n_suspects;
	struct bisect_probe_record *probes;
	size_t n_probes;
	unsigned rounds;
	size_t range_size; /* commits between good and bad, bad included */
	uint64_t wall_ms;
	double confidence;
	enum bisect_revert revert;
	unsigned revert_runs, revert_passed;
	char *log_dir;
	char *abort_msg; /* ABORTED: why */
};

/*
 * Runs the whole bisection. Returns 0 when it ran to a verdict (whatever it
 * is, ABORTED included) and fills *rep, which the caller releases with
 * bisect_report_release(); or an error before or outside the search:
 * RP_ENOTFOUND (not a repository, an unknown revision), RP_EINVAL (a good
 * revision that is not an ancestor of bad, an empty range, bad options),
 * RP_EIO (a worktree or log could not be made), RP_ENOMEM.
 */
int bisect_run(const struct bisect_options *opt, struct bisect_report *rep, struct rp_error *err);

void bisect_report_release(struct bisect_report *rep);

#endif
