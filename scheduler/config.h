/*
 * config.h — the scheduler's configuration file (`ripple serve --config FILE`):
 * forges with their tokens and webhook secrets, the nightly schedule, auth,
 * flake re-runs, history sizes.
 *
 * Contract:
 * - One table of settings (config.c) gives every key its type, bounds and
 *   default; the file and the command line set the same settings, the
 *   command line winning. docs/config.md lists them.
 * - config_load_file() validates the whole file: an error is one line
 *   "FILE:LINE:COLUMN: what is wrong; what was expected", with a did-you-mean
 *   for a misspelt key, as the manifest's errors are. Unknown keys are errors.
 * - Secrets (forge tokens, webhook secrets) are never in the file itself: the
 *   file names files holding them (first line), read at load, relative to the
 *   config file's directory. They are kept in memory only, and nothing here
 *   or in its callers ever prints them.
 * - The struct owns every string; config_free() releases it.
 */
#ifndef RIPPLE_SCHEDULER_CONFIG_H
#define RIPPLE_SCHEDULER_CONFIG_H

#include "core/error.h"

enum config_forge_kind { CONFIG_GITHUB, CONFIG_GITLAB, CONFIG_GITEA, CONFIG_N_FORGES };

struct config_forge {
	int enabled;	/* the file has this forge's section */
	char *api_url;	/* e.g. https://api.github.com */
	char *token;	/* for statuses and comments; NULL: no reporting */
	char *secret;	/* webhook secret (GitHub, Gitea) or token (GitLab); NULL: hooks refused */
};

struct serve_config {
	char *public_url;	 /* base of links in statuses and comments; NULL: the server's own URL */
	char *worker_token_file; /* NULL: not set */
	char *api_token_file;
	int public_read;	 /* 0 or 1 */
	int lease_seconds;	 /* 30 */
	int flaky_retries;	 /* runs of each side before a test failure is called a regression; 3 */
	int nightly_enabled;	 /* the file has a nightly section */
	int nightly_hour, nightly_minute; /* "at": the first run of the day, local time */
	int nightly_every_hours;	  /* 24 */
	int nightly_fuzz;		  /* nightlies run the packages' fuzz targets (docs/fuzz.md); 0 */
	int history_daily, history_weekly, history_monthly; /* points kept per resolution: 60, 52, 36 */
	int history_drop_percent; /* a metric this much worse than its last days is reported; 20 */
	int retention_logs_days;  /* logs of runs finished longer ago are deleted; 0 keeps them; 90 */
	int retention_runs_days;  /* runs finished longer ago are deleted whole; 0 keeps them; 0 */
	int bisect_auto;	  /* newly broken and regressed pairs are bisected on their own; 1 */
	int bisect_probes;	  /* commits probed at once in one repository; 4 */
	struct config_forge forges[CONFIG_N_FORGES];
};

/* The defaults of every setting, for a scheduler without a file. */
void config_defaults(struct serve_config *c);

/* Loads and validates `path` over the defaults. On failure *out is NULL and err says where. */
int config_load_file(const char *path, struct serve_config **out, struct rp_error *err);

void config_free(struct serve_config *c);

/* "github", "gitlab", "gitea". */
const char *config_forge_name(enum config_forge_kind kind);

#endif
