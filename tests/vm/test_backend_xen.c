/*
 * test_backend_xen.c — the `xen` runner backend (runner/backend_xen.c) with
 * real bubblewrap for the host side and real QEMU (TCG) guests booted from the
 * vm backend's kernel and initramfs, through both of its drivers:
 *
 * - xl, against a FAKE `xl` (tests/vm/fake_xl.sh, put first in PATH): it
 *   reads the xl.cfg the backend writes and runs the domain as a daemonized
 *   QEMU whose console it appends to console_dir/guest-NAME.log, as
 *   xenconsoled would. It is not Xen: no Xen runs on this machine.
 * - libvirt, through libvirt's embedded QEMU driver (qemu:///embed?root=DIR,
 *   kind "qemu"): real libvirt, real QEMU, no daemon.
 *
 * For each: a guest test that passes, fails with its status, never reports
 * (a timeout: the domain destroyed) and ends without a result (a kernel
 * panic: an infrastructure error); after each, no domain, no QEMU process and
 * no file of the guest's remain. Also the host side in the sandbox, and the
 * target options refused at backend_open with one line.
 *
 * RIPPLE_FAKE_XL names tests/vm/fake_xl.sh (set by tests/CMakeLists.txt).
 */
#define _GNU_SOURCE /* asprintf */
#include <check.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <libvirt/libvirt.h>
#include <uv.h>

#include "runner/backend.h"
#include "runner/runner-internal.h"
#include "tests/vm/guest_run.h"
#include "tests/check_main.h"
#include "tests/vm/vm_check.h"

static char root[PATH_MAX], ws[PATH_MAX + 16], prefix[PATH_MAX + 16], sysroot[PATH_MAX + 16],
    tmp[PATH_MAX + 16], xl_root[PATH_MAX + 16], console_dir[PATH_MAX + 32];
/* The embedded libvirt driver's root, one for the whole suite: its QEMU capabilities are probed once. */
static char embed[PATH_MAX], embed_uri[PATH_MAX + 32];

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	ck_assert_msg(system(cmd) == 0, "failed: %s", cmd);
}

static void suite_setup(void)
{
	check_tmpdir_make(embed, "xenembed");
	snprintf(embed_uri, sizeof(embed_uri), "qemu:///embed?root=%s", embed);
}

static void suite_teardown(void)
{
	check_tmpdir_remove(embed);
}

/*
 * A job's directories, as in test_backend_vm.c: sysroot/lib/libfoo.so.1 and
 * the workspace's tests/prog, which calls foo() and exits with its argument;
 * and the fake xl as xl_root/bin/xl, first in PATH.
 */
