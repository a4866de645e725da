/*
 * Unit tests of steps: real /bin/sh children on real libuv loops. Exit status
 * and signals, both timeouts, the output cap, the timestamped merged log,
 * cancelling a whole process group, concurrency on one loop, the exact
 * environment and the rlimits.
 */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner/step.h"
#include "check_main.h"
#include "core/banned.h"

static char root[PATH_MAX];

static void setup(void)
{
	check_tmpdir_make(root, "step");
}

static void teardown(void)
{
	check_tmpdir_remove(root);
}

static const char *at(const char *rel)
{
	return check_path(root, rel);
}

/* What a step wrote, as the output callback saw it. */
struct capture {
	char *log;
	size_t len;
	uint64_t next_offset;  /* offsets must be contiguous */
	const char *cancel_on; /* step_cancel() once the log holds this */
	int cancelled;
	struct step_result res;
	int done_calls;
};

static void on_output(struct step *s, const char *chunk, size_t len, uint64_t offset, void *data)
{
	struct capture *c = data;
	ck_assert_uint_eq(offset, c->next_offset);
	c->next_offset += len;
	c->log = realloc(c->log, c->len + len + 1);
	ck_assert_ptr_nonnull(c->log);
	memcpy(c->log + c->len, chunk, len);
	c->len += len;
	c->log[c->len] = '\0';
	if (c->cancel_on && !c->cancelled && strstr(c->log, c->cancel_on)) {
		c->cancelled = 1;
		step_cancel(s);
		step_cancel(s); /* idempotent */
	}
}

static void on_done(struct step *s, const struct step_result *res, void *data)
{
	struct capture *c = data;
	c->res = *res;
	c->done_calls++;
}

static const char *const base_env[] = {"PATH=/usr/bin:/bin", NULL};

/* Runs `script` on a loop of its own with the test's defaults. */
static void run(const char *script, struct step_spec *spec, struct capture *c)
{
	uv_loop_t loop;
	struct step *s;
	struct rp_error err;
	spec->script = script;
	if (!spec->env)
		spec->env = base_env;
	spec->on_output = on_output;
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	ck_assert_msg(step_start(&loop, spec, on_done, c, &s, &err) == 0, "%s", err.msg);
	ck_assert_int_gt(step_pid(s), 0);
	ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(uv_loop_close(&loop), 0); /* every handle closed */
	ck_assert_int_eq(c->done_calls, 1);
	ck_assert_uint_eq(c->res.log_bytes, c->len);
}

/* The log without its "[SSSS.mmm] " prefixes; checks each prefix's shape. */
static char *strip_stamps(const char *log)
{
	static char out[1 << 16];
	size_t o = 0;
	const char *p = log;
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) + 1 : strlen(p);
		ck_assert_msg(len >= STEP_STAMP_LEN && p[0] == '[' && p[5] == '.' && p[9] == ']' &&
				  p[10] == ' ',
			      "bad stamp in: %.*s", (int)len, p);
		memcpy(out + o, p + STEP_STAMP_LEN, len - STEP_STAMP_LEN);
		o += len - STEP_STAMP_LEN;
		p += len;
	}
	out[o] = '\0';
	return out;
}

/* Alive = in /proc and not a zombie (an orphan's zombie waits for a reaping init). */
static int alive(pid_t pid)
{
	char path[64], buf[256];
	FILE *f;
	char *paren;
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	buf[0] = '\0';
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	paren = strrchr(buf, ')');
	return paren && paren[1] == ' ' && paren[2] != 'Z' && paren[2] != 'X';
}

START_TEST(test_exit_status)
{
	struct step_spec spec = {0};
	struct capture c = {0};
	run("echo hi; exit 7", &spec, &c);
	ck_assert_int_eq(c.res.status, STEP_FAILED);
	ck_assert_int_eq(c.res.exit_status, 7);
	ck_assert_int_eq(c.res.term_signal, 0);
	ck_assert_int_eq(c.res.timeout, STEP_TIMEOUT_NONE);
	ck_assert_int_eq(c.res.cancelled, 0);
	ck_assert_int_eq(c.res.killed, 0);
	ck_assert_uint_eq(c.res.output_bytes, 3);
	ck_assert_str_eq(strip_stamps(c.log), "hi\n");
	free(c.log);

	struct step_spec ok = {0};
	struct capture c2 = {0};
	run("true", &ok, &c2);
	ck_assert_int_eq(c2.res.status, STEP_PASSED);
	ck_assert_int_eq(c2.res.exit_status, 0);
	ck_assert_uint_eq(c2.res.log_bytes, 0);
	ck_assert_ptr_null(c2.log);
	ck_assert_str_eq(step_status_name(c2.res.status), "passed");
}
END_TEST

