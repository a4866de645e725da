/*
 * test_backend_vm.c — the `vm` runner backend (runner/backend_vm.c) and the
 * guest payload it builds (runner/guest_payload.c), with real gcc-built ELF
 * files, real bubblewrap for the host side and real QEMU (TCG) guests:
 * a payload's libraries found as the guest's loader will look for them; a
 * guest test that passes, fails with its status, times out, panics the
 * kernel (an infrastructure error with the console's tail) or lacks its
 * payload (a failure of the package's, with one line); and fifty guests, two
 * at a time, that leave no file and no QEMU process behind.
 */
#include <check.h>
#include <stdarg.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "runner/backend.h"
#include "runner/runner-internal.h"
#include "tests/check_main.h"
#include "tests/vm/guest_run.h"
#include "tests/vm/vm_check.h"

static char root[PATH_MAX], ws[PATH_MAX + 16], prefix[PATH_MAX + 16], sysroot[PATH_MAX + 16], tmp[PATH_MAX + 16];

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

/*
 * A job's directories: sysroot/lib/libfoo.so.1 (a dependency's library) and
 * the workspace's tests/prog, which calls foo() and exits with its argument.
 */
static void setup(void)
{
	check_tmpdir_make(root, "bvm");
	snprintf(ws, sizeof(ws), "%s/ws", root);
	snprintf(prefix, sizeof(prefix), "%s/prefix", root);
	snprintf(sysroot, sizeof(sysroot), "%s/sysroot", root);
	snprintf(tmp, sizeof(tmp), "%s/tmp", root);
	sh("mkdir -p '%s/tests' '%s' '%s/lib' '%s'", ws, prefix, sysroot, tmp);
	sh("cd '%s' && printf 'int foo(void) { return 42; }\\n' >foo.c && "
	   "gcc -shared -fPIC -Wl,-soname,libfoo.so.1 -o lib/libfoo.so.1 foo.c && ln -s libfoo.so.1 lib/libfoo.so && "
	   "rm foo.c",
	   sysroot);
	sh("cd '%s' && printf '#include <stdio.h>\\n#include <stdlib.h>\\nint foo(void);\\n"
	   "int main(int c, char **v) { FILE *f = fopen(\"tests/data.txt\", \"r\"); char b[32] = \"\";\\n"
	   "if (f) { fgets(b, sizeof b, f); fclose(f); }\\n"
	   "printf(\"foo=%%%%d data=%%%%s\\\\n\", foo(), b); return c > 1 ? atoi(v[1]) : 0; }\\n' >tests/prog.c && "
	   "gcc -o tests/prog tests/prog.c -L'%s/lib' -lfoo && printf 'seven\\n' >tests/data.txt",
	   ws, sysroot);
	setenv("TMPDIR", tmp, 1);
}

static void teardown(void)
{
	check_tmpdir_remove(root);
}

static const struct backend__guest_map *job_maps(void)
{
	static struct backend__guest_map maps[3];
	maps[0] = (struct backend__guest_map){BACKEND_SANDBOX_WORKSPACE, ws};
	maps[1] = (struct backend__guest_map){BACKEND_SANDBOX_SYSROOT, sysroot};
	maps[2] = (struct backend__guest_map){BACKEND_SANDBOX_PREFIX, prefix};
	return maps;
}

static const struct vm_file *find_guest(const struct vm_file *f, size_t n, const char *guest)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(f[i].guest, guest) == 0)
			return &f[i];
	return NULL;
}

static const struct vm_file *find_guest_suffix(const struct vm_file *f, size_t n, const char *suffix)
{
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(f[i].guest), s = strlen(suffix);
		if (l >= s && strcmp(f[i].guest + l - s, suffix) == 0)
			return &f[i];
	}
	return NULL;
}