static void setup(void)
{
	const char *fake = getenv("RIPPLE_FAKE_XL");
	ck_assert_msg(fake && *fake, "RIPPLE_FAKE_XL must name tests/vm/fake_xl.sh");
	check_tmpdir_make(root, "bxen");
	snprintf(ws, sizeof(ws), "%s/ws", root);
	snprintf(prefix, sizeof(prefix), "%s/prefix", root);
	snprintf(sysroot, sizeof(sysroot), "%s/sysroot", root);
	snprintf(tmp, sizeof(tmp), "%s/tmp", root);
	snprintf(xl_root, sizeof(xl_root), "%s/xl", root);
	snprintf(console_dir, sizeof(console_dir), "%s/console", xl_root);
	sh("mkdir -p '%s/tests' '%s' '%s/lib' '%s' '%s/bin' '%s' '%s/run'", ws, prefix, sysroot, tmp, xl_root,
	   console_dir, xl_root);
	sh("cp '%s' '%s/bin/xl' && chmod 755 '%s/bin/xl'", fake, xl_root, xl_root);
	sh("cd '%s' && printf 'int foo(void) { return 42; }\\n' >foo.c && "
	   "gcc -shared -fPIC -Wl,-soname,libfoo.so.1 -o lib/libfoo.so.1 foo.c && ln -s libfoo.so.1 "
	   "lib/libfoo.so && "
	   "rm foo.c",
	   sysroot);
	sh("cd '%s' && printf '#include <stdio.h>\\n#include <stdlib.h>\\nint foo(void);\\n"
	   "int main(int c, char **v) { printf(\"foo=%%%%d\\\\n\", foo()); return c > 1 ? atoi(v[1]) : 0; "
	   "}\\n'"
	   " >tests/prog.c && gcc -o tests/prog tests/prog.c -L'%s/lib' -lfoo",
	   ws, sysroot);
	setenv("TMPDIR", tmp, 1);
	char *path;
	ck_assert_int_ge(
	    asprintf(&path, "%s/bin:%s", xl_root, getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin"), 0);
	setenv("PATH", path, 1);
	free(path);
}

static void teardown(void)
{
	check_tmpdir_remove(root);
}

/* ---- the backend on a loop ---- */

static struct backend *open_target(json_t *options)
{
	struct rp_target t = {.name = "xen", .runner = RP_RUNNER_XEN, .options = options};
	struct backend *b = NULL;
	struct rp_error err = {.msg = ""};
	int rc = backend_open(&t, NULL, &b, &err);
	json_decref(options);
	ck_assert_msg(rc == 0, "backend_open: %s", err.msg);
	ck_assert(backend_has_guest(b));
	return b;
}

static struct backend *open_xl(void)
{
	return open_target(json_pack("{s:s, s:s, s:s, s:i}", "runner", "xen", "driver", "xl", "console_dir",
				     console_dir, "memory", 256));
}

static struct backend *open_libvirt(void)
{
	return open_target(json_pack("{s:s, s:s, s:s, s:s, s:i}", "runner", "xen", "driver", "libvirt", "uri",
				     embed_uri, "kind", "qemu", "memory", 256));
}

static const char *const job_env[] = {"PATH=/usr/bin:/bin", "LD_LIBRARY_PATH=/ripple/sysroot/lib", NULL};
static const char *const prog_payload[] = {"tests/prog"};

/* Nothing of any guest is left: no file in TMPDIR, no console, no QEMU, no domain. */
static void assert_nothing_left(void)
{
	ck_assert_int_eq(vm_check_entries(tmp), 0);
	ck_assert_int_eq(vm_check_entries(console_dir), 0);
	ck_assert_int_eq(vm_check_qemu_mentioning(tmp), 0);
	char run_dir[PATH_MAX + 64];
	snprintf(run_dir, sizeof(run_dir), "%s/run", xl_root);
	ck_assert_int_eq(vm_check_entries(run_dir), 0);
	if (!embed[0])
		return; /* the xl tests: no libvirt */
	char qemu_logs[PATH_MAX + 64];
	snprintf(qemu_logs, sizeof(qemu_logs), "%s/log/qemu", embed);
	ck_assert_int_eq(vm_check_entries(qemu_logs), 0);
	{
		virConnectPtr c = virConnectOpen(embed_uri);
		ck_assert_ptr_nonnull(c);
		ck_assert_int_eq(virConnectNumOfDomains(c), 0);
		ck_assert_int_eq(virConnectNumOfDefinedDomains(c), 0);
		virConnectClose(c);
	}
}

/* Runs `script` in a fresh guest of a new job of `b`, finishes the job, closes `b`. */
static void prepare(struct guest_run *r, struct backend *b)
{
	struct backend_job_spec job = {.workspace = ws, .prefix = prefix, .sysroot = sysroot};
	guest_run_prepare(r, b, &job);
}

static void guest_run(struct guest_run *r, struct backend *b, const char *script, uint64_t timeout_ms)
{
	prepare(r, b);
	snprintf(r->log, sizeof(r->log), "%s/guest.log", root);
	struct step_spec spec = {
	    .script = script, .env = job_env, .timeout_ms = timeout_ms, .log_path = r->log};
	struct backend_guest guest = {.payload = prog_payload, .n_payload = 1};
	guest_run_step(r, &spec, &guest);
	backend_close(b);
}

static void check_passes(struct backend *b)
{
	struct guest_run r;
	guest_run(&r, b, "echo \"prefix=$RIPPLE_PREFIX cwd=$(pwd)\"; tests/prog", 120000);
	const char *log = guest_run_slurp(r.log);
	ck_assert_msg(r.res.status == STEP_PASSED, "%s: %s / %s", step_status_name(r.res.status), r.res.error,
		      log);
	ck_assert_int_eq(r.res.exit_status, 0);
	ck_assert_str_eq(r.res.error, "");
	/* The console is the step's log: the program's output, the sandbox's paths, the framed status. */
	ck_assert_msg(strstr(log, "foo=42") != NULL, "%s", log);
	ck_assert_msg(strstr(log, "prefix=/ripple/prefix cwd=/ripple/src") != NULL, "%s", log);
	ck_assert_ptr_nonnull(strstr(log, "RIPPLE-VM1 type=status exit=0"));
	assert_nothing_left();
}

static void check_fails(struct backend *b)
{
	struct guest_run r;
	guest_run(&r, b, "tests/prog 3", 120000);
	ck_assert_msg(r.res.status == STEP_FAILED, "%s: %s", step_status_name(r.res.status), r.res.error);
	ck_assert_int_eq(r.res.exit_status, 3);
	ck_assert_str_eq(r.res.error, "");
	ck_assert_ptr_nonnull(strstr(guest_run_slurp(r.log), "foo=42"));
	assert_nothing_left();
}

static void check_timeout(struct backend *b)
{
	struct guest_run r;
	guest_run(&r, b, "echo waiting; sleep 600", 8000);
	ck_assert_msg(r.res.status == STEP_TIMED_OUT, "%s: %s", step_status_name(r.res.status), r.res.error);
	ck_assert_str_eq(r.res.error, "");
	/* It had booted: the timeout is the test's, not a boot that never came. */
	ck_assert_msg(strstr(guest_run_slurp(r.log), "RIPPLE-VM1 type=boot") != NULL, "%s", guest_run_slurp(r.log));
	assert_nothing_left();
}

static void check_panic(struct backend *b)
{
	struct guest_run r;
	guest_run(&r, b, "echo c > /proc/sysrq-trigger; sleep 100", 120000);
	ck_assert_msg(r.res.status == STEP_FAILED, "%s", step_status_name(r.res.status));
	ck_assert_msg(strstr(r.res.error, "without a result: Kernel panic") != NULL, "%s", r.res.error);
	ck_assert_msg(strstr(r.res.error, "console: ") != NULL, "%s", r.res.error);
	assert_nothing_left();
}

/* The fake's record of calls, one "VERB NAME" a line. */
static const char *xl_calls(void)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/calls", xl_root);
	return guest_run_slurp(path);
}

START_TEST(xl_guest_passes)
{
	check_passes(open_xl());
	const char *calls = xl_calls();
	ck_assert_msg(strncmp(calls, "create rp-", 10) == 0, "%s", calls);
	ck_assert_msg(strstr(calls, "list rp-") != NULL, "%s", calls);
	/* It powered itself off: nothing to destroy. */
	ck_assert_msg(strstr(calls, "destroy") == NULL, "%s", calls);
}
END_TEST

START_TEST(xl_guest_fails)
{
	check_fails(open_xl());
}
END_TEST

START_TEST(xl_guest_timeout_is_destroyed)
{
	check_timeout(open_xl());
	const char *calls = xl_calls();
	char name[128] = "";
	ck_assert_int_eq(sscanf(calls, "create %127s", name), 1);
	char want[160];
	snprintf(want, sizeof(want), "destroy %s\n", name);
	ck_assert_msg(strstr(calls, want) != NULL, "%s", calls);
}
END_TEST

START_TEST(xl_guest_panic_is_the_machines)
{
	check_panic(open_xl());
}
END_TEST

/* xl create failing (here: the fake refuses a second domain of a name) is the machine's failure. */
START_TEST(xl_create_failure_is_the_machines)
{
	struct backend *b = open_xl();
	sh("printf '#!/bin/sh\\necho \"xl: toolstack is down\" >&2; exit 1\\n' >'%s/bin/xl'", xl_root);
	struct guest_run r;
	guest_run(&r, b, "tests/prog", 120000);
	ck_assert_msg(r.res.status == STEP_FAILED, "%s", step_status_name(r.res.status));
	ck_assert_msg(strstr(r.res.error, "guest: xl create: exited with 1") != NULL, "%s", r.res.error);
	ck_assert_ptr_nonnull(strstr(guest_run_slurp(r.log), "ripple: xl create: exited with 1"));
	assert_nothing_left();
}
END_TEST

START_TEST(libvirt_guest_passes)
{
	check_passes(open_libvirt());
}
END_TEST

START_TEST(libvirt_guest_fails)
{
	check_fails(open_libvirt());
}
END_TEST

START_TEST(libvirt_guest_timeout_is_destroyed)
{
	check_timeout(open_libvirt());
}
END_TEST

START_TEST(libvirt_guest_panic_is_the_machines)
{
	check_panic(open_libvirt());
}
END_TEST

START_TEST(host_steps_run_in_the_sandbox)
{
	struct backend *b = open_xl();
	struct guest_run r;
	prepare(&r, b);
	snprintf(r.log, sizeof(r.log), "%s/host.log", root);
	struct step_spec spec = {
	    .script = "pwd; touch \"$RIPPLE_PREFIX/built\"", .env = job_env, .log_path = r.log};
	struct step *s;
	struct rp_error err = {.msg = ""};
	ck_assert_int_eq(backend_start_step(r.job, &spec, guest_run_on_step, &r, &s, &err), 0);
	while (!r.stepped)
		uv_run(&r.loop, UV_RUN_ONCE);
	ck_assert_int_eq(r.res.status, STEP_PASSED);
	ck_assert_ptr_nonnull(strstr(guest_run_slurp(r.log), "/ripple/src"));
	guest_run_finish(&r);
	char built[PATH_MAX + 32];
	snprintf(built, sizeof(built), "%s/built", prefix);
	ck_assert_int_eq(access(built, F_OK), 0);
	backend_close(b);
}
END_TEST

START_TEST(bad_target_options)
{
	static const char *const bad[][2] = {
	    {"{\"runner\": \"xen\", \"bridge\": \"xenbr0\"}", "unknown option \"bridge\""},
	    {"{\"runner\": \"xen\", \"driver\": \"xm\"}", "\"driver\" must be \"xl\" or \"libvirt\""},
	    {"{\"runner\": \"xen\", \"driver\": \"libvirt\"}", "the libvirt driver needs \"uri\""},
	    {"{\"runner\": \"xen\", \"uri\": \"xen:///system\"}",
	     "\"uri\" is an option of the libvirt driver, not xl"},
	    {"{\"runner\": \"xen\", \"driver\": \"libvirt\", \"uri\": \"test:///default\", \"console_dir\": "
	     "\"/x\"}",
	     "\"console_dir\" is an option of the xl driver, not libvirt"},
	    {"{\"runner\": \"xen\", \"driver\": \"libvirt\", \"uri\": \"test:///default\", \"kind\": "
	     "\"lxc\"}",
	     "\"kind\" must be \"xen\", \"kvm\" or \"qemu\""},
	    {"{\"runner\": \"xen\", \"memory\": 8}", "\"memory\" must be an integer from 64 to 65536"},
	    {"{\"runner\": \"xen\", \"vcpus\": 0}", "\"vcpus\" must be an integer from 1 to 64"},
	    {"{\"runner\": \"xen\", \"console_dir\": \"console\"}",
	     "\"console_dir\" must be an absolute path"},
	    {"{\"runner\": \"xen\", \"kernel\": \"/nonexistent/vmlinuz\"}", "kernel /nonexistent/vmlinuz"},
	    {"{\"runner\": \"xen\", \"driver\": \"libvirt\", \"uri\": \"bogus:///nowhere\"}",
	     "cannot connect"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct rp_target t = {.name = "xen", .runner = RP_RUNNER_XEN};
		t.options = json_loads(bad[i][0], 0, NULL);
		ck_assert_ptr_nonnull(t.options);
		struct backend *b = NULL;
		struct rp_error err = {.msg = ""};
		ck_assert_int_lt(backend_open(&t, NULL, &b, &err), 0);
		ck_assert_ptr_null(b);
		ck_assert_msg(strstr(err.msg, bad[i][1]) != NULL, "%s: %s", bad[i][0], err.msg);
		ck_assert_msg(strncmp(err.msg, "target \"xen\": ", 14) == 0, "%s", err.msg);
		ck_assert_msg(strchr(err.msg, '\n') == NULL, "%s", err.msg);
		json_decref(t.options);
	}
	/* The xl driver without an `xl` anywhere in PATH (then PATH back, for teardown's rm). */
	char *saved = strdup(getenv("PATH"));
	ck_assert_ptr_nonnull(saved);
	setenv("PATH", "/nonexistent", 1);
	struct rp_target t = {.name = "xen", .runner = RP_RUNNER_XEN};
	t.options = json_pack("{s:s}", "runner", "xen");
	struct backend *b = NULL;
	struct rp_error err = {.msg = ""};
	ck_assert_int_eq(backend_open(&t, NULL, &b, &err), RP_ENOTFOUND);
	ck_assert_str_eq(err.msg, "target \"xen\": no `xl` in $PATH: this host has no Xen toolstack");
	json_decref(t.options);
	setenv("PATH", saved, 1);
	free(saved);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("backend_xen");
	TCase *fast = tcase_create("options");
	tcase_add_checked_fixture(fast, setup, teardown);
	tcase_add_test(fast, bad_target_options);
	tcase_add_test(fast, host_steps_run_in_the_sandbox);
	suite_add_tcase(s, fast);
	TCase *xl = tcase_create("xl");
	tcase_add_checked_fixture(xl, setup, teardown);
	tcase_set_timeout(xl, 120);
	tcase_add_test(xl, xl_guest_passes);
	tcase_add_test(xl, xl_guest_fails);
	tcase_add_test(xl, xl_guest_timeout_is_destroyed);
	tcase_add_test(xl, xl_guest_panic_is_the_machines);
	tcase_add_test(xl, xl_create_failure_is_the_machines);
	suite_add_tcase(s, xl);
	TCase *lv = tcase_create("libvirt");
	tcase_add_unchecked_fixture(lv, suite_setup, suite_teardown);
	tcase_add_checked_fixture(lv, setup, teardown);
	tcase_set_timeout(lv, 120);
	tcase_add_test(lv, libvirt_guest_passes);
	tcase_add_test(lv, libvirt_guest_fails);
	tcase_add_test(lv, libvirt_guest_timeout_is_destroyed);
	tcase_add_test(lv, libvirt_guest_panic_is_the_machines);
	suite_add_tcase(s, lv);
	return s;
}

int main(void)
{
	return check_run_suite(suite());
}
