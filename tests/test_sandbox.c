/*
 * Unit tests of the runner backends with real processes and real bubblewrap:
 * the process backend's paths and environment, and what a sandboxed step can
 * and cannot do (write, read, connect), its fixed paths, its rlimits, and that
 * cancelling it ends every process it started. Each escape attempt is also run
 * with the process backend, which must succeed, so a broken probe cannot pass.
 */
#include <arpa/inet.h>
#include <check.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner/backend.h"
#include "check_main.h"
#include "core/banned.h"

static char root[PATH_MAX];
static struct rp_target process_target = {.name = "local", .runner = RP_RUNNER_PROCESS};
static struct rp_target sandbox_target = {.name = "unix", .runner = RP_RUNNER_SANDBOX};

static const char *at(const char *rel)
{
	static char paths[16][PATH_MAX + 64];
	static int next;
	char *p = paths[next++ % 16];
	snprintf(p, PATH_MAX + 64, "%s/%s", root, rel);
	return p;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ck_assert_msg(f != NULL, "cannot write %s", path);
	fputs(text, f);
	fclose(f);
}

static char *read_file(const char *path)
{
	static char buf[4096];
	FILE *f = fopen(path, "r");
	size_t n;
	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void setup(void)
{
	check_tmpdir_make(root, "sandbox");
	ck_assert_int_eq(mkdir(at("ws"), 0755), 0);
	ck_assert_int_eq(mkdir(at("ws/sub"), 0755), 0);
	ck_assert_int_eq(mkdir(at("prefix"), 0755), 0);
	ck_assert_int_eq(mkdir(at("sysroot"), 0755), 0);
	ck_assert_int_eq(mkdir(at("sysroot/lib"), 0755), 0);
	ck_assert_int_eq(mkdir(at("tmp"), 0755), 0);
	write_file(at("ws/input.txt"), "source file\n");
	write_file(at("sysroot/lib/dep.txt"), "dependency\n");
	write_file(at("secret.txt"), "s3cret-value\n");
}

static void teardown(void)
{
	check_tmpdir_remove(root);
}

/* One job of one step on a loop of its own: prepare, run, finish. */
struct jobrun {
	struct backend *b;
	struct backend_job_spec jspec;
	struct step_spec sspec;
	const char *cancel_on;
	char paths[4][PATH_MAX];
	int has_sysroot;
	char *log;
	size_t len;
	struct step_result res;
	int prepared, done, finished;
};

static void jr_output(struct step *s, const char *chunk, size_t len, uint64_t offset, void *data)
{
	struct jobrun *jr = data;
	jr->log = realloc(jr->log, jr->len + len + 1);
	ck_assert_ptr_nonnull(jr->log);
	memcpy(jr->log + jr->len, chunk, len);
	jr->len += len;
	jr->log[jr->len] = '\0';
	if (jr->cancel_on && strstr(jr->log, jr->cancel_on)) {
		jr->cancel_on = NULL;
		step_cancel(s);
	}
}

static void jr_finished(struct backend_job *job, int status, const struct rp_error *err, void *data)
{
	struct jobrun *jr = data;
	ck_assert_ptr_null(job);
	ck_assert_int_eq(status, 0);
	jr->finished++;
}

static void jr_done(struct step *s, const struct step_result *res, void *data)
{
	struct jobrun *jr = data;
	jr->res = *res;
	jr->done++;
}

static struct backend_job *jr_job;

static void jr_prepared_only(struct backend_job *job, int status, const struct rp_error *err, void *data)
{
	ck_assert_int_eq(status, 0);
	jr_job = job;
}

static void jr_prepared(struct backend_job *job, int status, const struct rp_error *err, void *data)
{
	struct jobrun *jr = data;
	const struct backend_paths *p = backend_job_paths(job);
	struct step *s;
	struct rp_error e;
	ck_assert_int_eq(status, 0);
	jr->prepared++;
	snprintf(jr->paths[0], PATH_MAX, "%s", p->workspace);
	snprintf(jr->paths[1], PATH_MAX, "%s", p->prefix);
	snprintf(jr->paths[2], PATH_MAX, "%s", p->sysroot ? p->sysroot : "");
	snprintf(jr->paths[3], PATH_MAX, "%s", p->tmp ? p->tmp : "");
	jr->sspec.on_output = jr_output;
	ck_assert_msg(backend_start_step(job, &jr->sspec, jr_done, jr, &s, &e) == 0, "%s", e.msg);
	jr_job = job;
}

/* Runs `script` as the one step of a job on `b`; `env` adds to PATH and HOME. */
static void run_job(struct backend *b, struct jobrun *jr, const char *script, const char *const *env)
{
	const char *full[32];
	uv_loop_t loop;
	struct rp_error err;
	int n = 0;
	full[n++] = "PATH=/usr/bin:/bin";
	full[n++] = "HOME=/tmp";
	for (int i = 0; env && env[i] && n < 31; i++)
		full[n++] = env[i];
	full[n] = NULL;
	jr->b = b;
	if (!jr->jspec.workspace) {
		jr->jspec.workspace = at("ws");
		jr->jspec.prefix = at("prefix");
	}
	jr->sspec.script = script;
	jr->sspec.env = full;
	if (!jr->sspec.timeout_ms)
		jr->sspec.timeout_ms = 15000;
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	ck_assert_msg(backend_prepare_job(b, &loop, &jr->jspec, jr_prepared, jr, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(jr->prepared, 0); /* never from inside the call */
	/* Run until the step is done, then finish the job. */
	while (!jr->done) {
		int active = uv_run(&loop, UV_RUN_ONCE);
		ck_assert(active || jr->done);
	}
	ck_assert_int_eq(backend_finish_job(jr_job, jr_finished, jr, &err), 0);
	ck_assert_int_eq(jr->finished, 0);
	ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	ck_assert_int_eq(jr->prepared, 1);
	ck_assert_int_eq(jr->finished, 1);
	if (!jr->log)
		jr->log = calloc(1, 1);
}

/* The log without its "[SSSS.mmm] " prefixes. */
static const char *text(const struct jobrun *jr)
{
	static char out[1 << 16];
	size_t o = 0;
	const char *p = jr->log;
	while (p && *p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) + 1 : strlen(p);
		ck_assert(len >= STEP_STAMP_LEN && p[0] == '[');
		memcpy(out + o, p + STEP_STAMP_LEN, len - STEP_STAMP_LEN);
		o += len - STEP_STAMP_LEN;
		p += len;
	}
	out[o] = '\0';
	return out;
}

static struct backend *open_backend(const struct rp_target *t)
{
	struct backend *b;
	struct rp_error err;
	ck_assert_msg(backend_open(t, NULL, &b, &err) == 0, "%s", err.msg);
	return b;
}

START_TEST(test_open_errors)
{
	struct rp_target xen = {.name = "xen", .runner = RP_RUNNER_XEN};
	struct backend_options opts = {0};
	struct backend *b;
	struct rp_error err;
	/* A xen target drives `xl` by default; a host without it cannot serve the target. */
	const char *path = getenv("PATH");
	char *saved = path ? strdup(path) : NULL;
	setenv("PATH", "/nonexistent", 1);
	ck_assert_int_eq(backend_open(&xen, NULL, &b, &err), RP_ENOTFOUND);
	if (saved)
		setenv("PATH", saved, 1);
	free(saved);
	ck_assert_str_eq(err.msg, "target \"xen\": no `xl` in $PATH: this host has no Xen toolstack");
	ck_assert_ptr_null(b);

	opts.bwrap = "/nonexistent/bwrap";
	ck_assert_int_eq(backend_open(&sandbox_target, &opts, &b, &err), RP_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(err.msg, "bubblewrap (/nonexistent/bwrap) not found"));

	/* A bwrap that cannot make namespaces: its complaint is quoted. */
	write_file(at("fake-bwrap"),
		   "#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n");
	ck_assert_int_eq(chmod(at("fake-bwrap"), 0755), 0);
	opts.bwrap = at("fake-bwrap");
	ck_assert_int_eq(backend_open(&sandbox_target, &opts, &b, &err), RP_EIO);
	ck_assert_msg(strstr(err.msg,
			     "cannot make a sandbox here (exit 1): bwrap: No permissions to create new "
			     "namespace; it needs unprivileged user namespaces") != NULL,
		      "%s", err.msg);
}
END_TEST

START_TEST(test_prepare_errors)
{
	struct backend *b = open_backend(&process_target);
	struct backend_job_spec spec = {.workspace = at("missing"), .prefix = at("prefix")};
	uv_loop_t loop;
	struct rp_error err;
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	ck_assert_int_eq(backend_prepare_job(b, &loop, &spec, jr_prepared, NULL, &err), RP_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "job workspace"));
	spec.workspace = "relative/ws";
	ck_assert_int_eq(backend_prepare_job(b, &loop, &spec, jr_prepared, NULL, &err), RP_EINVAL);
	spec.workspace = at("ws/input.txt");
	ck_assert_int_eq(backend_prepare_job(b, &loop, &spec, jr_prepared, NULL, &err), RP_EINVAL);
	ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	backend_close(b);
}
END_TEST

START_TEST(test_process_paths_and_env)
{
	static const char *const env[] = {"RIPPLE_PREFIX=/wrong", "KEEP=1", NULL};
	struct backend *b = open_backend(&process_target);
	struct jobrun jr = {.jspec = {.sysroot = at("sysroot"), .tmp = at("tmp")}, .sspec = {.cwd = "sub"}};
	char want[4 * PATH_MAX];
	jr.jspec.workspace = at("ws");
	jr.jspec.prefix = at("prefix");
	run_job(b, &jr,
		"pwd; echo \"$RIPPLE_WORKSPACE|$RIPPLE_PREFIX|$RIPPLE_SYSROOT|$TMPDIR|$KEEP\"; "
		"echo built > \"$RIPPLE_PREFIX/out.txt\"",
		env);
	ck_assert_int_eq(jr.res.status, STEP_PASSED);
	snprintf(want, sizeof(want), "%s\n%s|%s|%s|%s|1\n", at("ws/sub"), at("ws"), at("prefix"),
		 at("sysroot"), at("tmp"));
	ck_assert_str_eq(text(&jr), want);
	ck_assert_str_eq(jr.paths[0], at("ws"));
	ck_assert_str_eq(jr.paths[1], at("prefix"));
	ck_assert_str_eq(read_file(at("prefix/out.txt")), "built\n");
	free(jr.log);
	backend_close(b);
}
END_TEST

START_TEST(test_step_cwd_errors)
{
	struct backend *b = open_backend(&process_target);
	struct backend_job_spec spec = {.workspace = at("ws"), .prefix = at("prefix")};
	struct jobrun jr = {0};
	uv_loop_t loop;
	struct rp_error err;
	struct step *s;
	static const char *const bad[] = {"../x", "/abs", "a/../../x", "..", NULL};
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	ck_assert_int_eq(backend_prepare_job(b, &loop, &spec, jr_prepared_only, &jr, &err), 0);
	ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
	ck_assert_ptr_nonnull(jr_job);
	for (int i = 0; bad[i]; i++) {
		struct step_spec st = {.script = "true", .cwd = bad[i]};
		ck_assert_int_eq(backend_start_step(jr_job, &st, jr_done, &jr, &s, &err), RP_EINVAL);
	}
	ck_assert_int_eq(backend_finish_job(jr_job, jr_finished, &jr, &err), 0);
	ck_assert_int_eq(backend_finish_job(jr_job, jr_finished, &jr, &err), RP_EINVAL);
	ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	ck_assert_int_eq(jr.finished, 1);
	ck_assert_int_eq(jr.done, 0);
	backend_close(b);
}
END_TEST

START_TEST(test_sandbox_fixed_paths)
{
	static const char *const env[] = {"RIPPLE_SYSROOT=/wrong", NULL};
	struct backend *b = open_backend(&sandbox_target);
	struct jobrun jr = {.jspec = {.sysroot = at("sysroot")}};
	struct stat st;
	run_job(b, &jr,
		"pwd; echo \"$RIPPLE_WORKSPACE|$RIPPLE_PREFIX|$RIPPLE_SYSROOT|$TMPDIR\"; cat input.txt; "
		"cat \"$RIPPLE_SYSROOT/lib/dep.txt\"; echo built > \"$RIPPLE_PREFIX/out.txt\"; echo obj > "
		"made.o; "
		"touch \"$RIPPLE_SYSROOT/x\" 2>/dev/null || echo sysroot read-only; "
		"echo tmp > /tmp/t && cat /tmp/t && echo vartmp > /var/tmp/v && cat /tmp/v; hostname; "
		"cd sub && pwd",
		env);
	ck_assert_msg(jr.res.status == STEP_PASSED, "%s", jr.log);
	ck_assert_str_eq(text(&jr), "/ripple/src\n"
				    "/ripple/src|/ripple/prefix|/ripple/sysroot|/tmp\n"
				    "source file\n"
				    "dependency\n"
				    "sysroot read-only\n"
				    "tmp\n"
				    "vartmp\n"
				    "ripple\n"
				    "/ripple/src/sub\n");
	ck_assert_str_eq(jr.paths[0], BACKEND_SANDBOX_WORKSPACE);
	ck_assert_str_eq(jr.paths[1], BACKEND_SANDBOX_PREFIX);
	ck_assert_str_eq(jr.paths[2], BACKEND_SANDBOX_SYSROOT);
	ck_assert_str_eq(read_file(at("prefix/out.txt")), "built\n");
	ck_assert_str_eq(read_file(at("ws/made.o")), "obj\n");
	ck_assert_int_eq(stat(at("sysroot/x"), &st), -1);
	free(jr.log);
	backend_close(b);
}
END_TEST

/* Tries to write into each directory; prints "WROTE dir" for every success. */
static const char write_probe[] =
    "for d in \"$T_USR\" \"$T_HOME\" \"$T_TEST\" / /etc /ripple; do "
    "  if (mkdir -p \"$d\" && echo x > \"$d/ripple-escape-$T_TAG\") 2>/dev/null; then echo \"WROTE $d\"; fi; "
    "done; echo checked";

START_TEST(test_sandbox_cannot_write_outside)
{
	struct backend *sb = open_backend(&sandbox_target);
	struct backend *pb = open_backend(&process_target);
	const struct passwd *pw = getpwuid(getuid());
	const char *home = getenv("HOME");
	char e_usr[64], e_home[PATH_MAX + 16], e_test[PATH_MAX + 16], e_tag[64], host_file[PATH_MAX + 64];
	const char *env[] = {e_usr, e_home, e_test, e_tag, NULL};
	const char *outside[3];
	struct jobrun jr = {0}, ctl = {0};
	char tag[32];
	snprintf(tag, sizeof(tag), "%ld", (long)getpid());
	snprintf(e_usr, sizeof(e_usr), "T_USR=/usr");
	if (!home || home[0] != '/')
		home = pw && pw->pw_dir ? pw->pw_dir : "/";
	snprintf(e_home, sizeof(e_home), "T_HOME=%s", home);
	snprintf(e_test, sizeof(e_test), "T_TEST=%s", root);
	snprintf(e_tag, sizeof(e_tag), "T_TAG=%s", tag);
	outside[0] = "/usr";
	outside[1] = e_home + 7;
	outside[2] = root;

	run_job(sb, &jr, write_probe, env);
	ck_assert_int_eq(jr.res.status, STEP_PASSED);
	/* Nothing but its own /tmp (where a host /tmp path may be re-made) took a write. */
	ck_assert_msg(!strstr(jr.log, "WROTE /usr") && !strstr(jr.log, "WROTE /etc") &&
			  !strstr(jr.log, "WROTE /\n") && !strstr(jr.log, "WROTE /ripple\n"),
		      "%s", jr.log);
	for (int i = 0; i < 3; i++) {
		snprintf(host_file, sizeof(host_file), "%s/ripple-escape-%s", outside[i], tag);
		int escaped = access(host_file, F_OK) == 0;
		if (escaped)
			unlink(host_file); /* leave the host as it was, then fail */
		ck_assert_msg(!escaped, "the sandbox wrote %s", host_file);
	}
	free(jr.log);

	/* The same probe without a sandbox does write into the test's directory. */
	static const char ctl_probe[] = "echo x > \"$T_TEST/ripple-escape-$T_TAG\" && echo WROTE";
	run_job(pb, &ctl, ctl_probe, env);
	ck_assert_str_eq(text(&ctl), "WROTE\n");
	snprintf(host_file, sizeof(host_file), "%s/ripple-escape-%s", root, tag);
	ck_assert_int_eq(access(host_file, F_OK), 0);
	free(ctl.log);
	backend_close(sb);
	backend_close(pb);
}
END_TEST

START_TEST(test_sandbox_cannot_read_outside)
{
	struct backend *sb = open_backend(&sandbox_target);
	struct backend *pb = open_backend(&process_target);
	char e_secret[PATH_MAX + 16];
	const char *env[] = {e_secret, NULL};
	struct jobrun jr = {0}, ctl = {0};
	snprintf(e_secret, sizeof(e_secret), "SECRET=%s", at("secret.txt"));
	run_job(sb, &jr, "cat \"$SECRET\"", env);
	ck_assert_int_eq(jr.res.status, STEP_FAILED);
	ck_assert_ptr_null(strstr(jr.log, "s3cret"));
	free(jr.log);
	run_job(pb, &ctl, "cat \"$SECRET\"", env);
	ck_assert_int_eq(ctl.res.status, STEP_PASSED);
	ck_assert_str_eq(text(&ctl), "s3cret-value\n");
	free(ctl.log);
	backend_close(sb);
	backend_close(pb);
}
END_TEST

START_TEST(test_sandbox_no_network)
{
	struct backend *sb = open_backend(&sandbox_target);
	struct backend *pb = open_backend(&process_target);
	struct sockaddr_in addr = {.sin_family = AF_INET};
	socklen_t len = sizeof(addr);
	char e_port[32];
	const char *env[] = {e_port, NULL};
	struct jobrun jr = {0}, ctl = {0};
	static const char probe[] =
	    "bash -c 'exec 3<>/dev/tcp/127.0.0.1/'\"$PORT\" 2>/dev/null && echo CONNECTED || echo REFUSED";
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	ck_assert_int_eq(listen(fd, 8), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
	snprintf(e_port, sizeof(e_port), "PORT=%u", ntohs(addr.sin_port));

	run_job(pb, &ctl, probe, env);
	ck_assert_str_eq(text(&ctl), "CONNECTED\n");
	run_job(sb, &jr, probe, env);
	ck_assert_str_eq(text(&jr), "REFUSED\n");
	free(jr.log);
	free(ctl.log);
	close(fd);
	backend_close(sb);
	backend_close(pb);
}
END_TEST

START_TEST(test_sandbox_rlimits)
{
	struct backend *sb = open_backend(&sandbox_target);
	struct jobrun jr = {.jspec = {.limits = {.cpu_seconds = 10,
						 .address_space = 2ull << 30,
						 .open_files = 64,
						 .file_size = 1u << 20}}};
	struct stat st;
	run_job(sb, &jr,
		"ulimit -n; ulimit -f; ulimit -t; ulimit -v; ulimit -n 100 2>/dev/null && echo raised; "
		"head -c 2097152 /dev/zero > big; echo \"head=$?\"",
		NULL);
	ck_assert_int_eq(jr.res.status, STEP_PASSED);
	ck_assert_str_eq(text(&jr), "64\n2048\n10\n2097152\nFile size limit exceeded\nhead=153\n");
	ck_assert_int_eq(stat(at("ws/big"), &st), 0);
	ck_assert_int_eq(st.st_size, 1 << 20);
	free(jr.log);
	backend_close(sb);
}
END_TEST

/* How many processes run `sleep ARG` (zombies aside). */
static int count_sleepers(const char *arg)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int n = 0;
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d))) {
		char path[300], buf[256], stat_line[512];
		FILE *f;
		size_t len;
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		len = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[len] = '\0';
		if (strcmp(buf, "sleep") || len < 7 || strcmp(buf + 6, arg))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(stat_line, sizeof(stat_line), f)) {
			char *paren = strrchr(stat_line, ')');
			if (paren && paren[2] != 'Z')
				n++;
		}
		fclose(f);
	}
	closedir(d);
	return n;
}

