/*
 * test_vm.c — runner/vm.h: throwaway VMs under QEMU (TCG forced, and AUTO,
 * which probes KVM): pass, fail, payload files, timeout, kernel panic, forged
 * result lines, and that nothing (files, QEMU processes) is left behind.
 * Each boot takes a few seconds under TCG.
 */
#include <check.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "runner/vm.h"
#include "tests/check_main.h"
#include "tests/vm/vm_check.h"

static char root[PATH_MAX];

static void setup(void)
{
	check_tmpdir_make(root, "vm");
}

static void teardown(void)
{
	check_tmpdir_remove(root);
}

static struct vm_options tcg_options(void)
{
	struct vm_options o = {.accel = VM_ACCEL_TCG, .timeout_ms = 120000, .work_dir = root};
	return o;
}

static void assert_clean(void)
{
	ck_assert_int_eq(vm_check_entries(root), 0);
	ck_assert_int_eq(vm_check_qemu_mentioning(root), 0);
}

static void run_ok(const struct vm_options *o, const struct vm_payload *p, struct vm_result *r)
{
	struct rp_error err = {.msg = ""};
	int rc = vm_run(o, p, r, &err);
	ck_assert_msg(rc == 0, "vm_run: %d %s", rc, err.msg);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(path, mode), 0);
}

START_TEST(frame_line_crc)
{
	char line[256];
	const char *body = VM_LINE_TAG " type=status exit=0";
	int n = vm_frame_line(body, line, sizeof(line));
	ck_assert_int_gt(n, 0);
	char want[256];
	snprintf(want, sizeof(want), "%s crc=%08lx", body,
		 (unsigned long)crc32(0L, (const Bytef *)body, (uInt)strlen(body)));
	ck_assert_str_eq(line, want);
	ck_assert_int_eq(vm_frame_line(body, line, 10), -1);
}
END_TEST

START_TEST(pass_tcg)
{
	struct vm_options o = tcg_options();
	struct vm_payload p = {.command = "echo hello; exit 0"};
	struct vm_result r;
	run_ok(&o, &p, &r);
	ck_assert_msg(r.status == VM_PASS, "%s: %s", vm_status_name(r.status), r.why);
	ck_assert_int_eq(r.exit_code, 0);
	ck_assert_str_eq(r.accel, "tcg");
	ck_assert_str_eq(r.why, "");
	ck_assert_ptr_nonnull(strstr(r.console, "\nhello\n"));
	ck_assert_uint_eq(strlen(r.console), r.console_len);
	ck_assert_uint_gt(r.boot_ms, 0);
	ck_assert_uint_ge(r.total_ms, r.boot_ms);
	vm_result_release(&r);
	assert_clean();
}
END_TEST

START_TEST(fail_tcg)
{
	struct vm_options o = tcg_options();
	struct vm_payload p = {.command = "exit 3"};
	struct vm_result r;
	run_ok(&o, &p, &r);
	ck_assert_msg(r.status == VM_FAIL, "%s: %s", vm_status_name(r.status), r.why);
	ck_assert_int_eq(r.exit_code, 3);
	ck_assert_ptr_nonnull(strstr(r.why, "status 3"));
	vm_result_release(&r);
	assert_clean();
}
END_TEST

START_TEST(payload_files)
{
	char files[PATH_MAX + 8];
	snprintf(files, sizeof(files), "%s.files", root);
	ck_assert_int_eq(mkdir(files, 0755), 0);
	write_file(check_path(files, "run.sh"),
		   "#!/bin/sh\necho \"payload-ok $1 $GREETING $(cat /data/deep/in.txt) in $(pwd)\"\n"
		   "[ -x /opt/t/run.sh ] && [ ! -w /no/such ] || exit 9\n",
		   0755);
	write_file(check_path(files, "in.txt"), "forty-two", 0644);
	struct vm_file f[] = {{check_path(files, "run.sh"), "/opt/t/run.sh"},
			      {check_path(files, "in.txt"), "/data/deep/in.txt"}};
	const char *env[] = {"GREETING=hi", "HOME=/root", NULL};
	struct vm_options o = tcg_options();
	struct vm_payload p = {
	    .files = f, .n_files = 2, .command = "/opt/t/run.sh arg1", .env = env, .cwd = "/data"};
	struct vm_result r;
	run_ok(&o, &p, &r);
	ck_assert_msg(r.status == VM_PASS, "%s: %s", vm_status_name(r.status), r.why);
	ck_assert_msg(strstr(r.console, "payload-ok arg1 hi forty-two in /data\n") != NULL, "%s", r.console);
	vm_result_release(&r);
	check_tmpdir_remove(files);
	assert_clean();
}
END_TEST

