/*
 * step.h — run one job step: a child process on a libuv loop, with timeouts,
 * an output cap and a timestamped log.
 *
 * Contract:
 * - A step runs `/bin/sh -c SCRIPT` (or an exact argv, which backends use to
 *   wrap the shell in a sandbox) with exactly the environment the caller gives
 *   (nothing is inherited; /bin/sh itself adds PWD), in the directory it
 *   gives, with stdin on /dev/null.
 *   The child is the leader of a new session and process group (setsid), so
 *   the step and every process it starts can be signalled as one group.
 * - stdout and stderr are both the write end of ONE pipe, so lines keep the
 *   order in which they were written (unless `stdout_path` sends stdout to a
 *   file of its own: then the log is stderr alone). Each log line is prefixed with the
 *   seconds elapsed since the step started, as "[   1.234] ". The log is
 *   streamed to `on_output` as it is read (chunk and byte offset in the log)
 *   and, when `log_path` is set, written to that file.
 * - The output cap bounds the log itself (prefixes included): the log never
 *   holds more than `output_cap` bytes before a single truncation marker line
 *   ("[   1.234] ripple: output truncated at N bytes; the middle is dropped").
 *   Past the cap the output is read and counted, and its last
 *   STEP_TAIL_KEEP bytes are kept: when the step ends they follow a second
 *   marker ("ripple: the last N bytes of output follow"), from their first
 *   line start, so the error that ended a long log is still in it. Those
 *   lines carry the time the step ended, not the time they were written.
 * - A wall-clock timeout, a no-output timeout and step_cancel() all end the
 *   step the same way: SIGTERM to the whole process group, then SIGKILL to it
 *   once `grace_ms` have passed. When the step's own process exits while other
 *   members of its group still run (`sleep 1000 &`), they get the same
 *   SIGTERM-then-SIGKILL: no process of the group outlives the step.
 *   (A process that leaves the group with setsid() escapes this; the sandbox
 *   backend closes that hole with a PID namespace.)
 * - `done` is called exactly once per successful step_start(), from the loop,
 *   after the child was reaped, the output was read to its end (or abandoned
 *   SIGKILL + grace after a holder outside the group kept it open) and every
 *   libuv handle of the step was closed. The struct step is freed when `done`
 *   returns. An error return from step_start() means `done` never fires and
 *   nothing is left running.
 * - Any number of steps may run at once on one loop; one loop is used by one
 *   thread. Nothing here prints, exits or installs signal handlers.
 *
 * Calling sequence (asynchronous):
 *	struct step_spec spec = { .script = "make", .cwd = dir, .env = env,
 *				  .timeout_ms = 1800000, .on_output = upload };
 *	struct step *s;
 *	if (step_start(loop, &spec, on_done, ctx, &s, &err) < 0) ...err.msg...
 *	... uv_run(loop) ...; step_cancel(s) at any time before on_done ...
 *	on_done(s, res, ctx): res->status, res->exit_status, res->duration_ms ...
 *
 * Blocking: step_run_sync(&spec, ctx, &res, &err) runs one step on a loop of its own.
 *
 * Design notes: docs/internals/steps.md.
 */
#ifndef RIPPLE_RUNNER_STEP_H
#define RIPPLE_RUNNER_STEP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <uv.h>

#include "core/error.h"

#define STEP_OUTPUT_CAP_DEFAULT (16u << 20)
/* What a log keeps of the output past its cap: the end, where the error usually is. */
#define STEP_TAIL_KEEP (64u << 10)
#define STEP_GRACE_MS_DEFAULT 5000u
/* The log line prefix "[SSSS.mmm] " for steps shorter than 10,000 s. */
#define STEP_STAMP_LEN 11

struct step;

/*
 * Resource limits of the step's shell and, inherited, of every process it
 * starts. 0 leaves a limit as the parent had it. Each is set as both soft and
 * hard limit in the shell before the script runs, so the script cannot raise
 * it. They are per process (RLIMIT_*), not per step: CPU time is counted per
 * process, and `file_size` bounds each file written, not their sum.
 */
struct step_limits {
	uint64_t cpu_seconds;	/* RLIMIT_CPU: SIGXCPU past it */
	uint64_t address_space; /* RLIMIT_AS, bytes (rounded down to KiB) */
	uint64_t open_files;	/* RLIMIT_NOFILE */
	uint64_t file_size;	/* RLIMIT_FSIZE, bytes (rounded down to 512): SIGXFSZ/EFBIG past it */
};

enum step_status {
	STEP_PASSED,	/* exited with status 0 */
	STEP_FAILED,	/* exited with another status, or killed by a signal it did not get from us */
	STEP_TIMED_OUT, /* the wall-clock or the no-output timeout fired */
	STEP_CANCELLED, /* step_cancel() was called first */
};

enum step_timeout { STEP_TIMEOUT_NONE, STEP_TIMEOUT_WALL, STEP_TIMEOUT_IDLE };