START_TEST(payload_follows_the_loader)
{
	const char *patterns[] = {"tests/prog", "tests/*.txt"};
	struct vm_file *files;
	size_t n;
	struct rp_error err = {.msg = ""};
	int rc = backend__guest_payload(job_maps(), 3, patterns, 2, "/ripple/sysroot/lib", &files, &n, &err);
	ck_assert_msg(rc == 0, "%d %s", rc, err.msg);
	char want[PATH_MAX + 64];
	const struct vm_file *f = find_guest(files, n, "/ripple/src/tests/prog");
	ck_assert_ptr_nonnull(f);
	snprintf(want, sizeof(want), "%s/tests/prog", ws);
	ck_assert_str_eq(f->host, want);
	ck_assert_ptr_nonnull(find_guest(files, n, "/ripple/src/tests/data.txt"));
	/* The dependency's library from the sysroot, where LD_LIBRARY_PATH sends the guest's loader. */
	f = find_guest(files, n, "/ripple/sysroot/lib/libfoo.so.1");
	ck_assert_ptr_nonnull(f);
	snprintf(want, sizeof(want), "%s/lib/libfoo.so.1", sysroot);
	ck_assert_str_eq(f->host, want);
	/* The system's C library and the loader the program names. */
	f = find_guest_suffix(files, n, "/libc.so.6");
	ck_assert_ptr_nonnull(f);
	ck_assert_str_eq(f->host, f->guest);
	ck_assert_ptr_nonnull(find_guest(files, n, "/lib64/ld-linux-x86-64.so.2"));
	/* Nothing twice, nothing else of the tree (prog.c). */
	for (size_t i = 0; i < n; i++) {
		ck_assert_ptr_null(strstr(files[i].guest, "prog.c"));
		for (size_t k = i + 1; k < n; k++)
			ck_assert_str_ne(files[i].guest, files[k].guest);
	}
	backend__guest_payload_free(files, n);
}
END_TEST

START_TEST(payload_errors_say_what_is_missing)
{
	struct vm_file *files = NULL;
	size_t n = 0;
	struct rp_error err = {.msg = ""};
	const char *none[] = {"build/*.bin"};
	ck_assert_int_eq(backend__guest_payload(job_maps(), 3, none, 1, NULL, &files, &n, &err), RP_EINVAL);
	ck_assert_msg(strstr(err.msg, "\"build/*.bin\" matches no file") != NULL, "%s", err.msg);
	ck_assert_ptr_null(files);
	/* Without the sysroot in LD_LIBRARY_PATH, libfoo is nowhere the loader looks. */
	const char *prog[] = {"tests/prog"};
	ck_assert_int_eq(backend__guest_payload(job_maps(), 3, prog, 1, "/nowhere", &files, &n, &err), RP_EINVAL);
	ck_assert_msg(strstr(err.msg, "/ripple/src/tests/prog needs libfoo.so.1") != NULL, "%s", err.msg);
	const char *abs[] = {"/etc/passwd"};
	ck_assert_int_eq(backend__guest_payload(job_maps(), 3, abs, 1, NULL, &files, &n, &err), RP_EINVAL);
}
END_TEST

/* ---- the backend on a loop ---- */

/* The vm backend on TCG; `output_max` (MiB) caps its output port when not 0. */
static struct backend *open_vm_capped(int output_max)
{
	struct rp_target t = {.name = "vm", .runner = RP_RUNNER_VM};
	t.options = json_pack("{s:s, s:i, s:s}", "runner", "vm", "memory", 256, "accel", "tcg");
	if (output_max)
		json_object_set_new(t.options, "output_max", json_integer(output_max));
	struct backend *b = NULL;
	struct rp_error err = {.msg = ""};
	int rc = backend_open(&t, NULL, &b, &err);
	json_decref(t.options);
	ck_assert_msg(rc == 0, "backend_open: %s", err.msg);
	ck_assert(backend_has_guest(b));
	return b;
}

static struct backend *open_vm(void)
{
	return open_vm_capped(0);
}

static void prepare(struct guest_run *r, struct backend *b)
{
	struct backend_job_spec spec = {.workspace = ws, .prefix = prefix, .sysroot = sysroot};
	guest_run_prepare(r, b, &spec);
}

static const char *const job_env[] = {"PATH=/usr/bin:/bin", "LD_LIBRARY_PATH=/ripple/sysroot/lib",
				      "RIPPLE_PREFIX=/elsewhere", NULL};

/* Runs `script` in a fresh guest of a prepared job, bringing `outputs` back, then finishes the job. */
static void guest_step_out(struct guest_run *r, const char *script, uint64_t timeout_ms, const char *const *payload,
			   size_t n_payload, const char *const *outputs, size_t n_outputs)
{
	snprintf(r->log, sizeof(r->log), "%s/guest.log", root);
	struct step_spec spec = {.script = script, .env = job_env, .timeout_ms = timeout_ms, .log_path = r->log};
	struct backend_guest guest = {
	    .payload = payload, .n_payload = n_payload, .outputs = outputs, .n_outputs = n_outputs};
	guest_run_step(r, &spec, &guest);
}

