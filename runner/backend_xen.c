/*
 * backend_xen.c — the `xen` backend: a job is built on the host side in the
 * sandbox, as for `vm`, and its test runs in a throwaway guest booted from the
 * same kernel and initramfs the vm backend makes (backend__guest_boot()), as
 * a domain of a hypervisor that is not a child of ours: Xen through `xl`, or
 * whatever libvirt manages (Xen through libxl, KVM, QEMU's TCG).
 *
 * The guest step. A domain is not a process this worker spawned, yet the
 * caller needs a struct step with step.h's semantics (a log that is the
 * console, streamed; timeouts; step_cancel()). So the step is `cat` of a
 * named pipe in the guest's directory, and the backend, on the loop, copies
 * the console file (xenconsoled's log for xl, libvirt's file serial port) into
 * that pipe as it grows; the step's log, cap, stamps and timeouts are then
 * step.c's own. When the domain is gone the rest of the file is copied and the
 * pipe closed: cat ends by itself, and the framed status line read from the
 * console decides the result, exactly as for vm (vm__scan_*). A timeout or a
 * cancellation ends cat: then the domain is destroyed before the step's
 * callback runs, so that nothing of it is left when the caller hears of it.
 *
 * Blocking on the loop: writing the initramfs (~20 ms), creating the domain
 * (`xl create` or virDomainCreateXML, a second or so), `xl list` every
 * 200 ms to see whether the domain still exists (tens of ms each), and
 * destroying a domain that did not end by itself. The worker's slot runs that
 * one job meanwhile; the caller needs the step at once, and there is none
 * before the domain exists.
 */
#define _GNU_SOURCE /* asprintf, mkdtemp */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "runner-internal.h"
#include "xen.h"
#include "core/banned.h"

#define XEN__MEMORY_MIN 64
#define XEN__MEMORY_MAX 65536
#define XEN__MEMORY_DEFAULT 256
#define XEN__VCPUS_MAX 64
/* How often the console is copied, and how often (in ticks) the domain is looked for. */
#define XEN__TICK_MS 25
#define XEN__POLL_TICKS 8
/* After the domain is gone: how long its console may still grow (xenconsoled's last write). */
#define XEN__SETTLE_MS 100
#define XEN__COPY_CHUNK (64 * 1024)
#define XEN__EMBED_PREFIX "qemu:///embed?root="

enum xen_driver { XEN_DRIVER_XL, XEN_DRIVER_LIBVIRT };

struct xen_backend {
	struct backend base;
	struct backend *host; /* the sandbox the host-side steps run in */
	struct vm_options vo;
	enum xen_driver driver;
	unsigned memory_mb, vcpus;
	char kernel[1024];
	char console_dir[1024]; /* xl: xenconsoled's --log-dir */
	char uri[1024];		/* libvirt */
	char kind[8];		/* libvirt: xen, kvm, qemu */
	char embed_root[1024];	/* libvirt's qemu:///embed?root=DIR: DIR, else "" */
};

/* One guest step: a domain, its files, and the `cat` step that is its console. */
struct xen_guest {
	struct xen_backend *xb;
	struct backend__guest_job *gj;
	struct vm__boot boot;
	struct vm__scan scan;
	char dir[PATH_MAX]; /* this guest's directory: initramfs, xl config, console (libvirt), pipe */
	char name[XEN_NAME_MAX + 1]; /* the domain */
	char *console;		     /* the file the console is written to (owned) */
	char pipe[PATH_MAX + 16];    /* the named pipe `cat` reads */
	int pipe_fd, console_fd;     /* -1 when closed */
	off_t console_off;	     /* bytes of the console copied into the pipe */
	struct xen_virt *virt;	     /* libvirt: the domain */
	struct step *step;	     /* the `cat` step, until guest_done */
	int cat_open;		     /* cat has opened the pipe (see pipe_opened()) */
	int exists;		     /* the domain was created and has not been seen gone */
	uint64_t ended_at;	     /* uv_now() when it was seen gone; 0 before */
	unsigned ticks;
	uv_timer_t tick;
	int tick_started;
	step_done_cb done;
	step_output_cb on_output;
	void *data;
	uint64_t timeout_ms;
	char why[RP_ERROR_MAX]; /* the machine's failure seen before the console ended ("" when none) */
	char how[48];		/* how the domain ended, when the driver says (libvirt) */
};