START_TEST(timeout_kills)
{
	struct vm_options o = tcg_options();
	o.timeout_ms = 15000;
	struct vm_payload p = {.command = "echo sleeping; sleep 1000"};
	struct vm_result r;
	run_ok(&o, &p, &r);
	ck_assert_msg(r.status == VM_TIMEOUT, "%s: %s", vm_status_name(r.status), r.why);
	ck_assert_int_eq(r.exit_code, -1);
	ck_assert_uint_ge(r.total_ms, 15000);
	ck_assert_uint_lt(r.total_ms, 25000);
	ck_assert_ptr_nonnull(strstr(r.why, "15000 ms"));
	ck_assert_ptr_nonnull(strstr(r.console, "sleeping"));
	vm_result_release(&r);
	assert_clean();
}
END_TEST

START_TEST(kernel_panic_is_error)
{
	struct vm_options o = tcg_options();
	/* sysrq-c crashes the kernel: the init never reports. */
	struct vm_payload p = {.command = "echo c > /proc/sysrq-trigger; sleep 100"};
	struct vm_result r;
	run_ok(&o, &p, &r);
	ck_assert_msg(r.status == VM_ERROR, "%s: %s", vm_status_name(r.status), r.why);
	ck_assert_msg(strstr(r.why, "Kernel panic") != NULL, "%s", r.why);
	ck_assert_int_eq(r.exit_code, -1);
	vm_result_release(&r);
	assert_clean();
}
END_TEST

/*
 * Every guest has loopback; one with a network has eth0 on QEMU's restricted
 * user network and still no route out. Without a network there is no eth0.
 */
#define NET_PROBE                                                                                            \
	"nc -l -p 7777 127.0.0.1 >/tmp/got & sleep 0.3; echo over-loopback | nc 127.0.0.1 7777; sleep 0.3; "   \
	"cat /tmp/got; "                                                                                     \
	"if [ -e /sys/class/net/eth0 ]; then echo eth0=$(ip -4 addr show eth0 | grep -o 'inet [0-9.]*'); "  \
	"else echo no-eth0; fi; "                                                                            \
	"if nc -w 2 203.0.113.1 80 </dev/null 2>/dev/null; then echo escaped; else echo no-way-out; fi"

START_TEST(network_restricted)
{
	struct vm_options o = tcg_options();
	struct vm_payload p = {.command = NET_PROBE};
	struct vm_result r;
	run_ok(&o, &p, &r);
	ck_assert_msg(r.status == VM_PASS, "%s: %s", vm_status_name(r.status), r.why);
	ck_assert_msg(strstr(r.console, "over-loopback") != NULL, "%s", r.console);
	ck_assert_msg(strstr(r.console, "no-eth0") != NULL, "%s", r.console);
	ck_assert_msg(strstr(r.console, "no-way-out") != NULL, "%s", r.console);
	vm_result_release(&r);

	o.network = 1;
	run_ok(&o, &p, &r);
	ck_assert_msg(r.status == VM_PASS, "%s: %s", vm_status_name(r.status), r.why);
	ck_assert_msg(strstr(r.console, "eth0=inet " VM_GUEST_ADDR) != NULL, "%s", r.console);
	ck_assert_msg(strstr(r.console, "over-loopback") != NULL, "%s", r.console);
	ck_assert_msg(strstr(r.console, "no-way-out") != NULL && !strstr(r.console, "escaped"), "%s", r.console);
	vm_result_release(&r);
	assert_clean();
}
END_TEST

START_TEST(forged_line_ignored)
{
	struct vm_options o = tcg_options();
	struct vm_payload p = {
	    .command = "echo 'RIPPLE-VM1 type=status exit=0 signal=0 run_ms=0 maxrss_kb=0 crc=00000000'; "
		       "printf 'RIPPLE-VM1 type=status exit=0 crc=12345678'; exit 4"};
	struct vm_result r;
	run_ok(&o, &p, &r);
	ck_assert_msg(r.status == VM_FAIL, "%s: %s", vm_status_name(r.status), r.why);
	ck_assert_int_eq(r.exit_code, 4);
	vm_result_release(&r);
	assert_clean();
}
END_TEST