START_TEST(test_signal)
{
	struct step_spec spec = {0};
	struct capture c = {0};
	run("kill -USR1 $$; sleep 5", &spec, &c);
	ck_assert_int_eq(c.res.status, STEP_FAILED);
	ck_assert_int_eq(c.res.term_signal, SIGUSR1);
	ck_assert_int_eq(c.res.exit_status, -1);
	ck_assert_int_eq(c.res.timeout, STEP_TIMEOUT_NONE);
	ck_assert_ptr_null(c.log);
}
END_TEST

START_TEST(test_wall_timeout)
{
	/* The shell dies of the SIGTERM. */
	struct step_spec spec = {.timeout_ms = 300, .grace_ms = 5000};
	struct capture c = {0};
	run("echo start; sleep 30", &spec, &c);
	ck_assert_int_eq(c.res.status, STEP_TIMED_OUT);
	ck_assert_str_eq(step_status_name(c.res.status), "timed out");
	ck_assert_int_eq(c.res.timeout, STEP_TIMEOUT_WALL);
	ck_assert_int_eq(c.res.term_signal, SIGTERM);
	ck_assert_int_eq(c.res.killed, 0);
	ck_assert_uint_ge(c.res.duration_ms, 300);
	ck_assert_uint_lt(c.res.duration_ms, 300 + 5000); /* well inside the grace period */
	free(c.log);
}
END_TEST

START_TEST(test_wall_timeout_kill)
{
	/* Everything ignores SIGTERM: SIGKILL once the grace period is over. */
	struct step_spec spec = {.timeout_ms = 300, .grace_ms = 400};
	struct capture c = {0};
	run("trap '' TERM; sleep 30; echo never", &spec, &c);
	ck_assert_int_eq(c.res.status, STEP_TIMED_OUT);
	ck_assert_int_eq(c.res.timeout, STEP_TIMEOUT_WALL);
	ck_assert_int_eq(c.res.term_signal, SIGKILL);
	ck_assert_int_eq(c.res.killed, 1);
	ck_assert_uint_ge(c.res.duration_ms, 300 + 400);
	ck_assert_uint_lt(c.res.duration_ms, 300 + 400 + 1000);
	ck_assert_ptr_null(c.log);
}
END_TEST

START_TEST(test_idle_timeout)
{
	/* Gaps of 0.4 s against a limit of 1.5 s: a loaded machine's pauses stay inside the margin. */
	struct step_spec spec = {.idle_timeout_ms = 1500, .grace_ms = 1000};
	struct capture c = {0};
	run("echo a; sleep 0.4; echo b; sleep 0.4; echo c; sleep 30", &spec, &c);
	ck_assert_int_eq(c.res.status, STEP_TIMED_OUT);
	ck_assert_int_eq(c.res.timeout, STEP_TIMEOUT_IDLE);
	ck_assert_str_eq(strip_stamps(c.log), "a\nb\nc\n");
	/* Output every 0.4 s kept it alive past 1.5 s: c came at 0.8 s, the limit counts from there. */
	ck_assert_uint_ge(c.res.duration_ms, 800 + 1500);
	free(c.log);

	struct step_spec busy = {.idle_timeout_ms = 1500};
	struct capture c2 = {0};
	run("for i in 1 2 3 4 5 6 7 8; do echo $i; sleep 0.4; done", &busy, &c2);
	ck_assert_int_eq(c2.res.status, STEP_PASSED);
	free(c2.log);
}
END_TEST