/* ---- files ---- */

/* Removes every entry of `dir` (no subdirectories are made there), then `dir`. */
static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d))) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			char path[PATH_MAX + 256];
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			unlink(path);
		}
		closedir(d);
	}
	rmdir(dir);
}

/* Writes `text` into `path` through a temporary name, unless `path` exists. */
static int write_new_file(const char *path, const char *text, struct rp_error *err)
{
	char tmp[PATH_MAX + 16];
	if (access(path, F_OK) == 0)
		return 0;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= sizeof(tmp))
		return rp_error_set(err, RP_EINVAL, "%s: too long a path", path);
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return rp_error_set(err, RP_EIO, "%s: cannot create: %s", tmp, strerror(errno));
	size_t len = strlen(text);
	int ok = write(fd, text, len) == (ssize_t)len && fchmod(fd, 0644) == 0;
	ok = close(fd) == 0 && ok;
	if (!ok || rename(tmp, path) != 0) {
		int e = errno;
		unlink(tmp);
		return rp_error_set(err, RP_EIO, "%s: cannot write: %s", path, strerror(e));
	}
	return 0;
}

static int mkdir_p(const char *path, struct rp_error *err)
{
	char buf[PATH_MAX];
	if ((size_t)snprintf(buf, sizeof(buf), "%s", path) >= sizeof(buf))
		return rp_error_set(err, RP_EINVAL, "path too long: %s", path);
	for (char *s = buf + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return rp_error_set(err, RP_EIO, "cannot create %s: %s", buf, strerror(errno));
		*s = c;
		if (!c)
			return 0;
	}
}

/*
 * libvirt's embedded QEMU driver keeps its state under the URI's root and
 * reads ROOT/etc/qemu.conf. ripple owns that root, and writes that file when
 * it is absent: QEMU runs as this worker's user, and libvirt neither chowns
 * nor labels the files it is given (as root it would run QEMU as libvirt-qemu,
 * chown the kernel and initramfs to it and record their owners in xattrs of
 * the shared kernel), and QEMU's stdio goes to a file (libvirt's default,
 * virtlogd, is a daemon that a worker does not have).
 */
static int embed_config(const char *root, struct rp_error *err)
{
	char etc[PATH_MAX], conf[PATH_MAX + 16], text[1024];
	int rc;
	struct passwd *pw = getpwuid(geteuid());
	struct group *gr = getgrgid(getegid());
	if (!pw || !gr)
		return rp_error_set(err, RP_EIO, "cannot name this process's user and group");
	snprintf(etc, sizeof(etc), "%s/etc", root);
	if ((rc = mkdir_p(etc, err)) < 0)
		return rc;
	snprintf(conf, sizeof(conf), "%s/qemu.conf", etc);
	snprintf(text, sizeof(text),
		 "# Written by ripple's xen backend (docs/xen.md): QEMU runs as the worker's user, the\n"
		 "# files are neither chowned nor labelled, its stdio goes to files (no virtlogd).\n"
		 "user = \"%s\"\ngroup = \"%s\"\ndynamic_ownership = 0\nremember_owner = 0\n"
		 "stdio_handler = \"file\"\n",
		 pw->pw_name, gr->gr_name);
	return write_new_file(conf, text, err);
}

/* ---- the guest ---- */

static void guest_free(uv_handle_t *h)
{
	struct xen_guest *xg = h->data;
	free(xg->console);
	free(xg);
}