START_TEST(test_sandbox_cancel)
{
	/*
	 * The step traps SIGTERM, so it sees the cancel; its children include one
	 * that ignores SIGTERM and one that left the session with setsid.
	 */
	struct backend *sb = open_backend(&sandbox_target);
	struct jobrun jr = {.cancel_on = "ready", .sspec = {.grace_ms = 3000}};
	char arg[32], e_arg[48];
	const char *env[] = {e_arg, NULL};
	snprintf(arg, sizeof(arg), "1000.%ld", (long)getpid() % 100000);
	snprintf(e_arg, sizeof(e_arg), "ARG=%s", arg);
	run_job(sb, &jr,
		"trap 'echo got TERM; exit 3' TERM; sleep $ARG & setsid sleep $ARG & (trap '' TERM; exec "
		"sleep $ARG) & "
		"while [ $(pgrep -xc sleep) -lt 3 ]; do sleep 0.01; done; echo ready; "
		"while :; do sleep 0.05; done",
		env);
	ck_assert_int_eq(jr.res.status, STEP_CANCELLED);
	ck_assert_int_eq(jr.res.exit_status, 3);
	ck_assert_msg(strstr(jr.log, "got TERM") != NULL, "%s", jr.log);
	ck_assert_int_eq(jr.res.killed, 0);
	ck_assert_uint_lt(jr.res.duration_ms, 3000);
	ck_assert_int_eq(count_sleepers(arg), 0);
	free(jr.log);

	/* A wall timeout ends a sandbox the same way. */
	struct jobrun to = {.sspec = {.timeout_ms = 300, .grace_ms = 500}};
	run_job(sb, &to, "sleep $ARG & setsid sleep $ARG & sleep $ARG", env);
	ck_assert_int_eq(to.res.status, STEP_TIMED_OUT);
	ck_assert_int_eq(to.res.timeout, STEP_TIMEOUT_WALL);
	ck_assert_uint_lt(to.res.duration_ms, 300 + 500 + 1000);
	ck_assert_int_eq(count_sleepers(arg), 0);
	free(to.log);
	backend_close(sb);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("backend");
	TCase *tc = tcase_create("backend");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_open_errors);
	tcase_add_test(tc, test_prepare_errors);
	tcase_add_test(tc, test_process_paths_and_env);
	tcase_add_test(tc, test_step_cwd_errors);
	tcase_add_test(tc, test_sandbox_fixed_paths);
	tcase_add_test(tc, test_sandbox_cannot_write_outside);
	tcase_add_test(tc, test_sandbox_cannot_read_outside);
	tcase_add_test(tc, test_sandbox_no_network);
	tcase_add_test(tc, test_sandbox_rlimits);
	tcase_add_test(tc, test_sandbox_cancel);
	suite_add_tcase(s, tc);
	return check_run_suite(s);
}