static void guest_step(struct guest_run *r, const char *script, uint64_t timeout_ms, const char *const *payload,
		       size_t n_payload)
{
	guest_step_out(r, script, timeout_ms, payload, n_payload, NULL, 0);
}

static const char *const prog_payload[] = {"tests/prog", "tests/data.txt"};

START_TEST(guest_passes)
{
	struct backend *b = open_vm();
	struct guest_run r;
	prepare(&r, b);
	ck_assert_str_eq(backend_job_paths(r.job)->workspace, BACKEND_SANDBOX_WORKSPACE);
	guest_step(&r, "echo \"prefix=$RIPPLE_PREFIX cwd=$(pwd)\"; tests/prog", 120000, prog_payload, 2);
	const char *log = guest_run_slurp(r.log);
	ck_assert_msg(r.res.status == STEP_PASSED, "%s: %s / %s", step_status_name(r.res.status), r.res.error, log);
	ck_assert_int_eq(r.res.exit_status, 0);
	ck_assert_str_eq(r.res.error, "");
	/* The console is the step's log: the program's output, the backend's paths, the framed status. */
	ck_assert_msg(strstr(log, "foo=42 data=seven") != NULL, "%s", log);
	ck_assert_msg(strstr(log, "prefix=/ripple/prefix cwd=/ripple/src") != NULL, "%s", log);
	ck_assert_ptr_nonnull(strstr(log, "RIPPLE-VM1 type=status exit=0"));
	backend_close(b);
}
END_TEST

START_TEST(guest_fails_with_its_status)
{
	struct backend *b = open_vm();
	struct guest_run r;
	prepare(&r, b);
	guest_step(&r, "tests/prog 3", 120000, prog_payload, 2);
	ck_assert_msg(r.res.status == STEP_FAILED, "%s", step_status_name(r.res.status));
	ck_assert_int_eq(r.res.exit_status, 3);
	ck_assert_str_eq(r.res.error, "");
	ck_assert_ptr_nonnull(strstr(guest_run_slurp(r.log), "foo=42"));
	backend_close(b);
}
END_TEST

START_TEST(guest_timeout)
{
	struct backend *b = open_vm();
	struct guest_run r;
	prepare(&r, b);
	guest_step(&r, "sleep 600", 6000, prog_payload, 1);
	ck_assert_msg(r.res.status == STEP_TIMED_OUT, "%s", step_status_name(r.res.status));
	ck_assert_str_eq(r.res.error, "");
	backend_close(b);
}
END_TEST

START_TEST(guest_panic_is_the_machines)
{
	struct backend *b = open_vm();
	struct guest_run r;
	prepare(&r, b);
	guest_step(&r, "echo c > /proc/sysrq-trigger; sleep 100", 120000, prog_payload, 1);
	ck_assert_msg(r.res.status == STEP_FAILED, "%s", step_status_name(r.res.status));
	ck_assert_msg(strstr(r.res.error, "Kernel panic") != NULL, "%s", r.res.error);
	ck_assert_msg(strstr(r.res.error, "console: ") != NULL, "%s", r.res.error);
	backend_close(b);
}
END_TEST

START_TEST(missing_payload_is_the_packages)
{
	struct backend *b = open_vm();
	struct guest_run r;
	prepare(&r, b);
	const char *payload[] = {"tests/prog", "tests/golden/*.out"};
	guest_step(&r, "tests/prog", 120000, payload, 2);
	ck_assert_msg(r.res.status == STEP_FAILED, "%s", step_status_name(r.res.status));
	ck_assert_str_eq(r.res.error, "");
	const char *log = guest_run_slurp(r.log);
	ck_assert_msg(strstr(log, "ripple: guest payload: \"tests/golden/*.out\" matches no file") != NULL, "%s", log);
	backend_close(b);
}
END_TEST