static void close_pipe(struct xen_guest *xg)
{
	if (xg->pipe_fd >= 0)
		close(xg->pipe_fd);
	xg->pipe_fd = -1;
}

/*
 * Copies what the console file gained into the pipe, as much as the pipe
 * takes (the rest on a later tick). Returns the bytes read from the file.
 */
static size_t copy_console(struct xen_guest *xg)
{
	char buf[XEN__COPY_CHUNK];
	size_t total = 0;
	if (xg->pipe_fd < 0)
		return 0;
	if (xg->console_fd < 0 && (xg->console_fd = open(xg->console, O_RDONLY | O_CLOEXEC)) < 0)
		return 0; /* not there yet: xenconsoled makes it when it sees the domain */
	for (;;) {
		ssize_t n = pread(xg->console_fd, buf, sizeof(buf), xg->console_off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return total;
		total += (size_t)n;
		ssize_t w = write(xg->pipe_fd, buf, (size_t)n);
		if (w < 0)
			return total; /* EAGAIN: cat is behind; the same bytes are read again next tick */
		xg->console_off += w;
		if (w < n)
			return total;
	}
}

/* Whether the domain still exists; sets why on a failure of the driver's. */
static void poll_domain(struct xen_guest *xg, uv_loop_t *loop)
{
	struct rp_error err = {.msg = ""};
	int running = 1;
	if (xg->xb->driver == XEN_DRIVER_XL) {
		if (xen_xl_running(xg->name, &running, &err) < 0) {
			snprintf(xg->why, sizeof(xg->why), "%s", err.msg);
			running = 0;
		}
	} else {
		int ended = 0;
		if (xen_virt_wait(xg->virt, 0, &ended, &err) < 0) {
			snprintf(xg->why, sizeof(xg->why), "%s", err.msg);
			ended = 1;
		}
		running = !ended;
		if (ended)
			snprintf(xg->how, sizeof(xg->how), "%s", xen_virt_end_reason(xg->virt));
	}
	if (!running) {
		xg->exists = 0;
		xg->ended_at = uv_now(loop);
	}
}

/*
 * Whether cat has opened the pipe. Until it has, the pipe must stay open
 * here: a FIFO's open for reading blocks while no writer has it open, so cat
 * would wait forever for a writer that closed before it came.
 */
static int pipe_opened(struct xen_guest *xg)
{
	char dir[64], link[PATH_MAX + 1];
	pid_t pid = step_pid(xg->step);
	if (xg->cat_open || pid == 0)
		return 1;
	snprintf(dir, sizeof(dir), "/proc/%ld/fd", (long)pid);
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char path[sizeof(dir) + 256];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		ssize_t n = readlink(path, link, sizeof(link) - 1);
		if (n > 0) {
			link[n] = '\0';
			xg->cat_open |= strcmp(link, xg->pipe) == 0;
		}
	}
	if (d)
		closedir(d);
	return xg->cat_open;
}

static void on_tick(uv_timer_t *t)
{
	struct xen_guest *xg = t->data;
	size_t got = copy_console(xg);
	if (xg->pipe_fd < 0)
		return;
	if (xg->exists && ++xg->ticks % XEN__POLL_TICKS == 0)
		poll_domain(xg, t->loop);
	/* The domain is gone and its console has stopped growing: cat reads the rest and ends. */
	if (!xg->exists && got == 0 && uv_now(t->loop) - xg->ended_at >= XEN__SETTLE_MS && pipe_opened(xg))
		close_pipe(xg);
}

static void guest_output(struct step *step, const char *chunk, size_t len, uint64_t offset, void *data)
{
	struct xen_guest *xg = data;
	vm__scan_feed(&xg->scan, chunk, len);
	if (xg->on_output)
		xg->on_output(step, chunk, len, offset, xg->data);
}

