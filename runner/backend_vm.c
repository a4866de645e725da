/*
 * backend_vm.c — the `vm` backend: a job is built on the host side in the
 * sandbox, and its test runs in a throwaway virtual machine (vm.h) that holds
 * only the package's guest payload and the libraries it needs.
 *
 * The guest is QEMU run as a step on the job's loop: its serial console is the
 * step's log (so a VM job's log is its console, streamed like any other), its
 * timeouts and cancellation are the step's, and the framed status line read
 * from the console as it streams gives the step its exit status.
 *
 * Finding the payload and writing the initramfs happen on the loop, in
 * start_guest_step(): the caller needs the step at once (to cancel it), and
 * there is no step before QEMU starts. It costs about 20 ms for a payload of
 * 36 files and 20 MB (git and curl with their libraries), and the guest's own
 * boot a second; the loop of a worker's slot runs that one job meanwhile.
 *
 * The host side of a job and the making of a guest's boot are shared with the
 * xen backend (backend_xen.c): the "guest jobs" part below, declared in
 * runner-internal.h.
 */
#define _GNU_SOURCE /* asprintf, open_memstream */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>

#include "runner-internal.h"
#include "core/banned.h"

#define VM_MEMORY_MIN 64
#define VM_MEMORY_MAX 65536
#define VM_CPUS_MAX 64
#define VM_OUTPUT_MAX_MIB 65536

struct vm_backend {
	struct backend base;
	struct backend *host; /* the sandbox the host-side steps run in */
	struct vm_options vo;
	char kernel[1024];
};

/*
 * A vm job is a guest job (runner-internal.h): the host side's job lifecycle,
 * shared with the xen backend, is below under "guest jobs".
 */

struct guest_step {
	struct vm__boot boot;
	struct vm__scan scan;
	step_done_cb done;
	step_output_cb on_output;
	void *data;
	uint64_t timeout_ms;
	const char *workspace; /* the host's: where outputs land (the job's; it outlives the step) */
	char **outputs;	       /* the directories brought back, owned */
	size_t n_outputs;
};

/* ---- guest jobs: the vm and xen backends' host side ---- */

static void guest_job_free(struct backend__guest_job *gj)
{
	free(gj->workspace);
	free(gj->prefix);
	free(gj->sysroot);
	free(gj);
}

static void host_prepared(struct backend_job *host, int status, const struct rp_error *err, void *data)
{
	struct backend__guest_job *gj = data;
	backend_job_cb cb = gj->cb;
	void *cb_data = gj->cb_data;
	if (status < 0) {
		guest_job_free(gj);
		cb(NULL, status, err, cb_data);
		return;
	}
	gj->host = host;
	gj->base.paths = host->paths;
	cb(&gj->base, 0, NULL, cb_data);
}

int backend__guest_prepare(struct backend *b, struct backend *host, uv_loop_t *loop,
			   const struct backend_job_spec *spec, backend_job_cb cb, void *data, struct rp_error *err)
{
	struct backend__guest_job *gj = calloc(1, sizeof(*gj));
	if (!gj)
		return rp_error_set(err, RP_ENOMEM, "%s: out of memory", b->ops->name);
	gj->base.backend = b;
	gj->loop = loop;
	gj->cb = cb;
	gj->cb_data = data;
	gj->workspace = spec->workspace ? strdup(spec->workspace) : NULL;
	gj->prefix = spec->prefix ? strdup(spec->prefix) : NULL;
	gj->sysroot = spec->sysroot ? strdup(spec->sysroot) : NULL;
	if ((spec->workspace && !gj->workspace) || (spec->prefix && !gj->prefix) || (spec->sysroot && !gj->sysroot)) {
		guest_job_free(gj);
		return rp_error_set(err, RP_ENOMEM, "%s: out of memory", b->ops->name);
	}
	int rc = backend_prepare_job(host, loop, spec, host_prepared, gj, err);
	if (rc < 0)
		guest_job_free(gj);
	return rc;
}

int backend__guest_start_step(struct backend_job *job, const struct step_spec *spec, step_done_cb done, void *data,
			      struct step **out, struct rp_error *err)
{
	struct backend__guest_job *gj = (struct backend__guest_job *)job;
	return backend_start_step(gj->host, spec, done, data, out, err);
}