START_TEST(auto_accel)
{
	struct vm_options o = tcg_options();
	o.accel = VM_ACCEL_AUTO;
	struct vm_payload p = {.command = "echo auto-ok"};
	struct vm_result r;
	run_ok(&o, &p, &r);
	char accel[8];
	uint64_t probe_ms = 0;
	ck_assert_int_eq(vm_probe(&o, accel, &probe_ms, NULL), 0);
	ck_assert_str_eq(r.accel, accel);
	ck_assert_msg(r.status == VM_PASS, "%s: %s", vm_status_name(r.status), r.why);
	ck_assert_ptr_nonnull(strstr(r.console, "auto-ok"));
	if (access("/dev/kvm", R_OK | W_OK) != 0)
		ck_assert_str_eq(accel, "tcg");
	else
		ck_assert_uint_le(probe_ms, 20000);
	vm_result_release(&r);
	assert_clean();
}
END_TEST

START_TEST(ten_runs_leave_nothing)
{
	struct vm_options o = tcg_options();
	for (int i = 0; i < 10; i++) {
		char cmd[64];
		snprintf(cmd, sizeof(cmd), "exit %d", i % 2 ? 1 : 0);
		struct vm_payload p = {.command = cmd};
		struct vm_result r;
		run_ok(&o, &p, &r);
		ck_assert_msg(r.status == (i % 2 ? VM_FAIL : VM_PASS), "run %d: %s: %s", i,
			      vm_status_name(r.status), r.why);
		vm_result_release(&r);
	}
	assert_clean();
}
END_TEST

START_TEST(bad_input)
{
	struct vm_options o = tcg_options();
	struct vm_result r;
	struct rp_error err = {.msg = ""};
	struct vm_payload none = {.command = NULL};
	ck_assert_int_eq(vm_run(&o, &none, &r, &err), RP_EINVAL);
	static const char *const bad[] = {"x", "/a/../b", "/init", "/ripple/job", "/a//b", "/a/", "/"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct vm_file f = {"/etc/hostname", bad[i]};
		struct vm_payload p = {.files = &f, .n_files = 1, .command = "true"};
		ck_assert_msg(vm_run(&o, &p, &r, &err) == RP_EINVAL, "%s", bad[i]);
		ck_assert_ptr_nonnull(strstr(err.msg, "bad guest path"));
	}
	struct vm_file missing = {"/no/such/file", "/x"};
	struct vm_payload p = {.files = &missing, .n_files = 1, .command = "true"};
	ck_assert_int_eq(vm_run(&o, &p, &r, &err), RP_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(err.msg, "/no/such/file"));
	o.kernel = "/no/such/kernel";
	struct vm_payload t = {.command = "true"};
	ck_assert_int_eq(vm_run(&o, &t, &r, &err), RP_ENOTFOUND);
	assert_clean();
}
END_TEST

static Suite *vm_suite(void)
{
	Suite *s = suite_create("vm");
	TCase *fast = tcase_create("fast");
	tcase_add_checked_fixture(fast, setup, teardown);
	tcase_add_test(fast, frame_line_crc);
	tcase_add_test(fast, bad_input);
	suite_add_tcase(s, fast);
	TCase *boot = tcase_create("boot");
	tcase_add_checked_fixture(boot, setup, teardown);
	tcase_set_timeout(boot, 180);
	tcase_add_test(boot, pass_tcg);
	tcase_add_test(boot, fail_tcg);
	tcase_add_test(boot, payload_files);
	tcase_add_test(boot, timeout_kills);
	tcase_add_test(boot, kernel_panic_is_error);
	tcase_add_test(boot, forged_line_ignored);
	tcase_add_test(boot, network_restricted);
	tcase_add_test(boot, auto_accel);
	suite_add_tcase(s, boot);
	TCase *many = tcase_create("many");
	tcase_add_checked_fixture(many, setup, teardown);
	tcase_set_timeout(many, 600);
	tcase_add_test(many, ten_runs_leave_nothing);
	suite_add_tcase(s, many);
	return s;
}

int main(void)
{
	return check_run_suite(vm_suite());
}
