/*
 * serve.h — `ripple serve`: the scheduler's HTTP server (docs/api.md) over
 * the farm (farm.h), and the local workers it may start.
 *
 * Contract: serve_run() opens the store and the universe, starts the HTTP
 * server (libmicrohttpd, a thread per connection; long-polls and live-log
 * streams block their own connection's thread), a tick thread that expires
 * leases, and `local_workers` worker processes; it calls on_ready with the
 * server's URL once requests are accepted, then serves until *stop becomes
 * non-zero (set it from a signal handler), then stops the workers (SIGTERM,
 * then SIGKILL after a grace), the server and the farm, and returns 0.
 * Nothing here prints: lines for the operator go to `on_line`.
 *
 * Tokens: each token file's first line is the token. When a file is not
 * given, serve_run() makes one beside the database (PATH.worker-token,
 * PATH.api-token, mode 0600) holding 32 random bytes in hex, unless it
 * exists; only SHA-256 digests are kept in memory.
 */
#ifndef RIPPLE_SCHEDULER_SERVE_H
#define RIPPLE_SCHEDULER_SERVE_H

#include <signal.h>
#include <stdint.h>

#include "core/error.h"
#include "scheduler/config.h"

struct serve_options {
	const char *db_path;
	const char *listen;	       /* "ADDR:PORT", "[V6ADDR]:PORT"; port 0 picks one */
	const char *universe_path;
	const char *cache_dir;	       /* NULL: PATH.cache beside the database */
	const char *worker_token_file; /* NULL: made beside the database */
	const char *api_token_file;    /* NULL: made beside the database */
	int public_read;	       /* reading endpoints need no token */
	int64_t lease_ms;	       /* 0: 30 s */
	unsigned local_workers;	       /* `ripple worker` processes to start */
	unsigned worker_slots;	       /* slots of each local worker; 0: 1 */
	const char *self_exe;	       /* the ripple binary the local workers run */
	const struct serve_config *config; /* forges, webhook secrets, links; NULL: defaults */
	void (*on_ready)(const char *url, void *data);
	void (*on_line)(const char *line, void *data);
	void *data;
};

int serve_run(const struct serve_options *o, volatile sig_atomic_t *stop, struct rp_error *err);

#endif