START_TEST(test_output_cap)
{
	static const char marker[] = "ripple: output truncated at 1000 bytes; the middle is dropped\n";
	static const char tail_marker[] = "ripple: the last 5 bytes of output follow\n";
	struct step_spec spec = {.output_cap = 1000, .log_path = at("step.log")};
	struct capture c = {0};
	char *file;
	FILE *f;
	run("head -c 5000 /dev/zero | tr '\\0' a; echo; echo done; exit 3", &spec, &c);
	/* The cap does not stop the step. */
	ck_assert_int_eq(c.res.status, STEP_FAILED);
	ck_assert_int_eq(c.res.exit_status, 3);
	ck_assert_int_eq(c.res.truncated, 1);
	ck_assert_uint_eq(c.res.output_bytes, 5000 + 1 + 5);
	/*
	 * 1000 bytes of log (an 11-byte stamp and 989 a's), a newline, the stamped
	 * marker; then the end of the output from its first line start: the tail
	 * marker and "done", each stamped.
	 */
	ck_assert_uint_eq(c.res.log_bytes, 1000 + 1 + STEP_STAMP_LEN + strlen(marker) + STEP_STAMP_LEN +
						   strlen(tail_marker) + STEP_STAMP_LEN + 5);
	ck_assert_uint_eq(c.len, c.res.log_bytes);
	for (size_t i = STEP_STAMP_LEN; i < 1000; i++)
		ck_assert_int_eq(c.log[i], 'a');
	ck_assert_int_eq(c.log[1000], '\n');
	ck_assert_int_eq(strncmp(c.log + 1001 + STEP_STAMP_LEN, marker, strlen(marker)), 0);
	const char *rest = c.log + 1001 + STEP_STAMP_LEN + strlen(marker);
	ck_assert_int_eq(strncmp(rest + STEP_STAMP_LEN, tail_marker, strlen(tail_marker)), 0);
	rest += STEP_STAMP_LEN + strlen(tail_marker);
	ck_assert_int_eq(strncmp(rest + STEP_STAMP_LEN, "done\n", 5), 0);
	/* The log file holds the same bytes. */
	f = fopen(at("step.log"), "r");
	ck_assert_ptr_nonnull(f);
	file = calloc(1, c.len + 16);
	ck_assert_uint_eq(fread(file, 1, c.len + 16, f), c.len);
	fclose(f);
	ck_assert_int_eq(memcmp(file, c.log, c.len), 0);
	ck_assert_int_eq(c.res.log_errno, 0);
	free(file);
	free(c.log);

	/* Cut at a line start: the kept tail begins with the next whole line. */
	struct step_spec at_line = {.output_cap = STEP_STAMP_LEN + 13};
	struct capture c3 = {0};
	run("printf '0123456789ab\\nERROR: real\\nlast\\n'", &at_line, &c3);
	ck_assert_int_eq(c3.res.truncated, 1);
	ck_assert_ptr_nonnull(strstr(c3.log, "ripple: the last 17 bytes of output follow\n"));
	ck_assert_ptr_nonnull(strstr(c3.log, "] ERROR: real\n"));
	ck_assert_ptr_nonnull(strstr(c3.log, "] last\n"));
	free(c3.log);

	/* Exactly at the cap: nothing is truncated. */
	struct step_spec exact = {.output_cap = STEP_STAMP_LEN + 4};
	struct capture c2 = {0};
	run("echo abc", &exact, &c2);
	ck_assert_int_eq(c2.res.truncated, 0);
	ck_assert_uint_eq(c2.res.log_bytes, STEP_STAMP_LEN + 4);
	free(c2.log);
}
END_TEST

START_TEST(test_merged_log)
{
	struct step_spec spec = {.log_path = at("merged.log")};
	struct capture c = {0};
	const char *p;
	double stamps[5];
	int n = 0;
	run("echo out1; echo err1 >&2; echo out2; sleep 0.3; echo err2 >&2; printf 'no newline'", &spec, &c);
	ck_assert_int_eq(c.res.status, STEP_PASSED);
	ck_assert_str_eq(strip_stamps(c.log), "out1\nerr1\nout2\nerr2\nno newline");
	for (p = c.log; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		ck_assert_int_lt(n, 5);
		stamps[n++] = strtod(p + 1, NULL);
	}
	ck_assert_int_eq(n, 5);
	for (int i = 1; i < n; i++)
		ck_assert(stamps[i] >= stamps[i - 1]);
	ck_assert(stamps[3] >= 0.3);
	/* Stamped as read, not at the end: part of the 0.3 s sleep lies between them (a loaded machine reads late). */
	ck_assert(stamps[3] - stamps[2] >= 0.05);
	ck_assert_uint_eq(c.res.output_bytes, strlen("out1\nerr1\nout2\nerr2\nno newline"));
	free(c.log);
}
END_TEST