START_TEST(guest_outputs_come_back)
{
	struct backend *b = open_vm();
	struct guest_run r;
	prepare(&r, b);
	/* A file the guest changes, one it makes in a new directory, binary bytes; and one outside the outputs. */
	sh("mkdir -p '%s/out/old' && echo before > '%s/out/old/kept' && echo host > '%s/out/changed'", ws, ws, ws);
	static const char *const outputs[] = {"out", "more/deep"};
	static const char *const payload[] = {"tests/prog", "out"};
	guest_step_out(&r,
		       "cat out/old/kept && echo guest > out/changed && mkdir -p out/new && printf 'a\\000b\\377' > out/new/bin"
		       " && echo deep > more/deep/file && echo no > elsewhere && exit 4",
		       120000, payload, 2, outputs, 2);
	const char *log = guest_run_slurp(r.log);
	/* The script's own status stands; what it left came back all the same. */
	ck_assert_msg(r.res.status == STEP_FAILED && r.res.exit_status == 4, "%s %d: %s / %s",
		      step_status_name(r.res.status), r.res.exit_status, r.res.error, log);
	ck_assert_str_eq(r.res.error, "");
	ck_assert_ptr_nonnull(strstr(log, "before"));
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/out/changed", ws);
	ck_assert_str_eq(guest_run_slurp(path), "guest\n");
	snprintf(path, sizeof(path), "%s/out/new/bin", ws);
	FILE *f = fopen(path, "rb");
	ck_assert_ptr_nonnull(f);
	unsigned char bytes[8];
	ck_assert_uint_eq(fread(bytes, 1, sizeof(bytes), f), 4);
	fclose(f);
	ck_assert(bytes[0] == 'a' && bytes[1] == 0 && bytes[2] == 'b' && bytes[3] == 0xff);
	snprintf(path, sizeof(path), "%s/more/deep/file", ws);
	ck_assert_str_eq(guest_run_slurp(path), "deep\n");
	snprintf(path, sizeof(path), "%s/elsewhere", ws);
	ck_assert_int_ne(access(path, F_OK), 0);
	backend_close(b);
}
END_TEST

START_TEST(guest_outputs_stay_inside)
{
	struct backend *b = open_vm();
	struct guest_run r;
	/* A guest that sends what is not under its outputs: refused, and nothing of it lands. */
	prepare(&r, b);
	sh("mkdir -p '%s/out' '%s/victim' && ln -s '%s/victim' '%s/out/link'", ws, ws, ws, ws);
	static const char *const outputs[] = {"out"};
	static const char *const payload[] = {"tests/prog"};
	guest_step_out(&r, "mkdir -p x && echo bad > x/evil && tar -cf /dev/ripple-out x && sleep 1", 120000, payload, 1,
		       outputs, 1);
	ck_assert_msg(r.res.status == STEP_FAILED, "%s", step_status_name(r.res.status));
	ck_assert_msg(strstr(r.res.error, "guest outputs: the guest sent x/") != NULL, "%s", r.res.error);
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/x", ws);
	ck_assert_int_ne(access(path, F_OK), 0);
	/* Nor through a link the host's workspace holds. */
	prepare(&r, b);
	guest_step_out(&r, "rm -f out/link && mkdir -p out/link && echo bad > out/link/evil", 120000, payload, 1, outputs,
		       1);
	ck_assert_msg(r.res.status == STEP_FAILED, "%s", step_status_name(r.res.status));
	ck_assert_msg(strstr(r.res.error, "guest outputs: out/link") != NULL, "%s", r.res.error);
	snprintf(path, sizeof(path), "%s/victim/evil", ws);
	ck_assert_int_ne(access(path, F_OK), 0);
	/* An output a guest cannot name safely is refused before anything boots. */
	prepare(&r, b);
	static const char *const bad[] = {"../up"};
	struct step_spec spec = {.script = "true", .env = job_env, .timeout_ms = 1000};
	struct backend_guest guest = {.payload = payload, .n_payload = 1, .outputs = bad, .n_outputs = 1};
	struct step *s;
	struct rp_error err = {.msg = ""};
	ck_assert_int_eq(backend_start_guest_step(r.job, &spec, &guest, guest_run_on_step, &r, &s, &err), RP_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "output 0"));
	guest_run_finish(&r);
	backend_close(b);
}
END_TEST

START_TEST(guest_gets_a_corpus_of_twenty_thousand)
{
	/* A fuzz corpus grows night after night: tens of thousands of small files go into the guest. */
	enum { CORPUS = 20000 };
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/corpus", ws);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	for (int i = 0; i < CORPUS; i++) {
		snprintf(path, sizeof(path), "%s/corpus/input-%05d", ws, i);
		FILE *f = fopen(path, "w");
		ck_assert_ptr_nonnull(f);
		fprintf(f, "input %d\n", i);
		ck_assert_int_eq(fclose(f), 0);
	}
	struct backend *b = open_vm();
	struct guest_run r;
	prepare(&r, b);
	static const char *const payload[] = {"tests/prog", "corpus"};
	guest_step(&r, "echo \"count=$(ls corpus | wc -l)\"; cat corpus/input-12345 corpus/input-19999", 120000, payload,
		   2);
	const char *log = guest_run_slurp(r.log);
	ck_assert_msg(r.res.status == STEP_PASSED, "%s %s: %s", step_status_name(r.res.status), r.res.error, log);
	ck_assert_msg(strstr(log, "count=20000") != NULL, "%s", log);
	ck_assert_msg(strstr(log, "input 12345") != NULL && strstr(log, "input 19999") != NULL, "%s", log);
	backend_close(b);
}
END_TEST