/* Destroys the domain if it may still exist; one line in xg->why when that fails. */
static void destroy_domain(struct xen_guest *xg)
{
	struct rp_error err = {.msg = ""};
	if (xg->xb->driver == XEN_DRIVER_XL) {
		/*
		 * xl list exits 1 for its own failures too, so "gone" may have been
		 * wrong: asked once more before the domain is given up on.
		 */
		int running = 0;
		if (!xg->exists && xg->ended_at && xen_xl_running(xg->name, &running, NULL) == 0 && running)
			xg->exists = 1;
		if (xg->exists && xen_xl_destroy(xg->name, &err) < 0 &&
		    (xen_xl_running(xg->name, &running, NULL) < 0 || running) && !xg->why[0])
			snprintf(xg->why, sizeof(xg->why), "%.400s; domain %s may remain", err.msg, xg->name);
	} else {
		xen_virt_stop(xg->virt); /* destroys it if it still runs */
		xg->virt = NULL;
	}
	xg->exists = 0;
	if (xg->xb->embed_root[0]) {
		/* QEMU's own log of this domain (stdio_handler = "file"): the domain's, so it goes too. */
		char log[PATH_MAX + 128];
		snprintf(log, sizeof(log), "%s/log/qemu/%s.log", xg->xb->embed_root, xg->name);
		unlink(log);
	}
}

static void release_files(struct xen_guest *xg)
{
	if (xg->console_fd >= 0)
		close(xg->console_fd);
	xg->console_fd = -1;
	close_pipe(xg);
	vm__boot_release(&xg->boot);
	if (xg->console)
		unlink(xg->console); /* xl: in console_dir; libvirt: in dir */
	remove_dir(xg->dir);
}

static void guest_done(struct step *step, const struct step_result *res, void *data)
{
	struct xen_guest *xg = data;
	struct step_result r = *res;
	struct vm_result vr;
	uv_timer_stop(&xg->tick);
	xg->step = NULL;
	destroy_domain(xg);
	release_files(xg);
	memset(&vr, 0, sizeof(vr));
	vm__scan_judge(&xg->scan, res, xg->timeout_ms, &vr);
	if (vr.status == VM_PASS || vr.status == VM_FAIL) {
		/* The framed line decides; how the domain ended is only a cross-check, and not needed. */
		r.status = vr.exit_code == 0 ? STEP_PASSED : STEP_FAILED;
		r.exit_status = vr.exit_code;
		r.term_signal = 0;
		r.timeout = STEP_TIMEOUT_NONE;
	} else if (vr.status == VM_ERROR || xg->why[0]) {
		/* cat ended because the console did: the domain ended (or never ran) without a result. */
		char tail[400];
		vm__scan_tail(&xg->scan, tail, sizeof(tail));
		r.status = STEP_FAILED;
		if (r.exit_status == 0)
			r.exit_status = -1;
		if (xg->why[0])
			snprintf(r.error, sizeof(r.error), "guest: %.300s; console: %.180s", xg->why, tail);
		else
			snprintf(r.error, sizeof(r.error),
				 "guest: domain %.64s %.40s without a result%s%.120s; console: %.200s",
				 xg->name, xg->how[0] ? xg->how : "ended", xg->scan.panic[0] ? ": " : "",
				 xg->scan.panic, tail);
		for (char *c = r.error; *c; c++)
			if ((unsigned char)*c < 0x20)
				*c = '?';
	} /* else VM_TIMEOUT: the step's own timeout or cancellation, as it says */
	step_done_cb cb = xg->done;
	void *cb_data = xg->data;
	cb(step, &r, cb_data);
	uv_close((uv_handle_t *)&xg->tick, guest_free);
}

/* The kernel command line: QEMU's serial console becomes Xen's PV console where Xen boots it. */
static int guest_cmdline(const struct xen_backend *xb, const char *append, char *out, size_t size)
{
	static const char serial[] = "console=ttyS0";
	int pv = xb->driver == XEN_DRIVER_XL || strcmp(xb->kind, "xen") == 0;
	const char *at = pv ? strstr(append, serial) : NULL;
	int n = at ? snprintf(out, size, "%.*sconsole=hvc0%s", (int)(at - append), append,
			      at + sizeof(serial) - 1)
		   : snprintf(out, size, "%s", append);
	return n >= 0 && (size_t)n < size;
}