/* stdout_path: stdout is data, kept as it is in its own file; the log has stderr alone. */
START_TEST(test_stdout_to_file)
{
	struct step_spec spec = {.log_path = at("err.log"), .stdout_path = at("out.json")};
	struct capture c = {0};
	run("echo '{\"a\": 1}'; echo warning >&2; printf '{\"b\": 2}'", &spec, &c);
	ck_assert_int_eq(c.res.status, STEP_PASSED);
	ck_assert_str_eq(strip_stamps(c.log), "warning\n");
	FILE *f = fopen(at("out.json"), "r");
	char buf[64] = "";
	ck_assert_ptr_nonnull(f);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	ck_assert_str_eq(buf, "{\"a\": 1}\n{\"b\": 2}");
	free(c.log);
	/* A file that cannot be made is a start error, as a log is; nothing is left on the loop. */
	struct capture c2 = {0};
	struct step_spec bad = {.script = "true", .stdout_path = at("missing/out"), .env = base_env};
	struct step *s;
	struct rp_error err;
	uv_loop_t loop;
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	ck_assert_int_eq(step_start(&loop, &bad, on_done, &c2, &s, &err), RP_EIO);
	ck_assert_ptr_nonnull(strstr(err.msg, "missing/out"));
	ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	ck_assert_int_eq(c2.done_calls, 0);
}
END_TEST

static void read_pids(const char *path, pid_t *pids, int *n)
{
	FILE *f = fopen(path, "r");
	long v;
	*n = 0;
	ck_assert_ptr_nonnull(f);
	while (*n < 16 && fscanf(f, "%ld", &v) == 1)
		pids[(*n)++] = (pid_t)v;
	fclose(f);
}

START_TEST(test_cancel_group)
{
	struct step_spec spec = {.grace_ms = 500, .timeout_ms = 20000};
	struct capture c = {.cancel_on = "ready"};
	char script[2048];
	pid_t pids[16];
	int n;
	/* Background children, grandchildren in subshells and a shell that ignores SIGTERM. */
	snprintf(script, sizeof(script),
		 "P='%s'\n"
		 "sleep 1000 & echo $! >> \"$P\"\n"
		 "(sleep 1000 & echo $! >> \"$P\"; wait) &\n"
		 "(trap '' TERM; sleep 1000 & echo $! >> \"$P\"; wait) &\n"
		 "sh -c 'sleep 1000 & echo $! >> \"$1\"; wait' sh \"$P\" &\n"
		 "(sleep 1000 >/dev/null 2>&1 & echo $! >> \"$P\") &\n"
		 "while [ \"$(wc -l < \"$P\")\" -lt 5 ]; do sleep 0.01; done\n"
		 "echo ready\n"
		 "wait\n",
		 at("pids"));
	run(script, &spec, &c);
	ck_assert_int_eq(c.res.status, STEP_CANCELLED);
	ck_assert_str_eq(step_status_name(c.res.status), "cancelled");
	ck_assert_int_eq(c.res.cancelled, 1);
	ck_assert_int_eq(c.res.timeout, STEP_TIMEOUT_NONE);
	ck_assert_int_eq(c.res.killed, 1); /* one sleep ignored SIGTERM */
	ck_assert_uint_lt(c.res.duration_ms, 5000);
	read_pids(at("pids"), pids, &n);
	ck_assert_int_eq(n, 5);
	for (int i = 0; i < n; i++)
		if (alive(pids[i])) {
			char cmd[128];
			snprintf(cmd, sizeof(cmd), "cat /proc/%ld/stat; ps -ef | grep 'sleep 1000' >&2",
				 (long)pids[i]);
			system(cmd);
			ck_abort_msg("pid %ld survived the cancel (#%d)", (long)pids[i], i);
		}
	free(c.log);
}
END_TEST

START_TEST(test_leftovers_after_exit)
{
	/* The step's shell ends but left children: they die with the step. */
	struct step_spec spec = {.grace_ms = 2000};
	struct capture c = {0};
	char script[512];
	pid_t pids[16];
	int n;
	snprintf(script, sizeof(script),
		 "sleep 1000 & echo $! > '%s'; (sleep 1000 >/dev/null 2>&1 & echo $! >> '%s'); echo bye",
		 at("pids"), at("pids"));
	run(script, &spec, &c);
	ck_assert_int_eq(c.res.status, STEP_PASSED);
	ck_assert_int_eq(c.res.leftovers, 1);
	ck_assert_int_eq(c.res.killed, 0);
	ck_assert_uint_lt(c.res.duration_ms, 1000);
	read_pids(at("pids"), pids, &n);
	ck_assert_int_eq(n, 2);
	for (int i = 0; i < n; i++)
		ck_assert_msg(!alive(pids[i]), "pid %ld outlived its step", (long)pids[i]);
	ck_assert_str_eq(strip_stamps(c.log), "bye\n");
	free(c.log);
}
END_TEST