struct step_result {
	enum step_status status;
	int exit_status;	   /* when the process exited; -1 when killed by a signal */
	int term_signal;	   /* the signal that killed the step's own process; 0 when it exited */
	enum step_timeout timeout; /* which timeout fired, if one did */
	int cancelled;		   /* step_cancel() ended it */
	int killed;		   /* SIGKILL had to be sent to the group */
	int leftovers;		   /* processes of the group were still running when the step's process
				      exited; they were terminated */
	uint64_t duration_ms;	   /* start to the step's process exit */
	uint64_t output_bytes;	   /* bytes the step wrote to stdout and stderr, dropped ones included */
	uint64_t log_bytes;	   /* bytes of the log: prefixes and the marker included */
	int truncated;		   /* the output cap was reached */
	int lost;		   /* the process was reaped by someone else: its exit status is unknown */
	int log_errno;		   /* the first error writing log_path (an errno), or 0 */
	uint64_t started_ns;	   /* uv_hrtime() just before the spawn: time 0 of the log */
	uint64_t ended_ns;	   /* uv_hrtime() when it exited */
	/*
	 * Set by a backend (never by step.c): the step could not run as asked for
	 * a reason of the machine's (a guest that ended without reporting), one
	 * line; the result says nothing of the code. "" otherwise.
	 */
	char error[512];
};

/* `chunk` is borrowed for the call; `offset` is its position in the log. */
typedef void (*step_output_cb)(struct step *step, const char *chunk, size_t len, uint64_t offset, void *data);
/* `res` and `step` are valid during the call only; the step is freed after it. */
typedef void (*step_done_cb)(struct step *step, const struct step_result *res, void *data);

struct step_spec {
	const char *script;	   /* run as /bin/sh -c SCRIPT; ignored when argv is set */
	const char *const *argv;   /* NULL-terminated exact command line (argv[0] a path); or NULL */
	const char *cwd;	   /* NULL: the caller's current directory */
	const char *const *env;	   /* NULL-terminated "NAME=VALUE" list: the WHOLE environment; NULL: empty */
	struct step_limits limits; /* applied only to `script` (see step_shell_argv() for argv) */
	uint64_t timeout_ms;	   /* wall clock; 0: none */
	uint64_t idle_timeout_ms;  /* no output for this long; 0: none */
	uint64_t output_cap;	   /* bytes of log; 0: STEP_OUTPUT_CAP_DEFAULT */
	uint64_t grace_ms;	   /* SIGTERM to SIGKILL; 0: STEP_GRACE_MS_DEFAULT */
	const char *log_path;	   /* NULL: no file; else created or truncated, mode 0644 */
	const char *stdout_path;   /* set: stdout goes to this file (created or truncated, 0644) as it is,
				      and only stderr to the log; for tools whose output is data */
	step_output_cb on_output;  /* NULL: none; called with the step_start() `data` */
	/*
	 * For backends: what "SIGTERM the step" means when the spawned process is
	 * not the step's shell (a sandbox's supervisor). Called with the spawned
	 * process's pid; returns 0 when it delivered the SIGTERM, < 0 to fall back
	 * to kill(-pid, SIGTERM). SIGKILL always goes to the whole group.
	 */
	int (*terminate)(pid_t leader);
};

/*
 * Starts the step on `loop`. On success *out is the running step, valid until
 * `done` returns; every string of `spec` may be freed as soon as this returns.
 * Errors: RP_EINVAL (no script nor argv, a NULL loop or callback), RP_EIO (the
 * log file cannot be created, the pipe or the process cannot be made: a
 * missing cwd or program is reported here, naming it), RP_ENOMEM.
 */
int step_start(uv_loop_t *loop, const struct step_spec *spec, step_done_cb done, void *data,
	       struct step **out, struct rp_error *err);

/*
 * Asks a running step to stop: SIGTERM to its group now, SIGKILL after the
 * grace period; `done` follows with status STEP_CANCELLED (unless the step had
 * already timed out or exited). Idempotent; call only before `done` returned.
 */
void step_cancel(struct step *step);

/* The pid of the step's process (the group and session id); 0 once it exited. */
pid_t step_pid(const struct step *step);

/*
 * Runs one step to its end on a private loop and fills *res; `data` goes to
 * spec->on_output. Returns 0 when the step ran (whatever its status) or
 * step_start()'s error.
 */
int step_run_sync(const struct step_spec *spec, void *data, struct step_result *res, struct rp_error *err);

/*
 * The path of program `name` as execvp would find it: `name` itself when it
 * holds a '/', else the first executable regular file of that name in $PATH
 * (or /usr/local/bin:/usr/bin:/bin). 1 and `out` filled, or 0.
 */
int step_find_program(const char *name, char *out, size_t size);

/*
 * The argv that runs `script` under `limits` with /bin/sh:
 *   {"/bin/sh", "-c", SCRIPT, NULL} without limits, else
 *   {"/bin/sh", "-c", "ulimit -t N && ... || exit 125; exec /bin/sh -c \"$1\"", "sh", SCRIPT, NULL}.
 * Backends append it to their own command line. On success the caller frees
 * *argv_out with step_argv_free(). RP_ENOMEM.
 */
int step_shell_argv(const char *script, const struct step_limits *limits, char ***argv_out,
		    struct rp_error *err);

void step_argv_free(char **argv);

/* "passed", "failed", "timed out", "cancelled". */
const char *step_status_name(enum step_status status);

#endif