struct guest_finish {
	struct backend__guest_job *gj;
	backend_job_cb cb;
	void *data;
};

static void host_finished(struct backend_job *host, int status, const struct rp_error *err, void *data)
{
	struct guest_finish *f = data;
	backend_job_cb cb = f->cb;
	void *cb_data = f->data;
	(void)host;
	guest_job_free(f->gj);
	free(f);
	cb(NULL, status, err, cb_data);
}

int backend__guest_finish(struct backend_job *job, backend_job_cb cb, void *data, struct rp_error *err)
{
	struct backend__guest_job *gj = (struct backend__guest_job *)job;
	struct guest_finish *f = malloc(sizeof(*f));
	if (!f)
		return rp_error_set(err, RP_ENOMEM, "%s: out of memory", job->backend->ops->name);
	*f = (struct guest_finish){.gj = gj, .cb = cb, .data = data};
	int rc = backend_finish_job(gj->host, host_finished, f, err);
	if (rc < 0)
		free(f);
	return rc;
}

/* A payload the package's guest block cannot make: a step that fails with that line as its log. */
static int payload_failure(struct backend__guest_job *gj, const struct step_spec *spec, const char *why,
			   step_done_cb done, void *data, struct step **out, struct rp_error *err)
{
	static const char *const env[] = {"PATH=/usr/bin:/bin", NULL};
	char line[RP_ERROR_MAX + 16];
	snprintf(line, sizeof(line), "ripple: %s", why);
	const char *argv[] = {"/bin/sh", "-c", "printf '%s\\n' \"$1\" >&2; exit 1", "sh", line, NULL};
	struct step_spec fail = {.argv = argv,
				 .env = env,
				 .log_path = spec->log_path,
				 .on_output = spec->on_output,
				 .timeout_ms = 10000};
	return step_start(gj->loop, &fail, done, data, out, err);
}

int backend__guest_boot(struct backend__guest_job *gj, const struct vm_options *vo, int with_qemu,
			const struct step_spec *spec, const struct backend_guest *guest, struct vm__boot *boot,
			step_done_cb done, void *data, struct step **out, struct rp_error *err)
{
	const struct backend_paths *p = &gj->base.paths;
	const struct backend__guest_map maps[] = {
	    {p->workspace, gj->workspace},
	    {p->sysroot ? p->sysroot : BACKEND_SANDBOX_SYSROOT, gj->sysroot},
	    {p->prefix, gj->prefix},
	};
	const char *ld_path = NULL;
	for (size_t i = 0; spec->env && spec->env[i]; i++)
		if (strncmp(spec->env[i], "LD_LIBRARY_PATH=", 16) == 0)
			ld_path = spec->env[i] + 16;
	struct vm_file *files = NULL;
	size_t n_files = 0;
	struct rp_error perr;
	int rc = backend__guest_payload(maps, 3, guest ? guest->payload : NULL, guest ? guest->n_payload : 0, ld_path,
					&files, &n_files, &perr);
	if (rc == RP_EINVAL) {
		rc = payload_failure(gj, spec, perr.msg, done, data, out, err);
		return rc < 0 ? rc : 1;
	}
	if (rc < 0)
		return rp_error_set(err, rc, "%s", perr.msg);

	char *cwd = NULL;
	char **env = NULL;
	/* The guest sees the job at the sandbox's paths, so its RIPPLE_* variables are the host side's. */
	if ((rc = backend__local_env((const struct backend__local_job *)gj->host, spec->env, &env, err)) < 0)
		goto out;
	if ((rc = backend__local_cwd(p->workspace, spec->cwd, &cwd, err)) < 0)
		goto out;
	struct vm_payload payload = {
	    .files = files, .n_files = n_files, .command = spec->script, .env = (const char *const *)env, .cwd = cwd};
	rc = vm__guest_prepare(vo, &payload, with_qemu, boot, err);
out:
	free(cwd);
	free(env); /* its strings are spec's and the host job's */
	backend__guest_payload_free(files, n_files);
	return rc;
}

/* ---- the guest ---- */


/* Whether `path` is one of the guest step's output directories or inside one. */
static int under_outputs(const struct guest_step *gs, const char *path)
{
	for (size_t i = 0; i < gs->n_outputs; i++) {
		size_t n = strlen(gs->outputs[i]);
		if (strncmp(path, gs->outputs[i], n) == 0 && (path[n] == '\0' || path[n] == '/'))
			return 1;
	}
	return 0;
}