#define N_CONCURRENT 4

START_TEST(test_concurrent_one_loop)
{
	/*
	 * Each step waits until all four have started (a barrier in the file
	 * system), so a loop running them one by one would hit the timeout.
	 */
	uv_loop_t loop;
	struct capture c[N_CONCURRENT] = {{0}};
	struct step *s[N_CONCURRENT];
	struct rp_error err;
	char script[N_CONCURRENT][512];
	uint64_t last_start = 0, first_end = UINT64_MAX;
	ck_assert_int_eq(mkdir(at("barrier"), 0755), 0);
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	for (int i = 0; i < N_CONCURRENT; i++) {
		struct step_spec spec = {.env = base_env, .timeout_ms = 10000, .on_output = on_output};
		snprintf(
		    script[i], sizeof(script[i]),
		    "cd '%s' && touch s%d && while [ $(ls | wc -l) -lt %d ]; do sleep 0.01; done; sleep 0.2; "
		    "echo step %d",
		    at("barrier"), i, N_CONCURRENT, i);
		spec.script = script[i];
		ck_assert_msg(step_start(&loop, &spec, on_done, &c[i], &s[i], &err) == 0, "%s", err.msg);
	}
	ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	for (int i = 0; i < N_CONCURRENT; i++) {
		char want[32];
		ck_assert_int_eq(c[i].done_calls, 1);
		ck_assert_int_eq(c[i].res.status, STEP_PASSED);
		snprintf(want, sizeof(want), "step %d\n", i);
		ck_assert_str_eq(strip_stamps(c[i].log), want);
		if (c[i].res.started_ns > last_start)
			last_start = c[i].res.started_ns;
		if (c[i].res.ended_ns < first_end)
			first_end = c[i].res.ended_ns;
		free(c[i].log);
	}
	/* All four ran at once: the last started before the first ended. */
	ck_assert_uint_lt(last_start, first_end);
}
END_TEST

START_TEST(test_exact_environment)
{
	static const char *const env[] = {"PATH=/usr/bin:/bin", "B=two words", "A=1", "EMPTY=", NULL};
	static const char *const argv[] = {"/usr/bin/env", NULL};
	struct step_spec spec = {.env = env, .argv = argv};
	struct capture c = {0};
	setenv("RIPPLE_TEST_LEAK", "1", 1); /* the worker's environment must not leak in */
	run(NULL, &spec, &c);
	ck_assert_int_eq(c.res.status, STEP_PASSED);
	ck_assert_str_eq(strip_stamps(c.log), "PATH=/usr/bin:/bin\nB=two words\nA=1\nEMPTY=\n");
	free(c.log);

	/* Through the shell: the same, plus the PWD every POSIX shell exports. */
	struct step_spec sh = {.env = env, .cwd = "/"};
	struct capture c1 = {0};
	run("env | sort", &sh, &c1);
	ck_assert_str_eq(strip_stamps(c1.log), "A=1\nB=two words\nEMPTY=\nPATH=/usr/bin:/bin\nPWD=/\n");
	free(c1.log);

	/* No environment at all. */
	static const char *const none[] = {NULL};
	struct step_spec empty = {.env = none, .argv = argv};
	struct capture c2 = {0};
	run(NULL, &empty, &c2);
	ck_assert_int_eq(c2.res.status, STEP_PASSED);
	ck_assert_ptr_null(c2.log);
}
END_TEST

