/*
 * webhook.h — deliveries from GitHub, GitLab and Gitea (POST /hooks/FORGE):
 * verified as each forge documents it, then turned into runs.
 *
 * Contract:
 * - webhook_handle() verifies the delivery before reading it: GitHub's
 *   X-Hub-Signature-256 ("sha256=" + hex HMAC-SHA256 of the raw body with the
 *   webhook secret), Gitea's X-Gitea-Signature (hex HMAC-SHA256, no prefix),
 *   GitLab's X-Gitlab-Token (the secret itself); compared in constant time.
 *   A forge without a configured secret, an unsigned or a mis-signed
 *   delivery is RP_EAUTH (401) and nothing is stored.
 * - Pull requests opened, synchronized and reopened (GitLab: merge requests
 *   opened, updated with new commits, reopened) of a repository that is a
 *   package's become a `pr` run: that package at the head commit against the
 *   latest nightly's pins, change_ref "FORGE:OWNER/REPO#N", which supersedes
 *   the pull request's earlier unfinished run. A pull request from a fork
 *   runs only on targets whose runner isolates it (never `process`). Closing
 *   (or merging) cancels the pull request's unfinished runs. A push to a
 *   package's branch runs that package's reverse dependencies at the new
 *   head. Anything else is acknowledged and ignored, with the reason.
 * - A delivery is idempotent: the run it plans carries the request id
 *   "hook:FORGE:DELIVERY", so a redelivery finds that run instead of planning
 *   another.
 * - *out is the answer's document: {"run": ID, "created": BOOL},
 *   {"cancelled": N} or {"ignored": "why"}.
 */
#ifndef RIPPLE_SCHEDULER_WEBHOOK_H
#define RIPPLE_SCHEDULER_WEBHOOK_H

#include <stddef.h>

#include <jansson.h>

#include "core/error.h"
#include "farm.h"
#include "scheduler/config.h"

/* Looks a request header up by name (case-insensitive); NULL when absent. */
typedef const char *(*webhook_header_fn)(void *ctx, const char *name);

int webhook_handle(struct farm *f, const struct serve_config *cfg, enum config_forge_kind forge,
		   webhook_header_fn header, void *ctx, const char *body, size_t len, json_t **out,
		   struct rp_error *err);

/* "github" → CONFIG_GITHUB ...; -1 for another name. */
int webhook_forge_of(const char *name, size_t len);

#endif
