/*
 * forge.h — reporting to a forge (GitHub, GitLab, Gitea): a commit status on
 * a PR head and one Markdown comment per PR, over core/http_client.h.
 *
 * Contract:
 * - A `struct forge_client` talks to one forge's REST API with one token. It
 *   is used by one thread at a time (it owns one libcurl handle); the caller
 *   serializes the calls that concern one PR, so two upserts of one PR's
 *   comment never race.
 * - Every call is bounded: all its requests, retries and waits end within the
 *   config's deadline, or sooner when *stop becomes non-zero. It retries 5xx
 *   answers, unreachable servers and rate limits (429, and GitHub's 403 with
 *   X-RateLimit-Remaining: 0 or Retry-After), with exponential backoff and
 *   full jitter, never sooner than the forge asked (Retry-After,
 *   X-RateLimit-Reset, RateLimit-Reset). A rate limit that ends after the
 *   deadline gives up at once, and the client remembers it: later calls
 *   fail fast, without a request, until it has passed.
 * - Return codes: 0, or
 *     RP_EUNREACHABLE  the forge is down, keeps answering 5xx, rate-limits us
 *                      past the deadline, or the caller stopped us. Nothing
 *                      was lost: the caller keeps the report and calls again
 *                      later (a status is set again whole; an upsert still
 *                      finds its comment, by id or by marker);
 *     RP_EAUTH         the forge refused the token (401) or what it may do
 *                      (403 that is no rate limit): fix the config's token;
 *     RP_EINVAL        bad arguments, or the forge refused the request (422,
 *                      400, ...): calling again will not help until the
 *                      input changes;
 *     RP_ENOTFOUND     the forge does not know the repository, commit or PR;
 *     RP_ENOMEM.
 *   `err` says which forge, which request and what the forge answered.
 * - The token is sent only to api_url's server (pagination links elsewhere
 *   are refused) and never appears in an error message: http_client keeps it
 *   out of its own, and the forge client blanks it should a forge echo it.
 * - Texts are made to fit: a description is one line, cut to the forge's
 *   limit (GitHub 140 characters) on a UTF-8 boundary with "…"; a comment is
 *   cut the same way to the forge's body limit. Invalid UTF-8 becomes U+FFFD.
 *
 * Calling sequence:
 *	struct forge_config cfg = { .kind = FORGE_GITHUB, .token = tok, .deadline_ms = 30000, .stop = &stop };
 *	struct forge_client *f;
 *	if (forge_client_new(&cfg, &f, &err) < 0) ...
 *	struct forge_target t = { .repo = "acme/widget", .sha = head };
 *	forge_set_status(f, &t, FORGE_STATE_PENDING, "12 jobs queued", run_url, &err);
 *	... the run ends ...
 *	forge_set_status(f, &t, FORGE_STATE_FAILURE, "2 reverse dependencies regressed, 1 fixed", run_url,
 *&err); struct forge_pr pr = { .repo = "acme/widget", .number = 42 }; int64_t id = stored_id_or_0; if
 *(forge_upsert_comment(f, &pr, NULL, markdown, &id, &err) == 0) ... store id ... forge_client_free(f);
 */
#ifndef RIPPLE_SCHEDULER_FORGE_H
#define RIPPLE_SCHEDULER_FORGE_H

#include <signal.h>
#include <stdint.h>

#include "core/error.h"

enum forge_kind {
	FORGE_GITHUB = 1,
	FORGE_GITLAB,
	FORGE_GITEA,
};

/*
 * What a status says. Each forge has its own words (docs/internals/forge.md):
 *            GitHub   GitLab    Gitea
 *  PENDING   pending  pending   pending
 *  RUNNING   pending  running   pending
 *  SUCCESS   success  success   success
 *  FAILURE   failure  failed    failure
 *  ERROR     error    failed    error
 *  CANCELLED error    canceled  error
 */