START_TEST(test_cwd_and_start_errors)
{
	struct step_spec spec = {.cwd = root};
	struct capture c = {0};
	uv_loop_t loop;
	struct step *s;
	struct rp_error err;
	char want[PATH_MAX + 2];
	run("pwd", &spec, &c);
	snprintf(want, sizeof(want), "%s\n", root);
	ck_assert_str_eq(strip_stamps(c.log), want);
	free(c.log);

	/* An error return: no callback, nothing left on the loop. */
	struct capture c2 = {0};
	struct step_spec bad = {.script = "true", .cwd = at("missing"), .env = base_env};
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	ck_assert_int_eq(step_start(&loop, &bad, on_done, &c2, &s, &err), RP_EIO);
	ck_assert_ptr_nonnull(strstr(err.msg, "missing"));
	ck_assert_ptr_null(s);
	struct step_spec bad_log = {.script = "true", .log_path = at("missing/log"), .env = base_env};
	ck_assert_int_eq(step_start(&loop, &bad_log, on_done, &c2, &s, &err), RP_EIO);
	struct step_spec no_script = {.env = base_env};
	ck_assert_int_eq(step_start(&loop, &no_script, on_done, &c2, &s, &err), RP_EINVAL);
	static const char *const argv[] = {"/nonexistent/program", NULL};
	struct step_spec bad_prog = {.argv = argv, .env = base_env};
	ck_assert_int_eq(step_start(&loop, &bad_prog, on_done, &c2, &s, &err), RP_EIO);
	ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	ck_assert_int_eq(c2.done_calls, 0);
}
END_TEST

START_TEST(test_limits)
{
	struct step_spec spec = {
	    .limits = {.cpu_seconds = 7, .address_space = 1u << 30, .open_files = 64, .file_size = 1u << 20}};
	struct capture c = {0};
	struct stat st;
	char script[512];
	snprintf(script, sizeof(script),
		 "ulimit -t; ulimit -v; ulimit -n; ulimit -f; ulimit -Hn; "
		 "ulimit -n 128 2>/dev/null && echo raised; "
		 "head -c 2097152 /dev/zero > '%s'",
		 at("big"));
	run(script, &spec, &c);
	/* head got SIGXFSZ (the shell says so): the step failed, and the file stopped at the limit. */
	ck_assert_str_eq(strip_stamps(c.log), "7\n1048576\n64\n2048\n64\nFile size limit exceeded\n");
	ck_assert_int_eq(c.res.status, STEP_FAILED);
	ck_assert_int_eq(stat(at("big"), &st), 0);
	ck_assert_int_eq(st.st_size, 1 << 20);
	free(c.log);
}
END_TEST

START_TEST(test_run_sync)
{
	struct step_spec spec = {.script = "echo sync", .env = base_env, .on_output = on_output};
	struct capture c = {0};
	struct step_result res;
	struct rp_error err;
	ck_assert_int_eq(step_run_sync(&spec, &c, &res, &err), 0);
	ck_assert_int_eq(res.status, STEP_PASSED);
	ck_assert_str_eq(strip_stamps(c.log), "sync\n");
	ck_assert_uint_eq(res.log_bytes, c.len);
	free(c.log);

	struct step_spec bad = {.script = "true", .cwd = at("missing"), .env = base_env};
	ck_assert_int_eq(step_run_sync(&bad, NULL, &res, &err), RP_EIO);
}
END_TEST

START_TEST(test_shell_argv)
{
	char **argv;
	struct step_limits lim = {.open_files = 10, .file_size = 1024};
	ck_assert_int_eq(step_shell_argv("make", NULL, &argv, NULL), 0);
	ck_assert_str_eq(argv[0], "/bin/sh");
	ck_assert_str_eq(argv[1], "-c");
	ck_assert_str_eq(argv[2], "make");
	ck_assert_ptr_null(argv[3]);
	step_argv_free(argv);
	ck_assert_int_eq(step_shell_argv("make", &lim, &argv, NULL), 0);
	ck_assert_str_eq(argv[2], "ulimit -n 10 && ulimit -f 2 || exit 125; exec /bin/sh -c \"$1\"");
	ck_assert_str_eq(argv[3], "sh");
	ck_assert_str_eq(argv[4], "make");
	ck_assert_ptr_null(argv[5]);
	step_argv_free(argv);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("step");
	TCase *tc = tcase_create("step");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_exit_status);
	tcase_add_test(tc, test_signal);
	tcase_add_test(tc, test_wall_timeout);
	tcase_add_test(tc, test_wall_timeout_kill);
	tcase_add_test(tc, test_idle_timeout);
	tcase_add_test(tc, test_output_cap);
	tcase_add_test(tc, test_merged_log);
	tcase_add_test(tc, test_stdout_to_file);
	tcase_add_test(tc, test_cancel_group);
	tcase_add_test(tc, test_leftovers_after_exit);
	tcase_add_test(tc, test_concurrent_one_loop);
	tcase_add_test(tc, test_exact_environment);
	tcase_add_test(tc, test_cwd_and_start_errors);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_run_sync);
	tcase_add_test(tc, test_shell_argv);
	suite_add_tcase(s, tc);
	return check_run_suite(s);
}