/* A failure before the domain ran: the step's log says it, and the step ends with that error. */
static void guest_failed(struct xen_guest *xg, const char *what)
{
	char line[RP_ERROR_MAX + 16];
	int n = snprintf(line, sizeof(line), "ripple: %s\n", what);
	if (xg->pipe_fd >= 0 && n > 0)
		(void)!write(xg->pipe_fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
	snprintf(xg->why, sizeof(xg->why), "%s", what);
	xg->exists = 0;
	xg->ended_at = uv_now(xg->gj->loop); /* on_tick() closes the pipe */
}

static int xen_start_guest_step(struct backend_job *job, const struct step_spec *spec,
				const struct backend_guest *guest, step_done_cb done, void *data,
				struct step **out, struct rp_error *err)
{
	struct backend__guest_job *gj = (struct backend__guest_job *)job;
	struct xen_backend *xb = (struct xen_backend *)job->backend;
	char cmdline[sizeof(((struct vm__boot *)0)->append) + 16];
	int rc;
	if (!spec->script)
		return rp_error_set(err, RP_EINVAL, "xen: a guest step runs a script");
	/* A domain has only its console: nothing but the result comes back (a fuzz job fuzzes on vm or the host). */
	if (guest && guest->n_outputs)
		return rp_error_set(err, RP_EINVAL, "xen: a guest step brings no outputs back");
	struct xen_guest *xg = calloc(1, sizeof(*xg));
	if (!xg)
		return rp_error_set(err, RP_ENOMEM, "xen: out of memory");
	xg->xb = xb;
	xg->gj = gj;
	xg->pipe_fd = xg->console_fd = -1;
	const char *tmp = getenv("TMPDIR");
	if ((size_t)snprintf(xg->dir, sizeof(xg->dir), "%s/ripple-xen-XXXXXX", tmp && *tmp ? tmp : "/tmp") >=
		sizeof(xg->dir) - 64 ||
	    !mkdtemp(xg->dir)) {
		rc = rp_error_set(err, RP_EIO, "xen: cannot create %s: %s", xg->dir, strerror(errno));
		free(xg);
		return rc;
	}
	/* As /proc shows cat's open pipe (pipe_opened()): no symbolic link, no "//". */
	char real[PATH_MAX];
	if (realpath(xg->dir, real) && strlen(real) < sizeof(xg->dir) - 64)
		snprintf(xg->dir, sizeof(xg->dir), "%s", real);
	/* Unique on this host: the pid, and mkdtemp's letters (a name is also a file name, xen.h). */
	snprintf(xg->name, sizeof(xg->name), "rp-%ld-%s", (long)getpid(), strrchr(xg->dir, '-') + 1);
	struct vm_options vo = xb->vo;
	vo.work_dir = xg->dir;
	rc = backend__guest_boot(gj, &vo, 0, spec, guest, &xg->boot, done, data, out, err);
	if (rc != 0) {
		remove_dir(xg->dir);
		free(xg);
		return rc < 0 ? rc : 0; /* 1: the payload's failure runs as the step */
	}
	if (!guest_cmdline(xb, xg->boot.append, cmdline, sizeof(cmdline))) {
		rc = rp_error_set(err, RP_EINVAL, "xen: kernel command line too long");
		goto fail;
	}
	if (xb->driver == XEN_DRIVER_XL)
		rc = xen_xl_console_path(xb->console_dir, xg->name, &xg->console, err);
	else if (asprintf(&xg->console, "%s/console.log", xg->dir) < 0)
		rc = rp_error_set(err, RP_ENOMEM, "xen: out of memory"), xg->console = NULL;
	if (rc < 0)
		goto fail;
	/* O_RDWR: opening a FIFO so never blocks, and cat's read end opens at once. */
	snprintf(xg->pipe, sizeof(xg->pipe), "%s/console.pipe", xg->dir);
	if (mkfifo(xg->pipe, 0600) != 0 ||
	    (xg->pipe_fd = open(xg->pipe, O_RDWR | O_NONBLOCK | O_CLOEXEC)) < 0) {
		rc = rp_error_set(err, RP_EIO, "xen: cannot make %s: %s", xg->pipe, strerror(errno));
		goto fail;
	}

	struct xen_domain d = {.name = xg->name,
			       .kernel = xg->boot.kernel,
			       .ramdisk = xg->boot.initrd,
			       .cmdline = cmdline,
			       .memory_mb = xb->memory_mb,
			       .vcpus = xb->vcpus,
			       .console_log = xg->console};
	struct rp_error cerr = {.msg = ""};
	int crc = xb->driver == XEN_DRIVER_XL ? xen_xl_create(&d, xg->dir, &cerr)
					      : xen_virt_start(xb->uri, &d, xb->kind, &xg->virt, &cerr);
	if (crc == RP_ENOMEM) {
		rc = rp_error_set(err, crc, "%s", cerr.msg);
		goto fail;
	}
	xg->exists = crc == 0;
	xg->done = done;
	xg->data = data;
	xg->on_output = spec->on_output;
	xg->timeout_ms = spec->timeout_ms;
	vm__scan_init(&xg->scan);
	static const char *const cat_env[] = {"PATH=/usr/bin:/bin", NULL};
	const char *argv[] = {"/bin/cat", xg->pipe, NULL};
	struct step_spec cs = {
	    .argv = argv,
	    .env = cat_env,
	    .timeout_ms = spec->timeout_ms,
	    .idle_timeout_ms = spec->idle_timeout_ms,
	    .output_cap = spec->output_cap,
	    .grace_ms = spec->grace_ms,
	    .log_path = spec->log_path,
	    .on_output = guest_output,
	};
	if ((rc = step_start(gj->loop, &cs, guest_done, xg, out, err)) < 0)
		goto fail;
	xg->step = *out;
	/* From here guest_done owns xg. A domain that could not be made is the machine's failure. */
	if (crc < 0)
		guest_failed(xg, cerr.msg);
	uv_timer_init(gj->loop, &xg->tick);
	xg->tick.data = xg;
	uv_timer_start(&xg->tick, on_tick, XEN__TICK_MS, XEN__TICK_MS);
	return 0;
fail:
	if (xg->exists || xg->virt)
		destroy_domain(xg);
	release_files(xg);
	free(xg->console);
	free(xg);
	return rc;
}

/* ---- open ---- */

static int xen_prepare_job(struct backend *b, uv_loop_t *loop, const struct backend_job_spec *spec,
			   backend_job_cb cb, void *data, struct rp_error *err)
{
	return backend__guest_prepare(b, ((struct xen_backend *)b)->host, loop, spec, cb, data, err);
}

static void xen_close(struct backend *b)
{
	struct xen_backend *xb = (struct xen_backend *)b;
	backend_close(xb->host);
	free(xb);
}

static const struct backend_ops xen_ops = {
    .name = "xen",
    .prepare_job = xen_prepare_job,
    .start_step = backend__guest_start_step,
    .finish_job = backend__guest_finish,
    .close = xen_close,
    .start_guest_step = xen_start_guest_step,
};

/* A string option into buf: 1 when given, 0 when absent, < 0 when not a string (or not absolute). */
static int string_option(const struct rp_target *t, const char *name, int absolute, char *buf, size_t size,
			 struct rp_error *err)
{
	json_t *v = json_object_get(t->options, name);
	if (!v)
		return 0;
	const char *s = json_is_string(v) ? json_string_value(v) : NULL;
	if (!s || !*s || (absolute && s[0] != '/') || strlen(s) >= size)
		return rp_error_set(err, RP_EINVAL, "target \"%s\": \"%s\" must be %s", t->name, name,
				    absolute ? "an absolute path" : "a non-empty string");
	snprintf(buf, size, "%s", s);
	return 1;
}

/* Every key is known, and belongs to the chosen driver. */
static int check_keys(const struct rp_target *t, enum xen_driver driver, struct rp_error *err)
{
	static const char *const common[] = {"runner", "driver", "memory", "vcpus", "kernel"};
	static const char *const xl[] = {"console_dir"};
	static const char *const libvirt[] = {"uri", "kind"};
	const char *key;
	json_t *v;
	json_object_foreach(t->options, key, v) {
		int found = 0;
		for (size_t i = 0; i < sizeof(common) / sizeof(common[0]); i++)
			found |= strcmp(key, common[i]) == 0;
		if (found)
			continue;
		int is_xl = strcmp(key, xl[0]) == 0;
		int is_libvirt = strcmp(key, libvirt[0]) == 0 || strcmp(key, libvirt[1]) == 0;
		if (is_xl && driver == XEN_DRIVER_XL)
			continue;
		if (is_libvirt && driver == XEN_DRIVER_LIBVIRT)
			continue;
		if (is_xl || is_libvirt)
			return rp_error_set(err, RP_EINVAL,
					    "target \"%s\": \"%s\" is an option of the %s driver, not %s",
					    t->name, key, is_xl ? "xl" : "libvirt",
					    driver == XEN_DRIVER_XL ? "xl" : "libvirt");
		return rp_error_set(
		    err, RP_EINVAL,
		    "target \"%s\": unknown option \"%s\"; the xen runner takes driver, memory, vcpus, "
		    "kernel, console_dir (xl), uri and kind (libvirt)",
		    t->name, key);
	}
	return 0;
}

static int parse_options(const struct rp_target *t, struct xen_backend *xb, struct rp_error *err)
{
	char driver[16] = "xl";
	int rc;
	if ((rc = string_option(t, "driver", 0, driver, sizeof(driver), err)) < 0)
		return rc;
	if (strcmp(driver, "xl") == 0)
		xb->driver = XEN_DRIVER_XL;
	else if (strcmp(driver, "libvirt") == 0)
		xb->driver = XEN_DRIVER_LIBVIRT;
	else
		return rp_error_set(err, RP_EINVAL, "target \"%s\": \"driver\" must be \"xl\" or \"libvirt\"",
				    t->name);
	if ((rc = check_keys(t, xb->driver, err)) < 0)
		return rc;
	xb->memory_mb = XEN__MEMORY_DEFAULT;
	xb->vcpus = 1;
	if ((rc = backend__int_option(t, "memory", XEN__MEMORY_MIN, XEN__MEMORY_MAX, &xb->memory_mb, err)) < 0 ||
	    (rc = backend__int_option(t, "vcpus", 1, XEN__VCPUS_MAX, &xb->vcpus, err)) < 0)
		return rc;
	if ((rc = string_option(t, "kernel", 1, xb->kernel, sizeof(xb->kernel), err)) < 0)
		return rc;
	if (rc == 1)
		xb->vo.kernel = xb->kernel;
	if (xb->driver == XEN_DRIVER_XL) {
		snprintf(xb->console_dir, sizeof(xb->console_dir), "%s", XEN_CONSOLED_LOG_DIR);
		return string_option(t, "console_dir", 1, xb->console_dir, sizeof(xb->console_dir), err) < 0
			   ? RP_EINVAL
			   : 0;
	}
	if ((rc = string_option(t, "uri", 0, xb->uri, sizeof(xb->uri), err)) < 0)
		return rc;
	if (rc == 0)
		return rp_error_set(err, RP_EINVAL, "target \"%s\": the libvirt driver needs \"uri\"",
				    t->name);
	snprintf(xb->kind, sizeof(xb->kind), "xen");
	if ((rc = string_option(t, "kind", 0, xb->kind, sizeof(xb->kind), err)) < 0 ||
	    (strcmp(xb->kind, "xen") != 0 && strcmp(xb->kind, "kvm") != 0 && strcmp(xb->kind, "qemu") != 0))
		return rp_error_set(err, RP_EINVAL,
				    "target \"%s\": \"kind\" must be \"xen\", \"kvm\" or \"qemu\"", t->name);
	if (strncmp(xb->uri, XEN__EMBED_PREFIX, sizeof(XEN__EMBED_PREFIX) - 1) == 0) {
		const char *root = xb->uri + sizeof(XEN__EMBED_PREFIX) - 1;
		snprintf(xb->embed_root, sizeof(xb->embed_root), "%.*s", (int)strcspn(root, "&"), root);
		if (xb->embed_root[0] != '/')
			return rp_error_set(err, RP_EINVAL,
					    "target \"%s\": \"uri\": the embed root must be absolute",
					    t->name);
	}
	return 0;
}

/* The hypervisor can be reached: `xl` is there, or libvirt connects. */
static int check_driver(const struct rp_target *t, struct xen_backend *xb, struct rp_error *err)
{
	struct rp_error e = {.msg = ""};
	int rc;
	if (xb->driver == XEN_DRIVER_XL) {
		char xl[PATH_MAX];
		if (!step_find_program("xl", xl, sizeof(xl)))
			return rp_error_set(err, RP_ENOTFOUND,
					    "target \"%s\": no `xl` in $PATH: this host has no Xen toolstack",
					    t->name);
		return 0;
	}
	if (xb->embed_root[0] && (rc = embed_config(xb->embed_root, &e)) < 0)
		return rp_error_set(err, rc, "target \"%s\": %s", t->name, e.msg);
	if ((rc = xen_virt_check(xb->uri, &e)) < 0)
		return rp_error_set(err, rc, "target \"%s\": %s%s", t->name, e.msg,
				    strstr(e.msg, "'libvirt-qemu'")
					? " (as root, libvirt's QEMU driver needs the "
					  "libvirt-qemu user and group: docs/xen.md)"
					: "");
	return 0;
}

int backend__xen_open(const struct rp_target *target, const struct backend_options *opts,
		      struct backend **out, struct rp_error *err)
{
	struct xen_backend *xb = calloc(1, sizeof(*xb));
	int rc;
	if (!xb)
		return rp_error_set(err, RP_ENOMEM, "xen: out of memory");
	xb->base.ops = &xen_ops;
	xb->base.runner = RP_RUNNER_XEN;
	xb->vo.accel = VM_ACCEL_TCG; /* not asked: vm__guest_prepare() without QEMU decides none */
	if ((rc = parse_options(target, xb, err)) < 0)
		goto out;
	/* Everything a boot needs is there (kernel, init, busybox), as for vm. */
	struct vm__boot *probe = malloc(sizeof(*probe));
	struct vm_payload none = {.command = "true"};
	if (!probe) {
		rc = rp_error_set(err, RP_ENOMEM, "xen: out of memory");
		goto out;
	}
	rc = vm__guest_prepare(&xb->vo, &none, 0, probe, err);
	if (rc == 0)
		vm__boot_release(probe);
	free(probe);
	if (rc < 0) {
		char why[RP_ERROR_MAX];
		snprintf(why, sizeof(why), "%s", err->msg);
		rp_error_set(err, rc, "target \"%s\": %s", target->name, why);
		goto out;
	}
	if ((rc = check_driver(target, xb, err)) < 0)
		goto out;
	rc = backend__sandbox_open(target, opts, &xb->host, err);
out:
	if (rc < 0)
		xen_close(&xb->base);
	else
		*out = &xb->base;
	return rc;
}