enum forge_state {
	FORGE_STATE_PENDING,
	FORGE_STATE_RUNNING,
	FORGE_STATE_SUCCESS,
	FORGE_STATE_FAILURE,
	FORGE_STATE_ERROR, /* infrastructure: nothing is blamed on the code */
	FORGE_STATE_CANCELLED,
};

/* The marker at the start of ripple's comment, when the caller gives none. */
#define FORGE_MARKER_DEFAULT "<!-- ripple:report -->"

struct forge_config {
	enum forge_kind kind;
	/*
	 * The API's root, version prefix included: "https://api.github.com" (GitHub
	 * Enterprise: "https://HOST/api/v3"), "https://gitlab.example/api/v4",
	 * "https://gitea.example/api/v1". NULL: api.github.com or gitlab.com's; a
	 * Gitea has no default.
	 */
	const char *api_url;
	const char *token;    /* required; copied. GitHub: "Authorization: Bearer", GitLab: PRIVATE-TOKEN,
				 Gitea: "Authorization: token" */
	const char *context;  /* the status's name (GitHub/Gitea context, GitLab name); NULL: "ripple" */
	uint64_t deadline_ms; /* one call's bound, retries and waits included; 0: 60 s */
	const volatile sig_atomic_t *stop; /* non-zero: give up now with RP_EUNREACHABLE; may be NULL */
	uint64_t retry_base_ms;		   /* the first backoff's upper bound; 0: 500 ms */
	uint64_t retry_cap_ms;		   /* the largest backoff; 0: 30 s */
	uint64_t request_timeout_ms;	   /* one request (also bounded by the deadline); 0: 30 s */
};

struct forge_client;

/* Makes a client; the caller owns *out and frees it with forge_client_free(). RP_EINVAL, RP_ENOMEM. */
int forge_client_new(const struct forge_config *cfg, struct forge_client **out, struct rp_error *err);
void forge_client_free(struct forge_client *f);

/* A commit: repo is "owner/name" (GitLab: the project's full path "group/sub/name", or its numeric id). */
struct forge_target {
	const char *repo;
	const char *sha; /* the full commit id: 40 (or 64) hex digits */
};

/* A pull request (GitHub, Gitea: its number) or merge request (GitLab: its iid) of `repo`. */
struct forge_pr {
	const char *repo;
	int64_t number;
};

/*
 * Sets the status named by the config's context on t->sha to `state`, with
 * `description` (NULL: none; made one line and cut to the forge's limit) and
 * `target_url` (NULL: none; http:// or https:// only). The forge keeps the
 * last status of a context, so setting it again is harmless. Returns 0 or a
 * code of the contract.
 */
int forge_set_status(struct forge_client *f, const struct forge_target *t, enum forge_state state,
		     const char *description, const char *target_url, struct rp_error *err);

/*
 * Makes ripple's one comment on the PR say `markdown`, creating it only when
 * there is none: the body is `marker` (NULL: FORGE_MARKER_DEFAULT; one line,
 * hidden in Markdown, e.g. an HTML comment), a newline and `markdown`.
 * *comment_id is in: the id the caller knows, or 0; out: the comment's id.
 * - A known id is edited in place; if the forge says 404 (someone deleted it),
 *   it is looked up by marker as below.
 * - Without an id, every page of the PR's comments is read, oldest first, and
 *   the first whose body starts with the marker is edited; only when there is
 *   none is a comment created. A create whose answer is lost (5xx, timeout)
 *   is not blindly sent again: the comments are read again first.
 * On an error *comment_id is left as it was. Returns 0 or a code of the contract.
 */
int forge_upsert_comment(struct forge_client *f, const struct forge_pr *pr, const char *marker,
			 const char *markdown, int64_t *comment_id, struct rp_error *err);

/* "github", "gitlab", "gitea" (NULL for anything else); and back, 0 when unknown. */
const char *forge_kind_name(enum forge_kind kind);
enum forge_kind forge_kind_parse(const char *name);

#endif