START_TEST(guest_flooding_its_port_is_stopped)
{
	/* A guest that writes its output port without end: QEMU dies of SIGXFSZ at the cap, nothing lands. */
	struct backend *b = open_vm_capped(1);
	struct guest_run r;
	prepare(&r, b);
	static const char *const outputs[] = {"out"};
	static const char *const payload[] = {"tests/prog"};
	guest_step_out(&r, "mkdir -p out && echo x > out/small && dd if=/dev/zero of=/dev/ripple-out bs=64k count=64", 120000,
		       payload, 1, outputs, 1);
	ck_assert_msg(r.res.status == STEP_FAILED, "%s", step_status_name(r.res.status));
	ck_assert_msg(strstr(r.res.error, "guest outputs: the guest sent more than 1 MiB through its output port") != NULL,
		      "%s / %s", r.res.error, guest_run_slurp(r.log));
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/out", ws);
	ck_assert_int_ne(access(path, F_OK), 0);
	backend_close(b);
	/* The port's file went with the guest, and so did QEMU. */
	ck_assert_int_eq(vm_check_entries(tmp), 0);
	ck_assert_int_eq(vm_check_qemu_mentioning(tmp), 0);
}
END_TEST

START_TEST(host_steps_run_in_the_sandbox)
{
	struct backend *b = open_vm();
	struct guest_run r;
	prepare(&r, b);
	snprintf(r.log, sizeof(r.log), "%s/host.log", root);
	struct step_spec spec = {.script = "pwd; touch \"$RIPPLE_PREFIX/built\"", .env = job_env, .log_path = r.log};
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

#define MANY 50

struct many {
	uv_loop_t loop;
	struct backend *b;
	int started, passed, failed, running;
	char why[512];
};

struct slot {
	struct many *m;
	struct backend_job *job;
	int index;
	char log[PATH_MAX + 32];
};

static void many_next(struct slot *sl);

static void many_finished(struct backend_job *job, int status, const struct rp_error *err, void *data)
{
	struct slot *sl = data;
	(void)job;
	ck_assert_msg(status == 0, "finish: %s", err ? err->msg : "");
	sl->m->running--;
	many_next(sl);
}

static void many_stepped(struct step *s, const struct step_result *res, void *data)
{
	struct slot *sl = data;
	(void)s;
	/* Every third guest fails on purpose: a failing test must leave nothing either. */
	int want_fail = sl->index % 3 == 2;
	if (res->status == (want_fail ? STEP_FAILED : STEP_PASSED) && res->exit_status == (want_fail ? 5 : 0))
		sl->m->passed++;
	else {
		sl->m->failed++;
		snprintf(sl->m->why, sizeof(sl->m->why), "guest %d: %s exit %d %.400s", sl->index,
			 step_status_name(res->status), res->exit_status, res->error);
	}
	struct rp_error err;
	ck_assert_int_eq(backend_finish_job(sl->job, many_finished, sl, &err), 0);
}

static void many_prepared(struct backend_job *job, int status, const struct rp_error *err, void *data)
{
	struct slot *sl = data;
	ck_assert_msg(status == 0, "prepare: %s", err ? err->msg : "");
	sl->job = job;
	struct step_spec spec = {.script = sl->index % 3 == 2 ? "tests/prog 5" : "tests/prog",
				 .env = job_env,
				 .timeout_ms = 120000,
				 .log_path = sl->log};
	struct backend_guest guest = {.payload = prog_payload, .n_payload = 2};
	struct step *s;
	struct rp_error e2 = {.msg = ""};
	ck_assert_msg(backend_start_guest_step(job, &spec, &guest, many_stepped, sl, &s, &e2) == 0, "%s", e2.msg);
}

static void many_next(struct slot *sl)
{
	struct many *m = sl->m;
	if (m->started == MANY)
		return;
	sl->index = m->started++;
	m->running++;
	struct backend_job_spec spec = {.workspace = ws, .prefix = prefix, .sysroot = sysroot};
	struct rp_error err = {.msg = ""};
	ck_assert_msg(backend_prepare_job(m->b, &m->loop, &spec, many_prepared, sl, &err) == 0, "%s", err.msg);
}

START_TEST(fifty_guests_leave_nothing)
{
	struct many m = {0};
	ck_assert_int_eq(uv_loop_init(&m.loop), 0);
	m.b = open_vm();
	struct slot slots[2];
	for (int i = 0; i < 2; i++) {
		slots[i] = (struct slot){.m = &m};
		snprintf(slots[i].log, sizeof(slots[i].log), "%s/many-%d.log", root, i);
		many_next(&slots[i]);
	}
	uv_run(&m.loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(m.running, 0);
	ck_assert_msg(m.passed == MANY, "%d of %d as expected; %s", m.passed, MANY, m.why);
	ck_assert_int_eq(uv_loop_close(&m.loop), 0);
	backend_close(m.b);
	/* No initramfs left in TMPDIR, no QEMU left that booted one. */
	ck_assert_int_eq(vm_check_entries(tmp), 0);
	ck_assert_int_eq(vm_check_qemu_mentioning(tmp), 0);
}
END_TEST

START_TEST(bad_target_options)
{
	static const char *const bad[][2] = {
	    {"{\"runner\": \"vm\", \"memory\": 8}", "\"memory\" must be an integer from 64 to 65536"},
	    {"{\"runner\": \"vm\", \"accel\": \"fast\"}", "\"accel\" must be \"auto\", \"kvm\" or \"tcg\""},
	    {"{\"runner\": \"vm\", \"kernel\": \"vmlinuz\"}", "\"kernel\" must be an absolute path"},
	    {"{\"runner\": \"vm\", \"kernel\": \"/nonexistent/vmlinuz\"}", "kernel /nonexistent/vmlinuz"},
	    {"{\"runner\": \"vm\", \"network\": \"yes\"}", "\"network\" must be true or false"},
	    {"{\"runner\": \"vm\", \"output_max\": 0}", "\"output_max\" must be an integer from 1 to 65536"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct rp_target t = {.name = "vm", .runner = RP_RUNNER_VM};
		t.options = json_loads(bad[i][0], 0, NULL);
		ck_assert_ptr_nonnull(t.options);
		struct backend *b = NULL;
		struct rp_error err = {.msg = ""};
		ck_assert_int_lt(backend_open(&t, NULL, &b, &err), 0);
		ck_assert_ptr_null(b);
		ck_assert_msg(strstr(err.msg, bad[i][1]) != NULL, "%s: %s", bad[i][0], err.msg);
		ck_assert_msg(strncmp(err.msg, "target \"vm\": ", 13) == 0, "%s", err.msg);
		json_decref(t.options);
	}
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("backend_vm");
	TCase *fast = tcase_create("payload");
	tcase_add_checked_fixture(fast, setup, teardown);
	tcase_add_test(fast, payload_follows_the_loader);
	tcase_add_test(fast, payload_errors_say_what_is_missing);
	tcase_add_test(fast, bad_target_options);
	suite_add_tcase(s, fast);
	TCase *boot = tcase_create("guests");
	tcase_add_checked_fixture(boot, setup, teardown);
	tcase_set_timeout(boot, 300);
	tcase_add_test(boot, guest_passes);
	tcase_add_test(boot, guest_fails_with_its_status);
	tcase_add_test(boot, guest_timeout);
	tcase_add_test(boot, guest_panic_is_the_machines);
	tcase_add_test(boot, missing_payload_is_the_packages);
	tcase_add_test(boot, host_steps_run_in_the_sandbox);
	tcase_add_test(boot, guest_outputs_come_back);
	tcase_add_test(boot, guest_outputs_stay_inside);
	tcase_add_test(boot, guest_flooding_its_port_is_stopped);
	tcase_add_test(boot, guest_gets_a_corpus_of_twenty_thousand);
	suite_add_tcase(s, boot);
	TCase *many = tcase_create("many");
	tcase_add_checked_fixture(many, setup, teardown);
	tcase_set_timeout(many, 900);
	tcase_add_test(many, fifty_guests_leave_nothing);
	suite_add_tcase(s, many);
	return s;
}

int main(void)
{
	return check_run_suite(suite());
}