/* An output directory as backend_guest says: relative, of [A-Za-z0-9._/-], no "." or ".." component. */
static int output_name_ok(const char *s)
{
	if (!*s || *s == '/' || strlen(s) > 256)
		return 0;
	for (const char *c = s; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '.' ||
		      *c == '_' || *c == '-' || *c == '/'))
			return 0;
	for (const char *c = s; c; c = strchr(c, '/')) {
		c += *c == '/';
		size_t n = strcspn(c, "/");
		if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return 0;
	}
	return 1;
}

/*
 * Opens directory `rel` under `dirfd` (made when missing), never through a
 * symbolic link, component by component: the package's build owns the
 * workspace and could have left links there. The caller closes the result.
 */
static int open_dirs(int dirfd, const char *rel, int *out)
{
	char part[PATH_MAX];
	int fd = dup(dirfd);
	for (const char *at = rel; fd >= 0 && *at;) {
		size_t n = strcspn(at, "/");
		if (n == 0 || n >= sizeof(part)) {
			at += n + (at[n] == '/');
			continue;
		}
		memcpy(part, at, n);
		part[n] = '\0';
		if (mkdirat(fd, part, 0755) < 0 && errno != EEXIST) {
			close(fd);
			return -1;
		}
		int next = openat(fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		fd = next;
		at += n + (at[n] == '/');
	}
	*out = fd;
	return fd < 0 ? -1 : 0;
}

/* Writes the data of the entry `in` is at into the regular file `name` of directory `dirfd`. */
static int write_entry(struct archive *in, int dirfd, const char *name, mode_t mode)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	char buf[65536];
	la_ssize_t n;
	int rc = 0;
	while (rc == 0 && (n = archive_read_data(in, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			rc = -1;
			break;
		}
		for (la_ssize_t done = 0; rc == 0 && done < n;) {
			ssize_t w = write(fd, buf + done, (size_t)(n - done));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				rc = -1;
			else
				done += w;
		}
	}
	if (close(fd) < 0)
		rc = -1;
	return rc;
}

/*
 * What the guest sent through its output port (a tar, libarchive reads it)
 * into the host's workspace: only regular files and directories under the
 * step's outputs, written below the workspace without following any link.
 * Blocking, on the loop: a corpus is small and local.
 */
static int outputs_land(const struct guest_step *gs, struct rp_error *err)
{
	struct stat st;
	if (stat(gs->boot.output, &st) < 0)
		return rp_error_set(err, RP_EIO, "guest outputs: %s: %s", gs->boot.output, strerror(errno));
	/* A tar of even empty directories has blocks: nothing at all means the port never carried it. */
	if (st.st_size == 0)
		return rp_error_set(err, RP_EIO, "guest outputs: the guest sent nothing back through its output port");
	if ((uint64_t)st.st_size > gs->boot.output_max)
		return rp_error_set(err, RP_EIO, "guest outputs: more than %llu MiB",
				    (unsigned long long)(gs->boot.output_max >> 20));
	int top = open(gs->workspace, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (top < 0)
		return rp_error_set(err, RP_EIO, "guest outputs: %s: %s", gs->workspace, strerror(errno));
	struct archive *in = archive_read_new();
	int rc = 0;
	if (!in) {
		rc = rp_error_set(err, RP_ENOMEM, "guest outputs: out of memory");
		goto done;
	}
	archive_read_support_format_tar(in);
	if (archive_read_open_filename(in, gs->boot.output, 65536) != ARCHIVE_OK) {
		rc = rp_error_set(err, RP_EIO, "guest outputs: %s", archive_error_string(in));
		goto done;
	}
	struct archive_entry *e;
	int r;
	while ((r = archive_read_next_header(in, &e)) == ARCHIVE_OK) {
		const char *name = archive_entry_pathname(e);
		while (name && name[0] == '.' && name[1] == '/')
			name += 2;
		char path[PATH_MAX];
		mode_t type = archive_entry_filetype(e);
		if (!name || (size_t)snprintf(path, sizeof(path), "%s", name) >= sizeof(path) || archive_entry_hardlink(e))
			name = NULL; /* a hard link would land as an empty file: refused like any other kind */
		size_t len = name ? strlen(path) : 0;
		while (len > 1 && path[len - 1] == '/')
			path[--len] = '\0';
		if (!name || !output_name_ok(path) || !under_outputs(gs, path) || (type != AE_IFREG && type != AE_IFDIR)) {
			rc = rp_error_set(err, RP_EINVAL, "guest outputs: the guest sent %.200s, outside its outputs or"
					  " not a file", name ? name : "(no name)");
			goto done;
		}
		char *slash = type == AE_IFREG ? strrchr(path, '/') : NULL;
		if (slash)
			*slash = '\0';
		int dirfd = -1;
		if (open_dirs(top, type == AE_IFDIR ? path : slash ? path : "", &dirfd) < 0 ||
		    (type == AE_IFREG && write_entry(in, dirfd, slash ? slash + 1 : path,
						     (archive_entry_perm(e) & 0755) | 0600) < 0)) {
			rc = rp_error_set(err, RP_EIO, "guest outputs: %.200s: %s", name, strerror(errno));
			if (dirfd >= 0)
				close(dirfd);
			goto done;
		}
		close(dirfd);
	}
	if (r != ARCHIVE_EOF)
		rc = rp_error_set(err, RP_EIO, "guest outputs: %s", archive_error_string(in));
done:
	if (in)
		archive_read_free(in);
	close(top);
	return rc;
}

static void guest_output(struct step *step, const char *chunk, size_t len, uint64_t offset, void *data)
{
	struct guest_step *gs = data;
	vm__scan_feed(&gs->scan, chunk, len);
	if (gs->on_output)
		gs->on_output(step, chunk, len, offset, gs->data);
}

static void guest_step_free(struct guest_step *gs)
{
	vm__boot_release(&gs->boot);
	for (size_t i = 0; i < gs->n_outputs; i++)
		free(gs->outputs[i]);
	free(gs->outputs);
	free(gs);
}

static void guest_done(struct step *step, const struct step_result *res, void *data)
{
	struct guest_step *gs = data;
	step_done_cb cb = gs->done;
	void *cb_data = gs->data;
	struct step_result r = *res;
	struct vm_result vr;
	memset(&vr, 0, sizeof(vr));
	int rejected = vm__microvm_rejected(&gs->scan, res);
	vm__scan_judge(&gs->scan, res, gs->timeout_ms, &vr);
	switch (vr.status) {
	case VM_PASS:
	case VM_FAIL:
		r.status = vr.exit_code == 0 ? STEP_PASSED : STEP_FAILED;
		r.exit_status = vr.exit_code;
		r.term_signal = 0;
		r.timeout = STEP_TIMEOUT_NONE;
		break;
	case VM_TIMEOUT:
		break; /* the step's own timeout or cancellation: as it says */
	case VM_ERROR:
		r.status = STEP_FAILED;
		if (rejected)
			snprintf(r.error, sizeof(r.error), "guest: QEMU rejected the microvm machine; the next boot uses pc");
		else
			snprintf(r.error, sizeof(r.error), "guest: %.480s", vr.why);
		break;
	}
	if (gs->n_outputs && res->term_signal == SIGXFSZ) {
		r.status = STEP_FAILED;
		snprintf(r.error, sizeof(r.error), "guest outputs: the guest sent more than %llu MiB through its output"
			 " port; QEMU was stopped", (unsigned long long)(gs->boot.output_max >> 20));
	}
	/* A guest that reported brings its outputs back; one that did not has nothing whole to send. */
	if ((vr.status == VM_PASS || vr.status == VM_FAIL) && gs->n_outputs) {
		struct rp_error oerr;
		if (outputs_land(gs, &oerr) < 0) {
			r.status = STEP_FAILED;
			snprintf(r.error, sizeof(r.error), "%.500s", oerr.msg);
		}
	}
	guest_step_free(gs);
	cb(step, &r, cb_data);
}

static int vm_start_guest_step(struct backend_job *job, const struct step_spec *spec,
			       const struct backend_guest *guest, step_done_cb done, void *data, struct step **out,
			       struct rp_error *err)
{
	struct backend__guest_job *gj = (struct backend__guest_job *)job;
	struct vm_backend *vb = (struct vm_backend *)job->backend;
	if (!spec->script)
		return rp_error_set(err, RP_EINVAL, "vm: a guest step runs a script");
	size_t n_out = guest ? guest->n_outputs : 0;
	for (size_t i = 0; i < n_out; i++)
		if (!guest->outputs[i] || !output_name_ok(guest->outputs[i]))
			return rp_error_set(err, RP_EINVAL, "vm: output %zu: expected a relative directory of"
					    " [A-Za-z0-9._/-] without . or .. components", i);
	struct guest_step *gs = calloc(1, sizeof(*gs));
	if (!gs || (n_out && !(gs->outputs = calloc(n_out, sizeof(*gs->outputs)))))
		goto nomem;
	for (; gs->n_outputs < n_out; gs->n_outputs++)
		if (!(gs->outputs[gs->n_outputs] = strdup(guest->outputs[gs->n_outputs])))
			goto nomem;
	gs->workspace = gj->workspace;
	struct vm_options vo = vb->vo;
	vo.timeout_ms = spec->timeout_ms;
	vo.output = n_out > 0;
	/*
	 * With outputs, the script runs as the value of RIPPLE_GUEST_SCRIPT (so no
	 * text of it can break the wrapper), then the outputs go out as a tar.
	 */
	struct step_spec wrapped = *spec;
	char *script_var = NULL, *wrapper = NULL;
	const char **env = NULL;
	if (n_out) {
		size_t n_env = 0;
		while (spec->env && spec->env[n_env])
			n_env++;
		FILE *w = NULL;
		size_t wlen = 0;
		if (asprintf(&script_var, "RIPPLE_GUEST_SCRIPT=%s", spec->script) < 0) {
			script_var = NULL;
			goto nomem_wrap;
		}
		if (!(env = calloc(n_env + 2, sizeof(*env))) || !(w = open_memstream(&wrapper, &wlen)))
			goto nomem_wrap;
		for (size_t i = 0; i < n_env; i++)
			env[i] = spec->env[i];
		env[n_env] = script_var;
		fputs("mkdir -p --", w);
		for (size_t i = 0; i < n_out; i++)
			fprintf(w, " \"$RIPPLE_WORKSPACE/%s\"", guest->outputs[i]);
		fputs("\n/bin/sh -c \"$RIPPLE_GUEST_SCRIPT\"\nripple_status=$?\ncd \"$RIPPLE_WORKSPACE\" && tar -cf " VM_OUTPUT_DEVICE " --",
		      w);
		for (size_t i = 0; i < n_out; i++)
			fprintf(w, " \"%s\"", guest->outputs[i]);
		fputs(" || echo \"ripple: the guest's outputs could not be sent\" >&2\nexit $ripple_status\n", w);
		if (fclose(w) != 0 || !wrapper)
			goto nomem_wrap;
		wrapped.script = wrapper;
		wrapped.env = env;
	}
	int rc = backend__guest_boot(gj, &vo, 1, &wrapped, guest, &gs->boot, done, data, out, err);
	free(env);
	free(script_var);
	free(wrapper);
	if (rc != 0) {
		guest_step_free(gs);
		return rc < 0 ? rc : 0; /* 1: the payload's failure runs as the step */
	}
	gs->done = done;
	gs->data = data;
	gs->on_output = spec->on_output;
	gs->timeout_ms = spec->timeout_ms;
	vm__scan_init(&gs->scan);
	static const char *const qemu_env[] = {"PATH=/usr/local/bin:/usr/bin:/bin", NULL};
	struct step_spec qs = {
	    .argv = gs->boot.argv,
	    .env = qemu_env,
	    .timeout_ms = spec->timeout_ms,
	    .idle_timeout_ms = spec->idle_timeout_ms,
	    .output_cap = spec->output_cap,
	    .grace_ms = spec->grace_ms,
	    .log_path = spec->log_path,
	    .on_output = guest_output,
	};
	if ((rc = step_start(gj->loop, &qs, guest_done, gs, out, err)) < 0)
		guest_step_free(gs);
	return rc;
nomem_wrap:
	free(env);
	free(script_var);
	free(wrapper);
nomem:
	if (gs)
		guest_step_free(gs);
	return rp_error_set(err, RP_ENOMEM, "vm: out of memory");
}

/* ---- open ---- */

static int vm_prepare_job(struct backend *b, uv_loop_t *loop, const struct backend_job_spec *spec,
			  backend_job_cb cb, void *data, struct rp_error *err)
{
	return backend__guest_prepare(b, ((struct vm_backend *)b)->host, loop, spec, cb, data, err);
}

static void vm_close(struct backend *b)
{
	struct vm_backend *vb = (struct vm_backend *)b;
	backend_close(vb->host);
	free(vb);
}

static const struct backend_ops vm_ops = {
    .name = "vm",
    .prepare_job = vm_prepare_job,
    .start_step = backend__guest_start_step,
    .finish_job = backend__guest_finish,
    .close = vm_close,
    .start_guest_step = vm_start_guest_step,
};

int backend__int_option(const struct rp_target *t, const char *name, long lo, long hi, unsigned *out,
			struct rp_error *err)
{
	json_t *v = json_object_get(t->options, name);
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return rp_error_set(err, RP_EINVAL, "target \"%s\": \"%s\" must be an integer from %ld to %ld", t->name,
				    name, lo, hi);
	*out = (unsigned)json_integer_value(v);
	return 1;
}

int backend__vm_open(const struct rp_target *target, const struct backend_options *opts, struct backend **out,
		     struct rp_error *err)
{
	struct vm_backend *vb = calloc(1, sizeof(*vb));
	unsigned output_max_mib = (unsigned)(VM_OUTPUT_MAX >> 20);
	int rc;
	if (!vb)
		return rp_error_set(err, RP_ENOMEM, "vm: out of memory");
	vb->base.ops = &vm_ops;
	vb->base.runner = RP_RUNNER_VM;
	vb->vo.accel = VM_ACCEL_AUTO;
	if ((rc = backend__int_option(target, "memory", VM_MEMORY_MIN, VM_MEMORY_MAX, &vb->vo.memory_mb, err)) < 0 ||
	    (rc = backend__int_option(target, "cpus", 1, VM_CPUS_MAX, &vb->vo.cpus, err)) < 0 ||
	    (rc = backend__int_option(target, "output_max", 1, VM_OUTPUT_MAX_MIB, &output_max_mib, err)) < 0)
		goto out;
	vb->vo.output_max = (uint64_t)output_max_mib << 20;
	json_t *v = json_object_get(target->options, "kernel");
	if (v) {
		if (!json_is_string(v) || json_string_value(v)[0] != '/') {
			rc = rp_error_set(err, RP_EINVAL, "target \"%s\": \"kernel\" must be an absolute path", target->name);
			goto out;
		}
		snprintf(vb->kernel, sizeof(vb->kernel), "%s", json_string_value(v));
		vb->vo.kernel = vb->kernel;
	}
	if ((v = json_object_get(target->options, "accel"))) {
		const char *a = json_is_string(v) ? json_string_value(v) : "";
		if (strcmp(a, "kvm") == 0)
			vb->vo.accel = VM_ACCEL_KVM;
		else if (strcmp(a, "tcg") == 0)
			vb->vo.accel = VM_ACCEL_TCG;
		else if (strcmp(a, "auto") != 0) {
			rc = rp_error_set(err, RP_EINVAL, "target \"%s\": \"accel\" must be \"auto\", \"kvm\" or \"tcg\"",
					  target->name);
			goto out;
		}
	}
	if ((v = json_object_get(target->options, "network"))) {
		if (!json_is_boolean(v)) {
			rc = rp_error_set(err, RP_EINVAL, "target \"%s\": \"network\" must be true or false", target->name);
			goto out;
		}
		vb->vo.network = json_is_true(v);
	}
	/* Everything a boot needs is there (kernel, QEMU, init, busybox), and the acceleration is decided now. */
	struct vm__boot *probe = malloc(sizeof(*probe));
	struct vm_payload none = {.command = "true"};
	if (!probe) {
		rc = rp_error_set(err, RP_ENOMEM, "vm: out of memory");
		goto out;
	}
	rc = vm__boot_prepare(&vb->vo, &none, probe, err);
	if (rc == 0)
		vm__boot_release(probe);
	free(probe);
	if (rc < 0) {
		char why[RP_ERROR_MAX];
		snprintf(why, sizeof(why), "%s", err->msg);
		rp_error_set(err, rc, "target \"%s\": %s", target->name, why);
		goto out;
	}
	rc = backend__sandbox_open(target, opts, &vb->host, err);
out:
	if (rc < 0)
		vm_close(&vb->base);
	else
		*out = &vb->base;
	return rc;
}
