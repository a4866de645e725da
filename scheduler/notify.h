/*
 * notify.h — delivers what the scheduler owes the outside world: the commit
 * statuses and the one comment of each pull request's run (forge.h), and the
 * JSON webhooks a nightly fires for the packages it newly broke.
 *
 * Contract:
 * - What is owed lives in the store (core/store.h, "what is owed"), written
 *   in the transaction that made it owed; this module only reads what is due,
 *   sends it on its own thread, outside the farm's lock, and records the
 *   outcome. A forge or a receiver that is down delays a report, never loses
 *   it: a failed delivery is tried again with a growing pause (1 s doubling
 *   to 5 minutes), through restarts of the scheduler; while a forge is
 *   unreachable its other reports wait with the one that found it down, so
 *   they do not each spend a call's deadline and other forges' reports go
 *   out meanwhile. A forge that keeps refusing (a 4xx that is no rate limit,
 *   a bad token) is given up on after 20 tries (about an hour), a package's
 *   receiver after a day, with the reason kept in the store and said to
 *   on_line.
 * - A pull request's run: "pending" on its head while it runs (skipped when
 *   it ended before the first delivery), then the final status — failure
 *   when a pair regressed, success otherwise — with a one-line summary such
 *   as "2 reverse dependencies regressed, 1 fixed" and a link to the run,
 *   and the run's Markdown report as the PR's one comment, edited in place
 *   on later runs. A cancelled run (superseded, closed) gets "cancelled".
 * - A nightly: once it ended, its notifications are made (farm.h,
 *   farm_owe_notifications) and each is POSTed with the headers
 *   X-Ripple-Event and X-Ripple-Delivery (docs/manifest.md); 2xx ends it.
 * - Tokens are never written to on_line.
 *
 * Calling sequence:
 *	struct notify_options o = { .farm = f, .config = cfg, .base_url = url, .on_line = say, .data = d };
 *	struct notify *n;
 *	if (notify_start(&o, &n, &err) < 0) ...
 *	...
 *	notify_stop(n);   (joins the thread; what is not sent stays owed)
 */
#ifndef RIPPLE_SCHEDULER_NOTIFY_H
#define RIPPLE_SCHEDULER_NOTIFY_H

#include <stdint.h>

#include "core/error.h"
#include "scheduler/config.h"
#include "scheduler/farm.h"

struct notify_options {
	struct farm *farm;
	const struct serve_config *config; /* the forges' API URLs and tokens; NULL: no forge */
	const char *base_url;		   /* links in statuses, comments and payloads; copied */
	uint64_t call_deadline_ms;	   /* one forge call or webhook POST, retries included; 0: 10 s */
	void (*on_line)(const char *line, void *data);
	void *data;
};

struct notify;

int notify_start(const struct notify_options *o, struct notify **out, struct rp_error *err);

/* Stops the thread (an HTTP call in progress is aborted) and frees `n`; NULL is a no-op. */
void notify_stop(struct notify *n);

/*
 * The status a finished pull request's run gets, from its report (farm.h,
 * farm_run_report): FORGE_STATE_FAILURE when a pair regressed, else
 * FORGE_STATE_SUCCESS; `line` receives the summary ("2 reverse dependencies
 * regressed, 1 fixed"). `changed` names the package the PR changes, so its
 * own pairs are not counted as reverse dependencies. Returns the state.
 */
int notify_summary(const json_t *report, const char *changed, char *line, size_t cap);

#endif
